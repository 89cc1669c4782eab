//! Config of the `resource` processor: an action list on resource attributes (`attributes:`),
//! with otelcol's keys and checks.

use serde::Deserialize;
use serde_yaml::Value;

use crate::config::de::{self, join};
use crate::config::error::Errors;
use crate::processor::actions::config::{actions, ActionConfig, RawAction};

/// The `resource` processor.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceConfig {
    /// Actions on resource attributes, applied in order.
    pub attributes: Vec<ActionConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawResource {
    attributes: Option<Vec<RawAction>>,
}

/// Decodes and checks a `resource` processor body at `path`.
pub(crate) fn parse(body: Value, path: &str, errs: &mut Errors) -> Option<ResourceConfig> {
    let raw: RawResource = errs.take(de::decode(body, path))?;
    let attrs_path = join(path, "attributes");
    let raw_actions = raw.attributes.unwrap_or_default();
    if raw_actions.is_empty() {
        errs.invalid(
            &attrs_path,
            "missing required field \"attributes\": at least one action is needed",
        );
    }
    Some(ResourceConfig {
        attributes: actions(raw_actions, &attrs_path, errs),
    })
}

/// A resource action list given as YAML (`[{key, value, action}]`), checked as the
/// `resource` processor checks its `attributes` (for processors that compute their actions).
pub(crate) fn from_actions(list: Value, path: &str, errs: &mut Errors) -> Option<ResourceConfig> {
    let raw: Vec<RawAction> = errs.take(de::decode(list, path))?;
    Some(ResourceConfig {
        attributes: actions(raw, path, errs),
    })
}

/// Parses a `resource` body as `processors::resource` (for tests of the processors).
#[cfg(test)]
pub(crate) fn parse_resource(yaml: &str) -> Result<ResourceConfig, crate::config::ConfigError> {
    use crate::config::ConfigError;
    let mut errs = Errors::default();
    let body: Value =
        serde_yaml::from_str(yaml).map_err(|e| ConfigError::invalid("yaml", e.to_string()))?;
    let cfg = parse(body, "processors::resource", &mut errs);
    errs.finish(cfg)
        .and_then(|c| c.ok_or_else(|| ConfigError::invalid("?", "none")))
}
