//! Debug files: every batch sent is appended to an Arrow IPC stream file
//! (`<table>.<ms>.<seq>.arrows`, readable by `pyarrow.ipc.open_stream`) and what was sent
//! for it to a second file: its encoded records, length-delimited protobuf (`….pb`:
//! varint length, then the record), or on the `flight` transport the batch in the table's
//! Flight schema (`….flight.arrows`, an Arrow IPC stream).
//! Files are flushed every `debug_flush_interval_secs`, rotated at `debug_max_file_size`
//! (and when the batch schema changes), and created 0600. They hold rows, never
//! credentials. With an object-store `debug_output_dir` (`s3://bucket/debug`, see
//! [`crate::store`]) the files are written in a private local staging directory and each
//! is uploaded once finished (rotated, or the wrapper shut down), then removed locally;
//! the flush task uploads finished files too.

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
use crate::store::{Place, Remote};

type Sink = Counting<BufWriter<std::fs::File>>;

struct Open {
    schema: SchemaRef,
    ipc: StreamWriter<Sink>,
    sent: Sent,
    /// The two files, batches then what was sent.
    paths: [PathBuf; 2],
}

/// The file of what was sent.
enum Sent {
    Proto(Sink),
    Flight(Box<StreamWriter<Sink>>),
}

impl Sent {
    fn written(&self) -> u64 {
        match self {
            Sent::Proto(s) => s.written,
            Sent::Flight(w) => w.get_ref().written,
        }
    }

    fn flush(&mut self) {
        let _ = match self {
            Sent::Proto(s) => s.flush(),
            Sent::Flight(w) => w.flush().map_err(std::io::Error::other),
        };
    }
}

/// What was sent for a batch.
enum Payload<'a> {
    Proto(&'a EncodedRows),
    Flight(&'a RecordBatch),
}

struct State {
    seq: u32,
    open: Option<Open>,
    files: Vec<PathBuf>,
    /// Finished local files not yet uploaded (object-store directories only).
    finished: Vec<PathBuf>,
}

/// The debug spool of one wrapper.
pub struct DebugSpool {
    /// Where files are written: the directory, or the staging directory of `remote`.
    dir: PathBuf,
    /// The object-store prefix finished files go to.
    remote: Option<Remote>,
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
        place: &Place,
        table: &str,
        max_size: Option<u64>,
        flush_every: Duration,
    ) -> Result<Arc<DebugSpool>> {
        let stem = format!("{}.{}", file_stem(table), unique_part());
        let (dir, remote) = match place {
            Place::Local(dir) => (dir.clone(), None),
            Place::Store(remote) => (
                std::env::temp_dir().join(format!("arrow-zerobus-debug.{stem}")),
                Some(remote.clone()),
            ),
        };
        std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        if remote.is_some() {
            private_dir(&dir)?;
        }
        let spool = Arc::new(DebugSpool {
            dir,
            remote,
            stem,
            max_size,
            state: Mutex::new(State {
                seq: 0,
                open: None,
                files: Vec::new(),
                finished: Vec::new(),
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
                        Some(s) => {
                            s.flush();
                            if let Err(e) = s.upload_finished().await {
                                tracing::error!(error = %e, "could not upload debug files");
                            }
                        }
                        None => break,
                    }
                }
            });
        }
        Ok(spool)
    }

    /// Append a batch and its encoded rows.
    pub fn record(&self, batch: &RecordBatch, rows: &EncodedRows) -> Result<()> {
        self.append(batch, Payload::Proto(rows))
    }

    /// Append a batch and the batch sent for it over Arrow Flight.
    pub fn record_flight(&self, batch: &RecordBatch, sent: &RecordBatch) -> Result<()> {
        self.append(batch, Payload::Flight(sent))
    }

    fn append(&self, batch: &RecordBatch, payload: Payload<'_>) -> Result<()> {
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
                        .is_some_and(|m| o.ipc.get_ref().written >= m || o.sent.written() >= m)
                    || matches!(
                        (&o.sent, &payload),
                        (Sent::Proto(_), Payload::Flight(_)) | (Sent::Flight(_), Payload::Proto(_))
                    )
            }
        };
        if rotate {
            if let Some(old) = st.open.take() {
                let paths = finish(old);
                if self.remote.is_some() {
                    st.finished.extend(paths);
                }
            }
            st.seq += 1;
            let ipc_path = self.dir.join(format!("{}.{:04}.arrows", self.stem, st.seq));
            let sent_path = self.dir.join(match payload {
                Payload::Proto(_) => format!("{}.{:04}.pb", self.stem, st.seq),
                Payload::Flight(_) => format!("{}.{:04}.flight.arrows", self.stem, st.seq),
            });
            let sink = |path: &Path| -> Result<Sink> {
                let file = create_private(path).map_err(|e| io(path, e))?;
                Ok(Counting {
                    inner: BufWriter::new(file),
                    written: 0,
                })
            };
            let ipc = StreamWriter::try_new(sink(&ipc_path)?, &batch.schema())
                .map_err(|e| io(&ipc_path, e))?;
            let sent = match payload {
                Payload::Proto(_) => Sent::Proto(sink(&sent_path)?),
                Payload::Flight(f) => Sent::Flight(Box::new(
                    StreamWriter::try_new(sink(&sent_path)?, &f.schema())
                        .map_err(|e| io(&sent_path, e))?,
                )),
            };
            st.files.push(ipc_path.clone());
            st.files.push(sent_path.clone());
            st.open = Some(Open {
                schema: batch.schema(),
                ipc,
                sent,
                paths: [ipc_path, sent_path],
            });
        }
        let dir = self.dir.clone();
        let Some(open) = st.open.as_mut() else {
            return Ok(());
        };
        open.ipc.write(batch).map_err(|e| io(&dir, e))?;
        match (&mut open.sent, payload) {
            (Sent::Proto(proto), Payload::Proto(rows)) => {
                let mut len = Vec::with_capacity(10);
                for row in rows.iter() {
                    len.clear();
                    prost::encoding::encode_varint(row.len() as u64, &mut len);
                    proto.write_all(&len).map_err(|e| io(&dir, e))?;
                    proto.write_all(row).map_err(|e| io(&dir, e))?;
                }
            }
            (Sent::Flight(w), Payload::Flight(sent)) => w.write(sent).map_err(|e| io(&dir, e))?,
            // Files of the other kind were rotated away above.
            _ => {}
        }
        Ok(())
    }

    /// Push buffered bytes to the files.
    pub fn flush(&self) {
        if let Ok(mut st) = self.state.lock() {
            if let Some(o) = st.open.as_mut() {
                let _ = o.ipc.flush();
                o.sent.flush();
            }
        }
    }

    /// Finish the open files (the IPC stream gets its end marker).
    pub fn close(&self) {
        if let Ok(mut st) = self.state.lock() {
            if let Some(o) = st.open.take() {
                let paths = finish(o);
                if self.remote.is_some() {
                    st.finished.extend(paths);
                }
            }
        }
    }

    /// Upload the finished files to the object-store directory and remove them locally
    /// (nothing to do for a local directory). A file that could not be uploaded stays in
    /// the staging directory, and the error names both places.
    pub async fn upload_finished(&self) -> Result<()> {
        let Some(remote) = &self.remote else {
            return Ok(());
        };
        let pending = match self.state.lock() {
            Ok(mut st) => std::mem::take(&mut st.finished),
            Err(_) => return Ok(()),
        };
        let mut first_error = None;
        for path in pending {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let uploaded = match tokio::fs::read(&path).await {
                Ok(bytes) => remote.put(&name, bytes, "debug_output_dir").await,
                Err(e) => Err(io(&path, e)),
            };
            match uploaded {
                Ok(_) => {
                    let _ = tokio::fs::remove_file(&path).await;
                }
                Err(e) => {
                    let e = ZerobusError::Configuration(
                        format!("{e} (the file is kept at {})", path.display()).into(),
                    );
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            None => {
                // The staging directory goes when nothing is left in it.
                let _ = std::fs::remove_dir(&self.dir);
                Ok(())
            }
            Some(e) => Err(e),
        }
    }

    /// Every file written so far, in order (the batches, then what was sent, per
    /// rotation): where it is or, for an object-store directory, where it goes (its URL).
    pub fn files(&self) -> Vec<PathBuf> {
        let files = self
            .state
            .lock()
            .map(|s| s.files.clone())
            .unwrap_or_default();
        match &self.remote {
            None => files,
            Some(remote) => files
                .iter()
                .map(|p| {
                    let name = p
                        .file_name()
                        .map(|n| n.to_string_lossy())
                        .unwrap_or_default();
                    PathBuf::from(remote.location(&name))
                })
                .collect(),
        }
    }
}

/// Make `dir` readable by its owner only (the staging directory of debug files).
fn private_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| io(dir, e))?;
    }
    Ok(())
}

/// Finish the files of `o` and return their paths.
fn finish(mut o: Open) -> [PathBuf; 2] {
    if let Err(e) = o.ipc.finish() {
        tracing::warn!(error = %e, "could not finish a debug IPC file");
    }
    let _ = o.ipc.flush();
    if let Sent::Flight(w) = &mut o.sent {
        if let Err(e) = w.finish() {
            tracing::warn!(error = %e, "could not finish a debug Flight file");
        }
    }
    o.sent.flush();
    o.paths
}

impl Drop for DebugSpool {
    fn drop(&mut self) {
        self.close();
    }
}
