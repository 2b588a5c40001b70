//! Which objects a request asks for: single gets by binary search, lists
//! filtered by label and field selectors, and the `Status` a server answers
//! when an object is missing or a selector is bad.
//!
//! Pure functions of a [`Catalog`] (the server's published snapshot, the
//! local mode's two samples), so that every front end answers alike.
//!
//! What is matched, as upstream:
//! - Label selectors apply to the labels the objects carry (copied from the
//!   Node or Pod, as metrics-server lists Nodes and Pods by label first).
//! - Metrics API field selectors accept `metadata.name` and
//!   `metadata.namespace` on both resources (the API machinery's default
//!   field-label conversion, since metrics-server registers none); a node
//!   has no namespace, so `metadata.namespace=` matches every node.
//! - Core field selectors accept what the kube-apiserver's conversions
//!   accept and this snapshot can answer: `metadata.name` and
//!   `spec.unschedulable` (always `false` here) on nodes, `metadata.name`
//!   and `metadata.namespace` on pods; any other field is refused with the
//!   apiserver's `field label not supported: …`.
//! - Selectors are parsed label selector first, then field selector, then
//!   the fields checked, so the first error reported is the apiserver's.
//! - A missing object: when the node or pod itself is not in the snapshot
//!   metrics-server answers its lister's error (`node "x" not found`,
//!   `pods "x" not found`); when it is there but has no metrics,
//!   `nodemetrics.metrics.k8s.io "x" not found` or
//!   `podmetrics.metrics.k8s.io "ns/x" not found`.

use std::cmp::Ordering;

use crate::metrics::{Node, NodeMetrics, ObjectMeta, Pod, PodMetrics};
use crate::selector::{FieldSelector, LabelSelector, METRICS_API_FIELDS};
use crate::status::Status;

/// An object a list selects from: what selectors match is its metadata
/// (name, namespace, labels).
///
/// The model's objects are listed as they are; a server may list its own
/// compact objects (sharing a pod's metadata between its usage and its core
/// object, say) as long as it can lend their metadata.
pub trait Listed {
    /// The metadata selectors match and lookups compare.
    fn listed_meta(&self) -> &ObjectMeta;
}

macro_rules! listed_by_metadata {
    ($($type:ty),*) => {$(
        impl Listed for $type {
            fn listed_meta(&self) -> &ObjectMeta {
                &self.metadata
            }
        }
    )*};
}
listed_by_metadata!(NodeMetrics, PodMetrics, Node, Pod);

impl<T: Listed + ?Sized> Listed for std::sync::Arc<T> {
    fn listed_meta(&self) -> &ObjectMeta {
        (**self).listed_meta()
    }
}

/// The objects a Metrics API server (and, in standalone mode, its core API)
/// can answer with, each slice sorted as the server lists it.
pub trait Catalog {
    /// What a node metrics list holds.
    type NodeMetrics: Listed;
    /// What a pod metrics list holds.
    type PodMetrics: Listed;
    /// What a core node list holds.
    type Node: Listed;
    /// What a core pod list holds.
    type Pod: Listed;
    /// Node metrics, sorted by name.
    fn node_metrics(&self) -> &[Self::NodeMetrics];
    /// Pod metrics, sorted by namespace then name.
    fn pod_metrics(&self) -> &[Self::PodMetrics];
    /// Core `Node` objects, sorted by name.
    fn nodes(&self) -> &[Self::Node];
    /// Core `Pod` objects, sorted by namespace then name.
    fn pods(&self) -> &[Self::Pod];
}

/// The API group of the Metrics API.
pub const METRICS_GROUP: &str = "metrics.k8s.io";

/// The selectors of a list request, as sent (`labelSelector`,
/// `fieldSelector`; empty selects everything).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListOptions<'a> {
    /// Kubernetes label selector text.
    pub label_selector: &'a str,
    /// Kubernetes field selector text.
    pub field_selector: &'a str,
}

/// Which fields a resource accepts in a field selector and how it words a
/// refusal.
#[derive(Debug, Clone, Copy)]
enum Fields {
    /// The Metrics API: the API machinery's default conversion.
    Metrics,
    /// A core resource: the kube-apiserver's own conversion for it.
    Core(&'static [&'static str]),
}

const CORE_NODE_FIELDS: &[&str] = &["metadata.name", "spec.unschedulable"];
const CORE_POD_FIELDS: &[&str] = &["metadata.name", "metadata.namespace"];

/// Parsed selectors, ready to match objects.
#[derive(Debug)]
struct Selectors {
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Selectors {
    fn parse(options: &ListOptions<'_>, allowed: Fields) -> Result<Self, Status> {
        let labels = LabelSelector::parse(options.label_selector)
            .map_err(|error| Status::bad_request(error.to_string()))?;
        let fields = FieldSelector::parse(options.field_selector)
            .map_err(|error| Status::bad_request(error.to_string()))?;
        match allowed {
            Fields::Metrics => fields
                .check_fields(&METRICS_API_FIELDS)
                .map_err(|error| Status::bad_request(error.to_string()))?,
            Fields::Core(known) => {
                if let Some(term) = fields
                    .terms()
                    .iter()
                    .find(|term| !known.contains(&term.field()))
                {
                    return Err(Status::bad_request(format!(
                        "field label not supported: {}",
                        term.field()
                    )));
                }
            }
        }
        Ok(Self { labels, fields })
    }

    fn is_everything(&self) -> bool {
        self.labels.is_everything() && self.fields.is_everything()
    }

    /// Whether an object with this metadata is selected; `namespaced`
    /// says whether `metadata.namespace` is one of its fields.
    fn matches(&self, meta: &ObjectMeta, namespaced: bool) -> bool {
        self.labels.matches(&meta.labels)
            && self.fields.matches_with(|field| match field {
                "metadata.name" => Some(meta.name.as_str()),
                "metadata.namespace" if namespaced => Some(meta.namespace.as_str()),
                "spec.unschedulable" if !namespaced => Some("false"),
                _ => None,
            })
    }

    fn filter<'p, T: Listed>(&self, objects: &'p [T], namespaced: bool) -> Vec<&'p T> {
        if self.is_everything() {
            return objects.iter().collect();
        }
        objects
            .iter()
            .filter(|object| self.matches(object.listed_meta(), namespaced))
            .collect()
    }
}

/// Orders a node-sorted slice element against a name.
fn by_name(meta: &ObjectMeta, name: &str) -> Ordering {
    meta.name.as_str().cmp(name)
}

/// Orders a namespace-then-name-sorted slice element against a key.
fn by_namespace_and_name(meta: &ObjectMeta, namespace: &str, name: &str) -> Ordering {
    (meta.namespace.as_str(), meta.name.as_str()).cmp(&(namespace, name))
}

/// The objects of one namespace in a namespace-then-name-sorted slice, or
/// all of them for `None`.
fn in_namespace<'p, T: Listed>(objects: &'p [T], namespace: Option<&str>) -> &'p [T] {
    let Some(namespace) = namespace else {
        return objects;
    };
    let start =
        objects.partition_point(|object| object.listed_meta().namespace.as_str() < namespace);
    let end =
        objects.partition_point(|object| object.listed_meta().namespace.as_str() <= namespace);
    objects.get(start..end).unwrap_or_default()
}

/// `GET /apis/metrics.k8s.io/v1beta1/nodes`: the selected node metrics,
/// sorted by name.
pub fn list_node_metrics<'p, C: Catalog + ?Sized>(
    catalog: &'p C,
    options: &ListOptions<'_>,
) -> Result<Vec<&'p C::NodeMetrics>, Status> {
    let selectors = Selectors::parse(options, Fields::Metrics)?;
    Ok(selectors.filter(catalog.node_metrics(), false))
}

/// `GET /apis/metrics.k8s.io/v1beta1/nodes/{name}`.
pub fn get_node_metrics<'p, C: Catalog + ?Sized>(
    catalog: &'p C,
    name: &str,
) -> Result<&'p C::NodeMetrics, Status> {
    let found = catalog
        .node_metrics()
        .binary_search_by(|object| by_name(object.listed_meta(), name))
        .ok()
        .and_then(|index| catalog.node_metrics().get(index));
    found.ok_or_else(|| {
        let node_exists = catalog
            .nodes()
            .binary_search_by(|node| by_name(node.listed_meta(), name))
            .is_ok();
        if node_exists {
            Status::not_found(METRICS_GROUP, "nodemetrics", name)
        } else {
            // client-go's node lister names the resource in the singular.
            Status::not_found("", "node", name)
        }
    })
}

/// `GET /apis/metrics.k8s.io/v1beta1/pods` (`namespace` `None`) or
/// `…/namespaces/{namespace}/pods`: the selected pod metrics, sorted by
/// namespace then name.
pub fn list_pod_metrics<'p, C: Catalog + ?Sized>(
    catalog: &'p C,
    namespace: Option<&str>,
    options: &ListOptions<'_>,
) -> Result<Vec<&'p C::PodMetrics>, Status> {
    let selectors = Selectors::parse(options, Fields::Metrics)?;
    let candidates = in_namespace(catalog.pod_metrics(), namespace);
    Ok(selectors.filter(candidates, true))
}

/// Every pod metrics object of `namespace` (all for `None`), in list
/// order: [`list_pod_metrics`] without selectors, which cannot fail.
pub fn all_pod_metrics<'p, C: Catalog + ?Sized>(
    catalog: &'p C,
    namespace: Option<&str>,
) -> &'p [C::PodMetrics] {
    in_namespace(catalog.pod_metrics(), namespace)
}

/// `GET /apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods/{name}`.
pub fn get_pod_metrics<'p, C: Catalog + ?Sized>(
    catalog: &'p C,
    namespace: &str,
    name: &str,
) -> Result<&'p C::PodMetrics, Status> {
    let found = catalog
        .pod_metrics()
        .binary_search_by(|object| by_namespace_and_name(object.listed_meta(), namespace, name))
        .ok()
        .and_then(|index| catalog.pod_metrics().get(index));
    found.ok_or_else(|| {
        let pod_exists = catalog
            .pods()
            .binary_search_by(|pod| by_namespace_and_name(pod.listed_meta(), namespace, name))
            .is_ok();
        if pod_exists {
            Status::not_found(METRICS_GROUP, "podmetrics", &format!("{namespace}/{name}"))
        } else {
            Status::not_found("", "pods", name)
        }
    })
}

/// `GET /api/v1/nodes`: the selected nodes, sorted by name.
pub fn list_nodes<'p, C: Catalog + ?Sized>(
    catalog: &'p C,
    options: &ListOptions<'_>,
) -> Result<Vec<&'p C::Node>, Status> {
    let selectors = Selectors::parse(options, Fields::Core(CORE_NODE_FIELDS))?;
    Ok(selectors.filter(catalog.nodes(), false))
}

/// `GET /api/v1/nodes/{name}`.
pub fn get_node<'p, C: Catalog + ?Sized>(
    catalog: &'p C,
    name: &str,
) -> Result<&'p C::Node, Status> {
    catalog
        .nodes()
        .binary_search_by(|node| by_name(node.listed_meta(), name))
        .ok()
        .and_then(|index| catalog.nodes().get(index))
        .ok_or_else(|| Status::not_found("", "nodes", name))
}

/// `GET /api/v1/pods` (`namespace` `None`) or
/// `/api/v1/namespaces/{namespace}/pods`: the selected pods, sorted by
/// namespace then name.
pub fn list_pods<'p, C: Catalog + ?Sized>(
    catalog: &'p C,
    namespace: Option<&str>,
    options: &ListOptions<'_>,
) -> Result<Vec<&'p C::Pod>, Status> {
    let selectors = Selectors::parse(options, Fields::Core(CORE_POD_FIELDS))?;
    let candidates = in_namespace(catalog.pods(), namespace);
    Ok(selectors.filter(candidates, true))
}

/// `GET /api/v1/namespaces/{namespace}/pods/{name}`.
pub fn get_pod<'p, C: Catalog + ?Sized>(
    catalog: &'p C,
    namespace: &str,
    name: &str,
) -> Result<&'p C::Pod, Status> {
    catalog
        .pods()
        .binary_search_by(|pod| by_namespace_and_name(pod.listed_meta(), namespace, name))
        .ok()
        .and_then(|index| catalog.pods().get(index))
        .ok_or_else(|| Status::not_found("", "pods", name))
}
