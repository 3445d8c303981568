#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/api: the REST API under wrk, beside nginx, in one run.
#
# Every target is HTTPS on 127.0.0.1 with keep-alive, driven by the same wrk parameters
# (a warm-up run, then the measured run; wrk.lua adds the header and reports):
#   nginx       a private nginx serving a static file holding the API response's body (the
#               same size): the ceiling of one HTTPS keep-alive request on this machine
#   sqlite      `certo server` on SQLite: GET /vco/api/catalog/System/Workflow/ with a
#               Bearer token (POST /vco/api/auth/token as the initial admin)
#   postgresql  the same on a second `certo server` whose database is a throw-away
#               PostgreSQL (tests/pg/pgctl.sh); skipped with a line when not available
#   401         the same URL without credentials: the floor of certo's request path
#   basic       the same URL with Basic auth (argon2id per request): a short run only, to
#               show why tokens are the way to call the API
# Prints requests/s, p50, p99, the ratio to nginx and the servers' CPU per request, the
# servers' log volume (one line per request, written to a file), and whether the SQLite
# expectation is met (at least 5,000 requests/s with p99 under 20 ms).
#
# Usage: bench/api/run.sh [path/to/certo]
#        Without an argument a release build in build-bench/ is configured if needed and
#        brought up to date first.
# Env:   BENCH_THREADS=2 BENCH_CONN=32   wrk threads and connections (every target)
#        BENCH_DURATION=10s BENCH_WARMUP=3s BENCH_BASIC_DURATION=5s
#        BENCH_NGINX_WORKERS=1           nginx workers (certo serves on one event loop)
#        BENCH_PG=1                      0 skips PostgreSQL
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
THREADS=${BENCH_THREADS:-2}
CONN=${BENCH_CONN:-32}
DURATION=${BENCH_DURATION:-10s}
WARMUP=${BENCH_WARMUP:-3s}
BASIC_DURATION=${BENCH_BASIC_DURATION:-5s}
NGINX_WORKERS=${BENCH_NGINX_WORKERS:-1}
NGINX=/usr/sbin/nginx
API=/vco/api/catalog/System/Workflow/

for t in wrk curl openssl python3 base64 "$NGINX"; do
  command -v "$t" >/dev/null || { echo "bench/api: missing $t (make bench installs it)" >&2; exit 2; }
done

B=$(mktemp -d /tmp/certo-bench-api-XXXXXX)
# nginx's workers (user nobody) read B/nginx/www; postgres reaches its socket in B/pg.
chmod 0711 "$B"
PIDS=()   # every process this script starts, stopped by its pid
PG_DIR=   # set once tests/pg/pgctl.sh has been asked to start a cluster

# stop_pids PID...: SIGTERM to each, up to 12 s to finish (certo drains its requests for at
# most 10 s), then SIGKILL to any left; each is reaped.
stop_pids() {
  local p i state left
  for p in "$@"; do kill -TERM "$p" 2>/dev/null || true; done
  for ((i = 0; i < 120; i++)); do
    left=0
    for p in "$@"; do
      state=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | cut -d' ' -f1) || state=
      [ -z "$state" ] || [ "$state" = Z ] || left=1
    done
    [ "$left" = 0 ] && break
    sleep 0.1
  done
  for p in "$@"; do
    state=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | cut -d' ' -f1) || state=
    [ -z "$state" ] || [ "$state" = Z ] || kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
}
cleanup() {
  [ "${#PIDS[@]}" = 0 ] || stop_pids "${PIDS[@]}"
  if [ -n "$PG_DIR" ]; then bash "$ROOT/tests/pg/pgctl.sh" stop "$PG_DIR" >/dev/null 2>&1 || true; fi
  rm -rf "$B"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ $# -ge 1 ]; then
  CERTO=$(realpath "$1")
else
  CERTO=$ROOT/build-bench/bin/certo
  echo "== release build in build-bench/ (pass a certo binary to skip this)"
  if ! { [ -f "$ROOT/build-bench/CMakeCache.txt" ] ||
         cmake -S "$ROOT" -B "$ROOT/build-bench" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCERTO_TESTS=OFF
         cmake --build "$ROOT/build-bench"; } > "$B/build.log" 2>&1; then
    tail -n 20 "$B/build.log" >&2
    echo "bench/api: the release build failed" >&2
    exit 2
  fi
fi
[ -x "$CERTO" ] || { echo "bench/api: no certo binary at $CERTO" >&2; exit 2; }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_certo NAME [DB_URL]: a certo server with data directory B/NAME/data on a free
# loopback port, stderr (one log line per request) to B/NAME/server.log. Sets PORT and
# PID; returns 1 with the reason in B/NAME/server.log when it does not start. The database
# url goes through CERTO_DB (the same as --db) so its password is not on a command line.
start_certo() {
  local name=$1 db=${2:-} d=$B/$1 i
  mkdir -p "$d"
  for _ in 1 2 3; do
    PORT=$(free_port)
    : > "$d/stdout"
    if [ -n "$db" ]; then
      CERTO_DB=$db "$CERTO" server --listen "127.0.0.1:$PORT" --data "$d/data" > "$d/stdout" 2> "$d/server.log" &
    else
      "$CERTO" server --listen "127.0.0.1:$PORT" --data "$d/data" > "$d/stdout" 2> "$d/server.log" &
    fi
    PID=$!
    PIDS+=("$PID")
    for ((i = 0; i < 300; i++)); do
      grep -q 'listening on' "$d/stdout" && return 0
      kill -0 "$PID" 2>/dev/null || break
      sleep 0.1
    done
    stop_pids "$PID"
    unset 'PIDS[-1]'
    # Only a port taken since free_port chose it is worth another try.
    grep -qi 'in use' "$d/server.log" || return 1
  done
  return 1
}

# login NAME PORT: a token for the initial admin; writes the header lines B/NAME/bearer.hdr
# and B/NAME/basic.hdr (0600) for curl -H @FILE and wrk.lua.
login() {
  local d=$B/$1 port=$2 pw
  pw=$(sed -n 's/^password: //p' "$d/data/initial-admin.txt")
  [ -n "$pw" ] || { echo "bench/api: no password in $d/data/initial-admin.txt" >&2; return 1; }
  (
    umask 077
    printf 'grant_type=password&username=admin&password=%s' \
      "$(printf '%s' "$pw" | python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.stdin.read(), safe=""))')" \
      > "$d/login.form"
    curl -sk --fail -d @"$d/login.form" "https://127.0.0.1:$port/vco/api/auth/token" > "$d/token.json"
    printf 'Authorization: Bearer %s\n' \
      "$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["access_token"])' "$d/token.json")" \
      > "$d/bearer.hdr"
    printf 'Authorization: Basic %s\n' "$(printf 'admin:%s' "$pw" | base64 -w0)" > "$d/basic.hdr"
  )
}

# probe URL HEADER-FILE|"" STATUS: one request; fails unless the status is STATUS. The body
# is left in B/body.
probe() {
  local code
  if [ -n "$2" ]; then
    code=$(curl -sk -o "$B/body" -w '%{http_code}' -H @"$2" "$1")
  else
    code=$(curl -sk -o "$B/body" -w '%{http_code}' "$1")
  fi
  [ "$code" = "$3" ] || { echo "bench/api: $1 answered $code, expected $3" >&2; return 1; }
}

# cpu_ticks PID...: user + system clock ticks of each PID and of its direct children
# (nginx workers, PostgreSQL backends).
cpu_ticks() {
  local p c sum=0 t
  for p in "$@"; do
    for c in "$p" $(pgrep -P "$p" || true); do
      t=$(sed 's/.*) //' "/proc/$c/stat" 2>/dev/null | awk '{print $12 + $13}') || t=
      sum=$((sum + ${t:-0}))
    done
  done
  echo "$sum"
}

# bench NAME URL HEADER-FILE|"" DURATION WARMUP|0 LOG|"" SERVER_PIDS [DB_PIDS]: a warm-up
# run, then the measured run; appends one line to B/results.
bench() {
  local name=$1 url=$2 hdr=$3 dur=$4 warm=$5 log=$6 pids=$7 dbpids=${8:-} s0 s1 d0 d1
  local l0=0 l1=0 b0=0 b1=0 wu ws
  local -a wrk_args=(-t"$THREADS" -c"$CONN" --timeout 10s --latency -s "$HERE/wrk.lua")
  if [ "$warm" != 0 ]; then
    BENCH_HEADER_FILE=$hdr wrk "${wrk_args[@]}" -d"$warm" "$url" > "$B/$name.warmup.txt"
  fi
  if [ -n "$log" ]; then l0=$(wc -l < "$log"); b0=$(stat -c %s "$log"); fi
  # shellcheck disable=SC2086 # lists of pids
  s0=$(cpu_ticks $pids) d0=$(cpu_ticks $dbpids)
  TIMEFORMAT='%U %S'
  { time BENCH_HEADER_FILE=$hdr wrk "${wrk_args[@]}" -d"$dur" "$url" > "$B/$name.wrk.txt"; } 2> "$B/$name.time"
  # shellcheck disable=SC2086
  s1=$(cpu_ticks $pids) d1=$(cpu_ticks $dbpids)
  if [ -n "$log" ]; then l1=$(wc -l < "$log"); b1=$(stat -c %s "$log"); fi
  read -r wu ws < "$B/$name.time"
  grep -q '^BENCH ' "$B/$name.wrk.txt" || { cat "$B/$name.wrk.txt" >&2; return 1; }
  echo "name=$name $(sed -n 's/^BENCH //p' "$B/$name.wrk.txt") server_ticks=$((s1 - s0))" \
    "db_ticks=$((d1 - d0)) wrk_cpu=$wu+$ws log_lines=$((l1 - l0)) log_bytes=$((b1 - b0))" >> "$B/results"
  sed -n 's/^BENCH /  /p' "$B/$name.wrk.txt"
}

cores=$(nproc)
echo "== bench/api on $cores cores, shared by wrk ($THREADS threads) and the server under test;" \
  "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "   wrk -t$THREADS -c$CONN -d$DURATION --latency (warm-up $WARMUP), keep-alive, HTTPS, 127.0.0.1"
: > "$B/results"

# ---- certo on SQLite ----
start_certo sqlite || { tail -n 5 "$B/sqlite/server.log" >&2; echo "bench/api: certo server did not start" >&2; exit 1; }
SQ_PORT=$PORT SQ_PID=$PID
SQ_URL=https://127.0.0.1:$SQ_PORT$API
login sqlite "$SQ_PORT"
probe "$SQ_URL" "$B/sqlite/bearer.hdr" 200
cp "$B/body" "$B/api-body.json"
BODY=$(stat -c %s "$B/api-body.json")
probe "$SQ_URL" "" 401
probe "$SQ_URL" "$B/sqlite/basic.hdr" 200
echo "   certo server (SQLite) on 127.0.0.1:$SQ_PORT; $API answers $BODY bytes of body"

# ---- nginx: the same body as a static file ----
N=$B/nginx
mkdir -p "$N/www" "$N/tmp" "$N/logs"
chmod 0755 "$N" "$N/www"
install -m 0644 "$B/api-body.json" "$N/www/catalog.json"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
  -addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout "$N/key.pem" -out "$N/cert.pem" 2>/dev/null
NG_PORT=$(free_port)
cat > "$N/nginx.conf" <<EOF
daemon off;
worker_processes $NGINX_WORKERS;
pid $N/nginx.pid;
error_log $N/logs/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $N/tmp/b; proxy_temp_path $N/tmp/p; fastcgi_temp_path $N/tmp/f;
  uwsgi_temp_path $N/tmp/u; scgi_temp_path $N/tmp/s;
  keepalive_timeout 75s;
  keepalive_requests 100000000;
  server {
    listen 127.0.0.1:$NG_PORT ssl;
    ssl_certificate $N/cert.pem;
    ssl_certificate_key $N/key.pem;
    root $N/www;
    default_type application/json;
    location / {
      add_header Cache-Control no-store;
      add_header X-Content-Type-Options nosniff;
    }
  }
}
EOF
"$NGINX" -p "$N" -c "$N/nginx.conf" -e "$N/logs/error.log" &
NG_PID=$!
PIDS+=("$NG_PID")
NG_URL=https://127.0.0.1:$NG_PORT/catalog.json
for _ in $(seq 50); do
  curl -sk -o /dev/null "$NG_URL" 2>/dev/null && break
  kill -0 "$NG_PID" 2>/dev/null || { cat "$N/logs/error.log" >&2; exit 1; }
  sleep 0.1
done
probe "$NG_URL" "" 200
cmp -s "$B/body" "$B/api-body.json" || { echo "bench/api: nginx does not serve the API body" >&2; exit 1; }
echo "   nginx ($NGINX_WORKERS worker) on 127.0.0.1:$NG_PORT serving the same $BODY bytes, access_log off"

# ---- certo on PostgreSQL ----
PG_STATUS=
if [ "${BENCH_PG:-1}" = 0 ]; then
  PG_STATUS="skipped (BENCH_PG=0)"
elif [ ! -f "$ROOT/tests/pg/pgctl.sh" ]; then
  PG_STATUS="PostgreSQL backend not built (no tests/pg/pgctl.sh)"
else
  PG_DIR=$B/pg
  if ! bash "$ROOT/tests/pg/pgctl.sh" start "$PG_DIR" > "$B/pgctl.log" 2>&1; then
    PG_STATUS="skipped: tests/pg/pgctl.sh could not start PostgreSQL: $(tail -n 1 "$B/pgctl.log")"
  elif ! start_certo postgresql "$(cat "$PG_DIR/url")"; then
    if grep -q 'not supported by this build' "$B/postgresql/server.log"; then
      PG_STATUS="PostgreSQL backend not built ($CERTO refuses postgresql:// urls)"
    else
      PG_STATUS="skipped: certo server did not start on PostgreSQL: $(tail -n 1 "$B/postgresql/server.log")"
    fi
  else
    PG_PORT=$PORT PG_PID=$PID
    PG_URL=https://127.0.0.1:$PG_PORT$API
    echo "   certo server (PostgreSQL, $(sed -n 's/^pgctl: //p' "$B/pgctl.log")) on 127.0.0.1:$PG_PORT"
  fi
fi
[ -z "$PG_STATUS" ] || echo "   postgresql: $PG_STATUS"

# ---- the runs ----
echo "== nginx (static file, the ceiling)"
bench nginx "$NG_URL" "" "$DURATION" "$WARMUP" "" "$NG_PID"
echo "== certo, SQLite, Bearer token"
login sqlite "$SQ_PORT" # a fresh token (they live 15 minutes)
bench sqlite "$SQ_URL" "$B/sqlite/bearer.hdr" "$DURATION" "$WARMUP" "$B/sqlite/server.log" "$SQ_PID"
if [ -z "$PG_STATUS" ]; then
  echo "== certo, PostgreSQL, Bearer token"
  login postgresql "$PG_PORT"
  probe "$PG_URL" "$B/postgresql/bearer.hdr" 200
  cmp -s "$B/body" "$B/api-body.json" || echo "   (the PostgreSQL server's body differs from the SQLite one's)"
  bench postgresql "$PG_URL" "$B/postgresql/bearer.hdr" "$DURATION" "$WARMUP" \
    "$B/postgresql/server.log" "$PG_PID" "$(cat "$PG_DIR/pid")"
fi
echo "== certo, SQLite, no credentials (401: the floor of the request path)"
bench 401 "$SQ_URL" "" "$DURATION" "$WARMUP" "$B/sqlite/server.log" "$SQ_PID"
echo "== certo, SQLite, Basic auth (argon2id per request; $BASIC_DURATION, no warm-up)"
bench basic "$SQ_URL" "$B/sqlite/basic.hdr" "$BASIC_DURATION" 0 "$B/sqlite/server.log" "$SQ_PID"

python3 - "$B/results" "$(getconf CLK_TCK)" "$cores" "$NGINX_WORKERS" "$PG_STATUS" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    kv = dict(f.split("=", 1) for f in line.split())
    rows[kv["name"]] = kv
tck, cores, workers, pg_status = int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
label = {"nginx": "nginx, static file (ceiling)", "sqlite": "certo SQLite, Bearer token",
         "postgresql": "certo PostgreSQL, Bearer token", "401": "certo, no credentials (401)",
         "basic": "certo SQLite, Basic auth (argon2id)"}

def rps(r):
    return int(r["requests"]) / (int(r["duration_us"]) / 1e6)

def ms(us):
    us = int(us)
    return f"{us / 1000:.2f} ms" if us < 100_000 else f"{us / 1000:.0f} ms"

ceiling = rps(rows["nginx"])
print()
print("| target | requests/s | p50 | p99 | ratio to nginx | server CPU/request | notes |")
print("|---|---:|---:|---:|---:|---:|---|")
for name in ("nginx", "sqlite", "postgresql", "401", "basic"):
    r = rows.get(name)
    if r is None:
        if name == "postgresql":
            print(f"| {label[name]} | | | | | | {pg_status} |")
        continue
    n = int(r["requests"])
    # per request the server finished in the window (its log lines; nginx: wrk's count)
    done = int(r["log_lines"]) or n
    cpu = int(r["server_ticks"]) / tck / max(done, 1) * 1e6
    dbcpu = int(r["db_ticks"]) / tck / max(done, 1) * 1e6
    notes = []
    if dbcpu:
        notes.append(f"+ PostgreSQL {dbcpu:.0f} µs CPU/request")
    bad = int(r["non2xx"])
    if name == "401":
        notes.append(f"{bad} of {n} answered 401, as expected")
    elif bad:
        notes.append(f"{bad} non-2xx responses!")
    errs = sum(int(r[k]) for k in ("connect", "read", "write", "timeout"))
    if errs:
        notes.append(f"{errs} socket errors ({r['timeout']} timeouts)")
    print(f"| {label[name]} | {rps(r):,.0f} | {ms(r['p50_us'])} | {ms(r['p99_us'])} | "
          f"{rps(r) / ceiling:.2f} | {cpu:.0f} µs | {'; '.join(notes)} |")

print(f"\n{cores} cores shared by wrk and the server under test (nginx: {workers} worker; certo: "
      "one event-loop thread). wrk CPU per request: " +
      ", ".join(f"{n} {sum(float(x) for x in rows[n]['wrk_cpu'].split('+')) / int(rows[n]['requests']) * 1e6:.0f} µs"
                for n in ("nginx", "sqlite", "postgresql", "401") if n in rows))

print("\nserver log volume (stderr to a file, one line per request):")
for name in ("sqlite", "postgresql", "401", "basic"):
    r = rows.get(name)
    if r is None:
        continue
    lines, size = int(r["log_lines"]), int(r["log_bytes"])
    secs = int(r["duration_us"]) / 1e6
    print(f"  {label[name]}: {lines:,} lines, {size / 1e6:.1f} MB in {secs:.0f} s "
          f"({size / max(lines, 1):.0f} bytes/line, {size / secs / 1e6:.2f} MB/s, "
          f"{size / secs * 86400 / 1e9:.1f} GB/day at this rate)")

s = rows["sqlite"]
ok_rps, ok_p99 = rps(s) >= 5000, int(s["p99_us"]) < 20000
print(f"\nSQLite expectation (>= 5,000 requests/s with p99 < 20 ms): "
      f"{'met' if ok_rps and ok_p99 else 'NOT met'} "
      f"({rps(s):,.0f} requests/s {'>=' if ok_rps else '<'} 5,000; "
      f"p99 {ms(s['p99_us'])} {'<' if ok_p99 else '>='} 20 ms)")
if pg_status:
    print(f"PostgreSQL: {pg_status}")
PY
