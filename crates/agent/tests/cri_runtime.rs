#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Runtime metadata over the CRI.
//!
//! - `containerd_cri_pod`: a private Debian containerd with its CRI plugin
//!   (see `workingset_testkit::docker::Containerd`), a host-network pod
//!   sandbox and two app containers created through the CRI as the kubelet
//!   would, and what `RuntimeClients::inventory` makes of them. Fails
//!   loudly when containerd cannot run here, unless
//!   `WORKINGSET_SKIP_DOCKER=1`. With `WORKINGSET_RECORD_RUNTIME=<dir>` the
//!   CRI answers are written there as protobuf (the unit tests' recordings
//!   in `src/runtime/testdata/` come from this test).
//! - `recorded_answers_over_a_unix_socket`: those recordings served by a
//!   tonic server on a unix socket, so the client's transport is tested
//!   wherever the test runs.
//!
//! The agent declares only the messages of the calls it makes
//! (`workingset_agent::runtime::cri_api`); the calls that create a pod as
//! the kubelet would are declared below, in the same way, with the field
//! numbers of the upstream `runtime.v1` `api.proto`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use prost::Message;
use tonic::{Request, Response, Status};
use workingset_agent::runtime::cri_api::*;
use workingset_agent::runtime::{
    CriClient, Inventory, RuntimeClients, RuntimeConfig, RuntimeKind, cri, labels,
};
use workingset_sampling::discovery::{self, CgroupKind};
use workingset_testkit::docker::{self, Containerd, PAUSE_CMD};

// --- the CRI calls the test makes as the kubelet would ---------------------

/// `NamespaceMode.POD`.
const NAMESPACE_POD: i32 = 0;
/// `NamespaceMode.CONTAINER`.
const NAMESPACE_CONTAINER: i32 = 1;
/// `NamespaceMode.NODE`.
const NAMESPACE_NODE: i32 = 2;

#[derive(Clone, PartialEq, Message)]
struct NamespaceOption {
    #[prost(int32, tag = "1")]
    network: i32,
    #[prost(int32, tag = "2")]
    pid: i32,
    #[prost(int32, tag = "3")]
    ipc: i32,
}

#[derive(Clone, PartialEq, Message)]
struct LinuxSandboxSecurityContext {
    #[prost(message, optional, tag = "1")]
    namespace_options: Option<NamespaceOption>,
}

#[derive(Clone, PartialEq, Message)]
struct LinuxPodSandboxConfig {
    #[prost(string, tag = "1")]
    cgroup_parent: String,
    #[prost(message, optional, tag = "2")]
    security_context: Option<LinuxSandboxSecurityContext>,
}

#[derive(Clone, PartialEq, Message)]
struct PodSandboxConfig {
    #[prost(message, optional, tag = "1")]
    metadata: Option<PodSandboxMetadata>,
    #[prost(string, tag = "2")]
    hostname: String,
    #[prost(string, tag = "3")]
    log_directory: String,
    #[prost(map = "string, string", tag = "6")]
    labels: HashMap<String, String>,
    #[prost(map = "string, string", tag = "7")]
    annotations: HashMap<String, String>,
    #[prost(message, optional, tag = "8")]
    linux: Option<LinuxPodSandboxConfig>,
}

#[derive(Clone, PartialEq, Message)]
struct RunPodSandboxRequest {
    #[prost(message, optional, tag = "1")]
    config: Option<PodSandboxConfig>,
    #[prost(string, tag = "2")]
    runtime_handler: String,
}

#[derive(Clone, PartialEq, Message)]
struct RunPodSandboxResponse {
    #[prost(string, tag = "1")]
    pod_sandbox_id: String,
}

#[derive(Clone, PartialEq, Message)]
struct LinuxContainerSecurityContext {
    #[prost(message, optional, tag = "3")]
    namespace_options: Option<NamespaceOption>,
}

#[derive(Clone, PartialEq, Message)]
struct LinuxContainerConfig {
    #[prost(message, optional, tag = "2")]
    security_context: Option<LinuxContainerSecurityContext>,
}

#[derive(Clone, PartialEq, Message)]
struct ContainerConfig {
    #[prost(message, optional, tag = "1")]
    metadata: Option<ContainerMetadata>,
    #[prost(message, optional, tag = "2")]
    image: Option<ImageSpec>,
    #[prost(string, repeated, tag = "3")]
    command: Vec<String>,
    #[prost(map = "string, string", tag = "9")]
    labels: HashMap<String, String>,
    #[prost(map = "string, string", tag = "10")]
    annotations: HashMap<String, String>,
    #[prost(string, tag = "11")]
    log_path: String,
    #[prost(message, optional, tag = "15")]
    linux: Option<LinuxContainerConfig>,
}

#[derive(Clone, PartialEq, Message)]
struct CreateContainerRequest {
    #[prost(string, tag = "1")]
    pod_sandbox_id: String,
    #[prost(message, optional, tag = "2")]
    config: Option<ContainerConfig>,
    #[prost(message, optional, tag = "3")]
    sandbox_config: Option<PodSandboxConfig>,
}

#[derive(Clone, PartialEq, Message)]
struct CreateContainerResponse {
    #[prost(string, tag = "1")]
    container_id: String,
}

#[derive(Clone, PartialEq, Message)]
struct StartContainerRequest {
    #[prost(string, tag = "1")]
    container_id: String,
}

/// `StopPodSandboxRequest` and `RemovePodSandboxRequest` have this shape.
#[derive(Clone, PartialEq, Message)]
struct PodSandboxIdRequest {
    #[prost(string, tag = "1")]
    pod_sandbox_id: String,
}

/// The empty responses of `StartContainer`, `StopPodSandbox`, `RemovePodSandbox`.
#[derive(Clone, PartialEq, Message)]
struct Empty {}

const IMAGE: &str = "docker.io/library/workingset-busybox:test";
const UID: &str = "8d0f5b1c-2a3e-4f60-9b7c-1e2d3c4b5a69";
const TIMEOUT: Duration = Duration::from_secs(20);

fn strings(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Host network (no CNI here), own PID namespace, pod IPC: what the
/// kubelet asks for a `hostNetwork: true` pod.
fn host_network() -> NamespaceOption {
    NamespaceOption {
        network: NAMESPACE_NODE,
        pid: NAMESPACE_CONTAINER,
        ipc: NAMESPACE_POD,
    }
}

/// The sandbox config the kubelet would send for pod `crins/cripod`.
fn sandbox_config(cgroup_parent: &str, log_directory: &Path) -> PodSandboxConfig {
    PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: "cripod".into(),
            uid: UID.into(),
            namespace: "crins".into(),
            attempt: 0,
        }),
        // Host network means the host's UTS namespace: no hostname of its
        // own (runc refuses to set one).
        hostname: String::new(),
        log_directory: log_directory.display().to_string(),
        labels: strings(&[
            ("app", "demo"),
            (labels::POD_NAME, "cripod"),
            (labels::POD_NAMESPACE, "crins"),
            (labels::POD_UID, UID),
        ]),
        annotations: strings(&[
            ("kubernetes.io/config.source", "api"),
            ("example.com/note", "recorded"),
        ]),
        linux: Some(LinuxPodSandboxConfig {
            cgroup_parent: cgroup_parent.into(),
            security_context: Some(LinuxSandboxSecurityContext {
                namespace_options: Some(host_network()),
            }),
        }),
    }
}

fn container_config(name: &str) -> ContainerConfig {
    ContainerConfig {
        metadata: Some(ContainerMetadata {
            name: name.into(),
            attempt: 0,
        }),
        image: Some(ImageSpec {
            image: IMAGE.into(),
            user_specified_image: "workingset-busybox:test".into(),
        }),
        command: vec!["/bin/sleep".into(), "3600".into()],
        labels: strings(&[
            (labels::POD_NAME, "cripod"),
            (labels::POD_NAMESPACE, "crins"),
            (labels::POD_UID, UID),
            (labels::CONTAINER_NAME, name),
        ]),
        annotations: strings(&[
            ("io.kubernetes.container.restartCount", "0"),
            ("io.kubernetes.container.hash", "5e6f7a8b"),
        ]),
        log_path: format!("{name}/0.log"),
        linux: Some(LinuxContainerConfig {
            security_context: Some(LinuxContainerSecurityContext {
                namespace_options: Some(host_network()),
            }),
        }),
    }
}

fn start_containerd() -> Containerd {
    Containerd::start(IMAGE).unwrap_or_else(|e| {
        panic!(
            "cannot run a private containerd with CRI on this machine: {e}\n\
             (set {}=1 to skip the runtime tests)",
            docker::SKIP_ENV
        )
    })
}

/// The same requests `CriClient::inventory` makes, answers kept as bytes.
async fn record(client: &mut RuntimeServiceClient, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let version = client
        .version(VersionRequest {
            version: "v1".into(),
        })
        .await
        .unwrap();
    let sandboxes = client
        .list_pod_sandbox(cri::ready_sandboxes())
        .await
        .unwrap();
    let containers = client
        .list_containers(cri::running_containers())
        .await
        .unwrap();
    std::fs::write(dir.join("cri_version.pb"), version.encode_to_vec()).unwrap();
    std::fs::write(
        dir.join("cri_list_pod_sandbox.pb"),
        sandboxes.encode_to_vec(),
    )
    .unwrap();
    std::fs::write(
        dir.join("cri_list_containers.pb"),
        containers.encode_to_vec(),
    )
    .unwrap();
    eprintln!("recorded CRI answers in {}", dir.display());
}

fn memory_cgroup(pid: u32) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    text.lines()
        .find_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, controllers, path) = (f.next()?, f.next()?, f.next()?);
            controllers
                .split(',')
                .any(|c| c == "memory")
                .then(|| path.to_owned())
        })
        .or_else(|| {
            text.lines()
                .find_map(|l| l.strip_prefix("0::").map(str::to_owned))
        })
        .unwrap()
}

/// Pids whose memory cgroup ends in `/<id>`: the container's processes.
fn pids_in_container(id: &str) -> Vec<u32> {
    let suffix = format!("/{id}");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
                .is_ok_and(|_| memory_cgroup(*pid).ends_with(&suffix))
        })
        .collect()
}

#[test]
fn containerd_cri_pod() {
    if !docker::containerd_tests("containerd_cri_pod") {
        return;
    }
    let _exclusive = workingset_testkit::exclusive();
    let ctd = start_containerd();
    ctd.import_busybox_image(IMAGE, &PAUSE_CMD)
        .unwrap_or_else(|e| panic!("{e}\ncontainerd log:\n{}", ctd.log_tail(30)));
    let pod_cgroup = format!("{}/kubepods/besteffort/pod{UID}", ctd.cgroup_parent());
    let log_dir = ctd.scratch_dir().unwrap().join("pods");
    let sandbox_config = sandbox_config(&pod_cgroup, &log_dir);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cri = CriClient::new(ctd.socket_path().to_owned(), TIMEOUT);

    let result = rt.block_on(async {
        let mut client = cri.connect().await.unwrap();
        let sandbox = client
            .unary::<_, RunPodSandboxResponse>(
                "RunPodSandbox",
                RunPodSandboxRequest {
                    config: Some(sandbox_config.clone()),
                    runtime_handler: String::new(),
                },
            )
            .await
            .map_err(|s| format!("RunPodSandbox: {s}"))?
            .pod_sandbox_id;
        let mut apps = HashMap::new();
        for name in ["app", "sidecar"] {
            let id = client
                .unary::<_, CreateContainerResponse>(
                    "CreateContainer",
                    CreateContainerRequest {
                        pod_sandbox_id: sandbox.clone(),
                        config: Some(container_config(name)),
                        sandbox_config: Some(sandbox_config.clone()),
                    },
                )
                .await
                .map_err(|s| format!("CreateContainer {name}: {s}"))?
                .container_id;
            client
                .unary::<_, Empty>(
                    "StartContainer",
                    StartContainerRequest {
                        container_id: id.clone(),
                    },
                )
                .await
                .map_err(|s| format!("StartContainer {name}: {s}"))?;
            apps.insert(name, id);
        }
        let clients = RuntimeClients::new(&RuntimeConfig {
            docker_socket: None,
            cri_socket: Some(ctd.socket_path().to_owned()),
            timeout: TIMEOUT,
        });
        let inventory = clients.inventory().await;
        if let Some(dir) = std::env::var_os("WORKINGSET_RECORD_RUNTIME") {
            record(&mut client, Path::new(&dir)).await;
        }
        Ok::<_, String>((client, sandbox, apps, inventory))
    });
    let (mut client, sandbox, apps, inv) =
        result.unwrap_or_else(|e| panic!("{e}\ncontainerd log:\n{}", ctd.log_tail(40)));

    assert_eq!(inv.containers.len(), 3, "{inv:#?}");
    let pod = &inv.pods[UID];
    assert_eq!(
        (pod.namespace.as_str(), pod.name.as_str()),
        ("crins", "cripod")
    );
    assert_eq!(pod.labels.len(), 1, "{:?}", pod.labels);
    assert_eq!(pod.labels["app"], "demo");
    assert_eq!(pod.annotations["example.com/note"], "recorded");
    assert_eq!(pod.runtime, RuntimeKind::Containerd);
    assert_eq!(pod.sandbox_id, sandbox);
    let s = &inv.containers[&sandbox];
    assert!(s.sandbox);
    assert_eq!(s.pod.as_ref().unwrap().uid, UID);

    for (name, id) in &apps {
        let c = &inv.containers[id];
        assert_eq!(c.name, *name);
        assert!(!c.sandbox);
        assert_eq!(c.pod.as_ref().unwrap().name, "cripod");
        assert_eq!(c.sandbox_id.as_deref(), Some(sandbox.as_str()));
        assert!(!c.image.is_empty());
        assert_eq!(c.runtime, RuntimeKind::Containerd);
        let age = jiff::Timestamp::now().duration_since(c.started_at.unwrap());
        assert!(age < jiff::SignedDuration::from_secs(300), "{age:?}");

        // Discovery names the same pod and container from the cgroup path.
        let pids = pids_in_container(id);
        assert!(!pids.is_empty(), "no process of {name} found");
        let cgroup = memory_cgroup(pids[0]);
        match discovery::classify(&cgroup) {
            CgroupKind::PodContainer {
                pod_uid, id: found, ..
            } => {
                assert_eq!(pod_uid, UID);
                assert_eq!(found, id.as_str());
            }
            other => panic!("{cgroup} classified as {other:?}"),
        }
    }

    // The sandbox's process is called `pause`.
    let pause = pids_in_container(&sandbox);
    assert_eq!(pause.len(), 1, "{pause:?}");
    let comm = std::fs::read_to_string(format!("/proc/{}/comm", pause[0])).unwrap();
    assert_eq!(comm.trim(), "pause");

    // The kubelet's way out: stop and remove the sandbox (and with it the
    // containers). Drop would clean up anyway; this checks the orderly path.
    rt.block_on(async {
        for call in ["StopPodSandbox", "RemovePodSandbox"] {
            client
                .unary::<_, Empty>(
                    call,
                    PodSandboxIdRequest {
                        pod_sandbox_id: sandbox.clone(),
                    },
                )
                .await
                .unwrap_or_else(|s| panic!("{call}: {s}"));
        }
    });
    let after = rt.block_on(
        RuntimeClients::new(&RuntimeConfig {
            docker_socket: None,
            cri_socket: Some(ctd.socket_path().to_owned()),
            timeout: TIMEOUT,
        })
        .inventory(),
    );
    assert_eq!(after, Inventory::default());
}

// --- recorded answers over a unix socket -----------------------------------

const VERSION: &[u8] = include_bytes!("../src/runtime/testdata/cri_version.pb");
const SANDBOXES: &[u8] = include_bytes!("../src/runtime/testdata/cri_list_pod_sandbox.pb");
const CONTAINERS: &[u8] = include_bytes!("../src/runtime/testdata/cri_list_containers.pb");

/// Serves the recorded answers; every other method is unimplemented. A
/// router by gRPC path over tonic's generic server, as generated servers
/// are.
#[derive(Debug, Clone)]
struct Recorded;

impl tonic::server::NamedService for Recorded {
    const NAME: &'static str = SERVICE;
}

type BoxedResponse =
    Pin<Box<dyn Future<Output = Result<http::Response<tonic::body::Body>, Infallible>> + Send>>;

/// Answers one unary call with `answer`.
fn unary<Req, Resp>(
    request: http::Request<tonic::body::Body>,
    answer: fn(Req) -> Resp,
) -> BoxedResponse
where
    Req: Message + Default + Send + 'static,
    Resp: Message + Send + 'static,
{
    let service = tower::service_fn(move |request: Request<Req>| async move {
        Ok::<_, Status>(Response::new(answer(request.into_inner())))
    });
    Box::pin(async move {
        let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::<Resp, Req>::default());
        Ok(grpc.unary(service, request).await)
    })
}

impl tower::Service<http::Request<tonic::body::Body>> for Recorded {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxedResponse;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let method = request.uri().path().rsplit('/').next().unwrap_or_default();
        match method {
            "Version" => unary(request, |_: VersionRequest| {
                VersionResponse::decode(VERSION).unwrap()
            }),
            "ListPodSandbox" => unary(request, |request: ListPodSandboxRequest| {
                // The client asks for ready sandboxes only.
                let state = request.filter.and_then(|f| f.state).map(|s| s.state);
                assert_eq!(state, Some(SANDBOX_READY));
                ListPodSandboxResponse::decode(SANDBOXES).unwrap()
            }),
            "ListContainers" => unary(request, |request: ListContainersRequest| {
                let state = request.filter.and_then(|f| f.state).map(|s| s.state);
                assert_eq!(state, Some(CONTAINER_RUNNING));
                ListContainersResponse::decode(CONTAINERS).unwrap()
            }),
            other => {
                let status = Status::unimplemented(other.to_owned());
                Box::pin(async move { Ok(status.into_http()) })
            }
        }
    }
}

#[tokio::test]
async fn recorded_answers_over_a_unix_socket() {
    let dir = tempfile::tempdir().unwrap();
    let socket: PathBuf = dir.path().join("cri.sock");
    let listener = tokio::net::UnixListener::bind(&socket).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(Recorded)
            .serve_with_incoming_shutdown(
                tokio_stream::wrappers::UnixListenerStream::new(listener),
                async {
                    let _ = stopped.await;
                },
            ),
    );

    let clients = RuntimeClients::new(&RuntimeConfig {
        docker_socket: Some(dir.path().join("no-docker.sock")),
        cri_socket: Some(socket),
        timeout: Duration::from_secs(10),
    });
    let inv = clients.inventory().await;
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();

    assert_eq!(inv.pods.len(), 1, "{inv:#?}");
    let pod = inv.pods.values().next().unwrap();
    assert_eq!(
        (pod.namespace.as_str(), pod.name.as_str()),
        ("crins", "cripod")
    );
    assert_eq!(pod.labels["app"], "demo");
    assert_eq!(inv.containers.len(), 3);
    assert_eq!(inv.containers.values().filter(|c| c.sandbox).count(), 1);
    assert!(
        inv.containers
            .values()
            .all(|c| c.runtime == RuntimeKind::Containerd)
    );
}

/// The harness's promise for containerd: after a hard kill with a pod
/// running, dropping it leaves no process, socket, mount, cgroup or file.
#[test]
fn cleanup_after_a_killed_containerd() {
    if !docker::containerd_tests("cleanup_after_a_killed_containerd") {
        return;
    }
    let _exclusive = workingset_testkit::exclusive();
    let ctd = start_containerd();
    ctd.import_busybox_image(IMAGE, &PAUSE_CMD).unwrap();
    let pod_cgroup = format!("{}/kubepods/besteffort/pod{UID}", ctd.cgroup_parent());
    let config = sandbox_config(&pod_cgroup, &ctd.scratch_dir().unwrap().join("pods"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cri = CriClient::new(ctd.socket_path().to_owned(), TIMEOUT);
    let sandbox = rt.block_on(async {
        let mut client = cri.connect().await.unwrap();
        client
            .unary::<_, RunPodSandboxResponse>(
                "RunPodSandbox",
                RunPodSandboxRequest {
                    config: Some(config),
                    runtime_handler: String::new(),
                },
            )
            .await
            .unwrap_or_else(|s| panic!("RunPodSandbox: {s}\n{}", ctd.log_tail(30)))
            .pod_sandbox_id
    });
    let pause = pids_in_container(&sandbox);
    assert_eq!(pause.len(), 1);
    let dir = ctd.socket_path().parent().unwrap().to_owned();
    std::process::Command::new("kill")
        .args(["-KILL", &ctd.daemon_pid().to_string()])
        .status()
        .unwrap();
    drop(ctd);

    let gone =
        workingset_testkit::wait_for(Duration::from_secs(10), Duration::from_millis(50), || {
            let stat =
                std::fs::read_to_string(format!("/proc/{}/stat", pause[0])).unwrap_or_default();
            let state = stat
                .rsplit_once(") ")
                .and_then(|(_, rest)| rest.chars().next());
            matches!(state, None | Some('Z' | 'X')).then_some(())
        });
    assert!(gone.is_some(), "pause process {} survived", pause[0]);
    assert!(!dir.exists(), "{} left behind", dir.display());
    let memory = Path::new("/sys/fs/cgroup/memory");
    let memory = if memory.is_dir() {
        memory
    } else {
        Path::new("/sys/fs/cgroup")
    };
    let full = memory.join(pod_cgroup.trim_start_matches('/'));
    assert!(!full.exists(), "{} left behind", full.display());
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mountinfo.contains(dir.to_str().unwrap()),
        "mounts left below {}",
        dir.display()
    );
}
