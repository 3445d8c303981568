/* SPDX-License-Identifier: Apache-2.0 */
/* layer: store */
/*
 * Storage: one small SQL interface over interchangeable backends (SQLite now,
 * PostgreSQL later), with numbered schema migrations applied at open.
 * SQL text is written once for every backend: parameters are $1, $2, ... and only
 * portable types are used (TEXT, INTEGER, BLOB). Values always travel as bound
 * parameters, never inside SQL text. A handle is used by one thread at a time.
 */
#ifndef CERTO_STORE_H
#define CERTO_STORE_H

#include <stdint.h>

#include "certo/common.h"
#include "certo/err.h"

struct certo_db;
struct certo_stmt;

/** One schema step. 'version' values start at 1 and increase by one. */
struct certo_migration {
    int version;
    const char *name; /* short description, recorded with the version */
    const char *sql;  /* one or more statements, run in one transaction */
};

/**
 * Opens (creating if needed) the database at 'url': a file path or "sqlite:PATH" (a path
 * with ':' before its first '/' must be written "./a:b"). A new SQLite file is created
 * 0600 and runs in WAL mode; a busy database is waited for (up to 10 s) instead of failing
 * at once. Then every migration in 'migs' newer than the database's version is applied,
 * each in its own write transaction; several processes may open one database at once.
 * May block. Messages name the path, never a whole url (it may hold a password).
 * @param out   set to a new handle on success (free with certo_db_close), else NULL.
 * @param url   borrowed.
 * @param migs  borrowed; versions 1..n_migs in order; may be NULL when n_migs is 0.
 * @return CERTO_OK; CERTO_EINVAL (empty url or path); CERTO_ENOTFOUND (the directory does
 *         not exist); CERTO_EPERM (no write access to the directory or file);
 *         CERTO_EUNSUPPORTED (another url scheme, or a database newer than 'migs');
 *         CERTO_ECONFLICT (still busy); CERTO_EINTERNAL (versions not 1..n);
 *         another code if a migration failed: it was rolled back, the earlier ones stay
 *         applied, and the message names its version and name; CERTO_EIO otherwise.
 */
CERTO_MUST_CHECK certo_rc certo_db_open(struct certo_db **out, const char *url,
                                        const struct certo_migration *migs, size_t n_migs,
                                        struct certo_err *err);
/**
 * Closes the handle. NULL ok. Every statement must be finalized first; one left over
 * still frees cleanly with certo_stmt_free afterwards, but can no longer be run.
 */
void certo_db_close(struct certo_db *db);

/** Schema version after open (0 with no migrations and a fresh database). */
int certo_db_version(const struct certo_db *db);

/**
 * Starts a transaction. 'write' takes the write lock at once (SQLite BEGIN IMMEDIATE),
 * so a read-then-write transaction cannot fail half-way on a concurrent writer; without
 * it, the first write of a transaction that another writer overtook fails with
 * CERTO_ECONFLICT. May block up to the busy timeout.
 * @return CERTO_OK; CERTO_ECONFLICT (still busy); CERTO_EIO (e.g. already in one).
 */
CERTO_MUST_CHECK certo_rc certo_db_begin(struct certo_db *db, bool write, struct certo_err *err);
/**
 * Commits the open transaction. On failure the transaction may still be open: call
 * certo_db_rollback.
 * @return CERTO_OK; CERTO_ECONFLICT (still busy); CERTO_EIO (including no transaction).
 */
CERTO_MUST_CHECK certo_rc certo_db_commit(struct certo_db *db, struct certo_err *err);
/** Rolls back the open transaction, if any; without one it does nothing. Never fails. */
void certo_db_rollback(struct certo_db *db);

/**
 * Runs SQL without parameters or results (DDL, several statements allowed; they stop at
 * the first failure). Errors map as for certo_stmt_step.
 */
CERTO_MUST_CHECK certo_rc certo_db_exec(struct certo_db *db, const char *sql,
                                        struct certo_err *err);

/**
 * Prepares exactly one statement ('sql' is borrowed; a trailing ';' or comment is fine).
 * @param out set to a new statement on success (free with certo_stmt_free), else NULL.
 * @return CERTO_OK; CERTO_EINVAL (bad SQL, unknown table, no or several statements).
 */
CERTO_MUST_CHECK certo_rc certo_db_prepare(struct certo_db *db, struct certo_stmt **out,
                                           const char *sql, struct certo_err *err);
/** Finalizes a statement. NULL ok. */
void certo_stmt_free(struct certo_stmt *st);

/*
 * Binding: 'idx' is the parameter number n of $n (1-based), wherever $n appears and in
 * whatever order ("$2 ... $1" is fine). Values are copied at the call. A NULL 'text'
 * binds SQL NULL; a blob of length 0 is an empty blob, not NULL. Bind before the first
 * step or after certo_stmt_reset.
 * @return CERTO_OK; CERTO_EINVAL (the statement has no $idx); CERTO_ETOOBIG.
 */
CERTO_MUST_CHECK certo_rc certo_stmt_bind_text(struct certo_stmt *st, int idx, const char *text);
CERTO_MUST_CHECK certo_rc certo_stmt_bind_int(struct certo_stmt *st, int idx, int64_t v);
CERTO_MUST_CHECK certo_rc certo_stmt_bind_blob(struct certo_stmt *st, int idx, const void *p,
                                               size_t n);
CERTO_MUST_CHECK certo_rc certo_stmt_bind_null(struct certo_stmt *st, int idx);

/**
 * Runs the statement to its next row. May block up to the busy timeout.
 * @return CERTO_OK with *row true (a row is ready) or false (done);
 *         CERTO_EEXIST on a UNIQUE or PRIMARY KEY violation; CERTO_EINVAL on another
 *         constraint (NOT NULL, CHECK, FOREIGN KEY); CERTO_ECONFLICT when the database
 *         stayed busy; CERTO_EIO otherwise. The message quotes the database's text and the
 *         start of the SQL, never a bound value. A violation inside a transaction undoes
 *         only this statement; the transaction stays open.
 */
CERTO_MUST_CHECK certo_rc certo_stmt_step(struct certo_stmt *st, bool *row, struct certo_err *err);
/** Resets a statement to run again; bindings are cleared. */
void certo_stmt_reset(struct certo_stmt *st);

/*
 * Columns of the current row, 0-based. Pointers are borrowed until the next step,
 * reset or free. A NULL column gives NULL text, 0, or a NULL blob with length 0; an
 * empty blob gives a non-NULL pointer with length 0.
 */
const char *certo_stmt_text(struct certo_stmt *st, int col);
int64_t certo_stmt_int(struct certo_stmt *st, int col);
const void *certo_stmt_blob(struct certo_stmt *st, int col, size_t *len);
bool certo_stmt_is_null(struct certo_stmt *st, int col);

/** Rows changed by the last INSERT/UPDATE/DELETE on this handle. */
int64_t certo_db_changes(struct certo_db *db);

#endif
