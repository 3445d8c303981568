/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of src/store/db.c and src/store/sqlite.c: file mode and WAL, migrations,
 * $n binding, value round trips, error mapping, transactions, and several processes
 * opening and writing one fresh database at once.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"
#include "certo/store.h"

#define T0 1700000000000LL /* pinned clock, ms */

static const struct certo_migration migs3[] = {
    {1, "create a", "CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT)"},
    {2, "create b", "CREATE TABLE b (id INTEGER PRIMARY KEY, a_id INTEGER REFERENCES a(id))"},
    {3, "index b", "CREATE INDEX b_a ON b (a_id)"},
};

static const struct certo_migration migs_t[] = {
    {1, "create t",
     "CREATE TABLE t (s TEXT, i INTEGER, b BLOB, n TEXT);"
     "CREATE TABLE u (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, "
     "qty INTEGER CHECK (qty >= 0))"},
};

static char *
db_path(const char *dir, const char *name)
{
    return certo_asprintf("%s/%s", dir, name);
}

static struct certo_db *
open_ok(const char *url, const struct certo_migration *migs, size_t n)
{
    struct certo_db *db = NULL;
    struct certo_err err = {0};
    certo_rc rc = certo_db_open(&db, url, migs, n, &err);
    if (rc != CERTO_OK)
        fail_msg("open %s: %s: %s", url, certo_rc_name(rc), err.msg);
    return db;
}

/* First column of the first row of 'sql' as an integer. */
static int64_t
query_int(struct certo_db *db, const char *sql)
{
    struct certo_stmt *st = NULL;
    struct certo_err err = {0};
    bool row = false;
    assert_int_equal(certo_db_prepare(db, &st, sql, &err), CERTO_OK);
    assert_int_equal(certo_stmt_step(st, &row, &err), CERTO_OK);
    assert_true(row);
    int64_t v = certo_stmt_int(st, 0);
    certo_stmt_free(st);
    return v;
}

static bool
table_exists(struct certo_db *db, const char *name)
{
    struct certo_stmt *st = NULL;
    struct certo_err err = {0};
    bool row = false;
    assert_int_equal(
        certo_db_prepare(db, &st, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = $1",
                         &err),
        CERTO_OK);
    assert_int_equal(certo_stmt_bind_text(st, 1, name), CERTO_OK);
    assert_int_equal(certo_stmt_step(st, &row, &err), CERTO_OK);
    certo_stmt_free(st);
    return row;
}

static void
insert_u(struct certo_db *db, const char *name, int64_t qty, certo_rc want, struct certo_err *err)
{
    struct certo_stmt *st = NULL;
    bool row = true;
    assert_int_equal(certo_db_prepare(db, &st, "INSERT INTO u (name, qty) VALUES ($1, $2)", err),
                     CERTO_OK);
    assert_int_equal(certo_stmt_bind_text(st, 1, name), CERTO_OK);
    assert_int_equal(certo_stmt_bind_int(st, 2, qty), CERTO_OK);
    assert_int_equal(certo_stmt_step(st, &row, err), want);
    assert_false(row);
    certo_stmt_free(st);
}

static void
test_store_db__new_file_mode_and_wal(void **state)
{
    char *dir = t_mkdtemp();
    char *path = db_path(dir, "certo.db");
    char *wal = db_path(dir, "certo.db-wal");
    struct certo_stmt *st = NULL;
    struct certo_err err = {0};
    struct stat sb;
    bool row = false;
    (void)state;
    /* SQLite alone would create 0644 under this umask. */
    mode_t old = umask(022);
    struct certo_db *db = open_ok(path, NULL, 0);
    umask(old);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0600);
    assert_int_equal(certo_db_prepare(db, &st, "PRAGMA journal_mode", &err), CERTO_OK);
    assert_int_equal(certo_stmt_step(st, &row, &err), CERTO_OK);
    assert_true(row);
    assert_string_equal(certo_stmt_text(st, 0), "wal");
    certo_stmt_free(st);
    assert_int_equal(query_int(db, "PRAGMA foreign_keys"), 1);
    assert_int_equal(query_int(db, "PRAGMA synchronous"), 2); /* FULL */
    assert_int_equal(certo_db_exec(db, "CREATE TABLE x (y); INSERT INTO x VALUES (1)", &err),
                     CERTO_OK);
    assert_int_equal(stat(wal, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0600);
    assert_int_equal(certo_db_version(db), 0);
    certo_db_close(db);
    certo_free(wal);
    certo_free(path);
    t_rmdir(dir);
}

static void
test_store_db__migrations_apply_once(void **state)
{
    char *dir = t_mkdtemp();
    char *url = certo_asprintf("sqlite:%s/m.db", dir);
    (void)state;
    certo_clock_pin_ms(T0);
    struct certo_db *db = open_ok(url, migs3, 3);
    assert_int_equal(certo_db_version(db), 3);
    assert_true(table_exists(db, "a"));
    assert_true(table_exists(db, "b"));
    assert_int_equal(query_int(db, "SELECT count(*) FROM certo_schema"), 3);
    assert_int_equal(
        query_int(db, "SELECT count(*) FROM certo_schema WHERE applied_at = 1700000000"), 3);
    assert_int_equal(
        query_int(db, "SELECT count(*) FROM certo_schema WHERE version = 2 AND name = 'create b'"),
        1);
    certo_db_close(db);
    certo_clock_pin_ms(-1);
    certo_free(url);
    t_rmdir(dir);
}

static void
test_store_db__reopen_applies_nothing(void **state)
{
    char *dir = t_mkdtemp();
    char *url = db_path(dir, "m.db");
    (void)state;
    certo_clock_pin_ms(T0);
    certo_db_close(open_ok(url, migs3, 3));
    certo_clock_pin_ms(T0 + 3600000);
    struct certo_db *db = open_ok(url, migs3, 3);
    assert_int_equal(certo_db_version(db), 3);
    assert_int_equal(query_int(db, "SELECT count(*) FROM certo_schema"), 3);
    assert_int_equal(query_int(db, "SELECT max(applied_at) FROM certo_schema"), 1700000000);
    certo_db_close(db);
    certo_clock_pin_ms(-1);
    certo_free(url);
    t_rmdir(dir);
}

static void
test_store_db__added_migration_applies_only_it(void **state)
{
    char *dir = t_mkdtemp();
    char *url = db_path(dir, "m.db");
    (void)state;
    certo_clock_pin_ms(T0);
    struct certo_db *db = open_ok(url, migs3, 2);
    assert_int_equal(certo_db_version(db), 2);
    assert_int_equal(query_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'b_a'"), 0);
    certo_db_close(db);
    certo_clock_pin_ms(T0 + 3600000);
    db = open_ok(url, migs3, 3);
    assert_int_equal(certo_db_version(db), 3);
    assert_int_equal(query_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'b_a'"), 1);
    assert_int_equal(
        query_int(db, "SELECT count(*) FROM certo_schema WHERE applied_at = 1700000000"), 2);
    assert_int_equal(query_int(db, "SELECT applied_at FROM certo_schema WHERE version = 3"),
                     1700003600);
    certo_db_close(db);
    certo_clock_pin_ms(-1);
    certo_free(url);
    t_rmdir(dir);
}

static void
test_store_db__failing_migration_rolls_back(void **state)
{
    static const struct certo_migration bad[] = {
        {1, "create a", "CREATE TABLE a (id INTEGER PRIMARY KEY)"},
        {2, "add c and fill it",
         "CREATE TABLE c (x); INSERT INTO c VALUES (1); INSERT INTO nosuch VALUES (1)"},
        {3, "never reached", "CREATE TABLE d (x)"},
    };
    char *dir = t_mkdtemp();
    char *url = db_path(dir, "m.db");
    struct certo_db *db = NULL;
    struct certo_err err = {0};
    (void)state;
    certo_rc rc = certo_db_open(&db, url, bad, 3, &err);
    assert_int_not_equal(rc, CERTO_OK);
    assert_null(db);
    assert_int_equal(err.rc, rc);
    assert_non_null(strstr(err.msg, "migration 2 (add c and fill it)"));
    assert_non_null(strstr(err.msg, "nosuch"));
    db = open_ok(url, bad, 1);
    assert_int_equal(certo_db_version(db), 1);
    assert_true(table_exists(db, "a"));
    assert_false(table_exists(db, "c"));
    assert_false(table_exists(db, "d"));
    assert_int_equal(query_int(db, "SELECT max(version) FROM certo_schema"), 1);
    certo_db_close(db);
    certo_free(url);
    t_rmdir(dir);
}

static void
test_store_db__newer_database_unsupported(void **state)
{
    char *dir = t_mkdtemp();
    char *url = db_path(dir, "m.db");
    struct certo_db *db = NULL;
    struct certo_err err = {0};
    (void)state;
    certo_db_close(open_ok(url, migs3, 3));
    assert_int_equal(certo_db_open(&db, url, migs3, 2, &err), CERTO_EUNSUPPORTED);
    assert_null(db);
    assert_string_equal(err.msg, "database schema version 3 is newer than this certo (2)");
    certo_err_clear(&err);
    assert_int_equal(certo_db_open(&db, url, NULL, 0, &err), CERTO_EUNSUPPORTED);
    certo_free(url);
    t_rmdir(dir);
}

static void
test_store_db__migration_versions_checked(void **state)
{
    static const struct certo_migration gap[] = {
        {1, "one", "CREATE TABLE a (x)"},
        {3, "three", "CREATE TABLE c (x)"},
    };
    static const struct certo_migration zero[] = {
        {0, "zero", "CREATE TABLE a (x)"},
    };
    char *dir = t_mkdtemp();
    char *url = db_path(dir, "m.db");
    struct certo_db *db = NULL;
    struct certo_err err = {0};
    (void)state;
    assert_int_equal(certo_db_open(&db, url, gap, 2, &err), CERTO_EINTERNAL);
    assert_non_null(strstr(err.msg, "migration 2 has version 3"));
    assert_int_equal(certo_db_open(&db, url, zero, 1, NULL), CERTO_EINTERNAL);
    assert_null(db);
    certo_free(url);
    t_rmdir(dir);
}

static void
test_store_db__bind_dollar_order(void **state)
{
    char *dir = t_mkdtemp();
    char *url = db_path(dir, "b.db");
    struct certo_stmt *st = NULL;
    struct certo_err err = {0};
    bool row = false;
    (void)state;
    struct certo_db *db = open_ok(url, migs_t, 1);
    assert_int_equal(certo_db_prepare(db, &st, "SELECT $2 || '-' || $1 || '-' || $2", &err),
                     CERTO_OK);
    assert_int_equal(certo_stmt_bind_text(st, 1, "one"), CERTO_OK);
    assert_int_equal(certo_stmt_bind_text(st, 2, "two"), CERTO_OK);
    assert_int_equal(certo_stmt_bind_text(st, 3, "x"), CERTO_EINVAL);
    assert_int_equal(certo_stmt_bind_int(st, 0, 1), CERTO_EINVAL);
    assert_int_equal(certo_stmt_step(st, &row, &err), CERTO_OK);
    assert_true(row);
    assert_string_equal(certo_stmt_text(st, 0), "two-one-two");
    certo_stmt_free(st);
    /* Only $2 present: it is SQLite's parameter 1, and index 1 must not reach it. */
    assert_int_equal(certo_db_prepare(db, &st, "INSERT INTO t (s, i) VALUES ('a', $2)", &err),
                     CERTO_OK);
    assert_int_equal(certo_stmt_bind_int(st, 1, 7), CERTO_EINVAL);
    assert_int_equal(certo_stmt_bind_null(st, 1), CERTO_EINVAL);
    assert_int_equal(certo_stmt_bind_int(st, 2, 42), CERTO_OK);
    assert_int_equal(certo_stmt_step(st, &row, &err), CERTO_OK);
    assert_false(row);
    certo_stmt_free(st);
    assert_int_equal(query_int(db, "SELECT i FROM t WHERE s = 'a'"), 42);
    certo_db_close(db);
    certo_free(url);
    t_rmdir(dir);
}

static void
test_store_db__bind_and_read_types(void **state)
{
    static const unsigned char blob[] = {0x00, 0xff, 0x00, 0x41, 0x00};
    char *dir = t_mkdtemp();
    char *url = db_path(dir, "b.db");
    struct certo_stmt *st = NULL;
    struct certo_err err = {0};
    char text[32];
    size_t len = 99;
    bool row = false;
    (void)state;
    struct certo_db *db = open_ok(url, migs_t, 1);
    assert_int_equal(
        certo_db_prepare(db, &st, "INSERT INTO t (s, i, b, n) VALUES ($1, $2, $3, $4)", &err),
        CERTO_OK);
    snprintf(text, sizeof(text), "h\xc3\xa9llo 'quoted'");
    assert_int_equal(certo_stmt_bind_text(st, 1, text), CERTO_OK);
    memset(text, 'X', sizeof(text) - 1); /* values are copied at bind time */
    assert_int_equal(certo_stmt_bind_int(st, 2, INT64_MIN), CERTO_OK);
    assert_int_equal(certo_stmt_bind_blob(st, 3, blob, sizeof(blob)), CERTO_OK);
    assert_int_equal(certo_stmt_bind_null(st, 4), CERTO_OK);
    assert_int_equal(certo_stmt_step(st, &row, &err), CERTO_OK);
    assert_int_equal(certo_db_changes(db), 1);
    /* Second row: reset clears the bindings, so unbound columns are NULL. */
    certo_stmt_reset(st);
    assert_int_equal(certo_stmt_bind_text(st, 1, NULL), CERTO_OK);
    assert_int_equal(certo_stmt_bind_blob(st, 3, NULL, 0), CERTO_OK); /* empty, not NULL */
    assert_int_equal(certo_stmt_step(st, &row, &err), CERTO_OK);
    certo_stmt_free(st);

    assert_int_equal(certo_db_prepare(db, &st, "SELECT s, i, b, n FROM t ORDER BY rowid", &err),
                     CERTO_OK);
    assert_int_equal(certo_stmt_step(st, &row, &err), CERTO_OK);
    assert_true(row);
    assert_string_equal(certo_stmt_text(st, 0), "h\xc3\xa9llo 'quoted'");
    assert_true(certo_stmt_int(st, 1) == INT64_MIN);
    const unsigned char *p = certo_stmt_blob(st, 2, &len);
    assert_int_equal(len, sizeof(blob));
    assert_memory_equal(p, blob, sizeof(blob));
    assert_true(certo_stmt_is_null(st, 3));
    assert_null(certo_stmt_text(st, 3));
    assert_int_equal(certo_stmt_int(st, 3), 0);
    len = 99;
    assert_null(certo_stmt_blob(st, 3, &len));
    assert_int_equal(len, 0);

    assert_int_equal(certo_stmt_step(st, &row, &err), CERTO_OK);
    assert_true(row);
    assert_true(certo_stmt_is_null(st, 0));
    assert_null(certo_stmt_text(st, 0));
    assert_true(certo_stmt_is_null(st, 1));
    assert_false(certo_stmt_is_null(st, 2));
    len = 99;
    assert_non_null(certo_stmt_blob(st, 2, &len));
    assert_int_equal(len, 0);
    assert_int_equal(certo_stmt_step(st, &row, &err), CERTO_OK);
    assert_false(row);
    certo_stmt_free(st);
    certo_db_close(db);
    certo_free(url);
    t_rmdir(dir);
}

static void
test_store_db__unique_violation_then_rollback(void **state)
{
    char *dir = t_mkdtemp();
    char *url = db_path(dir, "u.db");
    struct certo_err err = {0};
    (void)state;
    struct certo_db *db = open_ok(url, migs_t, 1);
    insert_u(db, "s3cr3t-token-1", 1, CERTO_OK, &err);
    assert_int_equal(certo_db_begin(db, true, &err), CERTO_OK);
    insert_u(db, "other", 2, CERTO_OK, &err);
    insert_u(db, "s3cr3t-token-1", 3, CERTO_EEXIST, &err);
    assert_int_equal(err.rc, CERTO_EEXIST);
    assert_string_equal(err.where, "store.sqlite");
    assert_non_null(strstr(err.msg, "UNIQUE constraint failed: u.name"));
    assert_null(strstr(err.msg, "s3cr3t"));
    certo_db_rollback(db);
    assert_int_equal(query_int(db, "SELECT count(*) FROM u"), 1);
    assert_int_equal(query_int(db, "SELECT qty FROM u"), 1);
    /* Other constraints are bad input; a primary key clash is EEXIST too. */
    certo_err_clear(&err);
    insert_u(db, "neg", -1, CERTO_EINVAL, &err);
    assert_non_null(strstr(err.msg, "CHECK constraint failed"));
    certo_err_clear(&err);
    assert_int_equal(certo_db_exec(db, "INSERT INTO u (id, name) VALUES (1, 'again')", &err),
                     CERTO_EEXIST);
    certo_err_clear(&err);
    assert_int_equal(certo_db_exec(db, "INSERT INTO u (id) VALUES (9)", &err), CERTO_EINVAL);
    certo_db_close(db);
    certo_free(url);
    t_rmdir(dir);
}

static void
test_store_db__rollback_discards_insert(void **state)
{
    char *dir = t_mkdtemp();
    char *url = db_path(dir, "r.db");
    struct certo_err err = {0};
    (void)state;
    struct certo_db *db = open_ok(url, migs_t, 1);
    certo_db_rollback(db); /* no transaction: nothing happens */
    assert_int_equal(certo_db_begin(db, true, &err), CERTO_OK);
    insert_u(db, "gone", 1, CERTO_OK, &err);
    assert_int_equal(query_int(db, "SELECT count(*) FROM u"), 1);
    certo_db_rollback(db);
    certo_db_rollback(db);
    assert_int_equal(query_int(db, "SELECT count(*) FROM u"), 0);
    assert_int_equal(certo_db_begin(db, false, &err), CERTO_OK);
    insert_u(db, "kept", 1, CERTO_OK, &err);
    assert_int_equal(certo_db_commit(db, &err), CERTO_OK);
    certo_db_rollback(db);
    assert_int_equal(query_int(db, "SELECT count(*) FROM u"), 1);
    assert_int_equal(certo_db_commit(db, &err), CERTO_EIO); /* no transaction to commit */
    assert_string_equal(err.where, "store.sqlite");
    certo_db_close(db);
    certo_free(url);
    t_rmdir(dir);
}

/* A read transaction that another handle overtook cannot become a writer: SQLite refuses
 * at once (no busy wait helps), which is why writers use begin(write=true). */
static void
test_store_db__stale_reader_write_conflicts(void **state)
{
    char *dir = t_mkdtemp();
    char *url = db_path(dir, "c.db");
    struct certo_err err = {0};
    (void)state;
    struct certo_db *a = open_ok(url, migs_t, 1);
    struct certo_db *b = open_ok(url, migs_t, 1);
    assert_int_equal(certo_db_begin(b, false, &err), CERTO_OK);
    assert_int_equal(query_int(b, "SELECT count(*) FROM u"), 0);
    insert_u(a, "first", 1, CERTO_OK, &err);
    insert_u(b, "second", 1, CERTO_ECONFLICT, &err);
    assert_int_equal(err.rc, CERTO_ECONFLICT);
    certo_db_rollback(b);
    assert_int_equal(query_int(b, "SELECT count(*) FROM u"), 1);
    certo_db_close(a);
    certo_db_close(b);
    certo_free(url);
    t_rmdir(dir);
}

static void
test_store_db__exec_and_prepare_statement_count(void **state)
{
    char *dir = t_mkdtemp();
    char *url = db_path(dir, "e.db");
    struct certo_stmt *st = NULL;
    struct certo_err err = {0};
    (void)state;
    struct certo_db *db = open_ok(url, NULL, 0);
    assert_int_equal(certo_db_exec(db,
                                   "CREATE TABLE p (x); INSERT INTO p VALUES (1);"
                                   "INSERT INTO p VALUES (2);",
                                   &err),
                     CERTO_OK);
    assert_int_equal(query_int(db, "SELECT sum(x) FROM p"), 3);
    assert_int_equal(certo_db_prepare(db, &st, "SELECT 1; -- a comment\n", &err), CERTO_OK);
    certo_stmt_free(st);
    assert_int_equal(certo_db_prepare(db, &st, "DELETE FROM p; SELECT 1", &err), CERTO_EINVAL);
    assert_null(st);
    assert_non_null(strstr(err.msg, "more than one SQL statement"));
    certo_err_clear(&err);
    assert_int_equal(certo_db_prepare(db, &st, "SELEKT 1", &err), CERTO_EINVAL);
    assert_non_null(strstr(err.msg, "SELEKT"));
    assert_int_equal(query_int(db, "SELECT count(*) FROM p"), 2);
    certo_db_close(db);
    certo_free(url);
    t_rmdir(dir);
}

/* The contract says finalize first; a statement that outlives its handle is still
 * released whole (ASan's leak check sees it) and never touches freed memory. */
static void
test_store_db__statement_outlives_handle(void **state)
{
    char *dir = t_mkdtemp();
    char *url = db_path(dir, "s.db");
    struct certo_stmt *st = NULL;
    struct certo_err err = {0};
    bool row = false;
    (void)state;
    struct certo_db *db = open_ok(url, NULL, 0);
    assert_int_equal(certo_db_prepare(db, &st, "SELECT version FROM certo_schema", &err), CERTO_OK);
    assert_int_equal(certo_stmt_step(st, &row, &err), CERTO_OK);
    certo_db_close(db);
    certo_stmt_free(st);
    db = open_ok(url, NULL, 0); /* the file was closed cleanly */
    certo_db_close(db);
    certo_free(url);
    t_rmdir(dir);
}

#define N_CHILDREN 8
#define N_ROWS     50

static const struct certo_migration migs_conc[] = {
    {1, "create w", "CREATE TABLE w (id INTEGER PRIMARY KEY, child INTEGER, n INTEGER)"},
    {2, "index w", "CREATE INDEX w_child ON w (child)"},
};

/* Runs in a child: no cmocka asserts here, the exit code tells what failed. */
static int
child_work(const char *url, size_t n_migs, int go_fd, int id)
{
    struct certo_db *db = NULL;
    struct certo_stmt *st = NULL;
    struct certo_err err = {0};
    bool row = false;
    char c;

    if (read(go_fd, &c, 1) != 0) /* EOF: the parent let every child go at once */
        return 10;
    if (certo_db_open(&db, url, migs_conc, n_migs, &err) != CERTO_OK) {
        fprintf(stderr, "child %d: open: %s\n", id, err.msg);
        return 11;
    }
    if (certo_db_version(db) != (int)n_migs)
        return 12;
    for (int n = 0; n < N_ROWS; n++) {
        if (certo_db_begin(db, true, &err) != CERTO_OK)
            return 13;
        if (certo_db_prepare(db, &st, "INSERT INTO w (child, n) VALUES ($1, $2)", &err) != CERTO_OK)
            return 14;
        if (certo_stmt_bind_int(st, 1, id) != CERTO_OK || certo_stmt_bind_int(st, 2, n) != CERTO_OK)
            return 15;
        if (certo_stmt_step(st, &row, &err) != CERTO_OK) {
            fprintf(stderr, "child %d: step: %s\n", id, err.msg);
            return 16;
        }
        certo_stmt_free(st);
        st = NULL;
        if (certo_db_commit(db, &err) != CERTO_OK)
            return 17;
    }
    certo_db_close(db);
    return 0;
}

/* N_CHILDREN processes, released together by closing a pipe, open 'url' with the first
 * 'n_migs' migrations and insert N_ROWS rows each. */
static void
run_children(const char *url, size_t n_migs)
{
    pid_t pids[N_CHILDREN];
    int go[2];
    assert_int_equal(pipe(go), 0);
    for (int i = 0; i < N_CHILDREN; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            close(go[1]);
            _exit(child_work(url, n_migs, go[0], i));
        }
    }
    close(go[0]);
    close(go[1]);
    for (int i = 0; i < N_CHILDREN; i++) {
        int status = 0;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    struct certo_db *db = open_ok(url, migs_conc, n_migs);
    assert_int_equal(certo_db_version(db), (int)n_migs);
    assert_int_equal(query_int(db, "SELECT count(*) FROM w"), N_CHILDREN * N_ROWS);
    assert_int_equal(query_int(db, "SELECT count(DISTINCT child) FROM w"), N_CHILDREN);
    assert_int_equal(query_int(db, "SELECT count(*) FROM certo_schema"), (int64_t)n_migs);
    certo_db_close(db);
}

static void
test_store_db__concurrent_open_and_write(void **state)
{
    char *dir = t_mkdtemp();
    char *url = db_path(dir, "conc.db");
    (void)state;
    run_children(url, 1); /* no file yet: creation, WAL switch and migration race */
    certo_free(url);
    /* A file already in WAL mode at version 0: the children reach the migrations together,
     * so each step must be re-checked under the write lock. */
    url = db_path(dir, "warm.db");
    certo_db_close(open_ok(url, NULL, 0));
    run_children(url, 2);
    certo_free(url);
    t_rmdir(dir);
}

static void
test_store_db__url_schemes(void **state)
{
    char *dir = t_mkdtemp();
    char *path = NULL;
    struct certo_db *db = NULL;
    struct certo_err err = {0};
    char cwd[4096];
    (void)state;
    assert_int_equal(certo_db_open(&db, "postgresql://u:pw@host/x", NULL, 0, &err),
                     CERTO_EUNSUPPORTED);
    assert_null(db);
    assert_non_null(strstr(err.msg, "\"postgresql\""));
    assert_null(strstr(err.msg, "pw")); /* urls may carry passwords */
    assert_int_equal(certo_db_open(&db, "mysql:x", NULL, 0, NULL), CERTO_EUNSUPPORTED);
    assert_int_equal(certo_db_open(&db, "sqlite:", NULL, 0, NULL), CERTO_EINVAL);
    assert_int_equal(certo_db_open(&db, "", NULL, 0, NULL), CERTO_EINVAL);
    /* A "file:" name is a file here, never a SQLite URI. */
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(dir), 0);
    db = open_ok("SQLite:file:x.db?mode=memory", NULL, 0);
    certo_db_close(db);
    assert_int_equal(chdir(cwd), 0);
    path = db_path(dir, "file:x.db?mode=memory");
    assert_true(certo_file_exists(path));
    certo_free(path);
    t_rmdir(dir);
}

static void
test_store_db__missing_dir_not_found(void **state)
{
    char *dir = t_mkdtemp();
    char *path = db_path(dir, "no/such/dir/x.db");
    struct certo_db *db = NULL;
    struct certo_err err = {0};
    (void)state;
    assert_int_equal(certo_db_open(&db, path, NULL, 0, &err), CERTO_ENOTFOUND);
    assert_null(db);
    assert_non_null(strstr(err.msg, path));
    assert_int_equal(err.sys_errno, ENOENT);
    certo_free(path);
    t_rmdir(dir);
}

/* Opens 'path' in a child, as nobody when we are root (root may write anywhere). The
 * child exits with -rc, or 101 when the message does not contain 'expect'. */
static certo_rc
open_unprivileged(const char *path, const char *expect)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct certo_db *db = NULL;
        struct certo_err err = {0};
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
            _exit(100);
        certo_rc rc = certo_db_open(&db, path, NULL, 0, &err);
        certo_db_close(db);
        if (rc != CERTO_OK && strstr(err.msg, expect) == NULL) {
            fprintf(stderr, "unexpected message: %s\n", err.msg);
            _exit(101);
        }
        _exit(-(int)rc);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_not_equal(WEXITSTATUS(status), 100);
    assert_int_not_equal(WEXITSTATUS(status), 101);
    return (certo_rc)(-WEXITSTATUS(status));
}

static void
test_store_db__unwritable_dir_eperm(void **state)
{
    char *dir = t_mkdtemp();
    char *sub = db_path(dir, "ro");
    char *path = db_path(sub, "x.db");
    char *ro_file = db_path(dir, "ro-file.db");
    (void)state;
    assert_int_equal(chmod(dir, 0755), 0);
    assert_int_equal(mkdir(sub, 0555), 0);
    assert_int_equal(chmod(sub, 0555), 0);
    assert_int_equal(open_unprivileged(path, path), CERTO_EPERM);
    assert_false(certo_file_exists(path));
    /* An existing database this user may read but not write. */
    certo_db_close(open_ok(ro_file, migs3, 1));
    assert_int_equal(chmod(ro_file, 0644), 0);
    assert_int_equal(open_unprivileged(ro_file, "read-only"), CERTO_EPERM);
    chmod(sub, 0700);
    certo_free(ro_file);
    certo_free(path);
    certo_free(sub);
    t_rmdir(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_db__new_file_mode_and_wal),
        cmocka_unit_test(test_store_db__migrations_apply_once),
        cmocka_unit_test(test_store_db__reopen_applies_nothing),
        cmocka_unit_test(test_store_db__added_migration_applies_only_it),
        cmocka_unit_test(test_store_db__failing_migration_rolls_back),
        cmocka_unit_test(test_store_db__newer_database_unsupported),
        cmocka_unit_test(test_store_db__migration_versions_checked),
        cmocka_unit_test(test_store_db__bind_dollar_order),
        cmocka_unit_test(test_store_db__bind_and_read_types),
        cmocka_unit_test(test_store_db__unique_violation_then_rollback),
        cmocka_unit_test(test_store_db__rollback_discards_insert),
        cmocka_unit_test(test_store_db__stale_reader_write_conflicts),
        cmocka_unit_test(test_store_db__exec_and_prepare_statement_count),
        cmocka_unit_test(test_store_db__statement_outlives_handle),
        cmocka_unit_test(test_store_db__concurrent_open_and_write),
        cmocka_unit_test(test_store_db__url_schemes),
        cmocka_unit_test(test_store_db__missing_dir_not_found),
        cmocka_unit_test(test_store_db__unwritable_dir_eperm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
