//! Remote `workingset top` against a stub API server, compared with the
//! real kubectl.
//!
//! Each scenario serves recorded API answers (discovery, NodeMetricsList,
//! NodeList, PodMetricsList, PodList, Status errors, protobuf bodies,
//! malformed answers) from a loopback stub, runs `kubectl.1.27` …
//! `kubectl.1.33` and `workingset top … --kubectl-version 1.XX` with the
//! same kubeconfig (and the same `$HOME`, environment and empty stdin), and
//! asserts identical stdout, stderr and exit status, and that the stub saw
//! the same requests from both: paths with query strings, `Accept`,
//! `Authorization` and whether a client certificate was presented.
//!
//! Every kubectl release of a scenario runs in its own thread against its
//! own stub, so a scenario takes about as long as its slowest run. The
//! binaries are found as `testkit::kube` says; without them the tests fail
//! unless `WORKINGSET_SKIP_KUBECTL=1`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::{Value, json};
use workingset_testkit::kube::{
    Behavior, KUBECTL_VERSIONS, Pki, Route, Routes, Seen, StubApi, kubectl_available,
    run_kubectl_with,
};

/// No single kubectl or workingset run may take longer.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);
const ALL: &[&str] = &KUBECTL_VERSIONS;
const OLDEST_AND_NEWEST: &[&str] = &["1.27", "1.33"];

// ---------------------------------------------------------------------------
// Recorded answers.

const METRICS: &str = "/apis/metrics.k8s.io/v1beta1";

fn list(kind: &str, api_version: &str, items: Vec<Value>) -> String {
    json!({"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": "4242"}, "items": items})
        .to_string()
}

fn node_metrics(name: &str, cpu: &str, memory: &str) -> Value {
    json!({
        "metadata": {"name": name, "creationTimestamp": "2025-06-01T10:00:05Z",
                     "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}},
        "timestamp": "2025-06-01T10:00:00Z", "window": "10.064s",
        "usage": {"cpu": cpu, "memory": memory}
    })
}

/// A Node as an API server lists it (abridged, with fields `top` ignores).
fn node(name: &str, allocatable: (&str, &str), capacity: (&str, &str)) -> Value {
    json!({
        "metadata": {"name": name, "uid": "5e1d0f4e-9a3c-4c1e-8d55-0c9e2e1f0a01",
                     "resourceVersion": "1234", "creationTimestamp": "2025-05-01T00:00:00Z",
                     "labels": {"kubernetes.io/hostname": name}},
        "spec": {"podCIDR": "10.244.0.0/24"},
        "status": {
            "capacity": {"cpu": capacity.0, "memory": capacity.1, "pods": "110"},
            "allocatable": {"cpu": allocatable.0, "memory": allocatable.1, "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True"}],
            "nodeInfo": {"kubeletVersion": "v1.33.1"}
        }
    })
}

fn pod_metrics(namespace: &str, name: &str, containers: &[(&str, &str, &str)]) -> Value {
    json!({
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": "2025-06-01T10:00:05Z",
                     "labels": {"app": name.split('-').next().unwrap_or(name)}},
        "timestamp": "2025-06-01T10:00:00Z", "window": "10.5s",
        "containers": containers.iter().map(|(c, cpu, memory)| json!({
            "name": c, "usage": {"cpu": cpu, "memory": memory}
        })).collect::<Vec<_>>()
    })
}

fn pod(namespace: &str, name: &str, created: &str) -> Value {
    json!({
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": created,
                     "uid": "0f0e0d0c-0b0a-0908-0706-050403020100"},
        "spec": {"containers": [{"name": "main", "image": "busybox"}]},
        "status": {"phase": "Running"}
    })
}

fn status(code: u16, reason: &str, message: &str, details: Value) -> String {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "details": details, "code": code})
    .to_string()
}

fn group(name: &str, version: &str) -> Value {
    let gv = format!("{name}/{version}");
    json!({"name": name, "versions": [{"groupVersion": gv, "version": version}],
           "preferredVersion": {"groupVersion": gv, "version": version}})
}

/// A stub's answers: discovery of a cluster with (or without)
/// metrics.k8s.io/v1beta1, plus whatever a scenario adds.
#[derive(Clone, Default)]
struct Api {
    routes: Routes,
    tls: Option<Pki>,
}

impl Api {
    fn new(with_metrics: bool) -> Self {
        let mut api = Self::default();
        api.ok(
            "/api",
            &json!({"kind": "APIVersions", "versions": ["v1"],
                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "10.0.0.1:6443"}]})
            .to_string(),
        );
        let mut groups = vec![group("apps", "v1"), group("storage.k8s.io", "v1")];
        if with_metrics {
            groups.push(group("metrics.k8s.io", "v1beta1"));
        }
        api.ok(
            "/apis",
            &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}).to_string(),
        );
        api
    }

    fn ok(&mut self, path: &str, body: &str) {
        self.routes.insert(path.to_owned(), Route::json(200, body));
    }

    fn route(&mut self, path: &str, route: Route) {
        self.routes.insert(path.to_owned(), route);
    }

    fn node_metrics(&mut self, query: &str, items: Vec<Value>) {
        self.ok(
            &format!("{METRICS}/nodes{query}"),
            &list("NodeMetricsList", "metrics.k8s.io/v1beta1", items),
        );
    }

    fn nodes(&mut self, query: &str, items: Vec<Value>) {
        self.ok(
            &format!("/api/v1/nodes{query}"),
            &list("NodeList", "v1", items),
        );
    }

    fn pod_metrics(&mut self, namespace: Option<&str>, query: &str, items: Vec<Value>) {
        let path = match namespace {
            Some(ns) => format!("{METRICS}/namespaces/{ns}/pods{query}"),
            None => format!("{METRICS}/pods{query}"),
        };
        self.ok(
            &path,
            &list("PodMetricsList", "metrics.k8s.io/v1beta1", items),
        );
    }

    fn pods(&mut self, namespace: &str, query: &str, items: Vec<Value>) {
        self.ok(
            &format!("/api/v1/namespaces/{namespace}/pods{query}"),
            &list("PodList", "v1", items),
        );
    }
}

/// Three nodes, one without metrics, as in kubectl-top.md.
fn nodes_api() -> Api {
    let mut api = Api::new(true);
    let metrics = vec![
        node_metrics("node-a", "250264852n", "8318172Ki"),
        node_metrics("node-b", "1022m", "2Gi"),
        node_metrics("node-d", "1022m", "1Gi"),
    ];
    let nodes = vec![
        node("node-a", ("4", "14Gi"), ("4", "16Gi")),
        node("node-b", ("1940m", "6Gi"), ("2", "8Gi")),
        node("node-c", ("2", "8Gi"), ("2", "8Gi")),
        node("node-d", ("2", "4Gi"), ("4", "8Gi")),
    ];
    api.node_metrics("", metrics.clone());
    api.nodes("", nodes.clone());
    for (m, n) in metrics.iter().zip(&nodes) {
        let name = m["metadata"]["name"].as_str().unwrap();
        let mut one = m.clone();
        one["kind"] = json!("NodeMetrics");
        one["apiVersion"] = json!("metrics.k8s.io/v1beta1");
        api.ok(&format!("{METRICS}/nodes/{name}"), &one.to_string());
        let mut one = n.clone();
        one["kind"] = json!("Node");
        one["apiVersion"] = json!("v1");
        api.ok(
            &format!("/api/v1/nodes/{}", n["metadata"]["name"].as_str().unwrap()),
            &one.to_string(),
        );
    }
    api.route(
        &format!("{METRICS}/nodes/node-c"),
        Route::json(
            404,
            &status(
                404,
                "NotFound",
                "nodemetrics.metrics.k8s.io \"node-c\" not found",
                json!({"name": "node-c", "group": "metrics.k8s.io", "kind": "nodemetrics"}),
            ),
        ),
    );
    // `-l role=worker`, sent canonically.
    api.node_metrics("?labelSelector=role%3Dworker", metrics[..1].to_vec());
    api.nodes("?labelSelector=role%3Dworker", nodes[..1].to_vec());
    api
}

fn example_pods() -> Vec<Value> {
    vec![
        pod_metrics(
            "default",
            "web-1",
            &[("nginx", "1500000n", "10Mi"), ("sidecar", "1m", "1Mi")],
        ),
        pod_metrics("default", "db-0", &[("postgres", "15m", "200Mi")]),
        pod_metrics("default", "api-7", &[("api", "0", "0")]),
        pod_metrics("kube-system", "coredns-1", &[("coredns", "2100u", "19Mi")]),
    ]
}

fn pods_api() -> Api {
    let mut api = Api::new(true);
    let all = example_pods();
    let default: Vec<Value> = all
        .iter()
        .filter(|p| p["metadata"]["namespace"] == "default")
        .cloned()
        .collect();
    api.pod_metrics(None, "", all.clone());
    api.pod_metrics(Some("default"), "", default.clone());
    api.pod_metrics(Some("kube-system"), "", all[3..].to_vec());
    let mut web = default[0].clone();
    web["kind"] = json!("PodMetrics");
    web["apiVersion"] = json!("metrics.k8s.io/v1beta1");
    api.ok(
        &format!("{METRICS}/namespaces/default/pods/web-1"),
        &web.to_string(),
    );
    api.ok(&format!("{METRICS}/pods/web-1"), &web.to_string());
    api.route(
        &format!("{METRICS}/namespaces/kube-system/pods/nope"),
        Route::json(
            404,
            &status(404, "NotFound", "podmetrics.metrics.k8s.io \"kube-system/nope\" not found",
                    json!({"name": "kube-system/nope", "group": "metrics.k8s.io", "kind": "podmetrics"})),
        ),
    );
    api.pod_metrics(
        Some("default"),
        "?fieldSelector=metadata.name%21%3Dapi-7&labelSelector=app+in+%28db%2Cweb%29",
        default[..2].to_vec(),
    );
    api
}

// ---------------------------------------------------------------------------
// Running both.

/// What a run printed, its status, and what the stub saw.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Run {
    stdout: String,
    stderr: String,
    code: i32,
    seen: Vec<Seen>,
}

/// How both programs are pointed at the stub.
#[derive(Clone)]
struct Setup {
    /// Writes what the scenario needs into the scratch `$HOME` (given the
    /// stub's URL) and returns the `--kubeconfig` to pass, if any.
    prepare: fn(&Path, &str, Option<&Pki>) -> Option<PathBuf>,
    /// Environment for both (e.g. `KUBECONFIG`), `{home}` replaced.
    env: Vec<(&'static str, String)>,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            prepare: |home, url, pki| {
                Some(write_config(
                    home,
                    "kubeconfig",
                    url,
                    pki,
                    "default",
                    "user: {}",
                ))
            },
            env: Vec::new(),
        }
    }
}

/// A kubeconfig with one context `stub` (namespace `namespace`) for the
/// server at `url`, trusting `pki`'s CA when given, and `user` as the user's
/// YAML body (indented by the caller's convention: `user: {...}`).
fn write_config(
    home: &Path,
    file: &str,
    url: &str,
    pki: Option<&Pki>,
    namespace: &str,
    user: &str,
) -> PathBuf {
    let ca = match pki {
        Some(pki) => {
            let ca = home.join("ca.crt");
            std::fs::write(&ca, &pki.ca_pem).unwrap();
            format!("\n    certificate-authority: {}", ca.display())
        }
        None => String::new(),
    };
    let path = home.join(file);
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: stub\n  cluster:\n    server: {url}{ca}\n\
             contexts:\n- name: stub\n  context:\n    cluster: stub\n    user: stub\n    namespace: {namespace}\n\
             current-context: stub\nusers:\n- name: stub\n  {user}\n"
        ),
    )
    .unwrap();
    path
}

struct Cluster {
    stub: StubApi,
    home: tempfile::TempDir,
    kubeconfig: Option<PathBuf>,
    env: Vec<(&'static str, String)>,
}

impl Cluster {
    fn new(api: &Api, setup: &Setup) -> Self {
        let stub = match &api.tls {
            Some(pki) => StubApi::start_tls(api.routes.clone(), pki),
            None => StubApi::start(api.routes.clone()),
        };
        let home = tempfile::tempdir().unwrap();
        let kubeconfig = (setup.prepare)(home.path(), &stub.url(), api.tls.as_ref());
        let env = setup
            .env
            .iter()
            .map(|(k, v)| (*k, v.replace("{home}", &home.path().display().to_string())))
            .collect();
        Self {
            stub,
            home,
            kubeconfig,
            env,
        }
    }

    fn env(&self) -> Vec<(&str, &str)> {
        self.env.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }

    fn kubectl(&self, version: &str, args: &[&str]) -> Run {
        self.stub.take_seen();
        let mut full: Vec<&str> = Vec::new();
        let kubeconfig = self.kubeconfig.as_ref().map(|k| k.display().to_string());
        if let Some(kubeconfig) = &kubeconfig {
            full.extend(["--kubeconfig", kubeconfig.as_str()]);
        }
        full.extend(args);
        let output = run_kubectl_with(version, self.home.path(), &self.env(), &full, RUN_TIMEOUT);
        self.finish(&output)
    }

    fn ours(&self, version: &str, args: &[&str]) -> Run {
        self.stub.take_seen();
        let mut command = Command::new(env!("CARGO_BIN_EXE_workingset"));
        command.args(args);
        if let Some(kubeconfig) = &self.kubeconfig {
            command.arg("--kubeconfig").arg(kubeconfig);
        }
        command
            .args(["--kubectl-version", version])
            .env("HOME", self.home.path())
            .env_remove("KUBECONFIG")
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env_remove("KUBERNETES_SERVICE_PORT")
            .env_remove("KUBERNETES_MASTER")
            .env_remove("WORKINGSET_LOG");
        for (name, value) in self.env() {
            command.env(name, value);
        }
        let output = workingset_testkit::process::run(&mut command, None, RUN_TIMEOUT)
            .unwrap_or_else(|e| panic!("workingset {args:?}: {e}"));
        self.finish(&output)
    }

    fn finish(&self, output: &Output) -> Run {
        // kubectl's klog lines (`E1123 14:09:02.917596 2756 request.go:…`)
        // are logging, not output.
        let stderr: String = String::from_utf8(output.stderr.clone())
            .unwrap()
            .lines()
            .filter(|line| !is_klog(line))
            .map(|line| format!("{line}\n"))
            .collect();
        Run {
            stdout: String::from_utf8(output.stdout.clone()).unwrap(),
            stderr,
            code: output.status.code().unwrap_or(-1),
            seen: self.stub.take_seen(),
        }
    }
}

fn is_klog(line: &str) -> bool {
    let bytes = line.as_bytes();
    bytes.len() > 5
        && matches!(bytes[0], b'I' | b'W' | b'E' | b'F')
        && bytes[1..5].iter().all(u8::is_ascii_digit)
        && bytes[5] == b' '
}

/// Runs `args` with kubectl and with us for each of `versions` (in
/// parallel), asserts that everything agrees, and returns kubectl's runs.
fn compare_with(api: &Api, setup: &Setup, versions: &[&str], args: &[&str]) -> Vec<Run> {
    std::thread::scope(|scope| {
        let runs: Vec<_> = versions
            .iter()
            .map(|&version| {
                scope.spawn(move || {
                    let cluster = Cluster::new(api, setup);
                    let theirs = cluster.kubectl(version, args);
                    let ours = cluster.ours(version, args);
                    (version, theirs, ours)
                })
            })
            .collect();
        runs.into_iter()
            .map(|run| {
                let (version, theirs, ours) = run.join().unwrap();
                assert_eq!(
                    (&ours.stdout, &ours.stderr, ours.code),
                    (&theirs.stdout, &theirs.stderr, theirs.code),
                    "output of kubectl.{version} {args:?}"
                );
                assert_eq!(
                    ours.seen, theirs.seen,
                    "requests of kubectl.{version} {args:?}"
                );
                theirs
            })
            .collect()
    })
}

fn compare(api: &Api, versions: &[&str], args: &[&str]) -> Vec<Run> {
    compare_with(api, &Setup::default(), versions, args)
}

fn paths(run: &Run) -> Vec<&str> {
    run.seen.iter().map(|s| s.path.as_str()).collect()
}

macro_rules! needs_kubectl {
    ($name:expr) => {
        if !kubectl_available($name) {
            return;
        }
    };
}

// ---------------------------------------------------------------------------
// Scenarios.

#[test]
fn top_node_tables_in_every_release() {
    needs_kubectl!("top_node_tables_in_every_release");
    let api = nodes_api();
    let runs = compare(&api, ALL, &["top", "node"]);
    assert!(
        runs[0].stdout.starts_with("NAME     CPU(cores)   CPU%"),
        "{}",
        runs[0].stdout
    );
    assert!(
        runs[6].stdout.starts_with("NAME     CPU(cores)   CPU(%)"),
        "{}",
        runs[6].stdout
    );
    assert!(
        runs[6].stdout.contains("node-c   <unknown>"),
        "{}",
        runs[6].stdout
    );
    assert_eq!(
        paths(&runs[6]),
        [
            "/api",
            "/apis",
            "/apis/metrics.k8s.io/v1beta1/nodes",
            "/api/v1/nodes"
        ]
    );
    compare(
        &api,
        ALL,
        &["top", "node", "--sort-by=memory", "--no-headers"],
    );
    compare(
        &api,
        ALL,
        &["top", "node", "--sort-by", "cpu", "--show-capacity"],
    );
    compare(&api, ALL, &["top", "no", "-l", "role=worker"]);
    compare(&api, OLDEST_AND_NEWEST, &["top", "nodes", "node-b"]);
    let missing = compare(&api, OLDEST_AND_NEWEST, &["top", "node", "node-c"]);
    assert_eq!(
        missing[1].stderr,
        "Error from server (NotFound): nodemetrics.metrics.k8s.io \"node-c\" not found\n"
    );
    // Validation still comes before any request, after the configuration.
    let invalid = compare(&api, OLDEST_AND_NEWEST, &["top", "node", "--sort-by=name"]);
    assert!(invalid[1].seen.is_empty());
}

#[test]
fn top_pod_tables() {
    needs_kubectl!("top_pod_tables");
    let api = pods_api();
    let runs = compare(&api, ALL, &["top", "pod", "-A", "--containers", "--sum"]);
    assert!(runs[6].stdout.contains("kube-system"), "{}", runs[6].stdout);
    assert_eq!(
        paths(&runs[6]),
        ["/api", "/apis", "/apis/metrics.k8s.io/v1beta1/pods"]
    );
    compare(&api, ALL, &["top", "pod"]);
    compare(
        &api,
        OLDEST_AND_NEWEST,
        &["top", "pods", "--sum", "--sort-by=cpu"],
    );
    compare(
        &api,
        OLDEST_AND_NEWEST,
        &["top", "po", "-A", "--sort-by=memory", "--no-headers"],
    );
    compare(
        &api,
        OLDEST_AND_NEWEST,
        &["top", "pod", "web-1", "--containers"],
    );
    compare(&api, OLDEST_AND_NEWEST, &["top", "pod", "web-1", "-A"]);
    compare(
        &api,
        OLDEST_AND_NEWEST,
        &["top", "pod", "-n", "kube-system"],
    );
    let missing = compare(
        &api,
        OLDEST_AND_NEWEST,
        &["top", "pod", "-n", "kube-system", "nope"],
    );
    assert_eq!(missing[0].code, 1);
    let selected = compare(
        &api,
        OLDEST_AND_NEWEST,
        &[
            "top",
            "pod",
            "-l",
            "app in (web, db)",
            "--field-selector",
            "metadata.name!=api-7",
        ],
    );
    assert_eq!(selected[0].code, 0, "{selected:?}");
}

#[test]
fn namespace_comes_from_the_context() {
    needs_kubectl!("namespace_comes_from_the_context");
    let api = pods_api();
    let setup = Setup {
        prepare: |home, url, pki| {
            Some(write_config(
                home,
                "kubeconfig",
                url,
                pki,
                "kube-system",
                "user: {}",
            ))
        },
        env: Vec::new(),
    };
    let runs = compare_with(&api, &setup, OLDEST_AND_NEWEST, &["top", "pod"]);
    assert!(runs[0].stdout.contains("coredns-1"), "{}", runs[0].stdout);
    // `-n ""` is no namespace at all: the context's again.
    compare_with(
        &api,
        &setup,
        OLDEST_AND_NEWEST,
        &["top", "pod", "--namespace="],
    );
    compare_with(
        &api,
        &setup,
        OLDEST_AND_NEWEST,
        &["top", "pod", "-n", "default"],
    );
}

#[test]
fn empty_answers() {
    needs_kubectl!("empty_answers");
    let mut api = Api::new(true);
    api.node_metrics("", Vec::new());
    api.nodes("", vec![node("n", ("1", "1Gi"), ("1", "1Gi"))]);
    for namespace in ["default", "team-a", "team-b"] {
        api.pod_metrics(Some(namespace), "", Vec::new());
    }
    api.pod_metrics(None, "", Vec::new());
    api.pods("team-a", "", Vec::new());
    api.pods("default", "", Vec::new());
    let young = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    api.pods("team-b", "", vec![pod("team-b", "young", &young)]);
    let runs = compare(&api, ALL, &["top", "node"]);
    assert_eq!(runs[0].stderr, "error: metrics not available yet\n");
    let runs = compare(&api, ALL, &["top", "pod", "-n", "team-a"]);
    assert_eq!(runs[0].stderr, "No resources found in team-a namespace.\n");
    assert_eq!(runs[0].code, 0);
    // With -A kubectl still looks for pods in the current namespace.
    let runs = compare(&api, OLDEST_AND_NEWEST, &["top", "pod", "-A"]);
    assert_eq!(runs[0].stderr, "No resources found\n");
    let runs = compare(&api, OLDEST_AND_NEWEST, &["top", "pod", "-n", "team-b"]);
    assert_eq!(runs[0].stderr, "error: metrics not available yet\n");
}

#[test]
fn a_pod_old_enough_to_have_metrics() {
    needs_kubectl!("a_pod_old_enough_to_have_metrics");
    let mut api = Api::new(true);
    api.pod_metrics(Some("default"), "", Vec::new());
    api.pods(
        "default",
        "",
        vec![pod("default", "old", "2024-01-01T00:00:00Z")],
    );
    for version in OLDEST_AND_NEWEST {
        let cluster = Cluster::new(&api, &Setup::default());
        let theirs = cluster.kubectl(version, &["top", "pod"]);
        let ours = cluster.ours(version, &["top", "pod"]);
        // The age is measured against the clock: compare all but it.
        let (head, age) = theirs.stderr.split_once("age: ").unwrap();
        assert_eq!(head, "error: Metrics not available for pod default/old, ");
        assert!(ours.stderr.starts_with(head), "{}", ours.stderr);
        let parse = |text: &str| {
            text.trim_end()
                .parse::<workingset_model::duration::GoDuration>()
                .unwrap()
                .0
        };
        let our_age = parse(ours.stderr.split_once("age: ").unwrap().1);
        assert!(parse(age).abs_diff(our_age) < Duration::from_secs(60));
        assert_eq!((ours.code, &ours.seen), (theirs.code, &theirs.seen));
    }
}

#[test]
fn metrics_api_missing_from_discovery() {
    needs_kubectl!("metrics_api_missing_from_discovery");
    let api = Api::new(false);
    let runs = compare(&api, ALL, &["top", "node"]);
    assert_eq!(runs[0].stderr, "error: Metrics API not available\n");
    assert_eq!(paths(&runs[0]), ["/api", "/apis"]);
    compare(&api, OLDEST_AND_NEWEST, &["top", "pod", "-A"]);

    // Aggregated discovery: 1.30+ ask for v2 and read it; a Stale version
    // does not count; a 404 on /api is tolerated.
    let aggregated = |freshness: &str| {
        json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {},
               "items": [{"metadata": {"name": "metrics.k8s.io", "creationTimestamp": null},
                          "versions": [{"version": "v1beta1", "freshness": freshness,
                                        "resources": [{"resource": "nodes", "scope": "Cluster",
                                                       "responseKind": {"group": "", "version": "", "kind": "NodeMetrics"},
                                                       "verbs": ["get", "list"]}]}]}]})
        .to_string()
    };
    let v2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
    let v2beta1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";
    for (content_type, freshness) in [(v2, "Current"), (v2, "Stale"), (v2beta1, "Current")] {
        let mut api = nodes_api();
        api.route("/api", Route::not_found());
        api.route(
            "/apis",
            Route::with_type(200, content_type, aggregated(freshness).as_bytes()),
        );
        compare(&api, ALL, &["top", "node"]);
    }
}

#[test]
fn server_errors() {
    needs_kubectl!("server_errors");
    let mut api = nodes_api();
    api.route(
        "/api/v1/nodes",
        Route::json(
            403,
            &status(403, "Forbidden",
                    "nodes is forbidden: User \"jane\" cannot list resource \"nodes\" in API group \"\" at the cluster scope",
                    json!({"kind": "nodes"})),
        ),
    );
    let runs = compare(&api, ALL, &["top", "node"]);
    assert!(
        runs[0]
            .stderr
            .starts_with("Error from server (Forbidden): nodes is forbidden")
    );
    let mut api = pods_api();
    api.route(
        &format!("{METRICS}/namespaces/default/pods?fieldSelector=spec.nodeName%3Dn1"),
        Route::json(
            400,
            &status(400, "BadRequest",
                    "\"spec.nodeName\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"",
                    Value::Null),
        ),
    );
    compare(
        &api,
        OLDEST_AND_NEWEST,
        &["top", "pod", "--field-selector", "spec.nodeName=n1"],
    );

    // Answers that are not Status objects, by status code and content type.
    let cases: Vec<(&str, Route)> = vec![
        (
            "/api",
            Route::json(500, &status(500, "InternalError", "boom", Value::Null)),
        ),
        (
            "/apis",
            Route::json(403, &status(403, "Forbidden", "no", Value::Null)),
        ),
        ("/api", Route::with_type(200, "text/plain", b"not json")),
        ("/apis", Route::json(200, "{\"groups\": [}")),
        (
            "/apis/metrics.k8s.io/v1beta1/nodes",
            Route::with_type(200, "text/plain", b"hello"),
        ),
        (
            "/apis/metrics.k8s.io/v1beta1/nodes",
            Route::with_type(500, "text/plain", b"boom\n"),
        ),
        (
            "/apis/metrics.k8s.io/v1beta1/nodes",
            Route::json(422, "{\"x\":1}"),
        ),
        (
            "/apis/metrics.k8s.io/v1beta1/nodes",
            Route::json(200, "not json"),
        ),
        ("/apis/metrics.k8s.io/v1beta1/nodes", Route::json(200, "")),
        // Protobuf that is not: Go prints the expected prefix as `%v` of
        // a byte slice.
        (
            "/apis/metrics.k8s.io/v1beta1/nodes",
            Route::with_type(200, "application/vnd.kubernetes.protobuf", b"hello"),
        ),
        // A value the decoder refuses: kubectl prints the Quantity's own
        // error, with no position.
        (
            "/apis/metrics.k8s.io/v1beta1/nodes",
            Route::json(
                200,
                &list(
                    "NodeMetricsList",
                    "metrics.k8s.io/v1beta1",
                    vec![node_metrics("n1", "12x", "1Gi")],
                ),
            ),
        ),
        // Values of the wrong JSON type: Go names the field and its type.
        (
            "/apis/metrics.k8s.io/v1beta1/nodes",
            Route::json(
                200,
                &list(
                    "NodeMetricsList",
                    "metrics.k8s.io/v1beta1",
                    vec![json!({"metadata": {"name": "n1"}, "usage": "x"})],
                ),
            ),
        ),
        (
            "/api/v1/nodes",
            Route::json(
                200,
                &list(
                    "NodeList",
                    "v1",
                    vec![json!({"metadata": {"name": "n1"}, "status": {"allocatable": [1]}})],
                ),
            ),
        ),
        (
            "/apis/metrics.k8s.io/v1beta1/nodes",
            Route::with_type(418, "text/plain; charset=utf-8", b"teapot"),
        ),
        (
            "/apis/metrics.k8s.io/v1beta1/nodes",
            Route::with_type(401, "", b"who are you"),
        ),
        (
            "/apis/metrics.k8s.io/v1beta1/nodes",
            Route::json(200, &status(410, "Gone", "too old", Value::Null)),
        ),
        (
            "/api/v1/nodes",
            Route::with_type(404, "text/html", b"<b>no</b>"),
        ),
        // Retried ten times without waiting, then reported.
        (
            "/apis/metrics.k8s.io/v1beta1/nodes",
            Route::json(503, "{}").header("Retry-After", "0"),
        ),
    ];
    for (path, route) in cases {
        let mut api = nodes_api();
        api.route(path, route);
        compare(&api, OLDEST_AND_NEWEST, &["top", "node"]);
    }
}

#[test]
fn names_that_cannot_be_requested() {
    needs_kubectl!("names_that_cannot_be_requested");
    let api = pods_api();
    for name in ["a/b", "..", "50%"] {
        compare(&api, OLDEST_AND_NEWEST, &["top", "pod", name]);
    }
    compare(&api, OLDEST_AND_NEWEST, &["top", "pod", "-n", "a/b"]);
}

#[test]
fn connection_failures() {
    needs_kubectl!("connection_failures");
    // A port nobody listens on: bind, note, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for version in OLDEST_AND_NEWEST {
        let home = tempfile::tempdir().unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let kubeconfig = write_config(home.path(), "kubeconfig", &url, None, "default", "user: {}");
        let theirs = run_kubectl_with(
            version,
            home.path(),
            &[],
            &["--kubeconfig", kubeconfig.to_str().unwrap(), "top", "node"],
            RUN_TIMEOUT,
        );
        let mut command = Command::new(env!("CARGO_BIN_EXE_workingset"));
        command
            .args(["top", "node", "--kubeconfig"])
            .arg(&kubeconfig)
            .args(["--kubectl-version", version])
            .env("HOME", home.path())
            .env_remove("KUBECONFIG");
        let ours = workingset_testkit::process::run(&mut command, None, RUN_TIMEOUT).unwrap();
        let expected = format!(
            "The connection to the server 127.0.0.1:{port} was refused - did you specify the right host or port?\n"
        );
        assert_eq!(String::from_utf8_lossy(&theirs.stderr), expected);
        assert_eq!(String::from_utf8_lossy(&ours.stderr), expected);
        assert_eq!(
            (ours.status.code(), ours.stdout.len()),
            (theirs.status.code(), 0)
        );
    }

    // Servers that do not speak HTTP, close at once, or never answer.
    let mut garbage = nodes_api();
    garbage.route(
        "/api",
        Route::behaving(Behavior::Raw(b"hello there\r\n\r\n".to_vec())),
    );
    compare(&garbage, ALL, &["top", "node"]);
    let mut garbage = nodes_api();
    garbage.route(
        "/api",
        Route::behaving(Behavior::Raw(b"SSH-2.0-OpenSSH_9.6\r\n".to_vec())),
    );
    compare(&garbage, OLDEST_AND_NEWEST, &["top", "node"]);
    // EOF is retried once a second; the timeout ends the retries.
    let mut closing = nodes_api();
    closing.route("/api?timeout=1.5s", Route::behaving(Behavior::Close));
    let runs = compare(&closing, ALL, &["top", "node", "--request-timeout=1500ms"]);
    assert!(
        runs[0]
            .stderr
            .contains("error from a previous attempt: EOF"),
        "{:?}",
        runs[0]
    );
    // Lists carry no timeout parameter, but the timeout still ends them.
    // Go's HTTP client adds its "(Client.Timeout …)" note only when its own
    // timer wins a race with the request context; we always add it.
    let mut hanging = with_timeout(nodes_api(), "1s");
    hanging.route(&format!("{METRICS}/nodes"), Route::behaving(Behavior::Hang));
    std::thread::scope(|scope| {
        for version in ALL {
            let hanging = &hanging;
            scope.spawn(move || {
                let cluster = Cluster::new(hanging, &Setup::default());
                let args = ["top", "node", "--request-timeout=1s"];
                let theirs = cluster.kubectl(version, &args);
                let ours = cluster.ours(version, &args);
                let note = "(Client.Timeout exceeded while awaiting headers)";
                let ours_expired = if *version >= "1.32" {
                    "context deadline exceeded"
                } else {
                    "net/http: request canceled"
                };
                let prefix = "Unable to connect to the server:";
                assert_eq!(
                    ours.stderr,
                    format!("{prefix} {ours_expired} {note}\n"),
                    "kubectl {version}"
                );
                let possible = [
                    format!("{prefix} context deadline exceeded {note}\n"),
                    format!("{prefix} net/http: request canceled {note}\n"),
                    format!("{prefix} context deadline exceeded\n"),
                ];
                assert!(
                    possible.contains(&theirs.stderr),
                    "kubectl {version}: {theirs:?}"
                );
                assert_eq!((ours.code, &ours.seen), (theirs.code, &theirs.seen));
            });
        }
    });
}

/// `api` with every route also answering with `timeout=…` appended, as
/// kubectl sends it on discovery and single-object requests.
fn with_timeout(mut api: Api, timeout: &str) -> Api {
    let routes: Vec<(String, Route)> = api.routes.clone().into_iter().collect();
    for (path, route) in routes {
        let separator = if path.contains('?') { '&' } else { '?' };
        api.route(&format!("{path}{separator}timeout={timeout}"), route);
    }
    api
}

#[test]
fn request_timeouts_are_sent_to_the_server() {
    needs_kubectl!("request_timeouts_are_sent_to_the_server");
    let api = with_timeout(with_timeout(nodes_api(), "5s"), "1m30s");
    let runs = compare(
        &api,
        OLDEST_AND_NEWEST,
        &["top", "node", "--request-timeout", "5"],
    );
    assert_eq!(runs[0].code, 0, "{:?}", runs[0]);
    assert_eq!(
        paths(&runs[0]),
        [
            "/api?timeout=5s",
            "/apis?timeout=5s",
            "/apis/metrics.k8s.io/v1beta1/nodes",
            "/api/v1/nodes"
        ]
    );
    compare(
        &api,
        OLDEST_AND_NEWEST,
        &["top", "node", "node-b", "--request-timeout=1m30s"],
    );
    compare(
        &api,
        OLDEST_AND_NEWEST,
        &["top", "node", "-l", "role=worker", "--request-timeout=5s"],
    );
    compare(
        &api,
        OLDEST_AND_NEWEST,
        &["top", "node", "--request-timeout=0"],
    );
    compare(
        &api,
        OLDEST_AND_NEWEST,
        &["top", "node", "--request-timeout="],
    );
    compare(
        &api,
        OLDEST_AND_NEWEST,
        &["top", "node", "--request-timeout=soon", "--sort-by=x"],
    );
}

#[test]
fn accept_headers_follow_the_release_and_protocol_buffers() {
    needs_kubectl!("accept_headers_follow_the_release_and_protocol_buffers");
    let api = nodes_api();
    for flag in [
        "--use-protocol-buffers=true",
        "--use-protocol-buffers=false",
    ] {
        compare(&api, ALL, &["top", "node", flag]);
    }
    compare(
        &pods_api(),
        ALL,
        &["top", "pod", "--use-protocol-buffers=false"],
    );
}

// ---------------------------------------------------------------------------
// Protobuf answers, encoded here field by field (the numbers of the
// upstream generated.proto files); kubectl decoding them proves both.

fn varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn bytes_field(tag: u64, bytes: &[u8], out: &mut Vec<u8>) {
    varint(tag << 3 | 2, out);
    varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

fn int_field(tag: u64, value: u64, out: &mut Vec<u8>) {
    varint(tag << 3, out);
    varint(value, out);
}

fn message(build: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::new();
    build(&mut out);
    out
}

/// `map<string, Quantity>` entries.
fn resource_map(tag: u64, entries: &[(&str, &str)], out: &mut Vec<u8>) {
    for (name, quantity) in entries {
        let entry = message(|e| {
            bytes_field(1, name.as_bytes(), e);
            bytes_field(2, &message(|q| bytes_field(1, quantity.as_bytes(), q)), e);
        });
        bytes_field(tag, &entry, out);
    }
}

fn meta(name: &str, namespace: &str, created: Option<u64>) -> Vec<u8> {
    message(|m| {
        bytes_field(1, name.as_bytes(), m);
        if !namespace.is_empty() {
            bytes_field(3, namespace.as_bytes(), m);
        }
        if let Some(seconds) = created {
            bytes_field(8, &message(|t| int_field(1, seconds, t)), m);
        }
        let label = message(|e| {
            bytes_field(1, b"app", e);
            bytes_field(2, name.as_bytes(), e);
        });
        bytes_field(11, &label, m);
    })
}

/// `k8s\0` + `runtime.Unknown{typeMeta, raw}`.
fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
    let mut out = b"k8s\0".to_vec();
    let type_meta = message(|t| {
        bytes_field(1, api_version.as_bytes(), t);
        bytes_field(2, kind.as_bytes(), t);
    });
    bytes_field(1, &type_meta, &mut out);
    bytes_field(2, raw, &mut out);
    bytes_field(4, b"application/vnd.kubernetes.protobuf", &mut out);
    out
}

fn pb_node_metrics(name: &str, cpu: &str, memory: &str) -> Vec<u8> {
    message(|m| {
        bytes_field(1, &meta(name, "", Some(1_748_772_005)), m);
        bytes_field(2, &message(|t| int_field(1, 1_748_772_000, t)), m);
        bytes_field(3, &message(|d| int_field(1, 10_064_000_000, d)), m);
        resource_map(4, &[("cpu", cpu), ("memory", memory)], m);
    })
}

fn pb_node(name: &str, cpu: &str, memory: &str) -> Vec<u8> {
    message(|n| {
        bytes_field(1, &meta(name, "", Some(1_746_057_600)), n);
        bytes_field(2, &message(|s| bytes_field(1, b"10.244.0.0/24", s)), n);
        let status = message(|s| {
            resource_map(1, &[("cpu", "8"), ("memory", "32Gi"), ("pods", "110")], s);
            resource_map(2, &[("cpu", cpu), ("memory", memory), ("pods", "110")], s);
            bytes_field(3, b"Running", s);
        });
        bytes_field(3, &status, n);
    })
}

fn pb_pod_metrics(namespace: &str, name: &str, containers: &[(&str, &str, &str)]) -> Vec<u8> {
    message(|p| {
        bytes_field(1, &meta(name, namespace, Some(1_748_772_005)), p);
        bytes_field(2, &message(|t| int_field(1, 1_748_772_000, t)), p);
        bytes_field(3, &message(|d| int_field(1, 10_500_000_000, d)), p);
        for (container, cpu, memory) in containers {
            let c = message(|c| {
                bytes_field(1, container.as_bytes(), c);
                resource_map(2, &[("cpu", cpu), ("memory", memory)], c);
            });
            bytes_field(4, &c, p);
        }
    })
}

fn pb_list(items: &[Vec<u8>]) -> Vec<u8> {
    message(|l| {
        bytes_field(1, &message(|m| bytes_field(2, b"4242", m)), l);
        for item in items {
            bytes_field(2, item, l);
        }
    })
}

fn protobuf(body: Vec<u8>) -> Route {
    Route::with_type(200, "application/vnd.kubernetes.protobuf", &body)
}

#[test]
fn protobuf_answers() {
    needs_kubectl!("protobuf_answers");
    let mut api = Api::new(true);
    let metrics = [
        pb_node_metrics("pb-a", "250264852n", "8318172Ki"),
        pb_node_metrics("pb-b", "1022m", "2Gi"),
    ];
    api.route(
        &format!("{METRICS}/nodes"),
        protobuf(envelope(
            "metrics.k8s.io/v1beta1",
            "NodeMetricsList",
            &pb_list(&metrics),
        )),
    );
    api.route(
        &format!("{METRICS}/nodes/pb-b"),
        protobuf(envelope(
            "metrics.k8s.io/v1beta1",
            "NodeMetrics",
            &metrics[1],
        )),
    );
    let nodes = [
        pb_node("pb-a", "4", "14Gi"),
        pb_node("pb-b", "1940m", "6Gi"),
    ];
    api.route(
        "/api/v1/nodes",
        protobuf(envelope("v1", "NodeList", &pb_list(&nodes))),
    );
    api.route(
        "/api/v1/nodes/pb-b",
        protobuf(envelope("v1", "Node", &nodes[1])),
    );
    let pods = [
        pb_pod_metrics(
            "default",
            "web-1",
            &[("nginx", "1500000n", "10Mi"), ("sidecar", "1m", "1Mi")],
        ),
        pb_pod_metrics("default", "db-0", &[("postgres", "15m", "200Mi")]),
    ];
    api.route(
        &format!("{METRICS}/namespaces/default/pods"),
        protobuf(envelope(
            "metrics.k8s.io/v1beta1",
            "PodMetricsList",
            &pb_list(&pods),
        )),
    );
    api.route(
        &format!("{METRICS}/namespaces/team-a/pods"),
        protobuf(envelope(
            "metrics.k8s.io/v1beta1",
            "PodMetricsList",
            &pb_list(&[]),
        )),
    );
    let pod_objects = [message(|p| {
        bytes_field(1, &meta("young", "team-a", Some(4_102_444_800)), p);
    })];
    api.route(
        "/api/v1/namespaces/team-a/pods",
        protobuf(envelope("v1", "PodList", &pb_list(&pod_objects))),
    );
    let not_found = message(|s| {
        bytes_field(1, &[], s);
        bytes_field(2, b"Failure", s);
        bytes_field(3, b"nodemetrics.metrics.k8s.io \"pb-z\" not found", s);
        bytes_field(4, b"NotFound", s);
        let details = message(|d| {
            bytes_field(1, b"pb-z", d);
            bytes_field(2, b"metrics.k8s.io", d);
            bytes_field(3, b"nodemetrics", d);
        });
        bytes_field(5, &details, s);
        int_field(6, 404, s);
    });
    api.route(
        &format!("{METRICS}/nodes/pb-z"),
        Route::with_type(
            404,
            "application/vnd.kubernetes.protobuf",
            &envelope("v1", "Status", &not_found),
        ),
    );
    let runs = compare(&api, ALL, &["top", "node"]);
    assert!(runs[0].stdout.contains("pb-a   251m"), "{}", runs[0].stdout);
    compare(&api, ALL, &["top", "node", "pb-b", "--show-capacity"]);
    let missing = compare(&api, OLDEST_AND_NEWEST, &["top", "node", "pb-z"]);
    assert!(
        missing[0].stderr.contains("\"pb-z\" not found"),
        "{:?}",
        missing[0]
    );
    compare(&api, ALL, &["top", "pod", "--containers", "--sum"]);
    // A pod created in the future is young: "not available yet".
    compare(&api, OLDEST_AND_NEWEST, &["top", "pod", "-n", "team-a"]);
}

// ---------------------------------------------------------------------------
// Configuration: files, contexts, flags, environment.

#[test]
fn kubeconfig_errors() {
    needs_kubectl!("kubeconfig_errors");
    let api = nodes_api();
    for args in [
        &["top", "node", "--context", "nope", "--sort-by=x"][..],
        &["top", "node", "--cluster", "nope"],
        &["top", "node", "--user", "nope"],
        &["top", "pod", "--context", "nope"],
        &[
            "top",
            "pod",
            "--certificate-authority",
            "/nonexistent/ca.crt",
        ],
        &["top", "node", "--request-timeout=x"],
    ] {
        let runs = compare(&api, OLDEST_AND_NEWEST, args);
        assert_eq!(runs[0].code, 1, "{args:?}: {:?}", runs[0]);
    }
    // Only the given --kubeconfig counts, and it must exist; an empty one
    // is none (and then nothing is configured: localhost:8080).
    let bare = Setup {
        prepare: |_, _, _| None,
        env: Vec::new(),
    };
    for args in [
        &["top", "node", "--kubeconfig", "/nonexistent/kubeconfig"][..],
        &[
            "top",
            "pod",
            "--kubeconfig=",
            "--server",
            "127.0.0.1:1",
            "-n",
            "x",
        ],
    ] {
        let runs = compare_with(&api, &bare, OLDEST_AND_NEWEST, args);
        assert_eq!(runs[0].code, 1, "{args:?}: {:?}", runs[0]);
    }
    // current-context names a context that is not there.
    let setup = Setup {
        prepare: |home, url, pki| {
            let path = write_config(home, "kubeconfig", url, pki, "default", "user: {}");
            let text = std::fs::read_to_string(&path).unwrap();
            std::fs::write(
                &path,
                text.replace("current-context: stub", "current-context: gone"),
            )
            .unwrap();
            Some(path)
        },
        env: Vec::new(),
    };
    let runs = compare_with(&api, &setup, OLDEST_AND_NEWEST, &["top", "pod"]);
    assert_eq!(
        runs[0].stderr,
        "Error in configuration: context was not found for specified context: gone\n"
    );
    compare_with(
        &api,
        &setup,
        OLDEST_AND_NEWEST,
        &["top", "node", "--context", "stub"],
    );
    // A user with a certificate but no key, and an unreadable CA: two errors.
    let setup = Setup {
        prepare: |home, url, pki| {
            let path = write_config(
                home,
                "kubeconfig",
                url,
                pki,
                "default",
                "user:\n    client-certificate: /nonexistent/c.crt",
            );
            let text = std::fs::read_to_string(&path).unwrap();
            std::fs::write(
                &path,
                text.replace(
                    "    server:",
                    "    certificate-authority: /nonexistent/ca.crt\n    server:",
                ),
            )
            .unwrap();
            Some(path)
        },
        env: Vec::new(),
    };
    compare_with(&api, &setup, OLDEST_AND_NEWEST, &["top", "node"]);
}

#[test]
fn kubeconfig_from_the_environment_and_home() {
    needs_kubectl!("kubeconfig_from_the_environment_and_home");
    let api = pods_api();
    // $KUBECONFIG: missing files are skipped, the first file to name a
    // context wins, and current-context comes from the first that sets it.
    let setup = Setup {
        prepare: |home, url, pki| {
            write_config(home, "a", url, pki, "kube-system", "user: {}");
            let b = write_config(home, "b", "http://127.0.0.1:1", None, "default", "user: {}");
            let text = std::fs::read_to_string(&b).unwrap();
            std::fs::write(
                &b,
                text.replace("current-context: stub", "current-context: other"),
            )
            .unwrap();
            None
        },
        env: vec![("KUBECONFIG", "{home}/missing:{home}/a:{home}/b".to_owned())],
    };
    let runs = compare_with(&api, &setup, OLDEST_AND_NEWEST, &["top", "pod"]);
    assert!(runs[0].stdout.contains("coredns-1"), "{:?}", runs[0]);
    // ~/.kube/config when there is no $KUBECONFIG.
    let setup = Setup {
        prepare: |home, url, pki| {
            std::fs::create_dir(home.join(".kube")).unwrap();
            write_config(
                &home.join(".kube"),
                "config",
                url,
                pki,
                "default",
                "user: {}",
            );
            None
        },
        env: Vec::new(),
    };
    compare_with(&api, &setup, ALL, &["top", "pod", "-A"]);
    // `-s` alone: no kubeconfig at all.
    let cluster = Cluster::new(
        &api,
        &Setup {
            prepare: |_, _, _| None,
            env: Vec::new(),
        },
    );
    let server = cluster.stub.url();
    let args = ["top", "pod", "-s", server.as_str()];
    let theirs = cluster.kubectl("1.33", &args);
    let ours = cluster.ours("1.33", &args);
    assert_eq!(ours, theirs);
    let bare = server.trim_start_matches("http://").to_owned();
    let args = ["top", "pod", "--server", bare.as_str()];
    assert_eq!(cluster.ours("1.33", &args), cluster.kubectl("1.33", &args));
}

#[test]
fn local_mode_without_any_kubeconfig() {
    // Nothing names a cluster: the embedded local mode answers, not an
    // attempt at localhost:8080.
    let home = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_workingset"));
    command
        .args(["top", "node", "--sort-by=x"])
        .env("HOME", home.path())
        .env_remove("KUBECONFIG")
        .env_remove("KUBERNETES_SERVICE_HOST");
    let output = workingset_testkit::process::run(&mut command, None, RUN_TIMEOUT).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: --sort-by accepts only cpu or memory\n"
    );
    // Nor does a $KUBECONFIG whose files are all missing.
    let mut command = Command::new(env!("CARGO_BIN_EXE_workingset"));
    command
        .args(["top", "node", "--sort-by=x"])
        .env("HOME", home.path())
        .env("KUBECONFIG", home.path().join("missing"))
        .env_remove("KUBERNETES_SERVICE_HOST");
    let output = workingset_testkit::process::run(&mut command, None, RUN_TIMEOUT).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: --sort-by accepts only cpu or memory\n"
    );
    // --local wins over a kubeconfig that points nowhere.
    let kubeconfig = write_config(
        home.path(),
        "kubeconfig",
        "http://127.0.0.1:1",
        None,
        "default",
        "user: {}",
    );
    let mut command = Command::new(env!("CARGO_BIN_EXE_workingset"));
    command
        .args(["top", "node", "--sort-by=x", "--local", "--kubeconfig"])
        .arg(&kubeconfig)
        .env("HOME", home.path());
    let output = workingset_testkit::process::run(&mut command, None, RUN_TIMEOUT).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: --sort-by accepts only cpu or memory\n"
    );
    // Without --local the same kubeconfig is used.
    let mut command = Command::new(env!("CARGO_BIN_EXE_workingset"));
    command
        .args(["top", "node", "--kubeconfig"])
        .arg(&kubeconfig)
        .env("HOME", home.path());
    let output = workingset_testkit::process::run(&mut command, None, RUN_TIMEOUT).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "The connection to the server 127.0.0.1:1 was refused - did you specify the right host or port?\n"
    );
}

// ---------------------------------------------------------------------------
// TLS and credentials.

fn tls_api() -> Api {
    Api {
        tls: Some(Pki::new()),
        ..nodes_api()
    }
}

#[test]
fn credentials_go_only_to_tls_servers() {
    needs_kubectl!("credentials_go_only_to_tls_servers");
    let token = Setup {
        prepare: |home, url, pki| {
            Some(write_config(
                home,
                "kubeconfig",
                url,
                pki,
                "default",
                "user:\n    token: s3cr3t",
            ))
        },
        env: Vec::new(),
    };
    let runs = compare_with(&tls_api(), &token, ALL, &["top", "node"]);
    assert_eq!(
        runs[0].seen[0].authorization.as_deref(),
        Some("Bearer s3cr3t")
    );
    compare_with(
        &tls_api(),
        &token,
        OLDEST_AND_NEWEST,
        &["top", "node", "--token", "other"],
    );
    // Over plain HTTP kubectl sends no credentials at all.
    let runs = compare_with(&nodes_api(), &token, OLDEST_AND_NEWEST, &["top", "node"]);
    assert_eq!(runs[0].seen[0].authorization, None);
    compare_with(
        &nodes_api(),
        &token,
        OLDEST_AND_NEWEST,
        &["top", "node", "--token", "x"],
    );

    // A token file, relative to the kubeconfig.
    let token_file = Setup {
        prepare: |home, url, pki| {
            std::fs::write(home.join("token"), "from-file\n").unwrap();
            Some(write_config(
                home,
                "kubeconfig",
                url,
                pki,
                "default",
                "user:\n    tokenFile: token",
            ))
        },
        env: Vec::new(),
    };
    compare_with(&tls_api(), &token_file, OLDEST_AND_NEWEST, &["top", "node"]);

    // A client certificate.
    let certificate = Setup {
        prepare: |home, url, pki| {
            let pki = pki.unwrap();
            std::fs::write(home.join("client.crt"), &pki.client_cert_pem).unwrap();
            std::fs::write(home.join("client.key"), &pki.client_key_pem).unwrap();
            Some(write_config(
                home,
                "kubeconfig",
                url,
                Some(pki),
                "default",
                "user:\n    client-certificate: client.crt\n    client-key: client.key",
            ))
        },
        env: Vec::new(),
    };
    let runs = compare_with(
        &tls_api(),
        &certificate,
        OLDEST_AND_NEWEST,
        &["top", "node"],
    );
    assert!(runs[0].seen[0].client_certificate, "{:?}", runs[0].seen);

    // An exec plugin that prints a token.
    let exec = Setup {
        prepare: |home, url, pki| {
            let plugin = home.join("credential-plugin");
            std::fs::write(
                &plugin,
                "#!/bin/sh\necho '{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"from-plugin\"}}'\n",
            )
            .unwrap();
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();
            let user = format!(
                "user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: {}\n      interactiveMode: Never",
                plugin.display()
            );
            let path = write_config(home, "kubeconfig", url, pki, "default", "user: {}");
            let text = std::fs::read_to_string(&path).unwrap();
            std::fs::write(&path, text.replace("user: {}", &user)).unwrap();
            Some(path)
        },
        env: Vec::new(),
    };
    let runs = compare_with(&tls_api(), &exec, OLDEST_AND_NEWEST, &["top", "node"]);
    assert_eq!(
        runs[0].seen[0].authorization.as_deref(),
        Some("Bearer from-plugin")
    );

    // TLS without credentials: kubectl asks for a user name, and stdin is
    // empty.
    let runs = compare(&tls_api(), OLDEST_AND_NEWEST, &["top", "node"]);
    assert_eq!(runs[0].stdout, "Please enter Username: ");
    assert_eq!(runs[0].stderr, "error: EOF\n");
}

#[test]
fn server_certificates() {
    needs_kubectl!("server_certificates");
    fn token(home: &Path, url: &str, pki: Option<&Pki>) -> PathBuf {
        write_config(
            home,
            "kubeconfig",
            url,
            pki,
            "default",
            "user:\n    token: t",
        )
    }
    // Trusted CA; then another CA; then no CA at all (system roots).
    let trusted = Setup {
        prepare: |h, u, p| Some(token(h, u, p)),
        env: Vec::new(),
    };
    compare_with(&tls_api(), &trusted, OLDEST_AND_NEWEST, &["top", "node"]);
    let other_ca = Setup {
        prepare: |h, u, _| Some(token(h, u, Some(&Pki::new()))),
        env: Vec::new(),
    };
    let runs = compare_with(&tls_api(), &other_ca, OLDEST_AND_NEWEST, &["top", "node"]);
    assert_eq!(
        runs[0].stderr,
        "Unable to connect to the server: tls: failed to verify certificate: x509: certificate signed by unknown authority\n"
    );
    compare_with(
        &tls_api(),
        &other_ca,
        OLDEST_AND_NEWEST,
        &["top", "node", "--insecure-skip-tls-verify"],
    );
    let no_ca = Setup {
        prepare: |h, u, _| Some(token(h, u, None)),
        env: Vec::new(),
    };
    compare_with(
        &tls_api(),
        &no_ca,
        OLDEST_AND_NEWEST,
        &["top", "node", "--insecure-skip-tls-verify=true"],
    );
    // A CA file that holds no certificate.
    let not_a_ca = Setup {
        prepare: |h, u, p| {
            std::fs::write(h.join("junk.pem"), "not a certificate\n").unwrap();
            let path = token(h, u, p);
            let text = std::fs::read_to_string(&path).unwrap();
            let ca = h.join("ca.crt").display().to_string();
            std::fs::write(
                &path,
                text.replace(&ca, &h.join("junk.pem").display().to_string()),
            )
            .unwrap();
            Some(path)
        },
        env: Vec::new(),
    };
    compare_with(&tls_api(), &not_a_ca, OLDEST_AND_NEWEST, &["top", "node"]);
    // A name the certificate does not cover.
    let wrong_name = Setup {
        prepare: |h, u, p| Some(token(h, &u.replace("127.0.0.1", "localhost"), p)),
        env: Vec::new(),
    };
    compare_with(
        &tls_api(),
        &wrong_name,
        OLDEST_AND_NEWEST,
        &["top", "node", "--tls-server-name", "other.example"],
    );
    // HTTPS to a plain HTTP server.
    let plain = Setup {
        prepare: |h, u, _| Some(token(h, &u.replace("http://", "https://"), None)),
        env: Vec::new(),
    };
    compare_with(&nodes_api(), &plain, OLDEST_AND_NEWEST, &["top", "node"]);
}

/// A pod metrics list that decodes badly, item by item: `top pod` decodes
/// items as they come (never the whole list at once), and must still fail
/// with kubectl's words, even after good items, and prefer a syntax error
/// anywhere in the body to a bad value before it, as Go's decoder does.
///
/// Left out, because ours differs: a list with `items` twice (Go keeps the
/// last array; ours refuses the list as a duplicate field), and `null` for
/// a name or a container (Go decodes the zero value; ours refuses it).
#[test]
fn pod_list_decode_errors() {
    needs_kubectl!("pod_list_decode_errors");
    let good = example_pods();
    let mut bad_quantity = good.clone();
    bad_quantity[2]["containers"][0]["usage"]["cpu"] = json!("12x");
    let with_items = |items: Value| {
        json!({"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {}, "items": items}).to_string()
    };
    // The second item with one field (a `/`-separated path) set to `value`.
    let item_with = |path: &str, value: Value| {
        let mut items = good.clone();
        let mut field = &mut items[1];
        for segment in path.split('/').filter(|s| !s.is_empty()) {
            field = match segment.parse::<usize>() {
                Ok(index) => &mut field[index],
                Err(_) => &mut field[segment],
            };
        }
        *field = value;
        with_items(Value::Array(items))
    };
    let bodies: Vec<(&str, String)> = vec![
        (
            "a bad value after good items",
            with_items(Value::Array(bad_quantity.clone())),
        ),
        ("items not an array", with_items(json!(5))),
        ("an item not an object", with_items(json!([5]))),
        ("items null", with_items(Value::Null)),
        (
            "containers not an array",
            item_with("/containers", json!("x")),
        ),
        (
            "a usage that is a number",
            item_with("/containers/0/usage/cpu", json!(5)),
        ),
        (
            "a timestamp that is a number",
            item_with("/timestamp", json!(5)),
        ),
        ("a window that is a number", item_with("/window", json!(5))),
        (
            "a creation time that is a bool",
            item_with("/metadata/creationTimestamp", json!(true)),
        ),
        (
            "a fractional, offset creation time",
            item_with(
                "/metadata/creationTimestamp",
                json!("2026-12-07T21:27:47.123+02:00"),
            ),
        ),
        (
            "a window that is not a duration",
            item_with("/window", json!("abc")),
        ),
        (
            "a name that is a number",
            item_with("/metadata/name", json!(5)),
        ),
        (
            "a label value that is a number",
            item_with("/metadata/labels", json!({"a": 1})),
        ),
        (
            "fields kubectl does not know",
            item_with("/metadata/extra", json!({"x": [1, 2, {"y": null}]})),
        ),
        ("a list that is an array", "[]".to_owned()),
        ("a list that is a string", "\"x\"".to_owned()),
        (
            "a bad value, then a syntax error",
            with_items(Value::Array(bad_quantity))
                .trim_end_matches('}')
                .to_owned(),
        ),
    ];
    // Timestamps Go's RFC 3339 parser refuses, each in its own words.
    let timestamps = [
        ("a timestamp that is not one", "yesterday"),
        ("a timestamp with a space", "2026-12-07 19:27:47Z"),
        ("a timestamp in lower case", "2026-12-07T19:27:47z"),
        ("a thirteenth month", "2026-13-07T19:27:47Z"),
        ("February 30", "2026-02-30T19:27:47Z"),
        ("text after a timestamp", "2026-12-07T19:27:47Zjunk"),
        ("a timestamp cut short", "2026-12-07T19:27"),
        ("hour 24", "2026-12-07T24:00:00Z"),
        ("a timestamp not in ASCII", "é"),
    ];
    let bodies = bodies
        .into_iter()
        .chain(
            timestamps
                .into_iter()
                .map(|(what, text)| (what, item_with("/timestamp", json!(text)))),
        )
        .map(|(what, body)| (what, body, OLDEST_AND_NEWEST));
    // The Go that builds kubectl 1.27 still accepted offsets beyond 24 h.
    let newest_only = [(
        "an offset of 25 hours",
        item_with("/timestamp", json!("2026-12-07T19:27:47+25:00")),
        &["1.33"][..],
    )];
    let mut differ = Vec::new();
    for (what, body, versions) in bodies.chain(newest_only) {
        let mut api = pods_api();
        api.ok(&format!("{METRICS}/pods"), &body);
        let outcome = std::panic::catch_unwind(|| compare(&api, versions, &["top", "pod", "-A"]));
        if outcome.is_err() {
            differ.push(what);
        }
    }
    assert!(differ.is_empty(), "differ from kubectl: {differ:?}");
}
