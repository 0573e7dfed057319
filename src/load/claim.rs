//! Claims: one load at a time reads a file into a table. Locally an OS lock on
//! `<entry>.claim` (released when the process ends, also by SIGKILL); on object stores an
//! object created only if absent, renewed every third of [`CLAIM_LEASE`] while the load
//! runs and taken over once it has not been renewed for that long.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use super::journal::{child, entry_stem, journal_error, now_ms, Journal, Where};
use crate::error::{Result, ZerobusError};

/// How long an object-store claim counts as held after its last renewal.
pub const CLAIM_LEASE: Duration = Duration::from_secs(30);

impl Journal {
    /// Claim the file at `url` for load `load`: refused, naming the holder, while another
    /// load reads it.
    pub async fn claim(&self, url: &str, load: &str) -> Result<Claim> {
        let name = format!("files/{}.claim", entry_stem(url));
        let holder = Holder {
            load: load.into(),
            host: host_name(),
            pid: std::process::id(),
            renewed_ms: now_ms(),
        };
        let held_by = |h: &Holder| {
            ZerobusError::Configuration(
                format!(
                    "{url} is being loaded into {} by another load ({} on {}, pid {}, seen {} s \
                     ago; claim {}): loads of one file into one table run one at a time",
                    self.table,
                    h.load,
                    h.host,
                    h.pid,
                    (now_ms() - h.renewed_ms).max(0) / 1000,
                    self.shown(&name)
                )
                .into(),
            )
        };
        match &self.place {
            Where::Local(d) => claim_local(&d.join(&name), &holder).map_err(|h| match h {
                Refused::Held(h) => held_by(&h),
                Refused::Failed(e) => e,
            }),
            Where::Store { store, prefix, .. } => {
                claim_object(store, child(prefix, &name), holder, &self.shown(&name))
                    .await
                    .map_err(|h| match h {
                        Refused::Held(h) => held_by(&h),
                        Refused::Failed(e) => e,
                    })
            }
        }
    }
}

/// Why a claim was not had.
enum Refused {
    /// Another load holds it.
    Held(Holder),
    /// The claim could not be made.
    Failed(ZerobusError),
}

/// The OS lock on `path`, its holder written in it (for the message a second load gets).
fn claim_local(path: &Path, holder: &Holder) -> std::result::Result<Claim, Refused> {
    use std::io::{Read, Seek, Write};
    let shown = path.display().to_string();
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| Refused::Failed(journal_error(&shown, format!("cannot open it: {e}"))))?;
    if f.try_lock().is_err() {
        let mut text = String::new();
        let _ = f.read_to_string(&mut text);
        let h = serde_json::from_str(&text).unwrap_or_else(|_| Holder {
            load: "a load".into(),
            host: host_name(),
            pid: 0,
            renewed_ms: now_ms(),
        });
        return Err(Refused::Held(h));
    }
    let _ = f.set_len(0);
    let _ = f.rewind();
    let _ = f.write_all(&serde_json::to_vec(holder).unwrap_or_default());
    Ok(Claim::Local(f))
}

/// The claim object at `path`, created only if absent; one not renewed for
/// [`CLAIM_LEASE`] is taken over.
async fn claim_object(
    store: &Arc<dyn ObjectStore>,
    path: ObjectPath,
    holder: Holder,
    shown: &str,
) -> std::result::Result<Claim, Refused> {
    let body = || PutPayload::from(serde_json::to_vec(&holder).unwrap_or_default());
    let create = PutOptions::from(PutMode::Create);
    for _ in 0..2 {
        match store.put_opts(&path, body(), create.clone()).await {
            Ok(_) => return Ok(Claim::Store(renewing(Arc::clone(store), path, holder))),
            Err(object_store::Error::AlreadyExists { .. }) => {
                let current: Option<Holder> = match store.get(&path).await {
                    Ok(r) => r
                        .bytes()
                        .await
                        .ok()
                        .and_then(|b| serde_json::from_slice(&b).ok()),
                    Err(_) => None,
                };
                match current {
                    Some(h) if now_ms() - h.renewed_ms < CLAIM_LEASE.as_millis() as i64 => {
                        return Err(Refused::Held(h));
                    }
                    // Lapsed (its load died): taken over.
                    _ => {
                        let _ = store.delete(&path).await;
                    }
                }
            }
            Err(e) => {
                return Err(Refused::Failed(journal_error(
                    shown,
                    format!("cannot create the claim: {e}"),
                )))
            }
        }
    }
    Err(Refused::Failed(journal_error(
        shown,
        "another load took the lapsed claim first",
    )))
}

fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "this host".into())
}

/// Who holds a claim.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Holder {
    load: String,
    host: String,
    pid: u32,
    renewed_ms: i64,
}

/// A file claimed by this load; released when dropped.
#[derive(Debug)]
pub enum Claim {
    /// The locked file (the OS releases the lock when the process ends).
    Local(std::fs::File),
    /// The task renewing the claim object (it deletes the object when stopped).
    Store(ClaimRenewal),
}

impl Claim {
    /// Give the claim up now (an object-store claim is deleted before this returns; one
    /// merely dropped is deleted by a task, which a process about to exit may not run).
    pub async fn release(self) {
        if let Claim::Store(renewal) = self {
            renewal.task.abort();
            let _ = renewal.store.delete(&renewal.path).await;
            // Dropped next: its own delete finds nothing.
        }
    }
}

/// Renews an object-store claim every third of [`CLAIM_LEASE`]; deletes it when dropped.
#[derive(Debug)]
pub struct ClaimRenewal {
    task: tokio::task::JoinHandle<()>,
    store: Arc<dyn ObjectStore>,
    path: ObjectPath,
}

impl Drop for ClaimRenewal {
    fn drop(&mut self) {
        self.task.abort();
        let (store, path) = (Arc::clone(&self.store), self.path.clone());
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _ = store.delete(&path).await;
            });
        }
    }
}

fn renewing(store: Arc<dyn ObjectStore>, path: ObjectPath, mut holder: Holder) -> ClaimRenewal {
    let (s, p) = (Arc::clone(&store), path.clone());
    let task = tokio::spawn(async move {
        loop {
            tokio::time::sleep(CLAIM_LEASE / 3).await;
            holder.renewed_ms = now_ms();
            let body = PutPayload::from(serde_json::to_vec(&holder).unwrap_or_default());
            if let Err(e) = s.put(&p, body).await {
                tracing::warn!(claim = %p, error = %e, "could not renew a load journal claim");
            }
        }
    });
    ClaimRenewal { task, store, path }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_claimed_file_is_refused_to_a_second_claim_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path(), "svc", "main.default.t").unwrap();
        let first = j.claim("file:///x.parquet", "L1").await.unwrap();
        let err = j
            .claim("file:///x.parquet", "L2")
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("being loaded") && err.contains("L1"), "{err}");
        assert!(j.claim("file:///y.parquet", "L2").await.is_ok());
        drop(first);
        assert!(j.claim("file:///x.parquet", "L2").await.is_ok());
    }
}
