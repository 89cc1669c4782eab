//! Regrouping received spans by trace, keeping each span's resource and scope.

use std::collections::HashMap;

use bytes::Bytes;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

/// The spans of one trace out of one resource message.
pub struct TracePart {
    /// The trace id (shorter ids are zero-padded; the scan lets any length through).
    pub id: [u8; 16],
    /// A resource message holding only this trace's spans.
    pub part: ResourceSpans,
    /// Spans in it.
    pub spans: u64,
}

/// A trace id as a fixed array.
pub fn trace_id(span: &Span) -> [u8; 16] {
    let mut id = [0u8; 16];
    let n = span.trace_id.len().min(16);
    id[..n].copy_from_slice(&span.trace_id[..n]);
    id
}

/// Splits `rs` into one resource message per trace, each with the resource and the scopes
/// of its spans (spans are moved, resource and scopes copied).
pub fn by_trace(rs: ResourceSpans) -> Vec<TracePart> {
    let mut index: HashMap<[u8; 16], usize> = HashMap::new();
    let mut parts: Vec<TracePart> = Vec::new();
    let ResourceSpans {
        resource,
        scope_spans,
        schema_url,
    } = rs;
    for ss in scope_spans {
        let ScopeSpans {
            scope,
            spans,
            schema_url: scope_schema,
        } = ss;
        let mut groups: Vec<([u8; 16], Vec<Span>)> = Vec::new();
        let mut in_scope: HashMap<[u8; 16], usize> = HashMap::new();
        for span in spans {
            let id = trace_id(&span);
            let at = *in_scope.entry(id).or_insert_with(|| {
                groups.push((id, Vec::new()));
                groups.len() - 1
            });
            if let Some((_, list)) = groups.get_mut(at) {
                list.push(span);
            }
        }
        for (id, spans) in groups {
            let at = *index.entry(id).or_insert_with(|| {
                parts.push(TracePart {
                    id,
                    part: ResourceSpans {
                        resource: resource.clone(),
                        scope_spans: Vec::new(),
                        schema_url: schema_url.clone(),
                    },
                    spans: 0,
                });
                parts.len() - 1
            });
            if let Some(p) = parts.get_mut(at) {
                p.spans += spans.len() as u64;
                p.part.scope_spans.push(ScopeSpans {
                    scope: scope.clone(),
                    spans,
                    schema_url: scope_schema.clone(),
                });
            }
        }
    }
    parts
}

/// One resource message encoded as a chunk.
pub fn encode(part: &ResourceSpans) -> Bytes {
    Bytes::from(part.encode_to_vec())
}
