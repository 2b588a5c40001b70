//! Names and labels from the container runtimes, layered on the path-based
//! discovery.
//!
//! Discovery finds workloads from cgroup paths alone and names them by id
//! (see `docs/naming.md`). This module asks the runtimes that own those
//! cgroups what the ids are: the Docker Engine API ([`docker`]) for plain
//! Docker containers and for cri-dockerd pods, and the CRI ([`cri`]) for
//! containerd and CRI-O. The answer is one [`Inventory`] per sampling pass:
//! containers by full id (the cgroup's id), pods by UID (the pod cgroup's
//! UID), each with names, image, labels and start time, sandboxes flagged.
//!
//! Runtime metadata only ever *names* what discovery found; it never decides
//! which cgroups are workloads. So [`RuntimeClients::inventory`] never fails:
//! a socket that does not exist is the normal case on a machine without that
//! runtime (logged once), and a runtime that errors or hangs is logged
//! (rate-limited) and contributes nothing to that pass.

pub mod cri;
pub mod cri_api;
pub mod docker;
pub mod labels;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

pub use cri::CriClient;
pub use docker::DockerClient;
pub use workingset_sampling::inventory::{ContainerInfo, Inventory, PodInfo, PodRef, RuntimeKind};

/// Where dockerd listens unless told otherwise.
pub const DEFAULT_DOCKER_SOCKET: &str = "/var/run/docker.sock";
/// containerd's CRI endpoint (the CRI plugin serves on the main socket).
pub const DEFAULT_CONTAINERD_SOCKET: &str = "/run/containerd/containerd.sock";
/// CRI-O's endpoint.
pub const DEFAULT_CRIO_SOCKET: &str = "/var/run/crio/crio.sock";
/// Default limit for one call to a runtime. The runtimes answer list calls
/// in milliseconds; a runtime that takes longer is stuck, and a sampling
/// pass should not wait for it.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// How often an erroring runtime is reported at `warn`; the failures in
/// between are counted and reported with the next warning.
const WARN_EVERY: Duration = Duration::from_secs(300);

/// Failures talking to a runtime. [`RuntimeClients::inventory`] logs them;
/// the per-runtime clients return them.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The socket exists but could not be connected to (runtime not
    /// listening, permission denied).
    #[error("cannot connect to {}: {source}", socket.display())]
    Connect {
        /// The runtime's socket.
        socket: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A call did not finish within the configured timeout.
    #[error("{call} on {} did not answer within {timeout:?}", socket.display())]
    Timeout {
        /// The runtime's socket.
        socket: PathBuf,
        /// Which call.
        call: &'static str,
        /// The limit that ran out.
        timeout: Duration,
    },
    /// HTTP failure talking to dockerd (handshake, request, connection).
    #[error("{call}: HTTP error: {source}")]
    Http {
        /// Which call.
        call: &'static str,
        /// Why.
        #[source]
        source: hyper::Error,
    },
    /// A request to dockerd could not be built (a path that is not a
    /// valid URI).
    #[error("{call}: invalid request: {source}")]
    Request {
        /// Which call.
        call: &'static str,
        /// Why.
        #[source]
        source: hyper::http::Error,
    },
    /// dockerd answered with a status other than success.
    #[error("{call}: dockerd answered {status}: {message}")]
    Status {
        /// Which call.
        call: &'static str,
        /// HTTP status code.
        status: u16,
        /// dockerd's error message (its `message` field, or the start of
        /// the body).
        message: String,
    },
    /// The response was larger than the cap for that call.
    #[error("{call}: response larger than {limit} bytes")]
    TooLarge {
        /// Which call.
        call: &'static str,
        /// The cap in bytes.
        limit: usize,
    },
    /// The response body could not be read.
    #[error("{call}: reading the response: {source}")]
    Body {
        /// Which call.
        call: &'static str,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// dockerd's JSON did not have the expected shape.
    #[error("{call}: unexpected JSON: {source}")]
    Json {
        /// Which call.
        call: &'static str,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// The gRPC channel to a CRI socket could not be set up.
    #[error("CRI connection to {}: {source}", socket.display())]
    Transport {
        /// The runtime's socket.
        socket: PathBuf,
        /// Why.
        #[source]
        source: tonic::transport::Error,
    },
    /// A CRI call failed with a gRPC status (boxed: the status is large).
    #[error("{call}: {source}")]
    Grpc {
        /// Which call.
        call: &'static str,
        /// The gRPC status.
        #[source]
        source: Box<tonic::Status>,
    },
}

/// Which runtimes to ask. Socket flags (`--docker-socket`, `--cri-socket`)
/// map onto this; [`socket_flag`] turns a flag's text into a socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// dockerd's API socket; `None` = do not ask Docker.
    pub docker_socket: Option<PathBuf>,
    /// A CRI socket (containerd, CRI-O, cri-dockerd); `None` = no CRI.
    pub cri_socket: Option<PathBuf>,
    /// Limit for each call to a runtime.
    pub timeout: Duration,
}

impl Default for RuntimeConfig {
    /// Docker's and containerd's default sockets, [`DEFAULT_TIMEOUT`].
    fn default() -> Self {
        Self {
            docker_socket: Some(PathBuf::from(DEFAULT_DOCKER_SOCKET)),
            cri_socket: Some(PathBuf::from(DEFAULT_CONTAINERD_SOCKET)),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl RuntimeConfig {
    /// No runtime at all: every workload is named from its cgroup path.
    pub fn disabled() -> Self {
        Self {
            docker_socket: None,
            cri_socket: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// A socket flag's value: empty means off. A `unix://` prefix (how
/// kubelet's `--container-runtime-endpoint` spells it) is accepted.
pub fn socket_flag(value: &str) -> Option<PathBuf> {
    let value = value.trim();
    let path = value.strip_prefix("unix://").unwrap_or(value);
    (!path.is_empty()).then(|| PathBuf::from(path))
}

/// The runtimes asked from synchronous code (local `top` and `explain`):
/// each ask runs [`RuntimeClients::inventory`] on a current-thread tokio
/// runtime of its own, so the caller needs no async stack.
#[derive(Debug, Clone)]
pub struct BlockingRuntimeNames {
    config: RuntimeConfig,
}

impl BlockingRuntimeNames {
    /// Asks the runtimes `config` names.
    pub fn new(config: RuntimeConfig) -> Self {
        Self { config }
    }
}

impl workingset_sampling::inventory::RuntimeNames for BlockingRuntimeNames {
    fn inventory(&self) -> Inventory {
        if self.config.docker_socket.is_none() && self.config.cri_socket.is_none() {
            return Inventory::default();
        }
        match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime.block_on(RuntimeClients::new(&self.config).inventory()),
            Err(error) => {
                warn!(%error, "Cannot start the async runtime that asks the container runtimes; naming workloads from their cgroup paths");
                Inventory::default()
            }
        }
    }
}

/// The runtime clients of one agent; ask [`inventory`](Self::inventory)
/// once per sampling pass.
#[derive(Debug)]
pub struct RuntimeClients {
    docker: Option<Source<DockerClient>>,
    cri: Option<Source<CriClient>>,
}

impl RuntimeClients {
    /// Clients for the configured sockets. Nothing is connected yet.
    pub fn new(config: &RuntimeConfig) -> Self {
        Self {
            docker: config
                .docker_socket
                .as_ref()
                .map(|s| Source::new(DockerClient::new(s.clone(), config.timeout))),
            cri: config
                .cri_socket
                .as_ref()
                .map(|s| Source::new(CriClient::new(s.clone(), config.timeout))),
        }
    }

    /// What the runtimes know now. Never fails: a runtime that is absent or
    /// errors contributes nothing (see the module docs). Where Docker and a
    /// CRI runtime both report an id (cri-dockerd in front of dockerd), the
    /// CRI's view wins.
    pub async fn inventory(&self) -> Inventory {
        let docker = async {
            match &self.docker {
                Some(source) => source.ask(|c| c.inventory()).await,
                None => None,
            }
        };
        let cri = async {
            match &self.cri {
                Some(source) => source.ask(|c| c.inventory()).await,
                None => None,
            }
        };
        let (docker, cri) = tokio::join!(docker, cri);
        let mut inventory = docker.unwrap_or_default();
        if let Some(cri) = cri {
            inventory.merge(cri);
        }
        debug!(
            containers = inventory.containers.len(),
            pods = inventory.pods.len(),
            "Runtime inventory"
        );
        inventory
    }
}

/// What the logging around one runtime client needs to know.
trait Client {
    /// The socket it talks to.
    fn socket(&self) -> &Path;
    /// Human name for logs (`Docker`, `CRI`).
    fn label(&self) -> &'static str;
    /// What is lost without it, for the one-time log line.
    fn without(&self) -> &'static str;
}

impl Client for DockerClient {
    fn socket(&self) -> &Path {
        DockerClient::socket(self)
    }
    fn label(&self) -> &'static str {
        "Docker"
    }
    fn without(&self) -> &'static str {
        "containers are named by id"
    }
}

impl Client for CriClient {
    fn socket(&self) -> &Path {
        CriClient::socket(self)
    }
    fn label(&self) -> &'static str {
        "CRI"
    }
    fn without(&self) -> &'static str {
        "pods are named by UID"
    }
}

/// One runtime client with its log state: absence is logged once, errors at
/// most every [`WARN_EVERY`], recovery once.
#[derive(Debug)]
struct Source<C> {
    client: C,
    absence_logged: AtomicBool,
    failing: AtomicBool,
    last_warning: Mutex<Option<Instant>>,
    suppressed: AtomicU64,
}

impl<C: Client> Source<C> {
    fn new(client: C) -> Self {
        Self {
            client,
            absence_logged: AtomicBool::new(false),
            failing: AtomicBool::new(false),
            last_warning: Mutex::new(None),
            suppressed: AtomicU64::new(0),
        }
    }

    async fn ask<'a, F, Fut>(&'a self, call: F) -> Option<Inventory>
    where
        F: FnOnce(&'a C) -> Fut,
        Fut: Future<Output = Result<Inventory, RuntimeError>>,
    {
        let socket = self.client.socket();
        // A runtime that is not installed is the normal case, not an error.
        match tokio::fs::symlink_metadata(socket).await {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !self.absence_logged.swap(true, Ordering::Relaxed) {
                    info!(
                        socket = %socket.display(),
                        runtime = self.client.label(),
                        "No {} socket; {}",
                        self.client.label(),
                        self.client.without()
                    );
                }
                return None;
            }
            _ => {}
        }
        match call(&self.client).await {
            Ok(inventory) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    info!(
                        socket = %socket.display(),
                        runtime = self.client.label(),
                        "Runtime answers again"
                    );
                }
                Some(inventory)
            }
            Err(error) => {
                self.failing.store(true, Ordering::Relaxed);
                self.report(&error);
                None
            }
        }
    }

    fn report(&self, error: &RuntimeError) {
        let now = Instant::now();
        let mut last = self
            .last_warning
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let due = last.is_none_or(|at| now.duration_since(at) >= WARN_EVERY);
        if due {
            *last = Some(now);
            let suppressed = self.suppressed.swap(0, Ordering::Relaxed);
            warn!(
                socket = %self.client.socket().display(),
                runtime = self.client.label(),
                %error,
                suppressed,
                "Runtime metadata unavailable"
            );
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            debug!(
                socket = %self.client.socket().display(),
                runtime = self.client.label(),
                %error,
                "Runtime metadata unavailable"
            );
        }
    }
}

/// Nanoseconds since the epoch as the CRI sends them; 0 (unset) is `None`.
fn timestamp_from_nanos(nanos: i64) -> Option<jiff::Timestamp> {
    if nanos <= 0 {
        return None;
    }
    jiff::Timestamp::from_nanosecond(i128::from(nanos)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn socket_flags() {
        assert_eq!(socket_flag(""), None);
        assert_eq!(socket_flag("  "), None);
        assert_eq!(
            socket_flag("unix:///run/containerd/containerd.sock"),
            Some(PathBuf::from("/run/containerd/containerd.sock"))
        );
        assert_eq!(
            socket_flag("/var/run/docker.sock"),
            Some(PathBuf::from("/var/run/docker.sock"))
        );
    }

    #[test]
    fn cri_runtime_names() {
        assert_eq!(
            RuntimeKind::from_cri_name("containerd"),
            RuntimeKind::Containerd
        );
        assert_eq!(RuntimeKind::from_cri_name("cri-o"), RuntimeKind::CriO);
        assert_eq!(RuntimeKind::from_cri_name("docker"), RuntimeKind::Docker);
        assert_eq!(RuntimeKind::from_cri_name("kata"), RuntimeKind::Cri);
    }

    #[test]
    fn cri_timestamps() {
        assert_eq!(timestamp_from_nanos(0), None);
        assert_eq!(
            timestamp_from_nanos(1_700_000_000_123_456_789).map(|t| t.to_string()),
            Some("2023-11-14T22:13:20.123456789Z".to_owned())
        );
    }

    fn pod(uid: &str, created: i64, sandbox: &str) -> PodInfo {
        PodInfo {
            uid: uid.to_owned(),
            name: "p".to_owned(),
            namespace: "ns".to_owned(),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            created_at: timestamp_from_nanos(created),
            sandbox_id: sandbox.to_owned(),
            runtime: RuntimeKind::Docker,
        }
    }

    #[test]
    fn newer_sandbox_wins() {
        let mut inv = Inventory::default();
        inv.add_pod(pod("u", 2_000, "new"));
        inv.add_pod(pod("u", 1_000, "old"));
        assert_eq!(inv.pods["u"].sandbox_id, "new");
        inv.add_pod(pod("u", 3_000, "newest"));
        assert_eq!(inv.pods["u"].sandbox_id, "newest");
    }

    #[tokio::test]
    async fn missing_sockets_give_an_empty_inventory() {
        let dir = tempfile::tempdir().unwrap();
        let clients = RuntimeClients::new(&RuntimeConfig {
            docker_socket: Some(dir.path().join("docker.sock")),
            cri_socket: Some(dir.path().join("containerd.sock")),
            timeout: Duration::from_secs(1),
        });
        assert_eq!(clients.inventory().await, Inventory::default());
        // Logged once; a second pass is just as quiet and empty.
        assert_eq!(clients.inventory().await, Inventory::default());
    }

    #[tokio::test]
    async fn a_dead_socket_gives_an_empty_inventory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dead.sock");
        // Bound, then closed: the file stays but nobody listens.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let clients = RuntimeClients::new(&RuntimeConfig {
            docker_socket: Some(path.clone()),
            cri_socket: Some(path),
            timeout: Duration::from_secs(1),
        });
        assert_eq!(clients.inventory().await, Inventory::default());
    }
}
