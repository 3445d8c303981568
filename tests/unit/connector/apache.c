/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the Apache httpd connector: the configuration tokenizer and editor
 * (src/connector/apache/conf.c: offsets, continuations, quotes, sections, CRLF, byte
 * preservation), the name and address rules, and plan() through the real local transport
 * on a Debian-like tree (Include/IncludeOptional globs, directories, Define/${VAR},
 * <IfModule>, <IfDefine>) with a fake apachectl that prints what httpd's dumps print.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"
#include "certo/file.h"
#include "certo/sys/connector.h"
#include "certo/sys/transport.h"
#include "connector/apache/apache.h"

static void
parse_ok(struct certo_apache_file *f, const char *text)
{
    struct certo_err err = {0};
    assert_int_equal(certo_apache__parse(f, "/x.conf", text, strlen(text), &err), CERTO_OK);
}

/* The raw bytes of argument 'a' of line 'l'. */
static char *
raw_arg(const struct certo_apache_file *f, size_t l, size_t a)
{
    const struct certo_apache_arg *x = &f->lines[l].args[a];
    return certo_strndup((const char *)f->data + x->start, x->end - x->start);
}

static void
test_parse_basic(void **state)
{
    const char *text = "# comment\n"
                       "ServerRoot \"/etc/apache2\"\n"
                       "\n"
                       "   # indented comment \\\n"
                       "   still the comment\n"
                       "<VirtualHost *:443 [::1]:8443>\r\n"
                       "\tServerName www.example.test\r\n"
                       "\tServerAlias a.test \\\r\n"
                       "\t   b.test\r\n"
                       "\tSSLCertificateFile 'it''s' \"q\\\"x\" c\\\\d\r\n"
                       "</VirtualHost>\n"
                       "Last line without newline";
    struct certo_apache_file f;
    char *r;

    CERTO_UNUSED(state);
    parse_ok(&f, text);
    assert_int_equal(f.n_lines, 7);
    assert_string_equal(f.lines[0].name, "ServerRoot");
    assert_int_equal(f.lines[0].lineno, 2);
    assert_string_equal(f.lines[0].args[0].value, "/etc/apache2");
    assert_int_equal(f.lines[0].args[0].quote, '"');
    r = raw_arg(&f, 0, 0);
    assert_string_equal(r, "\"/etc/apache2\"");
    certo_free(r);

    assert_int_equal(f.lines[1].kind, CERTO_APACHE_OPEN);
    assert_string_equal(f.lines[1].name, "VirtualHost");
    assert_int_equal(f.lines[1].lineno, 6);
    assert_int_equal(f.lines[1].n_args, 2);
    assert_string_equal(f.lines[1].args[0].value, "*:443");
    assert_string_equal(f.lines[1].args[1].value, "[::1]:8443");
    assert_true(f.lines[1].crlf);

    assert_int_equal(f.lines[2].indent, 1);
    assert_int_equal(f.lines[3].lineno, 8);
    assert_int_equal(f.lines[3].n_args, 2);
    assert_string_equal(f.lines[3].args[1].value, "b.test");
    /* the logical line ends after its second physical line */
    assert_int_equal(f.lines[4].lineno, 10);

    assert_int_equal(f.lines[4].n_args, 4);
    assert_string_equal(f.lines[4].args[0].value, "it");
    assert_string_equal(f.lines[4].args[1].value, "s");
    assert_string_equal(f.lines[4].args[2].value, "q\"x");
    assert_string_equal(f.lines[4].args[3].value, "c\\d");

    assert_int_equal(f.lines[5].kind, CERTO_APACHE_CLOSE);
    assert_string_equal(f.lines[5].name, "VirtualHost");
    assert_false(f.lines[6].eol);
    assert_int_equal(f.lines[6].end, strlen(text));
    certo_apache__file_dispose(&f);
}

static void
test_parse_errors(void **state)
{
    struct certo_apache_file f;
    struct certo_err err = {0};
    const char *bad = "Listen 80\n<VirtualHost *:443\n";

    CERTO_UNUSED(state);
    assert_int_equal(certo_apache__parse(&f, "/b.conf", bad, strlen(bad), &err), CERTO_EPARSE);
    assert_non_null(strstr(err.msg, "/b.conf:2"));
    certo_apache__file_dispose(&f);
    /* an escaped backslash does not continue the line */
    parse_ok(&f, "A x\\\\\nB y\n");
    assert_int_equal(f.n_lines, 2);
    assert_string_equal(f.lines[0].args[0].value, "x\\");
    certo_apache__file_dispose(&f);
    /* an unterminated quote runs to the end of the line */
    parse_ok(&f, "A \"open\nB\n");
    assert_int_equal(f.n_lines, 2);
    assert_string_equal(f.lines[0].args[0].value, "open");
    certo_apache__file_dispose(&f);
    /* text after the tag's last '>' is ignored, like httpd */
    parse_ok(&f, "<IfModule ssl_module> trailing\n");
    assert_int_equal(f.lines[0].n_args, 1);
    assert_string_equal(f.lines[0].args[0].value, "ssl_module");
    certo_apache__file_dispose(&f);
}

static void
test_apply_preserves_bytes(void **state)
{
    const char *text = "# keep\r\n"
                       "  SSLCertificateFile \"/old/a b.pem\"\r\n"
                       "  SSLEngine on\r\n"
                       "SSLCertificateKeyFile /old/\\\r\nk.pem\r\n"
                       "tail";
    struct certo_apache_file f;
    struct certo_apache_edit e[3];
    struct certo_buf out;
    struct certo_err err = {0};

    CERTO_UNUSED(state);
    parse_ok(&f, text);
    e[0] = (struct certo_apache_edit){f.lines[2].args[0].start, f.lines[2].args[0].end,
                                      certo_strdup("/new/k.pem")};
    e[1] = (struct certo_apache_edit){f.lines[0].args[0].start, f.lines[0].args[0].end,
                                      certo_strdup("\"/new/c.pem\"")};
    e[2] = (struct certo_apache_edit){f.lines[1].end, f.lines[1].end, certo_strdup("  X y\r\n")};
    certo_buf_init(&out, 4096);
    assert_int_equal(certo_apache__apply(&out, &f, e, 3, &err), CERTO_OK);
    assert_string_equal((char *)out.data, "# keep\r\n"
                                          "  SSLCertificateFile \"/new/c.pem\"\r\n"
                                          "  SSLEngine on\r\n"
                                          "  X y\r\n"
                                          "SSLCertificateKeyFile /new/k.pem\r\n"
                                          "tail");
    /* overlapping edits are refused */
    certo_buf_reset(&out);
    e[1].start = e[0].start;
    assert_int_equal(certo_apache__apply(&out, &f, e, 2, &err), CERTO_EINTERNAL);
    for (int i = 0; i < 3; i++)
        certo_free(e[i].text);
    certo_buf_dispose(&out);
    certo_apache__file_dispose(&f);
}

static void
test_check_value(void **state)
{
    static const char *const bad[] = {"",     "/a b", "/a\nb", "/a\"b", "/a'b",
                                      "/a;b", "/a{b", "/a}b",  "/a<b",  "/a>b",
                                      "/a#b", "/a$b", "/a\\b", "/a\tb", "/a\rb"};
    struct certo_err err = {0};

    CERTO_UNUSED(state);
    assert_int_equal(certo_apache__check_value("path", "/etc/ssl/x-1_2.pem", &err), CERTO_OK);
    for (size_t i = 0; i < CERTO_ARRAY_LEN(bad); i++) {
        certo_err_clear(&err);
        assert_int_equal(certo_apache__check_value("the key path", bad[i], &err), CERTO_EINVAL);
        assert_non_null(strstr(err.msg, "the key path"));
    }
}

static void
test_names(void **state)
{
    char *s;

    CERTO_UNUSED(state);
    assert_true(certo_apache__cert_covers("www.example.test", "WWW.example.TEST"));
    assert_true(certo_apache__cert_covers("*.example.test", "a.example.test"));
    assert_false(certo_apache__cert_covers("*.example.test", "a.b.example.test"));
    assert_false(certo_apache__cert_covers("*.example.test", "example.test"));
    assert_false(certo_apache__cert_covers("www.example.test", "*.example.test"));
    assert_true(certo_apache__alias_match("*.example.test", "a.b.example.test"));
    assert_true(certo_apache__alias_match("w?w.*.test", "WWW.x.test"));
    assert_false(certo_apache__alias_match("*.example.test", "example.test"));

    s = certo_apache__probe_name("www.example.test", "*.example.test");
    assert_string_equal(s, "www.example.test");
    certo_free(s);
    s = certo_apache__probe_name("*.example.test", "www.example.test");
    assert_string_equal(s, "www.example.test");
    certo_free(s);
    s = certo_apache__probe_name("*.example.test", "*.example.test");
    assert_string_equal(s, "certo-verify.example.test");
    certo_free(s);
    assert_null(certo_apache__probe_name("other.test", "www.example.test"));
    assert_null(certo_apache__probe_name("*.other.test", "*.example.test"));

    s = certo_apache__server_name_host("https://www.example.test:8443");
    assert_string_equal(s, "www.example.test");
    certo_free(s);
    s = certo_apache__server_name_host("[::1]:443");
    assert_string_equal(s, "[::1]");
    certo_free(s);
}

static void
test_split_addr(void **state)
{
    char *h = NULL;
    int port = 0;

    CERTO_UNUSED(state);
    assert_int_equal(certo_apache__split_addr(&h, &port, "[::1]:8443"), CERTO_OK);
    assert_string_equal(h, "::1");
    assert_int_equal(port, 8443);
    certo_free(h);
    assert_int_equal(certo_apache__split_addr(&h, &port, "_default_:443"), CERTO_OK);
    assert_string_equal(h, "*");
    assert_int_equal(port, 443);
    certo_free(h);
    assert_int_equal(certo_apache__split_addr(&h, &port, "127.0.0.1"), CERTO_OK);
    assert_string_equal(h, "127.0.0.1");
    assert_int_equal(port, 0);
    certo_free(h);
    assert_int_equal(certo_apache__split_addr(&h, &port, "*:99999"), CERTO_EPARSE);
    assert_int_equal(certo_apache__split_addr(&h, &port, "[::1"), CERTO_EPARSE);
    assert_null(h);
}

static const char *
lookup(const char *name, size_t len, const void *arg)
{
    CERTO_UNUSED(arg);
    if (len == 3 && memcmp(name, "DIR", 3) == 0)
        return "/srv";
    return NULL;
}

static void
test_expand_and_dump(void **state)
{
    const char *dump = "Included configuration files:\n"
                       "  (*) /r/apache2.conf\n"
                       "    (3) /r/x.conf\n"
                       "ServerRoot: \"/r\"\n";
    char *s, *root = NULL, *conf = NULL;
    struct certo_err err = {0};

    CERTO_UNUSED(state);
    s = certo_apache__expand("${DIR}/a/${NOPE}/$x${DIR", lookup, NULL);
    assert_string_equal(s, "/srv/a/${NOPE}/$x${DIR");
    certo_free(s);
    assert_int_equal(certo_apache__parse_dump(&root, &conf, dump, strlen(dump), &err), CERTO_OK);
    assert_string_equal(root, "/r");
    assert_string_equal(conf, "/r/apache2.conf");
    certo_free(root);
    certo_free(conf);
    assert_int_equal(certo_apache__parse_dump(&root, &conf, "x", 1, &err), CERTO_EPARSE);
}

/* ---- plan() on a tree in a temporary directory ---- */

struct fx {
    char *dir;
    struct certo_transport *t;
    struct certo_bundle bundle;
    struct certo_kv kv[2];
    char *ctl; /* owned */
    struct certo_connector_cfg cfg;
    const struct certo_connector_ops *ops;
    void *ctx;
};

static void
put(const struct fx *f, const char *name, const char *text, mode_t mode)
{
    char *p = certo_asprintf("%s/%s", f->dir, name);
    assert_int_equal(certo_file_replace(p, text, strlen(text), mode), CERTO_OK);
    certo_free(p);
}

static void
mk(const struct fx *f, const char *name)
{
    char *p = certo_asprintf("%s/%s", f->dir, name);
    assert_int_equal(mkdir(p, 0755), 0);
    certo_free(p);
}

static char *
site_text(const char *dir)
{
    return certo_asprintf("# the site\n"
                          "<VirtualHost *:8443>\n"
                          "    ServerName www.example.test\n"
                          "    SSLEngine on\n"
                          "    SSLCertificateFile \"%s/certs/old.pem\"\n"
                          "    SSLCertificateKeyFile ${CERTS}/old.key\n"
                          "</VirtualHost>\n"
                          "<VirtualHost 127.0.0.1:8443>\n"
                          "\tServerName untouched.test\n"
                          "\tSSLEngine on\n"
                          "\tSSLCertificateFile %s/certs/other.pem\n"
                          "</VirtualHost>\n",
                          dir, dir);
}

static int
setup(void **state)
{
    struct fx *f = certo_calloc(1, sizeof(*f));
    struct certo_err err = {0};
    char *s;

    f->dir = t_mkdtemp();
    assert_int_equal(certo_transport_open(&f->t, &certo_transport_local, NULL, &err), CERTO_OK);
    f->bundle.key = t_fixture_key("leaf-rsa2048.key");
    f->bundle.chain = t_fixture_certs("leaf-rsa2048.crt");
    STACK_OF(X509) *in = t_fixture_certs("int.crt");
    X509_up_ref(sk_X509_value(in, 0));
    sk_X509_push(f->bundle.chain, sk_X509_value(in, 0));
    certo_certs_free(in);

    s = certo_asprintf(
        "#!/bin/sh\n"
        "case \"$1\" in\n"
        "-t) printf 'Included configuration files:\\n  (*) %s/apache2.conf\\n'\n"
        "    printf 'ServerRoot: \"%s\"\\nDefine: FROMCLI\\nDefine: DUMP_RUN_CFG\\n' ;;\n"
        "-l) printf 'Compiled in modules:\\n  core.c\\n  mod_so.c\\n' ;;\n"
        "esac\n",
        f->dir, f->dir);
    put(f, "apachectl", s, 0755);
    certo_free(s);
    put(f, "apache2.conf",
        "Define CERTS_REL certs\n"
        "IncludeOptional mods-enabled/*.load\n"
        "<IfModule ssl_module>\n"
        "  IncludeOptional conf-enabled/*.conf\n"
        "</IfModule>\n"
        "<IfModule !so_module>\n"
        "  Include /nonexistent/never.conf\n"
        "</IfModule>\n"
        "<IfDefine FROMCLI>\n"
        "  IncludeOptional sites-enabled/\n"
        "</IfDefine>\n"
        "<IfDefine !FROMCLI>\n"
        "  Include /nonexistent/never2.conf\n"
        "</IfDefine>\n"
        "<Macro M $x>\n"
        "  Include /nonexistent/$x.conf\n"
        "</Macro>\n",
        0644);
    mk(f, "mods-enabled");
    put(f, "mods-enabled/ssl.load", "LoadModule ssl_module /usr/lib/apache2/modules/mod_ssl.so\n",
        0644);
    mk(f, "conf-enabled");
    s = certo_asprintf("Define CERTS %s/${CERTS_REL}\n", f->dir);
    put(f, "conf-enabled/certs.conf", s, 0644);
    certo_free(s);
    mk(f, "certs");
    put(f, "certs/old.pem", "", 0644);
    mk(f, "sites-enabled");
    s = site_text(f->dir);
    put(f, "sites-enabled/site.conf", s, 0644);
    certo_free(s);
    put(f, "sites-enabled/.hidden", "# read: a directory include takes every file\n", 0644);

    f->ops = certo_connector_find("apache");
    assert_non_null(f->ops);
    f->kv[0].key = "apachectl_path";
    f->ctl = certo_asprintf("%s/apachectl", f->dir);
    f->kv[0].value = f->ctl;
    f->cfg.endpoint_name = "web";
    f->cfg.opts = f->kv;
    f->cfg.n_opts = 1;
    f->cfg.script_timeout_ms = 10000;
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
    certo_free(f->ctl);
    EVP_PKEY_free(f->bundle.key);
    certo_certs_free(f->bundle.chain);
    certo_transport_close(f->t);
    t_rmdir(f->dir);
    certo_free(f);
    return 0;
}

static const struct certo_change *
change_for(const struct certo_plan *p, const char *path)
{
    for (size_t i = 0; i < p->n_changes; i++) {
        if (strcmp(p->changes[i].path, path) == 0)
            return &p->changes[i];
    }
    return NULL;
}

static void
test_plan_debian_tree(void **state)
{
    struct fx *f = *state;
    struct certo_install_req req = {&f->bundle, NULL};
    struct certo_plan p;
    struct certo_err err = {0};
    char *site = certo_asprintf("%s/sites-enabled/site.conf", f->dir);
    char *orig = site_text(f->dir);
    const struct certo_change *c;
    char hex[17] = {0};

    assert_int_equal(f->ops->plan(f->ctx, f->t, &req, &p, &err), CERTO_OK);
    assert_int_equal(p.n_changes, 3);
    for (size_t i = 0, o = 0; o < 16; i++) {
        if (p.fp_after[i] != ':')
            hex[o++] = (char)(p.fp_after[i] >= 'A' ? p.fp_after[i] + 32 : p.fp_after[i]);
    }
    char *cert = certo_asprintf("%s/certs/web-%s.fullchain.pem", f->dir, hex);
    char *key = certo_asprintf("%s/certs/web-%s.key", f->dir, hex);
    c = change_for(&p, cert);
    assert_non_null(c);
    assert_int_equal(c->meta.mode, 0644);
    assert_non_null(strstr((char *)c->data.data, "BEGIN CERTIFICATE"));
    c = change_for(&p, key);
    assert_non_null(c);
    assert_int_equal(c->meta.mode, 0600);
    c = change_for(&p, site);
    assert_non_null(c);
    /* exactly the two values change; the quotes stay; the other vhost is untouched */
    char *want = certo_asprintf("# the site\n"
                                "<VirtualHost *:8443>\n"
                                "    ServerName www.example.test\n"
                                "    SSLEngine on\n"
                                "    SSLCertificateFile \"%s\"\n"
                                "    SSLCertificateKeyFile %s\n"
                                "</VirtualHost>\n"
                                "<VirtualHost 127.0.0.1:8443>\n"
                                "\tServerName untouched.test\n"
                                "\tSSLEngine on\n"
                                "\tSSLCertificateFile %s/certs/other.pem\n"
                                "</VirtualHost>\n",
                                cert, key, f->dir);
    assert_string_equal((char *)c->data.data, want);
    assert_non_null(strstr(c->summary, "site.conf:5"));
    assert_non_null(strstr(c->summary, "-    SSLCertificateFile"));
    assert_non_null(strstr(c->summary, "+    SSLCertificateKeyFile"));
    assert_string_equal(p.alias, "www.example.test");
    certo_plan_dispose(&p);
    certo_free(want);
    certo_free(cert);
    certo_free(key);
    certo_free(site);
    certo_free(orig);
}

static void
test_plan_adds_directives(void **state)
{
    struct fx *f = *state;
    struct certo_install_req req = {&f->bundle, NULL};
    struct certo_plan p;
    struct certo_err err = {0};
    const struct certo_change *c;

    put(f, "sites-enabled/site.conf",
        "<VirtualHost *:8443>\r\n"
        "  ServerAlias *.example.test\r\n"
        "  SSLEngine on\r\n"
        "</VirtualHost>",
        0644);
    assert_int_equal(f->ops->plan(f->ctx, f->t, &req, &p, &err), CERTO_OK);
    char *site = certo_asprintf("%s/sites-enabled/site.conf", f->dir);
    c = change_for(&p, site);
    assert_non_null(c);
    /* no certificate to sit beside: the files go beside the vhost's file, CRLF kept */
    const char *s = (const char *)c->data.data;
    assert_non_null(strstr(s, "  SSLEngine on\r\n  SSLCertificateFile "));
    assert_non_null(strstr(s, "/sites-enabled/web-"));
    assert_non_null(strstr(s, ".key\r\n</VirtualHost>"));
    assert_int_equal(strncmp(s, "<VirtualHost *:8443>\r\n  ServerAlias *.example.test\r\n", 51), 0);
    certo_plan_dispose(&p);
    certo_free(site);
}

static void
test_plan_refusals(void **state)
{
    struct fx *f = *state;
    struct certo_install_req req = {&f->bundle, NULL};
    struct certo_plan p;
    struct certo_err err = {0};
    EVP_PKEY *right = f->bundle.key;

    /* no vhost serves the name */
    put(f, "sites-enabled/site.conf",
        "<VirtualHost *:8443>\n ServerName nope.test\n SSLEngine on\n</VirtualHost>\n", 0644);
    assert_int_equal(f->ops->plan(f->ctx, f->t, &req, &p, &err), CERTO_ENOTFOUND);
    assert_int_equal(p.n_changes, 0);
    /* a matching vhost without SSLEngine on is not a TLS site */
    put(f, "sites-enabled/site.conf",
        "<VirtualHost *:8443>\n ServerName www.example.test\n</VirtualHost>\n", 0644);
    certo_err_clear(&err);
    assert_int_equal(f->ops->plan(f->ctx, f->t, &req, &p, &err), CERTO_ENOTFOUND);
    /* a directory Certo cannot write into the configuration unquoted */
    mk(f, "my certs");
    char *s = certo_asprintf("<VirtualHost *:8443>\n ServerName www.example.test\n SSLEngine on\n"
                             " SSLCertificateFile \"%s/my certs/x.pem\"\n</VirtualHost>\n",
                             f->dir);
    put(f, "sites-enabled/site.conf", s, 0644);
    certo_free(s);
    certo_err_clear(&err);
    assert_int_equal(f->ops->plan(f->ctx, f->t, &req, &p, &err), CERTO_EINVAL);
    assert_non_null(strstr(err.msg, "certificate path"));
    /* a key of another certificate */
    f->bundle.key = t_fixture_key("leaf-ec256.key");
    certo_err_clear(&err);
    assert_int_equal(f->ops->plan(f->ctx, f->t, &req, &p, &err), CERTO_EINVAL);
    assert_non_null(strstr(err.msg, "does not match"));
    EVP_PKEY_free(f->bundle.key);
    f->bundle.key = right;
    /* an unclosed section is a parse error naming the file */
    put(f, "sites-enabled/site.conf", "<VirtualHost *:8443>\n", 0644);
    certo_err_clear(&err);
    assert_int_equal(f->ops->plan(f->ctx, f->t, &req, &p, &err), CERTO_EPARSE);
    assert_non_null(strstr(err.msg, "site.conf"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_basic),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_apply_preserves_bytes),
        cmocka_unit_test(test_check_value),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_split_addr),
        cmocka_unit_test(test_expand_and_dump),
        cmocka_unit_test_setup_teardown(test_plan_debian_tree, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_adds_directives, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_refusals, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
