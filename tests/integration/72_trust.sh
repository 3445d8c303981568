#!/usr/bin/env bash
# certo trust (issue 7, trust manager): import-url against real `certo server` listeners on
# loopback (--fingerprint right and wrong, --yes, a terminal prompt, no confirmation without
# a terminal), a deadline on a port that never answers, a closed port, SSRF refusals without
# any connection, export on one data directory → import on a second (replication, re-run),
# remove, and bad input: exit 2, one line naming the option, the database unchanged.
source "$(dirname "$0")/lib.bash"
C=$CERTO
DA=$T/a
DB=$T/b
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; chmod -R u+w "$T" 2>/dev/null; rm -rf "$T"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_server() { # start_server DIR PORT NAME
  "$C" server --listen 127.0.0.1:$2 --data "$1" > "$T/$3.out" 2> "$T/$3.err" &
  PIDS+=($!)
  for _ in $(seq 100); do
    grep -q 'listening' "$T/$3.out" 2>/dev/null && return 0
    sleep 0.1
  done
  fail "server $3 did not start: $(cat "$T/$3.err")"; finish
}
stop_servers() { for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; PIDS=(); }
rows() { sqlite3 "$1/server.db" "SELECT alias, hex(cert_der), fingerprint, subject, issuer, not_after, source, purpose, token_issuer, added_at FROM trust ORDER BY alias"; }
nrows() { sqlite3 "$1/server.db" "SELECT count(*) FROM trust"; }
unchanged() { # unchanged DESC DIR: the rows equal $T/rows.before
  rows "$2" > "$T/rows.after"
  cmp -s "$T/rows.before" "$T/rows.after" && ok || fail "$1: the trust table changed"
}
jget() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
ms() { date +%s%3N; }

PA=$(free_port); start_server "$DA" "$PA" a
PB=$(free_port); start_server "$DB" "$PB" b
FA=$("$C" server-cert show --data "$DA" --json | jget "d['sha256_fingerprint']")
FB=$("$C" server-cert show --data "$DB" --json | jget "d['sha256_fingerprint']")
WRONG=$(printf '%s' "$FB" | tr -d ':' | tr 'A-F' 'a-f')

# ---- import-url: no confirmation on a non-terminal → exit 2, nothing stored ----
rows "$DB" > "$T/rows.before"
expect_fail "no confirmation, no terminal" 2 \
  "^certo trust import-url: nothing stored: no terminal to confirm on \(give --yes, or --fingerprint $FA to pin it\)$" \
  "$C" trust import-url 127.0.0.1:$PA --data "$DB" < /dev/null
expect_grep "shows the subject" '^subject: +CN=' "$T/out"
expect_grep "shows the issuer" '^issuer: +CN=.*\(self-signed\)$' "$T/out"
expect_grep "shows not before" '^not before: +20[0-9-]+ [0-9:]+ UTC$' "$T/out"
expect_grep "shows not after" '^not after: +20[0-9-]+ [0-9:]+ UTC$' "$T/out"
expect_grep "shows the SHA-256" "^SHA-256: +$FA\$" "$T/out"
unchanged "no confirmation" "$DB"

# ---- --fingerprint wrong: refused, both fingerprints named ----
expect_fail "wrong --fingerprint" 2 "^certo trust import-url: --fingerprint: the certificate's SHA-256 is $FA, not $FB; nothing stored$" \
  "$C" trust import-url 127.0.0.1:$PA --data "$DB" --fingerprint "$WRONG"
unchanged "wrong fingerprint" "$DB"

# ---- --fingerprint right (lower case, no colons) ----
PIN=$(printf '%s' "$FA" | tr -d ':' | tr 'A-F' 'a-f')
expect_ok "right --fingerprint" "$C" trust import-url 127.0.0.1:$PA --data "$DB" --fingerprint "$PIN" --alias srv-a
expect_grep "trusted line" "^trusted as 'srv-a' \(SHA-256 $FA\)$" "$T/out"
[ "$(sqlite3 "$DB/server.db" "SELECT alias, fingerprint, source, purpose, token_issuer IS NULL FROM trust")" = "srv-a|$FA|url:127.0.0.1:$PA|peer|1" ] && ok || fail "row after pin: $(rows "$DB")"
# the stored certificate is what the server serves
sqlite3 "$DB/server.db" "SELECT hex(cert_der) FROM trust WHERE alias='srv-a'" | xxd -r -p | openssl x509 -inform DER -noout -fingerprint -sha256 2>/dev/null | sed 's/.*=//' > "$T/o" || true
[ "$(cat "$T/o")" = "$FA" ] && ok || fail "stored DER is not the served certificate: $(cat "$T/o")"

# ---- the same certificate again: an error naming the alias ----
rows "$DB" > "$T/rows.before"
expect_fail "already trusted" 2 "^certo trust import-url: this certificate is already trusted as 'srv-a'$" \
  "$C" trust import-url 127.0.0.1:$PA --data "$DB" --yes
unchanged "already trusted" "$DB"

# ---- --yes, on server B's own listener, default alias from the CN ----
expect_ok "--yes" "$C" trust import-url localhost:$PB --data "$DA" --yes
expect_grep "--yes stored" "^trusted as '.+' \(SHA-256 $FB\)$" "$T/out"
[ "$(nrows "$DA")" = 1 ] && ok || fail "--yes: $(nrows "$DA") rows"
[ "$(sqlite3 "$DA/server.db" "SELECT source FROM trust")" = "url:localhost:$PB" ] && ok || fail "source of --yes"

# ---- a terminal: the prompt ----
rows "$DA" > "$T/rows.before"
expect_ok "remove B from A" "$C" trust remove "$FB" --data "$DA"
expect_grep "remove line" "^removed '.+' \(SHA-256 $FB\)$" "$T/out"
[ "$(nrows "$DA")" = 0 ] && ok || fail "remove by fingerprint left rows"
printf 'n\n' | script -qec "'$C' trust import-url 127.0.0.1:$PB --data '$DA'" /dev/null > "$T/tty.out" 2>&1 || true
expect_grep "prompt shown" 'Trust this certificate\? \[y/N\]' "$T/tty.out"
expect_grep "declined" 'not confirmed; nothing stored' "$T/tty.out"
[ "$(nrows "$DA")" = 0 ] && ok || fail "declined prompt stored a row"
printf 'y\n' | script -qec "'$C' trust import-url 127.0.0.1:$PB --data '$DA' --alias srv-b" /dev/null > "$T/tty.out" 2>&1 || true
expect_grep "accepted" "trusted as 'srv-b'" "$T/tty.out"
[ "$(sqlite3 "$DA/server.db" "SELECT alias || ' ' || fingerprint FROM trust")" = "srv-b $FB" ] && ok || fail "prompt y: $(rows "$DA")"

# ---- deadline: a port that accepts and never answers ----
python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
print(s.getsockname()[1], flush=True)
time.sleep(120)' > "$T/silent.port" &
PIDS+=($!)
for _ in $(seq 50); do [ -s "$T/silent.port" ] && break; sleep 0.1; done
SP=$(cat "$T/silent.port")
rows "$DA" > "$T/rows.before"
t0=$(ms)
expect_fail "silent port" 1 "^certo trust import-url: TLS handshake with 127.0.0.1:$SP timed out$" \
  "$C" trust import-url 127.0.0.1:$SP --data "$DA" --yes --timeout 700
el=$(( $(ms) - t0 ))
[ "$el" -ge 600 ] && [ "$el" -lt 5000 ] && ok || fail "deadline of 700 ms took $el ms"
unchanged "silent port" "$DA"

# ---- a closed port ----
CP=$(free_port)
expect_fail "closed port" 1 "^certo trust import-url: cannot connect to 127.0.0.1:$CP: Connection refused$" \
  "$C" trust import-url 127.0.0.1:$CP --data "$DA" --yes
unchanged "closed port" "$DA"

# ---- SSRF: refused without any connection ----
for target in 169.254.169.254:443 '[fe80::1]:443' metadata.google.internal:80 '[::ffff:169.254.169.254]:443' 0.0.0.0:443; do
  t0=$(ms)
  expect_fail "refused $target" 2 '^certo trust import-url: .* refused, nothing was connected to$' \
    "$C" trust import-url "$target" --data "$DA" --yes --timeout 60000
  el=$(( $(ms) - t0 ))
  [ "$el" -lt 3000 ] && ok || fail "$target took $el ms (a connection attempt?)"
done
# the system calls: no connect() to the target at all (when strace may trace here)
if strace -f -qq -e trace=none true 2>/dev/null; then
  strace -f -qq -e trace=connect -o "$T/strace" "$C" trust import-url 169.254.169.254:443 --data "$DA" --yes > /dev/null 2>&1 || true
  grep -q '169.254.169.254' "$T/strace" && fail "connect() to 169.254.169.254: $(grep 169.254 "$T/strace")" || ok
  strace -f -qq -e trace=connect -o "$T/strace" "$C" trust import-url '[fe80::1]:443' --data "$DA" --yes > /dev/null 2>&1 || true
  grep -q 'fe80' "$T/strace" && fail "connect() to fe80::1" || ok
fi
unchanged "SSRF refusals" "$DA"

# ---- bad input: exit 2, one line naming the option, nothing stored ----
head -c 9000000 /dev/zero | tr '\0' 'A' > "$T/big.pem"
printf 'this is not a certificate\n' > "$T/garbage.pem"
expect_fail "unparsable HOST:PORT" 2 "^certo trust import-url: HOST:PORT 'no-port' is not HOST:PORT" \
  "$C" trust import-url no-port --data "$DA" --yes
expect_fail "port 0" 2 "^certo trust import-url: HOST:PORT '127.0.0.1:0': the port must be a number from 1 to 65535$" \
  "$C" trust import-url 127.0.0.1:0 --data "$DA" --yes
expect_fail "port 70000" 2 "^certo trust import-url: HOST:PORT '127.0.0.1:70000': the port must be" \
  "$C" trust import-url 127.0.0.1:70000 --data "$DA" --yes
expect_fail "bad --fingerprint" 2 "^certo trust import-url: --fingerprint: 'abc' is not a SHA-256 fingerprint" \
  "$C" trust import-url 127.0.0.1:$PA --data "$DA" --fingerprint abc
expect_fail "--yes and --fingerprint" 2 '^certo trust import-url: give only one of --yes and --fingerprint$' \
  "$C" trust import-url 127.0.0.1:$PA --data "$DA" --yes --fingerprint "$FA"
expect_fail "bad --timeout" 2 "^certo trust import-url: --timeout: 'soon' is not an integer" \
  "$C" trust import-url 127.0.0.1:$PA --data "$DA" --yes --timeout soon
expect_fail "bad --alias" 2 "^certo trust import-url: --alias: 'Bad Alias' is not an alias" \
  "$C" trust import-url 127.0.0.1:$PA --data "$DA" --yes --alias 'Bad Alias'
expect_fail "--chain-index past the chain" 2 "^certo trust import-url: --chain-index: 3, but 127.0.0.1:$PA sent 1 certificate$" \
  "$C" trust import-url 127.0.0.1:$PA --data "$DA" --yes --chain-index 3
expect_fail "missing file" 2 "^certo trust import: FILE $T/none.pem: cannot read" \
  "$C" trust import "$T/none.pem" --data "$DA"
expect_fail "garbage file" 2 "^certo trust import: FILE $T/garbage.pem: " \
  "$C" trust import "$T/garbage.pem" --data "$DA"
expect_fail "over-size file" 2 "^certo trust import: FILE $T/big.pem: larger than the limit of [0-9]+ bytes$" \
  "$C" trust import "$T/big.pem" --data "$DA"
expect_fail "bad --token-issuer" 2 "^certo trust import: --token-issuer: " \
  "$C" trust import "$F/ca.crt" --data "$DA" --token-issuer 'has space'
expect_fail "--alias for a bundle" 2 "^certo trust import: --alias: the input holds 2 certificates" \
  "$C" trust import "$F/chain.pem" --data "$DA" --alias two
expect_fail "show unknown" 2 "^certo trust show: no trusted certificate 'nope'$" "$C" trust show nope --data "$DA"
expect_fail "remove unknown" 2 "^certo trust remove: no trusted certificate 'nope'$" "$C" trust remove nope --data "$DA"
expect_fail "unknown option" 2 '--bogus' "$C" trust list --data "$DA" --bogus
unchanged "bad input" "$DA"

# ---- import from files: a bundle, a DER file, a token issuer ----
expect_ok "import bundle" "$C" trust import "$F/chain.pem" --data "$DA"
expect_grep "bundle summary" '^2 added, 0 already trusted$' "$T/out"
openssl x509 -in "$F/leaf-ec256.crt" -outform DER -out "$T/leaf.der"
expect_ok "import DER" "$C" trust import "$T/leaf.der" --data "$DA" --alias leaf
expect_ok "import token issuer" "$C" trust import "$F/leaf-ec384.crt" --data "$DA" --token-issuer https://idp.example.test/
[ "$(sqlite3 "$DA/server.db" "SELECT purpose || ' ' || token_issuer FROM trust WHERE token_issuer IS NOT NULL")" = "token-issuer https://idp.example.test/" ] && ok || fail "token issuer row"
expect_ok "list" "$C" trust list --data "$DA"
expect_grep "list has srv-b" "^srv-b +peer .*$FB" "$T/out"
expect_ok "list --json" "$C" trust list --data "$DA" --json
jget "[e['alias'] for e in d] == sorted(e['alias'] for e in d), len(d)" < "$T/out" > "$T/o"
[ "$(cat "$T/o")" = "True 5" ] && ok || fail "list --json: $(cat "$T/o")"
expect_ok "show --json" "$C" trust show srv-b --data "$DA" --json
jget "d['alias'], d['purpose'], d['sha256_fingerprint'] == '$FB', d['source']" < "$T/out" > "$T/o"
[ "$(cat "$T/o")" = "srv-b peer True url:127.0.0.1:$PB" ] && ok || fail "show --json: $(cat "$T/o")"

# ---- replication: export on A → import on B → the same list ----
expect_ok "export -o" "$C" trust export --data "$DA" -o "$T/trust.pem"
expect_grep "export line" "^exported 5 certificates to $T/trust.pem$" "$T/out"
no_temp_files "$T"
[ "$(grep -c -- '-----BEGIN CERTIFICATE-----' "$T/trust.pem")" = 5 ] && ok || fail "export blocks"
openssl crl2pkcs7 -nocrl -certfile "$T/trust.pem" | openssl pkcs7 -print_certs -noout | grep -c '^subject' > "$T/o"
[ "$(cat "$T/o")" = 5 ] && ok || fail "openssl reads $(cat "$T/o") of 5 exported certificates"
expect_ok "export to stdout" "$C" trust export --data "$DA"
same_bytes "stdout export = -o export" "$T/out" "$T/trust.pem"
"$C" trust remove srv-a --data "$DB" > /dev/null
expect_ok "import the export on B" "$C" trust import "$T/trust.pem" --data "$DB"
expect_grep "replicated" '^5 added, 0 already trusted$' "$T/out"
listing() { "$C" trust list --data "$1" --json | jget "'\n'.join('%s %s %s %s' % (e['alias'], e['sha256_fingerprint'], e['purpose'], e['token_issuer']) for e in d)"; }
listing "$DA" > "$T/list.a"; listing "$DB" > "$T/list.b"
same_bytes "same list on both servers" "$T/list.a" "$T/list.b"
rows "$DB" > "$T/rows.before"
expect_ok "replication again" "$C" trust import "$T/trust.pem" --data "$DB"
expect_grep "re-run skips" '^0 added, 5 already trusted$' "$T/out"
unchanged "replication re-run" "$DB"
# a corrupt second certificate: nothing of the bundle is stored
awk 'BEGIN{n=0} /BEGIN CERT/{n++} {if (n==2 && $0 !~ /-----/ && !done) {print "!!!!" substr($0,5); done=1} else print}' "$T/trust.pem" > "$T/corrupt.pem"
rm -f "$DA.empty"; mkdir -p "$T/c"
expect_fail "corrupt second certificate" 2 "^certo trust import: FILE $T/corrupt.pem: certificate 2: malformed" \
  "$C" trust import "$T/corrupt.pem" --data "$T/c"
[ "$(nrows "$T/c")" = 0 ] && ok || fail "a corrupt bundle stored $(nrows "$T/c") rows"

# ---- remove ----
expect_ok "remove by alias" "$C" trust remove leaf --data "$DB"
"$C" trust show leaf --data "$DB" > /dev/null 2>&1 && fail "leaf still there" || ok
[ "$(nrows "$DB")" = 4 ] && ok || fail "after remove: $(nrows "$DB") rows"

stop_servers
finish
