//! Which kubectl release to imitate.
//!
//! `kubectl top` behaved the same from 1.27 to 1.33 except for two things,
//! found by reading kubectl's history (`pkg/cmd/top`, `pkg/metricsutil`)
//! on the release branches and checked against the released binaries:
//!
//! - the node table's percent headers: `CPU%` / `MEMORY%` up to 1.31,
//!   `CPU(%)` / `MEMORY(%)` from 1.32 (kubectl commit "kubectl(top): modify
//!   the percentage display of the top command", first in release-1.32);
//! - the Go release it is built with, which decides how `sort.Sort` orders
//!   rows that tie under `--sort-by` (see [`crate::gosort`]).

use std::fmt;
use std::str::FromStr;

use crate::gosort::GoSort;

/// A kubectl minor release whose `top` output we reproduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum KubectlVersion {
    /// kubectl 1.27 (built with Go 1.22 in its last patch releases).
    V1_27,
    /// kubectl 1.28.
    V1_28,
    /// kubectl 1.29.
    V1_29,
    /// kubectl 1.30.
    V1_30,
    /// kubectl 1.31.
    V1_31,
    /// kubectl 1.32: node percent headers become `CPU(%)` / `MEMORY(%)`.
    V1_32,
    /// kubectl 1.33 (Go 1.24). The newest, and the default.
    #[default]
    V1_33,
}

/// A version string that is not one of the supported releases.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unsupported kubectl version {0:?}: expected one of 1.27, 1.28, 1.29, 1.30, 1.31, 1.32, 1.33"
)]
pub struct UnsupportedKubectlVersion(pub String);

impl KubectlVersion {
    /// Every supported release, oldest first.
    pub const ALL: [Self; 7] = [
        Self::V1_27,
        Self::V1_28,
        Self::V1_29,
        Self::V1_30,
        Self::V1_31,
        Self::V1_32,
        Self::V1_33,
    ];

    /// The newest supported release.
    pub const NEWEST: Self = Self::V1_33;

    /// The minor version number (27 for 1.27).
    pub fn minor(self) -> u32 {
        match self {
            Self::V1_27 => 27,
            Self::V1_28 => 28,
            Self::V1_29 => 29,
            Self::V1_30 => 30,
            Self::V1_31 => 31,
            Self::V1_32 => 32,
            Self::V1_33 => 33,
        }
    }

    /// The header of `top node`'s table.
    pub fn node_columns(self) -> [&'static str; 5] {
        if self >= Self::V1_32 {
            ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"]
        } else {
            ["NAME", "CPU(cores)", "CPU%", "MEMORY(bytes)", "MEMORY%"]
        }
    }

    /// The `sort.Sort` of the Go release this kubectl is built with
    /// (1.27–1.29: Go 1.22, 1.30–1.32: Go 1.23, 1.33: Go 1.24).
    pub fn go_sort(self) -> GoSort {
        if self >= Self::V1_33 {
            GoSort::Go124
        } else {
            GoSort::Go119
        }
    }
}

impl fmt::Display for KubectlVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "1.{}", self.minor())
    }
}

impl FromStr for KubectlVersion {
    type Err = UnsupportedKubectlVersion;

    /// Parses `1.27` … `1.33`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|v| v.to_string() == text)
            .ok_or_else(|| UnsupportedKubectlVersion(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_every_release() {
        for version in KubectlVersion::ALL {
            assert_eq!(version.to_string().parse::<KubectlVersion>(), Ok(version));
        }
        assert_eq!(KubectlVersion::default(), KubectlVersion::NEWEST);
        assert_eq!("1.27".parse(), Ok(KubectlVersion::V1_27));
    }

    #[test]
    fn rejects_other_strings() {
        for text in ["", "1.26", "1.34", "v1.33", "1.33.1", "133"] {
            let err = text.parse::<KubectlVersion>().unwrap_err();
            assert_eq!(err.0, text);
        }
    }

    #[test]
    fn header_changes_in_1_32() {
        assert_eq!(KubectlVersion::V1_31.node_columns()[2], "CPU%");
        assert_eq!(KubectlVersion::V1_31.node_columns()[4], "MEMORY%");
        assert_eq!(KubectlVersion::V1_32.node_columns()[2], "CPU(%)");
        assert_eq!(KubectlVersion::V1_32.node_columns()[4], "MEMORY(%)");
    }
}
