/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The server's database (DATA/server.db, its own migrations) and its identity: one row
 * of the `keystore` table holding a certificate (DER) and its private key (PKCS#8 DER)
 * sealed with AES-256-GCM under the data directory's secret key, bound to the row and
 * column by the associated data. The first start creates the identity inside a write
 * transaction, so two servers starting at once end up with one identity.
 * `server-cert` changes it offline, each change in one write transaction: a CA-signed
 * certificate for the same key with its chain (chain_der: the DER certificates after the
 * leaf, concatenated), a PKCS#12 import, or a rotation; a replaced certificate of another
 * key stays in `trusted_signers` (migration 2) as a package signer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "certo/buf.h"
#include "certo/chain.h"
#include "certo/cert.h"
#include "certo/clock.h"
#include "certo/csr.h"
#include "certo/file.h"
#include "certo/key.h"
#include "certo/keystore.h"
#include "certo/limits.h"
#include "certo/mem.h"
#include "certo/pkcs12.h"
#include "certo/registry.h"
#include "certo/seal.h"
#include "certo/secret.h"
#include "certo/server.h"

#define WHERE         "server.identity"
#define IDENTITY      "identity"
#define LISTENER      "listener"
#define DER_MAX       (64 * 1024)
#define IDENTITY_DAYS 825
#define HOST_MAX      256

void
certo_identity_dispose(struct certo_identity *id)
{
    if (id == NULL)
        return;
    certo_cert_free(id->cert);
    certo_certs_free(id->chain);
    EVP_PKEY_free(id->key);
    memset(id, 0, sizeof(*id));
}

/* Concatenated DER certificates (the chain_der column) into a stack; NULL/empty: none. */
static certo_rc
chain_parse(STACK_OF(X509) * *out, const void *data, size_t len, struct certo_err *err)
{
    const unsigned char *p = data, *end = p + len;
    STACK_OF(X509) *sk = sk_X509_new_null();
    X509 *c = NULL;
    certo_rc rc = CERTO_EINTERNAL;

    if (sk == NULL) {
        rc = certo_err_set(err, CERTO_ENOMEM, WHERE, "out of memory");
        goto out;
    }
    while (p != NULL && p < end) {
        if (sk_X509_num(sk) >= CERTO_CHAIN_MAX) {
            rc = certo_err_set(err, CERTO_ETOOBIG, WHERE, "the stored chain is too long");
            goto out;
        }
        c = d2i_X509(NULL, &p, (long)(end - p));
        if (c == NULL) {
            rc = certo_err_ossl(err, CERTO_EPARSE, WHERE, "the stored chain is corrupt");
            goto out;
        }
        if (sk_X509_push(sk, c) == 0) {
            rc = certo_err_set(err, CERTO_ENOMEM, WHERE, "out of memory");
            goto out;
        }
        c = NULL;
    }
    *out = sk;
    sk = NULL;
    rc = CERTO_OK;
out:
    certo_cert_free(c);
    certo_certs_free(sk);
    return rc;
}

/*
 * Reads the stored identity, and unseals its key when 'kek' is given;
 * CERTO_ENOTFOUND (no error message) when there is none.
 */
static certo_rc
load_alias(struct certo_identity *out, struct certo_db *db, const struct certo_seal_key *kek,
           const char *alias, struct certo_err *err)
{
    char aad[64];
    struct certo_identity id = {0};
    struct certo_stmt *st = NULL;
    struct certo_secret *pk = NULL;
    const void *p;
    size_t len = 0;
    bool row = false;
    certo_rc rc = CERTO_EINTERNAL;

    rc = certo_db_prepare(
        db, &st, "SELECT cert_der, chain_der, key_sealed FROM keystore WHERE alias = $1", err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_stmt_bind_text(st, 1, alias);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_stmt_step(st, &row, err);
    if (rc != CERTO_OK)
        goto out;
    if (!row) {
        rc = CERTO_ENOTFOUND;
        goto out;
    }
    p = certo_stmt_blob(st, 0, &len);
    rc = certo_cert_parse(&id.cert, p, len, err);
    if (rc != CERTO_OK)
        goto out;
    p = certo_stmt_blob(st, 1, &len);
    rc = chain_parse(&id.chain, p, len, err);
    if (rc != CERTO_OK)
        goto out;
    if (kek != NULL) {
        p = certo_stmt_blob(st, 2, &len);
        snprintf(aad, sizeof(aad), "keystore/%s/key", alias);
        rc = certo_unseal(kek, aad, p, len, &pk, err);
        if (rc != CERTO_OK)
            goto out;
        rc = certo_key_parse(&id.key, certo_secret_get0(pk), certo_secret_len(pk), NULL, err);
        if (rc != CERTO_OK)
            goto out;
        if (!certo_cert_matches_key(id.cert, id.key)) {
            rc = certo_err_set(err, CERTO_EINVAL, WHERE,
                               "the stored %s key does not match its certificate", alias);
            goto out;
        }
    }
    *out = id;
    memset(&id, 0, sizeof(id));
out:
    certo_identity_dispose(&id);
    certo_secret_free(pk);
    certo_stmt_free(st);
    return rc;
}

static certo_rc
load_row(struct certo_identity *out, struct certo_db *db, const struct certo_seal_key *kek,
         struct certo_err *err)
{
    return load_alias(out, db, kek, IDENTITY, err);
}

static certo_rc
no_identity(struct certo_err *err)
{
    return certo_err_set(err, CERTO_ENOTFOUND, WHERE,
                         "the server has no identity yet (start `certo server` once)");
}

/* The KEK of 'dir' (or $CERTO_SECRET_KEY); 'create' makes DIR/secret.key when missing. */
static certo_rc
load_kek(struct certo_seal_key **out, const char *dir, bool create, struct certo_err *err)
{
    char *kpath = certo_asprintf("%s/secret.key", dir);
    struct certo_err e = {0};
    certo_rc rc = certo_seal_key_load(out, kpath, CERTO_SECRET_KEY_ENV, create, &e);

    if (rc == CERTO_ENOTFOUND)
        rc = certo_err_set(err, rc, WHERE, "no secret key: %s is missing and %s is not set", kpath,
                           CERTO_SECRET_KEY_ENV);
    else if (rc != CERTO_OK)
        *err = e;
    certo_free(kpath);
    return rc;
}

certo_rc
certo_server_kek(struct certo_seal_key **out, const char *dir, bool create, struct certo_err *err)
{
    return load_kek(out, dir, create, err);
}

certo_rc
certo_identity_load_cert(X509 **out, struct certo_db *db, struct certo_err *err)
{
    struct certo_identity id = {0};
    certo_rc rc = load_row(&id, db, NULL, err);

    *out = NULL;
    if (rc == CERTO_ENOTFOUND)
        return no_identity(err);
    if (rc == CERTO_OK) {
        *out = id.cert;
        id.cert = NULL;
    }
    certo_identity_dispose(&id);
    return rc;
}

certo_rc
certo_identity_load(struct certo_identity *out, struct certo_db *db, const char *dir,
                    struct certo_err *err)
{
    struct certo_seal_key *kek = NULL;
    certo_rc rc = CERTO_EINTERNAL;

    memset(out, 0, sizeof(*out));
    if (dir != NULL) {
        rc = load_kek(&kek, dir, false, err);
        if (rc != CERTO_OK)
            goto out;
    }
    rc = load_row(out, db, kek, err);
    if (rc == CERTO_ENOTFOUND)
        rc = no_identity(err);
out:
    certo_seal_key_free(kek);
    return rc;
}

/* The host name when it is a plain DNS name, else "certo-server". */
static void
host_name(char out[HOST_MAX])
{
    const char *ok = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-";
    size_t n;

    if (gethostname(out, HOST_MAX) != 0)
        out[0] = '\0';
    out[HOST_MAX - 1] = '\0';
    n = strspn(out, ok);
    if (n == 0 || n != strlen(out) || n >= 64 || out[0] == '.' || out[0] == '-')
        snprintf(out, HOST_MAX, "certo-server");
}

/* A new key and self-signed certificate for this instance. */
static certo_rc
make_identity(X509 **cert_out, EVP_PKEY **key_out, const char *listen_host, struct certo_err *err)
{
    const struct certo_key_spec spec = {.alg = CERTO_KEY_EC, .bits = 256};
    const struct certo_sign_opts opts = {.days = IDENTITY_DAYS, .is_ca = false, .path_len = -1};
    struct certo_names names = {0};
    const char *sans[4];
    char host[HOST_MAX];
    char *subject = NULL, *san_host = NULL, *san_listen = NULL;
    unsigned char a[16];
    EVP_PKEY *key = NULL;
    size_t n = 0;
    certo_rc rc = CERTO_EINTERNAL;

    host_name(host);
    subject = certo_asprintf("CN=%s", host);
    sans[n++] = "DNS:localhost";
    sans[n++] = "IP:127.0.0.1";
    if (strcmp(host, "localhost") != 0 && strcmp(host, "certo-server") != 0) {
        san_host = certo_asprintf("DNS:%s", host);
        sans[n++] = san_host;
    }
    if (listen_host != NULL && !certo_server_is_wildcard(listen_host) &&
        strcmp(listen_host, "127.0.0.1") != 0 &&
        (inet_pton(AF_INET, listen_host, a) == 1 || inet_pton(AF_INET6, listen_host, a) == 1)) {
        san_listen = certo_asprintf("IP:%s", listen_host);
        sans[n++] = san_listen;
    }
    names.subject = subject;
    names.sans = sans;
    names.n_sans = n;
    rc = certo_key_generate(&key, &spec, err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_cert_selfsign(cert_out, key, &names, &opts, err);
    if (rc != CERTO_OK)
        goto out;
    *key_out = key;
    key = NULL;
out:
    EVP_PKEY_free(key);
    certo_free(subject);
    certo_free(san_host);
    certo_free(san_listen);
    return rc;
}

/* Concatenated DER of 'chain' into 'out' (empty for none). */
static certo_rc
chain_to_der(struct certo_buf *out, STACK_OF(X509) * chain, struct certo_err *err)
{
    certo_rc rc = CERTO_OK;

    for (int i = 0; chain != NULL && i < sk_X509_num(chain) && rc == CERTO_OK; i++)
        rc = certo_cert_to_der(out, sk_X509_value(chain, i), err);
    return rc;
}

static const char *
kind_of(X509 *cert)
{
    return certo_chain_self_signed(cert) ? "self-signed" : "ca-signed";
}

/* Replaces the row 'alias' with 'id' (key sealed under 'kek'). Inside a transaction. */
static certo_rc
store_alias(struct certo_db *db, const struct certo_identity *id, const struct certo_seal_key *kek,
            const char *alias, struct certo_err *err)
{
    struct certo_buf der, chain, pk, sealed;
    char aad[64];
    struct certo_stmt *st = NULL;
    char fp[96];
    bool row = false;
    certo_rc rc = CERTO_EINTERNAL;

    certo_buf_init(&der, DER_MAX);
    certo_buf_init(&chain, DER_MAX * CERTO_CHAIN_MAX);
    certo_buf_init(&pk, DER_MAX);
    certo_buf_init(&sealed, DER_MAX + CERTO_SEAL_OVERHEAD);
    rc = certo_cert_to_der(&der, id->cert, err);
    if (rc == CERTO_OK)
        rc = chain_to_der(&chain, id->chain, err);
    if (rc == CERTO_OK)
        rc = certo_cert_fingerprint(fp, id->cert, err);
    if (rc == CERTO_OK)
        rc = certo_key_to_der(&pk, id->key, err);
    snprintf(aad, sizeof(aad), "keystore/%s/key", alias);
    if (rc == CERTO_OK)
        rc = certo_seal(kek, aad, pk.data, pk.len, &sealed, err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_db_prepare(db, &st, "DELETE FROM keystore WHERE alias = $1", err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_stmt_bind_text(st, 1, alias);
    if (rc == CERTO_OK)
        rc = certo_stmt_step(st, &row, err);
    if (rc != CERTO_OK)
        goto out;
    certo_stmt_free(st);
    st = NULL;
    rc = certo_db_prepare(db, &st,
                          "INSERT INTO keystore (alias, kind, cert_der, chain_der, key_sealed,"
                          " fingerprint, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                          err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_stmt_bind_text(st, 1, alias);
    if (rc == CERTO_OK)
        rc = certo_stmt_bind_text(st, 2,
                                  strcmp(alias, LISTENER) == 0 ? "listener" : kind_of(id->cert));
    if (rc == CERTO_OK)
        rc = certo_stmt_bind_blob(st, 3, der.data, der.len);
    if (rc == CERTO_OK && chain.len > 0)
        rc = certo_stmt_bind_blob(st, 4, chain.data, chain.len);
    else if (rc == CERTO_OK)
        rc = certo_stmt_bind_null(st, 4);
    if (rc == CERTO_OK)
        rc = certo_stmt_bind_blob(st, 5, sealed.data, sealed.len);
    if (rc == CERTO_OK)
        rc = certo_stmt_bind_text(st, 6, fp);
    if (rc == CERTO_OK)
        rc = certo_stmt_bind_int(st, 7, (int64_t)certo_clock_now());
    if (rc != CERTO_OK) {
        rc = certo_err_set(err, rc, WHERE, "cannot bind the identity row");
        goto out;
    }
    rc = certo_stmt_step(st, &row, err);
out:
    certo_stmt_free(st);
    certo_buf_dispose(&pk); /* wiped */
    certo_buf_dispose(&der);
    certo_buf_dispose(&chain);
    certo_buf_dispose(&sealed);
    return rc;
}

static certo_rc
store_row(struct certo_db *db, const struct certo_identity *id, const struct certo_seal_key *kek,
          struct certo_err *err)
{
    return store_alias(db, id, kek, IDENTITY, err);
}

/* Keeps 'cert' in trusted_signers (once: a certificate already there is left alone). */
static certo_rc
add_signer(struct certo_db *db, X509 *cert, const char *reason, struct certo_err *err)
{
    struct certo_buf der;
    struct certo_stmt *st = NULL;
    struct certo_err dup = {0};
    char fp[96], alias[64];
    size_t n = 0;
    bool row = false;
    certo_rc rc = CERTO_EINTERNAL;

    certo_buf_init(&der, DER_MAX);
    rc = certo_cert_to_der(&der, cert, err);
    if (rc == CERTO_OK)
        rc = certo_cert_fingerprint(fp, cert, err);
    if (rc != CERTO_OK)
        goto out;
    /* "identity-" and the first 16 hex digits of the fingerprint. */
    n = (size_t)snprintf(alias, sizeof(alias), "identity-");
    for (const char *p = fp; *p != '\0' && n < 9 + 16; p++) {
        if (*p != ':')
            alias[n++] = *p;
    }
    alias[n] = '\0';
    rc = certo_db_prepare(db, &st,
                          "INSERT INTO trusted_signers (alias, cert_der, fingerprint, added_at,"
                          " reason) VALUES ($1, $2, $3, $4, $5)",
                          err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_stmt_bind_text(st, 1, alias);
    if (rc == CERTO_OK)
        rc = certo_stmt_bind_blob(st, 2, der.data, der.len);
    if (rc == CERTO_OK)
        rc = certo_stmt_bind_text(st, 3, fp);
    if (rc == CERTO_OK)
        rc = certo_stmt_bind_int(st, 4, (int64_t)certo_clock_now());
    if (rc == CERTO_OK)
        rc = certo_stmt_bind_text(st, 5, reason);
    if (rc != CERTO_OK) {
        rc = certo_err_set(err, rc, WHERE, "cannot bind the signer row");
        goto out;
    }
    rc = certo_stmt_step(st, &row, &dup);
    if (rc == CERTO_EEXIST)
        rc = CERTO_OK;
    else if (rc != CERTO_OK)
        *err = dup;
out:
    certo_stmt_free(st);
    certo_buf_dispose(&der);
    return rc;
}

certo_rc
certo_identity_ensure(struct certo_identity *out, bool *created, struct certo_db *db,
                      const char *dir, const char *listen_host, struct certo_err *err)
{
    struct certo_seal_key *kek = NULL;
    struct certo_identity id = {0};
    bool in_tx = false;
    certo_rc rc = CERTO_EINTERNAL;

    memset(out, 0, sizeof(*out));
    *created = false;
    rc = load_kek(&kek, dir, true, err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_db_begin(db, true, err);
    if (rc != CERTO_OK)
        goto out;
    in_tx = true;
    rc = load_row(&id, db, kek, err);
    if (rc == CERTO_ENOTFOUND) {
        rc = make_identity(&id.cert, &id.key, listen_host, err);
        if (rc != CERTO_OK)
            goto out;
        rc = store_row(db, &id, kek, err);
        if (rc != CERTO_OK)
            goto out;
        *created = true;
    }
    if (rc != CERTO_OK)
        goto out;
    rc = certo_db_commit(db, err);
    if (rc != CERTO_OK)
        goto out;
    in_tx = false;
    *out = id;
    memset(&id, 0, sizeof(id));
out:
    if (in_tx)
        certo_db_rollback(db);
    if (rc != CERTO_OK)
        *created = false;
    certo_identity_dispose(&id);
    certo_seal_key_free(kek);
    return rc;
}

certo_rc
certo_identity_csr(X509_REQ **out, struct certo_db *db, const char *dir,
                   const struct certo_names *names, struct certo_err *err)
{
    struct certo_identity id = {0};
    struct certo_cert_info info = {0};
    struct certo_names use = {0};
    char *subject = NULL;
    char **sans = NULL;
    size_t n = 0;
    certo_rc rc = CERTO_EINTERNAL;

    *out = NULL;
    rc = certo_identity_load(&id, db, dir, err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_cert_info_get(&info, id.cert, err);
    if (rc != CERTO_OK)
        goto out;
    if (names != NULL)
        use = *names;
    if (use.subject == NULL) {
        subject = certo_cert_name_text(X509_get_subject_name(id.cert));
        use.subject = subject;
    }
    if (use.n_sans == 0) {
        sans = certo_calloc(info.n_sans + 1, sizeof(*sans));
        for (size_t i = 0; i < info.n_sans; i++) {
            if (strcmp(info.sans[i].type, "other") != 0)
                sans[n++] = certo_asprintf("%s:%s", info.sans[i].type, info.sans[i].value);
        }
        use.sans = (const char *const *)sans;
        use.n_sans = n;
    }
    rc = certo_csr_new(out, id.key, &use, err);
out:
    for (size_t i = 0; i < n; i++)
        certo_free(sans[i]);
    certo_free(sans);
    certo_free(subject);
    certo_cert_info_dispose(&info);
    certo_identity_dispose(&id);
    return rc;
}

/* Refuses a certificate outside its validity at 'now'. */
/* Opens a write transaction (*in_tx set) and loads the current identity row into 'id'. */
static certo_rc
begin_with_identity(struct certo_identity *id, bool *in_tx, struct certo_db *db,
                    struct certo_err *err)
{
    certo_rc rc = certo_db_begin(db, true, err);

    if (rc != CERTO_OK)
        return rc;
    *in_tx = true;
    rc = load_row(id, db, NULL, err);
    return rc == CERTO_ENOTFOUND ? no_identity(err) : rc;
}

static certo_rc
check_validity(X509 *cert, time_t now, struct certo_err *err)
{
    time_t t = now;

    if (X509_cmp_time(X509_get0_notBefore(cert), &t) > 0)
        return certo_err_set(err, CERTO_EINVAL, WHERE, "the certificate is not yet valid");
    if (X509_cmp_time(X509_get0_notAfter(cert), &t) < 0)
        return certo_err_set(err, CERTO_EINVAL, WHERE, "the certificate has expired");
    return CERTO_OK;
}

certo_rc
certo_identity_import_cert(struct certo_db *db, STACK_OF(X509) * certs, bool force, time_t now,
                           struct certo_err *err)
{
    struct certo_identity id = {0};
    struct certo_stmt *st = NULL;
    struct certo_buf der, chain;
    STACK_OF(X509) *ordered = NULL;
    X509 *leaf;
    char fp[96];
    bool in_tx = false, row = false, found = false;
    certo_rc rc = CERTO_EINTERNAL;

    certo_buf_init(&der, DER_MAX);
    certo_buf_init(&chain, DER_MAX * CERTO_CHAIN_MAX);
    rc = begin_with_identity(&id, &in_tx, db, err);
    if (rc != CERTO_OK)
        goto out;
    for (int i = 0; i < sk_X509_num(certs) && !found; i++)
        found = certo_cert_matches_key(sk_X509_value(certs, i), X509_get0_pubkey(id.cert));
    if (!found) {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE,
                           "no certificate for the server identity's key (make it from "
                           "`certo server-cert csr`)");
        goto out;
    }
    rc = certo_chain_order(&ordered, certs, X509_get0_pubkey(id.cert), false, err);
    if (rc != CERTO_OK)
        goto out;
    leaf = sk_X509_value(ordered, 0);
    if (!force) {
        rc = check_validity(leaf, now, err);
        if (rc != CERTO_OK)
            goto out;
    }
    certo_cert_free(sk_X509_shift(ordered)); /* 'leaf' stays referenced by 'certs' */
    rc = certo_cert_to_der(&der, leaf, err);
    if (rc == CERTO_OK)
        rc = chain_to_der(&chain, ordered, err);
    if (rc == CERTO_OK)
        rc = certo_cert_fingerprint(fp, leaf, err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_db_prepare(db, &st,
                          "UPDATE keystore SET kind = $2, cert_der = $3, chain_der = $4,"
                          " fingerprint = $5 WHERE alias = $1",
                          err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_stmt_bind_text(st, 1, IDENTITY);
    if (rc == CERTO_OK)
        rc = certo_stmt_bind_text(st, 2, kind_of(leaf));
    if (rc == CERTO_OK)
        rc = certo_stmt_bind_blob(st, 3, der.data, der.len);
    if (rc == CERTO_OK && chain.len > 0)
        rc = certo_stmt_bind_blob(st, 4, chain.data, chain.len);
    else if (rc == CERTO_OK)
        rc = certo_stmt_bind_null(st, 4);
    if (rc == CERTO_OK)
        rc = certo_stmt_bind_text(st, 5, fp);
    if (rc != CERTO_OK) {
        rc = certo_err_set(err, rc, WHERE, "cannot bind the identity row");
        goto out;
    }
    rc = certo_stmt_step(st, &row, err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_db_commit(db, err);
    if (rc == CERTO_OK)
        in_tx = false;
out:
    certo_stmt_free(st);
    if (in_tx)
        certo_db_rollback(db);
    certo_certs_free(ordered);
    certo_identity_dispose(&id);
    certo_buf_dispose(&der);
    certo_buf_dispose(&chain);
    return rc;
}

/* The certificate and its chain in one new stack (new references). */
static STACK_OF(X509) * full_chain(const struct certo_identity *id)
{
    STACK_OF(X509) *sk = certo_certs_dup(id->chain);

    if (sk != NULL && sk_X509_insert(sk, id->cert, 0) > 0) {
        X509_up_ref(id->cert);
        return sk;
    }
    certo_certs_free(sk);
    return NULL;
}

certo_rc
certo_identity_export(struct certo_buf *out, struct certo_db *db, const char *dir,
                      const struct certo_secret *pass, struct certo_err *err)
{
    struct certo_identity id = {0};
    struct certo_keystore *ks = NULL;
    STACK_OF(X509) *all = NULL;
    certo_rc rc = CERTO_EINTERNAL;

    if (pass == NULL || certo_secret_len(pass) == 0) {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE, "an empty password is not allowed");
        goto out;
    }
    rc = certo_identity_load(&id, db, dir, err);
    if (rc != CERTO_OK)
        goto out;
    all = full_chain(&id);
    if (all == NULL) {
        rc = certo_err_set(err, CERTO_ENOMEM, WHERE, "out of memory");
        goto out;
    }
    ks = certo_keystore_new(CERTO_KS_PKCS12);
    ks->p12_profile = CERTO_P12_MODERN;
    rc = certo_keystore_put_key(ks, IDENTITY, id.key, all, certo_clock_now_ms(), err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_pkcs12_write(out, ks, pass, err);
out:
    certo_keystore_free(ks);
    certo_certs_free(all);
    certo_identity_dispose(&id);
    return rc;
}

/* The one key entry of 'ks' (or the one named "identity"), checked. */
static certo_rc
pick_entry(const struct certo_ks_entry **out, const struct certo_keystore *ks,
           struct certo_err *err)
{
    const struct certo_ks_entry *e = NULL;
    size_t keys = 0;

    for (size_t i = 0; i < ks->count; i++) {
        if (ks->entries[i].kind == CERTO_KS_ENTRY_KEY && ks->entries[i].key != NULL) {
            keys++;
            if (e == NULL || strcmp(ks->entries[i].alias, IDENTITY) == 0)
                e = &ks->entries[i];
        }
    }
    if (keys == 0)
        return certo_err_set(err, CERTO_EINVAL, WHERE, "the PKCS#12 file holds no private key");
    if (keys > 1 && strcmp(e->alias, IDENTITY) != 0)
        return certo_err_set(err, CERTO_EINVAL, WHERE,
                             "the PKCS#12 file holds %zu private keys and none is named "
                             "\"identity\"",
                             keys);
    if (e->certs == NULL || sk_X509_num(e->certs) == 0)
        return certo_err_set(err, CERTO_EINVAL, WHERE,
                             "the PKCS#12 file holds no certificate for its private key");
    if (!certo_cert_matches_key(sk_X509_value(e->certs, 0), e->key))
        return certo_err_set(err, CERTO_EINVAL, WHERE,
                             "the private key of the PKCS#12 file does not match its "
                             "certificate");
    *out = e;
    return CERTO_OK;
}

certo_rc
certo_identity_import_p12(struct certo_db *db, const char *dir, const void *data, size_t len,
                          const struct certo_secret *pass, bool replace, struct certo_err *err)
{
    struct certo_keystore *ks = certo_keystore_new(CERTO_KS_PKCS12);
    struct certo_seal_key *kek = NULL;
    struct certo_identity cur = {0}, id = {0};
    const struct certo_ks_entry *entry = NULL;
    struct certo_err e = {0};
    bool in_tx = false;
    certo_rc rc = CERTO_EINTERNAL;

    rc = certo_pkcs12_parse(ks, data, len, pass, &e);
    if (rc == CERTO_EAUTH)
        rc = certo_err_set(err, rc, WHERE, "wrong password");
    else if (rc != CERTO_OK)
        *err = e;
    if (rc != CERTO_OK)
        goto out;
    rc = pick_entry(&entry, ks, err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_chain_check_links(entry->certs, err);
    if (rc != CERTO_OK)
        goto out;
    id.cert = sk_X509_value(entry->certs, 0);
    X509_up_ref(id.cert);
    id.chain = certo_certs_dup(entry->certs);
    if (id.chain == NULL) {
        rc = certo_err_set(err, CERTO_ENOMEM, WHERE, "out of memory");
        goto out;
    }
    certo_cert_free(sk_X509_shift(id.chain));
    id.key = entry->key;
    EVP_PKEY_up_ref(id.key);
    rc = load_kek(&kek, dir, true, err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_db_begin(db, true, err);
    if (rc != CERTO_OK)
        goto out;
    in_tx = true;
    rc = load_row(&cur, db, NULL, err);
    if (rc == CERTO_OK && !replace && certo_chain_self_signed(cur.cert)) {
        rc = certo_err_set(err, CERTO_EEXIST, WHERE,
                           "the server has a self-signed identity; give --replace to replace it");
        goto out;
    }
    if (rc == CERTO_OK && !certo_cert_matches_key(cur.cert, X509_get0_pubkey(id.cert)))
        rc = add_signer(db, cur.cert, "replaced by import-db", err);
    else if (rc == CERTO_ENOTFOUND)
        rc = CERTO_OK;
    if (rc != CERTO_OK)
        goto out;
    rc = store_row(db, &id, kek, err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_db_commit(db, err);
    if (rc == CERTO_OK)
        in_tx = false;
out:
    if (in_tx)
        certo_db_rollback(db);
    certo_identity_dispose(&cur);
    certo_identity_dispose(&id);
    certo_seal_key_free(kek);
    certo_keystore_free(ks);
    return rc;
}

/* The first IP SAN of 'cert' other than 127.0.0.1 (a listen address), or NULL; new string. */
static char *
listen_ip_of(X509 *cert)
{
    struct certo_cert_info info = {0};
    struct certo_err ignore = {0};
    char *ip = NULL;

    if (certo_cert_info_get(&info, cert, &ignore) != CERTO_OK)
        return NULL;
    for (size_t i = 0; i < info.n_sans && ip == NULL; i++) {
        if (strcmp(info.sans[i].type, "IP") == 0 && strcmp(info.sans[i].value, "127.0.0.1") != 0)
            ip = certo_strdup(info.sans[i].value);
    }
    certo_cert_info_dispose(&info);
    return ip;
}

certo_rc
certo_identity_rotate(struct certo_db *db, const char *dir, char fp[96], struct certo_err *err)
{
    struct certo_seal_key *kek = NULL;
    struct certo_identity cur = {0}, id = {0};
    char *ip = NULL;
    bool in_tx = false;
    certo_rc rc = CERTO_EINTERNAL;

    rc = load_kek(&kek, dir, false, err);
    if (rc != CERTO_OK)
        goto out;
    rc = begin_with_identity(&cur, &in_tx, db, err);
    if (rc != CERTO_OK)
        goto out;
    ip = listen_ip_of(cur.cert);
    rc = make_identity(&id.cert, &id.key, ip, err);
    if (rc == CERTO_OK)
        rc = add_signer(db, cur.cert, "rotated", err);
    if (rc == CERTO_OK)
        rc = store_row(db, &id, kek, err);
    if (rc == CERTO_OK && fp != NULL)
        rc = certo_cert_fingerprint(fp, id.cert, err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_db_commit(db, err);
    if (rc == CERTO_OK)
        in_tx = false;
out:
    if (in_tx)
        certo_db_rollback(db);
    certo_free(ip);
    certo_identity_dispose(&cur);
    certo_identity_dispose(&id);
    certo_seal_key_free(kek);
    return rc;
}

certo_rc
certo_identity_signers_count(int64_t *out, struct certo_db *db, struct certo_err *err)
{
    struct certo_stmt *st = NULL;
    bool row = false;
    certo_rc rc = CERTO_EINTERNAL;

    *out = 0;
    rc = certo_db_prepare(db, &st, "SELECT count(*) FROM trusted_signers", err);
    if (rc == CERTO_OK)
        rc = certo_stmt_step(st, &row, err);
    if (rc == CERTO_OK && row)
        *out = certo_stmt_int(st, 0);
    certo_stmt_free(st);
    return rc;
}

/* ---- a listener certificate of its own (seed 000, "Changing SSL Certificates") ---- */

certo_rc
certo_listener_load(struct certo_identity *out, struct certo_db *db, const char *dir,
                    struct certo_err *err)
{
    struct certo_seal_key *kek = NULL;
    certo_rc rc = CERTO_OK;

    memset(out, 0, sizeof(*out));
    if (dir != NULL)
        rc = load_kek(&kek, dir, false, err);
    if (rc == CERTO_OK)
        rc = load_alias(out, db, kek, LISTENER, err);
    certo_seal_key_free(kek);
    return rc;
}

certo_rc
certo_listener_set(struct certo_db *db, const char *dir, STACK_OF(X509) * certs, EVP_PKEY *key,
                   bool force, time_t now, struct certo_err *err)
{
    struct certo_seal_key *kek = NULL;
    struct certo_identity id = {0};
    STACK_OF(X509) *ordered = NULL;
    bool in_tx = false;
    certo_rc rc;

    rc = certo_chain_order(&ordered, certs, key, false, err);
    if (rc != CERTO_OK)
        goto out;
    if (!certo_cert_matches_key(sk_X509_value(ordered, 0), key)) {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE, "no certificate for the given key");
        goto out;
    }
    if (!force) {
        rc = check_validity(sk_X509_value(ordered, 0), now, err);
        if (rc != CERTO_OK)
            goto out;
    }
    id.cert = sk_X509_shift(ordered);
    id.chain = ordered;
    ordered = NULL;
    id.key = key;
    rc = load_kek(&kek, dir, true, err);
    if (rc == CERTO_OK)
        rc = certo_db_begin(db, true, err);
    if (rc != CERTO_OK)
        goto out;
    in_tx = true;
    rc = store_alias(db, &id, kek, LISTENER, err);
    if (rc == CERTO_OK)
        rc = certo_db_commit(db, err);
    if (rc == CERTO_OK)
        in_tx = false;
out:
    if (in_tx)
        certo_db_rollback(db);
    id.key = NULL; /* borrowed */
    certo_identity_dispose(&id);
    certo_certs_free(ordered);
    certo_seal_key_free(kek);
    return rc;
}

certo_rc
certo_listener_clear(struct certo_db *db, struct certo_err *err)
{
    struct certo_stmt *st = NULL;
    bool row = false;
    certo_rc rc = certo_db_prepare(db, &st, "DELETE FROM keystore WHERE alias = $1", err);

    if (rc == CERTO_OK)
        rc = certo_stmt_bind_text(st, 1, LISTENER);
    if (rc == CERTO_OK)
        rc = certo_stmt_step(st, &row, err);
    if (rc == CERTO_OK && certo_db_changes(db) == 0)
        rc = certo_err_set(err, CERTO_ENOTFOUND, WHERE,
                           "the listener uses the identity (no certificate of its own)");
    certo_stmt_free(st);
    return rc;
}

/* ---- the gateway CA: signs the client certificates of enrolled gateways ---- */

#define GATEWAY_CA      "gateway-ca"
#define GATEWAY_CA_DAYS 3650

certo_rc
certo_gateway_ca_ensure(struct certo_identity *out, struct certo_db *db, const char *dir,
                        struct certo_err *err)
{
    const struct certo_key_spec spec = {.alg = CERTO_KEY_EC, .bits = 256};
    const struct certo_sign_opts opts = {.days = GATEWAY_CA_DAYS, .is_ca = true, .path_len = 0};
    const struct certo_names names = {.subject = "CN=Certo gateway CA,O=Certo"};
    struct certo_seal_key *kek = NULL;
    struct certo_identity ca = {0};
    bool in_tx = false;
    certo_rc rc;

    memset(out, 0, sizeof(*out));
    rc = load_kek(&kek, dir, true, err);
    if (rc == CERTO_OK)
        rc = certo_db_begin(db, true, err);
    if (rc != CERTO_OK)
        goto out;
    in_tx = true;
    rc = load_alias(&ca, db, kek, GATEWAY_CA, err);
    if (rc == CERTO_ENOTFOUND) {
        rc = certo_key_generate(&ca.key, &spec, err);
        if (rc == CERTO_OK)
            rc = certo_cert_selfsign(&ca.cert, ca.key, &names, &opts, err);
        if (rc == CERTO_OK)
            rc = store_alias(db, &ca, kek, GATEWAY_CA, err);
    }
    if (rc == CERTO_OK)
        rc = certo_db_commit(db, err);
    if (rc != CERTO_OK)
        goto out;
    in_tx = false;
    *out = ca;
    memset(&ca, 0, sizeof(ca));
out:
    if (in_tx)
        certo_db_rollback(db);
    certo_identity_dispose(&ca);
    certo_seal_key_free(kek);
    return rc;
}
