//! Our selector error texts against the real kubectl 1.33 client.
//!
//! kubectl parses `-l` and `--field-selector` before it makes any request,
//! so with `KUBECONFIG` pointing at a file that does not exist it prints the
//! parse error as `error: …` and exits 1 without needing a cluster. For
//! every malformed selector of the tables below we run
//! `kubectl.1.33 top pod -l SEL` (or `--field-selector SEL`) and require the
//! `Display` of our parse error to equal what kubectl prints after
//! `error: `, byte for byte.
//!
//! The binary is expected at [`KUBECTL`]; if it is missing the tests fail,
//! unless `WORKINGSET_SKIP_KUBECTL=1` is set, which skips them.

use std::fmt::Write as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use workingset_model::selector::{FieldSelector, LabelSelector};

/// The client whose texts we match (kubectl 1.27 … 1.32 print the same).
const KUBECTL: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.33";

/// How long one kubectl run may take before it is killed.
const TIMEOUT: Duration = Duration::from_secs(20);

/// Malformed label selectors: every key, value and length rule, several
/// problems at once, and some syntax errors.
fn label_cases() -> Vec<String> {
    let mut cases: Vec<String> = [
        // More than one `/`.
        "a/b/c=x",
        "!a/b/c",
        "//",
        "a/b/c in (-)",
        // Empty prefix or name part.
        "/a",
        "a/",
        "/=x",
        "k8s.io/=x",
        // The prefix is not a DNS subdomain.
        "A/b",
        "app.kubernetes_io/name=vault",
        "-a/b",
        "a..b/c",
        "a.-b/c",
        // The name part breaks the character rules.
        "-x",
        "app:monolith",
        "é=a",
        "a\u{0b}\u{a0}\u{1}\"b",
        "-x=-y",
        // Values.
        "x=-a",
        "x=a||y=b",
        "x!=-",
        "x in (ok, b., a.)",
        "x in (,-)",
        "x>a.",
        "x<a",
        "x<",
        "x>-1",
        "x>1.5",
        "x>99999999999999999999",
        "x=a,y=-b",
        // Syntax.
        "x==a==b",
        "!x=a",
        "x,,y",
        ",x,y",
        "x nott in (y)",
        "a in (xyz),",
        "a in (xyz abc)",
        "a notin(",
        "a in b",
        "!",
        "!!x",
        "x>=1",
        "a in (x,=)",
        "a in (=)",
        "a\tb/c=d",
    ]
    .map(str::to_owned)
    .to_vec();
    let a64 = "a".repeat(64);
    let v64 = "v".repeat(64);
    cases.extend([
        // Length limits (counted in bytes), alone and with other problems.
        a64.clone(),
        format!("{a64}=x"),
        format!("!{a64}"),
        format!("{}-", "a".repeat(63)),
        format!("x/{a64}."),
        format!("A/{a64}."),
        format!("/{a64}"),
        "é".repeat(32),
        format!("{}/k", "p".repeat(254)),
        format!("{}/{a64}", "p".repeat(254)),
        format!("{}/-{a64}", "P".repeat(254)),
        format!("{}/{}", "p".repeat(300), "-".repeat(70)),
        format!("{}a/b", "a.".repeat(200)),
        format!("{}/x", "é".repeat(127)),
        format!("x={v64}"),
        format!("x={v64}."),
        format!("x={}", "é".repeat(32)),
        format!("x in (-a,{v64},ok)"),
        format!("x notin ({v64},{})", "w".repeat(64)),
        format!("x<{}", "9".repeat(64)),
    ]);
    cases
}

/// Malformed field selectors.
fn field_cases() -> Vec<String> {
    [
        "x",
        "x=a,b",
        "x in (a)",
        "x in (a,b,c)",
        "x=a||y=b",
        "x==a==b",
        r"k=\",
        r"k=\\\",
        r"k=\a",
        r"k=\é",
        r"b,a=\x",
        "a=b,c",
        "a=b,!c",
        "a!=b!=c",
        r"x=\,=",
        // kubectl's message then spans two lines.
        "x\ny",
    ]
    .map(str::to_owned)
    .to_vec()
}

#[test]
fn kubectl_1_33_label_selector_errors() {
    let cases = label_cases();
    assert!(cases.len() >= 15);
    compare_with_kubectl("label", "-l", &cases, |text| {
        LabelSelector::parse(text).map(|selector| selector.to_string())
    });
}

#[test]
fn kubectl_1_33_field_selector_errors() {
    let cases = field_cases();
    assert!(cases.len() >= 15);
    compare_with_kubectl("field", "--field-selector", &cases, |text| {
        FieldSelector::parse(text).map(|selector| selector.to_string())
    });
}

/// Runs kubectl on every case and fails with all mismatches at once.
fn compare_with_kubectl<E: std::fmt::Display>(
    tag: &str,
    flag: &str,
    cases: &[String],
    parse: impl Fn(&str) -> Result<String, E>,
) {
    let kubectl = Path::new(KUBECTL);
    if std::env::var_os("WORKINGSET_SKIP_KUBECTL").is_some_and(|v| v == "1") {
        eprintln!("WORKINGSET_SKIP_KUBECTL=1: not comparing with {KUBECTL}");
        return;
    }
    assert!(
        kubectl.is_file(),
        "{KUBECTL} is missing: these tests compare our selector error texts with \
         that kubectl's; install it there, or set WORKINGSET_SKIP_KUBECTL=1 to skip them"
    );
    let dir = TempDir::new(tag);
    let kubeconfig = dir.path().join("no-such-kubeconfig");
    let mut failures = String::new();
    for selector in cases {
        let ours = match parse(selector) {
            Ok(parsed) => {
                let _ = writeln!(
                    failures,
                    "{selector:?}: we accept it (as {parsed:?}), expected an error"
                );
                continue;
            }
            Err(err) => err.to_string(),
        };
        let theirs = match kubectl_error(kubectl, &kubeconfig, flag, selector) {
            Ok(text) => text,
            Err(problem) => {
                let _ = writeln!(failures, "{selector:?}: {problem}");
                continue;
            }
        };
        if ours != theirs {
            let _ = writeln!(
                failures,
                "{selector:?}:\n  kubectl: {theirs:?}\n  ours:    {ours:?}"
            );
        }
    }
    assert!(
        failures.is_empty(),
        "{tag} selector errors differ from {KUBECTL}'s:\n{failures}"
    );
}

/// What kubectl prints after `error: ` for this selector: the stderr line
/// starting with `error: ` and any lines after it (a selector with a
/// newline makes a message of several lines), without the final newline.
fn kubectl_error(
    kubectl: &Path,
    kubeconfig: &Path,
    flag: &str,
    selector: &str,
) -> Result<String, String> {
    let (status, stderr) = run_bounded(
        Command::new(kubectl)
            .args(["top", "pod", flag, selector])
            .env("KUBECONFIG", kubeconfig)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env_remove("KUBERNETES_SERVICE_PORT"),
    )?;
    if status.success() {
        return Err(format!("kubectl succeeded; stderr: {stderr:?}"));
    }
    let start = if stderr.starts_with("error: ") {
        Some(0)
    } else {
        stderr.find("\nerror: ").map(|at| at + 1)
    };
    let Some(start) = start else {
        return Err(format!(
            "kubectl ({status}) printed no line starting with \"error: \"; stderr: {stderr:?}"
        ));
    };
    let message = stderr.get(start + "error: ".len()..).unwrap_or_default();
    Ok(message.strip_suffix('\n').unwrap_or(message).to_owned())
}

/// Runs the command without stdin and stdout, waits at most [`TIMEOUT`]
/// (killing it when that runs out) and returns its exit status and stderr.
fn run_bounded(command: &mut Command) -> Result<(ExitStatus, String), String> {
    let deadline = Instant::now() + TIMEOUT;
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| format!("cannot run {KUBECTL}: {err}"))?;
    // Read stderr on a thread so that a full pipe cannot stall the child.
    let (sender, receiver) = mpsc::channel();
    if let Some(mut stderr) = child.stderr.take() {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            let read = stderr.read_to_end(&mut bytes).map(|_| bytes);
            let _ = sender.send(read);
        });
    }
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "kubectl ran longer than {TIMEOUT:?} and was killed"
                ));
            }
            Err(err) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("cannot wait for kubectl: {err}"));
            }
        }
    };
    let remaining = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_secs(1));
    let bytes = match receiver.recv_timeout(remaining) {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(err)) => return Err(format!("cannot read kubectl's stderr: {err}")),
        Err(err) => return Err(format!("no stderr from kubectl: {err}")),
    };
    let stderr = String::from_utf8(bytes).map_err(|err| format!("stderr is not UTF-8: {err}"))?;
    Ok((status, stderr))
}

/// A fresh directory under the system temp dir, removed on drop. It stays
/// empty: the kubeconfig named inside it is never created.
#[derive(Debug)]
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos());
        let path = std::env::temp_dir().join(format!(
            "workingset-kubectl-selectors-{tag}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir(&path)
            .unwrap_or_else(|err| panic!("cannot create {}: {err}", path.display()));
        Self(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
