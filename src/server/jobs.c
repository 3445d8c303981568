/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The job queue (migration 6). A claim runs in one write transaction — put back the
 * gateway's jobs whose lease ran out, then lease the oldest queued one — and write
 * transactions take turns on both backends (SQLite BEGIN IMMEDIATE, an advisory lock on
 * PostgreSQL), so a job is never leased twice. Reports are accepted only from the
 * gateway holding a live lease; a job ends once.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "certo/jobs.h"
#include "certo/mem.h"
#include "server/sql.h"

#define WHERE "server.jobs"

static const char *const state_names[] = {
    [CERTO_JOB_QUEUED] = "queued",   [CERTO_JOB_LEASED] = "leased",
    [CERTO_JOB_RUNNING] = "running", [CERTO_JOB_SUCCEEDED] = "succeeded",
    [CERTO_JOB_FAILED] = "failed",
};

static const char *const kinds[] = {"sync", "discover", "restart", "install"};

const char *
certo_job_state_name(enum certo_job_state s)
{
    return (size_t)s < CERTO_ARRAY_LEN(state_names) ? state_names[s] : "?";
}

static enum certo_job_state
state_of(const char *s)
{
    for (size_t i = 0; s != NULL && i < CERTO_ARRAY_LEN(state_names); i++) {
        if (strcmp(s, state_names[i]) == 0)
            return (enum certo_job_state)i;
    }
    return CERTO_JOB_FAILED;
}

void
certo_job_dispose(struct certo_job *j)
{
    if (j == NULL)
        return;
    certo_free(j->params);
    certo_free(j->result);
    memset(j, 0, sizeof(*j));
}

void
certo_job_events_dispose(struct certo_job_event *ev, size_t n)
{
    for (size_t i = 0; ev != NULL && i < n; i++) {
        certo_free(ev[i].message);
        certo_free(ev[i].log);
    }
    certo_free(ev);
}

static certo_rc
add_event(struct certo_db *db, int64_t id, enum certo_job_state state, const char *message,
          const char *log, time_t now, struct certo_err *err)
{
    return sql_run(db, err,
                   "INSERT INTO job_events (job_id, at, state, message, log)"
                   " VALUES ($1, $2, $3, $4, $5)",
                   "iitt"
                   "t",
                   id, (int64_t)now, certo_job_state_name(state), message, log);
}

certo_rc
certo_job_add(struct certo_db *db, int64_t gateway_id, int64_t endpoint_id, const char *kind,
              const char *params, int64_t created_by, time_t now, int64_t *id,
              struct certo_err *err)
{
    int64_t org = 0, dept = 0, cert = 0;
    bool known = false;
    json_t *doc;
    certo_rc rc;

    for (size_t i = 0; i < CERTO_ARRAY_LEN(kinds); i++)
        known = known || strcmp(kind, kinds[i]) == 0;
    if (!known)
        return certo_err_set(err, CERTO_EINVAL, WHERE, "kind: sync, discover, restart or install");
    if (params != NULL && strlen(params) > CERTO_JOB_PARAMS_MAX)
        return certo_err_set(err, CERTO_ETOOBIG, WHERE, "params: at most %d bytes",
                             CERTO_JOB_PARAMS_MAX);
    /* An install job names its certificate: kept in a column, for "where is it installed". */
    doc = params != NULL ? json_loads(params, 0, NULL) : NULL;
    if (json_is_integer(json_object_get(doc, "certificateId")))
        cert = json_integer_value(json_object_get(doc, "certificateId"));
    json_decref(doc);
    rc = certo_db_begin(db, true, err);
    if (rc != CERTO_OK)
        return rc;
    if (endpoint_id != 0) {
        rc = sql_scalar(&org, 0, db, err, "SELECT org_id FROM endpoints WHERE id = $1", "i",
                        endpoint_id);
        if (rc == CERTO_OK)
            rc = sql_scalar(&dept, 0, db, err, "SELECT dept_id FROM endpoints WHERE id = $1", "i",
                            endpoint_id);
    }
    if (rc == CERTO_OK)
        rc =
            sql_scalar(id, 0, db, err,
                       "INSERT INTO jobs (gateway_id, endpoint_id, kind, params, state, created_by,"
                       " created_at, updated_at, org_id, dept_id, certificate_id)"
                       " VALUES ($1, $2, $3, $4, 'queued', $5, $6, $6, $7, $8, $9) RETURNING id",
                       "izttzizzz", gateway_id, endpoint_id, kind, params != NULL ? params : "{}",
                       created_by, (int64_t)now, org, dept, cert);
    if (rc == CERTO_OK)
        rc = add_event(db, *id, CERTO_JOB_QUEUED, "queued", NULL, now, err);
    return sql_finish_tx(db, rc, err);
}

#define JOB_COLS                                                                                   \
    "id, gateway_id, endpoint_id, kind, params, state, attempt, lease_until, created_by,"          \
    " created_at, updated_at, finished_at, message, result, org_id, dept_id"

static void
job_from(struct certo_job *j, struct certo_stmt *st)
{
    const char *result = certo_stmt_text(st, 13);

    j->id = certo_stmt_int(st, 0);
    j->gateway_id = certo_stmt_int(st, 1);
    j->endpoint_id = certo_stmt_int(st, 2);
    sql_copy(j->kind, sizeof(j->kind), certo_stmt_text(st, 3));
    j->params = certo_strdup(certo_stmt_text(st, 4) != NULL ? certo_stmt_text(st, 4) : "{}");
    j->state = state_of(certo_stmt_text(st, 5));
    j->attempt = certo_stmt_int(st, 6);
    j->lease_until = certo_stmt_int(st, 7);
    j->created_by = certo_stmt_int(st, 8);
    j->created_at = certo_stmt_int(st, 9);
    j->updated_at = certo_stmt_int(st, 10);
    j->finished_at = certo_stmt_int(st, 11);
    sql_copy(j->message, sizeof(j->message), certo_stmt_text(st, 12));
    j->result = result != NULL ? certo_strdup(result) : NULL;
    j->org_id = certo_stmt_int(st, 14);
    j->dept_id = certo_stmt_int(st, 15);
}

certo_rc
certo_job_get(struct certo_db *db, int64_t id, struct certo_job *out, struct certo_err *err)
{
    struct certo_stmt *st = NULL;
    bool row = false;
    certo_rc rc = sql_query(&st, db, err, "SELECT " JOB_COLS " FROM jobs WHERE id = $1", "i", id);

    memset(out, 0, sizeof(*out));
    if (rc == CERTO_OK)
        rc = certo_stmt_step(st, &row, err);
    if (rc == CERTO_OK && !row)
        rc = certo_err_set(err, CERTO_ENOTFOUND, WHERE, "no such job");
    if (rc == CERTO_OK)
        job_from(out, st);
    certo_stmt_free(st);
    return rc;
}

certo_rc
certo_job_claim(struct certo_db *db, int64_t gateway_id, time_t now, int lease_s,
                struct certo_job *out, struct certo_err *err)
{
    int64_t id = 0;
    certo_rc rc;

    memset(out, 0, sizeof(*out));
    /*
     * Gateways poll often and mostly find nothing: a plain read first, so an empty poll
     * takes no write lock (a write transaction is what every other writer waits for).
     */
    rc = sql_scalar(&id, 0, db, err,
                    "SELECT id FROM jobs WHERE gateway_id = $1 AND (state = 'queued' OR"
                    " (state IN ('leased', 'running') AND lease_until < $2)) LIMIT 1",
                    "ii", gateway_id, (int64_t)now);
    if (rc != CERTO_OK)
        return rc;
    if (id == 0)
        return CERTO_ENOTFOUND;
    id = 0;
    rc = certo_db_begin(db, true, err);
    if (rc != CERTO_OK)
        return rc;
    /* A lease that ran out: the gateway died or lost the server; queue the job again. */
    rc = sql_run(db, err,
                 "INSERT INTO job_events (job_id, at, state, message)"
                 " SELECT id, $1, 'queued', 'the lease ran out; queued again' FROM jobs"
                 " WHERE gateway_id = $2 AND state IN ('leased', 'running') AND lease_until < $1",
                 "ii", (int64_t)now, gateway_id);
    if (rc == CERTO_OK)
        rc = sql_run(db, err,
                     "UPDATE jobs SET state = 'queued', lease_until = NULL, updated_at = $1,"
                     " message = 'the lease ran out; queued again'"
                     " WHERE gateway_id = $2 AND state IN ('leased', 'running') AND"
                     " lease_until < $1",
                     "ii", (int64_t)now, gateway_id);
    if (rc == CERTO_OK)
        rc = sql_scalar(&id, 0, db, err,
                        "SELECT id FROM jobs WHERE gateway_id = $1 AND state = 'queued'"
                        " ORDER BY id LIMIT 1",
                        "i", gateway_id);
    if (rc == CERTO_OK && id != 0)
        rc = sql_run(db, err,
                     "UPDATE jobs SET state = 'leased', attempt = attempt + 1, lease_until = $1,"
                     " updated_at = $2, message = 'leased by its gateway' WHERE id = $3",
                     "iii", (int64_t)now + lease_s, (int64_t)now, id);
    if (rc == CERTO_OK && id != 0)
        rc = add_event(db, id, CERTO_JOB_LEASED, "leased by its gateway", NULL, now, err);
    if (rc == CERTO_OK && id != 0)
        rc = certo_job_get(db, id, out, err);
    rc = sql_finish_tx(db, rc, err);
    if (rc == CERTO_OK && id == 0)
        return CERTO_ENOTFOUND;
    if (rc != CERTO_OK)
        certo_job_dispose(out);
    return rc;
}

certo_rc
certo_job_report(struct certo_db *db, int64_t gateway_id, int64_t id, enum certo_job_state state,
                 const char *message, const char *log, const char *result, time_t now, int lease_s,
                 struct certo_err *err)
{
    struct certo_job j;
    struct certo_err ignored = {0};
    bool end = state == CERTO_JOB_SUCCEEDED || state == CERTO_JOB_FAILED;
    certo_rc rc;

    if (state != CERTO_JOB_RUNNING && !end)
        return certo_err_set(err, CERTO_EINVAL, WHERE, "state: running, succeeded or failed");
    rc = certo_db_begin(db, true, err);
    if (rc != CERTO_OK)
        return rc;
    rc = certo_job_get(db, id, &j, &ignored);
    if (rc != CERTO_OK || j.gateway_id != gateway_id)
        rc = certo_err_set(err, CERTO_ENOTFOUND, WHERE, "no such job for this gateway");
    else if (j.state == CERTO_JOB_SUCCEEDED || j.state == CERTO_JOB_FAILED)
        rc = certo_err_set(err, CERTO_ECONFLICT, WHERE, "the job already ended (%s)",
                           certo_job_state_name(j.state));
    else if (j.state == CERTO_JOB_QUEUED || j.lease_until < (int64_t)now)
        rc = certo_err_set(err, CERTO_ENOTFOUND, WHERE,
                           "the job is not leased to this gateway (the lease ran out)");
    if (rc == CERTO_OK && end)
        rc = sql_run(db, err,
                     "UPDATE jobs SET state = $1, lease_until = NULL, updated_at = $2,"
                     " finished_at = $2, message = $3, result = $4 WHERE id = $5",
                     "tit"
                     "ti",
                     certo_job_state_name(state), (int64_t)now, message,
                     state == CERTO_JOB_SUCCEEDED ? result : NULL, id);
    else if (rc == CERTO_OK)
        rc = sql_run(db, err,
                     "UPDATE jobs SET state = 'running', lease_until = $1, updated_at = $2,"
                     " message = $3 WHERE id = $4",
                     "iiti", (int64_t)now + lease_s, (int64_t)now, message, id);
    if (rc == CERTO_OK)
        rc = add_event(db, id, state, message, log, now, err);
    certo_job_dispose(&j);
    return sql_finish_tx(db, rc, err);
}

certo_rc
certo_job_list(struct certo_db *db, int64_t org_id, int64_t dept_id, struct certo_page *page,
               struct certo_job *items, struct certo_err *err)
{
    static const char where[] = " WHERE ($1 = 0 OR org_id = $1) AND ($2 = 0 OR dept_id = $2)";
    struct certo_stmt *st = NULL;
    int64_t total = 0;
    bool row = false;
    char sql[512];
    certo_rc rc;

    snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM jobs%s", where);
    rc = sql_scalar(&total, 0, db, err, sql, "ii", org_id, dept_id);
    if (rc != CERTO_OK)
        return rc;
    sql_page_begin(page, total);
    snprintf(sql, sizeof(sql),
             "SELECT " JOB_COLS " FROM jobs%s ORDER BY id DESC LIMIT $3 OFFSET $4", where);
    rc = sql_query(&st, db, err, sql, "iiii", org_id, dept_id, page->max, page->start);
    while (rc == CERTO_OK && (rc = certo_stmt_step(st, &row, err)) == CERTO_OK && row)
        job_from(&items[page->n++], st);
    certo_stmt_free(st);
    return rc;
}

certo_rc
certo_job_events(struct certo_db *db, int64_t id, struct certo_job_event **out, size_t *n,
                 struct certo_err *err)
{
    struct certo_stmt *st = NULL;
    struct certo_job_event *ev = NULL;
    size_t cap = 0;
    bool row = false;
    certo_rc rc = sql_query(&st, db, err,
                            "SELECT at, state, message, log FROM job_events WHERE job_id = $1"
                            " ORDER BY id",
                            "i", id);

    *out = NULL;
    *n = 0;
    while (rc == CERTO_OK && (rc = certo_stmt_step(st, &row, err)) == CERTO_OK && row) {
        const char *m = certo_stmt_text(st, 2), *l = certo_stmt_text(st, 3);
        if (*n == cap) {
            cap = cap == 0 ? 8 : cap * 2;
            ev = certo_reallocarray(ev, cap, sizeof(*ev));
        }
        ev[*n].at = certo_stmt_int(st, 0);
        ev[*n].state = state_of(certo_stmt_text(st, 1));
        ev[*n].message = certo_strdup(m != NULL ? m : "");
        ev[*n].log = l != NULL ? certo_strdup(l) : NULL;
        (*n)++;
    }
    certo_stmt_free(st);
    if (rc != CERTO_OK) {
        certo_job_events_dispose(ev, *n);
        *n = 0;
        return rc;
    }
    *out = ev;
    return CERTO_OK;
}

certo_rc
certo_job_latest(struct certo_db *db, int64_t endpoint_id, const char *kind, struct certo_job *out,
                 struct certo_err *err)
{
    int64_t id = 0;
    certo_rc rc = sql_scalar(&id, 0, db, err,
                             "SELECT id FROM jobs WHERE endpoint_id = $1 AND kind = $2 AND"
                             " state = 'succeeded' ORDER BY finished_at DESC, id DESC LIMIT 1",
                             "it", endpoint_id, kind);

    memset(out, 0, sizeof(*out));
    if (rc == CERTO_OK && id == 0)
        return certo_err_set(err, CERTO_ENOTFOUND, WHERE, "no such job");
    return rc == CERTO_OK ? certo_job_get(db, id, out, err) : rc;
}

certo_rc
certo_job_installs(struct certo_db *db, int64_t certificate_id, struct certo_job **out, size_t *n,
                   struct certo_err *err)
{
    struct certo_stmt *st = NULL;
    struct certo_job *items = NULL;
    size_t cap = 0;
    bool row = false;
    certo_rc rc = sql_query(&st, db, err,
                            "SELECT " JOB_COLS " FROM jobs WHERE certificate_id = $1 AND"
                            " kind = 'install' ORDER BY id DESC",
                            "i", certificate_id);

    *out = NULL;
    *n = 0;
    while (rc == CERTO_OK && (rc = certo_stmt_step(st, &row, err)) == CERTO_OK && row) {
        if (*n == cap) {
            cap = cap == 0 ? 8 : cap * 2;
            items = certo_reallocarray(items, cap, sizeof(*items));
        }
        job_from(&items[(*n)++], st);
    }
    certo_stmt_free(st);
    if (rc != CERTO_OK) {
        for (size_t i = 0; i < *n; i++)
            certo_job_dispose(&items[i]);
        certo_free(items);
        *n = 0;
        return rc;
    }
    *out = items;
    return CERTO_OK;
}
