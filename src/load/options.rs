//! What a load is asked to do besides its inputs.

use std::path::PathBuf;

use super::sources::FileFormat;

/// How [`super::copy_into`] loads.
#[derive(Debug, Clone, Default)]
pub struct CopyOptions {
    /// The files' format; else each file's extension says.
    pub format: Option<FileFormat>,
    /// Load every file from its start, whatever the journal says (also a file that
    /// changed since it was loaded).
    pub force: bool,
    /// The journal's directory (local, or an object-store URL); else the connection's
    /// `journal_dir`, else [`super::default_journal_dir`].
    pub journal_dir: Option<PathBuf>,
    /// What the journal calls the service; else the endpoint's host and port. (The
    /// embedded emulator of `zerobus-sql` names its warehouse, whose port changes from
    /// run to run.)
    pub service: Option<String>,
    /// A table column to fill with each row's input file URL.
    pub source_file_column: Option<String>,
    /// A table column to fill with each row's number in its file (from 0).
    pub source_row_column: Option<String>,
}
