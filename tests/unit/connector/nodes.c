/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the nodes() op of every connector (src/connector/): the nodes an nginx
 * configuration (server block x listen), an Apache one (VirtualHost x address x name, read
 * with a stand-in apachectl), a Tomcat server.xml (Connector x SSLHostConfig) and keystore
 * files (one per entry) describe, with the addresses to connect to, the SNI names and the
 * certificate files; and certo_node_sni. Everything through the local transport on files in
 * a temporary directory; nothing is probed here (tests/unit/gateway/nodes.c does that).
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "certo/file.h"
#include "certo/keystore.h"
#include "certo/sys/connector.h"
#include "certo/sys/transport.h"
#include "testutil.h"

/* A connector configured on files under a temporary directory. */
struct fx {
    char *dir;
    struct certo_transport *t;
    struct certo_kv kv[4];
    struct certo_connector_cfg cfg;
    const struct certo_connector_ops *ops;
    void *ctx;
    bool configured;
    struct certo_secret *pw;
    char *vals[4]; /* owned option values */
};

static int
setup(void **state)
{
    struct fx *f = certo_calloc(1, sizeof(*f));
    struct certo_err err = {0};

    f->dir = t_mkdtemp();
    assert_int_equal(certo_transport_open(&f->t, &certo_transport_local, NULL, &err), CERTO_OK);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;

    if (f->configured && f->ops->cleanup != NULL)
        f->ops->cleanup(f->ctx);
    certo_free(f->ctx);
    for (size_t i = 0; i < CERTO_ARRAY_LEN(f->vals); i++)
        certo_free(f->vals[i]);
    certo_secret_free(f->pw);
    certo_transport_close(f->t);
    t_rmdir(f->dir);
    certo_free(f);
    return 0;
}

static char *
path_in(const struct fx *f, const char *name)
{
    return certo_asprintf("%s/%s", f->dir, name);
}

static void
put(const struct fx *f, const char *name, const char *text, mode_t mode)
{
    char *p = path_in(f, name);
    assert_int_equal(certo_file_replace(p, text, strlen(text), mode), CERTO_OK);
    certo_free(p);
}

static void
mk(const struct fx *f, const char *name)
{
    char *p = path_in(f, name);
    assert_int_equal(mkdir(p, 0755), 0);
    certo_free(p);
}

/* Configures connector 'type' with option 'key' = DIR/'rel' (DIR itself for ""). */
static void
configure(struct fx *f, const char *type, const char *key, const char *rel)
{
    struct certo_err err = {0};

    f->ops = certo_connector_find(type);
    assert_non_null(f->ops);
    assert_non_null(f->ops->nodes);
    if (key != NULL) {
        f->vals[0] = rel[0] != '\0' ? path_in(f, rel) : certo_strdup(f->dir);
        f->kv[0].key = key;
        f->kv[0].value = f->vals[0];
        f->cfg.n_opts = 1;
    }
    f->cfg.endpoint_name = "ep";
    f->cfg.opts = f->kv;
    f->cfg.store_password = f->pw;
    f->cfg.script_timeout_ms = 10000;
    f->ctx = certo_calloc(1, f->ops->ctx_size);
    assert_int_equal(f->ops->configure(f->ctx, &f->cfg, &err), CERTO_OK);
    f->configured = true;
}

static void
nodes_ok(struct fx *f, struct certo_node_list *l)
{
    struct certo_err err = {0};
    certo_rc rc = certo_connector_nodes(f->ops, f->ctx, f->t, l, &err);
    if (rc != CERTO_OK)
        fail_msg("nodes(): %s", err.msg);
}

/* Compares a string that may be NULL. */
static void
eq(const char *got, const char *want)
{
    if (want == NULL)
        assert_null(got);
    else {
        assert_non_null(got);
        assert_string_equal(got, want);
    }
}

/* One listener's fields as expected. */
static void
listener(const struct certo_conf_node *n, const char *name, const char *alias,
         enum certo_node_kind kind, const char *addr, int port, const char *connect,
         const char *sni)
{
    eq(n->name, name);
    eq(n->alias, alias);
    assert_int_equal(n->kind, kind);
    eq(n->address, addr);
    assert_int_equal(n->port, port);
    eq(n->connect, connect);
    eq(n->sni, sni);
    assert_null(n->chain);
    assert_non_null(n->source);
}

/* Node 'n' names exactly the files 'want' (NULL-terminated; DIR/ in front of each). */
static void
files_are(const struct fx *f, const struct certo_conf_node *n, const char *const *want)
{
    size_t k = 0;

    for (; want[k] != NULL; k++) {
        char *p = want[k][0] == '/' ? certo_strdup(want[k]) : path_in(f, want[k]);
        assert_true(k < n->n_cert_files);
        assert_string_equal(n->cert_files[k], p);
        certo_free(p);
    }
    assert_int_equal(n->n_cert_files, k);
}

/* ---- certo_node_sni ---- */

static void
test_connector_nodes__sni(void **state)
{
    static const char *const cases[][2] = {
        {"www.Example.TEST", "www.example.test"},
        {"*.example.test", "certo-discover.example.test"},
        {".example.test", "example.test"},
        {"localhost", "localhost"},
        {"_", NULL},
        {"", NULL},
        {"~^app\\d+\\.example\\.test$", NULL},
        {"www.example.*", NULL},
        {"w*.example.test", NULL},
        {"192.0.2.1", NULL},
        {"::1", NULL},
        {"_default_", NULL},
        {"a..b", NULL},
        {"-a.test", NULL},
    };
    (void)state;
    for (size_t i = 0; i < CERTO_ARRAY_LEN(cases); i++) {
        char *got = certo_node_sni(cases[i][0]);
        if (cases[i][1] == NULL && got != NULL)
            fail_msg("certo_node_sni(%s) = %s, want NULL", cases[i][0], got);
        if (cases[i][1] != NULL && (got == NULL || strcmp(got, cases[i][1]) != 0))
            fail_msg("certo_node_sni(%s) = %s, want %s", cases[i][0], got ? got : "NULL",
                     cases[i][1]);
        certo_free(got);
    }
    assert_null(certo_node_sni(NULL));
}

/* A connector without the op says so instead of crashing. */
static void
test_connector_nodes__unsupported(void **state)
{
    struct certo_connector_ops ops = *certo_connector_find("pem");
    struct certo_node_list l = {0};
    struct certo_err err = {0};
    (void)state;
    ops.nodes = NULL;
    assert_int_equal(certo_connector_nodes(&ops, NULL, NULL, &l, &err), CERTO_EUNSUPPORTED);
    assert_string_equal(err.msg, "pem endpoints cannot list their nodes yet");
    assert_null(l.v);
    assert_int_equal(l.n, 0);
}

/* ---- nginx ---- */

static void
test_connector_nodes__nginx(void **state)
{
    struct fx *f = *state;
    struct certo_node_list l = {0};
    char *where;

    mk(f, "conf.d");
    put(f, "nginx.conf",
        "events {}\n"
        "http {\n"
        "    ssl_certificate http.pem;\n"
        "    ssl_certificate_key http.key;\n"
        "    server {\n"
        "        listen 127.0.0.1:8443 ssl;\n"
        "        listen [::1]:8443 ssl http2;\n"
        "        server_name www.example.test example.test;\n"
        "        ssl_certificate /etc/ssl/www.pem;\n"
        "        ssl_certificate_key /etc/ssl/www.key;\n"
        "    }\n"
        "    include conf.d/*.conf;\n"
        "}\n",
        0644);
    put(f, "conf.d/more.conf",
        "server {\n"
        "    listen 127.0.0.1:8443;\n" /* the socket is TLS: another block says ssl */
        "    server_name ~^app\\d+\\.example\\.test$ *.example.test;\n"
        "}\n"
        "server {\n"
        "    server_name _;\n" /* no listen: *:80 */
        "}\n"
        "server {\n"
        "    listen 0.0.0.0:443 ssl proxy_protocol;\n"
        "    listen 443 quic;\n"
        "    listen unix:/run/x.sock;\n"
        "    listen [::]:8080;\n"
        "    server_name .dot.test;\n"
        "    ssl_certificate $ssl_server_name.pem;\n"
        "}\n"
        "server {\n"
        "    listen 9443;\n"
        "    ssl on;\n"
        "    server_name \"\";\n"
        "}\n",
        0644);
    configure(f, "nginx", "nginx_config_path", "nginx.conf");
    nodes_ok(f, &l);
    assert_int_equal(l.n, 7);
    listener(&l.v[0], "www.example.test", "example.test", CERTO_NODE_HTTPS, "127.0.0.1", 8443,
             "127.0.0.1", "www.example.test");
    files_are(f, &l.v[0], (const char *const[]){"/etc/ssl/www.pem", NULL});
    where = path_in(f, "nginx.conf:5");
    assert_string_equal(l.v[0].source, where);
    certo_free(where);
    assert_null(l.v[0].skip);
    listener(&l.v[1], "www.example.test", "example.test", CERTO_NODE_HTTPS, "::1", 8443, "::1",
             "www.example.test");
    /* A regex name gives no SNI: the next name does. Inherits the http certificate. */
    listener(&l.v[2], "~^app\\d+\\.example\\.test$", "*.example.test", CERTO_NODE_HTTPS,
             "127.0.0.1", 8443, "127.0.0.1", "certo-discover.example.test");
    files_are(f, &l.v[2], (const char *const[]){"http.pem", NULL});
    where = path_in(f, "conf.d/more.conf:1");
    assert_string_equal(l.v[2].source, where);
    certo_free(where);
    listener(&l.v[3], "_", NULL, CERTO_NODE_HTTP, "*", 80, "127.0.0.1", NULL);
    /* proxy_protocol: not probed; quic and unix listens are no nodes. */
    listener(&l.v[4], ".dot.test", NULL, CERTO_NODE_HTTPS, "*", 443, "127.0.0.1", "dot.test");
    assert_string_equal(l.v[4].skip, "the listener expects the PROXY protocol");
    assert_int_equal(l.v[4].n_cert_files, 0); /* a variable in the path: no file known */
    listener(&l.v[5], ".dot.test", NULL, CERTO_NODE_HTTP, "::", 8080, "::1", "dot.test");
    assert_null(l.v[5].skip);
    /* The deprecated `ssl on;` makes every listen of the block TLS. */
    listener(&l.v[6], "", NULL, CERTO_NODE_HTTPS, "*", 9443, "127.0.0.1", NULL);
    certo_node_list_dispose(&l);
    assert_null(l.v);
}

static void
test_connector_nodes__nginx_errors(void **state)
{
    struct fx *f = *state;
    struct certo_node_list l = {0};
    struct certo_err err = {0};

    put(f, "nginx.conf", "http { server { listen 127.0.0.1:99999 ssl; } }\n", 0644);
    configure(f, "nginx", "nginx_config_path", "nginx.conf");
    assert_int_equal(certo_connector_nodes(f->ops, f->ctx, f->t, &l, &err), CERTO_EPARSE);
    assert_non_null(strstr(err.msg, "invalid address or port"));
    assert_null(l.v);
    certo_err_clear(&err);
    put(f, "nginx.conf", "http { include missing.conf; }\n", 0644);
    assert_int_equal(certo_connector_nodes(f->ops, f->ctx, f->t, &l, &err), CERTO_ENOTFOUND);
    assert_int_equal(l.n, 0);
}

/* ---- Apache ---- */

static void
test_connector_nodes__apache(void **state)
{
    struct fx *f = *state;
    struct certo_node_list l = {0};
    char *s, *where;

    s = certo_asprintf("#!/bin/sh\n"
                       "case \"$1\" in\n"
                       "-t) printf 'Included configuration files:\\n  (*) %s/apache2.conf\\n'\n"
                       "    printf 'ServerRoot: \"%s\"\\n' ;;\n"
                       "-l) printf 'Compiled in modules:\\n  core.c\\n' ;;\n"
                       "esac\n",
                       f->dir, f->dir);
    put(f, "apachectl", s, 0755);
    certo_free(s);
    put(f, "apache2.conf",
        "ServerName main.test\n"
        "Listen 127.0.0.1:8443\n"
        "Listen 8080\n"
        "<VirtualHost *:8443>\n"
        "    ServerName https://www.example.test:8443\n"
        "    ServerAlias example.test *.example.test\n"
        "    SSLEngine on\n"
        "    SSLCertificateFile certs/www.pem\n"
        "</VirtualHost>\n"
        "<VirtualHost *:8080 [::1]:8081>\n"
        "</VirtualHost>\n"
        "<VirtualHost _default_>\n"
        "    ServerName def.test\n"
        "    SSLEngine on\n"
        "    SSLCertificateFile ${UNDEFINED}/x.pem\n"
        "</VirtualHost>\n"
        "<IfDefine NEVER>\n"
        "<VirtualHost *:9999>\n"
        "    ServerName never.test\n"
        "</VirtualHost>\n"
        "</IfDefine>\n",
        0644);
    configure(f, "apache", "apachectl_path", "apachectl");
    nodes_ok(f, &l);
    assert_int_equal(l.n, 6);
    /* VirtualHost x name: '*' is reached at the Listen address of its port. */
    listener(&l.v[0], "www.example.test", "example.test *.example.test", CERTO_NODE_HTTPS, "*",
             8443, "127.0.0.1", "www.example.test");
    files_are(f, &l.v[0], (const char *const[]){"certs/www.pem", NULL});
    where = path_in(f, "apache2.conf:4");
    assert_string_equal(l.v[0].source, where);
    certo_free(where);
    listener(&l.v[1], "example.test", "www.example.test *.example.test", CERTO_NODE_HTTPS, "*",
             8443, "127.0.0.1", "example.test");
    listener(&l.v[2], "*.example.test", "www.example.test example.test", CERTO_NODE_HTTPS, "*",
             8443, "127.0.0.1", "certo-discover.example.test");
    /* No ServerName: the main server's; one node per address. */
    listener(&l.v[3], "main.test", NULL, CERTO_NODE_HTTP, "*", 8080, "127.0.0.1", "main.test");
    assert_int_equal(l.v[3].n_cert_files, 0);
    listener(&l.v[4], "main.test", NULL, CERTO_NODE_HTTP, "::1", 8081, "::1", "main.test");
    /* _default_ without a port: 443 for TLS; an unexpanded ${VAR} path is no known file. */
    listener(&l.v[5], "def.test", NULL, CERTO_NODE_HTTPS, "*", 443, "127.0.0.1", "def.test");
    assert_int_equal(l.v[5].n_cert_files, 0);
    certo_node_list_dispose(&l);
}

/* ---- Tomcat ---- */

static void
test_connector_nodes__tomcat(void **state)
{
    struct fx *f = *state;
    struct certo_node_list l = {0};
    char *s, *where;

    mk(f, "conf");
    s = certo_asprintf("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                       "<Server port=\"-1\" shutdown=\"SHUTDOWN\">\n"
                       "  <Service name=\"Catalina\">\n"
                       "    <Connector port=\"8080\" protocol=\"HTTP/1.1\"/>\n"
                       "    <Connector port=\"8009\" protocol=\"AJP/1.3\"/>\n"
                       "    <Connector port=\"${https.port}\" SSLEnabled=\"true\"/>\n"
                       "    <Connector port=\"8443\" address=\"0.0.0.0\" SSLEnabled=\"true\"\n"
                       "               defaultSSLHostConfigName=\"a.test\">\n"
                       "      <SSLHostConfig hostName=\"a.test\">\n"
                       "        <Certificate certificateKeystoreFile=\"conf/a.p12\" "
                       "certificateKeyAlias=\"a-rsa\"\n"
                       "                     type=\"RSA\"/>\n"
                       "        <Certificate certificateFile=\"${catalina.base}/conf/a-ec.crt\"\n"
                       "                     certificateKeyFile=\"conf/a-ec.key\" type=\"EC\"/>\n"
                       "      </SSLHostConfig>\n"
                       "      <SSLHostConfig hostName=\"*.w.test\">\n"
                       "        <Certificate certificateFile=\"/etc/ssl/w.crt\"/>\n"
                       "      </SSLHostConfig>\n"
                       "    </Connector>\n"
                       "    <Connector port=\"9443\" address=\"::1\" SSLEnabled=\"true\"\n"
                       "               keystoreFile=\"conf/legacy.jks\" keyAlias=\"legacy\"/>\n"
                       "  </Service>\n"
                       "</Server>\n");
    put(f, "conf/server.xml", s, 0644);
    certo_free(s);
    configure(f, "tomcat", "tomcat_dir", "");
    nodes_ok(f, &l);
    assert_int_equal(l.n, 4);
    /* A plain HTTP connector has no name; the AJP one and a port Certo cannot read are no
     * nodes. */
    listener(&l.v[0], "", NULL, CERTO_NODE_HTTP, "*", 8080, "127.0.0.1", NULL);
    where = path_in(f, "conf/server.xml:4");
    assert_string_equal(l.v[0].source, where);
    certo_free(where);
    /* Two Certificates of one SSLHostConfig are one node. */
    listener(&l.v[1], "a.test", "a-rsa", CERTO_NODE_HTTPS, "0.0.0.0", 8443, "127.0.0.1", "a.test");
    files_are(f, &l.v[1], (const char *const[]){"conf/a.p12", "conf/a-ec.crt", NULL});
    where = path_in(f, "conf/server.xml:10");
    assert_string_equal(l.v[1].source, where);
    certo_free(where);
    listener(&l.v[2], "*.w.test", NULL, CERTO_NODE_HTTPS, "0.0.0.0", 8443, "127.0.0.1",
             "certo-discover.w.test");
    files_are(f, &l.v[2], (const char *const[]){"/etc/ssl/w.crt", NULL});
    /* Tomcat 9 attributes on the Connector: its _default_ host, reached without SNI. */
    listener(&l.v[3], "_default_", "legacy", CERTO_NODE_HTTPS, "::1", 9443, "::1", NULL);
    files_are(f, &l.v[3], (const char *const[]){"conf/legacy.jks", NULL});
    certo_node_list_dispose(&l);
}

/* ---- keystores ---- */

static void
copy_fixture(const struct fx *f, const char *fixture, const char *name)
{
    struct certo_buf b;
    t_read_fixture(&b, fixture);
    char *p = path_in(f, name);
    assert_int_equal(certo_file_replace(p, b.data, b.len, 0600), CERTO_OK);
    certo_free(p);
    certo_buf_dispose(&b);
}

static void
test_connector_nodes__p12(void **state)
{
    struct fx *f = *state;
    struct certo_node_list l = {0};
    static const char *const aliases[] = {"www", "generated", "rootca"};
    char *where = path_in(f, "ks.p12");

    copy_fixture(f, "keytool.p12", "ks.p12");
    f->pw = t_secret("changeit");
    configure(f, "p12", "path", "ks.p12");
    nodes_ok(f, &l);
    assert_int_equal(l.n, 3);
    for (size_t i = 0; i < l.n; i++) {
        const struct certo_conf_node *n = &l.v[i];
        assert_string_equal(n->name, aliases[i]);
        assert_string_equal(n->alias, aliases[i]);
        assert_int_equal(n->kind, CERTO_NODE_ENTRY);
        assert_null(n->address);
        assert_int_equal(n->port, 0);
        assert_null(n->connect);
        assert_null(n->sni);
        assert_string_equal(n->source, where);
        assert_non_null(n->chain);
        assert_true(sk_X509_num(n->chain) >= 1);
        assert_false(n->any_alias);
        files_are(f, n, (const char *const[]){"ks.p12", NULL});
    }
    assert_true(l.v[0].key_entry);
    assert_true(l.v[1].key_entry);
    assert_false(l.v[2].key_entry); /* a trusted certificate */
    assert_int_equal(sk_X509_num(l.v[2].chain), 1);
    certo_node_list_dispose(&l);
    certo_free(where);
}

static void
test_connector_nodes__keystore_errors(void **state)
{
    struct fx *f = *state;
    struct certo_node_list l = {0};
    struct certo_err err = {0};

    copy_fixture(f, "keytool.jks", "ks.jks");
    f->pw = t_secret("wrong-password");
    configure(f, "jks", "path", "ks.jks");
    assert_int_equal(certo_connector_nodes(f->ops, f->ctx, f->t, &l, &err), CERTO_EAUTH);
    assert_non_null(strstr(err.msg, "does not open"));
    assert_null(l.v);
    certo_err_clear(&err);
    assert_int_equal(remove(f->vals[0]), 0);
    assert_int_equal(certo_connector_nodes(f->ops, f->ctx, f->t, &l, &err), CERTO_ENOTFOUND);
    assert_non_null(strstr(err.msg, "does not exist"));
}

static void
test_connector_nodes__pem(void **state)
{
    struct fx *f = *state;
    struct certo_node_list l = {0};

    copy_fixture(f, "combined-ec256.pem", "site.pem");
    configure(f, "pem", "path", "site.pem");
    nodes_ok(f, &l);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.v[0].name, "ec256.example.test");
    assert_true(l.v[0].key_entry);
    assert_true(l.v[0].any_alias); /* an install replaces a PEM file's key whatever its name */
    assert_int_equal(sk_X509_num(l.v[0].chain), 2);
    certo_node_list_dispose(&l);
    /* A blank PEM file has no entries. */
    put(f, "site.pem", "\n", 0644);
    nodes_ok(f, &l);
    assert_int_equal(l.n, 0);
    certo_node_list_dispose(&l);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connector_nodes__sni),
        cmocka_unit_test(test_connector_nodes__unsupported),
        cmocka_unit_test_setup_teardown(test_connector_nodes__nginx, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connector_nodes__nginx_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connector_nodes__apache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connector_nodes__tomcat, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connector_nodes__p12, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connector_nodes__keystore_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connector_nodes__pem, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
