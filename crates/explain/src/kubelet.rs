//! Inputs from a node's endpoints: `/metrics/cadvisor` (Prometheus text,
//! one label set per cgroup, keyed by its `id` label) and `/stats/summary`
//! (the kubelet's Summary API). Works the same for a `workingset agent`, a
//! kubelet, and either behind an API server's node proxy.
//!
//! What comes from where:
//! - memory figures of a cgroup: its `container_memory_*` series, each
//!   named with the cgroup file cAdvisor read it from;
//! - CPU rates: the Summary's `usageNanoCores` (the source's own rate
//!   between its last two samples), because a single scrape of a
//!   cumulative counter has no rate;
//! - throttling: the cumulative `container_cpu_cfs_*` counters, since the
//!   cgroup started; the quota from `container_spec_cpu_quota`/`_period`
//!   when the source exports them;
//! - which cgroup is a pod, a container or a sandbox: the `namespace`,
//!   `pod` and `container` labels and the cgroup paths (a sandbox is a
//!   child of the pod cgroup that is no app container; kubelets label it
//!   `container=""` with containerd and `container="POD"` with Docker);
//! - where cAdvisor has no series for a workload (a non-Kubernetes workload
//!   of a `workingset agent`), the Summary's usage, working set and rss.

use std::collections::BTreeMap;

use workingset_model::summary::{ContainerStats, PodStats, Summary};

use crate::inputs::{
    CgroupInputs, CpuInputs, Figure, HostMemory, LimitFigure, MemoryInputs, NodeInputs, PartInputs,
    PodInputs, QuotaInput, RateInput, SourceInputs, ThrottleInput, ThrottleScope,
};
use crate::lookup::{self, Candidate, LookupError};

/// Why a node's endpoints could not be read.
#[derive(Debug, thiserror::Error)]
pub enum KubeletError {
    /// `/metrics/cadvisor` is not Prometheus text.
    #[error("/metrics/cadvisor is not Prometheus text: {0}")]
    Cadvisor(#[from] workingset_expfmt::ParseError),
    /// `/stats/summary` is not a Summary.
    #[error("/stats/summary is not a kubelet Summary: {0}")]
    Summary(#[from] serde_json::Error),
}

/// One cgroup's series in `/metrics/cadvisor`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CadvisorCgroup {
    /// The `id` label: the cgroup path.
    pub id: String,
    /// `container`.
    pub container: String,
    /// `namespace`.
    pub namespace: String,
    /// `pod`.
    pub pod: String,
    /// `name` (the runtime's name or id).
    pub name: String,
    /// `image`.
    pub image: String,
    /// Metric name → value (for `container_cpu_usage_seconds_total`, the
    /// `cpu="total"` sample).
    pub values: BTreeMap<String, f64>,
}

impl CadvisorCgroup {
    fn bytes(&self, metric: &str) -> Option<u64> {
        self.values
            .get(metric)
            .filter(|v| v.is_finite() && **v >= 0.0)
            // Exposition values of byte counts are integers below 2^53 in practice.
            .map(|v| *v as u64)
    }
}

/// Everything `/metrics/cadvisor` says, by cgroup.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cadvisor {
    /// Cgroups by `id`.
    pub cgroups: BTreeMap<String, CadvisorCgroup>,
    /// `machine_memory_bytes`.
    pub machine_memory_bytes: Option<u64>,
    /// `machine_cpu_cores`.
    pub machine_cpu_cores: Option<u32>,
}

/// Parses a `/metrics/cadvisor` body.
pub fn parse_cadvisor(text: &str) -> Result<Cadvisor, KubeletError> {
    let mut out = Cadvisor::default();
    for sample in workingset_expfmt::parse(text) {
        let sample = sample?;
        let name = sample.name.as_ref();
        match name {
            "machine_memory_bytes" => {
                out.machine_memory_bytes = Some(sample.value.max(0.0) as u64);
                continue;
            }
            "machine_cpu_cores" => {
                out.machine_cpu_cores = Some(sample.value.max(0.0) as u32);
                continue;
            }
            _ => {}
        }
        if !name.starts_with("container_") {
            continue;
        }
        let Some(id) = sample.labels.get("id") else {
            continue;
        };
        // Per-CPU samples (kubelets with per-CPU metrics) are not the total.
        if let Some(cpu) = sample.labels.get("cpu")
            && cpu != "total"
        {
            continue;
        }
        let entry = out
            .cgroups
            .entry(id.clone().into_owned())
            .or_insert_with(|| {
                let label = |n: &str| {
                    sample
                        .labels
                        .get(n)
                        .map(|v| v.into_owned())
                        .unwrap_or_default()
                };
                CadvisorCgroup {
                    id: id.into_owned(),
                    container: label("container"),
                    namespace: label("namespace"),
                    pod: label("pod"),
                    name: label("name"),
                    image: label("image"),
                    values: BTreeMap::new(),
                }
            });
        entry.values.insert(name.to_owned(), sample.value);
    }
    Ok(out)
}

/// Parses a `/stats/summary` body.
pub fn parse_summary(body: &[u8]) -> Result<Summary, KubeletError> {
    Ok(serde_json::from_slice(body)?)
}

/// What the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodQuery {
    /// Pod name.
    pub name: String,
    /// Namespace; `None` = any.
    pub namespace: Option<String>,
    /// One container (`-c`).
    pub container: Option<String>,
}

fn metric(name: &str, file: &str) -> String {
    format!("/metrics/cadvisor {name} (cAdvisor reads {file})")
}

fn figure(cgroup: &CadvisorCgroup, name: &str, file: &str) -> Figure {
    match cgroup.bytes(name) {
        Some(bytes) => Figure::known(bytes, metric(name, file)),
        None => Figure::missing(format!("not available: this source exports no {name}")),
    }
}

/// Memory figures of a cgroup from its cAdvisor series.
pub fn memory_from_cadvisor(cgroup: &CadvisorCgroup) -> MemoryInputs {
    let limit = match cgroup.bytes("container_spec_memory_limit_bytes") {
        // cAdvisor writes 0 for "no limit".
        Some(0) => LimitFigure {
            bytes: None,
            unlimited: true,
            source: "/metrics/cadvisor container_spec_memory_limit_bytes is 0: no limit".to_owned(),
        },
        Some(bytes) if cgroup.id == "/" => LimitFigure {
            bytes: Some(bytes),
            unlimited: false,
            source: "/metrics/cadvisor container_spec_memory_limit_bytes (for the root, cAdvisor gives the machine's memory)".to_owned(),
        },
        Some(bytes) => LimitFigure {
            bytes: Some(bytes),
            unlimited: false,
            source: metric("container_spec_memory_limit_bytes", "memory.limit_in_bytes on v1, memory.max on v2"),
        },
        None => LimitFigure {
            bytes: None,
            unlimited: false,
            source: "not available: this source exports no container_spec_memory_limit_bytes".to_owned(),
        },
    };
    MemoryInputs {
        usage: figure(
            cgroup,
            "container_memory_usage_bytes",
            "memory.usage_in_bytes on v1, memory.current on v2",
        ),
        rss: figure(
            cgroup,
            "container_memory_rss",
            "memory.stat total_rss on v1, anon on v2",
        ),
        cache: figure(
            cgroup,
            "container_memory_cache",
            "memory.stat total_cache on v1, file on v2",
        ),
        own_cache: match cgroup.bytes("container_memory_cache") {
            Some(bytes) => Figure::known(
                bytes,
                "/metrics/cadvisor container_memory_cache (total_cache: for a container without child cgroups it equals the `cache` key Docker read)",
            ),
            None => Figure::missing("not available: this source exports no container_memory_cache"),
        },
        mapped_file: figure(
            cgroup,
            "container_memory_mapped_file",
            "memory.stat total_mapped_file on v1, file_mapped on v2",
        ),
        swap: figure(
            cgroup,
            "container_memory_swap",
            "memory.stat total_swap on v1, memory.swap.current on v2",
        ),
        shmem: Figure::missing("not available: cAdvisor does not export shmem"),
        active_file: figure(
            cgroup,
            "container_memory_total_active_file_bytes",
            "memory.stat total_active_file on v1, active_file on v2",
        ),
        inactive_file: figure(
            cgroup,
            "container_memory_total_inactive_file_bytes",
            "memory.stat total_inactive_file on v1, inactive_file on v2",
        ),
        kernel: match cgroup.bytes("container_memory_kernel_usage") {
            Some(bytes) => Figure::known(
                bytes,
                metric(
                    "container_memory_kernel_usage",
                    "memory.kmem.usage_in_bytes on v1, memory.stat kernel on v2",
                ),
            ),
            None => Figure::missing(
                "not available: this source exports no container_memory_kernel_usage",
            ),
        },
        limit,
        reported_working_set: cgroup
            .bytes("container_memory_working_set_bytes")
            .map(|bytes| {
                Figure::known(
                    bytes,
                    "/metrics/cadvisor container_memory_working_set_bytes",
                )
            }),
    }
}

/// Memory figures from the Summary alone, for a workload cAdvisor has no
/// series for.
fn memory_from_summary(
    stats: Option<&workingset_model::summary::MemoryStats>,
    what: &str,
) -> MemoryInputs {
    let why = format!(
        "not available: /metrics/cadvisor has no series for this {what}, and /stats/summary has no such figure"
    );
    let field = |value: Option<u64>, name: &str| match value {
        Some(bytes) => Figure::known(bytes, format!("/stats/summary {name}")),
        None => Figure::missing(why.clone()),
    };
    MemoryInputs {
        usage: field(stats.and_then(|s| s.usage_bytes), "memory.usageBytes"),
        rss: field(stats.and_then(|s| s.rss_bytes), "memory.rssBytes"),
        cache: Figure::missing(why.clone()),
        own_cache: Figure::missing(why.clone()),
        mapped_file: Figure::missing(why.clone()),
        swap: Figure::missing(why.clone()),
        shmem: Figure::missing(why.clone()),
        active_file: Figure::missing(why.clone()),
        inactive_file: Figure::missing(why.clone()),
        kernel: Figure::missing(why.clone()),
        limit: match stats.and_then(|s| Some((s.available_bytes?, s.working_set_bytes?))) {
            Some((available, ws)) => LimitFigure {
                bytes: Some(available.saturating_add(ws)),
                unlimited: false,
                source: "/stats/summary memory.availableBytes + memory.workingSetBytes".to_owned(),
            },
            None => LimitFigure {
                bytes: None,
                unlimited: true,
                source: "/stats/summary has no memory.availableBytes: no limit".to_owned(),
            },
        },
        reported_working_set: stats
            .and_then(|s| s.working_set_bytes)
            .map(|bytes| Figure::known(bytes, "/stats/summary memory.workingSetBytes")),
    }
}

fn rate_from_summary(
    stats: Option<&workingset_model::summary::CpuStats>,
    field: &str,
) -> RateInput {
    match stats.and_then(|s| s.usage_nano_cores) {
        Some(nanocores) => RateInput::Reported {
            nanocores,
            source: format!("/stats/summary {field}.usageNanoCores"),
        },
        None => RateInput::Unavailable {
            why: format!(
                "/stats/summary has no {field}.usageNanoCores yet (the source needs two of its own samples)"
            ),
        },
    }
}

fn cpu_from_cadvisor(cgroup: Option<&CadvisorCgroup>, rate: RateInput) -> CpuInputs {
    let Some(cgroup) = cgroup else {
        return CpuInputs {
            rate,
            throttling: None,
            quota: QuotaInput::Unknown {
                why: "not available: /metrics/cadvisor has no series for this cgroup".to_owned(),
            },
        };
    };
    let periods = cgroup.bytes("container_cpu_cfs_periods_total");
    let throttled = cgroup.bytes("container_cpu_cfs_throttled_periods_total");
    let throttled_seconds = cgroup
        .values
        .get("container_cpu_cfs_throttled_seconds_total")
        .copied();
    let throttling = match (periods, throttled, throttled_seconds) {
        (Some(periods), Some(throttled_periods), Some(seconds)) => Some(ThrottleInput {
            scope: ThrottleScope::SinceStart,
            periods,
            throttled_periods,
            throttled_ns: (seconds.max(0.0) * 1e9).round() as u64,
            source: "/metrics/cadvisor container_cpu_cfs_periods_total, container_cpu_cfs_throttled_periods_total, container_cpu_cfs_throttled_seconds_total (cAdvisor reads cpu.stat nr_periods, nr_throttled, throttled_time/throttled_usec)".to_owned(),
        }),
        _ => None,
    };
    let quota = match (
        cgroup.bytes("container_spec_cpu_quota"),
        cgroup.bytes("container_spec_cpu_period"),
    ) {
        (Some(quota_us), Some(period_us)) if quota_us > 0 => QuotaInput::Limited {
            quota_us,
            period_us,
            source: "/metrics/cadvisor container_spec_cpu_quota / container_spec_cpu_period".to_owned(),
        },
        (_, Some(_)) => QuotaInput::Unlimited {
            source: "/metrics/cadvisor has no container_spec_cpu_quota for this cgroup".to_owned(),
        },
        _ if throttling.is_some() => QuotaInput::Unknown {
            why: "this source exports no container_spec_cpu_quota; it does export throttling counters, which cAdvisor writes only for a cgroup with a quota".to_owned(),
        },
        _ => QuotaInput::Unknown {
            why: "this source exports no container_spec_cpu_quota (and no throttling counters, which cAdvisor writes only for a cgroup with a quota: most likely no CPU limit)".to_owned(),
        },
    };
    CpuInputs {
        rate,
        throttling,
        quota,
    }
}

fn is_child(parent: &str, child: &str) -> bool {
    child
        .strip_prefix(parent)
        .is_some_and(|rest| rest.starts_with('/') && !rest[1..].contains('/'))
}

/// The newest of several series for one container (a restarted container
/// may leave its old cgroup for a while).
fn newest<'a>(cgroups: impl Iterator<Item = &'a CadvisorCgroup>) -> Option<&'a CadvisorCgroup> {
    cgroups.max_by(|a, b| {
        let start = |c: &CadvisorCgroup| {
            c.values
                .get("container_start_time_seconds")
                .copied()
                .unwrap_or(0.0)
        };
        start(a).total_cmp(&start(b))
    })
}

fn container_inputs(
    stats: &ContainerStats,
    series: Option<&CadvisorCgroup>,
    field: &str,
) -> CgroupInputs {
    let memory = match series {
        Some(series) => memory_from_cadvisor(series),
        None => memory_from_summary(stats.memory.as_ref(), "container"),
    };
    CgroupInputs {
        name: stats.name.clone(),
        cgroup: series.map(|s| s.id.clone()),
        memory,
        cpu: cpu_from_cadvisor(series, rate_from_summary(stats.cpu.as_ref(), field)),
    }
}

/// The host figures a node's endpoints give: only the machine's memory.
fn host_from(cadvisor: &Cadvisor) -> HostMemory {
    let why = "not available from the node's endpoints (they export only machine_memory_bytes); run `workingset explain` on the node itself to see /proc/meminfo";
    let total = match cadvisor.machine_memory_bytes {
        Some(bytes) => Figure::known(
            bytes,
            "/metrics/cadvisor machine_memory_bytes (cAdvisor reads /proc/meminfo MemTotal)",
        ),
        None => Figure::missing(why),
    };
    HostMemory::total_only(total, why)
}

/// The pod `query` asks for, from a node's endpoints.
pub fn pod_inputs(
    source: SourceInputs,
    cadvisor: &Cadvisor,
    summary: &Summary,
    query: &PodQuery,
) -> Result<PodInputs, LookupError> {
    let candidates: Vec<Candidate<'_>> = summary
        .pods
        .iter()
        .map(|p| Candidate {
            namespace: &p.pod_ref.namespace,
            name: &p.pod_ref.name,
        })
        .collect();
    let index = lookup::find_pod(&candidates, &query.name, query.namespace.as_deref())?;
    let Some(pod) = summary.pods.get(index) else {
        return Err(LookupError::PodNotFound {
            name: query.name.clone(),
            namespace: query.namespace.clone(),
            close: Vec::new(),
        });
    };
    check_container(pod, query)?;
    Ok(pod_from(source, cadvisor, summary, pod, query))
}

fn check_container(pod: &PodStats, query: &PodQuery) -> Result<(), LookupError> {
    let Some(container) = &query.container else {
        return Ok(());
    };
    if pod.containers.iter().any(|c| &c.name == container) {
        return Ok(());
    }
    let mut containers: Vec<String> = pod.containers.iter().map(|c| c.name.clone()).collect();
    containers.sort();
    Err(LookupError::ContainerNotFound {
        container: container.clone(),
        pod: format!("{}/{}", pod.pod_ref.namespace, pod.pod_ref.name),
        containers,
    })
}

fn pod_from(
    source: SourceInputs,
    cadvisor: &Cadvisor,
    summary: &Summary,
    pod: &PodStats,
    query: &PodQuery,
) -> PodInputs {
    let namespace = &pod.pod_ref.namespace;
    let name = &pod.pod_ref.name;
    let uid = (!pod.pod_ref.uid.is_empty()).then(|| pod.pod_ref.uid.clone());
    // cAdvisor labels Kubernetes cgroups with the pod's identity.
    let labelled: Vec<&CadvisorCgroup> = cadvisor
        .cgroups
        .values()
        .filter(|c| &c.namespace == namespace && &c.pod == name)
        .collect();
    let kubernetes = uid.is_some() || !labelled.is_empty();

    let mut containers: Vec<&ContainerStats> = pod.containers.iter().collect();
    containers.sort_by(|a, b| a.name.cmp(&b.name));
    let series_of = |container: &ContainerStats| {
        if kubernetes {
            newest(
                labelled
                    .iter()
                    .copied()
                    .filter(|c| c.container == container.name),
            )
        } else {
            // Outside Kubernetes cAdvisor names the cgroup by its runtime name only.
            newest(
                cadvisor
                    .cgroups
                    .values()
                    .filter(|c| c.namespace.is_empty() && c.name == container.name),
            )
        }
    };
    let container_series: Vec<Option<&CadvisorCgroup>> =
        containers.iter().map(|c| series_of(c)).collect();
    let container_inputs: Vec<CgroupInputs> = containers
        .iter()
        .zip(&container_series)
        .map(|(c, series)| container_inputs(c, *series, "pods[].containers[].cpu"))
        .collect();

    // The pod cgroup: the labelled cgroup without a container name that is
    // the parent of the containers' cgroups (or whose path names the UID).
    let unnamed: Vec<&CadvisorCgroup> = labelled
        .iter()
        .copied()
        .filter(|c| c.container.is_empty() || c.container == "POD")
        .collect();
    let pod_series = unnamed
        .iter()
        .copied()
        .find(|candidate| {
            container_series
                .iter()
                .flatten()
                .any(|c| is_child(&candidate.id, &c.id))
        })
        .or_else(|| {
            let uid = uid.as_deref()?;
            let underscored = uid.replace('-', "_");
            unnamed.iter().copied().find(|c| {
                let leaf = c.id.rsplit('/').next().unwrap_or(&c.id);
                leaf.contains(uid) || leaf.contains(&underscored)
            })
        });
    let sandboxes: Vec<CgroupInputs> = unnamed
        .iter()
        .copied()
        .filter(|c| pod_series.is_none_or(|p| p.id != c.id))
        .filter(|c| pod_series.is_none_or(|p| is_child(&p.id, &c.id)) || c.container == "POD")
        .map(|c| CgroupInputs {
            name: if c.name.is_empty() {
                "pause".to_owned()
            } else {
                format!("pause ({})", short(&c.name))
            },
            cgroup: Some(c.id.clone()),
            memory: memory_from_cadvisor(c),
            cpu: cpu_from_cadvisor(
                Some(c),
                RateInput::Unavailable {
                    why: "/stats/summary does not list the sandbox".to_owned(),
                },
            ),
        })
        .collect();
    let sandbox_note = (kubernetes && sandboxes.is_empty()).then(|| {
        "This source does not report the pause container on its own (a `workingset agent` leaves it out of /metrics/cadvisor; a kubelet lists it with container=\"\" or \"POD\"), so it is part of the overhead here.".to_owned()
    });

    let pod_cgroup = if kubernetes {
        match pod_series {
            Some(series) => Some(CgroupInputs {
                name: name.clone(),
                cgroup: Some(series.id.clone()),
                memory: memory_from_cadvisor(series),
                cpu: cpu_from_cadvisor(
                    Some(series),
                    rate_from_summary(pod.cpu.as_ref(), "pods[].cpu"),
                ),
            }),
            None if pod.memory.is_some() => Some(CgroupInputs {
                name: name.clone(),
                cgroup: None,
                memory: memory_from_summary(pod.memory.as_ref(), "pod"),
                cpu: cpu_from_cadvisor(None, rate_from_summary(pod.cpu.as_ref(), "pods[].cpu")),
            }),
            None => None,
        }
    } else {
        None
    };
    let pod_cgroup_note = (kubernetes && pod_cgroup.is_none())
        .then(|| "this source reports no figures for the pod cgroup".to_owned());

    PodInputs {
        source,
        node: summary.node.node_name.clone(),
        namespace: namespace.clone(),
        name: name.clone(),
        uid,
        kubernetes,
        containers: container_inputs,
        only_container: query.container.clone(),
        sandboxes,
        sandbox_note,
        pod_cgroup,
        pod_cgroup_note,
        host: host_from(cadvisor),
    }
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

fn part_from_cadvisor(cgroup: &CadvisorCgroup, name: &str) -> PartInputs {
    PartInputs {
        name: name.to_owned(),
        cgroup: cgroup.id.clone(),
        working_set: cgroup.bytes("container_memory_working_set_bytes"),
        usage: cgroup.bytes("container_memory_usage_bytes"),
        cache: cgroup.bytes("container_memory_cache"),
        source: "/metrics/cadvisor container_memory_working_set_bytes, container_memory_usage_bytes, container_memory_cache".to_owned(),
    }
}

/// The node, from its endpoints. `name` is checked against the Summary's
/// node name when given.
pub fn node_inputs(
    source: SourceInputs,
    cadvisor: &Cadvisor,
    summary: &Summary,
    name: Option<&str>,
) -> Result<NodeInputs, LookupError> {
    let node = &summary.node;
    if let Some(name) = name
        && name != node.node_name
    {
        return Err(LookupError::NodeNotFound {
            name: name.to_owned(),
            available: vec![node.node_name.clone()],
        });
    }
    let root_series = cadvisor.cgroups.get("/");
    let memory = match root_series {
        Some(series) => {
            let mut memory = memory_from_cadvisor(series);
            if memory.reported_working_set.is_none() {
                memory.reported_working_set = node
                    .memory
                    .as_ref()
                    .and_then(|m| m.working_set_bytes)
                    .map(|b| Figure::known(b, "/stats/summary node.memory.workingSetBytes"));
            }
            memory
        }
        None => memory_from_summary(node.memory.as_ref(), "node"),
    };
    let root = CgroupInputs {
        name: node.node_name.clone(),
        cgroup: Some("/".to_owned()),
        memory,
        cpu: cpu_from_cadvisor(
            root_series,
            rate_from_summary(node.cpu.as_ref(), "node.cpu"),
        ),
    };
    let top_level: Vec<PartInputs> = cadvisor
        .cgroups
        .values()
        .filter(|c| c.id.len() > 1 && c.id.starts_with('/') && !c.id[1..].contains('/'))
        .map(|c| part_from_cadvisor(c, &c.id[1..]))
        .collect();
    let pods_cgroup = ["/kubepods", "/kubepods.slice"]
        .iter()
        .find_map(|id| cadvisor.cgroups.get(*id))
        .map(|c| part_from_cadvisor(c, "kubepods"));
    let system: Vec<PartInputs> = node
        .system_containers
        .iter()
        .map(|c| {
            let memory = c.memory.as_ref();
            PartInputs {
                name: c.name.clone(),
                cgroup: format!("(system container {:?})", c.name),
                working_set: memory.and_then(|m| m.working_set_bytes),
                usage: memory.and_then(|m| m.usage_bytes),
                cache: None,
                source: format!(
                    "/stats/summary node.systemContainers[name={:?}].memory",
                    c.name
                ),
            }
        })
        .collect();
    let containers = summary.pods.iter().flat_map(|p| p.containers.iter());
    let containers_working_set = containers
        .clone()
        .filter_map(|c| c.memory.as_ref().and_then(|m| m.working_set_bytes))
        .fold(0u64, u64::saturating_add);
    Ok(NodeInputs {
        source,
        name: node.node_name.clone(),
        root,
        cpus: cadvisor.machine_cpu_cores,
        host: host_from(cadvisor),
        top_level,
        pods_cgroup,
        system,
        containers_working_set,
        container_count: containers.count(),
        pod_count: summary.pods.len(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const CADVISOR: &str = r#"# TYPE container_memory_usage_bytes gauge
container_memory_usage_bytes{container="",id="/",image="",name="",namespace="",pod=""} 1000 1
container_memory_usage_bytes{container="",id="/kubepods/pod1",image="",name="",namespace="ns",pod="p"} 700 1
container_memory_usage_bytes{container="app",id="/kubepods/pod1/aaa",image="",name="aaa",namespace="ns",pod="p"} 500 1
container_memory_usage_bytes{container="",id="/kubepods/pod1/bbb",image="pause",name="bbb",namespace="ns",pod="p"} 100 1
container_memory_total_inactive_file_bytes{container="app",id="/kubepods/pod1/aaa",image="",name="aaa",namespace="ns",pod="p"} 200 1
container_cpu_usage_seconds_total{container="app",cpu="total",id="/kubepods/pod1/aaa",image="",name="aaa",namespace="ns",pod="p"} 2.5 1
container_cpu_usage_seconds_total{container="app",cpu="cpu00",id="/kubepods/pod1/aaa",image="",name="aaa",namespace="ns",pod="p"} 1 1
machine_memory_bytes{boot_id="",machine_id="",system_uuid=""} 4096
"#;

    #[test]
    fn cadvisor_groups_series_by_cgroup() {
        let c = parse_cadvisor(CADVISOR).unwrap();
        assert_eq!(c.machine_memory_bytes, Some(4096));
        let app = &c.cgroups["/kubepods/pod1/aaa"];
        assert_eq!(app.container, "app");
        assert_eq!(app.values["container_cpu_usage_seconds_total"], 2.5);
        let memory = memory_from_cadvisor(app);
        assert_eq!(memory.usage.bytes, Some(500));
        assert_eq!(memory.inactive_file.bytes, Some(200));
        assert!(memory.usage.source.contains("memory.usage_in_bytes"));
        assert_eq!(memory.rss.bytes, None);
    }

    #[test]
    fn pod_cgroup_and_sandbox_are_told_apart() {
        let cadvisor = parse_cadvisor(CADVISOR).unwrap();
        let summary: Summary = serde_json::from_str(
            r#"{"node":{"nodeName":"n1"},"pods":[{"podRef":{"name":"p","namespace":"ns","uid":"1"},"containers":[{"name":"app","cpu":{"time":"2025-01-01T00:00:00Z","usageNanoCores":5000000}}]}]}"#,
        )
        .unwrap();
        let source = SourceInputs {
            mode: crate::inputs::Mode::Agent,
            endpoint: Some("http://x".to_owned()),
            hierarchy: crate::inputs::Hierarchy::Unknown,
            window: None,
        };
        let query = PodQuery {
            name: "p".to_owned(),
            namespace: None,
            container: None,
        };
        let pod = pod_inputs(source.clone(), &cadvisor, &summary, &query).unwrap();
        assert!(pod.kubernetes);
        assert_eq!(
            pod.pod_cgroup.as_ref().unwrap().cgroup.as_deref(),
            Some("/kubepods/pod1")
        );
        assert_eq!(pod.sandboxes.len(), 1);
        assert_eq!(
            pod.sandboxes[0].cgroup.as_deref(),
            Some("/kubepods/pod1/bbb")
        );
        assert_eq!(
            pod.containers[0].cpu.rate,
            RateInput::Reported {
                nanocores: 5_000_000,
                source: "/stats/summary pods[].containers[].cpu.usageNanoCores".to_owned()
            }
        );
        let bad = PodQuery {
            container: Some("nope".to_owned()),
            ..query
        };
        let err = pod_inputs(source, &cadvisor, &summary, &bad).unwrap_err();
        assert!(err.to_string().contains("its containers are: app"), "{err}");
    }
}
