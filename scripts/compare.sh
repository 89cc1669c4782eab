#!/usr/bin/env bash
# shardgate against rotel, the same load side by side: OTLP/gRPC in, batch 8192 items/200ms,
# OTLP/gRPC out to the same counting sink, collector pinned to one core and load + sink to
# another. Runs alternate (shardgate, rotel, shardgate, …) so both see the same machine
# conditions, then it prints each figure's median for both and the shardgate/rotel ratio.
#
# rotel comes from PyPI (`pip install rotel` ships its `rotel-agent` binary).
# Usage: scripts/compare.sh [--rate N] [--compression none|gzip] [--duration S]
#                           [--repeats N] [--items-per-request N]
# Compression applies both to requests into the collector and to its export to the sink.
set -euo pipefail
cd "$(dirname "$0")/.."

rate=100000
compression=none
duration=10
repeats=3
items=100
collector_cpu=0
while [ $# -gt 0 ]; do
    case "$1" in
        --rate) rate=$2; shift 2 ;;
        --compression) compression=$2; shift 2 ;;
        --duration) duration=$2; shift 2 ;;
        --repeats) repeats=$2; shift 2 ;;
        --items-per-request) items=$2; shift 2 ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "compare.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

rotel=$(python3 -c 'import os, rotel; print(os.path.join(os.path.dirname(rotel.__file__), "rotel-agent"))' 2>/dev/null || true)
if [ -z "$rotel" ] || [ ! -x "$rotel" ]; then
    echo "compare.sh: rotel is not installed: run 'pip install rotel' (it ships the rotel-agent binary)" >&2
    exit 1
fi

cargo build --release --locked -p shardgate -p shardgate-bench --bins >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# How bench.sh starts rotel: PORT SINK_PORT WORKDIR → pid in WORKDIR/collector.pid.
cat >"$work/start-rotel.sh" <<SH
#!/usr/bin/env bash
http_port=\$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# As bench.sh starts shardgate: pin, note the start time (WORKDIR/collector.t0), exec.
(
    taskset -p -c $collector_cpu "\$BASHPID" >/dev/null
    echo "\$EPOCHREALTIME" >"\$3/collector.t0"
    exec "$rotel" start \\
        --otlp-grpc-endpoint "127.0.0.1:\$1" --otlp-http-endpoint "127.0.0.1:\$http_port" \\
        --batch-max-size 8192 --batch-timeout 200ms \\
        --exporter otlp --otlp-exporter-endpoint "http://127.0.0.1:\$2" \\
        --otlp-exporter-protocol grpc --otlp-exporter-compression $compression \\
        >"\$3/collector.out" 2>"\$3/collector.log"
) &
echo \$! >"\$3/collector.pid"
SH
chmod +x "$work/start-rotel.sh"

common=(--no-build --rate "$rate" --compression "$compression" --export-compression "$compression"
    --duration "$duration" --items-per-request "$items" --repeats 1 --collector-cpu "$collector_cpu")
echo "== shardgate vs rotel ($("$rotel" --version)) $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores"
echo "   rate=$rate compression=$compression duration=${duration}s items/request=$items repeats=$repeats"
for i in $(seq "$repeats"); do
    scripts/bench.sh "${common[@]}" | sed -n 's/^   run 1: /shardgate /p' | tee -a "$work/results"
    COLLECTOR_CMD="$work/start-rotel.sh" scripts/bench.sh "${common[@]}" |
        sed -n 's/^   run 1: /rotel /p' | tee -a "$work/results"
done
python3 - "$work/results" <<'PY'
import sys, statistics
rows = {"shardgate": [], "rotel": []}
for line in open(sys.argv[1]):
    name, *pairs = line.split()
    rows[name].append(dict(p.split("=", 1) for p in pairs))
if not rows["shardgate"] or not rows["rotel"]:
    sys.exit("compare.sh: a collector produced no results")
print(f"  {'figure':28s} {'shardgate':>12s} {'rotel':>12s} {'ratio':>8s}   (medians)")
for key in rows["shardgate"][0]:
    # Figures only one collector reports (shardgate's own /metrics latency) have no ratio.
    if key == "rate" or any(key not in r for r in rows["rotel"]):
        continue
    med = lambda name: statistics.median(float(r[key]) for r in rows[name])
    a, b = med("shardgate"), med("rotel")
    ratio = f"{a / b:.2f}" if b else "-"
    print(f"  {key:28s} {a:12.0f} {b:12.0f} {ratio:>8s}")
PY
