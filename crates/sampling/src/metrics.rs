//! From two snapshots to the objects metrics-server would serve: a
//! `NodeMetrics` and a `Node` for this machine, and a `PodMetrics` per
//! workload.
//!
//! The rules are metrics-server's: CPU is the rate between the two samples
//! in whole nanocores, memory the newer working set, and a container whose
//! counter went down (restart) or that appeared in between has no rate. Where
//! metrics-server would drop the whole pod, we drop only that container and
//! keep the pod if any container remains: a local `top` should not hide a pod
//! because one sidecar restarted during a one-second window.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use workingset_cgroup::NodeStats;
use workingset_model::duration::GoDuration;
use workingset_model::metrics::{
    CPU, ContainerMetrics, MEMORY, Node, NodeMetrics, NodeStatus, ObjectMeta, PodMetrics,
    ResourceList, Time,
};
use workingset_model::rate;
use workingset_model::select::Catalog;
use workingset_quantity::{Format, Quantity};

use crate::sampler::{self, ContainerSample, PodSample, Snapshot};

/// Everything `top` needs about one machine, computed from two snapshots.
#[derive(Debug, Clone)]
pub struct MachineMetrics {
    /// The node's usage; `None` when the node counter gave no rate.
    pub node: Option<NodeMetrics>,
    /// The node object: name, labels, capacity and allocatable.
    pub node_object: Node,
    /// One entry per workload with at least one container rate, sorted by
    /// namespace then name.
    pub pods: Vec<PodMetrics>,
    /// Every workload of the newer snapshot, with labels and creation time,
    /// rate or not (what `GET /api/v1/namespaces/{ns}/pods` would list),
    /// sorted by namespace then name.
    pub pod_objects: Vec<workingset_model::metrics::Pod>,
}

fn namespace_and_name(meta: &ObjectMeta) -> (&str, &str) {
    (&meta.namespace, &meta.name)
}

/// This machine as a Metrics API server (and the core API) would list it.
impl Catalog for MachineMetrics {
    type NodeMetrics = NodeMetrics;
    type PodMetrics = PodMetrics;
    type Node = Node;
    type Pod = workingset_model::metrics::Pod;
    fn node_metrics(&self) -> &[NodeMetrics] {
        self.node.as_slice()
    }
    fn pod_metrics(&self) -> &[PodMetrics] {
        &self.pods
    }
    fn nodes(&self) -> &[Node] {
        std::slice::from_ref(&self.node_object)
    }
    fn pods(&self) -> &[workingset_model::metrics::Pod] {
        &self.pod_objects
    }
}

/// Builds the metrics of `node_name` from `earlier` and `later`.
pub fn machine_metrics(node_name: &str, earlier: &Snapshot, later: &Snapshot) -> MachineMetrics {
    let window = sampler::window(earlier, later);
    let timestamp = later.time;
    let node_object = node_object(node_name, &later.node);
    let node = rate::nanocores_over(earlier.node.cpu.usage_ns, later.node.cpu.usage_ns, window)
        .map(|nanocores| NodeMetrics {
            kind: None,
            api_version: None,
            metadata: ObjectMeta {
                name: node_name.to_owned(),
                labels: node_object.metadata.labels.clone(),
                ..ObjectMeta::default()
            },
            timestamp,
            window: GoDuration(window),
            usage: workingset_model::metrics::usage(nanocores, later.node.memory.working_set),
        });

    let earlier_by_cgroup: HashMap<&str, &ContainerSample> = earlier
        .pods
        .iter()
        .flat_map(|pod| pod.containers.iter())
        .map(|c| (c.cgroup.as_str(), c))
        .collect();
    let mut pods: Vec<PodMetrics> = later
        .pods
        .iter()
        .filter_map(|pod| pod_metrics(pod, &earlier_by_cgroup, window, timestamp))
        .collect();
    let mut pod_objects: Vec<workingset_model::metrics::Pod> =
        later.pods.iter().map(pod_object).collect();
    // Sorted as a server lists them (see `Catalog`); stable, so of two
    // workloads with one name the first walked is found first.
    pods.sort_by(|a, b| namespace_and_name(&a.metadata).cmp(&namespace_and_name(&b.metadata)));
    pod_objects
        .sort_by(|a, b| namespace_and_name(&a.metadata).cmp(&namespace_and_name(&b.metadata)));
    MachineMetrics {
        node,
        node_object,
        pods,
        pod_objects,
    }
}

/// The `Node` a kubelet would register for this machine. Allocatable equals
/// capacity: nothing is reserved for system daemons on a plain machine.
fn node_object(name: &str, node: &NodeStats) -> Node {
    let mut capacity = ResourceList::new();
    capacity.insert(
        CPU.to_owned(),
        Quantity::new(i64::from(node.online_cpus), Format::DecimalSI),
    );
    capacity.insert(
        MEMORY.to_owned(),
        Quantity::from_bytes(node.meminfo.mem_total),
    );
    let mut labels = BTreeMap::new();
    labels.insert("kubernetes.io/hostname".to_owned(), name.to_owned());
    labels.insert("kubernetes.io/os".to_owned(), "linux".to_owned());
    Node {
        metadata: ObjectMeta {
            name: name.to_owned(),
            labels: labels.into(),
            ..ObjectMeta::default()
        },
        status: NodeStatus {
            allocatable: capacity.clone(),
            capacity,
        },
    }
}

fn pod_metrics(
    pod: &PodSample,
    earlier: &HashMap<&str, &ContainerSample>,
    window: Duration,
    timestamp: Time,
) -> Option<PodMetrics> {
    let containers: Vec<ContainerMetrics> = pod
        .containers
        .iter()
        .filter_map(|container| {
            let before = earlier.get(container.cgroup.as_str())?;
            let nanocores = container.cpu.nanocores_since(&before.cpu, window)?;
            Some(ContainerMetrics::new(
                container.name.clone(),
                nanocores,
                container.memory.working_set,
            ))
        })
        .collect();
    if containers.is_empty() {
        return None;
    }
    Some(PodMetrics {
        kind: None,
        api_version: None,
        metadata: ObjectMeta {
            name: pod.key.name.clone(),
            namespace: pod.key.namespace.clone(),
            labels: pod.labels.clone().into(),
            ..ObjectMeta::default()
        },
        timestamp,
        window: GoDuration(window),
        containers,
    })
}

fn pod_object(pod: &PodSample) -> workingset_model::metrics::Pod {
    workingset_model::metrics::Pod {
        metadata: pod.object_meta(),
        spec: workingset_model::metrics::PodSpec::of_containers(
            pod.containers
                .iter()
                .map(|container| container.name.as_str()),
        ),
    }
}
