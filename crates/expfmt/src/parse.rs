//! A zero-copy parser for the text exposition format, accepting exactly
//! what metrics-server's scraper accepts (the grammar is on [`Parser`]).
//!
//! Nothing is copied: names and label values borrow from the body and are
//! unescaped into an owned string only when they contain a backslash.
//! The input is `&str`, so a body that is not UTF-8 must be rejected by the
//! caller (upstream only checks UTF-8 in label values and help texts, so a
//! non-UTF-8 byte inside a comment is the one thing upstream accepts that a
//! `&str` cannot hold).

use std::borrow::Cow;
use std::fmt;

use thiserror::Error;

/// The `# TYPE` word of a parsed family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParsedType {
    /// `counter`
    Counter,
    /// `gauge`
    Gauge,
    /// `histogram`
    Histogram,
    /// `summary`
    Summary,
    /// `untyped`
    Untyped,
}

impl ParsedType {
    /// The word as written after `# TYPE <name> `.
    pub fn as_str(self) -> &'static str {
        match self {
            ParsedType::Counter => "counter",
            ParsedType::Gauge => "gauge",
            ParsedType::Histogram => "histogram",
            ParsedType::Summary => "summary",
            ParsedType::Untyped => "untyped",
        }
    }

    fn from_word(word: &str) -> Option<Self> {
        Some(match word {
            "counter" => ParsedType::Counter,
            "gauge" => ParsedType::Gauge,
            "histogram" => ParsedType::Histogram,
            "summary" => ParsedType::Summary,
            "untyped" => ParsedType::Untyped,
            _ => return None,
        })
    }
}

impl fmt::Display for ParsedType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<crate::MetricType> for ParsedType {
    fn from(t: crate::MetricType) -> Self {
        match t {
            crate::MetricType::Counter => ParsedType::Counter,
            crate::MetricType::Gauge => ParsedType::Gauge,
            crate::MetricType::Untyped => ParsedType::Untyped,
        }
    }
}

/// What was wrong with a line. Each variant corresponds to one way
/// upstream's `PromParser` fails.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The line starts with a byte that can start neither a sample (a
    /// metric name or `{`) nor a comment (`#`); `\r` of a `\r\n` blank line
    /// lands here.
    #[error("expected a metric name, `{{` or `#` at the start of the line")]
    InvalidStart,
    /// `# HELP` or `# TYPE` is not followed by a metric name.
    #[error("expected a metric name after # HELP or # TYPE")]
    MetaMissingName,
    /// `# TYPE` names a type other than counter, gauge, histogram, summary
    /// or untyped (trailing blanks and `\r` count as part of the word).
    #[error("invalid metric type {0:?}")]
    InvalidType(String),
    /// The help text does not start on a character boundary (upstream
    /// drops the byte after the name and then finds invalid UTF-8).
    #[error("help text is not valid UTF-8")]
    HelpNotUtf8,
    /// Inside `{…}`, something other than a label name, quoted string or
    /// `}` was found.
    #[error("expected a label name or `}}`")]
    ExpectedLabelName,
    /// A label name is not followed by `=`.
    #[error("expected `=` after the label name")]
    ExpectedEqual,
    /// `=` is not followed by a quoted label value.
    #[error("expected a quoted label value")]
    ExpectedLabelValue,
    /// A quoted string is not closed before the end of the body, or has a
    /// backslash before a newline.
    #[error("unterminated quoted string")]
    UnterminatedString,
    /// The metric name appears both before the braces and quoted inside
    /// them, or twice inside them.
    #[error("metric name given twice")]
    NameTwice,
    /// A label set without a metric name (`{a="b"} 1`).
    #[error("metric name not set")]
    NoName,
    /// The name and labels are not followed by a value.
    #[error("expected a value after the metric")]
    ExpectedValue,
    /// The value is not a float in Go's syntax, or out of range.
    #[error("invalid value {0:?}")]
    InvalidValue(String),
    /// The timestamp does not fit an `i64`.
    #[error("invalid timestamp {0:?}")]
    InvalidTimestamp(String),
    /// After the value something other than an unsigned integer timestamp
    /// or the end of the line was found (a `-` timestamp, a `\r`, a word).
    #[error("expected a timestamp or the end of the line")]
    ExpectedTimestampOrEnd,
    /// After the timestamp something other than the end of the line was
    /// found.
    #[error("expected the end of the line after the timestamp")]
    ExpectedEnd,
}

/// A body could not be parsed. The parser stops at the first error (as
/// metrics-server does): the caller should treat the whole body as bad.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}: {kind}: {text:?}")]
pub struct ParseError {
    /// 1-based number of the line the bad entry starts on.
    pub line: usize,
    /// What went wrong.
    pub kind: ParseErrorKind,
    /// The start of the offending line (at most 120 bytes), for logs.
    pub text: String,
}

/// The label set of a parsed sample: a view of the text between the braces,
/// already validated, decoded lazily by [`Labels::iter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Labels<'a> {
    raw: &'a str,
}

impl<'a> Labels<'a> {
    /// The pairs in the order of the body; the metric name, if it was
    /// quoted inside the braces, is not among them.
    pub fn iter(&self) -> LabelIter<'a> {
        LabelIter {
            rest: self.raw.as_bytes(),
            raw: self.raw,
            pos: 0,
        }
    }

    /// The value of the first label called `name`.
    pub fn get(&self, name: &str) -> Option<Cow<'a, str>> {
        self.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// How many pairs there are.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// The text between the braces, escapes and all (empty without braces).
    pub fn raw(&self) -> &'a str {
        self.raw
    }
}

impl<'a> IntoIterator for Labels<'a> {
    type Item = (Cow<'a, str>, Cow<'a, str>);
    type IntoIter = LabelIter<'a>;
    fn into_iter(self) -> LabelIter<'a> {
        self.iter()
    }
}

impl<'a> IntoIterator for &Labels<'a> {
    type Item = (Cow<'a, str>, Cow<'a, str>);
    type IntoIter = LabelIter<'a>;
    fn into_iter(self) -> LabelIter<'a> {
        self.iter()
    }
}

/// Iterator over the `(name, value)` pairs of [`Labels`]. Names are `Cow`
/// because upstream allows quoted (and then escapable) label names.
#[derive(Debug, Clone)]
pub struct LabelIter<'a> {
    raw: &'a str,
    rest: &'a [u8],
    pos: usize,
}

impl<'a> LabelIter<'a> {
    fn skip_blanks_and_commas(&mut self) {
        while let Some(&b) = self.rest.get(self.pos) {
            if matches!(b, b' ' | b'\t' | b',') {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    fn skip_blanks(&mut self) {
        while matches!(self.rest.get(self.pos), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    /// Reads a quoted string starting at `self.pos` (which is `"`).
    fn quoted(&mut self) -> Option<Cow<'a, str>> {
        let Quoted { end, escaped, .. } = scan_quoted(self.rest, self.pos)?;
        let inner = self.raw.get(self.pos + 1..end - 1)?;
        self.pos = end;
        Some(unescape(inner, escaped))
    }
}

impl<'a> Iterator for LabelIter<'a> {
    type Item = (Cow<'a, str>, Cow<'a, str>);

    fn next(&mut self) -> Option<Self::Item> {
        // The text was validated when the line was parsed; any surprise
        // here just ends the iteration.
        loop {
            self.skip_blanks_and_commas();
            let first = *self.rest.get(self.pos)?;
            let name = if first == b'"' {
                let name = self.quoted()?;
                self.skip_blanks();
                if self.rest.get(self.pos) != Some(&b'=') {
                    // A quoted metric name inside the braces.
                    continue;
                }
                name
            } else {
                let start = self.pos;
                self.pos = skip_class(self.rest, self.pos, LABEL_CHAR);
                let name = self.raw.get(start..self.pos)?;
                self.skip_blanks();
                Cow::Borrowed(name)
            };
            // `=`
            self.pos += 1;
            self.skip_blanks();
            let value = self.quoted()?;
            return Some((name, value));
        }
    }
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedSample<'a> {
    /// The metric name (owned only if it was quoted and escaped).
    pub name: Cow<'a, str>,
    /// The label pairs.
    pub labels: Labels<'a>,
    /// The value; NaN for any spelling of NaN.
    pub value: f64,
    /// The timestamp in milliseconds, if the line has one.
    pub timestamp_ms: Option<i64>,
    /// 1-based line number.
    pub line: usize,
}

/// One meaningful line of a body.
#[derive(Debug, Clone, PartialEq)]
pub enum Item<'a> {
    /// `# HELP name text`, with the text unescaped (`\\` and `\n`).
    Help {
        /// The metric name.
        name: Cow<'a, str>,
        /// The help text.
        help: Cow<'a, str>,
    },
    /// `# TYPE name type`.
    Type {
        /// The metric name.
        name: Cow<'a, str>,
        /// The type.
        metric_type: ParsedType,
    },
    /// Any other `#` line: the text after `#` and the blanks following it.
    Comment(&'a str),
    /// A sample line.
    Sample(ParsedSample<'a>),
}

/// Iterator over the [`Item`]s of a body. After the first error it yields
/// nothing more.
///
/// metrics-server (v0.7 … v0.9) decodes `/metrics/resource` with
/// Prometheus' `textparse.PromParser` whatever the response's
/// `Content-Type`, and drops the whole node's batch on the first error.
/// This parser follows that lexer rule for rule, so a body is rejected here
/// exactly when it would be rejected there:
///
/// - blank lines and `[ \t]` runs between tokens are skipped, also at the
///   start of a line and before the end of it;
/// - `#` lines are comments unless they read `# HELP name text` or
///   `# TYPE name type`, where the type must be one of `counter`, `gauge`,
///   `histogram`, `summary`, `untyped` exactly;
/// - a sample is `name{labels} value [timestamp]`; the label set may be
///   empty, may end in a trailing comma, and needs no comma between pairs;
///   the metric name may also be a quoted string inside the braces
///   (`{"name",a="b"}`); label values may contain anything, `}` and raw
///   newlines included, and only `\\`, `\"` and `\n` are unescaped (any
///   other escape is kept verbatim);
/// - the value is Go's `ParseFloat` syntax without hex floats or `_`
///   (`NaN`, `+Inf`, `-infinity`, `.5`, `1.` are fine; `+NaN`, `1e400`
///   — out of range — are not); the timestamp is unsigned decimal digits
///   fitting an `i64` (so negative timestamps are rejected);
/// - the body need not end in a newline; `\r` is *not* a line terminator
///   (a `\r\n` body fails on its first sample line, as upstream);
/// - a NUL byte at the start of a line ends the body silently (upstream's
///   lexer treats it as end of input).
#[derive(Debug, Clone)]
pub struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    line: usize,
    done: bool,
}

/// All items (HELP, TYPE, comments, samples) of `text`.
pub fn parse_items(text: &str) -> Parser<'_> {
    Parser {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        line: 1,
        done: false,
    }
}

/// The samples of `text`, skipping HELP, TYPE and comments. Stops after the
/// first error.
pub fn parse(text: &str) -> impl Iterator<Item = Result<ParsedSample<'_>, ParseError>> {
    parse_items(text).filter_map(|r| match r {
        Ok(Item::Sample(s)) => Some(Ok(s)),
        Ok(_) => None,
        Err(e) => Some(Err(e)),
    })
}

/// Byte classes of the text format's tokens, one table lookup per byte in
/// the scanning loops.
const NAME_START: u8 = 1;
const NAME_CHAR: u8 = 2;
const LABEL_START: u8 = 4;
const LABEL_CHAR: u8 = 8;

const CLASSES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let byte = b as u8;
        let alpha = byte.is_ascii_alphabetic();
        let digit = byte.is_ascii_digit();
        let mut class = 0;
        if alpha || byte == b'_' || byte == b':' {
            class |= NAME_START | NAME_CHAR;
        }
        if digit {
            class |= NAME_CHAR | LABEL_CHAR;
        }
        if alpha || byte == b'_' {
            class |= LABEL_START | LABEL_CHAR;
        }
        table[b] = class;
        b += 1;
    }
    table
};

fn is_name_start(b: u8) -> bool {
    CLASSES[usize::from(b)] & NAME_START != 0
}

fn is_label_start(b: u8) -> bool {
    CLASSES[usize::from(b)] & LABEL_START != 0
}

/// The index of the first byte at or after `from` that is not of `class`.
fn skip_class(bytes: &[u8], from: usize, class: u8) -> usize {
    let rest = bytes.get(from..).unwrap_or_default();
    from + rest
        .iter()
        .position(|&b| CLASSES[usize::from(b)] & class == 0)
        .unwrap_or(rest.len())
}

/// A quoted string scanned: where it ends and what it holds.
struct Quoted {
    /// Just past the closing quote.
    end: usize,
    /// Whether a backslash occurred.
    escaped: bool,
    /// Raw newlines inside (legal, and counted for line numbers).
    newlines: usize,
}

/// Scans a quoted string starting at `start` (a `"`). Like upstream's
/// lexer, raw newlines are allowed inside and a backslash escapes any byte
/// but a newline. Label values are short, so one plain pass over the bytes
/// beats a vectorised search that has to be set up for each of them.
fn scan_quoted(bytes: &[u8], start: usize) -> Option<Quoted> {
    let mut i = start + 1;
    let mut escaped = false;
    let mut newlines = 0;
    loop {
        match *bytes.get(i)? {
            b'"' => {
                return Some(Quoted {
                    end: i + 1,
                    escaped,
                    newlines,
                });
            }
            b'\\' => {
                escaped = true;
                match bytes.get(i + 1) {
                    None | Some(b'\n') => return None,
                    Some(_) => i += 2,
                }
            }
            b'\n' => {
                newlines += 1;
                i += 1;
            }
            _ => i += 1,
        }
    }
}

/// Upstream's `lvalReplacer`: `\"`, `\\` and `\n` are unescaped, any other
/// backslash pair is kept as it is.
fn unescape(s: &str, has_escape: bool) -> Cow<'_, str> {
    if !has_escape {
        return Cow::Borrowed(s);
    }
    unescape_with(s, true)
}

fn unescape_with(s: &str, quote: bool) -> Cow<'_, str> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        match after.as_bytes().first() {
            Some(b'\\') => {
                out.push('\\');
                rest = &after[1..];
            }
            Some(b'n') => {
                out.push('\n');
                rest = &after[1..];
            }
            Some(b'"') if quote => {
                out.push('"');
                rest = &after[1..];
            }
            _ => {
                out.push('\\');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// 10^0 … 10^22: the powers of ten a double holds exactly.
const EXACT_POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Go's `strconv.ParseFloat(s, 64)` restricted as upstream's `parseFloat`
/// restricts it (no `p`, `P` or `_`, hence no hex floats): `None` for a
/// syntax error or a finite literal that overflows.
pub(crate) fn parse_go_float(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let (neg, unsigned) = match b.first()? {
        b'+' => (false, &s[1..]),
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    let signed = unsigned.len() != s.len();
    if unsigned.eq_ignore_ascii_case("inf") || unsigned.eq_ignore_ascii_case("infinity") {
        return Some(if neg {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if unsigned.eq_ignore_ascii_case("nan") {
        // Go accepts no sign on NaN.
        return if signed { None } else { Some(f64::NAN) };
    }
    // Decimal: digits [. digits] | . digits, then optional exponent.
    let u = unsigned.as_bytes();
    let mut i = 0;
    // The digits as an integer while they fit (19 digits always do).
    let mut mantissa: u64 = 0;
    let mut digits = |i: &mut usize| {
        let start = *i;
        while let Some(&c) = u.get(*i) {
            if !c.is_ascii_digit() {
                break;
            }
            mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
            *i += 1;
        }
        *i - start
    };
    let int_digits = digits(&mut i);
    let mut frac_digits = 0;
    if u.get(i) == Some(&b'.') {
        i += 1;
        frac_digits = digits(&mut i);
    }
    if int_digits + frac_digits == 0 {
        return None;
    }
    if i == u.len() && int_digits + frac_digits <= 19 && mantissa < 1 << 53 {
        // Clinger's fast path: the digits and the power of ten are both
        // exact doubles, so one division rounds as a full parse would.
        if let Some(&power) = EXACT_POWERS_OF_TEN.get(frac_digits) {
            let value = mantissa as f64 / power;
            return Some(if neg { -value } else { value });
        }
    }
    if matches!(u.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(u.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp_digits = u[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if exp_digits == 0 {
            return None;
        }
        i += exp_digits;
    }
    if i != u.len() {
        return None;
    }
    // The syntax is now a subset of what Rust's parser accepts, and both
    // round correctly, so the value is Go's; an infinite result means the
    // literal overflowed, which Go reports as ErrRange.
    let v: f64 = s.parse().ok()?;
    if v.is_infinite() { None } else { Some(v) }
}

impl<'a> Parser<'a> {
    fn skip_blanks(&mut self) {
        while matches!(self.bytes.get(self.pos), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// Whether the cursor is at the end of a line (or of the body, which
    /// upstream treats as a final newline).
    fn at_eol(&self) -> bool {
        matches!(self.peek(), None | Some(b'\n'))
    }

    /// Moves past the newline ending the current line.
    fn finish_line(&mut self) {
        if self.peek() == Some(b'\n') {
            self.pos += 1;
            self.line += 1;
        }
    }

    fn error(&mut self, line_start: usize, line: usize, kind: ParseErrorKind) -> ParseError {
        self.done = true;
        let rest = &self.text[line_start..];
        let end = rest.find('\n').unwrap_or(rest.len()).min(120);
        let mut end_on_char = end;
        while !rest.is_char_boundary(end_on_char) {
            end_on_char -= 1;
        }
        ParseError {
            line,
            kind,
            text: rest[..end_on_char].to_owned(),
        }
    }

    /// The text from `start` to the end of the line.
    fn rest_of_line(&mut self) -> &'a str {
        let start = self.pos;
        let len = self.bytes[start..]
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or(self.bytes.len() - start);
        self.pos = start + len;
        &self.text[start..start + len]
    }

    /// A quoted string at the cursor; returns the unescaped content.
    fn quoted(&mut self) -> Option<Cow<'a, str>> {
        let start = self.pos;
        let Quoted {
            end,
            escaped,
            newlines,
        } = scan_quoted(self.bytes, start)?;
        let inner = &self.text[start + 1..end - 1];
        // Raw newlines inside quotes are legal; keep line numbers honest.
        self.line += newlines;
        self.pos = end;
        Some(unescape(inner, escaped))
    }

    fn comment(&mut self, line_start: usize, line: usize) -> Result<Item<'a>, ParseError> {
        // At '#'.
        self.pos += 1;
        let blanks_start = self.pos;
        self.skip_blanks();
        let had_blank = self.pos > blanks_start;
        let keyword = self.bytes.get(self.pos..self.pos + 4);
        let is_help = keyword == Some(b"HELP");
        let is_type = keyword == Some(b"TYPE");
        if !had_blank
            || !(is_help || is_type)
            || !matches!(self.bytes.get(self.pos + 4), Some(b' ' | b'\t'))
        {
            let text = self.rest_of_line();
            self.finish_line();
            return Ok(Item::Comment(text));
        }
        self.pos += 4;
        self.skip_blanks();
        let name = match self.peek() {
            Some(b'"') => match self.quoted() {
                Some(n) => n,
                None => {
                    return Err(self.error(line_start, line, ParseErrorKind::MetaMissingName));
                }
            },
            Some(b) if is_name_start(b) => {
                let start = self.pos;
                self.pos = skip_class(self.bytes, start, NAME_CHAR);
                Cow::Borrowed(&self.text[start..self.pos])
            }
            _ => return Err(self.error(line_start, line, ParseErrorKind::MetaMissingName)),
        };
        // Upstream's text token is the rest of the line with its first
        // byte dropped (normally the separating blank); a rest made only of
        // blanks is an empty text.
        let rest = self.rest_of_line();
        let text = if rest.bytes().all(|b| b == b' ' || b == b'\t') {
            ""
        } else {
            match rest.get(1..) {
                Some(t) => t,
                None => {
                    let kind = if is_help {
                        ParseErrorKind::HelpNotUtf8
                    } else {
                        ParseErrorKind::InvalidType(rest.to_owned())
                    };
                    return Err(self.error(line_start, line, kind));
                }
            }
        };
        let item = if is_help {
            Item::Help {
                name,
                help: if text.contains('\\') {
                    unescape_with(text, false)
                } else {
                    Cow::Borrowed(text)
                },
            }
        } else {
            match ParsedType::from_word(text) {
                Some(metric_type) => Item::Type { name, metric_type },
                None => {
                    let kind = ParseErrorKind::InvalidType(text.to_owned());
                    return Err(self.error(line_start, line, kind));
                }
            }
        };
        self.finish_line();
        Ok(item)
    }

    fn sample(&mut self, line_start: usize, line: usize) -> Result<Item<'a>, ParseError> {
        let mut name: Option<Cow<'a, str>> = None;
        if self.peek().is_some_and(is_name_start) {
            let start = self.pos;
            self.pos = skip_class(self.bytes, start, NAME_CHAR);
            name = Some(Cow::Borrowed(&self.text[start..self.pos]));
            self.skip_blanks();
        }
        let mut labels = Labels::default();
        if self.peek() == Some(b'{') {
            self.pos += 1;
            let inner_start = self.pos;
            self.label_set(&mut name)
                .map_err(|kind| self.error(line_start, line, kind))?;
            // The cursor is just past '}'.
            labels.raw = &self.text[inner_start..self.pos - 1];
            self.skip_blanks();
        }
        let Some(name) = name else {
            return Err(self.error(line_start, line, ParseErrorKind::NoName));
        };
        let value_start = self.pos;
        while self
            .peek()
            .is_some_and(|b| !matches!(b, b'{' | b' ' | b'\t' | b'\n' | 0))
        {
            self.pos += 1;
        }
        let value_text = &self.text[value_start..self.pos];
        if value_text.is_empty() {
            return Err(self.error(line_start, line, ParseErrorKind::ExpectedValue));
        }
        let Some(value) = parse_go_float(value_text) else {
            let kind = ParseErrorKind::InvalidValue(value_text.to_owned());
            return Err(self.error(line_start, line, kind));
        };
        self.skip_blanks();
        let mut timestamp_ms = None;
        if !self.at_eol() {
            let ts_start = self.pos;
            while self.peek().is_some_and(|b| b.is_ascii_digit()) {
                self.pos += 1;
            }
            let ts_text = &self.text[ts_start..self.pos];
            if ts_text.is_empty() {
                return Err(self.error(line_start, line, ParseErrorKind::ExpectedTimestampOrEnd));
            }
            // Up to 18 digits cannot overflow an i64.
            let parsed = if ts_text.len() <= 18 {
                Ok(ts_text
                    .bytes()
                    .fold(0i64, |n, c| n * 10 + i64::from(c - b'0')))
            } else {
                ts_text.parse::<i64>()
            };
            match parsed {
                Ok(ts) => timestamp_ms = Some(ts),
                Err(_) => {
                    let kind = ParseErrorKind::InvalidTimestamp(ts_text.to_owned());
                    return Err(self.error(line_start, line, kind));
                }
            }
            self.skip_blanks();
            if !self.at_eol() {
                return Err(self.error(line_start, line, ParseErrorKind::ExpectedEnd));
            }
        }
        self.finish_line();
        Ok(Item::Sample(ParsedSample {
            name,
            labels,
            value,
            timestamp_ms,
            line,
        }))
    }

    /// Parses the pairs after `{` up to and including `}`.
    fn label_set(&mut self, name: &mut Option<Cow<'a, str>>) -> Result<(), ParseErrorKind> {
        self.skip_blanks();
        loop {
            match self.peek() {
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(b'"') => {
                    let quoted = self.quoted().ok_or(ParseErrorKind::UnterminatedString)?;
                    self.skip_blanks();
                    if matches!(self.peek(), Some(b',' | b'}')) {
                        // A quoted metric name.
                        if name.is_some() {
                            return Err(ParseErrorKind::NameTwice);
                        }
                        *name = Some(quoted);
                        if self.peek() == Some(b',') {
                            self.pos += 1;
                            self.skip_blanks();
                        }
                        continue;
                    }
                }
                Some(b) if is_label_start(b) => {
                    self.pos = skip_class(self.bytes, self.pos, LABEL_CHAR);
                    self.skip_blanks();
                }
                _ => return Err(ParseErrorKind::ExpectedLabelName),
            }
            if self.peek() != Some(b'=') {
                return Err(ParseErrorKind::ExpectedEqual);
            }
            self.pos += 1;
            self.skip_blanks();
            if self.peek() != Some(b'"') {
                return Err(ParseErrorKind::ExpectedLabelValue);
            }
            self.quoted().ok_or(ParseErrorKind::UnterminatedString)?;
            self.skip_blanks();
            // One optional comma; upstream needs none between pairs.
            if self.peek() == Some(b',') {
                self.pos += 1;
                self.skip_blanks();
            }
        }
    }
}

impl<'a> Iterator for Parser<'a> {
    type Item = Result<Item<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            let line_start = self.pos;
            self.skip_blanks();
            let line = self.line;
            let item = match self.peek() {
                None | Some(0) => {
                    self.done = true;
                    return None;
                }
                Some(b'\n') => {
                    self.finish_line();
                    continue;
                }
                Some(b'#') => self.comment(line_start, line),
                Some(b) if is_name_start(b) || b == b'{' => self.sample(line_start, line),
                Some(_) => Err(self.error(line_start, line, ParseErrorKind::InvalidStart)),
            };
            return Some(item);
        }
    }
}

impl std::iter::FusedIterator for Parser<'_> {}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::parse_go_float;

    /// The fast path and the full parse agree to the bit.
    fn full_parse(s: &str) -> Option<u64> {
        s.parse::<f64>().ok().map(f64::to_bits)
    }

    #[test]
    fn decimal_values_are_rounded_as_a_full_parse_rounds_them() {
        for s in [
            "0",
            "-0",
            "+0",
            "18.013884",
            "0.1",
            ".5",
            "5.",
            "9007199254740991",
            "9007199254740993",
            "1234567890123456789",
            "0.0000000000000000001",
            "123456.7890123456789",
            "99999999999999999999",
            "-7.25",
        ] {
            assert_eq!(parse_go_float(s).map(f64::to_bits), full_parse(s), "{s}");
        }
        for s in ["", ".", "-", "+-1", "1.2.3", "1e", "0x10", "1_0"] {
            assert_eq!(parse_go_float(s), None, "{s}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]
        #[test]
        fn any_decimal_matches_a_full_parse(s in "[+-]?[0-9]{0,21}(\\.[0-9]{0,21})?") {
            let has_digits = s.bytes().any(|b| b.is_ascii_digit());
            let want = if has_digits { full_parse(&s) } else { None };
            prop_assert_eq!(parse_go_float(&s).map(f64::to_bits), want);
        }
    }
}
