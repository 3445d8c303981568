/* SPDX-License-Identifier: Apache-2.0 */
/* layer: server */
/*
 * The orchestrator server (issue 7, first slice): its identity, a key and self-signed
 * certificate kept in the `keystore` table of DATA/server.db with the private key sealed
 * under DATA/secret.key (or CERTO_SECRET_KEY), and the HTTPS REST service at /vco/api on
 * libevent. No authentication yet: the default listen address is loopback.
 * Threading: a database handle and a running server belong to one thread.
 */
#ifndef CERTO_SERVER_H
#define CERTO_SERVER_H

#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "certo/buf.h"
#include "certo/csr.h"
#include "certo/err.h"
#include "certo/secret.h"
#include "certo/store.h"

#define CERTO_SERVER_LISTEN_DEFAULT "127.0.0.1:8281"
/*
 * Request bodies beyond BODY_MAX are refused with 413 and a JSON error; beyond WIRE_MAX
 * the HTTP layer refuses them before reading (413 without a JSON body).
 */
#define CERTO_SERVER_BODY_MAX (1024 * 1024)
#define CERTO_SERVER_WIRE_MAX (8 * 1024 * 1024)

/**
 * Opens the server's database and applies its migrations: 'url' (a SQLite path or
 * "postgresql://..."), or when NULL DATA/server.db. 'dir' is created 0700 when missing
 * either way: it holds the secret key that seals the keys in the database.
 * @return CERTO_OK; CERTO_EPERM, CERTO_ENOTFOUND, CERTO_EUNSUPPORTED, CERTO_EIO.
 */
CERTO_MUST_CHECK certo_rc certo_server_db_open(struct certo_db **out, const char *dir,
                                               const char *url, struct certo_err *err);

struct certo_seal_key;
/**
 * The key that seals secrets in the server's database: 'dir'/secret.key (made when
 * missing and 'create'), or $CERTO_SECRET_KEY. Free with certo_seal_key_free.
 * @return CERTO_OK; CERTO_ENOTFOUND (none and not 'create').
 */
CERTO_MUST_CHECK certo_rc certo_server_kek(struct certo_seal_key **out, const char *dir,
                                           bool create, struct certo_err *err);

/**
 * Loads the server identity's certificate (no key, no secret key needed).
 * @return CERTO_OK with *out owned by the caller; CERTO_ENOTFOUND (no identity yet).
 */
CERTO_MUST_CHECK certo_rc certo_identity_load_cert(X509 **out, struct certo_db *db,
                                                   struct certo_err *err);

/** The stored identity. Release with certo_identity_dispose. */
struct certo_identity {
    X509 *cert;             /* owned; the server's certificate */
    STACK_OF(X509) * chain; /* owned; the certificates after it (issuer first), maybe empty */
    EVP_PKEY *key;          /* owned; NULL when loaded without the secret key */
};

/** Releases what 'id' holds (not 'id' itself). */
void certo_identity_dispose(struct certo_identity *id);

/**
 * Loads the identity, creating it when there is none: a new EC P-256 key and a
 * self-signed certificate (CN = the host name; SANs DNS:localhost, IP:127.0.0.1, and
 * 'listen_host' when it is another address or name), the key sealed with the KEK of
 * 'dir'/secret.key (created when missing) or $CERTO_SECRET_KEY.
 * @param created set to true when this call made the identity.
 * @return CERTO_OK with *out filled (key and chain too); CERTO_EAUTH (the secret key
 *         does not open the stored key).
 */
CERTO_MUST_CHECK certo_rc certo_identity_ensure(struct certo_identity *out, bool *created,
                                                struct certo_db *db, const char *dir,
                                                const char *listen_host, struct certo_err *err);

/**
 * Loads the stored identity; with 'dir' also its private key (unsealed with the secret
 * key of 'dir', which must exist), with NULL only the certificate and chain.
 * @return CERTO_OK; CERTO_ENOTFOUND (no identity yet, or no secret key); CERTO_EAUTH.
 */
CERTO_MUST_CHECK certo_rc certo_identity_load(struct certo_identity *out, struct certo_db *db,
                                              const char *dir, struct certo_err *err);

/**
 * A CSR for the identity's key. 'names' NULL subject: the certificate's subject;
 * n_sans 0: the certificate's SANs. Needs the secret key of 'dir'.
 * @return CERTO_EINVAL (bad subject or SAN), the errors of certo_identity_load.
 */
CERTO_MUST_CHECK certo_rc certo_identity_csr(X509_REQ **out, struct certo_db *db, const char *dir,
                                             const struct certo_names *names,
                                             struct certo_err *err);

/**
 * Replaces the identity's certificate with a CA-signed one for the same key. 'certs'
 * holds the certificate and any chain, in any order; the chain is ordered (a self-signed
 * root is left out) and stored. Unless 'force', the certificate must be valid at 'now'.
 * One transaction; the database is unchanged on failure.
 * @return CERTO_EINVAL (no certificate for the identity's key, not yet valid, expired);
 *         CERTO_ENOTFOUND (no identity).
 */
CERTO_MUST_CHECK certo_rc certo_identity_import_cert(struct certo_db *db, STACK_OF(X509) * certs,
                                                     bool force, time_t now, struct certo_err *err);

/**
 * Appends the identity (key, certificate, chain) as a PKCS#12 file of the modern profile
 * with friendlyName "identity", encrypted with 'pass' (not empty), to 'out'.
 */
CERTO_MUST_CHECK certo_rc certo_identity_export(struct certo_buf *out, struct certo_db *db,
                                                const char *dir, const struct certo_secret *pass,
                                                struct certo_err *err);

/**
 * Makes the key entry of a PKCS#12 file the identity (its only key entry, or the one
 * named "identity"). Refused while the current identity is self-signed unless 'replace'
 * (seed 001). A replaced identity with another key is kept as a package signer. One
 * transaction; the key is sealed with the secret key of 'dir' (created when missing).
 * @return CERTO_EAUTH (wrong password); CERTO_EINVAL (no key, several keys, key does not
 *         match its certificate); CERTO_EEXIST (self-signed identity, no 'replace').
 */
CERTO_MUST_CHECK certo_rc certo_identity_import_p12(struct certo_db *db, const char *dir,
                                                    const void *data, size_t len,
                                                    const struct certo_secret *pass, bool replace,
                                                    struct certo_err *err);

/**
 * A new key and self-signed certificate, as the first start makes (keeping the old
 * certificate's other IP address SANs). The old certificate is kept in
 * `trusted_signers` as a package signer. 'fp' (may be NULL) receives the new SHA-256.
 * @return CERTO_ENOTFOUND (no identity, or no secret key).
 */
CERTO_MUST_CHECK certo_rc certo_identity_rotate(struct certo_db *db, const char *dir, char fp[96],
                                                struct certo_err *err);

/** Number of previous identities kept as package signers. */
CERTO_MUST_CHECK certo_rc certo_identity_signers_count(int64_t *out, struct certo_db *db,
                                                       struct certo_err *err);

/*
 * The listener's own certificate (seed 000, "Changing SSL Certificates"): when set, the
 * HTTPS listener serves it instead of the identity, which still signs tokens and
 * packages. Row "listener" of the keystore table, its key sealed like the identity's.
 */

/**
 * Loads the listener certificate; with 'dir' its key too.
 * @return CERTO_OK; CERTO_ENOTFOUND (none: the listener uses the identity).
 */
CERTO_MUST_CHECK certo_rc certo_listener_load(struct certo_identity *out, struct certo_db *db,
                                              const char *dir, struct certo_err *err);
/**
 * Sets the listener certificate: 'certs' (borrowed; the certificate of 'key' and its
 * chain, any order) and 'key' (borrowed). Unless 'force', valid at 'now'.
 * @return CERTO_EINVAL (no certificate for the key, expired, not yet valid).
 */
CERTO_MUST_CHECK certo_rc certo_listener_set(struct certo_db *db, const char *dir,
                                             STACK_OF(X509) * certs, EVP_PKEY *key, bool force,
                                             time_t now, struct certo_err *err);
/** Goes back to the identity. @return CERTO_OK; CERTO_ENOTFOUND (none was set). */
CERTO_MUST_CHECK certo_rc certo_listener_clear(struct certo_db *db, struct certo_err *err);

/**
 * Loads the gateway CA (keystore row "gateway-ca": an EC P-256 CA, self-signed, 10
 * years), creating it when there is none. It signs the client certificates of enrolled
 * gateways and nothing else. Needs the secret key of 'dir'.
 * @param out filled on success with certificate and key (certo_identity_dispose).
 */
CERTO_MUST_CHECK certo_rc certo_gateway_ca_ensure(struct certo_identity *out, struct certo_db *db,
                                                  const char *dir, struct certo_err *err);

/** True for the wildcard addresses 0.0.0.0 and ::, which are listened on only when asked. */
bool certo_server_is_wildcard(const char *host);

/*
 * The embedded local gateway (issue 8): `certo server` runs the jobs of a gateway named
 * "local" itself, on a worker thread, so a single machine needs no enrollment. The server
 * layer does not know how jobs run on a gateway; the face that starts the server gives
 * a runner (the gateway agent's job runner) through certo_server_opts.
 */
struct certo_local_outcome {
    bool succeeded;
    char message[256]; /* one line */
    char *log;         /* owned (certo_malloc), may be NULL */
    char *result;      /* owned JSON text, may be NULL; for "sync": {"endpoints": [...]} */
};

/**
 * Runs one job of the local gateway: 'job' is the JSON text a gateway's jobs/next gives
 * ({"id", "kind", "endpoint", "params", ...}). Called on the worker thread only; 'out' is
 * zeroed before the call.
 */
typedef void (*certo_local_runner)(void *ctx, const char *job, struct certo_local_outcome *out);

/** What `certo server` runs with. Strings borrowed. */
struct certo_server_opts {
    const char *listen;              /* "ADDR:PORT" or "[V6ADDR]:PORT"; NULL: the default */
    const char *data_dir;            /* the data directory (already resolved) */
    const char *db_url;              /* the database; NULL: DATA/server.db */
    bool auth_password;              /* with auth_external: also built-in password logins */
    bool auth_external;              /* accept tokens of issuers in the trust store (SSO) */
    int token_ttl;                   /* seconds a principal token lives by default; 0: 900 */
    int job_lease;                   /* seconds a job lease lasts without a heartbeat; 0: 120 */
    certo_local_runner local_runner; /* NULL: no embedded local gateway */
    void *local_ctx;                 /* passed to local_runner */
};

/**
 * Runs the server until SIGTERM or SIGINT (then: stop accepting, finish the requests in
 * flight, return CERTO_OK). SIGHUP reloads the listener certificate from the database
 * for new connections. Prints the "listening" line on stdout once it accepts.
 * @return CERTO_OK; CERTO_EINVAL (bad or implicit wildcard listen address);
 *         CERTO_ENET (cannot bind); database and identity errors.
 */
CERTO_MUST_CHECK certo_rc certo_server_run(const struct certo_server_opts *opts,
                                           struct certo_err *err);

#endif
