//! Component ids (`otlp`, `otlp/2`) and pipeline ids (`traces`, `traces/2`), with otelcol's rules.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

use super::de::Text;
use crate::signal::Signal;

/// A component id: `type` or `type/name`, as the keys of `receivers:`, `processors:`, ...
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ComponentId {
    /// The component type, e.g. `otlp`; selects the implementation.
    pub kind: String,
    /// The optional instance name after the `/`, e.g. `2` in `otlp/2`.
    pub name: Option<String>,
}

impl ComponentId {
    /// An id without a name, e.g. `ComponentId::new("batch")`.
    pub fn new(kind: impl Into<String>) -> Self {
        ComponentId {
            kind: kind.into(),
            name: None,
        }
    }

    /// An id with a name, e.g. `ComponentId::named("otlp", "2")`.
    pub fn named(kind: impl Into<String>, name: impl Into<String>) -> Self {
        ComponentId {
            kind: kind.into(),
            name: Some(name.into()),
        }
    }
}

/// Checks an otelcol type: `[a-zA-Z][a-zA-Z0-9_]*`.
fn valid_kind(kind: &str) -> bool {
    let mut chars = kind.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Checks an otelcol name: non-empty, no whitespace or control characters.
fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Splits `type[/name]` (trimming spaces around each part, as otelcol does) and checks both.
fn split_id(text: &str) -> Result<(&str, Option<&str>), String> {
    let (kind, name) = match text.split_once('/') {
        Some((kind, name)) => (kind.trim(), Some(name.trim())),
        None => (text.trim(), None),
    };
    if !valid_kind(kind) {
        return Err(format!(
            "invalid id \"{text}\": the type must match [a-zA-Z][a-zA-Z0-9_]*"
        ));
    }
    if let Some(name) = name {
        if !valid_name(name) {
            return Err(format!(
                "invalid id \"{text}\": the name after \"/\" must be non-empty, without spaces or control characters"
            ));
        }
    }
    Ok((kind, name))
}

impl FromStr for ComponentId {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (kind, name) = split_id(text)?;
        Ok(ComponentId {
            kind: kind.to_owned(),
            name: name.map(str::to_owned),
        })
    }
}

impl fmt::Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{}/{}", self.kind, name),
            None => f.write_str(&self.kind),
        }
    }
}

impl<'de> Deserialize<'de> for ComponentId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Text(text) = Text::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A pipeline id: the signal, optionally `/name`, as the keys of `service.pipelines`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PipelineId {
    /// The signal the pipeline carries.
    pub signal: Signal,
    /// The optional name after the `/`, e.g. `2` in `traces/2`.
    pub name: Option<String>,
}

impl FromStr for PipelineId {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (kind, name) = split_id(text)?;
        let signal = Signal::parse(kind).ok_or_else(|| {
            format!("unknown signal \"{kind}\" in pipeline id \"{text}\"; expected traces, metrics or logs")
        })?;
        Ok(PipelineId {
            signal,
            name: name.map(str::to_owned),
        })
    }
}

impl fmt::Display for PipelineId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{}/{}", self.signal, name),
            None => f.write_str(self.signal.as_str()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn component_ids_parse_and_display() {
        let id: ComponentId = "otlp/2".parse().unwrap();
        assert_eq!(id, ComponentId::named("otlp", "2"));
        assert_eq!(id.to_string(), "otlp/2");
        let id: ComponentId = "otlp_grpc".parse().unwrap();
        assert_eq!(id, ComponentId::new("otlp_grpc"));
        assert_eq!(id.to_string(), "otlp_grpc");
        let id: ComponentId = " otlp / backend.eu ".parse().unwrap();
        assert_eq!(id, ComponentId::named("otlp", "backend.eu"));
        let id: ComponentId = "otlp/a/b".parse().unwrap();
        assert_eq!(id.name.as_deref(), Some("a/b"));
    }

    #[test]
    fn bad_component_ids_are_rejected() {
        for bad in ["", "/x", "2otlp", "otlp/", "ot-lp", "otlp/a b", "otlp/ "] {
            assert!(bad.parse::<ComponentId>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn pipeline_ids_parse_and_display() {
        let id: PipelineId = "traces/2".parse().unwrap();
        assert_eq!(id.signal, Signal::Traces);
        assert_eq!(id.name.as_deref(), Some("2"));
        assert_eq!(id.to_string(), "traces/2");
        assert_eq!("logs".parse::<PipelineId>().unwrap().to_string(), "logs");
        let err = "profiles".parse::<PipelineId>().unwrap_err();
        assert!(err.contains("unknown signal \"profiles\""), "{err}");
    }

    #[test]
    fn ids_order_by_kind_then_name() {
        let mut ids: Vec<ComponentId> = ["otlp/b", "debug", "otlp", "otlp/a"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        ids.sort();
        let shown: Vec<String> = ids.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["debug", "otlp", "otlp/a", "otlp/b"]);
    }
}
