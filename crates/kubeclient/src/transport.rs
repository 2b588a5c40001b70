//! Sending kubectl's requests and failing the way kubectl fails.
//!
//! The HTTP client is kube's (its TLS setup from the kubeconfig, its
//! authentication layers: bearer token, token file, client certificate,
//! exec plugin), assembled here around one extra piece: a connector that
//! remembers the bytes the server sent since the request went out. Go's
//! HTTP client quotes a malformed status line in its error
//! (`malformed HTTP response "hello"`); hyper does not, so the error is
//! rebuilt from those bytes.
//!
//! client-go's request loop is reproduced on top: a GET that fails with an
//! EOF or a reset connection, or that is answered 429/5xx with a
//! `Retry-After` header, is retried up to ten times (one second apart, or
//! after the server's delay), and `--request-timeout` bounds the whole
//! request, retries included. Failures that never reach an HTTP response
//! are worded as kubectl's `StandardErrorMessage` words Go's errors.

use std::fmt::Write as _;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Uri, header};
use http_body_util::BodyExt as _;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioExecutor;
use kube::client::{Body, ConfigExt as _};
use tokio::time::Instant;
use tower::{BoxError, Service, ServiceBuilder};
use workingset_model::selector::GoQuoted;
use workingset_top::{KubectlVersion, SourceError};

/// What Go's dialer waits for a TCP connection (client-go's default).
const DIAL_TIMEOUT: Duration = Duration::from_secs(30);
/// client-go's `maxRetries` for GET requests.
const MAX_RETRIES: u32 = 10;
/// client-go's wait before retrying after an EOF or a reset connection.
const RETRY_DELAY: Duration = Duration::from_secs(1);
/// How much of an answer is kept to word a malformed one.
const PROBE_LIMIT: usize = 4096;

/// An HTTP answer, whatever its status.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status code.
    pub status: u16,
    /// `Content-Type`, when sent.
    pub content_type: Option<String>,
    /// `Retry-After` in whole seconds, when sent and numeric.
    pub retry_after: Option<i64>,
    /// The whole body.
    pub body: Vec<u8>,
}

/// The bytes the server sent since the last request was written.
#[derive(Debug, Clone, Default)]
struct Probe(Arc<Mutex<Vec<u8>>>);

impl Probe {
    fn request_written(&self) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    fn answer_read(&self, bytes: &[u8]) {
        let mut seen = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let room = PROBE_LIMIT.saturating_sub(seen.len());
        seen.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn seen(&self) -> Vec<u8> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// A connection whose reads are remembered by a [`Probe`].
#[derive(Debug)]
struct ProbedIo<T> {
    inner: T,
    probe: Probe,
}

impl<T: hyper::rt::Read + Unpin> hyper::rt::Read for ProbedIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // Read into our own buffer first: the cursor's filled part cannot be
        // looked at without unsafe code.
        let mut scratch = [0u8; 16 * 1024];
        let limit = buf.remaining().min(scratch.len());
        let mut local = hyper::rt::ReadBuf::new(&mut scratch[..limit]);
        match Pin::new(&mut this.inner).poll_read(cx, local.unfilled()) {
            Poll::Ready(Ok(())) => {
                let filled = local.filled();
                this.probe.answer_read(filled);
                buf.put_slice(filled);
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

impl<T: hyper::rt::Write + Unpin> hyper::rt::Write for ProbedIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.probe.request_written();
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.probe.request_written();
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }
}

impl<T: Connection> Connection for ProbedIo<T> {
    fn connected(&self) -> Connected {
        self.inner.connected()
    }
}

/// A connector whose connections are [`ProbedIo`].
#[derive(Debug, Clone)]
struct ProbedConnector<C> {
    inner: C,
    probe: Probe,
}

type ConnectFuture<T> = Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send>>;

impl<C> Service<Uri> for ProbedConnector<C>
where
    C: Service<Uri> + Send,
    C::Future: Send + 'static,
    C::Response: Send + 'static,
    C::Error: Into<BoxError>,
{
    type Response = ProbedIo<C::Response>;
    type Error = BoxError;
    type Future = ConnectFuture<Self::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        let probe = self.probe.clone();
        Box::pin(async move {
            let inner = connecting.await.map_err(Into::into)?;
            Ok(ProbedIo { inner, probe })
        })
    }
}

/// kube's client for one API server, with what is needed to word failures
/// as kubectl does.
#[derive(Clone)]
pub struct ApiClient {
    client: kube::Client,
    probe: Probe,
    /// `host[:port]` of the server URL, as kubectl names it in "connection
    /// refused".
    host: String,
    /// The name the server's certificate must cover: `--tls-server-name`,
    /// else the server's host.
    tls_name: String,
    /// `--request-timeout`, when more than zero.
    timeout: Option<Duration>,
    /// The kubectl release imitated: how a timeout is worded changed in 1.32.
    kubectl: KubectlVersion,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("host", &self.host)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl ApiClient {
    /// Builds the client. Must run inside the tokio runtime that will send
    /// the requests (kube spawns its request buffer there).
    pub fn new(
        config: &kube::Config,
        timeout: Option<Duration>,
        kubectl: KubectlVersion,
    ) -> Result<Self, SourceError> {
        let probe = Probe::default();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(DIAL_TIMEOUT));
        let https = config
            .rustls_https_connector_with_connector(http)
            .map_err(|e| SourceError::Other(e.to_string()))?;
        let connector = ProbedConnector {
            inner: https,
            probe: probe.clone(),
        };
        let http_client: hyper_util::client::legacy::Client<_, Body> =
            hyper_util::client::legacy::Builder::new(TokioExecutor::new()).build(connector);
        let auth = config
            .auth_layer()
            .map_err(|e| SourceError::Other(e.to_string()))?;
        let headers = config
            .extra_headers_layer()
            .map_err(|e| SourceError::Other(e.to_string()))?;
        let service = ServiceBuilder::new()
            .layer(config.base_uri_layer())
            .option_layer(auth)
            .layer(headers)
            .map_err(BoxError::from)
            .service(http_client);
        let client = kube::Client::new(service, config.default_namespace.clone());
        let host = config
            .cluster_url
            .authority()
            .map(|a| a.as_str().rsplit('@').next().unwrap_or_default().to_owned())
            .unwrap_or_default();
        let tls_name = config
            .tls_server_name
            .clone()
            .unwrap_or_else(|| host_without_port(&host).to_owned());
        Ok(Self {
            client,
            probe,
            tls_name,
            host,
            timeout,
            kubectl,
        })
    }

    /// `GET path_and_query` with `Accept: accept`, retried as client-go
    /// retries; any HTTP answer is returned, transport failures are
    /// kubectl's messages.
    ///
    /// `--request-timeout` bounds each attempt (Go's `http.Client.Timeout`);
    /// with `whole_request` it also bounds the request with its retries (the
    /// request context client-go sets, except for typed lists, whose
    /// generated code resets it).
    pub async fn get(
        &self,
        path_and_query: &str,
        accept: &str,
        whole_request: bool,
    ) -> Result<Answer, SourceError> {
        let deadline = self
            .timeout
            .filter(|_| whole_request)
            .map(|timeout| Instant::now() + timeout);
        let mut attempt = 0;
        loop {
            let attempt_deadline = self.timeout.map(|timeout| {
                let own = Instant::now() + timeout;
                deadline.map_or(own, |whole| whole.min(own))
            });
            let outcome = self.attempt(path_and_query, accept, attempt_deadline).await;
            let wait = match &outcome {
                Ok(answer) if answer.status == 429 || answer.status >= 500 => answer
                    .retry_after
                    .map(|seconds| Duration::from_secs(u64::try_from(seconds).unwrap_or(0))),
                Ok(_) => None,
                Err(failure) if failure.retryable() => Some(RETRY_DELAY),
                Err(_) => None,
            };
            let Some(wait) = wait.filter(|_| attempt < MAX_RETRIES) else {
                return outcome
                    .map_err(|failure| failure.into_source_error(&self.host, self.kubectl));
            };
            attempt += 1;
            tracing::debug!(path_and_query, attempt, ?wait, "Retrying");
            let sleep_until = Instant::now() + wait;
            match deadline {
                Some(deadline) if deadline <= sleep_until => {
                    tokio::time::sleep_until(deadline).await;
                    // client-go waits on its rate limiter with the request's
                    // context, which has expired by now.
                    let previous = match &outcome {
                        Ok(answer) => format!("{}", answer.status),
                        Err(failure) => failure.cause(self.kubectl),
                    };
                    return Err(SourceError::Other(format!(
                        "client rate limiter Wait returned an error: context deadline exceeded - error from a previous attempt: {previous}"
                    )));
                }
                _ => tokio::time::sleep_until(sleep_until).await,
            }
        }
    }

    async fn attempt(
        &self,
        path_and_query: &str,
        accept: &str,
        deadline: Option<Instant>,
    ) -> Result<Answer, Failure> {
        let request = Request::get(path_and_query)
            .header(header::ACCEPT, accept)
            .header(header::USER_AGENT, user_agent())
            .body(Body::empty())
            .map_err(|e| Failure::Other(e.to_string()))?;
        let response = match with_deadline(deadline, self.client.send(request)).await {
            None => return Err(Failure::TimeoutAwaitingHeaders),
            Some(Err(error)) => return Err(self.classify(&error)),
            Some(Ok(response)) => response,
        };
        let status = response.status().as_u16();
        let headers = response.headers();
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let retry_after = headers
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<i64>().ok());
        let declared_length = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let body =
            match with_deadline(deadline, read_body(response.into_body(), declared_length)).await {
                None => return Err(Failure::TimeoutReadingBody),
                Some(Err(error)) => {
                    tracing::debug!(%error, "Reading the body failed");
                    // What Go's reader reports for a body cut short, the one way
                    // a body read fails in practice.
                    return Err(Failure::Body("unexpected EOF".to_owned()));
                }
                Some(Ok(body)) => body,
            };
        Ok(Answer {
            status,
            content_type,
            retry_after,
            body,
        })
    }

    /// What went wrong below HTTP, in Go's terms.
    fn classify(&self, error: &kube::Error) -> Failure {
        classify_chain(error, &self.probe.seen(), &self.host, &self.tls_name)
    }
}

/// kubectl names itself and its platform; so do we.
fn user_agent() -> String {
    format!(
        "workingset/{} ({}/{})",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        go_arch()
    )
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// The most a declared `Content-Length` reserves up front; a longer body
/// still arrives, growing the buffer as it comes.
const MAX_RESERVED_BODY_BYTES: usize = 256 << 20;

/// Reads a body into one buffer, reserved once from its declared length, so
/// that a long list is held once (collecting the frames and joining them
/// held it two or three times over at its peak).
async fn read_body(mut body: Body, declared_length: Option<usize>) -> Result<Vec<u8>, BoxError> {
    let mut bytes = Vec::with_capacity(declared_length.unwrap_or(0).min(MAX_RESERVED_BODY_BYTES));
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            bytes.extend_from_slice(&data);
        }
    }
    Ok(bytes)
}

async fn with_deadline<F: Future>(deadline: Option<Instant>, future: F) -> Option<F::Output> {
    match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, future).await.ok(),
        None => Some(future.await),
    }
}

/// A request that got no usable HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Failure {
    /// Nothing listens there.
    Refused,
    /// The connection closed before an answer (Go: `EOF`, or `unexpected
    /// EOF` after part of one).
    Eof { partial: bool },
    /// The peer reset the connection.
    Reset(String),
    /// The answer is not HTTP; the text is Go's transport error.
    Malformed(String),
    /// TLS failed; the text is Go's.
    Tls(String),
    /// Name resolution failed; the text is Go's dial error.
    Dial(String),
    /// `--request-timeout` passed before the answer's headers.
    TimeoutAwaitingHeaders,
    /// `--request-timeout` passed while the body was read.
    TimeoutReadingBody,
    /// Reading the body failed.
    Body(String),
    /// Anything else, worded by our libraries.
    Other(String),
}

impl Failure {
    /// client-go retries GETs that failed like this.
    fn retryable(&self) -> bool {
        matches!(self, Self::Eof { .. } | Self::Reset(_))
    }

    /// The error text inside kubectl's message. Go's HTTP client words a
    /// timeout differently in the releases 1.32 and later are built with.
    fn cause(&self, kubectl: KubectlVersion) -> String {
        let expired = if kubectl >= KubectlVersion::V1_32 {
            "context deadline exceeded"
        } else {
            "net/http: request canceled"
        };
        match self {
            Self::Refused => "connect: connection refused".to_owned(),
            Self::Eof { partial: false } => "EOF".to_owned(),
            Self::Eof { partial: true } => "unexpected EOF".to_owned(),
            Self::TimeoutAwaitingHeaders => {
                format!("{expired} (Client.Timeout exceeded while awaiting headers)")
            }
            Self::TimeoutReadingBody => {
                format!("{expired} (Client.Timeout or context cancellation while reading body)")
            }
            Self::Reset(text)
            | Self::Malformed(text)
            | Self::Tls(text)
            | Self::Dial(text)
            | Self::Body(text)
            | Self::Other(text) => text.clone(),
        }
    }

    fn into_source_error(self, host: &str, kubectl: KubectlVersion) -> SourceError {
        match self {
            Self::Refused => SourceError::Verbatim(format!(
                "The connection to the server {host} was refused - did you specify the right host or port?"
            )),
            // client-go reads the body itself and wraps what went wrong.
            Self::Body(_) | Self::TimeoutReadingBody => SourceError::Other(format!(
                "unexpected error when reading response body. Please retry. Original error: {}",
                self.cause(kubectl)
            )),
            other => SourceError::Verbatim(format!(
                "Unable to connect to the server: {}",
                other.cause(kubectl)
            )),
        }
    }
}

/// Walks an error's chain for the cause Go would have reported.
fn classify_chain(
    error: &(dyn std::error::Error + 'static),
    seen: &[u8],
    host: &str,
    tls_name: &str,
) -> Failure {
    tracing::debug!(%error, "Request failed");
    let mut innermost = error.to_string();
    let names = Names { host, tls_name };
    find_cause(error, seen, names, &mut innermost, 0).unwrap_or(Failure::Other(innermost))
}

/// Depth-first through `source()` and, for `io::Error`s (whose `source()`
/// skips the error they wrap), through the wrapped error.
fn find_cause(
    error: &(dyn std::error::Error + 'static),
    seen: &[u8],
    names: Names<'_>,
    innermost: &mut String,
    depth: usize,
) -> Option<Failure> {
    if depth > 16 {
        return None;
    }
    tracing::trace!(?error, "Looking for the cause");
    *innermost = error.to_string();
    if let Some(failure) = classify_one(error, seen, names) {
        return Some(failure);
    }
    if let Some(wrapped) = error
        .downcast_ref::<io::Error>()
        .and_then(io::Error::get_ref)
    {
        let wrapped: &(dyn std::error::Error + 'static) = wrapped;
        if let Some(failure) = find_cause(wrapped, seen, names, innermost, depth + 1) {
            return Some(failure);
        }
    }
    error
        .source()
        .and_then(|source| find_cause(source, seen, names, innermost, depth + 1))
}

/// The server's `host[:port]` and the name its certificate must cover.
#[derive(Debug, Clone, Copy)]
struct Names<'a> {
    host: &'a str,
    tls_name: &'a str,
}

fn classify_one(
    error: &(dyn std::error::Error + 'static),
    seen: &[u8],
    names: Names<'_>,
) -> Option<Failure> {
    let host = names.host;
    if let Some(tls) = error.downcast_ref::<rustls::Error>() {
        return Some(Failure::Tls(tls_text(tls, names.tls_name)));
    }
    if let Some(hyper_error) = error.downcast_ref::<hyper::Error>() {
        if hyper_error.is_incomplete_message() {
            return Some(Failure::Eof {
                partial: !seen.is_empty(),
            });
        }
        if hyper_error.is_parse()
            || hyper_error.is_parse_status()
            || hyper_error.is_parse_too_large()
        {
            return Some(Failure::Malformed(malformed_text(seen)));
        }
    }
    if let Some(io) = error.downcast_ref::<io::Error>() {
        match io.kind() {
            io::ErrorKind::ConnectionRefused => return Some(Failure::Refused),
            io::ErrorKind::ConnectionReset => {
                return Some(Failure::Reset("read: connection reset by peer".to_owned()));
            }
            io::ErrorKind::UnexpectedEof => {
                return Some(Failure::Eof {
                    partial: !seen.is_empty(),
                });
            }
            io::ErrorKind::TimedOut => return Some(Failure::Dial(dial_timeout_text(host))),
            _ => {}
        }
        if io.to_string().contains("failed to lookup address") {
            return Some(Failure::Dial(lookup_text(host)));
        }
    }
    if error.to_string() == "dns error" {
        return Some(Failure::Dial(lookup_text(host)));
    }
    None
}

/// Go's dial error when the name does not resolve: `dial tcp: lookup HOST
/// on NAMESERVER:53: no such host` (Go's own resolver asks the first
/// nameserver of resolv.conf).
fn lookup_text(host: &str) -> String {
    let name = host_without_port(host);
    let server = std::fs::read_to_string("/etc/resolv.conf")
        .ok()
        .and_then(|text| {
            text.lines()
                .filter_map(|line| line.trim().strip_prefix("nameserver"))
                .map(str::trim)
                .find(|server| !server.is_empty())
                .map(|server| {
                    if server.contains(':') {
                        format!("[{server}]:53")
                    } else {
                        format!("{server}:53")
                    }
                })
        })
        .unwrap_or_else(|| "127.0.0.1:53".to_owned());
    format!("dial tcp: lookup {name} on {server}: no such host")
}

fn dial_timeout_text(host: &str) -> String {
    format!("dial tcp {host}: i/o timeout")
}

fn host_without_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    }
}

/// Go's `net/http` error for an answer that is not HTTP/1.x, from the
/// bytes the server sent (`ReadResponse` checks the status line's parts in
/// this order).
fn malformed_text(seen: &[u8]) -> String {
    let prefix = "net/http: HTTP/1.x transport connection broken: ";
    let Some(end) = seen.iter().position(|&b| b == b'\n') else {
        return format!("{prefix}unexpected EOF");
    };
    let line = String::from_utf8_lossy(&seen[..end]);
    let line = line.strip_suffix('\r').unwrap_or(&line);
    let Some((proto, status)) = line.split_once(' ') else {
        return format!("{prefix}malformed HTTP response {}", GoQuoted(line));
    };
    let status = status.trim_start_matches(' ');
    let code = status.split_once(' ').map_or(status, |(code, _)| code);
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return format!("{prefix}malformed HTTP status code {}", GoQuoted(code));
    }
    if !valid_http_version(proto) {
        return format!("{prefix}malformed HTTP version {}", GoQuoted(proto));
    }
    format!("{prefix}malformed HTTP response {}", GoQuoted(line))
}

/// Go's `ParseHTTPVersion`: `HTTP/1.0`, `HTTP/1.1` and `HTTP/M.N` with one
/// digit each.
fn valid_http_version(proto: &str) -> bool {
    let Some(version) = proto.strip_prefix("HTTP/") else {
        return false;
    };
    let bytes = version.as_bytes();
    bytes.len() == 3 && bytes[0].is_ascii_digit() && bytes[1] == b'.' && bytes[2].is_ascii_digit()
}

/// Go's wording of a TLS failure (`crypto/tls` and `crypto/x509`);
/// `name` is what the certificate was checked against.
fn tls_text(error: &rustls::Error, name: &str) -> String {
    use rustls::CertificateError as Cert;
    let verify = "tls: failed to verify certificate: ";
    match error {
        rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType) => {
            "tls: first record does not look like a TLS handshake".to_owned()
        }
        rustls::Error::InvalidCertificate(cert) => match cert {
            Cert::UnknownIssuer | Cert::BadSignature => {
                format!("{verify}x509: certificate signed by unknown authority")
            }
            Cert::NotValidForNameContext { presented, .. } => {
                format!("{verify}{}", hostname_text(presented, name))
            }
            Cert::NotValidForName => {
                format!("{verify}{}", hostname_text(&[], name))
            }
            Cert::ExpiredContext { time, not_after } => format!(
                "{verify}x509: certificate has expired or is not yet valid: current time {} is after {}",
                rfc3339(time.as_secs()),
                rfc3339(not_after.as_secs())
            ),
            Cert::NotValidYetContext { time, not_before } => format!(
                "{verify}x509: certificate has expired or is not yet valid: current time {} is before {}",
                rfc3339(time.as_secs()),
                rfc3339(not_before.as_secs())
            ),
            Cert::Expired | Cert::NotValidYet => {
                format!("{verify}x509: certificate has expired or is not yet valid")
            }
            other => format!("{verify}{other:?}"),
        },
        other => format!("tls: {other}"),
    }
}

fn rfc3339(unix_seconds: u64) -> String {
    i64::try_from(unix_seconds)
        .ok()
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .map_or_else(
            || unix_seconds.to_string(),
            |t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        )
}

/// Go's `x509.HostnameError` text from the names webpki saw in the
/// certificate (`DnsName("a")`, `IpAddress(1.2.3.4)`).
fn hostname_text(presented: &[String], host: &str) -> String {
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    for name in presented {
        if let Some(rest) = name
            .strip_prefix("DnsName(\"")
            .and_then(|r| r.strip_suffix("\")"))
        {
            dns.push(rest.to_owned());
        } else if let Some(rest) = name
            .strip_prefix("IpAddress(")
            .and_then(|r| r.strip_suffix(')'))
        {
            ips.push(rest.to_owned());
        }
    }
    let is_ip = host.parse::<std::net::IpAddr>().is_ok();
    let valid = if is_ip {
        if ips.is_empty() {
            return format!(
                "x509: cannot validate certificate for {host} because it doesn't contain any IP SANs"
            );
        }
        ips.join(", ")
    } else {
        dns.join(", ")
    };
    if valid.is_empty() {
        return format!("x509: certificate is not valid for any names, but wanted to match {host}");
    }
    let mut text = String::new();
    let _ = write!(text, "x509: certificate is valid for {valid}, not {host}");
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected texts were printed by kubectl.1.33 against servers sending
    // these bytes.
    #[test]
    fn malformed_answers_are_quoted_as_go_does() {
        assert_eq!(
            malformed_text(b"hello there\r\n\r\n"),
            "net/http: HTTP/1.x transport connection broken: malformed HTTP status code \"there\""
        );
        assert_eq!(
            malformed_text(b"garbage\n"),
            "net/http: HTTP/1.x transport connection broken: malformed HTTP response \"garbage\""
        );
        assert_eq!(
            malformed_text(b"HTTX/1.1 200 OK\r\n"),
            "net/http: HTTP/1.x transport connection broken: malformed HTTP version \"HTTX/1.1\""
        );
        assert_eq!(
            malformed_text(b"no newline"),
            "net/http: HTTP/1.x transport connection broken: unexpected EOF"
        );
    }

    #[test]
    fn hostname_errors_name_what_the_certificate_covers() {
        assert_eq!(
            hostname_text(&["DnsName(\"other.example\")".to_owned()], "127.0.0.1"),
            "x509: cannot validate certificate for 127.0.0.1 because it doesn't contain any IP SANs"
        );
        assert_eq!(
            hostname_text(
                &[
                    "DnsName(\"a.example\")".to_owned(),
                    "DnsName(\"b.example\")".to_owned()
                ],
                "localhost"
            ),
            "x509: certificate is valid for a.example, b.example, not localhost"
        );
        assert_eq!(
            hostname_text(&["IpAddress(10.0.0.1)".to_owned()], "10.0.0.2"),
            "x509: certificate is valid for 10.0.0.1, not 10.0.0.2"
        );
    }

    #[test]
    fn hosts_lose_their_port() {
        assert_eq!(host_without_port("127.0.0.1:6443"), "127.0.0.1");
        assert_eq!(host_without_port("[::1]:6443"), "::1");
        assert_eq!(host_without_port("example.com"), "example.com");
    }
}
