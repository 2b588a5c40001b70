//! Label selectors, as apimachinery's `labels.Parse` reads and prints them.
//!
//! The grammar (comma-separated requirements, all of which must hold):
//!
//! ```text
//! requirement := ["!"] KEY [ ("in" | "notin") "(" values ")" | ("=" | "==" | "!=" | ">" | "<") VALUE ]
//! values      := [VALUE] { "," [VALUE] }
//! ```
//!
//! A bare `KEY` means the label exists, `!KEY` that it does not. An empty
//! value is valid (`k=` asks for an empty label), and `k in ()` is the same
//! as `k in ("")`. Whitespace (space, tab, CR, LF) separates tokens and is
//! otherwise ignored. Keys and values are validated like Kubernetes label
//! keys and values.
//!
//! # Error texts
//!
//! The error texts are those the kubectl 1.27–1.33 clients print, which
//! build on apimachinery v0.27–v0.34; all seven print the same texts. They
//! were checked against the real binaries (`tests/kubectl_selectors.rs`
//! keeps checking them against kubectl 1.33). apimachinery 1.35 reworded
//! some validation texts, which we do not follow: a key with several `/`
//! is "a qualified name …" here ("a valid label key …" in 1.35+), and
//! lengths are "must be no more than 63 characters" and "… 253 characters"
//! ("… bytes" in 1.35+). Lengths are counted in bytes either way.
//!
//! The parser mirrors upstream's token-by-token decisions (rather than a
//! cleaner grammar) because its error texts name the token it stopped at,
//! and clients show those texts verbatim.
//!
//! # Known difference
//!
//! Upstream sorts requirements by key with Go's unstable `sort.Sort`. Up to
//! 12 requirements that is an insertion sort, stable like ours; beyond that,
//! requirements sharing a key may print in another order than upstream's.
//! Which objects match is unaffected.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use super::{GoQuoted, Joined, Lookup};

/// How a [`Requirement`] relates a label to its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operator {
    /// `k in (a,b)`: the label exists and has one of the values.
    In,
    /// `k notin (a,b)`: the label is missing or has none of the values.
    NotIn,
    /// `k=v`: the label exists and equals the value.
    Equals,
    /// `k==v`: same meaning as `=`, but printed back as `==`.
    DoubleEquals,
    /// `k!=v`: the label is missing or differs from the value.
    NotEquals,
    /// `k`: the label exists.
    Exists,
    /// `!k`: the label is missing.
    DoesNotExist,
    /// `k>n`: the label is an integer greater than `n`.
    GreaterThan,
    /// `k<n`: the label is an integer less than `n`.
    LessThan,
}

impl Operator {
    /// The operator's name in apimachinery's `selection.Operator`
    /// (`in`, `notin`, `=`, `==`, `!=`, `exists`, `!`, `gt`, `lt`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::In => "in",
            Self::NotIn => "notin",
            Self::Equals => "=",
            Self::DoubleEquals => "==",
            Self::NotEquals => "!=",
            Self::Exists => "exists",
            Self::DoesNotExist => "!",
            Self::GreaterThan => "gt",
            Self::LessThan => "lt",
        }
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One condition of a label selector: a key, an operator and its values.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Requirement {
    key: String,
    operator: Operator,
    /// Sorted and free of duplicates; empty for `Exists`/`DoesNotExist`, one
    /// value for the exact-match and comparison operators.
    values: Vec<String>,
}

impl Requirement {
    /// The label key this requirement tests.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The operator.
    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// The values, sorted and without duplicates. Empty for
    /// [`Operator::Exists`] and [`Operator::DoesNotExist`].
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Whether the labels satisfy this requirement.
    pub fn matches<L: Lookup + ?Sized>(&self, labels: &L) -> bool {
        self.matches_value(labels.lookup(&self.key))
    }

    /// Decides on the label's value (`None`: the label is missing).
    fn matches_value(&self, label: Option<&str>) -> bool {
        match self.operator {
            Operator::In | Operator::Equals | Operator::DoubleEquals => {
                label.is_some_and(|value| self.has_value(value))
            }
            Operator::NotIn | Operator::NotEquals => {
                label.is_none_or(|value| !self.has_value(value))
            }
            Operator::Exists => label.is_some(),
            Operator::DoesNotExist => label.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                // A label that is not a base-10 int64 never compares, as upstream.
                let (Some(label), [bound]) = (label, self.values.as_slice()) else {
                    return false;
                };
                let (Ok(label), Ok(bound)) = (label.parse::<i64>(), bound.parse::<i64>()) else {
                    return false;
                };
                if self.operator == Operator::GreaterThan {
                    label > bound
                } else {
                    label < bound
                }
            }
        }
    }

    fn has_value(&self, value: &str) -> bool {
        self.values
            .binary_search_by(|candidate| candidate.as_str().cmp(value))
            .is_ok()
    }
}

/// Prints as apimachinery's `Requirement.String()`: `k=v`, `k==v`, `k!=v`,
/// `k in (a,b)`, `k notin (a,b)`, `k`, `!k`, `k>1`, `k<1`.
impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (separator, open, close) = match self.operator {
            Operator::Exists => return f.write_str(&self.key),
            Operator::DoesNotExist => return write!(f, "!{}", self.key),
            Operator::Equals => ("=", "", ""),
            Operator::DoubleEquals => ("==", "", ""),
            Operator::NotEquals => ("!=", "", ""),
            Operator::GreaterThan => (">", "", ""),
            Operator::LessThan => ("<", "", ""),
            Operator::In => (" in ", "(", ")"),
            Operator::NotIn => (" notin ", "(", ")"),
        };
        write!(
            f,
            "{}{separator}{open}{}{close}",
            self.key,
            Joined(&self.values, ",")
        )
    }
}

/// A parsed label selector: all requirements must hold.
///
/// The empty selector (from `""`) selects everything. Requirements are kept
/// sorted by key (those sharing a key in written order), so selectors that
/// differ only in the order of requirements on different keys compare equal
/// and print the same.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

impl LabelSelector {
    /// The selector that matches every object (what `""` parses to).
    pub fn everything() -> Self {
        Self::default()
    }

    /// Parses selector text with `labels.Parse`'s syntax, validation and
    /// error texts.
    pub fn parse(text: &str) -> Result<Self, LabelSelectorError> {
        let mut requirements = Parser::new(text).selector()?;
        // Upstream sorts by key only; a stable sort reproduces its order for
        // requirements sharing a key (see "Known difference" above).
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Self { requirements })
    }

    /// Whether this selector has no requirements and so matches everything.
    pub fn is_everything(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The requirements, sorted by key.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// Whether every requirement holds for these labels.
    pub fn matches<L: Lookup + ?Sized>(&self, labels: &L) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Like [`matches`](Self::matches), with labels looked up through a
    /// closure (`None`: no such label).
    pub fn matches_with<'a, F>(&self, lookup: F) -> bool
    where
        F: Fn(&str) -> Option<&'a str>,
    {
        self.requirements
            .iter()
            .all(|r| r.matches_value(lookup(&r.key)))
    }
}

impl FromStr for LabelSelector {
    type Err = LabelSelectorError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

/// Prints apimachinery's canonical `String()` form: requirements sorted by
/// key and joined by `,` without spaces. This is what kubectl sends as the
/// `labelSelector` query parameter.
impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Joined(&self.requirements, ",").fmt(f)
    }
}

/// Why selector text is not a valid label selector. The `Display` texts are
/// `labels.Parse`'s as kubectl 1.27–1.33 (apimachinery v0.27–v0.34) print
/// them after `error: `, byte for byte; an API server returns them as a
/// 400 Bad Request message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelSelectorError {
    /// A requirement cannot start with this token (`=v`, `(`, `,x`).
    #[error("found '{found}', expected: !, identifier, or 'end of string'")]
    ExpectedRequirement {
        /// The offending token as written (empty at the end of the text).
        found: String,
    },
    /// A comma is not followed by a requirement (`x,`, `x,,y`).
    #[error("found '{found}', expected: identifier after ','")]
    ExpectedRequirementAfterComma {
        /// The token after the comma (empty at the end of the text).
        found: String,
    },
    /// A complete requirement is followed by something other than a comma
    /// (`a=b=c`, `!x=a`, `a in (x)b`).
    #[error("found '{found}', expected: ',' or 'end of string'")]
    ExpectedCommaOrEnd {
        /// The token after the requirement.
        found: String,
    },
    /// Where a key belongs there is an operator or nothing (`!`, `!!x`).
    #[error("unable to parse requirement: found '{found}', expected: identifier")]
    ExpectedKey {
        /// The token found instead (empty at the end of the text).
        found: String,
    },
    /// The key is not a valid label key. Upstream reports the field path of
    /// a nil path here, hence the literal `<nil>`.
    #[error(
        "unable to parse requirement: <nil>: Invalid value: {}: {}",
        GoQuoted(key),
        Joined(problems, "; ")
    )]
    InvalidKey {
        /// The key as written.
        key: String,
        /// Every rule it breaks, in upstream's order.
        problems: Vec<KeyProblem>,
    },
    /// A key is followed by something that is not an operator (`x y`, `in (x)`).
    #[error("unable to parse requirement: found '{found}', expected: in, notin, =, ==, !=, gt, lt")]
    ExpectedOperator {
        /// The token found instead.
        found: String,
    },
    /// `in` or `notin` is not followed by `(` (`a in b`).
    #[error("unable to parse requirement: found '{found}' expected: '('")]
    ExpectedOpenParen {
        /// The token found instead (empty at the end of the text).
        found: String,
    },
    /// The token after `(` cannot start a value list (`a notin(`, `a in (=)`).
    #[error("unable to parse requirement: found '{found}', expected: ',', ')' or identifier")]
    ExpectedValueList {
        /// The token found instead (empty at the end of the text).
        found: String,
    },
    /// A value in a list is not followed by `,` or `)` (`a in (x y)`).
    #[error("unable to parse requirement: found '{found}', expected: ',' or ')'")]
    ExpectedCommaOrCloseParen {
        /// The token found instead (empty at the end of the text).
        found: String,
    },
    /// A value list continues with something that is not a value or a comma
    /// (`a in (x,`, `a in (x,=)`).
    #[error("unable to parse requirement: found '{found}', expected: ',', or identifier")]
    ExpectedValueOrComma {
        /// The token found instead (empty at the end of the text).
        found: String,
    },
    /// An exact-match or comparison operator is followed by an operator
    /// (`x=(`, `x>=1`). Same text as [`ExpectedKey`](Self::ExpectedKey).
    #[error("unable to parse requirement: found '{found}', expected: identifier")]
    ExpectedValue {
        /// The token found instead.
        found: String,
    },
    /// One or more values are invalid label values, or not integers for
    /// `>`/`<`. Several problems print as upstream's aggregate: `[a, b]`.
    #[error("unable to parse requirement: {}", Aggregate(problems))]
    InvalidValues {
        /// The problems, in upstream's order (integer checks first).
        problems: Vec<ValueProblem>,
    },
}

/// A rule of Kubernetes label keys (`[prefix/]name`) that a key breaks.
/// `Display` gives the text `IsQualifiedName` reports in apimachinery
/// v0.27–v0.34, as kubectl 1.27–1.33 print it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyProblem {
    /// The key has more than one `/`.
    #[error(
        "a qualified name {NAME_RULE} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
    )]
    TooManySlashes,
    /// The part before `/` is empty.
    #[error("prefix part must be non-empty")]
    EmptyPrefix,
    /// The prefix is longer than 253 bytes. (The text says "characters",
    /// but upstream measures bytes, as Go's `len` does.)
    #[error("prefix part must be no more than 253 characters")]
    PrefixTooLong,
    /// The prefix is not a lowercase RFC 1123 subdomain.
    #[error("prefix part {SUBDOMAIN_RULE}")]
    PrefixNotSubdomain,
    /// The name (after any prefix) is empty.
    #[error("name part must be non-empty")]
    EmptyName,
    /// The name is longer than 63 bytes. (The text says "characters", but
    /// upstream measures bytes, as Go's `len` does.)
    #[error("name part must be no more than 63 characters")]
    NameTooLong,
    /// The name has characters other than `[-A-Za-z0-9_.]`, or does not
    /// start and end with an alphanumeric character.
    #[error("name part {NAME_RULE}")]
    NameCharacters,
}

/// A rule of Kubernetes label values that a value breaks. `Display` gives
/// the text `IsValidLabelValue` reports in apimachinery v0.27–v0.34, as
/// kubectl 1.27–1.33 print it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelValueProblem {
    /// Longer than 63 bytes. (The text says "characters", but upstream
    /// measures bytes, as Go's `len` does.)
    #[error("must be no more than 63 characters")]
    TooLong,
    /// Characters outside `[-A-Za-z0-9_.]`, or a non-alphanumeric first or
    /// last character.
    #[error("{VALUE_RULE}")]
    Characters,
}

/// Something wrong with one value of a requirement. `Display` gives the
/// `field.Error` text upstream builds for it, including the field path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueProblem {
    /// A `>` or `<` bound is not a base-10 int64.
    #[error(
        "values[{index}]: Invalid value: {}: for 'Gt', 'Lt' operators, the value must be an integer",
        GoQuoted(value)
    )]
    NotAnInteger {
        /// Position of the value among the sorted values.
        index: usize,
        /// The value as written.
        value: String,
    },
    /// The value is not a valid label value.
    #[error(
        "values[{index}][{key}]: Invalid value: {}: {}",
        GoQuoted(value),
        Joined(problems, "; ")
    )]
    InvalidLabelValue {
        /// Position of the value among the sorted values.
        index: usize,
        /// The requirement's key.
        key: String,
        /// The value as written.
        value: String,
        /// Every rule it breaks.
        problems: Vec<LabelValueProblem>,
    },
}

/// The regex messages upstream builds with `RegexError`, examples and all
/// (the doubled spaces are upstream's).
const NAME_RULE: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const SUBDOMAIN_RULE: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const VALUE_RULE: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

/// Prints value problems as `utilerrors.Aggregate` does: one alone, several
/// as `[a, b]`.
struct Aggregate<'a>(&'a [ValueProblem]);

impl fmt::Display for Aggregate<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            [one] => one.fmt(f),
            many => write!(f, "[{}]", Joined(many, ", ")),
        }
    }
}

/// Every rule of Kubernetes label keys that `key` breaks, in the order
/// apimachinery's `IsQualifiedName` (v0.27–v0.34) reports them; empty when
/// the key is valid.
pub fn label_key_problems(key: &str) -> Vec<KeyProblem> {
    let mut problems = Vec::new();
    let name = match key.split_once('/') {
        None => key,
        Some((_, rest)) if rest.contains('/') => return vec![KeyProblem::TooManySlashes],
        Some((prefix, name)) => {
            if prefix.is_empty() {
                problems.push(KeyProblem::EmptyPrefix);
            } else {
                if prefix.len() > 253 {
                    problems.push(KeyProblem::PrefixTooLong);
                }
                if !is_dns_subdomain(prefix) {
                    problems.push(KeyProblem::PrefixNotSubdomain);
                }
            }
            name
        }
    };
    if name.is_empty() {
        problems.push(KeyProblem::EmptyName);
    } else if name.len() > 63 {
        problems.push(KeyProblem::NameTooLong);
    }
    if !is_qualified_name(name) {
        problems.push(KeyProblem::NameCharacters);
    }
    problems
}

/// Every rule of Kubernetes label values that `value` breaks, in the order
/// apimachinery's `IsValidLabelValue` reports them; empty when the value is
/// valid (the empty string is valid).
pub fn label_value_problems(value: &str) -> Vec<LabelValueProblem> {
    let mut problems = Vec::new();
    if value.len() > 63 {
        problems.push(LabelValueProblem::TooLong);
    }
    if !value.is_empty() && !is_qualified_name(value) {
        problems.push(LabelValueProblem::Characters);
    }
    problems
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, whole string.
fn is_qualified_name(text: &str) -> bool {
    let bytes = text.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*`,
/// whole string (length is checked separately).
fn is_dns_subdomain(text: &str) -> bool {
    let is_end = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    text.split('.').all(|label| {
        let bytes = label.as_bytes();
        match (bytes.first(), bytes.last()) {
            (Some(first), Some(last)) => {
                is_end(first) && is_end(last) && bytes.iter().all(|b| is_end(b) || *b == b'-')
            }
            _ => false,
        }
    })
}

/// A lexical token. Keywords are only keywords where an operator may stand;
/// elsewhere the parser reads `in` and `notin` as words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token<'a> {
    End,
    OpenParen,
    CloseParen,
    Comma,
    Bang,
    Equals,
    DoubleEquals,
    NotEquals,
    Greater,
    Less,
    In,
    NotIn,
    Word(&'a str),
}

impl<'a> Token<'a> {
    /// The text upstream quotes in its "found '…'" messages.
    fn literal(self) -> &'a str {
        match self {
            Self::End => "",
            Self::OpenParen => "(",
            Self::CloseParen => ")",
            Self::Comma => ",",
            Self::Bang => "!",
            Self::Equals => "=",
            Self::DoubleEquals => "==",
            Self::NotEquals => "!=",
            Self::Greater => ">",
            Self::Less => "<",
            Self::In => "in",
            Self::NotIn => "notin",
            Self::Word(word) => word,
        }
    }

    /// The token as read where a key or value is expected.
    fn as_word(self) -> Self {
        match self {
            Self::In | Self::NotIn => Self::Word(self.literal()),
            other => other,
        }
    }
}

fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_operator_char(b: u8) -> bool {
    matches!(b, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

/// Splits selector text into tokens.
///
/// Upstream's lexer reads a NUL byte as the end of the text: a NUL where a
/// token could start ends the selector, and a NUL right after a token is
/// swallowed. We reproduce that so the same input is accepted either way.
struct Lexer<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn next_token(&mut self) -> Token<'a> {
        loop {
            match self.text.as_bytes().get(self.pos) {
                None => return Token::End,
                Some(0) => {
                    self.pos += 1;
                    return Token::End;
                }
                Some(&b) if is_whitespace(b) => self.pos += 1,
                Some(&b) if is_operator_char(b) => return self.operator(b),
                Some(_) => return self.word(),
            }
        }
    }

    /// Longest operator starting with `first` (the byte at the cursor):
    /// `==` and `!=` are the only two-byte ones.
    fn operator(&mut self, first: u8) -> Token<'a> {
        self.pos += 1;
        let mut token = match first {
            b'(' => Token::OpenParen,
            b')' => Token::CloseParen,
            b',' => Token::Comma,
            b'>' => Token::Greater,
            b'<' => Token::Less,
            b'=' => Token::Equals,
            _ => Token::Bang,
        };
        loop {
            match self.text.as_bytes().get(self.pos) {
                // Upstream swallows a NUL right after an operator.
                Some(0) => {
                    self.pos += 1;
                    return token;
                }
                Some(b'=') if matches!(token, Token::Equals | Token::Bang) => {
                    self.pos += 1;
                    token = if token == Token::Equals {
                        Token::DoubleEquals
                    } else {
                        Token::NotEquals
                    };
                }
                _ => return token,
            }
        }
    }

    /// A run of bytes up to whitespace, an operator character, NUL or the end.
    fn word(&mut self) -> Token<'a> {
        let bytes = self.text.as_bytes();
        let start = self.pos;
        let mut end = start;
        while let Some(&b) = bytes.get(end) {
            if b == 0 || is_whitespace(b) || is_operator_char(b) {
                break;
            }
            end += 1;
        }
        // Upstream swallows a NUL that ends a word.
        self.pos = if bytes.get(end) == Some(&0) {
            end + 1
        } else {
            end
        };
        // Both bounds sit next to ASCII bytes or the ends, so they are char
        // boundaries and `get` cannot fail.
        let word = self.text.get(start..end).unwrap_or_default();
        match word {
            "in" => Token::In,
            "notin" => Token::NotIn,
            _ => Token::Word(word),
        }
    }
}

/// Recursive-descent parser over the whole token list (upstream scans
/// everything first; a lookahead past the end keeps returning `End`).
struct Parser<'a> {
    tokens: Vec<Token<'a>>,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        let mut lexer = Lexer { text, pos: 0 };
        let mut tokens = Vec::new();
        loop {
            let token = lexer.next_token();
            tokens.push(token);
            if token == Token::End {
                break;
            }
        }
        Self { tokens, pos: 0 }
    }

    /// The next token as a word-or-symbol, without consuming it.
    fn peek(&self) -> Token<'a> {
        self.tokens
            .get(self.pos)
            .copied()
            .unwrap_or(Token::End)
            .as_word()
    }

    /// Consumes the next token, keywords included.
    fn bump_raw(&mut self) -> Token<'a> {
        let token = self.tokens.get(self.pos).copied().unwrap_or(Token::End);
        self.pos += 1;
        token
    }

    /// Consumes the next token as a word-or-symbol.
    fn bump(&mut self) -> Token<'a> {
        self.bump_raw().as_word()
    }

    fn selector(mut self) -> Result<Vec<Requirement>, LabelSelectorError> {
        let mut requirements = Vec::new();
        loop {
            match self.peek() {
                Token::Word(_) | Token::Bang => {}
                Token::End => return Ok(requirements),
                other => {
                    return Err(LabelSelectorError::ExpectedRequirement {
                        found: other.literal().to_owned(),
                    });
                }
            }
            requirements.push(self.requirement()?);
            match self.bump() {
                Token::End => return Ok(requirements),
                Token::Comma => match self.peek() {
                    Token::Word(_) | Token::Bang => {}
                    other => {
                        return Err(LabelSelectorError::ExpectedRequirementAfterComma {
                            found: other.literal().to_owned(),
                        });
                    }
                },
                other => {
                    return Err(LabelSelectorError::ExpectedCommaOrEnd {
                        found: other.literal().to_owned(),
                    });
                }
            }
        }
    }

    fn requirement(&mut self) -> Result<Requirement, LabelSelectorError> {
        let mut token = self.bump();
        let negated = token == Token::Bang;
        if negated {
            token = self.bump();
        }
        let Token::Word(key) = token else {
            return Err(LabelSelectorError::ExpectedKey {
                found: token.literal().to_owned(),
            });
        };
        let problems = label_key_problems(key);
        if !problems.is_empty() {
            return Err(LabelSelectorError::InvalidKey {
                key: key.to_owned(),
                problems,
            });
        }
        // `!k` is complete whatever follows; the caller rejects leftovers.
        if negated {
            return Ok(unary(key, Operator::DoesNotExist));
        }
        if matches!(self.peek(), Token::End | Token::Comma) {
            return Ok(unary(key, Operator::Exists));
        }
        let operator = match self.bump_raw() {
            Token::In => Operator::In,
            Token::NotIn => Operator::NotIn,
            Token::Equals => Operator::Equals,
            Token::DoubleEquals => Operator::DoubleEquals,
            Token::NotEquals => Operator::NotEquals,
            Token::Greater => Operator::GreaterThan,
            Token::Less => Operator::LessThan,
            other => {
                return Err(LabelSelectorError::ExpectedOperator {
                    found: other.literal().to_owned(),
                });
            }
        };
        let values = match operator {
            Operator::In | Operator::NotIn => self.value_set()?,
            _ => BTreeSet::from([self.exact_value()?]),
        };
        binary(key, operator, values)
    }

    /// `( … )` after `in`/`notin`.
    fn value_set(&mut self) -> Result<BTreeSet<&'a str>, LabelSelectorError> {
        let token = self.bump();
        if token != Token::OpenParen {
            return Err(LabelSelectorError::ExpectedOpenParen {
                found: token.literal().to_owned(),
            });
        }
        match self.peek() {
            Token::Word(_) | Token::Comma => {
                let values = self.value_list()?;
                // `value_list` only succeeds in front of the closing parenthesis.
                self.bump();
                Ok(values)
            }
            Token::CloseParen => {
                self.bump();
                Ok(BTreeSet::from([""]))
            }
            other => Err(LabelSelectorError::ExpectedValueList {
                found: other.literal().to_owned(),
            }),
        }
    }

    /// Comma-separated, possibly empty values up to (not including) `)`.
    /// A comma with nothing on one side stands for an empty value.
    fn value_list(&mut self) -> Result<BTreeSet<&'a str>, LabelSelectorError> {
        let mut values = BTreeSet::new();
        loop {
            match self.bump() {
                Token::Word(value) => {
                    values.insert(value);
                    match self.peek() {
                        Token::Comma => {}
                        Token::CloseParen => return Ok(values),
                        other => {
                            return Err(LabelSelectorError::ExpectedCommaOrCloseParen {
                                found: other.literal().to_owned(),
                            });
                        }
                    }
                }
                Token::Comma => {
                    if values.is_empty() {
                        values.insert("");
                    }
                    match self.peek() {
                        Token::CloseParen => {
                            values.insert("");
                            return Ok(values);
                        }
                        Token::Comma => {
                            values.insert("");
                        }
                        _ => {}
                    }
                }
                other => {
                    return Err(LabelSelectorError::ExpectedValueOrComma {
                        found: other.literal().to_owned(),
                    });
                }
            }
        }
    }

    /// The value after `=`, `==`, `!=`, `>` or `<`; nothing means "".
    fn exact_value(&mut self) -> Result<&'a str, LabelSelectorError> {
        if matches!(self.peek(), Token::End | Token::Comma) {
            return Ok("");
        }
        match self.bump() {
            Token::Word(value) => Ok(value),
            other => Err(LabelSelectorError::ExpectedValue {
                found: other.literal().to_owned(),
            }),
        }
    }
}

fn unary(key: &str, operator: Operator) -> Requirement {
    Requirement {
        key: key.to_owned(),
        operator,
        values: Vec::new(),
    }
}

/// Builds a requirement with values, checking them as upstream's
/// `NewRequirement` does (the key was checked by the parser already).
fn binary(
    key: &str,
    operator: Operator,
    values: BTreeSet<&str>,
) -> Result<Requirement, LabelSelectorError> {
    let mut problems = Vec::new();
    if matches!(operator, Operator::GreaterThan | Operator::LessThan) {
        for (index, value) in values.iter().enumerate() {
            if value.parse::<i64>().is_err() {
                problems.push(ValueProblem::NotAnInteger {
                    index,
                    value: (*value).to_owned(),
                });
            }
        }
    }
    for (index, value) in values.iter().enumerate() {
        let value_problems = label_value_problems(value);
        if !value_problems.is_empty() {
            problems.push(ValueProblem::InvalidLabelValue {
                index,
                key: key.to_owned(),
                value: (*value).to_owned(),
                problems: value_problems,
            });
        }
    }
    if !problems.is_empty() {
        return Err(LabelSelectorError::InvalidValues { problems });
    }
    Ok(Requirement {
        key: key.to_owned(),
        operator,
        values: values.into_iter().map(str::to_owned).collect(),
    })
}
