#!/usr/bin/env bash
# certo tls install|rollback|restart|check on an Apache httpd 2.4 endpoint (issue 5), against
# Debian's apache2 run as its own instance on a loopback high port: a Debian-like layout
# (mods-/conf-/sites-enabled symlinks, Include, IncludeOptional, Define and ${VAR}), one site;
# two names on one port through SNI, one of them configured in an included snippet; a
# wildcard certificate; a site that must not be touched (its bytes and its served
# certificate); a disabled site with the same name that must not be read; dry run with the
# diff; rollback; restart. Failures, each ending with the old certificate served and every
# file byte-identical: key mismatch, no matching vhost, configtest fails, graceful and
# restart fail, the server does not take the new certificate (parent stopped).
# Fault injection: the test's apachectl wrapper fails the next configtest when
# $FAULT/configtest exists, and the next N "-k" commands when $FAULT/k holds N.
source "$(dirname "$0")/lib.bash"
source "$(dirname "$0")/data/install/common.bash" # C, D, LOG, cg, logit, no_journal, history
if [ ! -x /usr/sbin/apache2 ]; then
  echo "apache2 is not installed (/usr/sbin/apache2); make check installs it" >&2
  exit 1
fi
R=$T/apache # the server root
FAULT=$T/fault
mkdir -p "$R"/{run,logs,certs,mods-available,mods-enabled,conf-available,conf-enabled} \
  "$R"/{sites-available,sites-enabled,snippets} "$FAULT"
chmod o+rx "$T"

stop_apache() {
  local pid
  [ -f "$R/run/apache2.pid" ] || return 0
  pid=$(cat "$R/run/apache2.pid" 2> /dev/null) || return 0
  [ -n "$pid" ] || return 0
  kill -CONT "$pid" 2> /dev/null || true
  kill -TERM "$pid" 2> /dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2> /dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2> /dev/null || true
}
cleanup() {
  stop_apache
  if [ "$fails" -ne 0 ] && [ -n "${KEEP_LOG:-}" ]; then cp "$LOG" "$KEEP_LOG"; fi
  chmod -R u+w "$T" 2> /dev/null
  rm -rf "$T"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# ---- certificates: signed by the test intermediate ----
# mkcert NAME SAN...: $T/NAME.crt and $T/NAME.key (EC P-256), DNS SANs as given.
mkcert() {
  local name=$1; shift
  local sans; sans=$(printf 'DNS:%s,' "$@"); sans=${sans%,}
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/$name.key" \
    -subj "/CN=$1" -addext "subjectAltName=$sans" -out "$T/$name.csr" 2> /dev/null
  openssl x509 -req -in "$T/$name.csr" -CA "$F/int.crt" -CAkey "$F/int.key" -days 30 \
    -copy_extensions copy -out "$T/$name.crt" 2> /dev/null
}
for n in a b c w; do mkcert "old-$n" "$n.example.test"; done
mkcert old-w w.wild.test
cp "$T"/old-*.crt "$T"/old-*.key "$R/certs/"
mkcert new-a a.example.test
mkcert new-a2 a.example.test
mkcert new-ac a.example.test c.example.test
mkcert new-w '*.wild.test'
mkcert nobody nobody.example.test
mkcert new-b b.example.test

# ---- the server: a Debian-like layout ----
for m in mpm_event ssl socache_shmcb authz_core; do
  cp "/etc/apache2/mods-available/$m.load" "$R/mods-available/"
  ln -s "../mods-available/$m.load" "$R/mods-enabled/$m.load"
done
cat > "$R/mods-available/ssl.conf" << EOF
<IfModule mod_ssl.c>
	SSLSessionCache shmcb:\${APACHE_RUN_DIR}/ssl_scache(512000)
	SSLProtocol all -SSLv3
</IfModule>
EOF
ln -s ../mods-available/ssl.conf "$R/mods-enabled/ssl.conf"
cat > "$R/apache2.conf" << EOF
# Test instance of Certo's 61_apache.sh (Debian-like layout).
Define APACHE_RUN_DIR $R/run
Define CERTDIR $R/certs
DefaultRuntimeDir \${APACHE_RUN_DIR}
PidFile \${APACHE_RUN_DIR}/apache2.pid
ErrorLog $R/logs/error.log
LogLevel warn
User www-data
Group www-data
ServerName localhost
IncludeOptional mods-enabled/*.load
IncludeOptional mods-enabled/*.conf
Include ports.conf
IncludeOptional conf-enabled/*.conf
IncludeOptional sites-enabled/*.conf
EOF
echo "Listen 127.0.0.1:$PORT" > "$R/ports.conf"
printf '# where the certificates live\nDefine CERTS ${CERTDIR}\n' > "$R/conf-available/certs.conf"
ln -s ../conf-available/certs.conf "$R/conf-enabled/certs.conf"
# site a: the first vhost of the port; CRLF line ends and a quoted value
printf '%s\r\n' "# site a" "<VirtualHost *:$PORT>" "    ServerName a.example.test" \
  "    SSLEngine on" "    SSLCertificateFile \"\${CERTS}/old-a.crt\"" \
  "    SSLCertificateKeyFile \${CERTS}/old-a.key" "</VirtualHost>" > "$R/sites-available/a.conf"
# site b: must never be touched
cat > "$R/sites-available/b.conf" << EOF
<VirtualHost *:$PORT>
	ServerName b.example.test
	SSLEngine on
	SSLCertificateFile $R/certs/old-b.crt
	SSLCertificateKeyFile $R/certs/old-b.key
</VirtualHost>
EOF
# site c: its TLS directives are in an included snippet
cat > "$R/sites-available/c.conf" << EOF
<VirtualHost *:$PORT>
  ServerName c.example.test
  Include snippets/c-tls.conf
</VirtualHost>
EOF
cat > "$R/snippets/c-tls.conf" << EOF
# TLS of site c
SSLEngine on
SSLCertificateFile certs/old-c.crt
SSLCertificateKeyFile certs/old-c.key
EOF
# site w: a wildcard alias, directives without the key file (added by the install)
cat "$T/old-w.key" >> "$R/certs/old-w.crt"
cat > "$R/sites-available/w.conf" << EOF
<VirtualHost *:$PORT>
    ServerName w.wild.test
    ServerAlias *.wild.test
    SSLEngine on
    SSLCertificateFile \${CERTS}/old-w.crt
</VirtualHost>
EOF
# site d: available, not enabled; the same name as a
sed 's/old-a/disabled/' "$R/sites-available/a.conf" > "$R/sites-available/d.conf"
for s in a b c w; do ln -s "../sites-available/$s.conf" "$R/sites-enabled/00-$s.conf"; done
chmod 600 "$R"/certs/*.key

cat > "$T/apachectl" << EOF
#!/bin/sh
# apachectl for the test instance, with fault injection (see the top of 61_apache.sh).
case "\$1" in
configtest)
  if [ -e "$FAULT/configtest" ]; then
    rm -f "$FAULT/configtest"
    echo "AH00526: Syntax error on line 1 of $FAULT/injected.conf:" >&2
    echo "Injected configtest failure" >&2
    exit 1
  fi
  set -- -t ;;
-k)
  if [ -s "$FAULT/k" ] && [ "\$(cat "$FAULT/k")" -gt 0 ]; then
    echo \$((\$(cat "$FAULT/k") - 1)) > "$FAULT/k"
    echo "injected failure of -k \$2" >&2
    exit 1
  fi ;;
esac
exec /usr/sbin/apache2 -d "$R" -f "$R/apache2.conf" "\$@"
EOF
chmod 755 "$T/apachectl"

# served NAME: the SHA-256 fingerprint of the certificate served for SNI NAME, or "none".
served() {
  local fp
  fp=$(openssl s_client -connect "127.0.0.1:$PORT" -servername "$1" < /dev/null 2> /dev/null |
    openssl x509 -noout -fingerprint -sha256 2> /dev/null | sed 's/^[^=]*=//') || true
  echo "${fp:-none}"
}
# serves DESC NAME CERT: NAME is served CERT (waits up to 5 s: graceful is not instant).
serves() {
  local want got; want=$(fp_of "$3")
  for _ in $(seq 50); do got=$(served "$2"); [ "$got" = "$want" ] && break; sleep 0.1; done
  if [ "$got" = "$want" ]; then ok; else fail "$1: $2 serves $got, want $(basename "$3") $want"; fi
}
# snap OUT: names, modes and hashes of every file of the server root (logs and run excluded).
snap() {
  (cd "$R" && find . \( -path ./run -o -path ./logs \) -prune -o -printf '%p %y %m %l\n' | sort &&
    find . \( -path ./run -o -path ./logs \) -prune -o -type f -print0 | sort -z |
    xargs -0 sha256sum) > "$1"
}
same_state() {
  if cmp -s "$2" "$3"; then ok; else fail "$1: files changed: $(diff "$2" "$3" | head -8 | tr '\n' ' ')"; fi
}
old_served() {
  serves "$1: a old" a.example.test "$2"; serves "$1: b old" b.example.test "$R/certs/old-b.crt"
}
# no_leftovers: no journal of the endpoint, no staged or temporary file in the server root,
# the directories certo writes to and the gateway's data directory.
no_leftovers() {
  no_journal "$WID"
  no_stage "$R"
  local d
  for d in "$R/certs" "$R/sites-available" "$R/snippets" "$D"; do no_temp_files "$d"; done
}
# refused_after DESC: the install refused before it began: nothing left behind, the history
# as in $T/hb.json (taken before the install).
refused_after() {
  no_leftovers
  hist_json web "$T/ha.json"; same_bytes "$1: history unchanged" "$T/hb.json" "$T/ha.json"
}
# failed_after DESC STEP: the install failed at STEP: nothing left behind, one more history
# entry than in $T/hb.json: the install, failed at STEP, rolled back.
failed_after() {
  no_leftovers
  hist_json web "$T/ha.json"
  pyck "$1: history" "$T/ha.json" \
    'len(d) == int(a[0]) + 1 and d[0]["kind"] == "install" and d[0]["outcome"] == "failed" and d[0].get("step") == a[1] and "rolled back" in d[0].get("message", "")' \
    "$(hist_len "$T/hb.json")" "$2"
}

expect_ok "apache starts" "$T/apachectl" -k start
for _ in $(seq 50); do [ -s "$R/run/apache2.pid" ] && [ "$(served b.example.test)" != none ] && break; sleep 0.1; done
[ -s "$R/run/apache2.pid" ] || fail "apache start: $(cat "$T/out" "$T/err") $(tail -5 "$R/logs/error.log" 2> /dev/null)"
serves "start: a" a.example.test "$R/certs/old-a.crt"
serves "start: b" b.example.test "$R/certs/old-b.crt"
serves "start: c" c.example.test "$R/certs/old-c.crt"
serves "start: w" x.wild.test "$T/old-w.crt"

add_ep web apache --apachectl_path "$T/apachectl"
WID=$ID
expect_ok "check" cg tls check web; logit check
expect_grep "check lists the SSL vhosts" "SSLEngine on: b\.example\.test" "$T/out"

# ==== dry run: shows the diff, changes nothing ====
snap "$T/s0"
expect_ok "dry run" cg tls install web --cert "$T/new-a.crt" --key "$T/new-a.key" --chain "$F/int.crt" --dry-run; logit dry
expect_grep "dry run: file and line" "sites-enabled/00-a\.conf:5$" "$T/out"
expect_grep "dry run: old line" "^ *-    SSLCertificateFile \"\\\$\{CERTS\}/old-a\.crt\"$" "$T/out"
expect_grep "dry run: new line" "^ *\+    SSLCertificateFile \"$R/certs/web-[0-9a-f]{16}\.fullchain\.pem\"$" "$T/out"
expect_grep "dry run: new key file" "web-[0-9a-f]{16}\.key: new file, private key \(mode 0600\)" "$T/out"
snap "$T/s1"; same_state "dry run changes nothing" "$T/s0" "$T/s1"

# ==== one site ====
cp "$R/sites-available/b.conf" "$T/b.before"
cp "$R/sites-available/d.conf" "$T/d.before"
expect_ok "install a" cg tls install web --cert "$T/new-a.crt" --key "$T/new-a.key" --chain "$F/int.crt"; logit install a
serves "install a: a new" a.example.test "$T/new-a.crt"
serves "install a: b untouched" b.example.test "$R/certs/old-b.crt"
serves "install a: c untouched" c.example.test "$R/certs/old-c.crt"
same_bytes "install a: b.conf" "$T/b.before" "$R/sites-available/b.conf"
NEWA=$(ls "$R"/certs/web-*.fullchain.pem)
NEWAK=${NEWA%.fullchain.pem}.key
[ "$(stat -c %a "$NEWAK")" = 600 ] && ok || fail "key file mode $(stat -c %a "$NEWAK")"
[ "$(openssl x509 -in "$NEWA" -noout -fingerprint -sha256 | sed 's/^[^=]*=//')" = "$(fp_of "$T/new-a.crt")" ] && ok || fail "full chain: wrong leaf"
[ "$(grep -c 'BEGIN CERTIFICATE' "$NEWA")" = 2 ] && ok || fail "full chain: not leaf + intermediate"
[ -L "$R/sites-enabled/00-a.conf" ] && ok || fail "the sites-enabled symlink was replaced by a file"
printf '%s\r\n' "# site a" "<VirtualHost *:$PORT>" "    ServerName a.example.test" \
  "    SSLEngine on" "    SSLCertificateFile \"$NEWA\"" \
  "    SSLCertificateKeyFile $NEWAK" "</VirtualHost>" > "$T/a.want"
same_bytes "install a: only the two values changed (CRLF, quotes kept)" "$T/a.want" "$R/sites-available/a.conf"
same_bytes "install a: the disabled site d.conf" "$T/d.before" "$R/sites-available/d.conf"

# ==== key mismatch: refused before anything changes ====
snap "$T/s0"
hist_json web "$T/hb.json"
expect_fail "key mismatch" 2 "does not match" cg tls install web --cert "$T/new-a2.crt" --key "$T/new-a.key" --chain "$F/int.crt"; logit mismatch
snap "$T/s1"; same_state "key mismatch: files" "$T/s0" "$T/s1"
refused_after "key mismatch"
old_served "key mismatch" "$T/new-a.crt"

# ==== no vhost serves the name ====
expect_fail "no matching vhost" 2 "no <VirtualHost> with SSLEngine on serves nobody\.example\.test" \
  cg tls install web --cert "$T/nobody.crt" --key "$T/nobody.key" --chain "$F/int.crt"; logit nobody
snap "$T/s1"; same_state "no matching vhost: files" "$T/s0" "$T/s1"
refused_after "no matching vhost"

# ==== configtest fails ====
touch "$FAULT/configtest"
hist_json web "$T/hb.json"
expect_fail "configtest fails" 1 "failed at step activate: apachectl configtest failed: AH00526.*Injected configtest failure; the endpoint was rolled back" \
  cg tls install web --cert "$T/new-a2.crt" --key "$T/new-a2.key" --chain "$F/int.crt"; logit configtest
snap "$T/s1"; same_state "configtest fails: files" "$T/s0" "$T/s1"
failed_after "configtest fails" activate
old_served "configtest fails" "$T/new-a.crt"

# ==== graceful and restart fail ====
echo 2 > "$FAULT/k"
hist_json web "$T/hb.json"
expect_fail "restart fails" 1 "failed at step activate: apachectl -k graceful failed: injected failure of -k graceful; then apachectl -k restart failed" \
  cg tls install web --cert "$T/new-a2.crt" --key "$T/new-a2.key" --chain "$F/int.crt"; logit restart-fails
[ "$(cat "$FAULT/k")" = 0 ] && ok || fail "restart fails: the wrapper was not called twice"
snap "$T/s1"; same_state "restart fails: files" "$T/s0" "$T/s1"
failed_after "restart fails" activate
old_served "restart fails" "$T/new-a.crt"

# ==== the server does not take the new certificate: the parent is stopped ====
PID=$(cat "$R/run/apache2.pid")
hist_json web "$T/hb.json"
kill -STOP "$PID"
expect_fail "not served" 1 \
  "^certo tls install: failed at step verify: 127\.0\.0\.1 port $PORT, name a\.example\.test: 127\.0\.0\.1:$PORT \(SNI a\.example\.test\) still serves $(fp_of "$T/new-a.crt"), not $(fp_of "$T/new-a2.crt"); the endpoint was rolled back$" \
  cg tls install web --cert "$T/new-a2.crt" --key "$T/new-a2.key" --chain "$F/int.crt"; logit stopped
kill -CONT "$PID"
snap "$T/s1"; same_state "not served: files" "$T/s0" "$T/s1"
failed_after "not served" verify
old_served "not served" "$T/new-a.crt"
[ "$(cat "$R/run/apache2.pid")" = "$PID" ] && ok || fail "the parent changed"

# ==== two names on one port (SNI), one configured in an included snippet ====
expect_ok "install a+c" cg tls install web --cert "$T/new-ac.crt" --key "$T/new-ac.key" --chain "$F/int.crt"; logit install ac
expect_grep "a+c: snippet edited" "snippets/c-tls\.conf: 2 edits" "$T/out"
serves "a+c: a" a.example.test "$T/new-ac.crt"
serves "a+c: c" c.example.test "$T/new-ac.crt"
serves "a+c: b untouched" b.example.test "$R/certs/old-b.crt"
same_bytes "a+c: b.conf" "$T/b.before" "$R/sites-available/b.conf"
grep -q "^SSLCertificateFile $R/certs/web-" "$R/snippets/c-tls.conf" && ok || fail "snippet: $(cat "$R/snippets/c-tls.conf")"
head -2 "$R/snippets/c-tls.conf" | grep -q '^SSLEngine on$' && ok || fail "snippet: other lines changed"

# ==== wildcard certificate; the key directive is added ====
expect_ok "install *.wild.test" cg tls install web --cert "$T/new-w.crt" --key "$T/new-w.key" --chain "$F/int.crt"; logit install w
serves "wildcard: w.wild.test" w.wild.test "$T/new-w.crt"
serves "wildcard: any.wild.test" any.wild.test "$T/new-w.crt"
grep -A1 "SSLCertificateFile $R/certs/web-" "$R/sites-available/w.conf" | grep -q "^    SSLCertificateKeyFile $R/certs/web-.*\.key$" && ok ||
  fail "wildcard: key directive not added after the certificate: $(cat "$R/sites-available/w.conf")"
serves "wildcard: a unchanged" a.example.test "$T/new-ac.crt"

# ==== rollback ====
expect_ok "rollback" cg tls rollback web; logit rollback
serves "rollback: w back to the old one" w.wild.test "$T/old-w.crt"
serves "rollback: a unchanged" a.example.test "$T/new-ac.crt"
expect_ok "rollback 2" cg tls rollback web; logit rollback 2
serves "rollback 2: a" a.example.test "$T/new-a.crt"
serves "rollback 2: c" c.example.test "$R/certs/old-c.crt"
expect_ok "rollback 3" cg tls rollback web; logit rollback 3
serves "rollback 3: a" a.example.test "$R/certs/old-a.crt"
printf '%s\r\n' "# site a" "<VirtualHost *:$PORT>" "    ServerName a.example.test" \
  "    SSLEngine on" "    SSLCertificateFile \"\${CERTS}/old-a.crt\"" \
  "    SSLCertificateKeyFile \${CERTS}/old-a.key" "</VirtualHost>" > "$T/a.want"
same_bytes "rollback 3: a.conf as at the start" "$T/a.want" "$R/sites-available/a.conf"
[ -z "$(ls "$R"/certs/web-* 2> /dev/null)" ] && ok || fail "rollback left new files: $(ls "$R"/certs/web-*)"

# ==== restart ====
expect_ok "restart" cg tls restart web; logit restart
serves "restart: a" a.example.test "$R/certs/old-a.crt"
serves "restart: b" b.example.test "$R/certs/old-b.crt"
cg tls history web --json > "$T/h.json" 2>> "$LOG" || true
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d[0]["kind"]=="restart" and d[0]["outcome"]=="ok" and "-k restart" in d[0].get("output","") else 1)' "$T/h.json" && ok ||
  fail "history of the restart: $(head -c 600 "$T/h.json")"
[ -z "$(find "$R" -name '.*certo-stage*')" ] && ok || fail "staged files left"
grep -q "AH02565\|AH00020" "$R/logs/error.log" && fail "httpd stopped on a bad certificate" || ok

finish
