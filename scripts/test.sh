#!/usr/bin/env bash
# The test entry point: everything CI runs. Usage: scripts/test.sh
# Runs formatting and lint gates, the whole test suite (unit, property, end-to-end over real
# sockets), and the benchmarks in criterion's quick test mode so they never rot.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --workspace --locked

echo "== benches (test mode)"
cargo bench --locked --bench scan -- --test
