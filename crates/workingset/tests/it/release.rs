//! What ships: the static binary and the scratch image (`Dockerfile`).
//!
//! `scripts/test` builds the static binary (`scripts/static-binary`) and
//! passes its path in `WORKINGSET_STATIC_BINARY`; without it these tests
//! report themselves skipped (set `WORKINGSET_SKIP_IMAGE=1` to skip on
//! purpose). The image is built offline by a private dockerd from
//! `FROM scratch`, exactly as `scripts/image` stages it, and run twice:
//! `top node --local` prints kubectl's table, `agent` answers `/healthz`.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use workingset_testkit::docker::{self, ContainerSpec, Dockerd};

use super::agent::get;

const TAG: &str = "workingset-release:test";
const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The static binary, or `None` after reporting the skip.
fn static_binary(test: &str) -> Option<PathBuf> {
    match std::env::var_os("WORKINGSET_STATIC_BINARY") {
        Some(path) => {
            let path = PathBuf::from(path);
            assert!(path.is_file(), "{} is not a file", path.display());
            Some(path)
        }
        None => {
            let why = if std::env::var("WORKINGSET_SKIP_IMAGE").as_deref() == Ok("1") {
                "WORKINGSET_SKIP_IMAGE=1"
            } else {
                "WORKINGSET_STATIC_BINARY is not set (scripts/test builds it with scripts/static-binary)"
            };
            workingset_testkit::report_skip(test, why);
            None
        }
    }
}

#[test]
fn the_static_binary_is_static_and_runs() {
    let Some(binary) = static_binary("the_static_binary_is_static_and_runs") else {
        return;
    };
    let ldd = Command::new("ldd").arg(&binary).output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&ldd.stdout),
        String::from_utf8_lossy(&ldd.stderr)
    );
    assert!(said.contains("not a dynamic executable"), "ldd: {said}");

    let mut command = Command::new(&binary);
    command.args(["top", "node", "--local", "--window", "200ms"]);
    let output =
        workingset_testkit::process::run(&mut command, None, Duration::from_secs(60)).unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    assert!(
        stdout.starts_with("NAME ") && stdout.contains("CPU(cores)"),
        "{stdout}"
    );
}

/// The build context `scripts/image` stages, as a tar.
fn context_tar(binary: &Path) -> Vec<u8> {
    let dockerfile = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Dockerfile");
    let mut builder = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8], mode: u32| {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_cksum();
        builder.append_data(&mut header, name, data).unwrap();
    };
    add("Dockerfile", &std::fs::read(dockerfile).unwrap(), 0o644);
    add("workingset", &std::fs::read(binary).unwrap(), 0o755);
    add(
        "ca-certificates.crt",
        &std::fs::read(CA_BUNDLE)
            .unwrap_or_else(|e| panic!("{CA_BUNDLE}: {e} (Debian's ca-certificates)")),
        0o644,
    );
    add(
        "passwd",
        b"root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin\n",
        0o644,
    );
    add("group", b"root:x:0:\nnonroot:x:65532:\n", 0o644);
    builder.into_inner().unwrap()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn the_scratch_image_runs_top_and_the_agent() {
    let test = "the_scratch_image_runs_top_and_the_agent";
    let Some(binary) = static_binary(test) else {
        return;
    };
    if !docker::docker_tests(test) {
        return;
    }
    let _exclusive = workingset_testkit::exclusive();
    let dockerd = Dockerd::start().unwrap();
    dockerd
        .build_image(TAG, &context_tar(&binary))
        .unwrap_or_else(|e| panic!("{e}\ndockerd log:\n{}", dockerd.log_tail(30)));
    let image = dockerd
        .api("GET", &format!("/images/{TAG}/json"), None)
        .unwrap();
    let image: serde_json::Value = serde_json::from_slice(&image).unwrap();
    assert_eq!(image["Config"]["User"], "65532:65532", "{image}");
    eprintln!("image size: {} bytes", image["Size"]);

    let top = dockerd
        .run(&ContainerSpec {
            name: "ws-top".to_owned(),
            image: TAG.to_owned(),
            cmd: ["top", "node", "--local", "--window", "200ms"]
                .map(str::to_owned)
                .to_vec(),
            ..ContainerSpec::default()
        })
        .unwrap();
    let code = dockerd.wait_container(&top).unwrap();
    let (out, err) = dockerd.logs(&top).unwrap();
    let (out, err) = (String::from_utf8_lossy(&out), String::from_utf8_lossy(&err));
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    let mut lines = out.lines();
    let header = lines.next().unwrap_or_default();
    assert!(
        header.starts_with("NAME ")
            && header.contains("   CPU(cores)   CPU(%)   MEMORY(bytes)   MEMORY(%)"),
        "{out}"
    );
    assert_eq!(lines.count(), 1, "{out}");
    dockerd.remove_container(&top).unwrap();

    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let agent = dockerd
        .run(&ContainerSpec {
            name: "ws-agent".to_owned(),
            image: TAG.to_owned(),
            cmd: [
                "agent",
                "--listen",
                &listen,
                "--housekeeping-interval",
                "1s",
            ]
            .map(str::to_owned)
            .to_vec(),
            network_mode: Some("host".to_owned()),
            ..ContainerSpec::default()
        })
        .unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listening =
        workingset_testkit::wait_for(Duration::from_secs(30), Duration::from_millis(100), || {
            TcpStream::connect(addr).ok()
        });
    let health = listening.map(|_| get(addr, "/healthz"));
    let logs = dockerd.logs(&agent).unwrap();
    dockerd.remove_container(&agent).unwrap();
    let (status, body) = health.unwrap_or_else(|| {
        panic!(
            "the agent in the image never listened on {listen}\nstderr: {}",
            String::from_utf8_lossy(&logs.1)
        )
    });
    assert_eq!(status, 200, "{body}");
    assert!(body.trim_end().ends_with("ok"), "{body}");
}
