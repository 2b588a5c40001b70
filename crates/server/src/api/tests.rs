//! Router-level tests: every path, selector, Table, Status and error case,
//! through the real router (tower's `oneshot`), against a hand-built
//! snapshot and a fake [`Health`].

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::view::{ContainerUsage, NodeMetricsItem, PodMetricsItem};
use arc_swap::ArcSwap;
use axum::body::Body;
use axum::http::{Method, Request, header};
use http_body_util::BodyExt as _;
use jiff::Timestamp;
use serde_json::{Value, json};
use tower::ServiceExt as _;
use workingset_model::metrics::{Node, ObjectMeta, Pod, Time};

use super::select::{self, ListOptions};
use super::*;

/// A `Health` whose answers the test sets and which keeps every request
/// it was told about.
#[derive(Debug)]
pub(super) struct FakeHealth {
    live: Mutex<Result<(), String>>,
    ready: Mutex<Result<(), String>>,
    requests: Mutex<Vec<(&'static str, u16)>>,
}

impl FakeHealth {
    pub(super) fn healthy() -> Arc<Self> {
        Arc::new(Self {
            live: Mutex::new(Ok(())),
            ready: Mutex::new(Ok(())),
            requests: Mutex::default(),
        })
    }

    fn requests(&self) -> Vec<(&'static str, u16)> {
        std::mem::take(&mut *self.requests.lock().unwrap())
    }
}

impl Health for FakeHealth {
    fn live(&self, _now: Timestamp) -> Result<(), String> {
        self.live.lock().unwrap().clone()
    }

    fn ready(&self, _published: &Published) -> Result<(), String> {
        self.ready.lock().unwrap().clone()
    }

    fn render_metrics(&self, published: &Published, _now: Timestamp) -> String {
        format!(
            "# TYPE fake_pods gauge\nfake_pods {}\n",
            published.pod_metrics.len()
        )
    }

    fn record_request(&self, route: &'static str, code: u16) {
        self.requests.lock().unwrap().push((route, code));
    }
}

fn time(text: &str) -> Time {
    Time(text.parse().unwrap())
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn meta(namespace: &str, name: &str, label_pairs: &[(&str, &str)]) -> ObjectMeta {
    ObjectMeta {
        name: name.to_owned(),
        namespace: namespace.to_owned(),
        labels: labels(label_pairs).into(),
        ..ObjectMeta::default()
    }
}

const SAMPLED: &str = "2025-01-02T03:04:05Z";
const CREATED: &str = "2025-01-01T00:00:00Z";

fn node_metrics(
    name: &str,
    label_pairs: &[(&str, &str)],
    nanocores: u64,
    bytes: u64,
) -> NodeMetricsItem {
    NodeMetricsItem {
        node: Arc::new(Node {
            metadata: meta("", name, label_pairs),
            status: Default::default(),
        }),
        timestamp: time(SAMPLED).0,
        window: Duration::from_millis(17_913),
        nanocores,
        bytes,
    }
}

fn container(name: &str, nanocores: u64, bytes: u64) -> ContainerUsage {
    ContainerUsage {
        name: Arc::from(name),
        nanocores,
        bytes,
    }
}

fn pod_metrics(
    namespace: &str,
    name: &str,
    label_pairs: &[(&str, &str)],
    containers: Vec<ContainerUsage>,
) -> PodMetricsItem {
    PodMetricsItem {
        pod: Arc::new(Pod {
            metadata: meta(namespace, name, label_pairs),
            ..Pod::default()
        }),
        timestamp: time(SAMPLED).0,
        window: Duration::from_secs(15),
        containers: containers.into(),
    }
}

fn node(name: &str, label_pairs: &[(&str, &str)]) -> Node {
    let mut metadata = meta("", name, label_pairs);
    metadata.creation_timestamp = Some(time(CREATED));
    Node {
        metadata,
        status: Default::default(),
    }
}

fn pod(namespace: &str, name: &str, label_pairs: &[(&str, &str)]) -> Pod {
    let mut metadata = meta(namespace, name, label_pairs);
    metadata.creation_timestamp = Some(time(CREATED));
    Pod {
        metadata,
        ..Pod::default()
    }
}

/// Nodes n1, n2 with metrics and n3 without; pods default/db, default/web,
/// kube-system/coredns with metrics and default/pending without.
pub(super) fn published() -> Published {
    Published {
        built_at: time(SAMPLED).0,
        node_metrics: vec![
            node_metrics(
                "n1",
                &[("node-role.kubernetes.io/control-plane", ""), ("zone", "a")],
                487_558_164,
                732_212 * 1024,
            ),
            node_metrics("n2", &[("zone", "b")], 250_000_000, 5 << 20),
        ],
        pod_metrics: vec![
            pod_metrics(
                "default",
                "db",
                &[("app", "db")],
                vec![container("postgres", 15_000_000, 200 << 20)],
            ),
            pod_metrics(
                "default",
                "web",
                &[("app", "web"), ("tier", "front")],
                vec![
                    container("nginx", 1_000_000, 5 << 20),
                    container("sidecar", 2_000_000, 3 << 20),
                ],
            ),
            pod_metrics(
                "kube-system",
                "coredns",
                &[("k8s-app", "kube-dns")],
                vec![container("coredns", 3_000_000, 19 << 20)],
            ),
        ],
        nodes: vec![
            Arc::new(node(
                "n1",
                &[("node-role.kubernetes.io/control-plane", ""), ("zone", "a")],
            )),
            Arc::new(node("n2", &[("zone", "b")])),
            Arc::new(node("n3", &[("zone", "c")])),
        ],
        pods: vec![
            Arc::new(pod("default", "db", &[("app", "db")])),
            Arc::new(pod("default", "pending", &[("app", "web")])),
            Arc::new(pod("default", "web", &[("app", "web"), ("tier", "front")])),
            Arc::new(pod("kube-system", "coredns", &[("k8s-app", "kube-dns")])),
        ],
        containers_without_rate: 0,
        responses: Default::default(),
    }
}

struct Api {
    router: Router,
    health: Arc<FakeHealth>,
    published: Arc<ArcSwap<Published>>,
}

fn api_with(snapshot: Published, core_api: bool) -> Api {
    let health = FakeHealth::healthy();
    let published = Arc::new(ArcSwap::from_pointee(snapshot));
    let router = router(ApiState {
        published: Arc::clone(&published),
        health: Arc::clone(&health) as Arc<dyn Health>,
        core_api,
        proxy: None,
    });
    Api {
        router,
        health,
        published,
    }
}

fn api(core_api: bool) -> Api {
    api_with(published(), core_api)
}

#[derive(Debug)]
struct Reply {
    code: u16,
    content_type: String,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    /// The body with every `creationTimestamp` the server stamped (the
    /// response time) replaced by `NOW`, after checking it is a time
    /// between `before` and `after`.
    fn stamped(&self, before: Timestamp, after: Timestamp) -> String {
        let mut out = String::new();
        let mut rest = self.body.as_str();
        let key = r#""creationTimestamp":""#;
        while let Some(at) = rest.find(key) {
            let (head, tail) = rest.split_at(at + key.len());
            out.push_str(head);
            let end = tail.find('"').unwrap();
            let stamp: Timestamp = tail[..end].parse().unwrap();
            if stamp.as_second() != time(CREATED).0.as_second() {
                assert!(
                    stamp.as_second() >= before.as_second() && stamp <= after,
                    "{stamp} is not the response time"
                );
                out.push_str("NOW");
            } else {
                out.push_str(&tail[..end]);
            }
            rest = &tail[end..];
        }
        out.push_str(rest);
        out
    }
}

async fn send(router: &Router, method: Method, path: &str, accept: Option<&str>) -> Reply {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(accept) = accept {
        request = request.header(header::ACCEPT, accept);
    }
    let response = router
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let code = response.status().as_u16();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        code,
        content_type,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

impl Api {
    async fn get(&self, path: &str) -> Reply {
        send(&self.router, Method::GET, path, None).await
    }

    async fn get_accepting(&self, path: &str, accept: &str) -> Reply {
        send(&self.router, Method::GET, path, Some(accept)).await
    }

    /// A JSON answer with this status code; its parsed body.
    async fn get_json(&self, path: &str, code: u16) -> Value {
        let reply = self.get(path).await;
        assert_eq!(reply.code, code, "{path}: {}", reply.body);
        assert_eq!(reply.content_type, "application/json", "{path}");
        reply.json()
    }

    async fn names(&self, path: &str) -> Vec<String> {
        let body = self.get_json(path, 200).await;
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| {
                let meta = &item["metadata"];
                match meta["namespace"].as_str() {
                    Some(ns) => format!("{ns}/{}", meta["name"].as_str().unwrap()),
                    None => meta["name"].as_str().unwrap().to_owned(),
                }
            })
            .collect()
    }

    async fn status(&self, path: &str) -> (u16, Value) {
        let reply = self.get(path).await;
        assert_eq!(reply.content_type, "application/json", "{path}");
        (reply.code, reply.json())
    }
}

const METRICS_ROOT: &str = "/apis/metrics.k8s.io/v1beta1";
const TABLE_V1: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

fn not_found(message: &str, details: Value) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": "NotFound", "details": details, "code": 404})
}

fn bad_request(message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": "BadRequest", "code": 400})
}

// ---------------------------------------------------------------- discovery

#[tokio::test]
async fn metrics_discovery_is_metrics_servers() {
    let api = api(false);
    let reply = api.get("/apis").await;
    assert_eq!(
        (reply.code, reply.content_type.as_str()),
        (200, "application/json")
    );
    assert_eq!(
        reply.body,
        r#"{"kind":"APIGroupList","apiVersion":"v1","groups":[{"name":"metrics.k8s.io","versions":[{"groupVersion":"metrics.k8s.io/v1beta1","version":"v1beta1"}],"preferredVersion":{"groupVersion":"metrics.k8s.io/v1beta1","version":"v1beta1"}}]}"#
    );
    let group = api.get_json("/apis/metrics.k8s.io", 200).await;
    assert_eq!(group["kind"], "APIGroup");
    assert_eq!(group["name"], "metrics.k8s.io");
    assert_eq!(
        group["preferredVersion"],
        json!({"groupVersion": "metrics.k8s.io/v1beta1", "version": "v1beta1"})
    );
    let reply = api.get(METRICS_ROOT).await;
    assert_eq!(
        reply.body,
        r#"{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"metrics.k8s.io/v1beta1","resources":[{"name":"nodes","singularName":"","namespaced":false,"kind":"NodeMetrics","verbs":["get","list"]},{"name":"pods","singularName":"","namespaced":true,"kind":"PodMetrics","verbs":["get","list"]}]}"#
    );
    // kubectl's aggregated-discovery Accept gets the legacy documents.
    let reply = api
        .get_accepting(
            "/apis",
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json",
        )
        .await;
    assert_eq!(
        (reply.code, reply.content_type.as_str()),
        (200, "application/json")
    );
    assert_eq!(reply.json()["kind"], "APIGroupList");
}

#[tokio::test]
async fn without_the_core_api_api_is_metrics_servers_404() {
    let api = api(false);
    let body = api.get_json("/api", 404).await;
    let paths = body["paths"].as_array().unwrap();
    assert!(paths.contains(&json!("/apis/metrics.k8s.io/v1beta1")));
    assert!(!paths.contains(&json!("/api/v1")));
    for path in [
        "/api/v1",
        "/api/v1/nodes",
        "/api/v1/namespaces/default/pods",
    ] {
        let (code, body) = api.status(path).await;
        assert_eq!(code, 404, "{path}");
        assert_eq!(
            body,
            not_found(
                "the server could not find the requested resource",
                json!({})
            )
        );
    }
    let index = api.get_json("/", 200).await;
    assert_eq!(index, body);
}

#[tokio::test]
async fn with_the_core_api_api_lists_v1() {
    let api = api(true);
    let reply = send(&api.router, Method::GET, "/api", None).await;
    assert_eq!(reply.code, 200);
    // No Host header in a oneshot request: no address to name.
    assert_eq!(
        reply.body,
        r#"{"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":null}"#
    );
    let request = Request::get("/api")
        .header(header::HOST, "127.0.0.1:8443")
        .body(Body::empty())
        .unwrap();
    let response = api.router.clone().oneshot(request).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        &body[..],
        br#"{"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0","serverAddress":"127.0.0.1:8443"}]}"#
    );
    let resources = api.get_json("/api/v1", 200).await;
    assert_eq!(resources["groupVersion"], "v1");
    assert_eq!(
        resources["resources"][0],
        json!({"name": "nodes", "singularName": "node", "namespaced": false, "kind": "Node",
               "verbs": ["get", "list"], "shortNames": ["no"]})
    );
    assert_eq!(resources["resources"][1]["name"], "pods");
    assert_eq!(resources["resources"][1]["namespaced"], true);
    let paths = api.get_json("/", 200).await;
    assert_eq!(paths["paths"][0], "/api");
}

// ----------------------------------------------------------- metrics: nodes

#[tokio::test]
async fn node_metrics_list_is_byte_for_byte_metrics_servers() {
    let api = api(false);
    let before = Timestamp::now();
    let reply = api.get(&format!("{METRICS_ROOT}/nodes")).await;
    let after = Timestamp::now();
    assert_eq!(
        (reply.code, reply.content_type.as_str()),
        (200, "application/json")
    );
    assert_eq!(
        reply.stamped(before, after),
        concat!(
            r#"{"kind":"NodeMetricsList","apiVersion":"metrics.k8s.io/v1beta1","metadata":{},"items":["#,
            r#"{"metadata":{"name":"n1","creationTimestamp":"NOW","labels":{"node-role.kubernetes.io/control-plane":"","zone":"a"}},"timestamp":"2025-01-02T03:04:05Z","window":"17.913s","usage":{"cpu":"487558164n","memory":"732212Ki"}},"#,
            r#"{"metadata":{"name":"n2","creationTimestamp":"NOW","labels":{"zone":"b"}},"timestamp":"2025-01-02T03:04:05Z","window":"17.913s","usage":{"cpu":"250m","memory":"5Mi"}}]}"#
        )
    );
}

#[tokio::test]
async fn a_single_node_metrics_carries_its_type() {
    let api = api(false);
    let before = Timestamp::now();
    let reply = api.get(&format!("{METRICS_ROOT}/nodes/n2")).await;
    let after = Timestamp::now();
    assert_eq!(reply.code, 200);
    assert_eq!(
        reply.stamped(before, after),
        r#"{"kind":"NodeMetrics","apiVersion":"metrics.k8s.io/v1beta1","metadata":{"name":"n2","creationTimestamp":"NOW","labels":{"zone":"b"}},"timestamp":"2025-01-02T03:04:05Z","window":"17.913s","usage":{"cpu":"250m","memory":"5Mi"}}"#
    );
}

#[tokio::test]
async fn missing_node_metrics_are_404s_worded_as_upstream() {
    let api = api(false);
    // A node that exists but has no metrics.
    let (code, body) = api.status(&format!("{METRICS_ROOT}/nodes/n3")).await;
    assert_eq!(code, 404);
    assert_eq!(
        body,
        not_found(
            r#"nodemetrics.metrics.k8s.io "n3" not found"#,
            json!({"name": "n3", "group": "metrics.k8s.io", "kind": "nodemetrics"})
        )
    );
    // A node that does not exist: the node lister's error.
    let (code, body) = api.status(&format!("{METRICS_ROOT}/nodes/nope")).await;
    assert_eq!(code, 404);
    assert_eq!(
        body,
        not_found(
            r#"node "nope" not found"#,
            json!({"name": "nope", "kind": "node"})
        )
    );
}

/// A name whose percent-decoding is not UTF-8 is a name like any other:
/// Go finds no such object and says so in a `Status` (each invalid byte
/// written as U+FFFD by its JSON encoder), where axum's extractor would
/// answer a plain-text 400.
#[tokio::test]
async fn names_that_are_not_utf8_get_the_api_s_not_found() {
    let api = api(true);
    let (code, body) = api.status(&format!("{METRICS_ROOT}/nodes/%ff")).await;
    assert_eq!(code, 404);
    assert_eq!(
        body,
        not_found(
            "node \"\u{fffd}\" not found",
            json!({"name": "\u{fffd}", "kind": "node"})
        )
    );
    let (code, body) = api
        .status(&format!("{METRICS_ROOT}/namespaces/default/pods/a%ffb"))
        .await;
    assert_eq!(code, 404);
    assert_eq!(
        body,
        not_found(
            "pods \"a\u{fffd}b\" not found",
            json!({"name": "a\u{fffd}b", "kind": "pods"})
        )
    );
    let (code, body) = api.status("/api/v1/nodes/%ff%fe").await;
    assert_eq!(code, 404);
    assert_eq!(
        body,
        not_found(
            "nodes \"\u{fffd}\u{fffd}\" not found",
            json!({"name": "\u{fffd}\u{fffd}", "kind": "nodes"})
        )
    );
    // Escapes that are UTF-8 decode as usual.
    assert_eq!(
        api.get(&format!("{METRICS_ROOT}/nodes/n%32")).await.code,
        200
    );
}

#[tokio::test]
async fn node_metrics_selectors() {
    let api = api(false);
    let nodes = |query: &str| format!("{METRICS_ROOT}/nodes?{query}");
    assert_eq!(api.names(&nodes("labelSelector=zone%3Db")).await, ["n2"]);
    assert_eq!(
        api.names(&nodes(
            "labelSelector=zone+in+(a,b),node-role.kubernetes.io/control-plane"
        ))
        .await,
        ["n1"]
    );
    assert_eq!(api.names(&nodes("labelSelector=zone!%3Da")).await, ["n2"]);
    assert_eq!(
        api.names(&nodes("labelSelector=!zone")).await,
        Vec::<String>::new()
    );
    assert_eq!(
        api.names(&nodes("fieldSelector=metadata.name%3Dn1")).await,
        ["n1"]
    );
    assert_eq!(
        api.names(&nodes("fieldSelector=metadata.name!%3Dn1")).await,
        ["n2"]
    );
    // Nodes have no namespace: it reads as empty.
    assert_eq!(
        api.names(&nodes("fieldSelector=metadata.namespace%3D"))
            .await,
        ["n1", "n2"]
    );
    assert_eq!(
        api.names(&nodes("fieldSelector=metadata.namespace%3Ddefault"))
            .await,
        Vec::<String>::new()
    );
    // The first value of a repeated parameter counts.
    assert_eq!(
        api.names(&nodes("labelSelector=zone%3Da&labelSelector=zone%3Db"))
            .await,
        ["n1"]
    );
    // Other list parameters kubectl sends are accepted and ignored.
    assert_eq!(
        api.names(&nodes("limit=500&resourceVersion=0")).await,
        ["n1", "n2"]
    );
}

#[tokio::test]
async fn bad_selectors_are_400s_with_the_apiservers_text() {
    let api = api(false);
    for (query, message) in [
        (
            "fieldSelector=spec.nodeName%3Dn1",
            r#""spec.nodeName" is not a known field selector: only "metadata.name", "metadata.namespace""#,
        ),
        (
            "fieldSelector=x",
            "invalid selector: 'x'; can't understand 'x'",
        ),
        (
            "labelSelector=a+b",
            "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt",
        ),
        (
            "labelSelector=a%3Db+c",
            "found 'c', expected: ',' or 'end of string'",
        ),
        // The label selector is parsed first.
        (
            "labelSelector=a%3Db+c&fieldSelector=x",
            "found 'c', expected: ',' or 'end of string'",
        ),
    ] {
        for resource in ["nodes", "pods", "namespaces/default/pods"] {
            let (code, body) = api
                .status(&format!("{METRICS_ROOT}/{resource}?{query}"))
                .await;
            assert_eq!(code, 400, "{resource}?{query}");
            assert_eq!(body, bad_request(message), "{resource}?{query}");
        }
    }
}

// ------------------------------------------------------------ metrics: pods

#[tokio::test]
async fn pod_metrics_lists_are_sorted_and_scoped() {
    let api = api(false);
    assert_eq!(
        api.names(&format!("{METRICS_ROOT}/pods")).await,
        ["default/db", "default/web", "kube-system/coredns"]
    );
    assert_eq!(
        api.names(&format!("{METRICS_ROOT}/namespaces/default/pods"))
            .await,
        ["default/db", "default/web"]
    );
    assert_eq!(
        api.names(&format!("{METRICS_ROOT}/namespaces/kube-system/pods"))
            .await,
        ["kube-system/coredns"]
    );
    let body = api
        .get_json(&format!("{METRICS_ROOT}/namespaces/empty/pods"), 200)
        .await;
    assert_eq!(
        body,
        json!({"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {}, "items": []})
    );
}

#[tokio::test]
async fn pod_metrics_are_byte_for_byte_metrics_servers() {
    let api = api(false);
    let before = Timestamp::now();
    let list = api
        .get(&format!("{METRICS_ROOT}/namespaces/kube-system/pods"))
        .await;
    let one = api
        .get(&format!(
            "{METRICS_ROOT}/namespaces/kube-system/pods/coredns"
        ))
        .await;
    let after = Timestamp::now();
    let object = r#""metadata":{"name":"coredns","namespace":"kube-system","creationTimestamp":"NOW","labels":{"k8s-app":"kube-dns"}},"timestamp":"2025-01-02T03:04:05Z","window":"15s","containers":[{"name":"coredns","usage":{"cpu":"3m","memory":"19Mi"}}]}"#;
    assert_eq!(
        list.stamped(before, after),
        format!(
            r#"{{"kind":"PodMetricsList","apiVersion":"metrics.k8s.io/v1beta1","metadata":{{}},"items":[{{{object}]}}"#
        )
    );
    assert_eq!(
        one.stamped(before, after),
        format!(r#"{{"kind":"PodMetrics","apiVersion":"metrics.k8s.io/v1beta1",{object}"#)
    );
}

#[tokio::test]
async fn missing_pod_metrics_are_404s_worded_as_upstream() {
    let api = api(false);
    let (code, body) = api
        .status(&format!("{METRICS_ROOT}/namespaces/default/pods/pending"))
        .await;
    assert_eq!(code, 404);
    assert_eq!(
        body,
        not_found(
            r#"podmetrics.metrics.k8s.io "default/pending" not found"#,
            json!({"name": "default/pending", "group": "metrics.k8s.io", "kind": "podmetrics"})
        )
    );
    // In another namespace the pod does not exist: the pod lister's error.
    let (code, body) = api
        .status(&format!("{METRICS_ROOT}/namespaces/kube-system/pods/web"))
        .await;
    assert_eq!(code, 404);
    assert_eq!(
        body,
        not_found(
            r#"pods "web" not found"#,
            json!({"name": "web", "kind": "pods"})
        )
    );
}

#[tokio::test]
async fn pod_metrics_selectors() {
    let api = api(false);
    let all = |query: &str| format!("{METRICS_ROOT}/pods?{query}");
    let default = |query: &str| format!("{METRICS_ROOT}/namespaces/default/pods?{query}");
    assert_eq!(
        api.names(&all("labelSelector=app")).await,
        ["default/db", "default/web"]
    );
    assert_eq!(
        api.names(&all("labelSelector=app+notin+(db)")).await,
        ["default/web", "kube-system/coredns"]
    );
    assert_eq!(
        api.names(&all("labelSelector=app%3D%3Dweb,tier")).await,
        ["default/web"]
    );
    assert_eq!(
        api.names(&all("fieldSelector=metadata.namespace%3Dkube-system"))
            .await,
        ["kube-system/coredns"]
    );
    assert_eq!(
        api.names(&all(
            "fieldSelector=metadata.namespace!%3Dkube-system,metadata.name!%3Ddb"
        ))
        .await,
        ["default/web"]
    );
    assert_eq!(
        api.names(&default("fieldSelector=metadata.name%3Dweb"))
            .await,
        ["default/web"]
    );
    assert_eq!(
        api.names(&default("fieldSelector=metadata.namespace%3Dkube-system"))
            .await,
        Vec::<String>::new()
    );
}

// ------------------------------------------------------------------- tables

#[tokio::test]
async fn node_metrics_table_is_metrics_servers() {
    let api = api(false);
    let before = Timestamp::now();
    let reply = api
        .get_accepting(&format!("{METRICS_ROOT}/nodes"), TABLE_V1)
        .await;
    let after = Timestamp::now();
    assert_eq!(
        (reply.code, reply.content_type.as_str()),
        (200, "application/json")
    );
    assert_eq!(
        reply.stamped(before, after),
        concat!(
            r#"{"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":{},"columnDefinitions":["#,
            r#"{"name":"Name","type":"string","format":"name","description":"Name of the resource","priority":0},"#,
            r#"{"name":"cpu","type":"string","format":"quantity","description":"","priority":0},"#,
            r#"{"name":"memory","type":"string","format":"quantity","description":"","priority":0},"#,
            r#"{"name":"Window","type":"string","format":"duration","description":"","priority":0}],"rows":["#,
            r#"{"cells":["n1","487558164n","732212Ki","17.913s"],"object":{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{"name":"n1","creationTimestamp":"NOW","labels":{"node-role.kubernetes.io/control-plane":"","zone":"a"}}}},"#,
            r#"{"cells":["n2","250m","5Mi","17.913s"],"object":{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{"name":"n2","creationTimestamp":"NOW","labels":{"zone":"b"}}}}]}"#
        )
    );
}

#[tokio::test]
async fn tables_hold_the_object_as_include_object_says() {
    let api = api(false);
    let path = format!("{METRICS_ROOT}/nodes/n2");
    let table = |reply: Reply| {
        assert_eq!(reply.code, 200, "{}", reply.body);
        reply.json()
    };
    let object = table(
        api.get_accepting(&format!("{path}?includeObject=Object"), TABLE_V1)
            .await,
    )["rows"][0]["object"]
        .clone();
    assert_eq!(object["kind"], "NodeMetrics");
    assert_eq!(object["apiVersion"], "metrics.k8s.io/v1beta1");
    assert_eq!(object["usage"], json!({"cpu": "250m", "memory": "5Mi"}));
    let none = table(
        api.get_accepting(&format!("{path}?includeObject=None"), TABLE_V1)
            .await,
    );
    assert!(none["rows"][0]["object"].is_null());
    assert_eq!(
        none["rows"][0]["cells"],
        json!(["n2", "250m", "5Mi", "17.913s"])
    );
    let metadata = table(
        api.get_accepting(&format!("{path}?includeObject=Metadata"), TABLE_V1)
            .await,
    );
    assert_eq!(
        metadata["rows"][0]["object"]["kind"],
        "PartialObjectMetadata"
    );
    let (code, body) = {
        let reply = api
            .get_accepting(&format!("{path}?includeObject=Everything"), TABLE_V1)
            .await;
        (reply.code, reply.json())
    };
    assert_eq!(code, 400);
    assert_eq!(
        body,
        bad_request(
            r#"Unable to convert to Table as requested: includeObject: Invalid value: "Everything": must be 'Metadata', 'Object', 'None', or empty"#
        )
    );
    // Without a Table the parameter is not looked at.
    assert_eq!(
        api.get(&format!("{path}?includeObject=Everything"))
            .await
            .code,
        200
    );
}

#[tokio::test]
async fn pod_metrics_tables_sum_containers() {
    let api = api(false);
    let reply = api
        .get_accepting(
            &format!("{METRICS_ROOT}/pods"),
            "application/json;as=Table;v=v1beta1;g=meta.k8s.io",
        )
        .await;
    assert_eq!(reply.code, 200);
    let table = reply.json();
    assert_eq!(table["apiVersion"], "meta.k8s.io/v1beta1");
    let names: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|column| column["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Name", "cpu", "memory", "Window"]);
    let cells: Vec<Value> = table["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["cells"].clone())
        .collect();
    assert_eq!(
        cells,
        [
            json!(["db", "15m", "200Mi", "15s"]),
            json!(["web", "3m", "8Mi", "15s"]),
            json!(["coredns", "3m", "19Mi", "15s"]),
        ]
    );
    assert_eq!(
        table["rows"][1]["object"]["apiVersion"],
        "meta.k8s.io/v1beta1"
    );
    assert_eq!(
        table["rows"][1]["object"]["metadata"]["namespace"],
        "default"
    );
    // A single pod is a one-row table.
    let one = api
        .get_accepting(
            &format!("{METRICS_ROOT}/namespaces/default/pods/web"),
            TABLE_V1,
        )
        .await
        .json();
    assert_eq!(one["rows"].as_array().map(Vec::len), Some(1));
    assert_eq!(one["rows"][0]["cells"], json!(["web", "3m", "8Mi", "15s"]));
}

#[tokio::test]
async fn an_empty_table_has_null_columns_and_rows_as_metrics_servers() {
    let api = api(false);
    let reply = api
        .get_accepting(&format!("{METRICS_ROOT}/namespaces/empty/pods"), TABLE_V1)
        .await;
    assert_eq!(
        reply.body,
        r#"{"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":{},"columnDefinitions":null,"rows":null}"#
    );
}

#[tokio::test]
async fn unanswerable_accept_headers_are_406s() {
    let api = api(false);
    let reply = api
        .get_accepting(&format!("{METRICS_ROOT}/nodes"), "text/plain")
        .await;
    assert_eq!(reply.code, 406);
    assert_eq!(
        reply.json(),
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": "only the following media types are accepted: application/json",
               "reason": "NotAcceptable", "code": 406})
    );
    // What kubectl top sends (1.27–1.31, 1.32+) gets JSON.
    for accept in [
        "application/vnd.kubernetes.protobuf, */*",
        "application/vnd.kubernetes.protobuf,application/json",
    ] {
        let reply = api
            .get_accepting(&format!("{METRICS_ROOT}/nodes"), accept)
            .await;
        assert_eq!(reply.code, 200, "{accept}");
        assert_eq!(reply.json()["kind"], "NodeMetricsList");
    }
}

// --------------------------------------------------------------- core API

#[tokio::test]
async fn core_nodes_and_pods_in_standalone_mode() {
    let api = api(true);
    let list = api.get_json("/api/v1/nodes", 200).await;
    assert_eq!(list["kind"], "NodeList");
    assert_eq!(list["apiVersion"], "v1");
    assert_eq!(list["metadata"], json!({}));
    assert!(list["items"][0].get("kind").is_none());
    assert_eq!(api.names("/api/v1/nodes").await, ["n1", "n2", "n3"]);
    let reply = api.get("/api/v1/nodes/n3").await;
    assert_eq!(
        reply.body,
        r#"{"kind":"Node","apiVersion":"v1","metadata":{"name":"n3","creationTimestamp":"2025-01-01T00:00:00Z","labels":{"zone":"c"}},"status":{}}"#
    );
    assert_eq!(
        api.names("/api/v1/pods").await,
        [
            "default/db",
            "default/pending",
            "default/web",
            "kube-system/coredns"
        ]
    );
    assert_eq!(
        api.names("/api/v1/namespaces/default/pods?labelSelector=app%3Dweb")
            .await,
        ["default/pending", "default/web"]
    );
    let pod = api
        .get_json("/api/v1/namespaces/default/pods/pending", 200)
        .await;
    assert_eq!(
        pod,
        json!({"kind": "Pod", "apiVersion": "v1",
               "metadata": {"name": "pending", "namespace": "default",
                            "creationTimestamp": "2025-01-01T00:00:00Z", "labels": {"app": "web"}}})
    );
    assert_eq!(
        api.get_json("/api/v1/namespaces/none/pods", 200).await["items"],
        json!([])
    );
}

#[tokio::test]
async fn core_errors_are_the_kube_apiservers() {
    let api = api(true);
    let (code, body) = api.status("/api/v1/nodes/nope").await;
    assert_eq!(code, 404);
    assert_eq!(
        body,
        not_found(
            r#"nodes "nope" not found"#,
            json!({"name": "nope", "kind": "nodes"})
        )
    );
    let (code, body) = api.status("/api/v1/namespaces/kube-system/pods/web").await;
    assert_eq!(code, 404);
    assert_eq!(
        body,
        not_found(
            r#"pods "web" not found"#,
            json!({"name": "web", "kind": "pods"})
        )
    );
    let (code, body) = api
        .status("/api/v1/pods?fieldSelector=spec.nodeName%3Dn1")
        .await;
    assert_eq!(code, 400);
    assert_eq!(
        body,
        bad_request("field label not supported: spec.nodeName")
    );
    let (code, body) = api
        .status("/api/v1/nodes?fieldSelector=metadata.namespace%3D")
        .await;
    assert_eq!(code, 400);
    assert_eq!(
        body,
        bad_request("field label not supported: metadata.namespace")
    );
    // Nodes are never unschedulable here.
    assert_eq!(
        api.names("/api/v1/nodes?fieldSelector=spec.unschedulable%3Dfalse,metadata.name!%3Dn1")
            .await,
        ["n2", "n3"]
    );
    assert_eq!(
        api.names("/api/v1/pods?fieldSelector=metadata.namespace%3Dkube-system")
            .await,
        ["kube-system/coredns"]
    );
}

#[tokio::test]
async fn core_tables_name_roles_and_age() {
    let api = api(true);
    let table = api.get_accepting("/api/v1/nodes", TABLE_V1).await.json();
    let names: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|column| column["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Name", "Roles", "Age"]);
    let row = &table["rows"][0];
    assert_eq!(row["cells"][0], "n1");
    assert_eq!(row["cells"][1], "control-plane");
    assert_eq!(table["rows"][1]["cells"][1], "<none>");
    // Created 2025-01-01: at least a year and a half old by now.
    assert!(
        row["cells"][2].as_str().unwrap().ends_with(['d', 'y']),
        "{row}"
    );
    assert_eq!(
        row["object"],
        json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
               "metadata": {"name": "n1", "creationTimestamp": "2025-01-01T00:00:00Z",
                            "labels": {"node-role.kubernetes.io/control-plane": "", "zone": "a"}}})
    );
    let pods = api
        .get_accepting(
            "/api/v1/namespaces/default/pods/web?includeObject=Object",
            TABLE_V1,
        )
        .await
        .json();
    assert_eq!(pods["columnDefinitions"][1]["name"], "Age");
    assert_eq!(pods["rows"][0]["cells"][0], "web");
    assert_eq!(pods["rows"][0]["object"]["kind"], "Pod");
}

// ----------------------------------------------------- other paths, methods

#[tokio::test]
async fn unknown_paths_are_the_apiservers_404() {
    let api = api(true);
    for path in [
        "/nope",
        "/apis/metrics.k8s.io/v1beta1/services",
        "/apis/metrics.k8s.io/v1",
        "/apis/apps/v1",
        "/api/v1/services",
        "/apis/metrics.k8s.io/v1beta1/nodes/n1/status",
    ] {
        let (code, body) = api.status(path).await;
        assert_eq!(code, 404, "{path}");
        assert_eq!(
            body,
            not_found(
                "the server could not find the requested resource",
                json!({})
            ),
            "{path}"
        );
    }
}

#[tokio::test]
async fn writes_are_405s() {
    let api = api(true);
    for method in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
        for path in [
            "/apis/metrics.k8s.io/v1beta1/nodes",
            "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/web",
            "/api/v1/nodes/n1",
            "/readyz",
        ] {
            let reply = send(&api.router, method.clone(), path, None).await;
            assert_eq!(reply.code, 405, "{method} {path}");
            assert_eq!(
                reply.json(),
                json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                       "message": "the server does not allow this method on the requested resource",
                       "reason": "MethodNotAllowed", "details": {}, "code": 405}),
                "{method} {path}"
            );
        }
    }
}

#[tokio::test]
async fn watches_are_not_supported() {
    let api = api(true);
    for (path, kind) in [
        (
            "/apis/metrics.k8s.io/v1beta1/nodes?watch=true",
            "nodes.metrics.k8s.io",
        ),
        (
            "/apis/metrics.k8s.io/v1beta1/pods?watch=1",
            "pods.metrics.k8s.io",
        ),
        (
            "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods?watch=True",
            "pods.metrics.k8s.io",
        ),
        ("/api/v1/nodes?watch=true", "nodes"),
        ("/api/v1/pods?watch=yes", "pods"),
    ] {
        let (code, body) = api.status(path).await;
        assert_eq!(code, 405, "{path}");
        assert_eq!(body["reason"], "MethodNotAllowed");
        assert_eq!(
            body["message"],
            format!("watch is not supported on resources of kind \"{kind}\""),
            "{path}"
        );
    }
    assert_eq!(
        api.names("/apis/metrics.k8s.io/v1beta1/nodes?watch=false")
            .await,
        ["n1", "n2"]
    );
    assert_eq!(
        api.names("/apis/metrics.k8s.io/v1beta1/nodes?watch=0")
            .await,
        ["n1", "n2"]
    );
}

// ------------------------------------------------------------------ probes

#[tokio::test]
async fn probes_answer_ok_when_healthy() {
    let api = api(false);
    for path in ["/livez", "/readyz", "/healthz"] {
        let reply = api.get(path).await;
        assert_eq!(
            (reply.code, reply.content_type.as_str(), reply.body.as_str()),
            (200, "text/plain; charset=utf-8", "ok"),
            "{path}"
        );
    }
    assert_eq!(
        api.get("/livez?verbose").await.body,
        "[+]ping ok\n[+]metric-collection-timely ok\nlivez check passed\n"
    );
    assert_eq!(
        api.get("/readyz?verbose=1").await.body,
        "[+]ping ok\n[+]metric-storage-ready ok\nreadyz check passed\n"
    );
}

#[tokio::test]
async fn failing_probes_list_every_check() {
    let api = api(false);
    *api.health.ready.lock().unwrap() = Err("no metrics to serve".to_owned());
    *api.health.live.lock().unwrap() = Err("the last tick started 40s ago".to_owned());
    let reply = api.get("/readyz").await;
    assert_eq!(
        (reply.code, reply.content_type.as_str(), reply.body.as_str()),
        (
            500,
            "text/plain; charset=utf-8",
            "[+]ping ok\n[-]metric-storage-ready failed: reason withheld\nreadyz check failed\n"
        )
    );
    let reply = api.get("/livez").await;
    assert_eq!(reply.code, 500);
    assert_eq!(
        reply.body,
        "[+]ping ok\n[-]metric-collection-timely failed: reason withheld\nlivez check failed\n"
    );
    assert_eq!(api.get("/healthz").await.code, 500);
    // The single check shows its reason.
    let reply = api.get("/readyz/metric-storage-ready").await;
    assert_eq!(
        (reply.code, reply.body.as_str()),
        (500, "internal server error: no metrics to serve\n")
    );
    assert_eq!(api.get("/readyz/ping").await.body, "ok");
    assert_eq!(api.get("/readyz/metric-collection-timely").await.code, 404);
    // Excluding the failing check, and one that does not exist.
    let reply = api
        .get("/readyz?exclude=metric-storage-ready&exclude=nope&verbose")
        .await;
    assert_eq!(
        (reply.code, reply.body.as_str()),
        (
            200,
            "[+]ping ok\n[+]metric-storage-ready excluded: ok\nwarn: some health checks cannot be excluded: no matches for \"nope\"\nreadyz check passed\n"
        )
    );
}

#[tokio::test]
async fn metrics_renders_the_health_text() {
    let api = api(false);
    let reply = api.get("/metrics").await;
    assert_eq!(
        (reply.code, reply.content_type.as_str(), reply.body.as_str()),
        (
            200,
            "text/plain; version=0.0.4; charset=utf-8",
            "# TYPE fake_pods gauge\nfake_pods 3\n"
        )
    );
    // The snapshot read is the one swapped in last.
    api.published
        .store(Arc::new(Published::empty(Timestamp::now())));
    assert_eq!(
        api.get("/metrics").await.body,
        "# TYPE fake_pods gauge\nfake_pods 0\n"
    );
}

// ------------------------------------------------------------- accounting

#[tokio::test]
async fn every_request_is_counted_by_route_template() {
    let api = api(true);
    api.get("/apis").await;
    api.get(&format!("{METRICS_ROOT}/namespaces/default/pods/web"))
        .await;
    api.get(&format!("{METRICS_ROOT}/namespaces/default/pods/missing"))
        .await;
    api.get(&format!("{METRICS_ROOT}/nodes?fieldSelector=x"))
        .await;
    api.get("/api/v1/nodes/n1").await;
    api.get("/readyz/ping").await;
    api.get("/no/such/path").await;
    send(&api.router, Method::POST, "/apis", None).await;
    assert_eq!(
        api.health.requests(),
        [
            ("/apis", 200),
            (
                "/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods/{name}",
                200
            ),
            (
                "/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods/{name}",
                404
            ),
            ("/apis/metrics.k8s.io/v1beta1/nodes", 400),
            ("/api/v1/nodes/{name}", 200),
            ("/readyz/{check}", 200),
            ("other", 404),
            ("/apis", 405),
        ]
    );
}

/// An API over `count` pods `bulk/pod-NNNNN`, labelled `i=N`.
fn bulk_api(count: usize) -> Api {
    let mut snapshot = published();
    snapshot.pod_metrics = (0..count)
        .map(|i| {
            pod_metrics(
                "bulk",
                &format!("pod-{i:05}"),
                &[("i", &i.to_string())],
                vec![container("c", 1, 1)],
            )
        })
        .collect();
    api_with(snapshot, false)
}

#[tokio::test]
async fn large_lists_are_encoded_off_the_worker() {
    // More pods than BLOCKING_ENCODE_ITEMS, so encoding runs on the
    // blocking pool; the answer is the same.
    let api = bulk_api(BLOCKING_ENCODE_ITEMS + 1);
    let names = api.names(&format!("{METRICS_ROOT}/pods")).await;
    assert_eq!(names.len(), BLOCKING_ENCODE_ITEMS + 1);
    assert_eq!(names[0], "bulk/pod-00000");
    assert_eq!(
        api.names(&format!(
            "{METRICS_ROOT}/namespaces/bulk/pods?labelSelector=i%3D7"
        ))
        .await,
        ["bulk/pod-00007"]
    );
}

// ------------------------------------------------- the selection functions

#[test]
fn selection_functions_answer_without_http() {
    let snapshot = published();
    let everything = ListOptions::default();
    let names = |pods: Vec<&PodMetricsItem>| -> Vec<String> {
        pods.iter()
            .map(|pod| pod.pod.metadata.name.clone())
            .collect()
    };
    assert_eq!(
        names(select::list_pod_metrics(&snapshot, Some("default"), &everything).unwrap()),
        ["db", "web"]
    );
    assert_eq!(
        names(select::list_pod_metrics(&snapshot, Some("a"), &everything).unwrap()),
        Vec::<String>::new()
    );
    assert_eq!(
        names(select::list_pod_metrics(&snapshot, Some("zzz"), &everything).unwrap()),
        Vec::<String>::new()
    );
    let web = ListOptions {
        label_selector: "app=web",
        field_selector: "",
    };
    assert_eq!(
        names(select::list_pod_metrics(&snapshot, None, &web).unwrap()),
        ["web"]
    );
    assert_eq!(
        select::get_pod_metrics(&snapshot, "kube-system", "coredns")
            .unwrap()
            .containers[0]
            .name,
        Arc::from("coredns")
    );
    assert_eq!(
        select::get_node_metrics(&snapshot, "n2")
            .unwrap()
            .node
            .metadata
            .name,
        "n2"
    );
    assert_eq!(
        select::get_node_metrics(&snapshot, "n3")
            .unwrap_err()
            .message,
        r#"nodemetrics.metrics.k8s.io "n3" not found"#
    );
    assert_eq!(
        select::get_node(&snapshot, "n3").unwrap().metadata.name,
        "n3"
    );
    assert_eq!(
        select::get_pod(&snapshot, "default", "pending")
            .unwrap()
            .metadata
            .name,
        "pending"
    );
    let nodes = select::list_nodes(
        &snapshot,
        &ListOptions {
            label_selector: "zone in (a,c)",
            field_selector: "",
        },
    )
    .unwrap();
    assert_eq!(
        nodes
            .iter()
            .map(|n| n.metadata.name.as_str())
            .collect::<Vec<_>>(),
        ["n1", "n3"]
    );
    let status = select::list_pods(
        &snapshot,
        None,
        &ListOptions {
            label_selector: "",
            field_selector: "status.phase=Running",
        },
    )
    .unwrap_err();
    assert_eq!(
        (status.code, status.reason.as_str(), status.message.as_str()),
        (400, "BadRequest", "field label not supported: status.phase")
    );
}

// ------------------------------------------------------------- compression

/// GET `path` with `Accept-Encoding: accept_encoding`; the answer's
/// `Content-Encoding` and `Vary` and its body, gunzipped if it says gzip.
async fn get_encoded(api: &Api, path: &str, accept_encoding: &str) -> (String, String, Value) {
    use std::io::Read as _;
    let request = Request::builder()
        .uri(path)
        .header(header::ACCEPT_ENCODING, accept_encoding)
        .body(Body::empty())
        .unwrap();
    let response = api.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status().as_u16(), 200, "{path}");
    let header_text = |name| {
        response
            .headers()
            .get(name)
            .map(|value: &HeaderValue| value.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let (encoding, vary) = (
        header_text(header::CONTENT_ENCODING),
        header_text(header::VARY),
    );
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let mut text = String::new();
    if encoding == "gzip" {
        flate2::read::GzDecoder::new(&body[..])
            .read_to_string(&mut text)
            .unwrap();
    } else {
        text = String::from_utf8(body.to_vec()).unwrap();
    }
    (encoding, vary, serde_json::from_str(&text).unwrap())
}

#[tokio::test]
async fn answers_over_128_kib_are_gzipped_as_the_api_server_does() {
    let api = bulk_api(1_000);
    let names = |body: &Value| -> Vec<String> {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["metadata"]["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = format!("{METRICS_ROOT}/pods");
    let (_, _, plain) = get_encoded(&api, &all, "identity").await;
    assert_eq!(names(&plain).len(), 1_000);
    for (path, accept_encoding, want) in [
        // A whole list, from the response cache.
        (all.as_str(), "gzip", "gzip"),
        (all.as_str(), "deflate, gzip", "gzip"),
        // Upstream reads no quality values: `gzip;q=1` is not `gzip`.
        (all.as_str(), "gzip;q=1", ""),
        // A selected list, through the middleware.
        (
            &format!("{METRICS_ROOT}/namespaces/bulk/pods?labelSelector=i"),
            "gzip",
            "gzip",
        ),
    ] {
        let (encoding, vary, body) = get_encoded(&api, path, accept_encoding).await;
        assert_eq!(encoding, want, "{path} {accept_encoding}");
        assert_eq!(
            vary,
            if want.is_empty() {
                ""
            } else {
                "Accept-Encoding"
            }
        );
        assert_eq!(names(&body), names(&plain), "{path} {accept_encoding}");
    }
    // Small answers go as they are.
    let (encoding, _, body) = get_encoded(
        &api,
        &format!("{METRICS_ROOT}/namespaces/bulk/pods/pod-00007"),
        "gzip",
    )
    .await;
    assert_eq!(
        (encoding.as_str(), &body["metadata"]["name"]),
        ("", &json!("pod-00007"))
    );
}
