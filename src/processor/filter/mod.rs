//! The `filter` processor: drops the items its OTTL conditions hold for (or that its older
//! include/exclude properties leave out), as otelcol-contrib's filterprocessor.
//!
//! Per chunk, in otelcol's order:
//! 1. resource conditions: a match drops the whole chunk. When only those are set, the chunk
//!    is split with [`crate::processor::chunk::split_resource`] and never fully decoded.
//! 2. item conditions (span, metric, log record), then child conditions (span event, data
//!    point) on the items left; a metric left with no data point is dropped.
//! 3. a scope left with no item is dropped; a chunk left with no scope is dropped.
//!
//! A chunk where nothing was dropped passes on as it came (no re-encoding). A condition that
//! fails counts as false (`ignore`, `silent`) or fails the chunk (`propagate`).

pub mod config;
mod wire;

use bytes::Bytes;
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs};
use opentelemetry_proto::tonic::metrics::v1::ResourceMetrics;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, Span};
use prost::Message;

use crate::ottl::context::Item;
use crate::ottl::projection::Reads;
use crate::ottl::run::with_scope;
use crate::ottl::{points, Condition, ErrorMode, EvalError, Target};
use crate::processor::chunk::{split_resource, TransformError};
use crate::processor::matching::{Fields, Item as MatchItem, Selector};
use crate::processor::transform::Rewritten;
use crate::processor::transform_statements::handle;
use crate::signal::Signal;
use config::{FilterConfig, SignalFilter};

/// One `filter` processor instance on a shard.
pub struct FilterProcessor {
    mode: ErrorMode,
    traces: Compiled,
    metrics: Compiled,
    logs: Compiled,
}

struct Compiled {
    filter: SignalFilter,
    selector: Option<Selector>,
    /// The wire fast path, when only span or log record conditions (and resource ones) are
    /// set and they read fields it maps.
    plan: Option<wire::Plan>,
}

impl Compiled {
    fn new(filter: &SignalFilter, signal: Signal) -> Compiled {
        let legacy = filter.include.is_some() || filter.exclude.is_some();
        let mut reads = Reads::default();
        filter.items.iter().for_each(|c| c.reads(&mut reads));
        let eligible = !legacy && filter.children.is_empty() && !filter.items.is_empty();
        reads.outer |= !filter.resource.is_empty();
        let plan = match signal {
            Signal::Traces if eligible => wire::Plan::spans(&reads),
            Signal::Logs if eligible => wire::Plan::logs(&reads),
            _ => None,
        };
        Compiled {
            selector: legacy.then(|| Selector::new(filter.include.clone(), filter.exclude.clone())),
            filter: filter.clone(),
            plan,
        }
    }
}

/// Whether any of `conditions` holds on `t`.
fn any(mode: ErrorMode, conditions: &[Condition], t: &Target<'_>) -> Result<bool, EvalError> {
    Ok(verdict(mode, conditions, t)?.drop)
}

/// Whether any of `conditions` holds on `t`, and whether none failed on the way.
fn verdict(
    mode: ErrorMode,
    conditions: &[Condition],
    t: &Target<'_>,
) -> Result<wire::Verdict, EvalError> {
    let mut clean = true;
    for c in conditions {
        match c.holds(t) {
            Ok(true) => return Ok(wire::Verdict { drop: true, clean }),
            Ok(false) => {}
            Err(e) => {
                clean = false;
                handle(mode, &c.text, e)?;
            }
        }
    }
    Ok(wire::Verdict { drop: false, clean })
}

/// The first error of a walk, kept while `retain` closures go on.
#[derive(Default)]
struct Walk {
    error: Option<EvalError>,
    removed: bool,
}

impl Walk {
    /// Whether to drop an item: `decide` unless an error already stopped the walk.
    fn drop_if(&mut self, decide: impl FnOnce() -> Result<bool, EvalError>) -> bool {
        if self.error.is_some() {
            return false;
        }
        match decide() {
            Ok(drop) => {
                self.removed |= drop;
                drop
            }
            Err(e) => {
                self.error = Some(e);
                false
            }
        }
    }

    /// What the walk left: `empty` when no scope is left.
    fn finish(
        self,
        bytes: impl FnOnce() -> Vec<u8>,
        items: u32,
        before: u32,
        empty: bool,
    ) -> Result<Rewritten, TransformError> {
        if let Some(e) = self.error {
            return Err(TransformError::Ottl(e.to_string()));
        }
        Ok(match self.removed {
            false => Rewritten::Unchanged,
            true if empty => Rewritten::Emptied,
            true if items == before => Rewritten::Edited(Bytes::from(bytes())),
            true => Rewritten::Reduced {
                bytes: Bytes::from(bytes()),
                items,
            },
        })
    }
}

fn count<T>(items: impl Iterator<Item = T>, each: impl Fn(T) -> usize) -> u32 {
    u32::try_from(items.map(each).sum::<usize>()).unwrap_or(u32::MAX)
}

impl FilterProcessor {
    /// A processor dropping what `config` says.
    pub fn new(config: &FilterConfig) -> FilterProcessor {
        FilterProcessor {
            mode: config.error_mode,
            traces: Compiled::new(&config.traces, Signal::Traces),
            metrics: Compiled::new(&config.metrics, Signal::Metrics),
            logs: Compiled::new(&config.logs, Signal::Logs),
        }
    }

    /// What is left of `chunk` after filtering.
    pub fn rewrite(&self, signal: Signal, chunk: &[u8]) -> Result<Rewritten, TransformError> {
        let c = match signal {
            Signal::Traces => &self.traces,
            Signal::Metrics => &self.metrics,
            Signal::Logs => &self.logs,
        };
        if c.filter.is_empty() {
            return Ok(Rewritten::Unchanged);
        }
        if c.filter.resource_only() {
            let mut split = split_resource(chunk)?;
            return Ok(if self.resource_drops(c, &mut split.resource)? {
                Rewritten::Emptied
            } else {
                Rewritten::Unchanged
            });
        }
        if let Some(plan) = &c.plan {
            return self.on_wire(c, plan, signal, chunk);
        }
        match signal {
            Signal::Traces => self.traces(c, ResourceSpans::decode(chunk)?),
            Signal::Metrics => self.metrics(c, ResourceMetrics::decode(chunk)?),
            Signal::Logs => self.logs(c, ResourceLogs::decode(chunk)?),
        }
    }

    /// The fast path: items decoded from the fields their conditions read.
    fn on_wire(
        &self,
        c: &Compiled,
        plan: &wire::Plan,
        signal: Signal,
        chunk: &[u8],
    ) -> Result<Rewritten, TransformError> {
        let mut cache = Vec::new();
        let ottl = |e: EvalError| TransformError::Ottl(e.to_string());
        let mut resource_drops = |r: &mut Resource| self.resource_drops(c, r);
        match signal {
            Signal::Logs => wire::filter::<LogRecord>(
                chunk,
                plan,
                &mut resource_drops,
                &mut |resource, scope, record| {
                    cache.clear();
                    let t = Target {
                        resource,
                        scope,
                        item: Item::Log(record),
                        cache: &mut cache,
                    };
                    verdict(self.mode, &c.filter.items, &t).map_err(ottl)
                },
            ),
            _ => wire::filter::<Span>(
                chunk,
                plan,
                &mut resource_drops,
                &mut |resource, scope, span| {
                    cache.clear();
                    let t = Target {
                        resource,
                        scope,
                        item: Item::Span(span),
                        cache: &mut cache,
                    };
                    verdict(self.mode, &c.filter.items, &t).map_err(ottl)
                },
            ),
        }
    }

    fn resource_drops(
        &self,
        c: &Compiled,
        resource: &mut Resource,
    ) -> Result<bool, TransformError> {
        if c.filter.resource.is_empty() {
            return Ok(false);
        }
        let (mut scope, mut cache) = (InstrumentationScope::default(), Vec::new());
        let t = Target {
            resource,
            scope: &mut scope,
            item: Item::None,
            cache: &mut cache,
        };
        any(self.mode, &c.filter.resource, &t).map_err(|e| TransformError::Ottl(e.to_string()))
    }

    fn traces(&self, c: &Compiled, mut rs: ResourceSpans) -> Result<Rewritten, TransformError> {
        let before = count(rs.scope_spans.iter(), |ss| ss.spans.len());
        let mut resource = rs.resource.take().unwrap_or_default();
        if self.resource_drops(c, &mut resource)? {
            return Ok(Rewritten::Emptied);
        }
        let (mut walk, mut cache) = (Walk::default(), Vec::<KeyValue>::new());
        let f = &c.filter;
        for ss in &mut rs.scope_spans {
            with_scope(&mut ss.scope, |scope| {
                ss.spans.retain_mut(|span| {
                    let drop = walk.drop_if(|| {
                        if let Some(sel) = &c.selector {
                            let item = MatchItem {
                                resource: &resource.attributes,
                                scope: Some(scope),
                                attributes: &span.attributes,
                                fields: Fields::Span {
                                    name: &span.name,
                                    kind: span.kind,
                                },
                            };
                            return Ok(!sel.selects(&item));
                        }
                        cache.clear();
                        let t = Target {
                            resource: &mut resource,
                            scope,
                            item: Item::Span(span),
                            cache: &mut cache,
                        };
                        any(self.mode, &f.items, &t)
                    });
                    if !drop && !f.children.is_empty() {
                        let mut keep = Vec::with_capacity(span.events.len());
                        for i in 0..span.events.len() {
                            cache.clear();
                            let t = Target {
                                resource: &mut resource,
                                scope,
                                item: Item::SpanEvent(span, i),
                                cache: &mut cache,
                            };
                            keep.push(!walk.drop_if(|| any(self.mode, &f.children, &t)));
                        }
                        let mut i = 0;
                        span.events.retain(|_| {
                            i += 1;
                            keep[i - 1]
                        });
                    }
                    !drop
                });
            });
        }
        let scopes = rs.scope_spans.len();
        rs.scope_spans.retain(|ss| !ss.spans.is_empty());
        walk.removed |= scopes != rs.scope_spans.len();
        rs.resource = Some(resource);
        let items = count(rs.scope_spans.iter(), |ss| ss.spans.len());
        let empty = rs.scope_spans.is_empty();
        walk.finish(|| rs.encode_to_vec(), items, before, empty)
    }

    fn metrics(&self, c: &Compiled, mut rm: ResourceMetrics) -> Result<Rewritten, TransformError> {
        let before = count(
            rm.scope_metrics.iter().flat_map(|sm| &sm.metrics),
            points::count,
        );
        let mut resource = rm.resource.take().unwrap_or_default();
        if self.resource_drops(c, &mut resource)? {
            return Ok(Rewritten::Emptied);
        }
        let (mut walk, mut cache) = (Walk::default(), Vec::<KeyValue>::new());
        let f = &c.filter;
        for sm in &mut rm.scope_metrics {
            with_scope(&mut sm.scope, |scope| {
                sm.metrics.retain_mut(|metric| {
                    let drop = walk.drop_if(|| {
                        if let Some(sel) = &c.selector {
                            let item = MatchItem {
                                resource: &resource.attributes,
                                scope: Some(scope),
                                attributes: &[],
                                fields: Fields::Metric { name: &metric.name },
                            };
                            return Ok(!sel.selects(&item));
                        }
                        cache.clear();
                        let t = Target {
                            resource: &mut resource,
                            scope,
                            item: Item::Metric(metric),
                            cache: &mut cache,
                        };
                        any(self.mode, &f.items, &t)
                    });
                    if drop || f.children.is_empty() || metric.data.is_none() {
                        return !drop;
                    }
                    let mut keep = Vec::with_capacity(points::count(metric));
                    for i in 0..points::count(metric) {
                        cache.clear();
                        let t = Target {
                            resource: &mut resource,
                            scope,
                            item: Item::DataPoint(metric, i),
                            cache: &mut cache,
                        };
                        keep.push(!walk.drop_if(|| any(self.mode, &f.children, &t)));
                    }
                    points::retain(metric, |i| keep[i]);
                    if points::count(metric) == 0 {
                        walk.removed = true;
                        return false;
                    }
                    true
                });
            });
        }
        let scopes = rm.scope_metrics.len();
        rm.scope_metrics.retain(|sm| !sm.metrics.is_empty());
        walk.removed |= scopes != rm.scope_metrics.len();
        rm.resource = Some(resource);
        let items = count(
            rm.scope_metrics.iter().flat_map(|sm| &sm.metrics),
            points::count,
        );
        let empty = rm.scope_metrics.is_empty();
        walk.finish(|| rm.encode_to_vec(), items, before, empty)
    }

    fn logs(&self, c: &Compiled, mut rl: ResourceLogs) -> Result<Rewritten, TransformError> {
        let before = count(rl.scope_logs.iter(), |sl| sl.log_records.len());
        let mut resource = rl.resource.take().unwrap_or_default();
        if self.resource_drops(c, &mut resource)? {
            return Ok(Rewritten::Emptied);
        }
        let (mut walk, mut cache) = (Walk::default(), Vec::<KeyValue>::new());
        let f = &c.filter;
        for sl in &mut rl.scope_logs {
            with_scope(&mut sl.scope, |scope| {
                sl.log_records.retain_mut(|record| {
                    !walk.drop_if(|| {
                        if let Some(sel) = &c.selector {
                            let item = MatchItem {
                                resource: &resource.attributes,
                                scope: Some(scope),
                                attributes: &record.attributes,
                                fields: Fields::Log {
                                    body: record.body.as_ref().and_then(|b| b.value.as_ref()),
                                    severity_text: &record.severity_text,
                                    severity_number: record.severity_number,
                                },
                            };
                            return Ok(!sel.selects(&item));
                        }
                        cache.clear();
                        let t = Target {
                            resource: &mut resource,
                            scope,
                            item: Item::Log(record),
                            cache: &mut cache,
                        };
                        any(self.mode, &f.items, &t)
                    })
                });
            });
        }
        let scopes = rl.scope_logs.len();
        rl.scope_logs.retain(|sl| !sl.log_records.is_empty());
        walk.removed |= scopes != rl.scope_logs.len();
        rl.resource = Some(resource);
        let items = count(rl.scope_logs.iter(), |sl| sl.log_records.len());
        let empty = rl.scope_logs.is_empty();
        walk.finish(|| rl.encode_to_vec(), items, before, empty)
    }
}

#[cfg(test)]
mod tests;
