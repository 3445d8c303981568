/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Loading certificate material from what users have (pki layer): loose PEM/DER files in
 * any order or one entry of a keystore. Whatever the source, the result is checked the
 * same way: key matches leaf, chain links, so nothing broken reaches a keystore or an
 * endpoint.
 */
#include <string.h>

#include "certo/bundle.h"
#include "certo/cert.h"
#include "certo/chain.h"
#include "certo/file.h"
#include "certo/key.h"
#include "certo/keystore.h"
#include "certo/limits.h"
#include "certo/mem.h"

void
certo_bundle_free(struct certo_bundle *b)
{
    if (b == NULL)
        return;
    EVP_PKEY_free(b->key);
    certo_certs_free(b->chain);
    certo_free(b->alias);
    certo_free(b);
}

static certo_rc
read_input(struct certo_buf *b, const char *path, const char *what, struct certo_err *err)
{
    certo_rc rc;

    certo_buf_init(b, CERTO_PEM_MAX);
    rc = certo_file_read(b, path);
    if (rc == CERTO_ETOOBIG)
        return certo_err_set(err, rc, "pki.bundle", "%s file %s: larger than the limit of %u bytes",
                             what, path, CERTO_PEM_MAX);
    if (rc != CERTO_OK)
        return certo_err_sys(err, rc, "pki.bundle", "%s file %s: cannot read", what, path);
    return CERTO_OK;
}

/* Appends the certificates of 'b' to 'all'; input without any is an error. */
static certo_rc
add_certs_from(STACK_OF(X509) * all, const struct certo_buf *b, struct certo_err *err)
{
    STACK_OF(X509) *certs = NULL;
    certo_rc rc = certo_cert_parse_all(&certs, b->data, b->len, err);
    if (rc != CERTO_OK)
        return rc;
    while (sk_X509_num(certs) > 0) {
        if (sk_X509_num(all) >= CERTO_BUNDLE_CERTS_MAX) {
            certo_certs_free(certs);
            return certo_err_set(err, CERTO_ETOOBIG, "pki.bundle", "more than %d certificates",
                                 CERTO_BUNDLE_CERTS_MAX);
        }
        if (sk_X509_push(all, sk_X509_shift(certs)) <= 0)
            abort();
    }
    sk_X509_free(certs);
    return CERTO_OK;
}

/* Refuses a certificate the user gave that is not part of the ordered chain: a wrong
 * intermediate or another site's bundle is a mistake, not something to drop silently. */
static certo_rc
check_all_used(STACK_OF(X509) * all, STACK_OF(X509) * chain, struct certo_err *err)
{
    for (int i = 0; i < sk_X509_num(all); i++) {
        X509 *c = sk_X509_value(all, i);
        bool used = false;
        for (int j = 0; j < sk_X509_num(chain) && !used; j++)
            used = X509_cmp(sk_X509_value(chain, j), c) == 0;
        if (!used) {
            char *name = certo_cert_name_text(X509_get_subject_name(c));
            certo_rc rc =
                certo_err_set(err, CERTO_EINVAL, "pki.bundle",
                              "certificate %s does not belong to the chain of the leaf", name);
            certo_free(name);
            return rc;
        }
    }
    return CERTO_OK;
}

static certo_rc
load_from_files(struct certo_bundle *b, const struct certo_bundle_src *src, struct certo_err *err)
{
    STACK_OF(X509) *all = sk_X509_new_null();
    struct certo_buf cb = {0}, xb = {0};
    certo_rc rc = CERTO_EINTERNAL;

    if (all == NULL)
        abort();
    rc = read_input(&cb, src->cert_path, "certificate", err);
    if (rc == CERTO_OK)
        rc = add_certs_from(all, &cb, err);
    if (rc == CERTO_OK && src->chain_path != NULL) {
        rc = read_input(&xb, src->chain_path, "chain", err);
        if (rc == CERTO_OK)
            rc = add_certs_from(all, &xb, err);
        certo_buf_dispose(&xb);
    }
    if (rc != CERTO_OK)
        goto out;
    /* The key sits in its own file or inside the certificate file (combined PEM). */
    if (src->key_path != NULL) {
        rc = read_input(&xb, src->key_path, "key", err);
        if (rc == CERTO_OK)
            rc = certo_key_parse(&b->key, xb.data, xb.len, src->key_pass, err);
    } else if (memmem(cb.data, cb.len, "PRIVATE KEY-----", 16) != NULL) {
        rc = certo_key_parse(&b->key, cb.data, cb.len, src->key_pass, err);
    }
    if (rc != CERTO_OK)
        goto out;
    if (b->key != NULL && !certo_cert_matches_key(sk_X509_value(all, 0), b->key)) {
        /* The first certificate of --cert is the one the user means as the leaf. */
        rc = certo_err_set(err, CERTO_EINVAL, "pki.bundle",
                           "the private key does not match the certificate %s", src->cert_path);
        goto out;
    }
    rc = certo_chain_order(&b->chain, all, b->key, true, err);
    if (rc == CERTO_OK)
        rc = check_all_used(all, b->chain, err);
out:
    certo_buf_dispose(&xb); /* buffers are wiped: they may hold a key */
    certo_buf_dispose(&cb);
    certo_certs_free(all);
    return rc;
}

static certo_rc
load_from_keystore(struct certo_bundle *b, const struct certo_bundle_src *src,
                   struct certo_err *err)
{
    struct certo_keystore *ks = NULL;
    const struct certo_ks_entry *e = NULL;
    certo_rc rc;

    rc = certo_keystore_load(&ks, src->keystore_path, CERTO_KS_AUTO, src->keystore_pass, err);
    if (rc != CERTO_OK)
        return rc;
    if (src->alias != NULL) {
        e = certo_keystore_find(ks, src->alias);
        if (e == NULL) {
            rc = certo_err_set(err, CERTO_ENOTFOUND, "pki.bundle",
                               "%s: no entry with alias '%.64s'", src->keystore_path, src->alias);
            goto out;
        }
    } else {
        for (size_t i = 0; i < ks->count; i++) {
            if (ks->entries[i].kind != CERTO_KS_ENTRY_KEY)
                continue;
            if (e != NULL) {
                rc = certo_err_set(err, CERTO_EINVAL, "pki.bundle",
                                   "%s holds several key entries: name one with an alias",
                                   src->keystore_path);
                goto out;
            }
            e = &ks->entries[i];
        }
        if (e == NULL && ks->count == 1)
            e = &ks->entries[0];
        if (e == NULL) {
            rc = certo_err_set(err, CERTO_ENOTFOUND, "pki.bundle", "%s holds no key entry",
                               src->keystore_path);
            goto out;
        }
    }
    if (e->key != NULL) {
        EVP_PKEY_up_ref(e->key);
        b->key = e->key;
    }
    b->chain = certo_certs_dup(e->certs);
    b->alias = certo_strdup(e->alias);
    rc = CERTO_OK;
out:
    certo_keystore_free(ks);
    return rc;
}

certo_rc
certo_bundle_load(struct certo_bundle **out, const struct certo_bundle_src *src,
                  struct certo_err *err)
{
    struct certo_bundle *b = certo_calloc(1, sizeof(*b));
    certo_rc rc = CERTO_EINTERNAL;

    *out = NULL;
    if ((src->keystore_path == NULL) == (src->cert_path == NULL)) {
        rc = certo_err_set(err, CERTO_EINVAL, "pki.bundle",
                           "give either a certificate file or a keystore");
        goto out;
    }
    if (src->keystore_path != NULL)
        rc = load_from_keystore(b, src, err);
    else
        rc = load_from_files(b, src, err);
    if (rc != CERTO_OK)
        goto out;
    if (b->chain == NULL || sk_X509_num(b->chain) < 1) {
        rc = certo_err_set(err, CERTO_EINVAL, "pki.bundle", "no certificate found");
        goto out;
    }
    if (src->key_required && b->key == NULL) {
        rc = certo_err_set(err, CERTO_EINVAL, "pki.bundle",
                           "no private key given (use --key, or a file that holds it)");
        goto out;
    }
    /* Files were ordered by issuer, so their chain links by construction; an entry read
     * from a keystore is only as good as the tool that wrote it. */
    if (src->keystore_path != NULL) {
        rc = certo_chain_check_links(b->chain, err);
        if (rc != CERTO_OK)
            goto out;
    }
    *out = b;
    b = NULL;
out:
    certo_bundle_free(b);
    return rc;
}
