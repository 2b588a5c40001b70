//! Kubernetes mode end to end: `workingset server --kubeconfig` against the
//! testkit's stub API server (nodes and pods list+watch, the
//! authentication ConfigMap, TokenReviews, SubjectAccessReviews) and fake
//! kubelets (testkit's `FakeAgent`s over plain HTTP, hence
//! `--deprecated-kubelet-completely-insecure`). The server's secure port
//! is reached with curl (client certificates, front-proxy headers, bearer
//! tokens) and with the real kubectl. Resolutions are 1 s; every wait is
//! bounded and every process and stub is stopped by its guard.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;
use workingset_testkit::fake_agent::{FakeAgent, FakeNode, FakePod};
use workingset_testkit::stub_apiserver::{StubApiServer, StubUser, TestCa};

use super::agent::Agent;

const METRICS: &str = "/apis/metrics.k8s.io/v1beta1";
const MIB: u64 = 1 << 20;
const SETTLE: Duration = Duration::from_secs(30);

/// A core/v1 Node as the API server serves it.
fn node_object(
    name: &str,
    labels: Value,
    addresses: &[(&str, &str)],
    status_port: Option<u16>,
    annotations: Value,
) -> Value {
    let addresses: Vec<Value> = addresses
        .iter()
        .map(|(kind, address)| json!({"type": kind, "address": address}))
        .collect();
    let mut status = json!({
        "addresses": addresses,
        "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
        "allocatable": {"cpu": "3900m", "memory": "7Gi", "pods": "110"},
    });
    if let Some(port) = status_port {
        status["daemonEndpoints"] = json!({"kubeletEndpoint": {"Port": port}});
    }
    json!({
        "kind": "Node", "apiVersion": "v1",
        "metadata": {
            "name": name, "uid": format!("uid-{name}"),
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "labels": labels, "annotations": annotations,
        },
        "spec": {},
        "status": status,
    })
}

/// A core/v1 Pod in `phase` with the fake pod's containers.
fn pod_object(pod: &FakePod, node: &str, phase: &str) -> Value {
    let containers: Vec<Value> = pod
        .containers
        .iter()
        .map(|c| json!({"name": c.name, "image": "busybox"}))
        .collect();
    json!({
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {
            "name": pod.name, "namespace": pod.namespace,
            "uid": format!("uid-{}-{}", pod.namespace, pod.name),
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "labels": pod.labels,
        },
        "spec": {"nodeName": node, "containers": containers},
        "status": {"phase": phase},
    })
}

fn port(agent: &FakeAgent) -> u16 {
    agent.addr().port()
}

/// How a request to the secure port authenticates.
#[derive(Clone, Copy)]
enum Auth<'a> {
    None,
    /// A client certificate and key (PEM files), and extra headers.
    Certificate(&'a Path, &'a Path, &'a [&'a str]),
    Token(&'a str),
}

/// The secure port's certificate and a client's credentials, on disk.
struct Secure {
    dir: TempDir,
    client_ca: TestCa,
    front_proxy_ca: TestCa,
}

impl Secure {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            client_ca: TestCa::new("client CA"),
            front_proxy_ca: TestCa::new("front-proxy CA"),
        }
    }

    fn cert_dir(&self) -> PathBuf {
        self.dir.path().join("certs")
    }

    /// Writes a certificate and key signed by `ca` for `cn`; their paths.
    fn client(&self, ca: &TestCa, cn: &str, group: &str) -> (PathBuf, PathBuf) {
        let (cert, key) = if group.is_empty() {
            ca.client(cn, &[])
        } else {
            ca.client(cn, &[group])
        };
        let cert_path = self.dir.path().join(format!("{cn}.crt"));
        let key_path = self.dir.path().join(format!("{cn}.key"));
        std::fs::write(&cert_path, cert).unwrap();
        std::fs::write(&key_path, key).unwrap();
        (cert_path, key_path)
    }

    /// The authentication ConfigMap the kube-apiserver publishes.
    fn configmap(&self) -> Value {
        json!({
            "kind": "ConfigMap", "apiVersion": "v1",
            "metadata": {"name": "extension-apiserver-authentication", "namespace": "kube-system"},
            "data": {
                "client-ca-file": self.client_ca.cert_pem,
                "requestheader-client-ca-file": self.front_proxy_ca.cert_pem,
                "requestheader-allowed-names": "[\"front-proxy-client\"]",
                "requestheader-username-headers": "[\"X-Remote-User\"]",
                "requestheader-group-headers": "[\"X-Remote-Group\"]",
                "requestheader-extra-headers-prefix": "[\"X-Remote-Extra-\"]",
            },
        })
    }

    /// The server's flags for its secure port on loopback.
    fn flags(&self) -> Vec<String> {
        vec![
            "--secure-port".to_owned(),
            "0".to_owned(),
            "--bind-address".to_owned(),
            "127.0.0.1".to_owned(),
            "--cert-dir".to_owned(),
            self.cert_dir().display().to_string(),
        ]
    }

    /// GET over HTTPS with curl, the server's self-signed certificate
    /// trusted: (status, body).
    fn get(&self, addr: SocketAddr, path: &str, auth: Auth<'_>) -> (u16, String) {
        let mut command = Command::new("curl");
        command
            .args(["-sS", "--max-time", "10", "--cacert"])
            .arg(self.cert_dir().join("apiserver.crt"))
            .args(["-w", "\n%{http_code}"]);
        match auth {
            Auth::None => {}
            Auth::Certificate(cert, key, headers) => {
                command.arg("--cert").arg(cert).arg("--key").arg(key);
                for header in headers {
                    command.args(["-H", header]);
                }
            }
            Auth::Token(token) => {
                command.args(["-H", &format!("Authorization: Bearer {token}")]);
            }
        }
        command.arg(format!("https://127.0.0.1:{}{path}", addr.port()));
        let output = workingset_testkit::process::run(&mut command, None, Duration::from_secs(20))
            .unwrap_or_else(|e| panic!("curl (Debian package curl) is needed: {e}"));
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
        (code.trim().parse().unwrap_or(0), body.to_owned())
    }
}

fn list_names(secure: &Secure, addr: SocketAddr, auth: Auth<'_>, path: &str) -> BTreeSet<String> {
    let (status, body) = secure.get(addr, path, auth);
    if status != 200 {
        return BTreeSet::new();
    }
    let list: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|item| {
            let meta = &item["metadata"];
            match meta["namespace"].as_str() {
                Some(ns) => format!("{ns}/{}", meta["name"].as_str().unwrap_or_default()),
                None => meta["name"].as_str().unwrap_or_default().to_owned(),
            }
        })
        .collect()
}

fn wait_for_names(secure: &Secure, addr: SocketAddr, auth: Auth<'_>, path: &str, want: &[&str]) {
    let want: BTreeSet<String> = want.iter().map(|s| (*s).to_owned()).collect();
    let deadline = Instant::now() + SETTLE;
    loop {
        let got = list_names(secure, addr, auth, path);
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{path}: wanted {want:?} within {SETTLE:?}, got {got:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

/// Nodes come from watched Node objects — address types, the node's own
/// port, `--kubelet-port`, the path annotation and the node selector
/// honoured — and pods from the metadata-only watch of Running pods; a
/// node deleted from the API server leaves the Metrics API.
#[test]
fn server_scrapes_the_nodes_and_pods_the_api_server_lists() {
    let web = FakePod::new("default", "web-1")
        .label("app", "web")
        .container("nginx", 250, 100 * MIB);
    let pending = FakePod::new("default", "pending-0").container("init", 125, 10 * MIB);
    let db = FakePod::new("data", "db-0")
        .label("app", "db")
        .container("postgres", 500, 200 * MIB);
    let cache = FakePod::new("data", "cache-0").container("redis", 125, 50 * MIB);
    let skipped_pod = FakePod::new("default", "skipped-0").container("app", 125, 10 * MIB);

    let status_port = FakeAgent::start(
        FakeNode::new(4, 8 << 30, 1_000, 3 << 30)
            .pod(web.clone())
            .pod(pending.clone()),
    )
    .unwrap();
    let annotated =
        FakeAgent::start(FakeNode::new(4, 8 << 30, 500, 2 << 30).pod(db.clone())).unwrap();
    let flag_port =
        FakeAgent::start(FakeNode::new(4, 8 << 30, 250, 1 << 30).pod(cache.clone())).unwrap();
    let skipped =
        FakeAgent::start(FakeNode::new(4, 8 << 30, 250, 1 << 30).pod(skipped_pod.clone())).unwrap();

    let stub = StubApiServer::start();
    // Hostname first in the node's list, but it does not resolve: only
    // --kubelet-preferred-address-types=InternalIP,... makes it scrapeable.
    stub.put_node(node_object(
        "node-a",
        json!({"kubernetes.io/hostname": "node-a", "zone": "a"}),
        &[("Hostname", "node-a.invalid"), ("InternalIP", "127.0.0.1")],
        Some(port(&status_port)),
        json!({}),
    ));
    stub.put_node(node_object(
        "node-b",
        json!({"zone": "b"}),
        &[("InternalIP", "127.0.0.1")],
        Some(port(&annotated)),
        json!({"metrics.k8s.io/resource-metrics-path": "/alternative/metrics/resource"}),
    ));
    // No status port: --kubelet-port is used.
    stub.put_node(node_object(
        "node-c",
        json!({"zone": "c"}),
        &[("InternalIP", "127.0.0.1")],
        None,
        json!({}),
    ));
    stub.put_node(node_object(
        "node-skip",
        json!({"metrics-skip": "true"}),
        &[("InternalIP", "127.0.0.1")],
        Some(port(&skipped)),
        json!({}),
    ));
    // No address of a preferred type.
    stub.put_node(node_object(
        "node-nowhere",
        json!({}),
        &[("ExternalDNS", "nowhere.invalid")],
        None,
        json!({}),
    ));
    for (pod, node, phase) in [
        (&web, "node-a", "Running"),
        (&pending, "node-a", "Pending"),
        (&db, "node-b", "Running"),
        (&cache, "node-c", "Running"),
        (&skipped_pod, "node-skip", "Running"),
    ] {
        stub.put_pod(pod_object(pod, node, phase));
    }

    let secure = Secure::new();
    stub.put_configmap(secure.configmap());
    let (cert, key) = secure.client(&secure.client_ca, "alice", "dev");
    let alice = Auth::Certificate(&cert, &key, &[]);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = stub.write_kubeconfig(dir.path());
    let mut args: Vec<String> = [
        "server",
        "--metric-resolution",
        "1s",
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--kubelet-preferred-address-types",
        "InternalIP,Hostname",
        "--kubelet-use-node-status-port",
        "--kubelet-port",
        &port(&flag_port).to_string(),
        "--node-selector",
        "metrics-skip!=true",
        "--deprecated-kubelet-completely-insecure",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    args.extend(secure.flags());
    let mut server = Agent::spawn(&args);
    let addr = server.addr;

    wait_for_names(
        &secure,
        addr,
        alice,
        &format!("{METRICS}/nodes"),
        &["node-a", "node-b", "node-c"],
    );
    // The Pending pod is reported by its kubelet but not listed as Running.
    wait_for_names(
        &secure,
        addr,
        alice,
        &format!("{METRICS}/pods"),
        &["data/cache-0", "data/db-0", "default/web-1"],
    );
    // Labels come from the API server's objects.
    assert_eq!(
        list_names(
            &secure,
            addr,
            alice,
            &format!("{METRICS}/pods?labelSelector=app%3Dweb")
        ),
        set(&["default/web-1"])
    );
    assert_eq!(
        list_names(
            &secure,
            addr,
            alice,
            &format!("{METRICS}/nodes?labelSelector=zone%3Db")
        ),
        set(&["node-b"])
    );
    let (_, node_a) = secure.get(addr, &format!("{METRICS}/nodes/node-a"), alice);
    let node_a: Value = serde_json::from_str(&node_a).unwrap();
    assert_eq!(node_a["usage"]["cpu"], "1", "{node_a}");
    assert_eq!(node_a["metadata"]["labels"]["zone"], "a");

    // The annotation's path was scraped; the selector kept node-skip out.
    assert!(annotated.requests("/alternative/metrics/resource") > 0);
    assert_eq!(skipped.requests("/metrics/resource"), 0);
    // The node without a usable address is reported on /metrics.
    let (_, metrics) = secure.get(addr, "/metrics", alice);
    assert!(
        metrics
            .contains(r#"workingset_server_scrapes_total{node="node-nowhere",outcome="address"}"#),
        "{metrics}"
    );

    // What the server asked the API server: nodes whole, Running pods
    // metadata-only, both listed then watched, protobuf first (the stub
    // answered protobuf, so everything above came through it).
    let requests = stub.requests();
    let pod_watch = requests
        .iter()
        .find(|r| r.path == "/api/v1/pods" && r.has_param("watch", "true"))
        .expect("a pod watch");
    assert!(
        pod_watch.has_param("fieldSelector", "status.phase%3DRunning"),
        "{pod_watch:?}"
    );
    assert!(
        pod_watch.accept.contains("as=PartialObjectMetadata"),
        "{pod_watch:?}"
    );
    for request in requests
        .iter()
        .filter(|r| r.path == "/api/v1/nodes" || r.path == "/api/v1/pods")
    {
        assert!(
            request
                .accept
                .starts_with("application/vnd.kubernetes.protobuf"),
            "{request:?}"
        );
    }
    assert!(
        requests
            .iter()
            .any(|r| r.path == "/api/v1/nodes" && r.has_param("watch", "true"))
    );

    // A node deleted from the API server leaves the Metrics API.
    stub.delete_node("node-b");
    wait_for_names(
        &secure,
        addr,
        alice,
        &format!("{METRICS}/nodes"),
        &["node-a", "node-c"],
    );
    wait_for_names(
        &secure,
        addr,
        alice,
        &format!("{METRICS}/pods"),
        &["data/cache-0", "default/web-1"],
    );
    // A pod that stops running leaves it too.
    stub.put_pod(pod_object(&cache, "node-c", "Succeeded"));
    wait_for_names(
        &secure,
        addr,
        alice,
        &format!("{METRICS}/pods"),
        &["default/web-1"],
    );

    server.signal("TERM");
    assert!(server.wait(Duration::from_secs(10)).success());
}

/// The unauthenticated and forbidden answers, word for word as the
/// kube-apiserver (k8s.io/apiserver) writes them.
const UNAUTHORIZED: &str = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}"#;

/// One fake node with one pod, its Node and Pod in the stub, and the
/// authentication ConfigMap; `workingset server` on a loopback secure port.
struct SecureCluster {
    secure: Secure,
    stub: StubApiServer,
    server: Agent,
    _agent: FakeAgent,
    kubeconfig_dir: TempDir,
    args: Vec<String>,
}

impl SecureCluster {
    fn start(extra: &[&str]) -> SecureCluster {
        let pod = FakePod::new("default", "web-1")
            .label("app", "web")
            .container("nginx", 250, 100 * MIB);
        let agent =
            FakeAgent::start(FakeNode::new(4, 8 << 30, 1_000, 3 << 30).pod(pod.clone())).unwrap();
        let stub = StubApiServer::start();
        // An API server that answers JSON only: the fleet works with either.
        stub.serve_protobuf(false);
        stub.put_node(node_object(
            "node-a",
            json!({"zone": "a"}),
            &[("InternalIP", "127.0.0.1")],
            Some(port(&agent)),
            json!({}),
        ));
        stub.put_pod(pod_object(&pod, "node-a", "Running"));
        let secure = Secure::new();
        stub.put_configmap(secure.configmap());
        let kubeconfig_dir = tempfile::tempdir().unwrap();
        let kubeconfig = stub.write_kubeconfig(kubeconfig_dir.path());
        let mut args: Vec<String> = [
            "server",
            "--metric-resolution",
            "1s",
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--kubelet-preferred-address-types",
            "InternalIP",
            "--kubelet-use-node-status-port",
            "--deprecated-kubelet-completely-insecure",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        args.extend(secure.flags());
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let server = Agent::spawn(&args);
        SecureCluster {
            secure,
            stub,
            server,
            _agent: agent,
            kubeconfig_dir,
            args,
        }
    }

    /// Another replica with the same flags (its own port).
    fn replica(&self) -> Agent {
        Agent::spawn(&self.args)
    }

    fn stop(mut self) {
        self.server.signal("TERM");
        assert!(self.server.wait(Duration::from_secs(10)).success());
    }
}

/// The SubjectAccessReviews the stub was asked, as (user, groups,
/// attributes) JSON.
fn access_reviews(stub: &StubApiServer) -> Vec<Value> {
    stub.requests()
        .into_iter()
        .filter(|r| r.path == "/apis/authorization.k8s.io/v1/subjectaccessreviews")
        .map(|r| serde_json::from_str::<Value>(&r.body).unwrap()["spec"].clone())
        .collect()
}

/// A front proxy with the right CA and name passes its user on; a
/// certificate from another CA, a proxy name not allowed and a token the
/// API server does not know are 401; a user the reviews deny is 403 with
/// upstream's message; probes need nothing; plain HTTP is not served.
#[test]
fn the_secure_port_authenticates_and_authorizes_as_an_aggregated_api_server() {
    let cluster = SecureCluster::start(&[]);
    let (secure, stub, addr) = (&cluster.secure, &cluster.stub, cluster.server.addr);
    let nodes = format!("{METRICS}/nodes");

    // The aggregator: front-proxy certificate, user and groups in headers.
    let (proxy_cert, proxy_key) = secure.client(&secure.front_proxy_ca, "front-proxy-client", "");
    let proxied = Auth::Certificate(
        &proxy_cert,
        &proxy_key,
        &[
            "X-Remote-User: alice",
            "X-Remote-Group: dev",
            "X-Remote-Extra-Scopes: read",
        ],
    );
    wait_for_names(secure, addr, proxied, &nodes, &["node-a"]);
    let review = access_reviews(stub)
        .into_iter()
        .find(|spec| spec["user"] == "alice" && spec["resourceAttributes"]["resource"] == "nodes")
        .expect("a review of alice's node list");
    assert_eq!(
        review["resourceAttributes"],
        json!({"group": "metrics.k8s.io", "resource": "nodes", "verb": "list", "version": "v1beta1"})
    );
    assert_eq!(review["groups"], json!(["dev", "system:authenticated"]));
    assert_eq!(review["extra"], json!({"scopes": ["read"]}));

    // Answers are cached: the same request again asks no new review.
    let before = access_reviews(stub).len();
    for _ in 0..3 {
        assert_eq!(secure.get(addr, &nodes, proxied).0, 200);
    }
    assert_eq!(access_reviews(stub).len(), before);

    // A front-proxy certificate whose name is not allowed.
    let (other_cert, other_key) = secure.client(&secure.front_proxy_ca, "not-the-proxy", "");
    assert_eq!(
        secure.get(
            addr,
            &nodes,
            Auth::Certificate(&other_cert, &other_key, &["X-Remote-User: alice"])
        ),
        (401, UNAUTHORIZED.to_owned())
    );
    // A client certificate from a CA the server does not trust.
    let stranger_ca = TestCa::new("stranger CA");
    let (wrong_cert, wrong_key) = secure.client(&stranger_ca, "alice", "dev");
    assert_eq!(
        secure.get(
            addr,
            &nodes,
            Auth::Certificate(&wrong_cert, &wrong_key, &[])
        ),
        (401, UNAUTHORIZED.to_owned())
    );
    // Bearer tokens: known to the API server, or not.
    stub.allow_token(
        "good-token",
        StubUser {
            name: "bob".to_owned(),
            groups: vec!["ops".to_owned()],
        },
    );
    assert_eq!(secure.get(addr, &nodes, Auth::Token("good-token")).0, 200);
    assert!(
        access_reviews(stub)
            .iter()
            .any(|spec| spec["user"] == "bob")
    );
    assert_eq!(
        secure.get(addr, &nodes, Auth::Token("bad-token")),
        (401, UNAUTHORIZED.to_owned())
    );

    // A user the reviews deny: 403, upstream's message and details.
    stub.deny_user("mallory");
    let (cert, key) = secure.client(&secure.client_ca, "mallory", "dev");
    let mallory = Auth::Certificate(&cert, &key, &[]);
    let (status, body) = secure.get(addr, &nodes, mallory);
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        body,
        r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"nodes.metrics.k8s.io is forbidden: User \"mallory\" cannot list resource \"nodes\" in API group \"metrics.k8s.io\" at the cluster scope","reason":"Forbidden","details":{"group":"metrics.k8s.io","kind":"nodes"},"code":403}"#
    );
    let (status, body) = secure.get(
        addr,
        &format!("{METRICS}/namespaces/default/pods/web-1"),
        mallory,
    );
    assert_eq!(status, 403);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body["message"],
        r#"pods.metrics.k8s.io "web-1" is forbidden: User "mallory" cannot get resource "pods" in API group "metrics.k8s.io" in the namespace "default""#
    );
    let (status, body) = secure.get(addr, "/metrics", mallory);
    assert_eq!(status, 403);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body["message"],
        r#"forbidden: User "mallory" cannot get path "/metrics""#
    );

    // A review that fails is a 500 and is not cached: the next request
    // asks again and is served.
    stub.fail("/apis/authorization.k8s.io/", Some(500));
    let (cert, key) = secure.client(&secure.client_ca, "carol", "dev");
    let carol = Auth::Certificate(&cert, &key, &[]);
    let (status, body) = secure.get(addr, &nodes, carol);
    assert_eq!(status, 500, "{body}");
    assert!(body.starts_with("Internal Server Error: "), "{body}");
    stub.fail("/apis/authorization.k8s.io/", None);
    assert_eq!(secure.get(addr, &nodes, carol).0, 200);

    // No credentials: anonymous, which the stub allows for metrics but
    // which probes need no review for at all.
    let reviews = access_reviews(stub).len();
    assert_eq!(secure.get(addr, "/livez", Auth::None).0, 200);
    assert_eq!(access_reviews(stub).len(), reviews);

    // The secure port speaks TLS only.
    use std::io::{Read as _, Write as _};
    let mut plain = std::net::TcpStream::connect(addr).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    plain
        .write_all(b"GET /livez HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(
        !String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"),
        "plain HTTP was served: {}",
        String::from_utf8_lossy(&answer)
    );

    cluster.stop();
}

/// The real kubectl 1.33 with a client certificate reads the secure port.
#[test]
fn kubectl_top_reads_the_secure_port_with_a_client_certificate() {
    if !workingset_testkit::kube::kubectl_available(
        "kubectl_top_reads_the_secure_port_with_a_client_certificate",
    ) {
        return;
    }
    let cluster = SecureCluster::start(&[]);
    let (secure, addr) = (&cluster.secure, cluster.server.addr);
    let (cert, key) = secure.client(&secure.client_ca, "alice", "dev");
    wait_for_names(
        secure,
        addr,
        Auth::Certificate(&cert, &key, &[]),
        &format!("{METRICS}/pods"),
        &["default/web-1"],
    );
    let kubeconfig = cluster.kubeconfig_dir.path().join("secure-kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: secure\n  cluster:\n    server: https://127.0.0.1:{}\n    certificate-authority: {}\ncontexts:\n- name: secure\n  context:\n    cluster: secure\n    user: alice\ncurrent-context: secure\nusers:\n- name: alice\n  user:\n    client-certificate: {}\n    client-key: {}\n",
            addr.port(),
            secure.cert_dir().join("apiserver.crt").display(),
            cert.display(),
            key.display()
        ),
    )
    .unwrap();
    let output = workingset_testkit::kube::run_kubectl(
        "1.33",
        &kubeconfig,
        &["top", "pod", "-A"],
        Duration::from_secs(30),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        stdout,
        "NAMESPACE   NAME    CPU(cores)   MEMORY(bytes)   \ndefault     web-1   250m         100Mi           \n"
    );
    // kubectl's requests were reviewed as alice.
    assert!(
        access_reviews(&cluster.stub)
            .iter()
            .any(|spec| spec["user"] == "alice" && spec["resourceAttributes"]["resource"] == "pods")
    );
    cluster.stop();
}

/// Two replicas against the same API server and kubelets serve the same
/// figures, and stopping one while the other is under load costs the
/// other no request.
#[test]
fn replicas_serve_alike_and_independently() {
    let cluster = SecureCluster::start(&[]);
    let mut second = cluster.replica();
    let (secure, first_addr, second_addr) = (&cluster.secure, cluster.server.addr, second.addr);
    let (cert, key) = secure.client(&secure.client_ca, "alice", "dev");
    let alice = Auth::Certificate(&cert, &key, &[]);
    let pod = format!("{METRICS}/namespaces/default/pods/web-1");
    for addr in [first_addr, second_addr] {
        wait_for_names(
            secure,
            addr,
            alice,
            &format!("{METRICS}/pods"),
            &["default/web-1"],
        );
    }
    // The fake kubelet's counters move by exactly its rate per sample, so
    // every replica computes the same figures whenever it scrapes.
    let usage = |addr| {
        let (status, body) = secure.get(addr, &pod, alice);
        assert_eq!(status, 200, "{body}");
        let pod: Value = serde_json::from_str(&body).unwrap();
        pod["containers"].clone()
    };
    assert_eq!(usage(first_addr), usage(second_addr));
    assert_eq!(
        usage(first_addr),
        json!([{"name": "nginx", "usage": {"cpu": "250m", "memory": "100Mi"}}])
    );

    // Load on the second while the first stops.
    let stop_first = std::thread::spawn({
        let mut first = cluster.server;
        move || {
            std::thread::sleep(Duration::from_millis(300));
            first.signal("TERM");
            assert!(first.wait(Duration::from_secs(10)).success());
        }
    });
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut answered = 0;
    while Instant::now() < deadline {
        let (status, body) = secure.get(second_addr, &pod, alice);
        assert_eq!(
            status, 200,
            "a request to the second replica failed: {body}"
        );
        answered += 1;
    }
    stop_first.join().unwrap();
    assert!(answered > 5, "only {answered} requests in 2 s");
    second.signal("TERM");
    assert!(second.wait(Duration::from_secs(10)).success());
}

/// What the service account may do: (namespace or "" for cluster-wide,
/// rule) for every binding of `deploy/rbac.yaml`, with the rules of the
/// built-in roles it binds as Kubernetes defines them.
fn granted_rules() -> Vec<(String, Value)> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/rbac.yaml"
    ))
    .unwrap();
    let objects: Vec<Value> = serde_yaml_ng::Deserializer::from_str(&text)
        .map(|document| serde::Deserialize::deserialize(document).unwrap())
        .collect();
    let built_in = |name: &str| -> Vec<Value> {
        match name {
            "system:auth-delegator" => vec![
                json!({"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]}),
                json!({"apiGroups": ["authorization.k8s.io"], "resources": ["subjectaccessreviews"], "verbs": ["create"]}),
            ],
            "extension-apiserver-authentication-reader" => vec![json!({
                "apiGroups": [""], "resources": ["configmaps"],
                "resourceNames": ["extension-apiserver-authentication"],
                "verbs": ["get", "list", "watch"],
            })],
            other => panic!("the role {other} is neither shipped nor built in"),
        }
    };
    let mut granted = Vec::new();
    for binding in objects
        .iter()
        .filter(|o| o["kind"] == "ClusterRoleBinding" || o["kind"] == "RoleBinding")
    {
        let ours = binding["subjects"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|s| {
                s["kind"] == "ServiceAccount"
                    && s["name"] == "workingset"
                    && s["namespace"] == "kube-system"
            });
        if !ours {
            continue;
        }
        let namespace = binding["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let role = binding["roleRef"]["name"].as_str().unwrap();
        let rules = objects
            .iter()
            .find(|o| o["kind"] == "ClusterRole" && o["metadata"]["name"] == role)
            .map_or_else(
                || built_in(role),
                |r| r["rules"].as_array().unwrap().clone(),
            );
        granted.extend(rules.into_iter().map(|rule| (namespace.clone(), rule)));
    }
    granted
}

fn allows(
    granted: &[(String, Value)],
    namespace: &str,
    group: &str,
    resource: &str,
    verb: &str,
    name: &str,
) -> bool {
    let has = |list: &Value, item: &str| {
        list.as_array()
            .is_some_and(|l| l.iter().any(|v| v == item || v == "*"))
    };
    granted.iter().any(|(scope, rule)| {
        (scope.is_empty() || scope == namespace)
            && has(&rule["apiGroups"], group)
            && has(&rule["resources"], resource)
            && has(&rule["verbs"], verb)
            && (rule["resourceNames"].is_null() || has(&rule["resourceNames"], name))
    })
}

/// Every request the server makes of the API server (and of kubelets) is
/// one the shipped RBAC allows its service account.
#[test]
fn the_shipped_rbac_covers_every_request_the_server_makes() {
    let cluster = SecureCluster::start(&[]);
    let (secure, stub, addr) = (&cluster.secure, &cluster.stub, cluster.server.addr);
    stub.allow_token(
        "good-token",
        StubUser {
            name: "bob".to_owned(),
            groups: vec![],
        },
    );
    wait_for_names(
        secure,
        addr,
        Auth::Token("good-token"),
        &format!("{METRICS}/nodes"),
        &["node-a"],
    );
    let granted = granted_rules();
    let mut asked = BTreeSet::new();
    for request in stub.requests() {
        let watch = request.has_param("watch", "true") || request.has_param("watch", "1");
        let read = if watch { "watch" } else { "list" };
        let (namespace, group, resource, verb, name) =
            match (request.method.as_str(), request.path.as_str()) {
                ("GET", "/api/v1/nodes") => ("", "", "nodes", read, String::new()),
                ("GET", "/api/v1/pods") => ("", "", "pods", read, String::new()),
                ("GET", "/api/v1/namespaces/kube-system/configmaps") => {
                    // A list or watch of one object names it in the field selector.
                    let name = request
                        .query
                        .split('&')
                        .find_map(|p| p.strip_prefix("fieldSelector=metadata.name%3D"))
                        .unwrap_or_default()
                        .to_owned();
                    ("kube-system", "", "configmaps", read, name)
                }
                ("POST", "/apis/authentication.k8s.io/v1/tokenreviews") => (
                    "",
                    "authentication.k8s.io",
                    "tokenreviews",
                    "create",
                    String::new(),
                ),
                ("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews") => (
                    "",
                    "authorization.k8s.io",
                    "subjectaccessreviews",
                    "create",
                    String::new(),
                ),
                other => panic!("an unexpected request to the API server: {other:?}"),
            };
        assert!(
            allows(&granted, namespace, group, resource, verb, &name),
            "not allowed by deploy/rbac.yaml: {verb} {group}/{resource} {namespace}/{name}"
        );
        asked.insert(format!("{verb} {resource}"));
    }
    for expected in [
        "watch nodes",
        "watch pods",
        "watch configmaps",
        "create tokenreviews",
        "create subjectaccessreviews",
    ] {
        assert!(asked.contains(expected), "{expected} not asked: {asked:?}");
    }
    // The scrape: the kubelet authorizes /metrics/resource as nodes/metrics.
    assert!(allows(&granted, "", "", "nodes/metrics", "get", ""));
    cluster.stop();
}

/// What `workingset doctor` printed and whether it exited 0.
fn doctor(kubeconfig: &Path) -> (bool, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_workingset"));
    command
        .args(["doctor", "--kubeconfig"])
        .arg(kubeconfig)
        .env("HOME", kubeconfig.parent().unwrap())
        .env_remove("KUBECONFIG")
        .env_remove("KUBERNETES_SERVICE_HOST");
    let output =
        workingset_testkit::process::run(&mut command, None, Duration::from_secs(60)).unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

const PROXY_METRICS: &str =
    "/api/v1/namespaces/kube-system/services/https:workingset:443/proxy/metrics";

/// A cluster as `doctor` sees it through the stub: the APIService, its
/// Service and server pod, discovery, one node and its pod, and the
/// Metrics API's lists.
fn healthy_cluster(stub: &StubApiServer) {
    stub.put_document(
        "/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.metrics.k8s.io",
        Some(api_service("True", "Passed", "all checks passed")),
    );
    stub.put_document("/apis", Some(api_groups(true)));
    stub.put_document(
        "/api/v1/namespaces/kube-system/services/workingset",
        Some(json!({
            "kind": "Service", "apiVersion": "v1",
            "metadata": {"name": "workingset", "namespace": "kube-system"},
            "spec": {"selector": {"k8s-app": "workingset"}, "ports": [{"port": 443}]},
        })),
    );
    stub.put_pod(server_pod(true, None));
    stub.put_node(node_object(
        "node-a",
        json!({}),
        &[("InternalIP", "127.0.0.1")],
        None,
        json!({}),
    ));
    let web = FakePod::new("default", "web-1").container("nginx", 250, 100 * MIB);
    stub.put_pod(pod_object(&web, "node-a", "Running"));
    stub.put_document(
        "/apis/metrics.k8s.io/v1beta1/nodes",
        Some(json!({"kind": "NodeMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {},
            "items": [{"metadata": {"name": "node-a"}, "timestamp": "2026-01-01T00:00:00Z", "window": "15s", "usage": {"cpu": "1", "memory": "1Gi"}}]})),
    );
    stub.put_document(
        "/apis/metrics.k8s.io/v1beta1/pods",
        Some(json!({"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {},
            "items": [
                {"metadata": {"name": "web-1", "namespace": "default"}, "timestamp": "2026-01-01T00:00:00Z", "window": "15s", "containers": []},
                {"metadata": {"name": "workingset-abc", "namespace": "kube-system"}, "timestamp": "2026-01-01T00:00:00Z", "window": "15s", "containers": []},
            ]})),
    );
}

fn api_service(available: &str, reason: &str, message: &str) -> Value {
    json!({
        "kind": "APIService", "apiVersion": "apiregistration.k8s.io/v1",
        "metadata": {"name": "v1beta1.metrics.k8s.io"},
        "spec": {"group": "metrics.k8s.io", "version": "v1beta1", "groupPriorityMinimum": 100, "versionPriority": 100,
                 "service": {"name": "workingset", "namespace": "kube-system", "port": 443}},
        "status": {"conditions": [{"type": "Available", "status": available, "reason": reason, "message": message,
                                    "lastTransitionTime": "2026-01-01T00:00:00Z"}]},
    })
}

fn api_groups(with_metrics: bool) -> Value {
    let mut groups = vec![
        json!({"name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
        "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}}),
    ];
    if with_metrics {
        groups.push(json!({"name": "metrics.k8s.io",
            "versions": [{"groupVersion": "metrics.k8s.io/v1beta1", "version": "v1beta1"}],
            "preferredVersion": {"groupVersion": "metrics.k8s.io/v1beta1", "version": "v1beta1"}}));
    }
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

fn server_pod(ready: bool, waiting: Option<&str>) -> Value {
    let mut state = json!({"running": {"startedAt": "2026-01-01T00:00:00Z"}});
    if let Some(reason) = waiting {
        state = json!({"waiting": {"reason": reason}});
    }
    json!({
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {"name": "workingset-abc", "namespace": "kube-system", "labels": {"k8s-app": "workingset"},
                     "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"nodeName": "node-a", "containers": [{"name": "workingset"}]},
        "status": {"phase": "Running",
                   "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
                   "containerStatuses": [{"name": "workingset", "ready": ready, "restartCount": 3, "image": "workingset",
                                          "imageID": "", "state": state}]},
    })
}

/// `doctor` against the stub: a healthy cluster says all is well; each
/// failure gives its finding and the fix that names the flag or component.
#[test]
fn doctor_names_each_failure_and_its_fix() {
    // The server's real /metrics: one node scraped fine; then a node whose
    // "kubelet" is the server's own secure port, whose self-signed
    // certificate the cluster CA did not sign (a TLS failure).
    let healthy_metrics = {
        let cluster = SecureCluster::start(&[]);
        let (cert, key) = cluster
            .secure
            .client(&cluster.secure.client_ca, "alice", "");
        let auth = Auth::Certificate(&cert, &key, &[]);
        wait_for_names(
            &cluster.secure,
            cluster.server.addr,
            auth,
            &format!("{METRICS}/nodes"),
            &["node-a"],
        );
        let (_, text) = cluster.secure.get(cluster.server.addr, "/metrics", auth);
        cluster.stop();
        text
    };
    assert!(
        healthy_metrics.contains(
            r#"workingset_server_scrape_last_outcome{node="node-a",outcome="success"} 1"#
        )
    );
    let tls_metrics = {
        let cluster = SecureCluster::start(&["--deprecated-kubelet-completely-insecure=false"]);
        cluster.stub.put_node(node_object(
            "node-b",
            json!({}),
            &[("InternalIP", "127.0.0.1")],
            Some(cluster.server.addr.port()),
            json!({}),
        ));
        let (cert, key) = cluster
            .secure
            .client(&cluster.secure.client_ca, "alice", "");
        let auth = Auth::Certificate(&cert, &key, &[]);
        let deadline = Instant::now() + SETTLE;
        let text = loop {
            let (_, text) = cluster.secure.get(cluster.server.addr, "/metrics", auth);
            if text.contains(r#"workingset_server_scrape_last_outcome{node="node-b""#) {
                break text;
            }
            assert!(
                Instant::now() < deadline,
                "no scrape outcome within {SETTLE:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        cluster.stop();
        text
    };
    assert!(
        tls_metrics
            .contains(r#"workingset_server_scrape_last_outcome{node="node-b",outcome="tls"} 1"#),
        "{tls_metrics}"
    );

    let stub = StubApiServer::start();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = stub.write_kubeconfig(dir.path());
    healthy_cluster(&stub);
    stub.put_raw(PROXY_METRICS, "text/plain; version=0.0.4", &healthy_metrics);
    let (ok, text) = doctor(&kubeconfig);
    assert!(ok, "{text}");
    assert!(text.contains("All is well"), "{text}");
    assert!(
        text.contains(
            "✓ APIService v1beta1.metrics.k8s.io is Available (service kube-system/workingset)"
        ),
        "{text}"
    );

    // Scrape failures, each with its fix.
    stub.put_raw(PROXY_METRICS, "text/plain; version=0.0.4", &tls_metrics);
    let (ok, text) = doctor(&kubeconfig);
    assert!(!ok, "{text}");
    assert!(
        text.contains("✗ node node-b: the newest scrape failed (tls)"),
        "{text}"
    );
    assert!(text.contains("--kubelet-insecure-tls"), "{text}");
    for (outcome, fix) in [
        ("timeout", "--kubelet-request-timeout"),
        ("address", "--kubelet-preferred-address-types"),
        ("unauthorized", "--authentication-token-webhook=true"),
        ("forbidden", "nodes/metrics"),
    ] {
        stub.put_raw(
            PROXY_METRICS,
            "text/plain; version=0.0.4",
            &format!(
                "# TYPE workingset_server_scrape_last_outcome gauge\nworkingset_server_scrape_last_outcome{{node=\"node-a\",outcome=\"{outcome}\"}} 1\n"
            ),
        );
        let (ok, text) = doctor(&kubeconfig);
        assert!(!ok, "{text}");
        assert!(
            text.contains(&format!(
                "node node-a: the newest scrape failed ({outcome})"
            )),
            "{text}"
        );
        assert!(text.contains(fix), "{outcome}: {text}");
    }
    stub.put_raw(PROXY_METRICS, "text/plain; version=0.0.4", &healthy_metrics);

    // A pod created seconds ago has no metrics yet.
    let young = FakePod::new("default", "new-0").container("app", 125, MIB);
    let mut young = pod_object(&young, "node-a", "Running");
    young["metadata"]["creationTimestamp"] = json!(jiff::Timestamp::now().to_string());
    stub.put_pod(young);
    let (ok, text) = doctor(&kubeconfig);
    assert!(!ok, "{text}");
    assert!(
        text.contains("too young to have metrics yet: default/new-0"),
        "{text}"
    );
    assert!(text.contains("2 × --metric-resolution"), "{text}");
    stub.delete_pod("default", "new-0");

    // The server's pod crash-loops.
    stub.put_pod(server_pod(false, Some("CrashLoopBackOff")));
    let (ok, text) = doctor(&kubeconfig);
    assert!(!ok, "{text}");
    assert!(
        text.contains(
            "server pod kube-system/workingset-abc is not ready (workingset: CrashLoopBackOff)"
        ),
        "{text}"
    );
    assert!(
        text.contains("kubectl -n kube-system logs workingset-abc --previous"),
        "{text}"
    );
    stub.put_pod(server_pod(true, None));

    // The aggregator cannot reach the server; discovery lacks the group.
    stub.put_document(
        "/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.metrics.k8s.io",
        Some(api_service(
            "False",
            "FailedDiscoveryCheck",
            "failing or missing response from https://10.96.0.12:443/apis/metrics.k8s.io/v1beta1: context deadline exceeded",
        )),
    );
    stub.put_document("/apis", Some(api_groups(false)));
    let (ok, text) = doctor(&kubeconfig);
    assert!(!ok, "{text}");
    assert!(text.contains("is not available: FailedDiscoveryCheck: failing or missing response from https://10.96.0.12:443"), "{text}");
    assert!(text.contains("--enable-aggregator-routing=true"), "{text}");
    assert!(
        text.contains("metrics.k8s.io/v1beta1 is not in the API server's discovery"),
        "{text}"
    );

    // No APIService at all.
    stub.put_document(
        "/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.metrics.k8s.io",
        None,
    );
    let (ok, text) = doctor(&kubeconfig);
    assert!(!ok, "{text}");
    assert!(
        text.contains("there is no APIService v1beta1.metrics.k8s.io"),
        "{text}"
    );
    assert!(text.contains("kubectl apply -k deploy/"), "{text}");
}
