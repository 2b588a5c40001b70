//! The agent's HTTP server end to end on loopback: routes, status codes and
//! content types, bearer-token auth, HTTPS with a certificate made at test
//! time, failed passes, and a bounded shutdown.
//!
//! Every server binds `127.0.0.1:0` and reports the port it got, so tests
//! never race for ports; every wait is bounded; every agent is shut down
//! (and dropping one stops it, should a test panic first). The machine is
//! the captured cgroup v1 tree of the cgroup crate's fixtures, copied to a
//! temporary directory where a test needs to break it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt as _, Empty};
use hyper::body::Bytes;
use hyper::header::HeaderMap;
use hyper_util::rt::TokioIo;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpStream;
use workingset_agent::http::{
    self, Agent, AgentConfig, MachineFacts, StartError, TlsError, TlsFiles,
};
use workingset_cgroup::{Cgroups, Config};
use workingset_sampling::sampler::Sampler;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../cgroup/tests/fixtures/v1-hybrid"
);
/// Short, so the first pass and the ones after come quickly.
const INTERVAL: Duration = Duration::from_millis(200);
/// The longest any single request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest the agent may take to have data.
const READY_TIMEOUT: Duration = Duration::from_secs(15);

fn sampler(dir: &Path) -> Sampler {
    Sampler::new(&Cgroups::open(Config::under(dir)).expect("open the fixture"))
}

fn config() -> AgentConfig {
    AgentConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        housekeeping_interval: INTERVAL,
        node_name: "fixture-node".to_owned(),
        tls: None,
        token_file: None,
        shutdown_grace: Duration::from_secs(2),
        machine: MachineFacts::default(),
        runtime: workingset_agent::runtime::RuntimeConfig::disabled(),
    }
}

async fn start(config: AgentConfig) -> Agent {
    http::start(config, sampler(Path::new(FIXTURE)))
        .await
        .expect("start the agent")
}

/// The fixture tree in a temporary directory, to change under the agent.
fn fixture_copy() -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    copy(Path::new(FIXTURE), dir.path());
    dir
}

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Reply {
    fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .map_or("", |v| v.to_str().unwrap())
    }
}

/// One HTTP/1.1 request on an established stream.
async fn exchange<S>(stream: S, method: &str, path: &str, token: Option<&str>) -> Reply
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let work = async {
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        let connection = tokio::spawn(connection);
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let response = sender
            .send_request(request.body(Empty::<Bytes>::new()).unwrap())
            .await
            .unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        connection.abort();
        Reply {
            status,
            headers,
            body: String::from_utf8(body.to_vec()).unwrap(),
        }
    };
    tokio::time::timeout(REQUEST_TIMEOUT, work)
        .await
        .unwrap_or_else(|_| panic!("{method} {path} took more than {REQUEST_TIMEOUT:?}"))
}

async fn request(addr: SocketAddr, method: &str, path: &str, token: Option<&str>) -> Reply {
    let stream = TcpStream::connect(addr).await.unwrap();
    exchange(stream, method, path, token).await
}

async fn get(addr: SocketAddr, path: &str) -> Reply {
    request(addr, "GET", path, None).await
}

/// Polls `path` until it answers 200; panics with the last reply when that
/// does not happen within [`READY_TIMEOUT`].
async fn wait_for_200(addr: SocketAddr, path: &str, token: Option<&str>) -> Reply {
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    loop {
        let reply = request(addr, "GET", path, token).await;
        if reply.status == 200 {
            return reply;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{path} not 200 within {READY_TIMEOUT:?}: {reply:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls the agent's own metrics until `line` appears in them.
async fn wait_for_metric(addr: SocketAddr, predicate: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    loop {
        let metrics = get(addr, "/metrics").await.body;
        if metrics.lines().any(&predicate) {
            return metrics;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "metric not seen within {READY_TIMEOUT:?}:\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The value of the sample `name` in Prometheus text.
fn sample(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in\n{metrics}"))
        .parse()
        .unwrap()
}

async fn shutdown(agent: Agent) {
    tokio::time::timeout(Duration::from_secs(10), agent.shutdown())
        .await
        .expect("the agent stops within 10 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_the_kubelet_endpoints_once_the_first_pass_is_done() {
    let agent = start(config()).await;
    let addr = agent.local_addr();
    assert!(addr.ip().is_loopback() && addr.port() != 0);

    let health = wait_for_200(addr, "/healthz", None).await;
    assert_eq!(health.body, "ok");
    let summary = wait_for_200(addr, "/stats/summary", None).await;
    assert_eq!(summary.content_type(), "application/json");
    let json: serde_json::Value = serde_json::from_str(&summary.body).unwrap();
    assert!(json.is_object(), "{json}");
    let only = get(addr, "/stats/summary?only_cpu_and_memory=true").await;
    assert_eq!(only.status, 200);
    assert_eq!(only.content_type(), "application/json");
    serde_json::from_str::<serde_json::Value>(&only.body).unwrap();

    // The kubelet's pod list: the fixture's two pods, running on this node.
    let pods = get(addr, "/pods").await;
    assert_eq!(pods.status, 200, "{pods:?}");
    assert_eq!(pods.content_type(), "application/json");
    let list: serde_json::Value = serde_json::from_str(&pods.body).unwrap();
    assert_eq!(
        (&list["kind"], &list["apiVersion"]),
        (&"PodList".into(), &"v1".into())
    );
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{list}");
    for item in items {
        assert_eq!(item["status"]["phase"], "Running", "{item}");
        assert_eq!(item["spec"]["nodeName"], "fixture-node", "{item}");
        assert!(item["metadata"]["name"].is_string(), "{item}");
    }

    for path in ["/metrics/resource", "/metrics/cadvisor"] {
        let reply = get(addr, path).await;
        assert_eq!(reply.status, 200, "{path}: {reply:?}");
        assert_eq!(
            reply.content_type(),
            "text/plain; version=0.0.4; charset=utf-8",
            "{path}"
        );
        assert!(reply.body.starts_with("# HELP"), "{path}: {}", reply.body);
    }

    let missing = get(addr, "/stats/summary/extra").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body, "404 page not found\n");
    assert_eq!(request(addr, "POST", "/nowhere", None).await.status, 404);
    for (method, path) in [
        ("POST", "/stats/summary"),
        ("PUT", "/metrics/resource"),
        ("DELETE", "/healthz"),
        ("PATCH", "/metrics"),
    ] {
        let reply = request(addr, method, path, None).await;
        assert_eq!(reply.status, 405, "{method} {path}");
        assert!(reply.headers.get("allow").is_some(), "{reply:?}");
    }

    // The agent's own metrics saw all of that.
    let metrics = wait_for_metric(addr, |line| {
        line.starts_with("workingset_agent_housekeeping_passes_total{outcome=\"success\"} ")
    })
    .await;
    let own = get(addr, "/metrics").await;
    assert!(
        own.content_type().starts_with("text/plain; version=0.0.4"),
        "{}",
        own.content_type()
    );
    assert!(
        sample(
            &metrics,
            "workingset_agent_housekeeping_passes_total{outcome=\"success\"}"
        ) >= 1.0
    );
    assert_eq!(
        sample(
            &metrics,
            "workingset_agent_housekeeping_passes_total{outcome=\"error\"}"
        ),
        0.0
    );
    // Two pods of the fixture.
    assert_eq!(sample(&metrics, "workingset_agent_workloads"), 2.0);
    // The root and at least one container per workload.
    assert!(
        sample(&metrics, "workingset_agent_cgroups_sampled") >= 3.0,
        "{metrics}"
    );
    assert!(
        sample(
            &metrics,
            "workingset_agent_last_successful_pass_timestamp_seconds"
        ) > 1.7e9
    );
    assert!(sample(&metrics, "workingset_agent_housekeeping_seconds_total") > 0.0);
    assert!(
        sample(
            &metrics,
            "workingset_agent_housekeeping_last_duration_seconds"
        ) > 0.0
    );
    assert!(
        metrics.contains(
            "workingset_agent_http_requests_total{code=\"405\",route=\"/stats/summary\"} 1"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("workingset_agent_http_requests_total{code=\"404\",route=\"other\"} 2"),
        "{metrics}"
    );
    shutdown(agent).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_503_until_a_pass_succeeds_and_keeps_serving_after_one_fails() {
    let dir = fixture_copy();
    let meminfo = dir.path().join("proc/meminfo");
    let saved = std::fs::read(&meminfo).unwrap();
    // Without /proc/meminfo the node cannot be read: every pass fails.
    std::fs::remove_file(&meminfo).unwrap();
    let agent = http::start(config(), sampler(dir.path())).await.unwrap();
    let addr = agent.local_addr();

    wait_for_metric(addr, |line| {
        line.strip_prefix("workingset_agent_housekeeping_passes_total{outcome=\"error\"} ")
            .is_some_and(|v| v.parse::<f64>().unwrap() >= 2.0)
    })
    .await;
    for path in [
        "/stats/summary",
        "/metrics/resource",
        "/metrics/cadvisor",
        "/pods",
    ] {
        let reply = get(addr, path).await;
        assert_eq!(reply.status, 503, "{path}: {reply:?}");
        assert!(reply.body.contains("first housekeeping pass"), "{reply:?}");
        assert!(reply.headers.get("retry-after").is_some(), "{reply:?}");
    }
    // Health is about the server, which is fine.
    assert_eq!(get(addr, "/healthz").await.status, 200);

    // The node becomes readable: data appears.
    std::fs::write(&meminfo, &saved).unwrap();
    let before = wait_for_200(addr, "/stats/summary", None).await;

    // Unreadable again: passes fail, and the last observation stays served.
    std::fs::remove_file(&meminfo).unwrap();
    let errors = sample(
        &get(addr, "/metrics").await.body,
        "workingset_agent_housekeeping_passes_total{outcome=\"error\"}",
    );
    wait_for_metric(addr, |line| {
        line.strip_prefix("workingset_agent_housekeeping_passes_total{outcome=\"error\"} ")
            .is_some_and(|v| v.parse::<f64>().unwrap() >= errors + 2.0)
    })
    .await;
    let after = get(addr, "/stats/summary").await;
    assert_eq!(after.status, 200, "{after:?}");
    assert_eq!(after.content_type(), before.content_type());
    shutdown(agent).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_guards_every_route_but_healthz() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "s3cret-token\n").unwrap();
    let agent = start(AgentConfig {
        token_file: Some(token_file),
        ..config()
    })
    .await;
    let addr = agent.local_addr();
    let token = Some("s3cret-token");

    wait_for_200(addr, "/stats/summary", token).await;
    for path in [
        "/stats/summary",
        "/metrics/resource",
        "/metrics/cadvisor",
        "/pods",
        "/metrics",
        // Unknown paths too: nothing is revealed before authentication.
        "/nowhere",
    ] {
        let without = get(addr, path).await;
        assert_eq!(without.status, 401, "{path}: {without:?}");
        assert_eq!(
            without.headers.get("www-authenticate").unwrap(),
            "Bearer",
            "{path}"
        );
        for wrong in ["s3cret-toke", "s3cret-token2", "S3CRET-TOKEN", ""] {
            let reply = request(addr, "GET", path, Some(wrong)).await;
            assert_eq!(reply.status, 401, "{path} with {wrong:?}");
        }
        let with = request(addr, "GET", path, token).await;
        let expected = if path == "/nowhere" { 404 } else { 200 };
        assert_eq!(with.status, expected, "{path}: {with:?}");
    }
    // Probes carry no credentials.
    let health = get(addr, "/healthz").await;
    assert_eq!((health.status, health.body.as_str()), (200, "ok"));
    shutdown(agent).await;
}

/// A self-signed certificate for `localhost` and 127.0.0.1, as PEM files.
fn certificate(dir: &Path) -> (TlsFiles, CertificateDer<'static>) {
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let cert_file = dir.join("tls.crt");
    let key_file = dir.join("tls.key");
    std::fs::write(&cert_file, generated.cert.pem()).unwrap();
    std::fs::write(&key_file, generated.signing_key.serialize_pem()).unwrap();
    (
        TlsFiles {
            cert_file,
            key_file,
        },
        generated.cert.der().clone(),
    )
}

async fn https(
    addr: SocketAddr,
    trusted: &CertificateDer<'static>,
    path: &str,
    token: Option<&str>,
) -> Reply {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trusted.clone()).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let tcp = TcpStream::connect(addr).await.unwrap();
    let tls = tokio::time::timeout(
        REQUEST_TIMEOUT,
        connector.connect(ServerName::try_from("localhost").unwrap(), tcp),
    )
    .await
    .expect("TLS handshake within the timeout")
    .expect("TLS handshake with the agent's certificate");
    exchange(tls, "GET", path, token).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_https_with_its_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (files, trusted) = certificate(dir.path());
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "t0ken").unwrap();
    let agent = start(AgentConfig {
        tls: Some(files),
        token_file: Some(token_file),
        ..config()
    })
    .await;
    assert!(agent.is_tls());
    let addr = agent.local_addr();

    let health = https(addr, &trusted, "/healthz", None).await;
    assert_eq!((health.status, health.body.as_str()), (200, "ok"));
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    let summary = loop {
        let reply = https(addr, &trusted, "/stats/summary", Some("t0ken")).await;
        if reply.status == 200 || tokio::time::Instant::now() > deadline {
            break reply;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(summary.status, 200, "{summary:?}");
    assert_eq!(summary.content_type(), "application/json");
    assert_eq!(
        https(addr, &trusted, "/stats/summary", None).await.status,
        401
    );

    // Plain HTTP on the TLS port gets no HTTP answer.
    let mut plain = TcpStream::connect(addr).await.unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        REQUEST_TIMEOUT,
        tokio::io::AsyncReadExt::read_to_end(&mut plain, &mut answer),
    )
    .await
    .expect("the server closes a plain-HTTP connection");
    assert!(!answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");
    shutdown(agent).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_files_fail_the_start_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    let start_with = |config: AgentConfig| async move {
        http::start(config, sampler(Path::new(FIXTURE)))
            .await
            .expect_err("the start should fail")
    };
    let names = |error: &StartError, file: &PathBuf| {
        let text = error.to_string();
        assert!(
            text.contains(&file.display().to_string()),
            "{text:?} does not name {}",
            file.display()
        );
    };

    // Token files.
    let missing = path("missing-token");
    let error = start_with(AgentConfig {
        token_file: Some(missing.clone()),
        ..config()
    })
    .await;
    assert!(matches!(error, StartError::TokenFileRead { .. }), "{error}");
    names(&error, &missing);
    let empty = path("empty-token");
    std::fs::write(&empty, "\n").unwrap();
    let error = start_with(AgentConfig {
        token_file: Some(empty.clone()),
        ..config()
    })
    .await;
    assert!(
        matches!(error, StartError::TokenFileInvalid { .. }),
        "{error}"
    );
    names(&error, &empty);

    // Certificate and key files.
    let (good, _) = certificate(dir.path());
    let garbage = path("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let tls = |cert_file: &PathBuf, key_file: &PathBuf| AgentConfig {
        tls: Some(TlsFiles {
            cert_file: cert_file.clone(),
            key_file: key_file.clone(),
        }),
        ..config()
    };
    let error = start_with(tls(&path("missing.crt"), &good.key_file)).await;
    assert!(
        matches!(error, StartError::Tls(TlsError::CertFileRead { .. })),
        "{error}"
    );
    names(&error, &path("missing.crt"));
    let error = start_with(tls(&garbage, &good.key_file)).await;
    assert!(
        matches!(error, StartError::Tls(TlsError::CertFileInvalid { .. })),
        "{error}"
    );
    names(&error, &garbage);
    let error = start_with(tls(&good.cert_file, &path("missing.key"))).await;
    assert!(
        matches!(error, StartError::Tls(TlsError::KeyFileRead { .. })),
        "{error}"
    );
    names(&error, &path("missing.key"));
    // A certificate is not a key.
    let error = start_with(tls(&good.cert_file, &good.cert_file)).await;
    assert!(
        matches!(error, StartError::Tls(TlsError::KeyFileInvalid { .. })),
        "{error}"
    );
    names(&error, &good.cert_file);
    // A key of another certificate.
    let other_dir = tempfile::tempdir().unwrap();
    let (other, _) = certificate(other_dir.path());
    let error = start_with(tls(&good.cert_file, &other.key_file)).await;
    assert!(
        matches!(error, StartError::Tls(TlsError::Config { .. })),
        "{error}"
    );
    names(&error, &other.key_file);

    // The interval, and a port that is taken.
    let error = start_with(AgentConfig {
        housekeeping_interval: Duration::ZERO,
        ..config()
    })
    .await;
    assert!(matches!(error, StartError::ZeroInterval), "{error}");
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = taken.local_addr().unwrap();
    let error = start_with(AgentConfig {
        listen: addr,
        ..config()
    })
    .await;
    assert!(matches!(error, StartError::Bind { .. }), "{error}");
    assert!(error.to_string().contains(&addr.to_string()), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_serving_promptly() {
    let agent = start(config()).await;
    let addr = agent.local_addr();
    wait_for_200(addr, "/stats/summary", None).await;
    // An idle keep-alive connection does not hold the shutdown up.
    let idle = TcpStream::connect(addr).await.unwrap();

    let started = tokio::time::Instant::now();
    shutdown(agent).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "still accepting after shutdown"
    );
    drop(idle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_client_is_cut_at_the_end_of_the_grace_period() {
    let agent = start(AgentConfig {
        shutdown_grace: Duration::from_millis(300),
        ..config()
    })
    .await;
    let addr = agent.local_addr();
    // Half a request: the server waits for the rest of the headers.
    let mut stuck = TcpStream::connect(addr).await.unwrap();
    stuck
        .write_all(b"GET /stats/summary HTTP/1.1\r\nhost: loc")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    let handle = agent.shutdown_handle();
    let started = tokio::time::Instant::now();
    handle.shutdown();
    tokio::time::timeout(Duration::from_secs(5), agent.stopped())
        .await
        .expect("the agent stops within 5 s");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_agent_stops_it() {
    let agent = start(config()).await;
    let addr = agent.local_addr();
    assert_eq!(get(addr, "/healthz").await.status, 200);
    drop(agent);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(addr).await.is_ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still accepting 5 s after the drop"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
