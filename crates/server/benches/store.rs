//! One scrape tick at the scale metrics-server documents as sizing guidance:
//! 1,000 nodes × 30 pods × 2 containers. `record` is every node's batch
//! entering the store (rates need no work until read); `build` is the
//! snapshot the API serves (every rate computed, every object joined and
//! formatted).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use jiff::Timestamp;
use workingset_model::metrics::{Node, ObjectMeta, Pod};
use workingset_server::inventory::NodeInventory;
use workingset_server::point::{MetricsPoint, NodeBatch, PodPoints, PodRef};
use workingset_server::store::Store;
use workingset_server::view;

const NODES: usize = 1_000;
const PODS_PER_NODE: usize = 30;
const CONTAINERS: [&str; 2] = ["app", "istio-proxy"];
const RESOLUTION: Duration = Duration::from_secs(15);
const BASE_SECONDS: i64 = 1_735_616_288;

fn node_name(node: usize) -> String {
    format!("ip-10-0-{}-{}.ec2.internal", node / 250, node % 250)
}

fn pod_ref(node: usize, pod: usize) -> PodRef {
    PodRef {
        namespace: format!("team-{}", (node * PODS_PER_NODE + pod) % 40),
        name: format!("service-{pod}-7d9f8c6b5-n{node:04}"),
    }
}

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(BASE_SECONDS + seconds).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// Every node's batch for scrape number `round` (15 s apart).
fn round(round: u64) -> Vec<NodeBatch> {
    let seconds = round as i64 * 15;
    let point = |rate: u64, memory: u64| MetricsPoint {
        timestamp: at(seconds),
        cumulative_cpu_ns: 1_000_000_000_000 + rate * (round + 1) * 15,
        memory_working_set: memory,
        start_time: Some(at(-86_400)),
    };
    (0..NODES)
        .map(|node| NodeBatch {
            node: node_name(node),
            node_point: Some(point(2_500_000_000, 12 << 30)),
            pods: (0..PODS_PER_NODE)
                .map(|pod| {
                    let containers: PodPoints = CONTAINERS
                        .iter()
                        .enumerate()
                        .map(|(i, name)| {
                            let rate = 1_000_000 * (pod as u64 + 1) + i as u64;
                            (
                                (*name).to_owned(),
                                point(rate, (64 << 20) + (pod as u64) * 4096),
                            )
                        })
                        .collect();
                    (pod_ref(node, pod), containers)
                })
                .collect(),
        })
        .collect()
}

fn inventories() -> BTreeMap<String, NodeInventory> {
    (0..NODES)
        .map(|node| {
            let name = node_name(node);
            let labels: BTreeMap<String, String> = [
                ("kubernetes.io/hostname".to_owned(), name.clone()),
                ("kubernetes.io/os".to_owned(), "linux".to_owned()),
            ]
            .into();
            let inventory = NodeInventory {
                node: Arc::new(Node {
                    metadata: ObjectMeta {
                        name: name.clone(),
                        labels: labels.into(),
                        ..ObjectMeta::default()
                    },
                    ..Node::default()
                }),
                pods: (0..PODS_PER_NODE)
                    .map(|pod| {
                        let pod_ref = pod_ref(node, pod);
                        Arc::new(Pod {
                            metadata: ObjectMeta {
                                name: pod_ref.name,
                                namespace: pod_ref.namespace,
                                labels: [("app".to_owned(), format!("service-{pod}"))].into(),
                                ..ObjectMeta::default()
                            },
                            ..Pod::default()
                        })
                    })
                    .collect(),
            };
            (name, inventory)
        })
        .collect()
}

fn store_with_rates() -> Store {
    let mut store = Store::new(RESOLUTION);
    for number in 0..2 {
        for batch in round(number) {
            store.record(batch, at(number as i64 * 15));
        }
    }
    store
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("store_1000x30x2");
    group.throughput(Throughput::Elements(
        (NODES * PODS_PER_NODE * CONTAINERS.len()) as u64,
    ));
    group.sample_size(20);

    let mut store = store_with_rates();
    let mut next_round = 2;
    group.bench_function("record_all_nodes", |b| {
        b.iter_batched(
            || {
                next_round += 1;
                (round(next_round), at(next_round as i64 * 15))
            },
            |(batches, received_at)| {
                for batch in batches {
                    store.record(batch, received_at);
                }
            },
            BatchSize::PerIteration,
        );
    });

    let store = store_with_rates();
    let inventories = inventories();
    let now = at(16);
    let published = view::build(&store, &inventories, &[], now);
    assert_eq!(published.node_metrics.len(), NODES);
    assert_eq!(published.pod_metrics.len(), NODES * PODS_PER_NODE);
    group.bench_function("build", |b| {
        b.iter(|| view::build(black_box(&store), black_box(&inventories), &[], now));
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
