//! Shards run on named threads pinned one per listed core, and SO_REUSEPORT spreads new
//! connections over all of them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use common::{Backend, Collector, Config, WAIT};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};

/// Thread name → `Cpus_allowed_list` for every thread of process `pid`.
fn threads(pid: u32) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("read /proc/PID/task");
    for task in tasks {
        let dir = task.expect("task entry").path();
        let Ok(comm) = std::fs::read_to_string(dir.join("comm")) else {
            continue; // the thread ended meanwhile
        };
        let Ok(status) = std::fs::read_to_string(dir.join("status")) else {
            continue;
        };
        let allowed = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .map(|v| v.trim().to_owned())
            .unwrap_or_default();
        out.entry(comm.trim().to_owned()).or_default().push(allowed);
    }
    out
}

fn one_log(n: usize) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    severity_text: format!("connection {n}"),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Scenario: shardgate with `shards.cores: [0, 1]` (fails on a machine with fewer than two
/// CPUs, rather than pass without testing); its threads are read from /proc; then 40 separate connections each send one log
/// request. Guarantee: threads `shard0` and `shard1` exist, pinned to exactly CPU 0 and CPU 1
/// (`Cpus_allowed_list`); every request succeeds and arrives; the debug logs show accepted
/// connections on both shard=0 and shard=1 (SO_REUSEPORT spreads them).
#[test]
fn shards_are_pinned_and_share_connections() {
    common::require_cpus(2);
    let backend = Backend::start();
    let mut config = Config::to_backend(&backend);
    config.cores = "[0, 1]".into();
    let collector = Collector::start(&config);

    let threads = threads(collector.pid());
    for (name, cpu) in [("shard0", "0"), ("shard1", "1")] {
        let allowed = threads
            .get(name)
            .unwrap_or_else(|| panic!("no thread named {name}; threads: {threads:?}"));
        // glommio may start helper threads that inherit the shard's name and pinning.
        assert!(
            allowed.iter().all(|a| a == cpu),
            "every {name} thread is pinned to CPU {cpu} only; threads: {threads:?}"
        );
    }
    assert!(
        !threads.contains_key("shard2"),
        "two cores, two shards: {threads:?}"
    );

    let connections = 40;
    let url = config.grpc_url();
    common::runtime().block_on(async move {
        for n in 0..connections {
            // A new channel is a new TCP connection.
            let mut client = LogsServiceClient::connect(url.clone())
                .await
                .expect("connect");
            client.export(one_log(n)).await.expect("export");
        }
    });
    assert!(
        backend.wait_for_items(0, 0, connections, WAIT),
        "all {connections} records arrive; got {:?}",
        backend.item_counts()
    );
    let logs = collector.logs();
    let accepted = |shard: usize| {
        logs.lines()
            .filter(|l| l.contains("accepted connection") && l.contains(&format!("shard={shard}")))
            .count()
    };
    let (on0, on1) = (accepted(0), accepted(1));
    println!("accepted connections: shard0={on0} shard1={on1}");
    assert!(
        on0 + on1 >= connections,
        "each connection is logged as accepted; logs:\n{logs}"
    );
    assert!(
        on0 > 0 && on1 > 0,
        "both shards accepted connections (shard0={on0}, shard1={on1})"
    );
}
