/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of src/server/accounts.c on SQLite and on PostgreSQL: the role/scope rules,
 * the last-admin guard, logins (one answer for every failure), the first start's admin
 * (once, 0600 file, nothing on a second call), token records (revocation, expiry, a
 * password change revoking), names, and paging.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "certo/accounts.h"
#include "certo/server.h"
#include "testutil.h"

struct fx {
    char *dir;
    struct certo_db *db;
};

static bool on_pg;

static int
setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct certo_err err = {0};
    char url[1024];

    f->dir = t_mkdtemp();
    if (on_pg)
        t_pg_db(url, sizeof(url));
    assert_int_equal(certo_server_db_open(&f->db, f->dir, on_pg ? url : NULL, &err), CERTO_OK);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;
    certo_db_close(f->db);
    t_rmdir(f->dir);
    free(f);
    return 0;
}

static int64_t
add_user(struct fx *f, const char *name, enum certo_role role, int64_t org, int64_t dept,
         const char *pw)
{
    struct certo_err err = {0};
    struct certo_secret *s = pw != NULL ? t_secret(pw) : NULL;
    int64_t id = 0;

    assert_int_equal(certo_user_add(f->db, name, role, org, dept, s, &id, &err), CERTO_OK);
    certo_secret_free(s);
    return id;
}

static void
test_scope_rules(void **state)
{
    struct fx *f = *state;
    struct certo_err err = {0};
    int64_t o1 = 0, o2 = 0, d1 = 0, d2 = 0;

    assert_int_equal(certo_org_add(f->db, "One", &o1, &err), CERTO_OK);
    assert_int_equal(certo_org_add(f->db, "Two", &o2, &err), CERTO_OK);
    assert_int_equal(certo_dept_add(f->db, o1, "A", &d1, &err), CERTO_OK);
    assert_int_equal(certo_dept_add(f->db, o2, "A", &d2, &err),
                     CERTO_OK); /* same name, other org */
    assert_int_equal(certo_dept_add(f->db, o1, "A", &d2, &err), CERTO_EEXIST);
    assert_string_equal(err.msg, "department 'A' already exists");
    struct {
        enum certo_role role;
        int64_t org, dept;
        certo_rc want;
    } cases[] = {
        {CERTO_ROLE_ADMIN, 0, 0, CERTO_OK},
        {CERTO_ROLE_ADMIN, o1, 0, CERTO_EINVAL},
        {CERTO_ROLE_ORG_ADMIN, o1, 0, CERTO_OK},
        {CERTO_ROLE_ORG_ADMIN, 0, 0, CERTO_EINVAL},
        {CERTO_ROLE_ORG_ADMIN, o1, d1, CERTO_EINVAL},
        {CERTO_ROLE_DEPT_ADMIN, o1, d1, CERTO_OK},
        {CERTO_ROLE_DEPT_ADMIN, o1, 0, CERTO_EINVAL},
        {CERTO_ROLE_OPERATOR, o1, 0, CERTO_OK},
        {CERTO_ROLE_OPERATOR, 0, 0, CERTO_EINVAL},
        {CERTO_ROLE_OPERATOR, o1, d2, CERTO_EINVAL},
        {CERTO_ROLE_AUDITOR, 0, 0, CERTO_OK},
        {CERTO_ROLE_AUDITOR, 0, d1, CERTO_EINVAL},
        {CERTO_ROLE_AUDITOR, 999, 0, CERTO_ENOTFOUND},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        certo_err_clear(&err);
        assert_int_equal(
            certo_user_scope_check(f->db, cases[i].role, cases[i].org, cases[i].dept, &err),
            cases[i].want);
    }
    /* An organization with departments or users cannot go; an empty one can. */
    certo_err_clear(&err);
    assert_int_equal(certo_org_remove(f->db, o2, &err), CERTO_ECONFLICT);
    certo_err_clear(&err);
    assert_int_equal(certo_dept_remove(f->db, d2, &err), CERTO_OK);
    assert_int_equal(certo_org_remove(f->db, o2, &err), CERTO_OK);
    certo_err_clear(&err);
    assert_int_equal(certo_org_remove(f->db, o2, &err), CERTO_ENOTFOUND);
}

static void
test_last_admin(void **state)
{
    struct fx *f = *state;
    struct certo_err err = {0};
    int64_t a = add_user(f, "root1", CERTO_ROLE_ADMIN, 0, 0, "password-1");
    int64_t b;

    assert_int_equal(certo_user_remove(f->db, a, &err), CERTO_ECONFLICT);
    certo_err_clear(&err);
    assert_int_equal(certo_user_update(f->db, a, CERTO_ROLE_AUDITOR, 0, 0, false, &err),
                     CERTO_ECONFLICT);
    certo_err_clear(&err);
    assert_int_equal(certo_user_update(f->db, a, CERTO_ROLE_ADMIN, 0, 0, true, &err),
                     CERTO_ECONFLICT);
    assert_string_equal(err.msg, "this is the last enabled admin");
    b = add_user(f, "root2", CERTO_ROLE_ADMIN, 0, 0, "password-2");
    certo_err_clear(&err);
    assert_int_equal(certo_user_update(f->db, a, CERTO_ROLE_AUDITOR, 0, 0, false, &err), CERTO_OK);
    assert_int_equal(certo_user_remove(f->db, b, &err), CERTO_ECONFLICT);
}

static void
test_login(void **state)
{
    struct fx *f = *state;
    struct certo_err err = {0};
    struct certo_secret *right = t_secret("the-right-one"), *wrong = t_secret("the-wrong-one");
    struct certo_user u;
    int64_t id = add_user(f, "carol", CERTO_ROLE_AUDITOR, 0, 0, "the-right-one");

    add_user(f, "sso", CERTO_ROLE_AUDITOR, 0, 0, NULL);
    assert_int_equal(certo_user_login(f->db, "carol", right, &u, &err), CERTO_OK);
    assert_int_equal(u.id, id);
    assert_true(u.has_password);
    /* One answer for a wrong password, an unknown user, a user without a password. */
    const char *who[] = {"carol", "nobody", "sso"};
    for (size_t i = 0; i < 3; i++) {
        certo_err_clear(&err);
        assert_int_equal(certo_user_login(f->db, who[i], i == 0 ? wrong : right, &u, &err),
                         CERTO_EAUTH);
        assert_string_equal(err.msg, "wrong user name or password");
    }
    assert_int_equal(certo_user_update(f->db, id, CERTO_ROLE_AUDITOR, 0, 0, true, &err), CERTO_OK);
    assert_int_equal(certo_user_login(f->db, "carol", right, &u, &err), CERTO_EAUTH);
    certo_secret_free(right);
    certo_secret_free(wrong);
}

static void
test_bootstrap(void **state)
{
    struct fx *f = *state;
    struct certo_err err = {0};
    struct certo_buf b;
    struct certo_secret *pw;
    struct certo_user u;
    struct stat st;
    bool created = false;
    char *path = certo_asprintf("%s/%s", f->dir, CERTO_ADMIN_FILE);
    const char *p;

    assert_int_equal(certo_accounts_bootstrap(f->db, f->dir, &created, &err), CERTO_OK);
    assert_true(created);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    t_read_file(&b, path);
    p = strstr((const char *)b.data, "password: ");
    assert_non_null(p);
    assert_int_equal(strlen(p + 10), 33); /* 32 characters and the newline */
    char pass[33];
    memcpy(pass, p + 10, 32);
    pass[32] = '\0';
    pw = t_secret(pass);
    assert_int_equal(certo_user_login(f->db, CERTO_ADMIN_NAME, pw, &u, &err), CERTO_OK);
    assert_int_equal(u.role, CERTO_ROLE_ADMIN);
    /* A second start changes nothing, even when the file was deleted. */
    unlink(path);
    assert_int_equal(certo_accounts_bootstrap(f->db, f->dir, &created, &err), CERTO_OK);
    assert_false(created);
    assert_int_not_equal(stat(path, &st), 0);
    certo_secret_free(pw);
    certo_buf_dispose(&b);
    certo_free(path);
}

static void
test_tokens(void **state)
{
    struct fx *f = *state;
    struct certo_err err = {0};
    struct certo_token_rec rec = {0}, got;
    struct certo_secret *pw = t_secret("another-password");
    struct certo_page page = {.max = 10};
    struct certo_token_rec items[10];
    int64_t id = add_user(f, "dan", CERTO_ROLE_AUDITOR, 0, 0, "first-password");
    time_t now = 2000000000;

    assert_int_equal(certo_token_new_jti(rec.jti, &err), CERTO_OK);
    assert_int_equal(strspn(rec.jti, "0123456789abcdef"), CERTO_JTI_LEN);
    rec.user_id = id;
    rec.issued_at = now;
    rec.expires_at = now + 900;
    assert_int_equal(certo_token_record(f->db, &rec, now, &err), CERTO_OK);
    assert_int_equal(certo_token_check(f->db, rec.jti, id, now, &err), CERTO_OK);
    assert_int_equal(certo_token_check(f->db, rec.jti, id + 1, now, &err), CERTO_EAUTH);
    certo_err_clear(&err);
    assert_int_equal(certo_token_check(f->db, rec.jti, id, now + 900, &err), CERTO_EAUTH);
    assert_string_equal(err.msg, "token expired");
    assert_int_equal(certo_token_list(f->db, id, now, &page, items, &err), CERTO_OK);
    assert_int_equal(page.total, 1);
    /* A password change revokes every token of the user. */
    assert_int_equal(certo_user_set_password(f->db, id, pw, &err), CERTO_OK);
    certo_err_clear(&err);
    assert_int_equal(certo_token_check(f->db, rec.jti, id, now, &err), CERTO_EAUTH);
    assert_string_equal(err.msg, "token revoked");
    assert_int_equal(certo_token_get(f->db, rec.jti, &got, &err), CERTO_OK);
    assert_true(got.revoked_at != 0);
    certo_err_clear(&err);
    assert_int_equal(certo_token_revoke(f->db, "0123", now, &err), CERTO_ENOTFOUND);
    /* Records a day past their expiry are purged when a new one is written. */
    rec.jti[0] = rec.jti[0] == 'a' ? 'b' : 'a';
    assert_int_equal(certo_token_record(f->db, &rec, now + 900 + 86401, &err), CERTO_OK);
    certo_err_clear(&err);
    assert_int_equal(certo_token_revoke(f->db, got.jti, now, &err), CERTO_ENOTFOUND);
    certo_secret_free(pw);
}

static void
test_names_and_pages(void **state)
{
    struct fx *f = *state;
    struct certo_err err = {0};
    struct certo_page page = {.start = 2, .max = 2};
    struct certo_org items[2];
    int64_t id;
    char name[16];

    assert_int_equal(certo_name_check("ok.name@x-y_z", true, "name", &err), CERTO_OK);
    assert_int_equal(certo_name_check("has space", true, "name", &err), CERTO_EINVAL);
    certo_err_clear(&err);
    assert_int_equal(certo_name_check(" lead", false, "name", &err), CERTO_EINVAL);
    certo_err_clear(&err);
    assert_int_equal(certo_name_check("tab\there", false, "name", &err), CERTO_EINVAL);
    certo_err_clear(&err);
    assert_int_equal(certo_name_check("", false, "name", &err), CERTO_EINVAL);
    certo_err_clear(&err);
    assert_int_equal(
        certo_name_check("12345678901234567890123456789012345678901234567890123456789012345", false,
                         "name", &err),
        CERTO_EINVAL);
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof(name), "org%d", i);
        assert_int_equal(certo_org_add(f->db, name, &id, &err), CERTO_OK);
    }
    assert_int_equal(certo_org_list(f->db, 0, &page, items, &err), CERTO_OK);
    assert_int_equal(page.total, 5);
    assert_int_equal(page.n, 2);
    assert_string_equal(items[0].name, "org2");
    assert_string_equal(items[1].name, "org3");
}

#define BOTH(t) cmocka_unit_test_setup_teardown(t, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(test_scope_rules), BOTH(test_last_admin), BOTH(test_login),
        BOTH(test_bootstrap),   BOTH(test_tokens),     BOTH(test_names_and_pages),
    };
    int fails = cmocka_run_group_tests_name("accounts/sqlite", tests, NULL, NULL);

    on_pg = true;
    /* t_pg_db( is what makes CTest start the PostgreSQL fixture for this test. */
    fails += cmocka_run_group_tests_name("accounts/postgresql", tests, NULL, NULL);
    return fails;
}
