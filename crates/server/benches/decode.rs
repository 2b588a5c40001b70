//! Decoding one node's `/metrics/resource` body, the scrape side's per-node
//! CPU cost every tick: a full node (110 pods × 3 containers) in the shape
//! a 1.29+ kubelet writes, every family included (the decoder must skip
//! the pod, swap and error families too).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use workingset_expfmt::{Exposition, MetricType};
use workingset_server::decode::{ScrapedSamples, decode_resource};

const PODS: usize = 110;
const CONTAINERS: usize = 3;
const TS: i64 = 1_735_616_288_521;

fn body() -> String {
    let mut e = Exposition::new();
    for pod in 0..PODS {
        let namespace = format!("namespace-{}", pod % 12);
        let name = format!("deployment-{pod}-7d9f8c6b5-x{pod:04}");
        for container in 0..CONTAINERS {
            let i = pod * CONTAINERS + container;
            let labels = [
                ("container", format!("container-{container}")),
                ("namespace", namespace.clone()),
                ("pod", name.clone()),
            ];
            // As the kubelet computes them: nanoseconds / 1e9, bytes as f64.
            let cpu = (21_911_392_123 + i as u64 * 7_654_321) as f64 / 1e9;
            let start = (1_735_614_003_400_000_000 + i as u64 * 1_000_000_000) as f64 / 1e9;
            e.family(
                "container_cpu_usage_seconds_total",
                "[STABLE] Cumulative cpu time consumed by the container in core-seconds",
                MetricType::Counter,
            )
            .sample(labels.clone(), cpu, Some(TS));
            e.family(
                "container_memory_working_set_bytes",
                "[STABLE] Current working set of the container in bytes",
                MetricType::Gauge,
            )
            .sample(labels.clone(), 19_107_840.0 + (i * 4096) as f64, Some(TS));
            e.family(
                "container_start_time_seconds",
                "[STABLE] Start time of the container since unix epoch in seconds",
                MetricType::Gauge,
            )
            .sample(labels.clone(), start, None);
            e.family(
                "container_swap_usage_bytes",
                "[ALPHA] Current amount of the container swap usage in bytes. Reported only on non-windows systems",
                MetricType::Gauge,
            )
            .sample(labels, 0.0, Some(TS));
        }
        let labels = [("namespace", namespace.clone()), ("pod", name.clone())];
        e.family(
            "pod_cpu_usage_seconds_total",
            "[STABLE] Cumulative cpu time consumed by the pod in core-seconds",
            MetricType::Counter,
        )
        .sample(labels.clone(), 70.123456789 + pod as f64, Some(TS));
        e.family(
            "pod_memory_working_set_bytes",
            "[STABLE] Current working set of the pod in bytes",
            MetricType::Gauge,
        )
        .sample(labels.clone(), 6.5e7 + pod as f64, Some(TS));
        e.family(
            "pod_swap_usage_bytes",
            "[ALPHA] Current amount of the pod swap usage in bytes. Reported only on non-windows systems",
            MetricType::Gauge,
        )
        .sample(labels, 0.0, Some(TS));
    }
    e.family(
        "node_cpu_usage_seconds_total",
        "[STABLE] Cumulative cpu time consumed by the node in core-seconds",
        MetricType::Counter,
    )
    .sample([("", ""); 0], 531.060042, Some(TS));
    e.family(
        "node_memory_working_set_bytes",
        "[STABLE] Current working set of the node in bytes",
        MetricType::Gauge,
    )
    .sample([("", ""); 0], 1.582764032e9, Some(TS));
    e.family(
        "resource_scrape_error",
        "[STABLE] 1 if there was an error while getting container metrics, 0 otherwise",
        MetricType::Gauge,
    )
    .sample([("", ""); 0], 0.0, None);
    e.to_string()
}

fn decode(c: &mut Criterion) {
    let body = body();
    let received = jiff::Timestamp::from_millisecond(TS + 500).unwrap_or_default();
    // The body must decode to every container, or the figure means nothing.
    let check = decode_resource(body.as_bytes(), "node-1", received);
    let containers: usize = check
        .as_ref()
        .map(|batch| batch.pods.values().map(|p| p.len()).sum())
        .unwrap_or(0);
    assert_eq!(containers, PODS * CONTAINERS, "{check:?}");

    let mut group = c.benchmark_group("decode_resource");
    group.throughput(Throughput::Bytes(body.len() as u64));
    // What the server does with each scraped body: names borrowed from it.
    group.bench_function("110_pods_x_3_containers", |b| {
        b.iter(|| ScrapedSamples::decode(black_box(body.as_bytes().to_vec()), "node-1", received))
    });
    // The owned form tests and other callers use: a map per pod.
    group.bench_function("owned_batch", |b| {
        b.iter(|| decode_resource(black_box(body.as_bytes()), "node-1", received))
    });
    // The parser alone over the same body: what decoding adds on top.
    group.bench_function("parse_only", |b| {
        b.iter(|| {
            workingset_expfmt::parse(black_box(&body))
                .filter(Result::is_ok)
                .count()
        })
    });
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
