//! The arbitrary-precision side of a quantity: what apimachinery keeps in an
//! `inf.Dec` once a value no longer fits its `int64` fast path.
//!
//! Every operation a quantity needs is decimal (shift by powers of ten, strip
//! trailing zeros, print digits), so the magnitude is stored in base 10^9
//! limbs: those operations become limb moves plus one small multiply or
//! divide, and no general big-by-big multiplication is ever needed.

use std::cmp::Ordering;
use std::fmt::Write as _;

const LIMB_BASE: u32 = 1_000_000_000;
const LIMB_DIGITS: u32 = 9;

/// Upper bound on the decimal digits a stored value may have.
///
/// Go would happily try to build `10^2000000000` when asked to add `1` to
/// `1e2000000000`; a server must not. Four million digits is far beyond any
/// real quantity and keeps every operation in the low milliseconds.
pub(crate) const MAX_DIGITS: u64 = 1 << 22;

const POW10_U32: [u32; 10] = [
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
];

/// A non-negative integer in little-endian base-10^9 limbs, without high zero
/// limbs (zero is the empty vector).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct Magnitude {
    limbs: Vec<u32>,
}

impl Magnitude {
    pub(crate) fn from_u64(mut value: u64) -> Self {
        let mut limbs = Vec::with_capacity(3);
        while value != 0 {
            limbs.push((value % u64::from(LIMB_BASE)) as u32);
            value /= u64::from(LIMB_BASE);
        }
        Self { limbs }
    }

    /// Builds the number written by `digits` (ASCII `0`–`9` only, leading
    /// zeros allowed).
    pub(crate) fn from_ascii_digits(digits: &[u8]) -> Self {
        let mut limbs = Vec::with_capacity(digits.len() / LIMB_DIGITS as usize + 1);
        for chunk in digits.rchunks(LIMB_DIGITS as usize) {
            let limb = chunk
                .iter()
                .fold(0u32, |acc, digit| acc * 10 + u32::from(digit - b'0'));
            limbs.push(limb);
        }
        let mut magnitude = Self { limbs };
        magnitude.trim();
        magnitude
    }

    fn trim(&mut self) {
        while self.limbs.last() == Some(&0) {
            self.limbs.pop();
        }
    }

    pub(crate) fn is_zero(&self) -> bool {
        self.limbs.is_empty()
    }

    pub(crate) fn digit_count(&self) -> u64 {
        match self.limbs.last() {
            None => 0,
            Some(&top) => {
                (self.limbs.len() as u64 - 1) * u64::from(LIMB_DIGITS) + u64::from(digits_u32(top))
            }
        }
    }

    pub(crate) fn to_u64(&self) -> Option<u64> {
        if self.limbs.len() > 3 {
            return None;
        }
        let value = self.limbs.iter().rev().fold(0u128, |acc, &limb| {
            acc * u128::from(LIMB_BASE) + u128::from(limb)
        });
        u64::try_from(value).ok()
    }

    /// The value modulo 2^64: what Go's `big.Int.Int64` keeps of a magnitude
    /// that does not fit.
    pub(crate) fn low_u64(&self) -> u64 {
        self.limbs.iter().rev().fold(0u64, |acc, &limb| {
            acc.wrapping_mul(u64::from(LIMB_BASE))
                .wrapping_add(u64::from(limb))
        })
    }

    pub(crate) fn mul_small(&mut self, factor: u64) {
        if factor == 0 {
            self.limbs.clear();
            return;
        }
        let mut carry: u128 = 0;
        for limb in &mut self.limbs {
            let product = u128::from(*limb) * u128::from(factor) + carry;
            *limb = (product % u128::from(LIMB_BASE)) as u32;
            carry = product / u128::from(LIMB_BASE);
        }
        while carry != 0 {
            self.limbs.push((carry % u128::from(LIMB_BASE)) as u32);
            carry /= u128::from(LIMB_BASE);
        }
    }

    /// Multiplies by 10^power; `None` when the result would exceed
    /// [`MAX_DIGITS`].
    pub(crate) fn mul_pow10(&mut self, power: u64) -> Option<()> {
        if self.is_zero() || power == 0 {
            return Some(());
        }
        if self.digit_count().saturating_add(power) > MAX_DIGITS {
            return None;
        }
        let whole_limbs = (power / u64::from(LIMB_DIGITS)) as usize;
        let rest = (power % u64::from(LIMB_DIGITS)) as usize;
        self.mul_small(u64::from(POW10_U32[rest]));
        if whole_limbs > 0 {
            self.limbs.splice(0..0, std::iter::repeat_n(0, whole_limbs));
        }
        Some(())
    }

    /// Divides in place by a small divisor, returning the remainder.
    fn div_small(&mut self, divisor: u32) -> u32 {
        let mut remainder: u64 = 0;
        for limb in self.limbs.iter_mut().rev() {
            let current = remainder * u64::from(LIMB_BASE) + u64::from(*limb);
            *limb = (current / u64::from(divisor)) as u32;
            remainder = current % u64::from(divisor);
        }
        self.trim();
        remainder as u32
    }

    /// Truncating division by 10^power; the flag says whether anything
    /// non-zero was dropped.
    pub(crate) fn div_pow10(&mut self, power: u64) -> bool {
        if self.is_zero() || power == 0 {
            return false;
        }
        if power >= self.digit_count() {
            self.limbs.clear();
            return true;
        }
        let whole_limbs = (power / u64::from(LIMB_DIGITS)) as usize;
        let rest = (power % u64::from(LIMB_DIGITS)) as usize;
        let mut dropped = self.limbs.drain(..whole_limbs).any(|limb| limb != 0);
        if rest > 0 {
            dropped |= self.div_small(POW10_U32[rest]) != 0;
        }
        dropped
    }

    /// Removes factors of ten, returning how many were removed (0 for zero).
    pub(crate) fn strip_trailing_zeros(&mut self) -> u64 {
        let zero_limbs = self.limbs.iter().take_while(|&&limb| limb == 0).count();
        if zero_limbs == self.limbs.len() {
            return 0;
        }
        self.limbs.drain(..zero_limbs);
        let mut removed = zero_limbs as u64 * u64::from(LIMB_DIGITS);
        let low = self.limbs.first().copied().unwrap_or(1);
        let low_zeros = (1..LIMB_DIGITS as usize)
            .take_while(|&power| low % POW10_U32[power] == 0)
            .count();
        if low_zeros > 0 {
            self.div_small(POW10_U32[low_zeros]);
            removed += low_zeros as u64;
        }
        removed
    }

    /// Removes as many factors of 1024 as divide the value exactly.
    pub(crate) fn strip_factors_of_1024(&mut self) -> u32 {
        let mut times = 0;
        while !self.is_zero() {
            let mut quotient = self.clone();
            if quotient.div_small(1024) != 0 {
                break;
            }
            *self = quotient;
            times += 1;
        }
        times
    }

    pub(crate) fn add(&self, other: &Self) -> Self {
        let (long, short) = if self.limbs.len() >= other.limbs.len() {
            (self, other)
        } else {
            (other, self)
        };
        let mut limbs = Vec::with_capacity(long.limbs.len() + 1);
        let mut carry = 0u32;
        for (index, &limb) in long.limbs.iter().enumerate() {
            let sum = limb + short.limbs.get(index).copied().unwrap_or(0) + carry;
            carry = u32::from(sum >= LIMB_BASE);
            limbs.push(if carry == 1 { sum - LIMB_BASE } else { sum });
        }
        if carry != 0 {
            limbs.push(carry);
        }
        Self { limbs }
    }

    /// `self - other`, for `self >= other`.
    pub(crate) fn sub(&self, other: &Self) -> Self {
        let mut limbs = Vec::with_capacity(self.limbs.len());
        let mut borrow = 0u32;
        for (index, &limb) in self.limbs.iter().enumerate() {
            let subtrahend = other.limbs.get(index).copied().unwrap_or(0) + borrow;
            if limb >= subtrahend {
                limbs.push(limb - subtrahend);
                borrow = 0;
            } else {
                limbs.push(limb + LIMB_BASE - subtrahend);
                borrow = 1;
            }
        }
        let mut difference = Self { limbs };
        difference.trim();
        difference
    }

    pub(crate) fn write_decimal(&self, out: &mut String) {
        match self.limbs.split_last() {
            None => out.push('0'),
            Some((top, rest)) => {
                // Writing into a String cannot fail.
                let _ = write!(out, "{top}");
                for limb in rest.iter().rev() {
                    let _ = write!(out, "{limb:09}");
                }
            }
        }
    }

    /// The nearest `f64`, ties to even, `+Inf` past the range: what Go's
    /// `big.Float.SetInt(x).Float64()` yields.
    pub(crate) fn to_f64(&self) -> f64 {
        if let Some(small) = self.to_u64() {
            return small as f64;
        }
        let mut text = String::with_capacity(self.digit_count() as usize);
        self.write_decimal(&mut text);
        // Rust's float parser rounds correctly for any number of digits.
        text.parse().unwrap_or(f64::INFINITY)
    }
}

impl Ord for Magnitude {
    fn cmp(&self, other: &Self) -> Ordering {
        self.limbs
            .len()
            .cmp(&other.limbs.len())
            .then_with(|| self.limbs.iter().rev().cmp(other.limbs.iter().rev()))
    }
}

impl PartialOrd for Magnitude {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

fn digits_u32(value: u32) -> u32 {
    if value == 0 { 1 } else { value.ilog10() + 1 }
}

/// A signed decimal `unscaled × 10^-scale`, with `inf.Dec`'s conventions:
/// the scale counts fractional digits and is kept as the operations leave it
/// (Go's float conversion and `ScaledValue` depend on the exact pair).
#[derive(Clone, Debug)]
pub(crate) struct BigDecimal {
    pub(crate) negative: bool,
    pub(crate) magnitude: Magnitude,
    pub(crate) scale: i32,
}

impl BigDecimal {
    pub(crate) fn new(negative: bool, magnitude: Magnitude, scale: i32) -> Self {
        let negative = negative && !magnitude.is_zero();
        Self {
            negative,
            magnitude,
            scale,
        }
    }

    /// The `inf.Dec` an `int64Amount{value, exponent}` converts to.
    pub(crate) fn from_i64(value: i64, exponent: i32) -> Self {
        Self::new(
            value < 0,
            Magnitude::from_u64(value.unsigned_abs()),
            exponent.wrapping_neg(),
        )
    }

    pub(crate) fn is_zero(&self) -> bool {
        self.magnitude.is_zero()
    }

    pub(crate) fn sign(&self) -> i32 {
        match (self.is_zero(), self.negative) {
            (true, _) => 0,
            (false, true) => -1,
            (false, false) => 1,
        }
    }

    pub(crate) fn negate(&mut self) {
        self.negative = !self.negative && !self.is_zero();
    }

    /// Sum at the larger of the two scales, as `inf.Dec.Add`; `None` when the
    /// aligned result would exceed [`MAX_DIGITS`].
    pub(crate) fn checked_add(&self, other: &Self) -> Option<Self> {
        let scale = self.scale.max(other.scale);
        let left = self.magnitude_at(scale)?;
        let right = other.magnitude_at(scale)?;
        let (negative, magnitude) = if self.negative == other.negative {
            (self.negative, left.add(&right))
        } else {
            match left.cmp(&right) {
                Ordering::Less => (other.negative, right.sub(&left)),
                _ => (self.negative, left.sub(&right)),
            }
        };
        if magnitude.digit_count() > MAX_DIGITS {
            return None;
        }
        Some(Self::new(negative, magnitude, scale))
    }

    /// The magnitude re-expressed at a larger (or equal) scale.
    fn magnitude_at(&self, scale: i32) -> Option<Magnitude> {
        let mut magnitude = self.magnitude.clone();
        let shift = i64::from(scale) - i64::from(self.scale);
        magnitude.mul_pow10(u64::try_from(shift).ok()?)?;
        Some(magnitude)
    }

    /// Numeric comparison that never materialises the aligned operands when
    /// their orders of magnitude already decide the answer.
    pub(crate) fn numeric_cmp(&self, other: &Self) -> Ordering {
        let by_sign = self.sign().cmp(&other.sign());
        if by_sign != Ordering::Equal || self.is_zero() {
            return by_sign;
        }
        let by_magnitude = self.magnitude_cmp(other);
        if self.negative {
            by_magnitude.reverse()
        } else {
            by_magnitude
        }
    }

    /// Compares absolute values.
    pub(crate) fn magnitude_cmp(&self, other: &Self) -> Ordering {
        if self.is_zero() || other.is_zero() {
            return (!self.is_zero()).cmp(&!other.is_zero());
        }
        // For non-zero values, digits − scale is the position of the leading
        // digit, so unequal positions decide without any arithmetic.
        let lead = |value: &Self| value.magnitude.digit_count() as i64 - i64::from(value.scale);
        let by_lead = lead(self).cmp(&lead(other));
        if by_lead != Ordering::Equal {
            return by_lead;
        }
        // Equal leading positions bound the alignment shift by the digit
        // counts, so this stays as small as the operands.
        let shift = i64::from(self.scale) - i64::from(other.scale);
        let mut left = self.magnitude.clone();
        let mut right = other.magnitude.clone();
        let aligned = if shift >= 0 {
            right.mul_pow10(shift.unsigned_abs())
        } else {
            left.mul_pow10(shift.unsigned_abs())
        };
        match aligned {
            Some(()) => left.cmp(&right),
            // Unreachable for stored values (both are within MAX_DIGITS).
            None => Ordering::Equal,
        }
    }

    /// `inf.Dec.Round(x, scale, inf.RoundUp)`: the value at exactly `scale`,
    /// rounded away from zero, and whether that lost nothing. `None` when
    /// the rescaled value would exceed [`MAX_DIGITS`].
    pub(crate) fn round_up(&self, scale: i32) -> Option<(Self, bool)> {
        // inf.Dec computes the shift in int32 arithmetic; keep its wrap.
        let shift = scale.wrapping_sub(self.scale);
        let mut magnitude = self.magnitude.clone();
        let exact = if shift >= 0 {
            magnitude.mul_pow10(u64::from(shift.unsigned_abs()))?;
            true
        } else {
            let dropped = magnitude.div_pow10(u64::from(shift.unsigned_abs()));
            if dropped {
                magnitude = magnitude.add(&Magnitude::from_u64(1));
            }
            !dropped
        };
        Some((Self::new(self.negative, magnitude, scale), exact))
    }

    /// `big.Int.Int64()` of the unscaled value: the low 64 bits of the
    /// magnitude, negated for negative values, no overflow check.
    pub(crate) fn unscaled_low_i64(&self) -> i64 {
        let low = self.magnitude.low_u64() as i64;
        if self.negative {
            low.wrapping_neg()
        } else {
            low
        }
    }

    /// The unscaled value as an `i64`, if it is one.
    pub(crate) fn unscaled_i64(&self) -> Option<i64> {
        let magnitude = self.magnitude.to_u64()?;
        if self.negative {
            0i64.checked_sub_unsigned(magnitude)
        } else {
            i64::try_from(magnitude).ok()
        }
    }

    pub(crate) fn write_signed(&self, out: &mut String) {
        if self.negative {
            out.push('-');
        }
        self.magnitude.write_decimal(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn magnitude(text: &str) -> Magnitude {
        Magnitude::from_ascii_digits(text.as_bytes())
    }

    fn decimal_text(value: &Magnitude) -> String {
        let mut out = String::new();
        value.write_decimal(&mut out);
        out
    }

    #[test]
    fn parses_and_prints_across_limb_boundaries() {
        for text in [
            "0",
            "1",
            "999999999",
            "1000000000",
            "123456789012345678901234567890",
        ] {
            assert_eq!(decimal_text(&magnitude(text)), text);
        }
        assert_eq!(decimal_text(&magnitude("000120")), "120");
        assert_eq!(magnitude("1000000000").digit_count(), 10);
    }

    #[test]
    fn shifts_by_powers_of_ten() {
        let mut value = magnitude("123");
        value.mul_pow10(20).unwrap();
        assert_eq!(decimal_text(&value), "12300000000000000000000");
        assert_eq!(value.strip_trailing_zeros(), 20);
        assert_eq!(decimal_text(&value), "123");
        let mut value = magnitude("123456789012345678901");
        assert!(value.div_pow10(10));
        assert_eq!(decimal_text(&value), "12345678901");
        let mut value = magnitude("1200000000000");
        assert!(!value.div_pow10(11));
        assert_eq!(decimal_text(&value), "12");
    }

    #[test]
    fn low_bits_match_twos_complement_truncation() {
        // 2^64 + 5
        assert_eq!(magnitude("18446744073709551621").low_u64(), 5);
        assert_eq!(magnitude("18446744073709551615").to_u64(), Some(u64::MAX));
        assert_eq!(magnitude("18446744073709551616").to_u64(), None);
    }

    #[test]
    fn refuses_to_grow_past_the_digit_limit() {
        let mut value = magnitude("1");
        assert!(value.mul_pow10(MAX_DIGITS).is_none());
        assert!(value.mul_pow10(MAX_DIGITS - 1).is_some());
    }

    #[test]
    fn add_and_sub_carry_and_borrow() {
        let sum = magnitude("999999999999999999").add(&magnitude("1"));
        assert_eq!(decimal_text(&sum), "1000000000000000000");
        let difference = sum.sub(&magnitude("1"));
        assert_eq!(decimal_text(&difference), "999999999999999999");
    }
}
