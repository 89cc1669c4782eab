//! Backends that answer badly: whatever a backend says, the shard keeps serving and the data
//! it acknowledged is delivered once the backend takes it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Backend, Collector, Config, WAIT};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use prost::Message;
use shardgate::exporter::grpc_status::{ProtoAny, ProtoDuration, RetryInfo, RpcStatus};

/// `UNAVAILABLE` with a `google.rpc.RetryInfo` asking for `seconds`, as a backend sends it in
/// `grpc-status-details-bin`.
fn unavailable_retry_after(seconds: i64) -> tonic::Status {
    let info = RetryInfo {
        retry_delay: Some(ProtoDuration {
            seconds,
            nanos: 999_999_999,
        }),
    };
    let status = RpcStatus {
        code: tonic::Code::Unavailable as i32,
        message: "come back much later".into(),
        details: vec![ProtoAny {
            type_url: "type.googleapis.com/google.rpc.RetryInfo".into(),
            value: info.encode_to_vec(),
        }],
    };
    tonic::Status::with_details(
        tonic::Code::Unavailable,
        "come back much later",
        status.encode_to_vec().into(),
    )
}

/// Sends one request of `spans` named spans on a new connection; true when acknowledged.
fn send(config: &Config, request: usize, spans: usize) -> bool {
    let url = config.grpc_url();
    common::runtime().block_on(async move {
        let mut client = TraceServiceClient::connect(url).await.expect("connect");
        let call = client.export(common::named_spans_request(0, request, spans));
        match tokio::time::timeout(Duration::from_secs(10), call).await {
            Ok(result) => result.is_ok(),
            Err(_) => panic!("the collector did not answer within 10 s"),
        }
    })
}

/// Scenario: one shard exporting to a backend that answers its first export with UNAVAILABLE
/// and a `RetryInfo` delay of `i64::MAX` seconds (which overflows any timer), then takes
/// data; `max_elapsed_time` is 3 s. Guarantee: the wait is cut to what is left of the budget
/// (the data gets its last attempt at 3 s instead of being dropped or waiting forever), the
/// shard keeps answering (a second request is acknowledged and delivered meanwhile), and both
/// requests' spans are delivered, each once.
#[test]
fn retry_info_of_i64_max_seconds_is_capped_and_the_data_delivered() {
    let backend = Backend::start();
    backend.fail_next_with(1, unavailable_retry_after(i64::MAX));
    let mut config = Config::to_backend(&backend);
    config.cores = "1".into();
    config.log_level = "info".into();
    config.exporter = common::Exporter::Otlp {
        endpoint: backend.endpoint(),
        compression: "none".into(),
        retry: Some("{initial_interval: 100ms, max_interval: 1s, max_elapsed_time: 3s}".into()),
    };
    let collector = Collector::start(&config);
    let started = Instant::now();
    assert!(send(&config, 0, 5), "first request acknowledged");
    assert!(
        common::wait_until(WAIT, || backend.rejected() >= 1),
        "the backend saw the first export"
    );
    assert!(
        send(&config, 1, 5),
        "the shard still answers while it retries"
    );
    assert!(
        backend.wait_for_items(10, 0, 0, WAIT),
        "all spans delivered; got {}; logs:\n{}",
        backend.spans().len(),
        collector.logs()
    );
    // One refusal, one wait of at most the 3 s budget, not i64::MAX seconds.
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2),
        "the first request waited: {took:?}"
    );
    assert!(took < Duration::from_secs(20), "{took:?}");
    assert_eq!(backend.rejected(), 1);
    let mut names: Vec<String> = backend.spans().into_iter().map(|s| s.item.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 10, "each span once: {names:?}");
    let logs = collector.logs();
    assert!(
        logs.contains("Will retry the request after interval"),
        "{logs}"
    );
    assert!(!logs.contains("panicked"), "{logs}");
}
