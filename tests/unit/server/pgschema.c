/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The server's schema (src/server/schema.c) on PostgreSQL: every migration applies
 * through the store's portable SQL, every table SQLite gets exists there too, and the
 * identity is created and read back through its usual code path (keystore rows with
 * BLOB columns). Needs the PostgreSQL of tests/pg (CTest starts it).
 */
#include <stdio.h>
#include <string.h>

#include <openssl/x509.h>

#include "testutil.h"
#include "certo/server.h"

static int64_t
query_int(struct certo_db *db, const char *sql)
{
    struct certo_stmt *st = NULL;
    struct certo_err err = {0};
    bool row = false;
    if (certo_db_prepare(db, &st, sql, &err) != CERTO_OK)
        fail_msg("%s: %s", sql, err.msg);
    assert_int_equal(certo_stmt_step(st, &row, &err), CERTO_OK);
    assert_true(row);
    int64_t v = certo_stmt_int(st, 0);
    certo_stmt_free(st);
    return v;
}

static void
test_server_pgschema__migrations_and_identity(void **state)
{
    char url[1024];
    char *dir = NULL;
    char *sqlite_dir = NULL;
    struct certo_db *db = NULL;
    struct certo_db *lite = NULL;
    struct certo_stmt *st = NULL;
    struct certo_identity id = {0};
    struct certo_identity again = {0};
    struct certo_err err = {0};
    bool created = false;
    bool row = false;
    int tables = 0;
    (void)state;
    t_pg_db(url, sizeof(url));
    dir = t_mkdtemp();
    sqlite_dir = t_mkdtemp();
    if (certo_server_db_open(&db, dir, url, &err) != CERTO_OK)
        fail_msg("open: %s", err.msg);
    assert_true(certo_db_version(db) >= 2);

    /* The same schema on SQLite: each of its tables must exist, empty, on PostgreSQL. */
    assert_int_equal(certo_server_db_open(&lite, sqlite_dir, NULL, &err), CERTO_OK);
    assert_int_equal(certo_db_version(lite), certo_db_version(db));
    assert_int_equal(certo_db_prepare(lite, &st,
                                      "SELECT name FROM sqlite_master WHERE type = 'table' AND "
                                      "name NOT LIKE 'sqlite_%' ORDER BY name",
                                      &err),
                     CERTO_OK);
    for (;;) {
        char sql[160];
        assert_int_equal(certo_stmt_step(st, &row, &err), CERTO_OK);
        if (!row)
            break;
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM \"%s\"", certo_stmt_text(st, 0));
        if (strcmp(certo_stmt_text(st, 0), "certo_schema") == 0)
            assert_int_equal(query_int(db, sql), certo_db_version(db));
        else
            assert_int_equal(query_int(db, sql), 0);
        tables++;
    }
    certo_stmt_free(st);
    assert_true(tables >= 3);
    assert_int_equal(query_int(db, "SELECT count(*) FROM pg_tables WHERE schemaname = "
                                   "current_schema()"),
                     tables);
    certo_db_close(lite);

    /* Identity: created once (INSERT with BLOB columns), then read back and found again. */
    if (certo_identity_ensure(&id, &created, db, dir, "localhost", &err) != CERTO_OK)
        fail_msg("ensure: %s", err.msg);
    assert_true(created);
    assert_non_null(id.key);
    assert_int_equal(query_int(db, "SELECT count(*) FROM keystore"), 1);
    certo_db_close(db);
    db = NULL;
    assert_int_equal(certo_server_db_open(&db, dir, url, &err), CERTO_OK);
    assert_int_equal(certo_identity_load(&again, db, dir, &err), CERTO_OK);
    assert_int_equal(X509_cmp(id.cert, again.cert), 0);
    assert_non_null(again.key);
    assert_int_equal(EVP_PKEY_eq(id.key, again.key), 1);
    certo_identity_dispose(&again);
    created = true;
    assert_int_equal(certo_identity_ensure(&again, &created, db, dir, "localhost", &err), CERTO_OK);
    assert_false(created);
    certo_identity_dispose(&again);
    certo_identity_dispose(&id);
    certo_db_close(db);
    t_rmdir(sqlite_dir);
    t_rmdir(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_pgschema__migrations_and_identity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
