//! `value`, `milli_value`, `scaled_value` and `as_approximate_f64`,
//! including Go's overflow and negative-rounding behaviour. Expectations
//! were produced by apimachinery release-1.32.

use workingset_quantity::{Format, Quantity};

fn q(text: &str) -> Quantity {
    text.parse()
        .unwrap_or_else(|error| panic!("{text:?}: {error}"))
}

#[test]
fn value_and_milli_value_round_up() {
    // (input, Value(), MilliValue())
    let cases = [
        ("250264852n", 1, 251),
        ("1Ki", 1024, 1_024_000),
        ("1n", 1, 1),
        ("1.5", 2, 1500),
        ("100.035Ki", 102_436, 102_435_840),
        ("0.0001Ki", 1, 103),
        ("0.5e-9", 1, 1),
        ("1e-10", 1, 1),
        ("5000m", 5, 5000),
        ("0", 0, 0),
    ];
    for (input, value, milli) in cases {
        let quantity = q(input);
        assert_eq!(quantity.value(), value, "{input}.value()");
        assert_eq!(quantity.milli_value(), milli, "{input}.milli_value()");
    }
}

#[test]
fn negatives_round_away_from_zero_on_the_fast_path() {
    let cases = [
        ("-250264852n", -1, -251),
        ("-1.5", -2, -1500),
        ("-0.1024", -1, -103),
        ("-1n", -1, -1),
        ("-1.5Ki", -1536, -1_536_000),
    ];
    for (input, value, milli) in cases {
        let quantity = q(input);
        assert_eq!(quantity.value(), value, "{input}.value()");
        assert_eq!(quantity.milli_value(), milli, "{input}.milli_value()");
    }
}

#[test]
fn negatives_stored_as_big_decimals_keep_upstreams_off_by_one() {
    // Binary fractions take upstream's inf.Dec path, whose ScaledValue adds
    // one to the truncated quotient even for negative values.
    let cases = [
        ("-0.0001Ki", 1, -101),
        ("-100.035Ki", -102_434, -102_435_840),
        ("-1.1e-10", 1, 1),
    ];
    for (input, value, milli) in cases {
        let quantity = q(input);
        assert_eq!(quantity.value(), value, "{input}.value()");
        assert_eq!(quantity.milli_value(), milli, "{input}.milli_value()");
    }
}

#[test]
fn milli_value_overflows_like_go() {
    assert_eq!(q("9Ei").value(), i64::MAX);
    assert_eq!(q("9Ei").milli_value(), -1000);
    assert_eq!(
        Quantity::new(i64::MAX, Format::DecimalSI).milli_value(),
        -1000
    );
    assert_eq!(Quantity::new(i64::MIN, Format::DecimalSI).milli_value(), 0);
    assert_eq!(Quantity::new_scaled(i64::MAX, 3).value(), -1000);
    // Shifts other than 1, 2, 3, 6 and 9 digits report overflow as 0.
    assert_eq!(Quantity::new_scaled(i64::MAX, 4).value(), 0);
    assert_eq!(q("12E").value(), 0);
    assert_eq!(q("100E").value(), 0);
    // A 20-digit value is an inf.Dec: Go keeps the low 64 bits.
    assert_eq!(q("99999999999999999999").value(), 7_766_279_631_452_241_919);
    assert_eq!(
        q("99999999999999999999").milli_value(),
        200_376_420_520_688_664
    );
    assert_eq!(q("-99999999999999999999").value(), -7_886_392_054);
}

#[test]
fn scaled_value_matches_upstreams_table() {
    // TestScaledValue: NewScaledQuantity(1, from).ScaledValue(to).
    let cases = [
        (-9, -9, 1),
        (-9, -6, 1),
        (-9, -3, 1),
        (-9, 0, 1),
        (-6, -9, 1000),
        (-6, -6, 1),
        (-6, -3, 1),
        (-6, 0, 1),
        (-3, -9, 1_000_000),
        (-3, -6, 1000),
        (-3, -3, 1),
        (-3, 0, 1),
        (0, -9, 1_000_000_000),
        (0, -6, 1_000_000),
        (0, -3, 1000),
        (0, 0, 1),
        (2, -2, 10_000),
    ];
    for (from, to, expected) in cases {
        assert_eq!(
            Quantity::new_scaled(1, from).scaled_value(to),
            expected,
            "1e{from} in units of 1e{to}"
        );
    }
    assert_eq!(q("250264852n").scaled_value(-9), 250_264_852);
    assert_eq!(q("1Ki").scaled_value(3), 2);
}

#[test]
fn approximate_floats_match_go_bit_for_bit() {
    let cases = [
        ("250264852n", 0x3fd0_0456_deab_68f2_u64),
        ("-0.1024", 0xbfba_36e2_eb1c_432d),
        ("-100.035Ki", 0xc0f9_023d_70a3_d70b),
        ("1n", 0x3e11_2e0b_e826_d695),
        ("12E", 0x43e4_d112_0d7b_1600),
        ("99999999999999999999", 0x4415_af1d_78b5_8c40),
        ("9Ei", 0x43e0_0000_0000_0000),
    ];
    for (input, bits) in cases {
        assert_eq!(
            q(input).as_approximate_f64().to_bits(),
            bits,
            "{input}: {}",
            q(input).as_approximate_f64()
        );
    }
    assert_eq!(
        Quantity::new_scaled(1, 400).as_approximate_f64(),
        f64::INFINITY
    );
    assert_eq!(Quantity::new_scaled(1, -400).as_approximate_f64(), 0.0);
    assert_eq!(Quantity::zero().as_approximate_f64(), 0.0);
}

#[test]
fn sign_and_zero() {
    assert_eq!(q("-1n").sign(), -1);
    assert_eq!(q("0Ki").sign(), 0);
    assert_eq!(q("1e-20").sign(), 1);
    assert!(q("0.000").is_zero());
    assert!(!q("1e-20").is_zero());
    assert_eq!(q("-99999999999999999999").sign(), -1);
}
