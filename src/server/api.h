/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to the server layer: the running server, one API request, the route table
 * and the helpers every route uses (JSON bodies with strict fields, pagination, links,
 * errors as {"error":{"code","message","field"}}), authentication and the access rules.
 * Everything runs on the event loop thread.
 */
#ifndef CERTO_SERVER_API_H
#define CERTO_SERVER_API_H

#include <stdint.h>
#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/ssl.h>

#include "certo/accounts.h"
#include "certo/gateways.h"
#include "certo/jobs.h"
#include "certo/jwt.h"
#include "certo/server.h"

#define API_PREFIX "/vco/api"
#define HOST_MAX   64
#define BASE_MAX   (HOST_MAX + 32)
#define ISS_MAX    80
#define PARAMS_MAX 4

/* Which logins the server accepts (--auth). */
enum auth_mode {
    AUTH_PASSWORD = 1, /* built-in users and passwords */
    AUTH_EXTERNAL = 2, /* tokens of an issuer in the trust store (SSO) */
};

struct server {
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *bound; /* NULL once draining */
    SSL_CTX *ctx;                      /* owned; each new connection takes a reference */
    struct certo_db *db;
    const char *dir;    /* borrowed from the options */
    const char *db_url; /* borrowed from the options; NULL: DATA/server.db */
    char host[HOST_MAX];
    unsigned port;
    char base_url[BASE_MAX];
    unsigned auth_modes; /* enum auth_mode bits */
    int token_ttl;       /* seconds a principal token lives by default */
    int job_lease;       /* seconds a gateway's lease on a job lasts without a heartbeat */
    /* The identity that signs tokens; replaced together with ctx on reload. */
    EVP_PKEY *sign_key;
    X509 *sign_cert;
    char x5t[CERTO_JWT_X5T_LEN + 1]; /* of sign_cert */
    char iss[ISS_MAX];          /* "urn:certo:server:<key hash>", also the actor of delegations */
    struct auth_seen *seen;     /* owned: signatures already verified (auth.c); NULL: empty */
    X509 *gateway_ca;           /* owned: the CA of gateway client certificates */
    char listener_fp[96];       /* SHA-256 of the certificate the listener serves */
    struct job_waiter *waiters; /* owned: parked GET /gateway/jobs/next (routes_jobs.c) */
    struct event *wait_timer;   /* owned: polls for the waiters' jobs; NULL until needed */
    struct local_gw *local;     /* owned: the embedded local gateway; NULL without one */
    struct event *sig[3];
    struct event *drain_timer;
    int inflight;
    bool draining;
    int64_t drain_deadline;
};

/* The authenticated caller of a request. */
struct api_caller {
    bool authenticated;
    struct certo_user user;
    char jti[CERTO_JTI_LEN + 1]; /* of the principal token; empty for Basic */
    bool bound;                  /* the token is bound to this connection's certificate */
    bool external;               /* from a trusted external issuer */
    /* VCOAuthorization: a delegate token for this caller, verified. */
    bool has_delegate;
    char delegate_aud[256];
    char delegate_scope[256];
    char delegate_jti[CERTO_JTI_LEN + 1];
};

struct api_req {
    struct server *s;
    struct evhttp_request *req;
    enum evhttp_cmd_type method;
    const char *path;
    char *params[PARAMS_MAX]; /* decoded {x} segments, owned */
    size_t n_params;
    struct evkeyvalq query; /* owned */
    char base[BASE_MAX];    /* scheme://host:port for links */
    struct api_caller caller;
    X509 *peer; /* the client certificate of this connection, borrowed; may be NULL */
    struct certo_gateway gateway; /* API_GATEWAY routes: the calling gateway */
    bool parked;                  /* a long poll: answered later, not by handle() */
    json_t *body;                 /* parsed request body, owned, NULL until api_body() */
    /* The response: set by api_ok / api_fail. */
    int status;
    json_t *out;
    const char *allow; /* Allow header for 405 */
};

enum api_auth {
    API_PUBLIC = 0, /* no caller needed */
    API_AUTH,       /* a caller needed */
    API_GATEWAY,    /* an enrolled gateway's client certificate needed */
};

struct api_route {
    unsigned methods;    /* EVHTTP_REQ_* bits */
    const char *pattern; /* "/vco/api/users/{}" */
    enum api_auth auth;
    void (*fn)(struct api_req *r);
    const char *summary; /* one line for the OpenAPI description */
};

/* ---- responses (each consumes 'doc'; the first call wins) ---- */

void api_ok(struct api_req *r, int status, json_t *doc);
/* A JSON error; 'field' names the offending field or option, or NULL. */
void api_fail(struct api_req *r, int status, const char *code, const char *field, const char *fmt,
              ...) CERTO_PRINTF(5, 6);
/* Maps a certo_rc from a library call to a status and code, with the library's message. */
void api_fail_rc(struct api_req *r, certo_rc rc, const struct certo_err *err, const char *field);
bool api_done(const struct api_req *r);

/* ---- request bodies ---- */

/*
 * Parses the body as a JSON object (application/json), or for 'form_ok' also
 * application/x-www-form-urlencoded (every value a string). Answers 400/415 itself
 * and returns NULL on failure. Borrowed; freed with the request.
 */
json_t *api_body(struct api_req *r, bool form_ok);
/* Refuses (400, field named) a member of 'obj' not listed in 'allowed' (NULL-ended). */
bool api_fields(struct api_req *r, json_t *obj, const char *const *allowed);
/*
 * Reads a string member. Missing: *out NULL, refused when 'required'. Wrong type or
 * longer than 'max' bytes: 400 naming the field. Returns false once answered.
 */
bool api_str(struct api_req *r, json_t *obj, const char *key, bool required, size_t max,
             const char **out);
/* Reads an integer member (JSON integer, > 0). Missing: *out 0 unless required. */
bool api_id(struct api_req *r, json_t *obj, const char *key, bool required, int64_t *out);
/* Reads a boolean member; missing leaves *out. */
bool api_bool(struct api_req *r, json_t *obj, const char *key, bool *out);

/* ---- paths, queries, pagination, links ---- */

/*
 * Matches 'path' against a route 'pattern' where "{}" stands for one non-empty segment;
 * on a match the decoded segments are in params[0..*n_params) (owned by the caller).
 */
bool api_match(const char *pattern, const char *path, char *params[PARAMS_MAX], size_t *n_params);
/* Path parameter 'i' as a positive id; answers 404 and returns false otherwise. */
bool api_param_id(struct api_req *r, size_t i, int64_t *out);
const char *api_query(struct api_req *r, const char *key);
/* ?startIndex=&maxResult= (defaults 0 and 100, max CERTO_LIST_MAX); false once answered. */
bool api_page(struct api_req *r, struct certo_page *page);
/* {"link":[...],"total":N,"start":K} with 'links' consumed. */
json_t *api_link_list(const struct certo_page *page, json_t *links);
/* One link: href (base + path), rel "down", and attributes from 'attrs' (consumed). */
json_t *api_link(struct api_req *r, const char *path, json_t *attrs);
char *api_href(struct api_req *r, const char *fmt, ...) CERTO_PRINTF(2, 3);

/* ---- the server (server.c) ---- */

/* Reloads the identity into the listener (new connections) and the token signer. */
certo_rc server_reload(struct server *s, struct certo_err *err);
/* One logfmt line on stderr ("ts=... level=... msg=... <fmt>"), from any thread. */
void server_log(const char *level, const char *msg, const char *fmt, ...) CERTO_PRINTF(3, 4);
/* Sends a parked request's answer (r->out consumed) and logs it. */
void server_reply_late(struct server *s, struct api_req *r);
/* Every route table, for the OpenAPI description. */
const struct api_route *const *server_route_tables(size_t *n);

/* ---- authentication (auth.c) ---- */

/*
 * Decodes the base64 of "Basic <b64>" into a user name (1..CERTO_NAME_MAX bytes) and a
 * password (*pw, owned by the caller). @return CERTO_OK; CERTO_EINVAL (malformed).
 */
certo_rc auth_basic_decode(char user[CERTO_NAME_MAX + 1], struct certo_secret **pw, const char *b64,
                           struct certo_err *err);
/* Authenticates the caller from Authorization (and VCOAuthorization); answers 401. */
bool auth_authenticate(struct api_req *r);
/* Reloads the signing key and issuer from the identity; on failure keeps the old. */
certo_rc auth_load_signer(struct server *s, const struct certo_identity *id, struct certo_err *err);
void auth_dispose(struct server *s);

/* ---- access rules (access.c, docs/server.md "Access") ---- */

enum access_action {
    ACCESS_READ,
    ACCESS_WRITE,
};

bool access_system(const struct api_caller *c, enum access_action a);
bool access_org(const struct api_caller *c, enum access_action a, int64_t org_id);
bool access_dept(const struct api_caller *c, enum access_action a, const struct certo_dept *d);
bool access_user_read(const struct api_caller *c, const struct certo_user *u);
bool access_user_manage(const struct api_caller *c, const struct certo_user *u);
/*
 * The filter of a listing of endpoints, jobs or certificates: 0 = no restriction. False
 * when the caller sees none at all (no organization and not global).
 */
bool access_object_scope(const struct api_caller *c, int64_t *org_id, int64_t *dept_id);
bool access_endpoint(const struct api_caller *c, enum access_action a,
                     const struct certo_managed *e);
bool access_user_grant(const struct api_caller *c, enum certo_role role, int64_t org_id,
                       int64_t dept_id);
/* The scope a listing is narrowed to: 0 = no restriction. *self_only for operators. */
void access_list_scope(const struct api_caller *c, int64_t *org_id, int64_t *dept_id,
                       bool *self_only);

/* ---- long polls of gateways (routes_jobs.c) ---- */

/* Drops the parked requests of a connection that closed (no answer can go out). */
void jobs_conn_closed(struct server *s, struct evhttp_connection *conn);
/* Answers every parked request with 204 (shutting down). */
void jobs_flush_waiters(struct server *s);
/* Offers queued jobs to the waiting gateways now (a job was just queued). */
void jobs_poke(struct server *s);
/*
 * The JSON a gateway gets for a leased job: the job, its endpoint's name, and for an
 * install the certificate and key (unsealed here). Owned by the caller.
 */
json_t *jobs_gateway_doc(struct certo_db *db, const char *dir, int lease,
                         const struct certo_job *j);
/* Frees the waiters and the timer. */
void jobs_dispose(struct server *s);

/* ---- the embedded local gateway (local.c) ---- */

/* Starts the worker thread when opts->local_runner is set; creates the "local" gateway. */
certo_rc local_start(struct server *s, const struct certo_server_opts *opts, struct certo_err *err);
/* Wakes the worker: a job may be waiting. */
void local_poke(struct server *s);
/* Stops the worker after the job in hand and joins it. */
void local_stop(struct server *s);

/* ---- route tables (one per file) ---- */

extern const struct api_route api_routes_system[];    /* routes_system.c */
extern const struct api_route api_routes_accounts[];  /* routes_accounts.c */
extern const struct api_route api_routes_auth[];      /* auth.c */
extern const struct api_route api_routes_gateways[];  /* routes_gateways.c */
extern const struct api_route api_routes_jobs[];      /* routes_jobs.c */
extern const struct api_route api_routes_inventory[]; /* routes_inventory.c */

#endif
