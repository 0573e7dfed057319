//! Dead letters: rows that were not acknowledged when retries ran out are written to an
//! Arrow IPC file (`<dir>/<table>.<ms>.<pid>.<random>.<n>.dead.arrow`, created new, 0600)
//! whose path is in the
//! [`ZerobusError::RetryExhausted`] error; [`crate::ZerobusWrapper::replay_dead_letters`]
//! sends them again. The table name is kept in the file's schema metadata.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::RecordBatch;
use arrow::datatypes::Schema;
use arrow::ipc::reader::FileReader;
use arrow::ipc::writer::FileWriter;

use crate::error::{Detail, Result, ZerobusError};
use crate::files::{create_private, file_stem, unique_part};

/// Schema metadata key holding the target table of a dead-letter file.
pub const TABLE_METADATA_KEY: &str = "zerobus.table";

static SEQ: AtomicU64 = AtomicU64::new(0);

/// Write `batches` (all of one schema) for `table` into a new dead-letter file.
pub fn write_dead_letters(dir: &Path, table: &str, batches: &[RecordBatch]) -> Result<PathBuf> {
    fn fail(p: &Path, e: impl std::error::Error + Send + Sync + 'static) -> ZerobusError {
        ZerobusError::Configuration(
            Detail::new(format!(
                "dead_letter_dir: cannot write {}: {e}",
                p.display()
            ))
            .caused_by(e),
        )
    }
    let first = batches
        .first()
        .ok_or_else(|| ZerobusError::Configuration("no rows to write as dead letters".into()))?;
    std::fs::create_dir_all(dir).map_err(|e| fail(dir, e))?;
    let path = dir.join(format!(
        "{}.{}.{}.dead.arrow",
        file_stem(table),
        unique_part(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let mut meta: HashMap<String, String> = first.schema().metadata().clone();
    meta.insert(TABLE_METADATA_KEY.into(), table.into());
    let schema = Schema::new_with_metadata(first.schema().fields().clone(), meta);
    let file = create_private(&path).map_err(|e| fail(&path, e))?;
    let mut w = FileWriter::try_new(file, &schema).map_err(|e| fail(&path, e))?;
    for b in batches {
        let b = b
            .clone()
            .with_schema(std::sync::Arc::new(schema.clone()))
            .map_err(|e| fail(&path, e))?;
        w.write(&b).map_err(|e| fail(&path, e))?;
    }
    w.finish().map_err(|e| fail(&path, e))?;
    Ok(path)
}

/// Read a dead-letter file: its table and its batches.
pub fn read_dead_letters(path: &Path) -> Result<(Option<String>, Vec<RecordBatch>)> {
    let file = std::fs::File::open(path).map_err(|e| unreadable(path, e))?;
    let reader = FileReader::try_new(file, None).map_err(|e| unreadable(path, e))?;
    let table = reader.schema().metadata().get(TABLE_METADATA_KEY).cloned();
    let batches = reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| unreadable(path, e))?;
    Ok((table, batches))
}

/// `path` itself if it is a file; the `*.dead.arrow` files of it (sorted) if a directory.
pub fn dead_letter_files(path: &Path) -> Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let entries = std::fs::read_dir(path).map_err(|e| {
        ZerobusError::Configuration(
            Detail::new(format!("cannot list {}: {e}", path.display())).caused_by(e),
        )
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.to_string_lossy().ends_with(".dead.arrow"))
        .collect();
    files.sort();
    Ok(files)
}

/// The table a dead-letter file is for (from its schema metadata), without reading rows.
pub fn dead_letter_table(path: &Path) -> Result<Option<String>> {
    let file = std::fs::File::open(path).map_err(|e| unreadable(path, e))?;
    let reader = FileReader::try_new(file, None).map_err(|e| unreadable(path, e))?;
    Ok(reader.schema().metadata().get(TABLE_METADATA_KEY).cloned())
}

fn unreadable(path: &Path, e: impl std::error::Error + Send + Sync + 'static) -> ZerobusError {
    ZerobusError::Configuration(
        Detail::new(format!("cannot read dead letters {}: {e}", path.display())).caused_by(e),
    )
}
