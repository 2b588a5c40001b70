//! Integration tests for workingset-expfmt: Go-generated float tables, the
//! kubelet golden exposition, the parser's grammar, round trips and
//! `promtool check metrics`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod float;
mod golden;
mod parser;
mod promtool;
mod roundtrip;
mod writer;

/// Formats with [`workingset_expfmt::write_go_float`] into a new string.
pub fn go_float(v: f64) -> String {
    let mut s = String::new();
    workingset_expfmt::write_go_float(&mut s, v);
    s
}
