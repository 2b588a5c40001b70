//! The decoder on hand-written bodies (one rule each), a 1.29 kubelet's
//! body, and what our own agent renders from the cgroup fixture machine.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;

use super::*;

fn received() -> Timestamp {
    "2025-01-02T03:04:20Z".parse().unwrap()
}

fn ms(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap()
}

fn decode(text: &str) -> NodeBatch {
    decode_resource(text.as_bytes(), "node-1", received()).unwrap()
}

fn pod(namespace: &str, name: &str) -> PodRef {
    PodRef {
        namespace: namespace.into(),
        name: name.into(),
    }
}

fn point(batch: &NodeBatch, namespace: &str, name: &str, container: &str) -> MetricsPoint {
    batch.pods[&pod(namespace, name)][container]
}

/// The example of `metrics-api.md` §1: the shape of a 1.29+ kubelet.
const KUBELET_1_29: &str = "\
# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the container in core-seconds
# TYPE container_cpu_usage_seconds_total counter
container_cpu_usage_seconds_total{container=\"coredns\",namespace=\"kube-system\",pod=\"coredns-668d6bf9bc-d7nx2\"} 21.911392 1735616288521
# HELP container_memory_working_set_bytes [STABLE] Current working set of the container in bytes
# TYPE container_memory_working_set_bytes gauge
container_memory_working_set_bytes{container=\"coredns\",namespace=\"kube-system\",pod=\"coredns-668d6bf9bc-d7nx2\"} 1.910784e+07 1735616288521
# HELP node_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the node in core-seconds
# TYPE node_cpu_usage_seconds_total counter
node_cpu_usage_seconds_total 531.060042 1738767712185
# HELP node_memory_working_set_bytes [STABLE] Current working set of the node in bytes
# TYPE node_memory_working_set_bytes gauge
node_memory_working_set_bytes 1.582764032e+09 1735616290756
# HELP resource_scrape_error [STABLE] 1 if there was an error while getting container metrics, 0 otherwise
# TYPE resource_scrape_error gauge
resource_scrape_error 0
";

#[test]
fn decodes_a_1_29_kubelet_body() {
    let batch = decode(KUBELET_1_29);
    assert_eq!(batch.node, "node-1");
    assert_eq!(
        batch.node_point,
        Some(MetricsPoint {
            // The CPU sample's time; Go's uint64(531.060042 * 1e9) truncates.
            timestamp: ms(1_738_767_712_185),
            cumulative_cpu_ns: 531_060_041_999,
            memory_working_set: 1_582_764_032,
            start_time: None,
        })
    );
    assert_eq!(batch.pods.len(), 1);
    assert_eq!(
        point(&batch, "kube-system", "coredns-668d6bf9bc-d7nx2", "coredns"),
        MetricsPoint {
            timestamp: ms(1_735_616_288_521),
            cumulative_cpu_ns: 21_911_392_000,
            memory_working_set: 19_107_840,
            start_time: None,
        }
    );
}

#[test]
fn samples_without_a_timestamp_take_the_receive_time_and_start_times_are_read() {
    let batch = decode(
        "container_cpu_usage_seconds_total{container=\"a\",namespace=\"ns\",pod=\"p\"} 2\n\
         container_memory_working_set_bytes{container=\"a\",namespace=\"ns\",pod=\"p\"} 1024\n\
         container_start_time_seconds{container=\"a\",namespace=\"ns\",pod=\"p\"} 1.7357868005e+09\n\
         node_cpu_usage_seconds_total 10\n\
         node_memory_working_set_bytes 2048 1735787055250\n",
    );
    let a = point(&batch, "ns", "p", "a");
    assert_eq!(a.timestamp, received());
    assert_eq!(
        (a.cumulative_cpu_ns, a.memory_working_set),
        (2_000_000_000, 1024)
    );
    assert_eq!(
        a.start_time,
        Some("2025-01-02T03:00:00.5Z".parse().unwrap())
    );
    // The node's time is its CPU sample's, which had none.
    assert_eq!(batch.node_point.unwrap().timestamp, received());
}

#[test]
fn container_samples_without_their_labels_are_skipped() {
    let batch = decode(
        "container_cpu_usage_seconds_total{container=\"a\",namespace=\"ns\",pod=\"p\"} 1 1000\n\
         container_cpu_usage_seconds_total{namespace=\"ns\",pod=\"p\"} 1 1000\n\
         container_cpu_usage_seconds_total{container=\"c\",pod=\"p\"} 1 1000\n\
         container_cpu_usage_seconds_total{container=\"d\",namespace=\"ns\"} 1 1000\n\
         container_cpu_usage_seconds_total{container=\"\",namespace=\"ns\",pod=\"p\"} 1 1000\n\
         container_cpu_usage_seconds_total 1 1000\n\
         container_memory_working_set_bytes{container=\"a\",namespace=\"ns\",pod=\"p\"} 5 1000\n\
         container_memory_working_set_bytes{namespace=\"ns\",pod=\"p\"} 5 1000\n\
         container_memory_working_set_bytes{container=\"c\",pod=\"p\"} 5 1000\n\
         container_memory_working_set_bytes{container=\"d\",namespace=\"ns\"} 5 1000\n\
         container_memory_working_set_bytes{container=\"\",namespace=\"ns\",pod=\"p\"} 5 1000\n",
    );
    assert_eq!(batch.pods.len(), 1);
    assert_eq!(
        batch.pods[&pod("ns", "p")].keys().collect::<Vec<_>>(),
        ["a"]
    );
    // Extra labels do not matter, nor their order.
    let batch = decode(
        "container_cpu_usage_seconds_total{pod=\"p\",extra=\"x\",namespace=\"ns\",container=\"a\"} 1 1000\n\
         container_memory_working_set_bytes{namespace=\"ns\",container=\"a\",pod=\"p\",id=\"/x\"} 5 1000\n",
    );
    assert_eq!(point(&batch, "ns", "p", "a").memory_working_set, 5);
}

#[test]
fn a_body_that_is_not_utf8_names_its_line_in_both_forms() {
    let body = b"# HELP x\n# TYPE x gauge\nx{a=\"\xff\"} 1\n".to_vec();
    let borrowed = decode_samples(&body, "n", received()).unwrap_err();
    let owned = ScrapedSamples::decode(body, "n", received()).unwrap_err();
    assert_eq!(borrowed.to_string(), owned.to_string());
    assert!(
        matches!(owned, DecodeError::NotUtf8 { line: 3, .. }),
        "{owned:?}"
    );
}

#[test]
fn label_values_are_unescaped() {
    let batch = decode(
        "container_cpu_usage_seconds_total{container=\"c\\\"1\",namespace=\"n\\\\s\",pod=\"p\\nq\"} 1 1000\n\
         container_memory_working_set_bytes{container=\"c\\\"1\",namespace=\"n\\\\s\",pod=\"p\\nq\"} 5 1000\n",
    );
    let (reference, containers) = batch.pods.iter().next().unwrap();
    assert_eq!(reference, &pod("n\\s", "p\nq"));
    assert_eq!(containers.keys().collect::<Vec<_>>(), ["c\"1"]);
}

#[test]
fn nan_infinite_and_negative_values_make_their_sample_unusable() {
    for bad in ["NaN", "+Inf", "-Inf", "-1", "-0.5e3"] {
        let batch = decode(&format!(
            "container_cpu_usage_seconds_total{{container=\"bad\",namespace=\"ns\",pod=\"p\"}} {bad} 1000\n\
             container_cpu_usage_seconds_total{{container=\"good\",namespace=\"ns\",pod=\"p\"}} 1 1000\n\
             container_memory_working_set_bytes{{container=\"bad\",namespace=\"ns\",pod=\"p\"}} 5 1000\n\
             container_memory_working_set_bytes{{container=\"good\",namespace=\"ns\",pod=\"p\"}} 5 1000\n\
             container_start_time_seconds{{container=\"good\",namespace=\"ns\",pod=\"p\"}} {bad}\n\
             node_cpu_usage_seconds_total 1 1000\n\
             node_memory_working_set_bytes {bad} 1000\n"
        ));
        assert_eq!(
            batch.pods[&pod("ns", "p")].keys().collect::<Vec<_>>(),
            ["good"],
            "{bad}"
        );
        // An unusable start time leaves the container without one.
        assert_eq!(point(&batch, "ns", "p", "good").start_time, None, "{bad}");
        assert_eq!(batch.node_point, None, "{bad}");
    }
}

#[test]
fn huge_values_saturate() {
    let batch = decode(
        "container_cpu_usage_seconds_total{container=\"a\",namespace=\"ns\",pod=\"p\"} 1e300 1000\n\
         container_memory_working_set_bytes{container=\"a\",namespace=\"ns\",pod=\"p\"} 1e300 1000\n\
         container_start_time_seconds{container=\"a\",namespace=\"ns\",pod=\"p\"} 1e300\n\
         node_cpu_usage_seconds_total 1.9e10 1000\n\
         node_memory_working_set_bytes 1.8446744073709552e19 1000\n",
    );
    let a = point(&batch, "ns", "p", "a");
    assert_eq!(
        (a.cumulative_cpu_ns, a.memory_working_set),
        (u64::MAX, u64::MAX)
    );
    // Beyond any representable time: unknown.
    assert_eq!(a.start_time, None);
    let node = batch.node_point.unwrap();
    assert_eq!(node.cumulative_cpu_ns, u64::MAX);
    assert_eq!(node.memory_working_set, u64::MAX);
}

#[test]
fn zeros_are_kept_unlike_metrics_server() {
    let batch = decode(
        "container_cpu_usage_seconds_total{container=\"idle\",namespace=\"ns\",pod=\"p\"} 0 1000\n\
         container_memory_working_set_bytes{container=\"idle\",namespace=\"ns\",pod=\"p\"} 0 1000\n\
         node_cpu_usage_seconds_total 0 1000\n\
         node_memory_working_set_bytes 0 1000\n",
    );
    let idle = point(&batch, "ns", "p", "idle");
    assert_eq!((idle.cumulative_cpu_ns, idle.memory_working_set), (0, 0));
    assert_eq!(idle.timestamp, ms(1000));
    assert!(batch.node_point.is_some());
}

#[test]
fn a_container_needs_cpu_and_memory_a_node_both_node_samples() {
    let batch = decode(
        "container_cpu_usage_seconds_total{container=\"cpu-only\",namespace=\"ns\",pod=\"p\"} 1 1000\n\
         container_memory_working_set_bytes{container=\"memory-only\",namespace=\"ns\",pod=\"p\"} 1 1000\n\
         container_start_time_seconds{container=\"start-only\",namespace=\"ns\",pod=\"q\"} 1\n\
         node_cpu_usage_seconds_total 1 1000\n",
    );
    assert!(batch.pods.is_empty(), "{batch:?}");
    assert_eq!(batch.node_point, None);
}

#[test]
fn the_first_of_duplicate_series_wins() {
    let batch = decode(
        "container_cpu_usage_seconds_total{container=\"a\",namespace=\"ns\",pod=\"p\"} 1 1000\n\
         container_cpu_usage_seconds_total{container=\"a\",namespace=\"ns\",pod=\"p\"} 2 2000\n\
         container_memory_working_set_bytes{container=\"a\",namespace=\"ns\",pod=\"p\"} NaN 1000\n\
         container_memory_working_set_bytes{container=\"a\",namespace=\"ns\",pod=\"p\"} 7 1000\n\
         container_cpu_usage_seconds_total{container=\"b\",namespace=\"ns\",pod=\"p\"} 3 3000\n\
         container_cpu_usage_seconds_total{container=\"b\",namespace=\"ns\",pod=\"p\"} 4 4000\n\
         container_memory_working_set_bytes{container=\"b\",namespace=\"ns\",pod=\"p\"} 8 3000\n\
         node_cpu_usage_seconds_total 5 5000\n\
         node_cpu_usage_seconds_total 6 6000\n\
         node_memory_working_set_bytes 9 5000\n",
    );
    // `a`'s first memory sample was unusable: a later one does not stand in.
    assert_eq!(
        batch.pods[&pod("ns", "p")].keys().collect::<Vec<_>>(),
        ["b"]
    );
    let b = point(&batch, "ns", "p", "b");
    assert_eq!(
        (b.cumulative_cpu_ns, b.timestamp),
        (3_000_000_000, ms(3000))
    );
    let node = batch.node_point.unwrap();
    assert_eq!(
        (node.cumulative_cpu_ns, node.timestamp),
        (5_000_000_000, ms(5000))
    );
}

#[test]
fn other_families_are_ignored() {
    let batch = decode(
        "pod_cpu_usage_seconds_total{namespace=\"ns\",pod=\"p\"} 1 1000\n\
         pod_memory_working_set_bytes{namespace=\"ns\",pod=\"p\"} 1 1000\n\
         container_swap_usage_bytes{container=\"a\",namespace=\"ns\",pod=\"p\"} 1 1000\n\
         node_swap_usage_bytes 1 1000\n\
         container_cpu_usage_seconds_total_extra{container=\"a\",namespace=\"ns\",pod=\"p\"} 1 1000\n\
         resource_scrape_error 0\n",
    );
    assert_eq!(
        batch,
        NodeBatch {
            node: "node-1".into(),
            node_point: None,
            pods: BTreeMap::new(),
        }
    );
}

#[test]
fn an_empty_body_is_an_empty_batch() {
    for empty in ["", "\n\n", "# HELP x y\n# TYPE x gauge\n"] {
        let batch = decode(empty);
        assert_eq!(batch.node_point, None);
        assert!(batch.pods.is_empty());
    }
}

#[test]
fn garbage_is_an_error_naming_the_line() {
    let error = decode_resource(
        b"node_cpu_usage_seconds_total 1 1000\n<html>\n",
        "node-1",
        received(),
    )
    .unwrap_err();
    assert_eq!(error.outcome(), "parse_error");
    assert_eq!(error.line(), 2);
    let message = error.to_string();
    assert!(
        message.starts_with(
            "the /metrics/resource body of node node-1 is not Prometheus text format: line 2: "
        ),
        "{message}"
    );
    for garbage in [
        "node_cpu_usage_seconds_total one\n",
        "{container=\"a\"} 1\n",
        "container_cpu_usage_seconds_total{container=\"a} 1\n",
        "node_cpu_usage_seconds_total 1 -5\n",
        "node_cpu_usage_seconds_total 1 1000\r\n",
    ] {
        let error = decode_resource(garbage.as_bytes(), "n", received()).unwrap_err();
        assert!(
            matches!(error, DecodeError::Parse { .. }),
            "{garbage:?}: {error:?}"
        );
        assert_eq!(error.line(), 1, "{garbage:?}");
    }
    let error = decode_resource(b"# ok\n# ok\nnode_\xff 1\n", "n", received()).unwrap_err();
    assert_eq!(
        error,
        DecodeError::NotUtf8 {
            node: "n".into(),
            line: 3
        }
    );
    assert!(error.to_string().contains("not valid UTF-8 (line 3)"));
}

/// What our own agent renders decodes back into the snapshot's figures.
#[test]
fn round_trips_the_agents_own_renderer() {
    use workingset_agent::serve::{Observation, resource};
    use workingset_sampling::sampler::Sampler;

    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cgroup/tests/fixtures/v1-hybrid");
    let cgroups =
        workingset_cgroup::Cgroups::open(workingset_cgroup::Config::under(&fixture)).unwrap();
    let snapshot = Sampler::new(&cgroups).sample().unwrap();
    let at = snapshot.time.0;
    let observation = Observation::first("fixture-node", Arc::new(snapshot));
    let mut body = String::new();
    resource::render(&observation, &mut body);

    let batch = decode_resource(body.as_bytes(), "fixture-node", received()).unwrap();
    let snapshot = &observation.later;
    // Exposition timestamps are whole milliseconds.
    let at_ms = ms(at.as_millisecond());
    let seconds_to_ns = |ns: u64| ((ns as f64 / 1e9) * 1e9) as u64;

    let node = batch.node_point.unwrap();
    assert_eq!(node.timestamp, at_ms);
    assert_eq!(
        node.cumulative_cpu_ns,
        seconds_to_ns(snapshot.node.cpu.usage_ns)
    );
    assert!(node.cumulative_cpu_ns.abs_diff(snapshot.node.cpu.usage_ns) <= 1);
    assert_eq!(node.memory_working_set, snapshot.node.memory.working_set);

    let mut expected_containers = 0;
    for workload in &snapshot.pods {
        for container in &workload.containers {
            // Cgroup and per-process counters alike: the agent serves both.
            let usage_ns = container.cpu.usage_ns();
            expected_containers += 1;
            let got = point(
                &batch,
                &workload.key.namespace,
                &workload.key.name,
                &container.name,
            );
            assert_eq!(got.timestamp, at_ms);
            assert_eq!(got.cumulative_cpu_ns, seconds_to_ns(usage_ns));
            assert!(got.cumulative_cpu_ns.abs_diff(usage_ns) <= 1);
            assert_eq!(got.memory_working_set, container.memory.working_set);
            // Start times are written as float seconds: microsecond-ish
            // precision survives.
            match (
                container.started.filter(|t| t.unix_seconds() > 0),
                got.start_time,
            ) {
                (Some(started), Some(decoded)) => {
                    let drift = (started.0.as_nanosecond() - decoded.as_nanosecond()).abs();
                    assert!(drift < 1_000, "{started:?} vs {decoded:?}");
                }
                (None, None) => {}
                other => panic!("start time {other:?}"),
            }
        }
    }
    assert!(expected_containers >= 2, "{body}");
    let decoded: usize = batch.pods.values().map(|p| p.len()).sum();
    assert_eq!(decoded, expected_containers);
}

proptest! {
    #[test]
    fn never_panics(body in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode_resource(&body, "n", received());
    }

    /// The owned form a scrape task hands over says what the borrowed
    /// decode says, escaped names included, and fails alike.
    #[test]
    fn scraped_samples_match_the_borrowed_decode(
        lines in proptest::collection::vec(
            "(container_cpu_usage_seconds_total|container_memory_working_set_bytes|container_start_time_seconds)\\{container=\"[a-c\\\\\"n]{1,3}\",namespace=\"[a-b\\\\n]{1,3}\",pod=\"[a-c\\\\]{1,2}\"\\} [0-9]{1,4} [0-9]{4}",
            0..12,
        ),
    ) {
        let body = lines.join("\n");
        let borrowed = decode_samples(body.as_bytes(), "n", received());
        let owned = ScrapedSamples::decode(body.clone().into_bytes(), "n", received());
        match (borrowed, owned) {
            (Ok(borrowed), Ok(owned)) => {
                prop_assert_eq!(&owned.samples(), &borrowed);
                let pods: Vec<(String, String)> = borrowed
                    .to_batch("n")
                    .pods
                    .keys()
                    .map(|p| (p.namespace.clone(), p.name.clone()))
                    .collect();
                let listed: Vec<(String, String)> =
                    owned.pods().map(|(a, b)| (a.to_owned(), b.to_owned())).collect();
                prop_assert_eq!(owned.pod_count(), pods.len());
                prop_assert_eq!(listed, pods);
            }
            (Err(a), Err(b)) => prop_assert_eq!(a.to_string(), b.to_string()),
            (a, b) => prop_assert!(false, "{a:?} vs {b:?}"),
        }
    }

    #[test]
    fn never_panics_on_near_misses(
        lines in proptest::collection::vec(
            "(container_cpu_usage_seconds_total|container_memory_working_set_bytes|container_start_time_seconds|node_cpu_usage_seconds_total)(\\{(container|pod|namespace)=\"[a-z\\\\\"]{0,3}\"(,(container|pod|namespace)=\"[a-z]{0,3}\"){0,3}\\})? (-?[0-9.e+]{1,8}|NaN|\\+Inf)( [0-9]{1,20})?",
            0..8,
        ),
    ) {
        let body = lines.join("\n");
        let _ = decode_resource(body.as_bytes(), "n", received());
    }
}
