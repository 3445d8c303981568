/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of src/net/scan.c: the target and port specifications (every error message,
 * the boundaries, files), and the engine against servers forked here on 127.0.0.1: TLS
 * (the fixture leaf and chain), plain HTTP, a banner, binary garbage, a listener that never
 * accepts, a port that is closed. Every child is ended by its pid before any assertion.
 * Each engine test also runs with several workers (threads): the same findings, the same
 * counts, callbacks never at once, and a stop that ends every worker.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "certo/clock.h"
#include "certo/scan.h"
#include "testutil.h"

/* ---- specifications ---- */

/* Parses 'spec' with 'max'; expects 'want' and, when not CERTO_OK, the exact 'msg'. */
static void
targets_case(const char *spec, uint64_t max, certo_rc want, const char *msg, uint64_t count)
{
    struct certo_scan_targets *t = NULL;
    struct certo_err err = {0};
    certo_rc rc = certo_scan_targets_parse(&t, spec, max, &err);

    if (rc != want || (msg != NULL && strcmp(err.msg, msg) != 0))
        fprintf(stderr, "spec \"%s\": rc %d (want %d), msg \"%s\"\n", spec, rc, want, err.msg);
    assert_int_equal(rc, want);
    if (msg != NULL)
        assert_string_equal(err.msg, msg);
    if (want == CERTO_OK) {
        assert_non_null(t);
        assert_int_equal(certo_scan_targets_count(t), count);
    } else {
        assert_null(t);
    }
    certo_scan_targets_free(t);
}

static void
test_net_scan__targets(void **state)
{
    char name[300];
    (void)state;
    targets_case("10.0.0.1", 0, CERTO_OK, NULL, 1);
    targets_case("10.0.0.1, 10.0.0.2\t10.0.0.3\n::1", 0, CERTO_OK, NULL, 4);
    targets_case("10.0.0.0/32", 0, CERTO_OK, NULL, 1);
    targets_case("10.0.0.0/24", 0, CERTO_OK, NULL, 256);
    targets_case("10.0.0.7/24", 0, CERTO_OK, NULL, 256);
    targets_case("10.0.0.5-40", 0, CERTO_OK, NULL, 36);
    targets_case("10.0.0.5-5", 0, CERTO_OK, NULL, 1);
    targets_case("2001:db8::/120", 0, CERTO_OK, NULL, 256);
    targets_case("2001:db8::1/128", 0, CERTO_OK, NULL, 1);
    targets_case("127.1.0.0/16", 0, CERTO_OK, NULL, 65536);
    targets_case("127.1.0.0/16", 65536, CERTO_OK, NULL, 65536);
    targets_case("10.0.0.0/8", CERTO_SCAN_MAX_LIMIT, CERTO_OK, NULL, 16777216);
    targets_case("example.com,www.example.test,localhost", 0, CERTO_OK, NULL, 3);
    /* Duplicates are kept. */
    targets_case("10.0.0.1 10.0.0.1 a.example a.example", 0, CERTO_OK, NULL, 4);

    targets_case("", 0, CERTO_EINVAL, "targets: the spec is empty", 0);
    targets_case(" ,, \n", 0, CERTO_EINVAL, "targets: the spec is empty", 0);
    targets_case(NULL, 0, CERTO_EINVAL, "targets: the spec is empty", 0);
    targets_case("10.0.0.0/8", 0, CERTO_EINVAL,
                 "targets: 10.0.0.0/8 is 16777216 addresses, more than the maximum of 65536 "
                 "(raise it with --max N)",
                 0);
    targets_case("0.0.0.0/0", 1000, CERTO_EINVAL,
                 "targets: 0.0.0.0/0 is 4294967296 addresses, more than the maximum of 1000 "
                 "(raise it with --max N)",
                 0);
    targets_case("10.0.0.0/8", CERTO_SCAN_MAX_LIMIT - 1, CERTO_EINVAL, NULL, 0);
    targets_case("2001:db8::/64", CERTO_SCAN_MAX_LIMIT, CERTO_EINVAL,
                 "targets: 2001:db8::/64 is 18446744073709551616 addresses, more than the "
                 "maximum of 16777216",
                 0);
    targets_case("10.0.0.0/24 10.0.1.0/24", 300, CERTO_EINVAL,
                 "targets: 10.0.1.0/24 brings the total to 512 targets, more than the maximum "
                 "of 300 (raise it with --max N)",
                 0);
    targets_case("10.0.0.1", CERTO_SCAN_MAX_LIMIT + 1ull, CERTO_EINVAL,
                 "targets: a maximum of 16777217 is above the limit of 16777216", 0);
    targets_case("10.0.0.256", 0, CERTO_EINVAL, "targets: 10.0.0.256 is not an IPv4 address", 0);
    targets_case("10.0.0", 0, CERTO_EINVAL, "targets: 10.0.0 is not an IPv4 address", 0);
    targets_case("10.0.0.40-5", 0, CERTO_EINVAL, "targets: 10.0.0.40-5 is an empty range", 0);
    targets_case("10.0.0.5-256", 0, CERTO_EINVAL,
                 "targets: 10.0.0.5-256 is not an IPv4 range (the form is 10.0.0.5-40: a last "
                 "octet 0 to 255 after the '-')",
                 0);
    targets_case("10.0.0.5-99999999999999999999", 0, CERTO_EINVAL, NULL, 0);
    targets_case("10.0.0.0/33", 0, CERTO_EINVAL,
                 "targets: 10.0.0.0/33 is not an IPv4 range: the prefix is 0 to 32", 0);
    targets_case("10.0.0.0/99999999999999999999", 0, CERTO_EINVAL,
                 "targets: 10.0.0.0/99999999999999999999 has no prefix length after '/'", 0);
    targets_case("10.0.0.0/", 0, CERTO_EINVAL, "targets: 10.0.0.0/ has no prefix length after '/'",
                 0);
    targets_case("2001:db8::/48", 0, CERTO_EINVAL,
                 "targets: 2001:db8::/48 is not an IPv6 range we scan: the prefix is 64 to 128", 0);
    targets_case("10.0.0.x/24", 0, CERTO_EINVAL,
                 "targets: 10.0.0.x/24 is not an IPv4 range: 10.0.0.x is not an address", 0);
    targets_case("2001:db8::g", 0, CERTO_EINVAL, "targets: 2001:db8::g is not an IPv6 address", 0);
    targets_case("foo_bar", 0, CERTO_EINVAL,
                 "targets: foo_bar is not an address, a range or a host name", 0);
    targets_case("-foo.example", 0, CERTO_EINVAL, NULL, 0);
    targets_case("foo-.example", 0, CERTO_EINVAL, NULL, 0);
    targets_case("foo..example", 0, CERTO_EINVAL, NULL, 0);
    targets_case("foo.example.", 0, CERTO_EINVAL, NULL, 0);
    targets_case("123", 0, CERTO_EINVAL, NULL, 0);
    /* Labels of 63 characters pass, 64 do not; names of 253 characters pass, 254 not. */
    memset(name, 'a', 63);
    strcpy(name + 63, ".example");
    targets_case(name, 0, CERTO_OK, NULL, 1);
    memset(name, 'a', 64);
    strcpy(name + 64, ".example");
    targets_case(name, 0, CERTO_EINVAL, NULL, 0);
    for (int i = 0; i < 253; i++)
        name[i] = i % 2 == 0 ? 'a' : '.';
    name[253] = '\0';
    targets_case(name, 0, CERTO_OK, NULL, 1);
    name[253] = 'b';
    name[254] = '\0';
    targets_case(name, 0, CERTO_EINVAL, NULL, 0);
}

static void
test_net_scan__target_files(void **state)
{
    char *dir = t_mkdtemp();
    char path[512], spec[600], msg[800];
    FILE *f;
    (void)state;

    snprintf(path, sizeof(path), "%s/hosts.txt", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("# web servers\n10.0.0.1 10.0.0.2 # two\n\n  10.1.0.0/30,www.example.test\n"
          "#10.9.9.9\n",
          f);
    fclose(f);
    snprintf(spec, sizeof(spec), "@%s 192.168.0.1", path);
    targets_case(spec, 0, CERTO_OK, NULL, 8);

    /* A bad item names the file and its line. */
    f = fopen(path, "w");
    fputs("10.0.0.1\n# fine\nbad_item\n", f);
    fclose(f);
    snprintf(spec, sizeof(spec), "@%s", path);
    snprintf(msg, sizeof(msg), "targets: %s:3: bad_item is not an address, a range or a host name",
             path);
    targets_case(spec, 0, CERTO_EINVAL, msg, 0);

    /* Files do not nest. */
    f = fopen(path, "w");
    fputs("@/etc/hosts\n", f);
    fclose(f);
    snprintf(msg, sizeof(msg), "targets: %s:1: @/etc/hosts is a file in a file: files do not nest",
             path);
    targets_case(spec, 0, CERTO_EINVAL, msg, 0);

    /* Only comments. */
    f = fopen(path, "w");
    fputs("# nothing\n\n", f);
    fclose(f);
    snprintf(msg, sizeof(msg), "targets: %s lists no target", path);
    targets_case(spec, 0, CERTO_EINVAL, msg, 0);

    /* The ceiling counts the items of files too. */
    f = fopen(path, "w");
    fputs("10.0.0.0/24\n10.0.1.0/24\n", f);
    fclose(f);
    targets_case(spec, 511, CERTO_EINVAL, NULL, 0);
    targets_case(spec, 512, CERTO_OK, NULL, 512);

    snprintf(spec, sizeof(spec), "@%s/missing.txt", dir);
    snprintf(msg, sizeof(msg), "targets: cannot read %s/missing.txt: No such file or directory",
             dir);
    targets_case(spec, 0, CERTO_ENOTFOUND, msg, 0);
    targets_case("@", 0, CERTO_EINVAL, "targets: @ names no file after '@'", 0);
    t_rmdir(dir);
}

static void
ports_case(const char *spec, certo_rc want, const char *msg)
{
    struct certo_scan_ports p = {0};
    struct certo_err err = {0};
    certo_rc rc = certo_scan_ports_parse(&p, spec, &err);

    assert_int_equal(rc, want);
    if (msg != NULL)
        assert_string_equal(err.msg, msg);
    if (rc != CERTO_OK) {
        assert_null(p.v);
        assert_int_equal(p.n, 0);
    }
    certo_scan_ports_dispose(&p);
}

static void
test_net_scan__ports(void **state)
{
    struct certo_scan_ports p;
    struct certo_err err = {0};
    (void)state;

    assert_int_equal(certo_scan_ports_parse(&p, "443, 8443,443 20000-20002,8443,1,65535", &err),
                     CERTO_OK);
    uint16_t want[] = {443, 8443, 20000, 20001, 20002, 1, 65535};
    assert_int_equal(p.n, CERTO_ARRAY_LEN(want));
    assert_memory_equal(p.v, want, sizeof(want));
    certo_scan_ports_dispose(&p);
    assert_null(p.v);

    assert_int_equal(certo_scan_ports_parse(&p, "1-65535", &err), CERTO_OK);
    assert_int_equal(p.n, 65535);
    assert_int_equal(p.v[0], 1);
    assert_int_equal(p.v[65534], 65535);
    certo_scan_ports_dispose(&p);

    ports_case("0", CERTO_EINVAL, "ports: 0 is not a port (1-65535)");
    ports_case("70000", CERTO_EINVAL, "ports: 70000 is not a port (1-65535)");
    ports_case("65536", CERTO_EINVAL, "ports: 65536 is not a port (1-65535)");
    ports_case("443,0-10", CERTO_EINVAL, "ports: 0 is not a port (1-65535)");
    ports_case("99999999999999999999", CERTO_EINVAL,
               "ports: 99999999999999999999 is not a port (1-65535)");
    ports_case("90-80", CERTO_EINVAL, "ports: 90-80 is an empty range");
    ports_case("x1", CERTO_EINVAL, "ports: x1 is not a number");
    ports_case("+443", CERTO_EINVAL, "ports: +443 is not a number");
    ports_case("80-x", CERTO_EINVAL, "ports: x is not a number");
    ports_case("80-", CERTO_EINVAL, "ports: 80- is not a range (the form is 20000-20199)");
    ports_case("-80", CERTO_EINVAL, "ports: -80 is not a range (the form is 20000-20199)");
    ports_case("", CERTO_EINVAL, "ports: the spec is empty");
    ports_case(" , ", CERTO_EINVAL, "ports: the spec is empty");
    ports_case(NULL, CERTO_EINVAL, "ports: the spec is empty");
}

/* ---- servers ---- */

enum srv_kind { SRV_TLS, SRV_HTTP, SRV_BANNER, SRV_GARBAGE, SRV_HANGUP, SRV_SLOW_BANNER };

/* A listening socket on 127.0.0.1 with a free port. */
static int
listener(int *port)
{
    struct sockaddr_in a = {0};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;

    assert_true(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 256), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

/* Waits up to 'ms' for something to read, then reads it (what the client sent first). */
static void
drain(int fd, int ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    char buf[4096];

    if (poll(&p, 1, ms) == 1 && recv(fd, buf, sizeof(buf), 0) < 0)
        return;
}

static void
send_all(int fd, const void *p, size_t n)
{
    if (send(fd, p, n, MSG_NOSIGNAL) < 0)
        return;
}

static SSL_CTX *
server_ctx(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    char cert[1024], key[1024];

    snprintf(cert, sizeof(cert), "%s", t_fixture("fullchain-rsa2048.pem"));
    snprintf(key, sizeof(key), "%s", t_fixture("leaf-rsa2048.key"));
    if (ctx == NULL || SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
        _exit(3);
    return ctx;
}

/* Serves one kind of peer on 'lfd' in a child until killed. */
static pid_t
serve(enum srv_kind kind, int lfd)
{
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid > 0) {
        close(lfd);
        return pid;
    }
    /* Only our own listener: the parent's other sockets must close when it closes them. */
    for (int fd = 3; fd < 1024; fd++) {
        if (fd != lfd)
            close(fd);
    }
    int null = open("/dev/null", O_RDWR);
    signal(SIGPIPE, SIG_IGN);
    dup2(null, 1);
    dup2(null, 2);
    SSL_CTX *ctx = kind == SRV_TLS ? server_ctx() : NULL;
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        struct timeval tv = {2, 0};
        if (fd < 0)
            continue;
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        switch (kind) {
        case SRV_TLS: {
            SSL *ssl = SSL_new(ctx);
            SSL_set_fd(ssl, fd);
            if (SSL_accept(ssl) == 1)
                SSL_shutdown(ssl);
            SSL_free(ssl);
            ERR_clear_error();
            break;
        }
        case SRV_HTTP: {
            static const char r[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                                    "Connection: close\r\n\r\n";
            drain(fd, 1000);
            send_all(fd, r, sizeof(r) - 1);
            break;
        }
        case SRV_BANNER:
            send_all(fd, "SSH-2.0-OpenSSH_9.2\r\n", 21);
            drain(fd, 1000);
            break;
        case SRV_GARBAGE:
            drain(fd, 1000);
            send_all(fd, "\x00\x01\x02\xfe garbage", 12);
            break;
        case SRV_HANGUP:
            drain(fd, 1000);
            shutdown(fd, SHUT_RDWR);
            break;
        case SRV_SLOW_BANNER:
            drain(fd, 1000);
            usleep(300000);
            send_all(fd, "SSH-2.0-OpenSSH_9.2\r\n", 21);
            break;
        }
        close(fd);
    }
}

static void
stop(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* ---- results ---- */

struct got {
    char target[64], address[64], sni[64], detail[128], version[16], fp[96];
    uint16_t port;
    enum certo_scan_kind kind;
    int chain_len;
    int verify;
};

struct sink {
    struct got v[64];
    int n;
    int stop_after; /* 0: never */
    int progress;
    int stop_progress; /* stop at this progress call; 0: never */
    int slow_us;       /* on_result takes this long, to widen any overlap */
    /* Callbacks running now, and the most ever at once: the engine promises 1. Asserted
     * by the test's thread: a cmocka assertion on a worker thread could not fail cleanly. */
    atomic_int inside, most;
};

/* Entering a callback: counts it, remembers the most at once. */
static void
enter(struct sink *k)
{
    int now = atomic_fetch_add(&k->inside, 1) + 1;
    int most = atomic_load(&k->most);

    while (now > most && !atomic_compare_exchange_weak(&k->most, &most, now))
        continue;
}

static int
on_result(void *arg, const struct certo_scan_result *r)
{
    struct sink *k = arg;
    struct got *g;
    int stop;

    enter(k);
    if (k->slow_us > 0)
        usleep((useconds_t)k->slow_us);
    assert_true(k->n < (int)CERTO_ARRAY_LEN(k->v));
    g = &k->v[k->n++];
    memset(g, 0, sizeof(*g));
    snprintf(g->target, sizeof(g->target), "%s", r->target);
    snprintf(g->address, sizeof(g->address), "%s", r->address);
    snprintf(g->sni, sizeof(g->sni), "%s", r->sni != NULL ? r->sni : "");
    snprintf(g->detail, sizeof(g->detail), "%s", r->detail != NULL ? r->detail : "");
    snprintf(g->version, sizeof(g->version), "%s", r->version != NULL ? r->version : "");
    g->port = r->port;
    g->kind = r->kind;
    g->verify = r->verify;
    g->chain_len = r->chain != NULL ? sk_X509_num(r->chain) : 0;
    if (g->chain_len > 0 &&
        certo_cert_fingerprint(g->fp, sk_X509_value(r->chain, 0), NULL) != CERTO_OK)
        g->fp[0] = '\0';
    assert_true(r->elapsed_us >= 0);
    stop = k->stop_after != 0 && k->n >= k->stop_after;
    atomic_fetch_sub(&k->inside, 1);
    return stop;
}

static int
on_progress(void *arg, const struct certo_scan_stats *s, uint64_t total)
{
    struct sink *k = arg;
    int stop;

    enter(k);
    assert_true(s->probes <= total);
    assert_true(s->open + s->closed + s->silent <= s->probes);
    k->progress++;
    stop = k->stop_progress != 0 && k->progress >= k->stop_progress;
    atomic_fetch_sub(&k->inside, 1);
    return stop;
}

static const struct got *
find(const struct sink *k, uint16_t port, const char *sni)
{
    for (int i = 0; i < k->n; i++) {
        if (k->v[i].port == port && strcmp(k->v[i].sni, sni) == 0)
            return &k->v[i];
    }
    return NULL;
}

static int
got_cmp(const void *a, const void *b)
{
    const struct got *x = a, *y = b;
    if (x->port != y->port)
        return x->port < y->port ? -1 : 1;
    return strcmp(x->sni, y->sni);
}

static X509_STORE *
fixture_store(void)
{
    X509_STORE *st = X509_STORE_new();
    assert_int_equal(X509_STORE_load_file(st, t_fixture("ca.crt")), 1);
    return st;
}

static const char *
leaf_fp(void)
{
    static char fp[96];
    STACK_OF(X509) *certs = t_fixture_certs("leaf-rsa2048.crt");
    assert_int_equal(certo_cert_fingerprint(fp, sk_X509_value(certs, 0), NULL), CERTO_OK);
    sk_X509_pop_free(certs, X509_free);
    return fp;
}

/* Runs one scan of 'targets' x 'ports'. */
static certo_rc
scan(struct sink *k, const char *targets, const char *ports, struct certo_scan_opts *o,
     struct certo_scan_stats *st)
{
    struct certo_scan_targets *t = NULL;
    struct certo_scan_ports p;
    struct certo_err err = {0};
    certo_rc rc;

    assert_int_equal(certo_scan_targets_parse(&t, targets, 0, &err), CERTO_OK);
    assert_int_equal(certo_scan_ports_parse(&p, ports, &err), CERTO_OK);
    o->on_result = on_result;
    o->on_progress = on_progress;
    o->arg = k;
    rc = certo_scan_run(t, &p, o, st, &err);
    certo_scan_targets_free(t);
    certo_scan_ports_dispose(&p);
    return rc;
}

/* The counters of two runs are the same, and add up. */
static void
assert_same_stats(const struct certo_scan_stats *a, const struct certo_scan_stats *b)
{
    assert_int_equal(a->targets, b->targets);
    assert_int_equal(a->probes, b->probes);
    assert_int_equal(a->open, b->open);
    assert_int_equal(a->closed, b->closed);
    assert_int_equal(a->silent, b->silent);
    assert_int_equal(a->tls, b->tls);
    assert_int_equal(a->http, b->http);
    assert_int_equal(a->other, b->other);
    assert_int_equal(a->unresolved, b->unresolved);
    assert_int_equal(a->probes, a->open + a->closed + a->silent);
    assert_int_equal(b->probes, b->open + b->closed + b->silent);
}

/* Every kind of peer at once: TLS, HTTP, a banner, garbage, a hang-up, a listener that
 * never accepts and a closed port; one connection at a time, then 64 on 1, 2 and 3
 * threads (callbacks slowed down, so that overlapping ones would show). */
static void
test_net_scan__kinds(void **state)
{
    enum { RUNS = 4 };
    static const unsigned threads[RUNS] = {0, 1, 2, 3};
    int port[7], lfd[7];
    pid_t pid[5];
    char ports[128];
    struct sink k[RUNS] = {0};
    struct certo_scan_stats st[RUNS];
    certo_rc rc[RUNS];
    X509_STORE *store = fixture_store();
    (void)state;

    for (int i = 0; i < 7; i++)
        lfd[i] = listener(&port[i]);
    close(lfd[6]); /* closed: nothing listens there any more */
    for (int i = 0; i < 5; i++)
        pid[i] = serve((enum srv_kind)i, lfd[i]);
    snprintf(ports, sizeof(ports), "%d,%d,%d,%d,%d,%d,%d", port[0], port[1], port[2], port[3],
             port[4], port[5], port[6]);
    /* The same scan one connection at a time (whatever the threads: one), and 64 at a
     * time on 1, 2 and 3 threads. */
    for (int r = 0; r < RUNS; r++) {
        struct certo_scan_opts o = {.concurrency = r == 0 ? 1 : 64,
                                    .threads = threads[r],
                                    .timeout_ms = 300,
                                    .trust = store,
                                    .report_closed = true};
        k[r].slow_us = r >= 2 ? 2000 : 0;
        rc[r] = scan(&k[r], "127.0.0.1", ports, &o, &st[r]);
    }
    for (int i = 0; i < 5; i++)
        stop(pid[i]);
    close(lfd[5]);
    X509_STORE_free(store);

    for (int r = 0; r < RUNS; r++) {
        const struct got *g;
        assert_int_equal(rc[r], CERTO_OK);
        assert_int_equal(atomic_load(&k[r].most), 1);
        assert_same_stats(&st[r], &st[1]);
        assert_int_equal(k[r].n, 7);
        assert_int_equal(st[r].probes, 7);
        assert_int_equal(st[r].targets, 1);
        assert_int_equal(st[r].open, 6);
        assert_int_equal(st[r].closed, 1);
        assert_int_equal(st[r].tls, 1);
        assert_int_equal(st[r].http, 1);
        assert_int_equal(st[r].other, 4);
        assert_true(k[r].progress >= 1);

        g = find(&k[r], (uint16_t)port[0], "");
        assert_non_null(g);
        assert_int_equal(g->kind, CERTO_SCAN_TLS);
        assert_string_equal(g->target, "127.0.0.1");
        assert_string_equal(g->address, "127.0.0.1");
        assert_string_equal(g->version, "TLSv1.3");
        assert_int_equal(g->chain_len, 3);
        assert_string_equal(g->fp, leaf_fp());
        /* No name was sent: the chain is verified against the fixture CA only. */
        assert_int_equal(g->verify, X509_V_OK);

        g = find(&k[r], (uint16_t)port[1], "");
        assert_int_equal(g->kind, CERTO_SCAN_HTTP);
        assert_string_equal(g->detail, "HTTP/1.1 400 Bad Request");
        assert_int_equal(g->verify, -1);
        g = find(&k[r], (uint16_t)port[2], "");
        assert_int_equal(g->kind, CERTO_SCAN_OTHER);
        assert_string_equal(g->detail, "SSH-2.0-OpenSSH_9.2");
        g = find(&k[r], (uint16_t)port[3], "");
        assert_int_equal(g->kind, CERTO_SCAN_OTHER);
        assert_string_equal(g->detail, "binary answer: 00 01 02 fe 20 67 61 72 62 61 67 65");
        g = find(&k[r], (uint16_t)port[4], "");
        assert_int_equal(g->kind, CERTO_SCAN_OTHER);
        assert_non_null(strstr(g->detail, "without a word"));
        g = find(&k[r], (uint16_t)port[5], "");
        assert_int_equal(g->kind, CERTO_SCAN_OTHER);
        assert_string_equal(g->detail, "accepted and never answered");
        assert_true(g->verify == -1);
        g = find(&k[r], (uint16_t)port[6], "");
        assert_int_equal(g->kind, CERTO_SCAN_CLOSED);
        assert_string_equal(g->detail, "refused");
    }
    /* Same findings in every run, whatever the order. */
    for (int r = 0; r < RUNS; r++)
        qsort(k[r].v, (size_t)k[r].n, sizeof(k[r].v[0]), got_cmp);
    for (int r = 1; r < RUNS; r++) {
        assert_int_equal(k[r].n, k[0].n);
        for (int i = 0; i < k[0].n; i++) {
            assert_int_equal(k[0].v[i].port, k[r].v[i].port);
            assert_int_equal(k[0].v[i].kind, k[r].v[i].kind);
            assert_string_equal(k[0].v[i].target, k[r].v[i].target);
            assert_string_equal(k[0].v[i].sni, k[r].v[i].sni);
            assert_string_equal(k[0].v[i].detail, k[r].v[i].detail);
            assert_string_equal(k[0].v[i].version, k[r].v[i].version);
            assert_string_equal(k[0].v[i].fp, k[r].v[i].fp);
            assert_int_equal(k[0].v[i].chain_len, k[r].v[i].chain_len);
            assert_int_equal(k[0].v[i].verify, k[r].v[i].verify);
        }
    }
}

static int
got_target_cmp(const void *a, const void *b)
{
    const struct got *x = a, *y = b;
    int c = strcmp(x->target, y->target);
    return c != 0 ? c : (x->port > y->port) - (x->port < y->port);
}

/* The workers share the probes out: each target x port exactly once, also past a name
 * that does not resolve and with slots that do not divide evenly; the counts add up to
 * those of one thread. */
static void
test_net_scan__threads_share(void **state)
{
    int port[3], lfd[3];
    char ports[64];
    struct sink k[3] = {0};
    struct certo_scan_stats st[3];
    certo_rc rc[3];
    static const unsigned threads[3] = {1, 2, 3};
    (void)state;

    for (int i = 0; i < 3; i++)
        lfd[i] = listener(&port[i]);
    for (int i = 0; i < 3; i++)
        close(lfd[i]);
    snprintf(ports, sizeof(ports), "%d,%d,%d", port[0], port[1], port[2]);
    for (int r = 0; r < 3; r++) {
        struct certo_scan_opts o = {
            .concurrency = 5, .threads = threads[r], .timeout_ms = 2000, .report_closed = true};
        k[r].slow_us = 200;
        rc[r] = scan(&k[r], "127.0.0.1-9 nothing.invalid 127.0.0.10-20", ports, &o, &st[r]);
    }
    for (int r = 0; r < 3; r++) {
        assert_int_equal(rc[r], CERTO_OK);
        assert_int_equal(atomic_load(&k[r].most), 1);
        assert_int_equal(st[r].unresolved, 1);
        assert_int_equal(st[r].targets, 20);
        assert_int_equal(st[r].probes, 60);
        assert_int_equal(st[r].closed, 60);
        assert_same_stats(&st[r], &st[0]);
        /* One for the name, then every address x port once. */
        assert_int_equal(k[r].n, 61);
        assert_string_equal(k[r].v[0].target, "nothing.invalid");
        qsort(k[r].v + 1, 60, sizeof(k[r].v[0]), got_target_cmp);
        /* Sorted, strictly increasing, and each one of 127.0.0.1-20 x the 3 ports: every
         * probe exactly once. */
        for (int i = 1; i < 61; i++) {
            unsigned octet = 0;
            const struct got *g = &k[r].v[i];
            assert_int_equal(g->kind, CERTO_SCAN_CLOSED);
            assert_int_equal(sscanf(g->target, "127.0.0.%u", &octet), 1);
            assert_true(octet >= 1 && octet <= 20);
            assert_true(g->port == port[0] || g->port == port[1] || g->port == port[2]);
            if (i > 1)
                assert_true(got_target_cmp(&k[r].v[i - 1], g) < 0);
        }
    }
}

/* Extra SNI names: one more TLS result each, verified for that name; an empty store
 * verifies nothing; a name target is the default SNI. */
static void
test_net_scan__sni_and_trust(void **state)
{
    int port, lfd = listener(&port);
    pid_t pid = serve(SRV_TLS, lfd);
    const char *names[] = {"www.example.test", "other.invalid", NULL};
    char ports[16];
    struct sink k1 = {0}, k2 = {0}, k3 = {0};
    struct certo_scan_stats st1, st2, st3;
    X509_STORE *store = fixture_store(), *empty = X509_STORE_new();
    certo_rc rc1, rc2, rc3;
    (void)state;

    snprintf(ports, sizeof(ports), "%d", port);
    struct certo_scan_opts o1 = {.timeout_ms = 2000, .trust = store, .sni = names};
    rc1 = scan(&k1, "127.0.0.1", ports, &o1, &st1);
    struct certo_scan_opts o2 = {.timeout_ms = 2000, .trust = empty};
    rc2 = scan(&k2, "127.0.0.1", ports, &o2, &st2);
    /* "localhost" is sent as the SNI and the leaf does not name it; the extra name
     * equal to the target's own is not sent twice. */
    const char *same[] = {"LOCALHOST", "example.test", NULL};
    struct certo_scan_opts o3 = {.timeout_ms = 2000, .trust = store, .sni = same};
    rc3 = scan(&k3, "localhost", ports, &o3, &st3);
    stop(pid);
    X509_STORE_free(store);
    X509_STORE_free(empty);

    assert_int_equal(rc1, CERTO_OK);
    assert_int_equal(k1.n, 3);
    assert_int_equal(st1.probes, 1);
    assert_int_equal(st1.tls, 3);
    assert_int_equal(find(&k1, (uint16_t)port, "")->verify, X509_V_OK);
    const struct got *g = find(&k1, (uint16_t)port, "www.example.test");
    assert_non_null(g);
    assert_int_equal(g->kind, CERTO_SCAN_TLS);
    assert_int_equal(g->verify, X509_V_OK);
    assert_string_equal(g->fp, leaf_fp());
    g = find(&k1, (uint16_t)port, "other.invalid");
    assert_non_null(g);
    assert_int_equal(g->kind, CERTO_SCAN_TLS);
    assert_int_equal(g->verify, X509_V_ERR_HOSTNAME_MISMATCH);

    assert_int_equal(rc2, CERTO_OK);
    assert_int_equal(k2.n, 1);
    assert_int_equal(k2.v[0].kind, CERTO_SCAN_TLS);
    assert_int_not_equal(k2.v[0].verify, X509_V_OK);
    assert_int_not_equal(k2.v[0].verify, -1);

    assert_int_equal(rc3, CERTO_OK);
    assert_int_equal(k3.n, 2);
    g = find(&k3, (uint16_t)port, "localhost");
    assert_non_null(g);
    assert_string_equal(g->target, "localhost");
    assert_string_equal(g->address, "127.0.0.1");
    assert_int_equal(g->verify, X509_V_ERR_HOSTNAME_MISMATCH);
    g = find(&k3, (uint16_t)port, "example.test");
    assert_non_null(g);
    assert_int_equal(g->verify, X509_V_OK);
}

/* on_result returning non-zero stops the scan: CERTO_ECONFLICT, nothing more reported;
 * on one thread and on two. */
static void
test_net_scan__stop(void **state)
{
    int port, lfd = listener(&port);
    char ports[32];
    (void)state;

    close(lfd);
    snprintf(ports, sizeof(ports), "%d", port);
    for (unsigned threads = 1; threads <= 2; threads++) {
        struct sink k = {.stop_after = 1};
        struct certo_scan_stats st;
        struct certo_scan_opts o = {
            .concurrency = 4, .threads = threads, .timeout_ms = 500, .report_closed = true};
        certo_rc rc = scan(&k, "127.0.0.1-200", ports, &o, &st);
        assert_int_equal(rc, CERTO_ECONFLICT);
        assert_int_equal(k.n, 1);
        assert_int_equal(atomic_load(&k.most), 1);
        assert_true(st.probes < 200);
        assert_true(st.open + st.closed + st.silent <= st.probes);
    }
}

/* With two threads, a stop asked by one worker's result ends the other worker at once,
 * though it waits on a listener that never answers (a 10 s deadline). */
static void
test_net_scan__stop_threads(void **state)
{
    int port[2], lfd[2];
    struct sink k = {.stop_after = 1};
    struct certo_scan_stats st;
    char ports[32];
    int64_t t0;
    pid_t pid;
    certo_rc rc;
    (void)state;

    for (int i = 0; i < 2; i++)
        lfd[i] = listener(&port[i]);
    pid = serve(SRV_SLOW_BANNER, lfd[1]);
    /* Worker 0 takes probe 0 (the listener that never answers), worker 1 probe 1 (a
     * banner after 300 ms: by then worker 0 has long been connected and waiting). */
    snprintf(ports, sizeof(ports), "%d,%d", port[0], port[1]);
    struct certo_scan_opts o = {.concurrency = 2, .threads = 2, .timeout_ms = 10000};
    t0 = certo_clock_mono_ms();
    rc = scan(&k, "127.0.0.1", ports, &o, &st);
    int64_t took = certo_clock_mono_ms() - t0;
    stop(pid);
    close(lfd[0]);
    assert_true(took < 5000);
    assert_int_equal(rc, CERTO_ECONFLICT);
    assert_int_equal(k.n, 1);
    assert_int_equal(k.v[0].port, port[1]);
    assert_string_equal(k.v[0].detail, "SSH-2.0-OpenSSH_9.2");
    assert_int_equal(st.probes, 2);
    assert_int_equal(st.open, 2);
    assert_int_equal(st.other, 1);
}

/* on_progress returning non-zero stops a scan that has nothing to report (the CLI's
 * Ctrl-C): listeners that never answer, with a 10 s deadline, are left at once; on one
 * thread and on two (each waiting on one of them). */
static void
test_net_scan__stop_progress(void **state)
{
    int port[2], lfd[2];
    char ports[32];
    (void)state;

    for (int i = 0; i < 2; i++)
        lfd[i] = listener(&port[i]);
    snprintf(ports, sizeof(ports), "%d,%d", port[0], port[1]);
    for (unsigned threads = 1; threads <= 2; threads++) {
        struct sink k = {.stop_progress = 2};
        struct certo_scan_stats st;
        int64_t t0 = certo_clock_mono_ms();
        struct certo_scan_opts o = {.concurrency = 4, .threads = threads, .timeout_ms = 10000};
        certo_rc rc = scan(&k, "127.0.0.1", ports, &o, &st);
        assert_int_equal(rc, CERTO_ECONFLICT);
        assert_int_equal(k.n, 0);
        assert_true(k.progress >= 2);
        assert_int_equal(atomic_load(&k.most), 1);
        /* Stopped by the second tick, not by the deadline. */
        assert_true(certo_clock_mono_ms() - t0 < 5000);
        assert_int_equal(st.probes, 2);
        assert_int_equal(st.open, 2);
    }
    for (int i = 0; i < 2; i++)
        close(lfd[i]);
}

/* Closed ports are counted but not reported unless asked; names that do not resolve are
 * counted and skipped; a rate limit spaces the connections out. */
static void
test_net_scan__closed_rate_unresolved(void **state)
{
    int port, lfd = listener(&port);
    struct sink k1 = {0}, k2 = {0};
    struct certo_scan_stats st1, st2;
    char ports[32];
    certo_rc rc1, rc2;
    (void)state;

    close(lfd);
    snprintf(ports, sizeof(ports), "%d", port);
    struct certo_scan_opts o1 = {.timeout_ms = 500, .rate = 20};
    rc1 = scan(&k1, "127.0.0.1-10", ports, &o1, &st1);
    struct certo_scan_opts o2 = {.timeout_ms = 500, .report_closed = true};
    rc2 = scan(&k2, "nothing.invalid 127.0.0.1", ports, &o2, &st2);

    assert_int_equal(rc1, CERTO_OK);
    assert_int_equal(k1.n, 0);
    assert_int_equal(st1.probes, 10);
    assert_int_equal(st1.closed, 10);
    /* 20 per second: the 10th starts no sooner than ~400 ms after the first. */
    assert_true(st1.elapsed_ms >= 350);

    assert_int_equal(rc2, CERTO_OK);
    assert_int_equal(st2.unresolved, 1);
    assert_int_equal(st2.probes, 1);
    assert_int_equal(k2.n, 2);
    assert_string_equal(k2.v[0].target, "nothing.invalid");
    assert_int_equal(k2.v[0].kind, CERTO_SCAN_CLOSED);
    assert_string_equal(k2.v[0].detail, "does not resolve");
    assert_int_equal(k2.v[1].kind, CERTO_SCAN_CLOSED);
}

static void
test_net_scan__bad_sni(void **state)
{
    struct certo_scan_targets *t = NULL;
    struct certo_scan_ports p;
    struct certo_scan_stats st;
    struct certo_err err = {0};
    const char *names[] = {"ok.example", "not a name", NULL};
    struct certo_scan_opts o = {.sni = names};
    (void)state;

    assert_int_equal(certo_scan_targets_parse(&t, "127.0.0.1", 0, &err), CERTO_OK);
    assert_int_equal(certo_scan_ports_parse(&p, "1", &err), CERTO_OK);
    assert_int_equal(certo_scan_run(t, &p, &o, &st, &err), CERTO_EINVAL);
    assert_string_equal(err.msg, "sni: not a name is not a host name");
    assert_int_equal(st.probes, 0);
    certo_scan_targets_free(t);
    certo_scan_ports_dispose(&p);
    assert_true(certo_scan_valid_name("www.example.test"));
    assert_true(certo_scan_valid_name("localhost"));
    assert_false(certo_scan_valid_name("10.0.0.1"));
    assert_false(certo_scan_valid_name("a_b.example"));
    assert_false(certo_scan_valid_name(""));
    assert_false(certo_scan_valid_name(NULL));
    assert_string_equal(certo_scan_kind_name(CERTO_SCAN_SILENT), "silent");
    assert_string_equal(certo_scan_kind_name(CERTO_SCAN_TLS), "tls");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_net_scan__targets),
        cmocka_unit_test(test_net_scan__target_files),
        cmocka_unit_test(test_net_scan__ports),
        cmocka_unit_test(test_net_scan__kinds),
        cmocka_unit_test(test_net_scan__sni_and_trust),
        cmocka_unit_test(test_net_scan__threads_share),
        cmocka_unit_test(test_net_scan__stop),
        cmocka_unit_test(test_net_scan__stop_threads),
        cmocka_unit_test(test_net_scan__stop_progress),
        cmocka_unit_test(test_net_scan__closed_rate_unresolved),
        cmocka_unit_test(test_net_scan__bad_sni),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
