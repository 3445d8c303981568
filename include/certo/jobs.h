/* SPDX-License-Identifier: Apache-2.0 */
/* layer: server */
/*
 * The job queue between the server and its gateways (issue 8): a job is queued for one
 * gateway, leased by it (exactly once: the claim is one write transaction), kept alive by
 * heartbeats, and ended by the gateway with succeeded or failed. A lease that runs out
 * (the gateway died) puts the job back in the queue, so it is taken up again when the
 * gateway returns; every job step on the gateway is idempotent. Every state change is an
 * event with its message and log (the job's history).
 * Threading: a database handle belongs to one thread.
 */
#ifndef CERTO_JOBS_H
#define CERTO_JOBS_H

#include <stdint.h>
#include <time.h>

#include "certo/accounts.h"
#include "certo/err.h"
#include "certo/store.h"

#define CERTO_JOB_LEASE_S    120         /* default seconds a lease lasts without a heartbeat */
#define CERTO_JOB_LOG_MAX    (64 * 1024) /* bytes of log kept per event */
#define CERTO_JOB_PARAMS_MAX (64 * 1024) /* bytes of params / result JSON */

enum certo_job_state {
    CERTO_JOB_QUEUED = 0,
    CERTO_JOB_LEASED,  /* taken by its gateway, not yet reported */
    CERTO_JOB_RUNNING, /* the gateway reported it running (heartbeats) */
    CERTO_JOB_SUCCEEDED,
    CERTO_JOB_FAILED,
};

/** "queued", "leased", "running", "succeeded", "failed". */
const char *certo_job_state_name(enum certo_job_state s);

struct certo_job {
    int64_t id;
    int64_t gateway_id;
    int64_t endpoint_id; /* 0: a job of the gateway itself (sync) */
    char kind[16];       /* sync, discover, restart */
    char *params;        /* owned JSON text ("{}" when none) */
    enum certo_job_state state;
    int64_t attempt;     /* leases so far */
    int64_t lease_until; /* 0 unless leased or running */
    int64_t created_by;  /* user id; 0: the system */
    int64_t created_at;
    int64_t updated_at;
    int64_t finished_at; /* 0 while not ended */
    char message[256];   /* the last event's message */
    char *result;        /* owned JSON text, NULL until it succeeds */
    int64_t org_id;      /* of its endpoint at queue time (0: none) */
    int64_t dept_id;
};

/** Releases what 'j' holds (not 'j'). */
void certo_job_dispose(struct certo_job *j);

/** One event of a job's history. Strings owned; release with certo_job_events_dispose. */
struct certo_job_event {
    int64_t at;
    enum certo_job_state state;
    char *message;
    char *log;
};

/**
 * Queues a job. 'params' (borrowed JSON text, may be NULL) at most CERTO_JOB_PARAMS_MAX.
 * @return CERTO_OK with *id; CERTO_EINVAL (kind); CERTO_ETOOBIG.
 */
CERTO_MUST_CHECK certo_rc certo_job_add(struct certo_db *db, int64_t gateway_id,
                                        int64_t endpoint_id, const char *kind, const char *params,
                                        int64_t created_by, time_t now, int64_t *id,
                                        struct certo_err *err);
/**
 * Leases the oldest queued job of 'gateway_id' for 'lease_s' seconds (after putting back
 * the jobs whose lease ran out). One write transaction, so no job is leased twice.
 * @return CERTO_OK with *out filled (release with certo_job_dispose); CERTO_ENOTFOUND
 *         (no job; no message).
 */
CERTO_MUST_CHECK certo_rc certo_job_claim(struct certo_db *db, int64_t gateway_id, time_t now,
                                          int lease_s, struct certo_job *out,
                                          struct certo_err *err);
/**
 * Records an event reported by 'gateway_id': RUNNING extends the lease by 'lease_s', SUCCEEDED and
 * FAILED end the job ('result' JSON text for SUCCEEDED, may be NULL).
 * @return CERTO_OK; CERTO_ENOTFOUND (no such job leased to this gateway, or its lease
 *         ran out); CERTO_ECONFLICT (it already ended); CERTO_EINVAL (state).
 */
CERTO_MUST_CHECK certo_rc certo_job_report(struct certo_db *db, int64_t gateway_id, int64_t id,
                                           enum certo_job_state state, const char *message,
                                           const char *log, const char *result, time_t now,
                                           int lease_s, struct certo_err *err);
/** @return CERTO_OK; CERTO_ENOTFOUND. */
CERTO_MUST_CHECK certo_rc certo_job_get(struct certo_db *db, int64_t id, struct certo_job *out,
                                        struct certo_err *err);
/**
 * Jobs, newest first; org_id > 0 / dept_id > 0 narrow to a scope (by the endpoint's
 * delegation when the job was queued). 'items' holds page->max; dispose each.
 */
CERTO_MUST_CHECK certo_rc certo_job_list(struct certo_db *db, int64_t org_id, int64_t dept_id,
                                         struct certo_page *page, struct certo_job *items,
                                         struct certo_err *err);
/** The history of a job, oldest first. *out owned (certo_job_events_dispose). */
CERTO_MUST_CHECK certo_rc certo_job_events(struct certo_db *db, int64_t id,
                                           struct certo_job_event **out, size_t *n,
                                           struct certo_err *err);
void certo_job_events_dispose(struct certo_job_event *ev, size_t n);
/**
 * The latest succeeded job of 'kind' for an endpoint.
 * @return CERTO_OK; CERTO_ENOTFOUND.
 */
CERTO_MUST_CHECK certo_rc certo_job_latest(struct certo_db *db, int64_t endpoint_id,
                                           const char *kind, struct certo_job *out,
                                           struct certo_err *err);

/**
 * The install jobs of a certificate of the inventory, newest first (where it was, or is
 * being, installed). *out owned: dispose each job, then certo_free the array.
 */
CERTO_MUST_CHECK certo_rc certo_job_installs(struct certo_db *db, int64_t certificate_id,
                                             struct certo_job **out, size_t *n,
                                             struct certo_err *err);

#endif
