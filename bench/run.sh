#!/usr/bin/env bash
# Builds the benchmarks in a Release tree (build-bench, or $KEYCELL_BENCH_BUILD_DIR)
# and runs them. Arguments go to seal_bench, e.g.: bench/run.sh --iterations 5000
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${KEYCELL_BENCH_BUILD_DIR:-$root/build-bench}
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --parallel "$(nproc)" --target seal_bench
# Shared machines skew the tail: record how busy this one was.
echo "host: $(nproc) CPU(s), kernel $(uname -r), load average $(cut -d" " -f1-3 /proc/loadavg)"
"$build/bench/seal_bench" "$@"
