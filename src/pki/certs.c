/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Small helpers on certificate stacks and key/certificate pairs (pki layer).
 */
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
    EVP_PKEY *pub = X509_get0_pubkey(cert);
    if (pub == NULL || key == NULL)
        return false;
    return EVP_PKEY_eq(pub, key) == 1;
}
