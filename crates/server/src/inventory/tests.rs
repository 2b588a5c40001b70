//! Inventory refreshes against a fake kubelet on loopback: the pod list and
//! its filters, the summary fallback, capacity from cAdvisor (fetched once,
//! retried after a failure), errors, the deadline, and what our own agent
//! renders.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::*;
use workingset_kubeclient::kubelet::ClientOptions;
use workingset_kubeclient::kubelet::test_server::{Reply, TestServer, path_of};

const TIMEOUT: Duration = Duration::from_secs(5);
const JSON: &str = "application/json";
const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

const POD_LIST: &str = r#"{"kind":"PodList","apiVersion":"v1","metadata":{},"items":[
  {"metadata":{"name":"web-0","namespace":"default","uid":"u1","resourceVersion":"5",
     "creationTimestamp":"2025-01-02T02:59:58Z","labels":{"app":"web"},"annotations":{"a":"b"}},
   "spec":{"nodeName":"node-1","containers":[{"name":"app","image":"nginx"}]},
   "status":{"phase":"Running","startTime":"2025-01-02T03:00:00Z","podIP":"10.1.0.5"}},
  {"metadata":{"name":"pending","namespace":"default","creationTimestamp":"2025-01-02T03:00:00Z"},
   "status":{"phase":"Pending"}},
  {"metadata":{"name":"done","namespace":"default","creationTimestamp":"2025-01-02T03:00:00Z"},
   "status":{"phase":"Succeeded"}},
  {"metadata":{"name":"no-status","namespace":"default"}},
  {"metadata":{"name":"coredns-1","namespace":"kube-system","creationTimestamp":null,"labels":null},
   "status":{"phase":"Running"}}
]}"#;

const CADVISOR: &str = "\
# HELP machine_cpu_cores Number of logical CPU cores.
# TYPE machine_cpu_cores gauge
machine_cpu_cores{boot_id=\"b\",machine_id=\"m\",system_uuid=\"u\"} 4 1735787055250
# HELP machine_memory_bytes Amount of memory installed on the machine.
# TYPE machine_memory_bytes gauge
machine_memory_bytes{boot_id=\"b\",machine_id=\"m\",system_uuid=\"u\"} 8e+09 1735787055250
";

/// A refresh that may ask for the capacity, its inventory only.
async fn refresh(
    client: &ScrapeClient,
    spec: &NodeSpec,
    previous: Option<&NodeInventory>,
    timeout: Duration,
) -> Result<NodeInventory, InventoryError> {
    super::refresh(client, spec, previous, timeout, true)
        .await
        .map(|refreshed| refreshed.inventory)
}

fn client() -> ScrapeClient {
    ScrapeClient::new(&ClientOptions::default()).unwrap()
}

fn spec(server: &TestServer) -> NodeSpec {
    NodeSpec {
        name: "node-1".into(),
        url: server.url("http", ""),
        labels: BTreeMap::from([
            ("topology.kubernetes.io/zone".to_owned(), "eu-1a".to_owned()),
            // The operator's word beats the well-known default.
            ("kubernetes.io/hostname".to_owned(), "node-1.lab".to_owned()),
        ]),
    }
}

fn paths(server: &TestServer) -> Vec<String> {
    server
        .heads()
        .iter()
        .map(|head| path_of(head).to_owned())
        .collect()
}

/// A fake kubelet answering `/pods` and `/metrics/cadvisor`.
async fn kubelet() -> TestServer {
    TestServer::http(|head| match path_of(head) {
        "/pods" => Reply::ok(JSON, POD_LIST.as_bytes()),
        "/metrics/cadvisor" => Reply::ok(TEXT, CADVISOR.as_bytes()),
        _ => Reply::status(404, "text/plain", b"404 page not found\n"),
    })
    .await
}

fn names(inventory: &NodeInventory) -> Vec<(&str, &str)> {
    inventory
        .pods
        .iter()
        .map(|p| (p.metadata.namespace.as_str(), p.metadata.name.as_str()))
        .collect()
}

#[tokio::test]
async fn running_pods_and_the_node_with_capacity_from_a_kubelet() {
    let server = kubelet().await;
    let inventory = refresh(&client(), &spec(&server), None, TIMEOUT)
        .await
        .unwrap();

    assert_eq!(
        names(&inventory),
        [("default", "web-0"), ("kube-system", "coredns-1")]
    );
    assert_eq!(
        serde_json::to_string(&inventory.pods).unwrap(),
        r#"[{"metadata":{"name":"web-0","namespace":"default","creationTimestamp":"2025-01-02T02:59:58Z","labels":{"app":"web"}},"spec":{"containers":[{"name":"app"}],"nodeName":"node-1"}},{"metadata":{"name":"coredns-1","namespace":"kube-system"},"spec":{"containers":[],"nodeName":"node-1"}}]"#
    );
    assert_eq!(
        serde_json::to_string(&inventory.node).unwrap(),
        concat!(
            r#"{"metadata":{"name":"node-1","labels":{"beta.kubernetes.io/os":"linux","kubernetes.io/hostname":"node-1.lab","kubernetes.io/os":"linux","topology.kubernetes.io/zone":"eu-1a"}},"#,
            r#""status":{"capacity":{"cpu":"4","memory":"7812500Ki"},"allocatable":{"cpu":"4","memory":"7812500Ki"}}}"#
        )
    );
    let mut asked = paths(&server);
    asked.sort();
    assert_eq!(asked, ["/metrics/cadvisor", "/pods"]);
}

#[tokio::test]
async fn capacity_is_fetched_once_and_reused() {
    let server = kubelet().await;
    let client = client();
    let spec = spec(&server);
    let first = refresh(&client, &spec, None, TIMEOUT).await.unwrap();
    let second = refresh(&client, &spec, Some(&first), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(second, first);
    let cadvisor_requests = paths(&server)
        .iter()
        .filter(|p| *p == "/metrics/cadvisor")
        .count();
    assert_eq!(cadvisor_requests, 1);
    assert_eq!(paths(&server).iter().filter(|p| *p == "/pods").count(), 2);
}

#[tokio::test]
async fn without_capacity_the_refresh_goes_on_and_tries_again_next_time() {
    let cadvisor_answers = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&cadvisor_answers);
    let server = TestServer::http(move |head| match path_of(head) {
        "/pods" => Reply::ok(JSON, POD_LIST.as_bytes()),
        // Fails the first time, works after.
        "/metrics/cadvisor" if counter.fetch_add(1, Ordering::SeqCst) == 0 => {
            Reply::status(500, "text/plain", b"boom")
        }
        "/metrics/cadvisor" => Reply::ok(TEXT, CADVISOR.as_bytes()),
        _ => Reply::status(404, "text/plain", b""),
    })
    .await;
    let client = client();
    let spec = spec(&server);
    let first = refresh(&client, &spec, None, TIMEOUT).await.unwrap();
    assert!(first.node.status.capacity.is_empty());
    assert!(first.node.status.allocatable.is_empty());
    assert_eq!(first.pods.len(), 2);
    // `kubectl top node` without allocatable: the node still serialises,
    // without the status lists.
    assert!(
        serde_json::to_string(&first.node)
            .unwrap()
            .ends_with(r#""status":{}}"#)
    );

    let second = refresh(&client, &spec, Some(&first), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(second.node.status.capacity[CPU].value(), 4);
    assert_eq!(
        second.node.status.allocatable[MEMORY].value(),
        8_000_000_000
    );
    assert_eq!(cadvisor_answers.load(Ordering::SeqCst), 2);
}

/// An unknown capacity is asked for only when it is due (the first
/// inventory, a node's periodic turn), each request's outcome reported.
#[tokio::test]
async fn an_unknown_capacity_is_asked_only_when_due() {
    let cadvisor = Arc::new(std::sync::Mutex::new(Reply::status(
        500,
        "text/plain",
        b"boom",
    )));
    let answer = Arc::clone(&cadvisor);
    let server = TestServer::http(move |head| match path_of(head) {
        "/pods" => Reply::ok(JSON, POD_LIST.as_bytes()),
        "/metrics/cadvisor" => answer.lock().unwrap().clone(),
        _ => Reply::status(404, "text/plain", b""),
    })
    .await;
    let client = client();
    let spec = spec(&server);
    let cadvisor_requests = || {
        paths(&server)
            .iter()
            .filter(|p| *p == "/metrics/cadvisor")
            .count()
    };

    let first = super::refresh(&client, &spec, None, TIMEOUT, true)
        .await
        .unwrap();
    assert_eq!(first.capacity, Some("http_status"));
    assert!(first.inventory.node.status.capacity.is_empty());
    assert_eq!(cadvisor_requests(), 1);

    // A refresh its pods caused: not asked again.
    let between = super::refresh(&client, &spec, Some(&first.inventory), TIMEOUT, false)
        .await
        .unwrap();
    assert_eq!(between.capacity, None);
    assert_eq!(between.inventory.pods.len(), 2);
    assert_eq!(cadvisor_requests(), 1);

    for (reply, outcome) in [
        (Reply::ok(TEXT, b"<html>"), "parse_error"),
        (Reply::ok(TEXT, b"container_scrape_error 0\n"), "missing"),
        (Reply::ok(TEXT, CADVISOR.as_bytes()), "success"),
    ] {
        *cadvisor.lock().unwrap() = reply;
        let due = super::refresh(&client, &spec, Some(&first.inventory), TIMEOUT, true)
            .await
            .unwrap();
        assert_eq!(due.capacity, Some(outcome));
    }
    assert_eq!(cadvisor_requests(), 4);
}

#[test]
fn capacity_comes_from_the_first_usable_machine_samples() {
    let capacity = capacity_from_cadvisor(
        b"machine_cpu_cores NaN\nmachine_cpu_cores -1\nmachine_cpu_cores 16\nmachine_cpu_cores 2\n\
          machine_memory_bytes 3.3554432e+07\n",
    )
    .unwrap();
    assert_eq!(capacity[CPU].to_string(), "16");
    assert_eq!(capacity[MEMORY].to_string(), "32Mi");
    let half = capacity_from_cadvisor(b"machine_cpu_cores 1\n").unwrap();
    assert_eq!(half.keys().collect::<Vec<_>>(), ["cpu"]);
    assert!(capacity_from_cadvisor(b"<html>").is_err());
    assert!(
        capacity_from_cadvisor(b"container_scrape_error 0\n")
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn without_a_pods_endpoint_the_pods_come_from_the_summary() {
    let summary = r#"{"node":{"nodeName":"node-1","startTime":"2025-01-01T23:59:00Z"},
      "pods":[
        {"podRef":{"name":"web-0","namespace":"default","uid":"u1"},"startTime":"2025-01-02T02:59:58Z","containers":[{"name":"web","startTime":"2025-01-02T02:59:58Z"}]},
        {"podRef":{"name":"","namespace":"default","uid":""},"startTime":null,"containers":null},
        {"podRef":{"name":"0123456789ab","namespace":"docker","uid":""},"startTime":null,"containers":[]}
      ]}"#;
    let server = TestServer::http(move |head| match path_of(head) {
        "/stats/summary?only_cpu_and_memory=true" => Reply::ok(JSON, summary.as_bytes()),
        "/metrics/cadvisor" => Reply::ok(TEXT, CADVISOR.as_bytes()),
        _ => Reply::status(404, "text/plain", b"404 page not found\n"),
    })
    .await;
    let inventory = refresh(&client(), &spec(&server), None, TIMEOUT)
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_string(&inventory.pods).unwrap(),
        r#"[{"metadata":{"name":"web-0","namespace":"default","creationTimestamp":"2025-01-02T02:59:58Z"},"spec":{"containers":[{"name":"web"}],"nodeName":"node-1"}},{"metadata":{"name":"0123456789ab","namespace":"docker"},"spec":{"containers":[],"nodeName":"node-1"}}]"#
    );
    assert!(paths(&server).contains(&"/stats/summary?only_cpu_and_memory=true".to_owned()));
}

#[tokio::test]
async fn a_pod_list_that_cannot_be_had_is_an_error_with_an_outcome() {
    let failing = TestServer::http(|head| match path_of(head) {
        "/pods" => Reply::status(403, "text/plain", b"Forbidden"),
        _ => Reply::status(404, "text/plain", b""),
    })
    .await;
    let error = refresh(&client(), &spec(&failing), None, TIMEOUT)
        .await
        .unwrap_err();
    assert_eq!(error.outcome(), "forbidden");
    let message = error.to_string();
    assert!(
        message.starts_with("cannot list the pods of node node-1 (/pods): "),
        "{message}"
    );
    assert!(message.contains("HTTP 403"), "{message}");

    let garbage = TestServer::http(|head| match path_of(head) {
        "/pods" => Reply::ok(JSON, b"<html>hello</html>"),
        _ => Reply::status(404, "text/plain", b""),
    })
    .await;
    let error = refresh(&client(), &spec(&garbage), None, TIMEOUT)
        .await
        .unwrap_err();
    assert_eq!(error.outcome(), "parse_error");
    assert!(
        error.to_string().contains("is not valid PodList JSON"),
        "{error}"
    );

    // Neither /pods nor the summary.
    let neither = TestServer::http(|_| Reply::status(404, "text/plain", b"")).await;
    let error = refresh(&client(), &spec(&neither), None, TIMEOUT)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            InventoryError::Pods {
                path: SUMMARY_PATH,
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn one_refresh_takes_at_most_its_timeout() {
    let silent = TestServer::http(|_| Reply::ThenHang(Vec::new())).await;
    let timeout = Duration::from_millis(300);
    let started = std::time::Instant::now();
    let error = refresh(&client(), &spec(&silent), None, timeout)
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert!(elapsed >= timeout && elapsed < timeout * 5, "{elapsed:?}");
    assert_eq!(error.outcome(), "timeout");
}

/// The inventory of a node running our own agent, from the agent's own
/// renderers over the cgroup fixture machine.
#[tokio::test]
async fn reads_what_our_agent_serves() {
    use workingset_agent::serve::{Observation, cadvisor, pods};
    use workingset_sampling::sampler::Sampler;

    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cgroup/tests/fixtures/v1-hybrid");
    let cgroups =
        workingset_cgroup::Cgroups::open(workingset_cgroup::Config::under(&fixture)).unwrap();
    let snapshot = Sampler::new(&cgroups).sample().unwrap();
    let online_cpus = snapshot.node.online_cpus;
    let mem_total = snapshot.node.meminfo.mem_total;
    let observation = Observation::first("fixture-node", Arc::new(snapshot));
    let pod_list = serde_json::to_vec(&pods::build(&observation)).unwrap();
    let mut metrics = String::new();
    cadvisor::render(&observation, &mut metrics);
    let workloads: Vec<(String, String)> = pods::build(&observation)
        .items
        .iter()
        .map(|p| (p.metadata.namespace.clone(), p.metadata.name.clone()))
        .collect();

    let server = TestServer::http(move |head| match path_of(head) {
        "/pods" => Reply::ok(JSON, &pod_list),
        "/metrics/cadvisor" => Reply::ok(TEXT, metrics.as_bytes()),
        _ => Reply::status(404, "text/plain", b""),
    })
    .await;
    let inventory = refresh(&client(), &spec(&server), None, TIMEOUT)
        .await
        .unwrap();
    let got: Vec<(String, String)> = inventory
        .pods
        .iter()
        .map(|p| (p.metadata.namespace.clone(), p.metadata.name.clone()))
        .collect();
    assert_eq!(got, workloads);
    assert_eq!(got.len(), 2);
    assert!(
        inventory
            .pods
            .iter()
            .all(|p| p.metadata.creation_timestamp.is_some())
    );
    let capacity = &inventory.node.status.capacity;
    assert_eq!(capacity[CPU].value(), i64::from(online_cpus));
    assert_eq!(capacity[MEMORY].value(), i64::try_from(mem_total).unwrap());
}
