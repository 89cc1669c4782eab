//! Environment variable expansion in configuration values, with otelcol's syntax and rules.
//!
//! Runs on the parsed YAML tree, in string scalars that are values (never keys):
//! `${env:VAR}`, `${VAR}`, `${env:VAR:-default}`, `${VAR:-default}`, and `$$` for a literal `$`.
//! A scalar that is exactly one `${...}` takes the expanded text as a YAML scalar, so
//! `port: ${env:PORT}` can become an integer; a reference inside a longer string is
//! interpolated as text. An unset variable without a default expands to the empty string
//! (with a warning); as a whole scalar that empty text reads as YAML null, i.e. "not set, use
//! the default", as in otelcol. The default is used only when the variable is unset, not when
//! it is empty, as otelcol does. `$` followed by anything else is kept as is.

use serde_yaml::{Mapping, Value};

use super::de::{float_text, join};
use super::error::{ConfigError, Errors};

/// Expands every `${...}` in the value tree, looking variables up with `lookup`.
///
/// `origin` names the file in errors; all malformed references are reported, not just the
/// first. Unset variables are added to `warnings`.
pub(crate) fn expand_tree(
    value: Value,
    lookup: &dyn Fn(&str) -> Option<String>,
    origin: &str,
    warnings: &mut Vec<String>,
) -> Result<Value, ConfigError> {
    let mut errs = Errors::default();
    let mut ctx = Ctx {
        lookup,
        origin,
        errs: &mut errs,
    };
    let out = ctx.walk(value, "");
    warnings.extend(errs.take_warnings());
    errs.finish(out)
}

/// Expands with the process environment.
pub(crate) fn expand_env(
    value: Value,
    origin: &str,
    warnings: &mut Vec<String>,
) -> Result<Value, ConfigError> {
    expand_tree(value, &|name| std::env::var(name).ok(), origin, warnings)
}

struct Ctx<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    origin: &'a str,
    errs: &'a mut Errors,
}

impl Ctx<'_> {
    fn walk(&mut self, value: Value, path: &str) -> Value {
        match value {
            Value::String(s) => self.scalar(s, path),
            Value::Mapping(map) => {
                let mut out = Mapping::with_capacity(map.len());
                for (key, val) in map {
                    let child = join(path, &key_text(&key));
                    let val = self.walk(val, &child);
                    out.insert(key, val);
                }
                Value::Mapping(out)
            }
            Value::Sequence(items) => Value::Sequence(
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| self.walk(v, &format!("{path}[{i}]")))
                    .collect(),
            ),
            Value::Tagged(mut tagged) => {
                tagged.value = self.walk(tagged.value, path);
                Value::Tagged(tagged)
            }
            other => other,
        }
    }

    fn scalar(&mut self, text: String, path: &str) -> Value {
        if !text.contains('$') {
            return Value::String(text);
        }
        let whole = text.starts_with("${") && text.find('}') == Some(text.len() - 1);
        let result = if whole {
            self.reference(&text[2..text.len() - 1], path)
                .map(typed_scalar)
        } else {
            self.interpolate(&text, path).map(Value::String)
        };
        match result {
            Ok(v) => v,
            Err(reason) => {
                self.errs.push(ConfigError::Expand {
                    origin: self.origin.to_owned(),
                    path: path.to_owned(),
                    reason,
                });
                Value::String(text)
            }
        }
    }

    fn interpolate(&mut self, text: &str, path: &str) -> Result<String, String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(pos) = rest.find('$') {
            out.push_str(&rest[..pos]);
            let after = &rest[pos + 1..];
            if let Some(tail) = after.strip_prefix('$') {
                out.push('$');
                rest = tail;
            } else if let Some(body) = after.strip_prefix('{') {
                let end = body
                    .find('}')
                    .ok_or_else(|| format!("unclosed \"${{\" in \"{text}\""))?;
                out.push_str(&self.reference(&body[..end], path)?);
                rest = &body[end + 1..];
            } else {
                out.push('$');
                rest = after;
            }
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Resolves the inside of one `${...}` to its text.
    fn reference(&mut self, inner: &str, path: &str) -> Result<String, String> {
        let env_part = match inner.split_once(':') {
            None => inner,
            Some((_, rest)) if rest.starts_with('-') => inner,
            Some(("env", rest)) => rest,
            Some((scheme, _)) if valid_scheme(scheme) => {
                return Err(format!(
                    "provider \"{scheme}\" in \"${{{inner}}}\" is not supported; only env is"
                ))
            }
            Some(_) => return Err(format!("invalid reference \"${{{inner}}}\"")),
        };
        let (name, default) = match env_part.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (env_part, None),
        };
        if !valid_env_name(name) {
            return Err(format!(
                "invalid environment variable name \"{name}\" in \"${{{inner}}}\""
            ));
        }
        match ((self.lookup)(name), default) {
            (Some(value), _) => Ok(value),
            (None, Some(default)) => Ok(default.to_owned()),
            (None, None) => {
                self.errs.warn(
                    &format!("{}: {path}", self.origin),
                    format!("environment variable \"{name}\" is not set; using an empty value"),
                );
                Ok(String::new())
            }
        }
    }
}

/// The text of a mapping key, for key paths.
fn key_text(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Null => "~".to_owned(),
        _ => "?".to_owned(),
    }
}

/// The YAML scalar a whole-scalar expansion becomes: a bool or number when the text is one
/// and reads back identically (so `8080` is an int but `012345` or `0x1F` stay strings and
/// lose nothing), otherwise the text itself.
fn typed_scalar(text: String) -> Value {
    if text.is_empty() {
        return Value::Null;
    }
    let parsed = match serde_yaml::from_str::<Value>(&text) {
        Ok(v @ Value::Bool(_)) | Ok(v @ Value::Number(_)) => v,
        _ => return Value::String(text),
    };
    let rendered = match &parsed {
        Value::Bool(b) => b.to_string(),
        Value::Number(n) if n.is_f64() => n.as_f64().map(float_text).unwrap_or_default(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    if rendered == text {
        parsed
    } else {
        Value::String(text)
    }
}

/// A URI scheme as confmap providers use: `[a-zA-Z][a-zA-Z0-9+.-]*`.
fn valid_scheme(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-'))
}

/// An environment variable name as otelcol accepts: `[a-zA-Z_][a-zA-Z0-9_]*`.
fn valid_env_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "PORT" => Some("4317".into()),
            "HOST" => Some("collector.local".into()),
            "TOKEN" => Some("012345".into()),
            "HEX" => Some("0x1F".into()),
            "RATIO" => Some("1.5".into()),
            "FLAG" => Some("true".into()),
            "EMPTY" => Some(String::new()),
            "LIST" => Some("[1, 2]".into()),
            _ => None,
        }
    }

    fn run(yaml: &str) -> Result<Value, ConfigError> {
        run_warn(yaml).map(|(v, _)| v)
    }

    fn run_warn(yaml: &str) -> Result<(Value, Vec<String>), ConfigError> {
        let mut warnings = Vec::new();
        let v = expand_tree(
            serde_yaml::from_str(yaml).unwrap(),
            &env,
            "test.yaml",
            &mut warnings,
        )?;
        Ok((v, warnings))
    }

    fn get<'a>(v: &'a Value, key: &str) -> &'a Value {
        v.get(key).unwrap()
    }

    #[test]
    fn whole_scalar_becomes_typed() {
        let v = run("port: ${env:PORT}\nflag: ${FLAG}\nratio: ${env:RATIO}").unwrap();
        assert_eq!(get(&v, "port"), &Value::from(4317));
        assert_eq!(get(&v, "flag"), &Value::Bool(true));
        assert_eq!(get(&v, "ratio"), &Value::from(1.5));
    }

    #[test]
    fn whole_scalar_keeps_text_that_would_change() {
        let v = run("a: ${TOKEN}\nb: ${HEX}\nc: ${LIST}\nd: ${env:HOST}").unwrap();
        assert_eq!(get(&v, "a"), &Value::from("012345"));
        assert_eq!(get(&v, "b"), &Value::from("0x1F"));
        assert_eq!(get(&v, "c"), &Value::from("[1, 2]"));
        assert_eq!(get(&v, "d"), &Value::from("collector.local"));
    }

    #[test]
    fn embedded_references_interpolate() {
        let v = run("endpoint: \"${env:HOST}:${PORT}\"\nurl: http://${HOST}/v1").unwrap();
        assert_eq!(get(&v, "endpoint"), &Value::from("collector.local:4317"));
        assert_eq!(get(&v, "url"), &Value::from("http://collector.local/v1"));
    }

    #[test]
    fn defaults_apply_only_when_unset() {
        let v =
            run("a: ${env:NOPE:-7}\nb: ${NOPE:-x:y}\nc: ${env:EMPTY:-z}\nd: pre-${NOPE:-}-post")
                .unwrap();
        assert_eq!(get(&v, "a"), &Value::from(7));
        assert_eq!(get(&v, "b"), &Value::from("x:y"));
        assert_eq!(get(&v, "c"), &Value::Null, "set but empty: no default");
        assert_eq!(get(&v, "d"), &Value::from("pre--post"));
    }

    #[test]
    fn dollar_escapes() {
        let v = run("a: $$HOME\nb: \"$${env:PORT}\"\nc: cost $5\nd: a$$$$b").unwrap();
        assert_eq!(get(&v, "a"), &Value::from("$HOME"));
        assert_eq!(get(&v, "b"), &Value::from("${env:PORT}"));
        assert_eq!(get(&v, "c"), &Value::from("cost $5"));
        assert_eq!(get(&v, "d"), &Value::from("a$$b"));
    }

    #[test]
    fn undefined_is_empty() {
        let (v, warnings) = run_warn("a: ${env:UNDEFINED}\nb: x${UNDEFINED}y").unwrap();
        // A whole scalar reads as YAML null ("use the default"); embedded, it is empty text.
        assert_eq!(get(&v, "a"), &Value::Null);
        assert_eq!(get(&v, "b"), &Value::from("xy"));
        assert_eq!(
            warnings,
            [
                "test.yaml: a: environment variable \"UNDEFINED\" is not set; using an empty value",
                "test.yaml: b: environment variable \"UNDEFINED\" is not set; using an empty value",
            ]
        );
    }

    #[test]
    fn keys_are_not_expanded_but_nested_values_are() {
        let v = run("${PORT}:\n  list: [\"${PORT}\", x]").unwrap();
        let inner = get(&v, "${PORT}");
        assert_eq!(
            get(inner, "list"),
            &Value::Sequence(vec![Value::from(4317), Value::from("x")])
        );
    }

    #[test]
    fn bad_syntax_names_the_key_path() {
        let err = run("exporters:\n  otlp:\n    endpoint: ${env:}").unwrap_err();
        assert_eq!(
            err.to_string(),
            "test.yaml: exporters::otlp::endpoint: invalid environment variable name \"\" in \"${env:}\""
        );
        let err = run("a:\n  - x\n  - \"${env:PORT\"").unwrap_err();
        assert!(err.to_string().contains("a[1]: unclosed \"${\""), "{err}");
        let err = run("a: ${}").unwrap_err();
        assert!(
            err.to_string()
                .contains("a: invalid environment variable name"),
            "{err}"
        );
    }

    #[test]
    fn other_providers_are_not_supported() {
        let err = run("a: ${file:/etc/x}\nb: x-${http://h/y}").unwrap_err();
        let lines: Vec<String> = err.errors().iter().map(|e| e.to_string()).collect();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].contains("a: provider \"file\""), "{}", lines[0]);
        assert!(lines[0].contains("not supported"), "{}", lines[0]);
        assert!(lines[1].contains("b: provider \"http\""), "{}", lines[1]);
    }
}
