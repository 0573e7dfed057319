//! Where the files we write go (`dead_letter_dir`, `debug_output_dir`): a local directory,
//! or an object-store prefix written as a URL: `s3://bucket/prefix`, `gs://bucket/prefix`,
//! `az://container/prefix` (also `abfs://`, `abfss://`), or `file:///dir`. On a cluster an
//! executor's disk is not where anybody looks; a bucket is.
//!
//! A store's endpoint and credentials come from its own standard environment variables,
//! never from the URL or a SQL statement: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_REGION`, `AWS_ENDPOINT_URL` (and `AWS_ALLOW_HTTP` for a plain-HTTP endpoint such as
//! a local S3 server); `GOOGLE_SERVICE_ACCOUNT`, …; `AZURE_STORAGE_ACCOUNT_NAME`, ….
//!
//! ```
//! use arrow_zerobus_sdk_wrapper::store::is_store_url;
//! assert!(is_store_url("s3://bucket/dead-letters"));
//! assert!(!is_store_url("/var/lib/zerobus/dead-letters"));
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::error::{Detail, Result, ZerobusError};

/// The URL schemes [`Place::parse`] knows.
pub const SCHEMES: &[&str] = &["file", "s3", "s3a", "gs", "az", "abfs", "abfss", "azure"];

/// Whether `text` is written as a URL (`scheme://…`) rather than a local path.
pub fn is_store_url(text: &str) -> bool {
    match text.split_once("://") {
        Some((scheme, _)) => {
            !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        }
        None => false,
    }
}

/// A directory of files: on this machine, or an object-store prefix.
#[derive(Clone)]
pub enum Place {
    /// A local directory.
    Local(PathBuf),
    /// An object-store prefix.
    Store(Remote),
}

/// An object-store prefix and the store that holds it.
#[derive(Clone)]
pub struct Remote {
    url: url::Url,
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL names bucket and prefix; the store's credentials are not shown.
        write!(f, "Remote({})", self.url)
    }
}

impl std::fmt::Debug for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::Local(p) => write!(f, "Local({})", p.display()),
            Place::Store(r) => r.fmt(f),
        }
    }
}

fn bad(option: &str, text: &str, why: impl std::fmt::Display) -> ZerobusError {
    ZerobusError::Configuration(format!("{option} '{text}': {why}").into())
}

impl Place {
    /// The place `dir` names, for the option `option` (named in errors): a URL of one of
    /// [`SCHEMES`] (the store is set up from the environment, nothing is contacted), else a
    /// local directory.
    pub fn parse(dir: &Path, option: &str) -> Result<Place> {
        let Some(text) = dir.to_str().filter(|t| is_store_url(t)) else {
            return Ok(Place::Local(dir.to_path_buf()));
        };
        let url = url::Url::parse(text).map_err(|e| bad(option, text, e))?;
        if url.scheme() == "file" {
            let path = url
                .to_file_path()
                .map_err(|_| bad(option, text, "not a local file URL"))?;
            return Ok(Place::Local(path));
        }
        let store = store_for(&url).map_err(|e| bad(option, text, e))?;
        let prefix = ObjectPath::from_url_path(url.path()).map_err(|e| bad(option, text, e))?;
        Ok(Place::Store(Remote { url, store, prefix }))
    }
}

/// The object store of `url` (`s3://bucket/…`, `gs://…`, `az://…`), set up from the
/// store's environment variables; nothing is contacted.
pub(crate) fn store_for(url: &url::Url) -> std::result::Result<Arc<dyn ObjectStore>, String> {
    let text = url.as_str();
    Ok(match url.scheme() {
        "s3" | "s3a" => Arc::new(
            AmazonS3Builder::from_env()
                .with_url(text)
                .build()
                .map_err(|e| e.to_string())?,
        ),
        "gs" => Arc::new(
            GoogleCloudStorageBuilder::from_env()
                .with_url(text)
                .build()
                .map_err(|e| e.to_string())?,
        ),
        "az" | "abfs" | "abfss" | "azure" => Arc::new(
            MicrosoftAzureBuilder::from_env()
                .with_url(text)
                .build()
                .map_err(|e| e.to_string())?,
        ),
        other => {
            return Err(format!(
                "'{other}' is not a scheme of a directory (use a local path or one of {})",
                SCHEMES.join(", ")
            ))
        }
    })
}

/// DataFusion's object-store registry, and for an `s3://`, `gs://` or `az://` URL it has
/// no store for, a store set up from the environment (as [`Place::parse`]): so that
/// `SELECT * FROM 's3://bucket/events/*.parquet'` and `zerobus-sql copy s3://…` read
/// object-store inputs with no DDL.
#[cfg(feature = "datafusion")]
#[derive(Debug, Default)]
pub struct StoresFromEnv {
    known: datafusion::execution::object_store::DefaultObjectStoreRegistry,
}

#[cfg(feature = "datafusion")]
impl datafusion::execution::object_store::ObjectStoreRegistry for StoresFromEnv {
    fn register_store(
        &self,
        url: &url::Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.known.register_store(url, store)
    }

    fn deregister_store(&self, url: &url::Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        self.known.deregister_store(url)
    }

    fn get_store(&self, url: &url::Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        match self.known.get_store(url) {
            Ok(store) => Ok(store),
            Err(_) if url.scheme() != "file" && SCHEMES.contains(&url.scheme()) => {
                let store = store_for(url).map_err(|e| {
                    datafusion::error::DataFusionError::Configuration(format!("{url}: {e}"))
                })?;
                self.known.register_store(url, store.clone());
                Ok(store)
            }
            Err(unknown) => Err(unknown),
        }
    }
}

impl Remote {
    /// The store that holds the prefix.
    pub(crate) fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The prefix in the store.
    pub(crate) fn prefix(&self) -> &ObjectPath {
        &self.prefix
    }

    /// Where `name` is (or will be) in the store, as a URL.
    pub fn location(&self, name: &str) -> String {
        format!("{}/{name}", self.url.as_str().trim_end_matches('/'))
    }

    /// Write `bytes` as `name` under the prefix and return its URL.
    pub async fn put(&self, name: &str, bytes: Vec<u8>, option: &str) -> Result<String> {
        let path = self.prefix.clone().join(name);
        let location = self.location(name);
        self.store
            .put(&path, PutPayload::from(bytes))
            .await
            .map_err(|e| {
                ZerobusError::Configuration(
                    Detail::new(format!("{option}: cannot write {location}: {e}")).caused_by(e),
                )
            })?;
        Ok(location)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_paths_are_told_apart() {
        for url in [
            "s3://b/p",
            "gs://b",
            "az://c/p",
            "file:///tmp/x",
            "abfss://c@a/p",
        ] {
            assert!(is_store_url(url), "{url}");
        }
        for path in ["/tmp/x", "relative/dir", "./a://b", "", "://x", "1s3://b"] {
            assert!(!is_store_url(path), "{path}");
        }
    }

    #[test]
    fn a_file_url_is_a_local_directory_and_an_unknown_scheme_is_refused() {
        match Place::parse(Path::new("file:///tmp/dead"), "dead_letter_dir").unwrap() {
            Place::Local(p) => assert_eq!(p, Path::new("/tmp/dead")),
            other => panic!("{other:?}"),
        }
        let e = Place::parse(Path::new("https://example.com/x"), "dead_letter_dir")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("dead_letter_dir 'https://example.com/x'") && e.contains("s3, s3a, gs"),
            "{e}"
        );
        match Place::parse(Path::new("s3://bucket/a/b"), "dead_letter_dir").unwrap() {
            Place::Store(r) => assert_eq!(r.location("f.arrow"), "s3://bucket/a/b/f.arrow"),
            other => panic!("{other:?}"),
        }
    }
}
