//! The server's lifetime end to end on loopback: `start` against tiny fake
//! agents, figures read back over HTTP, a node that fails or hangs kept
//! from delaying the others, and a bounded shutdown.
//!
//! The fake agents serve canned kubelet bodies whose counters advance by a
//! fixed amount per request, with sample timestamps one second apart, so
//! every rate is exact whatever the real timing of the ticks.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use workingset_server::run::{Server, ServerConfig, StartError, start};
use workingset_server::target::NodeSpec;

/// A fake agent: per `/metrics/resource` request, the node's CPU counter
/// grows by `node_cpu_step` seconds and the pod's container's by
/// `container_cpu_step`, with a timestamp one second later. Aborted on drop.
struct FakeAgent {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for FakeAgent {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone, Copy)]
struct Figures {
    node_cpu_step: f64,
    container_cpu_step: f64,
    node_memory: u64,
    container_memory: u64,
}

/// The fake agent's clock: sample timestamps start an hour ago and advance
/// one second per scrape; the container started long before.
const BASE_MS: i64 = 1_700_000_000_000;

fn resource_body(pod: &str, figures: Figures, scrape: u64) -> String {
    let ts = BASE_MS + i64::try_from(scrape).unwrap() * 1_000;
    let n = scrape as f64;
    let labels = format!("container=\"app\",namespace=\"default\",pod=\"{pod}\"");
    format!(
        "# TYPE container_cpu_usage_seconds_total counter\n\
         container_cpu_usage_seconds_total{{{labels}}} {cpu} {ts}\n\
         # TYPE container_memory_working_set_bytes gauge\n\
         container_memory_working_set_bytes{{{labels}}} {mem} {ts}\n\
         # TYPE container_start_time_seconds gauge\n\
         container_start_time_seconds{{{labels}}} {start}\n\
         # TYPE node_cpu_usage_seconds_total counter\n\
         node_cpu_usage_seconds_total {node_cpu} {ts}\n\
         # TYPE node_memory_working_set_bytes gauge\n\
         node_memory_working_set_bytes {node_mem} {ts}\n\
         # TYPE resource_scrape_error gauge\n\
         resource_scrape_error 0\n",
        cpu = 100.0 + n * figures.container_cpu_step,
        mem = figures.container_memory,
        start = BASE_MS / 1_000 - 86_400,
        node_cpu = 1_000.0 + n * figures.node_cpu_step,
        node_mem = figures.node_memory,
    )
}

fn pods_body(pod: &str) -> String {
    serde_json::json!({
        "kind": "PodList",
        "apiVersion": "v1",
        "metadata": {},
        "items": [{
            "metadata": {
                "name": pod,
                "namespace": "default",
                "labels": {"app": "web"},
                "creationTimestamp": "2024-01-01T00:00:00Z"
            },
            "status": {"phase": "Running"}
        }]
    })
    .to_string()
}

const CADVISOR_BODY: &str = "# TYPE machine_cpu_cores gauge\nmachine_cpu_cores 4\n\
# TYPE machine_memory_bytes gauge\nmachine_memory_bytes 8.589934592e+09\n";

impl FakeAgent {
    async fn start(pod: &'static str, figures: Figures) -> FakeAgent {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let scrapes = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let scrapes = Arc::clone(&scrapes);
                tokio::spawn(async move {
                    let Some(path) = read_request_path(&mut stream).await else {
                        return;
                    };
                    let (status, body) = match path.as_str() {
                        "/metrics/resource" => {
                            let n = scrapes.fetch_add(1, Ordering::SeqCst);
                            ("200 OK", resource_body(pod, figures, n))
                        }
                        "/pods" => ("200 OK", pods_body(pod)),
                        "/metrics/cadvisor" => ("200 OK", CADVISOR_BODY.to_owned()),
                        _ => ("404 Not Found", "404 page not found\n".to_owned()),
                    };
                    let response = format!(
                        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        FakeAgent { addr, task }
    }

    /// A node that accepts connections and never answers.
    async fn hanging() -> FakeAgent {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        FakeAgent { addr, task }
    }

    fn spec(&self, name: &str) -> NodeSpec {
        NodeSpec::parse_flag(&format!("{name}=http://{}", self.addr)).unwrap()
    }
}

/// The path of one request; reads until the end of the head.
async fn read_request_path(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head);
    head.split_whitespace().nth(1).map(str::to_owned)
}

/// A plain GET with `Connection: close`: (status, body).
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(
                format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    };
    let response = tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .unwrap_or_else(|_| panic!("GET {path}: no answer within 5 s"));
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
    let body = response
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}

/// Polls `path` until `done` accepts the JSON body, for at most 10 s.
async fn wait_for_json(addr: SocketAddr, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = get(addr, path).await;
        if status == 200 {
            let value: Value = serde_json::from_str(&body).unwrap();
            if done(&value) {
                return value;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{path} not as expected within 10 s: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn names(list: &Value) -> Vec<&str> {
    list["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["metadata"]["name"].as_str())
                .collect()
        })
        .unwrap_or_default()
}

/// One figure of the server's `/metrics`, by its exact series text.
fn series(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let (name, value) = line.rsplit_once(' ')?;
        (name == series).then(|| value.parse().ok()).flatten()
    })
}

async fn start_with(nodes: Vec<NodeSpec>) -> Server {
    let mut config = ServerConfig::new("127.0.0.1:0".parse().unwrap(), nodes);
    config.resolution = Duration::from_secs(1);
    config.shutdown_grace = Duration::from_secs(1);
    start(config).await.unwrap()
}

const A: Figures = Figures {
    node_cpu_step: 0.5,
    container_cpu_step: 0.25,
    node_memory: 2 << 20,
    container_memory: 1 << 20,
};
const B: Figures = Figures {
    node_cpu_step: 2.0,
    container_cpu_step: 0.125,
    node_memory: 3 << 30,
    container_memory: 5 << 20,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_and_pods_are_served_with_their_rates() {
    let a = FakeAgent::start("web-a", A).await;
    let b = FakeAgent::start("web-b", B).await;
    let server = start_with(vec![a.spec("node-a"), b.spec("node-b")]).await;
    let addr = server.local_addr();

    let nodes = wait_for_json(addr, "/apis/metrics.k8s.io/v1beta1/nodes", |list| {
        names(list).len() == 2
    })
    .await;
    assert_eq!(names(&nodes), ["node-a", "node-b"]);
    let items = nodes["items"].as_array().unwrap();
    // 0.5 s of CPU per 1 s between samples, and 2 cores.
    assert_eq!(items[0]["usage"]["cpu"], "500m", "{nodes}");
    assert_eq!(items[0]["usage"]["memory"], "2Mi", "{nodes}");
    assert_eq!(items[0]["window"], "1s", "{nodes}");
    assert_eq!(
        items[0]["metadata"]["labels"]["kubernetes.io/hostname"],
        "node-a"
    );
    assert_eq!(items[1]["usage"]["cpu"], "2", "{nodes}");
    assert_eq!(items[1]["usage"]["memory"], "3Gi", "{nodes}");

    let pods = wait_for_json(addr, "/apis/metrics.k8s.io/v1beta1/pods", |list| {
        names(list).len() == 2
    })
    .await;
    assert_eq!(names(&pods), ["web-a", "web-b"]);
    let containers = &pods["items"][0]["containers"];
    assert_eq!(containers[0]["name"], "app");
    assert_eq!(containers[0]["usage"]["cpu"], "250m", "{pods}");
    assert_eq!(containers[0]["usage"]["memory"], "1Mi", "{pods}");
    assert_eq!(pods["items"][0]["metadata"]["labels"]["app"], "web");
    assert_eq!(
        pods["items"][1]["containers"][0]["usage"]["cpu"], "125m",
        "{pods}"
    );

    // Standalone core objects: capacity from cAdvisor's machine figures.
    let (status, body) = get(addr, "/api/v1/nodes/node-a").await;
    assert_eq!(status, 200, "{body}");
    let node: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(node["status"]["capacity"]["cpu"], "4", "{body}");
    assert_eq!(node["status"]["capacity"]["memory"], "8Gi", "{body}");

    let (status, body) = get(addr, "/readyz").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = get(addr, "/livez").await;
    assert_eq!(status, 200, "{body}");
    let (status, metrics) = get(addr, "/metrics").await;
    assert_eq!(status, 200, "{metrics}");
    assert!(
        series(
            &metrics,
            "workingset_server_scrapes_total{node=\"node-a\",outcome=\"success\"}"
        )
        .is_some_and(|n| n >= 2.0),
        "{metrics}"
    );
    // The capacity was asked once, with the first inventory, and came.
    assert_eq!(
        series(
            &metrics,
            "workingset_server_capacity_requests_total{node=\"node-a\",outcome=\"success\"}"
        ),
        Some(1.0),
        "{metrics}"
    );
    // Two containers and two nodes, at most two points each.
    assert!(
        series(&metrics, "workingset_server_points_stored").is_some_and(|n| n > 0.0 && n <= 8.0),
        "{metrics}"
    );

    tokio::time::timeout(Duration::from_secs(5), server.shutdown())
        .await
        .expect("shutdown within 5 s");
    assert!(TcpStream::connect(addr).await.is_err(), "still listening");
}

/// Counters that go down on every scrape (a broken runtime, or a kubelet
/// whose counters reset): never a rate across the drop, and never silent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_going_backwards_are_counted_not_served() {
    let backwards = Figures {
        node_cpu_step: -0.5,
        container_cpu_step: -0.25,
        ..A
    };
    let good = FakeAgent::start("web-a", A).await;
    let bad = FakeAgent::start("web-back", backwards).await;
    let server = start_with(vec![good.spec("node-a"), bad.spec("node-back")]).await;
    let addr = server.local_addr();

    let resets = "workingset_server_cpu_usage_drops_total{node=\"node-back\"}";
    let deadline = Instant::now() + Duration::from_secs(10);
    let metrics = loop {
        let (_, metrics) = get(addr, "/metrics").await;
        // The node's and the container's series, on at least two scrapes.
        if series(&metrics, resets).is_some_and(|n| n >= 4.0) {
            break metrics;
        }
        assert!(
            Instant::now() < deadline,
            "no resets counted within 10 s:\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        series(
            &metrics,
            "workingset_server_cpu_usage_drops_total{node=\"node-a\"}"
        ),
        Some(0.0),
        "{metrics}"
    );
    // The scrapes themselves succeed; the figures are what is wrong.
    assert!(
        series(
            &metrics,
            "workingset_server_scrapes_total{node=\"node-back\",outcome=\"success\"}"
        )
        .is_some_and(|n| n >= 2.0),
        "{metrics}"
    );
    let nodes = wait_for_json(addr, "/apis/metrics.k8s.io/v1beta1/nodes", |list| {
        !names(list).is_empty()
    })
    .await;
    assert_eq!(names(&nodes), ["node-a"], "{nodes}");
    let pods = get(addr, "/apis/metrics.k8s.io/v1beta1/pods").await.1;
    assert!(!pods.contains("web-back"), "{pods}");

    tokio::time::timeout(Duration::from_secs(5), server.shutdown())
        .await
        .expect("shutdown within 5 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_node_does_not_delay_the_others_and_shutdown_is_bounded() {
    let good = FakeAgent::start("web-a", A).await;
    let hanging = FakeAgent::hanging().await;
    // A port nothing listens on: bind, note, close.
    let refused = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    let refused = NodeSpec::parse_flag(&format!("refused=http://{refused}")).unwrap();
    let server = start_with(vec![good.spec("good"), hanging.spec("hanging"), refused]).await;
    let addr = server.local_addr();

    let nodes = wait_for_json(addr, "/apis/metrics.k8s.io/v1beta1/nodes", |list| {
        !names(list).is_empty()
    })
    .await;
    assert_eq!(names(&nodes), ["good"], "{nodes}");
    assert_eq!(nodes["items"][0]["usage"]["cpu"], "500m", "{nodes}");

    // Wait until the hanging node has timed out at least once.
    let deadline = Instant::now() + Duration::from_secs(10);
    let metrics = loop {
        let (_, metrics) = get(addr, "/metrics").await;
        let timeouts = series(
            &metrics,
            "workingset_server_scrapes_total{node=\"hanging\",outcome=\"timeout\"}",
        );
        if timeouts.is_some_and(|n| n >= 1.0) {
            break metrics;
        }
        assert!(
            Instant::now() < deadline,
            "no timeout counted within 10 s:\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // The hanging node's timeout is bounded by the tick (1 s resolution,
    // default 10 s timeout), and so is the tick itself.
    let hanging_seconds = series(
        &metrics,
        "workingset_server_scrape_last_duration_seconds{node=\"hanging\"}",
    )
    .unwrap();
    assert!(hanging_seconds < 1.0, "{metrics}");
    let tick_seconds = series(&metrics, "workingset_server_tick_last_duration_seconds").unwrap();
    assert!(tick_seconds < 1.0, "{metrics}");
    assert!(
        series(
            &metrics,
            "workingset_server_scrapes_total{node=\"refused\",outcome=\"connect\"}"
        )
        .is_some_and(|n| n >= 1.0),
        "{metrics}"
    );
    let (status, _) = get(addr, "/livez").await;
    assert_eq!(status, 200);

    // Mid-tick (the hanging request is in flight): still bounded.
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), server.shutdown())
        .await
        .expect("shutdown within 5 s");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(TcpStream::connect(addr).await.is_err(), "still listening");
}

#[tokio::test]
async fn bad_configurations_fail_the_start() {
    let node = NodeSpec::parse_flag("a=http://127.0.0.1:1").unwrap();
    let listen: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let error = start(ServerConfig::new(listen, Vec::new()))
        .await
        .unwrap_err();
    assert!(matches!(error, StartError::NoNodes), "{error}");
    let error = start(ServerConfig::new(listen, vec![node.clone(), node.clone()]))
        .await
        .unwrap_err();
    assert!(matches!(error, StartError::DuplicateNode { .. }), "{error}");

    // An address already in use.
    let taken = TcpListener::bind(listen).await.unwrap();
    let error = start(ServerConfig::new(taken.local_addr().unwrap(), vec![node]))
        .await
        .unwrap_err();
    assert!(matches!(error, StartError::Bind { .. }), "{error}");
    assert!(
        error.to_string().starts_with("cannot listen on 127.0.0.1:"),
        "{error}"
    );
}

/// The fleet simulator's bodies are what the server reads: every healthy
/// node and every pod of a small simulated fleet is served (the failing
/// nodes are not), with the CPU rate each container runs at.
#[test]
fn a_simulated_fleet_is_served_whole() {
    use workingset_testkit::fleet::{Fleet, FleetConfig};
    let fleet = Fleet::start(FleetConfig {
        nodes: 12,
        pods_per_node: 5,
        containers_per_pod: 2,
        failing_nodes: 2,
        ..FleetConfig::default()
    })
    .unwrap();
    let nodes: Vec<NodeSpec> = fleet
        .nodes()
        .into_iter()
        .map(|(name, url)| NodeSpec::parse_flag(&format!("{name}={url}")).unwrap())
        .collect();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut config = ServerConfig::new("127.0.0.1:0".parse().unwrap(), nodes);
        config.resolution = Duration::from_secs(1);
        let server = start(config).await.unwrap();
        let addr = server.local_addr();
        let count = |n: usize| move |v: &Value| v["items"].as_array().is_some_and(|i| i.len() == n);
        wait_for_json(addr, "/apis/metrics.k8s.io/v1beta1/nodes", count(10)).await;
        let pods = wait_for_json(addr, "/apis/metrics.k8s.io/v1beta1/pods", count(50)).await;
        // Nodes 0 and 1 fail; container c0 of pod 0 on node 2 runs at
        // 5m + (2 + 0 + 0) × 5m = 15m (see the simulator).
        let pod = pods["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["metadata"]["name"] == "app-00002-000-0")
            .unwrap();
        let cpu = pod["containers"][0]["usage"]["cpu"].as_str().unwrap();
        let nanocores = cpu
            .parse::<workingset_quantity::Quantity>()
            .unwrap()
            .scaled_value(-9);
        assert!((nanocores - 15_000_000).abs() < 300_000, "{cpu}");
        server.shutdown().await;
    });
    assert!(fleet.stats().requests > 0);
}
