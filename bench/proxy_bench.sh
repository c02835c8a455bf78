#!/usr/bin/env bash
# The injecting proxy's cost (issue 5): wrk against four ways of reaching the same HTTPS
# upstream, side by side in one run so their ratios are comparable on a shared machine:
#   direct  wrk straight at the upstream (nginx over TLS, keep-alive)
#   nginx   nginx as an injecting reverse proxy on plain http (proxy_pass https, upstream
#           keepalive, proxy_ssl_verify on, Authorization set by the config)
#   v1      keycelld POST|GET /v1/proxy (Authorization: Bearer pxr_..., X-Target-Url)
#   route   keycelld route mount /r/up/...
# for a ~200 B body (/small) and a 64 KiB body (/large) at 1, 16 and 64 connections.
# Prints a markdown table (req/s, p50/p99, CPU per request of the proxy processes, load)
# and the ratios the issue sets targets for, then the RSS of the proxies.
#
#   bench/proxy_bench.sh [--quick] [--duration S] [--conns "1 16 64"] [--profile] [--keep]
#
#   --quick      1 s per run (a smoke test of the setup; numbers are noisy)
#   --duration   seconds per wrk run (default 5, or $KEYCELL_PROXY_BENCH_DURATION)
#   --conns      connection counts (default "1 16 64"); wrk threads = min(c, 2)
#   --profile    after the table, at c=16 ($KEYCELL_PROXY_BENCH_PROFILE_CONNS) with the
#                small body: syscalls, context switches and CPU per request of nginx-proxy
#                and of keycelld + enclave (perf stat), then a system-wide perf record
#                (cpu-clock, DWARF call graphs) of a v1 run: who has the CPU, and
#                keycell's top functions inclusive and self
#                ($KEYCELL_PROXY_BENCH_PROFILE_BODY=large profiles the 64 KiB body)
#   --keep       keep the temporary directory (certs, configs, logs, perf data)
#
# Installs nginx, wrk and openssl from Debian when missing (apt-get; sudo if not root),
# builds keycell, keycelld and keycell-enclave in build-bench (Release), and runs
# everything on loopback with a throw-away CA, vault and home under a temporary
# directory. It stops before measuring unless the upstream logs the injected
# Authorization for one request through each proxy (and none direct). A run with a
# socket error or a non-2xx/3xx answer is marked invalid in the table, its first failing
# answers are shown, and the script exits 1. Workers: $KEYCELL_PROXY_BENCH_UPSTREAM_WORKERS
# (default 1), $KEYCELL_PROXY_BENCH_NGINX_WORKERS (default auto).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${KEYCELL_BENCH_BUILD_DIR:-$root/build-bench}
duration=${KEYCELL_PROXY_BENCH_DURATION:-5}
conns="1 16 64"
profile=0
keep=0
while [ $# -gt 0 ]; do
  case $1 in
    --quick) duration=1 ;;
    --duration) duration=$2; shift ;;
    --conns) conns=$2; shift ;;
    --profile) profile=1 ;;
    --keep) keep=1 ;;
    *) echo "usage: $0 [--quick] [--duration S] [--conns \"1 16 64\"] [--profile] [--keep]" >&2; exit 2 ;;
  esac
  shift
done
up_workers=${KEYCELL_PROXY_BENCH_UPSTREAM_WORKERS:-1}
proxy_workers=${KEYCELL_PROXY_BENCH_NGINX_WORKERS:-auto}

# --- dependencies (as scripts/install-deps.sh) ---------------------------------------
need=(nginx wrk openssl)
[ "$profile" = 1 ] && need+=(linux-perf)
missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    sudo=()
  elif command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "proxy_bench: need root or sudo to install: ${missing[*]}" >&2
    exit 1
  fi
  echo "proxy_bench: installing ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --parallel "$(nproc)" --target keycell keycelld keycell-enclave >/dev/null
keycell=$build/bin/keycell

# --- throw-away directory, and cleanup of everything started here --------------------
# Short: the runtime dir's socket path must fit sun_path. On disk, not tmpfs: keycelld's
# audit queue fsyncs as it would in real use.
work=$(mktemp -d "${TMPDIR:-/tmp}/kc-pxb.XXXXXX")
pids=()
cleanup() {
  local pid
  if [ -f "$work/data/keycelld.lock" ]; then
    pid=$(tr -dc '0-9' <"$work/data/keycelld.lock" | head -c 10)
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
  fi
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done
  if [ "$keep" = 1 ]; then echo "kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
up_port=$(free_port)
np_port=$(free_port)
kc_port=$(free_port)
secret="sk-bench-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
mkdir -p "$work/www" "$work/tmp" "$work/pki"

# --- a CA and a server certificate for "localhost" (ECDSA P-256) ---------------------
(
  cd "$work/pki"
  openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
  openssl req -x509 -new -key ca.key -sha256 -days 2 -subj "/CN=keycell proxy bench CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out ca.pem 2>/dev/null
  openssl ecparam -name prime256v1 -genkey -noout -out server.key 2>/dev/null
  openssl req -new -key server.key -subj "/CN=localhost" -out server.csr 2>/dev/null
  printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=serverAuth" "subjectAltName=DNS:localhost" >server.ext
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -sha256 \
    -extfile server.ext -out server.pem 2>/dev/null
)
ca=$work/pki/ca.pem

# --- (a) the upstream and (c) the nginx injecting proxy ------------------------------
head -c 200 /dev/zero | tr '\0' 's' >"$work/www/small"
head -c 65536 /dev/zero | tr '\0' 'L' >"$work/www/large"
# Workers drop to `user` only when started as root; keep them able to read $work.
user_line=""
[ "$(id -u)" -eq 0 ] && user_line="user root root;"
common_http="
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  client_body_temp_path $work/tmp/body;
  proxy_temp_path $work/tmp/proxy;
  fastcgi_temp_path $work/tmp/fastcgi;
  uwsgi_temp_path $work/tmp/uwsgi;
  scgi_temp_path $work/tmp/scgi;"
cat >"$work/upstream.conf" <<EOF
$user_line
worker_processes $up_workers;
daemon off;
pid $work/upstream.pid;
error_log $work/upstream-error.log warn;
events { worker_connections 4096; }
http {
  $common_http
  # Only requests carrying X-Bench-Log: 1 are logged (the injection check), never the runs.
  log_format inject '"\$request" auth="\$http_authorization" tls=\$ssl_protocol/\$ssl_cipher';
  map \$http_x_bench_log \$bench_log { default 0; "1" 1; }
  open_file_cache max=16 inactive=1h;
  open_file_cache_valid 1h;
  server {
    listen 127.0.0.1:$up_port ssl;
    server_name localhost;
    ssl_certificate $work/pki/server.pem;
    ssl_certificate_key $work/pki/server.key;
    ssl_session_cache shared:bench:1m;
    access_log $work/upstream-access.log inject if=\$bench_log;
    root $work/www;
    default_type application/octet-stream;
    location / { }
  }
}
EOF
cat >"$work/nginx-proxy.conf" <<EOF
$user_line
worker_processes $proxy_workers;
daemon off;
pid $work/nginx-proxy.pid;
error_log $work/nginx-proxy-error.log warn;
events { worker_connections 4096; }
http {
  $common_http
  upstream up {
    server 127.0.0.1:$up_port;
    keepalive 32;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
  }
  server {
    listen 127.0.0.1:$np_port;
    location / {
      proxy_pass https://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host localhost:$up_port;
      proxy_set_header Authorization "Bearer $secret";
      proxy_ssl_verify on;
      proxy_ssl_trusted_certificate $ca;
      proxy_ssl_server_name on;
      proxy_ssl_name localhost;
      proxy_ssl_session_reuse on;
      proxy_buffers 16 8k;
    }
  }
}
EOF
"$nginx_bin" -t -q -p "$work" -e "$work/upstream-error.log" -c "$work/upstream.conf"
"$nginx_bin" -t -q -p "$work" -e "$work/nginx-proxy-error.log" -c "$work/nginx-proxy.conf"
"$nginx_bin" -p "$work" -e "$work/upstream-error.log" -c "$work/upstream.conf" &
up_master=$!
pids+=("$up_master")
"$nginx_bin" -p "$work" -e "$work/nginx-proxy-error.log" -c "$work/nginx-proxy.conf" &
np_master=$!
pids+=("$np_master")

# --- keycelld: a throw-away home and vault -------------------------------------------
export HOME=$work/home KEYCELL_DATA_DIR=$work/data XDG_RUNTIME_DIR=$work/run XDG_CONFIG_HOME=$work/config
mkdir -m 0700 "$HOME" "$KEYCELL_DATA_DIR" "$XDG_RUNTIME_DIR" "$XDG_CONFIG_HOME"
cat >"$work/routes.json" <<EOF
{"routes":[{"name":"up","upstream":"https://localhost:$up_port","credential":"bench-up"}]}
EOF
export KEYCELL_HTTP_LISTEN=127.0.0.1:$kc_port KEYCELL_TLS_EXTRA_CA_FILE=$ca \
  KEYCELL_PROXY_ROUTES_FILE=$work/routes.json KEYCELL_RATELIMIT_REQUESTS_PER_MINUTE=1000000 \
  KEYCELL_IDLE_LOCK=0 KEYCELL_LOG_LEVEL=${KEYCELL_LOG_LEVEL:-warn}
pin="bench-pin-$$-$RANDOM"
printf '%s\n' "$pin" | "$keycell" init --pin-fd 0 >"$work/init.log" 2>&1
printf '%s\n' "$pin" | "$keycell" unlock --pin-fd 0 >"$work/unlock.log" 2>&1
printf '%s' "$secret" | "$keycell" add bench-up --allow-host "localhost:$up_port" --inject bearer \
  >>"$work/setup.log" 2>&1
"$keycell" agents create bot >>"$work/setup.log" 2>&1
token=$("$keycell" agents assign bot bench-up 2>>"$work/setup.log" | grep -o 'pxr_[A-Za-z0-9_-]*' | sed -n 1p)
[ -n "$token" ] || { echo "proxy_bench: no pxr_ token from 'keycell agents assign'" >&2; exit 1; }
kc_pid=$(tr -dc '0-9' <"$KEYCELL_DATA_DIR/keycelld.lock" | head -c 10)
enclave_pid=$(pgrep -P "$kc_pid" -x keycell-enclave | sed -n 1p)

# --- each path answers, and the upstream sees the injected header --------------------
for _ in $(seq 50); do
  curl -sf -o /dev/null --cacert "$ca" "https://localhost:$up_port/small" &&
    curl -sf -o /dev/null "http://127.0.0.1:$np_port/small" && break
  sleep 0.1
done
small_url_direct="https://localhost:$up_port/small"
tls_seen=""
check() {  # name, expected Authorization at the upstream, curl args...
  local name=$1 want=$2 body
  shift 2
  : >"$work/upstream-access.log"
  body=$(curl -sS --fail-with-body -H "X-Bench-Log: 1" "$@") ||
    { echo "proxy_bench: $name: request failed: $body" >&2; exit 1; }
  [ "${#body}" -eq 200 ] || { echo "proxy_bench: $name: body of ${#body} bytes, not 200" >&2; exit 1; }
  sleep 0.2  # nginx writes its log line after the response
  grep -qF "auth=\"$want\"" "$work/upstream-access.log" ||
    { echo "proxy_bench: $name: the upstream did not see Authorization \"$want\":" >&2;
      cat "$work/upstream-access.log" >&2; exit 1; }
  tls_seen+=" $name $(grep -o 'tls=[^ ]*' "$work/upstream-access.log" | sed 's/tls=//');"
}
check direct "-" --cacert "$ca" "$small_url_direct"
check nginx "Bearer $secret" "http://127.0.0.1:$np_port/small"
check v1 "Bearer $secret" -H "Authorization: Bearer $token" -H "X-Target-Url: $small_url_direct" \
  "http://127.0.0.1:$kc_port/v1/proxy"
check route "Bearer $secret" -H "Authorization: Bearer $token" "http://127.0.0.1:$kc_port/r/up/small"
echo "injection check: the upstream saw 'Authorization: Bearer sk-bench-…' from nginx, /v1/proxy and /r/up; none direct"
echo "upstream TLS by client:$tls_seen"

# --- wrk -----------------------------------------------------------------------------
cat >"$work/bench.lua" <<'EOF'
local auth = os.getenv("PB_AUTH")
local target = os.getenv("PB_TARGET")
if auth and auth ~= "" then wrk.headers["Authorization"] = auth end
if target and target ~= "" then wrk.headers["X-Target-Url"] = target end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("PB_RESULT %d %d %.0f %.0f %d %d %d %d %d\n", summary.requests,
    summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
EOF
# For an invalid run: show what the failures were (slower: parses every response).
cat "$work/bench.lua" - >"$work/diag.lua" <<'EOF'
local shown = 0
response = function(status, headers, body)
  if status >= 300 and shown < 3 then
    shown = shown + 1
    io.write(string.format("  status %d: %s\n", status, string.sub(body or "", 1, 200)))
  end
end
EOF
url_for() {  # target size
  case $1 in
    direct) echo "https://localhost:$up_port/$2" ;;
    nginx) echo "http://127.0.0.1:$np_port/$2" ;;
    v1) echo "http://127.0.0.1:$kc_port/v1/proxy" ;;
    route) echo "http://127.0.0.1:$kc_port/r/up/$2" ;;
  esac
}
# CPU ticks (user + system, all threads) of the processes that do a target's proxying.
proxy_pids() {
  case $1 in
    nginx) echo "$np_master $(pgrep -P "$np_master" | tr '\n' ' ')" ;;
    v1 | route) echo "$kc_pid $enclave_pid" ;;
    direct) echo "" ;;
  esac
}
cpu_ticks() {
  local t=0 pid stat f
  for pid in "$@"; do
    stat=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null) || continue
    read -r -a f <<<"$stat"
    t=$((t + f[11] + f[12]))  # after the ")" of comm: utime is the 12th field, stime the 13th
  done
  echo "$t"
}
hz=$(getconf CLK_TCK)
# wrk target size c [warmup] → "rps p50_us p99_us cpu_us_per_req load1 failed requests".
# A run with any socket error or non-2xx/3xx answer is invalid (failed > 0): its wrk
# counts and the first failures of a second, response-parsing run are printed after
# the table.
run_wrk() {
  local target=$1 size=$2 c=$3 d=$duration warmup=0 threads auth="" tgt="" out res t0 t1 load pp=()
  [ "${4:-}" = warmup ] && { d=1; warmup=1; }
  threads=$((c < 2 ? c : 2))
  case $target in
    v1) auth="Bearer $token"; tgt="https://localhost:$up_port/$size" ;;
    route) auth="Bearer $token" ;;
  esac
  load=$(cut -d' ' -f1 /proc/loadavg)
  read -r -a pp <<<"$(proxy_pids "$target")"
  t0=$(cpu_ticks "${pp[@]}")
  out=$(PB_AUTH=$auth PB_TARGET=$tgt wrk -t"$threads" -c"$c" -d"${d}s" --latency \
    -s "$work/bench.lua" "$(url_for "$target" "$size")" 2>&1) || true
  t1=$(cpu_ticks "${pp[@]}")
  res=$(grep '^PB_RESULT' <<<"$out") || res="PB_RESULT 0 1 0 0 0 0 0 0 0"
  read -r _ n dur p50 p99 e_conn e_read e_write e_status e_timeout <<<"$res"
  local failed=$((e_conn + e_read + e_write + e_status + e_timeout)) cpu="-"
  [ "$n" -eq 0 ] && failed=$((failed + 1))
  if [ "$failed" -ne 0 ] && [ "$warmup" = 0 ]; then
    {
      echo "$target $size c=$c: $n requests; errors: connect $e_conn read $e_read" \
        "write $e_write non-2xx/3xx $e_status timeout $e_timeout; the first of a second run:"
      PB_AUTH=$auth PB_TARGET=$tgt wrk -t"$threads" -c"$c" -d1s -s "$work/diag.lua" \
        "$(url_for "$target" "$size")" 2>&1 | grep '^  status' | sed -n '1,2p'
    } >>"$work/invalid.log"
  fi
  [ ${#pp[@]} -gt 0 ] && [ "$n" -gt 0 ] && cpu=$(((t1 - t0) * 1000000 / hz / n))
  echo "$((n * 1000000 / dur)) $p50 $p99 $cpu $load $failed $n"
}

targets="direct nginx v1 route"
echo "host: $(nproc) CPU(s), kernel $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "versions: $("$nginx_bin" -v 2>&1 | sed 's/.*: //'), $(wrk -v 2>&1 | head -n1 | cut -d' ' -f1-2)," \
  "$(openssl version | cut -d' ' -f1-2); nginx-proxy workers: $proxy_workers, upstream workers: $up_workers"
echo "each run: ${duration} s, wrk threads = min(c, 2); warming up the connection pools (1 s per path)..."
for target in $targets; do
  for size in small large; do run_wrk "$target" "$size" "${conns##* }" warmup >/dev/null; done
done

declare -A R
invalid=0
printf '\n| body | c | path | req/s | p50 µs | p99 µs | proxy CPU µs/req | × nginx req/s | load 1m |\n'
printf '|---|---:|---|---:|---:|---:|---:|---:|---:|\n'
for size in small large; do
  for c in $conns; do
    # The four paths back to back, so they see the same machine.
    for target in $targets; do
      R[$size,$c,$target]=$(run_wrk "$target" "$size" "$c")
    done
    read -r nginx_rps _ _ _ _ nginx_failed _ <<<"${R[$size,$c,nginx]}"
    for target in $targets; do
      read -r rps p50 p99 cpu load failed n <<<"${R[$size,$c,$target]}"
      if [ "$failed" -ne 0 ]; then
        invalid=$((invalid + 1))
        printf '| %s | %s | %s | invalid: %s of %s failed | %s | %s | %s | - | %s |\n' \
          "$size" "$c" "$target" "$failed" "$((n + (n == 0)))" "$p50" "$p99" "$cpu" "$load"
        continue
      fi
      ratio=-
      [ "$nginx_failed" -eq 0 ] && ratio=$(awk -v a="$rps" -v b="$nginx_rps" 'BEGIN { printf "%.2f", a / b }')
      printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
        "$size" "$c" "$target" "$rps" "$p50" "$p99" "$cpu" "$ratio" "$load"
    done
  done
done

if [ -s "$work/invalid.log" ]; then
  echo
  echo "Invalid runs (any socket error or non-2xx/3xx answer):"
  sed 's/^/  /' "$work/invalid.log"
fi

echo
echo "Targets (issue 5): keycell ≥ 1.0× nginx req/s at c=16 and c=64 (small body);" \
  "keycell p50 overhead over direct ≤ 100 µs at c=1."
for c in $conns; do
  [ "$c" -gt 1 ] || continue
  read -r nginx_rps _ <<<"${R[small,$c,nginx]}"
  for target in v1 route; do
    read -r rps _ _ _ _ failed _ <<<"${R[small,$c,$target]}"
    if [ "$failed" -ne 0 ]; then
      echo "  small c=$c: keycell $target: invalid run ($failed failed requests): not met"
      continue
    fi
    awk -v a="$rps" -v b="$nginx_rps" -v t="$target" -v c="$c" 'BEGIN {
      printf "  small c=%s: keycell %s / nginx req/s = %.2f× %s\n", c, t, a / b, (a >= b ? "(met)" : "(not met)") }'
  done
done
c1=${conns%% *}
for size in small large; do
  read -r _ direct_p50 _ <<<"${R[$size,$c1,direct]}"
  for target in nginx v1 route; do
    read -r _ p50 _ _ _ failed _ <<<"${R[$size,$c1,$target]}"
    verdict=""
    [ "$target" != nginx ] && verdict=$([ $((p50 - direct_p50)) -le 100 ] && echo "(met)" || echo "(not met)")
    [ "$failed" -ne 0 ] && verdict="(invalid run)"
    echo "  $size c=$c1: $target p50 - direct p50 = $((p50 - direct_p50)) µs $verdict"
  done
done

# --- memory after the runs -----------------------------------------------------------
rss() {  # label pids...
  local label=$1 pid rss_kb=0 hwm_kb=0 v
  shift
  for pid in "$@"; do
    v=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null) || continue
    rss_kb=$((rss_kb + ${v:-0}))
    v=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null) || continue
    hwm_kb=$((hwm_kb + ${v:-0}))
  done
  printf '| %s | %d | %d | %d |\n' "$label" "$#" $((rss_kb / 1024)) $((hwm_kb / 1024))
}
now_enclave=$(pgrep -P "$kc_pid" -x keycell-enclave | sed -n 1p)
if [ "$now_enclave" != "$enclave_pid" ]; then
  echo "proxy_bench: WARNING: the enclave restarted during the runs (pid $enclave_pid → ${now_enclave:-none});" \
    "keycell's CPU and memory figures are incomplete" >&2
  enclave_pid=$now_enclave
fi
echo
echo "| process | count | VmRSS MiB | VmHWM MiB |"
echo "|---|---:|---:|---:|"
rss "nginx-proxy workers" $(pgrep -P "$np_master")
rss "nginx-proxy master" "$np_master"
rss "keycelld" "$kc_pid"
rss "keycell-enclave" ${enclave_pid:+"$enclave_pid"}
threads_of() { awk '/^Threads:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo "?"; }
echo "keycelld threads: $(threads_of "$kc_pid"), keycell-enclave threads: $(threads_of "$enclave_pid")"

# --- where keycell's time goes -------------------------------------------------------
# perf with the software cpu-clock event (hardware counters are often missing in VMs)
# and DWARF call graphs (Release builds have no frame pointers).
per_request_counts() {  # label pids(comma-separated) wrk-target
  local label=$1 pid_list=$2 target=$3 stat_pid res n
  perf stat -x, -e context-switches,raw_syscalls:sys_enter,task-clock -p "$pid_list" \
    -o "$work/stat-$target.csv" 2>/dev/null &
  stat_pid=$!
  sleep 0.2
  res=$(run_wrk "$target" "$pbody" "$c")
  kill -INT "$stat_pid"
  wait "$stat_pid" || true
  read -r rps _ _ _ _ _ n <<<"$res"
  awk -F, -v n="$n" -v label="$label" -v rps="$rps" '
    $3 == "context-switches" { cs = $1 } $3 ~ /sys_enter/ { sc = $1 } $3 == "task-clock" { ms = $1 }
    END { printf "  %-26s %6d req/s  %6.1f syscalls  %5.1f context switches  %6.0f µs CPU per request\n",
          label, rps, sc / n, cs / n, ms * 1000 / n }' "$work/stat-$target.csv"
}
if [ "$profile" = 1 ]; then
  c=${KEYCELL_PROXY_BENCH_PROFILE_CONNS:-16}
  pbody=${KEYCELL_PROXY_BENCH_PROFILE_BODY:-small}
  echo
  echo "== profile: $pbody body, c=$c, ${duration} s per run (load $(cut -d' ' -f1 /proc/loadavg))"
  echo "-- per request, all threads of the proxy processes (perf stat)"
  per_request_counts "nginx-proxy (workers)" "$(pgrep -P "$np_master" | paste -sd,)" nginx
  per_request_counts "keycelld + keycell-enclave" "$kc_pid,$enclave_pid" v1
  # System-wide, so the split shows who has the CPU (wrk, the upstream, other builds)
  # and keycelld's connection threads, started after perf, keep their names.
  # perf stops by itself (a signal sent while it is still starting up can leave an
  # unreadable file); the wrk run sits inside its window.
  perf record -a -e cpu-clock -F 499 --call-graph dwarf,8192 -o "$work/perf.data" \
    -- sleep "$((duration + 2))" >"$work/perf.log" 2>&1 &
  perf_pid=$!
  sleep 1
  run_wrk v1 "$pbody" "$c" >/dev/null
  wait "$perf_pid" || true
  report() { perf report -i "$work/perf.data" --stdio "$@" 2>>"$work/perf.log" | grep -v '^#' | grep -v '^$'; }
  echo "-- the machine during a v1 run: share of samples by process"
  report --no-children --sort comm -g none --percent-limit 1 | sed -n '1,10p'
  echo "-- keycelld and the enclave by library"
  report --no-children --pid "$kc_pid,$enclave_pid" --sort comm,dso -g none --percent-limit 1 | sed -n '1,12p'
  echo "-- keycell functions, inclusive (children), ≥ 1% of all samples"
  report --children --pid "$kc_pid,$enclave_pid" --sort comm,sym -g none --percent-limit 1 |
    grep -E 'keycell::|sqlite3_prepare|sqlite3_step' | sed -n '1,40p'
  echo "-- hottest functions, self"
  report --no-children --pid "$kc_pid,$enclave_pid" --sort comm,sym -g none --percent-limit 0.5 | sed -n '1,20p'
  [ -n "$(report --no-children --sort comm -g none | sed -n 1p)" ] ||
    { echo "perf record or report failed:"; tail -n 5 "$work/perf.log"; }
  [ "$keep" = 1 ] && echo "(perf data: $work/perf.data)"
fi
[ "$invalid" -eq 0 ] || { echo "proxy_bench: $invalid invalid run(s) (see above)" >&2; exit 1; }
