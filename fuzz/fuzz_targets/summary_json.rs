//! The kubelet's `/stats/summary` JSON.
#![no_main]
use libfuzzer_sys::fuzz_target;
use workingset_model::summary::Summary;

fuzz_target!(|body: &[u8]| {
    if let Ok(summary) = serde_json::from_slice::<Summary>(body) {
        std::hint::black_box(serde_json::to_vec(&summary).ok());
    }
});
