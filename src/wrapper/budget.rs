//! The wrapper's budget of bytes in flight
//! ([`crate::ZerobusConnection::max_inflight_bytes`]): one for every lane and every load
//! of a wrapper, so that memory stays bounded whatever the width of the rows.

use std::sync::Arc;

use arrow::array::{Array, RecordBatch};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bytes of rows that may be in flight at once, counted in KiB (a semaphore's permits).
pub(super) struct ByteBudget {
    permits: Arc<Semaphore>,
    kib: u32,
}

/// Room taken from a [`ByteBudget`], given back when dropped.
pub(super) struct Room {
    _held: Option<OwnedSemaphorePermit>,
}

impl ByteBudget {
    /// A budget of `bytes` (rounded up to whole KiB).
    pub(super) fn new(bytes: usize) -> Self {
        let kib = kib_of(bytes).max(1);
        ByteBudget {
            permits: Arc::new(Semaphore::new(kib as usize)),
            kib,
        }
    }

    /// Room for `bytes`, once the sends holding the rest have given theirs back (in the
    /// order asked). A send larger than the whole budget waits for all of it, and then
    /// goes alone.
    pub(super) async fn take(&self, bytes: usize) -> Room {
        let want = kib_of(bytes).clamp(1, self.kib);
        // The semaphore is never closed; were it, the send would go without room.
        Room {
            _held: self.permits.clone().acquire_many_owned(want).await.ok(),
        }
    }

    /// Whether none of the budget is free.
    pub(super) fn is_spent(&self) -> bool {
        self.permits.available_permits() == 0
    }

    /// Bytes held by sends in flight now (KiB granularity).
    pub(super) fn in_flight(&self) -> u64 {
        u64::from(self.kib).saturating_sub(self.permits.available_permits() as u64) * 1024
    }
}

fn kib_of(bytes: usize) -> u32 {
    u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX)
}

/// Arrow bytes of `batch`'s rows: what its columns' slices view, each buffer counted once
/// per column even when several columns view one allocation (an IPC body).
pub(crate) fn arrow_bytes(batch: &RecordBatch) -> usize {
    batch
        .columns()
        .iter()
        .map(|c| {
            c.to_data()
                .get_slice_memory_size()
                .unwrap_or_else(|_| c.get_buffer_memory_size())
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn room_is_given_back_and_a_send_over_the_budget_goes_alone() {
        let budget = ByteBudget::new(10 * 1024);
        let a = budget.take(6 * 1024).await;
        assert_eq!(budget.in_flight(), 6 * 1024);
        let b = budget.take(4 * 1024).await;
        assert!(budget.is_spent());
        // No room for one more byte until a send gives its room back.
        let more = tokio::time::timeout(std::time::Duration::from_millis(50), budget.take(1));
        assert!(more.await.is_err());
        drop(a);
        let c = budget.take(1).await;
        assert_eq!(budget.in_flight(), 5 * 1024);
        drop((b, c));
        // Larger than the budget: it takes all of it.
        let huge = budget.take(1 << 40).await;
        assert!(budget.is_spent());
        drop(huge);
        assert_eq!(budget.in_flight(), 0);
    }
}
