//! Integration tests for workingset-quantity: the shared Go-generated
//! vectors, upstream's own test tables, and properties.

mod arithmetic;
mod constructors;
mod errors;
mod oddities;
mod properties;
mod rounding;
#[cfg(feature = "serde")]
mod serde_json_form;
mod vectors;

use workingset_quantity::Format;

/// Data rows of a TSV file with their 1-based line numbers; `#` lines are
/// comments.
pub fn tsv_rows(text: &str) -> impl Iterator<Item = (usize, Vec<&str>)> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'))
        .map(|(index, line)| (index + 1, line.split('\t').collect()))
}

pub fn format_named(name: &str) -> Format {
    match name {
        "DecimalSI" => Format::DecimalSI,
        "BinarySI" => Format::BinarySI,
        "DecimalExponent" => Format::DecimalExponent,
        other => panic!("unknown format {other:?}"),
    }
}

/// Fails listing every failed row, so one run shows all of them.
pub fn assert_no_failures(file: &str, failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} row(s) of {file} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
