/* SPDX-License-Identifier: Apache-2.0 */
/* layer: pki */
/*
 * Private keys: generation, reading (PEM, DER, encrypted PKCS#8, traditional), writing
 * (PKCS#8, optionally encrypted with PBES2/AES-256-CBC) and description. Keys are
 * OpenSSL EVP_PKEY objects; functions that return one hand over a new reference.
 * Threading: no shared state; EVP_PKEY objects are immutable after creation.
 */
#ifndef CERTO_KEY_H
#define CERTO_KEY_H

#include <openssl/evp.h>

#include "certo/buf.h"
#include "certo/err.h"
#include "certo/secret.h"

/** Key algorithms Certo generates. */
enum certo_key_alg {
    CERTO_KEY_RSA = 1,     /* RSA, 2048/3072/4096 bits */
    CERTO_KEY_EC = 2,      /* ECDSA on P-256 or P-384 */
    CERTO_KEY_ED25519 = 3, /* Ed25519 */
};

/** A key specification: algorithm and size (bits for RSA, curve bits for EC). */
struct certo_key_spec {
    enum certo_key_alg alg;
    unsigned bits; /* RSA: 2048, 3072, 4096; EC: 256, 384; Ed25519: 256 */
};

/**
 * Parses a user key specification: "rsa" (2048), "rsa:2048", "rsa:3072", "rsa:4096",
 * "ec" (P-256), "ec:p256", "ec:p384", "p256", "p384", "ed25519".
 * @return CERTO_EINVAL naming the accepted values.
 */
CERTO_MUST_CHECK certo_rc certo_key_spec_parse(struct certo_key_spec *out, const char *text,
                                               struct certo_err *err);

/** Generates a new key. */
CERTO_MUST_CHECK certo_rc certo_key_generate(EVP_PKEY **out, const struct certo_key_spec *spec,
                                             struct certo_err *err);

/**
 * Reads one private key from PEM (PKCS#8, encrypted PKCS#8, traditional RSA/EC) or DER
 * (PKCS#8 or encrypted PKCS#8). The first private key of a PEM bundle is used.
 * @param pass password for an encrypted key; may be NULL.
 * @return CERTO_EPARSE (no key found / malformed), CERTO_EAUTH (encrypted key and
 *         'pass' is missing or wrong), CERTO_ETOOBIG (over CERTO_PEM_MAX).
 */
CERTO_MUST_CHECK certo_rc certo_key_parse(EVP_PKEY **out, const void *data, size_t len,
                                          const struct certo_secret *pass, struct certo_err *err);

/**
 * Appends the key as PKCS#8 PEM to 'out'; encrypted (PBES2, PBKDF2-HMAC-SHA256,
 * AES-256-CBC) when 'pass' is not NULL.
 */
CERTO_MUST_CHECK certo_rc certo_key_to_pem(struct certo_buf *out, EVP_PKEY *key,
                                           const struct certo_secret *pass, struct certo_err *err);
/** Appends the unencrypted PKCS#8 DER of the key to 'out'. */
CERTO_MUST_CHECK certo_rc certo_key_to_der(struct certo_buf *out, EVP_PKEY *key,
                                           struct certo_err *err);

/** Static algorithm name for display: "RSA", "EC", "Ed25519", or "unknown". */
const char *certo_key_alg_name(const EVP_PKEY *key);
/** Size in bits (RSA modulus, EC curve, 256 for Ed25519). */
int certo_key_bits(const EVP_PKEY *key);
/** Curve name for EC keys ("P-256", "P-384"), NULL for others. Static string. */
const char *certo_key_curve(const EVP_PKEY *key);

/** True if the public halves of 'a' and 'b' are the same key. */
bool certo_key_public_equal(const EVP_PKEY *a, const EVP_PKEY *b);

#endif
