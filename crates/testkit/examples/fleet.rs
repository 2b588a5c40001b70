//! The fleet simulator as a process, for `bench/scale.sh`:
//!
//! ```text
//! fleet --nodes 1000 [--first 0] [--pods 30] [--containers 2] [--churn 0] [--slow 0]
//!       [--failing 0] [--threads 1] --nodes-file FILE
//! ```
//!
//! Writes the `--nodes-file` for `workingset server`, prints `ready N` on
//! stdout, then every 10 s one line of its own cost on stderr, until it
//! is killed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::time::{Duration, Instant};

use workingset_testkit::fleet::{Fleet, FleetConfig, cost_line, own_cpu_seconds};

fn main() {
    let mut config = FleetConfig::default();
    let mut nodes_file = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| panic!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--nodes" => config.nodes = value().parse().expect("--nodes N"),
            "--first" => config.first_node = value().parse().expect("--first N"),
            "--pods" => config.pods_per_node = value().parse().expect("--pods N"),
            "--containers" => config.containers_per_pod = value().parse().expect("--containers N"),
            "--churn" => config.churn_per_period = value().parse().expect("--churn N"),
            "--slow" => config.slow_nodes = value().parse().expect("--slow N"),
            "--failing" => config.failing_nodes = value().parse().expect("--failing N"),
            "--threads" => config.worker_threads = value().parse().expect("--threads N"),
            "--nodes-file" => nodes_file = Some(value()),
            other => panic!("unknown flag {other}"),
        }
    }
    // One socket per node, plus the server's connections to them.
    raise_open_files();
    let started = Instant::now();
    let cpu = own_cpu_seconds();
    let fleet = Fleet::start(config).expect("start the fleet");
    if let Some(path) = nodes_file {
        std::fs::write(&path, fleet.nodes_file()).expect("write the nodes file");
    }
    println!("ready {}", fleet.nodes().len());
    std::io::stdout().flush().ok();
    loop {
        std::thread::sleep(Duration::from_secs(10));
        eprintln!("{}", cost_line(fleet.stats(), cpu, started.elapsed()));
    }
}

fn raise_open_files() {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    let raised = rustix::process::Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    let _ = rustix::process::setrlimit(rustix::process::Resource::Nofile, raised);
}
