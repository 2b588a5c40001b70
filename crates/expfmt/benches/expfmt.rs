//! The two hot paths: the agent rendering a node's `/metrics/resource`
//! (10k samples, buffer reused as a server would), and the scraper parsing
//! a 10k-sample body (zero-copy: no allocation per sample unless a label
//! value carries an escape).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use workingset_expfmt::{Exposition, MetricType, parse};

const SAMPLES: usize = 10_000;

/// 2,500 containers x 4 families = 10k samples, kubelet-shaped.
fn exposition() -> Exposition {
    let mut e = Exposition::new();
    for i in 0..SAMPLES / 4 {
        let labels = [
            ("container", format!("container-{i}")),
            ("namespace", format!("namespace-{}", i % 50)),
            ("pod", format!("pod-{}-7d9f8c6b5-x{:04}", i / 3, i)),
        ];
        let ts = Some(1_735_616_288_521 + i as i64);
        // As the kubelet computes them: nanoseconds / 1e9, bytes as f64.
        let cpu = (21_911_392_123 + i as u64 * 7_654_321) as f64 / 1e9;
        let start = (1_735_614_003_400_000_000 + i as u64 * 1_000_000_000) as f64 / 1e9;
        e.family(
            "container_cpu_usage_seconds_total",
            "[STABLE] Cumulative cpu time consumed by the container in core-seconds",
            MetricType::Counter,
        )
        .sample(labels.clone(), cpu, ts);
        e.family(
            "container_memory_working_set_bytes",
            "[STABLE] Current working set of the container in bytes",
            MetricType::Gauge,
        )
        .sample(labels.clone(), 19_107_840.0 + (i * 4096) as f64, ts);
        e.family(
            "container_swap_usage_bytes",
            "[ALPHA] Current amount of the container swap usage in bytes. Reported only on non-windows systems",
            MetricType::Gauge,
        )
        .sample(labels.clone(), 0.0, ts);
        e.family(
            "container_start_time_seconds",
            "[STABLE] Start time of the container since unix epoch in seconds",
            MetricType::Gauge,
        )
        .sample(labels, start, None);
    }
    e
}

fn render(c: &mut Criterion) {
    let e = exposition();
    let mut out = String::new();
    e.render(&mut out);
    let mut g = c.benchmark_group("render");
    g.throughput(Throughput::Elements(SAMPLES as u64));
    g.bench_function("10k_samples", |b| {
        b.iter(|| {
            out.clear();
            black_box(&e).render(&mut out);
            black_box(out.len())
        })
    });
    g.finish();
}

fn parse_body(c: &mut Criterion) {
    let mut body = String::new();
    exposition().render(&mut body);
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Elements(SAMPLES as u64));
    g.bench_function("10k_samples", |b| {
        b.iter(|| {
            let mut sum = 0.0;
            let mut label_bytes = 0;
            for s in parse(black_box(&body)) {
                let Ok(s) = s else { return 0.0 };
                sum += s.value;
                for (_, v) in s.labels.iter() {
                    label_bytes += v.len();
                }
            }
            black_box(label_bytes);
            sum
        })
    });
    g.bench_function("10k_samples_values_only", |b| {
        b.iter(|| {
            parse(black_box(&body))
                .filter_map(Result::ok)
                .map(|s| s.value)
                .sum::<f64>()
        })
    });
    g.finish();
}

criterion_group!(benches, render, parse_body);
criterion_main!(benches);
