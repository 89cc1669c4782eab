//! `tls:` of servers and clients, with otelcol's `configtls` keys: read, checked and loaded
//! once here so that a missing file, a malformed PEM or a key that is not the certificate's
//! is a `validate` error naming its key, and nothing starts half-secured.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde_yaml::Value;
use shardgate_io::tls::{self, ClientSpec, Part, Pem, Protocol, ServerSpec, TlsError, TlsVersion};

use super::de::{join, warn_ignored, Text};
use super::duration::GoDuration;
use super::error::Errors;

/// `tls:` of a server (a receiver's protocol).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerTlsConfig {
    /// What each shard builds its TLS server from (ALPN is the protocol's).
    pub spec: ServerSpec,
    /// How often each shard re-reads the certificate, key and client CA (`reload_interval`);
    /// `None` = never. New handshakes use the new files; open connections keep theirs.
    pub reload_interval: Option<Duration>,
}

/// `tls:` of a client (an exporter) that uses TLS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientTlsConfig {
    /// What each shard builds its TLS client from (ALPN is the protocol's).
    pub spec: ClientSpec,
    /// The name the server's certificate must carry, instead of the endpoint's host.
    pub server_name_override: Option<String>,
    /// How often each shard re-reads its files for new connections; `None` = never.
    pub reload_interval: Option<Duration>,
}

/// The raw `tls:` of a client or a server: the keys of otelcol's `configtls.Config`, plus
/// `ClientConfig`'s and `ServerConfig`'s own (each side refuses the other's).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawTls {
    pub(crate) insecure: Option<bool>,
    insecure_skip_verify: Option<bool>,
    server_name_override: Option<Text>,
    client_ca_file: Option<Text>,
    client_ca_file_reload: Option<bool>,
    ca_file: Option<Text>,
    ca_pem: Option<Text>,
    include_system_ca_certs_pool: Option<bool>,
    cert_file: Option<Text>,
    cert_pem: Option<Text>,
    key_file: Option<Text>,
    key_pem: Option<Text>,
    min_version: Option<Text>,
    max_version: Option<Text>,
    cipher_suites: Option<Vec<Text>>,
    curve_preferences: Option<Value>,
    reload_interval: Option<GoDuration>,
    tpm_config: Option<Value>,
}

/// Which key set a PEM, for error paths.
#[derive(Clone, Copy)]
struct Keys {
    file: &'static str,
    pem: &'static str,
}

const CERT: Keys = Keys {
    file: "cert_file",
    pem: "cert_pem",
};
const KEY: Keys = Keys {
    file: "key_file",
    pem: "key_pem",
};
const CA: Keys = Keys {
    file: "ca_file",
    pem: "ca_pem",
};

/// One PEM from its `*_file` / `*_pem` pair; both set is an error, as in otelcol.
fn pem(
    file: Option<Text>,
    inline: Option<Text>,
    keys: Keys,
    path: &str,
    errs: &mut Errors,
) -> Option<Pem> {
    let file = file.filter(|t| !t.0.is_empty());
    let inline = inline.filter(|t| !t.0.is_empty());
    match (file, inline) {
        (Some(_), Some(_)) => {
            errs.invalid(
                join(path, keys.pem),
                format!("{} and {} cannot both be set", keys.file, keys.pem),
            );
            None
        }
        (Some(Text(file)), None) => Some(Pem::File(PathBuf::from(file))),
        (None, Some(Text(text))) => Some(Pem::Inline(text)),
        (None, None) => None,
    }
}

fn version(
    raw: Option<Text>,
    default: TlsVersion,
    key: &str,
    path: &str,
    errs: &mut Errors,
) -> TlsVersion {
    match raw.as_ref().map(|t| t.0.as_str()) {
        None | Some("") => default,
        Some("1.2") => TlsVersion::Tls12,
        Some("1.3") => TlsVersion::Tls13,
        Some(v @ ("1.0" | "1.1")) => {
            errs.invalid(
                join(path, key),
                format!("TLS {v} is not supported by this build (rustls offers 1.2 and 1.3)"),
            );
            default
        }
        Some(other) => {
            errs.invalid(
                join(path, key),
                format!("unsupported TLS version \"{other}\"; expected 1.2 or 1.3"),
            );
            default
        }
    }
}

/// The shared keys: versions, suites, reload; warns about the ones this build ignores.
fn protocol(raw: &mut RawTls, path: &str, errs: &mut Errors) -> (Protocol, Option<Duration>) {
    warn_ignored(
        errs,
        &join(path, "curve_preferences"),
        &raw.curve_preferences,
    );
    if raw.tpm_config.is_some() {
        errs.invalid(
            join(path, "tpm_config"),
            "keys in a TPM are not supported by this build; use key_file or key_pem",
        );
    }
    let protocol = Protocol {
        min_version: version(
            raw.min_version.take(),
            TlsVersion::Tls12,
            "min_version",
            path,
            errs,
        ),
        max_version: version(
            raw.max_version.take(),
            TlsVersion::Tls13,
            "max_version",
            path,
            errs,
        ),
        cipher_suites: raw
            .cipher_suites
            .take()
            .unwrap_or_default()
            .into_iter()
            .map(|t| t.0)
            .collect(),
    };
    let reload = raw
        .reload_interval
        .take()
        .map(|d| d.0)
        .filter(|d| !d.is_zero());
    (protocol, reload)
}

/// Reports `error` at the key it is about.
fn report(
    error: TlsError,
    path: &str,
    cert_inline: bool,
    key_inline: bool,
    ca_inline: bool,
    errs: &mut Errors,
) {
    let pick = |keys: Keys, inline: bool| if inline { keys.pem } else { keys.file };
    let key = match &error {
        TlsError::Read { part, .. } | TlsError::Pem { part, .. } => match part {
            Part::Cert => pick(CERT, cert_inline),
            Part::Key => pick(KEY, key_inline),
            Part::Ca => pick(CA, ca_inline),
            Part::ClientCa => "client_ca_file",
        },
        TlsError::KeyMismatch => pick(KEY, key_inline),
        TlsError::Versions { .. } => "min_version",
        TlsError::CipherSuite(..) => "cipher_suites",
        TlsError::SystemRoots(_) => "include_system_ca_certs_pool",
        TlsError::Rustls(_) => "",
    };
    let at = if key.is_empty() {
        path.to_owned()
    } else {
        join(path, key)
    };
    errs.invalid(at, error);
}

/// Reports each key of `keys` that is set as belonging to the other side.
fn refuse_other_side(keys: &[(&str, bool)], other: &str, path: &str, errs: &mut Errors) {
    for (key, set) in keys {
        if *set {
            errs.invalid(join(path, key), format!("{key} is a {other} setting"));
        }
    }
}

/// The certificate and key pair: both or neither (`Err` when only one is set, reported).
fn identity(raw: &mut RawTls, path: &str, errs: &mut Errors) -> Result<Option<(Pem, Pem)>, ()> {
    let cert = pem(raw.cert_file.take(), raw.cert_pem.take(), CERT, path, errs);
    let key = pem(raw.key_file.take(), raw.key_pem.take(), KEY, path, errs);
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(Some((cert, key))),
        (None, None) => Ok(None),
        (Some(_), None) => {
            errs.invalid(
                join(path, "key_file"),
                "cert_file is set but key_file (or key_pem) is not",
            );
            Err(())
        }
        (None, Some(_)) => {
            errs.invalid(
                join(path, "cert_file"),
                "key_file is set but cert_file (or cert_pem) is not",
            );
            Err(())
        }
    }
}

/// A server's `tls:` at `path`, loaded once to check it; `alpn` is its protocol's.
pub(crate) fn server(
    raw: RawTls,
    alpn: &[&[u8]],
    path: &str,
    errs: &mut Errors,
) -> Option<ServerTlsConfig> {
    let mut common = raw;
    refuse_other_side(
        &[
            ("insecure", common.insecure.is_some()),
            (
                "insecure_skip_verify",
                common.insecure_skip_verify.is_some(),
            ),
            (
                "server_name_override",
                common.server_name_override.is_some(),
            ),
        ],
        "client",
        path,
        errs,
    );
    let client_ca_file = common.client_ca_file.take();
    let client_ca_file_reload = common.client_ca_file_reload.take();
    let (protocol, reload_interval) = protocol(&mut common, path, errs);
    let cert_inline = common.cert_pem.as_ref().is_some_and(|t| !t.0.is_empty());
    let key_inline = common.key_pem.as_ref().is_some_and(|t| !t.0.is_empty());
    let identity = identity(&mut common, path, errs);
    if common.ca_file.is_some() || common.ca_pem.is_some() {
        errs.warn(
            &join(path, "ca_file"),
            "a server does not use ca_file or ca_pem; client certificates are checked against client_ca_file",
        );
    }
    if common.include_system_ca_certs_pool == Some(true) {
        errs.warn(
            &join(path, "include_system_ca_certs_pool"),
            "ignored on a server",
        );
    }
    let client_ca = client_ca_file
        .filter(|t| !t.0.is_empty())
        .map(|t| Pem::File(PathBuf::from(t.0)));
    if client_ca_file_reload == Some(true) && reload_interval.is_none() {
        errs.warn(
            &join(path, "client_ca_file_reload"),
            "the client CA is re-read with the certificate every reload_interval; set reload_interval",
        );
    }
    let (cert, key) = match identity {
        Ok(Some(pair)) => pair,
        Ok(None) => {
            errs.invalid(
                path,
                "a TLS server needs cert_file (or cert_pem) and key_file (or key_pem)",
            );
            return None;
        }
        Err(()) => return None,
    };
    let spec = ServerSpec {
        cert,
        key,
        client_ca,
        protocol,
        alpn: alpn.iter().map(|p| p.to_vec()).collect(),
    };
    if let Err(error) = tls::server_config(&spec) {
        report(error, path, cert_inline, key_inline, false, errs);
        return None;
    }
    Some(ServerTlsConfig {
        spec,
        reload_interval,
    })
}

/// A client's `tls:` at `path` for a connection that uses TLS, loaded once to check it.
pub(crate) fn client(
    raw: RawTls,
    alpn: &[&[u8]],
    path: &str,
    errs: &mut Errors,
) -> Option<ClientTlsConfig> {
    let mut common = raw;
    refuse_other_side(
        &[
            ("client_ca_file", common.client_ca_file.is_some()),
            (
                "client_ca_file_reload",
                common.client_ca_file_reload.is_some(),
            ),
        ],
        "server",
        path,
        errs,
    );
    let insecure_skip_verify = common.insecure_skip_verify.take();
    let server_name_override = common.server_name_override.take();
    let (protocol, reload_interval) = protocol(&mut common, path, errs);
    let cert_inline = common.cert_pem.as_ref().is_some_and(|t| !t.0.is_empty());
    let key_inline = common.key_pem.as_ref().is_some_and(|t| !t.0.is_empty());
    let ca_inline = common.ca_pem.as_ref().is_some_and(|t| !t.0.is_empty());
    let ca = pem(common.ca_file.take(), common.ca_pem.take(), CA, path, errs);
    let identity = identity(&mut common, path, errs).ok()?;
    let spec = ClientSpec {
        ca,
        include_system_roots: common.include_system_ca_certs_pool.unwrap_or(false),
        identity,
        skip_verify: insecure_skip_verify.unwrap_or(false),
        protocol,
        alpn: alpn.iter().map(|p| p.to_vec()).collect(),
    };
    if let Err(error) = tls::client_config(&spec) {
        report(error, path, cert_inline, key_inline, ca_inline, errs);
        return None;
    }
    let server_name_override = server_name_override.map(|t| t.0).filter(|s| !s.is_empty());
    if let Some(name) = &server_name_override {
        if let Err(error) = tls::server_name(name) {
            errs.invalid(join(path, "server_name_override"), error);
        }
    }
    Some(ClientTlsConfig {
        spec,
        server_name_override,
        reload_interval,
    })
}

/// Warns about the keys of a client `tls:` that a plaintext connection does not use.
pub(crate) fn warn_unused(raw: &RawTls, path: &str, errs: &mut Errors) {
    let c = raw;
    let set = [
        ("insecure_skip_verify", raw.insecure_skip_verify.is_some()),
        ("server_name_override", raw.server_name_override.is_some()),
        ("ca_file", c.ca_file.is_some()),
        ("ca_pem", c.ca_pem.is_some()),
        ("cert_file", c.cert_file.is_some()),
        ("cert_pem", c.cert_pem.is_some()),
        ("key_file", c.key_file.is_some()),
        ("key_pem", c.key_pem.is_some()),
        ("min_version", c.min_version.is_some()),
        ("max_version", c.max_version.is_some()),
        ("cipher_suites", c.cipher_suites.is_some()),
        ("reload_interval", c.reload_interval.is_some()),
    ];
    for (key, _) in set.iter().filter(|(_, is_set)| *is_set) {
        errs.warn(
            &join(path, key),
            "the connection is plaintext, so this TLS setting is not used",
        );
    }
}
