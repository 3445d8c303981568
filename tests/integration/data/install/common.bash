# Shared by 50_install_keystores.sh and 51_install_crash.sh (sourced after lib.bash):
# a test gateway, material, keystores that keytool wrote, and checks on keystores, history
# and leftover files.
C=$CERTO
export CERTO_CONTAINER=0 # this machine is a container; local endpoints need this
unset CERTO_SECRET_KEY CERTO_HOME CERTO_TEST_CRASH_AT
KSINFO=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/ksinfo.py
D=$T/gw  # the gateway data directory
LOG=$T/all.log # every certo command's output, kept when something fails
: > "$LOG"
UUID='[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}'

# Mount points made by a test are unmounted before $T is removed; processes it started
# ("PID MARK": MARK a string of their command line) are killed by pid if still running.
MOUNTS=()
STARTED=()
# still_running PID MARK: PID is alive and its command line contains MARK (not a zombie, not a
# reused pid).
still_running() { [ -n "$1" ] && tr '\0' ' ' 2> /dev/null < "/proc/$1/cmdline" | grep -qF -- "$2"; }
cleanup() {
  local m p
  for p in "${STARTED[@]}"; do
    if still_running "${p%% *}" "${p#* }"; then kill "${p%% *}" 2> /dev/null || true; fi
  done
  for m in "${MOUNTS[@]}"; do umount -l "$m" 2> /dev/null || true; done
  chmod -R u+w "$T" 2> /dev/null
  rm -rf "$T"
}
trap cleanup EXIT

# cg ARGS...: certo on the test gateway, no terminal.
cg() { "$C" "$@" --data "$D" < /dev/null; }
logit() { { printf '== %s\n' "$*"; cat "$T/out" "$T/err"; } >> "$LOG" 2> /dev/null || true; }
# re_esc STRING: STRING as a literal in an extended regex.
re_esc() { printf '%s' "$1" | sed 's/[][\.*^$(){}?+|/]/\\&/g'; }

# fp_of CERT: SHA-256 fingerprint as openssl prints it (AB:CD:...).
fp_of() { openssl x509 -in "$1" -noout -fingerprint -sha256 | sed 's/^[^=]*=//'; }
# pub_of FILE KIND: the public key of a key (pkey) or certificate (x509) file, PEM.
pub_of() {
  if [ "$2" = x509 ]; then openssl x509 -in "$1" -noout -pubkey 2> /dev/null
  else openssl pkey -in "$1" -pubout 2> /dev/null; fi
}
# key_matches DESC KEYFILE CERTFILE
key_matches() {
  local a b
  a=$(pub_of "$2" pkey) || true
  b=$(pub_of "$3" x509) || true
  if [ -n "$a" ] && [ "$a" = "$b" ]; then ok; else fail "$1: key $2 does not match certificate $3"; fi
}

# pyck DESC JSONFILE PYTHON-EXPR: a check on parsed JSON 'd' (extra arguments: a[0], a[1]...).
pyck() {
  local desc=$1 file=$2 expr=$3; shift 3
  if python3 -c "import json,sys; d=json.load(open(sys.argv[1])); a=sys.argv[2:]; sys.exit(0 if ($expr) else 1)" \
    "$file" "$@" 2>> "$LOG"; then ok; else fail "$desc: $(head -c 700 "$file")"; fi
}

# add_ep NAME TYPE OPTIONS...: a local endpoint; sets ID.
add_ep() {
  local name=$1 type=$2; shift 2
  ID=
  expect_ok "add endpoint $name" cg tls add "$type" --name "$name" --connection_type local "$@"; logit add "$name"
  local line; line=$(cat "$T/out")
  if [[ $line =~ ^Endpoint\ \'$name\'\ \($type,\ local\)\ added\.\ Instance\ ID:\ ($UUID)$ ]]; then
    ID=${BASH_REMATCH[1]}; ok
  else fail "add $name: stdout '$line' stderr '$(cat "$T/err")'"; fi
}

# hist_json NAME OUT: 'tls history NAME --json' into OUT (newest first).
hist_json() {
  if cg tls history "$1" --json > "$2" 2>> "$LOG"; then :; else
    fail "tls history $1 --json failed"; echo '[]' > "$2"; fi
  cat "$2" >> "$LOG"
}
hist_len() { python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$1"; }

# ks_parse DESC STORE OUT: keytool -list -v reads STORE (password changeit); its entries
# as JSON in OUT ({} when keytool fails).
ks_parse() {
  if kt -list -v -keystore "$2" -storepass changeit > "$T/kt.txt" 2>&1; then
    python3 "$KSINFO" keytool < "$T/kt.txt" > "$3"; ok
  else
    fail "$1: keytool cannot read $2: $(grep -v '^\s*$' "$T/kt.txt" | head -3)"; echo '{}' > "$3"
  fi
  cat "$T/kt.txt" >> "$LOG"
}

# store_has DESC NOW.json BASE.json ALIAS FP CHAINLEN: ALIAS is a PrivateKeyEntry whose chain
# starts with FP and has CHAINLEN certificates, and every entry of BASE is still there
# unchanged (nothing else).
store_has() {
  python3 - "$2" "$3" "$4" "$5" "$6" <<'PY' 2> "$T/pyerr" && ok || fail "$1: $(tail -1 "$T/pyerr")"
import json, sys
now, base = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
alias, fp, n = sys.argv[3], sys.argv[4], int(sys.argv[5])
e = now.get(alias)
assert e is not None, "no entry %r in %s" % (alias, sorted(now))
assert e["type"] == "PrivateKeyEntry", e
assert e["fp"] == fp, "entry %r has %s, want %s" % (alias, e["fp"], fp)
assert e["chain"] == n, "chain length %d, want %d" % (e["chain"], n)
for k, v in base.items():
    if k != alias:
        assert now.get(k) == v, "entry %r changed: %r -> %r" % (k, v, now.get(k))
assert set(now) == set(base) | {alias}, "entries %s, want %s" % (sorted(now), sorted(set(base) | {alias}))
PY
}

# p12_has DESC P12 ALIAS FP [-legacy]: openssl pkcs12 reads P12; the certificate of ALIAS has
# fingerprint FP and the key bag of ALIAS matches it.
p12_has() {
  local desc=$1 f=$2 alias=$3 fp=$4 got; shift 4
  if ! openssl pkcs12 -in "$f" -passin pass:changeit -nodes "$@" > "$T/p12.txt" 2>&1; then
    fail "$desc: openssl pkcs12 $* cannot read $f: $(head -2 "$T/p12.txt")"; return
  fi
  if got=$(python3 "$KSINFO" p12 "$alias" "$T/p12.crt" "$T/p12.key" < "$T/p12.txt" 2>&1); then
    [ "$got" = "$fp" ] && ok || fail "$desc: openssl shows $got under '$alias', want $fp"
    key_matches "$desc: key bag" "$T/p12.key" "$T/p12.crt"
  else fail "$desc: $got"; fi
}

# fsnap OUT FILES...: contents, mode, owner of FILES (or that they are absent) and the
# names in their directories (a staged or temporary file shows up).
fsnap() {
  local out=$1 f; shift
  : > "$out"
  for f in "$@"; do
    if [ -e "$f" ]; then stat -c '%n %a %u:%g %s' "$f"; sha256sum "$f"; else echo "absent $f"; fi
  done >> "$out"
  for f in "$@"; do ls -A "$(dirname "$f")"; done >> "$out"
}
# same_state DESC BEFORE AFTER: two fsnap outputs are equal.
same_state() {
  if cmp -s "$2" "$3"; then ok; else fail "$1: files changed: $(diff "$2" "$3" | head -6 | tr '\n' ' ')"; fi
}
# no_stage DIR: no staged copy (.NAME.certo-stage-N) and no temporary file left in DIR.
no_stage() {
  local left; left=$(find "$1" -name '.*certo-stage*' 2> /dev/null)
  [ -z "$left" ] && ok || fail "staged file left: $left"
  no_temp_files "$1"
}
# no_journal ID: the endpoint's journal directory is gone.
no_journal() { [ ! -e "$D/journal/$1" ] && ok || fail "journal $D/journal/$1 left: $(ls -A "$D/journal/$1")"; }
# mode_owner DESC FILE MODE OWNER
mode_owner() {
  local got; got=$(stat -c '%a %u:%g' "$2")
  [ "$got" = "$3 $4" ] && ok || fail "$1: $2 has mode/owner $got, want $3 $4"
}

# ---- material ----
A_CRT=$F/leaf-ec256.crt A_KEY=$F/leaf-ec256.key
B_CRT=$F/leaf-rsa3072.crt B_KEY=$F/leaf-rsa3072.key
CHAIN=$F/chain.pem # intermediate and root: chains of 3
FP_A=$(fp_of "$A_CRT")
FP_B=$(fp_of "$B_CRT")
MAT_A=(--cert "$A_CRT" --key "$A_KEY" --chain "$CHAIN")
MAT_B=(--cert "$B_CRT" --key "$B_KEY" --chain "$CHAIN")

# make_base FMT OUT: keytool's keystore of the fixtures (www, generated, rootca) plus a key
# entry 'other' that keytool generates now.
make_base() {
  local st=PKCS12; [ "$1" = jks ] && st=JKS
  cp "$F/keytool.$1" "$2"
  kt -genkeypair -alias other -keyalg EC -groupname secp256r1 -dname CN=other.example.test \
    -validity 3650 -keystore "$2" -storetype "$st" -storepass changeit -keypass changeit \
    >> "$LOG" 2>&1 || fail "keytool -genkeypair into $2"
}

mkdir -p "$T/bin"
printf '#!/bin/sh\nexit 0\n' > "$T/bin/ok.sh"
chmod 755 "$T/bin/ok.sh"

# done_all: finish, keeping the log of every command when a check failed.
done_all() {
  if [ "$fails" -ne 0 ]; then
    local keep="${TMPDIR:-/tmp}/$(basename "$0" .sh).log"
    cp "$LOG" "$keep" 2> /dev/null && echo "log of every certo command: $keep" >&2
  fi
  finish
}
