//! Reads cgroup v1, v2 and hybrid hierarchies and the `/proc` files beside
//! them, and derives the figures the kubelet, cAdvisor and `kubectl top`
//! report — working set, rss, cache, CPU counters, limits — exactly as they
//! derive them.
//!
//! What it is for:
//! - detecting the hierarchy once from mountinfo ([`Layout`], [`Cgroups::open`]);
//! - reading one cgroup's memory, CPU and pids figures ([`Reader`]), each
//!   able to say which file and key it came from ([`MemoryStats::source`]);
//! - the node view: the configured cgroup root, `/proc/meminfo` and the
//!   online CPU count ([`Reader::node`]);
//! - listing a cgroup's children, cheaply and tolerating removals.
//!
//! What it is not for: deciding which cgroups are pods or containers (the
//! agent's discovery does that on top of [`Reader::children`]), CPU rates
//! (`workingset_model::rate` turns two [`CpuStats`] into one), or writing
//! to cgroups.
//!
//! A cgroup that disappears while it is read is [`Error::Gone`], distinct
//! from every other failure, because on a busy node containers stop all the
//! time. The [`parse`] module holds the pure, allocation-free parsers the
//! reader uses; they never panic on any input.

#![forbid(unsafe_code)]

mod error;
mod layout;
pub mod parse;
mod reader;
mod stats;

pub use error::{Error, ParseError, ParseErrorKind};
pub use layout::{Hierarchy, Layout, Mount};
pub use parse::{CpuMax, Meminfo, UNLIMITED_ABOVE};
pub use reader::{Cgroups, Config, Controller, Detail, Reader};
pub use stats::{
    CpuField, CpuOrigin, CpuStats, MemoryField, MemoryOrigin, MemoryStats, NS_PER_USER_HZ_TICK,
    NodeStats, PidsStats, Source, Throttling, working_set,
};
