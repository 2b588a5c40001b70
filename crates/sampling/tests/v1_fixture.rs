//! The sampler on a captured cgroup v1 (hybrid) tree: kubepods with the
//! cgroupfs driver, a Burstable and a BestEffort pod. The tree belongs to the
//! cgroup crate's fixtures (real files captured on a v1 kernel).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use workingset_cgroup::{Cgroups, Config};
use workingset_sampling::discovery::QosClass;
use workingset_sampling::sampler::{CpuCounter, Sampler, WorkloadKind};

fn fixture() -> Cgroups {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../cgroup/tests/fixtures/v1-hybrid"
    );
    Cgroups::open(Config::under(dir)).expect("open the v1-hybrid fixture")
}

#[test]
fn pods_and_containers_are_found_with_their_working_sets() {
    let mut sampler = Sampler::new(&fixture());
    let snapshot = sampler.sample().unwrap();
    let mut pods: Vec<_> = snapshot.pods.iter().collect();
    pods.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(pods.len(), 2, "{pods:#?}");

    // Sorted by pod UID: 0a5c… (Burstable) before 6e1d… (BestEffort).
    let besteffort = pods[1];
    assert_eq!(besteffort.key.namespace, "kubepods");
    assert_eq!(besteffort.key.name, "6e1d2c3b-4a59-4f68-8e7d-6c5b4a392817");
    assert_eq!(
        besteffort.kind,
        WorkloadKind::KubernetesPod(QosClass::BestEffort)
    );
    let names: Vec<&str> = besteffort
        .containers
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["9f8e7d6c5b4a", "d1e2f3a4b5c6"]);

    let burstable = pods[0];
    assert_eq!(
        burstable.kind,
        WorkloadKind::KubernetesPod(QosClass::Burstable)
    );
    let app = &burstable.containers[0];
    assert_eq!(app.name, "4b2e9c8f1a7d");
    // memory.usage_in_bytes 42807296 − total_inactive_file 12582912.
    assert_eq!(app.memory.working_set, 42_807_296 - 12_582_912);
    // cpuacct.usage of that container, read as the cumulative counter.
    match &app.cpu {
        CpuCounter::Cgroup(cpu) => assert_eq!(cpu.usage_ns, 302_023_759),
        other => panic!("expected the cgroup's own counter, got {other:?}"),
    }
}

#[test]
fn a_container_without_a_cpuacct_cgroup_falls_back_to_its_processes() {
    let mut sampler = Sampler::new(&fixture());
    let snapshot = sampler.sample().unwrap();
    let container = snapshot
        .pods
        .iter()
        .flat_map(|p| &p.containers)
        .find(|c| c.name == "d1e2f3a4b5c6")
        .unwrap();
    // The capture has this container in the memory tree only, and no
    // processes: the fallback counter is empty, not an error.
    assert_eq!(container.cpu, CpuCounter::Processes(Default::default()));
}

#[test]
fn the_node_is_the_root_cgroup() {
    let mut sampler = Sampler::new(&fixture());
    let snapshot = sampler.sample().unwrap();
    assert_eq!(snapshot.node.cpu.usage_ns, 87_241_080_564);
    assert!(snapshot.node.meminfo.mem_total > 0);
}

mod with_runtime_metadata {
    use std::collections::BTreeMap;

    use workingset_sampling::inventory::{ContainerInfo, Inventory, PodInfo, PodRef, RuntimeKind};
    use workingset_sampling::sampler::Sampler;

    const BURSTABLE_UID: &str = "0a5c1b4e-7c3d-4d51-9c0e-3f1f5d0e2a11";
    const APP: &str = "4b2e9c8f1a7d3e6b5c0f9a8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c";
    const BESTEFFORT_UID: &str = "6e1d2c3b-4a59-4f68-8e7d-6c5b4a392817";
    const SANDBOX: &str = "9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0";

    fn container(id: &str, name: &str, uid: &str, sandbox: bool) -> ContainerInfo {
        ContainerInfo {
            id: id.to_owned(),
            name: name.to_owned(),
            image: "registry.example/shop:1.2".to_owned(),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            pod: Some(PodRef {
                name: "web-0".to_owned(),
                namespace: "shop".to_owned(),
                uid: uid.to_owned(),
            }),
            sandbox_id: None,
            sandbox,
            started_at: Some("2026-11-23T10:00:00Z".parse().unwrap()),
            runtime: RuntimeKind::Docker,
        }
    }

    fn inventory() -> Inventory {
        let mut inventory = Inventory::default();
        inventory
            .containers
            .insert(APP.to_owned(), container(APP, "app", BURSTABLE_UID, false));
        inventory.containers.insert(
            SANDBOX.to_owned(),
            container(SANDBOX, "POD", BESTEFFORT_UID, true),
        );
        inventory.pods.insert(
            BURSTABLE_UID.to_owned(),
            PodInfo {
                uid: BURSTABLE_UID.to_owned(),
                name: "web-0".to_owned(),
                namespace: "shop".to_owned(),
                labels: BTreeMap::from([("app".to_owned(), "web".to_owned())]),
                annotations: BTreeMap::new(),
                created_at: Some("2026-11-23T09:59:58Z".parse().unwrap()),
                sandbox_id: "sandbox".to_owned(),
                runtime: RuntimeKind::Docker,
            },
        );
        inventory
    }

    #[test]
    fn pods_and_containers_take_their_runtime_names() {
        let mut sampler = Sampler::new(&super::fixture());
        let snapshot = sampler.sample_with(&inventory()).unwrap();
        let pod = snapshot
            .pods
            .iter()
            .find(|p| p.uid.as_deref() == Some(BURSTABLE_UID))
            .unwrap();
        assert_eq!(
            (pod.key.namespace.as_str(), pod.key.name.as_str()),
            ("shop", "web-0")
        );
        assert_eq!(pod.labels.get("app").map(String::as_str), Some("web"));
        assert_eq!(pod.created.unwrap().to_string(), "2026-11-23T09:59:58Z");
        let app = &pod.containers[0];
        assert_eq!(app.name, "app");
        assert_eq!(app.image.as_deref(), Some("registry.example/shop:1.2"));
        assert_eq!(app.started.unwrap().to_string(), "2026-11-23T10:00:00Z");
    }

    #[test]
    fn a_sandbox_known_to_the_runtime_is_not_a_container() {
        let mut sampler = Sampler::new(&super::fixture());
        let snapshot = sampler.sample_with(&inventory()).unwrap();
        let besteffort = snapshot
            .pods
            .iter()
            .find(|p| p.uid.as_deref() == Some(BESTEFFORT_UID))
            .unwrap();
        // The runtime does not know this pod: it keeps its path-based name,
        // and only the container the runtime does not call a sandbox remains.
        assert_eq!(besteffort.key.namespace, "kubepods");
        let names: Vec<&str> = besteffort
            .containers
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(names, ["d1e2f3a4b5c6"]);
    }
}
