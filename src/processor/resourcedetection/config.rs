//! Config of the `resourcedetection` processor, shaped as otelcol-contrib's: `detectors`
//! (`env`, `system`), `override` (default true), `timeout` (default 5s), and for `system`:
//! `hostname_sources` (default `[dns, os]`) and `resource_attributes` toggles. Detection
//! runs when the config is loaded, so `validate` shows what a bad `OTEL_RESOURCE_ATTRIBUTES`
//! would do; the attributes found become the actions of a resource rewrite.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_yaml::Value;

use super::detect::{self, Detected, HostnameSource};
use crate::config::de::{self, join};
use crate::config::duration::GoDuration;
use crate::config::error::Errors;
use crate::processor::resource::config::ResourceConfig;

/// The `resourcedetection` processor: what was detected, as resource actions.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceDetectionConfig {
    /// `insert` (override false) or `upsert` (override true) of every detected attribute.
    pub resource: ResourceConfig,
    /// The attributes detected, in detector order, for logs and tests.
    pub detected: Vec<(String, String)>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawDetection {
    detectors: Option<Vec<String>>,
    #[serde(rename = "override")]
    override_: Option<bool>,
    timeout: Option<GoDuration>,
    system: Option<RawSystem>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawSystem {
    hostname_sources: Option<Vec<String>>,
    resource_attributes: Option<BTreeMap<String, RawToggle>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawToggle {
    enabled: Option<bool>,
}

/// Detectors that need a cloud or orchestrator metadata service, refused by name.
const NOT_BUILT: &[&str] = &[
    "gcp",
    "ec2",
    "ecs",
    "eks",
    "elasticbeanstalk",
    "lambda",
    "azure",
    "aks",
    "consul",
    "docker",
    "heroku",
    "k8snode",
    "openshift",
    "kubeadm",
    "dynatrace",
    "akamai",
    "scaleway",
    "hetzner",
    "vultr",
    "oraclecloud",
    "upcloud",
    "digitalocean",
    "openstacknova",
];

/// otelcol-contrib's default timeout of every detector.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Decodes a `resourcedetection` body at `path` and runs its detectors.
pub(crate) fn parse(body: Value, path: &str, errs: &mut Errors) -> Option<ResourceDetectionConfig> {
    let raw: RawDetection = errs.take(de::decode(body, path))?;
    let timeout = raw.timeout.map_or(DEFAULT_TIMEOUT, |t| t.0);
    let system = raw.system.unwrap_or_default();
    let mut sources = Vec::new();
    for (i, name) in system
        .hostname_sources
        .unwrap_or_else(|| vec!["dns".into(), "os".into()])
        .iter()
        .enumerate()
    {
        match name.as_str() {
            "dns" => sources.push(HostnameSource::Dns),
            "os" => sources.push(HostnameSource::Os),
            other => errs.invalid(
                format!("{}[{i}]", join(path, "system::hostname_sources")),
                format!("\"{other}\" is not supported (supported: dns, os)"),
            ),
        }
    }
    let mut enabled = detect::default_system_attributes();
    for (key, toggle) in system.resource_attributes.unwrap_or_default() {
        let at = join(path, &format!("system::resource_attributes::{key}"));
        match enabled.iter_mut().find(|(k, _)| *k == key) {
            Some((_, on)) => *on = toggle.enabled.unwrap_or(*on),
            None => errs.invalid(at, "not an attribute the system detector sets"),
        }
    }
    let mut detected: Vec<(String, String)> = Vec::new();
    for (i, name) in raw.detectors.unwrap_or_default().iter().enumerate() {
        let at = format!("{}[{i}]", join(path, "detectors"));
        let found: Result<Detected, String> = match name.as_str() {
            "env" => detect::env(std::env::var("OTEL_RESOURCE_ATTRIBUTES").ok().as_deref()),
            "system" => Ok(detect::system(&sources, &enabled, timeout)),
            other if NOT_BUILT.contains(&other) => Err(format!(
                "the \"{other}\" detector needs a metadata service and is not in this build (supported: env, system)"
            )),
            other => Err(format!("unknown detector \"{other}\" (supported: env, system)")),
        };
        match found {
            // An earlier detector wins a key a later one also sets, as in otelcol.
            Ok(found) => {
                for (k, v) in found {
                    if !detected.iter().any(|(have, _)| *have == k) {
                        detected.push((k, v));
                    }
                }
            }
            Err(reason) => errs.invalid(at, reason),
        }
    }
    let action = if raw.override_.unwrap_or(true) {
        "upsert"
    } else {
        "insert"
    };
    let actions: Vec<Value> = detected
        .iter()
        .map(|(k, v)| {
            let mut m = serde_yaml::Mapping::new();
            m.insert("key".into(), Value::String(k.clone()));
            m.insert("value".into(), Value::String(v.clone()));
            m.insert("action".into(), action.into());
            Value::Mapping(m)
        })
        .collect();
    let resource =
        crate::processor::resource::config::from_actions(Value::Sequence(actions), path, errs)?;
    Some(ResourceDetectionConfig { resource, detected })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use crate::config::{parse_str, ComponentId, ProcessorConfig};

    fn config(body: &str) -> Result<crate::config::Config, crate::config::ConfigError> {
        parse_str(
            &format!(
                "receivers: {{otlp: {{protocols: {{grpc: }}}}}}\nprocessors:\n  resourcedetection: {body}\nexporters: {{debug: }}\nservice: {{pipelines: {{traces: {{receivers: [otlp], processors: [resourcedetection], exporters: [debug]}}}}}}\n"
            ),
            "t",
        )
    }

    fn detected(body: &str) -> Vec<(String, String)> {
        let c = config(body).unwrap();
        let ProcessorConfig::ResourceDetection(d) =
            &c.processors[&ComponentId::new("resourcedetection")]
        else {
            panic!("not resourcedetection");
        };
        d.detected.clone()
    }

    #[test]
    fn system_detector_with_os_hostname_and_toggles() {
        let found = detected(
            "{detectors: [system], system: {hostname_sources: [os], resource_attributes: {os.type: {enabled: false}, host.arch: {enabled: true}}}}",
        );
        let keys: Vec<&str> = found.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["host.name", "host.arch"]);
    }

    #[test]
    fn unknown_and_cloud_detectors_and_bad_keys_are_errors() {
        let err = config("{detectors: [ec2]}").unwrap_err().to_string();
        assert!(
            err.contains("detectors[0]") && err.contains("metadata service"),
            "{err}"
        );
        let err = config("{detectors: [nope]}").unwrap_err().to_string();
        assert!(err.contains("unknown detector \"nope\""), "{err}");
        let err = config("{detectors: [system], system: {hostname_sources: [cname]}}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("hostname_sources[0]"), "{err}");
        let err = config(
            "{detectors: [system], system: {resource_attributes: {host.nam: {enabled: true}}}}",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("host.nam"), "{err}");
        let err = config("{detector: [env]}").unwrap_err().to_string();
        assert!(err.contains("unknown field `detector`"), "{err}");
    }
}
