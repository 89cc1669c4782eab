//! OTTL, the OpenTelemetry Transformation Language, as otelcol-contrib's `pkg/ottl` defines
//! it, for the `transform` and `filter` processors.
//!
//! A statement or condition goes through these steps once, at config load:
//! 1. [`lexer`] and [`parser`] turn the text into a syntax tree ([`ast`]);
//! 2. [`compile`] resolves every path in the statement's context ([`paths`]), every function
//!    name ([`functions`]) and checks argument kinds and static types ([`types`]); any
//!    mistake is a [`StatementError`] naming the statement and the column;
//! 3. the result ([`Statement`], [`Condition`]) runs on each item through [`eval`],
//!    [`editors`] and [`converters`], reading the item in place ([`context::Target`]).
//!
//! What is not in the tables here (functions, paths, named arguments) is refused at step 2.

pub mod ast;
mod case;
pub mod compile;
pub mod context;
pub mod converters;
mod duration;
pub mod editors;
pub mod eval;
pub mod functions;
mod glob;
mod json;
pub mod lexer;
mod log_fields;
pub mod parser;
pub mod paths;
pub mod points;
pub mod projection;
pub mod run;
pub mod setters;
#[cfg(test)]
pub mod testkit;
pub mod types;
pub mod value;

use compile::{Call, Getter, Scope};
pub use context::{Context, Target};

use crate::signal::Signal;

/// A mistake found while compiling, at a byte offset of the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    /// Byte offset in the statement.
    pub at: usize,
    /// What is wrong.
    pub message: String,
}

impl CompileError {
    /// An error at byte offset `at`.
    pub fn at(at: usize, message: impl Into<String>) -> CompileError {
        CompileError {
            at,
            message: message.into(),
        }
    }
}

/// A statement or condition that does not compile, with its text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("statement {text:?}: column {column}: {message}")]
pub struct StatementError {
    /// The statement as written.
    pub text: String,
    /// 1-based character column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl StatementError {
    fn new(text: &str, e: CompileError) -> StatementError {
        let column = text.get(..e.at).map_or(1, |s| s.chars().count() + 1);
        StatementError {
            text: text.to_owned(),
            column,
            message: e.message,
        }
    }
}

/// A failure while a statement runs on an item (handled per `error_mode`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct EvalError {
    message: String,
}

impl EvalError {
    /// An error saying `message`.
    pub fn new(message: impl Into<String>) -> EvalError {
        EvalError {
            message: message.into(),
        }
    }
}

/// A compiled statement.
#[derive(Clone, Debug)]
pub struct Statement {
    /// The text, for error reports.
    pub text: String,
    editor: Call,
    condition: Option<Getter>,
}

impl Statement {
    /// Compiles `text` for context `context` (`filter`: the filter processor's functions).
    pub fn parse(text: &str, context: Context, filter: bool) -> Result<Statement, StatementError> {
        let scope = Scope { context, filter };
        let compile = || -> Result<Statement, CompileError> {
            let ast = parser::statement(text)?;
            let editor = compile::editor(&ast.editor, scope)?;
            let condition = ast
                .condition
                .as_ref()
                .map(|c| compile::condition(c, scope))
                .transpose()?;
            Ok(Statement {
                text: text.to_owned(),
                editor,
                condition,
            })
        };
        compile().map_err(|e| StatementError::new(text, e))
    }

    /// Runs on `t`: the editor, when the `where` clause holds (or there is none).
    pub fn execute(&self, t: &mut Target<'_>) -> Result<(), EvalError> {
        if let Some(c) = &self.condition {
            if !eval::truth(c, t)? {
                return Ok(());
            }
        }
        editors::run(&self.editor, t)
    }
}

/// A compiled condition.
#[derive(Clone, Debug)]
pub struct Condition {
    /// The text, for error reports.
    pub text: String,
    expr: Getter,
}

impl Condition {
    /// Compiles `text` for context `context`.
    pub fn parse(text: &str, context: Context, filter: bool) -> Result<Condition, StatementError> {
        let scope = Scope { context, filter };
        parser::condition(text)
            .and_then(|e| compile::condition(&e, scope))
            .map(|expr| Condition {
                text: text.to_owned(),
                expr,
            })
            .map_err(|e| StatementError::new(text, e))
    }

    /// Whether it holds on `t`.
    pub fn holds(&self, t: &Target<'_>) -> Result<bool, EvalError> {
        eval::truth(&self.expr, t)
    }

    /// Adds what it reads of its item to `reads`.
    pub fn reads(&self, reads: &mut projection::Reads) {
        reads.getter(&self.expr);
    }
}

/// What a processor does when a statement or condition fails on an item (otelcol's
/// `error_mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ErrorMode {
    /// Log the error and go on with the next statement or item.
    Ignore,
    /// Go on without logging.
    Silent,
    /// Fail the whole request: nothing of it is passed on.
    #[default]
    Propagate,
}

impl ErrorMode {
    /// The mode a config names.
    pub fn parse(s: &str) -> Option<ErrorMode> {
        match s {
            "ignore" => Some(ErrorMode::Ignore),
            "silent" => Some(ErrorMode::Silent),
            "propagate" => Some(ErrorMode::Propagate),
            _ => None,
        }
    }
}

/// Every path qualifier (`span.` in `span.name`) in the texts, for context inference.
fn qualifiers(texts: &[&str], conditions: bool) -> Vec<Context> {
    fn walk(e: &ast::Expr, out: &mut Vec<Context>) {
        use ast::Expr;
        match e {
            Expr::Path(p) => out.extend(paths::qualifier(p)),
            Expr::Call(c) => c.args.iter().for_each(|a| walk(a, out)),
            Expr::List(items, _) => items.iter().for_each(|a| walk(a, out)),
            Expr::Map(entries, _) => entries.iter().for_each(|(_, a)| walk(a, out)),
            Expr::Compare(_, a, b) | Expr::Math(_, a, b) | Expr::And(a, b) | Expr::Or(a, b) => {
                walk(a, out);
                walk(b, out);
            }
            Expr::Not(a) => walk(a, out),
            Expr::Literal(..) | Expr::Enum(..) => {}
        }
    }
    let mut out = Vec::new();
    for text in texts {
        if conditions {
            if let Ok(e) = parser::condition(text) {
                walk(&e, &mut out);
            }
        } else if let Ok(s) = parser::statement(text) {
            s.editor.args.iter().for_each(|a| walk(a, &mut out));
            if let Some(c) = &s.condition {
                walk(c, &mut out);
            }
        }
    }
    out
}

/// The context of statements (or conditions) written with context-qualified paths: the
/// most specific context any path names, which must enclose all the others and belong to
/// `signal`.
pub fn infer_context(texts: &[&str], conditions: bool, signal: Signal) -> Result<Context, String> {
    let named = qualifiers(texts, conditions);
    let allowed = Context::of_signal(signal);
    let Some(deepest) = named.iter().copied().max_by_key(|c| c.chain().len()) else {
        return Err("cannot infer the context: qualify paths with their context (span.attributes, resource.attributes, ...) or set context:".into());
    };
    if let Some(bad) = named.iter().find(|c| !allowed.contains(c)) {
        return Err(format!(
            "the {} context does not exist in {signal} statements",
            bad.name()
        ));
    }
    if let Some(other) = named.iter().find(|c| !deepest.chain().contains(c)) {
        return Err(format!(
            "paths of the {} and {} contexts cannot be mixed in one group",
            deepest.name(),
            other.name()
        ));
    }
    Ok(deepest)
}

#[cfg(test)]
mod tests;
