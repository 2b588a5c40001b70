//! `deploy/`: the kustomize base and its components, rendered by the real
//! kubectl (`kubectl kustomize`), and the Helm chart, rendered by a small
//! renderer of the Go-template subset the chart uses (no Helm package can
//! be installed on the test machines). Every object parses into its
//! `k8s-openapi` type, every container's arguments are accepted by the
//! binary, and the chart renders the same objects as the kustomize base.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{Container, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, RoleBinding};
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use serde_json::Value;
use workingset_testkit::kube::{kubectl_available, kubectl_binary};

const DEPLOY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy");
const COMPONENTS: [&str; 3] = ["ha", "agent", "insecure-kubelet"];

fn deploy_dir() -> PathBuf {
    std::fs::canonicalize(DEPLOY).unwrap()
}

/// Every document of a multi-document YAML text, as JSON values.
fn documents(yaml: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(yaml)
        .map(|document| serde::Deserialize::deserialize(document).unwrap())
        .filter(|value: &Value| !value.is_null())
        .collect()
}

/// Parses `object` into the `k8s-openapi` type of its kind; panics (the
/// test fails) on a kind we do not ship or an object its type rejects.
fn check_object(object: &Value) {
    fn parse<T: serde::de::DeserializeOwned>(object: &Value) {
        if let Err(error) = serde_json::from_value::<T>(object.clone()) {
            panic!("{error}: {object}");
        }
    }
    match object["kind"].as_str().unwrap_or_default() {
        "ServiceAccount" => parse::<ServiceAccount>(object),
        "ClusterRole" => parse::<ClusterRole>(object),
        "ClusterRoleBinding" => parse::<ClusterRoleBinding>(object),
        "RoleBinding" => parse::<RoleBinding>(object),
        "Service" => parse::<Service>(object),
        "Deployment" => parse::<Deployment>(object),
        "DaemonSet" => parse::<DaemonSet>(object),
        "PodDisruptionBudget" => parse::<PodDisruptionBudget>(object),
        "APIService" => parse::<APIService>(object),
        other => panic!("an object of kind {other:?} is not expected: {object}"),
    }
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> Option<&'a Value> {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
}

fn typed<T: serde::de::DeserializeOwned>(object: Option<&Value>) -> T {
    serde_json::from_value(object.expect("the object is rendered").clone()).unwrap()
}

/// Runs the binary with a container's arguments (environment references
/// filled in) plus `extra`, which make it stop right after parsing its
/// flags; asserts the failure is not about a flag.
fn check_accepted(container: &Container, extra: &[&str], expected: &str) {
    let args: Vec<String> = container
        .args
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|arg| arg.replace("$(NODE_NAME)", "node-1"))
        .collect();
    let mut command = Command::new(env!("CARGO_BIN_EXE_workingset"));
    command
        .args(&args)
        .args(extra)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env("WORKINGSET_LOG", "error");
    let output =
        workingset_testkit::process::run(&mut command, None, Duration::from_secs(30)).unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{args:?} ran: {stderr}");
    assert!(
        stderr.contains(expected),
        "{args:?} did not get as far as {expected:?}:\n{stderr}"
    );
}

/// A kustomization in a temporary directory with the base and
/// `components` (kustomize wants relative paths); its rendered objects.
fn kustomize(components: &[&str]) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let overlay = dir.path().canonicalize().unwrap();
    let up: String = overlay.components().skip(1).map(|_| "../").collect();
    let relative = |path: &Path| format!("{up}{}", path.strip_prefix("/").unwrap().display());
    let base = deploy_dir();
    let mut text = format!(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - {}\ncomponents:\n",
        relative(&base)
    );
    for component in components {
        text.push_str(&format!(
            "  - {}\n",
            relative(&base.join("components").join(component))
        ));
    }
    if components.is_empty() {
        text = text.replace("components:\n", "");
    }
    std::fs::write(overlay.join("kustomization.yaml"), text).unwrap();
    let mut command = Command::new(kubectl_binary("1.33"));
    command.arg("kustomize").arg(&overlay);
    let output =
        workingset_testkit::process::run(&mut command, None, Duration::from_secs(60)).unwrap();
    assert!(
        output.status.success(),
        "kubectl kustomize {components:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    documents(&String::from_utf8(output.stdout).unwrap())
}

fn server_container(objects: &[Value]) -> Container {
    let deployment: Deployment = typed(find(objects, "Deployment", "workingset"));
    deployment.spec.unwrap().template.spec.unwrap().containers[0].clone()
}

/// The base and every component (alone and together) render, parse, and
/// carry what an operator relies on; the arguments are the binary's.
#[test]
fn the_kustomize_base_and_components_render_valid_objects() {
    if !kubectl_available("the_kustomize_base_and_components_render_valid_objects") {
        return;
    }
    let base = kustomize(&[]);
    base.iter().for_each(check_object);
    let service: Service = typed(find(&base, "Service", "workingset"));
    let api_service: APIService = typed(find(&base, "APIService", "v1beta1.metrics.k8s.io"));
    let reference = api_service.spec.unwrap().service.unwrap();
    assert_eq!(
        (reference.name.as_deref(), reference.namespace.as_deref()),
        (
            service.metadata.name.as_deref(),
            service.metadata.namespace.as_deref()
        )
    );
    let deployment: Deployment = typed(find(&base, "Deployment", "workingset"));
    let pod = deployment.spec.unwrap().template.spec.unwrap();
    assert_eq!(
        pod.priority_class_name.as_deref(),
        Some("system-cluster-critical")
    );
    assert_eq!(pod.service_account_name.as_deref(), Some("workingset"));
    assert_eq!(pod.security_context.unwrap().run_as_non_root, Some(true));
    let container = &pod.containers[0];
    let security = container.security_context.clone().unwrap();
    assert_eq!(security.read_only_root_filesystem, Some(true));
    assert_eq!(security.allow_privilege_escalation, Some(false));
    let probe_path = |probe: Option<k8s_openapi::api::core::v1::Probe>| {
        probe.unwrap().http_get.unwrap().path.unwrap()
    };
    assert_eq!(probe_path(container.readiness_probe.clone()), "/readyz");
    assert_eq!(probe_path(container.liveness_probe.clone()), "/livez");
    for name in ["system:aggregated-metrics-reader", "system:workingset"] {
        assert!(find(&base, "ClusterRole", name).is_some(), "{name}");
    }
    check_accepted(
        container,
        &["--kubeconfig", "/nonexistent/kubeconfig"],
        "cannot read the kubeconfig",
    );

    for component in COMPONENTS {
        let objects = kustomize(&[component]);
        objects.iter().for_each(check_object);
        check_accepted(
            &server_container(&objects),
            &["--kubeconfig", "/nonexistent/kubeconfig"],
            "cannot read the kubeconfig",
        );
    }
    let all = kustomize(&COMPONENTS);
    all.iter().for_each(check_object);
    let deployment: Deployment = typed(find(&all, "Deployment", "workingset"));
    let spec = deployment.spec.unwrap();
    assert_eq!(spec.replicas, Some(2));
    assert!(
        spec.template
            .spec
            .unwrap()
            .affinity
            .unwrap()
            .pod_anti_affinity
            .is_some()
    );
    assert!(find(&all, "PodDisruptionBudget", "workingset").is_some());
    let args = server_container(&all).args.unwrap();
    assert!(
        args.contains(&"--kubelet-port=10260".to_owned()),
        "{args:?}"
    );
    check_accepted(
        &server_container(&all),
        &["--kubeconfig", "/nonexistent/kubeconfig"],
        "cannot read the kubeconfig",
    );
    let agent: DaemonSet = typed(find(&all, "DaemonSet", "workingset-agent"));
    let agent = agent.spec.unwrap().template.spec.unwrap().containers[0].clone();
    // The agent's flags parse; it then stops at the Secret's token, which
    // this machine does not have.
    check_accepted(
        &agent,
        &[],
        "cannot read the token file /var/run/workingset-agent/token",
    );
}

// ---- The Helm chart, rendered by a renderer of the subset it uses ----

#[derive(Debug)]
enum Node {
    Text(String),
    Expr(String),
    If(String, Vec<Node>, Vec<Node>),
    Range(String, Vec<Node>),
}

/// Splits a template into text and actions, applying `{{-` and `-}}`.
fn lex(template: &str) -> Vec<(bool, String)> {
    let mut out: Vec<(bool, String)> = Vec::new();
    let mut rest = template;
    let mut trim_next = false;
    while let Some(start) = rest.find("{{") {
        let mut text = &rest[..start];
        if trim_next {
            text = text.trim_start();
        }
        let after = &rest[start + 2..];
        let end = after.find("}}").expect("an unclosed action");
        let mut action = &after[..end];
        if let Some(stripped) = action.strip_prefix('-') {
            text = text.trim_end();
            action = stripped;
        }
        trim_next = false;
        if let Some(stripped) = action.strip_suffix('-') {
            trim_next = true;
            action = stripped;
        }
        out.push((false, text.to_owned()));
        out.push((true, action.trim().to_owned()));
        rest = &after[end + 2..];
    }
    out.push((
        false,
        if trim_next { rest.trim_start() } else { rest }.to_owned(),
    ));
    out
}

fn parse(tokens: &mut std::vec::IntoIter<(bool, String)>) -> (Vec<Node>, String) {
    let mut nodes = Vec::new();
    while let Some((is_action, text)) = tokens.next() {
        if !is_action {
            nodes.push(Node::Text(text));
            continue;
        }
        if text == "end" || text == "else" {
            return (nodes, text);
        }
        if let Some(condition) = text.strip_prefix("if ") {
            let (then, stop) = parse(tokens);
            let otherwise = if stop == "else" {
                parse(tokens).0
            } else {
                Vec::new()
            };
            nodes.push(Node::If(condition.to_owned(), then, otherwise));
        } else if let Some(list) = text.strip_prefix("range ") {
            nodes.push(Node::Range(list.to_owned(), parse(tokens).0));
        } else {
            nodes.push(Node::Expr(text));
        }
    }
    (nodes, String::new())
}

struct Scope<'a> {
    root: &'a Value,
    dot: &'a Value,
}

fn lookup<'a>(scope: &Scope<'a>, path: &str) -> &'a Value {
    if path == "." {
        return scope.dot;
    }
    path.trim_start_matches('.')
        .split('.')
        .fold(scope.root, |value, key| &value[key])
}

fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

fn evaluate(scope: &Scope<'_>, expression: &str) -> String {
    if let Some((function, indent)) = expression.split_once(" | nindent ") {
        let path = function
            .strip_prefix("toYaml ")
            .expect("only toYaml is piped");
        let yaml = serde_yaml_ng::to_string(lookup(scope, path)).unwrap();
        let pad = " ".repeat(indent.trim().parse().unwrap());
        return yaml
            .trim_end()
            .lines()
            .map(|line| format!("\n{pad}{line}"))
            .collect();
    }
    match lookup(scope, expression) {
        Value::String(s) => s.clone(),
        Value::Null => panic!("{expression} has no value"),
        other => other.to_string(),
    }
}

fn render_nodes(nodes: &[Node], scope: &Scope<'_>, out: &mut String) {
    for node in nodes {
        match node {
            Node::Text(text) => out.push_str(text),
            Node::Expr(expression) => out.push_str(&evaluate(scope, expression)),
            Node::If(condition, then, otherwise) => {
                let branch = if truthy(lookup(scope, condition)) {
                    then
                } else {
                    otherwise
                };
                render_nodes(branch, scope, out);
            }
            Node::Range(list, body) => {
                for item in lookup(scope, list).as_array().into_iter().flatten() {
                    render_nodes(
                        body,
                        &Scope {
                            root: scope.root,
                            dot: item,
                        },
                        out,
                    );
                }
            }
        }
    }
}

fn merge(base: &mut Value, overrides: &Value) {
    match (base, overrides) {
        (Value::Object(base), Value::Object(overrides)) => {
            for (key, value) in overrides {
                merge(base.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
        (base, value) => *base = value.clone(),
    }
}

/// `helm template` of the chart in namespace `kube-system` with `values`
/// over the chart's own.
fn helm_template(values: Value) -> Vec<Value> {
    let chart = deploy_dir().join("helm/workingset");
    let mut merged: Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(chart.join("values.yaml")).unwrap())
            .unwrap();
    merge(&mut merged, &values);
    let meta: Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(chart.join("Chart.yaml")).unwrap())
            .unwrap();
    let root = serde_json::json!({
        "Values": merged,
        "Release": {"Name": "workingset", "Namespace": "kube-system"},
        "Chart": {"Name": meta["name"], "AppVersion": meta["appVersion"], "Version": meta["version"]},
    });
    let mut templates: Vec<PathBuf> = std::fs::read_dir(chart.join("templates"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    templates.sort();
    let mut objects = Vec::new();
    for template in templates {
        let text = std::fs::read_to_string(&template).unwrap();
        let (nodes, _) = parse(&mut lex(&text).into_iter());
        let mut out = String::new();
        render_nodes(
            &nodes,
            &Scope {
                root: &root,
                dot: &root,
            },
            &mut out,
        );
        objects.extend(documents(&out));
    }
    objects
}

fn by_identity(objects: &[Value]) -> BTreeMap<(String, String), Value> {
    objects
        .iter()
        .map(|o| {
            let key = (
                o["kind"].as_str().unwrap_or_default().to_owned(),
                o["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            );
            (key, o.clone())
        })
        .collect()
}

/// The chart renders valid objects, the same as the kustomize base (and,
/// with high availability, as the base with the `ha` component), with the
/// image, replicas, extra arguments and resources from its values.
#[test]
fn the_helm_chart_renders_what_the_kustomize_base_does() {
    let defaults = helm_template(serde_json::json!({}));
    defaults.iter().for_each(check_object);
    let custom = helm_template(serde_json::json!({
        "image": {"repository": "registry.example/workingset", "tag": "9.9.9"},
        "args": ["--kubelet-insecure-tls", "--metric-resolution=30s"],
        "resources": {"requests": {"cpu": "200m"}, "limits": {"memory": "256Mi"}},
    }));
    custom.iter().for_each(check_object);
    let container = server_container(&custom);
    assert_eq!(
        container.image.as_deref(),
        Some("registry.example/workingset:9.9.9")
    );
    let args = container.args.clone().unwrap();
    assert_eq!(
        &args[args.len() - 2..],
        ["--kubelet-insecure-tls", "--metric-resolution=30s"]
    );
    let resources = serde_json::to_value(container.resources.clone().unwrap()).unwrap();
    assert_eq!(resources["limits"]["memory"], "256Mi");
    check_accepted(
        &container,
        &["--kubeconfig", "/nonexistent/kubeconfig"],
        "cannot read the kubeconfig",
    );
    let ha = helm_template(serde_json::json!({"replicas": 2, "highAvailability": true}));
    ha.iter().for_each(check_object);
    assert!(find(&ha, "PodDisruptionBudget", "workingset").is_some());
    assert!(find(&defaults, "PodDisruptionBudget", "workingset").is_none());

    if !kubectl_available("the_helm_chart_renders_what_the_kustomize_base_does") {
        return;
    }
    assert_eq!(by_identity(&defaults), by_identity(&kustomize(&[])));
    assert_eq!(by_identity(&ha), by_identity(&kustomize(&["ha"])));
}
