/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the nginx connector (src/connector/nginx/): the configuration reader
 * (tokens, quoting, comments, includes with globs, nginx's error messages), server block
 * selection as nginx does it, the byte edits and their diff, and the connector's plan,
 * activate (with a stand-in nginx binary), restart and check through the local transport.
 * The real nginx is driven by tests/integration/60_nginx.sh.
 */
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"
#include "certo/sys/connector.h"
#include "certo/sys/transport.h"
#include "connector/nginx/nginx.h"

/* ---- an in-memory file system for the reader ---- */

/* Path and content pairs, NULL-terminated. */
struct memfs {
    const char *const *files;
    int reads; /* io->read calls */
};

static certo_rc
mem_read(void *arg, const char *path, struct certo_buf *out, struct certo_err *err)
{
    struct memfs *fs = arg;

    fs->reads++;
    for (size_t i = 0; fs->files[i] != NULL; i += 2) {
        if (strcmp(fs->files[i], path) == 0)
            return certo_buf_append_str(out, fs->files[i + 1]);
    }
    return certo_err_set(err, CERTO_ENOTFOUND, "test", "cannot read %s: No such file", path);
}

static certo_rc
mem_list(void *arg, const char *dir, const char *pattern, char ***names, size_t *n,
         struct certo_err *err)
{
    struct memfs *fs = arg;
    size_t dl = strlen(dir);

    (void)err;
    *names = NULL;
    *n = 0;
    for (size_t i = 0; fs->files[i] != NULL; i += 2) {
        const char *p = fs->files[i];
        char *entry;
        bool dup = false;
        if (strncmp(p, dir, dl) != 0 || p[dl] != '/')
            continue;
        entry = certo_strdup(p + dl + 1);
        if (strchr(entry, '/') != NULL)
            *strchr(entry, '/') = '\0'; /* a subdirectory */
        for (size_t k = 0; k < *n; k++)
            dup = dup || strcmp((*names)[k], entry) == 0;
        if (dup || fnmatch(pattern, entry, 0) != 0) {
            certo_free(entry);
            continue;
        }
        *names = certo_reallocarray(*names, *n + 1, sizeof(**names));
        (*names)[(*n)++] = entry;
    }
    return CERTO_OK;
}

static struct certo_nginx_conf *
load_ok(struct memfs *fs, const char *path)
{
    struct certo_nginx_io io = {mem_read, mem_list, fs};
    struct certo_nginx_conf *conf = NULL;
    struct certo_err err = {0};

    if (certo_nginx__conf_load(&conf, path, &io, &err) != CERTO_OK)
        fail_msg("load %s: %s", path, err.msg);
    return conf;
}

/* Loading must fail with 'rc' and a message containing 'msg'. */
static void
load_fails(const char *const *files, certo_rc rc, const char *msg)
{
    struct memfs fs = {files, 0};
    struct certo_nginx_io io = {mem_read, mem_list, &fs};
    struct certo_nginx_conf *conf = NULL;
    struct certo_err err = {0};

    assert_int_equal(certo_nginx__conf_load(&conf, files[0], &io, &err), rc);
    assert_null(conf);
    if (strstr(err.msg, msg) == NULL)
        fail_msg("error '%s' lacks '%s'", err.msg, msg);
}

/* The raw bytes of word 'w' of file 0. */
static char *
raw(const struct certo_nginx_conf *conf, const struct certo_nginx_word *w)
{
    return certo_strndup((const char *)conf->files[0]->data.data + w->start, w->end - w->start);
}

static void
assert_word(const struct certo_nginx_conf *conf, const struct certo_nginx_word *w, const char *text,
            const char *raw_text)
{
    char *r = raw(conf, w);
    assert_string_equal(w->text, text);
    assert_string_equal(r, raw_text);
    certo_free(r);
}

/* ---- the reader ---- */

static void
test_connector_nginx__tokens(void **state)
{
    static const char *const files[] = {"/etc/n/nginx.conf",
                                        "a \"b c\" 'd\\'e' f\\ g \"x\\\"y\" t\\tab\\;x;\n"
                                        "# a comment ; { }\n"
                                        "b#c d; # trailing\n"
                                        "set $a ${b}c;\n"
                                        "e \"q\"\n;\n"
                                        "blk  x {\n  inner 1;\n}\n",
                                        NULL};
    struct memfs fs = {files, 0};
    struct certo_nginx_conf *conf = load_ok(&fs, "/etc/n/nginx.conf");
    const struct certo_nginx_dir *d;

    (void)state;
    assert_string_equal(conf->prefix, "/etc/n/");
    assert_int_equal(conf->root.n_dirs, 5);
    d = conf->root.dirs[0];
    assert_int_equal(d->n_words, 6);
    assert_int_equal(d->line, 1);
    assert_word(conf, &d->words[0], "a", "a");
    assert_word(conf, &d->words[1], "b c", "\"b c\"");
    assert_true(d->words[1].quoted);
    assert_word(conf, &d->words[2], "d'e", "'d\\'e'");
    assert_word(conf, &d->words[3], "f\\ g", "f\\ g"); /* nginx keeps unknown escapes */
    assert_word(conf, &d->words[4], "x\"y", "\"x\\\"y\"");
    assert_word(conf, &d->words[5], "t\tab\\;x", "t\\tab\\;x");
    d = conf->root.dirs[1];
    assert_int_equal(d->line, 3);
    assert_int_equal(d->n_words, 2);
    assert_word(conf, &d->words[0], "b#c", "b#c");
    d = conf->root.dirs[2];
    assert_int_equal(d->n_words, 3);
    assert_word(conf, &d->words[2], "${b}c", "${b}c");
    assert_null(d->block);
    d = conf->root.dirs[3];
    assert_int_equal(d->line, 5);
    assert_word(conf, &d->words[1], "q", "\"q\"");
    d = conf->root.dirs[4];
    assert_int_equal(d->line, 7);
    assert_non_null(d->block);
    assert_int_equal(d->block->n_dirs, 1);
    assert_int_equal(d->block->dirs[0]->line, 8);
    assert_int_equal(conf->files[0]->data.data[d->block->close], '}');
    assert_int_equal(conf->files[0]->data.data[d->end - 1], '{');
    certo_nginx__conf_free(conf);
}

static void
test_connector_nginx__syntax_errors(void **state)
{
    (void)state;
    load_fails((const char *const[]){"/c/n.conf", "a b;\n}\n", NULL}, CERTO_EPARSE,
               "unexpected \"}\" in /c/n.conf:2");
    load_fails((const char *const[]){"/c/n.conf", "http {\n a b;\n", NULL}, CERTO_EPARSE,
               "unexpected end of file, expecting \"}\" in /c/n.conf:3");
    load_fails((const char *const[]){"/c/n.conf", "a b", NULL}, CERTO_EPARSE,
               "unexpected end of file, expecting \";\" or \"}\" in /c/n.conf:1");
    load_fails((const char *const[]){"/c/n.conf", "a \"b\"c;", NULL}, CERTO_EPARSE,
               "unexpected \"c\" in /c/n.conf:1");
    load_fails((const char *const[]){"/c/n.conf", "\n\n;", NULL}, CERTO_EPARSE,
               "unexpected \";\" in /c/n.conf:3");
    load_fails((const char *const[]){"/c/n.conf", "a 'open;\n", NULL}, CERTO_EPARSE,
               "unexpected end of file");
    load_fails((const char *const[]){"/c/n.conf", "include;", NULL}, CERTO_EPARSE,
               "invalid number of arguments in \"include\" directive in /c/n.conf:1");
    load_fails((const char *const[]){"/c/n.conf", "http {\n include missing.conf;\n}", NULL},
               CERTO_ENOTFOUND, "/c/missing.conf: No such file (included in /c/n.conf:2)");
    load_fails((const char *const[]){"/c/n.conf", "include n.conf;", NULL}, CERTO_ETOOBIG,
               "nested more than");
    load_fails((const char *const[]){"n.conf", "a b;\n", NULL}, CERTO_EINVAL,
               "n.conf is not an absolute path");
}

static void
test_connector_nginx__includes(void **state)
{
    static const char *const files[] = {
        "/etc/nginx/nginx.conf",
        "events {}\nhttp {\n    include conf.d/*.conf;\n    include sites-enabled/*;\n"
        "    include /etc/nginx/snippets/one.conf;\n    include nothing/*.conf;\n}\n",
        "/etc/nginx/conf.d/b.conf",
        "b;",
        "/etc/nginx/conf.d/a.conf",
        "a;",
        "/etc/nginx/conf.d/.hidden.conf",
        "hidden;",
        "/etc/nginx/conf.d/c.txt",
        "txt;",
        "/etc/nginx/sites-enabled/default",
        "server { listen 80; }",
        "/etc/nginx/snippets/one.conf",
        "one; include snippets/two.conf;",
        "/etc/nginx/snippets/two.conf",
        "two;",
        NULL};
    struct memfs fs = {files, 0};
    struct certo_nginx_conf *conf = load_ok(&fs, "/etc/nginx/nginx.conf");
    const struct certo_nginx_block *http = conf->root.dirs[1]->block;
    const char *want[] = {"include", "a",   "b",       "include", "server",
                          "include", "one", "include", "two",     "include"};

    (void)state;
    assert_int_equal(http->n_dirs, CERTO_ARRAY_LEN(want));
    for (size_t i = 0; i < CERTO_ARRAY_LEN(want); i++)
        assert_string_equal(http->dirs[i]->words[0].text, want[i]);
    /* Each directive knows its file; relative includes resolve against the main file's
     * directory, also inside an included file. */
    assert_string_equal(conf->files[http->dirs[1]->file]->path, "/etc/nginx/conf.d/a.conf");
    assert_string_equal(conf->files[http->dirs[8]->file]->path, "/etc/nginx/snippets/two.conf");
    assert_int_equal(conf->n_globs, 3);
    assert_string_equal(conf->globs[0], "/etc/nginx/conf.d/*.conf");
    assert_string_equal(conf->globs[2], "/etc/nginx/nothing/*.conf");
    certo_nginx__conf_free(conf);

    /* A file included twice is read once and parsed twice. */
    static const char *const twice[] = {"/x/n.conf", "include s.conf; include /x/s.conf;",
                                        "/x/s.conf", "s 1;", NULL};
    struct memfs fs2 = {twice, 0};
    conf = load_ok(&fs2, "/x/n.conf");
    assert_int_equal(fs2.reads, 2);
    assert_int_equal(conf->n_files, 2);
    assert_int_equal(conf->root.n_dirs, 4);
    assert_int_equal(conf->root.dirs[1]->file, conf->root.dirs[3]->file);
    certo_nginx__conf_free(conf);
}

/* ---- server blocks ---- */

static const char *const site_files[] = {
    "/n/nginx.conf",
    "http {\n"
    "  ssl_certificate /n/default.pem;\n"
    "  server { listen 443 ssl; server_name www.example.com example.com; }\n" /* 0 */
    "  server { listen 443; server_name *.example.com; }\n"                   /* 1 */
    "  server { listen 443; server_name .example.org; }\n"                    /* 2 */
    "  server { listen 443; server_name *.sub.example.com; }\n"               /* 3 */
    "  server { listen 443; server_name mail.*; }\n"                          /* 4 */
    "  server { listen 443; server_name ~^api\\d+\\.example\\.net$; }\n"      /* 5 */
    "  server { listen 443; server_name \"~^(?<u>.+)\\.example\\.net$\"; }\n" /* 6 */
    "  server { listen 443; server_name ~^.+\\.example\\.net$; }\n"           /* 7 */
    "  server { listen 80; server_name plain.example.com; }\n"                /* 8 */
    "  server { listen [::1]:8443 ssl http2; listen 127.0.0.2:8443 ssl;\n"
    "           server_name v6.example.com; }\n"                                 /* 9 */
    "  server { listen 8444 ssl proxy_protocol; server_name pp.example.com; }\n" /* 10 */
    "  server { listen unix:/run/x.sock; listen 127.0.0.1; ssl on; server_name u.example.com; }\n"
    "}\n"
    "stream { server { listen 443 ssl; } }\n",
    NULL};

static void
sites_load(struct certo_nginx_conf **conf, struct certo_nginx_sites *s, const char *const *files)
{
    struct memfs fs = {files, 0};
    struct certo_err err = {0};

    *conf = load_ok(&fs, files[0]);
    if (certo_nginx__sites_find(s, *conf, &err) != CERTO_OK)
        fail_msg("sites: %s", err.msg);
}

/* Matches 'names' afresh; returns a bit mask of the matched blocks. */
static unsigned long
match_mask(struct certo_nginx_sites *s, const char *const *names, size_t n,
           struct certo_nginx_target **t, size_t *n_t)
{
    unsigned long mask = 0;

    for (size_t i = 0; i < s->n; i++)
        s->servers[i].matched = false;
    certo_nginx__match(s, names, n, t, n_t);
    for (size_t i = 0; i < s->n; i++)
        mask |= s->servers[i].matched ? 1ul << i : 0;
    return mask;
}

static unsigned long
match1(struct certo_nginx_sites *s, const char *name)
{
    struct certo_nginx_target *t = NULL;
    size_t n = 0;
    unsigned long m = match_mask(s, &name, 1, &t, &n);
    certo_nginx__targets_free(t, n);
    return m;
}

static void
test_connector_nginx__sites(void **state)
{
    struct certo_nginx_conf *conf;
    struct certo_nginx_sites s;
    const struct certo_nginx_server *srv;

    (void)state;
    sites_load(&conf, &s, site_files);
    assert_int_equal(s.n, 12); /* not the stream server */
    assert_non_null(s.http_cert);
    srv = &s.servers[0];
    assert_int_equal(srv->n_listens, 1);
    assert_string_equal(srv->listens[0].addr, "*");
    assert_int_equal(srv->listens[0].port, 443);
    assert_true(srv->listens[0].ssl);
    assert_int_equal(srv->n_names, 2);
    srv = &s.servers[9];
    assert_int_equal(srv->n_listens, 2);
    assert_string_equal(srv->listens[0].addr, "::1");
    assert_int_equal(srv->listens[0].port, 8443);
    assert_string_equal(srv->listens[1].addr, "127.0.0.2");
    assert_true(s.servers[10].listens[0].proxy_protocol);
    srv = &s.servers[11];
    assert_int_equal(srv->n_listens, 1); /* the unix socket is not a TLS listen */
    assert_int_equal(srv->listens[0].port, 80);
    assert_true(srv->ssl_on);
    assert_int_equal(s.servers[2].names[0].kind, CERTO_NGINX_NAME_HEAD);
    assert_true(s.servers[2].names[0].dot_form);
    assert_int_equal(s.servers[4].names[0].kind, CERTO_NGINX_NAME_TAIL);
    assert_string_equal(s.servers[4].names[0].text, "mail");
    assert_true(s.servers[5].names[0].re_ok); /* \d is translated */
    assert_false(s.servers[6].names[0].re_ok);
    assert_int_equal(s.n_notes, 1);
    assert_non_null(strstr(s.notes[0], "server_name ~^(?<u>.+)\\.example\\.net$ in "
                                       "/n/nginx.conf:9 uses PCRE-only syntax"));

    /* nginx's order: exact, longest leading wildcard, trailing wildcard, first regex. */
    assert_int_equal(match1(&s, "www.example.com"), 1ul << 0);
    assert_int_equal(match1(&s, "example.com"), 1ul << 0);
    assert_int_equal(match1(&s, "a.example.com"), 1ul << 1);
    assert_int_equal(match1(&s, "a.b.example.com"), 1ul << 1); /* several labels */
    assert_int_equal(match1(&s, "a.sub.example.com"), 1ul << 3);
    assert_int_equal(match1(&s, "example.org"), 1ul << 2);
    assert_int_equal(match1(&s, "x.y.example.org"), 1ul << 2);
    assert_int_equal(match1(&s, "mail.example.net"), 1ul << 4);
    assert_int_equal(match1(&s, "api12.example.net"), 1ul << 5);
    assert_int_equal(match1(&s, "x.example.net"), 1ul << 7);
    assert_int_equal(match1(&s, "plain.example.com"), 1ul << 1); /* 8 listens without ssl */
    /* v6 and u are served on their own listens, and by the wildcard block on *:443. */
    assert_int_equal(match1(&s, "v6.example.com"), (1ul << 1) | (1ul << 9));
    assert_int_equal(match1(&s, "u.example.com"), (1ul << 1) | (1ul << 11));
    assert_int_equal(match1(&s, "nothing.invalid"), 0);

    /* A wildcard certificate: the wildcard block and every exact name it covers (one
     * label), and the handshakes that prove it. */
    {
        const char *names[] = {"*.example.com"};
        struct certo_nginx_target *t = NULL;
        size_t n = 0;
        static const struct {
            const char *host;
            int port;
            const char *sni;
        } want[] = {{"127.0.0.1", 443, "certo-verify.example.com"},
                    {"127.0.0.1", 443, "www.example.com"},
                    {"127.0.0.1", 443, "plain.example.com"}, /* served by the wildcard block */
                    {"127.0.0.1", 443, "v6.example.com"},
                    {"::1", 8443, "v6.example.com"},
                    {"127.0.0.2", 8443, "v6.example.com"},
                    {"127.0.0.1", 443, "pp.example.com"},
                    {"127.0.0.1", 443, "u.example.com"},
                    {"127.0.0.1", 80, "u.example.com"}};
        assert_int_equal(match_mask(&s, names, 1, &t, &n),
                         (1ul << 0) | (1ul << 1) | (1ul << 9) | (1ul << 10) | (1ul << 11));
        assert_int_equal(n, CERTO_ARRAY_LEN(want));
        for (size_t i = 0; i < n; i++) {
            assert_string_equal(t[i].host, want[i].host);
            assert_int_equal(t[i].port, want[i].port);
            assert_string_equal(t[i].sni, want[i].sni);
        }
        certo_nginx__targets_free(t, n);
    }
    {
        const char *names[] = {"v6.example.com", "pp.example.com"};
        struct certo_nginx_target *t = NULL;
        size_t n = 0;
        assert_int_equal(match_mask(&s, names, 2, &t, &n), (1ul << 1) | (1ul << 9) | (1ul << 10));
        /* Nothing to verify behind the PROXY protocol (port 8444). */
        assert_int_equal(n, 4);
        assert_string_equal(t[0].host, "127.0.0.1");
        assert_string_equal(t[1].host, "::1");
        assert_string_equal(t[2].host, "127.0.0.2");
        assert_int_equal(t[3].port, 443);
        assert_string_equal(t[3].sni, "pp.example.com");
        assert_non_null(strstr(s.notes[s.n_notes - 1], "PROXY protocol"));
        certo_nginx__targets_free(t, n);
    }
    certo_nginx__sites_dispose(&s);
    certo_nginx__conf_free(conf);
}

static void
test_connector_nginx__covers(void **state)
{
    (void)state;
    assert_true(certo_nginx__covers("www.example.com", "WWW.example.com"));
    assert_true(certo_nginx__covers("*.example.com", "a.example.com"));
    assert_false(certo_nginx__covers("*.example.com", "a.b.example.com"));
    assert_false(certo_nginx__covers("*.example.com", "example.com"));
    assert_true(certo_nginx__covers("*.example.com", "*.example.com"));
    assert_false(certo_nginx__covers("a.example.com", "*.example.com"));
}

static void
test_connector_nginx__listen_errors(void **state)
{
    static const char *const bad[] = {"listen 0 ssl", "listen 70000",  "listen a:b",
                                      "listen [::1",  "listen [::1]x", "listen :443"};

    (void)state;
    for (size_t i = 0; i < CERTO_ARRAY_LEN(bad); i++) {
        char *text = certo_asprintf("http {\n server {\n  %s;\n }\n}\n", bad[i]);
        const char *files[] = {"/n/n.conf", text, NULL};
        struct memfs fs = {files, 0};
        struct certo_nginx_conf *conf = load_ok(&fs, "/n/n.conf");
        struct certo_nginx_sites s;
        struct certo_err err = {0};
        assert_int_equal(certo_nginx__sites_find(&s, conf, &err), CERTO_EPARSE);
        assert_non_null(strstr(err.msg, "of the \"listen\" directive in /n/n.conf:3"));
        certo_nginx__conf_free(conf);
        certo_free(text);
    }
}

/* ---- edits ---- */

/* Plans and applies edits for 'names'; returns the new text of file 'file'. */
static char *
edited(const struct certo_nginx_conf *conf, struct certo_nginx_sites *s, const char *name,
       size_t file, certo_rc want, struct certo_err *err)
{
    struct certo_nginx_edit *e = NULL;
    struct certo_nginx_target *t = NULL;
    size_t n = 0, n_t = 0, k = 0;
    struct certo_buf b;
    char *out;

    for (size_t i = 0; i < s->n; i++)
        s->servers[i].matched = false;
    certo_nginx__match(s, &name, 1, &t, &n_t);
    certo_nginx__targets_free(t, n_t);
    assert_int_equal(certo_nginx__plan_edits(&e, &n, conf, s, "/n/new.pem", "/n/new key.pem", err),
                     want);
    if (want != CERTO_OK)
        return NULL;
    while (k < n && e[k].file != file)
        k++;
    size_t end = k;
    while (end < n && e[end].file == file)
        end++;
    certo_buf_init(&b, 1u << 20);
    assert_int_equal(certo_nginx__apply(&b, conf->files[file], e + k, end - k), CERTO_OK);
    out = certo_strndup(b.len > 0 ? (const char *)b.data : "", b.len);
    certo_buf_dispose(&b);
    certo_nginx__edits_free(e, n);
    return out;
}

static void
test_connector_nginx__edits(void **state)
{
    static const char *const files[] = {
        "/n/nginx.conf",
        "http {\n"
        "    server {\n"
        "        listen 443 ssl;\n"
        "        server_name a.test;  # the site\n"
        "        ssl_certificate \"/old/a.pem\";\n"
        "        ssl_certificate_key /old/a.key;\n"
        "    }\n"
        "\tserver {\r\n"
        "\t\tlisten 443 ssl;\r\n"
        "\t\tserver_name b.test;\r\n"
        "\t\tssl_certificate_key /old/b.key;\r\n"
        "\t}\r\n"
        "    server { listen 443 ssl; server_name c.test; location / { } }\n"
        "    server { listen 443 ssl; include /n/names.conf; }\n"
        "    server { listen 443 ssl; server_name e.test; include /n/shared.conf; }\n"
        "    server { listen 443 ssl; server_name f.test; include /n/shared.conf; }\n"
        "    server { listen 443 ssl; server_name g.test; include /n/last.conf; }\n"
        "}\n",
        "/n/names.conf",
        "server_name d.test;",
        "/n/shared.conf",
        "ssl_certificate /old/s.pem;",
        "/n/last.conf",
        "server_name g2.test;",
        NULL};
    struct certo_nginx_conf *conf;
    struct certo_nginx_sites s;
    struct certo_err err = {0};
    char *out;

    (void)state;
    sites_load(&conf, &s, files);

    /* Values replaced (quotes included), nothing else touched. */
    out = edited(conf, &s, "a.test", 0, CERTO_OK, &err);
    assert_non_null(strstr(out, "        server_name a.test;  # the site\n"
                                "        ssl_certificate /n/new.pem;\n"
                                "        ssl_certificate_key \"/n/new key.pem\";\n"
                                "    }\n\tserver {\r\n"));
    assert_int_equal(strlen(out), conf->files[0]->data.len - strlen("\"/old/a.pem\"") -
                                      strlen("/old/a.key") + strlen("/n/new.pem") +
                                      strlen("\"/n/new key.pem\""));
    certo_free(out);

    /* A missing directive is added after the server_name line, indented like it, with
     * the file's line ends. */
    out = edited(conf, &s, "b.test", 0, CERTO_OK, &err);
    assert_non_null(strstr(out, "\t\tserver_name b.test;\r\n"
                                "\t\tssl_certificate /n/new.pem;\r\n"
                                "\t\tssl_certificate_key \"/n/new key.pem\";\r\n"));
    certo_free(out);

    /* More on the server_name line: the directives go on that line. */
    out = edited(conf, &s, "c.test", 0, CERTO_OK, &err);
    assert_non_null(strstr(out, "server_name c.test; ssl_certificate /n/new.pem; "
                                "ssl_certificate_key \"/n/new key.pem\"; location / { } }\n"));
    certo_free(out);

    /* server_name in a file of its own (included once): the directives go there. */
    out = edited(conf, &s, "d.test", 1, CERTO_OK, &err);
    assert_string_equal(out, "server_name d.test;\nssl_certificate /n/new.pem;\n"
                             "ssl_certificate_key \"/n/new key.pem\";\n");
    certo_free(out);

    /* A snippet another block includes too is refused. */
    assert_null(edited(conf, &s, "e.test", 0, CERTO_ECONFLICT, &err));
    assert_non_null(strstr(err.msg, "ssl_certificate of the server block in /n/nginx.conf:15 is "
                                    "shared with the server block in /n/nginx.conf:16"));
    certo_nginx__sites_dispose(&s);
    certo_nginx__conf_free(conf);

    /* A quote or a ';' cannot go into the configuration. */
    assert_null(certo_nginx__quote_path("/a/b\"c"));
    assert_null(certo_nginx__quote_path("/a/b;c"));
    assert_null(certo_nginx__quote_path("/a/$x"));
    assert_null(certo_nginx__quote_path("/a/{x}"));
    assert_null(certo_nginx__quote_path("/a/\nx"));
    assert_null(certo_nginx__quote_path("relative"));
    out = certo_nginx__quote_path("/a b/c");
    assert_string_equal(out, "\"/a b/c\"");
    certo_free(out);
}

static void
test_connector_nginx__insert_at_eof_and_shared_names(void **state)
{
    static const char *const files[] = {"/n/nginx.conf",
                                        "http {\n"
                                        "    server {\n"
                                        "        listen 443 ssl;\n"
                                        "        include /n/names.conf;\n"
                                        "    }\n"
                                        "    server {\n"
                                        "        listen 443 ssl;\n"
                                        "        include /n/names.conf;\n"
                                        "        server_name other.test;\n"
                                        "    }\n"
                                        "    server { listen 443 ssl; include /n/eof.conf; }\n"
                                        "}\n",
                                        "/n/names.conf",
                                        "server_name a.test b.test;\n",
                                        "/n/eof.conf",
                                        "server_name e.test;",
                                        NULL};
    struct certo_nginx_conf *conf;
    struct certo_nginx_sites s;
    struct certo_err err = {0};
    char *out;

    (void)state;
    sites_load(&conf, &s, files);
    /* a.test: the first block (exact name, first wins); names.conf is shared with the
     * second block, so the directives go after the block's '{'. */
    out = edited(conf, &s, "a.test", 0, CERTO_OK, &err);
    assert_non_null(strstr(out, "    server {\n"
                                "        ssl_certificate /n/new.pem;\n"
                                "        ssl_certificate_key \"/n/new key.pem\";\n"
                                "        listen 443 ssl;\n"));
    certo_free(out);
    /* No line end after the server_name at the end of a file. */
    out = edited(conf, &s, "e.test", 2, CERTO_OK, &err);
    assert_string_equal(out, "server_name e.test;\nssl_certificate /n/new.pem;\n"
                             "ssl_certificate_key \"/n/new key.pem\";\n");
    certo_free(out);
    certo_nginx__sites_dispose(&s);
    certo_nginx__conf_free(conf);
}

static void
test_connector_nginx__diff(void **state)
{
    static const char *const files[] = {"/n/nginx.conf",
                                        "http {\n"
                                        "  server {\n"
                                        "    listen 443 ssl;\n"
                                        "    server_name a.test;\n"
                                        "    root /srv;\n"
                                        "  }\n"
                                        "  server {\n"
                                        "    listen 443 ssl;\n"
                                        "    server_name b.test;\n"
                                        "    ssl_certificate /old.pem;\n"
                                        "    ssl_certificate_key /old.key;\n"
                                        "  }\n"
                                        "}\n",
                                        NULL};
    struct certo_nginx_conf *conf;
    struct certo_nginx_sites s;
    struct certo_nginx_edit *e = NULL;
    struct certo_nginx_target *t = NULL;
    struct certo_err err = {0};
    struct certo_buf b;
    const char *names[] = {"a.test", "b.test"};
    size_t n = 0, n_t = 0;

    (void)state;
    sites_load(&conf, &s, files);
    certo_nginx__match(&s, names, 2, &t, &n_t);
    assert_int_equal(certo_nginx__plan_edits(&e, &n, conf, &s, "/n/c.pem", "/n/c.key", &err),
                     CERTO_OK);
    assert_int_equal(n, 3);
    certo_buf_init(&b, 1u << 20);
    assert_int_equal(certo_nginx__diff(&b, conf->files[0], e, n), CERTO_OK);
    assert_string_equal((const char *)b.data, "@@ line 4 @@\n"
                                              "     server_name a.test;\n"
                                              "+    ssl_certificate /n/c.pem;\n"
                                              "+    ssl_certificate_key /n/c.key;\n"
                                              "     root /srv;\n"
                                              "@@ line 10 @@\n"
                                              "-    ssl_certificate /old.pem;\n"
                                              "-    ssl_certificate_key /old.key;\n"
                                              "+    ssl_certificate /n/c.pem;\n"
                                              "+    ssl_certificate_key /n/c.key;\n");
    certo_buf_dispose(&b);
    certo_nginx__edits_free(e, n);
    certo_nginx__targets_free(t, n_t);
    certo_nginx__sites_dispose(&s);
    certo_nginx__conf_free(conf);
}

/* ---- the connector through the local transport ---- */

struct fx {
    char *dir;
    struct certo_transport *t;
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
    certo_transport_close(f->t);
    t_rmdir(f->dir);
    certo_free(f);
    return 0;
}

static char *
put(const struct fx *f, const char *name, const char *text, mode_t mode)
{
    char *p = certo_asprintf("%s/%s", f->dir, name);
    assert_int_equal(certo_file_replace(p, text, strlen(text), mode), CERTO_OK);
    return p;
}

/* One configured nginx endpoint. */
struct ep {
    const struct certo_connector_ops *ops;
    struct certo_kv kv[2];
    struct certo_connector_cfg cfg;
    void *ctx;
};

static void
ep_open(struct ep *ep, const char *conf, const char *binary)
{
    struct certo_err err = {0};

    memset(ep, 0, sizeof(*ep));
    ep->ops = certo_connector_find("nginx");
    assert_non_null(ep->ops);
    ep->kv[0] = (struct certo_kv){"nginx_config_path", conf};
    ep->kv[1] = (struct certo_kv){"nginx_binary", binary};
    ep->cfg.endpoint_name = "web";
    ep->cfg.opts = ep->kv;
    ep->cfg.n_opts = binary != NULL ? 2 : 1;
    ep->cfg.script_timeout_ms = 10000;
    ep->ctx = certo_calloc(1, ep->ops->ctx_size);
    if (ep->ops->configure(ep->ctx, &ep->cfg, &err) != CERTO_OK)
        fail_msg("configure: %s", err.msg);
}

static void
ep_close(struct ep *ep)
{
    ep->ops->cleanup(ep->ctx);
    certo_free(ep->ctx);
}

static struct certo_bundle *
bundle(const char *cert, const char *key, const char *chain)
{
    struct certo_bundle_src src = {0};
    struct certo_bundle *b = NULL;
    struct certo_err err = {0};
    char certp[4096], keyp[4096], chainp[4096];
    snprintf(certp, sizeof(certp), "%s", t_fixture(cert));
    snprintf(keyp, sizeof(keyp), "%s", t_fixture(key));
    snprintf(chainp, sizeof(chainp), "%s", t_fixture(chain));
    src.cert_path = certp;
    src.key_path = keyp;
    src.chain_path = chainp;
    src.key_required = true;
    if (certo_bundle_load(&b, &src, &err) != CERTO_OK)
        fail_msg("bundle %s: %s", cert, err.msg);
    return b;
}

static const struct certo_change *
change(const struct certo_plan *p, const char *suffix)
{
    for (size_t i = 0; i < p->n_changes; i++) {
        size_t n = strlen(p->changes[i].path), k = strlen(suffix);
        if (n >= k && strcmp(p->changes[i].path + n - k, suffix) == 0)
            return &p->changes[i];
    }
    fail_msg("no change of *%s", suffix);
    return NULL;
}

static void
test_connector_nginx__plan(void **state)
{
    struct fx *f = *state;
    char *old_pem = certo_asprintf("%s/old.pem", f->dir);
    char *site_text = certo_asprintf("server {\n"
                                     "    listen 127.0.0.1:8443 ssl;\n"
                                     "    server_name www.example.test example.test;\n"
                                     "    ssl_certificate %s;\n"
                                     "    ssl_certificate_key old.key;\n"
                                     "}\n"
                                     "server { listen 8443 ssl; server_name other.test; }\n",
                                     old_pem);
    char *conf_path, *site, *want;
    struct certo_buf b;
    struct certo_bundle *bu = bundle("leaf-rsa2048.crt", "leaf-rsa2048.key", "chain.pem");
    struct certo_install_req req = {bu, NULL};
    struct certo_plan p;
    struct certo_err err = {0};
    struct ep ep;

    want = certo_asprintf("%s/sites", f->dir);
    assert_int_equal(mkdir(want, 0755), 0);
    certo_free(want);
    t_read_fixture(&b, "leaf-ec256.crt");
    certo_free(put(f, "old.pem", (const char *)b.data, 0644));
    certo_buf_dispose(&b);
    site = put(f, "sites/www", site_text, 0644);
    conf_path = put(f, "nginx.conf", "events {}\nhttp {\n    include sites/*;\n}\n", 0644);
    ep_open(&ep, conf_path, NULL);
    assert_int_equal(ep.ops->plan(ep.ctx, f->t, &req, &p, &err), CERTO_OK);
    assert_string_equal(p.alias, "www.example.test");
    assert_int_equal(p.n_changes, 3);
    /* Material first (new names: nothing live changes until the configuration does). */
    assert_true(strncmp(p.changes[0].path, f->dir, strlen(f->dir)) == 0);
    assert_non_null(strstr(p.changes[0].path, "/certo-www.example.test-"));
    assert_int_equal(p.changes[0].meta.mode, 0644);
    assert_non_null(strstr(p.changes[0].summary, "certificate and 1 chain certificate (new file)"));
    assert_int_equal(p.changes[1].meta.mode, 0600);
    assert_non_null(strstr((const char *)p.changes[1].data.data, "-----BEGIN PRIVATE KEY-----"));
    assert_string_equal(p.changes[2].path, site);
    want = certo_asprintf("server {\n"
                          "    listen 127.0.0.1:8443 ssl;\n"
                          "    server_name www.example.test example.test;\n"
                          "    ssl_certificate %s;\n"
                          "    ssl_certificate_key %s;\n"
                          "}\n"
                          "server { listen 8443 ssl; server_name other.test; }\n",
                          p.changes[0].path, p.changes[1].path);
    assert_string_equal((const char *)p.changes[2].data.data, want);
    assert_non_null(strstr(p.changes[2].summary, "\n-    ssl_certificate "));
    /* The chain file: leaf and intermediate, not the root. */
    assert_int_equal(strlen((const char *)p.changes[0].data.data) > 0, 1);
    {
        STACK_OF(X509) *certs = NULL;
        assert_int_equal(
            certo_cert_parse_all(&certs, p.changes[0].data.data, p.changes[0].data.len, &err),
            CERTO_OK);
        assert_int_equal(sk_X509_num(certs), 2);
        certo_certs_free(certs);
    }
    assert_true(p.fp_before[0] != '\0'); /* old.pem's certificate */
    assert_true(strcmp(p.fp_before, p.fp_after) != 0);
    certo_free(want);
    certo_plan_dispose(&p);

    /* --alias names the files; a bad one is refused. */
    req.alias = "site-2026";
    assert_int_equal(ep.ops->plan(ep.ctx, f->t, &req, &p, &err), CERTO_OK);
    assert_non_null(strstr(change(&p, ".pem")->path, "/certo-site-2026-"));
    certo_plan_dispose(&p);
    req.alias = "../x";
    assert_int_equal(ep.ops->plan(ep.ctx, f->t, &req, &p, &err), CERTO_EINVAL);
    assert_non_null(strstr(err.msg, "--alias '../x'"));
    req.alias = NULL;
    ep_close(&ep);
    certo_bundle_free(bu);

    /* No block serves the name. */
    certo_err_clear(&err);
    bu = bundle("leaf-ec256.crt", "leaf-ec256.key", "chain.pem");
    req.bundle = bu;
    ep_open(&ep, conf_path, NULL);
    assert_int_equal(ep.ops->plan(ep.ctx, f->t, &req, &p, &err), CERTO_ENOTFOUND);
    want = certo_asprintf("no server block of %s serves ec256.example.test with ssl", conf_path);
    assert_string_equal(err.msg, want);
    certo_free(want);
    ep_close(&ep);
    certo_bundle_free(bu);

    /* The new files must not land where an include reads configuration. */
    certo_err_clear(&err);
    certo_free(put(f, "nginx.conf", "http { include sites/*; include certo-*.key; }\n", 0644));
    bu = bundle("leaf-rsa2048.crt", "leaf-rsa2048.key", "chain.pem");
    req.bundle = bu;
    ep_open(&ep, conf_path, NULL);
    assert_int_equal(ep.ops->plan(ep.ctx, f->t, &req, &p, &err), CERTO_EINVAL);
    assert_non_null(strstr(err.msg, "would be read as configuration by include"));
    ep_close(&ep);
    certo_bundle_free(bu);

    certo_free(site);
    certo_free(conf_path);
    certo_free(site_text);
    certo_free(old_pem);
}

/* A stand-in for nginx: logs its arguments, fails as $dir/fail says. */
static char *
fake_nginx(const struct fx *f)
{
    char *body = certo_asprintf(
        "#!/bin/sh\n"
        "echo \"$*\" >> %s/calls\n"
        "if [ -e %s/fail-t ] && [ \"$1\" = -t ]; then\n"
        "  echo 'nginx: [warn] something' >&2\n"
        "  echo 'nginx: [emerg] cannot load certificate \"/x.pem\"' >&2\n"
        "  echo 'nginx: configuration file /x test failed' >&2; exit 1; fi\n"
        "if [ -e %s/fail-s ] && [ \"$1\" = -s ]; then\n"
        "  echo '2026/11/24 21:12:07 [alert] 99#99: kill(123, 1) failed (3: No such process)' >&2;"
        " exit 1; fi\n"
        "exit 0\n",
        f->dir, f->dir, f->dir);
    char *p = put(f, "nginx", body, 0755);
    certo_free(body);
    return p;
}

static void
test_connector_nginx__activate(void **state)
{
    struct fx *f = *state;
    char *bin = fake_nginx(f), *conf = put(f, "nginx.conf", "http {}\n", 0644), *want;
    char *calls_path = certo_asprintf("%s/calls", f->dir), *fail_t;
    struct certo_plan p = {0};
    struct certo_buf log, calls;
    struct certo_err err = {0};
    struct ep ep;

    certo_buf_init(&log, 1u << 16);
    ep_open(&ep, conf, bin);
    assert_int_equal(ep.ops->activate(ep.ctx, f->t, &p, &log, &err), CERTO_OK);
    assert_int_equal(ep.ops->reactivate(ep.ctx, f->t, &log, &err), CERTO_OK);
    assert_int_equal(ep.ops->restart(ep.ctx, f->t, &log, &err), CERTO_OK);
    t_read_file(&calls, calls_path);
    want = certo_asprintf("-t -c %s\n-s reload -c %s -g error_log stderr;\n-t -c %s\n"
                          "-s reload -c %s -g error_log stderr;\n"
                          "-s reload -c %s -g error_log stderr;\n",
                          conf, conf, conf, conf, conf);
    assert_string_equal((const char *)calls.data, want);
    certo_free(want);
    certo_buf_dispose(&calls);
    want = certo_asprintf("$ %s -t -c %s\nexit 0\n$ %s -s reload -c %s -g 'error_log stderr;'\n"
                          "exit 0\n",
                          bin, conf, bin, conf);
    assert_true(strncmp((const char *)log.data, want, strlen(want)) == 0);
    certo_free(want);

    /* nginx -t fails: its [emerg] line is the message, and no reload follows. */
    fail_t = put(f, "fail-t", "", 0644);
    certo_free(put(f, "calls", "", 0644));
    assert_int_equal(ep.ops->activate(ep.ctx, f->t, &p, &log, &err), CERTO_EREMOTE);
    assert_string_equal(err.msg, "nginx -t failed: [emerg] cannot load certificate \"/x.pem\"");
    t_read_file(&calls, calls_path);
    want = certo_asprintf("-t -c %s\n", conf);
    assert_string_equal((const char *)calls.data, want);
    certo_free(want);
    certo_buf_dispose(&calls);

    /* The reload fails. */
    certo_err_clear(&err);
    assert_int_equal(remove(fail_t), 0);
    certo_free(fail_t);
    certo_free(put(f, "fail-s", "", 0644));
    assert_int_equal(ep.ops->reactivate(ep.ctx, f->t, &log, &err), CERTO_EREMOTE);
    assert_string_equal(err.msg, "nginx -s reload failed: [alert] kill(123, 1) failed (3: "
                                 "No such process)");
    certo_err_clear(&err);
    assert_int_equal(ep.ops->restart(ep.ctx, f->t, &log, &err), CERTO_EREMOTE);
    ep_close(&ep);

    /* A missing binary. */
    certo_err_clear(&err);
    ep_open(&ep, conf, "/nonexistent/nginx");
    assert_int_equal(ep.ops->restart(ep.ctx, f->t, &log, &err), CERTO_ENOTFOUND);
    assert_non_null(strstr(err.msg, "cannot run /nonexistent/nginx"));
    ep_close(&ep);

    /* Nothing to verify before a plan. */
    ep_open(&ep, conf, bin);
    assert_int_equal(ep.ops->verify(ep.ctx, f->t, &p, &err), CERTO_OK);
    ep_close(&ep);
    certo_buf_dispose(&log);
    certo_free(calls_path);
    certo_free(bin);
    certo_free(conf);
}

static void
test_connector_nginx__configure_errors(void **state)
{
    const struct certo_connector_ops *ops = certo_connector_find("nginx");
    struct certo_kv kv[2] = {{"nginx_config_path", "nginx.conf"}, {"nginx_binary", "nginx"}};
    struct certo_connector_cfg cfg = {"web", kv, 1, NULL, 0};
    struct certo_err err = {0};
    void *ctx = certo_calloc(1, ops->ctx_size);

    (void)state;
    assert_true((ops->caps & CERTO_CAP_VERIFY) && (ops->caps & CERTO_CAP_RESTART));
    assert_int_equal(ops->configure(ctx, &cfg, &err), CERTO_EINVAL);
    assert_non_null(strstr(err.msg, "nginx_config_path 'nginx.conf' must be the absolute path"));
    kv[0].value = "/etc/nginx/";
    certo_err_clear(&err);
    assert_int_equal(ops->configure(ctx, &cfg, &err), CERTO_EINVAL);
    kv[0].value = "/etc/nginx/nginx.conf";
    cfg.n_opts = 2;
    certo_err_clear(&err);
    assert_int_equal(ops->configure(ctx, &cfg, &err), CERTO_EINVAL);
    assert_non_null(strstr(err.msg, "nginx_binary 'nginx' must be an absolute path"));
    ops->cleanup(ctx);
    certo_free(ctx);
}

static void
test_connector_nginx__check(void **state)
{
    struct fx *f = *state;
    char *bin = fake_nginx(f);
    char *conf = put(f, "nginx.conf",
                     "http {\n server { listen 443 ssl; server_name a.test \"~^(?i)b$\"; }\n"
                     " server { listen 80; server_name c.test; }\n}\n",
                     0644);
    struct certo_buf report;
    struct certo_err err = {0};
    struct ep ep;
    char *want;

    certo_buf_init(&report, 1u << 16);
    ep_open(&ep, conf, bin);
    assert_int_equal(ep.ops->check(ep.ctx, f->t, &report, &err), CERTO_OK);
    want = certo_asprintf("ok: %s read with 0 included files\n"
                          "ok: server block %s:2: server_name a.test ~^(?i)b$; listen *:443 ssl\n"
                          "note: server_name ~^(?i)b$ in %s:2 uses PCRE-only syntax; that name "
                          "was not considered\n"
                          "ok: directory %s writable (new certificate files go there)\n"
                          "ok: nginx -t -c %s passes\n",
                          conf, conf, conf, f->dir, conf);
    assert_string_equal((const char *)report.data, want);
    certo_free(want);

    certo_buf_reset(&report);
    certo_free(put(f, "fail-t", "", 0644));
    assert_int_equal(ep.ops->check(ep.ctx, f->t, &report, &err), CERTO_EREMOTE);
    assert_non_null(strstr((const char *)report.data, "failed: nginx -t failed: [emerg]"));
    ep_close(&ep);

    certo_buf_reset(&report);
    certo_err_clear(&err);
    certo_free(put(f, "nginx.conf", "http {\n server { listen 80; }\n", 0644));
    ep_open(&ep, conf, "/nonexistent/nginx");
    assert_int_equal(ep.ops->check(ep.ctx, f->t, &report, &err), CERTO_EPARSE);
    assert_non_null(strstr((const char *)report.data, "unreadable: unexpected end of file"));
    assert_non_null(strstr((const char *)report.data, "missing: nginx binary /nonexistent/nginx"));
    ep_close(&ep);
    certo_buf_dispose(&report);
    certo_free(bin);
    certo_free(conf);
}

#define T(name) cmocka_unit_test_setup_teardown(test_connector_nginx__##name, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connector_nginx__tokens),
        cmocka_unit_test(test_connector_nginx__syntax_errors),
        cmocka_unit_test(test_connector_nginx__includes),
        cmocka_unit_test(test_connector_nginx__sites),
        cmocka_unit_test(test_connector_nginx__covers),
        cmocka_unit_test(test_connector_nginx__listen_errors),
        cmocka_unit_test(test_connector_nginx__edits),
        cmocka_unit_test(test_connector_nginx__insert_at_eof_and_shared_names),
        cmocka_unit_test(test_connector_nginx__diff),
        cmocka_unit_test(test_connector_nginx__configure_errors),
        T(plan),
        T(activate),
        T(check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
