#!/usr/bin/env bash
# certo discover scan|list|show|remove (issue 6) against a private nginx on loopback high
# ports — several certificates chosen by SNI, an expired and a self-signed certificate, a
# plain-HTTP port — and small servers of our own: one that accepts and never answers
# (the deadline), one that sends garbage, one that speaks first (an SSH-like banner), and
# a closed port. Every finding is compared with what openssl says the servers hold; bad
# specifications are refused with exit 2 and one line, and store nothing.
source "$(dirname "$0")/lib.bash"
source "$(dirname "$0")/data/install/common.bash"

NGINX=/usr/sbin/nginx
if [ ! -x "$NGINX" ]; then
  echo "nginx is not installed ($NGINX); make check installs it" >&2
  exit 1
fi

# ---- eight free loopback ports ----
read -r P_TLS P_EXP P_SELF P_HTTP P_SILENT P_JUNK P_BANNER P_CLOSED < <(python3 - <<'PY'
import socket
socks = []
for _ in range(8):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(*[s.getsockname()[1] for s in socks])
PY
)

# ---- certificates ----
K=$T/pki
mkdir -p "$K"
# leaf NAME CN SANS: $K/NAME.crt, .key, .pem (leaf + intermediate)
leaf() {
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$K/$1.key" \
    -subj "/CN=$2" 2>> "$LOG" |
    openssl x509 -req -CA "$F/int.crt" -CAkey "$F/int.key" -set_serial "0x$(openssl rand -hex 8)" \
      -days 20 -extfile <(printf 'subjectAltName=%s\n' "$3") -out "$K/$1.crt" 2>> "$LOG"
  cat "$K/$1.crt" "$F/int.crt" > "$K/$1.pem"
}
leaf A a.scan.test DNS:a.scan.test,IP:127.0.0.1
leaf B b.scan.test DNS:b.scan.test
cat "$F/expired.crt" "$F/int.crt" > "$K/expired.pem"
FP_A=$(fp_of "$K/A.crt")
FP_B=$(fp_of "$K/B.crt")
FP_EXP=$(fp_of "$F/expired.crt")
FP_SELF=$(fp_of "$F/selfsigned.crt")

# ---- nginx ----
N=$T/ngx
mkdir -p "$N"/{logs,run,tmp}
cat > "$N/nginx.conf" <<EOF
daemon on;
worker_processes 1;
pid $N/run/nginx.pid;
error_log $N/logs/error.log;
events { worker_connections 256; }
http {
    access_log off;
    ssl_protocols TLSv1.2 TLSv1.3;
    client_body_temp_path $N/tmp/body;
    proxy_temp_path $N/tmp/proxy;
    fastcgi_temp_path $N/tmp/fastcgi;
    uwsgi_temp_path $N/tmp/uwsgi;
    scgi_temp_path $N/tmp/scgi;
    server {
        listen 127.0.0.1:$P_TLS ssl default_server;
        server_name a.scan.test;
        ssl_certificate $K/A.pem;
        ssl_certificate_key $K/A.key;
    }
    server {
        listen 127.0.0.1:$P_TLS ssl;
        server_name b.scan.test;
        ssl_certificate $K/B.pem;
        ssl_certificate_key $K/B.key;
    }
    server {
        listen 127.0.0.1:$P_EXP ssl;
        ssl_certificate $K/expired.pem;
        ssl_certificate_key $F/expired.key;
    }
    server {
        listen 127.0.0.1:$P_SELF ssl;
        ssl_certificate $F/selfsigned.crt;
        ssl_certificate_key $F/selfsigned.key;
    }
    server {
        listen 127.0.0.1:$P_HTTP;
        location / { return 200 "plain\n"; }
    }
}
EOF
"$NGINX" -p "$N" -c "$N/nginx.conf" -e "$N/logs/error.log" >> "$LOG" 2>&1 ||
  { cat "$N/logs/error.log" >&2; fail "nginx did not start"; finish; }
for _ in $(seq 50); do [ -s "$N/run/nginx.pid" ] && break; sleep 0.1; done
STARTED+=("$(cat "$N/run/nginx.pid") nginx")

# ---- our own small servers: silent, garbage, banner ----
python3 - "$P_SILENT" "$P_JUNK" "$P_BANNER" > "$T/py.log" 2>&1 <<'PY' &
import socket, sys, threading
silent_port, junk_port, banner_port = (int(p) for p in sys.argv[1:4])
def listener(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(64)
    return s
silent = listener(silent_port)  # the kernel completes connections; nobody ever reads or writes
def serve(s, reply, first):
    while True:
        c, _ = s.accept()
        if first:
            c.sendall(reply)
        else:
            c.recv(4096)
            c.sendall(reply)
        c.close()
threading.Thread(target=serve, args=(listener(junk_port), b"\x00\x01\x02\xffjunk\r\n", False), daemon=True).start()
threading.Thread(target=serve, args=(listener(banner_port), b"SSH-2.0-Fake_1.0\r\n", True), daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
PY
PY_PID=$!
STARTED+=("$PY_PID python3")
for _ in $(seq 50); do grep -q ready "$T/py.log" 2> /dev/null && break; sleep 0.1; done
grep -q ready "$T/py.log" || { fail "python servers did not start: $(cat "$T/py.log")"; finish; }

printf 'b.scan.test\n# a comment\n\nnone.scan.test\n' > "$T/sni"
PORTS="$P_TLS,$P_EXP,$P_SELF,$P_HTTP,$P_SILENT,$P_JUNK,$P_BANNER,$P_CLOSED"

# ---- one scan, as JSON ----
expect_ok "scan json" cg discover scan --targets 127.0.0.1 --ports "$PORTS" --sni "$T/sni" \
  --trust "$F/ca.crt" --timeout 800 --json
logit scan json
cp "$T/out" "$T/scan.json"
# check NAME PYTHON-EXPRESSION over d (the document) and r(port, sni) (one result or None)
pyck() {
  if python3 - "$2" "$T/scan.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[2]))
def r(port, sni=None):
    m = [x for x in d["results"] if x["port"] == port and x["sni"] == sni]
    assert len(m) <= 1, m
    return m[0] if m else None
sys.exit(0 if eval(sys.argv[1]) else 1)
PY
  then ok; else fail "$1: $2"; fi
}
pyck "TLS port, no SNI: the default server's leaf, TLS 1.3, chain of 2, trusted" \
  "r($P_TLS)['service'] == 'tls' and r($P_TLS)['sha256_fingerprint'] == '$FP_A' and r($P_TLS)['version'] == 'TLSv1.3' and r($P_TLS)['chain_length'] == 2 and r($P_TLS)['verify'] == 'ok' and r($P_TLS)['trusted'] is True"
pyck "TLS port, no SNI: subject, issuer, SANs, key" \
  "r($P_TLS)['subject'] == 'CN=a.scan.test' and r($P_TLS)['issuer'] == 'CN=Certo Test Intermediate CA' and r($P_TLS)['sans'] == 'DNS:a.scan.test, IP:127.0.0.1' and r($P_TLS)['key'] == 'EC 256' and r($P_TLS)['self_signed'] is False"
pyck "SNI b.scan.test: the other block's leaf, verified for that name" \
  "r($P_TLS, 'b.scan.test')['sha256_fingerprint'] == '$FP_B' and r($P_TLS, 'b.scan.test')['verify'] == 'ok'"
pyck "SNI none.scan.test: the default leaf, which does not match the name" \
  "r($P_TLS, 'none.scan.test')['sha256_fingerprint'] == '$FP_A' and r($P_TLS, 'none.scan.test')['verify'] == 'hostname mismatch'"
pyck "the chain is the PEM of the leaf and the intermediate" \
  "r($P_TLS)['chain'].count('BEGIN CERTIFICATE') == 2"
pyck "expired certificate: found and reported expired" \
  "r($P_EXP)['sha256_fingerprint'] == '$FP_EXP' and r($P_EXP)['verify'] == 'certificate has expired' and r($P_EXP)['not_after'] == '2021-01-01T00:00:00Z'"
pyck "self-signed certificate: found, self_signed, untrusted" \
  "r($P_SELF)['sha256_fingerprint'] == '$FP_SELF' and r($P_SELF)['self_signed'] is True and r($P_SELF)['trusted'] is False and r($P_SELF)['chain_length'] == 1"
pyck "plain HTTP port: http, with nginx's first line" \
  "r($P_HTTP)['service'] == 'http' and r($P_HTTP)['detail'] == 'HTTP/1.1 400 Bad Request' and 'version' not in r($P_HTTP)"
pyck "silent port: other, accepted and never answered" \
  "r($P_SILENT)['service'] == 'other' and r($P_SILENT)['detail'] == 'accepted and never answered'"
pyck "garbage: other, with the bytes shown" \
  "r($P_JUNK)['service'] == 'other' and r($P_JUNK)['detail'] == 'binary answer: 00 01 02 ff 6a 75 6e 6b 0d 0a'"
pyck "banner: other, with the banner" \
  "r($P_BANNER)['service'] == 'other' and 'SSH-2.0-Fake_1.0' in r($P_BANNER)['detail']"
pyck "closed port: not listed without --all" "r($P_CLOSED) is None"
pyck "SNI names are tried on every TLS port, and only there" \
  "sorted((x['port'], x['sni']) for x in d['results'] if x['sni']) == sorted((p, n) for p in ($P_TLS, $P_EXP, $P_SELF) for n in ('b.scan.test', 'none.scan.test'))"
pyck "exactly these results" "len(d['results']) == 13"
pyck "summary counts" \
  "d['summary']['hosts'] == 1 and d['summary']['probes'] == 8 and d['summary']['open'] == 7 and d['summary']['tls'] == 9 and d['summary']['http'] == 1 and d['summary']['other'] == 3 and d['summary']['closed'] == 1 and d['summary']['silent'] == 0"
pyck "summary: certificates" \
  "d['summary']['expired'] == 3 and d['summary']['self_signed'] == 3 and d['summary']['untrusted'] == 7 and d['summary']['expiring_30d'] == 3"
pyck "recorded as done" "d['outcome'] == 'done' and d['id'] >= 1"
SCAN1=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$T/scan.json")

# ---- stored: show gives the same findings without a new scan ----
kill -STOP "$PY_PID" # nothing may be asked of the servers now
"$NGINX" -p "$N" -c "$N/nginx.conf" -s stop >> "$LOG" 2>&1 || true
expect_ok "show json" cg discover show "$SCAN1" --json
cp "$T/out" "$T/show.json"
if python3 - "$T/scan.json" "$T/show.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
key = lambda x: (x["port"], x["sni"] or "")
ra, rb = sorted(a["results"], key=key), sorted(b["results"], key=key)
assert ra == rb, (ra, rb)
for k in ("hosts", "probes", "open", "tls", "http", "other", "closed", "expired", "self_signed", "untrusted"):
    assert a["summary"][k] == b["summary"][k], k
PY
then ok; else fail "show: not the findings of the scan"; fi
kill -CONT "$PY_PID"
expect_ok "show table" cg discover show
expect_grep "show table: header" '^TARGET +PORT +SNI +SERVICE +TLS +CERTIFICATE +EXPIRES +TRUST$' "$T/out"
expect_grep "show table: the SNI row" "^127\.0\.0\.1 +$P_TLS +b\.scan\.test +tls +TLSv1\.3 +b\.scan\.test +[0-9]{4}-[0-9]{2}-[0-9]{2} +trusted$" "$T/out"
expect_grep "show table: the self-signed row" "^127\.0\.0\.1 +$P_SELF +- +tls +TLSv1\.[23] +self\.example\.test +2036-11-21 +self-signed certificate \(self-signed\)$" "$T/out"
expect_grep "show table: the http row" "^127\.0\.0\.1 +$P_HTTP +- +http +- +HTTP/1\.1 400 Bad Request$" "$T/out"
expect_grep "show table: summary" "^Scan $SCAN1: 8 probes in [0-9.]+ s.*, done$" "$T/out"
expect_grep "show table: certificates" '^  certificates: expired 3, expiring within 30 days 3, self-signed 3, untrusted 7$' "$T/out"
expect_ok "show csv" cg discover show "$SCAN1" --csv
expect_grep "csv header" '^target,address,port,sni,service,detail,version,cipher,subject,issuer,sans,not_before,not_after,key,fingerprint,self_signed,verify,chain_length$' "$T/out"
[ "$(grep -c '^127\.0\.0\.1,' "$T/out")" = 13 ] && ok || fail "csv: 13 rows expected: $(cat "$T/out")"
expect_grep "csv: quoted SANs" "^127\.0\.0\.1,127\.0\.0\.1,$P_TLS,,tls,,TLSv1\.3,[A-Z0-9_]+,CN=a\.scan\.test,CN=Certo Test Intermediate CA,\"DNS:a\.scan\.test, IP:127\.0\.0\.1\",.*,EC 256,$FP_A,false,ok,2$" "$T/out"
expect_ok "list" cg discover list
expect_grep "list: the scan" "^$SCAN1 +[0-9T:-]+Z +done +8 +7 +9  127\.0\.0\.1 +$PORTS$" "$T/out"

# restart the servers for the rest
"$NGINX" -p "$N" -c "$N/nginx.conf" -e "$N/logs/error.log" >> "$LOG" 2>&1 || fail "nginx restart"
for _ in $(seq 50); do [ -s "$N/run/nginx.pid" ] && break; sleep 0.1; done
STARTED+=("$(cat "$N/run/nginx.pid") nginx")

# ---- --all lists closed ports; csv; concurrency 1 finds the same as 512 ----
expect_ok "scan --all csv" cg discover scan --targets 127.0.0.1 --ports "$PORTS" --timeout 800 --all --csv --concurrency 1
expect_grep "--all: the closed port" "^127\.0\.0\.1,127\.0\.0\.1,$P_CLOSED,,closed," "$T/out"
expect_grep "csv: the summary is on stderr" '^Scan [0-9]+: 8 probes' "$T/err"
cut -d, -f3,5,15 "$T/out" | sort > "$T/c1"
expect_ok "scan concurrency 512" cg discover scan --targets 127.0.0.1 --ports "$PORTS" --timeout 800 --all --csv
cut -d, -f3,5,15 "$T/out" | sort > "$T/c512"
same_bytes "concurrency 1 and 512 find the same" "$T/c1" "$T/c512"

# ---- targets: a CIDR range, a last-octet range, a host name, a file ----
expect_ok "scan a /30 and a range" cg discover scan --targets 127.0.0.0/30,127.0.1.1-2 --ports "$P_TLS" --timeout 800 --json
pyck2() { python3 -c "import json,sys; d=json.load(open('$T/out')); sys.exit(0 if ($2) else 1)" && ok || fail "$1: $2"; }
pyck2 "/30 + 2: 6 hosts probed" "d['summary']['hosts'] == 6 and d['summary']['probes'] == 6"
pyck2 "only 127.0.0.1 listens there" "[x['address'] for x in d['results']] == ['127.0.0.1']"
expect_ok "scan a host name" cg discover scan --targets localhost --ports "$P_TLS" --timeout 800 --json
pyck2 "host name: its name is the SNI, the address is numeric" \
  "len(d['results']) == 1 and d['results'][0]['target'] == 'localhost' and d['results'][0]['address'] in ('127.0.0.1', '::1')"
printf '# targets\n127.0.0.1  # the one\n127.0.0.2\n' > "$T/targets"
expect_ok "scan @file" cg discover scan --targets "@$T/targets" --ports "$P_TLS,$P_HTTP" --timeout 800 --json
pyck2 "@file: 2 hosts x 2 ports" "d['summary']['probes'] == 4 and d['summary']['open'] == 2"
expect_ok "scan --rate" cg discover scan --targets 127.0.0.1 --ports "$P_TLS,$P_HTTP,$P_EXP" --rate 20/s --json
pyck2 "--rate: all found" "d['summary']['open'] == 3"

# ---- bad input: exit 2, one line, nothing stored ----
expect_ok "list before" cg discover list --json
cp "$T/out" "$T/list.before"
bad() { expect_fail "$1" 2 "$2" cg discover scan "${@:3}"; }
bad "port 0" '^certo discover scan: ports: 0 is not a port \(1-65535\)$' --targets 127.0.0.1 --ports 0
bad "port 70000" '^certo discover scan: ports: 70000 is not a port \(1-65535\)$' --targets 127.0.0.1 --ports 443,70000
bad "empty port range" '^certo discover scan: ports: 90-80 is an empty range$' --targets 127.0.0.1 --ports 90-80
bad "port not a number" '^certo discover scan: ports: x1 is not a number$' --targets 127.0.0.1 --ports x1
bad "bad address" "^certo discover scan: targets: 127\.0\.0\.300 " --targets 127.0.0.300 --ports 443
bad "bad prefix" "^certo discover scan: targets: 127\.0\.0\.0/33 " --targets 127.0.0.0/33 --ports 443
bad "empty target range" "^certo discover scan: targets: 127\.0\.0\.9-3 " --targets 127.0.0.9-3 --ports 443
bad "range over the maximum" '^certo discover scan: targets: 10\.0\.0\.0/8 is 16777216 addresses, more than the maximum of 65536 \(raise it with --max N\)$' --targets 10.0.0.0/8 --ports 443
bad "probes over the maximum" '^certo discover scan: --targets x --ports is 131072 probes, more than the maximum of 65536 \(raise it with --max N\)$' --targets 127.1.0.0/16 --ports 443,444
bad "--max lowered" '^certo discover scan: --targets x --ports is 8 probes, more than the maximum of 4 \(raise it with --max N\)$' --targets 127.0.0.1 --ports "$PORTS" --max 4
bad "missing --targets" "^certo discover scan: --targets is required \\(see 'certo discover scan --help'\\)$" --ports 443
bad "missing --ports" "^certo discover scan: --ports is required \\(see 'certo discover scan --help'\\)$" --targets 127.0.0.1
bad "json and csv" "^certo discover scan: --json and --csv exclude each other \\(see 'certo discover scan --help'\\)$" --targets 127.0.0.1 --ports 443 --json --csv
bad "concurrency 0" "^certo discover scan: --concurrency: '0' is not an integer from 1 to 65536$" --targets 127.0.0.1 --ports 443 --concurrency 0
bad "timeout" "^certo discover scan: --timeout: 'soon' is not an integer from 1 to 600000$" --targets 127.0.0.1 --ports 443 --timeout soon
bad "rate" "^certo discover scan: --rate: '5/m' is not a rate from 1 to 1000000 per second \(N or N/s\)$" --targets 127.0.0.1 --ports 443 --rate 5/m
bad "missing target file" "^certo discover scan: targets: cannot read $(re_esc "$T")/nope: No such file or directory$" --targets "@$T/nope" --ports 443
printf 'good.test\nbad name\n' > "$T/badsni"
bad "bad SNI file" "^certo discover scan: --sni $(re_esc "$T")/badsni line 2: one host name per line$" --targets 127.0.0.1 --ports 443 --sni "$T/badsni"
printf 'under_score.test\n' > "$T/badsni2"
bad "bad SNI name" "^certo discover scan: --sni $(re_esc "$T")/badsni2 line 1: 'under_score\.test' is not a host name$" --targets 127.0.0.1 --ports 443 --sni "$T/badsni2"
bad "trust file missing" "^certo discover scan: --trust $(re_esc "$T")/nope\.pem: cannot read" --targets 127.0.0.1 --ports 443 --trust "$T/nope.pem"
expect_ok "list after" cg discover list --json
same_bytes "bad input stored no scan" "$T/list.before" "$T/out"
expect_fail "show: no such scan" 2 '^certo discover show: no scan 99999$' cg discover show 99999
expect_fail "show: not an id" 2 "^certo discover show: 'abc' is not a scan id \(see 'certo discover list'\)$" cg discover show abc
expect_fail "remove: no such scan" 2 '^certo discover remove: no scan 99999$' cg discover remove 99999

# ---- remove ----
expect_ok "remove" cg discover remove "$SCAN1"
expect_grep "remove: said" "^Scan $SCAN1 removed\.$" "$T/out"
expect_fail "removed scan is gone" 2 "^certo discover show: no scan $SCAN1$" cg discover show "$SCAN1"
[ "$(sqlite3 "$D/gateway.db" "SELECT count(*) FROM scan_results WHERE scan_id = $SCAN1")" = 0 ] && ok ||
  fail "remove: findings of scan $SCAN1 left in the database"

# ---- an interrupted scan keeps what it found ----
"$C" discover scan --targets 127.0.0.0/24 --ports "$P_SILENT" --timeout 5000 --concurrency 4 --data "$D" \
  > "$T/int.out" 2> "$T/int.err" < /dev/null &
SCAN_PID=$!
STARTED+=("$SCAN_PID discover")
sleep 1
kill -INT "$SCAN_PID"
rc=0; wait "$SCAN_PID" || rc=$?
[ "$rc" = 130 ] && ok || fail "interrupted scan: exit $rc, want 130 ($(cat "$T/int.err"))"
expect_grep "interrupted: said so" '^certo discover scan: stopped by a signal; what was found is kept \(scan [0-9]+\)$' "$T/int.err"
expect_ok "list after the interrupt" cg discover list
expect_grep "interrupted: recorded as stopped" "^[0-9]+ +[0-9T:-]+Z +stopped " "$T/out"

"$NGINX" -p "$N" -c "$N/nginx.conf" -s stop >> "$LOG" 2>&1 || true
finish
