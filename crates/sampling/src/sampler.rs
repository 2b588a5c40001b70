//! One pass over the machine: the node's figures and every workload's,
//! found by walking the cgroup tree below the cgroup root.
//!
//! A [`Snapshot`] is raw cumulative figures at one instant; two snapshots make
//! rates (see [`crate::metrics`]). Cgroups vanish while a pass runs on any
//! busy machine (containers exit): such a cgroup is dropped from that pass,
//! never an error. The walk is bounded in depth and in cgroups visited, so a
//! pathological tree cannot make a pass unbounded.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use workingset_cgroup::{
    Cgroups, Controller, CpuStats, Detail, Error as CgroupError, MemoryStats, NodeStats, Reader,
};
use workingset_model::metrics::{ObjectMeta, Time};
use workingset_model::rate;

use crate::discovery::{self, CgroupKind, QosClass, Runtime};
use crate::inventory::{Inventory, RuntimeKind};
use crate::procs;

/// Deepest cgroup nesting walked below the cgroup root.
const MAX_DEPTH: usize = 32;
/// Most cgroups visited in one pass.
const MAX_CGROUPS: usize = 200_000;

/// Why a pass could not produce a snapshot at all.
#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    /// The node's own figures (the cgroup root, `/proc/meminfo`, online CPUs)
    /// could not be read; without them there is nothing to show.
    #[error("cannot read the node's figures: {0}")]
    Node(#[source] CgroupError),
    /// The cgroup root could not be listed.
    #[error("cannot list the cgroups below the cgroup root: {0}")]
    Walk(#[source] CgroupError),
}

/// Where a workload's cumulative CPU counter comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CpuCounter {
    /// The cgroup's own counter (cpuacct.usage / cpu.stat usage_usec).
    Cgroup(CpuStats),
    /// The cgroup has no CPU accounting directory (on v1, cpuacct is not
    /// nested like memory): a counter built from its processes' ticks (see
    /// [`ProcessCpu`] and `docs/naming.md`).
    Processes(ProcessCpu),
}

impl CpuCounter {
    /// The cumulative CPU time in nanoseconds: what the kubelet formats
    /// serve as `usageCoreNanoSeconds` and rates are taken of.
    pub fn usage_ns(&self) -> u64 {
        match self {
            Self::Cgroup(stats) => stats.usage_ns,
            Self::Processes(processes) => processes.usage_ns,
        }
    }

    /// The rate in nanocores since `before`, read `window` earlier; `None`
    /// when the cgroup changed how its CPU is accounted in between (not the
    /// same counter) or the counter went down.
    pub fn nanocores_since(&self, before: &CpuCounter, window: Duration) -> Option<u64> {
        if std::mem::discriminant(self) != std::mem::discriminant(before) {
            return None;
        }
        rate::nanocores_over(before.usage_ns(), self.usage_ns(), window)
    }
}

/// A cumulative CPU counter for a cgroup without CPU accounting, kept by
/// the [`Sampler`] across passes so that local `top` and the agent give the
/// same figure: it starts, the first time the sampler sees the cgroup, at
/// the ticks its processes have used so far, and each pass adds what the
/// processes present in both passes used in between (a process that came
/// or went during the window is not counted for it, as in
/// [`procs::cpu_ns_between`]). It never goes down, so a server rates it
/// like any cgroup counter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcessCpu {
    /// The counter, nanoseconds.
    pub usage_ns: u64,
}

/// What the sampler keeps of a [`ProcessCpu`] for the next pass: the
/// counter and the per-pid ticks it was last advanced to.
#[derive(Debug)]
struct ProcessTicks {
    /// utime + stime ticks per pid.
    ticks: BTreeMap<u32, u64>,
    /// The counter, nanoseconds.
    usage_ns: u64,
}

/// How a workload is named (see `docs/naming.md`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PodKey {
    /// NAMESPACE column.
    pub namespace: String,
    /// POD / NAME column.
    pub name: String,
}

/// What kind of workload a pod row stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkloadKind {
    /// A Kubernetes pod.
    KubernetesPod(QosClass),
    /// A container outside Kubernetes.
    Container(Runtime),
    /// A systemd unit.
    SystemdUnit,
    /// Any other active leaf cgroup.
    Cgroup,
}

/// One container's raw figures.
#[derive(Debug, Clone)]
pub struct ContainerSample {
    /// Container name (see `docs/naming.md`).
    pub name: String,
    /// Full container id, when the cgroup is a runtime's container.
    pub id: Option<String>,
    /// Image, when runtime metadata tells it.
    pub image: Option<String>,
    /// When the container started: runtime metadata, else the cgroup
    /// directory's modification time.
    pub started: Option<Time>,
    /// Cgroup path relative to the hierarchy root.
    pub cgroup: String,
    /// Memory figures.
    pub memory: MemoryStats,
    /// Cumulative CPU.
    pub cpu: CpuCounter,
}

/// Memory and CPU of one cgroup that is not itself a container.
#[derive(Debug, Clone)]
pub struct CgroupSample {
    /// Cgroup path relative to the hierarchy root.
    pub cgroup: String,
    /// Memory figures.
    pub memory: MemoryStats,
    /// Cumulative CPU.
    pub cpu: CpuCounter,
    /// The cgroup directory's modification time.
    pub started: Option<Time>,
}

/// The kubelet's system containers that could be identified on this node.
#[derive(Debug, Clone, Default)]
pub struct SystemContainers {
    /// `kubepods` / `kubepods.slice`: all pods together.
    pub pods: Option<CgroupSample>,
    /// The kubelet's own cgroup (`kubelet.service`), when it is one.
    pub kubelet: Option<CgroupSample>,
    /// The container runtime's cgroup (`containerd.service`,
    /// `docker.service`, `crio.service`), when it is one.
    pub runtime: Option<CgroupSample>,
}

/// One pod (or pod-like workload) and its containers.
#[derive(Debug, Clone)]
pub struct PodSample {
    /// Namespace and name.
    pub key: PodKey,
    /// What it is.
    pub kind: WorkloadKind,
    /// The pod cgroup (for non-pods: the workload's own cgroup).
    pub cgroup: String,
    /// Pod UID for Kubernetes pods.
    pub uid: Option<String>,
    /// Labels (from runtime metadata; empty until that exists).
    pub labels: BTreeMap<String, String>,
    /// When the cgroup appeared (its directory's modification time), the best
    /// creation time a machine without an API server has.
    pub created: Option<Time>,
    /// Containers, pause excluded.
    pub containers: Vec<ContainerSample>,
    /// The pod cgroup's own figures (Kubernetes pods only): they include the
    /// pause container and pod overhead, as the kubelet's pod-level figures do.
    pub pod_cgroup: Option<CgroupSample>,
}

impl PodSample {
    /// The workload as an API object's metadata: name, namespace, UID,
    /// creation time and labels.
    pub fn object_meta(&self) -> ObjectMeta {
        ObjectMeta {
            name: self.key.name.clone(),
            namespace: self.key.namespace.clone(),
            uid: self.uid.clone().unwrap_or_default(),
            creation_timestamp: self.created,
            labels: self.labels.clone().into(),
        }
    }
}

/// The node and every workload at one instant.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Wall-clock time of the pass.
    pub time: Time,
    /// Monotonic time of the pass, for rates.
    pub instant: Instant,
    /// The node's figures.
    pub node: NodeStats,
    /// Workloads, in walk order.
    pub pods: Vec<PodSample>,
    /// `pods`, `kubelet`, `runtime` system containers.
    pub system: SystemContainers,
}

/// Reads snapshots of one machine.
#[derive(Debug)]
pub struct Sampler {
    reader: Reader,
    proc_root: PathBuf,
    cgroup_root: String,
    /// The per-process counters of the previous pass, by cgroup path.
    process_cpu: HashMap<String, ProcessTicks>,
    /// The ones of the pass running now.
    process_cpu_now: HashMap<String, ProcessTicks>,
    /// Creation times looked up in the previous pass, by cgroup path.
    created_before: HashMap<String, Option<Time>>,
    /// The ones looked up or carried over in the pass running now.
    created_now: HashMap<String, Option<Time>>,
}

impl Sampler {
    /// A sampler over the detected cgroup filesystem.
    pub fn new(cgroups: &Cgroups) -> Self {
        let config = cgroups.config();
        Self {
            proc_root: config.proc_root.clone(),
            cgroup_root: normalise(&config.cgroup_root),
            reader: cgroups.reader(),
            process_cpu: HashMap::new(),
            process_cpu_now: HashMap::new(),
            created_before: HashMap::new(),
            created_now: HashMap::new(),
        }
    }

    /// Reads `detail` of every cgroup from now on ([`Detail::Full`] at
    /// first): `top` needs only [`Detail::Usage`].
    pub fn set_detail(&mut self, detail: Detail) {
        self.reader.set_detail(detail);
    }

    /// One full pass, naming workloads from their cgroup paths only.
    pub fn sample(&mut self) -> Result<Snapshot, SampleError> {
        self.sample_with(&Inventory::default())
    }

    /// One full pass, naming workloads from what the container runtimes
    /// reported (`inventory`) where they know a cgroup, from its path where
    /// they do not (see `docs/naming.md`).
    pub fn sample_with(&mut self, inventory: &Inventory) -> Result<Snapshot, SampleError> {
        let instant = Instant::now();
        let time = Time(jiff::Timestamp::now());
        let node = self.reader.node().map_err(SampleError::Node)?;
        let mut walk = Walk {
            inventory,
            sampler: self,
            pods: Vec::new(),
            system: SystemContainers::default(),
            visited: 0,
        };
        let root = walk.sampler.cgroup_root.clone();
        walk.visit_children(&root, 0).map_err(SampleError::Walk)?;
        let Walk { pods, system, .. } = walk;
        // Cgroups not seen in this pass are gone: their counters with them.
        self.process_cpu = std::mem::take(&mut self.process_cpu_now);
        self.created_before = std::mem::take(&mut self.created_now);
        Ok(Snapshot {
            time,
            instant,
            node,
            pods,
            system,
        })
    }

    /// A non-container cgroup's figures, `None` if it vanished.
    fn read_cgroup(&mut self, cgroup: &str) -> Option<CgroupSample> {
        let (memory, cpu) = self.read_workload(cgroup)?;
        Some(CgroupSample {
            cgroup: cgroup.to_owned(),
            memory,
            cpu,
            started: self.created(cgroup),
        })
    }

    /// Memory and CPU of one cgroup; `None` when it vanished or cannot be
    /// read (logged), so the pass goes on.
    fn read_workload(&mut self, cgroup: &str) -> Option<(MemoryStats, CpuCounter)> {
        let memory = match self.reader.memory(cgroup) {
            Ok(memory) => memory,
            Err(error) => {
                log_skip(cgroup, &error);
                return None;
            }
        };
        let cpu = match self.reader.cpu(cgroup) {
            Ok(cpu) => CpuCounter::Cgroup(cpu),
            // On v1 the CPU hierarchies may simply not have this cgroup.
            Err(error) if error.is_gone() || matches!(error, CgroupError::Missing { .. }) => {
                CpuCounter::Processes(self.process_cpu(cgroup))
            }
            Err(error) => {
                log_skip(cgroup, &error);
                return None;
            }
        };
        Some((memory, cpu))
    }

    /// The per-process counter of `cgroup` now (see [`ProcessCpu`]).
    fn process_cpu(&mut self, cgroup: &str) -> ProcessCpu {
        if let Some(now) = self.process_cpu_now.get(cgroup) {
            // Read twice in one pass (a system container that is also a
            // workload): one reading, so both agree.
            return ProcessCpu {
                usage_ns: now.usage_ns,
            };
        }
        let procs = self.procs_text(cgroup);
        let ticks = procs::cpu_ticks(&self.proc_root, &procs);
        let usage_ns = match self.process_cpu.get(cgroup) {
            Some(before) => before
                .usage_ns
                .saturating_add(procs::cpu_ns_between(&before.ticks, &ticks)),
            None => procs::cpu_ns_total(&ticks),
        };
        self.process_cpu_now
            .insert(cgroup.to_owned(), ProcessTicks { ticks, usage_ns });
        ProcessCpu { usage_ns }
    }

    /// The text of the cgroup's `cgroup.procs` (empty if unreadable).
    fn procs_text(&mut self, cgroup: &str) -> String {
        self.reader.procs(cgroup).ok().flatten().unwrap_or_default()
    }

    /// When the cgroup was made, as its directory's time says: looked up
    /// once per cgroup while it lives (a `stat` per cgroup and pass was a
    /// twentieth of a pass).
    fn created(&mut self, cgroup: &str) -> Option<Time> {
        if let Some(known) = self.created_now.get(cgroup) {
            return *known;
        }
        let known = match self.created_before.remove(cgroup) {
            Some(known) => known,
            None => self.created_from_directory(cgroup),
        };
        self.created_now.insert(cgroup.to_owned(), known);
        known
    }

    fn created_from_directory(&self, cgroup: &str) -> Option<Time> {
        let dir = self
            .reader
            .cgroups()
            .dir(Controller::Memory, cgroup)
            .ok()??;
        let modified = std::fs::metadata(dir).ok()?.modified().ok()?;
        let since_epoch = modified.duration_since(SystemTime::UNIX_EPOCH).ok()?;
        let seconds = i64::try_from(since_epoch.as_secs()).ok()?;
        jiff::Timestamp::from_second(seconds).ok().map(Time)
    }
}

fn log_skip(cgroup: &str, error: &CgroupError) {
    if error.is_gone() {
        tracing::debug!(cgroup, "Cgroup vanished during the pass");
    } else {
        tracing::warn!(cgroup, %error, "Skipping a cgroup that cannot be read");
    }
}

/// `/a/b/` → `/a/b`; `` → `/`.
fn normalise(path: &str) -> String {
    let trimmed = path.trim_matches('/');
    format!("/{trimmed}")
}

fn join(parent: &str, child: &str) -> String {
    if parent == "/" {
        format!("/{child}")
    } else {
        format!("{parent}/{child}")
    }
}

fn leaf(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// How a one-cgroup workload (a container outside Kubernetes, a systemd
/// unit, a plain cgroup) is named and described.
#[derive(Debug)]
struct SingleWorkload {
    namespace: String,
    name: String,
    id: Option<String>,
    image: Option<String>,
    started: Option<Time>,
    labels: BTreeMap<String, String>,
    kind: WorkloadKind,
}

impl Default for SingleWorkload {
    fn default() -> Self {
        Self {
            namespace: String::new(),
            name: String::new(),
            id: None,
            image: None,
            started: None,
            labels: BTreeMap::new(),
            kind: WorkloadKind::Cgroup,
        }
    }
}

/// What makes a cgroup outside Kubernetes a workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Activity {
    /// A leaf: processes, or memory charged to it.
    ProcessesOrMemory,
    /// A cgroup with children: processes of its own.
    OwnProcesses,
}

/// State of one pass's walk.
struct Walk<'a> {
    inventory: &'a Inventory,
    sampler: &'a mut Sampler,
    pods: Vec<PodSample>,
    system: SystemContainers,
    visited: usize,
}

impl Walk<'_> {
    /// The namespace of a workload below `parent`: the parent's name, or `/`
    /// directly below the cgroup root.
    fn namespace_of<'p>(&self, parent: &'p str) -> &'p str {
        if parent == self.sampler.cgroup_root {
            "/"
        } else {
            leaf(parent)
        }
    }

    fn visit_children(&mut self, path: &str, depth: usize) -> Result<(), CgroupError> {
        if depth >= MAX_DEPTH {
            tracing::warn!(
                cgroup = path,
                "Cgroup tree deeper than {MAX_DEPTH}; not walked further"
            );
            return Ok(());
        }
        let children = self.sampler.reader.children(path)?;
        for child in children {
            self.visited += 1;
            if self.visited > MAX_CGROUPS {
                tracing::warn!("More than {MAX_CGROUPS} cgroups; the rest are not sampled");
                return Ok(());
            }
            let child_path = join(path, &child);
            match self.visit(path, &child_path, depth + 1) {
                Ok(()) => {}
                Err(error) => log_skip(&child_path, &error),
            }
        }
        Ok(())
    }

    fn visit(&mut self, parent: &str, path: &str, depth: usize) -> Result<(), CgroupError> {
        match discovery::classify(path) {
            CgroupKind::AllPods => {
                if self.system.pods.is_none() {
                    self.system.pods = self.sampler.read_cgroup(path);
                }
                self.visit_children(path, depth)
            }
            CgroupKind::QosParent(_) => self.visit_children(path, depth),
            CgroupKind::Pod { uid, qos } => {
                self.visit_pod(path, uid, qos);
                Ok(())
            }
            // Containers of a pod are read with their pod; helpers are skipped.
            CgroupKind::PodContainer { .. } | CgroupKind::RuntimeHelper => Ok(()),
            CgroupKind::Container { id, runtime } => {
                let namespace = match runtime {
                    Runtime::Docker => "docker",
                    Runtime::Podman => "podman",
                    Runtime::Containerd | Runtime::CriO | Runtime::Unknown => {
                        self.namespace_of(parent)
                    }
                };
                match self.inventory.containers.get(id) {
                    // A sandbox outside the kubelet's layout is still not a workload.
                    Some(info) if info.sandbox => {}
                    Some(info) => {
                        // The runtime knows what the path may not tell (a
                        // Docker container under a custom --cgroup-parent).
                        let namespace = match info.runtime {
                            RuntimeKind::Docker => "docker",
                            RuntimeKind::Containerd => "containerd",
                            RuntimeKind::CriO => "cri-o",
                            RuntimeKind::Cri => namespace,
                        };
                        let workload = SingleWorkload {
                            namespace: namespace.to_owned(),
                            name: info.name.clone(),
                            id: Some(info.id.clone()),
                            image: Some(info.image.clone()),
                            started: info.started_at.map(Time),
                            labels: info.labels.clone(),
                            kind: WorkloadKind::Container(runtime),
                        };
                        self.single(path, workload);
                    }
                    None => {
                        let workload = SingleWorkload {
                            namespace: namespace.to_owned(),
                            name: discovery::short_id(id).to_owned(),
                            id: Some(id.to_owned()),
                            kind: WorkloadKind::Container(runtime),
                            ..SingleWorkload::default()
                        };
                        self.single(path, workload);
                    }
                }
                Ok(())
            }
            kind @ (CgroupKind::SystemdUnit { .. } | CgroupKind::Plain) => {
                self.note_system_container(path);
                let kind = match kind {
                    CgroupKind::SystemdUnit { .. } => WorkloadKind::SystemdUnit,
                    _ => WorkloadKind::Cgroup,
                };
                let children = self.sampler.reader.children(path)?;
                if children.is_empty() {
                    self.workload_if_active(parent, path, kind, Activity::ProcessesOrMemory);
                    return Ok(());
                }
                // A cgroup with processes of its own *and* child cgroups
                // (possible on v1 and in v2's threaded or root cgroups) is a
                // workload too, as cAdvisor makes every cgroup a container:
                // with its hierarchical figures (its children's included,
                // as its memory.usage and CPU counter are), the children
                // listed as workloads of their own beside it.
                self.workload_if_active(parent, path, kind, Activity::OwnProcesses);
                self.visit_children(path, depth)
            }
        }
    }

    /// The kubelet's and the runtime's own cgroups, recognised by unit name
    /// (the kubelet's `--kubelet-cgroups` / `--runtime-cgroups` are usually
    /// these units under systemd).
    fn note_system_container(&mut self, path: &str) {
        let slot = match leaf(path) {
            "kubelet.service" | "kubelet" => &mut self.system.kubelet,
            "containerd.service" | "docker.service" | "crio.service" | "cri-docker.service" => {
                &mut self.system.runtime
            }
            _ => return,
        };
        if slot.is_none() {
            *slot = self.sampler.read_cgroup(path);
        }
    }

    fn visit_pod(&mut self, pod_path: &str, uid: String, qos: QosClass) {
        let children = match self.sampler.reader.children(pod_path) {
            Ok(children) => children,
            Err(error) => return log_skip(pod_path, &error),
        };
        let mut containers = Vec::new();
        for child in children {
            let path = join(pod_path, &child);
            let CgroupKind::PodContainer { id, .. } = discovery::classify(&path) else {
                continue;
            };
            let info = self.inventory.containers.get(id);
            let is_sandbox = match info {
                Some(info) => info.sandbox,
                None => {
                    let procs = self.sampler.procs_text(&path);
                    procs::is_pause(&self.sampler.proc_root, &procs)
                }
            };
            if is_sandbox {
                continue;
            }
            if let Some((memory, cpu)) = self.sampler.read_workload(&path) {
                let started = info
                    .and_then(|i| i.started_at)
                    .map(Time)
                    .or_else(|| self.sampler.created(&path));
                containers.push(ContainerSample {
                    name: info
                        .map_or_else(|| discovery::short_id(id).to_owned(), |i| i.name.clone()),
                    id: Some(id.to_owned()),
                    image: info.map(|i| i.image.clone()),
                    started,
                    cgroup: path,
                    memory,
                    cpu,
                });
            }
        }
        if containers.is_empty() {
            return;
        }
        let pod_cgroup = self.sampler.read_cgroup(pod_path);
        let info = self.inventory.pods.get(&uid);
        let key = match info {
            Some(pod) => PodKey {
                namespace: pod.namespace.clone(),
                name: pod.name.clone(),
            },
            None => PodKey {
                namespace: "kubepods".to_owned(),
                name: uid.clone(),
            },
        };
        let created = info
            .and_then(|pod| pod.created_at)
            .map(Time)
            .or_else(|| self.sampler.created(pod_path));
        self.pods.push(PodSample {
            pod_cgroup,
            key,
            kind: WorkloadKind::KubernetesPod(qos),
            created,
            cgroup: pod_path.to_owned(),
            uid: Some(uid),
            labels: info.map(|pod| pod.labels.clone()).unwrap_or_default(),
            containers,
        });
    }

    /// A cgroup outside Kubernetes becomes a workload if it is active: a
    /// leaf if it has processes or charged memory (empty leaves are stopped
    /// units, noise), a cgroup with children only if it has processes of
    /// its own (its memory is its children's).
    fn workload_if_active(
        &mut self,
        parent: &str,
        path: &str,
        kind: WorkloadKind,
        activity: Activity,
    ) {
        let has_processes = procs::parse_pids(&self.sampler.procs_text(path))
            .next()
            .is_some();
        if !has_processes && activity == Activity::OwnProcesses {
            return;
        }
        let Some((memory, cpu)) = self.sampler.read_workload(path) else {
            return;
        };
        if !has_processes && memory.usage == 0 {
            return;
        }
        let workload = SingleWorkload {
            namespace: self.namespace_of(parent).to_owned(),
            name: leaf(path).to_owned(),
            kind,
            ..SingleWorkload::default()
        };
        self.push_single(path, workload, memory, cpu);
    }

    fn single(&mut self, path: &str, workload: SingleWorkload) {
        if let Some((memory, cpu)) = self.sampler.read_workload(path) {
            self.push_single(path, workload, memory, cpu);
        }
    }

    /// A workload that is one cgroup: a pod of one container, both named
    /// `workload.name`. Without a start time from a runtime, the cgroup's
    /// creation stands in.
    fn push_single(
        &mut self,
        path: &str,
        workload: SingleWorkload,
        memory: MemoryStats,
        cpu: CpuCounter,
    ) {
        let started = workload.started.or_else(|| self.sampler.created(path));
        self.pods.push(PodSample {
            key: PodKey {
                namespace: workload.namespace,
                name: workload.name.clone(),
            },
            kind: workload.kind,
            cgroup: path.to_owned(),
            uid: None,
            labels: workload.labels,
            created: started,
            containers: vec![ContainerSample {
                name: workload.name,
                id: workload.id,
                image: workload.image,
                started,
                cgroup: path.to_owned(),
                memory,
                cpu,
            }],
            pod_cgroup: None,
        });
    }
}

/// Time between two snapshots, for rates and the `window` field.
pub fn window(earlier: &Snapshot, later: &Snapshot) -> Duration {
    later.instant.saturating_duration_since(earlier.instant)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_helpers() {
        assert_eq!(normalise(""), "/");
        assert_eq!(normalise("/a/b/"), "/a/b");
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/a", "b"), "/a/b");
        assert_eq!(leaf("/a/docker"), "docker");
    }
}
