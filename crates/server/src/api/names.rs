//! The names in a request's path, decoded as the Kubernetes API server
//! decodes them.
//!
//! axum's `Path` refuses a segment whose percent-decoding is not UTF-8
//! (`/nodes/%ff`) with a plain-text 400, which no Kubernetes client can
//! read. Go decodes such a segment to whatever bytes it spells, finds no
//! object by that name and answers a `NotFound` `Status`, its message
//! written by Go's JSON encoder with each invalid byte as U+FFFD. So here a
//! segment is percent-decoded lossily and the request goes on to the
//! lookup like any other name.

use axum::extract::{FromRequestParts, MatchedPath};
use axum::http::request::Parts;
use axum::response::Response;
use percent_encoding::percent_decode_str;

use super::{Status, status_response};

/// One name: `{name}` or `{namespace}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(pub String);

/// `{namespace}` and `{name}`, in that order in the route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceAndName(pub String, pub String);

impl<S: Send + Sync> FromRequestParts<S> for Name {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match captures(parts).as_slice() {
            [name] => Ok(Name(name.clone())),
            _ => Err(status_response(&Status::no_such_path())),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for NamespaceAndName {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match captures(parts).as_slice() {
            [namespace, name] => Ok(NamespaceAndName(namespace.clone(), name.clone())),
            _ => Err(status_response(&Status::no_such_path())),
        }
    }
}

/// The path's segments where the matched route has a `{capture}`, each
/// percent-decoded, invalid UTF-8 replaced. The router matched the raw
/// path against the route, segment for segment, so the positions agree.
fn captures(parts: &Parts) -> Vec<String> {
    let Some(route) = parts.extensions.get::<MatchedPath>() else {
        return Vec::new();
    };
    route
        .as_str()
        .split('/')
        .zip(parts.uri.path().split('/'))
        .filter(|(template, _)| template.starts_with('{') && !template.starts_with("{*"))
        .map(|(_, segment)| percent_decode_str(segment).decode_utf8_lossy().into_owned())
        .collect()
}
