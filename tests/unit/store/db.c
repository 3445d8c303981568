/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of src/store/db.c, src/store/sqlite.c and src/store/pgsql.c: migrations,
 * $n binding, value round trips, error mapping, transactions, and several processes
 * opening and writing one fresh database at once. The shared cases run twice, once per
 * backend (two cmocka groups); each case makes fresh databases with new_url(). The
 * PostgreSQL group needs the server of tests/pg (CTest starts it); without
 * CERTO_TEST_PG_URL(_FILE) its cases skip. SQLite-only cases (files, modes) and
 * PostgreSQL-only ones (login, SQL rewriting, types) follow the shared ones.
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

/* The backend under test, set by the group setup. */
struct backend {
    const char *name;
    bool pg;
    const char *where;      /* certo_err.where of what the backend reports */
    const char *unique_msg; /* what its UNIQUE violation message says */
    const char *check_msg;  /* and its CHECK violation */
};

static const struct backend be_sqlite = {
    "sqlite", false, "store.sqlite", "UNIQUE constraint failed: u.name", "CHECK constraint failed"};
static const struct backend be_pg = {"postgresql", true, "store.pgsql",
                                     "duplicate key value violates unique constraint",
                                     "violates check constraint"};
static const struct backend *be = &be_sqlite;
static char *test_dir; /* a temporary directory per case (SQLite files) */

/* A new empty database of the backend under test (owned). 'name' is the SQLite file. */
static char *
new_url(const char *name)
{
    char url[1024];
    if (!be->pg) {
        /* case_setup made test_dir; the check keeps -O2's format analysis satisfied. */
        assert_non_null(test_dir);
        return certo_asprintf("%s/%s", test_dir != NULL ? test_dir : ".", name);
    }
    t_pg_db(url, sizeof(url));
    return certo_strdup(url);
}

static int
case_setup(void **state)
{
    (void)state;
    test_dir = t_mkdtemp();
    return 0;
}

static int
case_teardown(void **state)
{
    (void)state;
    t_rmdir(test_dir);
    test_dir = NULL;
    return 0;
}

static int
group_sqlite(void **state)
{
    (void)state;
    be = &be_sqlite;
    return 0;
}

static int
group_pg(void **state)
{
    (void)state;
    be = &be_pg;
    return 0;
}

static const struct certo_migration migs3[] = {
    {1, "create a", "CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT)"},
    {2, "create b", "CREATE TABLE b (id INTEGER PRIMARY KEY, a_id INTEGER REFERENCES a(id))"},
    {3, "index b", "CREATE INDEX b_a ON b (a_id)"},
};

static const struct certo_migration migs_t[] = {
    {1, "create t",
     "CREATE TABLE t (id INTEGER PRIMARY KEY, s TEXT, i INTEGER, b BLOB, n TEXT);"
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

/* Whether the catalog has an object of 'kind' ("table", "index") named 'name'. */
static bool
object_exists(struct certo_db *db, const char *kind, const char *name)
{
    struct certo_stmt *st = NULL;
    struct certo_err err = {0};
    bool row = false;
    const char *sql = !be->pg ? "SELECT 1 FROM sqlite_master WHERE type = $2 AND name = $1"
                      : strcmp(kind, "table") == 0
                          ? "SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND "
                            "tablename = $1"
                          : "SELECT 1 FROM pg_indexes WHERE schemaname = current_schema() AND "
                            "indexname = $1";
    assert_int_equal(certo_db_prepare(db, &st, sql, &err), CERTO_OK);
    if (!be->pg)
        assert_int_equal(certo_stmt_bind_text(st, 2, kind), CERTO_OK);
    assert_int_equal(certo_stmt_bind_text(st, 1, name), CERTO_OK);
    assert_int_equal(certo_stmt_step(st, &row, &err), CERTO_OK);
    certo_stmt_free(st);
    return row;
}

static bool
table_exists(struct certo_db *db, const char *name)
{
    return object_exists(db, "table", name);
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
    char *url = be->pg ? new_url("m.db") : certo_asprintf("sqlite:%s/m.db", test_dir);
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
}

static void
test_store_db__reopen_applies_nothing(void **state)
{
    char *url = new_url("m.db");
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
}

static void
test_store_db__added_migration_applies_only_it(void **state)
{
    char *url = new_url("m.db");
    (void)state;
    certo_clock_pin_ms(T0);
    struct certo_db *db = open_ok(url, migs3, 2);
    assert_int_equal(certo_db_version(db), 2);
    assert_false(object_exists(db, "index", "b_a"));
    certo_db_close(db);
    certo_clock_pin_ms(T0 + 3600000);
    db = open_ok(url, migs3, 3);
    assert_int_equal(certo_db_version(db), 3);
    assert_true(object_exists(db, "index", "b_a"));
    assert_int_equal(
        query_int(db, "SELECT count(*) FROM certo_schema WHERE applied_at = 1700000000"), 2);
    assert_int_equal(query_int(db, "SELECT applied_at FROM certo_schema WHERE version = 3"),
                     1700003600);
    certo_db_close(db);
    certo_clock_pin_ms(-1);
    certo_free(url);
}

static void
test_store_db__failing_migration_rolls_back(void **state)
{
    static const struct certo_migration bad[] = {
        {1, "create a", "CREATE TABLE a (id INTEGER PRIMARY KEY)"},
        {2, "add c and fill it",
         "CREATE TABLE c (x INTEGER); INSERT INTO c VALUES (1); INSERT INTO nosuch VALUES (1)"},
        {3, "never reached", "CREATE TABLE d (x INTEGER)"},
    };
    char *url = new_url("m.db");
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
}

static void
test_store_db__newer_database_unsupported(void **state)
{
    char *url = new_url("m.db");
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
    char *url = new_url("m.db");
    struct certo_db *db = NULL;
    struct certo_err err = {0};
    (void)state;
    assert_int_equal(certo_db_open(&db, url, gap, 2, &err), CERTO_EINTERNAL);
    assert_non_null(strstr(err.msg, "migration 2 has version 3"));
    assert_int_equal(certo_db_open(&db, url, zero, 1, NULL), CERTO_EINTERNAL);
    assert_null(db);
    certo_free(url);
}

static void
test_store_db__bind_dollar_order(void **state)
{
    char *url = new_url("b.db");
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
}

static void
test_store_db__bind_and_read_types(void **state)
{
    static const unsigned char blob[] = {0x00, 0xff, 0x00, 0x41, 0x00};
    char *url = new_url("b.db");
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

    assert_int_equal(certo_db_prepare(db, &st, "SELECT s, i, b, n FROM t ORDER BY id", &err),
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
}

static void
test_store_db__unique_violation_then_rollback(void **state)
{
    char *url = new_url("u.db");
    struct certo_err err = {0};
    (void)state;
    struct certo_db *db = open_ok(url, migs_t, 1);
    insert_u(db, "s3cr3t-token-1", 1, CERTO_OK, &err);
    assert_int_equal(certo_db_begin(db, true, &err), CERTO_OK);
    insert_u(db, "other", 2, CERTO_OK, &err);
    insert_u(db, "s3cr3t-token-1", 3, CERTO_EEXIST, &err);
    assert_int_equal(err.rc, CERTO_EEXIST);
    assert_string_equal(err.where, be->where);
    assert_non_null(strstr(err.msg, be->unique_msg));
    assert_null(strstr(err.msg, "s3cr3t"));
    certo_db_rollback(db);
    assert_int_equal(query_int(db, "SELECT count(*) FROM u"), 1);
    assert_int_equal(query_int(db, "SELECT qty FROM u"), 1);
    /* Other constraints are bad input; a primary key clash is EEXIST too. */
    certo_err_clear(&err);
    insert_u(db, "neg", -1, CERTO_EINVAL, &err);
    assert_non_null(strstr(err.msg, be->check_msg));
    certo_err_clear(&err);
    assert_int_equal(certo_db_exec(db, "INSERT INTO u (id, name) VALUES (1, 'again')", &err),
                     CERTO_EEXIST);
    certo_err_clear(&err);
    assert_int_equal(certo_db_exec(db, "INSERT INTO u (id) VALUES (9)", &err), CERTO_EINVAL);
    certo_db_close(db);
    certo_free(url);
}

static void
test_store_db__rollback_discards_insert(void **state)
{
    char *url = new_url("r.db");
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
    assert_string_equal(err.where, be->where);
    certo_db_close(db);
    certo_free(url);
}

/* A read transaction that another handle overtook cannot become a writer: SQLite refuses
 * at once (no busy wait helps), which is why writers use begin(write=true). */
static void
test_store_db__stale_reader_write_conflicts(void **state)
{
    char *url = new_url("c.db");
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
}

static void
test_store_db__exec_and_prepare_statement_count(void **state)
{
    char *url = new_url("e.db");
    struct certo_stmt *st = NULL;
    struct certo_err err = {0};
    (void)state;
    struct certo_db *db = open_ok(url, NULL, 0);
    assert_int_equal(certo_db_exec(db,
                                   "CREATE TABLE p (x INTEGER); INSERT INTO p VALUES (1);"
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
}

/* The contract says finalize first; a statement that outlives its handle is still
 * released whole (ASan's leak check sees it) and never touches freed memory. */
static void
test_store_db__statement_outlives_handle(void **state)
{
    char *url = new_url("s.db");
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
    char *url = new_url("conc.db");
    (void)state;
    run_children(url, 1); /* no file yet: creation, WAL switch and migration race */
    certo_free(url);
    /* A file already in WAL mode at version 0: the children reach the migrations together,
     * so each step must be re-checked under the write lock. */
    url = new_url("warm.db");
    certo_db_close(open_ok(url, NULL, 0));
    run_children(url, 2);
    certo_free(url);
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
    assert_int_equal(certo_db_open(&db, "mysql://u:pw@host/x", NULL, 0, &err), CERTO_EUNSUPPORTED);
    assert_null(db);
    assert_non_null(strstr(err.msg, "\"mysql\""));
    assert_null(strstr(err.msg, "pw")); /* urls may carry passwords */
    assert_int_equal(certo_db_open(&db, "mysql:x", NULL, 0, NULL), CERTO_EUNSUPPORTED);
    assert_int_equal(certo_db_open(&db, "postgresql:", NULL, 0, NULL), CERTO_EINVAL);
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

/* ---- new shared cases ---------------------------------------------------------- */

/* A violation inside a transaction undoes only its statement: the transaction goes on
 * and commits what came before and after. */
static void
test_store_db__violation_keeps_transaction(void **state)
{
    char *url = new_url("v.db");
    struct certo_err err = {0};
    (void)state;
    struct certo_db *db = open_ok(url, migs_t, 1);
    assert_int_equal(certo_db_begin(db, true, &err), CERTO_OK);
    insert_u(db, "one", 1, CERTO_OK, &err);
    insert_u(db, "one", 2, CERTO_EEXIST, &err);
    certo_err_clear(&err);
    insert_u(db, "neg", -1, CERTO_EINVAL, &err);
    certo_err_clear(&err);
    assert_int_equal(certo_db_exec(db, "INSERT INTO u (name, qty) VALUES ('one', 5)", &err),
                     CERTO_EEXIST);
    certo_err_clear(&err);
    insert_u(db, "two", 2, CERTO_OK, &err);
    assert_int_equal(query_int(db, "SELECT count(*) FROM u"), 2);
    assert_int_equal(certo_db_commit(db, &err), CERTO_OK);
    assert_int_equal(query_int(db, "SELECT sum(qty) FROM u"), 3);
    certo_db_close(db);
    certo_free(url);
}

static void
roundtrip_blob(struct certo_db *db, const unsigned char *p, size_t n)
{
    struct certo_stmt *st = NULL;
    struct certo_err err = {0};
    size_t len = 99;
    bool row = false;
    assert_int_equal(certo_db_exec(db, "DELETE FROM t", &err), CERTO_OK);
    assert_int_equal(certo_db_prepare(db, &st, "INSERT INTO t (b) VALUES ($1)", &err), CERTO_OK);
    assert_int_equal(certo_stmt_bind_blob(st, 1, p, n), CERTO_OK);
    assert_int_equal(certo_stmt_step(st, &row, &err), CERTO_OK);
    certo_stmt_free(st);
    assert_int_equal(certo_db_prepare(db, &st, "SELECT b, length(b) FROM t", &err), CERTO_OK);
    assert_int_equal(certo_stmt_step(st, &row, &err), CERTO_OK);
    assert_true(row);
    const void *got = certo_stmt_blob(st, 0, &len);
    assert_non_null(got);
    assert_int_equal(len, n);
    if (n > 0)
        assert_memory_equal(got, p, n);
    assert_int_equal(certo_stmt_int(st, 1), (int64_t)n);
    certo_stmt_free(st);
}

static void
test_store_db__blob_roundtrip(void **state)
{
    static const unsigned char zeros[16];
    char *url = new_url("blob.db");
    size_t big = 1024 * 1024;
    unsigned char *mib = certo_malloc(big);
    (void)state;
    for (size_t i = 0; i < big; i++)
        mib[i] = (unsigned char)(i * 7 + (i >> 8));
    mib[0] = 0;
    mib[big - 1] = 0;
    struct certo_db *db = open_ok(url, migs_t, 1);
    roundtrip_blob(db, zeros, 0);
    roundtrip_blob(db, zeros, 1);
    roundtrip_blob(db, zeros, sizeof(zeros));
    roundtrip_blob(db, mib, big);
    certo_db_close(db);
    certo_free(mib);
    certo_free(url);
}

static void
test_store_db__int64_extremes(void **state)
{
    static const int64_t vals[] = {INT64_MIN, INT64_MIN + 1,          -1,       0, 1,
                                   INT32_MAX, (int64_t)INT32_MAX + 1, INT64_MAX};
    char *url = new_url("i.db");
    struct certo_stmt *st = NULL;
    struct certo_err err = {0};
    bool row = false;
    (void)state;
    struct certo_db *db = open_ok(url, migs_t, 1);
    assert_int_equal(certo_db_prepare(db, &st, "INSERT INTO t (i) VALUES ($1)", &err), CERTO_OK);
    for (size_t k = 0; k < CERTO_ARRAY_LEN(vals); k++) {
        certo_stmt_reset(st);
        assert_int_equal(certo_stmt_bind_int(st, 1, vals[k]), CERTO_OK);
        assert_int_equal(certo_stmt_step(st, &row, &err), CERTO_OK);
    }
    certo_stmt_free(st);
    assert_int_equal(certo_db_prepare(db, &st, "SELECT i, $1 FROM t ORDER BY id", &err), CERTO_OK);
    assert_int_equal(certo_stmt_bind_int(st, 1, INT64_MAX), CERTO_OK);
    for (size_t k = 0; k < CERTO_ARRAY_LEN(vals); k++) {
        assert_int_equal(certo_stmt_step(st, &row, &err), CERTO_OK);
        assert_true(row);
        assert_true(certo_stmt_int(st, 0) == vals[k]);
        assert_true(certo_stmt_int(st, 1) == INT64_MAX);
    }
    assert_int_equal(certo_stmt_step(st, &row, &err), CERTO_OK);
    assert_false(row);
    certo_stmt_free(st);
    assert_true(query_int(db, "SELECT min(i) FROM t") == INT64_MIN);
    assert_true(query_int(db, "SELECT max(i) FROM t") == INT64_MAX);
    certo_db_close(db);
    certo_free(url);
}

static void
test_store_db__null_columns(void **state)
{
    char *url = new_url("n.db");
    struct certo_stmt *st = NULL;
    struct certo_err err = {0};
    size_t len = 99;
    bool row = false;
    (void)state;
    struct certo_db *db = open_ok(url, migs_t, 1);
    assert_int_equal(certo_db_exec(db, "INSERT INTO t (s) VALUES (NULL)", &err), CERTO_OK);
    assert_int_equal(certo_db_prepare(db, &st, "SELECT s, i, b, n, NULL FROM t", &err), CERTO_OK);
    assert_int_equal(certo_stmt_step(st, &row, &err), CERTO_OK);
    assert_true(row);
    for (int c = 0; c < 5; c++) {
        assert_true(certo_stmt_is_null(st, c));
        assert_null(certo_stmt_text(st, c));
        assert_int_equal(certo_stmt_int(st, c), 0);
        len = 99;
        assert_null(certo_stmt_blob(st, c, &len));
        assert_int_equal(len, 0);
    }
    certo_stmt_free(st);
    certo_db_close(db);
    certo_free(url);
}

static void
test_store_db__insert_returning_id(void **state)
{
    char *url = new_url("ret.db");
    struct certo_stmt *st = NULL;
    struct certo_err err = {0};
    bool row = false;
    (void)state;
    struct certo_db *db = open_ok(url, migs_t, 1);
    assert_int_equal(
        certo_db_prepare(db, &st, "INSERT INTO u (name, qty) VALUES ($1, 1) RETURNING id", &err),
        CERTO_OK);
    for (int64_t want = 1; want <= 3; want++) {
        char name[16];
        snprintf(name, sizeof(name), "n%d", (int)want);
        certo_stmt_reset(st);
        assert_int_equal(certo_stmt_bind_text(st, 1, name), CERTO_OK);
        assert_int_equal(certo_stmt_step(st, &row, &err), CERTO_OK);
        assert_true(row);
        assert_true(certo_stmt_int(st, 0) == want);
        assert_int_equal(certo_db_changes(db), 1);
        assert_int_equal(certo_stmt_step(st, &row, &err), CERTO_OK);
        assert_false(row);
    }
    certo_stmt_free(st);
    assert_int_equal(certo_db_exec(db, "UPDATE u SET qty = 2", &err), CERTO_OK);
    assert_int_equal(certo_db_changes(db), 3);
    certo_db_close(db);
    certo_free(url);
}

/* Text compares and sorts by bytes on both backends (ASCII: 'B' < '_' < 'a'). */
static void
test_store_db__text_order_is_bytewise(void **state)
{
    static const char *const in[] = {"b", "a", "B", "_x", "A", "a-b", "a_b", "Z", "ab", "a~"};
    static const char *const want[] = {"A", "B", "Z", "_x", "a", "a-b", "a_b", "ab", "a~", "b"};
    char *url = new_url("o.db");
    struct certo_stmt *st = NULL;
    struct certo_err err = {0};
    bool row = false;
    (void)state;
    struct certo_db *db = open_ok(url, migs_t, 1);
    for (size_t k = 0; k < CERTO_ARRAY_LEN(in); k++)
        insert_u(db, in[k], 1, CERTO_OK, &err);
    assert_int_equal(certo_db_prepare(db, &st, "SELECT name FROM u ORDER BY name", &err), CERTO_OK);
    for (size_t k = 0; k < CERTO_ARRAY_LEN(want); k++) {
        assert_int_equal(certo_stmt_step(st, &row, &err), CERTO_OK);
        assert_true(row);
        assert_string_equal(certo_stmt_text(st, 0), want[k]);
    }
    certo_stmt_free(st);
    assert_int_equal(query_int(db, "SELECT count(*) FROM u WHERE name < 'a'"), 4);
    certo_db_close(db);
    certo_free(url);
}

#define N_MIGS_MANY 20

/* Two processes open one fresh database with twenty migrations at the same moment:
 * every step is applied once, and both end at version 20. */
static void
test_store_db__two_handles_migrate_together(void **state)
{
    struct certo_migration migs[N_MIGS_MANY];
    char sql[N_MIGS_MANY][96];
    char *url = new_url("two.db");
    pid_t pids[2];
    int go[2];
    (void)state;
    for (int i = 0; i < N_MIGS_MANY; i++) {
        snprintf(sql[i], sizeof(sql[i]),
                 "CREATE TABLE m%d (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO m%d (v) "
                 "VALUES ('x')",
                 i, i);
        migs[i] = (struct certo_migration){i + 1, "step", sql[i]};
    }
    assert_int_equal(pipe(go), 0);
    for (int i = 0; i < 2; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            struct certo_db *db = NULL;
            struct certo_err err = {0};
            char c;
            close(go[1]);
            if (read(go[0], &c, 1) != 0)
                _exit(10);
            if (certo_db_open(&db, url, migs, N_MIGS_MANY, &err) != CERTO_OK) {
                fprintf(stderr, "child %d: open: %s\n", i, err.msg);
                _exit(11);
            }
            int v = certo_db_version(db);
            certo_db_close(db);
            _exit(v == N_MIGS_MANY ? 0 : 12);
        }
    }
    close(go[0]);
    close(go[1]);
    for (int i = 0; i < 2; i++) {
        int status = 0;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    struct certo_db *db = open_ok(url, migs, N_MIGS_MANY);
    assert_int_equal(query_int(db, "SELECT count(*) FROM certo_schema"), N_MIGS_MANY);
    assert_int_equal(query_int(db, "SELECT count(*) FROM m0"), 1);
    assert_int_equal(query_int(db, "SELECT count(*) FROM m19"), 1);
    certo_db_close(db);
    certo_free(url);
}

/* ---- PostgreSQL only ------------------------------------------------------------- */

/* The admin url with its password replaced by 'pw' (no other change). */
static char *
url_with_password(const char *url, const char *pw)
{
    const char *at = strchr(url, '@');
    const char *colon = NULL;
    assert_non_null(at);
    for (const char *p = strstr(url, "://") + 3; p < at; p++) {
        if (*p == ':')
            colon = p;
    }
    assert_non_null(colon);
    return certo_asprintf("%.*s:%s%s", (int)(colon - url), url, pw, at);
}

/* The password of 'url' (owned). */
static char *
password_of(const char *url)
{
    const char *at = strchr(url, '@');
    const char *p = strstr(url, "://") + 3;
    const char *colon = memchr(p, ':', (size_t)(at - p));
    assert_non_null(colon);
    return certo_strndup(colon + 1, (size_t)(at - colon - 1));
}

static void
test_store_pg__wrong_password_not_shown(void **state)
{
    char *url = new_url(NULL);
    char *real = password_of(url);
    char *bad = url_with_password(url, "Wr0ng-s3cret-pw");
    struct certo_db *db = NULL;
    struct certo_err err = {0};
    (void)state;
    assert_int_equal(certo_db_open(&db, bad, NULL, 0, &err), CERTO_EAUTH);
    assert_null(db);
    assert_string_equal(err.where, "store.pgsql");
    assert_non_null(strstr(err.msg, "127.0.0.1"));
    assert_null(strstr(err.msg, "Wr0ng"));
    assert_null(strstr(err.msg, real));
    assert_null(strstr(err.msg, bad));
    certo_free(bad);
    certo_free(real);
    certo_free(url);
}

static void
test_store_pg__unreachable_not_shown(void **state)
{
    struct certo_db *db = NULL;
    struct certo_err err = {0};
    (void)state;
    /* Port 1 on loopback: nothing listens; refused at once. */
    assert_int_equal(certo_db_open(&db, "postgresql://u:S3cretPw@127.0.0.1:1/x", NULL, 0, &err),
                     CERTO_ENET);
    assert_null(db);
    assert_true((err.flags & CERTO_ERR_RETRYABLE) != 0);
    assert_non_null(strstr(err.msg, "database x on 127.0.0.1:1"));
    assert_null(strstr(err.msg, "S3cret"));
    certo_err_clear(&err);
    assert_int_equal(
        certo_db_open(&db, "postgres://u:S3cretPw@127.0.0.1:1/x?connect_timeout=2", NULL, 0, &err),
        CERTO_ENET);
    assert_null(strstr(err.msg, "S3cret"));
    /* libpq's own parse errors quote the url: ours do not. */
    certo_err_clear(&err);
    assert_int_equal(certo_db_open(&db, "postgresql://u:S3cret%zz@127.0.0.1:1/x", NULL, 0, &err),
                     CERTO_EINVAL);
    assert_null(strstr(err.msg, "S3cret"));
    certo_err_clear(&err);
    assert_int_equal(
        certo_db_open(&db, "postgresql://u:S3cret@127.0.0.1:1/x?bogus=S3cret", NULL, 0, &err),
        CERTO_EINVAL);
    assert_null(strstr(err.msg, "S3cret"));
}

static void
test_store_pg__session(void **state)
{
    char *url = new_url(NULL);
    struct certo_stmt *st = NULL;
    struct certo_err err = {0};
    bool row = false;
    (void)state;
    struct certo_db *db = open_ok(url, NULL, 0);
    assert_int_equal(certo_db_version(db), 0);
    assert_int_equal(certo_db_prepare(db, &st,
                                      "SELECT current_setting('application_name'), "
                                      "current_setting('lock_timeout'), "
                                      "current_setting('client_encoding')",
                                      &err),
                     CERTO_OK);
    assert_int_equal(certo_stmt_step(st, &row, &err), CERTO_OK);
    assert_true(row);
    assert_string_equal(certo_stmt_text(st, 0), "certo");
    assert_string_equal(certo_stmt_text(st, 1), "10s");
    assert_string_equal(certo_stmt_text(st, 2), "UTF8");
    certo_stmt_free(st);
    /* begin twice is an error, as on SQLite */
    assert_int_equal(certo_db_begin(db, false, &err), CERTO_OK);
    assert_int_equal(certo_db_begin(db, true, &err), CERTO_EIO);
    certo_db_rollback(db);
    certo_db_close(db);
    certo_free(url);
}

/* The SQL rewriting: type words outside quotes only, identity columns, $n renumbering. */
static void
test_store_pg__portable_sql(void **state)
{
    char *url = new_url(NULL);
    struct certo_stmt *st = NULL;
    struct certo_err err = {0};
    bool row = false;
    (void)state;
    struct certo_db *db = open_ok(url, NULL, 0);
    assert_int_equal(
        certo_db_exec(db,
                      "CREATE TABLE r (id integer /* c */ primary key, n Integer NOT NULL, "
                      "b BLOB, \"INTEGER\" TEXT DEFAULT 'INTEGER BLOB', "
                      "e TEXT DEFAULT E'it''s \\' INTEGER', -- INTEGER\n"
                      "d TEXT DEFAULT $$BLOB$$); INSERT INTO r (n) VALUES (1)",
                      &err),
        CERTO_OK);
    assert_int_equal(certo_db_prepare(db, &st,
                                      "SELECT data_type FROM information_schema.columns WHERE "
                                      "table_name = 'r' ORDER BY ordinal_position",
                                      &err),
                     CERTO_OK);
    static const char *const types[] = {"bigint", "bigint", "bytea", "text", "text", "text"};
    for (size_t k = 0; k < CERTO_ARRAY_LEN(types); k++) {
        assert_int_equal(certo_stmt_step(st, &row, &err), CERTO_OK);
        assert_true(row);
        assert_string_equal(certo_stmt_text(st, 0), types[k]);
    }
    certo_stmt_free(st);
    assert_int_equal(
        certo_db_prepare(db, &st, "SELECT id, \"INTEGER\", e, d FROM r WHERE n = $1", &err),
        CERTO_OK);
    assert_int_equal(certo_stmt_bind_int(st, 1, 1), CERTO_OK);
    assert_int_equal(certo_stmt_step(st, &row, &err), CERTO_OK);
    assert_true(row);
    assert_int_equal(certo_stmt_int(st, 0), 1);
    assert_string_equal(certo_stmt_text(st, 1), "INTEGER BLOB");
    assert_string_equal(certo_stmt_text(st, 2), "it's ' INTEGER");
    assert_string_equal(certo_stmt_text(st, 3), "BLOB");
    certo_stmt_free(st);
    /* "$1" inside a string is no parameter; $3 alone is the statement's only one. */
    assert_int_equal(certo_db_prepare(db, &st, "SELECT '$1', $3", &err), CERTO_OK);
    assert_int_equal(certo_stmt_bind_text(st, 1, "x"), CERTO_EINVAL);
    assert_int_equal(certo_stmt_bind_text(st, 3, "three"), CERTO_OK);
    assert_int_equal(certo_stmt_step(st, &row, &err), CERTO_OK);
    assert_string_equal(certo_stmt_text(st, 0), "$1");
    assert_string_equal(certo_stmt_text(st, 1), "three");
    certo_stmt_free(st);
    assert_int_equal(certo_db_prepare(db, &st, "SELECT 'a;b'; -- ; not a second\n", &err),
                     CERTO_OK);
    certo_stmt_free(st);
    assert_int_equal(certo_db_prepare(db, &st, "SELECT * FROM nosuch", &err), CERTO_EINVAL);
    assert_non_null(strstr(err.msg, "nosuch"));
    certo_db_close(db);
    certo_free(url);
}

/* Integers come back as int64 from int2, int4, int8, numeric and boolean columns. */
static void
test_store_pg__integer_kinds(void **state)
{
    char *url = new_url(NULL);
    struct certo_stmt *st = NULL;
    struct certo_err err = {0};
    bool row = false;
    (void)state;
    struct certo_db *db = open_ok(url, NULL, 0);
    assert_int_equal(certo_db_prepare(db, &st,
                                      "SELECT 7::int2, (-2147483648)::int4, 9223372036854775807, "
                                      "true, false, 12::numeric, count(*) FROM (SELECT 1) q",
                                      &err),
                     CERTO_OK);
    assert_int_equal(certo_stmt_step(st, &row, &err), CERTO_OK);
    assert_true(row);
    assert_int_equal(certo_stmt_int(st, 0), 7);
    assert_true(certo_stmt_int(st, 1) == INT32_MIN);
    assert_true(certo_stmt_int(st, 2) == INT64_MAX);
    assert_int_equal(certo_stmt_int(st, 3), 1);
    assert_int_equal(certo_stmt_int(st, 4), 0);
    assert_int_equal(certo_stmt_int(st, 5), 12);
    assert_int_equal(certo_stmt_int(st, 6), 1);
    certo_stmt_free(st);
    certo_db_close(db);
    certo_free(url);
}

/* PostgreSQL's counterpart of stale_reader_write_conflicts: a read transaction is a
 * snapshot; writing a row another handle changed since is a serialization failure. */
static void
test_store_pg__snapshot_write_conflicts(void **state)
{
    char *url = new_url(NULL);
    struct certo_err err = {0};
    (void)state;
    struct certo_db *a = open_ok(url, migs_t, 1);
    struct certo_db *b = open_ok(url, migs_t, 1);
    insert_u(a, "x", 1, CERTO_OK, &err);
    assert_int_equal(certo_db_begin(b, false, &err), CERTO_OK);
    assert_int_equal(query_int(b, "SELECT qty FROM u WHERE name = 'x'"), 1);
    assert_int_equal(certo_db_exec(a, "UPDATE u SET qty = 2 WHERE name = 'x'", &err), CERTO_OK);
    assert_int_equal(certo_db_exec(b, "UPDATE u SET qty = 3 WHERE name = 'x'", &err),
                     CERTO_ECONFLICT);
    assert_true((err.flags & CERTO_ERR_RETRYABLE) != 0);
    certo_db_rollback(b);
    assert_int_equal(query_int(b, "SELECT qty FROM u WHERE name = 'x'"), 2);
    certo_db_close(a);
    certo_db_close(b);
    certo_free(url);
}

#define SHARED(f) cmocka_unit_test_setup_teardown(f, case_setup, case_teardown)

int
main(void)
{
    const struct CMUnitTest sqlite_tests[] = {
        SHARED(test_store_db__new_file_mode_and_wal),
        SHARED(test_store_db__migrations_apply_once),
        SHARED(test_store_db__reopen_applies_nothing),
        SHARED(test_store_db__added_migration_applies_only_it),
        SHARED(test_store_db__failing_migration_rolls_back),
        SHARED(test_store_db__newer_database_unsupported),
        SHARED(test_store_db__migration_versions_checked),
        SHARED(test_store_db__bind_dollar_order),
        SHARED(test_store_db__bind_and_read_types),
        SHARED(test_store_db__unique_violation_then_rollback),
        SHARED(test_store_db__rollback_discards_insert),
        SHARED(test_store_db__stale_reader_write_conflicts),
        SHARED(test_store_db__exec_and_prepare_statement_count),
        SHARED(test_store_db__statement_outlives_handle),
        SHARED(test_store_db__concurrent_open_and_write),
        SHARED(test_store_db__url_schemes),
        SHARED(test_store_db__missing_dir_not_found),
        SHARED(test_store_db__unwritable_dir_eperm),
        SHARED(test_store_db__violation_keeps_transaction),
        SHARED(test_store_db__blob_roundtrip),
        SHARED(test_store_db__int64_extremes),
        SHARED(test_store_db__null_columns),
        SHARED(test_store_db__insert_returning_id),
        SHARED(test_store_db__text_order_is_bytewise),
        SHARED(test_store_db__two_handles_migrate_together),
    };
    /* Every shared case again; the SQLite-only ones (files, WAL, modes, SQLite's
     * stale-reader rule) are replaced by PostgreSQL's own. */
    const struct CMUnitTest pg_tests[] = {
        SHARED(test_store_pg__session),
        SHARED(test_store_db__migrations_apply_once),
        SHARED(test_store_db__reopen_applies_nothing),
        SHARED(test_store_db__added_migration_applies_only_it),
        SHARED(test_store_db__failing_migration_rolls_back),
        SHARED(test_store_db__newer_database_unsupported),
        SHARED(test_store_db__migration_versions_checked),
        SHARED(test_store_db__bind_dollar_order),
        SHARED(test_store_db__bind_and_read_types),
        SHARED(test_store_db__unique_violation_then_rollback),
        SHARED(test_store_db__rollback_discards_insert),
        SHARED(test_store_pg__snapshot_write_conflicts),
        SHARED(test_store_db__exec_and_prepare_statement_count),
        SHARED(test_store_db__statement_outlives_handle),
        SHARED(test_store_db__concurrent_open_and_write),
        SHARED(test_store_db__violation_keeps_transaction),
        SHARED(test_store_db__blob_roundtrip),
        SHARED(test_store_db__int64_extremes),
        SHARED(test_store_db__null_columns),
        SHARED(test_store_db__insert_returning_id),
        SHARED(test_store_db__text_order_is_bytewise),
        SHARED(test_store_db__two_handles_migrate_together),
        SHARED(test_store_pg__wrong_password_not_shown),
        SHARED(test_store_pg__unreachable_not_shown),
        SHARED(test_store_pg__portable_sql),
        SHARED(test_store_pg__integer_kinds),
    };
    int failed = cmocka_run_group_tests_name("store/sqlite", sqlite_tests, group_sqlite, NULL);
    failed += cmocka_run_group_tests_name("store/postgresql", pg_tests, group_pg, NULL);
    return failed;
}
