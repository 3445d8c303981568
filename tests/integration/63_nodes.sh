#!/usr/bin/env bash
# certo tls discover|nodes (seed 004 "Managing nodes") against a real nginx, Apache httpd and
# Tomcat 10 on loopback, and keystore files. Each server has several certificates told apart
# by SNI, a wildcard name, an expired and a self-signed certificate, a plain HTTP listener and
# (nginx, Apache) a listener its configuration names but nobody listens on. Checked: the node
# list (names, aliases, protocols, addresses, ports), states with their reasons, the SSL
# column (Certo's ID of what `tls install` put there, External otherwise, the same ID in
# `tls history`), the chain problems, --json, --wide, that `tls nodes` shows what `tls
# discover` stored; drift after the served certificate is replaced behind Certo's back
# (nginx: the files Certo wrote overwritten; Apache: the vhost pointed at other files;
# PKCS#12: the entry replaced with `certo keystore put`) and none before; p12, jks and pem
# entries; bad input. Every server is started here and stopped by its pid on exit.
source "$(dirname "$0")/lib.bash"
source "$(dirname "$0")/data/install/common.bash"

NGINX=/usr/sbin/nginx
HOME_TC=/usr/share/tomcat10
[ -x "$NGINX" ] || { echo "nginx is not installed ($NGINX); make check installs it" >&2; exit 1; }
[ -x /usr/sbin/apache2 ] || { echo "apache2 is not installed; make check installs it" >&2; exit 1; }
[ -x "$HOME_TC/bin/catalina.sh" ] || { echo "tomcat10 is not installed; make check installs it" >&2; exit 1; }
for j in /usr/lib/jvm/default-java /usr/lib/jvm/java-17-openjdk-amd64; do
  [ -x "$j/bin/java" ] && { JH=$j; break; }
done
: "${JH:?no JDK in /usr/lib/jvm}"

read -r PN PN2 PNH PNR PNC PA PAH PAC PT PTH PTK PTA < <(python3 - <<'PY'
import socket
socks = []
for _ in range(12):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(*[s.getsockname()[1] for s in socks])
PY
)

# ---- servers: stopped by pid on exit ----
N=$T/ngx R=$T/apache B=$T/tomcat
NGX_PID=
stop_pid() { # stop_pid PID SIGNAL: SIGNAL, then KILL after 10 s
  [ -n "$1" ] || return 0
  kill -CONT "$1" 2> /dev/null || true
  kill "-$2" "$1" 2> /dev/null || true
  for _ in $(seq 100); do kill -0 "$1" 2> /dev/null || return 0; sleep 0.1; done
  kill -KILL "$1" 2> /dev/null || true
}
stop_all() {
  stop_pid "$NGX_PID" QUIT
  stop_pid "$(cat "$R/run/apache2.pid" 2> /dev/null || true)" TERM
  stop_pid "$(cat "$B/temp/certo-tomcat.pid" 2> /dev/null || true)" TERM
}
trap 'stop_all; cleanup' EXIT

# ---- certificates: leaves of the fixtures' intermediate ----
K=$T/pki
mkdir -p "$K"
# leaf NAME SAN...: $K/NAME.crt, .key and .pem (leaf + intermediate), CN the first SAN
leaf() {
  local n=$1; shift
  local sans; sans=$(printf 'DNS:%s,' "$@"); sans=${sans%,}
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$K/$n.key" \
    -subj "/CN=$1" 2>> "$LOG" |
    openssl x509 -req -CA "$F/int.crt" -CAkey "$F/int.key" -set_serial "0x$(openssl rand -hex 8)" \
      -days 30 -extfile <(printf 'subjectAltName=%s\n' "$sans") -out "$K/$n.crt" 2>> "$LOG"
  cat "$K/$n.crt" "$F/int.crt" > "$K/$n.pem"
}
leaf ngx-a0 www.a.test a.test; leaf ngx-a1 www.a.test a.test; leaf ngx-a2 www.a.test a.test
leaf ngx-w '*.wild.test'; leaf ngx-c closed.test
leaf ap-a0 a.example.test www.a.example.test; leaf ap-a1 a.example.test www.a.example.test
leaf ap-b b.example.test
leaf tc-a0 a.tc.test; leaf tc-a1 a.tc.test; leaf tc-w '*.w.tc.test'
cat "$F/expired.crt" "$F/int.crt" > "$K/expired.pem"
# id_of CERT: the SSL column's ID (the first 16 hex digits of the SHA-256 fingerprint)
id_of() { fp_of "$1" | tr -d ':' | tr 'A-F' 'a-f' | cut -c1-16; }
for c in ngx-a1 ngx-a2 ap-a0 ap-a1 tc-a1; do declare "ID_${c//-/_}=$(id_of "$K/$c.crt")"; done
ID_other=$(id_of "$F/leaf-rsa3072.crt")
FP_ngx_a1=$(fp_of "$K/ngx-a1.crt")

# nodes_are DESC JSON: the nodes of 'tls discover|nodes --json' are exactly the lines on
# stdin: name|alias|protocol|address|port|state|ssl|problems|drift (- for null or none).
nodes_are() {
  cat > "$T/want"
  python3 - "$2" "$T/want" 2> "$T/pyerr" <<'PY' || fail "$1: $(cat "$T/pyerr")"
import json, sys
d = json.load(open(sys.argv[1]))
want = [l.rstrip("\n").split("|") for l in open(sys.argv[2]) if l.strip()]
def v(x):
    return "-" if x is None or x == [] else str(x)
got = [[v(n["name"]), v(n["alias"]), v(n["protocol"]), v(n["address"]), v(n["port"]), n["state"],
        v(n["ssl"]), "; ".join(n["problems"]) or "-", "drift" if n["drift"] else "-"]
       for n in d["nodes"]]
bad = ["node %d: got %s, want %s" % (i + 1, "|".join(g), "|".join(w))
       for i, (g, w) in enumerate(zip(got, want)) if g != w]
if len(got) != len(want):
    bad.append("%d nodes, want %d: %s" % (len(got), len(want), [g[0] for g in got]))
if bad:
    raise SystemExit("; ".join(bad))
PY
  [ -s "$T/pyerr" ] || ok
}
# wait_served PORT SNI CERT: up to 10 s until CERT is served five times in a row (after a
# reload the old workers keep accepting for a moment).
wait_served() {
  local want got in_row=0; want=$(fp_of "$3")
  for _ in $(seq 100); do
    got=$(openssl s_client -connect "127.0.0.1:$1" -servername "$2" < /dev/null 2> /dev/null |
      openssl x509 -noout -fingerprint -sha256 2> /dev/null | sed 's/^[^=]*=//') || true
    if [ "$got" = "$want" ]; then
      in_row=$((in_row + 1)); [ "$in_row" -ge 5 ] && { ok; return; }
    else in_row=0; sleep 0.1; fi
  done
  fail "127.0.0.1:$1 (SNI $2) serves '$got', want $(basename "$3") $want"
}
# discover NAME OUT: 'tls discover NAME --json' into OUT; 'tls nodes NAME --json' must then
# print the same (it reads what discover stored).
discover() {
  if cg tls discover "$1" --json > "$2" 2> "$T/err"; then ok; else
    fail "tls discover $1: exit $? ($(cat "$T/err"))"; echo '{"nodes": []}' > "$2"; fi
  cat "$2" >> "$LOG"
  cg tls nodes "$1" --json > "$T/stored.json" 2>> "$LOG" || true
  same_bytes "tls nodes $1 shows what discover stored" "$2" "$T/stored.json"
}

# ==== nginx ====
mkdir -p "$N"/{conf.d,logs,run,tmp}
cat > "$N/nginx.conf" <<EOF
daemon on;
worker_processes 1;
pid $N/run/nginx.pid;
error_log $N/logs/error.log;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $N/tmp/body;
    proxy_temp_path $N/tmp/proxy;
    fastcgi_temp_path $N/tmp/fastcgi;
    uwsgi_temp_path $N/tmp/uwsgi;
    scgi_temp_path $N/tmp/scgi;
    server {
        listen 127.0.0.1:$PN ssl;
        listen 127.0.0.1:$PN2 ssl;
        server_name www.a.test a.test;
        ssl_certificate $K/ngx-a0.pem;
        ssl_certificate_key $K/ngx-a0.key;
    }
    server {
        listen 127.0.0.1:$PN ssl;
        server_name *.wild.test;
        ssl_certificate $K/ngx-w.pem;
        ssl_certificate_key $K/ngx-w.key;
    }
    server {
        listen 127.0.0.1:$PN ssl;
        server_name expired.example.test;
        ssl_certificate $K/expired.pem;
        ssl_certificate_key $F/expired.key;
    }
    server {
        listen 127.0.0.1:$PN ssl;
        server_name self.example.test;
        ssl_certificate $F/selfsigned.crt;
        ssl_certificate_key $F/selfsigned.key;
    }
    server {
        listen 127.0.0.1:$PNH;
        server_name plain.test;
        return 200 "plain\n";
    }
    server {
        listen 127.0.0.1:$PNR ssl;
        server_name reject.test;
        ssl_reject_handshake on;
    }
    include conf.d/*.conf;
}
EOF
"$NGINX" -c "$N/nginx.conf" >> "$LOG" 2>&1 || { fail "nginx does not start: $(tail -3 "$N/logs/error.log")"; finish; }
NGX_PID=$(cat "$N/run/nginx.pid")

add_ep web nginx --nginx_config_path "$N/nginx.conf"
# Configured after the start: nobody listens there until the next reload.
cat > "$N/conf.d/closed.conf" <<EOF
server {
    listen 127.0.0.1:$PNC ssl;
    server_name closed.test;
    ssl_certificate $K/ngx-c.pem;
    ssl_certificate_key $K/ngx-c.key;
}
EOF

# -- before any install: every certificate is External, nothing drifts --
discover web "$T/n0.json"
nodes_are "nginx: nodes before any install" "$T/n0.json" <<EOF
www.a.test|a.test|HTTPS|127.0.0.1|$PN|serving|External|-|-
www.a.test|a.test|HTTPS|127.0.0.1|$PN2|serving|External|-|-
*.wild.test|-|HTTPS|127.0.0.1|$PN|serving|External|-|-
expired.example.test|-|HTTPS|127.0.0.1|$PN|serving|External|expired|-
self.example.test|-|HTTPS|127.0.0.1|$PN|serving|External|self-signed|-
plain.test|-|HTTP|127.0.0.1|$PNH|serving|-|-|-
reject.test|-|HTTPS|127.0.0.1|$PNR|error|-|-|-
closed.test|-|HTTPS|127.0.0.1|$PNC|unreachable|-|-|-
EOF
pyck "nginx: SNI per node" "$T/n0.json" '[n["sni"] for n in d["nodes"]] == ["www.a.test", "www.a.test", "certo-discover.wild.test", "expired.example.test", "self.example.test", "plain.test", "reject.test", "closed.test"]'
pyck "nginx: reasons" "$T/n0.json" \
  'd["nodes"][6]["reason"] == "TLS handshake with 127.0.0.1:%s failed: tlsv1 unrecognized name" % a[0] and d["nodes"][7]["reason"] == "Connection refused" and all(n["reason"] is None for n in d["nodes"][:6])' "$PNR"
pyck "nginx: fields" "$T/n0.json" \
  'd["nodes"][0]["fingerprint"] == a[0] and d["nodes"][0]["subject"] == "CN=www.a.test" and d["nodes"][0]["issuer"] == "CN=Certo Test Intermediate CA" and d["nodes"][0]["vendor"] == "nginx" and d["nodes"][0]["source"] == a[1] + ":13" and d["nodes"][2]["source"] == a[1] + ":20" and all(n["installed"] is None for n in d["nodes"]) and d["endpoint"] == "web" and d["type"] == "nginx" and d["nodes"][5]["fingerprint"] is None and d["nodes"][5]["expires"] is None' \
  "$(fp_of "$K/ngx-a0.crt")" "$N/nginx.conf"
pyck "nginx: expiry as RFC 3339" "$T/n0.json" 'd["nodes"][3]["expires"] == "2021-01-01T00:00:00Z"'
expect_ok "nginx: tls nodes" cg tls nodes web
cp "$T/out" "$T/n0.txt"
expect_grep "text: summary" "^Endpoint 'web' \(nginx\): 8 nodes, discovered [0-9-]+T[0-9:]+Z$" "$T/n0.txt"
expect_grep "text: heading" "^www\.a\.test - nginx - serving$" "$T/n0.txt"
expect_grep "text: columns" "^  Name +Alias +Protocol +IP Address +Port +SSL$" "$T/n0.txt"
expect_grep "text: row" "^  www\.a\.test +a\.test +HTTPS +127\.0\.0\.1 +$PN +External$" "$T/n0.txt"
expect_grep "text: plain http row" "^  plain\.test +- +HTTP +127\.0\.0\.1 +$PNH +-$" "$T/n0.txt"
expect_grep "text: unreachable heading" "^closed\.test - nginx - unreachable \(Connection refused\)$" "$T/n0.txt"
expect_grep "text: error heading" "^reject\.test - nginx - error \(TLS handshake with 127\.0\.0\.1:$PNR failed: tlsv1 unrecognized name\)$" "$T/n0.txt"
[ "$(grep -c '^  Name ' "$T/n0.txt")" = 8 ] && ok || fail "text: one column header per node"
grep -q 'drift' "$T/n0.txt" && fail "text: drift before any install" || ok
expect_ok "nginx: --wide" cg tls nodes web --wide
expect_grep "wide: columns" "^  Name +Alias +Protocol +IP Address +Port +SSL +Subject +Issuer +Expires +Fingerprint +Problems$" "$T/out"
expect_grep "wide: expired row" "^  expired\.example\.test +- +HTTPS +127\.0\.0\.1 +$PN +External +CN=expired\.example\.test +CN=Certo Test Intermediate CA +2021-01-01 +$(fp_of "$F/expired.crt") +expired$" "$T/out"
expect_grep "wide: self-signed row" "^  self\.example\.test .* CN=self\.example\.test +CN=self\.example\.test +[0-9-]{10} +[0-9A-F:]{95} +self-signed$" "$T/out"
expect_grep "wide: no certificate" "^  plain\.test +- +HTTP +127\.0\.0\.1 +$PNH +- +- +- +- +- +-$" "$T/out"
expect_ok "nginx: discover prints text" cg tls discover web
expect_grep "discover prints the same view" "^www\.a\.test - nginx - serving$" "$T/out"
rm "$N/conf.d/closed.conf"

# -- drift found from the install's files alone: Certo installs A1, then its files are
# overwritten with A2 and nginx reloaded, before any discovery saw A1 served --
expect_ok "nginx: install A1" cg tls install web --cert "$K/ngx-a1.crt" --key "$K/ngx-a1.key" --chain "$F/int.crt"
logit install
wait_served "$PN" www.a.test "$K/ngx-a1.crt"
A_PEM=$(ls "$N"/certo-www.a.test-*.pem)
cp "$K/ngx-a2.pem" "$A_PEM"; cp "$K/ngx-a2.key" "${A_PEM%.pem}.key"
kill -HUP "$NGX_PID"
wait_served "$PN" www.a.test "$K/ngx-a2.crt"
wait_served "$PN2" www.a.test "$K/ngx-a2.crt"
discover web "$T/n1.json"
nodes_are "nginx: drift after Certo's files were overwritten" "$T/n1.json" <<EOF
www.a.test|a.test|HTTPS|127.0.0.1|$PN|serving|External|-|drift
www.a.test|a.test|HTTPS|127.0.0.1|$PN2|serving|External|-|drift
*.wild.test|-|HTTPS|127.0.0.1|$PN|serving|External|-|-
expired.example.test|-|HTTPS|127.0.0.1|$PN|serving|External|expired|-
self.example.test|-|HTTPS|127.0.0.1|$PN|serving|External|self-signed|-
plain.test|-|HTTP|127.0.0.1|$PNH|serving|-|-|-
reject.test|-|HTTPS|127.0.0.1|$PNR|error|-|-|-
EOF
pyck "nginx: drift names what Certo installed" "$T/n1.json" \
  'd["nodes"][0]["installed"] == a[0] and d["nodes"][0]["fingerprint"] == a[1] and d["nodes"][2]["installed"] is None' \
  "$FP_ngx_a1" "$(fp_of "$K/ngx-a2.crt")"
expect_ok "nginx: tls nodes after drift" cg tls nodes web
expect_grep "text: drift heading" "^www\.a\.test - nginx - serving, drift: serves $ID_ngx_a2, Certo installed $ID_ngx_a1$" "$T/out"
[ "$(grep -c 'drift' "$T/out")" = 2 ] && ok || fail "text: drift on exactly the two installed nodes: $(grep drift "$T/out")"

# -- installed again: Certo's ID in the SSL column, no drift --
expect_ok "nginx: install A1 again" cg tls install web --cert "$K/ngx-a1.crt" --key "$K/ngx-a1.key" --chain "$F/int.crt"
logit install again
wait_served "$PN" www.a.test "$K/ngx-a1.crt"
wait_served "$PN2" a.test "$K/ngx-a1.crt"
discover web "$T/n2.json"
nodes_are "nginx: after the second install" "$T/n2.json" <<EOF
www.a.test|a.test|HTTPS|127.0.0.1|$PN|serving|$ID_ngx_a1|-|-
www.a.test|a.test|HTTPS|127.0.0.1|$PN2|serving|$ID_ngx_a1|-|-
*.wild.test|-|HTTPS|127.0.0.1|$PN|serving|External|-|-
expired.example.test|-|HTTPS|127.0.0.1|$PN|serving|External|expired|-
self.example.test|-|HTTPS|127.0.0.1|$PN|serving|External|self-signed|-
plain.test|-|HTTP|127.0.0.1|$PNH|serving|-|-|-
reject.test|-|HTTPS|127.0.0.1|$PNR|error|-|-|-
EOF
pyck "nginx: the installed node" "$T/n2.json" 'd["nodes"][0]["fingerprint"] == a[0] and d["nodes"][0]["installed"] == a[0]' "$FP_ngx_a1"
expect_ok "nginx: tls nodes" cg tls nodes web
expect_grep "text: Certo's ID" "^  www\.a\.test +a\.test +HTTPS +127\.0\.0\.1 +$PN +$ID_ngx_a1$" "$T/out"
grep -q 'drift' "$T/out" && fail "text: drift after the second install" || ok
expect_ok "nginx: --wide" cg tls nodes web --wide
expect_grep "wide: installed row" "^  www\.a\.test .* $ID_ngx_a1 +CN=www\.a\.test +CN=Certo Test Intermediate CA +[0-9-]{10} +$FP_ngx_a1 +-$" "$T/out"
# the ID is the one `tls history` shows
cg tls history web > "$T/h.txt" 2>> "$LOG" || fail "tls history web"
[ "$(grep -c "^    ssl id  $ID_ngx_a1$" "$T/h.txt")" = 2 ] && ok || fail "history: ssl id lines: $(cat "$T/h.txt")"
expect_grep "history: the old lines stay" "^    after   $FP_ngx_a1$" "$T/h.txt"
hist_json web "$T/h.json"
pyck "history: ssl_id in JSON" "$T/h.json" 'd[0]["ssl_id"] == a[0] and d[0]["fp_after"] == a[1]' "$ID_ngx_a1" "$FP_ngx_a1"

# ==== Apache httpd ====
mkdir -p "$R"/{run,logs,mods-enabled,sites-enabled}
chmod o+rx "$T"
for m in mpm_event ssl socache_shmcb authz_core; do
  ln -s "/etc/apache2/mods-available/$m.load" "$R/mods-enabled/$m.load"
done
cat > "$R/apache2.conf" <<EOF
DefaultRuntimeDir $R/run
PidFile $R/run/apache2.pid
ErrorLog $R/logs/error.log
LogLevel warn
User www-data
Group www-data
ServerName localhost
IncludeOptional mods-enabled/*.load
SSLSessionCache shmcb:$R/run/ssl_scache(512000)
Listen 127.0.0.1:$PA
Listen 127.0.0.1:$PAH
IncludeOptional sites-enabled/*.conf
EOF
cat > "$R/sites-enabled/a.conf" <<EOF
<VirtualHost *:$PA>
    ServerName a.example.test
    ServerAlias www.a.example.test
    SSLEngine on
    SSLCertificateFile $K/ap-a0.pem
    SSLCertificateKeyFile $K/ap-a0.key
</VirtualHost>
EOF
cat > "$R/sites-enabled/b.conf" <<EOF
<VirtualHost *:$PA>
    ServerName b.example.test
    SSLEngine on
    SSLCertificateFile $K/ap-b.pem
    SSLCertificateKeyFile $K/ap-b.key
</VirtualHost>
<VirtualHost *:$PA>
    ServerName expired.example.test
    SSLEngine on
    SSLCertificateFile $K/expired.pem
    SSLCertificateKeyFile $F/expired.key
</VirtualHost>
<VirtualHost *:$PA>
    ServerName self.example.test
    SSLEngine on
    SSLCertificateFile $F/selfsigned.crt
    SSLCertificateKeyFile $F/selfsigned.key
</VirtualHost>
<VirtualHost *:$PAH>
    ServerName plain.example.test
</VirtualHost>
# configured, but there is no Listen for this port
<VirtualHost 127.0.0.1:$PAC>
    ServerName closed.example.test
    SSLEngine on
    SSLCertificateFile $K/ap-b.pem
    SSLCertificateKeyFile $K/ap-b.key
</VirtualHost>
EOF
cat > "$T/apachectl" <<EOF
#!/bin/sh
[ "\$1" = configtest ] && set -- -t
exec /usr/sbin/apache2 -d "$R" -f "$R/apache2.conf" "\$@"
EOF
chmod 755 "$T/apachectl"
expect_ok "apache starts" "$T/apachectl" -k start
for _ in $(seq 50); do [ -s "$R/run/apache2.pid" ] && break; sleep 0.1; done
[ -s "$R/run/apache2.pid" ] && ok || fail "apache start: $(cat "$T/err") $(tail -3 "$R/logs/error.log" 2> /dev/null)"

add_ep web2 apache --apachectl_path "$T/apachectl"
discover web2 "$T/a0.json"
nodes_are "apache: nodes before any install" "$T/a0.json" <<EOF
a.example.test|www.a.example.test|HTTPS|*|$PA|serving|External|-|-
www.a.example.test|a.example.test|HTTPS|*|$PA|serving|External|-|-
b.example.test|-|HTTPS|*|$PA|serving|External|-|-
expired.example.test|-|HTTPS|*|$PA|serving|External|expired|-
self.example.test|-|HTTPS|*|$PA|serving|External|self-signed|-
plain.example.test|-|HTTP|*|$PAH|serving|-|-|-
closed.example.test|-|HTTPS|127.0.0.1|$PAC|unreachable|-|-|-
EOF
pyck "apache: vendor, source, SNI" "$T/a0.json" \
  'd["nodes"][0]["vendor"] == "Apache" and d["nodes"][0]["source"] == a[0] + "/sites-enabled/a.conf:1" and d["nodes"][1]["sni"] == "www.a.example.test" and d["nodes"][1]["fingerprint"] == a[1]' \
  "$R" "$(fp_of "$K/ap-a0.crt")"
expect_ok "apache: install A1" cg tls install web2 --cert "$K/ap-a1.crt" --key "$K/ap-a1.key" --chain "$F/int.crt"
logit apache install
wait_served "$PA" a.example.test "$K/ap-a1.crt"
wait_served "$PA" www.a.example.test "$K/ap-a1.crt"
discover web2 "$T/a1.json"
nodes_are "apache: after the install" "$T/a1.json" <<EOF
a.example.test|www.a.example.test|HTTPS|*|$PA|serving|$ID_ap_a1|-|-
www.a.example.test|a.example.test|HTTPS|*|$PA|serving|$ID_ap_a1|-|-
b.example.test|-|HTTPS|*|$PA|serving|External|-|-
expired.example.test|-|HTTPS|*|$PA|serving|External|expired|-
self.example.test|-|HTTPS|*|$PA|serving|External|self-signed|-
plain.example.test|-|HTTP|*|$PAH|serving|-|-|-
closed.example.test|-|HTTPS|127.0.0.1|$PAC|unreachable|-|-|-
EOF
# drift: the vhost is pointed back at its old files behind Certo's back
sed -i "s|SSLCertificateFile .*|SSLCertificateFile $K/ap-a0.pem|; s|SSLCertificateKeyFile .*|SSLCertificateKeyFile $K/ap-a0.key|" \
  "$R/sites-enabled/a.conf"
expect_ok "apache: graceful behind Certo's back" "$T/apachectl" -k graceful
wait_served "$PA" a.example.test "$K/ap-a0.crt"
wait_served "$PA" www.a.example.test "$K/ap-a0.crt"
discover web2 "$T/a2.json"
nodes_are "apache: drift after the vhost was changed" "$T/a2.json" <<EOF
a.example.test|www.a.example.test|HTTPS|*|$PA|serving|External|-|drift
www.a.example.test|a.example.test|HTTPS|*|$PA|serving|External|-|drift
b.example.test|-|HTTPS|*|$PA|serving|External|-|-
expired.example.test|-|HTTPS|*|$PA|serving|External|expired|-
self.example.test|-|HTTPS|*|$PA|serving|External|self-signed|-
plain.example.test|-|HTTP|*|$PAH|serving|-|-|-
closed.example.test|-|HTTPS|127.0.0.1|$PAC|unreachable|-|-|-
EOF
expect_ok "apache: tls nodes" cg tls nodes web2
expect_grep "apache: drift heading" "^www\.a\.example\.test - Apache - serving, drift: serves $ID_ap_a0, Certo installed $ID_ap_a1$" "$T/out"

# ==== Tomcat 10 ====
mkdir -p "$B"/{bin,conf,lib,logs,temp,webapps,work}
cp -a /etc/tomcat10/. "$B/conf/"
mkdir -p "$B/conf/tls"
printf 'JAVA_HOME=%s\n' "$JH" > "$B/bin/setenv.sh"
cp "$K/tc-a0.crt" "$B/conf/tls/a.crt"; cp "$K/tc-a0.key" "$B/conf/tls/a.key"
kt -genkeypair -keystore "$B/conf/tls/jks.jks" -storetype JKS -storepass changeit -keypass changeit \
  -alias tomcat -keyalg EC -groupname secp256r1 -dname CN=jks.tc.test -validity 30 >> "$LOG" 2>&1
cat > "$B/conf/server.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<Server port="-1" shutdown="SHUTDOWN">
  <Service name="Catalina">
    <Connector port="$PTH" address="127.0.0.1" protocol="HTTP/1.1"/>
    <Connector port="$PT" address="127.0.0.1" protocol="org.apache.coyote.http11.Http11NioProtocol"
               SSLEnabled="true">
      <SSLHostConfig hostName="a.tc.test">
        <Certificate certificateFile="conf/tls/a.crt" certificateKeyFile="conf/tls/a.key"
                     certificateChainFile="$F/int.crt"/>
      </SSLHostConfig>
      <SSLHostConfig hostName="*.w.tc.test">
        <Certificate certificateFile="$K/tc-w.pem" certificateKeyFile="$K/tc-w.key"/>
      </SSLHostConfig>
      <SSLHostConfig hostName="expired.example.test">
        <Certificate certificateFile="$K/expired.pem" certificateKeyFile="$F/expired.key"/>
      </SSLHostConfig>
      <SSLHostConfig>
        <Certificate certificateFile="$F/selfsigned.crt" certificateKeyFile="$F/selfsigned.key"/>
      </SSLHostConfig>
    </Connector>
    <Connector port="$PTK" address="127.0.0.1" protocol="org.apache.coyote.http11.Http11NioProtocol"
               SSLEnabled="true" defaultSSLHostConfigName="jks.tc.test">
      <SSLHostConfig hostName="jks.tc.test">
        <Certificate certificateKeystoreFile="conf/tls/jks.jks" certificateKeystorePassword="changeit"
                     certificateKeystoreType="JKS" certificateKeyAlias="tomcat"/>
      </SSLHostConfig>
    </Connector>
    <Connector port="$PTA" protocol="AJP/1.3" address="127.0.0.1" secretRequired="false"/>
    <Engine name="Catalina" defaultHost="localhost">
      <Host name="localhost" appBase="webapps" unpackWARs="false" autoDeploy="false"/>
    </Engine>
  </Service>
</Server>
EOF
env -i PATH=/usr/bin:/bin CATALINA_BASE="$B" CATALINA_HOME="$HOME_TC" CATALINA_PID="$B/temp/certo-tomcat.pid" \
  "$HOME_TC/bin/catalina.sh" start > "$T/start.log" 2>&1 || fail "catalina.sh start: $(cat "$T/start.log")"
for _ in $(seq 120); do
  openssl s_client -connect "127.0.0.1:$PTK" -servername jks.tc.test < /dev/null > /dev/null 2>&1 &&
    openssl s_client -connect "127.0.0.1:$PT" -servername a.tc.test < /dev/null > /dev/null 2>&1 && break
  sleep 0.5
done

add_ep app tomcat --tomcat_dir "$B"
expect_ok "tomcat: install on a.tc.test" cg tls install app --cert "$K/tc-a1.crt" --key "$K/tc-a1.key" --chain "$F/int.crt"
logit tomcat install
discover app "$T/t1.json"
nodes_are "tomcat: nodes" "$T/t1.json" <<EOF
127.0.0.1:$PTH|-|HTTP|127.0.0.1|$PTH|serving|-|-|-
a.tc.test|-|HTTPS|127.0.0.1|$PT|serving|$ID_tc_a1|-|-
*.w.tc.test|-|HTTPS|127.0.0.1|$PT|serving|External|-|-
expired.example.test|-|HTTPS|127.0.0.1|$PT|serving|External|expired|-
_default_|-|HTTPS|127.0.0.1|$PT|serving|External|self-signed|-
jks.tc.test|tomcat|HTTPS|127.0.0.1|$PTK|serving|External|self-signed|-
EOF
pyck "tomcat: SNI and sources" "$T/t1.json" \
  '[n["sni"] for n in d["nodes"]] == [None, "a.tc.test", "certo-discover.w.tc.test", "expired.example.test", None, "jks.tc.test"] and d["nodes"][1]["source"] == a[0] + "/conf/server.xml:8" and d["nodes"][0]["vendor"] == "Tomcat" and d["nodes"][1]["installed"] is not None' "$B"
expect_ok "tomcat: tls nodes" cg tls nodes app
expect_grep "tomcat: nameless HTTP connector" "^127\.0\.0\.1:$PTH - Tomcat - serving$" "$T/out"

# ==== keystores ====
cp "$F/keytool.p12" "$T/ks.p12"; cp "$F/keytool.jks" "$T/ks.jks"; cp "$F/combined-ec256.pem" "$T/ks.pem"
add_ep p12 p12 --path "$T/ks.p12" --store_password_file "$T/pw"
add_ep jks jks --path "$T/ks.jks" --store_password_file "$T/pw"
add_ep pem pem --path "$T/ks.pem"
expect_ok "p12: install" cg tls install p12 --cert "$F/leaf-rsa3072.crt" --key "$F/leaf-rsa3072.key" --chain "$F/chain.pem" --alias site
discover p12 "$T/k1.json"
nodes_are "p12: entries" "$T/k1.json" <<EOF
www|www|-|-|-|stored|External|-|-
generated|generated|-|-|-|stored|External|self-signed|-
rootca|rootca|-|-|-|stored|External|-|-
site|site|-|-|-|stored|$ID_other|-|-
EOF
pyck "p12: vendor and source" "$T/k1.json" 'all(n["vendor"] == "PKCS#12" and n["source"] == a[0] and n["sni"] is None for n in d["nodes"])' "$T/ks.p12"
# drift: the entry is replaced without the gateway
expect_ok "p12: put behind Certo's back" "$C" keystore put "$T/ks.p12" --alias site --cert "$K/ngx-a2.crt" --key "$K/ngx-a2.key" --chain "$F/int.crt" --password-file "$T/pw"
discover p12 "$T/k2.json"
nodes_are "p12: drift" "$T/k2.json" <<EOF
www|www|-|-|-|stored|External|-|-
generated|generated|-|-|-|stored|External|self-signed|-
rootca|rootca|-|-|-|stored|External|-|-
site|site|-|-|-|stored|External|-|drift
EOF
expect_ok "p12: tls nodes" cg tls nodes p12
expect_grep "p12: drift heading" "^site - PKCS#12 - stored, drift: holds $ID_ngx_a2, Certo installed $ID_other$" "$T/out"
discover jks "$T/k3.json"
nodes_are "jks: entries" "$T/k3.json" <<EOF
rootca|rootca|-|-|-|stored|External|-|-
generated|generated|-|-|-|stored|External|self-signed|-
www|www|-|-|-|stored|External|-|-
EOF
pyck "jks: vendor" "$T/k3.json" 'all(n["vendor"] == "JKS" for n in d["nodes"])'
discover pem "$T/k4.json"
nodes_are "pem: entries" "$T/k4.json" <<EOF
ec256.example.test|ec256.example.test|-|-|-|stored|External|-|-
EOF
pyck "pem: vendor, chain problems" "$T/k4.json" 'd["nodes"][0]["vendor"] == "PEM" and d["nodes"][0]["subject"] == "CN=ec256.example.test"'

# ==== never discovered, bad input ====
add_ep fresh pem --path "$T/ks.pem"
expect_ok "never discovered" cg tls nodes fresh
[ "$(cat "$T/out")" = "Endpoint 'fresh' has not been discovered yet: run 'certo tls discover fresh'." ] && ok ||
  fail "never discovered: '$(cat "$T/out")'"
expect_ok "never discovered, JSON" cg tls nodes fresh --json
pyck "never discovered, JSON" "$T/out" 'd["discovered_at"] is None and d["nodes"] == [] and d["endpoint"] == "fresh"'
expect_fail "unknown endpoint" 2 "^certo tls nodes: .*nosuch" cg tls nodes nosuch
expect_fail "discover: unknown endpoint" 2 "^certo tls discover: .*nosuch" cg tls discover nosuch
expect_fail "timeout not a number" 2 "^certo tls discover: --timeout: 'soon' is not an integer from 100 to 60000$" cg tls discover web --timeout soon
expect_fail "timeout too small" 2 "^certo tls discover: --timeout: '5' is not an integer from 100 to 60000$" cg tls discover web --timeout 5
expect_fail "unknown option" 2 "--bogus" cg tls nodes web --bogus
expect_fail "no endpoint given" 2 "." cg tls nodes
expect_fail "nodes takes no --timeout" 2 "--timeout" cg tls nodes web --timeout 1000
expect_ok "help" "$C" tls discover --help
expect_grep "help: --timeout" "--timeout MS" "$T/out"
expect_ok "add f5" cg tls add f5 --name lb --connection_type rest --host 127.0.0.1 --user admin --password x
expect_fail "f5: not available" 2 "^certo tls discover: discovering the nodes of f5 endpoints is not available yet$" cg tls discover lb

done_all
