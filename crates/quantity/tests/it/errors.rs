//! Parse errors and what upstream's permissive scanner accepts instead.
//! Every expectation here was checked against apimachinery release-1.32.

use workingset_quantity::{Format, ParseQuantityError, Quantity};

use ParseQuantityError::{FormatWrong, Numeric, Suffix};

#[test]
fn error_messages_are_apimachinerys() {
    assert_eq!(
        FormatWrong.to_string(),
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    );
    assert_eq!(
        Numeric.to_string(),
        "unable to parse numeric part of quantity"
    );
    assert_eq!(Suffix.to_string(), "unable to parse quantity's suffix");
}

#[test]
fn bad_inputs_fail_with_upstreams_error() {
    let cases = [
        ("", FormatWrong),
        ("1.1.1", FormatWrong),
        ("1.1.M", FormatWrong),
        ("1+1.0M", FormatWrong),
        ("0.1am", FormatWrong),
        ("aoeu", FormatWrong),
        ("Non-Numeric", FormatWrong),
        ("1Zi", FormatWrong),
        ("1KI", FormatWrong),
        ("1e1.5", FormatWrong),
        ("0x10", FormatWrong),
        (" 1", FormatWrong),
        ("1 ", FormatWrong),
        ("1\u{00a0}", FormatWrong),
        ("１", FormatWrong),
        ("1i", Suffix),
        (".5i", Suffix),
        ("-3.01i", Suffix),
        ("-3.01e-", Suffix),
        ("0.1mi", Suffix),
        ("1e", Suffix),
        ("1ee", Suffix),
        ("1e+", Suffix),
        ("1K", Suffix),
        ("1ki", Suffix),
        ("1Mi5", Suffix),
        ("--1", Suffix),
        ("1e99999999999999999999", Suffix),
        (".e-10", Numeric),
        ("-.e-10", Numeric),
        ("e-10", Numeric),
    ];
    let mut failures = Vec::new();
    for (input, expected) in cases {
        match input.parse::<Quantity>() {
            Err(error) if error == expected => {}
            other => failures.push(format!("{input:?}: got {other:?}, want {expected:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn inputs_the_documented_regex_rejects_but_upstream_accepts() {
    // The scanner, not the regular expression in the error text, decides.
    let cases = [
        ("Ki", "0", Format::BinarySI),
        ("-", "0", Format::DecimalSI),
        ("+", "0", Format::DecimalSI),
        (".", "0", Format::DecimalSI),
        ("-.", "0", Format::DecimalSI),
        ("n", "0", Format::DecimalSI),
        ("e3", "0", Format::DecimalExponent),
        ("-0", "0", Format::DecimalSI),
        ("1.G", "1.G", Format::DecimalSI),
    ];
    for (input, expected, format) in cases {
        let quantity: Quantity = input
            .parse()
            .unwrap_or_else(|error| panic!("{input:?}: {error}"));
        assert_eq!(quantity.to_string(), expected, "{input:?}");
        assert_eq!(quantity.format(), format, "{input:?}");
    }
}

#[test]
fn absurdly_long_numbers_are_refused_rather_than_exhausting_memory() {
    // Go would try to build the number; we stop at about four million digits.
    let long = "1".repeat(5_000_000);
    assert_eq!(long.parse::<Quantity>(), Err(Numeric));
    // A huge exponent on a short mantissa stays cheap and exact, as in Go.
    let huge: Quantity = "1e2147483647".parse().unwrap();
    assert_eq!(huge.to_string(), "10e2147483646");
}
