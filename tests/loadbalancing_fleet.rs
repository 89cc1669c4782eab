//! A fleet on loopback: one shardgate gateway with the `loadbalancing` exporter (`routing_key:
//! traceID`) in front of three downstream shardgate processes, each exporting over OTLP to its
//! own recording sink. The gateway's dns resolver reads its answers from a file (test fault
//! `dns_from_file`), so the test can take a downstream out of the fleet as a DNS change would.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{free_port, metric_sum, Backend, Collector, Config};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::Span;

const CONNECTIONS: usize = 2;
const REQUESTS_PER_CONNECTION: usize = 15;
/// Distinct traces; each request carries one span of [`TRACES_PER_REQUEST`] of them.
const TRACES: usize = 45;
const TRACES_PER_REQUEST: usize = 6;

/// A downstream shardgate (OTLP/gRPC receiver → otlp exporter) and the sink behind it.
struct Downstream {
    sink: Backend,
    process: Collector,
    port: u16,
}

impl Downstream {
    fn start() -> Downstream {
        let sink = Backend::start();
        let config = Config {
            batch: None,
            cores: "1".into(),
            log_level: "info".into(),
            drain_timeout: "5s".into(),
            ..Config::to_backend(&sink)
        };
        let process = Collector::start(&config);
        Downstream {
            sink,
            process,
            port: config.grpc_port,
        }
    }

    fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

fn gateway_yaml(grpc_port: u16, metrics_port: u16, answers: &Path) -> String {
    format!(
        "receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc_port}
processors:
  batch:
    send_batch_size: 64
    timeout: 100ms
exporters:
  loadbalancing:
    routing_key: traceID
    protocol:
      otlp:
        tls: {{insecure: true}}
        compression: none
        timeout: 2s
        retry_on_failure: {{initial_interval: 100ms, max_interval: 300ms, max_elapsed_time: 120s}}
    resolver:
      dns: {{hostname: {}, interval: 200ms}}
service:
  telemetry:
    logs:
      level: info
    metrics:
      level: detailed
      readers:
        - pull:
            exporter:
              prometheus: {{host: 127.0.0.1, port: {metrics_port}}}
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [loadbalancing]
shards:
  cores: {}
  drain_timeout: 1s
",
        answers.display(),
        common::two_shards()
    )
}

/// The gateway's dns answers, one `ip:port` a line, replaced atomically.
fn write_answers(path: &Path, fleet: &[&Downstream]) {
    let lines: Vec<String> = fleet.iter().map(|d| d.endpoint()).collect();
    let staged = path.with_extension("new");
    std::fs::write(&staged, lines.join("\n")).unwrap();
    std::fs::rename(&staged, path).unwrap();
}

fn trace_id(trace: usize) -> Vec<u8> {
    let mut id = (trace as u64 + 7)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .to_be_bytes()
        .to_vec();
    id.extend_from_slice(&(trace as u64).to_le_bytes());
    id
}

/// Request `r` of connection `c` in round `round`: one span of each of
/// [`TRACES_PER_REQUEST`] traces, named `round/c/r/i`.
fn request(round: usize, c: usize, r: usize) -> ExportTraceServiceRequest {
    let n = c * REQUESTS_PER_CONNECTION + r;
    let spans = (0..TRACES_PER_REQUEST)
        .map(|i| Span {
            trace_id: trace_id((n * TRACES_PER_REQUEST + i * 7) % TRACES),
            span_id: vec![4; 8],
            name: format!("{round}/{c}/{r}/{i}"),
            ..Span::default()
        })
        .collect();
    common::spans_request(spans)
}

/// Sends round `round` on [`CONNECTIONS`] connections; the names of the acknowledged spans.
fn send(grpc_port: u16, round: usize) -> BTreeSet<String> {
    common::runtime().block_on(async move {
        let mut tasks = Vec::new();
        for c in 0..CONNECTIONS {
            tasks.push(tokio::spawn(async move {
                let url = format!("http://127.0.0.1:{grpc_port}");
                let mut client = TraceServiceClient::connect(url).await.expect("connect");
                let mut acknowledged = Vec::new();
                for r in 0..REQUESTS_PER_CONNECTION {
                    if client.export(request(round, c, r)).await.is_ok() {
                        acknowledged.extend(
                            (0..TRACES_PER_REQUEST).map(|i| format!("{round}/{c}/{r}/{i}")),
                        );
                    }
                }
                acknowledged
            }));
        }
        let mut all = BTreeSet::new();
        for task in tasks {
            all.extend(task.await.expect("client task"));
        }
        all
    })
}

/// Where the spans of round `round` landed: span name → (sink index, trace id), and how many
/// times each name arrived.
fn arrivals(fleet: &[Downstream], round: usize) -> (BTreeMap<String, (usize, Vec<u8>)>, usize) {
    let prefix = format!("{round}/");
    let mut landed = BTreeMap::new();
    let mut copies = 0;
    for (d, downstream) in fleet.iter().enumerate() {
        for flat in downstream.sink.spans() {
            if flat.item.name.starts_with(&prefix) {
                copies += 1;
                landed.insert(flat.item.name.clone(), (d, flat.item.trace_id.clone()));
            }
        }
    }
    (landed, copies)
}

/// Asserts that every acknowledged span of the round arrived exactly once and that every
/// trace's spans of the round sit at one sink; returns each trace's sink.
fn check_round(
    fleet: &[Downstream],
    round: usize,
    acknowledged: &BTreeSet<String>,
) -> BTreeMap<Vec<u8>, usize> {
    let (landed, copies) = arrivals(fleet, round);
    let missing: Vec<_> = acknowledged
        .iter()
        .filter(|n| !landed.contains_key(*n))
        .collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    assert_eq!(copies, landed.len(), "a span arrived twice");
    let mut owner: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
    for (name, (sink, trace)) in &landed {
        let first = *owner.entry(trace.clone()).or_insert(*sink);
        assert_eq!(
            first, *sink,
            "span {name}: its trace reached two downstreams"
        );
    }
    assert_eq!(owner.len(), TRACES);
    owner
}

/// Waits until `count` spans of round `round` have arrived across the fleet.
fn wait_for_round(fleet: &[Downstream], round: usize, count: usize) -> bool {
    common::wait_until(common::WAIT, || arrivals(fleet, round).1 >= count)
}

/// Scenario: a gateway balances traces over three downstream shardgate processes; requests
/// mix spans of six traces and traces recur across connections (so across the gateway's
/// shards). Then one downstream stops, more traces come (acknowledged: the gateway queues
/// them) and the dns answers drop it. Guarantee: at first every acknowledged span arrives
/// once and all spans of a trace reach one downstream, every downstream getting a share; after
/// the removal, the stopped downstream's traces move to the other two (the others' traces
/// stay where they were) and no acknowledged span is lost. `/metrics` reports otelcol's
/// `otelcol_loadbalancer_*` series throughout.
#[test]
fn a_fleet_keeps_traces_whole_and_loses_nothing_when_a_downstream_leaves() {
    let mut fleet = [
        Downstream::start(),
        Downstream::start(),
        Downstream::start(),
    ];
    let dir = tempfile::tempdir().unwrap();
    let answers: PathBuf = dir.path().join("answers");
    write_answers(&answers, &[&fleet[0], &fleet[1], &fleet[2]]);
    let (grpc_port, metrics_port) = (free_port(), free_port());
    let yaml = gateway_yaml(grpc_port, metrics_port, &answers);
    let mut gateway =
        Collector::start_yaml_with_env(&yaml, &[("SHARDGATE_FAULTS", "dns_from_file")]);
    gateway.wait_ready("gateway");

    // Round 0: the whole fleet.
    let first = send(grpc_port, 0);
    assert_eq!(
        first.len(),
        CONNECTIONS * REQUESTS_PER_CONNECTION * TRACES_PER_REQUEST
    );
    assert!(
        wait_for_round(&fleet, 0, first.len()),
        "round 0 incomplete\n{}",
        gateway.logs()
    );
    std::thread::sleep(Duration::from_millis(300));
    let before = check_round(&fleet, 0, &first);
    for d in 0..fleet.len() {
        assert!(
            before.values().any(|s| *s == d),
            "downstream {d} got no trace"
        );
    }
    check_metrics_with_fleet(metrics_port, &fleet);

    // Round 1: downstream 1 is stopped; the gateway holds its share, retrying.
    fleet[1].process.sigterm();
    let _ = fleet[1].process.wait_exit(common::WAIT);
    let sender = std::thread::spawn(move || send(grpc_port, 1));
    let round = CONNECTIONS * REQUESTS_PER_CONNECTION * TRACES_PER_REQUEST;
    let for_stopped = (0..round)
        .filter(|n| before[&trace_of_span(*n)] == 1)
        .count();
    assert!(for_stopped > 0);
    let for_others = round - for_stopped;
    assert!(
        wait_for_round(&fleet, 1, for_others),
        "the staying downstreams' share did not arrive\n{}",
        gateway.logs()
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        arrivals(&fleet, 1).1,
        for_others,
        "the stopped downstream's share went elsewhere before the resolver dropped it"
    );
    assert!(
        sender.is_finished(),
        "the clients were not answered while the gateway held the stopped downstream's share"
    );

    // The resolver drops downstream 1: its pending share moves to the new owners.
    write_answers(&answers, &[&fleet[0], &fleet[2]]);
    let second = sender.join().unwrap();
    assert_eq!(
        second.len(),
        round,
        "the gateway refused data while a downstream was down"
    );
    let moved = wait_for_round(&fleet, 1, second.len());
    assert!(
        moved,
        "the stopped downstream's share was not re-routed\n{}",
        gateway.logs()
    );
    std::thread::sleep(Duration::from_millis(300));
    let after = check_round(&fleet, 1, &second);
    for (trace, sink) in &after {
        match before[trace] {
            1 => assert_ne!(*sink, 1),
            old => assert_eq!(*sink, old, "a trace of a staying downstream moved"),
        }
    }
    assert!(gateway.logs().contains("routing its pending data again"));
    let shards: f64 = common::two_shards().parse().unwrap();
    let traces = "data_type=\"traces\"";
    let backends = metric_sum(metrics_port, "otelcol_loadbalancer_num_backends", traces);
    assert_eq!(backends, 2.0 * shards);
    let updates = metric_sum(
        metrics_port,
        "otelcol_loadbalancer_num_backend_updates_total",
        traces,
    );
    assert!(updates >= 2.0 * shards, "{updates}");
}

/// The trace of the `n`th span of a round, as [`request`] numbers them.
fn trace_of_span(n: usize) -> Vec<u8> {
    let (request, i) = (n / TRACES_PER_REQUEST, n % TRACES_PER_REQUEST);
    trace_id((request * TRACES_PER_REQUEST + i * 7) % TRACES)
}

/// The gateway's `otelcol_loadbalancer_*` series with the whole fleet in its ring: three
/// backends per shard, resolutions and updates counted, deliveries counted as successes with
/// a latency series per downstream.
fn check_metrics_with_fleet(metrics_port: u16, fleet: &[Downstream]) {
    let shards: f64 = common::two_shards().parse().unwrap();
    let traces = "data_type=\"traces\"";
    let sum = |name: &str, label: &str| metric_sum(metrics_port, name, label);
    assert_eq!(
        sum("otelcol_loadbalancer_num_backends", traces),
        3.0 * shards
    );
    assert!(
        sum(
            "otelcol_loadbalancer_num_resolutions_total",
            "success=\"true\""
        ) >= shards
    );
    assert_eq!(
        sum(
            "otelcol_loadbalancer_num_resolutions_total",
            "success=\"false\""
        ),
        0.0
    );
    assert!(
        sum(
            "otelcol_loadbalancer_num_backend_updates_total",
            "resolver=\"dns\""
        ) >= shards
    );
    assert!(
        sum(
            "otelcol_loadbalancer_backend_outcome_total",
            "success=\"true\""
        ) > 0.0
    );
    assert_eq!(
        sum(
            "otelcol_loadbalancer_backend_outcome_total",
            "success=\"false\""
        ),
        0.0
    );
    for downstream in fleet {
        let endpoint = format!("endpoint=\"{}\"", downstream.endpoint());
        let count = sum(
            "otelcol_loadbalancer_backend_latency_milliseconds_count",
            &endpoint,
        );
        assert!(count > 0.0, "no latency for {endpoint}");
    }
}
