/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The access rules (docs/server.md, "Access"), one function per kind of object, each
 * deciding on the object itself — its organization and department — never on how the
 * caller found it. A route answers 404 for an object the caller may not read (its
 * existence is not disclosed) and 403 for one it may read but not change.
 * Scopes: an admin and an auditor without organization see everything; an org-admin,
 * an operator or auditor of an organization see that organization; a dept-admin, or
 * an operator or auditor of a department, see that department.
 */
#include "server/api.h"

static const struct certo_user *
who(const struct api_caller *c)
{
    return &c->user;
}

static bool
is_global(const struct certo_user *u)
{
    return u->role == CERTO_ROLE_ADMIN || (u->role == CERTO_ROLE_AUDITOR && u->org_id == 0);
}

bool
access_system(const struct api_caller *c, enum access_action a)
{
    /* The server certificate and the trust store are public facts; changing them is not. */
    return a == ACCESS_READ || who(c)->role == CERTO_ROLE_ADMIN;
}

bool
access_org(const struct api_caller *c, enum access_action a, int64_t org_id)
{
    const struct certo_user *u = who(c);

    if (u->role == CERTO_ROLE_ADMIN)
        return true;
    if (a == ACCESS_WRITE)
        return false;
    return is_global(u) || (org_id != 0 && u->org_id == org_id);
}

bool
access_dept(const struct api_caller *c, enum access_action a, const struct certo_dept *d)
{
    const struct certo_user *u = who(c);

    if (u->role == CERTO_ROLE_ADMIN)
        return true;
    if (a == ACCESS_WRITE)
        return u->role == CERTO_ROLE_ORG_ADMIN && u->org_id == d->org_id;
    if (is_global(u))
        return true;
    if (u->org_id != d->org_id)
        return false;
    return u->dept_id == 0 || u->dept_id == d->id;
}

bool
access_user_read(const struct api_caller *c, const struct certo_user *t)
{
    const struct certo_user *u = who(c);

    if (u->id == t->id || is_global(u))
        return true;
    switch (u->role) {
    case CERTO_ROLE_ORG_ADMIN:
        return t->org_id == u->org_id;
    case CERTO_ROLE_DEPT_ADMIN:
        return t->dept_id == u->dept_id;
    case CERTO_ROLE_AUDITOR:
        return t->org_id == u->org_id && (u->dept_id == 0 || t->dept_id == u->dept_id);
    default:
        return false;
    }
}

/* Roles a dept-admin may hold power over and hand out. */
static bool
dept_level(enum certo_role r)
{
    return r == CERTO_ROLE_DEPT_ADMIN || r == CERTO_ROLE_OPERATOR || r == CERTO_ROLE_AUDITOR;
}

bool
access_user_manage(const struct api_caller *c, const struct certo_user *t)
{
    const struct certo_user *u = who(c);

    switch (u->role) {
    case CERTO_ROLE_ADMIN:
        return true;
    case CERTO_ROLE_ORG_ADMIN:
        return t->org_id == u->org_id && t->role != CERTO_ROLE_ADMIN;
    case CERTO_ROLE_DEPT_ADMIN:
        return t->dept_id == u->dept_id && dept_level(t->role);
    default:
        return false;
    }
}

bool
access_user_grant(const struct api_caller *c, enum certo_role role, int64_t org_id, int64_t dept_id)
{
    const struct certo_user *u = who(c);

    switch (u->role) {
    case CERTO_ROLE_ADMIN:
        return true;
    case CERTO_ROLE_ORG_ADMIN:
        return role != CERTO_ROLE_ADMIN && org_id == u->org_id;
    case CERTO_ROLE_DEPT_ADMIN:
        return dept_level(role) && org_id == u->org_id && dept_id == u->dept_id;
    default:
        return false;
    }
}

void
access_list_scope(const struct api_caller *c, int64_t *org_id, int64_t *dept_id, bool *self_only)
{
    const struct certo_user *u = who(c);

    *org_id = 0;
    *dept_id = 0;
    *self_only = false;
    if (is_global(u))
        return;
    if (u->role == CERTO_ROLE_OPERATOR) {
        *self_only = true;
        return;
    }
    *org_id = u->org_id;
    *dept_id = u->role == CERTO_ROLE_ORG_ADMIN ? 0 : u->dept_id;
}

bool
access_endpoint(const struct api_caller *c, enum access_action a, const struct certo_managed *e)
{
    const struct certo_user *u = who(c);

    if (u->role == CERTO_ROLE_ADMIN)
        return true;
    if (a == ACCESS_READ && is_global(u))
        return true;
    if (a == ACCESS_WRITE && u->role == CERTO_ROLE_AUDITOR)
        return false;
    if (e->org_id == 0 || e->org_id != u->org_id)
        return false;
    switch (u->role) {
    case CERTO_ROLE_ORG_ADMIN:
        return true;
    case CERTO_ROLE_DEPT_ADMIN:
        return e->dept_id == u->dept_id;
    default:
        return u->dept_id == 0 || e->dept_id == u->dept_id;
    }
}

bool
access_object_scope(const struct api_caller *c, int64_t *org_id, int64_t *dept_id)
{
    const struct certo_user *u = who(c);

    *org_id = 0;
    *dept_id = 0;
    if (is_global(u))
        return true;
    if (u->org_id == 0)
        return false;
    *org_id = u->org_id;
    *dept_id = u->role == CERTO_ROLE_ORG_ADMIN ? 0 : u->dept_id;
    return true;
}
