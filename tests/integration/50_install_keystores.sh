#!/usr/bin/env bash
# certo tls install|rollback|history|restart|check on local keystore endpoints (issue 4):
# install, verify, history and rollback for p12 (modern and legacy), jks and pem (combined
# file; certificate file with a sibling key file) on keystores that keytool wrote with
# other entries, read back by keytool and openssl; install and restart scripts (argv,
# clean environment, output in the history, failure, timeout); failures that must leave
# the files byte-identical with no staged or temporary file (key mismatch, wrong store
# password, script fails, script hangs, disk full, read-only directory); bad input refused
# with exit 2 and one line. The crash hook and concurrency are in 51_install_crash.sh.
source "$(dirname "$0")/lib.bash"
source "$(dirname "$0")/data/install/common.bash"

if [ "$(id -u)" = 0 ]; then OWNER=4321:4322; else OWNER=$(id -u):$(id -g); fi
# own FILE: mode 640 and a recognisable owner, which every install must keep.
own() { chmod 640 "$1"; [ "$(id -u)" = 0 ] && chown "$OWNER" "$1"; true; }

make_base p12 "$T/base.p12"
make_base jks "$T/base.jks"
ks_parse "base p12 reads" "$T/base.p12" "$T/base.p12.json"
ks_parse "base jks reads" "$T/base.jks" "$T/base.jks.json"
pyck "base p12 holds keytool's entries" "$T/base.p12.json" \
  'sorted(d) == ["generated", "other", "rootca", "www"] and d["www"]["chain"] == 3'
pyck "base jks holds keytool's entries" "$T/base.jks.json" \
  'sorted(d) == ["generated", "other", "rootca", "www"] and d["www"]["chain"] == 3'

# ---- refused/failed: the files of RF and the history of RN ----
# refused DESC CODE REGEX CMD...: exit CODE, one stderr line, files and history unchanged.
refused() {
  local desc=$1 code=$2 re=$3; shift 3
  fsnap "$T/rf.before" "${RF[@]}"; hist_json "$RN" "$T/rh.before"
  expect_fail "$desc" "$code" "$re" "$@"; logit "$desc"
  fsnap "$T/rf.after" "${RF[@]}"; hist_json "$RN" "$T/rh.after"
  same_state "$desc" "$T/rf.before" "$T/rf.after"
  same_bytes "$desc: history unchanged" "$T/rh.before" "$T/rh.after"
  no_stage "$(dirname "${RF[0]}")"
}
# failed_txn DESC CODE REGEX STEP CMD...: the install ran and failed at STEP: exit CODE, one
# stderr line, files byte-identical, no staged file, journal gone, one more history entry
# (failed, at STEP, rolled back).
failed_txn() {
  local desc=$1 code=$2 re=$3 step=$4; shift 4
  fsnap "$T/rf.before" "${RF[@]}"; hist_json "$RN" "$T/rh.before"
  expect_fail "$desc" "$code" "$re" "$@"; logit "$desc"
  fsnap "$T/rf.after" "${RF[@]}"; hist_json "$RN" "$T/rh.after"
  same_state "$desc" "$T/rf.before" "$T/rf.after"
  local n; n=$(hist_len "$T/rh.before")
  pyck "$desc: history" "$T/rh.after" \
    'len(d) == int(a[0]) + 1 and d[0]["kind"] == "install" and d[0]["outcome"] == "failed" and d[0].get("step") == a[1] and "rolled back" in d[0].get("message", "")' \
    "$n" "$step"
  no_stage "$(dirname "${RF[0]}")"
  no_journal "$(endpoint_id "$RN")"
}
endpoint_id() {
  cg tls show "$1" --json 2>> "$LOG" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}

# ==== 1. install, verify, history, rollback per type ====
# Verifiers: VERIFY DESC FP checks that the endpoint's files hold FP under V_ALIAS.
verify_p12() {
  ks_parse "$1: keytool reads" "$V_FILE" "$T/now.json"
  store_has "$1: keytool" "$T/now.json" "$T/base.p12.json" "$V_ALIAS" "$2" 3
  if [ "$V_LEGACY" = 1 ]; then
    p12_has "$1: openssl -legacy" "$V_FILE" "$V_ALIAS" "$2" -legacy
    openssl pkcs12 -in "$V_FILE" -passin pass:changeit -info -noout -legacy > "$T/info.txt" 2>&1 || true
    expect_grep "$1: legacy profile (RC2 certificates)" 'pbeWithSHA1And40BitRC2-CBC' "$T/info.txt"
    if openssl pkcs12 -in "$V_FILE" -passin pass:changeit -info -noout > /dev/null 2>&1; then
      fail "$1: OpenSSL 3 reads the legacy file without -legacy: not written with legacy algorithms"
    else ok; fi
  else
    p12_has "$1: openssl" "$V_FILE" "$V_ALIAS" "$2"
    openssl pkcs12 -in "$V_FILE" -passin pass:changeit -info -noout > "$T/info.txt" 2>&1 || true
    expect_grep "$1: modern profile (AES-256)" 'PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC' "$T/info.txt"
    if grep -q 'RC2\|TripleDES' "$T/info.txt"; then fail "$1: legacy algorithms in a modern file"; else ok; fi
  fi
}
verify_jks() {
  ks_parse "$1: keytool reads" "$V_FILE" "$T/now.json"
  expect_grep "$1: still a JKS file" '^Keystore type: JKS$' "$T/kt.txt"
  store_has "$1: keytool" "$T/now.json" "$T/base.jks.json" "$V_ALIAS" "$2" 3
}
# Combined file: key first (as the original), then leaf, intermediate, root.
verify_pem1() {
  python3 "$KSINFO" pem "$V_FILE" > "$T/pem.json"
  pyck "$1: combined layout kept" "$T/pem.json" \
    '[b["type"].endswith("PRIVATE KEY") for b in d] == [True, False, False, False] and d[1]["fp"] == a[0] and all(b["type"] == "CERTIFICATE" for b in d[1:])' "$2"
  [ "$(fp_of "$V_FILE")" = "$2" ] && ok || fail "$1: openssl x509 reads $(fp_of "$V_FILE")"
  key_matches "$1: key and certificate" "$V_FILE" "$V_FILE"
}
# Certificate file (full chain) and a sibling key file, created 0600.
verify_pem2() {
  python3 "$KSINFO" pem "$V_FILE" > "$T/pem.json"
  pyck "$1: certificate file holds the full chain, no key" "$T/pem.json" \
    'len(d) == 3 and all(b["type"] == "CERTIFICATE" for b in d) and d[0]["fp"] == a[0]' "$2"
  python3 "$KSINFO" pem "$V_KEY" > "$T/pemk.json"
  pyck "$1: key file holds one key" "$T/pemk.json" 'len(d) == 1 and d[0]["type"].endswith("PRIVATE KEY")'
  key_matches "$1: sibling key" "$V_KEY" "$V_FILE"
  mode_owner "$1: key file mode" "$V_KEY" 600 "$(id -u):$(id -g)"
}

# cycle LABEL TYPE FILE ALIAS-ARG ALIAS SUMMARY-RE VERIFY [add options]: the files of the
# endpoint are CYF (FILE first); V_FP0 the fingerprint the endpoint presents before (a PEM
# file's certificate), "" if none. Dry run, install A, install B over it, three rollbacks.
cycle() {
  local label=$1 type=$2 file=$3 alias_arg=$4 alias=$5 sumre=$6 verify=$7; shift 7
  local name="ep-$label" dir id n
  dir=$(dirname "$file")
  V_FILE=$file V_ALIAS=$alias
  fsnap "$T/$label.s0" "${CYF[@]}"
  cp -p "$file" "$T/$label.f0"
  add_ep "$name" "$type" --path "$file" "$@"; id=$ID
  expect_ok "$label: check" cg tls check "$name"; logit
  expect_grep "$label: check says ready" "^Endpoint '$name' is ready for installs\.$" "$T/out"

  # --dry-run prints the change and changes nothing.
  expect_ok "$label: dry run" cg tls install "$name" "${MAT_A[@]}" --alias "$alias_arg" --dry-run; logit
  expect_grep "$label: dry run header" "^Dry run on endpoint '$name' \(nothing changed\):$" "$T/out"
  expect_grep "$label: dry run names the change" "$sumre" "$T/out"
  [ -n "${EXTRA_RE:-}" ] && expect_grep "$label: dry run names the key file" "$EXTRA_RE" "$T/out"
  [ -s "$T/err" ] && fail "$label: dry run stderr: $(cat "$T/err")" || ok
  fsnap "$T/$label.s" "${CYF[@]}"; same_state "$label: dry run changes nothing" "$T/$label.s0" "$T/$label.s"
  hist_json "$name" "$T/h.json"; pyck "$label: dry run not in the history" "$T/h.json" 'd == []'
  [ ! -e "$D/journal/$id" ] && [ ! -e "$D/backups/$id" ] && ok || fail "$label: dry run left a journal or backup"

  # Install A.
  expect_ok "$label: install A" cg tls install "$name" "${MAT_A[@]}" --alias "$alias_arg"; logit
  expect_grep "$label: install A: message" "^Installed '$alias' on endpoint '$name' \(history #[0-9]+\)$" "$T/out"
  expect_grep "$label: install A: fingerprint" "^  certificate $FP_A$" "$T/out"
  if [ -z "$V_FP0" ]; then
    grep -q '^  replaced' "$T/out" && fail "$label: install A says it replaced something" || ok
  else expect_grep "$label: install A: replaced the file's certificate" "^  replaced    $V_FP0$" "$T/out"; fi
  [ -s "$T/err" ] && fail "$label: install A stderr: $(cat "$T/err")" || ok
  mode_owner "$label: install A keeps mode and owner" "$file" 640 "$OWNER"
  "$verify" "$label: after install A" "$FP_A"
  hist_json "$name" "$T/h.json"
  pyck "$label: history after A" "$T/h.json" \
    'len(d) == 1 and d[0]["kind"] == "install" and d[0]["outcome"] == "ok" and d[0]["alias"] == a[0] and d[0].get("fp_after") == a[1] and d[0].get("fp_before", "") == a[3] and "step" not in d[0] and a[2] in d[0].get("changes", "")' \
    "$alias" "$FP_A" "$file" "$V_FP0"
  cg tls history "$name" > "$T/ht.txt" 2>> "$LOG" || fail "$label: tls history"
  expect_grep "$label: text history: install line" "^#[0-9]+ +[^ ]+ +install +ok +$alias$" "$T/ht.txt"
  expect_grep "$label: text history: fingerprint" "^    after   $FP_A$" "$T/ht.txt"
  fsnap "$T/$label.s1" "${CYF[@]}"
  cp -p "$file" "$T/$label.f1"
  no_stage "$dir"; no_journal "$id"

  # Install B replaces the entry.
  expect_ok "$label: install B" cg tls install "$name" "${MAT_B[@]}" --alias "$alias_arg"; logit
  expect_grep "$label: install B: replaced" "^  replaced    $FP_A$" "$T/out"
  mode_owner "$label: install B keeps mode and owner" "$file" 640 "$OWNER"
  "$verify" "$label: after install B" "$FP_B"
  hist_json "$name" "$T/h.json"
  pyck "$label: history after B" "$T/h.json" \
    'len(d) == 2 and d[0]["outcome"] == "ok" and d[0].get("fp_before") == a[0] and d[0].get("fp_after") == a[1] and d[1]["outcome"] == "ok"' \
    "$FP_A" "$FP_B"
  no_stage "$dir"; no_journal "$id"

  # rollback --dry-run names the files and changes nothing.
  fsnap "$T/$label.s2" "${CYF[@]}"; hist_json "$name" "$T/h2.json"
  expect_ok "$label: rollback --dry-run" cg tls rollback "$name" --dry-run; logit
  expect_grep "$label: rollback --dry-run names the file" "^  restore $(re_esc "$file") as before install #[0-9]+$" "$T/out"
  fsnap "$T/$label.s" "${CYF[@]}"; same_state "$label: rollback --dry-run changes nothing" "$T/$label.s2" "$T/$label.s"
  hist_json "$name" "$T/h.json"; same_bytes "$label: rollback --dry-run not in the history" "$T/h2.json" "$T/h.json"

  # Rollback: back to A, byte for byte; again: back to the original; again: nothing left.
  expect_ok "$label: rollback 1" cg tls rollback "$name"; logit
  expect_grep "$label: rollback 1: message" "^Rolled back endpoint '$name':$" "$T/out"
  expect_grep "$label: rollback 1: names the file" "^  restore $(re_esc "$file") as before install #[0-9]+$" "$T/out"
  same_bytes "$label: rollback 1 restores the file of install A" "$T/$label.f1" "$file"
  fsnap "$T/$label.s" "${CYF[@]}"; same_state "$label: rollback 1" "$T/$label.s1" "$T/$label.s"
  hist_json "$name" "$T/h.json"
  pyck "$label: history after rollback 1" "$T/h.json" \
    'len(d) == 3 and d[0]["kind"] == "rollback" and d[0]["outcome"] == "ok" and d[1]["outcome"] == "undone" and d[2]["outcome"] == "ok"'
  expect_ok "$label: rollback 2" cg tls rollback "$name"; logit
  same_bytes "$label: rollback 2 restores the original file" "$T/$label.f0" "$file"
  fsnap "$T/$label.s" "${CYF[@]}"; same_state "$label: rollback 2" "$T/$label.s0" "$T/$label.s"
  hist_json "$name" "$T/h.json"
  pyck "$label: history after rollback 2" "$T/h.json" \
    'len(d) == 4 and d[0]["kind"] == "rollback" and d[0]["outcome"] == "ok" and [h["outcome"] for h in d if h["kind"] == "install"] == ["undone", "undone"]'
  expect_fail "$label: rollback 3" 2 \
    "^certo tls rollback: endpoint '$name' has no earlier material to roll back to$" \
    cg tls rollback "$name"; logit
  fsnap "$T/$label.s" "${CYF[@]}"; same_state "$label: rollback 3 changes nothing" "$T/$label.s0" "$T/$label.s"
  no_stage "$dir"; no_journal "$id"
}

mkdir -p "$T/p12" "$T/legacy" "$T/jks" "$T/pem1" "$T/pem2"
cp "$T/base.p12" "$T/p12/k.p12"; own "$T/p12/k.p12"
CYF=("$T/p12/k.p12") V_LEGACY=0 EXTRA_RE= V_FP0=
cycle p12 p12 "$T/p12/k.p12" site site \
  "^  p12 $(re_esc "$T/p12/k.p12"): add entry 'site' \(4 other entries kept\)$" verify_p12 \
  --store_password_file "$T/pw"
# Default alias: the certificate's common name.
expect_ok "p12: dry run, default alias" cg tls install ep-p12 "${MAT_A[@]}" --dry-run; logit
expect_grep "p12: default alias from the common name" "add entry 'ec256\.example\.test'" "$T/out"

cp "$T/base.p12" "$T/legacy/k.p12"; own "$T/legacy/k.p12"
CYF=("$T/legacy/k.p12") V_LEGACY=1
cycle legacy p12 "$T/legacy/k.p12" site site \
  "^  p12 $(re_esc "$T/legacy/k.p12"): add entry 'site' \(4 other entries kept\)$" verify_p12 \
  --store_password_file "$T/pw" --is_legacy true
V_LEGACY=0

cp "$T/base.jks" "$T/jks/k.jks"; own "$T/jks/k.jks"
CYF=("$T/jks/k.jks")
cycle jks jks "$T/jks/k.jks" Site site \
  "^  jks $(re_esc "$T/jks/k.jks"): add entry 'site' \(4 other entries kept\)$" verify_jks \
  --store_password_file "$T/pw"

cp "$F/combined-ec256.pem" "$T/pem1/site.pem"; own "$T/pem1/site.pem"
CYF=("$T/pem1/site.pem") V_FP0=$(fp_of "$F/combined-ec256.pem")
cycle pem1 pem "$T/pem1/site.pem" site site \
  "^  pem $(re_esc "$T/pem1/site.pem"): private key, certificate and 2 chain certificates in one file \(key first\)$" \
  verify_pem1

cp "$F/leaf-rsa2048.crt" "$T/pem2/site.crt"; own "$T/pem2/site.crt"
V_KEY=$T/pem2/site.key
CYF=("$T/pem2/site.crt" "$T/pem2/site.key") V_FP0=$(fp_of "$F/leaf-rsa2048.crt")
EXTRA_RE="^  pem $(re_esc "$T/pem2/site.key"): private key \(new file, mode 0600\)$"
cycle pem2 pem "$T/pem2/site.crt" site site \
  "^  pem $(re_esc "$T/pem2/site.crt"): certificate and 2 chain certificates$" verify_pem2
EXTRA_RE= V_FP0=
[ ! -e "$T/pem2/site.key" ] && ok || fail "pem2: the key file created by the first install survived the rollbacks"

# The backups hold private keys: only the gateway's user may read them.
loose=$(find "$D/journal" "$D/backups" \( -type f ! -perm 600 \) -o \( -type d ! -perm 700 \) 2> /dev/null)
[ -z "$loose" ] && ok || fail "backups readable by others: $loose"
[ -n "$(find "$D/backups" -type f -name 'b0' 2> /dev/null)" ] && ok || fail "no backups kept in $D/backups"

# A keystore path that is a symbolic link (e.g. into a "live" directory): the install
# updates the file the link points to and leaves the link in place (replacing the link by
# a regular file would leave the real keystore as it was).
mkdir -p "$T/sl/real" "$T/sl/link"
cp "$T/base.p12" "$T/sl/real/k.p12"; own "$T/sl/real/k.p12"
ln -s "$T/sl/real/k.p12" "$T/sl/link/k.p12"
add_ep ep-link p12 --path "$T/sl/link/k.p12" --store_password_file "$T/pw"
expect_ok "symlinked keystore: install" cg tls install ep-link "${MAT_A[@]}" --alias site; logit symlink
[ -L "$T/sl/link/k.p12" ] && [ "$(readlink "$T/sl/link/k.p12")" = "$T/sl/real/k.p12" ] && ok ||
  fail "symlinked keystore: install replaced the link $T/sl/link/k.p12: $(ls -l "$T/sl/link/k.p12")"
p12_has "symlinked keystore: the link's target holds the entry" "$T/sl/real/k.p12" site "$FP_A"
mode_owner "symlinked keystore: target keeps mode and owner" "$T/sl/real/k.p12" 640 "$OWNER"
no_stage "$T/sl/real"; no_stage "$T/sl/link"

# Material from a PKCS#12 file (jks endpoint, back to its original state afterwards).
P12FP=$(openssl pkcs12 -in "$F/openssl-modern.p12" -passin pass:changeit -nokeys -clcerts 2> /dev/null |
  openssl x509 -noout -fingerprint -sha256 | sed 's/^[^=]*=//')
expect_ok "jks: install from --pkcs12" cg tls install ep-jks --pkcs12 "$F/openssl-modern.p12" \
  --pkcs12-password-file "$T/pw" --alias FromP12; logit
ks_parse "jks: --pkcs12 material" "$T/jks/k.jks" "$T/now.json"
pyck "jks: --pkcs12 entry" "$T/now.json" 'd["fromp12"]["type"] == "PrivateKeyEntry" and d["fromp12"]["fp"] == a[0] and len(d) == 5' "$P12FP"
expect_ok "jks: rollback the --pkcs12 install" cg tls rollback ep-jks; logit
same_bytes "jks: back to the original" "$T/jks.f0" "$T/jks/k.jks"
RF=("$T/jks/k.jks") RN=ep-jks
refused "--pkcs12 with --cert" 2 '^certo tls install: --pkcs12 replaces --cert, --key and --chain' \
  cg tls install ep-jks --pkcs12 "$F/openssl-modern.p12" --pkcs12-password-file "$T/pw" --cert "$A_CRT"

# ==== 2. install and restart scripts ====
SD=$T/script
mkdir -p "$SD"
cp "$T/base.p12" "$SD/k.p12"; own "$SD/k.p12"
cat > "$T/bin/inst.sh" <<EOF
#!/bin/sh
printf '%s\n' "\$#" "\$@" > "$SD/args"
env > "$SD/env"
echo "install script saw \$1"
echo "a note on standard error" >&2
exit 0
EOF
cat > "$T/bin/restart.sh" <<EOF
#!/bin/sh
printf '%s\n' "\$#" "\$@" > "$T/restart.args"
echo restarted-ok
EOF
chmod 755 "$T/bin/inst.sh" "$T/bin/restart.sh"
add_ep ep-script p12 --path "$SD/k.p12" --store_password_file "$T/pw" \
  --install_script "$T/bin/inst.sh" --restart_script "$T/bin/restart.sh"
SID=$ID
RF=("$SD/k.p12") RN=ep-script
expect_ok "script: dry run" cg tls install ep-script "${MAT_A[@]}" --alias site --dry-run; logit
expect_grep "script: dry run names the script" "^  run $(re_esc "$T/bin/inst.sh") site$" "$T/out"
[ ! -e "$SD/args" ] && ok || fail "script: ran during a dry run"
expect_ok "script: install" env HOME=/home/tester USER=tester LOGNAME=tester CANARY_LEAK=leak-4711 \
  "$C" tls install ep-script "${MAT_A[@]}" --alias site --data "$D" < /dev/null; logit
printf '1\nsite\n' > "$T/want.args"
same_bytes "script: argv is the alias alone" "$T/want.args" "$SD/args"
expect_grep "script: CERTO_ALIAS" '^CERTO_ALIAS=site$' "$SD/env"
expect_grep "script: CERTO_KEYSTORE" "^CERTO_KEYSTORE=$(re_esc "$SD/k.p12")$" "$SD/env"
expect_grep "script: LANG" '^LANG=C$' "$SD/env"
expect_grep "script: PATH" '^PATH=' "$SD/env"
# Only PATH, LANG and CERTO_* (PWD is what /bin/sh adds itself).
bad_env=$(cut -d= -f1 "$SD/env" | grep -Ev '^(PATH|LANG|PWD|CERTO_[A-Z_]+)$' || true)
[ -z "$bad_env" ] && ok || fail "script: environment passed on: $bad_env"
grep -Eq '^(HOME|USER|LOGNAME|CANARY_LEAK)=' "$SD/env" && fail "script: caller's environment leaked" || ok
hist_json ep-script "$T/h.json"
pyck "script: output in the history" "$T/h.json" \
  'd[0]["outcome"] == "ok" and "install script saw site" in d[0]["output"] and "a note on standard error" in d[0]["output"] and "exit 0" in d[0]["output"]'
cg tls history ep-script > "$T/ht.txt" 2>> "$LOG" || fail "script: tls history"
expect_grep "script: text history shows the output" '^      install script saw site$' "$T/ht.txt"

# A failing install script: exit 1, the keystore as before.
cat > "$T/bin/inst.sh" <<'EOF'
#!/bin/sh
echo boom-out
echo boom-err >&2
exit 1
EOF
failed_txn "script exits 1" 1 \
  "^certo tls install: failed at step activate: install script $(re_esc "$T/bin/inst.sh") exited with status 1; the endpoint was rolled back$" \
  activate cg tls install ep-script "${MAT_B[@]}" --alias site
pyck "script exits 1: output in the history" "$T/rh.after" \
  '"boom-out" in d[0]["output"] and "boom-err" in d[0]["output"] and "exit 1" in d[0]["output"]'
mode_owner "script exits 1: mode and owner restored" "$SD/k.p12" 640 "$OWNER"

# A hanging install script: killed after --script-timeout. Its child records its pid, so
# that the test can kill it if it survives.
cat > "$T/bin/inst.sh" <<EOF
#!/bin/sh
echo hanging
sleep 60.4711 &
echo \$! > "$T/sleep.pid"
wait
EOF
t0=$(date +%s%N)
failed_txn "script hangs" 1 \
  "^certo tls install: failed at step activate: install script $(re_esc "$T/bin/inst.sh") did not finish within 1 s; the endpoint was rolled back$" \
  activate cg tls install ep-script "${MAT_B[@]}" --alias site --script-timeout 1
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -lt 10000 ] && ok || fail "script hangs: the install took $ms ms with --script-timeout 1"
SLEEP_PID=$(cat "$T/sleep.pid" 2> /dev/null || true)
[[ $SLEEP_PID =~ ^[0-9]+$ ]] && ok || fail "script hangs: the script did not start its child"
STARTED+=("$SLEEP_PID 60.4711")
sleep 0.2
pgrep -f 'sleep 60[.]4711' > /dev/null && fail "script hangs: the script's child outlived the timeout" || ok
if still_running "$SLEEP_PID" 60.4711; then
  fail "script hangs: the script's child $SLEEP_PID outlived the timeout"; kill "$SLEEP_PID" 2> /dev/null || true
else ok; fi
pyck "script hangs: history says so" "$T/rh.after" '"hanging" in d[0]["output"] and "timed out after 1 s" in d[0]["output"]'

# The script gets the alias as one argument, never through a shell.
cat > "$T/bin/inst.sh" <<EOF
#!/bin/sh
printf '%s\n' "\$#" "\$@" > "$SD/args"
EOF
META='we b;touch $T/PWNED $(touch $T/PWNED2) `id`'
expect_ok "script: alias with shell metacharacters" cg tls install ep-script "${MAT_A[@]}" --alias "$META"; logit
printf '1\n%s\n' "$META" > "$T/want.args"
same_bytes "script: metacharacters reach the script as one argument" "$T/want.args" "$SD/args"
[ ! -e "$T/PWNED" ] && [ ! -e "$T/PWNED2" ] && ok || fail "script: alias went through a shell"
p12_has "script: alias with metacharacters stored" "$SD/k.p12" "$META" "$FP_A"
expect_ok "script: rollback the metacharacter install" cg tls rollback ep-script; logit
# Rollback skips the failed installs: back to the file before the first (ok) install.
expect_ok "script: rollback after failed installs" cg tls rollback ep-script; logit
same_bytes "script: rollback skips failed installs" "$T/base.p12" "$SD/k.p12"

# Restart.
fsnap "$T/rs.before" "${RF[@]}"
expect_ok "restart" cg tls restart ep-script; logit
expect_grep "restart: script output" '^restarted-ok$' "$T/out"
expect_grep "restart: message" "^Restarted endpoint 'ep-script' \(history #[0-9]+\)$" "$T/out"
printf '0\n' > "$T/want.args"
same_bytes "restart: script runs without arguments" "$T/want.args" "$T/restart.args"
fsnap "$T/rs.after" "${RF[@]}"; same_state "restart leaves the keystore alone" "$T/rs.before" "$T/rs.after"
hist_json ep-script "$T/h.json"
pyck "restart: in the history" "$T/h.json" 'd[0]["kind"] == "restart" and d[0]["outcome"] == "ok" and "restarted-ok" in d[0]["output"]'
rm -f "$T/restart.args"
expect_ok "restart --dry-run" cg tls restart ep-script --dry-run; logit
expect_grep "restart --dry-run: names the script" "^Dry run: would run $(re_esc "$T/bin/restart.sh")$" "$T/out"
[ ! -e "$T/restart.args" ] && ok || fail "restart --dry-run ran the script"
printf '#!/bin/sh\necho restart-broken\nexit 3\n' > "$T/bin/restart.sh"
expect_fail "restart script fails" 1 "restart script $(re_esc "$T/bin/restart.sh") exited with status 3" \
  cg tls restart ep-script; logit
hist_json ep-script "$T/h.json"
pyck "restart failure in the history" "$T/h.json" 'd[0]["kind"] == "restart" and d[0]["outcome"] == "failed" and "restart-broken" in d[0]["output"]'
expect_fail "restart without a restart script" 2 "^certo tls restart: endpoint ep-p12 has no restart script$" \
  cg tls restart ep-p12; logit

# ==== 3. failures: byte-identical files, no staged or temporary file ====
RF=("$T/p12/k.p12") RN=ep-p12
refused "key does not match the certificate" 2 \
  "^certo tls install: the private key does not match the certificate $(re_esc "$A_CRT")$" \
  cg tls install ep-p12 --cert "$A_CRT" --key "$B_KEY" --chain "$CHAIN"

# Wrong store password: the keystore's password changed behind Certo's back.
mkdir -p "$T/pw2"; cp "$T/base.p12" "$T/pw2/k.p12"; own "$T/pw2/k.p12"
add_ep ep-pw p12 --path "$T/pw2/k.p12" --store_password_file "$T/pw"
kt -storepasswd -new another-secret -keystore "$T/pw2/k.p12" -storetype PKCS12 -storepass changeit \
  >> "$LOG" 2>&1 || fail "keytool -storepasswd"
RF=("$T/pw2/k.p12") RN=ep-pw
refused "wrong store password" 2 \
  "^certo tls install: the store password does not open $(re_esc "$T/pw2/k.p12")$" \
  cg tls install ep-pw "${MAT_A[@]}"
expect_fail "wrong store password: check" 2 "the store password does not open" cg tls check ep-pw; logit
expect_grep "wrong store password: check report" '^wrong password: ' "$T/out"

# These need tmpfs mounts: as root (how the tests run) a mount that fails is a failure.
if [ "$(id -u)" != 0 ]; then
  echo "skip: disk full and read-only directory need root for tmpfs mounts" >&2
elif ! mkdir -p "$T/full" ||
  ! mount -t tmpfs -o size=1m,mode=0755 certo-it-full "$T/full" 2> "$T/mount.err"; then
  fail "disk full: cannot mount a tmpfs on $T/full as root: $(cat "$T/mount.err" 2> /dev/null)"
else
  MOUNTS+=("$T/full")
  # Disk full: the keystore fits, a staged copy does not.
  cp "$T/base.p12" "$T/full/k.p12"; own "$T/full/k.p12"
  add_ep ep-full p12 --path "$T/full/k.p12" --store_password_file "$T/pw"
  dd if=/dev/zero of="$T/full/filler" bs=1k 2> /dev/null || true
  [ "$(df --output=avail -k "$T/full" | tail -1 | tr -d ' ')" = 0 ] && ok || fail "disk full: tmpfs not full"
  RF=("$T/full/k.p12") RN=ep-full
  failed_txn "disk full" 1 \
    "^certo tls install: failed at step stage: cannot write .*: No space left on device; the endpoint was rolled back$" \
    stage cg tls install ep-full "${MAT_A[@]}"
  rm -f "$T/full/filler"
  expect_ok "disk full: installs once there is room" cg tls install ep-full "${MAT_A[@]}"; logit
  no_stage "$T/full"

  # A read-only directory.
  mkdir -p "$T/ro"
  if mount -t tmpfs -o size=1m,mode=0755 certo-it-ro "$T/ro" 2> "$T/mount.err"; then
    MOUNTS+=("$T/ro")
    cp "$T/base.p12" "$T/ro/k.p12"; own "$T/ro/k.p12"
    add_ep ep-ro p12 --path "$T/ro/k.p12" --store_password_file "$T/pw"
    mount -o remount,ro "$T/ro" 2> "$T/mount.err" && ok ||
      fail "read-only directory: cannot remount $T/ro read-only: $(cat "$T/mount.err")"
    RF=("$T/ro/k.p12") RN=ep-ro
    failed_txn "read-only directory" 2 \
      "^certo tls install: failed at step stage: cannot write .*: Read-only file system; the endpoint was rolled back$" \
      stage cg tls install ep-ro "${MAT_A[@]}"
    expect_fail "read-only directory: check" 2 "not writable: .*$(re_esc "$T/ro")" cg tls check ep-ro; logit
    expect_grep "read-only directory: check report" "^not writable: directory $(re_esc "$T/ro") " "$T/out"
    mount -o remount,rw "$T/ro" 2> "$T/mount.err" && ok ||
      fail "read-only directory: cannot remount $T/ro writable: $(cat "$T/mount.err")"
    expect_ok "read-only directory: installs once writable" cg tls install ep-ro "${MAT_A[@]}"; logit
  else fail "read-only directory: cannot mount a second tmpfs on $T/ro: $(cat "$T/mount.err")"; fi
fi

# ==== 5. bad input: exit 2, one line, nothing changed ====
mkdir -p "$T/bad"; cp "$T/base.p12" "$T/bad/k.p12"; own "$T/bad/k.p12"
add_ep ep-bad p12 --path "$T/bad/k.p12" --store_password_file "$T/pw" --install_script "$T/bin/ok.sh"
RF=("$T/bad/k.p12") RN=ep-bad
fsnap "$T/bad.s0" "${RF[@]}"
refused "expired certificate" 2 \
  '^certo tls install: --cert: the certificate expired on 2021-01-01T00:00:00Z \(--force installs it anyway\)$' \
  cg tls install ep-bad --cert "$F/expired.crt" --key "$F/expired.key" --chain "$CHAIN"
refused "not yet valid certificate" 2 \
  '^certo tls install: --cert: the certificate is not valid before 2040-01-01T00:00:00Z \(--force installs it anyway\)$' \
  cg tls install ep-bad --cert "$F/notyet.crt" --key "$F/notyet.key" --chain "$CHAIN"
expect_ok "expired certificate with --force" cg tls install ep-bad --cert "$F/expired.crt" \
  --key "$F/expired.key" --chain "$CHAIN" --force; logit
p12_has "expired with --force: installed" "$T/bad/k.p12" expired.example.test "$(fp_of "$F/expired.crt")"
expect_ok "notyet with --force" cg tls install ep-bad --cert "$F/notyet.crt" --key "$F/notyet.key" \
  --chain "$CHAIN" --force --alias notyet; logit
expect_ok "rollback --force installs" cg tls rollback ep-bad; logit
expect_ok "rollback --force installs" cg tls rollback ep-bad; logit
fsnap "$T/bad.s" "${RF[@]}"; same_state "bad: back to the original" "$T/bad.s0" "$T/bad.s"
# An incomplete chain is a warning, not an error.
expect_ok "incomplete chain installs" cg tls install ep-bad --cert "$A_CRT" --key "$A_KEY" --alias inc; logit
if [ "$(wc -l < "$T/err")" = 1 ] &&
  grep -Eq "^certo tls: warning: the chain is incomplete: its last certificate was issued by 'CN=Certo Test Intermediate CA', which is not included$" "$T/err"
then ok; else fail "incomplete chain: want one warning line, stderr: $(cat "$T/err")"; fi
p12_has "incomplete chain: installed" "$T/bad/k.p12" inc "$FP_A"
expect_ok "incomplete chain: rollback" cg tls rollback ep-bad; logit
refused "missing material" 2 '^certo tls install: no material: give --cert \(with --key and --chain\) or --pkcs12$' \
  cg tls install ep-bad --key "$A_KEY"
refused "missing key" 2 '^certo tls install: no private key given' \
  cg tls install ep-bad --cert "$A_CRT" --chain "$CHAIN"
refused "alias with a tab" 2 '^certo tls install: --alias: alias contains a control character \(byte 2\)$' \
  cg tls install ep-bad "${MAT_A[@]}" --alias $'a\tb'
refused "alias with DEL" 2 '^certo tls install: --alias: alias contains a control character \(byte 2\)$' \
  cg tls install ep-bad "${MAT_A[@]}" --alias $'a\x7fb'
refused "alias with a newline" 2 '^certo tls install: --alias: alias contains a control character' \
  cg tls install ep-bad "${MAT_A[@]}" --alias $'a\nb'
refused "alias not UTF-8" 2 '^certo tls install: --alias: alias is not valid UTF-8' \
  cg tls install ep-bad "${MAT_A[@]}" --alias $'a\xffb'
refused "unknown endpoint" 2 "^certo tls install: no endpoint named or with ID 'no-such'" \
  cg tls install no-such "${MAT_A[@]}"
refused "--script-timeout 0" 2 "^certo tls install: --script-timeout: '0' is not an integer from 1 to 86400$" \
  cg tls install ep-bad "${MAT_A[@]}" --script-timeout 0
fsnap "$T/bad.s" "${RF[@]}"; same_state "bad: original after all bad input" "$T/bad.s0" "$T/bad.s"

# A script path that does not exist: refused when the endpoint is added...
cg tls list --json > "$T/l.before" 2>> "$LOG"
expect_fail "add with a missing install script" 2 "install_script.*$(re_esc "$T/bin/nonexistent.sh")" \
  cg tls add p12 --name ep-noscript --connection_type local --path "$T/bad/k.p12" \
  --store_password_file "$T/pw" --install_script "$T/bin/nonexistent.sh"; logit
cg tls list --json > "$T/l.after" 2>> "$LOG"
same_bytes "add with a missing install script: registry unchanged" "$T/l.before" "$T/l.after"
# ... and when it disappears later, check names it and install leaves everything unchanged.
mkdir -p "$T/gone"; cp "$T/base.p12" "$T/gone/k.p12"; own "$T/gone/k.p12"
cp "$T/bin/ok.sh" "$T/bin/gone.sh"
add_ep ep-gone p12 --path "$T/gone/k.p12" --store_password_file "$T/pw" --install_script "$T/bin/gone.sh"
rm "$T/bin/gone.sh"
expect_fail "script gone: check" 2 "missing: install script $(re_esc "$T/bin/gone.sh")" cg tls check ep-gone; logit
expect_grep "script gone: check report" "^missing: install script $(re_esc "$T/bin/gone.sh")" "$T/out"
RF=("$T/gone/k.p12") RN=ep-gone
fsnap "$T/gone.before" "${RF[@]}"
expect_fail "script gone: install" 2 \
  "^certo tls install: failed at step activate: cannot run install script $(re_esc "$T/bin/gone.sh") \(No such file or directory\); the endpoint was rolled back$" \
  cg tls install ep-gone "${MAT_A[@]}"; logit
fsnap "$T/gone.after" "${RF[@]}"; same_state "script gone: install" "$T/gone.before" "$T/gone.after"
no_stage "$T/gone"

no_temp_files "$D"
done_all
