/* SPDX-License-Identifier: Apache-2.0 */
/*
 * REST resources for organizations, departments and users. Each route loads the object
 * first and asks the access rules about that object (access.c): 404 when the caller may
 * not see it, 403 when it may see but not change it. Bodies are strict (api.c).
 */
#include <string.h>

#include "certo/mem.h"
#include "server/api.h"

/* ---- documents ---- */

static json_t *
org_doc(const struct certo_org *o)
{
    return json_pack("{s:I,s:s,s:I}", "id", (json_int_t)o->id, "name", o->name, "createdAt",
                     (json_int_t)o->created_at);
}

static json_t *
dept_doc(const struct certo_dept *d)
{
    return json_pack("{s:I,s:I,s:s,s:I}", "id", (json_int_t)d->id, "orgId", (json_int_t)d->org_id,
                     "name", d->name, "createdAt", (json_int_t)d->created_at);
}

static json_t *
user_doc(const struct certo_user *u)
{
    json_t *doc = json_pack("{s:I,s:s,s:s,s:b,s:b,s:I}", "id", (json_int_t)u->id, "name", u->name,
                            "role", certo_role_name(u->role), "hasPassword", u->has_password,
                            "disabled", u->disabled, "createdAt", (json_int_t)u->created_at);

    if (u->org_id != 0)
        json_object_set_new(doc, "orgId", json_integer(u->org_id));
    if (u->dept_id != 0)
        json_object_set_new(doc, "deptId", json_integer(u->dept_id));
    return doc;
}

/* A detail document: 'doc' (consumed) with its href. */
static void
reply_obj(struct api_req *r, int status, json_t *doc, const char *prefix, int64_t id)
{
    char *path = certo_asprintf("%s%lld", prefix, (long long)id);
    char *href = api_href(r, "%s", path);

    json_object_set_new(doc, "href", json_string(href));
    certo_free(href);
    certo_free(path);
    api_ok(r, status, doc);
}

#define ORG_PATH  API_PREFIX "/orgs/"
#define DEPT_PATH API_PREFIX "/departments/"
#define USER_PATH API_PREFIX "/users/"

static void
link_add(struct api_req *r, json_t *links, const char *prefix, int64_t id, json_t *doc)
{
    char *path = certo_asprintf("%s%lld", prefix, (long long)id);
    json_array_append_new(links, api_link(r, path, doc));
    certo_free(path);
}

/* ---- organizations ---- */

static const char *const org_fields[] = {"name", NULL};

static void
orgs_list(struct api_req *r)
{
    const struct certo_user *u = &r->caller.user;
    struct certo_page page;
    struct certo_err err = {0};
    struct certo_org *items;
    int64_t only = 0;
    json_t *links;

    if (!api_page(r, &page))
        return;
    if (!access_org(&r->caller, ACCESS_READ, -1)) {
        /* Not everything: only the caller's own organization, if any. */
        only = u->org_id;
        if (only == 0) {
            page.total = 0;
            api_ok(r, 200, api_link_list(&page, json_array()));
            return;
        }
    }
    items = certo_calloc((size_t)page.max, sizeof(*items));
    if (certo_org_list(r->s->db, only, &page, items, &err) != CERTO_OK) {
        api_fail_rc(r, CERTO_EINTERNAL, &err, NULL);
    } else {
        links = json_array();
        for (size_t i = 0; i < page.n; i++)
            link_add(r, links, ORG_PATH, items[i].id, org_doc(&items[i]));
        api_ok(r, 200, api_link_list(&page, links));
    }
    certo_free(items);
}

static void
orgs_add(struct api_req *r)
{
    struct certo_err err = {0};
    struct certo_org o;
    json_t *body = api_body(r, false);
    const char *name;
    int64_t id = 0;

    if (body == NULL || !api_fields(r, body, org_fields) ||
        !api_str(r, body, "name", true, CERTO_NAME_MAX, &name))
        return;
    if (!access_org(&r->caller, ACCESS_WRITE, 0)) {
        api_fail(r, 403, "forbidden", NULL, "only an admin creates organizations");
        return;
    }
    if (certo_org_add(r->s->db, name, &id, &err) != CERTO_OK ||
        certo_org_get(r->s->db, id, &o, &err) != CERTO_OK) {
        api_fail_rc(r, err.rc, &err, "name");
        return;
    }
    reply_obj(r, 201, org_doc(&o), ORG_PATH, o.id);
}

static void
orgs_list_or_add(struct api_req *r)
{
    if (r->method == EVHTTP_REQ_POST)
        orgs_add(r);
    else
        orgs_list(r);
}

/* Loads the organization of path parameter 0 if the caller may see it. */
static bool
path_org(struct api_req *r, struct certo_org *o)
{
    struct certo_err err = {0};
    int64_t id;

    if (!api_param_id(r, 0, &id))
        return false;
    if (!access_org(&r->caller, ACCESS_READ, id) ||
        certo_org_get(r->s->db, id, o, &err) != CERTO_OK) {
        api_fail(r, 404, "not_found", NULL, "no such organization");
        return false;
    }
    return true;
}

static void
org_one(struct api_req *r)
{
    struct certo_err err = {0};
    struct certo_org o;
    json_t *body;
    const char *name;

    if (!path_org(r, &o))
        return;
    if (r->method == EVHTTP_REQ_GET) {
        reply_obj(r, 200, org_doc(&o), ORG_PATH, o.id);
        return;
    }
    if (r->method != EVHTTP_REQ_DELETE) {
        body = api_body(r, false);
        if (body == NULL || !api_fields(r, body, org_fields) ||
            !api_str(r, body, "name", true, CERTO_NAME_MAX, &name))
            return;
    }
    if (!access_org(&r->caller, ACCESS_WRITE, o.id)) {
        api_fail(r, 403, "forbidden", NULL, "only an admin changes organizations");
        return;
    }
    if (r->method == EVHTTP_REQ_DELETE) {
        if (certo_org_remove(r->s->db, o.id, &err) != CERTO_OK)
            api_fail_rc(r, err.rc, &err, NULL);
        else
            api_ok(r, 204, NULL);
        return;
    }
    if (certo_org_rename(r->s->db, o.id, name, &err) != CERTO_OK ||
        certo_org_get(r->s->db, o.id, &o, &err) != CERTO_OK) {
        api_fail_rc(r, err.rc, &err, "name");
        return;
    }
    reply_obj(r, 200, org_doc(&o), ORG_PATH, o.id);
}

/* ---- departments ---- */

static void
depts_of_org(struct api_req *r)
{
    const struct certo_user *u = &r->caller.user;
    struct certo_page page;
    struct certo_err err = {0};
    struct certo_org o;
    struct certo_dept *items;
    json_t *body, *links;
    const char *name;
    int64_t id = 0;

    if (!path_org(r, &o))
        return;
    if (r->method == EVHTTP_REQ_POST) {
        struct certo_dept d = {.org_id = o.id};
        body = api_body(r, false);
        if (body == NULL || !api_fields(r, body, org_fields) ||
            !api_str(r, body, "name", true, CERTO_NAME_MAX, &name))
            return;
        if (!access_dept(&r->caller, ACCESS_WRITE, &d)) {
            api_fail(r, 403, "forbidden", NULL,
                     "only an admin or the organization's org-admin creates departments");
            return;
        }
        if (certo_dept_add(r->s->db, o.id, name, &id, &err) != CERTO_OK ||
            certo_dept_get(r->s->db, id, &d, &err) != CERTO_OK) {
            api_fail_rc(r, err.rc, &err, "name");
            return;
        }
        reply_obj(r, 201, dept_doc(&d), DEPT_PATH, d.id);
        return;
    }
    if (!api_page(r, &page))
        return;
    items = certo_calloc((size_t)page.max, sizeof(*items));
    /* Department-scoped callers see their own department only. */
    if (certo_dept_list(r->s->db, o.id,
                        u->role == CERTO_ROLE_ADMIN || u->org_id == 0 ? 0 : u->dept_id, &page,
                        items, &err) != CERTO_OK) {
        api_fail_rc(r, CERTO_EINTERNAL, &err, NULL);
    } else {
        links = json_array();
        for (size_t i = 0; i < page.n; i++)
            link_add(r, links, DEPT_PATH, items[i].id, dept_doc(&items[i]));
        api_ok(r, 200, api_link_list(&page, links));
    }
    certo_free(items);
}

static void
dept_one(struct api_req *r)
{
    struct certo_err err = {0};
    struct certo_dept d;
    json_t *body;
    const char *name = NULL;
    int64_t id;

    if (!api_param_id(r, 0, &id))
        return;
    if (certo_dept_get(r->s->db, id, &d, &err) != CERTO_OK ||
        !access_dept(&r->caller, ACCESS_READ, &d)) {
        api_fail(r, 404, "not_found", NULL, "no such department");
        return;
    }
    if (r->method == EVHTTP_REQ_GET) {
        reply_obj(r, 200, dept_doc(&d), DEPT_PATH, d.id);
        return;
    }
    if (r->method != EVHTTP_REQ_DELETE) {
        body = api_body(r, false);
        if (body == NULL || !api_fields(r, body, org_fields) ||
            !api_str(r, body, "name", true, CERTO_NAME_MAX, &name))
            return;
    }
    if (!access_dept(&r->caller, ACCESS_WRITE, &d)) {
        api_fail(r, 403, "forbidden", NULL,
                 "only an admin or the organization's org-admin changes departments");
        return;
    }
    if (r->method == EVHTTP_REQ_DELETE) {
        if (certo_dept_remove(r->s->db, d.id, &err) != CERTO_OK)
            api_fail_rc(r, err.rc, &err, NULL);
        else
            api_ok(r, 204, NULL);
        return;
    }
    if (certo_dept_rename(r->s->db, d.id, name, &err) != CERTO_OK ||
        certo_dept_get(r->s->db, d.id, &d, &err) != CERTO_OK) {
        api_fail_rc(r, err.rc, &err, "name");
        return;
    }
    reply_obj(r, 200, dept_doc(&d), DEPT_PATH, d.id);
}

/* ---- users ---- */

/* Role and scope from a body, defaulting to 'cur' (NULL: required role). */
static bool
read_role(struct api_req *r, json_t *body, const struct certo_user *cur, enum certo_role *role,
          int64_t *org_id, int64_t *dept_id)
{
    struct certo_err err = {0};
    const char *rs;

    if (!api_str(r, body, "role", cur == NULL, 16, &rs))
        return false;
    if (rs != NULL && certo_role_parse(role, rs, &err) != CERTO_OK) {
        api_fail(r, 400, "invalid", "role", "%s", err.msg);
        return false;
    }
    if (rs == NULL)
        *role = cur->role;
    /* An absent scope member keeps the current one; null clears it. */
    *org_id = cur != NULL ? cur->org_id : 0;
    *dept_id = cur != NULL ? cur->dept_id : 0;
    if (json_object_get(body, "orgId") != NULL && !api_id(r, body, "orgId", false, org_id))
        return false;
    if (json_object_get(body, "deptId") != NULL && !api_id(r, body, "deptId", false, dept_id))
        return false;
    return true;
}

static bool
scope_ok(struct api_req *r, enum certo_role role, int64_t org_id, int64_t dept_id)
{
    struct certo_err err = {0};
    certo_rc rc;

    if (!access_user_grant(&r->caller, role, org_id, dept_id)) {
        api_fail(r, 403, "forbidden", "role", "you cannot give role %s in that scope",
                 certo_role_name(role));
        return false;
    }
    rc = certo_user_scope_check(r->s->db, role, org_id, dept_id, &err);
    if (rc != CERTO_OK) {
        api_fail(r, 400, "invalid", strncmp(err.msg, "department", 10) == 0 ? "deptId" : "orgId",
                 "%s", err.msg);
        return false;
    }
    return true;
}

static void
users_list(struct api_req *r)
{
    static const char *const fields[] = {"name", "role", "orgId", "deptId", "password", NULL};
    struct certo_page page;
    struct certo_err err = {0};
    struct certo_user *items, u;
    struct certo_secret *pw = NULL;
    int64_t org_id, dept_id, id = 0;
    bool self_only;
    enum certo_role role;
    json_t *body, *links;
    const char *name, *pass;

    if (r->method == EVHTTP_REQ_POST) {
        body = api_body(r, false);
        if (body == NULL || !api_fields(r, body, fields) ||
            !api_str(r, body, "name", true, CERTO_NAME_MAX, &name) ||
            !api_str(r, body, "password", false, 1024, &pass) ||
            !read_role(r, body, NULL, &role, &org_id, &dept_id) ||
            !scope_ok(r, role, org_id, dept_id))
            return;
        if (pass != NULL && certo_secret_from_str(&pw, pass) != CERTO_OK) {
            api_fail(r, 500, "internal", NULL, "internal error");
            return;
        }
        if (certo_user_add(r->s->db, name, role, org_id, dept_id, pw, &id, &err) != CERTO_OK ||
            certo_user_get(r->s->db, id, &u, &err) != CERTO_OK) {
            certo_secret_free(pw);
            api_fail_rc(r, err.rc, &err, strstr(err.msg, "password") ? "password" : "name");
            return;
        }
        certo_secret_free(pw);
        reply_obj(r, 201, user_doc(&u), USER_PATH, u.id);
        return;
    }
    if (!api_page(r, &page))
        return;
    access_list_scope(&r->caller, &org_id, &dept_id, &self_only);
    links = json_array();
    if (self_only) {
        page.total = 1;
        page.n = 0;
        if (page.start == 0)
            link_add(r, links, USER_PATH, r->caller.user.id, user_doc(&r->caller.user));
        api_ok(r, 200, api_link_list(&page, links));
        return;
    }
    items = certo_calloc((size_t)page.max, sizeof(*items));
    if (certo_user_list(r->s->db, org_id, dept_id, &page, items, &err) != CERTO_OK) {
        json_decref(links);
        api_fail_rc(r, CERTO_EINTERNAL, &err, NULL);
    } else {
        for (size_t i = 0; i < page.n; i++)
            link_add(r, links, USER_PATH, items[i].id, user_doc(&items[i]));
        api_ok(r, 200, api_link_list(&page, links));
    }
    certo_free(items);
}

/* Loads the user of path parameter 0 if the caller may see it. */
static bool
path_user(struct api_req *r, struct certo_user *u)
{
    struct certo_err err = {0};
    int64_t id;

    if (!api_param_id(r, 0, &id))
        return false;
    if (certo_user_get(r->s->db, id, u, &err) != CERTO_OK || !access_user_read(&r->caller, u)) {
        api_fail(r, 404, "not_found", NULL, "no such user");
        return false;
    }
    return true;
}

static void
user_one(struct api_req *r)
{
    static const char *const fields[] = {"role", "orgId", "deptId", "disabled", NULL};
    struct certo_err err = {0};
    struct certo_user u;
    enum certo_role role;
    int64_t org_id, dept_id;
    bool disabled;
    json_t *body;

    if (!path_user(r, &u))
        return;
    if (r->method == EVHTTP_REQ_GET) {
        reply_obj(r, 200, user_doc(&u), USER_PATH, u.id);
        return;
    }
    if (!access_user_manage(&r->caller, &u)) {
        api_fail(r, 403, "forbidden", NULL, "you cannot change this user");
        return;
    }
    if (r->method == EVHTTP_REQ_DELETE) {
        if (u.id == r->caller.user.id) {
            api_fail(r, 409, "conflict", NULL, "you cannot remove yourself");
            return;
        }
        if (certo_user_remove(r->s->db, u.id, &err) != CERTO_OK)
            api_fail_rc(r, err.rc, &err, NULL);
        else
            api_ok(r, 204, NULL);
        return;
    }
    body = api_body(r, false);
    disabled = u.disabled;
    if (body == NULL || !api_fields(r, body, fields) ||
        !read_role(r, body, &u, &role, &org_id, &dept_id) ||
        !api_bool(r, body, "disabled", &disabled) || !scope_ok(r, role, org_id, dept_id))
        return;
    if (certo_user_update(r->s->db, u.id, role, org_id, dept_id, disabled, &err) != CERTO_OK ||
        certo_user_get(r->s->db, u.id, &u, &err) != CERTO_OK) {
        api_fail_rc(r, err.rc, &err, NULL);
        return;
    }
    reply_obj(r, 200, user_doc(&u), USER_PATH, u.id);
}

/*
 * POST /users/{id}/password {"password", "currentPassword"}: a user changes its own
 * password (the current one is required), a manager of the user sets one. Every token
 * of the user is revoked.
 */
static void
user_password(struct api_req *r)
{
    static const char *const fields[] = {"password", "currentPassword", NULL};
    struct certo_err err = {0};
    struct certo_secret *pw = NULL, *cur = NULL;
    struct certo_user u, check;
    const char *pass, *current;
    json_t *body;
    bool self;

    if (!path_user(r, &u))
        return;
    self = u.id == r->caller.user.id;
    body = api_body(r, false);
    if (body == NULL || !api_fields(r, body, fields) ||
        !api_str(r, body, "password", true, 1024, &pass) ||
        !api_str(r, body, "currentPassword", self && !access_user_manage(&r->caller, &u), 1024,
                 &current))
        return;
    if (!self && !access_user_manage(&r->caller, &u)) {
        api_fail(r, 403, "forbidden", NULL, "you cannot change this user's password");
        return;
    }
    if (certo_secret_from_str(&pw, pass) != CERTO_OK ||
        (current != NULL && certo_secret_from_str(&cur, current) != CERTO_OK)) {
        api_fail(r, 500, "internal", NULL, "internal error");
        goto out;
    }
    if (current != NULL && certo_user_login(r->s->db, u.name, cur, &check, &err) != CERTO_OK) {
        api_fail(r, 400, "invalid", "currentPassword", "currentPassword: wrong password");
        goto out;
    }
    if (certo_user_set_password(r->s->db, u.id, pw, &err) != CERTO_OK) {
        api_fail_rc(r, err.rc, &err, "password");
        goto out;
    }
    api_ok(r, 204, NULL);
out:
    certo_secret_free(pw);
    certo_secret_free(cur);
}

const struct api_route api_routes_accounts[] = {
    {EVHTTP_REQ_GET | EVHTTP_REQ_POST, API_PREFIX "/orgs/", API_AUTH, orgs_list_or_add,
     "List organizations, or create one (admin)"},
    {EVHTTP_REQ_GET | EVHTTP_REQ_PUT | EVHTTP_REQ_PATCH | EVHTTP_REQ_DELETE, API_PREFIX "/orgs/{}",
     API_AUTH, org_one, "One organization: read, rename, remove"},
    {EVHTTP_REQ_GET | EVHTTP_REQ_POST, API_PREFIX "/orgs/{}/departments/", API_AUTH, depts_of_org,
     "Departments of an organization: list, create"},
    {EVHTTP_REQ_GET | EVHTTP_REQ_PUT | EVHTTP_REQ_PATCH | EVHTTP_REQ_DELETE,
     API_PREFIX "/departments/{}", API_AUTH, dept_one, "One department: read, rename, remove"},
    {EVHTTP_REQ_GET | EVHTTP_REQ_POST, API_PREFIX "/users/", API_AUTH, users_list,
     "List users in the caller's scope, or create one"},
    {EVHTTP_REQ_GET | EVHTTP_REQ_PUT | EVHTTP_REQ_PATCH | EVHTTP_REQ_DELETE, API_PREFIX "/users/{}",
     API_AUTH, user_one, "One user: read, change role, scope or disabled, remove"},
    {EVHTTP_REQ_POST, API_PREFIX "/users/{}/password", API_AUTH, user_password,
     "Set a user's password (revokes its tokens)"},
    {0, NULL, API_PUBLIC, NULL, NULL},
};
