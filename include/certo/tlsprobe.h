/* SPDX-License-Identifier: Apache-2.0 */
/* layer: net */
/*
 * Asking a TLS server what it serves: one blocking handshake with SNI, the chain as
 * sent, the leaf's SHA-256 fingerprint. The peer is deliberately not verified — the
 * caller compares fingerprints with what it installed. Used to verify installs and by
 * discovery. Any thread; no shared state.
 */
#ifndef CERTO_TLSPROBE_H
#define CERTO_TLSPROBE_H

#include <sys/socket.h>

#include <openssl/x509.h>

#include "certo/common.h"
#include "certo/err.h"

struct certo_tls_peer {
    STACK_OF(X509) * chain; /* owned; as served, leaf first */
    char fingerprint[96];   /* the leaf's SHA-256, upper-case hex pairs joined by ':' */
    char version[16];       /* "TLSv1.3" */
    char cipher[64];
};

void certo_tls_peer_dispose(struct certo_tls_peer *p);

/**
 * Connects to 'host':'port' (a name or an address), sends 'sni' (NULL: none) and
 * completes a handshake within 'timeout_ms'.
 * @return CERTO_OK with *out filled; CERTO_ENET (resolve, connect, reset),
 *         CERTO_ETIMEDOUT, CERTO_ETLS (handshake failed).
 */
CERTO_MUST_CHECK certo_rc certo_tls_probe(const char *host, int port, const char *sni,
                                          int timeout_ms, struct certo_tls_peer *out,
                                          struct certo_err *err);

/** Limits of certo_tls_probe_addr. */
struct certo_tls_probe_opts {
    const char *sni;  /* server name to send; NULL: none. Borrowed */
    int timeout_ms;   /* connect + handshake deadline; <= 0: 10 s */
    size_t max_bytes; /* bytes read from the peer before the handshake ends; 0: no cap */
    int max_chain;    /* certificates the peer may send; 0: no cap */
};

/**
 * Like certo_tls_probe, but connects to exactly the address 'addr' ('addr_len' bytes,
 * AF_INET or AF_INET6) without resolving anything, and enforces the caps of 'opts'.
 * 'label' (borrowed, e.g. "host:port") names the peer in messages. Nothing is fetched
 * besides the handshake: no OCSP stapling is asked for, no AIA or CRL URL is followed.
 * @return CERTO_OK with *out filled; CERTO_ENET, CERTO_ETIMEDOUT, CERTO_ETLS as
 *         certo_tls_probe; CERTO_ETOOBIG (the peer sent more than 'max_bytes' or a chain
 *         longer than 'max_chain').
 */
CERTO_MUST_CHECK certo_rc certo_tls_probe_addr(const struct sockaddr *addr, socklen_t addr_len,
                                               const char *label,
                                               const struct certo_tls_probe_opts *opts,
                                               struct certo_tls_peer *out, struct certo_err *err);

/**
 * Probes until the served leaf has fingerprint 'want' or 'timeout_ms' passes (a server
 * that was just reloaded switches over within some milliseconds).
 * @return CERTO_OK; CERTO_ECONFLICT (another certificate is still served, named in the
 *         message), or the last probe's error.
 */
CERTO_MUST_CHECK certo_rc certo_tls_wait_for(const char *host, int port, const char *sni,
                                             const char *want, int timeout_ms,
                                             struct certo_err *err);

#endif
