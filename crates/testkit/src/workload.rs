//! Workload processes that run inside a test cgroup from their first
//! measured byte on.
//!
//! How: the test binary re-executes itself (`std::env::current_exe()`)
//! running one designated `#[test] #[ignore]` function that calls
//! [`entry`], with the work described in an environment variable. That
//! needs no Python, shell tools or helper binaries (a `[[bin]]` in this
//! crate would not be built for another crate's tests), and the workload
//! is exactly the code the test asked for. The test crate adds:
//!
//! ```ignore
//! #[test]
//! #[ignore = "workload entry point"]
//! fn workload_entry() { workingset_testkit::workload::entry(); }
//! ```
//!
//! The protocol over the child's stdin/stdout: the child prints
//! `@workingset ready` and blocks reading a line; the test moves its pid into
//! the cgroup, then sends `go`; the child does the work, prints
//! `@workingset done` and holds what it allocated until `exit` (or EOF).
//! Spinning work runs until `stop`. Every wait on the test side is bounded,
//! and [`Workload`] kills and reaps the child when dropped.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

use crate::OwnCgroupChild;

/// The environment variable that carries the work description.
pub const ENV: &str = "WORKINGSET_TESTKIT_WORKLOAD";

const PREFIX: &str = "@workingset ";
const PAGE: usize = 4096;

/// How long a workload may take to start (re-exec of a test binary) and to
/// exit once told to.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
const EXIT_TIMEOUT: Duration = Duration::from_secs(10);

/// What a workload process does after `go`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Work {
    /// Allocates `bytes` of anonymous memory, writes one byte per page so
    /// every page is really faulted in, and holds it.
    TouchAnon {
        /// How much to allocate and touch.
        bytes: usize,
    },
    /// Reads the whole file `times` times (page cache charged to the
    /// workload's cgroup if this is the first touch), holding nothing.
    ReadFile {
        /// The file to read.
        path: PathBuf,
        /// How many complete passes.
        times: u32,
    },
    /// Keeps one CPU busy until `stop`, or until `max` has passed.
    Spin {
        /// Safety limit if the test never says stop.
        max: Duration,
    },
}

impl Work {
    fn encode(&self) -> String {
        match self {
            Work::TouchAnon { bytes } => format!("anon {bytes}"),
            Work::ReadFile { path, times } => format!("read {times} {}", path.display()),
            Work::Spin { max } => format!("spin {}", max.as_millis()),
        }
    }

    fn decode(spec: &str) -> Option<Work> {
        let (kind, rest) = spec.split_once(' ')?;
        match kind {
            "anon" => Some(Work::TouchAnon {
                bytes: rest.parse().ok()?,
            }),
            "read" => {
                let (times, path) = rest.split_once(' ')?;
                Some(Work::ReadFile {
                    path: PathBuf::from(path),
                    times: times.parse().ok()?,
                })
            }
            "spin" => Some(Work::Spin {
                max: Duration::from_millis(rest.parse().ok()?),
            }),
            _ => None,
        }
    }
}

/// The workload side: call from the designated ignored test. Returns at
/// once when the process was not started as a workload.
pub fn entry() {
    let Ok(spec) = std::env::var(ENV) else {
        return;
    };
    let Some(work) = Work::decode(&spec) else {
        panic!("{ENV}={spec:?} is not a workload description");
    };
    if let Err(e) = run(&work) {
        panic!("workload {spec:?} failed: {e}");
    }
}

fn say(what: &str) -> io::Result<()> {
    // Straight to the stdout handle: libtest's capture only intercepts the
    // print macros, and the test side reads these lines as they come.
    let mut out = io::stdout().lock();
    writeln!(out, "{PREFIX}{what}")?;
    out.flush()
}

fn run(work: &Work) -> io::Result<()> {
    // One thread owns stdin, so spinning work can poll for `stop` and the
    // hold loop afterwards still sees `exit`.
    let (tx, lines) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line.trim().to_owned()).is_err() {
                break;
            }
        }
    });
    say("ready")?;
    loop {
        match lines.recv() {
            Ok(l) if l == "go" => break,
            Ok(_) => continue,
            // The test went away before releasing us: nothing to do.
            Err(_) => return Ok(()),
        }
    }
    let held = match work {
        Work::TouchAnon { bytes } => touch_anon(*bytes),
        Work::ReadFile { path, times } => {
            read_file(path, *times)?;
            Vec::new()
        }
        Work::Spin { max } => {
            spin(*max, &lines);
            Vec::new()
        }
    };
    say("done")?;
    // Hold the memory until told to exit (or the test's end of stdin).
    while let Ok(l) = lines.recv() {
        if l == "exit" {
            break;
        }
    }
    std::hint::black_box(&held);
    Ok(())
}

fn touch_anon(bytes: usize) -> Vec<u8> {
    // A zeroed allocation this large is fresh mmap'd memory: untouched pages
    // are not charged until written, so write one byte in every page.
    let mut v = vec![0u8; bytes];
    for i in (0..v.len()).step_by(PAGE) {
        if let Some(b) = v.get_mut(i) {
            *b = 1;
        }
    }
    std::hint::black_box(&mut v);
    v
}

fn read_file(path: &std::path::Path, times: u32) -> io::Result<()> {
    let mut buf = vec![0u8; 1 << 20];
    for _ in 0..times {
        let mut f = File::open(path)?;
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            std::hint::black_box(&buf);
        }
    }
    Ok(())
}

fn spin(max: Duration, lines: &Receiver<String>) {
    let start = Instant::now();
    let mut x: u64 = 0;
    loop {
        for _ in 0..100_000 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        match lines.try_recv() {
            Ok(l) if l == "stop" => return,
            Ok(_) | Err(TryRecvError::Empty) => {}
            Err(TryRecvError::Disconnected) => return,
        }
        if start.elapsed() >= max {
            return;
        }
    }
}

/// The test side: a started workload process. Killed and reaped on drop.
#[derive(Debug)]
pub struct Workload {
    child: Child,
    stdin: Option<ChildStdin>,
    events: Receiver<String>,
}

impl Workload {
    /// Re-executes the current test binary running `entry_test` (the exact
    /// name of the ignored test that calls [`entry`]) with `work`, and
    /// waits until it is blocked waiting for `go`.
    pub fn spawn(entry_test: &str, work: &Work) -> io::Result<Workload> {
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .args([
                entry_test,
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
                "-q",
            ])
            .env(ENV, work.encode())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdin = child.stdin.take();
        let (tx, events) = mpsc::channel();
        if let Some(stdout) = child.stdout.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if let Some(event) = line.strip_prefix(PREFIX)
                        && tx.send(event.to_owned()).is_err()
                    {
                        break;
                    }
                }
            });
        }
        let mut w = Workload {
            child,
            stdin,
            events,
        };
        w.expect("ready", START_TIMEOUT)?;
        Ok(w)
    }

    /// Spawns the workload, moves it into `cgroup` (every hierarchy) while
    /// it is still blocked, then releases it: everything the work does is
    /// charged to the cgroup.
    pub fn start_in(
        cgroup: &OwnCgroupChild,
        entry_test: &str,
        work: &Work,
    ) -> io::Result<Workload> {
        let mut w = Workload::spawn(entry_test, work)?;
        cgroup.add_pid(w.pid())?;
        w.send("go")?;
        Ok(w)
    }

    /// The workload's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Releases a workload started with [`Workload::spawn`].
    pub fn go(&mut self) -> io::Result<()> {
        self.send("go")
    }

    /// Waits (bounded) until the work is done; the process then holds its
    /// memory until [`Workload::finish`].
    pub fn wait_done(&mut self, timeout: Duration) -> io::Result<()> {
        self.expect("done", timeout)
    }

    /// Stops spinning work, tells the process to exit and reaps it, killing
    /// it if it does not exit in time.
    pub fn finish(mut self) -> io::Result<ExitStatus> {
        // Errors here mean the child is already gone; reaping tells.
        let _ = self.send("stop");
        let _ = self.send("exit");
        drop(self.stdin.take());
        self.reap(EXIT_TIMEOUT)
    }

    fn send(&mut self, line: &str) -> io::Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| io::Error::other("workload stdin already closed"))?;
        writeln!(stdin, "{line}")?;
        stdin.flush()
    }

    fn expect(&mut self, event: &str, timeout: Duration) -> io::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(e) if e == event => return Ok(()),
                Ok(_) => continue,
                Err(RecvTimeoutError::Timeout) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("workload {} not {event} after {timeout:?}", self.pid()),
                    ));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.child.try_wait().ok().flatten();
                    return Err(io::Error::other(format!(
                        "workload {} exited before {event} (status {status:?})",
                        self.pid()
                    )));
                }
            }
        }
    }

    fn reap(&mut self, timeout: Duration) -> io::Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                self.child.kill()?;
                return self.child.wait();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Workload {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // Only our own child: started by Workload::spawn.
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_round_trips() {
        for w in [
            Work::TouchAnon { bytes: 64 << 20 },
            Work::ReadFile {
                path: PathBuf::from("/tmp/a file"),
                times: 2,
            },
            Work::Spin {
                max: Duration::from_secs(30),
            },
        ] {
            assert_eq!(Work::decode(&w.encode()), Some(w));
        }
        assert_eq!(Work::decode("nonsense"), None);
    }
}
