//! The node agent: finds the workloads under a cgroup root and samples them.
//!
//! Discovery turns cgroup paths into Kubernetes pods and containers, Docker
//! containers, systemd units and plain cgroups (pure, in [`discovery`]); the
//! [`sampler`] reads their figures through `workingset-cgroup`, and
//! [`metrics`] turns two samples into the Metrics API objects the rest of
//! workingset prints and serves.

pub mod discovery;
pub mod http;
pub mod metrics;
pub mod procs;
pub mod runtime;
pub mod sampler;
pub mod serve;
