//! Kubernetes mode end to end: `workingset server --kubeconfig` against the
//! testkit's stub API server (nodes and pods list+watch, reviews) and fake
//! kubelets (testkit's `FakeAgent`s over plain HTTP, hence
//! `--deprecated-kubelet-completely-insecure`). Resolutions are 1 s; every
//! wait is bounded and every process and stub is stopped by its guard.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use workingset_testkit::fake_agent::{FakeAgent, FakeNode, FakePod};
use workingset_testkit::stub_apiserver::StubApiServer;

use super::agent::{Agent, get};

const METRICS: &str = "/apis/metrics.k8s.io/v1beta1";
const MIB: u64 = 1 << 20;
const SETTLE: Duration = Duration::from_secs(30);

/// A core/v1 Node as the API server serves it.
fn node_object(
    name: &str,
    labels: Value,
    addresses: &[(&str, &str)],
    status_port: Option<u16>,
    annotations: Value,
) -> Value {
    let addresses: Vec<Value> = addresses
        .iter()
        .map(|(kind, address)| json!({"type": kind, "address": address}))
        .collect();
    let mut status = json!({
        "addresses": addresses,
        "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
        "allocatable": {"cpu": "3900m", "memory": "7Gi", "pods": "110"},
    });
    if let Some(port) = status_port {
        status["daemonEndpoints"] = json!({"kubeletEndpoint": {"Port": port}});
    }
    json!({
        "kind": "Node", "apiVersion": "v1",
        "metadata": {
            "name": name, "uid": format!("uid-{name}"),
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "labels": labels, "annotations": annotations,
        },
        "spec": {},
        "status": status,
    })
}

/// A core/v1 Pod in `phase` with the fake pod's containers.
fn pod_object(pod: &FakePod, node: &str, phase: &str) -> Value {
    let containers: Vec<Value> = pod
        .containers
        .iter()
        .map(|c| json!({"name": c.name, "image": "busybox"}))
        .collect();
    json!({
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {
            "name": pod.name, "namespace": pod.namespace,
            "uid": format!("uid-{}-{}", pod.namespace, pod.name),
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "labels": pod.labels,
        },
        "spec": {"nodeName": node, "containers": containers},
        "status": {"phase": phase},
    })
}

fn port(agent: &FakeAgent) -> u16 {
    agent.addr().port()
}

fn list_names(addr: SocketAddr, path: &str) -> BTreeSet<String> {
    let (status, body) = get(addr, path);
    if status != 200 {
        return BTreeSet::new();
    }
    let list: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|item| {
            let meta = &item["metadata"];
            match meta["namespace"].as_str() {
                Some(ns) => format!("{ns}/{}", meta["name"].as_str().unwrap_or_default()),
                None => meta["name"].as_str().unwrap_or_default().to_owned(),
            }
        })
        .collect()
}

fn wait_for_names(addr: SocketAddr, path: &str, want: &[&str]) {
    let want: BTreeSet<String> = want.iter().map(|s| (*s).to_owned()).collect();
    let deadline = Instant::now() + SETTLE;
    loop {
        let got = list_names(addr, path);
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{path}: wanted {want:?} within {SETTLE:?}, got {got:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

/// Nodes come from watched Node objects — address types, the node's own
/// port, `--kubelet-port`, the path annotation and the node selector
/// honoured — and pods from the metadata-only watch of Running pods; a
/// node deleted from the API server leaves the Metrics API.
#[test]
fn server_scrapes_the_nodes_and_pods_the_api_server_lists() {
    let web = FakePod::new("default", "web-1")
        .label("app", "web")
        .container("nginx", 250, 100 * MIB);
    let pending = FakePod::new("default", "pending-0").container("init", 125, 10 * MIB);
    let db = FakePod::new("data", "db-0")
        .label("app", "db")
        .container("postgres", 500, 200 * MIB);
    let cache = FakePod::new("data", "cache-0").container("redis", 125, 50 * MIB);
    let skipped_pod = FakePod::new("default", "skipped-0").container("app", 125, 10 * MIB);

    let status_port = FakeAgent::start(
        FakeNode::new(4, 8 << 30, 1_000, 3 << 30)
            .pod(web.clone())
            .pod(pending.clone()),
    )
    .unwrap();
    let annotated =
        FakeAgent::start(FakeNode::new(4, 8 << 30, 500, 2 << 30).pod(db.clone())).unwrap();
    let flag_port =
        FakeAgent::start(FakeNode::new(4, 8 << 30, 250, 1 << 30).pod(cache.clone())).unwrap();
    let skipped =
        FakeAgent::start(FakeNode::new(4, 8 << 30, 250, 1 << 30).pod(skipped_pod.clone())).unwrap();

    let stub = StubApiServer::start();
    // Hostname first in the node's list, but it does not resolve: only
    // --kubelet-preferred-address-types=InternalIP,... makes it scrapeable.
    stub.put_node(node_object(
        "node-a",
        json!({"kubernetes.io/hostname": "node-a", "zone": "a"}),
        &[("Hostname", "node-a.invalid"), ("InternalIP", "127.0.0.1")],
        Some(port(&status_port)),
        json!({}),
    ));
    stub.put_node(node_object(
        "node-b",
        json!({"zone": "b"}),
        &[("InternalIP", "127.0.0.1")],
        Some(port(&annotated)),
        json!({"metrics.k8s.io/resource-metrics-path": "/alternative/metrics/resource"}),
    ));
    // No status port: --kubelet-port is used.
    stub.put_node(node_object(
        "node-c",
        json!({"zone": "c"}),
        &[("InternalIP", "127.0.0.1")],
        None,
        json!({}),
    ));
    stub.put_node(node_object(
        "node-skip",
        json!({"metrics-skip": "true"}),
        &[("InternalIP", "127.0.0.1")],
        Some(port(&skipped)),
        json!({}),
    ));
    // No address of a preferred type.
    stub.put_node(node_object(
        "node-nowhere",
        json!({}),
        &[("ExternalDNS", "nowhere.invalid")],
        None,
        json!({}),
    ));
    for (pod, node, phase) in [
        (&web, "node-a", "Running"),
        (&pending, "node-a", "Pending"),
        (&db, "node-b", "Running"),
        (&cache, "node-c", "Running"),
        (&skipped_pod, "node-skip", "Running"),
    ] {
        stub.put_pod(pod_object(pod, node, phase));
    }

    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = stub.write_kubeconfig(dir.path());
    let args: Vec<String> = [
        "server",
        "--listen",
        "127.0.0.1:0",
        "--metric-resolution",
        "1s",
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--kubelet-preferred-address-types",
        "InternalIP,Hostname",
        "--kubelet-use-node-status-port",
        "--kubelet-port",
        &port(&flag_port).to_string(),
        "--node-selector",
        "metrics-skip!=true",
        "--deprecated-kubelet-completely-insecure",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let mut server = Agent::spawn(&args);
    let addr = server.addr;

    wait_for_names(
        addr,
        &format!("{METRICS}/nodes"),
        &["node-a", "node-b", "node-c"],
    );
    // The Pending pod is reported by its kubelet but not listed as Running.
    wait_for_names(
        addr,
        &format!("{METRICS}/pods"),
        &["data/cache-0", "data/db-0", "default/web-1"],
    );
    // Labels come from the API server's objects.
    assert_eq!(
        list_names(addr, &format!("{METRICS}/pods?labelSelector=app%3Dweb")),
        set(&["default/web-1"])
    );
    assert_eq!(
        list_names(addr, &format!("{METRICS}/nodes?labelSelector=zone%3Db")),
        set(&["node-b"])
    );
    let (_, node_a) = get(addr, &format!("{METRICS}/nodes/node-a"));
    let node_a: Value = serde_json::from_str(&node_a).unwrap();
    assert_eq!(node_a["usage"]["cpu"], "1", "{node_a}");
    assert_eq!(node_a["metadata"]["labels"]["zone"], "a");

    // The annotation's path was scraped; the selector kept node-skip out.
    assert!(annotated.requests("/alternative/metrics/resource") > 0);
    assert_eq!(skipped.requests("/metrics/resource"), 0);
    // The node without a usable address is reported on /metrics.
    let (_, metrics) = get(addr, "/metrics");
    assert!(
        metrics
            .contains(r#"workingset_server_scrapes_total{node="node-nowhere",outcome="address"}"#),
        "{metrics}"
    );

    // What the server asked the API server: nodes whole, Running pods
    // metadata-only, both listed then watched.
    let requests = stub.requests();
    let pod_watch = requests
        .iter()
        .find(|r| r.path == "/api/v1/pods" && r.has_param("watch", "true"))
        .expect("a pod watch");
    assert!(
        pod_watch.has_param("fieldSelector", "status.phase%3DRunning"),
        "{pod_watch:?}"
    );
    assert!(
        pod_watch.accept.contains("as=PartialObjectMetadata"),
        "{pod_watch:?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.path == "/api/v1/nodes" && r.has_param("watch", "true"))
    );

    // A node deleted from the API server leaves the Metrics API.
    stub.delete_node("node-b");
    wait_for_names(addr, &format!("{METRICS}/nodes"), &["node-a", "node-c"]);
    wait_for_names(
        addr,
        &format!("{METRICS}/pods"),
        &["data/cache-0", "default/web-1"],
    );
    // A pod that stops running leaves it too.
    stub.put_pod(pod_object(&cache, "node-c", "Succeeded"));
    wait_for_names(addr, &format!("{METRICS}/pods"), &["default/web-1"]);

    server.signal("TERM");
    assert!(server.wait(Duration::from_secs(10)).success());
}
