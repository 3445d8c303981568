/* SPDX-License-Identifier: Apache-2.0 */
/* layer: store */
/*
 * For store backend authors: the operations table behind certo_db (STYLE.md 5).
 * The framework allocates and zeroes 'db_ctx_size' bytes per handle and 'stmt_ctx_size'
 * bytes per statement, and frees them; backends never allocate their own root objects.
 * The framework parses the url, checks arguments and runs the migrations; a backend
 * only speaks to its database. Callers use include/certo/store.h, never this table.
 * Every slot is required in ABI 1; a table with another 'abi' or a NULL slot is refused
 * at open. Threading: a table is immutable; its contexts belong to one thread at a time.
 */
#ifndef CERTO_SYS_STORE_H
#define CERTO_SYS_STORE_H

#include "certo/store.h"

#define CERTO_STORE_ABI 1

struct certo_store_ops {
    unsigned abi;         /* CERTO_STORE_ABI */
    const char *name;     /* "sqlite", "postgresql" */
    size_t db_ctx_size;   /* bytes of per-handle state */
    size_t stmt_ctx_size; /* bytes of per-statement state */

    /* Required. Connects to 'target' (the url without its scheme and ':', never empty;
     * borrowed). May block. On failure it releases what it acquired itself: close() is
     * called only after a successful open(). Messages may name a file path, a host, port
     * and database, never a password or the url. */
    certo_rc (*open)(void *db_ctx, const char *target, struct certo_err *err);
    /* Required. Releases what open() acquired (not db_ctx itself). */
    void (*close)(void *db_ctx);
    /* Required. Runs parameterless SQL (several statements allowed). May block. */
    certo_rc (*exec)(void *db_ctx, const char *sql, struct certo_err *err);
    /* Required. BEGIN (IMMEDIATE when 'write'), COMMIT, ROLLBACK. May block. begin(write)
     * must serialise writers of the database (SQLite's write lock, PostgreSQL's advisory
     * lock): the migrations rely on it. rollback() does nothing without an open
     * transaction and reports nothing. exec() and step() inside a transaction must undo
     * only the failing statement (PostgreSQL: a savepoint per statement). */
    certo_rc (*begin)(void *db_ctx, bool write, struct certo_err *err);
    certo_rc (*commit)(void *db_ctx, struct certo_err *err);
    void (*rollback)(void *db_ctx);
    /* Required. Statement life cycle; see store.h for the meaning of each. prepare()
     * accepts exactly one statement and, on failure, leaves nothing to finalize:
     * finalize() is called only after a successful prepare(), and possibly after close()
     * of its handle. Bindings map $n to 'idx' n and return CERTO_EINVAL for an index the
     * statement does not have; they copy the value. Column pointers are borrowed from
     * the statement; col_blob() of SQL NULL gives NULL and *len 0. */
    certo_rc (*prepare)(void *db_ctx, void *stmt_ctx, const char *sql, struct certo_err *err);
    void (*finalize)(void *stmt_ctx);
    certo_rc (*bind_text)(void *stmt_ctx, int idx, const char *text);
    certo_rc (*bind_int)(void *stmt_ctx, int idx, int64_t v);
    certo_rc (*bind_blob)(void *stmt_ctx, int idx, const void *p, size_t n);
    certo_rc (*bind_null)(void *stmt_ctx, int idx);
    certo_rc (*step)(void *stmt_ctx, bool *row, struct certo_err *err);
    void (*reset)(void *stmt_ctx);
    const char *(*col_text)(void *stmt_ctx, int col);
    int64_t (*col_int)(void *stmt_ctx, int col);
    const void *(*col_blob)(void *stmt_ctx, int col, size_t *len);
    bool (*col_is_null)(void *stmt_ctx, int col);
    /* Required. Rows changed by the last INSERT/UPDATE/DELETE on the handle. */
    int64_t (*changes)(void *db_ctx);
};

#endif
