#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# PKCS#12 interoperability (src/pki/pkcs12.c) with the real peers: Java 17 keytool reads
# every file `certo keystore put` writes, modern and legacy (entry types, chain lengths,
# recovered keys); OpenSSL 3.0 reads them and reports the algorithms of REFERENCE.md 2.2;
# and certo keeps the entries of a keytool-written PKCS#12 when it adds one.
# Env: CERTO (certo binary), CERTO_FIXTURES (tests/fixtures), CERTO_SRC (source tree).
# Test keys only; the password of every file is "changeit".
set -euo pipefail

: "${CERTO:?path of the certo binary}" "${CERTO_FIXTURES:?path of tests/fixtures}"
F=$CERTO_FIXTURES
for tool in keytool openssl; do
    command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/certo-p12peers-XXXXXX")
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT
printf 'changeit\n' >"$tmp/pass"

fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
check() { # check DESCRIPTION COMMAND... : passes if the command succeeds
    local what=$1
    shift
    if "$@" >"$tmp/out" 2>&1; then ok "$what"; else bad "$what"; sed 's/^/     /' "$tmp/out"; fi
}
has() { grep -qF -- "$2" "$1"; }              # has FILE TEXT
count() { grep -cF -- "$2" "$1" || true; }     # count FILE TEXT

kt() { keytool -J-Duser.language=en "$@"; }
kt_list() { kt -list -v -storetype PKCS12 -storepass changeit -keystore "$1"; }
certo_put() { "$CERTO" keystore put "$@" --password-file "$tmp/pass" >/dev/null; }
pub() { openssl pkey -pubout "$@"; }

# The two RSA/EC/Ed25519 key entries and a trusted root, in each profile.
make_store() { # make_store FILE [--legacy]
    local out=$1
    shift
    certo_put "$out" --alias www --cert "$F/leaf-rsa2048.crt" --key "$F/leaf-rsa2048.key" \
        --chain "$F/chain.pem" "$@"
    certo_put "$out" --alias ec256 --cert "$F/leaf-ec256.crt" --key "$F/leaf-ec256.key" \
        --chain "$F/int.crt" "$@"
    certo_put "$out" --alias ed --cert "$F/leaf-ed25519.crt" --key "$F/leaf-ed25519.key" \
        --chain "$F/chain.pem" "$@"
    certo_put "$out" --alias rootca --cert "$F/ca.crt" --trusted "$@"
}

for profile in modern legacy; do
    p12=$tmp/$profile.p12
    if [ "$profile" = legacy ]; then legacy=(--legacy); olegacy=(-legacy); else legacy=(); olegacy=(); fi
    check "$profile: certo writes 4 entries" make_store "$p12" "${legacy[@]}"

    # keytool: entry types and chain lengths per alias.
    if kt_list "$p12" >"$tmp/kt.txt" 2>&1; then
        ok "$profile: keytool -list reads it"
    else
        bad "$profile: keytool -list reads it"
        sed 's/^/     /' "$tmp/kt.txt"
        continue
    fi
    check "$profile: keytool sees 4 entries" has "$tmp/kt.txt" "Your keystore contains 4 entries"
    check "$profile: keytool sees 3 PrivateKeyEntry" \
        test "$(count "$tmp/kt.txt" "Entry type: PrivateKeyEntry")" -eq 3
    check "$profile: keytool sees 1 trustedCertEntry" \
        test "$(count "$tmp/kt.txt" "Entry type: trustedCertEntry")" -eq 1
    for want in www:3 ec256:3 ed:3; do
        alias=${want%%:*} len=${want##*:}
        awk -v a="Alias name: $alias" '$0 == a {p = 1; next} /^Alias name:/ {p = 0} p' \
            "$tmp/kt.txt" >"$tmp/entry.txt"
        check "$profile: keytool: '$alias' is a PrivateKeyEntry" \
            has "$tmp/entry.txt" "Entry type: PrivateKeyEntry"
        check "$profile: keytool: '$alias' has a chain of $len" \
            has "$tmp/entry.txt" "Certificate chain length: $len"
    done
    awk '$0 == "Alias name: rootca" {p = 1; next} /^Alias name:/ {p = 0} p' \
        "$tmp/kt.txt" >"$tmp/entry.txt"
    check "$profile: keytool: 'rootca' is a trustedCertEntry" \
        has "$tmp/entry.txt" "Entry type: trustedCertEntry"

    # Key recovery through Java: re-export with keytool, then compare public keys.
    rm -f "$tmp/kt-$profile.p12"
    check "$profile: keytool -importkeystore copies it" \
        kt -importkeystore -noprompt -srckeystore "$p12" -srcstoretype PKCS12 \
        -srcstorepass changeit -destkeystore "$tmp/kt-$profile.p12" -deststoretype PKCS12 \
        -deststorepass changeit
    for pair in www:leaf-rsa2048 ec256:leaf-ec256 ed:leaf-ed25519; do
        alias=${pair%%:*} fx=${pair##*:}
        if kt -exportcert -rfc -alias "$alias" -keystore "$tmp/kt-$profile.p12" \
            -storetype PKCS12 -storepass changeit >"$tmp/c.pem" 2>/dev/null &&
            openssl pkcs12 -in "$tmp/kt-$profile.p12" -passin pass:changeit -nocerts -nodes \
                2>/dev/null | awk -v a="friendlyName: $alias" \
                '$0 ~ /friendlyName:/ {p = ($0 ~ a"$")} p' >"$tmp/k.pem" &&
            pub -in "$tmp/k.pem" >"$tmp/k.pub" 2>/dev/null && pub -in "$F/$fx.key" >"$tmp/f.pub"; then
            check "$profile: key '$alias' recovered through keytool" cmp -s "$tmp/k.pub" "$tmp/f.pub"
        else
            bad "$profile: key '$alias' recovered through keytool"
        fi
    done
    check "$profile: certo reads keytool's copy" "$CERTO" keystore list "$tmp/kt-$profile.p12" \
        --password-file "$tmp/pass"

    # OpenSSL reads it, and reports the profile's algorithms.
    check "$profile: openssl pkcs12 -info reads it" \
        openssl pkcs12 -info -nodes -passin pass:changeit -in "$p12" "${olegacy[@]}" \
        -out "$tmp/o.pem"
    check "$profile: openssl finds 3 keys" test "$(count "$tmp/o.pem" "BEGIN PRIVATE KEY")" -eq 3
    openssl pkcs12 -info -noout -passin pass:changeit -in "$p12" "${olegacy[@]}" \
        >"$tmp/info.txt" 2>&1 || true
    if [ "$profile" = modern ]; then
        check "modern: MAC is sha256" has "$tmp/info.txt" "MAC: sha256, Iteration 2048"
        check "modern: certificates PBES2/PBKDF2/AES-256-CBC/hmacWithSHA256" has "$tmp/info.txt" \
            "PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256"
        check "modern: keys PBES2/PBKDF2/AES-256-CBC" test "$(count "$tmp/info.txt" \
            "Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256")" -eq 3
        check "modern: openssl needs no -legacy" \
            openssl pkcs12 -info -noout -passin pass:changeit -in "$p12"
    else
        check "legacy: MAC is sha1" has "$tmp/info.txt" "MAC: sha1, Iteration 2048"
        check "legacy: certificates RC2-40" has "$tmp/info.txt" \
            "PKCS7 Encrypted data: pbeWithSHA1And40BitRC2-CBC, Iteration 2048"
        check "legacy: keys 3DES" test "$(count "$tmp/info.txt" \
            "Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 2048")" -eq 3
    fi
    check "$profile: wrong password is refused" \
        bash -c '! "$1" keystore list "$2" --password wrong >/dev/null 2>&1' _ "$CERTO" "$p12"
done

# --iter reaches MAC and encryption.
certo_put "$tmp/iter.p12" --alias www --cert "$F/leaf-ec256.crt" --key "$F/leaf-ec256.key" \
    --chain "$F/int.crt" --iter 4096
openssl pkcs12 -info -noout -passin pass:changeit -in "$tmp/iter.p12" >"$tmp/info.txt" 2>&1 || true
check "--iter 4096: MAC" has "$tmp/info.txt" "MAC: sha256, Iteration 4096"
check "--iter 4096: key" has "$tmp/info.txt" "Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 4096"

# A keytool-written PKCS#12 keeps its entries when certo adds one.
cp "$F/keytool.p12" "$tmp/keytool.p12"
check "certo puts into keytool.p12" certo_put "$tmp/keytool.p12" --alias added \
    --cert "$F/leaf-ec384.crt" --key "$F/leaf-ec384.key" --chain "$F/chain.pem"
if kt_list "$tmp/keytool.p12" >"$tmp/kt.txt" 2>&1; then
    check "keytool lists 4 entries after put" has "$tmp/kt.txt" "Your keystore contains 4 entries"
    for a in www generated rootca added; do
        check "keytool still sees '$a'" has "$tmp/kt.txt" "Alias name: $a"
    done
    awk '$0 == "Alias name: www" {p = 1; next} /^Alias name:/ {p = 0} p' "$tmp/kt.txt" >"$tmp/entry.txt"
    check "'www' keeps its chain of 3" has "$tmp/entry.txt" "Certificate chain length: 3"
else
    bad "keytool reads keytool.p12 after put"
    sed 's/^/     /' "$tmp/kt.txt"
fi

# OpenSSL-written files, including a certificate-only one, are listed by certo.
for f in openssl-modern openssl-legacy openssl-certonly keytool; do
    check "certo lists $f.p12" "$CERTO" keystore list "$F/$f.p12" --password-file "$tmp/pass"
done

if [ "$fails" -ne 0 ]; then
    echo "$fails check(s) failed"
    exit 1
fi
echo "all PKCS#12 peer checks passed"
