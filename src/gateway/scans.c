/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Network scans in the gateway's database (gateway layer). Findings are queued and
 * written a batch at a time, each batch one short write transaction, so a long scan
 * never holds the database's write lock for more than a moment.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/x509_vfy.h>

#include "certo/cert.h"
#include "certo/clock.h"
#include "certo/mem.h"
#include "certo/scans.h"
#include "certo/store.h"
#include "gateway/gateway.h"

#define WHERE      "gateway.scans"
#define BATCH_ROWS 256
#define BATCH_MS   2000
#define SANS_MAX   (8u * 1024)
#define CHAIN_MAX  (1024u * 1024)
#define SCAN_FIELDS                                                                                \
    "id, started_at, finished_at, targets, ports, sni, outcome, hosts, probes, open, tls, "        \
    "http, other, closed, silent, unresolved"

struct certo_scan_writer {
    struct certo_registry *reg;
    int64_t id;
    struct certo_scan_row *queue; /* owned rows waiting for the next batch */
    size_t n_queue;
    int64_t last_flush_ms;
};

static char *
dup_or_null(const char *s)
{
    return s != NULL && s[0] != '\0' ? certo_strdup(s) : NULL;
}

void
certo_scan_row_dispose(struct certo_scan_row *r)
{
    if (r == NULL)
        return;
    char **strs[] = {&r->target,      &r->address, &r->sni,         &r->kind,    &r->detail,
                     &r->version,     &r->cipher,  &r->fingerprint, &r->subject, &r->issuer,
                     &r->common_name, &r->sans,    &r->key,         &r->verify,  &r->chain};
    for (size_t i = 0; i < CERTO_ARRAY_LEN(strs); i++)
        certo_free(*strs[i]);
    memset(r, 0, sizeof(*r));
}

/* "DNS:a, IP:127.0.0.1", cut (with "...") at SANS_MAX. */
static char *
sans_text(const struct certo_cert_info *info)
{
    struct certo_buf b;
    char *s;

    certo_buf_init(&b, SANS_MAX);
    for (size_t i = 0; i < info->n_sans; i++) {
        char item[512];
        snprintf(item, sizeof(item), "%s%s:%s", i > 0 ? ", " : "", info->sans[i].type,
                 info->sans[i].value);
        if (b.len + strlen(item) + 4 > SANS_MAX) {
            certo_buf_append_fit(&b, ", ...", 5);
            break;
        }
        certo_buf_append_fit(&b, item, strlen(item));
    }
    s = certo_strndup(b.len > 0 ? (const char *)b.data : "", b.len);
    certo_buf_dispose(&b);
    return s;
}

static certo_rc
leaf_fields(struct certo_scan_row *out, const struct certo_scan_result *r, struct certo_err *err)
{
    struct certo_cert_info info = {0};
    struct certo_buf pem;
    certo_rc rc = certo_cert_info_get(&info, sk_X509_value(r->chain, 0), err);

    if (rc != CERTO_OK)
        return rc;
    out->fingerprint = certo_strdup(info.fingerprint);
    out->subject = certo_strdup(info.subject);
    out->issuer = certo_strdup(info.issuer);
    out->common_name = dup_or_null(info.common_name);
    out->sans = sans_text(&info);
    out->key = certo_asprintf("%s %d", info.key_alg, info.key_bits);
    out->not_before = (int64_t)info.not_before;
    out->not_after = (int64_t)info.not_after;
    out->self_signed = info.self_signed ? 1 : 0;
    certo_cert_info_dispose(&info);

    certo_buf_init(&pem, CHAIN_MAX);
    for (int i = 0; rc == CERTO_OK && i < sk_X509_num(r->chain); i++)
        rc = certo_cert_to_pem(&pem, sk_X509_value(r->chain, i), err);
    if (rc == CERTO_OK)
        out->chain = certo_strndup((const char *)pem.data, pem.len);
    certo_buf_dispose(&pem);
    return rc;
}

certo_rc
certo_scan_row_from(struct certo_scan_row *out, const struct certo_scan_result *r,
                    struct certo_err *err)
{
    certo_rc rc = CERTO_OK;

    memset(out, 0, sizeof(*out));
    out->self_signed = -1;
    out->target = certo_strdup(r->target);
    out->address = certo_strdup(r->address);
    out->port = r->port;
    out->sni = dup_or_null(r->sni);
    out->kind = certo_strdup(certo_scan_kind_name(r->kind));
    out->detail = dup_or_null(r->detail);
    if (r->kind == CERTO_SCAN_TLS) {
        out->version = dup_or_null(r->version);
        out->cipher = dup_or_null(r->cipher);
        if (r->verify >= 0)
            out->verify = certo_strdup(
                r->verify == X509_V_OK ? "ok" : X509_verify_cert_error_string(r->verify));
        out->chain_len = r->chain != NULL ? sk_X509_num(r->chain) : 0;
        if (out->chain_len > 0)
            rc = leaf_fields(out, r, err);
    }
    if (rc != CERTO_OK)
        certo_scan_row_dispose(out);
    return rc;
}

void
certo_scan_info_dispose(struct certo_scan_info *s)
{
    if (s == NULL)
        return;
    certo_free(s->targets);
    certo_free(s->ports);
    certo_free(s->sni);
    certo_free(s->outcome);
    memset(s, 0, sizeof(*s));
}

/* ---- writing ---- */

certo_rc
certo_scan_writer_open(struct certo_scan_writer **out, struct certo_registry *reg,
                       const char *targets, const char *ports, const char *sni,
                       struct certo_err *err)
{
    struct certo_db *db = certo_registry__db(reg);
    struct certo_stmt *st = NULL;
    bool row = false;
    certo_rc rc;

    *out = NULL;
    rc = certo_db_prepare(db, &st,
                          "INSERT INTO scans (started_at, targets, ports, sni, outcome) "
                          "VALUES ($1, $2, $3, $4, 'running') RETURNING id",
                          err);
    if (rc == CERTO_OK && (certo_stmt_bind_int(st, 1, (int64_t)certo_clock_now()) != CERTO_OK ||
                           certo_stmt_bind_text(st, 2, targets) != CERTO_OK ||
                           certo_stmt_bind_text(st, 3, ports) != CERTO_OK ||
                           certo_stmt_bind_text(st, 4, sni) != CERTO_OK))
        rc = certo_err_set(err, CERTO_ETOOBIG, WHERE, "the scan's specification is too long");
    if (rc == CERTO_OK)
        rc = certo_stmt_step(st, &row, err);
    if (rc == CERTO_OK && !row)
        rc = certo_err_set(err, CERTO_EIO, WHERE, "the new scan got no id");
    if (rc == CERTO_OK) {
        *out = certo_calloc(1, sizeof(**out));
        (*out)->reg = reg;
        (*out)->id = certo_stmt_int(st, 0);
        (*out)->last_flush_ms = certo_clock_mono_ms();
    }
    certo_stmt_free(st);
    return rc;
}

int64_t
certo_scan_writer_id(const struct certo_scan_writer *w)
{
    return w->id;
}

static certo_rc
bind_row(struct certo_stmt *st, int64_t scan_id, const struct certo_scan_row *r)
{
    const char *texts[] = {r->target,  r->address, r->sni,         r->kind,    r->detail,
                           r->version, r->cipher,  r->fingerprint, r->subject, r->issuer,
                           r->sans,    r->key,     r->verify,      r->chain};
    certo_rc rc = certo_stmt_bind_int(st, 1, scan_id);

    for (size_t i = 0; rc == CERTO_OK && i < CERTO_ARRAY_LEN(texts); i++)
        rc = certo_stmt_bind_text(st, (int)i + 2, texts[i]);
    if (rc == CERTO_OK)
        rc = certo_stmt_bind_int(st, 16, r->port);
    if (rc == CERTO_OK)
        rc = r->not_after != 0 ? certo_stmt_bind_int(st, 17, r->not_before)
                               : certo_stmt_bind_null(st, 17);
    if (rc == CERTO_OK)
        rc = r->not_after != 0 ? certo_stmt_bind_int(st, 18, r->not_after)
                               : certo_stmt_bind_null(st, 18);
    if (rc == CERTO_OK)
        rc = r->self_signed >= 0 ? certo_stmt_bind_int(st, 19, r->self_signed)
                                 : certo_stmt_bind_null(st, 19);
    return rc;
}

/* Writes the queue in one transaction. The queue is emptied whatever happens. */
static certo_rc
flush(struct certo_scan_writer *w, struct certo_err *err)
{
    struct certo_db *db = certo_registry__db(w->reg);
    struct certo_stmt *st = NULL;
    bool row = false;
    certo_rc rc = CERTO_OK;

    w->last_flush_ms = certo_clock_mono_ms();
    if (w->n_queue == 0)
        return CERTO_OK;
    rc = certo_db_begin(db, true, err);
    if (rc == CERTO_OK)
        rc = certo_db_prepare(
            db, &st,
            "INSERT INTO scan_results (scan_id, target, address, sni, kind, detail, version, "
            "cipher, fingerprint, subject, issuer, sans, key, verify, chain, port, not_before, "
            "not_after, self_signed) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, "
            "$13, $14, $15, $16, $17, $18, $19)",
            err);
    for (size_t i = 0; rc == CERTO_OK && i < w->n_queue; i++) {
        certo_stmt_reset(st);
        if (bind_row(st, w->id, &w->queue[i]) != CERTO_OK)
            rc = certo_err_set(err, CERTO_ETOOBIG, WHERE, "a finding of %s:%d is too large",
                               w->queue[i].address, w->queue[i].port);
        if (rc == CERTO_OK)
            rc = certo_stmt_step(st, &row, err);
    }
    certo_stmt_free(st);
    if (rc == CERTO_OK)
        rc = certo_db_commit(db, err);
    if (rc != CERTO_OK)
        certo_db_rollback(db);
    for (size_t i = 0; i < w->n_queue; i++)
        certo_scan_row_dispose(&w->queue[i]);
    w->n_queue = 0;
    return rc;
}

certo_rc
certo_scan_writer_add(struct certo_scan_writer *w, struct certo_scan_row *row,
                      struct certo_err *err)
{
    if (w->n_queue % BATCH_ROWS == 0)
        w->queue = certo_reallocarray(w->queue, w->n_queue + BATCH_ROWS, sizeof(*w->queue));
    w->queue[w->n_queue++] = *row;
    memset(row, 0, sizeof(*row));
    if (w->n_queue >= BATCH_ROWS || certo_clock_mono_ms() - w->last_flush_ms >= BATCH_MS)
        return flush(w, err);
    return CERTO_OK;
}

certo_rc
certo_scan_writer_close(struct certo_scan_writer *w, const char *outcome,
                        const struct certo_scan_stats *s, struct certo_err *err)
{
    struct certo_stmt *st = NULL;
    bool row = false;
    certo_rc rc;

    if (w == NULL)
        return CERTO_OK;
    rc = flush(w, err);
    if (rc != CERTO_OK)
        outcome = "failed";
    /* The outcome is written even after a failed batch: "running" would be a lie. */
    if (certo_db_prepare(
            certo_registry__db(w->reg), &st,
            "UPDATE scans SET outcome = $2, finished_at = $3, hosts = $4, probes = $5, "
            "open = $6, tls = $7, http = $8, other = $9, closed = $10, silent = $11, "
            "unresolved = $12 WHERE id = $1",
            err) == CERTO_OK) {
        const int64_t v[] = {(int64_t)s->targets, (int64_t)s->probes, (int64_t)s->open,
                             (int64_t)s->tls,     (int64_t)s->http,   (int64_t)s->other,
                             (int64_t)s->closed,  (int64_t)s->silent, (int64_t)s->unresolved};
        certo_rc brc = certo_stmt_bind_int(st, 1, w->id);
        if (brc == CERTO_OK)
            brc = certo_stmt_bind_text(st, 2, outcome);
        if (brc == CERTO_OK)
            brc = certo_stmt_bind_int(st, 3, (int64_t)certo_clock_now());
        for (size_t i = 0; brc == CERTO_OK && i < CERTO_ARRAY_LEN(v); i++)
            brc = certo_stmt_bind_int(st, (int)i + 4, v[i]);
        if (brc == CERTO_OK)
            brc = certo_stmt_step(st, &row, err);
        if (rc == CERTO_OK)
            rc = brc;
    }
    certo_stmt_free(st);
    certo_free(w->queue);
    certo_free(w);
    return rc;
}

/* ---- reading ---- */

static char *
col_dup(struct certo_stmt *st, int col)
{
    const char *s = certo_stmt_text(st, col);
    return s != NULL ? certo_strdup(s) : NULL;
}

static void
info_from(struct certo_scan_info *s, struct certo_stmt *st)
{
    uint64_t *counts[] = {&s->stats.targets, &s->stats.probes, &s->stats.open,
                          &s->stats.tls,     &s->stats.http,   &s->stats.other,
                          &s->stats.closed,  &s->stats.silent, &s->stats.unresolved};

    memset(s, 0, sizeof(*s));
    s->id = certo_stmt_int(st, 0);
    s->started_at = certo_stmt_int(st, 1);
    s->finished_at = certo_stmt_int(st, 2);
    s->targets = col_dup(st, 3);
    s->ports = col_dup(st, 4);
    s->sni = col_dup(st, 5);
    s->outcome = col_dup(st, 6);
    for (size_t i = 0; i < CERTO_ARRAY_LEN(counts); i++)
        *counts[i] = (uint64_t)certo_stmt_int(st, (int)i + 7);
    s->stats.elapsed_ms = s->finished_at > 0 ? (s->finished_at - s->started_at) * 1000 : 0;
}

void
certo_scan_info_list_free(struct certo_scan_info *list, size_t n)
{
    for (size_t i = 0; list != NULL && i < n; i++)
        certo_scan_info_dispose(&list[i]);
    certo_free(list);
}

certo_rc
certo_scan_list(struct certo_registry *reg, struct certo_scan_info **out, size_t *n,
                struct certo_err *err)
{
    struct certo_stmt *st = NULL;
    bool row = false;
    certo_rc rc;

    *out = NULL;
    *n = 0;
    rc = certo_db_prepare(certo_registry__db(reg), &st,
                          "SELECT " SCAN_FIELDS " FROM scans ORDER BY id DESC", err);
    for (;;) {
        if (rc == CERTO_OK)
            rc = certo_stmt_step(st, &row, err);
        if (rc != CERTO_OK || !row)
            break;
        *out = certo_reallocarray(*out, *n + 1, sizeof(**out));
        info_from(&(*out)[(*n)++], st);
    }
    certo_stmt_free(st);
    if (rc != CERTO_OK) {
        certo_scan_info_list_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

void
certo_scan_rows_free(struct certo_scan_row *rows, size_t n)
{
    for (size_t i = 0; rows != NULL && i < n; i++)
        certo_scan_row_dispose(&rows[i]);
    certo_free(rows);
}

static void
row_from(struct certo_scan_row *r, struct certo_stmt *st)
{
    char **strs[] = {&r->target,  &r->address, &r->sni,         &r->kind,    &r->detail,
                     &r->version, &r->cipher,  &r->fingerprint, &r->subject, &r->issuer,
                     &r->sans,    &r->key,     &r->verify,      &r->chain};

    memset(r, 0, sizeof(*r));
    for (size_t i = 0; i < CERTO_ARRAY_LEN(strs); i++)
        *strs[i] = col_dup(st, (int)i);
    r->port = (int)certo_stmt_int(st, 14);
    r->not_before = certo_stmt_int(st, 15);
    r->not_after = certo_stmt_int(st, 16);
    r->self_signed = certo_stmt_is_null(st, 17) ? -1 : (int)certo_stmt_int(st, 17);
    /* Derived again rather than stored twice. */
    if (r->chain != NULL) {
        for (const char *p = r->chain; (p = strstr(p, "-----BEGIN CERTIFICATE-----")) != NULL; p++)
            r->chain_len++;
    }
    if (r->subject != NULL) {
        const char *cn = strstr(r->subject, "CN=");
        if (cn != NULL)
            r->common_name = certo_strndup(cn + 3, strcspn(cn + 3, ","));
    }
}

certo_rc
certo_scan_get(struct certo_registry *reg, int64_t id, struct certo_scan_info *info,
               struct certo_scan_row **rows, size_t *n, struct certo_err *err)
{
    struct certo_db *db = certo_registry__db(reg);
    struct certo_stmt *st = NULL;
    bool row = false;
    certo_rc rc;

    memset(info, 0, sizeof(*info));
    *rows = NULL;
    *n = 0;
    rc = certo_db_prepare(db, &st,
                          id > 0 ? "SELECT " SCAN_FIELDS " FROM scans WHERE id = $1"
                                 : "SELECT " SCAN_FIELDS " FROM scans ORDER BY id DESC LIMIT 1",
                          err);
    if (rc == CERTO_OK && id > 0 && certo_stmt_bind_int(st, 1, id) != CERTO_OK)
        rc = certo_err_set(err, CERTO_EINTERNAL, WHERE, "cannot bind the scan id");
    if (rc == CERTO_OK)
        rc = certo_stmt_step(st, &row, err);
    if (rc == CERTO_OK && !row)
        rc = id > 0 ? certo_err_set(err, CERTO_ENOTFOUND, WHERE, "no scan %lld", (long long)id)
                    : certo_err_set(err, CERTO_ENOTFOUND, WHERE,
                                    "no scan has been recorded yet (run 'certo discover scan')");
    if (rc == CERTO_OK)
        info_from(info, st);
    certo_stmt_free(st);
    st = NULL;
    if (rc == CERTO_OK)
        rc = certo_db_prepare(db, &st,
                              "SELECT target, address, sni, kind, detail, version, cipher, "
                              "fingerprint, subject, issuer, sans, key, verify, chain, port, "
                              "not_before, not_after, self_signed FROM scan_results "
                              "WHERE scan_id = $1 ORDER BY id",
                              err);
    if (rc == CERTO_OK && certo_stmt_bind_int(st, 1, info->id) != CERTO_OK)
        rc = certo_err_set(err, CERTO_EINTERNAL, WHERE, "cannot bind the scan id");
    for (;;) {
        if (rc == CERTO_OK)
            rc = certo_stmt_step(st, &row, err);
        if (rc != CERTO_OK || !row)
            break;
        if (*n % 64 == 0)
            *rows = certo_reallocarray(*rows, *n + 64, sizeof(**rows));
        row_from(&(*rows)[(*n)++], st);
    }
    certo_stmt_free(st);
    if (rc != CERTO_OK) {
        certo_scan_rows_free(*rows, *n);
        *rows = NULL;
        *n = 0;
        certo_scan_info_dispose(info);
    }
    return rc;
}

certo_rc
certo_scan_remove(struct certo_registry *reg, int64_t id, struct certo_err *err)
{
    struct certo_db *db = certo_registry__db(reg);
    struct certo_stmt *st = NULL;
    bool row = false;
    certo_rc rc = certo_db_begin(db, true, err);

    /* Results first: the schema's ON DELETE CASCADE needs foreign keys switched on. */
    const char *sql[] = {"DELETE FROM scan_results WHERE scan_id = $1",
                         "DELETE FROM scans WHERE id = $1"};
    for (size_t i = 0; rc == CERTO_OK && i < CERTO_ARRAY_LEN(sql); i++) {
        rc = certo_db_prepare(db, &st, sql[i], err);
        if (rc == CERTO_OK && certo_stmt_bind_int(st, 1, id) != CERTO_OK)
            rc = certo_err_set(err, CERTO_EINTERNAL, WHERE, "cannot bind the scan id");
        if (rc == CERTO_OK)
            rc = certo_stmt_step(st, &row, err);
        certo_stmt_free(st);
        st = NULL;
    }
    if (rc == CERTO_OK && certo_db_changes(db) == 0)
        rc = certo_err_set(err, CERTO_ENOTFOUND, WHERE, "no scan %lld", (long long)id);
    if (rc == CERTO_OK)
        rc = certo_db_commit(db, err);
    if (rc != CERTO_OK)
        certo_db_rollback(db);
    return rc;
}
