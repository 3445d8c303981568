/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The server's database: where it lives (DATA/server.db, or the --db url) and its
 * schema, one migration per step. The SQL is written once for every backend (see
 * include/certo/store.h): TEXT, INTEGER and BLOB columns, $n parameters.
 * Numbering: 1-2 identity, 3 trust store, 4 users, organizations and tokens, 5 gateways
 * and their endpoints, 6 jobs, 7 the certificate inventory, 8 which certificate an install
 * job puts where.
 */
#include "certo/file.h"
#include "certo/mem.h"
#include "certo/server.h"

#define WHERE "server.schema"

/*
 * Migration 4: organizations, departments, users and the record of issued tokens. A
 * user's scope is at most one organization and one of its departments (NULL: none).
 */
#define ACCOUNTS_SQL                                                                               \
    "CREATE TABLE orgs ("                                                                          \
    " id INTEGER PRIMARY KEY,"                                                                     \
    " name TEXT NOT NULL UNIQUE,"                                                                  \
    " created_at INTEGER NOT NULL);"                                                               \
    "CREATE TABLE departments ("                                                                   \
    " id INTEGER PRIMARY KEY,"                                                                     \
    " org_id INTEGER NOT NULL REFERENCES orgs(id),"                                                \
    " name TEXT NOT NULL,"                                                                         \
    " created_at INTEGER NOT NULL,"                                                                \
    " UNIQUE (org_id, name));"                                                                     \
    "CREATE TABLE users ("                                                                         \
    " id INTEGER PRIMARY KEY,"                                                                     \
    " name TEXT NOT NULL UNIQUE,"                                                                  \
    " role TEXT NOT NULL,"                                                                         \
    " org_id INTEGER REFERENCES orgs(id),"                                                         \
    " dept_id INTEGER REFERENCES departments(id),"                                                 \
    " pw_hash TEXT,"                                                                               \
    " disabled INTEGER NOT NULL DEFAULT 0,"                                                        \
    " created_at INTEGER NOT NULL);"                                                               \
    "CREATE TABLE tokens ("                                                                        \
    " jti TEXT PRIMARY KEY,"                                                                       \
    " user_id INTEGER NOT NULL REFERENCES users(id),"                                              \
    " kind TEXT NOT NULL,"                                                                         \
    " issued_at INTEGER NOT NULL,"                                                                 \
    " expires_at INTEGER NOT NULL,"                                                                \
    " revoked_at INTEGER,"                                                                         \
    " audience TEXT,"                                                                              \
    " bound INTEGER NOT NULL DEFAULT 0);"                                                          \
    "CREATE INDEX tokens_user ON tokens (user_id, expires_at);"

/*
 * Migration 5: gateways (enrolled by a one-time token, then known by the SHA-256 of their
 * client certificate) and the endpoints they sync, delegated to an organization and
 * department.
 */
#define GATEWAYS_SQL                                                                               \
    "CREATE TABLE gateways ("                                                                      \
    " id INTEGER PRIMARY KEY,"                                                                     \
    " name TEXT NOT NULL UNIQUE,"                                                                  \
    " cert_fp TEXT UNIQUE,"                                                                        \
    " created_at INTEGER NOT NULL,"                                                                \
    " enrolled_at INTEGER,"                                                                        \
    " last_seen INTEGER,"                                                                          \
    " revoked_at INTEGER);"                                                                        \
    "CREATE TABLE enroll_tokens ("                                                                 \
    " token_hash TEXT PRIMARY KEY,"                                                                \
    " gateway_id INTEGER NOT NULL REFERENCES gateways(id),"                                        \
    " expires_at INTEGER NOT NULL,"                                                                \
    " used_at INTEGER);"                                                                           \
    "CREATE TABLE endpoints ("                                                                     \
    " id INTEGER PRIMARY KEY,"                                                                     \
    " gateway_id INTEGER NOT NULL REFERENCES gateways(id),"                                        \
    " name TEXT NOT NULL,"                                                                         \
    " type TEXT NOT NULL,"                                                                         \
    " transport TEXT NOT NULL,"                                                                    \
    " summary TEXT NOT NULL,"                                                                      \
    " org_id INTEGER REFERENCES orgs(id),"                                                         \
    " dept_id INTEGER REFERENCES departments(id),"                                                 \
    " synced_at INTEGER NOT NULL,"                                                                 \
    " removed_at INTEGER,"                                                                         \
    " UNIQUE (gateway_id, name));"

/*
 * Migration 6: the job queue between the server and its gateways, and each job's history.
 * org_id / dept_id are the endpoint's delegation when the job was queued: the scope in
 * which the job is seen.
 */
#define JOBS_SQL                                                                                   \
    "CREATE TABLE jobs ("                                                                          \
    " id INTEGER PRIMARY KEY,"                                                                     \
    " gateway_id INTEGER NOT NULL REFERENCES gateways(id),"                                        \
    " endpoint_id INTEGER REFERENCES endpoints(id),"                                               \
    " kind TEXT NOT NULL,"                                                                         \
    " params TEXT NOT NULL,"                                                                       \
    " state TEXT NOT NULL,"                                                                        \
    " attempt INTEGER NOT NULL DEFAULT 0,"                                                         \
    " lease_until INTEGER,"                                                                        \
    " created_by INTEGER REFERENCES users(id),"                                                    \
    " created_at INTEGER NOT NULL,"                                                                \
    " updated_at INTEGER NOT NULL,"                                                                \
    " finished_at INTEGER,"                                                                        \
    " message TEXT,"                                                                               \
    " result TEXT,"                                                                                \
    " org_id INTEGER,"                                                                             \
    " dept_id INTEGER);"                                                                           \
    "CREATE INDEX jobs_queue ON jobs (gateway_id, state, id);"                                     \
    "CREATE TABLE job_events ("                                                                    \
    " id INTEGER PRIMARY KEY,"                                                                     \
    " job_id INTEGER NOT NULL REFERENCES jobs(id),"                                                \
    " at INTEGER NOT NULL,"                                                                        \
    " state TEXT NOT NULL,"                                                                        \
    " message TEXT,"                                                                               \
    " log TEXT);"                                                                                  \
    "CREATE INDEX job_events_job ON job_events (job_id, id);"

/*
 * Migration 7: the certificate inventory. The id is the order number (seed 004's SSL
 * column); the key is sealed with the server's secret key.
 */
#define CERTIFICATES_SQL                                                                           \
    "CREATE TABLE certificates ("                                                                  \
    " id INTEGER PRIMARY KEY,"                                                                     \
    " name TEXT NOT NULL,"                                                                         \
    " subject TEXT NOT NULL,"                                                                      \
    " issuer TEXT NOT NULL,"                                                                       \
    " not_after INTEGER NOT NULL,"                                                                 \
    " fingerprint TEXT NOT NULL UNIQUE,"                                                           \
    " chain_pem TEXT NOT NULL,"                                                                    \
    " key_sealed BLOB NOT NULL,"                                                                   \
    " org_id INTEGER REFERENCES orgs(id),"                                                         \
    " dept_id INTEGER REFERENCES departments(id),"                                                 \
    " created_by INTEGER REFERENCES users(id),"                                                    \
    " created_at INTEGER NOT NULL);"

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
    {3, "trust",
     "CREATE TABLE trust ("
     " alias TEXT PRIMARY KEY,"
     " cert_der BLOB NOT NULL,"
     " fingerprint TEXT NOT NULL UNIQUE,"
     " subject TEXT,"
     " issuer TEXT,"
     " not_after INTEGER,"
     " source TEXT NOT NULL,"
     " purpose TEXT NOT NULL CHECK (purpose IN ('peer', 'token-issuer')),"
     " token_issuer TEXT,"
     " added_at INTEGER NOT NULL,"
     " CHECK ((purpose = 'token-issuer') = (token_issuer IS NOT NULL)));"},
    {4, "accounts", ACCOUNTS_SQL},
    {5, "gateways", GATEWAYS_SQL},
    {6, "jobs", JOBS_SQL},
    {7, "certificates", CERTIFICATES_SQL},
    {8, "install_targets",
     "ALTER TABLE jobs ADD COLUMN certificate_id INTEGER;"
     "CREATE INDEX jobs_certificate ON jobs (certificate_id);"},
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
