//! `tls:` of a client (otelcol's `configtls` keys), shared by every exporter that connects.
//! Only `insecure` is acted on today; the other keys are accepted and reported as ignored.

use serde::Deserialize;
use serde_yaml::Value;

use super::de::{join, warn_ignored};
use super::error::Errors;

/// The raw `tls:` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawTls {
    pub(crate) insecure: Option<bool>,
    insecure_skip_verify: Option<Value>,
    ca_file: Option<Value>,
    ca_pem: Option<Value>,
    cert_file: Option<Value>,
    cert_pem: Option<Value>,
    key_file: Option<Value>,
    key_pem: Option<Value>,
    server_name_override: Option<Value>,
    min_version: Option<Value>,
    max_version: Option<Value>,
    cipher_suites: Option<Value>,
    reload_interval: Option<Value>,
    include_system_ca_certs_pool: Option<Value>,
    curve_preferences: Option<Value>,
}

/// Warns about every `tls:` key set that this build does not act on yet.
pub(crate) fn warn_unused_tls(tls: &RawTls, path: &str, errs: &mut Errors) {
    for (key, value) in [
        ("insecure_skip_verify", &tls.insecure_skip_verify),
        ("ca_file", &tls.ca_file),
        ("ca_pem", &tls.ca_pem),
        ("cert_file", &tls.cert_file),
        ("cert_pem", &tls.cert_pem),
        ("key_file", &tls.key_file),
        ("key_pem", &tls.key_pem),
        ("server_name_override", &tls.server_name_override),
        ("min_version", &tls.min_version),
        ("max_version", &tls.max_version),
        ("cipher_suites", &tls.cipher_suites),
        ("reload_interval", &tls.reload_interval),
        (
            "include_system_ca_certs_pool",
            &tls.include_system_ca_certs_pool,
        ),
        ("curve_preferences", &tls.curve_preferences),
    ] {
        warn_ignored(errs, &join(path, key), value);
    }
}
