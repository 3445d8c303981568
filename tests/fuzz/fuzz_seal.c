/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for certo_unseal: arbitrary bytes offered as a sealed value must be
 * refused without a crash; and the input sealed then unsealed must come back unchanged.
 */
#include <string.h>

#include "certo/certo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct certo_seal_key *key;
    struct certo_secret *s = NULL;
    struct certo_err err = {0};
    struct certo_buf b;

    if (key == NULL) {
        unsigned char raw[CERTO_SEAL_KEY_LEN] = {1, 2, 3};
        if (certo_seal_key_from_bytes(&key, raw, sizeof(raw), &err) != CERTO_OK)
            __builtin_trap();
    }
    if (certo_unseal(key, "endpoint/x/password", data, size, &s, &err) == CERTO_OK)
        __builtin_trap(); /* forging a tag by chance is not expected */
    certo_secret_free(s);
    if (size > CERTO_SECRET_MAX)
        return 0;
    certo_buf_init(&b, CERTO_SECRET_MAX + CERTO_SEAL_OVERHEAD);
    certo_err_clear(&err);
    if (certo_seal(key, "r", data, size, &b, &err) != CERTO_OK ||
        certo_unseal(key, "r", b.data, b.len, &s, &err) != CERTO_OK ||
        certo_secret_len(s) != size || memcmp(certo_secret_get0(s), data, size) != 0)
        __builtin_trap();
    certo_secret_free(s);
    certo_buf_dispose(&b);
    return 0;
}
