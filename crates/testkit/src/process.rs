//! Running a process from a test with a bounded wait.
//!
//! Every test that runs a program (our binary, kubectl, promtool) needs the
//! same three things: feed its stdin, drain its stdout and stderr while it
//! runs (a child writing more than a pipe buffer would otherwise block
//! forever), and kill it if it overruns. This is that, once.

use std::io::{self, Read, Write};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Runs `command` to completion with `stdin` (or an empty stdin), collecting
/// stdout and stderr; kills and reaps it if it runs longer than `timeout`,
/// which is then an [`io::ErrorKind::TimedOut`] error.
pub fn run(command: &mut Command, stdin: Option<&[u8]>, timeout: Duration) -> io::Result<Output> {
    let mut child = command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let feeder = match (stdin, child.stdin.take()) {
        (Some(bytes), Some(mut pipe)) => {
            let bytes = bytes.to_vec();
            // Dropping the pipe at the end of the thread is the child's EOF.
            Some(thread::spawn(move || pipe.write_all(&bytes)))
        }
        _ => None,
    };
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{command:?} did not finish within {timeout:?}"),
            ));
        }
        thread::sleep(Duration::from_millis(10));
    };
    if let Some(feeder) = feeder {
        // A child that exits without reading all of its stdin is not an error.
        let _ = feeder.join();
    }
    Ok(Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feeds_stdin_and_collects_large_outputs() {
        // 1 MiB through cat: far more than a pipe buffer in both directions.
        let input = vec![b'x'; 1 << 20];
        let output = run(
            &mut Command::new("cat"),
            Some(&input),
            Duration::from_secs(20),
        )
        .unwrap();
        assert!(output.status.success());
        assert_eq!(output.stdout.len(), input.len());
    }

    #[test]
    fn overrunning_processes_are_killed() {
        let started = Instant::now();
        let error = run(
            Command::new("sleep").arg("30"),
            None,
            Duration::from_millis(200),
        )
        .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
