//! Errors of `top`, displayed exactly as kubectl prints them.
//!
//! kubectl ends every failing command through `cmdutil.CheckErr`, which
//! turns the error into one stderr message and exits with status 1:
//! API `Status` errors become `Error from server (Reason): message` (with
//! special texts for `Unauthorized` and `Invalid`), connection errors have
//! their own sentences, and everything else is printed after `error: `.
//!
//! So that callers cannot get the prefix wrong, the `Display` of
//! [`TopError`] and [`SourceError`] is the **whole** message kubectl writes
//! to stderr, prefix included, without the final newline. The binary prints
//! `{error}` followed by a newline to stderr and exits with
//! [`TopError::exit_code`].

use std::fmt::{self, Write as _};
use std::io;

use workingset_model::duration::GoDuration;
use workingset_model::selector::{FieldSelectorError, GoQuoted, LabelSelectorError};

use crate::printer::InvalidSortBy;

/// A Kubernetes API `Status` failure, as a server returns it with an HTTP
/// error code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    /// HTTP status code (`404`).
    pub code: u16,
    /// Machine-readable reason (`NotFound`, `Forbidden`, …); may be empty.
    pub reason: String,
    /// Human-readable message; what kubectl prints.
    pub message: String,
    /// Extra information; kubectl reads it for `Invalid` only.
    pub details: Option<StatusDetails>,
}

/// `StatusDetails`: what object a `Status` is about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusDetails {
    /// Name of the object.
    pub name: String,
    /// API group of the object (empty for core).
    pub group: String,
    /// Kind (or resource) of the object.
    pub kind: String,
    /// Field-level causes, for `Invalid`.
    pub causes: Vec<StatusCause>,
}

/// `StatusCause`: one field-level problem.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusCause {
    /// The field, as a path (`spec.containers[0].name`).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl Status {
    /// The `404 NotFound` an API server (or metrics-server) returns for a
    /// missing object: resource `nodemetrics` in group `metrics.k8s.io`
    /// gives `nodemetrics.metrics.k8s.io "NAME" not found`; core resources
    /// have an empty group (`nodes "NAME" not found`). Pod metrics are named
    /// `"<namespace>/<name>"` by metrics-server.
    pub fn not_found(group: &str, resource: &str, name: &str) -> Self {
        let mut message = String::from(resource);
        if !group.is_empty() {
            message.push('.');
            message.push_str(group);
        }
        // Infallible: writing to a String.
        let _ = write!(message, " {} not found", GoQuoted(name));
        Self {
            code: 404,
            reason: "NotFound".to_owned(),
            message,
            details: Some(StatusDetails {
                name: name.to_owned(),
                group: group.to_owned(),
                kind: resource.to_owned(),
                causes: Vec::new(),
            }),
        }
    }
}

/// Renders a `Status` as kubectl's `CheckErr` does.
impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason.as_str() {
            "Invalid" => self.fmt_invalid(f),
            "Unauthorized" => write!(
                f,
                "error: You must be logged in to the server ({})",
                self.message
            ),
            "" => write!(f, "Error from server: {}", self.message),
            reason => write!(f, "Error from server ({reason}): {}", self.message),
        }
    }
}

impl Status {
    /// kubectl's special text for `Invalid` statuses, one line per distinct
    /// cause.
    fn fmt_invalid(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(details) = &self.details else {
            f.write_str("The request is invalid")?;
            if !self.message.is_empty() {
                write!(f, ": {}", self.message)?;
            }
            return Ok(());
        };
        if !details.kind.is_empty() || !details.name.is_empty() {
            write!(
                f,
                "The {} {} is invalid",
                details.kind,
                GoQuoted(&details.name)
            )?;
        } else if !self.message.is_empty() && details.causes.is_empty() {
            write!(f, "The request is invalid: {}", self.message)?;
        } else {
            f.write_str("The request is invalid")?;
        }
        let mut causes: Vec<String> = Vec::new();
        for cause in &details.causes {
            let text = format!("{}: {}", cause.field, cause.message);
            if !causes.contains(&text) {
                causes.push(text);
            }
        }
        match causes.as_slice() {
            [] => Ok(()),
            [only] => write!(f, ": {only}"),
            many => {
                f.write_str(": ")?;
                for cause in many {
                    write!(f, "\n* {cause}")?;
                }
                Ok(())
            }
        }
    }
}

/// A failed request to a [`MetricsSource`](crate::MetricsSource).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// The server answered with a `Status`; printed as
    /// `Error from server (Reason): message` and the like. Boxed to keep
    /// `Result`s small.
    #[error("{0}")]
    Status(Box<Status>),
    /// Any other failure, printed after `error: ` (unless the text already
    /// starts with it, as kubectl checks).
    #[error("{}", prefixed(.0))]
    Other(String),
    /// A message kubectl prints without a prefix, such as
    /// `Unable to connect to the server: …` or `The connection to the server
    /// HOST was refused - did you specify the right host or port?`.
    #[error("{0}")]
    Verbatim(String),
}

impl From<Status> for SourceError {
    fn from(status: Status) -> Self {
        Self::Status(Box::new(status))
    }
}

fn prefixed(message: &str) -> String {
    if message.starts_with("error: ") {
        message.to_owned()
    } else {
        format!("error: {message}")
    }
}

/// Why `top node` or `top pod` failed. `Display` is the complete stderr
/// message of kubectl (see the module docs); every variant exits with 1.
#[derive(Debug, thiserror::Error)]
pub enum TopError {
    /// More than one NAME argument (kubectl's usage error). `usage` is the
    /// command's use line, `command_path` what the help hint names.
    #[error("error: {usage}\nSee '{command_path} -h' for help and examples")]
    TooManyArguments {
        /// `node [NAME | -l label]` or `pod [NAME | -l label]`.
        usage: &'static str,
        /// `kubectl top node`, or the path of the command imitating it.
        command_path: String,
    },
    /// `--sort-by` is neither `cpu` nor `memory`.
    #[error("error: {0}")]
    SortBy(#[from] InvalidSortBy),
    /// `top node NAME -l …`.
    #[error("error: only one of NAME or --selector can be provided")]
    NodeNameAndSelector,
    /// `top pod NAME` with `-l` or `--field-selector` (note: no `--`).
    #[error("error: only one of NAME or selector can be provided")]
    PodNameAndSelector,
    /// `-l` does not parse; the text is apimachinery's `labels.Parse` error.
    #[error("error: {0}")]
    LabelSelector(#[from] LabelSelectorError),
    /// `--field-selector` does not parse (`fields.ParseSelector`'s error).
    #[error("error: {0}")]
    FieldSelector(#[from] FieldSelectorError),
    /// Discovery has no `metrics.k8s.io` group with version `v1beta1`.
    #[error("error: Metrics API not available")]
    MetricsApiNotAvailable,
    /// The metrics list is empty (`top node`), or `top pod` found only
    /// pods younger than two minutes.
    #[error("error: metrics not available yet")]
    MetricsNotAvailableYet,
    /// `top pod` got no metrics but a pod older than two minutes exists.
    #[error("error: Metrics not available for pod {namespace}/{name}, age: {age}")]
    PodMetricsMissing {
        /// The pod's namespace.
        namespace: String,
        /// The pod's name.
        name: String,
        /// Time since its creation, printed like Go's `Duration.String`.
        age: GoDuration,
    },
    /// A request to the data source failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// Writing the table or a notice failed. kubectl ignores such errors
    /// (and dies of SIGPIPE on a closed pipe); the binary should exit
    /// quietly on a broken pipe.
    #[error("error: write error: {0}")]
    Output(#[from] io::Error),
}

impl TopError {
    /// The process exit status kubectl uses for this error.
    pub fn exit_code(&self) -> i32 {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_statuses_read_like_the_servers() {
        let status = Status::not_found("metrics.k8s.io", "nodemetrics", "n1");
        assert_eq!(
            status.message,
            r#"nodemetrics.metrics.k8s.io "n1" not found"#
        );
        assert_eq!(
            status.to_string(),
            r#"Error from server (NotFound): nodemetrics.metrics.k8s.io "n1" not found"#
        );
        let status = Status::not_found("", "nodes", "n1");
        assert_eq!(
            status.to_string(),
            r#"Error from server (NotFound): nodes "n1" not found"#
        );
        let status = Status::not_found("metrics.k8s.io", "podmetrics", "default/web-1");
        assert_eq!(
            status.to_string(),
            r#"Error from server (NotFound): podmetrics.metrics.k8s.io "default/web-1" not found"#
        );
    }

    #[test]
    fn statuses_render_like_check_err() {
        let status = |reason: &str, message: &str| Status {
            code: 400,
            reason: reason.to_owned(),
            message: message.to_owned(),
            details: None,
        };
        assert_eq!(
            status("Forbidden", "nodes is forbidden").to_string(),
            "Error from server (Forbidden): nodes is forbidden"
        );
        assert_eq!(status("", "boom").to_string(), "Error from server: boom");
        assert_eq!(
            status("Unauthorized", "Unauthorized").to_string(),
            "error: You must be logged in to the server (Unauthorized)"
        );
        assert_eq!(
            status("Invalid", "bad").to_string(),
            "The request is invalid: bad"
        );
        let mut invalid = status("Invalid", "x is invalid");
        invalid.details = Some(StatusDetails {
            name: "x".into(),
            group: String::new(),
            kind: "Pod".into(),
            causes: vec![
                StatusCause {
                    field: "a".into(),
                    message: "m1".into(),
                },
                StatusCause {
                    field: "a".into(),
                    message: "m1".into(),
                },
                StatusCause {
                    field: "b".into(),
                    message: "m2".into(),
                },
            ],
        });
        assert_eq!(
            invalid.to_string(),
            "The Pod \"x\" is invalid: \n* a: m1\n* b: m2"
        );
    }

    #[test]
    fn other_errors_get_one_prefix() {
        assert_eq!(SourceError::Other("boom".into()).to_string(), "error: boom");
        assert_eq!(
            SourceError::Other("error: boom".into()).to_string(),
            "error: boom"
        );
        assert_eq!(
            SourceError::Verbatim("Unable to connect to the server: EOF".into()).to_string(),
            "Unable to connect to the server: EOF"
        );
    }

    #[test]
    fn usage_error_names_the_command() {
        let err = TopError::TooManyArguments {
            usage: "node [NAME | -l label]",
            command_path: "kubectl top node".into(),
        };
        assert_eq!(
            err.to_string(),
            "error: node [NAME | -l label]\nSee 'kubectl top node -h' for help and examples"
        );
        assert_eq!(err.exit_code(), 1);
    }
}
