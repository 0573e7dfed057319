//! The input files of a load: paths, globs and directories, on this machine or in an
//! object store, expanded into files with the identity a journal keeps for each.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use serde::{Deserialize, Serialize};

use crate::error::{Detail, Result, ZerobusError};
use crate::store::{is_store_url, store_for};

/// The formats a load reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    /// Apache Parquet: rows skipped by row selection, its footer part of the identity.
    Parquet,
    /// CSV with a header line.
    Csv,
    /// Newline-delimited JSON.
    Json,
}

impl FileFormat {
    /// `PARQUET`, `CSV` or `JSON` (any case), as `FILEFORMAT =` says it.
    pub fn parse(text: &str) -> Result<FileFormat> {
        match text.to_ascii_lowercase().as_str() {
            "parquet" => Ok(FileFormat::Parquet),
            "csv" => Ok(FileFormat::Csv),
            "json" | "ndjson" | "jsonl" => Ok(FileFormat::Json),
            other => Err(ZerobusError::Configuration(
                format!("file format '{other}' is not one of PARQUET, CSV, JSON").into(),
            )),
        }
    }

    /// The format a file name's extension says, if any.
    pub fn of_name(name: &str) -> Option<FileFormat> {
        let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
        match ext.as_str() {
            "parquet" | "parq" => Some(FileFormat::Parquet),
            "csv" => Some(FileFormat::Csv),
            "json" | "ndjson" | "jsonl" => Some(FileFormat::Json),
            _ => None,
        }
    }
}

/// Where a file is read from.
#[derive(Clone)]
pub enum Location {
    /// A file on this machine.
    Local(PathBuf),
    /// An object in a store.
    Store(Arc<dyn ObjectStore>, ObjectPath),
}

/// What a journal knows a file by: when any of it changes, the file is not the one that
/// was loaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileIdentity {
    /// `file:///…` or the object's URL.
    pub url: String,
    /// Bytes.
    pub size: u64,
    /// Last modification, milliseconds since the Unix epoch.
    pub modified_ms: i64,
    /// The object store's ETag, if it gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// CRC-32 of a Parquet file's footer (its schema, row groups and statistics).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub footer_crc32: Option<u32>,
}

impl FileIdentity {
    /// What changed from `before` to this, in words; `None` when it is the same file. A
    /// Parquet file is known by its size and footer (a copy or `touch` keeps it the same
    /// file); other files by size, modification time and ETag.
    pub fn changes_since(&self, before: &FileIdentity) -> Option<String> {
        let mut changed = Vec::new();
        if self.size != before.size {
            changed.push(format!("size {} → {} bytes", before.size, self.size));
        }
        if self.footer_crc32.is_some() || before.footer_crc32.is_some() {
            if self.footer_crc32 != before.footer_crc32 {
                changed.push("the Parquet footer (schema, row groups, statistics)".to_string());
            }
        } else {
            if self.modified_ms != before.modified_ms {
                changed.push(format!(
                    "modified at {} ms, journaled at {} ms",
                    self.modified_ms, before.modified_ms
                ));
            }
            if self.etag != before.etag {
                changed.push(format!("ETag {:?} → {:?}", before.etag, self.etag));
            }
        }
        (!changed.is_empty()).then(|| changed.join(", "))
    }
}

/// One input file of a load.
#[derive(Clone)]
pub struct SourceFile {
    /// Its identity (the footer checksum filled in by [`SourceFile::with_footer_checksum`]).
    pub identity: FileIdentity,
    /// How its rows are read.
    pub format: FileFormat,
    /// Where it is read from.
    pub location: Location,
}

impl std::fmt::Debug for SourceFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SourceFile({})", self.identity.url)
    }
}

fn unreadable(what: &str, e: impl std::error::Error + Send + Sync + 'static) -> ZerobusError {
    ZerobusError::Configuration(Detail::new(format!("cannot read {what}: {e}")).caused_by(e))
}

fn has_glob(text: &str) -> bool {
    text.contains(['*', '?', '['])
}

/// Whether a file found in a directory is an input: not hidden, not a marker such as
/// `_SUCCESS`, and of the load's format (by extension).
fn wanted(name: &str, format: Option<FileFormat>) -> bool {
    if name.starts_with('.') || name.starts_with('_') {
        return false;
    }
    match (FileFormat::of_name(name), format) {
        (Some(found), Some(want)) => found == want,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// Every input file of `inputs` (paths, globs, directories, object-store URLs of
/// either), each once, sorted by URL. `format` (else each file's extension) says how
/// each is read. An input that matches nothing is an error naming it.
pub async fn expand(inputs: &[String], format: Option<FileFormat>) -> Result<Vec<SourceFile>> {
    let mut files = Vec::new();
    for input in inputs {
        let found = if is_store_url(input) && !input.starts_with("file://") {
            expand_store(input, format).await?
        } else {
            let path = match input.strip_prefix("file://") {
                Some(p) => PathBuf::from(p),
                None => PathBuf::from(input),
            };
            expand_local(&path, format)?
        };
        if found.is_empty() {
            return Err(ZerobusError::Configuration(
                format!("'{input}' matches no input file").into(),
            ));
        }
        files.extend(found);
    }
    files.sort_by(|a, b| a.identity.url.cmp(&b.identity.url));
    files.dedup_by(|a, b| a.identity.url == b.identity.url);
    Ok(files)
}

fn expand_local(path: &Path, format: Option<FileFormat>) -> Result<Vec<SourceFile>> {
    let text = path.to_string_lossy();
    let mut paths = Vec::new();
    if has_glob(&text) {
        let matches = glob::glob(&text).map_err(|e| {
            ZerobusError::Configuration(format!("'{text}' is not a valid glob: {e}").into())
        })?;
        for m in matches {
            let p = m.map_err(|e| unreadable(&text, e))?;
            if p.is_file() {
                paths.push(p);
            }
        }
    } else if path.is_dir() {
        walk_dir(path, format, &mut paths)?;
    } else {
        let meta = std::fs::metadata(path).map_err(|e| unreadable(&text, e))?;
        if meta.is_file() {
            paths.push(path.to_path_buf());
        }
    }
    paths.into_iter().map(|p| local_file(&p, format)).collect()
}

fn walk_dir(dir: &Path, format: Option<FileFormat>, out: &mut Vec<PathBuf>) -> Result<()> {
    let shown = dir.display().to_string();
    for entry in std::fs::read_dir(dir).map_err(|e| unreadable(&shown, e))? {
        let entry = entry.map_err(|e| unreadable(&shown, e))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if path.is_dir() {
            if !name.starts_with('.') && !name.starts_with('_') {
                walk_dir(&path, format, out)?;
            }
        } else if wanted(&name, format) {
            out.push(path);
        }
    }
    Ok(())
}

/// A local file as a load input.
fn local_file(path: &Path, format: Option<FileFormat>) -> Result<SourceFile> {
    let absolute =
        std::path::absolute(path).map_err(|e| unreadable(&path.display().to_string(), e))?;
    let shown = absolute.display().to_string();
    let meta = std::fs::metadata(&absolute).map_err(|e| unreadable(&shown, e))?;
    let modified_ms = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as i64);
    let url = url::Url::from_file_path(&absolute)
        .map(String::from)
        .unwrap_or_else(|_| format!("file://{shown}"));
    Ok(SourceFile {
        format: format_of(&url, format)?,
        identity: FileIdentity {
            url,
            size: meta.len(),
            modified_ms,
            etag: None,
            footer_crc32: None,
        },
        location: Location::Local(absolute),
    })
}

fn format_of(url: &str, format: Option<FileFormat>) -> Result<FileFormat> {
    format.or_else(|| FileFormat::of_name(url)).ok_or_else(|| {
        ZerobusError::Configuration(
            format!(
                "{url}: the file format is not known from its name (.parquet, .csv, .json); \
                 say FILEFORMAT = PARQUET|CSV|JSON"
            )
            .into(),
        )
    })
}

async fn expand_store(input: &str, format: Option<FileFormat>) -> Result<Vec<SourceFile>> {
    let url = url::Url::parse(input).map_err(|e| {
        ZerobusError::Configuration(format!("'{input}' is not a valid URL: {e}").into())
    })?;
    let store = store_for(&url)
        .map_err(|e| ZerobusError::Configuration(format!("'{input}': {e}").into()))?;
    let path = url.path().trim_start_matches('/');
    // The fixed part of the path before any glob character is the prefix listed.
    let (prefix, pattern) = match path.find(['*', '?', '[']) {
        Some(at) => {
            let cut = path[..at].rfind('/').map_or(0, |s| s + 1);
            let pattern = glob::Pattern::new(path).map_err(|e| {
                ZerobusError::Configuration(format!("'{input}' is not a valid glob: {e}").into())
            })?;
            (&path[..cut], Some(pattern))
        }
        None => (path, None),
    };
    let root = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
    let to_file = |meta: ObjectMeta| -> Result<SourceFile> {
        let object_url = format!("{root}/{}", meta.location);
        Ok(SourceFile {
            format: format_of(&object_url, format)?,
            identity: FileIdentity {
                url: object_url,
                size: meta.size,
                modified_ms: meta.last_modified.timestamp_millis(),
                etag: meta.e_tag.clone(),
                footer_crc32: None,
            },
            location: Location::Store(store.clone(), meta.location),
        })
    };
    if pattern.is_none() {
        // One object, if it exists; else a directory-like prefix.
        if let Ok(meta) = store.head(&ObjectPath::from(path)).await {
            return Ok(vec![to_file(meta)?]);
        }
    }
    let listed: Vec<ObjectMeta> = store
        .list(Some(&ObjectPath::from(prefix.trim_end_matches('/'))))
        .try_collect()
        .await
        .map_err(|e| unreadable(input, e))?;
    let mut out = Vec::new();
    for meta in listed {
        let name = meta.location.filename().unwrap_or_default().to_string();
        let keep = match &pattern {
            Some(p) => p.matches(meta.location.as_ref()),
            None => wanted(&name, format),
        };
        if keep {
            out.push(to_file(meta)?);
        }
    }
    Ok(out)
}

impl SourceFile {
    /// The file's identity with its Parquet footer's checksum (other formats: as is).
    pub async fn with_footer_checksum(mut self) -> Result<SourceFile> {
        if self.format == FileFormat::Parquet {
            self.identity.footer_crc32 = Some(self.footer_crc32().await?);
        }
        Ok(self)
    }

    /// Bytes `start..end` of the file.
    pub(crate) async fn read_range(&self, start: u64, end: u64) -> Result<Vec<u8>> {
        let url = &self.identity.url;
        match &self.location {
            Location::Local(path) => {
                use std::io::{Read, Seek, SeekFrom};
                let mut f = std::fs::File::open(path).map_err(|e| unreadable(url, e))?;
                f.seek(SeekFrom::Start(start))
                    .map_err(|e| unreadable(url, e))?;
                let mut buf = vec![0; (end - start) as usize];
                f.read_exact(&mut buf).map_err(|e| unreadable(url, e))?;
                Ok(buf)
            }
            Location::Store(store, path) => store
                .get_range(path, start..end)
                .await
                .map(|b| b.to_vec())
                .map_err(|e| unreadable(url, e)),
        }
    }

    async fn footer_crc32(&self) -> Result<u32> {
        let size = self.identity.size;
        let not_parquet = || {
            ZerobusError::Configuration(
                format!(
                    "{} is not a Parquet file (no Parquet footer)",
                    self.identity.url
                )
                .into(),
            )
        };
        if size < 12 {
            return Err(not_parquet());
        }
        let tail = self.read_range(size - 8, size).await?;
        if &tail[4..] != b"PAR1" {
            return Err(not_parquet());
        }
        let len = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
        if len + 8 > size {
            return Err(not_parquet());
        }
        let footer = self.read_range(size - 8 - len, size - 8).await?;
        Ok(crc32fast::hash(&footer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_come_from_names_and_directories_skip_markers() {
        assert_eq!(
            FileFormat::of_name("a/b.PARQUET"),
            Some(FileFormat::Parquet)
        );
        assert_eq!(FileFormat::of_name("x.ndjson"), Some(FileFormat::Json));
        assert_eq!(FileFormat::of_name("README"), None);
        assert!(!wanted("_SUCCESS", None));
        assert!(!wanted(".part-0.parquet.crc", None));
        assert!(wanted("part-0.csv", None));
        assert!(!wanted("part-0.csv", Some(FileFormat::Parquet)));
        assert!(FileFormat::parse("avro").is_err());
    }

    #[tokio::test]
    async fn globs_and_directories_expand_sorted_and_once() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.csv", "a.csv", "_SUCCESS", "notes.txt"] {
            std::fs::write(dir.path().join(name), "id\n1\n").unwrap();
        }
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/c.csv"), "id\n2\n").unwrap();
        let d = dir.path().display().to_string();
        let files = expand(&[d.clone(), format!("{d}/*.csv")], None)
            .await
            .unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|f| f.identity.url.rsplit('/').next().unwrap().to_string())
            .collect();
        assert_eq!(names, ["a.csv", "b.csv", "c.csv"]);
        assert!(files.iter().all(|f| f.identity.size == 5));
        let none = expand(&[format!("{d}/*.parquet")], None).await.unwrap_err();
        assert!(none.to_string().contains("matches no input file"), "{none}");
    }
}
