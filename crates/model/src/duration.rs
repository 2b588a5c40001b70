//! Go `time.Duration` strings, as Kubernetes writes them.
//!
//! The Metrics API's `window` is a `metav1.Duration`, which Go serialises with
//! `Duration.String()`: `15s`, `17.913s`, `1m0.5s`, `1h2m3s`, `1.5µs`, `0s`.
//! kubectl prints pod ages the same way in its "Metrics not available" error.
//! Clients parse these strings, so ours must be byte-identical.

use std::fmt;
use std::time::Duration;

/// A duration that prints and parses as Go's `time.Duration`.
///
/// Go durations are signed nanosecond counts; negative ones never occur in the
/// Metrics API, so this wraps [`std::time::Duration`]. Values beyond Go's range
/// (about 292 years) print as their nanosecond count would in Go only up to
/// `i64::MAX`; larger values are clamped to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct GoDuration(pub Duration);

/// Why a Go duration string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseDurationError {
    /// The text is not a sequence of `<number><unit>` pairs.
    #[error("time: invalid duration {0:?}")]
    Invalid(String),
    /// A unit is not one of ns, us, µs, ms, s, m, h.
    #[error("time: unknown unit {unit:?} in duration {text:?}")]
    UnknownUnit {
        /// The unit as written.
        unit: String,
        /// The whole duration text.
        text: String,
    },
    /// The duration does not fit Go's int64 nanoseconds.
    #[error("time: invalid duration {0:?}")]
    Overflow(String),
    /// Negative durations cannot be represented here.
    #[error("negative duration {0:?} is not allowed")]
    Negative(String),
}

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = u64::try_from(self.0.as_nanos()).unwrap_or(i64::MAX as u64);
        let nanos = nanos.min(i64::MAX as u64);
        if nanos == 0 {
            return f.write_str("0s");
        }
        if nanos < 1_000_000_000 {
            // Below one second Go picks the largest unit that keeps a whole part.
            let (unit, scale) = if nanos < 1_000 {
                ("ns", 1)
            } else if nanos < 1_000_000 {
                ("µs", 1_000)
            } else {
                ("ms", 1_000_000)
            };
            write_fraction(f, nanos, scale)?;
            return f.write_str(unit);
        }
        let hours = nanos / 3_600_000_000_000;
        let rest = nanos % 3_600_000_000_000;
        let minutes = rest / 60_000_000_000;
        let seconds_nanos = rest % 60_000_000_000;
        if hours > 0 {
            write!(f, "{hours}h")?;
        }
        if hours > 0 || minutes > 0 {
            write!(f, "{minutes}m")?;
        }
        write_fraction(f, seconds_nanos, 1_000_000_000)?;
        f.write_str("s")
    }
}

/// Writes `value / scale` with the fraction's trailing zeros removed, as Go does.
fn write_fraction(f: &mut fmt::Formatter<'_>, value: u64, scale: u64) -> fmt::Result {
    let whole = value / scale;
    let mut frac = value % scale;
    write!(f, "{whole}")?;
    if frac == 0 {
        return Ok(());
    }
    let mut digits = scale.ilog10() as usize;
    while frac.is_multiple_of(10) {
        frac /= 10;
        digits -= 1;
    }
    write!(f, ".{frac:0digits$}")
}

impl std::str::FromStr for GoDuration {
    type Err = ParseDurationError;

    /// Parses Go's `time.ParseDuration` syntax: `[-+]?(<decimal><unit>)+` or `0`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || ParseDurationError::Invalid(text.to_owned());
        let mut rest = text;
        if let Some(stripped) = rest.strip_prefix('+') {
            rest = stripped;
        } else if rest.starts_with('-') {
            if rest == "-0" {
                return Ok(Self(Duration::ZERO));
            }
            return Err(ParseDurationError::Negative(text.to_owned()));
        }
        if rest == "0" {
            return Ok(Self(Duration::ZERO));
        }
        if rest.is_empty() {
            return Err(invalid());
        }
        let mut total: u128 = 0;
        while !rest.is_empty() {
            let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
            let (int_part, after) = rest.split_at(int_len);
            let (frac_part, after) = match after.strip_prefix('.') {
                Some(after_dot) => {
                    let frac_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
                    after_dot.split_at(frac_len)
                }
                None => ("", after),
            };
            if int_part.is_empty() && frac_part.is_empty() {
                return Err(invalid());
            }
            let unit_len = after
                .char_indices()
                .find(|(_, c)| *c == '.' || c.is_ascii_digit())
                .map_or(after.len(), |(i, _)| i);
            let (unit, after) = after.split_at(unit_len);
            let scale: u128 = match unit {
                "ns" => 1,
                "us" | "µs" | "μs" => 1_000,
                "ms" => 1_000_000,
                "s" => 1_000_000_000,
                "m" => 60_000_000_000,
                "h" => 3_600_000_000_000,
                "" => return Err(ParseDurationError::Invalid(text.to_owned())),
                other => {
                    return Err(ParseDurationError::UnknownUnit {
                        unit: other.to_owned(),
                        text: text.to_owned(),
                    });
                }
            };
            let whole: u128 = if int_part.is_empty() {
                0
            } else {
                int_part
                    .parse()
                    .map_err(|_| ParseDurationError::Overflow(text.to_owned()))?
            };
            let mut part = whole
                .checked_mul(scale)
                .ok_or_else(|| ParseDurationError::Overflow(text.to_owned()))?;
            // Fractions beyond nanosecond precision are truncated, as Go does.
            let mut unit_scale = scale;
            for digit in frac_part.bytes() {
                unit_scale /= 10;
                if unit_scale == 0 {
                    break;
                }
                part += u128::from(digit - b'0') * unit_scale;
            }
            total = total
                .checked_add(part)
                .filter(|t| *t <= i64::MAX as u128)
                .ok_or_else(|| ParseDurationError::Overflow(text.to_owned()))?;
            rest = after;
        }
        let nanos =
            u64::try_from(total).map_err(|_| ParseDurationError::Overflow(text.to_owned()))?;
        Ok(Self(Duration::from_nanos(nanos)))
    }
}

impl serde::Serialize for GoDuration {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for GoDuration {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(nanos: u64) -> String {
        GoDuration(Duration::from_nanos(nanos)).to_string()
    }

    #[test]
    fn formats_like_go() {
        // Expectations are Go's time.Duration.String() outputs.
        let cases: &[(u64, &str)] = &[
            (0, "0s"),
            (1, "1ns"),
            (1_100, "1.1µs"),
            (1_000, "1µs"),
            (2_200_000, "2.2ms"),
            (15_000_000_000, "15s"),
            (17_913_000_000, "17.913s"),
            (60_500_000_000, "1m0.5s"),
            (3_723_000_000_000, "1h2m3s"),
            (3_600_000_000_000, "1h0m0s"),
            (1_000_000_001, "1.000000001s"),
            (120_000_000_000, "2m0s"),
            (i64::MAX as u64, "2562047h47m16.854775807s"),
        ];
        for (nanos, want) in cases {
            assert_eq!(show(*nanos), *want, "{nanos} ns");
        }
    }

    #[test]
    fn parses_what_it_prints() {
        for nanos in [
            0,
            1,
            999,
            1_100,
            2_200_000,
            17_913_000_000,
            3_723_000_000_001,
        ] {
            let text = show(nanos);
            let back: GoDuration = text.parse().unwrap();
            assert_eq!(back.0.as_nanos(), u128::from(nanos), "{text}");
        }
    }

    #[test]
    fn parses_go_syntax() {
        let cases: &[(&str, u64)] = &[
            ("0", 0),
            ("1.5h", 5_400_000_000_000),
            ("300ms", 300_000_000),
            ("2h45m", 9_900_000_000_000),
            (".5s", 500_000_000),
            ("1us", 1_000),
            ("+3s", 3_000_000_000),
        ];
        for (text, nanos) in cases {
            let got: GoDuration = text.parse().unwrap();
            assert_eq!(got.0.as_nanos(), u128::from(*nanos), "{text}");
        }
    }

    #[test]
    fn rejects_malformed() {
        for text in ["", "s", "1", "1x", ".s", "1.s.", "-1s", "9999999999h"] {
            assert!(text.parse::<GoDuration>().is_err(), "{text:?} should fail");
        }
    }
}
