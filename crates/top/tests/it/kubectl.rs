//! Byte-for-byte comparisons with the real kubectl binaries.
//!
//! Each scenario serves canned JSON from a loopback stub API server to
//! `kubectl.1.XX top …` and, through [`CannedSource`], to our
//! `run_top_node` / `run_top_pod`, then compares stdout, stderr, the exit
//! status and the sequence of requests.
//!
//! The binaries are looked up in `$WORKINGSET_KUBECTL_DIR` (default
//! `/usr/lib/google-cloud-sdk/bin`) as `kubectl.1.27` … `kubectl.1.33`.
//! When they are missing the tests fail, unless `WORKINGSET_SKIP_KUBECTL=1`
//! is set, in which case they pass after saying so on stderr.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use workingset_model::metrics::{NodeMetrics, Time};
use workingset_top::gosort::{self, GoSort};
use workingset_top::{KubectlVersion, TopNodeOptions, TopPodOptions};

use crate::stub::{Api, CannedSource, Seen, StubServer};
use crate::support::{
    Example, Outcome, node, node_metrics, pod, pod_metrics_collection, pods_collection,
    request_path, top_node, top_pod,
};
use workingset_top::Query;

const DEFAULT_DIR: &str = "/usr/lib/google-cloud-sdk/bin";
/// A kubectl run that takes longer than this is killed and fails the test.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the binaries are, or `None` when they are missing and the user
/// asked to skip.
fn kubectl_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(
        std::env::var_os("WORKINGSET_KUBECTL_DIR").unwrap_or_else(|| DEFAULT_DIR.into()),
    );
    let missing: Vec<String> = KubectlVersion::ALL
        .iter()
        .map(|v| format!("kubectl.{v}"))
        .filter(|name| !dir.join(name).is_file())
        .collect();
    if missing.is_empty() {
        return Some(dir);
    }
    if std::env::var("WORKINGSET_SKIP_KUBECTL").as_deref() == Ok("1") {
        eprintln!(
            "skipping the comparison with kubectl: {missing:?} not in {}",
            dir.display()
        );
        return None;
    }
    panic!(
        "the real kubectl binaries {missing:?} are not in {} (set WORKINGSET_KUBECTL_DIR to \
         where they are, or WORKINGSET_SKIP_KUBECTL=1 to skip these comparisons)",
        dir.display()
    );
}

/// A stub API server plus a kubeconfig and a scratch HOME pointing at it.
struct Harness {
    dir: PathBuf,
    api: Api,
    server: StubServer,
    home: tempfile::TempDir,
    kubeconfig: PathBuf,
}

impl Harness {
    fn new(dir: PathBuf, api: Api) -> Self {
        let server = StubServer::start(api.clone());
        let home = tempfile::tempdir().unwrap();
        let kubeconfig = home.path().join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: stub\n  cluster:\n    server: http://{}\n\
                 contexts:\n- name: stub\n  context:\n    cluster: stub\n    user: stub\n    namespace: default\n\
                 current-context: stub\nusers:\n- name: stub\n  user: {{}}\n",
                server.addr
            ),
        )
        .unwrap();
        Self {
            dir,
            api,
            server,
            home,
            kubeconfig,
        }
    }

    /// Runs `kubectl.<version> <args>`; returns what it printed and the
    /// paths it requested.
    fn kubectl(&self, version: KubectlVersion, args: &[&str]) -> (Outcome, Vec<String>) {
        let (outcome, seen) = self.kubectl_seen(version, args);
        (outcome, seen.into_iter().map(|seen| seen.path).collect())
    }

    /// Like [`kubectl`](Self::kubectl), with the requests' `Accept` headers.
    fn kubectl_seen(&self, version: KubectlVersion, args: &[&str]) -> (Outcome, Vec<Seen>) {
        self.server.take_seen();
        let mut command = Command::new(self.dir.join(format!("kubectl.{version}")));
        command
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .env("HOME", self.home.path())
            .env_remove("KUBECONFIG");
        let output = workingset_testkit::process::run(&mut command, None, RUN_TIMEOUT)
            .unwrap_or_else(|e| panic!("kubectl.{version} {args:?}: {e}"));
        let outcome = Outcome {
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
            code: output.status.code().unwrap_or(-1),
        };
        (outcome, self.server.take_seen())
    }

    /// Runs our implementation of the same command line on the same data.
    fn ours(
        &self,
        version: KubectlVersion,
        args: &[&str],
        now: Option<Time>,
    ) -> (Outcome, Vec<String>) {
        let mut source = CannedSource {
            api: &self.api,
            requests: Vec::new(),
        };
        let outcome = match parse_args(version, args) {
            Command_::Node(options) => top_node(&options, &mut source),
            Command_::Pod(mut options) => {
                options.now = now;
                top_pod(&options, &mut source)
            }
        };
        (outcome, source.requests)
    }

    /// Asserts that kubectl and we agree on everything.
    fn compare(&self, version: KubectlVersion, args: &[&str]) -> Outcome {
        let theirs = self.kubectl(version, args);
        let ours = self.ours(version, args, None);
        assert_eq!(ours.0, theirs.0, "output of kubectl.{version} {args:?}");
        assert_eq!(ours.1, theirs.1, "requests of kubectl.{version} {args:?}");
        theirs.0
    }
}

enum Command_ {
    Node(TopNodeOptions),
    Pod(TopPodOptions),
}

/// The subset of kubectl's command line the scenarios use.
fn parse_args(version: KubectlVersion, args: &[&str]) -> Command_ {
    let mut node = TopNodeOptions {
        kubectl: version,
        ..TopNodeOptions::default()
    };
    let mut pod = TopPodOptions {
        kubectl: version,
        ..TopPodOptions::default()
    };
    let is_node = args[1] == "node";
    let mut names = Vec::new();
    let mut rest = args[2..].iter();
    while let Some(&arg) = rest.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if arg.starts_with('-') => (flag, Some(value.to_owned())),
            _ => (arg, None),
        };
        let mut value = || {
            inline
                .clone()
                .unwrap_or_else(|| (*rest.next().unwrap()).to_owned())
        };
        match flag {
            "-A" | "--all-namespaces" => pod.all_namespaces = true,
            "--containers" => pod.containers = true,
            "--sum" => pod.sum = true,
            "--show-capacity" => node.show_capacity = true,
            "--no-headers" => (node.no_headers, pod.no_headers) = (true, true),
            "--sort-by" => {
                node.sort_by = value();
                pod.sort_by = node.sort_by.clone();
            }
            "-l" | "--selector" => {
                node.selector = value();
                pod.selector = node.selector.clone();
            }
            "--field-selector" => pod.field_selector = value(),
            "-n" | "--namespace" => pod.namespace = value(),
            name if !name.starts_with('-') => names.push(name.to_owned()),
            other => panic!("flag {other} is not supported by the test's parser"),
        }
    }
    if is_node {
        node.name = TopNodeOptions::name_from_args(&names, "kubectl top node").unwrap();
        Command_::Node(node)
    } else {
        pod.name = TopPodOptions::name_from_args(&names, "kubectl top pod").unwrap();
        Command_::Pod(pod)
    }
}

/// A node list with many `--sort-by=cpu` ties whose order differs between
/// Go 1.23's and Go 1.24's `sort.Sort` (found by a deterministic search).
fn ties_that_tell_go_releases_apart() -> Vec<NodeMetrics> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |bound: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % bound
    };
    for _attempt in 0..2000 {
        let n = 40 + next(200) as usize;
        let distinct = 2 + next(6);
        let mut names: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            names.swap(i, next(i as u64 + 1) as usize);
        }
        let metrics: Vec<NodeMetrics> = names
            .iter()
            .map(|i| {
                node_metrics(
                    &format!("node-{i:03}"),
                    &format!("{}m", 100 * (1 + next(distinct))),
                    "1Gi",
                )
            })
            .collect();
        let order = |variant| {
            let mut rows: Vec<&NodeMetrics> = metrics.iter().collect();
            gosort::sort_by(&mut rows, variant, |a, b| a.usage["cpu"] > b.usage["cpu"]);
            rows.iter()
                .map(|m| m.metadata.name.clone())
                .collect::<Vec<_>>()
        };
        if order(GoSort::Go119) != order(GoSort::Go124) {
            return metrics;
        }
    }
    panic!("no input found whose tie order differs between Go releases");
}

#[test]
fn a_tie_order_that_differs_between_go_releases_exists() {
    assert!(ties_that_tell_go_releases_apart().len() > 12);
}

fn with_dir(test: impl FnOnce(PathBuf)) {
    if let Some(dir) = kubectl_dir() {
        test(dir);
    }
}

fn example_nodes_api() -> Api {
    let source = Example::nodes();
    let mut api = Api::new(true);
    api.nodes(&source.node_metrics, &source.nodes);
    api.missing_node_metrics("node-c");
    api
}

fn example_pods_api() -> Api {
    let source = Example::pods();
    let mut api = Api::new(true);
    let all = source.pod_metrics.clone();
    let default: Vec<_> = all
        .iter()
        .filter(|p| p.metadata.namespace == "default")
        .cloned()
        .collect();
    api.pod_metrics(&pod_metrics_collection(None), &all);
    api.pod_metrics(&pod_metrics_collection(Some("default")), &default);
    api
}

#[test]
fn top_node_every_release() {
    with_dir(|dir| {
        let h = Harness::new(dir, example_nodes_api());
        for version in KubectlVersion::ALL {
            let outcome = h.compare(version, &["top", "node"]);
            assert!(
                outcome.stdout.contains("node-c   <unknown>"),
                "{}",
                outcome.stdout
            );
        }
        h.compare(KubectlVersion::V1_33, &["top", "node", "--no-headers"]);
        h.compare(KubectlVersion::V1_33, &["top", "node", "node-b"]);
        let missing = h.compare(KubectlVersion::V1_33, &["top", "node", "node-c"]);
        assert_eq!(missing.code, 1);
    });
}

#[test]
fn top_node_sort_by_memory_and_cpu_with_ties() {
    with_dir(|dir| {
        let mut api = Api::new(true);
        let metrics = vec![
            node_metrics("a", "100m", "3Gi"),
            node_metrics("b", "300m", "1Gi"),
            node_metrics("c", "100m", "2Gi"),
            node_metrics("d", "300m", "1Gi"),
        ];
        let nodes: Vec<_> = ["a", "b", "c", "d", "y"]
            .iter()
            .map(|n| node(n, "1", "4Gi"))
            .collect();
        api.nodes(&metrics, &nodes);
        let h = Harness::new(dir, api);
        for sort in ["--sort-by=memory", "--sort-by=cpu", "--sort-by="] {
            h.compare(KubectlVersion::V1_33, &["top", "node", sort]);
        }
        h.compare(KubectlVersion::V1_27, &["top", "node", "--sort-by=memory"]);
    });
}

#[test]
fn top_node_many_ties_sort_like_each_go_release() {
    with_dir(|dir| {
        let metrics = ties_that_tell_go_releases_apart();
        let nodes: Vec<_> = metrics
            .iter()
            .map(|m| node(&m.metadata.name, "4", "8Gi"))
            .collect();
        let mut api = Api::new(true);
        api.nodes(&metrics, &nodes);
        let h = Harness::new(dir, api);
        for version in KubectlVersion::ALL {
            h.compare(version, &["top", "node", "--sort-by=cpu"]);
        }
    });
}

#[test]
fn top_node_percent_edge_cases() {
    with_dir(|dir| {
        let mut api = Api::new(true);
        let metrics = vec![
            node_metrics("zero", "1m", "1Mi"),
            node_metrics("hot", "9", "1Gi"),
            node_metrics("idle", "0", "0"),
            node_metrics("half", "500m", "512Mi"),
            node_metrics("orphan", "250264852n", "8318172Ki"),
        ];
        let mut capacity = node("hot", "4", "512Mi");
        capacity.status.capacity = crate::support::resources("16", "64Gi");
        let nodes = vec![
            capacity,
            node("idle", "2", "2Gi"),
            node("half", "1", ""),
            node("zero", "0", "0"),
            node("lonely", "1", "1Gi"),
        ];
        api.nodes(&metrics, &nodes);
        let h = Harness::new(dir, api);
        h.compare(KubectlVersion::V1_33, &["top", "node"]);
        h.compare(KubectlVersion::V1_33, &["top", "node", "--show-capacity"]);
        h.compare(KubectlVersion::V1_31, &["top", "node", "--sort-by=cpu"]);
        // Metrics but no Node object.
        h.compare(KubectlVersion::V1_33, &["top", "node", "orphan"]);
    });
}

#[test]
fn top_pod_tables() {
    with_dir(|dir| {
        let mut api = example_pods_api();
        api.missing_pod_metrics("default", "nope");
        let web: Vec<_> = Example::pods()
            .pod_metrics
            .into_iter()
            .filter(|p| p.metadata.name == "web-1")
            .map(|mut p| {
                p.kind = Some("PodMetrics".to_owned());
                p.api_version = Some("metrics.k8s.io/v1beta1".to_owned());
                p
            })
            .collect();
        api.ok(
            &format!("{}/web-1", pod_metrics_collection(Some("default"))),
            &serde_json::json!(&web[0]),
        );
        let h = Harness::new(dir, api);
        let v = KubectlVersion::V1_33;
        let outcome = h.compare(v, &["top", "pod", "-A", "--containers", "--sum"]);
        assert!(
            outcome.stdout.ends_with("20m          231Mi           \n"),
            "{}",
            outcome.stdout
        );
        h.compare(v, &["top", "pod"]);
        h.compare(v, &["top", "pod", "--sum"]);
        h.compare(v, &["top", "pod", "-A"]);
        h.compare(
            v,
            &["top", "pod", "-A", "--containers", "--sum", "--no-headers"],
        );
        h.compare(v, &["top", "pod", "--containers", "--sort-by=cpu"]);
        h.compare(v, &["top", "pod", "-A", "--sort-by=memory", "--no-headers"]);
        h.compare(v, &["top", "pod", "web-1", "--containers"]);
        h.compare(v, &["top", "pod", "nope"]);
        // A name with -A asks for the pod without a namespace.
        h.compare(v, &["top", "pod", "web-1", "-A"]);
        h.compare(
            KubectlVersion::V1_27,
            &["top", "pod", "-A", "--containers", "--sum"],
        );
    });
}

#[test]
fn top_pod_without_metrics() {
    with_dir(|dir| {
        let mut api = Api::new(true);
        let empty: Vec<workingset_model::metrics::PodMetrics> = Vec::new();
        let selectors = Query::List {
            label_selector: "app in (db,web)",
            field_selector: "metadata.name!=x",
        };
        for namespace in [Some("default"), Some("team-a"), Some("team-b"), None] {
            api.pod_metrics(&pod_metrics_collection(namespace), &empty);
            api.pod_metrics(
                &request_path(&pod_metrics_collection(namespace), selectors),
                &empty,
            );
        }
        // team-a has no pods, team-b only young ones (relative to now), and
        // default an old one.
        api.pods(&pods_collection("team-a"), &[]);
        api.pods(&request_path(&pods_collection("team-a"), selectors), &[]);
        let young = pod("team-b", "young", &Time::now().to_string());
        api.pods(&pods_collection("team-b"), &[young]);
        let old = pod("default", "old", "2024-01-01T00:00:00Z");
        api.pods(&pods_collection("default"), &[old]);

        let h = Harness::new(dir, api);
        let v = KubectlVersion::V1_33;
        let notice = h.compare(v, &["top", "pod", "-n", "team-a"]);
        assert_eq!(notice.stderr, "No resources found in team-a namespace.\n");
        h.compare(v, &["top", "pod", "-n", "team-a", "-A"]);
        h.compare(
            v,
            &[
                "top",
                "pod",
                "-n",
                "team-a",
                "-l",
                "app in (web, db)",
                "--field-selector",
                "metadata.name!=x",
            ],
        );
        let early = h.compare(v, &["top", "pod", "-n", "team-b"]);
        assert_eq!(early.stderr, "error: metrics not available yet\n");

        // The age depends on the clock: compare everything else.
        let args = ["top", "pod"];
        let theirs = h.kubectl(v, &args);
        let ours = h.ours(v, &args, None);
        let (head, age) = theirs.0.stderr.split_once("age: ").unwrap();
        assert_eq!(head, "error: Metrics not available for pod default/old, ");
        assert!(ours.0.stderr.starts_with(head), "{}", ours.0.stderr);
        let parse = |text: &str| {
            text.trim_end()
                .parse::<workingset_model::duration::GoDuration>()
                .unwrap()
        };
        let their_age = parse(age);
        let our_age = parse(ours.0.stderr.split_once("age: ").unwrap().1);
        assert!(
            our_age.0.abs_diff(their_age.0) < Duration::from_secs(60),
            "{their_age} vs {our_age}"
        );
        assert_eq!((ours.0.code, ours.1), (theirs.0.code, theirs.1));
    });
}

#[test]
fn metrics_api_missing_and_server_errors() {
    with_dir(|dir| {
        let h = Harness::new(dir.clone(), Api::new(false));
        h.compare(KubectlVersion::V1_33, &["top", "node"]);
        h.compare(KubectlVersion::V1_33, &["top", "pod", "-A"]);

        let mut api = Api::new(true);
        api.nodes(&[node_metrics("n", "1", "1Gi")], &[]);
        api.status(
            "/api/v1/nodes",
            403,
            serde_json::json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "nodes is forbidden: User \"u\" cannot list resource \"nodes\" in API group \"\" at the cluster scope",
                "reason": "Forbidden", "details": {"kind": "nodes"}, "code": 403})
            .to_string(),
        );
        api.status(
            &request_path(&pod_metrics_collection(Some("default")), Query::List {
                label_selector: "",
                field_selector: "spec.nodeName=n1",
            }),
            400,
            serde_json::json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "\"spec.nodeName\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"",
                "reason": "BadRequest", "code": 400})
            .to_string(),
        );
        let h = Harness::new(dir, api);
        h.compare(KubectlVersion::V1_33, &["top", "node"]);
        h.compare(
            KubectlVersion::V1_33,
            &["top", "pod", "--field-selector", "spec.nodeName=n1"],
        );
    });
}

#[test]
fn local_errors_in_kubectls_order() {
    with_dir(|dir| {
        let h = Harness::new(dir, example_nodes_api());
        let cases: &[&[&str]] = &[
            &["top", "node", "--sort-by=name", "n", "-l", "a"],
            &["top", "node", "n", "-l", "a in ("],
            &["top", "node", "-l", "a in (x"],
            &["top", "node", "-l", "a,,b"],
            &["top", "node", "-l", "A=-x"],
            &["top", "node", "-l", "!a=b"],
            &["top", "node", "-l", "a=b c"],
            &["top", "pod", "--sort-by=CPU", "n", "--field-selector", "x"],
            &["top", "pod", "n", "--field-selector", "x"],
            &["top", "pod", "n", "-l", "a=b"],
            &["top", "pod", "--field-selector", "x"],
            &["top", "pod", "--field-selector", "a=b=c"],
            &["top", "pod", "--field-selector", "a=b\\x"],
            &["top", "pod", "-l", "a,,b", "--field-selector", "x"],
            &[
                "top",
                "pod",
                "-l",
                "x in (a",
                "--field-selector",
                "metadata.name=y",
            ],
        ];
        for version in [KubectlVersion::V1_27, KubectlVersion::V1_33] {
            for args in cases {
                let outcome = h.compare(version, args);
                assert_eq!(outcome.code, 1, "{args:?}: {outcome:?}");
            }
        }
        // More than one NAME: kubectl's usage error.
        let (theirs, _) = h.kubectl(KubectlVersion::V1_33, &["top", "node", "a", "b"]);
        let ours = TopNodeOptions::name_from_args(&["a".into(), "b".into()], "kubectl top node")
            .unwrap_err();
        assert_eq!(theirs.stderr, format!("{ours}\n"));
        assert_eq!(theirs.code, ours.exit_code());
    });
}

/// What kubectl asks for, which an HTTP source should know (it never
/// changes the output): the metrics client sends protobuf-first unless
/// `--use-protocol-buffers=false`, and 1.32 changed client-go's default for
/// the core API (and for metrics without protobuf).
#[test]
fn accept_headers() {
    with_dir(|dir| {
        let h = Harness::new(dir, example_nodes_api());
        let discovery_old = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        let discovery_new = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,\
                             application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        for version in KubectlVersion::ALL {
            let default_json = if version.minor() >= 32 {
                "application/vnd.kubernetes.protobuf,application/json"
            } else {
                "application/json, */*"
            };
            let discovery = if version.minor() >= 30 {
                discovery_new
            } else {
                discovery_old
            };
            for (flag, metrics) in [
                (
                    "--use-protocol-buffers=true",
                    "application/vnd.kubernetes.protobuf, */*",
                ),
                ("--use-protocol-buffers=false", default_json),
            ] {
                let (_, seen) = h.kubectl_seen(version, &["top", "node", flag]);
                let accept: Vec<&str> = seen.iter().map(|s| s.accept.as_str()).collect();
                assert_eq!(
                    accept,
                    [discovery, discovery, metrics, default_json],
                    "kubectl {version} {flag}"
                );
            }
        }
    });
}

#[test]
fn label_selectors_are_sent_in_canonical_form() {
    with_dir(|dir| {
        let source = Example::nodes();
        let mut api = example_nodes_api();
        for selector in ["a==1,b=2", "a in (1,2),b notin (3),!c", "x"] {
            let query = Query::List {
                label_selector: selector,
                field_selector: "",
            };
            api.ok(
                &request_path(&crate::support::node_metrics_collection(), query),
                &serde_json::json!(&workingset_model::metrics::List::new(
                    "NodeMetricsList",
                    "metrics.k8s.io/v1beta1",
                    source.node_metrics[..1].to_vec()
                )),
            );
            api.ok(
                &request_path("/api/v1/nodes", query),
                &serde_json::json!(&workingset_model::metrics::List::new(
                    "NodeList",
                    "v1",
                    source.nodes[..1].to_vec()
                )),
            );
        }
        let h = Harness::new(dir, api);
        for version in [KubectlVersion::V1_27, KubectlVersion::V1_33] {
            for selector in ["b=2, a==1", "b notin (3), a in (2,1), !c", "x"] {
                let outcome = h.compare(version, &["top", "node", "-l", selector]);
                assert_eq!(outcome.code, 0, "{selector}: {outcome:?}");
            }
        }
    });
}
