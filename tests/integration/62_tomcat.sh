#!/usr/bin/env bash
# certo tls install|rollback|restart on a real Tomcat 10 (Debian's tomcat10 package) run as
# its own instance: a CATALINA_BASE in $T with three TLS connectors on loopback ports: a
# JKS keystore (SSLHostConfig jks.test), PEM files (SSLHostConfig pem.test) and a _default_
# one that shares the PEM files and must never change. Install on the JKS connector and on
# the PEM one (new files + a server.xml attribute edit), each verified over TLS with SNI;
# dry runs; key mismatch refused with nothing changed; a restart that fails after the swap
# ends with every file byte-identical and the old certificate served; rollback; restart.
# Tomcat is started by pid and stopped by that pid on exit.
source "$(dirname "$0")/lib.bash"
source "$(dirname "$0")/data/install/common.bash"

HOME_TC=/usr/share/tomcat10
if [ ! -x "$HOME_TC/bin/catalina.sh" ]; then echo "SKIP: tomcat10 is not installed"; exit 77; fi
for j in /usr/lib/jvm/default-java /usr/lib/jvm/java-17-openjdk-amd64; do
  [ -x "$j/bin/java" ] && { JH=$j; break; }
done
: "${JH:?no JDK in /usr/lib/jvm}"

B=$T/base
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
P1=$(free_port); P2=$(free_port); P3=$(free_port)

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

mkdir -p "$B"/{conf/tls,logs,temp,webapps,work}
for f in catalina.properties context.xml logging.properties web.xml; do
  if [ -r "/etc/tomcat10/$f" ]; then cp "/etc/tomcat10/$f" "$B/conf/"; fi
done
printf 'JAVA_HOME=%s\n' "$JH" > "$T/setenv"
mkdir -p "$B/bin"; cp "$T/setenv" "$B/bin/setenv.sh"
kt -genkeypair -keystore "$B/conf/tls/jks.jks" -storetype JKS -storepass changeit -keypass changeit \
  -alias tomcat -keyalg RSA -keysize 2048 -dname CN=jks.test -validity 30 > /dev/null 2>&1
kt -importcert -noprompt -keystore "$B/conf/tls/jks.jks" -storepass changeit -alias rootca \
  -file "$F/ca.crt" > /dev/null 2>&1
cp "$T/other.crt" "$B/conf/tls/shared.crt"; cp "$T/other.key" "$B/conf/tls/shared.key"
cat > "$B/conf/server.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- Certo test instance: three TLS connectors; comments and layout must survive. -->
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

env -i PATH=/usr/bin:/bin CATALINA_BASE="$B" CATALINA_HOME="$HOME_TC" CATALINA_PID="$PIDF" \
  "$HOME_TC/bin/catalina.sh" start > "$T/start.log" 2>&1 || { cat "$T/start.log"; fail "catalina.sh start"; finish; }
wait_served "start: JKS connector" "$P1" jks.test "$JKS0"
wait_served "start: PEM connector" "$P2" pem.test "$FP_OTHER"
wait_served "start: default connector" "$P3" "" "$FP_OTHER"

ALL=("$B/conf/server.xml" "$B/conf/tls/jks.jks" "$B/conf/tls/shared.crt" "$B/conf/tls/shared.key")
add_ep tc tomcat --tomcat_dir "$B"
expect_ok "check" cg tls check tc; logit check
expect_grep "check: connectors" "server.xml: 3 connectors, 3 with TLS" "$T/out"
expect_grep "check: catalina.sh" "ok: $HOME_TC/bin/catalina.sh restarts Tomcat" "$T/out"

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
  expect_fail "$1" 1 'failed at step activate: .*start exited with status 1.*rolled back' \
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
grep -q changeit "$LOG" && fail "a keystore password appears in the output or history" || ok
finish
