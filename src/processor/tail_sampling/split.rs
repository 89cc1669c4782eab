//! Regrouping received spans by trace, and by the shard owning each trace.
//!
//! A resource message's spans are sorted once. Spans of traces this shard owns become
//! [`Piece`]s: the spans of one trace under one scope, sharing (not copying) that scope's
//! resource and scope with the other traces' pieces, so a held trace costs its spans plus a
//! pointer. Spans of traces another shard owns are regrouped into one resource message per
//! owner, each keeping its resource and scope (copied once per owner), for the hand-off.

use std::collections::HashMap;
use std::rc::Rc;

use bytes::Bytes;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

/// The resource and scope spans were received under.
pub struct Header {
    /// The resource and its schema URL, shared by the message's scopes.
    pub resource: Rc<(Option<Resource>, String)>,
    /// The scope.
    pub scope: Option<InstrumentationScope>,
    /// The scope's schema URL.
    pub scope_schema: String,
}

/// Spans of one trace received under one header.
pub struct Piece {
    /// Their resource and scope.
    pub header: Rc<Header>,
    /// The spans.
    pub spans: Vec<Span>,
}

impl Piece {
    /// The piece as a resource message of its own (for sending it on).
    pub fn into_resource_spans(self) -> ResourceSpans {
        let (resource, schema_url) = &*self.header.resource;
        ResourceSpans {
            resource: resource.clone(),
            scope_spans: vec![ScopeSpans {
                scope: self.header.scope.clone(),
                spans: self.spans,
                schema_url: self.header.scope_schema.clone(),
            }],
            schema_url: schema_url.clone(),
        }
    }

    /// Encoded bytes of its spans (what the budget holds for it).
    pub fn spans_len(&self) -> usize {
        self.spans.iter().map(|s| s.encoded_len() + 2).sum()
    }
}

/// The pieces of one trace out of one resource message.
pub struct TracePart {
    /// The trace id (shorter ids are zero-padded; the scan lets any length through).
    pub id: [u8; 16],
    /// Its pieces, one per scope it has spans under.
    pub pieces: Vec<Piece>,
    /// Spans in them.
    pub spans: u64,
}

/// A trace id as a fixed array.
pub fn trace_id(span: &Span) -> [u8; 16] {
    let mut id = [0u8; 16];
    let n = span.trace_id.len().min(16);
    id[..n].copy_from_slice(&span.trace_id[..n]);
    id
}

/// Resource messages per owning shard, with their span counts.
pub type Remote = Vec<(usize, ResourceSpans, u64)>;

/// Sorts `rs`'s spans: traces `owner` maps to `None` are this shard's and come back as
/// trace parts; the others are regrouped per owner into `remote`.
pub fn sort(
    rs: ResourceSpans,
    owner: impl Fn(&[u8; 16]) -> Option<usize>,
    remote: &mut Remote,
) -> Vec<TracePart> {
    let mut index: HashMap<[u8; 16], usize> = HashMap::new();
    let mut parts: Vec<TracePart> = Vec::new();
    let resource = Rc::new((rs.resource, rs.schema_url));
    for ss in rs.scope_spans {
        let mut local: Vec<([u8; 16], Vec<Span>)> = Vec::new();
        let mut in_scope: HashMap<[u8; 16], usize> = HashMap::new();
        let mut away: Vec<(usize, Vec<Span>)> = Vec::new();
        for span in ss.spans {
            let id = trace_id(&span);
            if let Some(o) = owner(&id) {
                match away.iter_mut().find(|(w, _)| *w == o) {
                    Some((_, list)) => list.push(span),
                    None => away.push((o, vec![span])),
                }
                continue;
            }
            let at = *in_scope.entry(id).or_insert_with(|| {
                local.push((id, Vec::new()));
                local.len() - 1
            });
            if let Some((_, list)) = local.get_mut(at) {
                list.push(span);
            }
        }
        for (o, spans) in away {
            hand_over(remote, o, &resource, &ss.scope, &ss.schema_url, spans);
        }
        if local.is_empty() {
            continue;
        }
        let header = Rc::new(Header {
            resource: resource.clone(),
            scope: ss.scope,
            scope_schema: ss.schema_url,
        });
        for (id, spans) in local {
            let at = *index.entry(id).or_insert_with(|| {
                parts.push(TracePart {
                    id,
                    pieces: Vec::new(),
                    spans: 0,
                });
                parts.len() - 1
            });
            if let Some(p) = parts.get_mut(at) {
                p.spans += spans.len() as u64;
                p.pieces.push(Piece {
                    header: header.clone(),
                    spans,
                });
            }
        }
    }
    parts
}

/// Adds `spans` under their resource and scope to owner `o`'s resource message.
fn hand_over(
    remote: &mut Remote,
    o: usize,
    resource: &Rc<(Option<Resource>, String)>,
    scope: &Option<InstrumentationScope>,
    scope_schema: &str,
    spans: Vec<Span>,
) {
    let count = spans.len() as u64;
    let scope_spans = ScopeSpans {
        scope: scope.clone(),
        spans,
        schema_url: scope_schema.to_owned(),
    };
    // One resource message per owner per received message: `remote` is filled message by
    // message, so the last entry for `o` is this message's if it was made for it.
    let (res, schema_url) = &**resource;
    let same = remote
        .iter_mut()
        .rev()
        .find(|(w, _, _)| *w == o)
        .filter(|(_, rs, _)| rs.resource == *res && rs.schema_url == *schema_url);
    match same {
        Some((_, rs, n)) => {
            rs.scope_spans.push(scope_spans);
            *n += count;
        }
        None => remote.push((
            o,
            ResourceSpans {
                resource: res.clone(),
                scope_spans: vec![scope_spans],
                schema_url: schema_url.clone(),
            },
            count,
        )),
    }
}

/// One resource message encoded as a chunk.
pub fn encode(part: &ResourceSpans) -> Bytes {
    Bytes::from(part.encode_to_vec())
}
