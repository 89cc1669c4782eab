//! The syntax tree of one OTTL statement or condition, before names are resolved.

use super::lexer::CmpOp;

/// A literal value written in the statement.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    /// `nil`
    Nil,
    /// `true` / `false`
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// `0x…`
    Bytes(Vec<u8>),
}

/// An index after a path or a converter call: `["key"]` or `[0]`.
#[derive(Clone, Debug, PartialEq)]
pub enum Key {
    /// A map key.
    Str(String),
    /// A slice index.
    Int(i64),
}

/// `a.b.c["k"][0]` as written.
#[derive(Clone, Debug, PartialEq)]
pub struct PathExpr {
    /// Dot-separated names.
    pub names: Vec<String>,
    /// Indexes after the last name.
    pub keys: Vec<Key>,
    /// Byte offset.
    pub at: usize,
}

/// `Name(args)[keys]`.
#[derive(Clone, Debug, PartialEq)]
pub struct CallExpr {
    /// The function name.
    pub name: String,
    /// Arguments in order.
    pub args: Vec<Expr>,
    /// Indexes into the result (converters only).
    pub keys: Vec<Key>,
    /// Byte offset.
    pub at: usize,
}

/// Arithmetic operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MathOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
}

/// An expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// A literal, with its offset.
    Literal(Literal, usize),
    /// An all-caps enum name (`SPAN_KIND_SERVER`), with its offset.
    Enum(String, usize),
    /// A path.
    Path(PathExpr),
    /// A function call.
    Call(CallExpr),
    /// `[a, b]`, with its offset.
    List(Vec<Expr>, usize),
    /// `{"k": v}`, with its offset.
    Map(Vec<(String, Expr)>, usize),
    /// `a op b`.
    Compare(CmpOp, Box<Expr>, Box<Expr>),
    /// `a op b` for arithmetic.
    Math(MathOp, Box<Expr>, Box<Expr>),
    /// `not a`.
    Not(Box<Expr>),
    /// `a and b`.
    And(Box<Expr>, Box<Expr>),
    /// `a or b`.
    Or(Box<Expr>, Box<Expr>),
}

impl Expr {
    /// The byte offset where the expression starts.
    pub fn at(&self) -> usize {
        match self {
            Expr::Literal(_, at) | Expr::Enum(_, at) | Expr::List(_, at) | Expr::Map(_, at) => *at,
            Expr::Path(p) => p.at,
            Expr::Call(c) => c.at,
            Expr::Compare(_, a, _) | Expr::Math(_, a, _) | Expr::And(a, _) | Expr::Or(a, _) => {
                a.at()
            }
            Expr::Not(a) => a.at().saturating_sub(4),
        }
    }
}

/// `editor(args) where condition`.
#[derive(Clone, Debug, PartialEq)]
pub struct StatementAst {
    /// The editor call.
    pub editor: CallExpr,
    /// The `where` clause.
    pub condition: Option<Expr>,
}
