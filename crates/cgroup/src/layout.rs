//! Which cgroup hierarchy a machine uses, and where each controller is
//! mounted, decided from `mountinfo` text.
//!
//! The rule is the kernel's, not a guess from file names: the machine is
//! **unified** (cgroup v2) only when a `cgroup2` filesystem is mounted *at*
//! the cgroup filesystem mount point (`/sys/fs/cgroup`). Otherwise it is
//! cgroup v1 — **legacy** with only per-controller `cgroup` mounts, or
//! **hybrid** when a controller-less `cgroup2` is also mounted below it
//! (`/sys/fs/cgroup/unified`). Hybrid reads like v1: a `cgroup2` mount that
//! exists somewhere never makes a machine v2.

use std::path::{Path, PathBuf};

use crate::error::ParseError;
use crate::parse::{self, MountInfo};

/// The kind of cgroup hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hierarchy {
    /// cgroup v2 only: one tree at the cgroup filesystem mount point.
    Unified,
    /// cgroup v1 only: one mount per controller (or group of controllers).
    Legacy,
    /// cgroup v1 controllers plus a cgroup v2 mount that holds no
    /// controllers (systemd's `/sys/fs/cgroup/unified`). Reads as v1.
    Hybrid,
}

impl Hierarchy {
    /// True for the unified (v2) hierarchy, the only one read with v2 files.
    pub fn is_v2(self) -> bool {
        self == Hierarchy::Unified
    }
}

/// One cgroup filesystem mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Where mountinfo says it is mounted, unescaped (`/sys/fs/cgroup/memory`).
    pub mount_point: PathBuf,
    /// The same directory relative to the cgroup filesystem mount point
    /// (`memory`; empty for a v2 hierarchy mounted at the mount point itself).
    pub dir: PathBuf,
    /// The cgroup visible at the mount point (mountinfo's root field; `/`
    /// unless the mount is a bind mount of a sub-tree, as in some containers).
    pub root: String,
    /// The superblock options. For v1 these name the controllers
    /// (`cpu`, `cpuacct`, `memory`, `name=systemd`, …) next to flags like `rw`.
    pub options: Vec<String>,
}

impl Mount {
    /// True when `name` (a controller such as `cpuacct`, or `name=systemd`)
    /// is one of this mount's superblock options.
    pub fn has(&self, name: &str) -> bool {
        self.options.iter().any(|o| o == name)
    }

    fn from_info(info: &MountInfo<'_>, dir: PathBuf) -> Mount {
        Mount {
            mount_point: PathBuf::from(parse::unescape(info.mount_point).as_ref()),
            dir,
            root: parse::unescape(info.root).into_owned(),
            options: info
                .super_options
                .split(',')
                .filter(|o| !o.is_empty())
                .map(str::to_owned)
                .collect(),
        }
    }
}

/// The cgroup mounts of a machine, as found in mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Which hierarchy the machine uses.
    pub hierarchy: Hierarchy,
    /// cgroup v1 mounts below the cgroup filesystem mount point, in
    /// mountinfo order (empty when unified).
    pub v1: Vec<Mount>,
    /// The cgroup v2 mount: the whole hierarchy when unified, the
    /// controller-less `unified` mount when hybrid, `None` when legacy.
    pub unified: Option<Mount>,
}

impl Layout {
    /// Decides the layout from mountinfo text. `mount_point` is the cgroup
    /// filesystem mount point as mountinfo names it (`/sys/fs/cgroup`).
    /// `Ok(None)` when no cgroup filesystem is mounted at or below it.
    pub fn from_mountinfo(text: &str, mount_point: &Path) -> Result<Option<Layout>, ParseError> {
        // The last mount at the mount point itself is the visible one.
        let mut at_root_is_cgroup2 = None;
        let mut v1 = Vec::new();
        let mut unified_below = None;
        for info in parse::mountinfo(text) {
            let info = info?;
            let point = parse::unescape(info.mount_point);
            let Ok(rel) = Path::new(point.as_ref()).strip_prefix(mount_point) else {
                continue;
            };
            if rel.as_os_str().is_empty() {
                // A mount at the mount point hides everything mounted below
                // it before; the last one is what the machine shows.
                at_root_is_cgroup2 = Some(info.fs_type == "cgroup2");
                v1.clear();
                unified_below =
                    (info.fs_type == "cgroup2").then(|| Mount::from_info(&info, PathBuf::new()));
                continue;
            }
            match info.fs_type {
                "cgroup" => v1.push(Mount::from_info(&info, rel.to_path_buf())),
                "cgroup2" if unified_below.is_none() => {
                    unified_below = Some(Mount::from_info(&info, rel.to_path_buf()));
                }
                _ => {}
            }
        }
        if at_root_is_cgroup2 == Some(true) {
            return Ok(Some(Layout {
                hierarchy: Hierarchy::Unified,
                v1: Vec::new(),
                unified: unified_below,
            }));
        }
        let hierarchy = match (&unified_below, v1.is_empty()) {
            (None, true) => return Ok(None),
            (None, false) => Hierarchy::Legacy,
            (Some(_), _) => Hierarchy::Hybrid,
        };
        Ok(Some(Layout {
            hierarchy,
            v1,
            unified: unified_below,
        }))
    }

    /// The first v1 mount that carries `name` (`memory`, `cpuacct`,
    /// `name=systemd`); `None` on a unified machine or when not mounted.
    pub fn v1_mount(&self, name: &str) -> Option<&Mount> {
        self.v1.iter().find(|m| m.has(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = "/sys/fs/cgroup";

    #[test]
    fn cgroup2_elsewhere_does_not_make_v2() {
        let text = "30 1 0:5 / /run/cgroup2 rw - cgroup2 cgroup2 rw\n\
                    31 1 0:6 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
        let l = Layout::from_mountinfo(text, Path::new(ROOT))
            .unwrap()
            .unwrap();
        assert_eq!(l.hierarchy, Hierarchy::Legacy);
        assert!(l.unified.is_none());
        assert_eq!(l.v1_mount("memory").unwrap().dir, Path::new("memory"));
    }

    #[test]
    fn bind_mounted_sub_tree_keeps_its_root() {
        // A container without a cgroup namespace sees its own cgroup at the mount point.
        let text = "1 0 0:6 /docker/abc /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory\n";
        let l = Layout::from_mountinfo(text, Path::new(ROOT))
            .unwrap()
            .unwrap();
        assert_eq!(l.v1_mount("memory").unwrap().root, "/docker/abc");
    }

    #[test]
    fn no_cgroup_mounts() {
        let text = "22 27 0:21 / /proc rw,relatime - proc proc rw\n";
        assert_eq!(Layout::from_mountinfo(text, Path::new(ROOT)), Ok(None));
    }

    #[test]
    fn overmounted_root_uses_last_mount() {
        let text = "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n\
                    32 31 0:29 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
                    33 23 0:30 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        let l = Layout::from_mountinfo(text, Path::new(ROOT))
            .unwrap()
            .unwrap();
        assert_eq!(l.hierarchy, Hierarchy::Unified);
        assert!(l.v1.is_empty());
        assert_eq!(l.unified.unwrap().dir, Path::new(""));
    }
}
