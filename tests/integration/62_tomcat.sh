#!/usr/bin/env bash
# certo tls install|rollback|restart on a real Tomcat 10 (Debian's tomcat10 package) run as
# its own instance in a Debian layout (see "layout" below) with four TLS connectors on
# loopback ports: a JKS keystore (SSLHostConfig jks.test), PEM files (SSLHostConfig
# pem.test), a _default_ one that shares the PEM files and must never change, and one port
# with several sites told apart by SNI (a.test PKCS12, b.test PEM under etc/ssl, *.w.test,
# c.test, _default_). Install on the JKS connector and on the PEM one (new files + a
# server.xml attribute edit), each verified over TLS with SNI; dry runs; key mismatch refused
# with nothing changed; a restart that fails after the swap ends with every file
# byte-identical and the old certificate served; rollback; restart. Then on the SNI port:
# b.test only (the other sites keep bytes and served certificate), the wildcard *.w.test,
# the staged-file test failing, a keystore password that does not open the keystore, and a
# restart that does not take effect (verify fails). Tomcat is started by pid and stopped by
# that pid on exit; a JVM starts 8 times in all (the verify failure alone waits 60 s).
source "$(dirname "$0")/lib.bash"
source "$(dirname "$0")/data/install/common.bash"

HOME_TC=/usr/share/tomcat10
if [ ! -x "$HOME_TC/bin/catalina.sh" ]; then
  echo "tomcat10 is not installed ($HOME_TC/bin/catalina.sh); make check installs it" >&2
  exit 1
fi
for j in /usr/lib/jvm/default-java /usr/lib/jvm/java-17-openjdk-amd64; do
  [ -x "$j/bin/java" ] && { JH=$j; break; }
done
: "${JH:?no JDK in /usr/lib/jvm}"

# ---- layout: Debian's. CATALINA_HOME is the package's /usr/share/tomcat10 (binaries only);
# CATALINA_BASE is a separate var/lib/tomcat10 whose conf is a link to etc/tomcat10 (a copy
# of the package's /etc/tomcat10 as template, server.xml replaced), logs and work links into
# var/log and var/cache, as the package sets up /var/lib/tomcat10. No bin/catalina.sh in the
# base: certo finds /usr/share/tomcat10/bin/catalina.sh from the "tomcat10" in tomcat_dir.
# Tomcat has no include mechanism (server.xml is one file; XML entities need a DOCTYPE, which
# certo refuses): what is spread over several files here is the certificate material, in
# conf/tls, under ${catalina.base}, and in etc/ssl/{certs,private} outside CATALINA_BASE.
ETC=$T/etc/tomcat10
B=$T/var/lib/tomcat10
mkdir -p "$ETC" "$T/etc/ssl/certs" "$T/etc/ssl/private" "$T/var/log/tomcat10" "$T/var/cache/tomcat10" \
  "$B"/{bin,lib,temp,webapps}
cp -a /etc/tomcat10/. "$ETC/"
ln -s "$ETC" "$B/conf"; ln -s ../../log/tomcat10 "$B/logs"; ln -s ../../cache/tomcat10 "$B/work"
PIDF=$B/temp/certo-tomcat.pid
stop_tomcat() {
  local pid
  pid=$(cat "$PIDF" 2> /dev/null || true)
  if [ -n "$pid" ]; then kill "$pid" 2> /dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2> /dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2> /dev/null || true
  fi
}
trap 'stop_tomcat; cleanup' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P1=$(free_port); P2=$(free_port); P3=$(free_port); P4=$(free_port)

# ---- material: the fixture CA signs everything ----
mk() { # mk NAME CN ALG: NAME.key, NAME.crt (SAN DNS:CN), signed by tests/fixtures/ca
  local n=$1 cn=$2 alg=$3
  if [ "$alg" = rsa ]; then openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/$n.key" 2> /dev/null
  else openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/$n.key" 2> /dev/null; fi
  openssl req -new -key "$T/$n.key" -subj "/CN=$cn" -out "$T/$n.csr" 2> /dev/null
  printf 'subjectAltName=DNS:%s\nextendedKeyUsage=serverAuth\n' "$cn" > "$T/$n.ext"
  openssl x509 -req -in "$T/$n.csr" -CA "$F/ca.crt" -CAkey "$F/ca.key" -CAserial "$T/ca.srl" -CAcreateserial \
    -days 30 -extfile "$T/$n.ext" -out "$T/$n.crt" 2> /dev/null
}
mk jksA jks.test rsa; mk jksB jks.test rsa; mk pemA pem.test ec; mk other other.test ec
mk a0 a.test rsa; mk a1 a.test rsa; mk b0 b.test ec; mk b1 b.test ec; mk b2 b.test ec
mk w0 '*.w.test' ec; mk w1 '*.w.test' ec; mk c0 c.test ec; mk c1 c.test ec; mk d0 default.test ec

mkdir -p "$B/conf/tls"
printf 'JAVA_HOME=%s\n' "$JH" > "$T/setenv"
cp "$T/setenv" "$B/bin/setenv.sh"
kt -genkeypair -keystore "$B/conf/tls/jks.jks" -storetype JKS -storepass changeit -keypass changeit \
  -alias tomcat -keyalg RSA -keysize 2048 -dname CN=jks.test -validity 30 > /dev/null 2>&1
kt -importcert -noprompt -keystore "$B/conf/tls/jks.jks" -storepass changeit -alias rootca \
  -file "$F/ca.crt" > /dev/null 2>&1
cp "$T/other.crt" "$B/conf/tls/shared.crt"; cp "$T/other.key" "$B/conf/tls/shared.key"
# The SNI port: a.test in a PKCS12 store; b.test under etc/ssl (key 0640, as ssl-cert has
# it); *.w.test with a chain file; c.test, whose c.pem holds certificate and key and is
# shared with c.test of the _default_ connector, which reads the key from c.key; _default_.
openssl pkcs12 -export -name a -in "$T/a0.crt" -inkey "$T/a0.key" -passout pass:changeit \
  -out "$B/conf/tls/a.p12"
cat "$T/b0.crt" "$F/ca.crt" > "$T/etc/ssl/certs/b.test.pem"
install -m 640 "$T/b0.key" "$T/etc/ssl/private/b.test.key"
cp "$T/w0.crt" "$B/conf/tls/w.crt"; cp "$T/w0.key" "$B/conf/tls/w.key"; cp "$F/ca.crt" "$B/conf/tls/w-chain.crt"
cat "$T/c0.crt" "$T/c0.key" > "$B/conf/tls/c.pem"; cp "$T/c0.key" "$B/conf/tls/c.key"
cp "$T/d0.crt" "$B/conf/tls/d.crt"; cp "$T/d0.key" "$B/conf/tls/d.key"
cat > "$B/conf/server.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- Certo test instance: four TLS connectors; comments and layout must survive. -->
<Server port="-1" shutdown="SHUTDOWN">
  <Service name="Catalina">
    <Connector port="$P1" address="127.0.0.1" protocol="org.apache.coyote.http11.Http11NioProtocol"
               SSLEnabled="true" defaultSSLHostConfigName="jks.test">
      <SSLHostConfig hostName="jks.test">
        <Certificate certificateKeystoreFile="conf/tls/jks.jks"
                     certificateKeystorePassword="changeit"
                     certificateKeystoreType="JKS"   certificateKeyAlias="tomcat" type="RSA" />
      </SSLHostConfig>
    </Connector>
    <Connector port='$P2' address='127.0.0.1' protocol='org.apache.coyote.http11.Http11NioProtocol'
               SSLEnabled='true' defaultSSLHostConfigName='pem.test'>
      <SSLHostConfig hostName="pem.test">
        <Certificate certificateFile="\${catalina.base}/conf/tls/shared.crt" certificateKeyFile="conf/tls/shared.key" type="EC"/>
      </SSLHostConfig>
    </Connector>
    <Connector port="$P3" address="127.0.0.1" protocol="org.apache.coyote.http11.Http11NioProtocol"
               SSLEnabled="true">
      <SSLHostConfig>
        <Certificate certificateFile="conf/tls/shared.crt" certificateKeyFile="conf/tls/shared.key" type="EC"/>
      </SSLHostConfig>
      <SSLHostConfig hostName="c.test">
        <Certificate certificateFile="conf/tls/c.pem" certificateKeyFile="conf/tls/c.key" type="EC"/>
      </SSLHostConfig>
    </Connector>
    <!-- several sites on one port, told apart by SNI -->
    <Connector port="$P4" address="127.0.0.1" protocol="org.apache.coyote.http11.Http11NioProtocol"
               SSLEnabled="true">
      <SSLHostConfig hostName="a.test">
        <Certificate certificateKeystoreFile="\${catalina.base}/conf/tls/a.p12" certificateKeystorePassword="changeit"
                     certificateKeystoreType="PKCS12" certificateKeyAlias="a" type="RSA"/>
      </SSLHostConfig>
      <SSLHostConfig hostName="b.test">
        <Certificate certificateFile="$T/etc/ssl/certs/b.test.pem"
                     certificateKeyFile="$T/etc/ssl/private/b.test.key" type="EC"/>
      </SSLHostConfig>
      <SSLHostConfig hostName="*.w.test">
        <Certificate certificateFile="conf/tls/w.crt" certificateKeyFile="conf/tls/w.key"
                     certificateChainFile="conf/tls/w-chain.crt"/>
      </SSLHostConfig>
      <SSLHostConfig hostName="c.test">
        <Certificate certificateFile="conf/tls/c.pem" type="EC"/>
      </SSLHostConfig>
      <SSLHostConfig>
        <Certificate certificateFile="conf/tls/d.crt" certificateKeyFile="conf/tls/d.key" type="EC"/>
      </SSLHostConfig>
    </Connector>
    <Engine name="Catalina" defaultHost="localhost">
      <Host name="localhost" appBase="webapps" unpackWARs="false" autoDeploy="false"/>
    </Engine>
  </Service>
</Server>
EOF
cp "$B/conf/server.xml" "$T/server.xml.0"

# served PORT [SNI]: the fingerprint of the leaf served (empty when nothing answers).
served() {
  local sni=(-noservername); [ -n "${2:-}" ] && sni=(-servername "$2")
  openssl s_client -connect "127.0.0.1:$1" "${sni[@]}" < /dev/null 2> /dev/null |
    openssl x509 -noout -fingerprint -sha256 2> /dev/null | sed 's/^[^=]*=//' || true
}
# wait_served DESC PORT SNI FP: within 60 s the port serves FP for SNI.
wait_served() {
  local got=
  for _ in $(seq 120); do got=$(served "$2" "$3"); [ "$got" = "$4" ] && break; sleep 0.5; done
  [ "$got" = "$4" ] && ok || fail "$1: 127.0.0.1:$2 (SNI ${3:-none}) serves '${got}', want $4"
}

JKS0=$(kt -exportcert -rfc -keystore "$B/conf/tls/jks.jks" -storepass changeit -alias tomcat 2> /dev/null |
  openssl x509 -noout -fingerprint -sha256 | sed 's/^[^=]*=//')
FP_OTHER=$(fp_of "$T/other.crt"); FP_JKSA=$(fp_of "$T/jksA.crt"); FP_JKSB=$(fp_of "$T/jksB.crt")
FP_PEMA=$(fp_of "$T/pemA.crt")
FP_a0=$(fp_of "$T/a0.crt"); FP_b0=$(fp_of "$T/b0.crt"); FP_b1=$(fp_of "$T/b1.crt")
FP_w0=$(fp_of "$T/w0.crt"); FP_w1=$(fp_of "$T/w1.crt"); FP_c0=$(fp_of "$T/c0.crt"); FP_d0=$(fp_of "$T/d0.crt")

env -i PATH=/usr/bin:/bin CATALINA_BASE="$B" CATALINA_HOME="$HOME_TC" CATALINA_PID="$PIDF" \
  "$HOME_TC/bin/catalina.sh" start > "$T/start.log" 2>&1 || { cat "$T/start.log"; fail "catalina.sh start"; finish; }
wait_served "start: JKS connector" "$P1" jks.test "$JKS0"
wait_served "start: PEM connector" "$P2" pem.test "$FP_OTHER"
wait_served "start: default connector" "$P3" "" "$FP_OTHER"
wait_served "start: default connector, c.test" "$P3" c.test "$FP_c0"
for sv in a.test:$FP_a0 b.test:$FP_b0 x.w.test:$FP_w0 c.test:$FP_c0 :$FP_d0 unknown.test:$FP_d0; do
  wait_served "start: SNI port" "$P4" "${sv%%:*}" "${sv#*:}"
done

ALL=("$B/conf/server.xml" "$B/conf/tls/jks.jks" "$B/conf/tls/shared.crt" "$B/conf/tls/shared.key")
add_ep tc tomcat --tomcat_dir "$B"
expect_ok "check" cg tls check tc; logit check
expect_grep "check: connectors" "server.xml: 4 connectors, 4 with TLS" "$T/out"
expect_grep "check: Debian's catalina.sh and CATALINA_HOME" "ok: $HOME_TC/bin/catalina.sh restarts Tomcat \(CATALINA_HOME $HOME_TC, CATALINA_PID $(re_esc "$B")/temp/" "$T/out"

# ---- 1. JKS: dry run, install, verify ----
fsnap "$T/s0" "${ALL[@]}"
expect_ok "jks dry run" cg tls install tc --cert "$T/jksA.crt" --key "$T/jksA.key" --chain "$F/ca.crt" --dry-run; logit
expect_grep "jks dry run: the keystore entry" "tomcat $(re_esc "$B")/conf/tls/jks.jks: jks entry 'tomcat' replaced \(connector port $P1, host jks.test; server.xml line 8\)" "$T/out"
fsnap "$T/s1" "${ALL[@]}"; same_state "jks dry run changes nothing" "$T/s0" "$T/s1"
expect_ok "jks install" cg tls install tc --cert "$T/jksA.crt" --key "$T/jksA.key" --chain "$F/ca.crt"; logit
expect_grep "jks install: done" "^Installed 'tomcat' on endpoint 'tc'" "$T/out"
wait_served "jks install: new certificate served" "$P1" jks.test "$FP_JKSA"
wait_served "jks install: default connector untouched" "$P3" "" "$FP_OTHER"
kt -list -v -keystore "$B/conf/tls/jks.jks" -storepass changeit > "$T/kt.txt" 2>&1
expect_grep "jks install: still JKS" '^Keystore type: JKS$' "$T/kt.txt"
expect_grep "jks install: rootca kept" '^Alias name: rootca$' "$T/kt.txt"
same_bytes "jks install: server.xml untouched" "$T/server.xml.0" "$B/conf/server.xml"
same_bytes "jks install: shared.crt untouched" "$T/other.crt" "$B/conf/tls/shared.crt"
no_temp_files "$B/conf/tls"

# ---- 2. PEM shared with the default connector: new files, one attribute edit ----
expect_ok "pem dry run" cg tls install tc --cert "$T/pemA.crt" --key "$T/pemA.key" --chain "$F/ca.crt" --dry-run; logit
expect_grep "pem dry run: diff header" '^  server\.xml line 16:$' "$T/out"
expect_grep "pem dry run: old line" '^  - +<Certificate certificateFile="\$\{catalina\.base\}/conf/tls/shared\.crt" certificateKeyFile="conf/tls/shared\.key" type="EC"/>$' "$T/out"
expect_grep "pem dry run: new line" "^  \+ +<Certificate certificateFile=\"$(re_esc "$B")/conf/tls/certo-pem\.test\.crt\" certificateKeyFile=\"conf/tls/certo-pem\.test\.key\" type=\"EC\"/>$" "$T/out"
same_bytes "pem dry run: server.xml unchanged" "$T/server.xml.0" "$B/conf/server.xml"
expect_ok "pem install" cg tls install tc --cert "$T/pemA.crt" --key "$T/pemA.key" --chain "$F/ca.crt"; logit
wait_served "pem install: new certificate served" "$P2" pem.test "$FP_PEMA"
wait_served "pem install: default connector still the old one" "$P3" "" "$FP_OTHER"
wait_served "pem install: jks connector keeps its certificate" "$P1" jks.test "$FP_JKSA"
same_bytes "pem install: shared.crt untouched" "$T/other.crt" "$B/conf/tls/shared.crt"
same_bytes "pem install: shared.key untouched" "$T/other.key" "$B/conf/tls/shared.key"
mode_owner "pem install: new key file mode" "$B/conf/tls/certo-pem.test.key" 600 "$(id -u):$(id -g)"
key_matches "pem install: new key matches" "$B/conf/tls/certo-pem.test.key" "$B/conf/tls/certo-pem.test.crt"
# server.xml: exactly the two attribute values differ, every other byte is the same.
python3 - "$T/server.xml.0" "$B/conf/server.xml" "$B" <<'PY' 2> "$T/pyerr" && ok || fail "pem install: server.xml bytes: $(tail -1 "$T/pyerr")"
import sys
old, new, b = open(sys.argv[1]).read(), open(sys.argv[2]).read(), sys.argv[3]
want = old.replace('certificateFile="${catalina.base}/conf/tls/shared.crt" certificateKeyFile="conf/tls/shared.key"',
                   'certificateFile="%s/conf/tls/certo-pem.test.crt" certificateKeyFile="conf/tls/certo-pem.test.key"' % b, 1)
assert want != old and new == want, "server.xml differs beyond the two values"
PY
cp -p "$B/conf/server.xml" "$T/server.xml.1"
ALL+=("$B/conf/tls/certo-pem.test.crt" "$B/conf/tls/certo-pem.test.key")

# ---- 3. refused before anything changes ----
fsnap "$T/r0" "${ALL[@]}"; hist_json tc "$T/h0"
expect_fail "key mismatch" 2 'does not match' cg tls install tc --cert "$T/jksB.crt" --key "$T/pemA.key"; logit
fsnap "$T/r1" "${ALL[@]}"; same_state "key mismatch changes nothing" "$T/r0" "$T/r1"

# ---- 4. the restart fails after the swap: rolled back, old certificate served ----
cat > "$B/bin/catalina.sh" <<EOF
#!/bin/sh
# Test wrapper: the first "start" after $T/fail-once appears fails; everything else is Debian's.
if [ "\$1" = start ] && [ -e "$T/fail-once" ]; then rm -f "$T/fail-once"; echo "start refused by the test"; exit 1; fi
CATALINA_HOME=$HOME_TC; export CATALINA_HOME
exec $HOME_TC/bin/catalina.sh "\$@"
EOF
chmod 755 "$B/bin/catalina.sh"; : > "$T/fail-once"
failed_txn_tc() {
  fsnap "$T/f0" "${ALL[@]}"; hist_json tc "$T/fh0"
  expect_fail "$1" 1 \
    "^certo tls install: failed at step activate: $(re_esc "$B")/bin/catalina\.sh start exited with status 1; the endpoint was rolled back$" \
    cg tls install tc --cert "$T/jksB.crt" --key "$T/jksB.key" --chain "$F/ca.crt"; logit "$1"
  fsnap "$T/f1" "${ALL[@]}"; same_state "$1: files byte-identical" "$T/f0" "$T/f1"
  no_temp_files "$B/conf/tls"; no_temp_files "$B/conf"
  hist_json tc "$T/fh1"
  pyck "$1: history" "$T/fh1" 'd[0]["outcome"] == "failed" and d[0]["step"] == "activate" and "start refused by the test" in d[0].get("output", "")'
}
failed_txn_tc "restart fails"
[ -e "$T/fail-once" ] && fail "the failing start did not run" || ok
wait_served "restart fails: old JKS certificate served" "$P1" jks.test "$FP_JKSA"
wait_served "restart fails: PEM connector as before" "$P2" pem.test "$FP_PEMA"
rm -f "$B/bin/catalina.sh"

# ---- 5. rollback (undoes the PEM install), restart ----
expect_ok "rollback" cg tls rollback tc; logit rollback
same_bytes "rollback: server.xml as at the start" "$T/server.xml.0" "$B/conf/server.xml"
[ -e "$B/conf/tls/certo-pem.test.crt" ] && fail "rollback: new file left" || ok
wait_served "rollback: PEM connector serves the old certificate" "$P2" pem.test "$FP_OTHER"
wait_served "rollback: JKS connector unchanged" "$P1" jks.test "$FP_JKSA"
expect_ok "restart" cg tls restart tc; logit restart
wait_served "restart: JKS connector" "$P1" jks.test "$FP_JKSA"
wait_served "restart: default connector" "$P3" "" "$FP_OTHER"
hist_json tc "$T/h"
pyck "history" "$T/h" '[h["kind"] for h in d][:5] == ["restart", "rollback", "install", "install", "install"]'
# ---- 6. several sites on one port (SNI): b.test only ----
# treesum OUT: every name, type, mode and size under etc/ (conf = etc/tomcat10, and etc/ssl)
# and the sha256 of every file: a byte, a mode or a left-over file anywhere shows up.
treesum() {
  (cd "$T/etc" && find . -printf '%p %y %m %s\n' | sort && find . -type f -print0 | sort -z | xargs -0 sha256sum) > "$1"
}
BP=$T/etc/ssl/certs/b.test.pem BK=$T/etc/ssl/private/b.test.key
LB=$(grep -n 'b\.test\.pem' "$B/conf/server.xml" | cut -d: -f1)
cp -p "$B/conf/server.xml" "$T/server.xml.2"
for f in a.p12 d.crt d.key w.crt c.pem; do cp -p "$B/conf/tls/$f" "$T/keep.$f"; done
expect_ok "sni dry run" cg tls install tc --cert "$T/b1.crt" --key "$T/b1.key" --chain "$F/ca.crt" --dry-run; logit
expect_grep "sni dry run: b.test's certificate file" "^  tomcat $(re_esc "$BP"): certificate and chain \(connector port $P4, host b\.test; server\.xml line $LB\)$" "$T/out"
expect_grep "sni dry run: b.test's key file" "^  tomcat $(re_esc "$BK"): private key \(connector port $P4, host b\.test; server\.xml line $LB\)$" "$T/out"
[ "$(grep -c '^  tomcat ' "$T/out")" = 2 ] && ok || fail "sni dry run: other files planned: $(cat "$T/out")"
expect_ok "sni install b.test" cg tls install tc --cert "$T/b1.crt" --key "$T/b1.key" --chain "$F/ca.crt"; logit
wait_served "sni install: b.test serves the new certificate" "$P4" b.test "$FP_b1"
wait_served "sni install: a.test keeps its certificate" "$P4" a.test "$FP_a0"
wait_served "sni install: the default keeps its certificate" "$P4" "" "$FP_d0"
wait_served "sni install: an unknown name gets the default" "$P4" unknown.test "$FP_d0"
wait_served "sni install: *.w.test keeps its certificate" "$P4" x.w.test "$FP_w0"
for f in a.p12 d.crt d.key w.crt c.pem; do same_bytes "sni install: $f untouched" "$T/keep.$f" "$B/conf/tls/$f"; done
same_bytes "sni install: server.xml untouched" "$T/server.xml.2" "$B/conf/server.xml"
[ "$(fp_of "$BP")" = "$FP_b1" ] && ok || fail "sni install: $BP does not hold the new certificate"
key_matches "sni install: new key matches" "$BK" "$BP"
[ "$(grep -c 'BEGIN CERTIFICATE' "$BP")" = 2 ] && ok || fail "sni install: $BP is not certificate + chain"
mode_owner "sni install: the key file keeps its mode" "$BK" 640 "$(id -u):$(id -g)"
no_stage "$T/etc/ssl"

# ---- 7. wildcard: *.w.test (certificate, key and chain files) ----
expect_ok "wildcard install" cg tls install tc --cert "$T/w1.crt" --key "$T/w1.key" --chain "$F/ca.crt"; logit
expect_grep "wildcard install: done, alias wildcard.w.test" "^Installed 'wildcard\.w\.test' on endpoint 'tc'" "$T/out"
wait_served "wildcard install: x.w.test serves the new certificate" "$P4" x.w.test "$FP_w1"
wait_served "wildcard install: another name under it too" "$P4" other.w.test "$FP_w1"
wait_served "wildcard install: b.test keeps its new certificate" "$P4" b.test "$FP_b1"
wait_served "wildcard install: a.test keeps its certificate" "$P4" a.test "$FP_a0"
wait_served "wildcard install: the default keeps its certificate" "$P4" "" "$FP_d0"
n=$(openssl s_client -connect "127.0.0.1:$P4" -servername x.w.test -showcerts < /dev/null 2> /dev/null | grep -c 'BEGIN CERTIFICATE' || true)
[ "$n" = 2 ] && ok || fail "wildcard install: x.w.test serves $n certificates, want leaf + chain"
[ "$(grep -c 'BEGIN CERTIFICATE' "$B/conf/tls/w.crt")" = 1 ] && ok || fail "wildcard install: w.crt is not the leaf alone"
same_bytes "wildcard install: chain file" "$F/ca.crt" "$B/conf/tls/w-chain.crt"
key_matches "wildcard install: new key matches" "$B/conf/tls/w.key" "$B/conf/tls/w.crt"
same_bytes "wildcard install: server.xml untouched" "$T/server.xml.2" "$B/conf/server.xml"
for f in a.p12 d.crt d.key c.pem; do same_bytes "wildcard install: $f untouched" "$T/keep.$f" "$B/conf/tls/$f"; done

# failed_at DESC STEP EXIT REGEX CERT KEY: the install fails at STEP, nothing under etc/
# changes, the history's newest entry is a failed install at STEP.
failed_at() {
  local desc=$1 step=$2 code=$3 re=$4 crt=$5 key=$6
  treesum "$T/t0"; hist_json tc "$T/th0"
  expect_fail "$desc" "$code" "$re" cg tls install tc --cert "$crt" --key "$key" --chain "$F/ca.crt"; logit "$desc"
  treesum "$T/t1"; same_state "$desc: every file under etc/ byte-identical" "$T/t0" "$T/t1"
  hist_json tc "$T/th1"
  if [ "$step" = plan ]; then
    [ "$(hist_len "$T/th1")" = "$(hist_len "$T/th0")" ] && ok || fail "$desc: a history entry for a plan refusal"
  else
    pyck "$desc: history" "$T/th1" 'd[0]["kind"] == "install" and d[0]["outcome"] == "failed" and d[0]["step"] == a[0]' "$step"
  fi
}

# ---- 8. "configuration test fails" ----
# Tomcat has no configuration test (no nginx -t / apachectl -t; configtest.sh starts a JVM
# that only parses server.xml, not the certificates), so the connector's test step checks
# the staged files before the swap. From the outside it fails on a real configuration:
# c.pem is read by c.test on two ports, by one with its key from c.key, by the other with the
# key inside c.pem (Tomcat serves both, see "start"). The plan writes c.pem once, for the
# first Certificate (without the key), and the staged-file test finds no key for the second
# one: refused before the swap, nothing changes, no restart.
failed_at "test fails" test 1 'failed at step test: .*c\.pem.*rolled back' "$T/c1.crt" "$T/c1.key"
no_stage "$B/conf/tls"
wait_served "test fails: c.test on the SNI port still the old certificate" "$P4" c.test "$FP_c0"
wait_served "test fails: c.test on the default connector too" "$P3" c.test "$FP_c0"
# The nearest case a user meets: server.xml was edited (not yet restarted) and the keystore
# password there no longer opens the keystore: refused at plan, nothing written.
sed -i '/a\.p12/s/certificateKeystorePassword="changeit"/certificateKeystorePassword="not-the-password"/' "$B/conf/server.xml"
LA=$(grep -n 'a\.p12' "$B/conf/server.xml" | cut -d: -f1)
failed_at "wrong keystore password" plan 2 "the password in server\.xml line $LA does not open .*a\.p12" "$T/a1.crt" "$T/a1.key"
cp -p "$T/server.xml.2" "$B/conf/server.xml"
wait_served "wrong keystore password: a.test still the old certificate" "$P4" a.test "$FP_a0"

# ---- 9. the restart does not take effect: verify fails (60 s), rolled back ----
cat > "$B/bin/catalina.sh" <<EOF
#!/bin/sh
# Test wrapper: stop and start do nothing; Tomcat keeps serving what it loaded.
echo "catalina.sh \$1 ignored by the test"; exit 0
EOF
chmod 755 "$B/bin/catalina.sh"
failed_at "restart without effect" verify 1 'failed at step verify: .*rolled back' "$T/b2.crt" "$T/b2.key"
pyck "restart without effect: the wrapper ran" "$T/th1" '"ignored by the test" in d[0].get("output", "")'
rm -f "$B/bin/catalina.sh"
[ "$(fp_of "$BP")" = "$FP_b1" ] && ok || fail "restart without effect: $BP changed"
wait_served "restart without effect: b.test still the previous certificate" "$P4" b.test "$FP_b1"
wait_served "restart without effect: a.test" "$P4" a.test "$FP_a0"
wait_served "restart without effect: the default" "$P4" "" "$FP_d0"
hist_json tc "$T/h"
pyck "history of the SNI port" "$T/h" '[(h["kind"], h["outcome"], h.get("step")) for h in d][:4] == [("install", "failed", "verify"), ("install", "failed", "test"), ("install", "ok", None), ("install", "ok", None)]'
grep -q changeit "$LOG" && fail "a keystore password appears in the output or history" || ok
finish
