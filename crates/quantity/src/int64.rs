//! Helpers for the `int64Amount` fast path (`value × 10^exponent`).
//!
//! apimachinery does this arithmetic in Go `int32`/`int64` and some results
//! leak its wrapping (an exponent difference that overflows `int32` is
//! treated as "no scaling"); the helpers keep those semantics so that every
//! observable result matches, and otherwise use checked arithmetic where Go
//! checks for overflow by hand.

pub(crate) const POW10_I64: [i64; 19] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
    10_000_000_000,
    100_000_000_000,
    1_000_000_000_000,
    10_000_000_000_000,
    100_000_000_000_000,
    1_000_000_000_000_000,
    10_000_000_000_000_000,
    100_000_000_000_000_000,
    1_000_000_000_000_000_000,
];

/// `base × 10^by`, `None` on overflow. Go's loop never runs for a negative
/// `by`, which then means "unchanged".
pub(crate) fn scale_up(base: i64, by: i32) -> Option<i64> {
    if by <= 0 || base == 0 {
        return Some(base);
    }
    let factor = POW10_I64.get(by.unsigned_abs() as usize)?;
    base.checked_mul(*factor)
}

/// What Go's `positiveScaleInt64` returns as its value, which
/// `ScaledValue` uses without looking at the overflow flag: shifts of 1, 2,
/// 3, 6 and 9 multiply in one step and hand back the wrapped product (0 for
/// `i64::MIN`), every other shift multiplies digit by digit and gives up
/// with 0.
pub(crate) fn scale_up_as_go_reports(base: i64, by: i32) -> i64 {
    if by <= 0 {
        return base;
    }
    match by {
        1 | 2 | 3 | 6 | 9 if base == i64::MIN => 0,
        1 | 2 | 3 | 6 | 9 => base.wrapping_mul(POW10_I64[by as usize]),
        _ => scale_up(base, by).unwrap_or(0),
    }
}

/// `base ÷ 10^by` rounded away from zero, and whether that was exact.
pub(crate) fn scale_down_away_from_zero(base: i64, by: i32) -> (i64, bool) {
    if by <= 0 {
        return (base, true);
    }
    let (quotient, remainder) = match POW10_I64.get(by.unsigned_abs() as usize) {
        Some(&divisor) => (base / divisor, base % divisor),
        None => (0, base),
    };
    if remainder == 0 {
        (quotient, true)
    } else {
        (quotient + base.signum(), false)
    }
}

/// Splits `value` into `result × factor^times` with `result` not divisible by
/// `factor` (magnitudes below `factor` are left alone, as upstream does).
pub(crate) fn remove_factors(value: i64, factor: i64) -> (i64, i32) {
    let negative = value < 0;
    let mut result = if negative {
        value.wrapping_neg()
    } else {
        value
    };
    let mut times = 0;
    while result >= factor && result % factor == 0 {
        result /= factor;
        times += 1;
    }
    (
        if negative {
            result.wrapping_neg()
        } else {
            result
        },
        times,
    )
}

/// `int64Amount.Add`: adds `(value, exponent)` into `(acc, acc_exponent)` at
/// the smaller exponent. Returns `false`, leaving the accumulator untouched,
/// when the result does not fit in an `i64`.
pub(crate) fn add_scaled(acc: &mut i64, acc_exponent: &mut i32, value: i64, exponent: i32) -> bool {
    if value == 0 {
        return true;
    }
    if *acc == 0 {
        *acc = value;
        *acc_exponent = exponent;
        return true;
    }
    let sum =
        match (*acc_exponent).cmp(&exponent) {
            std::cmp::Ordering::Equal => acc.checked_add(value),
            std::cmp::Ordering::Greater => scale_up(*acc, acc_exponent.wrapping_sub(exponent))
                .and_then(|a| a.checked_add(value)),
            std::cmp::Ordering::Less => scale_up(value, exponent.wrapping_sub(*acc_exponent))
                .and_then(|b| acc.checked_add(b)),
        };
    match sum {
        Some(sum) => {
            if *acc_exponent > exponent {
                *acc_exponent = exponent;
            }
            *acc = sum;
            true
        }
        None => false,
    }
}

/// Writes the decimal digits of `value` (with a leading `-`) at the end of
/// `buf`, returning where they start. 20 bytes always suffice.
pub(crate) fn write_i64(value: i64, buf: &mut [u8; 20]) -> usize {
    let mut magnitude = value.unsigned_abs();
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = b'0' + (magnitude % 10) as u8;
        magnitude /= 10;
        if magnitude == 0 {
            break;
        }
    }
    if value < 0 {
        start -= 1;
        buf[start] = b'-';
    }
    start
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_up_detects_overflow_and_ignores_negative_shifts() {
        assert_eq!(scale_up(5, 3), Some(5000));
        assert_eq!(scale_up(0, 400), Some(0));
        assert_eq!(scale_up(1, 19), None);
        assert_eq!(scale_up(i64::MAX, 1), None);
        assert_eq!(scale_up(7, -4), Some(7));
    }

    #[test]
    fn overflowing_scale_up_reports_like_go() {
        assert_eq!(scale_up_as_go_reports(i64::MAX, 3), -1000);
        assert_eq!(scale_up_as_go_reports(i64::MAX, 4), 0);
        assert_eq!(scale_up_as_go_reports(i64::MIN, 3), 0);
        assert_eq!(scale_up_as_go_reports(12, 4), 120_000);
    }

    #[test]
    fn scale_down_rounds_away_from_zero() {
        assert_eq!(scale_down_away_from_zero(1501, 3), (2, false));
        assert_eq!(scale_down_away_from_zero(-1501, 3), (-2, false));
        assert_eq!(scale_down_away_from_zero(1500, 2), (15, true));
        assert_eq!(scale_down_away_from_zero(5, 30), (1, false));
        assert_eq!(scale_down_away_from_zero(-5, 30), (-1, false));
        assert_eq!(scale_down_away_from_zero(0, 30), (0, true));
        assert_eq!(
            scale_down_away_from_zero(i64::MIN, 1),
            (i64::MIN / 10 - 1, false)
        );
    }

    #[test]
    fn removes_factors_like_upstream() {
        assert_eq!(remove_factors(12000, 10), (12, 3));
        assert_eq!(remove_factors(-2048, 1024), (-2, 1));
        assert_eq!(remove_factors(0, 10), (0, 0));
        assert_eq!(remove_factors(i64::MIN, 10), (i64::MIN, 0));
    }

    #[test]
    fn writes_integers() {
        for value in [0, 7, -7, 1234567890, i64::MAX, i64::MIN] {
            let mut buf = [0u8; 20];
            let start = write_i64(value, &mut buf);
            assert_eq!(
                std::str::from_utf8(&buf[start..]).unwrap(),
                value.to_string()
            );
        }
    }
}
