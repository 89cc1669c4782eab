//! Glob patterns of `replace_match` / `replace_all_matches`, compiled to an anchored regex:
//! `*` any text, `?` one character, `[abc]` `[a-z]` `[!abc]` classes, `{a,b}` alternatives,
//! `\` escapes the next character.

use regex::Regex;

/// The regex that matches exactly what `glob` matches.
pub fn compile(glob: &str) -> Result<Regex, String> {
    let mut out = String::from("^(?s:");
    let mut chars = glob.chars();
    let mut braces = 0usize;
    while let Some(c) = chars.next() {
        match c {
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            '\\' => match chars.next() {
                Some(e) => out.push_str(&regex::escape(&e.to_string())),
                None => return Err("pattern ends with a lone backslash".into()),
            },
            '[' => {
                out.push('[');
                let mut closed = false;
                let mut first = true;
                for c in chars.by_ref() {
                    match c {
                        ']' => {
                            closed = true;
                            break;
                        }
                        '!' if first => out.push('^'),
                        '\\' | '[' | '&' | '~' | '^' => {
                            out.push('\\');
                            out.push(c);
                        }
                        c => out.push(c),
                    }
                    first = false;
                }
                if !closed {
                    return Err("unclosed '['".into());
                }
                out.push(']');
            }
            '{' => {
                braces += 1;
                out.push_str("(?:");
            }
            '}' if braces > 0 => {
                braces -= 1;
                out.push(')');
            }
            ',' if braces > 0 => out.push('|'),
            c => out.push_str(&regex::escape(&c.to_string())),
        }
    }
    if braces > 0 {
        return Err("unclosed '{'".into());
    }
    out.push_str(")$");
    Regex::new(&out).map_err(|e| e.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_whole_strings() {
        let g = compile("/user/*/list/*").unwrap();
        assert!(g.is_match("/user/123/list/456"));
        assert!(!g.is_match("x/user/123/list/456"));
        let g = compile("a?c.{txt,log}").unwrap();
        assert!(g.is_match("abc.log") && !g.is_match("abc.md"));
        assert!(compile("[!0-9]x").unwrap().is_match("ax"));
        assert!(compile("[a").is_err());
    }
}
