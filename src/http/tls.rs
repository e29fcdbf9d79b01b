//! HTTPS on the gateway's own listener (`[server.tls]`): rustls with the ring provider, and a
//! certificate resolver whose chain and key SIGHUP replaces, so a renewed certificate is served
//! to new connections without a restart or a dropped connection. A reload that fails (a file
//! half-written, a key that does not match) is logged and the certificate in use kept.

use std::path::Path;
use std::sync::{Arc, RwLock};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::config::{TlsSettings, load_tls};

/// The certificate in use, and where it came from.
pub struct Certificates {
    settings: TlsSettings,
    current: RwLock<Arc<CertifiedKey>>,
}

impl std::fmt::Debug for Certificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificates")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Certificates {
    pub fn new(settings: TlsSettings) -> Self {
        Self {
            current: RwLock::new(settings.key.clone()),
            settings,
        }
    }

    pub fn cert_file(&self) -> &Path {
        &self.settings.cert_file
    }

    /// Reads the files again; see the module docs.
    pub fn reload(&self) {
        match load_tls(&self.settings.cert_file, &self.settings.key_file) {
            Ok(key) => {
                *self
                    .current
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = key;
                tracing::info!(
                    cert_file = %self.settings.cert_file.display(),
                    "SIGHUP: TLS certificate reloaded; new connections get it"
                );
            }
            Err(e) => {
                tracing::error!("SIGHUP: TLS certificate not reloaded, the one in use is kept: {e}")
            }
        }
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .clone(),
        )
    }
}

/// rustls's safe defaults (TLS 1.2 and 1.3), HTTP/1.1 over ALPN (the only protocol served).
pub fn server_config(
    certificates: Arc<Certificates>,
) -> Result<rustls::ServerConfig, std::io::Error> {
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(std::io::Error::other)?
    .with_no_client_auth()
    .with_cert_resolver(certificates);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
