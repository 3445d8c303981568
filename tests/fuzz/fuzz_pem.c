/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the PEM readers of the pki layer: certificate bundles
 * (certo_cert_parse_all), private keys (certo_key_parse, password "changeit" so that
 * encrypted seeds decrypt) and CSRs (certo_csr_parse), all on the same input. Whatever
 * parses is described and written back, and what we write must read back the same.
 * Keys are written unencrypted only: encrypting costs 100000 PBKDF2 rounds per input.
 */
#include <string.h>

#include <openssl/err.h>

#include "certo/certo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PASS "changeit"

static void
check_certs(const uint8_t *data, size_t size)
{
    STACK_OF(X509) *certs = NULL;
    struct certo_buf pem;

    if (certo_cert_parse_all(&certs, data, size, NULL) != CERTO_OK)
        return;
    certo_buf_init(&pem, CERTO_PEM_MAX);
    for (int i = 0; i < sk_X509_num(certs); i++) {
        X509 *x = sk_X509_value(certs, i);
        struct certo_cert_info info;
        char fp[96];
        if (certo_cert_info_get(&info, x, NULL) == CERTO_OK) {
            struct certo_buf json;
            certo_buf_init(&json, 1u << 20);
            if (certo_cert_info_to_json(&json, &info) != CERTO_OK)
                abort();
            certo_buf_dispose(&json);
            certo_cert_info_dispose(&info);
        }
        if (certo_cert_fingerprint(fp, x, NULL) == CERTO_OK && strlen(fp) != 95)
            abort();
        if (certo_cert_to_pem(&pem, x, NULL) != CERTO_OK)
            abort();
    }
    /* What we write, we read back: same number of certificates. */
    STACK_OF(X509) *again = NULL;
    if (certo_cert_parse_all(&again, pem.data, pem.len, NULL) != CERTO_OK ||
        sk_X509_num(again) != sk_X509_num(certs))
        abort();
    certo_certs_free(again);
    certo_buf_dispose(&pem);
    certo_certs_free(certs);
}

static void
check_key(const uint8_t *data, size_t size, const struct certo_secret *pass)
{
    EVP_PKEY *key = NULL, *again = NULL;
    struct certo_buf pem, der;

    if (certo_key_parse(&key, data, size, pass, NULL) != CERTO_OK)
        return;
    (void)certo_key_alg_name(key);
    (void)certo_key_bits(key);
    (void)certo_key_curve(key);
    certo_buf_init(&pem, CERTO_PEM_MAX);
    certo_buf_init(&der, CERTO_DER_MAX);
    /* Keys OpenSSL decodes but cannot encode as PKCS#8 are possible; only read back
     * what we could write. */
    if (certo_key_to_pem(&pem, key, NULL, NULL) == CERTO_OK) {
        if (certo_key_parse(&again, pem.data, pem.len, NULL, NULL) != CERTO_OK ||
            !certo_key_public_equal(key, again))
            abort();
        EVP_PKEY_free(again);
    }
    (void)certo_key_to_der(&der, key, NULL);
    certo_buf_dispose(&pem);
    certo_buf_dispose(&der);
    EVP_PKEY_free(key);
}

static void
check_csr(const uint8_t *data, size_t size)
{
    X509_REQ *req = NULL, *again = NULL;
    struct certo_buf pem;

    if (certo_csr_parse(&req, data, size, NULL) != CERTO_OK)
        return;
    certo_buf_init(&pem, CERTO_PEM_MAX);
    if (certo_csr_to_pem(&pem, req, NULL) != CERTO_OK ||
        certo_csr_parse(&again, pem.data, pem.len, NULL) != CERTO_OK)
        abort();
    X509_REQ_free(again);
    certo_buf_dispose(&pem);
    X509_REQ_free(req);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct certo_secret *pass;

    if (pass == NULL && certo_secret_from_str(&pass, PASS) != CERTO_OK)
        abort();
    check_certs(data, size);
    check_key(data, size, pass);
    check_csr(data, size);
    /* Every failure path must drain the OpenSSL queue it filled. */
    if (ERR_peek_error() != 0)
        abort();
    return 0;
}
