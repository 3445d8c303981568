/* SPDX-License-Identifier: Apache-2.0 */
/* layer: util */
/*
 * Secrets (passwords, PINs, tokens): kept in OpenSSL's secure heap when it is set up,
 * always wiped on free, never logged and never placed in an error message (STYLE.md 4.6).
 * Immutable after creation; safe to share read-only between threads.
 */
#ifndef CERTO_SECRET_H
#define CERTO_SECRET_H

#include "certo/common.h"

struct certo_secret;

/**
 * Copies 'n' bytes into a new secret (NUL-terminated internally).
 * @return CERTO_OK, or CERTO_ETOOBIG past CERTO_SECRET_MAX.
 */
CERTO_MUST_CHECK certo_rc certo_secret_new(struct certo_secret **out, const void *p, size_t n);
/** Copies a NUL-terminated string into a new secret. */
CERTO_MUST_CHECK certo_rc certo_secret_from_str(struct certo_secret **out, const char *s);
/**
 * Reads a secret from the first line of a file (the trailing newline is not part of it).
 * @return CERTO_ENOTFOUND, CERTO_EPERM, CERTO_EIO (errno set), CERTO_ETOOBIG.
 */
CERTO_MUST_CHECK certo_rc certo_secret_load_file(struct certo_secret **out, const char *path);
/** Wipes and frees; NULL is a no-op. */
void certo_secret_free(struct certo_secret *s);
/** Borrowed NUL-terminated bytes, valid while 's' lives. */
const char *certo_secret_get0(const struct certo_secret *s);
size_t certo_secret_len(const struct certo_secret *s);
/** Constant-time equality of two secrets (lengths may differ). */
bool certo_secret_equal(const struct certo_secret *a, const struct certo_secret *b);

#endif
