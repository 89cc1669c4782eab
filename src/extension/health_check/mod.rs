//! The `health_check` extension, answering as otelcol's does: `200` with
//! `{"status":"Server available","upSince":...,"uptime":...}` while every shard serves,
//! `503` with `"Server not available"` while starting or draining.

pub mod config;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::admin::respond;
use crate::config::format_go_duration;
use crate::observe::{Phase, Registry};

/// Serves health requests on `server` until the process exits.
pub fn serve(server: tiny_http::Server, registry: &Arc<Registry>, path: &str) {
    for request in server.incoming_requests() {
        let url = request.url().split('?').next().unwrap_or("");
        if url != path {
            respond::respond(request, 404, "text/plain", "404 page not found\n".into());
            continue;
        }
        let (status, body) = answer(registry);
        respond::respond(request, status, "application/json", body);
    }
}

/// The status code and body for the current phase.
pub fn answer(registry: &Registry) -> (u16, String) {
    let ready = registry.ready_since_unix_seconds();
    if registry.phase() == Phase::Ready && ready > 0.0 {
        let since = SystemTime::UNIX_EPOCH + Duration::from_secs_f64(ready);
        let uptime = SystemTime::now()
            .duration_since(since)
            .unwrap_or(Duration::ZERO);
        let body = format!(
            "{{\"status\":\"Server available\",\"upSince\":\"{}\",\"uptime\":\"{}\"}}",
            humantime::format_rfc3339_micros(since),
            format_go_duration(uptime)
        );
        (200, body)
    } else {
        let body = "{\"status\":\"Server not available\",\"upSince\":\"0001-01-01T00:00:00Z\",\"uptime\":\"\"}";
        (503, body.to_owned())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn answers_follow_the_phase() {
        let config = crate::config::parse_str(
            "receivers: {otlp: {protocols: {grpc: }}}\nexporters: {debug: }\nservice: {pipelines: {traces: {receivers: [otlp], exporters: [debug]}}}\n",
            "t",
        )
        .unwrap();
        let registry = Registry::new(2, &config);
        let (status, body) = answer(&registry);
        assert_eq!(status, 503);
        assert!(body.contains("Server not available"));
        registry.set_phase(Phase::Ready);
        let (status, body) = answer(&registry);
        assert_eq!(status, 200);
        assert!(
            body.starts_with("{\"status\":\"Server available\",\"upSince\":\""),
            "{body}"
        );
        registry.set_phase(Phase::Draining);
        assert_eq!(answer(&registry).0, 503);
    }
}
