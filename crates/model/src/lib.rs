//! Domain types and formulas of workingset, with no IO.
//!
//! This crate is what every other crate agrees on: CPU rates from cumulative
//! counters, the Metrics API objects (`metrics.k8s.io/v1beta1`) with Go's field
//! order, the subset of core/v1 Node and Pod that `kubectl top` reads, Go
//! duration strings and Go's RFC 3339 time parsing, and Kubernetes label and field selectors. It reads no
//! files and opens no sockets, so everything here is a pure function or a
//! plain value that tests can build by hand.

pub mod duration;
pub mod gotime;
pub mod metrics;
pub mod rate;
pub mod select;
pub mod selector;
pub mod sorted_map;
pub mod status;
pub mod summary;
