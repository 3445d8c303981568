#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# JKS interoperability with Java 17's keytool (REFERENCE.md 1.12): keytool lists and
# recovers every key type we write (RSA with a 3-certificate chain, EC, Ed25519), sees
# our trusted entries and non-ASCII aliases, still reads its own keystore after we added
# to it; and we read what keytool writes, including non-ASCII store passwords. keytool
# is always given -storepass: without it Java skips the digest check (REFERENCE.md 1.7).
# Needs: CERTO, CERTO_FIXTURES (CERTO_SRC unused); keytool and openssl on PATH.
source "$(dirname "$0")/lib.bash"
C=$CERTO
command -v keytool > /dev/null || { echo "FAIL: keytool (openjdk-17-jre-headless) missing" >&2; exit 1; }

ks=$T/out.jks

# key_matches DESC JKS STOREPASS ALIAS KEYFILE: keytool recovers the private key of ALIAS
# (KeyProtector + chain validation, REFERENCE.md 1.12) and it is the key of KEYFILE.
key_matches() {
  local desc=$1 jks=$2 sp=$3 alias=$4 keyf=$5
  rm -f "$T/x.p12"
  if ! kt -importkeystore -noprompt -srckeystore "$jks" -srcstoretype JKS -srcstorepass "$sp" \
      -srcalias "$alias" -srckeypass "$sp" -destkeystore "$T/x.p12" -deststoretype PKCS12 \
      -deststorepass changeit > "$T/kt.out" 2>&1; then
    fail "$desc: keytool -importkeystore: $(head -c 400 "$T/kt.out")"; return
  fi
  openssl pkcs12 -in "$T/x.p12" -passin pass:changeit -nodes -nocerts 2> /dev/null \
    | openssl pkey -pubout > "$T/got.pub" 2> /dev/null || true
  openssl pkey -in "$keyf" -pubout > "$T/want.pub"
  if [ -s "$T/got.pub" ] && cmp -s "$T/got.pub" "$T/want.pub"; then ok; else
    fail "$desc: the key keytool recovered is not $keyf"; fi
}

# kt_list DESC JKS STOREPASS [ALIAS]: keytool -list -v into $T/list (digest verified).
kt_list() {
  local desc=$1 jks=$2 sp=$3; shift 3
  local extra=()
  [ $# -gt 0 ] && extra=(-alias "$1")
  if kt -list -v -keystore "$jks" -storetype JKS -storepass "$sp" "${extra[@]}" \
      > "$T/list" 2>&1; then ok; else fail "$desc: keytool -list: $(head -c 400 "$T/list")"; fi
}

# ---- JKS we write, read by keytool ----
expect_ok "put RSA entry" $C keystore put "$ks" --type jks --alias web \
  --cert "$F/leaf-rsa2048.crt" --key "$F/leaf-rsa2048.key" --chain "$F/chain.pem" \
  --password-file "$T/pw"
kt_list "RSA entry" "$ks" changeit
expect_grep "keytool sees JKS" '^Keystore type: JKS' "$T/list"
expect_grep "keytool sees a key entry" '^Entry type: PrivateKeyEntry' "$T/list"
expect_grep "keytool sees the chain" '^Certificate chain length: 3' "$T/list"
expect_grep "keytool sees alias web" '^Alias name: web' "$T/list"
key_matches "RSA" "$ks" changeit web "$F/leaf-rsa2048.key"

expect_ok "put EC entry" $C keystore put "$ks" --type jks --alias ec \
  --cert "$F/leaf-ec256.crt" --key "$F/leaf-ec256.key" --chain "$F/int.crt" --password-file "$T/pw"
expect_ok "put Ed25519 entry" $C keystore put "$ks" --type jks --alias ed \
  --cert "$F/leaf-ed25519.crt" --key "$F/leaf-ed25519.key" --chain "$F/int.crt" \
  --password-file "$T/pw"
kt_list "EC entry" "$ks" changeit ec
expect_grep "EC chain" '^Certificate chain length: 2' "$T/list"
key_matches "EC" "$ks" changeit ec "$F/leaf-ec256.key"
key_matches "Ed25519" "$ks" changeit ed "$F/leaf-ed25519.key"
key_matches "RSA still there" "$ks" changeit web "$F/leaf-rsa2048.key"

expect_ok "put trusted entry" $C keystore put "$ks" --type jks --trusted --cert "$F/ca.crt" \
  --alias myca --password-file "$T/pw"
kt_list "trusted entry" "$ks" changeit myca
expect_grep "trusted entry kind" '^Entry type: trustedCertEntry' "$T/list"
kt -exportcert -rfc -alias myca -keystore "$ks" -storetype JKS -storepass changeit \
  > "$T/myca.pem" 2> /dev/null || true
if openssl x509 -in "$T/myca.pem" -noout -fingerprint -sha256 > "$T/a.fp" 2> /dev/null &&
  openssl x509 -in "$F/ca.crt" -noout -fingerprint -sha256 > "$T/b.fp" &&
  cmp -s "$T/a.fp" "$T/b.fp"; then ok; else fail "keytool -exportcert myca is not ca.crt"; fi

# A user-typed upper-case alias is stored lower case, so that Java can look it up
# (REFERENCE.md 1.8).
expect_ok "put upper-case alias" $C keystore put "$ks" --type jks --alias MixedCase \
  --trusted --cert "$F/int.crt" --password-file "$T/pw"
kt_list "lower-cased alias" "$ks" changeit mixedcase
expect_grep "lower-cased alias found" '^Alias name: mixedcase' "$T/list"

# Non-ASCII alias: modified UTF-8 with a surrogate pair (REFERENCE.md 1.2).
cafe='café-😀'
expect_ok "put non-ASCII alias" $C keystore put "$ks" --type jks --alias "$cafe" --trusted \
  --cert "$F/ca.crt" --password-file "$T/pw"
kt_list "all entries" "$ks" changeit
expect_grep "keytool lists 6 entries" '^Your keystore contains 6 entries' "$T/list"
expect_grep "keytool lists the non-ASCII alias" "^Alias name: $cafe\$" "$T/list"
if kt -exportcert -rfc -alias "$cafe" -keystore "$ks" -storetype JKS -storepass changeit \
    > "$T/cafe.pem" 2>&1 && grep -q 'BEGIN CERTIFICATE' "$T/cafe.pem"; then ok; else
  fail "keytool cannot resolve alias $cafe: $(head -c 300 "$T/cafe.pem")"; fi

# Wrong password: keytool refuses our file the way it refuses its own.
if kt -list -keystore "$ks" -storetype JKS -storepass wrong-password > "$T/list" 2>&1; then
  fail "keytool accepted a wrong store password"; else
  expect_grep "keytool: wrong password" 'password was incorrect' "$T/list"; fi

# ---- keytool's JKS, changed by us, read by keytool ----
cp "$F/keytool.jks" "$T/kt.jks"
chmod 0644 "$T/kt.jks"
expect_ok "list keytool fixture" $C keystore list "$T/kt.jks" --password-file "$T/pw" --json
python3 - "$T/out" << 'PY' && ok || fail "certo list of keytool.jks"
import json, sys
d = json.load(open(sys.argv[1]))
e = {x["alias"]: (x["kind"], x["chain_length"]) for x in d["entries"]}
assert d["type"] == "jks" and e == {"www": ("key", 3), "generated": ("key", 1),
                                    "rootca": ("trusted", 1)}, d
PY
expect_ok "put into keytool fixture" $C keystore put "$T/kt.jks" --alias added \
  --cert "$F/leaf-ec256.crt" --key "$F/leaf-ec256.key" --chain "$F/int.crt" \
  --password-file "$T/pw"
kt_list "keytool fixture after put" "$T/kt.jks" changeit
expect_grep "keytool lists all 4 entries" '^Your keystore contains 4 entries' "$T/list"
for a in www generated rootca added; do
  expect_grep "entry $a kept" "^Alias name: $a\$" "$T/list"
done
key_matches "keytool's own RSA key survives our rewrite" "$T/kt.jks" changeit www \
  "$F/leaf-rsa2048.key"
key_matches "our EC key in keytool's file" "$T/kt.jks" changeit added "$F/leaf-ec256.key"
if kt -importkeystore -noprompt -srckeystore "$T/kt.jks" -srcstoretype JKS -srcstorepass changeit \
    -srcalias generated -srckeypass changeit -destkeystore "$T/gen.p12" -deststoretype PKCS12 \
    -deststorepass changeit > "$T/kt.out" 2>&1; then ok; else
  fail "keytool-generated key lost: $(head -c 300 "$T/kt.out")"; fi

# ---- what keytool writes, read by us ----
# A non-ASCII store password exercises the UTF-16BE conversion on both sides
# (REFERENCE.md 1.6, 1.8).
upw='pässwörd€-😀'
printf '%s\n' "$upw" > "$T/upw"
if kt -genkeypair -alias uni -keyalg EC -groupname secp256r1 -dname CN=uni.example.test \
    -validity 30 -keystore "$T/uni.jks" -storetype JKS -storepass "$upw" -keypass "$upw" \
    > "$T/kt.out" 2>&1; then ok; else fail "keytool -genkeypair: $(head -c 300 "$T/kt.out")"; fi
expect_ok "read keytool JKS with non-ASCII password" $C keystore list "$T/uni.jks" \
  --password-file "$T/upw" --json
expect_grep "its key entry" '"alias":"uni"' "$T/out"
expect_fail "wrong password is EAUTH" 2 "wrong keystore password" \
  $C keystore list "$T/uni.jks" --password-file "$T/pw"
# And we write with that password what keytool reads back.
expect_ok "put with non-ASCII password" $C keystore put "$T/uni.jks" --alias web \
  --cert "$F/leaf-rsa2048.crt" --key "$F/leaf-rsa2048.key" --chain "$F/chain.pem" \
  --password-file "$T/upw"
key_matches "RSA with non-ASCII password" "$T/uni.jks" "$upw" web "$F/leaf-rsa2048.key"

# A key password different from the store password is reported as such.
kt -genkeypair -alias sep -keyalg EC -groupname secp256r1 -dname CN=sep.example.test \
  -validity 30 -keystore "$T/sep.jks" -storetype JKS -storepass changeit -keypass other-pass \
  > /dev/null 2>&1 || fail "keytool -genkeypair with a separate key password"
expect_fail "different key password" 2 "wrong key password for alias 'sep'" \
  $C keystore list "$T/sep.jks" --password-file "$T/pw"

# A truncated file is corrupt, not a wrong password.
head -c 1000 "$F/keytool.jks" > "$T/cut.jks"
expect_fail "truncated JKS" 2 "corrupt JKS" $C keystore list "$T/cut.jks" --password-file "$T/pw"

# JCEKS is recognised and refused.
if kt -genkeypair -alias j -keyalg EC -groupname secp256r1 -dname CN=j.example.test -validity 30 \
    -keystore "$T/x.jceks" -storetype JCEKS -storepass changeit -keypass changeit \
    > /dev/null 2>&1; then
  expect_fail "JCEKS refused" 2 "JCEKS keystores are not supported" \
    $C keystore list "$T/x.jceks" --type jks --password-file "$T/pw"
fi

no_temp_files "$T"
finish
