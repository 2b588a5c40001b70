//! What the container runtimes say about the workloads on this machine:
//! one [`Inventory`] per sampling pass, containers by full id and pods by
//! UID. The clients that fill it (Docker, CRI) live in the agent crate; the
//! sampler only reads it, so local `top` needs no gRPC or HTTP stack.

use std::collections::{BTreeMap, HashMap};

/// Which runtime reported a container or pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuntimeKind {
    /// The Docker Engine API (plain Docker, or cri-dockerd's containers
    /// read straight from dockerd), or a CRI endpoint that says it is
    /// `docker` (cri-dockerd itself).
    Docker,
    /// containerd's CRI plugin.
    Containerd,
    /// CRI-O.
    CriO,
    /// Another CRI runtime (its `Version` gave an unknown name).
    Cri,
}

impl RuntimeKind {
    /// The kind a CRI `Version` response's `runtime_name` stands for.
    pub fn from_cri_name(name: &str) -> Self {
        match name {
            "containerd" => Self::Containerd,
            "cri-o" => Self::CriO,
            "docker" => Self::Docker,
            _ => Self::Cri,
        }
    }

    /// Lower-case name for logs and labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Docker => "docker",
            Self::Containerd => "containerd",
            Self::CriO => "cri-o",
            Self::Cri => "cri",
        }
    }
}

/// The pod a container belongs to, as its runtime labels say.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PodRef {
    /// Pod name (`io.kubernetes.pod.name`).
    pub name: String,
    /// Pod namespace (`io.kubernetes.pod.namespace`).
    pub namespace: String,
    /// Pod UID with dashes, as in the pod cgroup's name.
    pub uid: String,
}

/// One container as its runtime describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInfo {
    /// Full id: the 64-hex name of its cgroup.
    pub id: String,
    /// For a Kubernetes container its name in the pod spec
    /// (`io.kubernetes.container.name`), `POD` for a sandbox; for any other
    /// container the runtime's name (Docker's without the leading `/`).
    pub name: String,
    /// Image as the runtime reports it (may be an image id).
    pub image: String,
    /// Labels as the CRI would report them: for cri-dockerd containers its
    /// internal labels are left out and `annotation.*` labels are moved to
    /// [`annotations`](Self::annotations); other Docker containers keep all
    /// their labels.
    pub labels: BTreeMap<String, String>,
    /// Annotations (CRI annotations; cri-dockerd's `annotation.*` labels).
    pub annotations: BTreeMap<String, String>,
    /// The pod, when the runtime labels say this container belongs to one.
    pub pod: Option<PodRef>,
    /// The id of the pod's sandbox (for app containers of a pod).
    pub sandbox_id: Option<String>,
    /// Whether this is a pod's sandbox (pause) container: never listed as a
    /// container of its pod, like in `kubectl top`.
    pub sandbox: bool,
    /// When it started: Docker's `State.StartedAt`; for CRI runtimes the
    /// container's `created_at`, which is what the kubelet reports as a
    /// container's start time when it reads stats through the CRI.
    pub started_at: Option<jiff::Timestamp>,
    /// Which runtime reported it.
    pub runtime: RuntimeKind,
}

/// One pod, from its sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodInfo {
    /// Pod UID with dashes.
    pub uid: String,
    /// Pod name.
    pub name: String,
    /// Pod namespace.
    pub namespace: String,
    /// The pod's own labels (what `kubectl top pod -l` selects on): the
    /// sandbox's labels without the `io.kubernetes.pod.*` ones the kubelet
    /// adds.
    pub labels: BTreeMap<String, String>,
    /// The pod's annotations as the kubelet handed them to the runtime.
    pub annotations: BTreeMap<String, String>,
    /// When the sandbox was created.
    pub created_at: Option<jiff::Timestamp>,
    /// Id of the sandbox the pod information came from.
    pub sandbox_id: String,
    /// Which runtime reported it.
    pub runtime: RuntimeKind,
}

/// Everything the runtimes said in one pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    /// Running containers (sandboxes included) by full id.
    pub containers: HashMap<String, ContainerInfo>,
    /// Pods with a ready (running) sandbox, by UID.
    pub pods: HashMap<String, PodInfo>,
}

impl Inventory {
    /// Adds `other`; its entries win where ids or UIDs collide.
    pub fn merge(&mut self, other: Inventory) {
        self.containers.extend(other.containers);
        self.pods.extend(other.pods);
    }

    /// Adds a pod, keeping the newer sandbox when the UID is already there
    /// (a restarted sandbox can briefly run next to the old one).
    pub fn add_pod(&mut self, pod: PodInfo) {
        match self.pods.get(&pod.uid) {
            Some(existing) if existing.created_at > pod.created_at => {}
            _ => {
                self.pods.insert(pod.uid.clone(), pod);
            }
        }
    }
}

/// Who tells the sampler what the runtimes call the workloads it finds.
/// Asked once before a pass; never fails (a runtime that is absent or
/// errs contributes nothing, and workloads keep their path-based names).
pub trait RuntimeNames: std::fmt::Debug + Send + Sync {
    /// What the runtimes say now.
    fn inventory(&self) -> Inventory;
}

/// No runtime is asked: every workload is named from its cgroup path.
#[derive(Debug, Clone, Copy, Default)]
pub struct PathNamesOnly;

impl RuntimeNames for PathNamesOnly {
    fn inventory(&self) -> Inventory {
        Inventory::default()
    }
}
