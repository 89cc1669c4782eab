//! The `zpages` extension: otelcol's debugging pages, served from the admin side (its own
//! thread, off the data path). `/debug/servicez` shows the build, uptime and shards,
//! `/debug/pipelinez` the pipelines as configured, `/debug/extensionz` the extensions
//! running; `/debug/featurez` lists feature gates (shardgate has none). `/debug/tracez` is
//! answered with a page saying that shardgate does not sample its own spans.

pub mod config;

use std::fmt::Write;
use std::sync::Arc;

use crate::admin::respond;
use crate::config::Config;
use crate::observe::Registry;

/// What the pages show that does not change while the process runs.
pub struct Pages {
    pipelines: String,
    extensions: String,
}

impl Pages {
    /// The pages of `config`.
    pub fn new(config: &Config) -> Pages {
        let mut pipelines = String::from(
            "<table><tr><th>Pipeline</th><th>Receivers</th><th>Processors</th><th>Exporters</th></tr>",
        );
        for p in &config.service.pipelines {
            let list = |ids: &[crate::config::ComponentId]| {
                ids.iter()
                    .map(|id| escape(&id.to_string()))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let _ = write!(
                pipelines,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&p.id.to_string()),
                list(&p.receivers),
                list(&p.processors),
                list(&p.exporters)
            );
        }
        pipelines.push_str("</table>");
        let mut extensions = String::from("<table><tr><th>Extension</th></tr>");
        for id in &config.service.extensions {
            let _ = write!(extensions, "<tr><td>{}</td></tr>", escape(&id.to_string()));
        }
        extensions.push_str("</table>");
        Pages {
            pipelines,
            extensions,
        }
    }

    /// The status code and HTML body for `path`.
    pub fn answer(&self, path: &str, registry: &Registry) -> (u16, String) {
        let body = match path {
            "/debug/servicez" => {
                let uptime = registry.started.elapsed().as_secs_f64();
                format!(
                    "<h2>Build</h2><table><tr><td>Command</td><td>shardgate</td></tr>\
                     <tr><td>Version</td><td>{}</td></tr></table>\
                     <h2>Runtime</h2><table><tr><td>Phase</td><td>{:?}</td></tr>\
                     <tr><td>Uptime</td><td>{uptime:.0} s</td></tr>\
                     <tr><td>Shards</td><td>{}</td></tr></table>",
                    env!("CARGO_PKG_VERSION"),
                    registry.phase(),
                    registry.shards.len()
                )
            }
            "/debug/pipelinez" => format!("<h2>Pipelines</h2>{}", self.pipelines),
            "/debug/extensionz" => format!("<h2>Extensions</h2>{}", self.extensions),
            "/debug/featurez" => {
                "<h2>Feature gates</h2><table><tr><th>ID</th><th>Enabled</th></tr></table>"
                    .to_owned()
            }
            "/debug/tracez" => "<h2>Spans</h2><p>shardgate does not record its own spans; see \
                 /metrics for its telemetry.</p>"
                .to_owned(),
            _ => return (404, "404 page not found\n".to_owned()),
        };
        (200, page(&body))
    }
}

fn page(body: &str) -> String {
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>shardgate zPages</title></head>\
         <body><h1>shardgate</h1><p><a href=\"/debug/servicez\">servicez</a> \
         <a href=\"/debug/pipelinez\">pipelinez</a> <a href=\"/debug/extensionz\">extensionz</a> \
         <a href=\"/debug/featurez\">featurez</a></p>{body}</body></html>"
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Serves the pages on `server` until the process exits.
pub fn serve(server: tiny_http::Server, registry: &Arc<Registry>, pages: &Pages) {
    for request in server.incoming_requests() {
        let url = request.url().split('?').next().unwrap_or("").to_owned();
        let (status, body) = pages.answer(&url, registry);
        let kind = if status == 200 {
            "text/html; charset=utf-8"
        } else {
            "text/plain"
        };
        respond::respond(request, status, kind, body);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn pages_show_the_pipelines_and_unknown_paths_are_404() {
        let config = crate::config::parse_str(
            "receivers: {otlp: {protocols: {grpc: }}}\nprocessors: {batch: }\nexporters: {debug: }\nextensions: {zpages: }\nservice: {extensions: [zpages], pipelines: {traces/main: {receivers: [otlp], processors: [batch], exporters: [debug]}}}\n",
            "t",
        )
        .unwrap();
        let registry = Registry::new(2, &config);
        let pages = Pages::new(&config);
        let (status, body) = pages.answer("/debug/pipelinez", &registry);
        assert_eq!(status, 200);
        assert!(
            body.contains("<td>traces/main</td><td>otlp</td><td>batch</td><td>debug</td>"),
            "{body}"
        );
        let (status, body) = pages.answer("/debug/servicez", &registry);
        assert_eq!(status, 200);
        assert!(body.contains("<td>Shards</td><td>2</td>"), "{body}");
        assert!(pages
            .answer("/debug/extensionz", &registry)
            .1
            .contains("zpages"));
        assert_eq!(pages.answer("/debug/nope", &registry).0, 404);
    }
}
