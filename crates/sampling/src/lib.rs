//! Sampling one machine, synchronously: finds the workloads under a cgroup
//! root and reads their figures.
//!
//! [`discovery`] turns cgroup paths into Kubernetes pods and containers,
//! Docker containers, systemd units and plain cgroups (pure); the
//! [`sampler`] reads their figures through `workingset-cgroup`, named by an
//! [`inventory`] of what the container runtimes said, and [`metrics`] turns
//! two samples into the Metrics API objects the rest of workingset prints
//! and serves. Nothing here is async or talks to a network: local `top`
//! and `explain` are built on this crate alone, the agent daemon on top of
//! it.

pub mod discovery;
pub mod inventory;
pub mod metrics;
pub mod procs;
pub mod sampler;
