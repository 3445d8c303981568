/* SPDX-License-Identifier: Apache-2.0 */
/* layer: gateway */
/*
 * The nodes of an endpoint (seed 004 "Managing nodes"): every listener its configuration
 * describes (nginx server block x listen, Apache VirtualHost x name, Tomcat Connector x
 * SSLHostConfig) and every keystore entry, with what each really serves: discovery asks
 * the connector for the configured nodes, then connects to every listener (TLS with SNI,
 * or a plain TCP connect for HTTP) and reads the chain served. The result is stored in the
 * registry (table nodes), replacing the endpoint's previous discovery in one transaction;
 * reading it back needs no network. A node whose certificate is not the one Certo last
 * installed there is flagged as drifted. One thread per registry handle.
 */
#ifndef CERTO_NODES_H
#define CERTO_NODES_H

#include <stdint.h>

#include "certo/install.h"
#include "certo/registry.h"

enum certo_node_state {
    CERTO_NODE_SERVING = 0,     /* a listener answered: TLS chain read, or HTTP connect made */
    CERTO_NODE_UNREACHABLE = 1, /* no connection (refused, timed out); 'reason' says which */
    CERTO_NODE_ERROR = 2,       /* connected but no chain (handshake failed), or a listener
                                   that cannot be probed; 'reason' says why */
    CERTO_NODE_STORED = 3,      /* a keystore entry: its certificates are in the file */
};

/** Hex digits of the identifier Certo shows for a certificate it installed. */
#define CERTO_SSL_ID_LEN 16

/* One node as discovered. Every string owned; dispose the set with certo_nodes_dispose. */
struct certo_node {
    int seq;        /* order in the configuration, from 1 */
    char *name;     /* the configured name; "ADDRESS:PORT" for a listener that has none */
    char *alias;    /* the other names, space-separated, or the keystore alias; NULL: none */
    char *vendor;   /* "nginx", "Apache", "Tomcat", "IIS", "F5", "PKCS#12", "JKS", "PEM" */
    char *protocol; /* "HTTP" or "HTTPS"; NULL for a keystore entry */
    char *address;  /* as configured ("*", "127.0.0.1", "::"); NULL for an entry */
    int port;       /* 0 for an entry */
    char *sni;      /* the name sent in the handshake; NULL: none */
    char *source;   /* "FILE:LINE" of the configuration block, or the keystore file */
    enum certo_node_state state;
    char *reason;          /* unreachable or error: why; NULL otherwise */
    char *fingerprint;     /* the leaf's SHA-256, upper-case pairs joined by ':'; NULL: none */
    char *subject;         /* the leaf's subject (RFC 2253); NULL: no certificate */
    char *issuer;          /* the leaf's issuer; NULL: no certificate */
    int64_t not_after;     /* the leaf's expiry, seconds since the epoch; 0: no certificate */
    char *problems;        /* "; "-separated: expired, not yet valid, self-signed, chain out of
                              order, incomplete chain, name mismatch; NULL: none */
    char *ssl;             /* the SSL column: certo_nodes_ssl_id of a certificate Certo
                              installed (on any endpoint), "External" for any other; NULL: no
                              certificate */
    bool drift;            /* Certo installed 'installed' here and the node has another leaf */
    char *installed;       /* the fingerprint of the endpoint's last successful install when
                              this node is one that install wrote; NULL otherwise */
    int64_t discovered_at; /* seconds since the epoch */
};

/* The nodes of one endpoint. */
struct certo_nodes {
    struct certo_node *v; /* owned array, by seq */
    size_t n;
    int64_t discovered_at;        /* the last discovery; 0: never discovered */
    enum certo_recovery recovery; /* discover: an interrupted install it rolled back first */
};

struct certo_nodes_opts {
    int timeout_ms; /* connect plus handshake, per listener; 0: 3000 */
};

/**
 * Discovers the nodes of 'ep': reads its configuration through its connector (under the
 * endpoint's lock, after rolling back an interrupted install like every operation), probes
 * every listener (several at a time), and stores the result in place of the previous one.
 * A listener that does not answer is a node in state unreachable or error, not a failure.
 * 'out' is zeroed at entry and filled on success (certo_nodes_dispose).
 * @return CERTO_OK; CERTO_EUNSUPPORTED (a type or connection that cannot list nodes yet);
 *         what the connector returns when the configuration cannot be read (CERTO_EPARSE,
 *         CERTO_ENOTFOUND, CERTO_EAUTH for a keystore password, CERTO_EREMOTE).
 */
CERTO_MUST_CHECK certo_rc certo_nodes_discover(struct certo_nodes *out, struct certo_registry *reg,
                                               const struct certo_endpoint *ep,
                                               const struct certo_nodes_opts *o,
                                               struct certo_err *err);

/**
 * The nodes stored by the last discovery of 'ep' (no network). out->discovered_at is 0 when
 * 'ep' was never discovered. 'out' is zeroed at entry and filled on success.
 */
CERTO_MUST_CHECK certo_rc certo_nodes_load(struct certo_nodes *out, struct certo_registry *reg,
                                           const struct certo_endpoint *ep, struct certo_err *err);

/** Releases the nodes; the set is left empty. NULL ok. */
void certo_nodes_dispose(struct certo_nodes *set);

/** "serving", "unreachable", "error" or "stored". */
const char *certo_node_state_name(enum certo_node_state s);

/**
 * The identifier of a certificate in Certo's output (the SSL column of `tls nodes`, `tls
 * history`): the first CERTO_SSL_ID_LEN hex digits of its SHA-256 fingerprint 'fp' ("AB:CD:
 * ..." or plain hex), lower case. 'out' is "" when 'fp' has fewer digits.
 */
void certo_nodes_ssl_id(char out[CERTO_SSL_ID_LEN + 1], const char *fp);

#endif
