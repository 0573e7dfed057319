//! Transport security for the SDK: TLS with the system roots for `https://` endpoints, and
//! plain text for `http://` endpoints on loopback (the emulator) — or elsewhere only when
//! the user opted in with `allow_plaintext`.

use databricks_zerobus_ingest_sdk::{TlsConfig, ZerobusError as SdkError};
use tonic::transport::Endpoint;

/// Plain-text gRPC, refused for non-loopback hosts unless allowed.
#[derive(Debug, Clone, Copy)]
pub struct PlainText {
    /// Allow hosts that are not loopback.
    pub allow_remote: bool,
}

impl TlsConfig for PlainText {
    fn configure_endpoint(&self, endpoint: Endpoint) -> Result<Endpoint, SdkError> {
        let host = endpoint
            .uri()
            .host()
            .unwrap_or_default()
            .trim_matches(['[', ']'])
            .to_string();
        let loopback = host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .map(|ip| ip.is_loopback())
                .unwrap_or(false);
        if loopback || self.allow_remote {
            Ok(endpoint)
        } else {
            Err(SdkError::InvalidArgument(format!(
                "plain-text gRPC to '{host}' is refused: it is not a loopback address (set allow_plaintext to opt in)"
            )))
        }
    }
}

/// Choose rustls's crypto provider for the process, once. Our dependency tree enables
/// both of rustls's providers (ring and aws-lc-rs), and then rustls refuses to pick one:
/// the first TLS connection (any `https://` endpoint) panicked with "Call
/// CryptoProvider::install_default() before this point". A provider the application
/// installed first is kept.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            // Err means another thread installed one meanwhile: equally good.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
    });
}
