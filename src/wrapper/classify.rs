//! What a failed attempt means: retry, refresh the token, isolate the batch, or give up —
//! from the SDK's error, with a hint where its words are cryptic.

use std::sync::Arc;

use databricks_zerobus_ingest_sdk::ZerobusError as SdkError;

/// How a failed attempt should be handled.
pub(super) enum Failure {
    /// Try again (new stream) after a backoff.
    Retry(Cause),
    /// Credentials were refused by the service; one fresh token is worth a try.
    Auth(Cause),
    /// Credentials are wrong: no retry helps.
    Credentials(Cause),
    /// A token could not be obtained (transient).
    Token(Cause),
    /// The service refused the records; retrying cannot help.
    Final(Cause),
    /// The service refused a request on the shared stream, perhaps another batch's: resend
    /// this batch alone to find out.
    Isolate(Cause),
}

/// The SDK's error behind a failure, and its words (with a hint where they are cryptic).
pub(super) struct Cause {
    text: String,
    sdk: Arc<SdkError>,
}

impl Cause {
    /// The SDK's error, to keep as the source of the error the caller sees.
    pub(super) fn sdk(&self) -> Arc<dyn std::error::Error + Send + Sync> {
        self.sdk.clone()
    }
}

impl std::ops::Deref for Cause {
    type Target = str;
    fn deref(&self) -> &str {
        &self.text
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Add what to check to the SDK's words where they are cryptic.
fn with_hint(text: String) -> String {
    let hint = if text.contains("tcp connect error") {
        "nothing answered at the endpoint: check its URL and port, and that it is reachable from here"
    } else if text.contains("InvalidContentType")
        || text.contains("tls handshake")
        || text.contains("received corrupt message")
    {
        "TLS failed: does the endpoint speak TLS? Use http:// for a plain-text endpoint such as the local emulator"
    } else if text.contains("Failed to create stream")
        && [
            "h2 protocol",
            "transport error",
            "operation was cancel",
            "invalid HTTP version",
        ]
        .iter()
        .any(|s| text.contains(s))
    {
        "the endpoint does not answer as a gRPC service: is it the Zerobus endpoint, https://<workspace-id>.zerobus.<region>.cloud.databricks.com?"
    } else {
        return text;
    };
    format!("{text} ({hint})")
}

pub(super) fn classify(e: &SdkError) -> Failure {
    let cause = |text| Cause {
        text,
        sdk: Arc::new(e.clone()),
    };
    let text = e.to_string();
    match e {
        // The SDK files every 4xx of the token endpoint here; a throttled (429) or
        // timed-out (408) request is worth another try with backoff, not a verdict on
        // the credentials.
        SdkError::InvalidUCTokenError(m)
            if m.starts_with("Client error (429)") || m.starts_with("Client error (408)") =>
        {
            Failure::Token(cause(text))
        }
        SdkError::InvalidUCTokenError(_) => Failure::Credentials(cause(text)),
        SdkError::TokenFetchError(_) => Failure::Token(cause(text)),
        SdkError::CreateStreamError(s) | SdkError::StreamClosedError(s)
            if matches!(
                s.code(),
                tonic::Code::Unauthenticated | tonic::Code::PermissionDenied
            ) =>
        {
            Failure::Auth(cause(text))
        }
        _ if e.is_retryable() => Failure::Retry(cause(with_hint(text))),
        _ => Failure::Final(cause(text)),
    }
}
