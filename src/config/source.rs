//! Getting YAML documents: reading files, parsing text, expanding `${env:...}`, and overlaying
//! tuning profiles onto the configuration.

use std::path::Path;

use serde_yaml::{Mapping, Value};

use super::error::ConfigError;
use super::expand;

/// Parses YAML text into a value tree; empty text is an empty mapping.
pub(crate) fn parse_yaml(text: &str, origin: &str) -> Result<Value, ConfigError> {
    let value: Value = serde_yaml::from_str(text).map_err(|e| {
        let location = e.location();
        ConfigError::Syntax {
            origin: origin.to_owned(),
            line: location.as_ref().map(|l| l.line()),
            column: location.as_ref().map(|l| l.column()),
            message: e.to_string(),
        }
    })?;
    Ok(match value {
        Value::Null => Value::Mapping(Mapping::new()),
        other => other,
    })
}

/// Parses a user's YAML text and expands environment references in it (unset variables are
/// added to `warnings`).
pub(crate) fn user_document(
    text: &str,
    origin: &str,
    warnings: &mut Vec<String>,
) -> Result<Value, ConfigError> {
    expand::expand_env(parse_yaml(text, origin)?, origin, warnings)
}

/// Reads a file to a string, naming the file on failure.
pub(crate) fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Checks that a profile has nothing but a top-level `shards:` section.
pub(crate) fn check_profile(profile: &Value, origin: &str) -> Result<(), ConfigError> {
    let Value::Mapping(map) = profile else {
        return Err(ConfigError::invalid(
            origin,
            "a tuning profile must be a mapping with a top-level `shards:` section",
        ));
    };
    for key in map.keys() {
        if key.as_str() != Some("shards") {
            let shown = serde_yaml::to_string(key).unwrap_or_default();
            return Err(ConfigError::invalid(
                origin,
                format!(
                    "a tuning profile may only contain a top-level `shards:` section; found `{}`",
                    shown.trim_end()
                ),
            ));
        }
    }
    Ok(())
}

/// Deep-merges `overlay` onto `base`: mappings merge key by key (overlay wins), anything else
/// is replaced, and a null overlay leaves a mapping in `base` alone (`shards:` with no body).
pub(crate) fn overlay(base: Value, overlay: Value) -> Value {
    match (base, overlay) {
        (Value::Mapping(mut base), Value::Mapping(over)) => {
            for (key, value) in over {
                let merged = match base.remove(&key) {
                    Some(old) => self::overlay(old, value),
                    None => value,
                };
                base.insert(key, merged);
            }
            Value::Mapping(base)
        }
        (base @ Value::Mapping(_), Value::Null) => base,
        (_, over) => over,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn y(text: &str) -> Value {
        serde_yaml::from_str(text).unwrap()
    }

    #[test]
    fn overlay_merges_deeply() {
        let base = y(
            "shards: {cores: all, ring_depth: 128, nested: {a: 1, b: 2}}\nreceivers: {otlp: {}}",
        );
        let over = y("shards: {cores: [0, 1], nested: {b: 3, c: 4}}");
        let merged = overlay(base, over);
        assert_eq!(
            merged,
            y("shards: {cores: [0, 1], ring_depth: 128, nested: {a: 1, b: 3, c: 4}}\nreceivers: {otlp: {}}")
        );
    }

    #[test]
    fn null_overlay_keeps_mappings() {
        let merged = overlay(y("shards: {ring_depth: 8}"), y("shards:"));
        assert_eq!(merged, y("shards: {ring_depth: 8}"));
        let merged = overlay(
            y("shards: {spin_before_park: 1ms}"),
            y("shards: {spin_before_park: ~}"),
        );
        assert_eq!(merged, y("shards: {spin_before_park: ~}"));
    }

    #[test]
    fn syntax_errors_have_positions() {
        let err = parse_yaml("receivers:\n  otlp: [\n", "cfg.yaml").unwrap_err();
        let ConfigError::Syntax { line, message, .. } = &err else {
            panic!("{err:?}")
        };
        assert!(line.is_some());
        assert!(!message.is_empty());
        assert!(
            err.to_string().starts_with("cfg.yaml: invalid YAML: "),
            "{err}"
        );
        assert_eq!(parse_yaml("", "x").unwrap(), Value::Mapping(Mapping::new()));
    }

    #[test]
    fn profiles_hold_only_shards() {
        assert!(check_profile(&y("shards: {cores: 2}"), "p").is_ok());
        let err = check_profile(&y("shards: {}\nreceivers: {}"), "p.yaml").unwrap_err();
        assert_eq!(
            err.to_string(),
            "p.yaml: a tuning profile may only contain a top-level `shards:` section; found `receivers`"
        );
        assert!(check_profile(&y("[1]"), "p").is_err());
    }

    #[test]
    fn missing_file_names_it() {
        let err = read(Path::new("/nonexistent/shardgate.yaml")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("reading /nonexistent/shardgate.yaml: "),
            "{err}"
        );
    }
}
