//! The figures read from one cgroup, and where each one came from.
//!
//! Every stats struct remembers, in a few bytes, which hierarchy and which
//! variant of the files it was read from (`origin`), so that
//! `source(field)` can name the file and key behind any figure without the
//! reader storing strings. The `explain` feature prints those names.

use std::fmt;

use crate::parse::Meminfo;

/// Where a figure came from, relative to the cgroup's directory (or the
/// named `/proc` file). Cheap: only static strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// A single-value file, taken as is (`memory.usage_in_bytes`).
    File(&'static str),
    /// One key of a flat keyed file (`memory.stat` `total_rss`).
    Key {
        /// The file (`memory.stat`).
        file: &'static str,
        /// The key (`total_rss`).
        key: &'static str,
    },
    /// One key converted to the figure's unit: value × `factor`
    /// (`cpuacct.stat` `user` × 10 000 000 ns per tick).
    Scaled {
        /// The file.
        file: &'static str,
        /// The key.
        key: &'static str,
        /// The multiplier.
        factor: u64,
    },
    /// Computed from other figures; the text is the formula.
    Derived(&'static str),
    /// The hierarchy has no such figure; the value is 0 or `None`. The text
    /// says why.
    Unavailable(&'static str),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(file) => f.write_str(file),
            Source::Key { file, key } => write!(f, "{file} {key}"),
            Source::Scaled { file, key, factor } => write!(f, "{file} {key} × {factor}"),
            Source::Derived(formula) => f.write_str(formula),
            Source::Unavailable(why) => write!(f, "not available: {why}"),
        }
    }
}

/// The working set: usage minus inactive file cache, clamped at 0; equal to
/// usage when the inactive-file figure is absent (cAdvisor's rule).
pub fn working_set(usage: u64, inactive_file: Option<u64>) -> u64 {
    match inactive_file {
        Some(inactive) => usage.saturating_sub(inactive),
        None => usage,
    }
}

/// Which files a [`MemoryStats`] was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemoryOrigin {
    /// cgroup v1 memory controller.
    V1 {
        /// `memory.use_hierarchy` was 1 (or absent: always on since Linux
        /// 5.x), so rss/cache/mapped_file/swap use the `total_*` keys.
        hierarchical: bool,
        /// `memory.stat` has the swap key (swap accounting is on).
        swap_accounted: bool,
    },
    /// cgroup v2, a non-root cgroup.
    V2 {
        /// `memory.swap.current` exists.
        swap_accounted: bool,
    },
    /// The cgroup v2 root, which has no `memory.current`: usage is `anon +
    /// file` from its `memory.stat` and swap comes from `/proc/meminfo`.
    V2Root,
}

/// One memory figure, to ask a [`MemoryStats`] where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemoryField {
    /// [`MemoryStats::usage`].
    Usage,
    /// [`MemoryStats::working_set`].
    WorkingSet,
    /// [`MemoryStats::rss`].
    Rss,
    /// [`MemoryStats::cache`].
    Cache,
    /// [`MemoryStats::mapped_file`].
    MappedFile,
    /// [`MemoryStats::swap`].
    Swap,
    /// [`MemoryStats::active_file`].
    ActiveFile,
    /// [`MemoryStats::inactive_file`].
    InactiveFile,
    /// [`MemoryStats::pgfault`].
    Pgfault,
    /// [`MemoryStats::pgmajfault`].
    Pgmajfault,
    /// [`MemoryStats::failcnt`].
    Failcnt,
    /// [`MemoryStats::oom_events`].
    OomEvents,
    /// [`MemoryStats::kernel`].
    Kernel,
    /// [`MemoryStats::max_usage`].
    MaxUsage,
    /// [`MemoryStats::limit`].
    Limit,
}

impl MemoryField {
    /// Every field, in the order `explain` lists them.
    pub const ALL: [MemoryField; 15] = [
        MemoryField::Usage,
        MemoryField::WorkingSet,
        MemoryField::Rss,
        MemoryField::Cache,
        MemoryField::MappedFile,
        MemoryField::Swap,
        MemoryField::ActiveFile,
        MemoryField::InactiveFile,
        MemoryField::Pgfault,
        MemoryField::Pgmajfault,
        MemoryField::Failcnt,
        MemoryField::OomEvents,
        MemoryField::Kernel,
        MemoryField::MaxUsage,
        MemoryField::Limit,
    ];

    /// The field's name as cAdvisor calls it (snake case).
    pub fn name(self) -> &'static str {
        match self {
            MemoryField::Usage => "usage",
            MemoryField::WorkingSet => "working_set",
            MemoryField::Rss => "rss",
            MemoryField::Cache => "cache",
            MemoryField::MappedFile => "mapped_file",
            MemoryField::Swap => "swap",
            MemoryField::ActiveFile => "active_file",
            MemoryField::InactiveFile => "inactive_file",
            MemoryField::Pgfault => "pgfault",
            MemoryField::Pgmajfault => "pgmajfault",
            MemoryField::Failcnt => "failcnt",
            MemoryField::OomEvents => "oom_events",
            MemoryField::Kernel => "kernel",
            MemoryField::MaxUsage => "max_usage",
            MemoryField::Limit => "limit",
        }
    }
}

/// Memory figures of one cgroup, in bytes (faults and events are counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryStats {
    /// Everything charged to the cgroup (page cache and kernel memory included).
    pub usage: u64,
    /// `usage − inactive_file`, clamped at 0 (= usage without that figure):
    /// what the kubelet evicts on and `kubectl top` shows.
    pub working_set: u64,
    /// Anonymous memory (0 when the key is absent, as in cAdvisor).
    pub rss: u64,
    /// Page cache (0 when absent).
    pub cache: u64,
    /// Page cache mapped into processes (0 when absent).
    pub mapped_file: u64,
    /// Swapped-out anonymous memory; 0 without swap accounting.
    pub swap: u64,
    /// Active page cache (0 when absent).
    pub active_file: u64,
    /// Inactive page cache; `None` when the key is absent.
    pub inactive_file: Option<u64>,
    /// Page faults (v1: this cgroup's own, not its children's).
    pub pgfault: u64,
    /// Major page faults (v1: this cgroup's own).
    pub pgmajfault: u64,
    /// Times the limit was hit (v1 `memory.failcnt`); 0 on v2.
    pub failcnt: u64,
    /// v2 `memory.events` `oom`: times the cgroup ran out of memory.
    pub oom_events: Option<u64>,
    /// v1 kernel memory (`memory.kmem.usage_in_bytes`); `None` on v2 (it is
    /// part of `memory.current`) or when the kernel lacks the file.
    pub kernel: Option<u64>,
    /// Peak usage (v1 `memory.max_usage_in_bytes`, v2 `memory.peak` ≥ 5.19).
    pub max_usage: Option<u64>,
    /// The limit; `None` when unlimited (above 2^62, or `max`).
    pub limit: Option<u64>,
    /// Which files these figures came from.
    pub origin: MemoryOrigin,
}

impl MemoryStats {
    /// Names the file and key (or formula) behind `field`.
    pub fn source(&self, field: MemoryField) -> Source {
        use MemoryField as F;
        use Source::{Derived, File, Key, Unavailable};
        const STAT: &str = "memory.stat";
        let key = |key| Key { file: STAT, key };
        match self.origin {
            MemoryOrigin::V1 {
                hierarchical,
                swap_accounted,
            } => {
                let h = |total, local| if hierarchical { key(total) } else { key(local) };
                match field {
                    F::Usage => File("memory.usage_in_bytes"),
                    F::WorkingSet if self.inactive_file.is_some() => Derived(
                        "memory.usage_in_bytes − memory.stat total_inactive_file, clamped at 0",
                    ),
                    F::WorkingSet => {
                        Derived("memory.usage_in_bytes (memory.stat has no total_inactive_file)")
                    }
                    F::Rss => h("total_rss", "rss"),
                    F::Cache => h("total_cache", "cache"),
                    F::MappedFile => h("total_mapped_file", "mapped_file"),
                    F::Swap if swap_accounted => h("total_swap", "swap"),
                    F::Swap => Unavailable("no swap accounting (memory.stat has no swap key)"),
                    F::ActiveFile => key("total_active_file"),
                    F::InactiveFile => key("total_inactive_file"),
                    F::Pgfault => key("pgfault"),
                    F::Pgmajfault => key("pgmajfault"),
                    F::Failcnt => File("memory.failcnt"),
                    F::OomEvents => Unavailable("cgroup v1 has no memory.events"),
                    F::Kernel => File("memory.kmem.usage_in_bytes"),
                    F::MaxUsage => File("memory.max_usage_in_bytes"),
                    F::Limit => File("memory.limit_in_bytes"),
                }
            }
            MemoryOrigin::V2 { swap_accounted } => match field {
                F::Usage => File("memory.current"),
                F::WorkingSet => {
                    Derived("memory.current − memory.stat inactive_file, clamped at 0")
                }
                F::Swap if swap_accounted => File("memory.swap.current"),
                F::Swap => Unavailable("no memory.swap.current (swap accounting is off)"),
                F::OomEvents => Key {
                    file: "memory.events",
                    key: "oom",
                },
                F::MaxUsage => File("memory.peak"),
                F::Limit => File("memory.max"),
                other => v2_common(other),
            },
            MemoryOrigin::V2Root => match field {
                F::Usage => {
                    Derived("memory.stat anon + file (the root cgroup has no memory.current)")
                }
                F::WorkingSet => Derived("(memory.stat anon + file) − inactive_file, clamped at 0"),
                F::Swap => Derived("/proc/meminfo SwapTotal − SwapFree"),
                F::OomEvents | F::MaxUsage => {
                    Unavailable("the cgroup v2 root has no memory.events or memory.peak")
                }
                F::Limit => Unavailable("the cgroup v2 root has no limit"),
                other => v2_common(other),
            },
        }
    }
}

fn v2_common(field: MemoryField) -> Source {
    use MemoryField as F;
    let key = |key| Source::Key {
        file: "memory.stat",
        key,
    };
    match field {
        F::Rss => key("anon"),
        F::Cache => key("file"),
        F::MappedFile => key("file_mapped"),
        F::ActiveFile => key("active_file"),
        F::InactiveFile => key("inactive_file"),
        F::Pgfault => key("pgfault"),
        F::Pgmajfault => key("pgmajfault"),
        F::Failcnt => Source::Unavailable("cgroup v2 has no failcnt (see memory.events oom)"),
        F::Kernel => Source::Unavailable("cgroup v2 counts kernel memory inside memory.current"),
        // The per-origin arms above handle the rest.
        F::Usage | F::WorkingSet | F::Swap | F::OomEvents | F::MaxUsage | F::Limit => {
            Source::Unavailable("not read for this cgroup")
        }
    }
}

/// CFS bandwidth throttling counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttling {
    /// Enforcement periods that have elapsed (`nr_periods`).
    pub periods: u64,
    /// Periods in which the cgroup was throttled (`nr_throttled`).
    pub throttled_periods: u64,
    /// Total time throttled, nanoseconds.
    pub throttled_ns: u64,
}

/// Which files a [`CpuStats`] was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CpuOrigin {
    /// cgroup v1: `cpuacct.*` for usage, the `cpu` controller for
    /// throttling and quota.
    V1,
    /// cgroup v2 `cpu.stat` and `cpu.max`.
    V2,
}

/// One CPU figure, to ask a [`CpuStats`] where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CpuField {
    /// [`CpuStats::usage_ns`].
    Usage,
    /// [`CpuStats::user_ns`].
    User,
    /// [`CpuStats::system_ns`].
    System,
    /// [`Throttling::periods`].
    Periods,
    /// [`Throttling::throttled_periods`].
    ThrottledPeriods,
    /// [`Throttling::throttled_ns`].
    ThrottledTime,
    /// [`CpuMax::quota_us`](crate::CpuMax::quota_us).
    Quota,
    /// [`CpuMax::period_us`](crate::CpuMax::period_us).
    Period,
}

/// Cumulative CPU figures of one cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuStats {
    /// CPU time consumed, nanoseconds (the counter `kubectl top` rates).
    pub usage_ns: u64,
    /// User time, nanoseconds (v1: USER_HZ ticks, so 10 ms resolution).
    pub user_ns: u64,
    /// System time, nanoseconds.
    pub system_ns: u64,
    /// Throttling counters; `None` without the cpu controller's bandwidth
    /// statistics (the root cgroup on v2, an unmounted v1 `cpu` controller).
    pub throttling: Option<Throttling>,
    /// The CFS bandwidth limit (`quota_us: None` = no quota); `None` when
    /// the files are absent (the v2 root, an unmounted v1 `cpu` controller).
    pub quota: Option<crate::parse::CpuMax>,
    /// Which files these figures came from.
    pub origin: CpuOrigin,
}

/// Nanoseconds per USER_HZ tick: the kernel exports `cpuacct.stat` in
/// USER_HZ, which is 100 on every Linux ABI.
pub const NS_PER_USER_HZ_TICK: u64 = 10_000_000;

impl CpuStats {
    /// Names the file and key behind `field`.
    pub fn source(&self, field: CpuField) -> Source {
        use CpuField as F;
        use Source::{File, Key, Scaled};
        match self.origin {
            CpuOrigin::V1 => match field {
                F::Usage => File("cpuacct.usage"),
                F::User => Scaled {
                    file: "cpuacct.stat",
                    key: "user",
                    factor: NS_PER_USER_HZ_TICK,
                },
                F::System => Scaled {
                    file: "cpuacct.stat",
                    key: "system",
                    factor: NS_PER_USER_HZ_TICK,
                },
                F::Periods => Key {
                    file: "cpu.stat",
                    key: "nr_periods",
                },
                F::ThrottledPeriods => Key {
                    file: "cpu.stat",
                    key: "nr_throttled",
                },
                F::ThrottledTime => Key {
                    file: "cpu.stat",
                    key: "throttled_time",
                },
                F::Quota => File("cpu.cfs_quota_us"),
                F::Period => File("cpu.cfs_period_us"),
            },
            CpuOrigin::V2 => {
                let usec = |key| Scaled {
                    file: "cpu.stat",
                    key,
                    factor: 1000,
                };
                match field {
                    F::Usage => usec("usage_usec"),
                    F::User => usec("user_usec"),
                    F::System => usec("system_usec"),
                    F::Periods => Key {
                        file: "cpu.stat",
                        key: "nr_periods",
                    },
                    F::ThrottledPeriods => Key {
                        file: "cpu.stat",
                        key: "nr_throttled",
                    },
                    F::ThrottledTime => usec("throttled_usec"),
                    F::Quota | F::Period => File("cpu.max"),
                }
            }
        }
    }
}

/// Process-number figures (`pids` controller).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PidsStats {
    /// Tasks (threads) in the cgroup and its descendants (`pids.current`).
    pub current: u64,
    /// The limit (`pids.max`); `None` when `max` or absent.
    pub limit: Option<u64>,
}

/// The node: the configured cgroup root, `/proc/meminfo` and the online CPUs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStats {
    /// Memory of the cgroup root. Its working set is the node's.
    pub memory: MemoryStats,
    /// CPU of the cgroup root (the node's CPU usage).
    pub cpu: CpuStats,
    /// Host memory figures; `MemTotal` is the node's memory capacity.
    pub meminfo: Meminfo,
    /// Online CPUs: the node's CPU capacity.
    pub online_cpus: u32,
}

impl NodeStats {
    /// The kubelet's node `availableBytes`: MemTotal − working set, at least 0.
    pub fn available_bytes(&self) -> u64 {
        self.meminfo
            .mem_total
            .saturating_sub(self.memory.working_set)
    }
}
