/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One job of the server, run through the gateway library (client layer, issue 8):
 * "sync" (the endpoint list), "discover" (certo_nodes_discover), "restart"
 * (certo_install_restart) and "install" (certo_install, from the PEM the job carries: the
 * key goes from the job's JSON into an EVP_PKEY in memory, never into a file). Every kind
 * is safe to run again: a retried job does no harm. A job's failure is an outcome with a
 * one-line message and a log, never an error of the daemon.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "certo/agent.h"
#include "certo/bundle.h"
#include "certo/cert.h"
#include "certo/chain.h"
#include "certo/clock.h"
#include "certo/install.h"
#include "certo/key.h"
#include "certo/mem.h"
#include "certo/nodes.h"
#include "certo/utf8.h"

#define WHERE         "client.agent"
#define JOB_PEM_MAX   (1024u * 1024)
#define JOB_ALIAS_MAX 255

void
certo_agent_outcome_dispose(struct certo_agent_outcome *o)
{
    certo_buf_dispose(&o->log);
    json_decref(o->result);
    o->result = NULL;
}

/* Sets the one-line message (control characters become spaces). */
static void outcome_msg(struct certo_agent_outcome *o, const char *fmt, ...) CERTO_PRINTF(2, 3);

static void
outcome_msg(struct certo_agent_outcome *o, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(o->message, sizeof(o->message), fmt, ap);
    va_end(ap);
    /* One line of valid UTF-8: a cut sequence at the end is dropped, a bad byte is '?'. */
    for (size_t i = 0, n = strlen(o->message); i < n;) {
        uint32_t cp;
        size_t k = certo_utf8_decode((const unsigned char *)o->message + i, n - i, &cp);
        if (k == 0) {
            o->message[i++] = '?';
            continue;
        }
        if (cp < 0x20)
            o->message[i] = ' ';
        i += k;
    }
}

/*
 * Appends text to the job's log as valid UTF-8 (a script may print anything: a byte
 * that is not UTF-8 becomes '?'); what passes the ceiling is cut, with a note.
 */
static void
log_add(struct certo_agent_outcome *o, const char *text, size_t n)
{
    static const char cut[] = "\n[log cut at 64 KiB]\n";
    const unsigned char *p = (const unsigned char *)text;
    size_t room = o->log.max - sizeof(cut);

    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = certo_utf8_decode(p + i, n - i, &cp);
        if (o->log.len + (k == 0 ? 1 : k) > room) {
            if (o->log.len < o->log.max - sizeof(cut) + 1)
                certo_buf_append_fit(&o->log, cut, sizeof(cut) - 1);
            return;
        }
        if (k == 0 || (cp < 0x20 && cp != '\n' && cp != '\t')) {
            certo_buf_append_fit(&o->log, "?", 1);
            i += k == 0 ? 1 : k;
            continue;
        }
        certo_buf_append_fit(&o->log, p + i, k);
        i += k;
    }
}

static void log_printf(struct certo_agent_outcome *o, const char *fmt, ...) CERTO_PRINTF(2, 3);

static void
log_printf(struct certo_agent_outcome *o, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n > 0)
        log_add(o, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static void
failed(struct certo_agent_outcome *o, certo_rc rc, const struct certo_err *err, const char *what)
{
    const char *why =
        err != NULL && err->rc != CERTO_OK && err->msg[0] != '\0' ? err->msg : certo_rc_name(rc);
    o->succeeded = false;
    outcome_msg(o, "%s: %s", what, why);
    log_printf(o, "%s failed: %s\n", what, why);
}

static void
rfc3339(char out[32], int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;

    out[0] = '\0';
    if (gmtime_r(&tt, &tm) != NULL)
        strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static json_t *
str_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

/* ---- the kinds ---- */

static void
job_sync(struct certo_agent_outcome *o, struct certo_registry *reg, struct certo_session *s)
{
    struct certo_err err = {0};
    json_t *answer = NULL;
    certo_rc rc = certo_agent_sync(&answer, s, reg, &err);

    if (rc != CERTO_OK) {
        failed(o, rc, &err, "sync");
        return;
    }
    o->succeeded = true;
    outcome_msg(o, "synced %lld endpoints: %lld added, %lld removed",
                (long long)json_integer_value(json_object_get(answer, "total")),
                (long long)json_integer_value(json_object_get(answer, "added")),
                (long long)json_integer_value(json_object_get(answer, "removed")));
    log_printf(o, "%s\n", o->message);
    o->result = answer;
}

static void
note_recovery(struct certo_agent_outcome *o, enum certo_recovery rec)
{
    if (rec == CERTO_RECOVERY_ROLLED_BACK)
        log_printf(o, "note: an interrupted transaction was rolled back first\n");
    else if (rec == CERTO_RECOVERY_FINISHED)
        log_printf(o, "note: an interrupted transaction had committed and was finished first\n");
}

static void
job_discover(struct certo_agent_outcome *o, struct certo_registry *reg,
             const struct certo_endpoint *ep)
{
    struct certo_nodes set = {0};
    struct certo_nodes_opts no = {0};
    struct certo_err err = {0};
    json_t *nodes;
    char when[32];
    certo_rc rc;

    rc = certo_nodes_discover(&set, reg, ep, &no, &err);
    note_recovery(o, set.recovery);
    if (rc != CERTO_OK) {
        failed(o, rc, &err, "discover");
        goto out;
    }
    nodes = json_array();
    for (size_t i = 0; i < set.n; i++) {
        const struct certo_node *n = &set.v[i];
        json_t *j = json_object();
        json_object_set_new(j, "name", str_or_null(n->name));
        json_object_set_new(j, "alias", str_or_null(n->alias));
        json_object_set_new(j, "protocol", str_or_null(n->protocol));
        json_object_set_new(j, "ip", str_or_null(n->address));
        json_object_set_new(j, "port", n->port > 0 ? json_integer(n->port) : json_null());
        json_object_set_new(j, "ssl", str_or_null(n->ssl));
        json_object_set_new(j, "state", json_string(certo_node_state_name(n->state)));
        json_object_set_new(j, "subject", str_or_null(n->subject));
        json_object_set_new(j, "issuer", str_or_null(n->issuer));
        rfc3339(when, n->not_after);
        json_object_set_new(j, "notAfter", n->not_after != 0 ? json_string(when) : json_null());
        json_object_set_new(j, "fingerprint", str_or_null(n->fingerprint));
        json_array_append_new(nodes, j);
        log_printf(o, "%s  %s  %s:%d  %s  %s%s%s\n", n->name, n->protocol ? n->protocol : "-",
                   n->address ? n->address : "-", n->port, n->ssl ? n->ssl : "-",
                   certo_node_state_name(n->state), n->reason ? ": " : "",
                   n->reason ? n->reason : "");
    }
    o->succeeded = true;
    o->result = json_pack("{s:o}", "nodes", nodes);
    outcome_msg(o, "discovered %zu node%s of '%s'", set.n, set.n == 1 ? "" : "s",
                ep->val[CERTO_F_NAME]);
out:
    certo_nodes_dispose(&set);
}

static void
job_restart(struct certo_agent_outcome *o, struct certo_registry *reg,
            const struct certo_endpoint *ep)
{
    struct certo_install_opts io = {0};
    struct certo_op_result r;
    struct certo_err err = {0};
    certo_rc rc;

    memset(&r, 0, sizeof(r));
    rc = certo_install_restart(reg, ep, &io, &r, &err);
    note_recovery(o, r.recovery);
    if (r.log.len > 0)
        log_add(o, (const char *)r.log.data, r.log.len);
    if (rc != CERTO_OK) {
        failed(o, rc, &err, "restart");
    } else {
        o->succeeded = true;
        outcome_msg(o, "restarted '%s' (history #%lld)", ep->val[CERTO_F_NAME],
                    (long long)r.history_id);
        o->result = json_pack("{s:I}", "history", (json_int_t)r.history_id);
    }
    certo_op_result_dispose(&r);
}

/*
 * The material of an install job, from memory: the key of "key", the certificates of
 * "certificate" (the leaf first, then its chain in any order), checked as `tls install`
 * checks files: the key matches the leaf, the chain links and holds nothing else, the
 * leaf is valid now.
 */
static certo_rc
bundle_from_params(struct certo_bundle **out, const json_t *params, struct certo_err *err)
{
    const json_t *cert = json_object_get(params, "certificate"),
                 *key = json_object_get(params, "key");
    STACK_OF(X509) *all = NULL;
    struct certo_bundle *b = NULL;
    struct certo_cert_info info;
    time_t now = certo_clock_now();
    certo_rc rc;

    *out = NULL;
    if (!json_is_string(cert) || !json_is_string(key) || json_string_length(cert) > JOB_PEM_MAX ||
        json_string_length(key) > JOB_PEM_MAX)
        return certo_err_set(err, CERTO_EINVAL, WHERE,
                             "params: \"certificate\" and \"key\" (PEM strings) are required");
    b = certo_calloc(1, sizeof(*b));
    rc = certo_key_parse(&b->key, json_string_value(key), json_string_length(key), NULL, err);
    if (rc == CERTO_OK)
        rc = certo_cert_parse_all(&all, json_string_value(cert), json_string_length(cert), err);
    if (rc != CERTO_OK)
        goto out;
    if (!certo_cert_matches_key(sk_X509_value(all, 0), b->key)) {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE,
                           "the private key does not match the certificate");
        goto out;
    }
    rc = certo_chain_order(&b->chain, all, b->key, true, err);
    if (rc == CERTO_OK && sk_X509_num(b->chain) != sk_X509_num(all))
        rc = certo_err_set(err, CERTO_EINVAL, WHERE,
                           "a certificate of \"certificate\" does not belong to the chain of "
                           "the leaf");
    if (rc != CERTO_OK)
        goto out;
    rc = certo_cert_info_get(&info, sk_X509_value(b->chain, 0), err);
    if (rc != CERTO_OK)
        goto out;
    if (info.not_after < now || info.not_before > now)
        rc = certo_err_set(err, CERTO_EINVAL, WHERE, "the certificate is %s",
                           info.not_after < now ? "expired" : "not valid yet");
    certo_cert_info_dispose(&info);
    if (rc != CERTO_OK)
        goto out;
    *out = b;
    b = NULL;
out:
    certo_certs_free(all);
    certo_bundle_free(b);
    return rc;
}

static void
job_install(struct certo_agent_outcome *o, struct certo_registry *reg,
            const struct certo_endpoint *ep, const json_t *params)
{
    const json_t *alias = json_object_get(params, "alias");
    struct certo_install_opts io = {0};
    struct certo_bundle *b = NULL;
    struct certo_op_result r;
    struct certo_err err = {0};
    certo_rc rc;

    memset(&r, 0, sizeof(r));
    if (alias != NULL && !json_is_null(alias) &&
        (!json_is_string(alias) || json_string_length(alias) == 0 ||
         json_string_length(alias) > JOB_ALIAS_MAX)) {
        rc = certo_err_set(&err, CERTO_EINVAL, WHERE, "params: \"alias\" is a non-empty string");
        failed(o, rc, &err, "install");
        return;
    }
    io.alias = json_string_value(alias);
    rc = bundle_from_params(&b, params, &err);
    if (rc != CERTO_OK) {
        failed(o, rc, &err, "install");
        goto out;
    }
    rc = certo_install(reg, ep, b, &io, &r, &err);
    note_recovery(o, r.recovery);
    if (r.plan.len > 0)
        log_add(o, (const char *)r.plan.data, r.plan.len);
    if (r.log.len > 0)
        log_add(o, (const char *)r.log.data, r.log.len);
    if (rc != CERTO_OK) {
        failed(o, rc, &err, r.step[0] != '\0' ? "install (rolled back)" : "install");
        if (r.step[0] != '\0')
            log_printf(o, "failed at step %s; the endpoint was rolled back\n", r.step);
        goto out;
    }
    o->succeeded = true;
    outcome_msg(o, "installed '%s' on '%s' (history #%lld)", r.alias, ep->val[CERTO_F_NAME],
                (long long)r.history_id);
    log_printf(o, "certificate %s\n", r.fp_after);
    o->result =
        json_pack("{s:s,s:s,s:o,s:I}", "alias", r.alias, "fingerprint", r.fp_after, "replaced",
                  r.fp_before[0] != '\0' ? json_string(r.fp_before) : json_null(), "history",
                  (json_int_t)r.history_id);
out:
    certo_op_result_dispose(&r);
    certo_bundle_free(b);
}

void
certo_agent_job_run(struct certo_agent_outcome *out, struct certo_registry *reg,
                    struct certo_session *s, const json_t *job)
{
    const char *kind = json_string_value(json_object_get(job, "kind"));
    const char *name = json_string_value(json_object_get(job, "endpoint"));
    const json_t *params = json_object_get(job, "params");
    struct certo_endpoint ep = {0};
    struct certo_err err = {0};
    bool needs_ep;
    certo_rc rc;

    memset(out, 0, sizeof(*out));
    certo_buf_init(&out->log, CERTO_AGENT_LOG_MAX);
    if (kind == NULL) {
        outcome_msg(out, "unknown job kind");
        return;
    }
    needs_ep = strcmp(kind, "discover") == 0 || strcmp(kind, "restart") == 0 ||
               strcmp(kind, "install") == 0;
    if (strcmp(kind, "sync") == 0) {
        job_sync(out, reg, s);
        return;
    }
    if (!needs_ep) {
        outcome_msg(out, "unknown job kind");
        log_printf(out, "this gateway does not know job kind '%.64s'\n", kind);
        return;
    }
    if (name == NULL || name[0] == '\0') {
        outcome_msg(out, "%s: the job names no endpoint", kind);
        return;
    }
    rc = certo_registry_get(reg, name, &ep, &err);
    if (rc != CERTO_OK) {
        failed(out, rc, &err, kind);
        if (rc == CERTO_ENOTFOUND)
            outcome_msg(out,
                        "%s: no endpoint '%.64s' on this gateway (removed since the last "
                        "sync?)",
                        kind, name);
        return;
    }
    if (strcmp(kind, "discover") == 0)
        job_discover(out, reg, &ep);
    else if (strcmp(kind, "restart") == 0)
        job_restart(out, reg, &ep);
    else
        job_install(out, reg, &ep, params);
    certo_endpoint_dispose(&ep);
}
