//! A Metrics API (or core API) answer as `top` decodes it, JSON and
//! protobuf; the first byte picks the status code.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&code, body)) = data.split_first() else {
        return;
    };
    let status = match code % 4 {
        0 => 200,
        1 => 404,
        2 => 403,
        _ => 500,
    };
    workingset_kubeclient::fuzzing::metrics_answer(body, status);
});
