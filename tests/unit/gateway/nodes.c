/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of src/gateway/nodes.c: discovery of an nginx endpoint whose listeners are
 * served by a small TLS server in this process (chains that are complete, leaf only, out
 * of order, for another name; a listener that closes at once, one that never answers, a
 * plain one, a closed port, one behind the PROXY protocol), what is stored and read back,
 * the SSL column and drift on a PKCS#12 endpoint (an install, then the entry replaced
 * without the gateway), an endpoint never discovered, a type that cannot list nodes, and
 * certo_nodes_ssl_id. The real servers are driven by tests/integration/63_nodes.sh.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "certo/bundle.h"
#include "certo/cert.h"
#include "certo/file.h"
#include "certo/install.h"
#include "certo/keystore.h"
#include "certo/nodes.h"
#include "certo/registry.h"
#include "testutil.h"

static const struct certo_gw_host linux_host = {false, false};

/* ---- a TLS server on loopback ---- */

enum mode {
    M_TLS = 0,   /* handshake with 'ctx' */
    M_CLOSE = 1, /* accept and close: no handshake */
    M_PLAIN = 2, /* accept and close: a plain listener */
    M_MUTE = 3,  /* listen, never accept: the handshake never starts */
};

struct listener {
    int fd;
    int port;
    enum mode mode;
    SSL_CTX *ctx; /* owned; M_TLS */
};

struct server {
    struct listener l[8];
    size_t n;
    atomic_bool stop;
    pthread_t tid;
};

static int
listen_any(int *port)
{
    struct sockaddr_in a = {0};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 16), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

/* A TLS listener serving the key of fixture 'key' and the certificates of 'certs'. */
static void
add_tls(struct server *s, const char *key, const char *const *certs)
{
    struct listener *l = &s->l[s->n++];
    EVP_PKEY *k = t_fixture_key(key);

    l->fd = listen_any(&l->port);
    l->mode = M_TLS;
    l->ctx = SSL_CTX_new(TLS_server_method());
    assert_non_null(l->ctx);
    for (size_t i = 0; certs[i] != NULL; i++) {
        STACK_OF(X509) *c = t_fixture_certs(certs[i]);
        X509 *x = sk_X509_value(c, 0);
        if (i == 0) {
            assert_int_equal(SSL_CTX_use_certificate(l->ctx, x), 1);
        } else {
            X509_up_ref(x);
            assert_int_equal(SSL_CTX_add_extra_chain_cert(l->ctx, x), 1);
        }
        certo_certs_free(c);
    }
    assert_int_equal(SSL_CTX_use_PrivateKey(l->ctx, k), 1);
    EVP_PKEY_free(k);
}

static void
add_other(struct server *s, enum mode m)
{
    struct listener *l = &s->l[s->n++];
    l->fd = listen_any(&l->port);
    l->mode = m;
}

static void *
serve(void *arg)
{
    struct server *s = arg;
    struct pollfd p[8];
    size_t idx[8], n = 0;
    sigset_t pipe_set;

    /* A client that hangs up first must not kill the test with SIGPIPE (a signal this
     * thread raises stays with it and goes when it ends). */
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);

    for (size_t i = 0; i < s->n; i++) {
        if (s->l[i].mode == M_MUTE)
            continue;
        p[n].fd = s->l[i].fd;
        p[n].events = POLLIN;
        idx[n++] = i;
    }
    while (!atomic_load(&s->stop)) {
        if (poll(p, n, 50) <= 0)
            continue;
        for (size_t k = 0; k < n; k++) {
            struct listener *l = &s->l[idx[k]];
            struct timeval tv = {2, 0};
            int c;
            if ((p[k].revents & POLLIN) == 0)
                continue;
            c = accept(l->fd, NULL, NULL);
            if (c < 0)
                continue;
            if (l->mode == M_TLS) {
                SSL *ssl = SSL_new(l->ctx);
                setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
                SSL_set_fd(ssl, c);
                if (SSL_accept(ssl) == 1)
                    SSL_shutdown(ssl);
                SSL_free(ssl);
            }
            close(c);
        }
    }
    return NULL;
}

static void
server_start(struct server *s)
{
    atomic_init(&s->stop, false);
    assert_int_equal(pthread_create(&s->tid, NULL, serve, s), 0);
}

static void
server_stop(struct server *s)
{
    atomic_store(&s->stop, true);
    pthread_join(s->tid, NULL);
    for (size_t i = 0; i < s->n; i++) {
        close(s->l[i].fd);
        SSL_CTX_free(s->l[i].ctx);
    }
}

/* ---- the gateway ---- */

static struct certo_registry *
open_reg(const char *dir)
{
    struct certo_registry *reg = NULL;
    struct certo_err err = {0};
    assert_int_equal(certo_registry_open(&reg, dir, &err), CERTO_OK);
    return reg;
}

/* A local endpoint of 'type' with option 'f' = 'v' (and a store password when 'pw'). */
static void
add_local(struct certo_registry *reg, struct certo_endpoint *ep, enum certo_ep_type type,
          const char *name, enum certo_ep_field f, const char *v, const char *pw)
{
    struct certo_ep_secrets sec = {0};
    struct certo_err err = {0};

    memset(ep, 0, sizeof(*ep));
    ep->type = type;
    certo_endpoint_set(ep, CERTO_F_NAME, name);
    certo_endpoint_set(ep, CERTO_F_CONNECTION_TYPE, "local");
    certo_endpoint_set(ep, f, v);
    if (pw != NULL)
        sec.s[CERTO_F_STORE_PASSWORD] = t_secret(pw);
    if (certo_endpoint_validate(ep, certo_ep_secrets_mask(&sec), &linux_host, &err) != CERTO_OK ||
        certo_registry_add(reg, ep, &sec, &err) != CERTO_OK)
        fail_msg("add %s: %s", name, err.msg);
    certo_ep_secrets_dispose(&sec);
}

static const struct certo_node *
node(const struct certo_nodes *set, size_t i)
{
    assert_true(i < set->n);
    assert_int_equal(set->v[i].seq, (int)i + 1);
    return &set->v[i];
}

static void
eq(const char *got, const char *want)
{
    if (want == NULL) {
        if (got != NULL)
            fail_msg("got '%s', want NULL", got);
        return;
    }
    if (got == NULL || strcmp(got, want) != 0)
        fail_msg("got '%s', want '%s'", got != NULL ? got : "NULL", want);
}

static char *
fixture_fp(const char *name)
{
    STACK_OF(X509) *c = t_fixture_certs(name);
    char fp[96];
    struct certo_err err = {0};
    assert_int_equal(certo_cert_fingerprint(fp, sk_X509_value(c, 0), &err), CERTO_OK);
    certo_certs_free(c);
    return certo_strdup(fp);
}

static void
test_gateway_nodes__ssl_id(void **state)
{
    char id[CERTO_SSL_ID_LEN + 1];
    (void)state;
    certo_nodes_ssl_id(id, "29:A8:00:6C:95:6C:70:99:B4:C7:61:B6:6C:4A:11:E7:4D");
    assert_string_equal(id, "29a8006c956c7099");
    certo_nodes_ssl_id(id, "29a8006c956c7099ffff");
    assert_string_equal(id, "29a8006c956c7099");
    certo_nodes_ssl_id(id, "29:A8");
    assert_string_equal(id, "");
    certo_nodes_ssl_id(id, NULL);
    assert_string_equal(id, "");
    assert_string_equal(certo_node_state_name(CERTO_NODE_UNREACHABLE), "unreachable");
    assert_string_equal(certo_node_state_name(CERTO_NODE_STORED), "stored");
}

/* Every listener kind of an nginx endpoint, probed for real. */
static void
test_gateway_nodes__listeners(void **state)
{
    char *dir = t_mkdtemp();
    struct certo_registry *reg = open_reg(dir);
    struct certo_endpoint ep;
    struct certo_nodes set = {0}, back = {0};
    struct certo_nodes_opts o = {500};
    struct {
        int good, leaf, order, close, plain, mute, dead, proxy;
    } p;
    struct server s = {0};
    struct certo_err err = {0};
    char *conf, *path, *reason, *fp_good = fixture_fp("leaf-ec256.crt");
    int dead_fd;
    (void)state;

    add_tls(&s, "leaf-ec256.key", (const char *const[]){"leaf-ec256.crt", "int.crt", NULL});
    add_tls(&s, "leaf-ec256.key", (const char *const[]){"leaf-ec256.crt", NULL});
    add_tls(&s, "leaf-ec256.key", (const char *const[]){"leaf-ec256.crt", "ca.crt", NULL});
    add_other(&s, M_CLOSE);
    add_other(&s, M_PLAIN);
    add_other(&s, M_MUTE);
    p.good = s.l[0].port;
    p.leaf = s.l[1].port;
    p.order = s.l[2].port;
    p.close = s.l[3].port;
    p.plain = s.l[4].port;
    p.mute = s.l[5].port;
    dead_fd = listen_any(&p.dead);
    close(dead_fd); /* nobody listens there any more */
    p.proxy = p.dead;
    server_start(&s);

    conf =
        certo_asprintf("http {\n"
                       "  server { listen 127.0.0.1:%d ssl; server_name ec256.example.test; }\n"
                       "  server { listen 127.0.0.1:%d ssl; server_name wrong.example.test; }\n"
                       "  server { listen 127.0.0.1:%d ssl; server_name ec256.example.test; }\n"
                       "  server { listen 127.0.0.1:%d ssl; server_name ec256.example.test; }\n"
                       "  server { listen 127.0.0.1:%d ssl; server_name close.test; }\n"
                       "  server { listen 127.0.0.1:%d; server_name plain.test; }\n"
                       "  server { listen 127.0.0.1:%d ssl; server_name mute.test; }\n"
                       "  server { listen 127.0.0.1:%d ssl; server_name dead.test; }\n"
                       "  server { listen 127.0.0.1:%d ssl proxy_protocol; server_name p.test; }\n"
                       "}\n",
                       p.good, p.good, p.leaf, p.order, p.close, p.plain, p.mute, p.dead, p.proxy);
    path = certo_asprintf("%s/nginx.conf", dir);
    assert_int_equal(certo_file_replace(path, conf, strlen(conf), 0644), CERTO_OK);
    add_local(reg, &ep, CERTO_EP_NGINX, "web", CERTO_F_NGINX_CONFIG_PATH, path, NULL);

    /* Never discovered: nothing stored, and that is no error. */
    assert_int_equal(certo_nodes_load(&set, reg, &ep, &err), CERTO_OK);
    assert_int_equal(set.discovered_at, 0);
    assert_int_equal(set.n, 0);

    if (certo_nodes_discover(&set, reg, &ep, &o, &err) != CERTO_OK)
        fail_msg("discover: %s", err.msg);
    server_stop(&s);
    assert_int_equal(set.n, 9);
    assert_true(set.discovered_at > 0);
    assert_int_equal(set.recovery, CERTO_RECOVERY_NONE);
    const struct certo_node *n = node(&set, 0);
    eq(n->name, "ec256.example.test");
    eq(n->vendor, "nginx");
    eq(n->protocol, "HTTPS");
    eq(n->address, "127.0.0.1");
    assert_int_equal(n->port, p.good);
    eq(n->sni, "ec256.example.test");
    assert_int_equal(n->state, CERTO_NODE_SERVING);
    eq(n->reason, NULL);
    eq(n->fingerprint, fp_good);
    eq(n->subject, "CN=ec256.example.test");
    eq(n->issuer, "CN=Certo Test Intermediate CA");
    assert_int_equal(n->not_after, 2082758400); /* 2036-01-01 */
    eq(n->problems, NULL);
    eq(n->ssl, "External");
    assert_false(n->drift);
    eq(n->installed, NULL);
    eq(node(&set, 1)->problems, "name mismatch");
    eq(node(&set, 2)->problems, "incomplete chain");
    eq(node(&set, 3)->problems, "chain out of order");
    n = node(&set, 4);
    assert_int_equal(n->state, CERTO_NODE_ERROR);
    reason = certo_asprintf("TLS handshake with 127.0.0.1:%d failed", p.close);
    assert_non_null(n->reason);
    assert_memory_equal(n->reason, reason, strlen(reason));
    certo_free(reason);
    eq(n->fingerprint, NULL);
    eq(n->ssl, NULL);
    n = node(&set, 5);
    eq(n->protocol, "HTTP");
    assert_int_equal(n->state, CERTO_NODE_SERVING);
    eq(n->fingerprint, NULL);
    eq(n->ssl, NULL);
    n = node(&set, 6);
    assert_int_equal(n->state, CERTO_NODE_ERROR);
    reason = certo_asprintf("TLS handshake with 127.0.0.1:%d timed out", p.mute);
    eq(n->reason, reason);
    certo_free(reason);
    n = node(&set, 7);
    assert_int_equal(n->state, CERTO_NODE_UNREACHABLE);
    eq(n->reason, "Connection refused");
    n = node(&set, 8);
    assert_int_equal(n->state, CERTO_NODE_ERROR);
    eq(n->reason, "not probed: the listener expects the PROXY protocol");

    /* What was stored is what discovery returned. */
    assert_int_equal(certo_nodes_load(&back, reg, &ep, &err), CERTO_OK);
    assert_int_equal(back.n, set.n);
    assert_int_equal(back.discovered_at, set.discovered_at);
    for (size_t i = 0; i < set.n; i++) {
        const struct certo_node *a = &set.v[i], *b = &back.v[i];
        eq(b->name, a->name);
        eq(b->alias, a->alias);
        eq(b->vendor, a->vendor);
        eq(b->protocol, a->protocol);
        eq(b->address, a->address);
        assert_int_equal(b->port, a->port);
        eq(b->sni, a->sni);
        eq(b->source, a->source);
        assert_int_equal(b->state, a->state);
        eq(b->reason, a->reason);
        eq(b->fingerprint, a->fingerprint);
        eq(b->subject, a->subject);
        eq(b->issuer, a->issuer);
        assert_int_equal(b->not_after, a->not_after);
        eq(b->problems, a->problems);
        eq(b->ssl, a->ssl);
        assert_int_equal(b->drift, a->drift);
        eq(b->installed, a->installed);
        assert_int_equal(b->discovered_at, a->discovered_at);
    }
    certo_nodes_dispose(&back);
    certo_nodes_dispose(&set);
    assert_null(set.v);

    /* A configuration that no longer reads keeps the nodes stored before. */
    assert_int_equal(certo_file_replace(path, "http {", 6, 0644), CERTO_OK);
    assert_int_equal(certo_nodes_discover(&set, reg, &ep, &o, &err), CERTO_EPARSE);
    certo_err_clear(&err);
    assert_int_equal(certo_nodes_load(&back, reg, &ep, &err), CERTO_OK);
    assert_int_equal(back.n, 9);
    certo_nodes_dispose(&back);

    certo_endpoint_dispose(&ep);
    certo_registry_close(reg);
    certo_free(conf);
    certo_free(path);
    certo_free(fp_good);
    t_rmdir(dir);
}

/* The SSL column and drift on a keystore: an install, then the entry replaced. */
static void
test_gateway_nodes__drift(void **state)
{
    char *dir = t_mkdtemp();
    struct certo_registry *reg = open_reg(dir);
    struct certo_endpoint ep;
    struct certo_nodes set = {0};
    struct certo_bundle_src src = {0};
    struct certo_bundle *b = NULL;
    struct certo_install_opts io = {"site", false, 0};
    struct certo_op_result r;
    struct certo_keystore *ks = NULL;
    struct certo_secret *pw = t_secret("changeit");
    struct certo_buf data;
    struct certo_err err = {0};
    char *path = certo_asprintf("%s/ks.p12", dir);
    char *fp_rsa = fixture_fp("leaf-rsa3072.crt"), *fp_ec = fixture_fp("leaf-ec256.crt");
    char id_rsa[CERTO_SSL_ID_LEN + 1];
    (void)state;

    t_read_fixture(&data, "keytool.p12");
    assert_int_equal(certo_file_replace(path, data.data, data.len, 0600), CERTO_OK);
    certo_buf_dispose(&data);
    add_local(reg, &ep, CERTO_EP_P12, "ks", CERTO_F_PATH, path, "changeit");

    /* Before any install: no drift, every certificate External. */
    assert_int_equal(certo_nodes_discover(&set, reg, &ep, NULL, &err), CERTO_OK);
    assert_int_equal(set.n, 3);
    for (size_t i = 0; i < set.n; i++) {
        assert_int_equal(set.v[i].state, CERTO_NODE_STORED);
        eq(set.v[i].vendor, "PKCS#12");
        eq(set.v[i].protocol, NULL);
        eq(set.v[i].ssl, "External");
        eq(set.v[i].installed, NULL);
        assert_false(set.v[i].drift);
    }
    eq(set.v[1].problems, "self-signed"); /* keytool's generated key entry */
    eq(set.v[2].problems, NULL);          /* a trusted root is self-signed by nature */
    certo_nodes_dispose(&set);

    src.cert_path = t_fixture("leaf-rsa3072.crt");
    char *cert = certo_strdup(src.cert_path);
    src.cert_path = cert;
    char *key = certo_strdup(t_fixture("leaf-rsa3072.key"));
    src.key_path = key;
    char *chain = certo_strdup(t_fixture("chain.pem"));
    src.chain_path = chain;
    src.key_required = true;
    assert_int_equal(certo_bundle_load(&b, &src, &err), CERTO_OK);
    if (certo_install(reg, &ep, b, &io, &r, &err) != CERTO_OK)
        fail_msg("install: %s", err.msg);
    certo_op_result_dispose(&r);
    certo_nodes_ssl_id(id_rsa, fp_rsa);

    assert_int_equal(certo_nodes_discover(&set, reg, &ep, NULL, &err), CERTO_OK);
    assert_int_equal(set.n, 4);
    eq(set.v[3].name, "site");
    eq(set.v[3].ssl, id_rsa);
    eq(set.v[3].installed, fp_rsa);
    assert_false(set.v[3].drift);
    eq(set.v[0].installed, NULL); /* another entry: not what the install wrote */
    eq(set.v[0].ssl, "External");
    certo_nodes_dispose(&set);

    /* The entry replaced without the gateway. */
    assert_int_equal(certo_keystore_load(&ks, path, CERTO_KS_PKCS12, pw, &err), CERTO_OK);
    EVP_PKEY *k = t_fixture_key("leaf-ec256.key");
    STACK_OF(X509) *c = t_fixture_certs("leaf-ec256.crt");
    assert_int_equal(certo_keystore_put_key(ks, "site", k, c, 0, &err), CERTO_OK);
    assert_int_equal(certo_keystore_save(ks, path, pw, &err), CERTO_OK);
    EVP_PKEY_free(k);
    certo_certs_free(c);
    certo_keystore_free(ks);
    assert_int_equal(certo_nodes_discover(&set, reg, &ep, NULL, &err), CERTO_OK);
    assert_int_equal(set.n, 4);
    eq(set.v[3].fingerprint, fp_ec);
    eq(set.v[3].ssl, "External");
    eq(set.v[3].installed, fp_rsa);
    assert_true(set.v[3].drift);
    for (size_t i = 0; i < 3; i++)
        assert_false(set.v[i].drift);
    certo_nodes_dispose(&set);

    certo_bundle_free(b);
    certo_free(cert);
    certo_free(key);
    certo_free(chain);
    certo_secret_free(pw);
    certo_endpoint_dispose(&ep);
    certo_registry_close(reg);
    certo_free(path);
    certo_free(fp_rsa);
    certo_free(fp_ec);
    t_rmdir(dir);
}

static void
test_gateway_nodes__unsupported(void **state)
{
    char *dir = t_mkdtemp();
    struct certo_registry *reg = open_reg(dir);
    struct certo_endpoint ep;
    struct certo_ep_secrets sec = {0};
    struct certo_nodes set = {0};
    struct certo_err err = {0};
    (void)state;

    memset(&ep, 0, sizeof(ep));
    ep.type = CERTO_EP_F5;
    certo_endpoint_set(&ep, CERTO_F_NAME, "lb");
    certo_endpoint_set(&ep, CERTO_F_CONNECTION_TYPE, "rest");
    certo_endpoint_set(&ep, CERTO_F_HOST, "127.0.0.1");
    certo_endpoint_set(&ep, CERTO_F_USER, "admin");
    sec.s[CERTO_F_PASSWORD] = t_secret("x");
    assert_int_equal(certo_endpoint_validate(&ep, certo_ep_secrets_mask(&sec), &linux_host, &err),
                     CERTO_OK);
    assert_int_equal(certo_registry_add(reg, &ep, &sec, &err), CERTO_OK);
    assert_int_equal(certo_nodes_discover(&set, reg, &ep, NULL, &err), CERTO_EUNSUPPORTED);
    assert_string_equal(err.msg, "discovering the nodes of f5 endpoints is not available yet");
    assert_int_equal(set.n, 0);
    certo_ep_secrets_dispose(&sec);
    certo_endpoint_dispose(&ep);
    certo_registry_close(reg);
    t_rmdir(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gateway_nodes__ssl_id),
        cmocka_unit_test(test_gateway_nodes__listeners),
        cmocka_unit_test(test_gateway_nodes__drift),
        cmocka_unit_test(test_gateway_nodes__unsupported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
