//! `memory.stat` (v1 and v2) and `/proc/meminfo`.
#![no_main]
use libfuzzer_sys::fuzz_target;
use workingset_cgroup::parse::{Meminfo, MemoryStatV1, MemoryStatV2};

fuzz_target!(|text: &str| {
    std::hint::black_box(MemoryStatV1::parse(text).ok());
    std::hint::black_box(MemoryStatV2::parse(text).ok());
    std::hint::black_box(Meminfo::parse(text).ok());
});
