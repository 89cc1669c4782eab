//! The metrics listener: `/metrics` (Prometheus text), `/status` (the live status page) and
//! `/status.json` (its feed).

use std::sync::Arc;

use super::respond;
use super::status::{Sampler, STATUS_HTML};
use crate::observe::prometheus::{self, CONTENT_TYPE};
use crate::observe::Registry;

/// Serves requests on `server` until the process exits, sampling rates between requests.
pub fn serve(server: tiny_http::Server, registry: &Arc<Registry>) {
    let mut sampler = Sampler::new(registry);
    loop {
        sampler.tick(registry);
        let request = match server.recv_timeout(super::POLL_INTERVAL) {
            Ok(Some(request)) => request,
            Ok(None) => continue,
            Err(error) => {
                tracing::warn!(%error, "metrics listener failed; self-metrics are no longer served");
                return;
            }
        };
        let url = request.url().split('?').next().unwrap_or("").to_owned();
        match url.as_str() {
            "/metrics" => {
                respond::respond(request, 200, CONTENT_TYPE, prometheus::render(registry))
            }
            "/status" => respond::respond(
                request,
                200,
                "text/html; charset=utf-8",
                STATUS_HTML.to_owned(),
            ),
            "/status.json" => {
                respond::respond(request, 200, "application/json", sampler.json(registry))
            }
            _ => respond::respond(request, 404, "text/plain", "404 page not found\n".into()),
        }
    }
}
