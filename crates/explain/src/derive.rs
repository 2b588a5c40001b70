//! From [`inputs`](crate::inputs) to an [`Explanation`]: every formula of
//! `docs/explain.md`, filled in with the workload's numbers.
//!
//! The formulas are upstream's: the working set is cAdvisor's (usage −
//! inactive file cache, clamped at 0), the `docker stats` figures are the
//! Docker CLI's (`calculateMemUsageUnixNoCache` before and after docker/cli
//! #2415), CPU rates are metrics-server's and the `kubectl top` cells are
//! kubectl's rounding. Nothing here does IO.

use std::time::Duration;

use workingset_model::rate::{CpuPoint, nanocores};

use crate::inputs::{
    CgroupInputs, CpuInputs, Hierarchy, HostMemory, MemoryInputs, Mode, NodeInputs, PartInputs,
    PodInputs, QuotaInput, RateInput, SourceInputs, ThrottleInput, ThrottleScope,
};
use crate::report::{
    API_VERSION, CgroupReport, CpuReport, Derived, DockerReport, Explanation, InsideReport, Kind,
    MemoryReport, NodeBreakdown, OverheadReport, PageCacheReport, PartReport, PodRef, QuotaReport,
    RateReport, Role, SourceReport, ThrottleReport, TopReport,
};

const MIB: f64 = 1_048_576.0;

/// Bytes as MiB with one decimal (`28.8 MiB`).
pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / MIB)
}

/// Signed bytes as MiB with one decimal and a sign when negative.
pub fn mib_signed(bytes: i64) -> String {
    format!("{:.1} MiB", bytes as f64 / MIB)
}

fn signed_difference(a: u64, b: u64) -> i64 {
    let difference = i128::from(a) - i128::from(b);
    i64::try_from(difference).unwrap_or(if difference < 0 { i64::MIN } else { i64::MAX })
}

/// `kubectl top`'s memory cell: whole MiB, rounded down (`Value() / 2^20`).
pub fn kubectl_memory(bytes: u64) -> String {
    format!("{}Mi", bytes / 1_048_576)
}

/// `kubectl top`'s CPU cell: millicores, rounded up (`MilliValue()`).
pub fn kubectl_cpu(nanocores: u64) -> String {
    format!("{}m", nanocores.div_ceil(1_000_000))
}

/// The working set: usage − inactive_file, clamped at 0; usage when the
/// source has no inactive-file figure (cAdvisor's rule).
pub fn working_set(memory: &MemoryInputs) -> Derived {
    let formula = "usage − inactive_file, clamped at 0".to_owned();
    match (memory.usage.bytes, memory.inactive_file.bytes) {
        (Some(usage), Some(inactive)) if inactive > usage => Derived {
            bytes: Some(0),
            formula,
            calculation: format!("{usage} − {inactive} is below 0, so 0"),
        },
        (Some(usage), Some(inactive)) => Derived {
            bytes: Some(usage - inactive),
            formula,
            calculation: format!("{usage} − {inactive} = {}", usage - inactive),
        },
        (Some(usage), None) => Derived {
            bytes: Some(usage),
            formula: "usage (there is no inactive_file figure to subtract)".to_owned(),
            calculation: format!("{usage}"),
        },
        (None, _) => Derived {
            bytes: None,
            formula,
            calculation: "usage is not available from this source".to_owned(),
        },
    }
}

/// `docker stats` MEM USAGE of the Docker CLI 20.10 and newer: usage −
/// inactive file cache when that is below usage, else usage. Unlike the
/// working set it is never clamped to 0: it falls back to usage.
pub fn docker_since_20_10(memory: &MemoryInputs) -> Derived {
    let formula =
        "usage − inactive_file if inactive_file < usage, else usage (v1: total_inactive_file)"
            .to_owned();
    let Some(usage) = memory.usage.bytes else {
        return Derived {
            bytes: None,
            formula,
            calculation: "usage is not available from this source".to_owned(),
        };
    };
    // A missing key reads as 0 in the CLI's Go map.
    let inactive = memory.inactive_file.bytes.unwrap_or(0);
    if inactive < usage {
        Derived {
            bytes: Some(usage - inactive),
            formula,
            calculation: format!("{usage} − {inactive} = {}", usage - inactive),
        }
    } else {
        Derived {
            bytes: Some(usage),
            formula,
            calculation: format!("inactive_file {inactive} is not below usage, so usage: {usage}"),
        }
    }
}

/// `docker stats` MEM USAGE of the Docker CLI 17.06 to 19.03: usage −
/// `cache`, in Go's unsigned arithmetic (it wraps around when cache >
/// usage, and the CLI printed the wrapped number).
pub fn docker_17_06_to_19_03(memory: &MemoryInputs) -> Derived {
    let formula = "usage − cache (the cgroup v1 `cache` key)".to_owned();
    let Some(usage) = memory.usage.bytes else {
        return Derived {
            bytes: None,
            formula,
            calculation: "usage is not available from this source".to_owned(),
        };
    };
    match memory.own_cache.bytes {
        Some(cache) if cache > usage => {
            let wrapped = usage.wrapping_sub(cache);
            Derived {
                bytes: Some(wrapped),
                formula,
                calculation: format!(
                    "{usage} − {cache} is below 0; Go's unsigned subtraction wraps around to {wrapped}, the absurd figure that CLI printed"
                ),
            }
        }
        Some(cache) => Derived {
            bytes: Some(usage - cache),
            formula,
            calculation: format!("{usage} − {cache} = {}", usage - cache),
        },
        None => Derived {
            bytes: Some(usage),
            formula,
            calculation: format!(
                "there is no `cache` key ({}), so that CLI subtracted 0: {usage}",
                memory.own_cache.source
            ),
        },
    }
}

fn why_docker_differs(
    memory: &MemoryInputs,
    working_set: &Derived,
    new: &Derived,
    old: &Derived,
) -> String {
    let mut why = Vec::new();
    match (working_set.bytes, new.bytes) {
        (Some(ws), Some(docker)) if ws == docker => why.push(
            "Docker 20.10 and newer subtracts the same inactive page cache as the working set, so it shows what `kubectl top` shows.".to_owned(),
        ),
        (Some(_), Some(_)) => why.push(
            "Docker 20.10 and newer differs from the working set here because inactive_file is not below usage: the working set is clamped at 0, docker falls back to usage.".to_owned(),
        ),
        _ => {}
    }
    if let (Some(new), Some(old), Some(cache), Some(inactive)) = (
        new.bytes,
        old.bytes,
        memory.own_cache.bytes.or(memory.cache.bytes),
        memory.inactive_file.bytes,
    ) && old <= new
    {
        let active = cache.saturating_sub(inactive);
        let mut sentence = format!(
            "Docker 17.06–19.03 subtracted all page cache ({}), not only the inactive part ({}), so it showed {} less: the active page cache a program is using right now (files it reads again and again) and shared memory.",
            mib(cache),
            mib(inactive),
            mib(new - old),
        );
        if active > 0 {
            sentence.push_str(&format!(
                " Here about {} of the cache is not inactive.",
                mib(active)
            ));
        }
        why.push(sentence);
    } else if memory.own_cache.bytes.is_none() {
        why.push(format!(
            "Docker 17.06–19.03 has no cache figure to subtract here ({}).",
            memory.own_cache.source
        ));
    }
    if let Some(shmem) = memory.shmem.bytes.filter(|&s| s > 0) {
        why.push(format!(
            "Of the cache, {} is shared memory or tmpfs (/dev/shm, emptyDir with medium Memory): it counts against the limit and cannot be dropped without swap, yet the old docker figure left it out.",
            mib(shmem)
        ));
    }
    why.join(" ")
}

fn headroom(memory: &MemoryInputs, working_set: &Derived, mem_total: Option<u64>) -> Derived {
    let formula = "limit − working set".to_owned();
    match (memory.limit.bytes, working_set.bytes) {
        (Some(limit), Some(ws)) if ws > limit => Derived {
            bytes: Some(0),
            formula,
            calculation: format!(
                "{limit} − {ws} is below 0: the working set is at the limit, the next allocation that reclaim cannot make room for ends in an OOM kill"
            ),
        },
        (Some(limit), Some(ws)) => Derived {
            bytes: Some(limit - ws),
            formula,
            calculation: format!("{limit} − {ws} = {}", limit - ws),
        },
        (Some(_), None) => Derived {
            bytes: None,
            formula,
            calculation: "the working set is not available".to_owned(),
        },
        (None, _) if memory.limit.unlimited => Derived {
            bytes: None,
            formula,
            calculation: match mem_total {
                Some(total) => format!(
                    "no limit: the node's memory is the limit (MemTotal {total}, {}); the kernel OOM-kills when the whole node runs out, and the kubelet evicts pods before that",
                    mib(total)
                ),
                None => "no limit: the node's memory is the limit".to_owned(),
            },
        },
        (None, _) => Derived {
            bytes: None,
            formula,
            calculation: format!("the limit is not known: {}", memory.limit.source),
        },
    }
}

/// The memory part of a cgroup's explanation.
pub fn memory_report(memory: &MemoryInputs, mem_total: Option<u64>) -> MemoryReport {
    let working_set = working_set(memory);
    let since_20_10 = docker_since_20_10(memory);
    let from_17_06_to_19_03 = docker_17_06_to_19_03(memory);
    let why_they_differ =
        why_docker_differs(memory, &working_set, &since_20_10, &from_17_06_to_19_03);
    let headroom = headroom(memory, &working_set, mem_total);
    MemoryReport {
        usage: memory.usage.clone(),
        rss: memory.rss.clone(),
        cache: memory.cache.clone(),
        mapped_file: memory.mapped_file.clone(),
        swap: memory.swap.clone(),
        shmem: memory.shmem.clone(),
        active_file: memory.active_file.clone(),
        inactive_file: memory.inactive_file.clone(),
        kernel: memory.kernel.clone(),
        reported_working_set: memory.reported_working_set.clone(),
        docker_stats: DockerReport {
            since_20_10,
            from_17_06_to_19_03,
            why_they_differ,
        },
        limit: memory.limit.clone(),
        headroom,
        working_set,
    }
}

fn seconds(window: Duration) -> String {
    format!("{:.3} s", window.as_secs_f64())
}

fn rate_report(rate: &RateInput) -> RateReport {
    let (nanocores, source, calculation) = match rate {
        RateInput::Counters {
            before_ns,
            after_ns,
            window,
            source,
        } => {
            let rate = nanocores(
                CpuPoint {
                    usage_ns: *before_ns,
                    at: Duration::ZERO,
                },
                CpuPoint {
                    usage_ns: *after_ns,
                    at: *window,
                },
            );
            let calculation = match rate {
                Some(rate) => format!(
                    "({after_ns} − {before_ns}) ns of CPU time ÷ {} = {rate} nanocores",
                    seconds(*window)
                ),
                None if after_ns < before_ns => format!(
                    "the counter went down ({before_ns} → {after_ns}): the cgroup was re-created or the container restarted, so there is no rate for this window"
                ),
                None => "the window is empty: no rate".to_owned(),
            };
            (rate, source.clone(), calculation)
        }
        RateInput::Reported { nanocores, source } => (
            Some(*nanocores),
            source.clone(),
            format!("the source's own rate between its last two samples: {nanocores} nanocores"),
        ),
        RateInput::Unavailable { why } => (None, why.clone(), format!("no rate: {why}")),
    };
    RateReport {
        nanocores,
        cores: nanocores.map(|n| n as f64 / 1e9),
        kubectl_top: nanocores.map(kubectl_cpu),
        source,
        calculation,
    }
}

fn throttle_report(throttle: &ThrottleInput) -> ThrottleReport {
    let ratio =
        (throttle.periods > 0).then(|| throttle.throttled_periods as f64 / throttle.periods as f64);
    let seconds = throttle.throttled_ns as f64 / 1e9;
    let over = match throttle.scope {
        ThrottleScope::Window => "during the window",
        ThrottleScope::SinceStart => "since the cgroup started",
    };
    let meaning = match ratio {
        Some(ratio) if throttle.throttled_periods > 0 => format!(
            "{over}, in {} of {} enforcement periods ({:.1} %) the cgroup used up its quota and its processes had to wait for the next period, {seconds:.3} s in all; throttling makes a program slow without its CPU rate looking high",
            throttle.throttled_periods,
            throttle.periods,
            ratio * 100.0
        ),
        Some(_) => format!(
            "{over}, the cgroup ran in {} enforcement periods and never used up its quota",
            throttle.periods
        ),
        None => format!("{over}, no enforcement period elapsed (the cgroup did not run)"),
    };
    ThrottleReport {
        scope: throttle.scope,
        periods: throttle.periods,
        throttled_periods: throttle.throttled_periods,
        throttled_seconds: seconds,
        throttled_ratio: ratio,
        source: throttle.source.clone(),
        meaning,
    }
}

fn quota_report(quota: &QuotaInput) -> QuotaReport {
    match quota {
        QuotaInput::Limited {
            quota_us,
            period_us,
            source,
        } => {
            let cores = (*period_us > 0).then(|| *quota_us as f64 / *period_us as f64);
            let meaning = match cores {
                Some(cores) => format!(
                    "a CPU limit of {cores:.3} cores: at most {quota_us} µs of CPU time every {period_us} µs, spread over any number of CPUs; past that the processes wait (are throttled) until the next period"
                ),
                None => "a quota with a zero period: no usable limit".to_owned(),
            };
            QuotaReport {
                cores,
                quota_us: Some(*quota_us),
                period_us: Some(*period_us),
                source: source.clone(),
                meaning,
            }
        }
        QuotaInput::Unlimited { source } => QuotaReport {
            cores: None,
            quota_us: None,
            period_us: None,
            source: source.clone(),
            meaning: "no CPU limit: it may use every CPU of the node".to_owned(),
        },
        QuotaInput::Unknown { why } => QuotaReport {
            cores: None,
            quota_us: None,
            period_us: None,
            source: why.clone(),
            meaning: "the CPU limit is not known from this source".to_owned(),
        },
    }
}

/// The CPU part of a cgroup's explanation.
pub fn cpu_report(cpu: &CpuInputs) -> CpuReport {
    CpuReport {
        usage: rate_report(&cpu.rate),
        throttling: cpu.throttling.as_ref().map(throttle_report),
        quota: quota_report(&cpu.quota),
    }
}

fn cgroup_report(role: Role, cgroup: &CgroupInputs, mem_total: Option<u64>) -> CgroupReport {
    CgroupReport {
        role,
        name: cgroup.name.clone(),
        cgroup: cgroup.cgroup.clone(),
        memory: memory_report(&cgroup.memory, mem_total),
        cpu: cpu_report(&cgroup.cpu),
    }
}

fn source_report(source: &SourceInputs) -> SourceReport {
    let hierarchy = match source.hierarchy {
        Hierarchy::V1 => "cgroup v1",
        Hierarchy::V2 => "cgroup v2",
        Hierarchy::Unknown => "cgroup version not reported",
    };
    let description = match (source.mode, &source.endpoint) {
        (Mode::Local, _) => match source.window {
            Some(window) => format!(
                "Figures from this machine's cgroup and /proc files ({hierarchy}), read twice {} apart.",
                seconds(window)
            ),
            None => format!("Figures from this machine's cgroup and /proc files ({hierarchy})."),
        },
        (Mode::Agent, Some(url)) => format!(
            "Figures from the node agent (or kubelet) at {url}: its /metrics/cadvisor and /stats/summary."
        ),
        (Mode::ApiServer, Some(path)) => format!(
            "Figures from the node's /metrics/cadvisor and /stats/summary, through the API server's node proxy ({path})."
        ),
        (_, None) => "Figures from a node agent's /metrics/cadvisor and /stats/summary.".to_owned(),
    };
    SourceReport {
        mode: source.mode,
        endpoint: source.endpoint.clone(),
        hierarchy: source.hierarchy,
        window_seconds: source.window.map(|w| w.as_secs_f64()),
        description,
    }
}

fn inside_report(host: &HostMemory) -> InsideReport {
    let used = match (host.mem_total.bytes, host.mem_available.bytes) {
        (Some(total), Some(available)) => Derived {
            bytes: Some(total.saturating_sub(available)),
            formula: "MemTotal − MemAvailable".to_owned(),
            calculation: format!("{total} − {available} = {}", total.saturating_sub(available)),
        },
        _ => Derived {
            bytes: None,
            formula: "MemTotal − MemAvailable".to_owned(),
            calculation: "MemAvailable is not available from this source; run `workingset explain` on the node itself".to_owned(),
        },
    };
    let total = host
        .mem_total
        .bytes
        .map_or_else(|| "the host's memory".to_owned(), mib);
    InsideReport {
        host: host.clone(),
        used,
        explanation: format!(
            "`top` and `free` read /proc/meminfo, which the kernel does not scope to a cgroup: inside a container they show the host's figures ({total} in total, the host's free and used memory), never the container's limit or usage. Only LXCFS, when mounted over /proc/meminfo, makes them show the container's own figures. Recent `free` prints MemTotal − MemAvailable as \"used\"; to see the container's own memory, use its cgroup figures above."
        ),
    }
}

/// Sum of working sets, if every one is known.
fn sum_known(values: impl Iterator<Item = Option<u64>>) -> (u64, bool) {
    let mut sum: u64 = 0;
    let mut complete = true;
    for value in values {
        match value {
            Some(v) => sum = sum.saturating_add(v),
            None => complete = false,
        }
    }
    (sum, complete)
}

/// Explains a pod (or pod-like workload).
pub fn explain_pod(pod: &PodInputs) -> Explanation {
    let mem_total = pod.host.mem_total.bytes;
    let container_reports: Vec<CgroupReport> = pod
        .containers
        .iter()
        .map(|c| cgroup_report(Role::Container, c, mem_total))
        .collect();
    let sandbox_reports: Vec<CgroupReport> = pod
        .sandboxes
        .iter()
        .map(|c| cgroup_report(Role::Sandbox, c, mem_total))
        .collect();
    let pod_report = pod
        .pod_cgroup
        .as_ref()
        .map(|c| cgroup_report(Role::Pod, c, mem_total));

    let working_set_of = |report: &CgroupReport| {
        report.memory.working_set.bytes.or_else(|| {
            report
                .memory
                .reported_working_set
                .as_ref()
                .and_then(|f| f.bytes)
        })
    };
    let (containers_ws, all_ws) = sum_known(container_reports.iter().map(working_set_of));
    let (containers_cpu, all_cpu) =
        sum_known(container_reports.iter().map(|r| r.cpu.usage.nanocores));
    let count = container_reports.len();
    let kubectl_top = TopReport {
        cpu: (all_cpu && count > 0).then(|| kubectl_cpu(containers_cpu)),
        memory: (all_ws && count > 0).then(|| kubectl_memory(containers_ws)),
        cpu_nanocores: (all_cpu && count > 0).then_some(containers_cpu),
        memory_bytes: (all_ws && count > 0).then_some(containers_ws),
        explanation: format!(
            "`kubectl top pod` adds up the working sets and CPU rates of the pod's {count} app container(s) (the pause container is not one of them) and prints memory in whole Mi rounded down and CPU in millicores rounded up{}.",
            if all_cpu {
                ""
            } else {
                "; a container without a CPU rate (new or restarted within the window) leaves the CPU cell empty here, where metrics-server would leave out the whole pod"
            }
        ),
    };

    let pod_overhead = pod.kubernetes.then(|| {
        let pod_ws = pod_report.as_ref().and_then(working_set_of);
        let sandboxes_ws = (!sandbox_reports.is_empty())
            .then(|| sum_known(sandbox_reports.iter().map(working_set_of)))
            .and_then(|(sum, complete)| complete.then_some(sum));
        let overhead = pod_ws.map(|p| signed_difference(p, containers_ws));
        let other = match (overhead, sandboxes_ws) {
            (Some(overhead), Some(sandboxes)) => {
                Some(overhead.saturating_sub(i64::try_from(sandboxes).unwrap_or(i64::MAX)))
            }
            _ => None,
        };
        let calculation = match (pod_ws, sandboxes_ws) {
            (Some(p), Some(s)) => format!(
                "pod cgroup {p} − containers {containers_ws} = {} (of which pause {s}, other {})",
                overhead.unwrap_or_default(),
                other.unwrap_or_default()
            ),
            (Some(p), None) => format!(
                "pod cgroup {p} − containers {containers_ws} = {}",
                overhead.unwrap_or_default()
            ),
            (None, _) => format!(
                "the pod cgroup's figures are not available: {}; containers {containers_ws}",
                pod.pod_cgroup_note.as_deref().unwrap_or("not reported")
            ),
        };
        let explanation = format!(
            "The pod cgroup holds the app containers, the pause (sandbox) container and anything else charged to the pod: processes started directly in the pod cgroup, kernel memory charged to it, and page cache left by containers that already exited. The kubelet's pod-level figures (Summary pods[].memory, the pod cgroup in /metrics/cadvisor) come from the pod cgroup and are therefore larger than what `kubectl top pod` shows, which is the sum of the app containers only.{}",
            match (&pod.sandbox_note, sandbox_reports.is_empty()) {
                (Some(note), true) => format!(" {note}"),
                _ => String::new(),
            }
        );
        OverheadReport {
            pod_working_set: pod_ws,
            containers_working_set: containers_ws,
            sandboxes_working_set: sandboxes_ws,
            overhead_bytes: overhead,
            other_bytes: other,
            calculation,
            explanation,
        }
    });

    let detailed: Vec<CgroupReport> = match &pod.only_container {
        Some(only) => container_reports
            .iter()
            .filter(|c| &c.name == only)
            .cloned()
            .collect(),
        None => container_reports.clone(),
    };
    let mut cgroups = Vec::new();
    if pod.only_container.is_none() {
        cgroups.extend(pod_report.clone());
    }
    cgroups.extend(detailed);
    if pod.only_container.is_none() {
        cgroups.extend(sandbox_reports.iter().cloned());
    }

    let mut summary = Vec::new();
    if let (Some(cpu), Some(memory)) = (&kubectl_top.cpu, &kubectl_top.memory) {
        summary.push(format!(
            "`kubectl top pod` would show {cpu} CPU and {memory} memory: the sum of {count} container(s), pause not included."
        ));
    } else if let Some(memory) = &kubectl_top.memory {
        summary.push(format!(
            "`kubectl top pod` would show {memory} memory: the sum of {count} container(s), pause not included."
        ));
    }
    for report in container_reports.iter().filter(|c| {
        pod.only_container
            .as_ref()
            .is_none_or(|only| &c.name == only)
    }) {
        summary.push(container_sentence(report));
    }
    if let Some(overhead) = &pod_overhead {
        match (overhead.overhead_bytes, overhead.sandboxes_working_set) {
            (Some(o), Some(s)) => summary.push(format!(
                "The pod cgroup holds {} more than its containers: {} in the pause container and {} besides.",
                mib_signed(o),
                mib(s),
                mib_signed(overhead.other_bytes.unwrap_or_default())
            )),
            (Some(o), None) => summary.push(format!(
                "The pod cgroup holds {} more than its containers (pause container and pod overhead).",
                mib_signed(o)
            )),
            (None, _) => {}
        }
    }
    if let Some(total) = mem_total {
        summary.push(format!(
            "`top` or `free` inside a container would show the host's {} of memory, not the container's limit.",
            mib(total)
        ));
    }

    Explanation {
        api_version: API_VERSION.to_owned(),
        kind: Kind::Pod,
        source: source_report(&pod.source),
        node: pod.node.clone(),
        pod: Some(PodRef {
            namespace: pod.namespace.clone(),
            name: pod.name.clone(),
            uid: pod.uid.clone(),
            kubernetes: pod.kubernetes,
        }),
        summary,
        kubectl_top,
        cgroups,
        pod_overhead,
        node_breakdown: None,
        inside_a_container: inside_report(&pod.host),
    }
}

fn container_sentence(report: &CgroupReport) -> String {
    let memory = &report.memory;
    let mut sentence = format!(
        "Container {}: working set {}",
        report.name,
        memory
            .working_set
            .bytes
            .map_or_else(|| "unknown".to_owned(), mib)
    );
    if let (Some(usage), Some(inactive)) = (memory.usage.bytes, memory.inactive_file.bytes) {
        sentence.push_str(&format!(
            " of {} usage ({} of inactive page cache is not counted)",
            mib(usage),
            mib(inactive)
        ));
    }
    match (memory.limit.bytes, memory.headroom.bytes) {
        (Some(limit), Some(headroom)) => sentence.push_str(&format!(
            "; limit {}, so {} of headroom before an OOM kill",
            mib(limit),
            mib(headroom)
        )),
        _ if memory.limit.unlimited => sentence.push_str("; no memory limit"),
        _ => {}
    }
    if let Some(cores) = report.cpu.usage.cores {
        sentence.push_str(&format!("; CPU {cores:.3} cores"));
    }
    if let Some(cores) = report.cpu.quota.cores {
        sentence.push_str(&format!(" of a {cores:.3}-core limit"));
    }
    if let Some(ratio) = report
        .cpu
        .throttling
        .as_ref()
        .and_then(|t| t.throttled_ratio)
        .filter(|r| *r > 0.0)
    {
        sentence.push_str(&format!(", throttled in {:.1} % of periods", ratio * 100.0));
    }
    sentence.push('.');
    sentence
}

fn part_report(part: &PartInputs, meaning: String) -> PartReport {
    PartReport {
        name: part.name.clone(),
        cgroup: part.cgroup.clone(),
        working_set: part.working_set,
        usage: part.usage,
        cache: part.cache,
        meaning,
        source: part.source.clone(),
    }
}

/// What a top-level cgroup usually holds, for newcomers.
fn meaning_of(name: &str) -> String {
    let leaf = name.rsplit('/').next().unwrap_or(name);
    match leaf {
        "kubepods" | "kubepods.slice" => {
            "all pods (their containers, sandboxes and pod overhead)".to_owned()
        }
        "system.slice" => {
            "system daemons run by systemd: the kubelet, the container runtime, sshd, journald, …"
                .to_owned()
        }
        "user.slice" => "login sessions and what users started by hand".to_owned(),
        "init.scope" => "systemd itself (PID 1)".to_owned(),
        "machine.slice" => "virtual machines and Podman containers".to_owned(),
        "docker" => "Docker containers (cgroupfs driver)".to_owned(),
        "kubelet" | "kubelet.service" => "the kubelet".to_owned(),
        "runtime" | "containerd.service" | "docker.service" | "crio.service" => {
            "the container runtime".to_owned()
        }
        "pods" => "all pods".to_owned(),
        _ => "other processes grouped by this cgroup".to_owned(),
    }
}

/// Explains a node.
pub fn explain_node(node: &NodeInputs) -> Explanation {
    let mem_total = node.host.mem_total.bytes;
    let root = cgroup_report(Role::Node, &node.root, mem_total);
    let node_ws = root.memory.working_set.bytes.or_else(|| {
        root.memory
            .reported_working_set
            .as_ref()
            .and_then(|f| f.bytes)
    });
    let node_rate = root.cpu.usage.nanocores;
    let kubectl_top = TopReport {
        cpu: node_rate.map(kubectl_cpu),
        memory: node_ws.map(kubectl_memory),
        cpu_nanocores: node_rate,
        memory_bytes: node_ws,
        explanation: format!(
            "`kubectl top node` shows the root cgroup's CPU rate and working set — the whole machine, not a sum of pods{}; its percentages divide by the node's allocatable CPU and memory.",
            node.cpus
                .map(|cpus| format!(
                    " ({cpus} CPU(s), {})",
                    mem_total.map_or_else(|| "memory unknown".to_owned(), mib)
                ))
                .unwrap_or_default()
        ),
    };

    let parts: Vec<PartReport> = node
        .top_level
        .iter()
        .map(|p| part_report(p, meaning_of(&p.name)))
        .collect();
    let (parts_ws, parts_complete) = sum_known(parts.iter().map(|p| p.working_set));
    let outside_parts = match node_ws {
        Some(ws) if parts_complete && !parts.is_empty() => Some(signed_difference(ws, parts_ws)),
        _ => None,
    };
    let not_in_containers = node_ws.map(|ws| signed_difference(ws, node.containers_working_set));
    let system_containers: Vec<PartReport> = node
        .system
        .iter()
        .map(|p| part_report(p, meaning_of(&p.name)))
        .collect();

    let node_cache = root.memory.cache.clone();
    let pods_cache = node.pods_cgroup.as_ref().and_then(|p| p.cache);
    let outside_pods = match (node_cache.bytes, pods_cache) {
        (Some(n), Some(p)) => Some(signed_difference(n, p)),
        _ => None,
    };
    let page_cache = PageCacheReport {
        explanation: format!(
            "Page cache is file contents kept in memory. The node's usage counts all of it; its working set leaves out only the inactive part ({}). Cache charged to no pod — read by system daemons, by processes outside Kubernetes, or left behind by pods that are gone — is in the node's figures and in no pod's.{}",
            root.memory
                .inactive_file
                .bytes
                .map_or_else(|| "unknown here".to_owned(), mib),
            match outside_pods {
                Some(outside) => format!(
                    " Here {} of the node's page cache is outside the pods' cgroup.",
                    mib_signed(outside)
                ),
                None => String::new(),
            }
        ),
        node_cache,
        pods_cache,
        outside_pods,
        node_inactive_file: root.memory.inactive_file.clone(),
    };

    let kernel = root.memory.kernel.clone();
    let parts_exceed_node =
        not_in_containers.is_some_and(|g| g < 0) || outside_parts.is_some_and(|g| g < 0);
    let mut explanation = "The node's working set is the root cgroup's: every process on the machine, page cache that is in active use, and kernel memory. Pods are only one part of it; system daemons (the kubelet, the container runtime, journald, sshd), processes outside any pod, and memory the kernel uses for itself are the rest. That is why `kubectl top node` is more than the sum of `kubectl top pod -A`, and why the kubelet reserves memory for the system (--system-reserved, --kube-reserved) and evicts when the node's working set nears capacity.".to_owned();
    if parts_exceed_node {
        explanation.push_str(" Here the parts add up to more than the node: the kernel keeps no usage counter for the root cgroup, so its usage is program memory plus page cache only (cgroup v1 sums those pages; on v2 runc and cAdvisor take anon + file), while every cgroup below the root also counts the kernel memory charged to it.");
    }

    let mut summary = Vec::new();
    if let (Some(cpu), Some(memory)) = (&kubectl_top.cpu, &kubectl_top.memory) {
        summary.push(format!(
            "`kubectl top node` would show {cpu} CPU and {memory} memory for {}.",
            node.name
        ));
    }
    if let Some(gap) = not_in_containers {
        summary.push(format!(
            "The {} container(s) of {} workload(s) add up to {}; the node's working set is {} {} than that.",
            node.container_count,
            node.pod_count,
            mib(node.containers_working_set),
            mib(gap.unsigned_abs()),
            if gap < 0 { "less" } else { "more" }
        ));
    }
    let mut largest: Vec<&PartReport> = parts.iter().filter(|p| p.working_set.is_some()).collect();
    largest.sort_by_key(|p| std::cmp::Reverse(p.working_set));
    if !largest.is_empty() {
        let list: Vec<String> = largest
            .iter()
            .take(4)
            .map(|p| format!("{} {}", p.name, mib(p.working_set.unwrap_or_default())))
            .collect();
        summary.push(format!("By top-level cgroup: {}.", list.join(", ")));
    }
    match outside_parts {
        Some(outside) if outside >= 0 => summary.push(format!(
            "{} is in no top-level cgroup: processes in the root cgroup itself and kernel memory charged to no cgroup.",
            mib(outside.unsigned_abs())
        )),
        Some(outside) => summary.push(format!(
            "The top-level cgroups add up to {} more than the node: they count their kernel memory, the root's usage does not.",
            mib(outside.unsigned_abs())
        )),
        None => {}
    }
    if let Some(outside) = outside_pods {
        summary.push(format!(
            "{} of page cache is outside the pods.",
            mib_signed(outside)
        ));
    }
    if let Some(total) = mem_total {
        summary.push(format!(
            "`free` on the node (or in any container on it) shows MemTotal {}.",
            mib(total)
        ));
    }

    Explanation {
        api_version: API_VERSION.to_owned(),
        kind: Kind::Node,
        source: source_report(&node.source),
        node: node.name.clone(),
        pod: None,
        summary,
        kubectl_top,
        cgroups: vec![root],
        pod_overhead: None,
        node_breakdown: Some(NodeBreakdown {
            node_working_set: node_ws,
            containers_working_set: node.containers_working_set,
            container_count: node.container_count,
            pod_count: node.pod_count,
            not_in_containers,
            parts,
            outside_parts,
            system_containers,
            page_cache,
            kernel,
            explanation,
        }),
        inside_a_container: inside_report(&node.host),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::inputs::{Figure, LimitFigure};

    fn memory(usage: u64, cache: u64, inactive: Option<u64>) -> MemoryInputs {
        MemoryInputs {
            usage: Figure::known(usage, "memory.usage_in_bytes"),
            rss: Figure::known(usage.saturating_sub(cache), "memory.stat total_rss"),
            cache: Figure::known(cache, "memory.stat total_cache"),
            own_cache: Figure::known(cache, "memory.stat cache"),
            mapped_file: Figure::known(0, "memory.stat total_mapped_file"),
            swap: Figure::missing("no swap accounting"),
            shmem: Figure::known(0, "memory.stat total_shmem"),
            active_file: Figure::known(
                cache - inactive.unwrap_or(0),
                "memory.stat total_active_file",
            ),
            inactive_file: Figure::maybe(inactive, "memory.stat total_inactive_file"),
            kernel: Figure::known(0, "memory.kmem.usage_in_bytes"),
            limit: LimitFigure {
                bytes: Some(256 << 20),
                unlimited: false,
                source: "memory.limit_in_bytes".to_owned(),
            },
            reported_working_set: None,
        }
    }

    #[test]
    fn working_set_subtracts_inactive_and_clamps() {
        let m = memory(42_807_296, 33_570_816, Some(12_582_912));
        let ws = working_set(&m);
        assert_eq!(ws.bytes, Some(30_224_384));
        assert_eq!(ws.calculation, "42807296 − 12582912 = 30224384");
        let mut clamped = memory(1000, 900, Some(900));
        clamped.inactive_file = Figure::known(2000, "memory.stat total_inactive_file");
        assert_eq!(working_set(&clamped).bytes, Some(0));
        assert_eq!(working_set(&memory(1000, 0, None)).bytes, Some(1000));
    }

    #[test]
    fn docker_figures_by_release() {
        let m = memory(42_807_296, 33_570_816, Some(12_582_912));
        assert_eq!(docker_since_20_10(&m).bytes, Some(30_224_384));
        assert_eq!(docker_17_06_to_19_03(&m).bytes, Some(9_236_480));
        // Not clamped: inactive ≥ usage falls back to usage, the working set is 0.
        let mut m = memory(1000, 900, Some(900));
        m.inactive_file = Figure::known(1000, "x");
        assert_eq!(docker_since_20_10(&m).bytes, Some(1000));
        assert_eq!(working_set(&m).bytes, Some(0));
        // The old CLI's unsigned subtraction wraps.
        let mut m = memory(1000, 900, Some(0));
        m.own_cache = Figure::known(1001, "memory.stat cache");
        assert_eq!(docker_17_06_to_19_03(&m).bytes, Some(u64::MAX));
    }

    #[test]
    fn headroom_and_unlimited() {
        let m = memory(42_807_296, 33_570_816, Some(12_582_912));
        let ws = working_set(&m);
        assert_eq!(
            headroom(&m, &ws, None).bytes,
            Some(268_435_456 - 30_224_384)
        );
        let mut m = m;
        m.limit = LimitFigure {
            bytes: None,
            unlimited: true,
            source: "memory.limit_in_bytes".to_owned(),
        };
        let h = headroom(&m, &ws, Some(8 << 30));
        assert_eq!(h.bytes, None);
        assert!(
            h.calculation
                .starts_with("no limit: the node's memory is the limit")
        );
    }

    #[test]
    fn kubectl_cells_round_like_kubectl() {
        assert_eq!(kubectl_cpu(1), "1m");
        assert_eq!(kubectl_cpu(2_000_000), "2m");
        assert_eq!(kubectl_cpu(2_000_001), "3m");
        assert_eq!(kubectl_memory((41 << 20) + 1_048_575), "41Mi");
    }

    #[test]
    fn rates_never_go_negative() {
        let r = rate_report(&RateInput::Counters {
            before_ns: 5_000_000_000,
            after_ns: 5_500_000_000,
            window: Duration::from_secs(1),
            source: "cpuacct.usage".to_owned(),
        });
        assert_eq!(r.nanocores, Some(500_000_000));
        assert_eq!(r.kubectl_top.as_deref(), Some("500m"));
        let r = rate_report(&RateInput::Counters {
            before_ns: 5,
            after_ns: 4,
            window: Duration::from_secs(1),
            source: "cpuacct.usage".to_owned(),
        });
        assert_eq!(r.nanocores, None);
        assert!(r.calculation.contains("went down"));
    }

    #[test]
    fn throttling_ratio_and_quota_cores() {
        let t = throttle_report(&ThrottleInput {
            scope: ThrottleScope::Window,
            periods: 10,
            throttled_periods: 3,
            throttled_ns: 120_000_000,
            source: "cpu.stat".to_owned(),
        });
        assert_eq!(t.throttled_ratio, Some(0.3));
        assert!((t.throttled_seconds - 0.12).abs() < 1e-12);
        let q = quota_report(&QuotaInput::Limited {
            quota_us: 50_000,
            period_us: 100_000,
            source: "cpu.cfs_quota_us / cpu.cfs_period_us".to_owned(),
        });
        assert_eq!(q.cores, Some(0.5));
    }
}
