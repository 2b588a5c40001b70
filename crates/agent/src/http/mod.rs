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
//! [`crate::serve`]), the sampler ([`crate::sampler`]), or the binary's flag
//! parsing. This module owns the loop, the routes, TLS, bearer-token auth,
//! the agent's own metrics and a clean shutdown.
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
mod server;
mod telemetry;
mod tls;

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::sampler::Sampler;

pub use machine::MachineFacts;

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

/// PEM files of the serving certificate.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// Certificate chain, leaf first (PEM `CERTIFICATE` blocks).
    pub cert_file: PathBuf,
    /// The leaf's private key (PEM PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
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
    /// The certificate file could not be read.
    #[error("cannot read the TLS certificate file {path}: {source}")]
    CertFileRead {
        /// The file as configured.
        path: PathBuf,
        /// What reading it said.
        #[source]
        source: io::Error,
    },
    /// The certificate file is not PEM, or holds no `CERTIFICATE` block.
    #[error("the TLS certificate file {path} is not a PEM certificate chain: {problem}")]
    CertFileInvalid {
        /// The file as configured.
        path: PathBuf,
        /// What the PEM parser said.
        problem: String,
    },
    /// The private key file could not be read.
    #[error("cannot read the TLS private key file {path}: {source}")]
    KeyFileRead {
        /// The file as configured.
        path: PathBuf,
        /// What reading it said.
        #[source]
        source: io::Error,
    },
    /// The private key file is not PEM, or holds no private key.
    #[error("the TLS private key file {path} is not a PEM private key: {problem}")]
    KeyFileInvalid {
        /// The file as configured.
        path: PathBuf,
        /// What the PEM parser said.
        problem: String,
    },
    /// rustls rejected the pair: the key does not belong to the certificate,
    /// or its algorithm is not supported.
    #[error(
        "the TLS private key file {key_file} does not fit the certificate file {cert_file}: {source}"
    )]
    TlsConfig {
        /// The certificate file as configured.
        cert_file: PathBuf,
        /// The key file as configured.
        key_file: PathBuf,
        /// What rustls said.
        #[source]
        source: rustls::Error,
    },
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

/// Asks a running agent to stop; cheap to clone, safe to use more than once.
#[derive(Debug, Clone)]
pub struct ShutdownHandle {
    sender: Arc<watch::Sender<bool>>,
}

impl ShutdownHandle {
    /// Stop accepting connections, let in-flight requests finish (within the
    /// grace period) and stop the housekeeping loop. Returns at once; await
    /// [`Agent::stopped`] to know when it is done.
    pub fn shutdown(&self) {
        self.sender.send_replace(true);
    }
}

/// Shuts the agent down when dropped, so a forgotten (or panicking) owner
/// does not leave a server running.
#[derive(Debug)]
struct StopOnDrop(ShutdownHandle);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.shutdown();
    }
}

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
        Some(files) => Some(tls::acceptor(files)?),
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

    let (sender, receiver) = watch::channel(false);
    let handle = ShutdownHandle {
        sender: Arc::new(sender),
    };
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
    let server = tokio::spawn(server::accept_loop(
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

/// Resolves when `shutdown` has been asked for (or every handle is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    // The `Ref` wait_for returns holds the channel's read lock: drop it here,
    // never carry it across another await.
    let _ = shutdown.wait_for(|stop| *stop).await.map(|_| ());
}
