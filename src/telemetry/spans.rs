//! Running code in a span, and the ids that join log lines with traces.

use std::future::Future;

use opentelemetry::trace::{FutureExt as _, Status, TraceContextExt as _};
use opentelemetry::{Context, KeyValue};

/// End the span in `cx` with an error status (or OK) and the given attributes.
pub(crate) fn end_span(cx: &Context, error: Option<&str>, attributes: Vec<KeyValue>) {
    let span = cx.span();
    span.set_attributes(attributes);
    if let Some(e) = error {
        span.set_status(Status::error(e.to_string()));
    }
    span.end();
}

/// Await `fut` with `cx` (when telemetry is on) as the current OpenTelemetry context, so
/// spans started inside are its children.
pub(crate) async fn in_context<F: Future>(cx: Option<&Context>, fut: F) -> F::Output {
    match cx {
        Some(cx) => fut.with_context(cx.clone()).await,
        None => fut.await,
    }
}

/// The ids of the span in `cx`, as hex, for `tracing` fields.
pub(crate) fn ids(cx: &Context) -> (String, String) {
    let span = cx.span();
    let sc = span.span_context();
    (sc.trace_id().to_string(), sc.span_id().to_string())
}
