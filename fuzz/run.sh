#!/usr/bin/env bash
# Builds the libFuzzer harnesses with clang (build-fuzz, or $KEYCELL_FUZZ_BUILD_DIR) and
# runs each for N seconds (default 30) on a scratch copy of its committed corpus, so
# the corpus in git only changes when someone decides it should.
#
#   fuzz/run.sh [seconds] [fuzzer...]      e.g. fuzz/run.sh 10   (the CI smoke)
#
# Exits non-zero if any fuzzer crashes, leaks, trips a sanitizer or times out; the
# crashing input is kept under <build>/fuzz-artifacts/ and its path printed. Replay
# one with: <build>/fuzz/<fuzzer> <crash-file>
# UBSan findings are fatal (halt_on_error) unless UBSAN_OPTIONS is set by the caller.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${KEYCELL_FUZZ_BUILD_DIR:-$root/build-fuzz}
seconds=${1:-30}
[ $# -gt 0 ] && shift
fuzzers=("$@")
[ ${#fuzzers[@]} -eq 0 ] && fuzzers=(ipc_request_fuzzer sealed_record_fuzzer framing_fuzzer env_line_fuzzer json_fuzzer dotenv_fuzzer webhook_url_fuzzer http_request_fuzzer http_response_fuzzer proxy_request_fuzzer proxy_target_fuzzer jsonrpc_fuzzer proxy_channel_fuzzer mcp_session_fuzzer)

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S "$root" -B "$build" "${generator[@]}" -DKEYCELL_FUZZ=ON \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" --parallel "$(nproc)" --target "${fuzzers[@]}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

scratch=$(mktemp -d "${TMPDIR:-/tmp}/keycell-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
artifacts=$build/fuzz-artifacts
mkdir -p "$artifacts"

# <fuzzer>.options holds libFuzzer flags as "key = value" lines (mbedTLS/OSS-Fuzz style).
options_for() {
  local file=$root/fuzz/$1.options
  [ -f "$file" ] || return 0
  sed -n 's/^[[:space:]]*\([a-z_]*\)[[:space:]]*=[[:space:]]*\([^[:space:]]*\).*$/-\1=\2/p' "$file"
}

# One fuzzer: its summary line goes to <artifacts>/<f>.summary, a failure's details to
# <f>.failure. Fuzzers are single-threaded, so up to nproc run side by side: each still
# gets a core for its whole -max_total_time.
run_one() {
  rm -f "$artifacts/$1.summary"
  local f=$1 corpus=$scratch/$1 log=$artifacts/$1.log rc crash done_line execs seeds
  cp -r "$root/fuzz/corpus/$f" "$corpus"
  mapfile -t opts < <(options_for "$f")
  set +e
  "$build/fuzz/$f" "$corpus" -max_total_time="$seconds" -print_final_stats=1 \
    -artifact_prefix="$artifacts/$f-" "${opts[@]}" >"$log" 2>&1
  rc=$?
  set -e
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 || true)
  execs=$(sed -n 's/^stat::number_of_executed_units:[[:space:]]*//p' "$log" | tail -1)
  seeds=$(ls "$root/fuzz/corpus/$f" | wc -l)
  printf '%-22s rc=%d execs=%s seeds=%s corpus_after=%s  %s\n' "$f" "$rc" "${execs:-?}" "$seeds" \
    "$(ls "$corpus" | wc -l)" "$(echo "$done_line" | grep -oE 'cov: [0-9]+ ft: [0-9]+' || true)" \
    >"$artifacts/$f.summary"
  rm -f "$artifacts/$f.failure"
  if [ $rc -ne 0 ]; then
    crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    {
      echo "FAIL: $f crashed; input: ${crash:-<none written>}; log: $log"
      grep -E 'ERROR|runtime error|SUMMARY|Check failed|KC_CHECK' "$log" | head -5 || true
    } >"$artifacts/$f.failure"
  fi
}

jobs_max=$(nproc)
for f in "${fuzzers[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do wait -n || true; done
  run_one "$f" &
done
wait

failed=0
for f in "${fuzzers[@]}"; do
  if [ ! -f "$artifacts/$f.summary" ]; then
    failed=1
    echo "FAIL: $f did not run (see $artifacts/$f.log)" >&2
    continue
  fi
  cat "$artifacts/$f.summary"
  if [ -f "$artifacts/$f.failure" ]; then
    failed=1
    cat "$artifacts/$f.failure" >&2
  fi
done
exit $failed
