//! Config of the action lists of the `attributes` (`actions:`) and `resource` (`attributes:`)
//! processors, with otelcol's keys and checks.

use serde::Deserialize;
use serde_yaml::Value;

use crate::config::de::{join, Text};
use crate::config::error::Errors;
use crate::config::value::{compile, scalar, ConfigValue, Pattern};

/// What an action does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActionKind {
    /// Sets the key only if it is absent.
    Insert,
    /// Sets the key only if it is present.
    Update,
    /// Sets the key.
    Upsert,
    /// Removes the key and/or keys matching the pattern.
    Delete,
    /// Replaces the value with its SHA-256 hex digest.
    Hash,
    /// Upserts each named group of `pattern` matched against the key's string value.
    Extract,
    /// Changes the value's type.
    Convert,
}

/// Where an insert/update/upsert takes its value from.
#[derive(Clone, Debug, PartialEq)]
pub enum ValueSource {
    /// A literal.
    Value(ConfigValue),
    /// Another attribute of the same item (action skipped when it is absent).
    FromAttribute(String),
}

/// Target type of `convert`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvertType {
    /// `int`.
    Int,
    /// `double`.
    Double,
    /// `string`.
    String,
}

/// One checked action.
#[derive(Clone, Debug, PartialEq)]
pub struct ActionConfig {
    /// What to do.
    pub action: ActionKind,
    /// The key acted on; empty only for delete/hash with a pattern.
    pub key: String,
    /// For insert/update/upsert.
    pub source: Option<ValueSource>,
    /// Keys regex for delete/hash; value regex (with named groups) for extract.
    pub pattern: Option<Pattern>,
    /// For convert.
    pub converted_type: Option<ConvertType>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawAction {
    key: Option<Text>,
    action: Option<Text>,
    value: Option<Value>,
    pattern: Option<Text>,
    from_attribute: Option<Text>,
    from_context: Option<Text>,
    converted_type: Option<Text>,
}

/// Checks each action of a list at `path` (`processors::attributes::actions`), in order.
pub(crate) fn actions(raw: Vec<RawAction>, path: &str, errs: &mut Errors) -> Vec<ActionConfig> {
    raw.into_iter()
        .enumerate()
        .filter_map(|(i, a)| action(a, &format!("{path}[{i}]"), errs))
        .collect()
}

fn action_kind(raw: Option<&Text>, path: &str, errs: &mut Errors) -> Option<ActionKind> {
    let kind = match raw.map(|t| t.0.to_lowercase()).as_deref() {
        Some("insert") => ActionKind::Insert,
        Some("update") => ActionKind::Update,
        Some("upsert") => ActionKind::Upsert,
        Some("delete") => ActionKind::Delete,
        Some("hash") => ActionKind::Hash,
        Some("extract") => ActionKind::Extract,
        Some("convert") => ActionKind::Convert,
        Some(other) => {
            errs.invalid(join(path, "action"), format!("unsupported action {other:?}; expected insert, update, upsert, delete, hash, extract or convert"));
            return None;
        }
        None => {
            errs.invalid(join(path, "action"), "missing required field \"action\"");
            return None;
        }
    };
    Some(kind)
}

/// The value source of an insert/update/upsert: exactly one of value, from_attribute,
/// from_context (the last is refused: this build keeps no client metadata).
fn value_source(raw: &RawAction, name: &str, path: &str, errs: &mut Errors) -> Option<ValueSource> {
    let value = raw.value.as_ref().filter(|v| !v.is_null());
    let from_attribute = raw.from_attribute.as_ref().filter(|f| !f.0.is_empty());
    let has_context = raw.from_context.as_ref().is_some_and(|f| !f.0.is_empty());
    let count = usize::from(value.is_some())
        + usize::from(from_attribute.is_some())
        + usize::from(has_context);
    if count > 1 {
        errs.invalid(path, "multiple value sources are set; use exactly one of value, from_attribute or from_context");
        None
    } else if has_context {
        errs.invalid(join(path, "from_context"), "from_context is not supported by this build (no client metadata is kept); use value or from_attribute");
        None
    } else if let Some(v) = value {
        scalar(v, &join(path, "value"), errs).map(ValueSource::Value)
    } else if let Some(f) = from_attribute {
        Some(ValueSource::FromAttribute(f.0.clone()))
    } else {
        errs.invalid(path, format!("either field \"value\", \"from_attribute\" or \"from_context\" must be specified for action \"{name}\""));
        None
    }
}

/// `pattern`: a key regex for delete/hash, a value regex with only named groups for extract
/// (`Err` when extract has none), not allowed elsewhere.
fn action_pattern(
    kind: ActionKind,
    text: Option<String>,
    path: &str,
    errs: &mut Errors,
) -> Result<Option<Pattern>, ()> {
    let pattern_path = join(path, "pattern");
    match (kind, text) {
        (ActionKind::Delete | ActionKind::Hash, Some(text)) => {
            Ok(compile(&text, &pattern_path, errs))
        }
        (ActionKind::Extract, None) => {
            errs.invalid(
                &pattern_path,
                "missing required field \"pattern\" for action \"extract\"",
            );
            Err(())
        }
        (ActionKind::Extract, Some(text)) => {
            let p = compile(&text, &pattern_path, errs).ok_or(())?;
            let names: Vec<_> = p.0.capture_names().skip(1).collect();
            if names.is_empty() {
                errs.invalid(&pattern_path, "pattern contains no named matcher groups");
            } else if names.iter().any(Option::is_none) {
                errs.invalid(
                    &pattern_path,
                    "pattern contains at least one unnamed matcher group",
                );
            }
            Ok(Some(p))
        }
        (_, Some(_)) => {
            let name = format!("{kind:?}").to_lowercase();
            errs.invalid(
                &pattern_path,
                format!("action \"{name}\" does not use the \"pattern\" field"),
            );
            Ok(None)
        }
        (_, None) => Ok(None),
    }
}

fn converted_type(
    kind: ActionKind,
    converted: Option<&str>,
    path: &str,
    errs: &mut Errors,
) -> Option<ConvertType> {
    let at = join(path, "converted_type");
    match (kind, converted) {
        (ActionKind::Convert, Some("int")) => Some(ConvertType::Int),
        (ActionKind::Convert, Some("double")) => Some(ConvertType::Double),
        (ActionKind::Convert, Some("string")) => Some(ConvertType::String),
        (ActionKind::Convert, Some(other)) => {
            errs.invalid(
                at,
                format!("invalid type {other:?}; expected int, double or string"),
            );
            None
        }
        (ActionKind::Convert, None) => {
            errs.invalid(
                at,
                "missing required field \"converted_type\" for action \"convert\"",
            );
            None
        }
        (_, Some(_)) => {
            let name = format!("{kind:?}").to_lowercase();
            errs.invalid(
                at,
                format!("action \"{name}\" does not use the \"converted_type\" field"),
            );
            None
        }
        (_, None) => None,
    }
}

fn action(raw: RawAction, path: &str, errs: &mut Errors) -> Option<ActionConfig> {
    let kind = action_kind(raw.action.as_ref(), path, errs)?;
    let name = format!("{kind:?}").to_lowercase();
    let key = raw.key.as_ref().map(|k| k.0.clone()).unwrap_or_default();
    let pattern_text = raw
        .pattern
        .as_ref()
        .map(|p| p.0.clone())
        .filter(|p| !p.is_empty());
    let needs_key = !matches!(kind, ActionKind::Delete | ActionKind::Hash);
    if needs_key && key.is_empty() {
        errs.invalid(
            join(path, "key"),
            format!("missing required field \"key\" for action \"{name}\""),
        );
    }
    if !needs_key && key.is_empty() && pattern_text.is_none() {
        errs.invalid(
            path,
            format!("either field \"key\" or \"pattern\" is required for action \"{name}\""),
        );
    }
    let setter = matches!(
        kind,
        ActionKind::Insert | ActionKind::Update | ActionKind::Upsert
    );
    let source = if setter {
        value_source(&raw, &name, path, errs)
    } else {
        let any_source = raw.value.as_ref().is_some_and(|v| !v.is_null())
            || raw.from_attribute.as_ref().is_some_and(|f| !f.0.is_empty())
            || raw.from_context.as_ref().is_some_and(|f| !f.0.is_empty());
        if any_source {
            errs.invalid(path, format!("action \"{name}\" does not use value sources; remove value, from_attribute and from_context"));
        }
        None
    };
    let converted = raw
        .converted_type
        .as_ref()
        .map(|c| c.0.as_str())
        .filter(|c| !c.is_empty());
    let converted_type = converted_type(kind, converted, path, errs);
    let pattern = action_pattern(kind, pattern_text, path, errs).ok()?;
    Some(ActionConfig {
        action: kind,
        key,
        source,
        pattern,
        converted_type,
    })
}
