//! The wait between attempts of a send, in its own span: [`crate::backoff::Backoff`]
//! chooses it; a give-up ends it early.

use super::inner::Inner;
use std::time::Duration;

use opentelemetry::trace::TraceContextExt as _;
use opentelemetry::{Context, KeyValue};

impl Inner {
    /// Wait `wait` before attempt `attempt + 1`, in a `zerobus.retry` span (with the failure
    /// as an event), and count it.
    pub(super) async fn backoff_span(
        &self,
        attempt: u32,
        kind: &'static str,
        error: &str,
        wait: Duration,
    ) {
        self.metric(|m, a| {
            m.retries
                .add(1, &[a[0].clone(), KeyValue::new("error.kind", kind)]);
        });
        let attrs = vec![
            KeyValue::new("zerobus.attempt", i64::from(attempt)),
            KeyValue::new("error.kind", kind),
            KeyValue::new("zerobus.backoff_ms", wait.as_millis() as i64),
        ];
        let waited = async {
            Context::current().span().add_event(
                "failure",
                vec![KeyValue::new("exception.message", error.to_string())],
            );
            // A give-up ends the wait: the caller then dead-letters instead of retrying.
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.gave_up.wait() => {}
            }
        };
        self.in_span("zerobus.retry", attrs, waited, |_| (None, vec![]))
            .await;
    }
}
