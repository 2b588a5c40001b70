//! Field selectors, as apimachinery's `fields.ParseSelector` reads and prints
//! them.
//!
//! A field selector is a comma-separated list of `field=value`,
//! `field==value` (the same) or `field!=value` terms, all of which must
//! hold. Only values are escaped: `\,`, `\=` and `\\` stand for `,`, `=` and
//! `\`; any other backslash sequence, and any unescaped `=` in a value, is an
//! error. Field names are taken verbatim up to the first operator, spaces
//! included; which names exist is for the server to decide (see
//! [`FieldSelector::check_fields`]).
//!
//! # What kubectl and metrics-server do with them (facts, as of Kubernetes 1.36)
//!
//! - `kubectl top pod --field-selector S` (kubectl's `pkg/cmd/top/top_pod.go`)
//!   parses `S` with `fields.ParseSelector` before any request, so a
//!   malformed selector fails locally: kubectl prints the parse error after
//!   `error: `, e.g. `error: invalid selector: 'x'; can't understand 'x'`,
//!   and exits 1. `kubectl top node` has no `--field-selector` flag.
//! - Up to kubectl 1.36 the parsed selector's `String()` is sent as the
//!   `fieldSelector` of the PodMetrics list request. metrics-server registers
//!   no field-label conversion for PodMetrics or NodeMetrics, so the API
//!   machinery's default applies (apimachinery `pkg/runtime/conversion.go`,
//!   `DefaultMetaV1FieldSelectorConversion`, called from apiserver
//!   `pkg/endpoints/handlers/get.go`): only `metadata.name` and
//!   `metadata.namespace` are accepted, and any other field fails the request
//!   with 400 Bad Request and the message
//!   `"spec.nodeName" is not a known field selector: only "metadata.name", "metadata.namespace"`,
//!   which kubectl shows as
//!   `Error from server (BadRequest): "spec.nodeName" is not a known field selector: only "metadata.name", "metadata.namespace"`.
//!   A selector that does not parse is also a 400, with the parse error as
//!   its message. [`UnknownFieldError`] reproduces the first message.
//! - metrics-server then matches the accepted terms against `metadata.name`
//!   and, for pods only, `metadata.namespace` (metrics-server
//!   `pkg/api/filter.go`); a field an object lacks reads as `""`, so on
//!   nodes `metadata.namespace=` matches and `metadata.namespace=x` does not.
//! - kubectl 1.37 changed `top pod` (kubectl commit "filter top pod metrics
//!   using pod field selectors"): it no longer sends the field selector to
//!   the Metrics API but lists pods from the core API with it and keeps the
//!   metrics of the pods returned. Pod fields such as `spec.nodeName` then
//!   work, and an unsupported one is rejected by the core API's pod
//!   conversion as `Error from server (BadRequest): field label not supported: FIELD`.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use super::{GoQuoted, Joined, Lookup};

/// The fields the Metrics API (metrics-server) accepts in a field selector,
/// for both PodMetrics and NodeMetrics.
pub const METRICS_API_FIELDS: [&str; 2] = ["metadata.name", "metadata.namespace"];

/// Whether a [`FieldTerm`] asks for equality or inequality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FieldOperator {
    /// `field=value` or `field==value` (both print as `=`).
    Equals,
    /// `field!=value`.
    NotEquals,
}

/// One `field=value` or `field!=value` condition.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldTerm {
    field: String,
    operator: FieldOperator,
    value: String,
}

impl FieldTerm {
    /// The field name, exactly as written.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// The operator.
    pub fn operator(&self) -> FieldOperator {
        self.operator
    }

    /// The value, unescaped.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Decides on the field's value; a missing field counts as `""`, as in
    /// upstream's `fields.Set`.
    fn matches_value(&self, actual: Option<&str>) -> bool {
        let equal = actual.unwrap_or_default() == self.value;
        match self.operator {
            FieldOperator::Equals => equal,
            FieldOperator::NotEquals => !equal,
        }
    }
}

/// Prints `field=value` or `field!=value` with the value escaped.
impl fmt::Display for FieldTerm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let operator = match self.operator {
            FieldOperator::Equals => "=",
            FieldOperator::NotEquals => "!=",
        };
        write!(
            f,
            "{}{operator}{}",
            self.field,
            escape_field_value(&self.value)
        )
    }
}

/// A parsed field selector: all terms must hold.
///
/// Terms keep upstream's order, which is the order of the raw terms sorted
/// as text (before unescaping and before `==` becomes `=`); `Display`
/// follows it, as `String()` does.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct FieldSelector {
    terms: Vec<FieldTerm>,
}

impl FieldSelector {
    /// The selector that matches every object (what `""` parses to).
    pub fn everything() -> Self {
        Self::default()
    }

    /// Parses selector text with `fields.ParseSelector`'s rules and error
    /// texts.
    pub fn parse(text: &str) -> Result<Self, FieldSelectorError> {
        let mut raw_terms = split_terms(text);
        raw_terms.sort_unstable();
        let mut terms = Vec::with_capacity(raw_terms.len());
        for raw in raw_terms {
            if raw.is_empty() {
                continue;
            }
            let Some((field, operator, escaped)) = split_term(raw) else {
                return Err(FieldSelectorError::Malformed {
                    selector: text.to_owned(),
                    term: raw.to_owned(),
                });
            };
            let value = unescape_field_value(escaped)?;
            // Upstream drops a term whose field and value are both empty
            // (`=`, `!=`) when it normalises the parsed selector.
            if field.is_empty() && value.is_empty() {
                continue;
            }
            terms.push(FieldTerm {
                field: field.to_owned(),
                operator,
                value: value.into_owned(),
            });
        }
        Ok(Self { terms })
    }

    /// Whether this selector has no terms and so matches everything.
    pub fn is_everything(&self) -> bool {
        self.terms.is_empty()
    }

    /// The terms, in upstream's order.
    pub fn terms(&self) -> &[FieldTerm] {
        &self.terms
    }

    /// Whether every term holds for these fields. A field the object does not
    /// have reads as `""`.
    pub fn matches<L: Lookup + ?Sized>(&self, fields: &L) -> bool {
        self.terms
            .iter()
            .all(|term| term.matches_value(fields.lookup(&term.field)))
    }

    /// Like [`matches`](Self::matches), with fields looked up through a
    /// closure (`None`: no such field, read as `""`).
    pub fn matches_with<'a, F>(&self, lookup: F) -> bool
    where
        F: Fn(&str) -> Option<&'a str>,
    {
        self.terms
            .iter()
            .all(|term| term.matches_value(lookup(&term.field)))
    }

    /// The value the selector requires `field` to equal, if some `=` term
    /// names it (the first such term wins, as upstream's
    /// `RequiresExactMatch`). A server can use it to look one object up by
    /// name instead of filtering a list.
    pub fn requires_exact_match(&self, field: &str) -> Option<&str> {
        self.terms
            .iter()
            .find(|term| term.operator == FieldOperator::Equals && term.field == field)
            .map(|term| term.value.as_str())
    }

    /// Checks that every term names one of `allowed`, as an API server does
    /// before serving a list; the first offending term (in term order) is
    /// reported, as upstream's conversion does.
    ///
    /// With [`METRICS_API_FIELDS`] the error prints exactly what
    /// metrics-server answers with a 400 Bad Request.
    pub fn check_fields(&self, allowed: &[&str]) -> Result<(), UnknownFieldError> {
        match self
            .terms
            .iter()
            .find(|term| !allowed.contains(&term.field.as_str()))
        {
            Some(term) => Err(UnknownFieldError {
                field: term.field.clone(),
                allowed: allowed.iter().map(|&name| name.to_owned()).collect(),
            }),
            None => Ok(()),
        }
    }
}

impl FromStr for FieldSelector {
    type Err = FieldSelectorError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

/// Prints apimachinery's `String()` form: terms joined by `,`, values
/// escaped, `==` written as `=`.
impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Joined(&self.terms, ",").fmt(f)
    }
}

/// Why selector text is not a valid field selector. The `Display` texts are
/// `fields.ParseSelector`'s, byte for byte, as kubectl 1.27–1.33
/// (apimachinery v0.27–v0.34) print them after `error: `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldSelectorError {
    /// A term has no `=`, `==` or `!=` (`x`, `x in (a)`).
    #[error("invalid selector: '{selector}'; can't understand '{term}'")]
    Malformed {
        /// The whole selector text.
        selector: String,
        /// The term without an operator, as written.
        term: String,
    },
    /// A value has a backslash not followed by `\`, `,` or `=`, or ends in a
    /// lone backslash (then `sequence` is just `\`).
    #[error("invalid field selector: invalid escape sequence: {sequence}")]
    InvalidEscape {
        /// The backslash and the character after it, if any.
        sequence: String,
    },
    /// A value has an unescaped `=` (`x=a=b`). Upstream prints the
    /// character's code point in decimal (`61`).
    #[error("invalid field selector: unescaped character in value: {}", u32::from(*.character))]
    UnescapedCharacter {
        /// The character (`=`; a `,` always ends the term instead).
        character: char,
    },
}

/// A field selector names a field the server does not support. `Display`
/// prints what the API machinery's default field-label conversion reports,
/// for example
/// `"spec.nodeName" is not a known field selector: only "metadata.name", "metadata.namespace"`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{} is not a known field selector: only {}",
    GoQuoted(field),
    QuotedList(allowed)
)]
pub struct UnknownFieldError {
    /// The unsupported field, as written.
    pub field: String,
    /// The fields the server supports.
    pub allowed: Vec<String>,
}

/// Go-quoted names separated by `, `.
struct QuotedList<'a>(&'a [String]);

impl fmt::Display for QuotedList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, name) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            GoQuoted(name).fmt(f)?;
        }
        Ok(())
    }
}

/// Escapes a value for use in field selector text: `\` → `\\`, `,` → `\,`,
/// `=` → `\=`.
pub fn escape_field_value(value: &str) -> Cow<'_, str> {
    if !value.contains(['\\', ',', '=']) {
        return Cow::Borrowed(value);
    }
    let mut escaped = String::with_capacity(value.len() + 4);
    for c in value.chars() {
        if matches!(c, '\\' | ',' | '=') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    Cow::Owned(escaped)
}

/// Undoes [`escape_field_value`], rejecting what upstream's `UnescapeValue`
/// rejects: unknown escapes, a trailing lone backslash, unescaped `,` or `=`.
pub fn unescape_field_value(escaped: &str) -> Result<Cow<'_, str>, FieldSelectorError> {
    if !escaped.contains(['\\', ',', '=']) {
        return Ok(Cow::Borrowed(escaped));
    }
    let mut value = String::with_capacity(escaped.len());
    let mut chars = escaped.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(next @ ('\\' | ',' | '=')) => value.push(next),
                Some(other) => {
                    return Err(FieldSelectorError::InvalidEscape {
                        sequence: format!("\\{other}"),
                    });
                }
                None => {
                    return Err(FieldSelectorError::InvalidEscape {
                        sequence: "\\".to_owned(),
                    });
                }
            },
            ',' | '=' => return Err(FieldSelectorError::UnescapedCharacter { character: c }),
            c => value.push(c),
        }
    }
    Ok(Cow::Owned(value))
}

/// Splits at commas not preceded by an escaping backslash; escapes stay in
/// the terms. The empty text has no terms.
fn split_terms(text: &str) -> Vec<&str> {
    if text.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    // Byte-wise is enough: `\` and `,` never occur inside a multi-byte char.
    for (i, b) in text.bytes().enumerate() {
        if escaped {
            escaped = false;
        } else if b == b'\\' {
            escaped = true;
        } else if b == b',' {
            terms.push(text.get(start..i).unwrap_or_default());
            start = i + 1;
        }
    }
    terms.push(text.get(start..).unwrap_or_default());
    terms
}

/// Splits a term at its first operator (`!=`, `==` or `=`); the value part
/// is returned still escaped. Field names have no escaping, so a `=` in one
/// cannot be written.
fn split_term(term: &str) -> Option<(&str, FieldOperator, &str)> {
    let bytes = term.as_bytes();
    let (at, operator, len) = bytes.iter().enumerate().find_map(|(i, &b)| {
        let next = bytes.get(i + 1).copied();
        match (b, next) {
            (b'!', Some(b'=')) => Some((i, FieldOperator::NotEquals, 2)),
            (b'=', Some(b'=')) => Some((i, FieldOperator::Equals, 2)),
            (b'=', _) => Some((i, FieldOperator::Equals, 1)),
            _ => None,
        }
    })?;
    // The operator is ASCII, so both cuts are char boundaries.
    Some((term.get(..at)?, operator, term.get(at + len..)?))
}
