/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SQLite backend of the store layer (include/certo/sys/store.h). One sqlite3 handle
 * per certo_db, opened NOMUTEX because a handle belongs to one thread at a time; WAL mode
 * lets readers run beside the one writer, across processes. Error messages carry
 * sqlite3_errmsg and the statement's SQL text, never a bound value: values may be secrets,
 * so sqlite3_expanded_sql is never used.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "certo/file.h"
#include "certo/mem.h"
#include "store/backend.h"

#define WHERE           "store.sqlite"
#define BUSY_TIMEOUT_MS 10000
#define SQL_SHOWN       80 /* bytes of SQL text quoted in a message */
#define WAL_RETRY_MS    10 /* pause between attempts to switch to WAL */

struct sqlite_db {
    sqlite3 *h; /* owned; set only once open() succeeded */
};

struct sqlite_stmt {
    sqlite3_stmt *st; /* owned; finalized by finalize() */
    sqlite3 *h;       /* borrowed from the handle, for error messages */
};

/* One mapping for every statement, so a UNIQUE violation reads the same from exec,
 * step or a migration. */
static certo_rc
rc_from_sqlite(int code)
{
    switch (code) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
        return CERTO_EEXIST;
    default:
        break;
    }
    switch (code & 0xff) {
    case SQLITE_CONSTRAINT:
        return CERTO_EINVAL;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return CERTO_ECONFLICT; /* still busy after the busy timeout */
    case SQLITE_NOMEM:
        return CERTO_ENOMEM;
    case SQLITE_TOOBIG:
        return CERTO_ETOOBIG;
    default:
        return CERTO_EIO;
    }
}

/* Records the handle's last error. 'sql' may be NULL; SQL text never carries values
 * (they are bound), so quoting its start is safe and tells which statement failed. */
static certo_rc
fail(struct certo_err *err, certo_rc rc, sqlite3 *h, const char *what, const char *sql)
{
    const char *msg = sqlite3_errmsg(h);

    if (sql == NULL)
        return certo_err_set(err, rc, WHERE, "%s: %s", what, msg);
    return certo_err_set(err, rc, WHERE, "%s: %s (in \"%.*s\")", what, msg, SQL_SHOWN, sql);
}

/* Errors while opening come from the file system more often than from SQL: the OS error
 * SQLite saw decides the code (EACCES is EPERM, ENOENT is ENOTFOUND). */
static certo_rc
fail_open(struct certo_err *err, sqlite3 *h, int code, const char *path)
{
    int sys = sqlite3_system_errno(h);
    certo_rc rc = rc_from_sqlite(code);

    switch (code & 0xff) {
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_READONLY:
    case SQLITE_PERM:
        if (sys != 0)
            rc = certo_file_rc_from_errno(sys);
        break;
    default:
        break;
    }
    errno = sys;
    return certo_err_sys(err, rc, WHERE, "cannot open database %s: %s", path, sqlite3_errmsg(h));
}

/* With URI support compiled in (Debian's build has it), SQLite reads "file:..." names as
 * URIs, and ":memory:" is never a file. A store is always a file: such names get a "./"
 * prefix, which SQLite takes literally and which names the same file. */
static char *
literal_path(const char *target)
{
    if (target[0] == ':' || strncmp(target, "file:", 5) == 0)
        return certo_asprintf("./%s", target);
    return certo_strdup(target);
}

/* SQLite creates a database 0644 minus the umask. A store holds job state and sealed
 * keys, so a new file is created here, 0600 whatever the umask, and SQLite opens it (an
 * empty file is an empty database); its -wal and -shm files copy this mode. */
static certo_rc
create_file(const char *path, struct certo_err *err)
{
    certo_rc rc = CERTO_OK;
    int fd;

    fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0600);
    if (fd < 0 && errno == EEXIST)
        return CERTO_OK;
    if (fd < 0)
        return certo_err_sys(err, certo_file_rc_from_errno(errno), WHERE,
                             "cannot create database %s", path);
    if (fchmod(fd, 0600) != 0)
        rc = certo_err_sys(err, certo_file_rc_from_errno(errno), WHERE,
                           "cannot set the mode of database %s", path);
    close(fd);
    return rc;
}

/* journal_mode answers with the mode in force: a file system without shared memory
 * support keeps the old mode instead of failing, and that must not pass silently. */
static int
journal_mode_wal(sqlite3 *h, bool *is_wal)
{
    sqlite3_stmt *st = NULL;
    const unsigned char *mode;
    int code;

    *is_wal = false;
    code = sqlite3_prepare_v2(h, "PRAGMA journal_mode=WAL", -1, &st, NULL);
    if (code == SQLITE_OK)
        code = sqlite3_step(st);
    if (code == SQLITE_ROW) {
        mode = sqlite3_column_text(st, 0);
        *is_wal = mode != NULL && strcmp((const char *)mode, "wal") == 0;
        code = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return code;
}

/* While another connection converts the same fresh file to WAL, the pragma can fail with
 * SQLITE_BUSY without ever calling the busy handler (seen with 8 processes opening one
 * new database at once, SQLite 3.40). It is retried here for about the busy timeout. */
static certo_rc
set_wal(sqlite3 *h, const char *path, struct certo_err *err)
{
    bool is_wal = false;
    int code;

    for (int waited = 0;; waited += WAL_RETRY_MS) {
        code = journal_mode_wal(h, &is_wal);
        if ((code & 0xff) != SQLITE_BUSY || waited >= BUSY_TIMEOUT_MS)
            break;
        sqlite3_sleep(WAL_RETRY_MS);
    }
    if (code != SQLITE_OK)
        return fail_open(err, h, code, path);
    if (!is_wal)
        return certo_err_set(err, CERTO_EIO, WHERE,
                             "database %s cannot use WAL mode (no shared memory on its file "
                             "system?)",
                             path);
    return CERTO_OK;
}

static certo_rc
sqlite_open(void *db_ctx, const char *target, struct certo_err *err)
{
    struct sqlite_db *d = db_ctx;
    char *path = literal_path(target);
    sqlite3 *h = NULL;
    certo_rc rc = CERTO_EINTERNAL;
    int code;

    rc = create_file(path, err);
    if (rc != CERTO_OK)
        goto out;
    code = sqlite3_open_v2(path, &h,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (h == NULL) {
        rc = certo_err_set(err, CERTO_ENOMEM, WHERE, "out of memory opening database %s", path);
        goto out;
    }
    sqlite3_extended_result_codes(h, 1);
    if (code != SQLITE_OK) {
        rc = fail_open(err, h, code, path);
        goto out;
    }
    /* READWRITE quietly falls back to read-only on a write-protected file; the store
     * would then fail at the first write, far from the cause. */
    if (sqlite3_db_readonly(h, "main") == 1) {
        rc = certo_err_set(err, CERTO_EPERM, WHERE, "database %s is read-only for this user", path);
        goto out;
    }
    sqlite3_busy_timeout(h, BUSY_TIMEOUT_MS);
    /* Defensive mode refuses SQL that can corrupt the file (writable_schema and the like);
     * the store never needs it. */
    sqlite3_db_config(h, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
    rc = set_wal(h, path, err);
    if (rc != CERTO_OK)
        goto out;
    code = sqlite3_exec(h, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON", NULL, NULL, NULL);
    if (code != SQLITE_OK) {
        rc = fail_open(err, h, code, path);
        goto out;
    }
    d->h = h; /* success: the context owns the handle */
    h = NULL;
    rc = CERTO_OK;
out:
    sqlite3_close_v2(h);
    certo_free(path);
    return rc;
}

static void
sqlite_close(void *db_ctx)
{
    struct sqlite_db *d = db_ctx;

    /* close_v2: a statement left unfinalized keeps the connection alive until it is
     * finalized, instead of the close failing and leaking the handle. */
    sqlite3_close_v2(d->h);
    d->h = NULL;
}

static certo_rc
sqlite_exec(void *db_ctx, const char *sql, struct certo_err *err)
{
    struct sqlite_db *d = db_ctx;
    int code = sqlite3_exec(d->h, sql, NULL, NULL, NULL);

    if (code != SQLITE_OK)
        return fail(err, rc_from_sqlite(code), d->h, "statement failed", sql);
    return CERTO_OK;
}

/* BEGIN IMMEDIATE takes the write lock now, waiting for it under the busy timeout. A
 * deferred transaction that reads and then writes would instead get SQLITE_BUSY at its
 * first write without any wait (its snapshot may be stale), half-way through its work. */
static certo_rc
sqlite_begin(void *db_ctx, bool write, struct certo_err *err)
{
    struct sqlite_db *d = db_ctx;
    int code = sqlite3_exec(d->h, write ? "BEGIN IMMEDIATE" : "BEGIN", NULL, NULL, NULL);

    if (code != SQLITE_OK)
        return fail(err, rc_from_sqlite(code), d->h, "cannot begin a transaction", NULL);
    return CERTO_OK;
}

static certo_rc
sqlite_commit(void *db_ctx, struct certo_err *err)
{
    struct sqlite_db *d = db_ctx;
    int code = sqlite3_exec(d->h, "COMMIT", NULL, NULL, NULL);

    if (code != SQLITE_OK)
        return fail(err, rc_from_sqlite(code), d->h, "commit failed", NULL);
    return CERTO_OK;
}

static void
sqlite_rollback(void *db_ctx)
{
    struct sqlite_db *d = db_ctx;

    /* Autocommit means no transaction is open (never begun, committed, or already rolled
     * back by SQLite after an I/O error): then there is nothing to do. */
    if (d->h != NULL && !sqlite3_get_autocommit(d->h))
        (void)sqlite3_exec(d->h, "ROLLBACK", NULL, NULL, NULL);
}

static bool
only_space(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == ';')
        s++;
    return *s == '\0';
}

static certo_rc
sqlite_prepare(void *db_ctx, void *stmt_ctx, const char *sql, struct certo_err *err)
{
    struct sqlite_db *d = db_ctx;
    struct sqlite_stmt *s = stmt_ctx;
    sqlite3_stmt *st = NULL;
    sqlite3_stmt *extra = NULL;
    const char *tail = NULL;
    certo_rc rc = CERTO_EINTERNAL;
    int code;

    code = sqlite3_prepare_v2(d->h, sql, -1, &st, &tail);
    if (code != SQLITE_OK) {
        /* At prepare time a plain SQLITE_ERROR is bad SQL or a missing table: the caller's
         * mistake, not the disk's. */
        rc = (code & 0xff) == SQLITE_ERROR ? CERTO_EINVAL : rc_from_sqlite(code);
        rc = fail(err, rc, d->h, "cannot prepare", sql);
        goto out;
    }
    if (st == NULL) {
        rc =
            certo_err_set(err, CERTO_EINVAL, WHERE, "no SQL statement in \"%.*s\"", SQL_SHOWN, sql);
        goto out;
    }
    /* SQLite prepares only the first statement and hands back the rest, which would be
     * silently ignored. Comments may follow: preparing them gives no statement. */
    if (!only_space(tail)) {
        code = sqlite3_prepare_v2(d->h, tail, -1, &extra, NULL);
        if (code != SQLITE_OK || extra != NULL) {
            rc = certo_err_set(err, CERTO_EINVAL, WHERE, "more than one SQL statement in \"%.*s\"",
                               SQL_SHOWN, sql);
            goto out;
        }
    }
    s->st = st; /* success: the context owns the statement */
    s->h = d->h;
    st = NULL;
    rc = CERTO_OK;
out:
    sqlite3_finalize(extra);
    sqlite3_finalize(st);
    return rc;
}

static void
sqlite_finalize(void *stmt_ctx)
{
    struct sqlite_stmt *s = stmt_ctx;

    sqlite3_finalize(s->st);
    s->st = NULL;
}

/*
 * Parameters are written $1, $2, ... for every backend. In SQLite "$1" is a named
 * parameter, numbered by first appearance: in "... $2 ... $1" the name "$2" is parameter
 * 1. So 'idx' is looked up by its name. A "?" or "?NNN" parameter at position 'idx' is
 * accepted too (those are numbered by position). 0 means the statement has no such
 * parameter.
 */
static int
param_index(sqlite3_stmt *st, int idx)
{
    char name[16];
    const char *at;
    int i;

    if (idx < 1)
        return 0;
    snprintf(name, sizeof(name), "$%d", idx);
    i = sqlite3_bind_parameter_index(st, name);
    if (i > 0)
        return i;
    if (idx > sqlite3_bind_parameter_count(st))
        return 0;
    at = sqlite3_bind_parameter_name(st, idx);
    if (at == NULL)
        return idx;
    snprintf(name, sizeof(name), "?%d", idx);
    return strcmp(at, name) == 0 ? idx : 0;
}

static certo_rc
rc_from_bind(int code)
{
    switch (code & 0xff) {
    case SQLITE_OK:
        return CERTO_OK;
    case SQLITE_RANGE:
        return CERTO_EINVAL;
    case SQLITE_TOOBIG:
        return CERTO_ETOOBIG;
    case SQLITE_NOMEM:
        return CERTO_ENOMEM;
    default:
        return CERTO_EINTERNAL; /* SQLITE_MISUSE: bound while running, without a reset */
    }
}

static certo_rc
sqlite_bind_null(void *stmt_ctx, int idx)
{
    struct sqlite_stmt *s = stmt_ctx;
    int i = param_index(s->st, idx);

    if (i == 0)
        return CERTO_EINVAL;
    return rc_from_bind(sqlite3_bind_null(s->st, i));
}

static certo_rc
sqlite_bind_text(void *stmt_ctx, int idx, const char *text)
{
    struct sqlite_stmt *s = stmt_ctx;
    int i = param_index(s->st, idx);

    if (i == 0)
        return CERTO_EINVAL;
    if (text == NULL)
        return rc_from_bind(sqlite3_bind_null(s->st, i));
    return rc_from_bind(sqlite3_bind_text(s->st, i, text, -1, SQLITE_TRANSIENT));
}

static certo_rc
sqlite_bind_int(void *stmt_ctx, int idx, int64_t v)
{
    struct sqlite_stmt *s = stmt_ctx;
    int i = param_index(s->st, idx);

    if (i == 0)
        return CERTO_EINVAL;
    return rc_from_bind(sqlite3_bind_int64(s->st, i, (sqlite3_int64)v));
}

static certo_rc
sqlite_bind_blob(void *stmt_ctx, int idx, const void *p, size_t n)
{
    struct sqlite_stmt *s = stmt_ctx;
    int i = param_index(s->st, idx);

    if (i == 0 || (p == NULL && n > 0))
        return CERTO_EINVAL;
    /* sqlite3_bind_blob with a NULL pointer binds SQL NULL, not an empty blob. */
    if (n == 0)
        return rc_from_bind(sqlite3_bind_zeroblob(s->st, i, 0));
    return rc_from_bind(sqlite3_bind_blob64(s->st, i, p, (sqlite3_uint64)n, SQLITE_TRANSIENT));
}

static certo_rc
sqlite_step(void *stmt_ctx, bool *row, struct certo_err *err)
{
    struct sqlite_stmt *s = stmt_ctx;
    int code = sqlite3_step(s->st);

    if (code == SQLITE_ROW) {
        *row = true;
        return CERTO_OK;
    }
    if (code == SQLITE_DONE) {
        *row = false;
        return CERTO_OK;
    }
    return fail(err, rc_from_sqlite(code), s->h, "statement failed", sqlite3_sql(s->st));
}

static void
sqlite_reset(void *stmt_ctx)
{
    struct sqlite_stmt *s = stmt_ctx;

    /* reset returns the error of the last step, which step already reported. */
    (void)sqlite3_reset(s->st);
    (void)sqlite3_clear_bindings(s->st);
}

static const char *
sqlite_col_text(void *stmt_ctx, int col)
{
    struct sqlite_stmt *s = stmt_ctx;

    return (const char *)sqlite3_column_text(s->st, col);
}

static int64_t
sqlite_col_int(void *stmt_ctx, int col)
{
    struct sqlite_stmt *s = stmt_ctx;

    return (int64_t)sqlite3_column_int64(s->st, col);
}

static const void *
sqlite_col_blob(void *stmt_ctx, int col, size_t *len)
{
    static const unsigned char empty[1];
    struct sqlite_stmt *s = stmt_ctx;
    const void *p;
    int n;

    *len = 0;
    if (sqlite3_column_type(s->st, col) == SQLITE_NULL)
        return NULL;
    p = sqlite3_column_blob(s->st, col);
    n = sqlite3_column_bytes(s->st, col); /* after _blob: the length of that form */
    /* SQLite gives NULL for an empty blob too; an empty value is still not SQL NULL. */
    if (p == NULL)
        return n == 0 ? empty : NULL;
    *len = (size_t)n;
    return p;
}

static bool
sqlite_col_is_null(void *stmt_ctx, int col)
{
    struct sqlite_stmt *s = stmt_ctx;

    return sqlite3_column_type(s->st, col) == SQLITE_NULL;
}

static int64_t
sqlite_changes(void *db_ctx)
{
    struct sqlite_db *d = db_ctx;

    return (int64_t)sqlite3_changes64(d->h);
}

const struct certo_store_ops certo_store__sqlite = {
    .abi = CERTO_STORE_ABI,
    .name = "sqlite",
    .db_ctx_size = sizeof(struct sqlite_db),
    .stmt_ctx_size = sizeof(struct sqlite_stmt),
    .open = sqlite_open,
    .close = sqlite_close,
    .exec = sqlite_exec,
    .begin = sqlite_begin,
    .commit = sqlite_commit,
    .rollback = sqlite_rollback,
    .prepare = sqlite_prepare,
    .finalize = sqlite_finalize,
    .bind_text = sqlite_bind_text,
    .bind_int = sqlite_bind_int,
    .bind_blob = sqlite_bind_blob,
    .bind_null = sqlite_bind_null,
    .step = sqlite_step,
    .reset = sqlite_reset,
    .col_text = sqlite_col_text,
    .col_int = sqlite_col_int,
    .col_blob = sqlite_col_blob,
    .col_is_null = sqlite_col_is_null,
    .changes = sqlite_changes,
};
