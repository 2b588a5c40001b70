//! A canned Kubernetes API: the same JSON answers served over loopback
//! HTTP/1.1 to the real kubectl, and through a `MetricsSource` to our code.
//!
//! The server is deliberately tiny: one thread, one request per connection
//! (`Connection: close`), every read and the whole lifetime bounded, and
//! the thread joined on drop.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use workingset_model::metrics::{List, Node, NodeMetrics, Pod, PodMetrics};
use workingset_top::{MetricsSource, Query, SourceError, Status, StatusDetails};

use crate::support::{
    node_metrics_collection, pod_metrics_collection, pods_collection, request_path,
};

/// One canned answer.
#[derive(Debug, Clone)]
pub struct Response {
    pub code: u16,
    pub body: String,
}

/// Answers by request path (with query string).
#[derive(Debug, Clone, Default)]
pub struct Api {
    pub routes: BTreeMap<String, Response>,
}

fn not_found_status(message: &str, details: Value) -> String {
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": "NotFound", "details": details, "code": 404
    })
    .to_string()
}

impl Api {
    /// Discovery of a cluster with (or without) metrics.k8s.io/v1beta1.
    pub fn new(with_metrics: bool) -> Self {
        let mut api = Self::default();
        api.ok(
            "/api",
            &json!({"kind": "APIVersions", "versions": ["v1"],
                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]}),
        );
        let mut groups = vec![json!({
            "name": "apps",
            "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
            "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}
        })];
        if with_metrics {
            groups.push(json!({
                "name": "metrics.k8s.io",
                "versions": [{"groupVersion": "metrics.k8s.io/v1beta1", "version": "v1beta1"}],
                "preferredVersion": {"groupVersion": "metrics.k8s.io/v1beta1", "version": "v1beta1"}
            }));
        }
        api.ok(
            "/apis",
            &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
        );
        api
    }

    pub fn ok(&mut self, path: &str, body: &Value) {
        self.routes.insert(
            path.to_owned(),
            Response {
                code: 200,
                body: body.to_string(),
            },
        );
    }

    pub fn status(&mut self, path: &str, code: u16, body: String) {
        self.routes.insert(path.to_owned(), Response { code, body });
    }

    /// Lists and single objects of node metrics and nodes, as a server
    /// would answer them (404 Status for names not in the lists).
    pub fn nodes(&mut self, metrics: &[NodeMetrics], nodes: &[Node]) {
        let collection = node_metrics_collection();
        self.ok(
            &collection,
            &json!(&List::new(
                "NodeMetricsList",
                "metrics.k8s.io/v1beta1",
                metrics.to_vec()
            )),
        );
        for m in metrics {
            let mut one = m.clone();
            one.kind = Some("NodeMetrics".to_owned());
            one.api_version = Some("metrics.k8s.io/v1beta1".to_owned());
            self.ok(&format!("{collection}/{}", m.metadata.name), &json!(&one));
        }
        self.ok(
            "/api/v1/nodes",
            &json!(&List::new("NodeList", "v1", nodes.to_vec())),
        );
        for n in nodes {
            let mut one = json!(n);
            one["kind"] = json!("Node");
            one["apiVersion"] = json!("v1");
            self.ok(&format!("/api/v1/nodes/{}", n.metadata.name), &one);
        }
    }

    pub fn missing_node_metrics(&mut self, name: &str) {
        self.status(
            &format!("{}/{name}", node_metrics_collection()),
            404,
            not_found_status(
                &format!("nodemetrics.metrics.k8s.io \"{name}\" not found"),
                json!({"name": name, "group": "metrics.k8s.io", "kind": "nodemetrics"}),
            ),
        );
    }

    pub fn missing_pod_metrics(&mut self, namespace: &str, name: &str) {
        self.status(
            &format!("{}/{name}", pod_metrics_collection(Some(namespace))),
            404,
            not_found_status(
                &format!("podmetrics.metrics.k8s.io \"{namespace}/{name}\" not found"),
                json!({"name": format!("{namespace}/{name}"), "group": "metrics.k8s.io", "kind": "podmetrics"}),
            ),
        );
    }

    /// Pod metrics at `path` (a list URL, query included).
    pub fn pod_metrics(&mut self, path: &str, items: &[PodMetrics]) {
        self.ok(
            path,
            &json!(&List::new(
                "PodMetricsList",
                "metrics.k8s.io/v1beta1",
                items.to_vec()
            )),
        );
    }

    /// Pods at `path` (a list URL, query included).
    pub fn pods(&mut self, path: &str, items: &[Pod]) {
        self.ok(path, &json!(&List::new("PodList", "v1", items.to_vec())));
    }

    /// The answer for a path: canned, or the API server's generic 404.
    pub fn answer(&self, path: &str) -> Response {
        self.routes.get(path).cloned().unwrap_or_else(|| Response {
            code: 404,
            body: not_found_status(
                "the server could not find the requested resource",
                json!({}),
            ),
        })
    }
}

/// Our side: a `MetricsSource` answering from the same canned JSON, the way
/// an HTTP source would decode it.
#[derive(Debug)]
pub struct CannedSource<'a> {
    pub api: &'a Api,
    pub requests: Vec<String>,
}

impl CannedSource<'_> {
    /// The body of a 200 answer, or the `Status` of any other.
    fn fetch(&mut self, path: String) -> Result<String, SourceError> {
        let response = self.api.answer(&path);
        self.requests.push(path);
        if response.code == 200 {
            return Ok(response.body);
        }
        let status: Value = serde_json::from_str(&response.body).unwrap();
        let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
        Err(SourceError::from(Status {
            code: response.code,
            reason: text(&status["reason"]),
            message: text(&status["message"]),
            details: Some(Box::new(StatusDetails {
                name: text(&status["details"]["name"]),
                group: text(&status["details"]["group"]),
                kind: text(&status["details"]["kind"]),
                causes: Vec::new(),
            })),
        }))
    }
}

/// Decodes a single object (GET) or a list's items.
macro_rules! decode {
    ($body:expr, $query:expr, $type:ty) => {{
        let body = $body?;
        Ok(match $query {
            Query::Get(_) => vec![serde_json::from_str::<$type>(&body).unwrap()],
            Query::List { .. } => serde_json::from_str::<List<$type>>(&body).unwrap().items,
        })
    }};
}

impl MetricsSource for CannedSource<'_> {
    fn metrics_api_available(&mut self) -> Result<bool, SourceError> {
        self.requests.push("/api".to_owned());
        self.requests.push("/apis".to_owned());
        let groups: Value = serde_json::from_str(&self.api.answer("/apis").body).unwrap();
        Ok(groups["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|group| {
                group["name"] == "metrics.k8s.io"
                    && group["versions"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|v| v["version"] == "v1beta1")
            }))
    }

    fn node_metrics(&mut self, query: Query<'_>) -> Result<Vec<NodeMetrics>, SourceError> {
        decode!(
            self.fetch(request_path(&node_metrics_collection(), query)),
            query,
            NodeMetrics
        )
    }

    fn nodes(&mut self, query: Query<'_>) -> Result<Vec<Node>, SourceError> {
        decode!(
            self.fetch(request_path("/api/v1/nodes", query)),
            query,
            Node
        )
    }

    fn pod_metrics(
        &mut self,
        namespace: Option<&str>,
        query: Query<'_>,
    ) -> Result<Vec<PodMetrics>, SourceError> {
        decode!(
            self.fetch(request_path(&pod_metrics_collection(namespace), query)),
            query,
            PodMetrics
        )
    }

    fn pods(&mut self, namespace: &str, query: Query<'_>) -> Result<Vec<Pod>, SourceError> {
        decode!(
            self.fetch(request_path(&pods_collection(namespace), query)),
            query,
            Pod
        )
    }
}

/// One request as the stub server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub accept: String,
}

/// The loopback HTTP server; stops and joins its thread when dropped.
pub struct StubServer {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Seen>>>,
    thread: Option<JoinHandle<()>>,
}

/// No stub lives longer than this, whatever happens to the test.
const LIFETIME: Duration = Duration::from_secs(120);
const IO_TIMEOUT: Duration = Duration::from_secs(5);

impl StubServer {
    pub fn start(api: Api) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, seen) = (Arc::clone(&stop), Arc::clone(&seen));
            std::thread::spawn(move || {
                let deadline = Instant::now() + LIFETIME;
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            // A broken connection only fails the request, and
                            // the comparison of outputs will show it.
                            let _ = serve(stream, &api, &seen);
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(2)),
                    }
                }
            })
        };
        Self {
            addr,
            stop,
            seen,
            thread: Some(thread),
        }
    }

    /// Requests seen so far, in order; clears the log.
    pub fn take_seen(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

impl Drop for StubServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(stream: TcpStream, api: &Api, seen: &Mutex<Vec<Seen>>) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let path = request_line
        .split(' ')
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let mut accept = String::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header == "\r\n" {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("accept")
        {
            accept = value.trim().to_owned();
        }
    }
    let response = api.answer(&path);
    seen.lock().unwrap().push(Seen { path, accept });
    let reason = match response.code {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        _ => "Error",
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        response.code,
        response.body.len(),
        response.body
    )?;
    stream.flush()
}
