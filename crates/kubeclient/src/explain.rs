//! `workingset explain` from a node's endpoints: `--agent URL` fetches
//! `/metrics/cadvisor` and `/stats/summary` from a `workingset agent` or a
//! kubelet; with a kubeconfig the same two paths are fetched through the
//! API server's node proxy (`/api/v1/nodes/{node}/proxy/…`). Both hand the
//! bodies to `workingset_explain::kubelet`, which does the rest.

use std::time::Duration;

use std::path::Path;

pub use workingset_explain::ExplainError;
use workingset_explain::inputs::{Hierarchy, Mode, NodeInputs, PodInputs, SourceInputs};
use workingset_explain::kubelet::{self, PodQuery};
use workingset_explain::lookup::{self, LookupError};
use workingset_top::KubectlVersion;

use crate::kubelet::{ClientOptions, ScrapeClient};
use crate::proxy;
use crate::{Environment, KubeArgs, RemoteOptions, RemoteSource};

/// Where `explain` reads a node's endpoints: the kubeconfig flags (for the
/// API server's node proxy, and the CA and insecure flags for `--agent`),
/// and the bearer token file for `--agent`.
#[derive(Debug, Clone, Copy)]
pub struct ExplainSource<'a> {
    /// kubectl's connection flags.
    pub kube: &'a KubeArgs,
    /// `--token-file`, sent as a bearer token to `--agent`.
    pub token_file: Option<&'a Path>,
}

/// How long one request may take, connection and body included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// A kubelet's `/metrics/cadvisor` on a full node is a few MiB.
const MAX_BODY: usize = 64 << 20;

/// The two bodies of one node.
struct Bodies {
    cadvisor: String,
    summary: Vec<u8>,
}

fn runtime() -> Result<tokio::runtime::Runtime, ExplainError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            ExplainError::failed(format!(
                "cannot start the async runtime for the HTTP client: {e}"
            ))
        })
}

fn fetch_agent(args: ExplainSource<'_>, url: &str) -> Result<Bodies, ExplainError> {
    let base = url.trim_end_matches('/');
    let client = ScrapeClient::new(&ClientOptions {
        ca_file: args
            .kube
            .certificate_authority
            .as_deref()
            .filter(|f| !f.is_empty())
            .map(Into::into),
        insecure_tls: args.kube.insecure_skip_tls_verify,
        token_file: args.token_file.map(Path::to_path_buf),
        max_body_bytes: MAX_BODY,
        ..ClientOptions::default()
    })
    .map_err(|e| ExplainError::failed(e.to_string()))?;
    let runtime = runtime()?;
    runtime.block_on(async {
        let cadvisor_url = format!("{base}/metrics/cadvisor");
        let summary_url = format!("{base}/stats/summary");
        let (cadvisor, summary) = tokio::join!(
            client.get(&cadvisor_url, REQUEST_TIMEOUT),
            client.get(&summary_url, REQUEST_TIMEOUT)
        );
        let cadvisor =
            cadvisor.map_err(|e| ExplainError::failed(format!("GET {cadvisor_url}: {e}")))?;
        let summary =
            summary.map_err(|e| ExplainError::failed(format!("GET {summary_url}: {e}")))?;
        let cadvisor = String::from_utf8(cadvisor).map_err(|_| {
            ExplainError::failed(format!("GET {cadvisor_url}: the body is not UTF-8 text"))
        })?;
        Ok(Bodies { cadvisor, summary })
    })
}

fn agent_source(url: &str) -> SourceInputs {
    SourceInputs {
        mode: Mode::Agent,
        endpoint: Some(url.to_owned()),
        hierarchy: Hierarchy::Unknown,
        window: None,
    }
}

fn parse(
    bodies: &Bodies,
) -> Result<(kubelet::Cadvisor, workingset_model::summary::Summary), ExplainError> {
    let cadvisor = kubelet::parse_cadvisor(&bodies.cadvisor)?;
    let summary = kubelet::parse_summary(&bodies.summary)?;
    Ok((cadvisor, summary))
}

/// `explain node --agent URL`.
pub fn agent_node(
    args: ExplainSource<'_>,
    url: &str,
    name: Option<&str>,
) -> Result<NodeInputs, ExplainError> {
    let bodies = fetch_agent(args, url)?;
    let (cadvisor, summary) = parse(&bodies)?;
    Ok(kubelet::node_inputs(
        agent_source(url),
        &cadvisor,
        &summary,
        name,
    )?)
}

/// `explain pod --agent URL`.
pub fn agent_pod(
    args: ExplainSource<'_>,
    url: &str,
    query: &PodQuery,
) -> Result<PodInputs, ExplainError> {
    let bodies = fetch_agent(args, url)?;
    let (cadvisor, summary) = parse(&bodies)?;
    Ok(kubelet::pod_inputs(
        agent_source(url),
        &cadvisor,
        &summary,
        query,
    )?)
}

const JSON: &str = "application/json";
const TEXT: &str = "text/plain;version=0.0.4;q=0.9,*/*;q=0.1";

/// The API server of the kubeconfig, and the namespace its context names.
fn connect(args: ExplainSource<'_>) -> Result<RemoteSource, ExplainError> {
    let (api, _namespace) = RemoteSource::connect(
        args.kube,
        &Environment::current(),
        RemoteOptions {
            namespace: None,
            for_pods: false,
            kubectl: KubectlVersion::NEWEST,
            use_protocol_buffers: false,
        },
    )
    .map_err(|e| ExplainError::failed(e.to_string().trim_start_matches("error: ")))?;
    Ok(api)
}

fn get_json(
    api: &mut RemoteSource,
    path: &str,
    params: &[(&str, &str)],
) -> Result<serde_json::Value, ExplainError> {
    let body = api.get_raw(path, params, JSON).map_err(|e| {
        ExplainError::failed(format!(
            "GET {path}: {}",
            e.to_string().trim_start_matches("error: ")
        ))
    })?;
    serde_json::from_slice(&body)
        .map_err(|e| ExplainError::failed(format!("GET {path}: the answer is not JSON: {e}")))
}

/// The two endpoints of `node` through the API server's node proxy.
fn fetch_proxied(api: &mut RemoteSource, node: &str) -> Result<Bodies, ExplainError> {
    let base = format!("/api/v1/nodes/{}/proxy", proxy::path_segment(node));
    let get = |api: &mut RemoteSource, path: String, accept: &str| {
        api.get_raw(&path, &[], accept).map_err(|e| {
            ExplainError::failed(format!(
                "GET {path}: {}",
                e.to_string().trim_start_matches("error: ")
            ))
        })
    };
    let cadvisor = get(api, format!("{base}/metrics/cadvisor"), TEXT)?;
    let summary = get(api, format!("{base}/stats/summary"), JSON)?;
    let cadvisor = String::from_utf8(cadvisor).map_err(|_| {
        ExplainError::failed(format!(
            "GET {base}/metrics/cadvisor: the body is not UTF-8 text"
        ))
    })?;
    Ok(Bodies { cadvisor, summary })
}

fn api_source(node: &str) -> SourceInputs {
    SourceInputs {
        mode: Mode::ApiServer,
        endpoint: Some(format!("/api/v1/nodes/{node}/proxy")),
        hierarchy: Hierarchy::Unknown,
        window: None,
    }
}

fn names(list: &serde_json::Value) -> Vec<(String, String)> {
    list["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|item| {
                    let meta = &item["metadata"];
                    (
                        meta["namespace"].as_str().unwrap_or_default().to_owned(),
                        meta["name"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `explain node` through the API server.
pub fn api_node(args: ExplainSource<'_>, name: Option<&str>) -> Result<NodeInputs, ExplainError> {
    let mut api = connect(args)?;
    let nodes: Vec<String> = names(&get_json(&mut api, "/api/v1/nodes", &[])?)
        .into_iter()
        .map(|(_, name)| name)
        .collect();
    let node = match (name, nodes.as_slice()) {
        (Some(name), _) if nodes.iter().any(|n| n == name) => name.to_owned(),
        (Some(name), _) => {
            return Err(LookupError::NodeNotFound {
                name: name.to_owned(),
                available: nodes,
            }
            .into());
        }
        (None, [only]) => only.clone(),
        (None, _) => {
            return Err(ExplainError::failed(format!(
                "the cluster has {} nodes ({}): name one, `workingset explain node NAME`",
                nodes.len(),
                nodes.join(", ")
            )));
        }
    };
    let bodies = fetch_proxied(&mut api, &node)?;
    let (cadvisor, summary) = parse(&bodies)?;
    Ok(kubelet::node_inputs(
        api_source(&node),
        &cadvisor,
        &summary,
        None,
    )?)
}

/// `explain pod` through the API server: the pod's node from its object,
/// then that node's endpoints through the proxy.
pub fn api_pod(args: ExplainSource<'_>, query: &PodQuery) -> Result<PodInputs, ExplainError> {
    let mut api = connect(args)?;
    // Without -n, the pod is looked for in every namespace, as locally.
    let pods_path = match &query.namespace {
        Some(namespace) => format!("/api/v1/namespaces/{}/pods", proxy::path_segment(namespace)),
        None => "/api/v1/pods".to_owned(),
    };
    let by_name = format!("metadata.name={}", query.name);
    let found = get_json(&mut api, &pods_path, &[("fieldSelector", &by_name)])?;
    let pods = found["items"].as_array().cloned().unwrap_or_default();
    let pod = match pods.as_slice() {
        [pod] => pod.clone(),
        [] => {
            // Close matches from the namespace asked for (or all), bounded.
            let all = names(&get_json(&mut api, &pods_path, &[("limit", "500")])?);
            let candidates: Vec<lookup::Candidate<'_>> = all
                .iter()
                .map(|(namespace, name)| lookup::Candidate { namespace, name })
                .collect();
            lookup::find_pod(&candidates, &query.name, query.namespace.as_deref())?;
            return Err(ExplainError::failed(format!(
                "pod {} not found",
                workingset_model::selector::GoQuoted(&query.name)
            )));
        }
        several => {
            let mut namespaces: Vec<String> = several
                .iter()
                .filter_map(|p| p["metadata"]["namespace"].as_str().map(str::to_owned))
                .collect();
            namespaces.sort();
            return Err(LookupError::Ambiguous {
                name: query.name.clone(),
                namespaces,
            }
            .into());
        }
    };
    let namespace = pod["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let Some(node) = pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) else {
        return Err(ExplainError::failed(format!(
            "pod {namespace}/{} is not scheduled to a node yet: there are no figures to explain",
            query.name
        )));
    };
    let bodies = fetch_proxied(&mut api, node)?;
    let (cadvisor, summary) = parse(&bodies)?;
    let exact = PodQuery {
        namespace: Some(namespace),
        ..query.clone()
    };
    Ok(kubelet::pod_inputs(
        api_source(node),
        &cadvisor,
        &summary,
        &exact,
    )?)
}
