//! `GET /stats/summary`: the kubelet's Summary API built from an
//! [`Observation`].
//!
//! What each figure is, and where the kubelet takes it from:
//!
//! - node `cpu`/`memory`/`swap`: the root cgroup; `availableBytes` is
//!   `MemTotal` − working set (cAdvisor gives the root cgroup the machine's
//!   memory as its limit), `swapAvailableBytes` is `SwapTotal` − swap;
//! - node `startTime`: the machine's boot time
//!   ([`Observation::boot_time`]), as the kubelet reports it;
//! - `systemContainers`: `kubelet`, `pods` and `runtime` when the sampler
//!   identified those cgroups (listed by name; the kubelet's order is Go
//!   map order, i.e. random); `misc` is never identified;
//! - pods: see the module docs of [`crate::serve`] for which workloads and
//!   in what order; `startTime` is when the pod cgroup appeared;
//!   `cpu`/`memory`/`swap` are the pod cgroup's;
//! - containers: the pause container excluded; `availableBytes` only with a
//!   memory limit (limit − working set, at least 0 — Go's unsigned
//!   subtraction would wrap when the working set is above the limit).
//!
//! `swapAvailableBytes` of pods and containers is omitted: the samples carry
//! no swap limit.

use workingset_cgroup::MemoryStats as CgroupMemory;
use workingset_model::metrics::Time;
use workingset_model::summary::{
    ContainerStats, CpuStats, MemoryStats, NodeStats, PodReference, PodStats,
    SYSTEM_CONTAINER_KUBELET, SYSTEM_CONTAINER_PODS, SYSTEM_CONTAINER_RUNTIME, Summary, SwapStats,
};

use super::{Observation, PodLevel, Rates, workloads};
use workingset_sampling::sampler::{CgroupSample, ContainerSample, CpuCounter, PodSample};

/// The Summary of `observation`.
///
/// `only_cpu_and_memory` is the kubelet's `?only_cpu_and_memory=true`
/// (`GetCPUAndMemoryStats`): the node's CPU, memory, swap, start time and
/// system containers, and per pod its start time, containers' CPU, memory
/// and swap and the pod cgroup's CPU, memory and swap. The full summary
/// adds network, filesystem, rlimit, volume and process figures, which the
/// sampler does not read yet: until it does, both answers are the same.
pub fn build(observation: &Observation, only_cpu_and_memory: bool) -> Summary {
    let later = &*observation.later;
    let time = later.time;
    let rates = Rates::new(observation);
    let node = &later.node;

    let mut system_containers = Vec::with_capacity(3);
    let system = &later.system;
    for (name, sample) in [
        (SYSTEM_CONTAINER_KUBELET, &system.kubelet),
        (SYSTEM_CONTAINER_PODS, &system.pods),
        (SYSTEM_CONTAINER_RUNTIME, &system.runtime),
    ] {
        if let Some(sample) = sample {
            system_containers.push(system_container(name, sample, &rates, time));
        }
    }

    let node_stats = NodeStats {
        node_name: observation.node_name.clone(),
        system_containers,
        start_time: observation.boot_time,
        cpu: Some(CpuStats {
            time,
            usage_nano_cores: rates.node(&node.cpu),
            usage_core_nano_seconds: Some(node.cpu.usage_ns),
        }),
        memory: Some(MemoryStats {
            available_bytes: Some(node.available_bytes()),
            ..memory(&node.memory, time)
        }),
        network: full_only(only_cpu_and_memory, || None),
        fs: full_only(only_cpu_and_memory, || None),
        runtime: full_only(only_cpu_and_memory, || None),
        rlimit: full_only(only_cpu_and_memory, || None),
        swap: Some(SwapStats {
            time,
            swap_available_bytes: node
                .meminfo
                .swap_total
                .map(|total| total.saturating_sub(node.memory.swap)),
            swap_usage_bytes: Some(node.memory.swap),
        }),
    };

    let pods = workloads(later)
        .into_iter()
        .map(|pod| pod_stats(pod, &rates, time, only_cpu_and_memory))
        .collect();
    Summary {
        node: node_stats,
        pods,
    }
}

/// A figure only the full summary carries.
fn full_only<T>(only_cpu_and_memory: bool, value: impl FnOnce() -> Option<T>) -> Option<T> {
    if only_cpu_and_memory { None } else { value() }
}

fn system_container(
    name: &str,
    sample: &CgroupSample,
    rates: &Rates<'_>,
    time: Time,
) -> ContainerStats {
    ContainerStats {
        name: name.to_owned(),
        start_time: sample.started,
        cpu: Some(cpu(&sample.cgroup, &sample.cpu, rates, time)),
        memory: Some(memory(&sample.memory, time)),
        // System containers have no filesystem of their own.
        rootfs: None,
        logs: None,
        swap: Some(swap(&sample.memory, time)),
    }
}

fn pod_stats(
    pod: &PodSample,
    rates: &Rates<'_>,
    time: Time,
    only_cpu_and_memory: bool,
) -> PodStats {
    let mut containers: Vec<&ContainerSample> = pod.containers.iter().collect();
    containers.sort_by(|a, b| a.name.cmp(&b.name));
    let level = PodLevel::of(pod);
    PodStats {
        pod_ref: PodReference {
            name: pod.key.name.clone(),
            namespace: pod.key.namespace.clone(),
            uid: pod.uid.clone().unwrap_or_default(),
        },
        start_time: pod.created,
        containers: containers
            .into_iter()
            .map(|container| container_stats(container, rates, time, only_cpu_and_memory))
            .collect(),
        cpu: level.map(|level| cpu(level.cgroup, level.cpu, rates, time)),
        memory: level.map(|level| memory(level.memory, time)),
        network: full_only(only_cpu_and_memory, || None),
        volume_stats: Vec::new(),
        ephemeral_storage: full_only(only_cpu_and_memory, || None),
        process_stats: full_only(only_cpu_and_memory, || None),
        swap: level.map(|level| swap(level.memory, time)),
    }
}

fn container_stats(
    container: &ContainerSample,
    rates: &Rates<'_>,
    time: Time,
    only_cpu_and_memory: bool,
) -> ContainerStats {
    ContainerStats {
        name: container.name.clone(),
        start_time: container.started,
        cpu: Some(cpu(&container.cgroup, &container.cpu, rates, time)),
        memory: Some(memory(&container.memory, time)),
        rootfs: full_only(only_cpu_and_memory, || None),
        logs: full_only(only_cpu_and_memory, || None),
        swap: Some(swap(&container.memory, time)),
    }
}

fn cpu(cgroup: &str, counter: &CpuCounter, rates: &Rates<'_>, time: Time) -> CpuStats {
    CpuStats {
        time,
        usage_nano_cores: rates.of(cgroup, counter),
        usage_core_nano_seconds: Some(counter.usage_ns()),
    }
}

/// Memory figures of a cgroup; `availableBytes` from its limit, if any.
fn memory(stats: &CgroupMemory, time: Time) -> MemoryStats {
    MemoryStats {
        time,
        available_bytes: stats
            .limit
            .map(|limit| limit.saturating_sub(stats.working_set)),
        usage_bytes: Some(stats.usage),
        working_set_bytes: Some(stats.working_set),
        rss_bytes: Some(stats.rss),
        page_faults: Some(stats.pgfault),
        major_page_faults: Some(stats.pgmajfault),
    }
}

fn swap(stats: &CgroupMemory, time: Time) -> SwapStats {
    SwapStats {
        time,
        swap_available_bytes: None,
        swap_usage_bytes: Some(stats.swap),
    }
}
