//! A kubeconfig file resolved as `top` resolves it.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &[u8]| {
    workingset_kubeclient::fuzzing::kubeconfig(text);
});
