//! `workingset top` on the machine the tests run on: the real kernel, a
//! cgroup of the test's own with a process in it.

use std::process::{Command, Stdio};

use workingset_testkit::OwnCgroupChild;

use super::{stderr, stdout, workingset};

#[test]
fn top_node_shows_this_machine() {
    let output = workingset(&["top", "node", "--window=200ms", "--node-name=this-node"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with("NAME        CPU(cores)   CPU(%)   MEMORY(bytes)   MEMORY(%)"),
        "{text}"
    );
    let cells: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(cells[0], "this-node");
    let millicores: u64 = cells[1].strip_suffix('m').unwrap().parse().unwrap();
    let cpu_percent: u64 = cells[2].strip_suffix('%').unwrap().parse().unwrap();
    let mebibytes: u64 = cells[3].strip_suffix("Mi").unwrap().parse().unwrap();
    let memory_percent: u64 = cells[4].strip_suffix('%').unwrap().parse().unwrap();
    let cpus = std::thread::available_parallelism().unwrap().get() as u64;
    assert!(
        millicores <= cpus * 1000 + 50,
        "{millicores}m on {cpus} CPUs"
    );
    assert!(cpu_percent <= 101);
    assert!(mebibytes > 0 && memory_percent <= 100, "{text}");
}

#[test]
fn a_cgroup_of_our_own_is_listed_under_its_parent() {
    let child = OwnCgroupChild::create("ws-top-it").expect("create a child of our own cgroup");
    let mut sleeper = Command::new("sleep")
        .arg("60")
        .stdin(Stdio::null())
        .spawn()
        .expect("start sleep");
    child
        .add_pid(sleeper.id())
        .expect("move sleep into the child cgroup");

    let memory_path = child.path("memory").expect("memory controller").to_owned();
    let (parent, name) = memory_path.rsplit_once('/').unwrap();
    let namespace = match parent.rsplit('/').next() {
        Some("") | None => "/",
        Some(leaf) => leaf,
    };
    let output = workingset(&[
        "top",
        "pod",
        name,
        "-n",
        namespace,
        "--window=200ms",
        "--containers",
    ]);
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    drop(child);

    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let row = text.lines().nth(1).unwrap_or_default();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[..2], [name, name], "{text}");
    assert!(
        cells[2].ends_with('m') && cells[3].ends_with("Mi"),
        "{text}"
    );
}
