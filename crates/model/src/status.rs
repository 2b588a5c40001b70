//! `metav1.Status`: how the API machinery reports an error, with its exact
//! texts — one type for what our server answers, what the local source
//! answers and what remote `top` reads back from a server.
//!
//! Clients show `message` after `Error from server (<reason>): ` (that
//! rendering is kubectl's, in `workingset-top`), and read `reason` and
//! `code` to decide what happened (kubectl's "not found" handling,
//! client-go's `IsNotFound`). The constructors reproduce the apimachinery
//! error helpers metrics-server and the kube-apiserver answer with, word
//! for word; the JSON keeps Go's field order and omissions.

use std::fmt::Write as _;

use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::selector::GoQuoted;

/// A failed request, as the API machinery's `metav1.Status`. `Display` is
/// the message alone.
#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Status {
    /// The HTTP status code.
    pub code: u16,
    /// The machine-readable reason (`NotFound`, `BadRequest`, …); may be
    /// empty in what a server sends.
    pub reason: String,
    /// What clients print.
    pub message: String,
    /// The object the error is about; `None` omits `details` altogether.
    /// Boxed: a `Status` is an error value, kept small for `Result`s.
    pub details: Option<Box<StatusDetails>>,
}

/// `metav1.StatusDetails`: what object a `Status` is about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusDetails {
    /// Name of the object (`ns/name` for pod metrics, as metrics-server).
    pub name: String,
    /// API group; empty for the core group.
    pub group: String,
    /// The resource (not the kind, despite the field's name).
    pub kind: String,
    /// Field-level causes, for `Invalid`.
    pub causes: Vec<StatusCause>,
}

/// `metav1.StatusCause`: one field-level problem.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusCause {
    /// The field, as a path (`spec.containers[0].name`).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl Status {
    /// `errors.NewNotFound`: resource `nodemetrics` in group
    /// `metrics.k8s.io` says `nodemetrics.metrics.k8s.io "NAME" not found`;
    /// core resources have an empty group (`nodes "NAME" not found`).
    pub fn not_found(group: &str, resource: &str, name: &str) -> Self {
        let mut message = String::from(resource);
        if !group.is_empty() {
            message.push('.');
            message.push_str(group);
        }
        // Writing to a String cannot fail.
        let _ = write!(message, " {} not found", GoQuoted(name));
        Self {
            code: 404,
            reason: "NotFound".to_owned(),
            message,
            details: Some(Box::new(StatusDetails {
                name: name.to_owned(),
                group: group.to_owned(),
                kind: resource.to_owned(),
                causes: Vec::new(),
            })),
        }
    }

    /// `errors.NewBadRequest`: the message as given, no details.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            code: 400,
            reason: "BadRequest".to_owned(),
            message: message.into(),
            details: None,
        }
    }

    /// `errors.NewMethodNotSupported`: `action` (`watch`) on a resource
    /// whose storage does not offer it.
    pub fn method_not_supported(group: &str, resource: &str, action: &str) -> Self {
        let qualified = if group.is_empty() {
            resource.to_owned()
        } else {
            format!("{resource}.{group}")
        };
        Self {
            code: 405,
            reason: "MethodNotAllowed".to_owned(),
            message: format!(
                "{action} is not supported on resources of kind {}",
                GoQuoted(&qualified)
            ),
            details: Some(Box::new(StatusDetails {
                name: String::new(),
                group: group.to_owned(),
                kind: resource.to_owned(),
                causes: Vec::new(),
            })),
        }
    }

    /// A 503 `ServiceUnavailable`, as the apiserver's proxy answers when the
    /// node cannot be reached.
    pub fn service_unavailable(message: String) -> Self {
        Self {
            code: 503,
            reason: "ServiceUnavailable".to_owned(),
            message,
            details: None,
        }
    }

    /// What the API server's router answers for a path it does not serve
    /// (`errors.NewGenericServerResponse(404, …)`).
    pub fn no_such_path() -> Self {
        Self {
            code: 404,
            reason: "NotFound".to_owned(),
            message: "the server could not find the requested resource".to_owned(),
            details: Some(Box::default()),
        }
    }

    /// What the API server's router answers for a method a path does not
    /// serve (`errors.NewGenericServerResponse(405, …)`).
    pub fn method_not_allowed() -> Self {
        Self {
            code: 405,
            reason: "MethodNotAllowed".to_owned(),
            message: "the server does not allow this method on the requested resource".to_owned(),
            details: Some(Box::default()),
        }
    }

    /// Content negotiation found nothing the client accepts that this
    /// server can write.
    pub fn not_acceptable(accepted: &[&str]) -> Self {
        Self {
            code: 406,
            reason: "NotAcceptable".to_owned(),
            message: format!(
                "only the following media types are accepted: {}",
                accepted.join(", ")
            ),
            details: None,
        }
    }

    /// `errors.NewUnauthorized("")`: the API server's answer to a request
    /// whose credentials did not authenticate.
    pub fn unauthorized() -> Self {
        Self {
            code: 401,
            reason: "Unauthorized".to_owned(),
            message: "Unauthorized".to_owned(),
            details: None,
        }
    }

    /// `errors.NewForbidden`: `resource.group "name" is forbidden: why`,
    /// or `forbidden: why` for a path that is no resource (empty
    /// `resource`).
    pub fn forbidden(group: &str, resource: &str, name: &str, why: &str) -> Self {
        let mut message = String::new();
        if resource.is_empty() && group.is_empty() {
            message.push_str("forbidden: ");
        } else {
            message.push_str(resource);
            if !group.is_empty() {
                message.push('.');
                message.push_str(group);
            }
            if !name.is_empty() {
                let _ = write!(message, " {}", GoQuoted(name));
            }
            message.push_str(" is forbidden: ");
        }
        message.push_str(why);
        Self {
            code: 403,
            reason: "Forbidden".to_owned(),
            message,
            details: Some(Box::new(StatusDetails {
                name: name.to_owned(),
                group: group.to_owned(),
                kind: resource.to_owned(),
                causes: Vec::new(),
            })),
        }
    }

    /// The JSON body.
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising plain strings and integers cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

impl Serialize for Status {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut status = serializer.serialize_struct("Status", 8)?;
        status.serialize_field("kind", "Status")?;
        status.serialize_field("apiVersion", "v1")?;
        status.serialize_field("metadata", &EmptyObject)?;
        status.serialize_field("status", "Failure")?;
        status.serialize_field("message", &self.message)?;
        if self.reason.is_empty() {
            status.skip_field("reason")?;
        } else {
            status.serialize_field("reason", &self.reason)?;
        }
        if let Some(details) = &self.details {
            status.serialize_field("details", details)?;
        }
        status.serialize_field("code", &self.code)?;
        status.end()
    }
}

impl Serialize for StatusDetails {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let fields = [
            ("name", &self.name),
            ("group", &self.group),
            ("kind", &self.kind),
        ];
        let mut details = serializer.serialize_struct("StatusDetails", 4)?;
        for (key, value) in fields {
            if value.is_empty() {
                details.skip_field(key)?;
            } else {
                details.serialize_field(key, value)?;
            }
        }
        if self.causes.is_empty() {
            details.skip_field("causes")?;
        } else {
            details.serialize_field("causes", &self.causes)?;
        }
        details.end()
    }
}

impl Serialize for StatusCause {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Go's order (reason, message, field), each omitted when empty;
        // the cause type (`reason`) is not kept.
        let mut cause = serializer.serialize_struct("StatusCause", 2)?;
        for (key, value) in [("message", &self.message), ("field", &self.field)] {
            if value.is_empty() {
                cause.skip_field(key)?;
            } else {
                cause.serialize_field(key, value)?;
            }
        }
        cause.end()
    }
}

/// `{}`: an empty `ListMeta`.
#[derive(Debug, Clone, Copy)]
pub struct EmptyObject;

impl Serialize for EmptyObject {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_struct("ListMeta", 0)?.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(status: &Status) -> String {
        String::from_utf8(status.to_json()).unwrap_or_default()
    }

    #[test]
    fn not_found_is_byte_for_byte_the_apiservers() {
        assert_eq!(
            json(&Status::not_found("metrics.k8s.io", "nodemetrics", "n1")),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"nodemetrics.metrics.k8s.io \"n1\" not found","reason":"NotFound","details":{"name":"n1","group":"metrics.k8s.io","kind":"nodemetrics"},"code":404}"#
        );
        assert_eq!(
            json(&Status::not_found("", "pods", "web")),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \"web\" not found","reason":"NotFound","details":{"name":"web","kind":"pods"},"code":404}"#
        );
    }

    #[test]
    fn generic_answers_carry_empty_details_and_bad_requests_none() {
        assert_eq!(
            json(&Status::no_such_path()),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"the server could not find the requested resource","reason":"NotFound","details":{},"code":404}"#
        );
        assert_eq!(
            json(&Status::bad_request("x")),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"x","reason":"BadRequest","code":400}"#
        );
        assert_eq!(
            Status::method_not_supported("metrics.k8s.io", "pods", "watch").message,
            r#"watch is not supported on resources of kind "pods.metrics.k8s.io""#
        );
    }

    #[test]
    fn causes_keep_gos_order_and_omissions() {
        let mut status = Status::not_found("", "pods", "x");
        status.code = 422;
        status.reason = "Invalid".to_owned();
        if let Some(details) = status.details.as_deref_mut() {
            details.causes = vec![
                StatusCause {
                    field: "spec".to_owned(),
                    message: "m".to_owned(),
                },
                StatusCause {
                    field: String::new(),
                    message: "n".to_owned(),
                },
            ];
        }
        assert_eq!(
            json(&status),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \"x\" not found","reason":"Invalid","details":{"name":"x","kind":"pods","causes":[{"message":"m","field":"spec"},{"message":"n"}]},"code":422}"#
        );
        status.reason.clear();
        assert!(!json(&status).contains("\"reason\""), "{}", json(&status));
    }

    #[test]
    fn names_are_quoted_as_go_does() {
        assert_eq!(
            Status::not_found("", "nodes", "a\"b").message,
            r#"nodes "a\"b" not found"#
        );
    }
}
