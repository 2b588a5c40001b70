//! `workingset doctor`: why `kubectl top` fails in a cluster, read from the
//! API server the way an operator would check it by hand, each finding
//! with the fix that addresses it.
//!
//! The checks, in the order a request travels:
//!
//! 1. the `v1beta1.metrics.k8s.io` APIService: missing, or `Available=False`
//!    (its reason and message);
//! 2. discovery: `metrics.k8s.io/v1beta1` in `/apis` (what `kubectl top`
//!    checks first: "Metrics API not available");
//! 3. the server's pods behind the APIService's Service: ready or not, and
//!    why (waiting reasons);
//! 4. per-node scrape errors from the server's own `/metrics` (read through
//!    the API server's service proxy; workingset's
//!    `workingset_server_scrape_last_outcome`): TLS, timeouts, no address of
//!    a preferred type, 401/403 from the kubelet;
//! 5. nodes and running pods without metrics, and among those the pods too
//!    young to have any yet.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use kube::api::{Api, ListParams};
use serde_json::Value;

/// The APIService that makes the Metrics API.
pub const METRICS_API_SERVICE: &str = "v1beta1.metrics.k8s.io";
/// A running pod without metrics younger than this is "too young": the
/// first figures need two scrapes of its node (2 × the resolution, 15 s in
/// the manifests) plus the kubelet's first sample of the container.
pub const YOUNG_SECONDS: i64 = 90;
/// At most this many pods are named per finding.
const MAX_NAMED: usize = 10;

/// One problem and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What is wrong.
    pub problem: String,
    /// What to do.
    pub fix: String,
}

/// One line of the report, in the order the checks ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A check that passed, in words.
    Passed(String),
    /// A problem and its fix.
    Found(Finding),
    /// A check that could not be made, and why.
    Note(String),
}

/// The outcome of all checks, in the order they ran (the order a request
/// travels).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Every line.
    pub lines: Vec<Line>,
}

impl Report {
    fn pass(&mut self, text: impl Into<String>) {
        self.lines.push(Line::Passed(text.into()));
    }

    fn find(&mut self, problem: impl Into<String>, fix: impl Into<String>) {
        self.lines.push(Line::Found(Finding {
            problem: problem.into(),
            fix: fix.into(),
        }));
    }

    fn note(&mut self, text: impl Into<String>) {
        self.lines.push(Line::Note(text.into()));
    }

    /// The problems found.
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.lines.iter().filter_map(|line| match line {
            Line::Found(finding) => Some(finding),
            _ => None,
        })
    }

    /// The report as printed: ✓ passed, ✗ finding with its fix, · note,
    /// and a last line with the verdict.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for line in &self.lines {
            let _ = match line {
                Line::Passed(text) => writeln!(out, "✓ {text}"),
                Line::Found(finding) => {
                    writeln!(out, "✗ {}\n  fix: {}", finding.problem, finding.fix)
                }
                Line::Note(text) => writeln!(out, "· {text}"),
            };
        }
        match self.findings().count() {
            0 => out.push_str("All is well: kubectl top should work.\n"),
            count => {
                let _ = writeln!(out, "{count} problem(s) found.");
            }
        }
        out
    }
}

/// Where the APIService sends requests.
struct ServiceRef {
    namespace: String,
    name: String,
    port: i32,
}

/// Resolves the kubeconfig as kubectl does (`args`, `env`) and runs every
/// check against that API server.
pub fn run(
    args: &crate::KubeArgs,
    env: &crate::Environment,
) -> Result<Report, workingset_top::SourceError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            workingset_top::SourceError::Other(format!("cannot start the async runtime: {e}"))
        })?;
    runtime.block_on(async {
        let resolved = crate::config::resolve(args, None, false, env).await?;
        let client = kube::Client::try_from(resolved.config).map_err(|e| {
            workingset_top::SourceError::Other(format!("cannot build the API server client: {e}"))
        })?;
        Ok(diagnose(&client, Timestamp::now()).await)
    })
}

/// Runs every check against the API server of `client`.
pub async fn diagnose(client: &kube::Client, now: Timestamp) -> Report {
    let mut report = Report::default();
    let service = check_api_service(client, &mut report).await;
    let discovered = check_discovery(client, &mut report).await;
    let mut failing_nodes = BTreeSet::new();
    if let Some(service) = &service {
        check_server_pods(client, service, &mut report).await;
        failing_nodes = check_scrapes(client, service, &mut report).await;
    }
    if discovered {
        check_coverage(client, &failing_nodes, now, &mut report).await;
    }
    report
}

async fn check_api_service(client: &kube::Client, report: &mut Report) -> Option<ServiceRef> {
    let api_service = match Api::<APIService>::all(client.clone())
        .get_opt(METRICS_API_SERVICE)
        .await
    {
        Ok(Some(api_service)) => api_service,
        Ok(None) => {
            report.find(
                format!("there is no APIService {METRICS_API_SERVICE}: nothing serves the Metrics API"),
                "install a metrics server: kubectl apply -k deploy/ (or helm install workingset deploy/helm/workingset -n kube-system)",
            );
            return None;
        }
        Err(error) => {
            report.note(format!(
                "cannot read the APIService {METRICS_API_SERVICE} ({error}); it needs get on apiservices.apiregistration.k8s.io"
            ));
            return None;
        }
    };
    let spec = api_service.spec.unwrap_or_default();
    let service = spec.service.map(|service| ServiceRef {
        namespace: service.namespace.unwrap_or_default(),
        name: service.name.unwrap_or_default(),
        port: service.port.unwrap_or(443),
    });
    let target = service.as_ref().map_or_else(
        || "the kube-apiserver itself".to_owned(),
        |s| format!("service {}/{}", s.namespace, s.name),
    );
    let available = api_service
        .status
        .and_then(|status| status.conditions)
        .unwrap_or_default()
        .into_iter()
        .find(|condition| condition.type_ == "Available");
    match available {
        Some(condition) if condition.status == "True" => {
            report.pass(format!(
                "APIService {METRICS_API_SERVICE} is Available ({target})"
            ));
        }
        Some(condition) => {
            let reason = condition.reason.unwrap_or_default();
            let message = condition.message.unwrap_or_default();
            let fix = match reason.as_str() {
                "FailedDiscoveryCheck" => {
                    "the kube-apiserver got no good answer from the server: if its pods are ready (see below), the control plane cannot reach the pod network (run the kube-apiserver with --enable-aggregator-routing=true, or the server with hostNetwork), or the server does not trust the front proxy (pass kubeadm's front-proxy-ca.crt with --requestheader-client-ca-file)"
                }
                "MissingEndpoints" | "EndpointsNotFound" => {
                    "the Service has no ready endpoint: the server's pods are not ready (see below)"
                }
                "ServiceNotFound" => {
                    "the Service the APIService names does not exist: kubectl apply -k deploy/ creates both"
                }
                _ => {
                    "kubectl describe apiservice v1beta1.metrics.k8s.io shows the kube-apiserver's view"
                }
            };
            report.find(
                format!("APIService {METRICS_API_SERVICE} ({target}) is not available: {reason}: {message}"),
                fix,
            );
        }
        None => report.find(
            format!("APIService {METRICS_API_SERVICE} has no Available condition yet"),
            "the kube-apiserver's aggregator has not checked it yet; look again in a minute",
        ),
    }
    service
}

async fn check_discovery(client: &kube::Client, report: &mut Report) -> bool {
    match client.list_api_groups().await {
        Ok(groups) => {
            let found = groups.groups.iter().any(|group| {
                group.name == "metrics.k8s.io"
                    && group.versions.iter().any(|v| v.version == "v1beta1")
            });
            if found {
                report.pass("metrics.k8s.io/v1beta1 is in the API server's discovery");
            } else {
                report.find(
                    "metrics.k8s.io/v1beta1 is not in the API server's discovery (kubectl top: \"Metrics API not available\")",
                    "it appears once the APIService is Available: fix what is reported about it",
                );
            }
            found
        }
        Err(error) => {
            report.note(format!(
                "cannot read the API server's discovery (/apis): {error}"
            ));
            false
        }
    }
}

async fn check_server_pods(client: &kube::Client, service: &ServiceRef, report: &mut Report) {
    let found = match Api::<Service>::namespaced(client.clone(), &service.namespace)
        .get_opt(&service.name)
        .await
    {
        Ok(found) => found,
        Err(error) => {
            report.note(format!(
                "cannot read the Service {}/{}: {error}",
                service.namespace, service.name
            ));
            return;
        }
    };
    let Some(found) = found else {
        report.find(
            format!(
                "the Service {}/{} does not exist",
                service.namespace, service.name
            ),
            "kubectl apply -k deploy/ creates it with the server",
        );
        return;
    };
    let selector: Vec<String> = found
        .spec
        .and_then(|spec| spec.selector)
        .unwrap_or_default()
        .into_iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect();
    if selector.is_empty() {
        report.note(format!(
            "the Service {}/{} has no selector; its pods are not checked",
            service.namespace, service.name
        ));
        return;
    }
    let pods = match Api::<Pod>::namespaced(client.clone(), &service.namespace)
        .list(&ListParams::default().labels(&selector.join(",")))
        .await
    {
        Ok(pods) => pods.items,
        Err(error) => {
            report.note(format!("cannot list the server's pods: {error}"));
            return;
        }
    };
    if pods.is_empty() {
        report.find(
            format!(
                "no pod matches the Service {}/{} ({})",
                service.namespace,
                service.name,
                selector.join(",")
            ),
            format!(
                "the server's Deployment has no pods: kubectl -n {} get deployment,replicaset,events",
                service.namespace
            ),
        );
        return;
    }
    let mut ready = 0;
    for pod in &pods {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let status = pod.status.clone().unwrap_or_default();
        let is_ready = status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        if is_ready {
            ready += 1;
            continue;
        }
        let waiting: Vec<String> = status
            .container_statuses
            .iter()
            .flatten()
            .filter_map(|c| {
                let reason = c.state.as_ref()?.waiting.as_ref()?.reason.clone()?;
                Some(format!("{}: {reason}", c.name))
            })
            .collect();
        let (detail, fix) = if waiting
            .iter()
            .any(|w| w.contains("ImagePull") || w.contains("ErrImage"))
        {
            (
                waiting.join(", "),
                "the image cannot be pulled: push it where the nodes pull from and set it (kustomize edit set image workingset=…, or --set image.repository=…)".to_owned(),
            )
        } else if !waiting.is_empty() {
            (
                waiting.join(", "),
                format!(
                    "kubectl -n {} logs {name} --previous says why it stops",
                    service.namespace
                ),
            )
        } else {
            (
                "running but its readiness probe (/readyz) fails".to_owned(),
                "/readyz passes once nodes have been scraped twice: see the scrape errors below, or kubectl logs".to_owned(),
            )
        };
        report.find(
            format!(
                "server pod {}/{name} is not ready ({detail})",
                service.namespace
            ),
            fix,
        );
    }
    if ready > 0 {
        report.pass(format!(
            "{ready} of {} server pod(s) ready in {}",
            pods.len(),
            service.namespace
        ));
    }
}

/// The fix for a node whose newest scrape ended with `outcome`.
fn scrape_fix(outcome: &str) -> &'static str {
    match outcome {
        "tls" => {
            "the kubelet's serving certificate is not trusted (x509: unknown authority, or no IP SAN for the address): add the insecure-kubelet component (--kubelet-insecure-tls), or pass the CA that signs it with --kubelet-certificate-authority, or have kubelets get signed certificates (serverTLSBootstrap)"
        }
        "timeout" => {
            "the kubelet did not answer within --kubelet-request-timeout: let the server's pod reach the node's kubelet port (10250: firewall, security group, NetworkPolicy), or pick a reachable address with --kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname"
        }
        "connect" => {
            "no connection to the kubelet (refused, or the name does not resolve): --kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname picks an address that works where hostnames do not resolve; check --kubelet-port / --kubelet-use-node-status-port"
        }
        "address" => {
            "the node has no address of the types in --kubelet-preferred-address-types: add the type it has (kubectl get node -o wide), e.g. --kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname"
        }
        "unauthorized" => {
            "the kubelet refused the service account's token (401): run kubelets with --authentication-token-webhook=true (kubelet config authentication.webhook.enabled)"
        }
        "forbidden" => {
            "the kubelet forbids the service account (403): it needs get on nodes/metrics (deploy/rbac.yaml, ClusterRole system:workingset), and kubelets need --authorization-mode=Webhook"
        }
        "parse_error" | "body" | "too_large" | "http_status" => {
            "the node answered, but not with resource metrics: is the kubelet port right, and does the node's metrics.k8s.io/resource-metrics-path annotation (if any) point at /metrics/resource?"
        }
        _ => "see the server's log for this node (kubectl -n kube-system logs deploy/workingset)",
    }
}

/// Reads the server's `/metrics` through the service proxy; the nodes with
/// scrape findings.
async fn check_scrapes(
    client: &kube::Client,
    service: &ServiceRef,
    report: &mut Report,
) -> BTreeSet<String> {
    let mut failing = BTreeSet::new();
    let path = format!(
        "/api/v1/namespaces/{}/services/https:{}:{}/proxy/metrics",
        service.namespace, service.name, service.port
    );
    let request = match http::Request::get(&path).body(Vec::new()) {
        Ok(request) => request,
        Err(error) => {
            report.note(format!("cannot ask for {path}: {error}"));
            return failing;
        }
    };
    let text = match client.request_text(request).await {
        Ok(text) => text,
        Err(error) => {
            report.note(format!(
                "cannot read the server's /metrics through the API server ({error}); per-node scrape errors are not checked (they are in the server's log)"
            ));
            return failing;
        }
    };
    let mut outcomes: BTreeMap<String, String> = BTreeMap::new();
    for sample in workingset_expfmt::parse(&text).flatten() {
        if sample.name.as_ref() != "workingset_server_scrape_last_outcome" || sample.value != 1.0 {
            continue;
        }
        if let (Some(node), Some(outcome)) =
            (sample.labels.get("node"), sample.labels.get("outcome"))
        {
            outcomes.insert(node.into_owned(), outcome.into_owned());
        }
    }
    if outcomes.is_empty() {
        report.note(
            "the server's /metrics has no workingset_server_scrape_last_outcome (not workingset, or no node scraped yet); per-node scrape errors are in its log",
        );
        return failing;
    }
    let mut good = 0;
    for (node, outcome) in &outcomes {
        if outcome == "success" {
            good += 1;
            continue;
        }
        failing.insert(node.clone());
        report.find(
            format!("node {node}: the newest scrape failed ({outcome})"),
            scrape_fix(outcome),
        );
    }
    if good > 0 {
        report.pass(format!(
            "{good} of {} node(s) scraped successfully",
            outcomes.len()
        ));
    }
    failing
}

async fn metrics_names(client: &kube::Client, resource: &str) -> Result<BTreeSet<String>, String> {
    let request = http::Request::get(format!("/apis/metrics.k8s.io/v1beta1/{resource}"))
        .body(Vec::new())
        .map_err(|e| e.to_string())?;
    let list: Value = client.request(request).await.map_err(|e| e.to_string())?;
    Ok(list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|item| {
            let meta = &item["metadata"];
            match meta["namespace"].as_str() {
                Some(namespace) => {
                    format!("{namespace}/{}", meta["name"].as_str().unwrap_or_default())
                }
                None => meta["name"].as_str().unwrap_or_default().to_owned(),
            }
        })
        .collect())
}

fn named(names: &[String]) -> String {
    let mut text = names
        .iter()
        .take(MAX_NAMED)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > MAX_NAMED {
        let _ = write!(text, " and {} more", names.len() - MAX_NAMED);
    }
    text
}

async fn check_coverage(
    client: &kube::Client,
    failing_nodes: &BTreeSet<String>,
    now: Timestamp,
    report: &mut Report,
) {
    let (node_metrics, pod_metrics) = match (
        metrics_names(client, "nodes").await,
        metrics_names(client, "pods").await,
    ) {
        (Ok(nodes), Ok(pods)) => (nodes, pods),
        (Err(error), _) | (_, Err(error)) => {
            report.find(
                format!("the Metrics API does not answer: {error}"),
                "see the APIService and the server's pods above",
            );
            return;
        }
    };
    if let Ok(nodes) = Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await
    {
        let mut missing = Vec::new();
        for node in &nodes.items {
            let name = node.metadata.name.clone().unwrap_or_default();
            if node_metrics.contains(&name) || failing_nodes.contains(&name) {
                continue;
            }
            let ready = node
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .into_iter()
                .flatten()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            missing.push(if ready {
                name
            } else {
                format!("{name} (NotReady)")
            });
        }
        if missing.is_empty() {
            report.pass(format!("{} node(s) have metrics", node_metrics.len()));
        } else {
            report.find(
                format!("no metrics for node(s) {}", named(&missing)),
                "a node is served after two successful scrapes with non-zero CPU and memory: a NotReady node's kubelet does not answer; otherwise its kubelet reports zero (cgroup v2 bug of old kubelets) — workingset explain node NAME shows its figures",
            );
        }
    }
    let pods = match Api::<Pod>::all(client.clone())
        .list(&ListParams::default().fields("status.phase=Running"))
        .await
    {
        Ok(pods) => pods.items,
        Err(error) => {
            report.note(format!("cannot list running pods: {error}"));
            return;
        }
    };
    let (mut young, mut old) = (Vec::new(), Vec::new());
    for pod in &pods {
        let key = format!(
            "{}/{}",
            pod.metadata.namespace.clone().unwrap_or_default(),
            pod.metadata.name.clone().unwrap_or_default()
        );
        let node = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default();
        if pod_metrics.contains(&key) || failing_nodes.contains(&node) {
            continue;
        }
        let age = pod
            .metadata
            .creation_timestamp
            .as_ref()
            .map(|t| now.as_second() - t.0.as_second());
        match age {
            Some(age) if age < YOUNG_SECONDS => young.push(format!("{key} ({age}s old)")),
            _ => old.push(key),
        }
    }
    if !young.is_empty() {
        report.find(
            format!("pod(s) too young to have metrics yet: {}", named(&young)),
            "wait: a pod's first figures come after two scrapes of its node (2 × --metric-resolution, 30 s with the manifests' 15 s)",
        );
    }
    if !old.is_empty() {
        report.find(
            format!("running pod(s) without metrics: {}", named(&old)),
            "their kubelet reports no CPU or memory for a container (metrics-server then drops the whole pod): workingset explain pod NAME -n NAMESPACE shows the figures",
        );
    }
    if young.is_empty() && old.is_empty() {
        report.pass(format!("{} running pod(s) have metrics", pod_metrics.len()));
    }
}
