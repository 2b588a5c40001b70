//! `OwnCgroupChild` and `Workload` on this machine.

use std::path::PathBuf;
use std::time::Duration;

use workingset_testkit::workload::{Work, Workload};
use workingset_testkit::{self as testkit, OwnCgroupChild, UNIFIED, V1_CONTROLLERS};

fn own_v1_path(controller: &str) -> String {
    let text = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    text.lines()
        .find_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, list, path) = (f.next()?, f.next()?, f.next()?);
            list.split(',')
                .any(|c| c == controller)
                .then(|| path.to_owned())
        })
        .unwrap()
}

#[test]
fn child_is_below_our_own_cgroup_in_every_hierarchy_and_removed() {
    if !testkit::real_kernel_tests("child_is_below_our_own_cgroup_in_every_hierarchy_and_removed") {
        return;
    }
    let child = OwnCgroupChild::create("layout").unwrap();
    let mut dirs: Vec<PathBuf> = Vec::new();
    let unified_root = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.contains(" /sys/fs/cgroup ") && l.contains(" - cgroup2 "));
    if !unified_root {
        for controller in V1_CONTROLLERS {
            let own = own_v1_path(controller);
            let path = child.path(controller).unwrap();
            let expected = format!("{}/{}", own.trim_end_matches('/'), child.name());
            assert_eq!(path, expected, "{controller}");
            assert_eq!(child.parent_path(controller).unwrap(), own);
            let dir = child.dir(controller).unwrap();
            assert!(dir.is_dir(), "{}", dir.display());
            dirs.push(dir.to_path_buf());
        }
    }
    if let Some(dir) = child.dir(UNIFIED) {
        assert!(dir.join("cgroup.procs").is_file());
        dirs.push(dir.to_path_buf());
    }
    assert!(child.pids().unwrap().is_empty());
    child.remove().unwrap();
    for dir in dirs {
        assert!(!dir.exists(), "{} was not removed", dir.display());
    }
}

#[test]
fn drop_during_a_panic_removes_the_child_and_the_workload() {
    if !testkit::real_kernel_tests("drop_during_a_panic_removes_the_child_and_the_workload") {
        return;
    }
    let mut seen = None;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let child = OwnCgroupChild::create("panic").unwrap();
        let workload = Workload::start_in(
            &child,
            "workload_entry",
            &Work::Spin {
                max: Duration::from_secs(30),
            },
        )
        .unwrap();
        let dir = child
            .dir("memory")
            .or(child.dir(UNIFIED))
            .unwrap()
            .to_path_buf();
        assert_eq!(child.pids().unwrap(), [workload.pid()]);
        seen = Some((dir, workload.pid()));
        panic!("a failing test");
    }));
    assert!(result.is_err());
    let (dir, pid) = seen.unwrap();
    // Workload dropped (killed, reaped) first, then the child removed.
    assert!(!dir.exists(), "{} left behind", dir.display());
    assert!(
        !PathBuf::from(format!("/proc/{pid}")).exists(),
        "workload {pid} still exists"
    );
}

#[test]
fn remaining_tasks_are_moved_back_not_killed() {
    if !testkit::real_kernel_tests("remaining_tasks_are_moved_back_not_killed") {
        return;
    }
    let child = OwnCgroupChild::create("move-back").unwrap();
    let workload =
        Workload::start_in(&child, "workload_entry", &Work::TouchAnon { bytes: 4096 }).unwrap();
    let pid = workload.pid();
    let parent = child
        .dir("pids")
        .or(child.dir(UNIFIED))
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    child.remove().unwrap();
    // The process survived the removal and now sits in our own cgroup.
    let procs = std::fs::read_to_string(parent.join("cgroup.procs")).unwrap();
    assert!(
        procs.lines().any(|l| l.trim() == pid.to_string()),
        "{pid} not moved back"
    );
    assert!(workload.finish().unwrap().success());
}
