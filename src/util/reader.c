/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Sticky big-endian reader for binary formats (util layer); see include/certo/reader.h.
 */
#include "certo/reader.h"

void
certo_rd_init(struct certo_rd *rd, const void *data, size_t len)
{
    rd->p = data;
    rd->left = len;
    rd->rc = CERTO_OK;
}

void
certo_rd_fail(struct certo_rd *rd, certo_rc rc)
{
    if (rd->rc == CERTO_OK)
        rd->rc = rc;
}

const unsigned char *
certo_rd_bytes(struct certo_rd *rd, size_t n)
{
    if (rd->rc != CERTO_OK)
        return NULL;
    if (n > rd->left) {
        rd->rc = CERTO_EPARSE;
        return NULL;
    }
    const unsigned char *p = rd->p;
    rd->p += n;
    rd->left -= n;
    return p;
}

static uint64_t
read_be(struct certo_rd *rd, size_t n)
{
    const unsigned char *p = certo_rd_bytes(rd, n);
    uint64_t v = 0;
    if (p == NULL)
        return 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

uint16_t
certo_rd_u16be(struct certo_rd *rd)
{
    return (uint16_t)read_be(rd, 2);
}

uint32_t
certo_rd_u32be(struct certo_rd *rd)
{
    return (uint32_t)read_be(rd, 4);
}

uint64_t
certo_rd_u64be(struct certo_rd *rd)
{
    return read_be(rd, 8);
}

certo_rc
certo_rd_finish(const struct certo_rd *rd)
{
    return rd->rc;
}
