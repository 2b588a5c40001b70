//! The test helpers against the real kernel: children of our own cgroup are
//! created where they should be and always removed, and workloads start
//! inside them and are reaped.

#[cfg(test)]
mod own_cgroup;

/// Workload entry point for `Workload` (re-executed test binary).
#[test]
#[ignore = "workload entry point, run only by re-execution"]
fn workload_entry() {
    workingset_testkit::workload::entry();
}
