/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Small helpers on certificate stacks and key/certificate pairs (pki layer).
 */
#include <openssl/err.h>
#include <openssl/x509.h>

#include "certo/cert.h"

void
certo_certs_free(STACK_OF(X509) * certs)
{
    sk_X509_pop_free(certs, X509_free);
}

STACK_OF(X509) * certo_certs_dup(STACK_OF(X509) * certs)
{
    STACK_OF(X509) *d = X509_chain_up_ref(certs);
    /* X509_chain_up_ref only fails on allocation; our policy is to abort then (3.3). */
    if (d == NULL && certs != NULL)
        abort();
    return d;
}

bool
certo_cert_matches_key(X509 *cert, EVP_PKEY *key)
{
    /* Comparing unlike key types queues an error; it is an answer here, not a failure,
     * and must not be blamed on a later call (STYLE.md 3.2 rule 5). */
    ERR_set_mark();
    EVP_PKEY *pub = X509_get0_pubkey(cert);
    bool eq = pub != NULL && key != NULL && EVP_PKEY_eq(pub, key) == 1;
    ERR_pop_to_mark();
    return eq;
}

void
certo_cert_free(X509 *cert)
{
    X509_free(cert);
}
