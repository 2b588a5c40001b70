//! The accept loop: HTTP/1.1 connections (optionally TLS) served by hyper,
//! and a graceful shutdown with a bounded grace period.
//!
//! A hand-written loop rather than `axum::serve`, because a server exposed to
//! a cluster needs what that does not offer in one place: TLS handshakes off
//! the accept path, per-connection timeouts, a cap on connections and a
//! shutdown whose wait for in-flight requests is bounded.

use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

use crate::secure::PeerCertificates;
use crate::stopped;

/// Connections served at once; more wait in the kernel's accept queue.
const MAX_CONNECTIONS: usize = 1024;
/// A client that has not finished its TLS handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A client that has not sent a request's headers by then is dropped
/// (slow-loris protection).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after an accept error that is not about one connection (out of
/// file descriptors), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Accepts and serves connections until `shutdown` turns `true` (or its
/// sender is dropped), then lets in-flight requests finish for at most
/// `grace` and cuts what is left. Serves HTTPS when `tls` is given.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
    grace: Duration,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            () = stopped(&mut shutdown) => break,
            // Reap finished connections so the set does not grow.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept(), if connections.len() < MAX_CONNECTIONS => {
                match accepted {
                    Ok((stream, peer)) => {
                        connections.spawn(connection(
                            stream,
                            peer,
                            tls.clone(),
                            router.clone(),
                            shutdown.clone(),
                        ));
                    }
                    Err(error) if is_per_connection(&error) => {
                        tracing::debug!(%error, "Connection failed before it was accepted");
                    }
                    Err(error) => {
                        tracing::warn!(%error, "Cannot accept connections; retrying");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                    }
                }
            }
        }
    }
    // Closing the listener first makes new connections fail fast instead of
    // waiting in the accept queue of a server that is going away.
    drop(listener);
    let in_flight = connections.len();
    tracing::info!(
        connections = in_flight,
        ?grace,
        "Shutting down the HTTP server"
    );
    let drained = tokio::time::timeout(grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = connections.len(),
            ?grace,
            "Grace period over; closing the remaining connections"
        );
        connections.shutdown().await;
    }
    tracing::debug!("HTTP server stopped");
}

/// Errors about one incoming connection, after which accepting goes on.
fn is_per_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}

/// One connection: the TLS handshake when configured, then HTTP/1.1.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    // Responses are written whole; do not let Nagle delay their last segment.
    let _ = stream.set_nodelay(true);
    let Some(acceptor) = tls else {
        return http(TokioIo::new(stream), peer, None, router, shutdown).await;
    };
    let handshake = tokio::select! {
        () = stopped(&mut shutdown) => return,
        handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)) => handshake,
    };
    match handshake {
        Ok(Ok(stream)) => {
            let certificates = stream
                .get_ref()
                .1
                .peer_certificates()
                .filter(|chain| !chain.is_empty())
                .map(|chain| {
                    PeerCertificates(Arc::new(
                        chain.iter().map(|c| c.clone().into_owned()).collect(),
                    ))
                });
            http(TokioIo::new(stream), peer, certificates, router, shutdown).await;
        }
        Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
    }
}

/// Serves HTTP/1.1 on an established connection; at shutdown, finishes the
/// request in flight (if any) and closes.
async fn http<I>(
    io: I,
    peer: SocketAddr,
    certificates: Option<PeerCertificates>,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        if let Some(certificates) = &certificates {
            request.extensions_mut().insert(certificates.clone());
        }
        router.clone().oneshot(request)
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let mut connection = pin!(builder.serve_connection(io, service));
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = stopped(&mut shutdown) => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = result {
        tracing::debug!(%peer, %error, "Connection ended with an error");
    }
}
