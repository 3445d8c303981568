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

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "certo/err.h"
#include "certo/store.h"

#define CERTO_SERVER_LISTEN_DEFAULT "127.0.0.1:8281"
/* Request bodies beyond this are refused with 413. */
#define CERTO_SERVER_BODY_MAX (1024 * 1024)

/**
 * Opens (creating the directory 0700 and the file when missing) DATA/server.db and
 * applies the server's migrations.
 * @return CERTO_OK; CERTO_EPERM, CERTO_ENOTFOUND, CERTO_EUNSUPPORTED, CERTO_EIO.
 */
CERTO_MUST_CHECK certo_rc certo_identity_db_open(struct certo_db **out, const char *dir,
                                                 struct certo_err *err);

/**
 * Loads the server identity's certificate (no key, no secret key needed).
 * @return CERTO_OK with *out owned by the caller; CERTO_ENOTFOUND (no identity yet).
 */
CERTO_MUST_CHECK certo_rc certo_identity_load_cert(X509 **out, struct certo_db *db,
                                                   struct certo_err *err);

/**
 * Loads the identity, creating it when there is none: a new EC P-256 key and a
 * self-signed certificate (CN = the host name; SANs DNS:localhost, IP:127.0.0.1, and
 * 'listen_host' when it is another address or name), the key sealed with the KEK of
 * 'dir'/secret.key (created when missing) or $CERTO_SECRET_KEY.
 * @param created set to true when this call made the identity.
 * @return CERTO_OK with *cert_out and *key_out owned by the caller; CERTO_EAUTH (the
 *         secret key does not open the stored key).
 */
CERTO_MUST_CHECK certo_rc certo_identity_ensure(X509 **cert_out, EVP_PKEY **key_out, bool *created,
                                                struct certo_db *db, const char *dir,
                                                const char *listen_host, struct certo_err *err);

/** True for the wildcard addresses 0.0.0.0 and ::, which are listened on only when asked. */
bool certo_server_is_wildcard(const char *host);

/** What `certo server` runs with. Strings borrowed. */
struct certo_server_opts {
    const char *listen;   /* "ADDR:PORT" or "[V6ADDR]:PORT"; NULL: the default */
    const char *data_dir; /* the data directory (already resolved) */
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
