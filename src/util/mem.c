/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Allocation wrappers (util layer). They abort instead of returning NULL (STYLE.md 3.3):
 * a long-running service persists its state, so dying cleanly beats limping on.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "certo/mem.h"

static CERTO_NORETURN void
out_of_memory(size_t n)
{
    fprintf(stderr, "certo: out of memory allocating %zu bytes\n", n);
    abort();
}

void *
certo_malloc(size_t n)
{
    void *p = malloc(n == 0 ? 1 : n);
    if (p == NULL)
        out_of_memory(n);
    return p;
}

void *
certo_calloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb == 0 ? 1 : nmemb, size == 0 ? 1 : size);
    if (p == NULL)
        out_of_memory(nmemb * size);
    return p;
}

void *
certo_realloc(void *p, size_t n)
{
    void *q = realloc(p, n == 0 ? 1 : n);
    if (q == NULL)
        out_of_memory(n);
    return q;
}

void *
certo_reallocarray(void *p, size_t nmemb, size_t size)
{
    if (size != 0 && nmemb > SIZE_MAX / size)
        out_of_memory(SIZE_MAX);
    return certo_realloc(p, nmemb * size);
}

char *
certo_strdup(const char *s)
{
    return certo_strndup(s, strlen(s));
}

char *
certo_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *d = certo_malloc(len + 1);
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

char *
certo_vasprintf(const char *fmt, va_list ap)
{
    va_list again;
    int n;

    va_copy(again, ap);
    n = vsnprintf(NULL, 0, fmt, ap);
    if (n < 0)
        out_of_memory(0);
    char *s = certo_malloc((size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, fmt, again);
    va_end(again);
    return s;
}

char *
certo_asprintf(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    char *s = certo_vasprintf(fmt, ap);
    va_end(ap);
    return s;
}

void
certo_free(void *p)
{
    free(p);
}

void
certo_free_clear(void *p, size_t n)
{
    if (p == NULL)
        return;
    OPENSSL_cleanse(p, n);
    free(p);
}
