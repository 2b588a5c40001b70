//! `GET /pods`: the kubelet's own pod list, a core/v1 `PodList`, built from
//! an [`Observation`].
//!
//! A kubelet serves every pod it runs here, with the full pod objects. A
//! metrics server in standalone mode reads it for the pods' identity,
//! labels and creation time, so this endpoint writes the part of each pod
//! that a machine without an API server can know, in Go's field order:
//!
//! - `metadata`: `name`, `namespace`, `uid` (Kubernetes pods only),
//!   `creationTimestamp` (when the pod cgroup appeared, the summary's
//!   `startTime`), `labels` (from runtime metadata; omitted when empty);
//! - `spec`: `containers` (names only, sorted by name: the pod spec's order
//!   is not in the cgroup tree) and `nodeName`;
//! - `status`: `phase` `Running` (a snapshot holds nothing but running
//!   workloads) and `startTime`.
//!
//! The pods are the workloads `/metrics/resource` reports, in the same
//! order (see the module docs of [`crate::serve`]), so every pod a scraper
//! gets usage for is in this list and the other way round.

use serde::Serialize;
use workingset_model::metrics::{List, ObjectMeta, Time};

use super::{Observation, workloads};
use workingset_sampling::sampler::PodSample;

/// The `phase` of every listed pod.
pub const PHASE_RUNNING: &str = "Running";

/// One item of the list: the parts of a core/v1 `Pod` the agent knows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PodObject {
    /// Name, namespace, uid, creation time, labels.
    pub metadata: ObjectMeta,
    /// Containers and node.
    pub spec: PodSpec,
    /// Phase and start time.
    pub status: PodStatus,
}

/// The part of core/v1 `PodSpec` written here, in Go's field order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    /// The pod's containers, pause excluded.
    pub containers: Vec<ContainerSpec>,
    /// The node the pod runs on.
    pub node_name: String,
}

/// The part of core/v1 `Container` written here.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContainerSpec {
    /// The container's name within its pod.
    pub name: String,
}

/// The part of core/v1 `PodStatus` written here, in Go's field order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodStatus {
    /// Always [`PHASE_RUNNING`].
    pub phase: &'static str,
    /// When the pod started; omitted when unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
}

/// The `PodList` of `observation`.
pub fn build(observation: &Observation) -> List<PodObject> {
    let items = workloads(&observation.later)
        .into_iter()
        .map(|pod| pod_object(pod, &observation.node_name))
        .collect();
    List::new("PodList", "v1", items)
}

fn pod_object(pod: &PodSample, node_name: &str) -> PodObject {
    let mut containers: Vec<ContainerSpec> = pod
        .containers
        .iter()
        .map(|container| ContainerSpec {
            name: container.name.clone(),
        })
        .collect();
    containers.sort_by(|a, b| a.name.cmp(&b.name));
    PodObject {
        metadata: pod.object_meta(),
        spec: PodSpec {
            containers,
            node_name: node_name.to_owned(),
        },
        status: PodStatus {
            phase: PHASE_RUNNING,
            start_time: pod.created,
        },
    }
}
