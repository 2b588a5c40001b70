//! One full sampling pass over this machine: node figures, the walk below
//! the cgroup root, and every workload's memory and CPU. This is what the
//! agent repeats every housekeeping interval, so its cost per cgroup bounds
//! how many containers one agent can watch.

use criterion::{Criterion, criterion_group, criterion_main};
use workingset_cgroup::{Cgroups, Config};
use workingset_sampling::sampler::Sampler;

fn full_pass(c: &mut Criterion) {
    let Ok(cgroups) = Cgroups::open(Config::default()) else {
        eprintln!("no cgroup filesystem here; nothing to measure");
        return;
    };
    let mut sampler = Sampler::new(&cgroups);
    let workloads = sampler.sample().map(|s| s.pods.len()).unwrap_or(0);
    c.bench_function(
        &format!("sample this machine ({workloads} workloads)"),
        |b| b.iter(|| sampler.sample().map(|s| s.pods.len())),
    );
}

criterion_group!(benches, full_pass);
criterion_main!(benches);
