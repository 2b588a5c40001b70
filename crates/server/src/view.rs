//! What the API serves: one immutable snapshot, rebuilt after every tick and
//! swapped in atomically, so request handlers never wait for scraping.

use jiff::Timestamp;
use workingset_model::metrics::{Node, NodeMetrics, Pod, PodMetrics};

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
