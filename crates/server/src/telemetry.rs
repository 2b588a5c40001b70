//! The server's own figures and health: what `/livez`, `/readyz` and
//! `/metrics` report about the server itself (not about the nodes, whose
//! figures are the Metrics API).
//!
//! The tick loop ([`crate::run`]) reports every tick and every node's
//! scrape; request handlers report every answer; [`Telemetry`] keeps the
//! counts and renders them as Prometheus text 0.0.4 with
//! `workingset-expfmt`, the same format as the agent's own `/metrics`, so
//! `promtool check metrics` and any Prometheus-format scraper accept it.
//!
//! Cardinality is bounded by construction: the `node` label only takes the
//! names of the nodes being scraped (the configured ones in standalone
//! mode; in Kubernetes mode the tick loop drops nodes that left the cluster
//! with [`Telemetry::retain_nodes`]), `outcome` only the `&'static str` outcomes of
//! the client, decoder and inventory errors, `route` only route names and
//! `code` only status codes.
//!
//! Scrape durations are a last-duration gauge plus a seconds counter per
//! node, not a histogram: the writer has no histogram type, and a histogram
//! per node (a dozen buckets each) would multiply the series count by
//! twelve on a large cluster, while `rate(seconds_total) /
//! rate(scrapes_total)` already gives the mean and the gauge shows the
//! slow node of the moment.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use jiff::Timestamp;
use workingset_expfmt::{Exposition, MetricType, Sample};

use crate::api::Health;
use crate::view::Published;

/// The outcome label of a scrape or refresh that worked.
pub const SUCCESS: &str = "success";

/// Every figure of the server, updated by the tick loop and the handlers.
#[derive(Debug)]
pub struct Telemetry {
    resolution: Duration,
    state: Mutex<State>,
}

/// Behind one lock: the tick loop writes a few times per tick and handlers
/// once per request, so contention is negligible and the figures of one
/// tick are always read together.
#[derive(Debug, Default)]
struct State {
    last_tick_started: Option<Timestamp>,
    ticks: u64,
    tick_seconds_total: f64,
    last_tick_seconds: Option<f64>,
    /// The nodes being scraped only; see the module docs.
    nodes: BTreeMap<String, NodeFigures>,
    points: u64,
    containers_without_rate: u64,
    requests: BTreeMap<(&'static str, u16), u64>,
}

#[derive(Debug, Default)]
struct NodeFigures {
    last_scrape_seconds: Option<f64>,
    /// The newest scrape's outcome (what `workingset doctor` reads).
    last_outcome: Option<&'static str>,
    scrape_seconds_total: f64,
    scrapes: BTreeMap<&'static str, u64>,
    inventory_refreshes: BTreeMap<&'static str, u64>,
    capacity_requests: BTreeMap<&'static str, u64>,
    cpu_usage_drops: u64,
}

impl NodeFigures {
    /// Zero series from the start, so `rate()` sees the first success and
    /// dashboards list every node.
    fn zero() -> Self {
        Self {
            scrapes: BTreeMap::from([(SUCCESS, 0)]),
            inventory_refreshes: BTreeMap::from([(SUCCESS, 0)]),
            ..NodeFigures::default()
        }
    }
}

impl Telemetry {
    /// Figures for a server that ticks every `resolution` and scrapes
    /// `nodes` (the only values the `node` label will take).
    pub fn new<I, N>(resolution: Duration, nodes: I) -> Self
    where
        I: IntoIterator<Item = N>,
        N: Into<String>,
    {
        let nodes = nodes
            .into_iter()
            .map(|name| (name.into(), NodeFigures::zero()))
            .collect();
        Self {
            resolution,
            state: Mutex::new(State {
                nodes,
                ..State::default()
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // Every update is a plain store or increment; a panic in between
        // cannot leave the figures inconsistent enough to matter.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A tick started at `at`: what `/livez` checks.
    pub fn tick_started(&self, at: Timestamp) {
        self.state().last_tick_started = Some(at);
    }

    /// A tick (scrapes, store, view, publish) took `duration`.
    pub fn tick_finished(&self, duration: Duration) {
        let seconds = duration.as_secs_f64();
        let mut state = self.state();
        state.ticks += 1;
        state.tick_seconds_total += seconds;
        state.last_tick_seconds = Some(seconds);
    }

    /// One scrape of `node`'s `/metrics/resource` ended with `outcome`
    /// ([`SUCCESS`] or an error's `outcome()`) after `duration`.
    pub fn record_scrape(&self, node: &str, outcome: &'static str, duration: Duration) {
        let seconds = duration.as_secs_f64();
        let mut state = self.state();
        // Looked up before inserting: the name is copied once per node,
        // not once per scrape.
        if !state.nodes.contains_key(node) {
            state.nodes.insert(node.to_owned(), NodeFigures::zero());
        }
        let Some(figures) = state.nodes.get_mut(node) else {
            return;
        };
        {
            figures.last_scrape_seconds = Some(seconds);
            figures.last_outcome = Some(outcome);
            figures.scrape_seconds_total += seconds;
            *figures.scrapes.entry(outcome).or_insert(0) += 1;
        }
    }

    /// One refresh of `node`'s inventory (node object, pods) ended with
    /// `outcome`.
    pub fn record_inventory(&self, node: &str, outcome: &'static str) {
        let mut state = self.state();
        if let Some(figures) = state.nodes.get_mut(node) {
            *figures.inventory_refreshes.entry(outcome).or_insert(0) += 1;
        }
    }

    /// A request for `node`'s capacity (`/metrics/cadvisor`) ended with
    /// `outcome`.
    pub fn record_capacity_request(&self, node: &str, outcome: &'static str) {
        let mut state = self.state();
        if let Some(figures) = state.nodes.get_mut(node) {
            *figures.capacity_requests.entry(outcome).or_insert(0) += 1;
        }
    }

    /// A scrape of `node` had `series` whose CPU counter went backwards
    /// without a restart.
    pub fn record_cpu_usage_drops(&self, node: &str, series: usize) {
        let mut state = self.state();
        if let Some(figures) = state.nodes.get_mut(node) {
            figures.cpu_usage_drops += series as u64;
        }
    }

    /// Forgets the nodes `keep` says no to: they are no longer scraped.
    pub fn retain_nodes(&self, keep: impl Fn(&str) -> bool) {
        self.state().nodes.retain(|name, _| keep(name));
    }

    /// The store holds `points` points now.
    pub fn set_points(&self, points: usize) {
        self.state().points = u64::try_from(points).unwrap_or(u64::MAX);
    }

    /// `count` containers of served pods have no rate this tick (fresh or
    /// restarted containers, served without a CPU figure of their own).
    pub fn containers_without_rate(&self, count: usize) {
        self.state().containers_without_rate = u64::try_from(count).unwrap_or(u64::MAX);
    }

    /// When the newest tick started, if one has.
    pub fn last_tick_started(&self) -> Option<Timestamp> {
        self.state().last_tick_started
    }
}

impl Health for Telemetry {
    /// Fails when the last tick started more than 1.5 × the resolution ago,
    /// as metrics-server's `metric-collection-timely` check does: the loop
    /// is stuck (or the process is starved). Before the first tick it
    /// passes, since the first one starts at once.
    fn live(&self, now: Timestamp) -> Result<(), String> {
        let Some(started) = self.last_tick_started() else {
            return Ok(());
        };
        let allowed = self.resolution.mul_f64(1.5);
        let since = now.duration_since(started);
        let since = Duration::try_from(since).unwrap_or(Duration::ZERO);
        if since > allowed {
            return Err(format!(
                "metric collection didn't finish on time: the last tick started {:.3}s ago, more than {:.3}s (1.5 × the resolution)",
                since.as_secs_f64(),
                allowed.as_secs_f64()
            ));
        }
        Ok(())
    }

    /// Fails until there is something to serve, with metrics-server's
    /// message.
    fn ready(&self, published: &Published) -> Result<(), String> {
        if published.node_metrics.is_empty() && published.pod_metrics.is_empty() {
            return Err("no metrics to serve".to_owned());
        }
        Ok(())
    }

    fn render_metrics(&self, published: &Published, now: Timestamp) -> String {
        let mut exposition = Exposition::new();
        {
            let state = self.state();
            render_state(&state, &mut exposition);
        }
        render_published(published, now, &mut exposition);
        let mut out = String::new();
        exposition.render(&mut out);
        out
    }

    fn record_request(&self, route: &'static str, code: u16) {
        *self.state().requests.entry((route, code)).or_insert(0) += 1;
    }
}

fn render_state(state: &State, exposition: &mut Exposition) {
    if let Some(started) = state.last_tick_started {
        gauge(
            exposition,
            "workingset_server_last_tick_start_timestamp_seconds",
            "Unix time when the newest scrape tick started",
            unix_seconds(started),
        );
    }
    if let Some(seconds) = state.last_tick_seconds {
        gauge(
            exposition,
            "workingset_server_tick_last_duration_seconds",
            "Time the newest tick (scrapes, store, view, publish) took",
            seconds,
        );
    }
    counter(
        exposition,
        "workingset_server_tick_seconds_total",
        "Time spent in ticks; divided by the ticks it gives the mean duration",
        state.tick_seconds_total,
    );
    counter(
        exposition,
        "workingset_server_ticks_total",
        "Scrape ticks finished",
        state.ticks as f64,
    );
    gauge(
        exposition,
        "workingset_server_points_stored",
        "Points (node and container samples) held by the store",
        state.points as f64,
    );
    gauge(
        exposition,
        "workingset_server_containers_without_rate",
        "Containers of served pods that have no CPU rate yet (fresh or restarted)",
        state.containers_without_rate as f64,
    );

    let last = exposition.family(
        "workingset_server_scrape_last_duration_seconds",
        "Time the newest scrape of each node's /metrics/resource took",
        MetricType::Gauge,
    );
    for (node, figures) in &state.nodes {
        if let Some(seconds) = figures.last_scrape_seconds {
            last.push(Sample::new(seconds).label("node", node.as_str()));
        }
    }
    let total = exposition.family(
        "workingset_server_scrape_seconds_total",
        "Time spent scraping each node; divided by its scrapes it gives the mean duration",
        MetricType::Counter,
    );
    for (node, figures) in &state.nodes {
        total.push(Sample::new(figures.scrape_seconds_total).label("node", node.as_str()));
    }
    per_node_outcome(
        exposition,
        &state.nodes,
        "workingset_server_scrapes_total",
        "Scrapes of each node's /metrics/resource, by outcome",
        |figures| &figures.scrapes,
    );
    let last_outcome = exposition.family(
        "workingset_server_scrape_last_outcome",
        "1 for the outcome of the newest scrape of each node (success, timeout, tls, address, ...)",
        MetricType::Gauge,
    );
    for (node, figures) in &state.nodes {
        if let Some(outcome) = figures.last_outcome {
            last_outcome.push(
                Sample::new(1.0)
                    .label("node", node.as_str())
                    .label("outcome", outcome),
            );
        }
    }
    per_node_outcome(
        exposition,
        &state.nodes,
        "workingset_server_inventory_refreshes_total",
        "Refreshes of each node's inventory (node object and pods), by outcome",
        |figures| &figures.inventory_refreshes,
    );
    per_node_outcome(
        exposition,
        &state.nodes,
        "workingset_server_capacity_requests_total",
        "Requests for each node's capacity (/metrics/cadvisor, standalone mode), by outcome: success, missing (no machine_cpu_cores and machine_memory_bytes), parse_error, or the request's failure",
        |figures| &figures.capacity_requests,
    );
    let drops = exposition.family(
        "workingset_server_cpu_usage_drops_total",
        "Series of each node (the node's, its containers') whose cumulative CPU went down between two scrapes without a restart; no rate is taken across such a drop",
        MetricType::Counter,
    );
    for (node, figures) in &state.nodes {
        drops.push(Sample::new(figures.cpu_usage_drops as f64).label("node", node.as_str()));
    }
    let requests = exposition.family(
        "workingset_server_http_requests_total",
        "HTTP requests answered, by route and status code",
        MetricType::Counter,
    );
    for ((route, code), count) in &state.requests {
        requests.push(
            Sample::new(*count as f64)
                .label("code", code.to_string())
                .label("route", *route),
        );
    }
}

/// Figures of what is being served: how much, and how old.
fn render_published(published: &Published, now: Timestamp, exposition: &mut Exposition) {
    gauge(
        exposition,
        "workingset_server_served_nodes",
        "Nodes with metrics in the served snapshot",
        published.node_metrics.len() as f64,
    );
    gauge(
        exposition,
        "workingset_server_served_pods",
        "Pods with metrics in the served snapshot",
        published.pod_metrics.len() as f64,
    );
    let timestamps = published
        .node_metrics
        .iter()
        .map(|node| node.timestamp)
        .chain(published.pod_metrics.iter().map(|pod| pod.timestamp));
    let (oldest, newest) = timestamps.fold((None, None), |(oldest, newest), t| {
        (
            Some(oldest.map_or(t, |o: Timestamp| o.min(t))),
            Some(newest.map_or(t, |n: Timestamp| n.max(t))),
        )
    });
    // Absent before anything is served: an age of nothing is not zero.
    if let (Some(oldest), Some(newest)) = (oldest, newest) {
        gauge(
            exposition,
            "workingset_server_served_oldest_sample_age_seconds",
            "Age of the oldest sample timestamp served (a node or pod whose figures are stale)",
            age_seconds(now, oldest),
        );
        gauge(
            exposition,
            "workingset_server_served_newest_sample_age_seconds",
            "Age of the newest sample timestamp served",
            age_seconds(now, newest),
        );
    }
}

fn gauge(exposition: &mut Exposition, name: &'static str, help: &'static str, value: f64) {
    exposition
        .family(name, help, MetricType::Gauge)
        .push(Sample::new(value));
}

fn counter(exposition: &mut Exposition, name: &'static str, help: &'static str, value: f64) {
    exposition
        .family(name, help, MetricType::Counter)
        .push(Sample::new(value));
}

/// A counter per node and outcome, from the counts `of` each node keeps.
fn per_node_outcome(
    exposition: &mut Exposition,
    nodes: &BTreeMap<String, NodeFigures>,
    name: &'static str,
    help: &'static str,
    of: impl Fn(&NodeFigures) -> &BTreeMap<&'static str, u64>,
) {
    let family = exposition.family(name, help, MetricType::Counter);
    for (node, figures) in nodes {
        for (outcome, count) in of(figures) {
            family.push(
                Sample::new(*count as f64)
                    .label("node", node.as_str())
                    .label("outcome", *outcome),
            );
        }
    }
}

fn unix_seconds(at: Timestamp) -> f64 {
    at.as_millisecond() as f64 / 1000.0
}

/// Seconds from `then` to `now`; never negative (a sample stamped by a
/// node whose clock runs ahead is "just now", not in the future).
fn age_seconds(now: Timestamp, then: Timestamp) -> f64 {
    (now.as_millisecond().saturating_sub(then.as_millisecond()) as f64 / 1000.0).max(0.0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::process::Command;
    use std::sync::Arc;

    use workingset_model::metrics::{Node, ObjectMeta, Pod};

    use super::*;
    use crate::view::{NodeMetricsItem, PodContainers, PodMetricsItem};

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(seconds).unwrap()
    }

    fn node_metrics(name: &str, timestamp: Timestamp) -> NodeMetricsItem {
        NodeMetricsItem {
            node: Arc::new(Node {
                metadata: ObjectMeta {
                    name: name.to_owned(),
                    ..ObjectMeta::default()
                },
                ..Node::default()
            }),
            timestamp,
            window: Duration::from_secs(15),
            nanocores: 0,
            bytes: 0,
        }
    }

    fn pod_metrics(name: &str, timestamp: Timestamp) -> PodMetricsItem {
        PodMetricsItem {
            pod: Arc::new(Pod {
                metadata: ObjectMeta {
                    name: name.to_owned(),
                    namespace: "default".to_owned(),
                    ..ObjectMeta::default()
                },
                ..Pod::default()
            }),
            timestamp,
            window: Duration::from_secs(15),
            containers: PodContainers::new(),
        }
    }

    #[test]
    fn live_until_the_last_tick_is_older_than_one_and_a_half_resolutions() {
        let telemetry = Telemetry::new(Duration::from_secs(10), ["n1"]);
        // No tick yet: the first one starts at once, so this is not stuck.
        assert_eq!(telemetry.live(at(1_000)), Ok(()));
        telemetry.tick_started(at(1_000));
        assert_eq!(telemetry.live(at(1_015)), Ok(()));
        let error = telemetry.live(at(1_016)).unwrap_err();
        assert!(
            error.starts_with("metric collection didn't finish on time"),
            "{error}"
        );
        assert!(error.contains("16.000s ago, more than 15.000s"), "{error}");
        // A clock that went backwards is not a stuck loop.
        assert_eq!(telemetry.live(at(900)), Ok(()));
        telemetry.tick_started(at(1_016));
        assert_eq!(telemetry.live(at(1_016)), Ok(()));
    }

    #[test]
    fn ready_once_anything_is_served() {
        let telemetry = Telemetry::new(Duration::from_secs(15), ["n1"]);
        let mut published = Published::empty(at(1_000));
        assert_eq!(
            telemetry.ready(&published),
            Err("no metrics to serve".to_owned())
        );
        published.pod_metrics.push(pod_metrics("p", at(990)));
        assert_eq!(telemetry.ready(&published), Ok(()));
        published.pod_metrics.clear();
        published.node_metrics.push(node_metrics("n1", at(990)));
        assert_eq!(telemetry.ready(&published), Ok(()));
    }

    fn figures_after_some_ticks() -> (Telemetry, Published) {
        let telemetry = Telemetry::new(Duration::from_secs(15), ["n1", "n2"]);
        telemetry.tick_started(at(1_700_000_000));
        telemetry.record_scrape("n1", SUCCESS, Duration::from_millis(120));
        telemetry.record_scrape("n1", SUCCESS, Duration::from_millis(80));
        telemetry.record_scrape("n2", "timeout", Duration::from_secs(10));
        // A node that left the fleet: the tick loop drops it, and it is
        // no label value any more.
        telemetry.record_scrape("intruder", SUCCESS, Duration::from_millis(1));
        telemetry.record_inventory("n2", "connect");
        telemetry.record_inventory("intruder", "connect");
        telemetry.record_cpu_usage_drops("n1", 2);
        telemetry.record_capacity_request("n1", "too_large");
        telemetry.record_capacity_request("n1", SUCCESS);
        telemetry.record_cpu_usage_drops("n1", 1);
        telemetry.retain_nodes(|node| node != "intruder");
        telemetry.tick_finished(Duration::from_millis(250));
        telemetry.tick_finished(Duration::from_millis(750));
        telemetry.set_points(42);
        telemetry.containers_without_rate(3);
        telemetry.record_request("nodes", 200);
        telemetry.record_request("nodes", 200);
        telemetry.record_request("node", 404);
        let mut published = Published::empty(at(1_700_000_010));
        published
            .node_metrics
            .push(node_metrics("n1", at(1_700_000_005)));
        published
            .pod_metrics
            .push(pod_metrics("a", at(1_699_999_990)));
        (telemetry, published)
    }

    #[test]
    fn metrics_carry_every_figure_with_bounded_labels() {
        let (telemetry, published) = figures_after_some_ticks();
        let text = telemetry.render_metrics(&published, at(1_700_000_010));
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        for expected in [
            "workingset_server_scrapes_total{node=\"n1\",outcome=\"success\"} 2",
            "workingset_server_scrapes_total{node=\"n2\",outcome=\"success\"} 0",
            "workingset_server_scrapes_total{node=\"n2\",outcome=\"timeout\"} 1",
            "workingset_server_scrape_last_outcome{node=\"n1\",outcome=\"success\"} 1",
            "workingset_server_scrape_last_outcome{node=\"n2\",outcome=\"timeout\"} 1",
            "workingset_server_scrape_last_duration_seconds{node=\"n1\"} 0.08",
            "workingset_server_scrape_last_duration_seconds{node=\"n2\"} 10",
            "workingset_server_scrape_seconds_total{node=\"n1\"} 0.2",
            "workingset_server_inventory_refreshes_total{node=\"n2\",outcome=\"connect\"} 1",
            "workingset_server_cpu_usage_drops_total{node=\"n1\"} 3",
            "workingset_server_capacity_requests_total{node=\"n1\",outcome=\"success\"} 1",
            "workingset_server_capacity_requests_total{node=\"n1\",outcome=\"too_large\"} 1",
            "workingset_server_cpu_usage_drops_total{node=\"n2\"} 0",
            "workingset_server_ticks_total 2",
            "workingset_server_tick_seconds_total 1",
            "workingset_server_tick_last_duration_seconds 0.75",
            "workingset_server_last_tick_start_timestamp_seconds 1.7e+09",
            "workingset_server_points_stored 42",
            "workingset_server_containers_without_rate 3",
            "workingset_server_http_requests_total{code=\"200\",route=\"nodes\"} 2",
            "workingset_server_http_requests_total{code=\"404\",route=\"node\"} 1",
            "workingset_server_served_nodes 1",
            "workingset_server_served_pods 1",
            "workingset_server_served_oldest_sample_age_seconds 20",
            "workingset_server_served_newest_sample_age_seconds 5",
        ] {
            assert!(lines.contains(&expected), "no {expected:?} in:\n{text}");
        }
        assert!(!text.contains("intruder"), "{text}");
    }

    #[test]
    fn nothing_served_has_no_age() {
        let telemetry = Telemetry::new(Duration::from_secs(15), ["n1"]);
        let text = telemetry.render_metrics(&Published::empty(at(1_000)), at(1_000));
        assert!(!text.contains("sample_age_seconds"), "{text}");
        assert!(!text.contains("tick_last_duration"), "{text}");
        assert!(text.contains("workingset_server_served_nodes 0"), "{text}");
    }

    /// promtool exits 1 for text it cannot parse and 3 for lint findings
    /// (naming conventions); both are failures here.
    #[test]
    fn promtool_accepts_the_metrics() {
        if std::env::var_os("WORKINGSET_SKIP_PROMTOOL").is_some() {
            return;
        }
        let (telemetry, published) = figures_after_some_ticks();
        let text = telemetry.render_metrics(&published, at(1_700_000_010));
        let output = workingset_testkit::process::run(
            Command::new("promtool").args(["check", "metrics"]),
            Some(text.as_bytes()),
            Duration::from_secs(30),
        )
        .unwrap_or_else(|e| {
            panic!("promtool (Debian package prometheus) is needed: {e}; set WORKINGSET_SKIP_PROMTOOL=1 to skip")
        });
        assert!(
            output.status.success(),
            "promtool check metrics ({:?}):\n{}{}\n{text}",
            output.status.code(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
