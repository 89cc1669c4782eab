//! Typed values a component's config gives: regular expressions and scalars.
//!
//! Regular expressions are compiled while the config is checked, so a bad one is an error
//! naming its key path and components get ready-to-use matchers.

use regex::Regex;
use serde_yaml::Value;

use super::error::Errors;

/// A compiled regular expression (RE2-like syntax, unanchored as Go's `MatchString`).
#[derive(Clone, Debug)]
pub struct Pattern(pub Regex);

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

/// A typed attribute value from YAML (`value:` of an action or a matcher).
#[derive(Clone, Debug, PartialEq)]
pub enum ConfigValue {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Double(f64),
    /// A boolean.
    Bool(bool),
}

/// Compiles `pattern`, reporting a bad one at `path`.
pub(crate) fn compile(pattern: &str, path: &str, errs: &mut Errors) -> Option<Pattern> {
    match Regex::new(pattern) {
        Ok(re) => Some(Pattern(re)),
        Err(e) => {
            errs.invalid(path, format!("invalid regular expression {pattern:?}: {e}"));
            None
        }
    }
}

/// A YAML scalar as a typed value; maps, sequences and nulls are errors.
pub(crate) fn scalar(v: &Value, path: &str, errs: &mut Errors) -> Option<ConfigValue> {
    match v {
        Value::String(s) => Some(ConfigValue::Str(s.clone())),
        Value::Bool(b) => Some(ConfigValue::Bool(*b)),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Some(ConfigValue::Int(i))
            } else if let Some(f) = n.as_f64().filter(|_| !n.is_u64()) {
                Some(ConfigValue::Double(f))
            } else {
                errs.invalid(path, format!("{n} does not fit a 64-bit signed integer"));
                None
            }
        }
        _ => {
            errs.invalid(
                path,
                "value must be a scalar (string, integer, double or bool)",
            );
            None
        }
    }
}
