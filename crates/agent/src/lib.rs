//! The node agent daemon: serves one machine's figures in the kubelet's
//! formats.
//!
//! Sampling itself is `workingset-sampling` (synchronous, no network); this
//! crate adds what a daemon needs around it: names and labels from the
//! container runtimes ([`runtime`]: Docker Engine API and CRI clients), the
//! kubelet-format renderers ([`serve`]: `/stats/summary`,
//! `/metrics/resource`, `/metrics/cadvisor`, `/pods`) and the HTTP server
//! with housekeeping ([`http`]).

pub mod http;
pub mod runtime;
pub mod serve;
