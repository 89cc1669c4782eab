//! The `attributes` processor: otelcol's actions on span, log record and data point attributes,
//! for the items `include`/`exclude` select.
//!
//! Per chunk: decode the resource only (see `transform`); if `include` cannot match it, pass
//! the chunk on untouched. Otherwise decode the resource message with prost, apply the actions
//! to each selected item, and re-encode.

pub mod config;

use bytes::Bytes;
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::ResourceLogs;
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, Metric, ResourceMetrics};
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use prost::Message;

use super::actions;
use super::chunk::{split_resource, TransformError};
use super::matching::{Fields, Item, Selector};
use crate::config::{ActionConfig, AttributesConfig};
use crate::signal::Signal;

/// One `attributes` processor instance on a shard.
pub struct AttributesProcessor {
    actions: Vec<ActionConfig>,
    selector: Selector,
}

impl AttributesProcessor {
    /// A processor running `config`'s actions on what it selects.
    pub fn new(config: &AttributesConfig) -> AttributesProcessor {
        AttributesProcessor {
            actions: config.actions.clone(),
            selector: Selector::new(config.include.clone(), config.exclude.clone()),
        }
    }

    /// The rewritten chunk, or `None` when no item in it can be selected.
    pub fn rewrite(&self, signal: Signal, chunk: &[u8]) -> Result<Option<Bytes>, TransformError> {
        if !self.selector.selects_all() {
            let split = split_resource(chunk)?;
            if !self.selector.resource_may_match(&split.resource.attributes) {
                return Ok(None);
            }
        }
        let out = match signal {
            Signal::Traces => {
                let mut rs = ResourceSpans::decode(chunk)?;
                self.spans(&mut rs);
                rs.encode_to_vec()
            }
            Signal::Logs => {
                let mut rl = ResourceLogs::decode(chunk)?;
                self.logs(&mut rl);
                rl.encode_to_vec()
            }
            Signal::Metrics => {
                let mut rm = ResourceMetrics::decode(chunk)?;
                self.metrics(&mut rm);
                rm.encode_to_vec()
            }
        };
        Ok(Some(Bytes::from(out)))
    }

    fn run(&self, item: &Item<'_>) -> bool {
        self.selector.selects(item)
    }

    fn spans(&self, rs: &mut ResourceSpans) {
        let resource = rs.resource.take().unwrap_or_default();
        for ss in &mut rs.scope_spans {
            for span in &mut ss.spans {
                let item = Item {
                    resource: &resource.attributes,
                    scope: ss.scope.as_ref(),
                    attributes: &span.attributes,
                    fields: Fields::Span {
                        name: &span.name,
                        kind: span.kind,
                    },
                };
                if self.run(&item) {
                    actions::apply(&self.actions, &mut span.attributes);
                }
            }
        }
        rs.resource = Some(resource);
    }

    fn logs(&self, rl: &mut ResourceLogs) {
        let resource = rl.resource.take().unwrap_or_default();
        for sl in &mut rl.scope_logs {
            for record in &mut sl.log_records {
                let item = Item {
                    resource: &resource.attributes,
                    scope: sl.scope.as_ref(),
                    attributes: &record.attributes,
                    fields: Fields::Log {
                        body: record.body.as_ref().and_then(|b| b.value.as_ref()),
                        severity_text: &record.severity_text,
                        severity_number: record.severity_number,
                    },
                };
                if self.run(&item) {
                    actions::apply(&self.actions, &mut record.attributes);
                }
            }
        }
        rl.resource = Some(resource);
    }

    fn metrics(&self, rm: &mut ResourceMetrics) {
        let resource = rm.resource.take().unwrap_or_default();
        for sm in &mut rm.scope_metrics {
            for metric in &mut sm.metrics {
                self.metric(&resource.attributes, sm.scope.as_ref(), metric);
            }
        }
        rm.resource = Some(resource);
    }

    /// Every point type: gauge, sum, histogram, exponential histogram, summary.
    fn metric(&self, resource: &[KeyValue], scope: Option<&InstrumentationScope>, m: &mut Metric) {
        let name = m.name.clone();
        let each = |attrs: &mut Vec<KeyValue>| {
            let item = Item {
                resource,
                scope,
                attributes: attrs,
                fields: Fields::Metric { name: &name },
            };
            if self.run(&item) {
                actions::apply(&self.actions, attrs);
            }
        };
        match &mut m.data {
            Some(Data::Gauge(g)) => g
                .data_points
                .iter_mut()
                .for_each(|p| each(&mut p.attributes)),
            Some(Data::Sum(s)) => s
                .data_points
                .iter_mut()
                .for_each(|p| each(&mut p.attributes)),
            Some(Data::Histogram(h)) => {
                h.data_points
                    .iter_mut()
                    .for_each(|p| each(&mut p.attributes));
            }
            Some(Data::ExponentialHistogram(h)) => {
                h.data_points
                    .iter_mut()
                    .for_each(|p| each(&mut p.attributes));
            }
            Some(Data::Summary(s)) => s
                .data_points
                .iter_mut()
                .for_each(|p| each(&mut p.attributes)),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests;
