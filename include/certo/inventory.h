/* SPDX-License-Identifier: Apache-2.0 */
/* layer: server */
/*
 * The server's certificate inventory (issue 8, seed 004): certificates with their keys,
 * each with an order number (its id: the seed's SSL column), delegated to an organization
 * and department like endpoints, installed on endpoints through install jobs. Keys are
 * sealed with the server's secret key; one is unsealed only to hand it to the gateway
 * that leased the install job, over mutual TLS.
 * Threading: a database handle belongs to one thread.
 */
#ifndef CERTO_INVENTORY_H
#define CERTO_INVENTORY_H

#include <stdint.h>
#include <time.h>

#include "certo/accounts.h"
#include "certo/buf.h"
#include "certo/err.h"
#include "certo/secret.h"
#include "certo/store.h"

struct certo_inv_cert {
    int64_t id;                    /* the order number */
    char name[CERTO_NAME_MAX + 1]; /* the subject's common name, or the first SAN */
    char subject[256];
    char issuer[256];
    int64_t not_after;
    char fingerprint[96];
    int64_t org_id;
    int64_t dept_id;
    int64_t created_at;
};

/**
 * Adds a certificate with its key: 'pem' holds the certificate and any chain (any order),
 * 'key_pem' its private key (encrypted with 'pass', or not: NULL).
 * @return CERTO_OK with *id; CERTO_EINVAL (no certificate for the key, scope);
 *         CERTO_EAUTH (wrong key password); CERTO_EEXIST (the same certificate is there:
 *         the message names its order number).
 */
CERTO_MUST_CHECK certo_rc certo_inv_add(struct certo_db *db, const char *dir, const char *pem,
                                        const char *key_pem, const struct certo_secret *pass,
                                        int64_t org_id, int64_t dept_id, int64_t created_by,
                                        time_t now, int64_t *id, struct certo_err *err);
/** @return CERTO_OK; CERTO_ENOTFOUND. */
CERTO_MUST_CHECK certo_rc certo_inv_get(struct certo_db *db, int64_t id, struct certo_inv_cert *out,
                                        struct certo_err *err);
/** The order number of the certificate with SHA-256 'fp'; 0 when not in the inventory. */
CERTO_MUST_CHECK certo_rc certo_inv_find(struct certo_db *db, const char *fp, int64_t *id,
                                         struct certo_err *err);
/** A page, ordered by id; org_id > 0 / dept_id > 0 narrow to a scope. */
CERTO_MUST_CHECK certo_rc certo_inv_list(struct certo_db *db, int64_t org_id, int64_t dept_id,
                                         struct certo_page *page, struct certo_inv_cert *items,
                                         struct certo_err *err);
/** @return CERTO_OK; CERTO_ENOTFOUND. */
CERTO_MUST_CHECK certo_rc certo_inv_remove(struct certo_db *db, int64_t id, struct certo_err *err);
/**
 * The PEM of a certificate with its chain, and of its key (unsealed; wiped when 'key_pem'
 * is disposed). For the gateway that leased an install job only.
 */
CERTO_MUST_CHECK certo_rc certo_inv_material(struct certo_db *db, const char *dir, int64_t id,
                                             struct certo_buf *cert_pem, struct certo_buf *key_pem,
                                             struct certo_err *err);

#endif
