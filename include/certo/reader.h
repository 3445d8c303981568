/* SPDX-License-Identifier: Apache-2.0 */
/* layer: util */
/*
 * Sticky reader over a byte range for binary formats (STYLE.md 3.4): after the first
 * failure every certo_rd_* call does nothing and returns zero/NULL, and certo_rd_finish()
 * reports the first error. Lengths are always checked against the bytes left before any
 * pointer is handed out, so hostile length fields cannot cause over-reads.
 * Threading: owned by one thread.
 */
#ifndef CERTO_READER_H
#define CERTO_READER_H

#include "certo/common.h"

struct certo_rd {
    const unsigned char *p; /* borrowed; next unread byte */
    size_t left;            /* bytes left */
    certo_rc rc;            /* CERTO_OK until the first failure, then sticky */
};

void certo_rd_init(struct certo_rd *rd, const void *data, size_t len);
uint16_t certo_rd_u16be(struct certo_rd *rd);
uint32_t certo_rd_u32be(struct certo_rd *rd);
uint64_t certo_rd_u64be(struct certo_rd *rd);
/** Returns a borrowed pointer to the next 'n' bytes and skips them; NULL if fewer are left. */
const unsigned char *certo_rd_bytes(struct certo_rd *rd, size_t n);
/** Marks the reader failed with 'rc' (if it has not failed already). */
void certo_rd_fail(struct certo_rd *rd, certo_rc rc);
/** CERTO_OK, or the first failure (CERTO_EPARSE for a read past the end). */
CERTO_MUST_CHECK certo_rc certo_rd_finish(const struct certo_rd *rd);

#endif
