//! The objects of the Metrics API (`metrics.k8s.io/v1beta1`) and the parts of
//! core/v1 that `kubectl top` reads.
//!
//! Field order and omission rules follow the Go structs, so that what we serve
//! is byte-for-byte what metrics-server serves and what we read from a real
//! API server deserialises without loss of anything `top` needs.
//! k8s-openapi is not used: it has no metrics.k8s.io types and orders
//! `ObjectMeta` fields differently from Go.

use std::fmt;

use serde::{Deserialize, Serialize};
use workingset_quantity::Quantity;

use crate::duration::GoDuration;
pub use crate::sorted_map::{Labels, SortedMap};

/// `API group/version` of the Metrics API.
pub const METRICS_API_VERSION: &str = "metrics.k8s.io/v1beta1";

/// Resource name → quantity, as `corev1.ResourceList`: sorted by name, as
/// Go writes map keys.
pub type ResourceList = crate::sorted_map::SortedMap<Quantity>;

/// The usage key for CPU.
pub const CPU: &str = "cpu";
/// The usage key for memory.
pub const MEMORY: &str = "memory";

/// A `metav1.Time`: RFC 3339 in UTC with whole seconds, as Go marshals it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(pub jiff::Timestamp);

impl Time {
    /// The current wall-clock time.
    pub fn now() -> Self {
        Self(jiff::Timestamp::now())
    }

    /// Seconds since the Unix epoch, truncated (Go marshals whole seconds).
    pub fn unix_seconds(self) -> i64 {
        self.0.as_second()
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `%Y` pads to four digits like Go for years 0–9999, the only range we see.
        let whole = jiff::Timestamp::from_second(self.0.as_second()).unwrap_or(self.0);
        write!(f, "{}", whole.strftime("%Y-%m-%dT%H:%M:%SZ"))
    }
}

impl Serialize for Time {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        crate::gotime::parse_rfc3339(&text)
            .map(Self)
            .map_err(serde::de::Error::custom)
    }
}

/// `metav1.ObjectMeta`, the fields that occur in Metrics API and `top` objects,
/// in Go's order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    /// Object name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Namespace; empty for cluster-scoped objects.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Unique id; metrics objects carry none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// Creation time. metrics-server sets it to the time of the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<Time>,
    /// Labels, copied from the Node or Pod.
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
}

/// `metav1.ListMeta`; metrics lists leave it empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListMeta {
    /// Version of the list, when the server tracks one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource_version: String,
}

/// `NodeMetrics`: one node's usage over a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeMetrics {
    /// `NodeMetrics`, only on single objects (list items carry no type meta).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `metrics.k8s.io/v1beta1`, only on single objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Name (the node's) and labels.
    pub metadata: ObjectMeta,
    /// Time of the newer of the two samples behind the figures.
    pub timestamp: Time,
    /// Time between the two samples.
    pub window: GoDuration,
    /// `cpu` in nanocores, `memory` working set in bytes.
    pub usage: ResourceList,
}

/// `PodMetrics`: the usage of each container of one pod.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodMetrics {
    /// `PodMetrics`, only on single objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `metrics.k8s.io/v1beta1`, only on single objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Name, namespace and labels of the pod.
    pub metadata: ObjectMeta,
    /// Time of the newer sample.
    pub timestamp: Time,
    /// Time between the two samples.
    pub window: GoDuration,
    /// One entry per container; the pause container is never among them.
    #[serde(default)]
    pub containers: Vec<ContainerMetrics>,
}

/// `ContainerMetrics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerMetrics {
    /// Container name within the pod.
    pub name: String,
    /// `cpu` and `memory`.
    pub usage: ResourceList,
}

/// `NodeMetricsList` / `PodMetricsList` / core lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct List<T> {
    /// `NodeMetricsList`, `PodMetricsList`, `NodeList`, `PodList`.
    pub kind: String,
    /// Group/version of the list.
    pub api_version: String,
    /// Always present, usually empty.
    #[serde(default)]
    pub metadata: ListMeta,
    /// The objects, already sorted by the server.
    #[serde(default = "Vec::new")]
    pub items: Vec<T>,
}

impl<T> List<T> {
    /// A list of kind `kind` in group/version `api_version`.
    pub fn new(kind: &str, api_version: &str, items: Vec<T>) -> Self {
        Self {
            kind: kind.to_owned(),
            api_version: api_version.to_owned(),
            metadata: ListMeta::default(),
            items,
        }
    }
}

/// The part of a core/v1 `Node` that `kubectl top node` reads.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// Name and labels.
    pub metadata: ObjectMeta,
    /// Capacity and allocatable resources.
    #[serde(default)]
    pub status: NodeStatus,
}

/// core/v1 `NodeStatus`, the resource lists only.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// Everything the node has.
    #[serde(default, skip_serializing_if = "ResourceList::is_empty")]
    pub capacity: ResourceList,
    /// What pods may use; the denominator of `kubectl top node` percentages.
    #[serde(default, skip_serializing_if = "ResourceList::is_empty")]
    pub allocatable: ResourceList,
}

/// The part of a core/v1 `Pod` that `kubectl top pod` reads when there are no
/// metrics (to tell "no pods" from "metrics not available yet").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Pod {
    /// Name, namespace, labels, creation time.
    pub metadata: ObjectMeta,
    /// Its containers and the node it runs on; omitted when neither is
    /// known.
    #[serde(default, skip_serializing_if = "PodSpec::is_empty")]
    pub spec: PodSpec,
}

/// The part of a core/v1 `PodSpec` served, in Go's field order: the
/// containers (names only) and the node the pod is bound to.
///
/// `containers` is always written when there is a spec: it is required in
/// a `PodSpec`, and clients that validate (the official Python client)
/// refuse a spec without it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    /// The pod's containers.
    #[serde(default)]
    pub containers: Vec<PodContainer>,
    /// The node's name; empty when not known.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub node_name: String,
}

/// The part of a core/v1 `Container` served: its name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodContainer {
    /// The container's name within its pod.
    pub name: String,
}

impl PodSpec {
    /// Whether nothing is known (serialised as no `spec` at all).
    pub fn is_empty(&self) -> bool {
        self.node_name.is_empty() && self.containers.is_empty()
    }

    /// A spec of these container names (sorted, as no pod spec order is
    /// known outside the API server) on no node yet.
    pub fn of_containers<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let mut containers: Vec<PodContainer> = names
            .into_iter()
            .map(|name| PodContainer {
                name: name.to_owned(),
            })
            .collect();
        containers.sort_by(|a, b| a.name.cmp(&b.name));
        Self {
            containers,
            node_name: String::new(),
        }
    }
}

impl ContainerMetrics {
    /// A container's usage from its CPU rate and working set.
    pub fn new(name: impl Into<String>, nanocores: u64, working_set_bytes: u64) -> Self {
        Self {
            name: name.into(),
            usage: usage(nanocores, working_set_bytes),
        }
    }
}

/// The `usage` map metrics-server builds: `cpu` as nanocores (scale −9),
/// `memory` as BinarySI bytes.
pub fn usage(nanocores: u64, working_set_bytes: u64) -> ResourceList {
    let mut list = ResourceList::new();
    list.insert(CPU.to_owned(), Quantity::from_nanocores(nanocores));
    list.insert(MEMORY.to_owned(), Quantity::from_bytes(working_set_bytes));
    list
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(text: &str) -> Time {
        Time(text.parse().unwrap())
    }

    #[test]
    fn node_metrics_serialise_in_go_field_order() {
        let node = NodeMetrics {
            kind: Some("NodeMetrics".into()),
            api_version: Some(METRICS_API_VERSION.into()),
            metadata: ObjectMeta {
                name: "minikube".into(),
                creation_timestamp: Some(at("2022-01-27T18:48:43Z")),
                labels: [("kubernetes.io/os".to_owned(), "linux".to_owned())].into(),
                ..ObjectMeta::default()
            },
            timestamp: at("2022-01-27T18:48:33.250Z"),
            window: GoDuration(Duration::from_millis(17_913)),
            usage: usage(487_558_164, 732_212 * 1024),
        };
        assert_eq!(
            serde_json::to_string(&node).unwrap(),
            r#"{"kind":"NodeMetrics","apiVersion":"metrics.k8s.io/v1beta1","metadata":{"name":"minikube","creationTimestamp":"2022-01-27T18:48:43Z","labels":{"kubernetes.io/os":"linux"}},"timestamp":"2022-01-27T18:48:33Z","window":"17.913s","usage":{"cpu":"487558164n","memory":"732212Ki"}}"#
        );
    }

    #[test]
    fn pod_metrics_list_items_carry_no_type_meta() {
        let pod = PodMetrics {
            kind: None,
            api_version: None,
            metadata: ObjectMeta {
                name: "kube-scheduler-minikube".into(),
                namespace: "kube-system".into(),
                creation_timestamp: Some(at("2022-01-27T19:25:00Z")),
                ..ObjectMeta::default()
            },
            timestamp: at("2022-01-27T19:24:31Z"),
            window: GoDuration(Duration::from_secs(30)),
            containers: vec![ContainerMetrics::new(
                "kube-scheduler",
                9_559_630,
                22_244 * 1024,
            )],
        };
        let list = List::new("PodMetricsList", METRICS_API_VERSION, vec![pod]);
        assert_eq!(
            serde_json::to_string(&list).unwrap(),
            r#"{"kind":"PodMetricsList","apiVersion":"metrics.k8s.io/v1beta1","metadata":{},"items":[{"metadata":{"name":"kube-scheduler-minikube","namespace":"kube-system","creationTimestamp":"2022-01-27T19:25:00Z"},"timestamp":"2022-01-27T19:24:31Z","window":"30s","containers":[{"name":"kube-scheduler","usage":{"cpu":"9559630n","memory":"22244Ki"}}]}]}"#
        );
    }

    #[test]
    fn reads_a_real_node_list_ignoring_what_top_does_not_use() {
        let json = r#"{"kind":"NodeList","apiVersion":"v1","metadata":{"resourceVersion":"12"},
          "items":[{"metadata":{"name":"n1","uid":"u","labels":{"a":"b"},"annotations":{"x":"y"}},
          "spec":{"podCIDR":"10.0.0.0/24"},
          "status":{"capacity":{"cpu":"4","memory":"16393000Ki","pods":"110"},
                    "allocatable":{"cpu":"3800m","memory":"15Gi"},"conditions":[]}}]}"#;
        let list: List<Node> = serde_json::from_str(json).unwrap();
        let node = &list.items[0];
        assert_eq!(node.metadata.name, "n1");
        assert_eq!(node.status.allocatable[CPU].milli_value(), 3800);
        assert_eq!(node.status.capacity[MEMORY].value(), 16_393_000 * 1024);
    }
}
