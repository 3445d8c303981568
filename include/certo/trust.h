/* SPDX-License-Identifier: Apache-2.0 */
/* layer: server */
/*
 * The server's trust manager (issue 7): the `trust` table (migration 3) of the server
 * database, holding certificates the server trusts, each as a TLS peer (a remote server)
 * or as a token issuer (the signer of tokens for one `iss`, SSO mode). Certificates come
 * from a TLS handshake ("import from URL", with SSRF rules: no link-local, cloud metadata,
 * unspecified, multicast or broadcast address, resolved once, limits on time and bytes),
 * from files, or from another server's export (replication). Every change is one write
 * transaction. Threading: a database handle belongs to one thread; no other state.
 */
#ifndef CERTO_TRUST_H
#define CERTO_TRUST_H

#include <sys/socket.h>
#include <time.h>

#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "certo/buf.h"
#include "certo/err.h"
#include "certo/store.h"
#include "certo/tlsprobe.h"

#define CERTO_TRUST_TIMEOUT_MS   10000            /* import-url: connect + handshake deadline */
#define CERTO_TRUST_FETCH_MAX    (256 * 1024)     /* import-url: bytes read during the handshake */
#define CERTO_TRUST_CHAIN_MAX    16               /* import-url: certificates in the served chain */
#define CERTO_TRUST_ALIAS_MAX    64               /* bytes of an alias */
#define CERTO_TRUST_ISS_MAX      255              /* bytes of a token issuer (`iss`) */
#define CERTO_TRUST_IMPORT_MAX   10000            /* certificates in one imported file */
#define CERTO_TRUST_METADATA_TAG "# certo-trust " /* the line before each exported block */

/** What a trusted certificate is trusted for (the `purpose` column). */
enum certo_trust_purpose {
    CERTO_TRUST_PEER = 0,         /* "peer": a TLS peer, a remote server we connect to */
    CERTO_TRUST_TOKEN_ISSUER = 1, /* "token-issuer": signs tokens for its `iss` (SSO mode) */
};

/** The column text of 'p': "peer" or "token-issuer". */
const char *certo_trust_purpose_name(enum certo_trust_purpose p);

/** One row of the trust store. Release with certo_trust_entry_dispose. */
struct certo_trust_entry {
    char *alias;                      /* owned; unique */
    X509 *cert;                       /* owned */
    char fingerprint[96];             /* SHA-256, upper-case hex pairs joined by ':' */
    char *subject;                    /* owned; RFC 2253 text */
    char *issuer;                     /* owned; RFC 2253 text */
    time_t not_after;                 /* seconds since the epoch */
    char *source;                     /* owned; "url:HOST:PORT", "file" or "import" */
    enum certo_trust_purpose purpose; /* what it is trusted for */
    char *token_issuer;               /* owned; the `iss` it signs for; NULL for peers */
    time_t added_at;                  /* seconds since the epoch */
};

/** Releases what 'e' holds (not 'e' itself). NULL ok. */
void certo_trust_entry_dispose(struct certo_trust_entry *e);

/** Several rows. Release with certo_trust_list_dispose. */
struct certo_trust_list {
    struct certo_trust_entry *entries; /* owned array */
    size_t count;
};

/** Releases what 'l' holds (not 'l' itself). NULL ok. */
void certo_trust_list_dispose(struct certo_trust_list *l);

/* ---- input checks (no I/O) ---- */

/**
 * Parses "HOST:PORT" or "[IPV6]:PORT" (port 1-65535; HOST a DNS name or an address).
 * @param host_out new string (free with certo_free), without brackets.
 * @return CERTO_OK; CERTO_EINVAL with a message that does not name an option.
 */
CERTO_MUST_CHECK certo_rc certo_trust_parse_target(char **host_out, int *port_out, const char *text,
                                                   struct certo_err *err);

/**
 * Normalizes a SHA-256 fingerprint typed by a user: 64 hex digits in any case, with or
 * without ':' between pairs, into upper-case pairs joined by ':' ('out', 96 bytes).
 * @return true when 'text' is such a fingerprint.
 */
bool certo_trust_fingerprint_parse(char out[96], const char *text);

/**
 * Checks an alias given by a user: 1-64 of a-z 0-9 . _ -, starting with a letter or a
 * digit, and not a fingerprint (which would make lookups ambiguous).
 * @return CERTO_OK; CERTO_EINVAL with a message that does not name an option.
 */
CERTO_MUST_CHECK certo_rc certo_trust_alias_check(const char *alias, struct certo_err *err);

/**
 * Checks a token issuer (`iss`): 1-255 printable ASCII characters, no space.
 * @return CERTO_OK; CERTO_EINVAL with a message that does not name an option.
 */
CERTO_MUST_CHECK certo_rc certo_trust_iss_check(const char *iss, struct certo_err *err);

/**
 * The alias a certificate gets when none is given: its subject CN (else "cert"),
 * lower-cased, each run of other characters than a-z 0-9 . _ - made one '-', trimmed to
 * start and end with a letter or digit, at most 48 bytes. Not yet made unique.
 * @return a new string (free with certo_free), never NULL.
 */
char *certo_trust_alias_derive(X509 *cert);

/**
 * Why import-url refuses to connect to 'addr': a static phrase ("a link-local address",
 * "a cloud metadata address", "an unspecified address", "a multicast address",
 * "a broadcast address", "a reserved address"), or NULL when it is allowed (loopback and
 * private ranges are). IPv4-mapped IPv6 addresses are judged by their IPv4 address.
 */
const char *certo_trust_addr_refusal(const struct sockaddr *addr);

/** True when 'host' is the name of a cloud metadata service (metadata.google.internal). */
bool certo_trust_name_refused(const char *host);

/* ---- import from URL ---- */

/** What certo_trust_fetch may do. Zero values take the defaults. */
struct certo_trust_fetch_opts {
    const char *sni;  /* borrowed; NULL: 'host' when it is a name, none for an address */
    int timeout_ms;   /* connect + handshake deadline; <= 0: CERTO_TRUST_TIMEOUT_MS */
    size_t max_bytes; /* bytes read during the handshake; 0: CERTO_TRUST_FETCH_MAX */
    int max_chain;    /* certificates in the served chain; 0: CERTO_TRUST_CHAIN_MAX */
};

/**
 * Fetches the chain 'host':'port' serves, for import-url. 'host' is resolved once; when
 * it is a refused name, or ANY of its addresses (or the literal) is refused by
 * certo_trust_addr_refusal, nothing is connected to. Otherwise the checked addresses are
 * tried in order (never resolved again) under one deadline, with the caps of 'opts'. No
 * HTTP, no redirect, no AIA, CRL or OCSP fetch: one TLS handshake, peer not verified.
 * Blocks for at most the resolver's time plus the deadline.
 * @param out filled on success (release with certo_tls_peer_dispose).
 * @param opts may be NULL (all defaults).
 * @return CERTO_OK; CERTO_EPERM (refused address or name, named in the message);
 *         CERTO_ENET (resolve, connect); CERTO_ETIMEDOUT; CERTO_ETLS; CERTO_ETOOBIG.
 */
CERTO_MUST_CHECK certo_rc certo_trust_fetch(struct certo_tls_peer *out, const char *host, int port,
                                            const struct certo_trust_fetch_opts *opts,
                                            struct certo_err *err);

/* ---- the store ---- */

/** How certo_trust_add and certo_trust_import store certificates. Strings borrowed. */
struct certo_trust_add_opts {
    const char *alias;                /* NULL: derived from the subject CN, made unique */
    const char *source;               /* NULL: "file" */
    enum certo_trust_purpose purpose; /* CERTO_TRUST_PEER unless a token issuer */
    const char *token_issuer;         /* required for CERTO_TRUST_TOKEN_ISSUER, else NULL */
};

/**
 * Adds one certificate ('cert' borrowed) in one write transaction.
 * @param alias_out may be NULL; else set to the alias used (new string).
 * @param opts may be NULL (derived alias, source "file", a peer).
 * @return CERTO_OK; CERTO_EINVAL (bad alias, purpose without `iss` or the reverse);
 *         CERTO_EEXIST (the alias is taken, or the certificate is already trusted: the
 *         message names its alias).
 */
CERTO_MUST_CHECK certo_rc certo_trust_add(char **alias_out, struct certo_db *db, X509 *cert,
                                          const struct certo_trust_add_opts *opts,
                                          struct certo_err *err);

/** One certificate of an import: added under 'alias', or skipped (already trusted). */
struct certo_trust_import_item {
    char *alias;          /* owned; the new alias, or the existing one when skipped */
    char fingerprint[96]; /* SHA-256 */
    bool skipped;         /* already trusted (or twice in the input): nothing stored */
};

/** The outcome of certo_trust_import. Release with certo_trust_import_dispose. */
struct certo_trust_import_result {
    struct certo_trust_import_item *items; /* owned array, in input order */
    size_t count;
    size_t added; /* items not skipped */
};

/** Releases what 'r' holds (not 'r' itself). NULL ok. */
void certo_trust_import_dispose(struct certo_trust_import_result *r);

/**
 * Imports every certificate of 'data' ('len' bytes): one DER certificate, or PEM
 * CERTIFICATE blocks (other blocks and text ignored), such as certo_trust_export writes;
 * a CERTO_TRUST_METADATA_TAG line before a block gives its alias, purpose and token
 * issuer. Everything is parsed before anything is stored, then one write transaction
 * adds all or nothing. Certificates already trusted (by fingerprint) are skipped and
 * reported, not errors, so replication can run again. An alias taken by another
 * certificate is made unique, except an explicit 'opts->alias', which is an error.
 * 'opts' applies to every certificate; its alias and token issuer need exactly one.
 * @param out filled on success (release with certo_trust_import_dispose).
 * @param opts may be NULL; opts->source NULL: "import" for blocks with a metadata line,
 *        "file" for the others.
 * @return CERTO_OK; CERTO_EPARSE (no certificate, a malformed one: the message gives its
 *         number); CERTO_ETOOBIG; CERTO_EINVAL (bad options or metadata); CERTO_EEXIST
 *         (explicit alias taken, or an explicit alias or token issuer for a certificate
 *         that is already trusted).
 */
CERTO_MUST_CHECK certo_rc certo_trust_import(struct certo_trust_import_result *out,
                                             struct certo_db *db, const void *data, size_t len,
                                             const struct certo_trust_add_opts *opts,
                                             struct certo_err *err);

/**
 * Every trusted certificate, ordered by alias.
 * @param out filled on success (release with certo_trust_list_dispose); may be empty.
 */
CERTO_MUST_CHECK certo_rc certo_trust_list(struct certo_trust_list *out, struct certo_db *db,
                                           struct certo_err *err);

/**
 * One trusted certificate by alias or SHA-256 fingerprint ('key', a fingerprint in any
 * form certo_trust_fingerprint_parse takes).
 * @param out filled on success (release with certo_trust_entry_dispose).
 * @return CERTO_OK; CERTO_ENOTFOUND.
 */
CERTO_MUST_CHECK certo_rc certo_trust_get(struct certo_trust_entry *out, struct certo_db *db,
                                          const char *key, struct certo_err *err);

/**
 * Removes one trusted certificate by alias or fingerprint, as certo_trust_get finds it.
 * @param removed may be NULL; else filled with the removed row (release with
 *        certo_trust_entry_dispose).
 * @return CERTO_OK; CERTO_ENOTFOUND.
 */
CERTO_MUST_CHECK certo_rc certo_trust_remove(struct certo_trust_entry *removed, struct certo_db *db,
                                             const char *key, struct certo_err *err);

/**
 * Appends the whole store to 'out' as one PEM bundle, ordered by alias: for each
 * certificate a CERTO_TRUST_METADATA_TAG line (alias=, purpose=, token-issuer= when set)
 * and a standard CERTIFICATE block without headers. Tools that read PEM bundles ignore
 * the lines outside the blocks; certo_trust_import reads them back. An empty store
 * appends nothing.
 * @param n_out may be NULL; else set to the number of certificates written.
 */
CERTO_MUST_CHECK certo_rc certo_trust_export(struct certo_buf *out, size_t *n_out,
                                             struct certo_db *db, struct certo_err *err);

/**
 * A new X509_STORE holding every certificate trusted for 'purpose', for verifying
 * peers. X509_V_FLAG_PARTIAL_CHAIN is set: a trusted certificate is an anchor even when
 * it is not self-signed (an imported server leaf or intermediate).
 * @param out set on success to a store owned by the caller (X509_STORE_free).
 */
CERTO_MUST_CHECK certo_rc certo_trust_x509_store(X509_STORE **out, struct certo_db *db,
                                                 enum certo_trust_purpose purpose,
                                                 struct certo_err *err);

/**
 * The certificates trusted as token issuers for 'iss' (borrowed), for verifying the
 * signature of an external issuer's token.
 * @param out set on success to a new stack owned by the caller (certo_certs_free).
 * @return CERTO_OK (at least one certificate); CERTO_ENOTFOUND (none for 'iss').
 */
CERTO_MUST_CHECK certo_rc certo_trust_issuer_certs(STACK_OF(X509) * *out, struct certo_db *db,
                                                   const char *iss, struct certo_err *err);

#endif
