//! The subset of the CRI v1 protobuf API (`runtime.v1`) the agent speaks,
//! declared with `prost` derives, and a client for it on tonic's generic
//! gRPC client.
//!
//! The agent makes three calls (`Version`, `ListPodSandbox`,
//! `ListContainers`); declaring their messages here, with the field numbers
//! of the upstream `api.proto` (`k8s.io/cri-api/pkg/apis/runtime/v1`),
//! keeps the build free of `protoc` and of the obsolete `v1alpha2` API a
//! generated crate also compiles. Only the fields we read or send are
//! declared: protobuf decoders skip the others, and the fields we leave out
//! of a request are the defaults a runtime expects anyway. Enums are kept
//! as `i32`, as prost does for open enums. Tests that drive a runtime
//! through more calls declare those messages themselves and send them with
//! [`RuntimeServiceClient::unary`].

use std::collections::HashMap;

use http::uri::PathAndQuery;
use tonic::transport::Channel;

/// The gRPC service every CRI runtime serves.
pub const SERVICE: &str = "runtime.v1.RuntimeService";

/// `PodSandboxState.SANDBOX_READY`.
pub const SANDBOX_READY: i32 = 0;
/// `PodSandboxState.SANDBOX_NOTREADY`.
pub const SANDBOX_NOTREADY: i32 = 1;
/// `ContainerState.CONTAINER_CREATED`.
pub const CONTAINER_CREATED: i32 = 0;
/// `ContainerState.CONTAINER_RUNNING`.
pub const CONTAINER_RUNNING: i32 = 1;
/// `ContainerState.CONTAINER_EXITED`.
pub const CONTAINER_EXITED: i32 = 2;

/// `VersionRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct VersionRequest {
    /// The CRI API version the client speaks.
    #[prost(string, tag = "1")]
    pub version: String,
}

/// `VersionResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct VersionResponse {
    /// Version of the kubelet runtime API.
    #[prost(string, tag = "1")]
    pub version: String,
    /// `containerd`, `cri-o`, `docker` (cri-dockerd), …
    #[prost(string, tag = "2")]
    pub runtime_name: String,
    /// The runtime's own version.
    #[prost(string, tag = "3")]
    pub runtime_version: String,
    /// The CRI API version the runtime speaks.
    #[prost(string, tag = "4")]
    pub runtime_api_version: String,
}

/// `ListPodSandboxRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ListPodSandboxRequest {
    /// Which sandboxes; none = all.
    #[prost(message, optional, tag = "1")]
    pub filter: Option<PodSandboxFilter>,
}

/// `PodSandboxFilter`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PodSandboxFilter {
    /// One sandbox by id.
    #[prost(string, tag = "1")]
    pub id: String,
    /// Only sandboxes in this state.
    #[prost(message, optional, tag = "2")]
    pub state: Option<PodSandboxStateValue>,
    /// Only sandboxes with all these labels.
    #[prost(map = "string, string", tag = "3")]
    pub label_selector: HashMap<String, String>,
}

/// `PodSandboxStateValue`: a state that can be absent.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PodSandboxStateValue {
    /// [`SANDBOX_READY`] or [`SANDBOX_NOTREADY`].
    #[prost(int32, tag = "1")]
    pub state: i32,
}

/// `ListPodSandboxResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ListPodSandboxResponse {
    /// The sandboxes.
    #[prost(message, repeated, tag = "1")]
    pub items: Vec<PodSandbox>,
}

/// `PodSandbox`: a pod's sandbox as listed.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PodSandbox {
    /// Sandbox id (the pause container's id).
    #[prost(string, tag = "1")]
    pub id: String,
    /// Pod name, namespace, UID.
    #[prost(message, optional, tag = "2")]
    pub metadata: Option<PodSandboxMetadata>,
    /// [`SANDBOX_READY`] or [`SANDBOX_NOTREADY`].
    #[prost(int32, tag = "3")]
    pub state: i32,
    /// Creation time, nanoseconds since the epoch.
    #[prost(int64, tag = "4")]
    pub created_at: i64,
    /// The pod's labels plus the kubelet's `io.kubernetes.pod.*`.
    #[prost(map = "string, string", tag = "5")]
    pub labels: HashMap<String, String>,
    /// The pod's annotations.
    #[prost(map = "string, string", tag = "6")]
    pub annotations: HashMap<String, String>,
}

/// `PodSandboxMetadata`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PodSandboxMetadata {
    /// Pod name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Pod UID.
    #[prost(string, tag = "2")]
    pub uid: String,
    /// Pod namespace.
    #[prost(string, tag = "3")]
    pub namespace: String,
    /// Sandbox attempt number.
    #[prost(uint32, tag = "4")]
    pub attempt: u32,
}

/// `ListContainersRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ListContainersRequest {
    /// Which containers; none = all.
    #[prost(message, optional, tag = "1")]
    pub filter: Option<ContainerFilter>,
}

/// `ContainerFilter`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ContainerFilter {
    /// One container by id.
    #[prost(string, tag = "1")]
    pub id: String,
    /// Only containers in this state.
    #[prost(message, optional, tag = "2")]
    pub state: Option<ContainerStateValue>,
    /// Only containers of this sandbox.
    #[prost(string, tag = "3")]
    pub pod_sandbox_id: String,
    /// Only containers with all these labels.
    #[prost(map = "string, string", tag = "4")]
    pub label_selector: HashMap<String, String>,
}

/// `ContainerStateValue`: a state that can be absent.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ContainerStateValue {
    /// [`CONTAINER_RUNNING`] and friends.
    #[prost(int32, tag = "1")]
    pub state: i32,
}

/// `ListContainersResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ListContainersResponse {
    /// The containers.
    #[prost(message, repeated, tag = "1")]
    pub containers: Vec<Container>,
}

/// `Container`: a container as listed.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Container {
    /// Container id (its cgroup's name).
    #[prost(string, tag = "1")]
    pub id: String,
    /// The sandbox it runs in.
    #[prost(string, tag = "2")]
    pub pod_sandbox_id: String,
    /// Its name in the pod spec.
    #[prost(message, optional, tag = "3")]
    pub metadata: Option<ContainerMetadata>,
    /// The image as the kubelet asked for it.
    #[prost(message, optional, tag = "4")]
    pub image: Option<ImageSpec>,
    /// The image reference the runtime resolved.
    #[prost(string, tag = "5")]
    pub image_ref: String,
    /// [`CONTAINER_RUNNING`] and friends.
    #[prost(int32, tag = "6")]
    pub state: i32,
    /// Creation time, nanoseconds since the epoch.
    #[prost(int64, tag = "7")]
    pub created_at: i64,
    /// Labels (the kubelet's `io.kubernetes.*` among them).
    #[prost(map = "string, string", tag = "8")]
    pub labels: HashMap<String, String>,
    /// Annotations.
    #[prost(map = "string, string", tag = "9")]
    pub annotations: HashMap<String, String>,
}

/// `ContainerMetadata`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ContainerMetadata {
    /// Container name in the pod spec.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Restart attempt.
    #[prost(uint32, tag = "2")]
    pub attempt: u32,
}

/// `ImageSpec`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ImageSpec {
    /// The resolved image (id or reference).
    #[prost(string, tag = "1")]
    pub image: String,
    /// The image as the pod spec wrote it (CRI ≥ 1.30).
    #[prost(string, tag = "18")]
    pub user_specified_image: String,
}

/// A `RuntimeService` client over one channel: the three calls the agent
/// makes, and [`unary`](Self::unary) for any other.
#[derive(Debug, Clone)]
pub struct RuntimeServiceClient {
    grpc: tonic::client::Grpc<Channel>,
}

impl RuntimeServiceClient {
    /// A client on `channel`; responses larger than `max_message` bytes
    /// are refused.
    pub fn new(channel: Channel, max_message: usize) -> Self {
        Self {
            grpc: tonic::client::Grpc::new(channel).max_decoding_message_size(max_message),
        }
    }

    /// `RuntimeService/<method>` with a protobuf request and response.
    pub async fn unary<Request, Response>(
        &mut self,
        method: &str,
        request: Request,
    ) -> Result<Response, tonic::Status>
    where
        Request: prost::Message + Send + Sync + 'static,
        Response: prost::Message + Default + Send + Sync + 'static,
    {
        self.grpc.ready().await.map_err(|error| {
            tonic::Status::unavailable(format!("the CRI channel is not ready: {error}"))
        })?;
        let path = PathAndQuery::try_from(format!("/{SERVICE}/{method}"))
            .map_err(|error| tonic::Status::internal(format!("method {method:?}: {error}")))?;
        let codec = tonic_prost::ProstCodec::<Request, Response>::default();
        let response = self
            .grpc
            .unary(tonic::Request::new(request), path, codec)
            .await?;
        Ok(response.into_inner())
    }

    /// `Version`.
    pub async fn version(
        &mut self,
        request: VersionRequest,
    ) -> Result<VersionResponse, tonic::Status> {
        self.unary("Version", request).await
    }

    /// `ListPodSandbox`.
    pub async fn list_pod_sandbox(
        &mut self,
        request: ListPodSandboxRequest,
    ) -> Result<ListPodSandboxResponse, tonic::Status> {
        self.unary("ListPodSandbox", request).await
    }

    /// `ListContainers`.
    pub async fn list_containers(
        &mut self,
        request: ListContainersRequest,
    ) -> Result<ListContainersResponse, tonic::Status> {
        self.unary("ListContainers", request).await
    }
}
