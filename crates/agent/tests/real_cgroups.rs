#![allow(clippy::unwrap_used, clippy::expect_used)]
//! One sampling result for local `top` and the agent, on this kernel's
//! real cgroups (children of the test's own cgroup, removed afterwards).
//!
//! - Where cpuacct is not nested like memory (this machine: the test's
//!   memory cgroup is deep, its cpuacct cgroup is the root), a cgroup has
//!   no CPU counter of its own; local `top` and the agent must then both
//!   use the per-process counter, and give the same rate.
//! - A cgroup with processes of its own *and* a child cgroup is a workload
//!   (cAdvisor's rule), beside its child.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use workingset_agent::serve::{Observation, resource, summary};
use workingset_cgroup::{Cgroups, Config};
use workingset_model::metrics::{CPU, usage};
use workingset_sampling::metrics::machine_metrics;
use workingset_sampling::sampler::{CpuCounter, PodSample, Sampler, Snapshot};
use workingset_testkit::workload::{Work, Workload};
use workingset_testkit::{OwnCgroupChild, real_kernel_tests};

#[test]
#[ignore = "workload entry point, run only by re-execution from the real-kernel tests"]
fn workload_entry() {
    workingset_testkit::workload::entry();
}

fn workload<'a>(snapshot: &'a Snapshot, cgroup: &str) -> &'a PodSample {
    snapshot
        .pods
        .iter()
        .find(|p| p.cgroup == cgroup)
        .unwrap_or_else(|| {
            let seen: Vec<&str> = snapshot.pods.iter().map(|p| p.cgroup.as_str()).collect();
            panic!("{cgroup} is not a workload; workloads: {seen:?}")
        })
}

fn sleeper() -> Child {
    Command::new("sleep")
        .arg("60")
        .stdin(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn local_top_and_the_agent_agree_without_a_cpuacct_cgroup() {
    if !real_kernel_tests("local_top_and_the_agent_agree_without_a_cpuacct_cgroup") {
        return;
    }
    let child = OwnCgroupChild::create("cpu-fallback").unwrap();
    let memory_path = child.path("memory").unwrap().to_owned();
    let spinner = Workload::start_in(
        &child,
        "workload_entry",
        &Work::Spin {
            max: Duration::from_secs(30),
        },
    )
    .unwrap();

    let cgroups = Cgroups::open(Config::default()).unwrap();
    let mut sampler = Sampler::new(&cgroups);
    let earlier = sampler.sample().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let later = sampler.sample().unwrap();
    spinner.finish().unwrap();

    let sample = workload(&later, &memory_path);
    let nested = cgroups
        .dir(workingset_cgroup::Controller::Cpuacct, &memory_path)
        .ok()
        .flatten()
        .is_some();
    if !nested {
        assert!(
            matches!(sample.containers[0].cpu, CpuCounter::Processes(_)),
            "{:?}",
            sample.containers[0].cpu
        );
    }
    let name = sample.key.name.clone();
    let namespace = sample.key.namespace.clone();

    // Local top: the rate machine_metrics gives.
    let local = machine_metrics("node", &earlier, &later);
    let pod = local
        .pods
        .iter()
        .find(|p| p.metadata.name == name && p.metadata.namespace == namespace)
        .unwrap_or_else(|| panic!("local top has no CPU for {namespace}/{name}"));
    let local_cpu = pod.containers[0].usage[CPU].clone();
    assert!(
        local_cpu.to_string() != "0",
        "a spinning process shows 0 CPU"
    );

    // The agent: the same figure in /stats/summary, and a counter in
    // /metrics/resource that a server can rate.
    let observation = Observation::first("node", Arc::new(earlier)).next(Arc::new(later));
    let stats = summary::build(&observation, true);
    let container = stats
        .pods
        .iter()
        .find(|p| p.pod_ref.name == name && p.pod_ref.namespace == namespace)
        .and_then(|p| p.containers.first())
        .unwrap_or_else(|| panic!("the agent's summary has no {namespace}/{name}"));
    let nanocores = container
        .cpu
        .as_ref()
        .and_then(|cpu| cpu.usage_nano_cores)
        .unwrap_or_else(|| panic!("the agent gives no CPU rate for {namespace}/{name}"));
    assert_eq!(usage(nanocores, 0)[CPU], local_cpu);

    let mut exposition = String::new();
    resource::render(&observation, &mut exposition);
    let line = format!(
        "container_cpu_usage_seconds_total{{container=\"{name}\",namespace=\"{namespace}\",pod=\"{name}\"}}"
    );
    assert!(
        exposition.lines().any(|l| l.starts_with(&line)),
        "no {line} in\n{exposition}"
    );
}

#[test]
fn a_cgroup_with_processes_and_a_child_is_a_workload_too() {
    if !real_kernel_tests("a_cgroup_with_processes_and_a_child_is_a_workload_too") {
        return;
    }
    let parent = OwnCgroupChild::create("own-and-child").unwrap();
    let parent_path = parent.path("memory").unwrap().to_owned();
    let inner_dir = parent.dir("memory").unwrap().join("inner");
    std::fs::create_dir(&inner_dir).unwrap();
    let mut in_parent = sleeper();
    let mut in_inner = sleeper();
    parent.add_pid(in_parent.id()).unwrap();
    std::fs::write(inner_dir.join("cgroup.procs"), in_inner.id().to_string()).unwrap();

    let cgroups = Cgroups::open(Config::default()).unwrap();
    let snapshot = Sampler::new(&cgroups).sample();

    for process in [&mut in_parent, &mut in_inner] {
        let _ = process.kill();
        let _ = process.wait();
    }
    // Empty now: the child goes first, then the parent (on drop).
    let removed =
        workingset_testkit::wait_for(Duration::from_secs(10), Duration::from_millis(20), || {
            std::fs::remove_dir(&inner_dir).ok()
        });
    drop(parent);
    assert!(removed.is_some(), "{} was not removed", inner_dir.display());

    let snapshot = snapshot.unwrap();
    let own = workload(&snapshot, &parent_path);
    let inner = workload(&snapshot, &format!("{parent_path}/inner"));
    assert_eq!(inner.key.namespace, own.key.name);
    // Hierarchical, as cAdvisor reports every cgroup: the parent's memory
    // includes its child's.
    assert!(
        own.containers[0].memory.usage >= inner.containers[0].memory.usage,
        "{} < {}",
        own.containers[0].memory.usage,
        inner.containers[0].memory.usage
    );
}

/// A kubelet-style tree of pod cgroups (as the benchmarks use it): both
/// detail levels find every pod and container, agree on what `top` shows,
/// and the tree is gone afterwards.
#[test]
fn pod_tree_is_sampled_at_both_detail_levels() {
    if !real_kernel_tests("pod_tree_is_sampled_at_both_detail_levels") {
        return;
    }
    let tree = workingset_testkit::pod_tree::PodCgroupTree::create(3, 2).unwrap();
    let root = tree.root().to_owned();
    let dirs: Vec<_> = tree
        .mounts()
        .iter()
        .map(|mount| mount.join(root.trim_start_matches('/')))
        .collect();
    assert!(dirs.iter().all(|dir| dir.is_dir()), "{dirs:?}");

    let cgroups = Cgroups::open(Config::default().with_cgroup_root(&root)).unwrap();
    let mut full = Sampler::new(&cgroups);
    let mut lean = Sampler::new(&cgroups);
    lean.set_detail(workingset_cgroup::Detail::Usage);
    let (full, lean) = (full.sample().unwrap(), lean.sample().unwrap());
    for snapshot in [&full, &lean] {
        assert_eq!(snapshot.pods.len(), 3);
        assert!(snapshot.pods.iter().all(|pod| pod.containers.len() == 2));
    }
    for (full_pod, lean_pod) in full.pods.iter().zip(&lean.pods) {
        assert_eq!(full_pod.cgroup, lean_pod.cgroup);
        for (a, b) in full_pod.containers.iter().zip(&lean_pod.containers) {
            // Empty cgroups: nothing moves between the two passes.
            assert_eq!(a.memory.usage, b.memory.usage);
            assert_eq!(a.memory.limit, b.memory.limit);
        }
    }
    drop(tree);
    assert!(dirs.iter().all(|dir| !dir.exists()), "{dirs:?} left behind");
}

/// Fault: cgroups that vanish between the directory walk and the reads.
/// 1,000 pod cgroups (each with a container cgroup) are created and
/// removed beside a sampling loop; every pass must succeed, the steady pods
/// must be in every pass whole, and a churning pod is either absent or seen
/// with at most its one container.
#[test]
fn cgroups_vanishing_mid_pass_never_fail_a_pass() {
    if !real_kernel_tests("cgroups_vanishing_mid_pass_never_fail_a_pass") {
        return;
    }
    let tree = workingset_testkit::pod_tree::PodCgroupTree::create(2, 1).unwrap();
    let root = tree.root().to_owned();
    let burstable: Vec<std::path::PathBuf> = tree
        .mounts()
        .iter()
        .map(|mount| {
            mount
                .join(root.trim_start_matches('/'))
                .join("kubepods/burstable")
        })
        .collect();
    let steady: Vec<String> = tree
        .workloads()
        .iter()
        .filter(|path| path.matches('/').count() == root.matches('/').count() + 3)
        .cloned()
        .collect();
    assert_eq!(steady.len(), 2, "{:?}", tree.workloads());

    let done = std::sync::atomic::AtomicBool::new(false);
    let (passes, churned) = std::thread::scope(|scope| {
        let churn = scope.spawn(|| {
            let mut cycles = 0;
            for cycle in 0..1_000 {
                let pod = format!("podffffffff-0000-4000-8000-{cycle:012x}");
                let container = format!("{cycle:064x}");
                for base in &burstable {
                    std::fs::create_dir(base.join(&pod)).unwrap();
                    std::fs::create_dir(base.join(&pod).join(&container)).unwrap();
                }
                for base in &burstable {
                    std::fs::remove_dir(base.join(&pod).join(&container)).unwrap();
                    std::fs::remove_dir(base.join(&pod)).unwrap();
                }
                cycles += 1;
            }
            done.store(true, std::sync::atomic::Ordering::Relaxed);
            cycles
        });
        let cgroups = Cgroups::open(Config::default().with_cgroup_root(&root)).unwrap();
        let mut sampler = Sampler::new(&cgroups);
        let mut passes = 0;
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        while !done.load(std::sync::atomic::Ordering::Relaxed) {
            assert!(
                std::time::Instant::now() < deadline,
                "churn took over 120 s"
            );
            let snapshot = sampler
                .sample()
                .unwrap_or_else(|error| panic!("pass {passes} failed: {error}"));
            for cgroup in &steady {
                assert_eq!(workload(&snapshot, cgroup).containers.len(), 1, "{cgroup}");
            }
            for pod in &snapshot.pods {
                assert!(
                    pod.containers.len() <= 1,
                    "{}: {:?}",
                    pod.cgroup,
                    pod.containers
                );
            }
            passes += 1;
        }
        (passes, churn.join().unwrap())
    });
    assert_eq!(churned, 1_000);
    assert!(passes > 10, "only {passes} passes beside the churn");
    drop(tree);
}
