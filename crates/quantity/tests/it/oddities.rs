//! Upstream behaviours that look like bugs but are part of the wire format
//! (checked against apimachinery release-1.32).

use workingset_quantity::Format::{BinarySI, DecimalExponent, DecimalSI};
use workingset_quantity::{Format, Quantity};

fn q(text: &str) -> Quantity {
    text.parse()
        .unwrap_or_else(|error| panic!("{text:?}: {error}"))
}

#[test]
fn some_inputs_are_their_own_string_form() {
    // Upstream caches the input as String() when it looks canonical enough.
    for text in [
        "1.",
        "1.G",
        "+1",
        "01",
        "1E6",
        "1e+3",
        "1e03",
        "1.5e4",
        "1.500k",
        "1.Ki",
        "+1Ki",
        "0117273303110T",
        "1e4294967296",
    ] {
        assert_eq!(q(text).to_string(), text);
    }
    // ... but not once the value changes.
    assert_eq!((-q("+1")).to_string(), "-1");
    assert_eq!((q("1.") + q("0")).to_string(), "1");
    assert_eq!((q("1E6") + q("0")).to_string(), "1e6");
}

#[test]
fn suffixes_without_a_name_are_dropped() {
    assert_eq!(q("1000E").to_string(), "1");
    assert_eq!(q("100E").to_string(), "100E");
    assert_eq!(Quantity::new_scaled(1, -12).to_string(), "1");
    assert_eq!(Quantity::new_scaled(1, 21).to_string(), "1");
    assert_eq!(Quantity::new_scaled(1, 21).format(), DecimalSI);
    // 1024 × 1Ei = 1024^7, one power beyond "Ei".
    let beyond_exa: Quantity = std::iter::repeat_n(q("1Ei"), 1024).sum();
    assert_eq!(beyond_exa.to_string(), "1");
    assert_eq!(beyond_exa.format(), BinarySI);
}

#[test]
fn binary_quantities_are_capped_and_fall_back_to_decimal() {
    assert_eq!(q("9Ei").to_string(), "9223372036854775807");
    assert_eq!(
        q("9223372036854775807Ki").to_string(),
        "9223372036854775807"
    );
    assert_eq!(q("9Ei").format(), BinarySI);
    assert_eq!(q("0.5Ki").format(), BinarySI);
    assert_eq!(q("0.5Ki").to_string(), "512");
    assert_eq!(q("0.000000000001Ki").format(), DecimalSI);
    assert_eq!(Quantity::new(1000, BinarySI).to_string(), "1k");
    assert_eq!(Quantity::new(-1000, BinarySI).to_string(), "-1k");
    assert_eq!(Quantity::new(1024, BinarySI).to_string(), "1Ki");
    assert_eq!(Quantity::new(-1024, BinarySI).to_string(), "-1Ki");
    assert_eq!(Quantity::new_milli(1536, BinarySI).to_string(), "1536m");
}

#[test]
fn exponents_wrap_like_go_int32() {
    assert_eq!(q("1e2147483647").to_string(), "10e2147483646");
    assert_eq!(q("1e4294967296").format(), DecimalExponent);
    assert_eq!(q("1e4294967296").value(), 1);
}

#[test]
fn display_honours_width_and_alignment() {
    assert_eq!(
        format!("{:>6}|{:<6}|", q("250m"), q("1Gi")),
        "  250m|1Gi   |"
    );
}

#[test]
fn formats_have_gos_names() {
    assert_eq!(Format::DecimalSI.to_string(), "DecimalSI");
    assert_eq!(Format::BinarySI.as_str(), "BinarySI");
    assert_eq!(Format::DecimalExponent.as_str(), "DecimalExponent");
    assert_eq!(
        format!("{:?}", q("1Ki")),
        r#"Quantity { value: 1Ki, format: BinarySI }"#
    );
}
