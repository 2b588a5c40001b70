//! The Docker Engine answers the agent decodes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    workingset_agent::runtime::docker::fuzz_answers(body);
});
