//! Config of the `headers_setter` extension, with the contrib extension's keys: `headers`, a
//! list of `{key, value | from_context | from_attribute, default_value, action}`.

use serde::Deserialize;
use serde_yaml::Value;

use crate::config::de::{self, join, Text};
use crate::config::error::Errors;

/// Where a header's value comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderSource {
    /// `value`: written in the config.
    Value(String),
    /// `from_context`: the data's client metadata under this key (as a receiver with
    /// `include_metadata` kept it, through a `batch` with `metadata_keys`), or
    /// `default_value` (empty when unset) when it has none.
    Context {
        /// The metadata key (matched without regard to case).
        key: String,
        /// The value when the metadata has no such key.
        default_value: String,
    },
    /// No source: only `action: delete` has none.
    Nothing,
}

/// What is done with a header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderAction {
    /// Set only when the request does not have it yet.
    Insert,
    /// Set only when the request already has it.
    Update,
    /// Set in any case (the default).
    Upsert,
    /// Removed.
    Delete,
}

/// One entry of `headers`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderRule {
    /// The header name (lowercased, as HTTP/2 and gRPC metadata carry it).
    pub key: String,
    /// Where its value comes from.
    pub source: HeaderSource,
    /// What is done with it.
    pub action: HeaderAction,
}

/// The `headers_setter` extension.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeadersSetterConfig {
    /// The headers, applied in order to every export request.
    pub headers: Vec<HeaderRule>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawHeadersSetter {
    headers: Option<Vec<RawHeader>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawHeader {
    key: Option<Text>,
    value: Option<Text>,
    from_context: Option<Text>,
    from_attribute: Option<Text>,
    default_value: Option<Text>,
    action: Option<Text>,
}

/// Decodes and checks a `headers_setter` body at `path`.
pub(crate) fn parse(body: Value, path: &str, errs: &mut Errors) -> Option<HeadersSetterConfig> {
    let raw: RawHeadersSetter = errs.take(de::decode(body, path))?;
    let at = join(path, "headers");
    let raw_headers = raw.headers.unwrap_or_default();
    if raw_headers.is_empty() {
        errs.invalid(&at, "missing headers configuration");
        return None;
    }
    let count = raw_headers.len();
    let headers: Vec<HeaderRule> = raw_headers
        .into_iter()
        .enumerate()
        .filter_map(|(i, h)| rule(h, &format!("{at}[{i}]"), errs))
        .collect();
    (headers.len() == count).then_some(HeadersSetterConfig { headers })
}

fn rule(raw: RawHeader, path: &str, errs: &mut Errors) -> Option<HeaderRule> {
    let key = match &raw.key {
        Some(Text(key)) if !key.is_empty() => key.to_ascii_lowercase(),
        _ => {
            errs.invalid(join(path, "key"), "missing header name");
            return None;
        }
    };
    if http::HeaderName::from_bytes(key.as_bytes()).is_err() {
        errs.invalid(join(path, "key"), format!("\"{key}\" is not a header name"));
        return None;
    }
    let action = match raw.action.as_ref().map(|t| t.0.as_str()) {
        Some("insert") => HeaderAction::Insert,
        Some("update") => HeaderAction::Update,
        Some("upsert") => HeaderAction::Upsert,
        Some("delete") => HeaderAction::Delete,
        None => {
            errs.warn(
                &join(path, "action"),
                "not set; using upsert (otelcol will require it)",
            );
            HeaderAction::Upsert
        }
        Some(other) => {
            errs.invalid(
                join(path, "action"),
                format!("unknown action \"{other}\"; use insert, update, upsert or delete"),
            );
            return None;
        }
    };
    let source = source(raw, action, path, errs)?;
    Some(HeaderRule {
        key,
        source,
        action,
    })
}

fn source(
    raw: RawHeader,
    action: HeaderAction,
    path: &str,
    errs: &mut Errors,
) -> Option<HeaderSource> {
    let given = [&raw.value, &raw.from_context, &raw.from_attribute]
        .iter()
        .filter(|s| s.is_some())
        .count();
    if action == HeaderAction::Delete && given == 0 {
        return Some(HeaderSource::Nothing);
    }
    match given {
        0 => errs.invalid(
            path,
            "missing header source, must be 'from_context', 'from_attribute' or 'value'",
        ),
        1 => {}
        _ => errs.invalid(
            path,
            "invalid header source, must either 'from_context', 'from_attribute' or 'value'",
        ),
    }
    if given != 1 {
        return None;
    }
    if raw.from_attribute.is_some() {
        errs.invalid(
            join(path, "from_attribute"),
            "not supported: this build's receiver authenticators attach no attributes to the data; use from_context",
        );
        return None;
    }
    if let Some(Text(value)) = raw.value {
        if http::HeaderValue::from_str(&value).is_err() {
            errs.invalid(join(path, "value"), "a value HTTP headers cannot carry");
            return None;
        }
        return Some(HeaderSource::Value(value));
    }
    let Text(key) = raw.from_context?;
    Some(HeaderSource::Context {
        key,
        default_value: raw.default_value.map(|t| t.0).unwrap_or_default(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::ConfigError;

    fn parse_yaml(yaml: &str) -> Result<HeadersSetterConfig, ConfigError> {
        let body: Value = serde_yaml::from_str(yaml).unwrap();
        let mut errs = Errors::default();
        let config = parse(body, "extensions::headers_setter", &mut errs);
        errs.finish(config).map(|c| c.unwrap())
    }

    #[test]
    fn reads_every_source_and_action() {
        let c = parse_yaml(
            "headers:\n  - {key: X-Scope-OrgID, from_context: x-tenant, default_value: anonymous, action: upsert}\n  - {key: x-static, value: v1, action: insert}\n  - {key: x-drop, action: delete}\n",
        )
        .unwrap();
        assert_eq!(
            c.headers,
            [
                HeaderRule {
                    key: "x-scope-orgid".into(),
                    source: HeaderSource::Context {
                        key: "x-tenant".into(),
                        default_value: "anonymous".into()
                    },
                    action: HeaderAction::Upsert,
                },
                HeaderRule {
                    key: "x-static".into(),
                    source: HeaderSource::Value("v1".into()),
                    action: HeaderAction::Insert,
                },
                HeaderRule {
                    key: "x-drop".into(),
                    source: HeaderSource::Nothing,
                    action: HeaderAction::Delete,
                },
            ]
        );
    }

    #[test]
    fn mistakes_name_the_entry() {
        let err = |yaml: &str| parse_yaml(yaml).unwrap_err().to_string();
        assert_eq!(
            err("headers: []"),
            "extensions::headers_setter::headers: missing headers configuration"
        );
        assert_eq!(
            err("headers: [{value: x, action: upsert}]"),
            "extensions::headers_setter::headers[0]::key: missing header name"
        );
        assert_eq!(
            err("headers: [{key: a, action: upsert}]"),
            "extensions::headers_setter::headers[0]: missing header source, must be 'from_context', 'from_attribute' or 'value'"
        );
        assert_eq!(
            err("headers: [{key: a, value: x, from_context: y, action: upsert}]"),
            "extensions::headers_setter::headers[0]: invalid header source, must either 'from_context', 'from_attribute' or 'value'"
        );
        assert!(
            err("headers: [{key: a, from_attribute: sub, action: upsert}]").starts_with(
                "extensions::headers_setter::headers[0]::from_attribute: not supported"
            )
        );
        assert!(err("headers: [{key: a, value: x, action: replace}]")
            .contains("unknown action \"replace\""));
        assert!(err("headers: [{key: a, valeu: x}]").contains("valeu"));
    }
}
