//! The routes: kubelet-compatible endpoints, health, the agent's metrics.
//!
//! Every route is a `GET` (axum answers `HEAD` too, without a body) that
//! renders the published observation; any other method is 405 and any other
//! path 404 (`404 page not found`, as Go's mux). With a token configured,
//! authentication runs before routing on everything but `/healthz`, so an
//! unauthenticated client learns nothing about which paths exist — the
//! kubelet does the same.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use axum::Router;
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::auth::Token;
use super::telemetry::Telemetry;
use crate::serve::{self, Observation};

/// Prometheus text exposition 0.0.4, as the kubelet labels it.
pub(crate) const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Plain-text bodies (health, errors).
const PLAIN_TEXT: &str = "text/plain; charset=utf-8";
const JSON: &str = "application/json";

const SUMMARY: &str = "/stats/summary";
const RESOURCE: &str = "/metrics/resource";
const CADVISOR: &str = "/metrics/cadvisor";
const PODS: &str = "/pods";
const OWN_METRICS: &str = "/metrics";
const HEALTHZ: &str = "/healthz";

/// What every handler can reach.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    /// The newest observation; `None` until the first pass completes.
    pub(crate) observation: Arc<ArcSwapOption<Observation>>,
    pub(crate) telemetry: Arc<Telemetry>,
    pub(crate) token: Option<Arc<Token>>,
    /// For `Retry-After` while there is nothing to serve yet.
    pub(crate) interval: Duration,
}

/// The whole application: routes, then authentication, then request
/// counting (outermost, so 401s and 404s are counted too).
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route(SUMMARY, get(summary))
        .route(RESOURCE, get(resource))
        .route(CADVISOR, get(cadvisor))
        .route(PODS, get(pods))
        .route(OWN_METRICS, get(own_metrics))
        .route(HEALTHZ, get(healthz))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .layer(middleware::from_fn_with_state(state.clone(), count))
        .with_state(state)
}

/// The route label of a path: one of the routes, or `other`, so that
/// arbitrary paths never become label values.
fn route_label(path: &str) -> &'static str {
    match path {
        SUMMARY => SUMMARY,
        RESOURCE => RESOURCE,
        CADVISOR => CADVISOR,
        PODS => PODS,
        OWN_METRICS => OWN_METRICS,
        HEALTHZ => HEALTHZ,
        _ => "other",
    }
}

async fn count(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = route_label(request.uri().path());
    let method = request.method().clone();
    let response = next.run(request).await;
    let code = response.status().as_u16();
    state.telemetry.record_request(route, code);
    tracing::debug!(route, %method, code, "Request answered");
    response
}

async fn authenticate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if let Some(token) = &state.token
        && request.uri().path() != HEALTHZ
        && !token.admits(request.headers().get(header::AUTHORIZATION))
    {
        return (
            StatusCode::UNAUTHORIZED,
            [
                (header::CONTENT_TYPE, PLAIN_TEXT),
                (header::WWW_AUTHENTICATE, "Bearer"),
            ],
            "Unauthorized\n",
        )
            .into_response();
    }
    next.run(request).await
}

/// The 503 of every data endpoint until the first pass completes.
fn unavailable(state: &AppState) -> Response {
    let retry_after = state.interval.as_secs().max(1);
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(PLAIN_TEXT)),
            (header::RETRY_AFTER, HeaderValue::from(retry_after)),
        ],
        "No data yet: the first housekeeping pass has not completed; retry shortly\n",
    )
        .into_response()
}

/// `GET /stats/summary[?only_cpu_and_memory=true]`.
async fn summary(State(state): State<AppState>, uri: Uri) -> Response {
    let only_cpu_and_memory = match only_cpu_and_memory(&uri) {
        Ok(only) => only,
        Err(message) => return text(StatusCode::BAD_REQUEST, PLAIN_TEXT, message),
    };
    let Some(observation) = state.observation.load_full() else {
        return unavailable(&state);
    };
    let summary = serve::summary::build(&observation, only_cpu_and_memory);
    match serde_json::to_vec(&summary) {
        Ok(body) => ([(header::CONTENT_TYPE, JSON)], body).into_response(),
        Err(error) => {
            tracing::error!(%error, "Cannot encode the summary");
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                PLAIN_TEXT,
                format!("Internal Error: cannot encode the summary: {error}\n"),
            )
        }
    }
}

/// The kubelet's reading of the parameter: used only when given exactly
/// once, Go's `strconv.ParseBool`, anything unparsable meaning `false`. A
/// query that is not form-encoded at all is a 400 (the kubelet answers 500).
fn only_cpu_and_memory(uri: &Uri) -> Result<bool, String> {
    let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map_err(|error| format!("parse form failed: {error}\n"))?;
    let mut values = pairs
        .iter()
        .filter(|(key, _)| key == "only_cpu_and_memory")
        .map(|(_, value)| value.as_str());
    Ok(match (values.next(), values.next()) {
        (Some(value), None) => matches!(value, "1" | "t" | "T" | "TRUE" | "true" | "True"),
        _ => false,
    })
}

/// `GET /metrics/resource`.
async fn resource(State(state): State<AppState>) -> Response {
    let Some(observation) = state.observation.load_full() else {
        return unavailable(&state);
    };
    let mut out = String::new();
    serve::resource::render(&observation, &mut out);
    text(StatusCode::OK, PROMETHEUS_TEXT, out)
}

/// `GET /metrics/cadvisor`.
async fn cadvisor(State(state): State<AppState>) -> Response {
    let Some(observation) = state.observation.load_full() else {
        return unavailable(&state);
    };
    let mut out = String::new();
    serve::cadvisor::render(&observation, &mut out);
    text(StatusCode::OK, PROMETHEUS_TEXT, out)
}

/// `GET /pods`: the kubelet's pod list.
async fn pods(State(state): State<AppState>) -> Response {
    let Some(observation) = state.observation.load_full() else {
        return unavailable(&state);
    };
    let list = serve::pods::build(&observation);
    match serde_json::to_vec(&list) {
        Ok(body) => ([(header::CONTENT_TYPE, JSON)], body).into_response(),
        Err(error) => {
            tracing::error!(%error, "Cannot encode the pod list");
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                PLAIN_TEXT,
                format!("Internal Error: cannot encode the pod list: {error}\n"),
            )
        }
    }
}

/// `GET /metrics`: the agent's own metrics.
async fn own_metrics(State(state): State<AppState>) -> Response {
    let mut out = String::new();
    state.telemetry.encode(&mut out);
    text(StatusCode::OK, PROMETHEUS_TEXT, out)
}

/// `GET /healthz`: the server answers. Data freshness is on `/metrics`
/// (`last_successful_pass_timestamp_seconds`), so a slow disk does not get
/// the agent restarted.
async fn healthz() -> Response {
    text(StatusCode::OK, PLAIN_TEXT, "ok")
}

/// Unknown paths, whatever the method, as Go's mux answers them.
async fn not_found() -> Response {
    text(StatusCode::NOT_FOUND, PLAIN_TEXT, "404 page not found\n")
}

fn text(status: StatusCode, content_type: &'static str, body: impl Into<Body>) -> Response {
    (status, [(header::CONTENT_TYPE, content_type)], body.into()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn only(query: &str) -> Result<bool, String> {
        only_cpu_and_memory(&format!("/stats/summary{query}").parse().unwrap())
    }

    #[test]
    fn only_cpu_and_memory_reads_like_the_kubelet() {
        assert_eq!(only(""), Ok(false));
        assert_eq!(only("?only_cpu_and_memory=true"), Ok(true));
        assert_eq!(only("?only_cpu_and_memory=1"), Ok(true));
        assert_eq!(only("?only_cpu_and_memory=T&x=y"), Ok(true));
        assert_eq!(only("?only_cpu_and_memory=%74rue"), Ok(true));
        assert_eq!(only("?only_cpu_and_memory=yes"), Ok(false));
        assert_eq!(only("?only_cpu_and_memory=false"), Ok(false));
        // Given twice: ignored, as the kubelet ignores it.
        assert_eq!(
            only("?only_cpu_and_memory=true&only_cpu_and_memory=true"),
            Ok(false)
        );
    }

    #[test]
    fn route_labels_are_a_fixed_set() {
        assert_eq!(route_label("/stats/summary"), "/stats/summary");
        assert_eq!(route_label("/metrics"), "/metrics");
        assert_eq!(route_label("/pods"), "/pods");
        assert_eq!(route_label("/stats/summary/"), "other");
        assert_eq!(route_label("/../../etc/passwd"), "other");
    }
}
