//! The configured, detected handle ([`Cgroups`]) and the reader that turns a
//! cgroup path into figures ([`Reader`]).
//!
//! Detection happens once, in [`Cgroups::open`]; a `Cgroups` is cheap to
//! clone and share. A [`Reader`] adds the reused buffers (file contents and
//! path), so a housekeeping loop that reads thousands of files allocates
//! only when something goes wrong.

use std::fs;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{Mode, OFlags};

use crate::error::{Error, ParseError, ParseErrorKind};
use crate::layout::{Hierarchy, Layout, Mount};
use crate::parse::{
    self, CpuMax, CpuStatV1, CpuStatV2, CpuacctStat, Meminfo, MemoryStatV1, MemoryStatV2,
};
use crate::stats::{
    CpuOrigin, CpuStats, MemoryOrigin, MemoryStats, NS_PER_USER_HZ_TICK, NodeStats, PidsStats,
    Throttling, working_set,
};

/// Where to find things. Every root is configurable so that fixture trees
/// (and a DaemonSet with the host's filesystems mounted elsewhere) work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The proc filesystem (`/proc`): `self/mountinfo`, `meminfo`, `stat`.
    pub proc_root: PathBuf,
    /// The sysfs root (`/sys`): `devices/system/cpu/online`.
    pub sys_root: PathBuf,
    /// Where cgroup files are read (`/sys/fs/cgroup`).
    pub cgroupfs_root: PathBuf,
    /// The same directory as mountinfo names it (`/sys/fs/cgroup`). Differs
    /// from `cgroupfs_root` only for fixture trees and re-mounted hosts.
    pub cgroupfs_mount_point: PathBuf,
    /// The cgroup treated as the node, like the kubelet's `--cgroup-root`
    /// (`/`), relative to the hierarchy root.
    pub cgroup_root: String,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            proc_root: PathBuf::from("/proc"),
            sys_root: PathBuf::from("/sys"),
            cgroupfs_root: PathBuf::from("/sys/fs/cgroup"),
            cgroupfs_mount_point: PathBuf::from("/sys/fs/cgroup"),
            cgroup_root: String::from("/"),
        }
    }
}

impl Config {
    /// A configuration that reads `<dir>/proc`, `<dir>/sys` and
    /// `<dir>/sys/fs/cgroup`, with mountinfo still naming `/sys/fs/cgroup`:
    /// the shape of a captured fixture tree.
    pub fn under(dir: impl AsRef<Path>) -> Config {
        let dir = dir.as_ref();
        Config {
            proc_root: dir.join("proc"),
            sys_root: dir.join("sys"),
            cgroupfs_root: dir.join("sys/fs/cgroup"),
            ..Config::default()
        }
    }

    /// The same configuration with another cgroup root (the node's cgroup).
    pub fn with_cgroup_root(mut self, cgroup_root: impl Into<String>) -> Config {
        self.cgroup_root = cgroup_root.into();
        self
    }

    /// The mountinfo file detection reads: `<proc_root>/self/mountinfo`.
    pub fn mountinfo_path(&self) -> PathBuf {
        self.proc_root.join("self/mountinfo")
    }
}

/// The controllers the reader uses. On v2 they all live in the one tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Controller {
    /// `memory`.
    Memory,
    /// `cpu`: CFS bandwidth (throttling, quota).
    Cpu,
    /// `cpuacct`: CPU usage accounting (v1 only; v2 has it in `cpu.stat`).
    Cpuacct,
    /// `pids`.
    Pids,
}

impl Controller {
    /// The name as it appears in v1 mount options and `/proc/self/cgroup`.
    pub fn name(self) -> &'static str {
        match self {
            Controller::Memory => "memory",
            Controller::Cpu => "cpu",
            Controller::Cpuacct => "cpuacct",
            Controller::Pids => "pids",
        }
    }
}

#[derive(Debug)]
struct Inner {
    config: Config,
    layout: Layout,
    /// Directory under `cgroupfs_root` of each controller; on v2 all are the
    /// unified root.
    memory: Option<PathBuf>,
    cpu: Option<PathBuf>,
    cpuacct: Option<PathBuf>,
    pids: Option<PathBuf>,
}

/// A detected cgroup filesystem: configuration plus layout. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Cgroups {
    inner: Arc<Inner>,
}

impl Cgroups {
    /// Reads `<proc_root>/self/mountinfo` and detects the layout.
    pub fn open(config: Config) -> Result<Cgroups, Error> {
        let path = config.mountinfo_path();
        let text = fs::read_to_string(&path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        match Layout::from_mountinfo(&text, &config.cgroupfs_mount_point) {
            Ok(Some(layout)) => Ok(Cgroups::with_layout(config, layout)),
            Ok(None) => Err(Error::NoCgroupFs {
                mountinfo: path,
                mount_point: config.cgroupfs_mount_point,
            }),
            Err(e) => Err(Error::parse(&path, e)),
        }
    }

    /// Uses a layout decided elsewhere (tests, or a caller that already
    /// parsed mountinfo).
    pub fn with_layout(config: Config, layout: Layout) -> Cgroups {
        let dir = |m: &Mount| config.cgroupfs_root.join(&m.dir);
        let (memory, cpu, cpuacct, pids) = if layout.hierarchy.is_v2() {
            let root = layout.unified.as_ref().map(dir);
            (root.clone(), root.clone(), root.clone(), root)
        } else {
            let v1 = |name| layout.v1_mount(name).map(dir);
            (v1("memory"), v1("cpu"), v1("cpuacct"), v1("pids"))
        };
        Cgroups {
            inner: Arc::new(Inner {
                memory,
                cpu,
                cpuacct,
                pids,
                config,
                layout,
            }),
        }
    }

    /// The configuration this handle was built from.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The detected layout.
    pub fn layout(&self) -> &Layout {
        &self.inner.layout
    }

    /// The detected hierarchy kind.
    pub fn hierarchy(&self) -> Hierarchy {
        self.inner.layout.hierarchy
    }

    /// The directory holding `controller`'s files for the cgroup at `path`;
    /// `Ok(None)` when that controller is not mounted.
    pub fn dir(&self, controller: Controller, path: &str) -> Result<Option<PathBuf>, Error> {
        let rel = relative(path)?;
        Ok(self.controller_dir(controller).map(|d| d.join(rel)))
    }

    /// On a hybrid machine, a v2 view of the controller-less `unified`
    /// mount: its `cpu.stat` has real cgroup v2 CPU usage (the cgroup core
    /// keeps it for every cgroup). `None` on other layouts.
    pub fn hybrid_unified(&self) -> Option<Cgroups> {
        if self.hierarchy() != Hierarchy::Hybrid {
            return None;
        }
        let unified = self.inner.layout.unified.clone()?;
        let layout = Layout {
            hierarchy: Hierarchy::Unified,
            v1: Vec::new(),
            unified: Some(unified),
        };
        Some(Cgroups::with_layout(self.inner.config.clone(), layout))
    }

    /// A reader with its own buffers.
    pub fn reader(&self) -> Reader {
        Reader {
            cgroups: self.clone(),
            io: FileIo::default(),
        }
    }

    fn controller_dir(&self, controller: Controller) -> Option<&Path> {
        let d = match controller {
            Controller::Memory => &self.inner.memory,
            Controller::Cpu => &self.inner.cpu,
            Controller::Cpuacct => &self.inner.cpuacct,
            Controller::Pids => &self.inner.pids,
        };
        d.as_deref()
    }
}

/// Checks a cgroup path and returns it relative to the hierarchy root
/// (`/a/b/` → `a/b`, `/` → ``). `..` and `.` are refused: a path must not
/// leave the cgroup filesystem.
fn relative(path: &str) -> Result<&str, Error> {
    let rel = path.trim_matches('/');
    if rel.split('/').any(|c| c == ".." || c == ".") {
        return Err(Error::InvalidPath {
            path: path.to_owned(),
            reason: "`.` and `..` components are not allowed",
        });
    }
    if rel.contains('\0') {
        return Err(Error::InvalidPath {
            path: path.to_owned(),
            reason: "NUL byte",
        });
    }
    Ok(rel)
}

/// How much of a cgroup a [`Reader`] reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Detail {
    /// Every figure: what the agent serves, cAdvisor's included.
    #[default]
    Full,
    /// Only what `kubectl top` shows: memory usage, `memory.stat` (for the
    /// working set and the rest of its keys) and the limit, and cumulative
    /// CPU. Read from 4 files per cgroup instead of 11 on cgroup v1. Left
    /// at zero or `None`: peak usage, fail count, kernel memory, swap
    /// (v2), OOM events, the user/system split (v1), throttling (v1) and
    /// the CPU quota.
    Usage,
}

/// Reads figures for cgroup paths. Holds reused buffers, so it is `&mut`;
/// make one per thread.
#[derive(Debug)]
pub struct Reader {
    cgroups: Cgroups,
    io: FileIo,
}

impl Reader {
    /// The handle this reader reads through.
    pub fn cgroups(&self) -> &Cgroups {
        &self.cgroups
    }

    /// Reads `detail` from now on ([`Detail::Full`] at first).
    pub fn set_detail(&mut self, detail: Detail) {
        self.io.detail = detail;
    }

    /// Memory figures of the cgroup at `path` (relative to the hierarchy root).
    pub fn memory(&mut self, path: &str) -> Result<MemoryStats, Error> {
        let rel = relative(path)?;
        self.io.forget_dir();
        let inner = &*self.cgroups.inner;
        let base = inner.memory.as_deref().ok_or(Error::NoController {
            controller: "memory",
        })?;
        if inner.layout.hierarchy.is_v2() {
            self.io.memory_v2(base, rel, &inner.config.proc_root)
        } else {
            self.io.memory_v1(base, rel)
        }
    }

    /// Cumulative CPU figures of the cgroup at `path`.
    pub fn cpu(&mut self, path: &str) -> Result<CpuStats, Error> {
        let rel = relative(path)?;
        self.io.forget_dir();
        let inner = &*self.cgroups.inner;
        if inner.layout.hierarchy.is_v2() {
            let base = inner
                .cpu
                .as_deref()
                .ok_or(Error::NoController { controller: "cpu" })?;
            return self.io.cpu_v2(base, rel);
        }
        let acct = inner.cpuacct.as_deref().ok_or(Error::NoController {
            controller: "cpuacct",
        })?;
        self.io.cpu_v1(acct, inner.cpu.as_deref(), rel)
    }

    /// The text of `cgroup.procs` of the cgroup at `path` in the memory
    /// hierarchy: the processes in it, one pid per line. `Ok(None)` when
    /// the memory controller is not mounted or the file is missing.
    pub fn procs(&mut self, path: &str) -> Result<Option<String>, Error> {
        let rel = relative(path)?;
        self.io.forget_dir();
        let Some(base) = self.cgroups.inner.memory.as_deref() else {
            return Ok(None);
        };
        self.io
            .optional(base, rel, "cgroup.procs", |text| Ok(text.to_owned()))
    }

    /// Process-number figures of the cgroup at `path`; `Ok(None)` when the
    /// pids controller is not mounted or not enabled there (the root cgroup
    /// has no `pids.current`).
    pub fn pids(&mut self, path: &str) -> Result<Option<PidsStats>, Error> {
        let rel = relative(path)?;
        self.io.forget_dir();
        let Some(base) = self.cgroups.inner.pids.as_deref() else {
            return Ok(None);
        };
        let Some(current) = self.io.optional(base, rel, "pids.current", parse::value)? else {
            return Ok(None);
        };
        let limit = self
            .io
            .optional(base, rel, "pids.max", parse::limit)?
            .flatten();
        Ok(Some(PidsStats { current, limit }))
    }

    /// The node: the configured cgroup root's memory and CPU, `/proc/meminfo`
    /// and the online CPU count.
    pub fn node(&mut self) -> Result<NodeStats, Error> {
        let root = self.cgroups.inner.config.cgroup_root.clone();
        let memory = self.memory(&root)?;
        let cpu = self.cpu(&root)?;
        let meminfo = self.meminfo()?;
        let online_cpus = self.online_cpus()?;
        Ok(NodeStats {
            memory,
            cpu,
            meminfo,
            online_cpus,
        })
    }

    /// `<proc_root>/meminfo`.
    pub fn meminfo(&mut self) -> Result<Meminfo, Error> {
        let proc_root = &self.cgroups.inner.config.proc_root;
        self.io
            .proc_file(proc_root.join("meminfo"), Meminfo::parse)?
            .ok_or_else(|| Error::Missing {
                path: proc_root.join("meminfo"),
            })
    }

    /// Online CPUs from `<sys_root>/devices/system/cpu/online` (`0-1,4` → 3),
    /// or, when sysfs lacks it, the `cpuN` lines of `<proc_root>/stat`.
    pub fn online_cpus(&mut self) -> Result<u32, Error> {
        let config = &self.cgroups.inner.config;
        let online = config.sys_root.join("devices/system/cpu/online");
        if let Some(n) = self.io.proc_file(online, parse::cpu_list_count)?
            && n > 0
        {
            return Ok(n);
        }
        let stat = config.proc_root.join("stat");
        let n = self
            .io
            .proc_file(stat.clone(), |t| Ok(parse::proc_stat_cpu_count(t)))?
            .ok_or_else(|| Error::Missing { path: stat.clone() })?;
        if n == 0 {
            return Err(Error::Parse {
                path: stat,
                line: 1,
                kind: ParseErrorKind::MissingKey("cpu0"),
            });
        }
        Ok(n)
    }

    /// Names of the child cgroups of `path` (directory names only), sorted.
    /// Children that vanish while being listed are skipped; the cgroup
    /// itself vanishing is [`Error::Gone`]. Lists the memory controller's
    /// tree on v1 (the one every container runtime creates), falling back to
    /// cpuacct, cpu, pids.
    pub fn children(&mut self, path: &str) -> Result<Vec<String>, Error> {
        let inner = &*self.cgroups.inner;
        let base = [&inner.memory, &inner.cpuacct, &inner.cpu, &inner.pids]
            .into_iter()
            .find_map(|d| d.as_deref())
            .ok_or(Error::NoController {
                controller: "memory",
            })?;
        list_children(&base.join(relative(path)?))
    }

    /// Like [`Reader::children`], in one controller's tree (`Ok(None)` when
    /// that controller is not mounted).
    pub fn children_in(
        &mut self,
        controller: Controller,
        path: &str,
    ) -> Result<Option<Vec<String>>, Error> {
        match self.cgroups.dir(controller, path)? {
            Some(dir) => list_children(&dir).map(Some),
            None => Ok(None),
        }
    }
}

fn list_children(dir: &Path) -> Result<Vec<String>, Error> {
    let entries = fs::read_dir(dir).map_err(|e| match vanished(&e) {
        true => Error::Gone {
            path: dir.to_path_buf(),
        },
        false => Error::Io {
            path: dir.to_path_buf(),
            source: e,
        },
    })?;
    let mut names = Vec::new();
    for entry in entries {
        // An entry that disappears between readdir and the type check is a
        // child that just went away: skip it.
        let Ok(entry) = entry else { continue };
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if !kind.is_dir() {
            continue;
        }
        if let Ok(name) = entry.file_name().into_string() {
            names.push(name);
        }
    }
    names.sort_unstable();
    Ok(names)
}

/// ENOENT or ENODEV: what reading a removed cgroup's directory or files gives.
fn vanished(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENODEV)
}

/// The reused buffers and the file-level reading rules.
#[derive(Debug, Default)]
struct FileIo {
    buf: Vec<u8>,
    path: PathBuf,
    /// The cgroup directory of the files being read, opened once: a cgroup
    /// reads up to seven files in one directory, and opening each by its
    /// full path walked the whole path in the kernel every time (path
    /// lookup was the largest cost of a sampling pass). Dropped by
    /// [`FileIo::forget_dir`] at the start of every cgroup's read, so a
    /// directory removed and made again under the same name is not read
    /// through the old one.
    dir: Option<(PathBuf, OwnedFd)>,
    /// Where cgroup files are read into (kept initialised and at its
    /// length, so a file is read without first asking its size).
    scratch: Vec<u8>,
    /// Whether the memory hierarchy's root reads 1 in `memory.use_hierarchy`,
    /// which makes it set in every cgroup below (the kernel refuses to
    /// clear it under a parent that has it, and children inherit it), so
    /// it is read once instead of once per cgroup. `None` until read.
    hierarchical_below_root: Option<bool>,
    /// How much of each cgroup is read.
    detail: Detail,
}

/// The least free space offered to one `read` of a cgroup file.
const MIN_READ_SPACE: usize = 4096;

impl FileIo {
    /// Reads `<base>/<rel>/<file>` and parses it. `Ok(None)` when the file
    /// does not exist but the cgroup directory does; [`Error::Gone`] when the
    /// directory is gone too, or the kernel says the cgroup was removed.
    fn optional<T>(
        &mut self,
        base: &Path,
        rel: &str,
        file: &str,
        parse: impl FnOnce(&str) -> Result<T, ParseError>,
    ) -> Result<Option<T>, Error> {
        self.set_path(base, rel, file);
        if let Err(e) = self.read_current() {
            return self.classify(e);
        }
        self.parse_buf(parse).map(Some)
    }

    /// Like [`FileIo::optional`], but a missing file is [`Error::Missing`].
    fn required<T>(
        &mut self,
        base: &Path,
        rel: &str,
        file: &str,
        parse: impl FnOnce(&str) -> Result<T, ParseError>,
    ) -> Result<T, Error> {
        match self.optional(base, rel, file, parse)? {
            Some(v) => Ok(v),
            None => Err(Error::Missing {
                path: self.path.clone(),
            }),
        }
    }

    /// Reads a file of another controller of the same cgroup: missing file
    /// or directory both mean "not available" (on v1 a cgroup may exist in
    /// one controller's tree and not another's), never `Gone`.
    fn other_controller<T>(
        &mut self,
        base: &Path,
        rel: &str,
        file: &str,
        parse: impl FnOnce(&str) -> Result<T, ParseError>,
    ) -> Result<Option<T>, Error> {
        match self.optional(base, rel, file, parse) {
            Err(Error::Gone { .. }) => Ok(None),
            other => other,
        }
    }

    /// A `/proc` or `/sys` file: missing is `Ok(None)`, no `Gone` logic.
    fn proc_file<T>(
        &mut self,
        path: PathBuf,
        parse: impl FnOnce(&str) -> Result<T, ParseError>,
    ) -> Result<Option<T>, Error> {
        self.path = path;
        match read_into(&self.path, &mut self.buf) {
            Ok(()) => self.parse_buf(parse).map(Some),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(Error::Io {
                path: self.path.clone(),
                source,
            }),
        }
    }

    /// Forgets the open cgroup directory; see [`FileIo::dir`].
    fn forget_dir(&mut self) {
        self.dir = None;
    }

    /// Reads `self.path` into the buffer, through its directory when that
    /// can be opened (any failure to open it falls back to the full path,
    /// whose error then says what is wrong).
    fn read_current(&mut self) -> io::Result<()> {
        let (Some(dir), Some(name)) = (self.path.parent(), self.path.file_name()) else {
            return read_into(&self.path, &mut self.buf);
        };
        if self.dir.as_ref().is_none_or(|(open, _)| open != dir) {
            self.dir = None;
            let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
            match rustix::fs::open(dir, flags, Mode::empty()) {
                Ok(fd) => self.dir = Some((dir.to_path_buf(), fd)),
                Err(_) => return read_into(&self.path, &mut self.buf),
            }
        }
        let Some((_, dir_fd)) = &self.dir else {
            return read_into(&self.path, &mut self.buf);
        };
        let fd = rustix::fs::openat(
            dir_fd,
            name,
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let mut file = fs::File::from(fd);
        let mut filled = 0;
        loop {
            if self.scratch.len() - filled < MIN_READ_SPACE {
                let grown = (self.scratch.len() * 2).max(2 * MIN_READ_SPACE);
                self.scratch.resize(grown, 0);
            }
            let offered = self.scratch.len() - filled;
            let read = match file.read(&mut self.scratch[filled..]) {
                Ok(read) => read,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            filled += read;
            // A cgroup file is produced whole by the kernel's seq_file: a
            // read that leaves room in the buffer has returned everything,
            // so the read that would return 0 is not made.
            if read == 0 || read < offered {
                break;
            }
        }
        self.buf.clear();
        self.buf.extend_from_slice(&self.scratch[..filled]);
        Ok(())
    }

    fn set_path(&mut self, base: &Path, rel: &str, file: &str) {
        self.path.as_mut_os_string().clear();
        self.path.push(base);
        if !rel.is_empty() {
            self.path.push(rel);
        }
        self.path.push(file);
    }

    fn classify<T>(&self, e: io::Error) -> Result<Option<T>, Error> {
        if e.raw_os_error() == Some(libc::ENODEV) {
            return Err(Error::Gone {
                path: self.path.clone(),
            });
        }
        if e.kind() != io::ErrorKind::NotFound {
            return Err(Error::Io {
                path: self.path.clone(),
                source: e,
            });
        }
        // The file is missing: an optional file, or the whole cgroup went away?
        let dir = self.path.parent().unwrap_or(Path::new("/"));
        match fs::metadata(dir) {
            Ok(m) if m.is_dir() => Ok(None),
            Ok(_) => Err(Error::Gone {
                path: self.path.clone(),
            }),
            Err(e) if vanished(&e) => Err(Error::Gone {
                path: self.path.clone(),
            }),
            Err(source) => Err(Error::Io {
                path: dir.to_path_buf(),
                source,
            }),
        }
    }

    fn parse_buf<T>(&self, parse: impl FnOnce(&str) -> Result<T, ParseError>) -> Result<T, Error> {
        let text = std::str::from_utf8(&self.buf).map_err(|e| {
            let line = self
                .buf
                .get(..e.valid_up_to())
                .map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
                + 1;
            Error::Parse {
                path: self.path.clone(),
                line,
                kind: ParseErrorKind::NotUtf8,
            }
        })?;
        parse(text).map_err(|e| Error::parse(&self.path, e))
    }

    fn memory_v1(&mut self, base: &Path, rel: &str) -> Result<MemoryStats, Error> {
        let usage = self.required(base, rel, "memory.usage_in_bytes", parse::value)?;
        let stat = self.required(base, rel, "memory.stat", MemoryStatV1::parse)?;
        let limit = self.required(base, rel, "memory.limit_in_bytes", parse::limit)?;
        let (max_usage, failcnt, kernel) = if self.detail == Detail::Full {
            (
                self.optional(base, rel, "memory.max_usage_in_bytes", parse::value)?,
                self.required(base, rel, "memory.failcnt", parse::value)?,
                self.optional(base, rel, "memory.kmem.usage_in_bytes", parse::value)?,
            )
        } else {
            (None, 0, None)
        };
        // Since Linux 5.x the file always reads 1; absent means the same.
        let root_hierarchical = match self.hierarchical_below_root {
            Some(known) => known,
            None => {
                // Only a root that says so vouches for the cgroups below.
                let known =
                    self.optional(base, "", "memory.use_hierarchy", parse::value)? == Some(1);
                self.hierarchical_below_root = Some(known);
                // Reading the root moved the open directory away.
                self.forget_dir();
                known
            }
        };
        let hierarchical = root_hierarchical
            || self
                .optional(base, rel, "memory.use_hierarchy", parse::value)?
                .is_none_or(|v| v == 1);
        let pick = |total: Option<u64>, local: Option<u64>| {
            if hierarchical { total } else { local }
        };
        let swap = pick(stat.total_swap, stat.swap);
        Ok(MemoryStats {
            usage,
            working_set: working_set(usage, stat.total_inactive_file),
            rss: pick(stat.total_rss, stat.rss).unwrap_or(0),
            cache: pick(stat.total_cache, stat.cache).unwrap_or(0),
            mapped_file: pick(stat.total_mapped_file, stat.mapped_file).unwrap_or(0),
            swap: swap.unwrap_or(0),
            active_file: stat.total_active_file.unwrap_or(0),
            inactive_file: stat.total_inactive_file,
            pgfault: stat.pgfault.unwrap_or(0),
            pgmajfault: stat.pgmajfault.unwrap_or(0),
            failcnt,
            oom_events: None,
            kernel,
            max_usage,
            limit,
            origin: MemoryOrigin::V1 {
                hierarchical,
                swap_accounted: swap.is_some(),
            },
        })
    }

    fn memory_v2(
        &mut self,
        base: &Path,
        rel: &str,
        proc_root: &Path,
    ) -> Result<MemoryStats, Error> {
        let current = self.optional(base, rel, "memory.current", parse::value)?;
        let current_path = self.path.clone();
        let stat = self.required(base, rel, "memory.stat", MemoryStatV2::parse)?;
        let anon = stat.anon.unwrap_or(0);
        let file = stat.file.unwrap_or(0);
        let (usage, origin, swap, limit, max_usage, oom_events) = match current {
            Some(usage) => {
                let limit = self.required(base, rel, "memory.max", parse::limit)?;
                let (swap, peak, oom) = if self.detail == Detail::Full {
                    (
                        self.optional(base, rel, "memory.swap.current", parse::value)?,
                        self.optional(base, rel, "memory.peak", parse::value)?,
                        self.optional(base, rel, "memory.events", |t| {
                            parse::keyed_value(t, "oom")
                        })?
                        .flatten(),
                    )
                } else {
                    (None, None, None)
                };
                let origin = MemoryOrigin::V2 {
                    swap_accounted: swap.is_some(),
                };
                (usage, origin, swap.unwrap_or(0), limit, peak, oom)
            }
            // Only the root lacks memory.current. Like runc ≥ 1.1.9, use
            // anon + file from its memory.stat, and the host's swap.
            None if rel.is_empty() => {
                let meminfo = self
                    .proc_file(proc_root.join("meminfo"), Meminfo::parse)?
                    .ok_or_else(|| Error::Missing {
                        path: proc_root.join("meminfo"),
                    })?;
                let swap = meminfo
                    .swap_total
                    .unwrap_or(0)
                    .saturating_sub(meminfo.swap_free.unwrap_or(0));
                (
                    anon.saturating_add(file),
                    MemoryOrigin::V2Root,
                    swap,
                    None,
                    None,
                    None,
                )
            }
            None => return Err(Error::Missing { path: current_path }),
        };
        Ok(MemoryStats {
            usage,
            working_set: working_set(usage, stat.inactive_file),
            rss: anon,
            cache: file,
            mapped_file: stat.file_mapped.unwrap_or(0),
            swap,
            active_file: stat.active_file.unwrap_or(0),
            inactive_file: stat.inactive_file,
            pgfault: stat.pgfault.unwrap_or(0),
            pgmajfault: stat.pgmajfault.unwrap_or(0),
            failcnt: 0,
            oom_events,
            kernel: None,
            max_usage,
            limit,
            origin,
        })
    }

    fn cpu_v1(&mut self, acct: &Path, cpu: Option<&Path>, rel: &str) -> Result<CpuStats, Error> {
        let usage_ns = self.required(acct, rel, "cpuacct.usage", parse::value)?;
        if self.detail == Detail::Usage {
            return Ok(CpuStats {
                usage_ns,
                user_ns: 0,
                system_ns: 0,
                throttling: None,
                quota: None,
                origin: CpuOrigin::V1,
            });
        }
        let ticks = self.required(acct, rel, "cpuacct.stat", CpuacctStat::parse)?;
        let (mut throttling, mut quota) = (None, None);
        if let Some(cpu) = cpu {
            let stat = self.other_controller(cpu, rel, "cpu.stat", CpuStatV1::parse)?;
            throttling = stat.and_then(|s| {
                Some(Throttling {
                    periods: s.nr_periods?,
                    throttled_periods: s.nr_throttled?,
                    throttled_ns: s.throttled_time_ns?,
                })
            });
            let q = self.other_controller(cpu, rel, "cpu.cfs_quota_us", parse::signed_value)?;
            let p = self.other_controller(cpu, rel, "cpu.cfs_period_us", parse::value)?;
            if let (Some(q), Some(period_us)) = (q, p) {
                quota = Some(CpuMax {
                    // −1 (any negative) means no quota.
                    quota_us: u64::try_from(q).ok(),
                    period_us,
                });
            }
        }
        Ok(CpuStats {
            usage_ns,
            user_ns: ticks.user_ticks.saturating_mul(NS_PER_USER_HZ_TICK),
            system_ns: ticks.system_ticks.saturating_mul(NS_PER_USER_HZ_TICK),
            throttling,
            quota,
            origin: CpuOrigin::V1,
        })
    }

    fn cpu_v2(&mut self, base: &Path, rel: &str) -> Result<CpuStats, Error> {
        let stat = self.required(base, rel, "cpu.stat", CpuStatV2::parse)?;
        let quota = match self.detail {
            Detail::Full => self.optional(base, rel, "cpu.max", CpuMax::parse)?,
            Detail::Usage => None,
        };
        let throttling = (|| {
            Some(Throttling {
                periods: stat.nr_periods?,
                throttled_periods: stat.nr_throttled?,
                throttled_ns: stat.throttled_usec?.saturating_mul(1000),
            })
        })();
        Ok(CpuStats {
            usage_ns: stat.usage_usec.saturating_mul(1000),
            user_ns: stat.user_usec.saturating_mul(1000),
            system_ns: stat.system_usec.saturating_mul(1000),
            throttling,
            quota,
            origin: CpuOrigin::V2,
        })
    }
}

/// Reads a whole file into `buf` (cleared first), one open + read.
fn read_into(path: &Path, buf: &mut Vec<u8>) -> io::Result<()> {
    buf.clear();
    fs::File::open(path)?.read_to_end(buf).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        assert_eq!(relative("/").unwrap(), "");
        assert_eq!(relative("").unwrap(), "");
        assert_eq!(
            relative("/kubepods/burstable/").unwrap(),
            "kubepods/burstable"
        );
        assert!(relative("/kubepods/../etc").is_err());
        assert!(relative("./x").is_err());
        assert!(relative("a\0b").is_err());
    }

    #[test]
    fn enodev_is_gone_and_other_errors_are_io() {
        let mut io = FileIo {
            path: PathBuf::from("/nonexistent-dir-for-test/memory.stat"),
            ..FileIo::default()
        };
        let gone = io.classify::<()>(io::Error::from_raw_os_error(libc::ENODEV));
        assert!(matches!(gone, Err(Error::Gone { .. })));
        let denied = io.classify::<()>(io::Error::from_raw_os_error(libc::EACCES));
        assert!(matches!(denied, Err(Error::Io { .. })));
        // ENOENT in a directory that does not exist either: the cgroup is gone.
        let enoent = io.classify::<()>(io::Error::from_raw_os_error(libc::ENOENT));
        assert!(matches!(enoent, Err(Error::Gone { .. })));
        // ENOENT in a directory that exists: just a missing file.
        io.path = std::env::temp_dir().join("workingset-no-such-file");
        let missing = io.classify::<()>(io::Error::from_raw_os_error(libc::ENOENT));
        assert!(matches!(missing, Ok(None)));
    }
}
