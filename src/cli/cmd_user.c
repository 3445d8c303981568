/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `certo user` and `certo org` (cli layer): the server's users, organizations and
 * departments, worked on offline in the server database (--data DIR, --db URL), as an
 * administrator on the server's host does before the first login or after losing the
 * admin password. The same objects are managed remotely through the REST API.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certo/accounts.h"
#include "certo/client.h"
#include "certo/mem.h"
#include "certo/registry.h"
#include "certo/server.h"
#include "cli/cli.h"

#define LIST_PAGE 1000

static certo_rc
open_db(struct certo_db **db, const struct cli_args *a, struct certo_err *err)
{
    char *dir = certo_registry_default_dir(cli_get(a, "data"));
    certo_rc rc = certo_server_db_open(db, dir, cli_db_url(a), err);

    certo_free(dir);
    return rc;
}

/* --org NAME|ID and --dept NAME|ID into ids (0 when not given). */
static certo_rc
resolve_scope(struct certo_db *db, const struct cli_args *a, int64_t *org_id, int64_t *dept_id,
              struct certo_err *err)
{
    const char *org = cli_get(a, "org"), *dept = cli_get(a, "dept");
    struct certo_org o;
    struct certo_dept d;
    struct certo_err e = {0};
    certo_rc rc;

    *org_id = 0;
    *dept_id = 0;
    if (dept != NULL && org == NULL)
        return certo_err_set(err, CERTO_EINVAL, "cli", "--dept needs --org");
    if (org == NULL)
        return CERTO_OK;
    rc = certo_org_find(db, org, &o, &e);
    if (rc == CERTO_ENOTFOUND && strspn(org, "0123456789") == strlen(org))
        rc = certo_org_get(db, strtoll(org, NULL, 10), &o, &e);
    if (rc != CERTO_OK)
        return certo_err_set(err, rc, "cli", "--org %s: %s", org, e.msg);
    *org_id = o.id;
    if (dept == NULL)
        return CERTO_OK;
    rc = certo_dept_find(db, o.id, dept, &d, &e);
    if (rc != CERTO_OK)
        return certo_err_set(err, rc, "cli", "--dept %s: %s", dept, e.msg);
    *dept_id = d.id;
    return CERTO_OK;
}

/* The new password: --password-file / --password-env, or asked twice on a terminal. */
static certo_rc
new_password(struct certo_secret **pw, const struct cli_args *a, struct certo_err *err)
{
    certo_rc rc;

    if (cli_has(a, "password"))
        fprintf(stderr, "certo: warning: --password on the command line can be seen by other "
                        "users of this host; prefer --password-file, --password-env or the "
                        "prompt\n");
    rc = cli_secret(pw, a, "password", "New password: ", true, err);

    if (rc == CERTO_OK && *pw == NULL)
        rc = certo_err_set(err, CERTO_EINVAL, "cli",
                           "missing --password-file or --password-env (no terminal to ask on)");
    if (rc == CERTO_OK && certo_secret_len(*pw) < 8)
        rc = certo_err_set(err, CERTO_EINVAL, "cli", "--password: at least 8 characters");
    return rc;
}

static const char *
org_name(struct certo_db *db, int64_t id, char buf[CERTO_NAME_MAX + 1])
{
    struct certo_org o;
    struct certo_err ignored = {0};

    if (id == 0)
        return "-";
    if (certo_org_get(db, id, &o, &ignored) != CERTO_OK)
        return "?";
    snprintf(buf, CERTO_NAME_MAX + 1, "%s", o.name);
    return buf;
}

static const char *
dept_name(struct certo_db *db, int64_t id, char buf[CERTO_NAME_MAX + 1])
{
    struct certo_dept d;
    struct certo_err ignored = {0};

    if (id == 0)
        return "-";
    if (certo_dept_get(db, id, &d, &ignored) != CERTO_OK)
        return "?";
    snprintf(buf, CERTO_NAME_MAX + 1, "%s", d.name);
    return buf;
}

/* ---- user ---- */

static const struct cli_opt add_opts[] = {
    {"role", 'r', CLI_VALUE, "ROLE", "admin, org-admin, dept-admin, operator or auditor"},
    {"org", 0, CLI_VALUE, "ORG", "the organization (name or id)"},
    {"dept", 0, CLI_VALUE, "DEPT", "the department of --org (name)"},
    CLI_SECRET_OPTS("password", "the password"),
    {"no-password", 0, CLI_FLAG, NULL, "no password: the user signs in through an external issuer"},
    CLI_DATA_OPT,
    CLI_DB_OPT,
    {NULL, 0, 0, NULL, NULL},
};

static int
local_user_add(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0}, e = {0};
    struct certo_db *db = NULL;
    struct certo_secret *pw = NULL;
    enum certo_role role;
    int64_t org_id, dept_id, id = 0;
    const char *name = a->pos[0];
    certo_rc rc;

    if (cli_get(a, "role") == NULL)
        return cli_usage_error(cmd, "missing --role ROLE");
    rc = certo_role_parse(&role, cli_get(a, "role"), &e);
    if (rc != CERTO_OK)
        rc = certo_err_set(&err, rc, "cli", "--%s", e.msg);
    if (rc == CERTO_OK && !cli_has(a, "no-password"))
        rc = new_password(&pw, a, &err);
    if (rc == CERTO_OK)
        rc = open_db(&db, a, &err);
    if (rc == CERTO_OK)
        rc = resolve_scope(db, a, &org_id, &dept_id, &err);
    if (rc == CERTO_OK)
        rc = certo_user_add(db, name, role, org_id, dept_id, pw, &id, &err);
    if (rc == CERTO_OK)
        printf("user %s added (id %lld, role %s)\n", name, (long long)id, certo_role_name(role));
    certo_secret_free(pw);
    certo_db_close(db);
    return rc == CERTO_OK ? 0 : cli_fail(cmd, rc, &err);
}

static const struct cli_opt passwd_opts[] = {
    CLI_SECRET_OPTS("password", "the new password"),
    CLI_DATA_OPT,
    CLI_DB_OPT,
    {NULL, 0, 0, NULL, NULL},
};

static int
local_user_passwd(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0};
    struct certo_db *db = NULL;
    struct certo_secret *pw = NULL;
    struct certo_user u;
    certo_rc rc = new_password(&pw, a, &err);

    if (rc == CERTO_OK)
        rc = open_db(&db, a, &err);
    if (rc == CERTO_OK)
        rc = certo_user_find(db, a->pos[0], &u, &err);
    if (rc == CERTO_OK)
        rc = certo_user_set_password(db, u.id, pw, &err);
    if (rc == CERTO_OK)
        printf("password of %s changed; its tokens are revoked\n", u.name);
    certo_secret_free(pw);
    certo_db_close(db);
    return rc == CERTO_OK ? 0 : cli_fail(cmd, rc, &err);
}

static int
local_user_remove(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0};
    struct certo_db *db = NULL;
    struct certo_user u;
    certo_rc rc = open_db(&db, a, &err);

    if (rc == CERTO_OK)
        rc = certo_user_find(db, a->pos[0], &u, &err);
    if (rc == CERTO_OK)
        rc = certo_user_remove(db, u.id, &err);
    if (rc == CERTO_OK)
        printf("user %s removed\n", u.name);
    certo_db_close(db);
    return rc == CERTO_OK ? 0 : cli_fail(cmd, rc, &err);
}

static int
local_user_list(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0};
    struct certo_db *db = NULL;
    struct certo_page page = {.max = LIST_PAGE};
    struct certo_user *items = certo_calloc(LIST_PAGE, sizeof(*items));
    bool json = cli_has(a, "json");
    char ob[CERTO_NAME_MAX + 1], db_[CERTO_NAME_MAX + 1];
    certo_rc rc = open_db(&db, a, &err);

    if (!json && rc == CERTO_OK)
        printf("%-6s %-24s %-10s %-20s %-20s %s\n", "ID", "NAME", "ROLE", "ORG", "DEPARTMENT",
               "STATE");
    if (json && rc == CERTO_OK)
        fputs("[", stdout);
    for (bool first = true; rc == CERTO_OK;) {
        rc = certo_user_list(db, 0, 0, &page, items, &err);
        for (size_t i = 0; rc == CERTO_OK && i < page.n; i++, first = false) {
            const struct certo_user *u = &items[i];
            const char *state = u->disabled ? "disabled" : u->has_password ? "active" : "external";
            if (json)
                printf("%s{\"id\":%lld,\"name\":\"%s\",\"role\":\"%s\",\"orgId\":%lld,"
                       "\"deptId\":%lld,\"state\":\"%s\"}",
                       first ? "" : ",", (long long)u->id, u->name, certo_role_name(u->role),
                       (long long)u->org_id, (long long)u->dept_id, state);
            else
                printf("%-6lld %-24s %-10s %-20s %-20s %s\n", (long long)u->id, u->name,
                       certo_role_name(u->role), org_name(db, u->org_id, ob),
                       dept_name(db, u->dept_id, db_), state);
        }
        if (rc != CERTO_OK || page.start + (int64_t)page.n >= page.total)
            break;
        page.start += (int64_t)page.n;
    }
    if (json && rc == CERTO_OK)
        puts("]");
    certo_free(items);
    certo_db_close(db);
    return rc == CERTO_OK ? 0 : cli_fail(cmd, rc, &err);
}

/* ---- remote (--server): users through the REST API ---- */

json_t *
cli_find_named(json_t *items, const char *name)
{
    bool digits = name[0] != '\0' && strspn(name, "0123456789") == strlen(name);
    size_t i;
    json_t *v;

    json_array_foreach(items, i, v)
    {
        const char *n = json_string_value(json_object_get(v, "name"));
        if (n != NULL && strcmp(n, name) == 0)
            return v;
    }
    json_array_foreach(items, i, v)
    {
        if (digits && json_integer_value(json_object_get(v, "id")) == strtoll(name, NULL, 10))
            return v;
    }
    return NULL;
}

/* The user named 'name' (a new reference in *out). */
static certo_rc
remote_user(json_t **out, struct certo_session *s, const char *name, struct certo_err *err)
{
    json_t *items = NULL, *u;
    certo_rc rc = cli_call_list(s, "/users/", &items, err);

    *out = NULL;
    if (rc != CERTO_OK)
        return rc;
    u = cli_find_named(items, name);
    if (u == NULL)
        rc = certo_err_set(err, CERTO_ENOTFOUND, "cli", "no user named '%s'", name);
    else
        *out = json_incref(u);
    json_decref(items);
    return rc;
}

certo_rc
cli_remote_scope(struct certo_session *s, const struct cli_args *a, int64_t *org_id,
                 int64_t *dept_id, struct certo_err *err)
{
    const char *org = cli_get(a, "org"), *dept = cli_get(a, "dept");
    json_t *orgs = NULL, *depts = NULL, *o, *d;
    char *path = NULL;
    certo_rc rc;

    *org_id = 0;
    *dept_id = 0;
    if (dept != NULL && org == NULL)
        return certo_err_set(err, CERTO_EINVAL, "cli", "--dept needs --org");
    if (org == NULL)
        return CERTO_OK;
    rc = cli_call_list(s, "/orgs/", &orgs, err);
    if (rc != CERTO_OK)
        goto out;
    o = cli_find_named(orgs, org);
    if (o == NULL) {
        rc = certo_err_set(err, CERTO_ENOTFOUND, "cli", "--org %s: no such organization", org);
        goto out;
    }
    *org_id = json_integer_value(json_object_get(o, "id"));
    if (dept == NULL)
        goto out;
    path = certo_asprintf("/orgs/%lld/departments/", (long long)*org_id);
    rc = cli_call_list(s, path, &depts, err);
    if (rc != CERTO_OK)
        goto out;
    d = cli_find_named(depts, dept);
    if (d == NULL) {
        rc = certo_err_set(err, CERTO_ENOTFOUND, "cli", "--dept %s: no such department", dept);
        goto out;
    }
    *dept_id = json_integer_value(json_object_get(d, "id"));
out:
    certo_free(path);
    json_decref(orgs);
    json_decref(depts);
    return rc;
}

static int
remote_user_add(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0}, e = {0};
    struct certo_session *s = NULL;
    struct certo_secret *pw = NULL;
    enum certo_role role;
    int64_t org_id = 0, dept_id = 0;
    json_t *body, *doc = NULL;
    certo_rc rc;

    if (cli_get(a, "role") == NULL)
        return cli_usage_error(cmd, "missing --role ROLE");
    rc = certo_role_parse(&role, cli_get(a, "role"), &e);
    if (rc != CERTO_OK)
        rc = certo_err_set(&err, rc, "cli", "--%s", e.msg);
    if (rc == CERTO_OK && !cli_has(a, "no-password"))
        rc = new_password(&pw, a, &err);
    if (rc != CERTO_OK) {
        certo_secret_free(pw);
        return cli_fail(cmd, rc, &err);
    }
    rc = cli_remote_open(&s, &err);
    if (rc == CERTO_OK)
        rc = cli_remote_scope(s, a, &org_id, &dept_id, &err);
    if (rc != CERTO_OK)
        goto out;
    body = json_pack("{s:s,s:s}", "name", a->pos[0], "role", certo_role_name(role));
    if (org_id != 0)
        json_object_set_new(body, "orgId", json_integer(org_id));
    if (dept_id != 0)
        json_object_set_new(body, "deptId", json_integer(dept_id));
    if (pw != NULL)
        json_object_set_new(body, "password", json_string(certo_secret_get0(pw)));
    rc = cli_call(s, "POST", "/users/", body, &doc, &err);
    if (rc == CERTO_OK)
        printf("user %s added (id %lld, role %s)\n", a->pos[0],
               (long long)json_integer_value(json_object_get(doc, "id")), certo_role_name(role));
out:
    json_decref(doc);
    certo_secret_free(pw);
    certo_session_close(s);
    return rc == CERTO_OK ? 0 : cli_remote_fail(cmd, rc, &err);
}

static int
remote_user_passwd(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0};
    struct certo_session *s = NULL;
    struct certo_secret *pw = NULL;
    json_t *u = NULL;
    char *path = NULL;
    certo_rc rc = new_password(&pw, a, &err);

    if (rc != CERTO_OK)
        return cli_fail(cmd, rc, &err);
    rc = cli_remote_open(&s, &err);
    if (rc == CERTO_OK)
        rc = remote_user(&u, s, a->pos[0], &err);
    if (rc == CERTO_OK) {
        path = certo_asprintf("/users/%lld/password",
                              (long long)json_integer_value(json_object_get(u, "id")));
        rc = cli_call(s, "POST", path, json_pack("{s:s}", "password", certo_secret_get0(pw)), NULL,
                      &err);
    }
    if (rc == CERTO_OK)
        printf("password of %s changed; its tokens are revoked\n",
               json_string_value(json_object_get(u, "name")));
    certo_free(path);
    json_decref(u);
    certo_secret_free(pw);
    certo_session_close(s);
    return rc == CERTO_OK ? 0 : cli_remote_fail(cmd, rc, &err);
}

static int
remote_user_remove(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0};
    struct certo_session *s = NULL;
    json_t *u = NULL;
    char *path = NULL;
    certo_rc rc = cli_remote_open(&s, &err);

    if (rc == CERTO_OK)
        rc = remote_user(&u, s, a->pos[0], &err);
    if (rc == CERTO_OK) {
        path =
            certo_asprintf("/users/%lld", (long long)json_integer_value(json_object_get(u, "id")));
        rc = cli_call(s, "DELETE", path, NULL, NULL, &err);
    }
    if (rc == CERTO_OK)
        printf("user %s removed\n", json_string_value(json_object_get(u, "name")));
    certo_free(path);
    json_decref(u);
    certo_session_close(s);
    return rc == CERTO_OK ? 0 : cli_remote_fail(cmd, rc, &err);
}

/* Every organization, each with "departments" (an array), as the caller may see them. */
static certo_rc
remote_orgs(json_t **out, struct certo_session *s, struct certo_err *err)
{
    json_t *orgs = NULL, *o;
    size_t i;
    certo_rc rc = cli_call_list(s, "/orgs/", &orgs, err);

    *out = NULL;
    json_array_foreach(orgs, i, o)
    {
        char *path;
        json_t *depts = NULL;
        if (rc != CERTO_OK)
            break;
        path = certo_asprintf("/orgs/%lld/departments/",
                              (long long)json_integer_value(json_object_get(o, "id")));
        rc = cli_call_list(s, path, &depts, err);
        certo_free(path);
        if (rc == CERTO_OK)
            json_object_set_new(o, "departments", depts);
    }
    if (rc == CERTO_OK)
        *out = json_incref(orgs);
    json_decref(orgs);
    return rc;
}

/* The name of the object with id 'id' in 'items' ("-" for 0, "?" when unknown). */
static const char *
name_of(json_t *items, int64_t id)
{
    size_t i;
    json_t *v;

    if (id == 0)
        return "-";
    json_array_foreach(items, i, v)
    {
        if (json_integer_value(json_object_get(v, "id")) == id)
            return json_string_value(json_object_get(v, "name"));
    }
    return "?";
}

static int
remote_user_list(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0};
    struct certo_session *s = NULL;
    json_t *users = NULL, *orgs = NULL, *depts = json_array(), *u, *o;
    bool json = cli_has(a, "json");
    size_t i;
    certo_rc rc = cli_remote_open(&s, &err);

    if (rc == CERTO_OK)
        rc = cli_call_list(s, "/users/", &users, &err);
    if (rc == CERTO_OK && !json)
        rc = remote_orgs(&orgs, s, &err);
    if (rc != CERTO_OK)
        goto out;
    json_array_foreach(orgs, i, o)
    {
        json_array_extend(depts, json_object_get(o, "departments"));
    }
    if (json)
        fputs("[", stdout);
    else
        printf("%-6s %-24s %-10s %-20s %-20s %s\n", "ID", "NAME", "ROLE", "ORG", "DEPARTMENT",
               "STATE");
    json_array_foreach(users, i, u)
    {
        long long id = (long long)json_integer_value(json_object_get(u, "id"));
        int64_t org = json_integer_value(json_object_get(u, "orgId"));
        int64_t dept = json_integer_value(json_object_get(u, "deptId"));
        const char *name = json_string_value(json_object_get(u, "name"));
        const char *role = json_string_value(json_object_get(u, "role"));
        const char *state = json_is_true(json_object_get(u, "disabled"))      ? "disabled"
                            : json_is_true(json_object_get(u, "hasPassword")) ? "active"
                                                                              : "external";
        if (json)
            printf("%s{\"id\":%lld,\"name\":\"%s\",\"role\":\"%s\",\"orgId\":%lld,"
                   "\"deptId\":%lld,\"state\":\"%s\"}",
                   i == 0 ? "" : ",", id, name, role, (long long)org, (long long)dept, state);
        else
            printf("%-6lld %-24s %-10s %-20s %-20s %s\n", id, name, role, name_of(orgs, org),
                   name_of(depts, dept), state);
    }
    if (json)
        puts("]");
out:
    json_decref(users);
    json_decref(orgs);
    json_decref(depts);
    certo_session_close(s);
    return rc == CERTO_OK ? 0 : cli_remote_fail(cmd, rc, &err);
}

static int
run_user_add(const struct cli_cmd *cmd, struct cli_args *a)
{
    return cli_dispatch(cmd, a, local_user_add, remote_user_add);
}

static int
run_user_passwd(const struct cli_cmd *cmd, struct cli_args *a)
{
    return cli_dispatch(cmd, a, local_user_passwd, remote_user_passwd);
}

static int
run_user_remove(const struct cli_cmd *cmd, struct cli_args *a)
{
    return cli_dispatch(cmd, a, local_user_remove, remote_user_remove);
}

static int
run_user_list(const struct cli_cmd *cmd, struct cli_args *a)
{
    return cli_dispatch(cmd, a, local_user_list, remote_user_list);
}

const struct cli_cmd cli_user_cmds[] = {
    {"user add",
     "NAME --role ROLE [--org ORG [--dept DEPT]] [--password-file F|--password-env "
     "V|--no-password]",
     "add a user of the server", add_opts, 1, 1, run_user_add, NULL},
    {"user passwd", "NAME [--password-file F|--password-env V]",
     "set a user's password (asked twice on a terminal); revokes its tokens", passwd_opts, 1, 1,
     run_user_passwd, NULL},
    {"user remove", "NAME [--data DIR]", "remove a user and its tokens", cli_data_db_opts, 1, 1,
     run_user_remove, NULL},
    {"user list", "[--json] [--data DIR]", "list the server's users", cli_data_db_json_opts, 0, 0,
     run_user_list, NULL},
    {NULL, NULL, NULL, NULL, 0, 0, NULL, NULL},
};

/* ---- org ---- */

static int
local_org_add(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0};
    struct certo_db *db = NULL;
    struct certo_org o;
    int64_t id = 0;
    certo_rc rc = open_db(&db, a, &err);

    if (rc == CERTO_OK && a->n_pos == 1) {
        rc = certo_org_add(db, a->pos[0], &id, &err);
        if (rc == CERTO_OK)
            printf("organization %s added (id %lld)\n", a->pos[0], (long long)id);
    } else if (rc == CERTO_OK) {
        rc = certo_org_find(db, a->pos[0], &o, &err);
        if (rc == CERTO_OK)
            rc = certo_dept_add(db, o.id, a->pos[1], &id, &err);
        if (rc == CERTO_OK)
            printf("department %s of %s added (id %lld)\n", a->pos[1], o.name, (long long)id);
    }
    certo_db_close(db);
    return rc == CERTO_OK ? 0 : cli_fail(cmd, rc, &err);
}

static int
local_org_remove(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0};
    struct certo_db *db = NULL;
    struct certo_org o;
    struct certo_dept d;
    certo_rc rc = open_db(&db, a, &err);

    if (rc == CERTO_OK)
        rc = certo_org_find(db, a->pos[0], &o, &err);
    if (rc == CERTO_OK && a->n_pos == 2) {
        rc = certo_dept_find(db, o.id, a->pos[1], &d, &err);
        if (rc == CERTO_OK)
            rc = certo_dept_remove(db, d.id, &err);
    } else if (rc == CERTO_OK) {
        rc = certo_org_remove(db, o.id, &err);
    }
    if (rc == CERTO_OK)
        printf("%s removed\n", a->n_pos == 2 ? "department" : "organization");
    certo_db_close(db);
    return rc == CERTO_OK ? 0 : cli_fail(cmd, rc, &err);
}

static int
local_org_list(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0};
    struct certo_db *db = NULL;
    struct certo_page op = {.max = LIST_PAGE}, dp = {.max = LIST_PAGE};
    struct certo_org *orgs = certo_calloc(LIST_PAGE, sizeof(*orgs));
    struct certo_dept *depts = certo_calloc(LIST_PAGE, sizeof(*depts));
    certo_rc rc = open_db(&db, a, &err);

    for (; rc == CERTO_OK; op.start += (int64_t)op.n) {
        rc = certo_org_list(db, 0, &op, orgs, &err);
        for (size_t i = 0; rc == CERTO_OK && i < op.n; i++) {
            printf("%lld %s\n", (long long)orgs[i].id, orgs[i].name);
            dp.start = 0;
            rc = certo_dept_list(db, orgs[i].id, 0, &dp, depts, &err);
            for (size_t j = 0; rc == CERTO_OK && j < dp.n; j++)
                printf("  %lld %s\n", (long long)depts[j].id, depts[j].name);
        }
        if (rc != CERTO_OK || op.start + (int64_t)op.n >= op.total)
            break;
    }
    certo_free(orgs);
    certo_free(depts);
    certo_db_close(db);
    return rc == CERTO_OK ? 0 : cli_fail(cmd, rc, &err);
}

/* ---- remote (--server): organizations through the REST API ---- */

/* The organization named 'name' in *org (new reference), or ENOTFOUND. */
static certo_rc
remote_org(json_t **org, json_t *orgs, const char *name, struct certo_err *err)
{
    json_t *o = NULL;
    size_t i;
    json_t *v;

    *org = NULL;
    json_array_foreach(orgs, i, v)
    {
        if (strcmp(json_string_value(json_object_get(v, "name")), name) == 0)
            o = v;
    }
    if (o == NULL)
        return certo_err_set(err, CERTO_ENOTFOUND, "cli", "no organization named '%s'", name);
    *org = json_incref(o);
    return CERTO_OK;
}

static int
remote_org_add(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0};
    struct certo_session *s = NULL;
    json_t *orgs = NULL, *o = NULL, *doc = NULL;
    char *path = NULL;
    certo_rc rc = cli_remote_open(&s, &err);

    if (rc == CERTO_OK && a->n_pos == 1) {
        rc = cli_call(s, "POST", "/orgs/", json_pack("{s:s}", "name", a->pos[0]), &doc, &err);
        if (rc == CERTO_OK)
            printf("organization %s added (id %lld)\n", a->pos[0],
                   (long long)json_integer_value(json_object_get(doc, "id")));
    } else if (rc == CERTO_OK) {
        rc = cli_call_list(s, "/orgs/", &orgs, &err);
        if (rc == CERTO_OK)
            rc = remote_org(&o, orgs, a->pos[0], &err);
        if (rc == CERTO_OK) {
            path = certo_asprintf("/orgs/%lld/departments/",
                                  (long long)json_integer_value(json_object_get(o, "id")));
            rc = cli_call(s, "POST", path, json_pack("{s:s}", "name", a->pos[1]), &doc, &err);
        }
        if (rc == CERTO_OK)
            printf("department %s of %s added (id %lld)\n", a->pos[1],
                   json_string_value(json_object_get(o, "name")),
                   (long long)json_integer_value(json_object_get(doc, "id")));
    }
    certo_free(path);
    json_decref(orgs);
    json_decref(o);
    json_decref(doc);
    certo_session_close(s);
    return rc == CERTO_OK ? 0 : cli_remote_fail(cmd, rc, &err);
}

static int
remote_org_remove(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0};
    struct certo_session *s = NULL;
    json_t *orgs = NULL, *o = NULL, *depts = NULL, *d;
    char *path = NULL;
    certo_rc rc = cli_remote_open(&s, &err);

    if (rc == CERTO_OK)
        rc = cli_call_list(s, "/orgs/", &orgs, &err);
    if (rc == CERTO_OK)
        rc = remote_org(&o, orgs, a->pos[0], &err);
    if (rc == CERTO_OK && a->n_pos == 2) {
        path = certo_asprintf("/orgs/%lld/departments/",
                              (long long)json_integer_value(json_object_get(o, "id")));
        rc = cli_call_list(s, path, &depts, &err);
        d = NULL;
        for (size_t i = 0; rc == CERTO_OK && i < json_array_size(depts); i++) {
            json_t *v = json_array_get(depts, i);
            if (strcmp(json_string_value(json_object_get(v, "name")), a->pos[1]) == 0)
                d = v;
        }
        if (rc == CERTO_OK && d == NULL)
            rc = certo_err_set(&err, CERTO_ENOTFOUND, "cli", "no department named '%s' in %s",
                               a->pos[1], a->pos[0]);
        certo_free(path);
        path = NULL;
        if (rc == CERTO_OK) {
            path = certo_asprintf("/departments/%lld",
                                  (long long)json_integer_value(json_object_get(d, "id")));
            rc = cli_call(s, "DELETE", path, NULL, NULL, &err);
        }
    } else if (rc == CERTO_OK) {
        path =
            certo_asprintf("/orgs/%lld", (long long)json_integer_value(json_object_get(o, "id")));
        rc = cli_call(s, "DELETE", path, NULL, NULL, &err);
    }
    if (rc == CERTO_OK)
        printf("%s removed\n", a->n_pos == 2 ? "department" : "organization");
    certo_free(path);
    json_decref(orgs);
    json_decref(o);
    json_decref(depts);
    certo_session_close(s);
    return rc == CERTO_OK ? 0 : cli_remote_fail(cmd, rc, &err);
}

static int
remote_org_list(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0};
    struct certo_session *s = NULL;
    json_t *orgs = NULL, *o, *d;
    size_t i, j;
    certo_rc rc = cli_remote_open(&s, &err);

    (void)a;
    if (rc == CERTO_OK)
        rc = remote_orgs(&orgs, s, &err);
    json_array_foreach(orgs, i, o)
    {
        printf("%lld %s\n", (long long)json_integer_value(json_object_get(o, "id")),
               json_string_value(json_object_get(o, "name")));
        json_array_foreach(json_object_get(o, "departments"), j, d)
        {
            printf("  %lld %s\n", (long long)json_integer_value(json_object_get(d, "id")),
                   json_string_value(json_object_get(d, "name")));
        }
    }
    json_decref(orgs);
    certo_session_close(s);
    return rc == CERTO_OK ? 0 : cli_remote_fail(cmd, rc, &err);
}

static int
run_org_add(const struct cli_cmd *cmd, struct cli_args *a)
{
    return cli_dispatch(cmd, a, local_org_add, remote_org_add);
}

static int
run_org_remove(const struct cli_cmd *cmd, struct cli_args *a)
{
    return cli_dispatch(cmd, a, local_org_remove, remote_org_remove);
}

static int
run_org_list(const struct cli_cmd *cmd, struct cli_args *a)
{
    return cli_dispatch(cmd, a, local_org_list, remote_org_list);
}

const struct cli_cmd cli_org_cmds[] = {
    {"org add", "ORG [DEPT] [--data DIR]", "add an organization, or a department of one",
     cli_data_db_opts, 1, 2, run_org_add, NULL},
    {"org remove", "ORG [DEPT] [--data DIR]",
     "remove an empty organization, or an empty department of one", cli_data_db_opts, 1, 2,
     run_org_remove, NULL},
    {"org list", "[--data DIR]", "list organizations and their departments", cli_data_db_opts, 0, 0,
     run_org_list, NULL},
    {NULL, NULL, NULL, NULL, 0, 0, NULL, NULL},
};
