//! [`LoadWatch`]: how a program sees the progress of the loads it did not start itself —
//! the INSERTs and COPYs a DataFusion session runs.

use std::sync::Arc;

use super::send_all::LoadProgress;

/// Called with the table and where its load stands, as batches are read and acknowledged.
/// Put it in the session config (`SessionConfig::with_extension(Arc::new(watch))`) and
/// every Zerobus INSERT and COPY of that session reports to it; `zerobus-sql` draws its
/// progress line from it.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use arrow_zerobus_sdk_wrapper::wrapper::{LoadProgress, LoadWatch};
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let log = seen.clone();
/// let watch = LoadWatch::new(move |table, p| log.lock().unwrap().push((table.to_string(), p.rows_acknowledged)));
/// watch.report("main.default.t", LoadProgress { rows_read: 10, rows_acknowledged: 4, streams_open: 1, ..Default::default() });
/// assert_eq!(seen.lock().unwrap()[0], ("main.default.t".to_string(), 4));
/// ```
#[derive(Clone)]
pub struct LoadWatch {
    report: Arc<Report>,
}

/// What a [`LoadWatch`] calls: `(table, progress)`.
type Report = dyn Fn(&str, LoadProgress) + Send + Sync;

impl std::fmt::Debug for LoadWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadWatch").finish_non_exhaustive()
    }
}

impl LoadWatch {
    /// A watch calling `report(table, progress)`.
    pub fn new(report: impl Fn(&str, LoadProgress) + Send + Sync + 'static) -> Self {
        LoadWatch {
            report: Arc::new(report),
        }
    }

    /// Tell the watch where the load of `table` stands.
    pub fn report(&self, table: &str, progress: LoadProgress) {
        (self.report)(table, progress)
    }
}
