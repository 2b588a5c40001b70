//! The agent's own metrics, served on `/metrics` in OpenMetrics text.
//!
//! These describe the agent (how long passes take, whether they fail, what
//! the HTTP side answers), not the node: the node's figures are on
//! `/metrics/resource` and `/metrics/cadvisor`. Label values come from fixed
//! sets (route names, status codes), never from request paths, so a scanner
//! cannot grow the series count.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Outcome of one housekeeping pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Outcome {
    /// A snapshot was taken and published.
    Success,
    /// The pass failed; the previous observation stays served.
    Error,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Error => "error",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct PassLabels {
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    code: u16,
}

/// Handles to every metric, and the registry that encodes them.
#[derive(Debug)]
pub(crate) struct Telemetry {
    registry: Registry,
    pass_duration: Histogram,
    passes: Family<PassLabels, Counter>,
    cgroups: Gauge,
    workloads: Gauge,
    last_pass: Gauge<f64, AtomicU64>,
    requests: Family<RequestLabels, Counter>,
}

impl Telemetry {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::with_prefix("workingset_agent");
        // 1 ms … ~33 s: a pass over a few containers takes milliseconds, a
        // node with thousands of cgroups seconds.
        let pass_duration = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        registry.register(
            "housekeeping_duration_seconds",
            "Time one housekeeping (sampling) pass took",
            pass_duration.clone(),
        );
        let passes = Family::<PassLabels, Counter>::default();
        registry.register(
            "housekeeping_passes",
            "Housekeeping passes, by outcome",
            passes.clone(),
        );
        // Both series exist from the start, so a rate() over errors is 0,
        // not absent, on a healthy agent.
        for outcome in [Outcome::Success, Outcome::Error] {
            passes
                .get_or_create(&PassLabels {
                    outcome: outcome.as_str(),
                })
                .get();
        }
        let cgroups = Gauge::default();
        registry.register(
            "cgroups_sampled",
            "Cgroups read in the last successful pass (containers, pod cgroups, system containers)",
            cgroups.clone(),
        );
        let workloads = Gauge::default();
        registry.register(
            "workloads",
            "Workloads (pods and pod-like units) found in the last successful pass",
            workloads.clone(),
        );
        let last_pass = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "last_successful_pass_timestamp_seconds",
            "Unix time of the last successful housekeeping pass",
            last_pass.clone(),
        );
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route and status code",
            requests.clone(),
        );
        Self {
            registry,
            pass_duration,
            passes,
            cgroups,
            workloads,
            last_pass,
            requests,
        }
    }

    /// Records one pass; `published` holds the figures of a successful one.
    pub(crate) fn record_pass(
        &self,
        seconds: f64,
        outcome: Outcome,
        published: Option<PassFigures>,
    ) {
        self.pass_duration.observe(seconds);
        self.passes
            .get_or_create(&PassLabels {
                outcome: outcome.as_str(),
            })
            .inc();
        if let Some(figures) = published {
            self.cgroups.set(saturating_i64(figures.cgroups));
            self.workloads.set(saturating_i64(figures.workloads));
            self.last_pass.set(figures.unix_seconds);
        }
    }

    /// Records one answered request.
    pub(crate) fn record_request(&self, route: &'static str, code: u16) {
        self.requests
            .get_or_create(&RequestLabels { route, code })
            .inc();
    }

    /// The OpenMetrics text of every metric.
    pub(crate) fn encode(&self, out: &mut String) -> std::fmt::Result {
        prometheus_client::encoding::text::encode(out, &self.registry)
    }
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

fn saturating_i64(value: usize) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
