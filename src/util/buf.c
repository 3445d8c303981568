/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bounded growable buffer (util layer); see include/certo/buf.h and
 * docs/internals/BUF.md. A failed append disposes the buffer (curl dynbuf).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "certo/buf.h"
#include "certo/mem.h"

void
certo_buf_init(struct certo_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void
certo_buf_dispose(struct certo_buf *b)
{
    /* Buffers carry serialized keystores and PEM files with keys: always wipe. */
    certo_free_clear(b->data, b->cap);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void
certo_buf_reset(struct certo_buf *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

/* Makes room for 'n' more bytes plus the NUL. */
static certo_rc
reserve(struct certo_buf *b, size_t n)
{
    if (n > b->max || b->len > b->max - n) {
        certo_buf_dispose(b);
        return CERTO_ETOOBIG;
    }
    size_t need = b->len + n + 1;
    if (need <= b->cap)
        return CERTO_OK;
    size_t cap = b->cap == 0 ? 256 : b->cap;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    /* Not realloc: it may leave a copy of the old bytes (a key) in freed memory. */
    unsigned char *grown = certo_malloc(cap);
    if (b->len > 0)
        memcpy(grown, b->data, b->len);
    certo_free_clear(b->data, b->cap);
    b->data = grown;
    b->cap = cap;
    return CERTO_OK;
}

certo_rc
certo_buf_append(struct certo_buf *b, const void *p, size_t n)
{
    certo_rc rc = reserve(b, n);
    if (rc != CERTO_OK)
        return rc;
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return CERTO_OK;
}

certo_rc
certo_buf_append_str(struct certo_buf *b, const char *s)
{
    return certo_buf_append(b, s, strlen(s));
}

certo_rc
certo_buf_printf(struct certo_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return CERTO_EINVAL;
    certo_rc rc = reserve(b, (size_t)n);
    if (rc != CERTO_OK)
        return rc;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return CERTO_OK;
}

certo_rc
certo_buf_put_u16be(struct certo_buf *b, uint16_t v)
{
    unsigned char x[2] = {(unsigned char)(v >> 8), (unsigned char)v};
    return certo_buf_append(b, x, sizeof(x));
}

certo_rc
certo_buf_put_u32be(struct certo_buf *b, uint32_t v)
{
    unsigned char x[4];
    for (int i = 0; i < 4; i++)
        x[i] = (unsigned char)(v >> (24 - 8 * i));
    return certo_buf_append(b, x, sizeof(x));
}

certo_rc
certo_buf_put_u64be(struct certo_buf *b, uint64_t v)
{
    unsigned char x[8];
    for (int i = 0; i < 8; i++)
        x[i] = (unsigned char)(v >> (56 - 8 * i));
    return certo_buf_append(b, x, sizeof(x));
}

unsigned char *
certo_buf_detach(struct certo_buf *b, size_t *len_out)
{
    unsigned char *p = b->data;
    if (len_out != NULL)
        *len_out = b->len;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}

void
certo_buf_append_fit(struct certo_buf *b, const void *p, size_t n)
{
    if (b == NULL || n == 0 || b->len >= b->max)
        return;
    if (n > b->max - b->len)
        n = b->max - b->len;
    certo_rc rc = certo_buf_append(b, p, n); /* cannot fail: it fits */
    CERTO_UNUSED(rc);
}
