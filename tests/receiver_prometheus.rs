//! The `prometheus` receiver over real sockets: the collector scrapes test HTTP servers on
//! 127.0.0.1 (and its own `/metrics`) and exports what it mapped to a recording backend.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_types)]

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{free_port, wait_until, Backend, Collector, Flat, WAIT};
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::{number_data_point, Metric};

/// Every kind of family, a `target_info`, and a scraped `job` label that must not win.
const EXPOSITION: &str = "\
# HELP http_requests_total Requests served.
# TYPE http_requests_total counter
http_requests_total{code=\"200\",path=\"/a\"} 1027
http_requests_total{code=\"500\",path=\"/a\"} 3
# HELP temperature_celsius Room temperature.
# TYPE temperature_celsius gauge
temperature_celsius{room=\"lab\"} 21.5
# TYPE request_seconds histogram
request_seconds_bucket{le=\"0.1\"} 2
request_seconds_bucket{le=\"0.5\"} 5
request_seconds_bucket{le=\"+Inf\"} 6
request_seconds_sum 1.75
request_seconds_count 6
# TYPE rpc_seconds summary
rpc_seconds{quantile=\"0.5\"} 0.05
rpc_seconds{quantile=\"0.99\"} 0.3
rpc_seconds_sum 12.5
rpc_seconds_count 100
legacy_untyped{job=\"scraped-job\"} 7
# TYPE target_info gauge
target_info{deployment_environment=\"prod\",host_arch=\"amd64\"} 1
";

/// A plain-text HTTP server on 127.0.0.1 answering every request with its current body (as
/// `content_type`, gzipped when `gzip`), recording each request head.
struct Exporter {
    port: u16,
    heads: Arc<Mutex<Vec<String>>>,
    body: Arc<Mutex<String>>,
}

impl Exporter {
    fn start(body: &str, content_type: &'static str) -> Exporter {
        Exporter::start_with(body, content_type, false)
    }

    fn start_with(body: &str, content_type: &'static str, gzip: bool) -> Exporter {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let body = Arc::new(Mutex::new(body.to_owned()));
        let (seen, current) = (heads.clone(), body.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let (seen, current) = (seen.clone(), current.clone());
                std::thread::spawn(move || serve(&mut stream, &current, content_type, gzip, &seen));
            }
        });
        Exporter { port, heads, body }
    }

    fn requests(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }

    /// Serves `body` from the next request on.
    fn set_body(&self, body: &str) {
        *self.body.lock().unwrap() = body.to_owned();
    }
}

/// Answers requests on one keep-alive connection until the client closes it.
fn serve(
    stream: &mut std::net::TcpStream,
    current: &Mutex<String>,
    content_type: &str,
    gzip: bool,
    seen: &Mutex<Vec<String>>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.drain(..end);
        seen.lock().unwrap().push(head);
        let text = current.lock().unwrap().clone();
        let (body, encoding) = if gzip {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            encoder.write_all(text.as_bytes()).unwrap();
            (encoder.finish().unwrap(), "content-encoding: gzip\r\n")
        } else {
            (text.into_bytes(), "")
        };
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\n{encoding}content-length: {}\r\n\r\n",
            body.len()
        );
        if stream.write_all(head.as_bytes()).is_err() || stream.write_all(&body).is_err() {
            return;
        }
    }
}

fn text(kv: &KeyValue) -> String {
    match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        other => format!("{other:?}"),
    }
}

fn map(kvs: &[KeyValue]) -> BTreeMap<String, String> {
    kvs.iter().map(|kv| (kv.key.clone(), text(kv))).collect()
}

fn resource(point: &Flat<Metric>) -> BTreeMap<String, String> {
    map(&point.resource.as_ref().unwrap().attributes)
}

/// The points of metric `name` received so far.
fn named(backend: &Backend, name: &str) -> Vec<Flat<Metric>> {
    backend
        .points()
        .into_iter()
        .filter(|p| p.item.name == name)
        .collect()
}

/// The value of a gauge or sum point.
fn number(point: &Flat<Metric>) -> f64 {
    let value = match &point.item.data {
        Some(Data::Gauge(g)) => g.data_points[0].value,
        Some(Data::Sum(s)) => s.data_points[0].value,
        other => panic!("{}: not a number: {other:?}", point.item.name),
    };
    match value {
        Some(number_data_point::Value::AsDouble(v)) => v,
        Some(number_data_point::Value::AsInt(v)) => v as f64,
        None => panic!("no value"),
    }
}

/// A collector with `receiver` (YAML of the `prometheus:` body) in a metrics pipeline to
/// `backend`, its own telemetry on 127.0.0.1:`telemetry_port`.
fn collector_yaml(receiver: &str, backend: &Backend, telemetry_port: u16) -> String {
    format!(
        "receivers:\n  prometheus:\n{receiver}\
         processors:\n  batch: {{timeout: 100ms}}\n\
         exporters:\n  otlp:\n    endpoint: {}\n    tls: {{insecure: true}}\n    compression: none\n\
         service:\n  telemetry:\n    logs: {{level: info}}\n    metrics: {{address: '127.0.0.1:{telemetry_port}'}}\n\
         \x20 pipelines:\n    metrics:\n      receivers: [prometheus]\n      processors: [batch]\n      exporters: [otlp]\n\
         shards:\n  cores: {}\n",
        backend.endpoint(),
        common::two_shards()
    )
}

/// Scenario: a target serving a counter, a gauge, a histogram, a summary, an untyped metric
/// and `target_info` in the 0.0.4 text format, gzipped, scraped every second, and a second target whose
/// port is closed. Guarantee: the backend gets each family as otelcol's receiver maps it
/// (monotonic cumulative Sum with a start time, Gauge, Histogram with explicit bounds and
/// per-bucket counts, Summary with quantiles, untyped as Gauge), labels as attributes, the
/// resource of job and instance with `target_info`'s labels, `up` 1 for the live target and
/// 0 for the dead one; the request carried Prometheus's Accept header.
#[test]
fn every_family_arrives_mapped_as_otelcol_maps_it() {
    let backend = Backend::start();
    let target = Exporter::start_with(EXPOSITION, "text/plain; version=0.0.4; charset=utf-8", true);
    let dead = free_port();
    let receiver = format!(
        "    config:\n      scrape_configs:\n        - job_name: app\n          scrape_interval: 1s\n          static_configs:\n            - targets: ['127.0.0.1:{}', '127.0.0.1:{dead}']\n              labels: {{team: core}}\n",
        target.port
    );
    let collector = Collector::start_yaml(&collector_yaml(&receiver, &backend, free_port()));
    let instance = format!("127.0.0.1:{}", target.port);
    let arrived = wait_until(WAIT, || {
        named(&backend, "http_requests_total").len() >= 4
            && named(&backend, "up").iter().any(|p| number(p) == 0.0)
    });
    assert!(arrived, "no scrapes arrived; logs:\n{}", collector.logs());

    let counter = named(&backend, "http_requests_total");
    let res = resource(&counter[0]);
    assert_eq!(res["service.name"], "app");
    assert_eq!(res["service.instance.id"], instance);
    assert_eq!(res["server.port"], target.port.to_string());
    assert_eq!(res["url.scheme"], "http");
    assert_eq!(res["deployment_environment"], "prod");
    assert_eq!(res["host_arch"], "amd64");
    assert!(
        !res.contains_key("server.address"),
        "loopback is not a discernible host"
    );
    let Some(Data::Sum(sum)) = &counter[0].item.data else {
        panic!("counter is not a Sum: {:?}", counter[0].item)
    };
    assert!(sum.is_monotonic);
    assert_eq!(sum.aggregation_temporality, 2, "cumulative");
    assert_eq!(counter[0].item.description, "Requests served.");
    let point = &sum.data_points[0];
    assert_eq!(
        map(&point.attributes),
        BTreeMap::from([
            ("code".into(), "200".into()),
            ("path".into(), "/a".into()),
            ("team".into(), "core".into())
        ])
    );
    assert!(point.start_time_unix_nano > 0 && point.start_time_unix_nano <= point.time_unix_nano);
    // Later scrapes of the same series keep the first one's start.
    let starts: Vec<u64> = counter
        .iter()
        .filter_map(|p| match &p.item.data {
            Some(Data::Sum(s)) if map(&s.data_points[0].attributes)["code"] == "200" => {
                Some(s.data_points[0].start_time_unix_nano)
            }
            _ => None,
        })
        .collect();
    assert!(
        starts.len() >= 2 && starts.iter().all(|s| *s == starts[0]),
        "{starts:?}"
    );

    let gauge = &named(&backend, "temperature_celsius")[0];
    assert!(matches!(gauge.item.data, Some(Data::Gauge(_))));
    assert_eq!(number(gauge), 21.5);

    let histogram = &named(&backend, "request_seconds")[0];
    let Some(Data::Histogram(h)) = &histogram.item.data else {
        panic!("{:?}", histogram.item)
    };
    let p = &h.data_points[0];
    assert_eq!(p.explicit_bounds, [0.1, 0.5]);
    assert_eq!(p.bucket_counts, [2, 3, 1]);
    assert_eq!((p.count, p.sum), (6, Some(1.75)));

    let summary = &named(&backend, "rpc_seconds")[0];
    let Some(Data::Summary(s)) = &summary.item.data else {
        panic!("{:?}", summary.item)
    };
    let p = &s.data_points[0];
    assert_eq!((p.count, p.sum), (100, 12.5));
    let quantiles: Vec<(f64, f64)> = p
        .quantile_values
        .iter()
        .map(|q| (q.quantile, q.value))
        .collect();
    assert_eq!(quantiles, [(0.5, 0.05), (0.99, 0.3)]);

    let untyped = &named(&backend, "legacy_untyped")[0];
    assert!(matches!(untyped.item.data, Some(Data::Gauge(_))));
    let Some(Data::Gauge(g)) = &untyped.item.data else {
        unreachable!()
    };
    // The target's job wins; the scraped one is kept as exported_job.
    assert_eq!(
        map(&g.data_points[0].attributes)["exported_job"],
        "scraped-job"
    );
    assert_eq!(resource(untyped)["service.name"], "app");

    assert!(
        named(&backend, "target_info").is_empty(),
        "target_info is resource attributes"
    );
    let ups = named(&backend, "up");
    let up_of = |port: u16| {
        ups.iter()
            .find(|p| resource(p)["service.instance.id"] == format!("127.0.0.1:{port}"))
            .map(number)
    };
    assert_eq!(up_of(target.port), Some(1.0));
    assert_eq!(up_of(dead), Some(0.0));
    for name in [
        "scrape_duration_seconds",
        "scrape_samples_scraped",
        "scrape_samples_post_metric_relabeling",
        "scrape_series_added",
    ] {
        assert!(!named(&backend, name).is_empty(), "{name} missing");
    }
    let scraped = named(&backend, "scrape_samples_scraped");
    let live = scraped
        .iter()
        .find(|p| resource(p)["service.instance.id"] == instance)
        .unwrap();
    assert_eq!(number(live), 14.0);
    let head = target.requests()[0].to_ascii_lowercase();
    assert!(head.starts_with("get /metrics http/1.1\r\n"), "{head}");
    assert!(
        head.contains("accept: application/openmetrics-text;version=1.0.0"),
        "{head}"
    );
}

/// Scenario: the Helm chart's default receiver (`job_name: opentelemetry-collector`,
/// `static_configs: [{targets: ['${env:MY_POD_IP}:8888']}]`) with the collector's own
/// telemetry endpoint on that address. Guarantee: the collector's own metrics arrive at the
/// backend, among them `otelcol_receiver_accepted_metric_points_total` for this very
/// receiver (`transport` http) counting the points of the scrapes before.
#[test]
fn the_collector_scrapes_its_own_metrics() {
    let backend = Backend::start();
    let telemetry = free_port();
    let receiver = format!(
        "    config:\n      scrape_configs:\n        - job_name: opentelemetry-collector\n          scrape_interval: 1s\n          static_configs:\n            - targets: ['${{env:MY_POD_IP}}:{telemetry}']\n"
    );
    let collector = Collector::start_yaml_with_env(
        &collector_yaml(&receiver, &backend, telemetry),
        &[("MY_POD_IP", "127.0.0.1")],
    );
    let accepted = |backend: &Backend| -> f64 {
        named(backend, "otelcol_receiver_accepted_metric_points_total")
            .iter()
            .filter(|p| {
                let Some(Data::Sum(s)) = &p.item.data else {
                    return false;
                };
                let a = map(&s.data_points[0].attributes);
                a.get("receiver").map(String::as_str) == Some("prometheus")
                    && a.get("transport").map(String::as_str) == Some("http")
            })
            .map(number)
            .fold(0.0, f64::max)
    };
    let counted = wait_until(WAIT, || accepted(&backend) > 0.0);
    assert!(
        counted,
        "own metrics did not arrive; logs:\n{}",
        collector.logs()
    );
    let up = named(&backend, "up");
    assert!(!up.is_empty());
    assert_eq!(resource(&up[0])["service.name"], "opentelemetry-collector");
    assert_eq!(number(&up[0]), 1.0);
}

/// Scenario: two targets, `relabel_configs` keeping only one by address, and
/// `metric_relabel_configs` dropping one family by name and keeping the rest. Guarantee: the
/// dropped target is never requested, the dropped family never arrives, the others do, and
/// `scrape_samples_post_metric_relabeling` counts what was kept.
#[test]
fn relabel_keep_and_drop() {
    let backend = Backend::start();
    let kept = Exporter::start(EXPOSITION, "text/plain; version=0.0.4");
    let dropped = Exporter::start(EXPOSITION, "text/plain; version=0.0.4");
    let receiver = format!(
        "    config:\n      scrape_configs:\n        - job_name: relabeled\n          scrape_interval: 1s\n          static_configs:\n            - targets: ['127.0.0.1:{}', '127.0.0.1:{}']\n          relabel_configs:\n            - {{source_labels: [__address__], regex: '127\\.0\\.0\\.1:{}', action: keep}}\n          metric_relabel_configs:\n            - {{source_labels: [__name__], regex: 'temperature_.*', action: drop}}\n            - {{source_labels: [__name__, code], separator: '@', regex: 'http_requests_total@5..', action: drop}}\n",
        kept.port, dropped.port, kept.port
    );
    let collector = Collector::start_yaml(&collector_yaml(&receiver, &backend, free_port()));
    let arrived = wait_until(WAIT, || {
        named(&backend, "scrape_samples_post_metric_relabeling").len() >= 2
    });
    assert!(arrived, "no scrapes arrived; logs:\n{}", collector.logs());
    assert!(named(&backend, "temperature_celsius").is_empty());
    let counter = named(&backend, "http_requests_total");
    assert!(!counter.is_empty());
    for point in &counter {
        let Some(Data::Sum(s)) = &point.item.data else {
            panic!()
        };
        assert_eq!(map(&s.data_points[0].attributes)["code"], "200");
    }
    assert!(!named(&backend, "request_seconds").is_empty());
    assert_eq!(
        number(&named(&backend, "scrape_samples_post_metric_relabeling")[0]),
        12.0
    );
    assert_eq!(number(&named(&backend, "scrape_samples_scraped")[0]), 14.0);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        dropped.requests().is_empty(),
        "the dropped target was scraped"
    );
    assert!(!kept.requests().is_empty());
}

/// Scenario: a shard budget (`shards.pending_bytes_max: 512`) smaller than one scrape's
/// metrics. Guarantee: every scrape is refused, counted in
/// `otelcol_receiver_refused_metric_points_total{receiver="prometheus"}` and dropped with a
/// warning; nothing reaches the backend and the collector keeps scraping.
#[test]
fn a_scrape_without_room_is_counted_and_dropped() {
    let backend = Backend::start();
    let target = Exporter::start(EXPOSITION, "text/plain; version=0.0.4");
    let telemetry = free_port();
    let receiver = format!(
        "    config:\n      scrape_configs:\n        - job_name: full\n          scrape_interval: 1s\n          static_configs:\n            - targets: ['127.0.0.1:{}']\n",
        target.port
    );
    let yaml = collector_yaml(&receiver, &backend, telemetry)
        .replace("shards:\n", "shards:\n  pending_bytes_max: 512\n");
    let collector = Collector::start_yaml(&yaml);
    let refused = || {
        common::metric_sum(
            telemetry,
            "otelcol_receiver_refused_metric_points_total",
            "receiver=\"prometheus\"",
        )
    };
    assert!(
        wait_until(WAIT, || refused() > 0.0 && target.requests().len() >= 2),
        "no refusal counted; logs:\n{}",
        collector.logs()
    );
    assert!(
        collector.logs().contains("scrape result dropped"),
        "{}",
        collector.logs()
    );
    assert!(backend.points().is_empty(), "refused data arrived");
}

/// Scenario: a target stops exposing one series (a gauge) between two scrapes. Guarantee:
/// the backend gets, after the gauge's values, one point of it with the `NO_RECORDED_VALUE`
/// flag and no value (Prometheus's staleness marker, mapped as otelcol maps it), while the
/// series still exposed keep arriving with values.
#[test]
fn a_vanished_series_gets_a_staleness_marker() {
    let backend = Backend::start();
    let target = Exporter::start(EXPOSITION, "text/plain; version=0.0.4");
    let receiver = format!(
        "    config:\n      scrape_configs:\n        - job_name: stale\n          scrape_interval: 1s\n          static_configs:\n            - targets: ['127.0.0.1:{}']\n",
        target.port
    );
    let collector = Collector::start_yaml(&collector_yaml(&receiver, &backend, free_port()));
    let gauge_points = |backend: &Backend| named(backend, "temperature_celsius");
    assert!(
        wait_until(WAIT, || !gauge_points(&backend).is_empty()),
        "no scrape arrived; logs:\n{}",
        collector.logs()
    );
    target.set_body(&EXPOSITION.replace("temperature_celsius{room=\"lab\"} 21.5\n", ""));
    let flagged = |p: &Flat<Metric>| match &p.item.data {
        Some(Data::Gauge(g)) => g.data_points[0].flags == 1 && g.data_points[0].value.is_none(),
        _ => false,
    };
    assert!(
        wait_until(WAIT, || gauge_points(&backend).iter().any(flagged)),
        "no staleness marker; logs:\n{}",
        collector.logs()
    );
    let before = named(&backend, "http_requests_total").len();
    assert!(wait_until(WAIT, || named(&backend, "http_requests_total")
        .len()
        > before));
    let points = gauge_points(&backend);
    assert_eq!(
        points.iter().filter(|p| flagged(p)).count(),
        1,
        "one marker, once"
    );
    assert!(
        flagged(points.last().unwrap()),
        "the marker is the gauge's last point"
    );
}

/// Scenario: an https target whose certificate a test CA signed for `localhost`, scraped at
/// 127.0.0.1 with `tls_config: {ca_file, server_name: localhost}`. Guarantee: the scrape
/// succeeds over TLS (`up` 1, the families arrive, `url.scheme` is `https`); the same target
/// without the CA fails its handshake (`up` 0).
#[test]
fn https_targets_are_scraped_with_tls_config() {
    use common::http_backend::HttpBackend;
    let backend = Backend::start();
    let ca = common::tls::Ca::new("scrape-ca");
    let target = HttpBackend::start_tls(common::tls::server_config(&ca.server(), None));
    let headers = [("content-type", "text/plain; version=0.0.4")];
    target.fail_next(1000, 200, &headers, EXPOSITION.as_bytes());
    let port = target.url().rsplit(':').next().unwrap().to_owned();
    let files = common::tls::Files::default();
    let ca_file = files.write("ca.pem", &ca.pem);
    let receiver = format!(
        "    config:\n      scrape_configs:\n        - job_name: secure\n          scheme: https\n          scrape_interval: 1s\n          tls_config: {{ca_file: '{}', server_name: localhost}}\n          static_configs:\n            - targets: ['127.0.0.1:{port}']\n        - job_name: untrusted\n          scheme: https\n          scrape_interval: 1s\n          static_configs:\n            - targets: ['127.0.0.1:{port}']\n",
        ca_file.display()
    );
    let collector = Collector::start_yaml(&collector_yaml(&receiver, &backend, free_port()));
    let up_of = |job: &str| {
        named(&backend, "up")
            .iter()
            .find(|p| resource(p)["service.name"] == job)
            .map(number)
    };
    assert!(
        wait_until(WAIT, || up_of("secure").is_some()
            && up_of("untrusted").is_some()),
        "no scrapes arrived; logs:\n{}",
        collector.logs()
    );
    assert_eq!(up_of("secure"), Some(1.0));
    assert_eq!(up_of("untrusted"), Some(0.0));
    let counter = named(&backend, "http_requests_total");
    assert!(!counter.is_empty());
    assert_eq!(resource(&counter[0])["url.scheme"], "https");
    assert!(collector
        .logs()
        .contains("Failed to scrape Prometheus endpoint"));
}
