/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The gateway daemon (client layer, issue 8): long-polls the server for jobs over mutual
 * TLS, runs each through the gateway library while a timer thread reports "running"
 * (the heartbeat that keeps the lease), reports the outcome, and reconnects with
 * exponential backoff while the server cannot be reached.
 *
 * Threads: the main thread polls, runs jobs and reports on one session; the heartbeat
 * thread exists only while a job runs, and posts on a session of its own, opened and
 * closed by the main thread. A stop request (SIGTERM) abandons a waiting poll at once;
 * a job in hand is finished and reported first.
 *
 * Logs: one logfmt line per state change on stderr (starting, connected, disconnected,
 * job started, job finished, lease lost, stopped), never a secret.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "certo/agent.h"
#include "certo/clock.h"
#include "certo/mem.h"

#define WHERE         "client.agent"
#define REPORT_TRIES  6 /* attempts to deliver a job's outcome */
#define LEASE_DEFAULT 120
#define CALL_SLACK_MS 30000

/* ---- logfmt ---- */

/* Appends ' key=value' to 'line', quoting the value when it needs it. */
static void
kv(char *line, size_t cap, const char *key, const char *value)
{
    size_t n = strlen(line);
    bool quote = value[0] == '\0' || strpbrk(value, " =\"\\") != NULL;

    n += (size_t)snprintf(line + n, n < cap ? cap - n : 0, " %s=%s", key, quote ? "\"" : "");
    for (const unsigned char *p = (const unsigned char *)value; *p != '\0' && n + 6 < cap; p++) {
        if (*p == '"' || *p == '\\') {
            line[n++] = '\\';
            line[n++] = (char)*p;
        } else if (*p < 0x20 || *p == 0x7f) {
            line[n++] = ' ';
        } else {
            line[n++] = (char)*p;
        }
    }
    if (quote && n + 1 < cap)
        line[n++] = '"';
    line[n < cap ? n : cap - 1] = '\0';
}

/* One line: "ts=... level=... msg=..." and pairs of (key, value) strings, NULL-ended. */
static void
logfmt(const char *level, const char *msg, ...)
{
    char line[2048], when[32] = "-";
    struct timespec ts;
    struct tm tm;
    const char *k;
    va_list ap;

    clock_gettime(CLOCK_REALTIME, &ts);
    if (gmtime_r(&ts.tv_sec, &tm) != NULL)
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(line, sizeof(line), "ts=%s.%03ldZ level=%s", when, ts.tv_nsec / 1000000, level);
    kv(line, sizeof(line), "msg", msg);
    va_start(ap, msg);
    for (k = va_arg(ap, const char *); k != NULL; k = va_arg(ap, const char *)) {
        const char *v = va_arg(ap, const char *);
        kv(line, sizeof(line), k, v != NULL ? v : "");
    }
    va_end(ap);
    fprintf(stderr, "%s\n", line);
    fflush(stderr);
}

static const char *
err_text(certo_rc rc, const struct certo_err *err)
{
    return err->rc != CERTO_OK && err->msg[0] != '\0' ? err->msg : certo_rc_name(rc);
}

/* ---- the daemon's state ---- */

struct daemon {
    const struct certo_agent_run_opts *o;
    struct certo_agent id;
    struct certo_registry *reg;
    struct certo_session *s;  /* main thread */
    struct certo_session *hb; /* the heartbeat thread's, while it runs */
    bool connected;
    bool down_logged;
    int backoff_s;
};

static bool
stop_requested(void *arg)
{
    const struct daemon *d = arg;
    return d->o->stop != NULL && *d->o->stop != 0;
}

/* Sleeps 'ms', waking early for a stop request. */
static void
nap(struct daemon *d, int64_t ms)
{
    int64_t until = certo_clock_mono_ms() + ms;

    while (!stop_requested(d)) {
        int64_t left = until - certo_clock_mono_ms();
        struct timespec t;
        if (left <= 0)
            break;
        if (left > 200)
            left = 200;
        t.tv_sec = 0;
        t.tv_nsec = (long)left * 1000000L;
        nanosleep(&t, NULL);
    }
}

/* The next reconnection delay: 1 s doubling to 60 s, each with +-20% jitter (ms). */
static int64_t
next_backoff(struct daemon *d)
{
    unsigned char r = 0;
    int64_t ms;

    d->backoff_s = d->backoff_s == 0 ? 1 : d->backoff_s * 2;
    if (d->backoff_s > CERTO_AGENT_BACKOFF_MAX)
        d->backoff_s = CERTO_AGENT_BACKOFF_MAX;
    if (certo_rand_bytes(&r, 1) != CERTO_OK)
        r = 128;
    ms = (int64_t)d->backoff_s * 1000;
    return ms * 8 / 10 + ms * 4 / 10 * r / 255;
}

/* ---- reporting ---- */

/* POST /gateway/jobs/{id}/events; 'outcome' NULL: a "running" heartbeat. */
static certo_rc
report(struct certo_session *s, int64_t id, const char *state, const char *message,
       const struct certo_agent_outcome *outcome, int *status, struct certo_err *err)
{
    char path[96];
    json_t *body;
    certo_rc rc;

    snprintf(path, sizeof(path), "/gateway/jobs/%lld/events", (long long)id);
    body = json_pack("{s:s,s:s}", "state", state, "message", message);
    if (outcome != NULL) {
        json_object_set_new(
            body, "log",
            json_stringn(outcome->log.len > 0 ? (const char *)outcome->log.data : "",
                         outcome->log.len));
        if (outcome->result != NULL)
            json_object_set(body, "result", outcome->result);
    }
    rc = certo_session_call(s, "POST", path, body, NULL, status, err);
    json_decref(body);
    return rc;
}

/* ---- heartbeats ---- */

struct heartbeat {
    struct daemon *d;
    int64_t job;
    int every_s;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    bool lost; /* the server said the lease is gone */
};

static void *
heartbeat_main(void *arg)
{
    struct heartbeat *h = arg;
    struct timespec until;

    pthread_mutex_lock(&h->mu);
    while (!h->done) {
        struct certo_err err = {0};
        int status = 0;
        certo_rc rc;

        pthread_mutex_unlock(&h->mu);
        rc = report(h->d->hb, h->job, "running", "running", NULL, &status, &err);
        pthread_mutex_lock(&h->mu);
        if (rc != CERTO_OK && (status == 404 || status == 409) && !h->lost) {
            char ids[32];
            snprintf(ids, sizeof(ids), "%lld", (long long)h->job);
            h->lost = true;
            pthread_mutex_unlock(&h->mu);
            logfmt("warn", "lease lost", "job", ids, NULL);
            pthread_mutex_lock(&h->mu);
        }
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += h->every_s;
        while (!h->done) {
            if (pthread_cond_timedwait(&h->cv, &h->mu, &until) == ETIMEDOUT)
                break;
        }
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

/* ---- one job ---- */

static void
json_wipe_member(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    if (json_is_string(v))
        OPENSSL_cleanse((char *)(uintptr_t)json_string_value(v), json_string_length(v));
}

static certo_rc
run_job(struct daemon *d, json_t *job, struct certo_err *err)
{
    struct certo_agent_outcome out;
    struct heartbeat h = {.d = d};
    pthread_t thread;
    sigset_t all, old;
    bool threaded = false;
    int64_t id = (int64_t)json_integer_value(json_object_get(job, "id"));
    int lease = (int)json_integer_value(json_object_get(job, "leaseSeconds"));
    const char *kind = json_string_value(json_object_get(job, "kind"));
    const char *ep = json_string_value(json_object_get(job, "endpoint"));
    char ids[32], attempt[32];
    const char *state;
    certo_rc rc = CERTO_OK;

    if (id <= 0)
        return certo_err_set(err, CERTO_EREMOTE, WHERE, "jobs/next: a job without an id");
    snprintf(ids, sizeof(ids), "%lld", (long long)id);
    snprintf(attempt, sizeof(attempt), "%lld",
             (long long)json_integer_value(json_object_get(job, "attempt")));
    logfmt("info", "job started", "job", ids, "kind", kind != NULL ? kind : "?", "endpoint",
           ep != NULL ? ep : "-", "attempt", attempt, NULL);
    if (lease <= 0)
        lease = LEASE_DEFAULT;
    h.job = id;
    h.every_s = d->o->heartbeat_s > 0 ? d->o->heartbeat_s : (lease / 3 > 0 ? lease / 3 : 1);
    pthread_mutex_init(&h.mu, NULL);
    pthread_cond_init(&h.cv, NULL);
    rc = certo_agent_connect(&d->hb, &d->id, CERTO_CLIENT_TIMEOUT_MS, NULL, NULL, err);
    if (rc == CERTO_OK) {
        /* The signals stay with the main thread. */
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        threaded = pthread_create(&thread, NULL, heartbeat_main, &h) == 0;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    if (!threaded)
        logfmt("warn", "no heartbeats for this job", "job", ids, "error",
               rc != CERTO_OK ? err_text(rc, err) : "thread", NULL);
    certo_err_clear(err);
    rc = CERTO_OK;

    certo_agent_job_run(&out, d->reg, d->s, job);
    json_wipe_member(json_object_get(job, "params"), "key");

    if (threaded) {
        pthread_mutex_lock(&h.mu);
        h.done = true;
        pthread_cond_signal(&h.cv);
        pthread_mutex_unlock(&h.mu);
        pthread_join(thread, NULL);
    }
    certo_session_close(d->hb);
    d->hb = NULL;
    pthread_cond_destroy(&h.cv);
    pthread_mutex_destroy(&h.mu);

    state = out.succeeded ? "succeeded" : "failed";
    for (int i = 0; i < REPORT_TRIES; i++) {
        struct certo_err e = {0};
        int status = 0;
        rc = report(d->s, id, state, out.message, &out, &status, &e);
        if (rc == CERTO_OK)
            break;
        if (status == 404 || status == 409) {
            logfmt("warn", status == 404 ? "lease lost" : "job already ended", "job", ids,
                   "outcome", state, NULL);
            rc = CERTO_OK;
            goto out;
        }
        if (status >= 400 && status < 500) {
            logfmt("error", "outcome refused", "job", ids, "error", err_text(rc, &e), NULL);
            rc = CERTO_OK;
            goto out;
        }
        logfmt("warn", "outcome not delivered", "job", ids, "error", err_text(rc, &e), NULL);
        /* Not stopped by a stop request: the outcome of the job in hand is due. */
        {
            struct timespec t = {.tv_sec = 1 << i, .tv_nsec = 0};
            nanosleep(&t, NULL);
        }
    }
    if (rc != CERTO_OK) {
        /* The lease runs out and the job is queued again: running it again is harmless. */
        logfmt("error", "outcome lost", "job", ids, NULL);
        rc = CERTO_OK;
        goto out;
    }
    logfmt(out.succeeded ? "info" : "warn", "job finished", "job", ids, "state", state, "message",
           out.message, NULL);
out:
    certo_agent_outcome_dispose(&out);
    return rc;
}

/* ---- the loop ---- */

certo_rc
certo_agent_run(const struct certo_agent_run_opts *o, struct certo_err *err)
{
    struct daemon d = {.o = o};
    char path[64], wait_text[16];
    certo_rc rc;

    CERTO_ASSERT(o->wait_s >= 0 && o->wait_s <= CERTO_AGENT_WAIT_MAX);
    rc = certo_agent_load(&d.id, o->dir, true, err);
    if (rc == CERTO_OK)
        rc = certo_registry_open(&d.reg, o->dir, err);
    if (rc == CERTO_OK)
        rc = certo_agent_connect(&d.s, &d.id, o->wait_s * 1000 + CALL_SLACK_MS, stop_requested, &d,
                                 err);
    if (rc != CERTO_OK)
        goto out;
    snprintf(path, sizeof(path), "/gateway/jobs/next?wait=%d", o->wait_s);
    snprintf(wait_text, sizeof(wait_text), "%d", o->wait_s);
    logfmt("info", "starting", "server", d.id.server, "gateway", d.id.name, "wait", wait_text,
           NULL);
    while (!stop_requested(&d)) {
        struct certo_err e = {0};
        json_t *job = NULL;
        int status = 0;

        rc = certo_session_call(d.s, "GET", path, NULL, &job, &status, &e);
        if (rc == CERTO_EAGAIN) { /* stopped while waiting */
            rc = CERTO_OK;
            break;
        }
        if (rc != CERTO_OK && (status == 401 || status == 403)) {
            logfmt("error", "refused by the server", "error", err_text(rc, &e), NULL);
            rc = certo_err_set(err, CERTO_EAUTH, WHERE, "%s", err_text(rc, &e));
            goto out;
        }
        if (rc != CERTO_OK) {
            char retry[32];
            int64_t ms;
            if (o->once) {
                logfmt("error", "disconnected", "error", err_text(rc, &e), NULL);
                rc = certo_err_set(err, rc, WHERE, "%s", err_text(rc, &e));
                goto out;
            }
            ms = next_backoff(&d);
            snprintf(retry, sizeof(retry), "%lld.%03llds", (long long)(ms / 1000),
                     (long long)(ms % 1000));
            if (d.connected || !d.down_logged)
                logfmt(status >= 400 ? "error" : "warn", "disconnected", "error", err_text(rc, &e),
                       "retry_in", retry, NULL);
            d.connected = false;
            d.down_logged = true;
            nap(&d, ms);
            continue;
        }
        if (!d.connected) {
            logfmt("info", "connected", "server", d.id.server, NULL);
            d.connected = true;
            d.down_logged = false;
        }
        d.backoff_s = 0;
        if (status == 200 && job != NULL) {
            rc = run_job(&d, job, err);
            json_decref(job);
            if (rc != CERTO_OK || o->once)
                goto out;
            continue;
        }
        json_decref(job);
        if (o->once)
            break;
    }
    rc = CERTO_OK;
out:
    if (d.s != NULL)
        logfmt("info", "stopped", NULL);
    certo_session_close(d.s);
    certo_registry_close(d.reg);
    certo_agent_dispose(&d.id);
    return rc;
}
