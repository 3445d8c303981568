/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The PEM block walk of the pki layer; see src/pki/pem_iter.h.
 */
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "pki/pem_iter.h"

bool
certo_pem__looks_like(const unsigned char *data, size_t len)
{
    return len > 0 && data[0] != 0x30 && memmem(data, len, "-----BEGIN ", 11) != NULL;
}

bool
certo_pem__is_key_block(const char *name)
{
    return strcmp(name, PEM_STRING_PKCS8) == 0 || strcmp(name, PEM_STRING_PKCS8INF) == 0 ||
           strcmp(name, PEM_STRING_RSA) == 0 || strcmp(name, PEM_STRING_ECPRIVATEKEY) == 0;
}

certo_rc
certo_pem__bio_to_buf(struct certo_buf *out, BIO *bio, const char *what, struct certo_err *err)
{
    char *p = NULL;
    long n = BIO_get_mem_data(bio, &p);

    if (n <= 0 || p == NULL)
        return certo_err_ossl(err, CERTO_ECRYPTO, "pki.pem", "cannot write %s", what);
    if (certo_buf_append(out, p, (size_t)n) != CERTO_OK)
        return certo_err_set(err, CERTO_ETOOBIG, "pki.pem", "output buffer limit reached");
    return CERTO_OK;
}

static void
release_block(struct certo_pem_iter *it)
{
    OPENSSL_free(it->name);
    OPENSSL_free(it->header);
    if (it->body != NULL)
        OPENSSL_clear_free(it->body, (size_t)it->len);
    it->name = NULL;
    it->header = NULL;
    it->body = NULL;
    it->len = 0;
}

certo_rc
certo_pem__iter_init(struct certo_pem_iter *it, const void *data, size_t len, struct certo_err *err)
{
    memset(it, 0, sizeof(*it));
    if (len > INT32_MAX)
        return certo_err_set(err, CERTO_ETOOBIG, "pki.pem", "PEM input of %zu bytes", len);
    it->bio_ = BIO_new_mem_buf(data, (int)len);
    if (it->bio_ == NULL)
        return certo_err_ossl(err, CERTO_ENOMEM, "pki.pem", "out of memory");
    return CERTO_OK;
}

certo_rc
certo_pem__iter_next(struct certo_pem_iter *it, struct certo_err *err)
{
    release_block(it);
    if (PEM_read_bio(it->bio_, &it->name, &it->header, &it->body, &it->len) == 1) {
        it->index++;
        return CERTO_OK;
    }
    unsigned long e = ERR_peek_last_error();
    if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
        ERR_clear_error();
        return CERTO_ENOTFOUND;
    }
    return certo_err_ossl(err, CERTO_EPARSE, "pki.pem", "PEM block %d is malformed", it->index + 1);
}

void
certo_pem__iter_dispose(struct certo_pem_iter *it)
{
    release_block(it);
    BIO_free(it->bio_);
    it->bio_ = NULL;
}
