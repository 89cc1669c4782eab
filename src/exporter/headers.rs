//! An exporter's static request headers (`headers:`), turned into header fields once, when
//! the exporter is built on a shard.

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::config::ComponentId;
use crate::extension::auth::ClientAuth;

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

/// Puts `fields` on `map`, then the header of `auth` (which so wins for `Authorization`).
pub fn apply(map: &mut HeaderMap, fields: &[(HeaderName, HeaderValue)], auth: Option<&ClientAuth>) {
    for (name, value) in fields {
        map.insert(name.clone(), value.clone());
    }
    if let Some((name, value)) = auth.and_then(ClientAuth::header) {
        map.insert(name, value);
    }
}
