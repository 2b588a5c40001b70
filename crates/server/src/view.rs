//! What the API serves: one immutable snapshot, rebuilt after every tick and
//! swapped in atomically, so request handlers never wait for scraping.
//!
//! The snapshot is compact: a served pod's metrics point at the pod's own
//! object (name, namespace, labels), which the inventory already holds and
//! the core pod list serves too, and container names are the store's. A
//! tick therefore allocates one small record per pod instead of copying
//! names and label maps, and the usage is turned into Quantities only when
//! a response is written.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use workingset_model::duration::GoDuration;
use workingset_model::metrics::{
    ContainerMetrics, Node, NodeMetrics, ObjectMeta, Pod, PodMetrics, Time, usage,
};
use workingset_model::select::Listed;

use crate::inventory::NodeInventory;
use crate::point::PodRef;
use crate::store::Store;

/// One container's usage as served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerUsage {
    /// The container's name.
    pub name: Arc<str>,
    /// CPU rate in nanocores.
    pub nanocores: u64,
    /// Working set in bytes.
    pub bytes: u64,
}

/// A served `NodeMetrics`: the node's object (name, labels) and its usage.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeMetricsItem {
    /// The core object whose name and labels the metrics carry.
    pub node: Arc<Node>,
    /// Time of the newer sample.
    pub timestamp: Timestamp,
    /// Time between the two samples.
    pub window: Duration,
    /// CPU rate in nanocores.
    pub nanocores: u64,
    /// Working set in bytes.
    pub bytes: u64,
}

/// A served `PodMetrics`: the pod's object (name, namespace, labels) and
/// its containers' usage.
#[derive(Debug, Clone, PartialEq)]
pub struct PodMetricsItem {
    /// The core object whose name, namespace and labels the metrics carry.
    pub pod: Arc<Pod>,
    /// Time of the container with the earliest sample.
    pub timestamp: Timestamp,
    /// That container's window.
    pub window: Duration,
    /// Containers sorted by name; never empty.
    pub containers: Box<[ContainerUsage]>,
}

impl NodeMetricsItem {
    /// The model object, as a list item (no type meta, no creation time).
    pub fn to_model(&self) -> NodeMetrics {
        NodeMetrics {
            kind: None,
            api_version: None,
            metadata: metrics_meta(&self.node.metadata),
            timestamp: Time(self.timestamp),
            window: GoDuration(self.window),
            usage: usage(self.nanocores, self.bytes),
        }
    }
}

impl PodMetricsItem {
    /// The model object, as a list item (no type meta, no creation time).
    pub fn to_model(&self) -> PodMetrics {
        PodMetrics {
            kind: None,
            api_version: None,
            metadata: metrics_meta(&self.pod.metadata),
            timestamp: Time(self.timestamp),
            window: GoDuration(self.window),
            containers: self
                .containers
                .iter()
                .map(|c| ContainerMetrics::new(&*c.name, c.nanocores, c.bytes))
                .collect(),
        }
    }
}

/// A metrics object's metadata: the object's name, namespace and labels
/// only (metrics-server copies nothing else).
pub fn metrics_meta(object: &ObjectMeta) -> ObjectMeta {
    ObjectMeta {
        name: object.name.clone(),
        namespace: object.namespace.clone(),
        labels: object.labels.clone(),
        ..ObjectMeta::default()
    }
}

impl Listed for NodeMetricsItem {
    fn listed_meta(&self) -> &ObjectMeta {
        &self.node.metadata
    }
}

impl Listed for PodMetricsItem {
    fn listed_meta(&self) -> &ObjectMeta {
        &self.pod.metadata
    }
}

/// Everything the HTTP handlers read.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    /// When this snapshot was built.
    pub built_at: Timestamp,
    /// Node metrics, sorted by name.
    pub node_metrics: Vec<NodeMetricsItem>,
    /// Pod metrics, sorted by namespace then name; containers sorted by name.
    pub pod_metrics: Vec<PodMetricsItem>,
    /// Core `Node` objects, sorted by name (standalone `/api/v1/nodes`).
    pub nodes: Vec<Arc<Node>>,
    /// Core `Pod` objects, sorted by namespace then name (standalone
    /// `/api/v1/namespaces/{ns}/pods`).
    pub pods: Vec<Arc<Pod>>,
    /// Containers of served pods that have no rate yet (fresh or
    /// restarted): served without a figure of their own.
    pub containers_without_rate: usize,
    /// Whole-list bodies already written from this snapshot.
    pub responses: ResponseCache,
}

/// Bodies of whole lists (every pod, every node) written from one snapshot,
/// each for the second its objects were stamped with.
///
/// metrics-server stamps every listed object with the response time in
/// whole seconds, so two lists of one snapshot written in the same second
/// are the same bytes. Dashboards and `kubectl top pod -A` from many users
/// ask for the whole list at once; the first request of a second writes it
/// and the others share it, so 20 clients cost one encoding and one body in
/// memory instead of 20. The cache lives and dies with its snapshot.
#[derive(Default)]
pub struct ResponseCache {
    slots: tokio::sync::Mutex<Vec<CachedBody>>,
}

#[derive(Debug)]
struct CachedBody {
    list: &'static str,
    second: String,
    body: bytes::Bytes,
}

impl ResponseCache {
    /// The body of `list` stamped with `second`: the cached one, or the
    /// one `write` makes (cached for later requests unless it failed).
    /// Concurrent requests for a list wait for the first one's body rather
    /// than each writing their own.
    pub async fn get_or_write<F, Fut, E>(
        &self,
        list: &'static str,
        second: &str,
        write: F,
    ) -> Result<bytes::Bytes, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<bytes::Bytes, E>>,
    {
        let mut slots = self.slots.lock().await;
        if let Some(cached) = slots
            .iter()
            .find(|cached| cached.list == list && cached.second == second)
        {
            return Ok(cached.body.clone());
        }
        let body = write().await?;
        // One body per list: an older second's is of no more use.
        slots.retain(|cached| cached.list != list);
        slots.push(CachedBody {
            list,
            second: second.to_owned(),
            body: body.clone(),
        });
        Ok(body)
    }
}

impl Clone for ResponseCache {
    /// A copy of a snapshot starts with no bodies.
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl PartialEq for ResponseCache {
    /// Bodies are derived data: snapshots compare by their objects.
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseCache").finish_non_exhaustive()
    }
}

impl Published {
    /// Nothing yet: before the first tick has finished.
    pub fn empty(at: Timestamp) -> Self {
        Self {
            built_at: at,
            node_metrics: Vec::new(),
            pod_metrics: Vec::new(),
            nodes: Vec::new(),
            pods: Vec::new(),
            containers_without_rate: 0,
            responses: ResponseCache::default(),
        }
    }
}

impl workingset_model::select::Catalog for Published {
    type NodeMetrics = NodeMetricsItem;
    type PodMetrics = PodMetricsItem;
    type Node = Arc<Node>;
    type Pod = Arc<Pod>;
    fn node_metrics(&self) -> &[NodeMetricsItem] {
        &self.node_metrics
    }
    fn pod_metrics(&self) -> &[PodMetricsItem] {
        &self.pod_metrics
    }
    fn nodes(&self) -> &[Arc<Node>] {
        &self.nodes
    }
    fn pods(&self) -> &[Arc<Pod>] {
        &self.pods
    }
}

/// The snapshot for `now`: usage joined with the inventories (node name →
/// what that node runs).
///
/// - A `NodeMetrics` for every node that has an inventory and a usage, with
///   the inventory `Node`'s name and labels (the inventory is keyed by the
///   name the node is scraped under, which its `Node` carries).
/// - A `PodMetrics` for every pod listed in some inventory that has a usage,
///   with the inventory `Pod`'s labels. metrics-server lists containers in Go
///   map order (random per request); here they are sorted by name, so that
///   the same data always gives the same bytes.
/// - `nodes` and `pods`: every inventory object, sorted. A pod listed by two
///   inventories appears once: the copy from the node whose figures the
///   store serves for it, else the one from the first node by name.
/// - `cluster_pods`: Kubernetes mode's pods, listed by the API server
///   rather than by a node; joined by namespace and name like the rest.
pub fn build(
    store: &Store,
    inventories: &BTreeMap<String, NodeInventory>,
    cluster_pods: &[Arc<Pod>],
    now: Timestamp,
) -> Published {
    let mut node_metrics = Vec::new();
    let mut nodes = Vec::with_capacity(inventories.len());
    for (name, inventory) in inventories {
        nodes.push(Arc::clone(&inventory.node));
        if let Some(node_usage) = store.node_usage(name, now) {
            node_metrics.push(NodeMetricsItem {
                node: Arc::clone(&inventory.node),
                timestamp: node_usage.timestamp,
                window: node_usage.window,
                nanocores: node_usage.cpu_nanocores,
                bytes: node_usage.memory_bytes,
            });
        }
    }
    nodes.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    node_metrics.sort_by(|a, b| a.node.metadata.name.cmp(&b.node.metadata.name));

    // Every listed pod with the node that lists it; the stable sort keeps
    // duplicates in node-name order. Inventories list their pods sorted, so
    // with one inventory this sort finds the runs already in order.
    let mut listed: Vec<(&Arc<Pod>, &str)> = inventories
        .iter()
        .flat_map(|(node, inventory)| inventory.pods.iter().map(move |pod| (pod, node.as_str())))
        .chain(cluster_pods.iter().map(|pod| (pod, "")))
        .collect();
    listed.sort_by(|(a, _), (b, _)| namespace_and_name(a).cmp(&namespace_and_name(b)));

    let mut pod_metrics = Vec::with_capacity(listed.len());
    let mut pods = Vec::with_capacity(listed.len());
    let mut containers_without_rate = 0;
    // One key reused for every lookup: no allocation per pod.
    let mut key = PodRef {
        namespace: String::new(),
        name: String::new(),
    };
    for same_pod in listed.chunk_by(|(a, _), (b, _)| namespace_and_name(a) == namespace_and_name(b))
    {
        let Some(&(first, _)) = same_pod.first() else {
            continue;
        };
        key.namespace.clear();
        key.namespace.push_str(&first.metadata.namespace);
        key.name.clear();
        key.name.push_str(&first.metadata.name);
        let pod = match same_pod {
            [_] => first,
            _ => {
                let serving = store.pod_node(&key, now);
                same_pod
                    .iter()
                    .find(|(_, node)| Some(*node) == serving)
                    .map_or(first, |(pod, _)| *pod)
            }
        };
        if let Some(pod_usage) = store.pod_usage(&key, now) {
            containers_without_rate += pod_usage.without_rate.len();
            pod_metrics.push(PodMetricsItem {
                pod: Arc::clone(pod),
                timestamp: pod_usage.timestamp,
                window: pod_usage.window,
                containers: pod_usage
                    .containers
                    .into_iter()
                    .map(|(name, nanocores, bytes)| ContainerUsage {
                        name,
                        nanocores,
                        bytes,
                    })
                    .collect(),
            });
        }
        pods.push(Arc::clone(pod));
    }

    Published {
        built_at: now,
        node_metrics,
        pod_metrics,
        nodes,
        pods,
        containers_without_rate,
        responses: ResponseCache::default(),
    }
}

fn namespace_and_name(pod: &Pod) -> (&str, &str) {
    (&pod.metadata.namespace, &pod.metadata.name)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::point::{MetricsPoint, NodeBatch, PodPoints};

    const BASE: i64 = 1_700_000_000;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(BASE + secs).unwrap()
    }

    fn point(secs: i64, cpu_ns: u64, memory: u64) -> MetricsPoint {
        MetricsPoint {
            timestamp: at(secs),
            cumulative_cpu_ns: cpu_ns,
            memory_working_set: memory,
            start_time: None,
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn node_object(name: &str, pairs: &[(&str, &str)]) -> Node {
        Node {
            metadata: ObjectMeta {
                name: name.into(),
                labels: labels(pairs),
                ..ObjectMeta::default()
            },
            ..Node::default()
        }
    }

    fn pod_object(namespace: &str, name: &str, pairs: &[(&str, &str)]) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: name.into(),
                namespace: namespace.into(),
                labels: labels(pairs),
                ..ObjectMeta::default()
            },
            ..Pod::default()
        }
    }

    fn pod_ref(namespace: &str, name: &str) -> PodRef {
        PodRef {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// Two scrapes 15 s apart of `node`: the node at 1 core, each container
    /// of each pod at 0.25 core.
    fn scrape_twice(store: &mut Store, node: &str, pods: &[(&str, &str, &[&str])]) {
        for t in [0, 15] {
            let cpu = |per_second: u64| per_second * (t as u64 + 1);
            let mut batch = NodeBatch {
                node: node.into(),
                node_point: Some(point(t, cpu(1_000_000_000), 4 << 30)),
                ..NodeBatch::default()
            };
            for (namespace, name, containers) in pods {
                let points: PodPoints = containers
                    .iter()
                    .map(|c| ((*c).to_owned(), point(t, cpu(250_000_000), 5 << 20)))
                    .collect();
                batch.pods.insert(pod_ref(namespace, name), points);
            }
            store.record(batch, at(t));
        }
    }

    #[test]
    fn joins_usage_with_inventories_sorted_and_labelled() {
        let mut store = Store::new(Duration::from_secs(15));
        scrape_twice(
            &mut store,
            "b-node",
            &[
                ("web", "z", &["nginx", "envoy"]),
                ("kube-system", "dns", &["coredns"]),
                ("web", "a", &["app"]),
            ],
        );
        scrape_twice(&mut store, "a-node", &[("web", "m", &["app"])]);
        // Scraped but not in any inventory: not served.
        scrape_twice(&mut store, "c-node", &[("web", "stray", &["app"])]);

        let mut inventories = BTreeMap::new();
        inventories.insert(
            "b-node".to_owned(),
            NodeInventory {
                node: Arc::new(node_object("b-node", &[("kubernetes.io/os", "linux")])),
                pods: vec![
                    Arc::new(pod_object("web", "z", &[("app", "web")])),
                    Arc::new(pod_object("kube-system", "dns", &[])),
                    Arc::new(pod_object("web", "a", &[])),
                    // Listed but never scraped: in `pods`, not in metrics.
                    Arc::new(pod_object("web", "pending", &[])),
                ],
            },
        );
        inventories.insert(
            "a-node".to_owned(),
            NodeInventory {
                node: Arc::new(node_object("a-node", &[])),
                pods: vec![Arc::new(pod_object("web", "m", &[]))],
            },
        );
        // In an inventory but never scraped: in `nodes`, not in metrics.
        inventories.insert(
            "d-node".to_owned(),
            NodeInventory {
                node: Arc::new(node_object("d-node", &[])),
                pods: vec![],
            },
        );

        let published = build(&store, &inventories, &[], at(20));
        assert_eq!(published.built_at, at(20));
        let names = |items: Vec<(&str, &str)>| {
            items
                .into_iter()
                .map(|(a, b)| format!("{a}/{b}"))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            published
                .node_metrics
                .iter()
                .map(|m| m.node.metadata.name.as_str())
                .collect::<Vec<_>>(),
            ["a-node", "b-node"]
        );
        assert_eq!(
            published
                .nodes
                .iter()
                .map(|n| n.metadata.name.as_str())
                .collect::<Vec<_>>(),
            ["a-node", "b-node", "d-node"]
        );
        assert_eq!(
            names(
                published
                    .pod_metrics
                    .iter()
                    .map(|m| (
                        m.pod.metadata.namespace.as_str(),
                        m.pod.metadata.name.as_str()
                    ))
                    .collect()
            ),
            ["kube-system/dns", "web/a", "web/m", "web/z"]
        );
        assert_eq!(
            names(
                published
                    .pods
                    .iter()
                    .map(|p| (p.metadata.namespace.as_str(), p.metadata.name.as_str()))
                    .collect()
            ),
            ["kube-system/dns", "web/a", "web/m", "web/pending", "web/z"]
        );

        let node = serde_json::to_string(&published.node_metrics[1].to_model()).unwrap();
        assert_eq!(
            node,
            r#"{"metadata":{"name":"b-node","labels":{"kubernetes.io/os":"linux"}},"timestamp":"2023-11-14T22:13:35Z","window":"15s","usage":{"cpu":"1","memory":"4Gi"}}"#
        );
        let pod = serde_json::to_string(&published.pod_metrics[3].to_model()).unwrap();
        assert_eq!(
            pod,
            r#"{"metadata":{"name":"z","namespace":"web","labels":{"app":"web"}},"timestamp":"2023-11-14T22:13:35Z","window":"15s","containers":[{"name":"envoy","usage":{"cpu":"250m","memory":"5Mi"}},{"name":"nginx","usage":{"cpu":"250m","memory":"5Mi"}}]}"#
        );
    }

    #[tokio::test]
    async fn a_whole_list_is_written_once_per_second() {
        let cache = ResponseCache::default();
        let writes = std::sync::atomic::AtomicUsize::new(0);
        let write = |text: &'static str| {
            writes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            async move { Ok::<_, ()>(bytes::Bytes::from_static(text.as_bytes())) }
        };
        let first = cache.get_or_write("pods", "12:00:00", || write("a")).await;
        let again = cache.get_or_write("pods", "12:00:00", || write("b")).await;
        assert_eq!((first, again), (Ok("a".into()), Ok("a".into())));
        assert_eq!(writes.load(std::sync::atomic::Ordering::Relaxed), 1);
        // Another list, another second: written anew.
        let nodes = cache.get_or_write("nodes", "12:00:00", || write("n")).await;
        let later = cache.get_or_write("pods", "12:00:01", || write("c")).await;
        assert_eq!((nodes, later), (Ok("n".into()), Ok("c".into())));
        // A failure is not kept.
        let failed = cache
            .get_or_write("pods", "12:00:02", || async {
                Err::<bytes::Bytes, _>("no")
            })
            .await;
        assert_eq!(failed, Err("no"));
        let retried = cache.get_or_write("pods", "12:00:02", || write("d")).await;
        assert_eq!(retried, Ok("d".into()));
        assert_eq!(writes.load(std::sync::atomic::Ordering::Relaxed), 4);
        // A copied snapshot starts empty.
        let copy = cache.clone();
        assert_eq!(
            copy.get_or_write("pods", "12:00:02", || write("e")).await,
            Ok("e".into())
        );
    }

    #[test]
    fn nothing_is_served_after_the_grace() {
        let mut store = Store::new(Duration::from_secs(15));
        scrape_twice(&mut store, "n", &[("ns", "p", &["c"])]);
        let inventories = BTreeMap::from([(
            "n".to_owned(),
            NodeInventory {
                node: Arc::new(node_object("n", &[])),
                pods: vec![Arc::new(pod_object("ns", "p", &[]))],
            },
        )]);
        let served = build(&store, &inventories, &[], at(45));
        assert_eq!(
            (served.node_metrics.len(), served.pod_metrics.len()),
            (1, 1)
        );
        let stale = build(&store, &inventories, &[], at(46));
        assert!(stale.node_metrics.is_empty() && stale.pod_metrics.is_empty());
        assert_eq!(
            (stale.nodes.len(), stale.pods.len()),
            (1, 1),
            "objects stay listed"
        );
    }

    #[test]
    fn pod_listed_by_two_inventories_appears_once_from_the_serving_node() {
        let mut store = Store::new(Duration::from_secs(15));
        scrape_twice(&mut store, "b", &[("ns", "p", &["c"])]);
        let inventories = BTreeMap::from([
            (
                "a".to_owned(),
                NodeInventory {
                    node: Arc::new(node_object("a", &[])),
                    pods: vec![Arc::new(pod_object("ns", "p", &[("from", "a")]))],
                },
            ),
            (
                "b".to_owned(),
                NodeInventory {
                    node: Arc::new(node_object("b", &[])),
                    pods: vec![Arc::new(pod_object("ns", "p", &[("from", "b")]))],
                },
            ),
        ]);
        let published = build(&store, &inventories, &[], at(15));
        assert_eq!(published.pods.len(), 1);
        assert_eq!(published.pods[0].metadata.labels["from"], "b");
        assert_eq!(published.pod_metrics.len(), 1);
        assert_eq!(published.pod_metrics[0].pod.metadata.labels["from"], "b");
    }
}
