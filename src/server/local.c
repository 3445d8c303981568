/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The gateway embedded in `certo server` (issue 8): the jobs of the gateway named "local"
 * run on a worker thread of the server process, through the runner the face gave (the
 * gateway agent's), against the gateway registry of the server's data directory. So on a
 * single machine, endpoints added with `certo tls add` appear after a sync and are
 * discovered, installed and restarted without enrolling anything.
 * The worker has its own database handle; it leases the local gateway's jobs exactly as a
 * remote gateway does (one write transaction each), so the queue's rules hold. It syncs
 * once at start, then waits for jobs: woken by this process when one is queued, and every
 * second anyway (another server process may queue them). A job in hand is finished before
 * the server stops.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "certo/clock.h"
#include "certo/gateways.h"
#include "certo/jobs.h"
#include "certo/mem.h"
#include "server/api.h"

#define WHERE       "server.local"
#define LOCAL_LEASE 3600 /* in-process: the lease only guards against another process */

struct local_gw {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;  /* under mu */
    bool poked; /* under mu */
    int64_t gateway_id;
    const char *dir;    /* borrowed from the options */
    const char *db_url; /* borrowed from the options */
    certo_local_runner runner;
    void *ctx;
};

static const char *
member(json_t *obj, const char *key)
{
    const char *v = json_string_value(json_object_get(obj, key));
    return v != NULL ? v : "";
}

static void
outcome_dispose(struct certo_local_outcome *o)
{
    certo_free(o->log);
    certo_free(o->result);
    memset(o, 0, sizeof(*o));
}

/* Applies a sync's endpoint list ({"endpoints": [...]}) to the server's database. */
static certo_rc
apply_sync(struct certo_db *db, int64_t gateway_id, const char *result, char msg[256],
           struct certo_err *err)
{
    json_t *doc = result != NULL ? json_loads(result, 0, NULL) : NULL;
    json_t *arr = json_object_get(doc, "endpoints"), *e;
    struct certo_managed *eps = NULL;
    int64_t added = 0, removed = 0;
    size_t i, n = json_array_size(arr);
    certo_rc rc = CERTO_OK;

    if (!json_is_array(arr)) {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE, "the sync gave no endpoint list");
        goto out;
    }
    eps = certo_calloc(n + 1, sizeof(*eps));
    json_array_foreach(arr, i, e)
    {
        snprintf(eps[i].name, sizeof(eps[i].name), "%s", member(e, "name"));
        snprintf(eps[i].type, sizeof(eps[i].type), "%s", member(e, "type"));
        snprintf(eps[i].transport, sizeof(eps[i].transport), "%s", member(e, "transport"));
        snprintf(eps[i].summary, sizeof(eps[i].summary), "%s", member(e, "summary"));
    }
    rc = certo_gateway_sync(db, gateway_id, eps, n, certo_clock_now(), &added, &removed, err);
    if (rc == CERTO_OK)
        snprintf(msg, 256, "synced %zu endpoints: %lld added, %lld removed", n, (long long)added,
                 (long long)removed);
out:
    certo_free(eps);
    json_decref(doc);
    return rc;
}

/* Runs one job through the runner and reports it; 'doc' is the job as a gateway gets it. */
static void
run_one(struct local_gw *g, struct certo_db *db, const struct certo_job *j)
{
    struct certo_local_outcome out = {0};
    struct certo_err err = {0};
    json_t *doc = jobs_gateway_doc(db, g->dir, LOCAL_LEASE, j);
    size_t n = json_dumpb(doc, NULL, 0, JSON_COMPACT);
    char *text = certo_malloc(n + 1);
    char msg[256];

    json_dumpb(doc, text, n, JSON_COMPACT);
    text[n] = '\0';
    json_decref(doc);
    server_log("info", "job_started", "gateway=local job=%lld kind=%s", (long long)j->id, j->kind);
    if (certo_job_report(db, g->gateway_id, j->id, CERTO_JOB_RUNNING, "running on the server", NULL,
                         NULL, certo_clock_now(), LOCAL_LEASE, &err) != CERTO_OK)
        server_log("warn", "report_failed", "gateway=local job=%lld error=\"%s\"", (long long)j->id,
                   err.msg);
    g->runner(g->ctx, text, &out);
    certo_free_clear(text, n); /* an install job carries a key */
    snprintf(msg, sizeof(msg), "%s", out.message[0] != '\0' ? out.message : "done");
    if (out.succeeded && strcmp(j->kind, "sync") == 0 &&
        apply_sync(db, g->gateway_id, out.result, msg, &err) != CERTO_OK) {
        out.succeeded = false;
        snprintf(msg, sizeof(msg), "%.200s", err.msg);
    }
    certo_err_clear(&err);
    if (certo_job_report(db, g->gateway_id, j->id,
                         out.succeeded ? CERTO_JOB_SUCCEEDED : CERTO_JOB_FAILED, msg, out.log,
                         out.succeeded && strcmp(j->kind, "sync") != 0 ? out.result : NULL,
                         certo_clock_now(), LOCAL_LEASE, &err) != CERTO_OK)
        server_log("error", "report_failed", "gateway=local job=%lld error=\"%s\"",
                   (long long)j->id, err.msg);
    server_log("info", "job_finished", "gateway=local job=%lld state=%s", (long long)j->id,
               out.succeeded ? "succeeded" : "failed");
    outcome_dispose(&out);
}

static bool
should_stop(struct local_gw *g)
{
    bool stop;

    pthread_mutex_lock(&g->mu);
    stop = g->stop;
    pthread_mutex_unlock(&g->mu);
    return stop;
}

/* Sleeps until poked, stopped, or a second has passed. */
static void
nap(struct local_gw *g)
{
    struct timespec until;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 1;
    pthread_mutex_lock(&g->mu);
    while (!g->stop && !g->poked) {
        if (pthread_cond_timedwait(&g->cv, &g->mu, &until) != 0)
            break;
    }
    g->poked = false;
    pthread_mutex_unlock(&g->mu);
}

static void *
worker(void *arg)
{
    struct local_gw *g = arg;
    struct certo_db *db = NULL;
    struct certo_err err = {0};
    int64_t id = 0;

    if (certo_server_db_open(&db, g->dir, g->db_url, &err) != CERTO_OK) {
        server_log("error", "local_gateway_stopped", "gateway=local error=\"%s\"", err.msg);
        return NULL;
    }
    /* The first sync is queued like any other, so it has a history too. */
    if (certo_job_add(db, g->gateway_id, 0, "sync", NULL, 0, certo_clock_now(), &id, &err) !=
        CERTO_OK)
        server_log("warn", "local_sync_not_queued", "gateway=local error=\"%s\"", err.msg);
    while (!should_stop(g)) {
        struct certo_job j;
        certo_rc rc;

        certo_err_clear(&err);
        rc = certo_job_claim(db, g->gateway_id, certo_clock_now(), LOCAL_LEASE, &j, &err);
        if (rc == CERTO_OK) {
            run_one(g, db, &j);
            certo_job_dispose(&j);
            continue;
        }
        if (rc != CERTO_ENOTFOUND)
            server_log("warn", "local_claim_failed", "gateway=local error=\"%s\"", err.msg);
        nap(g);
    }
    certo_db_close(db);
    return NULL;
}

certo_rc
local_start(struct server *s, const struct certo_server_opts *opts, struct certo_err *err)
{
    struct local_gw *g;
    int64_t id = 0;
    certo_rc rc;

    if (opts->local_runner == NULL)
        return CERTO_OK;
    rc = certo_gateway_local(s->db, certo_clock_now(), &id, err);
    if (rc != CERTO_OK)
        return rc;
    g = certo_calloc(1, sizeof(*g));
    g->gateway_id = id;
    g->dir = s->dir;
    g->db_url = s->db_url;
    g->runner = opts->local_runner;
    g->ctx = opts->local_ctx;
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    if (pthread_create(&g->thread, NULL, worker, g) != 0) {
        pthread_mutex_destroy(&g->mu);
        pthread_cond_destroy(&g->cv);
        certo_free(g);
        return certo_err_set(err, CERTO_EINTERNAL, WHERE, "cannot start the local gateway");
    }
    s->local = g;
    return CERTO_OK;
}

void
local_poke(struct server *s)
{
    struct local_gw *g = s->local;

    if (g == NULL)
        return;
    pthread_mutex_lock(&g->mu);
    g->poked = true;
    pthread_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

void
local_stop(struct server *s)
{
    struct local_gw *g = s->local;

    if (g == NULL)
        return;
    pthread_mutex_lock(&g->mu);
    g->stop = true;
    pthread_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);
    pthread_join(g->thread, NULL);
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
    certo_free(g);
    s->local = NULL;
}
