//! What the node agent serves, as pure functions of its last two
//! snapshots: the kubelet's `/stats/summary` ([`summary`]),
//! `/metrics/resource` ([`resource`]), `/metrics/cadvisor`
//! ([`cadvisor`]) and `/pods` ([`pods`]).
//!
//! An [`Observation`] is the agent's whole state as far as these endpoints
//! are concerned: the newer snapshot, the one before it (if any), and the
//! few facts about the machine the sampler does not read. Rendering does no
//! IO and takes no locks, so the HTTP layer can hold an `Observation` in an
//! `ArcSwap` and answer any number of requests from one pass.
//!
//! ## Rules shared by the three endpoints
//!
//! - **Rates** (`usageNanoCores`) exist only for a cgroup present in both
//!   snapshots with the same kind of counter, and only when the counter did
//!   not go down (`workingset_model::rate::nanocores`). A new cgroup, a
//!   restarted container or the very first snapshot has no rate: the field
//!   is omitted, never 0 and never negative. (A kubelet writes 0 when
//!   cAdvisor has no rate yet; omitting it is what lets a reader tell
//!   "idle" from "unknown".)
//! - **Cumulative CPU** comes only from a cgroup's own counter. A workload
//!   whose CPU is summed from its processes (v1 without a `cpuacct`
//!   directory, see `docs/naming.md`) has a rate but no cumulative counter:
//!   that sum drops whenever a process exits, so publishing it as a counter
//!   would make every Prometheus `rate()` over it wrong.
//! - **Pod-level figures** come from the pod cgroup (pause container and
//!   pod overhead included), as the kubelet's do; a workload that is not a
//!   Kubernetes pod has one cgroup, which is both its pod and its only
//!   container.
//! - **Which workloads are pods.** A kubelet lists only Kubernetes pods. We
//!   list every workload the sampler found, named as in `docs/naming.md`:
//!   Kubernetes pods, and also Docker/Podman containers, systemd units and
//!   other active leaf cgroups as pods of their namespace (`docker`,
//!   `system.slice`, …). On a Kubernetes node a metrics-server serves only
//!   pods its API server knows, so the extra entries are ignored there;
//!   on a plain machine they are what makes `top pod -A` useful. The
//!   cAdvisor endpoint is the exception: it keeps cAdvisor's meaning of the
//!   `pod`/`namespace`/`container` labels (the Kubernetes identity, empty
//!   for other cgroups), because dashboards select Kubernetes containers
//!   with `container!=""`.
//! - **Order.** Pods are listed by namespace, then name; a second workload
//!   with the same namespace and name is dropped (a Prometheus family
//!   cannot hold two samples with one label set). Containers within a pod
//!   are listed by name.
//! - **Times.** Every figure carries the wall-clock time of the newer
//!   snapshot's pass (the kubelet uses cAdvisor's per-container sample
//!   time, which our single pass makes one instant).

pub mod cadvisor;
pub mod pods;
pub mod resource;
pub mod summary;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use workingset_cgroup::{CpuStats, MemoryStats};
use workingset_model::metrics::Time;
use workingset_model::rate;

use workingset_sampling::sampler::{self, CpuCounter, PodKey, PodSample, Snapshot, WorkloadKind};

/// The identifiers cAdvisor labels its `machine_*` metrics with. Empty
/// strings when unknown, as cAdvisor writes them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MachineIdentity {
    /// `/etc/machine-id`.
    pub machine_id: String,
    /// The DMI product UUID (`/sys/class/dmi/id/product_uuid`).
    pub system_uuid: String,
    /// `/proc/sys/kernel/random/boot_id`.
    pub boot_id: String,
}

/// The agent's last two snapshots of the machine, and what the endpoints
/// need besides.
#[derive(Debug, Clone)]
pub struct Observation {
    /// The snapshot before `later`; `None` right after start, when nothing
    /// has a rate yet.
    pub earlier: Option<Arc<Snapshot>>,
    /// The newest snapshot: every figure except rates comes from it.
    pub later: Arc<Snapshot>,
    /// The node's name (`nodeName`).
    pub node_name: String,
    /// When the machine booted: the Summary's node `startTime` (the kubelet
    /// reports boot time there) and the root cgroup's start time.
    pub boot_time: Option<Time>,
    /// Labels of the `machine_*` metrics.
    pub machine: MachineIdentity,
}

impl Observation {
    /// The observation after the first pass: figures, no rates.
    pub fn first(node_name: impl Into<String>, snapshot: Arc<Snapshot>) -> Self {
        Self {
            earlier: None,
            later: snapshot,
            node_name: node_name.into(),
            boot_time: None,
            machine: MachineIdentity::default(),
        }
    }

    /// The observation after the next pass: this one's newer snapshot
    /// becomes the earlier one; everything else is kept.
    #[must_use]
    pub fn next(&self, snapshot: Arc<Snapshot>) -> Self {
        Self {
            earlier: Some(Arc::clone(&self.later)),
            later: snapshot,
            node_name: self.node_name.clone(),
            boot_time: self.boot_time,
            machine: self.machine.clone(),
        }
    }

    /// Time between the two snapshots, when there are two.
    pub fn window(&self) -> Option<Duration> {
        self.earlier
            .as_deref()
            .map(|earlier| sampler::window(earlier, &self.later))
    }
}

/// The earlier snapshot's CPU counters by cgroup path, to rate the later
/// snapshot's counters against.
pub(crate) struct Rates<'a> {
    window: Duration,
    node: Option<&'a CpuStats>,
    by_cgroup: HashMap<&'a str, &'a CpuCounter>,
}

impl<'a> Rates<'a> {
    pub(crate) fn new(observation: &'a Observation) -> Self {
        let Some(earlier) = observation.earlier.as_deref() else {
            return Self {
                window: Duration::ZERO,
                node: None,
                by_cgroup: HashMap::new(),
            };
        };
        let mut by_cgroup = HashMap::new();
        let system = &earlier.system;
        for sample in [&system.pods, &system.kubelet, &system.runtime]
            .into_iter()
            .flatten()
        {
            by_cgroup.insert(sample.cgroup.as_str(), &sample.cpu);
        }
        for pod in &earlier.pods {
            if let Some(pod_cgroup) = &pod.pod_cgroup {
                by_cgroup.insert(pod_cgroup.cgroup.as_str(), &pod_cgroup.cpu);
            }
            for container in &pod.containers {
                by_cgroup.insert(container.cgroup.as_str(), &container.cpu);
            }
        }
        Self {
            window: sampler::window(earlier, &observation.later),
            node: Some(&earlier.node.cpu),
            by_cgroup,
        }
    }

    /// The node's rate in nanocores.
    pub(crate) fn node(&self, later: &CpuStats) -> Option<u64> {
        rate::nanocores_over(self.node?.usage_ns, later.usage_ns, self.window)
    }

    /// The rate of `cgroup`, whose counter now reads `later`.
    pub(crate) fn of(&self, cgroup: &str, later: &CpuCounter) -> Option<u64> {
        later.nanocores_since(self.by_cgroup.get(cgroup)?, self.window)
    }
}

/// The cgroup's own cumulative counter, when it has one.
pub(crate) fn cgroup_cpu(counter: &CpuCounter) -> Option<&CpuStats> {
    match counter {
        CpuCounter::Cgroup(stats) => Some(stats),
        CpuCounter::Processes(_) => None,
    }
}

/// A workload's pod-level cgroup: the pod cgroup of a Kubernetes pod, or
/// the one cgroup of any other workload.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PodLevel<'a> {
    pub(crate) cgroup: &'a str,
    pub(crate) memory: &'a MemoryStats,
    pub(crate) cpu: &'a CpuCounter,
}

impl<'a> PodLevel<'a> {
    pub(crate) fn of(pod: &'a PodSample) -> Option<Self> {
        if let Some(pod_cgroup) = &pod.pod_cgroup {
            return Some(Self {
                cgroup: &pod_cgroup.cgroup,
                memory: &pod_cgroup.memory,
                cpu: &pod_cgroup.cpu,
            });
        }
        // A Kubernetes pod whose own cgroup could not be read has no
        // pod-level figures, as with a kubelet; the containers' sum would
        // silently leave out the sandbox and overhead.
        if matches!(pod.kind, WorkloadKind::KubernetesPod(_)) {
            return None;
        }
        match pod.containers.as_slice() {
            [only] if only.cgroup == pod.cgroup => Some(Self {
                cgroup: &only.cgroup,
                memory: &only.memory,
                cpu: &only.cpu,
            }),
            _ => None,
        }
    }
}

/// The workloads of `snapshot` in serving order: by namespace, then name,
/// a later duplicate of a key dropped.
pub(crate) fn workloads(snapshot: &Snapshot) -> Vec<&PodSample> {
    let mut pods: Vec<&PodSample> = snapshot.pods.iter().collect();
    // Stable, so of two workloads with one key the first walked is kept.
    pods.sort_by(|a, b| a.key.cmp(&b.key));
    pods.dedup_by(|b, a| same_key(&a.key, &b.key));
    pods
}

fn same_key(a: &PodKey, b: &PodKey) -> bool {
    a.namespace == b.namespace && a.name == b.name
}

/// Milliseconds since the Unix epoch, for exposition timestamps (Go's
/// `Time.UnixMilli`, which truncates toward zero like jiff).
pub(crate) fn millis(time: Time) -> i64 {
    time.0.as_millisecond()
}

/// Nanoseconds → seconds, as Go's `float64(ns) / float64(time.Second)`:
/// the same two IEEE operations, so the same bits.
pub(crate) fn seconds(ns: u64) -> f64 {
    ns as f64 / 1e9
}

/// Bytes or counts as an exposition value (Go's `float64(v)`).
pub(crate) fn float(v: u64) -> f64 {
    v as f64
}
