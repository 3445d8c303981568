/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Gateways, their enrollment and their endpoints (migration 5). An enrollment token is
 * 32 random bytes shown once; the table keeps its SHA-256, its expiry and when it was
 * spent, so a token works once and a stolen database does not give one away. A gateway
 * is then known by the SHA-256 of its client certificate, which must also verify
 * against the gateway CA.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "certo/cert.h"
#include "certo/clock.h"
#include "certo/csr.h"
#include "certo/gateways.h"
#include "certo/hex.h"
#include "certo/mem.h"
#include "certo/server.h"
#include "server/sql.h"

#define WHERE       "server.gateways"
#define LAST_SEEN_S 30

static void
hex_of(char *out, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = (char)(certo_hex_digit(p[i] >> 4) | 0x20);
        out[2 * i + 1] = (char)(certo_hex_digit(p[i] & 15) | 0x20);
    }
    out[2 * n] = '\0';
}

/* The stored form of a token: hex SHA-256 of its text. */
static void
token_hash(char out[2 * SHA256_DIGEST_LENGTH + 1], const char *token)
{
    unsigned char md[SHA256_DIGEST_LENGTH];

    SHA256((const unsigned char *)token, strlen(token), md);
    hex_of(out, md, sizeof(md));
}

certo_rc
certo_gateway_add(struct certo_db *db, const char *name, char token[CERTO_ENROLL_TOKEN_LEN + 1],
                  int64_t *id, time_t now, struct certo_err *err)
{
    unsigned char rnd[CERTO_ENROLL_TOKEN_LEN / 2];
    char hash[2 * SHA256_DIGEST_LENGTH + 1];
    certo_rc rc = certo_name_check(name, true, "name", err);

    if (rc != CERTO_OK)
        return rc;
    if (certo_rand_bytes(rnd, sizeof(rnd)) != CERTO_OK)
        return certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "no random bytes for a token");
    hex_of(token, rnd, sizeof(rnd));
    OPENSSL_cleanse(rnd, sizeof(rnd));
    token_hash(hash, token);
    rc = certo_db_begin(db, true, err);
    if (rc != CERTO_OK)
        return rc;
    rc = sql_scalar(id, 0, db, err,
                    "INSERT INTO gateways (name, created_at) VALUES ($1, $2) RETURNING id", "ti",
                    name, (int64_t)now);
    if (rc == CERTO_EEXIST) {
        certo_err_clear(err);
        rc = certo_err_set(err, CERTO_EEXIST, WHERE, "gateway '%s' already exists", name);
    }
    if (rc == CERTO_OK)
        rc = sql_run(db, err,
                     "INSERT INTO enroll_tokens (token_hash, gateway_id, expires_at)"
                     " VALUES ($1, $2, $3)",
                     "tii", hash, *id, (int64_t)now + CERTO_ENROLL_TTL);
    rc = sql_finish_tx(db, rc, err);
    if (rc != CERTO_OK)
        OPENSSL_cleanse(token, CERTO_ENROLL_TOKEN_LEN + 1);
    return rc;
}

/* Sets the subject "CN=<name>,OU=gateway <id>,O=Certo" and signs the certificate again. */
static certo_rc
name_gateway(X509 *cert, const struct certo_gateway *gw, EVP_PKEY *ca_key, struct certo_err *err)
{
    X509_NAME *n = X509_NAME_new();
    char ou[48];
    certo_rc rc = CERTO_OK;

    snprintf(ou, sizeof(ou), "gateway %lld", (long long)gw->id);
    if (n == NULL ||
        X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *)"Certo", -1, -1,
                                   0) != 1 ||
        X509_NAME_add_entry_by_txt(n, "OU", MBSTRING_UTF8, (const unsigned char *)ou, -1, -1, 0) !=
            1 ||
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)gw->name, -1, -1,
                                   0) != 1 ||
        X509_set_subject_name(cert, n) != 1 || X509_sign(cert, ca_key, EVP_sha256()) <= 0)
        rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot name the gateway certificate");
    X509_NAME_free(n);
    return rc;
}

certo_rc
certo_gateway_enroll(struct certo_db *db, const char *dir, const char *token, const char *csr_pem,
                     struct certo_buf *cert_pem, struct certo_buf *ca_pem, int64_t *id, time_t now,
                     struct certo_err *err)
{
    const struct certo_sign_opts opts = {.days = CERTO_GATEWAY_CERT_DAYS, .path_len = -1};
    struct certo_identity ca = {0};
    struct certo_gateway gw;
    struct certo_err ignored = {0};
    char hash[2 * SHA256_DIGEST_LENGTH + 1], fp[96];
    X509_REQ *req = NULL;
    X509 *cert = NULL;
    bool in_tx = false;
    certo_rc rc;

    *id = 0;
    rc = certo_csr_parse(&req, csr_pem, strlen(csr_pem), err);
    if (rc != CERTO_OK) {
        rc = CERTO_EINVAL;
        goto out;
    }
    rc = certo_gateway_ca_ensure(&ca, db, dir, err);
    if (rc != CERTO_OK)
        goto out;
    token_hash(hash, token);
    rc = certo_db_begin(db, true, err);
    if (rc != CERTO_OK)
        goto out;
    in_tx = true;
    rc = sql_scalar(id, 0, db, err,
                    "SELECT gateway_id FROM enroll_tokens WHERE token_hash = $1 AND used_at IS NULL"
                    " AND expires_at > $2",
                    "ti", hash, (int64_t)now);
    if (rc == CERTO_OK && *id == 0)
        rc = certo_err_set(err, CERTO_EAUTH, WHERE, "unknown, used or expired enrollment token");
    if (rc == CERTO_OK)
        rc = certo_gateway_get(db, *id, &gw, err);
    if (rc == CERTO_OK && gw.revoked_at != 0)
        rc = certo_err_set(err, CERTO_EAUTH, WHERE, "unknown, used or expired enrollment token");
    if (rc != CERTO_OK)
        goto out;
    rc = certo_csr_sign(&cert, req, ca.cert, ca.key, &opts, &ignored);
    if (rc != CERTO_OK) {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE, "the CSR does not verify: %s", ignored.msg);
        goto out;
    }
    /* The certificate names the gateway, whatever subject the CSR asked for. */
    rc = name_gateway(cert, &gw, ca.key, err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_cert_fingerprint(fp, cert, err);
    if (rc == CERTO_OK)
        rc = sql_run(db, err, "UPDATE enroll_tokens SET used_at = $1 WHERE token_hash = $2", "it",
                     (int64_t)now, hash);
    if (rc == CERTO_OK)
        rc = sql_run(db, err, "UPDATE gateways SET cert_fp = $1, enrolled_at = $2 WHERE id = $3",
                     "tii", fp, (int64_t)now, *id);
    if (rc == CERTO_OK)
        rc = certo_cert_to_pem(cert_pem, cert, err);
    if (rc == CERTO_OK)
        rc = certo_cert_to_pem(ca_pem, ca.cert, err);
    if (rc == CERTO_OK)
        rc = certo_db_commit(db, err);
    if (rc == CERTO_OK)
        in_tx = false;
out:
    if (in_tx)
        certo_db_rollback(db);
    if (rc != CERTO_OK)
        *id = 0;
    X509_REQ_free(req);
    certo_cert_free(cert);
    certo_identity_dispose(&ca);
    return rc;
}

#define GW_COLS                                                                                    \
    "g.id, g.name, g.cert_fp, g.created_at, g.enrolled_at, g.last_seen, g.revoked_at,"             \
    " (SELECT COUNT(*) FROM endpoints e WHERE e.gateway_id = g.id AND e.removed_at IS NULL)"

static void
gw_from(struct certo_gateway *g, struct certo_stmt *st)
{
    g->id = certo_stmt_int(st, 0);
    sql_copy(g->name, sizeof(g->name), certo_stmt_text(st, 1));
    sql_copy(g->cert_fp, sizeof(g->cert_fp), certo_stmt_text(st, 2));
    g->created_at = certo_stmt_int(st, 3);
    g->enrolled_at = certo_stmt_int(st, 4);
    g->last_seen = certo_stmt_int(st, 5);
    g->revoked_at = certo_stmt_int(st, 6);
    g->endpoints = certo_stmt_int(st, 7);
}

certo_rc
certo_gateway_get(struct certo_db *db, int64_t id, struct certo_gateway *out, struct certo_err *err)
{
    struct certo_stmt *st = NULL;
    bool row = false;
    certo_rc rc =
        sql_query(&st, db, err, "SELECT " GW_COLS " FROM gateways g WHERE g.id = $1", "i", id);

    if (rc == CERTO_OK)
        rc = certo_stmt_step(st, &row, err);
    if (rc == CERTO_OK && !row)
        rc = certo_err_set(err, CERTO_ENOTFOUND, WHERE, "no such gateway");
    if (rc == CERTO_OK)
        gw_from(out, st);
    certo_stmt_free(st);
    return rc;
}

certo_rc
certo_gateway_by_cert(struct certo_db *db, X509 *ca, X509 *peer, struct certo_gateway *out,
                      time_t now, struct certo_err *err)
{
    struct certo_err ignored = {0};
    EVP_PKEY *ca_pub = X509_get0_pubkey(ca);
    time_t t = now;
    int64_t id = 0;
    char fp[96];

    if (peer == NULL)
        return certo_err_set(err, CERTO_EAUTH, WHERE,
                             "a gateway call needs the gateway's client certificate");
    if (ca_pub == NULL || X509_verify(peer, ca_pub) != 1 ||
        X509_NAME_cmp(X509_get_issuer_name(peer), X509_get_subject_name(ca)) != 0 ||
        X509_cmp_time(X509_get0_notBefore(peer), &t) > 0 ||
        X509_cmp_time(X509_get0_notAfter(peer), &t) < 0 ||
        certo_cert_fingerprint(fp, peer, &ignored) != CERTO_OK)
        return certo_err_set(err, CERTO_EAUTH, WHERE,
                             "the client certificate is not a gateway certificate of this server");
    if (sql_scalar(&id, 0, db, &ignored,
                   "SELECT id FROM gateways WHERE cert_fp = $1 AND revoked_at IS NULL", "t",
                   fp) != CERTO_OK ||
        id == 0)
        return certo_err_set(err, CERTO_EAUTH, WHERE, "unknown or revoked gateway certificate");
    if (certo_gateway_get(db, id, out, err) != CERTO_OK)
        return CERTO_EAUTH;
    /* Every poll passes here: the row is written at most every LAST_SEEN_S seconds. */
    if (out->last_seen < (int64_t)now - LAST_SEEN_S &&
        sql_run(db, &ignored, "UPDATE gateways SET last_seen = $1 WHERE id = $2", "ii",
                (int64_t)now, id) == CERTO_OK)
        out->last_seen = now;
    return CERTO_OK;
}

certo_rc
certo_gateway_list(struct certo_db *db, struct certo_page *page, struct certo_gateway *items,
                   struct certo_err *err)
{
    struct certo_stmt *st = NULL;
    int64_t total = 0;
    bool row = false;
    certo_rc rc = sql_scalar(&total, 0, db, err, "SELECT COUNT(*) FROM gateways", "");

    if (rc != CERTO_OK)
        return rc;
    sql_page_begin(page, total);
    rc = sql_query(&st, db, err,
                   "SELECT " GW_COLS " FROM gateways g ORDER BY g.id LIMIT $1 OFFSET $2", "ii",
                   page->max, page->start);
    while (rc == CERTO_OK && (rc = certo_stmt_step(st, &row, err)) == CERTO_OK && row)
        gw_from(&items[page->n++], st);
    certo_stmt_free(st);
    return rc;
}

certo_rc
certo_gateway_revoke(struct certo_db *db, int64_t id, time_t now, struct certo_err *err)
{
    certo_rc rc =
        sql_run(db, err, "UPDATE gateways SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2",
                "ii", (int64_t)now, id);

    if (rc == CERTO_OK && certo_db_changes(db) == 0)
        rc = certo_err_set(err, CERTO_ENOTFOUND, WHERE, "no such gateway");
    return rc;
}

/* ---- endpoints ---- */

static const char *const endpoint_types[] = {"nginx", "apache", "tomcat", "iis",
                                             "f5",    "pem",    "p12",    "jks"};
static const char *const transports[] = {"local", "ssh", "winrm", "rest"};

static bool
one_of(const char *s, const char *const *set, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(s, set[i]) == 0)
            return true;
    }
    return false;
}

static certo_rc
check_rec(const struct certo_managed *e, size_t i, struct certo_err *err)
{
    struct certo_err e2 = {0};

    if (certo_name_check(e->name, false, "name", &e2) != CERTO_OK)
        return certo_err_set(err, CERTO_EINVAL, WHERE, "endpoints[%zu].%s", i, e2.msg);
    if (!one_of(e->type, endpoint_types, CERTO_ARRAY_LEN(endpoint_types)))
        return certo_err_set(err, CERTO_EINVAL, WHERE,
                             "endpoints[%zu].type: nginx, apache, tomcat, iis, f5, pem, p12 or jks",
                             i);
    if (!one_of(e->transport, transports, CERTO_ARRAY_LEN(transports)))
        return certo_err_set(err, CERTO_EINVAL, WHERE,
                             "endpoints[%zu].transport: local, ssh, winrm or rest", i);
    for (const char *p = e->summary; *p != '\0'; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return certo_err_set(err, CERTO_EINVAL, WHERE,
                                 "endpoints[%zu].summary: printable text only", i);
    }
    return CERTO_OK;
}

certo_rc
certo_gateway_sync(struct certo_db *db, int64_t gateway_id, const struct certo_managed *eps,
                   size_t n, time_t now, int64_t *added, int64_t *removed, struct certo_err *err)
{
    int64_t before = 0, id = 0;
    certo_rc rc = CERTO_OK;

    *added = 0;
    *removed = 0;
    if (n > CERTO_SYNC_MAX)
        return certo_err_set(err, CERTO_ETOOBIG, WHERE, "endpoints: at most %d in one sync",
                             CERTO_SYNC_MAX);
    for (size_t i = 0; i < n && rc == CERTO_OK; i++) {
        rc = check_rec(&eps[i], i, err);
        for (size_t j = 0; j < i && rc == CERTO_OK; j++) {
            if (strcmp(eps[i].name, eps[j].name) == 0)
                rc = certo_err_set(err, CERTO_EINVAL, WHERE, "endpoints[%zu].name: '%s' twice", i,
                                   eps[i].name);
        }
    }
    if (rc != CERTO_OK)
        return rc;
    rc = certo_db_begin(db, true, err);
    if (rc != CERTO_OK)
        return rc;
    /* Everything is marked missing first; what the gateway still has comes back. */
    rc = sql_scalar(&before, 0, db, err,
                    "SELECT COUNT(*) FROM endpoints WHERE gateway_id = $1 AND removed_at IS NULL",
                    "i", gateway_id);
    if (rc == CERTO_OK)
        rc = sql_run(db, err,
                     "UPDATE endpoints SET removed_at = $1 WHERE gateway_id = $2 AND"
                     " removed_at IS NULL",
                     "ii", (int64_t)now, gateway_id);
    for (size_t i = 0; i < n && rc == CERTO_OK; i++) {
        id = 0;
        rc = sql_scalar(&id, 0, db, err,
                        "SELECT id FROM endpoints WHERE gateway_id = $1 AND name = $2", "it",
                        gateway_id, eps[i].name);
        if (rc == CERTO_OK && id != 0)
            rc = sql_run(db, err,
                         "UPDATE endpoints SET type = $1, transport = $2, summary = $3,"
                         " synced_at = $4, removed_at = NULL WHERE id = $5",
                         "tttii", eps[i].type, eps[i].transport, eps[i].summary, (int64_t)now, id);
        else if (rc == CERTO_OK) {
            rc = sql_run(db, err,
                         "INSERT INTO endpoints (gateway_id, name, type, transport, summary,"
                         " synced_at) VALUES ($1, $2, $3, $4, $5, $6)",
                         "itttti", gateway_id, eps[i].name, eps[i].type, eps[i].transport,
                         eps[i].summary, (int64_t)now);
            (*added)++;
        }
    }
    if (rc == CERTO_OK)
        *removed = before - ((int64_t)n - *added);
    return sql_finish_tx(db, rc, err);
}

#define EP_COLS                                                                                    \
    "id, gateway_id, name, type, transport, summary, org_id, dept_id, synced_at, removed_at"

static void
ep_from(struct certo_managed *e, struct certo_stmt *st)
{
    e->id = certo_stmt_int(st, 0);
    e->gateway_id = certo_stmt_int(st, 1);
    sql_copy(e->name, sizeof(e->name), certo_stmt_text(st, 2));
    sql_copy(e->type, sizeof(e->type), certo_stmt_text(st, 3));
    sql_copy(e->transport, sizeof(e->transport), certo_stmt_text(st, 4));
    sql_copy(e->summary, sizeof(e->summary), certo_stmt_text(st, 5));
    e->org_id = certo_stmt_int(st, 6);
    e->dept_id = certo_stmt_int(st, 7);
    e->synced_at = certo_stmt_int(st, 8);
    e->removed_at = certo_stmt_int(st, 9);
}

certo_rc
certo_managed_get(struct certo_db *db, int64_t id, struct certo_managed *out, struct certo_err *err)
{
    struct certo_stmt *st = NULL;
    bool row = false;
    certo_rc rc =
        sql_query(&st, db, err, "SELECT " EP_COLS " FROM endpoints WHERE id = $1", "i", id);

    if (rc == CERTO_OK)
        rc = certo_stmt_step(st, &row, err);
    if (rc == CERTO_OK && !row)
        rc = certo_err_set(err, CERTO_ENOTFOUND, WHERE, "no such endpoint");
    if (rc == CERTO_OK)
        ep_from(out, st);
    certo_stmt_free(st);
    return rc;
}

certo_rc
certo_managed_list(struct certo_db *db, int64_t org_id, int64_t dept_id, bool removed,
                   struct certo_page *page, struct certo_managed *items, struct certo_err *err)
{
    static const char where[] = " WHERE ($1 = 0 OR org_id = $1) AND ($2 = 0 OR dept_id = $2)"
                                " AND ($3 = 1 OR removed_at IS NULL)";
    struct certo_stmt *st = NULL;
    int64_t total = 0;
    bool row = false;
    char sql[384];
    certo_rc rc;

    snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM endpoints%s", where);
    rc = sql_scalar(&total, 0, db, err, sql, "iii", org_id, dept_id, (int64_t)removed);
    if (rc != CERTO_OK)
        return rc;
    sql_page_begin(page, total);
    snprintf(sql, sizeof(sql), "SELECT " EP_COLS " FROM endpoints%s ORDER BY id LIMIT $4 OFFSET $5",
             where);
    rc = sql_query(&st, db, err, sql, "iiiii", org_id, dept_id, (int64_t)removed, page->max,
                   page->start);
    while (rc == CERTO_OK && (rc = certo_stmt_step(st, &row, err)) == CERTO_OK && row)
        ep_from(&items[page->n++], st);
    certo_stmt_free(st);
    return rc;
}

certo_rc
certo_managed_delegate(struct certo_db *db, int64_t id, int64_t org_id, int64_t dept_id,
                       struct certo_err *err)
{
    struct certo_dept d;
    struct certo_org o;
    certo_rc rc = certo_db_begin(db, true, err);

    if (rc != CERTO_OK)
        return rc;
    if (org_id == 0 && dept_id != 0)
        rc = certo_err_set(err, CERTO_EINVAL, WHERE, "department: needs its organization");
    if (rc == CERTO_OK && org_id != 0)
        rc = certo_org_get(db, org_id, &o, err);
    if (rc == CERTO_OK && dept_id != 0)
        rc = certo_dept_get(db, dept_id, &d, err);
    if (rc == CERTO_OK && dept_id != 0 && d.org_id != org_id)
        rc = certo_err_set(err, CERTO_EINVAL, WHERE,
                           "department: it belongs to another organization");
    if (rc == CERTO_OK)
        rc = sql_run(db, err, "UPDATE endpoints SET org_id = $1, dept_id = $2 WHERE id = $3", "zzi",
                     org_id, dept_id, id);
    if (rc == CERTO_OK && certo_db_changes(db) == 0)
        rc = certo_err_set(err, CERTO_ENOTFOUND, WHERE, "no such endpoint");
    return sql_finish_tx(db, rc, err);
}

certo_rc
certo_gateway_local(struct certo_db *db, time_t now, int64_t *id, struct certo_err *err)
{
    certo_rc rc = certo_db_begin(db, true, err);

    if (rc != CERTO_OK)
        return rc;
    rc = sql_scalar(id, 0, db, err, "SELECT id FROM gateways WHERE name = $1", "t",
                    CERTO_LOCAL_GATEWAY);
    /* Enrolled from the start, and with no certificate: nobody can call as it. */
    if (rc == CERTO_OK && *id == 0)
        rc = sql_scalar(id, 0, db, err,
                        "INSERT INTO gateways (name, created_at, enrolled_at) VALUES ($1, $2, $2)"
                        " RETURNING id",
                        "ti", CERTO_LOCAL_GATEWAY, (int64_t)now);
    return sql_finish_tx(db, rc, err);
}
