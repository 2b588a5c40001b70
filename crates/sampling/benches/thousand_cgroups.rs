//! The sampling pass over 1,000 real cgroups (250 pods × 3
//! containers, plus the pods' own cgroups, made beneath this process's own
//! cgroup by `testkit::pod_tree`), beside the floor for the same work: one
//! `open` + `read` of each file a pass needs at least (memory.stat, memory
//! usage and limit, cpuacct.usage; memory.stat, memory.current, memory.max
//! and cpu.stat on cgroup v2) in a plain loop. The target is a pass
//! within 1.5× of the floor: the pass `top` makes ([`Detail::Usage`]) reads
//! the floor's files; the agent's pass ([`Detail::Full`]) reads cAdvisor's
//! figures too. On cgroup v1 a third figure reads, the same
//! plain way, every file a pass reads (the floor's and cAdvisor's extra
//! figures), to tell the cost of reading from the cost of what is read.

use std::fs::File;
use std::hint::black_box;
use std::io::Read as _;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use workingset_cgroup::{Cgroups, Config, Detail};
use workingset_sampling::sampler::Sampler;
use workingset_testkit::pod_tree::PodCgroupTree;

const PODS: usize = 250;
const CONTAINERS_PER_POD: usize = 3;

const V1_FILES: [&str; 4] = [
    "memory.stat",
    "memory.usage_in_bytes",
    "memory.limit_in_bytes",
    "cpuacct.usage",
];
const V2_FILES: [&str; 4] = ["memory.stat", "memory.current", "memory.max", "cpu.stat"];

/// What a cgroup v1 pass reads per cgroup beyond those: the figures
/// cAdvisor serves (peak usage, fail count, kernel memory, user/system
/// time, throttling, CPU quota).
const V1_PASS_EXTRA: [&str; 7] = [
    "memory.max_usage_in_bytes",
    "memory.failcnt",
    "memory.kmem.usage_in_bytes",
    "cpuacct.stat",
    "cpu.stat",
    "cpu.cfs_quota_us",
    "cpu.cfs_period_us",
];

/// `names` in every workload of the tree, each in the first hierarchy that
/// has it; empty unless every workload has every name.
fn files(tree: &PodCgroupTree, names: &[&str]) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for workload in tree.workloads() {
        for name in names {
            let found = tree.mounts().iter().find_map(|mount| {
                let path = mount.join(workload.trim_start_matches('/')).join(name);
                path.exists().then_some(path)
            });
            files.extend(found);
        }
    }
    if files.len() == tree.workloads().len() * names.len() {
        files
    } else {
        Vec::new()
    }
}

/// Reads each file with one `open` and reads to its end, as plainly as
/// the standard library does it.
fn read_all(files: &[PathBuf], buffer: &mut Vec<u8>) -> usize {
    let mut bytes = 0;
    for path in files {
        buffer.clear();
        if let Ok(mut file) = File::open(path) {
            bytes += file.read_to_end(buffer).unwrap_or(0);
        }
    }
    bytes
}

fn thousand(c: &mut Criterion) {
    let tree = match PodCgroupTree::create(PODS, CONTAINERS_PER_POD) {
        Ok(tree) => tree,
        Err(e) => {
            eprintln!("skipped: cannot make the cgroups to measure ({e})");
            return;
        }
    };
    let cgroups = match Cgroups::open(Config::default().with_cgroup_root(tree.root())) {
        Ok(cgroups) => cgroups,
        Err(e) => {
            eprintln!("skipped: no cgroup filesystem here ({e})");
            return;
        }
    };
    let mut sampler = Sampler::new(&cgroups);
    let found = sampler.sample().map(|s| s.pods.len()).unwrap_or(0);
    if found != PODS {
        eprintln!(
            "skipped: the sampler found {found} pods of {PODS} in {}",
            tree.root()
        );
        return;
    }
    let floor = Some(files(&tree, &V1_FILES))
        .filter(|files| !files.is_empty())
        .unwrap_or_else(|| files(&tree, &V2_FILES));
    if floor.is_empty() {
        eprintln!("skipped: no memory and CPU files in {}", tree.root());
        return;
    }
    let cgroup_count = tree.workloads().len();
    c.bench_function(&format!("sampling pass, {cgroup_count} cgroups"), |b| {
        b.iter(|| sampler.sample().map(|s| s.pods.len()))
    });
    // What `top` reads: the floor's files and the walk.
    sampler.set_detail(Detail::Usage);
    c.bench_function(
        &format!("sampling pass for top (usage only), {cgroup_count} cgroups"),
        |b| b.iter(|| sampler.sample().map(|s| s.pods.len())),
    );
    let mut buffer = Vec::with_capacity(8192);
    c.bench_function(&format!("floor: open + read {} files", floor.len()), |b| {
        b.iter(|| black_box(read_all(&floor, &mut buffer)))
    });
    // The same comparison for the files a v1 pass reads, where they exist.
    let mut names = V1_FILES.to_vec();
    names.extend(V1_PASS_EXTRA);
    let pass_files = files(&tree, &names);
    if !pass_files.is_empty() {
        c.bench_function(
            &format!("open + read the pass's {} files", pass_files.len()),
            |b| b.iter(|| black_box(read_all(&pass_files, &mut buffer))),
        );
    }
}

criterion_group!(benches, thousand);
criterion_main!(benches);
