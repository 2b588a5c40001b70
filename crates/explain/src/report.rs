//! The explanation itself: what `workingset explain -o json` prints, and
//! what the text rendering reads. `docs/explain.schema.json` describes this
//! shape; field names are snake_case and every figure carries its source.

use serde::{Deserialize, Serialize};

use crate::inputs::{Figure, Hierarchy, HostMemory, LimitFigure, Mode, ThrottleScope};

/// The version string of the JSON shape; bumped on incompatible changes.
pub const API_VERSION: &str = "workingset.explain/v1";

/// What is explained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A pod (or pod-like workload) and its containers.
    Pod,
    /// A node.
    Node,
}

/// A whole explanation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// [`API_VERSION`].
    pub api_version: String,
    /// Pod or node.
    pub kind: Kind,
    /// Where the figures came from.
    pub source: SourceReport,
    /// The node's name.
    pub node: String,
    /// The pod, for a pod explanation.
    pub pod: Option<PodRef>,
    /// The key facts, one plain sentence each.
    pub summary: Vec<String>,
    /// What `kubectl top` shows for this pod or node, and why.
    pub kubectl_top: TopReport,
    /// Every cgroup explained, figure by figure: the node's root; or the
    /// pod cgroup, its containers and its sandboxes.
    pub cgroups: Vec<CgroupReport>,
    /// For a pod: pod cgroup versus the sum of its containers.
    pub pod_overhead: Option<OverheadReport>,
    /// For a node: why it is not the sum of its pods.
    pub node_breakdown: Option<NodeBreakdown>,
    /// What `top` and `free` show inside a container.
    pub inside_a_container: InsideReport,
}

/// Where the figures came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceReport {
    /// How.
    pub mode: Mode,
    /// The agent's URL or the API server's proxy path; `None` locally.
    pub endpoint: Option<String>,
    /// cgroup v1, v2 or unknown.
    pub hierarchy: Hierarchy,
    /// Seconds between the two samples, when there were two.
    pub window_seconds: Option<f64>,
    /// One sentence saying all that.
    pub description: String,
}

/// A pod's identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodRef {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// UID, when known.
    pub uid: Option<String>,
    /// A Kubernetes pod, or a workload that is one cgroup.
    pub kubernetes: bool,
}

/// The `kubectl top` figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopReport {
    /// The CPU cell (`3m`); `None` without a rate.
    pub cpu: Option<String>,
    /// The memory cell (`41Mi`).
    pub memory: Option<String>,
    /// The CPU rate behind the cell, nanocores.
    pub cpu_nanocores: Option<u64>,
    /// The working set behind the cell, bytes.
    pub memory_bytes: Option<u64>,
    /// How the cells are made.
    pub explanation: String,
}

/// Whose cgroup it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The node's root cgroup.
    Node,
    /// The pod cgroup (containers, sandbox and overhead together).
    Pod,
    /// An app container.
    Container,
    /// The pause (sandbox) container.
    Sandbox,
}

/// One cgroup, figure by figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CgroupReport {
    /// Whose it is.
    pub role: Role,
    /// The name shown.
    pub name: String,
    /// The cgroup path, when known.
    pub cgroup: Option<String>,
    /// Memory.
    pub memory: MemoryReport,
    /// CPU.
    pub cpu: CpuReport,
}

/// A figure computed from others, with the formula and the numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Derived {
    /// The result in bytes; `None` when an input is missing.
    pub bytes: Option<u64>,
    /// The formula in words (`usage − inactive_file, clamped at 0`).
    pub formula: String,
    /// The formula with the numbers filled in.
    pub calculation: String,
}

/// Memory of one cgroup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryReport {
    /// Everything charged to the cgroup.
    pub usage: Figure,
    /// Anonymous memory.
    pub rss: Figure,
    /// Page cache.
    pub cache: Figure,
    /// Page cache mapped into processes.
    pub mapped_file: Figure,
    /// Swapped-out memory.
    pub swap: Figure,
    /// Shared memory and tmpfs (part of cache, not reclaimable without swap).
    pub shmem: Figure,
    /// Recently used page cache.
    pub active_file: Figure,
    /// Page cache not used lately.
    pub inactive_file: Figure,
    /// Kernel memory.
    pub kernel: Figure,
    /// usage − inactive_file, clamped at 0.
    pub working_set: Derived,
    /// The working set as the source reported it, when it did.
    pub reported_working_set: Option<Figure>,
    /// What `docker stats` shows.
    pub docker_stats: DockerReport,
    /// The limit.
    pub limit: LimitFigure,
    /// limit − working set: how much more the working set can grow before
    /// the kernel's OOM killer acts. `None` without a limit.
    pub headroom: Derived,
}

/// `docker stats` MEM USAGE, by CLI release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DockerReport {
    /// Docker CLI 20.10 and newer.
    pub since_20_10: Derived,
    /// Docker CLI 17.06 to 19.03.
    pub from_17_06_to_19_03: Derived,
    /// Why the two (and `kubectl top`) differ, for these numbers.
    pub why_they_differ: String,
}

/// CPU of one cgroup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CpuReport {
    /// The rate.
    pub usage: RateReport,
    /// CFS throttling, when the source reports it.
    pub throttling: Option<ThrottleReport>,
    /// The CFS quota.
    pub quota: QuotaReport,
}

/// A CPU rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateReport {
    /// Nanocores (1e9 = one core busy); `None` without a rate.
    pub nanocores: Option<u64>,
    /// The same in cores.
    pub cores: Option<f64>,
    /// As `kubectl top` prints it (millicores, rounded up).
    pub kubectl_top: Option<String>,
    /// The counter or field.
    pub source: String,
    /// How it was computed, with the numbers.
    pub calculation: String,
}

/// CFS throttling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThrottleReport {
    /// Over the window, or since the cgroup started.
    pub scope: ThrottleScope,
    /// Enforcement periods (`nr_periods`).
    pub periods: u64,
    /// Periods in which the cgroup ran out of quota (`nr_throttled`).
    pub throttled_periods: u64,
    /// Time spent throttled, seconds.
    pub throttled_seconds: f64,
    /// throttled_periods ÷ periods; `None` without periods.
    pub throttled_ratio: Option<f64>,
    /// The counters' files or metrics.
    pub source: String,
    /// What the numbers mean here.
    pub meaning: String,
}

/// The CFS quota.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuotaReport {
    /// quota ÷ period, in cores; `None` without a quota.
    pub cores: Option<f64>,
    /// The quota, microseconds per period.
    pub quota_us: Option<u64>,
    /// The period, microseconds.
    pub period_us: Option<u64>,
    /// Where it was read (or why it is unknown).
    pub source: String,
    /// What it means.
    pub meaning: String,
}

/// Pod cgroup versus the sum of its containers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverheadReport {
    /// The pod cgroup's working set (containers, pause and overhead).
    pub pod_working_set: Option<u64>,
    /// Sum of the app containers' working sets: what `kubectl top pod` shows.
    pub containers_working_set: u64,
    /// Sum of the sandboxes' working sets, when they are told apart.
    pub sandboxes_working_set: Option<u64>,
    /// pod − containers: pause plus everything else charged to the pod.
    pub overhead_bytes: Option<i64>,
    /// pod − containers − sandboxes: what is neither.
    pub other_bytes: Option<i64>,
    /// With the numbers.
    pub calculation: String,
    /// In words.
    pub explanation: String,
}

/// A part of the node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartReport {
    /// What it is.
    pub name: String,
    /// Its cgroup.
    pub cgroup: String,
    /// Its working set.
    pub working_set: Option<u64>,
    /// Its usage.
    pub usage: Option<u64>,
    /// Its page cache.
    pub cache: Option<u64>,
    /// What it holds, in words.
    pub meaning: String,
    /// Where the figures came from.
    pub source: String,
}

/// Why the node is not the sum of its pods.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeBreakdown {
    /// The node's working set (`kubectl top node`).
    pub node_working_set: Option<u64>,
    /// Sum of every container's working set (`kubectl top pod -A --sum`).
    pub containers_working_set: u64,
    /// Containers counted.
    pub container_count: usize,
    /// Workloads counted.
    pub pod_count: usize,
    /// node − containers: memory in use that no container row shows.
    pub not_in_containers: Option<i64>,
    /// The cgroups directly below the root; they do not overlap.
    pub parts: Vec<PartReport>,
    /// node − Σ parts: processes in the root cgroup itself, and kernel
    /// memory charged to no cgroup.
    pub outside_parts: Option<i64>,
    /// The kubelet's and the runtime's cgroups (they may lie inside a part).
    pub system_containers: Vec<PartReport>,
    /// Page cache of the node, of the pods, and outside the pods.
    pub page_cache: PageCacheReport,
    /// The node's kernel memory.
    pub kernel: Figure,
    /// In words.
    pub explanation: String,
}

/// Page cache inside and outside the pods.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageCacheReport {
    /// All page cache of the node.
    pub node_cache: Figure,
    /// Page cache charged to the pods' cgroup.
    pub pods_cache: Option<u64>,
    /// node − pods.
    pub outside_pods: Option<i64>,
    /// The node's inactive page cache (not in its working set).
    pub node_inactive_file: Figure,
    /// In words.
    pub explanation: String,
}

/// What `top`/`free` inside a container show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InsideReport {
    /// The host's `/proc/meminfo` figures.
    pub host: HostMemory,
    /// MemTotal − MemAvailable: the "used" of recent `free`.
    pub used: Derived,
    /// In words.
    pub explanation: String,
}
