/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the DER readers of the pki layer: one DER certificate, a
 * PKCS#8 / encrypted PKCS#8 / traditional private key, and a CSR. The whole input goes
 * to all three; then it is split in two at a point chosen by its first byte, and each
 * part goes to all three as well, so inputs that concatenate a certificate and a key
 * exercise both readers and the "every byte consumed" checks at the boundary.
 */
#include <string.h>

#include <openssl/err.h>

#include "certo/certo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PASS "changeit"

static void
check_all(const uint8_t *data, size_t size, const struct certo_secret *pass)
{
    STACK_OF(X509) *certs = NULL;
    EVP_PKEY *key = NULL;
    X509_REQ *req = NULL;

    if (certo_cert_parse_all(&certs, data, size, NULL) == CERTO_OK) {
        struct certo_buf der;
        X509 *x = NULL;
        certo_buf_init(&der, CERTO_DER_MAX);
        /* DER re-encodes to bytes that parse as exactly one certificate. */
        if (certo_cert_to_der(&der, sk_X509_value(certs, 0), NULL) != CERTO_OK ||
            certo_cert_parse(&x, der.data, der.len, NULL) != CERTO_OK)
            abort();
        struct certo_cert_info info;
        if (certo_cert_info_get(&info, x, NULL) == CERTO_OK)
            certo_cert_info_dispose(&info);
        X509_free(x);
        certo_buf_dispose(&der);
        certo_certs_free(certs);
    }
    if (certo_key_parse(&key, data, size, pass, NULL) == CERTO_OK) {
        struct certo_buf der;
        EVP_PKEY *again = NULL;
        certo_buf_init(&der, CERTO_DER_MAX);
        if (certo_key_to_der(&der, key, NULL) == CERTO_OK) {
            if (certo_key_parse(&again, der.data, der.len, NULL, NULL) != CERTO_OK ||
                !certo_key_public_equal(key, again))
                abort();
            EVP_PKEY_free(again);
        }
        certo_buf_dispose(&der);
        EVP_PKEY_free(key);
    }
    if (certo_csr_parse(&req, data, size, NULL) == CERTO_OK)
        X509_REQ_free(req);
    if (ERR_peek_error() != 0)
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct certo_secret *pass;

    if (pass == NULL && certo_secret_from_str(&pass, PASS) != CERTO_OK)
        abort();
    check_all(data, size, pass);
    if (size >= 2) {
        size_t cut = 1 + (size_t)data[0] * (size - 1) / 256;
        check_all(data + 1, cut - 1, pass);
        check_all(data + cut, size - cut, pass);
    }
    return 0;
}
