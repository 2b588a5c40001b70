//! `/livez`, `/readyz`, `/healthz`: the probes, answered as the Kubernetes
//! API server's health handlers answer them.
//!
//! Each endpoint runs its named checks. All passing: 200 `ok` (with
//! `?verbose`, one `[+]name ok` line per check and `<endpoint> check
//! passed`). Any failing: 500 listing every check, the failed ones as
//! `[-]name failed: reason withheld`. The reason is withheld because probe
//! endpoints are public; it is logged, and `/<endpoint>/<check>` shows it
//! (`internal server error: <reason>`), as upstream. `?exclude=name` skips
//! a check.
//!
//! The checks are metrics-server's: `/livez` has `metric-collection-timely`
//! (the tick loop runs), `/readyz` has `metric-storage-ready` (there is
//! something to serve). `/healthz`, the legacy endpoint, checks liveness.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;

use super::Health;
use crate::view::Published;

/// Always passes: the server answers requests.
const PING: &str = "ping";
/// [`Health::live`].
const TIMELY: &str = "metric-collection-timely";
/// [`Health::ready`].
const READY: &str = "metric-storage-ready";

/// One of the probe endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Probe {
    /// `/livez`.
    Live,
    /// `/readyz`.
    Ready,
    /// `/healthz`.
    Health,
}

impl Probe {
    fn name(self) -> &'static str {
        match self {
            Self::Live => "livez",
            Self::Ready => "readyz",
            Self::Health => "healthz",
        }
    }

    fn checks(self) -> &'static [&'static str] {
        match self {
            Self::Live | Self::Health => &[PING, TIMELY],
            Self::Ready => &[PING, READY],
        }
    }
}

fn run_check(
    check: &str,
    health: &dyn Health,
    published: &Published,
    now: Timestamp,
) -> Result<(), String> {
    match check {
        TIMELY => health.live(now),
        READY => health.ready(published),
        _ => Ok(()),
    }
}

fn text(code: StatusCode, body: String) -> Response {
    (
        code,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        body,
    )
        .into_response()
}

/// Answers one probe endpoint. `exclude` holds the `exclude` parameters,
/// `verbose` whether the `verbose` parameter was given.
pub(crate) fn probe(
    probe: Probe,
    health: &dyn Health,
    published: &Published,
    now: Timestamp,
    exclude: &[&str],
    verbose: bool,
) -> Response {
    let mut unknown_excluded: BTreeSet<&str> = exclude.iter().copied().collect();
    let mut output = String::new();
    let mut failed = Vec::new();
    for &check in probe.checks() {
        if exclude.contains(&check) {
            unknown_excluded.remove(check);
            let _ = writeln!(output, "[+]{check} excluded: ok");
            continue;
        }
        match run_check(check, health, published, now) {
            Ok(()) => {
                let _ = writeln!(output, "[+]{check} ok");
            }
            Err(reason) => {
                let _ = writeln!(output, "[-]{check} failed: reason withheld");
                failed.push((check, reason));
            }
        }
    }
    if !unknown_excluded.is_empty() {
        let quoted: Vec<String> = unknown_excluded
            .iter()
            .map(|name| workingset_model::selector::GoQuoted(name).to_string())
            .collect();
        let _ = writeln!(
            output,
            "warn: some health checks cannot be excluded: no matches for {}",
            quoted.join(",")
        );
    }
    let name = probe.name();
    if !failed.is_empty() {
        for (check, reason) in &failed {
            tracing::debug!(probe = name, check, reason, "Health check failed");
        }
        let _ = writeln!(output, "{name} check failed");
        return text(StatusCode::INTERNAL_SERVER_ERROR, output);
    }
    if !verbose {
        return text(StatusCode::OK, "ok".to_owned());
    }
    let _ = writeln!(output, "{name} check passed");
    text(StatusCode::OK, output)
}

/// Answers `/<probe>/<check>`: `ok`, or the failure's reason. `None` when
/// the probe has no such check.
pub(crate) fn single_check(
    probe: Probe,
    check: &str,
    health: &dyn Health,
    published: &Published,
    now: Timestamp,
) -> Option<Response> {
    let check = probe.checks().iter().find(|&&known| known == check)?;
    Some(match run_check(check, health, published, now) {
        Ok(()) => text(StatusCode::OK, "ok".to_owned()),
        Err(reason) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("internal server error: {reason}\n"),
        ),
    })
}
