#!/usr/bin/env bash
# certo keystore list|put|remove|export on PEM, PKCS#12 and JKS: entries kept, files
# replaced atomically with owner and mode kept, and every kind of bad input refused with
# exit 2, one line naming the problem, the keystore byte-for-byte unchanged and no
# temporary file left.
source "$(dirname "$0")/lib.bash"
C=$CERTO

for ext in pem p12 jks; do
  ks=$T/store.$ext
  # A new store: created 0600.
  expect_ok "$ext: put creates" $C keystore put "$ks" --alias web --cert "$F/leaf-rsa2048.crt" \
    --key "$F/leaf-rsa2048.key" --chain "$F/chain.pem" --password-file "$T/pw"
  [ "$(stat -c %a "$ks")" = 600 ] && ok || fail "$ext: new store mode $(stat -c %a "$ks")"
  expect_ok "$ext: list" $C keystore list "$ks" --password-file "$T/pw"
  expect_grep "$ext: list shows the key entry" 'Entry type: PrivateKeyEntry' "$T/out"
  expect_grep "$ext: chain of 3" 'Chain length: 3' "$T/out"
  if [ $ext != pem ]; then
    chmod 0640 "$ks"
    expect_ok "$ext: second entry" $C keystore put "$ks" --alias ec --cert "$F/leaf-ec256.crt" \
      --key "$F/leaf-ec256.key" --chain "$F/int.crt" --password-file "$T/pw"
    expect_ok "$ext: trusted entry" $C keystore put "$ks" --trusted --alias root \
      --cert "$F/ca.crt" --password-file "$T/pw"
    [ "$(stat -c %a "$ks")" = 640 ] && ok || fail "$ext: mode not kept: $(stat -c %a "$ks")"
    expect_ok "$ext: list json" $C keystore list "$ks" --password-file "$T/pw" --json
    python3 - "$T/out" $ext <<'PY' && ok || fail "$ext: JSON entries"
import json, sys
d = json.load(open(sys.argv[1]))
kinds = {e["alias"]: (e["kind"], e["chain_length"]) for e in d["entries"]}
# PKCS#12 ties only the leaf to its key; a reader (ours, like Java's) builds each chain
# from all certificates of the file, so the root of 'web' completes the chain of 'ec'.
ec = 3 if sys.argv[2] == "p12" else 2
assert kinds == {"web": ("key", 3), "ec": ("key", ec), "root": ("trusted", 1)}, kinds
PY
    # Replace 'web' by another key: the other entries are untouched.
    expect_ok "$ext: replace" $C keystore put "$ks" --alias web --cert "$F/leaf-ed25519.crt" \
      --key "$F/leaf-ed25519.key" --chain "$F/int.crt" --password-file "$T/pw"
    expect_ok "$ext: list after replace" $C keystore list "$ks" --password-file "$T/pw" --json
    python3 - "$T/out" <<'PY' && ok || fail "$ext: replace kept others"
import json, sys
d = json.load(open(sys.argv[1]))
e = {x["alias"]: x for x in d["entries"]}
assert len(e) == 3 and e["web"]["key_type"] == "Ed25519" and e["ec"]["key_type"] == "EC", e
PY
    expect_ok "$ext: remove" $C keystore remove "$ks" --alias ec --password-file "$T/pw"
    expect_fail "$ext: remove missing alias" 2 "no entry" \
      $C keystore remove "$ks" --alias ec --password-file "$T/pw"
    expect_ok "$ext: export pem" $C keystore export "$ks" --alias web --out "$T/exp.$ext.pem" \
      --password-file "$T/pw"
    openssl pkey -in "$T/exp.$ext.pem" -pubout > "$T/a.pub" 2>/dev/null
    openssl pkey -in "$F/leaf-ed25519.key" -pubout > "$T/b.pub"
    same_bytes "$ext: exported key is the stored key" "$T/a.pub" "$T/b.pub"
    [ "$(stat -c %a "$T/exp.$ext.pem")" = 600 ] && ok || fail "$ext: export with a key not 0600"
  fi
  no_temp_files "$T"
done

# PEM files grow their layout instead of dropping content on put.
cp "$F/leaf-ec256.crt" "$T/one.pem"
expect_ok "pem: trusted into a one-certificate file" $C keystore put "$T/one.pem" --trusted \
  --alias myca --cert "$F/ca.crt"
[ "$(grep -c 'BEGIN CERTIFICATE' "$T/one.pem")" = 2 ] && ok || fail "one.pem lost a certificate"
cp "$F/leaf-ec256.crt" "$T/two.pem"
expect_ok "pem: key entry into a certificate file" $C keystore put "$T/two.pem" \
  --cert "$F/leaf-rsa2048.crt" --key "$F/leaf-rsa2048.key"
grep -q 'PRIVATE KEY' "$T/two.pem" && ok || fail "two.pem: the key was not written"
[ "$(grep -c 'BEGIN CERTIFICATE' "$T/two.pem")" = 2 ] && ok || fail "two.pem lost a certificate"
cp "$F/fullchain-rsa2048.pem" "$T/three.pem"; cp "$T/three.pem" "$T/three.orig"
expect_fail "pem: --layout that drops content" 2 "cannot hold" $C keystore put "$T/three.pem" \
  --cert "$F/leaf-rsa2048.crt" --key "$F/leaf-rsa2048.key" --layout fullchain
same_bytes "pem: refused layout leaves the file" "$T/three.orig" "$T/three.pem"

# Legacy PKCS#12 profiles: RC2-40 certificates (default) or 3DES everywhere.
expect_ok "legacy rc2" $C keystore put "$T/leg-rc2.p12" --alias a --cert "$F/leaf-ec256.crt" \
  --key "$F/leaf-ec256.key" --password-file "$T/pw" --is-legacy true
openssl pkcs12 -legacy -info -noout -in "$T/leg-rc2.p12" -passin pass:changeit > "$T/info" 2>&1
expect_grep "rc2: certificates RC2-40" 'pbeWithSHA1And40BitRC2-CBC' "$T/info"
expect_grep "rc2: MAC sha1" 'MAC: sha1' "$T/info"
expect_ok "legacy 3des" $C keystore put "$T/leg-3des.p12" --alias a --cert "$F/leaf-ec256.crt" \
  --key "$F/leaf-ec256.key" --password-file "$T/pw" --legacy --legacy-cipher 3des
openssl pkcs12 -info -noout -in "$T/leg-3des.p12" -passin pass:changeit > "$T/info" 2>&1
expect_grep "3des: read without the legacy provider" 'pbeWithSHA1And3-KeyTripleDES-CBC' "$T/info"
if grep -q RC2 "$T/info"; then fail "3des profile used RC2"; else ok; fi
expect_fail "--legacy-cipher without legacy" 2 "needs --is-legacy" $C keystore put "$T/x.p12" \
  --alias a --cert "$F/leaf-ec256.crt" --key "$F/leaf-ec256.key" --password-file "$T/pw" \
  --legacy-cipher 3des
[ -e "$T/x.p12" ] && fail "refused put created x.p12" || ok

# export onto its own input is refused (it would replace the store with one entry).
cp "$T/store.p12" "$T/self.p12"; cp "$T/self.p12" "$T/self.orig"
expect_fail "export onto its input" 2 "is the input file" $C keystore export "$T/self.p12" \
  --alias web --format pkcs12 --out "$T/self.p12" --password-file "$T/pw" --out-password-file "$T/pw"
same_bytes "export onto its input: unchanged" "$T/self.orig" "$T/self.p12"
# A store reached through a symbolic link: the link stays, its target is replaced.
mkdir -p "$T/arch" "$T/live"; cp "$T/store.p12" "$T/arch/store1.p12"
ln -s ../arch/store1.p12 "$T/live/store.p12"
expect_ok "put through a link" $C keystore put "$T/live/store.p12" --trusted --alias viaLink \
  --cert "$F/int.crt" --password-file "$T/pw"
[ -L "$T/live/store.p12" ] && ok || fail "the link was replaced by a file"
expect_ok "list the target" $C keystore list "$T/arch/store1.p12" --password-file "$T/pw"
expect_grep "target holds the new entry" '^Alias: viaLink$' "$T/out"
no_temp_files "$T/arch"; no_temp_files "$T/live"
# Output that cannot be written is an operation failure (exit 1).
rc=0; $C keystore list "$T/store.p12" --password-file "$T/pw" > /dev/full 2> "$T/err" || rc=$?
[ "$rc" = 1 ] && ok || fail "list to /dev/full: exit $rc, want 1"

# Copy an entry between formats: it keeps its alias unless --alias renames it.
expect_ok "jks -> p12 with --from" $C keystore put "$T/copy.p12" --from "$T/store.jks" \
  --from-password-file "$T/pw" --from-alias web --password-file "$T/pw"
expect_ok "list copy" $C keystore list "$T/copy.p12" --password-file "$T/pw"
expect_grep "copied entry keeps its alias" '^Alias: web$' "$T/out"

# ---- bad input: refused with exit 2, one line, nothing changed ----
ks=$T/store.jks
p12=$T/store.p12
cp "$ks" "$T/jks.orig"; cp "$p12" "$T/p12.orig"

for s in jks p12; do
  f=$T/store.$s
  expect_fail "$s: wrong password" 2 "wrong .*password" $C keystore list "$f" --password-file "$T/badpw"
  expect_fail "$s: wrong password on put" 2 "wrong .*password" $C keystore put "$f" --alias x \
    --cert "$F/leaf-ec256.crt" --key "$F/leaf-ec256.key" --password-file "$T/badpw"
  expect_fail "$s: key does not match" 2 "does not match" $C keystore put "$f" --alias x \
    --cert "$F/leaf-rsa2048.crt" --key "$F/leaf-ec256.key" --password-file "$T/pw"
  expect_fail "$s: control character in alias" 2 "alias" $C keystore put "$f" --alias $'bad\001x' \
    --cert "$F/leaf-ec256.crt" --key "$F/leaf-ec256.key" --password-file "$T/pw"
  expect_fail "$s: empty alias" 2 "alias is empty" $C keystore put "$f" --alias '' \
    --cert "$F/leaf-ec256.crt" --key "$F/leaf-ec256.key" --password-file "$T/pw"
  expect_fail "$s: alias too long" 2 "alias is longer" $C keystore put "$f" \
    --alias "$(printf 'a%.0s' $(seq 300))" \
    --cert "$F/leaf-ec256.crt" --key "$F/leaf-ec256.key" --password-file "$T/pw"
  expect_fail "$s: broken chain" 2 "does not belong to the chain" $C keystore put "$f" --alias x \
    --cert "$F/leaf-ec256.crt" --key "$F/leaf-ec256.key" --chain "$F/selfsigned.crt" --password-file "$T/pw"
  expect_fail "$s: encrypted key, wrong password" 2 "password" $C keystore put "$f" --alias x \
    --cert "$F/leaf-ec256.crt" --key "$F/leaf-ec256-enc.key" --key-password-file "$T/badpw" \
    --password-file "$T/pw"
  expect_fail "$s: missing certificate file" 2 "cannot read" $C keystore put "$f" --alias x \
    --cert "$T/nonexistent.crt" --key "$F/leaf-ec256.key" --password-file "$T/pw"
  expect_fail "$s: bad --is-legacy" 2 "is-legacy" $C keystore put "$f" --alias x \
    --cert "$F/leaf-ec256.crt" --key "$F/leaf-ec256.key" --password-file "$T/pw" --is-legacy maybe
  expect_fail "$s: unknown option" 2 "unknown option --bogus" $C keystore list "$f" --bogus
done
same_bytes "jks unchanged after refused changes" "$T/jks.orig" "$ks"
same_bytes "p12 unchanged after refused changes" "$T/p12.orig" "$p12"

# Truncated and corrupted files of every format: exit 2, "corrupt"/"malformed", not a crash.
size=$(stat -c %s "$ks")
for n in 0 3 11 40 $((size / 2)) $((size - 21)) $((size - 1)); do
  head -c "$n" "$ks" > "$T/trunc.jks"
  expect_fail "jks truncated to $n" 2 "corrupt|not a JKS" \
    $C keystore list "$T/trunc.jks" --type jks --password-file "$T/pw"
done
size=$(stat -c %s "$p12")
for n in 1 10 100 $((size / 2)) $((size - 1)); do
  head -c "$n" "$p12" > "$T/trunc.p12"
  expect_fail "p12 truncated to $n" 2 "corrupt" $C keystore list "$T/trunc.p12" --type pkcs12 --password-file "$T/pw"
done
head -c 700 "$F/fullchain-rsa2048.pem" > "$T/trunc.pem"
expect_fail "pem truncated" 2 "malformed|no certificate" $C keystore list "$T/trunc.pem" --type pem
# A flipped byte inside the JKS body: the integrity digest no longer matches, or the
# structure breaks; either way no entry is trusted.
cp "$ks" "$T/flip.jks"
printf '\xff' | dd of="$T/flip.jks" bs=1 seek=200 conv=notrunc 2>/dev/null
expect_fail "jks corrupted byte" 2 "corrupt|password|modified" $C keystore list "$T/flip.jks" --password-file "$T/pw"
cp "$p12" "$T/flip.p12"
printf '\x00\x00\x00\x00' | dd of="$T/flip.p12" bs=1 seek=4 conv=notrunc 2>/dev/null
expect_fail "p12 corrupted header" 2 "corrupt" $C keystore list "$T/flip.p12" --password-file "$T/pw"

# Over the size limit (16 MiB): refused before parsing.
truncate -s 17M "$T/huge.jks"
expect_fail "over the size limit" 2 "limit" $C keystore list "$T/huge.jks" --password-file "$T/pw"
truncate -s 9M "$T/huge.pem"
expect_fail "certificate over the size limit" 2 "limit" $C keystore put "$T/new.jks" --alias x \
  --cert "$T/huge.pem" --key "$F/leaf-ec256.key" --password-file "$T/pw"
[ -e "$T/new.jks" ] && fail "a refused put created $T/new.jks" || ok

# Target directory not writable: as an unprivileged user (root writes anywhere).
ro=$T/ro; mkdir "$ro"; cp "$ks" "$ro/store.jks"; cp "$T/pw" "$ro/pw"
chmod 0644 "$ro/store.jks" "$ro/pw"; chmod 0555 "$ro"; chmod 0755 "$T"
as_user() { if [ "$(id -u)" = 0 ]; then setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; else "$@"; fi; }
expect_fail "directory not writable" 2 "cannot write" as_user $C keystore put "$ro/store.jks" \
  --alias x --cert "$F/leaf-ec256.crt" --key "$F/leaf-ec256.key" --password-file "$ro/pw"
same_bytes "store in read-only directory unchanged" "$T/jks.orig" "$ro/store.jks"
no_temp_files "$ro"
chmod 0700 "$ro"

# New store without a password is refused for PKCS#12 and JKS (no prompt without a tty).
expect_fail "no password" 2 "needs a password" $C keystore put "$T/nopw.p12" --alias x \
  --cert "$F/leaf-ec256.crt" --key "$F/leaf-ec256.key" < /dev/null
[ -e "$T/nopw.p12" ] && fail "nopw.p12 created" || ok
no_temp_files "$T"
finish
