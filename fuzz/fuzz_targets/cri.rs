//! The CRI listings (protobuf) the agent decodes; the first two bytes say
//! where the sandboxes end and the containers begin.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((split, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let at = usize::from(u16::from_le_bytes(*split)).min(rest.len());
    let (sandboxes, containers) = rest.split_at(at);
    workingset_agent::runtime::cri::fuzz_answers(sandboxes, containers);
});
