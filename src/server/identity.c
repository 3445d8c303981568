/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The server's database (DATA/server.db, its own migrations) and its identity: one row
 * of the `keystore` table holding a certificate (DER) and its private key (PKCS#8 DER)
 * sealed with AES-256-GCM under the data directory's secret key, bound to the row and
 * column by the associated data. The first start creates the identity inside a write
 * transaction, so two servers starting at once end up with one identity.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "certo/buf.h"
#include "certo/cert.h"
#include "certo/clock.h"
#include "certo/csr.h"
#include "certo/file.h"
#include "certo/key.h"
#include "certo/mem.h"
#include "certo/registry.h"
#include "certo/seal.h"
#include "certo/secret.h"
#include "certo/server.h"

#define WHERE         "server.identity"
#define IDENTITY      "identity"
#define KEY_AAD       "keystore/identity/key"
#define DER_MAX       (64 * 1024)
#define IDENTITY_DAYS 825
#define HOST_MAX      256

static const struct certo_migration migrations[] = {
    {1, "keystore",
     "CREATE TABLE keystore ("
     " alias TEXT PRIMARY KEY,"
     " kind TEXT NOT NULL,"
     " cert_der BLOB NOT NULL,"
     " chain_der BLOB,"
     " key_sealed BLOB,"
     " fingerprint TEXT NOT NULL,"
     " created_at INTEGER NOT NULL);"},
};

certo_rc
certo_identity_db_open(struct certo_db **out, const char *dir, struct certo_err *err)
{
    char *path = NULL;
    certo_rc rc = CERTO_EINTERNAL;

    *out = NULL;
    rc = certo_file_mkdirs(dir, 0700);
    if (rc != CERTO_OK) {
        rc = certo_err_sys(err, rc, WHERE, "cannot create data directory %s", dir);
        goto out;
    }
    path = certo_asprintf("%s/server.db", dir);
    rc = certo_db_open(out, path, migrations, CERTO_ARRAY_LEN(migrations), err);
out:
    certo_free(path);
    return rc;
}

certo_rc
certo_identity_load_cert(X509 **out, struct certo_db *db, struct certo_err *err)
{
    struct certo_stmt *st = NULL;
    const void *der;
    size_t len = 0;
    bool row = false;
    certo_rc rc = CERTO_EINTERNAL;

    *out = NULL;
    rc = certo_db_prepare(db, &st, "SELECT cert_der FROM keystore WHERE alias = $1", err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_stmt_bind_text(st, 1, IDENTITY);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_stmt_step(st, &row, err);
    if (rc != CERTO_OK)
        goto out;
    if (!row) {
        rc = certo_err_set(err, CERTO_ENOTFOUND, WHERE,
                           "the server has no identity yet (start `certo server` once)");
        goto out;
    }
    der = certo_stmt_blob(st, 0, &len);
    rc = certo_cert_parse(out, der, len, err);
out:
    certo_stmt_free(st);
    return rc;
}

/* Reads and unseals the stored identity; CERTO_ENOTFOUND when there is none. */
static certo_rc
load_identity(X509 **cert_out, EVP_PKEY **key_out, struct certo_db *db,
              const struct certo_seal_key *kek, struct certo_err *err)
{
    struct certo_stmt *st = NULL;
    struct certo_secret *pk = NULL;
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    const void *p;
    size_t len = 0;
    bool row = false;
    certo_rc rc = CERTO_EINTERNAL;

    rc = certo_db_prepare(db, &st, "SELECT cert_der, key_sealed FROM keystore WHERE alias = $1",
                          err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_stmt_bind_text(st, 1, IDENTITY);
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
    rc = certo_cert_parse(&cert, p, len, err);
    if (rc != CERTO_OK)
        goto out;
    p = certo_stmt_blob(st, 1, &len);
    rc = certo_unseal(kek, KEY_AAD, p, len, &pk, err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_key_parse(&key, certo_secret_get0(pk), certo_secret_len(pk), NULL, err);
    if (rc != CERTO_OK)
        goto out;
    if (!certo_cert_matches_key(cert, key)) {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE,
                           "the stored identity key does not match its certificate");
        goto out;
    }
    *cert_out = cert;
    cert = NULL;
    *key_out = key;
    key = NULL;
    rc = CERTO_OK;
out:
    certo_secret_free(pk);
    certo_cert_free(cert);
    EVP_PKEY_free(key);
    certo_stmt_free(st);
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

static certo_rc
store_identity(struct certo_db *db, X509 *cert, EVP_PKEY *key, const struct certo_seal_key *kek,
               struct certo_err *err)
{
    struct certo_buf der, pk, sealed;
    struct certo_stmt *st = NULL;
    char fp[96];
    bool row = false;
    certo_rc rc = CERTO_EINTERNAL;

    certo_buf_init(&der, DER_MAX);
    certo_buf_init(&pk, DER_MAX);
    certo_buf_init(&sealed, DER_MAX + CERTO_SEAL_OVERHEAD);
    rc = certo_cert_to_der(&der, cert, err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_cert_fingerprint(fp, cert, err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_key_to_der(&pk, key, err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_seal(kek, KEY_AAD, pk.data, pk.len, &sealed, err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_db_prepare(db, &st,
                          "INSERT INTO keystore (alias, kind, cert_der, key_sealed, fingerprint,"
                          " created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                          err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_stmt_bind_text(st, 1, IDENTITY);
    if (rc == CERTO_OK)
        rc = certo_stmt_bind_text(st, 2, "self-signed");
    if (rc == CERTO_OK)
        rc = certo_stmt_bind_blob(st, 3, der.data, der.len);
    if (rc == CERTO_OK)
        rc = certo_stmt_bind_blob(st, 4, sealed.data, sealed.len);
    if (rc == CERTO_OK)
        rc = certo_stmt_bind_text(st, 5, fp);
    if (rc == CERTO_OK)
        rc = certo_stmt_bind_int(st, 6, (int64_t)certo_clock_now());
    if (rc != CERTO_OK) {
        rc = certo_err_set(err, rc, WHERE, "cannot bind the identity row");
        goto out;
    }
    rc = certo_stmt_step(st, &row, err);
out:
    certo_stmt_free(st);
    certo_buf_dispose(&pk); /* wiped */
    certo_buf_dispose(&der);
    certo_buf_dispose(&sealed);
    return rc;
}

certo_rc
certo_identity_ensure(X509 **cert_out, EVP_PKEY **key_out, bool *created, struct certo_db *db,
                      const char *dir, const char *listen_host, struct certo_err *err)
{
    struct certo_seal_key *kek = NULL;
    char *kpath = NULL;
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    bool in_tx = false;
    certo_rc rc = CERTO_EINTERNAL;

    *cert_out = NULL;
    *key_out = NULL;
    *created = false;
    kpath = certo_asprintf("%s/secret.key", dir);
    rc = certo_seal_key_load(&kek, kpath, CERTO_SECRET_KEY_ENV, true, err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_db_begin(db, true, err);
    if (rc != CERTO_OK)
        goto out;
    in_tx = true;
    rc = load_identity(&cert, &key, db, kek, err);
    if (rc == CERTO_ENOTFOUND) {
        rc = make_identity(&cert, &key, listen_host, err);
        if (rc != CERTO_OK)
            goto out;
        rc = store_identity(db, cert, key, kek, err);
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
    *cert_out = cert;
    cert = NULL;
    *key_out = key;
    key = NULL;
out:
    if (in_tx)
        certo_db_rollback(db);
    if (rc != CERTO_OK)
        *created = false;
    certo_cert_free(cert);
    EVP_PKEY_free(key);
    certo_seal_key_free(kek);
    certo_free(kpath);
    return rc;
}
