/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Chain ordering and link checks (pki layer). Users hand us certificates in any order
 * (a bundle with the root first, the intermediate in another file); installers and
 * keystores need leaf → intermediates → root. "Issued by" always means name/key-id match
 * AND a verifying signature, so a look-alike certificate never slips into a chain.
 */
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "certo/cert.h"
#include "certo/chain.h"
#include "certo/limits.h"

bool
certo_chain_issued_by(X509 *subject, X509 *issuer)
{
    EVP_PKEY *pub;
    bool ok;

    if (X509_check_issued(issuer, subject) != X509_V_OK)
        return false;
    pub = X509_get0_pubkey(issuer);
    ok = pub != NULL && X509_verify(subject, pub) == 1;
    ERR_clear_error(); /* a failed verify leaves entries nobody should inherit */
    return ok;
}

bool
certo_chain_self_signed(X509 *cert)
{
    /* Not certo_chain_issued_by(cert, cert): X509_check_issued also wants keyCertSign,
     * which a self-signed server certificate rarely has, yet it ends its chain all the
     * same. */
    bool self = X509_self_signed(cert, 1) == 1;
    ERR_clear_error();
    return self;
}

certo_rc
certo_chain_check_links(STACK_OF(X509) * chain, struct certo_err *err)
{
    int n = sk_X509_num(chain);
    for (int i = 0; i + 1 < n; i++) {
        if (!certo_chain_issued_by(sk_X509_value(chain, i), sk_X509_value(chain, i + 1)))
            return certo_err_set(err, CERTO_EINVAL, "pki.chain",
                                 "certificate %d of the chain was not issued by certificate %d",
                                 i + 1, i + 2);
    }
    return CERTO_OK;
}

/* True if 'c' issued some other certificate of 'certs'. */
static bool
issues_another(STACK_OF(X509) * certs, X509 *c)
{
    for (int i = 0; i < sk_X509_num(certs); i++) {
        X509 *o = sk_X509_value(certs, i);
        if (o != c && X509_cmp(o, c) != 0 && certo_chain_issued_by(o, c))
            return true;
    }
    return false;
}

static certo_rc
pick_leaf(X509 **leaf, STACK_OF(X509) * certs, EVP_PKEY *key, struct certo_err *err)
{
    X509 *found = NULL;
    int n = sk_X509_num(certs);

    *leaf = NULL;
    for (int i = 0; i < n; i++) {
        X509 *c = sk_X509_value(certs, i);
        if (key != NULL) {
            if (certo_cert_matches_key(c, key)) {
                *leaf = c;
                return CERTO_OK;
            }
            continue;
        }
        if (n > 1 && issues_another(certs, c))
            continue;
        if (found != NULL && X509_cmp(found, c) != 0)
            return certo_err_set(err, CERTO_EINVAL, "pki.chain",
                                 "several certificates could be the leaf; give the certificate "
                                 "and its chain separately, or the private key");
        found = c;
    }
    if (key != NULL)
        return certo_err_set(err, CERTO_EINVAL, "pki.chain",
                             "no certificate matches the private key");
    if (found == NULL)
        return certo_err_set(err, CERTO_EINVAL, "pki.chain", "no leaf certificate found");
    *leaf = found;
    return CERTO_OK;
}

static bool
contains(STACK_OF(X509) * s, X509 *c)
{
    for (int i = 0; i < sk_X509_num(s); i++) {
        if (X509_cmp(sk_X509_value(s, i), c) == 0)
            return true;
    }
    return false;
}

certo_rc
certo_chain_order(STACK_OF(X509) * *out, STACK_OF(X509) * certs, EVP_PKEY *key, bool keep_root,
                  struct certo_err *err)
{
    STACK_OF(X509) *chain = sk_X509_new_null();
    X509 *cur = NULL;
    certo_rc rc = CERTO_EINTERNAL;

    *out = NULL;
    if (chain == NULL)
        abort();
    if (sk_X509_num(certs) < 1) {
        rc = certo_err_set(err, CERTO_EINVAL, "pki.chain", "no certificate given");
        goto out;
    }
    rc = pick_leaf(&cur, certs, key, err);
    if (rc != CERTO_OK)
        goto out;
    for (;;) {
        if (sk_X509_num(chain) >= CERTO_CHAIN_MAX) {
            rc = certo_err_set(err, CERTO_ETOOBIG, "pki.chain", "chain longer than %d certificates",
                               CERTO_CHAIN_MAX);
            goto out;
        }
        X509_up_ref(cur);
        if (sk_X509_push(chain, cur) <= 0)
            abort();
        if (certo_chain_self_signed(cur))
            break;
        X509 *next = NULL;
        for (int i = 0; i < sk_X509_num(certs) && next == NULL; i++) {
            X509 *c = sk_X509_value(certs, i);
            if (!contains(chain, c) && certo_chain_issued_by(cur, c))
                next = c;
        }
        if (next == NULL)
            break;
        cur = next;
    }
    /* A root is optional in what servers send; drop it unless asked to keep it. */
    if (!keep_root && sk_X509_num(chain) > 1 &&
        certo_chain_self_signed(sk_X509_value(chain, sk_X509_num(chain) - 1)))
        X509_free(sk_X509_pop(chain));
    *out = chain;
    chain = NULL;
    rc = CERTO_OK;
out:
    certo_certs_free(chain);
    return rc;
}
