//! The stage of processors that rewrite chunks synchronously: those that change fields
//! (`attributes`, `resource`) and those that remove items (samplers, filters). Each rewrites
//! the chunks of a payload in place through [`super::chunk`], and fails closed.
//!
//! A rewrite that removes items reports what is left ([`Rewritten::Reduced`]); a chunk with no
//! item left is dropped, and a payload with no chunk left goes no further. The payload keeps
//! the budget reservation taken at admission even when re-encoding changes its size: the
//! budget bounds what was admitted, and a size change is bounded by the configured actions.

use std::sync::Arc;

use bytes::Bytes;

use crate::config::ComponentId;
use crate::observe::{ProcessorCounters, ShardCounters};
use crate::pipeline::payload::Payload;
use crate::signal::Signal;

use super::attributes::AttributesProcessor;
use super::chunk::TransformError;
use super::filter::FilterProcessor;
use super::probabilistic_sampler::ProbabilisticSampler;
use super::resource::ResourceProcessor;
use super::transform_statements::TransformProcessor;

/// What a rewriting processor is.
pub enum Rewrite {
    /// The `attributes` processor.
    Attributes(AttributesProcessor),
    /// The `resource` processor.
    Resource(ResourceProcessor),
    /// The `probabilistic_sampler` processor.
    ProbabilisticSampler(ProbabilisticSampler),
    /// `transform`: OTTL statements.
    Statements(Box<TransformProcessor>),
    /// `filter`: removes the items its conditions match.
    Filter(Box<FilterProcessor>),
}

/// What a rewrite did to one chunk.
#[derive(Debug)]
pub enum Rewritten {
    /// The chunk passes on as it came.
    Unchanged,
    /// Its fields changed; it holds the same items.
    Edited(Bytes),
    /// Items were removed: what is left (`items` may be 0: the chunk is then dropped).
    Reduced {
        /// The remaining chunk.
        bytes: Bytes,
        /// Items in it.
        items: u32,
    },
    /// Every item was removed.
    Emptied,
}

impl From<Option<Bytes>> for Rewritten {
    fn from(edited: Option<Bytes>) -> Rewritten {
        edited.map_or(Rewritten::Unchanged, Rewritten::Edited)
    }
}

/// A synchronous processor stage that rewrites payloads in place and fails closed: a chunk
/// it cannot rewrite is never passed on as it came (it may hold what the processor was told
/// to delete or hash).
pub struct Transform {
    id: ComponentId,
    rewrite: Rewrite,
    counters: Option<Arc<ShardCounters>>,
    items: Option<Arc<ProcessorCounters>>,
}

/// The chunks a rewrite failed on, left out of their payload.
#[derive(Debug)]
pub struct TransformFailure {
    /// Items in the chunks left out.
    pub items: u64,
    /// The first chunk's error.
    pub error: TransformError,
}

impl Transform {
    /// Processor `id` rewriting with `rewrite`.
    pub fn new(id: ComponentId, rewrite: Rewrite) -> Transform {
        Transform {
            id,
            rewrite,
            counters: None,
            items: None,
        }
    }

    /// Counts items left out after a failure into `counters`, and the items in and out of
    /// this processor into its own counters there.
    pub fn observed(mut self, counters: Arc<ShardCounters>) -> Transform {
        self.items = counters.processor(&self.id);
        self.counters = Some(counters);
        self
    }

    /// One chunk through this stage's processor.
    fn rewrite(&self, signal: Signal, chunk: &[u8]) -> Result<Rewritten, TransformError> {
        if crate::fault::Fault::RewriteFails.trips(chunk) {
            return Err(TransformError::Injected);
        }
        Ok(match &self.rewrite {
            Rewrite::Attributes(p) => p.rewrite(signal, chunk)?.into(),
            Rewrite::Resource(p) => p.rewrite(chunk)?.into(),
            Rewrite::ProbabilisticSampler(p) => p.rewrite(chunk)?,
            Rewrite::Statements(p) => p.rewrite(signal, chunk)?.into(),
            Rewrite::Filter(p) => p.rewrite(signal, chunk)?,
        })
    }

    /// Rewrites every chunk of `payload`. A chunk that fails is removed from it; what was
    /// removed is returned (the caller refuses or reports it). A chunk left with no item is
    /// removed too (the processor chose to drop those items).
    pub fn apply(&self, payload: &mut Payload) -> Option<TransformFailure> {
        let signal = payload.signal;
        let incoming = payload.items;
        let mut failure: Option<TransformFailure> = None;
        payload
            .chunks
            .retain_mut(|chunk| match self.rewrite(signal, &chunk.bytes) {
                Ok(Rewritten::Unchanged) => true,
                Ok(Rewritten::Edited(bytes)) => {
                    chunk.bytes = bytes;
                    true
                }
                Ok(Rewritten::Reduced { bytes, items }) => {
                    chunk.bytes = bytes;
                    chunk.items = items;
                    items > 0
                }
                Ok(Rewritten::Emptied) => false,
                Err(error) => {
                    let items = u64::from(chunk.items);
                    match &mut failure {
                        Some(f) => f.items += items,
                        None => failure = Some(TransformFailure { items, error }),
                    }
                    false
                }
            });
        payload.items = payload.chunks.iter().map(|c| u64::from(c.items)).sum();
        payload.bytes = payload.chunks.iter().map(|c| c.bytes.len()).sum();
        if let Some(items) = &self.items {
            let i = crate::observe::signal_index(signal);
            items.incoming[i].add(incoming);
            // Failed items are counted as failed, not as passed on.
            items.outgoing[i].add(payload.items);
        }
        failure
    }

    /// [`Transform::apply`] on data already acknowledged: what fails is left out, logged
    /// and counted in `shardgate_processor_failed_items_total`.
    pub fn apply_acknowledged(&self, payload: &mut Payload) {
        let Some(failure) = self.apply(payload) else {
            return;
        };
        if let Some(counters) = &self.counters {
            counters.processor_failed_items[crate::observe::signal_index(payload.signal)]
                .add(failure.items);
        }
        tracing::error!(
            processor = %self.id,
            error = %failure.error,
            dropped_items = failure.items,
            signal = %payload.signal,
            "Processor failed; dropping the data it could not process rather than sending it unprocessed."
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::processor::chunk::{join_resource, split_resource};
    use bytes::{Bytes, BytesMut};
    use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use prost::Message;

    fn kv(k: &str, v: &str) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(AnyValue {
                value: Some(Value::StringValue(v.into())),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn split_and_join_replace_the_resource_without_merging() {
        let rs = ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("a", "1"), kv("b", "2")],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    name: "s".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            schema_url: "u".into(),
        };
        let bytes = rs.encode_to_vec();
        let mut split = split_resource(&bytes).unwrap();
        assert_eq!(split.resource, rs.resource.clone().unwrap());
        split.resource.attributes.retain(|kv| kv.key != "a");
        let joined = join_resource(&split);
        let back = ResourceSpans::decode(joined).unwrap();
        assert_eq!(back.resource.unwrap().attributes, vec![kv("b", "2")]);
        assert_eq!(back.scope_spans, rs.scope_spans);
        assert_eq!(back.schema_url, "u");
    }

    #[test]
    fn repeated_resource_fields_are_merged_like_prost() {
        let one = ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("a", "1")],
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec();
        let two = ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("b", "2")],
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec();
        let both = [one, two].concat();
        let split = split_resource(&both).unwrap();
        let prost_view = ResourceSpans::decode(both.as_slice()).unwrap();
        assert_eq!(Some(split.resource), prost_view.resource);
        assert!(split.rest.is_empty());
    }

    use crate::otlp::testgen::{request, Req};
    use crate::otlp::{encode_request, scan_request, ResourceChunk};
    use crate::processor::attributes::AttributesProcessor;
    use crate::processor::resource::ResourceProcessor;
    use opentelemetry_proto::tonic::metrics::v1::{metric::Data, Metric};
    use proptest::prelude::*;

    /// The resource and attributes processors as the pipeline runs them, over a whole request.
    fn through_processors(req: &Req) -> Req {
        let body = Bytes::from(req.encode());
        let scanned = scan_request(req.signal(), &body).unwrap();
        let items: Vec<u32> = scanned.chunks.iter().map(|c| c.items).collect();
        let res = ResourceProcessor::new(
            &crate::processor::resource::config::parse_resource(
                "attributes: [{key: zone, value: z1, action: upsert}, {key: service.name, action: delete}]",
            )
            .unwrap(),
        );
        let attrs = AttributesProcessor::new(
            &crate::processor::attributes::config::parse_attributes(
                "actions: [{key: k, value: 1, action: upsert}]",
            )
            .unwrap(),
        );
        let mut out = BytesMut::new();
        let mut chunks = Vec::new();
        for chunk in &scanned.chunks {
            let b = res.rewrite(&chunk.bytes).unwrap().unwrap();
            let b = attrs.rewrite(req.signal(), &b).unwrap().unwrap();
            chunks.push(ResourceChunk {
                bytes: b,
                items: chunk.items,
            });
        }
        encode_request(&chunks, &mut out);
        let rescanned = scan_request(req.signal(), &out.clone().freeze()).unwrap();
        let counts: Vec<u32> = rescanned.chunks.iter().map(|c| c.items).collect();
        assert_eq!(counts, items, "item counts change");
        Req::decode(req.signal(), &out).unwrap()
    }

    fn point_attributes(m: &mut Metric, f: &mut dyn FnMut(&mut Vec<KeyValue>)) {
        match &mut m.data {
            Some(Data::Gauge(g)) => g.data_points.iter_mut().for_each(|p| f(&mut p.attributes)),
            Some(Data::Sum(g)) => g.data_points.iter_mut().for_each(|p| f(&mut p.attributes)),
            Some(Data::Histogram(g)) => g.data_points.iter_mut().for_each(|p| f(&mut p.attributes)),
            Some(Data::ExponentialHistogram(g)) => {
                g.data_points.iter_mut().for_each(|p| f(&mut p.attributes))
            }
            Some(Data::Summary(g)) => g.data_points.iter_mut().for_each(|p| f(&mut p.attributes)),
            None => {}
        }
    }

    fn expected(req: &Req) -> Req {
        use crate::processor::actions::apply;
        let res = crate::processor::resource::config::parse_resource(
            "attributes: [{key: zone, value: z1, action: upsert}, {key: service.name, action: delete}]",
        )
        .unwrap();
        let act = crate::processor::attributes::config::parse_attributes(
            "actions: [{key: k, value: 1, action: upsert}]",
        )
        .unwrap();
        let fix = |r: &mut Option<Resource>| {
            let mut resource = r.take().unwrap_or_default();
            apply(&res.attributes, &mut resource.attributes);
            *r = Some(resource);
        };
        let mut req = req.clone();
        match &mut req {
            Req::T(t) => t.resource_spans.iter_mut().for_each(|rs| {
                fix(&mut rs.resource);
                for ss in &mut rs.scope_spans {
                    ss.spans
                        .iter_mut()
                        .for_each(|s| apply(&act.actions, &mut s.attributes));
                }
            }),
            Req::L(l) => l.resource_logs.iter_mut().for_each(|rl| {
                fix(&mut rl.resource);
                for sl in &mut rl.scope_logs {
                    sl.log_records
                        .iter_mut()
                        .for_each(|r| apply(&act.actions, &mut r.attributes));
                }
            }),
            Req::M(m) => m.resource_metrics.iter_mut().for_each(|rm| {
                fix(&mut rm.resource);
                for sm in &mut rm.scope_metrics {
                    for metric in &mut sm.metrics {
                        point_attributes(metric, &mut |a| apply(&act.actions, a));
                    }
                }
            }),
        }
        req
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Whatever the request, the rewritten chunks decode to what prost-side application of
        /// the same actions gives, with unchanged item counts.
        #[test]
        fn rewrite_equals_decode_apply_encode(req in request()) {
            prop_assert_eq!(through_processors(&req), expected(&req));
        }
    }

    #[test]
    fn truncated_chunk_is_an_error() {
        assert!(split_resource(&[0x0a, 0x05, 0x01]).is_err());
        assert!(split_resource(&[0x0b]).is_err());
    }

    /// Scenario: a payload of a chunk the resource processor can rewrite and one it cannot.
    /// Guarantee: the bad chunk is left out (fail closed) and reported with its items; the
    /// good one is rewritten; counts follow.
    #[test]
    fn a_chunk_that_fails_to_rewrite_is_left_out() {
        let good = ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("secret", "s3cr3t"), kv("keep", "k")],
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec();
        let resource = ResourceProcessor::new(
            &crate::processor::resource::config::parse_resource(
                "attributes: [{key: secret, action: delete}]",
            )
            .unwrap(),
        );
        let transform = Transform::new("resource".parse().unwrap(), Rewrite::Resource(resource));
        let budget = crate::pipeline::budget::Budget::new(1 << 20);
        let chunks = vec![
            ResourceChunk {
                bytes: Bytes::from(good),
                items: 2,
            },
            ResourceChunk {
                bytes: Bytes::from_static(&[0x0a, 0x05, 0x01]),
                items: 3,
            },
        ];
        let mut payload = Payload::new(crate::signal::Signal::Traces, chunks, budget.empty());
        let failure = transform.apply(&mut payload).expect("the bad chunk fails");
        assert_eq!(failure.items, 3);
        assert!(matches!(failure.error, TransformError::Malformed(_)));
        assert_eq!((payload.chunks.len(), payload.items), (1, 2));
        let kept = ResourceSpans::decode(payload.chunks[0].bytes.clone()).unwrap();
        let keys: Vec<_> = kept
            .resource
            .unwrap()
            .attributes
            .into_iter()
            .map(|a| a.key)
            .collect();
        assert_eq!(keys, ["keep"]);
        assert_eq!(payload.bytes, payload.chunks[0].bytes.len());
    }
}
