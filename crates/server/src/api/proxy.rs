//! The API server's node proxy, read-only: `GET /api/v1/nodes/{node}/proxy/{path}`.
//!
//! A kube-apiserver forwards these requests to the node's kubelet; tools
//! such as `workingset explain` (and `kubectl get --raw`) use it to read a
//! node's `/stats/summary` or `/metrics/cadvisor` without credentials for
//! every kubelet. The standalone server plays that part for the agents it
//! knows. Unlike the apiserver it forwards only the kubelet's read-only
//! stats paths, so the proxy cannot be used to reach anything else.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::status::Status;
use super::{ApiState, status_response};
use crate::target::NodeSpec;
use workingset_kubeclient::kubelet::ScrapeClient;

/// Kubelet paths the proxy forwards, with the content type of their answer.
const FORWARDED: &[(&str, &str)] = &[
    ("stats/summary", "application/json"),
    ("pods", "application/json"),
    (
        "metrics/resource",
        "text/plain; version=0.0.4; charset=utf-8",
    ),
    (
        "metrics/cadvisor",
        "text/plain; version=0.0.4; charset=utf-8",
    ),
    ("healthz", "text/plain; charset=utf-8"),
];

/// Where each node's agent is and how to reach it.
#[derive(Debug, Clone)]
pub struct NodeProxy {
    client: ScrapeClient,
    urls: Arc<BTreeMap<String, String>>,
    timeout: Duration,
    max_body_bytes: usize,
}

impl NodeProxy {
    /// A proxy to the agents of `nodes`, each request bounded by `timeout`
    /// and `max_body_bytes`.
    pub fn new(
        client: ScrapeClient,
        nodes: &[NodeSpec],
        timeout: Duration,
        max_body_bytes: usize,
    ) -> Self {
        let urls = nodes
            .iter()
            .map(|node| (node.name.clone(), node.url.clone()))
            .collect();
        Self {
            client,
            urls: Arc::new(urls),
            timeout,
            max_body_bytes,
        }
    }
}

/// The handler of the proxy route.
pub(super) async fn forward(
    State(state): State<ApiState>,
    Path((node, path)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(proxy) = state.proxy.as_ref() else {
        return status_response(&Status::no_such_path());
    };
    let Some(base) = proxy.urls.get(&node) else {
        return status_response(&Status::not_found("", "nodes", &node));
    };
    let path = path.trim_start_matches('/');
    let Some(&(_, content_type)) = FORWARDED.iter().find(|(allowed, _)| *allowed == path) else {
        return status_response(&Status::no_such_path());
    };
    let mut url = format!("{base}/{path}");
    if let Some(query) = query.filter(|query| !query.is_empty()) {
        url.push('?');
        url.push_str(&query);
    }
    match proxy
        .client
        .get_limited(&url, proxy.timeout, proxy.max_body_bytes)
        .await
    {
        Ok(body) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
            body,
        )
            .into_response(),
        Err(error) => {
            tracing::debug!(%node, %path, %error, "Node proxy request failed");
            status_response(&Status::service_unavailable(format!(
                "error trying to reach node {node}: {error}"
            )))
        }
    }
}
