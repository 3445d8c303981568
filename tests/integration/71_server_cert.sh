#!/usr/bin/env bash
# certo server-cert (issue 7): csr → CA-signed certificate → import with its chain, served
# after SIGHUP; refusals (another key, expired, not yet valid) leave the database as it
# was; export-db / import-db (PKCS#12, seed 001's self-signed rule, wrong password, no
# key); rotate keeps the old certificate as a package signer; bad options exit 2.
source "$(dirname "$0")/lib.bash"
C=$CERTO
D=$T/srv
D2=$T/srv2
PID=
trap 'if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; fi; chmod -R u+w "$T" 2>/dev/null; rm -rf "$T"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)

start_server() { # start_server DIR
  : > "$T/srv.out"
  "$C" server --listen 127.0.0.1:$PORT --data "$1" > "$T/srv.out" 2> "$T/srv.err" &
  PID=$!
  for _ in $(seq 100); do
    grep -q 'listening' "$T/srv.out" 2>/dev/null && return 0
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
  done
  fail "server did not start: $(cat "$T/srv.err")"; finish
}
stop_server() { kill -TERM "$PID"; wait "$PID" || true; PID=; }
reload() { # SIGHUP, then wait for the reload line number N
  kill -HUP "$PID"
  for _ in $(seq 50); do
    [ "$(grep -c 'msg=certificate_reloaded' "$T/srv.err")" -ge "$1" ] && return 0
    sleep 0.1
  done
  fail "no reload logged: $(tail -3 "$T/srv.err")"
}
# served: the SHA-256 of every certificate the server sends, one a line, leaf first.
served() {
  openssl s_client -connect 127.0.0.1:$PORT -servername localhost -showcerts < /dev/null 2>/dev/null |
    awk '/BEGIN CERT/{f=1; c=""} f{c=c $0 "\n"} /END CERT/{f=0; print c > "/dev/stderr"}' 2> "$T/served.pem" >/dev/null
  python3 - "$T/served.pem" <<'PY'
import sys, re, hashlib, base64
pem = open(sys.argv[1]).read()
for b in re.findall(r'-----BEGIN CERTIFICATE-----\n(.*?)-----END CERTIFICATE-----', pem, re.S):
    d = hashlib.sha256(base64.b64decode(''.join(b.split()))).hexdigest().upper()
    print(':'.join(d[i:i+2] for i in range(0, 64, 2)))
PY
}
fp() { openssl x509 -in "$1" -noout -fingerprint -sha256 | sed 's/.*=//'; }
rows() { sqlite3 "$1/server.db" "SELECT alias, kind, hex(cert_der), hex(chain_der), hex(key_sealed), fingerprint, created_at FROM keystore; SELECT alias, fingerprint, reason FROM trusted_signers"; }
unchanged() { # unchanged DESC DIR: the rows equal $T/rows.before
  rows "$2" > "$T/rows.after"
  cmp -s "$T/rows.before" "$T/rows.after" && ok || fail "$1: the database changed"
}
show_json() { "$C" server-cert show --data "$1" --json; }
jget() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# sign CSR OUT [DAYS_FROM DAYS_TO]: the fixture intermediate CA signs (Python, so that past
# and future validity can be made too; SANs copied from the CSR).
sign() {
  python3 - "$1" "$2" "$F/int.crt" "$F/int.key" "${3:--1}" "${4:-30}" <<'PY'
import sys, datetime
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
csr = x509.load_pem_x509_csr(open(sys.argv[1], 'rb').read())
ca = x509.load_pem_x509_certificate(open(sys.argv[3], 'rb').read())
key = serialization.load_pem_private_key(open(sys.argv[4], 'rb').read(), None)
now = datetime.datetime.now(datetime.timezone.utc)
b = (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(ca.subject)
     .public_key(csr.public_key()).serial_number(x509.random_serial_number())
     .not_valid_before(now + datetime.timedelta(days=int(sys.argv[5])))
     .not_valid_after(now + datetime.timedelta(days=int(sys.argv[6]))))
san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
b = b.add_extension(san, critical=False)
open(sys.argv[2], 'wb').write(b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
PY
}

# ---- first start creates the identity ----
start_server "$D"
ss=$(show_json "$D" | jget "d['sha256_fingerprint']")
[ "$(served | head -1)" = "$ss" ] && ok || fail "served is not the self-signed identity $ss"
show_json "$D" | jget "d['self_signed'], len(d['chain']), d['package_signers']" > "$T/o"
[ "$(cat "$T/o")" = "True 0 0" ] && ok || fail "fresh identity: $(cat "$T/o")"

# ---- csr: the identity's key, default subject and SANs ----
expect_ok "csr" "$C" server-cert csr --data "$D" --out "$T/srv.csr"
openssl req -in "$T/srv.csr" -noout -verify 2>/dev/null && ok || fail "CSR does not verify"
a=$(openssl req -in "$T/srv.csr" -noout -pubkey | openssl sha256)
b=$(openssl s_client -connect 127.0.0.1:$PORT < /dev/null 2>/dev/null | openssl x509 -noout -pubkey | openssl sha256)
[ "$a" = "$b" ] && ok || fail "CSR key is not the identity's"
openssl req -in "$T/srv.csr" -noout -text > "$T/csr.txt"
expect_grep "CSR default SANs" 'DNS:localhost, IP Address:127.0.0.1' "$T/csr.txt"
expect_ok "csr to stdout, own names" "$C" server-cert csr --data "$D" --subject CN=orch.example.com --san DNS:orch.example.com --san IP:127.0.0.1
openssl req -noout -text < "$T/out" > "$T/csr2.txt"
expect_grep "CSR --subject" 'Subject: CN *= *orch.example.com' "$T/csr2.txt"
expect_grep "CSR --san" 'DNS:orch.example.com, IP Address:127.0.0.1$' "$T/csr2.txt"
no_temp_files "$T"

# ---- refusals leave the database unchanged ----
rows "$D" > "$T/rows.before"
expect_fail "cert of another key" 2 "^certo server-cert import: --cert $F/leaf-ec256.crt: no certificate for the server identity's key" \
  "$C" server-cert import --data "$D" --cert "$F/leaf-ec256.crt"
unchanged "another key" "$D"
sign "$T/srv.csr" "$T/expired.crt" -30 -1
expect_fail "expired" 2 "^certo server-cert import: --cert $T/expired.crt: the certificate has expired \(--force" \
  "$C" server-cert import --data "$D" --cert "$T/expired.crt" --chain "$F/int.crt"
unchanged "expired" "$D"
sign "$T/srv.csr" "$T/notyet.crt" 2 30
expect_fail "not yet valid" 2 "--cert $T/notyet.crt: the certificate is not yet valid" \
  "$C" server-cert import --data "$D" --cert "$T/notyet.crt"
unchanged "not yet valid" "$D"
expect_fail "missing --cert" 2 '^certo server-cert import: .*--cert' "$C" server-cert import --data "$D"
expect_fail "unknown option" 2 '--bogus' "$C" server-cert import --data "$D" --cert x --bogus
expect_fail "unreadable --cert" 2 "^certo server-cert import: --cert $T/none: cannot read" \
  "$C" server-cert import --data "$D" --cert "$T/none"
unchanged "bad options" "$D"

# ---- import the CA-signed certificate with its chain; SIGHUP serves both ----
sign "$T/srv.csr" "$T/srv.crt"
cat "$T/srv.crt" "$F/ca.crt" "$F/int.crt" > "$T/bundle.pem"   # any order, root left out
expect_ok "import" "$C" server-cert import --data "$D" --cert "$T/bundle.pem" --json
leaf=$(fp "$T/srv.crt"); int=$(fp "$F/int.crt")
jget "d['sha256_fingerprint'], [c['sha256_fingerprint'] for c in d['chain']], d['self_signed']" < "$T/out" > "$T/o"
[ "$(cat "$T/o")" = "$leaf ['$int'] False" ] && ok || fail "import --json: $(cat "$T/o")"
reload 1
printf '%s\n%s\n' "$leaf" "$int" > "$T/want"
served > "$T/got"
cmp -s "$T/want" "$T/got" && ok || fail "served after SIGHUP: $(cat "$T/got")"
expect_ok "show" "$C" server-cert show --data "$D"
expect_grep "show chain" "^chain: +CN=Certo Test Intermediate CA \(SHA-256 $int\)$" "$T/out"
expect_grep "show signers" '^previous identities kept as package signers: 0$' "$T/out"
[ "$(sqlite3 "$D/server.db" "SELECT kind FROM keystore WHERE alias = 'identity'")" = ca-signed ] && ok || fail "kind"
# a restart serves the chain too
stop_server; start_server "$D"
served > "$T/got"
cmp -s "$T/want" "$T/got" && ok || fail "served after restart: $(cat "$T/got")"

# ---- export-db ----
printf 'p12-pass\n' > "$T/p12pw"
expect_ok "export-db" "$C" server-cert export-db --data "$D" --out "$T/id.p12" --password-file "$T/p12pw"
[ "$(stat -c %a "$T/id.p12")" = 600 ] && ok || fail "p12 mode $(stat -c %a "$T/id.p12")"
openssl pkcs12 -info -noout -in "$T/id.p12" -passin file:"$T/p12pw" 2> "$T/info" && ok || fail "openssl cannot read: $(cat "$T/info")"
expect_grep "PBES2 AES-256" 'PBES2, PBKDF2, AES-256-CBC' "$T/info"
openssl pkcs12 -in "$T/id.p12" -passin file:"$T/p12pw" -nodes -out "$T/id.pem" 2>/dev/null
expect_grep "friendlyName" 'friendlyName: identity' "$T/id.pem"
[ "$(grep -c 'BEGIN CERTIFICATE' "$T/id.pem")" = 2 ] && ok || fail "p12 certificates: $(grep -c 'BEGIN CERTIFICATE' "$T/id.pem")"
k=$(openssl pkey -in "$T/id.pem" -pubout | openssl sha256)
c=$(openssl x509 -in "$T/srv.crt" -noout -pubkey | openssl sha256)
[ "$k" = "$c" ] && ok || fail "exported key does not match the certificate"
printf '\n' > "$T/emptypw"
expect_fail "empty password" 2 '^certo server-cert export-db: --password: an empty password' \
  "$C" server-cert export-db --data "$D" --out "$T/x.p12" --password-file "$T/emptypw"
expect_fail "missing --out" 2 '^certo server-cert export-db: .*--out' "$C" server-cert export-db --data "$D" --password-file "$T/p12pw"
[ -e "$T/x.p12" ] && fail "a file written on failure" || ok
"$C" server-cert export-db --data "$D" --out "$T/y.p12" --password sekrit-pw-9 > /dev/null 2> "$T/err" || true
expect_grep "--password warns" 'warning: --password on the command line' "$T/err"
grep -q sekrit-pw-9 "$T/err" && fail "password in stderr" || ok

# ---- import-db into a second data directory (self-signed identity) ----
stop_server
PORT=$(free_port)
start_server "$D2"
rows "$D2" > "$T/rows.before"
expect_fail "import-db over self-signed" 2 '^certo server-cert import-db: .*self-signed.*--replace' \
  "$C" server-cert import-db --data "$D2" --in "$T/id.p12" --password-file "$T/p12pw"
unchanged "import-db refused" "$D2"
expect_fail "wrong password" 2 "^certo server-cert import-db: --in $T/id.p12: wrong password$" \
  "$C" server-cert import-db --data "$D2" --in "$T/id.p12" --password-file "$T/badpw" --replace
unchanged "wrong password" "$D2"
openssl pkcs12 -export -nokeys -in "$T/srv.crt" -out "$T/nokey.p12" -passout file:"$T/p12pw" 2>/dev/null
expect_fail "p12 without key" 2 "^certo server-cert import-db: --in $T/nokey.p12: the PKCS#12 file holds no private key$" \
  "$C" server-cert import-db --data "$D2" --in "$T/nokey.p12" --password-file "$T/p12pw" --replace
unchanged "no key" "$D2"
old2=$(show_json "$D2" | jget "d['sha256_fingerprint']")
expect_ok "import-db --replace" "$C" server-cert import-db --data "$D2" --in "$T/id.p12" --password-file "$T/p12pw" --replace --json
jget "d['sha256_fingerprint'], len(d['chain']), d['package_signers']" < "$T/out" > "$T/o"
[ "$(cat "$T/o")" = "$leaf 1 1" ] && ok || fail "import-db result: $(cat "$T/o")"
[ "$(sqlite3 "$D2/server.db" "SELECT fingerprint || ' ' || reason FROM trusted_signers")" = "$old2 replaced by import-db" ] && ok || fail "old identity not kept as signer"
reload 1
served > "$T/got"
cmp -s "$T/want" "$T/got" && ok || fail "second server after import-db: $(cat "$T/got")"

# ---- rotate: new self-signed identity, old one kept as a signer ----
expect_ok "rotate" "$C" server-cert rotate --data "$D2" --json
new=$(jget "d['sha256_fingerprint']" < "$T/out")
jget "d['self_signed'], len(d['chain']), d['package_signers']" < "$T/out" > "$T/o"
[ "$(cat "$T/o")" = "True 0 2" ] && ok || fail "rotate result: $(cat "$T/o")"
[ "$new" != "$leaf" ] && [ "$new" != "$old2" ] && ok || fail "rotate kept a fingerprint"
reload 2
[ "$(served)" = "$new" ] && ok || fail "served after rotate: $(served)"
stop_server
# on the first directory: exactly one previous identity
expect_ok "rotate D" "$C" server-cert rotate --data "$D"
expect_grep "show after rotate" '^previous identities kept as package signers: 1$' "$T/out"
expect_ok "show D" "$C" server-cert show --data "$D"
expect_grep "show lists 1 signer" '^previous identities kept as package signers: 1$' "$T/out"
[ "$(sqlite3 "$D/server.db" "SELECT fingerprint || ' ' || reason FROM trusted_signers")" = "$leaf rotated" ] && ok || fail "signer row"
rows "$D" > "$T/rows.before"
expect_fail "rotate, no secret key" 2 'no secret key' env -u CERTO_SECRET_KEY "$C" server-cert rotate --data "$T/nodir-$$" 
expect_fail "csr, unknown option" 2 '--nope' "$C" server-cert csr --data "$D" --nope
expect_fail "csr, bad SAN" 2 '^certo server-cert csr: ' "$C" server-cert csr --data "$D" --san 'bogus:x'
unchanged "csr failures" "$D"
expect_ok "help" "$C" server-cert import-db --help
expect_grep "help names --replace" '--replace' "$T/out"
finish
