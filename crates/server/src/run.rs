//! The server's lifetime: [`start`] validates the configuration, binds,
//! and spawns the tick loop and the accept loop; [`Server`] stops both.
//!
//! ```text
//!  every resolution:  tick ──▶ per node, staggered, concurrently:
//!                              GET /metrics/resource ─▶ decode ─┐ (one deadline,
//!                              then, if stale, inventory::refresh ┤  a late task is
//!                                                               ▼  aborted)
//!                     store.record_samples / record_failure, as each node ends
//!                                                               ▼
//!                                                          view::Listing::publish
//!                                                               │
//!  ArcSwap<Published> ◀──────────────────── store ──────────────┘
//!        ▲
//!        └── load ── api handlers (never wait for a tick)
//! ```
//!
//! # Timing
//!
//! The first tick starts at once, then one every resolution (a tick that is
//! late — a starved process — skips to the next slot rather than bursting).
//! A tick never outlasts the resolution: every node's requests end within
//! `resolution − reserve` (its timeout is `min(scrape_timeout, what is left)`),
//! where the reserve (a tenth of the resolution, at most 1 s) is kept for
//! the store and the view. Results are joined against a deadline halfway
//! into the reserve; a task still running then (a node that ignores its
//! timeout) is aborted and counted as a `timeout`, so one node can never
//! delay or corrupt the others.
//!
//! Nodes start at a deterministic offset each, spread evenly over
//! `min(8 ms × nodes, 4 s, a quarter of the tick)`. metrics-server uses a
//! random delay over the same span; an even spread avoids clumps, makes logs
//! and tests reproducible, and — since each node is scraped at the same
//! phase every tick — keeps the window between a node's two points close to
//! the resolution instead of jittering by up to the spread.
//!
//! # Failures
//!
//! A failed scrape is recorded with the store, which keeps serving the
//! node's last figures within its grace ([`store::SERVE_GRACE_RESOLUTIONS`]);
//! a failed inventory refresh keeps the previous inventory for the same
//! grace. A node's first failure is logged at warn and its recovery at
//! info; repeated failures only at debug, so a dead node does not flood the
//! log every tick.
//!
//! # Memory
//!
//! Bounded by the nodes of the current tick (the configured ones, or in
//! Kubernetes mode the watched ones): the store keeps at most two points
//! per series and forgets pods a node no longer reports; inventories,
//! per-node state and telemetry drop nodes that leave.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use jiff::Timestamp;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Instant, MissedTickBehavior};
use workingset_httpd::stopped;
/// The serving certificate's files and their errors; the types live with
/// the accept loop in `workingset-httpd`.
pub use workingset_httpd::{TlsError, TlsFiles};

use crate::api::{self, ApiState, Health};
use crate::cluster::{Fleet, FleetSnapshot};
use crate::decode::ScrapedSamples;
use crate::inventory::{self, NodeInventory};
use crate::secure::Guard;
use crate::store::{self, Store};
use crate::target::NodeSpec;
use crate::telemetry::{SUCCESS, Telemetry};
use crate::view::{self, Published};
use workingset_httpd::secure::SecureTls;
use workingset_kubeclient::kubelet::{ClientError, ClientOptions, ScrapeClient};
use workingset_model::metrics::Pod;

/// metrics-server's `--metric-resolution` as its manifests set it.
pub const DEFAULT_RESOLUTION: Duration = Duration::from_secs(15);
/// metrics-server's `--kubelet-request-timeout` default.
pub const DEFAULT_SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long in-flight requests may run on after shutdown was asked for.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Stagger per node and its cap, as metrics-server's scraper.
const STAGGER_PER_NODE: Duration = Duration::from_millis(8);
const MAX_STAGGER: Duration = Duration::from_secs(4);
/// The part of each tick kept for the store and the view: a tenth of the
/// resolution, at most this.
const MAX_RESERVE: Duration = Duration::from_secs(1);

/// Everything [`start`] needs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// Serve HTTPS with this certificate and key instead of plain HTTP.
    pub tls: Option<TlsFiles>,
    /// Kubernetes mode's secure port: HTTPS only (reloaded certificate,
    /// versions, suites, client certificates) and every request
    /// authenticated and authorized. Takes precedence over `tls`.
    pub secure: Option<SecurePort>,
    /// Time between two ticks (`--metric-resolution`); more than zero.
    pub resolution: Duration,
    /// Longest time one node's requests may take (`--kubelet-request-timeout`);
    /// more than zero. Capped by what is left of the tick.
    pub scrape_timeout: Duration,
    /// The nodes to scrape (standalone mode); at least one unless `fleet`
    /// is given, names unique.
    pub nodes: Vec<NodeSpec>,
    /// Kubernetes mode: the nodes and pods watched from the API server,
    /// scraped instead of `nodes` and joined instead of each node's `/pods`.
    pub fleet: Option<Arc<Fleet>>,
    /// How to reach them (TLS, token, size cap).
    pub client: ClientOptions,
    /// Also answer the read-only core requests kubectl makes
    /// (`/api/v1/nodes`, `/api/v1/namespaces/{ns}/pods`): standalone mode,
    /// with no Kubernetes API server in front.
    pub core_api: bool,
    /// How long in-flight requests may run on after shutdown was asked for.
    pub shutdown_grace: Duration,
}

impl ServerConfig {
    /// A plain-HTTP standalone server on `listen` for `nodes`, with
    /// metrics-server's defaults for everything else.
    pub fn new(listen: SocketAddr, nodes: Vec<NodeSpec>) -> Self {
        Self {
            listen,
            tls: None,
            secure: None,
            resolution: DEFAULT_RESOLUTION,
            scrape_timeout: DEFAULT_SCRAPE_TIMEOUT,
            nodes,
            fleet: None,
            client: ClientOptions::default(),
            core_api: true,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
        }
    }
}

/// The secure port of Kubernetes mode.
#[derive(Debug, Clone)]
pub struct SecurePort {
    /// Serving certificate and TLS settings.
    pub tls: SecureTls,
    /// Authentication and authorization of every request.
    pub guard: Arc<Guard>,
}

/// Why the server could not start. File errors name the file.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The resolution is zero, which would scrape in a busy loop.
    #[error("the metric resolution must be more than zero")]
    ZeroResolution,
    /// The scrape timeout is zero: every scrape would fail.
    #[error("the kubelet request timeout must be more than zero")]
    ZeroScrapeTimeout,
    /// There is nothing to scrape.
    #[error("no nodes to scrape")]
    NoNodes,
    /// Two nodes have the same name; their figures would overwrite each
    /// other.
    #[error("the node {name:?} is configured twice ({first} and {second})")]
    DuplicateNode {
        /// The name given twice.
        name: String,
        /// The first node's URL.
        first: String,
        /// The second node's URL.
        second: String,
    },
    /// The scrape client could not be built (a CA or token file).
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The serving certificate or key could not be loaded.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address as configured.
        addr: SocketAddr,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
}

pub use workingset_httpd::ShutdownHandle;
use workingset_httpd::StopOnDrop;

/// A running server.
///
/// Dropping it asks it to stop (without waiting); [`Server::shutdown`] asks
/// and waits.
#[derive(Debug)]
pub struct Server {
    local_addr: SocketAddr,
    tls: bool,
    stop_on_drop: StopOnDrop,
    http: JoinHandle<()>,
    ticks: JoinHandle<()>,
}

impl Server {
    /// The address actually bound (the port chosen for `:0`).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Whether it serves HTTPS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// A handle that stops the server from anywhere (a signal task, a test).
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.stop_on_drop.0.clone()
    }

    /// Waits until the server has stopped, after someone used a
    /// [`ShutdownHandle`]: the listener is closed, connections are done (or
    /// were cut at the end of the grace period) and the tick loop has ended.
    pub async fn stopped(self) {
        let Server {
            stop_on_drop,
            http,
            ticks,
            ..
        } = self;
        if let Err(error) = http.await {
            tracing::error!(%error, "The HTTP server task ended abnormally");
        }
        if let Err(error) = ticks.await {
            tracing::error!(%error, "The tick loop ended abnormally");
        }
        drop(stop_on_drop);
    }

    /// Asks the server to stop and waits until it has.
    pub async fn shutdown(self) {
        self.stop_on_drop.0.shutdown();
        self.stopped().await;
    }
}

/// Validates the configuration, builds the scrape client, loads the
/// certificate, binds the listener and starts the tick and accept loops on
/// the current tokio runtime.
///
/// The Metrics API is empty (and `/readyz` fails) until two ticks have given
/// rates; the first tick starts at once.
pub async fn start(config: ServerConfig) -> Result<Server, StartError> {
    validate(&config)?;
    // Every file is read before binding, so a bad file never leaves a
    // half-started server behind.
    let client = ScrapeClient::new(&config.client)?;
    let acceptor = match (&config.secure, &config.tls) {
        (Some(secure), _) => Some(workingset_httpd::secure::secure_acceptor(&secure.tls)?),
        (None, Some(files)) => Some(workingset_httpd::tls_acceptor(files)?),
        (None, None) => None,
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
    let local_addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: config.listen,
        source,
    })?;

    let (handle, receiver) = ShutdownHandle::new();
    let published = Arc::new(ArcSwap::from_pointee(Published::empty(Timestamp::now())));
    let telemetry = Arc::new(Telemetry::new(
        config.resolution,
        config.nodes.iter().map(|node| node.name.clone()),
    ));

    let node_count = config.nodes.len();
    let proxy = config.core_api.then(|| {
        api::proxy::NodeProxy::new(
            client.clone(),
            &config.nodes,
            config.scrape_timeout,
            crate::inventory::CADVISOR_MAX_BODY_BYTES,
        )
    });
    let tick_loop = TickLoop::new(
        &config,
        client,
        Arc::clone(&published),
        Arc::clone(&telemetry),
    );
    let ticks = tokio::spawn(tick_loop.run(receiver.clone()));

    let health: Arc<dyn Health> = telemetry;
    let mut router = api::router(ApiState {
        published,
        health,
        core_api: config.core_api,
        proxy,
    });
    if let Some(secure) = &config.secure {
        router = router.layer(axum::middleware::from_fn_with_state(
            Arc::clone(&secure.guard),
            crate::secure::guard,
        ));
    }
    let tls = acceptor.is_some();
    let http = tokio::spawn(workingset_httpd::serve(
        listener,
        acceptor,
        router,
        receiver,
        config.shutdown_grace,
    ));

    tracing::info!(
        addr = %local_addr,
        tls,
        nodes = node_count,
        resolution = ?config.resolution,
        "Listening"
    );
    Ok(Server {
        local_addr,
        tls,
        stop_on_drop: StopOnDrop(handle),
        http,
        ticks,
    })
}

fn validate(config: &ServerConfig) -> Result<(), StartError> {
    if config.resolution.is_zero() {
        return Err(StartError::ZeroResolution);
    }
    if config.scrape_timeout.is_zero() {
        return Err(StartError::ZeroScrapeTimeout);
    }
    if config.nodes.is_empty() && config.fleet.is_none() {
        return Err(StartError::NoNodes);
    }
    let mut seen: HashMap<&str, &str> = HashMap::new();
    for node in &config.nodes {
        if let Some(first) = seen.insert(&node.name, &node.url) {
            return Err(StartError::DuplicateNode {
                name: node.name.clone(),
                first: first.to_owned(),
                second: node.url.clone(),
            });
        }
    }
    Ok(())
}

/// The part of a tick the nodes' requests may use, and the join deadline
/// (halfway into the reserve), both from the tick's start.
fn tick_budget(resolution: Duration) -> (Duration, Duration) {
    let reserve = (resolution / 10).min(MAX_RESERVE);
    (resolution - reserve, resolution - reserve / 2)
}

/// When node `index` of `count` starts within a tick whose requests may
/// use `budget`.
fn stagger_offset(index: usize, count: usize, budget: Duration) -> Duration {
    let count_u32 = u32::try_from(count).unwrap_or(u32::MAX).max(1);
    let spread = STAGGER_PER_NODE
        .saturating_mul(count_u32)
        .min(MAX_STAGGER)
        .min(budget / 4);
    let index_u32 = u32::try_from(index).unwrap_or(u32::MAX);
    spread.mul_f64(f64::from(index_u32) / f64::from(count_u32))
}

/// A failure of one request, as a metric label and a message for the log.
#[derive(Debug, Clone)]
struct Failure {
    outcome: &'static str,
    message: String,
}

impl Failure {
    fn new(outcome: &'static str, error: impl std::fmt::Display) -> Self {
        Self {
            outcome,
            message: error.to_string(),
        }
    }
}

/// One node to scrape this tick.
#[derive(Debug)]
struct Target {
    spec: Arc<NodeSpec>,
    /// The full URL of its resource metrics.
    resource_url: String,
    /// Standalone mode: refresh its inventory from the node itself. In
    /// Kubernetes mode the API server's objects are the inventory.
    refresh_inventory: bool,
}

impl Target {
    fn standalone(spec: &NodeSpec) -> Arc<Self> {
        Arc::new(Self {
            resource_url: format!("{}/metrics/resource", spec.url),
            spec: Arc::new(spec.clone()),
            refresh_inventory: true,
        })
    }
}

/// What one node's task brought back.
#[derive(Debug)]
struct NodeScrape {
    target: Arc<Target>,
    /// The decoded batch and when its response arrived.
    resource: Result<(ScrapedSamples, Timestamp), Failure>,
    resource_duration: Duration,
    /// `None` when the inventory is not the node's to give (Kubernetes
    /// mode) or did not need a refresh this tick.
    inventory: Option<Result<NodeInventory, Failure>>,
    /// How asking for the node's capacity went, when it was asked.
    capacity: Option<&'static str>,
}

impl NodeScrape {
    /// A node whose task did not bring anything back (aborted at the
    /// deadline, or panicked).
    fn lost(target: Arc<Target>, outcome: &'static str, message: &str, duration: Duration) -> Self {
        let inventory = target
            .refresh_inventory
            .then(|| Err(Failure::new(outcome, message)));
        Self {
            target,
            resource: Err(Failure::new(outcome, message)),
            resource_duration: duration,
            inventory,
            capacity: None,
        }
    }
}

/// What the loop remembers about a node between ticks, besides the store.
#[derive(Debug, Default)]
struct NodeState {
    /// The last scrape failed (and that was logged at warn).
    scrape_failing: bool,
    /// The last inventory refresh failed (and that was logged at warn).
    inventory_failing: bool,
    /// When the inventory was last refreshed successfully.
    inventory_refreshed: Option<Timestamp>,
    /// The last scrape had CPU counters that went backwards (and that was
    /// logged at warn).
    counters_going_backwards: bool,
}

/// The tick loop's state; owned by its task.
#[derive(Debug)]
struct TickLoop {
    /// Standalone mode's nodes, fixed for the server's life.
    static_targets: Vec<Arc<Target>>,
    /// Kubernetes mode's watched nodes and pods.
    fleet: Option<Arc<Fleet>>,
    client: ScrapeClient,
    resolution: Duration,
    scrape_timeout: Duration,
    store: Store,
    inventories: BTreeMap<String, NodeInventory>,
    /// Kubernetes mode: the running pods of the newest snapshot.
    cluster_pods: Vec<Arc<Pod>>,
    /// Per node being scraped, by name.
    states: HashMap<String, NodeState>,
    published: Arc<ArcSwap<Published>>,
    telemetry: Arc<Telemetry>,
    /// Ticks started so far; spreads the periodic inventory refreshes.
    ticks: u64,
    /// The listed pods in serving order, sorted again only when they change.
    listing: view::Listing,
}

impl TickLoop {
    fn new(
        config: &ServerConfig,
        client: ScrapeClient,
        published: Arc<ArcSwap<Published>>,
        telemetry: Arc<Telemetry>,
    ) -> Self {
        Self {
            static_targets: config.nodes.iter().map(Target::standalone).collect(),
            fleet: config.fleet.clone(),
            client,
            resolution: config.resolution,
            scrape_timeout: config.scrape_timeout,
            store: Store::new(config.resolution),
            inventories: BTreeMap::new(),
            cluster_pods: Vec::new(),
            states: HashMap::new(),
            published,
            telemetry,
            ticks: 0,
            listing: view::Listing::default(),
        }
    }

    /// Ticks until `shutdown` is asked for; a tick in progress is abandoned
    /// (its requests aborted) rather than waited for. In Kubernetes mode
    /// the first tick waits for the first list of nodes and pods, as
    /// metrics-server waits for its informers.
    async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        if let Some(fleet) = self.fleet.clone() {
            tracing::info!("Waiting for the API server's nodes and pods");
            tokio::select! {
                biased;
                () = stopped(&mut shutdown) => return,
                () = fleet.wait_synced() => {}
            }
            tracing::info!("Nodes and pods listed");
        }
        let mut ticker = tokio::time::interval(self.resolution);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                biased;
                () = stopped(&mut shutdown) => break,
                _ = ticker.tick() => {}
            }
            // Cancelling a tick (at shutdown) is safe: each node's results
            // are recorded whole between two awaits, and nothing is served
            // after the loop ends.
            tokio::select! {
                biased;
                () = stopped(&mut shutdown) => break,
                () = self.tick() => {}
            }
        }
        tracing::debug!("Tick loop stopped");
    }

    /// This tick's targets. In Kubernetes mode also takes the pods and
    /// node objects of the newest snapshot, and reports the nodes that
    /// cannot be scraped.
    fn targets(&mut self, now: Timestamp) -> (Vec<Arc<Target>>, Option<FleetSnapshot>) {
        let Some(fleet) = &self.fleet else {
            return (self.static_targets.clone(), None);
        };
        let snapshot = fleet.snapshot();
        let targets = snapshot
            .targets
            .iter()
            .map(|target| {
                Arc::new(Target {
                    resource_url: format!("{}{}", target.spec.url, target.resource_path),
                    spec: Arc::new(target.spec.clone()),
                    refresh_inventory: false,
                })
            })
            .collect();
        for unreachable in &snapshot.unreachable {
            let node = unreachable.name.as_str();
            self.store.record_failure(node, now);
            self.telemetry
                .record_scrape(node, ADDRESS_OUTCOME, Duration::ZERO);
            let state = self.states.entry(unreachable.name.clone()).or_default();
            if std::mem::replace(&mut state.scrape_failing, true) {
                tracing::debug!(node, reason = %unreachable.reason, "Node still unreachable");
            } else {
                tracing::warn!(node, outcome = ADDRESS_OUTCOME, error = %unreachable.reason, "Node cannot be scraped");
            }
        }
        (targets, Some(snapshot))
    }

    async fn tick(&mut self) {
        let started = Instant::now();
        self.ticks = self.ticks.wrapping_add(1);
        self.telemetry.tick_started(Timestamp::now());
        let (targets, snapshot) = self.targets(Timestamp::now());
        self.scrape_all(&targets, started).await;
        let now = Timestamp::now();
        // Memory stays tied to this tick's nodes: a node that left the
        // cluster (or the selector) leaves the store, the inventories, the
        // per-node state and the telemetry. An unreachable node stays, so
        // its last figures are served within the store's grace.
        let mut current: HashSet<String> = targets.iter().map(|t| t.spec.name.clone()).collect();
        if let Some(snapshot) = snapshot {
            current.extend(snapshot.unreachable.into_iter().map(|u| u.name));
            // The API server's objects are the inventory, whole each tick.
            let mut inventories: BTreeMap<String, NodeInventory> = snapshot
                .targets
                .into_iter()
                .map(|target| {
                    let inventory = NodeInventory {
                        node: Arc::new(target.node),
                        pods: Vec::new(),
                    };
                    (target.spec.name, inventory)
                })
                .collect();
            // An unreachable node keeps its last object within the grace.
            for name in &current {
                if !inventories.contains_key(name)
                    && let Some(previous) = self.inventories.remove(name)
                {
                    inventories.insert(name.clone(), previous);
                }
            }
            self.inventories = inventories;
            self.cluster_pods = snapshot.pods;
        }
        self.store.retain_nodes(|name| current.contains(name));
        self.inventories
            .retain(|name, _| current.contains(name.as_str()));
        self.states
            .retain(|name, _| current.contains(name.as_str()));
        self.telemetry.retain_nodes(|name| current.contains(name));

        if self.listing.update(&self.inventories, &self.cluster_pods) {
            tracing::debug!("Listed pods changed; sorted again");
        }
        let published = self.listing.publish(&self.store, &self.inventories, now);
        let without_rate = published.containers_without_rate;
        let (nodes_served, pods_served) =
            (published.node_metrics.len(), published.pod_metrics.len());
        self.published.store(Arc::new(published));
        let points = self.store.points();
        self.telemetry.set_points(points);
        self.telemetry.containers_without_rate(without_rate);
        let took = started.elapsed();
        self.telemetry.tick_finished(took);
        tracing::debug!(
            seconds = took.as_secs_f64(),
            nodes = nodes_served,
            pods = pods_served,
            points,
            "Tick done"
        );
    }

    /// Scrapes every target concurrently, each at its stagger offset, and
    /// records each node's results as they come back, until the join
    /// deadline. Recording at once (rather than after the last node) keeps
    /// only the scrapes in flight in memory, not every node's decoded body.
    async fn scrape_all(&mut self, targets: &[Arc<Target>], started: Instant) {
        let (budget, join_after) = tick_budget(self.resolution);
        let deadline = started + budget;
        let count = targets.len();
        // Dropping the set (shutdown mid-tick) aborts every task in it.
        let mut tasks = JoinSet::new();
        let mut pending: HashMap<tokio::task::Id, Arc<Target>> = HashMap::with_capacity(count);
        for (index, target) in targets.iter().enumerate() {
            let inventory = if target.refresh_inventory {
                // Nodes take turns, so the periodic refreshes are spread
                // evenly over the ticks rather than all in one.
                let periodic = (self.ticks + index as u64).is_multiple_of(INVENTORY_REFRESH_TICKS);
                InventoryPlan::Standalone {
                    previous: self.inventories.get(&target.spec.name).cloned(),
                    periodic,
                }
            } else {
                InventoryPlan::FromApiServer
            };
            let task = scrape_node(
                self.client.clone(),
                Arc::clone(target),
                inventory,
                started + stagger_offset(index, count, budget),
                deadline,
                self.scrape_timeout,
            );
            let abort = tasks.spawn(task);
            pending.insert(abort.id(), Arc::clone(target));
        }

        let join_deadline = started + join_after;
        loop {
            match tokio::time::timeout_at(join_deadline, tasks.join_next_with_id()).await {
                Ok(None) => break,
                Ok(Some(Ok((id, scrape)))) => {
                    pending.remove(&id);
                    self.apply(scrape, Timestamp::now());
                }
                Ok(Some(Err(error))) => {
                    if let Some(target) = pending.remove(&error.id()) {
                        tracing::error!(node = %target.spec.name, %error, "A scrape task failed");
                        let lost = NodeScrape::lost(
                            target,
                            "task_failed",
                            "the scrape task failed",
                            started.elapsed(),
                        );
                        self.apply(lost, Timestamp::now());
                    }
                }
                Err(_elapsed) => {
                    tasks.abort_all();
                    break;
                }
            }
        }
        for target in pending.into_values() {
            let lost = NodeScrape::lost(
                target,
                "timeout",
                "still running at the end of the tick; aborted",
                started.elapsed(),
            );
            self.apply(lost, Timestamp::now());
        }
    }

    /// Records one node's results with the store, the inventories, the
    /// telemetry and the log.
    fn apply(&mut self, scrape: NodeScrape, now: Timestamp) {
        let NodeScrape {
            target,
            resource,
            resource_duration,
            inventory,
            capacity,
        } = scrape;
        let spec = &target.spec;
        if !self.states.contains_key(&spec.name) {
            self.states.insert(spec.name.clone(), NodeState::default());
        }
        let Some(state) = self.states.get_mut(&spec.name) else {
            return;
        };
        let node = spec.name.as_str();
        let seconds = resource_duration.as_secs_f64();
        match resource {
            Ok((scraped, received_at)) => {
                let recorded = self
                    .store
                    .record_samples(node, &scraped.samples(), received_at);
                self.telemetry
                    .record_scrape(node, SUCCESS, resource_duration);
                let drops = recorded.cpu_usage_drops;
                if drops > 0 {
                    self.telemetry.record_cpu_usage_drops(node, drops);
                    if std::mem::replace(&mut state.counters_going_backwards, true) {
                        tracing::debug!(node, series = drops, "CPU counters went backwards again");
                    } else {
                        tracing::warn!(
                            node,
                            series = drops,
                            "CPU counters went backwards without a restart: no CPU rate across the drop for these series (is the node's kubelet or runtime resetting its counters?)"
                        );
                    }
                } else if std::mem::take(&mut state.counters_going_backwards) {
                    tracing::info!(node, "CPU counters move forward again");
                }
                // The pod count is only worked out when the line is logged.
                if std::mem::take(&mut state.scrape_failing) {
                    tracing::info!(
                        node,
                        seconds,
                        pods = scraped.pod_count(),
                        "Node scrape recovered"
                    );
                } else {
                    tracing::debug!(node, seconds, pods = scraped.pod_count(), "Node scraped");
                }
            }
            Err(failure) => {
                self.store.record_failure(node, now);
                self.telemetry
                    .record_scrape(node, failure.outcome, resource_duration);
                if std::mem::replace(&mut state.scrape_failing, true) {
                    tracing::debug!(node, outcome = failure.outcome, error = %failure.message, "Node scrape failed again");
                } else {
                    tracing::warn!(
                        node,
                        url = %target.resource_url,
                        outcome = failure.outcome,
                        error = %failure.message,
                        seconds,
                        "Node scrape failed"
                    );
                }
            }
        }
        if let Some(outcome) = capacity {
            self.telemetry.record_capacity_request(node, outcome);
        }
        match inventory {
            None => {}
            Some(Ok(inventory)) => {
                match self.inventories.get_mut(node) {
                    // The same pods as before keep their objects, so the
                    // published list does not have to be sorted again.
                    Some(current) if current.pods == inventory.pods => {
                        if current.node != inventory.node {
                            current.node = inventory.node;
                        }
                    }
                    _ => {
                        self.inventories.insert(spec.name.clone(), inventory);
                    }
                }
                state.inventory_refreshed = Some(now);
                self.telemetry.record_inventory(node, SUCCESS);
                if std::mem::take(&mut state.inventory_failing) {
                    tracing::info!(node, "Node inventory refresh recovered");
                }
            }
            Some(Err(failure)) => {
                self.telemetry.record_inventory(node, failure.outcome);
                let grace = self
                    .resolution
                    .saturating_mul(store::SERVE_GRACE_RESOLUTIONS);
                let within_grace = state.inventory_refreshed.is_some_and(|at| {
                    Duration::try_from(now.duration_since(at)).unwrap_or(Duration::ZERO) <= grace
                });
                if !within_grace {
                    self.inventories.remove(node);
                }
                if std::mem::replace(&mut state.inventory_failing, true) {
                    tracing::debug!(node, outcome = failure.outcome, error = %failure.message, kept = within_grace, "Node inventory refresh failed again");
                } else {
                    tracing::warn!(
                        node,
                        url = %spec.url,
                        outcome = failure.outcome,
                        error = %failure.message,
                        kept = within_grace,
                        "Node inventory refresh failed"
                    );
                }
            }
        }
    }
}

/// The outcome label of a node that has no address of a preferred type.
pub const ADDRESS_OUTCOME: &str = "address";

/// How often, in ticks, a standalone node's inventory is refreshed even
/// when its pods did not change: label changes and pods that ended show up
/// within this many resolutions (5 minutes at the default 15 s).
pub const INVENTORY_REFRESH_TICKS: u64 = 20;

/// Where one node's inventory comes from this tick.
#[derive(Debug)]
enum InventoryPlan {
    /// Kubernetes mode: the API server's objects; nothing to fetch.
    FromApiServer,
    /// Standalone: the node's own `/pods`, fetched when needed.
    Standalone {
        /// The node's current inventory, if any.
        previous: Option<NodeInventory>,
        /// This is the node's turn for the periodic refresh.
        periodic: bool,
    },
}

/// Whether a standalone node's pod list must be fetched again: there is
/// none yet, it is the node's periodic turn, the scrape failed (so a node
/// that is gone loses its inventory after the grace, as its figures), or
/// the scrape reports a pod the inventory does not list (a new pod: the
/// common change, and the one without which its metrics cannot be
/// served).
fn inventory_is_stale<'a>(
    previous: Option<&NodeInventory>,
    periodic: bool,
    scraped: Option<impl IntoIterator<Item = (&'a str, &'a str)>>,
) -> bool {
    let (Some(previous), Some(scraped)) = (previous, scraped) else {
        return true;
    };
    if periodic {
        return true;
    }
    // Both sides are sorted by namespace and name: one merge pass.
    let mut listed = previous
        .pods
        .iter()
        .map(|pod| (pod.metadata.namespace.as_str(), pod.metadata.name.as_str()))
        .peekable();
    scraped.into_iter().any(|wanted| {
        while listed.next_if(|listed| *listed < wanted).is_some() {}
        listed.peek() != Some(&wanted)
    })
}

/// One node's work for one tick: wait for its offset, fetch its resource
/// metrics, then (standalone) refresh its inventory if the scrape shows it
/// is stale, each within `min(scrape_timeout, what is left until
/// deadline)`.
///
/// The inventory waits for the scrape because the scrape says whether it
/// is needed: in a steady cluster a node's pods rarely change, and a pod
/// list costs as much to fetch and parse as the metrics themselves. One
/// request at a time also keeps one connection per node.
async fn scrape_node(
    client: ScrapeClient,
    target: Arc<Target>,
    inventory: InventoryPlan,
    start_at: Instant,
    deadline: Instant,
    scrape_timeout: Duration,
) -> NodeScrape {
    tokio::time::sleep_until(start_at).await;
    // Boxed only now: a tick holds a task per node from its start, most of
    // them waiting for their offset, and each then costs this small
    // future rather than the whole scrape's state (6 KiB per node).
    Box::pin(scrape_node_now(
        client,
        target,
        inventory,
        deadline,
        scrape_timeout,
    ))
    .await
}

/// [`scrape_node`] once its offset has come.
async fn scrape_node_now(
    client: ScrapeClient,
    target: Arc<Target>,
    inventory: InventoryPlan,
    deadline: Instant,
    scrape_timeout: Duration,
) -> NodeScrape {
    // Each request may take the scrape timeout, and neither outlasts the
    // tick: a node whose metrics hang still gets its pod list read.
    let timeout = || scrape_timeout.min(deadline.saturating_duration_since(Instant::now()));
    let spec = &target.spec;
    let started = Instant::now();
    let resource = match client.get(&target.resource_url, timeout()).await {
        Ok(body) => {
            let received_at = Timestamp::now();
            ScrapedSamples::decode(body, &spec.name, received_at)
                .map(|scraped| (scraped, received_at))
                .map_err(|error| Failure::new(error.outcome(), error))
        }
        Err(error) => Err(Failure::new(error.outcome(), error)),
    };
    let resource_duration = started.elapsed();
    let mut capacity = None;
    let inventory = match inventory {
        InventoryPlan::FromApiServer => None,
        InventoryPlan::Standalone { previous, periodic } => {
            let scraped = resource.as_ref().ok().map(|(scraped, _)| scraped.pods());
            if inventory_is_stale(previous.as_ref(), periodic, scraped) {
                // An unknown capacity is asked for with the first inventory
                // and on the node's periodic turn.
                let capacity_due = previous.is_none() || periodic;
                let refreshed =
                    inventory::refresh(&client, spec, previous.as_ref(), timeout(), capacity_due)
                        .await;
                capacity = refreshed.as_ref().ok().and_then(|r| r.capacity);
                Some(
                    refreshed
                        .map(|r| r.inventory)
                        .map_err(|error| Failure::new(error.outcome(), error)),
                )
            } else {
                None
            }
        }
    };
    NodeScrape {
        target,
        resource,
        resource_duration,
        inventory,
        capacity,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn spec(name: &str, url: &str) -> NodeSpec {
        NodeSpec {
            name: name.to_owned(),
            url: url.to_owned(),
            labels: BTreeMap::new(),
        }
    }

    fn config(nodes: Vec<NodeSpec>) -> ServerConfig {
        ServerConfig::new("127.0.0.1:0".parse().unwrap(), nodes)
    }

    #[test]
    fn the_configuration_is_checked_before_anything_starts() {
        let one = vec![spec("a", "http://127.0.0.1:1")];
        assert!(validate(&config(one.clone())).is_ok());
        assert!(matches!(
            validate(&config(Vec::new())),
            Err(StartError::NoNodes)
        ));
        let mut zero = config(one.clone());
        zero.resolution = Duration::ZERO;
        assert!(matches!(validate(&zero), Err(StartError::ZeroResolution)));
        let mut zero = config(one);
        zero.scrape_timeout = Duration::ZERO;
        assert!(matches!(
            validate(&zero),
            Err(StartError::ZeroScrapeTimeout)
        ));
        let twice = config(vec![
            spec("a", "http://127.0.0.1:1"),
            spec("b", "http://127.0.0.1:2"),
            spec("a", "http://127.0.0.1:3"),
        ]);
        let error = validate(&twice).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the node \"a\" is configured twice (http://127.0.0.1:1 and http://127.0.0.1:3)"
        );
    }

    #[test]
    fn a_node_inventory_is_refreshed_only_when_stale() {
        use workingset_model::metrics::{ObjectMeta, Pod};
        let pod = |namespace: &str, name: &str| {
            Arc::new(Pod {
                metadata: ObjectMeta {
                    name: name.to_owned(),
                    namespace: namespace.to_owned(),
                    ..ObjectMeta::default()
                },
                ..Pod::default()
            })
        };
        let inventory = NodeInventory {
            node: Arc::default(),
            // Listed but not scraped (pending, or no metrics yet): fine.
            pods: vec![pod("a", "x"), pod("b", "pending"), pod("b", "y")],
        };
        let same = [("a", "x"), ("b", "y")];
        let none: [(&str, &str); 0] = [];
        assert!(!inventory_is_stale(Some(&inventory), false, Some(same)));
        assert!(!inventory_is_stale(Some(&inventory), false, Some(none)));
        assert!(
            inventory_is_stale(Some(&inventory), true, Some(same)),
            "periodic"
        );
        assert!(inventory_is_stale(None, false, Some(same)), "none yet");
        assert!(
            inventory_is_stale(Some(&inventory), false, None::<[(&str, &str); 0]>),
            "scrape failed"
        );
        for new in [("a", "w"), ("a", "z"), ("c", "a"), ("0", "0")] {
            let mut pods = vec![("a", "x"), ("b", "y"), new];
            pods.sort();
            assert!(
                inventory_is_stale(Some(&inventory), false, Some(pods)),
                "new pod {new:?}"
            );
        }
    }

    #[test]
    fn a_tick_keeps_a_reserve_for_the_store() {
        // A tenth of the resolution, joined halfway into it...
        assert_eq!(
            tick_budget(Duration::from_secs(1)),
            (Duration::from_millis(900), Duration::from_millis(950))
        );
        // ... at most a second.
        assert_eq!(
            tick_budget(Duration::from_secs(15)),
            (Duration::from_secs(14), Duration::from_millis(14_500))
        );
    }

    #[test]
    fn nodes_are_spread_evenly_within_bounds() {
        let budget = Duration::from_secs(14);
        // Three nodes: 24 ms spread, 8 ms apart.
        let offsets: Vec<_> = (0..3).map(|i| stagger_offset(i, 3, budget)).collect();
        assert_eq!(
            offsets,
            [
                Duration::ZERO,
                Duration::from_millis(8),
                Duration::from_millis(16)
            ]
        );
        // Many nodes: never more than 4 s...
        let long = Duration::from_secs(59);
        assert!(stagger_offset(4_999, 5_000, long) < MAX_STAGGER);
        assert!(stagger_offset(4_999, 5_000, long) > Duration::from_millis(3_990));
        // ... nor more than a quarter of the tick (15 s resolution).
        assert!(stagger_offset(4_999, 5_000, budget) < Duration::from_millis(3_500));
        assert!(stagger_offset(4_999, 5_000, budget) > Duration::from_millis(3_490));
        // A short tick: never more than a quarter of it.
        let short = Duration::from_millis(900);
        assert!(stagger_offset(999, 1_000, short) < short / 4);
        // One node starts at once.
        assert_eq!(stagger_offset(0, 1, budget), Duration::ZERO);
    }
}
