//! The HTTPS side: PEM certificate and key files into a rustls acceptor.
//!
//! Only the ring crypto provider is used, passed explicitly to the config
//! builder, so the result does not depend on which provider some other crate
//! in the process installed as the default. PEM is parsed with
//! `rustls-pki-types` (`rustls-pemfile` is unmaintained).

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use super::{StartError, TlsFiles};

/// Loads the files and builds the acceptor.
pub(crate) fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, StartError> {
    let certs = load_certs(&files.cert_file)?;
    let key = load_key(&files.key_file)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls_config = |source| StartError::TlsConfig {
        cert_file: files.cert_file.clone(),
        key_file: files.key_file.clone(),
        source,
    };
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_config)?
        .with_no_client_auth()
        // Checks that the key belongs to the leaf certificate.
        .with_single_cert(certs, key)
        .map_err(tls_config)?;
    // The server speaks HTTP/1.1 only; say so, so clients do not try h2.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, StartError> {
    let pem = std::fs::read(path).map_err(|source| StartError::CertFileRead {
        path: path.to_owned(),
        source,
    })?;
    let invalid = |problem: String| StartError::CertFileInvalid {
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

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, StartError> {
    let pem = std::fs::read(path).map_err(|source| StartError::KeyFileRead {
        path: path.to_owned(),
        source,
    })?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|error| StartError::KeyFileInvalid {
        path: path.to_owned(),
        problem: match error {
            rustls_pki_types::pem::Error::NoItemsFound => {
                "no PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block found".to_owned()
            }
            other => other.to_string(),
        },
    })
}
