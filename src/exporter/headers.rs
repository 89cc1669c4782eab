//! An exporter's static request headers (`headers:`), turned into header fields once, when
//! the exporter is built on a shard.

use http::{HeaderName, HeaderValue};

use crate::config::ComponentId;

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
