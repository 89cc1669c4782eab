//! Walking a decoded resource message context by context: one [`Target`] per resource,
//! scope, span, span event, metric, data point or log record, as a statement's context asks.
//! The resource and scope are taken out of their message while their items are visited (so
//! an item's statement can change them) and put back after; a scope that was absent stays
//! absent unless a statement gave it content.

use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{Metric, ResourceMetrics, ScopeMetrics};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

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

/// What visits the items under one scope: the item itself, or its span events or data
/// points, as `ctx` asks.
type Items<T> =
    fn(&mut T, Context, &mut dyn FnMut(Item<'_>) -> Result<(), EvalError>) -> Result<(), EvalError>;

/// Visits the resource (when `ctx` is the resource context), each scope (the scope context)
/// or what `items` finds under each scope, with the resource and each scope taken out of
/// their messages while visited; stops at the first error.
fn walk<S, T>(
    slot: &mut Option<Resource>,
    scopes: &mut [S],
    parts: fn(&mut S) -> (&mut Option<InstrumentationScope>, &mut Vec<T>),
    items: Items<T>,
    ctx: Context,
    cache: &mut Vec<KeyValue>,
    f: &mut Visit<'_>,
) -> Result<(), EvalError> {
    let present = slot.is_some();
    let mut resource = slot.take().unwrap_or_default();
    let mut visit = |resource: &mut Resource, scope: &mut InstrumentationScope, item: Item<'_>| {
        cache.clear();
        f(&mut Target {
            resource,
            scope,
            item,
            cache,
        })
    };
    let mut result = Ok(());
    if ctx == Context::Resource {
        result = visit(
            &mut resource,
            &mut InstrumentationScope::default(),
            Item::None,
        );
    } else {
        for s in scopes {
            let (scope_slot, list) = parts(s);
            result = with_scope(scope_slot, |scope| {
                if ctx == Context::Scope {
                    return visit(&mut resource, scope, Item::None);
                }
                for item in list.iter_mut() {
                    items(item, ctx, &mut |it| visit(&mut resource, scope, it))?;
                }
                Ok(())
            });
            if result.is_err() {
                break;
            }
        }
    }
    if present || resource != Resource::default() {
        *slot = Some(resource);
    }
    result
}

/// Visits every item of `ctx` in `rs`.
pub fn spans(
    rs: &mut ResourceSpans,
    ctx: Context,
    cache: &mut Vec<KeyValue>,
    f: &mut Visit<'_>,
) -> Result<(), EvalError> {
    fn parts(ss: &mut ScopeSpans) -> (&mut Option<InstrumentationScope>, &mut Vec<Span>) {
        (&mut ss.scope, &mut ss.spans)
    }
    fn items(
        span: &mut Span,
        ctx: Context,
        each: &mut dyn FnMut(Item<'_>) -> Result<(), EvalError>,
    ) -> Result<(), EvalError> {
        if ctx == Context::Span {
            return each(Item::Span(span));
        }
        for i in 0..span.events.len() {
            each(Item::SpanEvent(&mut *span, i))?;
        }
        Ok(())
    }
    walk(
        &mut rs.resource,
        &mut rs.scope_spans,
        parts,
        items,
        ctx,
        cache,
        f,
    )
}

/// Visits every item of `ctx` in `rm`.
pub fn metrics(
    rm: &mut ResourceMetrics,
    ctx: Context,
    cache: &mut Vec<KeyValue>,
    f: &mut Visit<'_>,
) -> Result<(), EvalError> {
    fn parts(sm: &mut ScopeMetrics) -> (&mut Option<InstrumentationScope>, &mut Vec<Metric>) {
        (&mut sm.scope, &mut sm.metrics)
    }
    fn items(
        metric: &mut Metric,
        ctx: Context,
        each: &mut dyn FnMut(Item<'_>) -> Result<(), EvalError>,
    ) -> Result<(), EvalError> {
        if ctx == Context::Metric {
            return each(Item::Metric(metric));
        }
        for i in 0..points::count(metric) {
            each(Item::DataPoint(&mut *metric, i))?;
        }
        Ok(())
    }
    walk(
        &mut rm.resource,
        &mut rm.scope_metrics,
        parts,
        items,
        ctx,
        cache,
        f,
    )
}

/// Visits every item of `ctx` in `rl`.
pub fn logs(
    rl: &mut ResourceLogs,
    ctx: Context,
    cache: &mut Vec<KeyValue>,
    f: &mut Visit<'_>,
) -> Result<(), EvalError> {
    fn parts(sl: &mut ScopeLogs) -> (&mut Option<InstrumentationScope>, &mut Vec<LogRecord>) {
        (&mut sl.scope, &mut sl.log_records)
    }
    fn items(
        record: &mut LogRecord,
        _: Context,
        each: &mut dyn FnMut(Item<'_>) -> Result<(), EvalError>,
    ) -> Result<(), EvalError> {
        each(Item::Log(record))
    }
    walk(
        &mut rl.resource,
        &mut rl.scope_logs,
        parts,
        items,
        ctx,
        cache,
        f,
    )
}
