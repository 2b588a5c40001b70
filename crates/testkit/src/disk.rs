//! Test files on a real disk filesystem, written without leaving page cache.
//!
//! Page-cache tests need a disk-backed filesystem: on tmpfs a file's pages
//! are shmem, never "file cache", and stay charged to whoever wrote them.
//! And they need the first *read* to be the first touch, because cgroup
//! memory accounting charges a page to the cgroup of the task that brings it
//! into the cache. [`write_uncached`] therefore writes with `O_DIRECT`,
//! which goes straight to disk (and invalidates any cached pages of the
//! range) — no `posix_fadvise`, so no `unsafe`.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Overrides where [`disk_temp_dir`] creates its directory.
pub const DIR_ENV: &str = "WORKINGSET_TEST_DISK_DIR";

/// `O_DIRECT` needs buffers, offsets and sizes aligned to the logical block
/// size; 4 KiB covers every common device.
const ALIGN: usize = 4096;
const CHUNK: usize = 1 << 20;

/// Filesystems whose "files" are not page cache of a disk.
const NOT_DISK: [&str; 3] = ["tmpfs", "ramfs", "devtmpfs"];

/// A temporary directory on a disk filesystem: below [`DIR_ENV`] if set,
/// else below `default_base` (a test passes `env!("CARGO_TARGET_TMPDIR")`).
/// Fails when that is on tmpfs/ramfs.
pub fn disk_temp_dir(default_base: &Path) -> io::Result<tempfile::TempDir> {
    let base = std::env::var_os(DIR_ENV).map_or_else(|| default_base.to_path_buf(), PathBuf::from);
    fs::create_dir_all(&base)?;
    let fs_type = fs_type(&base)?;
    if NOT_DISK.contains(&fs_type.as_str()) {
        return Err(io::Error::other(format!(
            "{} is on {fs_type}, not a disk filesystem; set {DIR_ENV} to a directory on disk",
            base.display()
        )));
    }
    tempfile::Builder::new().prefix("ws-test-").tempdir_in(base)
}

/// The filesystem type of the mount holding `path` (from
/// `/proc/self/mountinfo`, the longest mount point that contains it).
pub fn fs_type(path: &Path) -> io::Result<String> {
    let path = fs::canonicalize(path)?;
    let mountinfo = fs::read_to_string("/proc/self/mountinfo")?;
    let mut best: Option<(usize, String)> = None;
    for line in mountinfo.lines() {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        let (Some(point), Some(sep)) = (fields.get(4), fields.iter().position(|f| *f == "-"))
        else {
            continue;
        };
        let Some(fs) = fields.get(sep + 1) else {
            continue;
        };
        let point = PathBuf::from(point.replace("\\040", " "));
        let depth = point.components().count();
        // `>=`: a later mount on the same point hides the earlier one.
        if path.starts_with(&point) && best.as_ref().is_none_or(|(d, _)| depth >= *d) {
            best = Some((depth, (*fs).to_owned()));
        }
    }
    best.map(|(_, fs)| fs)
        .ok_or_else(|| io::Error::other(format!("no mount contains {}", path.display())))
}

/// Creates `path` with `bytes` of data (rounded up to 4 KiB) written with
/// `O_DIRECT` and synced, so none of it is in the page cache afterwards.
pub fn write_uncached(path: &Path, bytes: usize) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)?;
    // An aligned window into a slightly larger buffer; no unsafe needed.
    let mut raw = vec![0u8; CHUNK + ALIGN];
    let start = raw.as_ptr().align_offset(ALIGN);
    let chunk = raw
        .get_mut(start..start + CHUNK)
        .ok_or_else(|| io::Error::other("cannot align buffer"))?;
    for (i, b) in chunk.iter_mut().enumerate() {
        // Non-zero, varied content: nothing can treat it as a hole.
        *b = (i % 251) as u8 + 1;
    }
    let mut left = bytes.div_ceil(ALIGN) * ALIGN;
    while left > 0 {
        let n = left.min(CHUNK);
        let part = chunk.get(..n).ok_or_else(|| io::Error::other("chunk"))?;
        file.write_all(part)?;
        left -= n;
    }
    file.sync_all()
}
