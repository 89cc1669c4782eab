//! OTTL tokens: one pass over the statement text, each token tagged with its byte offset so
//! the parser and the type checker can name the column of a mistake.

use super::CompileError;

/// One token.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// An identifier: a path segment, a function name, an enum or a keyword.
    Ident(String),
    /// A double-quoted string, escapes resolved.
    Str(String),
    /// An integer literal.
    Int(i64),
    /// A floating-point literal.
    Float(f64),
    /// A `0x…` bytes literal.
    Bytes(Vec<u8>),
    /// One of `( ) [ ] { } , . : = + - * /`.
    Punct(char),
    /// A comparison operator.
    Cmp(CmpOp),
}

/// Comparison operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// A token and where it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Spanned {
    /// The token.
    pub tok: Tok,
    /// Byte offset in the statement.
    pub at: usize,
}

/// The tokens of `text`.
pub fn tokens(text: &str) -> Result<Vec<Spanned>, CompileError> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let at = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let tok = if c.is_ascii_alphabetic() || c == b'_' {
            let end = scan(bytes, i, |b| b.is_ascii_alphanumeric() || b == b'_');
            let word = &text[i..end];
            i = end;
            Tok::Ident(word.to_owned())
        } else if c == b'"' {
            let (s, end) = string(text, i)?;
            i = end;
            Tok::Str(s)
        } else if c == b'0' && bytes.get(i + 1).is_some_and(|b| *b == b'x' || *b == b'X') {
            let end = scan(bytes, i + 2, |b| b.is_ascii_hexdigit());
            let digits = &text[i + 2..end];
            i = end;
            Tok::Bytes(hex_bytes(digits).ok_or_else(|| {
                CompileError::at(at, "a bytes literal needs an even number of hex digits")
            })?)
        } else if c.is_ascii_digit() {
            let (tok, end) = number(text, i)?;
            i = end;
            tok
        } else {
            let (tok, len) = operator(bytes, i).ok_or_else(|| {
                CompileError::at(
                    at,
                    format!(
                        "unexpected character {:?}",
                        text[i..].chars().next().unwrap_or(' ')
                    ),
                )
            })?;
            i += len;
            tok
        };
        out.push(Spanned { tok, at });
    }
    Ok(out)
}

fn scan(bytes: &[u8], mut i: usize, keep: impl Fn(u8) -> bool) -> usize {
    while i < bytes.len() && keep(bytes[i]) {
        i += 1;
    }
    i
}

fn operator(bytes: &[u8], i: usize) -> Option<(Tok, usize)> {
    let next = bytes.get(i + 1).copied();
    let two = |op| Some((Tok::Cmp(op), 2));
    match (bytes[i], next) {
        (b'=', Some(b'=')) => two(CmpOp::Eq),
        (b'!', Some(b'=')) => two(CmpOp::Ne),
        (b'<', Some(b'=')) => two(CmpOp::Le),
        (b'>', Some(b'=')) => two(CmpOp::Ge),
        (b'<', _) => Some((Tok::Cmp(CmpOp::Lt), 1)),
        (b'>', _) => Some((Tok::Cmp(CmpOp::Gt), 1)),
        (
            c @ (b'(' | b')' | b'[' | b']' | b'{' | b'}' | b',' | b'.' | b':' | b'=' | b'+' | b'-'
            | b'*' | b'/'),
            _,
        ) => Some((Tok::Punct(char::from(c)), 1)),
        _ => None,
    }
}

/// A quoted string from `start` (the opening quote); returns it and the offset after it.
fn string(text: &str, start: usize) -> Result<(String, usize), CompileError> {
    let mut out = String::new();
    let mut chars = text[start + 1..].char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, start + 1 + i + 1)),
            '\\' => match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((_, 'r')) => out.push('\r'),
                Some((_, e)) => {
                    // Other escapes keep their backslash, so regex escapes like `\.` pass
                    // through to the pattern as written.
                    if e != '"' && e != '\\' {
                        out.push('\\');
                    }
                    out.push(e);
                }
                None => break,
            },
            c => out.push(c),
        }
    }
    Err(CompileError::at(start, "unterminated string"))
}

fn number(text: &str, start: usize) -> Result<(Tok, usize), CompileError> {
    let bytes = text.as_bytes();
    let mut end = scan(bytes, start, |b| b.is_ascii_digit());
    let mut float = false;
    if bytes.get(end) == Some(&b'.') && bytes.get(end + 1).is_some_and(u8::is_ascii_digit) {
        float = true;
        end = scan(bytes, end + 1, |b| b.is_ascii_digit());
    }
    let digits = &text[start..end];
    let tok = if float {
        digits.parse().map(Tok::Float).ok()
    } else {
        digits.parse().map(Tok::Int).ok()
    };
    tok.map(|t| (t, end))
        .ok_or_else(|| CompileError::at(start, format!("number {digits} is out of range")))
}

/// Bytes from hex digits, or `None` for an odd count.
pub fn hex_bytes(digits: &str) -> Option<Vec<u8>> {
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(digits.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_statement_splits_into_its_tokens() {
        let toks: Vec<Tok> = tokens(r#"set(attributes["a\"b"], 0x0aFF) where x >= -1.5"#)
            .unwrap()
            .into_iter()
            .map(|s| s.tok)
            .collect();
        assert_eq!(
            toks,
            vec![
                Tok::Ident("set".into()),
                Tok::Punct('('),
                Tok::Ident("attributes".into()),
                Tok::Punct('['),
                Tok::Str("a\"b".into()),
                Tok::Punct(']'),
                Tok::Punct(','),
                Tok::Bytes(vec![0x0a, 0xff]),
                Tok::Punct(')'),
                Tok::Ident("where".into()),
                Tok::Ident("x".into()),
                Tok::Cmp(CmpOp::Ge),
                Tok::Punct('-'),
                Tok::Float(1.5),
            ]
        );
    }

    #[test]
    fn bad_input_names_its_offset() {
        assert_eq!(tokens("a == \"x").unwrap_err().at, 5);
        assert_eq!(tokens("a ~ b").unwrap_err().at, 2);
        assert_eq!(tokens("0xabc").unwrap_err().at, 0);
    }
}
