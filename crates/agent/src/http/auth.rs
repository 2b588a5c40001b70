//! Bearer-token authentication: the token file and the request check.
//!
//! One static token, as metrics-server or Prometheus can send from a file.
//! The comparison takes the same time wherever the first differing byte is,
//! so response timing does not reveal how much of a guess was right.

use std::path::Path;

use axum::http::HeaderValue;

use super::StartError;

/// The token every request (except `/healthz`) must carry.
pub(crate) struct Token(Vec<u8>);

// Never print the secret, not even in debug logs.
impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl Token {
    /// Reads the token file: one token, surrounding whitespace (the usual
    /// trailing newline) ignored.
    pub(crate) fn load(path: &Path) -> Result<Self, StartError> {
        let bytes = std::fs::read(path).map_err(|source| StartError::TokenFileRead {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&bytes).map_err(|problem| StartError::TokenFileInvalid {
            path: path.to_owned(),
            problem,
        })
    }

    fn parse(bytes: &[u8]) -> Result<Self, &'static str> {
        let token = bytes.trim_ascii();
        if token.is_empty() {
            return Err("is empty");
        }
        // What can follow `Bearer ` in a header: visible ASCII, no spaces.
        if !token.iter().all(|b| b.is_ascii_graphic()) {
            return Err("holds whitespace, control or non-ASCII characters inside the token");
        }
        Ok(Self(token.to_vec()))
    }

    /// Whether an `Authorization` header carries this token.
    ///
    /// As the Kubernetes bearer-token authenticator: the scheme is
    /// case-insensitive, and exactly one token follows it.
    pub(crate) fn admits(&self, header: Option<&HeaderValue>) -> bool {
        let Some(header) = header else {
            return false;
        };
        let mut words = header
            .as_bytes()
            .split(u8::is_ascii_whitespace)
            .filter(|word| !word.is_empty());
        let (Some(scheme), Some(given), None) = (words.next(), words.next(), words.next()) else {
            return false;
        };
        scheme.eq_ignore_ascii_case(b"bearer") && constant_time_eq(&self.0, given)
    }
}

/// Compares without an early exit: the time depends only on the expected
/// token's length, never on where the given one differs.
fn constant_time_eq(expected: &[u8], given: &[u8]) -> bool {
    let mut difference = u8::from(expected.len() != given.len());
    for (index, &byte) in expected.iter().enumerate() {
        let other = given.get(index).copied().unwrap_or(0);
        difference |= std::hint::black_box(byte ^ other);
    }
    std::hint::black_box(difference) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(text: &str) -> HeaderValue {
        HeaderValue::from_str(text).unwrap()
    }

    #[test]
    fn the_file_holds_one_visible_token() {
        assert_eq!(Token::parse(b"s3cret\n").unwrap().0, b"s3cret");
        assert_eq!(Token::parse(b"  \n").unwrap_err(), "is empty");
        assert!(Token::parse(b"two words").is_err());
        assert!(Token::parse("caf\u{e9}".as_bytes()).is_err());
    }

    #[test]
    fn only_the_exact_bearer_token_is_admitted() {
        let token = Token::parse(b"s3cret").unwrap();
        assert!(token.admits(Some(&header("Bearer s3cret"))));
        assert!(token.admits(Some(&header("bearer   s3cret"))));
        assert!(!token.admits(None));
        assert!(!token.admits(Some(&header("Bearer s3cre"))));
        assert!(!token.admits(Some(&header("Bearer s3cret2"))));
        assert!(!token.admits(Some(&header("Bearer"))));
        assert!(!token.admits(Some(&header("Basic s3cret"))));
        assert!(!token.admits(Some(&header("Bearer s3cret extra"))));
        assert!(!token.admits(Some(&header("s3cret"))));
    }

    #[test]
    fn comparison_is_exact() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"abc", b"abc\0"));
        assert!(!constant_time_eq(b"", b"x"));
    }
}
