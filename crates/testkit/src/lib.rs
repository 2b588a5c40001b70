//! Test support for workingset — dev-dependency only, never shipped.
//!
//! What it is for: tests that run against the real kernel. It creates
//! cgroups **only below the test process's own cgroup** and removes them
//! again ([`OwnCgroupChild`]), starts workload processes that are moved into
//! such a cgroup before they do anything ([`workload`]), writes test files
//! that are not left in the page cache ([`disk`]), and offers bounded waits
//! ([`wait_for`]). Every wait has a timeout and every process it starts is
//! killed and reaped. Peers that cannot run here are stood in for on
//! loopback: a stub Kubernetes API server ([`stub_apiserver`]), canned
//! kubectl routes ([`kube`]), fake kubelets ([`fake_agent`], and many at
//! once for benchmarks: [`fleet`]).
//!
//! Real-kernel tests do not skip themselves quietly: [`real_kernel_tests`]
//! fails loudly when they cannot run (not root, no cgroup filesystem)
//! unless `WORKINGSET_SKIP_REAL_CGROUP=1` says to skip them.

#![forbid(unsafe_code)]

pub mod disk;
pub mod docker;
pub mod fake_agent;
pub mod fleet;
pub mod kube;
mod own_cgroup;
pub mod pod_tree;
pub mod process;
pub mod stub_apiserver;
pub mod workload;

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

pub use own_cgroup::{OwnCgroupChild, UNIFIED, V1_CONTROLLERS};

/// Where [`report_skip`] appends one line per skipped test, when set
/// (`scripts/test` sets it and prints the lines in its summary).
pub const SKIP_LOG_ENV: &str = "WORKINGSET_SKIP_LOG";

/// Says that `test` did not run and why: on stderr, and as a line
/// `skipped: <test>: <why>` in the file `$WORKINGSET_SKIP_LOG`, so a skip
/// shows in the suite's summary instead of passing silently.
pub fn report_skip(test: &str, why: &str) {
    eprintln!("{test}: SKIPPED: {why}");
    let Some(path) = std::env::var_os(SKIP_LOG_ENV) else {
        return;
    };
    let line = format!("skipped: {test}: {why}\n");
    let appended = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut file| std::io::Write::write_all(&mut file, line.as_bytes()));
    if let Err(error) = appended {
        panic!(
            "{test}: cannot record the skip in {}: {error}",
            path.to_string_lossy()
        );
    }
}

/// Set to `1` to skip tests that need root and the real cgroup filesystem.
pub const SKIP_ENV: &str = "WORKINGSET_SKIP_REAL_CGROUP";

/// Decides whether a real-kernel test runs. Returns `false` (and says so on
/// stderr) only when [`SKIP_ENV`] is `1`; panics with the reason when the
/// test cannot run here, so a missing precondition is a visible failure.
pub fn real_kernel_tests(test: &str) -> bool {
    if std::env::var(SKIP_ENV).is_ok_and(|v| v == "1") {
        report_skip(test, &format!("{SKIP_ENV}=1"));
        return false;
    }
    match effective_uid() {
        Ok(0) => {}
        Ok(uid) => panic!(
            "{test} needs root to create cgroups (running as uid {uid}); \
             run as root or set {SKIP_ENV}=1 to skip real-kernel tests"
        ),
        Err(e) => panic!("{test}: cannot read /proc/self/status: {e}; set {SKIP_ENV}=1 to skip"),
    }
    if !std::path::Path::new("/sys/fs/cgroup").is_dir() {
        panic!("{test}: /sys/fs/cgroup does not exist; set {SKIP_ENV}=1 to skip real-kernel tests");
    }
    true
}

fn effective_uid() -> std::io::Result<u32> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        // Real, effective, saved, filesystem.
        .and_then(|ids| ids.split_ascii_whitespace().nth(1))
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| std::io::Error::other("no Uid: line"))
}

static EXCLUSIVE: Mutex<()> = Mutex::new(());

/// Serialises real-kernel tests within one test binary: CPU-rate and memory
/// measurements should not compete with each other for the machine's cores.
/// A test that panicked while holding it does not poison the others.
pub fn exclusive() -> MutexGuard<'static, ()> {
    EXCLUSIVE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Polls `check` every `every` until it returns `Some`, for at most
/// `timeout`. `None` when time ran out.
pub fn wait_for<T>(
    timeout: Duration,
    every: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(every);
    }
}

/// CPU time a process has had on a CPU, summed over its threads, in
/// nanoseconds (`/proc/<pid>/task/*/schedstat`, first field). Independent of
/// cgroups, so tests can tell a starved workload from a wrong counter.
pub fn process_runtime_ns(pid: u32) -> std::io::Result<u64> {
    let mut total: u64 = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let Ok(task) = task else { continue };
        // A thread that exits between readdir and read simply stops counting.
        let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) else {
            continue;
        };
        let ns = text
            .split_ascii_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad schedstat: {text:?}")))?;
        total = total.saturating_add(ns);
    }
    Ok(total)
}
