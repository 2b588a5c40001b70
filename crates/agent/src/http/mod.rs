//! The node agent's HTTP server: `workingset agent`.
//!
//! It serves what a kubelet serves to the resource-metrics pipeline —
//! `/stats/summary`, `/metrics/resource`, `/metrics/cadvisor` — plus
//! `/healthz` and the agent's own `/metrics`, from the last two snapshots a
//! housekeeping loop takes every `--housekeeping-interval`. It is read-only
//! by construction: every route is a `GET` that renders an immutable
//! observation, so nothing it serves can change anything on the node.
//!
//! What it is not: the renderers (the wire formats live in
//! [`crate::serve`]), the sampler ([`workingset_sampling::sampler`]), the accept loop and
//! TLS loading (`workingset-httpd`, shared with the metrics server), or the
//! binary's flag parsing. This module owns the housekeeping loop, the
//! routes, bearer-token auth, the agent's own metrics and a clean shutdown.
//!
//! ```text
//!  housekeeping loop ──spawn_blocking──▶ Sampler::sample()
//!        │ Observation{earlier, later}
//!        ▼
//!  ArcSwapOption<Observation> ◀── load ── handlers (never wait on the sampler)
//! ```
//!
//! [`start`] binds, spawns the loop and the accept loop, and returns an
//! [`Agent`] with the bound address (bind `127.0.0.1:0` in tests) and a
//! [`ShutdownHandle`].

mod auth;
mod housekeeping;
mod machine;
mod routes;
mod telemetry;

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use tokio::task::JoinHandle;

use workingset_sampling::sampler::Sampler;

pub use machine::MachineFacts;
/// The serving certificate's files; the type lives with the accept loop in
/// `workingset-httpd`.
pub use workingset_httpd::{TlsError, TlsFiles};
// The housekeeping loop waits on the same shutdown signal as the server.
use workingset_httpd::stopped;

/// How long in-flight requests may run on after shutdown was asked for.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Everything [`start`] needs besides the sampler.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// Time between two housekeeping passes; must be more than zero.
    pub housekeeping_interval: Duration,
    /// The node's name, as served in `/stats/summary` and the metrics.
    pub node_name: String,
    /// Serve HTTPS with this certificate and key instead of plain HTTP.
    pub tls: Option<TlsFiles>,
    /// Require `Authorization: Bearer <token>` with the token in this file on
    /// every route except `/healthz`.
    pub token_file: Option<PathBuf>,
    /// How long in-flight requests may run on after shutdown was asked for.
    pub shutdown_grace: Duration,
    /// Boot time and identifiers, read once at start
    /// ([`MachineFacts::read`]).
    pub machine: MachineFacts,
    /// Which container runtimes to ask for names and labels before each pass.
    pub runtime: crate::runtime::RuntimeConfig,
}

/// Why the agent could not start. Every file error names the file.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The housekeeping interval is zero, which would sample in a busy loop.
    #[error("the housekeeping interval must be more than zero")]
    ZeroInterval,
    /// The token file could not be read.
    #[error("cannot read the token file {path}: {source}")]
    TokenFileRead {
        /// The file as configured.
        path: PathBuf,
        /// What reading it said.
        #[source]
        source: io::Error,
    },
    /// The token file holds no token, or one that cannot travel in an HTTP
    /// header (whitespace inside, control or non-ASCII characters).
    #[error("the token file {path} {problem}")]
    TokenFileInvalid {
        /// The file as configured.
        path: PathBuf,
        /// What is wrong with its content.
        problem: &'static str,
    },
    /// The certificate or key file could not be loaded, or they do not fit.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The listen address could not be bound (in use, not local, no
    /// permission for a port below 1024).
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

/// A running agent.
///
/// Dropping it asks it to stop (without waiting); [`Agent::shutdown`] asks
/// and waits.
#[derive(Debug)]
pub struct Agent {
    local_addr: SocketAddr,
    tls: bool,
    stop_on_drop: StopOnDrop,
    server: JoinHandle<()>,
    housekeeping: JoinHandle<()>,
}

impl Agent {
    /// The address actually bound (the port chosen for `:0`).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Whether it serves HTTPS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// A handle that stops the agent from anywhere (a signal task, a test).
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.stop_on_drop.0.clone()
    }

    /// Waits until the agent has stopped, after someone used a
    /// [`ShutdownHandle`]: the listener is closed, connections are done (or
    /// were cut at the end of the grace period) and the loop has ended.
    pub async fn stopped(self) {
        let Agent {
            stop_on_drop,
            server,
            housekeeping,
            ..
        } = self;
        if let Err(error) = server.await {
            tracing::error!(%error, "The HTTP server task ended abnormally");
        }
        if let Err(error) = housekeeping.await {
            tracing::error!(%error, "The housekeeping task ended abnormally");
        }
        drop(stop_on_drop);
    }

    /// Asks the agent to stop and waits until it has.
    pub async fn shutdown(self) {
        self.stop_on_drop.0.shutdown();
        self.stopped().await;
    }
}

/// Validates the configuration, loads the token and certificate files,
/// binds the listener and starts the housekeeping and accept loops on the
/// current tokio runtime.
///
/// The endpoints answer 503 until the first housekeeping pass completes,
/// which starts at once.
pub async fn start(config: AgentConfig, sampler: Sampler) -> Result<Agent, StartError> {
    if config.housekeeping_interval.is_zero() {
        return Err(StartError::ZeroInterval);
    }
    // Every file is read before binding, so a bad file never leaves a
    // half-started server behind.
    let token = match &config.token_file {
        Some(path) => Some(Arc::new(auth::Token::load(path)?)),
        None => None,
    };
    let acceptor = match &config.tls {
        Some(files) => Some(workingset_httpd::tls_acceptor(files)?),
        None => None,
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
    let observation = Arc::new(ArcSwapOption::empty());
    let telemetry = Arc::new(telemetry::Telemetry::new());

    let housekeeper = housekeeping::Housekeeper {
        sampler: Arc::new(Mutex::new(sampler)),
        interval: config.housekeeping_interval,
        node_name: config.node_name.clone(),
        machine: config.machine.clone(),
        published: Arc::clone(&observation),
        telemetry: Arc::clone(&telemetry),
        latest: None,
        runtime: crate::runtime::RuntimeClients::new(&config.runtime),
        inventory: Arc::new(crate::runtime::Inventory::default()),
    };
    let housekeeping = tokio::spawn(housekeeper.run(receiver.clone()));

    let router = routes::router(routes::AppState {
        observation,
        telemetry,
        token: token.clone(),
        interval: config.housekeeping_interval,
    });
    let tls = acceptor.is_some();
    let server = tokio::spawn(workingset_httpd::serve(
        listener,
        acceptor,
        router,
        receiver,
        config.shutdown_grace,
    ));

    if token.is_none() && !local_addr.ip().is_loopback() {
        tracing::warn!(
            addr = %local_addr,
            "Serving without --token-file on a non-loopback address: anyone who can reach it can read the node's workloads"
        );
    }
    tracing::info!(
        addr = %local_addr,
        tls,
        auth = token.is_some(),
        interval = ?config.housekeeping_interval,
        node = %config.node_name,
        "Listening"
    );
    Ok(Agent {
        local_addr,
        tls,
        stop_on_drop: StopOnDrop(handle),
        server,
        housekeeping,
    })
}
