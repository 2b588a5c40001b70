//! Living in a shell: `workingset completion` scripts load and complete,
//! and the binary works as a kubectl plugin under the name
//! `kubectl-workingset`, through the real kubectl's plugin mechanism.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::{stderr, stdout, workingset};

fn script(shell: &str) -> String {
    let output = workingset(&["completion", shell]);
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output)
}

/// Sources the bash script and asks it to complete `line` (the cursor at
/// its end); the candidates, one per line.
fn bash_complete(script_path: &Path, words: &[&str]) -> Vec<String> {
    let line = words.join(" ");
    let program = format!(
        "source {path}\nCOMP_WORDS=({words})\nCOMP_CWORD={cword}\nCOMP_LINE='{line}'\nCOMP_POINT=${{#COMP_LINE}}\n_workingset workingset '{current}' '{previous}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        path = script_path.display(),
        words = words
            .iter()
            .map(|w| format!("'{w}'"))
            .collect::<Vec<_>>()
            .join(" "),
        cword = words.len() - 1,
        current = words.last().copied().unwrap_or_default(),
        previous = words
            .get(words.len().saturating_sub(2))
            .copied()
            .unwrap_or_default(),
    );
    let output = workingset_testkit::process::run(
        Command::new("bash").args(["--norc", "--noprofile", "-c", &program]),
        None,
        Duration::from_secs(30),
    )
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_bash_script_loads_and_completes_subcommands_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("workingset.bash");
    std::fs::write(&path, script("bash")).unwrap();
    let check = workingset_testkit::process::run(
        Command::new("bash").arg("-n").arg(&path),
        None,
        Duration::from_secs(30),
    )
    .unwrap();
    assert!(
        check.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&check.stderr)
    );

    assert_eq!(bash_complete(&path, &["workingset", "ex"]), ["explain"]);
    assert_eq!(
        bash_complete(&path, &["workingset", "explain", "p"]),
        ["pod", "pods", "po"],
        "the kubectl aliases complete too"
    );
    assert_eq!(
        bash_complete(&path, &["workingset", "explain", "pod", "--win"]),
        ["--window"]
    );
    let top = bash_complete(&path, &["workingset", "top", ""]);
    assert!(
        top.iter().any(|c| c == "node") && top.iter().any(|c| c == "pod"),
        "{top:?}"
    );
}

#[test]
fn zsh_and_fish_scripts_cover_every_subcommand() {
    let zsh = script("zsh");
    assert!(
        zsh.starts_with("#compdef workingset"),
        "{}",
        &zsh[..zsh.len().min(200)]
    );
    let fish = script("fish");
    for subcommand in ["top", "agent", "explain", "completion"] {
        assert!(
            zsh.contains(&format!("'{subcommand}:")),
            "zsh lacks {subcommand}"
        );
        assert!(
            fish.contains(&format!("-a \"{subcommand}\"")),
            "fish lacks {subcommand}"
        );
    }
    let output = workingset(&["completion", "tcsh"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("tcsh"), "{}", stderr(&output));
}

#[test]
fn kubectl_runs_it_as_the_workingset_plugin() {
    if !workingset_testkit::kube::kubectl_available("kubectl_runs_it_as_the_workingset_plugin") {
        return;
    }
    // What the docs tell users to do: a symlink named kubectl-workingset on PATH.
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_workingset"),
        bin.join("kubectl-workingset"),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let env = [("PATH", path.as_str())];
    let run = |args: &[&str]| {
        workingset_testkit::kube::run_kubectl_with(
            "1.33",
            dir.path(),
            &env,
            args,
            Duration::from_secs(60),
        )
    };

    let listed = run(&["plugin", "list"]);
    assert!(
        String::from_utf8_lossy(&listed.stdout).contains("kubectl-workingset"),
        "{}{}",
        String::from_utf8_lossy(&listed.stdout),
        String::from_utf8_lossy(&listed.stderr)
    );

    let output = run(&[
        "workingset",
        "top",
        "node",
        "--local",
        "--window=200ms",
        "--node-name=plugin-node",
    ]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("NAME "), "{text}");
    assert!(lines[1].starts_with("plugin-node "), "{text}");

    // Flags and exit codes pass through unchanged.
    let output = run(&["workingset", "top", "node", "--local", "--sort-by=x"]);
    assert_eq!(output.status.code(), Some(1));
    let direct = workingset(&["top", "node", "--local", "--sort-by=x"]);
    assert_eq!(output.stderr, direct.stderr);
}
