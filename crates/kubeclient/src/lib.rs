//! Clients of Kubernetes endpoints: the API server through a kubeconfig
//! (remote `top` and `explain`; the server's Kubernetes mode builds on the
//! same client) and kubelets or agents directly ([`kubelet`]).
//!
//! Remote `top` sends kubectl's requests to a real API server (or to our
//! own metrics server), with kubectl's kubeconfig rules, headers, query
//! strings, retries and error texts.
//!
//! [`RemoteSource`] is the [`MetricsSource`] the `top` flow runs against,
//! exactly as it runs against the local machine: one HTTP request per
//! method call, in kubectl's order, so the request sequence an API server
//! sees is kubectl's. The source is synchronous; it owns a current-thread
//! tokio runtime and blocks on each request.
//!
//! - [`config`]: which server, credentials and namespace (clientcmd's rules).
//! - [`transport`]: kube's HTTP client, client-go's retries and timeouts,
//!   Go's wording of connection failures.
//! - [`discovery`]: the `/api`, `/apis` check for `metrics.k8s.io/v1beta1`.
//! - [`decode`]: answers to objects, or to kubectl's errors.
//! - [`protobuf`]: the Kubernetes protobuf encoding, which servers send when
//!   asked as kubectl asks.
//! - [`gojson`]: Go's JSON syntax errors.
//! - [`kubelet`]: one bounded GET against a kubelet or agent (the server's
//!   scrapes, `explain --agent`).
//! - [`explain`]: a node's endpoints for `workingset explain`, directly or
//!   through the API server's node proxy.
//! - [`doctor`]: `workingset doctor`, why `kubectl top` fails in a cluster.

mod config;
mod decode;
mod discovery;
pub mod doctor;
pub mod explain;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod gojson;
pub mod kubelet;
pub mod protobuf;
pub mod proxy;
mod transport;

use std::fmt::Write as _;

use tokio::runtime::Runtime;
use workingset_model::metrics::{Node, NodeMetrics, Pod, PodMetrics};
use workingset_top::{KubectlVersion, MetricsSource, Query, SourceError};

pub use config::{Environment, KubeArgs, parse_go_bool, remote_wanted};
use decode::{FromWire, JSON, PROTOBUF, Resource};
use transport::ApiClient;

/// The log filter of `top` unless `--log` says otherwise.
pub const DEFAULT_LOG: &str = "warn,kube_client=off,rustls_platform_verifier=off";

const METRICS_PREFIX: &str = "/apis/metrics.k8s.io/v1beta1";
const METRICS_GROUP: &str = "metrics.k8s.io";

/// How `top` is to talk to the server.
#[derive(Debug, Clone, Copy)]
pub struct RemoteOptions<'a> {
    /// `-n` of `top pod` (`None` for `top node`, or when not given).
    pub namespace: Option<&'a str>,
    /// Whether this is `top pod`, which resolves the namespace first.
    pub for_pods: bool,
    /// The kubectl release whose requests to send.
    pub kubectl: KubectlVersion,
    /// `--use-protocol-buffers`.
    pub use_protocol_buffers: bool,
}

/// A [`MetricsSource`] backed by an API server.
#[derive(Debug)]
pub struct RemoteSource {
    runtime: Runtime,
    client: ApiClient,
    kubectl: KubectlVersion,
    use_protocol_buffers: bool,
    /// `timeout=…` that client-go adds, with `--request-timeout`, to
    /// discovery and single-object requests.
    timeout_param: Option<String>,
}

impl RemoteSource {
    /// Resolves the kubeconfig and builds the client, as kubectl's
    /// `Complete` step does (no request is sent yet). Returns the source
    /// and the namespace `top pod` uses: `-n`, else the context's.
    pub fn connect(
        args: &KubeArgs,
        env: &Environment,
        options: RemoteOptions<'_>,
    ) -> Result<(Self, String), SourceError> {
        // kube builds its TLS configuration with rustls' process-wide
        // provider: make that ring. Already installed is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| SourceError::Other(format!("cannot start the async runtime: {e}")))?;
        let (client, resolved_namespace, timeout) = runtime.block_on(async {
            let resolved = config::resolve(args, options.namespace, options.for_pods, env).await?;
            let client = ApiClient::new(&resolved.config, resolved.timeout, options.kubectl)?;
            Ok::<_, SourceError>((client, resolved.namespace, resolved.timeout))
        })?;
        let timeout_param = timeout.map(|t| workingset_model::duration::GoDuration(t).to_string());
        Ok((
            Self {
                runtime,
                client,
                kubectl: options.kubectl,
                use_protocol_buffers: options.use_protocol_buffers,
                timeout_param,
            },
            resolved_namespace,
        ))
    }

    /// GET with kubectl's query parameters (sorted by name, as Go's
    /// `url.Values.Encode` writes them).
    ///
    /// A typed list gets no `timeout` parameter: client-go's generated list
    /// code resets the request's timeout (to the unset `timeoutSeconds` of
    /// its list options).
    fn get(
        &mut self,
        path: &str,
        params: &[(&str, &str)],
        accept: &str,
        typed_list: bool,
    ) -> Result<transport::Answer, SourceError> {
        let mut params: Vec<(&str, &str)> = params
            .iter()
            .copied()
            .filter(|(_, v)| !v.is_empty())
            .collect();
        if let Some(timeout) = self.timeout_param.as_deref().filter(|_| !typed_list) {
            params.push(("timeout", timeout));
        }
        params.sort_by(|a, b| a.0.cmp(b.0));
        let mut target = path.to_owned();
        for (i, (name, value)) in params.iter().enumerate() {
            target.push(if i == 0 { '?' } else { '&' });
            let _ = write!(target, "{}={}", query_escape(name), query_escape(value));
        }
        tracing::debug!(%target, accept, "GET");
        let client = self.client.clone();
        self.runtime
            .block_on(async move { client.get(&target, accept, !typed_list).await })
    }

    /// The `Accept` header of Metrics API requests.
    fn metrics_accept(&self) -> &'static str {
        if self.use_protocol_buffers {
            "application/vnd.kubernetes.protobuf, */*"
        } else {
            self.core_accept()
        }
    }

    /// The `Accept` header of core API requests (and, from 1.32, of metrics
    /// requests without protobuf): client-go's default changed in 1.32.
    fn core_accept(&self) -> &'static str {
        if self.kubectl >= KubectlVersion::V1_32 {
            "application/vnd.kubernetes.protobuf,application/json"
        } else {
            "application/json, */*"
        }
    }

    /// The content type client-go assumes for an answer without one: the
    /// one its client was configured to send.
    fn metrics_content_type(&self) -> &'static str {
        if self.use_protocol_buffers {
            PROTOBUF
        } else {
            self.core_content_type()
        }
    }

    fn core_content_type(&self) -> &'static str {
        if self.kubectl >= KubectlVersion::V1_32 {
            PROTOBUF
        } else {
            JSON
        }
    }

    /// One typed request: the collection path, the query, and how to read
    /// the answer.
    fn typed<T: FromWire>(
        &mut self,
        collection: &str,
        namespace: Option<&str>,
        group: &str,
        resource: &str,
        query: Query<'_>,
        metrics: bool,
    ) -> Result<Vec<T>, SourceError> {
        let mut objects = Vec::new();
        let target = Typed {
            collection,
            namespace,
            group,
            resource,
            metrics,
        };
        self.typed_each(target, query, &mut |object| objects.push(object))?;
        Ok(objects)
    }

    /// [`typed`](Self::typed), handing each object to `each` as it is
    /// decoded.
    fn typed_each<T: FromWire>(
        &mut self,
        target: Typed<'_>,
        query: Query<'_>,
        each: &mut dyn FnMut(T),
    ) -> Result<(), SourceError> {
        let Typed {
            collection,
            namespace,
            group,
            resource,
            metrics,
        } = target;
        let (accept, content_type) = if metrics {
            (self.metrics_accept(), self.metrics_content_type())
        } else {
            (self.core_accept(), self.core_content_type())
        };
        let mut path = collection.to_owned();
        if let Some(namespace) = namespace {
            check_segment("namespace", namespace)?;
            path = path.replace("{namespace}", &path_escape(namespace));
        }
        let (answer, name, list) = match query {
            Query::Get(name) => {
                check_name(name)?;
                let answer =
                    self.get(&format!("{path}/{}", path_escape(name)), &[], accept, false)?;
                (answer, Some(name), false)
            }
            Query::List {
                label_selector,
                field_selector,
            } => {
                let params = [
                    ("labelSelector", label_selector),
                    ("fieldSelector", field_selector),
                ];
                (self.get(&path, &params, accept, true)?, None, true)
            }
        };
        let resource = Resource {
            group,
            resource,
            name,
        };
        decode::each_object(&answer, resource, list, content_type, each)
    }

    /// Where `top pod` asks for pod metrics: all namespaces or one.
    fn pod_metrics_collection(
        &self,
        namespace: Option<&str>,
        query: Query<'_>,
    ) -> Result<String, SourceError> {
        // `top pod NAME -A`: client-go up to 1.30 refuses a named GET in no
        // namespace before sending it; later releases send it.
        if namespace.is_none()
            && matches!(query, Query::Get(_))
            && self.kubectl <= KubectlVersion::V1_30
        {
            return Err(SourceError::Other(
                "an empty namespace may not be set when a resource name is provided".to_owned(),
            ));
        }
        Ok(match namespace {
            Some(_) => format!("{METRICS_PREFIX}/namespaces/{{namespace}}/pods"),
            None => format!("{METRICS_PREFIX}/pods"),
        })
    }
}

/// What a typed request asks for, apart from its query.
#[derive(Debug, Clone, Copy)]
struct Typed<'a> {
    /// The collection's path, `{namespace}` standing for the namespace.
    collection: &'a str,
    namespace: Option<&'a str>,
    group: &'a str,
    resource: &'a str,
    /// A Metrics API request (its own `Accept` and content type).
    metrics: bool,
}

impl MetricsSource for RemoteSource {
    fn metrics_api_available(&mut self) -> Result<bool, SourceError> {
        let accept = discovery::accept(self.kubectl);
        let legacy = self.get("/api", &[], &accept, false)?;
        discovery::check_legacy(&legacy, self.kubectl)?;
        let groups = self.get("/apis", &[], &accept, false)?;
        discovery::metrics_served(&groups, self.kubectl)
    }

    fn node_metrics(&mut self, query: Query<'_>) -> Result<Vec<NodeMetrics>, SourceError> {
        self.typed(
            &format!("{METRICS_PREFIX}/nodes"),
            None,
            METRICS_GROUP,
            "nodes",
            query,
            true,
        )
    }

    fn nodes(&mut self, query: Query<'_>) -> Result<Vec<Node>, SourceError> {
        self.typed("/api/v1/nodes", None, "", "nodes", query, false)
    }

    fn pod_metrics(
        &mut self,
        namespace: Option<&str>,
        query: Query<'_>,
    ) -> Result<Vec<PodMetrics>, SourceError> {
        let collection = self.pod_metrics_collection(namespace, query)?;
        self.typed(&collection, namespace, METRICS_GROUP, "pods", query, true)
    }

    fn each_pod_metrics(
        &mut self,
        namespace: Option<&str>,
        query: Query<'_>,
        each: &mut dyn FnMut(PodMetrics),
    ) -> Result<(), SourceError> {
        let collection = self.pod_metrics_collection(namespace, query)?;
        let target = Typed {
            collection: &collection,
            namespace,
            group: METRICS_GROUP,
            resource: "pods",
            metrics: true,
        };
        self.typed_each(target, query, each)
    }

    fn pods(&mut self, namespace: &str, query: Query<'_>) -> Result<Vec<Pod>, SourceError> {
        self.typed(
            "/api/v1/namespaces/{namespace}/pods",
            Some(namespace),
            "",
            "pods",
            query,
            false,
        )
    }
}

/// client-go's `Request.Name`: the name must be usable as a path segment.
fn check_name(name: &str) -> Result<(), SourceError> {
    if name.is_empty() {
        return Err(SourceError::Other(
            "resource name may not be empty".to_owned(),
        ));
    }
    check_segment("resource name", name)
}

/// apimachinery's `IsValidPathSegmentName`, worded as client-go's request
/// builder reports it.
fn check_segment(what: &str, segment: &str) -> Result<(), SourceError> {
    let problems: Vec<String> = if segment == "." || segment == ".." {
        vec![format!("may not be '{segment}'")]
    } else {
        ["/", "%"]
            .iter()
            .filter(|bad| segment.contains(*bad))
            .map(|bad| format!("may not contain '{bad}'"))
            .collect()
    };
    if problems.is_empty() {
        return Ok(());
    }
    Err(SourceError::Other(format!(
        "invalid {what} {}: [{}]",
        workingset_model::selector::GoQuoted(segment),
        problems.join(" ")
    )))
}

/// Go's `url.QueryEscape`.
fn query_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{byte:02X}");
            }
        }
    }
    out
}

/// Go's escaping of a URL path (`url.URL.EscapedPath`).
fn path_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'_'
            | b'.'
            | b'~'
            | b'$'
            | b'&'
            | b'+'
            | b','
            | b'/'
            | b':'
            | b';'
            | b'='
            | b'@' => out.push(char::from(byte)),
            _ => {
                let _ = write!(out, "%{byte:02X}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_follows_go() {
        assert_eq!(query_escape("app in (db,web)"), "app+in+%28db%2Cweb%29");
        assert_eq!(query_escape("a=b"), "a%3Db");
        assert_eq!(path_escape("web 1"), "web%201");
        assert_eq!(path_escape("a:b@c"), "a:b@c");
        assert_eq!(path_escape("x?y#z"), "x%3Fy%23z");
    }

    #[test]
    fn names_must_be_path_segments() {
        assert!(check_name("web-1").is_ok());
        assert_eq!(
            check_name("a/b").unwrap_err().to_string(),
            "error: invalid resource name \"a/b\": [may not contain '/']"
        );
        assert_eq!(
            check_name("..").unwrap_err().to_string(),
            "error: invalid resource name \"..\": [may not be '..']"
        );
        assert_eq!(
            check_segment("namespace", "a%/b").unwrap_err().to_string(),
            "error: invalid namespace \"a%/b\": [may not contain '/' may not contain '%']"
        );
    }
}
