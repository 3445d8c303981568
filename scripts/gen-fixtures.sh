#!/usr/bin/env bash
# Regenerates every test certificate, key and keystore under tests/fixtures/.
# Test material only: these keys protect nothing. Needs openssl and keytool (Java 17).
# Passwords: keystores and encrypted keys use "changeit"; see tests/fixtures/README.md.
# Usage: scripts/gen-fixtures.sh [OUTDIR]   (default tests/fixtures)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$here/tests/fixtures}
mkdir -p "$out"
cd "$out"
rm -f ./*.pem ./*.crt ./*.key ./*.der ./*.p12 ./*.jks ./*.csr
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pass=changeit

# An openssl "ca" set-up lets us pick exact validity dates (expired, not yet valid).
ca_conf() { # $1 = issuer name (cert + key files without extension)
  cat > "$work/ca.cnf" <<CNF
[ ca ]
default_ca = d
[ d ]
dir = $work
database = $work/index.txt
new_certs_dir = $work
serial = $work/serial
default_md = sha256
policy = p
copy_extensions = copy
unique_subject = no
[ p ]
commonName = supplied
[ leaf ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth,clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ inter ]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
CNF
  : > "$work/index.txt"
  openssl rand -hex 16 > "$work/serial"
}

# issue NAME ISSUER EXT START END SUBJ SAN
issue() {
  local name=$1 issuer=$2 ext=$3 start=$4 end=$5 subj=$6 san=$7
  openssl req -new -key "$name.key" -subj "$subj" ${san:+-addext "subjectAltName=$san"} \
    -out "$work/$name.csr" 2>/dev/null
  ca_conf
  openssl ca -batch -config "$work/ca.cnf" -extensions "$ext" -cert "$issuer.crt" \
    -keyfile "$issuer.key" -startdate "$start" -enddate "$end" -notext \
    -in "$work/$name.csr" -out "$name.crt" 2>/dev/null
}

genkey() { # NAME ALG...
  local name=$1; shift
  openssl genpkey "$@" -out "$name.key" 2>/dev/null
}

# Root and intermediate CAs (EC P-256), 2026-01-01 .. 2046-01-01.
genkey ca -algorithm EC -pkeyopt ec_paramgen_curve:P-256
openssl req -new -x509 -key ca.key -subj "/CN=Certo Test Root CA/O=Certo Tests" -days 7305 \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out ca.crt 2>/dev/null
genkey int -algorithm EC -pkeyopt ec_paramgen_curve:P-256
issue int ca inter 20260101000000Z 20460101000000Z "/CN=Certo Test Intermediate CA/O=Certo Tests" ""

# Leaves signed by the intermediate, valid 2026-01-01 .. 2036-01-01.
genkey leaf-rsa2048 -algorithm RSA -pkeyopt rsa_keygen_bits:2048
genkey leaf-rsa3072 -algorithm RSA -pkeyopt rsa_keygen_bits:3072
genkey leaf-ec256 -algorithm EC -pkeyopt ec_paramgen_curve:P-256
genkey leaf-ec384 -algorithm EC -pkeyopt ec_paramgen_curve:P-384
genkey leaf-ed25519 -algorithm ED25519
issue leaf-rsa2048 int leaf 20260101000000Z 20360101000000Z "/CN=www.example.test/O=Certo Tests" \
  "DNS:www.example.test,DNS:example.test,IP:127.0.0.1,email:ops@example.test,URI:https://example.test/"
issue leaf-rsa3072 int leaf 20260101000000Z 20360101000000Z "/CN=rsa3072.example.test" "DNS:rsa3072.example.test"
issue leaf-ec256 int leaf 20260101000000Z 20360101000000Z "/CN=ec256.example.test" "DNS:ec256.example.test"
issue leaf-ec384 int leaf 20260101000000Z 20360101000000Z "/CN=ec384.example.test" "DNS:ec384.example.test"
issue leaf-ed25519 int leaf 20260101000000Z 20360101000000Z "/CN=ed25519.example.test" "DNS:ed25519.example.test"

# Problem certificates.
genkey expired -algorithm EC -pkeyopt ec_paramgen_curve:P-256
issue expired int leaf 20200101000000Z 20210101000000Z "/CN=expired.example.test" "DNS:expired.example.test"
genkey notyet -algorithm EC -pkeyopt ec_paramgen_curve:P-256
issue notyet int leaf 20400101000000Z 20410101000000Z "/CN=notyet.example.test" "DNS:notyet.example.test"
genkey wronghost -algorithm EC -pkeyopt ec_paramgen_curve:P-256
issue wronghost int leaf 20260101000000Z 20360101000000Z "/CN=other.invalid" "DNS:other.invalid"
genkey weak-rsa1024 -algorithm RSA -pkeyopt rsa_keygen_bits:1024
issue weak-rsa1024 int leaf 20260101000000Z 20360101000000Z "/CN=weak.example.test" "DNS:weak.example.test"
genkey selfsigned -algorithm EC -pkeyopt ec_paramgen_curve:P-256
openssl req -new -x509 -key selfsigned.key -subj "/CN=self.example.test" -days 3650 \
  -addext "subjectAltName=DNS:self.example.test" -out selfsigned.crt 2>/dev/null

# Derived forms.
cat int.crt ca.crt > chain.pem
cat leaf-rsa2048.crt int.crt ca.crt > fullchain-rsa2048.pem
cat ca.crt leaf-ec256.crt int.crt > unordered-ec256.pem           # any order
cat leaf-ec256.key leaf-ec256.crt int.crt > combined-ec256.pem
openssl x509 -in leaf-rsa2048.crt -outform DER -out leaf-rsa2048.der
openssl pkey -in leaf-rsa2048.key -outform DER -out leaf-rsa2048.key.der
openssl pkcs8 -topk8 -in leaf-ec256.key -v2 aes-256-cbc -v2prf hmacWithSHA256 \
  -passout pass:$pass -out leaf-ec256-enc.key
openssl pkcs8 -topk8 -in leaf-ec256.key -v2 aes-256-cbc -passout pass:$pass -outform DER \
  -out leaf-ec256-enc.key.der
openssl pkey -in leaf-rsa2048.key -traditional -out leaf-rsa2048-traditional.key 2>/dev/null
openssl req -new -key leaf-ec256.key -subj "/CN=csr.example.test" \
  -addext "subjectAltName=DNS:csr.example.test" -out leaf-ec256.csr

# PKCS#12 written by openssl: modern (default) and legacy.
openssl pkcs12 -export -in leaf-rsa2048.crt -inkey leaf-rsa2048.key -certfile chain.pem \
  -name "www" -passout pass:$pass -out openssl-modern.p12
openssl pkcs12 -export -legacy -in leaf-ec256.crt -inkey leaf-ec256.key -certfile int.crt \
  -name "ec256" -passout pass:$pass -out openssl-legacy.p12
openssl pkcs12 -export -nokeys -in ca.crt -passout pass:$pass -out openssl-certonly.p12

# Keystores written by keytool: several entries each (two key entries + a trusted CA).
kt() { keytool -J-Duser.language=en "$@" >/dev/null 2>&1; }
for fmt in JKS PKCS12; do
  ext=$( [ $fmt = JKS ] && echo jks || echo p12 )
  f=keytool.$ext
  kt -importkeystore -srckeystore openssl-modern.p12 -srcstoretype PKCS12 -srcstorepass $pass \
    -srcalias www -destalias www -destkeystore $f -deststoretype $fmt -deststorepass $pass \
    -destkeypass $pass -noprompt
  kt -genkeypair -alias generated -keyalg EC -groupname secp256r1 -dname "CN=generated.example.test" \
    -validity 3650 -keystore $f -storetype $fmt -storepass $pass -keypass $pass
  kt -importcert -alias rootca -file ca.crt -keystore $f -storetype $fmt -storepass $pass -noprompt
done

chmod 0644 ./*
echo "fixtures written to $out"
