/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the PKCS#12 reader (src/pki/pkcs12.c) through
 * certo_keystore_parse, with the fixtures' password. Whatever parses is written back and
 * read again: our own output must always parse, with the same number of entries. Seeds in
 * corpus/pkcs12/: the fixture files plus files without MAC and with one iteration, so that
 * mutations reach the bag parsing behind the MAC.
 */
#include <stdlib.h>

#include "certo/certo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct certo_secret *pass;
    struct certo_keystore *ks = NULL, *back = NULL;
    struct certo_buf out;
    struct certo_err err = {0};

    if (pass == NULL && certo_secret_from_str(&pass, "changeit") != CERTO_OK)
        abort();
    if (certo_keystore_parse(&ks, CERTO_KS_PKCS12, data, size, pass, &err) != CERTO_OK)
        return 0;
    /* One iteration: the round trip checks structure, not PBKDF2, and stays fast. */
    ks->p12_iter = 1;
    certo_buf_init(&out, CERTO_KEYSTORE_MAX);
    err = (struct certo_err){0};
    if (certo_keystore_serialize(&out, ks, pass, &err) == CERTO_OK) {
        err = (struct certo_err){0};
        if (certo_keystore_parse(&back, CERTO_KS_PKCS12, out.data, out.len, pass, &err) !=
                CERTO_OK ||
            back->count != ks->count)
            abort(); /* we cannot read what we wrote */
    }
    certo_keystore_free(back);
    certo_keystore_free(ks);
    certo_buf_dispose(&out);
    return 0;
}
