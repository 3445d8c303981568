#!/usr/bin/env bash
# `make tour`: a short end-to-end tour of the offline CLI in a temporary directory.
set -euo pipefail
certo=${1:-build/bin/certo}
certo=$(cd "$(dirname "$certo")" && pwd)/$(basename "$certo")
W=$(mktemp -d "${TMPDIR:-/tmp}/certo-tour-XXXXXX")
trap 'rm -rf "$W"' EXIT
cd "$W"
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

cat <<'TXT'
Certo — certificate orchestration. A tour of the offline CLI (keys, CSRs, certificates,
keystores) and of the gateway (an endpoint, an install with verification, history,
rollback) in a temporary directory that is removed afterwards. `make run` starts the
orchestrator server instead.
TXT
printf 'changeit\n' > store.pw
step "$certo" cert keygen --type ec:p256 --out ca.key
step "$certo" cert selfsign --key ca.key --subject "CN=Tour Root CA,O=Certo" --ca --days 3650 --out ca.crt
step "$certo" cert keygen --type rsa:2048 --out www.key
step "$certo" cert csr --key www.key --subject "CN=www.tour.test" --san DNS:www.tour.test --san IP:127.0.0.1 --out www.csr
step "$certo" cert sign --csr www.csr --ca-cert ca.crt --ca-key ca.key --days 90 --out www.crt
step "$certo" cert inspect www.crt
step "$certo" keystore put www.jks --alias www --cert www.crt --key www.key --chain ca.crt --password-file store.pw
step "$certo" keystore put www.jks --trusted --alias tour-root --cert ca.crt --password-file store.pw
step "$certo" keystore list www.jks --password-file store.pw
step "$certo" keystore put www.p12 --from www.jks --from-password-file store.pw --from-alias www --password-file store.pw --is-legacy false
step "$certo" keystore export www.p12 --alias www --format pem --layout fullchain --out fullchain.pem --password-file store.pw
step "$certo" cert inspect --json fullchain.pem
if command -v keytool >/dev/null; then
  step keytool -J-Duser.language=en -list -keystore www.jks -storetype JKS -storepass changeit
fi

# The gateway: a keystore endpoint on this host, installed into as one transaction.
export CERTO_CONTAINER=0   # the tour's files are local even when this runs in a container
step "$certo" keystore put app.p12 --alias old --cert www.crt --key www.key --chain ca.crt --password-file store.pw
step "$certo" tls add p12 --name app --connection_type local --path app.p12 --store_password_file store.pw --data gw
step "$certo" tls list --data gw
step "$certo" cert keygen --type ec:p256 --out new.key
step "$certo" cert csr --key new.key --subject "CN=app.tour.test" --san DNS:app.tour.test --out new.csr
step "$certo" cert sign --csr new.csr --ca-cert ca.crt --ca-key ca.key --days 90 --out new.crt
step "$certo" tls install app --cert new.crt --key new.key --chain ca.crt --dry-run --data gw
step "$certo" tls install app --cert new.crt --key new.key --chain ca.crt --data gw
step "$certo" keystore list app.p12 --password-file store.pw
step "$certo" tls history app --data gw
step "$certo" tls rollback app --data gw
printf '\nTour done. `certo --help` lists every command.\n'
