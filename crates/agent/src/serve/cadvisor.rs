//! `GET /metrics/cadvisor`: the cAdvisor families the kubelet re-exports,
//! for the cgroups a snapshot holds.
//!
//! Every cgroup is one label set, the kubelet's: `container` (the
//! Kubernetes container name), `id` (the cgroup path; `/` for the root),
//! `image`, `name` (the runtime's name for the container), `namespace` and
//! `pod`. cAdvisor writes all six on every sample, empty when unknown.
//! Emitted cgroups:
//!
//! | cgroup | `container` | `name` | `namespace`/`pod` |
//! |---|---|---|---|
//! | root (`/`) | – | – | – |
//! | `kubepods`, kubelet, runtime | – | – | – |
//! | Kubernetes pod cgroup | – | – | the pod |
//! | Kubernetes container | container name | container id (containerd's alias) | the pod |
//! | Docker/Podman container | – | container name | – |
//! | systemd unit, other cgroup | – | – | – |
//!
//! The Kubernetes labels stay empty outside Kubernetes, as with cAdvisor:
//! dashboards pick Kubernetes containers with `container!=""`.
//!
//! Values follow cAdvisor's `metrics/prometheus.go`: CPU in seconds
//! (`container_cpu_usage_seconds_total` with `cpu="total"`, written only
//! when non-zero, as the kubelet does without per-CPU metrics), CFS
//! throttling only for a cgroup with a CPU quota, `container_memory_*` from
//! the memory figures, the memory limit 0 when unlimited. Stats carry the
//! snapshot's time in milliseconds; the spec families
//! (`container_spec_memory_limit_bytes`, `container_start_time_seconds`,
//! the latter whole seconds) and the error gauges carry none. The root's
//! limit is the machine's memory and its start time the boot time, as in
//! cAdvisor; a start time that is unknown is left out rather than written
//! as Go's zero time.
//!
//! Not emitted (no data in a snapshot): filesystem, network, disk I/O,
//! process and pressure families, the other spec families,
//! `container_last_seen`, `cadvisor_version_info`, and the intermediate
//! cgroups (`kubepods/burstable`, slices) cAdvisor also tracks.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashSet};

use workingset_cgroup::{CpuStats, MemoryStats, NodeStats};
use workingset_expfmt::{Family, MetricType, Sample};
use workingset_model::metrics::Time;

use super::{Observation, cgroup_cpu, float, millis, seconds, workloads};
use workingset_sampling::sampler::{CgroupSample, WorkloadKind};

/// One cgroup as cAdvisor labels and reports it.
struct Cgroup<'a> {
    container: &'a str,
    id: &'a str,
    image: &'a str,
    name: &'a str,
    namespace: &'a str,
    pod: &'a str,
    memory: &'a MemoryStats,
    /// The memory limit cAdvisor's spec shows (`None` = unlimited).
    limit: Option<u64>,
    cpu: Option<&'a CpuStats>,
    started: Option<Time>,
}

impl<'a> Cgroup<'a> {
    /// A cgroup with nothing but its path to name it.
    fn raw(
        id: &'a str,
        memory: &'a MemoryStats,
        cpu: Option<&'a CpuStats>,
        started: Option<Time>,
    ) -> Self {
        Self {
            container: "",
            id,
            image: "",
            name: "",
            namespace: "",
            pod: "",
            memory,
            limit: memory.limit,
            cpu,
            started,
        }
    }

    fn system(sample: &'a CgroupSample) -> Self {
        Self::raw(
            &sample.cgroup,
            &sample.memory,
            cgroup_cpu(&sample.cpu),
            sample.started,
        )
    }

    /// The six labels, in label-name order.
    fn labels(&self) -> Vec<(Cow<'static, str>, String)> {
        vec![
            (Cow::Borrowed("container"), self.container.to_owned()),
            (Cow::Borrowed("id"), self.id.to_owned()),
            (Cow::Borrowed("image"), self.image.to_owned()),
            (Cow::Borrowed("name"), self.name.to_owned()),
            (Cow::Borrowed("namespace"), self.namespace.to_owned()),
            (Cow::Borrowed("pod"), self.pod.to_owned()),
        ]
    }
}

/// Appends the `/metrics/cadvisor` exposition of `observation` to `out`.
pub fn render(observation: &Observation, out: &mut String) {
    let later = &*observation.later;
    let node = &later.node;
    let at = Some(millis(later.time));

    let mut cgroups = Vec::with_capacity(4 + 3 * later.pods.len());
    cgroups.push(Cgroup {
        // cAdvisor gives the root the machine's memory as its limit.
        limit: Some(node.meminfo.mem_total),
        ..Cgroup::raw("/", &node.memory, Some(&node.cpu), observation.boot_time)
    });
    let system = &later.system;
    for sample in [&system.pods, &system.kubelet, &system.runtime]
        .into_iter()
        .flatten()
    {
        cgroups.push(Cgroup::system(sample));
    }
    for pod in workloads(later) {
        let kubernetes = matches!(pod.kind, WorkloadKind::KubernetesPod(_));
        let (namespace, pod_name) = if kubernetes {
            (pod.key.namespace.as_str(), pod.key.name.as_str())
        } else {
            ("", "")
        };
        if let Some(pod_cgroup) = &pod.pod_cgroup {
            cgroups.push(Cgroup {
                namespace,
                pod: pod_name,
                ..Cgroup::system(pod_cgroup)
            });
        }
        for container in &pod.containers {
            let name = match pod.kind {
                // containerd's first alias is the container id.
                WorkloadKind::KubernetesPod(_) => container.id.as_deref().unwrap_or(""),
                // Docker's and Podman's first alias is the container's name.
                WorkloadKind::Container(_) => container.name.as_str(),
                WorkloadKind::SystemdUnit | WorkloadKind::Cgroup => "",
            };
            cgroups.push(Cgroup {
                container: if kubernetes { &container.name } else { "" },
                image: container.image.as_deref().unwrap_or(""),
                name,
                namespace,
                pod: pod_name,
                ..Cgroup::raw(
                    &container.cgroup,
                    &container.memory,
                    cgroup_cpu(&container.cpu),
                    container.started,
                )
            });
        }
    }

    // One cgroup is one label set: a path met twice is reported once.
    let mut seen = HashSet::with_capacity(cgroups.len());
    cgroups.retain(|c| seen.insert(c.id));
    let machine = &observation.machine;
    let emit_all = |sink: &mut dyn Sink| {
        for cgroup in &cgroups {
            push_cgroup(sink, cgroup, at);
        }
        push_machine(sink, machine, node, at);
    };

    // One family at a time, in the exposition's (name) order: only one
    // family's samples are held at once, not every sample of every cgroup
    // (at 1,000 cgroups that was most of the agent's memory).
    let mut names = FamilyNames::default();
    emit_all(&mut names);
    for name in names.0 {
        let mut one = OneFamily {
            wanted: name,
            family: None,
        };
        emit_all(&mut one);
        if let Some(family) = one.family {
            family.render(out);
        }
    }
}

/// Where the samples of an exposition go. A sample's labels are built only
/// for a family the sink wants.
trait Sink {
    fn wants(&mut self, name: &'static str) -> bool;
    fn push(&mut self, name: &'static str, help: &'static str, kind: MetricType, sample: Sample);
}

/// Collects the names of the families that have samples, in name order.
#[derive(Default)]
struct FamilyNames(BTreeSet<&'static str>);

impl Sink for FamilyNames {
    fn wants(&mut self, name: &'static str) -> bool {
        self.0.insert(name);
        false
    }
    fn push(&mut self, _: &'static str, _: &'static str, _: MetricType, _: Sample) {}
}

/// Keeps the samples of one family.
struct OneFamily {
    wanted: &'static str,
    family: Option<Family>,
}

impl Sink for OneFamily {
    fn wants(&mut self, name: &'static str) -> bool {
        name == self.wanted
    }
    fn push(&mut self, name: &'static str, help: &'static str, kind: MetricType, sample: Sample) {
        self.family
            .get_or_insert_with(|| Family::new(name, help, kind))
            .push(sample);
    }
}

/// Emits `sample()` into `name` when the sink wants that family.
fn emit(
    sink: &mut dyn Sink,
    name: &'static str,
    help: &'static str,
    kind: MetricType,
    sample: impl FnOnce() -> Sample,
) {
    if sink.wants(name) {
        sink.push(name, help, kind, sample());
    }
}

/// The scrape-error gauge and the machine families.
fn push_machine(
    sink: &mut dyn Sink,
    machine: &super::MachineIdentity,
    node: &NodeStats,
    at: Option<i64>,
) {
    emit(
        sink,
        "container_scrape_error",
        "1 if there was an error while getting container metrics, 0 otherwise",
        MetricType::Gauge,
        || Sample::new(0.0),
    );
    let machine_labels = || {
        vec![
            (Cow::Borrowed("boot_id"), machine.boot_id.clone()),
            (Cow::Borrowed("machine_id"), machine.machine_id.clone()),
            (Cow::Borrowed("system_uuid"), machine.system_uuid.clone()),
        ]
    };
    emit(
        sink,
        "machine_cpu_cores",
        "Number of logical CPU cores.",
        MetricType::Gauge,
        || labelled(machine_labels(), f64::from(node.online_cpus), at),
    );
    emit(
        sink,
        "machine_memory_bytes",
        "Amount of memory installed on the machine.",
        MetricType::Gauge,
        || labelled(machine_labels(), float(node.meminfo.mem_total), at),
    );
    emit(
        sink,
        "machine_scrape_error",
        "1 if there was an error while getting machine metrics, 0 otherwise.",
        MetricType::Gauge,
        || Sample::new(0.0),
    );
}

fn push_cgroup(sink: &mut dyn Sink, cgroup: &Cgroup<'_>, at: Option<i64>) {
    use MetricType::{Counter, Gauge};

    let mut stat = |name: &'static str, help: &'static str, kind: MetricType, value: f64| {
        emit(sink, name, help, kind, || {
            labelled(cgroup.labels(), value, at)
        });
    };

    if let Some(cpu) = cgroup.cpu {
        stat(
            "container_cpu_user_seconds_total",
            "Cumulative user cpu time consumed in seconds.",
            Counter,
            seconds(cpu.user_ns),
        );
        stat(
            "container_cpu_system_seconds_total",
            "Cumulative system cpu time consumed in seconds.",
            Counter,
            seconds(cpu.system_ns),
        );
        // cAdvisor's condition is "the spec has a quota"; the counters
        // themselves exist for any cgroup with the cpu controller.
        let has_quota = cpu.quota.is_some_and(|quota| quota.quota_us.is_some());
        if let Some(throttling) = cpu.throttling.filter(|_| has_quota) {
            stat(
                "container_cpu_cfs_periods_total",
                "Number of elapsed enforcement period intervals.",
                Counter,
                float(throttling.periods),
            );
            stat(
                "container_cpu_cfs_throttled_periods_total",
                "Number of throttled period intervals.",
                Counter,
                float(throttling.throttled_periods),
            );
            stat(
                "container_cpu_cfs_throttled_seconds_total",
                "Total time duration the container has been throttled.",
                Counter,
                seconds(throttling.throttled_ns),
            );
        }
    }

    let memory = cgroup.memory;
    for (name, help, kind, value) in [
        (
            "container_memory_cache",
            "Number of bytes of page cache memory.",
            Gauge,
            memory.cache,
        ),
        (
            "container_memory_rss",
            "Size of RSS in bytes.",
            Gauge,
            memory.rss,
        ),
        (
            "container_memory_mapped_file",
            "Size of memory mapped files in bytes.",
            Gauge,
            memory.mapped_file,
        ),
        (
            "container_memory_swap",
            "Container swap usage in bytes.",
            Gauge,
            memory.swap,
        ),
        (
            "container_memory_failcnt",
            "Number of memory usage hits limits",
            Counter,
            memory.failcnt,
        ),
        (
            "container_memory_usage_bytes",
            "Current memory usage in bytes, including all memory regardless of when it was accessed",
            Gauge,
            memory.usage,
        ),
        (
            "container_memory_working_set_bytes",
            "Current working set in bytes.",
            Gauge,
            memory.working_set,
        ),
        (
            "container_memory_total_active_file_bytes",
            "Current total active file in bytes.",
            Gauge,
            memory.active_file,
        ),
        (
            "container_memory_total_inactive_file_bytes",
            "Current total inactive file in bytes.",
            Gauge,
            memory.inactive_file.unwrap_or(0),
        ),
    ] {
        stat(name, help, kind, float(value));
    }

    // The per-CPU family reduced to one `cpu="total"` sample, written only
    // when the counter is non-zero (cAdvisor's rule without per-CPU stats).
    if let Some(cpu) = cgroup.cpu.filter(|cpu| cpu.usage_ns > 0) {
        emit(
            sink,
            "container_cpu_usage_seconds_total",
            "Cumulative cpu time consumed in seconds.",
            Counter,
            || {
                let mut labels = cgroup.labels();
                labels.insert(1, (Cow::Borrowed("cpu"), "total".to_owned()));
                labelled(labels, seconds(cpu.usage_ns), at)
            },
        );
    }

    // Spec families: no timestamp.
    emit(
        sink,
        "container_spec_memory_limit_bytes",
        "Memory limit for the container.",
        Gauge,
        || labelled(cgroup.labels(), float(cgroup.limit.unwrap_or(0)), None),
    );
    if let Some(started) = cgroup.started {
        // cAdvisor writes whole seconds here (`float64(t.Unix())`).
        let value = started.unix_seconds() as f64;
        emit(
            sink,
            "container_start_time_seconds",
            "Start time of the container since unix epoch in seconds.",
            Gauge,
            || labelled(cgroup.labels(), value, None),
        );
    }
}

fn labelled(
    labels: Vec<(Cow<'static, str>, String)>,
    value: f64,
    timestamp_ms: Option<i64>,
) -> Sample {
    Sample {
        labels,
        value,
        timestamp_ms,
    }
}
