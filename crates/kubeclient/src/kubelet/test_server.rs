//! Loopback HTTP(S) servers for the scrape-side tests: each connection's
//! request head is recorded and answered with raw bytes the test chooses,
//! so tests can send what no well-behaved server would (a lying
//! `Content-Length`, a body that never ends, no answer at all).
//!
//! A server binds 127.0.0.1:0 and is stopped, with every connection task,
//! when it is dropped.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

/// How a connection is answered.
#[derive(Debug, Clone)]
pub enum Reply {
    /// These bytes, then the connection is closed.
    Bytes(Vec<u8>),
    /// These bytes, then nothing more, the connection held open.
    ThenHang(Vec<u8>),
}

impl Reply {
    /// A complete response with `Content-Length`.
    pub fn status(code: u16, content_type: &str, body: &[u8]) -> Self {
        let mut out = format!(
            "HTTP/1.1 {code} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(body);
        Reply::Bytes(out)
    }

    /// `200 OK` with `body`.
    pub fn ok(content_type: &str, body: &[u8]) -> Self {
        Self::status(200, content_type, body)
    }

    /// A complete chunked response, `body` in chunks of `chunk` bytes.
    pub fn chunked(body: &[u8], chunk: usize) -> Vec<u8> {
        let mut out =
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n".to_vec();
        out.extend(chunks(body, chunk));
        out.extend_from_slice(b"0\r\n\r\n");
        out
    }
}

/// `body` as HTTP/1.1 chunks, without the final empty chunk.
pub fn chunks(body: &[u8], chunk: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in body.chunks(chunk) {
        out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    out
}

type Handler = Arc<dyn Fn(&str) -> Reply + Send + Sync>;

/// A running test server.
#[allow(missing_debug_implementations)]
pub struct TestServer {
    addr: SocketAddr,
    heads: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // Dropping the accept task drops its JoinSet, which aborts every
        // connection task.
        self.task.abort();
    }
}

impl TestServer {
    /// Plain HTTP; `handler` gets each request head (request line and
    /// headers, lowercased header names as sent).
    pub async fn http(handler: impl Fn(&str) -> Reply + Send + Sync + 'static) -> Self {
        Self::start(None, Arc::new(handler)).await
    }

    /// HTTPS with `acceptor`.
    pub async fn https(
        acceptor: TlsAcceptor,
        handler: impl Fn(&str) -> Reply + Send + Sync + 'static,
    ) -> Self {
        Self::start(Some(acceptor), Arc::new(handler)).await
    }

    async fn start(tls: Option<TlsAcceptor>, handler: Handler) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&heads);
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let handler = Arc::clone(&handler);
                let recorded = Arc::clone(&recorded);
                let tls = tls.clone();
                connections.spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            // A failed handshake is what some tests want.
                            if let Ok(stream) = acceptor.accept(stream).await {
                                answer(stream, &*handler, &recorded).await;
                            }
                        }
                        None => answer(stream, &*handler, &recorded).await,
                    }
                });
                // Reap finished connections so the set stays small.
                while connections.try_join_next().is_some() {}
            }
        });
        Self { addr, heads, task }
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:port` (or `https://`) followed by `path`.
    pub fn url(&self, scheme: &str, path: &str) -> String {
        format!("{scheme}://{}{path}", self.addr)
    }

    /// The request heads received so far.
    pub fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

async fn answer<S>(
    mut stream: S,
    handler: &(dyn Fn(&str) -> Reply + Send + Sync),
    heads: &Mutex<Vec<String>>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut head = Vec::new();
    let mut buffer = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buffer[..n]),
        }
        // A TLS ClientHello (record type 22) to a plain server: answer as
        // HTTP servers do to bytes that are not HTTP.
        if head.first() == Some(&0x16) {
            let _ = stream
                .write_all(b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n")
                .await;
            let _ = stream.shutdown().await;
            return;
        }
        if head.len() > 64 * 1024 {
            return;
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    heads.lock().unwrap().push(head.clone());
    match handler(&head) {
        Reply::Bytes(bytes) => {
            let _ = stream.write_all(&bytes).await;
            let _ = stream.shutdown().await;
        }
        Reply::ThenHang(bytes) => {
            let _ = stream.write_all(&bytes).await;
            let _ = stream.flush().await;
            // Held until the server is dropped (which aborts this task).
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
    }
}

/// The request path of a recorded head.
pub fn path_of(head: &str) -> &str {
    head.split(' ').nth(1).unwrap_or("")
}

/// A CA and a serving certificate it signed, as files and a TLS acceptor.
#[allow(missing_debug_implementations)]
pub struct Pki {
    /// The CA certificate, PEM.
    pub ca_pem: String,
    /// An acceptor serving the leaf certificate.
    pub acceptor: TlsAcceptor,
}

impl Pki {
    /// A fresh CA and a leaf for `names` (DNS names or IP addresses).
    pub fn new(names: &[&str]) -> Self {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "workingset test CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf_key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let leaf = CertificateParams::new(names)
            .unwrap()
            .signed_by(&leaf_key, &issuer)
            .unwrap();
        let key = rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der()).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone()], key)
        .unwrap();
        Self {
            ca_pem: ca_cert.pem(),
            acceptor: TlsAcceptor::from(Arc::new(config)),
        }
    }
}
