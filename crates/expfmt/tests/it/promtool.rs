//! `promtool check metrics` (Debian's `prometheus` package) accepts what we
//! render. Without promtool the test fails unless
//! `WORKINGSET_SKIP_PROMTOOL=1` says skipping is intended.

use std::process::Command;
use std::time::Duration;

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
    let out = workingset_testkit::process::run(
        Command::new(&promtool).args(["check", "metrics"]),
        Some(text.as_bytes()),
        Duration::from_secs(60),
    )
    .unwrap_or_else(|e| panic!("running {}: {e}", promtool.display()));
    let status = out.status;
    assert!(
        status.success(),
        "promtool check metrics failed ({status}):\nstdout: {}\nstderr: {}\ninput:\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
