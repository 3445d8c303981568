#!/usr/bin/env bash
# certo server (issue 7, first slice): HTTPS on a free loopback port, the /vco/api routes
# and their JSON errors, the identity (served certificate = `server-cert show`, kept across
# restarts, private key sealed in the database), SIGHUP keeps serving, SIGTERM exits 0.
source "$(dirname "$0")/lib.bash"
C=$CERTO
D=$T/srv
PID=
trap 'if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; fi; chmod -R u+w "$T" 2>/dev/null; rm -rf "$T"' EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
U=https://127.0.0.1:$PORT/vco/api

start_server() {
  "$C" server --listen 127.0.0.1:$PORT --data "$D" > "$T/srv.out" 2> "$T/srv.err" &
  PID=$!
  for _ in $(seq 100); do
    grep -q 'listening' "$T/srv.out" 2>/dev/null && return 0
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
  done
  fail "server did not start: $(cat "$T/srv.err")"; finish
}
stop_server() {
  local rc=0
  kill -TERM "$PID"; wait "$PID" || rc=$?
  PID=
  [ "$rc" = 0 ] && ok || fail "SIGTERM: exit $rc"
}
# get PATH [curl args...]: body in $T/body, status in $T/code
# (a refused connection gives status 000 and fails the check, instead of ending the script)
# Requests carry the first admin's credentials (HTTP Basic; tokens are 73_api_auth's subject).
get() { local p=$1; shift; curl -sk -u "admin:$(admin_pw)" -o "$T/body" -w '%{http_code}' "$@" "$U$p" > "$T/code" || true; }
admin_pw() { sed -n 's/^password: //p' "$D/initial-admin.txt"; }
json() { python3 -c "import json,sys; d=json.load(open('$T/body')); sys.exit(0 if ($1) else 1)" ; }
check() { # check DESC CODE PYEXPR
  if [ "$(cat "$T/code")" != "$2" ]; then fail "$1: status $(cat "$T/code"), want $2"; return; fi
  if json "$3"; then ok; else fail "$1: body $(head -c 400 "$T/body")"; fi
}

# ---- wildcard and bad addresses are refused ----
expect_fail "empty host" 2 'IP address' "$C" server --listen :$PORT --data "$D"
expect_fail "host name" 2 'not an IP address' "$C" server --listen localhost:$PORT --data "$D"
expect_fail "bad port" 2 'bad port' "$C" server --listen 127.0.0.1:99999 --data "$D"

# ---- first start ----
start_server
expect_grep "listening line" "^certo server listening on $U \(certificate SHA-256 ([0-9A-F]{2}:){31}[0-9A-F]{2}\)$" "$T/srv.out"
[ "$(wc -l < "$T/srv.out")" = 2 ] && ok || fail "stdout has $(wc -l < "$T/srv.out") lines"
expect_grep "credentials line" "^first start: the admin's user name and password are in $D/initial-admin.txt \(0600\)" "$T/srv.out"
[ "$(stat -c %a "$D/initial-admin.txt")" = 600 ] && ok || fail "initial-admin.txt mode"
curl -sk -o "$T/body" -w '%{http_code}' "$U/" > "$T/code" || true
check "no credentials" 401 "d['error']['code']=='unauthorized'"

get /
check "service document" 200 "[s['name'] for s in d['service']][:2]==['catalog','inventory'] and d['service'][0]['href']=='$U/catalog/' and d['service'][1]['href']=='$U/inventory/' and all(s['rel']=='down' for s in d['service'])"
get /catalog/System/
check "object types" 200 "[l['name'] for l in d['link']][:3]==['Workflow','Endpoint','Certificate'] and d['link'][0]['href']=='$U/catalog/System/Workflow/' and d['total']==len(d['link'])"
get /catalog/System/Workflow/
check "workflows" 200 "d=={'link': [], 'total': 0, 'start': 0}"
get /nope
check "404" 404 "d=={'error': {'code': 'not_found', 'message': d['error']['message'], 'field': None}} and d['error']['message']"
get /../../etc/passwd --path-as-is
check "404 for traversal" 404 "d['error']['code']=='not_found'"
get / -X POST -d '{}'
check "405" 405 "d['error']['code']=='method_not_allowed' and d['error']['field'] is None"
get / -X DELETE
check "405 DELETE" 405 "d['error']['code']=='method_not_allowed'"
head -c $((2 * 1024 * 1024)) /dev/zero > "$T/big"
get / -X POST --data-binary @"$T/big"
check "2 MiB body" 413 "d['error']['code']=='too_large'"
get / -X POST -H 'Transfer-Encoding: chunked' --data-binary @"$T/big"
check "2 MiB chunked body" 413 "d['error']['code']=='too_large'"
head -c $((9 * 1024 * 1024)) /dev/zero > "$T/big"
get / -X POST --data-binary @"$T/big"
[ "$(cat "$T/code")" = 413 ] && ok || fail "9 MiB body: status $(cat "$T/code"), want 413"
curl -sk -D "$T/hdr" -o /dev/null "$U/"
grep -qi '^content-type: application/json' "$T/hdr" && ok || fail "no JSON content type"

# ---- log lines: one per request, no headers ----
expect_grep "request log" '^ts=[0-9T:.-]+Z level=info msg=request method=GET path="/vco/api/" status=200 user=admin duration_ms=[0-9.]+$' "$T/srv.err"
expect_grep "404 log" 'method=GET path="/vco/api/nope" status=404' "$T/srv.err"
curl -sk -o /dev/null -H 'Authorization: Bearer sekrit-token-123' "$U/"
sleep 0.2
grep -q 'sekrit-token-123' "$T/srv.err" && fail "a request header reached the log" || ok

# ---- identity: served certificate = server-cert show ----
served=$(openssl s_client -connect 127.0.0.1:$PORT -servername localhost < /dev/null 2>/dev/null |
  openssl x509 -noout -fingerprint -sha256 | sed 's/.*=//')
expect_ok "server-cert show --json" "$C" server-cert show --data "$D" --json
shown=$(python3 -c "import json; print(json.load(open('$T/out'))['sha256_fingerprint'])")
[ -n "$served" ] && [ "$served" = "$shown" ] && ok || fail "served $served, shown $shown"
grep -q "$shown" "$T/srv.out" && ok || fail "listening line does not name $shown"
python3 -c "import json; d=json.load(open('$T/out')); s={x['type']+':'+x['value'] for x in d['sans']}; assert {'DNS:localhost','IP:127.0.0.1'} <= s, s; assert d['self_signed']" && ok ||
  fail "SANs/self-signed: $(cat "$T/out")"
expect_ok "server-cert show" "$C" server-cert show --data "$D"
expect_grep "show text SHA-256" "^SHA-256: +$shown$" "$T/out"
expect_grep "show text SANs" 'DNS:localhost, IP:127.0.0.1' "$T/out"
openssl s_client -connect 127.0.0.1:$PORT < /dev/null 2>/dev/null | openssl x509 -noout -text > "$T/x.txt"
expect_grep "EC P-256" 'NIST CURVE: P-256' "$T/x.txt"

# ---- the private key is sealed in the database ----
[ "$(stat -c %a "$D/secret.key")" = 600 ] && ok || fail "secret.key mode $(stat -c %a "$D/secret.key")"
grep -aq 'PRIVATE KEY' "$D"/server.db* && fail "PEM private key in the database" || ok
sqlite3 "$D/server.db" "SELECT hex(key_sealed) FROM keystore WHERE alias='identity'" > "$T/sealed"
[ -s "$T/sealed" ] && ok || fail "no sealed key row"
grep -q '^435301' "$T/sealed" && ok || fail "key is not in the sealed format"
# Unseal with the KEK (AES-256-GCM, associated data = header || record name): the clear
# key must be the served certificate's, and neither its PKCS#8 DER nor its raw private
# scalar may appear anywhere in the database files.
openssl s_client -connect 127.0.0.1:$PORT < /dev/null 2>/dev/null | openssl x509 -outform DER -out "$T/served.der"
python3 - "$D" "$T/sealed" "$T/served.der" <<'PY' && ok || fail "sealed key check failed"
import sys, glob
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives import serialization
from cryptography import x509
d, sealed_hex, served = sys.argv[1], open(sys.argv[2]).read().strip(), open(sys.argv[3], 'rb').read()
kek = bytes.fromhex(open(d + '/secret.key').read().strip())
b = bytes.fromhex(sealed_hex)
hdr, ct = b[:19], b[19:]
pk_der = AESGCM(kek).decrypt(hdr[7:19], ct, hdr + b'keystore/identity/key')
key = serialization.load_der_private_key(pk_der, None)
cert = x509.load_der_x509_certificate(served)
pub = lambda k: k.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
assert pub(key.public_key()) == pub(cert.public_key()), "unsealed key is not the served one"
scalar = key.private_numbers().private_value.to_bytes(32, 'big')
for f in glob.glob(d + '/server.db*'):
    raw = open(f, 'rb').read()
    assert pk_der not in raw and scalar not in raw, "clear key bytes in " + f
PY
# ---- SIGHUP: reload, same socket keeps serving ----
kill -HUP "$PID"
sleep 0.3
get /
check "after SIGHUP" 200 "'service' in d"
expect_grep "reload logged" 'msg=certificate_reloaded' "$T/srv.err"
kill -0 "$PID" && ok || fail "server died on SIGHUP"

# ---- SIGTERM exits 0; a restart keeps the identity ----
stop_server
expect_grep "shutdown logged" 'msg=shutting_down signal=TERM' "$T/srv.err"
start_server
expect_grep "same identity after restart" "\(certificate SHA-256 $shown\)" "$T/srv.out"
grep -q 'identity_created' "$T/srv.err" && fail "identity re-created on restart" || ok
get /catalog/System/Workflow/
check "after restart" 200 "d['total']==0"
rows=$(sqlite3 "$D/server.db" "SELECT group_concat(alias) FROM (SELECT alias FROM keystore ORDER BY alias)")
[ "$rows" = gateway-ca,identity ] && ok || fail "keystore rows: $rows (want the identity and the gateway CA)"

# ---- a wrong secret key does not open the identity ----
kill -TERM "$PID"; wait "$PID" || true; PID=
# timeout: a server that wrongly starts would otherwise serve forever (timeout exits 124).
expect_fail "wrong secret key" 2 '^certo server: sealed with another secret key than the one loaded$' \
  env CERTO_SECRET_KEY="$(printf '%064d' 0)" timeout 10 "$C" server --listen 127.0.0.1:$PORT --data "$D"
finish
