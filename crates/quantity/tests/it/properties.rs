//! Properties over generated quantities.

use proptest::prelude::*;
use workingset_quantity::{Format, Quantity};

/// Quantity strings in the grammar users write: sign, digits, optional
/// fraction, and any known suffix.
fn quantity_text() -> impl Strategy<Value = String> {
    let sign = prop_oneof![Just(""), Just("-"), Just("+")];
    let integer = "[0-9]{0,22}";
    let fraction = prop_oneof![Just(String::new()), "\\.[0-9]{0,12}"];
    let suffix = prop_oneof![
        Just(String::new()),
        prop::sample::select(vec![
            "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei",
        ])
        .prop_map(str::to_owned),
        (prop::bool::ANY, -40i32..40)
            .prop_map(|(upper, exponent)| format!("{}{exponent}", if upper { 'E' } else { 'e' })),
    ];
    (sign, integer, fraction, suffix)
        .prop_map(|(sign, integer, fraction, suffix)| format!("{sign}{integer}{fraction}{suffix}"))
}

/// Quantities built the way the pipeline builds them, over the full `i64`
/// range and every format.
fn constructed_quantity() -> impl Strategy<Value = Quantity> {
    let format = prop::sample::select(vec![
        Format::DecimalSI,
        Format::BinarySI,
        Format::DecimalExponent,
    ]);
    prop_oneof![
        (any::<i64>(), format.clone()).prop_map(|(value, format)| Quantity::new(value, format)),
        (any::<i64>(), format).prop_map(|(value, format)| Quantity::new_milli(value, format)),
        (any::<i64>(), -9i32..=0).prop_map(|(value, scale)| Quantity::new_scaled(value, scale)),
        any::<u64>().prop_map(Quantity::from_nanocores),
        any::<u64>().prop_map(Quantity::from_bytes),
    ]
}

/// Operands for exactness properties; `i64::MIN` is left out because Go's
/// Sub negates it with wrap-around (pinned in arithmetic.rs).
fn operand() -> impl Strategy<Value = Quantity> {
    prop_oneof![
        ((i64::MIN + 1)..=i64::MAX, -12i32..=12)
            .prop_map(|(value, scale)| Quantity::new_scaled(value, scale)),
        quantity_text().prop_filter_map("unparsable", |text| text.parse().ok()),
    ]
}

proptest! {
    #[test]
    fn printed_form_parses_back_to_the_same_quantity(text in quantity_text()) {
        if let Ok(quantity) = text.parse::<Quantity>() {
            let printed = quantity.to_string();
            let reparsed: Quantity = printed.parse().map_err(|error| {
                TestCaseError::fail(format!("{text:?} printed {printed:?}: {error}"))
            })?;
            prop_assert_eq!(&reparsed, &quantity, "{:?} printed {:?}", text, printed);
            prop_assert_eq!(reparsed.to_string(), printed);
        }
    }

    #[test]
    fn constructed_quantities_round_trip(quantity in constructed_quantity()) {
        let printed = quantity.to_string();
        let reparsed: Quantity = printed.parse().map_err(|error| {
            TestCaseError::fail(format!("{quantity:?}: {error}"))
        })?;
        prop_assert_eq!(&reparsed, &quantity, "printed {:?}", printed);
        // The text need not survive one trip (a BinarySI value without a
        // binary suffix comes back DecimalSI, as in Go: see
        // `binary_si_without_a_suffix_comes_back_decimal`), but after one
        // trip it is a fixed point.
        let again: Quantity = reparsed.to_string().parse().map_err(|error| {
            TestCaseError::fail(format!("{reparsed:?}: {error}"))
        })?;
        prop_assert_eq!(again.to_string(), reparsed.to_string());
    }

    #[test]
    fn nanocores_print_and_parse_back_exactly(nanocores in any::<u64>()) {
        let printed = Quantity::from_nanocores(nanocores).to_string();
        let reparsed: Quantity = printed.parse().map_err(|error| {
            TestCaseError::fail(format!("{printed:?}: {error}"))
        })?;
        prop_assert_eq!(&reparsed, &Quantity::from_nanocores(nanocores));
        if let Ok(signed) = i64::try_from(nanocores) {
            prop_assert_eq!(reparsed.scaled_value(-9), signed);
        }
    }

    #[test]
    fn bytes_print_and_parse_back_exactly(bytes in any::<u64>()) {
        let printed = Quantity::from_bytes(bytes).to_string();
        let reparsed: Quantity = printed.parse().map_err(|error| {
            TestCaseError::fail(format!("{printed:?}: {error}"))
        })?;
        prop_assert_eq!(&reparsed, &Quantity::from_bytes(bytes));
    }

    #[test]
    fn addition_is_exact(a in operand(), b in operand()) {
        let sum = a.clone() + b.clone();
        prop_assert_eq!(sum.clone() - b.clone(), a.clone());
        prop_assert_eq!(sum.clone() - a.clone(), b.clone());
        prop_assert_eq!(&sum, &(b.clone() + a.clone()));
        prop_assert_eq!(a.clone() - a.clone(), Quantity::zero());
        prop_assert_eq!(-(-a.clone()), a);
    }

    #[test]
    fn summed_nanocores_equal_the_quantity_of_the_summed_integers(
        samples in prop::collection::vec(any::<u64>(), 0..40),
    ) {
        let total: u128 = samples.iter().map(|&n| u128::from(n)).sum();
        let summed: Quantity = samples.iter().copied().map(Quantity::from_nanocores).sum();
        let expected: Quantity = format!("{total}n").parse().map_err(|error| {
            TestCaseError::fail(format!("{total}n: {error}"))
        })?;
        prop_assert_eq!(&summed, &expected);
        prop_assert_eq!(summed.to_string(), expected.to_string());
        if let Ok(small) = u64::try_from(total) {
            prop_assert_eq!(summed.to_string(), Quantity::from_nanocores(small).to_string());
        }
    }

    #[test]
    fn ordering_matches_exact_rational_comparison(
        a in (i64::MIN..=i64::MAX, -9i32..=9),
        b in (i64::MIN..=i64::MAX, -9i32..=9),
    ) {
        // value × 10^(scale + 9) fits an i128 for these ranges.
        let exact = |(value, scale): (i64, i32)| {
            i128::from(value) * 10i128.pow((scale + 9).unsigned_abs())
        };
        let (qa, qb) = (Quantity::new_scaled(a.0, a.1), Quantity::new_scaled(b.0, b.1));
        prop_assert_eq!(qa.cmp(&qb), exact(a).cmp(&exact(b)));
    }

    #[test]
    fn equal_quantities_hash_alike(quantity in constructed_quantity()) {
        use std::hash::{BuildHasher, RandomState};
        let state = RandomState::new();
        let reparsed: Quantity = quantity.to_string().parse().map_err(|error| {
            TestCaseError::fail(format!("{quantity:?}: {error}"))
        })?;
        prop_assert_eq!(state.hash_one(&quantity), state.hash_one(&reparsed));
    }
}

#[test]
fn bytes_beyond_i64_saturate_where_parsing_caps() {
    // ParseQuantity caps BinarySI at 2^63−1, so a larger byte count can only
    // travel as that cap; this seed once found the printed exact form
    // `16736166571858411Ki` parsing back to the cap.
    for bytes in [i64::MAX as u64 + 1, 17_137_834_569_583_012_864, u64::MAX] {
        let quantity = Quantity::from_bytes(bytes);
        assert_eq!(quantity.value(), i64::MAX);
        let reparsed: Quantity = quantity.to_string().parse().unwrap();
        assert_eq!(reparsed, quantity);
    }
}

#[test]
fn binary_si_without_a_suffix_comes_back_decimal() {
    // Go: NewQuantity(2000, BinarySI).String() is "2000" (not a multiple of
    // 1024, so no binary suffix), and ParseQuantity("2000") is DecimalSI,
    // whose String() is "2k". The value is the same throughout.
    for (value, printed, reprinted) in [
        (2000, "2000", "2k"),
        (
            6_622_212_168_903_119_000,
            "6622212168903119000",
            "6622212168903119k",
        ),
    ] {
        let quantity = Quantity::new(value, Format::BinarySI);
        assert_eq!(quantity.to_string(), printed);
        let reparsed: Quantity = printed.parse().unwrap();
        assert_eq!(reparsed, quantity);
        assert_eq!(reparsed.format(), Format::DecimalSI);
        assert_eq!(reparsed.to_string(), reprinted);
    }
}
