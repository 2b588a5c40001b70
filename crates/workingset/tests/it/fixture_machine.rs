//! `workingset top` end to end on a made-up cgroup v2 machine: a captured
//! layout (kubepods with the systemd driver under containerd and CRI-O, a
//! Docker container, a systemd service) whose figures are fixed, so the whole table can be checked byte
//! for byte against figures worked out by hand.
//!
//! The counters do not move between the two samples, so every CPU cell is
//! `0m`; the moving-counter cases are covered on the real kernel.

use std::fs;
use std::path::Path;

use super::{stderr, stdout, workingset};

const POD_UID: &str = "0a5c1b4e-7c3d-4d51-9c0e-3f1f5d0e2a11";
const APP_ID: &str = "4b2e9c8f1a7d3e6b5c0f9a8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c";
const SIDECAR_ID: &str = "7c0ffee1a7d3e6b5c0f9a8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c0";
const PAUSE_ID: &str = "9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0";
const CRIO_POD_UID: &str = "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";
const CRIO_ID: &str = "c710c710a7d3e6b5c0f9a8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c1";
const DOCKER_ID: &str = "d0cce7a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d";
const MIB: u64 = 1 << 20;

/// The key set and order of a kernel 6.x cgroup v2 `memory.stat`.
fn memory_stat(anon: u64, file: u64, active_file: u64, inactive_file: u64) -> String {
    let keys: [(&str, u64); 30] = [
        ("anon", anon),
        ("file", file),
        ("kernel", 1_314_816),
        ("kernel_stack", 65_536),
        ("pagetables", 188_416),
        ("sec_pagetables", 0),
        ("percpu", 2_880),
        ("sock", 0),
        ("vmalloc", 8_192),
        ("shmem", 0),
        ("zswap", 0),
        ("zswapped", 0),
        ("file_mapped", 4_096_000),
        ("file_dirty", 0),
        ("file_writeback", 0),
        ("swapcached", 0),
        ("anon_thp", 0),
        ("file_thp", 0),
        ("shmem_thp", 0),
        ("inactive_anon", anon),
        ("active_anon", 0),
        ("inactive_file", inactive_file),
        ("active_file", active_file),
        ("unevictable", 0),
        ("slab_reclaimable", 312_456),
        ("slab_unreclaimable", 401_232),
        ("slab", 713_688),
        ("workingset_refault_anon", 0),
        ("pgfault", 120_377),
        ("pgmajfault", 12),
    ];
    keys.iter().map(|(k, v)| format!("{k} {v}\n")).collect()
}

fn cpu_stat(usage_usec: u64) -> String {
    format!(
        "usage_usec {usage_usec}\nuser_usec {}\nsystem_usec {}\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\nnr_bursts 0\nburst_usec 0\n",
        usage_usec / 4 * 3,
        usage_usec / 4
    )
}

fn write(dir: &Path, file: &str, text: &str) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join(file), text).unwrap();
}

/// A cgroup with the given memory figures (usage = anon + file + kernel).
fn cgroup(dir: &Path, anon: u64, file: u64, inactive_file: u64, pids: &[u32]) {
    let kernel = 1_314_816;
    write(
        dir,
        "memory.current",
        &format!("{}\n", anon + file + kernel),
    );
    write(
        dir,
        "memory.stat",
        &memory_stat(anon, file, file - inactive_file, inactive_file),
    );
    write(dir, "memory.max", "max\n");
    write(dir, "memory.swap.current", "0\n");
    write(
        dir,
        "memory.events",
        "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n",
    );
    write(dir, "cpu.stat", &cpu_stat(52_000_000));
    write(dir, "cpu.max", "max 100000\n");
    let procs: String = pids.iter().map(|p| format!("{p}\n")).collect();
    write(dir, "cgroup.procs", &procs);
}

fn process(root: &Path, pid: u32, comm: &str) {
    let dir = root.join(format!("proc/{pid}"));
    write(&dir, "comm", &format!("{comm}\n"));
    write(
        &dir,
        "stat",
        &format!(
            "{pid} ({comm}) S 1 {pid} {pid} 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 100 1000 10\n"
        ),
    );
}

/// Builds the machine below `root`, returns the flags that point at it.
pub(super) fn machine(root: &Path) -> Vec<String> {
    let cg = root.join("sys/fs/cgroup");
    write(
        &root.join("proc/self"),
        "mountinfo",
        "24 30 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n",
    );
    write(
        &root.join("proc"),
        "meminfo",
        "MemTotal:       16384000 kB\nMemFree:         8000000 kB\nMemAvailable:   12000000 kB\nBuffers:          100000 kB\nCached:          3000000 kB\nSwapCached:            0 kB\nSwapTotal:             0 kB\nSwapFree:              0 kB\n",
    );
    write(&root.join("proc/sys/kernel"), "hostname", "Fixture-Node\n");
    write(&root.join("sys/devices/system/cpu"), "online", "0-3\n");
    // The root: no memory.current on v2; node usage = anon + file.
    write(
        &cg,
        "memory.stat",
        &memory_stat(3_000 * MIB, 2_000 * MIB, 1_200 * MIB, 800 * MIB),
    );
    write(
        &cg,
        "cpu.stat",
        "usage_usec 900000000\nuser_usec 600000000\nsystem_usec 300000000\n",
    );

    // Parents carry the files of every cgroup; their figures include their children.
    cgroup(
        &cg.join("kubepods.slice"),
        330 * MIB,
        40 * MIB,
        10 * MIB,
        &[],
    );
    cgroup(
        &cg.join("kubepods.slice/kubepods-burstable.slice"),
        330 * MIB,
        40 * MIB,
        10 * MIB,
        &[],
    );
    cgroup(&cg.join("system.slice"), 90 * MIB, 20 * MIB, 8 * MIB, &[]);
    let pod = cg.join(format!(
        "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{}.slice",
        POD_UID.replace('-', "_")
    ));
    cgroup(&pod, 300 * MIB, 40 * MIB, 10 * MIB, &[]);
    cgroup(
        &pod.join(format!("cri-containerd-{APP_ID}.scope")),
        200 * MIB,
        30 * MIB,
        10 * MIB,
        &[101],
    );
    cgroup(
        &pod.join(format!("cri-containerd-{SIDECAR_ID}.scope")),
        20 * MIB,
        2 * MIB,
        0,
        &[102],
    );
    cgroup(
        &pod.join(format!("cri-containerd-{PAUSE_ID}.scope")),
        MIB / 2,
        0,
        0,
        &[100],
    );
    // A BestEffort pod under CRI-O: its container, and conmon's own cgroup,
    // which is a runtime helper and not a container.
    let crio_pod = cg.join(format!(
        "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{}.slice",
        CRIO_POD_UID.replace('-', "_")
    ));
    cgroup(
        &cg.join("kubepods.slice/kubepods-besteffort.slice"),
        12 * MIB,
        0,
        0,
        &[],
    );
    cgroup(&crio_pod, 12 * MIB, 0, 0, &[]);
    cgroup(
        &crio_pod.join(format!("crio-{CRIO_ID}.scope")),
        10 * MIB,
        0,
        0,
        &[103],
    );
    cgroup(
        &crio_pod.join(format!("crio-conmon-{CRIO_ID}.scope")),
        MIB,
        0,
        0,
        &[104],
    );
    process(root, 103, "worker");
    process(root, 104, "conmon");
    process(root, 100, "pause");
    process(root, 101, "app");
    process(root, 102, "envoy");

    cgroup(
        &cg.join(format!("system.slice/docker-{DOCKER_ID}.scope")),
        64 * MIB,
        16 * MIB,
        8 * MIB,
        &[200],
    );
    cgroup(
        &cg.join("system.slice/ssh.service"),
        3 * MIB,
        MIB,
        0,
        &[300],
    );
    // A stopped unit: empty, uncharged, not listed.
    cgroup(&cg.join("system.slice/old.service"), 0, 0, 0, &[]);
    fs::write(cg.join("system.slice/old.service/memory.current"), "0\n").unwrap();
    process(root, 200, "nginx");
    process(root, 300, "sshd");

    vec![
        format!("--cgroupfs={}", cg.display()),
        "--cgroupfs-mount-point=/sys/fs/cgroup".to_owned(),
        format!("--proc={}", root.join("proc").display()),
        format!("--sys={}", root.join("sys").display()),
        "--window=50ms".to_owned(),
    ]
}

fn run(root: &Path, args: &[&str]) -> std::process::Output {
    let flags = machine(root);
    let mut all: Vec<&str> = args.to_vec();
    all.extend(flags.iter().map(String::as_str));
    workingset(&all)
}

#[test]
fn top_node_is_the_v2_root_against_meminfo() {
    let root = tempfile::tempdir().unwrap();
    let output = run(root.path(), &["top", "node"]);
    assert!(output.status.success(), "{}", stderr(&output));
    // Root usage = anon + file = 5000 MiB; working set = 5000 − 800 = 4200 MiB.
    // MemTotal 16384000 KiB = 16000 MiB → 4200/16000 = 26.25 % → 26%.
    // Counters do not move: 0m of 4 CPUs.
    assert_eq!(
        stdout(&output),
        "NAME           CPU(cores)   CPU(%)   MEMORY(bytes)   MEMORY(%)   \n\
         fixture-node   0m           0%       4200Mi          26%         \n"
    );
}

#[test]
fn top_pod_names_every_workload_and_leaves_out_pause() {
    let root = tempfile::tempdir().unwrap();
    let output = run(root.path(), &["top", "pod", "-A", "--containers"]);
    assert!(output.status.success(), "{}", stderr(&output));
    // Working set = anon + file + kernel(1314816 B ≈ 1.25 MiB) − inactive_file:
    //   app     200 + 30 + 1.25 − 10 = 221.25 MiB → 221Mi
    //   sidecar  20 +  2 + 1.25      =  23.25 MiB →  23Mi
    //   docker   64 + 16 + 1.25 −  8 =  73.25 MiB →  73Mi
    //   ssh       3 +  1 + 1.25      =   5.25 MiB →   5Mi
    //   CRI-O   10 +  0 + 1.25      =  11.25 MiB →  11Mi
    // The pause container (its only process is `pause`), CRI-O's conmon
    // cgroup and the empty, uncharged old.service are not listed.
    let expected = "\
NAMESPACE      POD                                    NAME           CPU(cores)   MEMORY(bytes)   
docker         d0cce7a1b2c3                           d0cce7a1b2c3   0m           73Mi            
kubepods       0a5c1b4e-7c3d-4d51-9c0e-3f1f5d0e2a11   4b2e9c8f1a7d   0m           221Mi           
kubepods       0a5c1b4e-7c3d-4d51-9c0e-3f1f5d0e2a11   7c0ffee1a7d3   0m           23Mi            
kubepods       9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d   c710c710a7d3   0m           11Mi            
system.slice   ssh.service                            ssh.service    0m           5Mi             
";
    assert_eq!(stdout(&output), expected);
}

#[test]
fn pod_rows_sum_their_containers_exactly() {
    let root = tempfile::tempdir().unwrap();
    let output = run(root.path(), &["top", "pod", "-n", "kubepods", "--sum"]);
    assert!(output.status.success(), "{}", stderr(&output));
    // 221.25 + 23.25 = 244.5 MiB → 244Mi: summed in bytes, rounded once;
    // the total 244.5 + 11.25 = 255.75 MiB → 255Mi.
    assert_eq!(
        stdout(&output),
        "NAME                                   CPU(cores)   MEMORY(bytes)   \n\
         0a5c1b4e-7c3d-4d51-9c0e-3f1f5d0e2a11   0m           244Mi           \n\
         9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d   0m           11Mi            \n\
         \x20                                      ________     ________        \n\
         \x20                                      0m           255Mi           \n"
    );
}

#[test]
fn kubectl_errors_come_out_as_kubectl_prints_them() {
    let root = tempfile::tempdir().unwrap();
    // As metrics-server answers for objects its listers do not know (the
    // same selection code as our server: `workingset_model::select`).
    let output = run(root.path(), &["top", "node", "elsewhere"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "Error from server (NotFound): node \"elsewhere\" not found\n"
    );
    let output = run(root.path(), &["top", "pod", "nope", "-n", "docker"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "Error from server (NotFound): pods \"nope\" not found\n"
    );
    // No workload in the default namespace: a notice on stderr, exit 0.
    let output = run(root.path(), &["top", "pod"]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(stdout(&output), "");
    assert_eq!(
        stderr(&output),
        "No resources found in default namespace.\n"
    );
    let output = run(root.path(), &["top", "pod", "--sort-by=disk"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "error: --sort-by accepts only cpu or memory\n"
    );
    // The local mode makes no request, but refuses a timeout kubectl
    // refuses (kubectl 1.30+ words it so), before it samples anything.
    let output = run(
        root.path(),
        &["top", "pod", "-A", "--request-timeout", "abc"],
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "error: Invalid timeout value. Timeout must be a single integer in seconds, or an integer followed by a corresponding time unit (e.g. 1s | 2m | 3h)\n"
    );
    assert_eq!(stdout(&output), "");
}

#[test]
fn a_missing_cgroup_filesystem_says_what_to_do() {
    let root = tempfile::tempdir().unwrap();
    let output = workingset(&[
        "top",
        "node",
        &format!("--proc={}", root.path().display()),
        &format!("--cgroupfs={}", root.path().display()),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert!(
        text.starts_with("error: cannot find the cgroup filesystem"),
        "{text}"
    );
}
