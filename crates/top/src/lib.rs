//! `kubectl top`, byte for byte: the semantics of `kubectl top node` and
//! `kubectl top pod` independent of where the data comes from.
//!
//! `workingset top` must print exactly what kubectl 1.27–1.33 print on the
//! same data, fail with the same messages and exit statuses, and make the
//! same requests in the same order. This crate holds all of that:
//!
//! - [`tabwriter`]: the tabwriter kubectl really uses (Go's `text/tabwriter`
//!   as forked by `github.com/liggitt/tabwriter`, with remembered column
//!   widths), which decides every space of the output;
//! - [`printer`]: the node and pod tables (rounding, percentages, sorting,
//!   `<unknown>` rows, `--containers`, `--sum`);
//! - [`command`]: validation and request flow, through the
//!   [`MetricsSource`] trait that the embedded agent (and later an HTTP
//!   client of a real API server) implements;
//! - [`error`]: errors whose `Display` is kubectl's stderr message;
//! - [`gosort`]: Go's unstable `sort.Sort`, so that ties sort as in kubectl;
//! - [`version`]: the differences between kubectl releases.
//!
//! It does no IO of its own beyond writing to the `Write`rs it is given: no
//! sockets, no files, no clock unless asked (see [`TopPodOptions::now`]).
//! Not here: flag parsing (the binary), fetching data (the sources).

pub mod command;
pub mod error;
pub mod gosort;
pub mod printer;
pub mod tabwriter;
pub mod version;

pub use command::{MetricsSource, Query, TopNodeOptions, TopPodOptions, run_top_node, run_top_pod};
pub use error::{KubectlStatus, SourceError, Status, StatusCause, StatusDetails, TopError};
pub use printer::{InvalidSortBy, SortBy};
pub use tabwriter::TabWriter;
pub use version::{KubectlVersion, UnsupportedKubectlVersion};
