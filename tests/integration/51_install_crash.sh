#!/usr/bin/env bash
# The install transaction under kill -9 and under concurrency (issue 4): the test hook
# CERTO_TEST_CRASH_AT=<step> kills certo at each step; the keystore must then hold the old
# or the new entry (never a broken file), and the next command on the endpoint (check,
# install, restart) must roll back, or finish a committed install, leaving no journal and
# no staged file, with the history saying what happened. Then 20 parallel installs onto
# 20 endpoints (in parallel) and 10 onto one endpoint (serialized: nothing lost).
source "$(dirname "$0")/lib.bash"
source "$(dirname "$0")/data/install/common.bash"

make_base p12 "$T/base.p12"
ks_parse "base p12 reads" "$T/base.p12" "$T/base.json"

# crash_run STEP CMD...: runs CMD with the crash hook at STEP; it must die of SIGKILL.
crash_run() {
  local step=$1 rc=0; shift
  # (in a subshell whose stderr is dropped: bash's "Killed" job message is not ours)
  (CERTO_TEST_CRASH_AT=$step "$@" > "$T/out" 2> "$T/err" < /dev/null; exit $?) 2> /dev/null || rc=$?
  logit "crash at $step"
  [ "$rc" = 137 ] && ok || fail "crash at $step: exit $rc, want 137 (SIGKILL) (stderr: $(head -c 300 "$T/err"))"
}
# install_row JSON OUT: the newest install of a history (JSON), or {}.
install_row() {
  python3 -c 'import json,sys; h=[x for x in json.load(open(sys.argv[1])) if x["kind"] == "install"]; json.dump(h[0] if h else {}, sys.stdout)' "$1" > "$2"
}

# ==== 4. crash at each step: p12 with an install script (so that activate does something) ====
mkdir -p "$T/crash"
KS=$T/crash/k.p12
cat > "$T/bin/count.sh" <<EOF
#!/bin/sh
echo "\$1" >> "$T/crash.ran"
EOF
chmod 755 "$T/bin/count.sh"
cp "$T/base.p12" "$KS"; chmod 640 "$KS"
add_ep crash p12 --path "$KS" --store_password_file "$T/pw" --install_script "$T/bin/count.sh" \
  --restart_script "$T/bin/ok.sh"
CID=$ID
# How the next command on the endpoint is run after each crash: it must recover first.
declare -A NEXT=([journal]=check [stage]=dry-run [swap1]=check [swap]=restart [activate]=check
  [verify]=install [commit]=check)
for step in journal stage swap1 swap activate verify commit; do
  cp "$T/base.p12" "$KS"; chmod 640 "$KS"
  rm -f "$T/crash.ran"
  crash_run "$step" "$C" tls install crash "${MAT_A[@]}" --alias site --data "$D"
  [ -d "$D/journal/$CID" ] && ok || fail "crash at $step: no journal left behind"
  hist_json crash "$T/h.json"; install_row "$T/h.json" "$T/row.json"
  pyck "crash at $step: history shows it running" "$T/row.json" 'd.get("outcome") == "running"'
  # The file as the crash left it: old or new, never broken.
  ks_parse "crash at $step: keystore parses" "$KS" "$T/now.json"
  case $step in
    journal | stage)
      same_bytes "crash at $step: keystore untouched" "$T/base.p12" "$KS"
      pyck "crash at $step: old entries" "$T/now.json" 'd == json.load(open(a[0]))' "$T/base.json" ;;
    *) store_has "crash at $step: new entry in place" "$T/now.json" "$T/base.json" site "$FP_A" 3 ;;
  esac
  if [ "$step" = stage ]; then
    [ -n "$(find "$T/crash" -name '.k.p12.certo-stage-*')" ] && ok || fail "crash at stage: no staged file"
  fi
  case $step in
    activate | verify | commit) [ -s "$T/crash.ran" ] && ok || fail "crash at $step: install script did not run" ;;
    *) [ ! -e "$T/crash.ran" ] && ok || fail "crash at $step: install script ran before activate" ;;
  esac

  # The next command recovers.
  case ${NEXT[$step]} in
    check)
      expect_ok "crash at $step: check recovers" cg tls check crash; logit
      if [ "$step" = commit ]; then
        # A committed install is finished, not rolled back: the note must not say so.
        grep -q 'rolled back' "$T/out" && fail "crash at commit: check says '$(grep 'rolled back' "$T/out")' but the install was finished" || ok
      else
        expect_grep "crash at $step: check notes the rollback" '^note: an interrupted install was rolled back$' "$T/out"
      fi ;;
    dry-run)
      expect_ok "crash at $step: install --dry-run recovers" cg tls install crash "${MAT_A[@]}" --alias site --dry-run; logit
      expect_grep "crash at $step: dry run notes the rollback" "^certo tls install: note: an interrupted transaction on 'crash' was rolled back first$" "$T/err" ;;
    restart)
      expect_ok "crash at $step: restart recovers" cg tls restart crash; logit ;;
    install)
      expect_ok "crash at $step: the next install recovers and installs" cg tls install crash "${MAT_B[@]}" --alias site; logit
      expect_grep "crash at $step: install notes the rollback" "note: an interrupted transaction on 'crash' was rolled back first" "$T/err"
      ks_parse "crash at $step: after the next install" "$KS" "$T/now.json"
      store_has "crash at $step: next install's entry" "$T/now.json" "$T/base.json" site "$FP_B" 3
      # ... and its rollback goes to the file before it, i.e. the original (the crashed
      # install was rolled back, not kept).
      expect_ok "crash at $step: rollback of the next install" cg tls rollback crash; logit ;;
  esac
  no_journal "$CID"
  no_stage "$T/crash"
  hist_json crash "$T/h.json"; install_row "$T/h.json" "$T/row.json"
  if [ "$step" = commit ]; then
    ks_parse "crash at commit: after recovery" "$KS" "$T/now.json"
    store_has "crash at commit: finished, new entry" "$T/now.json" "$T/base.json" site "$FP_A" 3
    pyck "crash at commit: history ok" "$T/row.json" 'd.get("outcome") == "ok"'
    pyck "crash at commit: history keeps the fingerprints" "$T/row.json" 'd.get("fp_after") == a[0]' "$FP_A"
    [ -d "$D/backups/$CID/$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$T/row.json")" ] &&
      ok || fail "crash at commit: no backup kept"
    expect_ok "crash at commit: rollback" cg tls rollback crash; logit
    same_bytes "crash at commit: rollback restores the original" "$T/base.p12" "$KS"
  else
    same_bytes "crash at $step: rolled back byte for byte" "$T/base.p12" "$KS"
    [ "$(stat -c %a "$KS")" = 640 ] && ok || fail "crash at $step: mode $(stat -c %a "$KS")"
    if [ "${NEXT[$step]}" != install ]; then
      pyck "crash at $step: history says interrupted" "$T/row.json" \
        'd.get("outcome") == "interrupted" and "interrupted" in d.get("message", "")'
    else
      pyck "crash at $step: history says interrupted" "$T/h.json" \
        '[h["outcome"] for h in d if h["kind"] == "install"][1] == "interrupted"'
    fi
  fi
done
# Nothing the crashes left is offered for rollback.
expect_fail "crash: nothing left to roll back" 2 "no earlier material to roll back to" cg tls rollback crash; logit
same_bytes "crash: still the original" "$T/base.p12" "$KS"

# Two files: a PEM certificate file with a sibling key file, killed after the first rename.
mkdir -p "$T/cpem"
cp "$F/leaf-rsa2048.crt" "$T/cpem/site.crt"; chmod 644 "$T/cpem/site.crt"
cp "$F/leaf-rsa2048.key" "$T/cpem/site.key"; chmod 600 "$T/cpem/site.key"
cp -p "$T/cpem/site.crt" "$T/cpem.crt0"; cp -p "$T/cpem/site.key" "$T/cpem.key0"
add_ep crashpem pem --path "$T/cpem/site.crt"
PID_=$ID
fsnap "$T/cpem.s0" "$T/cpem/site.crt" "$T/cpem/site.key"
for step in swap1 swap; do
  crash_run "$step" "$C" tls install crashpem "${MAT_A[@]}" --data "$D"
  [ "$(fp_of "$T/cpem/site.crt")" = "$FP_A" ] && ok || fail "pem crash at $step: certificate file not swapped yet"
  if [ "$step" = swap1 ]; then
    same_bytes "pem crash at swap1: key file not swapped yet" "$T/cpem.key0" "$T/cpem/site.key"
  else key_matches "pem crash at swap: both swapped" "$T/cpem/site.key" "$T/cpem/site.crt"; fi
  expect_ok "pem crash at $step: check recovers" cg tls check crashpem; logit
  same_bytes "pem crash at $step: certificate file restored" "$T/cpem.crt0" "$T/cpem/site.crt"
  same_bytes "pem crash at $step: key file restored" "$T/cpem.key0" "$T/cpem/site.key"
  fsnap "$T/cpem.s" "$T/cpem/site.crt" "$T/cpem/site.key"
  same_state "pem crash at $step: both files as before" "$T/cpem.s0" "$T/cpem.s"
  no_journal "$PID_"; no_stage "$T/cpem"
done
# ... and a key file the install creates is removed again.
mkdir -p "$T/cpem2"
cp "$F/leaf-rsa2048.crt" "$T/cpem2/site.crt"; cp -p "$T/cpem2/site.crt" "$T/cpem2.crt0"
add_ep crashpem2 pem --path "$T/cpem2/site.crt"
P2=$ID
crash_run swap "$C" tls install crashpem2 "${MAT_A[@]}" --data "$D"
[ -e "$T/cpem2/site.key" ] && ok || fail "pem crash: new key file not there at swap"
expect_ok "pem crash, new key file: install recovers" cg tls install crashpem2 "${MAT_A[@]}" --dry-run; logit
same_bytes "pem crash, new key file: certificate restored" "$T/cpem2.crt0" "$T/cpem2/site.crt"
[ ! -e "$T/cpem2/site.key" ] && ok || fail "pem crash: the key file the install created survived the rollback"
no_journal "$P2"; no_stage "$T/cpem2"

# ==== 6. concurrency ====
# 20 endpoints, 20 installs at once; each install script sleeps 1 s, so serialized runs
# would take 20 s.
cat > "$T/bin/slow.sh" <<'EOF'
#!/bin/sh
sleep 1
EOF
chmod 755 "$T/bin/slow.sh"
mkdir -p "$T/par"
for i in $(seq 20); do
  cp "$F/keytool.p12" "$T/par/k$i.p12"
  add_ep "par-$i" p12 --path "$T/par/k$i.p12" --store_password_file "$T/pw" --install_script "$T/bin/slow.sh"
done
t0=$(date +%s%N)
pids=()
for i in $(seq 20); do
  "$C" tls install "par-$i" "${MAT_A[@]}" --alias par --data "$D" < /dev/null \
    > "$T/par/$i.out" 2> "$T/par/$i.err" & pids+=($!)
done
n=0
for i in $(seq 20); do
  rc=0; wait "${pids[$((i - 1))]}" || rc=$?
  cat "$T/par/$i.out" "$T/par/$i.err" >> "$LOG"
  if [ "$rc" = 0 ]; then n=$((n + 1)); else fail "parallel install par-$i: exit $rc: $(cat "$T/par/$i.err")"; fi
done
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$n" = 20 ] && ok || fail "20 parallel installs: $n succeeded"
[ "$ms" -lt 12000 ] && ok || fail "20 installs on 20 endpoints took $ms ms: not run in parallel"
for i in $(seq 20); do p12_has "parallel: par-$i holds the entry" "$T/par/k$i.p12" par "$FP_A"; done
kt -list -keystore "$T/par/k7.p12" -storepass changeit > "$T/kt7.txt" 2>&1 || fail "keytool reads par-7"
[ "$(grep -c 'PrivateKeyEntry\|trustedCertEntry' "$T/kt7.txt")" = 4 ] && ok || fail "par-7: $(cat "$T/kt7.txt")"
no_stage "$T/par"

# 10 installs onto one endpoint at once, 10 aliases: all kept (no lost update), one at a
# time (the install script logs start and end; the intervals must not overlap).
mkdir -p "$T/one" "$T/certs"
cp "$T/base.p12" "$T/one/k.p12"
cat > "$T/bin/serial.sh" <<EOF
#!/bin/sh
echo "start \$1 \$(date +%s%N)" >> "$T/serial.log"
sleep 0.2
echo "end \$1 \$(date +%s%N)" >> "$T/serial.log"
EOF
chmod 755 "$T/bin/serial.sh"
add_ep one p12 --path "$T/one/k.p12" --store_password_file "$T/pw" --install_script "$T/bin/serial.sh"
declare -A CFP
for i in $(seq 10); do
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/certs/c$i.key" 2>> "$LOG"
  openssl req -new -key "$T/certs/c$i.key" -subj "/CN=c$i.example.test" 2>> "$LOG" |
    openssl x509 -req -CA "$F/int.crt" -CAkey "$F/int.key" -set_serial "$((1000 + i))" -days 30 \
      -out "$T/certs/c$i.crt" 2>> "$LOG"
  CFP[$i]=$(fp_of "$T/certs/c$i.crt")
done
pids=()
for i in $(seq 10); do
  "$C" tls install one --cert "$T/certs/c$i.crt" --key "$T/certs/c$i.key" --chain "$CHAIN" \
    --alias "c$i" --data "$D" < /dev/null > "$T/one.$i.out" 2> "$T/one.$i.err" & pids+=($!)
done
n=0
for i in $(seq 10); do
  rc=0; wait "${pids[$((i - 1))]}" || rc=$?
  cat "$T/one.$i.out" "$T/one.$i.err" >> "$LOG"
  if [ "$rc" = 0 ]; then n=$((n + 1)); else fail "install c$i onto one endpoint: exit $rc: $(cat "$T/one.$i.err")"; fi
done
[ "$n" = 10 ] && ok || fail "10 installs onto one endpoint: $n succeeded"
ks_parse "one endpoint: keytool reads" "$T/one/k.p12" "$T/now.json"
args=()
for i in $(seq 10); do args+=("c$i" "${CFP[$i]}"); done
python3 - "$T/now.json" "$T/base.json" "${args[@]}" <<'PY' 2> "$T/pyerr" && ok || fail "one endpoint: $(tail -1 "$T/pyerr")"
import json, sys
now, base = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
want = dict(zip(sys.argv[3::2], sys.argv[4::2]))
for k, v in base.items():
    assert now.get(k) == v, "entry %r lost or changed" % k
for alias, fp in want.items():
    e = now.get(alias)
    assert e and e["type"] == "PrivateKeyEntry" and e["fp"] == fp and e["chain"] == 3, "%s: %r" % (alias, e)
assert len(now) == len(base) + 10, sorted(now)
PY
hist_json one "$T/h.json"
pyck "one endpoint: 10 installs ok in the history" "$T/h.json" \
  'sorted(h["alias"] for h in d if h["kind"] == "install" and h["outcome"] == "ok") == sorted("c%d" % i for i in range(1, 11)) and len(d) == 10'
python3 - "$T/serial.log" <<'PY' 2> "$T/pyerr" && ok || fail "one endpoint: installs overlapped: $(tail -1 "$T/pyerr")"
import sys
lines = [l.split() for l in open(sys.argv[1])]
assert len(lines) == 20, len(lines)
last = 0
for i in range(0, 20, 2):
    (s, a, t0), (e, b, t1) = lines[i], lines[i + 1]
    assert s == "start" and e == "end" and a == b, (lines[i], lines[i + 1])
    assert int(t0) >= last, "started before the previous ended"
    last = int(t1)
PY
no_stage "$T/one"

# ==== removing an endpoint in the middle of a transaction: it is rolled back first, and
# the endpoint's backups (private keys) and lock go with it ====
mkdir -p "$T/rm"
RK=$T/rm/k.p12
cp "$T/base.p12" "$RK"
add_ep leaving p12 --path "$RK" --store_password_file "$T/pw"
RID=$ID
expect_ok "leaving: first install" cg tls install leaving --cert "$F/leaf-ec256.crt" \
  --key "$F/leaf-ec256.key" --chain "$F/chain.pem"
cp "$RK" "$T/rm/after-first.p12"
crash_run swap cg tls install leaving --cert "$F/leaf-rsa2048.crt" --key "$F/leaf-rsa2048.key" \
  --chain "$F/chain.pem"
[ -d "$D/journal/$RID" ] && ok || fail "leaving: no journal after the crash"
expect_ok "leaving: remove" cg tls remove leaving
same_bytes "leaving: the crashed install was rolled back by remove" "$T/rm/after-first.p12" "$RK"
[ ! -e "$D/journal/$RID" ] && ok || fail "leaving: journal left after remove"
[ ! -e "$D/backups/$RID" ] && ok || fail "leaving: backups (private keys) left after remove"
[ ! -e "$D/locks/$RID.lock" ] && ok || fail "leaving: lock file left after remove"
no_stage "$T/rm"

no_temp_files "$D"
done_all
