//! Recursive descent over [`super::lexer`] tokens into [`super::ast`].
//!
//! Precedence, loosest first: `or`, `and`, `not`, comparisons, `+ -`, `* /`, then terms.
//! A term is a literal, an enum (all caps, no call), a path (lower-case names joined by
//! dots, then `[key]`s), a call (`name(args)` then `[key]`s), a list or a map.

use super::ast::{CallExpr, Expr, Key, Literal, MathOp, PathExpr, StatementAst};
use super::lexer::{tokens, Spanned, Tok};
use super::CompileError;

/// Parses `editor(args) [where condition]`.
pub fn statement(text: &str) -> Result<StatementAst, CompileError> {
    let mut p = Parser::new(text)?;
    let at = p.offset();
    let editor = match p.term()? {
        Expr::Call(call) => call,
        _ => {
            return Err(CompileError::at(
                at,
                "a statement starts with an editor call such as set(...)",
            ))
        }
    };
    let condition = if p.eat_word("where") {
        Some(p.or()?)
    } else {
        None
    };
    p.end()?;
    Ok(StatementAst { editor, condition })
}

/// Parses a boolean expression.
pub fn condition(text: &str) -> Result<Expr, CompileError> {
    let mut p = Parser::new(text)?;
    let e = p.or()?;
    p.end()?;
    Ok(e)
}

struct Parser {
    toks: Vec<Spanned>,
    pos: usize,
    len: usize,
}

impl Parser {
    fn new(text: &str) -> Result<Parser, CompileError> {
        Ok(Parser {
            toks: tokens(text)?,
            pos: 0,
            len: text.len(),
        })
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|s| &s.tok)
    }

    fn offset(&self) -> usize {
        self.toks.get(self.pos).map_or(self.len, |s| s.at)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).map(|s| s.tok.clone());
        self.pos += 1;
        t
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(&Tok::Punct(c)) {
            self.pos += 1;
            return true;
        }
        false
    }

    fn eat_word(&mut self, w: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Ident(s)) if s == w) {
            self.pos += 1;
            return true;
        }
        false
    }

    fn expect(&mut self, c: char) -> Result<(), CompileError> {
        if self.eat(c) {
            return Ok(());
        }
        Err(CompileError::at(self.offset(), format!("expected {c:?}")))
    }

    fn end(&self) -> Result<(), CompileError> {
        match self.toks.get(self.pos) {
            None => Ok(()),
            Some(s) => Err(CompileError::at(
                s.at,
                "unexpected text after the end of the expression",
            )),
        }
    }

    fn or(&mut self) -> Result<Expr, CompileError> {
        let mut left = self.and()?;
        while self.eat_word("or") {
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, CompileError> {
        let mut left = self.not()?;
        while self.eat_word("and") {
            left = Expr::And(Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr, CompileError> {
        if self.eat_word("not") {
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.compare()
    }

    fn compare(&mut self) -> Result<Expr, CompileError> {
        let left = self.sum()?;
        if let Some(Tok::Cmp(op)) = self.peek().cloned() {
            self.pos += 1;
            let right = self.sum()?;
            return Ok(Expr::Compare(op, Box::new(left), Box::new(right)));
        }
        Ok(left)
    }

    fn sum(&mut self) -> Result<Expr, CompileError> {
        let mut left = self.product()?;
        loop {
            let op = match self.peek() {
                Some(Tok::Punct('+')) => MathOp::Add,
                Some(Tok::Punct('-')) => MathOp::Sub,
                _ => return Ok(left),
            };
            self.pos += 1;
            left = Expr::Math(op, Box::new(left), Box::new(self.product()?));
        }
    }

    fn product(&mut self) -> Result<Expr, CompileError> {
        let mut left = self.term()?;
        loop {
            let op = match self.peek() {
                Some(Tok::Punct('*')) => MathOp::Mul,
                Some(Tok::Punct('/')) => MathOp::Div,
                _ => return Ok(left),
            };
            self.pos += 1;
            left = Expr::Math(op, Box::new(left), Box::new(self.term()?));
        }
    }

    fn term(&mut self) -> Result<Expr, CompileError> {
        let at = self.offset();
        let lit = |l| Ok(Expr::Literal(l, at));
        match self.next() {
            None => Err(CompileError::at(
                at,
                "expected a value, found the end of the text",
            )),
            Some(Tok::Str(s)) => lit(Literal::Str(s)),
            Some(Tok::Int(i)) => lit(Literal::Int(i)),
            Some(Tok::Float(f)) => lit(Literal::Float(f)),
            Some(Tok::Bytes(b)) => lit(Literal::Bytes(b)),
            Some(Tok::Punct('-')) => match self.next() {
                Some(Tok::Int(i)) => lit(Literal::Int(-i)),
                Some(Tok::Float(f)) => lit(Literal::Float(-f)),
                _ => Err(CompileError::at(at, "'-' must be followed by a number")),
            },
            Some(Tok::Punct('(')) => {
                let e = self.or()?;
                self.expect(')')?;
                Ok(e)
            }
            Some(Tok::Punct('[')) => {
                let items = self.list(']')?;
                Ok(Expr::List(items, at))
            }
            Some(Tok::Punct('{')) => self.map(at),
            Some(Tok::Ident(word)) => self.named(word, at),
            Some(other) => Err(CompileError::at(
                at,
                format!("unexpected {}", describe(&other)),
            )),
        }
    }

    fn named(&mut self, word: String, at: usize) -> Result<Expr, CompileError> {
        match word.as_str() {
            "nil" => return Ok(Expr::Literal(Literal::Nil, at)),
            "true" => return Ok(Expr::Literal(Literal::Bool(true), at)),
            "false" => return Ok(Expr::Literal(Literal::Bool(false), at)),
            _ => {}
        }
        if self.eat('(') {
            if matches!(
                self.toks.get(self.pos + 1).map(|s| &s.tok),
                Some(Tok::Punct('='))
            ) {
                return Err(CompileError::at(
                    self.offset(),
                    "named arguments (name=value) are not supported; pass arguments by position",
                ));
            }
            let args = self.list(')')?;
            let keys = self.keys()?;
            return Ok(Expr::Call(CallExpr {
                name: word,
                args,
                keys,
                at,
            }));
        }
        let upper = word
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if upper && word.chars().next().is_some_and(|c| c.is_ascii_uppercase()) {
            return Ok(Expr::Enum(word, at));
        }
        let mut names = vec![word];
        while self.eat('.') {
            match self.next() {
                Some(Tok::Ident(w)) => names.push(w),
                _ => return Err(CompileError::at(self.offset(), "expected a name after '.'")),
            }
        }
        let keys = self.keys()?;
        Ok(Expr::Path(PathExpr { names, keys, at }))
    }

    fn keys(&mut self) -> Result<Vec<Key>, CompileError> {
        let mut keys = Vec::new();
        while self.eat('[') {
            let at = self.offset();
            match self.next() {
                Some(Tok::Str(s)) => keys.push(Key::Str(s)),
                Some(Tok::Int(i)) => keys.push(Key::Int(i)),
                _ => {
                    return Err(CompileError::at(
                        at,
                        "an index must be a string or an integer literal",
                    ))
                }
            }
            self.expect(']')?;
        }
        Ok(keys)
    }

    fn list(&mut self, close: char) -> Result<Vec<Expr>, CompileError> {
        let mut items = Vec::new();
        if self.eat(close) {
            return Ok(items);
        }
        loop {
            items.push(self.or()?);
            if self.eat(close) {
                return Ok(items);
            }
            self.expect(',')?;
        }
    }

    fn map(&mut self, at: usize) -> Result<Expr, CompileError> {
        let mut entries = Vec::new();
        if self.eat('}') {
            return Ok(Expr::Map(entries, at));
        }
        loop {
            let key_at = self.offset();
            let Some(Tok::Str(key)) = self.next() else {
                return Err(CompileError::at(key_at, "a map key must be a string"));
            };
            self.expect(':')?;
            entries.push((key, self.or()?));
            if self.eat('}') {
                return Ok(Expr::Map(entries, at));
            }
            self.expect(',')?;
        }
    }
}

fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Punct(c) => format!("{c:?}"),
        Tok::Cmp(op) => format!("operator {op:?}"),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::ottl::lexer::CmpOp;

    #[test]
    fn a_statement_has_its_editor_and_condition() {
        let s = statement(r#"set(attributes["a"], Concat([name, "x"], "-")) where kind == SPAN_KIND_SERVER and not IsRootSpan()"#).unwrap();
        assert_eq!(s.editor.name, "set");
        assert_eq!(s.editor.args.len(), 2);
        let Some(Expr::And(left, right)) = s.condition else {
            panic!()
        };
        assert!(matches!(*left, Expr::Compare(CmpOp::Eq, _, _)));
        assert!(matches!(*right, Expr::Not(_)));
    }

    #[test]
    fn or_binds_looser_than_and() {
        let e = condition("a == 1 or b == 2 and c == 3").unwrap();
        let Expr::Or(_, right) = e else { panic!() };
        assert!(matches!(*right, Expr::And(_, _)));
    }

    #[test]
    fn paths_keep_names_and_keys() {
        let e = condition(r#"resource.attributes["k"][0] != nil"#).unwrap();
        let Expr::Compare(_, left, _) = e else {
            panic!()
        };
        assert_eq!(
            *left,
            Expr::Path(PathExpr {
                names: vec!["resource".into(), "attributes".into()],
                keys: vec![Key::Str("k".into()), Key::Int(0)],
                at: 0
            })
        );
    }

    #[test]
    fn mistakes_name_their_offset() {
        assert_eq!(statement("set(name, ").unwrap_err().at, 10);
        assert_eq!(statement("name == 1").unwrap_err().at, 0);
        assert_eq!(condition("a == 1 b").unwrap_err().at, 7);
    }
}
