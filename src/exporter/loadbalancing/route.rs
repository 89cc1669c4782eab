//! Splitting resource chunks by routing key, on the encoded bytes.
//!
//! OTLP's nesting is the same for the three signals: a resource message holds `resource`
//! (field 1), scope messages (field 2) and `schema_url` (3); a scope message holds `scope` (1),
//! units (field 2: spans, metrics or log records) and `schema_url` (3). A split by unit:
//! 1. walks the resource message once; every field but the scope messages is copied to every
//!    part (so each part keeps its resource and schema_url);
//! 2. walks each scope message; every field but the units is copied to each part that gets one
//!    of its units (so each unit keeps its scope), and each unit goes whole to its key's owner;
//! 3. writes, per owner, the resource fields then its scope messages, units in their order.
//!
//! A scope with no unit (and a resource with none) goes with the first part, so nothing is
//! dropped. A first walk finds every unit's owner; a chunk with a single owner goes whole, as
//! received, with no copy. `service` and `resource` keys route a whole resource message, without copying.
//! Chunks arrive validated by the receivers' scan, so a malformed one is a bug upstream and is
//! reported as [`RouteError`], never a panic.

use bytes::Bytes;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValueKind;
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::encoding::{decode_key, decode_varint, encode_key, encode_varint, WireType};
use prost::Message;

use crate::otlp::ResourceChunk;
use crate::signal::Signal;

/// What decides the backend of an item (`routing_key`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoutingKey {
    /// `traceID`: each span (log record) by its trace id.
    TraceId,
    /// `service`: each resource by its `service.name` attribute.
    Service,
    /// `resource`: each resource by its attributes.
    Resource,
    /// `metric`: each metric by its name.
    Metric,
    /// `streamID`: each data point by its stream (not built yet; refused in validate).
    StreamId,
}

impl RoutingKey {
    /// The config spelling.
    pub fn name(self) -> &'static str {
        match self {
            RoutingKey::TraceId => "traceID",
            RoutingKey::Service => "service",
            RoutingKey::Resource => "resource",
            RoutingKey::Metric => "metric",
            RoutingKey::StreamId => "streamID",
        }
    }

    /// Whether it applies to `signal` (as otelcol: traceID for traces and logs; resource,
    /// metric and streamID for metrics; service for all three).
    pub fn fits(self, signal: Signal) -> bool {
        match self {
            RoutingKey::Service => true,
            RoutingKey::TraceId => signal != Signal::Metrics,
            RoutingKey::Resource | RoutingKey::Metric | RoutingKey::StreamId => {
                signal == Signal::Metrics
            }
        }
    }

    /// otelcol's default for `signal` when `routing_key` is not set.
    pub fn default_for(signal: Signal) -> RoutingKey {
        match signal {
            Signal::Metrics => RoutingKey::Service,
            Signal::Traces | Signal::Logs => RoutingKey::TraceId,
        }
    }
}

/// Why a chunk could not be routed.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// The chunk's wire format is broken (the receivers' scan makes this a bug).
    #[error("resource message is malformed: {0}")]
    Malformed(&'static str),
    /// The resource does not decode.
    #[error("resource does not decode: {0}")]
    Decode(#[from] prost::DecodeError),
    /// `routing_key: service` and the resource has no string `service.name`.
    #[error("routing_key service: a resource has no service.name attribute")]
    NoServiceName,
    /// A routing key this build cannot apply to this signal.
    #[error("routing_key {0} is not supported for this signal")]
    Unsupported(&'static str),
}

/// One routed part: the owner index and its chunk.
pub type Part = (usize, ResourceChunk);

/// Splits `chunk` by `key`, asking `owner` for the owner index of each key's bytes; pushes one
/// chunk per owner onto `out`.
pub fn route_chunk(
    signal: Signal,
    key: RoutingKey,
    chunk: &ResourceChunk,
    owner: &mut dyn FnMut(&[u8]) -> usize,
    out: &mut Vec<Part>,
) -> Result<(), RouteError> {
    let unit_key: fn(&[u8]) -> Result<&[u8], RouteError> = match (key, signal) {
        (RoutingKey::Service, _) => {
            let name = service_name(&resource(&chunk.bytes)?)?;
            out.push((owner(name.as_bytes()), chunk.clone()));
            return Ok(());
        }
        (RoutingKey::Resource, Signal::Metrics) => {
            let identity = resource_identity(resource(&chunk.bytes)?);
            out.push((owner(&identity), chunk.clone()));
            return Ok(());
        }
        (RoutingKey::TraceId, Signal::Traces) => |unit| bytes_field(unit, SPAN_TRACE_ID),
        (RoutingKey::TraceId, Signal::Logs) => |unit| bytes_field(unit, LOG_TRACE_ID),
        (RoutingKey::Metric, Signal::Metrics) => |unit| bytes_field(unit, METRIC_NAME),
        (other, _) => return Err(RouteError::Unsupported(other.name())),
    };
    split_units(signal, chunk, unit_key, owner, out)
}

/// `Span.trace_id`.
const SPAN_TRACE_ID: u32 = 1;
/// `LogRecord.trace_id`.
const LOG_TRACE_ID: u32 = 9;
/// `Metric.name`.
const METRIC_NAME: u32 = 1;
/// `resource` in a resource message, `scope` in a scope message.
const HEADER_FIELD: u32 = 1;
/// Scope messages in a resource message, units in a scope message.
const CHILD_FIELD: u32 = 2;

/// One field of a message: its number, wire type, whole encoding and (length-delimited) body.
struct Field<'a> {
    number: u32,
    wire_type: WireType,
    raw: &'a [u8],
    body: &'a [u8],
}

impl Field<'_> {
    fn is_child(&self) -> bool {
        self.number == CHILD_FIELD && self.wire_type == WireType::LengthDelimited
    }
}

/// The fields of `message`, in order.
fn fields(message: &[u8]) -> impl Iterator<Item = Result<Field<'_>, RouteError>> {
    let mut rest = message;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        Some(next_field(message, &mut rest))
    })
}

fn next_field<'a>(message: &'a [u8], rest: &mut &'a [u8]) -> Result<Field<'a>, RouteError> {
    let start = message.len() - rest.len();
    let (number, wire_type) = decode_key(rest)?;
    let body_len = match wire_type {
        WireType::Varint => {
            decode_varint(rest)?;
            0
        }
        WireType::SixtyFourBit => 8,
        WireType::ThirtyTwoBit => 4,
        WireType::LengthDelimited => usize::try_from(decode_varint(rest)?)
            .map_err(|_| RouteError::Malformed("length overflows usize"))?,
        WireType::StartGroup | WireType::EndGroup => {
            return Err(RouteError::Malformed("groups are not allowed"))
        }
    };
    if body_len > rest.len() {
        return Err(RouteError::Malformed("field overruns the message"));
    }
    let (body, tail) = rest.split_at(body_len);
    *rest = tail;
    let end = message.len() - rest.len();
    let raw = message
        .get(start..end)
        .ok_or(RouteError::Malformed("field out of range"))?;
    Ok(Field {
        number,
        wire_type,
        raw,
        body,
    })
}

/// The last occurrence of length-delimited field `number` of `message` (protobuf's rule for a
/// repeated singular scalar), or empty.
fn bytes_field(message: &[u8], number: u32) -> Result<&[u8], RouteError> {
    let mut found: &[u8] = &[];
    for field in fields(message) {
        let field = field?;
        if field.number == number && field.wire_type == WireType::LengthDelimited {
            found = field.body;
        }
    }
    Ok(found)
}

/// The merged `resource` of a resource message.
fn resource(chunk: &[u8]) -> Result<Resource, RouteError> {
    let mut resource = Resource::default();
    for field in fields(chunk) {
        let field = field?;
        if field.number == HEADER_FIELD && field.wire_type == WireType::LengthDelimited {
            resource.merge(field.body)?;
        }
    }
    Ok(resource)
}

fn service_name(resource: &Resource) -> Result<String, RouteError> {
    resource
        .attributes
        .iter()
        .rev()
        .find(|kv| kv.key == "service.name")
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
        .and_then(|v| match v {
            AnyValueKind::StringValue(s) => Some(s.clone()),
            _ => None,
        })
        .ok_or(RouteError::NoServiceName)
}

/// The identity of a chunk's resource: its attributes sorted by key, encoded (what the
/// `resource` routing key hashes; the kafka exporter keys messages by it too).
pub fn resource_key(chunk: &ResourceChunk) -> Result<Vec<u8>, RouteError> {
    Ok(resource_identity(resource(&chunk.bytes)?))
}

/// A resource's identity: its attributes sorted by key and encoded, so the same attributes in
/// another order give the same owner.
fn resource_identity(mut resource: Resource) -> Vec<u8> {
    resource.attributes.sort_by(|a, b| a.key.cmp(&b.key));
    let mut out = Vec::new();
    for attribute in &resource.attributes {
        attribute.encode_length_delimited(&mut out).unwrap_or(());
    }
    out
}

/// One owner's share of the resource message being split.
struct Share {
    owner: usize,
    scopes: Vec<u8>,
    units: u32,
}

fn share(shares: &mut Vec<Share>, owner: usize) -> &mut Share {
    let at = match shares.iter().position(|s| s.owner == owner) {
        Some(at) => at,
        None => {
            shares.push(Share {
                owner,
                scopes: Vec::new(),
                units: 0,
            });
            shares.len() - 1
        }
    };
    &mut shares[at]
}

/// The owner of every unit of `chunk`, in order (the first walk: no copy yet).
fn unit_owners(
    chunk: &ResourceChunk,
    unit_key: fn(&[u8]) -> Result<&[u8], RouteError>,
    owner: &mut dyn FnMut(&[u8]) -> usize,
) -> Result<Vec<usize>, RouteError> {
    let mut owners = Vec::with_capacity(chunk.items as usize);
    for field in fields(&chunk.bytes) {
        let field = field?;
        if !field.is_child() {
            continue;
        }
        for unit in fields(field.body) {
            let unit = unit?;
            if unit.is_child() {
                owners.push(owner(unit_key(unit.body)?));
            }
        }
    }
    Ok(owners)
}

/// Steps 1–3 of the module doc for `traceID` and `metric`. A chunk whose units all have one
/// owner (or that has none) goes whole, without a copy.
fn split_units(
    signal: Signal,
    chunk: &ResourceChunk,
    unit_key: fn(&[u8]) -> Result<&[u8], RouteError>,
    owner: &mut dyn FnMut(&[u8]) -> usize,
    out: &mut Vec<Part>,
) -> Result<(), RouteError> {
    let owners = unit_owners(chunk, unit_key, owner)?;
    match owners.first() {
        None => {
            out.push((owner(&[]), chunk.clone()));
            return Ok(());
        }
        Some(first) if owners.iter().all(|o| o == first) => {
            out.push((*first, chunk.clone()));
            return Ok(());
        }
        Some(_) => {}
    }
    let mut next_owner = owners.into_iter();
    let mut header = Vec::new();
    let mut shares: Vec<Share> = Vec::new();
    let mut unowned = Vec::new();
    for field in fields(&chunk.bytes) {
        let field = field?;
        if !field.is_child() {
            header.extend_from_slice(field.raw);
            continue;
        }
        if !split_scope(field.body, &mut next_owner, &mut shares)? {
            unowned.extend_from_slice(field.raw);
        }
    }
    if let Some(first) = shares.first_mut() {
        first.scopes.extend_from_slice(&unowned);
    }
    for share in shares {
        let mut bytes = Vec::with_capacity(header.len() + share.scopes.len());
        bytes.extend_from_slice(&header);
        bytes.extend_from_slice(&share.scopes);
        let items = match signal {
            // A metric unit holds any number of data points: count them.
            Signal::Metrics => count_points(signal, &bytes)?,
            Signal::Traces | Signal::Logs => share.units,
        };
        let chunk = ResourceChunk {
            bytes: Bytes::from(bytes),
            items,
        };
        out.push((share.owner, chunk));
    }
    Ok(())
}

/// Step 2 for one scope message: each unit to its owner's share (owners from the first walk),
/// with the scope's other fields; returns whether the scope had any unit.
fn split_scope(
    scope: &[u8],
    owners: &mut impl Iterator<Item = usize>,
    shares: &mut Vec<Share>,
) -> Result<bool, RouteError> {
    let mut scope_header = Vec::new();
    let mut units: Vec<(usize, Vec<u8>, u32)> = Vec::new();
    for unit in fields(scope) {
        let unit = unit?;
        if !unit.is_child() {
            scope_header.extend_from_slice(unit.raw);
            continue;
        }
        let to = owners
            .next()
            .ok_or(RouteError::Malformed("the chunk changed between walks"))?;
        match units.iter_mut().find(|(o, _, _)| *o == to) {
            Some((_, bytes, n)) => {
                bytes.extend_from_slice(unit.raw);
                *n += 1;
            }
            None => units.push((to, unit.raw.to_vec(), 1)),
        }
    }
    let any = !units.is_empty();
    for (to, bytes, n) in units {
        let share = share(shares, to);
        put_child(&mut share.scopes, &[&scope_header, &bytes]);
        share.units += n;
    }
    Ok(any)
}

fn count_points(signal: Signal, bytes: &[u8]) -> Result<u32, RouteError> {
    let points = crate::otlp::scan::scan_resource(signal, bytes)
        .map_err(|_| RouteError::Malformed("a routed metric does not scan"))?;
    u32::try_from(points).map_err(|_| RouteError::Malformed("too many data points"))
}

/// Appends field 2 holding the concatenation of `pieces`.
fn put_child(out: &mut Vec<u8>, pieces: &[&[u8]]) {
    let len: usize = pieces.iter().map(|p| p.len()).sum();
    encode_key(CHILD_FIELD, WireType::LengthDelimited, out);
    encode_varint(len as u64, out);
    for piece in pieces {
        out.extend_from_slice(piece);
    }
}

#[cfg(test)]
#[path = "route_tests.rs"]
mod tests;
