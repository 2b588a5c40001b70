//! Go durations (`--window`, `--metric-resolution`, `--request-timeout`).
#![no_main]
use libfuzzer_sys::fuzz_target;
use workingset_model::duration::GoDuration;

fuzz_target!(|text: &str| {
    if let Ok(duration) = text.parse::<GoDuration>() {
        std::hint::black_box(duration.to_string());
    }
});
