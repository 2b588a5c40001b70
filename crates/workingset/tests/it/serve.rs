//! `workingset serve` as a process: the agent for the fixture machine and
//! the metrics server in one, serving the Metrics API on the address it
//! logs, and exiting 0 on SIGTERM. (The kubectl-driven checks of the
//! server are in `server.rs`.)

use std::time::Duration;

use super::agent::{Agent, get, machine, wait_for_200};

#[test]
fn serve_answers_the_metrics_api_and_exits_0_on_sigterm() {
    let mut args: Vec<String> = [
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--node-name",
        "fixture-node",
        "--metric-resolution",
        "1s",
        "--housekeeping-interval",
        "200ms",
        // The fixture machine has no container runtime; do not ask this one's.
        "--docker-socket=",
        "--cri-socket=",
    ]
    .map(str::to_owned)
    .into();
    args.extend(machine());
    let mut serve = Agent::spawn(&args);

    // Ready once two ticks have given the node a rate.
    wait_for_200(serve.addr, "/readyz");
    let (status, body) = get(serve.addr, "/apis/metrics.k8s.io/v1beta1/nodes");
    assert_eq!(status, 200, "{body}");
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(list["kind"], "NodeMetricsList", "{body}");
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{body}");
    assert_eq!(items[0]["metadata"]["name"], "fixture-node", "{body}");
    assert!(items[0]["usage"]["cpu"].is_string(), "{body}");
    assert!(items[0]["usage"]["memory"].is_string(), "{body}");

    serve.signal("TERM");
    let status = serve.wait(Duration::from_secs(15));
    let log = serve.stderr();
    assert_eq!(status.code(), Some(0), "exit {status}; stderr:\n{log}");
    assert!(log.contains("Stopped"), "{log}");
    // One `Listening` line, the server's: the embedded agent's port is internal.
    assert_eq!(log.matches("Listening").count(), 1, "{log}");
    assert!(log.contains("Embedded agent started"), "{log}");
}
