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

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::runtime_service_server::{RuntimeService, RuntimeServiceServer};
use k8s_cri::v1::*;
use prost::Message;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};
use workingset_agent::discovery::{self, CgroupKind};
use workingset_agent::runtime::{
    CriClient, Inventory, RuntimeClients, RuntimeConfig, RuntimeKind, cri, labels,
};
use workingset_testkit::docker::{self, Containerd, PAUSE_CMD};

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
        network: NamespaceMode::Node.into(),
        pid: NamespaceMode::Container.into(),
        ipc: NamespaceMode::Pod.into(),
        ..NamespaceOption::default()
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
                ..LinuxSandboxSecurityContext::default()
            }),
            ..LinuxPodSandboxConfig::default()
        }),
        ..PodSandboxConfig::default()
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
            ..ImageSpec::default()
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
                ..LinuxContainerSecurityContext::default()
            }),
            ..LinuxContainerConfig::default()
        }),
        ..ContainerConfig::default()
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
async fn record(client: &mut RuntimeServiceClient<Channel>, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let version = client
        .version(VersionRequest {
            version: "v1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let sandboxes = client
        .list_pod_sandbox(cri::ready_sandboxes())
        .await
        .unwrap()
        .into_inner();
    let containers = client
        .list_containers(ListContainersRequest {
            filter: Some(ContainerFilter {
                state: Some(ContainerStateValue {
                    state: ContainerState::ContainerRunning.into(),
                }),
                ..ContainerFilter::default()
            }),
        })
        .await
        .unwrap()
        .into_inner();
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
            .run_pod_sandbox(RunPodSandboxRequest {
                config: Some(sandbox_config.clone()),
                runtime_handler: String::new(),
            })
            .await
            .map_err(|s| format!("RunPodSandbox: {s}"))?
            .into_inner()
            .pod_sandbox_id;
        let mut apps = HashMap::new();
        for name in ["app", "sidecar"] {
            let id = client
                .create_container(CreateContainerRequest {
                    pod_sandbox_id: sandbox.clone(),
                    config: Some(container_config(name)),
                    sandbox_config: Some(sandbox_config.clone()),
                })
                .await
                .map_err(|s| format!("CreateContainer {name}: {s}"))?
                .into_inner()
                .container_id;
            client
                .start_container(StartContainerRequest {
                    container_id: id.clone(),
                })
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
        client
            .stop_pod_sandbox(StopPodSandboxRequest {
                pod_sandbox_id: sandbox.clone(),
            })
            .await
            .unwrap();
        client
            .remove_pod_sandbox(RemovePodSandboxRequest {
                pod_sandbox_id: sandbox.clone(),
            })
            .await
            .unwrap();
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

/// Serves the recorded answers; everything else is unimplemented.
#[derive(Debug)]
struct Recorded;

macro_rules! unimplemented_calls {
    ($($call:ident: $request:ty => $response:ty),* $(,)?) => {
        #[tonic::async_trait]
        impl RuntimeService for Recorded {
            async fn version(&self, _: Request<VersionRequest>) -> Result<Response<VersionResponse>, Status> {
                Ok(Response::new(VersionResponse::decode(VERSION).unwrap()))
            }

            async fn list_pod_sandbox(
                &self,
                request: Request<ListPodSandboxRequest>,
            ) -> Result<Response<ListPodSandboxResponse>, Status> {
                // The client asks for ready sandboxes only.
                let state = request.into_inner().filter.and_then(|f| f.state).map(|s| s.state);
                assert_eq!(state, Some(PodSandboxState::SandboxReady.into()));
                Ok(Response::new(ListPodSandboxResponse::decode(SANDBOXES).unwrap()))
            }

            async fn list_containers(
                &self,
                request: Request<ListContainersRequest>,
            ) -> Result<Response<ListContainersResponse>, Status> {
                let state = request.into_inner().filter.and_then(|f| f.state).map(|s| s.state);
                assert_eq!(state, Some(ContainerState::ContainerRunning.into()));
                Ok(Response::new(ListContainersResponse::decode(CONTAINERS).unwrap()))
            }

            type GetContainerEventsStream =
                tokio_stream::Empty<Result<ContainerEventResponse, Status>>;

            $(
                async fn $call(&self, _: Request<$request>) -> Result<Response<$response>, Status> {
                    Err(Status::unimplemented(stringify!($call)))
                }
            )*
        }
    };
}

unimplemented_calls! {
    run_pod_sandbox: RunPodSandboxRequest => RunPodSandboxResponse,
    stop_pod_sandbox: StopPodSandboxRequest => StopPodSandboxResponse,
    remove_pod_sandbox: RemovePodSandboxRequest => RemovePodSandboxResponse,
    pod_sandbox_status: PodSandboxStatusRequest => PodSandboxStatusResponse,
    create_container: CreateContainerRequest => CreateContainerResponse,
    start_container: StartContainerRequest => StartContainerResponse,
    stop_container: StopContainerRequest => StopContainerResponse,
    remove_container: RemoveContainerRequest => RemoveContainerResponse,
    container_status: ContainerStatusRequest => ContainerStatusResponse,
    update_container_resources: UpdateContainerResourcesRequest => UpdateContainerResourcesResponse,
    reopen_container_log: ReopenContainerLogRequest => ReopenContainerLogResponse,
    exec_sync: ExecSyncRequest => ExecSyncResponse,
    exec: ExecRequest => ExecResponse,
    attach: AttachRequest => AttachResponse,
    port_forward: PortForwardRequest => PortForwardResponse,
    container_stats: ContainerStatsRequest => ContainerStatsResponse,
    list_container_stats: ListContainerStatsRequest => ListContainerStatsResponse,
    pod_sandbox_stats: PodSandboxStatsRequest => PodSandboxStatsResponse,
    list_pod_sandbox_stats: ListPodSandboxStatsRequest => ListPodSandboxStatsResponse,
    update_runtime_config: UpdateRuntimeConfigRequest => UpdateRuntimeConfigResponse,
    status: StatusRequest => StatusResponse,
    checkpoint_container: CheckpointContainerRequest => CheckpointContainerResponse,
    get_container_events: GetEventsRequest => Self::GetContainerEventsStream,
    list_metric_descriptors: ListMetricDescriptorsRequest => ListMetricDescriptorsResponse,
    list_pod_sandbox_metrics: ListPodSandboxMetricsRequest => ListPodSandboxMetricsResponse,
    runtime_config: RuntimeConfigRequest => RuntimeConfigResponse,
}

#[tokio::test]
async fn recorded_answers_over_a_unix_socket() {
    let dir = tempfile::tempdir().unwrap();
    let socket: PathBuf = dir.path().join("cri.sock");
    let listener = tokio::net::UnixListener::bind(&socket).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(RuntimeServiceServer::new(Recorded))
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
            .run_pod_sandbox(RunPodSandboxRequest {
                config: Some(config),
                runtime_handler: String::new(),
            })
            .await
            .unwrap_or_else(|s| panic!("RunPodSandbox: {s}\n{}", ctd.log_tail(30)))
            .into_inner()
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
