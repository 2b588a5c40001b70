//! The scrape client against loopback servers that answer with chosen
//! bytes: success, statuses, size caps with and without `Content-Length`,
//! silence, refusal, the bearer token and its rotation, and TLS with a CA
//! file, in insecure mode and failing without either.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use super::test_server::{Pki, Reply, TestServer, chunks};
use super::*;

const TIMEOUT: Duration = Duration::from_secs(5);
const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

fn client(options: ClientOptions) -> ScrapeClient {
    ScrapeClient::new(&options).unwrap()
}

fn plain() -> ScrapeClient {
    client(ClientOptions::default())
}

#[tokio::test]
async fn returns_the_body_of_a_2xx_answer() {
    let server = TestServer::http(|_| Reply::ok(TEXT, b"node_cpu_usage_seconds_total 1\n")).await;
    let body = plain()
        .get(&server.url("http", "/metrics/resource"), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(body, b"node_cpu_usage_seconds_total 1\n");
    let heads = server.heads();
    assert_eq!(heads.len(), 1);
    assert!(
        heads[0].starts_with("GET /metrics/resource HTTP/1.1\r\n"),
        "{}",
        heads[0]
    );
    let lower = heads[0].to_ascii_lowercase();
    assert!(
        lower.contains("\r\nuser-agent: workingset-server/"),
        "{lower}"
    );
    assert!(
        lower.contains(&format!("\r\nhost: {}\r\n", server.addr())),
        "{lower}"
    );
    // No token configured: no credentials sent.
    assert!(!lower.contains("authorization"), "{lower}");

    let empty = TestServer::http(|_| Reply::status(204, TEXT, b"")).await;
    assert_eq!(
        plain().get(&empty.url("http", "/"), TIMEOUT).await.unwrap(),
        b""
    );
}

#[tokio::test]
async fn a_non_2xx_answer_is_an_error_with_the_code_and_the_start_of_the_body() {
    let long = format!("internal error: {}", "x".repeat(1000));
    let server = TestServer::http(move |_| Reply::status(500, "text/plain", long.as_bytes())).await;
    let url = server.url("http", "/metrics/resource");
    let error = plain().get(&url, TIMEOUT).await.unwrap_err();
    assert_eq!(error.outcome(), "http_status");
    let FetchError::Status { code, body, .. } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(*code, 500);
    assert_eq!(body.len(), 200);
    assert!(body.starts_with("internal error: xxx"), "{body}");
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("{url} answered HTTP 500: ")),
        "{message}"
    );

    // A status whose body never comes is still that status.
    let stalled = TestServer::http(|_| {
        Reply::ThenHang(
            b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 100\r\n\r\nno d".to_vec(),
        )
    })
    .await;
    let error = plain()
        .get(
            &stalled.url("http", "/metrics/resource"),
            Duration::from_millis(300),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&error, FetchError::Status { code: 503, .. }),
        "{error:?}"
    );

    let unauthorized =
        TestServer::http(|_| Reply::status(401, "text/plain", b"Unauthorized\n")).await;
    let error = plain()
        .get(&unauthorized.url("http", "/pods"), TIMEOUT)
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("HTTP 401 (the node wants a valid bearer token"),
        "{message}"
    );
    assert!(message.ends_with(": \"Unauthorized\""), "{message}");
}

#[tokio::test]
async fn a_declared_length_over_the_cap_is_refused_without_reading() {
    // The head promises 1000 bytes and none follow: reading would wait for
    // the timeout, so a prompt TooLarge proves the body was not read.
    let server = TestServer::http(|_| {
        Reply::ThenHang(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n".to_vec())
    })
    .await;
    let started = Instant::now();
    let error = client(ClientOptions {
        max_body_bytes: 999,
        ..ClientOptions::default()
    })
    .get(&server.url("http", "/metrics/resource"), TIMEOUT)
    .await
    .unwrap_err();
    assert!(started.elapsed() < TIMEOUT / 2, "{:?}", started.elapsed());
    assert_eq!(error.outcome(), "too_large");
    assert!(
        matches!(
            error,
            FetchError::TooLarge {
                limit: 999,
                declared: Some(1000),
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("larger than 999 bytes (Content-Length 1000)")
    );
}

#[tokio::test]
async fn a_streamed_body_over_the_cap_is_abandoned_as_soon_as_it_passes_it() {
    // 300 bytes in 10-byte chunks, then the stream stays open forever: only
    // stopping at the cap can end this before the timeout.
    let body = vec![b'a'; 300];
    let mut head = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
    head.extend(chunks(&body, 10));
    let server = TestServer::http(move |_| Reply::ThenHang(head.clone())).await;
    let started = Instant::now();
    let error = client(ClientOptions {
        max_body_bytes: 100,
        ..ClientOptions::default()
    })
    .get(&server.url("http", "/"), TIMEOUT)
    .await
    .unwrap_err();
    assert!(started.elapsed() < TIMEOUT / 2, "{:?}", started.elapsed());
    assert!(
        matches!(
            error,
            FetchError::TooLarge {
                limit: 100,
                declared: None,
                ..
            }
        ),
        "{error:?}"
    );

    // A chunked body of exactly the cap is fine, and so is get_limited's
    // own cap above the client's.
    let exact = TestServer::http(|_| Reply::Bytes(Reply::chunked(&[b'b'; 100], 7))).await;
    let small = client(ClientOptions {
        max_body_bytes: 100,
        ..ClientOptions::default()
    });
    assert_eq!(
        small.get(&exact.url("http", "/"), TIMEOUT).await.unwrap(),
        [b'b'; 100]
    );
    let bigger = TestServer::http(|_| Reply::ok(TEXT, &[b'c'; 500])).await;
    assert!(matches!(
        small.get(&bigger.url("http", "/"), TIMEOUT).await,
        Err(FetchError::TooLarge { .. })
    ));
    assert_eq!(
        small
            .get_limited(&bigger.url("http", "/"), TIMEOUT, 500)
            .await
            .unwrap()
            .len(),
        500
    );
}

#[tokio::test]
async fn a_silent_server_times_out_within_the_deadline() {
    let silent = TestServer::http(|_| Reply::ThenHang(Vec::new())).await;
    let timeout = Duration::from_millis(300);
    let started = Instant::now();
    let error = plain()
        .get(&silent.url("http", "/metrics/resource"), timeout)
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert!(elapsed >= timeout && elapsed < timeout * 5, "{elapsed:?}");
    assert_eq!(error.outcome(), "timeout");
    assert!(
        error.to_string().contains("waiting for the response head"),
        "{error}"
    );

    // The head arrives, the body never ends: the same deadline applies.
    let trickle = TestServer::http(|_| {
        Reply::ThenHang(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc".to_vec())
    })
    .await;
    let started = Instant::now();
    let error = plain()
        .get(&trickle.url("http", "/"), timeout)
        .await
        .unwrap_err();
    assert!(started.elapsed() < timeout * 5);
    assert!(
        matches!(
            error,
            FetchError::Timeout {
                during: "reading the body",
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_refused_connection_says_where_to_look() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let error = plain()
        .get(&format!("http://{addr}/metrics/resource"), TIMEOUT)
        .await
        .unwrap_err();
    assert_eq!(error.outcome(), "connect");
    assert!(
        matches!(
            error,
            FetchError::Connect {
                failure: ConnectFailure::Refused,
                ..
            }
        ),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("refused"), "{message}");
    assert!(message.contains("--listen 0.0.0.0:10250"), "{message}");
}

#[tokio::test]
async fn a_bad_url_is_an_error_not_a_panic() {
    let error = plain().get("not a url", TIMEOUT).await.unwrap_err();
    assert!(matches!(error, FetchError::InvalidUrl { .. }), "{error:?}");
    assert_eq!(error.outcome(), "connect");
}

fn authorization(head: &str) -> Option<String> {
    head.lines()
        .find_map(|line| line.strip_prefix("authorization: "))
        .map(str::to_owned)
}

#[tokio::test]
async fn sends_the_bearer_token_and_rereads_the_file_when_it_changes() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "first-token\n").unwrap();
    let client = client(ClientOptions {
        token_file: Some(token_file.clone()),
        ..ClientOptions::default()
    });
    assert!(!format!("{client:?}").contains("first-token"));
    let server = TestServer::http(|_| Reply::ok(TEXT, b"ok")).await;
    let url = server.url("http", "/pods");

    client.get(&url, TIMEOUT).await.unwrap();
    client.get(&url, TIMEOUT).await.unwrap();
    // Rotated in place, as kubelet-facing tokens are.
    std::fs::write(&token_file, "second-token-longer").unwrap();
    client.get(&url, TIMEOUT).await.unwrap();
    // Swapped through a rename, as projected volumes do.
    let staged = dir.path().join("token.new");
    std::fs::write(&staged, "third-token-x").unwrap();
    std::fs::rename(&staged, &token_file).unwrap();
    client.get(&url, TIMEOUT).await.unwrap();
    // Gone mid-rotation: the last good token is kept.
    std::fs::remove_file(&token_file).unwrap();
    client.get(&url, TIMEOUT).await.unwrap();
    // Broken: kept as well.
    std::fs::write(&token_file, "   \n").unwrap();
    client.get(&url, TIMEOUT).await.unwrap();

    let sent: Vec<Option<String>> = server.heads().iter().map(|h| authorization(h)).collect();
    assert_eq!(
        sent,
        [
            "Bearer first-token",
            "Bearer first-token",
            "Bearer second-token-longer",
            "Bearer third-token-x",
            "Bearer third-token-x",
            "Bearer third-token-x",
        ]
        .map(|s| Some(s.to_owned()))
    );
}

#[test]
fn bad_options_fail_the_build_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "\n").unwrap();
    let spaced = dir.path().join("spaced");
    std::fs::write(&spaced, "two words").unwrap();
    let not_pem = dir.path().join("ca.txt");
    std::fs::write(&not_pem, "hello").unwrap();

    let error = |options: ClientOptions| ScrapeClient::new(&options).unwrap_err().to_string();
    assert!(
        error(ClientOptions {
            ca_file: Some(not_pem.clone()),
            insecure_tls: true,
            ..ClientOptions::default()
        })
        .contains("cannot use both --kubelet-certificate-authority and --kubelet-insecure-tls")
    );
    let message = error(ClientOptions {
        ca_file: Some(missing.clone()),
        ..ClientOptions::default()
    });
    assert!(message.contains(&format!(
        "cannot read the kubelet CA file {}",
        missing.display()
    )));
    let message = error(ClientOptions {
        ca_file: Some(not_pem.clone()),
        ..ClientOptions::default()
    });
    assert!(message.contains("holds no certificate"), "{message}");
    assert!(message.contains("-----BEGIN CERTIFICATE-----"), "{message}");
    let message = error(ClientOptions {
        token_file: Some(missing.clone()),
        ..ClientOptions::default()
    });
    assert!(
        message.contains("cannot read the bearer token file"),
        "{message}"
    );
    let message = error(ClientOptions {
        token_file: Some(empty.clone()),
        ..ClientOptions::default()
    });
    assert!(message.ends_with("is empty"), "{message}");
    let message = error(ClientOptions {
        token_file: Some(spaced),
        ..ClientOptions::default()
    });
    assert!(message.contains("whitespace"), "{message}");
    assert_eq!(ClientOptions::default().max_body_bytes, 4 * 1024 * 1024);
}

#[tokio::test]
async fn https_with_the_ca_file_verifies_the_node() {
    let pki = Pki::new(&["localhost", "127.0.0.1"]);
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.crt");
    std::fs::write(&ca_file, &pki.ca_pem).unwrap();
    let server = TestServer::https(pki.acceptor.clone(), |_| Reply::ok(TEXT, b"secure")).await;
    let client = client(ClientOptions {
        ca_file: Some(ca_file),
        ..ClientOptions::default()
    });
    let port = server.addr().port();
    for host in ["127.0.0.1", "localhost"] {
        let body = client
            .get(&format!("https://{host}:{port}/metrics/resource"), TIMEOUT)
            .await
            .unwrap();
        assert_eq!(body, b"secure", "{host}");
    }
}

#[tokio::test]
async fn insecure_mode_accepts_any_certificate_but_still_speaks_tls() {
    let pki = Pki::new(&["somewhere.else.example"]);
    let server = TestServer::https(pki.acceptor.clone(), |_| Reply::ok(TEXT, b"secure")).await;
    let client = client(ClientOptions {
        insecure_tls: true,
        ..ClientOptions::default()
    });
    let body = client
        .get(&server.url("https", "/"), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(body, b"secure");
}

#[tokio::test]
async fn an_untrusted_certificate_fails_naming_the_flags() {
    let pki = Pki::new(&["127.0.0.1"]);
    let server = TestServer::https(pki.acceptor.clone(), |_| Reply::ok(TEXT, b"secure")).await;
    // System roots only: the test CA is not among them.
    let error = plain()
        .get(&server.url("https", "/"), TIMEOUT)
        .await
        .unwrap_err();
    assert_eq!(error.outcome(), "tls");
    assert!(
        matches!(
            error,
            FetchError::Tls {
                failure: TlsFailure::UnknownIssuer,
                ..
            }
        ),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("--kubelet-certificate-authority"),
        "{message}"
    );
    assert!(message.contains("--kubelet-insecure-tls"), "{message}");
    assert!(
        message.to_ascii_lowercase().contains("unknown"),
        "{message}"
    );

    // The right CA, but the certificate names another host: the address
    // confusion of kubelet certificates.
    let other = Pki::new(&["node-1.example"]);
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.crt");
    std::fs::write(&ca_file, &other.ca_pem).unwrap();
    let server = TestServer::https(other.acceptor.clone(), |_| Reply::ok(TEXT, b"")).await;
    let error = client(ClientOptions {
        ca_file: Some(ca_file),
        ..ClientOptions::default()
    })
    .get(&server.url("https", "/"), TIMEOUT)
    .await
    .unwrap_err();
    assert!(
        matches!(
            error,
            FetchError::Tls {
                failure: TlsFailure::WrongName,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("InternalIP"), "{error}");
}

#[tokio::test]
async fn mixing_up_http_and_https_is_explained() {
    let plain_server = TestServer::http(|_| Reply::ok(TEXT, b"plain")).await;
    let error = client(ClientOptions {
        insecure_tls: true,
        ..ClientOptions::default()
    })
    .get(&plain_server.url("https", "/"), TIMEOUT)
    .await
    .unwrap_err();
    assert!(
        matches!(
            error,
            FetchError::Tls {
                failure: TlsFailure::NotTls,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("use an http:// URL"), "{error}");

    let pki = Pki::new(&["127.0.0.1"]);
    let tls_server = TestServer::https(pki.acceptor.clone(), |_| Reply::ok(TEXT, b"")).await;
    let error = plain()
        .get(&tls_server.url("http", "/"), Duration::from_secs(2))
        .await
        .unwrap_err();
    // A TLS server given plain HTTP hangs up or answers with an alert.
    assert_eq!(error.outcome(), "body", "{error:?}");
    assert!(error.to_string().contains("use an https:// URL"), "{error}");

    // Go's TLS server answers a plain request with a 400 that says so.
    let go_like = TestServer::http(|_| {
        Reply::status(
            400,
            "text/plain",
            b"Client sent an HTTP request to an HTTPS server.\n",
        )
    })
    .await;
    let error = plain()
        .get(&go_like.url("http", "/"), TIMEOUT)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("use an https:// URL"), "{error}");
}

#[tokio::test]
async fn refusals_have_outcomes_of_their_own() {
    for (code, outcome) in [
        (401, "unauthorized"),
        (403, "forbidden"),
        (404, "http_status"),
    ] {
        let server = TestServer::http(move |_| Reply::status(code, "text/plain", b"no")).await;
        let url = server.url("http", "/metrics/resource");
        let error = plain().get(&url, TIMEOUT).await.unwrap_err();
        assert_eq!(error.outcome(), outcome, "{code}");
    }
}

/// A keep-alive HTTP/1.1 server on loopback: every request on a connection
/// gets a small 200 (with `connection: close` when `close_header`), and the
/// connection is closed after `answers_per_connection` answers, as a
/// kubelet closes connections that idled too long. Counts the connections
/// it accepted; stopped when the handle is dropped.
struct KeepAliveServer {
    url: String,
    accepted: Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for KeepAliveServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl KeepAliveServer {
    async fn start(answers_per_connection: usize, close_header: bool) -> Self {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/metrics/resource", listener.local_addr().unwrap());
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((mut stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                connections.spawn(async move {
                    let mut pending = Vec::new();
                    let mut buffer = [0u8; 1024];
                    for _ in 0..answers_per_connection {
                        while !pending.windows(4).any(|w| w == b"\r\n\r\n") {
                            match stream.read(&mut buffer).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => pending.extend_from_slice(&buffer[..n]),
                            }
                        }
                        let end = pending.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
                        pending.drain(..end + 4);
                        let close = if close_header {
                            "connection: close\r\n"
                        } else {
                            ""
                        };
                        let answer =
                            format!("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n{close}\r\nok");
                        if stream.write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                    // Closed after the last answer, without a word.
                });
                while connections.try_join_next().is_some() {}
            }
        });
        Self {
            url,
            accepted,
            task,
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

#[tokio::test]
async fn one_connection_per_node_is_kept_and_reused() {
    let server = KeepAliveServer::start(usize::MAX, false).await;
    let client = plain();
    for _ in 0..5 {
        assert_eq!(client.get(&server.url, TIMEOUT).await.unwrap(), b"ok");
    }
    assert_eq!(server.accepted(), 1);
    // Clones share the idle connection.
    assert_eq!(
        client.clone().get(&server.url, TIMEOUT).await.unwrap(),
        b"ok"
    );
    assert_eq!(server.accepted(), 1);
}

#[tokio::test]
async fn a_connection_the_node_closed_while_idle_is_replaced_without_an_error() {
    let server = KeepAliveServer::start(1, false).await;
    let client = plain();
    for round in 1..=4 {
        // Give the node's close time to reach this side, as an idle
        // timeout would.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let body = client.get(&server.url, TIMEOUT).await;
        assert_eq!(body.unwrap(), b"ok", "round {round}");
    }
    assert_eq!(server.accepted(), 4);
}

#[tokio::test]
async fn an_answer_that_says_connection_close_is_not_reused() {
    let server = KeepAliveServer::start(usize::MAX, true).await;
    let client = plain();
    for _ in 0..3 {
        assert_eq!(client.get(&server.url, TIMEOUT).await.unwrap(), b"ok");
    }
    assert_eq!(server.accepted(), 3);
}
