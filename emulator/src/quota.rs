//! The service's per-stream quotas, and the per-table figures behind
//! `GET /zerobus-emulator/v1/stats`.
//!
//! Zerobus caps each stream (100,000 records/s and 100 MB/s on the current quotas page).
//! The emulator enforces the cap by *pacing*: a stream's next request is not read until the
//! records already taken fit its quota, so acknowledgements come later and HTTP/2 flow
//! control pushes back on the client. Nothing is refused or lost for going too fast.
//!
//! A paced stream's acknowledgements lag by the time its backlog needs at the quota. The
//! SDK re-creates a stream whose oldest request stays unacknowledged longer than its
//! `server_lack_of_ack_timeout_ms` (60 s by default) and resends: a client that keeps more
//! than ~60 s of quota in flight on one stream (6 M records at 100,000/s) makes that happen.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

/// Per-stream quotas; 0 turns one off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamQuota {
    /// Records a stream may take per second.
    pub records_per_sec: u64,
    /// Record bytes a stream may take per second.
    pub bytes_per_sec: u64,
}

impl StreamQuota {
    /// The service's current quotas: 100,000 records/s and 100 MB/s per stream.
    pub const SERVICE: StreamQuota = StreamQuota {
        records_per_sec: 100_000,
        bytes_per_sec: 100_000_000,
    };

    /// No quota: streams are read as fast as they come.
    pub const OFF: StreamQuota = StreamQuota {
        records_per_sec: 0,
        bytes_per_sec: 0,
    };

    /// How long taking `records` records of `bytes` bytes uses up of a stream's quota.
    pub fn cost(&self, records: u64, bytes: u64) -> Duration {
        let part = |n: u64, per_sec: u64| {
            if per_sec == 0 {
                0.0
            } else {
                n as f64 / per_sec as f64
            }
        };
        Duration::from_secs_f64(
            part(records, self.records_per_sec).max(part(bytes, self.bytes_per_sec)),
        )
    }
}

impl Default for StreamQuota {
    fn default() -> Self {
        StreamQuota::SERVICE
    }
}

/// One stream's pacing: requests start no earlier than the quota allows.
pub(crate) struct Pacer {
    quota: StreamQuota,
    /// When the quota used so far is paid for.
    free_at: Instant,
}

impl Pacer {
    pub(crate) fn new(quota: StreamQuota) -> Pacer {
        Pacer {
            quota,
            free_at: Instant::now(),
        }
    }

    /// Take a request of `records` records and `bytes` bytes: wait until the stream's
    /// earlier requests and this one fit the quota, and return how long was waited.
    pub(crate) async fn take(&mut self, records: u64, bytes: u64) -> Duration {
        let cost = self.quota.cost(records, bytes);
        if cost.is_zero() {
            return Duration::ZERO;
        }
        let now = Instant::now();
        // A stream that was idle has no credit saved up beyond now: no bursts.
        self.free_at = self.free_at.max(now) + cost;
        let wait = self.free_at.saturating_duration_since(now);
        tokio::time::sleep_until(self.free_at).await;
        wait
    }
}

/// The figures of one table, as the stats endpoint shows them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TableStats {
    /// Streams created for the table since start.
    pub streams_opened: u64,
    /// Streams open now.
    pub streams_open: u64,
    /// Records acknowledged (durable, or discarded in `--discard` mode).
    pub records_acknowledged: u64,
    /// Record bytes acknowledged.
    pub bytes_acknowledged: u64,
    /// Seconds streams waited for their quota, summed over streams.
    pub seconds_paced: f64,
    /// Times a client described the table (Unity Catalog `GET tables/{name}`).
    pub lookups: u64,
    /// Requests refused (a bad value, a size over the limit, an offset out of order).
    pub refusals: u64,
    /// The last [`RECENT_REFUSALS`] refusals, oldest first.
    pub recent_refusals: Vec<Refusal>,
}

/// How many refusals [`TableStats::recent_refusals`] keeps.
pub const RECENT_REFUSALS: usize = 10;

/// A refused request: when (milliseconds since the Unix epoch), and why, in the words the
/// client got.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Refusal {
    /// When.
    pub at_ms: i64,
    /// The refusal's message.
    pub message: String,
}

#[derive(Default)]
pub(crate) struct TableCounters {
    streams_opened: AtomicU64,
    streams_open: AtomicU64,
    records_acknowledged: AtomicU64,
    bytes_acknowledged: AtomicU64,
    micros_paced: AtomicU64,
    lookups: AtomicU64,
    refusals: AtomicU64,
    recent_refusals: Mutex<std::collections::VecDeque<Refusal>>,
}

impl TableCounters {
    pub(crate) fn acknowledged(&self, records: u64, bytes: u64) {
        self.records_acknowledged
            .fetch_add(records, Ordering::Relaxed);
        self.bytes_acknowledged.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Count a refused request, keeping its message among the recent ones.
    pub(crate) fn refused(&self, message: &str) {
        self.refusals.fetch_add(1, Ordering::Relaxed);
        let at_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let mut recent = self
            .recent_refusals
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if recent.len() == RECENT_REFUSALS {
            recent.pop_front();
        }
        recent.push_back(Refusal {
            at_ms,
            message: message.to_string(),
        });
    }

    pub(crate) fn paced(&self, waited: Duration) {
        self.micros_paced
            .fetch_add(waited.as_micros() as u64, Ordering::Relaxed);
    }

    fn snapshot(&self) -> TableStats {
        TableStats {
            streams_opened: self.streams_opened.load(Ordering::Relaxed),
            streams_open: self.streams_open.load(Ordering::Relaxed),
            records_acknowledged: self.records_acknowledged.load(Ordering::Relaxed),
            bytes_acknowledged: self.bytes_acknowledged.load(Ordering::Relaxed),
            seconds_paced: self.micros_paced.load(Ordering::Relaxed) as f64 / 1e6,
            lookups: self.lookups.load(Ordering::Relaxed),
            refusals: self.refusals.load(Ordering::Relaxed),
            recent_refusals: self
                .recent_refusals
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .cloned()
                .collect(),
        }
    }
}

/// Samples `stats` every second until `stop` says so.
pub(crate) fn spawn_sampler(stats: Arc<Stats>, mut stop: tokio::sync::watch::Receiver<bool>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tick.tick() => stats.sample(),
                _ = stop.changed() => return,
            }
        }
    });
}

/// A stream counted as open until dropped.
pub(crate) struct OpenStream(pub(crate) Arc<TableCounters>);

impl OpenStream {
    pub(crate) fn counters(&self) -> &TableCounters {
        &self.0
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.streams_open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Figures of every table that has had a stream or a look-up.
#[derive(Default)]
pub(crate) struct Stats {
    tables: Mutex<HashMap<String, Arc<TableCounters>>>,
    /// Per table, a sample a second over the last [`HISTORY_SAMPLES`] seconds:
    /// `[unix ms, records acknowledged, bytes acknowledged, seconds paced]`.
    history: Mutex<HashMap<String, std::collections::VecDeque<[f64; 4]>>>,
}

/// Seconds of samples [`Stats`] keeps for the dashboard's charts.
pub const HISTORY_SAMPLES: usize = 300;

impl Stats {
    fn counters(&self, table: &str) -> Arc<TableCounters> {
        self.tables
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(table.to_ascii_lowercase())
            .or_default()
            .clone()
    }

    /// Count a look-up of `table`'s description.
    pub(crate) fn looked_up(&self, table: &str) {
        self.counters(table).lookups.fetch_add(1, Ordering::Relaxed);
    }

    /// Count a new stream of `table` (its full lower-case name) as opened and open.
    pub(crate) fn open(&self, table: &str) -> OpenStream {
        let counters = self.counters(table);
        counters.streams_opened.fetch_add(1, Ordering::Relaxed);
        counters.streams_open.fetch_add(1, Ordering::Relaxed);
        OpenStream(counters)
    }

    /// Take one sample of every table for the history.
    pub(crate) fn sample(&self) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_millis() as f64);
        let snapshot = self.snapshot();
        let mut history = self.history.lock().unwrap_or_else(|e| e.into_inner());
        for (table, s) in snapshot {
            let samples = history.entry(table).or_default();
            if samples.len() == HISTORY_SAMPLES {
                samples.pop_front();
            }
            samples.push_back([
                now,
                s.records_acknowledged as f64,
                s.bytes_acknowledged as f64,
                s.seconds_paced,
            ]);
        }
    }

    /// The history of every table, by name.
    pub(crate) fn history(&self) -> std::collections::BTreeMap<String, Vec<[f64; 4]>> {
        self.history
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), v.iter().copied().collect()))
            .collect()
    }

    /// The figures of every table, by name.
    pub(crate) fn snapshot(&self) -> std::collections::BTreeMap<String, TableStats> {
        self.tables
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), v.snapshot()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_is_the_tighter_of_the_two_quotas() {
        let q = StreamQuota {
            records_per_sec: 1000,
            bytes_per_sec: 1_000_000,
        };
        assert_eq!(q.cost(500, 10), Duration::from_millis(500));
        assert_eq!(q.cost(10, 2_000_000), Duration::from_secs(2));
        assert_eq!(StreamQuota::OFF.cost(1_000_000, 1 << 30), Duration::ZERO);
        let records_only = StreamQuota {
            records_per_sec: 100,
            bytes_per_sec: 0,
        };
        assert_eq!(
            records_only.cost(50, u64::MAX / 2),
            Duration::from_millis(500)
        );
    }

    #[tokio::test]
    async fn a_paced_stream_takes_no_more_than_its_quota() {
        let mut p = Pacer::new(StreamQuota {
            records_per_sec: 10_000,
            bytes_per_sec: 0,
        });
        let start = Instant::now();
        let mut waited = Duration::ZERO;
        for _ in 0..10 {
            waited += p.take(200, 0).await;
        }
        // 2,000 records at 10,000/s: 200 ms at least, none of it saved up in advance.
        assert!(
            start.elapsed() >= Duration::from_millis(200),
            "{:?}",
            start.elapsed()
        );
        assert!(waited >= Duration::from_millis(190), "{waited:?}");
        // Idle time is not credit.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before = Instant::now();
        p.take(1_000, 0).await;
        assert!(
            before.elapsed() >= Duration::from_millis(100),
            "{:?}",
            before.elapsed()
        );
    }
}
