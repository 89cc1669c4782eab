//! `service:` section: pipelines, enabled extensions and the collector's own telemetry.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_yaml::Value;

use super::de::{self, join, warn_ignored, Text};
use super::error::Errors;
use super::id::{ComponentId, PipelineId};

/// The `service` section.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ServiceConfig {
    /// Pipelines in id order (signal, then name).
    pub pipelines: Vec<PipelineConfig>,
    /// Extensions to start, each configured under `extensions:`.
    pub extensions: Vec<ComponentId>,
    /// The collector's own logs and metrics.
    pub telemetry: TelemetryConfig,
}

/// One pipeline: receivers fan in, processors run in order, exporters fan out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PipelineConfig {
    /// The pipeline's id, e.g. `traces/2`.
    pub id: PipelineId,
    /// Receivers feeding it (at least one).
    pub receivers: Vec<ComponentId>,
    /// Processors, in the order they run.
    pub processors: Vec<ComponentId>,
    /// Exporters it sends to (at least one).
    pub exporters: Vec<ComponentId>,
}

/// Format of the collector's own log lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LogEncoding {
    /// Human-readable lines (default).
    #[default]
    Console,
    /// One JSON object per line.
    Json,
}

/// `service.telemetry`.
#[derive(Clone, Debug, PartialEq)]
pub struct TelemetryConfig {
    /// `logs.level`: `debug`, `info` (default), `warn` or `error`.
    pub logs_level: String,
    /// `logs.encoding`: console (default) or json.
    pub logs_encoding: LogEncoding,
    /// `metrics`: the Prometheus endpoint for the collector's own metrics.
    pub metrics: super::metrics::MetricsConfig,
    /// `resource` attributes as written.
    pub resource: Option<Value>,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            logs_level: "info".to_owned(),
            logs_encoding: LogEncoding::Console,
            metrics: super::metrics::MetricsConfig::default(),
            resource: None,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawService {
    extensions: Option<Vec<ComponentId>>,
    pipelines: Option<BTreeMap<String, Option<RawPipeline>>>,
    telemetry: Option<RawTelemetry>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawPipeline {
    receivers: Option<Vec<ComponentId>>,
    processors: Option<Vec<ComponentId>>,
    exporters: Option<Vec<ComponentId>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawTelemetry {
    logs: Option<RawLogs>,
    metrics: Option<Value>,
    traces: Option<Value>,
    resource: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawLogs {
    level: Option<Text>,
    encoding: Option<Text>,
    development: Option<Value>,
    disable_caller: Option<Value>,
    disable_stacktrace: Option<Value>,
    sampling: Option<Value>,
    output_paths: Option<Value>,
    error_output_paths: Option<Value>,
    initial_fields: Option<Value>,
    processors: Option<Value>,
}

/// Decodes the `service` section; cross-references are checked later by `validate`.
/// None when the section itself could not be decoded (already reported).
pub(crate) fn build(body: Value, errs: &mut Errors) -> Option<ServiceConfig> {
    let raw = errs.take(de::decode::<RawService>(body, "service"))?;
    let mut pipelines: Vec<PipelineConfig> = Vec::new();
    for (key, body) in raw.pipelines.unwrap_or_default() {
        let path = join("service::pipelines", &key);
        let id = match key.parse::<PipelineId>() {
            Ok(id) => id,
            Err(reason) => {
                errs.invalid(path, reason);
                continue;
            }
        };
        if pipelines.iter().any(|p| p.id == id) {
            errs.invalid(path, format!("pipeline \"{id}\" is defined twice"));
            continue;
        }
        let body = body.unwrap_or_default();
        pipelines.push(PipelineConfig {
            id,
            receivers: body.receivers.unwrap_or_default(),
            processors: body.processors.unwrap_or_default(),
            exporters: body.exporters.unwrap_or_default(),
        });
    }
    pipelines.sort_by(|a, b| a.id.cmp(&b.id));
    Some(ServiceConfig {
        pipelines,
        extensions: raw.extensions.unwrap_or_default(),
        telemetry: telemetry(raw.telemetry.unwrap_or_default(), errs),
    })
}

fn telemetry(raw: RawTelemetry, errs: &mut Errors) -> TelemetryConfig {
    let path = "service::telemetry";
    warn_ignored(errs, &join(path, "traces"), &raw.traces);
    let logs = raw.logs.unwrap_or_default();
    let at = |key: &str| join(path, &join("logs", key));
    for (key, value) in [
        ("development", &logs.development),
        ("disable_caller", &logs.disable_caller),
        ("disable_stacktrace", &logs.disable_stacktrace),
        ("sampling", &logs.sampling),
        ("output_paths", &logs.output_paths),
        ("error_output_paths", &logs.error_output_paths),
        ("initial_fields", &logs.initial_fields),
        ("processors", &logs.processors),
    ] {
        warn_ignored(errs, &at(key), value);
    }
    let logs_level = match logs.level.map(|t| t.0.to_ascii_lowercase()) {
        None => "info".to_owned(),
        Some(level) if ["debug", "info", "warn", "error"].contains(&level.as_str()) => level,
        Some(other) => {
            errs.invalid(
                at("level"),
                format!("unknown level \"{other}\"; expected debug, info, warn or error"),
            );
            "info".to_owned()
        }
    };
    let logs_encoding = match logs.encoding.as_ref().map(|t| t.0.as_str()) {
        None | Some("console") => LogEncoding::Console,
        Some("json") => LogEncoding::Json,
        Some(other) => {
            errs.invalid(
                at("encoding"),
                format!("unknown encoding \"{other}\"; expected console or json"),
            );
            LogEncoding::Console
        }
    };
    TelemetryConfig {
        logs_level,
        logs_encoding,
        metrics: super::metrics::build(raw.metrics, errs),
        resource: raw.resource,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::signal::Signal;

    fn parse(yaml: &str) -> Result<ServiceConfig, super::super::error::ConfigError> {
        let mut errs = Errors::default();
        let s = build(serde_yaml::from_str(yaml).unwrap(), &mut errs);
        errs.finish(s.unwrap_or_default())
    }

    #[test]
    fn pipelines_sorted_with_ids() {
        let s = parse(
            "pipelines:\n  traces/2: {receivers: [otlp], exporters: [debug]}\n  logs:\n  traces:\n    receivers: [otlp/a]\n    processors: [batch]\n    exporters: [otlp/b, debug]\n",
        )
        .unwrap();
        let ids: Vec<String> = s.pipelines.iter().map(|p| p.id.to_string()).collect();
        assert_eq!(ids, ["traces", "traces/2", "logs"]);
        let t = &s.pipelines[0];
        assert_eq!(t.id.signal, Signal::Traces);
        assert_eq!(t.receivers, [ComponentId::named("otlp", "a")]);
        assert_eq!(t.processors, [ComponentId::new("batch")]);
        assert_eq!(
            t.exporters,
            [ComponentId::named("otlp", "b"), ComponentId::new("debug")]
        );
        assert!(s.pipelines[2].receivers.is_empty());
    }

    #[test]
    fn telemetry_defaults_and_values() {
        let s = parse("").unwrap();
        assert_eq!(s.telemetry, TelemetryConfig::default());
        assert_eq!(s.telemetry.logs_level, "info");
        assert_eq!(s.telemetry.logs_encoding, LogEncoding::Console);
        let s = parse("telemetry:\n  logs: {level: DEBUG, encoding: json, development: true}\n  metrics: {level: detailed, address: ':8888'}\n  resource: {service.name: gw}\n").unwrap();
        assert_eq!(s.telemetry.logs_level, "debug");
        assert_eq!(s.telemetry.logs_encoding, LogEncoding::Json);
        assert_eq!(s.telemetry.metrics.endpoint.as_deref(), Some(":8888"));
        assert!(s.telemetry.resource.is_some());
    }

    #[test]
    fn errors_name_the_key() {
        let err = parse("pipelines:\n  profiles: {}").unwrap_err().to_string();
        assert!(
            err.starts_with("service::pipelines::profiles: unknown signal \"profiles\""),
            "{err}"
        );
        let err = parse("pipelines:\n  traces: {receivers: [otlp], exporter: [debug]}")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("service::pipelines::traces"), "{err}");
        assert!(err.contains("unknown field `exporter`"), "{err}");
        let err = parse("pipelines:\n  traces: {receivers: [otlp, \"9x\"]}")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("service::pipelines::traces::receivers[1]: invalid id \"9x\""),
            "{err}"
        );
        let err = parse("telemetry: {logs: {level: verbose}}")
            .unwrap_err()
            .to_string();
        assert_eq!(err, "service::telemetry::logs::level: unknown level \"verbose\"; expected debug, info, warn or error");
        let err = parse("telemetry: {logs: {encoding: xml}}")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("service::telemetry::logs::encoding: unknown encoding"),
            "{err}"
        );
        let err = parse("pipelines:\n  traces/a: {}\n  traces/ a: {}")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("pipeline \"traces/a\" is defined twice"),
            "{err}"
        );
    }
}
