/* SPDX-License-Identifier: Apache-2.0 */
/* layer: util */
/*
 * Growable byte buffer with a ceiling (curl dynbuf, OpenSSH sshbuf max_size). Every
 * append past the ceiling fails with CERTO_ETOOBIG and releases the buffer, so a caller
 * that gives up on the first error leaks nothing. Memory is wiped when it is released or
 * outgrown, because buffers carry serialized keystores and PEM files that hold keys;
 * passwords still belong in certo_secret.
 * Threading: owned by one thread at a time.
 */
#ifndef CERTO_BUF_H
#define CERTO_BUF_H

#include "certo/common.h"

struct certo_buf {
    unsigned char *data; /* owned; NULL until the first append; always NUL-terminated after */
    size_t len;          /* bytes used, excluding the terminating NUL */
    size_t cap;          /* bytes allocated */
    size_t max;          /* ceiling on len, set at init */
};

/** Initialises an empty buffer that may hold at most 'max' bytes. */
void certo_buf_init(struct certo_buf *b, size_t max);
/** Releases the contents; the buffer is empty and reusable with the same ceiling. */
void certo_buf_dispose(struct certo_buf *b);
/** Empties the buffer but keeps its memory. */
void certo_buf_reset(struct certo_buf *b);

/** Appends 'n' bytes. @return CERTO_OK, or CERTO_ETOOBIG (buffer disposed). */
CERTO_MUST_CHECK certo_rc certo_buf_append(struct certo_buf *b, const void *p, size_t n);
/** Appends a NUL-terminated string (without its NUL). */
CERTO_MUST_CHECK certo_rc certo_buf_append_str(struct certo_buf *b, const char *s);
/**
 * Appends as much of 'n' bytes as fits under the ceiling and drops the rest: for reports
 * and logs, where a full buffer must keep what it holds (certo_buf_append would free it).
 * 'b' may be NULL.
 */
void certo_buf_append_fit(struct certo_buf *b, const void *p, size_t n);
/** Appends printf-formatted text. */
CERTO_MUST_CHECK certo_rc certo_buf_printf(struct certo_buf *b, const char *fmt, ...)
    CERTO_PRINTF(2, 3);
/** Appends big-endian integers (JKS and other binary formats). */
CERTO_MUST_CHECK certo_rc certo_buf_put_u16be(struct certo_buf *b, uint16_t v);
CERTO_MUST_CHECK certo_rc certo_buf_put_u32be(struct certo_buf *b, uint32_t v);
CERTO_MUST_CHECK certo_rc certo_buf_put_u64be(struct certo_buf *b, uint64_t v);

/**
 * Hands the contents to the caller (free with certo_free) and leaves 'b' empty.
 * @param len_out may be NULL. @return NULL for an empty buffer.
 */
unsigned char *certo_buf_detach(struct certo_buf *b, size_t *len_out);

#endif
