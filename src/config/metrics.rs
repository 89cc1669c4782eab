//! `service.telemetry.metrics`: where the collector serves its own metrics, as otelcol
//! configures it. Accepted shapes:
//! - `readers: [{pull: {exporter: {prometheus: {host, port}}}}]` (current otelcol);
//! - `address: host:port` (older otelcol);
//! - `level: none` turns the endpoint off; `basic`, `normal` (default) and `detailed` keep it.
//!
//! Without any of these the endpoint is `localhost:8888`, as in otelcol.

use serde::Deserialize;
use serde_yaml::Value;

use super::de::{self, join, warn_ignored, Text};
use super::error::Errors;

/// otelcol's default self-metrics endpoint.
pub const DEFAULT_METRICS_ENDPOINT: &str = "localhost:8888";

/// The decoded `service.telemetry.metrics`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricsConfig {
    /// `level`, lower-case.
    pub level: String,
    /// `host:port` of the Prometheus endpoint; `None` when `level: none`.
    pub endpoint: Option<String>,
    /// Whether the endpoint was written in the config (a bind failure is then fatal; the
    /// default endpoint being taken only warns, so several collectors can share a host).
    pub explicit: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            level: "normal".to_owned(),
            endpoint: Some(DEFAULT_METRICS_ENDPOINT.to_owned()),
            explicit: false,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawMetrics {
    level: Option<Text>,
    address: Option<Text>,
    readers: Option<Vec<RawReader>>,
    views: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawReader {
    pull: Option<RawPull>,
    periodic: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawPull {
    exporter: Option<RawPullExporter>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawPullExporter {
    prometheus: Option<RawPrometheus>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawPrometheus {
    host: Option<Text>,
    port: Option<u16>,
    without_scope_info: Option<Value>,
    without_type_suffix: Option<Value>,
    without_units: Option<Value>,
    with_resource_constant_labels: Option<Value>,
}

/// Decodes `service.telemetry.metrics` (`value` as written; null = defaults).
pub(crate) fn build(value: Option<Value>, errs: &mut Errors) -> MetricsConfig {
    let path = "service::telemetry::metrics";
    let Some(value) = value else {
        return MetricsConfig::default();
    };
    let Some(raw) = errs.take(de::decode::<RawMetrics>(value, path)) else {
        return MetricsConfig::default();
    };
    warn_ignored(errs, &join(path, "views"), &raw.views);
    let level = match raw.level.map(|t| t.0.to_ascii_lowercase()) {
        None => "normal".to_owned(),
        Some(l) if ["none", "basic", "normal", "detailed"].contains(&l.as_str()) => l,
        Some(other) => {
            errs.invalid(
                join(path, "level"),
                format!("unknown level \"{other}\"; expected none, basic, normal or detailed"),
            );
            "normal".to_owned()
        }
    };
    let mut endpoint = raw.address.map(|t| t.0);
    for (i, reader) in raw.readers.unwrap_or_default().into_iter().enumerate() {
        let at = format!("{path}::readers[{i}]");
        if reader.periodic.is_some() {
            errs.invalid(
                join(&at, "periodic"),
                "push readers are not supported; use pull.exporter.prometheus",
            );
        }
        let Some(prom) = reader
            .pull
            .and_then(|p| p.exporter)
            .and_then(|e| e.prometheus)
        else {
            continue;
        };
        let at = join(&at, "pull::exporter::prometheus");
        for (key, v) in [
            ("without_scope_info", &prom.without_scope_info),
            ("without_type_suffix", &prom.without_type_suffix),
            ("without_units", &prom.without_units),
            (
                "with_resource_constant_labels",
                &prom.with_resource_constant_labels,
            ),
        ] {
            warn_ignored(errs, &join(&at, key), v);
        }
        if endpoint.is_some() {
            errs.invalid(
                at,
                "only one Prometheus endpoint is supported (address or one pull reader)",
            );
            continue;
        }
        let host = prom.host.map_or_else(|| "localhost".to_owned(), |t| t.0);
        let port = prom.port.unwrap_or(8888);
        endpoint = Some(if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        });
    }
    let explicit = endpoint.is_some();
    let endpoint = if level == "none" {
        None
    } else {
        Some(endpoint.unwrap_or_else(|| DEFAULT_METRICS_ENDPOINT.to_owned()))
    };
    MetricsConfig {
        level,
        endpoint,
        explicit,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<MetricsConfig, super::super::error::ConfigError> {
        let mut errs = Errors::default();
        let m = build(Some(serde_yaml::from_str(yaml).unwrap()), &mut errs);
        errs.finish(m)
    }

    #[test]
    fn shapes() {
        assert_eq!(parse("{}").unwrap(), MetricsConfig::default());
        let m = parse("address: 0.0.0.0:9999").unwrap();
        assert_eq!(m.endpoint.as_deref(), Some("0.0.0.0:9999"));
        assert!(m.explicit);
        let m = parse("readers: [{pull: {exporter: {prometheus: {host: 127.0.0.1, port: 9100}}}}]")
            .unwrap();
        assert_eq!(m.endpoint.as_deref(), Some("127.0.0.1:9100"));
        let m = parse("level: None").unwrap();
        assert_eq!(m.endpoint, None);
        assert_eq!(parse("level: detailed").unwrap().level, "detailed");
    }

    #[test]
    fn errors_name_the_path() {
        let err = parse("readers: [{pull: {exporter: {prometheus: {hots: x}}}}]")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("service::telemetry::metrics::readers[0]::pull::exporter::prometheus"),
            "{err}"
        );
        assert!(err.contains("hots"), "{err}");
        let err = parse("level: loud").unwrap_err().to_string();
        assert!(
            err.starts_with("service::telemetry::metrics::level"),
            "{err}"
        );
        let err = parse("adress: x").unwrap_err().to_string();
        assert!(err.contains("adress"), "{err}");
    }
}
