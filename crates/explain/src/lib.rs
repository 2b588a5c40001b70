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
