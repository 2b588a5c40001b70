//! What a source knows about one workload or node: figures with the file,
//! key, metric or field each came from, before anything is derived.
//!
//! Every source (this machine's cgroup files, an agent's or a kubelet's
//! endpoints) fills these types; [`crate::derive`] turns them into an
//! [`Explanation`](crate::Explanation) without knowing which source it was.
//! [`memory_from_cgroup`] and [`cpu_from_cgroup`] are the mapping for
//! figures read from cgroup files; [`crate::kubelet`] is the one for
//! `/metrics/cadvisor` and `/stats/summary`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use workingset_cgroup::{CpuField, CpuStats, Meminfo, MemoryField, MemoryStats, Source};

/// One number and where it came from. `bytes` is `None` when the source
/// does not have it; `source` then says why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Figure {
    /// The value in bytes.
    pub bytes: Option<u64>,
    /// The file and key, metric or field it came from (or why it is missing).
    pub source: String,
}

impl Figure {
    /// A value read from `source`.
    pub fn known(bytes: u64, source: impl Into<String>) -> Figure {
        Figure {
            bytes: Some(bytes),
            source: source.into(),
        }
    }

    /// A figure this source does not have, and why.
    pub fn missing(why: impl Into<String>) -> Figure {
        Figure {
            bytes: None,
            source: why.into(),
        }
    }

    /// A value that may be absent, from `source`; absent reads "not
    /// available: <source>".
    pub fn maybe(bytes: Option<u64>, source: impl Into<String>) -> Figure {
        let source = source.into();
        match bytes {
            Some(bytes) => Figure::known(bytes, source),
            None => Figure::missing(format!("not available: {source}")),
        }
    }
}

/// A memory limit: a number of bytes, none (unlimited), or unknown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitFigure {
    /// The limit in bytes; `None` when unlimited or unknown.
    pub bytes: Option<u64>,
    /// True when the cgroup has no memory limit of its own.
    pub unlimited: bool,
    /// Where the limit was read (or why it is unknown).
    pub source: String,
}

/// Which cgroup hierarchy the figures were read from, as far as the source tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hierarchy {
    /// cgroup v1 (legacy or hybrid).
    V1,
    /// cgroup v2 (unified).
    V2,
    /// The source does not say (an agent's or kubelet's endpoints).
    Unknown,
}

/// Memory figures of one cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryInputs {
    /// Everything charged to the cgroup.
    pub usage: Figure,
    /// Anonymous memory.
    pub rss: Figure,
    /// Page cache, children included.
    pub cache: Figure,
    /// The cgroup's own `cache` key of cgroup v1 `memory.stat` (without
    /// children): what Docker 17.06–19.03 subtracted.
    pub own_cache: Figure,
    /// Page cache mapped into processes.
    pub mapped_file: Figure,
    /// Swapped-out memory.
    pub swap: Figure,
    /// Shared memory and tmpfs pages (counted as cache, but not reclaimable
    /// without swap).
    pub shmem: Figure,
    /// Recently used page cache.
    pub active_file: Figure,
    /// Page cache not used lately: the first thing the kernel reclaims.
    pub inactive_file: Figure,
    /// Kernel memory charged to the cgroup.
    pub kernel: Figure,
    /// The memory limit.
    pub limit: LimitFigure,
    /// The working set as the source itself reported it, when it reports
    /// one (a cross-check of our own derivation).
    pub reported_working_set: Option<Figure>,
}

/// How the CPU rate is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateInput {
    /// Two readings of a cumulative counter, `window` apart.
    Counters {
        /// The first reading, nanoseconds.
        before_ns: u64,
        /// The second reading, nanoseconds.
        after_ns: u64,
        /// Time between the readings.
        window: Duration,
        /// Which counter.
        source: String,
    },
    /// A rate the source computed itself.
    Reported {
        /// Nanocores (1e9 = one core busy).
        nanocores: u64,
        /// Which field.
        source: String,
    },
    /// No rate, and why.
    Unavailable {
        /// Why not.
        why: String,
    },
}

/// Over which time CFS throttling counters are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThrottleScope {
    /// The difference between two readings, over the sampling window.
    Window,
    /// The counters as they stand: since the cgroup was created.
    SinceStart,
}

/// CFS bandwidth throttling counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleInput {
    /// Window or lifetime.
    pub scope: ThrottleScope,
    /// Enforcement periods.
    pub periods: u64,
    /// Periods in which the cgroup was throttled.
    pub throttled_periods: u64,
    /// Time throttled, nanoseconds.
    pub throttled_ns: u64,
    /// Where the counters came from.
    pub source: String,
}

/// The CFS bandwidth limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuotaInput {
    /// `quota_us` of CPU time per `period_us`.
    Limited {
        /// Microseconds per period.
        quota_us: u64,
        /// The period, microseconds.
        period_us: u64,
        /// Where it was read.
        source: String,
    },
    /// No quota.
    Unlimited {
        /// Where that was read.
        source: String,
    },
    /// The source does not tell.
    Unknown {
        /// Why not.
        why: String,
    },
}

/// CPU figures of one cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuInputs {
    /// The rate.
    pub rate: RateInput,
    /// Throttling counters, when the cgroup has a CPU quota and the source
    /// reports them.
    pub throttling: Option<ThrottleInput>,
    /// The quota.
    pub quota: QuotaInput,
}

/// One cgroup: a container, a sandbox, a pod cgroup or the node's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupInputs {
    /// The name shown (container name, `pause`, the pod's or node's name).
    pub name: String,
    /// The cgroup path, when known.
    pub cgroup: Option<String>,
    /// Memory figures.
    pub memory: MemoryInputs,
    /// CPU figures.
    pub cpu: CpuInputs,
}

/// What the host's `/proc/meminfo` says: what `top` and `free` print,
/// inside a container as well.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostMemory {
    /// `MemTotal`.
    pub mem_total: Figure,
    /// `MemFree`.
    pub mem_free: Figure,
    /// `MemAvailable`.
    pub mem_available: Figure,
    /// `Buffers`.
    pub buffers: Figure,
    /// `Cached`.
    pub cached: Figure,
    /// `SwapTotal`.
    pub swap_total: Figure,
    /// `SwapFree`.
    pub swap_free: Figure,
}

impl HostMemory {
    /// The figures of a parsed `/proc/meminfo` at `path`.
    pub fn from_meminfo(meminfo: &Meminfo, path: &str) -> HostMemory {
        let field = |value: Option<u64>, key: &str| Figure::maybe(value, format!("{path} {key}"));
        HostMemory {
            mem_total: Figure::known(meminfo.mem_total, format!("{path} MemTotal")),
            mem_free: field(meminfo.mem_free, "MemFree"),
            mem_available: field(meminfo.mem_available, "MemAvailable"),
            buffers: field(meminfo.buffers, "Buffers"),
            cached: field(meminfo.cached, "Cached"),
            swap_total: field(meminfo.swap_total, "SwapTotal"),
            swap_free: field(meminfo.swap_free, "SwapFree"),
        }
    }

    /// Only the machine's memory size is known (`machine_memory_bytes`).
    pub fn total_only(mem_total: Figure, why: &str) -> HostMemory {
        let missing = || Figure::missing(why.to_owned());
        HostMemory {
            mem_total,
            mem_free: missing(),
            mem_available: missing(),
            buffers: missing(),
            cached: missing(),
            swap_total: missing(),
            swap_free: missing(),
        }
    }
}

/// Where the figures came from, for the report's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceInputs {
    /// How they were obtained.
    pub mode: Mode,
    /// The agent's URL, or the API server's node proxy path; `None` locally.
    pub endpoint: Option<String>,
    /// The hierarchy, when known.
    pub hierarchy: Hierarchy,
    /// Time between the two samples (local), when there were two.
    pub window: Option<Duration>,
}

/// How the figures were obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// This machine's cgroup and `/proc` files, read directly.
    Local,
    /// A node agent's or kubelet's `/metrics/cadvisor` and `/stats/summary`.
    Agent,
    /// The same endpoints through an API server's node proxy.
    ApiServer,
}

/// Everything about one pod (or pod-like workload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodInputs {
    /// Where the figures came from.
    pub source: SourceInputs,
    /// The node's name.
    pub node: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// UID, for Kubernetes pods.
    pub uid: Option<String>,
    /// A Kubernetes pod (with a pod cgroup and maybe a sandbox) rather than
    /// a one-cgroup workload (a Docker container, a systemd unit).
    pub kubernetes: bool,
    /// The app containers (pause excluded), in name order.
    pub containers: Vec<CgroupInputs>,
    /// When `-c` picked one container: its name.
    pub only_container: Option<String>,
    /// Sandbox (pause) containers, when the source tells them apart.
    pub sandboxes: Vec<CgroupInputs>,
    /// Why no sandbox is listed, when none is.
    pub sandbox_note: Option<String>,
    /// The pod cgroup, when the source has it.
    pub pod_cgroup: Option<CgroupInputs>,
    /// Why the pod cgroup is missing, when it is.
    pub pod_cgroup_note: Option<String>,
    /// The host's memory figures.
    pub host: HostMemory,
}

/// A cgroup that holds part of the node: a top-level cgroup, or a system
/// container the kubelet names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartInputs {
    /// What it is (`kubepods`, `system.slice`, `kubelet`).
    pub name: String,
    /// The cgroup path.
    pub cgroup: String,
    /// Its working set.
    pub working_set: Option<u64>,
    /// Its usage.
    pub usage: Option<u64>,
    /// Its page cache.
    pub cache: Option<u64>,
    /// Where these came from.
    pub source: String,
}

/// Everything about the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInputs {
    /// Where the figures came from.
    pub source: SourceInputs,
    /// The node's name.
    pub name: String,
    /// The root cgroup: the node's own figures.
    pub root: CgroupInputs,
    /// Online CPUs, when known.
    pub cpus: Option<u32>,
    /// The host's memory figures.
    pub host: HostMemory,
    /// The cgroups directly below the root (they do not overlap).
    pub top_level: Vec<PartInputs>,
    /// The cgroup of all pods (`kubepods`), when there is one.
    pub pods_cgroup: Option<PartInputs>,
    /// The kubelet's and the runtime's cgroups, when identified (may lie
    /// inside a top-level cgroup).
    pub system: Vec<PartInputs>,
    /// Working sets of every container of every workload (what `kubectl top
    /// pod -A --sum` adds up).
    pub containers_working_set: u64,
    /// How many containers that is.
    pub container_count: usize,
    /// In how many workloads.
    pub pod_count: usize,
}

fn source_text(source: Source) -> String {
    source.to_string()
}

/// The memory figures of a cgroup read from its files. `own_cache`,
/// `shmem` and `kernel` come from extra `memory.stat` keys the reader does
/// not keep (`extra`); `hierarchy` tells which names they have.
pub fn memory_from_cgroup(stats: &MemoryStats, extra: &ExtraMemoryStat) -> MemoryInputs {
    let figure =
        |field: MemoryField, value: u64| Figure::known(value, source_text(stats.source(field)));
    let v2 = !matches!(stats.origin, workingset_cgroup::MemoryOrigin::V1 { .. });
    let inactive_file = match stats.inactive_file {
        Some(inactive) => figure(MemoryField::InactiveFile, inactive),
        None => Figure::missing(format!(
            "not available: {} is absent",
            stats.source(MemoryField::InactiveFile)
        )),
    };
    let swap = match stats.source(MemoryField::Swap) {
        Source::Unavailable(why) => Figure::missing(format!("not available: {why}")),
        source => Figure::known(stats.swap, source_text(source)),
    };
    let kernel = match (stats.kernel, v2) {
        (Some(kernel), _) => figure(MemoryField::Kernel, kernel),
        (None, true) => Figure::maybe(extra.kernel, "memory.stat kernel"),
        (None, false) => Figure::missing(
            "not available: this kernel has no memory.kmem.usage_in_bytes (kernel memory is still inside usage)",
        ),
    };
    let own_cache = if v2 {
        Figure::missing("cgroup v2 has no `cache` key (Docker 17.06–19.03 never ran on cgroup v2)")
    } else {
        Figure::maybe(extra.own_cache, "memory.stat cache")
    };
    let shmem = if v2 {
        Figure::maybe(extra.shmem, "memory.stat shmem")
    } else {
        Figure::maybe(extra.shmem, "memory.stat total_shmem")
    };
    let limit_source = source_text(stats.source(MemoryField::Limit));
    let limit = match (stats.limit, stats.source(MemoryField::Limit)) {
        (Some(bytes), _) => LimitFigure {
            bytes: Some(bytes),
            unlimited: false,
            source: limit_source,
        },
        (None, Source::Unavailable(why)) => LimitFigure {
            bytes: None,
            unlimited: true,
            source: why.to_owned(),
        },
        (None, _) => LimitFigure {
            bytes: None,
            unlimited: true,
            source: if v2 {
                format!("{limit_source} (`max`: no limit)")
            } else {
                format!("{limit_source} (above 2^62: no limit)")
            },
        },
    };
    MemoryInputs {
        usage: figure(MemoryField::Usage, stats.usage),
        rss: figure(MemoryField::Rss, stats.rss),
        cache: figure(MemoryField::Cache, stats.cache),
        own_cache,
        mapped_file: figure(MemoryField::MappedFile, stats.mapped_file),
        swap,
        shmem,
        active_file: figure(MemoryField::ActiveFile, stats.active_file),
        inactive_file,
        kernel,
        limit,
        reported_working_set: None,
    }
}

/// `memory.stat` keys that [`MemoryStats`] does not keep, read by the
/// caller from the same cgroup (see [`ExtraMemoryStat::parse`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExtraMemoryStat {
    /// v1 `cache` (the cgroup's own).
    pub own_cache: Option<u64>,
    /// v1 `total_shmem` (or `shmem` without hierarchy), v2 `shmem`.
    pub shmem: Option<u64>,
    /// v2 `kernel` (Linux ≥ 5.18).
    pub kernel: Option<u64>,
}

impl ExtraMemoryStat {
    /// Picks the extra keys out of a `memory.stat` text. Unparsable values
    /// are left out (the reader already validated the keys it needs).
    pub fn parse(memory_stat: &str, v2: bool) -> ExtraMemoryStat {
        let mut extra = ExtraMemoryStat::default();
        let (mut shmem, mut total_shmem) = (None, None);
        for line in workingset_cgroup::parse::keyed_lines(memory_stat) {
            let Ok(value) = line.number() else { continue };
            match line.key {
                "cache" if !v2 => extra.own_cache = Some(value),
                "shmem" => shmem = Some(value),
                "total_shmem" if !v2 => total_shmem = Some(value),
                "kernel" if v2 => extra.kernel = Some(value),
                _ => {}
            }
        }
        extra.shmem = if v2 { shmem } else { total_shmem.or(shmem) };
        extra
    }
}

/// The CPU figures of a cgroup from two readings of its files.
pub fn cpu_from_cgroup(before: Option<&CpuStats>, after: &CpuStats, window: Duration) -> CpuInputs {
    let rate = match before {
        Some(before) => RateInput::Counters {
            before_ns: before.usage_ns,
            after_ns: after.usage_ns,
            window,
            source: source_text(after.source(CpuField::Usage)),
        },
        None => RateInput::Unavailable {
            why: "the cgroup appeared between the two samples".to_owned(),
        },
    };
    let has_quota = after.quota.is_some_and(|q| q.quota_us.is_some());
    // Like cAdvisor: throttling counters mean something only under a quota
    // (or when periods were counted under an earlier one).
    let throttling = after
        .throttling
        .filter(|t| has_quota || t.periods > 0)
        .map(|later| {
            let earlier = before.and_then(|b| b.throttling);
            let (scope, periods, throttled_periods, throttled_ns) = match earlier {
                Some(earlier) if later.periods >= earlier.periods => (
                    ThrottleScope::Window,
                    later.periods - earlier.periods,
                    later
                        .throttled_periods
                        .saturating_sub(earlier.throttled_periods),
                    later.throttled_ns.saturating_sub(earlier.throttled_ns),
                ),
                _ => (
                    ThrottleScope::SinceStart,
                    later.periods,
                    later.throttled_periods,
                    later.throttled_ns,
                ),
            };
            ThrottleInput {
                scope,
                periods,
                throttled_periods,
                throttled_ns,
                source: format!(
                    "{}, {}, {}",
                    after.source(CpuField::Periods),
                    after.source(CpuField::ThrottledPeriods),
                    after.source(CpuField::ThrottledTime)
                ),
            }
        });
    let quota_source = match after.origin {
        workingset_cgroup::CpuOrigin::V1 => "cpu.cfs_quota_us / cpu.cfs_period_us".to_owned(),
        workingset_cgroup::CpuOrigin::V2 => "cpu.max".to_owned(),
    };
    let quota = match after.quota {
        Some(workingset_cgroup::CpuMax {
            quota_us: Some(quota_us),
            period_us,
        }) => QuotaInput::Limited {
            quota_us,
            period_us,
            source: quota_source,
        },
        Some(_) => QuotaInput::Unlimited {
            source: quota_source,
        },
        None => QuotaInput::Unknown {
            why: format!("no {quota_source} for this cgroup"),
        },
    };
    CpuInputs {
        rate,
        throttling,
        quota,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_keys_follow_the_hierarchy() {
        let v1 = "cache 100\nshmem 5\ntotal_cache 300\ntotal_shmem 7\n";
        assert_eq!(
            ExtraMemoryStat::parse(v1, false),
            ExtraMemoryStat {
                own_cache: Some(100),
                shmem: Some(7),
                kernel: None
            }
        );
        let v2 = "anon 1\nfile 2\nkernel 3\nshmem 4\n";
        assert_eq!(
            ExtraMemoryStat::parse(v2, true),
            ExtraMemoryStat {
                own_cache: None,
                shmem: Some(4),
                kernel: Some(3)
            }
        );
    }
}
