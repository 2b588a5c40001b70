//! Integration tests of `workingset-top`: the documented examples, table
//! and error tests through an in-memory source, tabwriter properties, and
//! byte-for-byte comparisons with the real kubectl binaries.

mod errors;
mod examples;
mod kubectl;
mod support;
mod tables;
mod tabwriter_props;
