//! The OTLP schema as static tables: for each message, field number → (name, kind, markers).
//!
//! Field numbers and types are those of the prost code generated in `opentelemetry-proto`
//! 0.33 (`src/proto/tonic/opentelemetry.proto.*.rs`). Numbers absent from a table (reserved or
//! unknown) are skipped as unknown fields, as prost does. A `tests` module encodes fully
//! populated messages with prost and checks every field it writes is in these tables with the
//! wire type prost used.
//!
//! Markers:
//! - `packable`: a repeated scalar numeric field; prost accepts it packed (length-delimited) or
//!   one value per key.
//! - [`Role::Item`]: each occurrence is one item (span, data point, log record).
//! - [`Role::Carrier`]: the nested message's item count adds to this message's count.
//! - [`Role::OneofCarrier`]: a carrier in a `oneof` (`Metric.data`): as in prost, a later
//!   occurrence of a different variant replaces the earlier one, and a repeat of the same
//!   variant merges into it.

use super::wire::{WT_FIXED32, WT_FIXED64, WT_LEN, WT_VARINT};
use crate::signal::Signal;

/// How a field is encoded (what prost's generated code reads).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    /// Not in the schema: skipped as an unknown field.
    Unknown,
    /// int32/int64/uint32/uint64/sint32/sint64/bool/enum: wire type 0.
    Varint,
    /// fixed64/sfixed64/double: wire type 1.
    Fixed64,
    /// fixed32/sfixed32/float: wire type 5.
    Fixed32,
    /// `string`: wire type 2, UTF-8.
    Str,
    /// `bytes`: wire type 2.
    Bytes,
    /// A nested message: wire type 2, validated recursively.
    Msg(&'static Schema),
}

/// What a field contributes to the item count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Nothing.
    Plain,
    /// Each occurrence is one item.
    Item,
    /// The nested message's items count here.
    Carrier,
    /// As `Carrier`, inside the message's single item-carrying `oneof`.
    OneofCarrier,
}

/// One field of a message.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    pub number: u32,
    pub name: &'static str,
    pub kind: Kind,
    /// The wire type of one value of `kind` (a packed repeated field may also come as 2).
    pub wire_type: u8,
    pub packable: bool,
    pub role: Role,
}

impl Field {
    pub(crate) const UNKNOWN: Field = Field::new(0, "", Kind::Unknown);

    const fn new(number: u32, name: &'static str, kind: Kind) -> Field {
        let wire_type = match kind {
            Kind::Varint => WT_VARINT,
            Kind::Fixed64 => WT_FIXED64,
            Kind::Fixed32 => WT_FIXED32,
            Kind::Str | Kind::Bytes | Kind::Msg(_) => WT_LEN,
            Kind::Unknown => u8::MAX,
        };
        Field {
            number,
            name,
            kind,
            wire_type,
            packable: false,
            role: Role::Plain,
        }
    }
}

/// What the scan's fast pass does on a key of a message: the key's field and wire type looked
/// up together in one table load (see [`Schema::actions`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Anything else: an unknown field, a wrong or packed wire type, a group, field 0, wire type
    /// 6/7. Left to the general per-field code.
    Slow,
    /// A known varint field with wire type 0.
    Varint,
    /// A known 64-bit field with wire type 1.
    Fixed64,
    /// A known 32-bit field with wire type 5.
    Fixed32,
    /// A known `bytes` field with wire type 2.
    Bytes,
    /// A known `string` field with wire type 2: UTF-8 checked.
    Str,
    /// A known message field with wire type 2: entered.
    Msg,
}

/// Keys below this value (field numbers 1–31, every OTLP field) have an entry in
/// [`Schema::actions`]; a key is `field << 3 | wire_type`.
pub(crate) const ACTION_KEYS: usize = 256;

/// A message: its full protobuf name and its fields indexed by field number.
#[derive(Debug)]
pub(crate) struct Schema {
    pub name: &'static str,
    pub fields: &'static [Field],
    /// The fast pass's action for each key value below [`ACTION_KEYS`]: one load answers "is
    /// the field known, does its wire type match, what kind is it" (measured: this replaced a
    /// field-table lookup, a wire-type compare and a kind match per field).
    pub actions: [Action; ACTION_KEYS],
}

impl Schema {
    /// A schema over a field table indexed by field number, with its action table.
    const fn new(name: &'static str, fields: &'static [Field]) -> Schema {
        let mut actions = [Action::Slow; ACTION_KEYS];
        let mut number = 1;
        while number < fields.len() && number < ACTION_KEYS >> 3 {
            let field = &fields[number];
            let action = match field.kind {
                Kind::Unknown => Action::Slow,
                Kind::Varint => Action::Varint,
                Kind::Fixed64 => Action::Fixed64,
                Kind::Fixed32 => Action::Fixed32,
                Kind::Str => Action::Str,
                Kind::Bytes => Action::Bytes,
                Kind::Msg(_) => Action::Msg,
            };
            if !matches!(field.kind, Kind::Unknown) {
                actions[(number << 3) | field.wire_type as usize] = action;
            }
            number += 1;
        }
        Schema {
            name,
            fields,
            actions,
        }
    }

    /// The fast pass's action for a decoded key (`Slow` for keys beyond the table).
    #[inline(always)]
    pub fn action(&self, key: usize) -> Action {
        match self.actions.get(key) {
            Some(&a) => a,
            None => Action::Slow,
        }
    }

    /// The field with this number, if the schema knows it.
    #[inline(always)]
    pub fn field(&self, number: u32) -> Option<&'static Field> {
        match self.fields.get(number as usize) {
            Some(f) if !matches!(f.kind, Kind::Unknown) => Some(f),
            _ => None,
        }
    }
}

/// Builds a table indexed by field number (compile time).
const fn table<const N: usize>(defs: &[Field]) -> [Field; N] {
    let mut out = [Field::UNKNOWN; N];
    let mut i = 0;
    while i < defs.len() {
        out[defs[i].number as usize] = defs[i];
        i += 1;
    }
    out
}

const fn varint(n: u32, name: &'static str) -> Field {
    Field::new(n, name, Kind::Varint)
}
const fn fixed64(n: u32, name: &'static str) -> Field {
    Field::new(n, name, Kind::Fixed64)
}
const fn fixed32(n: u32, name: &'static str) -> Field {
    Field::new(n, name, Kind::Fixed32)
}
const fn string(n: u32, name: &'static str) -> Field {
    Field::new(n, name, Kind::Str)
}
const fn bytes(n: u32, name: &'static str) -> Field {
    Field::new(n, name, Kind::Bytes)
}
const fn msg(n: u32, name: &'static str, schema: &'static Schema) -> Field {
    Field::new(n, name, Kind::Msg(schema))
}
const fn packed(field: Field) -> Field {
    Field {
        packable: true,
        ..field
    }
}
const fn role(field: Field, role: Role) -> Field {
    Field { role, ..field }
}

// ---- common.v1 ----------------------------------------------------------------------------

pub(crate) static ANY_VALUE: Schema = Schema::new(
    "opentelemetry.proto.common.v1.AnyValue",
    &table::<9>(&[
        string(1, "string_value"),
        varint(2, "bool_value"),
        varint(3, "int_value"),
        fixed64(4, "double_value"),
        msg(5, "array_value", &ARRAY_VALUE),
        msg(6, "kvlist_value", &KEY_VALUE_LIST),
        bytes(7, "bytes_value"),
        varint(8, "string_value_strindex"),
    ]),
);

pub(crate) static ARRAY_VALUE: Schema = Schema::new(
    "opentelemetry.proto.common.v1.ArrayValue",
    &table::<2>(&[msg(1, "values", &ANY_VALUE)]),
);

pub(crate) static KEY_VALUE_LIST: Schema = Schema::new(
    "opentelemetry.proto.common.v1.KeyValueList",
    &table::<2>(&[msg(1, "values", &KEY_VALUE)]),
);

pub(crate) static KEY_VALUE: Schema = Schema::new(
    "opentelemetry.proto.common.v1.KeyValue",
    &table::<4>(&[
        string(1, "key"),
        msg(2, "value", &ANY_VALUE),
        varint(3, "key_strindex"),
    ]),
);

pub(crate) static INSTRUMENTATION_SCOPE: Schema = Schema::new(
    "opentelemetry.proto.common.v1.InstrumentationScope",
    &table::<5>(&[
        string(1, "name"),
        string(2, "version"),
        msg(3, "attributes", &KEY_VALUE),
        varint(4, "dropped_attributes_count"),
    ]),
);

pub(crate) static ENTITY_REF: Schema = Schema::new(
    "opentelemetry.proto.common.v1.EntityRef",
    &table::<5>(&[
        string(1, "schema_url"),
        string(2, "type"),
        string(3, "id_keys"),
        string(4, "description_keys"),
    ]),
);

// ---- resource.v1 --------------------------------------------------------------------------

pub(crate) static RESOURCE: Schema = Schema::new(
    "opentelemetry.proto.resource.v1.Resource",
    &table::<4>(&[
        msg(1, "attributes", &KEY_VALUE),
        varint(2, "dropped_attributes_count"),
        msg(3, "entity_refs", &ENTITY_REF),
    ]),
);

// ---- trace.v1 -----------------------------------------------------------------------------

pub(crate) static RESOURCE_SPANS: Schema = Schema::new(
    "opentelemetry.proto.trace.v1.ResourceSpans",
    &table::<4>(&[
        msg(1, "resource", &RESOURCE),
        role(msg(2, "scope_spans", &SCOPE_SPANS), Role::Carrier),
        string(3, "schema_url"),
    ]),
);

pub(crate) static SCOPE_SPANS: Schema = Schema::new(
    "opentelemetry.proto.trace.v1.ScopeSpans",
    &table::<4>(&[
        msg(1, "scope", &INSTRUMENTATION_SCOPE),
        role(msg(2, "spans", &SPAN), Role::Item),
        string(3, "schema_url"),
    ]),
);

pub(crate) static SPAN: Schema = Schema::new(
    "opentelemetry.proto.trace.v1.Span",
    &table::<17>(&[
        bytes(1, "trace_id"),
        bytes(2, "span_id"),
        string(3, "trace_state"),
        bytes(4, "parent_span_id"),
        string(5, "name"),
        varint(6, "kind"),
        fixed64(7, "start_time_unix_nano"),
        fixed64(8, "end_time_unix_nano"),
        msg(9, "attributes", &KEY_VALUE),
        varint(10, "dropped_attributes_count"),
        msg(11, "events", &SPAN_EVENT),
        varint(12, "dropped_events_count"),
        msg(13, "links", &SPAN_LINK),
        varint(14, "dropped_links_count"),
        msg(15, "status", &STATUS),
        fixed32(16, "flags"),
    ]),
);

pub(crate) static SPAN_EVENT: Schema = Schema::new(
    "opentelemetry.proto.trace.v1.Span.Event",
    &table::<5>(&[
        fixed64(1, "time_unix_nano"),
        string(2, "name"),
        msg(3, "attributes", &KEY_VALUE),
        varint(4, "dropped_attributes_count"),
    ]),
);

pub(crate) static SPAN_LINK: Schema = Schema::new(
    "opentelemetry.proto.trace.v1.Span.Link",
    &table::<7>(&[
        bytes(1, "trace_id"),
        bytes(2, "span_id"),
        string(3, "trace_state"),
        msg(4, "attributes", &KEY_VALUE),
        varint(5, "dropped_attributes_count"),
        fixed32(6, "flags"),
    ]),
);

pub(crate) static STATUS: Schema = Schema::new(
    "opentelemetry.proto.trace.v1.Status",
    // Field 1 is reserved (the old deprecated_code): unknown, skipped.
    &table::<4>(&[string(2, "message"), varint(3, "code")]),
);

// ---- metrics.v1 ---------------------------------------------------------------------------

pub(crate) static RESOURCE_METRICS: Schema = Schema::new(
    "opentelemetry.proto.metrics.v1.ResourceMetrics",
    &table::<4>(&[
        msg(1, "resource", &RESOURCE),
        role(msg(2, "scope_metrics", &SCOPE_METRICS), Role::Carrier),
        string(3, "schema_url"),
    ]),
);

pub(crate) static SCOPE_METRICS: Schema = Schema::new(
    "opentelemetry.proto.metrics.v1.ScopeMetrics",
    &table::<4>(&[
        msg(1, "scope", &INSTRUMENTATION_SCOPE),
        role(msg(2, "metrics", &METRIC), Role::Carrier),
        string(3, "schema_url"),
    ]),
);

pub(crate) static METRIC: Schema = Schema::new(
    "opentelemetry.proto.metrics.v1.Metric",
    // 4, 6 and 8 are reserved.
    &table::<13>(&[
        string(1, "name"),
        string(2, "description"),
        string(3, "unit"),
        role(msg(5, "gauge", &GAUGE), Role::OneofCarrier),
        role(msg(7, "sum", &SUM), Role::OneofCarrier),
        role(msg(9, "histogram", &HISTOGRAM), Role::OneofCarrier),
        role(
            msg(10, "exponential_histogram", &EXPONENTIAL_HISTOGRAM),
            Role::OneofCarrier,
        ),
        role(msg(11, "summary", &SUMMARY), Role::OneofCarrier),
        msg(12, "metadata", &KEY_VALUE),
    ]),
);

pub(crate) static GAUGE: Schema = Schema::new(
    "opentelemetry.proto.metrics.v1.Gauge",
    &table::<2>(&[role(msg(1, "data_points", &NUMBER_DATA_POINT), Role::Item)]),
);

pub(crate) static SUM: Schema = Schema::new(
    "opentelemetry.proto.metrics.v1.Sum",
    &table::<4>(&[
        role(msg(1, "data_points", &NUMBER_DATA_POINT), Role::Item),
        varint(2, "aggregation_temporality"),
        varint(3, "is_monotonic"),
    ]),
);

pub(crate) static HISTOGRAM: Schema = Schema::new(
    "opentelemetry.proto.metrics.v1.Histogram",
    &table::<3>(&[
        role(msg(1, "data_points", &HISTOGRAM_DATA_POINT), Role::Item),
        varint(2, "aggregation_temporality"),
    ]),
);

pub(crate) static EXPONENTIAL_HISTOGRAM: Schema = Schema::new(
    "opentelemetry.proto.metrics.v1.ExponentialHistogram",
    &table::<3>(&[
        role(
            msg(1, "data_points", &EXPONENTIAL_HISTOGRAM_DATA_POINT),
            Role::Item,
        ),
        varint(2, "aggregation_temporality"),
    ]),
);

pub(crate) static SUMMARY: Schema = Schema::new(
    "opentelemetry.proto.metrics.v1.Summary",
    &table::<2>(&[role(msg(1, "data_points", &SUMMARY_DATA_POINT), Role::Item)]),
);

pub(crate) static NUMBER_DATA_POINT: Schema = Schema::new(
    "opentelemetry.proto.metrics.v1.NumberDataPoint",
    // 1 is reserved; 4 and 6 are the `value` oneof (double / sfixed64).
    &table::<9>(&[
        fixed64(2, "start_time_unix_nano"),
        fixed64(3, "time_unix_nano"),
        fixed64(4, "as_double"),
        msg(5, "exemplars", &EXEMPLAR),
        fixed64(6, "as_int"),
        msg(7, "attributes", &KEY_VALUE),
        varint(8, "flags"),
    ]),
);

pub(crate) static HISTOGRAM_DATA_POINT: Schema = Schema::new(
    "opentelemetry.proto.metrics.v1.HistogramDataPoint",
    // 1 is reserved; sum/min/max are proto3 `optional double`: same wire rules as a double.
    &table::<13>(&[
        fixed64(2, "start_time_unix_nano"),
        fixed64(3, "time_unix_nano"),
        fixed64(4, "count"),
        fixed64(5, "sum"),
        packed(fixed64(6, "bucket_counts")),
        packed(fixed64(7, "explicit_bounds")),
        msg(8, "exemplars", &EXEMPLAR),
        msg(9, "attributes", &KEY_VALUE),
        varint(10, "flags"),
        fixed64(11, "min"),
        fixed64(12, "max"),
    ]),
);

pub(crate) static EXPONENTIAL_HISTOGRAM_DATA_POINT: Schema = Schema::new(
    "opentelemetry.proto.metrics.v1.ExponentialHistogramDataPoint",
    &table::<15>(&[
        msg(1, "attributes", &KEY_VALUE),
        fixed64(2, "start_time_unix_nano"),
        fixed64(3, "time_unix_nano"),
        fixed64(4, "count"),
        fixed64(5, "sum"),
        varint(6, "scale"),
        fixed64(7, "zero_count"),
        msg(8, "positive", &BUCKETS),
        msg(9, "negative", &BUCKETS),
        varint(10, "flags"),
        msg(11, "exemplars", &EXEMPLAR),
        fixed64(12, "min"),
        fixed64(13, "max"),
        fixed64(14, "zero_threshold"),
    ]),
);

pub(crate) static BUCKETS: Schema = Schema::new(
    "opentelemetry.proto.metrics.v1.ExponentialHistogramDataPoint.Buckets",
    &table::<3>(&[varint(1, "offset"), packed(varint(2, "bucket_counts"))]),
);

pub(crate) static SUMMARY_DATA_POINT: Schema = Schema::new(
    "opentelemetry.proto.metrics.v1.SummaryDataPoint",
    // 1 is reserved.
    &table::<9>(&[
        fixed64(2, "start_time_unix_nano"),
        fixed64(3, "time_unix_nano"),
        fixed64(4, "count"),
        fixed64(5, "sum"),
        msg(6, "quantile_values", &VALUE_AT_QUANTILE),
        msg(7, "attributes", &KEY_VALUE),
        varint(8, "flags"),
    ]),
);

pub(crate) static VALUE_AT_QUANTILE: Schema = Schema::new(
    "opentelemetry.proto.metrics.v1.SummaryDataPoint.ValueAtQuantile",
    &table::<3>(&[fixed64(1, "quantile"), fixed64(2, "value")]),
);

pub(crate) static EXEMPLAR: Schema = Schema::new(
    "opentelemetry.proto.metrics.v1.Exemplar",
    // 1 is reserved; 3 and 6 are the `value` oneof (double / sfixed64).
    &table::<8>(&[
        fixed64(2, "time_unix_nano"),
        fixed64(3, "as_double"),
        bytes(4, "span_id"),
        bytes(5, "trace_id"),
        fixed64(6, "as_int"),
        msg(7, "filtered_attributes", &KEY_VALUE),
    ]),
);

// ---- logs.v1 ------------------------------------------------------------------------------

pub(crate) static RESOURCE_LOGS: Schema = Schema::new(
    "opentelemetry.proto.logs.v1.ResourceLogs",
    &table::<4>(&[
        msg(1, "resource", &RESOURCE),
        role(msg(2, "scope_logs", &SCOPE_LOGS), Role::Carrier),
        string(3, "schema_url"),
    ]),
);

pub(crate) static SCOPE_LOGS: Schema = Schema::new(
    "opentelemetry.proto.logs.v1.ScopeLogs",
    &table::<4>(&[
        msg(1, "scope", &INSTRUMENTATION_SCOPE),
        role(msg(2, "log_records", &LOG_RECORD), Role::Item),
        string(3, "schema_url"),
    ]),
);

pub(crate) static LOG_RECORD: Schema = Schema::new(
    "opentelemetry.proto.logs.v1.LogRecord",
    // 4 is reserved.
    &table::<13>(&[
        fixed64(1, "time_unix_nano"),
        varint(2, "severity_number"),
        string(3, "severity_text"),
        msg(5, "body", &ANY_VALUE),
        msg(6, "attributes", &KEY_VALUE),
        varint(7, "dropped_attributes_count"),
        fixed32(8, "flags"),
        bytes(9, "trace_id"),
        bytes(10, "span_id"),
        fixed64(11, "observed_time_unix_nano"),
        string(12, "event_name"),
    ]),
);

/// The full name of a signal's export request (for errors).
pub(crate) fn request_name(signal: Signal) -> &'static str {
    match signal {
        Signal::Traces => "opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest",
        Signal::Metrics => "opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest",
        Signal::Logs => "opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest",
    }
}

/// The schema of field 1 of a signal's export request (`ResourceSpans`, …).
pub(crate) fn resource_schema(signal: Signal) -> &'static Schema {
    match signal {
        Signal::Traces => &RESOURCE_SPANS,
        Signal::Metrics => &RESOURCE_METRICS,
        Signal::Logs => &RESOURCE_LOGS,
    }
}

/// The name of field 1 of a signal's export request.
pub(crate) fn resource_field_name(signal: Signal) -> &'static str {
    match signal {
        Signal::Traces => "resource_spans",
        Signal::Metrics => "resource_metrics",
        Signal::Logs => "resource_logs",
    }
}

/// Every message schema, for table checks.
#[cfg(test)]
pub(crate) static ALL: &[&Schema] = &[
    &ANY_VALUE,
    &ARRAY_VALUE,
    &KEY_VALUE_LIST,
    &KEY_VALUE,
    &INSTRUMENTATION_SCOPE,
    &ENTITY_REF,
    &RESOURCE,
    &RESOURCE_SPANS,
    &SCOPE_SPANS,
    &SPAN,
    &SPAN_EVENT,
    &SPAN_LINK,
    &STATUS,
    &RESOURCE_METRICS,
    &SCOPE_METRICS,
    &METRIC,
    &GAUGE,
    &SUM,
    &HISTOGRAM,
    &EXPONENTIAL_HISTOGRAM,
    &SUMMARY,
    &NUMBER_DATA_POINT,
    &HISTOGRAM_DATA_POINT,
    &EXPONENTIAL_HISTOGRAM_DATA_POINT,
    &BUCKETS,
    &SUMMARY_DATA_POINT,
    &VALUE_AT_QUANTILE,
    &EXEMPLAR,
    &RESOURCE_LOGS,
    &SCOPE_LOGS,
    &LOG_RECORD,
];

#[cfg(test)]
pub(crate) mod random;

#[cfg(test)]
mod tests;
