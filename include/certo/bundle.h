/* SPDX-License-Identifier: Apache-2.0 */
/* layer: pki */
/*
 * Certificate material to install or store: a private key and its ordered chain, read
 * from whatever the user has: certificate, key and chain files in PEM or DER (in any
 * order, several certificates per file), or one entry of a PKCS#12, JKS or PEM keystore.
 * Threading: no shared state.
 */
#ifndef CERTO_BUNDLE_H
#define CERTO_BUNDLE_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "certo/err.h"
#include "certo/secret.h"

/** Where the material comes from. Either the files or 'keystore_path'. All borrowed. */
struct certo_bundle_src {
    const char *cert_path;  /* certificate(s), may also hold the key and the chain */
    const char *key_path;   /* private key; NULL if 'cert_path' holds it, or none needed */
    const char *chain_path; /* more certificates of the chain, any order; may be NULL */
    const struct certo_secret *key_pass;      /* password of an encrypted key; may be NULL */
    const char *keystore_path;                /* PKCS#12 / JKS / PEM keystore instead of files */
    const struct certo_secret *keystore_pass; /* its password */
    const char *alias;                        /* entry of the keystore; NULL: its only key entry */
    bool key_required; /* fail with CERTO_EINVAL when no private key is found */
};

struct certo_bundle {
    EVP_PKEY *key;          /* owned; NULL when the source has no key */
    STACK_OF(X509) * chain; /* owned; leaf first, ordered, root kept if given */
    char *alias;            /* owned; the entry's alias when read from a keystore, else NULL */
};

/**
 * Loads and checks material: the key must match the leaf, the chain must link.
 * @return CERTO_ENOTFOUND / CERTO_EPERM naming the file, CERTO_EPARSE, CERTO_EAUTH,
 *         CERTO_EINVAL (key does not match the certificate, chain does not link,
 *         missing key when required).
 */
CERTO_MUST_CHECK certo_rc certo_bundle_load(struct certo_bundle **out,
                                            const struct certo_bundle_src *src,
                                            struct certo_err *err);
/** Frees the bundle; NULL is a no-op. */
void certo_bundle_free(struct certo_bundle *b);

#endif
