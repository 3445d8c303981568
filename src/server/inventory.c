/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The certificate inventory (migration 7). A row keeps the certificate and its chain as
 * PEM (public), the key as PKCS#8 DER sealed with the server's secret key under the
 * associated data "certificates/<SHA-256>/key", so a sealed key cannot be moved to another
 * row. The order number is the row id.
 */
#include <stdio.h>
#include <string.h>

#include "certo/cert.h"
#include "certo/chain.h"
#include "certo/inventory.h"
#include "certo/key.h"
#include "certo/limits.h"
#include "certo/mem.h"
#include "certo/seal.h"
#include "certo/server.h"
#include "server/sql.h"

#define WHERE "server.inventory"

static void
aad_of(char out[128], const char *fp)
{
    snprintf(out, 128, "certificates/%s/key", fp);
}

certo_rc
certo_inv_add(struct certo_db *db, const char *dir, const char *pem, const char *key_pem,
              const struct certo_secret *pass, int64_t org_id, int64_t dept_id, int64_t created_by,
              time_t now, int64_t *id, struct certo_err *err)
{
    struct certo_cert_info info = {0};
    struct certo_seal_key *kek = NULL;
    struct certo_err e = {0};
    struct certo_buf chain, der, sealed;
    STACK_OF(X509) *certs = NULL, *ordered = NULL;
    struct certo_stmt *st = NULL;
    EVP_PKEY *key = NULL;
    X509 *leaf;
    int64_t dup = 0;
    char aad[128];
    const char *name;
    bool row = false;
    certo_rc rc;

    *id = 0;
    certo_buf_init(&chain, CERTO_PEM_MAX);
    certo_buf_init(&der, 64 * 1024);
    certo_buf_init(&sealed, 64 * 1024 + CERTO_SEAL_OVERHEAD);
    rc = certo_key_parse(&key, key_pem, strlen(key_pem), pass, &e);
    if (rc != CERTO_OK)
        rc = certo_err_set(err, rc == CERTO_EAUTH ? CERTO_EAUTH : CERTO_EINVAL, WHERE, "key: %s",
                           e.msg);
    certo_err_clear(&e);
    if (rc == CERTO_OK && certo_cert_parse_all(&certs, pem, strlen(pem), &e) != CERTO_OK)
        rc = certo_err_set(err, CERTO_EINVAL, WHERE, "certificate: %s", e.msg);
    if (rc == CERTO_OK)
        rc = certo_chain_order(&ordered, certs, key, false, err);
    if (rc == CERTO_OK && !certo_cert_matches_key(sk_X509_value(ordered, 0), key))
        rc = certo_err_set(err, CERTO_EINVAL, WHERE, "certificate: none for the given key");
    if (rc != CERTO_OK)
        goto out;
    leaf = sk_X509_value(ordered, 0);
    rc = certo_cert_info_get(&info, leaf, err);
    for (int i = 0; rc == CERTO_OK && i < sk_X509_num(ordered); i++)
        rc = certo_cert_to_pem(&chain, sk_X509_value(ordered, i), err);
    if (rc == CERTO_OK)
        rc = certo_key_to_der(&der, key, err);
    if (rc == CERTO_OK)
        rc = certo_server_kek(&kek, dir, true, err);
    if (rc != CERTO_OK)
        goto out;
    aad_of(aad, info.fingerprint);
    rc = certo_seal(kek, aad, der.data, der.len, &sealed, err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_db_begin(db, true, err);
    if (rc != CERTO_OK)
        goto out;
    if (org_id == 0 && dept_id != 0)
        rc = certo_err_set(err, CERTO_EINVAL, WHERE, "deptId: needs its organization");
    if (rc == CERTO_OK)
        rc = sql_scalar(&dup, 0, db, err, "SELECT id FROM certificates WHERE fingerprint = $1", "t",
                        info.fingerprint);
    if (rc == CERTO_OK && dup != 0)
        rc = certo_err_set(err, CERTO_EEXIST, WHERE, "the certificate is already order %lld",
                           (long long)dup);
    name = info.common_name != NULL ? info.common_name : info.n_sans > 0 ? info.sans[0].value : "-";
    if (rc == CERTO_OK)
        rc = certo_db_prepare(db, &st,
                              "INSERT INTO certificates (name, subject, issuer, not_after,"
                              " fingerprint, chain_pem, key_sealed, org_id, dept_id, created_by,"
                              " created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
                              " RETURNING id",
                              err);
    if (rc == CERTO_OK) {
        char short_name[CERTO_NAME_MAX + 1];
        snprintf(short_name, sizeof(short_name), "%s", name);
        rc = certo_stmt_bind_text(st, 1, short_name);
        if (rc == CERTO_OK)
            rc = certo_stmt_bind_text(st, 2, info.subject);
        if (rc == CERTO_OK)
            rc = certo_stmt_bind_text(st, 3, info.issuer);
        if (rc == CERTO_OK)
            rc = certo_stmt_bind_int(st, 4, (int64_t)info.not_after);
        if (rc == CERTO_OK)
            rc = certo_stmt_bind_text(st, 5, info.fingerprint);
        if (rc == CERTO_OK)
            rc = certo_stmt_bind_text(st, 6, (const char *)chain.data);
        if (rc == CERTO_OK)
            rc = certo_stmt_bind_blob(st, 7, sealed.data, sealed.len);
        if (rc == CERTO_OK)
            rc = org_id != 0 ? certo_stmt_bind_int(st, 8, org_id) : certo_stmt_bind_null(st, 8);
        if (rc == CERTO_OK)
            rc = dept_id != 0 ? certo_stmt_bind_int(st, 9, dept_id) : certo_stmt_bind_null(st, 9);
        if (rc == CERTO_OK)
            rc = created_by != 0 ? certo_stmt_bind_int(st, 10, created_by)
                                 : certo_stmt_bind_null(st, 10);
        if (rc == CERTO_OK)
            rc = certo_stmt_bind_int(st, 11, (int64_t)now);
        if (rc != CERTO_OK)
            rc = certo_err_set(err, rc, WHERE, "cannot bind the certificate row");
        if (rc == CERTO_OK)
            rc = certo_stmt_step(st, &row, err);
        if (rc == CERTO_OK && row)
            *id = certo_stmt_int(st, 0);
    }
    certo_stmt_free(st);
    rc = sql_finish_tx(db, rc, err);
out:
    if (rc != CERTO_OK)
        *id = 0;
    EVP_PKEY_free(key);
    certo_certs_free(certs);
    certo_certs_free(ordered);
    certo_cert_info_dispose(&info);
    certo_seal_key_free(kek);
    certo_buf_dispose(&der); /* wiped */
    certo_buf_dispose(&chain);
    certo_buf_dispose(&sealed);
    return rc;
}

#define INV_COLS "id, name, subject, issuer, not_after, fingerprint, org_id, dept_id, created_at"

static void
inv_from(struct certo_inv_cert *c, struct certo_stmt *st)
{
    c->id = certo_stmt_int(st, 0);
    sql_copy(c->name, sizeof(c->name), certo_stmt_text(st, 1));
    sql_copy(c->subject, sizeof(c->subject), certo_stmt_text(st, 2));
    sql_copy(c->issuer, sizeof(c->issuer), certo_stmt_text(st, 3));
    c->not_after = certo_stmt_int(st, 4);
    sql_copy(c->fingerprint, sizeof(c->fingerprint), certo_stmt_text(st, 5));
    c->org_id = certo_stmt_int(st, 6);
    c->dept_id = certo_stmt_int(st, 7);
    c->created_at = certo_stmt_int(st, 8);
}

certo_rc
certo_inv_get(struct certo_db *db, int64_t id, struct certo_inv_cert *out, struct certo_err *err)
{
    struct certo_stmt *st = NULL;
    bool row = false;
    certo_rc rc =
        sql_query(&st, db, err, "SELECT " INV_COLS " FROM certificates WHERE id = $1", "i", id);

    if (rc == CERTO_OK)
        rc = certo_stmt_step(st, &row, err);
    if (rc == CERTO_OK && !row)
        rc = certo_err_set(err, CERTO_ENOTFOUND, WHERE, "no such certificate");
    if (rc == CERTO_OK)
        inv_from(out, st);
    certo_stmt_free(st);
    return rc;
}

certo_rc
certo_inv_find(struct certo_db *db, const char *fp, int64_t *id, struct certo_err *err)
{
    return sql_scalar(id, 0, db, err, "SELECT id FROM certificates WHERE fingerprint = $1", "t",
                      fp);
}

certo_rc
certo_inv_list(struct certo_db *db, int64_t org_id, int64_t dept_id, struct certo_page *page,
               struct certo_inv_cert *items, struct certo_err *err)
{
    static const char where[] = " WHERE ($1 = 0 OR org_id = $1) AND ($2 = 0 OR dept_id = $2)";
    struct certo_stmt *st = NULL;
    int64_t total = 0;
    bool row = false;
    char sql[384];
    certo_rc rc;

    snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM certificates%s", where);
    rc = sql_scalar(&total, 0, db, err, sql, "ii", org_id, dept_id);
    if (rc != CERTO_OK)
        return rc;
    sql_page_begin(page, total);
    snprintf(sql, sizeof(sql),
             "SELECT " INV_COLS " FROM certificates%s ORDER BY id LIMIT $3 OFFSET $4", where);
    rc = sql_query(&st, db, err, sql, "iiii", org_id, dept_id, page->max, page->start);
    while (rc == CERTO_OK && (rc = certo_stmt_step(st, &row, err)) == CERTO_OK && row)
        inv_from(&items[page->n++], st);
    certo_stmt_free(st);
    return rc;
}

certo_rc
certo_inv_remove(struct certo_db *db, int64_t id, struct certo_err *err)
{
    certo_rc rc = sql_run(db, err, "DELETE FROM certificates WHERE id = $1", "i", id);

    if (rc == CERTO_OK && certo_db_changes(db) == 0)
        rc = certo_err_set(err, CERTO_ENOTFOUND, WHERE, "no such certificate");
    return rc;
}

certo_rc
certo_inv_material(struct certo_db *db, const char *dir, int64_t id, struct certo_buf *cert_pem,
                   struct certo_buf *key_pem, struct certo_err *err)
{
    struct certo_seal_key *kek = NULL;
    struct certo_secret *der = NULL;
    struct certo_stmt *st = NULL;
    EVP_PKEY *key = NULL;
    const void *p;
    size_t n = 0;
    char aad[128];
    bool row = false;
    certo_rc rc = sql_query(&st, db, err,
                            "SELECT fingerprint, chain_pem, key_sealed FROM certificates"
                            " WHERE id = $1",
                            "i", id);

    if (rc == CERTO_OK)
        rc = certo_stmt_step(st, &row, err);
    if (rc == CERTO_OK && !row)
        rc = certo_err_set(err, CERTO_ENOTFOUND, WHERE, "no such certificate");
    if (rc == CERTO_OK)
        rc = certo_server_kek(&kek, dir, false, err);
    if (rc != CERTO_OK)
        goto out;
    aad_of(aad, certo_stmt_text(st, 0));
    p = certo_stmt_blob(st, 2, &n);
    rc = certo_unseal(kek, aad, p, n, &der, err);
    if (rc == CERTO_OK)
        rc = certo_key_parse(&key, certo_secret_get0(der), certo_secret_len(der), NULL, err);
    if (rc == CERTO_OK)
        rc = certo_key_to_pem(key_pem, key, NULL, err);
    if (rc == CERTO_OK)
        rc = certo_buf_append_str(cert_pem, certo_stmt_text(st, 1));
out:
    certo_stmt_free(st);
    EVP_PKEY_free(key);
    certo_secret_free(der);
    certo_seal_key_free(kek);
    return rc;
}
