//! Delegated authentication (k8s.io/apiserver's), tried in upstream's
//! order; the first that authenticates wins:
//!
//! 1. **Front proxy** (requestheader): a client certificate that chains to
//!    the requestheader CA and, when allowed names are set, whose CN is
//!    one of them; the user is then read from the username, group and
//!    extra headers (`X-Remote-User`, `X-Remote-Group`,
//!    `X-Remote-Extra-*` by default). This is how the kube-apiserver's
//!    aggregator passes its callers on.
//! 2. **Client certificate**: one that chains to the client CA; the user
//!    is its CN, the groups its O values.
//! 3. **Bearer token**: a `TokenReview` to the API server, cached for the
//!    TTL (10 s by default; errors are not cached).
//!
//! When none applies and nothing failed, the request is anonymous
//! (`system:anonymous`, group `system:unauthenticated`), as upstream with
//! anonymous auth on; when a credential was presented and failed, the
//! answer is 401 (a bad token is never anonymous).
//!
//! The two CAs and the header names come from flags or, when not given,
//! from the `kube-system/extension-apiserver-authentication` ConfigMap,
//! watched so a rotated CA takes effect without a restart.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use super::cache::TtlCache;
use axum::http::HeaderMap;
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use kube::api::{Api, PostParams};
use rustls::server::danger::ClientCertVerifier;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, UnixTime};

/// The user a request runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// User name.
    pub name: String,
    /// UID, when the authenticator gives one.
    pub uid: String,
    /// Groups.
    pub groups: Vec<String>,
    /// Extra attributes.
    pub extra: BTreeMap<String, Vec<String>>,
}

/// The anonymous user's name and group.
pub const ANONYMOUS: &str = "system:anonymous";
const UNAUTHENTICATED: &str = "system:unauthenticated";
const AUTHENTICATED: &str = "system:authenticated";

impl User {
    fn anonymous() -> Self {
        Self {
            name: ANONYMOUS.to_owned(),
            uid: String::new(),
            groups: vec![UNAUTHENTICATED.to_owned()],
            extra: BTreeMap::new(),
        }
    }

    /// Adds `system:authenticated`, as upstream does for every
    /// authenticated user.
    fn authenticated(mut self) -> Self {
        if !self.groups.iter().any(|g| g == AUTHENTICATED) {
            self.groups.push(AUTHENTICATED.to_owned());
        }
        self
    }
}

/// A CA that client certificates are verified against.
#[derive(Clone)]
pub struct CaVerifier {
    verifier: Arc<dyn ClientCertVerifier>,
    /// Where the CA came from, for messages.
    pub source: String,
}

impl std::fmt::Debug for CaVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaVerifier")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl CaVerifier {
    /// A verifier for the PEM certificates in `pem`.
    pub fn from_pem(pem: &[u8], source: &str) -> Result<Self, String> {
        let mut roots = rustls::RootCertStore::empty();
        for certificate in CertificateDer::pem_slice_iter(pem) {
            let certificate = certificate.map_err(|e| format!("{source}: not valid PEM ({e})"))?;
            roots
                .add(certificate)
                .map_err(|e| format!("{source}: a certificate cannot be used ({e})"))?;
        }
        if roots.is_empty() {
            return Err(format!("{source}: holds no certificate"));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("{source}: {e}"))?;
        Ok(Self {
            verifier,
            source: source.to_owned(),
        })
    }

    fn verify(&self, chain: &[CertificateDer<'static>]) -> Result<(), String> {
        let Some((leaf, intermediates)) = chain.split_first() else {
            return Err("no client certificate".to_owned());
        };
        self.verifier
            .verify_client_cert(leaf, intermediates, UnixTime::now())
            .map(|_| ())
            .map_err(|error| format!("verifying certificate against {}: {error}", self.source))
    }
}

/// The front proxy's certificate and headers.
#[derive(Debug, Clone)]
pub struct RequestHeader {
    /// The CA of the front proxy's client certificate.
    pub ca: CaVerifier,
    /// CNs allowed to act as front proxy; empty allows any the CA signed.
    pub allowed_names: Vec<String>,
    /// Headers holding the user name, first non-empty wins.
    pub username_headers: Vec<String>,
    /// Headers holding groups (every value of every one).
    pub group_headers: Vec<String>,
    /// Prefixes of headers holding extra attributes.
    pub extra_prefixes: Vec<String>,
}

/// What certificate authentication uses; swapped when the ConfigMap changes.
#[derive(Debug, Clone, Default)]
pub struct CertificateAuthn {
    /// Front proxy.
    pub request_header: Option<RequestHeader>,
    /// Client certificates.
    pub client_ca: Option<CaVerifier>,
}

/// Bearer tokens through `TokenReview`.
pub struct TokenReviewer {
    client: kube::Client,
    ttl: Duration,
    cache: TtlCache<Option<User>>,
}

impl std::fmt::Debug for TokenReviewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenReviewer")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl TokenReviewer {
    /// Reviews through `client`, caching answers for `ttl`.
    pub fn new(client: kube::Client, ttl: Duration) -> Self {
        Self {
            client,
            ttl,
            cache: TtlCache::new(),
        }
    }

    /// The token's user, `None` when the API server does not know it.
    async fn review(&self, token: &str) -> Result<Option<User>, String> {
        if let Some(user) = self.cache.get(token) {
            return Ok(user);
        }
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: Some(token.to_owned()),
                ..TokenReviewSpec::default()
            },
            ..TokenReview::default()
        };
        let answer = Api::<TokenReview>::all(self.client.clone())
            .create(&PostParams::default(), &review)
            .await
            .map_err(|error| format!("the TokenReview failed: {error}"))?;
        let status = answer.status.unwrap_or_default();
        let user = match (status.authenticated, status.user) {
            (Some(true), Some(user)) => Some(User {
                name: user.username.unwrap_or_default(),
                uid: user.uid.unwrap_or_default(),
                groups: user.groups.unwrap_or_default(),
                extra: user.extra.unwrap_or_default(),
            }),
            _ => None,
        };
        self.cache.insert(token.to_owned(), user.clone(), self.ttl);
        Ok(user)
    }
}

/// All of authentication.
#[derive(Debug)]
pub struct Authenticator {
    certificates: ArcSwap<CertificateAuthn>,
    tokens: Option<TokenReviewer>,
    anonymous: bool,
}

impl Authenticator {
    /// An authenticator with these parts.
    pub fn new(
        certificates: CertificateAuthn,
        tokens: Option<TokenReviewer>,
        anonymous: bool,
    ) -> Self {
        Self {
            certificates: ArcSwap::from_pointee(certificates),
            tokens,
            anonymous,
        }
    }

    /// Replaces the certificate part (the ConfigMap changed).
    pub fn set_certificates(&self, certificates: CertificateAuthn) {
        self.certificates.store(Arc::new(certificates));
    }

    /// The request's user, or why it has none (answered 401).
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        peer: Option<&[CertificateDer<'static>]>,
    ) -> Result<User, String> {
        let certificates = self.certificates.load();
        let mut errors = Vec::new();
        if let Some(chain) = peer {
            if let Some(front_proxy) = &certificates.request_header {
                match front_proxy.authenticate(headers, chain) {
                    Ok(Some(user)) => return Ok(user.authenticated()),
                    Ok(None) => {}
                    Err(error) => errors.push(error),
                }
            }
            if let Some(ca) = &certificates.client_ca {
                match ca.verify(chain) {
                    Ok(()) => return subject_user(chain).map(User::authenticated),
                    Err(error) => errors.push(error),
                }
            }
            if certificates.request_header.is_none() && certificates.client_ca.is_none() {
                errors
                    .push("no client CA is configured (yet) to verify the certificate".to_owned());
            }
        }
        if let Some(token) = bearer_token(headers) {
            match &self.tokens {
                Some(reviewer) => match reviewer.review(token).await {
                    Ok(Some(user)) => return Ok(user.authenticated()),
                    Ok(None) => errors.push("invalid bearer token".to_owned()),
                    Err(error) => errors.push(error),
                },
                None => errors.push("invalid bearer token (no token reviewer)".to_owned()),
            }
        }
        if errors.is_empty() && self.anonymous {
            return Ok(User::anonymous());
        }
        if errors.is_empty() {
            errors.push("no credentials".to_owned());
        }
        Err(errors.join("; "))
    }
}

impl RequestHeader {
    /// `Ok(None)`: the certificate is the front proxy's but no user header
    /// came with it (not this authenticator's request).
    fn authenticate(
        &self,
        headers: &HeaderMap,
        chain: &[CertificateDer<'static>],
    ) -> Result<Option<User>, String> {
        self.ca.verify(chain)?;
        if !self.allowed_names.is_empty() {
            let name = common_name(chain)?;
            if !self.allowed_names.contains(&name) {
                return Err(format!(
                    "requestheader: client certificate CN {name:?} is not one of the allowed names {:?}",
                    self.allowed_names
                ));
            }
        }
        let Some(name) = self
            .username_headers
            .iter()
            .filter_map(|header| headers.get(header.as_str()))
            .filter_map(|value| value.to_str().ok())
            .find(|value| !value.is_empty())
        else {
            return Ok(None);
        };
        let groups = self
            .group_headers
            .iter()
            .flat_map(|header| headers.get_all(header.as_str()))
            .filter_map(|value| value.to_str().ok())
            .map(str::to_owned)
            .collect();
        let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (header, value) in headers {
            for prefix in &self.extra_prefixes {
                let header = header.as_str();
                if header.len() > prefix.len()
                    && header[..prefix.len()].eq_ignore_ascii_case(prefix)
                    && let Ok(value) = value.to_str()
                {
                    let key = percent_decode(&header[prefix.len()..].to_ascii_lowercase());
                    extra.entry(key).or_default().push(value.to_owned());
                }
            }
        }
        Ok(Some(User {
            name: name.to_owned(),
            uid: String::new(),
            groups,
            extra,
        }))
    }
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = text.get(i + 1..i + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn common_name(chain: &[CertificateDer<'static>]) -> Result<String, String> {
    Ok(subject(chain)?.0)
}

/// The leaf's CN and O values.
fn subject(chain: &[CertificateDer<'static>]) -> Result<(String, Vec<String>), String> {
    let leaf = chain.first().ok_or("no client certificate")?;
    let (_, certificate) = x509_parser::parse_x509_certificate(leaf.as_ref())
        .map_err(|error| format!("cannot parse the client certificate: {error}"))?;
    let subject = certificate.subject();
    let name = subject
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .unwrap_or_default()
        .to_owned();
    let groups = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok())
        .map(str::to_owned)
        .collect();
    Ok((name, groups))
}

fn subject_user(chain: &[CertificateDer<'static>]) -> Result<User, String> {
    let (name, groups) = subject(chain)?;
    if name.is_empty() {
        return Err("the client certificate has no common name".to_owned());
    }
    Ok(User {
        name,
        uid: String::new(),
        groups,
        extra: BTreeMap::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_read_as_upstream_reads_them() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            "Bearer abc"
                .parse()
                .unwrap_or_else(|_| unreachable_header()),
        );
        assert_eq!(bearer_token(&headers), Some("abc"));
        headers.insert(
            "authorization",
            "Basic abc".parse().unwrap_or_else(|_| unreachable_header()),
        );
        assert_eq!(bearer_token(&headers), None);
    }

    fn unreachable_header() -> axum::http::HeaderValue {
        axum::http::HeaderValue::from_static("")
    }

    #[test]
    fn extra_keys_are_unescaped_and_lowercased() {
        assert_eq!(percent_decode("scopes%2fa"), "scopes/a");
        assert_eq!(percent_decode("plain"), "plain");
        assert_eq!(percent_decode("bad%zz"), "bad%zz");
    }

    #[tokio::test]
    async fn no_credentials_is_anonymous_and_a_bad_token_is_not() {
        let authenticator = Authenticator::new(CertificateAuthn::default(), None, true);
        let user = authenticator.authenticate(&HeaderMap::new(), None).await;
        assert_eq!(user.map(|u| u.name), Ok(ANONYMOUS.to_owned()));
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            axum::http::HeaderValue::from_static("Bearer nope"),
        );
        assert!(authenticator.authenticate(&headers, None).await.is_err());
    }
}
