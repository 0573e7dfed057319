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
    inner: Arc<State>,
}

#[derive(Debug, Default)]
struct State {
    set: AtomicBool,
    given_up: AtomicBool,
    changed: Notify,
}

impl Interrupt {
    /// A signal that is not set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Ask every load watching this signal to stop.
    pub fn set(&self) {
        self.inner.set.store(true, Ordering::SeqCst);
        self.inner.changed.notify_waiters();
    }

    /// Whether it was set (and not cleared since).
    pub fn is_set(&self) -> bool {
        self.inner.set.load(Ordering::SeqCst)
    }

    /// Stop waiting for the batches in flight (the second stage, after [`Self::set`] was
    /// given time to settle them): their sends stop retrying and waiting for
    /// acknowledgements, and the rows not acknowledged go to dead-letter files, so the
    /// load returns its whole account at once. Rows that were sent but not acknowledged
    /// may land as well (at-least-once). Implies [`Self::set`].
    ///
    /// ```
    /// use arrow_zerobus_sdk_wrapper::wrapper::Interrupt;
    /// let interrupt = Interrupt::new();
    /// interrupt.give_up();
    /// assert!(interrupt.is_set() && interrupt.is_given_up());
    /// ```
    pub fn give_up(&self) {
        self.inner.given_up.store(true, Ordering::SeqCst);
        self.set();
    }

    /// Whether [`Self::give_up`] was called (and not cleared since).
    pub fn is_given_up(&self) -> bool {
        self.inner.given_up.load(Ordering::SeqCst)
    }

    /// Clear it, for the next statement.
    pub fn clear(&self) {
        self.inner.given_up.store(false, Ordering::SeqCst);
        self.inner.set.store(false, Ordering::SeqCst);
    }

    /// Resolve once the signal is set.
    pub async fn wait(&self) {
        self.wait_for(Self::is_set).await
    }

    /// Resolve once [`Self::give_up`] was called.
    pub async fn wait_given_up(&self) {
        self.wait_for(Self::is_given_up).await
    }

    async fn wait_for(&self, done: fn(&Self) -> bool) {
        loop {
            let notified = self.inner.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if done(self) {
                return;
            }
            notified.await;
        }
    }
}
