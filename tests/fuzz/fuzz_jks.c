/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the JKS reader (src/pki/jks.c) and, on success, the writer.
 * Random bytes almost never carry a valid SHA-1 file digest, which would keep the fuzzer
 * in the structural pass; so each input is parsed twice: as given (digest check, error
 * paths) and with its last 20 bytes replaced by the digest the password "changeit" gives
 * (REFERENCE.md 1.7), which lets mutations reach the certificate and KeyProtector code.
 * The library itself has no fuzzing bypass.
 */
#include <string.h>

#include <openssl/evp.h>

#include "certo/certo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PASS "changeit"

static void
parse_and_write(const uint8_t *data, size_t size, const struct certo_secret *pw)
{
    struct certo_keystore *ks = NULL;
    struct certo_buf out;

    if (certo_keystore_parse(&ks, CERTO_KS_JKS, data, size, pw, NULL) != CERTO_OK)
        return;
    certo_buf_init(&out, CERTO_JKS_MAX);
    if (certo_jks_write(&out, ks, pw, NULL) == CERTO_OK) {
        /* What we write, we read back. */
        struct certo_keystore *again = NULL;
        if (certo_keystore_parse(&again, CERTO_KS_JKS, out.data, out.len, pw, NULL) != CERTO_OK)
            abort();
        if (again->count != ks->count)
            abort();
        certo_keystore_free(again);
    }
    certo_buf_dispose(&out);
    certo_keystore_free(ks);
}

/* SHA-1(UTF-16BE("changeit") || "Mighty Aphrodite" || data[0 .. size-20)) into the tail. */
static void
fix_digest(uint8_t *data, size_t size)
{
    static const unsigned char pw16[] = {0, 'c', 0, 'h', 0, 'a', 0, 'n',
                                         0, 'g', 0, 'e', 0, 'i', 0, 't'};
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) != 1 ||
        EVP_DigestUpdate(ctx, pw16, sizeof(pw16)) != 1 ||
        EVP_DigestUpdate(ctx, "Mighty Aphrodite", 16) != 1 ||
        EVP_DigestUpdate(ctx, data, size - 20) != 1 ||
        EVP_DigestFinal_ex(ctx, data + size - 20, NULL) != 1)
        abort();
    EVP_MD_CTX_free(ctx);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct certo_secret *pw = NULL;

    if (certo_secret_from_str(&pw, PASS) != CERTO_OK)
        abort();
    parse_and_write(data, size, pw);
    if (size >= 20 && size <= CERTO_JKS_MAX) {
        uint8_t *copy = certo_malloc(size);
        memcpy(copy, data, size);
        fix_digest(copy, size);
        parse_and_write(copy, size, pw);
        certo_free(copy);
    }
    certo_secret_free(pw);
    return 0;
}
