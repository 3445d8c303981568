/* SPDX-License-Identifier: Apache-2.0 */
/* layer: client */
/*
 * The gateway joining a server (issue 8, the gateway side): enrollment with a one-time
 * token, the enrolled identity kept in the gateway's data directory, the endpoint sync,
 * and the job loop that takes the server's jobs over mutual TLS and runs them through
 * the gateway library (registry, nodes, install).
 *
 * What enrollment stores, in DATA/agent.json (0600, replaced atomically): the server's
 * API URL, the SHA-256 fingerprint the server is pinned to from then on, the gateway's
 * ID and name, its client certificate and the gateway CA certificate (PEM), and its EC
 * P-256 private key sealed with AES-256-GCM under the registry's secret key
 * (DATA/secret.key or CERTO_SECRET_KEY, certo_seal). The key is unsealed into memory
 * only and reaches libcurl from there; no clear key file is ever written.
 *
 * Threading: an agent value is used by one thread at a time; certo_agent_run uses one
 * extra thread of its own for heartbeats.
 */
#ifndef CERTO_AGENT_H
#define CERTO_AGENT_H

#include <signal.h>
#include <stdint.h>

#include <jansson.h>

#include "certo/buf.h"
#include "certo/client.h"
#include "certo/err.h"
#include "certo/registry.h"
#include "certo/secret.h"

#define CERTO_AGENT_FILE        "agent.json" /* in the data directory */
#define CERTO_AGENT_WAIT        25           /* seconds of a long poll, by default */
#define CERTO_AGENT_WAIT_MAX    30
#define CERTO_AGENT_LOG_MAX     (64 * 1024) /* bytes of a job's log sent to the server */
#define CERTO_AGENT_BACKOFF_MAX 60          /* seconds between reconnection attempts, at most */

/** An enrolled gateway. Strings owned; release with certo_agent_dispose. */
struct certo_agent {
    char *server; /* the API base, "https://HOST:PORT/vco/api" */
    char pin[96]; /* the server certificate's SHA-256, "AB:CD:..." */
    int64_t gateway_id;
    char *name;     /* the gateway's name (its certificate's CN) */
    char *cert_pem; /* the client certificate */
    char *ca_pem;   /* the gateway CA that issued it */
    int64_t enrolled_at;
    struct certo_secret *key_pem; /* the private key (PEM); NULL unless loaded with it */
};

/** Releases what 'a' holds (the key is wiped). NULL ok. */
void certo_agent_dispose(struct certo_agent *a);

/** How to enroll. Every member borrowed. */
struct certo_agent_enroll_opts {
    const char *url;                  /* the server, https://HOST:PORT[/vco/api] */
    const struct certo_secret *token; /* the one-time enrollment token (64 hex digits) */
    const char *fingerprint;          /* the server's SHA-256, or: */
    const char *server_ca;            /* a PEM file the server's certificate must verify
                                         against; its fingerprint is then pinned */
    const char *name_check;           /* NULL, or the name the certificate must carry */
    bool replace;                     /* replace an earlier enrollment */
};

/**
 * Enrolls the gateway whose data directory is 'dir': makes an EC P-256 key and a CSR,
 * sends them with the token to POST /gateways/enroll over a verified connection (a pin
 * or a CA file is required), checks the answer (the certificate is for this key, issued
 * by the CA it came with, named 'name_check' when given) and stores the identity in
 * DATA/agent.json in one atomic replace. Nothing is stored on any failure.
 * 'out' (may be NULL) receives the identity, without the key.
 * @return CERTO_OK; CERTO_EINVAL (options, neither pin nor CA); CERTO_EEXIST (enrolled
 *         already, and not 'replace'); CERTO_EAUTH (the server refused the token);
 *         CERTO_ETLS (the server failed verification: nothing was sent); CERTO_ENET;
 *         CERTO_EREMOTE (an answer that does not fit).
 */
CERTO_MUST_CHECK certo_rc certo_agent_enroll(struct certo_agent *out, const char *dir,
                                             const struct certo_agent_enroll_opts *o,
                                             struct certo_err *err);

/**
 * Loads the enrolled identity of 'dir'; with 'with_key' the key is unsealed too.
 * @return CERTO_OK; CERTO_ENOTFOUND (not enrolled); CERTO_EPARSE (a damaged file);
 *         CERTO_EAUTH (the secret key does not open the sealed key).
 */
CERTO_MUST_CHECK certo_rc certo_agent_load(struct certo_agent *out, const char *dir, bool with_key,
                                           struct certo_err *err);

/**
 * Opens a mutual-TLS session with the agent's server: the client certificate and the
 * key from memory, the server pinned. 'a' must have been loaded with its key.
 * 'timeout_ms' bounds each call (0: the client default); 'stop' (may be NULL) abandons a
 * waiting call (certo_session_opts).
 */
CERTO_MUST_CHECK certo_rc certo_agent_connect(struct certo_session **out,
                                              const struct certo_agent *a, int timeout_ms,
                                              bool (*stop)(void *arg), void *stop_arg,
                                              struct certo_err *err);

/**
 * The endpoint list a sync sends: {"endpoints": [{"name", "type", "transport",
 * "summary"}]}, where transport is local, ssh, winrm or rest and summary the endpoint's
 * file, configuration or host, never a credential.
 */
CERTO_MUST_CHECK certo_rc certo_agent_endpoints(json_t **out, struct certo_registry *reg,
                                                struct certo_err *err);

/**
 * Sends the registry's endpoints to the server (POST /gateway/sync).
 * @param out the server's answer {"added", "removed", "total"} (json_decref).
 */
CERTO_MUST_CHECK certo_rc certo_agent_sync(json_t **out, struct certo_session *s,
                                           struct certo_registry *reg, struct certo_err *err);

/** The outcome of one job, as reported to the server. */
struct certo_agent_outcome {
    bool succeeded;
    char message[256];    /* one line */
    struct certo_buf log; /* text, at most CERTO_AGENT_LOG_MAX bytes */
    json_t *result;       /* owned; NULL for a failure */
};

/** Releases the log and the result. */
void certo_agent_outcome_dispose(struct certo_agent_outcome *o);

/**
 * Runs one job ({"id", "kind", "endpoint", "params", ...} as jobs/next gives it) through
 * the gateway library: "sync" (through 's'), "discover", "restart" and "install" on the
 * endpoint named. Every kind is safe to run again. A failure of the job is an outcome,
 * not an error: 'out' is always filled (dispose it).
 */
void certo_agent_job_run(struct certo_agent_outcome *out, struct certo_registry *reg,
                         struct certo_session *s, const json_t *job);

/** The daemon's options. */
struct certo_agent_run_opts {
    const char *dir;             /* the data directory */
    int wait_s;                  /* long-poll wait, 0..CERTO_AGENT_WAIT_MAX */
    bool once;                   /* take at most one job, then return */
    int heartbeat_s;             /* seconds between "running" reports; 0: a third of the lease */
    volatile sig_atomic_t *stop; /* set by a signal handler: finish the job in hand, return */
};

/**
 * The gateway daemon: long-polls GET /gateway/jobs/next, runs each job (heartbeats on a
 * timer thread while it runs), reports "succeeded" or "failed" with a message and the
 * log, and reconnects with exponential backoff (1 s to 60 s, with jitter) while the
 * server cannot be reached. One logfmt line per state change on stderr.
 * @return CERTO_OK when stopped, or after one poll with 'once'; CERTO_ENOTFOUND (not
 *         enrolled); CERTO_EAUTH (the server refuses this gateway: revoked);
 *         with 'once', the failure of its poll.
 */
CERTO_MUST_CHECK certo_rc certo_agent_run(const struct certo_agent_run_opts *o,
                                          struct certo_err *err);

#endif
