//! Integration tests of the `workingset` binary.

// Helpers of a test binary may panic: a panic is a failed test with a message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod agent;
mod docker;
mod fixture_machine;
mod this_machine;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs the binary with `args`, killing it if it runs longer than 60 s.
pub fn workingset(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_workingset"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start workingset");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("poll workingset").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("workingset {args:?} ran for more than 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("collect workingset output")
}

/// stdout as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("utf-8 stdout")
}

/// stderr as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("utf-8 stderr")
}
