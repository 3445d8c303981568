/* SPDX-License-Identifier: Apache-2.0 */
/*
 * REST resources of gateways and the endpoints they sync (issue 8, first slice):
 * admins create gateways and hand out one-time enrollment tokens; a gateway enrolls with
 * a token and a CSR, then calls over mutual TLS with the certificate it got (API_GATEWAY
 * routes under /vco/api/gateway/); endpoints are listed and delegated by the access rules
 * (access_endpoint).
 */
#include <string.h>

#include <openssl/crypto.h>

#include "certo/buf.h"
#include "certo/cert.h"
#include "certo/clock.h"
#include "certo/mem.h"
#include "server/api.h"

#define GW_PATH API_PREFIX "/gateways/"
#define EP_PATH API_PREFIX "/endpoints/"

static json_t *
gateway_doc(const struct certo_gateway *g)
{
    json_t *doc =
        json_pack("{s:I,s:s,s:s,s:I,s:I}", "id", (json_int_t)g->id, "name", g->name, "state",
                  g->revoked_at != 0    ? "revoked"
                  : g->enrolled_at != 0 ? "enrolled"
                                        : "waiting for enrollment",
                  "createdAt", (json_int_t)g->created_at, "endpoints", (json_int_t)g->endpoints);

    if (g->cert_fp[0] != '\0')
        json_object_set_new(doc, "certificateFingerprint", json_string(g->cert_fp));
    if (g->enrolled_at != 0)
        json_object_set_new(doc, "enrolledAt", json_integer(g->enrolled_at));
    if (g->last_seen != 0)
        json_object_set_new(doc, "lastSeen", json_integer(g->last_seen));
    if (g->revoked_at != 0)
        json_object_set_new(doc, "revokedAt", json_integer(g->revoked_at));
    return doc;
}

static json_t *
endpoint_doc(const struct certo_managed *e)
{
    json_t *doc =
        json_pack("{s:I,s:I,s:s,s:s,s:s,s:s,s:I}", "id", (json_int_t)e->id, "gatewayId",
                  (json_int_t)e->gateway_id, "name", e->name, "type", e->type, "transport",
                  e->transport, "summary", e->summary, "syncedAt", (json_int_t)e->synced_at);

    json_object_set_new(doc, "orgId", e->org_id != 0 ? json_integer(e->org_id) : json_null());
    json_object_set_new(doc, "deptId", e->dept_id != 0 ? json_integer(e->dept_id) : json_null());
    if (e->removed_at != 0)
        json_object_set_new(doc, "removedAt", json_integer(e->removed_at));
    return doc;
}

static void
reply_with_href(struct api_req *r, int status, json_t *doc, const char *prefix, int64_t id)
{
    char *href = api_href(r, "%s%lld", prefix, (long long)id);

    json_object_set_new(doc, "href", json_string(href));
    certo_free(href);
    api_ok(r, status, doc);
}

/* ---- gateways (admins) ---- */

static bool
may_see_gateways(struct api_req *r)
{
    const struct certo_user *u = &r->caller.user;

    if (u->role == CERTO_ROLE_ADMIN || (u->role == CERTO_ROLE_AUDITOR && u->org_id == 0))
        return true;
    api_fail(r, 403, "forbidden", NULL, "gateways are managed by admins");
    return false;
}

static void
gateways_list_or_add(struct api_req *r)
{
    static const char *const fields[] = {"name", NULL};
    struct certo_err err = {0};
    struct certo_page page;
    struct certo_gateway *items, g;
    char token[CERTO_ENROLL_TOKEN_LEN + 1];
    json_t *body, *links, *doc;
    const char *name;
    int64_t id = 0;

    if (!may_see_gateways(r))
        return;
    if (r->method == EVHTTP_REQ_POST) {
        body = api_body(r, false);
        if (body == NULL || !api_fields(r, body, fields) ||
            !api_str(r, body, "name", true, CERTO_NAME_MAX, &name))
            return;
        if (r->caller.user.role != CERTO_ROLE_ADMIN) {
            api_fail(r, 403, "forbidden", NULL, "only an admin creates gateways");
            return;
        }
        if (certo_gateway_add(r->s->db, name, token, &id, certo_clock_now(), &err) != CERTO_OK ||
            certo_gateway_get(r->s->db, id, &g, &err) != CERTO_OK) {
            api_fail_rc(r, err.rc, &err, "name");
            return;
        }
        doc = gateway_doc(&g);
        /* Shown once: only its hash is kept. */
        json_object_set_new(doc, "enrollToken", json_string(token));
        json_object_set_new(doc, "enrollTokenExpiresIn", json_integer(CERTO_ENROLL_TTL));
        json_object_set_new(doc, "serverFingerprint", json_string(r->s->listener_fp));
        OPENSSL_cleanse(token, sizeof(token));
        reply_with_href(r, 201, doc, GW_PATH, g.id);
        return;
    }
    if (!api_page(r, &page))
        return;
    items = certo_calloc((size_t)page.max, sizeof(*items));
    if (certo_gateway_list(r->s->db, &page, items, &err) != CERTO_OK) {
        api_fail_rc(r, CERTO_EINTERNAL, &err, NULL);
    } else {
        links = json_array();
        for (size_t i = 0; i < page.n; i++) {
            char *path = certo_asprintf(GW_PATH "%lld", (long long)items[i].id);
            json_array_append_new(links, api_link(r, path, gateway_doc(&items[i])));
            certo_free(path);
        }
        api_ok(r, 200, api_link_list(&page, links));
    }
    certo_free(items);
}

static void
gateway_one(struct api_req *r)
{
    struct certo_err err = {0};
    struct certo_gateway g;
    int64_t id;

    if (!may_see_gateways(r) || !api_param_id(r, 0, &id))
        return;
    if (certo_gateway_get(r->s->db, id, &g, &err) != CERTO_OK) {
        api_fail(r, 404, "not_found", NULL, "no such gateway");
        return;
    }
    if (r->method == EVHTTP_REQ_GET) {
        reply_with_href(r, 200, gateway_doc(&g), GW_PATH, g.id);
        return;
    }
    if (r->caller.user.role != CERTO_ROLE_ADMIN) {
        api_fail(r, 403, "forbidden", NULL, "only an admin revokes gateways");
        return;
    }
    if (certo_gateway_revoke(r->s->db, g.id, certo_clock_now(), &err) != CERTO_OK)
        api_fail_rc(r, err.rc, &err, NULL);
    else
        api_ok(r, 204, NULL);
}

/* ---- enrollment (public: the token is the credential) ---- */

static void
gateway_enroll(struct api_req *r)
{
    static const char *const fields[] = {"token", "csr", NULL};
    struct certo_err err = {0};
    struct certo_buf cert, ca;
    json_t *body = api_body(r, false);
    const char *token, *csr;
    int64_t id = 0;
    certo_rc rc;

    if (body == NULL || !api_fields(r, body, fields) ||
        !api_str(r, body, "token", true, CERTO_ENROLL_TOKEN_LEN, &token) ||
        !api_str(r, body, "csr", true, 64 * 1024, &csr))
        return;
    certo_buf_init(&cert, 64 * 1024);
    certo_buf_init(&ca, 64 * 1024);
    rc = certo_gateway_enroll(r->s->db, r->s->dir, token, csr, &cert, &ca, &id, certo_clock_now(),
                              &err);
    if (rc == CERTO_EAUTH)
        api_fail(r, 401, "invalid_token", "token", "token: %s", err.msg);
    else if (rc == CERTO_EINVAL)
        api_fail(r, 400, "invalid", "csr", "csr: %s", err.msg);
    else if (rc != CERTO_OK)
        api_fail_rc(r, rc, &err, NULL);
    else
        api_ok(r, 200,
               json_pack("{s:I,s:s%,s:s%}", "gatewayId", (json_int_t)id, "certificate",
                         (const char *)cert.data, cert.len, "caCertificate", (const char *)ca.data,
                         ca.len));
    certo_buf_dispose(&cert);
    certo_buf_dispose(&ca);
}

/* ---- the gateway's own calls (mutual TLS) ---- */

static void
gateway_whoami(struct api_req *r)
{
    api_ok(r, 200, gateway_doc(&r->gateway));
}

/* Copies a string member of endpoint 'i' into a fixed field; answers 400 otherwise. */
static bool
ep_str(struct api_req *r, json_t *e, size_t i, const char *key, char *dst, size_t cap,
       bool required)
{
    json_t *v = json_object_get(e, key);

    if (v == NULL && !required) {
        dst[0] = '\0';
        return true;
    }
    if (!json_is_string(v) || json_string_length(v) >= cap ||
        strlen(json_string_value(v)) != json_string_length(v)) {
        api_fail(r, 400, "invalid", "endpoints", "endpoints[%zu].%s: a string of at most %zu bytes",
                 i, key, cap - 1);
        return false;
    }
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return true;
}

/*
 * POST /gateway/sync {"endpoints": [{"name", "type", "transport", "summary"}]}: the
 * gateway's whole endpoint list (seed 004, "Sync Modules"). Credentials are never sent;
 * a member other than these four is refused, so none can slip in by mistake.
 */
static void
gateway_sync(struct api_req *r)
{
    static const char *const fields[] = {"endpoints", NULL};
    static const char *const ep_fields[] = {"name", "type", "transport", "summary", NULL};
    struct certo_err err = {0};
    struct certo_managed *eps = NULL;
    json_t *body = api_body(r, false), *arr, *e;
    int64_t added = 0, removed = 0;
    size_t i, n;
    certo_rc rc;

    if (body == NULL || !api_fields(r, body, fields))
        return;
    arr = json_object_get(body, "endpoints");
    if (!json_is_array(arr)) {
        api_fail(r, 400, "wrong_type", "endpoints", "endpoints: an array");
        return;
    }
    n = json_array_size(arr);
    if (n > CERTO_SYNC_MAX) {
        api_fail(r, 400, "invalid", "endpoints", "endpoints: at most %d", CERTO_SYNC_MAX);
        return;
    }
    eps = certo_calloc(n + 1, sizeof(*eps));
    json_array_foreach(arr, i, e)
    {
        if (!json_is_object(e)) {
            api_fail(r, 400, "wrong_type", "endpoints", "endpoints[%zu]: an object", i);
            goto out;
        }
        if (!api_fields(r, e, ep_fields) ||
            !ep_str(r, e, i, "name", eps[i].name, sizeof(eps[i].name), true) ||
            !ep_str(r, e, i, "type", eps[i].type, sizeof(eps[i].type), true) ||
            !ep_str(r, e, i, "transport", eps[i].transport, sizeof(eps[i].transport), true) ||
            !ep_str(r, e, i, "summary", eps[i].summary, sizeof(eps[i].summary), false))
            goto out;
    }
    rc = certo_gateway_sync(r->s->db, r->gateway.id, eps, n, certo_clock_now(), &added, &removed,
                            &err);
    if (rc != CERTO_OK) {
        api_fail_rc(r, rc, &err, "endpoints");
        goto out;
    }
    api_ok(r, 200,
           json_pack("{s:I,s:I,s:I}", "added", (json_int_t)added, "removed", (json_int_t)removed,
                     "total", (json_int_t)n));
out:
    certo_free(eps);
}

/* ---- endpoints (users) ---- */

static void
endpoints_list(struct api_req *r)
{
    struct certo_err err = {0};
    struct certo_page page;
    struct certo_managed *items;
    int64_t org, dept;
    json_t *links;

    if (!api_page(r, &page))
        return;
    if (!access_object_scope(&r->caller, &org, &dept)) {
        page.total = 0;
        api_ok(r, 200, api_link_list(&page, json_array()));
        return;
    }
    items = certo_calloc((size_t)page.max, sizeof(*items));
    if (certo_managed_list(r->s->db, org, dept, false, &page, items, &err) != CERTO_OK) {
        api_fail_rc(r, CERTO_EINTERNAL, &err, NULL);
    } else {
        links = json_array();
        for (size_t i = 0; i < page.n; i++) {
            char *path = certo_asprintf(EP_PATH "%lld", (long long)items[i].id);
            json_array_append_new(links, api_link(r, path, endpoint_doc(&items[i])));
            certo_free(path);
        }
        api_ok(r, 200, api_link_list(&page, links));
    }
    certo_free(items);
}

/*
 * GET /endpoints/{id}; PATCH {"orgId", "deptId"} delegates it (seed 004): an admin to any
 * organization, an org-admin within its own organization (to a department, or back).
 */
static void
endpoint_one(struct api_req *r)
{
    static const char *const fields[] = {"orgId", "deptId", NULL};
    const struct certo_user *u = &r->caller.user;
    struct certo_err err = {0};
    struct certo_managed e;
    json_t *body;
    int64_t id, org, dept;

    if (!api_param_id(r, 0, &id))
        return;
    if (certo_managed_get(r->s->db, id, &e, &err) != CERTO_OK ||
        !access_endpoint(&r->caller, ACCESS_READ, &e)) {
        api_fail(r, 404, "not_found", NULL, "no such endpoint");
        return;
    }
    if (r->method == EVHTTP_REQ_GET) {
        reply_with_href(r, 200, endpoint_doc(&e), EP_PATH, e.id);
        return;
    }
    body = api_body(r, false);
    org = e.org_id;
    dept = e.dept_id;
    if (body == NULL || !api_fields(r, body, fields) ||
        (json_object_get(body, "orgId") != NULL && !api_id(r, body, "orgId", false, &org)) ||
        (json_object_get(body, "deptId") != NULL && !api_id(r, body, "deptId", false, &dept)))
        return;
    if (u->role != CERTO_ROLE_ADMIN &&
        !(u->role == CERTO_ROLE_ORG_ADMIN && e.org_id == u->org_id && org == u->org_id)) {
        api_fail(r, 403, "forbidden", NULL,
                 "an admin delegates endpoints; an org-admin within its organization");
        return;
    }
    if (certo_managed_delegate(r->s->db, e.id, org, dept, &err) != CERTO_OK ||
        certo_managed_get(r->s->db, e.id, &e, &err) != CERTO_OK) {
        api_fail_rc(r, err.rc, &err, strncmp(err.msg, "department", 10) == 0 ? "deptId" : "orgId");
        return;
    }
    reply_with_href(r, 200, endpoint_doc(&e), EP_PATH, e.id);
}

const struct api_route api_routes_gateways[] = {
    {EVHTTP_REQ_GET | EVHTTP_REQ_POST, API_PREFIX "/gateways/", API_AUTH, gateways_list_or_add,
     "List gateways, or create one with a one-time enrollment token (admin)"},
    {EVHTTP_REQ_POST, API_PREFIX "/gateways/enroll", API_PUBLIC, gateway_enroll,
     "A gateway enrolls: token and CSR in, client certificate and gateway CA out"},
    {EVHTTP_REQ_GET | EVHTTP_REQ_DELETE, API_PREFIX "/gateways/{}", API_AUTH, gateway_one,
     "One gateway; DELETE revokes its certificate (admin)"},
    {EVHTTP_REQ_GET, API_PREFIX "/gateway/whoami", API_GATEWAY, gateway_whoami,
     "The calling gateway (mutual TLS)"},
    {EVHTTP_REQ_POST, API_PREFIX "/gateway/sync", API_GATEWAY, gateway_sync,
     "A gateway's endpoint list, never credentials (mutual TLS)"},
    {EVHTTP_REQ_GET, API_PREFIX "/endpoints/", API_AUTH, endpoints_list,
     "Endpoints in the caller's scope"},
    {EVHTTP_REQ_GET | EVHTTP_REQ_PATCH | EVHTTP_REQ_PUT, API_PREFIX "/endpoints/{}", API_AUTH,
     endpoint_one, "One endpoint; PATCH delegates it to an organization and department"},
    {0, NULL, API_PUBLIC, NULL, NULL},
};
