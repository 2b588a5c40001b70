//! The agent issue end to end, with real containers: a private dockerd (see
//! `workingset_testkit::docker`) runs a plain container and a "pod" laid out
//! and labelled the way cri-dockerd does it, and `workingset agent` /
//! `workingset top` must name them, leave the pause container out, agree
//! with `docker stats`, and never show a negative or absurd CPU rate when a
//! container restarts.
//!
//! Fails loudly when dockerd cannot run, unless `WORKINGSET_SKIP_DOCKER=1`.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use workingset_agent::runtime::labels;
use workingset_testkit::docker::{self, Dockerd, PAUSE_CMD};

use super::agent::{Agent, get, wait_for_200};
use super::{stderr, stdout, workingset};

const IMAGE: &str = "workingset-busybox:e2e";
pub(super) const UID: &str = "5a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
/// Holds 20 MiB in the container's tmpfs /dev/shm (shmem: anon LRU, so in
/// the working set and stable), then sleeps.
const HOLD_20_MIB: [&str; 3] = [
    "/bin/sh",
    "-c",
    "dd if=/dev/zero of=/dev/shm/hold bs=1048576 count=20 2>/dev/null; exec sleep 3600",
];

pub(super) struct Scene {
    pub(super) dockerd: Dockerd,
    web: String,
    pub(super) sandbox: String,
    pub(super) apps: BTreeMap<&'static str, String>,
}

/// dockerd with the plain container `web` and the pod `myns/mypod`.
pub(super) fn scene() -> Scene {
    let dockerd = Dockerd::start().unwrap_or_else(|e| {
        panic!(
            "cannot run a private dockerd here: {e}\n(set {}=1 to skip the Docker tests)",
            docker::SKIP_ENV
        )
    });
    dockerd.import_busybox_image(IMAGE).unwrap();
    let web = dockerd
        .create_and_start("web", IMAGE, &HOLD_20_MIB, &[("tier", "frontend")], None)
        .unwrap();
    let pod_cgroup = format!("{}/kubepods/burstable/pod{UID}", dockerd.cgroup_parent());
    let sandbox = dockerd
        .create_and_start(
            &format!("k8s_POD_mypod_myns_{UID}_0"),
            IMAGE,
            &PAUSE_CMD,
            &[
                (labels::POD_NAME, "mypod"),
                (labels::POD_NAMESPACE, "myns"),
                (labels::POD_UID, UID),
                ("app", "demo"),
                (labels::DOCKER_TYPE, labels::DOCKER_TYPE_SANDBOX),
                (labels::CONTAINER_NAME, labels::SANDBOX_CONTAINER_NAME),
            ],
            Some(&pod_cgroup),
        )
        .unwrap();
    let mut apps = BTreeMap::new();
    for name in ["app", "sidecar"] {
        let id = dockerd
            .create_and_start(
                &format!("k8s_{name}_mypod_myns_{UID}_0"),
                IMAGE,
                &HOLD_20_MIB,
                &[
                    (labels::POD_NAME, "mypod"),
                    (labels::POD_NAMESPACE, "myns"),
                    (labels::POD_UID, UID),
                    (labels::CONTAINER_NAME, name),
                    (labels::DOCKER_TYPE, labels::DOCKER_TYPE_CONTAINER),
                    (labels::DOCKER_SANDBOX_ID, &sandbox),
                ],
                Some(&pod_cgroup),
            )
            .unwrap();
        apps.insert(name, id);
    }
    Scene {
        dockerd,
        web,
        sandbox,
        apps,
    }
}

impl Scene {
    /// Flags that make the dockerd's cgroup the node and ask only its socket.
    pub(super) fn flags(&self) -> Vec<String> {
        vec![
            format!("--cgroup-root={}", self.dockerd.cgroup_parent()),
            format!("--docker-socket={}", self.dockerd.socket_path().display()),
            "--cri-socket=".to_owned(),
        ]
    }

    fn top(&self, args: &[&str]) -> std::process::Output {
        let flags = self.flags();
        let mut all = args.to_vec();
        all.extend(flags.iter().map(String::as_str));
        all.push("--window=300ms");
        workingset(&all)
    }
}

/// `docker stats` MEM USAGE as the ≥ 20.10 CLI computes it on cgroup v1:
/// usage − total_inactive_file when that is present and smaller.
fn docker_stats_memory(stats: &Value) -> u64 {
    let memory = &stats["memory_stats"];
    let usage = memory["usage"].as_u64().unwrap();
    let inactive = memory["stats"]["total_inactive_file"]
        .as_u64()
        .or_else(|| memory["stats"]["inactive_file"].as_u64());
    match inactive {
        Some(inactive) if inactive < usage => usage - inactive,
        _ => usage,
    }
}

fn summary(agent: &Agent) -> Value {
    serde_json::from_str(&wait_for_200(agent.addr, "/stats/summary")).unwrap()
}

fn pod<'a>(summary: &'a Value, namespace: &str, name: &str) -> &'a Value {
    summary["pods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["podRef"]["namespace"] == namespace && p["podRef"]["name"] == name)
        .unwrap_or_else(|| panic!("no pod {namespace}/{name} in {summary:#}"))
}

fn container_names(pod: &Value) -> Vec<&str> {
    pod["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect()
}

/// Waits until the agent's summary shows `pod` with CPU rates for its
/// containers (two passes after they appeared).
pub(super) fn summary_with_rates(agent: &Agent, namespace: &str, name: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let summary = summary(agent);
        let ready = summary["pods"].as_array().unwrap().iter().any(|p| {
            p["podRef"]["namespace"] == namespace
                && p["podRef"]["name"] == name
                && p["containers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|c| c["cpu"]["usageNanoCores"].is_u64())
        });
        if ready {
            return summary;
        }
        assert!(
            Instant::now() < deadline,
            "no rates for {namespace}/{name} within 20 s: {summary:#}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs `promtool check metrics` on `text`. promtool exits 3 for *lint*
/// findings (naming conventions) and 1 for invalid text; a lint finding is
/// accepted only for the names in `upstream_names`, which real cAdvisor
/// exports the same way (`container_memory_failcnt` is a counter without
/// `_total`).
fn promtool_check(text: &str, what: &str, upstream_names: &[&str]) {
    if std::env::var_os("WORKINGSET_SKIP_PROMTOOL").is_some() {
        return;
    }
    let output = workingset_testkit::process::run(
        Command::new("promtool").args(["check", "metrics"]),
        Some(text.as_bytes()),
        Duration::from_secs(30),
    )
    .unwrap_or_else(|e| {
        panic!("promtool (Debian package prometheus) is needed: {e}; set WORKINGSET_SKIP_PROMTOOL=1 to skip")
    });
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let only_upstream_lint = output.status.code() == Some(3)
        && report.lines().filter(|l| !l.trim().is_empty()).all(|l| {
            upstream_names
                .iter()
                .any(|name| l.starts_with(&format!("{name} ")))
        });
    assert!(
        output.status.success() || only_upstream_lint,
        "promtool check metrics failed on {what} ({:?}):\n{report}",
        output.status.code()
    );
}

#[test]
fn real_containers_through_the_agent_and_top() {
    if !docker::docker_tests("real_containers_through_the_agent_and_top") {
        return;
    }
    let _exclusive = workingset_testkit::exclusive();
    let scene = scene();
    let flags = scene.flags();
    let agent = Agent::start_on(&flags, &[]);

    // The pod: both app containers under the pod's name, never the pause.
    let summary = summary_with_rates(&agent, "myns", "mypod");
    let mypod = pod(&summary, "myns", "mypod");
    assert_eq!(mypod["podRef"]["uid"], UID);
    assert_eq!(container_names(mypod), ["app", "sidecar"]);
    // The pod cgroup includes the pause container: at least the sum.
    let pod_memory = mypod["memory"]["workingSetBytes"].as_u64().unwrap();
    let sum: u64 = mypod["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["memory"]["workingSetBytes"].as_u64().unwrap())
        .sum();
    assert!(pod_memory >= sum, "pod {pod_memory} < containers {sum}");
    assert!(sum >= 40 << 20, "two containers hold 20 MiB each: {sum}");

    // The plain container: named, and equal to docker stats within 1 %.
    let web = pod(&summary, "docker", "web");
    assert_eq!(container_names(web), ["web"]);
    let ours = web["containers"][0]["memory"]["workingSetBytes"]
        .as_u64()
        .unwrap();
    let theirs = docker_stats_memory(&scene.dockerd.stats(&scene.web).unwrap());
    let difference = ours.abs_diff(theirs) as f64 / theirs as f64;
    assert!(
        difference < 0.01,
        "working set {ours} vs docker stats {theirs}"
    );

    // /metrics/resource: the app containers by name, no pause, valid text.
    let (status, resource) = get(agent.addr, "/metrics/resource");
    assert_eq!(status, 200);
    for container in ["app", "sidecar"] {
        let series = format!(
            "container_memory_working_set_bytes{{container=\"{container}\",namespace=\"myns\",pod=\"mypod\"}}"
        );
        assert!(resource.contains(&series), "{series} missing:\n{resource}");
    }
    assert!(!resource.contains("container=\"POD\""), "{resource}");
    assert!(!resource.contains(&scene.sandbox[..12]), "{resource}");
    promtool_check(&resource, "/metrics/resource", &[]);
    let (status, cadvisor) = get(agent.addr, "/metrics/cadvisor");
    assert_eq!(status, 200);
    promtool_check(
        &cadvisor,
        "/metrics/cadvisor",
        &["container_memory_failcnt"],
    );
    let (status, own) = get(agent.addr, "/metrics");
    assert_eq!(status, 200);
    promtool_check(&own, "the agent's /metrics", &[]);

    // top: the same names.
    let output = scene.top(&["top", "pod", "-A", "--containers"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let table = stdout(&output);
    let rows: Vec<Vec<&str>> = table
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    let named: Vec<(&str, &str, &str)> = rows.iter().map(|r| (r[0], r[1], r[2])).collect();
    assert!(named.contains(&("myns", "mypod", "app")), "{table}");
    assert!(named.contains(&("myns", "mypod", "sidecar")), "{table}");
    assert!(named.contains(&("docker", "web", "web")), "{table}");
    let mypod_rows = named
        .iter()
        .filter(|(ns, pod, _)| (*ns, *pod) == ("myns", "mypod"))
        .count();
    assert_eq!(mypod_rows, 2, "the pause container is not a row:\n{table}");
    // -l selects on the pod's labels, from its sandbox.
    let output = scene.top(&["top", "pod", "-n", "myns", "-l", "app=demo"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output)
            .lines()
            .nth(1)
            .unwrap_or_default()
            .starts_with("mypod "),
        "{}",
        stdout(&output)
    );
}

#[test]
fn a_restarted_container_never_shows_a_negative_or_absurd_rate() {
    if !docker::docker_tests("a_restarted_container_never_shows_a_negative_or_absurd_rate") {
        return;
    }
    let _exclusive = workingset_testkit::exclusive();
    let scene = scene();
    let agent = Agent::start_on(&scene.flags(), &[]);
    summary_with_rates(&agent, "myns", "mypod");

    let app = &scene.apps["app"];
    scene.dockerd.stop_container(app).unwrap();
    scene.dockerd.start_container(app).unwrap();

    let cpus = std::thread::available_parallelism().unwrap().get() as u64;
    let ceiling = cpus * 1_000_000_000 * 11 / 10;
    // Watch several passes across the restart: every rate served is a
    // plausible non-negative number, and the app comes back with a rate.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut came_back = false;
    while Instant::now() < deadline && !came_back {
        let summary = summary(&agent);
        for pod in summary["pods"].as_array().unwrap() {
            for container in pod["containers"].as_array().unwrap() {
                if let Some(rate) = container["cpu"]["usageNanoCores"].as_i64() {
                    assert!(
                        (0..=ceiling as i64).contains(&rate),
                        "absurd rate {rate} in {container:#}"
                    );
                }
            }
        }
        let (_, resource) = get(agent.addr, "/metrics/resource");
        for line in resource
            .lines()
            .filter(|l| l.starts_with("container_cpu_usage_seconds_total"))
        {
            let value: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
            assert!(value >= 0.0, "{line}");
        }
        let mypod = pod(&summary, "myns", "mypod");
        came_back = mypod["containers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "app" && c["cpu"]["usageNanoCores"].is_u64());
        std::thread::sleep(Duration::from_millis(150));
    }
    assert!(came_back, "the restarted container never got a rate again");

    let output = scene.top(&["top", "pod", "-n", "myns", "--containers"]);
    assert!(output.status.success(), "{}", stderr(&output));
    for row in stdout(&output).lines().skip(1) {
        let millicores: u64 = row
            .split_whitespace()
            .nth(2)
            .unwrap()
            .trim_end_matches('m')
            .parse()
            .unwrap();
        assert!(millicores <= cpus * 1100, "{row}");
    }
}
