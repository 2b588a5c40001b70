//! A **stub** Kubernetes API server on loopback, for Kubernetes-mode tests
//! (no real kube-apiserver can run on the test machines).
//!
//! It is not an API server: it holds a few kinds of objects in memory and
//! answers the requests `workingset server` and `workingset doctor` make,
//! the way kube-apiserver answers them on the wire:
//!
//! - nodes and pods: list (with `resourceVersion`) and watch (chunked JSON
//!   events from a resource version), the pods filtered by the field
//!   selector `status.phase=…` and served metadata-only
//!   (`PartialObjectMetadata`) when the `Accept` header asks for it;
//! - configmaps, `APIService`s and discovery (`/api`, `/apis`): get;
//! - `TokenReview`s: tokens it was told about are authenticated as their
//!   user; `SubjectAccessReview`s: allowed unless the user was denied.
//!
//! Every request is recorded ([`StubApiServer::requests`]); a test can
//! change nodes and pods while watches are open, deny a user, or make a
//! path fail. Watches end after at most [`WATCH_CAP`] (clients re-watch),
//! and the whole stub stops when dropped or after [`LIFETIME`].

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod protobuf;

/// No stub lives longer than this, whatever happens to the test.
pub const LIFETIME: Duration = Duration::from_secs(300);
/// A watch is closed by the stub after this long at most.
pub const WATCH_CAP: Duration = Duration::from_secs(20);
const IO_TIMEOUT: Duration = Duration::from_secs(10);
const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";

/// One request as the stub saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query, without `?`.
    pub query: String,
    /// The `Accept` header.
    pub accept: String,
    /// The body (JSON for reviews).
    pub body: String,
}

impl Recorded {
    /// Whether the query has `name=value`.
    pub fn has_param(&self, name: &str, value: &str) -> bool {
        self.query
            .split('&')
            .any(|pair| pair == format!("{name}={value}"))
    }
}

/// A user as a `TokenReview` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StubUser {
    /// `username`.
    pub name: String,
    /// `groups`.
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    Node,
    Pod,
    ConfigMap,
}

#[derive(Debug)]
struct Change {
    version: u64,
    kind: Kind,
    event: &'static str,
    object: Value,
    /// The object before the change, for watches with a field selector:
    /// an object that stops matching is `DELETED` for them, one that
    /// starts matching `ADDED`, as kube-apiserver's watch cache does.
    previous: Option<Value>,
}

#[derive(Debug, Default)]
struct State {
    resource_version: u64,
    /// Current objects by kind and `namespace/name` (`name` for nodes).
    objects: BTreeMap<(Kind, String), Value>,
    /// Every change, oldest first.
    events: Vec<Change>,
    /// Single objects served by exact path (configmaps, APIServices, discovery).
    documents: BTreeMap<String, Value>,
    /// Bodies of other types served by exact path: (content type, body).
    raw: BTreeMap<String, (String, String)>,
    tokens: HashMap<String, StubUser>,
    denied_users: Vec<String>,
    failing: Vec<(String, u16)>,
    requests: Vec<Recorded>,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    stop: AtomicBool,
    /// Answer protobuf when it is asked for first.
    protobuf: AtomicBool,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The stub; stops and joins its threads when dropped.
pub struct StubApiServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for StubApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StubApiServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

fn must<T, E: std::fmt::Display>(result: Result<T, E>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(error) => panic!("stub API server: {what}: {error}"),
    }
}

impl StubApiServer {
    /// Starts an empty stub over plain HTTP on 127.0.0.1.
    pub fn start() -> Self {
        let listener = must(TcpListener::bind("127.0.0.1:0"), "bind");
        must(listener.set_nonblocking(true), "nonblocking");
        let addr = must(listener.local_addr(), "address");
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                resource_version: 100,
                ..State::default()
            }),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
            protobuf: AtomicBool::new(true),
        });
        let thread = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || accept_loop(&listener, &shared))
        };
        Self {
            addr,
            shared,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Writes `DIR/kubeconfig` pointing at the stub; returns its path.
    pub fn write_kubeconfig(&self, dir: &std::path::Path) -> std::path::PathBuf {
        crate::kube::write_kubeconfig(dir, &self.url())
    }

    fn change(&self, kind: Kind, key: String, event: &'static str, object: Option<Value>) {
        let mut state = self.shared.state();
        state.resource_version += 1;
        let version = state.resource_version;
        let (object, previous) = match object {
            Some(mut object) => {
                object["metadata"]["resourceVersion"] = json!(version.to_string());
                let previous = state.objects.insert((kind, key), object.clone());
                (object, previous)
            }
            None => match state.objects.remove(&(kind, key)) {
                Some(mut object) => {
                    object["metadata"]["resourceVersion"] = json!(version.to_string());
                    (object, None)
                }
                None => return,
            },
        };
        state.events.push(Change {
            version,
            kind,
            event,
            object,
            previous,
        });
        drop(state);
        self.shared.changed.notify_all();
    }

    /// Adds or replaces a node (a core/v1 `Node` as JSON).
    pub fn put_node(&self, node: Value) {
        let name = node["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let event = if self
            .shared
            .state()
            .objects
            .contains_key(&(Kind::Node, name.clone()))
        {
            "MODIFIED"
        } else {
            "ADDED"
        };
        self.change(Kind::Node, name, event, Some(node));
    }

    /// Deletes a node; watches see `DELETED`.
    pub fn delete_node(&self, name: &str) {
        self.change(Kind::Node, name.to_owned(), "DELETED", None);
    }

    /// Adds or replaces a pod (a core/v1 `Pod` as JSON).
    pub fn put_pod(&self, pod: Value) {
        let key = format!(
            "{}/{}",
            pod["metadata"]["namespace"].as_str().unwrap_or_default(),
            pod["metadata"]["name"].as_str().unwrap_or_default()
        );
        let event = if self
            .shared
            .state()
            .objects
            .contains_key(&(Kind::Pod, key.clone()))
        {
            "MODIFIED"
        } else {
            "ADDED"
        };
        self.change(Kind::Pod, key, event, Some(pod));
    }

    /// Adds or replaces a configmap (listed and watched in its namespace).
    pub fn put_configmap(&self, configmap: Value) {
        let key = format!(
            "{}/{}",
            configmap["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default(),
            configmap["metadata"]["name"].as_str().unwrap_or_default()
        );
        let event = if self
            .shared
            .state()
            .objects
            .contains_key(&(Kind::ConfigMap, key.clone()))
        {
            "MODIFIED"
        } else {
            "ADDED"
        };
        self.change(Kind::ConfigMap, key, event, Some(configmap));
    }

    /// Deletes a pod.
    pub fn delete_pod(&self, namespace: &str, name: &str) {
        self.change(Kind::Pod, format!("{namespace}/{name}"), "DELETED", None);
    }

    /// Serves `document` at exactly `path` (a configmap, an `APIService`,
    /// a discovery document); `None` removes it (404 then).
    pub fn put_document(&self, path: &str, document: Option<Value>) {
        let mut state = self.shared.state();
        match document {
            Some(document) => state.documents.insert(path.to_owned(), document),
            None => state.documents.remove(path),
        };
    }

    /// Serves `body` of `content_type` at exactly `path` (a service proxy's
    /// answer, say).
    pub fn put_raw(&self, path: &str, content_type: &str, body: &str) {
        self.shared
            .state()
            .raw
            .insert(path.to_owned(), (content_type.to_owned(), body.to_owned()));
    }

    /// `TokenReview`s of `token` authenticate `user`.
    pub fn allow_token(&self, token: &str, user: StubUser) {
        self.shared.state().tokens.insert(token.to_owned(), user);
    }

    /// `SubjectAccessReview`s of `user` are denied from now on.
    pub fn deny_user(&self, user: &str) {
        self.shared.state().denied_users.push(user.to_owned());
    }

    /// Requests whose path starts with `prefix` get `status` from now on
    /// (`None` stops that).
    pub fn fail(&self, prefix: &str, status: Option<u16>) {
        let mut state = self.shared.state();
        state.failing.retain(|(p, _)| p != prefix);
        if let Some(status) = status {
            state.failing.push((prefix.to_owned(), status));
        }
    }

    /// Whether nodes and pod metadata are answered in protobuf when a
    /// client asks for it first (the default, as kube-apiserver), or in
    /// JSON only (an API server without protobuf).
    pub fn serve_protobuf(&self, protobuf: bool) {
        self.shared.protobuf.store(protobuf, Ordering::Relaxed);
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.state().requests.clone()
    }
}

impl Drop for StubApiServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.changed.notify_all();
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
                    let _ = serve_connection(stream, &shared);
                }));
                connections.retain(|c| !c.is_finished());
            }
            Err(_) => std::thread::sleep(Duration::from_millis(2)),
        }
    }
    shared.stop.store(true, Ordering::Relaxed);
    shared.changed.notify_all();
    for connection in connections {
        let _ = connection.join();
    }
}

/// Serves requests on one keep-alive connection until the client closes it.
fn serve_connection(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_millis(200)))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        // Poll so the stub can stop while a client keeps an idle connection.
        loop {
            match reader.read_line(&mut request_line) {
                Ok(0) => return Ok(()),
                Ok(_) => break,
                Err(error)
                    if matches!(
                        error.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    if shared.stop.load(Ordering::Relaxed) {
                        return Ok(());
                    }
                }
                Err(error) => return Err(error),
            }
        }
        reader.get_ref().set_read_timeout(Some(IO_TIMEOUT))?;
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let target = parts.next().unwrap_or_default().to_owned();
        let mut accept = String::new();
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header)? == 0 || header == "\r\n" {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("accept") {
                    accept = value.trim().to_owned();
                } else if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length.min(1 << 20)];
        reader.read_exact(&mut body)?;
        reader
            .get_ref()
            .set_read_timeout(Some(Duration::from_millis(200)))?;
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let recorded = Recorded {
            method,
            path: path.to_owned(),
            query: query.to_owned(),
            accept,
            body: String::from_utf8_lossy(&body).into_owned(),
        };
        shared.state().requests.push(recorded.clone());
        if !answer(&mut writer, shared, &recorded)? {
            return Ok(());
        }
    }
}

fn param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(byte) = u8::from_str_radix(&text[i + 1..i + 3], 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether `object` passes the request's selectors: the field selector
/// (only `status.phase=` and `metadata.name=` are understood) and the
/// label selector (`key=value` terms only).
fn selected(object: &Value, query: &str) -> bool {
    let labels_match = param(query, "labelSelector").is_none_or(|selector| {
        percent_decode(selector)
            .split(',')
            .all(|term| match term.split_once('=') {
                Some((key, value)) => object["metadata"]["labels"][key] == value,
                None => true,
            })
    });
    if !labels_match {
        return false;
    }
    let Some(selector) = param(query, "fieldSelector") else {
        return true;
    };
    percent_decode(selector)
        .split(',')
        .all(|term| match term.split_once('=') {
            Some(("status.phase", phase)) => object["status"]["phase"] == phase,
            Some(("metadata.name", name)) => object["metadata"]["name"] == name,
            _ => true,
        })
}

/// The object as the client asked for it: whole, or its metadata only.
fn shaped(object: &Value, metadata_only: bool) -> Value {
    if metadata_only {
        json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": object["metadata"],
        })
    } else {
        object.clone()
    }
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": code,
    })
}

/// Answers one request; `false` when the connection must close.
fn answer(writer: &mut TcpStream, shared: &Shared, request: &Recorded) -> std::io::Result<bool> {
    let failing = shared
        .state()
        .failing
        .iter()
        .find(|(prefix, _)| request.path.starts_with(prefix.as_str()))
        .map(|(_, code)| *code);
    if let Some(code) = failing {
        return respond(
            writer,
            code,
            &status(code, "InternalError", "the stub was told to fail"),
        );
    }
    // Collections: nodes, pods of all namespaces, pods and configmaps of one.
    let namespaced = request
        .path
        .strip_prefix("/api/v1/namespaces/")
        .and_then(|rest| rest.split_once('/'))
        .filter(|(_, collection)| *collection == "pods" || *collection == "configmaps");
    let kind = match (request.path.as_str(), namespaced) {
        ("/api/v1/nodes", _) => Some(Kind::Node),
        ("/api/v1/pods", _) => Some(Kind::Pod),
        (_, Some((_, "pods"))) => Some(Kind::Pod),
        (_, Some(_)) => Some(Kind::ConfigMap),
        _ => None,
    };
    let namespace = namespaced.map(|(ns, _)| format!("{ns}/"));
    let in_namespace = |key: &str| {
        namespace
            .as_deref()
            .is_none_or(|prefix| key.starts_with(prefix))
    };
    match (request.method.as_str(), kind) {
        ("GET", Some(kind)) => {
            let metadata_only = request.accept.contains("as=PartialObjectMetadata");
            // Nodes and pod metadata in protobuf when asked first, as
            // kube-apiserver (unless told to speak JSON only).
            let protobuf = request.accept.starts_with(PROTOBUF)
                && shared.protobuf.load(Ordering::Relaxed)
                && (kind == Kind::Node || (kind == Kind::Pod && metadata_only));
            if param(&request.query, "watch") == Some("true")
                || param(&request.query, "watch") == Some("1")
            {
                watch(writer, shared, request, kind, metadata_only, protobuf)?;
                return Ok(false);
            }
            let state = shared.state();
            let items: Vec<Value> = state
                .objects
                .iter()
                .filter(|((k, key), object)| {
                    *k == kind && in_namespace(key) && selected(object, &request.query)
                })
                .map(|(_, object)| shaped(object, metadata_only))
                .collect();
            if protobuf {
                let body = protobuf::list(&items, state.resource_version, metadata_only);
                drop(state);
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: {PROTOBUF}\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                writer.write_all(head.as_bytes())?;
                writer.write_all(&body)?;
                writer.flush()?;
                return Ok(true);
            }
            let (list_kind, api_version) = match (metadata_only, kind) {
                (true, _) => ("PartialObjectMetadataList", "meta.k8s.io/v1"),
                (false, Kind::Node) => ("NodeList", "v1"),
                (false, Kind::Pod) => ("PodList", "v1"),
                (false, Kind::ConfigMap) => ("ConfigMapList", "v1"),
            };
            let body = json!({
                "kind": list_kind, "apiVersion": api_version,
                "metadata": {"resourceVersion": state.resource_version.to_string()},
                "items": items,
            });
            drop(state);
            respond(writer, 200, &body)
        }
        ("POST", _) if request.path == "/apis/authentication.k8s.io/v1/tokenreviews" => {
            let review: Value = serde_json::from_str(&request.body).unwrap_or(Value::Null);
            let token = review["spec"]["token"].as_str().unwrap_or_default();
            let user = shared.state().tokens.get(token).cloned();
            let status = match user {
                Some(user) => {
                    json!({"authenticated": true, "user": {"username": user.name, "groups": user.groups}})
                }
                None => json!({"authenticated": false, "error": "token not known to the stub"}),
            };
            respond(
                writer,
                201,
                &json!({
                    "kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1",
                    "metadata": {}, "spec": review["spec"], "status": status,
                }),
            )
        }
        ("POST", _) if request.path == "/apis/authorization.k8s.io/v1/subjectaccessreviews" => {
            let review: Value = serde_json::from_str(&request.body).unwrap_or(Value::Null);
            let user = review["spec"]["user"].as_str().unwrap_or_default();
            let denied = shared.state().denied_users.iter().any(|u| u == user);
            let status = if denied {
                json!({"allowed": false, "denied": true})
            } else {
                json!({"allowed": true})
            };
            respond(
                writer,
                201,
                &json!({
                    "kind": "SubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
                    "metadata": {}, "spec": review["spec"], "status": status,
                }),
            )
        }
        ("GET", None) if shared.state().raw.contains_key(&request.path) => {
            let raw = shared
                .state()
                .raw
                .get(&request.path)
                .cloned()
                .unwrap_or_default();
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\n\r\n",
                raw.0,
                raw.1.len()
            );
            writer.write_all(head.as_bytes())?;
            writer.write_all(raw.1.as_bytes())?;
            writer.flush()?;
            Ok(true)
        }
        ("GET", None) => {
            let document = shared.state().documents.get(&request.path).cloned();
            match document {
                Some(document) => respond(writer, 200, &document),
                None => respond(
                    writer,
                    404,
                    &status(
                        404,
                        "NotFound",
                        "the server could not find the requested resource",
                    ),
                ),
            }
        }
        _ => respond(
            writer,
            405,
            &status(405, "MethodNotAllowed", "the stub does not serve this"),
        ),
    }
}

fn respond(writer: &mut TcpStream, code: u16, body: &Value) -> std::io::Result<bool> {
    let body = body.to_string();
    let head = format!(
        "HTTP/1.1 {code} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        reason(code),
        body.len()
    );
    writer.write_all(head.as_bytes())?;
    writer.write_all(body.as_bytes())?;
    writer.flush()?;
    Ok(true)
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        201 => "Created",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// A chunked stream of watch events after the request's resource version,
/// until the watch cap, the request's timeout or the stub's stop.
fn watch(
    writer: &mut TcpStream,
    shared: &Shared,
    request: &Recorded,
    kind: Kind,
    metadata_only: bool,
    protobuf: bool,
) -> std::io::Result<()> {
    let mut since: u64 = param(&request.query, "resourceVersion")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let timeout = param(&request.query, "timeoutSeconds")
        .and_then(|v| v.parse().ok())
        .map_or(WATCH_CAP, Duration::from_secs)
        .min(WATCH_CAP);
    let until = Instant::now() + timeout;
    let content_type = if protobuf {
        "application/vnd.kubernetes.protobuf;stream=watch"
    } else {
        "application/json"
    };
    write!(
        writer,
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n"
    )?;
    writer.flush()?;
    let mut state = shared.state();
    loop {
        let mut chunk: Vec<u8> = Vec::new();
        for change in &state.events {
            if change.version <= since || change.kind != kind {
                continue;
            }
            let now_selected = selected(&change.object, &request.query);
            let was_selected = change
                .previous
                .as_ref()
                .is_some_and(|previous| selected(previous, &request.query));
            let event = match (change.event, was_selected, now_selected) {
                ("DELETED", _, true) => "DELETED",
                ("MODIFIED", false, true) => "ADDED",
                ("MODIFIED", true, false) => "DELETED",
                (event, _, true) => event,
                _ => continue,
            };
            let object = shaped(&change.object, metadata_only);
            if protobuf {
                chunk.extend(protobuf::watch_frame(
                    event,
                    &protobuf::object(&object, metadata_only),
                ));
            } else {
                chunk.extend(
                    json!({"type": event, "object": object})
                        .to_string()
                        .into_bytes(),
                );
                chunk.push(b'\n');
            }
        }
        since = state.resource_version;
        if !chunk.is_empty() {
            drop(state);
            write!(writer, "{:x}\r\n", chunk.len())?;
            writer.write_all(&chunk)?;
            writer.write_all(b"\r\n")?;
            writer.flush()?;
            state = shared.state();
            continue;
        }
        let now = Instant::now();
        if now >= until || shared.stop.load(Ordering::Relaxed) {
            break;
        }
        let (next, _) = shared
            .changed
            .wait_timeout(state, (until - now).min(Duration::from_millis(200)))
            .unwrap_or_else(PoisonError::into_inner);
        state = next;
    }
    drop(state);
    writer.write_all(b"0\r\n\r\n")?;
    writer.flush()
}

/// A test certificate authority that signs client certificates (PEM).
pub struct TestCa {
    /// The CA certificate.
    pub cert_pem: String,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

impl TestCa {
    /// A fresh CA named `name`.
    pub fn new(name: &str) -> Self {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        let key = must(KeyPair::generate(), "CA key");
        let mut params = must(CertificateParams::new(Vec::<String>::new()), "CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} {}", std::process::id()));
        let cert = must(params.self_signed(&key), "CA certificate");
        Self {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A client certificate for `common_name` in the groups `organizations`:
    /// (certificate PEM, key PEM).
    pub fn client(&self, common_name: &str, organizations: &[&str]) -> (String, String) {
        use rcgen::{CertificateParams, DnType, KeyPair};
        let key = must(KeyPair::generate(), "client key");
        let mut params = must(CertificateParams::new(Vec::<String>::new()), "client");
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        for organization in organizations {
            params
                .distinguished_name
                .push(DnType::OrganizationName, *organization);
        }
        let cert = must(params.signed_by(&key, &self.issuer), "client certificate");
        (cert.pem(), key.serialize_pem())
    }
}
