//! `/proc/<pid>/stat` and `cgroup.procs`.
#![no_main]
use libfuzzer_sys::fuzz_target;
use workingset_sampling::procs;

fuzz_target!(|text: &str| {
    std::hint::black_box(procs::parse_stat_ticks(text));
    std::hint::black_box(procs::parse_pids(text).count());
});
