//! The Metrics API at metrics-server's published scale: 5,000 nodes × 30
//! pods (150,000 pods), served through the whole router.
//!
//! - `pods_list_all`: `GET …/v1beta1/pods`, every pod (`kubectl top pod -A`,
//!   the HPA's cluster-wide view), JSON: within a second, the snapshot's
//!   cached body.
//! - `pods_list_all_written`: every pod through a selector that matches all,
//!   so the body is written each time.
//! - `pods_list_selecting_none`: the same list with a label selector that
//!   matches nothing: the cost of walking and matching without encoding,
//!   so the difference to the above is what encoding costs.
//! - `pods_list_namespace`: one namespace of 30 pods (`kubectl top pod`).
//! - `pod_get`: one pod by name (binary search).
//! - `pods_table_all`: the full list as a Table (`kubectl get podmetrics -A`).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::body::Body;
use axum::http::Request;
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::BodyExt as _;
use jiff::Timestamp;
use tower::ServiceExt as _;
use workingset_model::metrics::{Node, ObjectMeta, Pod, Time};
use workingset_server::api::{ApiState, Health, router};
use workingset_server::view::{ContainerUsage, NodeMetricsItem, PodMetricsItem, Published};

const NODES: usize = 5_000;
const PODS_PER_NODE: usize = 30;

struct Quiet;

impl Health for Quiet {
    fn live(&self, _: Timestamp) -> Result<(), String> {
        Ok(())
    }
    fn ready(&self, _: &Published) -> Result<(), String> {
        Ok(())
    }
    fn render_metrics(&self, _: &Published, _: Timestamp) -> String {
        String::new()
    }
    fn record_request(&self, _: &'static str, _: u16) {}
}

fn labels(pairs: &[(&str, String)]) -> std::collections::BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// Namespaces `ns-0000` … (one per node's worth of pods), each pod with an
/// app container and, every third pod, a sidecar. As the tick builds it,
/// a pod's metrics share the pod's object.
fn published() -> Published {
    let now: Timestamp = "2025-06-01T12:00:00Z".parse().unwrap();
    let time = Time(now);
    let window = Duration::from_secs(15);
    let app: Arc<str> = Arc::from("app");
    let sidecar: Arc<str> = Arc::from("sidecar");
    let mut node_metrics = Vec::with_capacity(NODES);
    let mut nodes = Vec::with_capacity(NODES);
    let mut pod_metrics = Vec::with_capacity(NODES * PODS_PER_NODE);
    let mut pods = Vec::with_capacity(NODES * PODS_PER_NODE);
    for n in 0..NODES {
        let name = format!("node-{n:05}");
        let node_labels = labels(&[
            ("kubernetes.io/hostname", name.clone()),
            ("kubernetes.io/os", "linux".to_owned()),
        ]);
        let node = Arc::new(Node {
            metadata: ObjectMeta {
                name,
                labels: node_labels.into(),
                creation_timestamp: Some(time),
                ..ObjectMeta::default()
            },
            status: Default::default(),
        });
        node_metrics.push(NodeMetricsItem {
            node: Arc::clone(&node),
            timestamp: now,
            window,
            nanocores: 1_234_567_890 + n as u64,
            bytes: 8_318_172 * 1024,
        });
        nodes.push(node);
        let namespace = format!("ns-{n:05}");
        for p in 0..PODS_PER_NODE {
            let name = format!("app-{p:02}-7c9d8f6b5-x{n:05}");
            let pod_labels = labels(&[
                ("app", format!("app-{p:02}")),
                ("pod-template-hash", "7c9d8f6b5".to_owned()),
            ]);
            let mut containers = vec![ContainerUsage {
                name: Arc::clone(&app),
                nanocores: 12_345_678,
                bytes: 201 << 20,
            }];
            if p % 3 == 0 {
                containers.push(ContainerUsage {
                    name: Arc::clone(&sidecar),
                    nanocores: 1_234_567,
                    bytes: 13 << 20,
                });
            }
            let pod = Arc::new(Pod {
                metadata: ObjectMeta {
                    name,
                    namespace: namespace.clone(),
                    labels: pod_labels.into(),
                    creation_timestamp: Some(time),
                    ..ObjectMeta::default()
                },
                ..Pod::default()
            });
            pod_metrics.push(PodMetricsItem {
                pod: Arc::clone(&pod),
                timestamp: now,
                window,
                containers: containers.into(),
            });
            pods.push(pod);
        }
    }
    Published {
        built_at: now,
        node_metrics,
        pod_metrics,
        nodes,
        pods,
        containers_without_rate: 0,
        responses: Default::default(),
    }
}

fn bench_api(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    let state = ApiState {
        published: Arc::new(ArcSwap::from_pointee(published())),
        health: Arc::new(Quiet),
        core_api: true,
        proxy: None,
    };
    let app = router(state);
    let fetch = |path: &str, accept: &str| {
        let request = Request::get(path)
            .header("accept", accept)
            .body(Body::empty())
            .unwrap();
        let app = app.clone();
        runtime.block_on(async move {
            let response = app.oneshot(request).await.unwrap();
            assert!(response.status().is_success());
            response.into_body().collect().await.unwrap().to_bytes()
        })
    };
    let json = "application/json";
    let table = "application/json;as=Table;v=v1;g=meta.k8s.io";

    let all = fetch("/apis/metrics.k8s.io/v1beta1/pods", json);
    eprintln!("the full pod list is {} bytes", all.len());

    let mut group = c.benchmark_group("api");
    group.sample_size(10);
    // Within one second the whole list is the snapshot's cached body.
    group.bench_function("pods_list_all", |b| {
        b.iter(|| black_box(fetch("/apis/metrics.k8s.io/v1beta1/pods", json)));
    });
    // Every pod through a selector that matches all: written each time.
    group.bench_function("pods_list_all_written", |b| {
        b.iter(|| {
            black_box(fetch(
                "/apis/metrics.k8s.io/v1beta1/pods?labelSelector=pod-template-hash%3D7c9d8f6b5",
                json,
            ))
        });
    });
    group.bench_function("pods_list_selecting_none", |b| {
        b.iter(|| {
            black_box(fetch(
                "/apis/metrics.k8s.io/v1beta1/pods?labelSelector=app%3Dnone",
                json,
            ))
        });
    });
    group.bench_function("pods_table_all", |b| {
        b.iter(|| black_box(fetch("/apis/metrics.k8s.io/v1beta1/pods", table)));
    });
    group.finish();

    let mut group = c.benchmark_group("api_small");
    group.bench_function("pods_list_namespace", |b| {
        b.iter(|| {
            black_box(fetch(
                "/apis/metrics.k8s.io/v1beta1/namespaces/ns-02500/pods",
                json,
            ))
        });
    });
    group.bench_function("pod_get", |b| {
        b.iter(|| {
            black_box(fetch(
                "/apis/metrics.k8s.io/v1beta1/namespaces/ns-02500/pods/app-17-7c9d8f6b5-x02500",
                json,
            ))
        });
    });
    group.finish();
}

criterion_group!(benches, bench_api);
criterion_main!(benches);
