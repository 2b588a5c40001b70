//! Errors of the reader and of the pure parsers.
//!
//! The parsers know nothing about files, so they return a [`ParseError`]
//! (line and what was wrong); the reader adds the path and returns an
//! [`Error`]. A cgroup that disappears while it is read is its own variant,
//! [`Error::Gone`], because on a busy node that is a normal event (a container
//! stopped between listing and reading) and callers drop the cgroup from the
//! sample instead of failing.

use std::io;
use std::path::PathBuf;

/// What went wrong while reading a cgroup or `/proc` file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The cgroup disappeared while it was being read: its directory no
    /// longer exists (ENOENT) or the kernel reports the file's cgroup as
    /// removed (ENODEV). `path` is the file or directory that was being read.
    #[error("cgroup is gone: {}", path.display())]
    Gone {
        /// The file or directory being read when the cgroup vanished.
        path: PathBuf,
    },
    /// A file that the figure needs does not exist, although its cgroup
    /// directory does: the controller is not enabled for this cgroup, or the
    /// kernel does not provide the file.
    #[error("{}: required file is missing", path.display())]
    Missing {
        /// The missing file.
        path: PathBuf,
    },
    /// Any other IO error, for example permission denied.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory being read.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A file's content is not what the kernel writes.
    #[error("{}:{line}: {kind}", path.display())]
    Parse {
        /// The file that failed to parse.
        path: PathBuf,
        /// 1-based line number of the offending line (1 for single-value files).
        line: usize,
        /// What was wrong with it.
        kind: ParseErrorKind,
    },
    /// `mountinfo` lists no cgroup filesystem at or below the configured
    /// cgroup filesystem mount point.
    #[error("{}: no cgroup filesystem mounted at or below {}", mountinfo.display(), mount_point.display())]
    NoCgroupFs {
        /// The mountinfo file that was read.
        mountinfo: PathBuf,
        /// The mount point that was looked for.
        mount_point: PathBuf,
    },
    /// A cgroup v1 controller that the figure needs is not mounted.
    #[error("cgroup v1 controller `{controller}` is not mounted")]
    NoController {
        /// The controller name as it appears in mount options (`cpuacct`, `memory`).
        controller: &'static str,
    },
    /// The cgroup path cannot be read safely (it would leave the hierarchy).
    #[error("invalid cgroup path {path:?}: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// Why it was rejected.
        reason: &'static str,
    },
}

impl Error {
    /// True when the cgroup vanished while being read; callers usually skip
    /// the cgroup for this sample.
    pub fn is_gone(&self) -> bool {
        matches!(self, Error::Gone { .. })
    }

    pub(crate) fn parse(path: &std::path::Path, err: ParseError) -> Error {
        Error::Parse {
            path: path.to_path_buf(),
            line: err.line,
            kind: err.kind,
        }
    }
}

/// A parse failure of one of the pure parsers: where and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct ParseError {
    /// 1-based line number (1 for single-value files).
    pub line: usize,
    /// What was wrong.
    pub kind: ParseErrorKind,
}

impl ParseError {
    pub(crate) fn new(line: usize, kind: ParseErrorKind) -> ParseError {
        ParseError { line, kind }
    }
}

/// What was wrong with a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseErrorKind {
    /// The file or value was empty where a number was expected.
    #[error("empty value")]
    Empty,
    /// A value is not a decimal integer.
    #[error("not a decimal integer")]
    InvalidNumber,
    /// A decimal integer does not fit in 64 bits.
    #[error("number out of range")]
    OutOfRange,
    /// A key that the kernel always writes is absent.
    #[error("key `{0}` is missing")]
    MissingKey(&'static str),
    /// A line does not have the expected shape.
    #[error("malformed line: {0}")]
    Malformed(&'static str),
    /// The file is not UTF-8 text.
    #[error("not UTF-8 text")]
    NotUtf8,
}
