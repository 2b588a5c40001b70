//! Go's `time.Parse(time.RFC3339, …)`, which decodes every `metav1.Time`
//! kubectl reads: what it accepts and, word for word, how it refuses the
//! rest (`parsing time "yesterday" as "2006-01-02T15:04:05Z07:00": cannot
//! parse "yesterday" as "2006"`), so that `top` fails like kubectl on a
//! bad timestamp.
//!
//! Go walks the layout's elements in turn (a literal prefix, then a number
//! or the zone), and the first element the value does not fit names the
//! error. A general RFC 3339 parser accepts other spellings (a space for
//! `T`, a lower-case `z`) that Go refuses, hence this walk.

use std::fmt::Write as _;

const LAYOUT: &str = "2006-01-02T15:04:05Z07:00";

/// Parses like Go's `time.Parse(time.RFC3339, text)`; the error is Go's
/// `ParseError` text.
pub fn parse_rfc3339(text: &str) -> Result<jiff::Timestamp, String> {
    Parser { whole: text }.parse()
}

struct Parser<'a> {
    whole: &'a str,
}

/// Why an element did not fit, before it is worded.
enum Refusal<'a> {
    /// `cannot parse "value" as "layout element"`.
    Element {
        value: &'a str,
        layout: &'static str,
    },
    /// A Go message of its own (`: month out of range`).
    Message(String),
}

fn digit(value: &str, at: usize) -> Option<u32> {
    value
        .as_bytes()
        .get(at)
        .filter(|b| b.is_ascii_digit())
        .map(|b| u32::from(b - b'0'))
}

/// Go's `getnum`: one or two digits, exactly two when `fixed`.
fn getnum(value: &str, fixed: bool) -> Option<(u32, &str)> {
    let first = digit(value, 0)?;
    match digit(value, 1) {
        Some(second) => Some((first * 10 + second, &value[2..])),
        None if fixed => None,
        None => Some((first, &value[1..])),
    }
}

impl<'a> Parser<'a> {
    fn parse(&self) -> Result<jiff::Timestamp, String> {
        self.fields().map_err(|refusal| self.word(refusal))
    }

    /// Go's `quote` in package time: ASCII as is (with `"` and `\`
    /// escaped), every other byte as `\xNN`.
    fn quote(text: &str) -> String {
        let mut out = String::with_capacity(text.len() + 2);
        out.push('"');
        for c in text.chars() {
            if c.is_ascii() && c >= ' ' {
                if c == '"' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            } else {
                let mut bytes = [0; 4];
                for byte in c.encode_utf8(&mut bytes).bytes() {
                    let _ = write!(out, "\\x{byte:02x}");
                }
            }
        }
        out.push('"');
        out
    }

    fn word(&self, refusal: Refusal<'_>) -> String {
        let value = Self::quote(self.whole);
        match refusal {
            Refusal::Element {
                value: rest,
                layout,
            } => format!(
                "parsing time {value} as {}: cannot parse {} as {}",
                Self::quote(LAYOUT),
                Self::quote(rest),
                Self::quote(layout)
            ),
            Refusal::Message(message) => format!("parsing time {value}{message}"),
        }
    }

    fn fields(&self) -> Result<jiff::Timestamp, Refusal<'a>> {
        let value = self.whole;
        let bad = |value, layout| Refusal::Element { value, layout };
        let out_of_range = |what: &str| Refusal::Message(format!(": {what} out of range"));

        // "2006": four characters, the first a digit, all of them a number.
        let year_text = value.get(..4).filter(|_| digit(value, 0).is_some());
        let year: i16 = year_text
            .and_then(|text| text.parse().ok())
            .ok_or(bad(value, "2006"))?;
        let value = &value[4..];

        let value = value.strip_prefix('-').ok_or(bad(value, "-"))?;
        let (month, value) = getnum(value, true).ok_or(bad(value, "01"))?;
        if !(1..=12).contains(&month) {
            return Err(out_of_range("month"));
        }
        let value = value.strip_prefix('-').ok_or(bad(value, "-"))?;
        let (day, value) = getnum(value, true).ok_or(bad(value, "02"))?;
        let value = value.strip_prefix('T').ok_or(bad(value, "T"))?;
        let (hour, value) = getnum(value, false).ok_or(bad(value, "15"))?;
        if hour >= 24 {
            return Err(out_of_range("hour"));
        }
        let value = value.strip_prefix(':').ok_or(bad(value, ":"))?;
        let (minute, value) = getnum(value, true).ok_or(bad(value, "04"))?;
        if minute >= 60 {
            return Err(out_of_range("minute"));
        }
        let value = value.strip_prefix(':').ok_or(bad(value, ":"))?;
        let (second, mut value) = getnum(value, true).ok_or(bad(value, "05"))?;
        if second >= 60 {
            return Err(out_of_range("second"));
        }
        // A fraction the layout does not spell out is still read.
        let mut nanosecond = 0;
        if value.len() >= 2
            && matches!(value.as_bytes()[0], b'.' | b',')
            && digit(value, 1).is_some()
        {
            let end = (1..value.len())
                .find(|&at| digit(value, at).is_none())
                .unwrap_or(value.len());
            let fraction = &value[1..end.min(10)];
            let digits: u32 = fraction.parse().unwrap_or(0);
            nanosecond = digits * 10u32.pow(9 - fraction.len() as u32);
            value = &value[end..];
        }

        // "Z07:00": `Z`, or a sign, two digits, a colon and two digits.
        let zone = value;
        let (offset_seconds, value) = if let Some(rest) = value.strip_prefix('Z') {
            (0, rest)
        } else {
            let bytes = value.as_bytes();
            if bytes.len() < 6 || bytes[3] != b':' {
                return Err(bad(zone, "Z07:00"));
            }
            // As Go: the minutes are read only when the hours were, and a
            // range error outranks a bad sign or digit.
            let hours = value.get(1..3).and_then(|text| getnum(text, true));
            let minutes = hours.and(value.get(4..6).and_then(|text| getnum(text, true)));
            if hours.is_some_and(|(hours, _)| hours > 24) {
                return Err(out_of_range("time zone offset hour"));
            }
            if minutes.is_some_and(|(minutes, _)| minutes > 60) {
                return Err(out_of_range("time zone offset minute"));
            }
            let (Some((hours, _)), Some((minutes, _))) = (hours, minutes) else {
                return Err(bad(zone, "Z07:00"));
            };
            let magnitude = i32::try_from((hours * 60 + minutes) * 60).unwrap_or(0);
            let offset = match bytes[0] {
                b'+' => magnitude,
                b'-' => -magnitude,
                _ => return Err(bad(zone, "Z07:00")),
            };
            (offset, &value[6..])
        };
        if !value.is_empty() {
            return Err(Refusal::Message(format!(
                ": extra text: {}",
                Self::quote(value)
            )));
        }

        let days_in_month = jiff::civil::date(year, month as i8, 1).days_in_month();
        if day < 1 || day > days_in_month as u32 {
            return Err(out_of_range("day"));
        }
        let civil = jiff::civil::DateTime::new(
            year,
            month as i8,
            day as i8,
            hour as i8,
            minute as i8,
            second as i8,
            nanosecond as i32,
        )
        .map_err(|error| Refusal::Message(format!(": {error}")))?;
        let offset = jiff::tz::Offset::from_seconds(offset_seconds)
            .map_err(|error| Refusal::Message(format!(": {error}")))?;
        offset
            .to_timestamp(civil)
            .map_err(|error| Refusal::Message(format!(": {error}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        parse_rfc3339(text).unwrap_err()
    }

    #[test]
    fn accepts_what_go_accepts() {
        let at = |text: &str| parse_rfc3339(text).unwrap().to_string();
        assert_eq!(at("2026-12-07T19:27:47Z"), "2026-12-07T19:27:47Z");
        assert_eq!(at("2026-12-07T19:27:47.5Z"), "2026-12-07T19:27:47.5Z");
        assert_eq!(at("2026-12-07T19:27:47,25Z"), "2026-12-07T19:27:47.25Z");
        assert_eq!(
            at("2026-12-07T19:27:47.1234567891Z"),
            "2026-12-07T19:27:47.123456789Z"
        );
        assert_eq!(at("2026-12-07T21:27:47+02:00"), "2026-12-07T19:27:47Z");
        assert_eq!(at("2026-12-07T9:27:47Z"), "2026-12-07T09:27:47Z");
        assert_eq!(at("2024-02-29T00:00:00Z"), "2024-02-29T00:00:00Z");
    }

    // Go's texts: each of these timestamps is also given to the real
    // kubectl in the `pod_list_decode_errors` parity test.
    #[test]
    fn refuses_with_gos_words() {
        assert_eq!(
            error("yesterday"),
            r#"parsing time "yesterday" as "2006-01-02T15:04:05Z07:00": cannot parse "yesterday" as "2006""#
        );
        assert_eq!(
            error("2026-12-07 19:27:47Z"),
            r#"parsing time "2026-12-07 19:27:47Z" as "2006-01-02T15:04:05Z07:00": cannot parse " 19:27:47Z" as "T""#
        );
        assert_eq!(
            error("2026-12-07T19:27:47z"),
            r#"parsing time "2026-12-07T19:27:47z" as "2006-01-02T15:04:05Z07:00": cannot parse "z" as "Z07:00""#
        );
        assert_eq!(
            error("2026-13-07T19:27:47Z"),
            r#"parsing time "2026-13-07T19:27:47Z": month out of range"#
        );
        assert_eq!(
            error("2026-02-30T19:27:47Z"),
            r#"parsing time "2026-02-30T19:27:47Z": day out of range"#
        );
        assert_eq!(
            error("2026-12-07T19:27:47Zjunk"),
            r#"parsing time "2026-12-07T19:27:47Zjunk": extra text: "junk""#
        );
        assert_eq!(
            error("2026-12-07T19:27"),
            r#"parsing time "2026-12-07T19:27" as "2006-01-02T15:04:05Z07:00": cannot parse "" as ":""#
        );
        assert_eq!(
            error("2026-12-07T24:00:00Z"),
            r#"parsing time "2026-12-07T24:00:00Z": hour out of range"#
        );
        assert_eq!(
            error("é"),
            r#"parsing time "\xc3\xa9" as "2006-01-02T15:04:05Z07:00": cannot parse "\xc3\xa9" as "2006""#
        );
    }
}
