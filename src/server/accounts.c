/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Organizations, departments, users and token records (migration 4). Statements are
 * bound through one small helper, bind_args(), whose format string names each value's
 * type: 't' text, 'i' int64, 'z' int64 stored as NULL when 0 (an absent scope).
 * Changes that read before they write take the write lock first (certo_db_begin with
 * write), so two servers on one database cannot both remove the last admin.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "certo/accounts.h"
#include "certo/clock.h"
#include "certo/file.h"
#include "certo/hex.h"
#include "certo/mem.h"
#include "certo/password.h"
#include "server/sql.h"

#define WHERE "server.accounts"

static const char *const role_names[] = {
    [CERTO_ROLE_ADMIN] = "admin",           [CERTO_ROLE_ORG_ADMIN] = "org-admin",
    [CERTO_ROLE_DEPT_ADMIN] = "dept-admin", [CERTO_ROLE_OPERATOR] = "operator",
    [CERTO_ROLE_AUDITOR] = "auditor",
};

const char *
certo_role_name(enum certo_role r)
{
    return (size_t)r < CERTO_ARRAY_LEN(role_names) ? role_names[r] : "?";
}

certo_rc
certo_role_parse(enum certo_role *out, const char *s, struct certo_err *err)
{
    for (size_t i = 0; s != NULL && i < CERTO_ARRAY_LEN(role_names); i++) {
        if (strcmp(s, role_names[i]) == 0) {
            *out = (enum certo_role)i;
            return CERTO_OK;
        }
    }
    return certo_err_set(err, CERTO_EINVAL, WHERE,
                         "role: expected admin, org-admin, dept-admin, operator or auditor");
}

certo_rc
certo_name_check(const char *name, bool user, const char *what, struct certo_err *err)
{
    size_t n = name != NULL ? strlen(name) : 0;

    if (n == 0 || n > CERTO_NAME_MAX)
        return certo_err_set(err, CERTO_EINVAL, WHERE, "%s: 1 to %d characters", what,
                             CERTO_NAME_MAX);
    if (name[0] == ' ' || name[n - 1] == ' ')
        return certo_err_set(err, CERTO_EINVAL, WHERE, "%s: leading or trailing space", what);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        bool ok = user ? (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                             (c >= '0' && c <= '9') || strchr("._@-", c) != NULL
                       : c >= 0x20 && c < 0x7f;
        if (!ok)
            return certo_err_set(
                err, CERTO_EINVAL, WHERE,
                user ? "%s: only letters, digits and . _ @ -" : "%s: printable ASCII only", what);
    }
    return CERTO_OK;
}

/* ---- organizations ---- */

static certo_rc
name_taken(certo_rc rc, const char *what, const char *name, struct certo_err *err)
{
    if (rc != CERTO_EEXIST)
        return rc;
    certo_err_clear(err);
    return certo_err_set(err, CERTO_EEXIST, WHERE, "%s '%s' already exists", what, name);
}

certo_rc
certo_org_add(struct certo_db *db, const char *name, int64_t *id, struct certo_err *err)
{
    certo_rc rc = certo_name_check(name, false, "name", err);

    if (rc != CERTO_OK)
        return rc;
    rc = sql_scalar(id, 0, db, err,
                    "INSERT INTO orgs (name, created_at) VALUES ($1, $2) RETURNING id", "ti", name,
                    (int64_t)certo_clock_now());
    return name_taken(rc, "organization", name, err);
}

static certo_rc
org_row(struct certo_db *db, const char *sql, const char *fmt, int64_t id, const char *name,
        struct certo_org *out, struct certo_err *err)
{
    struct certo_stmt *st = NULL;
    bool row = false;
    certo_rc rc = fmt[0] == 'i' ? sql_query(&st, db, err, sql, fmt, id)
                                : sql_query(&st, db, err, sql, fmt, name);

    if (rc == CERTO_OK)
        rc = certo_stmt_step(st, &row, err);
    if (rc == CERTO_OK && !row)
        rc = certo_err_set(err, CERTO_ENOTFOUND, WHERE, "no such organization");
    if (rc == CERTO_OK) {
        out->id = certo_stmt_int(st, 0);
        sql_copy(out->name, sizeof(out->name), certo_stmt_text(st, 1));
        out->created_at = certo_stmt_int(st, 2);
    }
    certo_stmt_free(st);
    return rc;
}

certo_rc
certo_org_get(struct certo_db *db, int64_t id, struct certo_org *out, struct certo_err *err)
{
    return org_row(db, "SELECT id, name, created_at FROM orgs WHERE id = $1", "i", id, NULL, out,
                   err);
}

certo_rc
certo_org_find(struct certo_db *db, const char *name, struct certo_org *out, struct certo_err *err)
{
    certo_rc rc = org_row(db, "SELECT id, name, created_at FROM orgs WHERE name = $1", "t", 0, name,
                          out, err);
    if (rc == CERTO_ENOTFOUND) {
        certo_err_clear(err);
        rc = certo_err_set(err, rc, WHERE, "no organization named '%s'", name);
    }
    return rc;
}

certo_rc
certo_org_rename(struct certo_db *db, int64_t id, const char *name, struct certo_err *err)
{
    certo_rc rc = certo_name_check(name, false, "name", err);

    if (rc != CERTO_OK)
        return rc;
    rc = sql_run(db, err, "UPDATE orgs SET name = $1 WHERE id = $2", "ti", name, id);
    if (rc == CERTO_OK && certo_db_changes(db) == 0)
        rc = certo_err_set(err, CERTO_ENOTFOUND, WHERE, "no such organization");
    return name_taken(rc, "organization", name, err);
}

certo_rc
certo_org_remove(struct certo_db *db, int64_t id, struct certo_err *err)
{
    int64_t n = 0;
    certo_rc rc = certo_db_begin(db, true, err);

    if (rc != CERTO_OK)
        return rc;
    rc = sql_scalar(&n, 0, db, err,
                    "SELECT (SELECT COUNT(*) FROM departments WHERE org_id = $1) +"
                    " (SELECT COUNT(*) FROM users WHERE org_id = $1)",
                    "i", id);
    if (rc == CERTO_OK && n > 0)
        rc = certo_err_set(err, CERTO_ECONFLICT, WHERE,
                           "the organization still has departments or users");
    if (rc == CERTO_OK)
        rc = sql_run(db, err, "DELETE FROM orgs WHERE id = $1", "i", id);
    if (rc == CERTO_OK && certo_db_changes(db) == 0)
        rc = certo_err_set(err, CERTO_ENOTFOUND, WHERE, "no such organization");
    return sql_finish_tx(db, rc, err);
}

certo_rc
certo_org_list(struct certo_db *db, int64_t only, struct certo_page *page, struct certo_org *items,
               struct certo_err *err)
{
    struct certo_stmt *st = NULL;
    int64_t total = 0;
    bool row = false;
    certo_rc rc = sql_scalar(&total, 0, db, err,
                             "SELECT COUNT(*) FROM orgs WHERE $1 = 0 OR id = $1", "i", only);

    if (rc != CERTO_OK)
        return rc;
    sql_page_begin(page, total);
    rc = sql_query(&st, db, err,
                   "SELECT id, name, created_at FROM orgs WHERE $1 = 0 OR id = $1"
                   " ORDER BY id LIMIT $2 OFFSET $3",
                   "iii", only, page->max, page->start);
    while (rc == CERTO_OK && (rc = certo_stmt_step(st, &row, err)) == CERTO_OK && row) {
        struct certo_org *o = &items[page->n++];
        o->id = certo_stmt_int(st, 0);
        sql_copy(o->name, sizeof(o->name), certo_stmt_text(st, 1));
        o->created_at = certo_stmt_int(st, 2);
    }
    certo_stmt_free(st);
    return rc;
}

/* ---- departments ---- */

certo_rc
certo_dept_add(struct certo_db *db, int64_t org_id, const char *name, int64_t *id,
               struct certo_err *err)
{
    struct certo_org org;
    certo_rc rc = certo_name_check(name, false, "name", err);

    if (rc != CERTO_OK)
        return rc;
    rc = certo_org_get(db, org_id, &org, err);
    if (rc != CERTO_OK)
        return rc;
    rc = sql_scalar(id, 0, db, err,
                    "INSERT INTO departments (org_id, name, created_at) VALUES ($1, $2, $3)"
                    " RETURNING id",
                    "iti", org_id, name, (int64_t)certo_clock_now());
    return name_taken(rc, "department", name, err);
}

static void
dept_from(struct certo_dept *d, struct certo_stmt *st)
{
    d->id = certo_stmt_int(st, 0);
    d->org_id = certo_stmt_int(st, 1);
    sql_copy(d->name, sizeof(d->name), certo_stmt_text(st, 2));
    d->created_at = certo_stmt_int(st, 3);
}

certo_rc
certo_dept_get(struct certo_db *db, int64_t id, struct certo_dept *out, struct certo_err *err)
{
    struct certo_stmt *st = NULL;
    bool row = false;
    certo_rc rc =
        sql_query(&st, db, err,
                  "SELECT id, org_id, name, created_at FROM departments WHERE id = $1", "i", id);

    if (rc == CERTO_OK)
        rc = certo_stmt_step(st, &row, err);
    if (rc == CERTO_OK && !row)
        rc = certo_err_set(err, CERTO_ENOTFOUND, WHERE, "no such department");
    if (rc == CERTO_OK)
        dept_from(out, st);
    certo_stmt_free(st);
    return rc;
}

certo_rc
certo_dept_find(struct certo_db *db, int64_t org_id, const char *name, struct certo_dept *out,
                struct certo_err *err)
{
    int64_t id = 0;
    certo_rc rc =
        sql_scalar(&id, 0, db, err, "SELECT id FROM departments WHERE org_id = $1 AND name = $2",
                   "it", org_id, name);

    if (rc == CERTO_OK && id == 0)
        return certo_err_set(err, CERTO_ENOTFOUND, WHERE, "no department named '%s'", name);
    return rc == CERTO_OK ? certo_dept_get(db, id, out, err) : rc;
}

certo_rc
certo_dept_rename(struct certo_db *db, int64_t id, const char *name, struct certo_err *err)
{
    certo_rc rc = certo_name_check(name, false, "name", err);

    if (rc != CERTO_OK)
        return rc;
    rc = sql_run(db, err, "UPDATE departments SET name = $1 WHERE id = $2", "ti", name, id);
    if (rc == CERTO_OK && certo_db_changes(db) == 0)
        rc = certo_err_set(err, CERTO_ENOTFOUND, WHERE, "no such department");
    return name_taken(rc, "department", name, err);
}

certo_rc
certo_dept_remove(struct certo_db *db, int64_t id, struct certo_err *err)
{
    int64_t n = 0;
    certo_rc rc = certo_db_begin(db, true, err);

    if (rc != CERTO_OK)
        return rc;
    rc = sql_scalar(&n, 0, db, err, "SELECT COUNT(*) FROM users WHERE dept_id = $1", "i", id);
    if (rc == CERTO_OK && n > 0)
        rc = certo_err_set(err, CERTO_ECONFLICT, WHERE, "the department still has users");
    if (rc == CERTO_OK)
        rc = sql_run(db, err, "DELETE FROM departments WHERE id = $1", "i", id);
    if (rc == CERTO_OK && certo_db_changes(db) == 0)
        rc = certo_err_set(err, CERTO_ENOTFOUND, WHERE, "no such department");
    return sql_finish_tx(db, rc, err);
}

certo_rc
certo_dept_list(struct certo_db *db, int64_t org_id, int64_t dept_id, struct certo_page *page,
                struct certo_dept *items, struct certo_err *err)
{
    static const char where[] = " WHERE ($1 = 0 OR org_id = $1) AND ($2 = 0 OR id = $2)";
    struct certo_stmt *st = NULL;
    int64_t total = 0;
    bool row = false;
    char sql[256];
    certo_rc rc;

    snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM departments%s", where);
    rc = sql_scalar(&total, 0, db, err, sql, "ii", org_id, dept_id);
    if (rc != CERTO_OK)
        return rc;
    sql_page_begin(page, total);
    snprintf(sql, sizeof(sql),
             "SELECT id, org_id, name, created_at FROM departments%s ORDER BY id LIMIT $3"
             " OFFSET $4",
             where);
    rc = sql_query(&st, db, err, sql, "iiii", org_id, dept_id, page->max, page->start);
    while (rc == CERTO_OK && (rc = certo_stmt_step(st, &row, err)) == CERTO_OK && row)
        dept_from(&items[page->n++], st);
    certo_stmt_free(st);
    return rc;
}

/* ---- users ---- */

certo_rc
certo_user_scope_check(struct certo_db *db, enum certo_role role, int64_t org_id, int64_t dept_id,
                       struct certo_err *err)
{
    struct certo_org org;
    struct certo_dept dept;
    certo_rc rc;

    switch (role) {
    case CERTO_ROLE_ADMIN:
        if (org_id != 0 || dept_id != 0)
            return certo_err_set(err, CERTO_EINVAL, WHERE,
                                 "org: an admin has no organization or department");
        return CERTO_OK;
    case CERTO_ROLE_ORG_ADMIN:
        if (org_id == 0)
            return certo_err_set(err, CERTO_EINVAL, WHERE, "org: an org-admin needs one");
        if (dept_id != 0)
            return certo_err_set(err, CERTO_EINVAL, WHERE,
                                 "department: an org-admin has none (use dept-admin)");
        break;
    case CERTO_ROLE_DEPT_ADMIN:
        if (org_id == 0 || dept_id == 0)
            return certo_err_set(err, CERTO_EINVAL, WHERE,
                                 "department: a dept-admin needs an organization and department");
        break;
    case CERTO_ROLE_OPERATOR:
        if (org_id == 0)
            return certo_err_set(err, CERTO_EINVAL, WHERE, "org: an operator needs one");
        break;
    case CERTO_ROLE_AUDITOR:
        if (org_id == 0 && dept_id != 0)
            return certo_err_set(err, CERTO_EINVAL, WHERE,
                                 "org: a department needs its organization");
        break;
    default:
        return certo_err_set(err, CERTO_EINVAL, WHERE, "role: unknown");
    }
    if (org_id == 0)
        return CERTO_OK;
    rc = certo_org_get(db, org_id, &org, err);
    if (rc != CERTO_OK || dept_id == 0)
        return rc;
    rc = certo_dept_get(db, dept_id, &dept, err);
    if (rc == CERTO_OK && dept.org_id != org_id)
        rc = certo_err_set(err, CERTO_EINVAL, WHERE,
                           "department: it belongs to another organization");
    return rc;
}

certo_rc
certo_user_add(struct certo_db *db, const char *name, enum certo_role role, int64_t org_id,
               int64_t dept_id, const struct certo_secret *pw, int64_t *id, struct certo_err *err)
{
    char *hash = NULL;
    certo_rc rc = certo_name_check(name, true, "name", err);

    if (rc != CERTO_OK)
        return rc;
    if (pw != NULL) {
        rc = certo_password_hash(&hash, pw, err);
        if (rc != CERTO_OK)
            return rc;
    }
    rc = certo_db_begin(db, true, err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_user_scope_check(db, role, org_id, dept_id, err);
    if (rc == CERTO_OK)
        rc = sql_scalar(id, 0, db, err,
                        "INSERT INTO users (name, role, org_id, dept_id, pw_hash, created_at)"
                        " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                        "ttzzti", name, certo_role_name(role), org_id, dept_id, hash,
                        (int64_t)certo_clock_now());
    rc = sql_finish_tx(db, name_taken(rc, "user", name, err), err);
out:
    certo_free(hash);
    return rc;
}

#define USER_COLS "id, name, role, org_id, dept_id, pw_hash IS NOT NULL, disabled, created_at"

static void
user_from(struct certo_user *u, struct certo_stmt *st)
{
    struct certo_err ignored = {0};

    u->id = certo_stmt_int(st, 0);
    sql_copy(u->name, sizeof(u->name), certo_stmt_text(st, 1));
    /* A role this build does not know reads as the weakest one. */
    if (certo_role_parse(&u->role, certo_stmt_text(st, 2), &ignored) != CERTO_OK)
        u->role = CERTO_ROLE_AUDITOR;
    u->org_id = certo_stmt_int(st, 3);
    u->dept_id = certo_stmt_int(st, 4);
    u->has_password = certo_stmt_int(st, 5) != 0;
    u->disabled = certo_stmt_int(st, 6) != 0;
    u->created_at = certo_stmt_int(st, 7);
}

static certo_rc
user_row(struct certo_db *db, const char *sql, const char *fmt, int64_t id, const char *name,
         struct certo_user *out, char **hash, struct certo_err *err)
{
    struct certo_stmt *st = NULL;
    bool row = false;
    certo_rc rc = fmt[0] == 'i' ? sql_query(&st, db, err, sql, fmt, id)
                                : sql_query(&st, db, err, sql, fmt, name);

    if (rc == CERTO_OK)
        rc = certo_stmt_step(st, &row, err);
    if (rc == CERTO_OK && !row)
        rc = certo_err_set(err, CERTO_ENOTFOUND, WHERE, "no such user");
    if (rc == CERTO_OK) {
        user_from(out, st);
        if (hash != NULL && certo_stmt_text(st, 8) != NULL)
            *hash = certo_strdup(certo_stmt_text(st, 8));
    }
    certo_stmt_free(st);
    return rc;
}

certo_rc
certo_user_get(struct certo_db *db, int64_t id, struct certo_user *out, struct certo_err *err)
{
    return user_row(db, "SELECT " USER_COLS " FROM users WHERE id = $1", "i", id, NULL, out, NULL,
                    err);
}

certo_rc
certo_user_find(struct certo_db *db, const char *name, struct certo_user *out,
                struct certo_err *err)
{
    certo_rc rc = user_row(db, "SELECT " USER_COLS " FROM users WHERE name = $1", "t", 0, name, out,
                           NULL, err);
    if (rc == CERTO_ENOTFOUND) {
        certo_err_clear(err);
        rc = certo_err_set(err, rc, WHERE, "no user named '%s'", name);
    }
    return rc;
}

/* A valid hash of a random password: what an unknown user's login is checked against. */
static const char *
decoy_hash(void)
{
    static char *decoy;
    struct certo_secret *pw = NULL;
    struct certo_err ignored = {0};
    char rnd[33];

    if (decoy == NULL) {
        certo_password_generate(rnd);
        if (certo_secret_from_str(&pw, rnd) == CERTO_OK &&
            certo_password_hash(&decoy, pw, &ignored) != CERTO_OK)
            decoy = NULL;
        certo_secret_free(pw);
    }
    return decoy;
}

certo_rc
certo_user_login(struct certo_db *db, const char *name, const struct certo_secret *pw,
                 struct certo_user *out, struct certo_err *err)
{
    struct certo_err ignored = {0};
    char *hash = NULL;
    certo_rc rc = user_row(db, "SELECT " USER_COLS ", pw_hash FROM users WHERE name = $1", "t", 0,
                           name, out, &hash, &ignored);
    const char *check = hash;

    if (rc != CERTO_OK && rc != CERTO_ENOTFOUND) {
        *err = ignored;
        goto out;
    }
    if (check == NULL)
        check = decoy_hash();
    if (check == NULL || certo_password_verify(check, pw, &ignored) != CERTO_OK || rc != CERTO_OK ||
        hash == NULL || out->disabled) {
        rc = certo_err_set(err, CERTO_EAUTH, WHERE, "wrong user name or password");
        goto out;
    }
    rc = CERTO_OK;
out:
    certo_free(hash);
    return rc;
}

static certo_rc
revoke_user_tokens(struct certo_db *db, int64_t id, struct certo_err *err)
{
    return sql_run(db, err,
                   "UPDATE tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
                   "ii", (int64_t)certo_clock_now(), id);
}

certo_rc
certo_user_set_password(struct certo_db *db, int64_t id, const struct certo_secret *pw,
                        struct certo_err *err)
{
    char *hash = NULL;
    certo_rc rc = CERTO_OK;

    if (pw != NULL) {
        rc = certo_password_hash(&hash, pw, err);
        if (rc != CERTO_OK)
            return rc;
    }
    rc = certo_db_begin(db, true, err);
    if (rc != CERTO_OK)
        goto out;
    rc = sql_run(db, err, "UPDATE users SET pw_hash = $1 WHERE id = $2", "ti", hash, id);
    if (rc == CERTO_OK && certo_db_changes(db) == 0)
        rc = certo_err_set(err, CERTO_ENOTFOUND, WHERE, "no such user");
    if (rc == CERTO_OK)
        rc = revoke_user_tokens(db, id, err);
    rc = sql_finish_tx(db, rc, err);
out:
    certo_free(hash);
    return rc;
}

/* Enabled admins other than 'id'. */
static certo_rc
other_admins(int64_t *n, struct certo_db *db, int64_t id, struct certo_err *err)
{
    return sql_scalar(
        n, 0, db, err,
        "SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0 AND id <> $1", "i", id);
}

certo_rc
certo_user_update(struct certo_db *db, int64_t id, enum certo_role role, int64_t org_id,
                  int64_t dept_id, bool disabled, struct certo_err *err)
{
    struct certo_user u;
    int64_t admins = 0;
    certo_rc rc = certo_db_begin(db, true, err);

    if (rc != CERTO_OK)
        return rc;
    rc = certo_user_get(db, id, &u, err);
    if (rc == CERTO_OK)
        rc = certo_user_scope_check(db, role, org_id, dept_id, err);
    if (rc == CERTO_OK && u.role == CERTO_ROLE_ADMIN && (role != CERTO_ROLE_ADMIN || disabled))
        rc = other_admins(&admins, db, id, err);
    if (rc == CERTO_OK && u.role == CERTO_ROLE_ADMIN && (role != CERTO_ROLE_ADMIN || disabled) &&
        admins == 0)
        rc = certo_err_set(err, CERTO_ECONFLICT, WHERE, "this is the last enabled admin");
    if (rc == CERTO_OK)
        rc = sql_run(
            db, err,
            "UPDATE users SET role = $1, org_id = $2, dept_id = $3, disabled = $4 WHERE id = $5",
            "tzzii", certo_role_name(role), org_id, dept_id, (int64_t)disabled, id);
    if (rc == CERTO_OK &&
        (u.role != role || u.org_id != org_id || u.dept_id != dept_id || u.disabled != disabled))
        rc = revoke_user_tokens(db, id, err);
    return sql_finish_tx(db, rc, err);
}

certo_rc
certo_user_remove(struct certo_db *db, int64_t id, struct certo_err *err)
{
    struct certo_user u;
    int64_t admins = 1;
    certo_rc rc = certo_db_begin(db, true, err);

    if (rc != CERTO_OK)
        return rc;
    rc = certo_user_get(db, id, &u, err);
    if (rc == CERTO_OK && u.role == CERTO_ROLE_ADMIN)
        rc = other_admins(&admins, db, id, err);
    if (rc == CERTO_OK && admins == 0)
        rc = certo_err_set(err, CERTO_ECONFLICT, WHERE, "this is the last enabled admin");
    if (rc == CERTO_OK)
        rc = sql_run(db, err, "DELETE FROM tokens WHERE user_id = $1", "i", id);
    if (rc == CERTO_OK)
        rc = sql_run(db, err, "DELETE FROM users WHERE id = $1", "i", id);
    return sql_finish_tx(db, rc, err);
}

certo_rc
certo_user_list(struct certo_db *db, int64_t org_id, int64_t dept_id, struct certo_page *page,
                struct certo_user *items, struct certo_err *err)
{
    static const char where[] = " WHERE ($1 = 0 OR org_id = $1) AND ($2 = 0 OR dept_id = $2)";
    struct certo_stmt *st = NULL;
    int64_t total = 0;
    bool row = false;
    char sql[256];
    certo_rc rc;

    snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM users%s", where);
    rc = sql_scalar(&total, 0, db, err, sql, "ii", org_id, dept_id);
    if (rc != CERTO_OK)
        return rc;
    sql_page_begin(page, total);
    snprintf(sql, sizeof(sql), "SELECT " USER_COLS " FROM users%s ORDER BY id LIMIT $3 OFFSET $4",
             where);
    rc = sql_query(&st, db, err, sql, "iiii", org_id, dept_id, page->max, page->start);
    while (rc == CERTO_OK && (rc = certo_stmt_step(st, &row, err)) == CERTO_OK && row)
        user_from(&items[page->n++], st);
    certo_stmt_free(st);
    return rc;
}

certo_rc
certo_accounts_bootstrap(struct certo_db *db, const char *dir, bool *created, struct certo_err *err)
{
    struct certo_secret *pw = NULL;
    char *hash = NULL, *path = NULL, *text = NULL;
    int64_t n = 0;
    char pass[33];
    certo_rc rc;

    *created = false;
    pass[0] = '\0';
    /* Every later start ends here, without paying for a password hash. */
    rc = sql_scalar(&n, 0, db, err, "SELECT COUNT(*) FROM users", "");
    if (rc != CERTO_OK || n > 0)
        goto out;
    certo_password_generate(pass);
    rc = certo_secret_from_str(&pw, pass);
    if (rc != CERTO_OK) {
        rc = certo_err_set(err, rc, WHERE, "cannot hold the first admin's password");
        goto out;
    }
    rc = certo_password_hash(&hash, pw, err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_db_begin(db, true, err);
    if (rc != CERTO_OK)
        goto out;
    /* Counted again under the write lock: another server may have started meanwhile. */
    rc = sql_scalar(&n, 0, db, err, "SELECT COUNT(*) FROM users", "");
    if (rc == CERTO_OK && n == 0) {
        rc = sql_run(
            db, err,
            "INSERT INTO users (name, role, pw_hash, created_at) VALUES ($1, 'admin', $2, $3)",
            "tti", CERTO_ADMIN_NAME, hash, (int64_t)certo_clock_now());
        /* The file is written before the commit: a failure leaves neither behind. */
        if (rc == CERTO_OK) {
            path = certo_asprintf("%s/%s", dir, CERTO_ADMIN_FILE);
            text = certo_asprintf("user: %s\npassword: %s\n", CERTO_ADMIN_NAME, pass);
            rc = certo_file_replace(path, text, strlen(text), 0600);
            if (rc != CERTO_OK)
                rc = certo_err_sys(err, rc, WHERE, "cannot write %s", path);
        }
        *created = rc == CERTO_OK;
    }
    rc = sql_finish_tx(db, rc, err);
    if (rc != CERTO_OK && *created) {
        (void)unlink(path);
        *created = false;
    }
out:
    if (text != NULL)
        certo_free_clear(text, strlen(text));
    OPENSSL_cleanse(pass, sizeof(pass));
    certo_free(path);
    certo_free(hash);
    certo_secret_free(pw);
    return rc;
}

/* ---- token records ---- */

certo_rc
certo_token_new_jti(char out[CERTO_JTI_LEN + 1], struct certo_err *err)
{
    unsigned char r[CERTO_JTI_LEN / 2];

    if (certo_rand_bytes(r, sizeof(r)) != CERTO_OK)
        return certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "no random bytes for a token id");
    for (size_t i = 0; i < sizeof(r); i++) {
        out[2 * i] = (char)tolower(certo_hex_digit(r[i] >> 4));
        out[2 * i + 1] = (char)tolower(certo_hex_digit(r[i] & 15));
    }
    out[CERTO_JTI_LEN] = '\0';
    return CERTO_OK;
}

static const char *
kind_name(enum certo_token_kind k)
{
    return k == CERTO_TOKEN_DELEGATE ? "delegate" : "principal";
}

certo_rc
certo_token_record(struct certo_db *db, const struct certo_token_rec *rec, time_t now,
                   struct certo_err *err)
{
    certo_rc rc = certo_db_begin(db, true, err);

    if (rc != CERTO_OK)
        return rc;
    /* Revocation only matters until expiry: older records are dropped here. */
    rc = sql_run(db, err, "DELETE FROM tokens WHERE expires_at < $1", "i", (int64_t)now - 86400);
    if (rc == CERTO_OK)
        rc = sql_run(
            db, err,
            "INSERT INTO tokens (jti, user_id, kind, issued_at, expires_at, audience, bound)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)",
            "titiiti", rec->jti, rec->user_id, kind_name(rec->kind), rec->issued_at,
            rec->expires_at, rec->audience[0] != '\0' ? rec->audience : NULL, (int64_t)rec->bound);
    return sql_finish_tx(db, rc, err);
}

#define TOKEN_COLS "jti, user_id, kind, issued_at, expires_at, revoked_at, audience, bound"

static void
token_from(struct certo_token_rec *t, struct certo_stmt *st)
{
    const char *aud = certo_stmt_text(st, 6);

    snprintf(t->jti, sizeof(t->jti), "%s", certo_stmt_text(st, 0));
    t->user_id = certo_stmt_int(st, 1);
    t->kind = strcmp(certo_stmt_text(st, 2), "delegate") == 0 ? CERTO_TOKEN_DELEGATE
                                                              : CERTO_TOKEN_PRINCIPAL;
    t->issued_at = certo_stmt_int(st, 3);
    t->expires_at = certo_stmt_int(st, 4);
    t->revoked_at = certo_stmt_int(st, 5);
    snprintf(t->audience, sizeof(t->audience), "%s", aud != NULL ? aud : "");
    t->bound = certo_stmt_int(st, 7) != 0;
}

certo_rc
certo_token_get(struct certo_db *db, const char *jti, struct certo_token_rec *out,
                struct certo_err *err)
{
    struct certo_stmt *st = NULL;
    bool row = false;
    certo_rc rc =
        sql_query(&st, db, err, "SELECT " TOKEN_COLS " FROM tokens WHERE jti = $1", "t", jti);

    if (rc == CERTO_OK)
        rc = certo_stmt_step(st, &row, err);
    if (rc == CERTO_OK && !row)
        rc = certo_err_set(err, CERTO_ENOTFOUND, WHERE, "no such token");
    if (rc == CERTO_OK)
        token_from(out, st);
    certo_stmt_free(st);
    return rc;
}

certo_rc
certo_token_check(struct certo_db *db, const char *jti, int64_t user_id, time_t now,
                  struct certo_err *err)
{
    struct certo_token_rec t;
    struct certo_err ignored = {0};
    certo_rc rc = certo_token_get(db, jti, &t, &ignored);

    if (rc == CERTO_ENOTFOUND || (rc == CERTO_OK && t.user_id != user_id))
        return certo_err_set(err, CERTO_EAUTH, WHERE, "unknown token");
    if (rc != CERTO_OK) {
        *err = ignored;
        return rc;
    }
    if (t.revoked_at != 0)
        return certo_err_set(err, CERTO_EAUTH, WHERE, "token revoked");
    if (t.expires_at <= (int64_t)now)
        return certo_err_set(err, CERTO_EAUTH, WHERE, "token expired");
    return CERTO_OK;
}

certo_rc
certo_token_revoke(struct certo_db *db, const char *jti, time_t now, struct certo_err *err)
{
    certo_rc rc =
        sql_run(db, err, "UPDATE tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE jti = $2",
                "it", (int64_t)now, jti);

    if (rc == CERTO_OK && certo_db_changes(db) == 0)
        rc = certo_err_set(err, CERTO_ENOTFOUND, WHERE, "no such token");
    return rc;
}

certo_rc
certo_token_list(struct certo_db *db, int64_t user_id, time_t now, struct certo_page *page,
                 struct certo_token_rec *items, struct certo_err *err)
{
    static const char where[] = " WHERE ($1 = 0 OR user_id = $1) AND expires_at > $2";
    struct certo_stmt *st = NULL;
    int64_t total = 0;
    bool row = false;
    char sql[256];
    certo_rc rc;

    snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM tokens%s", where);
    rc = sql_scalar(&total, 0, db, err, sql, "ii", user_id, (int64_t)now);
    if (rc != CERTO_OK)
        return rc;
    sql_page_begin(page, total);
    snprintf(sql, sizeof(sql),
             "SELECT " TOKEN_COLS " FROM tokens%s ORDER BY issued_at, jti LIMIT $3 OFFSET $4",
             where);
    rc = sql_query(&st, db, err, sql, "iiii", user_id, (int64_t)now, page->max, page->start);
    while (rc == CERTO_OK && (rc = certo_stmt_step(st, &row, err)) == CERTO_OK && row)
        token_from(&items[page->n++], st);
    certo_stmt_free(st);
    return rc;
}
