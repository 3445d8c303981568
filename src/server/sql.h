/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to the server layer: statement helpers shared by the storage code. 'fmt'
 * names each bound value's type in order: 't' text (const char *, NULL binds NULL), 'i'
 * int64_t, 'z' int64_t bound as NULL when 0 (an absent reference).
 */
#ifndef CERTO_SERVER_SQL_H
#define CERTO_SERVER_SQL_H

#include <stdint.h>

#include "certo/accounts.h"
#include "certo/store.h"

/* Prepares and binds 'sql'; the caller steps and frees *out. */
certo_rc sql_query(struct certo_stmt **out, struct certo_db *db, struct certo_err *err,
                   const char *sql, const char *fmt, ...);
/* Runs a statement whose rows, if any, do not matter. */
certo_rc sql_run(struct certo_db *db, struct certo_err *err, const char *sql, const char *fmt, ...);
/* The single integer a query returns (a COUNT, an id); 'dflt' when there is no row. */
certo_rc sql_scalar(int64_t *out, int64_t dflt, struct certo_db *db, struct certo_err *err,
                    const char *sql, const char *fmt, ...);
/* Commits, or rolls back after a failure; returns 'rc' or the commit's error. */
certo_rc sql_finish_tx(struct certo_db *db, certo_rc rc, struct certo_err *err);
/* Clamps a page request (start >= 0, 1..CERTO_LIST_MAX rows) and sets its total. */
void sql_page_begin(struct certo_page *page, int64_t total);
/* Copies a column's text (NULL: empty) into a fixed buffer. */
void sql_copy(char *dst, size_t cap, const char *src);

#endif
