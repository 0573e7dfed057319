//! [`SdkStream`]: a stream of the SDK, protobuf or Arrow Flight, as the wrapper's transport
//! says.

use std::sync::Arc;

use databricks_zerobus_ingest_sdk::{ZerobusArrowStream, ZerobusError as SdkError, ZerobusStream};

/// A stream of the SDK: its gRPC (protobuf) stream or its Arrow Flight stream, as the
/// wrapper's transport says.
pub(super) enum SdkStream {
    /// Protobuf records.
    Proto(Box<ZerobusStream>),
    /// Arrow batches.
    Flight(Box<ZerobusArrowStream>),
}

impl SdkStream {
    /// Whether the SDK closed the stream (it is replaced at the next send).
    pub(super) fn is_closed(&self) -> bool {
        match self {
            SdkStream::Proto(s) => s.is_closed(),
            SdkStream::Flight(s) => s.is_closed(),
        }
    }

    /// Wait until every request sent is acknowledged.
    pub(super) async fn flush(&self) -> std::result::Result<(), SdkError> {
        match self {
            SdkStream::Proto(s) => s.flush().await,
            SdkStream::Flight(s) => s.flush().await,
        }
    }

    /// Wait until the request of `offset` (and every one before it) is acknowledged.
    pub(super) async fn wait_for_offset(&self, offset: i64) -> std::result::Result<(), SdkError> {
        match self {
            SdkStream::Proto(s) => s.wait_for_offset(offset).await,
            SdkStream::Flight(s) => s.wait_for_offset(offset).await,
        }
    }

    /// Flush and close.
    pub(super) async fn close(&mut self) -> std::result::Result<(), SdkError> {
        match self {
            SdkStream::Proto(s) => s.close().await,
            SdkStream::Flight(s) => s.close().await,
        }
    }
}

/// Close a stream once nobody else holds it (a holder still sending drops it when done).
pub(super) async fn close_stream(stream: Arc<SdkStream>) {
    if let Ok(mut stream) = Arc::try_unwrap(stream) {
        if let Err(e) = stream.close().await {
            tracing::debug!(error = %e, "closing a stream");
        }
    }
}
