/* SPDX-License-Identifier: Apache-2.0 */
/*
 * REST resources of the certificate inventory (issue 8): certificates with their keys and
 * order numbers, scoped like endpoints (an organization and department), and install jobs
 * that put one on an endpoint. The key never leaves the server except inside the install
 * job handed to the gateway that leased it (routes_jobs.c), over mutual TLS.
 */
#include <string.h>

#include "certo/clock.h"
#include "certo/inventory.h"
#include "certo/jobs.h"
#include "certo/mem.h"
#include "server/api.h"

#define CERT_PATH API_PREFIX "/certificates/"

static struct certo_managed
scope_of(const struct certo_inv_cert *c)
{
    struct certo_managed m = {.org_id = c->org_id, .dept_id = c->dept_id};
    return m;
}

static json_t *
cert_doc(const struct certo_inv_cert *c)
{
    json_t *doc =
        json_pack("{s:I,s:s,s:s,s:s,s:I,s:s,s:I}", "id", (json_int_t)c->id, "name", c->name,
                  "subject", c->subject, "issuer", c->issuer, "notAfter", (json_int_t)c->not_after,
                  "fingerprint", c->fingerprint, "createdAt", (json_int_t)c->created_at);

    json_object_set_new(doc, "orgId", c->org_id != 0 ? json_integer(c->org_id) : json_null());
    json_object_set_new(doc, "deptId", c->dept_id != 0 ? json_integer(c->dept_id) : json_null());
    return doc;
}

static void
certs_list_or_add(struct api_req *r)
{
    static const char *const fields[] = {"certificate", "key", "password", "orgId", "deptId", NULL};
    const struct certo_user *u = &r->caller.user;
    struct certo_err err = {0};
    struct certo_secret *pw = NULL;
    struct certo_page page;
    struct certo_inv_cert *items, c;
    struct certo_managed scope = {0};
    json_t *body, *links;
    const char *pem, *key, *pass;
    int64_t id = 0;
    char *href;

    if (r->method == EVHTTP_REQ_POST) {
        body = api_body(r, false);
        if (body == NULL || !api_fields(r, body, fields) ||
            !api_str(r, body, "certificate", true, 1024 * 1024, &pem) ||
            !api_str(r, body, "key", true, 64 * 1024, &key) ||
            !api_str(r, body, "password", false, 1024, &pass) ||
            !api_id(r, body, "orgId", false, &scope.org_id) ||
            !api_id(r, body, "deptId", false, &scope.dept_id))
            return;
        if (!access_endpoint(&r->caller, ACCESS_WRITE, &scope)) {
            api_fail(r, 403, "forbidden", "orgId", "you cannot add certificates in that scope");
            return;
        }
        if (pass != NULL && certo_secret_from_str(&pw, pass) != CERTO_OK) {
            api_fail(r, 500, "internal", NULL, "internal error");
            return;
        }
        if (certo_inv_add(r->s->db, r->s->dir, pem, key, pw, scope.org_id, scope.dept_id, u->id,
                          certo_clock_now(), &id, &err) != CERTO_OK ||
            certo_inv_get(r->s->db, id, &c, &err) != CERTO_OK) {
            certo_secret_free(pw);
            api_fail_rc(r, err.rc == CERTO_EAUTH ? CERTO_EINVAL : err.rc, &err,
                        err.rc == CERTO_EAUTH              ? "password"
                        : strncmp(err.msg, "key", 3) == 0  ? "key"
                        : strncmp(err.msg, "dept", 4) == 0 ? "deptId"
                                                           : "certificate");
            return;
        }
        certo_secret_free(pw);
        body = cert_doc(&c);
        href = api_href(r, CERT_PATH "%lld", (long long)c.id);
        json_object_set_new(body, "href", json_string(href));
        certo_free(href);
        api_ok(r, 201, body);
        return;
    }
    if (!api_page(r, &page))
        return;
    if (!access_object_scope(&r->caller, &scope.org_id, &scope.dept_id)) {
        page.total = 0;
        api_ok(r, 200, api_link_list(&page, json_array()));
        return;
    }
    items = certo_calloc((size_t)page.max, sizeof(*items));
    if (certo_inv_list(r->s->db, scope.org_id, scope.dept_id, &page, items, &err) != CERTO_OK) {
        api_fail_rc(r, CERTO_EINTERNAL, &err, NULL);
    } else {
        links = json_array();
        for (size_t i = 0; i < page.n; i++) {
            char *path = certo_asprintf(CERT_PATH "%lld", (long long)items[i].id);
            json_array_append_new(links, api_link(r, path, cert_doc(&items[i])));
            certo_free(path);
        }
        api_ok(r, 200, api_link_list(&page, links));
    }
    certo_free(items);
}

static bool
path_cert(struct api_req *r, size_t param, struct certo_inv_cert *c)
{
    struct certo_err err = {0};
    struct certo_managed scope;
    int64_t id;

    if (!api_param_id(r, param, &id))
        return false;
    if (certo_inv_get(r->s->db, id, c, &err) != CERTO_OK) {
        api_fail(r, 404, "not_found", NULL, "no such certificate");
        return false;
    }
    scope = scope_of(c);
    if (!access_endpoint(&r->caller, ACCESS_READ, &scope)) {
        api_fail(r, 404, "not_found", NULL, "no such certificate");
        return false;
    }
    return true;
}

/*
 * Where a certificate is installed: the latest install job on each endpoint the caller
 * sees, and the nodes whose latest discovery found it served ("servedBy").
 */
static void
add_installations(struct api_req *r, const struct certo_inv_cert *c, json_t *doc)
{
    struct certo_err err = {0};
    struct certo_job *jobs = NULL;
    json_t *inst = json_array(), *served = json_array();
    size_t n = 0;

    if (certo_job_installs(r->s->db, c->id, &jobs, &n, &err) != CERTO_OK)
        n = 0;
    for (size_t i = 0; i < n; i++) {
        struct certo_managed e;
        struct certo_job d;
        json_t *res, *nodes, *node;
        size_t k;
        bool seen = false;

        for (size_t p = 0; p < i && !seen; p++)
            seen = jobs[p].endpoint_id == jobs[i].endpoint_id; /* newest first: keep one */
        if (seen || certo_managed_get(r->s->db, jobs[i].endpoint_id, &e, &err) != CERTO_OK ||
            !access_endpoint(&r->caller, ACCESS_READ, &e))
            continue;
        json_array_append_new(
            inst,
            json_pack(
                "{s:I,s:s,s:I,s:s,s:I}", "endpointId", (json_int_t)e.id, "endpoint", e.name,
                "jobId", (json_int_t)jobs[i].id, "state", certo_job_state_name(jobs[i].state), "at",
                (json_int_t)(jobs[i].finished_at != 0 ? jobs[i].finished_at : jobs[i].updated_at)));
        if (certo_job_latest(r->s->db, e.id, "discover", &d, &err) != CERTO_OK)
            continue;
        res = d.result != NULL ? json_loads(d.result, 0, NULL) : NULL;
        nodes = json_object_get(res, "nodes");
        json_array_foreach(nodes, k, node)
        {
            const char *fp = json_string_value(json_object_get(node, "fingerprint"));
            if (fp != NULL && strcmp(fp, c->fingerprint) == 0)
                json_array_append_new(served, json_pack("{s:I,s:s,s:O?,s:O?}", "endpointId",
                                                        (json_int_t)e.id, "endpoint", e.name,
                                                        "node", json_object_get(node, "name"),
                                                        "port", json_object_get(node, "port")));
        }
        json_decref(res);
        certo_job_dispose(&d);
    }
    for (size_t i = 0; i < n; i++)
        certo_job_dispose(&jobs[i]);
    certo_free(jobs);
    json_object_set_new(doc, "installations", inst);
    json_object_set_new(doc, "servedBy", served);
}

static void
cert_one(struct api_req *r)
{
    struct certo_err err = {0};
    struct certo_inv_cert c;
    struct certo_managed scope;
    json_t *doc;
    char *href;

    if (!path_cert(r, 0, &c))
        return;
    if (r->method == EVHTTP_REQ_DELETE) {
        scope = scope_of(&c);
        if (!access_endpoint(&r->caller, ACCESS_WRITE, &scope)) {
            api_fail(r, 403, "forbidden", NULL, "you cannot remove this certificate");
            return;
        }
        if (certo_inv_remove(r->s->db, c.id, &err) != CERTO_OK)
            api_fail_rc(r, err.rc, &err, NULL);
        else
            api_ok(r, 204, NULL);
        return;
    }
    doc = cert_doc(&c);
    add_installations(r, &c, doc);
    href = api_href(r, CERT_PATH "%lld", (long long)c.id);
    json_object_set_new(doc, "href", json_string(href));
    certo_free(href);
    api_ok(r, 200, doc);
}

/* POST /endpoints/{id}/install {"certificateId"}: an install job for the endpoint's gateway. */
static void
endpoint_install(struct api_req *r)
{
    static const char *const fields[] = {"certificateId", "alias", NULL};
    struct certo_err err = {0};
    struct certo_managed e;
    struct certo_inv_cert c;
    struct certo_gateway g;
    json_t *body = api_body(r, false), *params;
    const char *alias;
    char *text, *href;
    int64_t id, cid, job = 0;
    size_t n;

    if (!api_param_id(r, 0, &id) || body == NULL || !api_fields(r, body, fields) ||
        !api_id(r, body, "certificateId", true, &cid) ||
        !api_str(r, body, "alias", false, CERTO_NAME_MAX, &alias))
        return;
    if (certo_managed_get(r->s->db, id, &e, &err) != CERTO_OK ||
        !access_endpoint(&r->caller, ACCESS_READ, &e)) {
        api_fail(r, 404, "not_found", NULL, "no such endpoint");
        return;
    }
    if (!access_endpoint(&r->caller, ACCESS_WRITE, &e)) {
        api_fail(r, 403, "forbidden", NULL, "you cannot act on this endpoint");
        return;
    }
    if (certo_inv_get(r->s->db, cid, &c, &err) != CERTO_OK) {
        api_fail(r, 404, "not_found", "certificateId", "certificateId: no such certificate");
        return;
    }
    {
        struct certo_managed scope = scope_of(&c);
        if (!access_endpoint(&r->caller, ACCESS_READ, &scope)) {
            api_fail(r, 404, "not_found", "certificateId", "certificateId: no such certificate");
            return;
        }
    }
    if (e.removed_at != 0 || certo_gateway_get(r->s->db, e.gateway_id, &g, &err) != CERTO_OK ||
        g.revoked_at != 0) {
        api_fail(r, 409, "conflict", NULL, "the endpoint is gone or its gateway is revoked");
        return;
    }
    params = json_pack("{s:I}", "certificateId", (json_int_t)cid);
    if (alias != NULL)
        json_object_set_new(params, "alias", json_string(alias));
    n = json_dumpb(params, NULL, 0, JSON_COMPACT);
    text = certo_malloc(n + 1);
    json_dumpb(params, text, n, JSON_COMPACT);
    text[n] = '\0';
    json_decref(params);
    if (certo_job_add(r->s->db, e.gateway_id, e.id, "install", text, r->caller.user.id,
                      certo_clock_now(), &job, &err) != CERTO_OK) {
        certo_free(text);
        api_fail_rc(r, err.rc, &err, NULL);
        return;
    }
    certo_free(text);
    href = api_href(r, API_PREFIX "/jobs/%lld", (long long)job);
    api_ok(r, 202,
           json_pack("{s:I,s:s,s:s}", "jobId", (json_int_t)job, "href", href, "state", "queued"));
    certo_free(href);
    jobs_poke(r->s);
}

const struct api_route api_routes_inventory[] = {
    {EVHTTP_REQ_GET | EVHTTP_REQ_POST, API_PREFIX "/certificates/", API_AUTH, certs_list_or_add,
     "The certificate inventory in the caller's scope, or add a certificate with its key"},
    {EVHTTP_REQ_GET | EVHTTP_REQ_DELETE, API_PREFIX "/certificates/{}", API_AUTH, cert_one,
     "One certificate (never its key); DELETE removes it"},
    {EVHTTP_REQ_POST, API_PREFIX "/endpoints/{}/install", API_AUTH, endpoint_install,
     "Queue the install of an inventory certificate on the endpoint"},
    {0, NULL, API_PUBLIC, NULL, NULL},
};
