/* SPDX-License-Identifier: Apache-2.0 */
/* layer: util */
/*
 * Allocation wrappers. They never return NULL: on exhaustion they log and abort
 * (STYLE.md 3.3). Release with certo_free / CERTO_FREE.
 */
#ifndef CERTO_MEM_H
#define CERTO_MEM_H

#include <stdlib.h>
#include <stdarg.h>

#include "certo/common.h"

void *certo_malloc(size_t n);
void *certo_calloc(size_t nmemb, size_t size);
void *certo_realloc(void *p, size_t n);
/** Reallocates an array of 'nmemb' elements of 'size' bytes; aborts on overflow. */
void *certo_reallocarray(void *p, size_t nmemb, size_t size);
char *certo_strdup(const char *s);
char *certo_strndup(const char *s, size_t n);
/** Formats into a new string (never NULL). */
char *certo_asprintf(const char *fmt, ...) CERTO_PRINTF(1, 2);
/** certo_asprintf with a va_list. */
char *certo_vasprintf(const char *fmt, va_list ap) CERTO_PRINTF(1, 0);
void certo_free(void *p);
/** Overwrites 'n' bytes of 'p' with zeros (not optimised away), then frees it. */
void certo_free_clear(void *p, size_t n);

/** Frees the pointer and sets it to NULL. */
#define CERTO_FREE(p)                                                                              \
    do {                                                                                           \
        certo_free(p);                                                                             \
        (p) = NULL;                                                                                \
    } while (0)

#endif
