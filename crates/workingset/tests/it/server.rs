//! The metrics server end to end, with the real kubectl as its client.
//!
//! Two kinds of clusters, each on loopback and private to one test:
//!
//! - **Fixture cluster**: `workingset serve` (node `alpha`, the cgroup v2
//!   fixture machine of `fixture_machine.rs`) plus two real `workingset
//!   agent` processes (`beta`, `gamma`) on copies of the captured cgroup v1
//!   fixture whose pod UIDs are renamed, so no pod is on two nodes. A nodes
//!   file gives `beta` and `gamma` labels for `-l`. Every figure comes from
//!   files, so the tables are the same on every machine (CPU counters do
//!   not move: `0m`); real agents, the real scrape path.
//! - **Fake cluster**: `workingset server` over [`FakeAgent`]s, whose CPU
//!   counters move by exactly the configured rate per sample, so CPU cells
//!   and percentages are exact (`250m`, `37%`) and the same at every tick,
//!   and which can be broken on purpose (garbage, 5 MB, too slow).
//!
//! The byte-for-byte comparison of `workingset top` with kubectl 1.33 runs
//! on the fake cluster: its figures do not depend on when either client
//! asks, so equal bytes mean equal behaviour, not a lucky tick. (The
//! fixture cluster would be stable too, but all its CPU cells are `0m`.)
//!
//! Every process and fake agent is stopped when its test ends, even on a
//! panic (guards), and every wait is bounded. Resolutions are 1 s.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;
use workingset_testkit::fake_agent::{Behaviour, FakeAgent, FakeNode, FakePod};
use workingset_testkit::kube::{kubectl_available, run_kubectl, write_kubeconfig};

use super::agent::{Agent, get, get_with, wait_for_200};
use super::{fixture_machine, stderr, stdout};

const V1_HYBRID: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../cgroup/tests/fixtures/v1-hybrid"
);
const METRICS: &str = "/apis/metrics.k8s.io/v1beta1";
/// How long a cluster may take to serve everything it should.
const SETTLE: Duration = Duration::from_secs(30);
const KUBECTL_TIMEOUT: Duration = Duration::from_secs(30);
const MIB: u64 = 1 << 20;
const KIB: u64 = 1 << 10;
/// The `kernel` bytes of every cgroup of the v2 fixture machine.
const FIXTURE_KERNEL: u64 = 1_314_816;

// The fixture cluster's pods. Both fixtures have a pod 0a5c…; on alpha it
// keeps its UID, on beta and gamma it is renamed.
const ALPHA_POD: &str = "0a5c1b4e-7c3d-4d51-9c0e-3f1f5d0e2a11";
const ALPHA_CRIO_POD: &str = "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";
const V1_POD: &str = "0a5c1b4e-7c3d-4d51-9c0e-3f1f5d0e2a11";
const V1_IDLE_POD: &str = "6e1d2c3b-4a59-4f68-8e7d-6c5b4a392817";
const BETA_POD: &str = "be7a0000-7c3d-4d51-9c0e-3f1f5d0e2a11";
const GAMMA_POD: &str = "9a3a0000-7c3d-4d51-9c0e-3f1f5d0e2a11";
const GAMMA_IDLE_POD: &str = "9a3a1111-4a59-4f68-8e7d-6c5b4a392817";

/// The fixture machines have no container runtime; do not ask this one's.
fn no_runtimes() -> Vec<String> {
    vec!["--docker-socket=".to_owned(), "--cri-socket=".to_owned()]
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

/// Copies the directory `from` to `to`, replacing `renames` in every path
/// component (file contents are copied verbatim).
fn copy_renaming(from: &Path, to: &Path, renames: &[(&str, &str)]) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let mut name = entry.file_name().to_string_lossy().into_owned();
        for (old, new) in renames {
            name = name.replace(old, new);
        }
        let target = to.join(name);
        if entry.file_type().unwrap().is_dir() {
            copy_renaming(&entry.path(), &target, renames);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The cgroup v1 fixture copied below `root` with its pods renamed; the
/// flags that point an agent at it.
fn v1_machine(root: &Path, renames: &[(&str, &str)]) -> Vec<String> {
    copy_renaming(Path::new(V1_HYBRID), root, renames);
    vec![
        format!("--cgroupfs={}", root.join("sys/fs/cgroup").display()),
        "--cgroupfs-mount-point=/sys/fs/cgroup".to_owned(),
        format!("--proc={}", root.join("proc").display()),
        format!("--sys={}", root.join("sys").display()),
    ]
}

/// `workingset agent` arguments for node `name` on `listen`.
fn agent_args(name: &str, listen: &str, machine: &[String]) -> Vec<String> {
    let mut args = strings(&[
        "agent",
        "--listen",
        listen,
        "--node-name",
        name,
        "--housekeeping-interval",
        "200ms",
    ]);
    args.extend(no_runtimes());
    args.extend_from_slice(machine);
    args
}

/// Stops a daemon with SIGTERM and checks it exits 0 without a panic.
fn stop_cleanly(daemon: &mut Agent, what: &str) {
    daemon.signal("TERM");
    let status = daemon.wait(Duration::from_secs(15));
    let log = daemon.stderr();
    assert_eq!(
        status.code(),
        Some(0),
        "{what} exited {status}; stderr:\n{log}"
    );
    assert!(!log.contains("panicked"), "{what} panicked:\n{log}");
}

/// A body from the server that must be 200 and JSON.
fn get_json(addr: SocketAddr, path: &str) -> Value {
    let (status, body) = get(addr, path);
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

/// Names of the served node metrics.
fn served_nodes(addr: SocketAddr) -> BTreeSet<String> {
    let list = get_json(addr, &format!("{METRICS}/nodes"));
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["metadata"]["name"].as_str().unwrap().to_owned())
        .collect()
}

/// (namespace, name) of the served pod metrics.
fn served_pods(addr: SocketAddr) -> BTreeSet<(String, String)> {
    let list = get_json(addr, &format!("{METRICS}/pods"));
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            let meta = &item["metadata"];
            (
                meta["namespace"].as_str().unwrap().to_owned(),
                meta["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pod(namespace: &str, name: &str) -> (String, String) {
    (namespace.to_owned(), name.to_owned())
}

/// Waits (bounded) until exactly `nodes` have metrics and at least `pods`.
fn wait_until_served(addr: SocketAddr, nodes: &[&str], pods: &[(String, String)]) {
    let want_nodes: BTreeSet<String> = nodes.iter().map(|n| (*n).to_owned()).collect();
    let deadline = Instant::now() + SETTLE;
    loop {
        let have_nodes = served_nodes(addr);
        let have_pods = served_pods(addr);
        if have_nodes == want_nodes && pods.iter().all(|p| have_pods.contains(p)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not served within {SETTLE:?}: nodes {have_nodes:?} (want {want_nodes:?}), pods {have_pods:?} (want at least {pods:?})"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `workingset_server_scrapes_total` of `node`, by outcome.
fn scrapes(addr: SocketAddr, node: &str) -> BTreeMap<String, f64> {
    let (status, text) = get(addr, "/metrics");
    assert_eq!(status, 200, "{text}");
    let mut counts = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("workingset_server_scrapes_total{") else {
            continue;
        };
        let (labels, value) = rest.split_once("} ").unwrap();
        let labels: BTreeMap<&str, &str> = labels
            .split(',')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k, v.trim_matches('"')))
            .collect();
        if labels.get("node") == Some(&node) {
            counts.insert(labels["outcome"].to_owned(), value.parse().unwrap());
        }
    }
    counts
}

/// Waits (bounded) until `node` has at least `at_least` scrapes with `outcome`.
fn wait_for_scrapes(addr: SocketAddr, node: &str, outcome: &str, at_least: f64) {
    let deadline = Instant::now() + SETTLE;
    loop {
        let counts = scrapes(addr, node);
        if counts.get(outcome).copied().unwrap_or(0.0) >= at_least {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{node}: not {at_least} scrapes with outcome {outcome:?} within {SETTLE:?}: {counts:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs kubectl and returns its stdout; it must exit 0 and print nothing
/// on stderr (a discovery hiccup would show there).
fn kubectl(version: &str, kubeconfig: &Path, args: &[&str]) -> String {
    let output = run_kubectl(version, kubeconfig, args, KUBECTL_TIMEOUT);
    assert!(
        output.status.success() && output.stderr.is_empty(),
        "kubectl.{version} {args:?}: {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        stdout(&output),
        stderr(&output)
    );
    stdout(&output)
}

/// `kubectl get --raw PATH`, parsed.
fn raw(version: &str, kubeconfig: &Path, path: &str) -> Value {
    let body = kubectl(version, kubeconfig, &["get", "--raw", path]);
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("get --raw {path}: {e}: {body}"))
}

/// The cells of every line after the header.
fn rows(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .skip(1)
        .map(|line| line.split_whitespace().map(str::to_owned).collect())
        .collect()
}

fn header(table: &str) -> Vec<&str> {
    table
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect()
}

fn item_names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items: {list}"))
        .iter()
        .map(|item| item["metadata"]["name"].as_str().unwrap().to_owned())
        .collect()
}

/// A memory quantity in bytes (`Ki`/`Mi`/`Gi` suffixes or plain).
fn bytes(quantity: &str) -> u64 {
    for (suffix, scale) in [("Ki", KIB), ("Mi", MIB), ("Gi", 1 << 30)] {
        if let Some(n) = quantity.strip_suffix(suffix) {
            return n.parse::<u64>().unwrap() * scale;
        }
    }
    quantity
        .parse()
        .unwrap_or_else(|e| panic!("{quantity}: {e}"))
}

/// Lays out `rows` as kubectl does (Go tabwriter: minwidth 6, padding 3,
/// every cell including the last followed by a tab, so padded).
fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.chars().count() + 3)
                .max()
                .unwrap_or(0)
                .max(6)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        for (cell, width) in row.iter().zip(&widths) {
            out.push_str(&format!("{cell:<width$}"));
        }
        out.push('\n');
    }
    out
}

fn cells(cells: &[&str]) -> Vec<String> {
    strings(cells)
}

/// `workingset serve` (alpha) and two agents (beta, gamma) on fixture
/// machines, a nodes file with labels, and a kubeconfig for the server.
struct FixtureCluster {
    // Fields drop in order: the server goes first, so it never reports the
    // agents' ends as failures while the test is being torn down.
    serve: Agent,
    _beta: Agent,
    gamma: Option<Agent>,
    gamma_machine: Vec<String>,
    kubeconfig: PathBuf,
    _dir: TempDir,
}

impl FixtureCluster {
    fn start() -> FixtureCluster {
        let dir = tempfile::tempdir().unwrap();
        let beta_machine = v1_machine(&dir.path().join("beta"), &[(V1_POD, BETA_POD)]);
        let gamma_machine = v1_machine(
            &dir.path().join("gamma"),
            &[(V1_POD, GAMMA_POD), (V1_IDLE_POD, GAMMA_IDLE_POD)],
        );
        let beta = Agent::spawn(&agent_args("beta", "127.0.0.1:0", &beta_machine));
        let gamma = Agent::spawn(&agent_args("gamma", "127.0.0.1:0", &gamma_machine));
        let nodes_file = dir.path().join("nodes");
        fs::write(
            &nodes_file,
            format!(
                "# The agents besides serve's own machine.\n\
                 beta=http://{} tier=edge zone=b\n\
                 \n\
                 gamma=http://{} tier=core\n",
                beta.addr, gamma.addr
            ),
        )
        .unwrap();

        // The v2 fixture, without `top`'s --window.
        let alpha_machine: Vec<String> = fixture_machine::machine(&dir.path().join("alpha"))
            .into_iter()
            .filter(|flag| !flag.starts_with("--window"))
            .collect();
        let mut args = strings(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--node-name",
            "alpha",
            "--metric-resolution",
            "1s",
            "--housekeeping-interval",
            "200ms",
            "--nodes-file",
        ]);
        args.push(nodes_file.display().to_string());
        args.extend(no_runtimes());
        args.extend(alpha_machine);
        let serve = Agent::spawn(&args);
        let kubeconfig = write_kubeconfig(dir.path(), &format!("http://{}", serve.addr));

        wait_for_200(serve.addr, "/readyz");
        wait_until_served(
            serve.addr,
            &["alpha", "beta", "gamma"],
            &[
                pod("kubepods", ALPHA_POD),
                pod("kubepods", ALPHA_CRIO_POD),
                pod("kubepods", BETA_POD),
                pod("kubepods", GAMMA_POD),
                pod("docker", "d0cce7a1b2c3"),
                pod("system.slice", "ssh.service"),
            ],
        );
        FixtureCluster {
            serve,
            _beta: beta,
            gamma: Some(gamma),
            gamma_machine,
            kubeconfig,
            _dir: dir,
        }
    }
}

/// Everything kubectl asks of a metrics server, with both the oldest and
/// the newest kubectl this project imitates: each command succeeds, prints
/// nothing on stderr, and shows the workloads of all three nodes.
#[test]
fn kubectl_top_and_get_work_against_serve_and_two_agents() {
    if !kubectl_available("kubectl_top_and_get_work_against_serve_and_two_agents") {
        return;
    }
    let cluster = FixtureCluster::start();
    let config = cluster.kubeconfig.as_path();
    // The node rows are the figures of the files (see fixture_machine.rs
    // for alpha's: 4200Mi of 16000Mi; the v1 fixture's root: 75Mi of a
    // large machine). Counters do not move: 0m.
    let node_rows = BTreeMap::from([
        ("alpha", cells(&["alpha", "0m", "0%", "4200Mi", "26%"])),
        ("beta", cells(&["beta", "0m", "0%", "75Mi", "0%"])),
        ("gamma", cells(&["gamma", "0m", "0%", "75Mi", "0%"])),
    ]);
    for version in ["1.27", "1.33"] {
        let k = |args: &[&str]| kubectl(version, config, args);
        let node_header = if version == "1.27" {
            ["NAME", "CPU(cores)", "CPU%", "MEMORY(bytes)", "MEMORY%"]
        } else {
            ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"]
        };
        let nodes_table = |names: &[&str]| {
            let mut all = vec![strings(&node_header)];
            all.extend(names.iter().map(|n| node_rows[n].clone()));
            table(&all)
        };

        // top node, by name, by label (the nodes file's labels).
        assert_eq!(
            k(&["top", "node"]),
            nodes_table(&["alpha", "beta", "gamma"])
        );
        assert_eq!(k(&["top", "node", "beta"]), nodes_table(&["beta"]));
        assert_eq!(
            k(&["top", "node", "-l", "tier=edge"]),
            nodes_table(&["beta"])
        );
        assert_eq!(
            k(&["top", "node", "-l", "tier!=edge"]),
            nodes_table(&["alpha", "gamma"])
        );
        assert_eq!(
            k(&["top", "node", "--selector", "tier in (core,edge),zone"]),
            nodes_table(&["beta"])
        );

        // top pod -A: every node's workloads, sorted by namespace and name.
        let text = k(&["top", "pod", "-A"]);
        assert_eq!(
            header(&text),
            ["NAMESPACE", "NAME", "CPU(cores)", "MEMORY(bytes)"]
        );
        let listed: Vec<(String, String)> = rows(&text)
            .iter()
            .map(|r| (r[0].clone(), r[1].clone()))
            .collect();
        let mut expected = vec![
            pod("docker", "d0cce7a1b2c3"),
            pod("kubepods", ALPHA_POD),
            pod("kubepods", ALPHA_CRIO_POD),
            pod("kubepods", BETA_POD),
            pod("kubepods", V1_IDLE_POD),
            pod("kubepods", GAMMA_POD),
            pod("kubepods", GAMMA_IDLE_POD),
            pod("system.slice", "ssh.service"),
        ];
        expected.sort();
        assert_eq!(listed, expected, "{text}");

        // --containers: container names under their pods, sorted. Not the
        // pause container of alpha's pod (9f8e7d6c5b4a, like the v1
        // fixture's idle container). The idle pods' d1e2f3a4b5c6 has no
        // cpuacct cgroup: the agent serves its per-process counter, so it
        // is listed here as local `top` lists it.
        let text = k(&["top", "pod", "-A", "--containers"]);
        assert_eq!(
            header(&text),
            ["NAMESPACE", "POD", "NAME", "CPU(cores)", "MEMORY(bytes)"]
        );
        let listed: Vec<Vec<String>> = rows(&text).iter().map(|r| r[..3].to_vec()).collect();
        let mut expected: Vec<Vec<String>> = [
            ["docker", "d0cce7a1b2c3", "d0cce7a1b2c3"],
            ["kubepods", ALPHA_POD, "4b2e9c8f1a7d"],
            ["kubepods", ALPHA_POD, "7c0ffee1a7d3"],
            ["kubepods", ALPHA_CRIO_POD, "c710c710a7d3"],
            ["kubepods", BETA_POD, "4b2e9c8f1a7d"],
            ["kubepods", V1_IDLE_POD, "9f8e7d6c5b4a"],
            ["kubepods", V1_IDLE_POD, "d1e2f3a4b5c6"],
            ["kubepods", GAMMA_POD, "4b2e9c8f1a7d"],
            ["kubepods", GAMMA_IDLE_POD, "9f8e7d6c5b4a"],
            ["kubepods", GAMMA_IDLE_POD, "d1e2f3a4b5c6"],
            ["system.slice", "ssh.service", "ssh.service"],
        ]
        .iter()
        .map(|row| cells(row))
        .collect();
        expected.sort();
        assert_eq!(listed, expected, "{text}");

        // One pod by name: 221.25 + 23.25 MiB, summed then floored.
        assert_eq!(
            k(&["top", "pod", "-n", "kubepods", ALPHA_POD]),
            table(&[
                cells(&["NAME", "CPU(cores)", "MEMORY(bytes)"]),
                cells(&[ALPHA_POD, "0m", "244Mi"]),
            ])
        );

        // --sort-by=memory --sum: descending, and the footer is the exact
        // total of what the Metrics API serves for the namespace.
        let text = k(&["top", "pod", "-n", "kubepods", "--sort-by=memory", "--sum"]);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.len() >= 6, "{text}");
        let pod_rows = &rows(&text)[..lines.len() - 3];
        let memory: Vec<u64> = pod_rows.iter().map(|r| bytes(&r[2])).collect();
        assert!(memory.windows(2).all(|w| w[0] >= w[1]), "{text}");
        assert_eq!(pod_rows[0][0], ALPHA_POD, "{text}");
        let served = raw(
            version,
            config,
            &format!("{METRICS}/namespaces/kubepods/pods"),
        );
        let total: u64 = served["items"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["containers"].as_array().unwrap())
            .map(|c| bytes(c["usage"]["memory"].as_str().unwrap()))
            .sum();
        assert_eq!(
            item_names(&served).len(),
            pod_rows.len(),
            "{served}\n{text}"
        );
        assert_eq!(
            lines[lines.len() - 2]
                .split_whitespace()
                .collect::<Vec<_>>(),
            ["________", "________"],
            "{text}"
        );
        assert_eq!(
            lines[lines.len() - 1]
                .split_whitespace()
                .collect::<Vec<_>>(),
            ["0m".to_owned(), format!("{}Mi", total / MIB)],
            "{text}"
        );

        // No workload in the default namespace: kubectl then lists the
        // namespace's pods (a core request the server answers) and says so.
        let output = run_kubectl(version, config, &["top", "pod"], KUBECTL_TIMEOUT);
        assert_eq!(
            (output.status.code(), stdout(&output), stderr(&output)),
            (
                Some(0),
                String::new(),
                "No resources found in default namespace.\n".to_owned()
            )
        );

        check_raw_paths(version, config);

        // kubectl get: full discovery, then Table output.
        let text = k(&["get", "nodemetrics"]);
        assert_eq!(header(&text), ["NAME", "CPU", "MEMORY", "WINDOW"], "{text}");
        let names: Vec<String> = rows(&text).iter().map(|r| r[0].clone()).collect();
        assert_eq!(names, ["alpha", "beta", "gamma"], "{text}");
        let text = k(&["get", "podmetrics", "-A"]);
        assert_eq!(
            header(&text),
            ["NAMESPACE", "NAME", "CPU", "MEMORY", "WINDOW"],
            "{text}"
        );
        let alpha_row = rows(&text)
            .into_iter()
            .find(|r| r[1] == ALPHA_POD)
            .unwrap_or_else(|| panic!("{text}"));
        // The Table's cells are the pod's sums, as quantities.
        let pod_memory = format!("{}Ki", (242 * MIB + 2 * FIXTURE_KERNEL) / KIB);
        assert_eq!(
            alpha_row[..4],
            cells(&["kubepods", ALPHA_POD, "0", &pod_memory]),
            "{text}"
        );
        let text = k(&["get", "nodes.metrics.k8s.io", "beta"]);
        assert_eq!(rows(&text)[0][0], "beta", "{text}");
    }
}

/// `kubectl get --raw` on every path of the server, each answer parsed.
fn check_raw_paths(version: &str, config: &Path) {
    let get = |path: &str| raw(version, config, path);

    let api = get("/api");
    assert_eq!(api["kind"], "APIVersions", "{api}");
    let groups = get("/apis");
    assert_eq!(groups["kind"], "APIGroupList", "{groups}");
    let metrics_group = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "metrics.k8s.io")
        .unwrap_or_else(|| panic!("{groups}"));
    assert_eq!(
        metrics_group["preferredVersion"]["groupVersion"],
        "metrics.k8s.io/v1beta1"
    );
    let group = get("/apis/metrics.k8s.io");
    assert_eq!(
        (group["kind"].as_str(), group["name"].as_str()),
        (Some("APIGroup"), Some("metrics.k8s.io")),
        "{group}"
    );
    let resources = get(METRICS);
    assert_eq!(resources["kind"], "APIResourceList", "{resources}");
    let kinds: Vec<(&str, &str)> = resources["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["name"].as_str().unwrap(), r["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(kinds, [("nodes", "NodeMetrics"), ("pods", "PodMetrics")]);

    let nodes = get(&format!("{METRICS}/nodes"));
    assert_eq!(nodes["kind"], "NodeMetricsList", "{nodes}");
    assert_eq!(item_names(&nodes), ["alpha", "beta", "gamma"]);
    let beta = &nodes["items"][1];
    assert_eq!(beta["metadata"]["labels"]["tier"], "edge", "{beta}");
    assert_eq!(beta["usage"]["cpu"], "0", "{beta}");
    assert_eq!(
        bytes(beta["usage"]["memory"].as_str().unwrap()) / MIB,
        75,
        "{beta}"
    );
    let alpha = get(&format!("{METRICS}/nodes/alpha"));
    assert_eq!(alpha["kind"], "NodeMetrics", "{alpha}");
    assert_eq!(alpha["metadata"]["name"], "alpha");
    assert_eq!(alpha["usage"]["memory"], "4200Mi", "{alpha}");
    let edge = get(&format!("{METRICS}/nodes?labelSelector=tier%3Dedge"));
    assert_eq!(item_names(&edge), ["beta"]);

    let pods = get(&format!("{METRICS}/pods"));
    assert_eq!(pods["kind"], "PodMetricsList", "{pods}");
    let names = item_names(&pods);
    for expected in [ALPHA_POD, BETA_POD, GAMMA_POD, "ssh.service"] {
        assert!(names.iter().any(|n| n == expected), "{expected}: {names:?}");
    }
    let kubepods = get(&format!("{METRICS}/namespaces/kubepods/pods"));
    assert!(
        kubepods["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["metadata"]["namespace"] == "kubepods"),
        "{kubepods}"
    );
    let one = get(&format!("{METRICS}/namespaces/kubepods/pods/{ALPHA_POD}"));
    assert_eq!(one["kind"], "PodMetrics", "{one}");
    let containers: Vec<(&str, u64)> = one["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap(),
                bytes(c["usage"]["memory"].as_str().unwrap()),
            )
        })
        .collect();
    // Working sets of the v2 fixture (see fixture_machine.rs): anon +
    // file + kernel − inactive_file.
    assert_eq!(
        containers,
        [
            ("4b2e9c8f1a7d", 220 * MIB + FIXTURE_KERNEL),
            ("7c0ffee1a7d3", 22 * MIB + FIXTURE_KERNEL)
        ]
    );
    let docker = get(&format!(
        "{METRICS}/pods?fieldSelector=metadata.namespace%3Ddocker"
    ));
    assert_eq!(item_names(&docker), ["d0cce7a1b2c3"]);

    // The core requests kubectl makes, answered from the agents.
    let core = get("/api/v1");
    assert_eq!(core["kind"], "APIResourceList", "{core}");
    let kinds: Vec<(&str, &str)> = core["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["name"].as_str().unwrap(), r["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(kinds, [("nodes", "Node"), ("pods", "Pod")], "{core}");
    let core_nodes = get("/api/v1/nodes");
    assert_eq!(core_nodes["kind"], "NodeList", "{core_nodes}");
    assert_eq!(item_names(&core_nodes), ["alpha", "beta", "gamma"]);
    let alpha = get("/api/v1/nodes/alpha");
    assert_eq!(alpha["kind"], "Node", "{alpha}");
    assert_eq!(alpha["status"]["capacity"]["cpu"], "4", "{alpha}");
    assert_eq!(
        bytes(alpha["status"]["allocatable"]["memory"].as_str().unwrap()),
        16_384_000 * KIB,
        "{alpha}"
    );
    let gamma = get("/api/v1/nodes/gamma");
    assert_eq!(gamma["metadata"]["labels"]["tier"], "core", "{gamma}");
    let core_pods = get("/api/v1/namespaces/kubepods/pods");
    assert_eq!(core_pods["kind"], "PodList", "{core_pods}");
    let names = item_names(&core_pods);
    for expected in [ALPHA_POD, ALPHA_CRIO_POD, BETA_POD, GAMMA_POD] {
        assert!(names.iter().any(|n| n == expected), "{expected}: {names:?}");
    }
}

/// Three nodes; one agent is killed mid-test. The other two stay served
/// and `/livez` stays 200 throughout, the dead node's scrapes are counted
/// as connection failures, and once an agent listens on its port again the
/// node comes back. The server then still shuts down cleanly (no panic).
#[test]
fn a_stopped_agent_leaves_the_others_served_and_comes_back() {
    let mut cluster = FixtureCluster::start();
    let addr = cluster.serve.addr;
    let gamma = cluster.gamma.take().unwrap();
    let gamma_addr = gamma.addr;
    let before = scrapes(addr, "gamma");
    assert!(
        before.get("success").copied().unwrap_or(0.0) >= 2.0,
        "{before:?}"
    );
    drop(gamma); // SIGKILL: no goodbye.

    let deadline = Instant::now() + SETTLE;
    loop {
        assert_eq!(get(addr, "/livez").0, 200);
        let nodes = served_nodes(addr);
        assert!(
            nodes.contains("alpha") && nodes.contains("beta"),
            "{nodes:?}"
        );
        if !nodes.contains("gamma") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "gamma still served after {SETTLE:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let pods = served_pods(addr);
    assert!(!pods.contains(&pod("kubepods", GAMMA_POD)), "{pods:?}");
    assert!(pods.contains(&pod("kubepods", BETA_POD)), "{pods:?}");
    assert!(pods.contains(&pod("kubepods", ALPHA_POD)), "{pods:?}");
    wait_for_scrapes(addr, "gamma", "connect", 2.0);
    assert_eq!(get(addr, "/livez").0, 200);
    // Two more ticks: the others keep succeeding while gamma fails.
    let beta_successes = scrapes(addr, "beta")["success"];
    wait_for_scrapes(addr, "beta", "success", beta_successes + 2.0);
    assert_eq!(
        served_nodes(addr),
        BTreeSet::from(["alpha".to_owned(), "beta".to_owned()])
    );

    let restarted = Agent::spawn(&agent_args(
        "gamma",
        &gamma_addr.to_string(),
        &cluster.gamma_machine,
    ));
    assert_eq!(restarted.addr, gamma_addr);
    cluster.gamma = Some(restarted);
    let successes = scrapes(addr, "gamma")["success"];
    wait_until_served(
        addr,
        &["alpha", "beta", "gamma"],
        &[pod("kubepods", GAMMA_POD)],
    );
    assert!(scrapes(addr, "gamma")["success"] > successes);
    assert_eq!(get(addr, "/livez").0, 200);
    assert_eq!(get(addr, "/readyz").0, 200);
    stop_cleanly(&mut cluster.serve, "workingset serve");
}

const NODE_A: &str = "node-a";
const NODE_B: &str = "node-b";

/// `workingset server` over fake agents named in a nodes file, and a
/// kubeconfig for it.
struct FakeCluster {
    server: Agent,
    agents: BTreeMap<String, FakeAgent>,
    kubeconfig: PathBuf,
    _dir: TempDir,
}

impl FakeCluster {
    /// `nodes`: name, figures, labels for the nodes file. `extra`: more
    /// server flags. Waits until /readyz says 200.
    fn start(nodes: Vec<(&str, FakeNode, &str)>, extra: &[&str]) -> FakeCluster {
        let dir = tempfile::tempdir().unwrap();
        let mut agents = BTreeMap::new();
        let mut nodes_file = String::new();
        for (name, node, labels) in nodes {
            let agent = FakeAgent::start(node).unwrap();
            nodes_file.push_str(&format!("{name}={} {labels}\n", agent.url()));
            agents.insert(name.to_owned(), agent);
        }
        let path = dir.path().join("nodes");
        fs::write(&path, nodes_file).unwrap();
        let mut args = strings(&[
            "server",
            "--listen",
            "127.0.0.1:0",
            "--metric-resolution",
            "1s",
            "--nodes-file",
        ]);
        args.push(path.display().to_string());
        args.extend(strings(extra));
        let server = Agent::spawn(&args);
        let kubeconfig = write_kubeconfig(dir.path(), &format!("http://{}", server.addr));
        FakeCluster {
            server,
            agents,
            kubeconfig,
            _dir: dir,
        }
    }
}

/// Two nodes with fixed rates and working sets (see the module docs).
/// Memory of two containers is not a whole MiB, so that rounding shows.
fn two_fake_nodes() -> Vec<(&'static str, FakeNode, &'static str)> {
    let node_a = FakeNode::new(4, 8 << 30, 1_500, 3 << 30)
        .pod(
            FakePod::new("default", "web-1")
                .label("app", "web")
                .container("nginx", 250, 100 * MIB)
                .container("sidecar", 125, 10 * MIB + 600 * KIB),
        )
        .pod(
            FakePod::new("default", "db-0")
                .label("app", "db")
                .container("postgres", 500, 200 * MIB),
        )
        .pod(
            FakePod::new("kube-system", "coredns-1")
                .label("k8s-app", "kube-dns")
                .container("coredns", 125, 19 * MIB + 600 * KIB),
        );
    let node_b = FakeNode::new(2, 4 << 30, 375, 1_536 * MIB)
        .pod(
            FakePod::new("default", "web-2")
                .label("app", "web")
                .container("nginx", 375, 50 * MIB)
                .container("sidecar", 125, 11 * MIB),
        )
        .pod(
            FakePod::new("shop", "cart-0")
                .label("app", "cart")
                .container("cart", 1_000, 300 * MIB),
        );
    vec![
        (NODE_A, node_a, "zone=a"),
        (NODE_B, node_b, "zone=b disk=ssd"),
    ]
}

/// `workingset ARGS --kubeconfig KUBECONFIG --kubectl-version 1.33` in the
/// environment [`run_kubectl`] gives kubectl (`$HOME` the kubeconfig's
/// directory, no `$KUBECONFIG`, no in-cluster variables).
fn workingset_remote(kubeconfig: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_workingset"));
    command
        .args(args)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["--kubectl-version", "1.33"])
        .env("HOME", kubeconfig.parent().unwrap())
        .env_remove("KUBECONFIG")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT")
        .env_remove("WORKINGSET_LOG");
    workingset_testkit::process::run(&mut command, None, KUBECTL_TIMEOUT)
        .unwrap_or_else(|e| panic!("workingset {args:?}: {e}"))
}

/// `workingset top --kubeconfig` against the server prints exactly what
/// kubectl 1.33 prints — stdout, stderr and exit code — for every `top`
/// form, including errors; and those tables carry the exact figures the
/// fake agents were given.
#[test]
fn workingset_top_prints_what_kubectl_1_33_prints() {
    if !kubectl_available("workingset_top_prints_what_kubectl_1_33_prints") {
        return;
    }
    let mut cluster = FakeCluster::start(two_fake_nodes(), &[]);
    let addr = cluster.server.addr;
    wait_for_200(addr, "/readyz");
    wait_until_served(
        addr,
        &[NODE_A, NODE_B],
        &[
            pod("default", "web-1"),
            pod("default", "db-0"),
            pod("default", "web-2"),
            pod("kube-system", "coredns-1"),
            pod("shop", "cart-0"),
        ],
    );
    // The figures, worked out by hand: 1500m of 4 cores = 37.5% → 37%;
    // 3072Mi of 8Gi = 37.5% → 37%; 375m of 2 cores = 18.75% → 18%.
    let top_node = run_kubectl(
        "1.33",
        &cluster.kubeconfig,
        &["top", "node"],
        KUBECTL_TIMEOUT,
    );
    assert_eq!(
        stdout(&top_node),
        table(&[
            cells(&["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"]),
            cells(&[NODE_A, "1500m", "37%", "3072Mi", "37%"]),
            cells(&[NODE_B, "375m", "18%", "1536Mi", "37%"]),
        ]),
        "{}",
        stderr(&top_node)
    );
    // Pod rows are exact sums over containers, rounded once: the total is
    // 690 Mi + 1200 Ki → 691Mi, not the 690Mi of the rounded rows.
    let top_pods = run_kubectl(
        "1.33",
        &cluster.kubeconfig,
        &["top", "pod", "-A", "--containers", "--sum"],
        KUBECTL_TIMEOUT,
    );
    assert_eq!(
        stdout(&top_pods),
        table(&[
            cells(&["NAMESPACE", "POD", "NAME", "CPU(cores)", "MEMORY(bytes)"]),
            cells(&["default", "db-0", "postgres", "500m", "200Mi"]),
            cells(&["default", "web-1", "nginx", "250m", "100Mi"]),
            cells(&["default", "web-1", "sidecar", "125m", "10Mi"]),
            cells(&["default", "web-2", "nginx", "375m", "50Mi"]),
            cells(&["default", "web-2", "sidecar", "125m", "11Mi"]),
            cells(&["kube-system", "coredns-1", "coredns", "125m", "19Mi"]),
            cells(&["shop", "cart-0", "cart", "1000m", "300Mi"]),
            cells(&["", "", "", "________", "________"]),
            cells(&["", "", "", "2500m", "691Mi"]),
        ]),
        "{}",
        stderr(&top_pods)
    );

    let commands: &[&[&str]] = &[
        &["top", "node"],
        &["top", "node", NODE_B],
        &["top", "node", "-l", "zone=b"],
        &["top", "node", "-l", "disk"],
        &["top", "node", "--sort-by=cpu"],
        &["top", "node", "--sort-by=memory", "--no-headers"],
        &["top", "node", "--show-capacity"],
        &["top", "pod"],
        &["top", "pod", "-A"],
        &["top", "pod", "-A", "--containers"],
        &["top", "pod", "-n", "default", "web-1"],
        &["top", "pod", "-n", "default", "web-1", "--containers"],
        &["top", "pod", "-A", "--sort-by=memory", "--sum"],
        &["top", "pod", "-A", "--sort-by=cpu", "--containers", "--sum"],
        &[
            "top",
            "pod",
            "-n",
            "default",
            "-l",
            "app=web",
            "--containers",
        ],
        &["top", "pod", "-l", "app in (db,cart)", "-A"],
        &[
            "top",
            "pod",
            "-A",
            "--field-selector",
            "metadata.namespace=shop",
        ],
        &["top", "pod", "-n", "shop"],
        // Errors and empty results.
        &["top", "node", "nope"],
        &["top", "pod", "-n", "default", "nope"],
        &["top", "pod", "-n", "empty"],
        &["top", "node", "-l", "zone=c"],
        &[
            "top",
            "pod",
            "-A",
            "--field-selector",
            "spec.nodeName=node-a",
        ],
    ];
    for args in commands {
        let expected = run_kubectl("1.33", &cluster.kubeconfig, args, KUBECTL_TIMEOUT);
        let got = workingset_remote(&cluster.kubeconfig, args);
        let describe = |o: &Output| (o.status.code(), stdout(o), stderr(o));
        assert_eq!(
            describe(&got),
            describe(&expected),
            "workingset {args:?} (left) differs from kubectl.1.33 (right)"
        );
    }
    stop_cleanly(&mut cluster.server, "workingset server");
}

/// Agents that answer garbage, 5 MB, or after the timeout: their nodes are
/// not served, each failure is counted under its own outcome, the healthy
/// node keeps being served with exact rates, and a node that heals comes
/// back.
#[test]
fn broken_agents_are_skipped_counted_and_do_not_disturb_the_others() {
    let small =
        |namespace: &str| {
            FakeNode::new(2, 4 << 30, 250, 512 * MIB)
                .pod(FakePod::new(namespace, "app-0").container("app", 125, 20 * MIB))
        };
    let good = FakeNode::new(4, 8 << 30, 1_000, 2 << 30).pod(
        FakePod::new("good", "web-0")
            .label("app", "web")
            .container("nginx", 250, 64 * MIB),
    );
    let mut cluster = FakeCluster::start(
        vec![
            ("good", good, "health=good"),
            ("garbage", small("garbage"), "health=bad"),
            ("huge", small("huge"), "health=bad"),
            ("slow", small("slow"), "health=bad"),
        ],
        &["--kubelet-request-timeout", "500ms"],
    );
    cluster.agents["garbage"].set_behaviour(Behaviour::Garbage);
    cluster.agents["huge"].set_behaviour(Behaviour::Huge);
    cluster.agents["slow"].set_behaviour(Behaviour::Slow(Duration::from_secs(3)));
    let addr = cluster.server.addr;

    wait_for_200(addr, "/readyz");
    for (node, outcome) in [
        ("garbage", "parse_error"),
        ("huge", "too_large"),
        ("slow", "timeout"),
    ] {
        wait_for_scrapes(addr, node, outcome, 2.0);
        let counts = scrapes(addr, node);
        assert_eq!(
            counts.get("success").copied().unwrap_or(0.0),
            0.0,
            "{node}: {counts:?}"
        );
    }
    wait_for_scrapes(addr, "good", "success", 3.0);
    assert!(cluster.agents["slow"].requests("/metrics/resource") >= 2);
    assert_eq!(get(addr, "/livez").0, 200);

    // Only the good node and its pod, with exact rates.
    assert_eq!(served_nodes(addr), BTreeSet::from(["good".to_owned()]));
    assert_eq!(served_pods(addr), BTreeSet::from([pod("good", "web-0")]));
    let node = get_json(addr, &format!("{METRICS}/nodes/good"));
    assert_eq!(node["usage"]["cpu"], "1", "{node}");
    assert_eq!(node["usage"]["memory"], "2Gi", "{node}");
    let web = get_json(addr, &format!("{METRICS}/namespaces/good/pods/web-0"));
    assert_eq!(web["containers"][0]["usage"]["cpu"], "250m", "{web}");
    assert_eq!(web["containers"][0]["usage"]["memory"], "64Mi", "{web}");
    let (status, body) = get(addr, &format!("{METRICS}/nodes/slow"));
    assert_eq!(status, 404, "{body}");
    assert!(
        body.contains(r#"nodemetrics.metrics.k8s.io \"slow\" not found"#),
        "{body}"
    );

    // kubectl sees the broken nodes as nodes without metrics: listed by
    // /api/v1/nodes, after the rows with metrics, in Go map order (random).
    if kubectl_available("broken_agents_are_skipped_counted_and_do_not_disturb_the_others") {
        let unknown =
            |name: &str| cells(&[name, "<unknown>", "<unknown>", "<unknown>", "<unknown>"]);
        let expected = table(&[
            cells(&["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"]),
            cells(&["good", "1000m", "25%", "2048Mi", "25%"]),
            unknown("garbage"),
            unknown("huge"),
            unknown("slow"),
        ]);
        let got = kubectl("1.33", &cluster.kubeconfig, &["top", "node"]);
        let (got_lines, expected_lines): (Vec<&str>, Vec<&str>) =
            (got.lines().collect(), expected.lines().collect());
        assert_eq!(got_lines[..2], expected_lines[..2], "{got}");
        let unordered = |lines: &[&str]| {
            lines
                .iter()
                .map(|l| (*l).to_owned())
                .collect::<BTreeSet<_>>()
        };
        assert_eq!(
            (got_lines.len(), unordered(&got_lines[2..])),
            (expected_lines.len(), unordered(&expected_lines[2..])),
            "{got}"
        );
    }

    // Healed: served again.
    cluster.agents["garbage"].set_behaviour(Behaviour::Healthy);
    wait_until_served(addr, &["good", "garbage"], &[pod("garbage", "app-0")]);
    assert_eq!(get(addr, "/livez").0, 200);
    stop_cleanly(&mut cluster.server, "workingset server");
}

#[test]
fn standalone_mode_refuses_a_non_loopback_address_unless_told_by_name() {
    for command in ["server", "serve"] {
        let output = super::workingset(&[
            command,
            "--listen",
            "0.0.0.0:0",
            "--node",
            "n1=http://127.0.0.1:9",
        ]);
        assert_eq!(output.status.code(), Some(1), "{command}");
        let text = stderr(&output);
        assert!(
            text.starts_with("error: refusing to serve every node's workloads on 0.0.0.0:0 without authentication")
                && text.contains("--insecure-unauthenticated-listen"),
            "{command}: {text}"
        );
    }
}

#[test]
fn tokens_never_reach_the_logs_even_at_trace_level() {
    let dir = TempDir::new().unwrap();
    let token = "wsCanaryToken7f3c1d2e8b";
    let token_file = dir.path().join("token");
    fs::write(&token_file, format!("{token}\n")).unwrap();
    let token_path = token_file.display().to_string();

    let machine = v1_machine(&dir.path().join("beta"), &[]);
    let mut args = agent_args("beta", "127.0.0.1:0", &machine);
    args.extend(strings(&["--token-file", &token_path, "--log", "trace"]));
    let mut agent = Agent::spawn(&args);
    assert_eq!(get(agent.addr, "/stats/summary").0, 401);
    let bearer = |token: &str| format!("Authorization: Bearer {token}");
    assert_eq!(
        get_with(agent.addr, "/stats/summary", &[&bearer("wrong")]).0,
        401
    );
    // /healthz needs no token: the token is shown to work where one is
    // required, once the first sample is there.
    let deadline = Instant::now() + Duration::from_secs(15);
    while get_with(agent.addr, "/stats/summary", &[&bearer(token)]).0 != 200 {
        assert!(
            Instant::now() < deadline,
            "the token was not accepted within 15 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let mut server = Agent::spawn(&strings(&[
        "server",
        "--listen",
        "127.0.0.1:0",
        "--metric-resolution",
        "1s",
        "--node",
        &format!("beta=http://{}", agent.addr),
        "--kubelet-token-file",
        &token_path,
        "--log",
        "trace",
    ]));
    // Ready means two scrapes went through with the token.
    wait_for_200(server.addr, "/readyz");
    stop_cleanly(&mut server, "server");
    stop_cleanly(&mut agent, "agent");
    for (what, log) in [("agent", agent.stderr()), ("server", server.stderr())] {
        assert!(log.lines().count() > 10, "{what} logged too little:\n{log}");
        assert!(
            !log.contains(token),
            "{what} logged the token:\n{}",
            log.lines()
                .filter(|line| line.contains(token))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}
