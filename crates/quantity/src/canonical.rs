//! `Quantity.String()`: the canonical form, following upstream's
//! `CanonicalizeBytes` step for step, written without touching the heap for
//! values on the `i64` path.

use std::cmp::Ordering;

use crate::decimal::{BigDecimal, Magnitude};
use crate::{Amount, Format, Quantity, int64, numeric_cmp};

impl Quantity {
    /// The canonical string form, computed without touching the heap for
    /// fast-path values.
    pub(crate) fn canonical(&self) -> CanonicalText {
        if self.is_zero() {
            return CanonicalText::Static("0");
        }
        let mut format = self.format;
        let mut whole = None;
        if format == Format::BinarySI {
            // Below 1Ki a binary suffix cannot help, and fractions would be
            // rounded away, so both print as DecimalSI.
            if self.cmp_int(-1024).is_gt() && self.cmp_int(1024).is_lt() {
                format = Format::DecimalSI;
            } else {
                match self.rounded_to_integer() {
                    Some((rounded, true)) => whole = Some(rounded),
                    _ => format = Format::DecimalSI,
                }
            }
        }
        match whole {
            Some(rounded) => {
                let (number, power_of_1024) = rounded.base1024_mantissa();
                let suffix = match power_of_1024.wrapping_mul(10) {
                    10 => "Ki",
                    20 => "Mi",
                    30 => "Gi",
                    40 => "Ti",
                    50 => "Pi",
                    60 => "Ei",
                    // Upstream silently drops suffixes it has no name for.
                    _ => "",
                };
                number.render(Suffix::Static(suffix))
            }
            None => {
                let (number, exponent) = self.amount.base10_mantissa();
                let suffix = match format {
                    Format::DecimalExponent if exponent == 0 => Suffix::Static(""),
                    Format::DecimalExponent => Suffix::Exponent(exponent),
                    _ => Suffix::Static(decimal_si_suffix(exponent)),
                };
                number.render(suffix)
            }
        }
    }

    fn cmp_int(&self, other: i64) -> Ordering {
        numeric_cmp(
            &self.amount,
            &Amount::Int {
                value: other,
                exponent: 0,
            },
        )
    }

    /// `AsScale(0)`: the value rounded away from zero to an integer, and
    /// whether that was exact.
    fn rounded_to_integer(&self) -> Option<(Amount, bool)> {
        match &self.amount {
            Amount::Int { value, exponent } if *exponent >= 0 => Some((
                Amount::Int {
                    value: *value,
                    exponent: *exponent,
                },
                true,
            )),
            Amount::Int { value, exponent } => {
                let (value, exact) =
                    int64::scale_down_away_from_zero(*value, 0i32.wrapping_sub(*exponent));
                Some((Amount::Int { value, exponent: 0 }, exact))
            }
            Amount::Big(big) => big
                .round_up(0)
                .map(|(rounded, exact)| (Amount::Big(Box::new(rounded)), exact)),
        }
    }
}

impl Amount {
    /// `AsCanonicalBytes`: a mantissa with no factor of ten to spare and an
    /// exponent that is a multiple of three.
    fn base10_mantissa(&self) -> (Mantissa, i32) {
        if let Amount::Int { value, exponent } = self {
            let (stripped, times) = int64::remove_factors(*value, 10);
            let exponent = exponent.wrapping_add(times);
            let widened = match exponent % 3 {
                1 | -2 => stripped
                    .checked_mul(10)
                    .map(|v| (v, exponent.wrapping_sub(1))),
                2 | -1 => stripped
                    .checked_mul(100)
                    .map(|v| (v, exponent.wrapping_sub(2))),
                _ => Some((stripped, exponent)),
            };
            if let Some((mantissa, exponent)) = widened {
                return (Mantissa::Int(mantissa), exponent);
            }
        }
        let big = self.to_big();
        let mut magnitude = big.magnitude;
        let times = magnitude.strip_trailing_zeros();
        let mut exponent = big.scale.wrapping_neg().wrapping_add(times as i32);
        while exponent % 3 != 0 {
            magnitude.mul_small(10);
            exponent = exponent.wrapping_sub(1);
        }
        (Mantissa::Big(big.negative, magnitude), exponent)
    }

    /// `AsCanonicalBase1024Bytes` of an integer-valued amount.
    fn base1024_mantissa(&self) -> (Mantissa, i32) {
        if let Amount::Int { value, exponent } = self
            && let Some(whole) = int64::scale_up(*value, *exponent)
        {
            let (mantissa, times) = int64::remove_factors(whole, 1024);
            return (Mantissa::Int(mantissa), times);
        }
        let big = self.to_big();
        let (rounded, _) = big.round_up(0).unwrap_or((
            BigDecimal::new(big.negative, big.magnitude.clone(), 0),
            true,
        ));
        let mut magnitude = rounded.magnitude;
        let times = magnitude.strip_factors_of_1024();
        (Mantissa::Big(rounded.negative, magnitude), times as i32)
    }
}

/// A canonical mantissa before it is written out.
enum Mantissa {
    Int(i64),
    Big(bool, Magnitude),
}

enum Suffix {
    Static(&'static str),
    Exponent(i32),
}

impl Mantissa {
    fn render(self, suffix: Suffix) -> CanonicalText {
        match self {
            Mantissa::Int(value) => {
                let mut text = InlineText::default();
                let mut digits = [0u8; 20];
                let start = int64::write_i64(value, &mut digits);
                text.push(&digits[start..]);
                match suffix {
                    Suffix::Static(suffix) => text.push(suffix.as_bytes()),
                    Suffix::Exponent(exponent) => {
                        text.push(b"e");
                        let start = int64::write_i64(i64::from(exponent), &mut digits);
                        text.push(&digits[start..]);
                    }
                }
                CanonicalText::Inline(text)
            }
            Mantissa::Big(negative, magnitude) => {
                let mut text = String::with_capacity(magnitude.digit_count() as usize + 14);
                BigDecimal::new(negative, magnitude, 0).write_signed(&mut text);
                match suffix {
                    Suffix::Static(suffix) => text.push_str(suffix),
                    Suffix::Exponent(exponent) => {
                        text.push('e');
                        text.push_str(&exponent.to_string());
                    }
                }
                CanonicalText::Heap(text)
            }
        }
    }
}

fn decimal_si_suffix(exponent: i32) -> &'static str {
    match exponent {
        -9 => "n",
        -6 => "u",
        -3 => "m",
        3 => "k",
        6 => "M",
        9 => "G",
        12 => "T",
        15 => "P",
        18 => "E",
        // 0, and exponents upstream has no suffix for (it prints none).
        _ => "",
    }
}

/// Canonical text: fast-path values fit on the stack (sign, 19 digits and
/// `e-2147483648` are at most 32 bytes).
pub(crate) enum CanonicalText {
    Static(&'static str),
    Inline(InlineText),
    Heap(String),
}

impl CanonicalText {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            CanonicalText::Static(text) => text,
            CanonicalText::Inline(text) => text.as_str(),
            CanonicalText::Heap(text) => text,
        }
    }
}

#[derive(Default)]
pub(crate) struct InlineText {
    bytes: [u8; 32],
    len: usize,
}

impl InlineText {
    /// Appends ASCII; callers stay within capacity (see [`CanonicalText`]).
    fn push(&mut self, ascii: &[u8]) {
        let end = (self.len + ascii.len()).min(self.bytes.len());
        let taken = end - self.len;
        self.bytes[self.len..end].copy_from_slice(&ascii[..taken]);
        self.len = end;
    }

    fn as_str(&self) -> &str {
        // Only ASCII is ever pushed, so this cannot fail.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}
