//! Config of the `zpages` extension, shaped as otelcol's: `endpoint` (default
//! `localhost:55679`); `expvar` is accepted and not served.

use serde::Deserialize;
use serde_yaml::Value;

use crate::config::de::{self, warn_ignored, Text};
use crate::config::error::Errors;

/// otelcol's default `zpages` endpoint.
pub const DEFAULT_ZPAGES_ENDPOINT: &str = "localhost:55679";

/// The `zpages` extension's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZpagesConfig {
    /// `endpoint`: `host:port` to listen on.
    pub endpoint: String,
}

impl Default for ZpagesConfig {
    fn default() -> Self {
        ZpagesConfig {
            endpoint: DEFAULT_ZPAGES_ENDPOINT.to_owned(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawZpages {
    endpoint: Option<Text>,
    expvar: Option<Value>,
}

/// Decodes and checks a `zpages` body at `path`; unknown keys are errors naming their path.
pub(crate) fn parse(body: Value, path: &str, errs: &mut Errors) -> Option<ZpagesConfig> {
    let raw: RawZpages = errs.take(de::decode(body, path))?;
    warn_ignored(errs, &de::join(path, "expvar"), &raw.expvar);
    let endpoint = raw
        .endpoint
        .map_or_else(|| ZpagesConfig::default().endpoint, |t| t.0);
    if !endpoint.contains(':') {
        errs.invalid(
            de::join(path, "endpoint"),
            format!("\"{endpoint}\" is not host:port"),
        );
    }
    Some(ZpagesConfig { endpoint })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use crate::config::{parse_str, ComponentId, ExtensionConfig};

    use super::*;

    const BASE: &str = "receivers: {otlp: {protocols: {grpc: }}}\nexporters: {debug: }\n";
    const PIPELINES: &str = "  pipelines: {traces: {receivers: [otlp], exporters: [debug]}}\n";

    #[test]
    fn defaults_values_and_errors() {
        let c = parse_str(
            &format!(
                "{BASE}extensions: {{zpages: }}\nservice:\n  extensions: [zpages]\n{PIPELINES}"
            ),
            "t",
        )
        .unwrap();
        assert_eq!(
            c.extensions[&ComponentId::new("zpages")],
            ExtensionConfig::Zpages(ZpagesConfig::default())
        );
        let c = parse_str(
            &format!("{BASE}extensions: {{zpages: {{endpoint: '0.0.0.0:1234'}}}}\nservice:\n  extensions: [zpages]\n{PIPELINES}"),
            "t",
        )
        .unwrap();
        let ExtensionConfig::Zpages(z) = &c.extensions[&ComponentId::new("zpages")] else {
            panic!("not zpages");
        };
        assert_eq!(z.endpoint, "0.0.0.0:1234");
        let err = parse_str(
            &format!("{BASE}extensions: {{zpages: {{endpont: x}}}}\nservice:\n{PIPELINES}"),
            "t",
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("extensions::zpages"), "{err}");
        assert!(err.contains("endpont"), "{err}");
    }
}
