//! Kubernetes mode's node source: the nodes and running pods of a cluster,
//! watched from its API server with `kube`'s runtime (reflectors over
//! watchers, with relist and backoff), as metrics-server's informers do.
//!
//! - **Nodes**, full objects: each tick takes the nodes the store holds
//!   (filtered by `--node-selector`) and resolves where to scrape each
//!   ([`KubeletAddressing::target`]): the first address of the first
//!   preferred type, the kubelet port or the node's own status port, and
//!   the path from the `metrics.k8s.io/resource-metrics-path` annotation.
//!   A node that leaves the watch leaves the next tick's targets, and with
//!   them the store and the Metrics API.
//! - **Pods**, metadata only (`PartialObjectMetadata`), all namespaces, with
//!   the field selector `status.phase=Running`: their labels feed label
//!   selectors and their creation time tells a pod too young for metrics.
//!   A pod the kubelet reports but the API server does not list as Running
//!   is not served, as metrics-server.
//!
//! kube's watchers speak JSON; [`fleet_client`] adds a layer that asks for
//! protobuf, as metrics-server's informers do, and hands kube JSON
//! ([`protobuf`]).

pub mod protobuf;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt as _;
use k8s_openapi::api::core::v1 as core;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt as _, watcher};
use tokio::task::JoinHandle;
use workingset_model::metrics::{Node, NodeStatus, ObjectMeta, Pod, ResourceList, Time};
use workingset_model::selector::LabelSelector;
use workingset_quantity::Quantity;

use crate::target::NodeSpec;

/// The node annotation that overrides the scrape path (metrics-server v0.7+).
pub const RESOURCE_METRICS_PATH_ANNOTATION: &str = "metrics.k8s.io/resource-metrics-path";
/// The kubelet's resource metrics, scraped unless the annotation says
/// otherwise.
pub const DEFAULT_RESOURCE_PATH: &str = "/metrics/resource";
/// The field selector of the pod watch.
pub const RUNNING_PODS: &str = "status.phase=Running";

/// A `node.status.addresses[].type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressType {
    /// `Hostname`.
    Hostname,
    /// `InternalDNS`.
    InternalDns,
    /// `InternalIP`.
    InternalIp,
    /// `ExternalDNS`.
    ExternalDns,
    /// `ExternalIP`.
    ExternalIp,
}

impl AddressType {
    /// metrics-server's code default order.
    pub const DEFAULT_ORDER: [AddressType; 5] = [
        AddressType::Hostname,
        AddressType::InternalDns,
        AddressType::InternalIp,
        AddressType::ExternalDns,
        AddressType::ExternalIp,
    ];

    /// The name as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            AddressType::Hostname => "Hostname",
            AddressType::InternalDns => "InternalDNS",
            AddressType::InternalIp => "InternalIP",
            AddressType::ExternalDns => "ExternalDNS",
            AddressType::ExternalIp => "ExternalIP",
        }
    }
}

impl fmt::Display for AddressType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AddressType {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::DEFAULT_ORDER
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| {
                format!(
                    "unknown node address type {text:?}; one of Hostname, InternalDNS, InternalIP, ExternalDNS, ExternalIP"
                )
            })
    }
}

/// How to reach a node's kubelet (metrics-server's kubelet client flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeletAddressing {
    /// `--kubelet-preferred-address-types`, in order.
    pub address_types: Vec<AddressType>,
    /// `--kubelet-port`.
    pub port: u16,
    /// `--kubelet-use-node-status-port`: the port from
    /// `status.daemonEndpoints.kubeletEndpoint.port` when it is set.
    pub use_node_status_port: bool,
    /// `https`, or `http` with `--deprecated-kubelet-completely-insecure`.
    pub scheme: &'static str,
}

impl Default for KubeletAddressing {
    fn default() -> Self {
        Self {
            address_types: AddressType::DEFAULT_ORDER.to_vec(),
            port: 10250,
            use_node_status_port: false,
            scheme: "https",
        }
    }
}

/// Where and how one node is scraped this tick.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterTarget {
    /// Name and base URL (`scheme://address:port`).
    pub spec: NodeSpec,
    /// The path scraped for resource metrics.
    pub resource_path: String,
    /// The node object the Metrics API joins (labels, capacity).
    pub node: Node,
}

/// A node that cannot be scraped and why, in metrics-server's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreachable {
    /// The node.
    pub name: String,
    /// Why (`no address matched types [...]`).
    pub reason: String,
}

impl KubeletAddressing {
    /// Where to scrape `node`, or why it cannot be.
    pub fn target(&self, node: &core::Node) -> Result<ClusterTarget, Unreachable> {
        let name = node.metadata.name.clone().unwrap_or_default();
        let status = node.status.as_ref();
        let addresses = status
            .and_then(|status| status.addresses.as_deref())
            .unwrap_or_default();
        let address = self
            .address_types
            .iter()
            .find_map(|kind| {
                addresses
                    .iter()
                    .find(|address| address.type_ == kind.as_str())
            })
            .map(|address| address.address.as_str())
            .ok_or_else(|| Unreachable {
                name: name.clone(),
                reason: format!(
                    "no address matched types [{}]",
                    self.address_types
                        .iter()
                        .map(|kind| kind.as_str())
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
            })?;
        let status_port = status
            .and_then(|status| status.daemon_endpoints.as_ref())
            .and_then(|endpoints| endpoints.kubelet_endpoint.as_ref())
            .map(|endpoint| endpoint.port)
            .filter(|port| *port > 0)
            .and_then(|port| u16::try_from(port).ok());
        let port = match status_port {
            Some(port) if self.use_node_status_port => port,
            _ => self.port,
        };
        // Go's net.JoinHostPort: an IPv6 literal goes in brackets.
        let host = match address.parse::<IpAddr>() {
            Ok(IpAddr::V6(_)) => format!("[{address}]"),
            _ => address.to_owned(),
        };
        let resource_path = node
            .metadata
            .annotations
            .as_ref()
            .and_then(|annotations| annotations.get(RESOURCE_METRICS_PATH_ANNOTATION))
            .filter(|path| !path.is_empty())
            .map_or_else(|| DEFAULT_RESOURCE_PATH.to_owned(), Clone::clone);
        Ok(ClusterTarget {
            spec: NodeSpec {
                name,
                url: format!("{}://{host}:{port}", self.scheme),
                labels: BTreeMap::new(),
            },
            resource_path,
            node: node_object(node),
        })
    }
}

/// The node as the Metrics API and `kubectl top node` read it.
fn node_object(node: &core::Node) -> Node {
    let status = node.status.as_ref();
    Node {
        metadata: ObjectMeta {
            name: node.metadata.name.clone().unwrap_or_default(),
            uid: node.metadata.uid.clone().unwrap_or_default(),
            creation_timestamp: node
                .metadata
                .creation_timestamp
                .as_ref()
                .and_then(|time| api_time(&time.0)),
            labels: node.metadata.labels.clone().unwrap_or_default().into(),
            ..ObjectMeta::default()
        },
        status: NodeStatus {
            capacity: resources(status.and_then(|status| status.capacity.as_ref())),
            allocatable: resources(status.and_then(|status| status.allocatable.as_ref())),
        },
    }
}

/// An API server timestamp (k8s-openapi's `jiff`) as ours.
fn api_time(time: &k8s_openapi::jiff::Timestamp) -> Option<Time> {
    jiff::Timestamp::new(time.as_second(), time.subsec_nanosecond())
        .ok()
        .map(Time)
}

/// A resource list; quantities the API server sent that do not parse are
/// left out (it validates them, so this only guards against a broken peer).
fn resources(
    list: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>,
) -> ResourceList {
    list.into_iter()
        .flatten()
        .filter_map(|(name, quantity)| {
            quantity
                .0
                .parse::<Quantity>()
                .ok()
                .map(|parsed| (name.clone(), parsed))
        })
        .collect()
}

/// The pod as the Metrics API joins it: identity, labels, creation time.
/// Drops what the server never reads from a watched node before the
/// reflector stores it: managed fields and the image list are most of a
/// node object's bytes.
fn strip_node(node: &mut core::Node) {
    node.metadata.managed_fields = None;
    if let Some(status) = node.status.as_mut() {
        status.images = None;
    }
}

/// Drops what the server never reads from a watched pod's metadata (it
/// keeps name, namespace, uid, creation time and labels): at 300,000 pods
/// the managed fields alone would be gigabytes.
fn strip_pod(pod: &mut PartialObjectMeta<core::Pod>) {
    let metadata = &mut pod.metadata;
    metadata.managed_fields = None;
    metadata.annotations = None;
    metadata.owner_references = None;
    metadata.finalizers = None;
}

fn pod_object(pod: &PartialObjectMeta<core::Pod>) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: pod.metadata.name.clone().unwrap_or_default(),
            namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            uid: pod.metadata.uid.clone().unwrap_or_default(),
            creation_timestamp: pod
                .metadata
                .creation_timestamp
                .as_ref()
                .and_then(|time| api_time(&time.0)),
            labels: pod.metadata.labels.clone().unwrap_or_default().into(),
        },
        ..Pod::default()
    }
}

/// The client for [`Fleet::watch`]: `config`'s API server, with
/// [`protobuf::ProtobufLayer`] so the watches travel as protobuf where the
/// API server offers it.
pub fn fleet_client(config: kube::Config) -> Result<kube::Client, kube::Error> {
    Ok(kube::client::ClientBuilder::try_from(config)?
        .with_layer(&protobuf::ProtobufLayer)
        .build())
}

/// What one tick scrapes and joins.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FleetSnapshot {
    /// The nodes to scrape, sorted by name.
    pub targets: Vec<ClusterTarget>,
    /// Selected nodes that cannot be scraped.
    pub unreachable: Vec<Unreachable>,
    /// Running pods, in no particular order. A pod that did not change
    /// since the last snapshot is the same shared object.
    pub pods: Vec<Arc<Pod>>,
}

/// A watched pod and the object served for it.
type Converted = (Arc<PartialObjectMeta<core::Pod>>, Arc<Pod>);

/// The watched nodes and pods; the watches stop when it is dropped.
pub struct Fleet {
    nodes: Store<core::Node>,
    pods: Store<PartialObjectMeta<core::Pod>>,
    addressing: KubeletAddressing,
    node_selector: Option<LabelSelector>,
    nodes_synced: Arc<AtomicBool>,
    pods_synced: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<()>>,
    /// The served object of each watched pod, keyed by the reflector's
    /// object (which it replaces on every change): a snapshot converts
    /// only the pods that changed since the last one.
    converted: std::sync::Mutex<HashMap<usize, Converted>>,
}

impl fmt::Debug for Fleet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fleet")
            .field("addressing", &self.addressing)
            .field("nodes", &self.nodes.len())
            .field("pods", &self.pods.len())
            .finish_non_exhaustive()
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Fleet {
    /// Starts watching `client`'s nodes and running pods on the current
    /// tokio runtime. The stores fill in the background; see
    /// [`Fleet::synced`].
    pub fn watch(
        client: kube::Client,
        addressing: KubeletAddressing,
        node_selector: Option<LabelSelector>,
    ) -> Self {
        let (nodes, node_writer) = reflector::store();
        let (pods, pod_writer) = reflector::store();
        let nodes_synced = Arc::new(AtomicBool::new(false));
        let pods_synced = Arc::new(AtomicBool::new(false));

        // resourceVersion=0 lists, from the API server's watch cache, as
        // client-go's informers do.
        let node_stream = reflector::reflector(
            node_writer,
            watcher(
                Api::<core::Node>::all(client.clone()),
                watcher::Config::default().any_semantic(),
            )
            .modify(strip_node),
        )
        .default_backoff();
        let pod_stream = reflector::reflector(
            pod_writer,
            watcher(
                Api::<PartialObjectMeta<core::Pod>>::all(client),
                watcher::Config::default()
                    .fields(RUNNING_PODS)
                    .any_semantic(),
            )
            .modify(strip_pod),
        )
        .default_backoff();
        let tasks = vec![
            tokio::spawn(drive(node_stream, "nodes", Arc::clone(&nodes_synced))),
            tokio::spawn(drive(pod_stream, "pods", Arc::clone(&pods_synced))),
        ];
        Self {
            nodes,
            pods,
            addressing,
            node_selector,
            nodes_synced,
            pods_synced,
            tasks,
            converted: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Which watches have not listed yet (`[]` when both have): the
    /// `metric-informer-sync` check.
    pub fn not_synced(&self) -> Vec<&'static str> {
        let mut waiting = Vec::new();
        if !self.nodes_synced.load(Ordering::Relaxed) {
            waiting.push("nodes");
        }
        if !self.pods_synced.load(Ordering::Relaxed) {
            waiting.push("pods");
        }
        waiting
    }

    /// Whether both watches have listed once.
    pub fn synced(&self) -> bool {
        self.not_synced().is_empty()
    }

    /// Waits until both stores have their first list.
    pub async fn wait_synced(&self) {
        // An error means the writer is gone: the watch task ended, which
        // only happens when the fleet is dropped.
        let _ = self.nodes.wait_until_ready().await;
        let _ = self.pods.wait_until_ready().await;
    }

    /// The selected nodes (resolved or not) and the running pods, now.
    pub fn snapshot(&self) -> FleetSnapshot {
        let mut snapshot = FleetSnapshot::default();
        for node in self.nodes.state() {
            let labels = node.metadata.labels.clone().unwrap_or_default();
            if let Some(selector) = &self.node_selector
                && !selector.matches(&labels)
            {
                continue;
            }
            match self.addressing.target(&node) {
                Ok(target) => snapshot.targets.push(target),
                Err(unreachable) => snapshot.unreachable.push(unreachable),
            }
        }
        snapshot
            .targets
            .sort_by(|a, b| a.spec.name.cmp(&b.spec.name));
        snapshot.unreachable.sort_by(|a, b| a.name.cmp(&b.name));
        let watched = self.pods.state();
        let mut converted = match self.converted.lock() {
            Ok(converted) => converted,
            // A panic while converting left at worst a partial cache.
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut next = HashMap::with_capacity(watched.len());
        snapshot.pods = Vec::with_capacity(watched.len());
        for pod in watched {
            let key = Arc::as_ptr(&pod) as usize;
            let served = match converted.remove(&key) {
                // The cache holds the reflector's object, so the address
                // cannot have been reused by another pod.
                Some((_, served)) => served,
                None => Arc::new(pod_object(&pod)),
            };
            snapshot.pods.push(Arc::clone(&served));
            next.insert(key, (pod, served));
        }
        *converted = next;
        snapshot
    }
}

/// Runs one reflector stream for the fleet's lifetime. Errors are the
/// watcher's (the backoff retries them); the first of a run is logged at
/// warn, the recovery at info.
async fn drive<S, K>(stream: S, what: &'static str, synced: Arc<AtomicBool>)
where
    S: futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send,
{
    let mut stream = std::pin::pin!(stream);
    let mut failing = false;
    while let Some(event) = stream.next().await {
        match event {
            Ok(event) => {
                if matches!(event, watcher::Event::InitDone) {
                    synced.store(true, Ordering::Relaxed);
                    tracing::debug!(what, "Watch listed");
                }
                if std::mem::take(&mut failing) {
                    tracing::info!(what, "Watch recovered");
                }
            }
            Err(error) => {
                if std::mem::replace(&mut failing, true) {
                    tracing::debug!(what, %error, "Watch failed again");
                } else {
                    tracing::warn!(what, %error, "Watch failed; retrying with backoff");
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn node(value: serde_json::Value) -> core::Node {
        serde_json::from_value(value).unwrap()
    }

    fn addresses() -> serde_json::Value {
        serde_json::json!([
            {"type": "InternalIP", "address": "10.0.0.5"},
            {"type": "InternalIP", "address": "10.0.0.6"},
            {"type": "Hostname", "address": "node-1"},
            {"type": "ExternalIP", "address": "fd00::5"},
        ])
    }

    #[test]
    fn the_first_address_of_the_first_present_type_is_scraped() {
        let node = node(serde_json::json!({
            "metadata": {"name": "node-1"},
            "status": {"addresses": addresses(), "daemonEndpoints": {"kubeletEndpoint": {"Port": 10255}}},
        }));
        let default = KubeletAddressing::default();
        assert_eq!(
            default.target(&node).unwrap().spec.url,
            "https://node-1:10250"
        );
        let internal = KubeletAddressing {
            address_types: vec![AddressType::InternalIp, AddressType::Hostname],
            ..KubeletAddressing::default()
        };
        assert_eq!(
            internal.target(&node).unwrap().spec.url,
            "https://10.0.0.5:10250"
        );
        let external = KubeletAddressing {
            address_types: vec![AddressType::ExternalDns, AddressType::ExternalIp],
            use_node_status_port: true,
            ..KubeletAddressing::default()
        };
        let target = external.target(&node).unwrap();
        assert_eq!(target.spec.url, "https://[fd00::5]:10255");
        assert_eq!(target.resource_path, DEFAULT_RESOURCE_PATH);
    }

    #[test]
    fn a_node_without_a_matching_address_says_which_types_were_tried() {
        let node = node(serde_json::json!({
            "metadata": {"name": "node-1"},
            "status": {"addresses": [{"type": "Hostname", "address": "node-1"}]},
        }));
        let addressing = KubeletAddressing {
            address_types: vec![AddressType::InternalIp, AddressType::ExternalIp],
            ..KubeletAddressing::default()
        };
        assert_eq!(
            addressing.target(&node).unwrap_err(),
            Unreachable {
                name: "node-1".to_owned(),
                reason: "no address matched types [InternalIP ExternalIP]".to_owned()
            }
        );
    }

    #[test]
    fn the_annotation_sets_the_path_and_the_status_port_is_used_only_when_asked() {
        let node = node(serde_json::json!({
            "metadata": {
                "name": "node-1",
                "labels": {"kubernetes.io/os": "linux"},
                "annotations": {RESOURCE_METRICS_PATH_ANNOTATION: "/custom/resource"},
            },
            "status": {
                "addresses": addresses(),
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10255}},
                "capacity": {"cpu": "4", "memory": "8Gi"},
                "allocatable": {"cpu": "3900m", "memory": "7Gi"},
            },
        }));
        let target = KubeletAddressing::default().target(&node).unwrap();
        assert_eq!(target.resource_path, "/custom/resource");
        assert_eq!(target.spec.url, "https://node-1:10250");
        assert_eq!(target.node.metadata.labels["kubernetes.io/os"], "linux");
        assert_eq!(target.node.status.allocatable["cpu"].to_string(), "3900m");
        assert_eq!(target.node.status.capacity["memory"].to_string(), "8Gi");
    }

    #[test]
    fn address_types_parse_as_spelled_by_the_api() {
        assert_eq!("InternalIP".parse(), Ok(AddressType::InternalIp));
        assert!("internalip".parse::<AddressType>().is_err());
    }
}
