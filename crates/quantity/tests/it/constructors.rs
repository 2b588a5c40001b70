//! tests/data/quantity-constructors.tsv: how metrics-server builds
//! quantities, constructor call → String().

use workingset_quantity::Quantity;

use crate::{assert_no_failures, format_named, tsv_rows};

const CONSTRUCTORS: &str = include_str!("../data/quantity-constructors.tsv");

/// Evaluates `NewScaledQuantity(v,s)` / `NewQuantity(v,Format)` /
/// `NewMilliQuantity(v,Format)`.
fn construct(call: &str) -> Result<Quantity, String> {
    let (name, arguments) = call
        .strip_suffix(')')
        .and_then(|rest| rest.split_once('('))
        .ok_or_else(|| format!("not a call: {call:?}"))?;
    let (value, second) = arguments
        .split_once(',')
        .ok_or_else(|| format!("expected two arguments: {call:?}"))?;
    let value: i64 = value.trim().parse().map_err(|e| format!("{call:?}: {e}"))?;
    let second = second.trim();
    match name {
        "NewScaledQuantity" => {
            let scale = second.parse().map_err(|e| format!("{call:?}: {e}"))?;
            Ok(Quantity::new_scaled(value, scale))
        }
        "NewQuantity" => Ok(Quantity::new(value, format_named(second))),
        "NewMilliQuantity" => Ok(Quantity::new_milli(value, format_named(second))),
        other => Err(format!("unknown constructor {other:?}")),
    }
}

#[test]
fn every_constructor_row_prints_the_upstream_string() {
    let mut failures = Vec::new();
    let mut rows = 0;
    for (line, columns) in tsv_rows(CONSTRUCTORS) {
        rows += 1;
        let [call, expected] = columns[..] else {
            failures.push(format!("line {line}: expected 2 columns, got {columns:?}"));
            continue;
        };
        match construct(call) {
            Err(error) => failures.push(format!("line {line}: {error}")),
            Ok(quantity) if quantity.to_string() != expected => failures.push(format!(
                "line {line}: {call} gave {quantity}, want {expected}"
            )),
            Ok(_) => {}
        }
    }
    assert!(rows >= 30, "only {rows} rows read");
    assert_no_failures("quantity-constructors.tsv", &failures);
}

#[test]
fn metrics_server_helpers_match_the_constructor_rows() {
    let mut failures = Vec::new();
    for (line, columns) in tsv_rows(CONSTRUCTORS) {
        let [call, expected] = columns[..] else {
            continue;
        };
        let helper = if let Some(n) = call
            .strip_prefix("NewScaledQuantity(")
            .and_then(|rest| rest.strip_suffix(",-9)"))
        {
            n.parse().ok().map(Quantity::from_nanocores)
        } else if let Some(bytes) = call
            .strip_prefix("NewQuantity(")
            .and_then(|rest| rest.strip_suffix(",BinarySI)"))
        {
            bytes.parse().ok().map(Quantity::from_bytes)
        } else {
            None
        };
        // Negative rows have no unsigned helper equivalent.
        if let Some(quantity) = helper
            && quantity.to_string() != expected
        {
            failures.push(format!("line {line}: helper for {call} gave {quantity}"));
        }
    }
    assert_no_failures("quantity-constructors.tsv", &failures);
}

#[test]
fn upstream_constructor_tables() {
    use workingset_quantity::Format::{BinarySI, DecimalSI};
    // TestNewSet, TestMilliNewSet, TestNewScaledSet.
    let cases = [
        (Quantity::new(1, DecimalSI), "1"),
        (Quantity::new(1000, DecimalSI), "1k"),
        (Quantity::new(1_234_000, DecimalSI), "1234k"),
        (Quantity::new(1024, BinarySI), "1Ki"),
        (Quantity::new(1024 * 1024, BinarySI), "1Mi"),
        (Quantity::new_milli(1, DecimalSI), "1m"),
        (Quantity::new_milli(1000, DecimalSI), "1"),
        (Quantity::new_milli(1_234_000, DecimalSI), "1234"),
        (Quantity::new_milli(1024, BinarySI), "1024m"),
        (Quantity::new_milli(1024 * 1024, BinarySI), "1048576m"),
        (Quantity::new_scaled(1, -9), "1n"),
        (Quantity::new_scaled(1000, -9), "1u"),
        (Quantity::new_scaled(1, -6), "1u"),
        (Quantity::new_scaled(1000, -6), "1m"),
        (Quantity::new_scaled(1, -3), "1m"),
        (Quantity::new_scaled(1000, -3), "1"),
        (Quantity::new_scaled(1, 0), "1"),
        (Quantity::new_scaled(0, -9), "0"),
        (Quantity::new_scaled(0, 0), "0"),
        (Quantity::zero(), "0"),
    ];
    for (quantity, expected) in cases {
        assert_eq!(quantity.to_string(), expected, "{quantity:?}");
    }
}
