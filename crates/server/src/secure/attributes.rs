//! What a request asks for, in the terms authorization speaks
//! (k8s.io/apiserver's `RequestInfo`): a resource request (verb, group,
//! version, resource, namespace, name) under `/api` and `/apis`, or a
//! non-resource path (`/metrics`, `/livez`, discovery) with the method as
//! its verb.

use axum::http::{Method, Uri};

/// One request's authorization attributes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Attributes {
    /// An object or a collection.
    Resource {
        /// `get`, `list`, `watch`, `create`, ...
        verb: String,
        /// The API group (`""` for core).
        group: String,
        /// The version.
        version: String,
        /// The resource (plural).
        resource: String,
        /// Empty for cluster scope.
        namespace: String,
        /// Empty for collections.
        name: String,
        /// Empty unless one is named.
        subresource: String,
    },
    /// Anything else.
    NonResource {
        /// The lowercase method (`get`, `post`, ...).
        verb: String,
        /// The path.
        path: String,
    },
}

impl Attributes {
    /// The attributes of `method` on `uri`.
    pub fn of(method: &Method, uri: &Uri) -> Self {
        let path = uri.path();
        let watch = uri.query().is_some_and(|query| {
            query
                .split('&')
                .any(|pair| pair == "watch=true" || pair == "watch=1")
        });
        resource_request(method, path, watch).unwrap_or_else(|| Attributes::NonResource {
            verb: method.as_str().to_ascii_lowercase(),
            path: path.to_owned(),
        })
    }

    /// The path of a non-resource request.
    pub fn non_resource_path(&self) -> Option<&str> {
        match self {
            Attributes::NonResource { path, .. } => Some(path),
            Attributes::Resource { .. } => None,
        }
    }
}

fn resource_request(method: &Method, path: &str, watch: bool) -> Option<Attributes> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match parts.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return None,
    };
    if rest.is_empty() || rest.iter().any(|part| part.is_empty()) {
        return None;
    }
    let (namespace, rest) = match rest {
        ["namespaces", namespace, rest @ ..] if !rest.is_empty() => (*namespace, rest),
        _ => ("", rest),
    };
    let resource = rest[0];
    let name = rest.get(1).copied().unwrap_or_default();
    let subresource = rest.get(2).copied().unwrap_or_default();
    let verb = match *method {
        Method::GET | Method::HEAD if watch => "watch",
        Method::GET | Method::HEAD if name.is_empty() => "list",
        Method::GET | Method::HEAD => "get",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if name.is_empty() => "deletecollection",
        Method::DELETE => "delete",
        _ => "",
    };
    Some(Attributes::Resource {
        verb: verb.to_owned(),
        group: group.to_owned(),
        version: version.to_owned(),
        resource: resource.to_owned(),
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        subresource: subresource.to_owned(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn of(path: &str) -> Attributes {
        Attributes::of(&Method::GET, &path.parse().unwrap())
    }

    fn resource(verb: &str, resource: &str, namespace: &str, name: &str) -> Attributes {
        Attributes::Resource {
            verb: verb.to_owned(),
            group: "metrics.k8s.io".to_owned(),
            version: "v1beta1".to_owned(),
            resource: resource.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            subresource: String::new(),
        }
    }

    #[test]
    fn metrics_requests_are_resource_requests() {
        let base = "/apis/metrics.k8s.io/v1beta1";
        assert_eq!(
            of(&format!("{base}/nodes")),
            resource("list", "nodes", "", "")
        );
        assert_eq!(
            of(&format!("{base}/nodes/n1")),
            resource("get", "nodes", "", "n1")
        );
        assert_eq!(
            of(&format!("{base}/pods")),
            resource("list", "pods", "", "")
        );
        assert_eq!(
            of(&format!(
                "{base}/namespaces/default/pods?labelSelector=a%3Db"
            )),
            resource("list", "pods", "default", "")
        );
        assert_eq!(
            of(&format!("{base}/namespaces/default/pods/web")),
            resource("get", "pods", "default", "web")
        );
        assert_eq!(
            of(&format!("{base}/nodes?watch=true")),
            resource("watch", "nodes", "", "")
        );
    }

    #[test]
    fn discovery_and_probes_are_paths() {
        for path in [
            "/apis",
            "/apis/metrics.k8s.io",
            "/apis/metrics.k8s.io/v1beta1",
            "/api",
            "/livez",
            "/metrics",
            "/openapi/v2",
        ] {
            assert_eq!(
                of(path),
                Attributes::NonResource {
                    verb: "get".to_owned(),
                    path: path.to_owned()
                },
                "{path}"
            );
        }
    }
}
