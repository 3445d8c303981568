/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Jobs through the REST API (issue 8): users queue discover and restart jobs for the
 * endpoints in their scope and a sync for a gateway (admins), and follow each job's state,
 * history and logs; gateways long-poll for their next job over mutual TLS and report its
 * progress. A long poll parks the request: a timer tries the queue every 500 ms (jobs may
 * come from another server process on the same database) until a job or the wait's end;
 * a job queued by this process is offered at once.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "certo/buf.h"
#include "certo/clock.h"
#include "certo/inventory.h"
#include "certo/jobs.h"
#include "certo/mem.h"
#include "server/api.h"

#define JOB_PATH     API_PREFIX "/jobs/"
#define WAIT_DEFAULT 25
#define WAIT_MAX     30
#define TICK_MS      500

/* The seed's message (004, "Managing nodes"). */
#define NOT_DELEGATED                                                                              \
    "You need to assign an organization or a department to the endpoint before you can "           \
    "discover nodes"

struct job_waiter {
    struct evhttp_request *req;
    struct evhttp_connection *conn;
    struct certo_gateway gateway;
    char base[BASE_MAX];
    int64_t deadline_ms;
    struct job_waiter *next;
};

/* ---- documents ---- */

static json_t *
parse_json(const char *text)
{
    json_t *v = text != NULL ? json_loads(text, JSON_REJECT_DUPLICATES, NULL) : NULL;
    return v != NULL ? v : json_null();
}

/*
 * An install job carries the certificate and its key to the gateway that leased it: they
 * are added here, at hand-over, and never stored with the job. A certificate removed
 * from the inventory meanwhile leaves them out; the gateway then fails the job.
 */
static void
add_material(struct certo_db *db, const char *dir, json_t *params)
{
    struct certo_err ignored = {0};
    struct certo_buf cert, key;
    json_t *id = json_object_get(params, "certificateId");

    if (!json_is_integer(id))
        return;
    certo_buf_init(&cert, 1024 * 1024);
    certo_buf_init(&key, 64 * 1024);
    if (certo_inv_material(db, dir, json_integer_value(id), &cert, &key, &ignored) == CERTO_OK) {
        json_object_set_new(params, "certificate", json_stringn((const char *)cert.data, cert.len));
        json_object_set_new(params, "key", json_stringn((const char *)key.data, key.len));
    }
    certo_buf_dispose(&cert);
    certo_buf_dispose(&key); /* wiped */
}

json_t *
jobs_gateway_doc(struct certo_db *db, const char *dir, int lease, const struct certo_job *j)
{
    struct certo_managed e;
    struct certo_err ignored = {0};
    json_t *doc =
        json_pack("{s:I,s:s,s:o,s:I,s:i}", "id", (json_int_t)j->id, "kind", j->kind, "params",
                  parse_json(j->params), "attempt", (json_int_t)j->attempt, "leaseSeconds", lease);

    if (j->endpoint_id != 0 && certo_managed_get(db, j->endpoint_id, &e, &ignored) == CERTO_OK)
        json_object_set_new(doc, "endpoint", json_string(e.name));
    else
        json_object_set_new(doc, "endpoint", json_null());
    if (strcmp(j->kind, "install") == 0)
        add_material(db, dir, json_object_get(doc, "params"));
    return doc;
}

static json_t *
gateway_job_doc(struct server *s, const struct certo_job *j)
{
    return jobs_gateway_doc(s->db, s->dir, s->job_lease, j);
}

static json_t *
job_doc(const struct certo_job *j)
{
    json_t *doc =
        json_pack("{s:I,s:s,s:s,s:I,s:I,s:I,s:I,s:s}", "id", (json_int_t)j->id, "kind", j->kind,
                  "state", certo_job_state_name(j->state), "gatewayId", (json_int_t)j->gateway_id,
                  "attempt", (json_int_t)j->attempt, "createdAt", (json_int_t)j->created_at,
                  "updatedAt", (json_int_t)j->updated_at, "message", j->message);

    json_object_set_new(doc, "endpointId",
                        j->endpoint_id != 0 ? json_integer(j->endpoint_id) : json_null());
    if (j->finished_at != 0)
        json_object_set_new(doc, "finishedAt", json_integer(j->finished_at));
    if (j->result != NULL)
        json_object_set_new(doc, "result", parse_json(j->result));
    return doc;
}

/* Who may see or act on a job: by the delegation of its endpoint when it was queued. */
static bool
job_access(const struct api_caller *c, enum access_action a, const struct certo_job *j)
{
    struct certo_managed scope = {.org_id = j->org_id, .dept_id = j->dept_id};
    return access_endpoint(c, a, &scope);
}

/* ---- long polls ---- */

static void
waiter_answer(struct server *s, struct job_waiter *w, int status, json_t *doc)
{
    struct api_req r = {.s = s, .req = w->req, .path = API_PREFIX "/gateway/jobs/next"};

    r.gateway = w->gateway;
    memcpy(r.base, w->base, sizeof(r.base));
    api_ok(&r, status, doc);
    server_reply_late(s, &r);
}

/* Unlinks and frees 'w' (the caller answered it, or its connection is gone). */
static void
waiter_remove(struct server *s, struct job_waiter *w)
{
    for (struct job_waiter **p = &s->waiters; *p != NULL; p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            break;
        }
    }
    certo_free(w);
    if (s->waiters == NULL && s->wait_timer != NULL)
        event_del(s->wait_timer);
}

/*
 * True when a parked request's client is gone. evhttp does not read a connection while
 * its request waits for an answer, so a gateway that hung up is not noticed by itself;
 * offering it a job would lease the job to nobody until the lease ran out. A client
 * waiting for its answer sends nothing, so anything readable — end of file, or a TLS
 * close_notify — means it left.
 */
static bool
waiter_gone(const struct job_waiter *w)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(w->conn);
    evutil_socket_t fd = bev != NULL ? bufferevent_getfd(bev) : -1;
    char c;

    if (fd < 0)
        return true;
    return recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) >= 0 ||
           (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* Offers each waiting gateway its next job; answers 204 to those whose wait is over. */
static void
waiters_try(struct server *s)
{
    int64_t now_ms = certo_clock_mono_ms();
    struct job_waiter *w = s->waiters, *next;

    for (; w != NULL; w = next) {
        struct certo_job j;
        struct certo_err err = {0};
        certo_rc rc;

        next = w->next;
        if (waiter_gone(w)) {
            /* Freeing the connection runs its close callback, which drops 'w'. */
            evhttp_connection_free(w->conn);
            continue;
        }
        rc = certo_job_claim(s->db, w->gateway.id, certo_clock_now(), s->job_lease, &j, &err);
        if (rc == CERTO_OK) {
            waiter_answer(s, w, 200, gateway_job_doc(s, &j));
            certo_job_dispose(&j);
            waiter_remove(s, w);
        } else if (now_ms >= w->deadline_ms || rc != CERTO_ENOTFOUND) {
            waiter_answer(s, w, 204, NULL);
            waiter_remove(s, w);
        }
    }
}

static void
wait_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    waiters_try(arg);
}

void
jobs_conn_closed(struct server *s, struct evhttp_connection *conn)
{
    struct job_waiter *w = s->waiters, *next;

    for (; w != NULL; w = next) {
        next = w->next;
        if (w->conn == conn)
            waiter_remove(s, w);
    }
}

void
jobs_flush_waiters(struct server *s)
{
    while (s->waiters != NULL) {
        waiter_answer(s, s->waiters, 204, NULL);
        waiter_remove(s, s->waiters);
    }
}

void
jobs_dispose(struct server *s)
{
    while (s->waiters != NULL) {
        struct job_waiter *w = s->waiters;
        s->waiters = w->next;
        certo_free(w);
    }
    if (s->wait_timer != NULL)
        event_free(s->wait_timer);
    s->wait_timer = NULL;
}

/* GET /gateway/jobs/next?wait=S: the next job, leased to the caller, or 204. */
static void
gateway_next(struct api_req *r)
{
    struct server *s = r->s;
    struct timeval tick = {0, TICK_MS * 1000};
    struct certo_err err = {0};
    struct certo_job j;
    struct job_waiter *w;
    const char *q = api_query(r, "wait");
    long wait = WAIT_DEFAULT;
    char *end = NULL;
    certo_rc rc;

    if (q != NULL) {
        wait = strtol(q, &end, 10);
        if (q[0] < '0' || q[0] > '9' || *end != '\0' || wait > WAIT_MAX) {
            api_fail(r, 400, "invalid", "wait", "wait: 0 to %d seconds", WAIT_MAX);
            return;
        }
    }
    rc = certo_job_claim(s->db, r->gateway.id, certo_clock_now(), s->job_lease, &j, &err);
    if (rc == CERTO_OK) {
        api_ok(r, 200, gateway_job_doc(s, &j));
        certo_job_dispose(&j);
        return;
    }
    if (rc != CERTO_ENOTFOUND) {
        api_fail_rc(r, CERTO_EINTERNAL, &err, NULL);
        return;
    }
    if (wait == 0 || s->draining) {
        api_ok(r, 204, NULL);
        return;
    }
    if (s->wait_timer == NULL)
        s->wait_timer = event_new(s->base, -1, EV_PERSIST, wait_tick, s);
    if (s->wait_timer == NULL || event_add(s->wait_timer, &tick) != 0) {
        api_fail(r, 500, "internal", NULL, "internal error");
        return;
    }
    w = certo_calloc(1, sizeof(*w));
    w->req = r->req;
    w->conn = evhttp_request_get_connection(r->req);
    w->gateway = r->gateway;
    memcpy(w->base, r->base, sizeof(w->base));
    w->deadline_ms = certo_clock_mono_ms() + (int64_t)wait * 1000;
    w->next = s->waiters;
    s->waiters = w;
    r->parked = true;
}

/* POST /gateway/jobs/{id}/events {"state","message","log","result"}. */
static void
gateway_event(struct api_req *r)
{
    static const char *const fields[] = {"state", "message", "log", "result", NULL};
    static const struct {
        const char *name;
        enum certo_job_state state;
    } states[] = {{"running", CERTO_JOB_RUNNING},
                  {"succeeded", CERTO_JOB_SUCCEEDED},
                  {"failed", CERTO_JOB_FAILED}};
    struct certo_err err = {0};
    json_t *body = api_body(r, false), *res;
    const char *st, *msg, *log;
    char *result = NULL;
    int64_t id;
    int state = -1;
    size_t n;
    certo_rc rc;

    if (!api_param_id(r, 0, &id) || body == NULL || !api_fields(r, body, fields) ||
        !api_str(r, body, "state", true, 16, &st) ||
        !api_str(r, body, "message", false, 255, &msg) ||
        !api_str(r, body, "log", false, CERTO_JOB_LOG_MAX, &log))
        return;
    for (size_t i = 0; i < CERTO_ARRAY_LEN(states); i++) {
        if (strcmp(st, states[i].name) == 0)
            state = (int)states[i].state;
    }
    if (state < 0) {
        api_fail(r, 400, "invalid", "state", "state: running, succeeded or failed");
        return;
    }
    res = json_object_get(body, "result");
    if (res != NULL && !json_is_object(res)) {
        api_fail(r, 400, "wrong_type", "result", "result: an object");
        return;
    }
    if (res != NULL) {
        /* jansson's own allocator may be replaced: size first, then into our buffer. */
        n = json_dumpb(res, NULL, 0, JSON_COMPACT);
        if (n > CERTO_JOB_PARAMS_MAX) {
            api_fail(r, 400, "invalid", "result", "result: at most %d bytes", CERTO_JOB_PARAMS_MAX);
            return;
        }
        result = certo_malloc(n + 1);
        json_dumpb(res, result, n, JSON_COMPACT);
        result[n] = '\0';
    }
    rc = certo_job_report(r->s->db, r->gateway.id, id, (enum certo_job_state)state,
                          msg != NULL ? msg : st, log, result, certo_clock_now(), r->s->job_lease,
                          &err);
    certo_free(result);
    if (rc == CERTO_ENOTFOUND)
        api_fail(r, 404, "not_found", NULL, "%s", err.msg);
    else if (rc != CERTO_OK)
        api_fail_rc(r, rc, &err, NULL);
    else
        api_ok(r, 200, json_pack("{s:I,s:s}", "id", (json_int_t)id, "state", st));
}

/* ---- users ---- */

void
jobs_poke(struct server *s)
{
    waiters_try(s);
    local_poke(s);
}

static void
reply_queued(struct api_req *r, int64_t id)
{
    char *href = api_href(r, JOB_PATH "%lld", (long long)id);

    api_ok(r, 202,
           json_pack("{s:I,s:s,s:s}", "jobId", (json_int_t)id, "href", href, "state", "queued"));
    certo_free(href);
    jobs_poke(r->s); /* a gateway waiting here gets it now */
}

/* POST /endpoints/{id}/discover and /endpoints/{id}/restart. */
static void
endpoint_job(struct api_req *r)
{
    struct certo_err err = {0};
    struct certo_managed e;
    struct certo_gateway g;
    const char *kind = strstr(r->path, "/discover") != NULL ? "discover" : "restart";
    int64_t id, job = 0;

    if (!api_param_id(r, 0, &id))
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
    if (strcmp(kind, "discover") == 0 && e.org_id == 0 && e.dept_id == 0) {
        api_fail(r, 409, "not_delegated", NULL, NOT_DELEGATED);
        return;
    }
    if (e.removed_at != 0) {
        api_fail(r, 409, "conflict", NULL, "the endpoint is no longer on its gateway");
        return;
    }
    if (certo_gateway_get(r->s->db, e.gateway_id, &g, &err) != CERTO_OK || g.revoked_at != 0) {
        api_fail(r, 409, "conflict", NULL, "the endpoint's gateway is revoked");
        return;
    }
    if (certo_job_add(r->s->db, e.gateway_id, e.id, kind, NULL, r->caller.user.id,
                      certo_clock_now(), &job, &err) != CERTO_OK) {
        api_fail_rc(r, err.rc, &err, NULL);
        return;
    }
    reply_queued(r, job);
}

/* POST /gateways/{id}/sync: the seed's "Sync Modules" button (admins). */
static void
gateway_sync_job(struct api_req *r)
{
    struct certo_err err = {0};
    struct certo_gateway g;
    int64_t id, job = 0;

    if (!api_param_id(r, 0, &id))
        return;
    if (r->caller.user.role != CERTO_ROLE_ADMIN) {
        api_fail(r, 403, "forbidden", NULL, "gateways are managed by admins");
        return;
    }
    if (certo_gateway_get(r->s->db, id, &g, &err) != CERTO_OK) {
        api_fail(r, 404, "not_found", NULL, "no such gateway");
        return;
    }
    if (g.revoked_at != 0 || g.enrolled_at == 0) {
        api_fail(r, 409, "conflict", NULL, "the gateway is %s",
                 g.revoked_at != 0 ? "revoked" : "not enrolled yet");
        return;
    }
    if (certo_job_add(r->s->db, g.id, 0, "sync", NULL, r->caller.user.id, certo_clock_now(), &job,
                      &err) != CERTO_OK) {
        api_fail_rc(r, err.rc, &err, NULL);
        return;
    }
    reply_queued(r, job);
}

static void
jobs_list(struct api_req *r)
{
    struct certo_err err = {0};
    struct certo_page page;
    struct certo_job *items;
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
    if (certo_job_list(r->s->db, org, dept, &page, items, &err) != CERTO_OK) {
        api_fail_rc(r, CERTO_EINTERNAL, &err, NULL);
    } else {
        links = json_array();
        for (size_t i = 0; i < page.n; i++) {
            char *path = certo_asprintf(JOB_PATH "%lld", (long long)items[i].id);
            json_t *d = job_doc(&items[i]);
            json_object_del(d, "result");
            json_array_append_new(links, api_link(r, path, d));
            certo_free(path);
        }
        api_ok(r, 200, api_link_list(&page, links));
    }
    for (size_t i = 0; i < page.n; i++)
        certo_job_dispose(&items[i]);
    certo_free(items);
}

static void
job_one(struct api_req *r)
{
    struct certo_err err = {0};
    struct certo_job j;
    struct certo_job_event *ev = NULL;
    size_t n = 0;
    int64_t id;
    json_t *doc, *events;
    char *href;

    if (!api_param_id(r, 0, &id))
        return;
    if (certo_job_get(r->s->db, id, &j, &err) != CERTO_OK ||
        !job_access(&r->caller, ACCESS_READ, &j)) {
        certo_job_dispose(&j);
        api_fail(r, 404, "not_found", NULL, "no such job");
        return;
    }
    if (certo_job_events(r->s->db, id, &ev, &n, &err) != CERTO_OK) {
        certo_job_dispose(&j);
        api_fail_rc(r, CERTO_EINTERNAL, &err, NULL);
        return;
    }
    doc = job_doc(&j);
    events = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_pack("{s:I,s:s,s:s}", "at", (json_int_t)ev[i].at, "state",
                              certo_job_state_name(ev[i].state), "message", ev[i].message);
        if (ev[i].log != NULL)
            json_object_set_new(e, "log", json_string(ev[i].log));
        json_array_append_new(events, e);
    }
    json_object_set_new(doc, "events", events);
    href = api_href(r, JOB_PATH "%lld", (long long)id);
    json_object_set_new(doc, "href", json_string(href));
    certo_free(href);
    api_ok(r, 200, doc);
    certo_job_events_dispose(ev, n);
    certo_job_dispose(&j);
}

/* GET /endpoints/{id}/nodes: what the latest discovery found (seed 004's columns). */
static void
endpoint_nodes(struct api_req *r)
{
    struct certo_err err = {0};
    struct certo_managed e;
    struct certo_job j;
    json_t *res, *nodes;
    int64_t id;

    if (!api_param_id(r, 0, &id))
        return;
    if (certo_managed_get(r->s->db, id, &e, &err) != CERTO_OK ||
        !access_endpoint(&r->caller, ACCESS_READ, &e)) {
        api_fail(r, 404, "not_found", NULL, "no such endpoint");
        return;
    }
    if (certo_job_latest(r->s->db, e.id, "discover", &j, &err) != CERTO_OK) {
        api_fail(r, 404, "not_found", NULL, "the endpoint's nodes were not discovered yet");
        return;
    }
    res = parse_json(j.result);
    nodes = json_object_get(res, "nodes");
    /* The SSL column: the order number of a certificate of the inventory, else External. */
    for (size_t i = 0; json_is_array(nodes) && i < json_array_size(nodes); i++) {
        json_t *node = json_array_get(nodes, i);
        const char *fp = json_string_value(json_object_get(node, "fingerprint"));
        int64_t order = 0;
        if (fp != NULL && certo_inv_find(r->s->db, fp, &order, &err) == CERTO_OK && order != 0)
            json_object_set_new(node, "certificateId", json_integer(order));
        /* A node serving no certificate (plain HTTP, a failed handshake) has none: "-". */
        if (json_is_object(node))
            json_object_set_new(node, "ssl",
                                order != 0   ? json_sprintf("%lld", (long long)order)
                                : fp != NULL ? json_string("External")
                                             : json_string("-"));
    }
    api_ok(r, 200,
           json_pack("{s:O,s:I,s:I}", "nodes", json_is_array(nodes) ? nodes : json_array(), "jobId",
                     (json_int_t)j.id, "discoveredAt", (json_int_t)j.finished_at));
    json_decref(res);
    certo_job_dispose(&j);
}

const struct api_route api_routes_jobs[] = {
    {EVHTTP_REQ_GET, API_PREFIX "/gateway/jobs/next", API_GATEWAY, gateway_next,
     "The gateway's next job, leased to it; waits up to ?wait= seconds (mutual TLS)"},
    {EVHTTP_REQ_POST, API_PREFIX "/gateway/jobs/{}/events", API_GATEWAY, gateway_event,
     "A job's progress: running (heartbeat), succeeded or failed (mutual TLS)"},
    {EVHTTP_REQ_POST, API_PREFIX "/endpoints/{}/discover", API_AUTH, endpoint_job,
     "Queue a discovery of the endpoint's nodes (it must be delegated first)"},
    {EVHTTP_REQ_POST, API_PREFIX "/endpoints/{}/restart", API_AUTH, endpoint_job,
     "Queue a restart of the endpoint's service"},
    {EVHTTP_REQ_GET, API_PREFIX "/endpoints/{}/nodes", API_AUTH, endpoint_nodes,
     "The nodes the latest discovery found"},
    {EVHTTP_REQ_POST, API_PREFIX "/gateways/{}/sync", API_AUTH, gateway_sync_job,
     "Queue a sync of the gateway's endpoint list (admin)"},
    {EVHTTP_REQ_GET, API_PREFIX "/jobs/", API_AUTH, jobs_list, "Jobs in the caller's scope"},
    {EVHTTP_REQ_GET, API_PREFIX "/jobs/{}", API_AUTH, job_one, "One job with its history and logs"},
    {0, NULL, API_PUBLIC, NULL, NULL},
};
