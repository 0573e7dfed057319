//! What a load did, and its one-line account.

/// What a [`super::copy_into`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CopySummary {
    /// The target table.
    pub table: String,
    /// The load's id (in the journal's history).
    pub load: String,
    /// Where the journal is.
    pub journal: String,
    /// Input files matched.
    pub files: u64,
    /// Files skipped: already loaded.
    pub files_skipped: u64,
    /// Files now completely loaded by this load.
    pub files_loaded: u64,
    /// Rows this load sent.
    pub rows_sent: u64,
    /// Rows this load saw acknowledged.
    pub rows_acknowledged: u64,
    /// Rows not sent because earlier loads had them acknowledged.
    pub rows_skipped: u64,
    /// Rows sent again that an interrupted earlier load had read (it may have delivered
    /// them: the upper bound of duplicates this load can add).
    pub rows_resent: u64,
    /// Rows written to dead-letter files by this load.
    pub rows_dead_lettered: u64,
    /// Dead-letter files of earlier loads whose rows this load delivered from the source
    /// instead; each renamed `*.resent` so that it is not replayed as well.
    pub dead_letters_superseded: Vec<String>,
    /// Seconds the load took.
    pub seconds: f64,
}

impl std::fmt::Display for CopySummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.rows_sent == 0 && self.files_skipped == self.files {
            return write!(
                f,
                "{} of {} files already loaded into {} (force to load again)",
                self.files_skipped, self.files, self.table
            );
        }
        let files = self.files - self.files_skipped;
        write!(
            f,
            "loaded {} rows into {} from {files} file{} in {:.2} s ({:.0} rows/s)",
            self.rows_acknowledged,
            self.table,
            if files == 1 { "" } else { "s" },
            self.seconds,
            self.rows_acknowledged as f64 / self.seconds.max(1e-3),
        )?;
        if self.files_skipped > 0 {
            write!(f, "; {} files skipped (already loaded)", self.files_skipped)?;
        }
        if self.rows_skipped > 0 {
            write!(
                f,
                "; {} rows skipped (acknowledged in an earlier load)",
                self.rows_skipped
            )?;
        }
        if self.rows_resent > 0 {
            write!(
                f,
                "; {} rows sent again that an interrupted load may have delivered (at most {} \
                 duplicates)",
                self.rows_resent, self.rows_resent
            )?;
        }
        if !self.dead_letters_superseded.is_empty() {
            write!(
                f,
                "; {} dead-letter files of earlier loads renamed *.resent (their rows came from \
                 the source files)",
                self.dead_letters_superseded.len()
            )?;
        }
        Ok(())
    }
}
