//! `workingset explain`: for one pod or node, every memory and CPU figure
//! with the file, key, metric or field it came from, the formulas behind
//! what `kubectl top`, the OOM killer, eviction and `docker stats` show
//! (filled in with the workload's numbers), and why they differ.
//!
//! The crate is pure: sources fill [`inputs`] (the binary reads cgroup
//! files or fetches a node's endpoints and hands the bytes to
//! [`kubelet`]), [`derive`] turns inputs into an [`Explanation`], and
//! [`text`] renders it for people; `serde_json` renders it for machines
//! (`docs/explain.schema.json` describes that shape). [`lookup`] finds the
//! workload that was asked for and words the error when it is not there.

#![forbid(unsafe_code)]

pub mod derive;
pub mod inputs;
pub mod kubelet;
pub mod lookup;
pub mod report;
pub mod text;

pub use derive::{explain_node, explain_pod};
pub use report::{API_VERSION, Explanation};

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod schema_tests;

/// Why a workload or node could not be explained, wherever its figures
/// were read (this machine, an agent, the API server's node proxy).
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    /// The workload or node is not there: a message with close matches.
    #[error(transparent)]
    NotFound(#[from] lookup::LookupError),
    /// A node's endpoint answered something that is not what a kubelet
    /// serves.
    #[error(transparent)]
    Kubelet(#[from] kubelet::KubeletError),
    /// The figures could not be read: the text says what happened and
    /// what to try.
    #[error("{0}")]
    Failed(String),
}

impl ExplainError {
    /// A failure described by `message`.
    pub fn failed(message: impl Into<String>) -> Self {
        Self::Failed(message.into())
    }
}
