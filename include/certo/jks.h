/* SPDX-License-Identifier: Apache-2.0 */
/* layer: pki */
/*
 * The Java KeyStore (JKS) format in our own code (REFERENCE.md 1): PrivateKeyEntry and
 * trustedCertEntry, modified UTF-8 aliases, the Sun KeyProtector for private keys and the
 * SHA-1 "Mighty Aphrodite" integrity digest over the whole file. Version 2 is written;
 * versions 1 and 2 are read. Key passwords equal the store password.
 * Threading: no shared state.
 */
#ifndef CERTO_JKS_H
#define CERTO_JKS_H

#include "certo/keystore.h"

/**
 * Parses JKS bytes into 'ks' (an empty keystore of format CERTO_KS_JKS). The integrity
 * digest is checked before any entry is trusted; every length is bounded by the bytes
 * left. Aliases are kept as stored.
 * @return CERTO_EPARSE (corrupt, truncated, trailing bytes, duplicate alias),
 *         CERTO_EAUTH (digest mismatch: wrong password, or the file was altered),
 *         CERTO_EUNSUPPORTED (JCEKS magic), CERTO_ETOOBIG (over CERTO_JKS_MAX).
 */
CERTO_MUST_CHECK certo_rc certo_jks_parse(struct certo_keystore *ks, const void *data, size_t len,
                                          const struct certo_secret *pass, struct certo_err *err);

/**
 * Appends the JKS encoding of 'ks' to 'out'. Aliases are written lower-case (an alias
 * that is not is refused with CERTO_EINVAL).
 */
CERTO_MUST_CHECK certo_rc certo_jks_write(struct certo_buf *out, const struct certo_keystore *ks,
                                          const struct certo_secret *pass, struct certo_err *err);

/**
 * Java modified UTF-8 (REFERENCE.md 1.2): encodes UTF-8 'in' into 'out'. For tests.
 * @return CERTO_EINVAL for invalid UTF-8, CERTO_ETOOBIG over 65535 bytes.
 */
CERTO_MUST_CHECK certo_rc certo_jks_mutf8_encode(struct certo_buf *out, const char *in, size_t len);
/** Decodes modified UTF-8 into UTF-8 (NUL-terminated in 'out'). @return CERTO_EPARSE. */
CERTO_MUST_CHECK certo_rc certo_jks_mutf8_decode(struct certo_buf *out, const unsigned char *in,
                                                 size_t len);

#endif
