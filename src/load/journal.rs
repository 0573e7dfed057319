//! The load journal: per target (service + table), per input file, which rows are
//! durably acknowledged, which went to dead-letter files, and how far any load may have
//! read; plus one record per load for its history.
//!
//! Layout under the journal directory (local, or an object-store prefix):
//!
//! ```text
//! <table>@<service>/files/<file name>-<crc32 of its URL>.json    one entry per input file
//! <table>@<service>/files/<file name>-<crc32 of its URL>.claim   held while a load reads it
//! <table>@<service>/loads/<started ms>-<load id>.json            one record per load
//! ```
//!
//! An entry is JSON followed by a line `crc32 XXXXXXXX` over the JSON: a torn, edited or
//! foreign entry is refused with its path, never taken as "nothing loaded". Entries are
//! written whole (a temporary file renamed over the old one; a single PUT on object
//! stores). A claim keeps two loads from reading one file at once: locally an OS lock
//! (released when the process dies, also by SIGKILL), on object stores an object created
//! only if absent, renewed while the load runs and taken over when older than
//! [`super::claim::CLAIM_LEASE`] (see [`super::claim`]).

use std::path::PathBuf;
use std::sync::Arc;

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use super::ranges::RowRanges;
use super::sources::FileIdentity;
use crate::error::{Detail, Result, ZerobusError};
use crate::store::Place;

/// The first field of every journal file: what it is.
const KIND: &str = "arrow-zerobus load journal";
const VERSION: u32 = 1;

/// The journal directory used when none is given: `$ZEROBUS_JOURNAL_DIR`, else
/// `$XDG_STATE_HOME/arrow-zerobus/journal`, else `~/.local/state/arrow-zerobus/journal`,
/// else `zerobus-journal` in the working directory.
pub fn default_journal_dir() -> PathBuf {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(dir) = var("ZEROBUS_JOURNAL_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(state) = var("XDG_STATE_HOME") {
        return PathBuf::from(state).join("arrow-zerobus/journal");
    }
    if let Some(home) = var("HOME") {
        return PathBuf::from(home).join(".local/state/arrow-zerobus/journal");
    }
    PathBuf::from("zerobus-journal")
}

/// Rows of a file that went to a dead-letter file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLettered {
    /// File rows `start..end`.
    pub rows: (u64, u64),
    /// The dead-letter file.
    pub file: String,
}

/// What the journal knows of one input file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// [`KIND`].
    pub journal: String,
    /// The format's version.
    pub version: u32,
    /// The service of the target (its endpoint's host and port, or the emulator's
    /// warehouse).
    pub service: String,
    /// The target table, `catalog.schema.table`.
    pub table: String,
    /// The file as it was when loaded.
    pub file: FileIdentity,
    /// Rows in the file, once known (Parquet: from the footer; CSV, JSON: once read to the
    /// end).
    pub rows: Option<u64>,
    /// Rows durably acknowledged by the service.
    pub acknowledged: RowRanges,
    /// Rows that went to dead-letter files instead.
    #[serde(default)]
    pub dead_lettered: Vec<DeadLettered>,
    /// No load has read any row at or after this one: rows below it that are not
    /// acknowledged may have been sent (the bound of duplicates after an interruption).
    pub reserved_until: u64,
    /// The last load that wrote this entry.
    pub load: String,
    /// When, milliseconds since the Unix epoch.
    pub updated_ms: i64,
}

impl FileEntry {
    /// A fresh entry: nothing loaded yet.
    pub fn new(service: &str, table: &str, file: FileIdentity, load: &str) -> FileEntry {
        FileEntry {
            journal: KIND.into(),
            version: VERSION,
            service: service.into(),
            table: table.into(),
            file,
            rows: None,
            acknowledged: RowRanges::default(),
            dead_lettered: Vec::new(),
            reserved_until: 0,
            load: load.into(),
            updated_ms: now_ms(),
        }
    }

    /// Whether every row of the file is acknowledged.
    pub fn complete(&self) -> bool {
        self.rows
            .is_some_and(|n| self.acknowledged.covers(0, n) || n == 0)
    }
}

/// One load, for the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadRecord {
    /// [`KIND`].
    pub journal: String,
    /// The load's id.
    pub load: String,
    /// The target table.
    pub table: String,
    /// When it started and (once it ended) ended, milliseconds since the Unix epoch.
    pub started_ms: i64,
    /// When it ended.
    pub finished_ms: Option<i64>,
    /// `running` (also a load that was killed), `complete`, `interrupted`, `failed`.
    pub state: String,
    /// Input files matched.
    pub files: u64,
    /// Files skipped as already loaded.
    pub files_skipped: u64,
    /// Rows sent.
    pub rows_sent: u64,
    /// Rows acknowledged.
    pub rows_acknowledged: u64,
    /// Rows skipped as already acknowledged by earlier loads.
    pub rows_skipped: u64,
    /// Rows written to dead-letter files.
    pub rows_dead_lettered: u64,
    /// The error, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The journal of one target.
#[derive(Clone)]
pub struct Journal {
    pub(super) place: Where,
    service: String,
    pub(super) table: String,
}

#[derive(Clone)]
pub(super) enum Where {
    Local(PathBuf),
    Store {
        store: Arc<dyn ObjectStore>,
        prefix: ObjectPath,
        url: String,
    },
}

pub(super) fn journal_error(path: &str, why: impl std::fmt::Display) -> ZerobusError {
    ZerobusError::Configuration(Detail::new(format!("load journal {path}: {why}")))
}

/// File-name-safe text: letters, digits and `.-_@` kept, anything else `_`.
fn safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The entry's name for a file URL: its file name (readable) and a checksum of the
/// whole URL (unique in practice; the entry holds the URL, and a clash is refused).
pub(super) fn entry_stem(url: &str) -> String {
    let name = url.rsplit('/').next().unwrap_or("file");
    let name: String = safe(name).chars().take(80).collect();
    format!("{name}-{:08x}", crc32fast::hash(url.as_bytes()))
}

/// JSON with its checksum line.
fn seal<T: Serialize>(value: &T) -> Vec<u8> {
    let mut json = serde_json::to_vec_pretty(value).unwrap_or_default();
    let crc = crc32fast::hash(&json);
    json.extend_from_slice(format!("\ncrc32 {crc:08x}\n").as_bytes());
    json
}

/// The JSON of sealed bytes, its checksum verified.
fn unseal<T: for<'de> Deserialize<'de>>(path: &str, bytes: &[u8]) -> Result<T> {
    let text = std::str::from_utf8(bytes).map_err(|_| journal_error(path, "is not text"))?;
    let torn = || {
        journal_error(
            path,
            "is torn or not a journal file (no checksum line); move it away to load the file again from its start",
        )
    };
    let body_end = text.trim_end().rfind("\ncrc32 ").ok_or_else(torn)?;
    let (body, tail) = text.split_at(body_end);
    let said =
        u32::from_str_radix(tail.trim().trim_start_matches("crc32 "), 16).map_err(|_| torn())?;
    if crc32fast::hash(body.as_bytes()) != said {
        return Err(journal_error(
            path,
            "fails its checksum (changed or corrupt); move it away to load the file again from its start",
        ));
    }
    let kind: serde_json::Value = serde_json::from_str(body)
        .map_err(|e| journal_error(path, format!("is not valid JSON: {e}")))?;
    if kind.get("journal").and_then(|k| k.as_str()) != Some(KIND) {
        return Err(journal_error(
            path,
            "is not an arrow-zerobus load journal file",
        ));
    }
    serde_json::from_value(kind).map_err(|e| journal_error(path, format!("is not readable: {e}")))
}

/// Local journal writes of this process: numbered as they are asked for, and the number
/// of the snapshot each entry on disk holds.
struct LocalWrites {
    next: std::sync::atomic::AtomicU64,
    landed: std::sync::Mutex<std::collections::HashMap<PathBuf, u64>>,
}

static LOCAL_WRITES: std::sync::LazyLock<LocalWrites> = std::sync::LazyLock::new(|| LocalWrites {
    next: std::sync::atomic::AtomicU64::new(0),
    landed: std::sync::Mutex::new(std::collections::HashMap::new()),
});

/// Write `bytes` (snapshot number `seq`) to `path` whole: a temporary file of its own,
/// synced, renamed over the old one. Skipped when a later snapshot already landed: a
/// write whose caller went away must not overwrite what came after it. One write at a
/// time in the process (each takes about a millisecond).
fn write_local(path: &std::path::Path, seq: u64, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut landed = LOCAL_WRITES
        .landed
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if landed.get(path).is_some_and(|&later| later > seq) {
        return Ok(());
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}-{seq}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_data()?;
        std::fs::rename(&tmp, path)
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    landed.insert(path.to_path_buf(), seq);
    Ok(())
}

impl Journal {
    /// The journal of `service` + `table` under `dir` (a local directory or an
    /// object-store URL).
    pub fn open(dir: &std::path::Path, service: &str, table: &str) -> Result<Journal> {
        let target = safe(&format!("{}@{service}", table.to_ascii_lowercase()));
        let place = match Place::parse(dir, "journal_dir")? {
            Place::Local(d) => {
                let d = std::path::absolute(&d).unwrap_or(d).join(&target);
                for sub in ["files", "loads"] {
                    std::fs::create_dir_all(d.join(sub)).map_err(|e| {
                        journal_error(&d.display().to_string(), format!("cannot create it: {e}"))
                    })?;
                }
                Where::Local(d)
            }
            Place::Store(remote) => Where::Store {
                store: Arc::clone(remote.store()),
                prefix: remote.prefix().clone().join(target.as_str()),
                url: remote.location(&target),
            },
        };
        Ok(Journal {
            place,
            service: service.into(),
            table: table.into(),
        })
    }

    /// The target's service.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// Where the target's journal is.
    pub fn location(&self) -> String {
        match &self.place {
            Where::Local(d) => d.display().to_string(),
            Where::Store { url, .. } => url.clone(),
        }
    }

    pub(super) fn shown(&self, name: &str) -> String {
        format!("{}/{name}", self.location())
    }

    async fn read(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let shown = self.shown(name);
        match &self.place {
            Where::Local(d) => match std::fs::read(d.join(name)) {
                Ok(b) => Ok(Some(b)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(journal_error(&shown, format!("cannot read it: {e}"))),
            },
            Where::Store { store, prefix, .. } => match store.get(&child(prefix, name)).await {
                Ok(r) => r
                    .bytes()
                    .await
                    .map(|b| Some(b.to_vec()))
                    .map_err(|e| journal_error(&shown, format!("cannot read it: {e}"))),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(journal_error(&shown, format!("cannot read it: {e}"))),
            },
        }
    }

    /// Write `bytes` as `name` whole: readers see the old or the new, never a mix.
    async fn write(&self, name: &str, bytes: Vec<u8>) -> Result<()> {
        let shown = self.shown(name);
        let failed =
            |e: &dyn std::fmt::Display| journal_error(&shown, format!("cannot write it: {e}"));
        match &self.place {
            Where::Local(d) => {
                let path = d.join(name);
                // Numbered now, in the order the callers asked (their snapshots' order).
                let seq = LOCAL_WRITES
                    .next
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                // On a blocking thread: the sync to disk takes milliseconds. The thread
                // finishes even when this future is dropped (an aborted saver), so it
                // checks that no later snapshot of the entry landed first.
                let written =
                    tokio::task::spawn_blocking(move || write_local(&path, seq, &bytes)).await;
                match written {
                    Ok(r) => r.map_err(|e| failed(&e)),
                    Err(e) => Err(failed(&e)),
                }
            }
            Where::Store { store, prefix, .. } => store
                .put(&child(prefix, name), PutPayload::from(bytes))
                .await
                .map(|_| ())
                .map_err(|e| failed(&e)),
        }
    }

    /// The entry of the file at `url`, if any load journaled it.
    pub async fn entry(&self, url: &str) -> Result<Option<FileEntry>> {
        let name = format!("files/{}.json", entry_stem(url));
        let Some(bytes) = self.read(&name).await? else {
            return Ok(None);
        };
        let shown = self.shown(&name);
        let entry: FileEntry = unseal(&shown, &bytes)?;
        if entry.file.url != url
            || !entry.table.eq_ignore_ascii_case(&self.table)
            || entry.service != self.service
        {
            return Err(journal_error(
                &shown,
                format!(
                    "belongs to {} into {} at {}, not to {url} into {} at {}",
                    entry.file.url, entry.table, entry.service, self.table, self.service
                ),
            ));
        }
        if entry.version != VERSION {
            return Err(journal_error(
                &shown,
                format!(
                    "is of journal version {}, this build reads {VERSION}",
                    entry.version
                ),
            ));
        }
        Ok(Some(entry))
    }

    /// Write `entry` whole.
    pub async fn save(&self, entry: &FileEntry) -> Result<()> {
        let name = format!("files/{}.json", entry_stem(&entry.file.url));
        self.write(&name, seal(entry)).await
    }

    /// Write the record of a load.
    pub async fn record(&self, record: &LoadRecord) -> Result<()> {
        let name = format!(
            "loads/{:013}-{}.json",
            record.started_ms,
            safe(&record.load)
        );
        self.write(&name, seal(record)).await
    }

    /// Every load record and file entry of the target, loads oldest first, files by URL.
    pub async fn history(&self) -> Result<(Vec<LoadRecord>, Vec<FileEntry>)> {
        let mut loads = Vec::new();
        let mut files = Vec::new();
        for name in self.list("loads").await? {
            if let Some(b) = self.read(&format!("loads/{name}")).await? {
                loads.push(unseal::<LoadRecord>(
                    &self.shown(&format!("loads/{name}")),
                    &b,
                )?);
            }
        }
        for name in self.list("files").await? {
            if !name.ends_with(".json") {
                continue;
            }
            if let Some(b) = self.read(&format!("files/{name}")).await? {
                files.push(unseal::<FileEntry>(
                    &self.shown(&format!("files/{name}")),
                    &b,
                )?);
            }
        }
        loads.sort_by_key(|l| l.started_ms);
        files.sort_by(|a, b| a.file.url.cmp(&b.file.url));
        Ok((loads, files))
    }

    async fn list(&self, sub: &str) -> Result<Vec<String>> {
        let shown = self.shown(sub);
        let mut names = match &self.place {
            Where::Local(d) => match std::fs::read_dir(d.join(sub)) {
                Ok(rd) => rd
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .filter(|n| n.ends_with(".json"))
                    .collect(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(journal_error(&shown, format!("cannot list it: {e}"))),
            },
            Where::Store { store, prefix, .. } => {
                use futures::TryStreamExt;
                let listed: Vec<_> = store
                    .list(Some(&child(prefix, sub)))
                    .try_collect()
                    .await
                    .map_err(|e| journal_error(&shown, format!("cannot list it: {e}")))?;
                listed
                    .into_iter()
                    .filter_map(|m| m.location.filename().map(str::to_string))
                    .filter(|n| n.ends_with(".json"))
                    .collect()
            }
        };
        names.sort();
        Ok(names)
    }
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Where it is; an object store's credentials are not shown.
        write!(f, "Journal({})", self.location())
    }
}

pub(super) fn child(prefix: &ObjectPath, name: &str) -> ObjectPath {
    name.split('/').fold(prefix.clone(), |p, part| p.join(part))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn identity(url: &str) -> FileIdentity {
        FileIdentity {
            url: url.into(),
            size: 10,
            modified_ms: 1,
            etag: None,
            footer_crc32: Some(7),
        }
    }

    #[tokio::test]
    async fn entries_round_trip_and_damage_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path(), "127.0.0.1_1", "main.default.t").unwrap();
        let url = "file:///data/a.parquet";
        assert_eq!(j.entry(url).await.unwrap(), None);
        let mut e = FileEntry::new(j.service(), "main.default.t", identity(url), "L1");
        e.rows = Some(100);
        e.acknowledged.insert(0, 40);
        e.acknowledged.insert(60, 100);
        j.save(&e).await.unwrap();
        assert_eq!(j.entry(url).await.unwrap().as_ref(), Some(&e));
        assert!(!e.complete());

        // One changed digit: the checksum refuses it, naming the file.
        let path = j.location() + &format!("/files/{}.json", entry_stem(url));
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replacen("40", "41", 1)).unwrap();
        let err = j.entry(url).await.unwrap_err().to_string();
        assert!(
            err.contains("fails its checksum") && err.contains(&path),
            "{err}"
        );
        // Torn: half of it.
        std::fs::write(&path, &text[..text.len() / 2]).unwrap();
        let err = j.entry(url).await.unwrap_err().to_string();
        assert!(err.contains("torn"), "{err}");
        // Foreign: valid and sealed, but not ours.
        std::fs::write(&path, seal(&serde_json::json!({"journal": "other"}))).unwrap();
        let err = j.entry(url).await.unwrap_err().to_string();
        assert!(err.contains("not an arrow-zerobus load journal"), "{err}");
    }

    /// A save whose future is dropped mid-write (the saver aborted, a reader dropped) must
    /// neither make the next save fail nor land after it: the stale write either goes
    /// first or not at all. Seen in CI as "cannot write it: No such file or directory"
    /// when two writes of one entry shared a temporary file name.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_save_neither_fails_nor_overwrites_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path(), "127.0.0.1_1", "main.default.t").unwrap();
        let url = "file:///data/a.parquet";
        let mut e = FileEntry::new(j.service(), "main.default.t", identity(url), "L1");
        for round in 0..200u64 {
            e.acknowledged.insert(round * 10, round * 10 + 5);
            // Polled once (the write starts), then dropped by the elapsed timeout.
            let _ = tokio::time::timeout(Duration::from_nanos(1), j.save(&e)).await;
            e.acknowledged.insert(round * 10 + 5, round * 10 + 10);
            j.save(&e)
                .await
                .unwrap_or_else(|err| panic!("round {round}: {err}"));
            assert_eq!(
                j.entry(url).await.unwrap().as_ref(),
                Some(&e),
                "round {round}"
            );
        }
        let left: Vec<_> = std::fs::read_dir(dir.path().join("main.default.t@127.0.0.1_1/files"))
            .unwrap()
            .map(|f| f.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.ends_with(".json"))
            .collect();
        assert!(left.is_empty(), "temporary files left: {left:?}");
    }
}
