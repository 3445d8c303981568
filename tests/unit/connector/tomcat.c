/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the Tomcat connector (src/connector/tomcat/): the server.xml reader
 * (connectors, SSLHostConfig/Certificate, legacy attributes, value spans and lines,
 * passwords kept out of plain strings), the byte-precise editor and its diff, the
 * refusals (DOCTYPE, malformed XML, size, unsafe values), paths and names, a mutation
 * loop, and plans through the local transport (JKS entry replaced; shared PEM files give
 * new files and a one-attribute server.xml edit; key mismatch refused).
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"
#include "certo/sys/connector.h"
#include "certo/sys/transport.h"
#include "connector/tomcat/tomcat.h"

/* Line numbers below count from this text. */
static const char sample[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"                          /* 1 */
    "<!-- <Connector port=\"1\" SSLEnabled=\"true\"/> in a comment -->\n"   /* 2 */
    "<Server port=\"-1\" shutdown=\"SHUTDOWN\">\n"                          /* 3 */
    "  <Service name=\"Catalina\">\n"                                       /* 4 */
    "    <Connector port=\"8080\" protocol=\"HTTP/1.1\"/>\n"                /* 5 */
    "    <Connector port='8443' SSLEnabled='true' address=\"127.0.0.1\"\n"  /* 6 */
    "               defaultSSLHostConfigName=\"www.example.test\">\n"       /* 7 */
    "      <SSLHostConfig hostName=\"www.example.test\">\n"                 /* 8 */
    "        <Certificate certificateKeystoreFile=\"conf/www.jks\"\n"       /* 9 */
    "                     certificateKeystorePassword=\"s3cr&amp;t\"\n"     /* 10 */
    "                     certificateKeystoreType=\"JKS\" type=\"RSA\"\n"   /* 11 */
    "                     certificateKeyAlias=\"www\"/>\n"                  /* 12 */
    "      </SSLHostConfig>\n"                                              /* 13 */
    "    </Connector>\n"                                                    /* 14 */
    "    <Connector port=\"8444\" SSLEnabled=\"true\">\n"                   /* 15 */
    "      <SSLHostConfig>\n"                                               /* 16 */
    "        <Certificate certificateFile=\"${catalina.base}/conf/a.crt\" " /* 17 */
    "certificateKeyFile=\"conf/a.key\" certificateKeyPassword=\"kp\" type=\"EC\"/>\n"
    "        <Certificate certificateFile=\"conf/r.crt\" type=\"RSA\"/>\n" /* 18 */
    "      </SSLHostConfig>\n"                                             /* 19 */
    "    </Connector>\n"                                                   /* 20 */
    "    <Connector port=\"8445\" SSLEnabled=\"TRUE\" keystoreFile=\"/k.p12\" "
    "keystorePass=\"lp\" keyAlias=\"old\"><![CDATA[ <Certificate/> ]]></Connector>\n" /* 21 */
    "  </Service>\n"
    "</Server>\n";

static void
parse_ok(struct certo_tomcat_conf *c, const char *xml)
{
    struct certo_err err = {0};
    certo_rc rc = certo_tomcat__parse(c, xml, strlen(xml), &err);
    if (rc != CERTO_OK)
        fail_msg("parse: %s", err.msg);
}

static void
test_connector_tomcat__reads_sample(void **state)
{
    struct certo_tomcat_conf c;
    const struct certo_tomcat_cert *k;

    (void)state;
    parse_ok(&c, sample);
    assert_int_equal(c.n_connectors, 4);
    assert_false(c.connectors[0].tls);
    assert_int_equal(c.connectors[0].port, 8080);
    assert_true(c.connectors[1].tls);
    assert_int_equal(c.connectors[1].port, 8443);
    assert_string_equal(c.connectors[1].address, "127.0.0.1");
    assert_string_equal(c.connectors[1].default_host, "www.example.test");
    assert_int_equal(c.connectors[1].line, 6);
    assert_true(c.connectors[3].tls); /* "TRUE": Boolean.parseBoolean */
    assert_true(c.utf8);
    assert_int_equal(c.n_certs, 4);

    k = &c.certs[0];
    assert_int_equal(k->connector, 1);
    assert_string_equal(k->host_name, "www.example.test");
    assert_true(k->is_default);
    assert_false(k->legacy);
    assert_string_equal(k->val[CERTO_TC_KS_FILE], "conf/www.jks");
    assert_string_equal(k->val[CERTO_TC_KS_TYPE], "JKS");
    assert_string_equal(k->val[CERTO_TC_KEY_ALIAS], "www");
    assert_null(k->val[CERTO_TC_KS_PASS]); /* passwords only as secrets */
    assert_non_null(k->ks_pass);
    assert_string_equal(certo_secret_get0(k->ks_pass), "s3cr&t");
    assert_int_equal(k->at[CERTO_TC_KS_FILE].line, 9);
    assert_int_equal(k->at[CERTO_TC_KS_PASS].line, 10);
    assert_int_equal(k->at[CERTO_TC_KEY_ALIAS].line, 12);
    assert_memory_equal(sample + k->at[CERTO_TC_KS_FILE].off, "conf/www.jks", 12);
    assert_int_equal(k->at[CERTO_TC_KS_FILE].len, 12);
    assert_false(k->at[CERTO_TC_CERT_FILE].present);

    k = &c.certs[1];
    assert_string_equal(k->host_name, "_default_");
    assert_true(k->is_default);
    assert_string_equal(k->val[CERTO_TC_CERT_FILE], "${catalina.base}/conf/a.crt");
    assert_string_equal(k->val[CERTO_TC_KEY_FILE], "conf/a.key");
    assert_string_equal(certo_secret_get0(k->key_pass), "kp");
    assert_string_equal(k->val[CERTO_TC_TYPE], "EC");
    assert_int_equal(k->at[CERTO_TC_KEY_FILE].line, 17);
    assert_string_equal(c.certs[2].val[CERTO_TC_TYPE], "RSA");

    k = &c.certs[3]; /* legacy Connector attributes; the CDATA is not an element */
    assert_true(k->legacy);
    assert_string_equal(k->val[CERTO_TC_KS_FILE], "/k.p12");
    assert_string_equal(k->val[CERTO_TC_KEY_ALIAS], "old");
    assert_string_equal(certo_secret_get0(k->ks_pass), "lp");
    assert_int_equal(k->line, 21);
    certo_tomcat__conf_dispose(&c);
}

static void
test_connector_tomcat__edit_keeps_bytes(void **state)
{
    struct certo_tomcat_conf c;
    struct certo_tomcat_edit e[2];
    struct certo_buf out, diff;
    struct certo_err err = {0};
    const char *want;

    (void)state;
    parse_ok(&c, sample);
    certo_buf_init(&out, 1u << 20);
    certo_buf_init(&diff, 1u << 20);
    e[0].at = c.certs[1].at[CERTO_TC_KEY_FILE];
    e[0].value = "conf/certo-new.key";
    e[1].at = c.certs[1].at[CERTO_TC_CERT_FILE];
    e[1].value = "/srv/t/conf/certo-new.crt";
    assert_int_equal(certo_tomcat__edit(&out, &diff, sample, strlen(sample), e, 2, &err), CERTO_OK);
    assert_int_equal(certo_buf_append(&out, "", 1), CERTO_OK);
    assert_int_equal(certo_buf_append(&diff, "", 1), CERTO_OK);
    /* Every other byte: the text before the first edit, between, and after. */
    size_t a = e[1].at.off, b = e[0].at.off;
    assert_memory_equal(out.data, sample, a);
    assert_memory_equal(out.data + a, "/srv/t/conf/certo-new.crt", 25);
    assert_memory_equal(out.data + a + 25, sample + a + e[1].at.len, b - a - e[1].at.len);
    assert_string_equal((const char *)out.data + a + 25 + (b - a - e[1].at.len),
                        "conf/certo-new.key\" certificateKeyPassword=\"kp\" type=\"EC\"/>\n"
                        "        <Certificate certificateFile=\"conf/r.crt\" type=\"RSA\"/>\n"
                        "      </SSLHostConfig>\n"
                        "    </Connector>\n"
                        "    <Connector port=\"8445\" SSLEnabled=\"TRUE\" keystoreFile=\"/k.p12\" "
                        "keystorePass=\"lp\" keyAlias=\"old\"><![CDATA[ <Certificate/> "
                        "]]></Connector>\n"
                        "  </Service>\n"
                        "</Server>\n");
    /* The diff: one excerpt for line 17, the password masked on both sides. */
    want = "server.xml line 17:\n"
           "-         <Certificate certificateFile=\"${catalina.base}/conf/a.crt\" "
           "certificateKeyFile=\"conf/a.key\" certificateKeyPassword=\"********\" type=\"EC\"/>\n"
           "+         <Certificate certificateFile=\"/srv/t/conf/certo-new.crt\" "
           "certificateKeyFile=\"conf/certo-new.key\" certificateKeyPassword=\"********\" "
           "type=\"EC\"/>\n";
    assert_string_equal((const char *)diff.data, want);
    assert_null(strstr((const char *)diff.data, "kp\""));

    /* The edited text reads back with the new values and nothing else changed. */
    struct certo_tomcat_conf d;
    parse_ok(&d, (const char *)out.data);
    assert_string_equal(d.certs[1].val[CERTO_TC_CERT_FILE], "/srv/t/conf/certo-new.crt");
    assert_string_equal(d.certs[1].val[CERTO_TC_KEY_FILE], "conf/certo-new.key");
    assert_string_equal(d.certs[0].val[CERTO_TC_KS_FILE], "conf/www.jks");
    certo_tomcat__conf_dispose(&d);

    /* No edit: identical bytes. */
    certo_buf_reset(&out);
    assert_int_equal(certo_tomcat__edit(&out, NULL, sample, strlen(sample), NULL, 0, &err),
                     CERTO_OK);
    assert_int_equal(out.len, strlen(sample));
    assert_memory_equal(out.data, sample, out.len);
    certo_buf_dispose(&out);
    certo_buf_dispose(&diff);
    certo_tomcat__conf_dispose(&c);
}

static void
test_connector_tomcat__unsafe_values_refused(void **state)
{
    static const char *const bad[] = {"a\"b",   "a'b",  "a<b",  "a>b", "a&b",
                                      "${x}/a", "a\nb", "a\rb", "",    "a\tb"};
    struct certo_tomcat_conf c;
    struct certo_tomcat_edit e;
    struct certo_buf out;

    (void)state;
    for (size_t i = 0; i < CERTO_ARRAY_LEN(bad); i++) {
        struct certo_err err = {0};
        assert_int_equal(certo_tomcat__value_check("the path", bad[i], true, &err), CERTO_EINVAL);
        assert_non_null(strstr(err.msg, "the path"));
    }
    struct certo_err err = {0};
    assert_int_equal(certo_tomcat__value_check("p", "/a/b-c_d.e f", true, &err), CERTO_OK);
    assert_int_equal(certo_tomcat__value_check("p", "/caf\xc3\xa9", true, &err), CERTO_OK);
    assert_int_equal(certo_tomcat__value_check("p", "/caf\xc3\xa9", false, &err), CERTO_EINVAL);

    parse_ok(&c, sample);
    certo_buf_init(&out, 1u << 20);
    e.at = c.certs[2].at[CERTO_TC_CERT_FILE];
    e.value = "conf/x\".crt";
    certo_err_clear(&err);
    assert_int_equal(certo_tomcat__edit(&out, NULL, sample, strlen(sample), &e, 1, &err),
                     CERTO_EINVAL);
    certo_buf_dispose(&out);
    certo_tomcat__conf_dispose(&c);
}

static void
test_connector_tomcat__refusals(void **state)
{
    static const char laughs[] =
        "<?xml version=\"1.0\"?>\n<!DOCTYPE Server [<!ENTITY a \"aaaa\"><!ENTITY b "
        "\"&a;&a;&a;&a;\">]>\n<Server>&b;</Server>\n";
    static const char xxe[] = "<!DOCTYPE Server SYSTEM \"http://127.0.0.1:1/x.dtd\"><Server/>";
    static const char broken[] = "<Server>\n<Service>\n<Connector port=\"1\">\n</Service>\n";
    static const char notserver[] = "<Foo/>";
    struct certo_tomcat_conf c;
    struct certo_err err = {0};
    char want[128];
    char *big;

    (void)state;
    assert_int_equal(certo_tomcat__parse(&c, laughs, strlen(laughs), &err), CERTO_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "line 2"));
    certo_tomcat__conf_dispose(&c);
    certo_err_clear(&err);
    assert_int_equal(certo_tomcat__parse(&c, xxe, strlen(xxe), &err), CERTO_EUNSUPPORTED);
    certo_tomcat__conf_dispose(&c);
    certo_err_clear(&err);
    assert_int_equal(certo_tomcat__parse(&c, broken, strlen(broken), &err), CERTO_EPARSE);
    if (strstr(err.msg, "server.xml line 5: Premature end of data") == NULL)
        fail_msg("%s", err.msg);
    certo_tomcat__conf_dispose(&c);
    certo_err_clear(&err);
    assert_int_equal(certo_tomcat__parse(&c, notserver, strlen(notserver), &err), CERTO_EPARSE);
    certo_tomcat__conf_dispose(&c);
    certo_err_clear(&err);
    /* One byte over the limit: the sample, then blanks after the root element (still a
     * well-formed document, so the size is the only reason to refuse it). */
    big = certo_malloc(CERTO_TOMCAT_XML_MAX + 1);
    memcpy(big, sample, strlen(sample));
    memset(big + strlen(sample), ' ', CERTO_TOMCAT_XML_MAX + 1 - strlen(sample));
    big[CERTO_TOMCAT_XML_MAX] = '\n';
    assert_int_equal(certo_tomcat__parse(&c, big, CERTO_TOMCAT_XML_MAX + 1, &err), CERTO_ETOOBIG);
    snprintf(want, sizeof(want), "server.xml is %u bytes, limit is %u", CERTO_TOMCAT_XML_MAX + 1,
             CERTO_TOMCAT_XML_MAX);
    assert_string_equal(err.msg, want);
    certo_tomcat__conf_dispose(&c);
    certo_free(big);
}

static void
test_connector_tomcat__paths_and_names(void **state)
{
    char *p;

    (void)state;
    p = certo_tomcat__resolve("/b", "/h", "conf/x.jks");
    assert_string_equal(p, "/b/conf/x.jks");
    certo_free(p);
    p = certo_tomcat__resolve("/b", "/h", "${catalina.base}/conf/x.jks");
    assert_string_equal(p, "/b/conf/x.jks");
    certo_free(p);
    p = certo_tomcat__resolve("/b", "/h", "${catalina.home}/x");
    assert_string_equal(p, "/h/x");
    certo_free(p);
    p = certo_tomcat__resolve("/b", NULL, "${catalina.home}/x");
    assert_string_equal(p, "/b/x");
    certo_free(p);
    p = certo_tomcat__resolve("/b", "/h", "/abs/x");
    assert_string_equal(p, "/abs/x");
    certo_free(p);
    assert_null(certo_tomcat__resolve("/b", "/h", "${my.dir}/x"));
    assert_null(certo_tomcat__resolve("/b", "/h", ""));

    assert_true(certo_tomcat__host_matches("www.example.test", "WWW.example.test"));
    assert_true(certo_tomcat__host_matches("www.example.test", "*.example.test"));
    assert_true(certo_tomcat__host_matches("*.example.test", "*.example.test"));
    assert_false(certo_tomcat__host_matches("a.b.example.test", "*.example.test"));
    assert_false(certo_tomcat__host_matches("example.test", "*.example.test"));
    assert_false(certo_tomcat__host_matches("*.example.test", "www.example.test"));
    assert_false(certo_tomcat__host_matches("other.test", "www.example.test"));
}

/* Bit flips and truncations of the sample never crash, and a success is consistent. */
static void
test_connector_tomcat__mutations(void **state)
{
    size_t len = strlen(sample);
    char *m = certo_malloc(len + 1);

    (void)state;
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            struct certo_tomcat_conf c;
            memcpy(m, sample, len + 1);
            m[i] = (char)(m[i] ^ (1 << bit));
            if (certo_tomcat__parse(&c, m, len, NULL) == CERTO_OK) {
                for (size_t k = 0; k < c.n_certs; k++) {
                    for (int f = 0; f < CERTO_TC__COUNT; f++)
                        assert_true(!c.certs[k].at[f].present ||
                                    c.certs[k].at[f].off + c.certs[k].at[f].len <= len);
                }
            }
            certo_tomcat__conf_dispose(&c);
        }
        struct certo_tomcat_conf c;
        certo_rc rc = certo_tomcat__parse(&c, sample, i, NULL);
        /* Cut before the end tag of Server, it is never well-formed. */
        assert_true(rc != CERTO_OK || i >= (size_t)(strstr(sample, "</Server>") - sample) + 9);
        certo_tomcat__conf_dispose(&c);
    }
    certo_free(m);
}

/* ---- plans through the local transport ---- */

struct fx {
    char *dir;
    struct certo_transport *t;
    struct certo_kv kv[2];
    struct certo_connector_cfg cfg;
    void *ctx;
    const struct certo_connector_ops *ops;
};

static void
put_file(const char *dir, const char *name, const void *data, size_t len)
{
    char *p = certo_asprintf("%s/%s", dir, name);
    assert_int_equal(certo_file_replace(p, data, len, 0640), CERTO_OK);
    certo_free(p);
}

static void
put_fixture(const char *dir, const char *name, const char *as)
{
    struct certo_buf b;
    t_read_fixture(&b, name);
    put_file(dir, as, b.data, b.len);
    certo_buf_dispose(&b);
}

static int
setup(void **state)
{
    struct fx *f = certo_calloc(1, sizeof(*f));
    struct certo_err err = {0};
    char *conf;

    f->dir = t_mkdtemp();
    conf = certo_asprintf("%s/conf", f->dir);
    assert_int_equal(mkdir(conf, 0755), 0);
    certo_free(conf);
    assert_int_equal(certo_transport_open(&f->t, &certo_transport_local, NULL, &err), CERTO_OK);
    f->ops = certo_connector_find("tomcat");
    assert_non_null(f->ops);
    f->kv[0].key = "tomcat_dir";
    f->kv[0].value = f->dir;
    f->cfg.endpoint_name = "tc";
    f->cfg.opts = f->kv;
    f->cfg.n_opts = 1;
    f->ctx = certo_calloc(1, f->ops->ctx_size);
    assert_int_equal(f->ops->configure(f->ctx, &f->cfg, &err), CERTO_OK);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;
    f->ops->cleanup(f->ctx);
    certo_free(f->ctx);
    certo_transport_close(f->t);
    t_rmdir(f->dir);
    certo_free(f);
    return 0;
}

static struct certo_bundle *
bundle(const char *crt, const char *key)
{
    struct certo_bundle *b = NULL;
    struct certo_bundle_src src = {0};
    struct certo_err err = {0};
    char c[512], k[512];

    snprintf(c, sizeof(c), "%s", t_fixture(crt));
    snprintf(k, sizeof(k), "%s", t_fixture(key));
    src.cert_path = c;
    src.key_path = k;
    src.chain_path = NULL;
    src.key_required = true;
    assert_int_equal(certo_bundle_load(&b, &src, &err), CERTO_OK);
    return b;
}

static const char two_connectors[] =
    "<Server port=\"-1\">\n"
    "  <Service name=\"Catalina\">\n"
    "    <Connector port=\"9443\" SSLEnabled=\"true\" "
    "defaultSSLHostConfigName=\"www.example.test\">\n"
    "      <SSLHostConfig hostName=\"www.example.test\">\n"
    "        <Certificate certificateKeystoreFile=\"conf/keytool.jks\" "
    "certificateKeystorePassword=\"changeit\" certificateKeyAlias=\"www\" type=\"RSA\"/>\n"
    "      </SSLHostConfig>\n"
    "    </Connector>\n"
    "    <Connector port=\"9444\" SSLEnabled=\"true\" "
    "defaultSSLHostConfigName=\"ec256.example.test\">\n"
    "      <SSLHostConfig hostName=\"ec256.example.test\">\n"
    "        <Certificate certificateFile=\"conf/site.crt\" "
    "certificateKeyFile=\"conf/site.key\"/>\n"
    "      </SSLHostConfig>\n"
    "    </Connector>\n"
    "    <Connector port=\"9445\" SSLEnabled=\"true\">\n"
    "      <SSLHostConfig>\n"
    "        <Certificate certificateFile=\"conf/site.crt\" "
    "certificateKeyFile=\"conf/site.key\"/>\n"
    "      </SSLHostConfig>\n"
    "    </Connector>\n"
    "  </Service>\n"
    "</Server>\n";

static void
test_connector_tomcat__plan_jks(void **state)
{
    struct fx *f = *state;
    struct certo_bundle *b = bundle("leaf-rsa2048.crt", "leaf-rsa2048.key");
    struct certo_install_req req = {b, NULL};
    struct certo_plan p;
    struct certo_err err = {0};
    struct certo_keystore *ks = NULL;
    struct certo_secret *pw = t_secret("changeit");

    put_file(f->dir, "conf/server.xml", two_connectors, strlen(two_connectors));
    put_fixture(f->dir, "keytool.jks", "conf/keytool.jks");
    assert_int_equal(f->ops->plan(f->ctx, f->t, &req, &p, &err), CERTO_OK);
    assert_int_equal(p.n_changes, 1); /* the keystore only: server.xml untouched */
    assert_non_null(strstr(p.changes[0].path, "/conf/keytool.jks"));
    assert_string_equal(p.alias, "www");
    assert_true(p.fp_before[0] != '\0'); /* keytool.jks's www is this very certificate */
    assert_non_null(strstr(p.changes[0].summary, "jks entry 'www' replaced"));
    assert_int_equal(certo_keystore_parse(&ks, CERTO_KS_JKS, p.changes[0].data.data,
                                          p.changes[0].data.len, pw, &err),
                     CERTO_OK);
    assert_int_equal(ks->count, 3); /* generated, rootca, www: others kept */
    assert_non_null(certo_keystore_find(ks, "generated"));
    certo_keystore_free(ks);
    certo_plan_dispose(&p);
    certo_secret_free(pw);
    certo_bundle_free(b);
}

static void
test_connector_tomcat__plan_pem_shared(void **state)
{
    struct fx *f = *state;
    struct certo_bundle *b = bundle("leaf-ec256.crt", "leaf-ec256.key");
    struct certo_install_req req = {b, NULL};
    struct certo_plan p;
    struct certo_err err = {0};
    const char *xml = NULL;

    put_file(f->dir, "conf/server.xml", two_connectors, strlen(two_connectors));
    put_fixture(f->dir, "selfsigned.crt", "conf/site.crt");
    put_fixture(f->dir, "selfsigned.key", "conf/site.key");
    assert_int_equal(f->ops->plan(f->ctx, f->t, &req, &p, &err), CERTO_OK);
    /* site.crt/.key are shared with port 9445: new files, and server.xml edited. */
    assert_int_equal(p.n_changes, 3);
    assert_non_null(strstr(p.changes[0].path, "/conf/certo-ec256.example.test.crt"));
    assert_non_null(strstr(p.changes[1].path, "/conf/certo-ec256.example.test.key"));
    assert_int_equal(p.changes[1].meta.mode, 0600);
    assert_non_null(strstr(p.changes[2].path, "/conf/server.xml"));
    xml = (const char *)p.changes[2].data.data;
    assert_int_equal(p.changes[2].data.len, strlen(two_connectors) +
                                                2 * strlen("certo-ec256.example.test.crt") -
                                                strlen("site.crt") - strlen("site.key"));
    assert_non_null(strstr(xml,
                           "<Certificate certificateFile=\"conf/certo-ec256.example.test.crt\" "
                           "certificateKeyFile=\"conf/certo-ec256.example.test.key\"/>"));
    assert_non_null(strstr(p.changes[2].summary, "server.xml line 10:\n- "));
    assert_non_null(strstr(p.changes[2].summary, "\n+         <Certificate certificateFile="
                                                 "\"conf/certo-ec256.example.test.crt\""));
    /* The 9445 Certificate still names the old files. */
    assert_non_null(strstr(xml, "port=\"9445\" SSLEnabled=\"true\">\n      <SSLHostConfig>\n"
                                "        <Certificate certificateFile=\"conf/site.crt\""));

    /* test() on the planned bytes written as "staged" files passes. */
    const char *staged[4] = {NULL, NULL, NULL, NULL};
    char *names[3];
    for (size_t i = 0; i < 3; i++) {
        names[i] = certo_asprintf("%s/stage%zu", f->dir, i);
        assert_int_equal(
            certo_file_replace(names[i], p.changes[i].data.data, p.changes[i].data.len, 0600),
            CERTO_OK);
        staged[i] = names[i];
    }
    assert_int_equal(f->ops->test(f->ctx, f->t, &p, staged, &err), CERTO_OK);
    /* A staged key that does not match is caught. */
    struct certo_buf other;
    t_read_fixture(&other, "leaf-rsa2048.key");
    assert_int_equal(certo_file_replace(names[1], other.data, other.len, 0600), CERTO_OK);
    assert_int_equal(f->ops->test(f->ctx, f->t, &p, staged, &err), CERTO_ECONFLICT);
    certo_buf_dispose(&other);
    for (size_t i = 0; i < 3; i++)
        certo_free(names[i]);
    certo_plan_dispose(&p);
    certo_bundle_free(b);
}

static void
test_connector_tomcat__plan_refusals(void **state)
{
    struct fx *f = *state;
    struct certo_bundle *b = bundle("leaf-rsa2048.crt", "leaf-rsa2048.key");
    struct certo_bundle *ec = bundle("leaf-ec256.crt", "leaf-ec256.key");
    struct certo_install_req req = {b, NULL};
    struct certo_plan p;
    struct certo_err err = {0};
    EVP_PKEY *k;

    put_file(f->dir, "conf/server.xml", two_connectors, strlen(two_connectors));
    put_fixture(f->dir, "keytool.jks", "conf/keytool.jks");
    /* Key mismatch. */
    k = b->key;
    b->key = ec->key;
    assert_int_equal(f->ops->plan(f->ctx, f->t, &req, &p, &err), CERTO_EINVAL);
    assert_non_null(strstr(err.msg, "does not match"));
    b->key = k;
    /* Wrong keystore password in server.xml. */
    char *bad = certo_strdup(two_connectors);
    memcpy(strstr(bad, "\"changeit\"") + 1, "changeme", 8);
    put_file(f->dir, "conf/server.xml", bad, strlen(bad));
    certo_err_clear(&err);
    assert_int_equal(f->ops->plan(f->ctx, f->t, &req, &p, &err), CERTO_EAUTH);
    assert_null(strstr(err.msg, "changeme"));
    certo_free(bad);
    certo_bundle_free(b);
    certo_bundle_free(ec);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connector_tomcat__reads_sample),
        cmocka_unit_test(test_connector_tomcat__edit_keeps_bytes),
        cmocka_unit_test(test_connector_tomcat__unsafe_values_refused),
        cmocka_unit_test(test_connector_tomcat__refusals),
        cmocka_unit_test(test_connector_tomcat__paths_and_names),
        cmocka_unit_test(test_connector_tomcat__mutations),
        cmocka_unit_test_setup_teardown(test_connector_tomcat__plan_jks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connector_tomcat__plan_pem_shared, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connector_tomcat__plan_refusals, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
