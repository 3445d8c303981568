/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the credential store parsers of the gateway layer: the input is
 * read as a file store's document (looking up ID "k1") and as an exec store's answer.
 * Whatever parses must hold a password, a key or a key path, as the parser promises.
 */
#include <string.h>

#include "certo/certo.h"
#include "gateway/gateway.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(certo_rc rc, const struct certo_credential *c)
{
    if (rc != CERTO_OK)
        return;
    if (c->password == NULL && c->ssh_key == NULL && c->ssh_key_path == NULL)
        __builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct certo_buf b;
    struct certo_credential c;
    struct certo_err err = {0};

    certo_buf_init(&b, 1024 * 1024);
    if (certo_buf_append(&b, data, size) != CERTO_OK) {
        certo_buf_dispose(&b);
        return 0;
    }
    check(certo_credstore__parse_file(&b, "k1", "fuzz", &c, &err), &c);
    certo_credential_dispose(&c);
    certo_err_clear(&err);
    check(certo_credstore__parse_answer(&b, "fuzz", &c, &err), &c);
    certo_credential_dispose(&c);
    certo_buf_dispose(&b);
    return 0;
}
