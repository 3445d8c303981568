/* SPDX-License-Identifier: Apache-2.0 */
/* layer: pki */
/*
 * Secrets at rest (DESIGN.md 6.4): AES-256-GCM under a key encryption key (KEK) that
 * never lives in the database. The associated data names the record and field a
 * ciphertext belongs to ("endpoint/<id>/password"), so a ciphertext copied into another
 * row or field fails to open. Sealed format, version 1:
 *     "CS" 0x01 | key id (4 bytes) | nonce (12) | ciphertext | tag (16)
 * where the key id is the first 4 bytes of SHA-256("certo-seal-kid" || KEK): a wrong KEK
 * is told apart from a tampered record. A key is immutable after load; any thread.
 */
#ifndef CERTO_SEAL_H
#define CERTO_SEAL_H

#include "certo/common.h"
#include "certo/buf.h"
#include "certo/err.h"
#include "certo/secret.h"

#define CERTO_SEAL_KEY_LEN  32 /* AES-256 */
#define CERTO_SEAL_OVERHEAD (3 + 4 + 12 + 16)

struct certo_seal_key;

/**
 * Loads the KEK. When 'env_name' is not NULL and that environment variable is set, the
 * key is its value (64 hex digits). Otherwise it is read from 'path' (64 hex digits and
 * an optional newline), which must be a regular file that neither group nor others may
 * read. When 'path' does not exist and 'create' is true, a random key is written there
 * with mode 0600; two processes creating it at once end up with the same key.
 * @return CERTO_OK; CERTO_ENOTFOUND (no file, !create); CERTO_EPERM (file too open);
 *         CERTO_EPARSE (not 64 hex digits, the message names the source); CERTO_EIO.
 */
CERTO_MUST_CHECK certo_rc certo_seal_key_load(struct certo_seal_key **out, const char *path,
                                              const char *env_name, bool create,
                                              struct certo_err *err);
/** Makes a key from 32 raw bytes (tests, and keys kept elsewhere). */
CERTO_MUST_CHECK certo_rc certo_seal_key_from_bytes(struct certo_seal_key **out,
                                                    const unsigned char *raw, size_t n,
                                                    struct certo_err *err);
/** Wipes and frees the key. NULL ok. */
void certo_seal_key_free(struct certo_seal_key *k);

/**
 * Encrypts 'n' bytes of 'pt' with a fresh random nonce, binding 'aad' (a NUL-terminated
 * record name); appends the sealed bytes to 'out'.
 * @return CERTO_OK; CERTO_ETOOBIG (out's ceiling); CERTO_ECRYPTO.
 */
CERTO_MUST_CHECK certo_rc certo_seal(const struct certo_seal_key *k, const char *aad,
                                     const void *pt, size_t n, struct certo_buf *out,
                                     struct certo_err *err);

/**
 * Decrypts sealed bytes made for 'aad'.
 * @return CERTO_OK with *out owned by the caller; CERTO_EPARSE (not a sealed value);
 *         CERTO_EAUTH (another KEK, or the value was altered or belongs to another record).
 */
CERTO_MUST_CHECK certo_rc certo_unseal(const struct certo_seal_key *k, const char *aad,
                                       const void *sealed, size_t n, struct certo_secret **out,
                                       struct certo_err *err);

#endif
