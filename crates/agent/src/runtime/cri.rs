//! CRI client (runtime.v1 over gRPC on a unix socket): pods and containers
//! as containerd, CRI-O or cri-dockerd report them to the kubelet.
//!
//! One pass is `Version` (which runtime this is), `ListPodSandbox` (ready
//! sandboxes: pod name, namespace, UID, labels, annotations, creation
//! time) and `ListContainers` (running containers: name, image, labels,
//! sandbox id, creation time), with the messages of [`super::cri_api`]; the
//! channel is built per pass over a fresh `UnixStream`, which costs one
//! HTTP/2 handshake on a local socket and leaves no background task tied to
//! whichever tokio runtime happened to make it.
//!
//! A sandbox is the pod's pause container, and its id is that container's
//! id (the cgroup is named after it), so every sandbox is also listed as a
//! [`ContainerInfo`] with `sandbox: true`. CRI containers have no start
//! time in the listing; their `created_at` is used, as the kubelet does for
//! container start times in CRI stats.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tonic::transport::{Endpoint, Uri};

use super::cri_api::{
    CONTAINER_RUNNING, Container, ContainerFilter, ContainerStateValue, ListContainersRequest,
    ListPodSandboxRequest, PodSandbox, PodSandboxFilter, PodSandboxStateValue,
    RuntimeServiceClient, SANDBOX_READY, VersionRequest,
};
use super::labels;
use super::{ContainerInfo, Inventory, PodInfo, PodRef, RuntimeError, RuntimeKind};

/// Cap on one CRI response, as the kubelet sets it: listings of a full node
/// fit with room to spare.
const MAX_MESSAGE: usize = 16 << 20;
/// CRI API version this client speaks.
const CRI_VERSION: &str = "v1";

/// A client for one CRI socket.
#[derive(Debug)]
pub struct CriClient {
    socket: PathBuf,
    timeout: Duration,
}

impl CriClient {
    /// A client for the CRI runtime at `socket`; each call is limited to
    /// `timeout`.
    pub fn new(socket: PathBuf, timeout: Duration) -> Self {
        Self { socket, timeout }
    }

    /// The socket this client talks to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Ready sandboxes (as pods and sandbox containers) and running
    /// containers.
    pub async fn inventory(&self) -> Result<Inventory, RuntimeError> {
        let mut client = self.connect().await?;
        let version = self
            .call("Version", async {
                client
                    .version(VersionRequest {
                        version: CRI_VERSION.to_owned(),
                    })
                    .await
            })
            .await?;
        let kind = RuntimeKind::from_cri_name(&version.runtime_name);
        let sandboxes = self
            .call("ListPodSandbox", async {
                client.list_pod_sandbox(ready_sandboxes()).await
            })
            .await?
            .items;
        let containers = self
            .call("ListContainers", async {
                client.list_containers(running_containers()).await
            })
            .await?
            .containers;
        Ok(build_inventory(kind, sandboxes, containers))
    }

    /// A connected `RuntimeService` client for this socket (what
    /// [`inventory`](Self::inventory) uses; tests drive sandboxes with it).
    pub async fn connect(&self) -> Result<RuntimeServiceClient, RuntimeError> {
        // The URI is required by tonic but never resolved: the connector
        // always dials the socket.
        let endpoint = Endpoint::from_static("http://localhost")
            .connect_timeout(self.timeout)
            .timeout(self.timeout);
        let connect = endpoint.connect_with_connector(UnixConnector(Arc::new(self.socket.clone())));
        let channel = match tokio::time::timeout(self.timeout, connect).await {
            Ok(result) => result.map_err(|source| RuntimeError::Transport {
                socket: self.socket.clone(),
                source,
            })?,
            Err(_) => {
                return Err(RuntimeError::Timeout {
                    socket: self.socket.clone(),
                    call: "connect",
                    timeout: self.timeout,
                });
            }
        };
        Ok(RuntimeServiceClient::new(channel, MAX_MESSAGE))
    }

    async fn call<T>(
        &self,
        call: &'static str,
        request: impl Future<Output = Result<T, tonic::Status>>,
    ) -> Result<T, RuntimeError> {
        match tokio::time::timeout(self.timeout, request).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(status)) => Err(RuntimeError::Grpc {
                call,
                source: Box::new(status),
            }),
            Err(_) => Err(RuntimeError::Timeout {
                socket: self.socket.clone(),
                call,
                timeout: self.timeout,
            }),
        }
    }
}

/// Dials the CRI socket for tonic.
#[derive(Debug, Clone)]
struct UnixConnector(Arc<PathBuf>);

impl tower::Service<Uri> for UnixConnector {
    type Response = TokioIo<UnixStream>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = std::io::Result<TokioIo<UnixStream>>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Uri) -> Self::Future {
        let path = Arc::clone(&self.0);
        Box::pin(async move { Ok(TokioIo::new(UnixStream::connect(&*path).await?)) })
    }
}

/// The `ListPodSandbox` request for the pods that run now: only sandboxes
/// in state `SANDBOX_READY` (a stopped sandbox's pod has no containers to
/// name).
pub fn ready_sandboxes() -> ListPodSandboxRequest {
    ListPodSandboxRequest {
        filter: Some(PodSandboxFilter {
            state: Some(PodSandboxStateValue {
                state: SANDBOX_READY,
            }),
            ..PodSandboxFilter::default()
        }),
    }
}

/// The `ListContainers` request for containers that run now (a created or
/// exited container has no processes to measure).
pub fn running_containers() -> ListContainersRequest {
    ListContainersRequest {
        filter: Some(ContainerFilter {
            state: Some(ContainerStateValue {
                state: CONTAINER_RUNNING,
            }),
            ..ContainerFilter::default()
        }),
    }
}

/// Builds the inventory from CRI listings.
pub fn build_inventory(
    kind: RuntimeKind,
    sandboxes: Vec<PodSandbox>,
    containers: Vec<Container>,
) -> Inventory {
    let mut inventory = Inventory::default();
    let mut pods_by_sandbox: HashMap<String, PodRef> = HashMap::new();
    for sandbox in sandboxes {
        let pod = match &sandbox.metadata {
            Some(m) if !m.uid.is_empty() => Some(PodRef {
                name: m.name.clone(),
                namespace: m.namespace.clone(),
                uid: m.uid.clone(),
            }),
            _ => labels::pod_ref(&sandbox.labels),
        };
        let Some(pod) = pod else {
            // Not made by a kubelet: no pod to name.
            continue;
        };
        let cri_labels: BTreeMap<String, String> = sandbox.labels.into_iter().collect();
        let annotations: BTreeMap<String, String> = sandbox.annotations.into_iter().collect();
        let created_at = super::timestamp_from_nanos(sandbox.created_at);
        inventory.add_pod(PodInfo {
            uid: pod.uid.clone(),
            name: pod.name.clone(),
            namespace: pod.namespace.clone(),
            labels: labels::pod_labels(&cri_labels),
            annotations: annotations.clone(),
            created_at,
            sandbox_id: sandbox.id.clone(),
            runtime: kind,
        });
        pods_by_sandbox.insert(sandbox.id.clone(), pod.clone());
        inventory.containers.insert(
            sandbox.id.clone(),
            ContainerInfo {
                id: sandbox.id,
                name: labels::SANDBOX_CONTAINER_NAME.to_owned(),
                image: String::new(),
                labels: cri_labels,
                annotations,
                pod: Some(pod),
                sandbox_id: None,
                sandbox: true,
                started_at: created_at,
                runtime: kind,
            },
        );
    }
    for c in containers {
        let name = c
            .metadata
            .as_ref()
            .map(|m| m.name.clone())
            .filter(|n| !n.is_empty())
            .or_else(|| c.labels.get(labels::CONTAINER_NAME).cloned())
            .unwrap_or_default();
        let image = c
            .image
            .as_ref()
            .and_then(|spec| {
                // The kubelet sends the resolved image id as `image` and the
                // pod spec's text as `user_specified_image` (CRI ≥ 1.30).
                [&spec.user_specified_image, &spec.image]
                    .into_iter()
                    .find(|s| !s.is_empty())
                    .cloned()
            })
            .unwrap_or(c.image_ref);
        let pod = pods_by_sandbox
            .get(&c.pod_sandbox_id)
            .cloned()
            .or_else(|| labels::pod_ref(&c.labels));
        inventory.containers.insert(
            c.id.clone(),
            ContainerInfo {
                id: c.id,
                name,
                image,
                labels: c.labels.into_iter().collect(),
                annotations: c.annotations.into_iter().collect(),
                pod,
                sandbox_id: Some(c.pod_sandbox_id).filter(|s| !s.is_empty()),
                sandbox: false,
                started_at: super::timestamp_from_nanos(c.created_at),
                runtime: kind,
            },
        );
    }
    inventory
}

/// The CRI answers the agent decodes, from outside bytes (`fuzz/`): the
/// two listings as protobuf, then the inventory built from them, for each
/// runtime. Never panics.
#[cfg(feature = "fuzzing")]
pub fn fuzz_answers(sandboxes: &[u8], containers: &[u8]) {
    use prost::Message as _;
    let sandboxes = super::cri_api::ListPodSandboxResponse::decode(sandboxes)
        .map(|answer| answer.items)
        .unwrap_or_default();
    let containers = super::cri_api::ListContainersResponse::decode(containers)
        .map(|answer| answer.containers)
        .unwrap_or_default();
    for kind in [
        RuntimeKind::Containerd,
        RuntimeKind::CriO,
        RuntimeKind::Docker,
    ] {
        std::hint::black_box(build_inventory(kind, sandboxes.clone(), containers.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::super::cri_api::{ListContainersResponse, ListPodSandboxResponse, VersionResponse};
    use prost::Message;

    use super::*;

    // Recorded from Debian's containerd 1.6.20 (CRI plugin) running the
    // pod of `tests/cri_runtime.rs`: one host-network sandbox with labels
    // and annotations, two running app containers.
    const SANDBOXES: &[u8] = include_bytes!("testdata/cri_list_pod_sandbox.pb");
    const CONTAINERS: &[u8] = include_bytes!("testdata/cri_list_containers.pb");
    const VERSION: &[u8] = include_bytes!("testdata/cri_version.pb");

    #[test]
    fn recorded_responses() {
        let version = VersionResponse::decode(VERSION).unwrap();
        assert_eq!(version.runtime_name, "containerd");
        let kind = RuntimeKind::from_cri_name(&version.runtime_name);
        let sandboxes = ListPodSandboxResponse::decode(SANDBOXES).unwrap().items;
        let containers = ListContainersResponse::decode(CONTAINERS)
            .unwrap()
            .containers;
        let inv = build_inventory(kind, sandboxes, containers);

        assert_eq!(inv.pods.len(), 1, "{inv:#?}");
        let pod = inv.pods.values().next().unwrap();
        assert_eq!(
            (pod.namespace.as_str(), pod.name.as_str()),
            ("crins", "cripod")
        );
        assert_eq!(pod.labels.len(), 1, "{:?}", pod.labels);
        assert_eq!(pod.labels["app"], "demo");
        assert_eq!(pod.annotations["example.com/note"], "recorded");
        assert_eq!(pod.runtime, RuntimeKind::Containerd);
        assert!(pod.created_at.is_some());

        let sandbox = &inv.containers[&pod.sandbox_id];
        assert!(sandbox.sandbox);
        assert_eq!(sandbox.pod.as_ref().unwrap().uid, pod.uid);

        let mut apps: Vec<&ContainerInfo> =
            inv.containers.values().filter(|c| !c.sandbox).collect();
        apps.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(
            apps.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            ["app", "sidecar"]
        );
        for app in apps {
            assert_eq!(app.pod.as_ref().unwrap().uid, pod.uid);
            assert_eq!(app.sandbox_id.as_deref(), Some(pod.sandbox_id.as_str()));
            assert!(!app.image.is_empty());
            assert!(app.started_at.is_some());
        }
    }

    #[test]
    fn sandbox_without_metadata_falls_back_to_labels() {
        let sandbox = PodSandbox {
            id: "s1".into(),
            labels: [
                (labels::POD_NAME, "p"),
                (labels::POD_NAMESPACE, "n"),
                (labels::POD_UID, "u"),
                ("tier", "db"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
            ..PodSandbox::default()
        };
        let orphan = Container {
            id: "c1".into(),
            pod_sandbox_id: "gone".into(),
            labels: sandbox.labels.clone(),
            ..Container::default()
        };
        let inv = build_inventory(RuntimeKind::CriO, vec![sandbox], vec![orphan]);
        assert_eq!(inv.pods["u"].labels.len(), 1);
        assert_eq!(inv.containers["c1"].pod.as_ref().unwrap().name, "p");
        assert_eq!(inv.containers["c1"].runtime, RuntimeKind::CriO);
    }
}
