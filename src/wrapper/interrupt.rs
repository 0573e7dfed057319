//! [`Interrupt`]: asks running loads to stop — the way Ctrl-C reaches a load. A load that
//! sees it reads nothing more, settles the batches in flight (acknowledged or
//! dead-lettered) and returns its account (`LoadIncomplete`), so the caller can tell the
//! user what landed and what to re-run.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

/// A signal shared by whoever interrupts (a Ctrl-C handler) and the loads that obey it.
/// Cheap to clone. In DataFusion, put it in the session config
/// (`SessionConfig::with_extension(Arc::new(interrupt))`) and every Zerobus INSERT and
/// COPY of that session obeys it.
///
/// ```
/// use arrow_zerobus_sdk_wrapper::wrapper::Interrupt;
/// let interrupt = Interrupt::new();
/// assert!(!interrupt.is_set());
/// interrupt.set();
/// assert!(interrupt.is_set());
/// interrupt.clear();
/// assert!(!interrupt.is_set());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Interrupt {
    inner: Arc<(AtomicBool, Notify)>,
}

impl Interrupt {
    /// A signal that is not set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Ask every load watching this signal to stop.
    pub fn set(&self) {
        self.inner.0.store(true, Ordering::SeqCst);
        self.inner.1.notify_waiters();
    }

    /// Whether it was set (and not cleared since).
    pub fn is_set(&self) -> bool {
        self.inner.0.load(Ordering::SeqCst)
    }

    /// Clear it, for the next statement.
    pub fn clear(&self) {
        self.inner.0.store(false, Ordering::SeqCst);
    }

    /// Resolve once the signal is set.
    pub async fn wait(&self) {
        loop {
            let notified = self.inner.1.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_set() {
                return;
            }
            notified.await;
        }
    }
}
