//! Lanes: the streams a wrapper keeps open to its table.
//!
//! The service caps each stream (100,000 records/s, 100 MB/s), not the table, so one
//! stream caps a load however fast it is encoded. A wrapper has up to `max_streams` lanes,
//! each with its own stream. A send takes the open lane with the fewest sends waiting on
//! it; when every open lane already has [`LANE_BACKLOG`] sends waiting (its stream is the
//! bottleneck), the next send opens another lane, up to the maximum. A lane without work
//! for [`LANE_IDLE`] closes its stream (looked at whenever a send picks a lane, and at
//! shutdown).
//!
//! A send stays on its lane through its retries: a failure replaces only that lane's
//! stream, and no other lane's rows are resent or counted twice. Order holds within a
//! lane only, as the service keeps order within a stream only; a caller that awaits each
//! send before the next always gets lane 0, so its rows stay in order.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::sdk_stream::SdkStream;

/// A lane counts as saturated with this many sends waiting on it (one waiting for its
/// acknowledgements, one queued behind it).
pub const LANE_BACKLOG: usize = 2;
/// A lane with nothing to do for this long closes its stream.
pub const LANE_IDLE: Duration = Duration::from_secs(10);

/// The stream of a lane and its generation (counted over the wrapper, for traces).
#[derive(Clone)]
pub(super) struct Current {
    pub generation: u64,
    pub stream: Arc<SdkStream>,
}

#[derive(Clone, Copy)]
struct LaneState {
    /// Sends on this lane now.
    waiting: usize,
    /// Whether the lane holds a stream.
    open: bool,
    /// When the last send on this lane ended.
    last_done: Instant,
}

/// One lane: its stream, created on first use and replaced after a failure.
pub(super) struct Lane {
    pub index: usize,
    pub stream: tokio::sync::Mutex<Option<Current>>,
}

pub(super) struct Lanes {
    lanes: Vec<Arc<Lane>>,
    state: Mutex<Vec<LaneState>>,
}

/// A send's hold on its lane; dropping it (send ended or cancelled) frees the place.
pub(super) struct LaneTicket<'a> {
    lanes: &'a Lanes,
    pub lane: Arc<Lane>,
}

impl Drop for LaneTicket<'_> {
    fn drop(&mut self) {
        let mut st = self.lanes.lock();
        if let Some(s) = st.get_mut(self.lane.index) {
            s.waiting = s.waiting.saturating_sub(1);
            s.last_done = Instant::now();
        }
    }
}

impl Lanes {
    pub(super) fn new(max_streams: usize) -> Lanes {
        let n = max_streams.max(1);
        let now = Instant::now();
        Lanes {
            lanes: (0..n)
                .map(|index| {
                    Arc::new(Lane {
                        index,
                        stream: tokio::sync::Mutex::new(None),
                    })
                })
                .collect(),
            state: Mutex::new(vec![
                LaneState {
                    waiting: 0,
                    open: false,
                    last_done: now,
                };
                n
            ]),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<LaneState>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Pick the lane for a send (see the module docs) and return the streams of lanes
    /// idle for [`LANE_IDLE`], to be closed by the caller.
    pub(super) fn choose(&self) -> (LaneTicket<'_>, Vec<Current>) {
        let mut st = self.lock();
        let active = |s: &LaneState| s.open || s.waiting > 0;
        let best = (0..st.len())
            .filter(|&i| active(&st[i]))
            .min_by_key(|&i| (st[i].waiting, i));
        let first_free = (0..st.len()).find(|&i| !active(&st[i]));
        let pick = match (best, first_free) {
            (Some(b), _) if st[b].waiting < LANE_BACKLOG => b,
            (_, Some(f)) => f,
            (Some(b), None) => b,
            (None, None) => 0,
        };
        st[pick].waiting += 1;
        let idle = self.take_idle_locked(&mut st, Some(pick));
        (
            LaneTicket {
                lanes: self,
                lane: self.lanes[pick].clone(),
            },
            idle,
        )
    }

    /// The streams of the lanes idle for [`LANE_IDLE`] (open, nothing waiting), taken out
    /// of their lanes for the caller to close.
    pub(super) fn take_idle(&self) -> Vec<Current> {
        let mut st = self.lock();
        self.take_idle_locked(&mut st, None)
    }

    fn take_idle_locked(&self, st: &mut [LaneState], keep: Option<usize>) -> Vec<Current> {
        let mut idle = Vec::new();
        for (i, s) in st.iter_mut().enumerate() {
            if Some(i) != keep && s.open && s.waiting == 0 && s.last_done.elapsed() >= LANE_IDLE {
                // Not awaited: a send holding the lane's lock is about to use the stream,
                // and the lane stays as it is.
                if let Ok(mut guard) = self.lanes[i].stream.try_lock() {
                    if let Some(c) = guard.take() {
                        idle.push(c);
                    }
                    s.open = false;
                }
            }
        }
        idle
    }

    /// Note whether `lane` holds a stream now.
    pub(super) fn set_open(&self, lane: usize, open: bool) {
        if let Some(s) = self.lock().get_mut(lane) {
            s.open = open;
        }
    }

    /// Streams open now.
    pub(super) fn open_count(&self) -> usize {
        self.lock().iter().filter(|s| s.open).count()
    }

    /// Take every lane's stream (shutdown).
    pub(super) async fn take_all(&self) -> Vec<Current> {
        let mut out = Vec::new();
        for lane in &self.lanes {
            if let Some(c) = lane.stream.lock().await.take() {
                out.push(c);
            }
            self.set_open(lane.index, false);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_open_only_when_the_open_ones_have_a_backlog() {
        let lanes = Lanes::new(4);
        // One send at a time: always lane 0.
        for _ in 0..3 {
            let (t, _) = lanes.choose();
            assert_eq!(t.lane.index, 0);
        }
        // Sends piling up: lane 0 takes LANE_BACKLOG, then the next lane opens.
        let mut held = Vec::new();
        let mut picked = Vec::new();
        for _ in 0..10 {
            let (t, _) = lanes.choose();
            picked.push(t.lane.index);
            held.push(t);
        }
        assert_eq!(picked, vec![0, 0, 1, 1, 2, 2, 3, 3, 0, 1]);
        drop(held);
        let lanes = Lanes::new(1);
        let held: Vec<_> = (0..5).map(|_| lanes.choose().0).collect();
        assert!(held.iter().all(|t| t.lane.index == 0));
    }

    #[test]
    fn an_open_lane_is_preferred_to_opening_another() {
        let lanes = Lanes::new(3);
        lanes.set_open(0, true);
        lanes.set_open(1, true);
        let (a, _) = lanes.choose();
        let (b, _) = lanes.choose();
        assert_eq!((a.lane.index, b.lane.index), (0, 1));
        assert_eq!(lanes.open_count(), 2);
    }
}
