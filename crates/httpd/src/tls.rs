//! The HTTPS side: PEM certificate and key files into a rustls acceptor.
//!
//! Only the ring crypto provider is used, passed explicitly to the config
//! builder, so the result does not depend on which provider some other crate
//! in the process installed as the default. PEM is parsed with
//! `rustls-pki-types` (`rustls-pemfile` is unmaintained).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// PEM files of the serving certificate.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// Certificate chain, leaf first (PEM `CERTIFICATE` blocks).
    pub cert_file: PathBuf,
    /// The leaf's private key (PEM PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
}

/// Why the certificate and key could not be loaded. Every error names the
/// file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate file could not be read.
    #[error("cannot read the TLS certificate file {path}: {source}")]
    CertFileRead {
        /// The file as configured.
        path: PathBuf,
        /// What reading it said.
        #[source]
        source: io::Error,
    },
    /// The certificate file is not PEM, or holds no `CERTIFICATE` block.
    #[error("the TLS certificate file {path} is not a PEM certificate chain: {problem}")]
    CertFileInvalid {
        /// The file as configured.
        path: PathBuf,
        /// What the PEM parser said.
        problem: String,
    },
    /// The private key file could not be read.
    #[error("cannot read the TLS private key file {path}: {source}")]
    KeyFileRead {
        /// The file as configured.
        path: PathBuf,
        /// What reading it said.
        #[source]
        source: io::Error,
    },
    /// The private key file is not PEM, or holds no private key.
    #[error("the TLS private key file {path} is not a PEM private key: {problem}")]
    KeyFileInvalid {
        /// The file as configured.
        path: PathBuf,
        /// What the PEM parser said.
        problem: String,
    },
    /// rustls rejected the pair: the key does not belong to the certificate,
    /// or its algorithm is not supported.
    #[error(
        "the TLS private key file {key_file} does not fit the certificate file {cert_file}: {source}"
    )]
    Config {
        /// The certificate file as configured.
        cert_file: PathBuf,
        /// The key file as configured.
        key_file: PathBuf,
        /// What rustls said.
        #[source]
        source: rustls::Error,
    },
    /// `--tls-cipher-suites` names a suite that is not served.
    #[error("--tls-cipher-suites: {name} is not supported; supported TLS 1.2 suites: {supported}")]
    CipherSuite {
        /// The name as given.
        name: String,
        /// What can be named.
        supported: String,
    },
    /// The self-signed certificate could not be made.
    #[error(
        "cannot create a self-signed serving certificate in {dir}: {problem}; give --tls-cert-file and --tls-private-key-file, or a writable --cert-dir"
    )]
    SelfSigned {
        /// The certificate directory.
        dir: PathBuf,
        /// What failed.
        problem: String,
    },
}

/// Loads the files and builds the acceptor (HTTP/1.1 only, no client
/// certificates).
pub fn tls_acceptor(files: &TlsFiles) -> Result<TlsAcceptor, TlsError> {
    let certs = load_certs(&files.cert_file)?;
    let key = load_key(&files.key_file)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config_error = |source| TlsError::Config {
        cert_file: files.cert_file.clone(),
        key_file: files.key_file.clone(),
        source,
    };
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(config_error)?
        .with_no_client_auth()
        // Checks that the key belongs to the leaf certificate.
        .with_single_cert(certs, key)
        .map_err(config_error)?;
    // The server speaks HTTP/1.1 only; say so, so clients do not try h2.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

pub(crate) fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = std::fs::read(path).map_err(|source| TlsError::CertFileRead {
        path: path.to_owned(),
        source,
    })?;
    let invalid = |problem: String| TlsError::CertFileInvalid {
        path: path.to_owned(),
        problem,
    };
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| invalid(error.to_string()))?;
    if certs.is_empty() {
        return Err(invalid("no CERTIFICATE block found".to_owned()));
    }
    Ok(certs)
}

pub(crate) fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = std::fs::read(path).map_err(|source| TlsError::KeyFileRead {
        path: path.to_owned(),
        source,
    })?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|error| TlsError::KeyFileInvalid {
        path: path.to_owned(),
        problem: match error {
            rustls_pki_types::pem::Error::NoItemsFound => {
                "no PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block found".to_owned()
            }
            other => other.to_string(),
        },
    })
}
