//! The embedded local mode: `workingset top` and `workingset explain` on
//! the machine they run on, with no cluster, no agent and no server.
//!
//! [`top::LocalSource`] answers kubectl's requests from two sampling passes
//! (`workingset-sampling`) as metrics-server and the API server would;
//! [`explain`] gathers one workload's or the node's inputs for
//! `workingset-explain`. Names and labels come from a
//! [`RuntimeNames`] the caller provides (the binary passes the agent's
//! Docker and CRI clients), so this crate has no HTTP, gRPC or async
//! stack of its own.

pub mod explain;
pub mod top;

use std::sync::Arc;
use std::time::Duration;

use workingset_cgroup::Cgroups;
use workingset_explain::ExplainError;
use workingset_sampling::inventory::{Inventory, RuntimeNames};
use workingset_sampling::sampler::{SampleError, Sampler, Snapshot};

pub use top::LocalSource;

/// The machine the local mode reads, and how.
#[derive(Debug, Clone)]
pub struct LocalMachine {
    /// Where the cgroup filesystem, procfs and sysfs are, and the cgroup
    /// that counts as the node.
    pub cgroups: workingset_cgroup::Config,
    /// The node's name as `top node` shows it.
    pub node_name: String,
    /// Time between the two passes that give CPU rates.
    pub window: Duration,
    /// Who names containers and pods (container runtimes, or nobody).
    pub names: Arc<dyn RuntimeNames>,
}

/// Why this machine could not be read. The message carries its cause
/// (no `source`), so an error chain prints it once.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// No cgroup filesystem where the configuration says.
    #[error(
        "cannot find the cgroup filesystem: {0}; check --cgroupfs and --proc (run on Linux with /sys/fs/cgroup mounted)"
    )]
    Cgroups(workingset_cgroup::Error),
    /// A sampling pass failed as a whole.
    #[error("{which} sample failed: {error}")]
    Sample {
        /// `first` or `second`.
        which: &'static str,
        /// Why.
        error: SampleError,
    },
}

impl From<LocalError> for ExplainError {
    fn from(error: LocalError) -> Self {
        ExplainError::failed(error.to_string())
    }
}

/// Opens the cgroup filesystem `config` names (what `agent` and `serve`
/// read too).
pub fn open_cgroups(config: &workingset_cgroup::Config) -> Result<Cgroups, LocalError> {
    Cgroups::open(config.clone()).map_err(LocalError::Cgroups)
}

/// One sampling pass; `which` (`first`, `second`) names it in the error.
fn sample_pass(
    sampler: &mut Sampler,
    inventory: &Inventory,
    which: &'static str,
) -> Result<Snapshot, LocalError> {
    sampler
        .sample_with(inventory)
        .map_err(|error| LocalError::Sample { which, error })
}
