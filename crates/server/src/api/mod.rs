//! The server's whole HTTP surface as one axum [`Router`]: discovery, the
//! Metrics API (`metrics.k8s.io/v1beta1`), in standalone mode the read-only
//! core requests kubectl makes (`/api/v1` nodes and pods), the probes and
//! `/metrics`.
//!
//! What goes on the wire is what metrics-server (and, for core paths, the
//! kube-apiserver) puts there, so kubectl 1.27–1.33, the HPA controller and
//! anything written against client-go work unchanged: the same JSON (Go
//! field order), the same `Status` errors word for word, server-side
//! `Table`s for `kubectl get`, label and field selectors with upstream's
//! syntax and errors. Handlers only read the [`Published`] snapshot that
//! the run loop swaps in; none waits for scraping.
//!
//! Module map: [`select`] picks objects from a snapshot and [`status`]
//! words errors (both `workingset-model`'s, shared with the local mode),
//! `encode` writes objects without copying them, `table` negotiates and
//! builds Tables, `discovery` holds the discovery documents, `health`
//! answers the probes.
//!
//! Every request is counted through [`Health::record_request`] with its
//! route template (a fixed set: [`ROUTES`] and [`OTHER_ROUTE`]), never the
//! raw path, so scanners cannot grow the metric's series.

mod discovery;
mod encode;
pub(crate) mod gzip;
mod health;
#[cfg(test)]
mod kubectl_tests;
mod names;
pub mod proxy;
mod table;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::Router;
use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jiff::Timestamp;
use serde::Serialize;
use workingset_model::metrics::{METRICS_API_VERSION, Node, Pod, Time};

use self::encode::{
    ListBody, POD_BYTES, ResponseTime, ServedNodeMetrics, ServedPodMetrics, Typed, to_json,
};
use self::health::Probe;
use self::names::{Name, NamespaceAndName};
use self::select::ListOptions;
use self::table::{Include, Output};
use crate::view::{BodyEncoding, EncodedList, ListKey, Published};

pub use self::select::METRICS_GROUP;
pub use self::status::{Status, StatusDetails};
/// Selection and statuses are shared with the local mode (`workingset-model`).
pub use workingset_model::{select, status};

/// What the server knows about its own health, and where request counts
/// go. Implemented by the run loop's telemetry.
pub trait Health: Send + Sync {
    /// `Ok` while the tick loop runs on time (`/livez`); the reason
    /// otherwise.
    fn live(&self, now: Timestamp) -> Result<(), String>;
    /// `Ok` when there is something to serve (`/readyz`); the reason
    /// otherwise.
    fn ready(&self, published: &Published) -> Result<(), String>;
    /// The server's own metrics, Prometheus text format 0.0.4.
    fn render_metrics(&self, published: &Published, now: Timestamp) -> String;
    /// Counts one answered request: `route` is one of [`ROUTES`] or
    /// [`OTHER_ROUTE`].
    fn record_request(&self, route: &'static str, code: u16);
}

/// What the handlers read.
#[derive(Clone)]
pub struct ApiState {
    /// The snapshot, swapped in by the run loop after every tick.
    pub published: Arc<ArcSwap<Published>>,
    /// Probes, `/metrics` and request counts.
    pub health: Arc<dyn Health>,
    /// Serve `/api` and `/api/v1` nodes and pods (standalone mode, where no
    /// kube-apiserver answers them).
    pub core_api: bool,
    /// Forward `GET /api/v1/nodes/{node}/proxy/{path}` to the node's agent
    /// (standalone mode, with `core_api`).
    pub proxy: Option<proxy::NodeProxy>,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("core_api", &self.core_api)
            .finish_non_exhaustive()
    }
}

const ROOT: &str = "/";
const API: &str = "/api";
const APIS: &str = "/apis";
const METRICS_GROUP_PATH: &str = "/apis/metrics.k8s.io";
const METRICS_VERSION_PATH: &str = "/apis/metrics.k8s.io/v1beta1";
const NODE_METRICS: &str = "/apis/metrics.k8s.io/v1beta1/nodes";
const NODE_METRICS_ONE: &str = "/apis/metrics.k8s.io/v1beta1/nodes/{name}";
const POD_METRICS_ALL: &str = "/apis/metrics.k8s.io/v1beta1/pods";
const POD_METRICS: &str = "/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods";
const POD_METRICS_ONE: &str = "/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods/{name}";
const CORE_VERSION_PATH: &str = "/api/v1";
const NODES: &str = "/api/v1/nodes";
const NODES_ONE: &str = "/api/v1/nodes/{name}";
const PODS_ALL: &str = "/api/v1/pods";
const PODS: &str = "/api/v1/namespaces/{namespace}/pods";
const PODS_ONE: &str = "/api/v1/namespaces/{namespace}/pods/{name}";
const NODE_PROXY: &str = "/api/v1/nodes/{name}/proxy/{*path}";
const LIVEZ: &str = "/livez";
const LIVEZ_CHECK: &str = "/livez/{check}";
const READYZ: &str = "/readyz";
const READYZ_CHECK: &str = "/readyz/{check}";
const HEALTHZ: &str = "/healthz";
const HEALTHZ_CHECK: &str = "/healthz/{check}";
const METRICS: &str = "/metrics";

/// Every route template, the label values [`Health::record_request`]
/// receives besides [`OTHER_ROUTE`].
pub const ROUTES: &[&str] = &[
    ROOT,
    API,
    APIS,
    METRICS_GROUP_PATH,
    METRICS_VERSION_PATH,
    NODE_METRICS,
    NODE_METRICS_ONE,
    POD_METRICS_ALL,
    POD_METRICS,
    POD_METRICS_ONE,
    CORE_VERSION_PATH,
    NODES,
    NODES_ONE,
    PODS_ALL,
    PODS,
    PODS_ONE,
    NODE_PROXY,
    LIVEZ,
    LIVEZ_CHECK,
    READYZ,
    READYZ_CHECK,
    HEALTHZ,
    HEALTHZ_CHECK,
    METRICS,
];

/// The label of requests no route matched.
pub const OTHER_ROUTE: &str = "other";

/// Lists with more objects than this are encoded on tokio's blocking pool,
/// so a 150,000-pod list does not hold a worker thread that probes and
/// small requests need.
const BLOCKING_ENCODE_ITEMS: usize = 2_000;

/// The server's routes over `state`.
pub fn router(state: ApiState) -> Router {
    let mut router = Router::new()
        .route(ROOT, get(root))
        .route(API, get(api_versions))
        .route(
            APIS,
            get(|| async { json_static(discovery::API_GROUP_LIST) }),
        )
        .route(
            METRICS_GROUP_PATH,
            get(|| async { json_static(discovery::METRICS_API_GROUP) }),
        )
        .route(
            METRICS_VERSION_PATH,
            get(|| async { json_static(discovery::METRICS_RESOURCES) }),
        )
        .route(NODE_METRICS, get(node_metrics_list))
        .route(NODE_METRICS_ONE, get(node_metrics_get))
        .route(POD_METRICS_ALL, get(pod_metrics_list_all))
        .route(POD_METRICS, get(pod_metrics_list))
        .route(POD_METRICS_ONE, get(pod_metrics_get))
        .route(LIVEZ, get(livez))
        .route(LIVEZ_CHECK, get(livez_check))
        .route(READYZ, get(readyz))
        .route(READYZ_CHECK, get(readyz_check))
        .route(HEALTHZ, get(healthz))
        .route(HEALTHZ_CHECK, get(healthz_check))
        .route(METRICS, get(metrics));
    if state.core_api {
        router = router
            .route(
                CORE_VERSION_PATH,
                get(|| async { json_static(discovery::CORE_RESOURCES) }),
            )
            .route(NODES, get(nodes_list))
            .route(NODES_ONE, get(nodes_get))
            .route(PODS_ALL, get(pods_list_all))
            .route(PODS, get(pods_list))
            .route(PODS_ONE, get(pods_get));
        if state.proxy.is_some() {
            router = router.route(NODE_PROXY, get(proxy::forward));
        }
    }
    router
        .fallback(|| async { status_response(&Status::no_such_path()) })
        .method_not_allowed_fallback(|| async { status_response(&Status::method_not_allowed()) })
        .layer(middleware::from_fn(gzip::compress_large))
        .layer(middleware::from_fn_with_state(state.clone(), count_request))
        .with_state(state)
}

/// Counts every answered request by route template and status code.
async fn count_request(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .and_then(|matched| ROUTES.iter().find(|&&route| route == matched.as_str()))
        .copied()
        .unwrap_or(OTHER_ROUTE);
    let response = next.run(request).await;
    state
        .health
        .record_request(route, response.status().as_u16());
    response
}

/// The query parameters this server reads, first value of each (as the
/// API machinery's parameter codec takes them).
#[derive(Debug, Default)]
struct Params(Vec<(String, String)>);

impl Params {
    fn first(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    }

    fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
            .collect()
    }

    fn has(&self, key: &str) -> bool {
        self.0.iter().any(|(name, _)| name == key)
    }

    fn list_options(&self) -> ListOptions<'_> {
        ListOptions {
            label_selector: self.first("labelSelector").unwrap_or_default(),
            field_selector: self.first("fieldSelector").unwrap_or_default(),
        }
    }

    /// Whether the request asks for every object of the list, at once.
    fn whole_list(&self) -> bool {
        let options = self.list_options();
        options.label_selector.is_empty() && options.field_selector.is_empty() && !self.watch()
    }

    /// `watch` as the API machinery reads a boolean parameter: present and
    /// not `0` or `false` (any case) is true.
    fn watch(&self) -> bool {
        self.first("watch")
            .is_some_and(|value| value != "0" && !value.eq_ignore_ascii_case("false"))
    }

    fn include(&self) -> Result<Include, Status> {
        Include::parse(self.first("includeObject"))
    }
}

fn json(code: StatusCode, body: impl Into<axum::body::Body>) -> Response {
    (
        code,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body.into(),
    )
        .into_response()
}

fn json_static(body: &'static str) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// A `Status` as the API server writes it (also the secure gate's 401/403).
pub(crate) fn status_response(status: &Status) -> Response {
    let code = StatusCode::from_u16(status.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json(code, status.to_json())
}

fn ok_json<T: Serialize + ?Sized>(value: &T, size_hint: usize) -> Response {
    json(StatusCode::OK, to_json(value, size_hint))
}

/// Answers a request for a whole list (every object, or every pod of a
/// namespace; no selector or watch; as JSON) from the snapshot's response
/// cache: `write` runs on the blocking pool only for the first request of a
/// second, and the gzipped copy is made once for all clients that accept
/// it.
async fn whole_list<F>(
    published: Arc<Published>,
    key: ListKey,
    headers: &HeaderMap,
    write: F,
) -> Response
where
    F: FnOnce(&Published, &ResponseTime) -> Vec<u8> + Send + 'static,
{
    let now = ResponseTime::now();
    let second = now.second();
    let encoding = if gzip::accepted(headers) {
        BodyEncoding::Gzip
    } else {
        BodyEncoding::Identity
    };
    let snapshot = Arc::clone(&published);
    let body = published
        .responses
        .get_or_write(key, second, encoding, move || async move {
            tokio::task::spawn_blocking(move || bytes::Bytes::from(write(&snapshot, &now))).await
        })
        .await;
    match body {
        Ok(EncodedList { bytes, gzipped }) => {
            let mut response = json(StatusCode::OK, bytes);
            if gzipped {
                gzip::mark(response.headers_mut());
            }
            response
        }
        Err(error) => {
            tracing::error!(%error, "Encoding a response failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Runs `render` on the snapshot, on the blocking pool when it lists many
/// objects.
async fn render<F>(published: Arc<Published>, many: bool, render: F) -> Response
where
    F: FnOnce(&Published) -> Response + Send + 'static,
{
    if !many {
        return render(&published);
    }
    match tokio::task::spawn_blocking(move || render(&published)).await {
        Ok(response) => response,
        Err(error) => {
            tracing::error!(%error, "Encoding a response failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// `GET /`: the index of paths, as the generic API server answers it.
async fn root(State(state): State<ApiState>) -> Response {
    json(StatusCode::OK, discovery::root_paths(state.core_api))
}

/// `GET /api`: the legacy versions in standalone mode, else metrics-server's
/// 404 (its index of paths).
async fn api_versions(State(state): State<ApiState>, headers: HeaderMap) -> Response {
    if state.core_api {
        let host = headers
            .get(header::HOST)
            .and_then(|value| value.to_str().ok());
        json(StatusCode::OK, discovery::core_versions(host))
    } else {
        json(StatusCode::NOT_FOUND, discovery::root_paths(false))
    }
}

fn now() -> Time {
    Time::now()
}

/// Rough bytes per object, so bodies are allocated once.
const NODE_BYTES: usize = 320;

async fn node_metrics_list(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    let params = Params(params);
    let output = match table::negotiate(headers.get(header::ACCEPT)) {
        Ok(output) => output,
        Err(status) => return status_response(&status),
    };
    let published = state.published.load_full();
    if matches!(output, Output::Json) && params.whole_list() {
        return whole_list(published, ListKey::NODES, &headers, |published, now| {
            to_json(
                &ListBody {
                    kind: "NodeMetricsList",
                    api_version: METRICS_API_VERSION,
                    items: published
                        .node_metrics
                        .iter()
                        .map(|object| ServedNodeMetrics {
                            object,
                            now,
                            typed: false,
                        }),
                },
                published.node_metrics.len() * NODE_BYTES,
            )
        })
        .await;
    }
    render(published, false, move |published| {
        let nodes = match select::list_node_metrics(published, &params.list_options()) {
            Ok(nodes) => nodes,
            Err(status) => return status_response(&status),
        };
        if params.watch() {
            return status_response(&Status::method_not_supported(
                METRICS_GROUP,
                "nodes",
                "watch",
            ));
        }
        let now = &ResponseTime::now();
        match output {
            Output::Json => ok_json(
                &ListBody {
                    kind: "NodeMetricsList",
                    api_version: METRICS_API_VERSION,
                    items: nodes.iter().map(|&object| ServedNodeMetrics {
                        object,
                        now,
                        typed: false,
                    }),
                },
                nodes.len() * NODE_BYTES,
            ),
            Output::Table(version) => match params.include() {
                Ok(include) => ok_json(
                    &table::node_metrics_table(&nodes, now, version, include),
                    nodes.len() * NODE_BYTES,
                ),
                Err(status) => status_response(&status),
            },
        }
    })
    .await
}

async fn node_metrics_get(
    State(state): State<ApiState>,
    Name(name): Name,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    let params = Params(params);
    let output = match table::negotiate(headers.get(header::ACCEPT)) {
        Ok(output) => output,
        Err(status) => return status_response(&status),
    };
    let published = state.published.load();
    let object = match select::get_node_metrics(&**published, &name) {
        Ok(object) => object,
        Err(status) => return status_response(&status),
    };
    let now = &ResponseTime::now();
    match output {
        Output::Json => ok_json(
            &ServedNodeMetrics {
                object,
                now,
                typed: true,
            },
            NODE_BYTES,
        ),
        Output::Table(version) => match params.include() {
            Ok(include) => ok_json(
                &table::node_metrics_table(&[object], now, version, include),
                NODE_BYTES,
            ),
            Err(status) => status_response(&status),
        },
    }
}

async fn pod_metrics_list_all(
    state: State<ApiState>,
    headers: HeaderMap,
    params: Query<Vec<(String, String)>>,
) -> Response {
    pod_metrics_list_in(state, None, headers, params).await
}

async fn pod_metrics_list(
    state: State<ApiState>,
    Name(namespace): Name,
    headers: HeaderMap,
    params: Query<Vec<(String, String)>>,
) -> Response {
    pod_metrics_list_in(state, Some(namespace), headers, params).await
}

async fn pod_metrics_list_in(
    State(state): State<ApiState>,
    namespace: Option<String>,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    let params = Params(params);
    let output = match table::negotiate(headers.get(header::ACCEPT)) {
        Ok(output) => output,
        Err(status) => return status_response(&status),
    };
    let published = state.published.load_full();
    if matches!(output, Output::Json) && params.whole_list() {
        let key = ListKey::pods(namespace.clone());
        return whole_list(published, key, &headers, move |published, now| {
            let pods = select::all_pod_metrics(published, namespace.as_deref());
            encode::pod_metrics_list_json(pods.iter(), now)
        })
        .await;
    }
    let many = published.pod_metrics.len() > BLOCKING_ENCODE_ITEMS;
    render(published, many, move |published| {
        let pods =
            match select::list_pod_metrics(published, namespace.as_deref(), &params.list_options())
            {
                Ok(pods) => pods,
                Err(status) => return status_response(&status),
            };
        if params.watch() {
            return status_response(&Status::method_not_supported(
                METRICS_GROUP,
                "pods",
                "watch",
            ));
        }
        let now = &ResponseTime::now();
        match output {
            Output::Json => json(
                StatusCode::OK,
                encode::pod_metrics_list_json(pods.iter().copied(), now),
            ),
            Output::Table(version) => match params.include() {
                Ok(include) => ok_json(
                    &table::pod_metrics_table(&pods, now, version, include),
                    pods.len() * POD_BYTES,
                ),
                Err(status) => status_response(&status),
            },
        }
    })
    .await
}

async fn pod_metrics_get(
    State(state): State<ApiState>,
    NamespaceAndName(namespace, name): NamespaceAndName,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    let params = Params(params);
    let output = match table::negotiate(headers.get(header::ACCEPT)) {
        Ok(output) => output,
        Err(status) => return status_response(&status),
    };
    let published = state.published.load();
    let object = match select::get_pod_metrics(&**published, &namespace, &name) {
        Ok(object) => object,
        Err(status) => return status_response(&status),
    };
    let now = &ResponseTime::now();
    match output {
        Output::Json => ok_json(
            &ServedPodMetrics {
                object,
                now,
                typed: true,
            },
            POD_BYTES,
        ),
        Output::Table(version) => match params.include() {
            Ok(include) => ok_json(
                &table::pod_metrics_table(&[object], now, version, include),
                POD_BYTES,
            ),
            Err(status) => status_response(&status),
        },
    }
}

async fn nodes_list(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    let params = Params(params);
    let output = match table::negotiate(headers.get(header::ACCEPT)) {
        Ok(output) => output,
        Err(status) => return status_response(&status),
    };
    let published = state.published.load_full();
    render(published, false, move |published| {
        let nodes: Vec<&Node> = match select::list_nodes(published, &params.list_options()) {
            Ok(nodes) => nodes.into_iter().map(|node| &**node).collect(),
            Err(status) => return status_response(&status),
        };
        if params.watch() {
            return status_response(&Status::method_not_supported("", "nodes", "watch"));
        }
        match output {
            Output::Json => ok_json(
                &ListBody {
                    kind: "NodeList",
                    api_version: "v1",
                    items: nodes.iter().copied(),
                },
                nodes.len() * NODE_BYTES,
            ),
            Output::Table(version) => match params.include() {
                Ok(include) => ok_json(
                    &table::nodes_table(&nodes, now(), version, include),
                    nodes.len() * NODE_BYTES,
                ),
                Err(status) => status_response(&status),
            },
        }
    })
    .await
}

async fn nodes_get(
    State(state): State<ApiState>,
    Name(name): Name,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    let params = Params(params);
    let output = match table::negotiate(headers.get(header::ACCEPT)) {
        Ok(output) => output,
        Err(status) => return status_response(&status),
    };
    let published = state.published.load();
    let node: &Node = match select::get_node(&**published, &name) {
        Ok(node) => node,
        Err(status) => return status_response(&status),
    };
    match output {
        Output::Json => ok_json(
            &Typed {
                kind: "Node",
                api_version: "v1",
                object: node,
            },
            NODE_BYTES,
        ),
        Output::Table(version) => match params.include() {
            Ok(include) => ok_json(
                &table::nodes_table(&[node], now(), version, include),
                NODE_BYTES,
            ),
            Err(status) => status_response(&status),
        },
    }
}

async fn pods_list_all(
    state: State<ApiState>,
    headers: HeaderMap,
    params: Query<Vec<(String, String)>>,
) -> Response {
    pods_list_in(state, None, headers, params).await
}

async fn pods_list(
    state: State<ApiState>,
    Name(namespace): Name,
    headers: HeaderMap,
    params: Query<Vec<(String, String)>>,
) -> Response {
    pods_list_in(state, Some(namespace), headers, params).await
}

async fn pods_list_in(
    State(state): State<ApiState>,
    namespace: Option<String>,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    let params = Params(params);
    let output = match table::negotiate(headers.get(header::ACCEPT)) {
        Ok(output) => output,
        Err(status) => return status_response(&status),
    };
    let published = state.published.load_full();
    let many = published.pods.len() > BLOCKING_ENCODE_ITEMS;
    render(published, many, move |published| {
        let pods: Vec<&Pod> =
            match select::list_pods(published, namespace.as_deref(), &params.list_options()) {
                Ok(pods) => pods.into_iter().map(|pod| &**pod).collect(),
                Err(status) => return status_response(&status),
            };
        if params.watch() {
            return status_response(&Status::method_not_supported("", "pods", "watch"));
        }
        match output {
            Output::Json => ok_json(
                &ListBody {
                    kind: "PodList",
                    api_version: "v1",
                    items: pods.iter().copied(),
                },
                pods.len() * POD_BYTES,
            ),
            Output::Table(version) => match params.include() {
                Ok(include) => ok_json(
                    &table::pods_table(&pods, now(), version, include),
                    pods.len() * POD_BYTES,
                ),
                Err(status) => status_response(&status),
            },
        }
    })
    .await
}

async fn pods_get(
    State(state): State<ApiState>,
    NamespaceAndName(namespace, name): NamespaceAndName,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    let params = Params(params);
    let output = match table::negotiate(headers.get(header::ACCEPT)) {
        Ok(output) => output,
        Err(status) => return status_response(&status),
    };
    let published = state.published.load();
    let pod: &Pod = match select::get_pod(&**published, &namespace, &name) {
        Ok(pod) => pod,
        Err(status) => return status_response(&status),
    };
    match output {
        Output::Json => ok_json(
            &Typed {
                kind: "Pod",
                api_version: "v1",
                object: pod,
            },
            POD_BYTES,
        ),
        Output::Table(version) => match params.include() {
            Ok(include) => ok_json(
                &table::pods_table(&[pod], now(), version, include),
                POD_BYTES,
            ),
            Err(status) => status_response(&status),
        },
    }
}

fn run_probe(state: &ApiState, probe: Probe, params: &Params) -> Response {
    let published = state.published.load();
    health::probe(
        probe,
        state.health.as_ref(),
        &published,
        Timestamp::now(),
        &params.all("exclude"),
        params.has("verbose"),
    )
}

fn run_single_check(state: &ApiState, probe: Probe, check: &str) -> Response {
    let published = state.published.load();
    health::single_check(
        probe,
        check,
        state.health.as_ref(),
        &published,
        Timestamp::now(),
    )
    .unwrap_or_else(|| status_response(&Status::no_such_path()))
}

async fn livez(
    State(state): State<ApiState>,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    run_probe(&state, Probe::Live, &Params(params))
}

async fn readyz(
    State(state): State<ApiState>,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    run_probe(&state, Probe::Ready, &Params(params))
}

async fn healthz(
    State(state): State<ApiState>,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    run_probe(&state, Probe::Health, &Params(params))
}

async fn livez_check(State(state): State<ApiState>, Path(check): Path<String>) -> Response {
    run_single_check(&state, Probe::Live, &check)
}

async fn readyz_check(State(state): State<ApiState>, Path(check): Path<String>) -> Response {
    run_single_check(&state, Probe::Ready, &check)
}

async fn healthz_check(State(state): State<ApiState>, Path(check): Path<String>) -> Response {
    run_single_check(&state, Probe::Health, &check)
}

/// `GET /metrics`: the server's own metrics.
async fn metrics(State(state): State<ApiState>) -> Response {
    let published = state.published.load();
    let text = state.health.render_metrics(&published, Timestamp::now());
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text,
    )
        .into_response()
}
