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

use std::fmt;
use std::io;

use workingset_model::duration::GoDuration;
use workingset_model::selector::{FieldSelectorError, GoQuoted, LabelSelectorError};
pub use workingset_model::status::{Status, StatusCause, StatusDetails};

use crate::printer::InvalidSortBy;

/// A `Status` as kubectl's `CheckErr` prints it (`Error from server
/// (NotFound): …`, with special texts for `Unauthorized` and `Invalid`).
#[derive(Debug, Clone, Copy)]
pub struct KubectlStatus<'a>(pub &'a Status);

impl fmt::Display for KubectlStatus<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.0;
        match status.reason.as_str() {
            "Invalid" => self.fmt_invalid(f),
            "Unauthorized" => write!(
                f,
                "error: You must be logged in to the server ({})",
                status.message
            ),
            "" => write!(f, "Error from server: {}", status.message),
            reason => write!(f, "Error from server ({reason}): {}", status.message),
        }
    }
}

impl KubectlStatus<'_> {
    /// kubectl's special text for `Invalid` statuses, one line per distinct
    /// cause.
    fn fmt_invalid(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.0;
        let Some(details) = &status.details else {
            f.write_str("The request is invalid")?;
            if !status.message.is_empty() {
                write!(f, ": {}", status.message)?;
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
        } else if !status.message.is_empty() && details.causes.is_empty() {
            write!(f, "The request is invalid: {}", status.message)?;
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
    #[error("{}", KubectlStatus(.0))]
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
            KubectlStatus(&status).to_string(),
            r#"Error from server (NotFound): nodemetrics.metrics.k8s.io "n1" not found"#
        );
        let status = Status::not_found("", "nodes", "n1");
        assert_eq!(
            KubectlStatus(&status).to_string(),
            r#"Error from server (NotFound): nodes "n1" not found"#
        );
        let status = Status::not_found("metrics.k8s.io", "podmetrics", "default/web-1");
        assert_eq!(
            KubectlStatus(&status).to_string(),
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
            KubectlStatus(&status("Forbidden", "nodes is forbidden")).to_string(),
            "Error from server (Forbidden): nodes is forbidden"
        );
        assert_eq!(
            KubectlStatus(&status("", "boom")).to_string(),
            "Error from server: boom"
        );
        assert_eq!(
            KubectlStatus(&status("Unauthorized", "Unauthorized")).to_string(),
            "error: You must be logged in to the server (Unauthorized)"
        );
        assert_eq!(
            KubectlStatus(&status("Invalid", "bad")).to_string(),
            "The request is invalid: bad"
        );
        let mut invalid = status("Invalid", "x is invalid");
        invalid.details = Some(Box::new(StatusDetails {
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
        }));
        assert_eq!(
            KubectlStatus(&invalid).to_string(),
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
