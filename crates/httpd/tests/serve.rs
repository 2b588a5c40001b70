//! The accept loop end to end on 127.0.0.1: plain and TLS requests, the
//! certificate errors, and the bounded graceful shutdown.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use workingset_httpd::{TlsError, TlsFiles, serve, tls_acceptor};

/// The longest any step of a test may take.
const STEP: Duration = Duration::from_secs(5);

fn router() -> Router {
    Router::new()
        .route("/hello", get(|| async { "hello" }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                "slow"
            }),
        )
        .route(
            "/stuck",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                "never"
            }),
        )
}

struct Running {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

async fn start(tls: Option<workingset_httpd::TlsAcceptor>, grace: Duration) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, receiver) = watch::channel(false);
    let task = tokio::spawn(serve(listener, tls, router(), receiver, grace));
    Running { addr, stop, task }
}

impl Running {
    async fn stop(self) {
        self.stop.send_replace(true);
        tokio::time::timeout(STEP, self.task)
            .await
            .expect("the server stops within its grace period")
            .unwrap();
    }
}

/// One HTTP/1.1 request on a fresh connection; the whole response as text.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, path: &str) -> String {
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(STEP, stream.read_to_string(&mut response))
        .await
        .expect("the response comes in time")
        .unwrap();
    response
}

#[tokio::test]
async fn serves_plain_http_and_stops() {
    let server = start(None, Duration::from_secs(1)).await;
    let response = exchange(TcpStream::connect(server.addr).await.unwrap(), "/hello").await;
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.ends_with("\r\n\r\nhello"), "{response}");
    let addr = server.addr;
    server.stop().await;
    // The listener is closed once the loop has ended.
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn a_request_in_flight_finishes_within_the_grace_period() {
    let server = start(None, Duration::from_secs(3)).await;
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let slow = tokio::spawn(exchange(stream, "/slow"));
    // Let the request reach the handler before asking to stop.
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.stop().await;
    let response = tokio::time::timeout(STEP, slow).await.unwrap().unwrap();
    assert!(response.ends_with("slow"), "{response}");
}

#[tokio::test]
async fn a_stuck_request_is_cut_when_the_grace_period_ends() {
    let grace = Duration::from_millis(200);
    let server = start(None, grace).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /stuck HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let asked = tokio::time::Instant::now();
    server.stop().await;
    assert!(asked.elapsed() >= grace);
    // The connection is closed without a response.
    let mut rest = Vec::new();
    let read = tokio::time::timeout(STEP, stream.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the connection was closed");
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
}

fn certificate(dir: &Path) -> (TlsFiles, CertificateDer<'static>) {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let files = TlsFiles {
        cert_file: dir.join("tls.crt"),
        key_file: dir.join("tls.key"),
    };
    std::fs::write(&files.cert_file, generated.cert.pem()).unwrap();
    std::fs::write(&files.key_file, generated.signing_key.serialize_pem()).unwrap();
    (files, generated.cert.der().clone())
}

#[tokio::test]
async fn serves_https_with_the_loaded_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (files, trusted) = certificate(dir.path());
    let server = start(Some(tls_acceptor(&files).unwrap()), Duration::from_secs(1)).await;

    let mut roots = rustls::RootCertStore::empty();
    roots.add(trusted).unwrap();
    let mut client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    // A client that could speak h2 is told to use HTTP/1.1.
    client.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let stream = tokio::time::timeout(
        STEP,
        connector.connect(ServerName::try_from("localhost").unwrap(), tcp),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let response = exchange(stream, "/hello").await;
    assert!(response.ends_with("hello"), "{response}");

    // Plain HTTP on the TLS port gets no HTTP answer.
    let response = exchange(TcpStream::connect(server.addr).await.unwrap(), "/hello").await;
    assert!(!response.contains("hello"), "{response}");
    server.stop().await;
}

#[test]
fn certificate_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (good, _) = certificate(dir.path());
    let (other, _) = certificate(&{
        let other = dir.path().join("other");
        std::fs::create_dir(&other).unwrap();
        other
    });
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let missing = dir.path().join("missing.pem");
    let load = |cert_file: &Path, key_file: &Path| {
        tls_acceptor(&TlsFiles {
            cert_file: cert_file.to_owned(),
            key_file: key_file.to_owned(),
        })
        .err()
        .expect("loading fails")
    };

    let error = load(&missing, &good.key_file);
    assert!(matches!(error, TlsError::CertFileRead { .. }), "{error}");
    assert!(
        error.to_string().starts_with(&format!(
            "cannot read the TLS certificate file {}: ",
            missing.display()
        )),
        "{error}"
    );
    let error = load(&garbage, &good.key_file);
    assert!(matches!(error, TlsError::CertFileInvalid { .. }), "{error}");
    assert_eq!(
        error.to_string(),
        format!(
            "the TLS certificate file {} is not a PEM certificate chain: no CERTIFICATE block found",
            garbage.display()
        )
    );
    let error = load(&good.cert_file, &missing);
    assert!(matches!(error, TlsError::KeyFileRead { .. }), "{error}");
    let error = load(&good.cert_file, &good.cert_file);
    assert!(matches!(error, TlsError::KeyFileInvalid { .. }), "{error}");
    assert!(
        error
            .to_string()
            .ends_with("no PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block found"),
        "{error}"
    );
    let error = load(&good.cert_file, &other.key_file);
    assert!(matches!(error, TlsError::Config { .. }), "{error}");
    assert!(
        error.to_string().starts_with(&format!(
            "the TLS private key file {} does not fit the certificate file {}: ",
            other.key_file.display(),
            good.cert_file.display()
        )),
        "{error}"
    );
}
