#!/usr/bin/env bash
# Keystore writing, side by side with the peer tools, in one run:
#   certo keystore put --type jks      vs  keytool -importkeystore (PKCS#12 -> JKS)
#   certo keystore put --type pkcs12   vs  openssl pkcs12 -export
# One process per keystore for every tool (that is how each is used from scripts).
# Inputs: N leaf certificates (half ECDSA P-256, half RSA-2048) signed by one CA, a
# 2-certificate chain each, store password "changeit". PKCS#12 uses the same iteration
# count everywhere: PBKDF2 2048 and MAC 2048 (openssl's default; certo's default).
# Usage: bench/keystore/run.sh [CERTO_BINARY]   (N=200 by default: BENCH_N=50 for a quick run)
# Prints each rate in keystores/s and the ratios; verifies samples of every output with
# keytool and openssl. Everything happens in a temporary directory that is removed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
certo=${1:-$here/../../build/bin/certo}
certo=$(cd "$(dirname "$certo")" && pwd)/$(basename "$certo")
N=${BENCH_N:-200}
for t in openssl keytool "$certo"; do command -v "$t" >/dev/null || { echo "missing $t" >&2; exit 1; }; done
W=$(mktemp -d "${TMPDIR:-/tmp}/certo-bench-XXXXXX")
trap 'rm -rf "$W"' EXIT
cd "$W"
printf 'changeit\n' > pw

echo "== inputs: $N leaf certificates (ECDSA P-256 / RSA-2048), CA chain"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key 2>/dev/null
openssl req -new -x509 -key ca.key -subj "/CN=Bench CA" -days 3650 -out ca.crt 2>/dev/null
mkdir leaves
for ((i = 0; i < N; i++)); do
  l=leaves/leaf$i
  if ((i % 2 == 0)); then
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out $l.key 2>/dev/null
  else
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out $l.key 2>/dev/null
  fi
  openssl req -new -key $l.key -subj "/CN=leaf$i.bench.test" -out $l.csr 2>/dev/null
  openssl x509 -req -in $l.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 365 \
    -out $l.crt 2>/dev/null
done

now() { date +%s.%N; }
declare -A secs

run() { # NAME COMMAND-FUNCTION
  local name=$1 fn=$2
  rm -rf "out-$name"; mkdir "out-$name"
  local t0 t1; t0=$(now)
  for ((i = 0; i < N; i++)); do $fn "$i" "out-$name"; done
  t1=$(now)
  secs[$name]=$(echo "$t1 - $t0" | bc -l)
  printf '   %-34s %4d keystores in %7.2f s  = %8.1f keystores/s\n' "$name" "$N" \
    "${secs[$name]}" "$(echo "$N / ${secs[$name]}" | bc -l)"
}

# The peers' inputs: keytool imports from a PKCS#12 (it cannot read a PEM key), made
# beforehand and not timed.
echo "== preparing PKCS#12 inputs for keytool (not timed)"
mkdir p12src
for ((i = 0; i < N; i++)); do
  openssl pkcs12 -export -in leaves/leaf$i.crt -inkey leaves/leaf$i.key -certfile ca.crt \
    -name leaf$i -passout pass:changeit -out p12src/leaf$i.p12
done

certo_jks() { "$certo" keystore put "$2/leaf$1.jks" --alias leaf$1 --cert leaves/leaf$1.crt \
  --key leaves/leaf$1.key --chain ca.crt --password-file pw >/dev/null; }
keytool_jks() { keytool -importkeystore -noprompt -srckeystore p12src/leaf$1.p12 \
  -srcstoretype PKCS12 -srcstorepass changeit -destkeystore "$2/leaf$1.jks" \
  -deststoretype JKS -deststorepass changeit >/dev/null 2>&1; }
certo_p12() { "$certo" keystore put "$2/leaf$1.p12" --alias leaf$1 --cert leaves/leaf$1.crt \
  --key leaves/leaf$1.key --chain ca.crt --password-file pw --iter 2048 >/dev/null; }
openssl_p12() { openssl pkcs12 -export -in leaves/leaf$1.crt -inkey leaves/leaf$1.key \
  -certfile ca.crt -name leaf$1 -passout pass:changeit -iter 2048 -maciter \
  -out "$2/leaf$1.p12"; }

echo "== writing $N keystores per tool, one process each"
run certo-jks certo_jks
run keytool-jks keytool_jks
run certo-pkcs12 certo_p12
run openssl-pkcs12 openssl_p12

rate() { echo "$N / ${secs[$1]}" | bc -l; }
ratio() { echo "$(rate "$1") / $(rate "$2")" | bc -l; }
echo
echo "== results (higher rate is better)"
printf '| %-16s | %-36s | %12s |\n' "format" "tool" "keystores/s"
printf '| %-16s | %-36s | %12.1f |\n' JKS "certo keystore put" "$(rate certo-jks)"
printf '| %-16s | %-36s | %12.1f |\n' JKS "keytool -importkeystore" "$(rate keytool-jks)"
printf '| %-16s | %-36s | %12.1f |\n' PKCS#12 "certo keystore put" "$(rate certo-pkcs12)"
printf '| %-16s | %-36s | %12.1f |\n' PKCS#12 "openssl pkcs12 -export" "$(rate openssl-pkcs12)"
printf 'ratio JKS     certo / keytool: %6.1fx (target >= 30x)\n' "$(ratio certo-jks keytool-jks)"
printf 'ratio PKCS#12 certo / openssl: %6.1fx (target >= 2x)\n' "$(ratio certo-pkcs12 openssl-pkcs12)"

echo
echo "== verification of certo's output"
bad=0
for i in 0 1 $((N / 2)) $((N - 1)); do
  out=$(keytool -J-Duser.language=en -list -v -keystore out-certo-jks/leaf$i.jks -storetype JKS \
    -storepass changeit 2>&1)
  grep -q 'Entry type: PrivateKeyEntry' <<<"$out" && grep -q 'Certificate chain length: 2' <<<"$out" \
    || { echo "keytool cannot read out-certo-jks/leaf$i.jks"; bad=$((bad + 1)); }
done
echo "   keytool -list -v on 4 certo JKS files: $((4 - bad)) ok"
okp=0
for ((i = 0; i < N; i++)); do
  n=$(openssl pkcs12 -in out-certo-pkcs12/leaf$i.p12 -passin pass:changeit -nodes 2>/dev/null \
    | grep -c 'BEGIN CERTIFICATE\|BEGIN PRIVATE KEY' || true)
  [ "$n" = 3 ] && okp=$((okp + 1))
done
echo "   openssl pkcs12 -nodes on all $N certo PKCS#12 files: $okp ok (2 certificates + 1 key each)"
[ "$bad" = 0 ] && [ "$okp" = "$N" ]
