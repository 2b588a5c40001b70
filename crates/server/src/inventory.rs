//! The objects the Metrics API joins usage with: each node's `Node` (labels,
//! capacity, allocatable) and its running pods (name, namespace, labels,
//! creation time).
//!
//! In standalone mode there is no API server, so [`refresh`] asks each
//! node itself:
//!
//! - **Pods**: `GET {url}/pods`, the kubelet's own pod list (a core/v1
//!   `PodList`, served by kubelets and by `workingset agent`). Only pods in
//!   phase `Running` are kept, as metrics-server serves only running pods.
//!   An agent too old to have `/pods` answers 404; then the pods come from
//!   `GET {url}/stats/summary?only_cpu_and_memory=true`: identity from
//!   `podRef`, creation time from the pod's `startTime`, and no labels (so
//!   label selectors match nothing there).
//! - **The node**: its name is the configured one; its labels are the
//!   well-known ones a kubelet sets that the server can know without asking
//!   (`kubernetes.io/hostname` = the node name, `kubernetes.io/os` and
//!   `beta.kubernetes.io/os` = `linux`; not the architecture, which the
//!   server cannot know), then the operator's labels from the nodes file,
//!   which win. Capacity `cpu` and `memory` are cAdvisor's
//!   `machine_cpu_cores` and `machine_memory_bytes` from
//!   `GET {url}/metrics/cadvisor`, as the kubelet derives its own capacity
//!   from cAdvisor's machine info. Allocatable equals capacity: a standalone
//!   node has no kubelet reservations (`--kube-reserved`,
//!   `--system-reserved`, eviction thresholds) to subtract, so `kubectl top
//!   node` percentages are of the whole machine.
//!
//! Capacity does not change while a node runs, so `/metrics/cadvisor` (a
//! large body) is fetched only until it has been read once; the previous
//! inventory's capacity is reused after that. If it cannot be read, the
//! inventory goes on without capacity and tries again on the next refresh.
//! Until then `kubectl top node` prints that node's usage without the
//! percentage cells (kubectl leaves a cell out when the resource is missing
//! from allocatable), rather than failing.
//!
//! One refresh takes at most its timeout: the pod list and the capacity are
//! fetched concurrently, and the summary fallback gets what is left.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;
use tokio::time::Instant;
use workingset_expfmt::parse;
use workingset_model::metrics::{
    CPU, MEMORY, Node, NodeStatus, ObjectMeta, Pod, PodSpec, ResourceList, Time,
};
use workingset_model::summary::Summary;
use workingset_quantity::{Format, Quantity};

use crate::target::NodeSpec;
use workingset_kubeclient::kubelet::{FetchError, ScrapeClient};

/// What the server knows about one node besides its usage.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeInventory {
    /// The core `Node` object served at `/api/v1/nodes` in standalone mode
    /// and whose labels `NodeMetrics` copies.
    pub node: Arc<Node>,
    /// The node's running pods, sorted by namespace and name; only these
    /// are served as `PodMetrics`. Shared with the published snapshots, so
    /// an inventory that did not change is not copied each tick.
    pub pods: Vec<Arc<Pod>>,
}

/// The kubelet's pod list.
pub const PODS_PATH: &str = "/pods";
/// The Summary API, the pod list of agents without `/pods`.
pub const SUMMARY_PATH: &str = "/stats/summary?only_cpu_and_memory=true";
/// cAdvisor's metrics, where the machine's capacity is.
pub const CADVISOR_PATH: &str = "/metrics/cadvisor";
/// The body cap for `/metrics/cadvisor`: it has dozens of series per
/// container, so a busy node's body is tens of MiB.
pub const CADVISOR_MAX_BODY_BYTES: usize = 64 << 20;

const LABEL_HOSTNAME: &str = "kubernetes.io/hostname";
const LABEL_OS: &str = "kubernetes.io/os";
const LABEL_BETA_OS: &str = "beta.kubernetes.io/os";
const MACHINE_CPU_CORES: &str = "machine_cpu_cores";
const MACHINE_MEMORY_BYTES: &str = "machine_memory_bytes";

/// The node's pods could not be listed.
#[derive(Debug, Clone, Error)]
#[non_exhaustive]
pub enum InventoryError {
    /// The request for the pod list failed.
    #[error("cannot list the pods of node {node} ({path}): {error}")]
    Pods {
        /// The node.
        node: String,
        /// The path asked (`/pods`, or the summary fallback).
        path: &'static str,
        /// Why.
        error: FetchError,
    },
    /// The pod list is not what a kubelet sends.
    #[error(
        "the pod list of node {node} ({path}) is not valid {what} JSON: {error}; is the URL a kubelet or workingset agent?"
    )]
    PodsJson {
        /// The node.
        node: String,
        /// The path asked.
        path: &'static str,
        /// `PodList` or `Summary`.
        what: &'static str,
        /// serde's message, with line and column.
        error: String,
    },
}

impl InventoryError {
    /// A short label for metrics: the fetch's outcome (`timeout`,
    /// `connect`, ...) or `parse_error`.
    pub fn outcome(&self) -> &'static str {
        match self {
            InventoryError::Pods { error, .. } => error.outcome(),
            InventoryError::PodsJson { .. } => "parse_error",
        }
    }
}

/// A refreshed inventory, and how asking for the node's capacity went when
/// it was asked this time.
#[derive(Debug, Clone, PartialEq)]
pub struct Refreshed {
    /// The node and its pods.
    pub inventory: NodeInventory,
    /// `success`, or why the capacity is still not known (a fetch error's
    /// outcome, `parse_error`, `missing`); `None` when it was not asked.
    pub capacity: Option<&'static str>,
}

/// Asks the node at `spec` for its pods and, until known, its capacity.
/// `previous` is the last inventory of this node, whose capacity is
/// reused. An unknown capacity is asked for only when `capacity_due`:
/// `/metrics/cadvisor` is the largest body a node serves (tens of MB on a
/// busy node), so a node whose capacity cannot be had is asked again on
/// its periodic turn, not on every refresh its pods cause.
pub async fn refresh(
    client: &ScrapeClient,
    spec: &NodeSpec,
    previous: Option<&NodeInventory>,
    timeout: Duration,
    capacity_due: bool,
) -> Result<Refreshed, InventoryError> {
    let deadline = Instant::now() + timeout;
    let known_capacity = previous
        .map(|p| &p.node.status)
        .filter(|status| status.capacity.contains_key(CPU) && status.capacity.contains_key(MEMORY));
    let capacity = async {
        match known_capacity {
            Some(status) => (status.capacity.clone(), None),
            None if capacity_due => {
                let (capacity, outcome) =
                    fetch_capacity(client, spec, deadline, previous.is_none()).await;
                (capacity, Some(outcome))
            }
            None => (
                previous.map_or_else(ResourceList::new, |p| p.node.status.capacity.clone()),
                None,
            ),
        }
    };
    let (pods, (capacity, capacity_outcome)) =
        tokio::join!(fetch_pods(client, spec, deadline), capacity);
    let mut pods = pods?;
    // The Pod objects the standalone server serves say where they run, as
    // the apiserver's do, so that tools can reach the node (its proxy).
    for pod in &mut pods {
        pod.spec.node_name.clone_from(&spec.name);
    }
    pods.sort_by(|a, b| {
        (&a.metadata.namespace, &a.metadata.name).cmp(&(&b.metadata.namespace, &b.metadata.name))
    });
    // Not `collect()`: that reuses the `Vec<Pod>`'s buffer for the
    // `Vec<Arc<Pod>>`, which then keeps 21 times the room it needs for as
    // long as the inventory lives (50 MB at 10,000 nodes).
    let mut shared = Vec::with_capacity(pods.len());
    shared.extend(pods.into_iter().map(Arc::new));
    Ok(Refreshed {
        inventory: NodeInventory {
            node: Arc::new(node_object(spec, capacity)),
            pods: shared,
        },
        capacity: capacity_outcome,
    })
}

fn node_object(spec: &NodeSpec, capacity: ResourceList) -> Node {
    let mut labels = BTreeMap::new();
    labels.insert(LABEL_HOSTNAME.to_owned(), spec.name.clone());
    labels.insert(LABEL_OS.to_owned(), "linux".to_owned());
    labels.insert(LABEL_BETA_OS.to_owned(), "linux".to_owned());
    labels.extend(spec.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    Node {
        metadata: ObjectMeta {
            name: spec.name.clone(),
            labels: labels.into(),
            ..ObjectMeta::default()
        },
        status: NodeStatus {
            allocatable: capacity.clone(),
            capacity,
        },
    }
}

/// The time left until `deadline` (zero when it passed, which makes the
/// request time out at once).
fn left(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

async fn fetch_pods(
    client: &ScrapeClient,
    spec: &NodeSpec,
    deadline: Instant,
) -> Result<Vec<Pod>, InventoryError> {
    let node = || spec.name.clone();
    let url = format!("{}{PODS_PATH}", spec.url);
    match client.get(&url, left(deadline)).await {
        Ok(body) => pods_from_pod_list(&body).map_err(|error| InventoryError::PodsJson {
            node: node(),
            path: PODS_PATH,
            what: "PodList",
            error,
        }),
        Err(FetchError::Status { code: 404, .. }) => {
            tracing::debug!(node = %spec.name, "No /pods on this node; listing pods from the summary");
            let url = format!("{}{SUMMARY_PATH}", spec.url);
            let body =
                client
                    .get(&url, left(deadline))
                    .await
                    .map_err(|error| InventoryError::Pods {
                        node: node(),
                        path: SUMMARY_PATH,
                        error,
                    })?;
            pods_from_summary(&body).map_err(|error| InventoryError::PodsJson {
                node: node(),
                path: SUMMARY_PATH,
                what: "Summary",
                error,
            })
        }
        Err(error) => Err(InventoryError::Pods {
            node: node(),
            path: PODS_PATH,
            error,
        }),
    }
}

/// The part of a core/v1 `PodList` read here.
#[derive(Debug, Deserialize)]
struct PodList {
    #[serde(default)]
    items: Option<Vec<PodItem>>,
}

#[derive(Debug, Deserialize)]
struct PodItem {
    #[serde(default)]
    metadata: PodItemMeta,
    #[serde(default)]
    spec: PodItemSpec,
    #[serde(default)]
    status: PodItemStatus,
}

#[derive(Debug, Default, Deserialize)]
struct PodItemSpec {
    #[serde(default)]
    containers: Option<Vec<PodItemContainer>>,
}

#[derive(Debug, Default, Deserialize)]
struct PodItemContainer {
    #[serde(default)]
    name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PodItemMeta {
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    labels: Option<workingset_model::metrics::Labels>,
    #[serde(default)]
    creation_timestamp: Option<Time>,
}

#[derive(Debug, Default, Deserialize)]
struct PodItemStatus {
    #[serde(default)]
    phase: Option<String>,
}

/// The running pods of a `PodList` body.
fn pods_from_pod_list(body: &[u8]) -> Result<Vec<Pod>, String> {
    let list: PodList = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    Ok(list
        .items
        .unwrap_or_default()
        .into_iter()
        .filter(|item| item.status.phase.as_deref() == Some("Running"))
        .filter(|item| !item.metadata.name.is_empty() && !item.metadata.namespace.is_empty())
        .map(|item| Pod {
            spec: PodSpec::of_containers(
                item.spec
                    .containers
                    .iter()
                    .flatten()
                    .map(|container| container.name.as_str()),
            ),
            metadata: ObjectMeta {
                name: item.metadata.name,
                namespace: item.metadata.namespace,
                creation_timestamp: item.metadata.creation_timestamp,
                labels: item.metadata.labels.unwrap_or_default(),
                ..ObjectMeta::default()
            },
        })
        .collect())
}

/// The pods of a Summary body: the summary lists running pods only.
fn pods_from_summary(body: &[u8]) -> Result<Vec<Pod>, String> {
    let summary: Summary = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    Ok(summary
        .pods
        .into_iter()
        .filter(|pod| !pod.pod_ref.name.is_empty() && !pod.pod_ref.namespace.is_empty())
        .map(|pod| Pod {
            spec: PodSpec::of_containers(pod.containers.iter().map(|c| c.name.as_str())),
            metadata: ObjectMeta {
                name: pod.pod_ref.name,
                namespace: pod.pod_ref.namespace,
                creation_timestamp: pod.start_time,
                ..ObjectMeta::default()
            },
        })
        .collect())
}

/// `cpu` and `memory` from cAdvisor's machine metrics, and the request's
/// outcome; empty (and logged) when they cannot be had.
async fn fetch_capacity(
    client: &ScrapeClient,
    spec: &NodeSpec,
    deadline: Instant,
    first: bool,
) -> (ResourceList, &'static str) {
    let url = format!("{}{CADVISOR_PATH}", spec.url);
    let (outcome, problem) = match client
        .get_limited(&url, left(deadline), CADVISOR_MAX_BODY_BYTES)
        .await
    {
        // Half is better than nothing; the missing half is asked again.
        Ok(body) => match capacity_from_cadvisor(&body) {
            Ok(capacity) if !capacity.is_empty() => return (capacity, crate::telemetry::SUCCESS),
            Ok(_) => (
                "missing",
                format!("{MACHINE_CPU_CORES} and {MACHINE_MEMORY_BYTES} are missing"),
            ),
            Err(error) => ("parse_error", error),
        },
        Err(error) => (error.outcome(), error.to_string()),
    };
    // Said once loudly; retries say it quietly.
    if first {
        tracing::warn!(node = %spec.name, %problem, "No capacity for this node yet (kubectl top node shows no percentages for it); retrying on the next refresh");
    } else {
        tracing::debug!(node = %spec.name, %problem, "Still no capacity for this node");
    }
    (ResourceList::new(), outcome)
}

/// Capacity from a `/metrics/cadvisor` body: the first usable
/// `machine_cpu_cores` and `machine_memory_bytes` samples.
fn capacity_from_cadvisor(body: &[u8]) -> Result<ResourceList, String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("the body is not UTF-8: {e}"))?;
    let mut capacity = ResourceList::new();
    for sample in parse(text) {
        let sample = sample.map_err(|e| format!("the body is not Prometheus text format: {e}"))?;
        let value = sample.value;
        if !(value.is_finite() && value >= 0.0) {
            continue;
        }
        let (key, quantity) = match sample.name.as_ref() {
            // `as` saturates; no machine comes near either bound.
            MACHINE_CPU_CORES => (CPU, Quantity::new(value as i64, Format::DecimalSI)),
            MACHINE_MEMORY_BYTES => (MEMORY, Quantity::from_bytes(value as u64)),
            _ => continue,
        };
        capacity.get_or_insert_with(key, || quantity);
        if capacity.len() == 2 {
            break;
        }
    }
    Ok(capacity)
}

#[cfg(test)]
mod tests;
