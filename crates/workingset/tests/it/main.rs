//! Integration tests of the `workingset` binary.

// Helpers of a test binary may panic: a panic is a failed test with a message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod agent;
mod deploy;
mod docker;
mod explain;
mod fixture_machine;
mod kubernetes;
mod plugin;
mod python_client;
mod release;
mod remote;
mod serve;
mod server;
mod this_machine;

use std::process::{Command, Output};
use std::time::Duration;

/// Runs the binary with `args`, killing it if it runs longer than 60 s.
pub fn workingset(args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_workingset"));
    command.args(args);
    workingset_testkit::process::run(&mut command, None, Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("workingset {args:?}: {e}"))
}

/// stdout as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("utf-8 stdout")
}

/// stderr as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("utf-8 stderr")
}

/// Not a test: the entry point of workload processes that real-kernel tests
/// start by re-executing this test binary (see `workingset_testkit::workload`).
/// Without the workload environment variable it returns at once.
#[test]
#[ignore = "workload entry point, run only by re-execution from the real-kernel tests"]
fn workload_entry() {
    workingset_testkit::workload::entry();
}
