//! The last points of every node and container, and the rules that turn two
//! of them into a rate: the heart of the Metrics API's figures.
//!
//! Pure: no IO and no clock; every time (`received_at`, `at`, `now`) is
//! passed in, so every rule is unit-testable to the nanosecond.
//!
//! # What is kept
//!
//! Per node, and per (pod, container) of each node, a *series* of at most two
//! points: the newest (`last`) and the one the rate is taken against
//! (`prev`). Memory is bounded by what the latest successful scrape of each
//! node reported.
//!
//! # metrics-server's rules, kept
//!
//! - CPU = Δ cumulative CPU ns / Δt in whole nanocores (truncated), memory =
//!   the newer working set, `timestamp` = the newer point's, `window` = Δt.
//!   The division is exact integer arithmetic (metrics-server divides in
//!   `float64`), so a figure can differ from upstream's by a rounding step,
//!   never by more.
//! - Point bookkeeping: a new point later than the stored `last` moves it to
//!   `prev`; an equal or older one replaces `last` but keeps `prev` when
//!   `prev` is older than the new point, and drops `prev` otherwise.
//! - A counter that went down, or a start time that moved backwards between
//!   the two points, gives no rate for that interval.
//! - A container whose start time is at or after the stored `last` point has
//!   restarted: the old points belong to another instance and are not used.
//! - Fresh containers: a container with no usable previous point whose
//!   sample is taken 10 s ≤ (sample − start) < resolution after its start
//!   gets a synthetic previous point at its start time with CPU 0, so it
//!   appears after one scrape. (metrics-server applies this even when a real
//!   previous point exists; a real point is the better measure, so here it
//!   only fills in when there is none.)
//! - Pod `timestamp` and `window` are those of its container with the
//!   earliest timestamp.
//!
//! # Improvements over metrics-server (on purpose)
//!
//! a) **A pod is not hidden because one container has no rate.**
//!    metrics-server drops the whole pod when any container lacks a previous
//!    point (just restarted, a new sidecar, too young), which makes pods
//!    blink out of `kubectl top` and the HPA. Here the pod is served with the
//!    containers that have a rate, and the others are named in
//!    [`PodUsage::without_rate`] so callers can count them. A pod with no
//!    container rate at all is not served. Also, a *restarted* container
//!    whose sample is at least 1 s after its (known) start gets a rate since
//!    its start (a synthetic point at the start time with CPU 0): a new
//!    container instance's counter starts at zero when it starts, so that
//!    rate is measured, not guessed. (A container seen for the first time
//!    gets no such point outside the fresh band: its start may be days ago,
//!    and a lifetime average is not a current rate.)
//!
//! b) **One failed scrape does not hide a node.** metrics-server forgets a
//!    node's points (and its pods') as soon as one scrape fails, so the node
//!    disappears for two ticks. Here a failure keeps the points, and the same
//!    figures (same `timestamp` and `window`, which say honestly when they
//!    were measured) are served while
//!    `now − last successful scrape ≤ SERVE_GRACE_RESOLUTIONS × resolution`.
//!    The next success computes its rate against the last good point: a
//!    longer window, still an exact average. A failure recorded after the
//!    grace drops the node's points, so a node back from a long outage
//!    starts afresh instead of reporting a stale long-run average.
//!
//! c) **A zero counter is "not known yet", not a reason to drop the pod.**
//!    The kubelet reports a cumulative CPU of 0 before a container's first
//!    stats; metrics-server drops every container with a zero value at
//!    decode time (hiding the pod). Here a zero cumulative CPU as the
//!    *earlier* point of a rate, with a non-zero later point, gives no rate
//!    for that interval only (the next interval is measured normally). A
//!    zero working set is a real value and is served. (The synthetic start
//!    point of rule a) and the fresh rule is exempt: there, zero is the
//!    truth by construction.)
//!
//! # Pods and nodes
//!
//! Pods are kept per node: a successful scrape replaces that node's pods (a
//! pod missing from it has ended on that node) and leaves other nodes'
//! pods alone. If the same pod is reported by two nodes (a rescheduled pod
//! whose old node still reports it), both series are kept, each bounded by
//! its node, and the one with the most recent point is served.

/// The store's maps: keyed by names from the nodes' bodies, looked up
/// hundreds of thousands of times a tick, so hashed with foldhash (seeded
/// per process) rather than SipHash.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use workingset_model::rate;

use std::borrow::Cow;

use crate::decode::{ContainerKey, NodeSamples};
use crate::point::{MetricsPoint, NodeBatch, PodRef};

/// A fresh container's minimum age at its sample for the synthetic start
/// point (metrics-server's `freshContainerMinMetricsResolution`): younger
/// than this, startup noise dominates the figure.
pub const FRESH_CONTAINER_MIN_AGE: Duration = Duration::from_secs(10);

/// A restarted container's minimum age at its sample for a rate since its
/// start: below a second the window is of the order of the timestamps'
/// error (sample times are whole milliseconds taken at collection, start
/// times come from the runtime), so the figure would be mostly noise.
pub const RESTARTED_CONTAINER_MIN_AGE: Duration = Duration::from_secs(1);

/// How many resolutions after its last successful scrape a node (and its
/// pods) is still served. Two tolerates exactly one missed scrape — a single
/// timeout on a busy node is common and should not make the node vanish from
/// `kubectl top` and the HPA — while two misses in a row mean the node is
/// likely gone or overloaded, and older figures would mislead autoscaling.
pub const SERVE_GRACE_RESOLUTIONS: u32 = 2;

/// A node's or a container's usage: a rate over `window`, ending at `timestamp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Time of the newer of the two points.
    pub timestamp: Timestamp,
    /// Time between the two points (always positive).
    pub window: Duration,
    /// CPU rate in whole nanocores (1e9 = one core busy).
    pub cpu_nanocores: u64,
    /// Working set of the newer point, in bytes.
    pub memory_bytes: u64,
}

/// A pod's usage: the containers that have a rate, and the names of those
/// that do not (improvement a).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodUsage {
    /// Timestamp of the container with the earliest timestamp.
    pub timestamp: Timestamp,
    /// Window of that same container.
    pub window: Duration,
    /// `(name, nanocores, working-set bytes)`, sorted by name; never empty.
    /// Names are the store's own (interned), so serving them copies nothing.
    pub containers: ContainerRates,
    /// Containers reported in the pod's latest scrape without a rate yet
    /// (just started or restarted, counter reset or not known), sorted.
    pub without_rate: Vec<Arc<str>>,
}

/// A pod's containers with a rate: `(name, nanocores, working-set bytes)`,
/// inline up to two (most pods), so a snapshot costs no allocation per pod.
pub type ContainerRates = smallvec::SmallVec<[(Arc<str>, u64, u64); 2]>;

/// What recording one node's scrape noticed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recorded {
    /// Series (the node's, its containers') whose cumulative CPU went down
    /// since the stored sample without a restart: no rate is taken across
    /// it, and the server counts and logs it rather than drop it silently.
    pub cpu_usage_drops: usize,
}

/// Where a stored previous point came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// A point that was actually scraped.
    Sampled,
    /// Made up at the container's start time with CPU 0 (fresh or restarted
    /// container): zero there is the truth, not an unknown counter.
    ContainerStart,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Previous {
    point: MetricsPoint,
    origin: Origin,
}

/// At most two points of one node or container, packed: 600,000 series
/// are kept at 10,000 nodes, and `MetricsPoint`'s `Timestamp`s and
/// `Option` take 56 bytes where these integers take 32.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Series {
    last: PackedPoint,
    prev: PackedPoint,
    /// Where `prev` came from; `None` when there is no `prev`.
    prev_origin: Option<Origin>,
}

/// A [`MetricsPoint`] as nanoseconds since the epoch (valid until 2262,
/// as Go's `time.Duration` arithmetic is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PackedPoint {
    at_ns: i64,
    cumulative_cpu_ns: u64,
    memory_working_set: u64,
    /// [`NO_START`] when the start time is not known.
    start_ns: i64,
}

const NO_START: i64 = i64::MIN;

/// `at` in nanoseconds since the epoch, saturated past 2262.
fn packed_ns(at: Timestamp) -> i64 {
    i64::try_from(at.as_nanosecond()).unwrap_or(i64::MAX)
}

impl PackedPoint {
    const EMPTY: PackedPoint = PackedPoint {
        at_ns: 0,
        cumulative_cpu_ns: 0,
        memory_working_set: 0,
        start_ns: NO_START,
    };

    fn pack(point: MetricsPoint) -> Self {
        Self {
            at_ns: packed_ns(point.timestamp),
            cumulative_cpu_ns: point.cumulative_cpu_ns,
            memory_working_set: point.memory_working_set,
            start_ns: point
                .start_time
                .map_or(NO_START, |start| packed_ns(start).max(NO_START + 1)),
        }
    }

    fn unpack(self) -> MetricsPoint {
        let at = |ns: i64| Timestamp::from_nanosecond(i128::from(ns)).unwrap_or(Timestamp::MAX);
        MetricsPoint {
            timestamp: at(self.at_ns),
            cumulative_cpu_ns: self.cumulative_cpu_ns,
            memory_working_set: self.memory_working_set,
            start_time: (self.start_ns != NO_START).then(|| at(self.start_ns)),
        }
    }
}

impl Series {
    fn new(last: MetricsPoint, prev: Option<Previous>) -> Self {
        Self {
            last: PackedPoint::pack(last),
            prev: prev.map_or(PackedPoint::EMPTY, |prev| PackedPoint::pack(prev.point)),
            prev_origin: prev.map(|prev| prev.origin),
        }
    }

    fn last(&self) -> MetricsPoint {
        self.last.unpack()
    }

    fn prev(&self) -> Option<Previous> {
        self.prev_origin.map(|origin| Previous {
            point: self.prev.unpack(),
            origin,
        })
    }

    fn points(&self) -> usize {
        1 + usize::from(self.prev_origin.is_some())
    }

    /// Whether `new`, a later sample of the same series, has a smaller CPU
    /// counter although nothing says the container restarted (its start
    /// time is not after the stored sample): a counter reset the rate rules
    /// skip, which [`Recorded`] makes visible.
    fn went_backwards(&self, new: &MetricsPoint) -> bool {
        new.cumulative_cpu_ns < self.last.cumulative_cpu_ns && !self.restarted_by(new)
    }

    /// Whether `new` is of another instance of the container: it started
    /// at or after the stored sample.
    fn restarted_by(&self, new: &MetricsPoint) -> bool {
        new.start_time
            .is_some_and(|start| packed_ns(start) >= self.last.at_ns)
    }

    /// The rate between `prev` and `last`, when there is an honest one.
    fn usage(&self) -> Option<Usage> {
        // On the packed integers: a snapshot asks this of every container
        // every tick.
        let origin = self.prev_origin?;
        let (earlier, later) = (self.prev, self.last);
        if earlier.start_ns != NO_START
            && later.start_ns != NO_START
            && later.start_ns < earlier.start_ns
        {
            return None;
        }
        if origin == Origin::Sampled
            && earlier.cumulative_cpu_ns == 0
            && later.cumulative_cpu_ns != 0
        {
            return None;
        }
        let window_ns = u64::try_from(later.at_ns.checked_sub(earlier.at_ns)?).ok()?;
        let window = Duration::from_nanos(window_ns);
        let cpu_nanocores =
            rate::nanocores_over(earlier.cumulative_cpu_ns, later.cumulative_cpu_ns, window)?;
        Some(Usage {
            timestamp: later.unpack().timestamp,
            window,
            cpu_nanocores,
            memory_bytes: later.memory_working_set,
        })
    }

    /// metrics-server's bookkeeping for a node: which previous point a new
    /// point keeps.
    fn next_node(stored: Option<&Series>, new: MetricsPoint) -> Series {
        Series::new(new, stored.and_then(|stored| stored.kept_previous(new)))
    }

    /// The previous point `new` keeps from this series, ignoring restarts.
    fn kept_previous(&self, new: MetricsPoint) -> Option<Previous> {
        let last = self.last();
        if new.timestamp > last.timestamp {
            Some(Previous {
                point: last,
                origin: Origin::Sampled,
            })
        } else {
            // Equal or older: `new` replaces `last`; `prev` stays only while
            // it is still before the new point.
            self.prev()
                .filter(|prev| prev.point.timestamp < new.timestamp)
        }
    }

    /// The series after a container's new point.
    fn next_container(stored: Option<&Series>, new: MetricsPoint, resolution: Duration) -> Series {
        let restarted = stored.is_some_and(|stored| stored.restarted_by(&new));
        let kept = match stored {
            Some(stored) if !restarted => stored.kept_previous(new),
            _ => None,
        };
        let with_kept = Series::new(new, kept);
        if with_kept.usage().is_some() {
            return with_kept;
        }
        let age = new
            .start_time
            .filter(|start| *start < new.timestamp)
            .and_then(|start| Duration::try_from(new.timestamp.duration_since(start)).ok());
        let synthetic_start = match age {
            Some(age) if age >= FRESH_CONTAINER_MIN_AGE && age < resolution => true,
            Some(age) if restarted && age >= RESTARTED_CONTAINER_MIN_AGE => true,
            _ => false,
        };
        match new.start_time {
            Some(start) if synthetic_start => Series::new(
                new,
                Some(Previous {
                    point: MetricsPoint {
                        timestamp: start,
                        cumulative_cpu_ns: 0,
                        ..new
                    },
                    origin: Origin::ContainerStart,
                }),
            ),
            _ => with_kept,
        }
    }
}

/// Containers of one pod on one node, sorted by name (served in this
/// order). A sorted vector rather than a map: pods have a handful of
/// containers, and a B-tree node is sized for eleven.
type PodSeries = Vec<(Arc<str>, Series)>;

/// Everything kept about one node.
#[derive(Debug, Default)]
struct NodeEntry {
    /// When the latest successful scrape's response arrived.
    last_success: Option<Timestamp>,
    /// The node's own series; `None` until a scrape carried the node's point.
    node: Option<Series>,
    /// The pods of the node's latest successful scrape, sorted. The pod's
    /// identity is shared with [`Store::pod_nodes`].
    pods: Vec<(Arc<PodRef>, PodSeries)>,
}

impl NodeEntry {
    fn points(&self) -> usize {
        self.node.as_ref().map_or(0, Series::points)
            + self
                .pods
                .iter()
                .flat_map(|(_, containers)| containers)
                .map(|(_, series)| series.points())
                .sum::<usize>()
    }

    fn has_rate(&self) -> bool {
        self.node.as_ref().and_then(Series::usage).is_some()
            || self
                .pods
                .iter()
                .flat_map(|(_, containers)| containers)
                .any(|(_, series)| series.usage().is_some())
    }
}

/// The points of every node and container, and the rates they give.
#[derive(Debug)]
pub struct Store {
    resolution: Duration,
    /// `SERVE_GRACE_RESOLUTIONS × resolution`, precomputed for comparisons
    /// with `Timestamp` differences.
    grace: SignedDuration,
    nodes: HashMap<Arc<str>, NodeEntry>,
    /// Which nodes report each pod (normally exactly one), so a pod is found
    /// without scanning every node.
    pod_nodes: HashMap<Arc<PodRef>, ReportingNodes>,
    /// Number of (pod, node) reports: more than `pod_nodes.len()` when some
    /// pod is reported by two nodes.
    reports: usize,
    /// Container names, one allocation per distinct name: clusters reuse a
    /// few names (`app`, `istio-proxy`) across thousands of pods.
    container_names: Interner,
}

/// The nodes that report a pod: one, inline, but during a move.
type ReportingNodes = smallvec::SmallVec<[Arc<str>; 1]>;

/// One shared copy of each string. Entries only the interner holds are
/// dropped by [`Interner::prune`].
#[derive(Debug, Default)]
struct Interner {
    names: std::collections::HashSet<Arc<str>>,
}

impl Interner {
    fn intern(&mut self, name: &str) -> Arc<str> {
        if let Some(shared) = self.names.get(name) {
            return Arc::clone(shared);
        }
        let shared: Arc<str> = Arc::from(name);
        self.names.insert(Arc::clone(&shared));
        shared
    }

    /// Forgets the names nothing else uses any more, so churn of unique
    /// names does not grow the set for ever.
    fn prune(&mut self) {
        self.names.retain(|name| Arc::strong_count(name) > 1);
    }
}

impl Store {
    /// An empty store for a server scraping every `resolution`.
    pub fn new(resolution: Duration) -> Store {
        let grace = resolution.saturating_mul(SERVE_GRACE_RESOLUTIONS);
        Store {
            resolution,
            grace: SignedDuration::try_from(grace).unwrap_or(SignedDuration::MAX),
            nodes: HashMap::default(),
            pod_nodes: HashMap::default(),
            reports: 0,
            container_names: Interner::default(),
        }
    }

    /// The scrape interval the rules were built for.
    pub fn resolution(&self) -> Duration {
        self.resolution
    }

    /// A successful scrape of `batch.node`, whose response arrived at
    /// `received_at`. Replaces the node's pods with the batch's.
    pub fn record(&mut self, batch: NodeBatch, received_at: Timestamp) -> Recorded {
        let containers = batch
            .pods
            .iter()
            .flat_map(|(pod, containers)| {
                containers.iter().map(move |(container, point)| {
                    let key = (
                        Cow::Borrowed(pod.namespace.as_str()),
                        Cow::Borrowed(pod.name.as_str()),
                        Cow::Borrowed(container.as_str()),
                    );
                    (key, *point)
                })
            })
            .collect();
        let samples = NodeSamples {
            node_point: batch.node_point,
            containers,
        };
        self.record_samples(&batch.node, &samples, received_at)
    }

    /// A successful scrape of `node`, whose response arrived at
    /// `received_at`: [`Store::record`] without copying the names. A pod
    /// and a container seen before keep their stored names and, when the
    /// pod's containers are the same, their vector, so a steady node costs
    /// no allocation.
    pub fn record_samples(
        &mut self,
        node: &str,
        samples: &NodeSamples<'_>,
        received_at: Timestamp,
    ) -> Recorded {
        let mut recorded = Recorded::default();
        let name: Arc<str> = match self.nodes.get_key_value(node) {
            Some((name, _)) => Arc::clone(name),
            None => Arc::from(node),
        };
        let resolution = self.resolution;
        let entry = self.nodes.entry(Arc::clone(&name)).or_default();
        entry.last_success = Some(received_at);
        // A scrape without the node's own point gives the node no figures
        // (as in metrics-server); keeping the old ones would serve them
        // forever while the pods keep the node "successful".
        if let (Some(stored), Some(point)) = (&entry.node, &samples.node_point)
            && stored.went_backwards(point)
        {
            recorded.cpu_usage_drops += 1;
        }
        entry.node = samples
            .node_point
            .map(|point| Series::next_node(entry.node.as_ref(), point));

        // Both the stored pods and the samples are sorted: one merge pass
        // pairs each pod with its stored series and finds the pods that
        // ended.
        let old_pods = std::mem::take(&mut entry.pods);
        let mut pods = Vec::with_capacity(old_pods.len());
        let mut old_pods = old_pods.into_iter().peekable();
        let same_pod = |a: &(ContainerKey<'_>, MetricsPoint),
                        b: &(ContainerKey<'_>, MetricsPoint)| {
            a.0.0 == b.0.0 && a.0.1 == b.0.1
        };
        for group in samples.containers.chunk_by(same_pod) {
            let Some(((namespace, pod, _), _)) = group.first() else {
                continue;
            };
            let wanted = (namespace.as_ref(), pod.as_ref());
            while let Some((ended, _)) =
                old_pods.next_if(|(old, _)| (old.namespace.as_str(), old.name.as_str()) < wanted)
            {
                forget_pod_on_node(&mut self.pod_nodes, &mut self.reports, &ended, &name);
            }
            let (key, old_containers) = match old_pods
                .next_if(|(old, _)| (old.namespace.as_str(), old.name.as_str()) == wanted)
            {
                Some((key, containers)) => (key, Some(containers)),
                None => {
                    let key = Arc::new(PodRef {
                        namespace: namespace.clone().into_owned(),
                        name: pod.clone().into_owned(),
                    });
                    self.pod_nodes
                        .entry(Arc::clone(&key))
                        .or_default()
                        .push(Arc::clone(&name));
                    self.reports += 1;
                    (key, None)
                }
            };
            let series = match old_containers {
                // The same containers: each series moves on in place.
                Some(mut old)
                    if old.len() == group.len()
                        && old.iter().zip(group).all(
                            |((stored, _), ((_, _, container), _))| **stored == **container,
                        ) =>
                {
                    for ((_, series), (_, point)) in old.iter_mut().zip(group) {
                        recorded.cpu_usage_drops += usize::from(series.went_backwards(point));
                        *series = Series::next_container(Some(series), *point, resolution);
                    }
                    old
                }
                old => group
                    .iter()
                    .map(|((_, _, container), point)| {
                        let stored = old.as_ref().and_then(|old| {
                            old.binary_search_by(|(name, _)| (**name).cmp(container.as_ref()))
                                .ok()
                                .and_then(|index| old.get(index))
                        });
                        let name = match stored {
                            Some((name, _)) => Arc::clone(name),
                            None => self.container_names.intern(container),
                        };
                        recorded.cpu_usage_drops += usize::from(
                            stored.is_some_and(|(_, series)| series.went_backwards(point)),
                        );
                        let next =
                            Series::next_container(stored.map(|(_, s)| s), *point, resolution);
                        (name, next)
                    })
                    .collect(),
            };
            pods.push((key, series));
        }
        for (ended, _) in old_pods {
            forget_pod_on_node(&mut self.pod_nodes, &mut self.reports, &ended, &name);
        }
        entry.pods = pods;
        recorded
    }

    /// A failed scrape of `node` at `at`. The node's points are kept (and
    /// served) within the grace; a failure after it drops them.
    pub fn record_failure(&mut self, node: &str, at: Timestamp) {
        let Some((name, entry)) = self.nodes.get_key_value(node) else {
            return;
        };
        let beyond_grace = entry
            .last_success
            .is_none_or(|success| at.duration_since(success) > self.grace);
        if beyond_grace {
            let name = Arc::clone(name);
            self.clear_points(&name);
        }
    }

    /// Forgets every node for which `keep` is false (no longer configured).
    pub fn retain_nodes(&mut self, keep: impl Fn(&str) -> bool) {
        let gone: Vec<Arc<str>> = self
            .nodes
            .keys()
            .filter(|name| !keep(name))
            .cloned()
            .collect();
        for name in gone {
            self.clear_points(&name);
            self.nodes.remove(&name);
        }
        self.container_names.prune();
    }

    /// The node's usage, if it has a rate and is within the grace at `now`.
    pub fn node_usage(&self, node: &str, now: Timestamp) -> Option<Usage> {
        let entry = self.nodes.get(node)?;
        if !self.servable(entry, now) {
            return None;
        }
        entry.node.as_ref()?.usage()
    }

    /// The pod's usage, if at least one of its containers has a rate and its
    /// node is within the grace at `now`.
    pub fn pod_usage(&self, pod: &PodRef, now: Timestamp) -> Option<PodUsage> {
        let (_, containers) = self.serving_pod(pod, now)?;
        pod_usage_of(containers)
    }

    /// The node whose figures for `pod` are served at `now`: when two nodes
    /// report the pod, the one with the most recent point.
    pub fn pod_node(&self, pod: &PodRef, now: Timestamp) -> Option<&str> {
        self.serving_pod(pod, now).map(|(node, _)| node)
    }

    /// The pods `node` reported in its latest scrape, for walking in
    /// (namespace, name) order alongside a sorted list of the node's pods,
    /// when each pod's figures are those of the one node that reports it:
    /// the node is within its grace at `now` and no pod anywhere is
    /// reported by two nodes. `None` otherwise (then look pods up one by
    /// one with [`Store::pod_usage`]).
    pub fn reported_pods(&self, node: &str, now: Timestamp) -> Option<ReportedPods<'_>> {
        if self.reports > self.pod_nodes.len() {
            return None;
        }
        let entry = self.nodes.get(node)?;
        if !self.servable(entry, now) {
            return None;
        }
        Some(ReportedPods {
            pods: &entry.pods,
            next: 0,
        })
    }

    /// Number of stored points (at most two per series).
    pub fn points(&self) -> usize {
        self.nodes.values().map(NodeEntry::points).sum()
    }

    /// Whether there is at least one node or pod rate to serve.
    ///
    /// metrics-server is ready once it holds previous points for both nodes
    /// and pods; here either is enough, so a cluster whose nodes report no
    /// pods (or whose node points are missing) still becomes ready. The
    /// grace is not considered: readiness has no clock.
    pub fn ready(&self) -> bool {
        self.nodes.values().any(NodeEntry::has_rate)
    }

    fn servable(&self, entry: &NodeEntry, now: Timestamp) -> bool {
        entry
            .last_success
            .is_some_and(|success| now.duration_since(success) <= self.grace)
    }

    fn serving_pod(&self, pod: &PodRef, now: Timestamp) -> Option<(&str, &PodSeries)> {
        self.pod_nodes
            .get(pod)?
            .iter()
            .filter_map(|name| {
                let entry = self.nodes.get(name)?;
                if !self.servable(entry, now) {
                    return None;
                }
                let index = entry
                    .pods
                    .binary_search_by(|(stored, _)| (**stored).cmp(pod))
                    .ok()?;
                let (_, containers) = entry.pods.get(index)?;
                let newest = containers
                    .iter()
                    .map(|(_, series)| series.last().timestamp)
                    .max();
                Some(((newest, entry.last_success, &**name), containers))
            })
            .max_by(|(a, _), (b, _)| a.cmp(b))
            .map(|((_, _, name), containers)| (name, containers))
    }

    /// Drops a node's points (node and pods), keeping its entry.
    fn clear_points(&mut self, name: &Arc<str>) {
        let Some(entry) = self.nodes.get_mut(name) else {
            return;
        };
        entry.node = None;
        for (pod, _) in std::mem::take(&mut entry.pods) {
            forget_pod_on_node(&mut self.pod_nodes, &mut self.reports, &pod, name);
        }
    }
}

/// A cursor over one node's reported pods; see [`Store::reported_pods`].
#[derive(Debug)]
pub struct ReportedPods<'a> {
    pods: &'a [(Arc<PodRef>, PodSeries)],
    next: usize,
}

/// What the node says about one pod.
#[derive(Debug, Clone, Copy)]
pub enum Reported<'a> {
    /// The node reports the pod.
    Here(ReportedPod<'a>),
    /// The node does not report the pod (it may run elsewhere).
    NotHere,
}

/// A pod as its node reports it: a reference, its usage worked out only
/// when asked (a listing holds one per pod while it is being joined).
#[derive(Debug, Clone, Copy)]
pub struct ReportedPod<'a>(&'a PodSeries);

impl ReportedPod<'_> {
    /// The pod's usage, when it has one.
    pub fn usage(self) -> Option<PodUsage> {
        pod_usage_of(self.0)
    }
}

impl<'a> ReportedPods<'a> {
    /// The pod `namespace`/`name`. Pods must be asked for in ascending
    /// (namespace, name) order: the cursor only moves forward.
    pub fn find(&mut self, namespace: &str, name: &str) -> Reported<'a> {
        let wanted = (namespace, name);
        while let Some((pod, containers)) = self.pods.get(self.next) {
            match (pod.namespace.as_str(), pod.name.as_str()).cmp(&wanted) {
                std::cmp::Ordering::Less => self.next += 1,
                std::cmp::Ordering::Equal => {
                    self.next += 1;
                    return Reported::Here(ReportedPod(containers));
                }
                std::cmp::Ordering::Greater => break,
            }
        }
        Reported::NotHere
    }
}

fn forget_pod_on_node(
    pod_nodes: &mut HashMap<Arc<PodRef>, ReportingNodes>,
    reports: &mut usize,
    pod: &PodRef,
    node: &str,
) {
    if let Some(nodes) = pod_nodes.get_mut(pod) {
        let before = nodes.len();
        nodes.retain(|name| &**name != node);
        *reports -= before - nodes.len();
        if nodes.is_empty() {
            pod_nodes.remove(pod);
        }
    }
}

fn pod_usage_of(containers: &PodSeries) -> Option<PodUsage> {
    let mut with_rate = ContainerRates::new();
    let mut without_rate = Vec::new();
    let mut earliest: Option<Usage> = None;
    for (name, series) in containers {
        match series.usage() {
            Some(usage) => {
                with_rate.push((Arc::clone(name), usage.cpu_nanocores, usage.memory_bytes));
                // Strictly earlier: on a tie the first container (by name) wins.
                if earliest.is_none_or(|first| usage.timestamp < first.timestamp) {
                    earliest = Some(usage);
                }
            }
            None => without_rate.push(Arc::clone(name)),
        }
    }
    let earliest = earliest?;
    Some(PodUsage {
        timestamp: earliest.timestamp,
        window: earliest.window,
        containers: with_rate,
        without_rate,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::point::PodPoints;
    use proptest::prelude::*;

    const RESOLUTION: Duration = Duration::from_secs(15);
    const BASE: i64 = 1_700_000_000;

    /// `BASE + ms` milliseconds.
    fn at_ms(ms: i64) -> Timestamp {
        Timestamp::from_millisecond(BASE * 1000 + ms).unwrap()
    }

    fn at(secs: i64) -> Timestamp {
        at_ms(secs * 1000)
    }

    fn point(secs: i64, cpu_ns: u64, memory: u64) -> MetricsPoint {
        MetricsPoint {
            timestamp: at(secs),
            cumulative_cpu_ns: cpu_ns,
            memory_working_set: memory,
            start_time: None,
        }
    }

    fn started(mut p: MetricsPoint, start_secs: i64) -> MetricsPoint {
        p.start_time = Some(at(start_secs));
        p
    }

    fn pod(name: &str) -> PodRef {
        PodRef {
            namespace: "default".into(),
            name: name.into(),
        }
    }

    fn batch(
        node: &str,
        node_point: Option<MetricsPoint>,
        pods: &[(&str, &[(&str, MetricsPoint)])],
    ) -> NodeBatch {
        NodeBatch {
            node: node.into(),
            node_point,
            pods: pods
                .iter()
                .map(|(name, containers)| {
                    let points: PodPoints = containers
                        .iter()
                        .map(|(c, p)| ((*c).to_owned(), *p))
                        .collect();
                    (pod(name), points)
                })
                .collect(),
        }
    }

    /// One container `c` in pod `p` on node `n`, plus the node point.
    fn single(node_point: MetricsPoint, container: MetricsPoint) -> NodeBatch {
        batch("n", Some(node_point), &[("p", &[("c", container)])])
    }

    fn record_at(store: &mut Store, b: NodeBatch, secs: i64) {
        store.record(b, at(secs));
    }

    fn names(names: &[Arc<str>]) -> Vec<&str> {
        names.iter().map(|name| &**name).collect()
    }

    fn containers(usage: &PodUsage) -> Vec<(&str, u64, u64)> {
        usage
            .containers
            .iter()
            .map(|(n, c, m)| (&**n, *c, *m))
            .collect()
    }

    impl Store {
        /// The index agrees with the per-node pods, and no series holds
        /// more than two points.
        fn check_invariants(&self) {
            let mut derived: HashMap<PodRef, Vec<Arc<str>>> = HashMap::default();
            for (name, entry) in &self.nodes {
                assert!(entry.pods.windows(2).all(|w| w[0].0 < w[1].0), "sorted");
                for (pod, _) in &entry.pods {
                    derived
                        .entry((**pod).clone())
                        .or_default()
                        .push(Arc::clone(name));
                }
            }
            assert_eq!(derived.len(), self.pod_nodes.len());
            assert_eq!(
                self.reports,
                self.pod_nodes
                    .values()
                    .map(|nodes| nodes.len())
                    .sum::<usize>()
            );
            for (pod, nodes) in &self.pod_nodes {
                let mut want = derived[&**pod].clone();
                let mut have = nodes.to_vec();
                want.sort();
                have.sort();
                assert_eq!(want, have, "index of {pod:?}");
            }
            for entry in self.nodes.values() {
                let series = entry.node.iter().count()
                    + entry.pods.iter().map(|(_, c)| c.len()).sum::<usize>();
                assert!(entry.points() <= 2 * series);
                assert!(entry.points() >= series);
            }
        }
    }

    #[test]
    fn one_second_apart_with_1e9_ns_is_exactly_one_core() {
        let mut store = Store::new(RESOLUTION);
        record_at(
            &mut store,
            single(point(0, 5_000_000_000, 100), point(0, 7_000_000_000, 10)),
            0,
        );
        assert_eq!(store.node_usage("n", at(0)), None);
        assert_eq!(store.pod_usage(&pod("p"), at(0)), None);
        assert!(!store.ready());
        record_at(
            &mut store,
            single(point(1, 6_000_000_000, 200), point(1, 8_000_000_000, 20)),
            1,
        );
        assert!(store.ready());
        let node = store.node_usage("n", at(1)).unwrap();
        assert_eq!(
            node,
            Usage {
                timestamp: at(1),
                window: Duration::from_secs(1),
                cpu_nanocores: 1_000_000_000,
                memory_bytes: 200,
            }
        );
        let quantity = workingset_model::metrics::usage(node.cpu_nanocores, node.memory_bytes);
        assert_eq!(quantity["cpu"].to_string(), "1");
        let pod_usage = store.pod_usage(&pod("p"), at(1)).unwrap();
        assert_eq!(containers(&pod_usage), [("c", 1_000_000_000, 20)]);
        assert_eq!(pod_usage.timestamp, at(1));
        assert_eq!(pod_usage.window, Duration::from_secs(1));
        assert!(pod_usage.without_rate.is_empty());
        assert_eq!(store.points(), 4);
    }

    #[test]
    fn rate_truncates_to_whole_nanocores_over_millisecond_windows() {
        let mut store = Store::new(RESOLUTION);
        let mut first = point(0, 1_000, 1);
        let mut second = point(0, 1_000 + 10, 1);
        first.timestamp = at_ms(0);
        second.timestamp = at_ms(3_000);
        store.record(batch("n", Some(first), &[]), at(0));
        store.record(batch("n", Some(second), &[]), at(3));
        let usage = store.node_usage("n", at(3)).unwrap();
        // 10 ns over 3 s = 3.33… nanocores.
        assert_eq!(usage.cpu_nanocores, 3);
        assert_eq!(usage.window, Duration::from_millis(3_000));
    }

    #[test]
    fn equal_timestamps_keep_the_previous_point() {
        let mut store = Store::new(RESOLUTION);
        record_at(
            &mut store,
            single(point(0, 1_000_000_000, 1), point(0, 1_000_000_000, 1)),
            0,
        );
        record_at(
            &mut store,
            single(point(10, 2_000_000_000, 2), point(10, 2_000_000_000, 2)),
            10,
        );
        // The same sample scraped again (the kubelet had no newer stats):
        // `last` is replaced, `prev` (t=0) stays.
        record_at(
            &mut store,
            single(point(10, 3_000_000_000, 3), point(10, 3_000_000_000, 3)),
            20,
        );
        let node = store.node_usage("n", at(20)).unwrap();
        assert_eq!(node.window, Duration::from_secs(10));
        assert_eq!(node.cpu_nanocores, 200_000_000);
        assert_eq!(node.memory_bytes, 3);
        let pod_usage = store.pod_usage(&pod("p"), at(20)).unwrap();
        assert_eq!(containers(&pod_usage), [("c", 200_000_000, 3)]);
        assert_eq!(store.points(), 4);
    }

    #[test]
    fn equal_timestamp_with_no_previous_gives_no_rate() {
        let mut store = Store::new(RESOLUTION);
        record_at(&mut store, single(point(0, 1, 1), point(0, 1, 1)), 0);
        record_at(&mut store, single(point(0, 2, 2), point(0, 2, 2)), 15);
        assert_eq!(store.node_usage("n", at(15)), None);
        assert_eq!(store.pod_usage(&pod("p"), at(15)), None);
        assert_eq!(store.points(), 2);
    }

    #[test]
    fn older_point_between_prev_and_last_keeps_prev() {
        let mut store = Store::new(RESOLUTION);
        for (t, cpu) in [(0, 1_000_000_000), (20, 3_000_000_000), (10, 2_000_000_000)] {
            record_at(&mut store, batch("n", Some(point(t, cpu, 1)), &[]), 30);
        }
        // last = t10 (replaced), prev = t0 (older than the new point).
        let node = store.node_usage("n", at(30)).unwrap();
        assert_eq!(node.timestamp, at(10));
        assert_eq!(node.window, Duration::from_secs(10));
        assert_eq!(node.cpu_nanocores, 100_000_000);
    }

    #[test]
    fn new_point_older_than_stored_prev_drops_prev() {
        let mut store = Store::new(RESOLUTION);
        for t in [10, 20, 5] {
            record_at(
                &mut store,
                single(
                    point(t, 1_000_000_000 * t as u64, 1),
                    point(t, 1_000_000_000 * t as u64, 1),
                ),
                30,
            );
        }
        assert_eq!(store.node_usage("n", at(30)), None);
        assert_eq!(store.pod_usage(&pod("p"), at(30)), None);
        assert_eq!(store.points(), 2);
        // The next later point measures against t5.
        record_at(
            &mut store,
            single(point(15, 15_000_000_000, 1), point(15, 6_000_000_000, 1)),
            31,
        );
        assert_eq!(
            store.node_usage("n", at(31)).unwrap().window,
            Duration::from_secs(10)
        );
        assert_eq!(
            store.node_usage("n", at(31)).unwrap().cpu_nanocores,
            1_000_000_000
        );
        assert_eq!(
            containers(&store.pod_usage(&pod("p"), at(31)).unwrap()),
            [("c", 100_000_000, 1)]
        );
    }

    #[test]
    fn counter_decrease_has_no_rate_for_that_interval() {
        let mut store = Store::new(RESOLUTION);
        let sidecar = |t: i64| (t, point(t, 1_000_000_000 + t as u64 * 100_000_000, 5));
        let b = |t: i64, cpu: u64| {
            batch(
                "n",
                Some(point(t, 9_000_000_000 - t as u64, 1)),
                &[("p", &[("app", point(t, cpu, 7)), ("side", sidecar(t).1)])],
            )
        };
        record_at(&mut store, b(0, 5_000_000_000), 0);
        record_at(&mut store, b(15, 4_000_000_000), 15);
        assert_eq!(
            store.node_usage("n", at(15)),
            None,
            "node counter went down"
        );
        let usage = store.pod_usage(&pod("p"), at(15)).unwrap();
        assert_eq!(containers(&usage), [("side", 100_000_000, 5)]);
        assert_eq!(names(&usage.without_rate), ["app"]);
        // The interval after the decrease is measured normally.
        record_at(&mut store, b(30, 5_500_000_000), 30);
        let usage = store.pod_usage(&pod("p"), at(30)).unwrap();
        assert_eq!(
            containers(&usage),
            [("app", 100_000_000, 7), ("side", 100_000_000, 5)]
        );
        assert!(usage.without_rate.is_empty());
    }

    #[test]
    fn start_time_moving_backwards_has_no_rate() {
        let mut store = Store::new(RESOLUTION);
        record_at(
            &mut store,
            single(point(0, 1, 1), started(point(0, 1_000, 1), -100)),
            0,
        );
        record_at(
            &mut store,
            single(point(15, 2, 1), started(point(15, 2_000, 1), -200)),
            15,
        );
        assert_eq!(store.pod_usage(&pod("p"), at(15)), None);
    }

    #[test]
    fn restart_does_not_use_the_old_points() {
        let mut store = Store::new(RESOLUTION);
        let b = |t: i64, app: MetricsPoint| {
            batch(
                "n",
                Some(point(t, 1 + t as u64, 1)),
                &[(
                    "p",
                    &[("app", app), ("side", point(t, 1_000 + 15 * t as u64, 2))],
                )],
            )
        };
        record_at(
            &mut store,
            b(0, started(point(0, 50_000_000_000, 9), -3600)),
            0,
        );
        record_at(
            &mut store,
            b(15, started(point(15, 51_500_000_000, 9), -3600)),
            15,
        );
        assert_eq!(
            containers(&store.pod_usage(&pod("p"), at(15)).unwrap())[0],
            ("app", 100_000_000, 9)
        );

        // Restarted at exactly the last point's timestamp, sampled 0.5 s later:
        // the counter is new, too young for a rate since start.
        let mut young = started(point(15, 500_000, 3), 15);
        young.timestamp = at_ms(15_500);
        record_at(&mut store, b(16, young), 16);
        let usage = store.pod_usage(&pod("p"), at(16)).unwrap();
        assert_eq!(
            names(&usage.without_rate),
            ["app"],
            "the old instance's points are not used"
        );
        assert_eq!(containers(&usage), [("side", 15, 2)]);
        assert_eq!(usage.window, Duration::from_secs(1));

        // Normal rate on the next interval.
        record_at(
            &mut store,
            b(30, started(point(30, 1_450_500_000, 4), 15)),
            30,
        );
        let usage = store.pod_usage(&pod("p"), at(30)).unwrap();
        assert_eq!(containers(&usage)[0], ("app", 100_000_000, 4));
        assert_eq!(usage.timestamp, at(30));
        // Earliest timestamp wins: both containers end at 30; `app`'s window is
        // 14.5 s and it comes first by name.
        assert_eq!(usage.window, Duration::from_millis(14_500));
    }

    #[test]
    fn restarted_container_gets_a_rate_since_its_start() {
        let mut store = Store::new(RESOLUTION);
        record_at(
            &mut store,
            single(point(0, 1, 1), started(point(0, 50_000_000_000, 9), -3600)),
            0,
        );
        // Restarted at 27 s (after the last point at 0), sampled at 30: 3 s
        // old, below the fresh band, so only the restart rule gives a rate.
        record_at(
            &mut store,
            single(point(30, 2, 1), started(point(30, 600_000_000, 5), 27)),
            30,
        );
        let usage = store.pod_usage(&pod("p"), at(30)).unwrap();
        assert_eq!(containers(&usage), [("c", 200_000_000, 5)]);
        assert_eq!(usage.timestamp, at(30));
        assert_eq!(usage.window, Duration::from_secs(3));
        // Exactly one second old is enough.
        record_at(
            &mut store,
            single(point(45, 3, 1), started(point(45, 100_000_000, 5), 44)),
            45,
        );
        let usage = store.pod_usage(&pod("p"), at(45)).unwrap();
        assert_eq!(containers(&usage), [("c", 100_000_000, 5)]);
        assert_eq!(usage.window, Duration::from_secs(1));
        // Just under a second is not.
        let mut young = started(point(60, 100_000_000, 5), 59);
        young.timestamp = at_ms(59_999);
        record_at(&mut store, single(point(60, 4, 1), young), 60);
        assert_eq!(store.pod_usage(&pod("p"), at(60)), None);
    }

    #[test]
    fn restart_at_exactly_the_last_timestamp_counts_as_a_restart() {
        let mut store = Store::new(RESOLUTION);
        record_at(
            &mut store,
            single(point(0, 1, 1), started(point(0, 1_000_000_000, 9), -3600)),
            0,
        );
        // Started at the old point's timestamp: a new instance, measured from
        // its own start (0 at 0 s), not against the old instance's counter.
        record_at(
            &mut store,
            single(point(2, 2, 1), started(point(2, 1_500_000_000, 5), 0)),
            2,
        );
        let usage = store.pod_usage(&pod("p"), at(2)).unwrap();
        assert_eq!(containers(&usage), [("c", 750_000_000, 5)]);
        assert_eq!(usage.window, Duration::from_secs(2));
    }

    #[test]
    fn fresh_rule_does_not_replace_a_real_previous_point() {
        let mut store = Store::new(Duration::from_secs(60));
        // Seen at 5 s old (too young), then at 20 s old (inside the band):
        // the sampled point at 5 s is the better measure.
        record_at(
            &mut store,
            single(point(5, 1, 1), started(point(5, 1_000_000_000, 9), 0)),
            5,
        );
        record_at(
            &mut store,
            single(point(20, 2, 1), started(point(20, 2_500_000_000, 9), 0)),
            20,
        );
        let usage = store.pod_usage(&pod("p"), at(20)).unwrap();
        assert_eq!(containers(&usage), [("c", 100_000_000, 9)]);
        assert_eq!(usage.window, Duration::from_secs(15));
    }

    #[test]
    fn new_point_equal_to_stored_prev_drops_prev() {
        let mut store = Store::new(RESOLUTION);
        for t in [10, 20, 10] {
            record_at(
                &mut store,
                batch("n", Some(point(t, 1 + t as u64, 1)), &[]),
                30,
            );
        }
        assert_eq!(store.node_usage("n", at(30)), None);
        assert_eq!(store.points(), 1);
    }

    #[test]
    fn fresh_container_inside_the_band_appears_after_one_scrape() {
        for age in [10_000, 12_345, 14_999] {
            let mut store = Store::new(RESOLUTION);
            let mut c = started(point(100, 1_500_000_000, 8), 0);
            c.start_time = Some(at_ms(100_000 - age));
            record_at(&mut store, single(point(100, 1, 1), c), 100);
            let usage = store
                .pod_usage(&pod("p"), at(100))
                .unwrap_or_else(|| panic!("age {age} ms"));
            let want = 1_500_000_000u128 * 1_000_000_000 / (age as u128 * 1_000_000);
            assert_eq!(containers(&usage), [("c", want as u64, 8)], "age {age} ms");
            assert_eq!(usage.window, Duration::from_millis(age as u64));
            assert_eq!(usage.timestamp, at(100));
            assert_eq!(store.points(), 3, "node + container last + synthetic prev");
        }
    }

    #[test]
    fn fresh_container_outside_the_band_waits_for_a_second_scrape() {
        // 9.999 s (too young), 15 s (= resolution, excluded), an hour, no
        // start time, and a start time after the sample.
        for start in [
            Some(90_001),
            Some(85_000),
            Some(-3_500_000),
            None,
            Some(100_001),
        ] {
            let mut store = Store::new(RESOLUTION);
            let mut c = point(100, 1_500_000_000, 8);
            c.start_time = start.map(at_ms);
            record_at(&mut store, single(point(100, 1, 1), c), 100);
            assert_eq!(store.pod_usage(&pod("p"), at(100)), None, "start {start:?}");
        }
    }

    #[test]
    fn fresh_band_is_empty_when_resolution_is_below_ten_seconds() {
        let mut store = Store::new(Duration::from_secs(10));
        record_at(
            &mut store,
            single(point(100, 1, 1), started(point(100, 1_000, 8), 90)),
            100,
        );
        assert_eq!(store.pod_usage(&pod("p"), at(100)), None);
    }

    #[test]
    fn new_container_in_an_existing_pod_does_not_hide_the_pod() {
        let mut store = Store::new(RESOLUTION);
        let app = |t: i64| {
            (
                "app",
                started(point(t, 2_000_000_000 + t as u64 * 10_000_000, 4), -600),
            )
        };
        record_at(&mut store, batch("n", None, &[("p", &[app(0)])]), 0);
        record_at(&mut store, batch("n", None, &[("p", &[app(15)])]), 15);
        // A sidecar appears, started an hour before (e.g. the server just
        // saw it first) and a debug container 12 s old (fresh band).
        let sidecar = ("sidecar", started(point(30, 9_000_000_000, 6), -3600));
        let debug = ("debug", started(point(30, 1_200_000_000, 2), 18));
        record_at(
            &mut store,
            batch("n", None, &[("p", &[app(30), sidecar, debug])]),
            30,
        );
        let usage = store.pod_usage(&pod("p"), at(30)).unwrap();
        assert_eq!(
            containers(&usage),
            [("app", 10_000_000, 4), ("debug", 100_000_000, 2)]
        );
        assert_eq!(names(&usage.without_rate), ["sidecar"]);
        // `app` ends at 30 after a 15 s window; `debug` too after 12 s: on a
        // tie the first by name gives the window.
        assert_eq!(usage.timestamp, at(30));
        assert_eq!(usage.window, Duration::from_secs(15));
        assert_eq!(
            store.node_usage("n", at(30)),
            None,
            "no node point was ever reported"
        );
    }

    #[test]
    fn pod_timestamp_and_window_come_from_the_earliest_container() {
        let mut store = Store::new(RESOLUTION);
        let b = |t_a: i64, t_b: i64| {
            batch(
                "n",
                None,
                &[(
                    "p",
                    &[
                        ("a", point(t_a, 10 + t_a as u64, 1)),
                        ("b", point(t_b, 10 + t_b as u64, 1)),
                    ],
                )],
            )
        };
        record_at(&mut store, b(0, 2), 2);
        record_at(&mut store, b(20, 14), 20);
        let usage = store.pod_usage(&pod("p"), at(20)).unwrap();
        assert_eq!(usage.timestamp, at(14));
        assert_eq!(usage.window, Duration::from_secs(12));
    }

    #[test]
    fn failed_scrape_keeps_serving_within_the_grace_and_stops_after_it() {
        let mut store = Store::new(RESOLUTION);
        let b = |t: i64| {
            single(
                point(t, (t as u64 + 1) * 1_000_000_000, 1),
                point(t, (t as u64 + 1) * 500_000_000, 2),
            )
        };
        record_at(&mut store, b(0), 0);
        record_at(&mut store, b(15), 15);
        store.record_failure("n", at(30));
        let node = store.node_usage("n", at(30)).unwrap();
        assert_eq!(
            (node.timestamp, node.window),
            (at(15), Duration::from_secs(15))
        );
        let usage = store.pod_usage(&pod("p"), at(30)).unwrap();
        assert_eq!(containers(&usage), [("c", 500_000_000, 2)]);
        assert_eq!(usage.timestamp, at(15));
        // Served up to and including 2 × resolution after the last success.
        assert!(store.node_usage("n", at(45)).is_some());
        assert!(store.pod_usage(&pod("p"), at(45)).is_some());
        assert_eq!(store.node_usage("n", at_ms(45_001)), None);
        assert_eq!(store.pod_usage(&pod("p"), at_ms(45_001)), None);
        assert_eq!(
            store.points(),
            4,
            "points kept until a failure beyond the grace"
        );
        store.record_failure("n", at(45));
        assert_eq!(store.points(), 4, "still within the grace");
        store.record_failure("n", at(60));
        assert_eq!(store.points(), 0);
        assert!(!store.ready());
        store.check_invariants();
        // Back after the outage: starts afresh, no hour-long average.
        record_at(&mut store, b(75), 75);
        assert_eq!(store.node_usage("n", at(75)), None);
        record_at(&mut store, b(90), 90);
        assert_eq!(
            store.node_usage("n", at(90)).unwrap().window,
            Duration::from_secs(15)
        );
    }

    #[test]
    fn success_after_a_failure_measures_against_the_last_good_point() {
        let mut store = Store::new(RESOLUTION);
        let b = |t: i64| {
            single(
                point(t, (t as u64 + 1) * 1_000_000_000, 1),
                point(t, (t as u64 + 1) * 250_000_000, 2),
            )
        };
        record_at(&mut store, b(0), 0);
        record_at(&mut store, b(15), 15);
        store.record_failure("n", at(30));
        // Arrives a little after 2 × resolution: still the long window.
        store.record(b(45), at_ms(45_700));
        let node = store.node_usage("n", at(46)).unwrap();
        assert_eq!(
            (node.timestamp, node.window),
            (at(45), Duration::from_secs(30))
        );
        assert_eq!(node.cpu_nanocores, 1_000_000_000);
        let usage = store.pod_usage(&pod("p"), at(46)).unwrap();
        assert_eq!(usage.window, Duration::from_secs(30));
        assert_eq!(containers(&usage), [("c", 250_000_000, 2)]);
    }

    #[test]
    fn failure_of_an_unknown_node_is_a_no_op() {
        let mut store = Store::new(RESOLUTION);
        store.record_failure("ghost", at(0));
        assert_eq!(store.points(), 0);
        assert_eq!(store.node_usage("ghost", at(0)), None);
    }

    #[test]
    fn pod_missing_from_its_nodes_next_batch_disappears_other_nodes_pods_stay() {
        let mut store = Store::new(RESOLUTION);
        let c = |t: i64| point(t, 1_000_000 * (t as u64 + 1), 3);
        for t in [0, 15] {
            store.record(
                batch("a", None, &[("a1", &[("c", c(t))]), ("a2", &[("c", c(t))])]),
                at(t),
            );
            store.record(batch("b", None, &[("b1", &[("c", c(t))])]), at(t));
        }
        for name in ["a1", "a2", "b1"] {
            assert!(store.pod_usage(&pod(name), at(15)).is_some(), "{name}");
        }
        store.record(batch("a", None, &[("a1", &[("c", c(30))])]), at(30));
        assert!(store.pod_usage(&pod("a1"), at(30)).is_some());
        assert_eq!(store.pod_usage(&pod("a2"), at(30)), None, "a2 ended");
        assert!(
            store.pod_usage(&pod("b1"), at(30)).is_some(),
            "node b untouched"
        );
        assert_eq!(store.points(), 4);
        store.check_invariants();
        // A container missing from the next batch is forgotten too.
        store.record(batch("b", None, &[("b1", &[("other", c(30))])]), at(30));
        assert_eq!(store.pod_usage(&pod("b1"), at(30)), None);
        assert_eq!(store.points(), 3);
    }

    #[test]
    fn same_pod_on_two_nodes_serves_the_most_recent_without_panicking() {
        let mut store = Store::new(RESOLUTION);
        let c = |t: i64, cpu_per_s: u64| point(t, cpu_per_s * (t as u64 + 1), 3);
        store.record(batch("old", None, &[("p", &[("c", c(0, 1_000))])]), at(0));
        store.record(batch("old", None, &[("p", &[("c", c(15, 1_000))])]), at(15));
        store.record(batch("new", None, &[("p", &[("c", c(16, 2_000))])]), at(16));
        // The new node has only one point: the pod is served from the newest
        // observation, which has no rate yet.
        assert_eq!(store.pod_node(&pod("p"), at(16)), Some("new"));
        assert_eq!(store.pod_usage(&pod("p"), at(16)), None);
        store.record(batch("new", None, &[("p", &[("c", c(31, 2_000))])]), at(31));
        assert_eq!(
            containers(&store.pod_usage(&pod("p"), at(31)).unwrap()),
            [("c", 2_000, 3)]
        );
        store.check_invariants();
        // The old node stops reporting it: only the new node's series remain.
        store.record(batch("old", None, &[]), at(32));
        assert_eq!(store.pod_node(&pod("p"), at(32)), Some("new"));
        store.check_invariants();
        // The new node's figures age out while the old node still reports it.
        store.record(batch("old", None, &[("p", &[("c", c(40, 1_000))])]), at(40));
        store.record(batch("old", None, &[("p", &[("c", c(70, 1_000))])]), at(70));
        assert_eq!(store.pod_node(&pod("p"), at(70)), Some("old"));
        assert_eq!(
            containers(&store.pod_usage(&pod("p"), at(70)).unwrap()),
            [("c", 1_000, 3)]
        );
    }

    #[test]
    fn zero_cpu_earlier_point_is_not_yet_known() {
        let mut store = Store::new(RESOLUTION);
        let b = |t: i64, node_cpu: u64, app: u64, idle: u64| {
            batch(
                "n",
                Some(point(t, node_cpu, 0)),
                &[(
                    "p",
                    &[("app", point(t, app, 0)), ("idle", point(t, idle, 5))],
                )],
            )
        };
        record_at(&mut store, b(0, 0, 0, 0), 0);
        record_at(&mut store, b(15, 15_000_000_000, 3_000_000_000, 0), 15);
        assert_eq!(store.node_usage("n", at(15)), None);
        let usage = store.pod_usage(&pod("p"), at(15)).unwrap();
        // 0 → 0 is an idle container (rate 0); 0 → non-zero is unknown.
        assert_eq!(containers(&usage), [("idle", 0, 5)]);
        assert_eq!(names(&usage.without_rate), ["app"]);
        record_at(&mut store, b(30, 30_000_000_000, 4_500_000_000, 0), 30);
        let node = store.node_usage("n", at(30)).unwrap();
        assert_eq!(
            (node.cpu_nanocores, node.memory_bytes),
            (1_000_000_000, 0),
            "zero memory is served"
        );
        let usage = store.pod_usage(&pod("p"), at(30)).unwrap();
        assert_eq!(
            containers(&usage),
            [("app", 100_000_000, 0), ("idle", 0, 5)]
        );
    }

    #[test]
    fn node_point_missing_from_a_successful_scrape_forgets_the_node_figures() {
        let mut store = Store::new(RESOLUTION);
        record_at(&mut store, single(point(0, 1, 1), point(0, 1, 1)), 0);
        record_at(&mut store, single(point(15, 16, 1), point(15, 16, 1)), 15);
        assert!(store.node_usage("n", at(15)).is_some());
        record_at(
            &mut store,
            batch("n", None, &[("p", &[("c", point(30, 31, 1))])]),
            30,
        );
        assert_eq!(store.node_usage("n", at(30)), None);
        assert!(store.pod_usage(&pod("p"), at(30)).is_some());
    }

    #[test]
    fn retain_nodes_forgets_unconfigured_nodes_and_their_pods() {
        let mut store = Store::new(RESOLUTION);
        for t in [0, 15] {
            for node in ["a", "b"] {
                let name = format!("{node}-pod");
                store.record(
                    batch(
                        node,
                        Some(point(t, t as u64 + 1, 1)),
                        &[(&name, &[("c", point(t, t as u64 + 1, 1))])],
                    ),
                    at(t),
                );
            }
        }
        store.retain_nodes(|name| name == "b");
        assert_eq!(store.node_usage("a", at(15)), None);
        assert_eq!(store.pod_usage(&pod("a-pod"), at(15)), None);
        assert!(store.node_usage("b", at(15)).is_some());
        assert!(store.pod_usage(&pod("b-pod"), at(15)).is_some());
        assert_eq!(store.points(), 4);
        store.check_invariants();
    }

    #[test]
    fn many_nodes() {
        let mut store = Store::new(RESOLUTION);
        let nodes = 200;
        for t in [0i64, 15] {
            for n in 0..nodes {
                let node = format!("node-{n:03}");
                let pods: Vec<(String, Vec<(String, MetricsPoint)>)> = (0..5)
                    .map(|p| {
                        let containers = (0..2)
                            .map(|c| {
                                (
                                    format!("c{c}"),
                                    point(
                                        t,
                                        1 + (n * 10 + p * 2 + c + 1) * t as u64 * 1_000_000,
                                        7,
                                    ),
                                )
                            })
                            .collect();
                        (format!("{node}-pod-{p}"), containers)
                    })
                    .collect();
                let batch = NodeBatch {
                    node: node.clone(),
                    node_point: Some(point(t, 1 + (n + 1) * t as u64 * 1_000_000_000, 9)),
                    pods: pods
                        .into_iter()
                        .map(|(name, cs)| (pod(&name), cs.into_iter().collect()))
                        .collect(),
                };
                store.record(batch, at(t));
            }
        }
        assert_eq!(store.points(), 2 * (nodes as usize) * (1 + 5 * 2));
        for n in 0..nodes {
            let node = format!("node-{n:03}");
            assert_eq!(
                store.node_usage(&node, at(15)).unwrap().cpu_nanocores,
                (n + 1) * 1_000_000_000
            );
            for p in 0..5 {
                let usage = store
                    .pod_usage(&pod(&format!("{node}-pod-{p}")), at(15))
                    .unwrap();
                let want: Vec<(Arc<str>, u64, u64)> = (0..2)
                    .map(|c| {
                        let name: Arc<str> = Arc::from(format!("c{c}"));
                        (name, (n * 10 + p * 2 + c + 1) * 1_000_000, 7)
                    })
                    .collect();
                assert_eq!(usage.containers.as_slice(), want.as_slice());
            }
        }
        store.check_invariants();
    }

    /// Container number, timestamp (ms), CPU ns, memory, start (ms).
    type ContainerSpec = (u8, i64, u64, u64, Option<i64>);

    #[derive(Debug, Clone)]
    enum Op {
        Record {
            node: u8,
            at_ms: i64,
            node_point: Option<(i64, u64, u64)>,
            pods: Vec<(u8, Vec<ContainerSpec>)>,
        },
        Failure {
            node: u8,
            at_ms: i64,
        },
        Retain {
            keep_below: u8,
        },
    }

    fn op() -> impl Strategy<Value = Op> {
        let time = -5_000i64..120_000;
        let cpu = prop_oneof![Just(0u64), 0u64..5_000_000_000, Just(u64::MAX)];
        let container = (
            0u8..3,
            time.clone(),
            cpu.clone(),
            any::<u64>(),
            proptest::option::of(-200_000i64..120_000),
        );
        let pods =
            proptest::collection::vec((0u8..6, proptest::collection::vec(container, 0..4)), 0..5);
        prop_oneof![
            6 => (0u8..4, time.clone(), proptest::option::of((time.clone(), cpu, any::<u64>())), pods)
                .prop_map(|(node, at_ms, node_point, pods)| Op::Record { node, at_ms, node_point, pods }),
            2 => (0u8..4, time).prop_map(|(node, at_ms)| Op::Failure { node, at_ms }),
            1 => (0u8..5).prop_map(|keep_below| Op::Retain { keep_below }),
        ]
    }

    #[test]
    fn counters_going_backwards_without_a_restart_are_reported() {
        let mut store = Store::new(RESOLUTION);
        let first = store.record(single(point(0, 5_000, 1), point(0, 900, 1)), at(0));
        assert_eq!(first, Recorded::default(), "nothing stored yet");
        // Both counters move forward: nothing to report.
        let forward = store.record(single(point(15, 6_000, 1), point(15, 1_000, 1)), at(15));
        assert_eq!(forward.cpu_usage_drops, 0);
        // Both go down, no start time: the node's and the container's.
        let down = store.record(single(point(30, 10, 1), point(30, 10, 1)), at(30));
        assert_eq!(down.cpu_usage_drops, 2);
        assert!(
            store.pod_usage(&pod("p"), at(30)).is_none(),
            "no rate across a drop"
        );
        // The container restarted after the stored sample: a reset that is
        // explained, not reported.
        let restarted = store.record(
            single(point(45, 20, 1), started(point(45, 5, 1), 40)),
            at(45),
        );
        assert_eq!(restarted.cpu_usage_drops, 0);
        // A start time from before the stored sample explains nothing.
        let unexplained = store.record(
            single(point(60, 30, 1), started(point(60, 1, 1), 40)),
            at(60),
        );
        assert_eq!(unexplained.cpu_usage_drops, 1);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn a_packed_point_is_the_point(
            at_ns in -(1i64 << 62)..(1i64 << 62),
            cpu in any::<u64>(),
            memory in any::<u64>(),
            start_ns in proptest::option::of(-(1i64 << 62)..(1i64 << 62)),
        ) {
            let ts = |ns: i64| Timestamp::from_nanosecond(i128::from(ns)).unwrap();
            let point = MetricsPoint {
                timestamp: ts(at_ns),
                cumulative_cpu_ns: cpu,
                memory_working_set: memory,
                start_time: start_ns.map(ts),
            };
            prop_assert_eq!(PackedPoint::pack(point).unpack(), point);
            let series = Series::new(point, Some(Previous { point, origin: Origin::ContainerStart }));
            prop_assert_eq!(series.last(), point);
            prop_assert_eq!(series.prev(), Some(Previous { point, origin: Origin::ContainerStart }));
            prop_assert_eq!(Series::new(point, None).prev(), None);
        }

        #[test]
        fn bounded_points_for_any_sequence_of_batches_and_failures(
            resolution_ms in 1u64..60_000,
            ops in proptest::collection::vec(op(), 1..60),
        ) {
            let mut store = Store::new(Duration::from_millis(resolution_ms));
            // The series each node's latest successful scrape reported.
            let mut expected_series: BTreeMap<u8, usize> = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Record { node, at_ms: received, node_point, pods } => {
                        let mut batch = NodeBatch { node: format!("n{node}"), ..NodeBatch::default() };
                        batch.node_point = node_point.map(|(t, cpu, mem)| MetricsPoint {
                            timestamp: self::at_ms(t), cumulative_cpu_ns: cpu, memory_working_set: mem, start_time: None,
                        });
                        for (p, containers) in pods {
                            let points = batch.pods.entry(pod(&format!("p{p}"))).or_default();
                            for (c, t, cpu, mem, start) in containers {
                                points.insert(format!("c{c}"), MetricsPoint {
                                    timestamp: self::at_ms(t), cumulative_cpu_ns: cpu, memory_working_set: mem,
                                    start_time: start.map(self::at_ms),
                                });
                            }
                        }
                        let series = usize::from(batch.node_point.is_some())
                            + batch.pods.values().map(BTreeMap::len).sum::<usize>();
                        expected_series.insert(node, series);
                        store.record(batch, self::at_ms(received));
                    }
                    Op::Failure { node, at_ms: failed } => {
                        let before = store.points();
                        store.record_failure(&format!("n{node}"), self::at_ms(failed));
                        let after = store.points();
                        prop_assert!(after <= before);
                        if after < before {
                            expected_series.insert(node, 0);
                        }
                    }
                    Op::Retain { keep_below } => {
                        store.retain_nodes(|name| name[1..].parse::<u8>().is_ok_and(|n| n < keep_below));
                        expected_series.retain(|node, _| *node < keep_below);
                    }
                }
                store.check_invariants();
                let series: usize = expected_series.values().sum();
                prop_assert!(store.points() <= 2 * series, "{} points for {} series", store.points(), series);
                prop_assert!(store.points() >= series);
                for query in [-10_000i64, 0, 30_000, 60_000, 200_000] {
                    let now = self::at_ms(query);
                    for node in 0..4u8 {
                        if let Some(usage) = store.node_usage(&format!("n{node}"), now) {
                            prop_assert!(!usage.window.is_zero());
                        }
                    }
                    for p in 0..6u8 {
                        if let Some(usage) = store.pod_usage(&pod(&format!("p{p}")), now) {
                            prop_assert!(!usage.containers.is_empty());
                            prop_assert!(!usage.window.is_zero());
                            prop_assert!(usage.containers.windows(2).all(|w| w[0].0 < w[1].0));
                            prop_assert!(usage.without_rate.iter().all(|n| usage.containers.iter().all(|c| &c.0 != n)));
                        }
                    }
                }
            }
        }
    }
}
