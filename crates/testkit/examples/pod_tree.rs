//! Holds a tree of pod cgroups (`testkit::pod_tree`) for a benchmark script:
//! prints the node's cgroup (for `--cgroup-root`) on a line `root PATH`,
//! then waits until its standard input closes (or one hour at most) and
//! removes every cgroup it made.
//!
//!   pod_tree --pods 250 --containers 3

use std::io::Read as _;
use std::time::Duration;

use workingset_testkit::pod_tree::PodCgroupTree;

const LONGEST: Duration = Duration::from_secs(3600);

fn main() {
    let mut pods = 250;
    let mut containers = 3;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().and_then(|v| v.parse().ok());
        match (flag.as_str(), value) {
            ("--pods", Some(n)) => pods = n,
            ("--containers", Some(n)) => containers = n,
            _ => {
                eprintln!("usage: pod_tree [--pods N] [--containers N]");
                std::process::exit(2);
            }
        }
    }
    let tree = match PodCgroupTree::create(pods, containers) {
        Ok(tree) => tree,
        Err(e) => {
            eprintln!("pod_tree: cannot make the cgroups: {e}");
            std::process::exit(1);
        }
    };
    println!("root {} cgroups {}", tree.root(), tree.workloads().len());
    // Standard input closing is the signal to clean up; a watchdog bounds
    // the wait if the script dies without closing it.
    let (done, wait) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        let _ = done.send(());
    });
    let _ = wait.recv_timeout(LONGEST);
    drop(tree);
}
