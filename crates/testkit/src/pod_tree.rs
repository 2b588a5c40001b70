//! Many empty cgroups laid out as the kubelet lays out pods (cgroupfs
//! driver: `kubepods/burstable/pod<uid>/<container id>`), for measuring the
//! agent and local `top` at a given size on a real cgroup filesystem.
//!
//! The tree sits beneath this process's own memory cgroup (read from
//! `/proc/self/cgroup`), and at the same relative path in the other
//! hierarchies the sampler reads (cpu, cpuacct, pids, and the v2 one),
//! because the sampler reads one relative path in every hierarchy. On this
//! kind of machine the process's own cgroup in those is `/`, so the path is
//! beneath its own cgroup there too; a hierarchy where it would not be is
//! refused. Everything created is removed on drop, deepest first.

use std::fs;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::own_cgroup::{cgroup_mounts, own_path};

/// Trees made by this process so far: each gets its own name.
static TREES: AtomicU32 = AtomicU32::new(0);

/// The v1 hierarchies the sampler reads.
const V1_CONTROLLERS: [&str; 4] = ["memory", "cpu", "cpuacct", "pids"];

/// A pod tree; removed when dropped.
#[derive(Debug)]
pub struct PodCgroupTree {
    /// The node's cgroup, relative to every hierarchy (`--cgroup-root`).
    root: String,
    /// Pod and container cgroups, relative paths.
    workloads: Vec<String>,
    /// Where each hierarchy is mounted, as the sampler sees it.
    mounts: Vec<PathBuf>,
    /// Directories created, in creation order.
    created: Vec<PathBuf>,
}

impl PodCgroupTree {
    /// `pods` pod cgroups with `containers` container cgroups each, below
    /// `ws-pods-<pid>-<n>` in this process's own memory cgroup.
    pub fn create(pods: usize, containers: usize) -> io::Result<Self> {
        let mountinfo = fs::read_to_string("/proc/self/mountinfo")?;
        let own = fs::read_to_string("/proc/self/cgroup")?;
        let mounts = cgroup_mounts(&mountinfo);
        let v2_only = mounts.iter().any(|m| {
            m.fs_type == "cgroup2" && m.mount_point == std::path::Path::new("/sys/fs/cgroup")
        });
        let anchor = if v2_only {
            own_path(&own, None)
        } else {
            own_path(&own, Some("memory"))
        }
        .ok_or_else(|| io::Error::other("/proc/self/cgroup names no memory cgroup"))?
        .trim_end_matches('/')
        .to_owned();
        let root = format!(
            "{anchor}/ws-pods-{}-{}",
            std::process::id(),
            TREES.fetch_add(1, Ordering::Relaxed)
        );

        let mut hierarchies = Vec::new();
        for mount in &mounts {
            let controller = if mount.fs_type == "cgroup2" {
                None
            } else {
                match V1_CONTROLLERS
                    .iter()
                    .find(|c| mount.options.iter().any(|o| o == *c))
                {
                    Some(controller) => Some(*controller),
                    None => continue,
                }
            };
            let Some(own_there) = own_path(&own, controller) else {
                continue;
            };
            if !std::path::Path::new(&root).starts_with(own_there) {
                return Err(io::Error::other(format!(
                    "{root} would not be beneath this process's own cgroup {own_there} in {}",
                    mount.mount_point.display()
                )));
            }
            let rel = root
                .strip_prefix(mount.root.trim_end_matches('/'))
                .ok_or_else(|| {
                    io::Error::other(format!(
                        "{root} is outside what {} shows of its hierarchy",
                        mount.mount_point.display()
                    ))
                })?
                .trim_start_matches('/');
            hierarchies.push((mount.mount_point.clone(), mount.mount_point.join(rel)));
        }

        let mut tree = Self {
            root: root.clone(),
            workloads: Vec::new(),
            mounts: hierarchies.iter().map(|(mount, _)| mount.clone()).collect(),
            created: Vec::new(),
        };
        let mut relative = vec![
            String::new(),
            "/kubepods".to_owned(),
            "/kubepods/burstable".to_owned(),
        ];
        for pod in 0..pods {
            let pod_path = format!(
                "/kubepods/burstable/pod{:08x}-0000-4000-8000-{pod:012x}",
                pod
            );
            relative.push(pod_path.clone());
            tree.workloads.push(format!("{root}{pod_path}"));
            for container in 0..containers {
                let path = format!("{pod_path}/{container:04x}{pod:08x}{:052x}", 0);
                relative.push(path.clone());
                tree.workloads.push(format!("{root}{path}"));
            }
        }
        for (_, base) in &hierarchies {
            for path in &relative {
                tree.make(base, path)?;
            }
        }
        Ok(tree)
    }

    fn make(&mut self, base: &std::path::Path, relative: &str) -> io::Result<()> {
        let dir = base.join(relative.trim_start_matches('/'));
        // Parents missing in a hierarchy are made too, and removed again.
        let mut missing = Vec::new();
        let mut at = dir.as_path();
        while !at.exists() {
            missing.push(at.to_path_buf());
            match at.parent() {
                Some(parent) => at = parent,
                None => break,
            }
        }
        for dir in missing.into_iter().rev() {
            fs::create_dir(&dir).map_err(|e| {
                io::Error::new(e.kind(), format!("creating {}: {e}", dir.display()))
            })?;
            self.created.push(dir);
        }
        Ok(())
    }

    /// The node's cgroup (`--cgroup-root`), the same relative path in every
    /// hierarchy.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// Every pod and container cgroup, relative paths.
    pub fn workloads(&self) -> &[String] {
        &self.workloads
    }

    /// Where the hierarchies the tree was made in are mounted.
    pub fn mounts(&self) -> &[PathBuf] {
        &self.mounts
    }
}

impl Drop for PodCgroupTree {
    fn drop(&mut self) {
        while let Some(dir) = self.created.pop() {
            if let Err(e) = fs::remove_dir(&dir) {
                eprintln!(
                    "workingset-testkit: could not remove cgroup {}: {e}",
                    dir.display()
                );
            }
        }
    }
}
