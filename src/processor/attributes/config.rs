//! Config of the `attributes` processor: an action list and optional `include` / `exclude`
//! match properties, with otelcol's keys and checks.

use serde::Deserialize;
use serde_yaml::Value;

use crate::config::de::{self, join};
use crate::config::error::Errors;
use crate::processor::actions::config::{actions, ActionConfig, RawAction};
use crate::processor::matching::config::{matcher, MatchConfig, RawMatch};
use crate::signal::Signal;

/// The `attributes` processor.
#[derive(Clone, Debug, PartialEq)]
pub struct AttributesConfig {
    /// Actions, applied in order.
    pub actions: Vec<ActionConfig>,
    /// Only matching items are processed (boxed: the properties are large and rare).
    pub include: Option<Box<MatchConfig>>,
    /// Matching items are not processed.
    pub exclude: Option<Box<MatchConfig>>,
}

impl AttributesConfig {
    /// Whether include/exclude can be evaluated for `signal`.
    pub fn check_signal(&self, signal: Signal) -> Result<(), &'static str> {
        for m in [&self.include, &self.exclude].into_iter().flatten() {
            m.check_signal(signal)?;
        }
        Ok(())
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawAttributes {
    actions: Option<Vec<RawAction>>,
    include: Option<RawMatch>,
    exclude: Option<RawMatch>,
}

/// Decodes and checks an `attributes` processor body at `path`.
pub(crate) fn parse(body: Value, path: &str, errs: &mut Errors) -> Option<AttributesConfig> {
    let raw: RawAttributes = errs.take(de::decode(body, path))?;
    let actions_path = join(path, "actions");
    let raw_actions = raw.actions.unwrap_or_default();
    if raw_actions.is_empty() {
        errs.invalid(
            &actions_path,
            "missing required field \"actions\": at least one action is needed",
        );
    }
    let actions = actions(raw_actions, &actions_path, errs);
    let include = raw
        .include
        .map(|m| Box::new(matcher(m, &join(path, "include"), errs)));
    let exclude = raw
        .exclude
        .map(|m| Box::new(matcher(m, &join(path, "exclude"), errs)));
    Some(AttributesConfig {
        actions,
        include,
        exclude,
    })
}

/// Parses an `attributes` body as `processors::attributes` (for tests of the processors).
#[cfg(test)]
pub(crate) fn parse_attributes(yaml: &str) -> Result<AttributesConfig, crate::config::ConfigError> {
    use crate::config::ConfigError;
    let mut errs = Errors::default();
    let body: Value =
        serde_yaml::from_str(yaml).map_err(|e| ConfigError::invalid("yaml", e.to_string()))?;
    let cfg = parse(body, "processors::attributes", &mut errs);
    errs.finish(cfg)
        .and_then(|c| c.ok_or_else(|| ConfigError::invalid("?", "none")))
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
