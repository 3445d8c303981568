/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The statement helpers of the server's storage code (accounts.c, gateways.c): bind by a
 * format string ('t' text, 'i' int64, 'z' int64 stored as NULL when 0), run, read one
 * integer, finish a transaction, clamp a page.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "server/sql.h"

#define WHERE "server.sql"

static certo_rc
bind_args(struct certo_stmt *st, const char *fmt, va_list ap)
{
    certo_rc rc = CERTO_OK;

    for (int i = 1; fmt[i - 1] != '\0' && rc == CERTO_OK; i++) {
        switch (fmt[i - 1]) {
        case 't':
            rc = certo_stmt_bind_text(st, i, va_arg(ap, const char *));
            break;
        case 'i':
            rc = certo_stmt_bind_int(st, i, va_arg(ap, int64_t));
            break;
        case 'z': {
            int64_t v = va_arg(ap, int64_t);
            rc = v != 0 ? certo_stmt_bind_int(st, i, v) : certo_stmt_bind_null(st, i);
            break;
        }
        default:
            CERTO_ASSERT(!"bad bind format");
        }
    }
    return rc;
}

certo_rc
sql_query(struct certo_stmt **out, struct certo_db *db, struct certo_err *err, const char *sql,
          const char *fmt, ...)
{
    va_list ap;
    certo_rc rc = certo_db_prepare(db, out, sql, err);

    if (rc != CERTO_OK)
        return rc;
    va_start(ap, fmt);
    rc = bind_args(*out, fmt, ap);
    va_end(ap);
    if (rc != CERTO_OK) {
        certo_stmt_free(*out);
        *out = NULL;
        return certo_err_set(err, rc, WHERE, "cannot bind a statement parameter");
    }
    return CERTO_OK;
}

certo_rc
sql_run(struct certo_db *db, struct certo_err *err, const char *sql, const char *fmt, ...)
{
    struct certo_stmt *st = NULL;
    va_list ap;
    bool row = true;
    certo_rc rc = certo_db_prepare(db, &st, sql, err);

    if (rc != CERTO_OK)
        return rc;
    va_start(ap, fmt);
    rc = bind_args(st, fmt, ap);
    va_end(ap);
    if (rc != CERTO_OK)
        rc = certo_err_set(err, rc, WHERE, "cannot bind a statement parameter");
    while (rc == CERTO_OK && row)
        rc = certo_stmt_step(st, &row, err);
    certo_stmt_free(st);
    return rc;
}

certo_rc
sql_scalar(int64_t *out, int64_t dflt, struct certo_db *db, struct certo_err *err, const char *sql,
           const char *fmt, ...)
{
    struct certo_stmt *st = NULL;
    va_list ap;
    bool row = false;
    certo_rc rc = certo_db_prepare(db, &st, sql, err);

    if (rc != CERTO_OK)
        return rc;
    va_start(ap, fmt);
    rc = bind_args(st, fmt, ap);
    va_end(ap);
    if (rc != CERTO_OK)
        rc = certo_err_set(err, rc, WHERE, "cannot bind a statement parameter");
    if (rc == CERTO_OK)
        rc = certo_stmt_step(st, &row, err);
    if (rc == CERTO_OK)
        *out = row ? certo_stmt_int(st, 0) : dflt;
    certo_stmt_free(st);
    return rc;
}

void
sql_copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src != NULL ? src : "");
}

certo_rc
sql_finish_tx(struct certo_db *db, certo_rc rc, struct certo_err *err)
{
    if (rc == CERTO_OK)
        rc = certo_db_commit(db, err);
    if (rc != CERTO_OK)
        certo_db_rollback(db);
    return rc;
}

void
sql_page_begin(struct certo_page *page, int64_t total)
{
    if (page->start < 0)
        page->start = 0;
    if (page->max <= 0 || page->max > CERTO_LIST_MAX)
        page->max = CERTO_LIST_MAX;
    page->total = total;
    page->n = 0;
}
