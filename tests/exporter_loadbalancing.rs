//! The `loadbalancing` exporter in front of three OTLP backends on loopback: every span of a
//! trace reaches one backend, whichever shard and request carried it, and a backend that fails
//! for a while loses nothing acknowledged. The backends are the suite's recording `Backend`
//! sinks (three more shardgate processes are too heavy for the 2-core CI machine).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::{free_port, Backend, Collector};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

const CONNECTIONS: usize = 2;
const REQUESTS_PER_CONNECTION: usize = 20;
/// Traces in the test; each request carries spans of [`TRACES_PER_REQUEST`] of them.
const TRACES: usize = 60;
const TRACES_PER_REQUEST: usize = 6;

fn yaml(grpc_port: u16, backends: &[&Backend]) -> String {
    let hostnames: Vec<String> = backends.iter().map(|b| b.endpoint()).collect();
    with_resolver(
        grpc_port,
        &format!("static:\n        hostnames: [{}]", hostnames.join(", ")),
    )
}

fn with_resolver(grpc_port: u16, resolver: &str) -> String {
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
        retry_on_failure: {{initial_interval: 100ms, max_interval: 300ms, max_elapsed_time: 60s}}
    resolver:
      {resolver}
service:
  telemetry:
    logs:
      level: info
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [loadbalancing]
shards:
  cores: {}
  drain_timeout: 1s
",
        common::two_shards()
    )
}

fn trace_id(trace: usize) -> Vec<u8> {
    let mut id = (trace as u64 + 1)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .to_be_bytes()
        .to_vec();
    id.extend_from_slice(&(trace as u64).to_le_bytes());
    id
}

/// Request `r` of connection `c`: one resource and scope holding one span of each of
/// [`TRACES_PER_REQUEST`] traces, so the balancer must split it.
fn request(c: usize, r: usize) -> ExportTraceServiceRequest {
    let n = c * REQUESTS_PER_CONNECTION + r;
    let spans = (0..TRACES_PER_REQUEST)
        .map(|i| Span {
            trace_id: trace_id((n * TRACES_PER_REQUEST + i * 7) % TRACES),
            span_id: vec![3; 8],
            name: format!("{c}/{r}/{i}"),
            ..Span::default()
        })
        .collect();
    let service = KeyValue {
        key: "service.name".into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(format!("svc-{c}"))),
        }),
        ..KeyValue::default()
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![service],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: format!("scope-{c}"),
                    ..InstrumentationScope::default()
                }),
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// Sends every request on its connection; returns the names of the acknowledged spans.
fn send(grpc_port: u16) -> BTreeSet<String> {
    common::runtime().block_on(async move {
        let mut tasks = Vec::new();
        for c in 0..CONNECTIONS {
            tasks.push(tokio::spawn(async move {
                let url = format!("http://127.0.0.1:{grpc_port}");
                let mut client = TraceServiceClient::connect(url).await.expect("connect");
                let mut acknowledged = Vec::new();
                for r in 0..REQUESTS_PER_CONNECTION {
                    if client.export(request(c, r)).await.is_ok() {
                        acknowledged
                            .extend((0..TRACES_PER_REQUEST).map(|i| format!("{c}/{r}/{i}")));
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

/// Checks that every acknowledged span arrived exactly once, with its resource and scope, and
/// that each trace's spans are all on one backend; returns the spans per backend.
fn check_placement(backends: &[&Backend], acknowledged: &BTreeSet<String>) -> Vec<usize> {
    let mut owner_of_trace: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut per_backend = Vec::new();
    for (b, backend) in backends.iter().enumerate() {
        let spans = backend.spans();
        per_backend.push(spans.len());
        for flat in spans {
            let c = &flat.item.name[..1];
            assert_eq!(flat.scope.as_ref().unwrap().name, format!("scope-{c}"));
            let resource = flat.resource.as_ref().unwrap();
            let service = &resource.attributes[0].value.as_ref().unwrap().value;
            assert_eq!(
                service,
                &Some(any_value::Value::StringValue(format!("svc-{c}")))
            );
            let owner = *owner_of_trace
                .entry(flat.item.trace_id.clone())
                .or_insert(b);
            assert_eq!(
                owner, b,
                "span {} of one trace went to two backends",
                flat.item.name
            );
            *seen.entry(flat.item.name.clone()).or_default() += 1;
        }
    }
    let duplicated: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(duplicated.is_empty(), "duplicated: {duplicated:?}");
    let missing: Vec<_> = acknowledged
        .iter()
        .filter(|n| !seen.contains_key(*n))
        .collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    per_backend
}

/// Scenario: three backends behind a two-shard load balancer; each request mixes spans of
/// six traces and the traces recur across connections (so across shards). Guarantee: every
/// acknowledged span arrives once, keeps its resource and scope, and all spans of a trace
/// reach the same backend; every backend gets a share.
#[test]
fn every_span_of_a_trace_lands_on_one_backend() {
    let backends = [Backend::start(), Backend::start(), Backend::start()];
    let refs: Vec<&Backend> = backends.iter().collect();
    let grpc_port = free_port();
    let mut collector = Collector::start_yaml(&yaml(grpc_port, &refs));
    collector.wait_ready("loadbalancing");
    let acknowledged = send(grpc_port);
    assert_eq!(
        acknowledged.len(),
        CONNECTIONS * REQUESTS_PER_CONNECTION * TRACES_PER_REQUEST
    );
    let arrived = common::wait_until(common::WAIT, || {
        backends.iter().map(|b| b.spans().len()).sum::<usize>() >= acknowledged.len()
    });
    assert!(arrived, "not every span arrived\n{}", collector.logs());
    std::thread::sleep(Duration::from_millis(300));
    let per_backend = check_placement(&refs, &acknowledged);
    assert!(
        per_backend.iter().all(|n| *n > 0),
        "a backend got nothing: {per_backend:?}"
    );
}

/// Scenario: one of three backends answers UNAVAILABLE for a while, then recovers (the static
/// resolver keeps it in the ring, as otelcol does). Guarantee: the other two receive their
/// traces meanwhile; the failing one's spans are retried per `retry_on_failure` and arrive
/// once it is back; no acknowledged span is lost or duplicated, and traces stay whole.
#[test]
fn a_failing_backend_loses_nothing_acknowledged() {
    let backends = [Backend::start(), Backend::start(), Backend::start()];
    backends[1].fail_next(1_000_000, tonic::Code::Unavailable, "backend is down");
    let refs: Vec<&Backend> = backends.iter().collect();
    let grpc_port = free_port();
    let mut collector = Collector::start_yaml(&yaml(grpc_port, &refs));
    collector.wait_ready("loadbalancing");
    // The client's answer waits for every owner, so send in the background.
    let sender = std::thread::spawn(move || send(grpc_port));
    let healthy_busy = common::wait_until(common::WAIT, || {
        backends[0].spans().len() + backends[2].spans().len() > 0
    });
    assert!(
        healthy_busy,
        "the healthy backends got nothing while one failed"
    );
    assert!(
        common::wait_until(common::WAIT, || backends[1].rejected() > 0),
        "the failing backend was never tried"
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(backends[1].spans().is_empty());
    backends[1].stop_failing();
    let acknowledged = sender.join().unwrap();
    assert!(!acknowledged.is_empty());
    let arrived = common::wait_until(common::WAIT, || {
        backends.iter().map(|b| b.spans().len()).sum::<usize>() >= acknowledged.len()
    });
    assert!(
        arrived,
        "not every acknowledged span arrived\n{}",
        collector.logs()
    );
    std::thread::sleep(Duration::from_millis(300));
    let per_backend = check_placement(&refs, &acknowledged);
    assert!(per_backend[1] > 0, "{per_backend:?}");
}

/// Scenario: the dns resolver, with an address literal for a name (a name whose answers
/// change cannot be staged on loopback). Guarantee: the resolver thread's answer reaches every
/// shard and every acknowledged span arrives once.
#[test]
fn the_dns_resolver_feeds_every_shard() {
    let backend = Backend::start();
    let port = backend.endpoint().rsplit_once(':').unwrap().1.to_owned();
    let grpc_port = free_port();
    let resolver = format!("dns: {{hostname: 127.0.0.1, port: {port}, interval: 1s}}");
    let mut collector = Collector::start_yaml(&with_resolver(grpc_port, &resolver));
    collector.wait_ready("loadbalancing dns");
    let acknowledged = send(grpc_port);
    assert_eq!(
        acknowledged.len(),
        CONNECTIONS * REQUESTS_PER_CONNECTION * TRACES_PER_REQUEST
    );
    let arrived = common::wait_until(common::WAIT, || backend.spans().len() >= acknowledged.len());
    assert!(arrived, "not every span arrived\n{}", collector.logs());
    check_placement(&[&backend], &acknowledged);
}

/// Scenario: the dns resolver reports three backends (its answers come from a file, test fault
/// `dns_from_file`, since a name whose answers change cannot be staged on loopback); one
/// answers UNAVAILABLE to everything, then the answers drop it. Guarantee: the data waiting
/// for it is routed again to the remaining two; every acknowledged span arrives once and
/// every trace stays whole on one backend (consistent hashing moves only the dropped
/// backend's traces).
#[test]
fn a_backend_dropped_by_the_resolver_has_its_pending_data_routed_again() {
    let backends = [Backend::start(), Backend::start(), Backend::start()];
    backends[1].fail_next(1_000_000, tonic::Code::Unavailable, "backend is down");
    let dir = std::env::temp_dir().join(format!("shardgate-lb-dns-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let answers = dir.join("answers");
    let write = |list: &[&Backend]| {
        let lines: Vec<String> = list.iter().map(|b| b.endpoint()).collect();
        let staged = dir.join("answers.new");
        std::fs::write(&staged, lines.join("\n")).unwrap();
        std::fs::rename(&staged, &answers).unwrap();
    };
    write(&[&backends[0], &backends[1], &backends[2]]);
    let grpc_port = free_port();
    let resolver = format!("dns: {{hostname: {}, interval: 200ms}}", answers.display());
    let mut collector = Collector::start_yaml_with_env(
        &with_resolver(grpc_port, &resolver),
        &[("SHARDGATE_FAULTS", "dns_from_file")],
    );
    collector.wait_ready("loadbalancing dns from file");
    let acknowledged = send(grpc_port);
    assert_eq!(
        acknowledged.len(),
        CONNECTIONS * REQUESTS_PER_CONNECTION * TRACES_PER_REQUEST
    );
    assert!(
        common::wait_until(common::WAIT, || backends[1].rejected() > 0),
        "the failing backend was never tried"
    );
    std::thread::sleep(Duration::from_millis(500));
    let pending = acknowledged.len() - backends[0].spans().len() - backends[2].spans().len();
    assert!(pending > 0, "nothing was waiting for the failing backend");
    write(&[&backends[0], &backends[2]]);
    let arrived = common::wait_until(common::WAIT, || {
        backends[0].spans().len() + backends[2].spans().len() >= acknowledged.len()
    });
    assert!(
        arrived,
        "the dropped backend's data did not move\n{}",
        collector.logs()
    );
    std::thread::sleep(Duration::from_millis(300));
    let per_backend = check_placement(&[&backends[0], &backends[1], &backends[2]], &acknowledged);
    assert_eq!(per_backend[1], 0);
    assert!(collector.logs().contains("routing its pending data again"));
    std::fs::remove_dir_all(&dir).unwrap();
}
