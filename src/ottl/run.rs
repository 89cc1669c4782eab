//! Walking a decoded resource message context by context: one [`Target`] per resource,
//! scope, span, span event, metric, data point or log record, as a statement's context asks.
//! The resource and scope are taken out of their message while their items are visited (so
//! an item's statement can change them) and put back after; a scope that was absent stays
//! absent unless a statement gave it content.

use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::ResourceLogs;
use opentelemetry_proto::tonic::metrics::v1::ResourceMetrics;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;

use super::context::{Context, Item, Target};
use super::points;
use super::EvalError;

/// What to do with one item.
pub type Visit<'f> = dyn FnMut(&mut Target<'_>) -> Result<(), EvalError> + 'f;

/// Takes a scope out of its message for the duration of `f`.
pub fn with_scope<R>(
    slot: &mut Option<InstrumentationScope>,
    f: impl FnOnce(&mut InstrumentationScope) -> R,
) -> R {
    let present = slot.is_some();
    let mut scope = slot.take().unwrap_or_default();
    let r = f(&mut scope);
    if present || scope != InstrumentationScope::default() {
        *slot = Some(scope);
    }
    r
}

/// Visits every item of `ctx` in `rs`.
pub fn spans(
    rs: &mut ResourceSpans,
    ctx: Context,
    cache: &mut Vec<KeyValue>,
    f: &mut Visit<'_>,
) -> Result<(), EvalError> {
    let present = rs.resource.is_some();
    let mut resource = rs.resource.take().unwrap_or_default();
    let mut result = Ok(());
    if ctx == Context::Resource {
        cache.clear();
        let mut scope = InstrumentationScope::default();
        result = f(&mut Target {
            resource: &mut resource,
            scope: &mut scope,
            item: Item::None,
            cache,
        });
    } else {
        'scopes: for ss in &mut rs.scope_spans {
            result = with_scope(&mut ss.scope, |scope| {
                if ctx == Context::Scope {
                    cache.clear();
                    return f(&mut Target {
                        resource: &mut resource,
                        scope,
                        item: Item::None,
                        cache,
                    });
                }
                for span in &mut ss.spans {
                    if ctx == Context::Span {
                        cache.clear();
                        f(&mut Target {
                            resource: &mut resource,
                            scope,
                            item: Item::Span(span),
                            cache,
                        })?;
                        continue;
                    }
                    for i in 0..span.events.len() {
                        cache.clear();
                        f(&mut Target {
                            resource: &mut resource,
                            scope,
                            item: Item::SpanEvent(span, i),
                            cache,
                        })?;
                    }
                }
                Ok(())
            });
            if result.is_err() {
                break 'scopes;
            }
        }
    }
    if present || resource != Resource::default() {
        rs.resource = Some(resource);
    }
    result
}

/// Visits every item of `ctx` in `rm`.
pub fn metrics(
    rm: &mut ResourceMetrics,
    ctx: Context,
    cache: &mut Vec<KeyValue>,
    f: &mut Visit<'_>,
) -> Result<(), EvalError> {
    let present = rm.resource.is_some();
    let mut resource = rm.resource.take().unwrap_or_default();
    let mut result = Ok(());
    if ctx == Context::Resource {
        cache.clear();
        let mut scope = InstrumentationScope::default();
        result = f(&mut Target {
            resource: &mut resource,
            scope: &mut scope,
            item: Item::None,
            cache,
        });
    } else {
        for sm in &mut rm.scope_metrics {
            result = with_scope(&mut sm.scope, |scope| {
                if ctx == Context::Scope {
                    cache.clear();
                    return f(&mut Target {
                        resource: &mut resource,
                        scope,
                        item: Item::None,
                        cache,
                    });
                }
                for metric in &mut sm.metrics {
                    if ctx == Context::Metric {
                        cache.clear();
                        f(&mut Target {
                            resource: &mut resource,
                            scope,
                            item: Item::Metric(metric),
                            cache,
                        })?;
                        continue;
                    }
                    for i in 0..points::count(metric) {
                        cache.clear();
                        f(&mut Target {
                            resource: &mut resource,
                            scope,
                            item: Item::DataPoint(metric, i),
                            cache,
                        })?;
                    }
                }
                Ok(())
            });
            if result.is_err() {
                break;
            }
        }
    }
    if present || resource != Resource::default() {
        rm.resource = Some(resource);
    }
    result
}

/// Visits every item of `ctx` in `rl`.
pub fn logs(
    rl: &mut ResourceLogs,
    ctx: Context,
    cache: &mut Vec<KeyValue>,
    f: &mut Visit<'_>,
) -> Result<(), EvalError> {
    let present = rl.resource.is_some();
    let mut resource = rl.resource.take().unwrap_or_default();
    let mut result = Ok(());
    if ctx == Context::Resource {
        cache.clear();
        let mut scope = InstrumentationScope::default();
        result = f(&mut Target {
            resource: &mut resource,
            scope: &mut scope,
            item: Item::None,
            cache,
        });
    } else {
        for sl in &mut rl.scope_logs {
            result = with_scope(&mut sl.scope, |scope| {
                if ctx == Context::Scope {
                    cache.clear();
                    return f(&mut Target {
                        resource: &mut resource,
                        scope,
                        item: Item::None,
                        cache,
                    });
                }
                for record in &mut sl.log_records {
                    cache.clear();
                    f(&mut Target {
                        resource: &mut resource,
                        scope,
                        item: Item::Log(record),
                        cache,
                    })?;
                }
                Ok(())
            });
            if result.is_err() {
                break;
            }
        }
    }
    if present || resource != Resource::default() {
        rl.resource = Some(resource);
    }
    result
}
