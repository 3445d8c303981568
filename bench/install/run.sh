#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/install: installing one new certificate on V nginx server blocks (V = 1 and 200),
# Certo beside `certbot install --nginx` and beside the floor made of nginx's own tools
# (sed the two directives, `nginx -t`, SIGHUP), in one run, on one private nginx on
# 127.0.0.1. Every timed run ends when the new certificate is served: certbot and the floor
# are followed by wait_served.py on the last block; Certo's own run includes its
# verification of every one of the V names over TLS with SNI. Before each run, hyperfine's
# --prepare puts the original configuration back, reloads and waits for the old
# certificate.
#
# Usage: bench/install/run.sh [path/to/certo]      (needs nginx, certbot with the nginx
#        plugin, hyperfine, openssl, python3; `make bench` installs them)
# Env:   BENCH_V="1 200"   block counts;  BENCH_RUNS=10   runs per command
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CERTO=$(realpath "${1:-$HERE/../../build/bin/certo}")
NGINX=/usr/sbin/nginx
RUNS=${BENCH_RUNS:-10}
B=$(mktemp -d /tmp/certo-bench-install-XXXXXX)
# Every nginx this script starts is stopped by its pid, also when the run is interrupted.
cleanup() {
  for d in "$B"/v*; do
    [ -f "$d/run/nginx.pid" ] && kill "$(cat "$d/run/nginx.pid" 2>/dev/null)" 2>/dev/null || true
  done
  rm -rf "$B"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
for t in hyperfine certbot openssl python3 "$NGINX"; do
  command -v "$t" >/dev/null || { echo "bench/install: missing $t" >&2; exit 2; }
done
export CERTO_CONTAINER=0
PORT0=${BENCH_PORT0:-$((30000 + RANDOM % 25000))}
export BENCH_PORT0=$PORT0

fp_of() { openssl x509 -in "$1" -noout -fingerprint -sha256 | cut -d= -f2; }

# A CA and two leaves (old, new) whose SANs are the V names b000.test ... .
make_pki() {
  local d=$1 v=$2 sans="" i
  mkdir -p "$d/pki"
  for ((i = 0; i < v; i++)); do sans="$sans,DNS:$(printf 'b%03d.test' "$i")"; done
  sans=${sans#,}
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj "/CN=bench CA" -keyout "$d/pki/ca.key" -out "$d/pki/ca.crt" 2>/dev/null
  for n in old new; do
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=b000.test" \
      -keyout "$d/pki/$n.key" -out "$d/pki/$n.csr" 2>/dev/null
    printf 'subjectAltName=%s\n' "$sans" > "$d/pki/$n.ext"
    openssl x509 -req -in "$d/pki/$n.csr" -CA "$d/pki/ca.crt" -CAkey "$d/pki/ca.key" \
      -CAcreateserial -days 20 -extfile "$d/pki/$n.ext" -out "$d/pki/$n.crt" 2>/dev/null
    cat "$d/pki/$n.crt" "$d/pki/ca.crt" > "$d/pki/$n.fullchain.pem"
  done
}

make_nginx() {
  local d=$1 v=$2 i
  mkdir -p "$d/nginx" "$d/run"
  {
    echo "worker_processes auto;"
    echo "pid $d/run/nginx.pid;"
    echo "error_log $d/run/error.log;"
    echo "events { worker_connections 1024; }"
    echo "http {"
    echo "    access_log off;"
    for ((i = 0; i < v; i++)); do
      printf '    server {\n        listen 127.0.0.1:%d ssl;\n        server_name b%03d.test;\n' \
        $((PORT0 + i)) "$i"
      printf '        ssl_certificate %s/pki/old.fullchain.pem;\n' "$d"
      printf '        ssl_certificate_key %s/pki/old.key;\n    }\n' "$d"
    done
    echo "}"
  } > "$d/nginx/nginx.conf"
  cp "$d/nginx/nginx.conf" "$d/nginx/nginx.conf.orig"
  "$NGINX" -c "$d/nginx/nginx.conf"
}

last_name() { printf 'b%03d.test' $(($1 - 1)); }
last_port() { echo $((PORT0 + $1 - 1)); }

# Sub-commands run by hyperfine.
case "${BENCH_STEP:-}" in
  reset)
    d=$BENCH_DIR v=$BENCH_VV
    cp "$d/nginx/nginx.conf.orig" "$d/nginx/nginx.conf"
    kill -HUP "$(cat "$d/run/nginx.pid")"
    exec python3 "$HERE/wait_served.py" 127.0.0.1 "$(last_port "$v")" "$(last_name "$v")" \
      "$(fp_of "$d/pki/old.crt")" ;;
  certbot)
    d=$BENCH_DIR v=$BENCH_VV doms=()
    for ((i = 0; i < v; i++)); do doms+=(-d "$(printf 'b%03d.test' "$i")"); done
    certbot install --nginx --nginx-server-root "$d/nginx" --nginx-ctl "$NGINX" \
      --config-dir "$d/cb/cfg" --work-dir "$d/cb/work" --logs-dir "$d/cb/logs" "${doms[@]}" \
      --cert-path "$d/pki/new.crt" --key-path "$d/pki/new.key" \
      --fullchain-path "$d/pki/new.fullchain.pem" --chain-path "$d/pki/ca.crt" \
      --non-interactive --no-redirect >> "$d/certbot.out" 2>&1
    exec python3 "$HERE/wait_served.py" 127.0.0.1 "$(last_port "$v")" "$(last_name "$v")" \
      "$(fp_of "$d/pki/new.crt")" ;;
  floor)
    d=$BENCH_DIR v=$BENCH_VV c=$d/nginx/nginx.conf
    sed -e "s#$d/pki/old.fullchain.pem#$d/pki/new.fullchain.pem#" \
      -e "s#$d/pki/old.key#$d/pki/new.key#" "$c" > "$c.tmp"
    mv "$c.tmp" "$c"
    "$NGINX" -t -q -c "$c"
    kill -HUP "$(cat "$d/run/nginx.pid")"
    exec python3 "$HERE/wait_served.py" 127.0.0.1 "$(last_port "$v")" "$(last_name "$v")" \
      "$(fp_of "$d/pki/new.crt")" ;;
  certo)
    d=$BENCH_DIR
    exec "$CERTO" tls install bench --cert "$d/pki/new.crt" --key "$d/pki/new.key" \
      --chain "$d/pki/ca.crt" --data "$d/certo" > /dev/null ;;
esac

echo "bench/install: $("$CERTO" --version), $("$NGINX" -v 2>&1), $(certbot --version 2>&1)"
printf '%-6s %-8s %10s %10s\n' V tool median_s ratio
for v in ${BENCH_V:-1 200}; do
  d=$B/v$v
  make_pki "$d" "$v"
  make_nginx "$d" "$v"
  "$CERTO" tls add nginx --name bench --connection_type local \
    --nginx_config_path "$d/nginx/nginx.conf" --data "$d/certo" > /dev/null
  export BENCH_DIR=$d BENCH_VV=$v
  for tool in certo certbot floor; do
    BENCH_STEP=reset "$0" "$CERTO"
    hyperfine --style none --warmup 1 --runs "$RUNS" --export-json "$d/$tool.json" \
      --prepare "env BENCH_STEP=reset $0 $CERTO" "env BENCH_STEP=$tool $0 $CERTO" \
      > "$d/$tool.log" 2>&1 || { echo "bench/install: $tool failed, see $d/$tool.log" >&2; cat "$d/$tool.log" >&2; exit 1; }
  done
  python3 - "$d" "$v" <<'PY'
import json, sys
d, v = sys.argv[1], sys.argv[2]
med = {t: json.load(open(f"{d}/{t}.json"))["results"][0]["median"] for t in ("certo", "certbot", "floor")}
for t in ("certo", "certbot", "floor"):
    print(f"{v:<6} {t:<8} {med[t]:10.3f}")
print(f"{v:<6} certbot/certo = {med['certbot'] / med['certo']:.2f}x   certo/floor = {med['certo'] / med['floor']:.2f}x")
PY
  [ -f "$d/run/nginx.pid" ] && kill "$(cat "$d/run/nginx.pid" 2>/dev/null)" 2>/dev/null || true
done
