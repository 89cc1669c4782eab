//! `keepalive:` of the gRPC receiver, in otelcol's shape (`server_parameters`,
//! `enforcement_policy`), with grpc-go's meaning of zero and unset values.

use std::time::Duration;

use serde::Deserialize;
use serde_yaml::Value;
use shardgate_io::h2_server::{Enforcement, Keepalive};

use crate::config::de;
use crate::config::duration::GoDuration;
use crate::config::error::Errors;

/// grpc-go raises a `time` under one second to one second.
const TIME_MIN: Duration = Duration::from_secs(1);

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawKeepalive {
    server_parameters: Option<RawServerParameters>,
    /// `enforcement_policy:` with a null body is the policy with grpc-go's defaults.
    #[serde(deserialize_with = "de::present")]
    enforcement_policy: Option<RawEnforcementPolicy>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawServerParameters {
    max_connection_idle: Option<GoDuration>,
    max_connection_age: Option<GoDuration>,
    max_connection_age_grace: Option<GoDuration>,
    time: Option<GoDuration>,
    timeout: Option<GoDuration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawEnforcementPolicy {
    min_time: Option<GoDuration>,
    permit_without_stream: bool,
}

/// Decodes `keepalive` at `path`; unset or zero values keep grpc-go's defaults (no age or
/// idle limit, ping after 2h of silence, wait 20s; pings 5m apart, none without a stream).
///
/// Pings are judged by that policy when `enforcement_policy` is absent too: grpc-go sets
/// its defaults up whatever the options say, and otelcol's default server config carries
/// an empty policy, so a client pinging more often than every 5 minutes gets
/// `too_many_pings` from otelcol and from shardgate alike.
pub(crate) fn parse(body: Option<Value>, path: &str, errs: &mut Errors) -> Keepalive {
    let defaults = Keepalive::default();
    let Some(body) = body else {
        return defaults;
    };
    let Some(raw) = errs.take(de::decode::<RawKeepalive>(body, path)) else {
        return defaults;
    };
    let forever = |d: Option<GoDuration>| d.map(|d| d.0).filter(|d| !d.is_zero());
    // grpc-go's `MinTime` of 0 is its 5 minutes.
    let enforcement = raw
        .enforcement_policy
        .map(|e| Enforcement {
            min_time: forever(e.min_time).unwrap_or(Enforcement::default().min_time),
            permit_without_stream: e.permit_without_stream,
        })
        .or(defaults.enforcement);
    let Some(p) = raw.server_parameters else {
        return Keepalive {
            enforcement,
            ..defaults
        };
    };
    Keepalive {
        max_connection_idle: forever(p.max_connection_idle),
        max_connection_age: forever(p.max_connection_age),
        max_connection_age_grace: forever(p.max_connection_age_grace),
        time: forever(p.time).map_or(defaults.time, |t| t.max(TIME_MIN)),
        timeout: forever(p.timeout).unwrap_or(defaults.timeout),
        enforcement,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn keepalive(yaml: &str) -> (Keepalive, Errors) {
        let mut errs = Errors::default();
        let k = parse(Some(serde_yaml::from_str(yaml).unwrap()), "k", &mut errs);
        (k, errs)
    }

    #[test]
    fn server_parameters_as_grpc_go_reads_them() {
        let (k, errs) = keepalive(
            "server_parameters: {max_connection_idle: 11s, max_connection_age: 12s, max_connection_age_grace: 0s, time: 100ms, timeout: 5s}",
        );
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(k.max_connection_idle, Some(Duration::from_secs(11)));
        assert_eq!(k.max_connection_age, Some(Duration::from_secs(12)));
        assert_eq!(k.max_connection_age_grace, None, "0 is infinity");
        assert_eq!(k.time, TIME_MIN, "raised to 1s");
        assert_eq!(k.timeout, Duration::from_secs(5));
        // No policy configured: grpc-go's (and so otelcol's) default policy.
        assert_eq!(k.enforcement, Some(Enforcement::default()));
        let (k, _) = keepalive("{}");
        assert_eq!(k, Keepalive::default());
    }

    #[test]
    fn enforcement_policy_as_grpc_go_reads_it() {
        let (k, errs) = keepalive(
            "server_parameters: {time: 30s}\nenforcement_policy: {min_time: 10s, permit_without_stream: true}",
        );
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(k.time, Duration::from_secs(30));
        let want = Enforcement {
            min_time: Duration::from_secs(10),
            permit_without_stream: true,
        };
        assert_eq!(k.enforcement, Some(want));
        let (k, errs) = keepalive("enforcement_policy: {min_time: 1s}");
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(k.time, Keepalive::default().time, "server_parameters unset");
        assert_eq!(
            k.enforcement.map(|e| (e.min_time, e.permit_without_stream)),
            Some((Duration::from_secs(1), false))
        );
    }

    #[test]
    fn an_empty_or_zero_policy_is_grpc_gos_five_minutes_without_stream_pings() {
        let five_minutes = Some(Enforcement {
            min_time: Duration::from_secs(300),
            permit_without_stream: false,
        });
        for yaml in [
            "enforcement_policy: {}",
            "enforcement_policy:",
            "enforcement_policy: {min_time: 0s}",
        ] {
            let (k, errs) = keepalive(yaml);
            assert!(errs.is_empty(), "{yaml}: {errs:?}");
            assert_eq!(k.enforcement, five_minutes, "{yaml}");
        }
    }

    #[test]
    fn unknown_keys_are_errors() {
        for yaml in [
            "server_parameters: {max_age: 1s}",
            "enforcement_policy: {min_time: 10s, max_pings: 3}",
            "enforcement_policy: {permit_without_stream: maybe}",
            "enforcement_policy: {min_time: -1s}",
        ] {
            let (_, errs) = keepalive(yaml);
            assert!(!errs.is_empty(), "{yaml}");
        }
    }
}
