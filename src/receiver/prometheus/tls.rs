//! A scrape config's `tls_config` (Prometheus's keys) read into the client TLS settings the
//! exporters use, so https targets are scraped with the same rustls client: `ca_file` / `ca`,
//! `cert_file` / `cert`, `key_file` / `key`, `server_name`, `insecure_skip_verify`,
//! `min_version` / `max_version` (`TLS12`, `TLS13`). Without `ca_file` the system's roots
//! are trusted, as Prometheus does.

use serde::Deserialize;
use serde_yaml::{Mapping, Value};

use crate::config::de::{self, join, Text};
use crate::config::error::Errors;
use crate::config::tls::{self, RawTls};
use crate::config::ClientTlsConfig;

/// ALPN of a scrape: HTTP/1.1.
const ALPN: &[&[u8]] = &[b"http/1.1"];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawPrometheusTls {
    ca_file: Option<Text>,
    ca: Option<Text>,
    cert_file: Option<Text>,
    cert: Option<Text>,
    key_file: Option<Text>,
    key: Option<Text>,
    server_name: Option<Text>,
    insecure_skip_verify: Option<bool>,
    min_version: Option<Text>,
    max_version: Option<Text>,
}

/// The client TLS of a job scraping over `https` (its `tls_config` at `path`, or the
/// defaults); a `tls_config` on an `http` job is warned about and unused.
pub(super) fn client(
    raw: Option<RawPrometheusTls>,
    https: bool,
    path: &str,
    errs: &mut Errors,
) -> Option<ClientTlsConfig> {
    if !https {
        if raw.is_some() {
            errs.warn(
                path,
                "the scrape is plain http, so this TLS setting is not used",
            );
        }
        return None;
    }
    let raw = raw.unwrap_or_default();
    let mut map = Mapping::new();
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(value) = value {
            map.insert(Value::String(key.to_owned()), value);
        }
    };
    let text = |t: Option<Text>| t.map(|Text(t)| Value::String(t));
    put("ca_file", text(raw.ca_file));
    put("ca_pem", text(raw.ca));
    put("cert_file", text(raw.cert_file));
    put("cert_pem", text(raw.cert));
    put("key_file", text(raw.key_file));
    put("key_pem", text(raw.key));
    put("server_name_override", text(raw.server_name));
    put(
        "insecure_skip_verify",
        raw.insecure_skip_verify.map(Value::Bool),
    );
    for (key, value) in [
        ("min_version", raw.min_version),
        ("max_version", raw.max_version),
    ] {
        put(key, version(value, &join(path, key), errs));
    }
    let raw: RawTls = errs.take(de::decode(Value::Mapping(map), path))?;
    tls::client(raw, ALPN, path, errs)
}

/// Prometheus's `TLS12` / `TLS13` as the client settings write them.
fn version(raw: Option<Text>, path: &str, errs: &mut Errors) -> Option<Value> {
    let Text(text) = raw?;
    match text.as_str() {
        "TLS12" => Some(Value::String("1.2".into())),
        "TLS13" => Some(Value::String("1.3".into())),
        "TLS10" | "TLS11" => {
            errs.invalid(
                path,
                format!("{text} is not supported by this build (rustls offers TLS12 and TLS13)"),
            );
            None
        }
        other => {
            errs.invalid(path, format!("unknown TLS version \"{other}\""));
            None
        }
    }
}
