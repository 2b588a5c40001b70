//! `workingset explain` end to end: on the real kernel (page cache read
//! twice in a cgroup of our own), through a `workingset agent` on the
//! captured v1 fixture machine (every figure worked out from its files), and
//! on the Docker "pod" of the agent tests (pause told apart, numbers equal
//! to the agent's). Every `-o json` output is checked against
//! `docs/explain.schema.json`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use workingset_testkit::workload::{Work, Workload};
use workingset_testkit::{self as testkit, OwnCgroupChild, UNIFIED};

use super::agent::{Agent, get, machine, wait_for_200};
use super::{stderr, stdout, workingset};

const MIB: u64 = 1 << 20;
const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../cgroup/tests/fixtures/v1-hybrid"
);
const POD_UID: &str = "0a5c1b4e-7c3d-4d51-9c0e-3f1f5d0e2a11";
const CONTAINER_ID: &str = "4b2e9c8f1a7d3e6b5c0f9a8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c";

fn schema() -> jsonschema::Validator {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/explain.schema.json"
    ))
    .unwrap();
    jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).unwrap()
}

/// Runs `workingset explain … -o json`, expects success, checks the output
/// against the schema and returns it.
fn explain_json(args: &[&str]) -> Value {
    let mut all = vec!["explain"];
    all.extend_from_slice(args);
    all.extend(["-o", "json"]);
    let output = workingset(&all);
    assert!(
        output.status.success(),
        "workingset {all:?} failed: {}",
        stderr(&output)
    );
    let json: Value = serde_json::from_str(&stdout(&output))
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", stdout(&output)));
    let errors: Vec<String> = schema()
        .iter_errors(&json)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "schema violations: {errors:#?}\n{json:#}"
    );
    json
}

fn bytes(figure: &Value) -> u64 {
    figure["bytes"]
        .as_u64()
        .unwrap_or_else(|| panic!("no bytes in {figure}"))
}

fn cgroup<'a>(json: &'a Value, role: &str, name: &str) -> &'a Value {
    json["cgroups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["role"] == role && c["name"] == name)
        .unwrap_or_else(|| panic!("no {role} {name} in {json:#}"))
}

fn of_role<'a>(json: &'a Value, role: &str) -> Vec<&'a Value> {
    json["cgroups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["role"] == role)
        .collect()
}

#[test]
fn a_file_read_twice_is_active_cache_in_the_working_set_and_in_docker_20_10_only() {
    if !testkit::real_kernel_tests(
        "a_file_read_twice_is_active_cache_in_the_working_set_and_in_docker_20_10_only",
    ) {
        return;
    }
    let _one_at_a_time = testkit::exclusive();
    // Written from outside with O_DIRECT, so the workload's first read is
    // the first touch and the cache is charged to its cgroup.
    let dir = testkit::disk::disk_temp_dir(Path::new(env!("CARGO_TARGET_TMPDIR"))).unwrap();
    let file = dir.path().join("100MiB");
    testkit::disk::write_uncached(&file, 100 << 20).unwrap();
    let child = OwnCgroupChild::create("explain-cache").unwrap();
    let hierarchy = if child.path("memory").is_some() {
        "memory"
    } else {
        UNIFIED
    };
    let path = child.path(hierarchy).unwrap().to_owned();
    // Named as `top` names it: the leaf below its parent cgroup.
    let (parent, name) = path.rsplit_once('/').unwrap();
    let namespace = match parent.rsplit('/').next() {
        Some("") | None => "/",
        Some(leaf) => leaf,
    };
    let mut workload = Workload::start_in(
        &child,
        "workload_entry",
        &Work::ReadFile {
            path: file.clone(),
            times: 2,
        },
    )
    .unwrap();
    workload.wait_done(Duration::from_secs(120)).unwrap();

    let json = explain_json(&["pod", name, "-n", namespace, "--window=200ms", "--local"]);
    let text = workingset(&[
        "explain",
        "pod",
        name,
        "-n",
        namespace,
        "--window=200ms",
        "--local",
    ]);
    workload.finish().unwrap();
    child.remove().unwrap();
    drop(dir);

    assert_eq!(json["kind"], "pod");
    assert_eq!(json["pod"]["name"], name);
    assert_eq!(json["source"]["mode"], "local");
    let container = cgroup(&json, "container", name);
    assert_eq!(container["cgroup"], path.as_str());
    let memory = &container["memory"];
    let v1 = json["source"]["hierarchy"] == "v1";
    // Every figure names its file and key.
    let (usage_file, active_key) = if v1 {
        ("memory.usage_in_bytes", "memory.stat total_active_file")
    } else {
        ("memory.current", "memory.stat active_file")
    };
    assert_eq!(memory["usage"]["source"], usage_file);
    assert_eq!(memory["active_file"]["source"], active_key);

    let active = bytes(&memory["active_file"]);
    let cache = bytes(&memory["cache"]);
    let working_set = bytes(&memory["working_set"]);
    let docker_new = bytes(&memory["docker_stats"]["since_20_10"]);
    let docker_old = bytes(&memory["docker_stats"]["from_17_06_to_19_03"]);
    eprintln!(
        "active_file {:.1} MiB, cache {:.1} MiB, working set {:.1} MiB, docker ≥ 20.10 {:.1} MiB, docker 17.06–19.03 {:.1} MiB",
        active as f64 / MIB as f64,
        cache as f64 / MIB as f64,
        working_set as f64 / MIB as f64,
        docker_new as f64 / MIB as f64,
        docker_old as f64 / MIB as f64
    );
    // Read twice: ≈ 100 MiB of active page cache, inside the working set.
    assert!(active >= 95 * MIB, "active_file {active}");
    assert!(active <= 110 * MIB, "active_file {active}");
    assert!(
        working_set >= active,
        "working set {working_set} < active {active}"
    );
    // The formula is filled in with these very numbers.
    let usage = bytes(&memory["usage"]);
    let inactive = bytes(&memory["inactive_file"]);
    assert_eq!(working_set, usage - inactive);
    assert_eq!(
        memory["working_set"]["calculation"],
        format!("{usage} − {inactive} = {working_set}")
    );
    // Docker ≥ 20.10 counts it as the working set does; 17.06–19.03 left
    // all page cache out.
    assert_eq!(docker_new, working_set);
    assert!(
        docker_old + 95 * MIB <= docker_new,
        "{docker_old} vs {docker_new}"
    );
    assert!(
        docker_old < 20 * MIB,
        "usage − cache is the little anon memory: {docker_old}"
    );
    assert_eq!(json["kubectl_top"]["memory_bytes"], working_set);
    assert!(bytes(&json["inside_a_container"]["host"]["mem_total"]) > working_set);

    // The text says the same, in sentences (from its own two samples, so
    // the numbers may have moved by a few pages: the formula is checked,
    // filled in with numbers that add up).
    assert!(text.status.success(), "{}", stderr(&text));
    let text = stdout(&text);
    assert!(
        text.contains("working set = usage − inactive_file, clamped at 0"),
        "{text}"
    );
    let filled = text
        .lines()
        .skip_while(|l| !l.contains("working set = usage"))
        .nth(1)
        .unwrap_or_default();
    let numbers: Vec<u64> = filled
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    assert!(
        numbers.len() >= 3 && numbers[0] - numbers[1] == numbers[2],
        "{filled}"
    );
    assert!(text.contains("This is what `kubectl top` shows."), "{text}");
    assert!(
        text.contains("docker stats (Docker 17.06 to 19.03)"),
        "{text}"
    );
}

/// `memory.stat` of a fixture cgroup as key → value.
fn fixture_stat(cgroup: &str) -> BTreeMap<String, u64> {
    let text = std::fs::read_to_string(format!(
        "{FIXTURE}/sys/fs/cgroup/memory{cgroup}/memory.stat"
    ))
    .unwrap();
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_owned(), v.parse().unwrap()))
        .collect()
}

fn fixture_value(path: &str) -> u64 {
    std::fs::read_to_string(format!("{FIXTURE}/sys/fs/cgroup/{path}"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// An agent on the fixture machine, after two passes (so rates exist).
fn fixture_agent() -> (Agent, String) {
    let agent = Agent::start_on(
        &machine(),
        &[
            "--node-name=fixture-node",
            "--docker-socket=",
            "--cri-socket=",
        ],
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let summary: Value =
            serde_json::from_str(&wait_for_200(agent.addr, "/stats/summary")).unwrap();
        if summary["node"]["cpu"]["usageNanoCores"].is_u64() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no rates: {summary:#}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let url = format!("http://{}", agent.addr);
    (agent, url)
}

#[test]
fn through_an_agent_the_fixture_files_figures_come_out_exactly() {
    let (_agent, url) = fixture_agent();
    let container_cgroup = format!("/kubepods/burstable/pod{POD_UID}/{CONTAINER_ID}");
    let stat = fixture_stat(&container_cgroup);
    let usage = fixture_value(&format!("memory{container_cgroup}/memory.usage_in_bytes"));
    let limit = fixture_value(&format!("memory{container_cgroup}/memory.limit_in_bytes"));
    let working_set = usage - stat["total_inactive_file"];

    let json = explain_json(&["pod", POD_UID, "-n", "kubepods", "--agent", &url]);
    assert_eq!(json["source"]["mode"], "agent");
    assert_eq!(json["source"]["endpoint"], url.as_str());
    assert_eq!(json["pod"]["uid"], POD_UID);
    let container = cgroup(&json, "container", &CONTAINER_ID[..12]);
    assert_eq!(container["cgroup"], container_cgroup.as_str());
    let memory = &container["memory"];
    for (field, expected) in [
        ("usage", usage),
        ("rss", stat["total_rss"]),
        ("cache", stat["total_cache"]),
        ("mapped_file", stat["total_mapped_file"]),
        ("swap", stat["total_swap"]),
        ("active_file", stat["total_active_file"]),
        ("inactive_file", stat["total_inactive_file"]),
    ] {
        assert_eq!(bytes(&memory[field]), expected, "{field}: {memory:#}");
        assert!(
            memory[field]["source"]
                .as_str()
                .unwrap()
                .starts_with("/metrics/cadvisor container_memory_"),
            "{field}: {memory:#}"
        );
    }
    // Not in a workingset agent's /metrics/cadvisor: said, not invented.
    assert_eq!(memory["kernel"]["bytes"], Value::Null);
    assert_eq!(memory["shmem"]["bytes"], Value::Null);
    assert_eq!(bytes(&memory["working_set"]), working_set);
    assert_eq!(bytes(&memory["reported_working_set"]), working_set);
    assert_eq!(bytes(&memory["docker_stats"]["since_20_10"]), working_set);
    // cAdvisor's cache is total_cache, which for this leaf is its own `cache`.
    assert_eq!(stat["cache"], stat["total_cache"]);
    assert_eq!(
        bytes(&memory["docker_stats"]["from_17_06_to_19_03"]),
        usage - stat["cache"]
    );
    assert_eq!(bytes(&memory["limit"]), limit);
    assert_eq!(bytes(&memory["headroom"]), limit - working_set);
    assert_eq!(
        memory["headroom"]["calculation"],
        format!("{limit} − {working_set} = {}", limit - working_set)
    );
    // CPU: the counters do not move, so the agent's rate is 0; throttling
    // since start is the fixture's cpu.stat.
    let cpu = &container["cpu"];
    assert_eq!(cpu["usage"]["nanocores"], 0);
    assert_eq!(cpu["usage"]["kubectl_top"], "0m");
    let throttling = &cpu["throttling"];
    assert_eq!(throttling["scope"], "since_start");
    let cpu_stat = std::fs::read_to_string(format!(
        "{FIXTURE}/sys/fs/cgroup/cpu{container_cgroup}/cpu.stat"
    ))
    .unwrap();
    let cpu_key = |key: &str| -> u64 {
        cpu_stat
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key} ")))
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(throttling["periods"], cpu_key("nr_periods"));
    assert_eq!(throttling["throttled_periods"], cpu_key("nr_throttled"));
    assert_eq!(
        throttling["throttled_seconds"].as_f64().unwrap(),
        cpu_key("throttled_time") as f64 / 1e9
    );
    assert_eq!(
        json["kubectl_top"]["memory"],
        format!("{}Mi", working_set / MIB)
    );
    // The pod cgroup of the fixture has no files: no overhead figure, and
    // the reason is given.
    assert_eq!(json["pod_overhead"]["pod_working_set"], Value::Null);
    assert_eq!(json["pod_overhead"]["containers_working_set"], working_set);

    // -c with a container the pod does not have.
    let output = workingset(&[
        "explain", "pod", POD_UID, "-n", "kubepods", "-c", "nope", "--agent", &url,
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output).trim_end(),
        format!(
            "error: container \"nope\" not found in pod kubepods/{POD_UID}; its containers are: {}.\nPick one with -c, or leave -c out to explain them all.",
            &CONTAINER_ID[..12]
        )
    );
    // A typo in the pod name: exit 1 with the close match and what to do.
    let typo = format!("{}x", &POD_UID[..POD_UID.len() - 1]);
    let output = workingset(&["explain", "pod", &typo, "--agent", &url]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message.starts_with(&format!(
            "error: pod {typo:?} not found in any namespace.\nClose matches: kubepods/{POD_UID}."
        )),
        "{message}"
    );
    assert!(message.contains("workingset top pod -A"), "{message}");
    assert!(stdout(&output).is_empty());
}

#[test]
fn through_an_agent_the_fixture_node_is_its_root_cgroup() {
    let (_agent, url) = fixture_agent();
    let stat = fixture_stat("");
    let usage = fixture_value("memory/memory.usage_in_bytes");
    let working_set = usage - stat["total_inactive_file"];
    let json = explain_json(&["node", "--agent", &url]);
    assert_eq!(json["kind"], "node");
    let root = of_role(&json, "node");
    assert_eq!(root.len(), 1);
    let memory = &root[0]["memory"];
    assert_eq!(bytes(&memory["usage"]), usage);
    assert_eq!(bytes(&memory["cache"]), stat["total_cache"]);
    assert_eq!(bytes(&memory["working_set"]), working_set);
    assert_eq!(json["kubectl_top"]["memory_bytes"], working_set);
    let breakdown = &json["node_breakdown"];
    assert_eq!(breakdown["node_working_set"], working_set);
    // Every container cgroup of the fixture's memory tree (the one without
    // CPU directories counts too: its CPU comes from its processes) against
    // the node.
    let containers: u64 = [
        "/kubepods/burstable/pod0a5c1b4e-7c3d-4d51-9c0e-3f1f5d0e2a11/4b2e9c8f1a7d3e6b5c0f9a8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c",
        "/kubepods/besteffort/pod6e1d2c3b-4a59-4f68-8e7d-6c5b4a392817/9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0",
        "/kubepods/besteffort/pod6e1d2c3b-4a59-4f68-8e7d-6c5b4a392817/d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2",
    ]
    .iter()
        .map(|c| {
            let usage = fixture_value(&format!("memory{c}/memory.usage_in_bytes"));
            usage - fixture_stat(c)["total_inactive_file"]
        })
        .sum();
    assert_eq!(breakdown["containers_working_set"], containers);
    assert_eq!(breakdown["container_count"], 3);
    assert_eq!(
        breakdown["not_in_containers"],
        working_set as i64 - containers as i64
    );
    let meminfo = std::fs::read_to_string(format!("{FIXTURE}/proc/meminfo")).unwrap();
    let mem_total_kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .unwrap()
        .trim()
        .trim_end_matches(" kB")
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        bytes(&json["inside_a_container"]["host"]["mem_total"]),
        mem_total_kib * 1024
    );
    // A node the agent is not.
    let output = workingset(&["explain", "node", "other-node", "--agent", &url]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).starts_with("error: node \"other-node\" not found"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn the_docker_pod_tells_pause_from_containers_and_agrees_with_the_agent() {
    use super::docker;
    if !workingset_testkit::docker::docker_tests(
        "the_docker_pod_tells_pause_from_containers_and_agrees_with_the_agent",
    ) {
        return;
    }
    let _exclusive = testkit::exclusive();
    let scene = docker::scene();
    let flags = scene.flags();
    let agent = Agent::start_on(&flags, &[]);
    let summary = docker::summary_with_rates(&agent, "myns", "mypod");

    let mut args: Vec<&str> = vec!["pod", "mypod", "-n", "myns", "--window=300ms", "--local"];
    args.extend(flags.iter().map(String::as_str));
    let local = explain_json(&args);
    let (status, cadvisor) = get(agent.addr, "/metrics/cadvisor");
    assert_eq!(status, 200);
    assert_eq!(local["pod"]["uid"], docker::UID);
    assert_eq!(local["pod"]["kubernetes"], true);

    // Two app containers and one pause container, told apart.
    let names: Vec<&str> = of_role(&local, "container")
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["app", "sidecar"]);
    let sandboxes = of_role(&local, "sandbox");
    assert_eq!(sandboxes.len(), 1, "{local:#}");
    let pause_cgroup = sandboxes[0]["cgroup"].as_str().unwrap();
    assert!(pause_cgroup.ends_with(&scene.sandbox), "{pause_cgroup}");
    assert_eq!(of_role(&local, "pod").len(), 1);

    // The same numbers as the agent's. The containers only sleep, holding
    // 20 MiB of shmem each; between our read and the agent's pass only
    // kernel bookkeeping moves (slab, page tables: a few pages), so 1 MiB
    // — 5 % of what they hold — bounds an honest difference and catches any
    // wrong figure.
    const TOLERANCE: u64 = MIB;
    let agent_pod = summary["pods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["podRef"]["name"] == "mypod")
        .unwrap();
    for name in ["app", "sidecar"] {
        let ours = bytes(&cgroup(&local, "container", name)["memory"]["working_set"]);
        let theirs = agent_pod["containers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()["memory"]["workingSetBytes"]
            .as_u64()
            .unwrap();
        assert!(
            ours.abs_diff(theirs) <= TOLERANCE,
            "{name}: explain {ours} vs agent {theirs}"
        );
        assert!(ours >= 20 * MIB, "{name} holds 20 MiB of shmem: {ours}");
        // The shmem is named as such, and it is why the old docker figure is low.
        let memory = &cgroup(&local, "container", name)["memory"];
        assert!(bytes(&memory["shmem"]) >= 20 * MIB, "{memory:#}");
        let usage_line = cadvisor
            .lines()
            .find(|l| {
                l.starts_with("container_memory_usage_bytes{")
                    && l.contains(&format!("container=\"{name}\""))
            })
            .unwrap();
        let cadvisor_usage: f64 = usage_line
            .split_whitespace()
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            bytes(&memory["usage"]).abs_diff(cadvisor_usage as u64) <= TOLERANCE,
            "{name}: usage {} vs {usage_line}",
            bytes(&memory["usage"])
        );
    }
    let pod_ws = agent_pod["memory"]["workingSetBytes"].as_u64().unwrap();
    let overhead = &local["pod_overhead"];
    assert!(
        overhead["pod_working_set"]
            .as_u64()
            .unwrap()
            .abs_diff(pod_ws)
            <= TOLERANCE,
        "pod cgroup {overhead:#} vs agent {pod_ws}"
    );
    let pod = overhead["pod_working_set"].as_u64().unwrap();
    let containers = overhead["containers_working_set"].as_u64().unwrap();
    let pause = overhead["sandboxes_working_set"].as_u64().unwrap();
    assert!(pause > 0, "{overhead:#}");
    assert_eq!(overhead["overhead_bytes"], pod as i64 - containers as i64);
    assert_eq!(
        overhead["other_bytes"],
        pod as i64 - containers as i64 - pause as i64
    );
    assert_eq!(
        local["kubectl_top"]["memory"],
        format!("{}Mi", containers / MIB)
    );

    // Through the agent: the same containers; its /metrics/cadvisor has no
    // pause series, which the explanation says instead of inventing one.
    let url = format!("http://{}", agent.addr);
    let remote = explain_json(&["pod", "mypod", "-n", "myns", "--agent", &url]);
    let names: Vec<&str> = of_role(&remote, "container")
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["app", "sidecar"]);
    assert!(of_role(&remote, "sandbox").is_empty());
    assert!(
        remote["pod_overhead"]["explanation"]
            .as_str()
            .unwrap()
            .contains("does not report the pause container on its own"),
        "{remote:#}"
    );
    for name in ["app", "sidecar"] {
        let memory = &cgroup(&remote, "container", name)["memory"];
        // Derived from the agent's usage and inactive file: its own working set.
        assert_eq!(
            bytes(&memory["working_set"]),
            bytes(&memory["reported_working_set"])
        );
        let ours = bytes(&cgroup(&local, "container", name)["memory"]["working_set"]);
        assert!(bytes(&memory["working_set"]).abs_diff(ours) <= TOLERANCE);
    }

    // -c explains one container.
    let mut args: Vec<&str> = vec![
        "pod",
        "mypod",
        "-n",
        "myns",
        "-c",
        "sidecar",
        "--window=200ms",
        "--local",
    ];
    args.extend(flags.iter().map(String::as_str));
    let one = explain_json(&args);
    let roles: Vec<(&str, &str)> = one["cgroups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["role"].as_str().unwrap(), c["name"].as_str().unwrap()))
        .collect();
    assert_eq!(roles, [("container", "sidecar")]);
}

#[test]
fn through_an_api_server_the_node_proxy_gives_what_the_agent_gives() {
    use workingset_testkit::kube::{Route, Routes, StubApi, write_kubeconfig};
    let (agent, url) = fixture_agent();
    let (_, cadvisor) = get(agent.addr, "/metrics/cadvisor");
    let summary = wait_for_200(agent.addr, "/stats/summary");
    let proxy = "/api/v1/nodes/fixture-node/proxy";
    let pod = format!(
        r#"{{"kind":"PodList","apiVersion":"v1","metadata":{{}},"items":[{{"metadata":{{"name":"{POD_UID}","namespace":"kubepods"}},"spec":{{"nodeName":"fixture-node"}}}}]}}"#
    );
    let mut routes = Routes::new();
    routes.insert(
        format!("/api/v1/pods?fieldSelector=metadata.name%3D{POD_UID}"),
        Route::json(200, &pod),
    );
    routes.insert("/api/v1/pods?limit=500".to_owned(), Route::json(200, &pod));
    routes.insert(
        "/api/v1/pods?fieldSelector=metadata.name%3Dmissing-pod".to_owned(),
        Route::json(
            200,
            r#"{"kind":"PodList","apiVersion":"v1","metadata":{},"items":[]}"#,
        ),
    );
    routes.insert(
        "/api/v1/nodes".to_owned(),
        Route::json(
            200,
            r#"{"kind":"NodeList","apiVersion":"v1","metadata":{},"items":[{"metadata":{"name":"fixture-node"}}]}"#,
        ),
    );
    routes.insert(
        format!("{proxy}/metrics/cadvisor"),
        Route::with_type(200, "text/plain; version=0.0.4", cadvisor.as_bytes()),
    );
    routes.insert(format!("{proxy}/stats/summary"), Route::json(200, &summary));
    let stub = StubApi::start(routes);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = write_kubeconfig(dir.path(), &stub.url());
    let kubeconfig = kubeconfig.to_str().unwrap();

    let through_api = explain_json(&["pod", POD_UID, "--kubeconfig", kubeconfig]);
    let seen: Vec<String> = stub.take_seen().into_iter().map(|s| s.path).collect();
    assert_eq!(
        seen,
        [
            format!("/api/v1/pods?fieldSelector=metadata.name%3D{POD_UID}"),
            format!("{proxy}/metrics/cadvisor"),
            format!("{proxy}/stats/summary"),
        ]
    );
    assert_eq!(through_api["source"]["mode"], "api_server");
    assert_eq!(through_api["source"]["endpoint"], proxy);
    assert_eq!(through_api["node"], "fixture-node");
    // The same bodies give the same explanation as asking the agent.
    let direct = explain_json(&["pod", POD_UID, "--agent", &url]);
    assert_eq!(through_api["cgroups"], direct["cgroups"]);
    assert_eq!(through_api["pod_overhead"], direct["pod_overhead"]);

    let node = explain_json(&["node", "--kubeconfig", kubeconfig]);
    assert_eq!(node["node"], "fixture-node");
    assert_eq!(
        node["cgroups"],
        explain_json(&["node", "--agent", &url])["cgroups"]
    );

    // A pod that is not there: exit 1, with the pods the server has.
    let output = workingset(&["explain", "pod", "missing-pod", "--kubeconfig", kubeconfig]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).starts_with("error: pod \"missing-pod\" not found in any namespace."),
        "{}",
        stderr(&output)
    );
}

/// The standalone server answers the node proxy for its agents, so
/// `explain` through it (with only a kubeconfig) finds the pod's node from
/// `spec.nodeName` and explains what the agent itself gives.
#[test]
fn through_the_standalone_server_the_node_proxy_reaches_the_agent() {
    let (agent, url) = fixture_agent();
    let server = Agent::spawn(&[
        "server".to_owned(),
        "--listen".to_owned(),
        "127.0.0.1:0".to_owned(),
        "--metric-resolution".to_owned(),
        "1s".to_owned(),
        "--node".to_owned(),
        format!("fixture-node={url}"),
    ]);
    // The pod list (and so spec.nodeName) comes from the first tick.
    wait_for_200(server.addr, "/readyz");
    let pods = wait_for_200(server.addr, "/api/v1/namespaces/kubepods/pods");
    let pods: Value = serde_json::from_str(&pods).unwrap();
    let item = pods["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["metadata"]["name"] == POD_UID)
        .unwrap_or_else(|| panic!("{POD_UID} not served: {pods:#}"));
    assert_eq!(item["spec"]["nodeName"], "fixture-node");

    let dir = tempfile::tempdir().unwrap();
    let kubeconfig =
        workingset_testkit::kube::write_kubeconfig(dir.path(), &format!("http://{}", server.addr));
    let kubeconfig = kubeconfig.to_str().unwrap();
    let through_server = explain_json(&["pod", POD_UID, "--kubeconfig", kubeconfig]);
    assert_eq!(through_server["source"]["mode"], "api_server");
    assert_eq!(through_server["node"], "fixture-node");
    let direct = explain_json(&["pod", POD_UID, "--agent", &url]);
    assert_eq!(through_server["cgroups"], direct["cgroups"]);
    assert_eq!(through_server["pod_overhead"], direct["pod_overhead"]);

    // Only the kubelet's stats paths are forwarded, and only to known nodes.
    let (code, _) = get(server.addr, "/api/v1/nodes/fixture-node/proxy/configz");
    assert_eq!(code, 404);
    let (code, body) = get(server.addr, "/api/v1/nodes/other/proxy/stats/summary");
    assert_eq!(code, 404);
    assert!(body.contains(r#"nodes \"other\" not found"#), "{body}");
    drop(server);
    drop(agent);
}

#[test]
fn this_machine_as_a_node() {
    let json = explain_json(&["node", "--local", "--window=200ms", "--node-name=this-node"]);
    assert_eq!(json["node"], "this-node");
    let root = of_role(&json, "node");
    let memory = &root[0]["memory"];
    let working_set = bytes(&memory["working_set"]);
    assert!(working_set > 0 && working_set <= bytes(&memory["usage"]));
    let breakdown = &json["node_breakdown"];
    assert_eq!(breakdown["node_working_set"], working_set);
    // The parts are the cgroups directly below the root, each with its figures.
    let parts = breakdown["parts"].as_array().unwrap();
    assert!(!parts.is_empty(), "{breakdown:#}");
    let sum: i64 = parts
        .iter()
        .map(|p| p["working_set"].as_i64().unwrap())
        .sum();
    assert_eq!(breakdown["outside_parts"], working_set as i64 - sum);
    // Locally the host's /proc/meminfo is all there.
    let host = &json["inside_a_container"]["host"];
    assert!(bytes(&host["mem_available"]) <= bytes(&host["mem_total"]));
    assert_eq!(
        bytes(&json["inside_a_container"]["used"]),
        bytes(&host["mem_total"]) - bytes(&host["mem_available"])
    );
    let output = workingset(&[
        "explain",
        "node",
        "--local",
        "--window=200ms",
        "--node-name=this-node",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("Why the node is not the sum of its pods"));
}
