//! OAuth client credentials and the bearer tokens the emulator issues.
//!
//! Tokens are self-contained and signed (HMAC-SHA256 over `expiry.client.table`) with a
//! key kept in the warehouse, so a restarted emulator on the same warehouse still accepts
//! the tokens clients have cached, as the real service does across its own restarts.

use std::fmt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Why a bearer token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRejection {
    /// No `authorization: Bearer …` header at all.
    Missing,
    /// Not a token this emulator signed.
    Invalid,
    /// Signed here, but past its expiry.
    Expired,
}

impl fmt::Display for TokenRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenRejection::Missing => "no bearer token: send 'authorization: Bearer <token>' obtained from /oidc/v1/token",
            TokenRejection::Invalid => "the bearer token is not valid for this service: request a new one from /oidc/v1/token",
            TokenRejection::Expired => "the bearer token has expired: request a new one from /oidc/v1/token",
        })
    }
}

/// What a valid token says about its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    /// Milliseconds since the epoch after which the token is refused.
    pub expires_at_ms: u64,
    /// Table the token was scoped to (`catalog.schema.table`), if the request named one.
    pub table: Option<String>,
    /// When the token expires, measured from now (zero if already past).
    pub remaining: Duration,
}

/// The credentials the emulator accepts and the key it signs tokens with.
///
/// Its `Debug` output never shows the secret or the key.
#[derive(Clone)]
pub struct Authority {
    client_id: String,
    client_secret: String,
    key: Vec<u8>,
    ttl: Duration,
}

impl fmt::Debug for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authority")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("ttl", &self.ttl)
            .finish()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Authority {
    /// Load (or create, mode 0600) the signing key under `<warehouse>/.zerobus-emulator/`.
    pub fn open(
        warehouse: &Path,
        client_id: String,
        client_secret: String,
        ttl: Duration,
    ) -> std::io::Result<Authority> {
        let dir = warehouse.join(".zerobus-emulator");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("token-signing-key");
        let key = match std::fs::read(&path) {
            Ok(k) if k.len() >= 32 => k,
            _ => {
                let mut k = vec![0u8; 32];
                rand::rng().fill_bytes(&mut k);
                write_private(&path, &k)?;
                k
            }
        };
        Ok(Authority {
            client_id,
            client_secret,
            key,
            ttl,
        })
    }

    /// Token lifetime.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// True when the id and secret are the configured ones (constant-time on the secret).
    pub fn check_client(&self, client_id: &str, client_secret: &str) -> bool {
        let a = client_secret.as_bytes();
        let b = self.client_secret.as_bytes();
        let mut diff = a.len() ^ b.len();
        for i in 0..a.len().max(b.len()) {
            diff |= (a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0)) as usize;
        }
        client_id == self.client_id && diff == 0
    }

    fn sign(&self, payload: &str) -> String {
        // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
        let mut mac = match HmacSha256::new_from_slice(&self.key) {
            Ok(m) => m,
            Err(_) => return String::new(),
        };
        mac.update(payload.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// Issue a token, optionally scoped to one table.
    pub fn issue(&self, table: Option<&str>) -> String {
        let expires_at = now_ms() + (self.ttl.as_millis() as u64).max(1000);
        let table_part = URL_SAFE_NO_PAD.encode(table.unwrap_or(""));
        let mut nonce = [0u8; 9];
        rand::rng().fill_bytes(&mut nonce);
        let payload = format!(
            "zbe1.{expires_at}.{table_part}.{}",
            URL_SAFE_NO_PAD.encode(nonce)
        );
        let sig = self.sign(&payload);
        format!("{payload}.{sig}")
    }

    /// Check a token from an `authorization` header value (with or without `Bearer `).
    pub fn verify(&self, header: Option<&str>) -> Result<TokenClaims, TokenRejection> {
        let header = header.ok_or(TokenRejection::Missing)?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .unwrap_or(header)
            .trim();
        if token.is_empty() {
            return Err(TokenRejection::Missing);
        }
        let (payload, sig) = token.rsplit_once('.').ok_or(TokenRejection::Invalid)?;
        let mut mac = HmacSha256::new_from_slice(&self.key).map_err(|_| TokenRejection::Invalid)?;
        mac.update(payload.as_bytes());
        let sig_bytes = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| TokenRejection::Invalid)?;
        mac.verify_slice(&sig_bytes)
            .map_err(|_| TokenRejection::Invalid)?;
        let mut parts = payload.split('.');
        if parts.next() != Some("zbe1") {
            return Err(TokenRejection::Invalid);
        }
        let expires_at_ms: u64 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or(TokenRejection::Invalid)?;
        let table = parts
            .next()
            .and_then(|t| URL_SAFE_NO_PAD.decode(t).ok())
            .and_then(|b| String::from_utf8(b).ok())
            .filter(|t| !t.is_empty());
        let now = now_ms();
        if now >= expires_at_ms {
            return Err(TokenRejection::Expired);
        }
        Ok(TokenClaims {
            expires_at_ms,
            table,
            remaining: Duration::from_millis(expires_at_ms - now),
        })
    }
}

/// Write a file readable by its owner only.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// The table a token request asks for, from the SDK's `authorization_details` form field.
pub fn table_from_authorization_details(details: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(details).ok()?;
    v.as_array()?.iter().find_map(|d| {
        if d.get("object_type")?.as_str()? == "TABLE" {
            Some(d.get("object_full_path")?.as_str()?.to_string())
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_expire_and_resist_tampering() {
        let dir = tempfile::tempdir().unwrap();
        let a = Authority::open(
            dir.path(),
            "id".into(),
            "s3cret".into(),
            Duration::from_secs(60),
        )
        .unwrap();
        let t = a.issue(Some("main.default.t"));
        let claims = a.verify(Some(&format!("Bearer {t}"))).unwrap();
        assert_eq!(claims.table.as_deref(), Some("main.default.t"));
        assert!(claims.remaining <= Duration::from_secs(60));

        let mut forged = t.clone();
        forged.replace_range(5..6, if &t[5..6] == "9" { "8" } else { "9" });
        assert_eq!(a.verify(Some(&forged)), Err(TokenRejection::Invalid));
        assert_eq!(a.verify(None), Err(TokenRejection::Missing));

        // Same warehouse, new process: the key is reused, the token still verifies.
        let b = Authority::open(
            dir.path(),
            "id".into(),
            "s3cret".into(),
            Duration::from_secs(60),
        )
        .unwrap();
        assert!(b.verify(Some(&t)).is_ok());
        assert!(a.check_client("id", "s3cret"));
        assert!(!a.check_client("id", "wrong"));
        assert!(!format!("{a:?}").contains("s3cret"));
    }

    #[test]
    fn expired_tokens_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let a =
            Authority::open(dir.path(), "id".into(), "x".into(), Duration::from_secs(1)).unwrap();
        let t = a.issue(None);
        std::thread::sleep(Duration::from_millis(1100));
        assert_eq!(a.verify(Some(&t)), Err(TokenRejection::Expired));
    }
}
