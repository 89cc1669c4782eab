//! `keepalive:` of the gRPC receiver, in otelcol's shape (`server_parameters`,
//! `enforcement_policy`), with grpc-go's meaning of zero and unset values.

use std::time::Duration;

use serde::Deserialize;
use serde_yaml::Value;
use shardgate_io::h2_server::Keepalive;

use crate::config::de::{self, join, warn_ignored};
use crate::config::duration::GoDuration;
use crate::config::error::Errors;

/// grpc-go raises a `time` under one second to one second.
const TIME_MIN: Duration = Duration::from_secs(1);

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawKeepalive {
    server_parameters: Option<RawServerParameters>,
    enforcement_policy: Option<Value>,
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

/// Decodes `keepalive` at `path`; unset or zero values keep grpc-go's defaults (no age or
/// idle limit, ping after 2h of silence, wait 20s).
pub(crate) fn parse(body: Option<Value>, path: &str, errs: &mut Errors) -> Keepalive {
    let defaults = Keepalive::default();
    let Some(body) = body else {
        return defaults;
    };
    let Some(raw) = errs.take(de::decode::<RawKeepalive>(body, path)) else {
        return defaults;
    };
    // Ping enforcement is left to shardgate's own control-frame budget for now
    // (`shards.h2_control_frames_*`).
    warn_ignored(
        errs,
        &join(path, "enforcement_policy"),
        &raw.enforcement_policy,
    );
    let Some(p) = raw.server_parameters else {
        return defaults;
    };
    let forever = |d: Option<GoDuration>| d.map(|d| d.0).filter(|d| !d.is_zero());
    Keepalive {
        max_connection_idle: forever(p.max_connection_idle),
        max_connection_age: forever(p.max_connection_age),
        max_connection_age_grace: forever(p.max_connection_age_grace),
        time: forever(p.time).map_or(defaults.time, |t| t.max(TIME_MIN)),
        timeout: forever(p.timeout).unwrap_or(defaults.timeout),
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
        let (k, _) = keepalive("{}");
        assert_eq!(k, Keepalive::default());
    }

    #[test]
    fn unknown_keys_are_errors_and_enforcement_is_a_warning() {
        let (_, errs) = keepalive("server_parameters: {max_age: 1s}");
        assert!(!errs.is_empty());
        let (_, errs) = keepalive("enforcement_policy: {min_time: 10s}");
        assert!(
            format!("{errs:?}").contains("enforcement_policy"),
            "{errs:?}"
        );
    }
}
