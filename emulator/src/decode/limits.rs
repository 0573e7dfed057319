//! The service's size limits on records and requests.

/// Largest record the service accepts (10 MiB).
pub const MAX_RECORD_BYTES: usize = 10 * 1024 * 1024;

/// Most bytes of records one ingest request may carry (the service's 10 MiB message
/// limit; the SDK keeps its requests 64 KiB under it).
pub const MAX_REQUEST_BYTES: usize = 10 * 1024 * 1024;
