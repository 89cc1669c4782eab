//! The checker: turns a parsed statement or condition into its compiled form, resolving
//! every path against the context, every function against [`super::functions::SPECS`], and
//! checking each argument's kind and static type. Everything it refuses is refused at config
//! load; nothing is looked up by name while data flows.

use std::borrow::Cow;

use regex::Regex;

use super::ast::{CallExpr, Expr, Key, Literal, MathOp};
use super::context::Context;
use super::functions::{self, Func, Param, Spec};
use super::lexer::CmpOp;
use super::paths::{self, Path};
use super::types::Ty;
use super::value::Value;
use super::CompileError;

/// A compiled expression.
#[derive(Clone, Debug)]
pub enum Getter {
    /// A constant.
    Lit(Value<'static>),
    /// A path read.
    Path(Path),
    /// A converter call, then indexes into its result.
    Call(Box<Call>, Vec<Key>),
    /// A list of expressions.
    List(Vec<Getter>),
    /// A map of expressions.
    Map(Vec<(String, Getter)>),
    /// A comparison.
    Cmp(CmpOp, Box<Getter>, Box<Getter>),
    /// Arithmetic.
    Math(MathOp, Box<Getter>, Box<Getter>),
    /// `not`.
    Not(Box<Getter>),
    /// `and`.
    And(Box<Getter>, Box<Getter>),
    /// `or`.
    Or(Box<Getter>, Box<Getter>),
}

/// A compiled argument.
#[derive(Clone, Debug)]
pub enum Arg {
    /// An expression.
    Get(Getter),
    /// A path to write.
    Path(Path),
    /// A string literal.
    Str(String),
    /// An integer literal.
    Int(i64),
    /// A compiled pattern (regex, or glob as a regex).
    Regex(Regex),
    /// A list of string literals.
    Strs(Vec<String>),
    /// A list of expressions.
    Gets(Vec<Getter>),
    /// An optional argument not given.
    Absent,
}

/// A compiled call.
#[derive(Clone, Debug)]
pub struct Call {
    /// The function.
    pub func: Func,
    /// Its arguments, one per parameter.
    pub args: Vec<Arg>,
}

/// Where a statement or condition is compiled: its context and which functions it may use.
#[derive(Clone, Copy, Debug)]
pub struct Scope {
    /// The context.
    pub context: Context,
    /// Whether filter-only functions are available.
    pub filter: bool,
}

impl Getter {
    /// Its static type.
    pub fn ty(&self) -> Ty {
        match self {
            Getter::Lit(v) => lit_ty(v),
            Getter::Path(p) => p.ty,
            Getter::Call(c, keys) if keys.is_empty() => spec_of(c.func).map_or(Ty::Any, |s| s.ret),
            Getter::Call(..) => Ty::Any,
            Getter::List(_) => Ty::Slice,
            Getter::Map(_) => Ty::Map,
            Getter::Cmp(..) | Getter::Not(_) | Getter::And(..) | Getter::Or(..) => Ty::Bool,
            Getter::Math(_, a, b) => match (a.ty(), b.ty()) {
                (Ty::Int, Ty::Int) => Ty::Int,
                (Ty::Double, Ty::Double | Ty::Int) | (Ty::Int, Ty::Double) => Ty::Double,
                (Ty::Time, Ty::Time) => Ty::Duration,
                _ => Ty::Any,
            },
        }
    }
}

fn lit_ty(v: &Value<'_>) -> Ty {
    match v {
        Value::Nil => Ty::Nil,
        Value::Bool(_) => Ty::Bool,
        Value::Int(_) => Ty::Int,
        Value::Double(_) => Ty::Double,
        Value::Str(_) => Ty::Str,
        Value::Bytes(_) => Ty::Bytes,
        Value::Map(_) => Ty::Map,
        Value::Slice(_) => Ty::Slice,
        Value::Time(_) => Ty::Time,
        Value::Duration(_) => Ty::Duration,
    }
}

fn spec_of(func: Func) -> Option<&'static Spec> {
    functions::SPECS.iter().find(|s| s.func == func)
}

/// Compiles a condition; it must be boolean.
pub fn condition(e: &Expr, scope: Scope) -> Result<Getter, CompileError> {
    let g = getter(e, scope)?;
    boolean(&g, e.at())?;
    Ok(g)
}

fn boolean(g: &Getter, at: usize) -> Result<(), CompileError> {
    match g.ty() {
        Ty::Bool | Ty::Any => Ok(()),
        other => Err(CompileError::at(at, format!(
            "a condition must be boolean (a comparison, true/false, or a converter such as IsMatch), not a {}",
            other.name()
        ))),
    }
}

/// Compiles an editor call.
pub fn editor(c: &CallExpr, scope: Scope) -> Result<Call, CompileError> {
    let spec = lookup(c, scope)?;
    if !spec.is_editor() {
        return Err(CompileError::at(
            c.at,
            format!(
                "{} is a converter; a statement must start with an editor such as set(...)",
                c.name
            ),
        ));
    }
    if !c.keys.is_empty() {
        return Err(CompileError::at(
            c.at,
            "an editor's result cannot be indexed",
        ));
    }
    call(c, spec, scope)
}

fn lookup(c: &CallExpr, scope: Scope) -> Result<&'static Spec, CompileError> {
    let spec = functions::find(&c.name)
        .filter(|s| scope.filter || !s.filter_only)
        .ok_or_else(|| CompileError::at(c.at, format!("unknown function {:?}", c.name)))?;
    if let Some(only) = spec.only {
        if only != scope.context {
            return Err(CompileError::at(
                c.at,
                format!(
                    "function {} is only available in the {} context, not {}",
                    c.name,
                    only.name(),
                    scope.context.name()
                ),
            ));
        }
    }
    Ok(spec)
}

fn call(c: &CallExpr, spec: &Spec, scope: Scope) -> Result<Call, CompileError> {
    if c.args.len() < spec.required || c.args.len() > spec.params.len() {
        let want = if spec.required == spec.params.len() {
            spec.required.to_string()
        } else {
            format!("{} to {}", spec.required, spec.params.len())
        };
        return Err(CompileError::at(
            c.at,
            format!(
                "function {} takes {want} arguments, got {}",
                c.name,
                c.args.len()
            ),
        ));
    }
    let mut args = Vec::with_capacity(spec.params.len());
    for (i, (name, param)) in spec.params.iter().enumerate() {
        let arg = match c.args.get(i) {
            Some(e) => argument(e, *param, scope).map_err(|err| match err {
                ArgError::Inner(inner) => inner,
                ArgError::Kind(msg) => CompileError::at(
                    e.at(),
                    format!("function {} argument {} ({name}): {msg}", c.name, i + 1),
                ),
            })?,
            None => Arg::Absent,
        };
        args.push(arg);
    }
    Ok(Call {
        func: spec.func,
        args,
    })
}

/// Why an argument does not compile: a mistake inside it (reported where it is), or the
/// wrong kind of argument for the parameter (reported with the function and parameter).
enum ArgError {
    Inner(CompileError),
    Kind(String),
}

impl From<String> for ArgError {
    fn from(msg: String) -> ArgError {
        ArgError::Kind(msg)
    }
}

impl From<&str> for ArgError {
    fn from(msg: &str) -> ArgError {
        ArgError::Kind(msg.to_owned())
    }
}

fn argument(e: &Expr, param: Param, scope: Scope) -> Result<Arg, ArgError> {
    let lit_str = || match e {
        Expr::Literal(Literal::Str(s), _) => Ok(s.clone()),
        _ => Err("must be a string literal".to_owned()),
    };
    Ok(match param {
        Param::Target | Param::MapTarget | Param::StrTarget => {
            let Expr::Path(p) = e else {
                return Err("must be a path".into());
            };
            let path = paths::resolve(scope.context, p).map_err(ArgError::Inner)?;
            if !path.settable {
                return Err(format!("path {:?} cannot be changed", p.names.join(".")).into());
            }
            let want = match param {
                Param::MapTarget => Ty::Map,
                Param::StrTarget => Ty::Str,
                _ => Ty::Any,
            };
            if !path.ty.fits(want) {
                return Err(format!(
                    "must be a {} path, got a {} path",
                    want.name(),
                    path.ty.name()
                )
                .into());
            }
            Arg::Path(path)
        }
        Param::Get(want) => {
            let g = getter(e, scope).map_err(ArgError::Inner)?;
            if !g.ty().fits(want) {
                return Err(format!("must be a {}, got a {}", want.name(), g.ty().name()).into());
            }
            Arg::Get(g)
        }
        Param::Str => Arg::Str(lit_str()?),
        Param::Int => match e {
            Expr::Literal(Literal::Int(i), _) => Arg::Int(*i),
            _ => return Err("must be an integer literal".into()),
        },
        Param::Regex => {
            let s = lit_str()?;
            Arg::Regex(Regex::new(&s).map_err(|err| format!("invalid regex {s:?}: {err}"))?)
        }
        Param::Glob => {
            let s = lit_str()?;
            Arg::Regex(
                super::glob::compile(&s).map_err(|err| format!("invalid glob {s:?}: {err}"))?,
            )
        }
        Param::StrList => match e {
            Expr::List(items, _) => Arg::Strs(
                items
                    .iter()
                    .map(|i| match i {
                        Expr::Literal(Literal::Str(s), _) => Ok(s.clone()),
                        _ => Err("must be a list of string literals".to_owned()),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            _ => return Err("must be a list of strings such as [\"a\", \"b\"]".into()),
        },
        Param::GetList => match e {
            Expr::List(items, _) => Arg::Gets(
                items
                    .iter()
                    .map(|i| getter(i, scope).map_err(ArgError::Inner))
                    .collect::<Result<_, _>>()?,
            ),
            _ => return Err("must be a list such as [a, b]".into()),
        },
        Param::OneOf(allowed) => {
            let s = lit_str()?;
            if !allowed.contains(&s.as_str()) {
                return Err(format!("{s:?} is not one of {}", allowed.join(", ")).into());
            }
            Arg::Str(s)
        }
    })
}

/// Compiles an expression.
pub fn getter(e: &Expr, scope: Scope) -> Result<Getter, CompileError> {
    let boxed = |e: &Expr| getter(e, scope).map(Box::new);
    Ok(match e {
        Expr::Literal(l, _) => Getter::Lit(match l {
            Literal::Nil => Value::Nil,
            Literal::Bool(b) => Value::Bool(*b),
            Literal::Int(i) => Value::Int(*i),
            Literal::Float(f) => Value::Double(*f),
            Literal::Str(s) => Value::Str(Cow::Owned(s.clone())),
            Literal::Bytes(b) => Value::Bytes(Cow::Owned(b.clone())),
        }),
        Expr::Enum(name, at) => Getter::Lit(Value::Int(
            functions::enum_value(name)
                .ok_or_else(|| CompileError::at(*at, format!("unknown enum {name:?}")))?,
        )),
        Expr::Path(p) => Getter::Path(paths::resolve(scope.context, p)?),
        Expr::Call(c) => {
            let spec = lookup(c, scope)?;
            if spec.is_editor() {
                return Err(CompileError::at(
                    c.at,
                    format!(
                    "{} is an editor; only converters (capitalised, such as IsMatch) return values",
                    c.name
                ),
                ));
            }
            Getter::Call(Box::new(call(c, spec, scope)?), c.keys.clone())
        }
        Expr::List(items, _) => Getter::List(
            items
                .iter()
                .map(|i| getter(i, scope))
                .collect::<Result<_, _>>()?,
        ),
        Expr::Map(entries, _) => Getter::Map(
            entries
                .iter()
                .map(|(k, v)| Ok((k.clone(), getter(v, scope)?)))
                .collect::<Result<_, CompileError>>()?,
        ),
        Expr::Compare(op, a, b) => Getter::Cmp(*op, boxed(a)?, boxed(b)?),
        Expr::Math(op, a, b) => Getter::Math(*op, boxed(a)?, boxed(b)?),
        Expr::Not(a) => {
            let g = boxed(a)?;
            boolean(&g, a.at())?;
            Getter::Not(g)
        }
        Expr::And(a, b) | Expr::Or(a, b) => {
            let (ga, gb) = (boxed(a)?, boxed(b)?);
            boolean(&ga, a.at())?;
            boolean(&gb, b.at())?;
            if matches!(e, Expr::And(..)) {
                Getter::And(ga, gb)
            } else {
                Getter::Or(ga, gb)
            }
        }
    })
}
