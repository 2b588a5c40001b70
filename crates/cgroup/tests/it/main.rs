//! Integration tests of the cgroup reader: captured fixture trees
//! (`fixtures`) and the real kernel in children of the test's own cgroup
//! (`real`).

// `cfg(test)` marks the modules as test code for clippy's
// allow-unwrap-in-tests (helpers outside `#[test]` functions may unwrap too).
#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod real;

/// Not a test: the entry point of workload processes that `real` starts by
/// re-executing this test binary (see `workingset_testkit::workload`).
/// Without the workload environment variable it returns at once.
#[test]
#[ignore = "workload entry point, run only by re-execution from the real-kernel tests"]
fn workload_entry() {
    workingset_testkit::workload::entry();
}
