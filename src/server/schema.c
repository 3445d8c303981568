/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The server's database: where it lives (DATA/server.db, or the --db url) and its
 * schema, one migration per step. The SQL is written once for every backend (see
 * include/certo/store.h): TEXT, INTEGER and BLOB columns, $n parameters.
 * Numbering: 1-2 identity, 3 trust store, 4 users, organizations and tokens.
 */
#include "certo/file.h"
#include "certo/mem.h"
#include "certo/server.h"

#define WHERE "server.schema"

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
    {2, "trusted_signers",
     "CREATE TABLE trusted_signers ("
     " alias TEXT PRIMARY KEY,"
     " cert_der BLOB NOT NULL,"
     " fingerprint TEXT NOT NULL,"
     " added_at INTEGER NOT NULL,"
     " reason TEXT NOT NULL);"},
};

certo_rc
certo_server_db_open(struct certo_db **out, const char *dir, const char *url, struct certo_err *err)
{
    char *path = NULL;
    certo_rc rc = CERTO_EINTERNAL;

    *out = NULL;
    /* The data directory holds the secret key even when the database is elsewhere. */
    rc = certo_file_mkdirs(dir, 0700);
    if (rc != CERTO_OK) {
        rc = certo_err_sys(err, rc, WHERE, "cannot create data directory %s", dir);
        goto out;
    }
    if (url == NULL)
        url = path = certo_asprintf("%s/server.db", dir);
    rc = certo_db_open(out, url, migrations, CERTO_ARRAY_LEN(migrations), err);
out:
    certo_free(path);
    return rc;
}
