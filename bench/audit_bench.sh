#!/usr/bin/env bash
# The audit overhead per request: builds Release and runs bench/audit_bench on the disk
# under $TMPDIR (fsync included) and on tmpfs (CPU only).
#   bench/audit_bench.sh [--iterations N]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${KEYCELL_BENCH_BUILD_DIR:-$root/build-bench}
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --parallel "$(nproc)" --target audit_bench >/dev/null
disk=$(mktemp -d "${TMPDIR:-/var/tmp}/keycell-auditbench.XXXXXX")
shm=$(mktemp -d /dev/shm/keycell-auditbench.XXXXXX)
trap 'rm -rf "$disk" "$shm"' EXIT
echo "host: $(nproc) CPU(s), load average $(cut -d" " -f1-3 /proc/loadavg)"
echo "== disk ($disk)"
"$build/bench/audit_bench" --dir "$disk" "$@"
echo "== tmpfs"
"$build/bench/audit_bench" --dir "$shm" "$@"
