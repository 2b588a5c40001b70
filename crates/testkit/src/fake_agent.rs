//! A fake node agent on loopback: kubelet-shaped answers with figures fixed
//! by the test, and failure modes switched on at run time.
//!
//! What it is for: tests of the metrics server that need exact, repeatable
//! figures (a real agent's CPU counters move with the machine) or a node that
//! misbehaves in one precise way (garbage, an oversized body, an answer after
//! the timeout, a closed port) — which a real agent cannot be made to do.
//!
//! It serves what the server reads from a node:
//! - `GET /metrics/resource`: a 1.29+ kubelet's exposition (families sorted,
//!   labels sorted, millisecond timestamps, Go float formatting). Every
//!   request is one more sample on a private timeline: the sample time moves
//!   by whole [`SAMPLE_STEP`]s (at least one per request, and never behind
//!   the wall clock) and each CPU counter moves by exactly `millicores` ×
//!   the time moved. The counters are multiples of 1/64 s, exact in binary,
//!   so any two samples give exactly the configured rate (e.g. `250m`),
//!   whatever the scraper's timing.
//! - `GET /pods`: a core/v1 `PodList` of Running pods with their labels.
//! - `GET /metrics/cadvisor`: `machine_cpu_cores`, `machine_memory_bytes`.
//! - `GET /healthz`: `ok`.
//!
//! [`Behaviour`] changes only `/metrics/resource`, so a node with a broken
//! scrape still has its inventory and the failure the server sees is exactly
//! the one the test asked for. [`FakeAgent::stop`] closes the port itself.
//!
//! Bounded everywhere: sockets have 5 s read and write timeouts, a slow
//! answer gives up as soon as the agent is stopped, and stopping (or
//! dropping) joins every thread.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How far the sample time moves per step; CPU counters move by
/// `millicores × SAMPLE_STEP` per step.
pub const SAMPLE_STEP: Duration = Duration::from_millis(125);
/// Size of the body [`Behaviour::Huge`] sends: more than any sane cap on a
/// `/metrics/resource` response (the server's default is 4 MiB).
pub const HUGE_BODY_BYTES: usize = 5_000_000;
/// CPU rates must be multiples of this many millicores so that every
/// counter value is a multiple of 1/64 s (exact in binary floating point).
pub const MILLICORES_GRANULE: u64 = 125;

const SOCKET_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_REQUEST_HEAD: usize = 16 * 1024;
const POLL: Duration = Duration::from_millis(5);
/// Counters start here (in 1/64 s) rather than at 0, as on a machine that
/// has been up a while.
const COUNTER_START_64THS: u64 = 64 * 1_000;
/// Containers and pods started this long before the agent.
const STARTED_BEFORE: Duration = Duration::from_secs(3_600);

/// One container of a fake pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeContainer {
    /// Container name.
    pub name: String,
    /// CPU rate, a multiple of [`MILLICORES_GRANULE`].
    pub millicores: u64,
    /// Working set in bytes.
    pub memory_bytes: u64,
}

/// A Running pod on the fake node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakePod {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Labels as `/pods` reports them.
    pub labels: BTreeMap<String, String>,
    /// Its containers.
    pub containers: Vec<FakeContainer>,
}

impl FakePod {
    /// A pod without labels or containers.
    pub fn new(namespace: &str, name: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            labels: BTreeMap::new(),
            containers: Vec::new(),
        }
    }

    /// Adds a label.
    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.labels.insert(key.to_owned(), value.to_owned());
        self
    }

    /// Adds a container with a CPU rate and a working set.
    pub fn container(mut self, name: &str, millicores: u64, memory_bytes: u64) -> Self {
        self.containers.push(FakeContainer {
            name: name.to_owned(),
            millicores,
            memory_bytes,
        });
        self
    }
}

/// The node's figures and pods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeNode {
    /// Logical CPUs (`machine_cpu_cores`).
    pub cpu_cores: u32,
    /// Installed memory (`machine_memory_bytes`).
    pub memory_capacity_bytes: u64,
    /// The node's CPU rate, a multiple of [`MILLICORES_GRANULE`].
    pub millicores: u64,
    /// The node's working set in bytes.
    pub memory_bytes: u64,
    /// Running pods.
    pub pods: Vec<FakePod>,
}

impl FakeNode {
    /// A node with these capacities and usage, no pods yet.
    pub fn new(
        cpu_cores: u32,
        memory_capacity_bytes: u64,
        millicores: u64,
        memory_bytes: u64,
    ) -> Self {
        Self {
            cpu_cores,
            memory_capacity_bytes,
            millicores,
            memory_bytes,
            pods: Vec::new(),
        }
    }

    /// Adds a pod.
    pub fn pod(mut self, pod: FakePod) -> Self {
        self.pods.push(pod);
        self
    }

    fn check(&self) -> io::Result<()> {
        let rates = std::iter::once(self.millicores).chain(
            self.pods
                .iter()
                .flat_map(|p| p.containers.iter().map(|c| c.millicores)),
        );
        for millicores in rates {
            if millicores % MILLICORES_GRANULE != 0 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "{millicores}m is not a multiple of {MILLICORES_GRANULE}m: its counters would not be exact"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// How `/metrics/resource` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// The node's figures, one more sample per request.
    Healthy,
    /// `200 OK` with bytes that are not an exposition.
    Garbage,
    /// `200 OK` with a [`HUGE_BODY_BYTES`] body (valid samples, then
    /// comment lines), sent without `Content-Length`, so only a cap on the
    /// bytes read stops it.
    Huge,
    /// The healthy answer, but only after this long (given up when the
    /// agent stops).
    Slow(Duration),
}

/// A running fake agent; stopped, with every thread joined, on drop.
#[derive(Debug)]
pub struct FakeAgent {
    addr: SocketAddr,
    shared: Arc<Shared>,
    running: Option<Running>,
}

#[derive(Debug)]
struct Running {
    stop: Arc<AtomicBool>,
    acceptor: JoinHandle<()>,
}

#[derive(Debug)]
struct Shared {
    node: FakeNode,
    behaviour: Mutex<Behaviour>,
    /// Last sample step served; `None` before the first.
    last_step: Mutex<Option<u64>>,
    requests: Mutex<BTreeMap<String, u64>>,
    started: Instant,
    /// Unix ms of step 0: the start, floored to a whole step.
    epoch_ms: i64,
}

impl FakeAgent {
    /// Starts serving `node` on `127.0.0.1:0`, healthy.
    pub fn start(node: FakeNode) -> io::Result<FakeAgent> {
        node.check()?;
        let step_ms = step_ms();
        let now_ms = i64::try_from(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_err(io::Error::other)?
                .as_millis(),
        )
        .map_err(io::Error::other)?;
        let shared = Arc::new(Shared {
            node,
            behaviour: Mutex::new(Behaviour::Healthy),
            last_step: Mutex::new(None),
            requests: Mutex::new(BTreeMap::new()),
            started: Instant::now(),
            epoch_ms: now_ms - now_ms.rem_euclid(step_ms),
        });
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let mut agent = FakeAgent {
            addr,
            shared,
            running: None,
        };
        agent.serve(listener)?;
        Ok(agent)
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The figures it serves.
    pub fn node(&self) -> &FakeNode {
        &self.shared.node
    }

    /// Switches how `/metrics/resource` answers from the next request on.
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        *lock(&self.shared.behaviour) = behaviour;
    }

    /// How many requests for `path` (query excluded) it has received.
    pub fn requests(&self, path: &str) -> u64 {
        lock(&self.shared.requests).get(path).copied().unwrap_or(0)
    }

    /// Closes the port and joins every thread; requests in flight get no
    /// answer. Does nothing when already stopped.
    pub fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop.store(true, Ordering::SeqCst);
            // The acceptor joins the connection threads before it ends.
            let _ = running.acceptor.join();
        }
    }

    /// Listens again on the same port, with the same timeline (counters
    /// carry on), after [`FakeAgent::stop`]. Does nothing when running.
    pub fn restart(&mut self) -> io::Result<()> {
        if self.running.is_some() {
            return Ok(());
        }
        let listener = TcpListener::bind(self.addr)?;
        self.serve(listener)
    }

    fn serve(&mut self, listener: TcpListener) -> io::Result<()> {
        // Non-blocking, so the loop sees the stop flag without a wake-up
        // connection.
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::clone(&self.shared);
        let flag = Arc::clone(&stop);
        let acceptor = thread::Builder::new()
            .name(format!("fake-agent-{}", self.addr.port()))
            .spawn(move || accept_loop(&listener, &shared, &flag))?;
        self.running = Some(Running { stop, acceptor });
        Ok(())
    }
}

impl Drop for FakeAgent {
    fn drop(&mut self) {
        self.stop();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn step_ms() -> i64 {
    i64::try_from(SAMPLE_STEP.as_millis()).unwrap_or(125)
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>, stop: &Arc<AtomicBool>) {
    let mut connections: Vec<JoinHandle<()>> = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let shared = Arc::clone(shared);
                let stop = Arc::clone(stop);
                let spawned = thread::Builder::new()
                    .name("fake-agent-conn".to_owned())
                    .spawn(move || {
                        // A failed exchange is the client's problem; the
                        // fake has nothing to report it to.
                        let _ = handle(stream, &shared, &stop);
                    });
                if let Ok(handle) = spawned {
                    connections.push(handle);
                }
            }
            Err(_) => thread::sleep(POLL),
        }
        let (done, open): (Vec<_>, Vec<_>) = connections.into_iter().partition(|c| c.is_finished());
        for finished in done {
            let _ = finished.join();
        }
        connections = open;
    }
    for connection in connections {
        let _ = connection.join();
    }
}

fn handle(mut stream: TcpStream, shared: &Shared, stop: &AtomicBool) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(SOCKET_TIMEOUT))?;
    stream.set_write_timeout(Some(SOCKET_TIMEOUT))?;
    let Some(head) = read_head(&mut stream)? else {
        return Ok(());
    };
    let mut words = head.split_ascii_whitespace();
    let method = words.next().unwrap_or_default();
    let target = words.next().unwrap_or_default();
    let path = target.split('?').next().unwrap_or_default();
    *lock(&shared.requests).entry(path.to_owned()).or_insert(0) += 1;
    if method != "GET" {
        return respond(
            &mut stream,
            "405 Method Not Allowed",
            TEXT,
            b"method not allowed\n",
        );
    }
    // Any path ending in /metrics/resource: nodes can be given another
    // scrape path (metrics-server's per-node annotation); `requests` tells
    // which one was asked.
    let path = if path.ends_with("/metrics/resource") {
        "/metrics/resource"
    } else {
        path
    };
    match path {
        "/metrics/resource" => {
            let behaviour = *lock(&shared.behaviour);
            match behaviour {
                Behaviour::Healthy => respond(
                    &mut stream,
                    "200 OK",
                    PROMETHEUS,
                    shared.resource_body().as_bytes(),
                ),
                Behaviour::Slow(delay) => {
                    let deadline = Instant::now() + delay;
                    while Instant::now() < deadline {
                        if stop.load(Ordering::SeqCst) {
                            return Ok(());
                        }
                        thread::sleep(POLL);
                    }
                    respond(
                        &mut stream,
                        "200 OK",
                        PROMETHEUS,
                        shared.resource_body().as_bytes(),
                    )
                }
                Behaviour::Garbage => respond(&mut stream, "200 OK", PROMETHEUS, GARBAGE),
                Behaviour::Huge => send_huge(&mut stream, &shared.resource_body(), stop),
            }
        }
        "/pods" => respond(&mut stream, "200 OK", JSON, shared.pods_body().as_bytes()),
        "/metrics/cadvisor" => respond(
            &mut stream,
            "200 OK",
            PROMETHEUS,
            shared.cadvisor_body().as_bytes(),
        ),
        "/healthz" => respond(&mut stream, "200 OK", TEXT, b"ok"),
        _ => respond(&mut stream, "404 Not Found", TEXT, b"404 page not found\n"),
    }
}

const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";
const JSON: &str = "application/json";

/// Looks like something, parses as nothing: HTML, a broken sample, a
/// sample without a value, and bytes that are not UTF-8.
const GARBAGE: &[u8] = b"<html><body>502 Bad Gateway</body></html>\n\
container_cpu_usage_seconds_total{container=\"app\",namespace=\"x\" 12\n\
node_cpu_usage_seconds_total\n\
\xff\xfe\x00garbage\n";

/// Reads the request line and headers (the fake ignores any body).
fn read_head(stream: &mut TcpStream) -> io::Result<Option<String>> {
    let mut head = Vec::new();
    let mut buffer = [0_u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > MAX_REQUEST_HEAD {
            return Ok(None);
        }
        let read = stream.read(&mut buffer)?;
        if read == 0 {
            return Ok(None);
        }
        head.extend_from_slice(&buffer[..read]);
    }
    Ok(Some(String::from_utf8_lossy(&head).into_owned()))
}

fn respond(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &[u8],
) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()?;
    let _ = stream.shutdown(Shutdown::Write);
    Ok(())
}

/// A valid exposition padded with comment lines to [`HUGE_BODY_BYTES`],
/// delimited by closing the connection.
fn send_huge(stream: &mut TcpStream, valid: &str, stop: &AtomicBool) -> io::Result<()> {
    let head =
        format!("HTTP/1.1 200 OK\r\nContent-Type: {PROMETHEUS}\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(valid.as_bytes())?;
    let line = format!("# {}\n", "x".repeat(1_022));
    let chunk = line.repeat(64);
    let mut sent = valid.len();
    while sent < HUGE_BODY_BYTES {
        if stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        // A client that stops reading at its cap closes the connection:
        // the write error ends this.
        stream.write_all(chunk.as_bytes())?;
        sent += chunk.len();
    }
    stream.flush()?;
    let _ = stream.shutdown(Shutdown::Write);
    Ok(())
}

impl Shared {
    /// The next sample step: one more than the last, and never behind the
    /// wall clock.
    fn next_step(&self) -> u64 {
        let by_clock = u64::try_from(self.started.elapsed().as_millis() / SAMPLE_STEP.as_millis())
            .unwrap_or(u64::MAX);
        let mut last = lock(&self.last_step);
        let step = match *last {
            Some(previous) => by_clock.max(previous + 1),
            None => by_clock,
        };
        *last = Some(step);
        step
    }

    fn started_unix_seconds(&self) -> i64 {
        self.epoch_ms / 1_000 - i64::try_from(STARTED_BEFORE.as_secs()).unwrap_or(0)
    }

    fn resource_body(&self) -> String {
        let step = self.next_step();
        let at = self.epoch_ms + i64::try_from(step).unwrap_or(i64::MAX / 2) * step_ms();
        // Counter in 1/64 s after `step` steps at `millicores`:
        // millicores × 0.125 s / 1000 = (millicores / 125) / 64 s per step.
        let counter = |millicores: u64| {
            (COUNTER_START_64THS + step * (millicores / MILLICORES_GRANULE)) as f64 / 64.0
        };
        let started = self.started_unix_seconds() as f64;

        // Samples within a family are sorted by label values in label-name
        // order (container, namespace, pod), as client_golang's Gather does.
        let mut containers: Vec<(&str, &str, &str, &FakeContainer)> = self
            .node
            .pods
            .iter()
            .flat_map(|p| {
                p.containers
                    .iter()
                    .map(move |c| (c.name.as_str(), p.namespace.as_str(), p.name.as_str(), c))
            })
            .collect();
        containers.sort_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
        let mut pods: Vec<&FakePod> = self.node.pods.iter().collect();
        pods.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));

        let mut out = String::new();
        let container_family = |out: &mut String,
                                name: &str,
                                help: &str,
                                kind: &str,
                                value: &dyn Fn(&FakeContainer) -> f64,
                                timestamp: bool| {
            family_head(out, name, help, kind);
            for (container, namespace, pod, c) in &containers {
                let _ = write!(
                    out,
                    "{name}{{container=\"{container}\",namespace=\"{namespace}\",pod=\"{pod}\"}} {}",
                    go_float(value(c))
                );
                if timestamp {
                    let _ = write!(out, " {at}");
                }
                out.push('\n');
            }
        };
        if !containers.is_empty() {
            container_family(
                &mut out,
                "container_cpu_usage_seconds_total",
                "[STABLE] Cumulative cpu time consumed by the container in core-seconds",
                "counter",
                &|c| counter(c.millicores),
                true,
            );
            container_family(
                &mut out,
                "container_memory_working_set_bytes",
                "[STABLE] Current working set of the container in bytes",
                "gauge",
                &|c| c.memory_bytes as f64,
                true,
            );
            container_family(
                &mut out,
                "container_start_time_seconds",
                "[STABLE] Start time of the container since unix epoch in seconds",
                "gauge",
                &|_| started,
                false,
            );
            container_family(
                &mut out,
                "container_swap_usage_bytes",
                "[ALPHA] Current amount of the container swap usage in bytes. Reported only on non-windows systems",
                "gauge",
                &|_| 0.0,
                true,
            );
        }
        family_head(
            &mut out,
            "node_cpu_usage_seconds_total",
            "[STABLE] Cumulative cpu time consumed by the node in core-seconds",
            "counter",
        );
        let _ = writeln!(
            out,
            "node_cpu_usage_seconds_total {} {at}",
            go_float(counter(self.node.millicores))
        );
        family_head(
            &mut out,
            "node_memory_working_set_bytes",
            "[STABLE] Current working set of the node in bytes",
            "gauge",
        );
        let _ = writeln!(
            out,
            "node_memory_working_set_bytes {} {at}",
            go_float(self.node.memory_bytes as f64)
        );
        family_head(
            &mut out,
            "node_swap_usage_bytes",
            "[ALPHA] Current swap usage of the node in bytes. Reported only on non-windows systems",
            "gauge",
        );
        let _ = writeln!(out, "node_swap_usage_bytes 0 {at}");
        if !pods.is_empty() {
            let pod_family =
                |out: &mut String, name: &str, help: &str, value: &dyn Fn(&FakePod) -> f64| {
                    family_head(
                        out,
                        name,
                        help,
                        if name.ends_with("_total") {
                            "counter"
                        } else {
                            "gauge"
                        },
                    );
                    for pod in &pods {
                        let _ = writeln!(
                            out,
                            "{name}{{namespace=\"{}\",pod=\"{}\"}} {} {at}",
                            pod.namespace,
                            pod.name,
                            go_float(value(pod))
                        );
                    }
                };
            pod_family(
                &mut out,
                "pod_cpu_usage_seconds_total",
                "[STABLE] Cumulative cpu time consumed by the pod in core-seconds",
                &|p| counter(p.containers.iter().map(|c| c.millicores).sum()),
            );
            pod_family(
                &mut out,
                "pod_memory_working_set_bytes",
                "[STABLE] Current working set of the pod in bytes",
                &|p| p.containers.iter().map(|c| c.memory_bytes).sum::<u64>() as f64,
            );
            pod_family(
                &mut out,
                "pod_swap_usage_bytes",
                "[ALPHA] Current amount of the pod swap usage in bytes. Reported only on non-windows systems",
                &|_| 0.0,
            );
        }
        family_head(
            &mut out,
            "resource_scrape_error",
            "[STABLE] 1 if there was an error while getting container metrics, 0 otherwise",
            "gauge",
        );
        out.push_str("resource_scrape_error 0\n");
        out
    }

    fn cadvisor_body(&self) -> String {
        const MACHINE: &str =
            "boot_id=\"fake-boot\",machine_id=\"fake-machine\",system_uuid=\"fake-uuid\"";
        let mut out = String::new();
        family_head(
            &mut out,
            "machine_cpu_cores",
            "Number of logical CPU cores.",
            "gauge",
        );
        let _ = writeln!(
            out,
            "machine_cpu_cores{{{MACHINE}}} {}",
            self.node.cpu_cores
        );
        family_head(
            &mut out,
            "machine_memory_bytes",
            "Amount of memory installed on the machine.",
            "gauge",
        );
        let _ = writeln!(
            out,
            "machine_memory_bytes{{{MACHINE}}} {}",
            go_float(self.node.memory_capacity_bytes as f64)
        );
        family_head(
            &mut out,
            "machine_scrape_error",
            "1 if there was an error while getting machine metrics, 0 otherwise.",
            "gauge",
        );
        out.push_str("machine_scrape_error 0\n");
        out
    }

    fn pods_body(&self) -> String {
        let started = rfc3339(self.started_unix_seconds());
        let items: Vec<serde_json::Value> = self
            .node
            .pods
            .iter()
            .enumerate()
            .map(|(index, pod)| {
                let containers: Vec<serde_json::Value> = pod
                    .containers
                    .iter()
                    .map(
                        |c| serde_json::json!({"name": c.name, "image": "registry.invalid/fake:1"}),
                    )
                    .collect();
                let statuses: Vec<serde_json::Value> = pod
                    .containers
                    .iter()
                    .map(|c| {
                        serde_json::json!({
                            "name": c.name,
                            "state": {"running": {"startedAt": started}},
                            "ready": true,
                            "restartCount": 0,
                            "image": "registry.invalid/fake:1",
                        })
                    })
                    .collect();
                let mut metadata = serde_json::json!({
                    "name": pod.name,
                    "namespace": pod.namespace,
                    "uid": format!("00000000-0000-4000-8000-{index:012}"),
                    "creationTimestamp": started,
                });
                if !pod.labels.is_empty() {
                    metadata["labels"] = serde_json::json!(pod.labels);
                }
                serde_json::json!({
                    "metadata": metadata,
                    "spec": {"containers": containers},
                    "status": {
                        "phase": "Running",
                        "startTime": started,
                        "containerStatuses": statuses,
                    },
                })
            })
            .collect();
        serde_json::json!({
            "kind": "PodList",
            "apiVersion": "v1",
            "metadata": {},
            "items": items,
        })
        .to_string()
    }
}

fn family_head(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Go's `strconv.FormatFloat(v, 'g', -1, 64)`: shortest round-trip digits,
/// exponent form when the decimal exponent is < −4 or ≥ 6 (`1e+06`,
/// `7.340032e+07`).
pub fn go_float(v: f64) -> String {
    if v == 0.0 {
        return "0".to_owned();
    }
    let scientific = format!("{v:e}");
    let Some((mantissa, exponent)) = scientific.split_once('e') else {
        return format!("{v}");
    };
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if (-4..6).contains(&exponent) {
        format!("{v}")
    } else {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.unsigned_abs())
    }
}

/// Unix seconds as RFC 3339 UTC with whole seconds (`2025-01-31T04:05:06Z`).
pub(crate) fn rfc3339(unix_seconds: i64) -> String {
    let days = unix_seconds.div_euclid(86_400);
    let second_of_day = unix_seconds.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        second_of_day / 3_600,
        second_of_day % 3_600 / 60,
        second_of_day % 60
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn get(agent: &FakeAgent, path: &str) -> (String, Vec<u8>) {
        let mut stream = TcpStream::connect_timeout(&agent.addr(), SOCKET_TIMEOUT).unwrap();
        stream.set_read_timeout(Some(SOCKET_TIMEOUT)).unwrap();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8(response[..split].to_vec()).unwrap();
        (head, response[split + 4..].to_vec())
    }

    fn node() -> FakeNode {
        FakeNode::new(4, 8 << 30, 1_500, 3 << 30).pod(
            FakePod::new("default", "web-1")
                .label("app", "web")
                .container("nginx", 250, 100 << 20)
                .container("sidecar", 125, 10 << 20),
        )
    }

    fn sample(body: &str, line_start: &str) -> (f64, i64) {
        let line = body.lines().find(|l| l.starts_with(line_start)).unwrap();
        let mut words = line.rsplitn(3, ' ');
        let timestamp = words.next().unwrap().parse().unwrap();
        let value = words.next().unwrap().parse().unwrap();
        (value, timestamp)
    }

    #[test]
    fn counters_move_by_exactly_the_rate_times_the_sample_time() {
        let agent = FakeAgent::start(node()).unwrap();
        let (head, first) = get(&agent, "/metrics/resource");
        assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
        let first = String::from_utf8(first).unwrap();
        let (_, second) = get(&agent, "/metrics/resource");
        let second = String::from_utf8(second).unwrap();
        let nginx = "container_cpu_usage_seconds_total{container=\"nginx\",namespace=\"default\",pod=\"web-1\"}";
        let (cpu1, t1) = sample(&first, nginx);
        let (cpu2, t2) = sample(&second, nginx);
        assert!(t2 > t1 && (t2 - t1) % 125 == 0, "{t1} {t2}");
        let rate_nanocores = ((cpu2 * 1e9) as u64 - (cpu1 * 1e9) as u64) * 1_000 / (t2 - t1) as u64;
        assert_eq!(rate_nanocores, 250_000_000);
        let (node1, _) = sample(&first, "node_cpu_usage_seconds_total ");
        let (node2, _) = sample(&second, "node_cpu_usage_seconds_total ");
        assert_eq!(((node2 - node1) * 1e12) as i64 / (t2 - t1), 1_500_000_000);
        assert!(
            first.contains("node_memory_working_set_bytes 3.221225472e+09 "),
            "{first}"
        );
        assert!(first.contains("container_memory_working_set_bytes{container=\"nginx\",namespace=\"default\",pod=\"web-1\"} 1.048576e+08 "), "{first}");
        // Families in name order, containers in name order within them.
        let families: Vec<&str> = first
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .collect();
        let mut sorted = families.clone();
        sorted.sort_unstable();
        assert_eq!(families, sorted);
        assert_eq!(agent.requests("/metrics/resource"), 2);
    }

    #[test]
    fn pods_and_machine_are_served() {
        let agent = FakeAgent::start(node()).unwrap();
        let (_, pods) = get(&agent, "/pods");
        let pods: serde_json::Value = serde_json::from_slice(&pods).unwrap();
        assert_eq!(pods["kind"], "PodList");
        assert_eq!(pods["items"][0]["metadata"]["name"], "web-1");
        assert_eq!(pods["items"][0]["metadata"]["labels"]["app"], "web");
        assert_eq!(pods["items"][0]["status"]["phase"], "Running");
        let created = pods["items"][0]["metadata"]["creationTimestamp"]
            .as_str()
            .unwrap();
        assert_eq!(created.len(), "2025-01-31T04:05:06Z".len(), "{created}");
        let (_, cadvisor) = get(&agent, "/metrics/cadvisor");
        let cadvisor = String::from_utf8(cadvisor).unwrap();
        assert!(cadvisor.contains("} 4\n"), "{cadvisor}");
        assert!(cadvisor.contains("machine_memory_bytes{boot_id=\"fake-boot\",machine_id=\"fake-machine\",system_uuid=\"fake-uuid\"} 8.589934592e+09\n"), "{cadvisor}");
        let (head, _) = get(&agent, "/nope");
        assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    }

    #[test]
    fn failure_modes_and_stopping() {
        let mut agent = FakeAgent::start(node()).unwrap();
        agent.set_behaviour(Behaviour::Garbage);
        let (_, body) = get(&agent, "/metrics/resource");
        assert_eq!(body, GARBAGE);
        agent.set_behaviour(Behaviour::Huge);
        let (head, body) = get(&agent, "/metrics/resource");
        assert!(!head.contains("Content-Length"), "{head}");
        assert!(body.len() >= HUGE_BODY_BYTES, "{}", body.len());
        agent.set_behaviour(Behaviour::Slow(Duration::from_millis(300)));
        let asked = Instant::now();
        let (_, body) = get(&agent, "/metrics/resource");
        assert!(asked.elapsed() >= Duration::from_millis(300));
        assert!(
            String::from_utf8(body)
                .unwrap()
                .contains("resource_scrape_error 0")
        );

        // A stop while an answer is pending ends promptly and closes the port.
        agent.set_behaviour(Behaviour::Slow(Duration::from_secs(60)));
        let addr = agent.addr();
        let pending = thread::spawn(move || {
            let mut stream = TcpStream::connect_timeout(&addr, SOCKET_TIMEOUT).unwrap();
            stream.set_read_timeout(Some(SOCKET_TIMEOUT)).unwrap();
            stream
                .write_all(b"GET /metrics/resource HTTP/1.1\r\n\r\n")
                .unwrap();
            let mut response = Vec::new();
            let _ = stream.read_to_end(&mut response);
            response
        });
        crate::wait_for(SOCKET_TIMEOUT, POLL, || {
            (agent.requests("/metrics/resource") == 4).then_some(())
        })
        .expect("the pending request arrives");
        let stopping = Instant::now();
        agent.stop();
        assert!(stopping.elapsed() < Duration::from_secs(2));
        assert!(pending.join().unwrap().is_empty());
        assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err());

        agent.set_behaviour(Behaviour::Healthy);
        agent.restart().unwrap();
        assert_eq!(agent.addr(), addr);
        let (head, _) = get(&agent, "/healthz");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    }

    #[test]
    fn rates_off_the_granule_are_refused() {
        let node = FakeNode::new(1, 1 << 30, 100, 1 << 20);
        assert_eq!(
            FakeAgent::start(node).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
    }

    #[test]
    fn floats_and_times_are_written_as_go_writes_them() {
        assert_eq!(go_float(999_999.0), "999999");
        assert_eq!(go_float(1_000_000.0), "1e+06");
        assert_eq!(go_float(73_527_296.0), "7.3527296e+07");
        assert_eq!(go_float(0.0001), "0.0001");
        assert_eq!(go_float(0.00001), "1e-05");
        assert_eq!(go_float(531.060042), "531.060042");
        assert_eq!(go_float(1_000.015625), "1000.015625");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_735_616_288), "2024-12-31T03:38:08Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}
