//! A fleet of fake kubelets in one process, for scale benchmarks: N nodes
//! on loopback, **one port per node** (so the server under test opens one
//! connection pool per node, as it does against a real fleet, and both
//! standalone `--nodes-file` URLs and Kubernetes-mode node addresses work
//! without path tricks), each serving what a 1.29+ kubelet serves to a
//! metrics server:
//!
//! - `/metrics/resource`: node and per-container CPU counters that move
//!   with wall time at each container's fixed rate, working sets, start
//!   times, in client_golang's family and sample order;
//! - `/pods`: the node's running pods (core/v1 `PodList`, with containers);
//! - `/metrics/cadvisor`: the machine's cores and memory;
//! - `/healthz`.
//!
//! Knobs: pods per node, containers per pod, churn (pods replaced by new
//! ones every period), slow nodes (answer after a delay) and failing nodes
//! (answer 500). The fleet runs on its own tokio runtime with few worker
//! threads, bodies are written straight into one buffer per request, and
//! [`Fleet::stats`] reports its requests, bytes and CPU time, so a
//! benchmark can show the simulator is not the bottleneck.

use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::fake_agent::rfc3339;

/// What the fleet looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetConfig {
    /// Nodes (one port each).
    pub nodes: usize,
    /// The number of the first node (`node-NNNNN`): a fleet can be split
    /// over processes, each under its own open-files limit (each node takes
    /// a listening socket and the server's connection).
    pub first_node: usize,
    /// Running pods per node.
    pub pods_per_node: usize,
    /// Containers per pod.
    pub containers_per_pod: usize,
    /// Namespaces the pods are spread over.
    pub namespaces: usize,
    /// Pods replaced by new ones (new name, new start) every
    /// `churn_period`, across the fleet.
    pub churn_per_period: usize,
    /// See `churn_per_period`.
    pub churn_period: Duration,
    /// The first this many nodes answer `/metrics/resource` late.
    pub slow_nodes: usize,
    /// How late.
    pub slow_delay: Duration,
    /// The next this many nodes answer `/metrics/resource` with a 500.
    pub failing_nodes: usize,
    /// Worker threads of the fleet's runtime.
    pub worker_threads: usize,
}

impl Default for FleetConfig {
    fn default() -> Self {
        Self {
            nodes: 100,
            first_node: 0,
            pods_per_node: 30,
            containers_per_pod: 2,
            namespaces: 100,
            churn_per_period: 0,
            churn_period: Duration::from_secs(15),
            slow_nodes: 0,
            slow_delay: Duration::from_secs(2),
            failing_nodes: 0,
            worker_threads: 1,
        }
    }
}

/// What the fleet has done so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FleetStats {
    /// Requests answered.
    pub requests: u64,
    /// Body bytes sent.
    pub bytes: u64,
    /// Pods replaced by churn.
    pub churned: u64,
}

#[derive(Debug)]
struct SimPod {
    namespace: String,
    name: String,
    uid: String,
    app: String,
    /// Unix seconds the pod (and its containers) started.
    started: u64,
    /// Per container: name and CPU rate in millicores.
    containers: Vec<(String, u64)>,
}

#[derive(Debug)]
struct SimNode {
    name: String,
    slow: bool,
    failing: bool,
    pods: Mutex<Vec<SimPod>>,
    /// The node's own CPU rate (millicores) and working set.
    millicores: u64,
    memory: u64,
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    bytes: AtomicU64,
    churned: AtomicU64,
}

/// The running fleet; stops (and joins its runtime) when dropped.
#[derive(Debug)]
pub struct Fleet {
    addrs: Vec<SocketAddr>,
    nodes: Arc<Vec<SimNode>>,
    counters: Arc<Counters>,
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn pod(config: &FleetConfig, node: usize, index: usize, generation: u64, started: u64) -> SimPod {
    let namespace = format!(
        "ns-{:04}",
        (node * config.pods_per_node + index) % config.namespaces.max(1)
    );
    let name = format!("app-{node:05}-{index:03}-{generation}");
    SimPod {
        uid: format!(
            "{:08x}-0000-4000-8000-{:012x}",
            node,
            index as u64 * 1_000 + generation
        ),
        app: format!("app-{}", index % 10),
        containers: (0..config.containers_per_pod)
            .map(|c| (format!("c{c}"), 5 + ((node + index + c) as u64 % 20) * 5))
            .collect(),
        namespace,
        name,
        started,
    }
}

impl Fleet {
    /// Binds every node's port on 127.0.0.1 and starts serving.
    pub fn start(config: FleetConfig) -> io::Result<Fleet> {
        let started = unix_now() as u64 - 3_600;
        let nodes: Vec<SimNode> = (config.first_node..config.first_node + config.nodes)
            .map(|n| SimNode {
                name: format!("node-{n:05}"),
                slow: n < config.slow_nodes,
                failing: n >= config.slow_nodes && n < config.slow_nodes + config.failing_nodes,
                pods: Mutex::new(
                    (0..config.pods_per_node)
                        .map(|i| pod(&config, n, i, 0, started))
                        .collect(),
                ),
                millicores: 500 + (n as u64 % 8) * 125,
                memory: (2 << 30) + (n as u64 % 16) * (64 << 20),
            })
            .collect();
        let nodes = Arc::new(nodes);
        let counters = Arc::new(Counters::default());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.worker_threads.max(1))
            .thread_name("fleet")
            .enable_all()
            .build()?;
        let listeners = runtime.block_on(async {
            let mut listeners = Vec::with_capacity(config.nodes);
            for _ in 0..config.nodes {
                listeners.push(TcpListener::bind("127.0.0.1:0").await?);
            }
            Ok::<_, io::Error>(listeners)
        })?;
        let addrs = listeners
            .iter()
            .map(TcpListener::local_addr)
            .collect::<io::Result<Vec<_>>>()?;
        let (stop, stopped) = watch::channel(false);
        let thread = {
            let nodes = Arc::clone(&nodes);
            let counters = Arc::clone(&counters);
            std::thread::Builder::new()
                .name("fleet-main".to_owned())
                .spawn(move || {
                    runtime.block_on(serve_fleet(listeners, nodes, counters, config, stopped));
                    runtime.shutdown_timeout(Duration::from_secs(2));
                })?
        };
        Ok(Fleet {
            addrs,
            nodes,
            counters,
            stop,
            thread: Some(thread),
        })
    }

    /// `(name, base URL)` of every node.
    pub fn nodes(&self) -> Vec<(String, String)> {
        self.nodes
            .iter()
            .zip(&self.addrs)
            .map(|(node, addr)| (node.name.clone(), format!("http://{addr}")))
            .collect()
    }

    /// A `--nodes-file` for `workingset server`.
    pub fn nodes_file(&self) -> String {
        let mut out = String::new();
        for (index, (name, url)) in self.nodes().into_iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}={url} topology.kubernetes.io/zone=zone-{}",
                index % 3
            );
        }
        out
    }

    /// Requests, bytes and churn so far.
    pub fn stats(&self) -> FleetStats {
        FleetStats {
            requests: self.counters.requests.load(Ordering::Relaxed),
            bytes: self.counters.bytes.load(Ordering::Relaxed),
            churned: self.counters.churned.load(Ordering::Relaxed),
        }
    }

    /// Stops serving and joins the runtime.
    pub fn stop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn serve_fleet(
    listeners: Vec<TcpListener>,
    nodes: Arc<Vec<SimNode>>,
    counters: Arc<Counters>,
    config: FleetConfig,
    stopped: watch::Receiver<bool>,
) {
    let mut tasks = tokio::task::JoinSet::new();
    for (index, listener) in listeners.into_iter().enumerate() {
        let nodes = Arc::clone(&nodes);
        let counters = Arc::clone(&counters);
        let mut stop = stopped.clone();
        let slow_delay = config.slow_delay;
        tasks.spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.changed() => break,
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else {
                            // Out of file descriptors, most likely: do not spin.
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        };
                        let nodes = Arc::clone(&nodes);
                        let counters = Arc::clone(&counters);
                        tokio::spawn(async move {
                            let service = service_fn(move |request: Request<Incoming>| {
                                let nodes = Arc::clone(&nodes);
                                let counters = Arc::clone(&counters);
                                async move {
                                    Ok::<_, std::convert::Infallible>(
                                        answer(&nodes[index], request.uri().path(), slow_delay, &counters).await,
                                    )
                                }
                            });
                            let _ = http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        });
                    }
                }
            }
        });
    }
    if config.churn_per_period > 0 {
        let nodes = Arc::clone(&nodes);
        let counters = Arc::clone(&counters);
        let mut stop = stopped.clone();
        tasks.spawn(async move {
            let mut ticker = tokio::time::interval(config.churn_period);
            ticker.tick().await;
            let mut cursor = 0usize;
            let mut generation = 1u64;
            loop {
                tokio::select! {
                    _ = stop.changed() => break,
                    _ = ticker.tick() => {}
                }
                let now = unix_now() as u64;
                for _ in 0..config.churn_per_period {
                    let node = cursor % nodes.len().max(1);
                    let slot = (cursor / nodes.len().max(1)) % config.pods_per_node.max(1);
                    cursor += 1;
                    if let Some(sim) = nodes.get(node) {
                        let mut pods = sim.pods.lock().unwrap_or_else(PoisonError::into_inner);
                        if let Some(entry) = pods.get_mut(slot) {
                            *entry = pod(&config, config.first_node + node, slot, generation, now);
                            counters.churned.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                generation += 1;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

async fn answer(
    node: &SimNode,
    path: &str,
    slow_delay: Duration,
    counters: &Counters,
) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match path {
        "/metrics/resource" if node.failing => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain",
            "failing on purpose\n".to_owned(),
        ),
        "/metrics/resource" => {
            if node.slow {
                tokio::time::sleep(slow_delay).await;
            }
            (
                StatusCode::OK,
                "text/plain; version=0.0.4",
                resource_body(node),
            )
        }
        "/pods" => (StatusCode::OK, "application/json", pods_body(node)),
        "/metrics/cadvisor" => (StatusCode::OK, "text/plain; version=0.0.4", cadvisor_body()),
        "/healthz" => (StatusCode::OK, "text/plain", "ok".to_owned()),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "404 page not found\n".to_owned(),
        ),
    };
    counters.requests.fetch_add(1, Ordering::Relaxed);
    counters
        .bytes
        .fetch_add(body.len() as u64, Ordering::Relaxed);
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = hyper::header::HeaderValue::from_str(content_type) {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

/// The kubelet's `/metrics/resource` at this instant.
fn resource_body(node: &SimNode) -> String {
    let now = unix_now();
    let timestamp_ms = (now * 1_000.0) as u64;
    let pods = node.pods.lock().unwrap_or_else(PoisonError::into_inner);
    // client_golang sorts a family's samples by label values in label-name
    // order: container, namespace, pod.
    let mut samples: Vec<(&str, &str, &str, u64, u64)> = pods
        .iter()
        .flat_map(|pod| {
            pod.containers.iter().map(move |(name, millicores)| {
                (
                    name.as_str(),
                    pod.namespace.as_str(),
                    pod.name.as_str(),
                    *millicores,
                    pod.started,
                )
            })
        })
        .collect();
    samples.sort_unstable_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
    let mut out = String::with_capacity(256 + samples.len() * 420);
    out.push_str("# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the container in core-seconds\n# TYPE container_cpu_usage_seconds_total counter\n");
    for (container, namespace, pod, millicores, started) in &samples {
        let cpu = (now - *started as f64) * (*millicores as f64) / 1_000.0;
        let _ = writeln!(
            out,
            "container_cpu_usage_seconds_total{{container=\"{container}\",namespace=\"{namespace}\",pod=\"{pod}\"}} {cpu:.6} {timestamp_ms}"
        );
    }
    out.push_str("# HELP container_memory_working_set_bytes [STABLE] Current working set of the container in bytes\n# TYPE container_memory_working_set_bytes gauge\n");
    for (container, namespace, pod, millicores, _) in &samples {
        let bytes = (16 << 20) + millicores * (1 << 20);
        let _ = writeln!(
            out,
            "container_memory_working_set_bytes{{container=\"{container}\",namespace=\"{namespace}\",pod=\"{pod}\"}} {bytes} {timestamp_ms}"
        );
    }
    out.push_str("# HELP container_start_time_seconds [STABLE] Start time of the container since unix epoch in seconds\n# TYPE container_start_time_seconds gauge\n");
    for (container, namespace, pod, _, started) in &samples {
        let _ = writeln!(
            out,
            "container_start_time_seconds{{container=\"{container}\",namespace=\"{namespace}\",pod=\"{pod}\"}} {started} {timestamp_ms}"
        );
    }
    let node_cpu = (now - 1_700_000_000.0) * node.millicores as f64 / 1_000.0;
    let _ = write!(
        out,
        "# HELP node_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the node in core-seconds\n# TYPE node_cpu_usage_seconds_total counter\nnode_cpu_usage_seconds_total {node_cpu:.6} {timestamp_ms}\n# HELP node_memory_working_set_bytes [STABLE] Current working set of the node in bytes\n# TYPE node_memory_working_set_bytes gauge\nnode_memory_working_set_bytes {} {timestamp_ms}\n# HELP resource_scrape_error [STABLE] 1 if there was an error while getting container metrics, 0 otherwise\n# TYPE resource_scrape_error gauge\nresource_scrape_error 0\n",
        node.memory
    );
    out
}

/// The kubelet's `/pods`: running pods with their containers.
fn pods_body(node: &SimNode) -> String {
    let pods = node.pods.lock().unwrap_or_else(PoisonError::into_inner);
    let mut out = String::with_capacity(64 + pods.len() * 400);
    out.push_str(r#"{"kind":"PodList","apiVersion":"v1","metadata":{},"items":["#);
    for (index, pod) in pods.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        let started = rfc3339(i64::try_from(pod.started).unwrap_or(i64::MAX));
        let containers: Vec<String> = pod
            .containers
            .iter()
            .map(|(name, _)| format!(r#"{{"name":"{name}","image":"registry.invalid/app:1"}}"#))
            .collect();
        let _ = write!(
            out,
            r#"{{"metadata":{{"name":"{}","namespace":"{}","uid":"{}","creationTimestamp":"{started}","labels":{{"app":"{}"}}}},"spec":{{"nodeName":"{}","containers":[{}]}},"status":{{"phase":"Running","startTime":"{started}"}}}}"#,
            pod.name,
            pod.namespace,
            pod.uid,
            pod.app,
            node.name,
            containers.join(",")
        );
    }
    out.push_str("]}");
    out
}

fn cadvisor_body() -> String {
    "# HELP machine_cpu_cores Number of logical CPU cores.\n# TYPE machine_cpu_cores gauge\nmachine_cpu_cores 8\n# HELP machine_memory_bytes Amount of memory installed on the machine.\n# TYPE machine_memory_bytes gauge\nmachine_memory_bytes 3.3554432e+10\n".to_owned()
}

/// Process CPU seconds (user + system) of this process so far.
pub fn own_cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    cpu_seconds_of_stat(&stat)
}

/// User + system CPU seconds from a `/proc/PID/stat` line (clock ticks of
/// 1/100 s, as on every Linux this runs on).
pub fn cpu_seconds_of_stat(stat: &str) -> f64 {
    let Some((_, after)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15; after the command they are the
    // 12th and 13th.
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// A summary line of the fleet's own cost since `since` (CPU seconds of
/// this process at that time).
pub fn cost_line(stats: FleetStats, since_cpu: f64, elapsed: Duration) -> String {
    let cpu = own_cpu_seconds() - since_cpu;
    let share = if elapsed.is_zero() {
        0.0
    } else {
        cpu / elapsed.as_secs_f64() * 100.0
    };
    format!(
        "fleet: {} requests, {:.1} MB sent, {} pods churned, {cpu:.1} CPU s over {:.0} s ({share:.1} % of one core)",
        stats.requests,
        stats.bytes as f64 / 1e6,
        stats.churned,
        elapsed.as_secs_f64()
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_give_cpu_seconds() {
        let line = "123 (work er) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0";
        assert!((cpu_seconds_of_stat(line) - 3.0).abs() < 1e-9);
    }
}
