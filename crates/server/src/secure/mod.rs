//! The secure port's gate: every request is authenticated ([`authn`]) and
//! authorized ([`authz`]) before it reaches the Metrics API, as
//! k8s.io/apiserver's delegated authn/authz does for metrics-server.
//! Failures are answered as the API server answers them: 401 `Status`
//! `Unauthorized`, 403 `Status` `Forbidden` with upstream's message, 500
//! when a review could not be made.

pub mod attributes;
pub mod authn;
pub mod authz;
pub mod cache;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt as _;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use kube::runtime::{WatchStreamExt as _, watcher};
use tokio::task::JoinHandle;
use workingset_httpd::secure::PeerCertificates;
use workingset_model::status::Status;

use crate::api::status_response;

use self::attributes::Attributes;
use self::authn::{Authenticator, CaVerifier, CertificateAuthn, RequestHeader, TokenReviewer};
use self::authz::{Authorizer, AuthorizerConfig, Decision, forbidden_message};

/// Where the kube-apiserver publishes its client CAs and front-proxy
/// settings for extension API servers.
pub const AUTHENTICATION_CONFIGMAP_NAMESPACE: &str = "kube-system";
/// See [`AUTHENTICATION_CONFIGMAP_NAMESPACE`].
pub const AUTHENTICATION_CONFIGMAP: &str = "extension-apiserver-authentication";
/// k8s.io/apiserver's default headers.
pub const DEFAULT_USERNAME_HEADERS: &[&str] = &["X-Remote-User"];
/// See [`DEFAULT_USERNAME_HEADERS`].
pub const DEFAULT_GROUP_HEADERS: &[&str] = &["X-Remote-Group"];
/// See [`DEFAULT_USERNAME_HEADERS`].
pub const DEFAULT_EXTRA_PREFIXES: &[&str] = &["X-Remote-Extra-"];

/// The front-proxy flags (`--requestheader-*`).
#[derive(Debug, Clone, Default)]
pub struct RequestHeaderOptions {
    /// `--requestheader-client-ca-file`; when given, these flags are the
    /// front-proxy configuration, otherwise the ConfigMap's is.
    pub client_ca_file: Option<PathBuf>,
    /// `--requestheader-allowed-names`.
    pub allowed_names: Vec<String>,
    /// `--requestheader-username-headers`.
    pub username_headers: Vec<String>,
    /// `--requestheader-group-headers`.
    pub group_headers: Vec<String>,
    /// `--requestheader-extra-headers-prefix`.
    pub extra_prefixes: Vec<String>,
}

/// Everything the gate needs.
#[derive(Clone)]
pub struct SecureOptions {
    /// The API server for TokenReviews and the ConfigMap
    /// (`--authentication-kubeconfig`, default the main one).
    pub authentication_client: Option<kube::Client>,
    /// `--client-ca-file`; the ConfigMap's `client-ca-file` when not given.
    pub client_ca_file: Option<PathBuf>,
    /// Front proxy.
    pub request_header: RequestHeaderOptions,
    /// `--authentication-token-webhook-cache-ttl`.
    pub token_cache_ttl: Duration,
    /// Requests without credentials run as `system:anonymous`.
    pub anonymous: bool,
    /// Authorization.
    pub authorization: AuthorizerConfig,
}

impl std::fmt::Debug for SecureOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecureOptions")
            .field("client_ca_file", &self.client_ca_file)
            .field("request_header", &self.request_header)
            .field("authorization", &self.authorization)
            .finish_non_exhaustive()
    }
}

/// The gate could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SecureError {
    /// A CA file cannot be read or used.
    #[error("{flag}: cannot use {path}: {problem}")]
    CaFile {
        /// The flag.
        flag: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
}

/// Authentication and authorization of the secure port; the ConfigMap
/// watch stops when it is dropped.
#[derive(Debug)]
pub struct Guard {
    authenticator: Arc<Authenticator>,
    authorizer: Authorizer,
    watch: Option<JoinHandle<()>>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(watch) = &self.watch {
            watch.abort();
        }
    }
}

fn read_ca(flag: &'static str, path: &PathBuf) -> Result<CaVerifier, SecureError> {
    let problem = |problem: String| SecureError::CaFile {
        flag,
        path: path.clone(),
        problem,
    };
    let pem = std::fs::read(path).map_err(|error| problem(error.to_string()))?;
    CaVerifier::from_pem(&pem, &path.display().to_string()).map_err(problem)
}

fn or_defaults(given: &[String], defaults: &[&str]) -> Vec<String> {
    if given.is_empty() {
        defaults.iter().map(|d| (*d).to_owned()).collect()
    } else {
        given.to_vec()
    }
}

impl Guard {
    /// Reads the flag files, and — when a CA is not given by flag and there
    /// is an API server — starts watching the authentication ConfigMap.
    pub fn start(options: SecureOptions) -> Result<Arc<Guard>, SecureError> {
        let flag_client_ca = options
            .client_ca_file
            .as_ref()
            .map(|path| read_ca("--client-ca-file", path))
            .transpose()?;
        let header_options = &options.request_header;
        let flag_request_header = header_options
            .client_ca_file
            .as_ref()
            .map(|path| -> Result<RequestHeader, SecureError> {
                Ok(RequestHeader {
                    ca: read_ca("--requestheader-client-ca-file", path)?,
                    allowed_names: header_options.allowed_names.clone(),
                    username_headers: or_defaults(
                        &header_options.username_headers,
                        DEFAULT_USERNAME_HEADERS,
                    ),
                    group_headers: or_defaults(
                        &header_options.group_headers,
                        DEFAULT_GROUP_HEADERS,
                    ),
                    extra_prefixes: or_defaults(
                        &header_options.extra_prefixes,
                        DEFAULT_EXTRA_PREFIXES,
                    ),
                })
            })
            .transpose()?;
        let from_flags = CertificateAuthn {
            request_header: flag_request_header,
            client_ca: flag_client_ca,
        };
        let tokens = options
            .authentication_client
            .clone()
            .map(|client| TokenReviewer::new(client, options.token_cache_ttl));
        let authenticator = Arc::new(Authenticator::new(
            from_flags.clone(),
            tokens,
            options.anonymous,
        ));
        let needs_configmap = from_flags.request_header.is_none() || from_flags.client_ca.is_none();
        let watch = match (&options.authentication_client, needs_configmap) {
            (Some(client), true) => Some(tokio::spawn(watch_configmap(
                client.clone(),
                from_flags,
                Arc::clone(&authenticator),
            ))),
            _ => None,
        };
        Ok(Arc::new(Guard {
            authenticator,
            authorizer: Authorizer::new(options.authorization),
            watch,
        }))
    }
}

/// Keeps the authenticator's CAs in step with the ConfigMap (for the parts
/// the flags do not set).
async fn watch_configmap(
    client: kube::Client,
    from_flags: CertificateAuthn,
    authenticator: Arc<Authenticator>,
) {
    let api = Api::<ConfigMap>::namespaced(client, AUTHENTICATION_CONFIGMAP_NAMESPACE);
    let config =
        watcher::Config::default().fields(&format!("metadata.name={AUTHENTICATION_CONFIGMAP}"));
    let mut stream = std::pin::pin!(watcher(api, config).default_backoff().applied_objects());
    let mut failing = false;
    while let Some(event) = stream.next().await {
        match event {
            Ok(configmap) => {
                failing = false;
                let loaded = from_configmap(&configmap);
                let certificates = CertificateAuthn {
                    request_header: from_flags.request_header.clone().or(loaded.request_header),
                    client_ca: from_flags.client_ca.clone().or(loaded.client_ca),
                };
                tracing::info!(
                    front_proxy = certificates.request_header.is_some(),
                    client_ca = certificates.client_ca.is_some(),
                    "Authentication configuration loaded from kube-system/{AUTHENTICATION_CONFIGMAP}"
                );
                authenticator.set_certificates(certificates);
            }
            Err(error) => {
                if !std::mem::replace(&mut failing, true) {
                    tracing::warn!(%error, "Cannot read kube-system/{AUTHENTICATION_CONFIGMAP}; front-proxy and client-certificate authentication wait for it (the server's service account needs the extension-apiserver-authentication-reader role)");
                }
            }
        }
    }
}

/// The ConfigMap's CAs and front-proxy settings; a key that cannot be used
/// is logged and left out.
fn from_configmap(configmap: &ConfigMap) -> CertificateAuthn {
    let data = configmap.data.clone().unwrap_or_default();
    let list = |key: &str| -> Vec<String> {
        data.get(key)
            .and_then(|text| serde_json::from_str::<Vec<String>>(text).ok())
            .unwrap_or_default()
    };
    let ca = |key: &str| {
        data.get(key).and_then(|pem| {
            CaVerifier::from_pem(pem.as_bytes(), &format!("{AUTHENTICATION_CONFIGMAP}/{key}"))
                .map_err(
                    |error| tracing::warn!(%error, "Ignoring a CA of the authentication ConfigMap"),
                )
                .ok()
        })
    };
    let request_header = ca("requestheader-client-ca-file").map(|ca| RequestHeader {
        ca,
        allowed_names: list("requestheader-allowed-names"),
        username_headers: or_defaults(
            &list("requestheader-username-headers"),
            DEFAULT_USERNAME_HEADERS,
        ),
        group_headers: or_defaults(&list("requestheader-group-headers"), DEFAULT_GROUP_HEADERS),
        extra_prefixes: or_defaults(
            &list("requestheader-extra-headers-prefix"),
            DEFAULT_EXTRA_PREFIXES,
        ),
    });
    CertificateAuthn {
        request_header,
        client_ca: ca("client-ca-file"),
    }
}

/// The axum middleware: authenticate, authorize, then pass on.
pub async fn guard(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    let attributes = Attributes::of(request.method(), request.uri());
    let peer = request
        .extensions()
        .get::<PeerCertificates>()
        .map(|certificates| Arc::clone(&certificates.0));
    let user = match guard
        .authenticator
        .authenticate(request.headers(), peer.as_deref().map(Vec::as_slice))
        .await
    {
        Ok(user) => user,
        Err(error) => {
            tracing::debug!(%error, path = request.uri().path(), "Unable to authenticate the request");
            return status_response(&Status::unauthorized());
        }
    };
    match guard.authorizer.authorize(&user, &attributes).await {
        Ok(Decision::Allow) => next.run(request).await,
        Ok(Decision::Deny(reason)) => {
            tracing::debug!(user = %user.name, ?attributes, "Forbidden");
            let message = forbidden_message(&user, &attributes, &reason);
            let status = match &attributes {
                Attributes::Resource {
                    group,
                    resource,
                    name,
                    ..
                } => Status::forbidden(group, resource, name, &message),
                Attributes::NonResource { .. } => Status::forbidden("", "", "", &message),
            };
            status_response(&status)
        }
        Err(error) => {
            tracing::warn!(%error, "Cannot authorize a request");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"))],
                format!(
                    "Internal Server Error: {:?}: {error}",
                    request.uri().to_string()
                ),
            )
                .into_response()
        }
    }
}
