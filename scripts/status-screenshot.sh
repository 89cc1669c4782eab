#!/usr/bin/env bash
# Renders shardgate's live status page (/status) in headless Chromium while load runs, saves
# target/status.png and checks the page shows live numbers (a non-zero items/s).
# Not part of CI (needs Chromium); run it by hand: scripts/status-screenshot.sh
#
# Usage: scripts/status-screenshot.sh [debug|release]   (default: debug)
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${1:-debug}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

if ! command -v chromium >/dev/null 2>&1; then
    apt-get install -y chromium
fi
if [ "$profile" = release ]; then
    cargo build --release --locked -p shardgate -p shardgate-bench --bins
else
    cargo build --locked -p shardgate -p shardgate-bench --bins
fi
bin=target/$profile

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
sink_port=$(free_port)
port=$(free_port)
metrics_port=$(free_port)
cores=$(( $(nproc) >= 2 ? 2 : 1 ))

cat >"$work/sink.yaml" <<YAML
receivers: {otlp: {protocols: {grpc: {endpoint: "127.0.0.1:$sink_port"}}}}
exporters: {debug: {verbosity: basic, sampling_initial: 1, sampling_thereafter: 100000}}
service:
  telemetry: {metrics: {level: none}}
  pipelines: {traces: {receivers: [otlp], exporters: [debug]}}
shards: {cores: 1}
YAML
cat >"$work/collector.yaml" <<YAML
receivers: {otlp: {protocols: {grpc: {endpoint: "127.0.0.1:$port"}}}}
processors: {batch: {send_batch_size: 512, timeout: 50ms}}
exporters: {otlp: {endpoint: "127.0.0.1:$sink_port", tls: {insecure: true}, compression: none}}
service:
  telemetry:
    metrics:
      readers: [{pull: {exporter: {prometheus: {host: 127.0.0.1, port: $metrics_port}}}}]
  pipelines: {traces: {receivers: [otlp], processors: [batch], exporters: [otlp]}}
shards: {cores: $cores}
YAML

wait_ready() {
    for _ in $(seq 100); do grep -q "Everything is ready" "$1" && return 0; sleep 0.1; done
    echo "not ready: $1" >&2; cat "$1" >&2; return 1
}
"$bin/shardgate" --config "$work/sink.yaml" >"$work/sink.log" 2>&1 &
wait_ready "$work/sink.log"
"$bin/shardgate" --config "$work/collector.yaml" >"$work/collector.log" 2>&1 &
wait_ready "$work/collector.log"

# Steady load for the whole capture, in rounds so it outlasts Chromium's start.
(
    for _ in $(seq 60); do
        "$bin/shardgate-load" --endpoint "127.0.0.1:$port" --requests 400 --spans-per-request 50 \
            --connections 8 --in-flight 2 >/dev/null 2>&1 || true
    done
) &
sleep 2.5

url="http://127.0.0.1:$metrics_port/status"
chrome=(chromium --headless --no-sandbox --disable-gpu --disable-background-networking
    --disable-component-update --disable-sync --no-first-run --user-data-dir="$(mktemp -d)"
    --window-size=1280,900 --virtual-time-budget=3000)
mkdir -p target
rm -f target/status.png
"${chrome[@]}" --screenshot=target/status.png "$url" 2>"$work/chrome.log" || {
    cat "$work/chrome.log" >&2; exit 1; }
"${chrome[@]}" --dump-dom "$url" >"$work/dom.html" 2>>"$work/chrome.log"

test -s target/status.png || { echo "FAIL: no screenshot" >&2; exit 1; }
# Every shard's items/s cell; at least one must be non-zero while load runs.
rates=$(grep -o '<td class="in-rate">[0-9][^<]*' "$work/dom.html" | sed 's/.*>//' || true)
echo "items/s per shard: $(echo $rates)"
if ! echo "$rates" | grep -q '[1-9]'; then
    echo "FAIL: the page shows no live items/s" >&2
    exit 1
fi
echo "OK: target/status.png ($(stat -c %s target/status.png) bytes)"
