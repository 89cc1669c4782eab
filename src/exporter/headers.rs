//! An exporter's static request headers (`headers:`), turned into header fields once, when
//! the exporter is built on a shard.

use http::{HeaderMap, HeaderName, HeaderValue};

use super::ExportError;
use crate::config::ComponentId;
use crate::extension::auth::ClientAuth;
use crate::pipeline::metadata::Metadata;

/// `headers` as header fields (names lowercased); a name or value HTTP cannot carry is an
/// error naming exporter `id`.
pub fn fields(
    id: &ComponentId,
    headers: &[(String, String)],
) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
    headers
        .iter()
        .map(|(name, value)| {
            let name = HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
                .map_err(|e| format!("exporters::{id}: header name {name:?}: {e}"))?;
            let value = HeaderValue::from_str(value)
                .map_err(|e| format!("exporters::{id}: header {name} value: {e}"))?;
            Ok((name, value))
        })
        .collect()
}

/// Puts `fields` on `map`, then the headers of `auth` (which so win for `Authorization`),
/// for data whose client metadata is `metadata`. Headers that cannot be set fail the
/// request permanently: the same data would fail the same way.
pub fn apply(
    map: &mut HeaderMap,
    fields: &[(HeaderName, HeaderValue)],
    auth: Option<&ClientAuth>,
    metadata: &Metadata,
) -> Result<(), ExportError> {
    for (name, value) in fields {
        map.insert(name.clone(), value.clone());
    }
    match auth {
        Some(auth) => auth
            .apply(map, metadata)
            .map_err(|e| ExportError::permanent(e.to_string())),
        None => Ok(()),
    }
}
