/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One TLS handshake to see what a server serves (net layer). Non-blocking connect and
 * handshake under one deadline; no certificate verification (fingerprints are compared
 * by the caller). Never sends application data. The _addr variant connects to an address
 * its caller already checked and caps what the peer may send.
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

/*
 * Starts a non-blocking connect to one address and waits for it until 'deadline'.
 * Returns the socket, or -1 with *why CERTO_ETIMEDOUT or CERTO_ENET (errno set).
 */
static int
connect_one(const struct sockaddr *addr, socklen_t addr_len, int64_t deadline, certo_rc *why)
{
    struct pollfd p;
    socklen_t len = sizeof(int);
    int soerr = 0, n;
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    *why = CERTO_ENET;
    if (fd < 0)
        return -1;
    if (connect(fd, addr, addr_len) != 0 && errno != EINPROGRESS) {
        soerr = errno;
        goto out;
    }
    p = (struct pollfd){fd, POLLOUT, 0};
    n = poll(&p, 1, left_ms(deadline));
    if (n == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr == 0)
        return fd;
    if (n == 0)
        *why = CERTO_ETIMEDOUT;
    else if (soerr == 0)
        soerr = errno;
out:
    close(fd);
    errno = soerr;
    return -1;
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
    for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next)
        fd = connect_one(ai->ai_addr, ai->ai_addrlen, deadline, &rc);
    freeaddrinfo(res);
    if (fd < 0)
        return rc == CERTO_ETIMEDOUT
                   ? certo_err_set(err, rc, "net.tlsprobe", "connecting to %s:%d timed out", host,
                                   port)
                   : certo_err_sys(err, rc, "net.tlsprobe", "cannot connect to %s:%d", host, port);
    *out = fd;
    return CERTO_OK;
}

/* Bytes read from the peer so far, against a cap (the BIO callback's argument). */
struct read_cap {
    size_t max;  /* 0: no cap */
    size_t seen; /* bytes read so far */
    bool over;   /* the cap was passed: the read that passed it was failed */
};

/*
 * Counts what the socket BIO reads and fails the read that passes the cap, so a peer
 * cannot make the handshake buffer more than 'max' bytes whatever its messages claim.
 */
static long
count_reads(BIO *b, int oper, const char *argp, size_t len, int argi, long argl, int ret,
            size_t *processed)
{
    struct read_cap *cap = (struct read_cap *)BIO_get_callback_arg(b);

    (void)argp;
    (void)len;
    (void)argi;
    (void)argl;
    if (oper != (BIO_CB_READ | BIO_CB_RETURN) || ret <= 0 || processed == NULL || cap == NULL)
        return ret;
    cap->seen += *processed;
    if (cap->max > 0 && cap->seen > cap->max) {
        cap->over = true;
        return -1;
    }
    return ret;
}

static certo_rc handshake(int fd, const char *label, const char *sni, int64_t deadline,
                          size_t max_bytes, int max_chain, struct certo_tls_peer *out,
                          struct certo_err *err);

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
    char *label = certo_asprintf("%s:%d", host, port);
    int fd = -1;
    certo_rc rc = CERTO_EINTERNAL;

    memset(out, 0, sizeof(*out));
    rc = connect_to(&fd, host, port, deadline, err);
    if (rc == CERTO_OK)
        rc = handshake(fd, label, sni, deadline, 0, 0, out, err);
    if (fd >= 0)
        close(fd);
    certo_free(label);
    return rc;
}

certo_rc
certo_tls_probe_addr(const struct sockaddr *addr, socklen_t addr_len, const char *label,
                     const struct certo_tls_probe_opts *opts, struct certo_tls_peer *out,
                     struct certo_err *err)
{
    int64_t deadline = certo_clock_mono_ms() + (opts->timeout_ms > 0 ? opts->timeout_ms : 10000);
    struct certo_sigpipe g;
    certo_rc rc = CERTO_EINTERNAL;
    int fd;

    memset(out, 0, sizeof(*out));
    if (addr->sa_family != AF_INET && addr->sa_family != AF_INET6)
        return certo_err_set(err, CERTO_EINVAL, "net.tlsprobe", "%s: not an IP address", label);
    fd = connect_one(addr, addr_len, deadline, &rc);
    if (fd < 0)
        return rc == CERTO_ETIMEDOUT
                   ? certo_err_set(err, rc, "net.tlsprobe", "connecting to %s timed out", label)
                   : certo_err_sys(err, rc, "net.tlsprobe", "cannot connect to %s", label);
    certo_sigpipe_block(&g);
    rc = handshake(fd, label, opts->sni, deadline, opts->max_bytes, opts->max_chain, out, err);
    certo_sigpipe_restore(&g);
    close(fd);
    return rc;
}

/*
 * One client handshake on the connected socket 'fd' (not closed here), with the peer
 * unverified. 'max_bytes' and 'max_chain' (0: none) bound what the peer may send.
 */
static certo_rc
handshake(int fd, const char *label, const char *sni, int64_t deadline, size_t max_bytes,
          int max_chain, struct certo_tls_peer *out, struct certo_err *err)
{
    struct read_cap cap = {.max = max_bytes};
    SSL_CTX *ctx = NULL;
    SSL *ssl = NULL;
    char *sni_copy = NULL;
    certo_rc rc = CERTO_EINTERNAL;

    memset(out, 0, sizeof(*out));
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
    if (max_bytes > 0) {
        /* OpenSSL refuses a Certificate message over this size before buffering it; the
         * callback caps everything else read. */
        SSL_set_max_cert_list(ssl, (long)max_bytes);
        BIO_set_callback_arg(SSL_get_rbio(ssl), (char *)&cap);
        BIO_set_callback_ex(SSL_get_rbio(ssl), count_reads);
    }
    for (;;) {
        int r = SSL_connect(ssl);
        if (r == 1)
            break;
        int e = SSL_get_error(ssl, r);
        short ev = e == SSL_ERROR_WANT_READ ? POLLIN : e == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
        if (cap.over) {
            rc =
                certo_err_set(err, CERTO_ETOOBIG, "net.tlsprobe",
                              "%s sent more than %zu bytes during the handshake", label, max_bytes);
            goto out;
        }
        if (ev == 0) {
            rc = certo_err_ossl(err, CERTO_ETLS, "net.tlsprobe", "TLS handshake with %s failed",
                                label);
            goto out;
        }
        struct pollfd p = {fd, ev, 0};
        int n = poll(&p, 1, left_ms(deadline));
        if (n <= 0) {
            rc = certo_err_set(err, CERTO_ETIMEDOUT, "net.tlsprobe",
                               "TLS handshake with %s timed out", label);
            goto out;
        }
    }
    STACK_OF(X509) *sent = SSL_get_peer_cert_chain(ssl);
    if (sent == NULL || sk_X509_num(sent) == 0) {
        rc = certo_err_set(err, CERTO_ETLS, "net.tlsprobe", "%s sent no certificate", label);
        goto out;
    }
    if (max_chain > 0 && sk_X509_num(sent) > max_chain) {
        rc = certo_err_set(err, CERTO_ETOOBIG, "net.tlsprobe",
                           "%s sent %d certificates, the limit is %d", label, sk_X509_num(sent),
                           max_chain);
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
