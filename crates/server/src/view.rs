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
use crate::store::{Reported, Store};

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

/// A served pod's containers.
pub type PodContainers = smallvec::SmallVec<[ContainerUsage; 2]>;

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
    /// Containers sorted by name; never empty. Inline up to two, so a
    /// snapshot of 300,000 pods is one allocation, not 300,000.
    pub containers: PodContainers,
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

/// Bodies of whole lists (every pod, every node, every pod of one
/// namespace) written from one snapshot, each for the second its objects
/// were stamped with.
///
/// metrics-server stamps every listed object with the time it converts it,
/// in whole seconds, so two lists of one snapshot written in the same
/// second are the same bytes. Dashboards and `kubectl top pod -A` from many
/// users ask for the whole list at once; the first request of a second
/// writes it and the others share it, so 20 clients cost one encoding and
/// one body in memory instead of 20. `kubectl top pod -n NS` does the same
/// for one namespace.
///
/// Writing 300,000 pods takes 0.2–0.4 s, so a request that finds only the
/// previous second's body gets that body (stamped at most one second before
/// it came) and a write of the current second starts beside it, as
/// metrics-server's own stamps precede its answers by the time it takes to
/// convert and send them. A request waits only when no body of this or the
/// previous second is ready: after a tick, or after a second with no
/// request. The gzipped copy (for clients that accept it, see
/// `api::gzip`) follows the same rule. The cache lives and dies with its
/// snapshot.
#[derive(Default)]
pub struct ResponseCache {
    slots: std::sync::Mutex<Vec<CachedList>>,
}

/// What a cached body lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListKey {
    /// `pods` or `nodes`.
    pub list: &'static str,
    /// One namespace's pods, or every object.
    pub namespace: Option<String>,
}

impl ListKey {
    /// Every node.
    pub const NODES: ListKey = ListKey {
        list: "nodes",
        namespace: None,
    };

    /// Every pod of `namespace`, or every pod.
    pub fn pods(namespace: Option<String>) -> Self {
        Self {
            list: "pods",
            namespace,
        }
    }
}

/// How a cached body is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEncoding {
    /// As written.
    Identity,
    /// Gzipped when over `api::gzip::THRESHOLD_BYTES`, as written otherwise.
    Gzip,
}

impl BodyEncoding {
    /// Whether `plain` is sent gzipped.
    fn compresses(self, plain: &bytes::Bytes) -> bool {
        self == BodyEncoding::Gzip && plain.len() > crate::api::gzip::THRESHOLD_BYTES
    }
}

/// A cached body as it is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedList {
    /// The bytes on the wire.
    pub bytes: bytes::Bytes,
    /// Whether `bytes` are gzipped.
    pub gzipped: bool,
}

/// One list's bodies: the newest second's, and the one before it while the
/// newest is written.
struct CachedList {
    key: ListKey,
    latest: Arc<Written>,
    previous: Option<Arc<Written>>,
}

/// A body of one second, written once; requests that come while it is
/// written wait for it (or take the previous second's).
struct Written {
    second: i64,
    plain: tokio::sync::OnceCell<bytes::Bytes>,
    /// `None` when the body is too small to compress.
    gzipped: tokio::sync::OnceCell<Option<bytes::Bytes>>,
}

impl Written {
    fn new(second: i64) -> Arc<Self> {
        Arc::new(Self {
            second,
            plain: tokio::sync::OnceCell::new(),
            gzipped: tokio::sync::OnceCell::new(),
        })
    }

    /// The body as `encoding` sends it, if it is ready.
    fn ready(&self, encoding: BodyEncoding) -> Option<EncodedList> {
        let plain = self.plain.get()?;
        if !encoding.compresses(plain) {
            return Some(EncodedList::sent(plain, None));
        }
        Some(EncodedList::sent(plain, self.gzipped.get()?.as_ref()))
    }

    /// The body as `encoding` sends it, written (and compressed) now or by
    /// the request already doing it.
    async fn get<F, Fut, E>(&self, encoding: BodyEncoding, write: F) -> Result<EncodedList, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<bytes::Bytes, E>>,
    {
        let plain = self.plain.get_or_try_init(write).await?;
        if !encoding.compresses(plain) {
            return Ok(EncodedList::sent(plain, None));
        }
        let gzipped = self
            .gzipped
            .get_or_init(|| crate::api::gzip::compress_off_worker(plain.clone()))
            .await;
        Ok(EncodedList::sent(plain, gzipped.as_ref()))
    }

    /// Bytes held, for the namespace bound.
    fn size(&self) -> usize {
        self.plain.get().map_or(0, bytes::Bytes::len)
            + self
                .gzipped
                .get()
                .and_then(Option::as_ref)
                .map_or(0, bytes::Bytes::len)
    }
}

impl EncodedList {
    /// The gzipped copy when there is one, else the body as written.
    fn sent(plain: &bytes::Bytes, gzipped: Option<&bytes::Bytes>) -> Self {
        Self {
            bytes: gzipped.unwrap_or(plain).clone(),
            gzipped: gzipped.is_some(),
        }
    }
}

impl CachedList {
    fn size(&self) -> usize {
        self.latest.size() + self.previous.as_ref().map_or(0, |previous| previous.size())
    }
}

/// The most bytes of namespace bodies one snapshot keeps: namespaces
/// partition the pods, so without a bound every namespace asked for could
/// hold a second copy of the whole list.
const MAX_NAMESPACE_BODY_BYTES: usize = 16 << 20;

/// What a request does with the cache, decided under its lock.
enum Plan {
    /// A ready body: sent now.
    Send(EncodedList),
    /// The previous second's body is sent now; this second's is written
    /// beside it.
    SendAndRefresh(EncodedList, Arc<Written>),
    /// No body of this or the previous second is ready: wait for this one.
    Wait(Arc<Written>),
}

impl ResponseCache {
    /// The body of `key` for a request at unix second `second`, as
    /// `encoding` sends it: a ready body of this second or the previous one,
    /// or the one `write` makes (cached for later requests unless it
    /// failed). Concurrent requests for a list share one write; requests for
    /// other lists do not wait for it.
    pub async fn get_or_write<F, Fut, E>(
        &self,
        key: ListKey,
        second: i64,
        encoding: BodyEncoding,
        write: F,
    ) -> Result<EncodedList, E>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<bytes::Bytes, E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        let namespaced = key.namespace.is_some();
        let plan = self.plan(key, second, encoding);
        let body = match plan {
            Plan::Send(body) => Ok(body),
            Plan::SendAndRefresh(body, written) => {
                tokio::spawn(async move {
                    if let Err(error) = written.get(encoding, write).await {
                        tracing::error!(%error, "Writing a list failed");
                    }
                });
                Ok(body)
            }
            Plan::Wait(written) => written.get(encoding, write).await,
        };
        if namespaced {
            evict_namespaces(&mut self.slots());
        }
        body
    }

    fn plan(&self, key: ListKey, second: i64, encoding: BodyEncoding) -> Plan {
        let mut slots = self.slots();
        let Some(list) = slots.iter_mut().find(|cached| cached.key == key) else {
            let written = Written::new(second);
            slots.push(CachedList {
                key,
                latest: Arc::clone(&written),
                previous: None,
            });
            return Plan::Wait(written);
        };
        // A body of the previous second at the latest; the newest first.
        let fresh = |written: &&Arc<Written>| {
            written.second == second || written.second.checked_add(1) == Some(second)
        };
        let ready = std::iter::once(&list.latest)
            .chain(&list.previous)
            .filter(fresh)
            .find_map(|written| Some((written.second, written.ready(encoding)?)));
        if list.latest.second != second {
            // A new second: the latest becomes the previous.
            let previous = std::mem::replace(&mut list.latest, Written::new(second));
            list.previous = Some(previous);
            let latest = Arc::clone(&list.latest);
            return match ready {
                Some((_, body)) => Plan::SendAndRefresh(body, latest),
                None => Plan::Wait(latest),
            };
        }
        match ready {
            Some((written, body)) => {
                if written == second && list.latest.ready(BodyEncoding::Identity).is_some() {
                    // The previous body is of no more use once this one is.
                    list.previous = None;
                }
                Plan::Send(body)
            }
            None => Plan::Wait(Arc::clone(&list.latest)),
        }
    }

    /// The slots, also after a panic elsewhere: they hold no invariant a
    /// panic could break.
    fn slots(&self) -> std::sync::MutexGuard<'_, Vec<CachedList>> {
        self.slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Drops the oldest namespace bodies until those left are within
/// [`MAX_NAMESPACE_BODY_BYTES`]; the newest one stays whatever its size.
fn evict_namespaces(slots: &mut Vec<CachedList>) {
    let namespaced = |cached: &CachedList| cached.key.namespace.is_some();
    let mut held: usize = slots
        .iter()
        .filter(|c| namespaced(c))
        .map(CachedList::size)
        .sum();
    while held > MAX_NAMESPACE_BODY_BYTES && slots.iter().filter(|c| namespaced(c)).count() > 1 {
        let Some(oldest) = slots.iter().position(namespaced) else {
            break;
        };
        held -= slots[oldest].size();
        slots.remove(oldest);
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
/// what that node runs). A one-off [`Listing`]; see there for the rules.
pub fn build(
    store: &Store,
    inventories: &BTreeMap<String, NodeInventory>,
    cluster_pods: &[Arc<Pod>],
    now: Timestamp,
) -> Published {
    let mut listing = Listing::default();
    listing.update(inventories, cluster_pods);
    listing.publish(store, inventories, now)
}

/// Every pod the inventories (and, in Kubernetes mode, the API server)
/// list, in the order the API serves them, kept from tick to tick.
///
/// Sorting 300,000 pods by namespace and name every tick would cost more
/// than the rest of the tick's bookkeeping, and the list rarely changes:
/// [`Listing::update`] re-sorts only when some inventory's pods are not
/// the very objects listed before (the listing holds them, so an object's
/// address cannot be reused while it is compared).
///
/// What [`Listing::publish`] serves:
/// - A `NodeMetrics` for every node that has an inventory and a usage, with
///   the inventory `Node`'s name and labels (the inventory is keyed by the
///   name the node is scraped under, which its `Node` carries).
/// - A `PodMetrics` for every listed pod that has a usage, with the listed
///   `Pod`'s labels. metrics-server lists containers in Go map order
///   (random per request); here they are sorted by name, so that the same
///   data always gives the same bytes.
/// - `nodes` and `pods`: every inventory object, sorted. A pod listed by two
///   inventories appears once: the copy from the node whose figures the
///   store serves for it, else the one from the first node by name.
/// - The API server's pods are listed by no node; they are joined by
///   namespace and name like the rest.
#[derive(Debug, Default)]
pub struct Listing {
    /// Each inventory's name and pods, in name order, as last sorted.
    sources: Vec<(String, Vec<Arc<Pod>>)>,
    /// The API server's pods, as last sorted.
    cluster: Vec<Arc<Pod>>,
    /// Every listed pod, sorted by namespace, name, then source.
    entries: Vec<Entry>,
}

/// One listed pod: `sources[source].1[position]`, or `cluster[position]`
/// when `source` is [`CLUSTER`].
#[derive(Debug, Clone, Copy)]
struct Entry {
    source: u32,
    position: u32,
    /// The first copy of its pod (the others follow it).
    first_copy: bool,
}

const CLUSTER: u32 = u32::MAX;

impl Listing {
    /// Brings the listing up to date with `inventories` and `cluster_pods`;
    /// says whether it had to be sorted again.
    pub fn update(
        &mut self,
        inventories: &BTreeMap<String, NodeInventory>,
        cluster_pods: &[Arc<Pod>],
    ) -> bool {
        let same_pods = |listed: &[Arc<Pod>], now: &[Arc<Pod>]| {
            listed.len() == now.len() && listed.iter().zip(now).all(|(a, b)| Arc::ptr_eq(a, b))
        };
        let unchanged =
            self.sources.len() == inventories.len()
                && self.sources.iter().zip(inventories).all(
                    |((name, pods), (now_name, inventory))| {
                        name == now_name && same_pods(pods, &inventory.pods)
                    },
                )
                && same_pods(&self.cluster, cluster_pods);
        if unchanged {
            return false;
        }
        self.sources = inventories
            .iter()
            .map(|(name, inventory)| (name.clone(), inventory.pods.clone()))
            .collect();
        self.cluster = cluster_pods.to_vec();
        let mut entries: Vec<Entry> = Vec::with_capacity(
            self.sources
                .iter()
                .map(|(_, pods)| pods.len())
                .sum::<usize>()
                + self.cluster.len(),
        );
        for (source, (_, pods)) in self.sources.iter().enumerate() {
            let source = u32::try_from(source).unwrap_or(CLUSTER - 1);
            entries.extend((0..pods.len()).map(|position| Entry {
                source,
                position: u32::try_from(position).unwrap_or(u32::MAX),
                first_copy: true,
            }));
        }
        entries.extend((0..self.cluster.len()).map(|position| Entry {
            source: CLUSTER,
            position: u32::try_from(position).unwrap_or(u32::MAX),
            first_copy: true,
        }));
        entries.sort_unstable_by(|a, b| {
            namespace_and_name(self.pod(*a))
                .cmp(&namespace_and_name(self.pod(*b)))
                .then(a.source.cmp(&b.source))
        });
        for index in 1..entries.len() {
            let same = namespace_and_name(self.pod(entries[index - 1]))
                == namespace_and_name(self.pod(entries[index]));
            entries[index].first_copy = !same;
        }
        self.entries = entries;
        true
    }

    fn pod(&self, entry: Entry) -> &Arc<Pod> {
        let pods = match self.sources.get(entry.source as usize) {
            Some((_, pods)) => pods,
            None => &self.cluster,
        };
        // Entries are made from these very vectors.
        &pods[entry.position as usize]
    }

    fn source_name(&self, entry: Entry) -> &str {
        self.sources
            .get(entry.source as usize)
            .map_or("", |(name, _)| name.as_str())
    }

    /// The snapshot for `now`: the listing joined with the store's usage.
    /// `inventories` must be those of the last [`Listing::update`].
    pub fn publish(
        &self,
        store: &Store,
        inventories: &BTreeMap<String, NodeInventory>,
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

        // What each source node's own report says about each of its pods:
        // a node's pods are sorted in its inventory and in the store, so
        // one walk per node pairs them without a lookup per pod.
        let mut offsets = Vec::with_capacity(self.sources.len());
        let mut reported = Vec::with_capacity(self.entries.len());
        for (name, pods) in &self.sources {
            offsets.push(reported.len());
            let mut cursor = store.reported_pods(name, now);
            reported.extend(pods.iter().map(|pod| match cursor.as_mut() {
                Some(cursor) => cursor.find(&pod.metadata.namespace, &pod.metadata.name),
                None => Reported::NotHere,
            }));
        }
        let mut own_report = |entry: Entry| -> Reported {
            offsets
                .get(entry.source as usize)
                .and_then(|offset| reported.get_mut(offset + entry.position as usize))
                .map_or(Reported::NotHere, |slot| {
                    std::mem::replace(slot, Reported::NotHere)
                })
        };

        let mut pod_metrics = Vec::with_capacity(self.entries.len());
        let mut pods = Vec::with_capacity(self.entries.len());
        let mut containers_without_rate = 0;
        // One key reused for every lookup: no allocation per pod.
        let mut key = PodRef {
            namespace: String::new(),
            name: String::new(),
        };
        for (index, entry) in self.entries.iter().enumerate() {
            if !entry.first_copy {
                continue;
            }
            let copies = self.entries[index + 1..]
                .iter()
                .take_while(|next| !next.first_copy);
            let first = self.pod(*entry);
            let (pod, usage) = match copies.clone().next() {
                None => match own_report(*entry) {
                    Reported::Here(reported) => (first, reported.usage()),
                    Reported::NotHere => {
                        key.set(first);
                        (first, store.pod_usage(&key, now))
                    }
                },
                Some(_) => {
                    key.set(first);
                    let serving = store.pod_node(&key, now);
                    let pod = std::iter::once(entry)
                        .chain(copies)
                        .find(|copy| Some(self.source_name(**copy)) == serving)
                        .map_or(first, |copy| self.pod(*copy));
                    (pod, store.pod_usage(&key, now))
                }
            };
            if let Some(pod_usage) = usage {
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
}

fn namespace_and_name(pod: &Pod) -> (&str, &str) {
    (&pod.metadata.namespace, &pod.metadata.name)
}

impl PodRef {
    /// Makes this key `pod`'s, reusing its buffers.
    fn set(&mut self, pod: &Pod) {
        self.namespace.clear();
        self.namespace.push_str(&pod.metadata.namespace);
        self.name.clear();
        self.name.push_str(&pod.metadata.name);
    }
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
                labels: labels(pairs).into(),
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
                labels: labels(pairs).into(),
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

    #[test]
    fn pods_are_paired_with_their_node_and_found_elsewhere_when_they_moved() {
        let mut store = Store::new(Duration::from_secs(15));
        scrape_twice(&mut store, "a", &[("ns", "p1", &["c"])]);
        // p2 is listed by a's (stale) inventory but runs on b now.
        scrape_twice(
            &mut store,
            "b",
            &[("ns", "p2", &["c"]), ("ns", "p4", &["c"])],
        );
        let inventory = |node: &str, pods: &[&str]| NodeInventory {
            node: Arc::new(node_object(node, &[])),
            pods: pods
                .iter()
                .map(|name| Arc::new(pod_object("ns", name, &[("on", node)])))
                .collect(),
        };
        let inventories = BTreeMap::from([
            ("a".to_owned(), inventory("a", &["p1", "p2", "p3"])),
            ("b".to_owned(), inventory("b", &["p4"])),
        ]);
        let published = build(&store, &inventories, &[], at(15));
        let served: Vec<(&str, &str, u64)> = published
            .pod_metrics
            .iter()
            .map(|m| {
                (
                    m.pod.metadata.name.as_str(),
                    m.pod.metadata.labels["on"].as_str(),
                    m.containers[0].nanocores,
                )
            })
            .collect();
        assert_eq!(
            served,
            [
                ("p1", "a", 250_000_000),
                ("p2", "a", 250_000_000),
                ("p4", "b", 250_000_000)
            ]
        );
        assert_eq!(published.pods.len(), 4, "p3 is listed without metrics");
        assert_eq!(published.containers_without_rate, 0);
    }

    #[test]
    fn the_listing_is_sorted_again_only_when_the_pods_change() {
        let mut store = Store::new(Duration::from_secs(15));
        scrape_twice(
            &mut store,
            "a",
            &[("ns", "p1", &["c"]), ("ns", "p2", &["c"])],
        );
        let pods = vec![
            Arc::new(pod_object("ns", "p1", &[])),
            Arc::new(pod_object("ns", "p2", &[])),
        ];
        let mut inventories = BTreeMap::from([(
            "a".to_owned(),
            NodeInventory {
                node: Arc::new(node_object("a", &[])),
                pods: pods.clone(),
            },
        )]);
        let mut listing = Listing::default();
        assert!(listing.update(&inventories, &[]), "first listing");
        assert!(!listing.update(&inventories, &[]), "the same objects");
        let published = listing.publish(&store, &inventories, at(15));
        assert_eq!(published, build(&store, &inventories, &[], at(15)));
        assert_eq!(published.pod_metrics.len(), 2);

        // Equal but new objects (a refresh): sorted again.
        if let Some(inventory) = inventories.get_mut("a") {
            inventory.pods = vec![
                Arc::new(pod_object("ns", "p1", &[("new", "label")])),
                Arc::clone(&pods[1]),
            ];
        }
        assert!(listing.update(&inventories, &[]));
        let published = listing.publish(&store, &inventories, at(15));
        assert_eq!(published.pod_metrics[0].pod.metadata.labels["new"], "label");
        // The API server's pods are listed too.
        let cluster = [Arc::new(pod_object("ns", "p0", &[]))];
        assert!(listing.update(&inventories, &cluster));
        let published = listing.publish(&store, &inventories, at(15));
        let names: Vec<&str> = published
            .pods
            .iter()
            .map(|pod| pod.metadata.name.as_str())
            .collect();
        assert_eq!(names, ["p0", "p1", "p2"]);
    }

    fn all(list: &'static str) -> ListKey {
        match list {
            "nodes" => ListKey::NODES,
            _ => ListKey::pods(None),
        }
    }

    fn namespace(name: &str) -> ListKey {
        ListKey::pods(Some(name.to_owned()))
    }

    const PLAIN: BodyEncoding = BodyEncoding::Identity;

    fn sent(text: &'static str) -> Result<EncodedList, String> {
        Ok(EncodedList {
            bytes: bytes::Bytes::from_static(text.as_bytes()),
            gzipped: false,
        })
    }

    /// A write counted in `writes` that makes `text`.
    fn writer(
        writes: &Arc<std::sync::atomic::AtomicUsize>,
        text: &'static str,
    ) -> impl FnOnce() -> std::future::Ready<Result<bytes::Bytes, String>> + Send + 'static {
        let writes = Arc::clone(writes);
        move || {
            writes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            std::future::ready(Ok(bytes::Bytes::from_static(text.as_bytes())))
        }
    }

    fn count(writes: &std::sync::atomic::AtomicUsize) -> usize {
        writes.load(std::sync::atomic::Ordering::Relaxed)
    }

    #[tokio::test]
    async fn a_whole_list_is_written_once_per_second() {
        let cache = ResponseCache::default();
        let writes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let get = |key, second, text| cache.get_or_write(key, second, PLAIN, writer(&writes, text));
        assert_eq!(get(all("pods"), 100, "a").await, sent("a"));
        assert_eq!(get(all("pods"), 100, "b").await, sent("a"));
        assert_eq!(count(&writes), 1);
        // Another list: written anew.
        assert_eq!(get(all("nodes"), 100, "n").await, sent("n"));
        // Two seconds later nothing cached is fresh enough: it waits.
        assert_eq!(get(all("pods"), 102, "c").await, sent("c"));
        assert_eq!(count(&writes), 3);
        // A failure is not kept.
        let failed = cache
            .get_or_write(all("pods"), 110, PLAIN, || async {
                Err::<bytes::Bytes, _>("no".to_owned())
            })
            .await;
        assert_eq!(failed, Err("no".to_owned()));
        assert_eq!(get(all("pods"), 110, "d").await, sent("d"));
        assert_eq!(count(&writes), 4);
        // A copied snapshot starts empty.
        let copy = cache.clone();
        assert_eq!(
            copy.get_or_write(all("pods"), 110, PLAIN, writer(&writes, "e"))
                .await,
            sent("e")
        );
    }

    #[tokio::test]
    async fn the_previous_second_is_sent_while_this_one_is_written() {
        let cache = ResponseCache::default();
        let writes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        assert_eq!(
            cache
                .get_or_write(all("pods"), 100, PLAIN, writer(&writes, "a"))
                .await,
            sent("a")
        );
        // The next second: the body of 100 now, 101's written beside it.
        let (release, wait) = tokio::sync::oneshot::channel::<()>();
        let slow = cache.get_or_write(all("pods"), 101, PLAIN, || async move {
            wait.await.map_err(|error| error.to_string())?;
            Ok(bytes::Bytes::from_static(b"b"))
        });
        assert_eq!(slow.await, sent("a"));
        // Still being written: other requests of 101 get 100's too.
        assert_eq!(
            cache
                .get_or_write(all("pods"), 101, PLAIN, writer(&writes, "x"))
                .await,
            sent("a")
        );
        release.send(()).unwrap();
        // Once written, 101's body is sent; nothing else was written.
        let mut newest = None;
        for _ in 0..100 {
            let body = cache
                .get_or_write(all("pods"), 101, PLAIN, writer(&writes, "x"))
                .await;
            if body == sent("b") {
                newest = Some(body);
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(newest, Some(sent("b")));
        assert_eq!(count(&writes), 1);
    }

    #[tokio::test]
    async fn a_large_body_is_gzipped_once_for_those_who_accept_it() {
        use std::io::Read;
        let cache = ResponseCache::default();
        let writes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let large: &'static str = "{\"name\":\"pod\"},".repeat(10_000).leak();
        let gzip = BodyEncoding::Gzip;
        let first = cache
            .get_or_write(all("pods"), 100, gzip, writer(&writes, large))
            .await
            .unwrap();
        let plain = cache
            .get_or_write(all("pods"), 100, PLAIN, writer(&writes, large))
            .await
            .unwrap();
        let again = cache
            .get_or_write(all("pods"), 100, gzip, writer(&writes, large))
            .await
            .unwrap();
        assert!(first.gzipped && !plain.gzipped);
        assert_eq!(first, again);
        assert_eq!(count(&writes), 1);
        let mut decoded = String::new();
        flate2::read::GzDecoder::new(&first.bytes[..])
            .read_to_string(&mut decoded)
            .unwrap();
        assert_eq!(
            (decoded.as_str(), &plain.bytes[..]),
            (large, large.as_bytes())
        );
        // A small body goes as it is.
        let small = cache
            .get_or_write(all("nodes"), 100, gzip, writer(&writes, "n"))
            .await;
        assert_eq!(small, sent("n"));
    }

    #[tokio::test]
    async fn namespace_lists_are_cached_within_a_bound() {
        let cache = ResponseCache::default();
        let writes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let big: &'static str = " ".repeat(MAX_NAMESPACE_BODY_BYTES / 2).leak();
        let fetch = |key: ListKey| cache.get_or_write(key, 100, PLAIN, writer(&writes, big));
        for name in ["a", "b", "a", "b"] {
            fetch(namespace(name)).await.unwrap();
        }
        // Two namespaces fit: each was written once.
        assert_eq!(count(&writes), 2);
        // A third pushes the oldest out, not the whole list.
        fetch(all("pods")).await.unwrap();
        fetch(namespace("c")).await.unwrap();
        fetch(namespace("b")).await.unwrap();
        fetch(all("pods")).await.unwrap();
        assert_eq!(count(&writes), 4);
        fetch(namespace("a")).await.unwrap();
        assert_eq!(count(&writes), 5);
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
