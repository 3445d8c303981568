#!/usr/bin/env bash
# certo cert keygen|csr|selfsign|sign|inspect|convert against openssl as the oracle:
# what we write, openssl reads and verifies; what openssl writes, we read; conversions
# are byte-identical to openssl's; bad input exits 2 with one line naming the problem and
# leaves no output file and no temporary file behind.
source "$(dirname "$0")/lib.bash"
C=$(cd "$(dirname "$CERTO")" && pwd)/$(basename "$CERTO") # we cd below
cd "$T"

# ---- keygen: every type loads in openssl pkey, keys are 0600 ----
for spec in rsa rsa:3072 ec ec:p384 p256 ed25519; do
  f=$T/key-${spec//:/-}.pem
  expect_ok "keygen $spec" $C cert keygen --type $spec --out "$f"
  expect_grep "keygen $spec: one line" '^wrote .* private key to ' "$T/out"
  [ "$(wc -l < "$T/out")" = 1 ] && ok || fail "keygen $spec: $(wc -l < "$T/out") lines"
  [ "$(stat -c %a "$f")" = 600 ] && ok || fail "keygen $spec: mode $(stat -c %a "$f")"
  openssl pkey -in "$f" -noout 2>/dev/null && ok || fail "keygen $spec: openssl pkey rejects it"
done
openssl pkey -in key-rsa-3072.pem -noout -text | grep -q '3072 bit' && ok || fail "rsa:3072 size"
openssl pkey -in key-ec-p384.pem -noout -text | grep -q 'NIST CURVE: P-384' && ok ||
  fail "ec:p384 curve"
expect_ok "keygen encrypted" $C cert keygen --type ec --out enc.pem --password-file "$T/pw"
grep -q 'BEGIN ENCRYPTED PRIVATE KEY' enc.pem && ok || fail "encrypted key is not PKCS#8"
openssl pkey -in enc.pem -passin file:"$T/pw" -noout 2>/dev/null && ok ||
  fail "openssl cannot decrypt our key"
openssl pkcs8 -in enc.pem -passin file:"$T/pw" -topk8 -nocrypt -out /dev/null 2>/dev/null &&
  ok || fail "pkcs8 decrypt"
openssl asn1parse -in enc.pem 2>/dev/null | grep -q 'aes-256-cbc' && ok || fail "not AES-256-CBC"
openssl asn1parse -in enc.pem 2>/dev/null | grep -q 'hmacWithSHA256' && ok ||
  fail "PRF is not hmacWithSHA256"

# ---- csr: openssl req -verify accepts it and shows the SANs ----
expect_ok "csr" $C cert csr --key key-rsa.pem --subject "CN=www.example.test,O=Certo Tests,C=DE" \
  --san www.example.test --san DNS:api.example.test --san IP:192.0.2.10 --san 2001:db8::5 \
  --san email:ops@example.test --san URI:https://example.test/ --out req.csr
openssl req -in req.csr -noout -verify > "$T/req.txt" 2>&1 && ok || fail "openssl req -verify"
openssl req -in req.csr -noout -text > "$T/req.txt"
for want in 'DNS:www.example.test' 'DNS:api.example.test' 'IP Address:192.0.2.10' \
  'IP Address:2001:DB8:0:0:0:0:0:5' 'email:ops@example.test' 'URI:https://example.test/' \
  'Subject: C ?= ?DE, O ?= ?Certo Tests, CN ?= ?www.example.test'; do
  expect_grep "csr shows $want" "$want" "$T/req.txt"
done
expect_ok "csr with encrypted key" $C cert csr --key enc.pem --key-password-file "$T/pw" \
  --subject "/CN=enc.example.test" --out enc.csr
openssl req -in enc.csr -noout -verify 2>/dev/null && ok || fail "csr of encrypted key"

# ---- our CA signs, openssl verifies ----
expect_ok "selfsign CA" $C cert selfsign --key key-ec-p384.pem --subject "CN=Certo IT Root,O=Certo" \
  --ca --days 3650 --out ca.pem
expect_ok "sign" $C cert sign --csr req.csr --ca-cert ca.pem --ca-key key-ec-p384.pem --days 30 \
  --out leaf.pem
openssl verify -CAfile ca.pem -purpose sslserver leaf.pem > "$T/v.txt" 2>&1 && ok ||
  fail "openssl verify: $(cat "$T/v.txt")"
openssl x509 -in leaf.pem -noout -text > "$T/x.txt"
for want in 'CA:FALSE' 'Digital Signature, Key Encipherment' \
  'TLS Web Server Authentication, TLS Web Client Authentication' \
  'X509v3 Subject Key Identifier' 'X509v3 Authority Key Identifier' \
  'DNS:www.example.test' 'IP Address:192.0.2.10' 'ecdsa-with-SHA384' \
  'Subject: C ?= ?DE, O ?= ?Certo Tests, CN ?= ?www.example.test'; do
  expect_grep "x509 -text shows $want" "$want" "$T/x.txt"
done
openssl x509 -in ca.pem -noout -text > "$T/ca.txt"
expect_grep "CA basicConstraints" 'CA:TRUE' "$T/ca.txt"
expect_grep "CA key usage" 'Certificate Sign, CRL Sign' "$T/ca.txt"
# The intermediate fixture signs too, and the chain verifies up to the fixture root.
expect_ok "sign with int" $C cert sign --csr req.csr --ca-cert "$F/int.crt" --ca-key "$F/int.key" \
  --out leaf2.pem --fullchain
openssl verify -CAfile "$F/ca.crt" -untrusted "$F/int.crt" leaf2.pem > /dev/null 2>&1 && ok ||
  fail "chain through int.crt"
[ "$(grep -c 'BEGIN CERTIFICATE' leaf2.pem)" = 2 ] && ok || fail "--fullchain"
# A self-signed leaf verifies against itself.
expect_ok "selfsign leaf" $C cert selfsign --key key-ed25519.pem --subject "CN=self.example.test" \
  --san self.example.test --out self.pem
openssl verify -CAfile self.pem -partial_chain self.pem > /dev/null 2>&1 && ok || fail "self-signed"

# ---- inspect: JSON parses, fingerprint equals openssl's ----
expect_ok "inspect json" $C cert inspect "$F/leaf-rsa2048.crt" "$F/leaf-rsa2048.key" --json
python3 -m json.tool "$T/out" > /dev/null && ok || fail "inspect --json is not JSON"
fp=$(openssl x509 -in "$F/leaf-rsa2048.crt" -noout -fingerprint -sha256 | cut -d= -f2)
python3 - "$T/out" "$fp" <<'PY' && ok || fail "inspect JSON content"
import json, sys
d = json.load(open(sys.argv[1]))
c = [o for o in d if o["kind"] == "certificate"][0]
k = [o for o in d if o["kind"] == "private_key"][0]
assert c["sha256_fingerprint"] == sys.argv[2], c
assert c["subject"] == "CN=www.example.test" and c["common_name"] == "www.example.test"
assert c["not_before"] == "2026-01-01T00:00:00Z" and c["key_type"] == "RSA"
assert {"type": "IP", "value": "127.0.0.1"} in c["sans"]
assert k["matches_certificate"] is True and k["key_bits"] == 2048
PY
expect_ok "inspect text" $C cert inspect "$F/fullchain-rsa2048.pem" "$F/expired.crt" \
  "$F/notyet.crt" "$F/leaf-ec256.key" "$F/leaf-ec256.csr"
for want in 'certificate 3 of 3' 'Subject: +CN=www.example.test' 'SHA-256: +59:E8' \
  '\(EXPIRED\)' '\(not yet valid\)' 'MATCHES NONE' 'certificate request' \
  'SANs: +DNS:www.example.test, DNS:example.test, IP:127.0.0.1, email:ops@example.test' \
  'Self-signed: +yes' 'CA: +yes'; do
  expect_grep "inspect shows $want" "$want" "$T/out"
done
expect_ok "inspect keystores" $C cert inspect "$F/keytool.p12" "$F/keytool.jks" "$F/openssl-legacy.p12" \
  --password-file "$T/pw" --json
python3 - "$T/out" <<'PY' && ok || fail "keystore entries in inspect"
import json, sys
d = json.load(open(sys.argv[1]))
aliases = {(o["file"].rsplit("/", 1)[1], o["alias"]) for o in d}
for want in [("keytool.p12", "www"), ("keytool.jks", "rootca"), ("openssl-legacy.p12", "ec256")]:
    assert want in aliases, aliases
PY

# ---- convert: byte-identical to openssl ----
expect_ok "cert pem->der" $C cert convert "$F/leaf-rsa2048.crt" --to der --out c.der
openssl x509 -in "$F/leaf-rsa2048.crt" -outform DER -out c-ossl.der
same_bytes "cert DER as openssl's" c.der c-ossl.der
expect_ok "cert der->pem" $C cert convert c.der --to pem --out c.pem
openssl x509 -in c.der -inform DER -out c-ossl.pem
same_bytes "cert PEM as openssl's" c.pem c-ossl.pem
same_bytes "cert round trip" c.pem "$F/leaf-rsa2048.crt"
expect_ok "key pem->der" $C cert convert "$F/leaf-ec256.key" --to der --out k.der
openssl pkcs8 -topk8 -nocrypt -in "$F/leaf-ec256.key" -outform DER -out k-ossl.der
same_bytes "key DER as openssl's PKCS#8" k.der k-ossl.der
[ "$(stat -c %a k.der)" = 600 ] && ok || fail "converted key mode"
expect_ok "key der->pem" $C cert convert k.der --to pem --out k.pem
openssl pkey -in k.der -inform DER -out k-ossl.pem
same_bytes "key PEM as openssl's" k.pem k-ossl.pem
same_bytes "key round trip" k.pem "$F/leaf-ec256.key"
expect_ok "traditional -> pkcs8" $C cert convert "$F/leaf-rsa2048-traditional.key" --to pem \
  --out t.pem
openssl pkey -in "$F/leaf-rsa2048-traditional.key" -out t-ossl.pem
same_bytes "traditional key as openssl's PKCS#8" t.pem t-ossl.pem
expect_ok "decrypt" $C cert convert "$F/leaf-ec256-enc.key.der" --password-file "$T/pw" --to pem \
  --out dec.pem
same_bytes "decrypted key" dec.pem "$F/leaf-ec256.key"
expect_ok "encrypt" $C cert convert "$F/leaf-ec256.key" --out-password-file "$T/pw" --to pem \
  --out reenc.pem
openssl pkey -in reenc.pem -passin file:"$T/pw" | cmp -s - "$F/leaf-ec256.key" && ok ||
  fail "re-encrypted key"
expect_ok "csr pem->der" $C cert convert req.csr --to der --out req.der
openssl req -in req.csr -outform DER -out req-ossl.der
same_bytes "CSR DER as openssl's" req.der req-ossl.der
expect_ok "bundle pem->pem" $C cert convert "$F/unordered-ec256.pem" --to pem --out u.pem
same_bytes "bundle as given" u.pem "$F/unordered-ec256.pem"
# Keystores: openssl reads what we write.
expect_ok "to pkcs12" $C cert convert "$F/leaf-rsa2048.crt" --key "$F/leaf-rsa2048.key" \
  --chain "$F/chain.pem" --to pkcs12 --out-password-file "$T/pw" --out out.p12
openssl pkcs12 -in out.p12 -passin file:"$T/pw" -nodes -out p12.txt 2>/dev/null && ok ||
  fail "openssl pkcs12 reads ours"
[ "$(grep -c 'BEGIN CERTIFICATE' p12.txt)" = 3 ] && ok || fail "p12 chain of 3"
expect_ok "p12 -> pem" $C cert convert "$F/openssl-modern.p12" --password-file "$T/pw" --to pem \
  --out from-p12.pem
openssl pkcs12 -in "$F/openssl-modern.p12" -passin file:"$T/pw" -nocerts -nodes 2>/dev/null |
  openssl pkey | cmp -s - <(openssl pkey -in from-p12.pem) && ok || fail "p12 key"
expect_ok "p12 -> jks" $C cert convert "$F/keytool.p12" --password-file "$T/pw" --to jks --out k.jks
expect_ok "jks readable" $C cert inspect k.jks --password-file "$T/pw"
expect_grep "jks keeps entries" 'entry "generated"' "$T/out"

# ---- bad input: exit 2, one line naming the problem, nothing written ----
fresh() { rm -rf "$T/bad"; mkdir "$T/bad"; }
nothing_written() {
  if [ -e "$T/bad/out" ]; then fail "$1: output written"; else ok; fi
  no_temp_files "$T/bad"
}
fresh
expect_fail "unknown --type" 2 '--type: unknown key type .dsa.' \
  $C cert keygen --type dsa --out "$T/bad/out"
nothing_written "unknown --type"
expect_fail "bad --san" 2 '--san: .*not a valid DNS name' \
  $C cert csr --key key-rsa.pem --subject CN=x --san 'bad name!' --out "$T/bad/out"
nothing_written "bad --san"
expect_fail "bad IP --san" 2 '--san: .*not an IP address' \
  $C cert csr --key key-rsa.pem --subject CN=x --san IP:300.1.1.1 --out "$T/bad/out"
nothing_written "bad IP --san"
expect_fail "unknown subject attribute" 2 '--subject: .*unknown attribute .XX.' \
  $C cert csr --key key-rsa.pem --subject 'CN=x,XX=y' --out "$T/bad/out"
nothing_written "bad --subject"
expect_fail "--days 0" 2 '--days' \
  $C cert selfsign --key key-rsa.pem --subject CN=x --days 0 --out "$T/bad/out"
nothing_written "--days 0"
expect_fail "--days too many" 2 '--days' \
  $C cert sign --csr req.csr --ca-cert ca.pem --ca-key key-ec-p384.pem --days 99999 --out "$T/bad/out"
nothing_written "--days 99999"
expect_fail "missing --out" 2 'missing --out' $C cert keygen --type ec
expect_fail "missing --out (csr)" 2 'missing --out' $C cert csr --key key-rsa.pem --subject CN=x
printf 'this is not a key\n' > "$T/corrupt.pem"
expect_fail "corrupt key" 2 'corrupt.pem: ' \
  $C cert csr --key "$T/corrupt.pem" --subject CN=x --out "$T/bad/out"
nothing_written "corrupt key"
head -c 300 "$F/leaf-rsa2048.crt" > "$T/trunc.crt"
expect_fail "truncated certificate" 2 'trunc.crt: .*PEM block 1' \
  $C cert convert "$T/trunc.crt" --to der --out "$T/bad/out"
nothing_written "truncated certificate"
expect_fail "corrupt CSR" 2 '--csr .*corrupt.pem' \
  $C cert sign --csr "$T/corrupt.pem" --ca-cert ca.pem --ca-key key-ec-p384.pem --out "$T/bad/out"
nothing_written "corrupt CSR"
expect_fail "wrong key password" 2 'wrong password for the private key' \
  $C cert csr --key "$F/leaf-ec256-enc.key" --key-password-file "$T/badpw" --subject CN=x \
  --out "$T/bad/out"
nothing_written "wrong key password"
expect_fail "missing key password" 2 'encrypted: give --key-password' \
  $C cert csr --key "$F/leaf-ec256-enc.key" --subject CN=x --out "$T/bad/out" < /dev/null
nothing_written "missing key password"
expect_fail "wrong password convert" 2 'wrong password' \
  $C cert convert "$F/leaf-ec256-enc.key" --password-file "$T/badpw" --to der --out "$T/bad/out"
nothing_written "wrong password convert"
expect_fail "CA key mismatch" 2 'does not match' \
  $C cert sign --csr req.csr --ca-cert ca.pem --ca-key key-rsa.pem --out "$T/bad/out"
nothing_written "CA key mismatch"
expect_fail "leaf as CA" 2 'not a CA' \
  $C cert sign --csr req.csr --ca-cert leaf.pem --ca-key key-rsa.pem --out "$T/bad/out"
nothing_written "leaf as CA"
expect_fail "DER of a bundle" 2 '--to der: DER holds exactly one' \
  $C cert convert "$F/chain.pem" --to der --out "$T/bad/out"
nothing_written "DER of a bundle"
expect_fail "unknown --to" 2 '--to: unknown format' \
  $C cert convert "$F/chain.pem" --to xml --out "$T/bad/out"
expect_fail "missing file" 2 'nonexistent' \
  $C cert inspect "$T/nonexistent.pem"
expect_fail "--path-len without --ca" 2 '--path-len needs --ca' \
  $C cert selfsign --key key-rsa.pem --subject CN=x --path-len 1 --out "$T/bad/out"
nothing_written "--path-len"
# An existing output is left alone when the command fails.
cp "$F/ca.crt" "$T/bad/out"
expect_fail "failure keeps existing output" 2 '--san' \
  $C cert selfsign --key key-rsa.pem --subject CN=x --san '-bad' --out "$T/bad/out"
same_bytes "existing output untouched" "$T/bad/out" "$F/ca.crt"
# Options that would be silently ignored are refused.
expect_fail "--out-password for a certificate" 2 '--out-password' \
  $C cert convert "$F/leaf-ec256.crt" --to der --out "$T/bad/c.der" --out-password-file "$T/pw"
expect_fail "--key with a keystore input" 2 'is a keystore' \
  $C cert convert "$F/keytool.jks" --to pkcs12 --key "$F/leaf-ec256.key" --password changeit \
  --out "$T/bad/k.p12"
[ -e "$T/bad/c.der" ] || [ -e "$T/bad/k.p12" ] && fail "a refused convert wrote a file" || ok
no_temp_files "$T/bad"
no_temp_files "$T"

finish
