//! `promtool check metrics` (Debian's `prometheus` package) accepts what we
//! render. Without promtool the test fails unless
//! `WORKINGSET_SKIP_PROMTOOL=1` says skipping is intended.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::golden::full_exposition;

fn find_promtool() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("promtool"))
        .find(|p| p.is_file())
}

#[test]
fn promtool_check_metrics_accepts_rendered_output() {
    let Some(promtool) = find_promtool() else {
        if std::env::var("WORKINGSET_SKIP_PROMTOOL").as_deref() == Ok("1") {
            eprintln!("promtool not on PATH; skipped because WORKINGSET_SKIP_PROMTOOL=1");
            return;
        }
        panic!(
            "promtool not found on PATH: install it (`apt-get install -y prometheus`) \
             or set WORKINGSET_SKIP_PROMTOOL=1 to skip this test on purpose"
        );
    };
    let text = full_exposition().to_string();
    let mut child = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {}: {e}", promtool.display()));
    {
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(text.as_bytes()).unwrap();
    } // closes stdin so promtool sees EOF
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("promtool check metrics did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().unwrap();
    assert!(
        status.success(),
        "promtool check metrics failed ({status}):\nstdout: {}\nstderr: {}\ninput:\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
