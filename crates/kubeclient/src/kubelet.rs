//! One bounded HTTP GET against a node's agent or kubelet.
//!
//! [`ScrapeClient`] speaks HTTP/1.1 (what a kubelet's metrics endpoints
//! speak) with hyper's connection API over rustls with the ring provider,
//! and keeps at most one idle connection per node as a bare socket between
//! scrapes (see [`IdleConnections`] for why not hyper-util's pool). Every
//! request is bounded three ways:
//!
//! - **time**: one deadline covers connecting, the TLS handshake, the
//!   response head and the whole body, so a node that accepts and then
//!   trickles cannot hold a scrape past its timeout;
//! - **size**: a body larger than the cap is refused from its
//!   `Content-Length` without reading it, and a body without one (chunked)
//!   is read frame by frame and abandoned as soon as it passes the cap, so
//!   no more than the cap plus one frame is ever held;
//! - **status**: anything but 2xx is an error carrying the code and the
//!   first 200 bytes of the body, for the log.
//!
//! TLS trust, as metrics-server's `--kubelet-certificate-authority` and
//! `--kubelet-insecure-tls` (the two together are refused, as upstream
//! refuses them):
//!
//! - with a CA file, exactly the certificates in it;
//! - otherwise the platform's trust store (`rustls-native-certs`), which
//!   is what Go's `crypto/x509` uses when metrics-server is given no CA. It
//!   was chosen over a compiled-in Mozilla list (`webpki-roots`) because
//!   kubelet certificates are signed by cluster or corporate CAs that an
//!   operator installs into the system store, never by a public CA;
//! - in insecure mode any certificate is accepted, but the connection is
//!   still TLS (the handshake signatures are still checked, so it is
//!   encrypted to whoever holds the presented key).
//!
//! The bearer token file is read when the client is built and read again
//! whenever its metadata (modification time, size, inode) changes, because
//! kubelet-facing tokens are rotated in place (projected service-account
//! tokens are swapped through a symlink). The check is one `stat` per
//! request; a file that cannot be read keeps the last good token in use. The
//! token never appears in logs or `Debug` output.
//!
//! Every error's `Display` says what to try next where that is clear: x509
//! failures name the CA and insecure flags, a refused connection names the
//! port and the agent's loopback default, a name mismatch names the
//! address confusion metrics-server users often hit.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant as StdInstant, SystemTime};

use http_body_util::{BodyExt as _, Empty};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1;
use hyper::header::{AUTHORIZATION, CONNECTION, CONTENT_LENGTH, HOST, HeaderValue, USER_AGENT};
use hyper::{Request, Uri, Version};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder, MaybeHttpsStream};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use thiserror::Error;
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};
use tower::ServiceExt as _;

/// How the scrape client reaches nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOptions {
    /// PEM file with the CA certificates that sign the nodes' serving
    /// certificates (`--kubelet-certificate-authority`); `None` trusts the
    /// system's roots.
    pub ca_file: Option<PathBuf>,
    /// Accept any serving certificate (`--kubelet-insecure-tls`). Still TLS.
    pub insecure_tls: bool,
    /// File holding the bearer token sent to every node.
    pub token_file: Option<PathBuf>,
    /// CA certificates (DER) trusted when there is no `ca_file`: the
    /// cluster CA of the API server's kubeconfig, as metrics-server's
    /// kubelet client inherits it. Empty trusts the system's roots.
    pub cluster_ca_der: Vec<Vec<u8>>,
    /// A client certificate presented to every node
    /// (`--kubelet-client-certificate` / `--kubelet-client-key`).
    pub client_identity: Option<ClientIdentity>,
    /// The largest body [`ScrapeClient::get`] accepts.
    pub max_body_bytes: usize,
}

/// A client certificate chain and its key, PEM.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// Where it came from, for messages (a file name, or `kubeconfig`).
    pub source: String,
    /// Certificate chain, leaf first.
    pub cert_pem: Vec<u8>,
    /// The leaf's private key.
    pub key_pem: Vec<u8>,
}

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key.
        f.debug_struct("ClientIdentity")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl ClientOptions {
    /// The default body cap: a `/metrics/resource` body of a node with 110
    /// pods is about 100 KiB, so 4 MiB leaves room for the largest nodes
    /// while bounding what a misbehaving one can make the server hold.
    pub const DEFAULT_MAX_BODY_BYTES: usize = 4 << 20;
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            ca_file: None,
            insecure_tls: false,
            token_file: None,
            cluster_ca_der: Vec::new(),
            client_identity: None,
            max_body_bytes: Self::DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// The client cannot be built from its options.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Both a CA file and insecure mode were asked for.
    #[error(
        "cannot use both --kubelet-certificate-authority and --kubelet-insecure-tls: give the CA to verify nodes, or skip verification, not both"
    )]
    CaAndInsecure,
    /// The CA file cannot be read.
    #[error("cannot read the kubelet CA file {path}: {source}")]
    CaFileRead {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The CA file holds no usable certificate.
    #[error(
        "the kubelet CA file {path} {problem}; it must hold the PEM certificate(s) (-----BEGIN CERTIFICATE-----) of the CA that signs the nodes' serving certificates"
    )]
    CaFileInvalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// The token file cannot be read.
    #[error("cannot read the bearer token file {path}: {source}")]
    TokenFileRead {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The token file's content is not a usable token.
    #[error("the bearer token file {path} {problem}")]
    TokenFileInvalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The client certificate or key is not usable.
    #[error(
        "the kubelet client certificate ({source_name}) cannot be used: {problem}; give a PEM certificate and its PEM private key"
    )]
    ClientIdentity {
        /// Where it came from.
        source_name: String,
        /// What is wrong.
        problem: String,
    },
    /// rustls refused the configuration.
    #[error("cannot set up TLS: {0}")]
    Tls(#[from] rustls::Error),
}

/// Why a node's TLS handshake failed, for the hint in the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsFailure {
    /// The certificate is signed by a CA that is not trusted.
    UnknownIssuer,
    /// The certificate does not name the host of the URL.
    WrongName,
    /// The certificate expired or is not valid yet.
    Expired,
    /// Some other problem with the certificate.
    Certificate,
    /// The other side does not speak TLS.
    NotTls,
    /// Anything else in the handshake.
    Handshake,
}

impl TlsFailure {
    fn hint(self) -> &'static str {
        match self {
            TlsFailure::UnknownIssuer => {
                "the node's serving certificate is signed by an unknown authority: pass the CA that signs it with --kubelet-certificate-authority, or skip verification with --kubelet-insecure-tls (testing only)"
            }
            TlsFailure::WrongName => {
                "the node's serving certificate is not issued for the host in the URL: use a name or address the certificate lists (a kubelet's usually lists the node's hostname and InternalIP, not every address of the node), or --kubelet-insecure-tls (testing only)"
            }
            TlsFailure::Expired => {
                "the node's serving certificate has expired or is not valid yet: check the clocks of both machines and renew the certificate, or use --kubelet-insecure-tls (testing only)"
            }
            TlsFailure::Certificate => {
                "the node's serving certificate was rejected: check it, pass its CA with --kubelet-certificate-authority, or use --kubelet-insecure-tls (testing only)"
            }
            TlsFailure::NotTls => {
                "the port does not speak TLS: if the agent serves plain HTTP there, use an http:// URL"
            }
            TlsFailure::Handshake => "the TLS handshake failed",
        }
    }
}

/// Why a connection could not be opened, for the hint in the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectFailure {
    /// Nothing accepts connections at that address and port.
    Refused,
    /// The host name does not resolve.
    Resolve,
    /// Anything else (unreachable network, reset, ...).
    Other,
}

impl ConnectFailure {
    fn hint(self) -> &'static str {
        match self {
            ConnectFailure::Refused => {
                "nothing accepts connections there: check the port (kubelets serve 10250) and that the agent listens on an address this server can reach (`workingset agent` listens on 127.0.0.1:10250 unless given --listen, e.g. --listen 0.0.0.0:10250)"
            }
            ConnectFailure::Resolve => {
                "the host name does not resolve here: use the node's IP address (usually its InternalIP) or a name this server can resolve"
            }
            ConnectFailure::Other => {
                "check the node's address (usually its InternalIP) and that no firewall is in the way"
            }
        }
    }
}

/// One GET failed. [`FetchError::outcome`] is the short label for metrics.
#[derive(Debug, Clone, Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The URL cannot be requested at all (outcome `connect`: nothing was
    /// sent).
    #[error("cannot request {url:?}: {reason}")]
    InvalidUrl {
        /// The URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The deadline passed.
    #[error(
        "no complete answer from {url} within {after:?} ({during}); check that the node is up and that the URL points at its agent or kubelet"
    )]
    Timeout {
        /// The URL.
        url: String,
        /// The timeout.
        after: Duration,
        /// What was still going on.
        during: &'static str,
    },
    /// No connection could be opened.
    #[error("cannot connect to {url}: {cause}; {}", .failure.hint())]
    Connect {
        /// The URL.
        url: String,
        /// The underlying error chain.
        cause: String,
        /// What kind of failure.
        failure: ConnectFailure,
    },
    /// The TLS handshake failed.
    #[error("TLS with {url} failed: {cause}; {}", .failure.hint())]
    Tls {
        /// The URL.
        url: String,
        /// The underlying error chain.
        cause: String,
        /// What kind of failure.
        failure: TlsFailure,
    },
    /// The node answered with a status other than 2xx.
    #[error("{url} answered HTTP {code}{}: {body:?}", status_hint(*.code, .body))]
    Status {
        /// The URL.
        url: String,
        /// The status code.
        code: u16,
        /// The start of the body (at most 200 bytes, lossily UTF-8).
        body: String,
    },
    /// The body is larger than the cap.
    #[error(
        "the answer of {url} is larger than {limit} bytes{}; it was not read",
        .declared.map(|n| format!(" (Content-Length {n})")).unwrap_or_default()
    )]
    TooLarge {
        /// The URL.
        url: String,
        /// The cap.
        limit: usize,
        /// The `Content-Length` the node declared, if it did.
        declared: Option<u64>,
    },
    /// The answer could not be read: the connection dropped, or what came
    /// back is not HTTP/1.
    #[error("cannot read the answer of {url}: {cause}{}", .hint.map(|h| format!("; {h}")).unwrap_or_default())]
    Body {
        /// The URL.
        url: String,
        /// The underlying error chain.
        cause: String,
        /// What to try, when it is clear.
        hint: Option<&'static str>,
    },
}

impl FetchError {
    /// A short label for metrics: `timeout`, `connect`, `tls`,
    /// `unauthorized` (401), `forbidden` (403), `http_status` (any other
    /// status), `too_large` or `body`. 401 and 403 have their own because
    /// their fixes differ (the kubelet's token webhook; RBAC).
    pub fn outcome(&self) -> &'static str {
        match self {
            FetchError::InvalidUrl { .. } | FetchError::Connect { .. } => "connect",
            FetchError::Timeout { .. } => "timeout",
            FetchError::Tls { .. } => "tls",
            FetchError::Status { code: 401, .. } => "unauthorized",
            FetchError::Status { code: 403, .. } => "forbidden",
            FetchError::Status { .. } => "http_status",
            FetchError::TooLarge { .. } => "too_large",
            FetchError::Body { .. } => "body",
        }
    }
}

fn status_hint(code: u16, body: &str) -> &'static str {
    match code {
        // Go's TLS server answers plain HTTP with this 400.
        400 if body.contains("HTTPS server") => " (that port serves HTTPS: use an https:// URL)",
        401 => " (the node wants a valid bearer token: check the token file)",
        403 => {
            " (the token is not allowed to read this: it needs get on nodes/metrics, nodes/stats and nodes/proxy)"
        }
        404 => " (no such path there: is the URL a kubelet or a workingset agent?)",
        503 => " (the node has no data yet; it should have some after its first pass)",
        _ => "",
    }
}

/// How many body bytes of a non-2xx answer are kept for the log.
const STATUS_BODY_PREFIX: usize = 200;
/// Idle connections are closed after this; kubelets close theirs after
/// 120 s, so closing first avoids reusing a connection being closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// A connection attempt gives up after this even when the request's own
/// deadline is later: a black-holed address would otherwise hold the
/// attempt for the kernel's SYN retries (about two minutes).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const USER_AGENT_VALUE: &str = concat!("workingset-server/", env!("CARGO_PKG_VERSION"));

/// A connection to a node, plain or TLS.
type NodeStream = MaybeHttpsStream<TokioIo<TcpStream>>;

/// A bounded HTTP(S) client for scraping nodes. Cheap to clone: clones
/// share the idle connections and the token.
#[derive(Clone)]
pub struct ScrapeClient {
    connector: HttpsConnector<HttpConnector>,
    idle: Arc<IdleConnections>,
    token: Option<Arc<TokenFile>>,
    max_body_bytes: usize,
}

impl fmt::Debug for ScrapeClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScrapeClient")
            .field("token_file", &self.token.as_ref().map(|t| &t.path))
            .field("max_body_bytes", &self.max_body_bytes)
            .finish_non_exhaustive()
    }
}

/// At most one idle connection per node (scheme and authority), kept as
/// the bare socket (or TLS stream) between scrapes.
///
/// This is why the client is not hyper-util's pooled client: that pool
/// keeps every idle connection as a running hyper connection, with its
/// task, its request channel and its read and write buffers, about 27 KiB
/// per node, which was 270 MiB of the server's memory at 10,000 nodes. Here
/// hyper's HTTP/1 connection lives only for one request
/// ([`hyper::client::conn::http1`]) and hands its stream back when the
/// response is complete, so an idle node costs its socket. The server asks
/// a node one thing at a time, so one idle connection per node is reused
/// all along; a second one, opened when two requests overlap (a node's
/// first inventory reads its pods and its capacity together), is closed
/// rather than kept.
#[derive(Default)]
struct IdleConnections {
    state: Mutex<IdleState>,
}

#[derive(Default)]
struct IdleState {
    by_origin: HashMap<Box<str>, IdleConnection>,
    last_sweep: Option<StdInstant>,
}

struct IdleConnection {
    stream: IdleStream,
    since: StdInstant,
}

/// A stream kept between requests: a plain socket as it is (a few words),
/// a TLS stream boxed (its session state is over a KiB inline).
enum IdleStream {
    Plain(TokioIo<TcpStream>),
    Tls(Box<NodeStream>),
}

impl From<NodeStream> for IdleStream {
    fn from(stream: NodeStream) -> Self {
        match stream {
            MaybeHttpsStream::Http(plain) => IdleStream::Plain(plain),
            tls @ MaybeHttpsStream::Https(_) => IdleStream::Tls(Box::new(tls)),
        }
    }
}

impl From<IdleStream> for NodeStream {
    fn from(stream: IdleStream) -> Self {
        match stream {
            IdleStream::Plain(plain) => MaybeHttpsStream::Http(plain),
            IdleStream::Tls(tls) => *tls,
        }
    }
}

impl IdleConnections {
    /// The idle connection to `origin`, if one is there and young enough.
    fn take(&self, origin: &str) -> Option<NodeStream> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let idle = state.by_origin.remove(origin)?;
        (idle.since.elapsed() < IDLE_TIMEOUT).then(|| idle.stream.into())
    }

    /// Keeps `stream` for the next request to `origin`. Now and then the
    /// connections of nodes that are no longer asked are closed.
    fn put(&self, origin: &str, stream: IdleStream) {
        let now = StdInstant::now();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state
            .last_sweep
            .is_none_or(|last| now.duration_since(last) >= IDLE_TIMEOUT / 3)
        {
            state
                .by_origin
                .retain(|_, idle| now.duration_since(idle.since) < IDLE_TIMEOUT);
            state.last_sweep = Some(now);
        }
        state
            .by_origin
            .insert(origin.into(), IdleConnection { stream, since: now });
    }
}

/// What one request on one connection came to.
enum Exchange {
    /// A complete answer; the stream, when it can carry another request.
    Done(Result<Vec<u8>, FetchError>, Option<IdleStream>),
    /// The connection failed before any answer: on a reused connection,
    /// the node most likely closed it while it was idle.
    NoAnswer(FetchError),
}

impl ScrapeClient {
    /// Builds the client: TLS trust and the token are read now, so that a
    /// bad file fails the start rather than every scrape.
    pub fn new(options: &ClientOptions) -> Result<Self, ClientError> {
        if options.insecure_tls && options.ca_file.is_some() {
            return Err(ClientError::CaAndInsecure);
        }
        let tls = tls_config(options)?;
        let mut http = HttpConnector::new();
        // The https connector decides the scheme; plain HttpConnector would
        // refuse https URIs before it gets to wrap them.
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let token = options
            .token_file
            .as_deref()
            .map(TokenFile::load)
            .transpose()?
            .map(Arc::new);
        Ok(Self {
            connector,
            idle: Arc::default(),
            token,
            max_body_bytes: options.max_body_bytes,
        })
    }

    /// GETs `url` with the client's body cap.
    pub async fn get(&self, url: &str, timeout: Duration) -> Result<Vec<u8>, FetchError> {
        self.get_limited(url, timeout, self.max_body_bytes).await
    }

    /// GETs `url` with its own body cap (for the much larger
    /// `/metrics/cadvisor`).
    pub async fn get_limited(
        &self,
        url: &str,
        timeout: Duration,
        max_body_bytes: usize,
    ) -> Result<Vec<u8>, FetchError> {
        let deadline = Instant::now() + timeout;
        let invalid = |reason: String| FetchError::InvalidUrl {
            url: url.to_owned(),
            reason,
        };
        let uri: Uri = url.parse().map_err(|e| invalid(format!("{e}")))?;
        let origin = match (uri.scheme_str(), uri.authority()) {
            (Some(scheme @ ("http" | "https")), Some(authority)) => {
                format!("{scheme}://{authority}")
            }
            (Some(scheme), Some(_)) => {
                return Err(invalid(format!(
                    "unsupported scheme {scheme:?}: use http:// or https://"
                )));
            }
            _ => return Err(invalid("the URL needs a scheme and a host".to_owned())),
        };
        let timed_out = |during| FetchError::Timeout {
            url: url.to_owned(),
            after: timeout,
            during,
        };
        let mut reused = self.idle.take(&origin);
        loop {
            let was_reused = reused.is_some();
            let stream = match reused.take() {
                Some(stream) => stream,
                // Boxed, as the exchange below: a caller that holds many
                // requests not yet started (a tick's nodes waiting for their
                // turn) then holds small futures, not these state machines.
                None => timeout_at(
                    deadline,
                    Box::pin(self.connector.clone().oneshot(uri.clone())),
                )
                .await
                .map_err(|_| timed_out("connecting or waiting for the response head"))?
                .map_err(|error| classify_connect(url, error.as_ref()))?,
            };
            let request = self.request(&uri).map_err(|e| invalid(format!("{e}")))?;
            let head_received = AtomicBool::new(false);
            let exchange = Box::pin(exchange(
                url,
                stream,
                request,
                max_body_bytes,
                deadline,
                &head_received,
            ));
            match timeout_at(deadline, exchange).await {
                Err(_) if head_received.load(Ordering::Relaxed) => {
                    return Err(timed_out("reading the body"));
                }
                Err(_) => return Err(timed_out("connecting or waiting for the response head")),
                Ok(Exchange::NoAnswer(_)) if was_reused => {
                    tracing::debug!(
                        url,
                        "An idle connection was closed by the node; reconnecting"
                    );
                }
                Ok(Exchange::NoAnswer(error)) => return Err(error),
                Ok(Exchange::Done(result, stream)) => {
                    if let Some(stream) = stream {
                        self.idle.put(&origin, stream);
                    }
                    return result;
                }
            }
        }
    }

    fn request(&self, uri: &Uri) -> Result<Request<Empty<Bytes>>, hyper::http::Error> {
        // HTTP/1 on a connection of its own asks for the path only.
        let target = uri
            .path_and_query()
            .map_or("/", hyper::http::uri::PathAndQuery::as_str);
        let mut request = Request::get(target).header(USER_AGENT, USER_AGENT_VALUE);
        if let Some(host) = uri.authority() {
            request = request.header(HOST, host.as_str());
        }
        if let Some(token) = &self.token {
            request = request.header(AUTHORIZATION, token.header());
        }
        request.body(Empty::new())
    }
}

/// One GET on `stream`: hyper's HTTP/1 connection is driven beside the
/// request and, once the answer is complete, gives the stream back if it
/// can carry another request (HTTP/1.1 without `Connection: close`, nothing
/// left unread).
async fn exchange(
    url: &str,
    stream: NodeStream,
    request: Request<Empty<Bytes>>,
    max_body_bytes: usize,
    deadline: Instant,
    head_received: &AtomicBool,
) -> Exchange {
    let (mut sender, mut connection) = match http1::handshake(stream).await {
        Ok(parts) => parts,
        Err(error) => return Exchange::NoAnswer(classify(url, &error)),
    };
    let conversation = async move {
        let response = match sender.send_request(request).await {
            Ok(response) => response,
            Err(error) => return Err(Exchange::NoAnswer(classify(url, &error))),
        };
        head_received.store(true, Ordering::Relaxed);
        let reusable = response.version() == Version::HTTP_11
            && !response
                .headers()
                .get_all(CONNECTION)
                .iter()
                .any(|value| value.as_bytes().eq_ignore_ascii_case(b"close"));
        let answer = read_answer(url, response, max_body_bytes, deadline).await;
        Ok((answer, reusable))
    };
    let mut conversation = std::pin::pin!(conversation);
    // The connection is polled until the conversation is over; its end
    // (an error, or the node closing) shows in the conversation too.
    let mut connection_done = None;
    let outcome = loop {
        tokio::select! {
            outcome = &mut conversation => break outcome,
            done = std::future::poll_fn(|cx| connection.poll_without_shutdown(cx)), if connection_done.is_none() => {
                connection_done = Some(done.is_ok());
            }
        }
    };
    let (result, reusable) = match outcome {
        Ok(answer) => answer,
        Err(no_answer) => return no_answer,
    };
    if !(reusable && result.is_ok()) {
        return Exchange::Done(result, None);
    }
    // The sender is gone with the conversation, so an idle connection
    // finishes at once.
    let finished = match connection_done {
        Some(finished) => finished,
        None => std::future::poll_fn(|cx| connection.poll_without_shutdown(cx))
            .await
            .is_ok(),
    };
    let parts = connection.into_parts();
    let stream = (finished && parts.read_buf.is_empty()).then(|| parts.io.into());
    Exchange::Done(result, stream)
}

/// A response's body, or the error it stands for (a status other than
/// 2xx, a body over the cap, a broken body).
async fn read_answer(
    url: &str,
    response: hyper::Response<Incoming>,
    max_body_bytes: usize,
    deadline: Instant,
) -> Result<Vec<u8>, FetchError> {
    let status = response.status();
    if !status.is_success() {
        // The code matters more than the body: a body that does not arrive
        // in time leaves the message without it. (This inner deadline is
        // the request's own; tokio polls the inner future first, so it
        // ends the read before the exchange's timeout would.)
        let body = timeout_at(deadline, read_prefix(response.into_body()))
            .await
            .unwrap_or_default();
        return Err(FetchError::Status {
            url: url.to_owned(),
            code: status.as_u16(),
            body,
        });
    }
    let declared = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = |declared| FetchError::TooLarge {
        url: url.to_owned(),
        limit: max_body_bytes,
        declared,
    };
    if let Some(length) = declared
        && length > max_body_bytes as u64
    {
        return Err(too_large(declared));
    }
    let initial = declared.map_or(0, |n| usize::try_from(n).unwrap_or(max_body_bytes));
    match read_capped(response.into_body(), max_body_bytes, initial).await {
        Ok(body) => Ok(body),
        Err(ReadError::TooLarge) => Err(too_large(declared)),
        Err(ReadError::Body(error)) => Err(FetchError::Body {
            url: url.to_owned(),
            cause: error_chain(&error),
            hint: None,
        }),
    }
}

enum ReadError {
    TooLarge,
    Body(hyper::Error),
}

/// The body, refused as soon as it passes `max` bytes.
async fn read_capped(mut body: Incoming, max: usize, initial: usize) -> Result<Vec<u8>, ReadError> {
    let mut out = Vec::with_capacity(initial.min(max));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(ReadError::Body)?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > max {
                return Err(ReadError::TooLarge);
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out)
}

/// The first [`STATUS_BODY_PREFIX`] bytes of a body, for an error message.
async fn read_prefix(mut body: Incoming) -> String {
    let mut out = Vec::new();
    while out.len() < STATUS_BODY_PREFIX {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    out.extend_from_slice(&data);
                }
            }
            Some(Err(_)) | None => break,
        }
    }
    out.truncate(STATUS_BODY_PREFIX);
    String::from_utf8_lossy(&out).trim_end().to_owned()
}

/// Sorts an error from opening a connection (TCP, then TLS).
fn classify_connect(url: &str, error: &(dyn StdError + Send + Sync + 'static)) -> FetchError {
    let error: &(dyn StdError + 'static) = error;
    let causes = causes(error);
    let cause = error_chain(error);
    if let Some(failure) = tls_failure_in(&causes) {
        return FetchError::Tls {
            url: url.to_owned(),
            cause,
            failure,
        };
    }
    let refused = causes.iter().any(|e| {
        e.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::ConnectionRefused)
    });
    // hyper-util reports resolver failures as "dns error".
    let failure = if refused {
        ConnectFailure::Refused
    } else if causes.iter().any(|e| e.to_string().contains("dns error")) {
        ConnectFailure::Resolve
    } else {
        ConnectFailure::Other
    };
    FetchError::Connect {
        url: url.to_owned(),
        cause,
        failure,
    }
}

/// Sorts an error of an open connection: sending the request or reading
/// the answer.
fn classify(url: &str, error: &hyper::Error) -> FetchError {
    let causes = causes(error);
    let cause = error_chain(error);
    if let Some(failure) = tls_failure_in(&causes) {
        return FetchError::Tls {
            url: url.to_owned(),
            cause,
            failure,
        };
    }
    let not_http = error.is_parse();
    // A TLS server given plain HTTP either answers garbage or hangs up.
    let hung_up = error.is_incomplete_message();
    let hint = if (not_http || hung_up) && url.starts_with("http://") {
        Some("if that port serves HTTPS, use an https:// URL")
    } else if not_http {
        Some("the answer is not HTTP/1: check that the URL points at an agent or kubelet")
    } else {
        None
    };
    FetchError::Body {
        url: url.to_owned(),
        cause,
        hint,
    }
}

/// What failed in TLS, when a rustls error is among `causes`.
fn tls_failure_in(causes: &[&(dyn StdError + 'static)]) -> Option<TlsFailure> {
    causes
        .iter()
        .find_map(|e| e.downcast_ref::<rustls::Error>())
        .map(tls_failure)
}

fn tls_failure(error: &rustls::Error) -> TlsFailure {
    match error {
        rustls::Error::InvalidCertificate(certificate) => match certificate {
            CertificateError::UnknownIssuer => TlsFailure::UnknownIssuer,
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                TlsFailure::WrongName
            }
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => TlsFailure::Expired,
            _ => TlsFailure::Certificate,
        },
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            TlsFailure::NotTls
        }
        _ => TlsFailure::Handshake,
    }
}

/// Every error in the chain, looking inside `io::Error`s too: their
/// `source()` skips the error they wrap, which is where rustls' and the
/// socket's errors sit.
fn causes<'a>(error: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut out = Vec::new();
    let mut next = Some(error);
    while let Some(current) = next {
        out.push(current);
        next = match current
            .downcast_ref::<io::Error>()
            .and_then(io::Error::get_ref)
        {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => current.source(),
        };
    }
    out
}

/// The chain as one line, each message once (wrappers often repeat the
/// message of what they wrap).
fn error_chain(error: &(dyn StdError + 'static)) -> String {
    let mut line = String::new();
    for cause in causes(error) {
        let text = cause.to_string();
        if text.is_empty() || line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

fn tls_config(options: &ClientOptions) -> Result<ClientConfig, ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()?;
    if options.insecure_tls {
        let builder = builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate { provider }));
        return match &options.client_identity {
            None => Ok(builder.with_no_client_auth()),
            Some(identity) => {
                let (chain, key) = identity_parts(identity)?;
                builder.with_client_auth_cert(chain, key).map_err(|error| {
                    ClientError::ClientIdentity {
                        source_name: identity.source.clone(),
                        problem: error.to_string(),
                    }
                })
            }
        };
    }
    let roots = match &options.ca_file {
        Some(path) => roots_from_file(path)?,
        None if !options.cluster_ca_der.is_empty() => {
            let mut roots = RootCertStore::empty();
            let (_, ignored) = roots.add_parsable_certificates(
                options
                    .cluster_ca_der
                    .iter()
                    .map(|der| CertificateDer::from(der.clone())),
            );
            if ignored > 0 {
                tracing::warn!(ignored, "Some cluster CA certificates cannot be used");
            }
            roots
        }
        None => system_roots(),
    };
    let builder = builder.with_root_certificates(roots);
    match &options.client_identity {
        None => Ok(builder.with_no_client_auth()),
        Some(identity) => {
            let (chain, key) = identity_parts(identity)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|error| ClientError::ClientIdentity {
                    source_name: identity.source.clone(),
                    problem: error.to_string(),
                })
        }
    }
}

type IdentityParts = (
    Vec<CertificateDer<'static>>,
    rustls_pki_types::PrivateKeyDer<'static>,
);

fn identity_parts(identity: &ClientIdentity) -> Result<IdentityParts, ClientError> {
    let invalid = |problem: String| ClientError::ClientIdentity {
        source_name: identity.source.clone(),
        problem,
    };
    let chain = CertificateDer::pem_slice_iter(&identity.cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("the certificate is not valid PEM ({e})")))?;
    if chain.is_empty() {
        return Err(invalid("no CERTIFICATE block found".to_owned()));
    }
    let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(&identity.key_pem)
        .map_err(|e| invalid(format!("the private key is not usable PEM ({e})")))?;
    Ok((chain, key))
}

fn roots_from_file(path: &Path) -> Result<RootCertStore, ClientError> {
    let pem = std::fs::read(path).map_err(|source| ClientError::CaFileRead {
        path: path.to_owned(),
        source,
    })?;
    let invalid = |problem: String| ClientError::CaFileInvalid {
        path: path.to_owned(),
        problem,
    };
    let mut roots = RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(&pem) {
        let certificate = certificate.map_err(|e| invalid(format!("is not valid PEM ({e})")))?;
        roots
            .add(certificate)
            .map_err(|e| invalid(format!("holds a certificate that cannot be used ({e})")))?;
    }
    if roots.is_empty() {
        return Err(invalid("holds no certificate".to_owned()));
    }
    Ok(roots)
}

fn system_roots() -> RootCertStore {
    let found = rustls_native_certs::load_native_certs();
    for error in &found.errors {
        tracing::warn!(%error, "Cannot read part of the system's trusted CA certificates");
    }
    let mut roots = RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(found.certs);
    if ignored > 0 {
        tracing::debug!(
            ignored,
            "Some system CA certificates cannot be used by rustls"
        );
    }
    if added == 0 {
        tracing::warn!(
            "No trusted CA certificates found on this system: https:// nodes will fail verification unless --kubelet-certificate-authority is given"
        );
    }
    roots
}

/// `--kubelet-insecure-tls`: every certificate is accepted, but the
/// handshake signatures are still verified, so the session is encrypted
/// to whoever holds the presented certificate's key.
#[derive(Debug)]
struct AcceptAnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The token file and the header built from its last good content.
struct TokenFile {
    path: PathBuf,
    state: Mutex<TokenState>,
}

struct TokenState {
    /// The metadata of the file when `header` was read (or when reading it
    /// last failed, so that a broken file is reported once, not per request).
    stamp: Option<FileStamp>,
    header: HeaderValue,
}

/// What changes when a file is rewritten or swapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
    device: u64,
    inode: u64,
}

impl FileStamp {
    fn of(path: &Path) -> io::Result<Self> {
        use std::os::unix::fs::MetadataExt as _;
        let metadata = std::fs::metadata(path)?;
        Ok(Self {
            modified: metadata.modified().ok(),
            len: metadata.len(),
            device: metadata.dev(),
            inode: metadata.ino(),
        })
    }
}

impl fmt::Debug for TokenFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenFile")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl TokenFile {
    fn load(path: &Path) -> Result<Self, ClientError> {
        let stamp = FileStamp::of(path).ok();
        let header = read_token(path)?;
        Ok(Self {
            path: path.to_owned(),
            state: Mutex::new(TokenState { stamp, header }),
        })
    }

    /// The `Authorization` value, re-reading the file if it changed.
    fn header(&self) -> HeaderValue {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        // A missing file mid-rotation keeps the old token until the new
        // one is in place.
        if let Ok(stamp) = FileStamp::of(&self.path)
            && state.stamp != Some(stamp)
        {
            state.stamp = Some(stamp);
            match read_token(&self.path) {
                Ok(header) => {
                    tracing::info!(path = %self.path.display(), "Bearer token file changed; using the new token");
                    state.header = header;
                }
                Err(error) => {
                    tracing::warn!(%error, "Bearer token file changed but cannot be used; keeping the previous token");
                }
            }
        }
        state.header.clone()
    }
}

/// `Bearer <token>` from the file: surrounding whitespace ignored, the
/// token itself visible ASCII (what a header can carry).
fn read_token(path: &Path) -> Result<HeaderValue, ClientError> {
    let bytes = std::fs::read(path).map_err(|source| ClientError::TokenFileRead {
        path: path.to_owned(),
        source,
    })?;
    let invalid = |problem| ClientError::TokenFileInvalid {
        path: path.to_owned(),
        problem,
    };
    let token = bytes.trim_ascii();
    if token.is_empty() {
        return Err(invalid("is empty"));
    }
    if !token.iter().all(u8::is_ascii_graphic) {
        return Err(invalid(
            "holds whitespace, control or non-ASCII characters inside the token",
        ));
    }
    let mut value = Vec::with_capacity(7 + token.len());
    value.extend_from_slice(b"Bearer ");
    value.extend_from_slice(token);
    let mut header = HeaderValue::from_bytes(&value)
        .map_err(|_| invalid("holds characters a header cannot carry"))?;
    header.set_sensitive(true);
    Ok(header)
}

/// A scripted HTTP(S) peer for client tests (here and in the server's).
#[cfg(any(test, feature = "test-server"))]
pub mod test_server;
#[cfg(test)]
mod tests;
