//! What the API serves: one immutable snapshot, rebuilt after every tick and
//! swapped in atomically, so request handlers never wait for scraping.

use std::collections::BTreeMap;

use jiff::Timestamp;
use workingset_model::duration::GoDuration;
use workingset_model::metrics::{
    ContainerMetrics, Node, NodeMetrics, ObjectMeta, Pod, PodMetrics, Time, usage,
};

use crate::inventory::NodeInventory;
use crate::point::PodRef;
use crate::store::Store;

/// Everything the HTTP handlers read.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    /// When this snapshot was built.
    pub built_at: Timestamp,
    /// Node metrics, sorted by name. No `kind`/`apiVersion` (list items) and
    /// no `creationTimestamp` (set to the response time when served).
    pub node_metrics: Vec<NodeMetrics>,
    /// Pod metrics, sorted by namespace then name; containers sorted by name.
    pub pod_metrics: Vec<PodMetrics>,
    /// Core `Node` objects, sorted by name (standalone `/api/v1/nodes`).
    pub nodes: Vec<Node>,
    /// Core `Pod` objects, sorted by namespace then name (standalone
    /// `/api/v1/namespaces/{ns}/pods`).
    pub pods: Vec<Pod>,
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
        }
    }
}

impl workingset_model::select::Catalog for Published {
    fn node_metrics(&self) -> &[NodeMetrics] {
        &self.node_metrics
    }
    fn pod_metrics(&self) -> &[PodMetrics] {
        &self.pod_metrics
    }
    fn nodes(&self) -> &[Node] {
        &self.nodes
    }
    fn pods(&self) -> &[Pod] {
        &self.pods
    }
}

/// The snapshot for `now`: usage joined with the inventories (node name →
/// what that node runs).
///
/// - A `NodeMetrics` for every node that has an inventory and a usage; its
///   name is the inventory's key (the name the node is scraped under, which
///   the inventory's `Node` should carry too) and its labels the `Node`'s.
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
    cluster_pods: &[Pod],
    now: Timestamp,
) -> Published {
    let mut node_metrics = Vec::new();
    let mut nodes = Vec::with_capacity(inventories.len());
    for (name, inventory) in inventories {
        nodes.push(inventory.node.clone());
        if let Some(node_usage) = store.node_usage(name, now) {
            node_metrics.push(NodeMetrics {
                kind: None,
                api_version: None,
                metadata: ObjectMeta {
                    name: name.clone(),
                    labels: inventory.node.metadata.labels.clone(),
                    ..ObjectMeta::default()
                },
                timestamp: Time(node_usage.timestamp),
                window: GoDuration(node_usage.window),
                usage: usage(node_usage.cpu_nanocores, node_usage.memory_bytes),
            });
        }
    }
    // Keys are unique and iterated in name order, so the metrics are sorted.
    nodes.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));

    // Every listed pod with the node that lists it; the stable sort keeps
    // duplicates in node-name order.
    let mut listed: Vec<(&Pod, &str)> = inventories
        .iter()
        .flat_map(|(node, inventory)| inventory.pods.iter().map(move |pod| (pod, node.as_str())))
        .chain(cluster_pods.iter().map(|pod| (pod, "")))
        .collect();
    listed.sort_by(|(a, _), (b, _)| namespace_and_name(a).cmp(&namespace_and_name(b)));

    let mut pod_metrics = Vec::new();
    let mut pods = Vec::with_capacity(listed.len());
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
            pod_metrics.push(PodMetrics {
                kind: None,
                api_version: None,
                metadata: ObjectMeta {
                    name: key.name.clone(),
                    namespace: key.namespace.clone(),
                    labels: pod.metadata.labels.clone(),
                    ..ObjectMeta::default()
                },
                timestamp: Time(pod_usage.timestamp),
                window: GoDuration(pod_usage.window),
                containers: pod_usage
                    .containers
                    .into_iter()
                    .map(|(name, nanocores, bytes)| ContainerMetrics::new(name, nanocores, bytes))
                    .collect(),
            });
        }
        pods.push(pod.clone());
    }

    Published {
        built_at: now,
        node_metrics,
        pod_metrics,
        nodes,
        pods,
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
                node: node_object("b-node", &[("kubernetes.io/os", "linux")]),
                pods: vec![
                    pod_object("web", "z", &[("app", "web")]),
                    pod_object("kube-system", "dns", &[]),
                    pod_object("web", "a", &[]),
                    // Listed but never scraped: in `pods`, not in metrics.
                    pod_object("web", "pending", &[]),
                ],
            },
        );
        inventories.insert(
            "a-node".to_owned(),
            NodeInventory {
                node: node_object("a-node", &[]),
                pods: vec![pod_object("web", "m", &[])],
            },
        );
        // In an inventory but never scraped: in `nodes`, not in metrics.
        inventories.insert(
            "d-node".to_owned(),
            NodeInventory {
                node: node_object("d-node", &[]),
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
                .map(|m| m.metadata.name.as_str())
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
                    .map(|m| (m.metadata.namespace.as_str(), m.metadata.name.as_str()))
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

        let node = serde_json::to_string(&published.node_metrics[1]).unwrap();
        assert_eq!(
            node,
            r#"{"metadata":{"name":"b-node","labels":{"kubernetes.io/os":"linux"}},"timestamp":"2023-11-14T22:13:35Z","window":"15s","usage":{"cpu":"1","memory":"4Gi"}}"#
        );
        let pod = serde_json::to_string(&published.pod_metrics[3]).unwrap();
        assert_eq!(
            pod,
            r#"{"metadata":{"name":"z","namespace":"web","labels":{"app":"web"}},"timestamp":"2023-11-14T22:13:35Z","window":"15s","containers":[{"name":"envoy","usage":{"cpu":"250m","memory":"5Mi"}},{"name":"nginx","usage":{"cpu":"250m","memory":"5Mi"}}]}"#
        );
    }

    #[test]
    fn nothing_is_served_after_the_grace() {
        let mut store = Store::new(Duration::from_secs(15));
        scrape_twice(&mut store, "n", &[("ns", "p", &["c"])]);
        let inventories = BTreeMap::from([(
            "n".to_owned(),
            NodeInventory {
                node: node_object("n", &[]),
                pods: vec![pod_object("ns", "p", &[])],
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
                    node: node_object("a", &[]),
                    pods: vec![pod_object("ns", "p", &[("from", "a")])],
                },
            ),
            (
                "b".to_owned(),
                NodeInventory {
                    node: node_object("b", &[]),
                    pods: vec![pod_object("ns", "p", &[("from", "b")])],
                },
            ),
        ]);
        let published = build(&store, &inventories, &[], at(15));
        assert_eq!(published.pods.len(), 1);
        assert_eq!(published.pods[0].metadata.labels["from"], "b");
        assert_eq!(published.pod_metrics.len(), 1);
        assert_eq!(published.pod_metrics[0].metadata.labels["from"], "b");
    }
}
