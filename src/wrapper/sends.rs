//! The sends in progress on a wrapper, so that `flush` can wait for every send that began
//! before it — also those retrying after their stream was retired, which the current
//! stream's own flush knows nothing about.

use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard};

use tokio::sync::Notify;

#[derive(Default)]
pub(super) struct Sends {
    /// (next id, ids of sends in progress)
    state: Mutex<(u64, BTreeSet<u64>)>,
    done: Notify,
}

/// One send in progress; dropping it (finished or cancelled) ends it.
pub(super) struct SendGuard<'a> {
    sends: &'a Sends,
    id: u64,
}

impl Sends {
    fn lock(&self) -> MutexGuard<'_, (u64, BTreeSet<u64>)> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn start(&self) -> SendGuard<'_> {
        let mut s = self.lock();
        let id = s.0;
        s.0 += 1;
        s.1.insert(id);
        SendGuard { sends: self, id }
    }

    /// Wait until every send that started before this call has ended.
    pub(super) async fn wait_for_earlier(&self) {
        let mark = self.lock().0;
        loop {
            let notified = self.done.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.lock().1.first().is_none_or(|first| *first >= mark) {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for SendGuard<'_> {
    fn drop(&mut self) {
        self.sends.lock().1.remove(&self.id);
        self.sends.done.notify_waiters();
    }
}
