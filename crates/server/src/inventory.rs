//! The objects the Metrics API joins usage with: each node's `Node` (labels,
//! capacity, allocatable) and its running pods (name, namespace, labels,
//! creation time).

use workingset_model::metrics::{Node, Pod};

/// What the server knows about one node besides its usage.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeInventory {
    /// The core `Node` object served at `/api/v1/nodes` in standalone mode
    /// and whose labels `NodeMetrics` copies.
    pub node: Node,
    /// The node's running pods; only these are served as `PodMetrics`.
    pub pods: Vec<Pod>,
}
