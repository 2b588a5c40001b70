//! The nodes to scrape: name and base URL of each agent or kubelet.
//!
//! In standalone mode they come from `--node NAME=URL` flags and
//! `--nodes-file`. This is the seam where an in-cluster node source (nodes
//! from the API server, addresses by type) will plug in.

use std::collections::BTreeMap;

/// One node as the operator declared it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpec {
    /// The node's name, as it appears in the Metrics API.
    pub name: String,
    /// Base URL of its agent or kubelet: `http(s)://host:port`, no path.
    pub url: String,
    /// Labels the operator gave the node, on top of the kubelet's own
    /// well-known labels (`kubernetes.io/hostname`, `kubernetes.io/os`, ...).
    pub labels: BTreeMap<String, String>,
}
