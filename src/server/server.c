/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `certo server` (server layer): HTTPS on libevent's evhttp over bufferevent_openssl,
 * the REST routes of this slice under /vco/api, one structured log line per request on
 * stderr (method, path, status, duration; never headers or bodies), graceful shutdown on
 * SIGTERM/SIGINT, and SIGHUP reloading the listener certificate: every new connection
 * takes the current SSL_CTX, connections already open keep the one they started with.
 * Everything runs on the event loop thread. No authentication yet (see docs/server.md).
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "certo/accounts.h"
#include "certo/cert.h"
#include "certo/clock.h"
#include "certo/jobs.h"
#include "certo/mem.h"
#include "certo/server.h"
#include "server/api.h"

#define WHERE       "server"
#define PATH_LOG    512
#define DRAIN_MS    10000
#define IDLE_SECS   30
#define TTL_DEFAULT 900

/* ---- logging ---- */

static int64_t
mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* One logfmt line on stderr: "ts=... level=... msg=... <fields>". */
/*
 * One logfmt line on stderr: "ts=... level=... msg=... <fields>". The line is formatted
 * first and written with one call, so lines of the local gateway's worker thread do not
 * interleave with the event loop's.
 */
void
server_log(const char *level, const char *msg, const char *fmt, ...)
{
    struct timespec ts;
    struct tm tm;
    char when[32] = "-", line[2048];
    va_list ap;
    int n;

    clock_gettime(CLOCK_REALTIME, &ts);
    if (gmtime_r(&ts.tv_sec, &tm) != NULL)
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    n = snprintf(line, sizeof(line), "ts=%s.%03ldZ level=%s msg=%s%s", when, ts.tv_nsec / 1000000,
                 level, msg, fmt != NULL ? " " : "");
    if (fmt != NULL && n > 0 && (size_t)n < sizeof(line)) {
        va_start(ap, fmt);
        vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
        va_end(ap);
    }
    fprintf(stderr, "%s\n", line);
    fflush(stderr);
}

/* A request path made safe for a log line: printable ASCII, '"' and '\' escaped as %XX. */
static void
log_path(char out[PATH_LOG], const char *path)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    for (const unsigned char *p = (const unsigned char *)path; *p != '\0'; p++) {
        if (o + 4 >= PATH_LOG)
            break;
        if (*p > 0x20 && *p < 0x7f && *p != '"' && *p != '\\') {
            out[o++] = (char)*p;
            continue;
        }
        out[o++] = '%';
        out[o++] = hex[*p >> 4];
        out[o++] = hex[*p & 15];
    }
    out[o] = '\0';
}

static const char *
method_name(enum evhttp_cmd_type m)
{
    switch (m) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_OPTIONS:
        return "OPTIONS";
    case EVHTTP_REQ_TRACE:
        return "TRACE";
    case EVHTTP_REQ_CONNECT:
        return "CONNECT";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    }
    return "OTHER";
}

/* ---- listen address ---- */

bool
certo_server_is_wildcard(const char *host)
{
    return strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0;
}

static certo_rc
bad_listen(const char *listen, struct certo_err *err)
{
    return certo_err_set(err, CERTO_EINVAL, WHERE, "--listen %s: expected ADDR:PORT or [V6]:PORT",
                         listen);
}

/*
 * "ADDR:PORT" or "[V6]:PORT" with a numeric address. A wildcard is taken only when
 * typed as 0.0.0.0 or ::, never from an empty or "*" host or a name.
 */
static certo_rc
parse_listen(struct server *s, const char *listen, struct certo_err *err)
{
    const char *colon, *h = listen;
    size_t hl;
    unsigned char a[16];
    char *end = NULL;
    long port;

    if (listen[0] == '[') {
        colon = strstr(listen, "]:");
        if (colon == NULL)
            return bad_listen(listen, err);
        h = listen + 1;
        hl = (size_t)(colon - h);
        colon++;
    } else {
        colon = strrchr(listen, ':');
        if (colon == NULL)
            return bad_listen(listen, err);
        hl = (size_t)(colon - listen);
        if (memchr(listen, ':', hl) != NULL)
            return bad_listen(listen, err);
    }
    if (hl == 0 || hl >= HOST_MAX)
        return certo_err_set(err, CERTO_EINVAL, WHERE,
                             "--listen %s: give an IP address (0.0.0.0 or :: to listen on every "
                             "address)",
                             listen);
    memcpy(s->host, h, hl);
    s->host[hl] = '\0';
    if (inet_pton(AF_INET, s->host, a) != 1 && inet_pton(AF_INET6, s->host, a) != 1)
        return certo_err_set(err, CERTO_EINVAL, WHERE,
                             "--listen %s: '%s' is not an IP address (0.0.0.0 or :: to listen on "
                             "every address)",
                             listen, s->host);
    port = strtol(colon + 1, &end, 10);
    if (colon[1] < '0' || colon[1] > '9' || *end != '\0' || port < 1 || port > 65535)
        return certo_err_set(err, CERTO_EINVAL, WHERE, "--listen %s: bad port", listen);
    s->port = (unsigned)port;
    return CERTO_OK;
}

/* ---- TLS ---- */

/*
 * Client certificates are asked for but not required, and any is accepted: it is not
 * an identity by itself, only what a holder-of-key token is bound to (auth.c).
 */
static int
accept_any_client(int preverify, X509_STORE_CTX *x)
{
    (void)preverify;
    (void)x;
    return 1;
}

static certo_rc
make_ctx(SSL_CTX **out, const struct certo_identity *id, struct certo_err *err)
{
    SSL_CTX *ctx = NULL;
    certo_rc rc = CERTO_EINTERNAL;

    *out = NULL;
    ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot create the TLS context");
        goto out;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_use_certificate(ctx, id->cert) != 1 || SSL_CTX_use_PrivateKey(ctx, id->key) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot use the server identity for TLS");
        goto out;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE, accept_any_client);
    if (SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"certo", 5) != 1) {
        rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot set the TLS session context");
        goto out;
    }
    /* The stored chain (issuer first) is sent after the certificate. */
    for (int i = 0; id->chain != NULL && i < sk_X509_num(id->chain); i++) {
        if (SSL_CTX_add1_chain_cert(ctx, sk_X509_value(id->chain, i)) != 1) {
            rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot use the identity's chain");
            goto out;
        }
    }
    *out = ctx;
    ctx = NULL;
    rc = CERTO_OK;
out:
    SSL_CTX_free(ctx);
    return rc;
}

/* Loads (or on the first start creates) the identity and makes s->ctx from it. */
static certo_rc
load_ctx(struct server *s, char fp[96], struct certo_err *err)
{
    struct certo_identity id = {0}, own = {0};
    const struct certo_identity *served = &id;
    SSL_CTX *ctx = NULL;
    bool created = false;
    certo_rc rc = CERTO_EINTERNAL;

    rc = certo_identity_ensure(&id, &created, s->db, s->dir, s->host, err);
    if (rc != CERTO_OK)
        goto out;
    if (created) {
        rc = certo_cert_fingerprint(fp, id.cert, err);
        if (rc != CERTO_OK)
            goto out;
        server_log("info", "identity_created", "fingerprint=%s", fp);
    }
    /* The listener's own certificate, when one is set, is served instead of the identity. */
    rc = certo_listener_load(&own, s->db, s->dir, err);
    if (rc == CERTO_OK)
        served = &own;
    else if (rc != CERTO_ENOTFOUND)
        goto out;
    rc = certo_cert_fingerprint(fp, served->cert, err);
    if (rc != CERTO_OK)
        goto out;
    rc = make_ctx(&ctx, served, err);
    if (rc != CERTO_OK)
        goto out;
    rc = auth_load_signer(s, &id, err);
    if (rc != CERTO_OK)
        goto out;
    SSL_CTX_free(s->ctx);
    s->ctx = ctx;
    ctx = NULL;
    memcpy(s->listener_fp, fp, sizeof(s->listener_fp));
out:
    SSL_CTX_free(ctx);
    certo_identity_dispose(&own);
    certo_identity_dispose(&id);
    return rc;
}

certo_rc
server_reload(struct server *s, struct certo_err *err)
{
    char fp[96];
    certo_rc rc = load_ctx(s, fp, err);

    if (rc == CERTO_OK)
        server_log("info", "certificate_reloaded", "fingerprint=%s", fp);
    return rc;
}

static certo_rc
load_gateway_ca(struct server *s, struct certo_err *err)
{
    struct certo_identity ca = {0};
    certo_rc rc = certo_gateway_ca_ensure(&ca, s->db, s->dir, err);

    if (rc == CERTO_OK) {
        s->gateway_ca = ca.cert;
        ca.cert = NULL;
    }
    certo_identity_dispose(&ca);
    return rc;
}

/* evhttp's bufferevent factory: TLS with the context current at accept time. */
static struct bufferevent *
make_bev(struct event_base *base, void *arg)
{
    struct server *s = arg;
    struct bufferevent *bev;
    SSL *ssl = SSL_new(s->ctx);

    /* A NULL here would make evhttp fall back to plain HTTP: never allow that. */
    if (ssl == NULL)
        abort();
    bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                         BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL)
        abort();
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

/* ---- responses ---- */

static int
dump_to_evbuffer(const char *p, size_t n, void *arg)
{
    return evbuffer_add(arg, p, n);
}

/* Sends what the route answered (r->out consumed). */
static void
send_reply(struct server *s, struct api_req *r)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
    struct evbuffer *b = evbuffer_new();

    if (b == NULL)
        abort();
    if (r->status != 204 && (json_dump_callback(r->out, dump_to_evbuffer, b, JSON_COMPACT) != 0 ||
                             evbuffer_add(b, "\n", 1) != 0))
        abort();
    json_decref(r->out);
    r->out = NULL;
    if (r->status != 204)
        evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    if (r->allow != NULL)
        evhttp_add_header(h, "Allow", r->allow);
    if (s->draining)
        evhttp_add_header(h, "Connection", "close");
    evhttp_send_reply(r->req, r->status, NULL, b);
    evbuffer_free(b);
}

/* ---- routing ---- */

/* The base URL of links: the request's Host when it is plain, else the listen address. */
static void
base_url(char out[BASE_MAX], struct server *s, struct evhttp_request *req)
{
    const char *host = evhttp_find_header(evhttp_request_get_input_headers(req), "Host");
    size_t n = host != NULL ? strlen(host) : 0;

    if (n > 0 && n < HOST_MAX &&
        strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") == n)
        snprintf(out, BASE_MAX, "https://%s", host);
    else
        snprintf(out, BASE_MAX, "%s", s->base_url);
}

static const struct api_route *const route_tables[] = {
    api_routes_system,   api_routes_auth, api_routes_accounts,
    api_routes_gateways, api_routes_jobs, api_routes_inventory,
};

/* API_GATEWAY routes: the caller is the enrolled gateway whose certificate it presents. */
static bool
gateway_authenticate(struct api_req *r)
{
    struct certo_err err = {0};

    if (certo_gateway_by_cert(r->s->db, r->s->gateway_ca, r->peer, &r->gateway, certo_clock_now(),
                              &err) != CERTO_OK) {
        api_fail(r, 401, "unauthorized", NULL, "%s", err.msg);
        return false;
    }
    return true;
}

static const char *
allow_list(unsigned methods)
{
    static char buf[64];
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {{EVHTTP_REQ_GET, "GET, HEAD"},
                 {EVHTTP_REQ_POST, "POST"},
                 {EVHTTP_REQ_PUT, "PUT"},
                 {EVHTTP_REQ_PATCH, "PATCH"},
                 {EVHTTP_REQ_DELETE, "DELETE"}};

    buf[0] = '\0';
    for (size_t i = 0; i < CERTO_ARRAY_LEN(names); i++) {
        if (methods & names[i].bit)
            snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s", buf[0] ? ", " : "",
                     names[i].name);
    }
    return buf;
}

/* Finds the route; answers 404 or 405 itself when there is none for this method. */
static const struct api_route *
find_route(struct api_req *r)
{
    unsigned m = r->method == EVHTTP_REQ_HEAD ? EVHTTP_REQ_GET : (unsigned)r->method;
    unsigned allowed = 0;

    for (size_t t = 0; t < CERTO_ARRAY_LEN(route_tables); t++) {
        for (const struct api_route *rt = route_tables[t]; rt->pattern != NULL; rt++) {
            if (!api_match(rt->pattern, r->path, r->params, &r->n_params))
                continue;
            if (rt->methods & m)
                return rt;
            allowed |= rt->methods;
            for (size_t i = 0; i < r->n_params; i++)
                certo_free(r->params[i]);
            r->n_params = 0;
        }
    }
    if (allowed == 0) {
        api_fail(r, 404, "not_found", NULL, "no such resource");
    } else {
        r->allow = allow_list(allowed);
        api_fail(r, 405, "method_not_allowed", NULL, "this resource allows %s", r->allow);
    }
    return NULL;
}

/* The client certificate of the request's connection, if it sent one. */
static X509 *
peer_cert(struct evhttp_request *req)
{
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    struct bufferevent *bev = conn != NULL ? evhttp_connection_get_bufferevent(conn) : NULL;
    SSL *ssl = bev != NULL ? bufferevent_openssl_get_ssl(bev) : NULL;

    return ssl != NULL ? SSL_get0_peer_certificate(ssl) : NULL;
}

const struct api_route *const *
server_route_tables(size_t *n)
{
    *n = CERTO_ARRAY_LEN(route_tables);
    return route_tables;
}
/*
 * A request is in flight from handle() until its answer is written (request_done) or
 * its connection closes first (conn_closed: a client that went away). evhttp serves one
 * request of a connection at a time, so one close callback per connection counts right;
 * request_done removes it so a later close of a kept-alive connection is not counted.
 */
static void
conn_closed(struct evhttp_connection *conn, void *arg)
{
    struct server *s = arg;

    jobs_conn_closed(s, conn); /* a long poll whose gateway went away */
    s->inflight--;
}

void
server_reply_late(struct server *s, struct api_req *r)
{
    char lp[PATH_LOG];

    send_reply(s, r);
    log_path(lp, r->path);
    server_log("info", "request", "method=GET path=\"%s\" status=%d gateway=%lld", lp, r->status,
               (long long)r->gateway.id);
}

static void
request_done(struct evhttp_request *req, void *arg)
{
    struct server *s = arg;
    struct evhttp_connection *conn = evhttp_request_get_connection(req);

    if (conn != NULL)
        evhttp_connection_set_closecb(conn, NULL, NULL);
    s->inflight--;
}

static void
handle(struct evhttp_request *req, void *arg)
{
    struct server *s = arg;
    int64_t t0 = mono_us();
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const struct api_route *rt;
    struct api_req r = {0};
    const char *q;
    char lp[PATH_LOG];

    s->inflight++;
    evhttp_request_set_on_complete_cb(req, request_done, s);
    if (evhttp_request_get_connection(req) != NULL)
        evhttp_connection_set_closecb(evhttp_request_get_connection(req), conn_closed, s);
    r.s = s;
    r.req = req;
    r.method = evhttp_request_get_command(req);
    r.path = u != NULL ? evhttp_uri_get_path(u) : NULL;
    if (r.path == NULL || r.path[0] == '\0')
        r.path = "/";
    TAILQ_INIT(&r.query);
    base_url(r.base, s, req);
    r.peer = peer_cert(req);
    q = u != NULL ? evhttp_uri_get_query(u) : NULL;
    /* Bodies over CERTO_SERVER_WIRE_MAX never get here: evhttp answers 413 itself. */
    if (evbuffer_get_length(evhttp_request_get_input_buffer(req)) > CERTO_SERVER_BODY_MAX)
        api_fail(&r, 413, "too_large", NULL, "the request body is over %d bytes",
                 CERTO_SERVER_BODY_MAX);
    else if (q != NULL && evhttp_parse_query_str(q, &r.query) != 0)
        api_fail(&r, 400, "malformed", NULL, "the query string does not parse");
    else if ((rt = find_route(&r)) != NULL &&
             (rt->auth == API_PUBLIC || (rt->auth == API_AUTH && auth_authenticate(&r)) ||
              (rt->auth == API_GATEWAY && gateway_authenticate(&r))))
        rt->fn(&r);
    if (r.parked) {
        /* A long poll: routes_jobs.c owns the request now and answers it later. */
        log_path(lp, r.path);
        server_log("info", "request", "method=%s path=\"%s\" status=waiting gateway=%lld",
                   method_name(r.method), lp, (long long)r.gateway.id);
    } else {
        if (r.out == NULL)
            api_fail(&r, 500, "internal", NULL, "internal error");
        send_reply(s, &r);
        log_path(lp, r.path);
        server_log("info", "request", "method=%s path=\"%s\" status=%d user=%s duration_ms=%.3f",
                   method_name(r.method), lp, r.status,
                   r.caller.authenticated ? r.caller.user.name : "-",
                   (double)(mono_us() - t0) / 1000.0);
    }
    for (size_t i = 0; i < r.n_params; i++)
        certo_free(r.params[i]);
    evhttp_clear_headers(&r.query);
    json_decref(r.body);
}

/* ---- signals ---- */

static void
drain_tick(evutil_socket_t fd, short what, void *arg)
{
    struct server *s = arg;
    (void)fd;
    (void)what;
    if (s->inflight <= 0 || mono_us() > s->drain_deadline) {
        if (s->inflight > 0)
            server_log("warn", "drain_timeout", "inflight=%d", s->inflight);
        event_base_loopbreak(s->base);
    }
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct server *s = arg;
    struct certo_err err = {0};
    struct timeval tick = {0, 50000};

    (void)what;
    if (sig == SIGHUP) {
        if (server_reload(s, &err) != CERTO_OK)
            server_log("error", "reload_failed", "error=\"%s\" (keeping the old certificate)",
                       err.msg);
        return;
    }
    if (s->draining)
        return;
    server_log("info", "shutting_down", "signal=%s inflight=%d", sig == SIGTERM ? "TERM" : "INT",
               s->inflight);
    s->draining = true;
    jobs_flush_waiters(s);
    evhttp_del_accept_socket(s->http, s->bound);
    s->bound = NULL;
    s->drain_deadline = mono_us() + (int64_t)DRAIN_MS * 1000;
    s->drain_timer = event_new(s->base, -1, EV_PERSIST, drain_tick, s);
    if (s->drain_timer == NULL || event_add(s->drain_timer, &tick) != 0)
        event_base_loopbreak(s->base);
}

/* ---- run ---- */

static certo_rc
start(struct server *s, char fp[96], bool *admin_created, struct certo_err *err)
{
    static const int sigs[] = {SIGTERM, SIGINT, SIGHUP};
    int one = 1;
    certo_rc rc = CERTO_EINTERNAL;

    rc = certo_server_db_open(&s->db, s->dir, s->db_url, err);
    if (rc != CERTO_OK)
        return rc;
    rc = load_ctx(s, fp, err);
    if (rc != CERTO_OK)
        return rc;
    rc = certo_accounts_bootstrap(s->db, s->dir, admin_created, err);
    if (rc != CERTO_OK)
        return rc;
    rc = load_gateway_ca(s, err);
    if (rc != CERTO_OK)
        return rc;
    s->base = event_base_new();
    s->http = s->base != NULL ? evhttp_new(s->base) : NULL;
    if (s->http == NULL)
        return certo_err_set(err, CERTO_ENOMEM, WHERE, "cannot create the event loop");
    evhttp_set_bevcb(s->http, make_bev, s);
    evhttp_set_gencb(s->http, handle, s);
    evhttp_set_max_body_size(s->http, CERTO_SERVER_WIRE_MAX);
    evhttp_set_max_headers_size(s->http, 64 * 1024);
    evhttp_set_timeout(s->http, IDLE_SECS);
    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH |
                                            EVHTTP_REQ_OPTIONS);
    for (size_t i = 0; i < CERTO_ARRAY_LEN(sigs); i++) {
        s->sig[i] = evsignal_new(s->base, sigs[i], on_signal, s);
        if (s->sig[i] == NULL || event_add(s->sig[i], NULL) != 0)
            return certo_err_set(err, CERTO_EINTERNAL, WHERE, "cannot watch signal %d", sigs[i]);
    }
    s->bound = evhttp_bind_socket_with_handle(s->http, s->host, (ev_uint16_t)s->port);
    if (s->bound == NULL)
        return certo_err_sys(err, CERTO_ENET, WHERE, "cannot listen on %s port %u", s->host,
                             s->port);
    /*
     * Answers go out as small TLS records written one after the other; with Nagle's
     * algorithm the second waits for the client's delayed ACK (~40 ms a request). Linux
     * passes TCP_NODELAY from the listening socket to every accepted one.
     */
    if (setsockopt(evhttp_bound_socket_get_fd(s->bound), IPPROTO_TCP, TCP_NODELAY, &one,
                   sizeof(one)) != 0)
        return certo_err_sys(err, CERTO_ENET, WHERE, "cannot set TCP_NODELAY");
    return CERTO_OK;
}

certo_rc
certo_server_run(const struct certo_server_opts *opts, struct certo_err *err)
{
    struct server s = {0};
    const char *listen = opts->listen != NULL ? opts->listen : CERTO_SERVER_LISTEN_DEFAULT;
    bool v6, admin_created = false;
    char fp[96];
    certo_rc rc = CERTO_EINTERNAL;

    s.dir = opts->data_dir;
    s.db_url = opts->db_url;
    s.auth_modes = opts->auth_external ? AUTH_EXTERNAL | (opts->auth_password ? AUTH_PASSWORD : 0)
                                       : AUTH_PASSWORD;
    s.token_ttl = opts->token_ttl > 0 ? opts->token_ttl : TTL_DEFAULT;
    s.job_lease = opts->job_lease > 0 ? opts->job_lease : CERTO_JOB_LEASE_S;
    rc = parse_listen(&s, listen, err);
    if (rc != CERTO_OK)
        goto out;
    v6 = strchr(s.host, ':') != NULL;
    snprintf(s.base_url, sizeof(s.base_url), "https://%s%s%s:%u", v6 ? "[" : "", s.host,
             v6 ? "]" : "", s.port);
    signal(SIGPIPE, SIG_IGN);
    rc = start(&s, fp, &admin_created, err);
    if (rc == CERTO_OK)
        rc = local_start(&s, opts, err);
    if (rc != CERTO_OK)
        goto out;
    if (certo_server_is_wildcard(s.host))
        server_log("warn", "wildcard_listen", "address=%s note=\"every interface\"", s.host);
    printf("certo server listening on %s" API_PREFIX " (certificate SHA-256 %s)\n", s.base_url, fp);
    if (admin_created)
        printf("first start: the admin's user name and password are in %s/" CERTO_ADMIN_FILE
               " (0600); sign in, then change the password and delete the file\n",
               s.dir);
    fflush(stdout);
    server_log("info", "listening", "url=%s" API_PREFIX " data=\"%s\"", s.base_url, s.dir);
    if (event_base_dispatch(s.base) < 0) {
        rc = certo_err_set(err, CERTO_EINTERNAL, WHERE, "the event loop failed");
        goto out;
    }
    server_log("info", "stopped", NULL);
    rc = CERTO_OK;
out:
    local_stop(&s); /* after the job in hand */
    if (s.http != NULL)
        evhttp_free(s.http);
    for (size_t i = 0; i < CERTO_ARRAY_LEN(s.sig); i++) {
        if (s.sig[i] != NULL)
            event_free(s.sig[i]);
    }
    if (s.drain_timer != NULL)
        event_free(s.drain_timer);
    if (s.base != NULL)
        event_base_free(s.base);
    SSL_CTX_free(s.ctx);
    auth_dispose(&s);
    jobs_dispose(&s);
    certo_cert_free(s.gateway_ca);
    certo_db_close(s.db);
    return rc;
}
