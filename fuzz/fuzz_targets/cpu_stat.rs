//! `cpu.stat` (v1 and v2), `cpuacct.stat`, `cpu.max`, the single-value
//! files (`cpuacct.usage`, `memory.limit_in_bytes`, `memory.max`…), CPU
//! lists and `/proc/stat`.
#![no_main]
use libfuzzer_sys::fuzz_target;
use workingset_cgroup::parse::{self, CpuMax, CpuStatV1, CpuStatV2, CpuacctStat};

fuzz_target!(|text: &str| {
    std::hint::black_box(CpuStatV1::parse(text).ok());
    std::hint::black_box(CpuStatV2::parse(text).ok());
    std::hint::black_box(CpuacctStat::parse(text).ok());
    std::hint::black_box(CpuMax::parse(text).ok());
    std::hint::black_box(parse::value(text).ok());
    std::hint::black_box(parse::signed_value(text).ok());
    std::hint::black_box(parse::limit(text).ok());
    std::hint::black_box(parse::keyed_value(text, "usage_usec").ok());
    std::hint::black_box(parse::keyed_lines(text).count());
    std::hint::black_box(parse::cpu_list_count(text).ok());
    std::hint::black_box(parse::proc_stat_cpu_count(text));
});
