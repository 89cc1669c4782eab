//! Config of the `loadbalancing` exporter: otelcol's keys, defaults and checks.
//!
//! `protocol.otlp` is the `otlp` exporter's own config (read by its parser) without its
//! `endpoint`: each backend the resolver reports gets a copy with that backend's address.

use std::time::Duration;

use serde::Deserialize;
use serde_yaml::{Mapping, Value};

use super::route::RoutingKey;
use crate::config::client::{self, Endpoint, Scheme};
use crate::config::de::{self, join, warn_ignored, Text};
use crate::config::duration::GoDuration;
use crate::config::error::Errors;
use crate::exporter::otlp_grpc::config::{self as otlp_config, OtlpExporterConfig};
use crate::signal::Signal;

/// The port of a backend whose address names none (static) and the dns resolver's default.
pub const DEFAULT_BACKEND_PORT: u16 = 4317;
/// Default time between two DNS resolutions (otelcol's).
pub const DEFAULT_DNS_INTERVAL: Duration = Duration::from_secs(5);
/// Default deadline of one DNS resolution (otelcol's).
pub const DEFAULT_DNS_TIMEOUT: Duration = Duration::from_secs(1);
/// The placeholder endpoint `protocol.otlp` is parsed with; replaced per backend. A bare
/// `host:port`, so TLS is on unless `tls.insecure: true`, as for otelcol's template.
const TEMPLATE_ENDPOINT: &str = "loadbalancing-backend:4317";

/// The loadbalancing exporter.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadBalancingExporterConfig {
    /// `routing_key`; `None` = the signal's default (traceID, or service for metrics).
    pub routing_key: Option<RoutingKey>,
    /// The otlp exporter settings every backend gets (its endpoint is replaced).
    pub otlp: OtlpExporterConfig,
    /// Where the backends come from.
    pub resolver: ResolverConfig,
}

impl LoadBalancingExporterConfig {
    /// The routing key in effect for `signal`.
    pub fn key_for(&self, signal: Signal) -> RoutingKey {
        self.routing_key
            .unwrap_or_else(|| RoutingKey::default_for(signal))
    }

    /// Why it cannot sit in a pipeline of `signal`, if it cannot.
    pub fn refuses(&self, signal: Signal) -> Option<&'static str> {
        match self.key_for(signal) {
            RoutingKey::StreamId => Some("routing_key streamID is not built yet"),
            key if !key.fits(signal) => Some(match key {
                RoutingKey::TraceId => "routing_key traceID applies to traces and logs only",
                _ => "routing_key resource and metric apply to metrics only",
            }),
            _ => None,
        }
    }

    /// The otlp exporter config of one backend.
    pub fn backend(&self, endpoint: &Endpoint) -> OtlpExporterConfig {
        let mut config = self.otlp.clone();
        config.endpoint = endpoint.clone();
        config
    }
}

/// The source of the backend list.
#[derive(Clone, Debug, PartialEq)]
pub enum ResolverConfig {
    /// `static.hostnames`: a fixed list.
    Static(Vec<Endpoint>),
    /// `dns`: every address of a host name, re-resolved periodically.
    Dns(DnsResolverConfig),
}

/// `resolver.dns`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsResolverConfig {
    /// The name whose addresses are the backends.
    pub hostname: String,
    /// The backends' port (default 4317).
    pub port: u16,
    /// Time between resolutions (default 5s).
    pub interval: Duration,
    /// Deadline of one resolution (default 1s).
    pub timeout: Duration,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawLoadBalancing {
    routing_key: Option<Text>,
    protocol: Option<RawProtocol>,
    resolver: Option<RawResolver>,
    timeout: Option<Value>,
    retry_on_failure: Option<Value>,
    sending_queue: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawProtocol {
    otlp: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawResolver {
    #[serde(rename = "static")]
    fixed: Option<RawStatic>,
    dns: Option<RawDns>,
    k8s: Option<Value>,
    aws_cloud_map: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawStatic {
    hostnames: Option<Vec<Text>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawDns {
    hostname: Option<Text>,
    port: Option<Text>,
    interval: Option<GoDuration>,
    timeout: Option<GoDuration>,
}

/// Decodes and checks a `loadbalancing` exporter body at `path`.
pub(crate) fn parse(
    body: Value,
    path: &str,
    errs: &mut Errors,
) -> Option<LoadBalancingExporterConfig> {
    let raw: RawLoadBalancing = errs.take(de::decode(body, path))?;
    for (key, value) in [
        ("timeout", &raw.timeout),
        ("retry_on_failure", &raw.retry_on_failure),
        ("sending_queue", &raw.sending_queue),
    ] {
        // otelcol's exporterhelper around the balancer; here retry and queue are per backend.
        warn_ignored(errs, &join(path, key), value);
    }
    let routing_key = raw
        .routing_key
        .and_then(|Text(t)| routing_key(&t, &join(path, "routing_key"), errs));
    let otlp = protocol(
        raw.protocol.unwrap_or_default(),
        &join(path, "protocol"),
        errs,
    );
    let resolver = resolver(raw.resolver, &join(path, "resolver"), errs);
    Some(LoadBalancingExporterConfig {
        routing_key,
        otlp: otlp?,
        resolver: resolver?,
    })
}

fn routing_key(text: &str, path: &str, errs: &mut Errors) -> Option<RoutingKey> {
    let key = match text {
        "traceID" => RoutingKey::TraceId,
        "service" => RoutingKey::Service,
        "resource" => RoutingKey::Resource,
        "metric" => RoutingKey::Metric,
        "streamID" => RoutingKey::StreamId,
        other => {
            errs.invalid(path, format!("routing_key \"{other}\" is not one of traceID, service, resource, metric, streamID"));
            return None;
        }
    };
    Some(key)
}

/// `protocol.otlp`, read by the otlp exporter's parser around a placeholder endpoint.
fn protocol(raw: RawProtocol, path: &str, errs: &mut Errors) -> Option<OtlpExporterConfig> {
    let path = join(path, "otlp");
    let mut body = match raw.otlp {
        None | Some(Value::Null) => Mapping::new(),
        Some(Value::Mapping(m)) => m,
        Some(_) => {
            errs.invalid(&path, "protocol.otlp must be a mapping");
            return None;
        }
    };
    let endpoint = Value::String("endpoint".into());
    if body.contains_key(&endpoint) {
        errs.warn(
            &join(&path, "endpoint"),
            "replaced by each backend's address, as in otelcol",
        );
    }
    body.insert(endpoint, Value::String(TEMPLATE_ENDPOINT.into()));
    let otlp = otlp_config::parse(Value::Mapping(body), &path, errs)?;
    if otlp.sending_queue.storage.is_some() {
        errs.invalid(
            join(&path, "sending_queue::storage"),
            "a durable queue is not built yet for the loadbalancing exporter",
        );
        return None;
    }
    Some(otlp)
}

fn resolver(raw: Option<RawResolver>, path: &str, errs: &mut Errors) -> Option<ResolverConfig> {
    let Some(raw) = raw else {
        errs.invalid(path, "a resolver is required: static or dns");
        return None;
    };
    for (key, value) in [("k8s", &raw.k8s), ("aws_cloud_map", &raw.aws_cloud_map)] {
        if value.is_some() {
            errs.invalid(
                join(path, key),
                format!("the {key} resolver is not built yet; use static or dns"),
            );
            return None;
        }
    }
    match (raw.fixed, raw.dns) {
        (Some(fixed), None) => fixed_list(fixed, &join(path, "static"), errs),
        (None, Some(dns)) => dns_resolver(dns, &join(path, "dns"), errs),
        (Some(_), Some(_)) => {
            errs.invalid(path, "only one resolver may be set: static or dns");
            None
        }
        (None, None) => {
            errs.invalid(path, "a resolver is required: static or dns");
            None
        }
    }
}

fn fixed_list(raw: RawStatic, path: &str, errs: &mut Errors) -> Option<ResolverConfig> {
    let path = join(path, "hostnames");
    let hostnames = raw.hostnames.unwrap_or_default();
    if hostnames.is_empty() {
        errs.invalid(&path, "at least one hostname is required");
        return None;
    }
    let mut endpoints = Vec::with_capacity(hostnames.len());
    for (i, Text(text)) in hostnames.into_iter().enumerate() {
        match backend_endpoint(&text) {
            Ok(endpoint) => endpoints.push(endpoint),
            Err(reason) => errs.invalid(format!("{path}[{i}]"), reason),
        }
    }
    Some(ResolverConfig::Static(endpoints))
}

/// A static hostname: `host[:port]`, port 4317 when absent (as otelcol).
fn backend_endpoint(text: &str) -> Result<Endpoint, String> {
    let bare_v6 = text.contains("::") && !text.starts_with('[');
    let has_port = !bare_v6 && text.rsplit_once(':').is_some_and(|(_, p)| !p.contains(']'));
    let with_port = match has_port {
        true => text.to_owned(),
        false if bare_v6 => format!("[{text}]:{DEFAULT_BACKEND_PORT}"),
        false => format!("{text}:{DEFAULT_BACKEND_PORT}"),
    };
    match client::parse_endpoint(&with_port)? {
        (Scheme::Bare, endpoint) => Ok(endpoint),
        _ => Err(format!(
            "hostname \"{text}\" must be host[:port], without a scheme (TLS is set in protocol.otlp.tls)"
        )),
    }
}

fn dns_resolver(raw: RawDns, path: &str, errs: &mut Errors) -> Option<ResolverConfig> {
    let Some(Text(hostname)) = raw.hostname.filter(|t| !t.0.is_empty()) else {
        errs.invalid(join(path, "hostname"), "hostname is required");
        return None;
    };
    let port = match raw.port {
        None => DEFAULT_BACKEND_PORT,
        Some(Text(text)) => match text.parse::<u16>() {
            Ok(port) if port > 0 => port,
            _ => {
                errs.invalid(
                    join(path, "port"),
                    format!("port \"{text}\" is not a TCP port"),
                );
                return None;
            }
        },
    };
    let interval = raw.interval.map_or(DEFAULT_DNS_INTERVAL, |d| d.0);
    let timeout = raw.timeout.map_or(DEFAULT_DNS_TIMEOUT, |d| d.0);
    if interval.is_zero() || timeout.is_zero() {
        errs.invalid(path, "interval and timeout must be positive");
        return None;
    }
    Some(ResolverConfig::Dns(DnsResolverConfig {
        hostname,
        port,
        interval,
        timeout,
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::ExporterConfig;
    use crate::registry::testing::exporter as parse;

    fn lb(yaml: &str) -> LoadBalancingExporterConfig {
        match parse("loadbalancing", yaml).unwrap() {
            ExporterConfig::LoadBalancing(c) => *c,
            other => panic!("{other:?}"),
        }
    }

    fn err(yaml: &str) -> String {
        parse("loadbalancing", yaml).unwrap_err().to_string()
    }

    #[test]
    fn static_resolver_and_otlp_template() {
        let c = lb("routing_key: service\nprotocol:\n  otlp:\n    timeout: 1s\n    tls: {insecure: true}\n    compression: none\nresolver:\n  static:\n    hostnames: [b1:4317, b2, \"10.0.0.3:55690\"]");
        assert_eq!(c.routing_key, Some(RoutingKey::Service));
        assert_eq!(c.otlp.timeout, Duration::from_secs(1));
        assert!(c.otlp.tls.is_none());
        let ResolverConfig::Static(hosts) = &c.resolver else {
            panic!()
        };
        let names: Vec<String> = hosts.iter().map(Endpoint::authority).collect();
        assert_eq!(names, ["b1:4317", "b2:4317", "10.0.0.3:55690"]);
        assert_eq!(c.backend(&hosts[1]).endpoint.authority(), "b2:4317");
        // TLS by default, as the otlp exporter with a bare host:port.
        let c = lb("resolver: {static: {hostnames: [b1]}}");
        assert!(c.otlp.tls.is_some());
        assert_eq!(c.key_for(Signal::Traces), RoutingKey::TraceId);
        assert_eq!(c.key_for(Signal::Metrics), RoutingKey::Service);
    }

    #[test]
    fn dns_resolver_defaults() {
        let c = lb("resolver: {dns: {hostname: backends.example}}");
        assert_eq!(
            c.resolver,
            ResolverConfig::Dns(DnsResolverConfig {
                hostname: "backends.example".into(),
                port: 4317,
                interval: Duration::from_secs(5),
                timeout: Duration::from_secs(1),
            })
        );
        let c = lb("resolver: {dns: {hostname: b, port: 55690, interval: 1m, timeout: 2s}}");
        let ResolverConfig::Dns(d) = c.resolver else {
            panic!()
        };
        assert_eq!(
            (d.port, d.interval, d.timeout),
            (55690, Duration::from_secs(60), Duration::from_secs(2))
        );
    }

    #[test]
    fn refusals_say_why() {
        assert_eq!(
            err("resolver: {k8s: {service: lb-svc}}"),
            "exporters::loadbalancing::resolver::k8s: the k8s resolver is not built yet; use static or dns"
        );
        assert!(err("resolver: {aws_cloud_map: {namespace: x}}")
            .contains("aws_cloud_map resolver is not built yet"));
        assert_eq!(
            err(""),
            "exporters::loadbalancing::resolver: a resolver is required: static or dns"
        );
        assert!(
            err("resolver: {static: {hostnames: [a]}, dns: {hostname: b}}")
                .contains("only one resolver")
        );
        assert!(err("resolver: {static: {hostnames: []}}").contains("at least one hostname"));
        assert!(
            err("resolver: {static: {hostnames: [\"http://a:1\"]}}").contains("without a scheme")
        );
        assert!(err("resolver: {dns: {port: 1}}").contains("hostname is required"));
        assert!(err("routing_key: spanID\nresolver: {dns: {hostname: b}}")
            .contains("routing_key \"spanID\" is not one of"));
        assert!(
            err("protocol: {otlp: {compression: snappy}}\nresolver: {dns: {hostname: b}}")
                .starts_with("exporters::loadbalancing::protocol::otlp::compression")
        );
    }

    #[test]
    fn routing_keys_fit_signals_as_in_otelcol() {
        let with = |key: &str| {
            lb(&format!(
                "routing_key: {key}\nresolver: {{dns: {{hostname: b}}}}"
            ))
        };
        assert!(with("traceID").refuses(Signal::Metrics).is_some());
        assert!(with("traceID").refuses(Signal::Logs).is_none());
        assert!(with("metric").refuses(Signal::Traces).is_some());
        assert!(with("resource").refuses(Signal::Metrics).is_none());
        assert!(with("service").refuses(Signal::Logs).is_none());
        assert_eq!(
            with("streamID").refuses(Signal::Metrics),
            Some("routing_key streamID is not built yet")
        );
    }
}
