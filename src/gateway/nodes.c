/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Node discovery (gateway layer): the connector lists the nodes its configuration
 * describes; this file connects to each listener and reads what it really serves, decides
 * the SSL column and drift against the install history, and stores the result (table
 * nodes, one transaction per discovery). It reads the endpoint's configuration under the
 * endpoint's lock and probes after releasing it, so a slow listener never holds up an
 * install. Apart from rolling back an interrupted install first (as every operation on an
 * endpoint does), it never changes anything there.
 *
 * Drift is only judged on the nodes an install wrote: the other blocks of a web server
 * serve other certificates by design. A node is one of them when its configuration names
 * a file the endpoint's last successful install wrote (the install's backup manifest), when
 * it serves that install's certificate, or when the previous discovery found it to be one
 * (so that a block edited behind Certo's back to use other files is still flagged); a
 * keystore entry is one when it has the install's alias (a PEM file: its one key entry).
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/x509v3.h>

#include "certo/cert.h"
#include "certo/chain.h"
#include "certo/clock.h"
#include "certo/mem.h"
#include "certo/nodes.h"
#include "certo/sigpipe.h"
#include "certo/store.h"
#include "certo/tlsprobe.h"
#include "gateway/gateway.h"

#define WHERE              "gateway.nodes"
#define DEFAULT_TIMEOUT_MS 3000
#define PROBE_THREADS      8 /* listeners probed at a time */
#define PROBLEMS_MAX       256

static const char *const state_names[] = {
    [CERTO_NODE_SERVING] = "serving",
    [CERTO_NODE_UNREACHABLE] = "unreachable",
    [CERTO_NODE_ERROR] = "error",
    [CERTO_NODE_STORED] = "stored",
};

const char *
certo_node_state_name(enum certo_node_state s)
{
    return (size_t)s < CERTO_ARRAY_LEN(state_names) ? state_names[s] : "?";
}

static bool
state_parse(const char *s, enum certo_node_state *out)
{
    for (size_t i = 0; s != NULL && i < CERTO_ARRAY_LEN(state_names); i++) {
        if (strcmp(state_names[i], s) == 0) {
            *out = (enum certo_node_state)i;
            return true;
        }
    }
    return false;
}

void
certo_nodes_ssl_id(char out[CERTO_SSL_ID_LEN + 1], const char *fp)
{
    size_t o = 0;

    for (const char *p = fp; p != NULL && *p != '\0' && o < CERTO_SSL_ID_LEN; p++) {
        if (*p >= '0' && *p <= '9')
            out[o++] = *p;
        else if ((*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F'))
            out[o++] = (char)(*p | 0x20);
    }
    out[o == CERTO_SSL_ID_LEN ? o : 0] = '\0';
}

/* The vendor column: the product, or the keystore type. */
static const char *
vendor_of(enum certo_ep_type t)
{
    static const char *const v[CERTO_EP__COUNT] = {
        [CERTO_EP_IIS] = "IIS", [CERTO_EP_APACHE] = "Apache", [CERTO_EP_TOMCAT] = "Tomcat",
        [CERTO_EP_F5] = "F5",   [CERTO_EP_NGINX] = "nginx",   [CERTO_EP_P12] = "PKCS#12",
        [CERTO_EP_JKS] = "JKS", [CERTO_EP_PEM] = "PEM",
    };
    return (size_t)t < CERTO_ARRAY_LEN(v) && v[t] != NULL ? v[t] : "?";
}

static void
node_dispose(struct certo_node *n)
{
    certo_free(n->name);
    certo_free(n->alias);
    certo_free(n->vendor);
    certo_free(n->protocol);
    certo_free(n->address);
    certo_free(n->sni);
    certo_free(n->source);
    certo_free(n->reason);
    certo_free(n->fingerprint);
    certo_free(n->subject);
    certo_free(n->issuer);
    certo_free(n->problems);
    certo_free(n->ssl);
    certo_free(n->installed);
    memset(n, 0, sizeof(*n));
}

void
certo_nodes_dispose(struct certo_nodes *set)
{
    if (set == NULL)
        return;
    for (size_t i = 0; i < set->n; i++)
        node_dispose(&set->v[i]);
    certo_free(set->v);
    memset(set, 0, sizeof(*set));
}

static char *
dup_or_null(const char *s)
{
    return s != NULL ? certo_strdup(s) : NULL;
}

static bool
eq_or_null(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* ---- what the registry knows: installs and the previous discovery ---- */

/* The install history as discovery needs it. */
struct known {
    int64_t last_id;  /* the endpoint's last successful install; 0: none */
    char *last_alias; /* owned; its alias */
    char *last_fp;    /* owned; its fp_after */
    char **written;   /* owned; the files it wrote */
    size_t n_written;
    char **managed; /* owned; fp_after of every successful install, any endpoint */
    size_t n_managed;
    struct certo_nodes prev; /* the previous discovery of the endpoint */
};

static void
known_dispose(struct known *k)
{
    certo_free(k->last_alias);
    certo_free(k->last_fp);
    for (size_t i = 0; i < k->n_written; i++)
        certo_free(k->written[i]);
    certo_free(k->written);
    for (size_t i = 0; i < k->n_managed; i++)
        certo_free(k->managed[i]);
    certo_free(k->managed);
    certo_nodes_dispose(&k->prev);
    memset(k, 0, sizeof(*k));
}

static certo_rc
sql_fail(certo_rc rc, struct certo_err *err)
{
    return certo_err_set(err, rc, WHERE, "node statement failed");
}

static certo_rc
known_load(struct known *k, struct certo_registry *reg, const struct certo_endpoint *ep,
           struct certo_err *err)
{
    struct certo_db *db = certo_registry__db(reg);
    struct certo_stmt *st = NULL;
    bool row = false;
    certo_rc rc;

    memset(k, 0, sizeof(*k));
    rc = certo_db_prepare(db, &st,
                          "SELECT id, alias, fp_after FROM installs WHERE endpoint_id = $1 AND "
                          "kind = 'install' AND outcome = 'ok' AND fp_after IS NOT NULL "
                          "ORDER BY id DESC LIMIT 1",
                          err);
    if (rc == CERTO_OK && certo_stmt_bind_text(st, 1, ep->id) != CERTO_OK)
        rc = sql_fail(CERTO_EIO, err);
    if (rc == CERTO_OK)
        rc = certo_stmt_step(st, &row, err);
    if (rc == CERTO_OK && row) {
        k->last_id = certo_stmt_int(st, 0);
        k->last_alias = dup_or_null(certo_stmt_text(st, 1));
        k->last_fp = dup_or_null(certo_stmt_text(st, 2));
    }
    certo_stmt_free(st);
    st = NULL;
    if (rc == CERTO_OK && k->last_id > 0)
        rc = certo_install__written(&k->written, &k->n_written, reg, ep, k->last_id, err);
    if (rc == CERTO_OK)
        rc = certo_db_prepare(db, &st,
                              "SELECT DISTINCT fp_after FROM installs WHERE kind = 'install' AND "
                              "outcome = 'ok' AND fp_after IS NOT NULL",
                              err);
    while (rc == CERTO_OK) {
        rc = certo_stmt_step(st, &row, err);
        if (rc != CERTO_OK || !row)
            break;
        k->managed = certo_reallocarray(k->managed, k->n_managed + 1, sizeof(*k->managed));
        k->managed[k->n_managed++] = certo_strdup(certo_stmt_text(st, 0));
    }
    certo_stmt_free(st);
    if (rc == CERTO_OK)
        rc = certo_nodes_load(&k->prev, reg, ep, err);
    if (rc != CERTO_OK)
        known_dispose(k);
    return rc;
}

static bool
is_managed(const struct known *k, const char *fp)
{
    for (size_t i = 0; fp != NULL && i < k->n_managed; i++) {
        if (strcmp(k->managed[i], fp) == 0)
            return true;
    }
    return false;
}

/* ---- probing ---- */

/* One node under discovery. */
struct job {
    const struct certo_conf_node *cn; /* borrowed from the connector's list */
    char **files;                     /* owned; cn->cert_files with symlinks resolved */
    size_t n_files;
    enum certo_node_state state;
    char *reason;           /* owned */
    STACK_OF(X509) * chain; /* owned; as served or stored; NULL: none */
};

static int
left_ms(int64_t deadline)
{
    int64_t l = deadline - certo_clock_mono_ms();
    return l < 0 ? 0 : (int)l;
}

/* The text of errno value 'e' (strerror is not safe in the probing threads). */
static void
errno_text(char *out, size_t cap, int e)
{
    char buf[128];
    snprintf(out, cap, "%s", strerror_r(e, buf, sizeof(buf)));
}

/*
 * Whether 'host':'port' accepts a TCP connection within 'timeout_ms'; on failure 'why'
 * says what happened ("Connection refused", "no answer within 3 s").
 */
static bool
tcp_reachable(const char *host, int port, int timeout_ms, char *why, size_t cap)
{
    struct addrinfo hints = {0}, *res = NULL;
    int64_t deadline = certo_clock_mono_ms() + timeout_ms;
    char portstr[8];
    bool ok = false;
    int gai;

    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    snprintf(portstr, sizeof(portstr), "%d", port);
    gai = getaddrinfo(host, portstr, &hints, &res);
    if (gai != 0) {
        snprintf(why, cap, "cannot resolve %s: %s", host, gai_strerror(gai));
        return false;
    }
    snprintf(why, cap, "no address");
    for (struct addrinfo *ai = res; ai != NULL && !ok; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int soerr = 0, n;
        socklen_t len = sizeof(soerr);
        if (fd < 0) {
            errno_text(why, cap, errno);
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
            errno_text(why, cap, errno);
            close(fd);
            continue;
        }
        struct pollfd p = {fd, POLLOUT, 0};
        n = poll(&p, 1, left_ms(deadline));
        if (n == 0)
            snprintf(why, cap, "no answer within %g s", timeout_ms / 1000.0);
        else if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
            errno_text(why, cap, errno);
        else if (soerr != 0)
            errno_text(why, cap, soerr);
        else
            ok = true;
        close(fd);
    }
    freeaddrinfo(res);
    return ok;
}

/* Connects to one listener: TCP first (unreachable or not), then, for TLS, a handshake. */
static void
probe(struct job *j, int timeout_ms)
{
    const struct certo_conf_node *cn = j->cn;
    struct certo_tls_peer peer;
    struct certo_err e = {0};
    char why[300];

    if (cn->skip != NULL) {
        j->state = CERTO_NODE_ERROR;
        j->reason = certo_asprintf("not probed: %s", cn->skip);
        return;
    }
    if (!tcp_reachable(cn->connect, cn->port, timeout_ms, why, sizeof(why))) {
        j->state = CERTO_NODE_UNREACHABLE;
        j->reason = certo_strdup(why);
        return;
    }
    if (cn->kind == CERTO_NODE_HTTP) {
        j->state = CERTO_NODE_SERVING;
        return;
    }
    if (certo_tls_probe(cn->connect, cn->port, cn->sni, timeout_ms, &peer, &e) != CERTO_OK) {
        j->state = CERTO_NODE_ERROR;
        j->reason = certo_strdup(e.msg);
        return;
    }
    j->state = CERTO_NODE_SERVING;
    j->chain = peer.chain; /* taken */
    peer.chain = NULL;
    certo_tls_peer_dispose(&peer);
}

/* The listeners of one discovery, shared by its probing threads. */
struct run {
    struct job *jobs;
    size_t n;
    int timeout_ms;
    atomic_size_t next; /* the next job to take */
};

/*
 * Takes jobs until none is left. A listener may reset the connection while the handshake
 * writes to it: SIGPIPE is blocked in this thread for the probes, and one they raised is
 * consumed before the mask is restored (as util/exec.c does), so the process-wide
 * disposition is never changed and the process is never killed by a peer.
 */
static void *
worker(void *arg)
{
    struct run *r = arg;
    struct certo_sigpipe g;

    certo_sigpipe_block(&g);
    for (;;) {
        size_t i = atomic_fetch_add(&r->next, 1);
        if (i >= r->n)
            break;
        if (r->jobs[i].cn->kind != CERTO_NODE_ENTRY)
            probe(&r->jobs[i], r->timeout_ms);
    }
    certo_sigpipe_restore(&g);
    return NULL;
}

/* Probes every listener, PROBE_THREADS at a time (an unreachable one can take the whole
 * timeout; a loopback handshake takes about a millisecond). */
static void
probe_all(struct job *jobs, size_t n, int timeout_ms)
{
    pthread_t tids[PROBE_THREADS];
    size_t started = 0, want = n < PROBE_THREADS ? n : PROBE_THREADS;
    struct run r = {jobs, n, timeout_ms, 0};

    atomic_init(&r.next, 0);
    for (size_t i = 1; i < want; i++) {
        if (pthread_create(&tids[started], NULL, worker, &r) != 0)
            break; /* fewer threads do the same work */
        started++;
    }
    worker(&r);
    for (size_t i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
}

/* ---- what a chain shows ---- */

static void
problem(char *buf, const char *p)
{
    size_t len = strlen(buf);
    snprintf(buf + len, PROBLEMS_MAX - len, "%s%s", len > 0 ? "; " : "", p);
}

/*
 * The problems of 'chain' (leaf first): validity of the leaf, a self-signed leaf, an
 * issuer that is not the next certificate's subject, a chain that stops at a certificate
 * that is no CA (its issuer is missing), a leaf that does not cover 'sni'. A trusted
 * entry of a keystore ('trusted') is a CA certificate by itself: only its validity counts.
 */
static void
chain_problems(char out[PROBLEMS_MAX], STACK_OF(X509) * chain, const char *sni, bool trusted,
               const struct certo_cert_info *leaf)
{
    int n = sk_X509_num(chain);
    time_t now = certo_clock_now();
    X509 *last = sk_X509_value(chain, n - 1);

    out[0] = '\0';
    if (leaf->not_after < now)
        problem(out, "expired");
    else if (leaf->not_before > now)
        problem(out, "not yet valid");
    if (trusted)
        return;
    if (leaf->self_signed)
        problem(out, "self-signed");
    for (int i = 0; i + 1 < n; i++) {
        if (X509_NAME_cmp(X509_get_issuer_name(sk_X509_value(chain, i)),
                          X509_get_subject_name(sk_X509_value(chain, i + 1))) != 0) {
            problem(out, "chain out of order");
            break;
        }
    }
    if (!certo_chain_self_signed(last) && X509_check_ca(last) == 0)
        problem(out, "incomplete chain");
    if (sni != NULL && X509_check_host(sk_X509_value(chain, 0), sni, 0, 0, NULL) != 1)
        problem(out, "name mismatch");
}

/* Whether the configuration of 'j' names a file install 'k->last_id' wrote. */
static bool
wrote_here(const struct job *j, const struct known *k)
{
    for (size_t i = 0; i < j->n_files; i++) {
        for (size_t w = 0; w < k->n_written; w++) {
            if (strcmp(j->files[i], k->written[w]) == 0)
                return true;
        }
    }
    return false;
}

/* The previous discovery's record of the same node, or NULL. */
static const struct certo_node *
previous(const struct known *k, const struct certo_node *n)
{
    for (size_t i = 0; i < k->prev.n; i++) {
        const struct certo_node *p = &k->prev.v[i];
        if (strcmp(p->name, n->name) == 0 && eq_or_null(p->address, n->address) &&
            p->port == n->port && eq_or_null(p->source, n->source))
            return p;
    }
    for (size_t i = 0; i < k->prev.n; i++) {
        const struct certo_node *p = &k->prev.v[i];
        if (strcmp(p->name, n->name) == 0 && eq_or_null(p->address, n->address) &&
            p->port == n->port)
            return p; /* the block moved to another line */
    }
    return NULL;
}

/* Whether the last install wrote this node (see the top of the file). */
static bool
install_target(const struct job *j, const struct certo_node *n, const struct known *k)
{
    const struct certo_conf_node *cn = j->cn;
    const struct certo_node *p;

    if (k->last_id == 0 || k->last_fp == NULL)
        return false;
    if (cn->kind == CERTO_NODE_ENTRY)
        return cn->key_entry && (cn->any_alias || (k->last_alias != NULL &&
                                                   strcasecmp(cn->name, k->last_alias) == 0));
    if (n->fingerprint != NULL && strcmp(n->fingerprint, k->last_fp) == 0)
        return true;
    if (wrote_here(j, k))
        return true;
    p = previous(k, n);
    return p != NULL && p->installed != NULL && strcmp(p->installed, k->last_fp) == 0;
}

/* Fills 'n' from the configuration and the probe of 'j'. */
static certo_rc
node_fill(struct certo_node *n, const struct job *j, const struct certo_endpoint *ep,
          const struct known *k, int64_t now, struct certo_err *err)
{
    const struct certo_conf_node *cn = j->cn;
    struct certo_cert_info info;
    char problems[PROBLEMS_MAX], id[CERTO_SSL_ID_LEN + 1];
    certo_rc rc;

    memset(n, 0, sizeof(*n));
    if (cn->name[0] != '\0' || cn->kind == CERTO_NODE_ENTRY)
        n->name = certo_strdup(cn->name);
    else if (strchr(cn->address, ':') != NULL)
        n->name = certo_asprintf("[%s]:%d", cn->address, cn->port);
    else
        n->name = certo_asprintf("%s:%d", cn->address, cn->port);
    n->alias = dup_or_null(cn->alias);
    n->vendor = certo_strdup(vendor_of(ep->type));
    n->protocol = cn->kind == CERTO_NODE_ENTRY
                      ? NULL
                      : certo_strdup(cn->kind == CERTO_NODE_HTTPS ? "HTTPS" : "HTTP");
    n->address = dup_or_null(cn->address);
    n->port = cn->port;
    n->sni = dup_or_null(cn->sni);
    n->source = dup_or_null(cn->source);
    n->state = cn->kind == CERTO_NODE_ENTRY ? CERTO_NODE_STORED : j->state;
    n->reason = dup_or_null(j->reason);
    n->discovered_at = now;
    if (j->chain != NULL && sk_X509_num(j->chain) > 0) {
        X509 *leaf = sk_X509_value(j->chain, 0);
        rc = certo_cert_info_get(&info, leaf, err);
        if (rc != CERTO_OK)
            return rc;
        n->fingerprint = certo_strdup(info.fingerprint);
        n->subject = certo_strdup(info.subject);
        n->issuer = certo_strdup(info.issuer);
        n->not_after = (int64_t)info.not_after;
        chain_problems(problems, j->chain, cn->kind == CERTO_NODE_ENTRY ? NULL : cn->sni,
                       cn->kind == CERTO_NODE_ENTRY && !cn->key_entry, &info);
        n->problems = problems[0] != '\0' ? certo_strdup(problems) : NULL;
        certo_cert_info_dispose(&info);
        certo_nodes_ssl_id(id, n->fingerprint);
        n->ssl = certo_strdup(is_managed(k, n->fingerprint) ? id : "External");
    }
    if (install_target(j, n, k)) {
        n->installed = certo_strdup(k->last_fp);
        n->drift = n->fingerprint != NULL && strcmp(n->fingerprint, k->last_fp) != 0;
    }
    return CERTO_OK;
}

/* ---- the registry ---- */

static certo_rc
bind_opt(struct certo_stmt *st, int idx, const char *v)
{
    return v != NULL ? certo_stmt_bind_text(st, idx, v) : certo_stmt_bind_null(st, idx);
}

static certo_rc
insert_node(struct certo_stmt *st, const char *ep_id, const struct certo_node *n)
{
    certo_rc rc = certo_stmt_bind_text(st, 1, ep_id);

    if (rc == CERTO_OK)
        rc = certo_stmt_bind_int(st, 2, n->seq);
    if (rc == CERTO_OK)
        rc = certo_stmt_bind_text(st, 3, n->name);
    if (rc == CERTO_OK)
        rc = bind_opt(st, 4, n->alias);
    if (rc == CERTO_OK)
        rc = certo_stmt_bind_text(st, 5, n->vendor);
    if (rc == CERTO_OK)
        rc = bind_opt(st, 6, n->protocol);
    if (rc == CERTO_OK)
        rc = bind_opt(st, 7, n->address);
    if (rc == CERTO_OK)
        rc = n->port > 0 ? certo_stmt_bind_int(st, 8, n->port) : certo_stmt_bind_null(st, 8);
    if (rc == CERTO_OK)
        rc = bind_opt(st, 9, n->sni);
    if (rc == CERTO_OK)
        rc = bind_opt(st, 10, n->source);
    if (rc == CERTO_OK)
        rc = certo_stmt_bind_text(st, 11, certo_node_state_name(n->state));
    if (rc == CERTO_OK)
        rc = bind_opt(st, 12, n->reason);
    if (rc == CERTO_OK)
        rc = bind_opt(st, 13, n->fingerprint);
    if (rc == CERTO_OK)
        rc = bind_opt(st, 14, n->subject);
    if (rc == CERTO_OK)
        rc = bind_opt(st, 15, n->issuer);
    if (rc == CERTO_OK)
        rc = n->not_after != 0 ? certo_stmt_bind_int(st, 16, n->not_after)
                               : certo_stmt_bind_null(st, 16);
    if (rc == CERTO_OK)
        rc = bind_opt(st, 17, n->problems);
    if (rc == CERTO_OK)
        rc = bind_opt(st, 18, n->ssl);
    if (rc == CERTO_OK)
        rc = certo_stmt_bind_int(st, 19, n->drift ? 1 : 0);
    if (rc == CERTO_OK)
        rc = bind_opt(st, 20, n->installed);
    if (rc == CERTO_OK)
        rc = certo_stmt_bind_int(st, 21, n->discovered_at);
    return rc;
}

/* Runs 'sql' with the endpoint ID as $1 and, when 'b' is given, $2 and $3. */
static certo_rc
exec_ep(struct certo_db *db, const char *sql, const char *ep_id, const int64_t *b,
        struct certo_err *err)
{
    struct certo_stmt *st = NULL;
    bool row = false;
    certo_rc rc = certo_db_prepare(db, &st, sql, err);

    if (rc == CERTO_OK && (certo_stmt_bind_text(st, 1, ep_id) != CERTO_OK ||
                           (b != NULL && (certo_stmt_bind_int(st, 2, b[0]) != CERTO_OK ||
                                          certo_stmt_bind_int(st, 3, b[1]) != CERTO_OK))))
        rc = sql_fail(CERTO_EIO, err);
    if (rc == CERTO_OK)
        rc = certo_stmt_step(st, &row, err);
    certo_stmt_free(st);
    return rc;
}

/* Replaces the stored nodes of 'ep' by 'set', in one transaction. */
static certo_rc
store(struct certo_registry *reg, const struct certo_endpoint *ep, const struct certo_nodes *set,
      struct certo_err *err)
{
    struct certo_db *db = certo_registry__db(reg);
    struct certo_stmt *st = NULL;
    int64_t run[2] = {set->discovered_at, (int64_t)set->n};
    bool row = false;
    certo_rc rc = certo_db_begin(db, true, err);

    if (rc != CERTO_OK)
        return rc;
    rc = exec_ep(db, "DELETE FROM nodes WHERE endpoint_id = $1", ep->id, NULL, err);
    if (rc == CERTO_OK)
        rc = exec_ep(db, "DELETE FROM node_discoveries WHERE endpoint_id = $1", ep->id, NULL, err);
    if (rc == CERTO_OK)
        rc = exec_ep(db,
                     "INSERT INTO node_discoveries (endpoint_id, discovered_at, nodes) "
                     "VALUES ($1, $2, $3)",
                     ep->id, run, err);
    if (rc == CERTO_OK)
        rc = certo_db_prepare(db, &st,
                              "INSERT INTO nodes (endpoint_id, seq, name, alias, vendor, "
                              "protocol, address, port, sni, source, state, reason, fingerprint, "
                              "subject, issuer, not_after, problems, ssl, drift, installed, "
                              "discovered_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
                              "$11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)",
                              err);
    for (size_t i = 0; rc == CERTO_OK && i < set->n; i++) {
        certo_stmt_reset(st);
        if (insert_node(st, ep->id, &set->v[i]) != CERTO_OK)
            rc = sql_fail(CERTO_EIO, err);
        if (rc == CERTO_OK)
            rc = certo_stmt_step(st, &row, err);
    }
    certo_stmt_free(st);
    if (rc == CERTO_OK)
        rc = certo_db_commit(db, err);
    if (rc != CERTO_OK)
        certo_db_rollback(db);
    return rc;
}

static char *
col(struct certo_stmt *st, int c)
{
    return dup_or_null(certo_stmt_text(st, c));
}

certo_rc
certo_nodes_load(struct certo_nodes *out, struct certo_registry *reg,
                 const struct certo_endpoint *ep, struct certo_err *err)
{
    struct certo_db *db = certo_registry__db(reg);
    struct certo_stmt *st = NULL;
    struct certo_nodes set = {0};
    bool row = false;
    certo_rc rc;

    memset(out, 0, sizeof(*out));
    rc = certo_db_prepare(db, &st,
                          "SELECT discovered_at FROM node_discoveries WHERE endpoint_id = $1", err);
    if (rc == CERTO_OK && certo_stmt_bind_text(st, 1, ep->id) != CERTO_OK)
        rc = sql_fail(CERTO_EIO, err);
    if (rc == CERTO_OK)
        rc = certo_stmt_step(st, &row, err);
    if (rc == CERTO_OK && row)
        set.discovered_at = certo_stmt_int(st, 0);
    certo_stmt_free(st);
    st = NULL;
    if (rc == CERTO_OK)
        rc = certo_db_prepare(db, &st,
                              "SELECT seq, name, alias, vendor, protocol, address, port, sni, "
                              "source, state, reason, fingerprint, subject, issuer, not_after, "
                              "problems, ssl, drift, installed, discovered_at FROM nodes "
                              "WHERE endpoint_id = $1 ORDER BY seq",
                              err);
    if (rc == CERTO_OK && certo_stmt_bind_text(st, 1, ep->id) != CERTO_OK)
        rc = sql_fail(CERTO_EIO, err);
    while (rc == CERTO_OK) {
        struct certo_node *n;
        rc = certo_stmt_step(st, &row, err);
        if (rc != CERTO_OK || !row)
            break;
        set.v = certo_reallocarray(set.v, set.n + 1, sizeof(*set.v));
        n = &set.v[set.n++];
        memset(n, 0, sizeof(*n));
        n->seq = (int)certo_stmt_int(st, 0);
        n->name = col(st, 1);
        n->alias = col(st, 2);
        n->vendor = col(st, 3);
        n->protocol = col(st, 4);
        n->address = col(st, 5);
        n->port = (int)certo_stmt_int(st, 6);
        n->sni = col(st, 7);
        n->source = col(st, 8);
        if (n->name == NULL || n->vendor == NULL ||
            !state_parse(certo_stmt_text(st, 9), &n->state)) {
            rc = certo_err_set(err, CERTO_EPARSE, WHERE, "a stored node of endpoint %s is damaged",
                               ep->val[CERTO_F_NAME]);
            break;
        }
        n->reason = col(st, 10);
        n->fingerprint = col(st, 11);
        n->subject = col(st, 12);
        n->issuer = col(st, 13);
        n->not_after = certo_stmt_int(st, 14);
        n->problems = col(st, 15);
        n->ssl = col(st, 16);
        n->drift = certo_stmt_int(st, 17) != 0;
        n->installed = col(st, 18);
        n->discovered_at = certo_stmt_int(st, 19);
    }
    certo_stmt_free(st);
    if (rc != CERTO_OK) {
        certo_nodes_dispose(&set);
        return rc;
    }
    *out = set;
    return CERTO_OK;
}

/* ---- discovery ---- */

/* Reads the configured nodes under the endpoint's lock, with their files resolved. */
static certo_rc
read_nodes(struct certo_node_list *list, struct job **jobs, enum certo_recovery *rec,
           struct certo_registry *reg, const struct certo_endpoint *ep, struct certo_err *err)
{
    struct certo_session s;
    certo_rc rc;

    *jobs = NULL;
    rc = certo_install__open(&s, reg, ep, 0, err);
    if (rc == CERTO_OK)
        rc = certo_install__recover(&s, rec, err);
    if (rc == CERTO_OK)
        rc = certo_connector_nodes(s.ops, s.ctx, s.t, list, err);
    if (rc == CERTO_OK) {
        *jobs = certo_calloc(list->n + 1, sizeof(**jobs));
        for (size_t i = 0; i < list->n; i++) {
            struct job *j = &(*jobs)[i];
            j->cn = &list->v[i];
            j->files = certo_calloc(j->cn->n_cert_files + 1, sizeof(*j->files));
            for (size_t f = 0; f < j->cn->n_cert_files; f++) {
                char *real = NULL;
                struct certo_err e = {0};
                if (certo_transport_resolve(s.t, j->cn->cert_files[f], &real, &e) != CERTO_OK)
                    real = certo_strdup(j->cn->cert_files[f]); /* absent: compare as written */
                j->files[j->n_files++] = real;
            }
        }
    }
    certo_install__close(&s);
    return rc;
}

static void
jobs_free(struct job *jobs, size_t n)
{
    for (size_t i = 0; jobs != NULL && i < n; i++) {
        for (size_t f = 0; f < jobs[i].n_files; f++)
            certo_free(jobs[i].files[f]);
        certo_free(jobs[i].files);
        certo_free(jobs[i].reason);
        certo_certs_free(jobs[i].chain);
    }
    certo_free(jobs);
}

certo_rc
certo_nodes_discover(struct certo_nodes *out, struct certo_registry *reg,
                     const struct certo_endpoint *ep, const struct certo_nodes_opts *o,
                     struct certo_err *err)
{
    const struct certo_connector_ops *ops = certo_connector_find(certo_ep_type_name(ep->type));
    struct certo_node_list list = {0};
    struct certo_nodes set = {0};
    struct known k = {0};
    struct job *jobs = NULL;
    int timeout = o != NULL && o->timeout_ms > 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
    certo_rc rc;

    memset(out, 0, sizeof(*out));
    if (ops == NULL || ops->nodes == NULL)
        return certo_err_set(err, CERTO_EUNSUPPORTED, WHERE,
                             "discovering the nodes of %s endpoints is not available yet",
                             certo_ep_type_name(ep->type));
    rc = read_nodes(&list, &jobs, &set.recovery, reg, ep, err);
    if (rc == CERTO_OK)
        rc = known_load(&k, reg, ep, err);
    if (rc != CERTO_OK)
        goto out;
    for (size_t i = 0; i < list.n; i++) {
        if (list.v[i].kind == CERTO_NODE_ENTRY && list.v[i].chain != NULL)
            jobs[i].chain = certo_certs_dup(list.v[i].chain);
    }
    probe_all(jobs, list.n, timeout);
    set.discovered_at = (int64_t)certo_clock_now();
    set.v = certo_calloc(list.n + 1, sizeof(*set.v));
    for (size_t i = 0; rc == CERTO_OK && i < list.n; i++) {
        rc = node_fill(&set.v[i], &jobs[i], ep, &k, set.discovered_at, err);
        set.v[i].seq = (int)i + 1;
        set.n = i + 1;
    }
    if (rc == CERTO_OK)
        rc = store(reg, ep, &set, err);
    if (rc != CERTO_OK)
        goto out;
    *out = set; /* success: hand over ownership */
    memset(&set, 0, sizeof(set));
out:
    certo_nodes_dispose(&set);
    jobs_free(jobs, list.n);
    known_dispose(&k);
    certo_node_list_dispose(&list);
    return rc;
}
