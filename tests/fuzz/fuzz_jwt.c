/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for certo_jwt_parse, certo_jwt_verify and certo_jwt_check_times:
 * arbitrary bytes offered as a token must be refused or parsed without a crash; a parsed
 * token must never verify under keys made here (nobody can sign for them); its claims
 * signed again must parse and verify to equal claims; and a string certo_b64url_decode
 * accepts must encode back to itself (one spelling per byte string).
 */
#include <string.h>

#include <jansson.h>

#include "certo/certo.h"
#include "certo/jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { N_KEYS = 4 };

static EVP_PKEY *keys[N_KEYS];

static void
make_keys(void)
{
    static const struct certo_key_spec specs[N_KEYS] = {
        {CERTO_KEY_EC, 256},
        {CERTO_KEY_EC, 384},
        {CERTO_KEY_RSA, 2048},
        {CERTO_KEY_ED25519, 256},
    };
    struct certo_err err = {0};

    for (int i = 0; i < N_KEYS; i++) {
        if (certo_key_generate(&keys[i], &specs[i], &err) != CERTO_OK)
            __builtin_trap();
    }
}

/* Strict base64url: accepted text re-encodes to the very same characters. */
static void
check_b64url(const char *text, size_t len)
{
    struct certo_buf raw, again;

    certo_buf_init(&raw, 1 << 20);
    certo_buf_init(&again, 1 << 20);
    if (certo_b64url_decode(&raw, text, len, NULL) == CERTO_OK) {
        if (certo_b64url_encode(&again, raw.data, raw.len, NULL) != CERTO_OK || again.len != len ||
            (len > 0 && memcmp(again.data, text, len) != 0))
            __builtin_trap();
    }
    certo_buf_dispose(&raw);
    certo_buf_dispose(&again);
}

/* The claims of a parsed token, signed by keys[0], must come back equal and verified. */
static void
check_resign(const struct certo_jwt *jwt)
{
    struct certo_err err = {0};
    struct certo_jwt again;
    char *tok = NULL;

    if (certo_jwt_sign(&tok, keys[0], NULL, jwt->claims, &err) != CERTO_OK)
        __builtin_trap();
    if (certo_jwt_parse(&again, tok, 1 << 20, &err) != CERTO_OK ||
        certo_jwt_verify(&again, keys[0], &err) != CERTO_OK ||
        !json_equal(again.claims, jwt->claims) || again.alg != CERTO_JWT_ES256)
        __builtin_trap();
    certo_jwt_dispose(&again);
    certo_free(tok);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct certo_err err = {0};
    struct certo_jwt jwt;
    char *tok;

    if (keys[0] == NULL)
        make_keys();
    tok = certo_malloc(size + 1);
    memcpy(tok, data, size);
    tok[size] = '\0';
    check_b64url(tok, strnlen(tok, size));

    if (certo_jwt_parse(&jwt, tok, 0, &err) != CERTO_OK) {
        if (jwt.header != NULL || jwt.claims != NULL || jwt.sig != NULL ||
            jwt.signing_input != NULL || err.rc != CERTO_EINVAL)
            __builtin_trap();
        certo_free(tok);
        return 0;
    }
    if (!json_is_object(jwt.header) || !json_is_object(jwt.claims) ||
        jwt.signing_input_len >= strlen(tok) ||
        memcmp(jwt.signing_input, tok, jwt.signing_input_len) != 0)
        __builtin_trap();
    for (int i = 0; i < N_KEYS; i++) {
        certo_err_clear(&err);
        if (certo_jwt_verify(&jwt, keys[i], &err) == CERTO_OK)
            __builtin_trap(); /* a forgery, or a key accepted for another algorithm */
    }
    certo_err_clear(&err);
    (void)certo_jwt_check_times(&jwt, 1750000000, 60, &err);
    check_resign(&jwt);
    certo_jwt_dispose(&jwt);
    certo_free(tok);
    return 0;
}
