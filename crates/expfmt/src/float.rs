//! Go's `strconv.FormatFloat(v, 'g', -1, 64)` and the exposition writer's
//! value formatting built on it.
//!
//! Both languages print the fewest digits that parse back to the same
//! float, and among those the closest to its exact value. They differ in
//! one corner: when two candidates are exactly equally close (the exact
//! value ends in a 5 just past the last digit, e.g. 2⁻²⁵ =
//! 2.98023223876953125e-08), Go's Ryū rounds half to even (`…5312`) while
//! Rust's shortest mode rounds half up (`…5313`). Rust's fixed-precision
//! mode is exact and rounds half to even, so for digit strings long enough
//! to tie we redo the digits in that mode and keep them if they round-trip.
//!
//! The layout is Go's `%g`: exponent form when the decimal exponent is
//! below −4 or at least 6 (with precision "shortest", Go's `%g` uses the
//! default precision 6 for the decision, not 21 as JavaScript and Go's
//! `encoding/json` do), the exponent signed and at least two digits.

use std::fmt::Write as _;

/// Appends `v` formatted exactly as Go's `strconv.FormatFloat(v, 'g', -1, 64)`:
/// `0`, `-0`, `531.060042`, `1e+06`, `7.3527296e+07`, `1e-05`, `NaN`,
/// `+Inf`, `-Inf`.
pub fn write_go_float(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v == 0.0 {
        out.push_str(if v.is_sign_negative() { "-0" } else { "0" });
    } else {
        write_finite_nonzero(out, v);
    }
}

/// Appends a sample value the way prometheus/common's text encoder writes
/// it: like [`write_go_float`], except that negative zero is written `0`
/// (the encoder tests `f == 0` before calling `FormatFloat`).
pub fn write_value(out: &mut String, v: f64) {
    if v == 0.0 {
        out.push('0');
    } else {
        write_go_float(out, v);
    }
}

/// A fixed stack buffer for `{:e}` output, so formatting never allocates.
struct StackBuf {
    buf: [u8; 40],
    len: usize,
}

impl std::fmt::Write for StackBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

fn write_finite_nonzero(out: &mut String, v: f64) {
    let a = v.abs();
    let mut sb = StackBuf {
        buf: [0; 40],
        len: 0,
    };
    // `{:e}` of a finite f64 is at most 24 bytes (17 digits, point, `e`,
    // exponent sign, 3 digits), so this cannot fail; fall back to the heap
    // anyway rather than panic.
    let heap;
    let sci: &str = match write!(sb, "{a:e}") {
        Ok(()) => std::str::from_utf8(&sb.buf[..sb.len]).unwrap_or_default(),
        Err(_) => {
            heap = format!("{a:e}");
            &heap
        }
    };
    let (mut mantissa, mut exp) = split_sci(sci);
    // Ties need the half-unit to fit in the round-trip interval, i.e. at
    // least 16 significant digits for a normal float (subnormals' exact
    // expansions are hundreds of digits long and never tie); 15 leaves a
    // margin. Shorter strings skip the second formatting.
    let digits = mantissa.len().saturating_sub(1).max(1);
    let mut even = StackBuf {
        buf: [0; 40],
        len: 0,
    };
    if digits >= 15 && write!(even, "{:.*e}", digits - 1, a).is_ok() {
        let candidate = std::str::from_utf8(&even.buf[..even.len]).unwrap_or_default();
        if candidate != sci && candidate.parse::<f64>().ok() == Some(a) {
            (mantissa, exp) = split_sci(candidate);
        }
    }
    if v < 0.0 {
        out.push('-');
    }
    // `mantissa` is "d" or "d.ddd": the first digit, then the others.
    let (first, rest) = mantissa.split_at(1.min(mantissa.len()));
    let rest = rest.get(1..).unwrap_or("");
    if !(-4..6).contains(&exp) {
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        out.push_str(if exp < 0 { "e-" } else { "e+" });
        let e = exp.unsigned_abs();
        if e >= 100 {
            out.push(digit(e / 100));
        }
        out.push(digit(e / 10 % 10));
        out.push(digit(e % 10));
    } else if exp >= 0 {
        // The integer part is the first exp+1 digits, zero-padded.
        let int_rest = exp.unsigned_abs() as usize;
        out.push_str(first);
        if rest.len() <= int_rest {
            out.push_str(rest);
            for _ in rest.len()..int_rest {
                out.push('0');
            }
        } else {
            out.push_str(&rest[..int_rest]);
            out.push('.');
            out.push_str(&rest[int_rest..]);
        }
    } else {
        out.push_str("0.");
        for _ in 1..exp.unsigned_abs() {
            out.push('0');
        }
        out.push_str(first);
        out.push_str(rest);
    }
}

fn digit(d: u32) -> char {
    char::from_digit(d % 10, 10).unwrap_or('0')
}

/// Splits Rust's `{:e}` output (`d.ddde-5`, `de7`) into the mantissa and
/// the decimal exponent.
fn split_sci(sci: &str) -> (&str, i32) {
    match sci.split_once('e') {
        Some((mantissa, exp)) => (mantissa, exp.parse().unwrap_or(0)),
        None => (sci, 0),
    }
}

/// Appends a decimal integer like Go's `strconv.AppendInt(…, 10)`, without
/// going through `fmt`.
pub(crate) fn push_i64(out: &mut String, v: i64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = v.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        out.push('-');
    }
    out.push_str(std::str::from_utf8(&buf[i..]).unwrap_or_default());
}
