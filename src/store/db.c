/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store framework (store layer): picks a backend by the scheme of the url, allocates
 * the contexts its operations table asks for, and applies the schema migrations at open.
 * Backends are reached only through the inline wrappers below (STYLE.md 5). Nothing
 * here puts a value into SQL text, and no message repeats a url: a PostgreSQL url may
 * carry a password.
 */
#include <ctype.h>
#include <limits.h>
#include <string.h>
#include <strings.h>

#include "certo/clock.h"
#include "certo/mem.h"
#include "store/backend.h"

#define WHERE "store.db"

struct certo_db {
    const struct certo_store_ops *ops; /* static table of the backend */
    void *ctx;                         /* owned; ops->db_ctx_size bytes, zeroed */
    bool opened;                       /* ops->open succeeded: ops->close is owed */
    int version;                       /* schema version once the migrations ran */
};

struct certo_stmt {
    const struct certo_store_ops *ops; /* the table of the handle that prepared it */
    void *ctx;                         /* owned; ops->stmt_ctx_size bytes, zeroed */
    bool prepared;                     /* ops->prepare succeeded: ops->finalize is owed */
};

/* Every backend of this build, looked up by scheme (curl available_backends[]). */
static const struct {
    const char *scheme;
    const struct certo_store_ops *ops;
} backends[] = {
    {"sqlite", &certo_store__sqlite},
    {"postgresql", &certo_store__pgsql},
    {"postgres", &certo_store__pgsql},
};

static const char schema_table_sql[] = "CREATE TABLE IF NOT EXISTS certo_schema ("
                                       "version INTEGER PRIMARY KEY, "
                                       "name TEXT NOT NULL, "
                                       "applied_at INTEGER NOT NULL)";

/*
 * The only places that touch ops->. Tables are checked whole at open (ops_complete);
 * the assertion catches a handle whose memory was overwritten or freed.
 */
static inline const struct certo_store_ops *
ops_of(const struct certo_store_ops *ops)
{
    CERTO_ASSERT(ops != NULL && ops->abi == CERTO_STORE_ABI);
    return ops;
}

static inline certo_rc
ops_open(struct certo_db *db, const char *target, struct certo_err *err)
{
    return ops_of(db->ops)->open(db->ctx, target, err);
}

static inline void
ops_close(struct certo_db *db)
{
    ops_of(db->ops)->close(db->ctx);
}

static inline certo_rc
ops_exec(struct certo_db *db, const char *sql, struct certo_err *err)
{
    return ops_of(db->ops)->exec(db->ctx, sql, err);
}

static inline certo_rc
ops_begin(struct certo_db *db, bool write, struct certo_err *err)
{
    return ops_of(db->ops)->begin(db->ctx, write, err);
}

static inline certo_rc
ops_commit(struct certo_db *db, struct certo_err *err)
{
    return ops_of(db->ops)->commit(db->ctx, err);
}

static inline void
ops_rollback(struct certo_db *db)
{
    ops_of(db->ops)->rollback(db->ctx);
}

static inline int64_t
ops_changes(struct certo_db *db)
{
    return ops_of(db->ops)->changes(db->ctx);
}

static inline certo_rc
ops_prepare(struct certo_db *db, struct certo_stmt *st, const char *sql, struct certo_err *err)
{
    return ops_of(db->ops)->prepare(db->ctx, st->ctx, sql, err);
}

static inline void
ops_finalize(struct certo_stmt *st)
{
    ops_of(st->ops)->finalize(st->ctx);
}

static inline certo_rc
ops_bind_text(struct certo_stmt *st, int idx, const char *text)
{
    return ops_of(st->ops)->bind_text(st->ctx, idx, text);
}

static inline certo_rc
ops_bind_int(struct certo_stmt *st, int idx, int64_t v)
{
    return ops_of(st->ops)->bind_int(st->ctx, idx, v);
}

static inline certo_rc
ops_bind_blob(struct certo_stmt *st, int idx, const void *p, size_t n)
{
    return ops_of(st->ops)->bind_blob(st->ctx, idx, p, n);
}

static inline certo_rc
ops_bind_null(struct certo_stmt *st, int idx)
{
    return ops_of(st->ops)->bind_null(st->ctx, idx);
}

static inline certo_rc
ops_step(struct certo_stmt *st, bool *row, struct certo_err *err)
{
    return ops_of(st->ops)->step(st->ctx, row, err);
}

static inline void
ops_reset(struct certo_stmt *st)
{
    ops_of(st->ops)->reset(st->ctx);
}

static inline const char *
ops_col_text(struct certo_stmt *st, int col)
{
    return ops_of(st->ops)->col_text(st->ctx, col);
}

static inline int64_t
ops_col_int(struct certo_stmt *st, int col)
{
    return ops_of(st->ops)->col_int(st->ctx, col);
}

static inline const void *
ops_col_blob(struct certo_stmt *st, int col, size_t *len)
{
    return ops_of(st->ops)->col_blob(st->ctx, col, len);
}

static inline bool
ops_col_is_null(struct certo_stmt *st, int col)
{
    return ops_of(st->ops)->col_is_null(st->ctx, col);
}

/* Every slot is required in ABI 1. A table built for another ABI, or with a slot left
 * out, is refused at open rather than crashing at its first call. */
static bool
ops_complete(const struct certo_store_ops *o)
{
    return o->abi == CERTO_STORE_ABI && o->name != NULL && o->open != NULL && o->close != NULL &&
           o->exec != NULL && o->begin != NULL && o->commit != NULL && o->rollback != NULL &&
           o->prepare != NULL && o->finalize != NULL && o->bind_text != NULL &&
           o->bind_int != NULL && o->bind_blob != NULL && o->bind_null != NULL && o->step != NULL &&
           o->reset != NULL && o->col_text != NULL && o->col_int != NULL && o->col_blob != NULL &&
           o->col_is_null != NULL && o->changes != NULL;
}

/*
 * "sqlite:PATH", or a bare PATH for SQLite. A scheme is RFC 3986's (a letter, then
 * letters, digits, '+', '-', '.') followed by ':'. A file whose name has a ':' before any
 * '/' would read as a scheme, so it is written "./a:b" or "sqlite:a:b".
 */
static certo_rc
parse_url(const struct certo_store_ops **ops_out, const char **target_out, const char *url,
          struct certo_err *err)
{
    const struct certo_store_ops *ops = &certo_store__sqlite;
    const char *target = url;
    size_t n = 0;

    *ops_out = NULL;
    *target_out = NULL;
    if (isalpha((unsigned char)url[0])) {
        n = 1;
        while (isalnum((unsigned char)url[n]) || url[n] == '+' || url[n] == '-' || url[n] == '.')
            n++;
        if (url[n] != ':')
            n = 0;
    }
    if (n > 0) {
        ops = NULL;
        for (size_t i = 0; i < CERTO_ARRAY_LEN(backends); i++) {
            if (strlen(backends[i].scheme) == n && strncasecmp(url, backends[i].scheme, n) == 0)
                ops = backends[i].ops;
        }
        if (ops == NULL)
            return certo_err_set(err, CERTO_EUNSUPPORTED, WHERE,
                                 "database scheme \"%.*s\" is not supported by this build "
                                 "(use sqlite:PATH, a file path or postgresql://...)",
                                 (int)(n > 32 ? 32 : n), url);
        target = url + n + 1;
    }
    if (target[0] == '\0')
        return certo_err_set(err, CERTO_EINVAL, WHERE, "the database url names no database");
    *ops_out = ops;
    *target_out = target;
    return CERTO_OK;
}

static certo_rc
check_migrations(const struct certo_migration *migs, size_t n, struct certo_err *err)
{
    if (n > 0 && migs == NULL)
        return certo_err_set(err, CERTO_EINTERNAL, WHERE, "%zu migrations given without a list", n);
    if (n > INT_MAX)
        return certo_err_set(err, CERTO_EINTERNAL, WHERE, "%zu migrations", n);
    for (size_t i = 0; i < n; i++) {
        if (migs[i].version != (int)i + 1)
            return certo_err_set(err, CERTO_EINTERNAL, WHERE,
                                 "migration %zu has version %d; versions must be 1, 2, 3, ...",
                                 i + 1, migs[i].version);
        if (migs[i].name == NULL || migs[i].sql == NULL)
            return certo_err_set(err, CERTO_EINTERNAL, WHERE, "migration %d has no name or no SQL",
                                 migs[i].version);
    }
    return CERTO_OK;
}

static certo_rc
read_version(struct certo_db *db, int *out, struct certo_err *err)
{
    struct certo_stmt *st = NULL;
    bool row = false;
    int64_t v;
    certo_rc rc = CERTO_EINTERNAL;

    *out = 0;
    rc = certo_db_prepare(db, &st, "SELECT coalesce(max(version), 0) FROM certo_schema", err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_stmt_step(st, &row, err);
    if (rc != CERTO_OK)
        goto out;
    v = row ? certo_stmt_int(st, 0) : -1;
    if (v < 0 || v > INT_MAX) {
        rc = certo_err_set(err, CERTO_EIO, WHERE, "certo_schema holds no valid version");
        goto out;
    }
    *out = (int)v;
    rc = CERTO_OK;
out:
    certo_stmt_free(st);
    return rc;
}

static certo_rc
record_migration(struct certo_db *db, const struct certo_migration *m, struct certo_err *err)
{
    struct certo_stmt *st = NULL;
    bool row = false;
    certo_rc rc = CERTO_EINTERNAL;

    rc = certo_db_prepare(
        db, &st, "INSERT INTO certo_schema (version, name, applied_at) VALUES ($1, $2, $3)", err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_stmt_bind_int(st, 1, m->version);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_stmt_bind_text(st, 2, m->name);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_stmt_bind_int(st, 3, (int64_t)certo_clock_now());
    if (rc != CERTO_OK)
        goto out;
    rc = certo_stmt_step(st, &row, err);
out:
    certo_stmt_free(st);
    return rc;
}

/* The migration's SQL, its row in certo_schema and the commit, inside the caller's
 * write transaction. */
static certo_rc
run_migration(struct certo_db *db, const struct certo_migration *m, struct certo_err *err)
{
    certo_rc rc = CERTO_EINTERNAL;

    rc = ops_exec(db, m->sql, err);
    if (rc != CERTO_OK)
        goto out;
    rc = record_migration(db, m, err);
    if (rc != CERTO_OK)
        goto out;
    rc = ops_commit(db, err);
out:
    return rc;
}

/*
 * Applies the migration after the version found under the write lock. Several processes
 * may open a fresh database at the same moment: begin(write) lets one in at a time
 * (SQLite BEGIN IMMEDIATE, PostgreSQL's advisory write lock), and the version read
 * inside the transaction tells each whether another already did this step. The version
 * table is created there too, under the lock: PostgreSQL's CREATE TABLE IF NOT EXISTS
 * is not safe against a concurrent one. '*have' becomes the version the database is at
 * afterwards.
 */
static certo_rc
apply_next(struct certo_db *db, const struct certo_migration *migs, size_t n, int *have,
           struct certo_err *err)
{
    struct certo_err inner = {0};
    const struct certo_migration *m;
    int cur = 0;
    certo_rc rc = CERTO_EINTERNAL;

    rc = ops_begin(db, true, err);
    if (rc != CERTO_OK)
        goto out;
    rc = ops_exec(db, schema_table_sql, err);
    if (rc != CERTO_OK)
        goto out;
    rc = read_version(db, &cur, err);
    if (rc != CERTO_OK)
        goto out;
    if (cur >= (int)n) {
        rc = ops_commit(db, err); /* keeps a version table created just now */
        if (rc != CERTO_OK)
            goto out;
        *have = cur;
        goto out;
    }
    m = &migs[cur];
    /* The inner message is kept, behind the migration it happened in: "no such table"
     * alone would not say which of twenty migrations is broken. */
    rc = run_migration(db, m, &inner);
    if (rc != CERTO_OK) {
        rc = certo_err_set(err, rc, WHERE, "migration %d (%s) failed: %s", m->version, m->name,
                           inner.msg);
        goto out;
    }
    *have = m->version;
    rc = CERTO_OK;
out:
    ops_rollback(db); /* no-op after the commit */
    return rc;
}

static certo_rc
migrate(struct certo_db *db, const struct certo_migration *migs, size_t n, struct certo_err *err)
{
    struct certo_err quiet = {0};
    int have = -1;
    certo_rc rc = CERTO_EINTERNAL;

    /* Read outside a transaction first: an up-to-date database, the common case, never
     * takes the write lock. If this fails (no version table yet), apply_next creates the
     * table and reads again under the lock, where a real failure is reported. */
    if (read_version(db, &have, &quiet) != CERTO_OK)
        have = -1;
    while (have < (int)n) {
        rc = apply_next(db, migs, n, &have, err);
        if (rc != CERTO_OK)
            goto out;
    }
    if (have > (int)n) {
        rc = certo_err_set(err, CERTO_EUNSUPPORTED, WHERE,
                           "database schema version %d is newer than this certo (%zu)", have, n);
        goto out;
    }
    db->version = have;
    rc = CERTO_OK;
out:
    return rc;
}

certo_rc
certo_db_open(struct certo_db **out, const char *url, const struct certo_migration *migs,
              size_t n_migs, struct certo_err *err)
{
    const struct certo_store_ops *ops = NULL;
    const char *target = NULL;
    struct certo_db *db = NULL;
    certo_rc rc = CERTO_EINTERNAL;

    *out = NULL;
    CERTO_ASSERT(url != NULL);
    rc = parse_url(&ops, &target, url, err);
    if (rc != CERTO_OK)
        goto out;
    if (!ops_complete(ops)) {
        rc = certo_err_set(err, CERTO_EINTERNAL, WHERE,
                           "store backend %s has ABI %u (need %d) or a missing slot",
                           ops->name != NULL ? ops->name : "?", ops->abi, CERTO_STORE_ABI);
        goto out;
    }
    rc = check_migrations(migs, n_migs, err);
    if (rc != CERTO_OK)
        goto out;
    db = certo_calloc(1, sizeof(*db));
    db->ops = ops;
    db->ctx = certo_calloc(1, ops->db_ctx_size);
    rc = ops_open(db, target, err);
    if (rc != CERTO_OK)
        goto out;
    db->opened = true;
    rc = migrate(db, migs, n_migs, err);
    if (rc != CERTO_OK)
        goto out;
    *out = db; /* success: the caller owns the handle */
    db = NULL;
    rc = CERTO_OK;
out:
    certo_db_close(db);
    return rc;
}

void
certo_db_close(struct certo_db *db)
{
    if (db == NULL)
        return;
    if (db->opened)
        ops_close(db);
    certo_free(db->ctx);
    certo_free(db);
}

int
certo_db_version(const struct certo_db *db)
{
    CERTO_ASSERT(db != NULL);
    return db->version;
}

certo_rc
certo_db_begin(struct certo_db *db, bool write, struct certo_err *err)
{
    CERTO_ASSERT(db != NULL);
    return ops_begin(db, write, err);
}

certo_rc
certo_db_commit(struct certo_db *db, struct certo_err *err)
{
    CERTO_ASSERT(db != NULL);
    return ops_commit(db, err);
}

void
certo_db_rollback(struct certo_db *db)
{
    CERTO_ASSERT(db != NULL);
    ops_rollback(db);
}

certo_rc
certo_db_exec(struct certo_db *db, const char *sql, struct certo_err *err)
{
    CERTO_ASSERT(db != NULL && sql != NULL);
    return ops_exec(db, sql, err);
}

int64_t
certo_db_changes(struct certo_db *db)
{
    CERTO_ASSERT(db != NULL);
    return ops_changes(db);
}

certo_rc
certo_db_prepare(struct certo_db *db, struct certo_stmt **out, const char *sql,
                 struct certo_err *err)
{
    struct certo_stmt *st = NULL;
    certo_rc rc = CERTO_EINTERNAL;

    *out = NULL;
    CERTO_ASSERT(db != NULL && sql != NULL);
    st = certo_calloc(1, sizeof(*st));
    st->ops = db->ops;
    st->ctx = certo_calloc(1, db->ops->stmt_ctx_size);
    rc = ops_prepare(db, st, sql, err);
    if (rc != CERTO_OK)
        goto out;
    st->prepared = true;
    *out = st; /* success: the caller owns the statement */
    st = NULL;
    rc = CERTO_OK;
out:
    certo_stmt_free(st);
    return rc;
}

void
certo_stmt_free(struct certo_stmt *st)
{
    if (st == NULL)
        return;
    if (st->prepared)
        ops_finalize(st);
    certo_free(st->ctx);
    certo_free(st);
}

certo_rc
certo_stmt_bind_text(struct certo_stmt *st, int idx, const char *text)
{
    CERTO_ASSERT(st != NULL);
    return ops_bind_text(st, idx, text);
}

certo_rc
certo_stmt_bind_int(struct certo_stmt *st, int idx, int64_t v)
{
    CERTO_ASSERT(st != NULL);
    return ops_bind_int(st, idx, v);
}

certo_rc
certo_stmt_bind_blob(struct certo_stmt *st, int idx, const void *p, size_t n)
{
    CERTO_ASSERT(st != NULL);
    return ops_bind_blob(st, idx, p, n);
}

certo_rc
certo_stmt_bind_null(struct certo_stmt *st, int idx)
{
    CERTO_ASSERT(st != NULL);
    return ops_bind_null(st, idx);
}

certo_rc
certo_stmt_step(struct certo_stmt *st, bool *row, struct certo_err *err)
{
    *row = false;
    CERTO_ASSERT(st != NULL);
    return ops_step(st, row, err);
}

void
certo_stmt_reset(struct certo_stmt *st)
{
    CERTO_ASSERT(st != NULL);
    ops_reset(st);
}

const char *
certo_stmt_text(struct certo_stmt *st, int col)
{
    CERTO_ASSERT(st != NULL);
    return ops_col_text(st, col);
}

int64_t
certo_stmt_int(struct certo_stmt *st, int col)
{
    CERTO_ASSERT(st != NULL);
    return ops_col_int(st, col);
}

const void *
certo_stmt_blob(struct certo_stmt *st, int col, size_t *len)
{
    *len = 0;
    CERTO_ASSERT(st != NULL);
    return ops_col_blob(st, col, len);
}

bool
certo_stmt_is_null(struct certo_stmt *st, int col)
{
    CERTO_ASSERT(st != NULL);
    return ops_col_is_null(st, col);
}
