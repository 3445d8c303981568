#!/usr/bin/env bash
# The nginx connector against a real nginx (issue 5): a private nginx started from $T on
# loopback high ports, with exact, wildcard and regex server names, includes spread over
# files (conf.d/*.conf, a snippet), a Debian layout (sites-enabled symlinks into
# sites-available), a block without ssl directives, a plain-http block with a matching
# name, and blocks that must not be touched. Every install is checked over TLS with SNI
# and byte for byte; then the failures (key mismatch, nginx -t fails, reload fails, the
# new certificate is not served), a shared snippet, and kill -9 at every step.
source "$(dirname "$0")/lib.bash"
source "$(dirname "$0")/data/install/common.bash"

NGINX=/usr/sbin/nginx
if [ ! -x "$NGINX" ]; then
  echo "nginx is not installed ($NGINX); make check installs it" >&2
  exit 1
fi

# ---- three free loopback ports ----
read -r P P2 P3 < <(python3 - <<'PY'
import socket
socks = []
for _ in range(3):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(*[s.getsockname()[1] for s in socks])
PY
)

# ---- certificates: leaves of the fixtures' intermediate ----
K=$T/pki
mkdir -p "$K"
# leaf NAME CN SANS [rsa1024]: $K/NAME.crt, .key, .pem (leaf + intermediate, for nginx)
leaf() {
  local alg=(-newkey ec -pkeyopt ec_paramgen_curve:P-256)
  [ "${4:-}" = rsa1024 ] && alg=(-newkey rsa:1024)
  openssl req -new "${alg[@]}" -nodes -keyout "$K/$1.key" -subj "/CN=$2" 2>> "$LOG" |
    openssl x509 -req -CA "$F/int.crt" -CAkey "$F/int.key" -set_serial "0x$(openssl rand -hex 8)" \
      -days 30 -extfile <(printf 'subjectAltName=%s\n' "$3") -out "$K/$1.crt" 2>> "$LOG"
  cat "$K/$1.crt" "$F/int.crt" > "$K/$1.pem"
}
leaf old-default default.test DNS:default.test
leaf old-a www.site-a.test DNS:www.site-a.test,DNS:site-a.test
leaf old-wild '*.wild.test' 'DNS:*.wild.test'
leaf old-api api.wild.test DNS:api.wild.test
leaf old-rx app1.rx.test DNS:app1.rx.test
leaf old-keep keep.test DNS:keep.test
leaf old-deb deb.test DNS:deb.test
leaf old-snake snakeoil DNS:shared1.test,DNS:shared2.test
leaf A www.site-a.test DNS:www.site-a.test,DNS:site-a.test
leaf A2 www.site-a.test DNS:www.site-a.test,DNS:site-a.test
leaf W '*.wild.test' 'DNS:*.wild.test'
leaf R app1.rx.test DNS:app1.rx.test
leaf DEB deb.test DNS:deb.test
leaf ADD add.test DNS:add.test
leaf NOBODY nobody.test DNS:nobody.test
leaf SHARED shared1.test DNS:shared1.test
leaf WEAK www.site-a.test DNS:www.site-a.test rsa1024
for c in old-default old-a old-wild old-api old-rx old-keep old-deb old-snake A A2 W R DEB ADD WEAK; do
  declare "FP_${c//-/_}=$(fp_of "$K/$c.crt")"
done
mat() { echo --cert "$K/$1.crt" --key "$K/$1.key" --chain "$CHAIN"; }

# ---- the nginx configuration ----
N=$T/ngx
CONF=$N/nginx.conf
mkdir -p "$N"/{conf.d,real.d,sites-available,sites-enabled,snippets,logs,run,tmp}
ln -s real.d "$N/linked.d" # an included directory that is a symlink
cat > "$CONF" <<EOF
# A private nginx for 60_nginx.sh.
daemon on;
worker_processes 1;
pid $N/run/nginx.pid;
error_log $N/logs/error.log;

events {
    worker_connections 64;
}

http {
    access_log off;
    client_body_temp_path $N/tmp/body;
    proxy_temp_path $N/tmp/proxy;
    fastcgi_temp_path $N/tmp/fastcgi;
    uwsgi_temp_path $N/tmp/uwsgi;
    scgi_temp_path $N/tmp/scgi;
    # inherited by blocks that name no certificate of their own
    ssl_certificate     $K/old-default.pem;
    ssl_certificate_key $K/old-default.key;

    # site A: exact names, in the main file
    server {
        listen 127.0.0.1:$P ssl;
        server_name www.site-a.test site-a.test;
        ssl_certificate     $K/old-a.pem;
        ssl_certificate_key $K/old-a.key;
        location / { return 200 "site-a\n"; }
    }

    include conf.d/*.conf;
    include linked.d/*.conf;
    include nonexistent.d/*.conf;
    include sites-enabled/*;
}
EOF
cat > "$N/conf.d/wild.conf" <<EOF
server {
    listen 127.0.0.1:$P ssl;
    server_name *.wild.test;
    ssl_certificate "$K/old-wild.pem";
    ssl_certificate_key '$K/old-wild.key';
}
EOF
cat > "$N/conf.d/api.conf" <<EOF
server {
    listen 127.0.0.1:$P ssl;
    server_name api.wild.test;
    include $N/snippets/api-ssl.conf;
}
EOF
printf 'ssl_certificate %s/old-api.pem;\nssl_certificate_key %s/old-api.key;\n' "$K" "$K" \
  > "$N/snippets/api-ssl.conf"
printf 'server {\n\t# applications\n\tlisten 127.0.0.1:%s ssl;\n\tserver_name "~^app[0-9]+\\.rx\\.test$";\n\tssl_certificate %s/old-rx.pem; ssl_certificate_key %s/old-rx.key;\n}\n' \
  "$P" "$K" "$K" > "$N/conf.d/regex.conf"
cat > "$N/real.d/keep.conf" <<EOF
server {
    listen 127.0.0.1:$P ssl;
    server_name keep.test;
    ssl_certificate $K/old-keep.pem;
    ssl_certificate_key $K/old-keep.key;
}
EOF
cat > "$N/conf.d/add.conf" <<EOF
server {
  listen 127.0.0.1:$P ssl;
  server_name add.test;   # no certificate of its own yet
  location / { return 200 "add\n"; }
}
EOF
cat > "$N/conf.d/plain.conf" <<EOF
server {
    listen 127.0.0.1:$P3;
    server_name www.site-a.test deb.test;
}
EOF
echo 'not configuration' > "$N/conf.d/README"
cat > "$N/sites-available/deb" <<EOF
server {
	listen 127.0.0.1:$P2 ssl default_server;
	server_name deb.test;
	ssl_certificate $K/old-deb.pem;
	ssl_certificate_key $K/old-deb.key;
	root /nonexistent;
}
EOF
cat > "$N/sites-available/shared" <<EOF
server {
	listen 127.0.0.1:$P2 ssl;
	server_name shared1.test;
	include snippets/snakeoil.conf;
}
server {
	listen 127.0.0.1:$P2 ssl;
	server_name shared2.test;
	include snippets/snakeoil.conf;
}
EOF
printf 'ssl_certificate %s/old-snake.pem;\nssl_certificate_key %s/old-snake.key;\n' "$K" "$K" \
  > "$N/snippets/snakeoil.conf"
sed 's/deb\.test/deb.test disabled.test/' "$N/sites-available/deb" > "$N/sites-available/disabled"
ln -s ../sites-available/deb "$N/sites-enabled/deb"
ln -s ../sites-available/shared "$N/sites-enabled/shared"

# ---- nginx: start, stop at exit ----
ngx() { "$NGINX" -c "$CONF" "$@"; }
NGX_PID=
stop_nginx() {
  if [ -n "$NGX_PID" ] && kill -0 "$NGX_PID" 2> /dev/null; then
    kill -CONT "$NGX_PID" 2> /dev/null || true
    kill -QUIT "$NGX_PID" 2> /dev/null || true
    for _ in $(seq 50); do kill -0 "$NGX_PID" 2> /dev/null || break; sleep 0.1; done
    kill -KILL "$NGX_PID" 2> /dev/null || true
  fi
}
trap 'stop_nginx; cleanup' EXIT
if ! ngx -t >> "$LOG" 2>&1; then
  echo "nginx -t fails on the test configuration: $(tail -3 "$LOG")" >&2
  exit 1
fi
ngx >> "$LOG" 2>&1
NGX_PID=$(cat "$N/run/nginx.pid")

# served PORT SNI: the SHA-256 fingerprint of the leaf served, or "" (no handshake).
served() {
  timeout 5 openssl s_client -connect "127.0.0.1:$1" -servername "$2" < /dev/null 2> /dev/null |
    openssl x509 -noout -fingerprint -sha256 2> /dev/null | sed 's/^[^=]*=//'
}
# wait_served DESC PORT SNI FP: FP is served within 10 s.
wait_served() {
  local got=
  for _ in $(seq 100); do
    got=$(served "$2" "$3")
    [ "$got" = "$4" ] && { ok; return; }
    sleep 0.1
  done
  fail "$1: $3 on port $2 serves '${got:-nothing}', want $4"
}
# is_served DESC PORT SNI FP: FP is served now. (After a reload, wait_served: nginx lets the
# old worker accept for another 100 ms while the new one starts, ngx_master_process_cycle.)
is_served() {
  local got; got=$(served "$2" "$3")
  [ "$got" = "$4" ] && ok || fail "$1: $3 on port $2 serves '${got:-nothing}', want $4"
}
# Every file and link of the nginx directory (content, mode, link target).
snap() {
  (cd "$N" && find . \( -type f -o -type l \) ! -path './logs/*' ! -path './run/*' ! -path './tmp/*' |
    LC_ALL=C sort | while read -r f; do
      if [ -L "$f" ]; then echo "$f -> $(readlink "$f")"; else echo "$f $(stat -c %a "$f") $(sha256sum < "$f")"; fi
    done) > "$1"
}
# only_ssl_lines DESC BEFORE-DIR: every file differs from its copy in BEFORE-DIR at most in
# ssl_certificate / ssl_certificate_key lines (changed or added).
only_ssl_lines() {
  python3 - "$2" "$N" <<'PY' 2> "$T/pyerr" && ok || fail "$1: $(tail -1 "$T/pyerr")"
import difflib, os, re, sys
old, new = sys.argv[1], sys.argv[2]
ssl = re.compile(r'^\s*(ssl_certificate(_key)?\s+\S+;\s*)+$')
for root, _, files in os.walk(new):
    for f in files:
        p = os.path.join(root, f)
        rel = os.path.relpath(p, new)
        if rel.split(os.sep)[0] in ("logs", "run", "tmp") or rel.startswith("certo-"):
            continue
        a = open(os.path.join(old, rel), "rb").read().decode().splitlines(True)
        b = open(p, "rb").read().decode().splitlines(True)
        for line in difflib.ndiff(a, b):
            if line[:2] in ("- ", "+ ") and not ssl.match(line[2:].replace("\r", "")):
                raise SystemExit("%s: %r changed" % (rel, line))
PY
}
ngx_ok() { ngx -t -q >> "$LOG" 2>&1 && ok || fail "$1: nginx -t fails: $(tail -2 "$LOG")"; }

wait_served "nginx up: site A" "$P" www.site-a.test "$FP_old_a"
is_served "nginx up: wildcard" "$P" x.wild.test "$FP_old_wild"
is_served "nginx up: deb" "$P2" deb.test "$FP_old_deb"
is_served "nginx up: add inherits" "$P" add.test "$FP_old_default"

add_ep web nginx --nginx_config_path "$CONF"
WID=$ID

# ==== check ====
expect_ok "check" cg tls check web; logit check
expect_grep "check: read with includes" "^ok: $(re_esc "$CONF") read with 10 included files$" "$T/out"
expect_grep "check: site A listed" "^ok: server block $(re_esc "$CONF"):23: server_name www.site-a.test site-a.test; listen 127.0.0.1:$P ssl$" "$T/out"
expect_grep "check: nginx -t" "^ok: nginx -t -c $(re_esc "$CONF") passes$" "$T/out"
grep -q 'disabled.test' "$T/out" && fail "check lists a site that is not enabled" || ok

# ==== dry run: the diff, nothing changed ====
cp -a "$N" "$T/ngx.0"
snap "$T/s0"
expect_ok "dry run" cg tls install web $(mat A) --dry-run; logit dry-run
expect_grep "dry run: removed line" "^  -        ssl_certificate     $(re_esc "$K/old-a.pem");$" "$T/out"
expect_grep "dry run: added line" "^  \+        ssl_certificate     $(re_esc "$N")/certo-www\.site-a\.test-[0-9a-f]{8}\.pem;$" "$T/out"
expect_grep "dry run: key file" "^  nginx $(re_esc "$N")/certo-www\.site-a\.test-[0-9a-f]{8}\.key: private key \(new file, mode 0600\)$" "$T/out"
snap "$T/s"; same_state "dry run changes nothing" "$T/s0" "$T/s"

# ==== one site, exact names, in the main file ====
expect_ok "install A" cg tls install web $(mat A); logit install A
expect_grep "install A: output" "^Installed 'www\.site-a\.test' on endpoint 'web' \(history #[0-9]+\)$" "$T/out"
expect_grep "install A: replaced" "^  replaced    $FP_old_a$" "$T/out"
wait_served "A on www" "$P" www.site-a.test "$FP_A"
wait_served "A on site-a" "$P" site-a.test "$FP_A"
is_served "untouched keep.test" "$P" keep.test "$FP_old_keep"
is_served "untouched wildcard" "$P" x.wild.test "$FP_old_wild"
only_ssl_lines "install A: only the two values changed" "$T/ngx.0"
same_bytes "install A: the plain-http block with the same name" "$T/ngx.0/conf.d/plain.conf" "$N/conf.d/plain.conf"
same_bytes "install A: keep.conf untouched" "$T/ngx.0/real.d/keep.conf" "$N/real.d/keep.conf"
A_PEM=$(ls "$N"/certo-www.site-a.test-*.pem)
mode_owner "install A: certificate file" "$A_PEM" 644 "$(id -u):$(id -g)"
mode_owner "install A: key file" "${A_PEM%.pem}.key" 600 "$(id -u):$(id -g)"
[ "$(grep -c BEGIN "$A_PEM")" = 2 ] && ok || fail "install A: $A_PEM holds $(grep -c BEGIN "$A_PEM") certificates, want leaf + intermediate"
grep -q "ssl_certificate     $A_PEM;" "$CONF" && ok || fail "install A: $CONF does not name $A_PEM"
ngx_ok "install A"
no_stage "$N"
no_journal "$WID"

# ==== the same certificate again: the files are rewritten, the configuration is not ====
cp -a "$N" "$T/ngx.0a"
expect_ok "install A again" cg tls install web $(mat A); logit install A again
grep -q '^  nginx .*nginx.conf:' "$T/out" && fail "install A again: the configuration changed: $(cat "$T/out")" || ok
same_bytes "install A again: nginx.conf" "$T/ngx.0a/nginx.conf" "$CONF"
wait_served "install A again: served" "$P" www.site-a.test "$FP_A"

# ==== wildcard certificate: the *.wild.test block and api.wild.test (its snippet) ====
cp -a "$N" "$T/ngx.1"
expect_ok "install W" cg tls install web $(mat W); logit install W
wait_served "W on x.wild.test" "$P" x.wild.test "$FP_W"
wait_served "W on a.b.wild.test" "$P" a.b.wild.test "$FP_W"
wait_served "W on api.wild.test" "$P" api.wild.test "$FP_W"
is_served "W: A still on www" "$P" www.site-a.test "$FP_A"
grep -q "ssl_certificate $N/certo-wildcard.wild.test-" "$N/snippets/api-ssl.conf" && ok ||
  fail "install W: the snippet of api.wild.test was not changed: $(cat "$N/snippets/api-ssl.conf")"
grep -q "^    ssl_certificate $N/certo-wildcard.wild.test-.*\.pem;$" "$N/conf.d/wild.conf" && ok ||
  fail "install W: the quoted value in wild.conf: $(cat "$N/conf.d/wild.conf")"
only_ssl_lines "install W" "$T/ngx.1"
same_bytes "install W: main file untouched" "$T/ngx.1/nginx.conf" "$CONF"

# ==== regex server name ====
cp -a "$N" "$T/ngx.2"
expect_ok "install R" cg tls install web $(mat R); logit install R
wait_served "R on app1" "$P" app1.rx.test "$FP_R"
wait_served "R on app22 (the same block)" "$P" app22.rx.test "$FP_R"
only_ssl_lines "install R" "$T/ngx.2"
grep -q $'^\tssl_certificate '"$N"'/certo-app1.rx.test-[0-9a-f]*\.pem; ssl_certificate_key ' "$N/conf.d/regex.conf" && ok ||
  fail "install R: regex.conf: $(cat "$N/conf.d/regex.conf")"

# ==== Debian layout: sites-enabled/deb is a link into sites-available ====
cp -a "$N" "$T/ngx.3"
expect_ok "install DEB" cg tls install web $(mat DEB); logit install DEB
wait_served "DEB on deb.test" "$P2" deb.test "$FP_DEB"
[ -L "$N/sites-enabled/deb" ] && ok || fail "install DEB: sites-enabled/deb is no longer a link"
grep -q "certo-deb.test-" "$N/sites-available/deb" && ok || fail "install DEB: sites-available/deb unchanged"
same_bytes "install DEB: the disabled site" "$T/ngx.3/sites-available/disabled" "$N/sites-available/disabled"
only_ssl_lines "install DEB" "$T/ngx.3"

# ==== a block without ssl_certificate: the directives are added after server_name ====
cp -a "$N" "$T/ngx.4"
expect_ok "install ADD" cg tls install web $(mat ADD); logit install ADD
wait_served "ADD on add.test" "$P" add.test "$FP_ADD"
python3 - "$T/ngx.4/conf.d/add.conf" "$N/conf.d/add.conf" "$N" <<'PY' 2> "$T/pyerr" && ok || fail "install ADD: $(tail -1 "$T/pyerr")"
import re, sys
old, new, n = open(sys.argv[1]).read(), open(sys.argv[2]).read(), sys.argv[3]
m = re.search(r"certo-add\.test-([0-9a-f]{8})", new)
assert m, new
p = "%s/certo-add.test-%s" % (n, m.group(1))
want = old.replace("  server_name add.test;   # no certificate of its own yet\n",
                   "  server_name add.test;   # no certificate of its own yet\n"
                   "  ssl_certificate %s.pem;\n  ssl_certificate_key %s.key;\n" % (p, p))
assert new == want, repr(new)
PY
ngx_ok "install ADD"

# ==== rollback of the last install ====
expect_ok "rollback ADD" cg tls rollback web; logit rollback
wait_served "rollback ADD: inherited again" "$P" add.test "$FP_old_default"
same_bytes "rollback ADD: add.conf as before" "$T/ngx.4/conf.d/add.conf" "$N/conf.d/add.conf"
ls "$N"/certo-add.test-* > /dev/null 2>&1 && fail "rollback ADD: the new files are still there" || ok

# ==== restart reloads ====
expect_ok "restart" cg tls restart web; logit restart
expect_grep "restart: output" "^Restarted endpoint 'web'" "$T/out"
wait_served "restart: A still served" "$P" www.site-a.test "$FP_A"

# ==== refusals that change nothing ====
snap "$T/s1"
expect_fail "no block serves nobody.test" 2 "no server block of $(re_esc "$CONF") serves nobody\.test with ssl" \
  cg tls install web $(mat NOBODY); logit nobody
expect_fail "key mismatch" 2 "does not match" cg tls install web --cert "$K/A2.crt" --key "$K/W.key" --chain "$CHAIN"; logit mismatch
expect_fail "shared snippet" 1 "ssl_certificate of the server block in $(re_esc "$N")/sites-enabled/shared:1 is shared with the server block in $(re_esc "$N")/sites-enabled/shared:6" \
  cg tls install web $(mat SHARED); logit shared
expect_fail "alias with a slash" 2 "--alias '\.\./x'" cg tls install web $(mat A2) --alias ../x; logit alias
snap "$T/s"; same_state "refusals change nothing" "$T/s1" "$T/s"
is_served "refusals: A still served" "$P" www.site-a.test "$FP_A"
is_served "refusals: shared1 untouched" "$P2" shared1.test "$FP_old_snake"

# ==== nginx -t fails (a 1024-bit RSA key: OpenSSL refuses it): rolled back ====
expect_fail "nginx -t fails" 1 "failed at step activate: nginx -t failed: \[emerg\] SSL_CTX_use_certificate\(.*ee key too small.*rolled back" \
  cg tls install web $(mat WEAK); logit weak
snap "$T/s"; same_state "nginx -t fails: every file as before" "$T/s1" "$T/s"
is_served "nginx -t fails: A still served" "$P" www.site-a.test "$FP_A"
no_journal "$WID"; no_stage "$N"
hist_json web "$T/h.json"
pyck "nginx -t fails: history" "$T/h.json" 'd[0]["outcome"] == "failed" and d[0]["step"] == "activate" and "rolled back" in d[0]["message"]'

# ==== the reload fails: a pid file that names no process ====
# `nginx -s reload` reads the master's pid from the pid file of the configuration; a pid
# above pid_max names no process, so the signal cannot be sent. The rollback's own reload
# fails the same way: the files are restored, the journal stays, and the next command on
# the endpoint finishes the rollback once the pid file is right again.
echo $(($(cat /proc/sys/kernel/pid_max) + 1)) > "$N/run/nginx.pid"
expect_fail "reload fails" 1 "failed at step activate: nginx -s reload failed: \[(alert|error)\] kill\(" \
  cg tls install web $(mat A2); logit reload fails
snap "$T/s"; same_state "reload fails: every file as before" "$T/s1" "$T/s"
is_served "reload fails: A still served" "$P" www.site-a.test "$FP_A"
hist_json web "$T/h.json"
pyck "reload fails: history says the rollback's reload failed" "$T/h.json" \
  'd[0]["outcome"] == "failed" and "ROLLBACK FAILED" in d[0]["message"]'
echo "$NGX_PID" > "$N/run/nginx.pid"
expect_ok "reload fails: check finishes the rollback" cg tls check web; logit
expect_grep "reload fails: check notes it" '^note: an interrupted install was rolled back$' "$T/out"
no_journal "$WID"
snap "$T/s"; same_state "reload fails: every file as before after recovery" "$T/s1" "$T/s"
is_served "reload fails: A still served after recovery" "$P" www.site-a.test "$FP_A"

# ==== the new certificate is not served: the master is stopped (SIGSTOP) ====
# nginx -t passes and the reload signal is sent, but a stopped master never acts on it:
# the workers keep serving A, verify fails, the files are restored and reloaded; once
# the master runs again it loads the restored configuration.
kill -STOP "$NGX_PID"
expect_fail "not served" 1 \
  "^certo tls install: failed at step verify: 127\.0\.0\.1:$P \(SNI (www\.)?site-a\.test\) still serves $FP_A, not $FP_A2; the endpoint was rolled back$" \
  cg tls install web $(mat A2); logit not served
snap "$T/s"; same_state "not served: every file as before" "$T/s1" "$T/s"
kill -CONT "$NGX_PID"
sleep 0.5
wait_served "not served: A after the master runs again" "$P" www.site-a.test "$FP_A"
ngx_ok "not served"
no_journal "$WID"

# ==== kill -9 at every step ====
# crash_run STEP: the install of A2 dies at STEP.
crash_run() {
  local rc=0
  (CERTO_TEST_CRASH_AT=$1 cg tls install web $(mat A2) > "$T/out" 2> "$T/err"; exit $?) 2> /dev/null || rc=$?
  logit "crash at $1"
  [ "$rc" = 137 ] && ok || fail "crash at $1: exit $rc, want 137 (stderr: $(head -c 300 "$T/err"))"
}
for step in journal stage swap1 swap activate verify commit; do
  crash_run "$step"
  kill -0 "$NGX_PID" 2> /dev/null && ok || fail "crash at $step: nginx is not running"
  ngx_ok "crash at $step"
  case $step in
    journal | stage | swap1 | swap) is_served "crash at $step: old served" "$P" www.site-a.test "$FP_A" ;;
    *) wait_served "crash at $step: new served" "$P" www.site-a.test "$FP_A2" ;;
  esac
  expect_ok "crash at $step: check recovers" cg tls check web; logit
  no_journal "$WID"
  no_stage "$N"
  if [ "$step" = commit ]; then
    grep -q 'rolled back' "$T/out" && fail "crash at commit: the committed install was rolled back" || ok
    is_served "crash at commit: finished, new served" "$P" www.site-a.test "$FP_A2"
    expect_ok "crash at commit: rollback" cg tls rollback web; logit
  else
    expect_grep "crash at $step: rolled back" '^note: an interrupted install was rolled back$' "$T/out"
  fi
  wait_served "crash at $step: old served again" "$P" www.site-a.test "$FP_A"
  snap "$T/s"; same_state "crash at $step: every file as before" "$T/s1" "$T/s"
done
is_served "crashes: keep.test untouched" "$P" keep.test "$FP_old_keep"
kill -0 "$NGX_PID" && ok || fail "nginx died"

no_temp_files "$D"
done_all
