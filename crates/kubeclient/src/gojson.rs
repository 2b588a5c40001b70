//! Go's `encoding/json` syntax errors, for answers that are not JSON.
//!
//! kubectl prints the decoder's error when a server answers garbage with a
//! JSON content type (`invalid character 'o' in literal null (expecting
//! 'u')`, `unexpected end of JSON input`, …). Go checks the whole input for
//! syntax before decoding anything, so the first syntax error by position
//! is the message; this is a validator that finds it and words it as Go's
//! scanner does.

/// Go's message for the first syntax error in `data`, or `None` when `data`
/// is one valid JSON value (surrounded by optional whitespace).
pub fn syntax_error(data: &[u8]) -> Option<String> {
    let mut scanner = Scanner { data, at: 0 };
    match scanner.document() {
        Ok(()) => None,
        Err(error) => Some(error.to_string()),
    }
}

/// Go's name for the kind of a document's value when it is not an object
/// (`array`, `string`, `number`, `bool`): what a decode into a struct
/// refuses. `None` for an object, `null` (which Go decodes as nothing) and
/// an empty document. Only meaningful for a document without syntax errors.
pub fn non_object_kind(data: &[u8]) -> Option<&'static str> {
    let first = data
        .iter()
        .find(|byte| !matches!(byte, b' ' | b'\t' | b'\n' | b'\r'))?;
    match first {
        b'[' => Some("array"),
        b'"' => Some("string"),
        b't' | b'f' => Some("bool"),
        b'-' | b'0'..=b'9' => Some("number"),
        _ => None,
    }
}

/// A syntax error as Go's scanner reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SyntaxError {
    /// The input ended inside a value.
    End,
    /// Byte `found` where the context (`what`) does not allow it.
    Invalid { found: u8, what: String },
}

impl std::fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::End => f.write_str("unexpected end of JSON input"),
            Self::Invalid { found, what } => {
                write!(f, "invalid character {} {what}", quote_char(*found))
            }
        }
    }
}

struct Scanner<'a> {
    data: &'a [u8],
    at: usize,
}

type Scan = Result<(), SyntaxError>;

fn invalid(found: u8, what: &str) -> SyntaxError {
    SyntaxError::Invalid {
        found,
        what: what.to_owned(),
    }
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.data.get(self.at).copied()
    }

    fn next(&mut self) -> Result<u8, SyntaxError> {
        let byte = self.peek().ok_or(SyntaxError::End)?;
        self.at += 1;
        Ok(byte)
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn document(&mut self) -> Scan {
        self.value()?;
        self.skip_space();
        match self.peek() {
            None => Ok(()),
            Some(byte) => Err(invalid(byte, "after top-level value")),
        }
    }

    fn value(&mut self) -> Scan {
        self.skip_space();
        match self.next()? {
            b'{' => self.object(),
            b'[' => self.array(),
            b'"' => self.string(),
            b't' => self.literal(b"rue", "true"),
            b'f' => self.literal(b"alse", "false"),
            b'n' => self.literal(b"ull", "null"),
            b'-' => {
                let byte = self.next()?;
                if !byte.is_ascii_digit() {
                    return Err(invalid(byte, "in numeric literal"));
                }
                self.number(byte)
            }
            byte @ b'0'..=b'9' => self.number(byte),
            byte => Err(invalid(byte, "looking for beginning of value")),
        }
    }

    fn literal(&mut self, rest: &[u8], name: &str) -> Scan {
        for &expected in rest {
            let byte = self.next()?;
            if byte != expected {
                return Err(invalid(
                    byte,
                    &format!("in literal {name} (expecting {})", quote_char(expected)),
                ));
            }
        }
        Ok(())
    }

    /// The rest of a number whose first digit was `first`. Like Go's
    /// scanner, a number ends at the first byte that cannot continue it;
    /// what follows is judged by the enclosing context.
    fn number(&mut self, first: u8) -> Scan {
        if first != b'0' {
            self.digits();
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            let byte = self.next()?;
            if !byte.is_ascii_digit() {
                return Err(invalid(byte, "after decimal point in numeric literal"));
            }
            self.digits();
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            let mut byte = self.next()?;
            if byte == b'+' || byte == b'-' {
                byte = self.next()?;
            }
            if !byte.is_ascii_digit() {
                return Err(invalid(byte, "in exponent of numeric literal"));
            }
            self.digits();
        }
        // The input ending right after a number is fine at the top level
        // only; the enclosing context reports it otherwise.
        Ok(())
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
    }

    fn string(&mut self) -> Scan {
        loop {
            match self.next()? {
                b'"' => return Ok(()),
                b'\\' => match self.next()? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                    b'u' => {
                        for _ in 0..4 {
                            let byte = self.next()?;
                            if !byte.is_ascii_hexdigit() {
                                return Err(invalid(byte, "in \\u hexadecimal character escape"));
                            }
                        }
                    }
                    byte => return Err(invalid(byte, "in string escape code")),
                },
                byte if byte < 0x20 => return Err(invalid(byte, "in string literal")),
                _ => {}
            }
        }
    }

    fn object(&mut self) -> Scan {
        self.skip_space();
        match self.next()? {
            b'}' => return Ok(()),
            b'"' => {}
            byte => return Err(invalid(byte, "looking for beginning of object key string")),
        }
        loop {
            self.string()?;
            self.skip_space();
            match self.next()? {
                b':' => {}
                byte => return Err(invalid(byte, "after object key")),
            }
            self.value()?;
            self.skip_space();
            match self.next()? {
                b',' => {}
                b'}' => return Ok(()),
                byte => return Err(invalid(byte, "after object key:value pair")),
            }
            self.skip_space();
            match self.next()? {
                b'"' => {}
                byte => return Err(invalid(byte, "looking for beginning of object key string")),
            }
        }
    }

    fn array(&mut self) -> Scan {
        self.skip_space();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(());
        }
        loop {
            self.value()?;
            self.skip_space();
            match self.next()? {
                b',' => {}
                b']' => return Ok(()),
                byte => return Err(invalid(byte, "after array element")),
            }
        }
    }
}

/// Go's `quoteChar`: the byte as a Go-quoted character in single quotes.
/// A byte of 0x80 or more stands for the Latin-1 character of that code, as
/// Go's `string(rune(c))` makes it.
fn quote_char(byte: u8) -> String {
    match byte {
        b'\'' => r"'\''".to_owned(),
        b'"' => "'\"'".to_owned(),
        _ => {
            let c = char::from(byte);
            let inner = match c {
                '\x07' => r"\a".to_owned(),
                '\x08' => r"\b".to_owned(),
                '\x0c' => r"\f".to_owned(),
                '\n' => r"\n".to_owned(),
                '\r' => r"\r".to_owned(),
                '\t' => r"\t".to_owned(),
                '\x0b' => r"\v".to_owned(),
                '\\' => r"\\".to_owned(),
                c if (c as u32) < 0x20 || c as u32 == 0x7f => format!("\\x{:02x}", c as u32),
                // Latin-1 controls, no-break space and soft hyphen are not
                // printable for Go's strconv.
                c if (0x80..=0xa0).contains(&(c as u32)) || c as u32 == 0xad => {
                    format!("\\u{:04x}", c as u32)
                }
                c => c.to_string(),
            };
            format!("'{inner}'")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn error(text: &str) -> String {
        syntax_error(text.as_bytes()).unwrap_or_else(|| panic!("{text:?} is valid"))
    }

    #[test]
    fn valid_documents_have_no_error() {
        for text in [
            "{}",
            " [ ] ",
            r#"{"a": [1, -2.5e+3, "x\u00e9\n", true, false, null, {}]}"#,
            "0",
            "-0.1E5",
            "\"\"",
        ] {
            assert_eq!(syntax_error(text.as_bytes()), None, "{text}");
        }
    }

    // Expected texts are what Go 1.24's json.Unmarshal returns.
    #[test]
    fn errors_read_like_gos_scanner() {
        assert_eq!(
            error("not json"),
            "invalid character 'o' in literal null (expecting 'u')"
        );
        assert_eq!(error(""), "unexpected end of JSON input");
        assert_eq!(error("   "), "unexpected end of JSON input");
        assert_eq!(error("{\"a\":"), "unexpected end of JSON input");
        assert_eq!(
            error("hello"),
            "invalid character 'h' looking for beginning of value"
        );
        assert_eq!(
            error("<html>"),
            "invalid character '<' looking for beginning of value"
        );
        assert_eq!(
            error("{a:1}"),
            "invalid character 'a' looking for beginning of object key string"
        );
        assert_eq!(error("{\"a\" 1}"), "invalid character '1' after object key");
        assert_eq!(
            error("{\"a\":1 \"b\"}"),
            "invalid character '\"' after object key:value pair"
        );
        assert_eq!(error("[1 2]"), "invalid character '2' after array element");
        assert_eq!(error("{} x"), "invalid character 'x' after top-level value");
        assert_eq!(error("01"), "invalid character '1' after top-level value");
        assert_eq!(error("-x"), "invalid character 'x' in numeric literal");
        assert_eq!(
            error("1.x"),
            "invalid character 'x' after decimal point in numeric literal"
        );
        assert_eq!(
            error("1ex"),
            "invalid character 'x' in exponent of numeric literal"
        );
        assert_eq!(
            error("\"\\x\""),
            "invalid character 'x' in string escape code"
        );
        assert_eq!(
            error("\"\\u12g4\""),
            "invalid character 'g' in \\u hexadecimal character escape"
        );
        assert_eq!(
            error("\"a\nb\""),
            "invalid character '\\n' in string literal"
        );
        assert_eq!(
            error("tru!"),
            "invalid character '!' in literal true (expecting 'e')"
        );
        assert_eq!(
            error("[,]"),
            "invalid character ',' looking for beginning of value"
        );
        assert_eq!(
            error("{\"a\":1,}"),
            "invalid character '}' looking for beginning of object key string"
        );
    }

    #[test]
    fn characters_are_quoted_as_go_quotes_them() {
        assert_eq!(quote_char(b'\''), r"'\''");
        assert_eq!(quote_char(b'"'), "'\"'");
        assert_eq!(quote_char(0), r"'\x00'");
        assert_eq!(quote_char(0x7f), r"'\x7f'");
        assert_eq!(quote_char(0xe9), "'é'");
        assert_eq!(quote_char(0x85), r"'\u0085'");
        assert_eq!(quote_char(b'\\'), r"'\\'");
    }
}
