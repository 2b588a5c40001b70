//! A uniquely named child of the test process's own cgroup, in every
//! hierarchy a test reads, removed again afterwards.
//!
//! The rule on shared machines: tests touch only cgroups below their own.
//! "Own" is per hierarchy — on a cgroup v1 machine the process can sit in
//! `/process_api/<hash>` for `memory` but at `/` for `cpu` — so the child is
//! created below each controller's own path, read from `/proc/self/cgroup`.
//! This module parses mountinfo and `/proc/self/cgroup` itself rather than
//! using `workingset-cgroup`, so the reader is checked against an
//! independent idea of where things are.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The cgroup v1 controllers a child is created in.
pub const V1_CONTROLLERS: [&str; 4] = ["memory", "cpu", "cpuacct", "pids"];

/// The name [`OwnCgroupChild`] uses for the cgroup v2 hierarchy (the whole
/// tree on a unified machine, the controller-less `unified` mount on a
/// hybrid one).
pub const UNIFIED: &str = "unified";

const CGROUPFS: &str = "/sys/fs/cgroup";

/// How long removal keeps retrying while the kernel still counts exiting
/// tasks in the cgroup.
const REMOVE_ATTEMPTS: u32 = 100;
const REMOVE_PAUSE: Duration = Duration::from_millis(20);

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The child in one hierarchy (one mount; `cpu,cpuacct` co-mounted is one).
#[derive(Debug)]
struct Part {
    /// Controllers this mount carries, of those a test asks for
    /// (`memory`, `cpu`, …, or [`UNIFIED`]).
    controllers: Vec<&'static str>,
    /// Where the hierarchy is mounted.
    mount_point: PathBuf,
    /// Our own cgroup's directory in this hierarchy.
    parent_dir: PathBuf,
    /// The child's directory.
    dir: PathBuf,
    /// The child's path relative to the mount (what the reader takes).
    path: String,
}

/// A child cgroup of the test's own cgroups; removed on [`remove`] or drop.
///
/// [`remove`]: OwnCgroupChild::remove
#[derive(Debug)]
pub struct OwnCgroupChild {
    name: String,
    parts: Vec<Part>,
}

impl OwnCgroupChild {
    /// Creates `ws-test-<name>-<pid>-<unique>` below the process's own
    /// cgroup in the memory, cpu, cpuacct and pids hierarchies and, when
    /// present, the cgroup v2 one. Fails if one of the v1 controllers is not
    /// mounted (on a unified machine only the v2 child is made).
    pub fn create(name: &str) -> io::Result<OwnCgroupChild> {
        let mountinfo = fs::read_to_string("/proc/self/mountinfo")?;
        let own = fs::read_to_string("/proc/self/cgroup")?;
        let mounts = cgroup_mounts(&mountinfo);
        let unique = format!(
            "ws-test-{}-{}-{}-{:x}",
            sanitize(name),
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos())
        );
        let mut child = OwnCgroupChild {
            name: unique,
            parts: Vec::new(),
        };
        let unified_at_root = mounts
            .iter()
            .any(|m| m.fs_type == "cgroup2" && m.mount_point == Path::new(CGROUPFS));
        if !unified_at_root {
            for controller in V1_CONTROLLERS {
                let mount = mounts
                    .iter()
                    .find(|m| m.fs_type == "cgroup" && m.options.iter().any(|o| o == controller))
                    .ok_or_else(|| {
                        io::Error::other(format!(
                            "cgroup v1 controller {controller} is not mounted"
                        ))
                    })?;
                if let Some(part) = child
                    .parts
                    .iter_mut()
                    .find(|p| p.mount_point == mount.mount_point)
                {
                    part.controllers.push(controller);
                    continue;
                }
                let own_path = own_path(&own, Some(controller)).ok_or_else(|| {
                    io::Error::other(format!("/proc/self/cgroup has no {controller} line"))
                })?;
                child.add_part(controller, mount, own_path)?;
            }
        }
        let v2 = mounts
            .iter()
            .find(|m| m.fs_type == "cgroup2" && m.mount_point.starts_with(CGROUPFS));
        if let (Some(mount), Some(own_path)) = (v2, own_path(&own, None)) {
            child.add_part(UNIFIED, mount, own_path)?;
        }
        Ok(child)
    }

    fn add_part(
        &mut self,
        controller: &'static str,
        mount: &CgroupMount,
        own: &str,
    ) -> io::Result<()> {
        // Paths in /proc/self/cgroup are relative to the hierarchy root; the
        // mount may show only a sub-tree of it (mountinfo's root field).
        let rel = own
            .strip_prefix(mount.root.trim_end_matches('/'))
            .ok_or_else(|| {
                io::Error::other(format!(
                    "own {controller} cgroup {own} is outside the mounted sub-tree {}",
                    mount.root
                ))
            })?
            .trim_matches('/');
        let parent_dir = mount.mount_point.join(rel);
        let dir = parent_dir.join(&self.name);
        fs::create_dir(&dir).map_err(|e| annotate(e, "creating", &dir))?;
        let path = if rel.is_empty() {
            format!("/{}", self.name)
        } else {
            format!("/{rel}/{}", self.name)
        };
        self.parts.push(Part {
            controllers: vec![controller],
            mount_point: mount.mount_point.clone(),
            parent_dir,
            dir,
            path,
        });
        Ok(())
    }

    /// The unique directory name used in every hierarchy.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The child's path as a cgroup reader takes it (relative to the
    /// controller's mount) for `controller` (`memory`, `cpu`, `cpuacct`,
    /// `pids` or [`UNIFIED`]); `None` if not created there.
    pub fn path(&self, controller: &str) -> Option<&str> {
        self.part(controller).map(|p| p.path.as_str())
    }

    /// The path of the test's own cgroup (the child's parent) for `controller`.
    pub fn parent_path(&self, controller: &str) -> Option<&str> {
        let path = self.path(controller)?;
        let parent = path.strip_suffix(self.name.as_str())?.trim_end_matches('/');
        Some(if parent.is_empty() { "/" } else { parent })
    }

    /// The child's directory for `controller`.
    pub fn dir(&self, controller: &str) -> Option<&Path> {
        self.part(controller).map(|p| p.dir.as_path())
    }

    fn part(&self, controller: &str) -> Option<&Part> {
        self.parts
            .iter()
            .find(|p| p.controllers.contains(&controller))
    }

    /// Writes `value` to `file` in the child's directory for `controller`
    /// (a limit, `cpu.shares`). Only ever touches the child.
    pub fn write(&self, controller: &str, file: &str, value: &str) -> io::Result<()> {
        let dir = self
            .dir(controller)
            .ok_or_else(|| io::Error::other(format!("no {controller} child")))?;
        let path = dir.join(file);
        fs::write(&path, value).map_err(|e| annotate(e, "writing", &path))
    }

    /// Moves process `pid` (all its threads) into the child in every hierarchy.
    pub fn add_pid(&self, pid: u32) -> io::Result<()> {
        for part in &self.parts {
            let procs = part.dir.join("cgroup.procs");
            fs::write(&procs, pid.to_string()).map_err(|e| annotate(e, "writing", &procs))?;
        }
        Ok(())
    }

    /// The processes in the child (read from its first hierarchy).
    pub fn pids(&self) -> io::Result<Vec<u32>> {
        match self.parts.first() {
            Some(part) => read_procs(&part.dir),
            None => Ok(Vec::new()),
        }
    }

    /// Moves any remaining processes back to the parent and removes the
    /// child everywhere, retrying for a while when the kernel still counts
    /// exiting tasks. Reports the first failure; kills nothing.
    pub fn remove(mut self) -> io::Result<()> {
        self.cleanup()
    }

    fn cleanup(&mut self) -> io::Result<()> {
        let mut first_error = None;
        while let Some(part) = self.parts.pop() {
            if let Err(e) = remove_part(&part) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl Drop for OwnCgroupChild {
    fn drop(&mut self) {
        if let Err(e) = self.cleanup() {
            // A leftover cgroup must not go unnoticed, but panicking in drop
            // during an unwind would abort the whole test binary.
            eprintln!(
                "workingset-testkit: could not remove test cgroup {}: {e}",
                self.name
            );
        }
    }
}

fn remove_part(part: &Part) -> io::Result<()> {
    let mut last = None;
    for _ in 0..REMOVE_ATTEMPTS {
        if let Ok(pids) = read_procs(&part.dir) {
            for pid in pids {
                // The task may have exited meanwhile (ESRCH): fine.
                let _ = fs::write(part.parent_dir.join("cgroup.procs"), pid.to_string());
            }
        }
        match fs::remove_dir(&part.dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => last = Some(e),
        }
        std::thread::sleep(REMOVE_PAUSE);
    }
    Err(annotate(
        last.unwrap_or_else(|| io::Error::other("unknown")),
        "removing",
        &part.dir,
    ))
}

fn read_procs(dir: &Path) -> io::Result<Vec<u32>> {
    let text = fs::read_to_string(dir.join("cgroup.procs"))?;
    Ok(text.lines().filter_map(|l| l.trim().parse().ok()).collect())
}

fn annotate(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(40)
        .collect()
}

#[derive(Debug)]
pub(crate) struct CgroupMount {
    pub(crate) fs_type: String,
    pub(crate) mount_point: PathBuf,
    pub(crate) root: String,
    pub(crate) options: Vec<String>,
}

pub(crate) fn cgroup_mounts(mountinfo: &str) -> Vec<CgroupMount> {
    let mut out = Vec::new();
    for line in mountinfo.lines() {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        let Some(sep) = fields.iter().position(|f| *f == "-") else {
            continue;
        };
        let (Some(root), Some(point), Some(fs_type), Some(options)) = (
            fields.get(3),
            fields.get(4),
            fields.get(sep + 1),
            fields.get(sep + 3),
        ) else {
            continue;
        };
        if *fs_type != "cgroup" && *fs_type != "cgroup2" {
            continue;
        }
        out.push(CgroupMount {
            fs_type: (*fs_type).to_owned(),
            mount_point: PathBuf::from(point.replace("\\040", " ")),
            root: root.replace("\\040", " "),
            options: options.split(',').map(str::to_owned).collect(),
        });
    }
    out
}

/// The own cgroup path for a v1 `controller`, or the v2 (`0::`) path for `None`.
pub(crate) fn own_path<'a>(proc_self_cgroup: &'a str, controller: Option<&str>) -> Option<&'a str> {
    proc_self_cgroup.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (_id, list, path) = (fields.next()?, fields.next()?, fields.next()?);
        let wanted = match controller {
            Some(c) => list.split(',').any(|x| x == c),
            None => list.is_empty(),
        };
        wanted.then_some(path)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROC_SELF_CGROUP: &str =
        "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/ebc6\n2:cpu,cpuacct:/\n0::/\n";

    #[test]
    fn own_paths_per_controller() {
        assert_eq!(
            own_path(PROC_SELF_CGROUP, Some("memory")),
            Some("/process_api/ebc6")
        );
        assert_eq!(own_path(PROC_SELF_CGROUP, Some("cpuacct")), Some("/"));
        assert_eq!(own_path(PROC_SELF_CGROUP, Some("cpuset")), None);
        assert_eq!(own_path(PROC_SELF_CGROUP, None), Some("/"));
    }

    #[test]
    fn mounts_from_mountinfo() {
        let m = cgroup_mounts(
            "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
             41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n\
             27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n",
        );
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].mount_point, Path::new("/sys/fs/cgroup/memory"));
        assert!(m[0].options.iter().any(|o| o == "memory"));
        assert_eq!(m[1].fs_type, "cgroup2");
    }

    #[test]
    fn names_are_safe_directory_names() {
        assert_eq!(sanitize("anon 64/MiB"), "anon-64-MiB");
    }
}
