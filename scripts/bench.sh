#!/usr/bin/env bash
# Benchmark: shardgate-load → shardgate → shardgate-sink on this machine, with the collector
# pinned to one core and load + sink pinned to another.
#
# Per run it prints: items/s per shard core (acked by the collector), the collector's
# CPU-ms per million items (utime+stime from /proc/PID/stat over the measured window),
# client latency p50/p99/p999, RSS idle (after ready), steady (median VmRSS sample while
# loaded) and peak (VmHWM), start-to-accepting time (ready_ms: from the collector's exec to
# the first accepted TCP connect, polled every ~0.1 ms), both cores' utilisation (the CPU time
# of the processes pinned to each core over the wall time; /proc/stat's per-CPU ticks are
# sampled and too coarse for a mostly idle core),
# and loss (acked − received after SIGTERM drain; must be 0) and duplicates at the sink.
# Latency comes three ways: the client's (send → answer, what a user sees), the collector's own
# receive → acknowledge histogram from /metrics (server_p99_le_us: the bucket bound holding the
# 99th percentile; shardgate only), and a reference path measured in the same run: the same
# generator against shardgate-sink pinned to the collector's core (ref_p50_us/ref_p99_us, gRPC
# at fixed rates), i.e. the floor that the generator, loopback and one hop set. The same
# reference run gives a CPU floor: the sink's CPU-ms per million items
# (ref_cpu_ms_per_million; it receives, scans, checks ids and answers, but exports nothing) and
# the collector's figure as a multiple of it (cpu_vs_ref), both cores and load identical.
# Every scenario runs --repeats times (default 3) and prints min/median/max of each figure.
#
# Usage: scripts/bench.sh [options]
#   --rate N               items/s; repeatable; 0 = closed loop (max). Default: 100000 400000 0
#   --protocol P           grpc | http-proto | http-json (default grpc)
#   --compression C        request compression into the collector: none | gzip | zstd
#   --export-compression C collector → sink compression: none | gzip | zstd (default none)
#   --duration S           measured seconds per run (default 10)
#   --warmup S             warm-up seconds before each measured run (default 2)
#   --items-per-request N  (default 100)
#   --profile FILE         tuning profile passed to shardgate --profile
#   --repeats N            (default 3)
#   --collector-cpu N      (default 0)   --load-cpu N   (default 1)
#   --collector-cpus LIST  run the collector with one shard per listed CPU (e.g. 0,1) instead
#                          of one on --collector-cpu; the reference run is skipped then (its
#                          sink has one core); RESULT then also gives min_shard_share (the
#                          smallest shard's share of the items exported) and
#                          handed_off_requests
#   --connections N        client connections (default 2)   --in-flight N  per connection (4)
#   --attributes N         put an `attributes` processor with N upsert actions before batch,
#                          so the collector, not the generator or the sink, is what limits
#                          a closed loop (each request's spans are decoded and re-encoded)
#   --rebalance            run every repeat twice, rebalancing off then on
#                          (shards.rebalance.enabled), and print the on/off ratio of each
#                          figure's median. With --connections 1 --collector-cpus 0,1: one
#                          hot connection into two shards
#   --sink-nice N          run the sink at this nice value (default 0). The sink shares the
#                          load core with the generator, which measures the client latency;
#                          each export it reads and checks (4 MiB at batch 8192) delays the
#                          generator's answers, and so the client p99. A positive value lets
#                          the generator preempt it; too high and the sink falls behind and
#                          the collector refuses (the `refused` column), so it is off by default.
#   --signal S             traces | metrics | logs (default traces)
#   --tls                  run every repeat twice, plaintext then TLS in and out (load → TLS
#                          receiver, TLS exporter → TLS sink; a test CA made with openssl),
#                          and print the TLS/plaintext ratio of each figure's median
#   --storage              run every repeat four times: the in-memory sending queue, then a
#                          durable one (sending_queue.storage on file_storage, in a temp
#                          directory) with fsync_policy always, interval and never; print each
#                          policy's ratio to the in-memory queue for each figure's median
#   --storage-policies L   with --storage: only these fsync policies (comma-separated, e.g.
#                          interval), each still against the in-memory queue of the same repeat
#   --fsync-interval D     with --storage: file_storage's fsync_interval (default 1s; 1h
#                          takes the periodic sync out, to see what it costs)
#   --sampler PCT          run every repeat twice, batch alone then probabilistic_sampler
#                          (PCT %, hash_seed mode) before batch, and print the on/off ratio
#                          of each figure's median; CPU per million counts items sent, and
#                          the sampled run's `loss` is what the sampler dropped (its share is
#                          printed as kept_share, not checked as loss)
#   --ottl                 run every repeat three times: batch alone, then a `filter` with one
#                          condition that matches nothing (every item is decoded and tested,
#                          none dropped) before batch, then a `transform` with three statements
#                          (two sets and a delete_key) before batch; print each one's ratio to
#                          batch alone for each figure's median
#   --tail-sampling        run every repeat twice, batch alone then tail_sampling (3 policies:
#                          status_code ERROR, latency ≥ 500 ms, probabilistic 10 %;
#                          decision_wait 200ms, num_traces 100000) before batch, and print the
#                          on/off ratio of each figure's median (CPU per million counts items
#                          sent; the dropped share is printed as kept_share, not as loss)
#   --affinity             the cost of trace affinity: run every repeat twice with
#                          tail_sampling + batch, one shard on --collector-cpu, then one shard
#                          per --collector-cpus (give two, e.g. 0,1: traces are owned by both
#                          shards, so about half the spans cross cores), and print the
#                          two-shard/one-shard ratio of each figure's median (CPU per million
#                          is the whole process's; other two-shard costs are included)
#   --loadbalancing        run every repeat twice, the otlp exporter then the loadbalancing
#                          exporter (routing_key traceID, static resolver) to the same sink as
#                          its one backend, and print the loadbalancing/otlp ratio of each
#                          figure's median: the cost of routing each span by its trace id
#   --no-build             use the binaries already in target/release
# Environment: COLLECTOR_CMD overrides how the collector is started (used by compare.sh);
# it is run as `$COLLECTOR_CMD PORT SINK_PORT WORKDIR`, starts the collector in the
# background and writes its pid to WORKDIR/collector.pid; if it also writes bash's
# $EPOCHREALTIME to WORKDIR/collector.t0 just before exec, ready_ms counts from there.
set -euo pipefail
cd "$(dirname "$0")/.."

rates=()
protocol=grpc
compression=none
export_compression=none
duration=10
warmup=2
items=100
profile=""
repeats=3
collector_cpu=0
load_cpu=1
signal=traces
sink_nice=0
build=1
tls_compare=0
run_tls=0
collector_cpus=""
connections=2
in_flight=4
rebalance_compare=0
run_rebalance=""
attributes=0
storage_compare=0
storage_policies="always interval never"
fsync_interval=1s
sampler_pct=""
lb_compare=0
run_lb=0
run_sampler=0
tail_compare=0
affinity_compare=0
run_tail=0
run_cores=
run_storage=memory
ottl_compare=0
run_ottl=batch
while [ $# -gt 0 ]; do
    case "$1" in
        --rate) rates+=("$2"); shift 2 ;;
        --protocol) protocol=$2; shift 2 ;;
        --compression) compression=$2; shift 2 ;;
        --export-compression) export_compression=$2; shift 2 ;;
        --duration) duration=$2; shift 2 ;;
        --warmup) warmup=$2; shift 2 ;;
        --items-per-request) items=$2; shift 2 ;;
        --profile) profile=$2; shift 2 ;;
        --repeats) repeats=$2; shift 2 ;;
        --collector-cpu) collector_cpu=$2; shift 2 ;;
        --load-cpu) load_cpu=$2; shift 2 ;;
        --signal) signal=$2; shift 2 ;;
        --sink-nice) sink_nice=$2; shift 2 ;;
        --no-build) build=0; shift ;;
        --tls) tls_compare=1; shift ;;
        --collector-cpus) collector_cpus=$2; shift 2 ;;
        --connections) connections=$2; shift 2 ;;
        --in-flight) in_flight=$2; shift 2 ;;
        --rebalance) rebalance_compare=1; shift ;;
        --attributes) attributes=$2; shift 2 ;;
        --storage) storage_compare=1; shift ;;
        --storage-policies) storage_policies=${2//,/ }; shift 2 ;;
        --fsync-interval) fsync_interval=$2; shift 2 ;;
        --sampler) sampler_pct=$2; shift 2 ;;
        --ottl) ottl_compare=1; shift ;;
        --tail-sampling) tail_compare=1; shift ;;
        --affinity) affinity_compare=1; shift ;;
        --loadbalancing) lb_compare=1; shift ;;
        -h|--help) sed -n '2,90p' "$0"; exit 0 ;;
        *) echo "bench.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
[ ${#rates[@]} -gt 0 ] || rates=(100000 400000 0)
[ -n "$collector_cpus" ] || collector_cpus=$collector_cpu
sampler_compare=0
[ -n "$sampler_pct" ] && sampler_compare=1
if [ $((tls_compare + rebalance_compare + storage_compare + sampler_compare + ottl_compare + tail_compare + affinity_compare + lb_compare)) -gt 1 ]; then
    echo "bench.sh: --tls, --rebalance, --storage, --sampler, --ottl, --tail-sampling, --affinity and --loadbalancing compare one thing each; give one" >&2; exit 2
fi
if [ "$affinity_compare" = 1 ] && [ "$collector_cpus" = "$collector_cpu" ]; then
    echo "bench.sh: --affinity needs --collector-cpus with two CPUs (e.g. 0,1)" >&2; exit 2
fi
run_cores=$collector_cpus

if [ "$build" = 1 ]; then
    cargo build --release --locked -p shardgate -p shardgate-bench --bins >&2
fi
bin=target/release
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# A test CA and a certificate for localhost/127.0.0.1, for --tls.
make_certs() {
    local d=$work/tls
    mkdir -p "$d"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj /CN=bench-ca -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost \
        -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' >"$d/ext"
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
        -days 2 -extfile "$d/ext" -out "$d/server.pem" 2>/dev/null
}
[ "$tls_compare" = 1 ] && make_certs
tls_dir=$work/tls
sink_tls_args() { [ "$run_tls" = 1 ] && echo "--tls-cert $tls_dir/server.pem --tls-key $tls_dir/server.key" || true; }
load_tls_args() { [ "$run_tls" = 1 ] && echo "--tls-ca $tls_dir/ca.pem" || true; }

rebalance_yaml() {
    case "$run_rebalance" in
        0) echo ", rebalance: {enabled: false}" ;;
        1) echo ", rebalance: {enabled: true}" ;;
    esac
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ticks() { awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$1/stat"; }
# busy and total jiffies of one CPU from /proc/stat.
hz=$(getconf CLK_TCK)

start_shardgate() { # port sink_port workdir → writes config, starts, writes workdir/collector.pid
    local port=$1 sink_port=$2 dir=$3
    local receiver="grpc: {endpoint: \"127.0.0.1:$port\"}"
    case "$protocol" in http-*) receiver="http: {endpoint: \"127.0.0.1:$port\"}" ;; esac
    local exporter_tls="tls: {insecure: true}" sink_host=127.0.0.1
    if [ "$run_tls" = 1 ]; then
        receiver="grpc: {endpoint: \"127.0.0.1:$port\", tls: {cert_file: $tls_dir/server.pem, key_file: $tls_dir/server.key}}"
        exporter_tls="tls: {ca_file: $tls_dir/ca.pem}"
        sink_host=localhost
    fi
    local actions="" chain="batch"
    if [ "$attributes" -gt 0 ]; then
        local a
        for a in $(seq "$attributes"); do actions+="{key: bench.attr$a, value: v$a, action: upsert}, "; done
        actions=", attributes: {actions: [${actions%, }]}"
        chain="attributes, batch"
    fi
    if [ "$run_sampler" = 1 ]; then
        actions+=", probabilistic_sampler: {sampling_percentage: $sampler_pct, hash_seed: 1}"
        chain="probabilistic_sampler, $chain"
    fi
    # --ottl: the filter and transform of this run (item context named for the signal).
    local item=span filter_key="traces: {span"
    case "$signal" in
        metrics) item=datapoint filter_key="metrics: {datapoint" ;;
        logs) item=log filter_key="logs: {log_record" ;;
    esac
    case "$run_ottl" in
        filter)
            actions+=", filter/bench: {error_mode: ignore, $filter_key: ['attributes[\"bench.drop\"] == true']}}"
            chain="filter/bench, $chain" ;;
        transform)
            actions+=", transform/bench: {error_mode: ignore, ${signal%s}_statements: ['set($item.attributes[\"bench.env\"], \"prod\")', 'set($item.attributes[\"bench.tier\"], 2)', 'delete_key($item.attributes, \"bench.secret\")']}"
            chain="transform/bench, $chain" ;;
    esac
    if [ "$run_tail" = 1 ]; then
        # One span per trace from the generator: at 100k spans/s and a 200 ms wait about 20k
        # traces (10 MB) are held, within num_traces and the shard's 32 MiB budget.
        actions+=", tail_sampling: {decision_wait: 200ms, num_traces: 100000, policies: ["
        actions+="{name: errors, type: status_code, status_code: {status_codes: [ERROR]}}, "
        actions+="{name: slow, type: latency, latency: {threshold_ms: 500}}, "
        actions+="{name: share, type: probabilistic, probabilistic: {sampling_percentage: 10}}]}"
        chain="tail_sampling, $chain"
    fi
    local queue="" extensions="" service_extensions=""
    if [ "$run_storage" != memory ]; then
        queue=", sending_queue: {storage: file_storage}"
        extensions="extensions: {file_storage: {directory: $dir/queue, create_directory: true, fsync_policy: $run_storage, fsync_interval: $fsync_interval}}"
        service_extensions="  extensions: [file_storage]"
    fi
    local exporter="otlp: {endpoint: \"$sink_host:$sink_port\", $exporter_tls, compression: $export_compression$queue}" exporter_id=otlp
    if [ "$run_lb" = 1 ]; then
        exporter="loadbalancing: {routing_key: traceID, protocol: {otlp: {$exporter_tls, compression: $export_compression$queue}}, resolver: {static: {hostnames: [\"$sink_host:$sink_port\"]}}}"
        exporter_id=loadbalancing
    fi
    cat >"$dir/collector.yaml" <<YAML
receivers: {otlp: {protocols: {$receiver}}}
processors: {batch: {send_batch_size: 8192, timeout: 200ms}$actions}
exporters: {$exporter}
$extensions
service:
$service_extensions
  telemetry: {metrics: {readers: [{pull: {exporter: {prometheus: {host: 127.0.0.1, port: $metrics_port}}}}]}}
  pipelines: {$signal: {receivers: [otlp], processors: [$chain], exporters: [$exporter_id]}}
shards: {cores: [$run_cores]$(rebalance_yaml)}
YAML
    local args=(--config "$dir/collector.yaml")
    [ -n "$profile" ] && args+=(--profile "$profile")
    # The subshell pins itself, notes the start time and becomes the collector (exec), so the
    # start-to-accepting figure counts neither taskset's own exec nor a clock process.
    (
        taskset -p -c "$run_cores" "$BASHPID" >/dev/null
        echo "$EPOCHREALTIME" >"$dir/collector.t0"
        exec "$bin/shardgate" "${args[@]}" >"$dir/collector.out" 2>"$dir/collector.log"
    ) &
    echo $! >"$dir/collector.pid"
}

# Start-to-accepting poller: connects every ~0.1 ms until the port accepts and prints that
# moment (ns since the epoch). A python loop, started before the collector and pinned to the
# load core: bash's own poll forked a subshell and a `sleep` per attempt, ~5 ms each here.
cat >"$work/poll_accept.py" <<'PY'
import socket, sys, time
port, ready_file = int(sys.argv[1]), sys.argv[2]
open(ready_file, "w").close()
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", port))
    except OSError:
        s.close()
        time.sleep(0.0001)
        continue
    print(time.time_ns())
    s.close()
    sys.exit(0)
sys.exit(1)
PY

# epoch_ns "SECONDS.MICROSECONDS" (bash's $EPOCHREALTIME) → nanoseconds.
epoch_ns() { local s=${1%.*} us=${1#*.}; echo $(( s * 1000000000 + 10#$us * 1000 )); }

wait_ready() { # pid port → returns once the port accepts a TCP connection
    # Polls with bash's /dev/tcp every few milliseconds (a subshell and a `sleep` per attempt):
    # good enough to know the reference sink is up. The collector's start is timed by
    # poll_accept.py instead.
    local pid=$1 port=$2
    for _ in $(seq 30000); do
        kill -0 "$pid" 2>/dev/null || { echo "collector exited early" >&2; return 1; }
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.001
    done
    echo "collector not accepting on $port" >&2
    return 1
}

field() { sed -n "s/.*\b$2=\([^ ]*\).*/\1/p" <<<"$1" | head -1; }

one_run() { # rate → prints one RESULT line
    local rate=$1 dir
    dir=$(mktemp -d -p "$work")
    local port sink_port metrics_port
    port=$(free_port); sink_port=$(free_port); metrics_port=$(free_port)
    # shellcheck disable=SC2046
    nice -n "$sink_nice" taskset -c "$load_cpu" "$bin/shardgate-sink" --endpoint "127.0.0.1:$sink_port" \
        $(sink_tls_args) >"$dir/sink.out" 2>"$dir/sink.log" &
    local sink_pid=$!
    pids+=("$sink_pid")
    sleep 0.2
    local t0 pid t1 poller
    # Start-to-accepting: from the collector's exec (or, for a COLLECTOR_CMD that does not
    # write WORKDIR/collector.t0, from running that command) to the first accepted connect.
    taskset -c "$load_cpu" python3 "$work/poll_accept.py" "$port" "$dir/poll.ready" >"$dir/poll.out" &
    poller=$!
    for _ in $(seq 500); do [ -e "$dir/poll.ready" ] && break; sleep 0.01; done
    t0=$(epoch_ns "$EPOCHREALTIME")
    if [ -n "${COLLECTOR_CMD:-}" ]; then
        $COLLECTOR_CMD "$port" "$sink_port" "$dir"
    else
        start_shardgate "$port" "$sink_port" "$dir"
    fi
    pid=$(cat "$dir/collector.pid")
    pids+=("$pid")
    # Only the pinned poller connects while the collector starts (a second, forking poll could
    # land on the collector's core); here we just notice a collector that died.
    while kill -0 "$poller" 2>/dev/null; do
        kill -0 "$pid" 2>/dev/null || { kill "$poller" 2>/dev/null; echo "collector exited early" >&2; return 1; }
        sleep 0.01
    done
    wait "$poller" || { echo "collector not accepting on $port" >&2; return 1; }
    t1=$(cat "$dir/poll.out")
    if [ -s "$dir/collector.t0" ]; then t0=$(epoch_ns "$(cat "$dir/collector.t0")"); fi
    local ready_ms
    ready_ms=$(awk -v d=$((t1 - t0)) 'BEGIN { printf "%.1f", d / 1e6 }')
    sleep 0.5
    local rss_idle
    rss_idle=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
    local load_args=(--endpoint "127.0.0.1:$port" --protocol "$protocol" --signal "$signal"
        --compression "$compression" --items-per-request "$items" --cpu "$load_cpu" --rate "$rate"
        --connections "$connections" --in-flight "$in_flight")
    # shellcheck disable=SC2207
    load_args+=($(load_tls_args))
    local warm
    warm=$("$bin/shardgate-load" "${load_args[@]}" --duration "$warmup" --run-id 1 | grep '^LOAD')
    local c0 k0 w0
    c0=$(ticks "$pid"); k0=$(ticks "$sink_pid"); w0=$(date +%s%N)
    # Sample RSS while loaded.
    ( while kill -0 "$pid" 2>/dev/null; do awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null; sleep 0.5; done ) >"$dir/rss" &
    local sampler=$!
    local main
    # The measured run's ids start far above the warm-up's (and below the sink's ids_max of
    # 2^30), so every duplicate the sink counts is a real one.
    main=$("$bin/shardgate-load" "${load_args[@]}" --duration "$duration" --run-id 2 \
        --seq-start 500000000 | grep '^LOAD')
    local c1 k1 w1
    c1=$(ticks "$pid"); k1=$(ticks "$sink_pid"); w1=$(date +%s%N)
    kill "$sampler" 2>/dev/null || true
    local hwm server_p99
    hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
    server_p99=$(server_p99_us "$metrics_port")
    local split
    split=$(shard_split "$metrics_port")
    kill -TERM "$pid"
    # A collector started by COLLECTOR_CMD is not our child: poll until it has drained and exited.
    if ! wait "$pid" 2>/dev/null; then
        for _ in $(seq 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    fi
    kill -TERM "$sink_pid"
    wait "$sink_pid" || true
    local sink
    sink=$(grep '^SINK' "$dir/sink.out" || echo "SINK items=0 duplicates=0")
    local ref
    ref=$(reference_run "$rate")
    python3 - "$rate" "$warm" "$main" "$sink" "$c0" "$c1" "$hz" "$k0" "$k1" "$w0" "$w1" \
        "$rss_idle" "$hwm" "$ready_ms" "$dir/rss" "$server_p99" "$ref" "$split" <<'PY'
import sys, statistics
rate, warm, main, sink = sys.argv[1:5]
server_p99, ref, split = sys.argv[16], sys.argv[17], sys.argv[18]
c0, c1, hz = int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
k0, k1, w0, w1 = map(int, sys.argv[8:12])
rss_idle, hwm, ready_ms, rss_file = sys.argv[12:16]
kv = lambda line: dict(p.split("=", 1) for p in line.split()[1:])
w, m, s = kv(warm), kv(main), kv(sink)
acked = int(m["acked"])
cpu_s = (c1 - c0) / hz
wall_s = max(1e-9, (w1 - w0) / 1e9)
collector_util = 100.0 * cpu_s / wall_s
load_util = 100.0 * (float(m["cpu_s"]) + (k1 - k0) / hz) / wall_s
rss = [int(x) for x in open(rss_file).read().split() if x.isdigit()]
steady = int(statistics.median(rss)) if rss else 0
loss = int(w["acked"]) + acked - int(s["items"])
dups = int(s.get("duplicates", 0))
# The reference sink's CPU-ms per million items it acknowledged (its floor for one gRPC hop).
ref_cpu = 1000 * int(kv(ref)["ref_ticks"]) / hz * 1e6 / max(1, int(kv(ref)["acked"])) if ref else 0
print(f"RESULT rate={rate} items_per_s_per_core={m['items_per_s']} "
      f"cpu_ms_per_million={1000 * cpu_s * 1e6 / max(1, acked):.0f} "
      f"p50_us={m['p50_us']} p99_us={m['p99_us']} p999_us={m['p999_us']} "
      f"rss_idle_kib={rss_idle} rss_steady_kib={steady} rss_peak_kib={hwm} "
      f"ready_ms={ready_ms} collector_core_util_pct={collector_util:.0f} "
      f"load_core_util_pct={load_util:.0f} load_cpu_s={m['cpu_s']} "
      f"refused={m['refused']} failed={m['failed']} loss={loss} duplicates={dups} "
      f"acked_total={int(w['acked']) + acked} received={s['items']}"
      + (f" server_p99_le_us={server_p99}" if server_p99 else "")
      + (f" {split}" if split else "")
      + (f" ref_p50_us={kv(ref)['p50_us']} ref_p99_us={kv(ref)['p99_us']}" if ref else "")
      + (f" ref_cpu_ms_per_million={ref_cpu:.0f} cpu_vs_ref={1000 * cpu_s * 1e6 / max(1, acked) / max(1e-9, ref_cpu):.2f}"
         if ref else ""))
PY
}

server_p99_us() { # metrics_port → the receive→ack histogram bucket bound (µs) holding p99
    [ -z "${COLLECTOR_CMD:-}" ] || return 0
    python3 - "$1" <<'PY' || true
import sys, urllib.request
text = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=5).read().decode()
buckets = {}
for line in text.splitlines():
    if line.startswith("shardgate_receiver_request_duration_seconds_bucket"):
        le = line.split('le="', 1)[1].split('"', 1)[0]
        buckets[le] = buckets.get(le, 0) + float(line.rsplit(" ", 1)[1])
total = buckets.get("+Inf", 0)
for le, count in sorted(((float(k), v) for k, v in buckets.items()), key=lambda kv: kv[0]):
    if total and count >= 0.99 * total:
        print(f"{le * 1e6:.0f}")
        break
PY
}

shard_split() { # metrics_port → with several shards: the smallest shard's share of the items
    # exported, and the requests handed between shards (shardgate only)
    [ -z "${COLLECTOR_CMD:-}" ] && [ "$collector_cpus" != "$collector_cpu" ] || return 0
    python3 - "$1" <<'PY' || true
import sys, urllib.request
text = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=5).read().decode()
sent, handed = {}, 0.0
for line in text.splitlines():
    if line.startswith("otelcol_exporter_sent_"):
        shard = line.split('shard="', 1)[1].split('"', 1)[0]
        sent[shard] = sent.get(shard, 0) + float(line.rsplit(" ", 1)[1])
    elif line.startswith("shardgate_rebalance_handed_off_requests_total"):
        handed += float(line.rsplit(" ", 1)[1])
total = sum(sent.values())
if total:
    print(f"min_shard_share={min(sent.values()) / total:.2f} handed_off_requests={handed:.0f}")
PY
}

reference_run() { # rate → one LOAD line: the generator against shardgate-sink on the collector core
    [ "$protocol" = grpc ] && [ "$1" != 0 ] && [ "$collector_cpus" = "$collector_cpu" ] || return 0
    local ref_port ref_pid
    ref_port=$(free_port)
    # shellcheck disable=SC2046
    taskset -c "$collector_cpu" "$bin/shardgate-sink" --endpoint "127.0.0.1:$ref_port" $(sink_tls_args) >/dev/null 2>&1 &
    ref_pid=$!
    pids+=("$ref_pid")
    wait_ready "$ref_pid" "$ref_port" || return 0
    # The sink's CPU is read over the generator's whole run (no warm-up here), so it includes
    # the connection set-up: a slight overestimate of the floor, never an underestimate.
    local r0 r1 line
    r0=$(ticks "$ref_pid")
    line=$("$bin/shardgate-load" --endpoint "127.0.0.1:$ref_port" --protocol grpc --signal "$signal" \
        --compression "$compression" --items-per-request "$items" --cpu "$load_cpu" \
            --rate "$1" --duration "$duration" --run-id 3 --connections "$connections" \
        --in-flight "$in_flight" $(load_tls_args) | grep '^LOAD') || true
    r1=$(ticks "$ref_pid")
    kill -TERM "$ref_pid" 2>/dev/null || true
    wait "$ref_pid" 2>/dev/null || true
    if [ -n "$line" ]; then echo "$line ref_ticks=$((r1 - r0))"; fi
}

summarise() { # reads RESULT lines on stdin
    python3 -c '
import sys, statistics
rows = [dict(p.split("=", 1) for p in l.split()[1:]) for l in sys.stdin if l.startswith("RESULT")]
if not rows: sys.exit("no results")
for key in rows[0]:
    if key == "rate": continue
    vals = sorted(float(r[key]) for r in rows)
    fmt = lambda v: f"{v:.0f}" if abs(v) >= 10 or v == int(v) else f"{v:.2f}"
    print(f"  {key:28s} min {fmt(vals[0]):>10s}  median {fmt(statistics.median(vals)):>10s}  max {fmt(vals[-1]):>10s}")
'
}

# Prints TAG rate=R key=new/base=ratio for each figure's median over two sets of RESULT lines.
ratio_line() { # base_results new_results rate tag
    python3 -c '
import sys, statistics
def rows(text):
    return [dict(p.split("=", 1) for p in l.split()[1:]) for l in text.splitlines() if l.startswith("RESULT")]
base, new = rows(sys.argv[1]), rows(sys.argv[2])
med = lambda rs, k: statistics.median(float(r[k]) for r in rs)
keys = ["cpu_ms_per_million", "items_per_s_per_core", "p50_us", "p99_us", "rss_steady_kib"]
print("   " + sys.argv[4] + " rate=" + sys.argv[3] + " " + " ".join(
    f"{k}={med(new, k):.0f}/{med(base, k):.0f}={med(new, k) / max(1e-9, med(base, k)):.2f}" for k in keys))
' "$1" "$2" "$3" "$4"
}

echo "== shardgate bench $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1))"
echo "   protocol=$protocol signal=$signal compression in=$compression out=$export_compression items/request=$items duration=${duration}s warmup=${warmup}s repeats=$repeats profile=${profile:-default} collector cpu $collector_cpu, load+sink cpu $load_cpu, sink nice $sink_nice"
status=0
for rate in "${rates[@]}"; do
    label="rate $rate items/s"
    [ "$rate" = 0 ] && label="closed loop (max)"
    echo "-- $label"
    results=""
    tls_results=""
    declare -A by_policy=()
    for i in $(seq "$repeats"); do
        modes=(0)
        [ "$tls_compare" = 1 ] || [ "$rebalance_compare" = 1 ] || [ "$sampler_compare" = 1 ] || [ "$lb_compare" = 1 ] && modes=(0 1)
        [ "$tail_compare" = 1 ] || [ "$affinity_compare" = 1 ] && modes=(0 1)
        # shellcheck disable=SC2206
        [ "$storage_compare" = 1 ] && modes=(memory $storage_policies)
        [ "$ottl_compare" = 1 ] && modes=(batch filter transform)
        for mode in "${modes[@]}"; do
            run_tls=0
            [ "$tls_compare" = 1 ] && run_tls=$mode
            [ "$rebalance_compare" = 1 ] && run_rebalance=$mode
            [ "$sampler_compare" = 1 ] && run_sampler=$mode
            [ "$lb_compare" = 1 ] && run_lb=$mode
            [ "$storage_compare" = 1 ] && run_storage=$mode
            [ "$ottl_compare" = 1 ] && run_ottl=$mode
            [ "$tail_compare" = 1 ] && run_tail=$mode
            if [ "$affinity_compare" = 1 ]; then
                run_tail=1
                run_cores=$collector_cpu
                [ "$mode" = 1 ] && run_cores=$collector_cpus
            fi
            one_run "$rate" >"$work/result"
            line=$(cat "$work/result")
            tag=""
            [ "$tls_compare" = 1 ] && { [ "$mode" = 1 ] && tag=" tls" || tag=" plaintext"; }
            [ "$rebalance_compare" = 1 ] && { [ "$mode" = 1 ] && tag=" rebalance on" || tag=" rebalance off"; }
            [ "$storage_compare" = 1 ] && tag=" queue $mode"
            [ "$sampler_compare" = 1 ] && { [ "$mode" = 1 ] && tag=" sampler $sampler_pct%" || tag=" batch alone"; }
            [ "$ottl_compare" = 1 ] && tag=" $mode"
            [ "$tail_compare" = 1 ] && { [ "$mode" = 1 ] && tag=" tail_sampling" || tag=" batch alone"; }
            [ "$affinity_compare" = 1 ] && { [ "$mode" = 1 ] && tag=" tail_sampling, shards $collector_cpus" || tag=" tail_sampling, one shard"; }
            [ "$lb_compare" = 1 ] && { [ "$mode" = 1 ] && tag=" loadbalancing" || tag=" otlp"; }
            echo "   run $i$tag: ${line#RESULT }"
            if [ "$storage_compare" = 1 ] || [ "$ottl_compare" = 1 ]; then
                by_policy[$mode]+="$line"$'\n'
            elif [ "$mode" = 1 ]; then tls_results+="$line"$'\n'; else results+="$line"$'\n'; fi
            loss=$(field "$line" loss)
            if [ "$run_sampler" = 1 ] || [ "$run_tail" = 1 ]; then
                # The sampler's drops are not loss: print the share it kept instead.
                echo "   kept_share=$(awk -v r="$(field "$line" received)" -v a="$(field "$line" acked_total)" 'BEGIN { printf "%.3f", (a > 0 ? r / a : 0) }')"
            elif [ "$loss" != 0 ]; then echo "   LOSS: $loss items acked but not received" >&2; status=1; fi
        done
    done
    run_tls=0
    run_sampler=0
    run_tail=0
    run_cores=$collector_cpus
    run_lb=0
    run_storage=memory
    run_ottl=batch
    if [ "$ottl_compare" = 1 ]; then
        for mode in batch filter transform; do
            echo "   $mode:"
            summarise <<<"${by_policy[$mode]}"
        done
        for mode in filter transform; do
            ratio_line "${by_policy[batch]}" "${by_policy[$mode]}" "$rate" "OTTL_RATIO $mode/batch"
        done
    elif [ "$storage_compare" = 1 ]; then
        for policy in memory $storage_policies; do
            echo "   queue $policy:"
            summarise <<<"${by_policy[$policy]}"
        done
        for policy in $storage_policies; do
            ratio_line "${by_policy[memory]}" "${by_policy[$policy]}" "$rate" "STORAGE_RATIO policy=$policy"
        done
    elif [ "$tls_compare" = 1 ] || [ "$rebalance_compare" = 1 ] || [ "$sampler_compare" = 1 ] \
        || [ "$tail_compare" = 1 ] || [ "$affinity_compare" = 1 ] || [ "$lb_compare" = 1 ]; then
        off="plaintext" on="TLS in and out" tag=TLS_RATIO
        [ "$rebalance_compare" = 1 ] && off="rebalance off" on="rebalance on" tag=REBALANCE_RATIO
        [ "$sampler_compare" = 1 ] && off="batch alone" on="probabilistic_sampler $sampler_pct% + batch" tag=SAMPLER_RATIO
        [ "$tail_compare" = 1 ] && off="batch alone" on="tail_sampling (3 policies) + batch" tag=TAIL_SAMPLING_RATIO
        [ "$affinity_compare" = 1 ] && off="tail_sampling, one shard" on="tail_sampling, shards $collector_cpus" tag=AFFINITY_RATIO
        [ "$lb_compare" = 1 ] && off="otlp exporter" on="loadbalancing exporter (one backend)" tag=LOADBALANCING_RATIO
        echo "   $off:"
        summarise <<<"$results"
        echo "   $on:"
        summarise <<<"$tls_results"
        ratio_line "$results" "$tls_results" "$rate" "$tag"
    else
        summarise <<<"$results"
    fi
done
exit $status
