//! Add, Sub, Neg, Sum and comparison, with Go's format rules. Expectations
//! were checked against apimachinery release-1.32.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use workingset_quantity::Format::{BinarySI, DecimalExponent, DecimalSI};
use workingset_quantity::Quantity;

fn q(text: &str) -> Quantity {
    text.parse()
        .unwrap_or_else(|error| panic!("{text:?}: {error}"))
}

fn hash_of(quantity: &Quantity) -> u64 {
    let mut hasher = DefaultHasher::new();
    quantity.hash(&mut hasher);
    hasher.finish()
}

#[test]
fn add_and_sub_follow_upstreams_tables() {
    // TestAdd and TestSub: the left operand's format wins unless it is zero
    // (a BinarySI 11 still prints without a binary suffix below 1Ki).
    let ten = Quantity::new(10, DecimalSI);
    let cases = [
        (ten.clone() + Quantity::new_scaled(1, 1), "20", DecimalSI),
        (ten.clone() + Quantity::new(1, BinarySI), "11", DecimalSI),
        (
            Quantity::new(10, BinarySI) + Quantity::new(1, DecimalSI),
            "11",
            BinarySI,
        ),
        (
            Quantity::zero() + Quantity::new(50, DecimalSI),
            "50",
            DecimalSI,
        ),
        (ten.clone() - Quantity::new_scaled(1, 1), "0", DecimalSI),
        (ten.clone() - Quantity::new(1, BinarySI), "9", DecimalSI),
        (
            Quantity::zero() - Quantity::new(50, DecimalSI),
            "-50",
            DecimalSI,
        ),
        (
            Quantity::new(50, DecimalSI) - Quantity::zero(),
            "50",
            DecimalSI,
        ),
    ];
    for (result, expected, format) in cases {
        assert_eq!(result.to_string(), expected, "{result:?}");
        assert_eq!(result.format(), format, "{result:?}");
    }
}

#[test]
fn adding_zero_keeps_the_suffix_either_way_round() {
    for text in ["100m", "1Gi"] {
        assert_eq!((q(text) + q("0")).to_string(), text);
        assert_eq!((q("0") + q(text)).to_string(), text);
        assert_eq!((q(text) - q("0")).to_string(), text);
        assert_eq!((q("0") - q(text)).to_string(), (-q(text)).to_string());
    }
    assert_eq!((q("0") + q("1Gi")).format(), BinarySI);
}

#[test]
fn overflowing_the_fast_path_stays_exact() {
    assert_eq!((q("8Ei") + q("8Ei")).to_string(), "18446744073709551614");
    assert_eq!((q("9Ei") + q("1")).to_string(), "8Ei");
    assert_eq!(
        (Quantity::new(-9_223_372_036_854_775_807, DecimalSI) + Quantity::new(-2, DecimalSI))
            .to_string(),
        "-9223372036854775809"
    );
    assert_eq!(
        (Quantity::new(1, DecimalSI) + Quantity::new(i64::MAX, DecimalSI)).to_string(),
        "9223372036854775808"
    );
    let tiny_plus_huge = q("1e300") + q("1n");
    assert_eq!(
        tiny_plus_huge.to_string(),
        format!("1{}1e-9", "0".repeat(308))
    );
    assert_eq!(tiny_plus_huge.format(), DecimalExponent);
    assert_eq!(tiny_plus_huge.as_approximate_f64(), f64::INFINITY);
    assert_eq!(tiny_plus_huge - q("1e300"), q("1n"));
}

#[test]
fn subtracting_i64_min_wraps_as_in_go() {
    // Go negates int64 operands with wrap-around, so 0 − MinInt64 is
    // MinInt64. Kept for exactness; no parsed quantity is ever MinInt64.
    let min = Quantity::new(i64::MIN, DecimalSI);
    assert_eq!(
        (Quantity::zero() - min.clone()).to_string(),
        "-9223372036854775808"
    );
    assert_eq!((q("1") - min.clone()).to_string(), "-9223372036854775807");
    assert_eq!((q("1k") - min.clone()).to_string(), "-9223372036854774808");
    assert_eq!((-min).to_string(), "-9223372036854775808");
}

#[test]
fn checked_arithmetic_refuses_sums_too_large_to_hold() {
    let huge = q("1e5000000");
    let one = q("1");
    assert_eq!(huge.checked_add(&one), None);
    assert_eq!(huge.checked_sub(&one), None);
    // The operators keep the dominant operand instead.
    assert_eq!(huge.clone() + one.clone(), huge);
    assert_eq!(one.clone() - huge.clone(), -huge.clone());
    assert_eq!(q("1e300").checked_add(&q("1n")), Some(q("1e300") + q("1n")));
}

#[test]
fn neg_keeps_the_format() {
    assert_eq!((-q("1Gi")).to_string(), "-1Gi");
    assert_eq!((-q("-1Gi")).to_string(), "1Gi");
    assert_eq!((-Quantity::new_scaled(901, -2)).to_string(), "-9010m");
    assert_eq!((-q("100.035Ki")).to_string(), "-102435840m");
    assert_eq!((-q("0")).to_string(), "0");
}

#[test]
fn assigning_operators_and_references() {
    let mut total = q("100m");
    total += q("150m");
    total += &q("1");
    total -= q("50m");
    total -= &q("200m");
    assert_eq!(total.to_string(), "1");
    assert_eq!((q("1Ki") + &q("1Ki")).to_string(), "2Ki");
    assert_eq!((q("1Ki") - &q("1Ki")).to_string(), "0");
}

#[test]
fn sum_behaves_like_a_go_accumulation_loop() {
    let cpu: Quantity = [250_264_852u64, 1_021_938_123, 0]
        .into_iter()
        .map(Quantity::from_nanocores)
        .sum();
    assert_eq!(cpu.to_string(), "1272202975n");
    assert_eq!(cpu.milli_value(), 1273);
    let memory: Quantity = [q("1Gi"), q("512Mi")].iter().sum();
    assert_eq!(memory.to_string(), "1536Mi");
    assert_eq!(memory.format(), BinarySI);
    let empty: Quantity = std::iter::empty::<Quantity>().sum();
    assert_eq!(empty.to_string(), "0");
}

#[test]
fn comparison_is_numeric() {
    // TestQuantityCmp and TestQuantityCmpInt64AndDec.
    assert_eq!(q("0").cmp(&q("0")), std::cmp::Ordering::Equal);
    assert!(q("100m") > q("50m"));
    assert!(q("50m") < q("100m"));
    assert!(q("10000T") > q("100Gi"));
    let ordered = [
        (Quantity::new_scaled(90, -1), Quantity::new_scaled(901, -2)),
        (Quantity::new_scaled(900, -2), Quantity::new_scaled(901, -2)),
        (Quantity::new_scaled(800, -3), Quantity::new_scaled(1, 0)),
        (Quantity::new_scaled(79, -2), Quantity::new_scaled(800, -3)),
        (
            Quantity::new_scaled(1, -1),
            Quantity::new_scaled(i64::MAX, 0),
        ),
        (
            Quantity::new_scaled(1, 1),
            Quantity::new_scaled(i64::MAX, 1),
        ),
        (
            Quantity::new_scaled(i64::MAX, -16),
            Quantity::new_scaled(1, 3),
        ),
        (Quantity::new_scaled(i64::MIN, 0), Quantity::zero()),
        (
            Quantity::new_scaled(i64::MIN, -18),
            Quantity::new_scaled(-1, 0),
        ),
        (
            Quantity::new_scaled(-1, 0),
            Quantity::new_scaled(i64::MIN, -19),
        ),
        (
            Quantity::new_scaled(-10, 0),
            Quantity::new_scaled(1_000_000_000_000_000_000, -17),
        ),
        (
            Quantity::new_scaled(1, 1),
            Quantity::new_scaled(1_000_000_000_000_000_001, -17),
        ),
        (
            Quantity::new_scaled(999_999_999_999_999_999, -17),
            Quantity::new_scaled(1, 1),
        ),
        (q("-1e300"), q("-1")),
        (q("1n"), q("1e300")),
        (q("99999999999999999999"), q("1e20")),
        (q("-1e20"), q("-99999999999999999999")),
    ];
    for (smaller, larger) in ordered {
        assert!(smaller < larger, "{smaller:?} < {larger:?}");
        assert!(larger > smaller, "{larger:?} > {smaller:?}");
    }
    let equal = [
        (Quantity::new_scaled(0, 1), Quantity::new_scaled(0, -1)),
        (
            Quantity::new_scaled(1_000_000_000_000_000_000, -17),
            Quantity::new_scaled(1, 1),
        ),
        (
            Quantity::new_scaled(-1_000_000_000_000_000_000, -17),
            Quantity::new_scaled(-10, 0),
        ),
        (q("1k"), q("1000")),
        (q("1e3"), q("1000000m")),
        (q("1Ki"), q("1024")),
        (q("1000000000000000000000"), Quantity::new_scaled(1, 21)),
        (q("9Ei"), Quantity::new(i64::MAX, DecimalSI)),
        (q("0"), q("0Ki")),
    ];
    for (left, right) in equal {
        assert_eq!(left, right);
        assert_eq!(
            hash_of(&left),
            hash_of(&right),
            "{left:?} and {right:?} hash alike"
        );
    }
}
