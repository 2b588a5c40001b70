//! Kubernetes `resource.Quantity`, reproduced exactly as apimachinery
//! (release-1.32) parses, prints, rounds and adds it.
//!
//! This is the type behind every CPU and memory figure in the pipeline: the
//! kubelet's summary, metrics-server's `usage` maps and what `kubectl top`
//! prints. Byte-for-byte compatibility with Go clients matters more than
//! mathematical tidiness, so upstream's oddities are kept on purpose: `"1."`
//! prints as `1.`, `"9Ei"` is capped at 2^63−1, `MilliValue` of a huge value
//! wraps, and negative values round differently depending on how they are
//! stored. Each such case is pinned by a test.
//!
//! Not for: general decimal arithmetic (there is no multiplication or
//! division), nor Kubernetes API types beyond the quantity itself.
//!
//! ```
//! use workingset_quantity::{Format, Quantity};
//!
//! let cpu = Quantity::from_nanocores(250_264_852);
//! assert_eq!(cpu.to_string(), "250264852n");
//! assert_eq!(cpu.milli_value(), 251); // kubectl top rounds CPU up
//!
//! let memory: Quantity = "307200Ki".parse()?;
//! assert_eq!(memory.to_string(), "300Mi");
//! assert_eq!(memory.format(), Format::BinarySI);
//! # Ok::<(), workingset_quantity::ParseQuantityError>(())
//! ```

mod canonical;
mod decimal;
mod int64;
mod parse;
#[cfg(feature = "serde")]
mod serde_impl;

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::{Add, AddAssign, Neg, Sub, SubAssign};
use std::str::FromStr;

use decimal::{BigDecimal, Magnitude};

/// How a quantity is written out; parsing remembers the one its input used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Powers of ten as an exponent: `12e6`, `1500e-3`.
    DecimalExponent,
    /// Powers of 1024 as `Ki`, `Mi`, `Gi`, `Ti`, `Pi`, `Ei`: `12Mi`.
    BinarySI,
    /// Powers of 1000 as `n`, `u`, `m`, (none), `k`, `M`, `G`, `T`, `P`, `E`.
    DecimalSI,
}

impl Format {
    /// The name Go uses for the format (`resource.Format` is a string type).
    pub fn as_str(self) -> &'static str {
        match self {
            Format::DecimalExponent => "DecimalExponent",
            Format::BinarySI => "BinarySI",
            Format::DecimalSI => "DecimalSI",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a string is not a quantity; the messages are apimachinery's, since
/// they reach users through API errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseQuantityError {
    /// The text is not shaped like a quantity: empty, or something other than
    /// suffix letters, an optional sign and digits after the number
    /// (`"1.1.1"`, `"1Zi"`, `" 1"`). Go's `ErrFormatWrong`.
    #[error(
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )]
    FormatWrong,
    /// The number has no digits where upstream needs some (`".e-10"`, `"-Mi"`
    /// with a fraction, ...), or is too long to hold. Go's `ErrNumeric`.
    #[error("unable to parse numeric part of quantity")]
    Numeric,
    /// The suffix is well-formed but not a known one (`"1i"`, `"1e"`,
    /// `"1mi"`, an exponent beyond `int64`). Go's `ErrSuffix`.
    #[error("unable to parse quantity's suffix")]
    Suffix,
}

/// Where the number lives: apimachinery's `int64Amount` fast path, or its
/// `inf.Dec` fallback once a value does not fit.
#[derive(Clone)]
pub(crate) enum Amount {
    /// `value × 10^exponent`.
    Int {
        value: i64,
        exponent: i32,
    },
    Big(Box<BigDecimal>),
}

impl Amount {
    fn to_big(&self) -> BigDecimal {
        match self {
            Amount::Int { value, exponent } => BigDecimal::from_i64(*value, *exponent),
            Amount::Big(big) => (**big).clone(),
        }
    }
}

/// A Kubernetes resource quantity: an exact decimal plus the [`Format`] it
/// is printed in.
///
/// Equality, ordering and hashing follow the numeric value only (Go's
/// `Cmp`), so `"1k"`, `"1000"` and `"1e3"` are equal although they print
/// differently.
#[derive(Clone)]
pub struct Quantity {
    amount: Amount,
    format: Format,
    /// The input text, kept only where upstream reuses it as `String()` and
    /// it differs from the computed canonical form (`"1."`, `"+1"`, `"1E6"`).
    verbatim: Option<Box<str>>,
}

impl Quantity {
    fn from_amount(amount: Amount, format: Format) -> Self {
        Self {
            amount,
            format,
            verbatim: None,
        }
    }

    fn int(value: i64, exponent: i32, format: Format) -> Self {
        Self::from_amount(Amount::Int { value, exponent }, format)
    }

    /// `value` units (`resource.NewQuantity`).
    pub fn new(value: i64, format: Format) -> Self {
        Self::int(value, 0, format)
    }

    /// `value` thousandths (`resource.NewMilliQuantity`).
    pub fn new_milli(value: i64, format: Format) -> Self {
        Self::int(value, -3, format)
    }

    /// `value × 10^scale`, as DecimalSI (`resource.NewScaledQuantity`).
    pub fn new_scaled(value: i64, scale: i32) -> Self {
        Self::int(value, scale, Format::DecimalSI)
    }

    /// CPU usage as metrics-server reports it: `NewScaledQuantity(n, -9)`.
    ///
    /// Go converts the `uint64` with `int64(n)`, which would turn more than
    /// 2^63−1 nanocores negative; here such values stay exact instead.
    pub fn from_nanocores(nanocores: u64) -> Self {
        match i64::try_from(nanocores) {
            Ok(value) => Self::new_scaled(value, -9),
            Err(_) => Self::from_amount(
                Amount::Big(Box::new(BigDecimal::new(
                    false,
                    Magnitude::from_u64(nanocores),
                    9,
                ))),
                Format::DecimalSI,
            ),
        }
    }

    /// Memory as metrics-server reports it: `NewQuantity(b, BinarySI)`.
    ///
    /// Values beyond 2^63−1 saturate there rather than wrapping negative as
    /// Go's `int64(b)` would: `ParseQuantity` caps every BinarySI value at
    /// 2^63−1, so that is what any client reads from a larger one anyway, and
    /// the printed form must parse back to the same quantity. (No memory
    /// holds 8 EiB; the case only matters for garbage input.)
    pub fn from_bytes(bytes: u64) -> Self {
        Self::new(i64::try_from(bytes).unwrap_or(i64::MAX), Format::BinarySI)
    }

    /// Zero, as `ParseQuantity("0")` gives it (DecimalSI).
    pub fn zero() -> Self {
        Self::new(0, Format::DecimalSI)
    }

    /// The format used when printing.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The value rounded up to an integer (`Value()`): away from zero for
    /// values on the fast path, with upstream's quirks otherwise (see
    /// [`Quantity::scaled_value`]).
    pub fn value(&self) -> i64 {
        self.scaled_value(0)
    }

    /// `ceil(q × 1000)` (`MilliValue()`), what `kubectl top` prints for CPU.
    /// Overflows exactly as Go does, by wrapping: both `"9Ei"` and
    /// `Quantity::new(i64::MAX, _)` give −1000.
    pub fn milli_value(&self) -> i64 {
        self.scaled_value(-3)
    }

    /// The value in units of `10^scale`, rounded up (`ScaledValue`).
    ///
    /// Reproduces Go bit for bit, including where it is inconsistent: a
    /// fast-path value rounds away from zero and on overflow wraps (shifts
    /// of 1, 2, 3, 6 or 9 digits) or gives 0 (other shifts); a big-decimal
    /// value rounds a negative fraction towards +∞ (plus one
    /// when its unscaled form fits an `int64`, an upstream bug) and
    /// overflows by wrapping.
    pub fn scaled_value(&self, scale: i32) -> i64 {
        match &self.amount {
            Amount::Int { value, exponent } => {
                if *exponent < scale {
                    int64::scale_down_away_from_zero(*value, scale.wrapping_sub(*exponent)).0
                } else {
                    int64::scale_up_as_go_reports(*value, exponent.wrapping_sub(scale))
                }
            }
            Amount::Big(big) => big_scaled_value(big, scale),
        }
    }

    /// Whether the value is zero.
    pub fn is_zero(&self) -> bool {
        match &self.amount {
            Amount::Int { value, .. } => *value == 0,
            Amount::Big(big) => big.is_zero(),
        }
    }

    /// −1, 0 or 1.
    pub fn sign(&self) -> i32 {
        match &self.amount {
            Amount::Int { value, .. } => value.signum() as i32,
            Amount::Big(big) => big.sign(),
        }
    }

    /// A fast `f64` approximation (`AsApproximateFloat64`): the unscaled
    /// value as `f64` times Go's `math.Pow10` of the exponent, so results
    /// match Go to the last bit, `±Inf` outside the `f64` range included.
    pub fn as_approximate_f64(&self) -> f64 {
        let (base, exponent) = match &self.amount {
            Amount::Int { value, exponent } => (*value as f64, i64::from(*exponent)),
            Amount::Big(big) => {
                let magnitude = big.magnitude.to_f64();
                let base = if big.negative { -magnitude } else { magnitude };
                (base, i64::from(big.scale.wrapping_neg()))
            }
        };
        if exponent == 0 {
            base
        } else {
            base * go_pow10(exponent)
        }
    }

    /// `self + other` exactly, or `None` when the exact sum of operands of
    /// wildly different scales would need more than about four million
    /// digits (where Go would exhaust memory instead).
    pub fn checked_add(&self, other: &Quantity) -> Option<Quantity> {
        let mut sum = self.clone();
        sum.go_add(other, false).then_some(sum)
    }

    /// `self - other` exactly; `None` in the same circumstances as
    /// [`Quantity::checked_add`].
    pub fn checked_sub(&self, other: &Quantity) -> Option<Quantity> {
        let mut difference = self.clone();
        difference.go_sub(other, false).then_some(difference)
    }

    /// `Quantity.Add`: in place, taking `other`'s format when `self` is
    /// zero. Returns `false` (leaving `self` unchanged) only when the exact
    /// result is too large to hold and `absorb` is off; with `absorb` on, the
    /// operand of larger magnitude is kept instead.
    fn go_add(&mut self, other: &Quantity, absorb: bool) -> bool {
        if let (
            Amount::Int { value, exponent },
            Amount::Int {
                value: other_value,
                exponent: other_exponent,
            },
        ) = (&mut self.amount, &other.amount)
        {
            let (mut sum, mut sum_exponent) = (*value, *exponent);
            if int64::add_scaled(&mut sum, &mut sum_exponent, *other_value, *other_exponent) {
                if *value == 0 {
                    self.format = other.format;
                }
                *value = sum;
                *exponent = sum_exponent;
                self.verbatim = None;
                return true;
            }
        }
        self.big_combine(other, false, absorb)
    }

    /// `Quantity.Sub`; see [`Quantity::go_add`].
    fn go_sub(&mut self, other: &Quantity, absorb: bool) -> bool {
        if let (
            Amount::Int { value, exponent },
            Amount::Int {
                value: other_value,
                exponent: other_exponent,
            },
        ) = (&mut self.amount, &other.amount)
        {
            let (mut difference, mut difference_exponent) = (*value, *exponent);
            // Go negates with int64 wrap-around, so subtracting i64::MIN adds it.
            if int64::add_scaled(
                &mut difference,
                &mut difference_exponent,
                other_value.wrapping_neg(),
                *other_exponent,
            ) {
                if *value == 0 {
                    self.format = other.format;
                }
                *value = difference;
                *exponent = difference_exponent;
                self.verbatim = None;
                return true;
            }
        }
        self.big_combine(other, true, absorb)
    }

    /// The `inf.Dec` half of Add and Sub.
    fn big_combine(&mut self, other: &Quantity, subtract: bool, absorb: bool) -> bool {
        let left = self.amount.to_big();
        let mut right = other.amount.to_big();
        if subtract {
            right.negate();
        }
        let result = match left.checked_add(&right) {
            Some(result) => result,
            None if absorb => {
                if left.magnitude_cmp(&right).is_lt() {
                    right
                } else {
                    left
                }
            }
            None => return false,
        };
        if self.is_zero() {
            self.format = other.format;
        }
        self.amount = Amount::Big(Box::new(result));
        self.verbatim = None;
        true
    }
}

/// `Quantity.ScaledValue` for an `inf.Dec`-backed value (`scaledValue` in
/// apimachinery's scale_int.go), including its overflow behaviour.
fn big_scaled_value(big: &BigDecimal, scale: i32) -> i64 {
    let target = i64::from(scale.wrapping_neg());
    let shift = i64::from(big.scale) - target;
    let unscaled = big.unscaled_low_i64();
    if shift == 0 {
        return unscaled;
    }
    if shift < 0 {
        // Go multiplies by int64(math.Pow10(n)); past 10^18 that float is out
        // of int64 range and amd64 converts it to i64::MIN.
        let factor = int64::POW10_I64
            .get(shift.unsigned_abs() as usize)
            .copied()
            .unwrap_or(i64::MIN);
        return unscaled.wrapping_mul(factor);
    }
    let below_max = big.negative || big.magnitude.to_u64().is_some_and(|m| m < i64::MAX as u64);
    if below_max && shift < 19 {
        let divisor = int64::POW10_I64[shift as usize];
        let quotient = unscaled / divisor;
        return if unscaled % divisor != 0 {
            quotient + 1
        } else {
            quotient
        };
    }
    // big.Int.DivMod is Euclidean: the quotient is floored, then bumped by
    // one when anything remains, i.e. a ceiling.
    let mut quotient = big.magnitude.clone();
    let dropped = quotient.div_pow10(shift.unsigned_abs());
    if big.negative {
        if dropped {
            quotient = quotient.add(&Magnitude::from_u64(1));
        }
        (quotient.low_u64() as i64)
            .wrapping_neg()
            .wrapping_add(i64::from(dropped))
    } else {
        (quotient.low_u64() as i64).wrapping_add(i64::from(dropped))
    }
}

/// Go's `math.Pow10`, table for table, so float results agree to the bit.
fn go_pow10(exponent: i64) -> f64 {
    const SMALL: [f64; 32] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
        1e17, 1e18, 1e19, 1e20, 1e21, 1e22, 1e23, 1e24, 1e25, 1e26, 1e27, 1e28, 1e29, 1e30, 1e31,
    ];
    const POSITIVE_BY_32: [f64; 10] = [
        1e0, 1e32, 1e64, 1e96, 1e128, 1e160, 1e192, 1e224, 1e256, 1e288,
    ];
    const NEGATIVE_BY_32: [f64; 11] = [
        1e0, 1e-32, 1e-64, 1e-96, 1e-128, 1e-160, 1e-192, 1e-224, 1e-256, 1e-288, 1e-320,
    ];
    match exponent {
        0..=308 => {
            let n = exponent as usize;
            POSITIVE_BY_32[n / 32] * SMALL[n % 32]
        }
        -323..=-1 => {
            let n = exponent.unsigned_abs() as usize;
            NEGATIVE_BY_32[n / 32] / SMALL[n % 32]
        }
        309.. => f64::INFINITY,
        _ => 0.0,
    }
}

/// Exact numeric comparison of two amounts, whatever their representation.
fn numeric_cmp(left: &Amount, right: &Amount) -> Ordering {
    match (left, right) {
        (
            Amount::Int {
                value: a,
                exponent: ea,
            },
            Amount::Int {
                value: b,
                exponent: eb,
            },
        ) => {
            let shift = i64::from(*ea) - i64::from(*eb);
            if shift == 0 {
                return a.cmp(b);
            }
            if shift.unsigned_abs() <= 18 {
                let factor = i128::from(int64::POW10_I64[shift.unsigned_abs() as usize]);
                let (a, b) = (i128::from(*a), i128::from(*b));
                return if shift > 0 {
                    (a * factor).cmp(&b)
                } else {
                    a.cmp(&(b * factor))
                };
            }
            // More than 18 orders apart: any non-zero value at the larger
            // exponent outweighs every i64 at the smaller one.
            let (sa, sb) = (a.signum(), b.signum());
            if sa != sb {
                return sa.cmp(&sb);
            }
            let larger_exponent_wins = if shift > 0 {
                Ordering::Greater
            } else {
                Ordering::Less
            };
            match sa {
                0 => Ordering::Equal,
                1 => larger_exponent_wins,
                _ => larger_exponent_wins.reverse(),
            }
        }
        _ => left.to_big().numeric_cmp(&right.to_big()),
    }
}

impl Default for Quantity {
    fn default() -> Self {
        Self::zero()
    }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Quantity {}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        numeric_cmp(&self.amount, &other.amount)
    }
}

impl Hash for Quantity {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Numerically equal quantities must hash alike whatever their
        // storage, so hash the value with trailing zeros moved into the
        // exponent, as an i64 mantissa whenever it fits one.
        match &self.amount {
            Amount::Int { value, exponent } => {
                let (mantissa, times) = int64::remove_factors(*value, 10);
                hash_normalised(mantissa, i64::from(*exponent) + i64::from(times), state);
            }
            Amount::Big(big) => {
                let mut magnitude = big.magnitude.clone();
                let times = magnitude.strip_trailing_zeros();
                let exponent = -i64::from(big.scale) + times as i64;
                let stripped = BigDecimal::new(big.negative, magnitude, 0);
                match stripped.unscaled_i64() {
                    Some(mantissa) => hash_normalised(mantissa, exponent, state),
                    None => {
                        stripped.negative.hash(state);
                        stripped.magnitude.hash(state);
                        exponent.hash(state);
                    }
                }
            }
        }
    }
}

fn hash_normalised<H: Hasher>(mantissa: i64, exponent: i64, state: &mut H) {
    mantissa.hash(state);
    // Zero has no meaningful exponent.
    if mantissa != 0 {
        exponent.hash(state);
    }
}

impl fmt::Display for Quantity {
    /// The canonical form (`String()`); width and alignment flags apply.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.verbatim {
            Some(text) => f.pad(text),
            None => f.pad(self.canonical().as_str()),
        }
    }
}

impl fmt::Debug for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Quantity")
            .field("value", &format_args!("{self}"))
            .field("format", &self.format)
            .finish()
    }
}

impl FromStr for Quantity {
    type Err = ParseQuantityError;

    /// `resource.ParseQuantity`.
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let parsed = parse::parse(input)?;
        let mut quantity = Quantity::from_amount(parsed.amount, parsed.format);
        // Upstream returns the input itself as String() here. Most such
        // inputs are already canonical; remember only the ones that are not.
        if parsed.input_is_string_form
            && !is_plainly_canonical(input, parsed.format)
            && quantity.canonical().as_str() != input
        {
            quantity.verbatim = Some(input.into());
        }
        Ok(quantity)
    }
}

/// For an input upstream keeps as its own string form: whether it is
/// certainly the canonical form too, so the comparison can be skipped.
/// With no `+`, no leading zero and no `.`, such an SI input prints back
/// unchanged (upstream only keeps inputs whose digits and suffix survive
/// canonicalisation); exponent inputs always need the full comparison.
fn is_plainly_canonical(input: &str, format: Format) -> bool {
    let unsigned = input.strip_prefix('-').unwrap_or(input);
    format != Format::DecimalExponent
        && unsigned.starts_with(|c: char| matches!(c, '1'..='9'))
        && !input.contains(['.', '+'])
}

impl Neg for Quantity {
    type Output = Quantity;

    /// `Quantity.Neg`: format kept; `i64::MIN` stays itself, as in Go.
    fn neg(mut self) -> Quantity {
        match &mut self.amount {
            Amount::Int { value, .. } => *value = value.wrapping_neg(),
            Amount::Big(big) => big.negate(),
        }
        self.verbatim = None;
        self
    }
}

impl AddAssign for Quantity {
    /// `Quantity.Add`. Sums that would need more than about four million
    /// digits keep the larger operand; use [`Quantity::checked_add`] to
    /// detect that.
    fn add_assign(&mut self, other: Quantity) {
        self.go_add(&other, true);
    }
}

impl AddAssign<&Quantity> for Quantity {
    fn add_assign(&mut self, other: &Quantity) {
        self.go_add(other, true);
    }
}

impl SubAssign for Quantity {
    /// `Quantity.Sub`; see [`AddAssign`] for the size limit.
    fn sub_assign(&mut self, other: Quantity) {
        self.go_sub(&other, true);
    }
}

impl SubAssign<&Quantity> for Quantity {
    fn sub_assign(&mut self, other: &Quantity) {
        self.go_sub(other, true);
    }
}

impl Add for Quantity {
    type Output = Quantity;

    fn add(mut self, other: Quantity) -> Quantity {
        self += &other;
        self
    }
}

impl Add<&Quantity> for Quantity {
    type Output = Quantity;

    fn add(mut self, other: &Quantity) -> Quantity {
        self += other;
        self
    }
}

impl Sub for Quantity {
    type Output = Quantity;

    fn sub(mut self, other: Quantity) -> Quantity {
        self -= &other;
        self
    }
}

impl Sub<&Quantity> for Quantity {
    type Output = Quantity;

    fn sub(mut self, other: &Quantity) -> Quantity {
        self -= other;
        self
    }
}

impl std::iter::Sum for Quantity {
    /// Go's `var total Quantity; for _, q := range qs { total.Add(q) }`:
    /// whenever the running total is zero it takes the next operand's format.
    fn sum<I: Iterator<Item = Quantity>>(iter: I) -> Quantity {
        iter.fold(Quantity::zero(), |total, item| total + &item)
    }
}

impl<'a> std::iter::Sum<&'a Quantity> for Quantity {
    fn sum<I: Iterator<Item = &'a Quantity>>(iter: I) -> Quantity {
        iter.fold(Quantity::zero(), |total, item| total + item)
    }
}
