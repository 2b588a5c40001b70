//! The reader against the real kernel. Each test makes a child of the test
//! process's own cgroups (`workingset_testkit::OwnCgroupChild`), runs a
//! workload process that is moved in before it does anything, reads the
//! child with the reader and removes it again. They need root; without it
//! they fail unless `WORKINGSET_SKIP_REAL_CGROUP=1`.

use std::path::Path;
use std::time::{Duration, Instant};

use workingset_cgroup::{Cgroups, Config, Hierarchy, MemoryStats};
use workingset_model::rate::{CpuPoint, nanocores};
use workingset_testkit::workload::{Work, Workload};
use workingset_testkit::{self as testkit, OwnCgroupChild, UNIFIED};

/// The ignored test in `main.rs` that workload processes run.
const ENTRY: &str = "workload_entry";
const MIB: u64 = 1 << 20;
const WORK_TIMEOUT: Duration = Duration::from_secs(120);

fn live() -> Cgroups {
    Cgroups::open(Config::default()).expect("the live cgroup filesystem is detected")
}

/// Which of the child's hierarchies holds `what` on this machine.
fn hierarchy_of(cg: &Cgroups, v1_controller: &'static str) -> &'static str {
    if cg.hierarchy().is_v2() {
        UNIFIED
    } else {
        v1_controller
    }
}

fn mib(bytes: i128) -> f64 {
    bytes as f64 / MIB as f64
}

fn delta(after: u64, before: u64) -> i128 {
    i128::from(after) - i128::from(before)
}

fn describe(m: &MemoryStats) -> String {
    format!(
        "usage {:.1} MiB, working set {:.1} MiB, rss {:.1} MiB, cache {:.1} MiB, active_file {:.1} MiB, inactive_file {:.1} MiB",
        mib(m.usage.into()),
        mib(m.working_set.into()),
        mib(m.rss.into()),
        mib(m.cache.into()),
        mib(m.active_file.into()),
        mib(m.inactive_file.unwrap_or(0).into()),
    )
}

#[test]
fn anon_64_mib_grows_rss_and_working_set() {
    if !testkit::real_kernel_tests("anon_64_mib_grows_rss_and_working_set") {
        return;
    }
    let _one_at_a_time = testkit::exclusive();
    let cg = live();
    let mut reader = cg.reader();
    let child = OwnCgroupChild::create("anon").unwrap();
    let path = child.path(hierarchy_of(&cg, "memory")).unwrap().to_owned();

    let before = reader.memory(&path).unwrap();
    let mut workload =
        Workload::start_in(&child, ENTRY, &Work::TouchAnon { bytes: 64 << 20 }).unwrap();
    workload.wait_done(WORK_TIMEOUT).unwrap();
    let after = reader.memory(&path).unwrap();
    eprintln!(
        "anon before: {}\nanon after:  {}",
        describe(&before),
        describe(&after)
    );

    let rss = delta(after.rss, before.rss);
    let ws = delta(after.working_set, before.working_set);
    assert!(rss >= 60 * i128::from(MIB), "rss grew {:.1} MiB", mib(rss));
    assert!(
        ws >= 60 * i128::from(MIB),
        "working set grew {:.1} MiB",
        mib(ws)
    );

    workload.finish().unwrap();
    child.remove().unwrap();
}

#[test]
fn file_read_twice_is_active_cache_in_the_working_set() {
    if !testkit::real_kernel_tests("file_read_twice_is_active_cache_in_the_working_set") {
        return;
    }
    let _one_at_a_time = testkit::exclusive();
    let cg = live();
    let mut reader = cg.reader();
    // Written from outside with O_DIRECT, so no page of it is cached: the
    // workload's first read is the first touch and charges its cgroup.
    let dir = testkit::disk::disk_temp_dir(Path::new(env!("CARGO_TARGET_TMPDIR"))).unwrap();
    let file = dir.path().join("100MiB");
    testkit::disk::write_uncached(&file, 100 << 20).unwrap();

    let child = OwnCgroupChild::create("cache").unwrap();
    let path = child.path(hierarchy_of(&cg, "memory")).unwrap().to_owned();
    let before = reader.memory(&path).unwrap();
    let mut workload = Workload::start_in(
        &child,
        ENTRY,
        &Work::ReadFile {
            path: file.clone(),
            times: 2,
        },
    )
    .unwrap();
    workload.wait_done(WORK_TIMEOUT).unwrap();
    let after = reader.memory(&path).unwrap();
    eprintln!(
        "cache before: {}\ncache after:  {}",
        describe(&before),
        describe(&after)
    );

    let cache = delta(after.cache, before.cache);
    let active = delta(after.active_file, before.active_file);
    let ws = delta(after.working_set, before.working_set);
    // The figure docker stats ≤ 19.03 showed: usage minus all page cache.
    let old_docker = delta(
        after.usage.saturating_sub(after.cache),
        before.usage.saturating_sub(before.cache),
    );
    eprintln!(
        "cache +{:.1} MiB, active_file +{:.1} MiB, working set +{:.1} MiB, usage − cache {:+.2} MiB",
        mib(cache),
        mib(active),
        mib(ws),
        mib(old_docker)
    );
    assert!(
        cache >= 95 * i128::from(MIB),
        "cache grew {:.1} MiB",
        mib(cache)
    );
    // Read twice: the second read activates the pages, so they are not
    // subtracted from the working set.
    assert!(
        active >= 95 * i128::from(MIB),
        "active_file grew {:.1} MiB",
        mib(active)
    );
    assert!(
        ws >= 95 * i128::from(MIB),
        "working set grew {:.1} MiB",
        mib(ws)
    );
    assert!(
        old_docker.abs() <= 4 * i128::from(MIB),
        "usage − cache moved {:.2} MiB",
        mib(old_docker)
    );

    workload.finish().unwrap();
    child.remove().unwrap();
    drop(dir);
}

/// Spins one CPU in the child and checks the cgroup's counter (read from
/// `cg` at `path`) gives 1000m ± 10 % over ~2 s windows.
fn busy_loop_is_one_core(cg: &Cgroups, child: &OwnCgroupChild, path: &str) {
    const WINDOW: Duration = Duration::from_secs(2);
    const ATTEMPTS: usize = 8;
    // The machine is shared with other builds. A high weight for our child
    // (only ours: it is below our own cgroup) lets the spinning thread have
    // its core; the check below still tells starvation from a wrong counter.
    // The weight is a cpu-controller setting, so it goes wherever that
    // controller is: v1 `cpu.shares` (also when `cg` is the hybrid unified
    // view), else v2 `cpu.weight` if the controller is enabled there.
    if child.dir("cpu").is_some() {
        child.write("cpu", "cpu.shares", "262144").unwrap();
    } else if child
        .dir(UNIFIED)
        .is_some_and(|d| d.join("cpu.weight").exists())
    {
        child.write(UNIFIED, "cpu.weight", "10000").unwrap();
    }
    let mut reader = cg.reader();
    let workload = Workload::start_in(
        child,
        ENTRY,
        &Work::Spin {
            max: Duration::from_secs(60),
        },
    )
    .unwrap();
    let pid = workload.pid();
    let base = Instant::now();
    std::thread::sleep(Duration::from_millis(200));
    let sample = |reader: &mut workingset_cgroup::Reader| {
        let usage_ns = reader.cpu(path).unwrap().usage_ns;
        let at = base.elapsed();
        let own = testkit::process_runtime_ns(pid).unwrap();
        (CpuPoint { usage_ns, at }, own)
    };
    let mut seen = Vec::new();
    let mut verdict = None;
    for _ in 0..ATTEMPTS {
        let (p0, own0) = sample(&mut reader);
        std::thread::sleep(WINDOW);
        let (p1, own1) = sample(&mut reader);
        let rate = nanocores(p0, p1).expect("the counter only grows");
        let interval = (p1.at - p0.at).as_nanos();
        let own_rate = u128::from(own1 - own0) * 1_000_000_000 / interval;
        let own_rate = u64::try_from(own_rate).unwrap();
        seen.push((rate, own_rate));
        eprintln!(
            "{path}: cgroup counter {} m over {:?}, the process itself had {} m",
            rate / 1_000_000,
            p1.at - p0.at,
            own_rate / 1_000_000
        );
        // Whatever the machine's load, the cgroup's counter must agree with
        // the CPU time the process actually got.
        assert!(
            rate.abs_diff(own_rate) <= 50_000_000,
            "cgroup counter {rate} nanocores vs the process's own {own_rate}"
        );
        if own_rate >= 900_000_000 {
            verdict = Some(rate);
            break;
        }
    }
    workload.finish().unwrap();
    let rate = verdict.unwrap_or_else(|| {
        panic!("the spinning workload never got 0.9 of a core in {ATTEMPTS} windows (machine too busy?): {seen:?}")
    });
    assert!(
        (900_000_000..=1_100_000_000).contains(&rate),
        "busy loop measured {} m, expected 1000m ± 10 %",
        rate / 1_000_000
    );
    // kubectl top prints ceil(nanocores / 1e6) millicores.
    eprintln!(
        "{path}: kubectl top would print {}m",
        rate.div_ceil(1_000_000)
    );
}

#[test]
fn busy_loop_is_one_core_on_v1_cpuacct() {
    if !testkit::real_kernel_tests("busy_loop_is_one_core_on_v1_cpuacct") {
        return;
    }
    let _one_at_a_time = testkit::exclusive();
    let cg = live();
    let child = OwnCgroupChild::create("cpu-v1").unwrap();
    let hierarchy = hierarchy_of(&cg, "cpuacct");
    assert_eq!(
        hierarchy, "cpuacct",
        "this machine is expected to be cgroup v1/hybrid"
    );
    let path = child.path(hierarchy).unwrap().to_owned();
    busy_loop_is_one_core(&cg, &child, &path);
    child.remove().unwrap();
}

#[test]
fn busy_loop_is_one_core_on_v2_unified() {
    if !testkit::real_kernel_tests("busy_loop_is_one_core_on_v2_unified") {
        return;
    }
    let _one_at_a_time = testkit::exclusive();
    let cg = live();
    // On a hybrid machine the controller-less unified mount still keeps
    // cgroup v2 cpu.stat usage_usec for every cgroup.
    let unified = match cg.hierarchy() {
        Hierarchy::Unified => cg.clone(),
        Hierarchy::Hybrid => cg.hybrid_unified().unwrap(),
        Hierarchy::Legacy => {
            panic!("no cgroup v2 mount on this machine to test the v2 CPU path on")
        }
    };
    let child = OwnCgroupChild::create("cpu-v2").unwrap();
    let path = child.path(UNIFIED).unwrap().to_owned();
    busy_loop_is_one_core(&unified, &child, &path);
    child.remove().unwrap();
}

#[test]
fn removed_cgroup_reads_as_gone() {
    if !testkit::real_kernel_tests("removed_cgroup_reads_as_gone") {
        return;
    }
    let _one_at_a_time = testkit::exclusive();
    let cg = live();
    let mut reader = cg.reader();
    let child = OwnCgroupChild::create("gone").unwrap();
    let mem_path = child.path(hierarchy_of(&cg, "memory")).unwrap().to_owned();
    let cpu_path = child.path(hierarchy_of(&cg, "cpuacct")).unwrap().to_owned();
    let stat_file = child
        .dir(hierarchy_of(&cg, "memory"))
        .unwrap()
        .join("memory.stat");
    reader.memory(&mem_path).unwrap();
    reader.cpu(&cpu_path).unwrap();
    // A file opened before the removal fails with ENODEV afterwards: the
    // other way a vanished cgroup shows up.
    let mut open_file = std::fs::File::open(&stat_file).unwrap();

    child.remove().unwrap();

    let err = reader.memory(&mem_path).unwrap_err();
    assert!(err.is_gone(), "memory: {err}");
    let err = reader.cpu(&cpu_path).unwrap_err();
    assert!(err.is_gone(), "cpu: {err}");
    let err = reader.children(&mem_path).unwrap_err();
    assert!(err.is_gone(), "children: {err}");
    let mut buf = Vec::new();
    let err = std::io::Read::read_to_end(&mut open_file, &mut buf).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENODEV), "{err}");
}

#[test]
fn live_children_pids_and_node() {
    if !testkit::real_kernel_tests("live_children_pids_and_node") {
        return;
    }
    let _one_at_a_time = testkit::exclusive();
    let cg = live();
    let mut reader = cg.reader();
    let child = OwnCgroupChild::create("list").unwrap();
    let mem = hierarchy_of(&cg, "memory");
    let parent = child.parent_path(mem).unwrap();
    let children = reader.children(parent).unwrap();
    assert!(
        children.iter().any(|c| c == child.name()),
        "{} not among the children of {parent}: {children:?}",
        child.name()
    );

    let pids_path = child.path(hierarchy_of(&cg, "pids")).unwrap().to_owned();
    assert_eq!(reader.pids(&pids_path).unwrap().unwrap().current, 0);
    let mut workload =
        Workload::start_in(&child, ENTRY, &Work::TouchAnon { bytes: 1 << 20 }).unwrap();
    workload.wait_done(WORK_TIMEOUT).unwrap();
    let pids = reader.pids(&pids_path).unwrap().unwrap();
    // pids.current counts tasks: the workload's threads.
    assert!(pids.current >= 1, "{pids:?}");
    assert_eq!(pids.limit, None);
    assert_eq!(child.pids().unwrap(), [workload.pid()]);
    workload.finish().unwrap();

    let node = reader.node().unwrap();
    assert!(node.online_cpus >= 1);
    let parallelism = std::thread::available_parallelism().map_or(0, |n| n.get());
    eprintln!(
        "node: {} online CPUs (available_parallelism {parallelism}), MemTotal {:.0} MiB, working set {:.1} MiB of usage {:.1} MiB",
        node.online_cpus,
        mib(node.meminfo.mem_total.into()),
        mib(node.memory.working_set.into()),
        mib(node.memory.usage.into())
    );
    assert!(node.memory.working_set <= node.memory.usage);
    assert!(node.meminfo.mem_total > node.memory.working_set);
    child.remove().unwrap();
}
