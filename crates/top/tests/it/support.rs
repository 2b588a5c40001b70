//! Test support: object builders, kubectl's request paths, and an in-memory
//! `MetricsSource` that records the requests it is asked for.

use std::collections::HashMap;
use std::time::Duration;

use workingset_model::duration::GoDuration;
use workingset_model::metrics::{
    ContainerMetrics, Node, NodeMetrics, NodeStatus, ObjectMeta, Pod, PodMetrics, ResourceList,
    Time,
};
use workingset_model::selector::{FieldSelector, LabelSelector};
use workingset_quantity::Quantity;
use workingset_top::{
    MetricsSource, Query, SourceError, Status, TopError, TopNodeOptions, TopPodOptions,
    run_top_node, run_top_pod,
};

pub fn time(text: &str) -> Time {
    Time(text.parse().unwrap())
}

pub fn quantity(text: &str) -> Quantity {
    text.parse()
        .unwrap_or_else(|e| panic!("bad quantity {text:?}: {e}"))
}

/// `{"cpu": cpu, "memory": memory}`; an empty string leaves the key out.
pub fn resources(cpu: &str, memory: &str) -> ResourceList {
    let mut list = ResourceList::new();
    if !cpu.is_empty() {
        list.insert("cpu".to_owned(), quantity(cpu));
    }
    if !memory.is_empty() {
        list.insert("memory".to_owned(), quantity(memory));
    }
    list
}

fn meta(namespace: &str, name: &str) -> ObjectMeta {
    ObjectMeta {
        name: name.to_owned(),
        namespace: namespace.to_owned(),
        ..ObjectMeta::default()
    }
}

pub fn node_metrics(name: &str, cpu: &str, memory: &str) -> NodeMetrics {
    NodeMetrics {
        kind: None,
        api_version: None,
        metadata: meta("", name),
        timestamp: time("2025-01-01T00:00:00Z"),
        window: GoDuration(Duration::from_secs(15)),
        usage: resources(cpu, memory),
    }
}

pub fn node(name: &str, cpu: &str, memory: &str) -> Node {
    Node {
        metadata: meta("", name),
        status: NodeStatus {
            capacity: ResourceList::new(),
            allocatable: resources(cpu, memory),
        },
    }
}

/// Containers as `(name, cpu, memory)`.
pub fn pod_metrics(namespace: &str, name: &str, containers: &[(&str, &str, &str)]) -> PodMetrics {
    PodMetrics {
        kind: None,
        api_version: None,
        metadata: meta(namespace, name),
        timestamp: time("2025-01-01T00:00:00Z"),
        window: GoDuration(Duration::from_secs(15)),
        containers: containers
            .iter()
            .map(|(c, cpu, memory)| ContainerMetrics {
                name: (*c).to_owned(),
                usage: resources(cpu, memory),
            })
            .collect(),
    }
}

pub fn pod(namespace: &str, name: &str, created: &str) -> Pod {
    let mut metadata = meta(namespace, name);
    metadata.creation_timestamp = Some(time(created));
    Pod {
        metadata,
        ..Pod::default()
    }
}

/// Go's `url.QueryEscape`.
pub fn query_escape(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char);
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// The path and query kubectl requests for `collection` (e.g.
/// `/api/v1/nodes`) and a query.
pub fn request_path(collection: &str, query: Query<'_>) -> String {
    match query {
        Query::Get(name) => format!("{collection}/{name}"),
        Query::List {
            label_selector,
            field_selector,
        } => {
            // url.Values.Encode sorts by key and leaves empty options out.
            let mut params = Vec::new();
            if !field_selector.is_empty() {
                params.push(format!("fieldSelector={}", query_escape(field_selector)));
            }
            if !label_selector.is_empty() {
                params.push(format!("labelSelector={}", query_escape(label_selector)));
            }
            if params.is_empty() {
                collection.to_owned()
            } else {
                format!("{collection}?{}", params.join("&"))
            }
        }
    }
}

pub const METRICS: &str = "/apis/metrics.k8s.io/v1beta1";

pub fn node_metrics_collection() -> String {
    format!("{METRICS}/nodes")
}

pub fn pod_metrics_collection(namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) => format!("{METRICS}/namespaces/{ns}/pods"),
        None => format!("{METRICS}/pods"),
    }
}

pub fn pods_collection(namespace: &str) -> String {
    format!("/api/v1/namespaces/{namespace}/pods")
}

/// An in-memory API server: answers from objects, filters lists by
/// namespace and selectors, returns `NotFound` for missing names, and
/// records every request as kubectl's path.
#[derive(Debug, Default)]
pub struct FakeSource {
    pub metrics_api: bool,
    pub node_metrics: Vec<NodeMetrics>,
    pub nodes: Vec<Node>,
    pub pod_metrics: Vec<PodMetrics>,
    pub pods: Vec<Pod>,
    /// Errors to return instead, by request path.
    pub errors: HashMap<String, SourceError>,
    /// Requests made, in order.
    pub requests: Vec<String>,
}

impl FakeSource {
    pub fn new() -> Self {
        Self {
            metrics_api: true,
            ..Self::default()
        }
    }

    fn record(&mut self, path: String) -> Result<(), SourceError> {
        self.requests.push(path.clone());
        match self.errors.get(&path) {
            Some(error) => Err(error.clone()),
            None => Ok(()),
        }
    }
}

fn select<T: Clone>(
    items: &[T],
    query: Query<'_>,
    meta: impl Fn(&T) -> &ObjectMeta,
    namespace: Option<&str>,
    not_found: impl Fn(&str) -> Status,
) -> Result<Vec<T>, SourceError> {
    let in_namespace = |m: &ObjectMeta| namespace.is_none_or(|ns| m.namespace == ns);
    match query {
        Query::Get(name) => items
            .iter()
            .find(|item| in_namespace(meta(item)) && meta(item).name == name)
            .map(|item| vec![item.clone()])
            .ok_or_else(|| SourceError::from(not_found(name))),
        Query::List {
            label_selector,
            field_selector,
        } => {
            let labels = LabelSelector::parse(label_selector).unwrap();
            let fields = FieldSelector::parse(field_selector).unwrap();
            Ok(items
                .iter()
                .filter(|item| {
                    let m = meta(item);
                    in_namespace(m)
                        && labels.matches(&m.labels)
                        && fields.matches(&[
                            ("metadata.name", m.name.as_str()),
                            ("metadata.namespace", m.namespace.as_str()),
                        ])
                })
                .cloned()
                .collect())
        }
    }
}

impl MetricsSource for FakeSource {
    fn metrics_api_available(&mut self) -> Result<bool, SourceError> {
        self.record("/api".to_owned())?;
        self.record("/apis".to_owned())?;
        Ok(self.metrics_api)
    }

    fn node_metrics(&mut self, query: Query<'_>) -> Result<Vec<NodeMetrics>, SourceError> {
        self.record(request_path(&node_metrics_collection(), query))?;
        select(
            &self.node_metrics,
            query,
            |m| &m.metadata,
            None,
            |name| Status::not_found("metrics.k8s.io", "nodemetrics", name),
        )
    }

    fn nodes(&mut self, query: Query<'_>) -> Result<Vec<Node>, SourceError> {
        self.record(request_path("/api/v1/nodes", query))?;
        select(
            &self.nodes,
            query,
            |n| &n.metadata,
            None,
            |name| Status::not_found("", "nodes", name),
        )
    }

    fn pod_metrics(
        &mut self,
        namespace: Option<&str>,
        query: Query<'_>,
    ) -> Result<Vec<PodMetrics>, SourceError> {
        self.record(request_path(&pod_metrics_collection(namespace), query))?;
        let ns = namespace.unwrap_or_default().to_owned();
        select(
            &self.pod_metrics,
            query,
            |p| &p.metadata,
            namespace,
            |name| Status::not_found("metrics.k8s.io", "podmetrics", &format!("{ns}/{name}")),
        )
    }

    fn pods(&mut self, namespace: &str, query: Query<'_>) -> Result<Vec<Pod>, SourceError> {
        self.record(request_path(&pods_collection(namespace), query))?;
        select(
            &self.pods,
            query,
            |p| &p.metadata,
            Some(namespace),
            |name| Status::not_found("", "pods", name),
        )
    }
}

/// What a run printed and returned, rendered like the process would be
/// observed: stdout, stderr (the error message included), exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

impl Outcome {
    pub fn from_run(stdout: Vec<u8>, mut stderr: Vec<u8>, result: Result<(), TopError>) -> Self {
        let code = match result {
            Ok(()) => 0,
            Err(error) => {
                stderr.extend_from_slice(format!("{error}\n").as_bytes());
                error.exit_code()
            }
        };
        Self {
            stdout: String::from_utf8(stdout).unwrap(),
            stderr: String::from_utf8(stderr).unwrap(),
            code,
        }
    }
}

pub fn top_node(options: &TopNodeOptions, source: &mut dyn MetricsSource) -> Outcome {
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let result = run_top_node(options, source, &mut stdout, &mut stderr);
    Outcome::from_run(stdout, stderr, result)
}

pub fn top_pod(options: &TopPodOptions, source: &mut dyn MetricsSource) -> Outcome {
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let result = run_top_pod(options, source, &mut stdout, &mut stderr);
    Outcome::from_run(stdout, stderr, result)
}

/// The two tables of kubectl-top.md.
pub struct Example;

impl Example {
    pub fn nodes() -> FakeSource {
        let mut source = FakeSource::new();
        source.node_metrics = vec![
            node_metrics("node-a", "250264852n", "8318172Ki"),
            node_metrics("node-b", "1022m", "2Gi"),
        ];
        source.nodes = vec![
            node("node-a", "4", "14000Mi"),
            node("node-b", "1960m", "6000Mi"),
            node("node-c", "2", "4Gi"),
        ];
        source
    }

    pub fn pods() -> FakeSource {
        let mut source = FakeSource::new();
        // Exact sums matter: nginx+sidecar are 1.5m+0.5m (2m and 1m rounded
        // up each) and the memory halves add up to a whole MiB.
        source.pod_metrics = vec![
            pod_metrics(
                "kube-system",
                "coredns-1",
                &[("coredns", "2500000n", "19968Ki")],
            ),
            pod_metrics(
                "default",
                "web-1",
                &[
                    ("sidecar", "500000n", "1536Ki"),
                    ("nginx", "1500000n", "10752Ki"),
                ],
            ),
            pod_metrics("default", "api-7", &[("api", "0", "0")]),
            pod_metrics("default", "db-0", &[("postgres", "15m", "200Mi")]),
        ];
        source
    }
}
