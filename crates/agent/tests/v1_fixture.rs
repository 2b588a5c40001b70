//! The sampler on a captured cgroup v1 (hybrid) tree: kubepods with the
//! cgroupfs driver, a Burstable and a BestEffort pod. The tree belongs to the
//! cgroup crate's fixtures (real files captured on a v1 kernel).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use workingset_agent::discovery::QosClass;
use workingset_agent::sampler::{CpuCounter, Sampler, WorkloadKind};
use workingset_cgroup::{Cgroups, Config};

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
