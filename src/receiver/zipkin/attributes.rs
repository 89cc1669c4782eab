//! Attribute helpers of the Zipkin translation: typed tag values (`parse_string_tags`), the `{json}` attribute maps of encoded annotations and
//! links, and the tag keys that belong to the resource rather than the span.

use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};

pub use crate::receiver::attributes::Attributes;

/// Resource attribute names of the semantic conventions v1.6.1 (the version the official
/// translator reads): as Zipkin tags they describe the process, so they go to the resource
/// and never to span attributes.
const RESOURCE_KEYS: &[&str] = &[
    "cloud.provider",
    "cloud.account.id",
    "cloud.region",
    "cloud.availability_zone",
    "cloud.platform",
    "aws.ecs.container.arn",
    "aws.ecs.cluster.arn",
    "aws.ecs.launchtype",
    "aws.ecs.task.arn",
    "aws.ecs.task.family",
    "aws.ecs.task.revision",
    "aws.eks.cluster.arn",
    "aws.log.group.names",
    "aws.log.group.arns",
    "aws.log.stream.names",
    "aws.log.stream.arns",
    "container.name",
    "container.id",
    "container.runtime",
    "container.image.name",
    "container.image.tag",
    "deployment.environment",
    "device.id",
    "device.model.identifier",
    "device.model.name",
    "faas.name",
    "faas.id",
    "faas.version",
    "faas.instance",
    "faas.max_memory",
    "host.id",
    "host.name",
    "host.type",
    "host.arch",
    "host.image.name",
    "host.image.id",
    "host.image.version",
    "k8s.cluster.name",
    "k8s.node.name",
    "k8s.node.uid",
    "k8s.namespace.name",
    "k8s.pod.uid",
    "k8s.pod.name",
    "k8s.container.name",
    "k8s.replicaset.uid",
    "k8s.replicaset.name",
    "k8s.deployment.uid",
    "k8s.deployment.name",
    "k8s.statefulset.uid",
    "k8s.statefulset.name",
    "k8s.daemonset.uid",
    "k8s.daemonset.name",
    "k8s.job.uid",
    "k8s.job.name",
    "k8s.cronjob.uid",
    "k8s.cronjob.name",
    "os.type",
    "os.description",
    "os.name",
    "os.version",
    "process.pid",
    "process.executable.name",
    "process.executable.path",
    "process.command",
    "process.command_line",
    "process.command_args",
    "process.owner",
    "process.runtime.name",
    "process.runtime.version",
    "process.runtime.description",
    "service.name",
    "service.namespace",
    "service.instance.id",
    "service.version",
    "telemetry.sdk.name",
    "telemetry.sdk.language",
    "telemetry.sdk.version",
    "telemetry.auto.version",
    "webengine.name",
    "webengine.version",
    "webengine.description",
    // OpenCensus-era resource tags the translator also keeps off spans.
    "opencensus.starttime",
    "opencensus.exporterversion",
    "opencensus.resourcetype",
];

/// The tag naming which resource key the local service name goes to.
pub const TAG_SERVICE_NAME_SOURCE: &str = "otlp.service.name.source";
/// Instrumentation scope name, as a tag.
pub const TAG_LIBRARY_NAME: &str = "otel.library.name";
/// Instrumentation scope version, as a tag.
pub const TAG_LIBRARY_VERSION: &str = "otel.library.version";

/// Tags that are copied to the resource (when a span starts its resource group) and never
/// become span attributes.
pub fn is_resource_tag(key: &str) -> bool {
    RESOURCE_KEYS.contains(&key)
}

/// Tags never copied to span attributes.
pub fn is_non_span_tag(key: &str) -> bool {
    is_resource_tag(key)
        || key == TAG_SERVICE_NAME_SOURCE
        || key == TAG_LIBRARY_NAME
        || key == TAG_LIBRARY_VERSION
}

/// Sets `key` to a tag's value in `attributes`, typed when `parse` says so.
pub fn put_tag(attributes: &mut Attributes, key: &str, value: &str, parse: bool) {
    let typed = if parse { typed(value) } else { None };
    attributes.put(
        key,
        typed.unwrap_or_else(|| any_value::Value::StringValue(value.to_owned())),
    );
}

/// What `parse_string_tags` makes of a tag value: an int (`-?digits`, clamped to 64 bits as
/// Go's parser does), a double (`-?digits.digits`), a bool (`true`/`false`), or `None`
/// (stays a string).
pub fn typed(value: &str) -> Option<any_value::Value> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let unsigned = value.strip_prefix('-').unwrap_or(value);
    if digits(unsigned) {
        let int = value.parse::<i64>().unwrap_or(if value.starts_with('-') {
            i64::MIN
        } else {
            i64::MAX
        });
        return Some(any_value::Value::IntValue(int));
    }
    if let Some((whole, fraction)) = unsigned.split_once('.') {
        if digits(whole) && digits(fraction) {
            return value.parse().ok().map(any_value::Value::DoubleValue);
        }
    }
    match value {
        "true" => Some(any_value::Value::BoolValue(true)),
        "false" => Some(any_value::Value::BoolValue(false)),
        _ => None,
    }
}

/// The attributes of a `{json}` object as the translator reads them: strings, numbers (an
/// integral one as an int) and bools; other values are left out.
pub fn json_attributes(text: &str) -> Result<Vec<KeyValue>, serde_json::Error> {
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text)?;
    let mut attributes = Attributes::default();
    for (key, value) in map {
        let value = match value {
            serde_json::Value::String(s) => any_value::Value::StringValue(s),
            serde_json::Value::Bool(b) => any_value::Value::BoolValue(b),
            serde_json::Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => any_value::Value::IntValue(i),
                // Go reads every number as a float64 and keeps an integral one as an int.
                (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9.2e18 => {
                    any_value::Value::IntValue(f as i64)
                }
                (None, Some(f)) => any_value::Value::DoubleValue(f),
                (None, None) => continue,
            },
            _ => continue,
        };
        attributes.put(&key, value);
    }
    Ok(attributes.into_vec())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn typed_values_follow_the_translator() {
        use any_value::Value::*;
        assert_eq!(typed("42"), Some(IntValue(42)));
        assert_eq!(typed("-7"), Some(IntValue(-7)));
        assert_eq!(typed("99999999999999999999"), Some(IntValue(i64::MAX)));
        assert_eq!(typed("1.5"), Some(DoubleValue(1.5)));
        assert_eq!(typed("true"), Some(BoolValue(true)));
        for s in ["", "1.", ".5", "1e3", "True", "0x1", "abc", "+1"] {
            assert_eq!(typed(s), None, "{s}");
        }
    }

    #[test]
    fn upsert_keeps_one_key() {
        let mut a = Attributes::default();
        a.put_str("k", "1");
        put_tag(&mut a, "k", "2", true);
        let v = a.into_vec();
        assert_eq!(v.len(), 1);
        assert_eq!(
            v[0].value.as_ref().unwrap().value,
            Some(any_value::Value::IntValue(2))
        );
    }
}
