//! Editors: the functions that start a statement and change the item. Arguments are
//! evaluated first (they may read the item), then the target is borrowed mutably.

use std::borrow::Cow;

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use regex::Regex;

use super::compile::{Arg, Call};
use super::context::Target;
use super::eval::eval;
use super::functions::Func;
use super::paths::{self, Path};
use super::value::Value;
use super::EvalError;

fn path(c: &Call) -> Result<&Path, EvalError> {
    match c.args.first() {
        Some(Arg::Path(p)) => Ok(p),
        _ => Err(EvalError::new("the first argument must be a path")),
    }
}

fn owned(c: &Call, i: usize, t: &Target<'_>) -> Result<Value<'static>, EvalError> {
    match c.args.get(i) {
        Some(Arg::Get(g)) => Ok(eval(g, t)?.into_owned()),
        _ => Ok(Value::Nil),
    }
}

fn owned_str(c: &Call, i: usize, t: &Target<'_>) -> Result<Option<String>, EvalError> {
    Ok(owned(c, i, t)?.as_str()?.map(str::to_owned))
}

fn regex(c: &Call, i: usize) -> Result<&Regex, EvalError> {
    match c.args.get(i) {
        Some(Arg::Regex(r)) => Ok(r),
        _ => Err(EvalError::new("missing pattern")),
    }
}

fn int(c: &Call, i: usize) -> Option<i64> {
    match c.args.get(i) {
        Some(Arg::Int(n)) => Some(*n),
        _ => None,
    }
}

fn strs(c: &Call, i: usize) -> &[String] {
    match c.args.get(i) {
        Some(Arg::Strs(s)) => s,
        _ => &[],
    }
}

fn text(c: &Call, i: usize) -> &str {
    match c.args.get(i) {
        Some(Arg::Str(s)) => s,
        _ => "",
    }
}

fn string_of(kv: &mut KeyValue) -> Option<&mut String> {
    match kv.value.as_mut().and_then(|v| v.value.as_mut()) {
        Some(any_value::Value::StringValue(s)) => Some(s),
        _ => None,
    }
}

/// Runs editor call `c` on `t`.
pub fn run(c: &Call, t: &mut Target<'_>) -> Result<(), EvalError> {
    let target = path(c)?;
    match c.func {
        Func::Set => {
            let v = owned(c, 1, t)?;
            if v != Value::Nil {
                paths::set(target, t, v)?;
            }
        }
        Func::ReplacePattern | Func::ReplaceMatch => {
            let Some(replacement) = owned_str(c, 2, t)? else {
                return Ok(());
            };
            let Value::Str(current) = paths::get(target, t)? else {
                return Ok(());
            };
            let re = regex(c, 1)?;
            let new = if c.func == Func::ReplacePattern {
                re.replace_all(&current, replacement.as_str()).into_owned()
            } else if re.is_match(&current) {
                replacement
            } else {
                return Ok(());
            };
            if new != *current {
                paths::set(target, t, Value::Str(Cow::Owned(new)))?;
            }
        }
        _ => map_editor(c, target, t)?,
    }
    Ok(())
}

fn map_editor(c: &Call, target: &Path, t: &mut Target<'_>) -> Result<(), EvalError> {
    // Values an editor needs from the item are read before the map is borrowed.
    let key = match c.func {
        Func::DeleteKey => owned_str(c, 1, t)?,
        Func::ReplaceAllPatterns => owned_str(c, 3, t)?,
        Func::ReplaceAllMatches => owned_str(c, 2, t)?,
        _ => None,
    };
    let source = match c.func {
        Func::MergeMaps => Some(owned(c, 1, t)?),
        _ => None,
    };
    let Some(map) = paths::map_mut(target, t)? else {
        return Ok(());
    };
    match c.func {
        Func::DeleteKey => {
            if let Some(k) = key {
                map.retain(|kv| kv.key != k);
            }
        }
        Func::DeleteMatchingKeys => {
            let re = regex(c, 1)?;
            map.retain(|kv| !re.is_match(&kv.key));
        }
        Func::KeepKeys => {
            let keys = strs(c, 1);
            map.retain(|kv| keys.contains(&kv.key));
        }
        Func::KeepMatchingKeys => {
            let re = regex(c, 1)?;
            map.retain(|kv| re.is_match(&kv.key));
        }
        Func::Limit => limit(map, int(c, 1).unwrap_or(0), strs(c, 2)),
        Func::MergeMaps => {
            if let Some(Value::Map(source)) = source {
                merge(map, source.into_owned(), text(c, 2));
            }
        }
        Func::ReplaceAllPatterns => {
            let Some(replacement) = key else {
                return Ok(());
            };
            let re = regex(c, 2)?;
            let keys = text(c, 1) == "key";
            for kv in map.iter_mut() {
                if keys {
                    if re.is_match(&kv.key) {
                        kv.key = re.replace_all(&kv.key, replacement.as_str()).into_owned();
                    }
                } else if let Some(s) = string_of(kv) {
                    if re.is_match(s) {
                        *s = re.replace_all(s, replacement.as_str()).into_owned();
                    }
                }
            }
        }
        Func::ReplaceAllMatches => {
            let Some(replacement) = key else {
                return Ok(());
            };
            let re = regex(c, 1)?;
            for s in map.iter_mut().filter_map(string_of) {
                if re.is_match(s) {
                    s.clone_from(&replacement);
                }
            }
        }
        Func::TruncateAll => {
            let limit = usize::try_from(int(c, 1).unwrap_or(0)).unwrap_or(0);
            for s in map.iter_mut().filter_map(string_of) {
                if s.len() > limit {
                    // Cut at a character boundary: a Rust string cannot hold half a character.
                    let mut end = limit;
                    while !s.is_char_boundary(end) {
                        end -= 1;
                    }
                    s.truncate(end);
                }
            }
        }
        Func::Flatten => {
            let prefix = text(c, 1);
            let depth = int(c, 2).map_or(usize::MAX, |d| usize::try_from(d).unwrap_or(0));
            let mut out = Vec::with_capacity(map.len());
            for kv in map.drain(..) {
                let key = if prefix.is_empty() {
                    kv.key
                } else {
                    format!("{prefix}.{}", kv.key)
                };
                flatten_into(&mut out, key, kv.value, depth);
            }
            *map = out;
        }
        _ => return Err(EvalError::new("not an editor")),
    }
    Ok(())
}

fn limit(map: &mut Vec<KeyValue>, limit: i64, priority: &[String]) {
    let limit = usize::try_from(limit).unwrap_or(0);
    if map.len() <= limit {
        return;
    }
    let mut kept = map.iter().filter(|kv| priority.contains(&kv.key)).count();
    map.retain(|kv| {
        if priority.contains(&kv.key) {
            return true;
        }
        kept += 1;
        kept <= limit
    });
}

fn merge(map: &mut Vec<KeyValue>, source: Vec<KeyValue>, strategy: &str) {
    for kv in source {
        match map.iter_mut().find(|m| m.key == kv.key) {
            Some(existing) if strategy != "insert" => existing.value = kv.value,
            Some(_) => {}
            None if strategy != "update" => map.push(kv),
            None => {}
        }
    }
}

fn flatten_into(out: &mut Vec<KeyValue>, key: String, value: Option<AnyValue>, depth: usize) {
    let inner = value.as_ref().and_then(|v| v.value.as_ref());
    match inner {
        Some(any_value::Value::KvlistValue(m)) if depth > 0 => {
            for kv in m.values.clone() {
                flatten_into(out, format!("{key}.{}", kv.key), kv.value, depth - 1);
            }
        }
        Some(any_value::Value::ArrayValue(a)) if depth > 0 => {
            for (i, v) in a.values.clone().into_iter().enumerate() {
                flatten_into(out, format!("{key}.{i}"), Some(v), depth - 1);
            }
        }
        _ => out.push(KeyValue {
            key,
            value,
            ..Default::default()
        }),
    }
}
