#!/usr/bin/env bash
# The test entry point: everything CI runs. Usage: scripts/test.sh
# Runs formatting and lint gates, the whole test suite (unit, property, end-to-end over real
# sockets), and the benchmarks in criterion's quick test mode so they never rot.
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log" "${tansu_log:-}"' EXIT

# tests/kafka.rs needs a Kafka-protocol broker: tansu, from crates.io (README, "Kafka"). It
# builds in the background while the gates run; opt-level 1 halves its build and is plenty
# for a test broker.
tansu_pid=""
tansu_log=$(mktemp)
if [ -z "${SHARDGATE_TANSU:-}" ] && ! command -v tansu >/dev/null 2>&1; then
    echo "== cargo install tansu (background)"
    (CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_DEBUG=false \
        cargo install tansu --version 0.6.0 --locked --features libsql >"$tansu_log" 2>&1) &
    tansu_pid=$!
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check

# The suite runs with the test-only fault hooks (src/fault.rs) so it can make a shard panic or a
# processor fail. Clippy lints that build (everything but the hooks' three-line release stub,
# which the benches below compile, being built without the hooks); one pass instead of two
# saves CI minutes.
features="--features shardgate/fault-injection"

echo "== cargo clippy --all-targets $features -- -D warnings"
cargo clippy --workspace --all-targets --locked $features -- -D warnings

# criterion runs each benchmark once when the binary is not given --bench. Built in the test
# profile they reuse the suite's dependencies: `cargo bench -- --test` made a second, release
# (thin LTO, one codegen unit) build of everything, 30 s against several minutes on CI.
echo "== benches (test mode, without the fault hooks)"
cargo test --locked -p shardgate-bench --benches

if [ -n "$tansu_pid" ]; then
    echo "== waiting for the tansu install"
    wait "$tansu_pid" || { cat "$tansu_log"; echo "installing tansu failed" >&2; exit 1; }
fi

echo "== cargo test $features (debug build: every debug_assert! invariant is checked)"
cargo test --workspace --locked $features 2>&1 | tee "$log"

# One closing line over every test binary, so the total is visible at the end of the log.
awk '/^test result:/ { p += $4; f += $6 } END { printf "summary: %d passed, %d failed\n", p, f }' "$log"
