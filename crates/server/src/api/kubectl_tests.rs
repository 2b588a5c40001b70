//! The real kubectl (1.27 and 1.33) against the router served on loopback:
//! discovery, `top`, server-side Tables (`get nodemetrics`, `get
//! podmetrics -A`, `get nodes`) and error texts must all work as they do
//! against metrics-server and a kube-apiserver.
//!
//! The binaries are looked up in `$WORKINGSET_KUBECTL_DIR` (default
//! `/usr/lib/google-cloud-sdk/bin`); when missing the test fails unless
//! `WORKINGSET_SKIP_KUBECTL=1`, as the top crate's comparisons do.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::watch;
use workingset_model::metrics::{ResourceList, usage};

use super::tests::{FakeHealth, published};
use super::{ApiState, Health, router};

const VERSIONS: [&str; 2] = ["1.27", "1.33"];
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// The directory of the real kubectl binaries, or `None` (reported as a
/// skip) when they are missing and `WORKINGSET_SKIP_KUBECTL=1`.
fn kubectl_dir(test: &str) -> Option<PathBuf> {
    workingset_testkit::kube::kubectl_available(test).then(workingset_testkit::kube::kubectl_dir)
}

/// Runs kubectl against `addr` with a scratch HOME; (exit code, stdout,
/// stderr).
fn kubectl(binary: &Path, home: &Path, addr: SocketAddr, args: &[&str]) -> (i32, String, String) {
    let kubeconfig = home.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: ws\n  cluster:\n    server: http://{addr}\n\
             contexts:\n- name: ws\n  context:\n    cluster: ws\n    user: ws\n    namespace: default\n\
             current-context: ws\nusers:\n- name: ws\n  user: {{}}\n"
        ),
    )
    .unwrap();
    let output = workingset_testkit::process::run(
        Command::new(binary)
            .args(args)
            .env_clear()
            .env("HOME", home)
            .env("KUBECONFIG", &kubeconfig),
        None,
        RUN_TIMEOUT,
    )
    .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

fn allocatable() -> ResourceList {
    usage(4_000_000_000, 16 << 30)
}

/// Serves the test snapshot on 127.0.0.1 for the duration of `body`.
async fn with_server(core_api: bool, body: impl FnOnce(SocketAddr) + Send + 'static) {
    let mut snapshot = published();
    for node in &mut snapshot.nodes {
        let node = Arc::make_mut(node);
        node.status.allocatable = allocatable();
        node.status.capacity = allocatable();
    }
    let state = ApiState {
        published: Arc::new(ArcSwap::from_pointee(snapshot)),
        health: FakeHealth::healthy() as Arc<dyn Health>,
        core_api,
        proxy: None,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = watch::channel(false);
    let server = tokio::spawn(workingset_httpd::serve(
        listener,
        None,
        router(state),
        stopped,
        Duration::from_secs(1),
    ));
    let outcome = tokio::task::spawn_blocking(move || body(addr)).await;
    stop.send_replace(true);
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server stops")
        .unwrap();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic.into_panic());
    }
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(|line| line.trim_end().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_top_and_get_work_in_standalone_mode() {
    let Some(dir) = kubectl_dir("kubectl_top_and_get_work_in_standalone_mode") else {
        return;
    };
    with_server(true, move |addr| {
        for version in VERSIONS {
            let binary = dir.join(format!("kubectl.{version}"));
            let home = tempfile::tempdir().unwrap();
            let run = |args: &[&str]| kubectl(&binary, home.path(), addr, args);

            let (code, out, err) = run(&["top", "node"]);
            assert_eq!(code, 0, "{version} top node: {err}");
            let out = lines(&out);
            assert!(out[1].starts_with("n1") && out[1].contains("488m"), "{version}: {out:?}");
            assert!(out[1].contains("715Mi"), "{version}: {out:?}");
            assert!(out[2].starts_with("n2") && out[2].contains("250m"), "{version}: {out:?}");
            assert!(out[3].starts_with("n3") && out[3].contains("<unknown>"), "{version}: {out:?}");

            let (code, out, err) = run(&["top", "pod", "-A"]);
            assert_eq!(code, 0, "{version} top pod -A: {err}");
            let out = lines(&out);
            assert_eq!(out.len(), 4, "{version}: {out:?}");
            assert!(out[2].starts_with("default") && out[2].contains("web") && out[2].contains("3m"));

            let (code, out, err) = run(&["top", "pod", "web", "--containers"]);
            assert_eq!(code, 0, "{version} top pod web: {err}");
            assert_eq!(lines(&out).len(), 3, "{version}: {out}");

            let (code, _, err) = run(&["top", "node", "nope"]);
            assert_eq!(
                (code, err.trim()),
                (1, r#"Error from server (NotFound): node "nope" not found"#),
                "{version}"
            );
            let (code, _, err) = run(&["top", "pod", "pending"]);
            assert_eq!(
                (code, err.trim()),
                (
                    1,
                    r#"Error from server (NotFound): podmetrics.metrics.k8s.io "default/pending" not found"#
                ),
                "{version}"
            );
            let (code, _, err) = run(&["top", "pod", "--field-selector", "spec.nodeName=n1"]);
            assert_eq!(
                (code, err.trim()),
                (
                    1,
                    r#"Error from server (BadRequest): "spec.nodeName" is not a known field selector: only "metadata.name", "metadata.namespace""#
                ),
                "{version}"
            );

            let (code, out, err) = run(&["get", "nodemetrics"]);
            assert_eq!(code, 0, "{version} get nodemetrics: {err}");
            let out = lines(&out);
            assert_eq!(
                out[0].split_whitespace().collect::<Vec<_>>(),
                ["NAME", "CPU", "MEMORY", "WINDOW"],
                "{version}"
            );
            assert_eq!(
                out[1].split_whitespace().collect::<Vec<_>>(),
                ["n1", "487558164n", "732212Ki", "17.913s"],
                "{version}"
            );

            let (code, out, err) = run(&["get", "podmetrics", "-A"]);
            assert_eq!(code, 0, "{version} get podmetrics -A: {err}");
            let out = lines(&out);
            assert_eq!(
                out[0].split_whitespace().collect::<Vec<_>>(),
                ["NAMESPACE", "NAME", "CPU", "MEMORY", "WINDOW"],
                "{version}"
            );
            assert_eq!(
                out[2].split_whitespace().collect::<Vec<_>>(),
                ["default", "web", "3m", "8Mi", "15s"],
                "{version}"
            );

            let (code, out, err) = run(&["get", "podmetrics", "-n", "empty"]);
            assert_eq!(code, 0, "{version} get podmetrics -n empty: {err}");
            assert_eq!((out.as_str(), err.trim()), ("", "No resources found in empty namespace."));

            let (code, out, err) = run(&["get", "nodes"]);
            assert_eq!(code, 0, "{version} get nodes: {err}");
            let out = lines(&out);
            assert_eq!(
                out[0].split_whitespace().collect::<Vec<_>>(),
                ["NAME", "ROLES", "AGE"],
                "{version}"
            );
            assert!(out[1].starts_with("n1") && out[1].contains("control-plane"));

            let (code, out, err) = run(&["get", "pods", "-o", "name"]);
            assert_eq!(code, 0, "{version} get pods -o name: {err}");
            assert_eq!(lines(&out), ["pod/db", "pod/pending", "pod/web"], "{version}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_reads_the_metrics_api_without_the_core_api() {
    let Some(dir) = kubectl_dir("kubectl_reads_the_metrics_api_without_the_core_api") else {
        return;
    };
    with_server(false, move |addr| {
        for version in VERSIONS {
            let binary = dir.join(format!("kubectl.{version}"));
            let home = tempfile::tempdir().unwrap();
            let run = |args: &[&str]| kubectl(&binary, home.path(), addr, args);
            let (code, out, err) = run(&["get", "nodemetrics", "n2"]);
            assert_eq!(code, 0, "{version} get nodemetrics n2: {err}");
            assert_eq!(
                lines(&out)[1].split_whitespace().collect::<Vec<_>>(),
                ["n2", "250m", "5Mi", "17.913s"],
                "{version}"
            );
            let (code, out, err) = run(&["top", "pod", "-n", "kube-system"]);
            assert_eq!(code, 0, "{version} top pod: {err}");
            assert!(lines(&out)[1].starts_with("coredns"), "{version}: {out}");
            let (code, out, err) = run(&["get", "--raw", "/apis/metrics.k8s.io/v1beta1"]);
            assert_eq!(code, 0, "{version} get --raw: {err}");
            assert!(out.contains(r#""kind":"APIResourceList""#));
        }
    })
    .await;
}
