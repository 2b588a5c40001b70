//! Talking to the real kubectl from tests: a kubeconfig pointing at a
//! loopback server, and the released `kubectl.1.27` … `kubectl.1.33`
//! binaries run with a bounded wait.
//!
//! The binaries are looked up in `$WORKINGSET_KUBECTL_DIR` (default
//! `/usr/lib/google-cloud-sdk/bin`, where the `kubectl` package puts them).
//! Tests that compare with kubectl fail when they are missing, unless
//! `WORKINGSET_SKIP_KUBECTL=1` says to skip them ([`kubectl_available`]).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// Where the released kubectl binaries are unless
/// `$WORKINGSET_KUBECTL_DIR` says otherwise.
pub const DEFAULT_KUBECTL_DIR: &str = "/usr/lib/google-cloud-sdk/bin";
/// Set to `1` to skip comparisons with the real kubectl when it is missing.
pub const SKIP_KUBECTL_ENV: &str = "WORKINGSET_SKIP_KUBECTL";
/// Every kubectl release the project imitates, oldest first.
pub const KUBECTL_VERSIONS: [&str; 7] = ["1.27", "1.28", "1.29", "1.30", "1.31", "1.32", "1.33"];

/// Name of the cluster, user and context [`write_kubeconfig`] writes.
pub const STUB_CONTEXT: &str = "stub";

/// Writes `DIR/kubeconfig`: one cluster at `server_url` (`http://127.0.0.1:PORT`),
/// one user without credentials, and a current context `stub` whose
/// namespace is `default`. Returns the file's path. Panics if it cannot be
/// written (a test helper: the panic is the failed test).
pub fn write_kubeconfig(dir: &Path, server_url: &str) -> PathBuf {
    let path = dir.join("kubeconfig");
    let text = format!(
        "apiVersion: v1\n\
         kind: Config\n\
         clusters:\n\
         - name: {STUB_CONTEXT}\n  cluster:\n    server: {server_url}\n\
         contexts:\n\
         - name: {STUB_CONTEXT}\n  context:\n    cluster: {STUB_CONTEXT}\n    user: {STUB_CONTEXT}\n    namespace: default\n\
         current-context: {STUB_CONTEXT}\n\
         users:\n\
         - name: {STUB_CONTEXT}\n  user: {{}}\n"
    );
    if let Err(error) = std::fs::write(&path, text) {
        panic!("cannot write {}: {error}", path.display());
    }
    path
}

/// The directory holding `kubectl.1.XX`.
pub fn kubectl_dir() -> PathBuf {
    std::env::var_os("WORKINGSET_KUBECTL_DIR")
        .map_or_else(|| PathBuf::from(DEFAULT_KUBECTL_DIR), PathBuf::from)
}

/// The released binary of kubectl `version` (`"1.27"` … `"1.33"`). It may
/// not exist; see [`kubectl_available`].
pub fn kubectl_binary(version: &str) -> PathBuf {
    kubectl_dir().join(format!("kubectl.{version}"))
}

/// Whether the comparisons with kubectl run: `true` when every release of
/// [`KUBECTL_VERSIONS`] is there; `false` (said on stderr) when some are
/// missing and `WORKINGSET_SKIP_KUBECTL=1`; otherwise panics naming the
/// missing binaries, so a machine without them is a visible failure.
pub fn kubectl_available(test: &str) -> bool {
    let missing: Vec<String> = KUBECTL_VERSIONS
        .iter()
        .map(|version| kubectl_binary(version))
        .filter(|path| !path.is_file())
        .map(|path| path.display().to_string())
        .collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var(SKIP_KUBECTL_ENV).as_deref() == Ok("1") {
        crate::report_skip(
            test,
            &format!(
                "{SKIP_KUBECTL_ENV}=1 and {} are missing",
                missing.join(", ")
            ),
        );
        return false;
    }
    panic!(
        "{test}: the real kubectl binaries {missing:?} are missing (set WORKINGSET_KUBECTL_DIR \
         to where kubectl.1.27 … kubectl.1.33 are, or {SKIP_KUBECTL_ENV}=1 to skip)"
    );
}

/// Runs `kubectl.<version> --kubeconfig KUBECONFIG ARGS…` and returns what
/// it printed and its status; kills it after `timeout` (then panics).
///
/// kubectl sees only that kubeconfig: `$KUBECONFIG` is removed and `$HOME`
/// is the kubeconfig's directory, so neither the user's `~/.kube` nor an
/// in-cluster service account of the machine running the tests counts, and
/// whatever kubectl caches stays in the test's directory.
pub fn run_kubectl(version: &str, kubeconfig: &Path, args: &[&str], timeout: Duration) -> Output {
    let home = kubeconfig.parent().unwrap_or(Path::new("/nonexistent"));
    let mut command = Command::new(kubectl_binary(version));
    command
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .env("HOME", home)
        .env_remove("KUBECONFIG")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT");
    match crate::process::run(&mut command, None, timeout) {
        Ok(output) => output,
        Err(error) => panic!("kubectl.{version} {args:?}: {error}"),
    }
}

/// Runs `kubectl.<version> ARGS…` with `env` added and nothing else
/// (no `--kubeconfig` of its own, `$HOME` = `home`, `$KUBECONFIG` removed
/// unless `env` sets it, stdin empty): for tests of how kubectl finds its
/// configuration. Kills it after `timeout` (then panics).
pub fn run_kubectl_with(
    version: &str,
    home: &Path,
    env: &[(&str, &str)],
    args: &[&str],
    timeout: Duration,
) -> Output {
    let mut command = Command::new(kubectl_binary(version));
    command
        .args(args)
        .env("HOME", home)
        .env_remove("KUBECONFIG")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT")
        .env_remove("KUBERNETES_MASTER");
    for (name, value) in env {
        command.env(name, value);
    }
    match crate::process::run(&mut command, None, timeout) {
        Ok(output) => output,
        Err(error) => panic!("kubectl.{version} {args:?}: {error}"),
    }
}

pub use stub::{Behavior, Pki, Route, Routes, Seen, StubApi};

/// A canned Kubernetes API server on loopback, over HTTP or TLS.
mod stub {
    use std::collections::BTreeMap;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex, PoisonError};
    use std::thread::JoinHandle;
    use std::time::{Duration, Instant};

    /// No stub lives longer than this, whatever happens to the test.
    const LIFETIME: Duration = Duration::from_secs(180);
    /// Reads and writes of one connection.
    const IO_TIMEOUT: Duration = Duration::from_secs(10);
    /// How long a [`Behavior::Hang`] answer keeps the client waiting at most.
    const HANG: Duration = Duration::from_secs(30);

    fn must<T, E: std::fmt::Display>(result: Result<T, E>, what: &str) -> T {
        match result {
            Ok(value) => value,
            Err(error) => panic!("stub API: {what}: {error}"),
        }
    }

    /// What the server does with a request.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Behavior {
        /// Answer with the route's status, headers and body.
        Respond,
        /// Say nothing until the client gives up (or the stub stops).
        Hang,
        /// Close the connection without a word.
        Close,
        /// Send these bytes instead of an HTTP answer, then close.
        Raw(Vec<u8>),
    }

    /// One canned answer.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Route {
        /// HTTP status code.
        pub status: u16,
        /// `Content-Type`; empty sends none.
        pub content_type: String,
        /// Further headers.
        pub headers: Vec<(String, String)>,
        /// The body.
        pub body: Vec<u8>,
        /// Whether to answer at all.
        pub behavior: Behavior,
    }

    impl Route {
        /// `status` with a JSON body.
        pub fn json(status: u16, body: &str) -> Self {
            Self::with_type(status, "application/json", body.as_bytes())
        }

        /// `status` with a body of type `content_type`.
        pub fn with_type(status: u16, content_type: &str, body: &[u8]) -> Self {
            Self {
                status,
                content_type: content_type.to_owned(),
                headers: Vec::new(),
                body: body.to_vec(),
                behavior: Behavior::Respond,
            }
        }

        /// A route that does not answer as HTTP.
        pub fn behaving(behavior: Behavior) -> Self {
            Self {
                behavior,
                ..Self::json(200, "")
            }
        }

        /// Adds a header.
        #[must_use]
        pub fn header(mut self, name: &str, value: &str) -> Self {
            self.headers.push((name.to_owned(), value.to_owned()));
            self
        }

        /// The API server's answer to a path it does not serve.
        pub fn not_found() -> Self {
            Self::json(
                404,
                r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"the server could not find the requested resource","reason":"NotFound","details":{},"code":404}"#,
            )
        }
    }

    /// One request as the server saw it.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Seen {
        /// Path and query, as sent.
        pub path: String,
        /// The `Accept` header.
        pub accept: String,
        /// The `Authorization` header, when sent.
        pub authorization: Option<String>,
        /// Whether the client presented a TLS client certificate.
        pub client_certificate: bool,
    }

    /// A test CA with a server certificate (for `127.0.0.1` and `localhost`)
    /// and a client certificate, all PEM.
    #[derive(Debug, Clone)]
    pub struct Pki {
        /// The CA certificate.
        pub ca_pem: String,
        /// The server's certificate.
        pub server_cert_pem: String,
        /// The server's key.
        pub server_key_pem: String,
        /// A client certificate the server accepts.
        pub client_cert_pem: String,
        /// Its key.
        pub client_key_pem: String,
    }

    impl Pki {
        /// A fresh CA and the certificates it signed.
        pub fn new() -> Self {
            use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
            let ca_key = must(KeyPair::generate(), "CA key");
            let mut ca_params = must(CertificateParams::new(Vec::<String>::new()), "CA");
            ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            // Each CA its own name: Go's verifier tries a CA of the same
            // name as a candidate issuer and says so in its error.
            static SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let serial = SERIAL.fetch_add(1, Ordering::Relaxed);
            ca_params.distinguished_name.push(
                DnType::CommonName,
                format!("workingset test CA {} {serial}", std::process::id()),
            );
            let ca_cert = must(ca_params.self_signed(&ca_key), "CA certificate");
            let issuer = Issuer::new(ca_params, ca_key);
            let server_key = must(KeyPair::generate(), "server key");
            let server = must(
                must(
                    CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]),
                    "server",
                )
                .signed_by(&server_key, &issuer),
                "server certificate",
            );
            let client_key = must(KeyPair::generate(), "client key");
            let mut client_params = must(CertificateParams::new(Vec::<String>::new()), "client");
            client_params
                .distinguished_name
                .push(DnType::CommonName, "test-user");
            let client = must(client_params.signed_by(&client_key, &issuer), "client");
            Self {
                ca_pem: ca_cert.pem(),
                server_cert_pem: server.pem(),
                server_key_pem: server_key.serialize_pem(),
                client_cert_pem: client.pem(),
                client_key_pem: client_key.serialize_pem(),
            }
        }

        fn server_config(&self) -> rustls::ServerConfig {
            use rustls::pki_types::pem::PemObject;
            use rustls::pki_types::{CertificateDer, PrivateKeyDer};
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut roots = rustls::RootCertStore::empty();
            must(
                roots.add(must(
                    CertificateDer::from_pem_slice(self.ca_pem.as_bytes()),
                    "CA PEM",
                )),
                "CA root",
            );
            let verifier = must(
                rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    Arc::clone(&provider),
                )
                .allow_unauthenticated()
                .build(),
                "client verifier",
            );
            let cert = must(
                CertificateDer::from_pem_slice(self.server_cert_pem.as_bytes()),
                "server PEM",
            );
            let key = must(
                PrivateKeyDer::from_pem_slice(self.server_key_pem.as_bytes()),
                "key PEM",
            );
            must(
                must(
                    rustls::ServerConfig::builder_with_provider(provider)
                        .with_safe_default_protocol_versions(),
                    "protocols",
                )
                .with_client_cert_verifier(verifier)
                .with_single_cert(vec![cert], key),
                "server config",
            )
        }
    }

    impl Default for Pki {
        fn default() -> Self {
            Self::new()
        }
    }

    /// The routes of a stub: answers by path and query; anything else is
    /// the API server's 404.
    pub type Routes = BTreeMap<String, Route>;

    struct Shared {
        routes: Routes,
        seen: Mutex<Vec<Seen>>,
        stop: AtomicBool,
        tls: Option<Arc<rustls::ServerConfig>>,
    }

    /// The loopback server; stops and joins its threads when dropped.
    pub struct StubApi {
        addr: SocketAddr,
        tls: bool,
        shared: Arc<Shared>,
        thread: Option<JoinHandle<()>>,
    }

    impl std::fmt::Debug for StubApi {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("StubApi")
                .field("addr", &self.addr)
                .field("tls", &self.tls)
                .finish_non_exhaustive()
        }
    }

    impl StubApi {
        /// Serves `routes` over plain HTTP.
        pub fn start(routes: Routes) -> Self {
            Self::launch(routes, None)
        }

        /// Serves `routes` over TLS with `pki`'s server certificate,
        /// accepting (not requiring) its client certificate.
        pub fn start_tls(routes: Routes, pki: &Pki) -> Self {
            Self::launch(routes, Some(Arc::new(pki.server_config())))
        }

        fn launch(routes: Routes, tls: Option<Arc<rustls::ServerConfig>>) -> Self {
            let listener = must(TcpListener::bind("127.0.0.1:0"), "bind");
            must(listener.set_nonblocking(true), "nonblocking");
            let addr = must(listener.local_addr(), "address");
            let is_tls = tls.is_some();
            let shared = Arc::new(Shared {
                routes,
                seen: Mutex::new(Vec::new()),
                stop: AtomicBool::new(false),
                tls,
            });
            let thread = {
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || accept_loop(&listener, &shared))
            };
            Self {
                addr,
                tls: is_tls,
                shared,
                thread: Some(thread),
            }
        }

        /// `http://127.0.0.1:PORT` or `https://…`.
        pub fn url(&self) -> String {
            let scheme = if self.tls { "https" } else { "http" };
            format!("{scheme}://{}", self.addr)
        }

        /// The port.
        pub fn port(&self) -> u16 {
            self.addr.port()
        }

        /// Requests seen so far, in order; clears the log.
        pub fn take_seen(&self) -> Vec<Seen> {
            std::mem::take(
                &mut *self
                    .shared
                    .seen
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner),
            )
        }
    }

    impl Drop for StubApi {
        fn drop(&mut self) {
            self.shared.stop.store(true, Ordering::Relaxed);
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
        }
    }

    fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
        let deadline = Instant::now() + LIFETIME;
        let mut connections: Vec<JoinHandle<()>> = Vec::new();
        while !shared.stop.load(Ordering::Relaxed) && Instant::now() < deadline {
            match listener.accept() {
                Ok((stream, _)) => {
                    let shared = Arc::clone(shared);
                    connections.push(std::thread::spawn(move || {
                        // A broken connection only fails that request; the
                        // test's comparison shows it.
                        let _ = serve(stream, &shared);
                    }));
                    connections.retain(|c| !c.is_finished());
                }
                Err(_) => std::thread::sleep(Duration::from_millis(2)),
            }
        }
        shared.stop.store(true, Ordering::Relaxed);
        for connection in connections {
            let _ = connection.join();
        }
    }

    fn serve(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        match &shared.tls {
            None => answer(stream, shared, false),
            Some(config) => {
                let connection = rustls::ServerConnection::new(Arc::clone(config))
                    .map_err(std::io::Error::other)?;
                let mut tls = rustls::StreamOwned::new(connection, stream);
                // Complete the handshake before looking at the client's
                // certificate.
                while tls.conn.is_handshaking() {
                    tls.conn.complete_io(&mut tls.sock)?;
                }
                let client_certificate = tls.conn.peer_certificates().is_some();
                answer(tls, shared, client_certificate)
            }
        }
    }

    fn answer<S: Read + Write>(
        stream: S,
        shared: &Shared,
        client_certificate: bool,
    ) -> std::io::Result<()> {
        let mut reader = BufReader::new(stream);
        let mut request_line = String::new();
        reader.read_line(&mut request_line)?;
        let path = request_line
            .split(' ')
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        let mut accept = String::new();
        let mut authorization = None;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header)? == 0 || header == "\r\n" {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("accept") {
                    accept = value.trim().to_owned();
                } else if name.eq_ignore_ascii_case("authorization") {
                    authorization = Some(value.trim().to_owned());
                }
            }
        }
        if path.is_empty() {
            return Ok(());
        }
        let route = shared
            .routes
            .get(&path)
            .cloned()
            .unwrap_or_else(Route::not_found);
        shared
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Seen {
                path,
                accept,
                authorization,
                client_certificate,
            });
        let mut stream = reader.into_inner();
        match route.behavior {
            Behavior::Close => Ok(()),
            Behavior::Raw(bytes) => {
                stream.write_all(&bytes)?;
                stream.flush()
            }
            Behavior::Hang => {
                let until = Instant::now() + HANG;
                while !shared.stop.load(Ordering::Relaxed) && Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Ok(())
            }
            Behavior::Respond => {
                let mut head = format!("HTTP/1.1 {} {}\r\n", route.status, reason(route.status));
                if !route.content_type.is_empty() {
                    head.push_str(&format!("Content-Type: {}\r\n", route.content_type));
                }
                for (name, value) in &route.headers {
                    head.push_str(&format!("{name}: {value}\r\n"));
                }
                head.push_str(&format!(
                    "Content-Length: {}\r\nConnection: close\r\n\r\n",
                    route.body.len()
                ));
                stream.write_all(head.as_bytes())?;
                stream.write_all(&route.body)?;
                stream.flush()
            }
        }
    }

    fn reason(status: u16) -> &'static str {
        match status {
            200 => "OK",
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            422 => "Unprocessable Entity",
            429 => "Too Many Requests",
            500 => "Internal Server Error",
            503 => "Service Unavailable",
            _ => "Status",
        }
    }
}
