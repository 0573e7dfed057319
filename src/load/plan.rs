//! What a load sends of each input file, from the journal: nothing (already loaded), the
//! rows not acknowledged (an interrupted load), or all of it (new, or `force`).

use std::path::Path;

use super::claim::Claim;
use super::journal::{DeadLettered, FileEntry, Journal};
use super::read::parquet_rows;
use super::sources::{FileFormat, SourceFile};
use crate::error::{Result, ZerobusError};

/// One file this load sends rows of.
pub(super) struct FilePlan {
    /// The file, its identity complete.
    pub file: SourceFile,
    /// Its journal entry as this load starts.
    pub entry: FileEntry,
    /// The rows to send, sorted.
    pub send: Vec<(u64, u64)>,
    /// Dead-letter files of earlier loads whose rows this load sends from the source.
    pub superseded: Vec<DeadLettered>,
    /// Rows to send that an earlier load had read: it may have delivered them.
    pub resent: u64,
    /// Rows earlier loads had acknowledged.
    pub skipped: u64,
    /// The file, claimed for this load (released when the load ends).
    pub claim: Claim,
}

/// What to do with one input file.
pub(super) enum Decision {
    /// Already loaded, unchanged: nothing.
    Skip,
    /// Send rows of it.
    Load(Box<FilePlan>),
}

/// Whether a dead-letter file was replayed (`zerobus-sql replay` and
/// `ZerobusWrapper::replay_dead_letters` rename a replayed file `*.replayed`).
fn replayed(dead_letter: &str) -> bool {
    Path::new(&format!("{dead_letter}.replayed")).exists()
}

/// The decision for `file`, claimed for load `load` when it is to be loaded. A file
/// changed since the journal saw it is refused unless `force`.
pub(super) async fn plan_file(
    journal: &Journal,
    file: SourceFile,
    force: bool,
    load: &str,
    table: &str,
) -> Result<Decision> {
    let claim = journal.claim(&file.identity.url, load).await?;
    let file = file.with_footer_checksum().await?;
    let known = journal.entry(&file.identity.url).await?;
    let fresh = || FileEntry::new(journal.service(), table, file.identity.clone(), load);
    let mut entry = match known {
        None => fresh(),
        Some(_) if force => fresh(),
        Some(e) if file.identity.changes_since(&e.file).is_some() => {
            let what = file.identity.changes_since(&e.file).unwrap_or_default();
            return Err(ZerobusError::Configuration(
                format!(
                    "{} changed since a load journaled it for {table} ({what}); rows of the \
                     old file may be in the table: load it with force to send all of it again",
                    file.identity.url,
                )
                .into(),
            ));
        }
        Some(e) if e.complete() => return Ok(Decision::Skip),
        Some(e) => e,
    };
    if entry.rows.is_none() && file.format == FileFormat::Parquet {
        entry.rows = Some(parquet_rows(&file).await?);
    }
    // Rows in dead-letter files: replayed ones count as delivered; the others are sent
    // again from the source, and their files are set aside once that is done.
    // (They stay in the entry until their rows are delivered again.)
    let mut superseded = Vec::new();
    for d in std::mem::take(&mut entry.dead_lettered) {
        if replayed(&d.file) {
            entry.acknowledged.insert(d.rows.0, d.rows.1);
        } else {
            superseded.push(d.clone());
            entry.dead_lettered.push(d);
        }
    }
    let skipped = entry.acknowledged.rows();
    let missing = entry.acknowledged.missing(entry.rows.unwrap_or(u64::MAX));
    let resent = missing.below(entry.reserved_until);
    entry.load = load.to_string();
    Ok(Decision::Load(Box::new(FilePlan {
        send: missing.ranges().to_vec(),
        file,
        entry,
        superseded,
        resent,
        skipped,
        claim,
    })))
}
