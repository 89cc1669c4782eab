//! The `resource` processor: otelcol's actions on resource attributes, for every signal.
//!
//! Only the chunk's `resource` field is decoded and re-encoded; scopes and items are copied
//! as bytes (see `transform`).

pub mod config;

use bytes::Bytes;

use super::actions;
use super::chunk::{join_resource, split_resource, TransformError};
use crate::config::{ActionConfig, ResourceConfig};

/// One `resource` processor instance on a shard.
pub struct ResourceProcessor {
    actions: Vec<ActionConfig>,
}

impl ResourceProcessor {
    /// A processor running `config`'s actions.
    pub fn new(config: &ResourceConfig) -> ResourceProcessor {
        ResourceProcessor {
            actions: config.attributes.clone(),
        }
    }

    /// The chunk with its resource attributes rewritten.
    pub fn rewrite(&self, chunk: &[u8]) -> Result<Option<Bytes>, TransformError> {
        let mut split = split_resource(chunk)?;
        actions::apply(&self.actions, &mut split.resource.attributes);
        Ok(Some(join_resource(&split)))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::processor::resource::config::parse_resource;
    use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use prost::Message;

    fn kv(k: &str, v: Value) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(AnyValue { value: Some(v) }),
            ..Default::default()
        }
    }

    /// The resourceprocessor README example: upsert cloud.availability_zone, delete
    /// k8s.cluster.name, plus a hash and a convert; the records and scopes are untouched.
    #[test]
    fn readme_example_rewrites_only_the_resource() {
        let cfg = parse_resource(
            r#"
attributes:
  - key: cloud.availability_zone
    value: "zone-1"
    action: upsert
  - key: k8s.cluster.name
    from_attribute: k8s-cluster
    action: insert
  - key: redundant-attribute
    action: delete
  - key: port
    action: convert
    converted_type: int
"#,
        )
        .unwrap();
        let p = ResourceProcessor::new(&cfg);
        let rl = ResourceLogs {
            resource: Some(Resource {
                attributes: vec![
                    kv(
                        "cloud.availability_zone",
                        Value::StringValue("zone-0".into()),
                    ),
                    kv("k8s-cluster", Value::StringValue("c1".into())),
                    kv("redundant-attribute", Value::BoolValue(true)),
                    kv("port", Value::StringValue("8080".into())),
                ],
                dropped_attributes_count: 2,
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    attributes: vec![kv("redundant-attribute", Value::IntValue(1))],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            schema_url: "https://opentelemetry.io/schemas/1.21.0".into(),
        };
        let out = p.rewrite(&rl.encode_to_vec()).unwrap().unwrap();
        let out = ResourceLogs::decode(out).unwrap();
        let resource = out.resource.unwrap();
        assert_eq!(
            resource.attributes,
            vec![
                kv(
                    "cloud.availability_zone",
                    Value::StringValue("zone-1".into())
                ),
                kv("k8s-cluster", Value::StringValue("c1".into())),
                kv("port", Value::IntValue(8080)),
                kv("k8s.cluster.name", Value::StringValue("c1".into())),
            ]
        );
        assert_eq!(resource.dropped_attributes_count, 2);
        assert_eq!(out.scope_logs, rl.scope_logs);
        assert_eq!(out.schema_url, rl.schema_url);
    }
}
