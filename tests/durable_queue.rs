//! The durable sending queue over real sockets and real kills: what a client was told is
//! accepted reaches the backend after shardgate is killed with SIGKILL while its backend is
//! down, after a corrupted segment tail, and across a change of shard count; a full queue
//! refuses retryably; a second instance on the same directory is refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_types)]

mod common;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{free_port, metric_sum, wait_until, Backend, Collector, WAIT};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::trace::v1::Span;
use tonic::transport::Channel;

const SPANS_PER_REQUEST: u64 = 50;

/// `shards.pending_bytes_max` of most tests here: the default.
const MEMORY: u64 = 32 << 20;

/// One run's settings.
#[derive(Clone)]
struct Run {
    dir: PathBuf,
    /// The exporter's endpoint (a port nothing listens on = the backend is down).
    endpoint: String,
    grpc_port: u16,
    metrics_port: u16,
    cores: usize,
    /// Extra keys of the `file_storage` extension, as flow-mapping entries.
    storage: String,
    /// `shards.pending_bytes_max`: what a shard may hold in memory.
    pending_bytes_max: u64,
}

impl Run {
    /// A run on `dir` exporting to `endpoint`, on free ports, with the default memory.
    fn new(dir: &Path, endpoint: String, cores: usize, storage: &str) -> Run {
        Run {
            dir: dir.to_owned(),
            endpoint,
            grpc_port: free_port(),
            metrics_port: free_port(),
            cores,
            storage: storage.to_owned(),
            pending_bytes_max: MEMORY,
        }
    }

    /// The same settings on fresh ports (a restart, or a second instance).
    fn again(&self) -> Run {
        Run {
            grpc_port: free_port(),
            metrics_port: free_port(),
            ..self.clone()
        }
    }

    fn yaml(&self) -> String {
        format!(
            "receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
processors:
  batch:
    send_batch_size: 400
    timeout: 20ms
exporters:
  otlp:
    endpoint: {endpoint}
    tls: {{insecure: true}}
    timeout: 2s
    retry_on_failure: {{initial_interval: 20ms, max_interval: 100ms, max_elapsed_time: 0}}
    sending_queue: {{storage: file_storage, queue_size: 100000}}
extensions:
  file_storage:
    directory: {dir}
    segment_size: 65536
    {storage}
service:
  extensions: [file_storage]
  telemetry:
    logs: {{level: info}}
    metrics:
      readers:
        - pull:
            exporter:
              prometheus: {{host: 127.0.0.1, port: {metrics}}}
  pipelines:
    traces: {{receivers: [otlp], processors: [batch], exporters: [otlp]}}
shards:
  cores: {cores}
  drain_timeout: 2s
  pending_bytes_max: {pending}
  rebalance: {{enabled: false}}
",
            grpc = self.grpc_port,
            endpoint = self.endpoint,
            dir = self.dir.display(),
            storage = self.storage,
            metrics = self.metrics_port,
            cores = self.cores,
            pending = self.pending_bytes_max,
        )
    }
}

/// A request of spans whose ids are `first..first + SPANS_PER_REQUEST`.
fn request(
    first: u64,
) -> opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest {
    let spans = (first..first + SPANS_PER_REQUEST)
        .map(|id| Span {
            trace_id: vec![9; 16],
            span_id: id.to_be_bytes().to_vec(),
            name: format!("span-{id}"),
            ..Default::default()
        })
        .collect();
    common::spans_request(spans)
}

/// What the client saw.
#[derive(Default)]
struct Outcomes {
    /// First span id of every acknowledged request.
    acked: Vec<u64>,
    /// Refusals, by gRPC code, with one message each.
    refused: HashMap<tonic::Code, (usize, String)>,
}

/// Sends from `tasks` concurrent callers, one connection each, to `port` until `stop` is
/// set or the collector goes away; each request's spans have ids no other request has.
fn send_until(port: u16, tasks: u64, stop: Arc<AtomicBool>) -> Outcomes {
    let outcomes = Arc::new(Mutex::new(Outcomes::default()));
    common::runtime().block_on(async {
        let url = format!("http://127.0.0.1:{port}");
        let mut handles = Vec::new();
        for task in 0..tasks {
            // A connection each, so SO_REUSEPORT spreads them over the shards.
            let channel = Channel::from_shared(url.clone())
                .unwrap()
                .connect()
                .await
                .expect("connect");
            let mut client = TraceServiceClient::new(channel);
            let outcomes = outcomes.clone();
            let stop = stop.clone();
            handles.push(tokio::spawn(async move {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let first = (task << 40) + n * SPANS_PER_REQUEST;
                    n += 1;
                    let call = client.export(request(first));
                    match tokio::time::timeout(Duration::from_secs(5), call).await {
                        Ok(Ok(_)) => outcomes.lock().unwrap().acked.push(first),
                        Ok(Err(status)) => {
                            {
                                let mut o = outcomes.lock().unwrap();
                                let entry = o
                                    .refused
                                    .entry(status.code())
                                    .or_insert((0, status.message().to_owned()));
                                entry.0 += 1;
                            }
                            if status.code() == tonic::Code::Unavailable
                                && status.message().contains("transport")
                            {
                                return; // the collector is gone
                            }
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                        Err(_) => return,
                    }
                }
            }));
        }
        for h in handles {
            let _ = h.await;
        }
    });
    Arc::try_unwrap(outcomes)
        .ok()
        .unwrap()
        .into_inner()
        .unwrap()
}

/// Callers sending in the background (see [`send_until`]) until stopped.
struct Sending {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Outcomes>,
}

impl Sending {
    /// Starts `tasks` callers against the receiver on `port`.
    fn start(port: u16, tasks: u64) -> Sending {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || send_until(port, tasks, flag));
        Sending { stop, thread }
    }

    /// Stops the callers and returns what they saw.
    fn stop(self) -> Outcomes {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

/// Waits until every `acked` span is at `backend`; panics with the collector's logs if
/// some never arrive.
fn assert_all_arrive(backend: &Backend, acked: &HashSet<u64>, collector: &Collector) {
    let all = wait_until(WAIT * 2, || {
        let got: HashSet<u64> = span_ids(backend).into_iter().collect();
        acked.is_subset(&got)
    });
    let got: HashSet<u64> = span_ids(backend).into_iter().collect();
    assert!(
        all,
        "{} of {} acknowledged spans never arrived; logs:\n{}",
        acked.difference(&got).count(),
        acked.len(),
        collector.logs()
    );
}

/// Every span id the client had acknowledged.
fn acked_ids(outcomes: &Outcomes) -> HashSet<u64> {
    outcomes
        .acked
        .iter()
        .flat_map(|first| *first..first + SPANS_PER_REQUEST)
        .collect()
}

fn span_ids(backend: &Backend) -> Vec<u64> {
    backend
        .spans()
        .iter()
        .map(|s| u64::from_be_bytes(s.item.span_id.clone().try_into().unwrap()))
        .collect()
}

/// A port nothing listens on: the backend is down.
fn dead_endpoint() -> String {
    format!("127.0.0.1:{}", free_port())
}

/// Runs with the backend down, sending from 8 callers, and SIGKILLs the collector once
/// `acked_spans` spans were acknowledged; returns what the client saw.
fn kill_while_receiving(dir: &Path, cores: usize, storage: &str, acked_spans: usize) -> Outcomes {
    let run = Run::new(dir, dead_endpoint(), cores, storage);
    let collector = Collector::start_yaml(&run.yaml());
    let sending = Sending::start(run.grpc_port, 8);
    let enough = wait_until(WAIT, || {
        metric_sum(run.metrics_port, "otelcol_receiver_accepted_spans", "") >= acked_spans as f64
    });
    assert!(enough, "not enough accepted; logs:\n{}", collector.logs());
    // SIGKILL while the callers are still sending.
    drop(collector);
    sending.stop()
}

/// Restarts on `dir` with a live backend and waits until every acknowledged span is there;
/// returns the backend and the collector (still running).
fn restart_and_collect(
    dir: &Path,
    cores: usize,
    storage: &str,
    acked: &HashSet<u64>,
) -> (Backend, Collector, Run) {
    let backend = Backend::start();
    let run = Run::new(dir, backend.endpoint(), cores, storage);
    let collector = Collector::start_yaml(&run.yaml());
    assert_all_arrive(&backend, acked, &collector);
    (backend, collector, run)
}

/// Where a segment's records numbered in sequence end (16-byte headers: length, CRC, number):
/// past it a killed writer leaves zeros or stale bytes of its reused write buffers.
fn records_end(bytes: &[u8]) -> usize {
    let mut offset = 0;
    let mut expected = None;
    while let Some(header) = bytes.get(offset..offset + 16) {
        let len = u32::from_le_bytes(header[0..4].try_into().unwrap()) as usize;
        let seq = u64::from_le_bytes(header[8..16].try_into().unwrap());
        let fits = offset + 16 + len <= bytes.len();
        if len == 0 || !fits || expected.is_some_and(|e| e != seq) {
            break;
        }
        expected = Some(seq + 1);
        offset += 16 + len;
    }
    offset
}

/// Segment files left under `dir` (any exporter, any shard).
fn segment_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| {
                let n = n.to_string_lossy();
                n.starts_with("segment-") || n.starts_with("spare-")
            }) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// Stops `collector` cleanly and checks that nothing delivered is left on disk.
fn stop_and_check_empty(mut collector: Collector, dir: &Path) {
    collector.sigterm();
    assert!(collector.wait_exit(WAIT).success(), "{}", collector.logs());
    let left = segment_files(dir);
    assert!(left.is_empty(), "delivered segments left on disk: {left:?}");
}

/// Scenario: `fsync_policy: always`, backend down, eight callers sending; SIGKILL mid-stream,
/// then a restart with the backend up. Guarantee: every span the client saw acknowledged
/// arrives; duplicates stay within the at-least-once window (the records of segments not
/// wholly delivered when the process died: here nothing was delivered, so none).
#[test]
fn sigkill_with_the_backend_down_loses_no_acknowledged_span() {
    let dir = tempfile::tempdir().unwrap();
    let outcomes = kill_while_receiving(dir.path(), 2, "fsync_policy: always", 20_000);
    let acked = acked_ids(&outcomes);
    // The kill comes once 20 000 were accepted; a few answers were still on their way.
    assert!(acked.len() >= 15_000, "acked {}", acked.len());
    let (backend, collector, run) =
        restart_and_collect(dir.path(), 2, "fsync_policy: always", &acked);
    let ids = span_ids(&backend);
    let unique: HashSet<u64> = ids.iter().copied().collect();
    let duplicates = ids.len() - unique.len();
    let replayed = metric_sum(
        run.metrics_port,
        "shardgate_storage_replayed_records_total",
        "",
    );
    eprintln!(
        "acked {} spans; backend got {} ({} unique, {} duplicates, {} never acked: sent when the kill came); {replayed} records replayed",
        acked.len(),
        ids.len(),
        unique.len(),
        duplicates,
        unique.len() - acked.len(),
    );
    // Nothing was delivered before the kill, so nothing may arrive twice.
    assert_eq!(duplicates, 0, "duplicates with no delivery before the kill");
    assert!(replayed > 0.0);
    stop_and_check_empty(collector, dir.path());
}

/// Scenario: as above with two shards, then the newest segment of shard 0 gets 100 bytes of
/// garbage at its end (a torn write), and the restart runs ONE shard. Guarantee: the tail
/// is cut and counted, never replayed; shard 1's directory is adopted; every acknowledged
/// span arrives, and nothing is left on disk after a clean stop.
#[test]
fn a_corrupt_tail_is_cut_and_a_shard_count_change_still_delivers() {
    common::require_cpus(2);
    let dir = tempfile::tempdir().unwrap();
    let outcomes = kill_while_receiving(dir.path(), 2, "fsync_policy: interval", 10_000);
    let acked = acked_ids(&outcomes);
    let segments = segment_files(dir.path());
    let shard_1 = segments
        .iter()
        .any(|p| p.to_string_lossy().contains("/shard-1/"));
    assert!(shard_1, "both shards wrote: {segments:?}");
    let newest = segments
        .iter()
        .rfind(|p| p.to_string_lossy().contains("/shard-0/"))
        .expect("a segment of shard 0");
    let mut bytes = std::fs::read(newest).unwrap();
    bytes.truncate(records_end(&bytes));
    bytes.extend((0..100u8).map(|i| i.wrapping_mul(37) | 1));
    std::fs::write(newest, &bytes).unwrap();
    let (_backend, collector, run) =
        restart_and_collect(dir.path(), 1, "fsync_policy: interval", &acked);
    let cut = metric_sum(run.metrics_port, "shardgate_storage_cut_tails_total", "");
    assert!(cut >= 1.0, "the corrupt tail was not counted");
    assert!(
        collector.logs().contains("tail was cut"),
        "{}",
        collector.logs()
    );
    stop_and_check_empty(collector, dir.path());
    assert!(
        !dir.path().join("otlp/shard-1").exists(),
        "the adopted directory stays after its data was delivered"
    );
}

/// Scenario: `max_size` of 256 KiB per shard, backend down, callers sending until refused.
/// Guarantee: the refusal is UNAVAILABLE (retryable) and counted; what was acknowledged
/// before it is delivered after a restart.
#[test]
fn a_full_queue_refuses_retryably_and_keeps_what_it_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let storage = "max_size: 262144";
    let run = Run::new(dir.path(), dead_endpoint(), 1, storage);
    let mut collector = Collector::start_yaml(&run.yaml());
    let sending = Sending::start(run.grpc_port, 4);
    let metrics = run.metrics_port;
    let refused = wait_until(WAIT, || {
        metric_sum(metrics, "shardgate_storage_refused_requests_total", "") >= 10.0
    });
    let outcomes = sending.stop();
    assert!(refused, "never refused; logs:\n{}", collector.logs());
    let (count, message) = outcomes
        .refused
        .get(&tonic::Code::Unavailable)
        .cloned()
        .unwrap_or_default();
    assert!(
        count >= 10,
        "refusals: {:?}",
        outcomes.refused.keys().collect::<Vec<_>>()
    );
    assert!(message.contains("durable queue"), "{message}");
    let on_disk = metric_sum(metrics, "shardgate_storage_bytes", "");
    assert!(
        on_disk <= 262_144.0,
        "{on_disk} bytes on disk past max_size"
    );
    collector.sigterm();
    assert!(collector.wait_exit(WAIT).success());
    let acked = acked_ids(&outcomes);
    assert!(!acked.is_empty());
    let (_backend, collector, _) = restart_and_collect(dir.path(), 1, storage, &acked);
    stop_and_check_empty(collector, dir.path());
}

/// Scenario: a second shardgate started on a directory a running one holds. Guarantee: it
/// refuses to start, naming the directory and the holder; the first keeps running.
#[test]
fn a_second_instance_on_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let first = Run::new(dir.path(), dead_endpoint(), 1, "");
    let collector = Collector::start_yaml(&first.yaml());
    let second = first.again();
    let config = dir.path().join("second.yaml");
    std::fs::write(&config, second.yaml()).unwrap();
    let mut other = Collector::spawn(&["--config".into(), config.display().to_string()]);
    let started = Instant::now();
    let status = other.wait_exit(WAIT);
    assert!(!status.success());
    let logs = other.logs();
    assert!(
        logs.contains("in use by another running shardgate"),
        "{logs}"
    );
    assert!(logs.contains(&format!("pid {}", collector.pid())), "{logs}");
    assert!(started.elapsed() < WAIT);
    assert!(common::http_get(&format!("127.0.0.1:{}", first.metrics_port), "/metrics").is_some());
}

/// Scenario: the backend refuses everything (UNAVAILABLE) while callers send about ten
/// times what a shard may hold in memory (`pending_bytes_max: 256 KiB`), then comes back.
/// Guarantee: nothing is refused for want of memory: what does not fit spills to disk (the
/// queue's files grow past the memory bound), and every acknowledged span arrives, once,
/// without a restart; afterwards nothing is left on disk.
#[test]
fn an_outage_longer_than_memory_spills_to_disk_and_is_all_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let backend = Backend::start();
    backend.fail_next(10_000_000, tonic::Code::Unavailable, "down for maintenance");
    let memory = 256 << 10;
    let run = Run {
        pending_bytes_max: memory,
        ..Run::new(dir.path(), backend.endpoint(), 1, "")
    };
    let collector = Collector::start_yaml(&run.yaml());
    let sending = Sending::start(run.grpc_port, 4);
    let metrics = run.metrics_port;
    let spilled = wait_until(WAIT, || {
        metric_sum(metrics, "shardgate_storage_bytes", "") >= 10.0 * memory as f64
    });
    let outcomes = sending.stop();
    assert!(
        spilled,
        "the queue never grew past memory; logs:\n{}",
        collector.logs()
    );
    let refused: usize = outcomes.refused.values().map(|(n, _)| n).sum();
    assert_eq!(refused, 0, "refused: {:?}", outcomes.refused);
    let acked = acked_ids(&outcomes);
    backend.stop_failing();
    assert_all_arrive(&backend, &acked, &collector);
    let ids = span_ids(&backend);
    let unique: HashSet<u64> = ids.iter().copied().collect();
    eprintln!(
        "acked {} spans with {memory} bytes of memory; backend got {} ({} duplicates)",
        acked.len(),
        ids.len(),
        ids.len() - unique.len()
    );
    assert_eq!(ids.len(), unique.len(), "duplicates without a restart");
    stop_and_check_empty(collector, dir.path());
}

/// Scenario: the backend is up but slow (20 ms per export), so data is on its way out when
/// SIGKILL comes; the restart sends to the same backend. Guarantee: every acknowledged span
/// arrives, and what arrives twice comes only from replayed records: the at-least-once
/// window (records already delivered from segments not yet wholly delivered). The test
/// prints how many that was.
#[test]
fn sigkill_during_delivery_duplicates_only_what_it_replays() {
    kill_during_delivery("fsync_policy: always");
}

/// Scenario: as above with `fsync_policy: interval`, whose delivered segments' files are
/// written over by new segments (64 KiB segments: dozens reused before the kill).
/// Guarantee: the same, and the restart cuts no tail: the old records of a reused file are
/// never replayed nor taken for damage.
#[test]
fn sigkill_during_delivery_with_reused_segment_files_replays_only_new_records() {
    let cut = kill_during_delivery("fsync_policy: interval");
    assert_eq!(
        cut, 0.0,
        "a reused segment's old records were taken for a cut tail"
    );
}

/// Runs the scenario above with `policy`; returns how many tails the restart cut.
fn kill_during_delivery(policy: &str) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let backend = Backend::start();
    backend.set_delay(Duration::from_millis(20));
    let run = Run::new(dir.path(), backend.endpoint(), 1, policy);
    let collector = Collector::start_yaml(&run.yaml());
    let sending = Sending::start(run.grpc_port, 8);
    let metrics = run.metrics_port;
    let going = wait_until(WAIT, || {
        metric_sum(metrics, "otelcol_receiver_accepted_spans", "") >= 20_000.0
            && !backend.spans().is_empty()
    });
    assert!(going, "logs:\n{}", collector.logs());
    drop(collector);
    let outcomes = sending.stop();
    let acked = acked_ids(&outcomes);
    let before = span_ids(&backend).len();
    backend.set_delay(Duration::ZERO);
    let again = run.again();
    let collector = Collector::start_yaml(&again.yaml());
    assert_all_arrive(&backend, &acked, &collector);
    let ids = span_ids(&backend);
    let unique: HashSet<u64> = ids.iter().copied().collect();
    let duplicates = ids.len() - unique.len();
    let replayed = metric_sum(
        again.metrics_port,
        "shardgate_storage_replayed_records_total",
        "",
    );
    eprintln!(
        "{policy}: acked {} spans; {before} delivered before the kill; after the restart the backend has {} ({duplicates} duplicates) from {replayed} replayed records",
        acked.len(),
        ids.len(),
    );
    assert!(
        duplicates as f64 <= replayed * SPANS_PER_REQUEST as f64,
        "{duplicates} duplicates, more than the {replayed} replayed records hold"
    );
    // Read before the stop, which takes the metrics endpoint with it.
    let cut = metric_sum(again.metrics_port, "shardgate_storage_cut_tails_total", "");
    stop_and_check_empty(collector, dir.path());
    cut
}
