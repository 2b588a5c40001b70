//! `GET /metrics/resource`: what metrics-server scrapes, byte for byte as a
//! 1.29+ kubelet writes it (see `metrics-api.md` §1).
//!
//! The kubelet builds this endpoint from its CPU-and-memory summary, so the
//! figures are those of [`super::summary`]: containers (pause excluded),
//! pod cgroups, the root cgroup. Counters are cumulative CPU seconds and
//! gauges are bytes; every sample carries the time of the newer snapshot in
//! milliseconds except `container_start_time_seconds` (no timestamp since
//! 1.29) and `resource_scrape_error`. Only running containers appear: a
//! snapshot holds nothing else.
//!
//! Families a kubelet leaves out are left out here too: the deprecated
//! `scrape_error` (hidden since 1.30) and `container_swap_limit_bytes`
//! (written only for containers with a swap limit, which the samples do not
//! carry).

use std::borrow::Cow;

use workingset_expfmt::{Exposition, MetricType, Sample};
use workingset_model::metrics::Time;

use super::{Observation, PodLevel, float, millis, seconds, workloads};

const CONTAINER_CPU: &str = "container_cpu_usage_seconds_total";
const CONTAINER_MEMORY: &str = "container_memory_working_set_bytes";
const CONTAINER_START: &str = "container_start_time_seconds";
const CONTAINER_SWAP: &str = "container_swap_usage_bytes";
const NODE_CPU: &str = "node_cpu_usage_seconds_total";
const NODE_MEMORY: &str = "node_memory_working_set_bytes";
const NODE_SWAP: &str = "node_swap_usage_bytes";
const POD_CPU: &str = "pod_cpu_usage_seconds_total";
const POD_MEMORY: &str = "pod_memory_working_set_bytes";
const POD_SWAP: &str = "pod_swap_usage_bytes";
const SCRAPE_ERROR: &str = "resource_scrape_error";

const HELP_CONTAINER_CPU: &str =
    "[STABLE] Cumulative cpu time consumed by the container in core-seconds";
const HELP_CONTAINER_MEMORY: &str = "[STABLE] Current working set of the container in bytes";
const HELP_CONTAINER_START: &str =
    "[STABLE] Start time of the container since unix epoch in seconds";
const HELP_CONTAINER_SWAP: &str = "[ALPHA] Current amount of the container swap usage in bytes. Reported only on non-windows systems";
const HELP_NODE_CPU: &str = "[STABLE] Cumulative cpu time consumed by the node in core-seconds";
const HELP_NODE_MEMORY: &str = "[STABLE] Current working set of the node in bytes";
const HELP_NODE_SWAP: &str =
    "[ALPHA] Current swap usage of the node in bytes. Reported only on non-windows systems";
const HELP_POD_CPU: &str = "[STABLE] Cumulative cpu time consumed by the pod in core-seconds";
const HELP_POD_MEMORY: &str = "[STABLE] Current working set of the pod in bytes";
const HELP_POD_SWAP: &str =
    "[ALPHA] Current amount of the pod swap usage in bytes. Reported only on non-windows systems";
const HELP_SCRAPE_ERROR: &str =
    "[STABLE] 1 if there was an error while getting container metrics, 0 otherwise";

/// Appends the `/metrics/resource` exposition of `observation` to `out`.
pub fn render(observation: &Observation, out: &mut String) {
    let later = &*observation.later;
    let at = Some(millis(later.time));
    let mut exposition = Exposition::new();

    let node = &later.node;
    exposition
        .family(NODE_CPU, HELP_NODE_CPU, MetricType::Counter)
        .push(sample(seconds(node.cpu.usage_ns), at));
    exposition
        .family(NODE_MEMORY, HELP_NODE_MEMORY, MetricType::Gauge)
        .push(sample(float(node.memory.working_set), at));
    exposition
        .family(NODE_SWAP, HELP_NODE_SWAP, MetricType::Gauge)
        .push(sample(float(node.memory.swap), at));

    for pod in workloads(later) {
        let (namespace, name) = (pod.key.namespace.as_str(), pod.key.name.as_str());
        for container in &pod.containers {
            let labels = || container_labels(&container.name, namespace, name);
            // Cgroup counters and per-process counters alike (see
            // `workingset_sampling::sampler::ProcessCpu`), as local `top` rates them.
            exposition
                .family(CONTAINER_CPU, HELP_CONTAINER_CPU, MetricType::Counter)
                .push(labelled(labels(), seconds(container.cpu.usage_ns()), at));
            exposition
                .family(CONTAINER_MEMORY, HELP_CONTAINER_MEMORY, MetricType::Gauge)
                .push(labelled(labels(), float(container.memory.working_set), at));
            // The kubelet skips start times at or before the epoch (Go's
            // zero time included); it writes them without a timestamp.
            if let Some(started) = container.started.filter(|t| t.unix_seconds() > 0) {
                exposition
                    .family(CONTAINER_START, HELP_CONTAINER_START, MetricType::Gauge)
                    .push(labelled(labels(), unix_seconds_fraction(started), None));
            }
            exposition
                .family(CONTAINER_SWAP, HELP_CONTAINER_SWAP, MetricType::Gauge)
                .push(labelled(labels(), float(container.memory.swap), at));
        }
        let Some(level) = PodLevel::of(pod) else {
            continue;
        };
        let labels = || pod_labels(namespace, name);
        exposition
            .family(POD_CPU, HELP_POD_CPU, MetricType::Counter)
            .push(labelled(labels(), seconds(level.cpu.usage_ns()), at));
        exposition
            .family(POD_MEMORY, HELP_POD_MEMORY, MetricType::Gauge)
            .push(labelled(labels(), float(level.memory.working_set), at));
        exposition
            .family(POD_SWAP, HELP_POD_SWAP, MetricType::Gauge)
            .push(labelled(labels(), float(level.memory.swap), at));
    }

    exposition
        .family(SCRAPE_ERROR, HELP_SCRAPE_ERROR, MetricType::Gauge)
        .push(Sample::new(0.0));
    exposition.render(out);
}

/// Appends what a kubelet serves when it could not collect anything: the
/// error gauge alone, set to 1. For the server to answer with before the
/// first snapshot exists.
pub fn render_unavailable(out: &mut String) {
    let mut exposition = Exposition::new();
    exposition
        .family(SCRAPE_ERROR, HELP_SCRAPE_ERROR, MetricType::Gauge)
        .push(Sample::new(1.0));
    exposition.render(out);
}

fn sample(value: f64, timestamp_ms: Option<i64>) -> Sample {
    Sample {
        labels: Vec::new(),
        value,
        timestamp_ms,
    }
}

type Labels = Vec<(Cow<'static, str>, String)>;

fn labelled(labels: Labels, value: f64, timestamp_ms: Option<i64>) -> Sample {
    Sample {
        labels,
        value,
        timestamp_ms,
    }
}

/// Already in label-name order, which spares the renderer a sort.
fn container_labels(container: &str, namespace: &str, pod: &str) -> Labels {
    vec![
        (Cow::Borrowed("container"), container.to_owned()),
        (Cow::Borrowed("namespace"), namespace.to_owned()),
        (Cow::Borrowed("pod"), pod.to_owned()),
    ]
}

fn pod_labels(namespace: &str, pod: &str) -> Labels {
    vec![
        (Cow::Borrowed("namespace"), namespace.to_owned()),
        (Cow::Borrowed("pod"), pod.to_owned()),
    ]
}

/// Go's `float64(t.UnixNano()) / float64(time.Second)`.
fn unix_seconds_fraction(time: Time) -> f64 {
    // UnixNano is an int64 in Go; every time a snapshot carries fits.
    let nanos = i64::try_from(time.0.as_nanosecond()).unwrap_or(i64::MAX);
    nanos as f64 / 1e9
}
