#!/usr/bin/env bash
# Fuzz smoke run: builds every cargo-fuzz target in fuzz/ and runs each for a few seconds, so
# the targets (a crate outside the workspace, which nothing else builds) cannot rot.
# Usage: scripts/fuzz.sh   (FUZZ_SECONDS per target, default 10). CI runs it from .ci/run.
# Longer runs are README.md's `cargo fuzz run` commands ("Fuzzing").
#
# Prints one line per target; exits non-zero if the build fails or any target fails (a panic,
# an ASan report, a leak, a timeout), after printing libFuzzer's output, the failing input's
# path under fuzz/artifacts/<target>/ and the command that reproduces it.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_FUZZ_VERSION=0.13.2 # the latest release; builds with the stable toolchain
seconds=${FUZZ_SECONDS:-10}

# cargo fuzz passes nightly-only flags (-Zsanitizer=address); stable rustc takes them with this.
export RUSTC_BOOTSTRAP=1
# CI's build is always cold, where incremental compilation only costs time.
if [[ ${CI:-} == true ]]; then
    export CARGO_INCREMENTAL=0
fi

# Build settings, the same for `build` and `run` (so `run` finds the build fresh):
# - `--dev`: opt-level 0. cargo fuzz's default is an opt-level 3 build with one codegen unit per
#   crate: cold, on 2 (shared) cores, it took 755 s, and 798 s with 16 codegen units, against
#   336 s for `--dev`. A few seconds per target do not need the faster binary (libFuzzer's own
#   C++ is still optimized: fuzz/Cargo.toml); long local runs use the default release build.
# - `-s address`: AddressSanitizer, cargo fuzz's default. Stable rustc ships its runtime for
#   x86_64-unknown-linux-gnu (librustc-stable_rt.asan.a), so it builds without nightly. Our
#   crates deny unsafe code, but what they drive (httparse, bytes, prost, serde_json) has some.
#   It costs about a fifth of the build (463 against 383 CPU seconds with `-s none`), and
#   keeps CI in the mode of the long runs.
#   Debug assertions and overflow checks are on (cargo fuzz's default outside `-O`).
build=(--dev -s address)

# Inputs up to a little over the 16 KiB head limit for the HTTP parser (so the 431 path is
# reachable); 4 KiB elsewhere, as in the README's commands.
max_len() {
    case $1 in
        http_request) echo 17408 ;;
        *) echo 4096 ;;
    esac
}

if ! cargo fuzz --version >/dev/null 2>&1; then
    # --debug: cargo fuzz only starts cargo and the target; so built it took 44 s here, against
    # 100 s optimized.
    echo "== cargo install cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --debug
fi
# libfuzzer-sys compiles libFuzzer's C++ sources.
command -v c++ >/dev/null 2>&1 || { apt-get update && apt-get install -y --no-install-recommends g++; }

cd fuzz
# cargo fuzz has no --locked: fetching with it first fails on a fuzz/Cargo.lock that is out of
# date with the manifests, and the build then has nothing to resolve.
cargo fetch --locked

# librdkafka's configure links test programs against C libraries the cc crate built with
# -fsanitize=address (zstd); its link line needs the sanitizer runtime too.
echo "== cargo fuzz build ${build[*]}"
LDFLAGS="${LDFLAGS:-} -fsanitize=address" cargo fuzz build "${build[@]}"

# New inputs go to a scratch corpus; the committed seeds (fuzz/corpus/<target>/seed-*) are
# only read.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== cargo fuzz run, ${seconds}s per target"
failed=()
for target in $(cargo fuzz list); do
    mkdir -p "$work/corpus/$target"
    corpus=("$work/corpus/$target")
    if [[ -d corpus/$target ]]; then
        corpus+=("corpus/$target")
    fi
    log=$work/$target.log
    start=$SECONDS
    if cargo fuzz run "${build[@]}" "$target" "${corpus[@]}" -- \
        -max_total_time="$seconds" -max_len="$(max_len "$target")" -timeout=10 \
        >"$log" 2>&1; then
        runs=$(grep -o 'Done [0-9]* runs' "$log" | tail -n 1 | cut -d' ' -f2 || true)
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2 || true)
        echo "fuzz $target: ok, ${runs:-?} runs, cov ${cov:-?}, $((SECONDS - start))s"
    else
        failed+=("$target")
        echo "---- libFuzzer's output for $target"
        sed 's/^/    /' "$log"
        artifact=$(grep -o 'Test unit written to .*' "$log" | tail -n 1 | cut -d' ' -f5- || true)
        echo "fuzz $target: FAILED after $((SECONDS - start))s, input: ${artifact:-none written}"
        # The panic message or the sanitizer's one-line summary.
        { grep -A3 -m1 'panicked at' "$log" || true; grep '^SUMMARY:' "$log" || true; } | sed 's/^/    /'
        if [[ -n $artifact ]]; then
            echo "    reproduce: cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run ${build[*]} $target $artifact"
        fi
    fi
done

if ((${#failed[@]})); then
    echo "fuzz: ${#failed[@]} target(s) failed: ${failed[*]}" >&2
    exit 1
fi
