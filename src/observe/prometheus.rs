//! Prometheus text exposition (format 0.0.4) of the registry, with otelcol's names.
//!
//! Names follow what otelcol's Prometheus exporter writes: counters end in `_total`, unit
//! suffixes come from the instrument unit (`By` → `_bytes`, `s` → `_seconds`), `{items}`
//! annotations add nothing. Labels are otelcol's (`receiver`, `transport`, `exporter`,
//! `data_type`, `processor`) plus `shard`. Series with the same labels (one batch processor
//! id in two pipelines) are summed.

use std::collections::BTreeMap;
use std::fmt::Write;

use shardgate_io::h2_server::Abuse;

use super::latency::{LatencySnapshot, LATENCY_BOUNDS_SECONDS};
use super::process;
use super::registry::{DecisionCounters, ProcessorCounters, Registry, ShardCounters, TailCounters};
use crate::signal::Signal;

/// The media type of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The per-signal suffix otelcol uses in receiver/exporter metric names.
fn item_suffix(signal: Signal) -> &'static str {
    match signal {
        Signal::Traces => "spans",
        Signal::Metrics => "metric_points",
        Signal::Logs => "log_records",
    }
}

/// One metric family being assembled: label set → value.
struct Family {
    name: String,
    help: &'static str,
    kind: &'static str,
    series: BTreeMap<String, f64>,
}

#[derive(Default)]
pub(super) struct Families(BTreeMap<String, Family>);

impl Families {
    pub(super) fn add(
        &mut self,
        name: String,
        help: &'static str,
        kind: &'static str,
        labels: String,
        v: f64,
    ) {
        let family = self.0.entry(name.clone()).or_insert_with(|| Family {
            name,
            help,
            kind,
            series: BTreeMap::new(),
        });
        *family.series.entry(labels).or_insert(0.0) += v;
    }
}

/// Escapes a label value per the text format.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub(super) fn labels(pairs: &[(&str, &str)]) -> String {
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    inner.join(",")
}

/// Renders every metric of `registry`.
pub fn render(registry: &Registry) -> String {
    let mut f = Families::default();
    let mut histograms = Histograms::new();
    for shard in &registry.shards {
        shard_families(shard, &mut f, &mut histograms);
        f.add(
            "shardgate_shard_failures_total".into(),
            "Times the shard died while running (the process then drains the others and exits non-zero)",
            "counter",
            labels(&[("shard", &shard.shard.to_string())]),
            registry.shard_failures(shard.shard) as f64,
        );
    }
    let mut out = String::new();
    for family in f.0.values() {
        let _ = writeln!(out, "# HELP {} {}", family.name, family.help);
        let _ = writeln!(out, "# TYPE {} {}", family.name, family.kind);
        for (labels, v) in &family.series {
            let _ = writeln!(out, "{}{{{labels}}} {v}", family.name);
        }
    }
    for (name, (help, body)) in &histograms {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        out.push_str(body);
    }
    let stats = process::read();
    let uptime = registry.started.elapsed().as_secs_f64();
    for (name, help, kind, v) in [
        (
            "otelcol_process_memory_rss_bytes",
            "Total physical memory (resident set size)",
            "gauge",
            stats.rss_bytes as f64,
        ),
        (
            "otelcol_process_cpu_seconds_total",
            "Total CPU user and system time in seconds",
            "counter",
            stats.cpu_seconds,
        ),
        (
            "otelcol_process_uptime_seconds_total",
            "Uptime of the process",
            "counter",
            uptime,
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
        );
    }
    out
}

/// Histogram families by name: help text and the series lines, so every family's series
/// stay together as the text format requires.
pub(super) type Histograms = BTreeMap<&'static str, (&'static str, String)>;

/// Every family of one shard: component counters, busy ratio and latency histograms.
fn shard_families(shard: &ShardCounters, f: &mut Families, histograms: &mut Histograms) {
    let sh = shard.shard.to_string();
    receiver_families(shard, &sh, f);
    exporter_families(shard, &sh, f);
    batch_families(shard, &sh, f, histograms);
    processor_families(shard, &sh, f);
    f.add(
        "shardgate_shard_busy_ratio".into(),
        "Share of wall time the shard's executor spent running tasks over the last second",
        "gauge",
        labels(&[("shard", &sh)]),
        shard.busy_ratio.get_f64(),
    );
    for signal in Signal::ALL {
        f.add(
            "shardgate_processor_failed_items_total".into(),
            "Acknowledged items left out because a processor failed on them (never sent on unprocessed)",
            "counter",
            labels(&[("data_type", signal.as_str()), ("shard", &sh)]),
            shard.processor_failed_items[super::signal_index(signal)].get() as f64,
        );
    }
    rebalance_families(shard, &sh, f);
    storage_families(shard, &sh, f);
    super::loadbalancer::families(shard, &sh, f, histograms);
    f.add(
        "shardgate_shard_pending_bytes".into(),
        "Bytes acknowledged to clients and not yet delivered (shards.pending_bytes_max bounds it)",
        "gauge",
        labels(&[("shard", &sh)]),
        shard.pending_bytes.get() as f64,
    );
    for (name, help, snap) in [
        (
            "shardgate_receiver_request_duration_seconds",
            "Time from a request's arrival to its acknowledgement, per shard",
            shard.receive_latency.read(),
        ),
        (
            "shardgate_exporter_request_duration_seconds",
            "Round-trip time of export requests to backends, per shard",
            shard.export_latency.read(),
        ),
    ] {
        let LatencySnapshot {
            mut cumulative,
            count,
            sum_seconds,
            ..
        } = snap;
        cumulative.push(count);
        write_histogram(
            histograms,
            name,
            help,
            &labels(&[("shard", &sh)]),
            &LATENCY_BOUNDS_SECONDS,
            &cumulative,
            sum_seconds,
        );
    }
}

/// What one shard handed to its peers and took over from them.
fn rebalance_families(shard: &ShardCounters, sh: &str, f: &mut Families) {
    let r = &shard.rebalance;
    let shard_only = labels(&[("shard", sh)]);
    for (name, help, value) in [
        (
            "shardgate_rebalance_handed_off_requests_total",
            "Requests this shard's receivers handed to a less loaded shard",
            r.handed_off_requests.get(),
        ),
        (
            "shardgate_rebalance_handed_off_bytes_total",
            "Body bytes of the requests this shard handed off",
            r.handed_off_bytes.get(),
        ),
        (
            "shardgate_rebalance_taken_over_requests_total",
            "Requests this shard took over from a busier shard",
            r.taken_over_requests.get(),
        ),
        (
            "shardgate_rebalance_taken_over_bytes_total",
            "Body bytes of the requests this shard took over",
            r.taken_over_bytes.get(),
        ),
        (
            "shardgate_rebalance_bounced_requests_total",
            "Requests this shard took out of its mailbox and sent back, its budget being full",
            r.bounced.get(),
        ),
    ] {
        f.add(
            name.into(),
            help,
            "counter",
            shard_only.clone(),
            value as f64,
        );
    }
    for (reason, value) in [
        ("queue_full", r.kept_full.get()),
        ("peer_draining", r.kept_closed.get()),
    ] {
        f.add(
            "shardgate_rebalance_kept_requests_total".into(),
            "Requests chosen for hand-off that stayed on this shard, by reason",
            "counter",
            labels(&[("reason", reason), ("shard", sh)]),
            value as f64,
        );
    }
    f.add(
        "shardgate_rebalance_share_ratio".into(),
        "Share of its requests this shard hands off now",
        "gauge",
        shard_only.clone(),
        r.share_permille.get() as f64 / 1000.0,
    );
    f.add(
        "shardgate_rebalance_queue_bytes".into(),
        "Bytes of requests waiting in this shard's hand-off mailbox",
        "gauge",
        shard_only,
        r.queue_bytes.get() as f64,
    );
}

/// The durable queues of one shard, per exporter.
fn storage_families(shard: &ShardCounters, sh: &str, f: &mut Families) {
    for s in &shard.storage {
        let l = labels(&[("exporter", &s.id), ("shard", sh)]);
        for (name, help, kind, value) in [
            (
                "shardgate_storage_bytes",
                "Bytes the exporter's durable queue holds on disk",
                "gauge",
                s.bytes.get(),
            ),
            (
                "shardgate_storage_segments",
                "Segment files of the exporter's durable queue",
                "gauge",
                s.segments.get(),
            ),
            (
                "shardgate_storage_refused_requests_total",
                "Requests refused (retryably) because the durable queue could not take them",
                "counter",
                s.refused_requests.get(),
            ),
            (
                "shardgate_storage_replayed_records_total",
                "Records read back from disk at start to deliver again",
                "counter",
                s.replayed_records.get(),
            ),
            (
                "shardgate_storage_cut_tails_total",
                "Torn or corrupt segment tails cut at start (never replayed)",
                "counter",
                s.cut_tails.get(),
            ),
            (
                "shardgate_storage_cut_bytes_total",
                "Bytes of torn or corrupt segment tails cut at start",
                "counter",
                s.cut_bytes.get(),
            ),
        ] {
            f.add(name.into(), help, kind, l.clone(), value as f64);
        }
    }
}

/// otelcol's receiver counters of one shard.
fn receiver_families(shard: &ShardCounters, sh: &str, f: &mut Families) {
    for receiver in &shard.receivers {
        for t in &receiver.transports {
            let l = labels(&[
                ("receiver", &receiver.id),
                ("shard", sh),
                ("transport", t.transport),
            ]);
            f.add(
                "shardgate_receiver_unauthenticated_requests_total".into(),
                "Requests refused because they did not pass the receiver's authenticator",
                "counter",
                l.clone(),
                t.unauthenticated_requests.get() as f64,
            );
            f.add(
                "shardgate_receiver_tls_handshake_failures_total".into(),
                "TLS handshakes that failed: no or an untrusted certificate, not TLS, or too slow",
                "counter",
                l.clone(),
                t.tls_handshake_failures.get() as f64,
            );
            for abuse in Abuse::ALL {
                let l = labels(&[
                    ("receiver", &receiver.id),
                    ("shard", sh),
                    ("transport", t.transport),
                    ("reason", abuse.as_str()),
                ]);
                f.add(
                    "shardgate_receiver_abusive_connections_closed_total".into(),
                    "HTTP/2 connections closed with GOAWAY ENHANCE_YOUR_CALM, by reason",
                    "counter",
                    l,
                    t.abusive_connections[abuse.index()].get() as f64,
                );
            }
            for signal in Signal::ALL {
                let i = super::signal_index(signal);
                let s = item_suffix(signal);
                for (what, cells, help) in [
                    (
                        "accepted",
                        &t.accepted,
                        "Items successfully pushed into the pipeline",
                    ),
                    (
                        "refused",
                        &t.refused,
                        "Items that could not be pushed into the pipeline",
                    ),
                    ("failed", &t.failed, "Items that failed to be processed"),
                ] {
                    let name = format!("otelcol_receiver_{what}_{s}_total");
                    f.add(name, help, "counter", l.clone(), cells[i].get() as f64);
                }
                // otelcol counts memory_limiter refusals in items after decoding; shardgate
                // refuses before reading the body, so it counts requests.
                let ml = labels(&[
                    ("data_type", signal.as_str()),
                    ("receiver", &receiver.id),
                    ("shard", sh),
                    ("transport", t.transport),
                ]);
                f.add(
                    "shardgate_memory_limiter_refused_requests_total".into(),
                    "Requests refused unread by memory_limiter under memory pressure",
                    "counter",
                    ml,
                    t.memory_refused_requests[i].get() as f64,
                );
            }
        }
    }
}

/// otelcol's exporter counters and queue gauges of one shard.
fn exporter_families(shard: &ShardCounters, sh: &str, f: &mut Families) {
    for e in &shard.exporters {
        let s = item_suffix(e.signal);
        let l = labels(&[("exporter", &e.id), ("shard", sh)]);
        for (what, cell, help) in [
            ("sent", &e.sent, "Items successfully sent to destination"),
            (
                "send_failed",
                &e.send_failed,
                "Items that failed to be sent to destination",
            ),
            (
                "enqueue_failed",
                &e.enqueue_failed,
                "Items that failed to be added to the sending queue",
            ),
        ] {
            let name = format!("otelcol_exporter_{what}_{s}_total");
            f.add(name, help, "counter", l.clone(), cell.get() as f64);
        }
        let l = labels(&[
            ("data_type", e.signal.as_str()),
            ("exporter", &e.id),
            ("shard", sh),
        ]);
        for (name, cell, help) in [
            (
                "otelcol_exporter_queue_size",
                &e.queue_size,
                "Current size of the retry queue (in batches)",
            ),
            (
                "otelcol_exporter_queue_capacity",
                &e.queue_capacity,
                "Fixed capacity of the retry queue (in batches)",
            ),
            (
                "otelcol_exporter_in_flight_requests",
                &e.in_flight,
                "Export requests being sent or retried (shardgate)",
            ),
        ] {
            f.add(name.to_owned(), help, "gauge", l.clone(), cell.get() as f64);
        }
    }
}

/// Items into and out of each rewriting processor, as otelcol's processor helper counts them.
fn processor_families(shard: &ShardCounters, sh: &str, f: &mut Families) {
    for p in &shard.processors {
        for signal in Signal::ALL {
            let i = super::signal_index(signal);
            let l = labels(&[
                ("otel_signal", signal.as_str()),
                ("processor", &p.id),
                ("shard", sh),
            ]);
            f.add(
                "otelcol_processor_incoming_items_total".into(),
                "Number of items passed to the processor",
                "counter",
                l.clone(),
                p.incoming[i].get() as f64,
            );
            f.add(
                "otelcol_processor_outgoing_items_total".into(),
                "Number of items emitted from the processor",
                "counter",
                l,
                p.outgoing[i].get() as f64,
            );
            if p.kind == "filter" {
                filter_family(p, signal, sh, f);
            }
        }
        sampler_families(p, sh, f);
        if let Some(tail) = &p.tail {
            tail_families(tail, &p.id, sh, f);
        }
    }
}

/// A `tail_sampling` processor's decisions and trace table, under otelcol's names (plus
/// shardgate's count of spans moved between shards for trace affinity).
fn tail_families(t: &TailCounters, id: &str, sh: &str, f: &mut Families) {
    const PREFIX: &str = "otelcol_processor_tail_sampling_";
    let decisions = |d: &DecisionCounters| {
        [
            ("true", "sampled", d.sampled.get()),
            ("false", "not_sampled", d.not_sampled.get()),
            ("false", "dropped", d.dropped.get()),
        ]
    };
    for p in &t.policies {
        for (sampled, decision, value) in decisions(&p.decisions) {
            f.add(
                format!("{PREFIX}count_traces_sampled_total"),
                "Count of traces that were sampled or not per sampling policy",
                "counter",
                labels(&[
                    ("decision", decision),
                    ("policy", &p.policy),
                    ("processor", id),
                    ("sampled", sampled),
                    ("shard", sh),
                ]),
                value as f64,
            );
        }
    }
    for (sampled, decision, value) in decisions(&t.global) {
        f.add(
            format!("{PREFIX}global_count_traces_sampled_total"),
            "Global count of traces that were sampled or not by at least one policy",
            "counter",
            labels(&[
                ("decision", decision),
                ("processor", id),
                ("sampled", sampled),
                ("shard", sh),
            ]),
            value as f64,
        );
    }
    for (sampled, value) in [
        ("true", t.released_sampled.get()),
        ("false", t.released_not_sampled.get()),
    ] {
        f.add(
            format!("{PREFIX}early_releases_from_cache_decision_total"),
            "Number of spans that were able to be immediately released due to a decision cache hit.",
            "counter",
            labels(&[("processor", id), ("sampled", sampled), ("shard", sh)]),
            value as f64,
        );
    }
    let l = labels(&[("processor", id), ("shard", sh)]);
    for (name, help, kind, value) in [
        (
            "new_trace_id_received_total",
            "Counts the arrival of new traces",
            "counter",
            t.new_traces.get(),
        ),
        (
            "sampling_trace_dropped_too_early_total",
            "Count of traces that needed to be dropped before the configured wait time",
            "counter",
            t.dropped_too_early.get(),
        ),
        (
            "sampling_traces_on_memory",
            "Tracks the number of traces current on memory",
            "gauge",
            t.traces_on_memory.get(),
        ),
    ] {
        f.add(
            format!("{PREFIX}{name}"),
            help,
            kind,
            l.clone(),
            value as f64,
        );
    }
    for (direction, value) in [
        ("handed", t.handed_spans.get()),
        ("taken", t.taken_spans.get()),
    ] {
        f.add(
            "shardgate_processor_tail_sampling_affinity_spans_total".into(),
            "Spans moved to the shard owning their trace (handed) or taken from peers (taken)",
            "counter",
            labels(&[("direction", direction), ("processor", id), ("shard", sh)]),
            value as f64,
        );
    }
}

/// A `probabilistic_sampler`'s decisions by policy, under otelcol's names (the spans count
/// under the current name and the deprecated one, as otelcol still reports both).
fn sampler_families(p: &ProcessorCounters, sh: &str, f: &mut Families) {
    let names: [(Signal, &[&str]); 2] = [
        (
            Signal::Traces,
            &[
                "otelcol_processor_probabilistic_sampler_count_spans_processed_total",
                "otelcol_processor_probabilistic_sampler_count_traces_sampled_total",
            ],
        ),
        (
            Signal::Logs,
            &["otelcol_processor_probabilistic_sampler_count_logs_sampled_total"],
        ),
    ];
    for policy in &p.policies {
        for (signal, families) in &names {
            let i = super::signal_index(*signal);
            for (sampled, value) in [("true", &policy.sampled[i]), ("false", &policy.dropped[i])] {
                if value.get() == 0 {
                    continue;
                }
                for name in *families {
                    f.add(
                        (*name).into(),
                        "Count of items that were sampled or not",
                        "counter",
                        labels(&[
                            ("policy", &policy.policy),
                            ("processor", &p.id),
                            ("sampled", sampled),
                            ("shard", sh),
                        ]),
                        value.get() as f64,
                    );
                }
            }
        }
    }
}

/// otelcol's `otelcol_processor_filter_{spans,datapoints,logs}.filtered`: what a filter
/// removed, the difference of its items in and out.
fn filter_family(p: &ProcessorCounters, signal: Signal, sh: &str, f: &mut Families) {
    let i = super::signal_index(signal);
    let (name, help) = match signal {
        Signal::Traces => ("spans", "Number of spans dropped by the filter processor"),
        Signal::Metrics => (
            "datapoints",
            "Number of metric data points dropped by the filter processor",
        ),
        Signal::Logs => ("logs", "Number of logs dropped by the filter processor"),
    };
    f.add(
        format!("otelcol_processor_filter_{name}_filtered_total"),
        help,
        "counter",
        labels(&[("filter", &p.id), ("shard", sh)]),
        p.incoming[i].get().saturating_sub(p.outgoing[i].get()) as f64,
    );
}

/// otelcol's batch processor counters and send-size histogram of one shard.
fn batch_families(shard: &ShardCounters, sh: &str, f: &mut Families, histograms: &mut Histograms) {
    let mut batch_sizes: BTreeMap<String, (Vec<u64>, f64, &'static [f64])> = BTreeMap::new();
    for b in &shard.batches {
        let l = labels(&[("processor", &b.id), ("shard", sh)]);
        f.add(
            "otelcol_processor_batch_batch_size_trigger_send_total".into(),
            "Number of times the batch was sent due to a size trigger",
            "counter",
            l.clone(),
            b.size_trigger.get() as f64,
        );
        f.add(
            "otelcol_processor_batch_timeout_trigger_send_total".into(),
            "Number of times the batch was sent due to a timeout trigger",
            "counter",
            l.clone(),
            b.timeout_trigger.get() as f64,
        );
        f.add(
            "otelcol_processor_batch_metadata_cardinality".into(),
            "Number of distinct metadata value combinations being processed",
            "gauge",
            l.clone(),
            b.metadata_cardinality.get() as f64,
        );
        let entry = batch_sizes.entry(l).or_insert_with(|| {
            (
                vec![0; b.send_size.bounds().len() + 1],
                0.0,
                b.send_size.bounds(),
            )
        });
        for (acc, c) in entry.0.iter_mut().zip(b.send_size.counts()) {
            *acc += c;
        }
        entry.1 += b.send_size.sum();
    }
    for (l, (counts, sum, bounds)) in batch_sizes {
        let mut cumulative = Vec::with_capacity(counts.len());
        let mut acc = 0;
        for c in &counts {
            acc += c;
            cumulative.push(acc);
        }
        write_histogram(
            histograms,
            "otelcol_processor_batch_batch_send_size",
            "Number of units in the batch",
            &l,
            bounds,
            &cumulative,
            sum,
        );
    }
}

/// Writes one histogram series; `cumulative` has one entry per bound plus `+Inf`.
pub(super) fn write_histogram(
    out: &mut Histograms,
    name: &'static str,
    help: &'static str,
    labels: &str,
    bounds: &[f64],
    cumulative: &[u64],
    sum: f64,
) {
    let out = &mut out.entry(name).or_insert_with(|| (help, String::new())).1;
    for (bound, c) in bounds.iter().zip(cumulative) {
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {c}");
    }
    let total = cumulative.last().copied().unwrap_or(0);
    let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {total}");
    let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
    let _ = writeln!(out, "{name}_count{{{labels}}} {total}");
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::config::ComponentId;

    #[test]
    fn renders_otelcol_names_once_per_family() {
        let config = crate::config::parse_str(
            "receivers: {otlp: {protocols: {grpc: }}}\nprocessors: {batch: }\nexporters: {debug: }\nservice: {pipelines: {traces: {receivers: [otlp], processors: [batch], exporters: [debug]}, logs: {receivers: [otlp], processors: [batch], exporters: [debug]}}}\n",
            "t",
        )
        .unwrap();
        let registry = Registry::new(2, &config);
        let shard = &registry.shards[1];
        let receiver = shard.receiver(&ComponentId::new("otlp")).unwrap();
        receiver.transport("grpc").unwrap().accepted[0].add(7);
        shard.batches[0].send_size.observe(7.0);
        let text = render(&registry);
        assert!(text.contains(
            "otelcol_receiver_accepted_spans_total{receiver=\"otlp\",shard=\"1\",transport=\"grpc\"} 7\n"
        ));
        assert!(text.contains(
            "otelcol_exporter_sent_log_records_total{exporter=\"debug\",shard=\"0\"} 0\n"
        ));
        assert!(text.contains(
            "otelcol_processor_batch_batch_send_size_count{processor=\"batch\",shard=\"1\"} 1\n"
        ));
        for line in text.lines().filter(|l| l.starts_with("# TYPE")) {
            assert_eq!(text.matches(&format!("{line}\n")).count(), 1, "{line}");
        }
        // One batch id in two pipelines is one series per shard.
        assert_eq!(
            text.matches("otelcol_processor_batch_timeout_trigger_send_total{")
                .count(),
            2
        );
        let scrape =
            prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
        assert!(scrape.samples.len() > 20);
    }
}
