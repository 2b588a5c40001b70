//! A secure port as Kubernetes API servers run one: a serving certificate
//! that is reloaded when its files change, a self-signed one in a
//! certificate directory when none is given, `--tls-min-version` and
//! `--tls-cipher-suites` in Go's names, and client certificates requested
//! (not required) and handed to the caller for verification.
//!
//! Client certificates are verified per request, not in the handshake:
//! which CA a certificate must chain to depends on what it is used for
//! (front-proxy or client CA), and a certificate that verifies against
//! neither must get an HTTP 401 `Status`, not a TLS alert. The handshake
//! still checks that the client holds the certificate's key.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme};
use rustls_pki_types::{CertificateDer, UnixTime};
use tokio_rustls::TlsAcceptor;

use crate::tls::{TlsError, TlsFiles, load_certs, load_key};

/// How often at most the certificate files are checked for changes.
const RELOAD_CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// The names of the generated self-signed pair in the certificate directory
/// (k8s.io/apiserver's).
pub const SELF_SIGNED_CERT: &str = "apiserver.crt";
/// See [`SELF_SIGNED_CERT`].
pub const SELF_SIGNED_KEY: &str = "apiserver.key";

/// The lowest TLS version served (`--tls-min-version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsMinVersion {
    /// `VersionTLS12` (the default; rustls speaks nothing older).
    #[default]
    Tls12,
    /// `VersionTLS13`.
    Tls13,
}

impl std::str::FromStr for TlsMinVersion {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "VersionTLS12" => Ok(Self::Tls12),
            "VersionTLS13" => Ok(Self::Tls13),
            "VersionTLS10" | "VersionTLS11" => Err(format!(
                "{text} is not served: TLS 1.0 and 1.1 are insecure and not implemented; use VersionTLS12 or VersionTLS13"
            )),
            _ => Err(format!(
                "unknown TLS version {text:?}; one of VersionTLS12, VersionTLS13"
            )),
        }
    }
}

/// Everything the secure port's TLS needs.
#[derive(Debug, Clone)]
pub struct SecureTls {
    /// The serving certificate and key, reloaded when they change.
    pub files: TlsFiles,
    /// `--tls-min-version`.
    pub min_version: TlsMinVersion,
    /// `--tls-cipher-suites` (Go's names); empty keeps the defaults. Only
    /// TLS 1.2 suites can be chosen, as in Go; TLS 1.3 always has its own.
    pub cipher_suites: Vec<String>,
}

/// The TLS 1.2 cipher suites that can be named, in Go's spelling.
pub fn supported_cipher_suites() -> Vec<&'static str> {
    rustls::crypto::ring::ALL_CIPHER_SUITES
        .iter()
        .filter(|suite| suite.tls13().is_none())
        .filter_map(|suite| suite.suite().as_str())
        .collect()
}

fn provider(cipher_suites: &[String]) -> Result<CryptoProvider, TlsError> {
    let mut provider = rustls::crypto::ring::default_provider();
    if cipher_suites.is_empty() {
        return Ok(provider);
    }
    let mut chosen = Vec::new();
    for name in cipher_suites {
        // Go also accepts the ChaCha20 names without `_SHA256`.
        let wanted = if name.ends_with("_CHACHA20_POLY1305") {
            format!("{name}_SHA256")
        } else {
            name.clone()
        };
        let suite = rustls::crypto::ring::ALL_CIPHER_SUITES
            .iter()
            .find(|suite| suite.tls13().is_none() && suite.suite().as_str() == Some(&wanted))
            .ok_or_else(|| TlsError::CipherSuite {
                name: name.clone(),
                supported: supported_cipher_suites().join(", "),
            })?;
        chosen.push(*suite);
    }
    // TLS 1.3's suites are not configurable (as in Go).
    chosen.extend(
        rustls::crypto::ring::ALL_CIPHER_SUITES
            .iter()
            .filter(|suite| suite.tls13().is_some()),
    );
    provider.cipher_suites = chosen;
    Ok(provider)
}

/// The acceptor of a secure port: HTTP/1.1, the settings' versions and
/// suites, the certificate reloaded when its files change, and client
/// certificates requested (see the module docs).
pub fn secure_acceptor(settings: &SecureTls) -> Result<TlsAcceptor, TlsError> {
    let provider = Arc::new(provider(&settings.cipher_suites)?);
    let resolver = ReloadingCertificate::load(&settings.files, Arc::clone(&provider))?;
    let versions: &[&rustls::SupportedProtocolVersion] = match settings.min_version {
        TlsMinVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsMinVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let config_error = |source| TlsError::Config {
        cert_file: settings.files.cert_file.clone(),
        key_file: settings.files.key_file.clone(),
        source,
    };
    let verifier = RequestClientCertificate {
        algorithms: provider.signature_verification_algorithms,
    };
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(config_error)?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The serving certificate: `cert_file`/`key_file` when given, else the
/// pair in `cert_dir`, generated (self-signed, for `localhost` and
/// `127.0.0.1`, as k8s.io/apiserver does) when it is not there yet.
pub fn serving_files(
    given: Option<TlsFiles>,
    cert_dir: &Path,
) -> Result<(TlsFiles, bool), TlsError> {
    if let Some(files) = given {
        return Ok((files, false));
    }
    let files = TlsFiles {
        cert_file: cert_dir.join(SELF_SIGNED_CERT),
        key_file: cert_dir.join(SELF_SIGNED_KEY),
    };
    if files.cert_file.exists() && files.key_file.exists() {
        return Ok((files, false));
    }
    let generate = || -> Result<(String, String), rcgen::Error> {
        let key = rcgen::KeyPair::generate()?;
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            format!("localhost@{}", unix_seconds()),
        );
        let cert = params.self_signed(&key)?;
        Ok((cert.pem(), key.serialize_pem()))
    };
    let (cert_pem, key_pem) = generate().map_err(|error| TlsError::SelfSigned {
        dir: cert_dir.to_owned(),
        problem: error.to_string(),
    })?;
    let write = |path: &PathBuf, text: &str| {
        std::fs::create_dir_all(cert_dir)
            .and_then(|()| std::fs::write(path, text))
            .map_err(|error| TlsError::SelfSigned {
                dir: cert_dir.to_owned(),
                problem: format!("cannot write {}: {error}", path.display()),
            })
    };
    write(&files.key_file, &key_pem)?;
    write(&files.cert_file, &cert_pem)?;
    Ok((files, true))
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The certificate and key of the files, reloaded on the first handshake
/// after they changed (checked at most once a second). A change that does
/// not load keeps the previous pair, with a warning.
struct ReloadingCertificate {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    state: Mutex<ReloadState>,
}

struct ReloadState {
    current: Arc<CertifiedKey>,
    stamps: (Option<FileStamp>, Option<FileStamp>),
    checked: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

fn stamp(path: &Path) -> Option<FileStamp> {
    use std::os::unix::fs::MetadataExt as _;
    // Follows symlinks: Kubernetes swaps mounted secrets through one.
    let metadata = std::fs::metadata(path).ok()?;
    Some(FileStamp {
        modified: metadata.modified().ok(),
        len: metadata.len(),
        inode: metadata.ino(),
    })
}

impl std::fmt::Debug for ReloadingCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadingCertificate")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl ReloadingCertificate {
    fn load(files: &TlsFiles, provider: Arc<CryptoProvider>) -> Result<Self, TlsError> {
        let stamps = (stamp(&files.cert_file), stamp(&files.key_file));
        let current = certified_key(files, &provider)?;
        Ok(Self {
            files: files.clone(),
            provider,
            state: Mutex::new(ReloadState {
                current,
                stamps,
                checked: Instant::now(),
            }),
        })
    }
}

fn certified_key(
    files: &TlsFiles,
    provider: &CryptoProvider,
) -> Result<Arc<CertifiedKey>, TlsError> {
    let certs = load_certs(&files.cert_file)?;
    let key = load_key(&files.key_file)?;
    let key = CertifiedKey::from_der(certs, key, provider).map_err(|source| TlsError::Config {
        cert_file: files.cert_file.clone(),
        key_file: files.key_file.clone(),
        source,
    })?;
    Ok(Arc::new(key))
}

impl ResolvesServerCert for ReloadingCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.checked.elapsed() >= RELOAD_CHECK_INTERVAL {
            state.checked = Instant::now();
            let stamps = (stamp(&self.files.cert_file), stamp(&self.files.key_file));
            if stamps != state.stamps {
                state.stamps = stamps;
                match certified_key(&self.files, &self.provider) {
                    Ok(key) => {
                        tracing::info!(cert = %self.files.cert_file.display(), "Serving certificate changed; using the new one");
                        state.current = key;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "Serving certificate changed but cannot be used; keeping the previous one");
                    }
                }
            }
        }
        Some(Arc::clone(&state.current))
    }
}

/// Asks for a client certificate without requiring one, checks that the
/// client holds its key, and leaves chain verification to the request's
/// authentication.
#[derive(Debug)]
struct RequestClientCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for RequestClientCertificate {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // No hints: clients send their certificate whoever signed it, so a
        // certificate from the wrong CA is answered with a 401 Status.
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The certificates a TLS client presented (leaf first), put in every
/// request's extensions by the accept loop.
#[derive(Debug, Clone)]
pub struct PeerCertificates(pub Arc<Vec<CertificateDer<'static>>>);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use rustls_pki_types::ServerName;
    use rustls_pki_types::pem::PemObject as _;
    use tokio::net::{TcpListener, TcpStream};

    /// Serves TLS handshakes with `acceptor` on loopback; its address.
    async fn handshakes(acceptor: TlsAcceptor) -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let _ = acceptor.accept(stream).await;
                });
            }
        });
        addr
    }

    /// The certificate the server presents to a client that trusts `ca_pem`
    /// and speaks `versions`.
    async fn presented(
        addr: std::net::SocketAddr,
        ca_pem: &[u8],
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> Result<Vec<u8>, std::io::Error> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca_pem) {
            roots.add(cert.unwrap()).unwrap();
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let stream = TcpStream::connect(addr).await?;
        let tls = connector
            .connect(ServerName::try_from("localhost").unwrap(), stream)
            .await?;
        Ok(tls.get_ref().1.peer_certificates().unwrap()[0].to_vec())
    }

    fn settings(files: TlsFiles) -> SecureTls {
        SecureTls {
            files,
            min_version: TlsMinVersion::Tls12,
            cipher_suites: Vec::new(),
        }
    }

    #[tokio::test]
    async fn a_rewritten_certificate_is_served_without_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let (files, generated) = serving_files(None, dir.path()).unwrap();
        assert!(generated);
        // A second call finds the pair and keeps it.
        assert!(!serving_files(None, dir.path()).unwrap().1);
        let first_pem = std::fs::read(&files.cert_file).unwrap();
        let addr = handshakes(secure_acceptor(&settings(files.clone())).unwrap()).await;
        let first = presented(addr, &first_pem, &[&rustls::version::TLS13])
            .await
            .unwrap();

        let other = tempfile::tempdir().unwrap();
        let (new_files, _) = serving_files(None, other.path()).unwrap();
        std::fs::copy(&new_files.key_file, &files.key_file).unwrap();
        std::fs::copy(&new_files.cert_file, &files.cert_file).unwrap();
        let new_pem = std::fs::read(&files.cert_file).unwrap();
        // Checked at most once a second.
        tokio::time::sleep(RELOAD_CHECK_INTERVAL + Duration::from_millis(200)).await;
        let _ = presented(addr, &new_pem, &[&rustls::version::TLS13]).await;
        let second = presented(addr, &new_pem, &[&rustls::version::TLS13])
            .await
            .unwrap();
        assert_ne!(first, second);

        // A broken rewrite keeps the last good pair.
        std::fs::write(&files.cert_file, "not a certificate").unwrap();
        tokio::time::sleep(RELOAD_CHECK_INTERVAL + Duration::from_millis(200)).await;
        let _ = presented(addr, &new_pem, &[&rustls::version::TLS13]).await;
        let third = presented(addr, &new_pem, &[&rustls::version::TLS13])
            .await
            .unwrap();
        assert_eq!(second, third);
    }

    #[tokio::test]
    async fn the_minimum_version_and_suites_are_honoured() {
        let dir = tempfile::tempdir().unwrap();
        let (files, _) = serving_files(None, dir.path()).unwrap();
        let pem = std::fs::read(&files.cert_file).unwrap();
        let tls13_only = SecureTls {
            min_version: TlsMinVersion::Tls13,
            ..settings(files.clone())
        };
        let addr = handshakes(secure_acceptor(&tls13_only).unwrap()).await;
        assert!(
            presented(addr, &pem, &[&rustls::version::TLS12])
                .await
                .is_err()
        );
        assert!(
            presented(addr, &pem, &[&rustls::version::TLS13])
                .await
                .is_ok()
        );

        let named = SecureTls {
            cipher_suites: vec!["TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305".to_owned()],
            ..settings(files.clone())
        };
        let addr = handshakes(secure_acceptor(&named).unwrap()).await;
        assert!(
            presented(addr, &pem, &[&rustls::version::TLS12])
                .await
                .is_ok()
        );

        let unknown = SecureTls {
            cipher_suites: vec!["TLS_RSA_WITH_RC4_128_SHA".to_owned()],
            ..settings(files)
        };
        let Err(error) = secure_acceptor(&unknown) else {
            panic!("an unknown suite was accepted");
        };
        let error = error.to_string();
        assert!(
            error.contains("TLS_RSA_WITH_RC4_128_SHA is not supported"),
            "{error}"
        );
        assert!(
            error.contains("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
            "{error}"
        );
        assert_eq!(
            "VersionTLS10"
                .parse::<TlsMinVersion>()
                .map_err(|e| e.contains("not served")),
            Err(true)
        );
    }
}
