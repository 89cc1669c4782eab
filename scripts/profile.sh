#!/usr/bin/env bash
# Where the collector's CPU goes at a fixed load: shardgate-load → shardgate (core 0) →
# shardgate-sink, with `perf record -g` on the collector, then the top symbols (self, and with
# children for the syscall and executor paths). Needs `perf` and release binaries
# (`cargo build --release -p shardgate -p shardgate-bench --bins`).
# Usage: scripts/profile.sh [RATE items/s, default 100000] [SECONDS, default 4]
# STORAGE=always|interval|never puts the exporter's queue on disk (sending_queue.storage).
# TAIL=1 puts bench.sh's tail_sampling (3 policies, decision_wait 200ms) before batch.
# OTTL=filter|transform puts bench.sh's --ottl filter (one condition) or transform (three
# statements) before batch. CALLGRAPH=dwarf records call graphs from DWARF (Rust release code
# has no frame pointers, so `-g` attributes most samples to no caller).
# KEEP=1 keeps the recording as /tmp/perf.data for further `perf report`/`perf script`.
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-100000}
seconds=${2:-4}
bin=target/release
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done; [ -n "${KEEP:-}" ] && cp "$work/perf.data" /tmp/perf.data; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port); sink_port=$(free_port); metrics_port=$(free_port)
# STORAGE=always|interval|never profiles with the exporter's queue on disk (file_storage).
queue="" extensions="" service_extensions=""
if [ -n "${STORAGE:-}" ]; then
    queue=", sending_queue: {storage: file_storage}"
    extensions="extensions: {file_storage: {directory: $work/queue, create_directory: true, fsync_policy: $STORAGE}}"
    service_extensions="  extensions: [file_storage]"
fi
tail="" chain="batch"
if [ -n "${TAIL:-}" ]; then
    tail=", tail_sampling: {decision_wait: 200ms, num_traces: 100000, policies: [{name: errors, type: status_code, status_code: {status_codes: [ERROR]}}, {name: slow, type: latency, latency: {threshold_ms: 500}}, {name: share, type: probabilistic, probabilistic: {sampling_percentage: 10}}]}"
    chain="tail_sampling, batch"
fi
case "${OTTL:-}" in
    filter)
        tail+=", filter/bench: {error_mode: ignore, traces: {span: ['attributes[\"bench.drop\"] == true']}}"
        chain="filter/bench, $chain" ;;
    transform)
        tail+=", transform/bench: {error_mode: ignore, trace_statements: ['set(span.attributes[\"bench.env\"], \"prod\")', 'set(span.attributes[\"bench.tier\"], 2)', 'delete_key(span.attributes, \"bench.secret\")']}"
        chain="transform/bench, $chain" ;;
esac
callgraph=(-F 3000 -g)
[ "${CALLGRAPH:-}" = dwarf ] && callgraph=(-F 500 --call-graph dwarf,16384)
cat >"$work/c.yaml" <<YAML
receivers: {otlp: {protocols: {grpc: {endpoint: "127.0.0.1:$port"}}}}
processors: {batch: {send_batch_size: 8192, timeout: 200ms}$tail}
exporters: {otlp: {endpoint: "127.0.0.1:$sink_port", tls: {insecure: true}, compression: none$queue}}
$extensions
service:
$service_extensions
  telemetry: {metrics: {readers: [{pull: {exporter: {prometheus: {host: 127.0.0.1, port: $metrics_port}}}}]}}
  pipelines: {traces: {receivers: [otlp], processors: [$chain], exporters: [otlp]}}
shards: {cores: [0]}
YAML
taskset -c 1 "$bin/shardgate-sink" --endpoint "127.0.0.1:$sink_port" >/dev/null 2>&1 &
pids+=($!)
taskset -c 0 "$bin/shardgate" --config "$work/c.yaml" >/dev/null 2>"$work/collector.log" &
collector=$!
pids+=("$collector")
sleep 0.5
taskset -c 1 "$bin/shardgate-load" --endpoint "127.0.0.1:$port" --protocol grpc --signal traces \
    --items-per-request 100 --cpu 1 --rate "$rate" --duration $((seconds + 3)) >"$work/load.out" &
load=$!
sleep 2
# Function-call IPIs (the "CAL" row of /proc/interrupts) over the recorded window: on a VM
# each wake-up of a halted core is one, and on loopback the sender pays for it.
ipis() { awk '$1 == "CAL:" {print $2, $3}' /proc/interrupts; }
ipi0=$(ipis)
perf record "${callgraph[@]}" -p "$collector" -o "$work/perf.data" -- sleep "$seconds" 2>/dev/null
ipi1=$(ipis)
wait "$load"
grep '^LOAD' "$work/load.out"
read -r a0 a1 <<<"$ipi0"; read -r b0 b1 <<<"$ipi1"
echo "== function-call IPIs per second: cpu0 $(( (b0 - a0) / seconds )), cpu1 $(( (b1 - a1) / seconds ))" \
    "(requests per second: $(( rate / 100 )))" \
    "guest_halt_poll_ns=$(cat /sys/module/haltpoll/parameters/guest_halt_poll_ns 2>/dev/null || echo n/a)"
perf report -i "$work/perf.data" --no-children --sort sym --stdio >"$work/self.txt" 2>/dev/null
perf report -i "$work/perf.data" --children --sort sym --stdio >"$work/children.txt" 2>/dev/null
echo "== self time, top 15"
grep -E '^ +[0-9]' "$work/self.txt" | awk 'NR <= 15'
echo "== with children: sockets, executor, scan"
grep -E '^ +[0-9]' "$work/children.txt" |
    grep -E '__libc_sendmsg|__libc_recv|io_uring_submit|link_rings_and_sleep|\] syscall$|scan_message' |
    awk 'NR <= 8'
