//! Delegated authorization (k8s.io/apiserver's): paths in
//! `--authorization-always-allow-paths` and the `system:masters` group are
//! allowed without asking; everything else is a `SubjectAccessReview` to
//! the API server, whose answers are cached (allowed and denied for their
//! own TTLs, 10 s each by default; errors never).

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};

use workingset_model::selector::GoQuoted;

use super::attributes::Attributes;
use super::authn::User;
use super::cache::TtlCache;

/// The group whose members are allowed everything without a review.
pub const PRIVILEGED_GROUP: &str = "system:masters";

/// A decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Go on.
    Allow,
    /// 403, with the reviewer's reason (may be empty).
    Deny(String),
}

/// How to reach the reviewer and how long to trust its answers.
#[derive(Clone)]
pub struct AuthorizerConfig {
    /// The API server (`--authorization-kubeconfig`); `None` denies every
    /// request that is not always allowed.
    pub client: Option<kube::Client>,
    /// `--authorization-always-allow-paths`: exact paths, or prefixes
    /// ending in `*`.
    pub always_allow_paths: Vec<String>,
    /// `--authorization-webhook-cache-authorized-ttl`.
    pub allowed_ttl: Duration,
    /// `--authorization-webhook-cache-unauthorized-ttl`.
    pub denied_ttl: Duration,
}

impl std::fmt::Debug for AuthorizerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizerConfig")
            .field("always_allow_paths", &self.always_allow_paths)
            .field("allowed_ttl", &self.allowed_ttl)
            .field("denied_ttl", &self.denied_ttl)
            .finish_non_exhaustive()
    }
}

/// The authorizer with its cache.
#[derive(Debug)]
pub struct Authorizer {
    config: AuthorizerConfig,
    cache: TtlCache<Decision>,
}

impl Authorizer {
    /// An authorizer for `config`.
    pub fn new(config: AuthorizerConfig) -> Self {
        Self {
            config,
            cache: TtlCache::new(),
        }
    }

    fn always_allowed(&self, attributes: &Attributes) -> bool {
        let Some(path) = attributes.non_resource_path() else {
            return false;
        };
        self.config
            .always_allow_paths
            .iter()
            .any(|allowed| match allowed.strip_suffix('*') {
                Some(prefix) => path.starts_with(prefix),
                None => path == allowed,
            })
    }

    /// Whether `user` may do what `attributes` say. An `Err` is a review
    /// that could not be made (answered with a 500, and not cached).
    pub async fn authorize(
        &self,
        user: &User,
        attributes: &Attributes,
    ) -> Result<Decision, String> {
        if self.always_allowed(attributes) || user.groups.iter().any(|g| g == PRIVILEGED_GROUP) {
            return Ok(Decision::Allow);
        }
        let Some(client) = &self.config.client else {
            return Ok(Decision::Deny("no authorizer is configured".to_owned()));
        };
        let spec = review_spec(user, attributes);
        let key = serde_json::to_string(&spec).map_err(|e| e.to_string())?;
        if let Some(decision) = self.cache.get(&key) {
            return Ok(decision);
        }
        let review = SubjectAccessReview {
            spec,
            ..SubjectAccessReview::default()
        };
        let answer = Api::<SubjectAccessReview>::all(client.clone())
            .create(&PostParams::default(), &review)
            .await
            .map_err(|error| format!("the SubjectAccessReview failed: {error}"))?;
        let status = answer.status.unwrap_or_default();
        if let Some(error) = status.evaluation_error.as_deref().filter(|e| !e.is_empty()) {
            tracing::debug!(error, "The SubjectAccessReview had an evaluation error");
        }
        let decision = if status.allowed {
            Decision::Allow
        } else {
            Decision::Deny(status.reason.unwrap_or_default())
        };
        let ttl = match decision {
            Decision::Allow => self.config.allowed_ttl,
            Decision::Deny(_) => self.config.denied_ttl,
        };
        self.cache.insert(key, decision.clone(), ttl);
        Ok(decision)
    }
}

/// The review's spec: the user as authenticated, the request's attributes.
fn review_spec(user: &User, attributes: &Attributes) -> SubjectAccessReviewSpec {
    let (resource_attributes, non_resource_attributes) = match attributes {
        Attributes::Resource {
            verb,
            group,
            version,
            resource,
            namespace,
            name,
            subresource,
        } => (
            Some(ResourceAttributes {
                verb: Some(verb.clone()),
                group: Some(group.clone()),
                version: Some(version.clone()),
                resource: Some(resource.clone()),
                namespace: Some(namespace.clone()).filter(|n| !n.is_empty()),
                name: Some(name.clone()).filter(|n| !n.is_empty()),
                subresource: Some(subresource.clone()).filter(|n| !n.is_empty()),
                ..ResourceAttributes::default()
            }),
            None,
        ),
        Attributes::NonResource { verb, path } => (
            None,
            Some(NonResourceAttributes {
                verb: Some(verb.clone()),
                path: Some(path.clone()),
            }),
        ),
    };
    SubjectAccessReviewSpec {
        user: Some(user.name.clone()),
        uid: Some(user.uid.clone()).filter(|uid| !uid.is_empty()),
        groups: Some(user.groups.clone()),
        extra: Some(user.extra.clone()).filter(|extra: &BTreeMap<_, _>| !extra.is_empty()),
        resource_attributes,
        non_resource_attributes,
    }
}

/// Go's `%q`.
fn q(text: &str) -> GoQuoted<'_> {
    GoQuoted(text)
}

/// The API server's text for a denied request (k8s.io/apiserver's
/// `forbiddenMessage`), with the reviewer's reason after a colon.
pub fn forbidden_message(user: &User, attributes: &Attributes, reason: &str) -> String {
    let mut message = match attributes {
        Attributes::NonResource { verb, path } => {
            format!("User {} cannot {verb} path {}", q(&user.name), q(path))
        }
        Attributes::Resource {
            verb,
            group,
            resource,
            namespace,
            subresource,
            ..
        } => {
            let resource = if subresource.is_empty() {
                resource.clone()
            } else {
                format!("{resource}/{subresource}")
            };
            if namespace.is_empty() {
                format!(
                    "User {} cannot {verb} resource {} in API group {} at the cluster scope",
                    q(&user.name),
                    q(&resource),
                    q(group)
                )
            } else {
                format!(
                    "User {} cannot {verb} resource {} in API group {} in the namespace {}",
                    q(&user.name),
                    q(&resource),
                    q(group),
                    q(namespace)
                )
            }
        }
    };
    if !reason.is_empty() {
        message.push_str(": ");
        message.push_str(reason);
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> User {
        User {
            name: "alice".to_owned(),
            uid: String::new(),
            groups: vec!["dev".to_owned()],
            extra: BTreeMap::new(),
        }
    }

    fn authorizer(paths: &[&str]) -> Authorizer {
        Authorizer::new(AuthorizerConfig {
            client: None,
            always_allow_paths: paths.iter().map(|p| (*p).to_owned()).collect(),
            allowed_ttl: Duration::from_secs(10),
            denied_ttl: Duration::from_secs(10),
        })
    }

    fn path(path: &str) -> Attributes {
        Attributes::NonResource {
            verb: "get".to_owned(),
            path: path.to_owned(),
        }
    }

    #[tokio::test]
    async fn always_allowed_paths_and_masters_need_no_review() {
        let authorizer = authorizer(&["/livez", "/debug/*"]);
        assert_eq!(
            authorizer.authorize(&user(), &path("/livez")).await,
            Ok(Decision::Allow)
        );
        assert_eq!(
            authorizer.authorize(&user(), &path("/debug/x")).await,
            Ok(Decision::Allow)
        );
        // Not an allowed path and no reviewer: denied.
        assert!(matches!(
            authorizer.authorize(&user(), &path("/livezz")).await,
            Ok(Decision::Deny(_))
        ));
        let mut admin = user();
        admin.groups.push(PRIVILEGED_GROUP.to_owned());
        assert_eq!(
            authorizer.authorize(&admin, &path("/metrics")).await,
            Ok(Decision::Allow)
        );
    }

    #[test]
    fn denials_read_as_the_api_server_words_them() {
        let nodes = Attributes::Resource {
            verb: "list".to_owned(),
            group: "metrics.k8s.io".to_owned(),
            version: "v1beta1".to_owned(),
            resource: "nodes".to_owned(),
            namespace: String::new(),
            name: String::new(),
            subresource: String::new(),
        };
        assert_eq!(
            forbidden_message(&user(), &nodes, ""),
            r#"User "alice" cannot list resource "nodes" in API group "metrics.k8s.io" at the cluster scope"#
        );
        let pod = Attributes::Resource {
            verb: "get".to_owned(),
            group: "metrics.k8s.io".to_owned(),
            version: "v1beta1".to_owned(),
            resource: "pods".to_owned(),
            namespace: "default".to_owned(),
            name: "web".to_owned(),
            subresource: String::new(),
        };
        assert_eq!(
            forbidden_message(&user(), &pod, "no RBAC policy matched"),
            r#"User "alice" cannot get resource "pods" in API group "metrics.k8s.io" in the namespace "default": no RBAC policy matched"#
        );
        assert_eq!(
            forbidden_message(&user(), &path("/metrics"), ""),
            r#"User "alice" cannot get path "/metrics""#
        );
    }
}
