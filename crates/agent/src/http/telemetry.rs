//! The agent's own metrics, served on `/metrics` in the Prometheus text
//! format (0.0.4), written by `workingset-expfmt`.
//!
//! These describe the agent (how long passes take, whether they fail, what
//! the HTTP side answers), not the node: the node's figures are on
//! `/metrics/resource` and `/metrics/cadvisor`. Label values come from fixed
//! sets (route names, status codes), never from request paths, so a scanner
//! cannot grow the series count.
//!
//! The same text format as the node endpoints (rather than OpenMetrics from
//! `prometheus-client`) keeps every endpoint of the agent valid for
//! `promtool check metrics` and for any Prometheus-format scraper; the
//! handful of figures needs nothing more than atomics.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::PoisonError;
use std::sync::atomic::{AtomicU64, Ordering};

use workingset_expfmt::{Exposition, MetricType, Sample};

/// Outcome of one housekeeping pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Outcome {
    /// A snapshot was taken and published.
    Success,
    /// The pass failed; the previous observation stays served.
    Error,
}

/// A float kept in an `AtomicU64` as its bits.
#[derive(Debug, Default)]
struct AtomicF64(AtomicU64);

impl AtomicF64 {
    fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }

    fn set(&self, value: f64) {
        self.0.store(value.to_bits(), Ordering::Relaxed);
    }

    fn add(&self, value: f64) {
        // Only the housekeeping task writes; the loop never spins in practice.
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + value).to_bits())
            });
    }
}

/// Every metric of the agent.
#[derive(Debug, Default)]
pub(crate) struct Telemetry {
    /// Duration of the newest pass.
    last_pass_seconds: AtomicF64,
    /// Seconds spent in passes, all together: its rate over the pass
    /// counter's rate is the mean pass duration.
    pass_seconds: AtomicF64,
    passes_success: AtomicU64,
    passes_error: AtomicU64,
    cgroups: AtomicU64,
    workloads: AtomicU64,
    last_pass: AtomicF64,
    /// (route, code) → count; a handful of entries, touched once per request.
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
}

impl Telemetry {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Records one pass; `published` holds the figures of a successful one.
    pub(crate) fn record_pass(
        &self,
        seconds: f64,
        outcome: Outcome,
        published: Option<PassFigures>,
    ) {
        self.last_pass_seconds.set(seconds);
        self.pass_seconds.add(seconds);
        match outcome {
            Outcome::Success => self.passes_success.fetch_add(1, Ordering::Relaxed),
            Outcome::Error => self.passes_error.fetch_add(1, Ordering::Relaxed),
        };
        if let Some(figures) = published {
            self.cgroups
                .store(saturating_u64(figures.cgroups), Ordering::Relaxed);
            self.workloads
                .store(saturating_u64(figures.workloads), Ordering::Relaxed);
            self.last_pass.set(figures.unix_seconds);
        }
    }

    /// Records one answered request.
    pub(crate) fn record_request(&self, route: &'static str, code: u16) {
        let mut requests = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
        *requests.entry((route, code)).or_insert(0) += 1;
    }

    /// The Prometheus text of every metric.
    pub(crate) fn encode(&self, out: &mut String) {
        let mut exposition = Exposition::new();
        gauge(
            &mut exposition,
            "workingset_agent_housekeeping_last_duration_seconds",
            "Time the newest housekeeping (sampling) pass took",
            self.last_pass_seconds.get(),
        );
        exposition
            .family(
                "workingset_agent_housekeeping_seconds_total",
                "Time spent in housekeeping passes; divided by the passes it gives the mean duration",
                MetricType::Counter,
            )
            .push(Sample::new(self.pass_seconds.get()));
        let passes = exposition.family(
            "workingset_agent_housekeeping_passes_total",
            "Housekeeping passes, by outcome",
            MetricType::Counter,
        );
        for (outcome, count) in [
            ("error", &self.passes_error),
            ("success", &self.passes_success),
        ] {
            passes
                .push(Sample::new(count.load(Ordering::Relaxed) as f64).label("outcome", outcome));
        }
        gauge(
            &mut exposition,
            "workingset_agent_cgroups_sampled",
            "Cgroups read in the last successful pass (containers, pod cgroups, system containers)",
            self.cgroups.load(Ordering::Relaxed) as f64,
        );
        gauge(
            &mut exposition,
            "workingset_agent_workloads",
            "Workloads (pods and pod-like units) found in the last successful pass",
            self.workloads.load(Ordering::Relaxed) as f64,
        );
        gauge(
            &mut exposition,
            "workingset_agent_last_successful_pass_timestamp_seconds",
            "Unix time of the last successful housekeeping pass",
            self.last_pass.get(),
        );
        let requests = exposition.family(
            "workingset_agent_http_requests_total",
            "HTTP requests answered, by route and status code",
            MetricType::Counter,
        );
        let counts = self
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for ((route, code), count) in counts {
            requests.push(
                Sample::new(count as f64)
                    .label("code", code.to_string())
                    .label("route", route),
            );
        }
        exposition.render(out);
    }
}

fn gauge(exposition: &mut Exposition, name: &'static str, help: &'static str, value: f64) {
    exposition
        .family(name, help, MetricType::Gauge)
        .push(Sample::new(value));
}

/// What a successful pass found.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PassFigures {
    /// Cgroups read.
    pub(crate) cgroups: usize,
    /// Workloads found.
    pub(crate) workloads: usize,
    /// When the pass ran.
    pub(crate) unix_seconds: f64,
}

fn saturating_u64(value: usize) -> u64 {
    u64::try_from(value).unwrap_or(u64::MAX)
}
