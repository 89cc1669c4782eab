//! Config of the `probabilistic_sampler` processor: otelcol-contrib's keys, defaults and
//! checks.

use serde::Deserialize;
use serde_yaml::Value;

use super::threshold::{HEX_DIGITS, MIN_PROBABILITY};
use crate::config::de::{self, join, Text};
use crate::config::error::Errors;

/// How the sampler draws its decision (otelcol's `mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The legacy FNV hash of the trace id (or a log attribute) with `hash_seed`.
    HashSeed,
    /// OpenTelemetry consistent sampling, lowering each item's probability by the ratio.
    Proportional,
    /// OpenTelemetry consistent sampling to one absolute probability.
    Equalizing,
}

/// Where a log record's randomness comes from (otelcol's `attribute_source`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttributeSource {
    /// The record's trace id.
    TraceId,
    /// The record's `from_attribute` attribute.
    Record,
}

/// The `probabilistic_sampler` processor.
#[derive(Clone, Debug, PartialEq)]
pub struct ProbabilisticSamplerConfig {
    /// Percent of items kept; 100 and above keep all, 0 keeps none.
    pub sampling_percentage: f32,
    /// Seed of the `hash_seed` mode's hash; every collector of a tier must share it.
    pub hash_seed: u32,
    /// The sampling mode; unset picks otelcol's default per signal ([`Self::mode_for`]).
    pub mode: Option<Mode>,
    /// Drop items whose sampling information is missing or broken (default true).
    pub fail_closed: bool,
    /// Hex digits of the threshold written into the data (1..=14, default 4).
    pub sampling_precision: usize,
    /// Logs: where randomness comes from (default the trace id).
    pub attribute_source: AttributeSource,
    /// Logs: the attribute hashed when the trace id is absent or not the source.
    pub from_attribute: String,
    /// Logs: the attribute holding a per-record sampling percentage.
    pub sampling_priority: String,
}

impl ProbabilisticSamplerConfig {
    /// The mode for one signal: `hash_seed` when a seed is set or logs are sampled by
    /// attribute, else `proportional` (otelcol's rule for an unset `mode`).
    pub fn mode_for(&self, logs: bool) -> Mode {
        self.mode.unwrap_or(
            if self.hash_seed != 0 || (logs && self.attribute_source != AttributeSource::TraceId) {
                Mode::HashSeed
            } else {
                Mode::Proportional
            },
        )
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Raw {
    sampling_percentage: Option<f32>,
    hash_seed: Option<u32>,
    mode: Option<Text>,
    fail_closed: Option<bool>,
    sampling_precision: Option<i64>,
    attribute_source: Option<Text>,
    from_attribute: Option<Text>,
    sampling_priority: Option<Text>,
}

/// Decodes and checks a `probabilistic_sampler` body at `path`.
pub(crate) fn parse(
    body: Value,
    path: &str,
    errs: &mut Errors,
) -> Option<ProbabilisticSamplerConfig> {
    let raw: Raw = errs.take(de::decode(body, path))?;
    let percentage = raw.sampling_percentage.unwrap_or(0.0);
    let ratio = f64::from(percentage) / 100.0;
    if !ratio.is_finite() {
        errs.invalid(
            join(path, "sampling_percentage"),
            "sampling rate is invalid",
        );
    } else if ratio < 0.0 {
        errs.invalid(
            join(path, "sampling_percentage"),
            "sampling rate is negative",
        );
    } else if ratio > 0.0 && ratio < MIN_PROBABILITY {
        errs.invalid(
            join(path, "sampling_percentage"),
            "sampling rate is too small",
        );
    }
    let mode = match raw.mode.as_ref().map(|m| m.0.as_str()) {
        None | Some("") => None,
        Some("hash_seed") => Some(Mode::HashSeed),
        Some("proportional") => Some(Mode::Proportional),
        Some("equalizing") => Some(Mode::Equalizing),
        Some(other) => {
            errs.invalid(
                join(path, "mode"),
                format!(
                    "unsupported sampler mode {other:?} (hash_seed, proportional or equalizing)"
                ),
            );
            None
        }
    };
    let attribute_source = match raw.attribute_source.as_ref().map(|m| m.0.as_str()) {
        None | Some("") | Some("traceID") => AttributeSource::TraceId,
        Some("record") => AttributeSource::Record,
        Some(other) => {
            errs.invalid(
                join(path, "attribute_source"),
                format!("invalid attribute source: {other}. Expected: traceID or record"),
            );
            AttributeSource::TraceId
        }
    };
    let precision = raw.sampling_precision.unwrap_or(4);
    let sampling_precision = match usize::try_from(precision) {
        Ok(p) if (1..=HEX_DIGITS).contains(&p) => p,
        _ => {
            errs.invalid(
                join(path, "sampling_precision"),
                format!("sampling precision must be between 1 and 14, not {precision}"),
            );
            4
        }
    };
    Some(ProbabilisticSamplerConfig {
        sampling_percentage: percentage,
        hash_seed: raw.hash_seed.unwrap_or(0),
        mode,
        fail_closed: raw.fail_closed.unwrap_or(true),
        sampling_precision,
        attribute_source,
        from_attribute: raw.from_attribute.map(|t| t.0).unwrap_or_default(),
        sampling_priority: raw.sampling_priority.map(|t| t.0).unwrap_or_default(),
    })
}

/// Parses a body as `processors::probabilistic_sampler` (for tests of the processor).
#[cfg(test)]
pub(crate) fn parse_sampler(
    yaml: &str,
) -> Result<ProbabilisticSamplerConfig, crate::config::ConfigError> {
    use crate::config::ConfigError;
    let mut errs = Errors::default();
    let body: Value =
        serde_yaml::from_str(yaml).map_err(|e| ConfigError::invalid("yaml", e.to_string()))?;
    let cfg = parse(body, "processors::probabilistic_sampler", &mut errs);
    errs.finish(cfg)
        .and_then(|c| c.ok_or_else(|| ConfigError::invalid("?", "none")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn read(yaml: &str) -> Result<ProbabilisticSamplerConfig, String> {
        parse_sampler(yaml).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_are_otelcols() {
        let c = read("sampling_percentage: 15.3").unwrap();
        assert_eq!(c.sampling_percentage, 15.3);
        assert!(c.fail_closed);
        assert_eq!(c.sampling_precision, 4);
        assert_eq!(c.mode_for(false), Mode::Proportional);
        let seeded = read("{sampling_percentage: 15.3, hash_seed: 22}").unwrap();
        assert_eq!(seeded.mode_for(false), Mode::HashSeed);
        let by_record = read("{attribute_source: record, from_attribute: id}").unwrap();
        assert_eq!(by_record.mode_for(true), Mode::HashSeed);
        assert_eq!(by_record.mode_for(false), Mode::Proportional);
    }

    #[test]
    fn bad_settings_name_their_key() {
        for (yaml, key) in [
            ("sampling_percentage: -1", "sampling_percentage"),
            ("sampling_percentage: .nan", "sampling_percentage"),
            ("sampling_percentage: 1.0e-20", "sampling_percentage"),
            ("mode: random", "mode"),
            ("sampling_precision: 0", "sampling_precision"),
            ("sampling_precision: 15", "sampling_precision"),
            ("attribute_source: span", "attribute_source"),
            ("sampling_percent: 5", "sampling_percent"),
        ] {
            let err = read(yaml).unwrap_err();
            assert!(err.contains(key), "{yaml}: {err}");
        }
    }
}
