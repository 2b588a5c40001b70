//! The official Python client (`kubernetes` on PyPI, what release and
//! autoscaling tooling written in Python uses) reads everything `workingset
//! serve` serves: node and pod metrics (list, get, label selector) through
//! `CustomObjectsApi`, and the core node and pod lists through
//! `CoreV1Api`, whose models validate what they decode (a `PodSpec`
//! without `containers` is refused).
//!
//! The client runs in the Python given by `$WORKINGSET_PYTHON` (default
//! `python3`); `scripts/test` installs it in a virtual environment. When it
//! is missing the test fails, unless `WORKINGSET_SKIP_PYTHON_CLIENT=1` says
//! to skip it.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use workingset_testkit::kube::write_kubeconfig;

use super::agent::{Agent, get, machine, wait_for_200};

const SKIP_ENV: &str = "WORKINGSET_SKIP_PYTHON_CLIENT";

/// The Python to run, if it has the client.
fn python() -> Option<String> {
    let python = std::env::var("WORKINGSET_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let probe = Command::new(&python)
        .args(["-c", "import kubernetes"])
        .output();
    if probe.is_ok_and(|output| output.status.success()) {
        return Some(python);
    }
    if std::env::var(SKIP_ENV).as_deref() == Ok("1") {
        workingset_testkit::report_skip(
            "the_python_client_reads_what_serve_serves",
            "the Python package `kubernetes` is not installed and WORKINGSET_SKIP_PYTHON_CLIENT=1",
        );
        return None;
    }
    panic!(
        "{python} has no `kubernetes` package: `pip install kubernetes` (scripts/test does, in a virtual environment) and set WORKINGSET_PYTHON, or set {SKIP_ENV}=1 to skip"
    );
}

/// What the script prints: the names it read through each call.
const SCRIPT: &str = r#"
import json, sys
from kubernetes import client, config

config.load_kube_config(config_file=sys.argv[1])
core = client.CoreV1Api()
custom = client.CustomObjectsApi()
group, version = "metrics.k8s.io", "v1beta1"

pods = core.list_pod_for_all_namespaces()
nodes = core.list_node()
node_metrics = custom.list_cluster_custom_object(group, version, "nodes")
pod_metrics = custom.list_cluster_custom_object(group, version, "pods")
first = pod_metrics["items"][0]["metadata"]
one_pod = custom.get_namespaced_custom_object(group, version, first["namespace"], "pods", first["name"])
one_node = custom.get_cluster_custom_object(group, version, "nodes", node_metrics["items"][0]["metadata"]["name"])
selected = custom.list_cluster_custom_object(group, version, "pods", label_selector=sys.argv[2])
core_pod = core.read_namespaced_pod(first["name"], first["namespace"])

print(json.dumps({
    "pods": sorted(p.metadata.namespace + "/" + p.metadata.name for p in pods.items),
    "pod_containers": sorted(c.name for p in pods.items for c in p.spec.containers),
    "nodes": sorted(n.metadata.name for n in nodes.items),
    "node_metrics": sorted(n["metadata"]["name"] for n in node_metrics["items"]),
    "pod_metrics": sorted(p["metadata"]["namespace"] + "/" + p["metadata"]["name"] for p in pod_metrics["items"]),
    "one_pod": one_pod["metadata"]["name"],
    "one_pod_containers": sorted(c["name"] for c in one_pod["containers"]),
    "one_node_cpu": one_node["usage"]["cpu"],
    "selected": sorted(p["metadata"]["name"] for p in selected["items"]),
    "core_pod": core_pod.metadata.name,
}))
"#;

fn names(addr: std::net::SocketAddr, path: &str) -> Vec<String> {
    let (status, body) = get(addr, path);
    assert_eq!(status, 200, "{path}: {body}");
    let list: Value = serde_json::from_str(&body).unwrap();
    let mut names: Vec<String> = list["items"]
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
        .collect();
    names.sort();
    names
}

#[test]
fn the_python_client_reads_what_serve_serves() {
    let Some(python) = python() else {
        return;
    };
    let mut args: Vec<String> = [
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--node-name",
        "fixture-node",
        "--metric-resolution",
        "1s",
        "--housekeeping-interval",
        "200ms",
        "--docker-socket=",
        "--cri-socket=",
    ]
    .map(str::to_owned)
    .into();
    args.extend(machine());
    let mut serve = Agent::spawn(&args);
    let addr = serve.addr;
    wait_for_200(addr, "/readyz");
    let served_pods = names(addr, "/apis/metrics.k8s.io/v1beta1/pods");
    assert!(!served_pods.is_empty(), "the fixture machine has pods");
    // A label the fixture's pods carry, to select by.
    let (_, body) = get(addr, "/apis/metrics.k8s.io/v1beta1/pods");
    let list: Value = serde_json::from_str(&body).unwrap();
    let labelled = list["items"].as_array().unwrap().iter().find_map(|item| {
        let labels = item["metadata"]["labels"].as_object()?;
        let (key, value) = labels.iter().next()?;
        Some((
            format!("{key}={}", value.as_str()?),
            item["metadata"]["name"].clone(),
        ))
    });

    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = write_kubeconfig(dir.path(), &format!("http://{addr}"));
    let selector = labelled
        .as_ref()
        .map_or("no-such-label=x".to_owned(), |(s, _)| s.clone());
    let mut command = Command::new(&python);
    command.args(["-c", SCRIPT]).arg(&kubeconfig).arg(&selector);
    let output =
        workingset_testkit::process::run(&mut command, None, Duration::from_secs(60)).unwrap();
    assert!(
        output.status.success(),
        "the Python client failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let read: Value = serde_json::from_slice(&output.stdout).unwrap();

    let strings = |value: &Value| -> Vec<String> {
        value
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(strings(&read["pods"]), names(addr, "/api/v1/pods"));
    assert_eq!(strings(&read["nodes"]), ["fixture-node"]);
    assert_eq!(strings(&read["node_metrics"]), ["fixture-node"]);
    assert_eq!(strings(&read["pod_metrics"]), served_pods);
    assert!(!strings(&read["pod_containers"]).is_empty());
    assert!(!strings(&read["one_pod_containers"]).is_empty());
    assert!(
        read["one_node_cpu"]
            .as_str()
            .is_some_and(|cpu| !cpu.is_empty())
    );
    assert_eq!(read["one_pod"], read["core_pod"]);
    if let Some((_, name)) = labelled {
        assert!(
            strings(&read["selected"]).contains(&name.as_str().unwrap().to_owned()),
            "{read}"
        );
    }

    serve.signal("TERM");
    assert!(serve.wait(Duration::from_secs(15)).success());
}
