//! `workingset explain` on this machine: two sampling passes `--window` apart (the
//! same sampler and names as `workingset top`), plus the few files the
//! sampler does not keep — extra `memory.stat` keys, the pause
//! containers of the pod, the cgroups directly below the root.

use std::thread;
use std::time::{Duration, Instant};

use workingset_cgroup::{Cgroups, Controller, CpuStats, MemoryStats, Reader};
use workingset_explain::ExplainError;
use workingset_explain::inputs::{
    self, CgroupInputs, CpuInputs, ExtraMemoryStat, Hierarchy, HostMemory, Mode, NodeInputs,
    PartInputs, PodInputs, QuotaInput, RateInput, SourceInputs,
};
use workingset_explain::kubelet::PodQuery;
use workingset_explain::lookup::{self, Candidate, LookupError};
use workingset_sampling::discovery::{self, CgroupKind};
use workingset_sampling::inventory::Inventory;
use workingset_sampling::procs;
use workingset_sampling::sampler::{self, CpuCounter, PodSample, Sampler, Snapshot, WorkloadKind};

use crate::{LocalMachine, open_cgroups, sample_pass};

/// The machine, opened once.
struct Machine {
    cgroups: Cgroups,
    reader: Reader,
    sampler: Sampler,
    inventory: Inventory,
    proc_root: std::path::PathBuf,
}

impl Machine {
    fn open(machine: &LocalMachine) -> Result<Machine, ExplainError> {
        let cgroups = open_cgroups(&machine.cgroups)?;
        let inventory = machine.names.inventory();
        Ok(Machine {
            reader: cgroups.reader(),
            sampler: Sampler::new(&cgroups),
            proc_root: machine.cgroups.proc_root.clone(),
            cgroups,
            inventory,
        })
    }

    fn sample(&mut self, which: &'static str) -> Result<Snapshot, ExplainError> {
        Ok(sample_pass(&mut self.sampler, &self.inventory, which)?)
    }

    fn hierarchy(&self) -> Hierarchy {
        if self.cgroups.hierarchy().is_v2() {
            Hierarchy::V2
        } else {
            Hierarchy::V1
        }
    }

    /// The `memory.stat` keys the reader does not keep; none if unreadable
    /// (the cgroup may have gone since the pass).
    fn extra(&self, cgroup: &str) -> ExtraMemoryStat {
        let v2 = self.cgroups.hierarchy().is_v2();
        self.cgroups
            .dir(Controller::Memory, cgroup)
            .ok()
            .flatten()
            .and_then(|dir| std::fs::read_to_string(dir.join("memory.stat")).ok())
            .map(|text| ExtraMemoryStat::parse(&text, v2))
            .unwrap_or_default()
    }

    fn memory(&self, stats: &MemoryStats, cgroup: &str) -> inputs::MemoryInputs {
        inputs::memory_from_cgroup(stats, &self.extra(cgroup))
    }

    fn source(&self, window: Duration) -> SourceInputs {
        SourceInputs {
            mode: Mode::Local,
            endpoint: None,
            hierarchy: self.hierarchy(),
            window: Some(window),
        }
    }
}

fn cpu(before: Option<&CpuCounter>, after: &CpuCounter, window: Duration) -> CpuInputs {
    match (before, after) {
        (Some(CpuCounter::Cgroup(b)), CpuCounter::Cgroup(a)) => {
            inputs::cpu_from_cgroup(Some(b), a, window)
        }
        (None, CpuCounter::Cgroup(a)) => inputs::cpu_from_cgroup(None, a, window),
        (Some(CpuCounter::Processes(b)), CpuCounter::Processes(a)) => CpuInputs {
            rate: RateInput::Counters {
                before_ns: b.usage_ns,
                after_ns: a.usage_ns,
                window,
                source: "utime + stime in /proc/<pid>/stat of the cgroup's processes (this cgroup has no CPU accounting directory of its own)".to_owned(),
            },
            throttling: None,
            quota: QuotaInput::Unknown {
                why: "this cgroup has no cpu controller directory".to_owned(),
            },
        },
        _ => CpuInputs {
            rate: RateInput::Unavailable {
                why: "the cgroup changed how its CPU is accounted between the two samples".to_owned(),
            },
            throttling: None,
            quota: QuotaInput::Unknown {
                why: "this cgroup has no cpu controller directory".to_owned(),
            },
        },
    }
}

fn candidates(snapshot: &Snapshot) -> Vec<Candidate<'_>> {
    snapshot
        .pods
        .iter()
        .map(|p| Candidate {
            namespace: &p.key.namespace,
            name: &p.key.name,
        })
        .collect()
}

fn find<'a>(snapshot: &'a Snapshot, query: &PodQuery) -> Result<&'a PodSample, LookupError> {
    let index = lookup::find_pod(
        &candidates(snapshot),
        &query.name,
        query.namespace.as_deref(),
    )?;
    let pod = snapshot
        .pods
        .get(index)
        .ok_or_else(|| LookupError::PodNotFound {
            name: query.name.clone(),
            namespace: query.namespace.clone(),
            close: Vec::new(),
        })?;
    if let Some(container) = &query.container
        && !pod.containers.iter().any(|c| &c.name == container)
    {
        let mut containers: Vec<String> = pod.containers.iter().map(|c| c.name.clone()).collect();
        containers.sort();
        return Err(LookupError::ContainerNotFound {
            container: container.clone(),
            pod: format!("{}/{}", pod.key.namespace, pod.key.name),
            containers,
        });
    }
    Ok(pod)
}

/// A pause container, read at one instant.
struct SandboxReading {
    name: String,
    cgroup: String,
    memory: MemoryStats,
    cpu: Option<CpuStats>,
}

impl Machine {
    /// The pod's sandbox (pause) cgroups: children of the pod cgroup that
    /// are containers but not app containers.
    fn sandboxes(&mut self, pod: &PodSample) -> Vec<SandboxReading> {
        if !matches!(pod.kind, WorkloadKind::KubernetesPod(_)) {
            return Vec::new();
        }
        let Ok(children) = self.reader.children(&pod.cgroup) else {
            return Vec::new();
        };
        let mut found = Vec::new();
        for child in children {
            let path = format!("{}/{child}", pod.cgroup.trim_end_matches('/'));
            let CgroupKind::PodContainer { id, .. } = discovery::classify(&path) else {
                continue;
            };
            if pod.containers.iter().any(|c| c.cgroup == path) {
                continue;
            }
            let is_sandbox = match self.inventory.containers.get(id) {
                Some(info) => info.sandbox,
                None => {
                    let procs_text = self
                        .cgroups
                        .dir(Controller::Memory, &path)
                        .ok()
                        .flatten()
                        .and_then(|d| std::fs::read_to_string(d.join("cgroup.procs")).ok())
                        .unwrap_or_default();
                    procs::is_pause(&self.proc_root, &procs_text)
                }
            };
            if !is_sandbox {
                continue;
            }
            let Ok(memory) = self.reader.memory(&path) else {
                continue;
            };
            found.push(SandboxReading {
                name: format!("pause ({})", discovery::short_id(id)),
                cpu: self.reader.cpu(&path).ok(),
                cgroup: path,
                memory,
            });
        }
        found
    }
}

/// `explain pod` on this machine.
pub fn pod(args: &LocalMachine, query: &PodQuery) -> Result<PodInputs, ExplainError> {
    let mut machine = Machine::open(args)?;
    let earlier = machine.sample("first")?;
    // Not found is said before the window is waited out.
    let key = find(&earlier, query)?.key.clone();
    let sandboxes_before = {
        let pod = find(&earlier, query)?.clone();
        machine.sandboxes(&pod)
    };
    let started = Instant::now();
    thread::sleep(args.window);
    let later = machine.sample("second")?;
    let window = sampler::window(&earlier, &later);
    let exact = PodQuery {
        name: key.name.clone(),
        namespace: Some(key.namespace.clone()),
        container: query.container.clone(),
    };
    let pod = find(&later, &exact)?;
    let sandboxes_after = machine.sandboxes(pod);
    tracing::debug!(elapsed = ?started.elapsed(), "Sampled twice");

    let before_of = |cgroup: &str| {
        earlier
            .pods
            .iter()
            .flat_map(|p| p.containers.iter())
            .find(|c| c.cgroup == cgroup)
            .map(|c| &c.cpu)
    };
    let mut containers: Vec<CgroupInputs> = pod
        .containers
        .iter()
        .map(|c| CgroupInputs {
            name: c.name.clone(),
            cgroup: Some(c.cgroup.clone()),
            memory: machine.memory(&c.memory, &c.cgroup),
            cpu: cpu(before_of(&c.cgroup), &c.cpu, window),
        })
        .collect();
    containers.sort_by(|a, b| a.name.cmp(&b.name));

    let kubernetes = matches!(pod.kind, WorkloadKind::KubernetesPod(_));
    let pod_cgroup = pod.pod_cgroup.as_ref().map(|sample| {
        let before = earlier
            .pods
            .iter()
            .filter_map(|p| p.pod_cgroup.as_ref())
            .find(|c| c.cgroup == sample.cgroup)
            .map(|c| &c.cpu);
        CgroupInputs {
            name: pod.key.name.clone(),
            cgroup: Some(sample.cgroup.clone()),
            memory: machine.memory(&sample.memory, &sample.cgroup),
            cpu: cpu(before, &sample.cpu, window),
        }
    });
    let sandboxes: Vec<CgroupInputs> = sandboxes_after
        .iter()
        .map(|after| {
            let before = sandboxes_before
                .iter()
                .find(|b| b.cgroup == after.cgroup)
                .and_then(|b| b.cpu.as_ref());
            CgroupInputs {
                name: after.name.clone(),
                cgroup: Some(after.cgroup.clone()),
                memory: machine.memory(&after.memory, &after.cgroup),
                cpu: match &after.cpu {
                    Some(now) => inputs::cpu_from_cgroup(before, now, window),
                    None => CpuInputs {
                        rate: RateInput::Unavailable {
                            why: "the sandbox has no CPU accounting directory".to_owned(),
                        },
                        throttling: None,
                        quota: QuotaInput::Unknown {
                            why: "the sandbox has no cpu controller directory".to_owned(),
                        },
                    },
                },
            }
        })
        .collect();
    let sandbox_note = (kubernetes && sandboxes.is_empty()).then(|| {
        "No pause container was found below the pod cgroup (the runtime did not name one, and no child runs only `pause`).".to_owned()
    });
    let pod_cgroup_note =
        (kubernetes && pod_cgroup.is_none()).then(|| format!("{} could not be read", pod.cgroup));
    Ok(PodInputs {
        source: machine.source(window),
        node: args.node_name.clone(),
        namespace: pod.key.namespace.clone(),
        name: pod.key.name.clone(),
        uid: pod.uid.clone(),
        kubernetes,
        containers,
        only_container: query.container.clone(),
        sandboxes,
        sandbox_note,
        pod_cgroup,
        pod_cgroup_note,
        host: HostMemory::from_meminfo(
            &later.node.meminfo,
            &args.cgroups.proc_root.join("meminfo").display().to_string(),
        ),
    })
}

/// `explain node` on this machine.
pub fn node(args: &LocalMachine, name: Option<&str>) -> Result<NodeInputs, ExplainError> {
    let node_name = args.node_name.clone();
    if let Some(name) = name
        && name != node_name
    {
        return Err(LookupError::NodeNotFound {
            name: name.to_owned(),
            available: vec![node_name],
        }
        .into());
    }
    let mut machine = Machine::open(args)?;
    let earlier = machine.sample("first")?;
    thread::sleep(args.window);
    let later = machine.sample("second")?;
    let window = sampler::window(&earlier, &later);
    let cgroup_root = args.cgroups.cgroup_root.clone();
    let root_path = format!("/{}", cgroup_root.trim_matches('/'));

    let root = CgroupInputs {
        name: node_name.clone(),
        cgroup: Some(root_path.clone()),
        memory: machine.memory(&later.node.memory, &root_path),
        cpu: inputs::cpu_from_cgroup(Some(&earlier.node.cpu), &later.node.cpu, window),
    };

    let part = |machine: &mut Machine, name: &str, cgroup: &str| -> Option<PartInputs> {
        let memory = machine.reader.memory(cgroup).ok()?;
        let source = format!(
            "{}, {}, {}",
            memory.source(workingset_cgroup::MemoryField::WorkingSet),
            memory.source(workingset_cgroup::MemoryField::Usage),
            memory.source(workingset_cgroup::MemoryField::Cache)
        );
        Some(PartInputs {
            name: name.to_owned(),
            cgroup: cgroup.to_owned(),
            working_set: Some(memory.working_set),
            usage: Some(memory.usage),
            cache: Some(memory.cache),
            source,
        })
    };
    let children = machine.reader.children(&root_path).map_err(|e| {
        ExplainError::failed(format!(
            "cannot list the cgroups below the cgroup root: {e}"
        ))
    })?;
    let mut top_level = Vec::new();
    for child in children {
        let path = if root_path == "/" {
            format!("/{child}")
        } else {
            format!("{root_path}/{child}")
        };
        if let Some(part) = part(&mut machine, &child, &path) {
            top_level.push(part);
        }
    }
    let sample_part = |name: &str, sample: &sampler::CgroupSample| PartInputs {
        name: name.to_owned(),
        cgroup: sample.cgroup.clone(),
        working_set: Some(sample.memory.working_set),
        usage: Some(sample.memory.usage),
        cache: Some(sample.memory.cache),
        source: format!(
            "{}, {}, {}",
            sample
                .memory
                .source(workingset_cgroup::MemoryField::WorkingSet),
            sample.memory.source(workingset_cgroup::MemoryField::Usage),
            sample.memory.source(workingset_cgroup::MemoryField::Cache)
        ),
    };
    let pods_cgroup = later
        .system
        .pods
        .as_ref()
        .map(|s| sample_part("kubepods", s));
    let mut system = Vec::new();
    if let Some(kubelet) = &later.system.kubelet {
        system.push(sample_part("kubelet", kubelet));
    }
    if let Some(runtime) = &later.system.runtime {
        system.push(sample_part("runtime", runtime));
    }
    let containers = later.pods.iter().flat_map(|p| p.containers.iter());
    let containers_working_set = containers
        .clone()
        .map(|c| c.memory.working_set)
        .fold(0u64, u64::saturating_add);

    Ok(NodeInputs {
        source: machine.source(window),
        name: node_name,
        root,
        cpus: Some(later.node.online_cpus),
        host: HostMemory::from_meminfo(
            &later.node.meminfo,
            &args.cgroups.proc_root.join("meminfo").display().to_string(),
        ),
        top_level,
        pods_cgroup,
        system,
        containers_working_set,
        container_count: containers.count(),
        pod_count: later.pods.len(),
    })
}
