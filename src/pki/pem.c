/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PEM files as keystores (pki layer). A PEM file has no aliases and no integrity: it is
 * a sequence of blocks. We read it as at most one key entry (the key plus the chain
 * ordered from the file's certificates) and trusted entries for certificates outside
 * that chain, remembering the layout so a rewrite looks like the original.
 */
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "certo/cert.h"
#include "certo/chain.h"
#include "certo/key.h"
#include "certo/limits.h"
#include "certo/mem.h"
#include "certo/pem.h"
#include "pki/pem_iter.h"

static const char *const layout_names[] = {
    [CERTO_PEM_COMBINED] = "combined",   [CERTO_PEM_KEY_FIRST] = "key-first",
    [CERTO_PEM_FULLCHAIN] = "fullchain", [CERTO_PEM_CERT] = "cert",
    [CERTO_PEM_CHAIN] = "chain",         [CERTO_PEM_KEY] = "key",
};

const char *
certo_pem_layout_name(enum certo_pem_layout layout)
{
    if ((size_t)layout < CERTO_ARRAY_LEN(layout_names))
        return layout_names[layout];
    return "unknown";
}

certo_rc
certo_pem_layout_parse(enum certo_pem_layout *out, const char *text, struct certo_err *err)
{
    *out = CERTO_PEM_COMBINED;
    for (size_t i = 0; i < CERTO_ARRAY_LEN(layout_names); i++) {
        if (strcmp(text, layout_names[i]) == 0) {
            *out = (enum certo_pem_layout)i;
            return CERTO_OK;
        }
    }
    return certo_err_set(err, CERTO_EINVAL, "pki.pem",
                         "unknown PEM layout '%.32s' (use combined, key-first, fullchain, cert, "
                         "chain or key)",
                         text);
}

/* What the blocks of a PEM text are, in order. */
struct pem_census {
    int certs;      /* CERTIFICATE / TRUSTED CERTIFICATE blocks */
    int keys;       /* private key blocks of any kind */
    bool key_first; /* a key block came before the first certificate */
};

static certo_rc
take_census(struct pem_census *c, const void *data, size_t len, struct certo_err *err)
{
    struct certo_pem_iter it;
    certo_rc rc = certo_pem__iter_init(&it, data, len, err);

    memset(c, 0, sizeof(*c));
    while (rc == CERTO_OK) {
        rc = certo_pem__iter_next(&it, err);
        if (rc != CERTO_OK)
            break;
        if (strcmp(it.name, "CERTIFICATE") == 0 || strcmp(it.name, "TRUSTED CERTIFICATE") == 0) {
            c->certs++;
        } else if (certo_pem__is_key_block(it.name)) {
            if (c->certs == 0 && c->keys == 0)
                c->key_first = true;
            c->keys++;
        }
    }
    certo_pem__iter_dispose(&it);
    return rc == CERTO_ENOTFOUND ? CERTO_OK : rc;
}

certo_rc
certo_pem_parse(struct certo_keystore *ks, const void *data, size_t len,
                const struct certo_secret *pass, struct certo_err *err)
{
    struct pem_census census;
    STACK_OF(X509) *certs = NULL;
    STACK_OF(X509) *chain = NULL;
    EVP_PKEY *key = NULL;
    char *alias = NULL;
    certo_rc rc = CERTO_EINTERNAL;

    if (len > CERTO_PEM_MAX) {
        rc = certo_err_set(err, CERTO_ETOOBIG, "pki.pem", "PEM input is %zu bytes, limit is %u",
                           len, CERTO_PEM_MAX);
        goto out;
    }
    rc = take_census(&census, data, len, err);
    if (rc != CERTO_OK)
        goto out;
    if (census.certs == 0 && census.keys == 0) {
        rc = certo_err_set(err, CERTO_EPARSE, "pki.pem", "no certificate or private key found");
        goto out;
    }
    if (census.keys > 1) {
        rc = certo_err_set(err, CERTO_EINVAL, "pki.pem",
                           "the file holds %d private keys; a PEM keystore holds one", census.keys);
        goto out;
    }
    if (census.certs > 0) {
        rc = certo_cert_parse_all(&certs, data, len, err);
        if (rc != CERTO_OK)
            goto out;
    } else {
        certs = sk_X509_new_null();
        if (certs == NULL)
            abort();
    }
    if (census.keys == 1) {
        rc = certo_key_parse(&key, data, len, pass, err);
        if (rc != CERTO_OK)
            goto out;
    }

    if (key == NULL) {
        ks->pem_layout = census.certs == 1 ? CERTO_PEM_CERT : CERTO_PEM_FULLCHAIN;
    } else if (census.certs == 0) {
        ks->pem_layout = CERTO_PEM_KEY;
    } else {
        ks->pem_layout = census.key_first ? CERTO_PEM_KEY_FIRST : CERTO_PEM_COMBINED;
    }

    if (key != NULL) {
        if (sk_X509_num(certs) > 0) {
            rc = certo_chain_order(&chain, certs, key, true, err);
            if (rc != CERTO_OK)
                goto out;
            alias = certo_keystore_default_alias(CERTO_KS_PEM, sk_X509_value(chain, 0));
        } else {
            chain = sk_X509_new_null();
            if (chain == NULL)
                abort();
            alias = certo_strdup("key");
        }
        rc = certo_keystore_add_take(ks, CERTO_KS_ENTRY_KEY, alias, 0, key, chain, err);
        key = NULL;
        chain = NULL;
        if (rc != CERTO_OK)
            goto out;
    }
    /* Certificates outside the key's chain are kept as trusted entries, so nothing in the
     * file is lost when it is written back. */
    for (int i = 0; i < sk_X509_num(certs); i++) {
        X509 *c = sk_X509_value(certs, i);
        bool used = false;
        for (size_t e = 0; e < ks->count && !used; e++) {
            for (int j = 0; j < sk_X509_num(ks->entries[e].certs) && !used; j++)
                used = X509_cmp(sk_X509_value(ks->entries[e].certs, j), c) == 0;
        }
        if (used)
            continue;
        CERTO_FREE(alias);
        alias = certo_keystore_default_alias(CERTO_KS_PEM, c);
        /* Two CA certificates may share a name: number the later ones. */
        for (int n = 2; certo_keystore_find(ks, alias) != NULL; n++) {
            char *numbered = certo_asprintf("%s-%d", alias, n);
            certo_free(alias);
            alias = numbered;
        }
        STACK_OF(X509) *one = sk_X509_new_null();
        if (one == NULL || sk_X509_push(one, c) <= 0)
            abort();
        X509_up_ref(c);
        rc = certo_keystore_add_take(ks, CERTO_KS_ENTRY_TRUSTED, alias, 0, NULL, one, err);
        if (rc != CERTO_OK)
            goto out;
    }
    rc = CERTO_OK;
out:
    certo_free(alias);
    EVP_PKEY_free(key);
    certo_certs_free(chain);
    certo_certs_free(certs);
    return rc;
}

bool
certo_pem_layout_keeps_all(const struct certo_keystore *ks, enum certo_pem_layout layout)
{
    size_t keys = 0, certs = 0;

    for (size_t i = 0; i < ks->count; i++) {
        keys += ks->entries[i].kind == CERTO_KS_ENTRY_KEY;
        certs += (size_t)sk_X509_num(ks->entries[i].certs);
    }
    switch (layout) {
    case CERTO_PEM_COMBINED:
    case CERTO_PEM_KEY_FIRST:
        return keys <= 1;
    case CERTO_PEM_FULLCHAIN:
        return keys == 0;
    case CERTO_PEM_CERT:
        return keys == 0 && certs <= 1;
    case CERTO_PEM_CHAIN:
        return keys == 0 && certs == 0;
    case CERTO_PEM_KEY:
        return keys <= 1 && certs == 0;
    }
    return false;
}

certo_rc
certo_pem_layout_fit(struct certo_keystore *ks, struct certo_err *err)
{
    bool has_key = false;

    if (certo_pem_layout_keeps_all(ks, ks->pem_layout))
        return CERTO_OK;
    for (size_t i = 0; i < ks->count; i++)
        has_key = has_key || ks->entries[i].kind == CERTO_KS_ENTRY_KEY;
    if (!has_key)
        ks->pem_layout = CERTO_PEM_FULLCHAIN;
    else if (ks->pem_layout == CERTO_PEM_KEY)
        ks->pem_layout = CERTO_PEM_KEY_FIRST;
    else
        ks->pem_layout = CERTO_PEM_COMBINED;
    if (!certo_pem_layout_keeps_all(ks, ks->pem_layout))
        return certo_err_set(err, CERTO_EINVAL, "pki.pem", "a PEM file holds one private key");
    return CERTO_OK;
}

static certo_rc
put_certs(struct certo_buf *out, STACK_OF(X509) * certs, int from, struct certo_err *err)
{
    for (int i = from; i < sk_X509_num(certs); i++) {
        certo_rc rc = certo_cert_to_pem(out, sk_X509_value(certs, i), err);
        if (rc != CERTO_OK)
            return rc;
    }
    return CERTO_OK;
}

certo_rc
certo_pem_write(struct certo_buf *out, const struct certo_keystore *ks,
                const struct certo_secret *pass, struct certo_err *err)
{
    const struct certo_ks_entry *keyent = NULL;
    enum certo_pem_layout layout = ks->pem_layout;
    certo_rc rc = CERTO_OK;

    for (size_t i = 0; i < ks->count; i++) {
        if (ks->entries[i].kind != CERTO_KS_ENTRY_KEY)
            continue;
        if (keyent != NULL)
            return certo_err_set(err, CERTO_EINVAL, "pki.pem",
                                 "a PEM file holds one private key; the keystore has several");
        keyent = &ks->entries[i];
    }
    bool wants_key =
        layout == CERTO_PEM_COMBINED || layout == CERTO_PEM_KEY_FIRST || layout == CERTO_PEM_KEY;
    if (wants_key && keyent == NULL)
        return certo_err_set(err, CERTO_EINVAL, "pki.pem",
                             "the %s layout needs a private key entry",
                             certo_pem_layout_name(layout));

    if (layout == CERTO_PEM_KEY_FIRST || layout == CERTO_PEM_KEY) {
        rc = certo_key_to_pem(out, keyent->key, pass, err);
        if (rc != CERTO_OK || layout == CERTO_PEM_KEY)
            return rc;
    }
    if (keyent != NULL) {
        int from = layout == CERTO_PEM_CHAIN ? 1 : 0;
        STACK_OF(X509) *c = keyent->certs;
        if (layout == CERTO_PEM_CERT)
            rc = sk_X509_num(c) > 0 ? certo_cert_to_pem(out, sk_X509_value(c, 0), err) : CERTO_OK;
        else
            rc = put_certs(out, c, from, err);
        if (rc != CERTO_OK)
            return rc;
    }
    /* Trusted certificates follow the key's chain; a lone certificate file has just one. */
    if (layout != CERTO_PEM_CERT || keyent == NULL) {
        for (size_t i = 0; i < ks->count; i++) {
            if (ks->entries[i].kind != CERTO_KS_ENTRY_TRUSTED)
                continue;
            rc = put_certs(out, ks->entries[i].certs, 0, err);
            if (rc != CERTO_OK)
                return rc;
            if (layout == CERTO_PEM_CERT)
                break;
        }
    }
    if (layout == CERTO_PEM_COMBINED)
        rc = certo_key_to_pem(out, keyent->key, pass, err);
    return rc;
}
