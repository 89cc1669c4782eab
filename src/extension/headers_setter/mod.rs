//! The `headers_setter` extension on one shard: an exporter's authenticator
//! (`auth: {authenticator: headers_setter}`) that sets request headers (HTTP) or gRPC
//! metadata from the config or from the exported data's client metadata.
//!
//! For each export request, rule by rule in config order, after the exporter's own
//! `headers`:
//! 1. the value: `value` as written, or the one value of the `from_context` key in the
//!    batch's client metadata (`default_value` when it has none; more than one value is an
//!    error, as in the contrib extension: which one to send cannot be decided);
//! 2. the action: `insert` sets it only where the request has no (or an empty) such header,
//!    `update` only where it has one, `upsert` always, `delete` removes it.

pub mod config;

use http::{HeaderMap, HeaderName, HeaderValue};

use self::config::{HeaderAction, HeaderSource, HeadersSetterConfig};
use crate::pipeline::metadata::Metadata;

/// Why the headers of one request could not be set; the same data fails the same way.
#[derive(Debug, thiserror::Error)]
pub enum HeadersError {
    /// The metadata key has several values.
    #[error("{count} source keys found in the context for header {header}, can't determine which one to use")]
    Ambiguous {
        /// The header being set.
        header: HeaderName,
        /// How many values the key has.
        count: usize,
    },
    /// The metadata value cannot be a header value.
    #[error("the value for header {header} from the context is not a valid header value")]
    Invalid {
        /// The header being set.
        header: HeaderName,
    },
}

enum Source {
    Value(HeaderValue),
    Context { key: String, default_value: String },
    Nothing,
}

struct Rule {
    name: HeaderName,
    source: Source,
    action: HeaderAction,
}

/// One shard's header setter.
pub struct HeadersSetter {
    rules: Vec<Rule>,
}

impl HeadersSetter {
    /// The setter of `config` (names and static values checked when the config was read).
    pub fn new(config: &HeadersSetterConfig) -> Result<HeadersSetter, String> {
        let rules = config
            .headers
            .iter()
            .map(|h| {
                let name = HeaderName::from_bytes(h.key.as_bytes())
                    .map_err(|e| format!("header {:?}: {e}", h.key))?;
                let source = match &h.source {
                    HeaderSource::Value(v) => Source::Value(
                        HeaderValue::from_str(v).map_err(|e| format!("header {name}: {e}"))?,
                    ),
                    HeaderSource::Context { key, default_value } => Source::Context {
                        key: key.clone(),
                        default_value: default_value.clone(),
                    },
                    HeaderSource::Nothing => Source::Nothing,
                };
                Ok(Rule {
                    name,
                    source,
                    action: h.action,
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(HeadersSetter { rules })
    }

    /// Applies every rule to `map`, for data whose client metadata is `metadata`.
    pub fn apply(&self, map: &mut HeaderMap, metadata: &Metadata) -> Result<(), HeadersError> {
        for rule in &self.rules {
            if rule.action == HeaderAction::Delete {
                map.remove(&rule.name);
                continue;
            }
            let value = match &rule.source {
                Source::Value(value) => value.clone(),
                Source::Context { key, default_value } => {
                    context_value(&rule.name, key, default_value, metadata)?
                }
                Source::Nothing => continue,
            };
            let present = map.get(&rule.name).is_some_and(|v| !v.is_empty());
            let set = match rule.action {
                HeaderAction::Insert => !present,
                HeaderAction::Update => present,
                HeaderAction::Upsert => true,
                HeaderAction::Delete => false,
            };
            if set {
                map.insert(rule.name.clone(), value);
            }
        }
        Ok(())
    }
}

/// The value of metadata `key` as a header value, or `default_value` when it has none.
fn context_value(
    header: &HeaderName,
    key: &str,
    default_value: &str,
    metadata: &Metadata,
) -> Result<HeaderValue, HeadersError> {
    let mut values = metadata.get(key);
    let value = match (values.next(), values.next()) {
        (None, _) => default_value,
        (Some(only), None) => only,
        (Some(_), Some(_)) => {
            return Err(HeadersError::Ambiguous {
                header: header.clone(),
                count: 2 + values.count(),
            })
        }
    };
    HeaderValue::from_str(value).map_err(|_| HeadersError::Invalid {
        header: header.clone(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::config::HeaderRule;
    use super::*;

    fn setter(rules: &[(&str, HeaderSource, HeaderAction)]) -> HeadersSetter {
        let headers = rules
            .iter()
            .map(|(k, s, a)| HeaderRule {
                key: (*k).into(),
                source: s.clone(),
                action: *a,
            })
            .collect();
        HeadersSetter::new(&HeadersSetterConfig { headers }).unwrap()
    }

    fn context(key: &str, default_value: &str) -> HeaderSource {
        HeaderSource::Context {
            key: key.into(),
            default_value: default_value.into(),
        }
    }

    #[test]
    fn context_values_fall_back_to_the_default() {
        let s = setter(&[(
            "x-scope-orgid",
            context("X-Tenant", "anon"),
            HeaderAction::Upsert,
        )]);
        let mut map = HeaderMap::new();
        s.apply(&mut map, &Metadata::from_pairs([("x-tenant", "acme")]))
            .unwrap();
        assert_eq!(map["x-scope-orgid"], "acme");
        s.apply(&mut map, &Metadata::default()).unwrap();
        assert_eq!(map["x-scope-orgid"], "anon");
        let two = Metadata::from_pairs([("x-tenant", "a"), ("X-Tenant", "b")]);
        assert!(matches!(
            s.apply(&mut map, &two),
            Err(HeadersError::Ambiguous { count: 2, .. })
        ));
    }

    #[test]
    fn actions_follow_the_contrib_extension() {
        let value = |v: &str| HeaderSource::Value(v.into());
        let s = setter(&[
            ("a", value("new"), HeaderAction::Insert),
            ("b", value("new"), HeaderAction::Insert),
            ("c", value("new"), HeaderAction::Update),
            ("d", value("new"), HeaderAction::Update),
            ("e", HeaderSource::Nothing, HeaderAction::Delete),
        ]);
        let mut map = HeaderMap::new();
        for name in ["a", "c", "e"] {
            map.insert(name, HeaderValue::from_static("old"));
        }
        s.apply(&mut map, &Metadata::default()).unwrap();
        assert_eq!(map["a"], "old");
        assert_eq!(map["b"], "new");
        assert_eq!(map["c"], "new");
        assert!(map.get("d").is_none());
        assert!(map.get("e").is_none());
    }
}
