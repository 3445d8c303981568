/* SPDX-License-Identifier: Apache-2.0 */
/* layer: pki */
/*
 * PEM files as keystores: a file with at most one private key and certificates. With a
 * key it is one key entry (alias from the leaf's common name) whose chain is ordered from
 * the file's certificates; without one, every certificate is a trusted entry. Writing
 * follows ks->pem_layout (combined with the key last or first, full chain, certificate,
 * chain, key).
 * Threading: no shared state.
 */
#ifndef CERTO_PEM_H
#define CERTO_PEM_H

#include "certo/keystore.h"

/**
 * Parses PEM text into 'ks' (empty, format CERTO_KS_PEM); sets ks->pem_layout to the
 * layout found. @param pass password of an encrypted key, may be NULL.
 * @return CERTO_EPARSE, CERTO_EAUTH (encrypted key, wrong or missing password),
 *         CERTO_EINVAL (several keys, key matching no certificate), CERTO_ETOOBIG.
 */
CERTO_MUST_CHECK certo_rc certo_pem_parse(struct certo_keystore *ks, const void *data, size_t len,
                                          const struct certo_secret *pass, struct certo_err *err);

/**
 * Appends 'ks' as PEM in ks->pem_layout. Key layouts need exactly one key entry; the key
 * is encrypted (PKCS#8 PBES2) when 'pass' is not NULL. Trusted entries are written as
 * certificates after the key entry's chain in the combined and full-chain layouts.
 */
CERTO_MUST_CHECK certo_rc certo_pem_write(struct certo_buf *out, const struct certo_keystore *ks,
                                          const struct certo_secret *pass, struct certo_err *err);

/**
 * True if writing 'ks' in 'layout' keeps every entry and certificate: a full-chain,
 * certificate or chain layout drops a key entry's key, a certificate layout holds one
 * certificate, a key layout no certificate.
 */
bool certo_pem_layout_keeps_all(const struct certo_keystore *ks, enum certo_pem_layout layout);

/**
 * Grows ks->pem_layout so that writing keeps every entry. A PEM file's layout comes from
 * what it held (one certificate reads as the certificate layout); after a put it may hold
 * more, and rewriting it in the old layout would silently drop the rest. A certificate-only
 * store becomes a full chain; a store with a key becomes combined (key first if it was a
 * key file). @return CERTO_EINVAL if no layout can hold it (several keys).
 */
CERTO_MUST_CHECK certo_rc certo_pem_layout_fit(struct certo_keystore *ks, struct certo_err *err);

/** Static name of a layout: "combined", "key-first", "fullchain", "cert", "chain", "key". */
const char *certo_pem_layout_name(enum certo_pem_layout layout);
/** Parses a layout name. @return CERTO_EINVAL. */
CERTO_MUST_CHECK certo_rc certo_pem_layout_parse(enum certo_pem_layout *out, const char *text,
                                                 struct certo_err *err);

#endif
