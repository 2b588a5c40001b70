//! The reader against fixture trees (see `tests/fixtures/README.md`): real
//! v1 files captured on this machine, hand-written v2 files with the kernel
//! 6.18 key set and order. Every expected figure is worked out here from the
//! file contents, so the arithmetic of each formula is visible.

use std::path::{Path, PathBuf};

use workingset_cgroup::{
    Cgroups, Config, Controller, CpuField, CpuMax, Detail, Error, Hierarchy, Layout, MemoryField,
    MemoryOrigin, Source,
};

const KIB: u64 = 1024;
/// USER_HZ ticks → ns.
const TICK_NS: u64 = 10_000_000;
/// µs → ns.
const USEC_NS: u64 = 1000;

const V1_BURSTABLE: &str = "/kubepods/burstable/pod0a5c1b4e-7c3d-4d51-9c0e-3f1f5d0e2a11/4b2e9c8f1a7d3e6b5c0f9a8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c";
const V1_BESTEFFORT_POD: &str = "/kubepods/besteffort/pod6e1d2c3b-4a59-4f68-8e7d-6c5b4a392817";
const V1_BESTEFFORT: &str = "/kubepods/besteffort/pod6e1d2c3b-4a59-4f68-8e7d-6c5b4a392817/9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0";
/// Listed in the memory tree, but gone from cpuacct: removed mid-sample.
const V1_VANISHED: &str = "/kubepods/besteffort/pod6e1d2c3b-4a59-4f68-8e7d-6c5b4a392817/d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2";
const V2_BURSTABLE: &str = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0a5c1b4e_7c3d_4d51_9c0e_3f1f5d0e2a11.slice/cri-containerd-4b2e9c8f1a7d3e6b5c0f9a8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c.scope";
const V2_BESTEFFORT: &str = "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod6e1d2c3b_4a59_4f68_8e7d_6c5b4a392817.slice/cri-containerd-9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0.scope";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn open(name: &str) -> Cgroups {
    Cgroups::open(Config::under(fixture(name))).expect("fixture tree opens")
}

fn mountinfo(name: &str) -> Option<Layout> {
    let text = std::fs::read_to_string(fixture(name)).unwrap();
    Layout::from_mountinfo(&text, Path::new("/sys/fs/cgroup")).unwrap()
}

#[test]
fn v1_limited_container_memory() {
    let cg = open("v1-hybrid");
    assert_eq!(cg.hierarchy(), Hierarchy::Hybrid);
    let m = cg.reader().memory(V1_BURSTABLE).unwrap();
    // memory.usage_in_bytes
    assert_eq!(m.usage, 42_807_296);
    // usage − total_inactive_file = 42807296 − 12582912
    assert_eq!(m.working_set, 42_807_296 - 12_582_912);
    assert_eq!(m.working_set, 30_224_384);
    // use_hierarchy = 1, so the total_* keys.
    assert_eq!(m.rss, 8_196_096); // total_rss
    assert_eq!(m.cache, 33_570_816); // total_cache
    assert_eq!(m.mapped_file, 0); // total_mapped_file
    assert_eq!(m.swap, 0); // total_swap (swap accounting on, nothing swapped)
    assert_eq!(m.active_file, 20_987_904); // total_active_file: the file read twice
    assert_eq!(m.inactive_file, Some(12_582_912)); // the file written once
    // The cache is the two files: 20 MiB active + 12 MiB inactive (+ a few pages).
    assert_eq!(m.cache, 20_987_904 + 12_582_912);
    // Local page-fault keys, as cAdvisor reads them.
    assert_eq!((m.pgfault, m.pgmajfault), (5_135, 2));
    assert_eq!(m.failcnt, 0);
    assert_eq!(m.kernel, Some(1_040_384)); // memory.kmem.usage_in_bytes
    // usage ≈ rss + cache + kernel: 8196096 + 33570816 + 1040384 = 42807296 exactly here.
    assert_eq!(m.usage, m.rss + m.cache + m.kernel.unwrap());
    assert_eq!(m.max_usage, Some(51_363_840));
    assert_eq!(m.limit, Some(256 * 1024 * 1024)); // 268435456 ≤ 2^62: a limit
    assert_eq!(m.oom_events, None);
    assert_eq!(
        m.origin,
        MemoryOrigin::V1 {
            hierarchical: true,
            swap_accounted: true
        }
    );
    assert_eq!(
        m.source(MemoryField::Rss),
        Source::Key {
            file: "memory.stat",
            key: "total_rss"
        }
    );
    assert_eq!(
        m.source(MemoryField::Pgfault),
        Source::Key {
            file: "memory.stat",
            key: "pgfault"
        }
    );
    assert_eq!(
        m.source(MemoryField::Usage),
        Source::File("memory.usage_in_bytes")
    );
    assert_eq!(
        m.source(MemoryField::WorkingSet).to_string(),
        "memory.usage_in_bytes − memory.stat total_inactive_file, clamped at 0"
    );
    assert!(matches!(
        m.source(MemoryField::OomEvents),
        Source::Unavailable(_)
    ));
}

#[test]
fn v1_limited_container_cpu_and_pids() {
    let cg = open("v1-hybrid");
    let mut r = cg.reader();
    let c = r.cpu(V1_BURSTABLE).unwrap();
    assert_eq!(c.usage_ns, 302_023_759); // cpuacct.usage
    assert_eq!(c.user_ns, 21 * TICK_NS); // cpuacct.stat user 21
    assert_eq!(c.system_ns, 8 * TICK_NS); // cpuacct.stat system 8
    let t = c.throttling.unwrap(); // cpu.stat
    assert_eq!(
        (t.periods, t.throttled_periods, t.throttled_ns),
        (8, 5, 253_320_114)
    );
    // cpu.cfs_quota_us 50000 / cpu.cfs_period_us 100000 = 0.5 core
    let q = c.quota.unwrap();
    assert_eq!(
        q,
        CpuMax {
            quota_us: Some(50_000),
            period_us: 100_000
        }
    );
    assert_eq!(q.millicores(), Some(50_000 * 1000 / 100_000));
    assert_eq!(
        c.source(CpuField::User),
        Source::Scaled {
            file: "cpuacct.stat",
            key: "user",
            factor: TICK_NS
        }
    );
    assert_eq!(c.source(CpuField::Usage).to_string(), "cpuacct.usage");
    let p = r.pids(V1_BURSTABLE).unwrap().unwrap();
    assert_eq!((p.current, p.limit), (2, Some(100)));
}

#[test]
fn v1_unlimited_container() {
    let cg = open("v1-hybrid");
    let mut r = cg.reader();
    let m = r.memory(V1_BESTEFFORT).unwrap();
    // 9223372036854771712 (LONG_MAX rounded down to a page) > 2^62 = 4611686018427387904: unlimited.
    assert_eq!(m.limit, None);
    // total_inactive_file is 0: working set = usage − 0 = usage.
    assert_eq!(m.inactive_file, Some(0));
    assert_eq!(m.working_set, 2_351_104);
    assert_eq!(m.rss, 2_248_704);
    // usage 2351104 = rss 2248704 + kmem 102400 + cache 0.
    assert_eq!(m.usage, m.rss + m.kernel.unwrap() + m.cache);
    let c = r.cpu(V1_BESTEFFORT).unwrap();
    assert_eq!(c.usage_ns, 13_660_437);
    assert_eq!((c.user_ns, c.system_ns), (0, TICK_NS)); // user 0, system 1
    // cpu.cfs_quota_us −1: no quota.
    assert_eq!(
        c.quota,
        Some(CpuMax {
            quota_us: None,
            period_us: 100_000
        })
    );
    assert_eq!(c.quota.unwrap().millicores(), None);
    let p = r.pids(V1_BESTEFFORT).unwrap().unwrap();
    assert_eq!((p.current, p.limit), (2, None)); // pids.max "max"
}

#[test]
fn v1_root_and_node() {
    let cg = open("v1-hybrid");
    let mut r = cg.reader();
    let m = r.memory("/").unwrap();
    // Node working set = root usage − root total_inactive_file.
    assert_eq!(m.working_set, 103_067_648 - 23_400_448);
    assert_eq!(m.working_set, 79_667_200);
    assert_eq!(m.rss, 25_321_472); // total_rss, not the root's own rss 7680000
    assert_eq!(m.cache, 77_950_976); // total_cache, not cache 9838592
    assert_eq!(m.limit, None);
    let c = r.cpu("/").unwrap();
    assert_eq!(c.usage_ns, 87_241_080_564);
    assert_eq!(c.user_ns, 5_755 * TICK_NS);
    assert_eq!(c.system_ns, 2_968 * TICK_NS);
    // The root has no pids.current.
    assert_eq!(r.pids("/").unwrap(), None);

    let node = r.node().unwrap();
    assert_eq!(node.memory, m);
    assert_eq!(node.cpu, c);
    // MemTotal: 24684092 kB
    assert_eq!(node.meminfo.mem_total, 24_684_092 * KIB);
    assert_eq!(node.meminfo.mem_free, Some(24_476_852 * KIB));
    assert_eq!(node.meminfo.mem_available, Some(24_404_124 * KIB));
    assert_eq!(node.meminfo.buffers, Some(1_424 * KIB));
    assert_eq!(node.meminfo.cached, Some(74_616 * KIB));
    // sys/devices/system/cpu/online: "0-1"
    assert_eq!(node.online_cpus, 2);
    // availableBytes = MemTotal − working set
    assert_eq!(node.available_bytes(), 24_684_092 * KIB - 79_667_200);
}

#[test]
fn cgroup_root_is_the_node() {
    let cgroups =
        Cgroups::open(Config::under(fixture("v1-hybrid")).with_cgroup_root(V1_BURSTABLE)).unwrap();
    let node = cgroups.reader().node().unwrap();
    assert_eq!(node.memory.working_set, 30_224_384);
    assert_eq!(node.cpu.usage_ns, 302_023_759);
}

#[test]
fn hybrid_unified_mount_has_v2_cpu() {
    let cg = open("v1-hybrid");
    let unified = cg.hybrid_unified().expect("hybrid has a unified mount");
    assert_eq!(unified.hierarchy(), Hierarchy::Unified);
    let c = unified.reader().cpu(V1_BURSTABLE).unwrap();
    // unified/<path>/cpu.stat: usage_usec 302023 user_usec 218569 system_usec 83453
    assert_eq!(c.usage_ns, 302_023 * USEC_NS);
    assert_eq!(c.user_ns, 218_569 * USEC_NS);
    assert_eq!(c.system_ns, 83_453 * USEC_NS);
    // Same counter as cpuacct.usage (302023759 ns), at µs resolution.
    assert_eq!(c.usage_ns, 302_023_759 / USEC_NS * USEC_NS);
    // No cpu controller in the hybrid unified tree: no throttling, no cpu.max.
    assert_eq!(c.throttling, None);
    assert_eq!(c.quota, None);
    assert_eq!(
        c.source(CpuField::Usage),
        Source::Scaled {
            file: "cpu.stat",
            key: "usage_usec",
            factor: USEC_NS
        }
    );
}

#[test]
fn v1_negative_values_read_as_zero() {
    let cg = open("v1-negative");
    let m = cg.reader().memory("/negative").unwrap();
    // total_rss -12288 → 0; total_inactive_file -8192 → 0, so the working
    // set is usage − 0.
    assert_eq!(m.rss, 0);
    assert_eq!(m.inactive_file, Some(0));
    assert_eq!(m.working_set, 42_807_296);
    // pgfault -1 → 0
    assert_eq!(m.pgfault, 0);
    assert_eq!(m.cache, 33_570_816);
}

#[test]
fn v1_vanished_and_missing_are_different() {
    let cg = open("v1-hybrid");
    let mut r = cg.reader();
    // The pod lists two containers in the memory tree…
    let children = r.children(V1_BESTEFFORT_POD).unwrap();
    assert_eq!(
        children,
        [
            "9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0",
            "d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2"
        ]
    );
    // …but one of them is no longer in the cpuacct tree: Gone, not an IO error.
    let err = r.cpu(V1_VANISHED).unwrap_err();
    assert!(err.is_gone(), "{err}");
    assert!(matches!(&err, Error::Gone { path } if path.ends_with("cpuacct.usage")));
    // Its memory is still readable.
    assert_eq!(r.memory(V1_VANISHED).unwrap().usage, 2_351_104);
    // A path that never existed reads as gone too.
    assert!(r.memory("/kubepods/no-such-pod").unwrap_err().is_gone());
    assert!(r.children("/kubepods/no-such-pod").unwrap_err().is_gone());
    // The pod directory exists but has no memory files (the fixture kept only
    // the containers): a required file is missing, which is not "gone".
    let err = r.memory(V1_BESTEFFORT_POD).unwrap_err();
    assert!(
        matches!(&err, Error::Missing { path } if path.ends_with("memory.usage_in_bytes")),
        "{err}"
    );
    // children() of a path in only one tree; other trees are listed on request.
    assert_eq!(
        r.children_in(Controller::Cpuacct, V1_BESTEFFORT_POD)
            .unwrap()
            .unwrap(),
        ["9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0"]
    );
}

#[test]
fn v2_limited_container() {
    let cg = open("v2");
    assert_eq!(cg.hierarchy(), Hierarchy::Unified);
    let mut r = cg.reader();
    let m = r.memory(V2_BURSTABLE).unwrap();
    assert_eq!(m.usage, 42_807_296); // memory.current
    // memory.current − inactive_file = 42807296 − 12582912
    assert_eq!(m.working_set, 42_807_296 - 12_582_912);
    assert_eq!(m.rss, 8_196_096); // anon
    assert_eq!(m.cache, 33_570_816); // file
    // memory.current = anon + file + kernel here: 8196096 + 33570816 + 1040384.
    assert_eq!(m.usage, 8_196_096 + 33_570_816 + 1_040_384);
    assert_eq!(m.mapped_file, 0); // file_mapped
    assert_eq!(m.swap, 1_048_576); // memory.swap.current
    assert_eq!(m.active_file, 20_987_904);
    assert_eq!((m.pgfault, m.pgmajfault), (5_135, 2));
    assert_eq!(m.failcnt, 0); // no such file on v2
    assert_eq!(m.oom_events, Some(1)); // memory.events oom
    assert_eq!(m.kernel, None); // part of memory.current on v2
    assert_eq!(m.max_usage, Some(51_363_840)); // memory.peak
    assert_eq!(m.limit, Some(268_435_456)); // memory.max
    assert_eq!(
        m.origin,
        MemoryOrigin::V2 {
            swap_accounted: true
        }
    );
    assert_eq!(
        m.source(MemoryField::Cache),
        Source::Key {
            file: "memory.stat",
            key: "file"
        }
    );
    assert_eq!(m.source(MemoryField::MaxUsage), Source::File("memory.peak"));

    let c = r.cpu(V2_BURSTABLE).unwrap();
    assert_eq!(c.usage_ns, 302_023 * USEC_NS);
    assert_eq!(c.user_ns, 218_569 * USEC_NS);
    assert_eq!(c.system_ns, 83_453 * USEC_NS);
    let t = c.throttling.unwrap();
    assert_eq!(
        (t.periods, t.throttled_periods, t.throttled_ns),
        (8, 5, 253_320 * USEC_NS)
    );
    // cpu.max "50000 100000"
    assert_eq!(c.quota.unwrap().millicores(), Some(500));
    let p = r.pids(V2_BURSTABLE).unwrap().unwrap();
    assert_eq!((p.current, p.limit), (2, Some(100)));
}

#[test]
fn v2_unlimited_container_without_swap_accounting() {
    let cg = open("v2");
    let mut r = cg.reader();
    let m = r.memory(V2_BESTEFFORT).unwrap();
    assert_eq!(m.limit, None); // memory.max "max"
    assert_eq!(m.swap, 0); // no memory.swap.current: 0
    assert_eq!(
        m.origin,
        MemoryOrigin::V2 {
            swap_accounted: false
        }
    );
    assert!(matches!(
        m.source(MemoryField::Swap),
        Source::Unavailable(_)
    ));
    // inactive_file 0: working set = memory.current.
    assert_eq!(m.working_set, 2_351_104);
    let c = r.cpu(V2_BESTEFFORT).unwrap();
    // cpu.max "max 100000": no quota, period 100 ms.
    assert_eq!(
        c.quota,
        Some(CpuMax {
            quota_us: None,
            period_us: 100_000
        })
    );
    assert_eq!(c.usage_ns, 10_418 * USEC_NS);
    let p = r.pids(V2_BESTEFFORT).unwrap().unwrap();
    assert_eq!((p.current, p.limit), (1, None));
}

#[test]
fn v2_root_has_no_memory_current() {
    let cg = open("v2");
    let mut r = cg.reader();
    let m = r.memory("/").unwrap();
    // usage = anon + file from the root memory.stat.
    assert_eq!(m.usage, 1_203_372_032 + 2_962_550_784);
    assert_eq!(m.usage, 4_165_922_816);
    // working set = (anon + file) − inactive_file
    assert_eq!(m.working_set, 4_165_922_816 - 1_741_631_488);
    // swap = SwapTotal − SwapFree = (2097148 − 1996796) kB
    assert_eq!(m.swap, (2_097_148 - 1_996_796) * KIB);
    assert_eq!(m.limit, None);
    assert_eq!(m.max_usage, None);
    assert_eq!(m.origin, MemoryOrigin::V2Root);
    assert_eq!(
        m.source(MemoryField::Usage).to_string(),
        "memory.stat anon + file (the root cgroup has no memory.current)"
    );
    let c = r.cpu("/").unwrap();
    assert_eq!(c.usage_ns, 83_298_610 * USEC_NS);
    // The root's cpu.stat has no bandwidth keys and there is no cpu.max.
    assert_eq!((c.throttling, c.quota), (None, None));
    assert_eq!(r.pids("/").unwrap(), None);

    let node = r.node().unwrap();
    assert_eq!(node.memory, m);
    // No sys/devices/system/cpu/online in this tree: count cpuN lines of
    // proc/stat (cpu0…cpu3).
    assert_eq!(node.online_cpus, 4);
    assert_eq!(node.meminfo.swap_total, Some(2_097_148 * KIB));
}

#[test]
fn v2_negative_values_read_as_zero() {
    let cg = open("v2");
    let m = cg
        .reader()
        .memory("/system.slice/negative.service")
        .unwrap();
    // anon -4096 → 0, inactive_file -8192 → 0, pgfault -1 → 0
    assert_eq!((m.rss, m.inactive_file, m.pgfault), (0, Some(0), 0));
    // working set = memory.current 4198400 − 0
    assert_eq!(m.working_set, 4_198_400);
    assert_eq!(m.cache, 4_194_304);
}

#[test]
fn mountinfo_this_machine_is_hybrid_with_separate_cpu_and_cpuacct() {
    let l = mountinfo("v1-hybrid/proc/self/mountinfo").unwrap();
    assert_eq!(l.hierarchy, Hierarchy::Hybrid);
    let dir = |name| l.v1_mount(name).map(|m| m.dir.to_str().unwrap().to_owned());
    assert_eq!(dir("memory").as_deref(), Some("memory"));
    assert_eq!(dir("cpu").as_deref(), Some("cpu"));
    assert_eq!(dir("cpuacct").as_deref(), Some("cpuacct"));
    assert_eq!(dir("pids").as_deref(), Some("pids"));
    assert_eq!(dir("name=systemd").as_deref(), Some("systemd"));
    assert_eq!(dir("hugetlb"), None);
    let unified = l.unified.unwrap();
    assert_eq!(unified.dir, Path::new("unified"));
    assert_eq!(unified.mount_point, Path::new("/sys/fs/cgroup/unified"));
    assert_eq!(unified.root, "/");
}

#[test]
fn mountinfo_hybrid_with_comounted_cpu_cpuacct() {
    let l = mountinfo("mountinfo/hybrid-ubuntu2004.txt").unwrap();
    assert_eq!(l.hierarchy, Hierarchy::Hybrid);
    assert!(!l.hierarchy.is_v2(), "hybrid reads as v1");
    let cpu = l.v1_mount("cpu").unwrap();
    assert_eq!(cpu.dir, Path::new("cpu,cpuacct"));
    assert_eq!(l.v1_mount("cpuacct").unwrap(), cpu);
    assert_eq!(
        l.v1_mount("name=systemd").unwrap().dir,
        Path::new("systemd")
    );
    // net_cls,net_prio is not mistaken for anything we read.
    assert_eq!(l.unified.unwrap().dir, Path::new("unified"));
}

#[test]
fn mountinfo_legacy_with_cpuacct_cpu_order() {
    let l = mountinfo("mountinfo/legacy-centos7.txt").unwrap();
    assert_eq!(l.hierarchy, Hierarchy::Legacy);
    assert_eq!(l.unified, None);
    // super options "rw,seclabel,cpuacct,cpu"
    assert_eq!(l.v1_mount("cpu").unwrap().dir, Path::new("cpu,cpuacct"));
    assert_eq!(l.v1_mount("cpuacct").unwrap().dir, Path::new("cpu,cpuacct"));
    assert_eq!(l.v1_mount("memory").unwrap().dir, Path::new("memory"));
    // "name=systemd" with release_agent= and xattr options around it.
    assert!(l.v1_mount("name=systemd").is_some());
}

#[test]
fn mountinfo_unified() {
    let l = mountinfo("mountinfo/unified-ubuntu2204.txt").unwrap();
    assert_eq!(l.hierarchy, Hierarchy::Unified);
    assert!(l.v1.is_empty());
    assert_eq!(l.unified.unwrap().dir, Path::new(""));
}

#[test]
fn paths_cannot_escape_the_hierarchy() {
    let cg = open("v1-hybrid");
    let err = cg.reader().memory("/kubepods/../../../etc").unwrap_err();
    assert!(matches!(err, Error::InvalidPath { .. }), "{err}");
    assert!(cg.dir(Controller::Memory, "/a/./b").is_err());
    assert_eq!(
        cg.dir(Controller::Memory, V1_BURSTABLE).unwrap().unwrap(),
        fixture("v1-hybrid/sys/fs/cgroup/memory").join(V1_BURSTABLE.trim_start_matches('/'))
    );
}

#[test]
fn no_cgroup_filesystem_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("proc/self")).unwrap();
    std::fs::write(
        dir.path().join("proc/self/mountinfo"),
        "22 27 0:21 / /proc rw,relatime - proc proc rw\n",
    )
    .unwrap();
    let err = Cgroups::open(Config::under(dir.path())).unwrap_err();
    assert!(matches!(err, Error::NoCgroupFs { .. }), "{err}");
}

#[test]
fn parse_errors_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("proc/self")).unwrap();
    std::fs::copy(
        fixture("v2/proc/self/mountinfo"),
        root.join("proc/self/mountinfo"),
    )
    .unwrap();
    let cg_dir = root.join("sys/fs/cgroup/bad");
    std::fs::create_dir_all(&cg_dir).unwrap();
    std::fs::write(cg_dir.join("memory.current"), "4096\n").unwrap();
    std::fs::write(cg_dir.join("memory.max"), "max\n").unwrap();
    std::fs::write(cg_dir.join("memory.stat"), "anon 4096\nfile lots\n").unwrap();
    let err = Cgroups::open(Config::under(root))
        .unwrap()
        .reader()
        .memory("/bad")
        .unwrap_err();
    match &err {
        Error::Parse { path, line, .. } => {
            assert!(path.ends_with("bad/memory.stat"));
            assert_eq!(*line, 2);
        }
        other => panic!("expected a parse error, got {other}"),
    }
    assert!(err.to_string().contains("memory.stat:2"), "{err}");
}

/// A copy of the limited v1 container with `memory.use_hierarchy` 0 (or
/// absent), in a temporary tree.
fn v1_container_with_use_hierarchy(value: Option<&str>) -> workingset_cgroup::MemoryStats {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("proc/self")).unwrap();
    std::fs::copy(
        fixture("v1-hybrid/proc/self/mountinfo"),
        root.join("proc/self/mountinfo"),
    )
    .unwrap();
    let src = fixture("v1-hybrid/sys/fs/cgroup/memory").join(V1_BURSTABLE.trim_start_matches('/'));
    let dst = root.join("sys/fs/cgroup/memory/c");
    std::fs::create_dir_all(&dst).unwrap();
    for f in std::fs::read_dir(&src).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), dst.join(f.file_name())).unwrap();
    }
    match value {
        Some(v) => std::fs::write(dst.join("memory.use_hierarchy"), v).unwrap(),
        None => std::fs::remove_file(dst.join("memory.use_hierarchy")).unwrap(),
    }
    Cgroups::open(Config::under(root))
        .unwrap()
        .reader()
        .memory("/c")
        .unwrap()
}

#[test]
fn v1_without_use_hierarchy_reads_local_keys() {
    let m = v1_container_with_use_hierarchy(Some("0\n"));
    assert_eq!(
        m.origin,
        MemoryOrigin::V1 {
            hierarchical: false,
            swap_accounted: true
        }
    );
    // The local keys: rss 8196096, cache 33570816 (equal to the totals in a
    // leaf cgroup, but named differently in the sources).
    assert_eq!((m.rss, m.cache), (8_196_096, 33_570_816));
    assert_eq!(
        m.source(MemoryField::Rss),
        Source::Key {
            file: "memory.stat",
            key: "rss"
        }
    );
    assert_eq!(
        m.source(MemoryField::Cache).to_string(),
        "memory.stat cache"
    );
    // cAdvisor uses total_inactive_file for the working set either way.
    assert_eq!(m.working_set, 42_807_296 - 12_582_912);
    assert_eq!(
        m.source(MemoryField::InactiveFile).to_string(),
        "memory.stat total_inactive_file"
    );
    // No memory.use_hierarchy at all: hierarchical, as on every kernel ≥ 5.x.
    let m = v1_container_with_use_hierarchy(None);
    assert!(matches!(
        m.origin,
        MemoryOrigin::V1 {
            hierarchical: true,
            ..
        }
    ));
}

/// `Detail::Usage` (what `top` reads) gives the same usage, working set,
/// limit and CPU counter as a full read, and leaves the other figures out.
#[test]
fn usage_detail_reads_what_top_shows() {
    for (tree, container) in [("v1-hybrid", V1_BURSTABLE), ("v2", V2_BURSTABLE)] {
        let cg = open(tree);
        let mut full = cg.reader();
        let mut lean = cg.reader();
        lean.set_detail(Detail::Usage);
        let (full_memory, lean_memory) = (
            full.memory(container).unwrap(),
            lean.memory(container).unwrap(),
        );
        assert_eq!(lean_memory.usage, full_memory.usage, "{tree}");
        assert_eq!(lean_memory.working_set, full_memory.working_set, "{tree}");
        assert_eq!(lean_memory.limit, full_memory.limit, "{tree}");
        assert_eq!(lean_memory.rss, full_memory.rss, "{tree}");
        assert_eq!(
            (lean_memory.max_usage, lean_memory.failcnt),
            (None, 0),
            "{tree}"
        );
        let (full_cpu, lean_cpu) = (full.cpu(container).unwrap(), lean.cpu(container).unwrap());
        assert_eq!(lean_cpu.usage_ns, full_cpu.usage_ns, "{tree}");
        assert!(
            full_cpu.quota.is_some(),
            "{tree}: the fixture has a CPU limit"
        );
        assert_eq!(lean_cpu.quota, None, "{tree}");
    }
}
