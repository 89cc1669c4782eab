//! Config of the `health_check` extension, shaped as otelcol's: `endpoint` (default
//! `localhost:13133`) and `path` (default `/`).

use serde::Deserialize;
use serde_yaml::Value;

use crate::config::de::{self, warn_ignored, Text};
use crate::config::error::Errors;

/// otelcol's default `health_check` endpoint.
pub const DEFAULT_HEALTH_CHECK_ENDPOINT: &str = "localhost:13133";

/// The `health_check` extension's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthCheckConfig {
    /// `endpoint`: `host:port` to listen on.
    pub endpoint: String,
    /// `path`: the URL path answered (others get 404).
    pub path: String,
}

impl Default for HealthCheckConfig {
    fn default() -> Self {
        HealthCheckConfig {
            endpoint: DEFAULT_HEALTH_CHECK_ENDPOINT.to_owned(),
            path: "/".to_owned(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawHealthCheck {
    endpoint: Option<Text>,
    path: Option<Text>,
    response_headers: Option<Value>,
    check_collector_pipeline: Option<Value>,
}

/// Decodes and checks a `health_check` body at `path`; unknown keys are errors naming their
/// path.
pub(crate) fn parse(body: Value, path: &str, errs: &mut Errors) -> Option<HealthCheckConfig> {
    let raw: RawHealthCheck = errs.take(de::decode(body, path))?;
    warn_ignored(
        errs,
        &de::join(path, "response_headers"),
        &raw.response_headers,
    );
    warn_ignored(
        errs,
        &de::join(path, "check_collector_pipeline"),
        &raw.check_collector_pipeline,
    );
    let d = HealthCheckConfig::default();
    let endpoint = raw.endpoint.map_or(d.endpoint, |t| t.0);
    if !endpoint.contains(':') {
        errs.invalid(
            de::join(path, "endpoint"),
            format!("\"{endpoint}\" is not host:port"),
        );
    }
    let path_value = raw.path.map_or(d.path, |t| t.0);
    if !path_value.starts_with('/') {
        errs.invalid(
            de::join(path, "path"),
            format!("\"{path_value}\" must start with /"),
        );
    }
    Some(HealthCheckConfig {
        endpoint,
        path: path_value,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use crate::config::{parse_str, ExtensionConfig, HealthCheckConfig};

    const BASE: &str = "receivers: {otlp: {protocols: {grpc: }}}\nexporters: {debug: }\n";
    const PIPELINES: &str = "  pipelines: {traces: {receivers: [otlp], exporters: [debug]}}\n";

    #[test]
    fn health_check_defaults_and_values() {
        let c = parse_str(
            &format!("{BASE}extensions: {{health_check: }}\nservice:\n  extensions: [health_check]\n{PIPELINES}"),
            "t",
        )
        .unwrap();
        let id = crate::config::ComponentId::new("health_check");
        assert_eq!(
            c.extensions[&id],
            ExtensionConfig::HealthCheck(HealthCheckConfig::default())
        );
        assert_eq!(c.service.extensions, std::slice::from_ref(&id));
        let c = parse_str(
            &format!("{BASE}extensions: {{health_check: {{endpoint: 0.0.0.0:1234, path: /h}}}}\nservice:\n  extensions: [health_check]\n{PIPELINES}"),
            "t",
        )
        .unwrap();
        let ExtensionConfig::HealthCheck(hc) = &c.extensions[&id] else {
            panic!("not a health_check: {:?}", c.extensions[&id]);
        };
        assert_eq!(
            (hc.endpoint.as_str(), hc.path.as_str()),
            ("0.0.0.0:1234", "/h")
        );
    }

    #[test]
    fn errors_name_the_path() {
        let err = parse_str(
            &format!("{BASE}service:\n  extensions: [health_check]\n{PIPELINES}"),
            "t",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("service::extensions: references extension \"health_check\" which is not configured"),
            "{err}"
        );
        let err = parse_str(
            &format!("{BASE}extensions: {{health_check: {{endpont: x}}}}\nservice:\n{PIPELINES}"),
            "t",
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("extensions::health_check"), "{err}");
        assert!(err.contains("endpont"), "{err}");
        let err = parse_str(
            &format!("{BASE}extensions: {{health_check: {{path: health}}}}\nservice:\n{PIPELINES}"),
            "t",
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("extensions::health_check::path"), "{err}");
        // Configured but not listed in service.extensions: fine, it just does not run.
        assert!(parse_str(
            &format!("{BASE}extensions: {{health_check: }}\nservice:\n{PIPELINES}"),
            "t"
        )
        .is_ok());
    }
}
