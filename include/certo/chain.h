/* SPDX-License-Identifier: Apache-2.0 */
/* layer: pki */
/*
 * Chains: putting certificates given in any order into leaf → intermediates → (root)
 * order, and checking that each certificate was issued by the next one.
 * Threading: no shared state.
 */
#ifndef CERTO_CHAIN_H
#define CERTO_CHAIN_H

#include <openssl/x509.h>

#include "certo/err.h"

/**
 * Orders 'certs' (any order, duplicates allowed) into a chain starting at the leaf.
 * The leaf is the certificate matching 'key' when 'key' is given, otherwise the one
 * certificate that issued none of the others. Each next element is the issuer of the
 * previous one (name match and signature check). Certificates that belong to no path
 * from the leaf are left out; a self-signed root is kept only if 'keep_root'.
 * @param out new stack; new references.
 * @return CERTO_EINVAL if no leaf can be chosen (no match for 'key', or several
 *         candidates), CERTO_ETOOBIG past CERTO_CHAIN_MAX.
 */
CERTO_MUST_CHECK certo_rc certo_chain_order(STACK_OF(X509) * *out, STACK_OF(X509) * certs,
                                            EVP_PKEY *key, bool keep_root, struct certo_err *err);

/**
 * Checks that 'chain' (leaf first) links: every certificate is issued and signed by the
 * next one. @return CERTO_EINVAL naming the first broken link (1-based position).
 */
CERTO_MUST_CHECK certo_rc certo_chain_check_links(STACK_OF(X509) * chain, struct certo_err *err);

/** True if 'issuer' issued 'subject' (names match and the signature verifies). */
bool certo_chain_issued_by(X509 *subject, X509 *issuer);
/** True if 'cert' is self-issued and its signature verifies with its own key. */
bool certo_chain_self_signed(X509 *cert);

#endif
