#!/usr/bin/env bash
# Smoke load: load generator → shardgate → a second shardgate acting as the sink.
# Prints the generator's spans/s and latency percentiles, and the collector's CPU-seconds per
# million spans (from /proc) and RSS. A smoke run, not a benchmark: see benches/ and, later,
# scripts/bench.sh for figures to compare.
#
# Usage: scripts/smoke-load.sh [REQUESTS] [SPANS_PER_REQUEST]
set -euo pipefail
cd "$(dirname "$0")/.."
requests=${1:-2000}
spans=${2:-100}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

cargo build --release --locked -p shardgate -p shardgate-bench --bins
bin=target/release

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
sink_port=$(free_port)
port=$(free_port)

cat >"$work/sink.yaml" <<YAML
receivers: {otlp: {protocols: {grpc: {endpoint: "127.0.0.1:$sink_port"}}}}
processors: {batch: {}}
exporters: {debug: {verbosity: basic, sampling_initial: 1, sampling_thereafter: 1000}}
service:
  pipelines: {traces: {receivers: [otlp], processors: [batch], exporters: [debug]}}
shards: {cores: 1}
YAML
cat >"$work/collector.yaml" <<YAML
receivers: {otlp: {protocols: {grpc: {endpoint: "127.0.0.1:$port"}}}}
processors: {batch: {}}
exporters: {otlp: {endpoint: "127.0.0.1:$sink_port", tls: {insecure: true}, compression: none}}
service:
  pipelines: {traces: {receivers: [otlp], processors: [batch], exporters: [otlp]}}
shards: {cores: 1}
YAML

wait_ready() {
    for _ in $(seq 100); do grep -q "Everything is ready" "$1" && return 0; sleep 0.1; done
    echo "not ready: $1" >&2; cat "$1" >&2; return 1
}
"$bin/shardgate" --config "$work/sink.yaml" 2>"$work/sink.log" &
sink_pid=$!
"$bin/shardgate" --config "$work/collector.yaml" 2>"$work/collector.log" &
pid=$!
wait_ready "$work/sink.log"
wait_ready "$work/collector.log"

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
before=$(ticks $pid)
"$bin/shardgate-load" --endpoint "127.0.0.1:$port" --requests "$requests" --spans-per-request "$spans"
after=$(ticks $pid)
rss_kib=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
hwm_kib=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
total_spans=$((requests * spans))
awk -v t=$((after - before)) -v hz="$hz" -v n="$total_spans" \
    'BEGIN { printf "collector CPU: %.3f s for %d spans = %.0f CPU-ms per million spans\n", t/hz, n, (t/hz)*1000*1e6/n }'
echo "collector RSS: now ${rss_kib} KiB, peak ${hwm_kib} KiB"

kill -TERM $pid
wait $pid
kill -TERM $sink_pid
wait $sink_pid
echo "collector and sink drained and exited 0"
