//! Private container runtimes for tests: a `dockerd` and a `containerd`
//! that the test starts itself, below its own cgroup, with every file in a
//! temporary directory, and that are gone again when the handle drops.
//!
//! What it is for: testing runtime metadata and container figures against
//! the real Debian packages (`docker.io`, `containerd`) without touching
//! the machine's own daemons, registries or network.
//!
//! - **Files**: socket, data and exec roots, pid file, config and log all
//!   live in one temporary directory; nothing under `/var/lib` or `/etc`
//!   is used (dockerd's trust key is pointed there too, runc's state as
//!   well). Two fixed paths cannot be moved: dockerd's plugin directory
//!   `/run/docker/plugins` and containerd 1.6's shim socket directory
//!   `/run/containerd/s`; they are removed again if they were created and
//!   are empty.
//! - **Cgroups**: the daemons run their containers below a unique cgroup
//!   beneath the test process's own cgroup. One `--cgroup-parent` applies
//!   to every hierarchy, so it is built on the *deepest* own path (on this
//!   hybrid v1 machine memory is `/process_api/<hash>` while cpu is `/`);
//!   that is below the own cgroup in each hierarchy as long as the
//!   shallower paths are its ancestors, which is checked.
//! - **Network**: none. `--bridge=none`, no iptables, containers get
//!   `NetworkMode=none`; CRI sandboxes use the host network, so no CNI.
//! - **Images**: built offline from Debian's `busybox-static` — a rootfs
//!   tar for `docker import`, an OCI image archive for `ctr images import`.
//! - **Cleanup** (drop, also during a panic): containers removed through
//!   the daemon, the daemon stopped (SIGTERM, then SIGKILL), then whatever
//!   is left is killed: processes in the test cgroups, runtime helpers
//!   whose command line names the temporary directory (containerd, shims);
//!   mounts below the directory are detached, the cgroups and the directory
//!   removed. Every wait is bounded.
//!
//! The sandbox ("pause") container: Kubernetes' pause binary calls itself
//! `pause`, and the agent recognises a sandbox by that process name when
//! runtime metadata is missing. busybox picks its applet from `argv[0]`, so
//! a copy named `/pause` run directly only says "applet not found". The
//! image therefore holds `/pause` as a hard link to busybox and
//! [`PAUSE_CMD`] runs it with `exec -a busybox /pause sleep …`: the kernel
//! names the process after the executed file (`comm` = `pause`) while
//! busybox sees `argv[0]` = `busybox` and runs `sleep`.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

/// Set to `1` to skip tests that need a private dockerd or containerd.
pub const SKIP_ENV: &str = "WORKINGSET_SKIP_DOCKER";

/// Command of a sandbox container whose process is named `pause` (see the
/// module docs for why it takes a shell).
pub const PAUSE_CMD: [&str; 3] = ["/bin/sh", "-c", "exec -a busybox /pause sleep 86400"];

/// The busybox applets linked into the test image.
const APPLETS: [&str; 14] = [
    "sh", "sleep", "cat", "dd", "head", "ls", "echo", "true", "false", "env", "ps", "top", "yes",
    "mkdir",
];

/// How long a daemon may take to listen on its socket.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Limit for one Engine API call (an image import, stats sampling for a
/// second, a container stop with its grace second all fit easily).
const API_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest Engine API response read.
const MAX_RESPONSE: usize = 64 << 20;
/// How long a daemon gets to exit after SIGTERM, and after SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(20);
const KILL_GRACE: Duration = Duration::from_secs(10);
/// How long a helper command (`ctr`) may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// Poll interval of every bounded wait here.
const POLL: Duration = Duration::from_millis(50);

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Why a private runtime could not be started or driven.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    /// A file, socket or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The daemon did not listen on its socket in time.
    #[error("{daemon} did not answer on {} within {waited:?}; its log ends:\n{log}", socket.display())]
    NotReady {
        /// `dockerd` or `containerd`.
        daemon: &'static str,
        /// The socket waited for.
        socket: PathBuf,
        /// How long.
        waited: Duration,
        /// The end of the daemon's log.
        log: String,
    },
    /// The daemon exited while starting.
    #[error("{daemon} exited while starting ({status}); its log ends:\n{log}")]
    Exited {
        /// `dockerd` or `containerd`.
        daemon: &'static str,
        /// How it exited.
        status: String,
        /// The end of the daemon's log.
        log: String,
    },
    /// The Engine API answered with an error status.
    #[error("{call}: dockerd answered {status}: {message}")]
    Api {
        /// Method and path.
        call: String,
        /// HTTP status.
        status: u16,
        /// dockerd's message.
        message: String,
    },
    /// An answer was not the HTTP or JSON expected.
    #[error("{call}: {message}")]
    Protocol {
        /// What was asked.
        call: String,
        /// What was wrong.
        message: String,
    },
    /// This machine cannot host the harness (binary missing, busybox not
    /// static, own cgroups that no single cgroup parent is below).
    #[error("{0}")]
    Unsupported(String),
    /// A helper command failed or timed out.
    #[error("{command} failed ({status}): {output}")]
    Command {
        /// The command line.
        command: String,
        /// Exit status, or `timed out`.
        status: String,
        /// Its stderr and stdout.
        output: String,
    },
}

type Result<T, E = DockerError> = std::result::Result<T, E>;

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> DockerError {
    let what = what.into();
    move |source| DockerError::Io { what, source }
}

/// Decides whether a test with a private dockerd runs: `false` (said on
/// stderr) only when [`SKIP_ENV`] is `1`; panics with the reason when it
/// cannot run here, so a missing daemon is a visible failure.
pub fn docker_tests(test: &str) -> bool {
    runtime_tests(test, &["dockerd", "containerd", "runc"])
}

/// Like [`docker_tests`], for a private containerd with its CRI plugin.
pub fn containerd_tests(test: &str) -> bool {
    runtime_tests(
        test,
        &["containerd", "ctr", "runc", "containerd-shim-runc-v2"],
    )
}

fn runtime_tests(test: &str, binaries: &[&str]) -> bool {
    if std::env::var(SKIP_ENV).is_ok_and(|v| v == "1") {
        crate::report_skip(test, &format!("{SKIP_ENV}=1"));
        return false;
    }
    if !is_root() {
        panic!("{test} needs root to run a container runtime; run as root or set {SKIP_ENV}=1");
    }
    for binary in binaries {
        if find_binary(binary).is_none() {
            panic!(
                "{test}: `{binary}` is not installed (Debian packages docker.io, containerd, \
                 runc, busybox-static); install them or set {SKIP_ENV}=1"
            );
        }
    }
    if let Err(e) = static_busybox() {
        panic!("{test}: {e}; install Debian's busybox-static or set {SKIP_ENV}=1");
    }
    true
}

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_ascii_whitespace().nth(1))
            == Some("0")
    })
}

/// `name` on `PATH` or in the sbin directories (dockerd lives in
/// `/usr/sbin`, which a non-login PATH may lack).
fn find_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/sbin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// The static busybox binary: the image has no libc, so a dynamically
/// linked busybox would fail inside the container with a confusing
/// "no such file or directory".
fn static_busybox() -> Result<PathBuf> {
    for candidate in ["/usr/bin/busybox", "/bin/busybox"] {
        let path = Path::new(candidate);
        let Ok(bytes) = fs::read(path) else { continue };
        // A dynamic ELF names its loader in PT_INTERP near the start.
        let head = &bytes[..bytes.len().min(4096)];
        if head.windows(8).any(|w| w == b"ld-linux") || head.windows(6).any(|w| w == b"ld-musl") {
            return Err(DockerError::Unsupported(format!(
                "{candidate} is dynamically linked; the test image needs busybox-static"
            )));
        }
        return Ok(path.to_owned());
    }
    Err(DockerError::Unsupported(
        "no busybox binary found".to_owned(),
    ))
}

// ---------------------------------------------------------------------------
// Images

/// A tar of the busybox rootfs: `/bin/busybox`, applet symlinks in `/bin`,
/// `/pause` (a hard link to busybox, see [`PAUSE_CMD`]) and the empty
/// directories a container runtime mounts over.
pub fn busybox_rootfs_tar() -> Result<Vec<u8>> {
    let busybox_path = static_busybox()?;
    let busybox =
        fs::read(&busybox_path).map_err(io_err(format!("reading {}", busybox_path.display())))?;
    let mut tar = tar::Builder::new(Vec::new());
    let mtime = 1_700_000_000;
    let tar_err = |what: &str| io_err(format!("building the rootfs tar: {what}"));
    for dir in ["bin", "dev", "etc", "proc", "sys", "tmp", "root"] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(if dir == "tmp" { 0o1777 } else { 0o755 });
        h.set_mtime(mtime);
        h.set_size(0);
        tar.append_data(&mut h, format!("{dir}/"), io::empty())
            .map_err(tar_err(dir))?;
    }
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o755);
    h.set_mtime(mtime);
    h.set_size(busybox.len() as u64);
    tar.append_data(&mut h, "bin/busybox", busybox.as_slice())
        .map_err(tar_err("bin/busybox"))?;
    for applet in APPLETS {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_mtime(mtime);
        h.set_size(0);
        tar.append_link(&mut h, format!("bin/{applet}"), "busybox")
            .map_err(tar_err(applet))?;
    }
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Link);
    h.set_mode(0o755);
    h.set_mtime(mtime);
    h.set_size(0);
    tar.append_link(&mut h, "pause", "bin/busybox")
        .map_err(tar_err("pause"))?;
    tar.into_inner().map_err(tar_err("finishing"))
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `name:tag` → `docker.io/library/name:tag`, as containerd stores
/// references; full references are kept.
pub fn normalize_reference(reference: &str) -> String {
    let first = reference.split('/').next().unwrap_or_default();
    let has_domain = reference.contains('/')
        && (first.contains('.') || first.contains(':') || first == "localhost");
    if has_domain {
        reference.to_owned()
    } else if reference.contains('/') {
        format!("docker.io/{reference}")
    } else {
        format!("docker.io/library/{reference}")
    }
}

/// An OCI image layout archive (what `ctr images import` reads) of the
/// busybox rootfs as one layer, named `reference`, with `cmd` as its
/// default command.
pub fn busybox_oci_archive(reference: &str, cmd: &[&str]) -> Result<Vec<u8>> {
    let layer = busybox_rootfs_tar()?;
    let layer_digest = sha256_hex(&layer);
    let config = serde_json::json!({
        "architecture": oci_arch(),
        "os": "linux",
        "config": { "Cmd": cmd },
        "rootfs": { "type": "layers", "diff_ids": [format!("sha256:{layer_digest}")] },
    })
    .to_string();
    let config_digest = sha256_hex(config.as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": format!("sha256:{config_digest}"),
            "size": config.len(),
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": format!("sha256:{layer_digest}"),
            "size": layer.len(),
        }],
    })
    .to_string();
    let manifest_digest = sha256_hex(manifest.as_bytes());
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{manifest_digest}"),
            "size": manifest.len(),
            "annotations": { "org.opencontainers.image.ref.name": normalize_reference(reference) },
        }],
    })
    .to_string();
    let mut tar = tar::Builder::new(Vec::new());
    let files: [(String, &[u8]); 5] = [
        (
            "oci-layout".to_owned(),
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        ),
        ("index.json".to_owned(), index.as_bytes()),
        (format!("blobs/sha256/{layer_digest}"), &layer),
        (format!("blobs/sha256/{config_digest}"), config.as_bytes()),
        (
            format!("blobs/sha256/{manifest_digest}"),
            manifest.as_bytes(),
        ),
    ];
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_size(data.len() as u64);
        tar.append_data(&mut h, &name, data)
            .map_err(io_err(format!("building the OCI archive: {name}")))?;
    }
    tar.into_inner().map_err(io_err("building the OCI archive"))
}

fn oci_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

// ---------------------------------------------------------------------------
// Cgroups

/// The unique cgroup below the test's own cgroups that a daemon's
/// containers go under, in every hierarchy, and the directories that must
/// be removed again.
#[derive(Debug)]
struct CgroupBase {
    /// The cgroup path (`/process_api/<hash>/ws-docker-…`).
    path: String,
    /// Where each hierarchy puts that path.
    dirs: Vec<PathBuf>,
    /// Ancestors of `dirs` that did not exist before (the runtime creates
    /// them), removed deepest first if empty.
    created_ancestors: Vec<PathBuf>,
}

impl CgroupBase {
    fn new(kind: &str) -> Result<Self> {
        let own =
            fs::read_to_string("/proc/self/cgroup").map_err(io_err("reading /proc/self/cgroup"))?;
        let paths: Vec<&str> = own
            .lines()
            .filter_map(|l| l.splitn(3, ':').nth(2))
            .collect();
        let deepest = paths
            .iter()
            .copied()
            .max_by_key(|p| p.split('/').filter(|c| !c.is_empty()).count())
            .ok_or_else(|| DockerError::Unsupported("/proc/self/cgroup is empty".to_owned()))?;
        if let Some(other) = paths.iter().find(|p| !is_ancestor_or_self(p, deepest)) {
            return Err(DockerError::Unsupported(format!(
                "own cgroups diverge ({other} is not an ancestor of {deepest}): no single \
                 --cgroup-parent lies below the test's cgroup in every hierarchy"
            )));
        }
        let path = format!(
            "{}/ws-{kind}-{}-{}-{:x}",
            deepest.trim_end_matches('/'),
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos())
        );
        let mountinfo = fs::read_to_string("/proc/self/mountinfo")
            .map_err(io_err("reading /proc/self/mountinfo"))?;
        let mut dirs = Vec::new();
        let mut created_ancestors = Vec::new();
        for (mount_point, root) in cgroup_mounts(&mountinfo) {
            // The mount may show only a sub-tree of the hierarchy.
            let Some(rel) = path.strip_prefix(root.trim_end_matches('/')) else {
                continue;
            };
            let rel = rel.trim_matches('/');
            let mut dir = mount_point.clone();
            let components: Vec<&str> = rel.split('/').filter(|c| !c.is_empty()).collect();
            for (i, c) in components.iter().enumerate() {
                dir.push(c);
                if i + 1 < components.len() && !dir.exists() {
                    created_ancestors.push(dir.clone());
                }
            }
            dirs.push(dir);
        }
        if dirs.is_empty() {
            return Err(DockerError::Unsupported(
                "no cgroup filesystem is mounted".to_owned(),
            ));
        }
        // Deepest first for removal.
        created_ancestors.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        Ok(Self {
            path,
            dirs,
            created_ancestors,
        })
    }

    /// SIGKILLs every process left in the sub-tree (containers whose
    /// runtime died). Returns how many were signalled.
    fn kill_processes(&self) -> usize {
        // The same process shows up once per hierarchy.
        let mut pids = std::collections::BTreeSet::new();
        for dir in &self.dirs {
            for sub in subdirs_deepest_first(dir) {
                let Ok(procs) = fs::read_to_string(sub.join("cgroup.procs")) else {
                    continue;
                };
                pids.extend(procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
            }
        }
        pids.into_iter()
            .filter(|pid| kill(*pid, rustix::process::Signal::KILL))
            .count()
    }

    /// Removes the sub-tree in every hierarchy (retrying while exiting
    /// tasks are still counted), then the ancestors the runtime created.
    fn remove(&self) -> std::result::Result<(), String> {
        let mut problems = Vec::new();
        for dir in &self.dirs {
            for sub in subdirs_deepest_first(dir) {
                if let Err(e) = rmdir_retrying(&sub) {
                    problems.push(format!("{}: {e}", sub.display()));
                }
            }
        }
        for dir in &self.created_ancestors {
            // Not empty (another test's cgroups) or already gone: fine.
            let _ = fs::remove_dir(dir);
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

fn is_ancestor_or_self(ancestor: &str, path: &str) -> bool {
    let a: Vec<&str> = ancestor.split('/').filter(|c| !c.is_empty()).collect();
    let p: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    p.starts_with(&a)
}

/// Mount point and root of every cgroup (v1 and v2) mount.
fn cgroup_mounts(mountinfo: &str) -> Vec<(PathBuf, String)> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_ascii_whitespace().collect();
            let sep = fields.iter().position(|f| *f == "-")?;
            let fs_type = *fields.get(sep + 1)?;
            if fs_type != "cgroup" && fs_type != "cgroup2" {
                return None;
            }
            Some((
                PathBuf::from(unescape_mountinfo(fields.get(4)?)),
                unescape_mountinfo(fields.get(3)?),
            ))
        })
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape_mountinfo(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// `dir` and every directory below it, deepest first; empty if `dir` does
/// not exist.
fn subdirs_deepest_first(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(e.path());
            }
        }
        out.push(d);
    }
    out.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    out
}

fn rmdir_retrying(dir: &Path) -> io::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => std::thread::sleep(POLL),
        }
    }
}

// ---------------------------------------------------------------------------
// Processes and mounts

/// Sends `signal` to `pid`; `false` if it is gone (or not signalable).
fn kill(pid: i32, signal: rustix::process::Signal) -> bool {
    match rustix::process::Pid::from_raw(pid) {
        Some(pid) => rustix::process::kill_process(pid, signal).is_ok(),
        None => false,
    }
}

/// Waits at most `timeout` for `child` to exit.
fn wait_bounded(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(POLL),
            _ => return None,
        }
    }
}

/// SIGTERM, then SIGKILL: the daemon is our child, so its pid cannot be
/// reused before we reap it.
fn stop_daemon(child: &mut Child, name: &str) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    let pid = i32::try_from(child.id()).unwrap_or(0);
    kill(pid, rustix::process::Signal::TERM);
    if wait_bounded(child, TERM_GRACE).is_some() {
        return;
    }
    eprintln!("workingset-testkit: {name} ignored SIGTERM for {TERM_GRACE:?}; killing it");
    let _ = child.kill();
    if wait_bounded(child, KILL_GRACE).is_none() {
        eprintln!("workingset-testkit: {name} (pid {pid}) did not exit after SIGKILL");
    }
}

/// SIGKILLs every process (not us) whose command line mentions `marker`:
/// the runtime helpers a killed daemon leaves (its containerd, shims),
/// recognisable by the unique temporary directory in their arguments.
/// Returns how many were signalled and the unix sockets they were
/// listening on outside `marker` (shim sockets in `/run/containerd/s`,
/// which a killed shim cannot remove).
fn kill_processes_mentioning(marker: &Path) -> (usize, Vec<PathBuf>) {
    let needle = marker.as_os_str().as_encoded_bytes();
    let me = std::process::id();
    let mut helpers = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return (0, Vec::new());
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(cmdline) = fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if cmdline.windows(needle.len()).any(|w| w == needle) {
            helpers.push(pid);
        }
    }
    let inodes: std::collections::HashSet<u64> =
        helpers.iter().flat_map(|pid| socket_inodes(*pid)).collect();
    let sockets: Vec<PathBuf> = fs::read_to_string("/proc/net/unix")
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_ascii_whitespace().collect();
            let inode = f.get(6)?.parse::<u64>().ok()?;
            let path = PathBuf::from(f.get(7)?);
            (inodes.contains(&inode) && path.starts_with("/run/containerd/s")).then_some(path)
        })
        .collect();
    let killed = helpers
        .into_iter()
        .filter(|pid| {
            kill(
                i32::try_from(*pid).unwrap_or(0),
                rustix::process::Signal::KILL,
            )
        })
        .count();
    (killed, sockets)
}

/// Inodes of the sockets among a process's open files.
fn socket_inodes(pid: u32) -> Vec<u64> {
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    fds.flatten()
        .filter_map(|fd| fs::read_link(fd.path()).ok())
        .filter_map(|target| {
            target
                .to_str()?
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .collect()
}

/// Detaches every mount below `dir` (netns, shm, rootfs bind mounts a
/// killed runtime left), deepest first.
fn unmount_below(dir: &Path) {
    let Ok(mountinfo) = fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let mut points: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|l| l.split_ascii_whitespace().nth(4))
        .map(|p| PathBuf::from(unescape_mountinfo(p)))
        .filter(|p| p.starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for point in points {
        if let Err(e) = rustix::mount::unmount(&point, rustix::mount::UnmountFlags::DETACH) {
            eprintln!(
                "workingset-testkit: cannot unmount {}: {e}",
                point.display()
            );
        }
    }
}

/// Fixed host directories the runtimes create whatever they are told:
/// dockerd's plugin discovery directory, and containerd 1.6's directory for
/// shim sockets (not configurable; the sockets go when the shims exit).
/// Deepest first.
const HOST_DIRS: [&str; 4] = [
    "/run/docker/plugins",
    "/run/docker",
    "/run/containerd/s",
    "/run/containerd",
];

/// Those of [`HOST_DIRS`] that do not exist yet: removed again on cleanup
/// if they are empty then.
fn absent_host_dirs() -> Vec<PathBuf> {
    HOST_DIRS
        .iter()
        .map(PathBuf::from)
        .filter(|d| !d.exists())
        .collect()
}

/// The last `lines` lines of a log file.
fn tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Runs a helper command with a time limit; its output is returned.
fn run_bounded(command: &mut Command) -> Result<String> {
    let line = format!("{command:?}");
    command.stdin(Stdio::null());
    let dir = tempfile::tempdir().map_err(io_err("creating a temporary directory"))?;
    let out_path = dir.path().join("out");
    let out = fs::File::create(&out_path).map_err(io_err("creating an output file"))?;
    let err = out.try_clone().map_err(io_err("cloning an output file"))?;
    let mut child = command
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(io_err(format!("starting {line}")))?;
    let status = wait_bounded(&mut child, COMMAND_TIMEOUT);
    let output = fs::read_to_string(&out_path).unwrap_or_default();
    match status {
        Some(s) if s.success() => Ok(output),
        Some(s) => Err(DockerError::Command {
            command: line,
            status: s.to_string(),
            output,
        }),
        None => {
            let _ = child.kill();
            let _ = wait_bounded(&mut child, KILL_GRACE);
            Err(DockerError::Command {
                command: line,
                status: format!("timed out after {COMMAND_TIMEOUT:?}"),
                output,
            })
        }
    }
}

/// Waits for `socket` to accept connections while `child` runs.
fn wait_for_socket(
    child: &mut Child,
    daemon: &'static str,
    socket: &Path,
    log: &Path,
    ready: impl Fn() -> bool,
) -> Result<()> {
    let started = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(DockerError::Exited {
                daemon,
                status: status.to_string(),
                log: tail(log, 30),
            });
        }
        if socket.exists() && ready() {
            return Ok(());
        }
        if started.elapsed() >= START_TIMEOUT {
            return Err(DockerError::NotReady {
                daemon,
                socket: socket.to_owned(),
                waited: START_TIMEOUT,
                log: tail(log, 30),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

// ---------------------------------------------------------------------------
// HTTP over a unix socket (blocking: tests call this from plain #[test]s
// and from inside async runtimes alike)

/// One HTTP/1.1 exchange with `Connection: close`, within `timeout`.
fn http(
    socket: &Path,
    method: &str,
    path: &str,
    body: Option<(&str, &[u8])>,
    timeout: Duration,
) -> Result<(u16, Vec<u8>)> {
    let call = format!("{method} {path}");
    let deadline = Instant::now() + timeout;
    let mut stream = UnixStream::connect(socket).map_err(io_err(format!(
        "{call}: connecting to {}",
        socket.display()
    )))?;
    stream
        .set_write_timeout(Some(timeout))
        .map_err(io_err(call.clone()))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n");
    if let Some((content_type, data)) = body {
        head.push_str(&format!(
            "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
            data.len()
        ));
    } else if method == "POST" {
        head.push_str("Content-Length: 0\r\n");
    }
    head.push_str("\r\n");
    stream
        .write_all(head.as_bytes())
        .map_err(io_err(format!("{call}: sending")))?;
    if let Some((_, data)) = body {
        stream
            .write_all(data)
            .map_err(io_err(format!("{call}: sending the body")))?;
    }
    let mut response = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(DockerError::Protocol {
                call,
                message: format!("no complete answer within {timeout:?}"),
            });
        }
        stream
            .set_read_timeout(Some(left))
            .map_err(io_err(call.clone()))?;
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                response.extend_from_slice(&buf[..n]);
                if response.len() > MAX_RESPONSE {
                    return Err(DockerError::Protocol {
                        call,
                        message: format!("answer larger than {MAX_RESPONSE} bytes"),
                    });
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(DockerError::Protocol {
                    call,
                    message: format!("no complete answer within {timeout:?}"),
                });
            }
            Err(e) => return Err(io_err(format!("{call}: reading"))(e)),
        }
    }
    parse_http(&call, &response)
}

fn parse_http(call: &str, response: &[u8]) -> Result<(u16, Vec<u8>)> {
    let bad = |message: &str| DockerError::Protocol {
        call: call.to_owned(),
        message: message.to_owned(),
    };
    let split = find(response, b"\r\n\r\n").ok_or_else(|| bad("no end of headers"))?;
    let head = std::str::from_utf8(&response[..split]).map_err(|_| bad("headers not UTF-8"))?;
    let body = &response[split + 4..];
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_ascii_whitespace().nth(1))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| bad("no status line"))?;
    let mut chunked = false;
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") && value.eq_ignore_ascii_case("chunked") {
            chunked = true;
        } else if name.eq_ignore_ascii_case("content-length") {
            length = value.parse::<usize>().ok();
        }
    }
    let body = if chunked {
        dechunk(body).ok_or_else(|| bad("malformed chunked body"))?
    } else if let Some(n) = length {
        body.get(..n)
            .ok_or_else(|| bad("body shorter than Content-Length"))?
            .to_vec()
    } else {
        body.to_vec()
    };
    Ok((status, body))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let end = find(data, b"\r\n")?;
        let size = std::str::from_utf8(&data[..end]).ok()?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        data = &data[end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

/// dockerd's `{"message": …}`, or the start of the body.
fn api_message(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned())
}

// ---------------------------------------------------------------------------
// dockerd

/// The messages of a progress stream (`POST /images/create`, `POST
/// /build`): one JSON object a line, where errors arrive inside a 200
/// answer.
fn progress_stream(path: &str, data: &[u8]) -> Result<Vec<serde_json::Value>> {
    let mut messages = Vec::new();
    for line in data.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let v: serde_json::Value =
            serde_json::from_slice(line).map_err(|e| DockerError::Protocol {
                call: format!("POST {path}"),
                message: format!("not JSON: {e}"),
            })?;
        if let Some(error) = v.get("error").and_then(|e| e.as_str()) {
            return Err(DockerError::Api {
                call: format!("POST {path}"),
                status: 200,
                message: error.to_owned(),
            });
        }
        messages.push(v);
    }
    Ok(messages)
}

/// A container to create with [`Dockerd::run`].
#[derive(Debug, Clone, Default)]
pub struct ContainerSpec {
    /// Container name (`web`, `k8s_POD_…`); letters, digits, `_.-`.
    pub name: String,
    /// Image reference.
    pub image: String,
    /// Command (the busybox image has no default).
    pub cmd: Vec<String>,
    /// Docker labels.
    pub labels: BTreeMap<String, String>,
    /// `HostConfig.CgroupParent`; `None` = the daemon's (its
    /// [`cgroup_parent`](Dockerd::cgroup_parent)). Must lie below the
    /// daemon's cgroup parent so that cleanup finds it.
    pub cgroup_parent: Option<String>,
    /// `HostConfig.Memory` in bytes.
    pub memory_limit: Option<u64>,
    /// `HostConfig.NetworkMode`; `None` = `none` (the daemon has no
    /// bridge). `host` shares the test's loopback.
    pub network_mode: Option<String>,
}

/// A private dockerd, stopped and cleaned up on drop.
#[derive(Debug)]
pub struct Dockerd {
    child: Child,
    dir: Option<tempfile::TempDir>,
    socket: PathBuf,
    log: PathBuf,
    cgroups: CgroupBase,
    host_dirs: Vec<PathBuf>,
}

impl Dockerd {
    /// Starts Debian's dockerd with everything in a temporary directory and
    /// its containers below the test's own cgroup (see the module docs);
    /// waits at most 60 s for its API.
    pub fn start() -> Result<Dockerd> {
        let dockerd = find_binary("dockerd")
            .ok_or_else(|| DockerError::Unsupported("dockerd is not installed".to_owned()))?;
        let dir = tempfile::Builder::new()
            .prefix("ws-dockerd-")
            .tempdir()
            .map_err(io_err("creating the dockerd directory"))?;
        let root = dir.path().to_owned();
        let socket = root.join("docker.sock");
        let log = root.join("dockerd.log");
        let cgroups = CgroupBase::new("docker")?;
        // An explicit (empty but for the key path) config keeps
        // /etc/docker/daemon.json out; the trust key would otherwise be
        // written to /etc/docker/key.json.
        let config = root.join("daemon.json");
        fs::write(
            &config,
            serde_json::json!({ "deprecated-key-path": root.join("key.json") }).to_string(),
        )
        .map_err(io_err("writing daemon.json"))?;
        let log_file = fs::File::create(&log).map_err(io_err("creating dockerd.log"))?;
        let log_err = log_file
            .try_clone()
            .map_err(io_err("cloning dockerd.log"))?;
        let mut command = Command::new(dockerd);
        command
            .arg(format!("--config-file={}", config.display()))
            .arg(format!("--host=unix://{}", socket.display()))
            .arg(format!("--data-root={}", root.join("data").display()))
            .arg(format!("--exec-root={}", root.join("exec").display()))
            .arg(format!("--pidfile={}", root.join("docker.pid").display()))
            .args([
                "--bridge=none",
                "--iptables=false",
                "--ip6tables=false",
                "--ip-forward=false",
                "--ip-masq=false",
                "--userland-proxy=false",
                "--storage-driver=vfs",
                "--exec-opt=native.cgroupdriver=cgroupfs",
                "--shutdown-timeout=5",
            ])
            .arg(format!("--cgroup-parent={}", cgroups.path))
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONFIG")
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_err);
        let host_dirs = absent_host_dirs();
        let child = command.spawn().map_err(io_err("starting dockerd"))?;
        let mut daemon = Dockerd {
            child,
            dir: Some(dir),
            socket,
            log,
            cgroups,
            host_dirs,
        };
        let socket = daemon.socket.clone();
        let log = daemon.log.clone();
        wait_for_socket(&mut daemon.child, "dockerd", &socket, &log, || {
            http(&socket, "GET", "/_ping", None, Duration::from_secs(2))
                .is_ok_and(|(status, _)| status == 200)
        })?;
        Ok(daemon)
    }

    /// The dockerd process id.
    pub fn daemon_pid(&self) -> u32 {
        self.child.id()
    }

    /// dockerd's API socket.
    pub fn socket_path(&self) -> &Path {
        &self.socket
    }

    /// The cgroup path the daemon puts containers under (relative to each
    /// hierarchy's root); per-container parents must lie below it.
    pub fn cgroup_parent(&self) -> &str {
        &self.cgroups.path
    }

    /// The last `lines` lines of dockerd's log.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log, lines)
    }

    /// One raw Engine API call (unversioned path, e.g. `/containers/json`);
    /// a non-2xx answer is an error.
    pub fn api(&self, method: &str, path: &str, body: Option<(&str, &[u8])>) -> Result<Vec<u8>> {
        let (status, data) = http(&self.socket, method, path, body, API_TIMEOUT)?;
        if !(200..300).contains(&status) {
            return Err(DockerError::Api {
                call: format!("{method} {path}"),
                status,
                message: api_message(&data),
            });
        }
        Ok(data)
    }

    fn api_json(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value> {
        let text = body.map(serde_json::Value::to_string);
        let data = self.api(
            method,
            path,
            text.as_deref().map(|t| ("application/json", t.as_bytes())),
        )?;
        if data.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(&data).map_err(|e| DockerError::Protocol {
            call: format!("{method} {path}"),
            message: format!("not JSON: {e}"),
        })
    }

    /// Imports the busybox rootfs (see [`busybox_rootfs_tar`]) as `tag`
    /// (`name:tag`) through `POST /images/create?fromSrc=-`; returns the
    /// image id.
    pub fn import_busybox_image(&self, tag: &str) -> Result<String> {
        let (repo, version) = split_tag(tag);
        check_name(repo, "image name")?;
        check_name(version, "image tag")?;
        let rootfs = busybox_rootfs_tar()?;
        let path = format!("/images/create?fromSrc=-&repo={repo}&tag={version}");
        let data = self.api("POST", &path, Some(("application/x-tar", &rootfs)))?;
        let mut id = None;
        for v in progress_stream(&path, &data)? {
            if let Some(status) = v.get("status").and_then(|s| s.as_str()) {
                id = Some(status.to_owned());
            }
        }
        id.ok_or_else(|| DockerError::Protocol {
            call: format!("POST {path}"),
            message: "no image id in the answer".to_owned(),
        })
    }

    /// Builds an image from a build context (a tar with a `Dockerfile` at
    /// its top) through `POST /build`, tagged `tag`; returns the build's
    /// output. Only `FROM scratch` builds work here: nothing can be pulled.
    pub fn build_image(&self, tag: &str, context_tar: &[u8]) -> Result<String> {
        let (repo, version) = split_tag(tag);
        check_name(repo, "image name")?;
        check_name(version, "image tag")?;
        let path = format!("/build?t={repo}:{version}&rm=1&forcerm=1");
        let data = self.api("POST", &path, Some(("application/x-tar", context_tar)))?;
        Ok(progress_stream(&path, &data)?
            .iter()
            .filter_map(|v| v.get("stream").and_then(|s| s.as_str()))
            .collect())
    }

    /// Waits (at most the API timeout) for a container to exit; its exit
    /// code.
    pub fn wait_container(&self, id: &str) -> Result<i64> {
        check_name(id, "container id")?;
        let answer = self.api_json("POST", &format!("/containers/{id}/wait"), None)?;
        answer["StatusCode"]
            .as_i64()
            .ok_or_else(|| DockerError::Protocol {
                call: format!("wait {id}"),
                message: format!("no StatusCode in {answer}"),
            })
    }

    /// What a container (started without a TTY) wrote so far: stdout and
    /// stderr, taken apart from the Engine API's multiplexed stream.
    pub fn logs(&self, id: &str) -> Result<(Vec<u8>, Vec<u8>)> {
        check_name(id, "container id")?;
        let path = format!("/containers/{id}/logs?stdout=1&stderr=1");
        let data = self.api("GET", &path, None)?;
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut rest = data.as_slice();
        // Frames: stream byte, three zero bytes, big-endian u32 length.
        while rest.len() >= 8 {
            let length = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
            let Some(payload) = rest.get(8..8 + length) else {
                return Err(DockerError::Protocol {
                    call: format!("GET {path}"),
                    message: "a log frame is cut short".to_owned(),
                });
            };
            match rest[0] {
                2 => err.extend_from_slice(payload),
                _ => out.extend_from_slice(payload),
            }
            rest = &rest[8 + length..];
        }
        Ok((out, err))
    }

    /// Creates and starts a container; returns its full id.
    pub fn run(&self, spec: &ContainerSpec) -> Result<String> {
        check_name(&spec.name, "container name")?;
        let cgroup_parent = spec
            .cgroup_parent
            .clone()
            .unwrap_or_else(|| self.cgroups.path.clone());
        if !is_ancestor_or_self(&self.cgroups.path, &cgroup_parent) {
            return Err(DockerError::Unsupported(format!(
                "cgroup parent {cgroup_parent} is not below the daemon's {}",
                self.cgroups.path
            )));
        }
        let mut host_config = serde_json::json!({
            "CgroupParent": cgroup_parent,
            "NetworkMode": spec.network_mode.as_deref().unwrap_or("none"),
        });
        if let Some(limit) = spec.memory_limit {
            host_config["Memory"] = limit.into();
        }
        let body = serde_json::json!({
            "Image": spec.image,
            "Cmd": spec.cmd,
            "Labels": spec.labels,
            "HostConfig": host_config,
        });
        let created = self.api_json(
            "POST",
            &format!("/containers/create?name={}", spec.name),
            Some(&body),
        )?;
        let id = created
            .get("Id")
            .and_then(|v| v.as_str())
            .ok_or_else(|| DockerError::Protocol {
                call: "POST /containers/create".to_owned(),
                message: format!("no Id in {created}"),
            })?
            .to_owned();
        self.start_container(&id)?;
        Ok(id)
    }

    /// [`run`](Self::run) with the parts spelled out.
    pub fn create_and_start(
        &self,
        name: &str,
        image: &str,
        cmd: &[&str],
        labels: &[(&str, &str)],
        cgroup_parent: Option<&str>,
    ) -> Result<String> {
        self.run(&ContainerSpec {
            name: name.to_owned(),
            image: image.to_owned(),
            cmd: cmd.iter().map(|s| (*s).to_owned()).collect(),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            cgroup_parent: cgroup_parent.map(str::to_owned),
            memory_limit: None,
            network_mode: None,
        })
    }

    /// Starts a created or stopped container (`Dockerd::start` starts
    /// the daemon).
    pub fn start_container(&self, id: &str) -> Result<()> {
        check_name(id, "container id")?;
        self.api("POST", &format!("/containers/{id}/start"), None)
            .map(drop)
    }

    /// Stops a container (SIGTERM, SIGKILL after one second: busybox as
    /// PID 1 ignores SIGTERM).
    pub fn stop_container(&self, id: &str) -> Result<()> {
        check_name(id, "container id")?;
        self.api("POST", &format!("/containers/{id}/stop?t=1"), None)
            .map(drop)
    }

    /// Removes a container, killing it if it runs.
    pub fn remove_container(&self, id: &str) -> Result<()> {
        check_name(id, "container id")?;
        self.api(
            "DELETE",
            &format!("/containers/{id}?force=true&v=true"),
            None,
        )
        .map(drop)
    }

    /// `GET /containers/{id}/json`.
    pub fn inspect(&self, id: &str) -> Result<serde_json::Value> {
        check_name(id, "container id")?;
        self.api_json("GET", &format!("/containers/{id}/json"), None)
    }

    /// The host pid of a running container's first process.
    pub fn pid(&self, id: &str) -> Result<u32> {
        let inspected = self.inspect(id)?;
        inspected["State"]["Pid"]
            .as_u64()
            .and_then(|p| u32::try_from(p).ok())
            .filter(|p| *p > 0)
            .ok_or_else(|| DockerError::Protocol {
                call: format!("inspect {id}"),
                message: "no State.Pid: not running".to_owned(),
            })
    }

    /// `GET /containers/{id}/stats?stream=false`: one sample with the
    /// previous one (`precpu_stats`) about a second earlier, the raw JSON
    /// `docker stats` computes its columns from.
    pub fn stats(&self, id: &str) -> Result<serde_json::Value> {
        check_name(id, "container id")?;
        self.api_json("GET", &format!("/containers/{id}/stats?stream=false"), None)
    }

    /// Full ids of all containers, running or not.
    pub fn container_ids(&self) -> Result<Vec<String>> {
        let listed = self.api_json("GET", "/containers/json?all=true", None)?;
        Ok(listed
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|c| c["Id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }

    fn cleanup(&mut self) {
        // The orderly way first: the daemon removes its containers.
        if matches!(self.child.try_wait(), Ok(None)) {
            match self.container_ids() {
                Ok(ids) => {
                    for id in ids {
                        if let Err(e) = self.remove_container(&id) {
                            eprintln!("workingset-testkit: removing container {id}: {e}");
                        }
                    }
                }
                Err(e) => eprintln!("workingset-testkit: listing containers for cleanup: {e}"),
            }
        }
        stop_daemon(&mut self.child, "dockerd");
        let Some(dir) = self.dir.take() else { return };
        finish_cleanup(dir, &self.cgroups, &self.host_dirs, "dockerd", &self.log);
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// What is left after a daemon stopped: stray processes, mounts, cgroups,
/// the directory. Reports problems on stderr (panicking in drop during an
/// unwind would abort the test binary).
fn finish_cleanup(
    dir: tempfile::TempDir,
    cgroups: &CgroupBase,
    host_dirs: &[PathBuf],
    daemon: &str,
    log: &Path,
) {
    if std::thread::panicking() {
        eprintln!("workingset-testkit: {daemon} log ends:\n{}", tail(log, 40));
    }
    let (helpers, sockets) = kill_processes_mentioning(dir.path());
    let strays = cgroups.kill_processes();
    if helpers + strays > 0 {
        eprintln!(
            "workingset-testkit: killed {helpers} leftover {daemon} helper(s) and {strays} \
             container process(es)"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    for socket in sockets {
        let _ = fs::remove_file(socket);
    }
    unmount_below(dir.path());
    if let Err(e) = cgroups.remove() {
        eprintln!("workingset-testkit: could not remove {daemon} test cgroups: {e}");
    }
    for d in host_dirs {
        // Only if empty: another runtime may have started using it.
        let _ = fs::remove_dir(d);
    }
    let path = dir.path().to_owned();
    if let Err(e) = dir.close() {
        eprintln!(
            "workingset-testkit: could not remove {}: {e}",
            path.display()
        );
    }
}

fn split_tag(reference: &str) -> (&str, &str) {
    match reference.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (reference, "latest"),
    }
}

/// Names go into request paths and queries unescaped: keep them plain.
fn check_name(name: &str, what: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'/'))
        && !name.contains("..");
    if ok {
        Ok(())
    } else {
        Err(DockerError::Unsupported(format!(
            "unsupported {what} {name:?}"
        )))
    }
}

// ---------------------------------------------------------------------------
// containerd

/// A private containerd with its CRI plugin, stopped and cleaned up on drop.
///
/// CRI sandboxes must use the host network (no CNI is configured) and a
/// Linux `cgroup_parent` below [`cgroup_parent`](Self::cgroup_parent); its
/// image store is the `k8s.io` namespace, filled with
/// [`import_busybox_image`](Self::import_busybox_image).
#[derive(Debug)]
pub struct Containerd {
    child: Child,
    dir: Option<tempfile::TempDir>,
    socket: PathBuf,
    log: PathBuf,
    cgroups: CgroupBase,
    host_dirs: Vec<PathBuf>,
}

impl Containerd {
    /// Starts Debian's containerd with a config of its own (root, state,
    /// sockets under a temporary directory; CRI with the `native`
    /// snapshotter, runc with cgroupfs, `sandbox_image` as given, the
    /// streaming server on 127.0.0.1 with a free port); waits at most 60 s
    /// for its socket.
    pub fn start(sandbox_image: &str) -> Result<Containerd> {
        let containerd = find_binary("containerd")
            .ok_or_else(|| DockerError::Unsupported("containerd is not installed".to_owned()))?;
        let dir = tempfile::Builder::new()
            .prefix("ws-containerd-")
            .tempdir()
            .map_err(io_err("creating the containerd directory"))?;
        let root = dir.path().to_owned();
        let socket = root.join("containerd.sock");
        let log = root.join("containerd.log");
        let cgroups = CgroupBase::new("containerd")?;
        for sub in ["root", "state", "opt", "cni-bin", "cni-conf"] {
            fs::create_dir(root.join(sub)).map_err(io_err(format!("creating {sub}")))?;
        }
        let config = root.join("config.toml");
        fs::write(
            &config,
            containerd_config(&root, &socket, &normalize_reference(sandbox_image)),
        )
        .map_err(io_err("writing config.toml"))?;
        let log_file = fs::File::create(&log).map_err(io_err("creating containerd.log"))?;
        let log_err = log_file
            .try_clone()
            .map_err(io_err("cloning containerd.log"))?;
        let host_dirs = absent_host_dirs();
        let child = Command::new(containerd)
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_err)
            .spawn()
            .map_err(io_err("starting containerd"))?;
        let mut daemon = Containerd {
            child,
            dir: Some(dir),
            socket,
            log,
            cgroups,
            host_dirs,
        };
        let socket = daemon.socket.clone();
        let log = daemon.log.clone();
        wait_for_socket(&mut daemon.child, "containerd", &socket, &log, || {
            UnixStream::connect(&socket).is_ok()
        })?;
        Ok(daemon)
    }

    /// The containerd process id.
    pub fn daemon_pid(&self) -> u32 {
        self.child.id()
    }

    /// containerd's socket (gRPC: its own API and the CRI).
    pub fn socket_path(&self) -> &Path {
        &self.socket
    }

    /// The cgroup below which CRI sandboxes must put their
    /// `cgroup_parent` (relative to each hierarchy's root).
    pub fn cgroup_parent(&self) -> &str {
        &self.cgroups.path
    }

    /// The directory for files a test wants cleaned up with the daemon
    /// (CRI log directories).
    pub fn scratch_dir(&self) -> Option<&Path> {
        self.dir.as_ref().map(tempfile::TempDir::path)
    }

    /// The last `lines` lines of containerd's log.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log, lines)
    }

    /// Imports the busybox image (see [`busybox_oci_archive`]) as
    /// `reference` with default command `cmd` into the `k8s.io` namespace,
    /// where the CRI plugin looks for images.
    pub fn import_busybox_image(&self, reference: &str, cmd: &[&str]) -> Result<()> {
        let archive = busybox_oci_archive(reference, cmd)?;
        let dir = self
            .dir
            .as_ref()
            .ok_or_else(|| DockerError::Unsupported("containerd was stopped".to_owned()))?;
        let path = dir.path().join("image.tar");
        fs::write(&path, archive).map_err(io_err("writing image.tar"))?;
        let ctr = find_binary("ctr")
            .ok_or_else(|| DockerError::Unsupported("ctr is not installed".to_owned()))?;
        run_bounded(
            Command::new(ctr)
                .arg("--address")
                .arg(&self.socket)
                .args([
                    "--namespace",
                    "k8s.io",
                    "images",
                    "import",
                    "--snapshotter",
                    "native",
                ])
                .arg(&path),
        )?;
        let _ = fs::remove_file(&path);
        Ok(())
    }

    fn cleanup(&mut self) {
        // Containers first, so the shims exit with them; the daemon second.
        let strays = self.cgroups.kill_processes();
        if strays > 0 {
            eprintln!("workingset-testkit: killed {strays} CRI container process(es) left running");
            std::thread::sleep(Duration::from_millis(200));
        }
        stop_daemon(&mut self.child, "containerd");
        let Some(dir) = self.dir.take() else { return };
        finish_cleanup(dir, &self.cgroups, &self.host_dirs, "containerd", &self.log);
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// containerd 1.6 config (version 2) for a private instance.
fn containerd_config(root: &Path, socket: &Path, sandbox_image: &str) -> String {
    let r = root.display();
    let s = socket.display();
    format!(
        r#"version = 2
root = "{r}/root"
state = "{r}/state"
# Plugins that need kernel features or hardware this harness does not use.
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = "{s}"

[ttrpc]
  address = "{s}.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "{r}/opt"
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "{sandbox_image}"
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    disable_apparmor = true
    enable_selinux = false
    # Sandboxes ask for oom_score_adj -998, which needs CAP_SYS_RESOURCE;
    # test processes may lack it (this machine's do). Clamp instead.
    restrict_oom_score_adj = true
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "native"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          SystemdCgroup = false
          # runc's state, otherwise in /run/containerd/runc.
          Root = "{r}/runc"
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "{r}/cni-bin"
      conf_dir = "{r}/cni-conf"
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_answers() {
        let plain = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA";
        assert_eq!(parse_http("t", plain).unwrap(), (200, b"ok".to_vec()));
        let chunked = b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse_http("t", chunked).unwrap(), (404, b"abcde".to_vec()));
        assert!(parse_http("t", b"HTTP/1.1 200 OK\r\n").is_err());
    }

    #[test]
    fn references() {
        assert_eq!(normalize_reference("bb:test"), "docker.io/library/bb:test");
        assert_eq!(normalize_reference("me/bb:1"), "docker.io/me/bb:1");
        assert_eq!(
            normalize_reference("registry.k8s.io/pause:3.9"),
            "registry.k8s.io/pause:3.9"
        );
        assert_eq!(split_tag("bb:test"), ("bb", "test"));
        assert_eq!(
            split_tag("localhost:5000/bb"),
            ("localhost:5000/bb", "latest")
        );
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("k8s_POD_mypod_myns_1-2_0", "n").is_ok());
        assert!(check_name("a b", "n").is_err());
        assert!(check_name("../x", "n").is_err());
        assert!(check_name("x?y", "n").is_err());
    }

    #[test]
    fn ancestors() {
        assert!(is_ancestor_or_self("/", "/process_api/x"));
        assert!(is_ancestor_or_self("/process_api", "/process_api/x"));
        assert!(!is_ancestor_or_self("/process_api/y", "/process_api/x"));
        assert!(!is_ancestor_or_self("/proc", "/process_api"));
    }

    #[test]
    fn cgroup_mounts_from_mountinfo() {
        let m = cgroup_mounts(
            "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
             41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n\
             27 1 254:0 / / rw - ext4 /dev/vda rw\n",
        );
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].0, Path::new("/sys/fs/cgroup/memory"));
        assert_eq!(m[1].1, "/");
    }

    #[test]
    fn rootfs_tar_has_busybox_applets_and_pause() {
        if static_busybox().is_err() {
            eprintln!("no static busybox here; nothing to check");
            return;
        }
        let tar = busybox_rootfs_tar().unwrap();
        let mut archive = tar::Archive::new(tar.as_slice());
        let mut names = Vec::new();
        for entry in archive.entries().unwrap() {
            let entry = entry.unwrap();
            names.push((
                entry.path().unwrap().to_string_lossy().into_owned(),
                entry.header().entry_type(),
            ));
        }
        assert!(names.contains(&("bin/busybox".to_owned(), tar::EntryType::Regular)));
        assert!(names.contains(&("bin/sh".to_owned(), tar::EntryType::Symlink)));
        assert!(names.contains(&("pause".to_owned(), tar::EntryType::Link)));
    }
}
