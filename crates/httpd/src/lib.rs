//! The HTTP(S) front door shared by the agent and the metrics server.
//!
//! [`serve`] runs an accept loop that hands every connection to an axum
//! [`Router`](axum::Router) over hyper's HTTP/1.1, optionally behind TLS,
//! with a cap on connections, handshake and header-read timeouts and a
//! graceful shutdown whose wait for in-flight requests is bounded.
//! [`tls_acceptor`] turns PEM certificate and key files into the rustls
//! acceptor it takes. What is served (routes, auth) is the caller's.

mod lifecycle;
pub mod secure;
mod server;
mod tls;

use tokio::sync::watch;

pub use lifecycle::{ShutdownHandle, StopOnDrop};
pub use server::serve;
pub use tls::{TlsError, TlsFiles, tls_acceptor};
/// Re-exported so callers name the acceptor type without their own
/// `tokio-rustls` dependency.
pub use tokio_rustls::TlsAcceptor;

/// Resolves when `shutdown` has been asked for (the value is `true`) or
/// every sender is gone.
pub async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    // The `Ref` wait_for returns holds the channel's read lock: drop it here,
    // never carry it across another await.
    let _ = shutdown.wait_for(|stop| *stop).await.map(|_| ());
}
