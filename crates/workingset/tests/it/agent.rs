//! `workingset agent` as a process: it logs the address it bound, serves,
//! and exits 0 on SIGTERM and SIGINT; bad flags and files fail the start
//! with a message naming them.
//!
//! The machine is the captured cgroup v1 tree of the cgroup crate's
//! fixtures. Every agent listens on `127.0.0.1:0` and is killed (and reaped)
//! when a test ends, whatever happens.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{stderr, workingset};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../cgroup/tests/fixtures/v1-hybrid"
);

/// Flags that point the agent at the fixture machine.
pub(super) fn machine() -> Vec<String> {
    vec![
        format!("--cgroupfs={FIXTURE}/sys/fs/cgroup"),
        "--cgroupfs-mount-point=/sys/fs/cgroup".to_owned(),
        format!("--proc={FIXTURE}/proc"),
        format!("--sys={FIXTURE}/sys"),
    ]
}

/// A running daemon process (`agent`, and `serve` or `server` too);
/// killed and reaped on drop.
pub(super) struct Agent {
    child: Child,
    pub(super) addr: SocketAddr,
    /// stderr lines, read on a thread so the pipe never fills.
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Agent {
    /// Starts `workingset agent` and waits (at most 30 s) for its
    /// `Listening addr=…` line.
    fn start(extra: &[&str]) -> Agent {
        Agent::start_on(&machine(), extra)
    }

    /// Starts `workingset agent` on the machine `machine_flags` describe.
    pub(super) fn start_on(machine_flags: &[String], extra: &[&str]) -> Agent {
        let mut args: Vec<String> = [
            "agent",
            "--listen",
            "127.0.0.1:0",
            "--housekeeping-interval",
            "200ms",
        ]
        .map(str::to_owned)
        .into();
        args.extend_from_slice(machine_flags);
        args.extend(extra.iter().map(|arg| (*arg).to_owned()));
        Agent::spawn(&args)
    }

    /// Starts the binary with `args` (a daemon subcommand and its flags,
    /// listening on `127.0.0.1:0`) and waits (at most 30 s) for its
    /// `Listening addr=…` line.
    pub(super) fn spawn(args: &[String]) -> Agent {
        let mut child = Command::new(env!("CARGO_BIN_EXE_workingset"))
            .args(args)
            .env_remove("WORKINGSET_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start workingset {args:?}: {e}"));
        let pipe = child.stderr.take().unwrap();
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut agent = Agent {
            child,
            addr: "0.0.0.0:0".parse().unwrap(),
            lines,
            seen: Vec::new(),
        };
        let line = agent.wait_for_line("Listening", Duration::from_secs(30));
        agent.addr = line
            .split_whitespace()
            .find_map(|word| word.strip_prefix("addr="))
            .unwrap_or_else(|| panic!("no addr= in {line:?}"))
            .parse()
            .unwrap_or_else(|e| panic!("bad address in {line:?}: {e}"));
        assert!(
            agent.addr.ip().is_loopback() && agent.addr.port() != 0,
            "{line}"
        );
        agent
    }

    pub(super) fn wait_for_line(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no {needle:?} on stderr within {timeout:?}; got:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Sends `signal` (`TERM`, `INT`) with kill(1): no unsafe needed.
    pub(super) fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits (bounded) for the process to exit.
    pub(super) fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("poll the agent") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the process did not exit within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything it wrote to stderr so far (after it exited: everything).
    pub(super) fn stderr(&mut self) -> String {
        // The reader thread ends with the pipe; give it a moment to deliver.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(500)) {
            self.seen.push(line);
        }
        self.seen.join("\n")
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// A plain HTTP/1.1 GET with `Connection: close`; (status code, body).
pub(super) fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    get_with(addr, path, &[])
}

/// [`get`] with extra header lines (`Name: value`).
pub(super) fn get_with(addr: SocketAddr, path: &str, headers: &[&str]) -> (u16, String) {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let headers: String = headers.iter().map(|line| format!("{line}\r\n")).collect();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\n{headers}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
    let body = response
        .split_once("\r\n\r\n")
        .map_or("", |(_, body)| body)
        .to_owned();
    (status, body)
}

/// Polls `path` until 200, for at most 15 s.
pub(super) fn wait_for_200(addr: SocketAddr, path: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, body) = get(addr, path);
        if status == 200 {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{path} not 200 within 15 s: {status} {body}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn serves_then_exits_0_on(signal: &str) {
    let mut agent = Agent::start(&[]);
    assert_eq!(get(agent.addr, "/healthz"), (200, "ok".to_owned()));
    let summary = wait_for_200(agent.addr, "/stats/summary");
    assert!(summary.starts_with('{'), "{summary}");

    agent.signal(signal);
    let status = agent.wait(Duration::from_secs(10));
    let log = agent.stderr();
    assert_eq!(status.code(), Some(0), "exit {status}; stderr:\n{log}");
    assert!(
        log.contains(&format!("signal=\"SIG{signal}\""))
            || log.contains(&format!("signal=SIG{signal}")),
        "{log}"
    );
    assert!(log.contains("Stopped"), "{log}");
    assert!(
        TcpStream::connect_timeout(&agent.addr, Duration::from_secs(1)).is_err(),
        "still listening after exit"
    );
}

#[test]
fn agent_serves_and_exits_0_on_sigterm() {
    serves_then_exits_0_on("TERM");
}

#[test]
fn agent_serves_and_exits_0_on_sigint() {
    serves_then_exits_0_on("INT");
}

#[test]
fn agent_start_errors_name_the_flag_or_file() {
    let fixture = machine();
    let run = |extra: &[&str]| {
        let mut args = vec!["agent", "--listen", "127.0.0.1:0"];
        args.extend(fixture.iter().map(String::as_str));
        args.extend(extra);
        workingset(&args)
    };

    let output = run(&["--token-file", "/nonexistent/token"]);
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert!(
        text.contains("error: cannot read the token file /nonexistent/token"),
        "{text}"
    );

    let output = run(&[
        "--tls-cert-file",
        "/nonexistent/tls.crt",
        "--tls-private-key-file",
        "/nonexistent/tls.key",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert!(
        text.contains("cannot read the TLS certificate file /nonexistent/tls.crt"),
        "{text}"
    );

    // The pair is required together.
    let output = run(&["--tls-cert-file", "/nonexistent/tls.crt"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output).trim_end(),
        "error: required flag(s) \"tls-private-key-file\" not set\nSee 'workingset agent --help' for usage."
    );

    let output = run(&["--housekeeping-interval", "0s"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output).trim_end(),
        "error: invalid argument \"0s\" for \"--housekeeping-interval\" flag: must be more than zero\nSee 'workingset agent --help' for usage."
    );

    let mut args = vec!["agent", "--listen", "nowhere"];
    args.extend(fixture.iter().map(String::as_str));
    let output = workingset(&args);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).starts_with("error: invalid argument \"nowhere\" for \"--listen\" flag: "),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_non_loopback_address_needs_a_token_or_a_flag_that_says_so() {
    let fixture = machine();
    let mut args = vec!["agent", "--listen", "0.0.0.0:0"];
    args.extend(fixture.iter().map(String::as_str));
    let output = workingset(&args);
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert!(
        text.starts_with(
            "error: refusing to serve the node's workloads on 0.0.0.0:0 without --token-file"
        ) && text.contains("--insecure-unauthenticated-listen"),
        "{text}"
    );
}
