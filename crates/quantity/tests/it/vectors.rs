//! tests/data/quantity-vectors.tsv: input → String() and Format, produced by
//! apimachinery release-1.32.

use workingset_quantity::Quantity;

use crate::{assert_no_failures, format_named, tsv_rows};

const VECTORS: &str = include_str!("../data/quantity-vectors.tsv");

#[test]
fn every_vector_parses_to_the_upstream_string_and_format() {
    let mut failures = Vec::new();
    let mut rows = 0;
    for (line, columns) in tsv_rows(VECTORS) {
        rows += 1;
        let [input, expected, format] = columns[..] else {
            failures.push(format!("line {line}: expected 3 columns, got {columns:?}"));
            continue;
        };
        match input.parse::<Quantity>() {
            Err(error) => failures.push(format!("line {line}: {input:?} failed: {error}")),
            Ok(quantity) => {
                let got = quantity.to_string();
                if got != expected || quantity.format() != format_named(format) {
                    failures.push(format!(
                        "line {line}: {input:?} gave {got:?} {:?}, want {expected:?} {format}",
                        quantity.format()
                    ));
                }
            }
        }
    }
    assert!(rows > 60, "only {rows} rows read");
    assert_no_failures("quantity-vectors.tsv", &failures);
}

#[test]
fn every_vector_string_reparses_to_the_same_value() {
    let mut failures = Vec::new();
    for (line, columns) in tsv_rows(VECTORS) {
        let [input, expected, _] = columns[..] else {
            continue;
        };
        let original: Quantity = input.parse().unwrap();
        match expected.parse::<Quantity>() {
            Ok(again) if again == original => {}
            Ok(again) => failures.push(format!("line {line}: {expected:?} reparsed as {again:?}")),
            Err(error) => failures.push(format!("line {line}: {expected:?}: {error}")),
        }
    }
    assert_no_failures("quantity-vectors.tsv", &failures);
}

#[test]
fn negated_vectors_print_with_a_minus_sign() {
    // Upstream's TestQuantityParseEmit: "-" + input prints "-" + output
    // (zero excepted), unless the input text itself was kept verbatim.
    let mut failures = Vec::new();
    for (line, columns) in tsv_rows(VECTORS) {
        let [input, expected, _] = columns[..] else {
            continue;
        };
        let negative: Quantity = format!("-{input}").parse().unwrap();
        if negative.is_zero() || expected == "1." {
            continue;
        }
        let want = format!("-{expected}");
        if negative.to_string() != want {
            failures.push(format!(
                "line {line}: -{input} gave {negative}, want {want}"
            ));
        }
    }
    assert_no_failures("quantity-vectors.tsv", &failures);
}
