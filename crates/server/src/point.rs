//! What one scrape of one node yields: points, not yet rates.
//!
//! A point is one sample of a cumulative CPU counter and a memory gauge at a
//! time. Rates need two points; [`crate::store`] keeps them.

use std::collections::BTreeMap;

use jiff::Timestamp;

/// A pod's identity within the cluster.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PodRef {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name.
    pub name: String,
}

/// One sample of a node or container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsPoint {
    /// When the sample was taken: the sample's own timestamp when the
    /// exposition carries one, else when the response arrived.
    pub timestamp: Timestamp,
    /// Cumulative CPU time in nanoseconds (seconds × 1e9, truncated).
    pub cumulative_cpu_ns: u64,
    /// Working set in bytes.
    pub memory_working_set: u64,
    /// When the container started (`container_start_time_seconds`); `None`
    /// for nodes and when the kubelet did not report it.
    pub start_time: Option<Timestamp>,
}

/// Containers of one pod, by container name.
pub type PodPoints = BTreeMap<String, MetricsPoint>;

/// Everything one successful scrape of one node's `/metrics/resource` gave.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NodeBatch {
    /// The node the body came from.
    pub node: String,
    /// The node's own point; `None` when the body lacked the node's CPU or
    /// memory (the pods may still be usable).
    pub node_point: Option<MetricsPoint>,
    /// Every pod with at least one complete container point.
    pub pods: BTreeMap<PodRef, PodPoints>,
}
