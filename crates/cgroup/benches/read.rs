//! Benchmarks of the hot path of a housekeeping loop: parsing `memory.stat`
//! (v1 with its 42 keys, v2 with its 70) and reading one real cgroup's
//! memory and CPU figures from this machine's `/sys/fs/cgroup`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use workingset_cgroup::parse::{MemoryStatV1, MemoryStatV2};
use workingset_cgroup::{Cgroups, Config};

const V1_STAT: &str = include_str!("../tests/fixtures/v1-hybrid/sys/fs/cgroup/memory/memory.stat");
const V2_STAT: &str = include_str!("../tests/fixtures/v2/sys/fs/cgroup/memory.stat");

fn parse(c: &mut Criterion) {
    c.bench_function("parse memory.stat v1", |b| {
        b.iter(|| MemoryStatV1::parse(black_box(V1_STAT)))
    });
    c.bench_function("parse memory.stat v2", |b| {
        b.iter(|| MemoryStatV2::parse(black_box(V2_STAT)))
    });
}

/// This process's own cgroup for `controller` (the `0::` line for v2).
fn own_cgroup(controller: &str) -> Option<String> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines().find_map(|line| {
        let mut f = line.splitn(3, ':');
        let (_, list, path) = (f.next()?, f.next()?, f.next()?);
        let wanted = if controller.is_empty() {
            list.is_empty()
        } else {
            list.split(',').any(|c| c == controller)
        };
        wanted.then(|| path.to_owned())
    })
}

fn live(c: &mut Criterion) {
    let cgroups = match Cgroups::open(Config::default()) {
        Ok(cg) => cg,
        Err(e) => {
            eprintln!("skipping live benchmarks: {e}");
            return;
        }
    };
    let v2 = cgroups.hierarchy().is_v2();
    let own = |controller| own_cgroup(if v2 { "" } else { controller });
    let (Some(memory), Some(cpu)) = (own("memory"), own("cpuacct")) else {
        eprintln!("skipping live benchmarks: no own cgroup in /proc/self/cgroup");
        return;
    };
    let mut reader = cgroups.reader();
    if let Err(e) = reader.memory(&memory).and_then(|_| reader.cpu(&cpu)) {
        eprintln!("skipping live benchmarks: {e}");
        return;
    }
    c.bench_function("read own cgroup memory + cpu (live)", |b| {
        b.iter(|| {
            let m = reader.memory(black_box(&memory));
            let c = reader.cpu(black_box(&cpu));
            (m.is_ok(), c.is_ok())
        })
    });
    c.bench_function("read root cgroup memory + cpu (live)", |b| {
        b.iter(|| (reader.memory("/").is_ok(), reader.cpu("/").is_ok()))
    });
}

criterion_group!(benches, parse, live);
criterion_main!(benches);
