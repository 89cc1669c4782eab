//! The client keys both Kafka components take (otelcol's `configkafka.ClientConfig`), and the
//! librdkafka settings they become.
//!
//! A component's body is split first: [`split`] takes these keys out of the mapping, so the
//! component decodes the rest with its own strict struct and a typo is still an error.

use std::fmt;
use std::time::Duration;

use rdkafka::ClientConfig;
use serde::Deserialize;
use serde_yaml::{Mapping, Value};

use crate::config::de::{self, join, warn_ignored, Text};
use crate::config::duration::GoDuration;
use crate::config::error::Errors;

/// otelcol's default `brokers`.
pub const DEFAULT_BROKER: &str = "localhost:9092";
/// otelcol's default `client_id`.
pub const DEFAULT_CLIENT_ID: &str = "otel-collector";

/// The keys of [`RawClient`], taken out of a component body by [`split`].
const CLIENT_KEYS: &[&str] = &[
    "brokers",
    "client_id",
    "protocol_version",
    "resolve_canonical_bootstrap_servers_only",
    "conn_idle_timeout",
    "metadata",
    "auth",
    "tls",
    "rack_id",
    "use_leader_epoch",
];

/// How a Kafka client reaches and authenticates to the cluster.
#[derive(Clone, PartialEq, Eq)]
pub struct KafkaClientConfig {
    /// Bootstrap brokers, `host:port`.
    pub brokers: Vec<String>,
    /// `client.id` sent to the brokers.
    pub client_id: String,
    /// TLS to the brokers (none: plaintext, otelcol's default for Kafka).
    pub tls: Option<KafkaTls>,
    /// SASL authentication, if any.
    pub sasl: Option<Sasl>,
    /// Resolve the bootstrap names to their canonical names first.
    pub canonical_bootstrap: bool,
    /// How often topic metadata is refreshed.
    pub metadata_refresh: Duration,
    /// Idle connections are closed after this.
    pub conn_idle_timeout: Duration,
}

impl fmt::Debug for KafkaClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaClientConfig")
            .field("brokers", &self.brokers)
            .field("client_id", &self.client_id)
            .field("tls", &self.tls.is_some())
            .field("sasl", &self.sasl.as_ref().map(|s| s.mechanism.name()))
            .finish_non_exhaustive()
    }
}

/// `tls:` of a Kafka client, as librdkafka (OpenSSL) takes it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct KafkaTls {
    /// CA bundle file.
    pub ca_file: Option<String>,
    /// CA bundle, PEM text.
    pub ca_pem: Option<String>,
    /// Client certificate file (mTLS).
    pub cert_file: Option<String>,
    /// Client certificate, PEM text.
    pub cert_pem: Option<String>,
    /// Client key file.
    pub key_file: Option<String>,
    /// Client key, PEM text.
    pub key_pem: Option<String>,
    /// Skip the broker certificate check (tests only).
    pub insecure_skip_verify: bool,
}

/// A SASL mechanism librdkafka speaks without extra libraries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaslMechanism {
    /// `PLAIN`.
    Plain,
    /// `SCRAM-SHA-256`.
    ScramSha256,
    /// `SCRAM-SHA-512`.
    ScramSha512,
}

impl SaslMechanism {
    /// The name librdkafka and otelcol use.
    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

/// SASL user and mechanism.
#[derive(Clone, PartialEq, Eq)]
pub struct Sasl {
    /// The mechanism.
    pub mechanism: SaslMechanism,
    /// User name.
    pub username: String,
    /// Password (never printed).
    pub password: String,
}

impl fmt::Debug for Sasl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sasl")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl KafkaClientConfig {
    /// The librdkafka settings of this client.
    pub fn rdkafka(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", self.brokers.join(","))
            .set("client.id", &self.client_id)
            .set("log_level", "4")
            .set(
                "topic.metadata.refresh.interval.ms",
                millis(self.metadata_refresh),
            )
            .set("connections.max.idle.ms", millis(self.conn_idle_timeout));
        if self.canonical_bootstrap {
            c.set(
                "client.dns.lookup",
                "resolve_canonical_bootstrap_servers_only",
            );
        }
        let protocol = match (&self.tls, &self.sasl) {
            (None, None) => "plaintext",
            (Some(_), None) => "ssl",
            (None, Some(_)) => "sasl_plaintext",
            (Some(_), Some(_)) => "sasl_ssl",
        };
        c.set("security.protocol", protocol);
        if let Some(sasl) = &self.sasl {
            c.set("sasl.mechanism", sasl.mechanism.name())
                .set("sasl.username", &sasl.username)
                .set("sasl.password", &sasl.password);
        }
        if let Some(tls) = &self.tls {
            let pairs = [
                ("ssl.ca.location", &tls.ca_file),
                ("ssl.ca.pem", &tls.ca_pem),
                ("ssl.certificate.location", &tls.cert_file),
                ("ssl.certificate.pem", &tls.cert_pem),
                ("ssl.key.location", &tls.key_file),
                ("ssl.key.pem", &tls.key_pem),
            ];
            for (key, value) in pairs {
                if let Some(value) = value {
                    c.set(key, value);
                }
            }
            if tls.insecure_skip_verify {
                c.set("enable.ssl.certificate.verification", "false");
            }
        }
        c
    }
}

/// Milliseconds as librdkafka's settings take them (at least 1).
pub fn millis(d: Duration) -> String {
    d.as_millis().clamp(1, i32::MAX as u128).to_string()
}

/// Passes a librdkafka log line to `tracing` at its level (what every Kafka client context's
/// `log` does).
pub fn forward_log(level: rdkafka::config::RDKafkaLogLevel, facility: &str, line: &str) {
    use rdkafka::config::RDKafkaLogLevel as L;
    match level {
        L::Emerg | L::Alert | L::Critical | L::Error => {
            tracing::error!(facility, "librdkafka: {line}")
        }
        L::Warning => tracing::warn!(facility, "librdkafka: {line}"),
        _ => tracing::debug!(facility, "librdkafka: {line}"),
    }
}

/// Brokers as a list, or as one string (otelcol's decoder takes both).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Brokers {
    One(Text),
    Many(Vec<Text>),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawClient {
    brokers: Option<Brokers>,
    client_id: Option<Text>,
    protocol_version: Option<Value>,
    resolve_canonical_bootstrap_servers_only: Option<bool>,
    conn_idle_timeout: Option<GoDuration>,
    metadata: Option<RawMetadata>,
    auth: Option<RawAuth>,
    tls: Option<RawKafkaTls>,
    rack_id: Option<Value>,
    use_leader_epoch: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawMetadata {
    full: Option<bool>,
    refresh_interval: Option<GoDuration>,
    retry: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawAuth {
    plain_text: Option<RawPlain>,
    sasl: Option<RawSasl>,
    tls: Option<RawKafkaTls>,
    kerberos: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawPlain {
    username: Option<Text>,
    password: Option<Text>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawSasl {
    username: Option<Text>,
    password: Option<Text>,
    mechanism: Option<Text>,
    version: Option<Value>,
    aws_msk: Option<Value>,
    oauthbearer_token_source: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawKafkaTls {
    insecure: Option<bool>,
    insecure_skip_verify: Option<bool>,
    ca_file: Option<Text>,
    ca_pem: Option<Text>,
    cert_file: Option<Text>,
    cert_pem: Option<Text>,
    key_file: Option<Text>,
    key_pem: Option<Text>,
    server_name_override: Option<Value>,
    include_system_ca_certs_pool: Option<Value>,
    min_version: Option<Value>,
    max_version: Option<Value>,
    cipher_suites: Option<Value>,
    reload_interval: Option<Value>,
}

/// Takes the client keys out of a component body at `path` and checks them; the rest of the
/// body is left for the component.
pub(crate) fn split(
    body: Value,
    path: &str,
    errs: &mut Errors,
) -> Option<(KafkaClientConfig, Value)> {
    let mut rest = match body {
        Value::Null => Mapping::new(),
        Value::Mapping(m) => m,
        _ => {
            errs.invalid(path, "expected a mapping");
            return None;
        }
    };
    let mut own = Mapping::new();
    for key in CLIENT_KEYS {
        if let Some(value) = rest.remove(*key) {
            own.insert(Value::String((*key).to_owned()), value);
        }
    }
    let raw: RawClient = errs.take(de::decode(Value::Mapping(own), path))?;
    let client = client(raw, path, errs)?;
    Some((client, Value::Mapping(rest)))
}

fn client(raw: RawClient, path: &str, errs: &mut Errors) -> Option<KafkaClientConfig> {
    let at = |key: &str| join(path, key);
    // librdkafka negotiates the protocol version with each broker (ApiVersionRequest).
    warn_ignored(errs, &at("protocol_version"), &raw.protocol_version);
    warn_ignored(errs, &at("rack_id"), &raw.rack_id);
    warn_ignored(errs, &at("use_leader_epoch"), &raw.use_leader_epoch);
    let brokers: Vec<String> = match raw.brokers {
        None => vec![DEFAULT_BROKER.to_owned()],
        Some(Brokers::One(t)) => t.0.split(',').map(|b| b.trim().to_owned()).collect(),
        Some(Brokers::Many(list)) => list.into_iter().map(|t| t.0.trim().to_owned()).collect(),
    };
    if brokers.is_empty() || brokers.iter().any(String::is_empty) {
        errs.invalid(at("brokers"), "must name at least one broker, host:port");
        return None;
    }
    let metadata = raw.metadata.unwrap_or_default();
    if metadata.full == Some(false) {
        errs.warn(&at("metadata::full"), de::IGNORED);
    }
    warn_ignored(errs, &at("metadata::retry"), &metadata.retry);
    let mut auth = raw.auth.unwrap_or_default();
    if auth.kerberos.is_some() {
        errs.invalid(
            at("auth::kerberos"),
            "Kerberos (GSSAPI) is not built into this shardgate; use SASL PLAIN or SCRAM",
        );
    }
    let tls_raw = match (raw.tls, auth.tls.take()) {
        (Some(_), Some(_)) => {
            errs.invalid(
                at("auth::tls"),
                "set tls at the top level only (auth::tls is its deprecated alias)",
            );
            None
        }
        (top, old) => top.or(old),
    };
    let tls = tls_raw.and_then(|t| tls(t, &at("tls"), errs));
    let sasl = sasl(auth, &at("auth"), errs);
    Some(KafkaClientConfig {
        brokers,
        client_id: raw
            .client_id
            .map_or_else(|| DEFAULT_CLIENT_ID.to_owned(), |t| t.0),
        tls,
        sasl,
        canonical_bootstrap: raw
            .resolve_canonical_bootstrap_servers_only
            .unwrap_or(false),
        metadata_refresh: metadata
            .refresh_interval
            .map_or(Duration::from_secs(600), |d| d.0),
        conn_idle_timeout: raw
            .conn_idle_timeout
            .map_or(Duration::from_secs(540), |d| d.0),
    })
}

/// `tls`; `insecure: true` means plaintext, as in otelcol's Kafka client.
fn tls(raw: RawKafkaTls, path: &str, errs: &mut Errors) -> Option<KafkaTls> {
    if raw.insecure == Some(true) {
        return None;
    }
    for (key, value) in [
        ("server_name_override", &raw.server_name_override),
        ("min_version", &raw.min_version),
        ("max_version", &raw.max_version),
        ("cipher_suites", &raw.cipher_suites),
        ("reload_interval", &raw.reload_interval),
    ] {
        if value.is_some() {
            errs.invalid(
                join(path, key),
                "not supported by the Kafka client (librdkafka's OpenSSL settings); remove it",
            );
        }
    }
    warn_ignored(
        errs,
        &join(path, "include_system_ca_certs_pool"),
        &raw.include_system_ca_certs_pool,
    );
    let text = |t: Option<Text>| t.map(|t| t.0).filter(|s| !s.is_empty());
    let tls = KafkaTls {
        ca_file: text(raw.ca_file),
        ca_pem: text(raw.ca_pem),
        cert_file: text(raw.cert_file),
        cert_pem: text(raw.cert_pem),
        key_file: text(raw.key_file),
        key_pem: text(raw.key_pem),
        insecure_skip_verify: raw.insecure_skip_verify.unwrap_or(false),
    };
    for (key, file) in [
        ("ca_file", &tls.ca_file),
        ("cert_file", &tls.cert_file),
        ("key_file", &tls.key_file),
    ] {
        if let Some(file) = file {
            if let Err(e) = std::fs::metadata(file) {
                errs.invalid(join(path, key), format!("{file}: {e}"));
            }
        }
    }
    if (tls.cert_file.is_some() || tls.cert_pem.is_some())
        != (tls.key_file.is_some() || tls.key_pem.is_some())
    {
        errs.invalid(
            path,
            "a client certificate needs its key, and a key its certificate",
        );
    }
    Some(tls)
}

/// `auth.sasl`, or the deprecated `auth.plain_text` (SASL PLAIN).
fn sasl(auth: RawAuth, path: &str, errs: &mut Errors) -> Option<Sasl> {
    if let Some(plain) = auth.plain_text {
        if auth.sasl.is_some() {
            errs.invalid(
                join(path, "plain_text"),
                "set auth::sasl or auth::plain_text, not both",
            );
            return None;
        }
        return Some(Sasl {
            mechanism: SaslMechanism::Plain,
            username: plain.username.map(|t| t.0).unwrap_or_default(),
            password: plain.password.map(|t| t.0).unwrap_or_default(),
        });
    }
    let raw = auth.sasl?;
    let path = join(path, "sasl");
    warn_ignored(errs, &join(&path, "version"), &raw.version);
    let mechanism = match raw.mechanism.as_ref().map(|t| t.0.as_str()) {
        Some("PLAIN") => SaslMechanism::Plain,
        Some("SCRAM-SHA-256") => SaslMechanism::ScramSha256,
        Some("SCRAM-SHA-512") => SaslMechanism::ScramSha512,
        Some(other @ ("AWS_MSK_IAM" | "AWS_MSK_IAM_OAUTHBEARER" | "OAUTHBEARER")) => {
            errs.invalid(
                join(&path, "mechanism"),
                format!("{other} is not built into this shardgate; use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"),
            );
            return None;
        }
        Some(other) => {
            errs.invalid(
                join(&path, "mechanism"),
                format!(
                    "unknown mechanism \"{other}\"; expected PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"
                ),
            );
            return None;
        }
        None => {
            errs.invalid(join(&path, "mechanism"), "is required");
            return None;
        }
    };
    if raw.aws_msk.is_some() || raw.oauthbearer_token_source.is_some() {
        errs.invalid(
            &path,
            "aws_msk and oauthbearer_token_source need a mechanism this build does not have",
        );
    }
    let username = raw.username.map(|t| t.0).unwrap_or_default();
    if username.is_empty() {
        errs.invalid(join(&path, "username"), "is required");
    }
    Some(Sasl {
        mechanism,
        username,
        password: raw.password.map(|t| t.0).unwrap_or_default(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> (Option<KafkaClientConfig>, Errors) {
        let mut errs = Errors::default();
        let body: Value = serde_yaml::from_str(yaml).unwrap();
        let got = split(body, "exporters::kafka", &mut errs).map(|(c, _)| c);
        (got, errs)
    }

    #[test]
    fn defaults_are_otelcols() {
        let (c, errs) = parse("{}");
        assert!(errs.is_empty());
        let c = c.unwrap();
        assert_eq!(c.brokers, vec!["localhost:9092"]);
        assert_eq!(c.client_id, "otel-collector");
        assert!(c.tls.is_none() && c.sasl.is_none());
        let r = c.rdkafka();
        assert_eq!(r.get("security.protocol"), Some("plaintext"));
        assert_eq!(r.get("bootstrap.servers"), Some("localhost:9092"));
    }

    #[test]
    fn sasl_over_tls_becomes_librdkafka_settings_and_the_rest_is_left() {
        let mut errs = Errors::default();
        let body: Value = serde_yaml::from_str(
            "brokers: [a:9092, b:9093]\nauth: {sasl: {mechanism: SCRAM-SHA-512, username: u, password: s3cret}}\ntls: {insecure_skip_verify: true}\ntopic: x\n",
        )
        .unwrap();
        let (c, rest) = split(body, "exporters::kafka", &mut errs).unwrap();
        assert!(errs.is_empty());
        let r = c.rdkafka();
        assert_eq!(r.get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(r.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert_eq!(r.get("bootstrap.servers"), Some("a:9092,b:9093"));
        assert_eq!(r.get("enable.ssl.certificate.verification"), Some("false"));
        assert!(!format!("{c:?}").contains("s3cret"), "{c:?}");
        assert_eq!(rest, serde_yaml::from_str::<Value>("topic: x").unwrap());
    }

    #[test]
    fn unsupported_mechanisms_and_kerberos_are_refused() {
        let (_, errs) = parse("auth: {sasl: {mechanism: AWS_MSK_IAM_OAUTHBEARER, username: u}}");
        assert!(!errs.is_empty());
        let (_, errs) = parse("auth: {kerberos: {realm: X}}");
        assert!(!errs.is_empty());
    }
}
