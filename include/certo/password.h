/* SPDX-License-Identifier: Apache-2.0 */
/* layer: server */
/*
 * User password hashes: argon2id (RFC 9106) through libargon2, in the PHC string form
 * "$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<tag>" that other tools read.
 * Stored encodings are checked against sane bounds before any hashing, so a tampered
 * row cannot make the server spend minutes or gigabytes on one login. Passwords only
 * ever arrive in a struct certo_secret and are never copied elsewhere.
 * Threading: no shared state; each call allocates its own argon2 memory (about 19 MiB).
 */
#ifndef CERTO_PASSWORD_H
#define CERTO_PASSWORD_H

#include "certo/err.h"
#include "certo/secret.h"

/* Parameters of new hashes: OWASP's argon2id minimum (m=19 MiB, t=2, p=1). */
#define CERTO_PASSWORD_T_COST   2     /* passes */
#define CERTO_PASSWORD_M_COST   19456 /* KiB of memory */
#define CERTO_PASSWORD_P        1     /* lanes */
#define CERTO_PASSWORD_SALT_LEN 16    /* bytes of random salt */
#define CERTO_PASSWORD_TAG_LEN  32    /* bytes of hash output */

/* Bounds on a stored encoding's parameters; beyond them it is refused unhashed. */
#define CERTO_PASSWORD_M_COST_MAX (1024 * 1024) /* KiB: 1 GiB */
#define CERTO_PASSWORD_T_COST_MAX 10
#define CERTO_PASSWORD_P_MAX      8

/** Longest password accepted, in bytes; the empty password is never accepted. */
#define CERTO_PASSWORD_MAX 1024
/** Characters of a password from certo_password_generate, without the NUL. */
#define CERTO_PASSWORD_GEN_LEN 32

/**
 * Hashes a password with argon2id, the CERTO_PASSWORD_* parameters and a fresh random
 * salt.
 * @param out_encoded the PHC string, NUL-terminated, owned by the caller (free with
 *        certo_free); NULL on failure. Not secret, but only for the password store.
 * @param pw borrowed password, 1 to CERTO_PASSWORD_MAX bytes.
 * @return CERTO_OK; CERTO_EINVAL (empty or too long a password); CERTO_ECRYPTO (no
 *         randomness); CERTO_ENOMEM (argon2 could not allocate its memory).
 */
CERTO_MUST_CHECK certo_rc certo_password_hash(char **out_encoded, const struct certo_secret *pw,
                                              struct certo_err *err);

/**
 * Checks a password against a stored encoding, in constant time with respect to the
 * tag (libargon2's comparison). The encoding must be argon2id version 19 with m at most
 * CERTO_PASSWORD_M_COST_MAX KiB, t at most CERTO_PASSWORD_T_COST_MAX and p at most
 * CERTO_PASSWORD_P_MAX; that is checked before any hashing.
 * @param encoded borrowed NUL-terminated PHC string.
 * @param pw borrowed password.
 * @return CERTO_OK on a match; CERTO_EAUTH ("wrong password"); CERTO_EINVAL (an encoding
 *         that is not argon2id, is malformed or out of bounds; an empty or too long
 *         password); CERTO_ENOMEM.
 */
CERTO_MUST_CHECK certo_rc certo_password_verify(const char *encoded, const struct certo_secret *pw,
                                                struct certo_err *err);

/**
 * True when 'encoded' should be replaced by a new hash at the next successful login:
 * it is weaker than the current parameters (smaller m or t, shorter salt or tag), or it
 * is not an argon2id version 19 encoding we can read at all.
 * @param encoded borrowed NUL-terminated PHC string.
 */
bool certo_password_needs_rehash(const char *encoded);

/**
 * Writes a random password of CERTO_PASSWORD_GEN_LEN characters and a NUL into 'out',
 * from an alphabet of 56 letters and digits without the look-alikes 0 O o 1 l I
 * (about 186 bits). Meant for the first administrator; the caller moves it into a
 * struct certo_secret and wipes 'out' once it has been shown.
 * Never fails: like an allocation failure (STYLE.md 3.3), a random generator that
 * cannot deliver is logged and aborts the process, since no password or key made
 * after that could be trusted.
 */
void certo_password_generate(char out[CERTO_PASSWORD_GEN_LEN + 1]);

#endif
