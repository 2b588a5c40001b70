#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Runtime metadata from a real dockerd: a private Debian `dockerd` started
//! by the test (see `workingset_testkit::docker`), a plain container and a
//! pod laid out the way cri-dockerd lays one out, and what
//! `RuntimeClients::inventory` makes of them.
//!
//! Fails loudly when dockerd cannot run here, unless
//! `WORKINGSET_SKIP_DOCKER=1`. With `WORKINGSET_RECORD_RUNTIME=<dir>` the
//! raw Engine API answers are written there (the unit tests' recordings in
//! `src/runtime/testdata/` come from this test).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use workingset_agent::runtime::{Inventory, RuntimeClients, RuntimeConfig, RuntimeKind, labels};
use workingset_sampling::discovery::{self, CgroupKind};
use workingset_testkit::docker::{self, Dockerd, PAUSE_CMD};

const IMAGE: &str = "workingset-busybox:test";
const UID: &str = "3f7c2a5e-1b2d-4c8e-9a6f-0d1e2f3a4b5c";

fn inventory(socket: &Path) -> Inventory {
    let clients = RuntimeClients::new(&RuntimeConfig {
        docker_socket: Some(socket.to_owned()),
        cri_socket: None,
        timeout: Duration::from_secs(10),
    });
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(clients.inventory())
}

fn start_dockerd() -> Dockerd {
    Dockerd::start().unwrap_or_else(|e| {
        panic!(
            "cannot run a private dockerd on this machine: {e}\n\
             (set {}=1 to skip the Docker tests)",
            docker::SKIP_ENV
        )
    })
}

/// The labels cri-dockerd puts on a pod's sandbox: the pod's labels, the
/// kubelet's `io.kubernetes.pod.*`, annotations as `annotation.*`, its own
/// type and container-name labels.
fn sandbox_labels() -> Vec<(&'static str, String)> {
    vec![
        (labels::POD_NAME, "mypod".into()),
        (labels::POD_NAMESPACE, "myns".into()),
        (labels::POD_UID, UID.into()),
        ("app", "demo".into()),
        (labels::DOCKER_TYPE, labels::DOCKER_TYPE_SANDBOX.into()),
        (
            labels::CONTAINER_NAME,
            labels::SANDBOX_CONTAINER_NAME.into(),
        ),
        ("annotation.kubernetes.io/config.source", "api".into()),
        (
            "annotation.kubernetes.io/config.seen",
            "2026-11-23T13:00:00.000000000Z".into(),
        ),
    ]
}

/// The labels cri-dockerd puts on an app container of that pod.
fn app_labels(container: &str, sandbox_id: &str) -> Vec<(&'static str, String)> {
    vec![
        (labels::POD_NAME, "mypod".into()),
        (labels::POD_NAMESPACE, "myns".into()),
        (labels::POD_UID, UID.into()),
        (labels::CONTAINER_NAME, container.into()),
        (labels::DOCKER_TYPE, labels::DOCKER_TYPE_CONTAINER.into()),
        (labels::DOCKER_SANDBOX_ID, sandbox_id.into()),
        (
            labels::DOCKER_LOG_PATH,
            format!("/var/log/pods/myns_mypod_{UID}/{container}/0.log"),
        ),
        ("annotation.io.kubernetes.container.hash", "1a2b3c4d".into()),
        (
            "annotation.io.kubernetes.container.restartCount",
            "0".into(),
        ),
        (
            "annotation.io.kubernetes.container.terminationMessagePath",
            "/dev/termination-log".into(),
        ),
    ]
}

fn borrowed<'a>(labels: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    labels.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// The container's cgroup path in the memory hierarchy, from its process.
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

fn comm(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim().to_owned())
}

fn record(d: &Dockerd, ids: &[&str]) {
    let Some(dir) = std::env::var_os("WORKINGSET_RECORD_RUNTIME") else {
        return;
    };
    let dir = Path::new(&dir);
    std::fs::create_dir_all(dir).unwrap();
    // Byte for byte as dockerd sent them.
    let listing = d
        .api("GET", "/v1.41/containers/json?all=false", None)
        .unwrap();
    std::fs::write(dir.join("docker_containers.json"), listing).unwrap();
    let inspected = d
        .api("GET", &format!("/v1.41/containers/{}/json", ids[0]), None)
        .unwrap();
    std::fs::write(dir.join("docker_inspect.json"), inspected).unwrap();
    eprintln!("recorded Engine API answers in {}", dir.display());
}

#[test]
fn plain_containers_and_cri_dockerd_pods() {
    if !docker::docker_tests("plain_containers_and_cri_dockerd_pods") {
        return;
    }
    let _exclusive = workingset_testkit::exclusive();
    let d = start_dockerd();
    d.import_busybox_image(IMAGE).unwrap();

    // A plain container.
    let web = d
        .create_and_start(
            "web",
            IMAGE,
            &["/bin/sleep", "3600"],
            &[("tier", "frontend"), ("com.example.owner", "workingset")],
            None,
        )
        .unwrap();

    // A pod as cri-dockerd makes one, in the kubelet's cgroupfs layout.
    let pod_cgroup = format!("{}/kubepods/burstable/pod{UID}", d.cgroup_parent());
    let sandbox = d
        .create_and_start(
            &format!("k8s_POD_mypod_myns_{UID}_0"),
            IMAGE,
            &PAUSE_CMD,
            &borrowed(&sandbox_labels()),
            Some(&pod_cgroup),
        )
        .unwrap();
    let mut apps = BTreeMap::new();
    for name in ["app", "sidecar"] {
        let id = d
            .create_and_start(
                &format!("k8s_{name}_mypod_myns_{UID}_0"),
                IMAGE,
                &["/bin/sleep", "3600"],
                &borrowed(&app_labels(name, &sandbox)),
                Some(&pod_cgroup),
            )
            .unwrap();
        apps.insert(name, id);
    }

    let inv = inventory(d.socket_path());
    record(&d, &[&web]);
    assert_eq!(inv.containers.len(), 4, "{inv:#?}");

    let w = &inv.containers[&web];
    assert_eq!(w.name, "web");
    assert_eq!(w.image, IMAGE);
    assert_eq!(w.labels["tier"], "frontend");
    assert_eq!(w.labels["com.example.owner"], "workingset");
    assert_eq!(w.pod, None);
    assert!(!w.sandbox);
    assert_eq!(w.runtime, RuntimeKind::Docker);
    let started = w.started_at.expect("StartedAt of a running container");
    let age = jiff::Timestamp::now().duration_since(started);
    assert!(
        age >= jiff::SignedDuration::ZERO && age < jiff::SignedDuration::from_secs(300),
        "started {started}, {age:?} ago"
    );

    let pod = &inv.pods[UID];
    assert_eq!(
        (pod.namespace.as_str(), pod.name.as_str()),
        ("myns", "mypod")
    );
    assert_eq!(
        pod.labels,
        BTreeMap::from([("app".to_owned(), "demo".to_owned())])
    );
    assert_eq!(pod.annotations["kubernetes.io/config.source"], "api");
    assert_eq!(pod.sandbox_id, sandbox);
    assert!(pod.created_at.is_some());

    let s = &inv.containers[&sandbox];
    assert!(s.sandbox);
    assert_eq!(s.name, "POD");
    assert_eq!(s.pod.as_ref().map(|p| p.uid.as_str()), Some(UID));

    for (name, id) in &apps {
        let c = &inv.containers[id];
        assert_eq!(c.name, *name);
        assert!(!c.sandbox);
        let r = c.pod.as_ref().unwrap();
        assert_eq!(
            (r.namespace.as_str(), r.name.as_str(), r.uid.as_str()),
            ("myns", "mypod", UID)
        );
        assert_eq!(c.sandbox_id.as_deref(), Some(sandbox.as_str()));
        assert_eq!(c.annotations["io.kubernetes.container.restartCount"], "0");
        assert!(!c.labels.contains_key(labels::DOCKER_TYPE));
        assert!(c.started_at.is_some());

        // Discovery, from the cgroup path alone, finds the same pod UID and
        // container id that the runtime names.
        let cgroup = memory_cgroup(d.pid(id).unwrap());
        assert!(
            cgroup.starts_with(&pod_cgroup),
            "{cgroup} not below {pod_cgroup}"
        );
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

    // The stand-in pause container's only process is called `pause`.
    let pause_pid = d.pid(&sandbox).unwrap();
    let name =
        workingset_testkit::wait_for(Duration::from_secs(10), Duration::from_millis(50), || {
            comm(pause_pid).filter(|c| c == "pause")
        });
    assert_eq!(
        name.as_deref(),
        Some("pause"),
        "comm is {:?}",
        comm(pause_pid)
    );

    // `docker stats` figures are there for the container.
    let stats = d.stats(&web).unwrap();
    assert!(
        stats["memory_stats"]["usage"]
            .as_u64()
            .is_some_and(|u| u > 0),
        "{stats}"
    );
    assert!(
        stats["cpu_stats"]["cpu_usage"]["total_usage"]
            .as_u64()
            .is_some(),
        "{stats}"
    );

    // Stopped containers leave the inventory; restarted ones come back
    // with a new start time (learned again: the cache forgot the id).
    let clients = RuntimeClients::new(&RuntimeConfig {
        docker_socket: Some(d.socket_path().to_owned()),
        cri_socket: None,
        timeout: Duration::from_secs(10),
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let before = rt.block_on(clients.inventory());
    d.stop_container(&web).unwrap();
    let stopped = rt.block_on(clients.inventory());
    assert!(!stopped.containers.contains_key(&web));
    assert_eq!(stopped.containers.len(), 3);
    d.start_container(&web).unwrap();
    let restarted = rt.block_on(clients.inventory());
    let again = restarted.containers[&web].started_at.unwrap();
    assert!(again > before.containers[&web].started_at.unwrap());

    d.remove_container(&apps["sidecar"]).unwrap();
    assert_eq!(rt.block_on(clients.inventory()).containers.len(), 3);
}

#[test]
fn a_stopped_daemon_contributes_nothing() {
    if !docker::docker_tests("a_stopped_daemon_contributes_nothing") {
        return;
    }
    let _exclusive = workingset_testkit::exclusive();
    let d = start_dockerd();
    let socket = d.socket_path().to_owned();
    let dir = socket.parent().unwrap().to_owned();
    assert!(inventory(&socket).containers.is_empty());
    drop(d);
    // The whole directory is gone after drop, the socket with it.
    assert!(!dir.exists(), "{} left behind", dir.display());
    assert_eq!(inventory(&socket), Inventory::default());
}

/// The harness's promise: even when dockerd dies hard, dropping it leaves
/// no container process, helper, mount, cgroup or file behind.
#[test]
fn cleanup_after_a_killed_daemon() {
    if !docker::docker_tests("cleanup_after_a_killed_daemon") {
        return;
    }
    let _exclusive = workingset_testkit::exclusive();
    let d = start_dockerd();
    d.import_busybox_image(IMAGE).unwrap();
    let id = d
        .create_and_start("orphan", IMAGE, &["/bin/sleep", "3600"], &[], None)
        .unwrap();
    let pid = d.pid(&id).unwrap();
    let cgroup = memory_cgroup(pid);
    let dir = d.socket_path().parent().unwrap().to_owned();
    let cgroup_parent = d.cgroup_parent().to_owned();

    // SIGKILL: dockerd cannot stop its containerd, shims or containers.
    std::process::Command::new("kill")
        .args(["-KILL", &d.daemon_pid().to_string()])
        .status()
        .unwrap();
    drop(d);

    // Killed; at most a zombie until init reaps it.
    let gone =
        workingset_testkit::wait_for(Duration::from_secs(10), Duration::from_millis(50), || {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let state = stat
                .rsplit_once(") ")
                .and_then(|(_, rest)| rest.chars().next());
            matches!(state, None | Some('Z' | 'X')).then_some(())
        });
    assert!(gone.is_some(), "container process {pid} survived");
    assert!(!dir.exists(), "{} left behind", dir.display());
    let memory = Path::new("/sys/fs/cgroup/memory");
    let memory = if memory.is_dir() {
        memory
    } else {
        Path::new("/sys/fs/cgroup")
    };
    for path in [&cgroup, &cgroup_parent] {
        let full = memory.join(path.trim_start_matches('/'));
        assert!(!full.exists(), "{} left behind", full.display());
    }
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mountinfo.contains(dir.to_str().unwrap()),
        "mounts left below {}",
        dir.display()
    );
}
