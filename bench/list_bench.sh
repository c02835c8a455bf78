#!/usr/bin/env bash
# `keycell list` with 10,000 credentials: builds Release, creates a throw-away vault
# on tmpfs (so seeding is not an fsync benchmark), starts keycelld, seeds and times.
#   bench/list_bench.sh [--count N] [--iterations N]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${KEYCELL_BENCH_BUILD_DIR:-$root/build-bench}
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --parallel "$(nproc)" --target list_bench keycell keycelld keycell-enclave >/dev/null
work=$(mktemp -d /dev/shm/keycell-listbench.XXXXXX)
trap 'kill "$(cat "$work/data/keycelld.lock" 2>/dev/null)" 2>/dev/null || true; rm -rf "$work"' EXIT
export KEYCELL_DATA_DIR=$work/data XDG_RUNTIME_DIR=$work/run XDG_CONFIG_HOME=$work/config
mkdir -m 700 "$work/run"
printf 'bench-pin\n' > "$work/pin"
"$build/bin/keycell" init --pin-fd 3 3<"$work/pin" >/dev/null
"$build/bin/keycelld" 2>"$work/keycelld.log" &
for _ in $(seq 100); do [ -S "$work/run/keycell/keycelld.sock" ] && break; sleep 0.1; done
echo "host: $(nproc) CPU(s), load average $(cut -d" " -f1-3 /proc/loadavg)"
"$build/bench/list_bench" --data-dir "$work/data" --runtime-dir "$work/run/keycell" "$@"
