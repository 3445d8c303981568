/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness: format detection plus any keystore reader (PEM keystore, PKCS#12,
 * JKS) through certo_keystore_parse, then serialization of whatever parsed, exactly as
 * `certo keystore put` does with an existing file.
 */
#include <stdint.h>

#include "certo/certo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct certo_secret *pass = NULL;
    struct certo_keystore *ks = NULL;
    struct certo_buf out;

    if (certo_secret_from_str(&pass, "changeit") != CERTO_OK)
        return 0;
    if (certo_keystore_parse(&ks, CERTO_KS_AUTO, data, size, pass, NULL) == CERTO_OK) {
        certo_buf_init(&out, CERTO_KEYSTORE_MAX);
        (void)certo_keystore_serialize(&out, ks, pass, NULL);
        certo_buf_dispose(&out);
    }
    certo_keystore_free(ks);
    certo_secret_free(pass);
    return 0;
}
