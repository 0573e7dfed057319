//! Dead letters: rows that were not acknowledged when retries ran out are written to an
//! Arrow IPC file (`<dir>/<table>.<ms>.<pid>.<random>.<n>.dead.arrow`, created new, 0600)
//! whose path is in the
//! [`ZerobusError::RetryExhausted`] error; [`crate::ZerobusWrapper::replay_dead_letters`]
//! sends them again. The table name is kept in the file's schema metadata. The directory
//! may be an object-store prefix (`s3://bucket/dead-letters`, see [`crate::store`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::RecordBatch;
use arrow::datatypes::Schema;
use arrow::ipc::reader::FileReader;
use arrow::ipc::writer::FileWriter;

use crate::error::{Detail, Result, ZerobusError};
use crate::files::{create_private, file_stem, unique_part};
use crate::store::Place;

/// Schema metadata key holding the target table of a dead-letter file.
pub const TABLE_METADATA_KEY: &str = "zerobus.table";

static SEQ: AtomicU64 = AtomicU64::new(0);

/// The name of a new dead-letter file of `table`.
fn dead_letter_name(table: &str) -> String {
    format!(
        "{}.{}.{}.dead.arrow",
        file_stem(table),
        unique_part(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

/// Write `batches` (all of one schema) for `table` as an Arrow IPC file into `w`, the
/// table's name in the schema metadata.
fn write_ipc<W: std::io::Write>(
    w: W,
    table: &str,
    batches: &[RecordBatch],
) -> std::result::Result<(), arrow::error::ArrowError> {
    let Some(first) = batches.first() else {
        return Ok(());
    };
    let mut meta: HashMap<String, String> = first.schema().metadata().clone();
    meta.insert(TABLE_METADATA_KEY.into(), table.into());
    let schema = std::sync::Arc::new(Schema::new_with_metadata(
        first.schema().fields().clone(),
        meta,
    ));
    let mut w = FileWriter::try_new(w, &schema)?;
    for b in batches {
        w.write(&b.clone().with_schema(schema.clone())?)?;
    }
    w.finish()
}

fn no_rows() -> ZerobusError {
    ZerobusError::Configuration("no rows to write as dead letters".into())
}

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
    if batches.is_empty() {
        return Err(no_rows());
    }
    create_private_dir(dir).map_err(|e| fail(dir, e))?;
    let path = dir.join(dead_letter_name(table));
    let file = create_private(&path).map_err(|e| fail(&path, e))?;
    write_ipc(file, table, batches).map_err(|e| fail(&path, e))?;
    Ok(path)
}

/// Write `batches` for `table` into a new dead-letter file at `place`: a local directory
/// ([`write_dead_letters`]) or an object-store prefix (the file's URL comes back as the
/// path, e.g. `s3://bucket/dead/t.….dead.arrow`).
pub async fn write_dead_letters_at(
    place: &Place,
    table: &str,
    batches: &[RecordBatch],
) -> Result<PathBuf> {
    match place {
        Place::Local(dir) => write_dead_letters(dir, table, batches),
        Place::Store(remote) => {
            if batches.is_empty() {
                return Err(no_rows());
            }
            let name = dead_letter_name(table);
            let mut bytes = Vec::new();
            write_ipc(&mut bytes, table, batches).map_err(|e| {
                ZerobusError::Configuration(
                    Detail::new(format!(
                        "dead_letter_dir: cannot encode {}: {e}",
                        remote.location(&name)
                    ))
                    .caused_by(e),
                )
            })?;
            let location = remote.put(&name, bytes, "dead_letter_dir").await?;
            Ok(PathBuf::from(location))
        }
    }
}

/// Create `dir` (and its parents) owner-only (0700) where it does not exist yet.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Refuse, naming it, a file replay cannot prove is one of our dead-letter files: a
/// symbolic link, not a regular file, not named `*.dead.arrow`, (on Unix) owned by
/// another user or writable by group or others (ours are created 0600 by their owner; a
/// copy the user made, 0644, is theirs).
/// Another local user could otherwise drop a file that sends rows of their choosing
/// with the operator's credentials.
fn refuse_untrusted(path: &Path) -> Result<()> {
    let refuse = |why: &str| {
        Err(ZerobusError::Configuration(
            format!(
                "{} is not replayed: {why}; dead-letter files are regular files named \
                 *.dead.arrow, owned and writable only by the user who replays them",
                path.display()
            )
            .into(),
        ))
    };
    let meta = std::fs::symlink_metadata(path).map_err(|e| unreadable(path, e))?;
    if meta.file_type().is_symlink() {
        return refuse("it is a symbolic link");
    }
    if !meta.is_file() {
        return refuse("it is not a regular file");
    }
    if !path.to_string_lossy().ends_with(".dead.arrow") {
        return refuse("its name does not end with .dead.arrow");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        if meta.uid() != me {
            return refuse(&format!(
                "it is owned by user {}, not by this user",
                meta.uid()
            ));
        }
        if meta.mode() & 0o022 != 0 {
            return refuse(&format!(
                "its mode {:o} lets group or others write it",
                meta.mode() & 0o777
            ));
        }
    }
    Ok(())
}

/// Read a dead-letter file: its table and its batches. Refused unless it can be shown to
/// be one of ours (see `refuse_untrusted`) and names its table.
pub fn read_dead_letters(path: &Path) -> Result<(Option<String>, Vec<RecordBatch>)> {
    refuse_untrusted(path)?;
    let file = std::fs::File::open(path).map_err(|e| unreadable(path, e))?;
    let reader = FileReader::try_new(file, None).map_err(|e| unreadable(path, e))?;
    let Some(table) = reader.schema().metadata().get(TABLE_METADATA_KEY).cloned() else {
        return Err(ZerobusError::Configuration(
            format!(
                "{} is not replayed: it names no table (no '{TABLE_METADATA_KEY}' in its schema \
                 metadata), so it is not one of our dead-letter files",
                path.display()
            )
            .into(),
        ));
    };
    let table = Some(table);
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
        .filter(|p| p.to_string_lossy().ends_with(".dead.arrow"))
        .collect();
    files.sort();
    Ok(files)
}

/// The table a dead-letter file is for (from its schema metadata), without reading rows.
pub fn dead_letter_table(path: &Path) -> Result<Option<String>> {
    refuse_untrusted(path)?;
    let file = std::fs::File::open(path).map_err(|e| unreadable(path, e))?;
    let reader = FileReader::try_new(file, None).map_err(|e| unreadable(path, e))?;
    Ok(reader.schema().metadata().get(TABLE_METADATA_KEY).cloned())
}

fn unreadable(path: &Path, e: impl std::error::Error + Send + Sync + 'static) -> ZerobusError {
    ZerobusError::Configuration(
        Detail::new(format!("cannot read dead letters {}: {e}", path.display())).caused_by(e),
    )
}
