//! The Prometheus text exposition parser: every item or an error, and each
//! sample's labels iterable.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    for item in workingset_expfmt::parse_items(text) {
        match item {
            Ok(workingset_expfmt::Item::Sample(sample)) => {
                std::hint::black_box(sample.labels.iter().count());
                std::hint::black_box(sample.labels.get("pod"));
            }
            Ok(other) => {
                std::hint::black_box(other);
            }
            Err(error) => {
                std::hint::black_box(error.to_string());
            }
        }
    }
});
