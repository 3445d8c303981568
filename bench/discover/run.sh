#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/discover: `certo discover scan` beside the peer tools, in one run.
#
# 1. The 200-port fixture of the shared peer baselines (fixture.sh: one private nginx with
#    200 TLS server blocks on 127.0.0.1:20000-20199, ECDSA P-256 and RSA-2048 leaves with
#    their CA, TLS 1.3): hyperfine medians of whole processes — certo (full chain read and
#    verified), `nmap --script ssl-cert`, a shell loop of `openssl s_client`, and the
#    Python reference tls_probe.py (asyncio, 8 in flight; threads, 4) — printed as
#    ports/s and ratios, plus certo's client CPU per port (user + system time).
# 2. A sweep of 127.1.0.0/16 on one port where 1,000 addresses have a live TLS listener
#    (one private nginx): targets/s, the TLS services found, and peak memory (max RSS).
#
# Usage: bench/discover/run.sh [path/to/certo]
# Env:   PEERS=DIR         the peer scripts (default: ../shared/bench/peers beside the repo)
#        BENCH_RUNS=10     hyperfine runs of the fast commands (openssl loop: 3)
#        BENCH_CONC="8 64" certo concurrencies to time on the fixture
#        BENCH_SWEEP=1     0 skips part 2
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CERTO=$(realpath "${1:-$HERE/../../build/bin/certo}")
PEERS=${PEERS:-$(realpath -m "$HERE/../../../shared/bench/peers")}
RUNS=${BENCH_RUNS:-10}
CONC=${BENCH_CONC:-"8 64"}
NGINX=/usr/sbin/nginx
B=$(mktemp -d /tmp/certo-bench-discover-XXXXXX)
export PB_ROOT=${PB_ROOT:-/tmp/peers-bench}
FIXTURE_WAS_UP=0
# Every nginx this script starts is stopped by its pid, also when the run is interrupted.
cleanup() {
  [ -f "$B/sweep/run/nginx.pid" ] && kill "$(cat "$B/sweep/run/nginx.pid" 2>/dev/null)" 2>/dev/null || true
  if [ "$FIXTURE_WAS_UP" = 0 ] && [ -x "$PEERS/fixture.sh" ]; then
    bash "$PEERS/fixture.sh" stop >/dev/null 2>&1 || true
  fi
  rm -rf "$B"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
for t in hyperfine nmap openssl python3 /usr/bin/time "$NGINX"; do
  command -v "$t" >/dev/null || { echo "bench/discover: missing $t (make bench installs it)" >&2; exit 2; }
done
for f in fixture.sh tls_probe.py sclient_loop.sh; do
  [ -f "$PEERS/$f" ] || { echo "bench/discover: no $PEERS/$f (set PEERS=DIR)" >&2; exit 2; }
done
export CERTO_CONTAINER=0
G=$B/gw # the gateway data directory the scans are recorded in

# median SECONDS of command NAME in hyperfine's JSON
median() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][int(sys.argv[2])]["median"])' "$1" "$2"; }

# ---- part 1: the 200-port fixture ----
if bash "$PEERS/fixture.sh" status 2>/dev/null | grep -q '^running '; then FIXTURE_WAS_UP=1; fi
echo "== fixture: 200 TLS ports on 127.0.0.1:20000-20199 (first start generates keys, ~30 s)"
bash "$PEERS/fixture.sh" start >/dev/null
CA=$PB_ROOT/pki/ca.crt

# Correctness first: certo must find all 200, each with its 2-certificate chain, trusted.
"$CERTO" discover scan --targets 127.0.0.1 --ports 20000-20199 --trust "$CA" --json --quiet \
  --data "$G" > "$B/check.json"
python3 - "$B/check.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
r = d["results"]
assert len(r) == 200 and all(x["service"] == "tls" and x["chain_length"] == 2 and x["verify"] == "ok"
                             for x in r), "certo did not read 200 trusted 2-certificate chains"
assert len({x["sha256_fingerprint"] for x in r}) == 200
print("certo read 200 chains (2 certificates each, all trusted), 200 distinct leaves")
PY

cmds=() names=()
for c in $CONC; do
  names+=("certo -c $c")
  cmds+=("$CERTO discover scan --targets 127.0.0.1 --ports 20000-20199 --trust $CA --csv --quiet --concurrency $c --data $G > /dev/null")
done
names+=("nmap ssl-cert" "tls_probe.py asyncio 8" "tls_probe.py threads 4")
cmds+=("nmap -p 20000-20199 --script ssl-cert 127.0.0.1 -oN $B/nmap.txt > /dev/null"
       "python3 $PEERS/tls_probe.py --mode asyncio --concurrency 8 2> /dev/null"
       "python3 $PEERS/tls_probe.py --mode threads --concurrency 4 2> /dev/null")
hyperfine -N --style basic --warmup 2 --runs "$RUNS" --export-json "$B/fast.json" "${cmds[@]}" > "$B/fast.log" 2>&1 ||
  hyperfine --style basic --warmup 2 --runs "$RUNS" --export-json "$B/fast.json" "${cmds[@]}" > "$B/fast.log"
hyperfine --style basic --runs 3 --export-json "$B/sclient.json" \
  "bash $PEERS/sclient_loop.sh 20000 20199 > /dev/null 2>&1" > "$B/sclient.log"
grep -c 'ssl-cert: Subject' "$B/nmap.txt" | sed 's/^/nmap read certificates on ports: /'

# certo's client CPU per port: user + system time of 10 whole runs at the first concurrency.
c1=${CONC%% *}
/usr/bin/time -f '%U %S' -o "$B/cpu" bash -c "for i in \$(seq 10); do $CERTO discover scan --targets 127.0.0.1 --ports 20000-20199 --trust $CA --csv --quiet --concurrency $c1 --data $G > /dev/null 2>&1; done"
read -r cpu_u cpu_s < "$B/cpu"

python3 - "$B/fast.json" "$B/sclient.json" "$cpu_u" "$cpu_s" "${names[@]}" <<'PY'
import json, sys
fast = json.load(open(sys.argv[1]))["results"]
scl = json.load(open(sys.argv[2]))["results"][0]
cpu = (float(sys.argv[3]) + float(sys.argv[4])) / (10 * 200) * 1000
names = sys.argv[5:] + ["openssl s_client loop"]
rows = [(n, r["median"]) for n, r in zip(names, fast + [scl])]
best = min(m for n, m in rows if n.startswith("certo"))
print()
print("| tool | median for 200 ports | ports/s | certo (best) is faster by |")
print("|---|---:|---:|---:|")
for n, m in rows:
    print(f"| {n} | {m * 1000:.1f} ms | {200 / m:.0f} | {'' if n.startswith('certo') else f'{m / best:.1f}x'} |")
print(f"\ncerto client CPU per port (user+system, whole process, 10 runs): {cpu:.3f} ms")
PY

# ---- part 2: a /16 sweep with 1,000 live TLS listeners ----
if [ "${BENCH_SWEEP:-1}" = 1 ]; then
  S=$B/sweep
  PORT=${BENCH_SWEEP_PORT:-24443}
  mkdir -p "$S/run" "$S/logs" "$S/tmp"
  {
    echo "daemon on; worker_processes 2; worker_rlimit_nofile 8192; pid $S/run/nginx.pid;"
    echo "error_log $S/logs/error.log; events { worker_connections 4096; }"
    echo "http { access_log off; client_body_temp_path $S/tmp/b; proxy_temp_path $S/tmp/p;"
    echo "  fastcgi_temp_path $S/tmp/f; uwsgi_temp_path $S/tmp/u; scgi_temp_path $S/tmp/s;"
    echo "  server {"
    # 1,000 addresses spread over the /16: 127.1.X.Y with X.Y = 65 * i
    for ((i = 0; i < 1000; i++)); do
      n=$((65 * i + 1)); echo "    listen 127.1.$((n / 256)).$((n % 256)):$PORT ssl;"
    done
    echo "    ssl_certificate $PB_ROOT/pki/ec/leaf000.fullchain.pem;"
    echo "    ssl_certificate_key $PB_ROOT/pki/ec/leaf000.key;"
    echo "  }"
    echo "}"
  } > "$S/nginx.conf"
  "$NGINX" -p "$S" -c "$S/nginx.conf" -e "$S/logs/error.log"
  for _ in $(seq 50); do [ -s "$S/run/nginx.pid" ] && break; sleep 0.1; done
  echo
  echo "== sweep: 127.1.0.0/16 on port $PORT, 1,000 live TLS listeners"
  for c in 512 2048; do
    /usr/bin/time -f '%e %M %U %S' -o "$S/time" "$CERTO" discover scan --targets 127.1.0.0/16 \
      --ports "$PORT" --csv --quiet --concurrency "$c" --timeout 2000 --data "$G" > "$S/out.csv" 2> "$S/err"
    read -r el rss us ss < "$S/time"
    tls=$(grep -c ',tls,' "$S/out.csv" || true)
    python3 -c "import sys; e,r,u,s,t,c=sys.argv[1:]; print(f'concurrency {c}: {65536/float(e):.0f} targets/s ({float(e):.2f} s), {t} TLS services, peak memory {int(r)/1024:.1f} MiB, CPU {float(u)+float(s):.2f} s')" \
      "$el" "$rss" "$us" "$ss" "$tls" "$c"
  done
fi
