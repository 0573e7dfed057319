//! What a failed attempt means: retry, refresh the token, isolate the batch, or give up —
//! from the SDK's error, with a hint where its words are cryptic.

use databricks_zerobus_ingest_sdk::ZerobusError as SdkError;

/// How a failed attempt should be handled.
pub(super) enum Failure {
    /// Try again (new stream) after a backoff.
    Retry(String),
    /// Credentials were refused by the service; one fresh token is worth a try.
    Auth(String),
    /// Credentials are wrong: no retry helps.
    Credentials(String),
    /// A token could not be obtained (transient).
    Token(String),
    /// The service refused the records; retrying cannot help.
    Final(String),
    /// The service refused a request on the shared stream, perhaps another batch's: resend
    /// this batch alone to find out.
    Isolate(String),
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
    let text = e.to_string();
    match e {
        SdkError::InvalidUCTokenError(_) => Failure::Credentials(text),
        SdkError::TokenFetchError(_) => Failure::Token(text),
        SdkError::CreateStreamError(s) | SdkError::StreamClosedError(s)
            if matches!(
                s.code(),
                tonic::Code::Unauthenticated | tonic::Code::PermissionDenied
            ) =>
        {
            Failure::Auth(text)
        }
        _ if e.is_retryable() => Failure::Retry(with_hint(text)),
        _ => Failure::Final(text),
    }
}
