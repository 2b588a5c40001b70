//! Docker Engine API client: running containers with names, images, labels
//! and start times, straight from dockerd's unix socket.
//!
//! A minimal HTTP/1.1 client (hyper's connection API over a
//! `tokio::net::UnixStream`), one connection per request: requests are
//! rare (one listing per sampling pass, one inspection per new container)
//! and a fresh connection cannot be left in a bad state by a timed-out
//! request. Every call has a timeout and a response-size cap.
//!
//! The API version is negotiated once (`GET /version`, then the daemon's own
//! version is used): the fields read here are unchanged since API 1.24, and
//! recent daemons reject clients older than their minimum, so a fixed old
//! version would break on new Docker releases. It is renegotiated after any
//! failure, in case the daemon was replaced.
//!
//! `State.StartedAt` is not in the listing; it needs `GET
//! /containers/{id}/json`, done only for ids not seen before and cached.
//! The cache holds only ids of the latest listing, so it is bounded by
//! what runs.
//!
//! Containers made by cri-dockerd carry the kubelet's labels; they are
//! read back the way cri-dockerd answers CRI calls (see [`super::labels`]),
//! and each sandbox yields a [`PodInfo`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty, LengthLimitError, Limited};
use hyper::body::Bytes;
use hyper::{Request, header};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::net::UnixStream;
use tracing::debug;

use super::labels::{self, DOCKER_TYPE, DOCKER_TYPE_SANDBOX};
use super::{ContainerInfo, Inventory, PodInfo, RuntimeError, RuntimeKind};

/// Cap on a container listing: about 2 KiB a container, so room for
/// thousands of containers — far more than a node runs.
const LIST_LIMIT: usize = 16 << 20;
/// Cap on `/version` and on one container's inspection.
const INSPECT_LIMIT: usize = 4 << 20;
/// New containers inspected in one pass at most; the rest wait for the next
/// pass, so a node that just started hundreds of containers does not make
/// one pass slow.
const MAX_INSPECTS_PER_PASS: usize = 64;
/// Used when `/version` gives no usable `ApiVersion`: the version of
/// Docker 20.10, which every later daemon before v29 still accepts.
const FALLBACK_API_VERSION: &str = "1.41";

/// A client for one dockerd socket.
#[derive(Debug)]
pub struct DockerClient {
    socket: PathBuf,
    timeout: Duration,
    /// Negotiated API version (`1.41`), `None` until negotiated.
    api_version: Mutex<Option<String>>,
    /// `State.StartedAt` by full id (`None`: never started, or unknown).
    started: Mutex<HashMap<String, Option<jiff::Timestamp>>>,
}

/// One entry of `GET /containers/json`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListedContainer {
    id: String,
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    image: String,
    /// `null` when the container has none.
    #[serde(default)]
    labels: Option<HashMap<String, String>>,
    /// Creation time, seconds since the epoch.
    #[serde(default)]
    created: i64,
}

#[derive(Debug, Deserialize)]
struct VersionBody {
    #[serde(rename = "ApiVersion", default)]
    api_version: String,
}

/// The part of `GET /containers/{id}/json` read here.
#[derive(Debug, Deserialize)]
struct Inspected {
    #[serde(rename = "State", default)]
    state: Option<InspectedState>,
}

#[derive(Debug, Deserialize)]
struct InspectedState {
    #[serde(rename = "StartedAt", default)]
    started_at: String,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    message: String,
}

impl DockerClient {
    /// A client for dockerd at `socket`; each call is limited to `timeout`.
    pub fn new(socket: PathBuf, timeout: Duration) -> Self {
        Self {
            socket,
            timeout,
            api_version: Mutex::new(None),
            started: Mutex::new(HashMap::new()),
        }
    }

    /// The socket this client talks to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The running containers (`all=false`), and the pods of the
    /// cri-dockerd sandboxes among them.
    pub async fn inventory(&self) -> Result<Inventory, RuntimeError> {
        let result = self.try_inventory().await;
        if result.is_err() {
            // The daemon may have been replaced by another version.
            *self
                .api_version
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = None;
        }
        result
    }

    async fn try_inventory(&self) -> Result<Inventory, RuntimeError> {
        let version = self.api_version().await?;
        const CALL: &str = "list containers";
        let body = self
            .get(
                CALL,
                &format!("/v{version}/containers/json?all=false"),
                LIST_LIMIT,
            )
            .await?;
        let listed: Vec<ListedContainer> = serde_json::from_slice(&body)
            .map_err(|source| RuntimeError::Json { call: CALL, source })?;
        self.learn_start_times(&version, &listed).await;
        let cache = self.started.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(build_inventory(listed, |id| {
            cache.get(id).copied().flatten()
        }))
    }

    async fn api_version(&self) -> Result<String, RuntimeError> {
        if let Some(v) = self
            .api_version
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        {
            return Ok(v);
        }
        const CALL: &str = "version";
        let body = self.get(CALL, "/version", INSPECT_LIMIT).await?;
        let reported: VersionBody = serde_json::from_slice(&body)
            .map_err(|source| RuntimeError::Json { call: CALL, source })?;
        let version = if is_api_version(&reported.api_version) {
            reported.api_version
        } else {
            FALLBACK_API_VERSION.to_owned()
        };
        debug!(socket = %self.socket.display(), api_version = %version, "Docker API version");
        *self
            .api_version
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(version.clone());
        Ok(version)
    }

    /// Inspects containers not seen before (at most
    /// [`MAX_INSPECTS_PER_PASS`], within one timeout's worth of time) and
    /// forgets those no longer listed.
    async fn learn_start_times(&self, version: &str, listed: &[ListedContainer]) {
        let new: Vec<&str> = {
            let cache = self.started.lock().unwrap_or_else(PoisonError::into_inner);
            listed
                .iter()
                .map(|c| c.id.as_str())
                .filter(|id| !cache.contains_key(*id) && is_container_id(id))
                .take(MAX_INSPECTS_PER_PASS)
                .collect()
        };
        let deadline = Instant::now() + self.timeout;
        let mut learned = Vec::with_capacity(new.len());
        for id in new {
            if Instant::now() >= deadline {
                break;
            }
            const CALL: &str = "inspect container";
            let path = format!("/v{version}/containers/{id}/json");
            match self.get(CALL, &path, INSPECT_LIMIT).await {
                Ok(body) => match serde_json::from_slice::<Inspected>(&body) {
                    Ok(inspected) => learned.push((id, started_at(&inspected))),
                    Err(error) => {
                        debug!(id, %error, "Unexpected container inspection");
                    }
                },
                // Gone since the listing: nothing to learn, nothing to retry.
                Err(RuntimeError::Status { status: 404, .. }) => learned.push((id, None)),
                Err(error) => {
                    // Left out of the cache, so the next pass tries again.
                    debug!(id, %error, "Container inspection failed");
                    if matches!(error, RuntimeError::Timeout { .. }) {
                        break;
                    }
                }
            }
        }
        let live: HashSet<&str> = listed.iter().map(|c| c.id.as_str()).collect();
        let mut cache = self.started.lock().unwrap_or_else(PoisonError::into_inner);
        cache.retain(|id, _| live.contains(id.as_str()));
        for (id, at) in learned {
            cache.insert(id.to_owned(), at);
        }
    }

    /// `GET path`, within the timeout, body capped at `limit`; a non-2xx
    /// status is an error carrying dockerd's message.
    async fn get(
        &self,
        call: &'static str,
        path: &str,
        limit: usize,
    ) -> Result<Bytes, RuntimeError> {
        match tokio::time::timeout(self.timeout, self.get_unbounded(call, path, limit)).await {
            Ok(result) => result,
            Err(_) => Err(RuntimeError::Timeout {
                socket: self.socket.clone(),
                call,
                timeout: self.timeout,
            }),
        }
    }

    async fn get_unbounded(
        &self,
        call: &'static str,
        path: &str,
        limit: usize,
    ) -> Result<Bytes, RuntimeError> {
        let stream =
            UnixStream::connect(&self.socket)
                .await
                .map_err(|source| RuntimeError::Connect {
                    socket: self.socket.clone(),
                    source,
                })?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|source| RuntimeError::Http { call, source })?;
        // The connection task lives exactly as long as this request,
        // also when the timeout drops the request half-way.
        let _connection = AbortOnDrop(tokio::spawn(async move {
            if let Err(error) = connection.await {
                debug!(%error, "Docker connection ended");
            }
        }));
        let request = Request::get(path)
            .header(header::HOST, "docker")
            .header(header::ACCEPT, "application/json")
            .body(Empty::<Bytes>::new())
            .map_err(|source| RuntimeError::Request { call, source })?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|source| RuntimeError::Http { call, source })?;
        let status = response.status();
        let body = Limited::new(response.into_body(), limit)
            .collect()
            .await
            .map_err(|source| {
                if source.downcast_ref::<LengthLimitError>().is_some() {
                    RuntimeError::TooLarge { call, limit }
                } else {
                    RuntimeError::Body { call, source }
                }
            })?
            .to_bytes();
        if !status.is_success() {
            return Err(RuntimeError::Status {
                call,
                status: status.as_u16(),
                message: error_message(&body),
            });
        }
        Ok(body)
    }
}

/// Aborts a spawned task when dropped.
#[derive(Debug)]
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Builds the inventory from a listing; `started` looks up a container's
/// start time by full id.
pub(crate) fn build_inventory(
    listed: Vec<ListedContainer>,
    started: impl Fn(&str) -> Option<jiff::Timestamp>,
) -> Inventory {
    let mut inventory = Inventory::default();
    for c in listed {
        let raw = c.labels.unwrap_or_default();
        let docker_name = c
            .names
            .first()
            .map(|n| n.trim_start_matches('/').to_owned())
            .unwrap_or_default();
        let pod = labels::pod_ref(&raw);
        let started_at = started(&c.id);
        let info = if labels::is_cri_dockerd(&raw) {
            let sandbox = raw.get(DOCKER_TYPE).map(String::as_str) == Some(DOCKER_TYPE_SANDBOX);
            let (cri_labels, annotations) = labels::cri_view(&raw);
            if sandbox && let Some(pod) = &pod {
                inventory.add_pod(PodInfo {
                    uid: pod.uid.clone(),
                    name: pod.name.clone(),
                    namespace: pod.namespace.clone(),
                    labels: labels::pod_labels(&cri_labels),
                    annotations: annotations.clone(),
                    created_at: jiff::Timestamp::from_second(c.created)
                        .ok()
                        .filter(|_| c.created > 0),
                    sandbox_id: c.id.clone(),
                    runtime: RuntimeKind::Docker,
                });
            }
            let name = if sandbox {
                labels::SANDBOX_CONTAINER_NAME.to_owned()
            } else {
                raw.get(labels::CONTAINER_NAME)
                    .filter(|n| !n.is_empty())
                    .cloned()
                    .unwrap_or(docker_name)
            };
            ContainerInfo {
                id: c.id,
                name,
                image: c.image,
                labels: cri_labels,
                annotations,
                pod,
                sandbox_id: raw
                    .get(labels::DOCKER_SANDBOX_ID)
                    .filter(|_| !sandbox)
                    .cloned(),
                sandbox,
                started_at,
                runtime: RuntimeKind::Docker,
            }
        } else {
            ContainerInfo {
                id: c.id,
                name: docker_name,
                image: c.image,
                labels: raw.into_iter().collect::<BTreeMap<_, _>>(),
                annotations: BTreeMap::new(),
                pod,
                sandbox_id: None,
                sandbox: false,
                started_at,
                runtime: RuntimeKind::Docker,
            }
        };
        inventory.containers.insert(info.id.clone(), info);
    }
    inventory
}

/// `State.StartedAt`; Docker writes the zero time `0001-01-01T00:00:00Z`
/// for a container that never started.
fn started_at(inspected: &Inspected) -> Option<jiff::Timestamp> {
    let text = &inspected.state.as_ref()?.started_at;
    let at: jiff::Timestamp = text.parse().ok()?;
    (at > jiff::Timestamp::UNIX_EPOCH).then_some(at)
}

/// `1.41`-shaped: digits, one dot, digits.
fn is_api_version(v: &str) -> bool {
    v.split_once('.').is_some_and(|(major, minor)| {
        !major.is_empty()
            && !minor.is_empty()
            && major.bytes().all(|b| b.is_ascii_digit())
            && minor.bytes().all(|b| b.is_ascii_digit())
    })
}

/// Ids go into request paths: only accept what Docker ids look like.
fn is_container_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// dockerd's `{"message": …}`, or the start of whatever it sent.
fn error_message(body: &[u8]) -> String {
    if let Ok(e) = serde_json::from_slice::<ErrorBody>(body) {
        return e.message;
    }
    let text = String::from_utf8_lossy(body);
    text.chars().take(200).collect::<String>().trim().to_owned()
}

/// The Engine answers the agent decodes, from outside bytes, as the client
/// decodes them (`fuzz/`): a listing, a version, an inspection and an
/// error body. Never panics.
#[cfg(feature = "fuzzing")]
pub fn fuzz_answers(body: &[u8]) {
    if let Ok(listed) = serde_json::from_slice::<Vec<ListedContainer>>(body) {
        let ids: Vec<bool> = listed.iter().map(|c| is_container_id(&c.id)).collect();
        let inventory = build_inventory(listed, |_| Some(jiff::Timestamp::UNIX_EPOCH));
        std::hint::black_box((ids, inventory));
    }
    if let Ok(reported) = serde_json::from_slice::<VersionBody>(body) {
        std::hint::black_box(is_api_version(&reported.api_version));
    }
    if let Ok(inspected) = serde_json::from_slice::<Inspected>(body) {
        std::hint::black_box(started_at(&inspected));
    }
    std::hint::black_box(error_message(body));
}

#[cfg(test)]
mod tests {
    use super::*;

    // Recorded from Debian's docker.io 20.10.24 (API 1.41) running the
    // containers of `tests/docker_runtime.rs`: a plain container and a
    // cri-dockerd-style pod (sandbox + two app containers).
    const LIST: &str = include_str!("testdata/docker_containers.json");
    const INSPECT: &str = include_str!("testdata/docker_inspect.json");

    fn listed() -> Vec<ListedContainer> {
        serde_json::from_str(LIST).unwrap()
    }

    #[test]
    fn recorded_listing() {
        let at: jiff::Timestamp = "2026-11-23T13:00:00Z".parse().unwrap();
        let inv = build_inventory(listed(), |_| Some(at));
        assert_eq!(inv.containers.len(), 4, "{inv:#?}");

        let web = inv.containers.values().find(|c| c.name == "web").unwrap();
        assert_eq!(web.image, "workingset-busybox:test");
        assert_eq!(web.labels["tier"], "frontend");
        assert_eq!(web.pod, None);
        assert!(!web.sandbox);
        assert_eq!(web.started_at, Some(at));
        assert_eq!(web.runtime, RuntimeKind::Docker);

        let uid = "3f7c2a5e-1b2d-4c8e-9a6f-0d1e2f3a4b5c";
        let pod = &inv.pods[uid];
        assert_eq!(
            (pod.namespace.as_str(), pod.name.as_str()),
            ("myns", "mypod")
        );
        assert_eq!(pod.labels.len(), 1, "{:?}", pod.labels);
        assert_eq!(pod.labels["app"], "demo");
        assert_eq!(pod.annotations["kubernetes.io/config.source"], "api");
        assert!(pod.created_at.is_some());

        let sandbox = &inv.containers[&pod.sandbox_id];
        assert!(sandbox.sandbox);
        assert_eq!(sandbox.name, "POD");
        assert!(!sandbox.labels.contains_key(labels::CONTAINER_NAME));

        let mut apps: Vec<&ContainerInfo> = inv
            .containers
            .values()
            .filter(|c| !c.sandbox && c.pod.is_some())
            .collect();
        apps.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(
            apps.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            ["app", "sidecar"]
        );
        for app in apps {
            let r = app.pod.as_ref().unwrap();
            assert_eq!(
                (r.namespace.as_str(), r.name.as_str(), r.uid.as_str()),
                ("myns", "mypod", uid)
            );
            assert_eq!(app.sandbox_id.as_deref(), Some(pod.sandbox_id.as_str()));
            assert!(!app.labels.contains_key(labels::DOCKER_TYPE));
            assert!(
                app.annotations
                    .contains_key("io.kubernetes.container.restartCount")
            );
        }
    }

    #[test]
    fn recorded_inspection() {
        let inspected: Inspected = serde_json::from_str(INSPECT).unwrap();
        let at = started_at(&inspected).unwrap();
        assert!(at > "2026-01-01T00:00:00Z".parse().unwrap(), "{at}");
    }

    #[test]
    fn never_started_is_none() {
        let inspected: Inspected =
            serde_json::from_str(r#"{"State":{"StartedAt":"0001-01-01T00:00:00Z"}}"#).unwrap();
        assert_eq!(started_at(&inspected), None);
    }

    #[test]
    fn null_labels_and_missing_names() {
        let listed: Vec<ListedContainer> =
            serde_json::from_str(r#"[{"Id":"abc","Labels":null,"Image":"x"}]"#).unwrap();
        let inv = build_inventory(listed, |_| None);
        assert_eq!(inv.containers["abc"].name, "");
        assert!(inv.containers["abc"].labels.is_empty());
    }

    #[test]
    fn api_versions_and_ids() {
        assert!(is_api_version("1.41"));
        assert!(is_api_version("1.51"));
        assert!(!is_api_version("1"));
        assert!(!is_api_version("1.4a"));
        assert!(!is_api_version("../x"));
        assert!(is_container_id("0123abcd"));
        assert!(!is_container_id("../../x"));
        assert!(!is_container_id(""));
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            error_message(br#"{"message":"No such container: x"}"#),
            "No such container: x"
        );
        assert_eq!(error_message(b"404 page not found\n"), "404 page not found");
    }

    /// A fake dockerd on a unix socket that answers each request with the
    /// next canned response, to test the client's HTTP handling.
    async fn fake_dockerd(
        dir: &Path,
        responses: Vec<&'static str>,
    ) -> (PathBuf, tokio::task::JoinHandle<()>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let path = dir.join("docker.sock");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        let task = tokio::spawn(async move {
            for response in responses {
                let (mut stream, _) = listener.accept().await.unwrap();
                let mut buf = vec![0u8; 4096];
                let mut read = 0;
                while !buf[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = stream.read(&mut buf[read..]).await.unwrap();
                    if n == 0 {
                        break;
                    }
                    read += n;
                }
                stream.write_all(response.as_bytes()).await.unwrap();
                stream.shutdown().await.unwrap();
            }
        });
        (path, task)
    }

    fn ok(body: &str) -> &'static str {
        Box::leak(
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_boxed_str(),
        )
    }

    #[tokio::test]
    async fn negotiates_lists_and_inspects_over_a_socket() {
        let dir = tempfile::tempdir().unwrap();
        let (path, server) = fake_dockerd(
            dir.path(),
            vec![
                ok(r#"{"ApiVersion":"1.41","Version":"20.10.24"}"#),
                ok(r#"[{"Id":"aaaa","Names":["/web"],"Image":"img","Labels":{"k":"v"},"Created":1}]"#),
                ok(r#"{"State":{"StartedAt":"2026-11-23T12:58:18.738259196Z"}}"#),
            ],
        )
        .await;
        let client = DockerClient::new(path, Duration::from_secs(5));
        let inv = client.inventory().await.unwrap();
        server.await.unwrap();
        let web = &inv.containers["aaaa"];
        assert_eq!(web.name, "web");
        assert_eq!(
            web.started_at.map(|t| t.to_string()).as_deref(),
            Some("2026-11-23T12:58:18.738259196Z")
        );
    }

    #[tokio::test]
    async fn error_status_carries_the_message() {
        let dir = tempfile::tempdir().unwrap();
        let body = r#"{"message":"client version 1.41 is too old. Minimum supported API version is 1.44"}"#;
        let response: &'static str = Box::leak(
            format!(
                "HTTP/1.1 400 Bad Request\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_boxed_str(),
        );
        let (path, server) =
            fake_dockerd(dir.path(), vec![ok(r#"{"ApiVersion":"1.41"}"#), response]).await;
        let client = DockerClient::new(path, Duration::from_secs(5));
        let err = client.inventory().await.unwrap_err();
        server.await.unwrap();
        assert!(
            matches!(&err, RuntimeError::Status { status: 400, message, .. } if message.contains("too old")),
            "{err}"
        );
        // Renegotiated on the next pass.
        assert!(client.api_version.lock().unwrap().is_none());
    }

    #[tokio::test]
    async fn oversized_responses_are_cut() {
        let dir = tempfile::tempdir().unwrap();
        let big: &'static str = Box::leak(
            format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{}",
                INSPECT_LIMIT + 1,
                "x".repeat(INSPECT_LIMIT + 1)
            )
            .into_boxed_str(),
        );
        let (path, server) = fake_dockerd(dir.path(), vec![big]).await;
        let client = DockerClient::new(path, Duration::from_secs(5));
        let err = client.inventory().await.unwrap_err();
        server.abort();
        assert!(matches!(err, RuntimeError::TooLarge { .. }), "{err}");
    }

    #[tokio::test]
    async fn a_silent_daemon_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("docker.sock");
        // Accepts (the kernel does, via the backlog) but never answers.
        let _listener = tokio::net::UnixListener::bind(&path).unwrap();
        let client = DockerClient::new(path, Duration::from_millis(200));
        let started = Instant::now();
        let err = client.inventory().await.unwrap_err();
        assert!(matches!(err, RuntimeError::Timeout { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
