//! Kubernetes label selectors and field selectors.
//!
//! `workingset top pod -l … --field-selector …` and our Metrics API server's
//! `labelSelector` / `fieldSelector` query parameters must accept, reject,
//! print and match exactly what Kubernetes does, because users compare our
//! output with kubectl's and metrics-server's word for word. Parsing and
//! matching are those of k8s.io/apimachinery; the error texts are the ones the
//! kubectl 1.27–1.33 clients print (apimachinery v0.27–v0.34; 1.35 reworded a
//! few validation messages, see `label.rs`), checked against those binaries
//! in `tests/kubectl_selectors.rs`:
//!
//! - [`LabelSelector`] is `labels.Parse`: the full set-based syntax, label key
//!   and value validation, the parser's error texts and the canonical
//!   `String()` form (requirements sorted by key, values sorted).
//! - [`FieldSelector`] is `fields.ParseSelector`: `=`, `==` and `!=` terms,
//!   backslash escaping of values, its error texts and `String()` form, plus
//!   the check a server makes against the fields it supports.
//!
//! Matching never allocates: a server evaluates a selector once per object
//! of every list it serves. Labels and fields are looked up through
//! [`Lookup`], which maps and slices of pairs implement.
//!
//! One known difference: error texts quote keys and values the way Go's
//! `%q` does, except that code points unassigned in Unicode are printed as
//! they are where Go would escape them.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::BuildHasher;

mod field;
mod label;
#[cfg(test)]
mod tests;

pub use field::{
    FieldOperator, FieldSelector, FieldSelectorError, FieldTerm, METRICS_API_FIELDS,
    UnknownFieldError, escape_field_value, unescape_field_value,
};
pub use label::{
    KeyProblem, LabelSelector, LabelSelectorError, LabelValueProblem, Operator, Requirement,
    ValueProblem, label_key_problems, label_value_problems,
};

/// Read-only access to an object's labels or fields by name.
///
/// A selector asks for each key it names, so implementations should answer
/// without allocating.
pub trait Lookup {
    /// The value stored under `key`, or `None` when there is none.
    fn lookup(&self, key: &str) -> Option<&str>;
}

impl Lookup for BTreeMap<String, String> {
    fn lookup(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

impl Lookup for BTreeMap<&str, &str> {
    fn lookup(&self, key: &str) -> Option<&str> {
        self.get(key).copied()
    }
}

impl<S: BuildHasher> Lookup for HashMap<String, String, S> {
    fn lookup(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

/// A short list of pairs, such as the two fields metrics-server exposes for
/// a pod (`metadata.name`, `metadata.namespace`); the first pair whose name
/// matches wins.
impl<K: AsRef<str>, V: AsRef<str>> Lookup for [(K, V)] {
    fn lookup(&self, key: &str) -> Option<&str> {
        self.iter()
            .find(|(name, _)| name.as_ref() == key)
            .map(|(_, value)| value.as_ref())
    }
}

impl<K: AsRef<str>, V: AsRef<str>, const N: usize> Lookup for [(K, V); N] {
    fn lookup(&self, key: &str) -> Option<&str> {
        self.as_slice().lookup(key)
    }
}

impl<T: Lookup + ?Sized> Lookup for &T {
    fn lookup(&self, key: &str) -> Option<&str> {
        (**self).lookup(key)
    }
}

/// Displays a string the way Go's `%q` verb does (`strconv.Quote`).
///
/// Kubernetes puts offending keys and values into its messages with `%q`, so
/// ours must escape the same characters the same way.
/// Also used for the names in API status messages (`… "NAME" not found`).
#[derive(Debug, Clone, Copy)]
pub struct GoQuoted<'a>(pub &'a str);

impl fmt::Display for GoQuoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write as _;
        f.write_char('"')?;
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                c if is_go_printable(c) => f.write_char(c)?,
                '\u{07}' => f.write_str("\\a")?,
                '\u{08}' => f.write_str("\\b")?,
                '\u{0c}' => f.write_str("\\f")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                '\u{0b}' => f.write_str("\\v")?,
                c if u32::from(c) < 0x20 || c == '\u{7f}' => write!(f, "\\x{:02x}", u32::from(c))?,
                c if u32::from(c) < 0x1_0000 => write!(f, "\\u{:04x}", u32::from(c))?,
                c => write!(f, "\\U{:08x}", u32::from(c))?,
            }
        }
        f.write_char('"')
    }
}

/// Approximates Go's `strconv.IsPrint`: letters, marks, numbers,
/// punctuation, symbols and the ASCII space are printable.
///
/// Without Unicode category tables we treat every non-ASCII character as
/// printable except controls, separators other than the ASCII space, format
/// characters, private-use characters and noncharacters. Go also escapes
/// unassigned code points; those are the only difference, and they can only
/// appear in the text of an error about an invalid key or value.
fn is_go_printable(c: char) -> bool {
    /// Non-ASCII ranges Go escapes (categories Cc, Zs, Zl, Zp, Cf, Co and
    /// the noncharacters), sorted by start.
    const NOT_PRINTABLE: &[(u32, u32)] = &[
        (0x0080, 0x00A0),
        (0x00AD, 0x00AD),
        (0x0600, 0x0605),
        (0x061C, 0x061C),
        (0x06DD, 0x06DD),
        (0x070F, 0x070F),
        (0x0890, 0x0891),
        (0x08E2, 0x08E2),
        (0x1680, 0x1680),
        (0x180E, 0x180E),
        (0x2000, 0x200F),
        (0x2028, 0x202F),
        (0x205F, 0x2064),
        (0x2066, 0x206F),
        (0x3000, 0x3000),
        (0xE000, 0xF8FF),
        (0xFDD0, 0xFDEF),
        (0xFEFF, 0xFEFF),
        (0xFFF9, 0xFFFB),
        (0x110BD, 0x110BD),
        (0x110CD, 0x110CD),
        (0x13430, 0x1343F),
        (0x1BCA0, 0x1BCA3),
        (0x1D173, 0x1D17A),
        (0xE0001, 0xE0001),
        (0xE0020, 0xE007F),
        (0xF0000, 0x10FFFF),
    ];
    let code = u32::from(c);
    if code < 0x80 {
        return (0x20..0x7F).contains(&code);
    }
    // Every plane ends in two noncharacters.
    if code & 0xFFFE == 0xFFFE {
        return false;
    }
    let after = NOT_PRINTABLE.partition_point(|&(start, _)| start <= code);
    match after.checked_sub(1).and_then(|i| NOT_PRINTABLE.get(i)) {
        Some(&(_, end)) => code > end,
        None => true,
    }
}

/// Displays items separated by a fixed string.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Joined<'a, T>(pub(crate) &'a [T], pub(crate) &'static str);

impl<T: fmt::Display> fmt::Display for Joined<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, item) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(self.1)?;
            }
            write!(f, "{item}")?;
        }
        Ok(())
    }
}
