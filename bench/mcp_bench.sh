#!/usr/bin/env bash
# tools/call latency over MCP (issue 6): builds Release, makes a throw-away vault with a
# SoftHSM2 token, starts keycelld on a loopback port, creates an agent with an API key
# bound to it and a few credentials, then runs bench/mcp_bench.cc over Streamable HTTP
# (/mcp), stdio (`keycell mcp`) and the REST equivalents side by side.
#   bench/mcp_bench.sh [--iterations N]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${KEYCELL_BENCH_BUILD_DIR:-$root/build-bench}
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --parallel "$(nproc)" --target mcp_bench keycell keycelld keycell-enclave >/dev/null
keycell=$build/bin/keycell

# On disk, not tmpfs: keycelld's audit queue fsyncs as it would in real use. Short path:
# the runtime dir's socket must fit sun_path.
work=$(mktemp -d "${TMPDIR:-/tmp}/kc-mcpb.XXXXXX")
cleanup() {
  local pid
  pid=$(tr -dc '0-9' <"$work/data/keycelld.lock" 2>/dev/null | head -c 10 || true)
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -rf "$work"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export HOME=$work/home KEYCELL_DATA_DIR=$work/data XDG_RUNTIME_DIR=$work/run XDG_CONFIG_HOME=$work/config
mkdir -m 0700 "$HOME" "$KEYCELL_DATA_DIR" "$XDG_RUNTIME_DIR" "$XDG_CONFIG_HOME"
export KEYCELL_HTTP_LISTEN=127.0.0.1:$port KEYCELL_RATELIMIT_REQUESTS_PER_MINUTE=1000000 \
  KEYCELL_IDLE_LOCK=0 KEYCELL_LOG_LEVEL=${KEYCELL_LOG_LEVEL:-warn}
pin="bench-pin-$$-$RANDOM"
printf '%s\n' "$pin" | "$keycell" init --pin-fd 0 >"$work/setup.log" 2>&1
printf '%s\n' "$pin" | "$keycell" unlock --pin-fd 0 >>"$work/setup.log" 2>&1
for i in 1 2 3 4 5; do
  printf 'sk-bench-%s-%s' "$i" "$RANDOM" | "$keycell" add "bench/key-$i" --allow-host api.example.com \
    --inject bearer >>"$work/setup.log" 2>&1
done
"$keycell" agents create bot --scope 'bench/*' >>"$work/setup.log" 2>&1
MCP_BENCH_TOKEN=$("$keycell" apikeys create bench-key --agent bot --json 2>>"$work/setup.log" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
export MCP_BENCH_TOKEN
echo "host: $(nproc) CPU(s), kernel $(uname -r), load average $(cut -d" " -f1-3 /proc/loadavg)"
"$build/bench/mcp_bench" --http "127.0.0.1:$port" --stdio "$keycell" "$@"
