//! Debug files: every batch sent is appended to an Arrow IPC stream file
//! (`<table>.<ms>.<seq>.arrows`, readable by `pyarrow.ipc.open_stream`) and its encoded
//! records to a length-delimited protobuf file (`….pb`: varint length, then the record).
//! Files are flushed every `debug_flush_interval_secs`, rotated at `debug_max_file_size`
//! (and when the batch schema changes), and created 0600. They hold rows, never
//! credentials.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::ipc::writer::StreamWriter;

use crate::convert::EncodedRows;
use crate::error::{Detail, Result, ZerobusError};
use crate::files::{create_private, file_stem, unique_part, Counting};

type Sink = Counting<BufWriter<std::fs::File>>;

struct Open {
    schema: SchemaRef,
    ipc: StreamWriter<Sink>,
    proto: Sink,
}

struct State {
    seq: u32,
    open: Option<Open>,
    files: Vec<PathBuf>,
}

/// The debug spool of one wrapper.
pub struct DebugSpool {
    dir: PathBuf,
    stem: String,
    max_size: Option<u64>,
    state: Mutex<State>,
}

impl std::fmt::Debug for DebugSpool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DebugSpool")
            .field("dir", &self.dir)
            .field("max_size", &self.max_size)
            .finish()
    }
}

fn io(path: &Path, e: impl std::error::Error + Send + Sync + 'static) -> ZerobusError {
    ZerobusError::Configuration(
        Detail::new(format!(
            "debug_output_dir: cannot write {}: {e}",
            path.display()
        ))
        .caused_by(e),
    )
}

impl DebugSpool {
    /// Prepare the directory; when called inside a Tokio runtime, a task flushes the files
    /// every `flush_every` until the spool is dropped.
    pub fn open(
        dir: &Path,
        table: &str,
        max_size: Option<u64>,
        flush_every: Duration,
    ) -> Result<Arc<DebugSpool>> {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let spool = Arc::new(DebugSpool {
            dir: dir.to_path_buf(),
            stem: format!("{}.{}", file_stem(table), unique_part()),
            max_size,
            state: Mutex::new(State {
                seq: 0,
                open: None,
                files: Vec::new(),
            }),
        });
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let weak: Weak<DebugSpool> = Arc::downgrade(&spool);
            handle.spawn(async move {
                let mut tick = tokio::time::interval(flush_every);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    match weak.upgrade() {
                        Some(s) => s.flush(),
                        None => break,
                    }
                }
            });
        }
        Ok(spool)
    }

    /// Append a batch and its encoded rows.
    pub fn record(&self, batch: &RecordBatch, rows: &EncodedRows) -> Result<()> {
        let mut st = self
            .state
            .lock()
            .map_err(|_| ZerobusError::Configuration("debug spool lock poisoned".into()))?;
        let rotate = match &st.open {
            None => true,
            Some(o) => {
                o.schema.fields() != batch.schema().fields()
                    || self
                        .max_size
                        .is_some_and(|m| o.ipc.get_ref().written >= m || o.proto.written >= m)
            }
        };
        if rotate {
            if let Some(old) = st.open.take() {
                finish(old);
            }
            st.seq += 1;
            let ipc_path = self.dir.join(format!("{}.{:04}.arrows", self.stem, st.seq));
            let pb_path = self.dir.join(format!("{}.{:04}.pb", self.stem, st.seq));
            let ipc_file = create_private(&ipc_path).map_err(|e| io(&ipc_path, e))?;
            let pb_file = create_private(&pb_path).map_err(|e| io(&pb_path, e))?;
            let sink = Counting {
                inner: BufWriter::new(ipc_file),
                written: 0,
            };
            let ipc = StreamWriter::try_new(sink, &batch.schema()).map_err(|e| io(&ipc_path, e))?;
            st.files.push(ipc_path);
            st.files.push(pb_path);
            st.open = Some(Open {
                schema: batch.schema(),
                ipc,
                proto: Counting {
                    inner: BufWriter::new(pb_file),
                    written: 0,
                },
            });
        }
        let dir = self.dir.clone();
        let Some(open) = st.open.as_mut() else {
            return Ok(());
        };
        open.ipc.write(batch).map_err(|e| io(&dir, e))?;
        let mut len = Vec::with_capacity(10);
        for row in rows.iter() {
            len.clear();
            prost::encoding::encode_varint(row.len() as u64, &mut len);
            open.proto.write_all(&len).map_err(|e| io(&dir, e))?;
            open.proto.write_all(row).map_err(|e| io(&dir, e))?;
        }
        Ok(())
    }

    /// Push buffered bytes to the files.
    pub fn flush(&self) {
        if let Ok(mut st) = self.state.lock() {
            if let Some(o) = st.open.as_mut() {
                let _ = o.ipc.flush();
                let _ = o.proto.flush();
            }
        }
    }

    /// Finish the open files (the IPC stream gets its end marker).
    pub fn close(&self) {
        if let Ok(mut st) = self.state.lock() {
            if let Some(o) = st.open.take() {
                finish(o);
            }
        }
    }

    /// Every file written so far, in order (IPC then protobuf, per rotation).
    pub fn files(&self) -> Vec<PathBuf> {
        self.state
            .lock()
            .map(|s| s.files.clone())
            .unwrap_or_default()
    }
}

fn finish(mut o: Open) {
    if let Err(e) = o.ipc.finish() {
        tracing::warn!(error = %e, "could not finish a debug IPC file");
    }
    let _ = o.ipc.flush();
    let _ = o.proto.flush();
}

impl Drop for DebugSpool {
    fn drop(&mut self) {
        self.close();
    }
}
