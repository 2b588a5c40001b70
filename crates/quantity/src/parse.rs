//! `resource.ParseQuantity`: the permissive scanner, the suffix table and the
//! two ways a value is stored (exact `i64` when it fits cheaply, big decimal
//! otherwise, rounded up to a nanounit).

use crate::decimal::{BigDecimal, MAX_DIGITS, Magnitude};
use crate::{Amount, Format, ParseQuantityError};

/// The pieces of a quantity string, as upstream's scanner cuts them.
struct Scanned<'a> {
    positive: bool,
    /// The number as the big-decimal path reads it (sign, digits, point).
    number: &'a [u8],
    /// Integer digits without leading zeros; `"0"` when there are none.
    integer: &'a [u8],
    fraction: &'a [u8],
    suffix: &'a [u8],
}

const SUFFIX_LETTERS: &[u8] = b"eEinumkKMGTP";

/// Mirrors upstream's hand-written scanner rather than its documented
/// regular expression: it accepts `"."`, `"-"`, `"Ki"` and `"1."`, which
/// the regular expression would not, and Go-exactness includes those.
fn scan(input: &[u8]) -> Result<Scanned<'_>, ParseQuantityError> {
    let end = input.len();
    let mut pos = 0;
    let mut positive = true;
    match input.first() {
        Some(b'-') => {
            positive = false;
            pos = 1;
        }
        Some(b'+') => pos = 1,
        _ => {}
    }

    while pos < end && input[pos] == b'0' {
        pos += 1;
    }
    if pos == end {
        return Ok(Scanned {
            positive,
            number: b"0",
            integer: b"0",
            fraction: b"",
            suffix: b"",
        });
    }

    let integer_start = pos;
    while pos < end && input[pos].is_ascii_digit() {
        pos += 1;
    }
    let integer = match &input[integer_start..pos] {
        [] => b"0".as_slice(),
        digits => digits,
    };
    if pos == end {
        return Ok(Scanned {
            positive,
            number: input,
            integer,
            fraction: b"",
            suffix: b"",
        });
    }

    let mut fraction: &[u8] = b"";
    if input[pos] == b'.' {
        pos += 1;
        let fraction_start = pos;
        while pos < end && input[pos].is_ascii_digit() {
            pos += 1;
        }
        fraction = &input[fraction_start..pos];
    }
    let number = &input[..pos];

    let suffix_start = pos;
    while pos < end && SUFFIX_LETTERS.contains(&input[pos]) {
        pos += 1;
    }
    if pos < end && matches!(input[pos], b'+' | b'-') {
        pos += 1;
    }
    while pos < end && input[pos].is_ascii_digit() {
        pos += 1;
    }
    if pos < end {
        return Err(ParseQuantityError::FormatWrong);
    }
    Ok(Scanned {
        positive,
        number,
        integer,
        fraction,
        suffix: &input[suffix_start..],
    })
}

#[derive(Clone, Copy)]
enum Base {
    Ten,
    Two,
}

/// What a suffix means: the power of ten or two it stands for, and the
/// format it selects.
fn interpret_suffix(suffix: &[u8]) -> Option<(Base, i32, Format)> {
    let decimal = |exponent| Some((Base::Ten, exponent, Format::DecimalSI));
    let binary = |exponent| Some((Base::Two, exponent, Format::BinarySI));
    match suffix {
        b"" => decimal(0),
        b"n" => decimal(-9),
        b"u" => decimal(-6),
        b"m" => decimal(-3),
        b"k" => decimal(3),
        b"M" => decimal(6),
        b"G" => decimal(9),
        b"T" => decimal(12),
        b"P" => decimal(15),
        b"E" => decimal(18),
        b"Ki" => binary(10),
        b"Mi" => binary(20),
        b"Gi" => binary(30),
        b"Ti" => binary(40),
        b"Pi" => binary(50),
        b"Ei" => binary(60),
        [b'e' | b'E', exponent @ ..] if !exponent.is_empty() => {
            let exponent: i64 = std::str::from_utf8(exponent).ok()?.parse().ok()?;
            // Go parses an int64 and then converts to int32, wrapping.
            Some((Base::Ten, exponent as i32, Format::DecimalExponent))
        }
        _ => None,
    }
}

/// The result of parsing, before the caller decides whether the input text
/// itself must be remembered as the quantity's string form.
pub(crate) struct Parsed {
    pub(crate) amount: Amount,
    pub(crate) format: Format,
    /// Upstream keeps the input as the cached `String()` in this case.
    pub(crate) input_is_string_form: bool,
}

/// Most digits the `i64` path accepts for a decimal mantissa.
const MAX_FAST_DIGITS: i32 = 18;
/// Nanounits: everything is rounded up to this many fractional digits.
const NANO_EXPONENT: i32 = -9;

pub(crate) fn parse(input: &str) -> Result<Parsed, ParseQuantityError> {
    if input.is_empty() {
        return Err(ParseQuantityError::FormatWrong);
    }
    if input == "0" {
        return Ok(Parsed {
            amount: Amount::Int {
                value: 0,
                exponent: 0,
            },
            format: Format::DecimalSI,
            input_is_string_form: true,
        });
    }

    let scanned = scan(input.as_bytes())?;
    let (base, suffix_exponent, format) =
        interpret_suffix(scanned.suffix).ok_or(ParseQuantityError::Suffix)?;

    if let Some(parsed) = parse_fast(&scanned, base, suffix_exponent, format) {
        return Ok(parsed);
    }
    parse_big(&scanned, base, suffix_exponent, format)
}

/// The `int64Amount` path: small mantissas at or above nano scale.
fn parse_fast(
    scanned: &Scanned<'_>,
    base: Base,
    suffix_exponent: i32,
    format: Format,
) -> Option<Parsed> {
    let digit_count = (scanned.integer.len() + scanned.fraction.len()) as i32;
    let (mut exponent, precision, multiplier) = match base {
        Base::Ten => (
            suffix_exponent,
            MAX_FAST_DIGITS.wrapping_sub(digit_count),
            1i64,
        ),
        Base::Two if scanned.fraction.is_empty() => (
            0,
            // Roughly the decimal digits left once multiplied by 2^exponent.
            14 - scanned.integer.len() as i32 - suffix_exponent * 3 / 10,
            1i64.checked_shl(suffix_exponent.unsigned_abs())?,
        ),
        Base::Two => return None,
    };
    if precision < 0 {
        return None;
    }
    exponent = exponent.wrapping_sub(scanned.fraction.len() as i32);
    if exponent < NANO_EXPONENT {
        return None;
    }
    let digits = scanned
        .integer
        .iter()
        .chain(scanned.fraction)
        .fold(0i64, |acc, digit| acc * 10 + i64::from(digit - b'0'));
    let magnitude = digits.checked_mul(multiplier)?;
    let value = if scanned.positive {
        magnitude
    } else {
        -magnitude
    };
    let input_is_string_form = match base {
        Base::Two => digits & 0x07 != 0,
        Base::Ten => {
            exponent % 3 == 0
                && !ends_with_three_zeros(scanned.integer, scanned.fraction)
                && scanned.integer != b"0"
        }
    };
    Some(Parsed {
        amount: Amount::Int { value, exponent },
        format,
        input_is_string_form,
    })
}

/// Whether `integer ++ fraction` ends in `000`.
fn ends_with_three_zeros(integer: &[u8], fraction: &[u8]) -> bool {
    integer
        .iter()
        .chain(fraction)
        .rev()
        .take(3)
        .filter(|&&digit| digit == b'0')
        .count()
        == 3
}

/// The `inf.Dec` path: any length, any scale, rounded up to nanounits;
/// binary quantities are capped at 2^63−1.
fn parse_big(
    scanned: &Scanned<'_>,
    base: Base,
    suffix_exponent: i32,
    mut format: Format,
) -> Result<Parsed, ParseQuantityError> {
    let mut negative = false;
    let mut digits = Vec::with_capacity(scanned.number.len());
    let mut fraction_digits: Option<usize> = None;
    for (index, &byte) in scanned.number.iter().enumerate() {
        match byte {
            b'-' if index == 0 => negative = true,
            b'.' => fraction_digits = Some(0),
            b'0'..=b'9' => {
                digits.push(byte);
                if let Some(count) = fraction_digits.as_mut() {
                    *count += 1;
                }
            }
            _ => {}
        }
    }
    if digits.is_empty() {
        return Err(ParseQuantityError::Numeric);
    }
    if digits.len() as u64 > MAX_DIGITS {
        return Err(ParseQuantityError::Numeric);
    }
    let mut magnitude = Magnitude::from_ascii_digits(&digits);
    let mut scale = fraction_digits.unwrap_or(0) as i32;
    match base {
        Base::Ten => scale = scale.wrapping_add(suffix_exponent.wrapping_neg()),
        Base::Two => magnitude.mul_small(1u64 << suffix_exponent.clamp(0, 63)),
    }

    let mut amount = BigDecimal::new(false, magnitude, scale);
    if !amount.is_zero() {
        // Round up, so that asking for a sliver of a resource gets some.
        let (rounded, _) = amount
            .round_up(-NANO_EXPONENT)
            .ok_or(ParseQuantityError::Numeric)?;
        amount = rounded;
    }
    if format == Format::BinarySI {
        let max = BigDecimal::from_i64(i64::MAX, 0);
        let one = BigDecimal::from_i64(1, 0);
        if amount.numeric_cmp(&max).is_gt() {
            amount = max;
        }
        if !amount.is_zero() && amount.numeric_cmp(&one).is_lt() {
            format = Format::DecimalSI;
        }
    }
    if negative {
        amount.negate();
    }
    Ok(Parsed {
        amount: Amount::Big(Box::new(amount)),
        format,
        input_is_string_form: false,
    })
}
