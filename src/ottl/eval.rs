//! Evaluation of compiled expressions on one item. Path reads borrow from the item, so a
//! condition such as `attributes["http.route"] == "/health"` allocates nothing.

use std::borrow::Cow;

use super::ast::MathOp;
use super::compile::Getter;
use super::context::Target;
use super::paths;
use super::value::{compare, Value};
use super::EvalError;

/// The value of `g` on `t`.
pub fn eval<'t>(g: &'t Getter, t: &'t Target<'_>) -> Result<Value<'t>, EvalError> {
    Ok(match g {
        Getter::Lit(v) => borrow(v),
        Getter::Path(p) => paths::get(p, t)?,
        Getter::Call(c, keys) => paths::index(super::converters::call(c, t)?, keys)?,
        Getter::List(items) => {
            let mut values = Vec::with_capacity(items.len());
            for i in items {
                if let Some(v) = eval(i, t)?.into_any()? {
                    values.push(v);
                } else {
                    values.push(Default::default());
                }
            }
            Value::Slice(Cow::Owned(values))
        }
        Getter::Map(entries) => {
            let mut values = Vec::with_capacity(entries.len());
            for (k, v) in entries {
                values.push(opentelemetry_proto::tonic::common::v1::KeyValue {
                    key: k.clone(),
                    value: eval(v, t)?.into_any()?,
                    ..Default::default()
                });
            }
            Value::Map(Cow::Owned(values))
        }
        Getter::Cmp(op, a, b) => Value::Bool(compare(*op, &eval(a, t)?, &eval(b, t)?)),
        Getter::Math(op, a, b) => math(*op, eval(a, t)?, eval(b, t)?)?,
        Getter::Not(a) => Value::Bool(!truth(a, t)?),
        Getter::And(a, b) => Value::Bool(truth(a, t)? && truth(b, t)?),
        Getter::Or(a, b) => Value::Bool(truth(a, t)? || truth(b, t)?),
    })
}

/// A constant as a value borrowed from the program.
fn borrow<'a>(v: &'a Value<'static>) -> Value<'a> {
    match v {
        Value::Str(s) => Value::Str(Cow::Borrowed(s)),
        Value::Bytes(b) => Value::Bytes(Cow::Borrowed(b)),
        Value::Map(m) => Value::Map(Cow::Borrowed(m)),
        Value::Slice(s) => Value::Slice(Cow::Borrowed(s)),
        other => other.clone(),
    }
}

/// Whether boolean expression `g` holds on `t`; a non-boolean value is an error.
pub fn truth(g: &Getter, t: &Target<'_>) -> Result<bool, EvalError> {
    match g {
        Getter::Not(a) => Ok(!truth(a, t)?),
        Getter::And(a, b) => Ok(truth(a, t)? && truth(b, t)?),
        Getter::Or(a, b) => Ok(truth(a, t)? || truth(b, t)?),
        _ => match eval(g, t)? {
            Value::Bool(b) => Ok(b),
            other => Err(EvalError::new(format!(
                "a condition returned a {}, not a bool",
                other.type_name()
            ))),
        },
    }
}

fn math(op: MathOp, a: Value<'_>, b: Value<'_>) -> Result<Value<'static>, EvalError> {
    let overflow = || EvalError::new("integer overflow");
    Ok(match (a, b) {
        (Value::Int(x), Value::Int(y)) => Value::Int(match op {
            MathOp::Add => x.checked_add(y).ok_or_else(overflow)?,
            MathOp::Sub => x.checked_sub(y).ok_or_else(overflow)?,
            MathOp::Mul => x.checked_mul(y).ok_or_else(overflow)?,
            MathOp::Div => x
                .checked_div(y)
                .ok_or_else(|| EvalError::new("attempted to divide by 0"))?,
        }),
        (Value::Double(x), Value::Double(y)) => Value::Double(float(op, x, y)),
        (Value::Int(x), Value::Double(y)) => Value::Double(float(op, x as f64, y)),
        (Value::Double(x), Value::Int(y)) => Value::Double(float(op, x, y as f64)),
        (Value::Time(x), Value::Time(y)) if op == MathOp::Sub => {
            Value::Duration(x.saturating_sub(y))
        }
        (Value::Time(x), Value::Duration(y)) if op == MathOp::Add => {
            Value::Time(x.saturating_add(y))
        }
        (Value::Time(x), Value::Duration(y)) if op == MathOp::Sub => {
            Value::Time(x.saturating_sub(y))
        }
        (Value::Duration(x), Value::Duration(y)) if matches!(op, MathOp::Add | MathOp::Sub) => {
            Value::Duration(if op == MathOp::Add {
                x.saturating_add(y)
            } else {
                x.saturating_sub(y)
            })
        }
        (a, b) => {
            return Err(EvalError::new(format!(
                "{op:?} is not defined for {} and {}",
                a.type_name(),
                b.type_name()
            )))
        }
    })
}

fn float(op: MathOp, x: f64, y: f64) -> f64 {
    match op {
        MathOp::Add => x + y,
        MathOp::Sub => x - y,
        MathOp::Mul => x * y,
        MathOp::Div => x / y,
    }
}
