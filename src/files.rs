//! Files the wrapper writes for people: created owner-only (0600) because they hold
//! production rows.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

/// Create a new file readable and writable by its owner only. Never opens an existing
/// path: `create_new` is `O_CREAT | O_EXCL`, which also fails on a symbolic link placed
/// at the path (POSIX), so nothing pre-placed in a shared directory is followed or
/// truncated and the 0600 mode always applies.
pub(crate) fn create_private(path: &Path) -> std::io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

/// A name part no other writer shares: milliseconds, process id and 32 random bits
/// (a forked child has its own pid; two processes in one millisecond differ by pid).
pub(crate) fn unique_part() -> String {
    format!(
        "{}.{}.{:08x}",
        now_ms(),
        std::process::id(),
        rand::random::<u32>()
    )
}

/// A writer that counts the bytes that pass through it.
pub(crate) struct Counting<W> {
    pub inner: W,
    pub written: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A file-name-safe form of a table name.
pub(crate) fn file_stem(table: &str) -> String {
    table
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Milliseconds since the epoch, for file names.
pub(crate) fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}
