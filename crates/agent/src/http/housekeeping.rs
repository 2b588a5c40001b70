//! The housekeeping loop: one sampling pass every interval, the last two
//! snapshots published for the handlers.
//!
//! A pass reads hundreds of files, so it runs on tokio's blocking pool and
//! never on a worker thread that serves requests. Handlers read the published
//! [`Observation`] through an `ArcSwapOption` and never wait for a pass. A
//! failed pass is logged and counted and the previous observation stays
//! served: one unreadable moment on a busy node should not blank the
//! endpoints.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};

use super::MachineFacts;
use super::telemetry::{Outcome, PassFigures, Telemetry};
use crate::runtime::{Inventory, RuntimeClients};
use crate::serve::Observation;
use workingset_sampling::sampler::{SampleError, Sampler, Snapshot};

/// Owns the sampler and the newest snapshot.
#[derive(Debug)]
pub(crate) struct Housekeeper {
    /// Behind a mutex only so that the blocking pass can borrow it; the lock
    /// is taken on the blocking thread and never held across an await. A pass
    /// that panicked leaves it poisoned, which is harmless (the sampler keeps
    /// no state a half-finished pass could corrupt), so poison is ignored.
    pub(crate) sampler: Arc<Mutex<Sampler>>,
    pub(crate) interval: Duration,
    pub(crate) node_name: String,
    pub(crate) machine: MachineFacts,
    pub(crate) published: Arc<ArcSwapOption<Observation>>,
    pub(crate) telemetry: Arc<Telemetry>,
    /// The newest observation; the next snapshot and its newer one make the
    /// next observation, so exactly the last two snapshots are kept.
    pub(crate) latest: Option<Arc<Observation>>,
    /// The container runtimes asked before each pass.
    pub(crate) runtime: RuntimeClients,
    /// What they said last; kept when a runtime does not answer, so names
    /// do not flap back to ids for one pass.
    pub(crate) inventory: Arc<Inventory>,
}

/// Why a pass produced no snapshot.
#[derive(Debug, thiserror::Error)]
enum PassError {
    /// The sampler could not read the node.
    #[error(transparent)]
    Sample(#[from] SampleError),
    /// The blocking task panicked (or the runtime is shutting down).
    #[error("the sampling task did not complete: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl Housekeeper {
    /// Runs passes until `shutdown` is asked for. The first pass starts at
    /// once; a pass that overruns the interval delays the next one rather
    /// than starting passes back to back.
    pub(crate) async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = super::stopped(&mut shutdown) => break,
                _ = ticker.tick() => {}
            }
            // A pass in progress is not waited for at shutdown: its blocking
            // task finishes on its own and its result is dropped.
            tokio::select! {
                biased;
                () = super::stopped(&mut shutdown) => break,
                () = self.pass() => {}
            }
        }
        tracing::debug!("Housekeeping stopped");
    }

    async fn pass(&mut self) {
        self.fetch_runtime_inventory().await;
        let started = Instant::now();
        let result = self.sample().await;
        let seconds = started.elapsed().as_secs_f64();
        match result {
            Ok(snapshot) => {
                let figures = figures(&snapshot);
                let snapshot = Arc::new(snapshot);
                let observation = Arc::new(match &self.latest {
                    Some(latest) => latest.next(snapshot),
                    None => {
                        let mut first = Observation::first(self.node_name.clone(), snapshot);
                        first.boot_time = self.machine.boot_time;
                        first.machine = self.machine.identity.clone();
                        first
                    }
                });
                self.published.store(Some(Arc::clone(&observation)));
                self.latest = Some(observation);
                self.telemetry
                    .record_pass(seconds, Outcome::Success, Some(figures));
                tracing::debug!(
                    seconds,
                    workloads = figures.workloads,
                    cgroups = figures.cgroups,
                    "Housekeeping pass done"
                );
            }
            Err(error) => {
                self.telemetry.record_pass(seconds, Outcome::Error, None);
                tracing::warn!(
                    %error,
                    seconds,
                    serving_previous = self.latest.is_some(),
                    "Housekeeping pass failed"
                );
            }
        }
    }

    /// Asks the container runtimes for names and labels before a pass, on
    /// the async side, so a slow runtime socket never holds a blocking
    /// thread and the sampler gets the answer as plain data. A runtime that
    /// answers nothing leaves the previous names in place.
    async fn fetch_runtime_inventory(&mut self) {
        let inventory = self.runtime.inventory().await;
        if !inventory.containers.is_empty() || self.inventory.containers.is_empty() {
            self.inventory = Arc::new(inventory);
        }
    }

    /// One sampling pass on the blocking pool.
    async fn sample(&self) -> Result<Snapshot, PassError> {
        let sampler = Arc::clone(&self.sampler);
        let inventory = Arc::clone(&self.inventory);
        let snapshot = tokio::task::spawn_blocking(move || {
            let mut sampler = sampler.lock().unwrap_or_else(PoisonError::into_inner);
            sampler.sample_with(&inventory)
        })
        .await??;
        Ok(snapshot)
    }
}

/// What the agent's own metrics report about a pass.
fn figures(snapshot: &Snapshot) -> PassFigures {
    let in_pods: usize = snapshot
        .pods
        .iter()
        .map(|pod| pod.containers.len() + usize::from(pod.pod_cgroup.is_some()))
        .sum();
    let system = &snapshot.system;
    let system = [&system.pods, &system.kubelet, &system.runtime]
        .iter()
        .filter(|c| c.is_some())
        .count();
    PassFigures {
        // The cgroup root itself is read for the node's figures.
        cgroups: 1 + in_pods + system,
        workloads: snapshot.pods.len(),
        // Milliseconds fit an f64 exactly for the next 280,000 years.
        unix_seconds: snapshot.time.0.as_millisecond() as f64 / 1000.0,
    }
}
