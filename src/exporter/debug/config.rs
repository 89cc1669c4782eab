//! Config of the `debug` exporter: otelcol's keys and defaults.

use serde::Deserialize;
use serde_yaml::Value;

use crate::config::de::{self, join, Text};
use crate::config::error::Errors;

/// How much the debug exporter prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Verbosity {
    /// Counts per batch (default).
    #[default]
    Basic,
    /// One line per item.
    Normal,
    /// Every field of every item.
    Detailed,
}

/// The debug exporter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DebugExporterConfig {
    /// How much is printed (default basic).
    pub verbosity: Verbosity,
    /// Log lines per second printed before sampling starts (default 2).
    pub sampling_initial: u32,
    /// After that, print every Nth line (default 1).
    pub sampling_thereafter: u32,
}

impl Default for DebugExporterConfig {
    fn default() -> Self {
        DebugExporterConfig {
            verbosity: Verbosity::Basic,
            sampling_initial: 2,
            sampling_thereafter: 1,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawDebug {
    verbosity: Option<Text>,
    sampling_initial: Option<u32>,
    sampling_thereafter: Option<u32>,
    use_internal_logger: Option<bool>,
}

/// Decodes and checks a `debug` exporter body at `path`.
pub(crate) fn parse(body: Value, path: &str, errs: &mut Errors) -> Option<DebugExporterConfig> {
    let raw: RawDebug = errs.take(de::decode(body, path))?;
    Some(debug(raw, path, errs))
}

fn debug(raw: RawDebug, path: &str, errs: &mut Errors) -> DebugExporterConfig {
    let d = DebugExporterConfig::default();
    let verbosity = match raw.verbosity.map(|t| t.0.to_ascii_lowercase()).as_deref() {
        None | Some("basic") => Verbosity::Basic,
        Some("normal") => Verbosity::Normal,
        Some("detailed") => Verbosity::Detailed,
        Some(other) => {
            errs.invalid(
                join(path, "verbosity"),
                format!("unknown verbosity \"{other}\"; expected basic, normal or detailed"),
            );
            Verbosity::Basic
        }
    };
    if raw.use_internal_logger == Some(false) {
        errs.warn(&join(path, "use_internal_logger"), de::IGNORED);
    }
    DebugExporterConfig {
        verbosity,
        sampling_initial: raw.sampling_initial.unwrap_or(d.sampling_initial),
        sampling_thereafter: raw.sampling_thereafter.unwrap_or(d.sampling_thereafter),
    }
}
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::config::ExporterConfig;

    use crate::registry::testing::exporter as parse;

    #[test]
    fn debug_defaults_and_values() {
        let ExporterConfig::Debug(d) = parse("debug", "").unwrap() else {
            panic!()
        };
        assert_eq!(d, DebugExporterConfig::default());
        assert_eq!(
            (d.verbosity, d.sampling_initial, d.sampling_thereafter),
            (Verbosity::Basic, 2, 1)
        );
        let ExporterConfig::Debug(d) = parse("debug", "verbosity: Detailed\nsampling_initial: 5\nsampling_thereafter: 200\nuse_internal_logger: true").unwrap() else { panic!() };
        assert_eq!(
            (d.verbosity, d.sampling_initial, d.sampling_thereafter),
            (Verbosity::Detailed, 5, 200)
        );
        let err = parse("debug", "verbosity: loud").unwrap_err().to_string();
        assert_eq!(err, "exporters::debug::verbosity: unknown verbosity \"loud\"; expected basic, normal or detailed");
    }
}
