//! Integration tests of `workingset-top`: the documented examples, table
//! and error tests through an in-memory source, tabwriter properties, and
//! byte-for-byte comparisons with the real kubectl binaries.

// Helpers outside `#[test]` functions are test code too: a panic there is a
// failed test with a backtrace.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod errors;
mod examples;
mod kubectl;
mod stub;
mod support;
mod tables;
mod tabwriter_props;
