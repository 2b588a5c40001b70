//! Every row of the Errors table of kubectl-top.md, which error wins when
//! several apply, and the requests made (kubectl's request order).

use std::collections::BTreeMap;

use workingset_top::{SourceError, Status, TopError, TopNodeOptions, TopPodOptions};

use crate::support::{
    Example, FakeSource, Outcome, node, node_metrics, pod, time, top_node, top_pod,
};

fn failure(stderr: &str) -> Outcome {
    Outcome {
        stdout: String::new(),
        stderr: format!("{stderr}\n"),
        code: 1,
    }
}

const NODE_METRICS: &str = "/apis/metrics.k8s.io/v1beta1/nodes";

#[test]
fn metrics_api_not_available() {
    let mut source = Example::nodes();
    source.metrics_api = false;
    assert_eq!(
        top_node(&TopNodeOptions::default(), &mut source),
        failure("error: Metrics API not available")
    );
    assert_eq!(source.requests, ["/api", "/apis"]);

    let mut source = Example::pods();
    source.metrics_api = false;
    assert_eq!(
        top_pod(&TopPodOptions::default(), &mut source),
        failure("error: Metrics API not available")
    );
    assert_eq!(source.requests, ["/api", "/apis"]);
}

#[test]
fn top_node_with_empty_metrics_list() {
    let mut source = Example::nodes();
    source.node_metrics.clear();
    assert_eq!(
        top_node(&TopNodeOptions::default(), &mut source),
        failure("error: metrics not available yet")
    );
    assert_eq!(source.requests, ["/api", "/apis", NODE_METRICS]);
}

#[test]
fn top_node_name_not_found() {
    let mut source = Example::nodes();
    let options = TopNodeOptions {
        name: Some("node-c".to_owned()),
        ..TopNodeOptions::default()
    };
    assert_eq!(
        top_node(&options, &mut source),
        failure(r#"Error from server (NotFound): nodemetrics.metrics.k8s.io "node-c" not found"#)
    );
    assert_eq!(
        source.requests,
        ["/api", "/apis", "/apis/metrics.k8s.io/v1beta1/nodes/node-c"]
    );
}

#[test]
fn top_node_name_gets_both_objects() {
    let mut source = Example::nodes();
    let options = TopNodeOptions {
        name: Some("node-b".to_owned()),
        ..TopNodeOptions::default()
    };
    let outcome = top_node(&options, &mut source);
    assert_eq!(outcome.code, 0);
    assert_eq!(
        outcome.stdout,
        concat!(
            "NAME     CPU(cores)   CPU(%)   MEMORY(bytes)   MEMORY(%)   \n",
            "node-b   1022m        52%      2048Mi          34%         \n",
        )
    );
    assert_eq!(
        source.requests,
        [
            "/api",
            "/apis",
            "/apis/metrics.k8s.io/v1beta1/nodes/node-b",
            "/api/v1/nodes/node-b"
        ]
    );
}

#[test]
fn top_node_name_with_metrics_but_no_node() {
    let mut source = Example::nodes();
    source.nodes.retain(|n| n.metadata.name != "node-a");
    let options = TopNodeOptions {
        name: Some("node-a".to_owned()),
        ..TopNodeOptions::default()
    };
    assert_eq!(
        top_node(&options, &mut source),
        failure(r#"Error from server (NotFound): nodes "node-a" not found"#)
    );
}

#[test]
fn top_node_label_selector_goes_to_both_lists_in_canonical_form() {
    let mut source = Example::nodes();
    let labels = |a: &str| -> BTreeMap<String, String> {
        [
            ("a".to_owned(), a.to_owned()),
            ("b".to_owned(), "2".to_owned()),
        ]
        .into()
    };
    source.node_metrics[0].metadata.labels = labels("1").into();
    source.node_metrics[1].metadata.labels = labels("0").into();
    source.nodes[0].metadata.labels = labels("1").into();
    source.nodes[1].metadata.labels = labels("0").into();
    let options = TopNodeOptions {
        selector: "b=2, a==1".to_owned(),
        ..TopNodeOptions::default()
    };
    let outcome = top_node(&options, &mut source);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert_eq!(outcome.stdout.lines().count(), 2, "{}", outcome.stdout);
    assert_eq!(
        source.requests,
        [
            "/api",
            "/apis",
            "/apis/metrics.k8s.io/v1beta1/nodes?labelSelector=a%3D%3D1%2Cb%3D2",
            "/api/v1/nodes?labelSelector=a%3D%3D1%2Cb%3D2",
        ]
    );
}

#[test]
fn top_pod_name_not_found() {
    let mut source = Example::pods();
    let options = TopPodOptions {
        name: Some("nope".to_owned()),
        ..TopPodOptions::default()
    };
    assert_eq!(
        top_pod(&options, &mut source),
        failure(
            r#"Error from server (NotFound): podmetrics.metrics.k8s.io "default/nope" not found"#
        )
    );
    assert_eq!(
        source.requests,
        [
            "/api",
            "/apis",
            "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/nope"
        ]
    );
}

#[test]
fn top_pod_with_metrics_makes_no_further_request() {
    let mut source = Example::pods();
    let outcome = top_pod(&TopPodOptions::default(), &mut source);
    assert_eq!(outcome.code, 0);
    assert_eq!(
        source.requests,
        [
            "/api",
            "/apis",
            "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods"
        ]
    );
}

#[test]
fn no_resources_found_in_namespace() {
    let mut source = FakeSource::new();
    let outcome = top_pod(&TopPodOptions::default(), &mut source);
    assert_eq!(
        outcome,
        Outcome {
            stdout: String::new(),
            stderr: "No resources found in default namespace.\n".to_owned(),
            code: 0,
        }
    );
    assert_eq!(
        source.requests,
        [
            "/api",
            "/apis",
            "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods",
            "/api/v1/namespaces/default/pods",
        ]
    );
}

#[test]
fn no_resources_found_all_namespaces_still_lists_the_current_namespace() {
    let mut source = FakeSource::new();
    // Pods elsewhere do not count: kubectl only looks in the current namespace.
    source.pods = vec![pod("other", "old", "2020-01-01T00:00:00Z")];
    let options = TopPodOptions {
        all_namespaces: true,
        namespace: "team-a".to_owned(),
        sum: true,
        ..TopPodOptions::default()
    };
    let outcome = top_pod(&options, &mut source);
    assert_eq!(
        outcome,
        Outcome {
            stdout: String::new(),
            stderr: "No resources found\n".to_owned(),
            code: 0,
        }
    );
    assert_eq!(
        source.requests,
        [
            "/api",
            "/apis",
            "/apis/metrics.k8s.io/v1beta1/pods",
            "/api/v1/namespaces/team-a/pods",
        ]
    );
}

fn young_and_old_pods() -> FakeSource {
    let mut source = FakeSource::new();
    source.pods = vec![
        pod("default", "young", "2025-01-01T00:09:00Z"),
        pod("default", "edge", "2025-01-01T00:08:00Z"),
        pod("default", "old", "2025-01-01T00:04:59Z"),
        pod("default", "older", "2025-01-01T00:00:00Z"),
    ];
    source
}

fn at_ten_past() -> TopPodOptions {
    TopPodOptions {
        now: Some(time("2025-01-01T00:10:00.000000001Z")),
        ..TopPodOptions::default()
    }
}

#[test]
fn pods_younger_than_two_minutes_mean_not_available_yet() {
    let mut source = young_and_old_pods();
    source.pods.truncate(1);
    assert_eq!(
        top_pod(&at_ten_past(), &mut source),
        failure("error: metrics not available yet")
    );
    // Exactly two minutes is not older than the delay.
    let mut source = young_and_old_pods();
    source.pods = vec![pod("default", "edge", "2025-01-01T00:08:00Z")];
    let options = TopPodOptions {
        now: Some(time("2025-01-01T00:10:00Z")),
        ..TopPodOptions::default()
    };
    assert_eq!(
        top_pod(&options, &mut source),
        failure("error: metrics not available yet")
    );
}

#[test]
fn first_older_pod_is_reported_with_go_duration_age() {
    let mut source = young_and_old_pods();
    assert_eq!(
        top_pod(&at_ten_past(), &mut source),
        failure("error: Metrics not available for pod default/edge, age: 2m0.000000001s")
    );
    source.pods.remove(1);
    assert_eq!(
        top_pod(&at_ten_past(), &mut source),
        failure("error: Metrics not available for pod default/old, age: 5m1.000000001s")
    );
}

#[test]
fn pod_without_creation_time_is_as_old_as_go_allows() {
    let mut source = FakeSource::new();
    let mut p = pod("default", "timeless", "2025-01-01T00:00:00Z");
    p.metadata.creation_timestamp = None;
    source.pods = vec![p];
    assert_eq!(
        top_pod(&at_ten_past(), &mut source),
        failure(
            "error: Metrics not available for pod default/timeless, age: 2562047h47m16.854775807s"
        )
    );
}

#[test]
fn bad_sort_by_is_reported_before_anything_else() {
    let mut source = Example::nodes();
    let options = TopNodeOptions {
        sort_by: "name".to_owned(),
        name: Some("n".to_owned()),
        selector: "a in (".to_owned(),
        ..TopNodeOptions::default()
    };
    assert_eq!(
        top_node(&options, &mut source),
        failure("error: --sort-by accepts only cpu or memory")
    );
    let mut pods = Example::pods();
    let options = TopPodOptions {
        sort_by: "CPU".to_owned(),
        name: Some("n".to_owned()),
        field_selector: "x".to_owned(),
        ..TopPodOptions::default()
    };
    assert_eq!(
        top_pod(&options, &mut pods),
        failure("error: --sort-by accepts only cpu or memory")
    );
    assert!(source.requests.is_empty() && pods.requests.is_empty());
}

#[test]
fn name_and_selector() {
    let options = TopNodeOptions {
        name: Some("n".to_owned()),
        selector: "a in (".to_owned(),
        ..TopNodeOptions::default()
    };
    assert_eq!(
        top_node(&options, &mut Example::nodes()),
        failure("error: only one of NAME or --selector can be provided")
    );
    for (labels, fields) in [("a=b", ""), ("", "metadata.name=x"), ("(", "x")] {
        let options = TopPodOptions {
            name: Some("n".to_owned()),
            selector: labels.to_owned(),
            field_selector: fields.to_owned(),
            ..TopPodOptions::default()
        };
        assert_eq!(
            top_pod(&options, &mut Example::pods()),
            failure("error: only one of NAME or selector can be provided"),
            "-l {labels:?} --field-selector {fields:?}"
        );
    }
}

#[test]
fn empty_flags_count_as_not_given() {
    let mut source = Example::nodes();
    let options = TopNodeOptions {
        name: Some(String::new()),
        selector: String::new(),
        sort_by: String::new(),
        ..TopNodeOptions::default()
    };
    assert_eq!(top_node(&options, &mut source).code, 0);
    assert_eq!(source.requests[2], NODE_METRICS);
}

#[test]
fn selector_parse_errors_come_before_any_request() {
    let mut source = Example::nodes();
    let options = TopNodeOptions {
        selector: "a in (x".to_owned(),
        ..TopNodeOptions::default()
    };
    assert_eq!(
        top_node(&options, &mut source),
        failure("error: unable to parse requirement: found '', expected: ',' or ')'")
    );
    assert!(source.requests.is_empty());

    let mut source = Example::pods();
    let options = TopPodOptions {
        field_selector: "x".to_owned(),
        ..TopPodOptions::default()
    };
    assert_eq!(
        top_pod(&options, &mut source),
        failure("error: invalid selector: 'x'; can't understand 'x'")
    );
    // The label selector is parsed first.
    let options = TopPodOptions {
        selector: "a,,b".to_owned(),
        field_selector: "x".to_owned(),
        ..TopPodOptions::default()
    };
    assert_eq!(
        top_pod(&options, &mut source),
        failure("error: found ',', expected: identifier after ','")
    );
    assert!(source.requests.is_empty());
}

#[test]
fn pod_selectors_are_sent_canonical_to_both_lists() {
    let mut source = FakeSource::new();
    let options = TopPodOptions {
        selector: "app in (web, db)".to_owned(),
        field_selector: "metadata.name==x,metadata.namespace!=y".to_owned(),
        ..TopPodOptions::default()
    };
    let outcome = top_pod(&options, &mut source);
    assert_eq!(outcome.stderr, "No resources found in default namespace.\n");
    let query = "?fieldSelector=metadata.name%3Dx%2Cmetadata.namespace%21%3Dy&labelSelector=app+in+%28db%2Cweb%29";
    assert_eq!(
        source.requests,
        [
            "/api".to_owned(),
            "/apis".to_owned(),
            format!("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods{query}"),
            format!("/api/v1/namespaces/default/pods{query}"),
        ]
    );
}

#[test]
fn server_status_errors_are_printed_like_kubectl() {
    let mut source = Example::pods();
    source.errors.insert(
        "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods?fieldSelector=spec.nodeName%3Dn1".to_owned(),
        SourceError::from(Status {
            code: 400,
            reason: "BadRequest".to_owned(),
            message: r#""spec.nodeName" is not a known field selector: only "metadata.name", "metadata.namespace""#.to_owned(),
            details: None,
        }),
    );
    let options = TopPodOptions {
        field_selector: "spec.nodeName=n1".to_owned(),
        ..TopPodOptions::default()
    };
    assert_eq!(
        top_pod(&options, &mut source),
        failure(
            r#"Error from server (BadRequest): "spec.nodeName" is not a known field selector: only "metadata.name", "metadata.namespace""#
        )
    );

    let mut source = Example::nodes();
    source.errors.insert(
        "/apis".to_owned(),
        SourceError::Verbatim("Unable to connect to the server: EOF".to_owned()),
    );
    assert_eq!(
        top_node(&TopNodeOptions::default(), &mut source),
        failure("Unable to connect to the server: EOF")
    );
}

#[test]
fn too_many_arguments() {
    let args = ["a".to_owned(), "b".to_owned()];
    let err = TopNodeOptions::name_from_args(&args, "kubectl top node").unwrap_err();
    assert!(matches!(err, TopError::TooManyArguments { .. }));
    assert_eq!(
        err.to_string(),
        "error: node [NAME | -l label]\nSee 'kubectl top node -h' for help and examples"
    );
    let err = TopPodOptions::name_from_args(&args, "kubectl top pod").unwrap_err();
    assert_eq!(
        err.to_string(),
        "error: pod [NAME | -l label]\nSee 'kubectl top pod -h' for help and examples"
    );
    assert_eq!(
        TopPodOptions::name_from_args(&args[..1], "x").unwrap(),
        Some("a".to_owned())
    );
    assert_eq!(TopPodOptions::name_from_args(&[], "x").unwrap(), None);
}

#[test]
fn stdout_is_untouched_on_errors_after_metrics() {
    // kubectl prints nothing when the node list fails after the metrics came.
    let mut source = FakeSource::new();
    source.node_metrics = vec![node_metrics("n", "1", "1Gi")];
    source.nodes = vec![node("n", "1", "1Gi")];
    source.errors.insert(
        "/api/v1/nodes".to_owned(),
        SourceError::from(Status {
            code: 403,
            reason: "Forbidden".to_owned(),
            message: r#"nodes is forbidden: User "u" cannot list resource "nodes" in API group "" at the cluster scope"#.to_owned(),
            details: None,
        }),
    );
    assert_eq!(
        top_node(&TopNodeOptions::default(), &mut source),
        failure(
            r#"Error from server (Forbidden): nodes is forbidden: User "u" cannot list resource "nodes" in API group "" at the cluster scope"#
        )
    );
}
