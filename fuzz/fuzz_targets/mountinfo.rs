//! `/proc/self/mountinfo`: every line parsed or refused, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use workingset_cgroup::parse;

fuzz_target!(|text: &str| {
    for mount in parse::mountinfo(text) {
        std::hint::black_box(mount.map(|m| format!("{m:?}")).ok());
    }
    std::hint::black_box(parse::unescape(text));
});
