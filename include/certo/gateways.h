/* SPDX-License-Identifier: Apache-2.0 */
/* layer: server */
/*
 * Gateways joining the server (issue 8, first slice): a gateway is created by an admin
 * with a one-time enrollment token; the gateway sends the token with a CSR and gets a
 * client certificate signed by the server's gateway CA; from then on it is known by that
 * certificate (mutual TLS) until it is revoked. A gateway syncs its endpoint list (names,
 * types, transports; never credentials) to the server, where each endpoint is delegated
 * to an organization and department. Every change is one write transaction.
 * Threading: a database handle belongs to one thread.
 */
#ifndef CERTO_GATEWAYS_H
#define CERTO_GATEWAYS_H

#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

#include "certo/accounts.h"
#include "certo/buf.h"
#include "certo/err.h"
#include "certo/store.h"

#define CERTO_ENROLL_TOKEN_LEN  64   /* hex characters */
#define CERTO_ENROLL_TTL        3600 /* seconds an enrollment token is good for */
#define CERTO_GATEWAY_CERT_DAYS 365
#define CERTO_SYNC_MAX          10000   /* endpoints in one sync */
#define CERTO_LOCAL_GATEWAY     "local" /* the gateway embedded in `certo server` */

struct certo_gateway {
    int64_t id;
    char name[CERTO_NAME_MAX + 1];
    char cert_fp[96]; /* SHA-256 of its client certificate; empty before enrollment */
    int64_t created_at;
    int64_t enrolled_at; /* 0: not yet */
    int64_t last_seen;   /* 0: never */
    int64_t revoked_at;  /* 0: not revoked */
    int64_t endpoints;   /* endpoints it synced (not removed) */
};

/** An endpoint as a gateway reports it, and as the server keeps it. */
struct certo_managed {
    int64_t id;
    int64_t gateway_id;
    char name[CERTO_NAME_MAX + 1];
    char type[16];      /* nginx, apache, tomcat, pem, p12, jks, iis, f5 */
    char transport[16]; /* local, ssh, winrm, rest */
    char summary[256];  /* e.g. the configuration path or host; never a credential */
    int64_t org_id;     /* 0: not delegated */
    int64_t dept_id;    /* 0: none */
    int64_t synced_at;
    int64_t removed_at; /* 0: present at the last sync */
};

/**
 * Creates a gateway named 'name' and its one-time enrollment token (CERTO_ENROLL_TTL
 * seconds from 'now'); only the token's SHA-256 is stored.
 * @param token set to the token (hex, NUL-terminated).
 * @return CERTO_OK with *id; CERTO_EINVAL (name); CERTO_EEXIST.
 */
CERTO_MUST_CHECK certo_rc certo_gateway_add(struct certo_db *db, const char *name,
                                            char token[CERTO_ENROLL_TOKEN_LEN + 1], int64_t *id,
                                            time_t now, struct certo_err *err);
/**
 * Enrolls with a token and a PEM CSR: signs a client certificate with the gateway CA
 * (CN = the gateway's name, CERTO_GATEWAY_CERT_DAYS), records its fingerprint and spends
 * the token. 'cert_pem' and 'ca_pem' receive the certificate and the CA (PEM).
 * @return CERTO_OK with *id; CERTO_EAUTH (unknown, used or expired token: one message);
 *         CERTO_EINVAL (bad CSR).
 */
CERTO_MUST_CHECK certo_rc certo_gateway_enroll(struct certo_db *db, const char *dir,
                                               const char *token, const char *csr_pem,
                                               struct certo_buf *cert_pem, struct certo_buf *ca_pem,
                                               int64_t *id, time_t now, struct certo_err *err);
/**
 * The gateway a client certificate belongs to: issued by the gateway CA (signature and
 * validity at 'now'), its fingerprint that of an enrolled gateway that is not revoked.
 * Records 'now' as last seen.
 * @return CERTO_OK; CERTO_EAUTH (any other certificate, or a revoked gateway).
 */
CERTO_MUST_CHECK certo_rc certo_gateway_by_cert(struct certo_db *db, X509 *ca, X509 *peer,
                                                struct certo_gateway *out, time_t now,
                                                struct certo_err *err);
/**
 * The embedded local gateway's id, its row made when missing (enrolled, no certificate:
 * it cannot be called as over the network).
 */
CERTO_MUST_CHECK certo_rc certo_gateway_local(struct certo_db *db, time_t now, int64_t *id,
                                              struct certo_err *err);
/** @return CERTO_OK; CERTO_ENOTFOUND. */
CERTO_MUST_CHECK certo_rc certo_gateway_get(struct certo_db *db, int64_t id,
                                            struct certo_gateway *out, struct certo_err *err);
/** Gateways ordered by id, a page of them ('items' holds page->max). */
CERTO_MUST_CHECK certo_rc certo_gateway_list(struct certo_db *db, struct certo_page *page,
                                             struct certo_gateway *items, struct certo_err *err);
/** Revokes a gateway: its certificate is refused from now on. @return CERTO_ENOTFOUND. */
CERTO_MUST_CHECK certo_rc certo_gateway_revoke(struct certo_db *db, int64_t id, time_t now,
                                               struct certo_err *err);

/**
 * Replaces what the server knows of a gateway's endpoints with 'eps' (n at most
 * CERTO_SYNC_MAX, names unique): new ones are added (not delegated), known ones updated
 * (delegation kept), missing ones marked removed. One transaction.
 * @return CERTO_OK with the counts; CERTO_EINVAL (a bad or duplicate name or type).
 */
CERTO_MUST_CHECK certo_rc certo_gateway_sync(struct certo_db *db, int64_t gateway_id,
                                             const struct certo_managed *eps, size_t n, time_t now,
                                             int64_t *added, int64_t *removed,
                                             struct certo_err *err);
/** @return CERTO_OK; CERTO_ENOTFOUND. */
CERTO_MUST_CHECK certo_rc certo_managed_get(struct certo_db *db, int64_t id,
                                            struct certo_managed *out, struct certo_err *err);
/**
 * Endpoints ordered by id; org_id > 0 / dept_id > 0 narrow to a scope (an endpoint of an
 * organization without department is in the organization's scope, not a department's).
 * Removed endpoints are left out unless 'removed'.
 */
CERTO_MUST_CHECK certo_rc certo_managed_list(struct certo_db *db, int64_t org_id, int64_t dept_id,
                                             bool removed, struct certo_page *page,
                                             struct certo_managed *items, struct certo_err *err);
/**
 * Delegates an endpoint (seed 004): to an organization, and optionally one of its
 * departments; both 0 take the delegation back.
 * @return CERTO_OK; CERTO_ENOTFOUND; CERTO_EINVAL (department of another organization).
 */
CERTO_MUST_CHECK certo_rc certo_managed_delegate(struct certo_db *db, int64_t id, int64_t org_id,
                                                 int64_t dept_id, struct certo_err *err);

#endif
