//! `[server.tls]`: TLS without a proxy in front. The certificate chain and its private key are
//! PEM files (relative paths beside the configuration file), read and matched at load, so a
//! wrong file is a `check` problem with its key path rather than a failed handshake later; the
//! server reads them again on SIGHUP (`http`), through [`load`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;

use super::{Problem, problem};

/// `[server.tls]` as written.
#[derive(Debug, Deserialize)]
pub(super) struct RawTls {
    cert_file: PathBuf,
    key_file: PathBuf,
}

/// `[server.tls]`, validated: the files, and what they held at load.
#[derive(Clone)]
pub struct TlsSettings {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub key: Arc<CertifiedKey>,
}

/// The files, never the key.
impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSettings")
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .finish_non_exhaustive()
    }
}

/// Why the files cannot serve TLS; each message names the file, never its content.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {why}")]
    Read { path: PathBuf, why: String },
    #[error("{0} holds no PEM certificate")]
    NoCertificate(PathBuf),
    #[error("{path} is not a PEM private key (PKCS#8, PKCS#1 or SEC1): {why}")]
    Key { path: PathBuf, why: String },
    #[error("the key in {key} is not the key of the first certificate in {cert}")]
    Mismatch { cert: PathBuf, key: PathBuf },
}

/// The certificate chain of `cert_file` and the key of `key_file`, checked to belong together.
pub fn load(cert_file: &Path, key_file: &Path) -> Result<Arc<CertifiedKey>, TlsError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|e| TlsError::Read {
            path: path.to_owned(),
            why: e.to_string(),
        })
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read(cert_file)?)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Read {
            path: cert_file.to_owned(),
            why: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(cert_file.to_owned()));
    }
    let key = PrivateKeyDer::from_pem_slice(&read(key_file)?).map_err(|e| TlsError::Key {
        path: key_file.to_owned(),
        why: e.to_string(),
    })?;
    let provider = rustls::crypto::ring::default_provider();
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| TlsError::Key {
            path: key_file.to_owned(),
            why: e.to_string(),
        })?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(|_| TlsError::Mismatch {
        cert: cert_file.to_owned(),
        key: key_file.to_owned(),
    })?;
    Ok(Arc::new(certified))
}

/// `[server.tls]`, its files resolved beside the configuration file and loaded.
pub(super) fn validate(
    raw: &RawTls,
    base: Option<&Path>,
    problems: &mut Vec<Problem>,
) -> Option<TlsSettings> {
    let resolve = |path: &Path| match base {
        Some(base) if path.is_relative() => base.join(path),
        _ => path.to_owned(),
    };
    let cert_file = resolve(&raw.cert_file);
    let key_file = resolve(&raw.key_file);
    match load(&cert_file, &key_file) {
        Ok(key) => Some(TlsSettings {
            cert_file,
            key_file,
            key,
        }),
        Err(e) => {
            let at = match e {
                TlsError::Key { .. } => "server.tls.key_file",
                TlsError::Read { ref path, .. } if *path == key_file => "server.tls.key_file",
                _ => "server.tls.cert_file",
            };
            problems.push(problem(at, e.to_string()));
            None
        }
    }
}
