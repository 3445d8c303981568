/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One TLS handshake to see what a server serves (net layer). Non-blocking connect and
 * handshake under one deadline; no certificate verification (fingerprints are compared
 * by the caller). Never sends application data.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "certo/cert.h"
#include "certo/clock.h"
#include "certo/mem.h"
#include "certo/sigpipe.h"
#include "certo/tlsprobe.h"

static int
left_ms(int64_t deadline)
{
    int64_t l = deadline - certo_clock_mono_ms();
    return l < 0 ? 0 : l > 60000 ? 60000 : (int)l;
}

void
certo_tls_peer_dispose(struct certo_tls_peer *p)
{
    if (p == NULL)
        return;
    certo_certs_free(p->chain);
    memset(p, 0, sizeof(*p));
}

/* Connects to the first address of 'host' that answers before the deadline. */
static certo_rc
connect_to(int *out, const char *host, int port, int64_t deadline, struct certo_err *err)
{
    struct addrinfo hints = {0}, *res = NULL;
    char portstr[8];
    certo_rc rc = CERTO_ENET;
    int fd = -1, gai;

    *out = -1;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(portstr, sizeof(portstr), "%d", port);
    gai = getaddrinfo(host, portstr, &hints, &res);
    if (gai != 0)
        return certo_err_set(err, CERTO_ENET, "net.tlsprobe", "cannot resolve %s: %s", host,
                             gai_strerror(gai));
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
            close(fd);
            fd = -1;
            continue;
        }
        struct pollfd p = {fd, POLLOUT, 0};
        int soerr = 0;
        socklen_t len = sizeof(soerr);
        int n = poll(&p, 1, left_ms(deadline));
        if (n == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr == 0) {
            rc = CERTO_OK;
            break;
        }
        rc = n == 0 ? CERTO_ETIMEDOUT : CERTO_ENET;
        errno = soerr != 0 ? soerr : errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (rc != CERTO_OK)
        return rc == CERTO_ETIMEDOUT
                   ? certo_err_set(err, rc, "net.tlsprobe", "connecting to %s:%d timed out", host,
                                   port)
                   : certo_err_sys(err, rc, "net.tlsprobe", "cannot connect to %s:%d", host, port);
    *out = fd;
    return CERTO_OK;
}

static certo_rc probe(const char *host, int port, const char *sni, int timeout_ms,
                      struct certo_tls_peer *out, struct certo_err *err);

/* A server that resets the connection while the handshake writes must not kill us. */
certo_rc
certo_tls_probe(const char *host, int port, const char *sni, int timeout_ms,
                struct certo_tls_peer *out, struct certo_err *err)
{
    struct certo_sigpipe g;
    certo_rc rc;

    certo_sigpipe_block(&g);
    rc = probe(host, port, sni, timeout_ms, out, err);
    certo_sigpipe_restore(&g);
    return rc;
}

static certo_rc
probe(const char *host, int port, const char *sni, int timeout_ms, struct certo_tls_peer *out,
      struct certo_err *err)
{
    int64_t deadline = certo_clock_mono_ms() + (timeout_ms > 0 ? timeout_ms : 10000);
    SSL_CTX *ctx = NULL;
    SSL *ssl = NULL;
    char *sni_copy = NULL;
    int fd = -1;
    certo_rc rc = CERTO_EINTERNAL;

    memset(out, 0, sizeof(*out));
    rc = connect_to(&fd, host, port, deadline, err);
    if (rc != CERTO_OK)
        goto out;
    ctx = SSL_CTX_new(TLS_client_method());
    /* The SNI macro casts its argument to void *: give it a copy we own (OpenSSL copies
     * it again), not the caller's const string. */
    sni_copy = sni != NULL ? certo_strdup(sni) : NULL;
    if (ctx == NULL || (ssl = SSL_new(ctx)) == NULL || SSL_set_fd(ssl, fd) != 1 ||
        (sni_copy != NULL && SSL_set_tlsext_host_name(ssl, sni_copy) != 1)) {
        rc = certo_err_ossl(err, CERTO_ECRYPTO, "net.tlsprobe", "cannot set up TLS");
        goto out;
    }
    SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
    for (;;) {
        int r = SSL_connect(ssl);
        if (r == 1)
            break;
        int e = SSL_get_error(ssl, r);
        short ev = e == SSL_ERROR_WANT_READ ? POLLIN : e == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
        if (ev == 0) {
            rc = certo_err_ossl(err, CERTO_ETLS, "net.tlsprobe", "TLS handshake with %s:%d failed",
                                host, port);
            goto out;
        }
        struct pollfd p = {fd, ev, 0};
        int n = poll(&p, 1, left_ms(deadline));
        if (n <= 0) {
            rc = certo_err_set(err, CERTO_ETIMEDOUT, "net.tlsprobe",
                               "TLS handshake with %s:%d timed out", host, port);
            goto out;
        }
    }
    STACK_OF(X509) *sent = SSL_get_peer_cert_chain(ssl);
    if (sent == NULL || sk_X509_num(sent) == 0) {
        rc =
            certo_err_set(err, CERTO_ETLS, "net.tlsprobe", "%s:%d sent no certificate", host, port);
        goto out;
    }
    out->chain = certo_certs_dup(sent);
    rc = certo_cert_fingerprint(out->fingerprint, sk_X509_value(out->chain, 0), err);
    snprintf(out->version, sizeof(out->version), "%s", SSL_get_version(ssl));
    snprintf(out->cipher, sizeof(out->cipher), "%s", SSL_get_cipher_name(ssl));
out:
    if (ssl != NULL)
        SSL_free(ssl);
    SSL_CTX_free(ctx);
    if (fd >= 0)
        close(fd);
    certo_free(sni_copy);
    if (rc != CERTO_OK)
        certo_tls_peer_dispose(out);
    ERR_clear_error();
    return rc;
}

certo_rc
certo_tls_wait_for(const char *host, int port, const char *sni, const char *want, int timeout_ms,
                   struct certo_err *err)
{
    int64_t deadline = certo_clock_mono_ms() + timeout_ms;
    char last[96] = "";

    for (;;) {
        struct certo_tls_peer p;
        struct certo_err e = {0};
        int left = left_ms(deadline);
        /* Each handshake gets at least half a second, even at the end of the wait: on a
         * loaded machine a shorter one times out and hides what the server serves. */
        int budget = left < 500 ? 500 : left > 2000 ? 2000 : left;
        certo_rc rc = certo_tls_probe(host, port, sni, budget, &p, &e);
        if (rc == CERTO_OK) {
            bool same = strcmp(p.fingerprint, want) == 0;
            snprintf(last, sizeof(last), "%s", p.fingerprint);
            certo_tls_peer_dispose(&p);
            if (same)
                return CERTO_OK;
        }
        if (certo_clock_mono_ms() >= deadline) {
            if (last[0] == '\0') {
                if (err != NULL && err->rc == CERTO_OK) /* first writer wins */
                    *err = e;
                return rc;
            }
            return certo_err_set(err, CERTO_ECONFLICT, "net.tlsprobe",
                                 "%s:%d (SNI %s) still serves %s, not %s", host, port,
                                 sni != NULL ? sni : "none", last, want);
        }
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}
