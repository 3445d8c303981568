/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Server blocks of an nginx configuration (connector layer): which blocks serve a
 * certificate's names over ssl, and the byte edits that point them at new files.
 * Which block serves a name is decided as nginx decides it for each listen address:port
 * (https://nginx.org/en/docs/http/server_names.html): exact name, then the longest
 * wildcard starting with an asterisk (which may match several labels), then the longest
 * wildcard ending with one, then the first regular expression in configuration order.
 * nginx's expressions are PCRE; here they are POSIX extended expressions after a small
 * translation (\d and escapes inside brackets), and what still does not compile is
 * skipped with a note. Every edit replaces a directive's value bytes or inserts whole
 * directives; no other byte of any file changes.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "certo/mem.h"
#include "connector/nginx/nginx.h"

#define WHERE        "conn.nginx"
#define VERIFY_LABEL "certo-verify" /* the label put in front of a wildcard name to probe it */

static bool
is(const struct certo_nginx_dir *d, const char *name)
{
    return strcmp(d->words[0].text, name) == 0;
}

static char *
lower_dup(const char *s)
{
    char *r = certo_strdup(s);
    for (char *p = r; *p != '\0'; p++)
        *p = (char)tolower((unsigned char)*p);
    return r;
}

static void
note(struct certo_nginx_sites *s, char *text)
{
    s->notes = certo_reallocarray(s->notes, s->n_notes + 1, sizeof(*s->notes));
    s->notes[s->n_notes++] = text;
}

/* ---- listen ---- */

static bool
all_digits(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
    }
    return true;
}

static bool
parse_port(int *out, const char *s, size_t n)
{
    long v = 0;

    if (!all_digits(s, n) || n > 5)
        return false;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    if (v < 1 || v > 65535)
        return false;
    *out = (int)v;
    return true;
}

/*
 * The address and port of a listen's first word ("[::1]:443", "8443", "*:443",
 * "localhost"): 'addr' lower case, "*" for every IPv4 address, "::" for every IPv6 one.
 * nginx's default port is 80. @return false for what nginx refuses.
 */
static bool
split_addr(char **addr, int *port, const char *v, size_t n)
{
    const char *colon;

    *addr = NULL;
    *port = 80;
    if (v[0] == '[') {
        const char *close = strchr(v, ']');
        if (close == NULL || (close[1] != '\0' && close[1] != ':') ||
            (close[1] == ':' && !parse_port(port, close + 2, strlen(close + 2))))
            return false;
        *addr = certo_strndup(v + 1, (size_t)(close - v - 1));
    } else if (all_digits(v, n)) {
        if (!parse_port(port, v, n))
            return false;
        *addr = certo_strdup("*");
    } else {
        colon = strrchr(v, ':');
        if (colon != NULL && !parse_port(port, colon + 1, strlen(colon + 1)))
            return false;
        *addr = colon != NULL ? certo_strndup(v, (size_t)(colon - v)) : certo_strdup(v);
    }
    for (char *p = *addr; *p != '\0'; p++)
        *p = (char)tolower((unsigned char)*p);
    if (strcmp(*addr, "0.0.0.0") == 0 || strcmp(*addr, "::") == 0 || strcmp(*addr, "::0") == 0) {
        bool v6 = (*addr)[0] == ':';
        certo_free(*addr);
        *addr = certo_strdup(v6 ? "::" : "*");
    }
    if ((*addr)[0] == '\0') {
        CERTO_FREE(*addr);
        return false;
    }
    return true;
}

/*
 * Parses a listen directive ("listen [::1]:443 ssl", "listen 8443", "listen *:443 ssl
 * http2", ...). A unix socket gives *ok false.
 */
static certo_rc
parse_listen(struct certo_nginx_listen *out, bool *ok, const struct certo_nginx_conf *conf,
             const struct certo_nginx_dir *d, struct certo_err *err)
{
    char *where = NULL;
    certo_rc rc = CERTO_OK;

    memset(out, 0, sizeof(*out));
    *ok = false;
    if (d->n_words < 2) {
        where = certo_nginx__where(conf, d);
        rc = certo_err_set(err, CERTO_EPARSE, WHERE,
                           "invalid number of arguments in \"listen\" directive in %s", where);
        goto out;
    }
    if (strncmp(d->words[1].text, "unix:", 5) == 0)
        goto out;
    if (!split_addr(&out->addr, &out->port, d->words[1].text, d->words[1].len)) {
        where = certo_nginx__where(conf, d);
        rc = certo_err_set(err, CERTO_EPARSE, WHERE,
                           "invalid address or port in \"%.100s\" of the \"listen\" directive "
                           "in %s",
                           d->words[1].text, where);
        goto out;
    }
    for (size_t i = 2; i < d->n_words; i++) {
        const char *p = d->words[i].text;
        if (strcmp(p, "ssl") == 0)
            out->ssl = true;
        else if (strcmp(p, "quic") == 0)
            out->quic = true;
        else if (strcmp(p, "proxy_protocol") == 0)
            out->proxy_protocol = true;
    }
    *ok = true;
out:
    certo_free(where);
    return rc;
}

/* ---- server names ---- */

/*
 * Rewrites the PCRE expression 're' for POSIX regcomp: \d, \D and escapes inside
 * brackets, which POSIX reads literally. NULL for PCRE-only syntax: (?...), possessive
 * quantifiers, and escapes with no POSIX meaning (\A, \z, \h, \x.., ...). Lazy
 * quantifiers stay: whether a name matches does not depend on laziness.
 */
static char *
posix_regex(const char *re)
{
    struct certo_buf b;
    size_t n = strlen(re);
    char *out = NULL;
    bool bad = false;

    certo_buf_init(&b, 8 * n + 16);
    for (size_t i = 0; i < n && !bad; i++) {
        char ch = re[i];
        certo_rc rc = CERTO_OK;
        if (ch == '(' && re[i + 1] == '?') {
            bad = true;
        } else if ((ch == '*' || ch == '+' || ch == '?' || ch == '}') && re[i + 1] == '+') {
            rc = certo_buf_append(&b, &ch, 1);
            bad = true;
        } else if (ch == '\\') {
            char e = re[i + 1];
            i++;
            if (e == 'd')
                rc = certo_buf_append_str(&b, "[0-9]");
            else if (e == 'D')
                rc = certo_buf_append_str(&b, "[^0-9]");
            else if (e == 'w' || e == 'W' || e == 's' || e == 'S' || e == 'b' || e == 'B' ||
                     (e >= '1' && e <= '9') || (e != '\0' && !isalnum((unsigned char)e))) {
                char two[2] = {'\\', e};
                rc = certo_buf_append(&b, two, 2);
            } else {
                bad = true;
            }
        } else if (ch == '[') {
            /* A bracket expression: POSIX has no escapes in it. */
            rc = certo_buf_append(&b, "[", 1);
            i++;
            if (re[i] == '^')
                rc = certo_buf_append(&b, &re[i++], 1);
            if (re[i] == ']')
                rc = certo_buf_append(&b, &re[i++], 1);
            for (; i < n && re[i] != ']' && !bad && rc == CERTO_OK; i++) {
                if (re[i] == '[' && re[i + 1] == ':') {
                    const char *end = strstr(re + i, ":]");
                    if (end == NULL) {
                        bad = true;
                        break;
                    }
                    rc = certo_buf_append(&b, re + i, (size_t)(end + 2 - (re + i)));
                    i = (size_t)(end + 1 - re);
                } else if (re[i] == '\\') {
                    char e = re[++i];
                    if (e == 'd')
                        rc = certo_buf_append_str(&b, "0-9");
                    else if (e == 'w')
                        rc = certo_buf_append_str(&b, "[:alnum:]_");
                    else if (e == 's')
                        rc = certo_buf_append_str(&b, "[:space:]");
                    else if (e != '\0' && !isalnum((unsigned char)e) && e != '-' && e != ']' &&
                             e != '^' && e != '\\')
                        rc = certo_buf_append(&b, &e, 1);
                    else
                        bad = true;
                } else {
                    rc = certo_buf_append(&b, &re[i], 1);
                }
            }
            if (i >= n)
                bad = true;
            else if (rc == CERTO_OK)
                rc = certo_buf_append(&b, "]", 1);
        } else {
            rc = certo_buf_append(&b, &ch, 1);
        }
        if (rc != CERTO_OK)
            bad = true;
    }
    if (!bad)
        out = certo_strndup(b.len > 0 ? (const char *)b.data : "", b.len);
    certo_buf_dispose(&b);
    return out;
}

static void
name_dispose(struct certo_nginx_name *n)
{
    if (n->re_ok)
        regfree(&n->re);
    certo_free(n->text);
    certo_free(n->as_written);
    memset(n, 0, sizeof(*n));
}

/* Adds name 'w' of a server_name directive at 'd' to 'srv'. */
static void
add_name(struct certo_nginx_sites *s, struct certo_nginx_server *srv,
         const struct certo_nginx_conf *conf, const struct certo_nginx_dir *d,
         const struct certo_nginx_word *w, unsigned *order)
{
    struct certo_nginx_name *n;
    size_t len = w->len;

    srv->names = certo_reallocarray(srv->names, srv->n_names + 1, sizeof(*srv->names));
    n = &srv->names[srv->n_names++];
    memset(n, 0, sizeof(*n));
    n->as_written = certo_strdup(w->text);
    if (w->text[0] == '~') {
        char *posix = posix_regex(w->text + 1);
        char *where = certo_nginx__where(conf, d);
        n->kind = CERTO_NGINX_NAME_REGEX;
        n->text = certo_strdup(w->text + 1);
        n->order = (*order)++;
        if (posix == NULL)
            note(s, certo_asprintf("server_name %.200s in %s uses PCRE-only syntax; that name "
                                   "was not considered",
                                   w->text, where));
        else if (regcomp(&n->re, posix, REG_EXTENDED | REG_ICASE | REG_NOSUB) != 0)
            note(s, certo_asprintf("server_name %.200s in %s is not a POSIX extended regular "
                                   "expression; that name was not considered",
                                   w->text, where));
        else
            n->re_ok = true;
        certo_free(posix);
        certo_free(where);
        return;
    }
    if (len > 2 && w->text[0] == '*' && w->text[1] == '.') {
        n->kind = CERTO_NGINX_NAME_HEAD;
        n->text = lower_dup(w->text + 2);
    } else if (len > 1 && w->text[0] == '.') {
        n->kind = CERTO_NGINX_NAME_HEAD;
        n->dot_form = true;
        n->text = lower_dup(w->text + 1);
    } else if (len > 2 && w->text[len - 1] == '*' && w->text[len - 2] == '.') {
        n->kind = CERTO_NGINX_NAME_TAIL;
        n->text = lower_dup(w->text);
        n->text[len - 2] = '\0';
    } else {
        n->kind = CERTO_NGINX_NAME_EXACT;
        n->text = lower_dup(w->text);
    }
}

/* ---- server blocks ---- */

static void
server_dispose(struct certo_nginx_server *srv)
{
    for (size_t i = 0; i < srv->n_listens; i++)
        certo_free(srv->listens[i].addr);
    certo_free(srv->listens);
    for (size_t i = 0; i < srv->n_names; i++)
        name_dispose(&srv->names[i]);
    certo_free(srv->names);
    certo_free(srv->certs);
    certo_free(srv->keys);
    memset(srv, 0, sizeof(*srv));
}

void
certo_nginx__sites_dispose(struct certo_nginx_sites *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++)
        server_dispose(&s->servers[i]);
    certo_free(s->servers);
    for (size_t i = 0; i < s->n_notes; i++)
        certo_free(s->notes[i]);
    certo_free(s->notes);
    memset(s, 0, sizeof(*s));
}

static void
push_dir(const struct certo_nginx_dir ***arr, size_t *n, const struct certo_nginx_dir *d)
{
    *arr = certo_reallocarray(*arr, *n + 1, sizeof(**arr));
    (*arr)[(*n)++] = d;
}

/* Reads one `server { }` of the http context into s->servers. */
static certo_rc
add_server(struct certo_nginx_sites *s, const struct certo_nginx_conf *conf,
           const struct certo_nginx_dir *d, unsigned *order, struct certo_err *err)
{
    struct certo_nginx_server *srv;
    certo_rc rc = CERTO_OK;

    s->servers = certo_reallocarray(s->servers, s->n + 1, sizeof(*s->servers));
    srv = &s->servers[s->n++];
    memset(srv, 0, sizeof(*srv));
    srv->dir = d;
    for (size_t i = 0; i < d->block->n_dirs && rc == CERTO_OK; i++) {
        const struct certo_nginx_dir *e = d->block->dirs[i];
        if (e->block != NULL)
            continue;
        if (is(e, "listen")) {
            struct certo_nginx_listen l;
            bool ok = false;
            rc = parse_listen(&l, &ok, conf, e, err);
            if (rc == CERTO_OK && ok) {
                srv->listens =
                    certo_reallocarray(srv->listens, srv->n_listens + 1, sizeof(*srv->listens));
                srv->listens[srv->n_listens++] = l;
            }
        } else if (is(e, "server_name")) {
            if (srv->server_name == NULL)
                srv->server_name = e;
            for (size_t k = 1; k < e->n_words; k++)
                add_name(s, srv, conf, e, &e->words[k], order);
        } else if (is(e, "ssl_certificate") && e->n_words == 2) {
            push_dir(&srv->certs, &srv->n_certs, e);
        } else if (is(e, "ssl_certificate_key") && e->n_words == 2) {
            push_dir(&srv->keys, &srv->n_keys, e);
        } else if (is(e, "ssl") && e->n_words == 2) {
            srv->ssl_on = strcasecmp(e->words[1].text, "on") == 0;
        }
    }
    if (rc == CERTO_OK && srv->n_listens == 0) {
        /* nginx's default: listen *:80 */
        srv->listens = certo_calloc(1, sizeof(*srv->listens));
        srv->listens[0].addr = certo_strdup("*");
        srv->listens[0].port = 80;
        srv->n_listens = 1;
    }
    return rc;
}

certo_rc
certo_nginx__sites_find(struct certo_nginx_sites *out, const struct certo_nginx_conf *conf,
                        struct certo_err *err)
{
    struct certo_nginx_sites s = {0};
    unsigned order = 0;
    certo_rc rc = CERTO_OK;

    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < conf->root.n_dirs && rc == CERTO_OK; i++) {
        const struct certo_nginx_dir *http = conf->root.dirs[i];
        if (http->block == NULL || !is(http, "http"))
            continue;
        s.http = http->block;
        for (size_t k = 0; k < http->block->n_dirs && rc == CERTO_OK; k++) {
            const struct certo_nginx_dir *d = http->block->dirs[k];
            if (d->block != NULL && is(d, "server"))
                rc = add_server(&s, conf, d, &order, err);
            else if (d->block == NULL && is(d, "ssl_certificate") && d->n_words == 2 &&
                     s.http_cert == NULL)
                s.http_cert = d;
        }
    }
    if (rc != CERTO_OK) {
        certo_nginx__sites_dispose(&s);
        return rc;
    }
    *out = s;
    return CERTO_OK;
}

/* ---- which block serves a name ---- */

/* One listen address:port and the blocks listening there, in configuration order. */
struct group {
    const char *addr; /* borrowed from a listen */
    int port;
    bool ssl;
    bool proxy_protocol;
    size_t *members; /* owned; indexes into s->servers */
    size_t n;
};

bool
certo_nginx__covers(const char *cert_name, const char *host)
{
    const char *dot;

    if (strcasecmp(cert_name, host) == 0)
        return true;
    if (cert_name[0] != '*' || cert_name[1] != '.')
        return false;
    /* RFC 6125 6.4.3: the wildcard stands for exactly one whole label. */
    dot = strchr(host, '.');
    return dot != NULL && dot != host && host[0] != '*' && strcasecmp(dot + 1, cert_name + 2) == 0;
}

static bool
ends_with_label(const char *host, const char *suffix)
{
    size_t hl = strlen(host), sl = strlen(suffix);
    return hl > sl + 1 && host[hl - sl - 1] == '.' && strcmp(host + hl - sl, suffix) == 0;
}

static bool
starts_with_label(const char *host, const char *prefix)
{
    size_t hl = strlen(host), pl = strlen(prefix);
    return hl > pl + 1 && host[pl] == '.' && strncmp(host, prefix, pl) == 0;
}

/* The block nginx chooses for host 'h' (lower case) among the members of 'g', or NULL. */
static struct certo_nginx_server *
route(struct certo_nginx_sites *s, const struct group *g, const char *h)
{
    struct certo_nginx_server *best = NULL;
    size_t best_len = 0;
    unsigned best_order = 0;

    for (size_t i = 0; i < g->n; i++) {
        struct certo_nginx_server *srv = &s->servers[g->members[i]];
        for (size_t k = 0; k < srv->n_names; k++) {
            const struct certo_nginx_name *n = &srv->names[k];
            if ((n->kind == CERTO_NGINX_NAME_EXACT || n->dot_form) && strcmp(n->text, h) == 0)
                return srv;
        }
    }
    for (int kind = CERTO_NGINX_NAME_HEAD; kind <= CERTO_NGINX_NAME_TAIL; kind++) {
        for (size_t i = 0; i < g->n; i++) {
            struct certo_nginx_server *srv = &s->servers[g->members[i]];
            for (size_t k = 0; k < srv->n_names; k++) {
                const struct certo_nginx_name *n = &srv->names[k];
                size_t len = strlen(n->text);
                if ((int)n->kind != kind || len <= best_len)
                    continue;
                if (kind == CERTO_NGINX_NAME_HEAD ? ends_with_label(h, n->text)
                                                  : starts_with_label(h, n->text)) {
                    best = srv;
                    best_len = len;
                }
            }
        }
        if (best != NULL)
            return best;
    }
    for (size_t i = 0; i < g->n; i++) {
        struct certo_nginx_server *srv = &s->servers[g->members[i]];
        for (size_t k = 0; k < srv->n_names; k++) {
            const struct certo_nginx_name *n = &srv->names[k];
            if (n->kind != CERTO_NGINX_NAME_REGEX || !n->re_ok)
                continue;
            if ((best == NULL || n->order < best_order) && regexec(&n->re, h, 0, NULL, 0) == 0) {
                best = srv;
                best_order = n->order;
            }
        }
    }
    return best;
}

static void
groups_build(struct group **out, size_t *n_out, const struct certo_nginx_sites *s)
{
    struct group *g = NULL;
    size_t n = 0;

    for (size_t i = 0; i < s->n; i++) {
        const struct certo_nginx_server *srv = &s->servers[i];
        for (size_t k = 0; k < srv->n_listens; k++) {
            const struct certo_nginx_listen *l = &srv->listens[k];
            size_t j;
            if (l->quic)
                continue;
            for (j = 0; j < n; j++) {
                if (g[j].port == l->port && strcmp(g[j].addr, l->addr) == 0)
                    break;
            }
            if (j == n) {
                g = certo_reallocarray(g, n + 1, sizeof(*g));
                memset(&g[n], 0, sizeof(*g));
                g[n].addr = l->addr;
                g[n].port = l->port;
                n++;
            }
            /* ssl is a property of the socket: one block saying so makes it ssl for all. */
            g[j].ssl = g[j].ssl || l->ssl || srv->ssl_on;
            g[j].proxy_protocol = g[j].proxy_protocol || l->proxy_protocol;
            if (g[j].n == 0 || g[j].members[g[j].n - 1] != i) {
                g[j].members = certo_reallocarray(g[j].members, g[j].n + 1, sizeof(size_t));
                g[j].members[g[j].n++] = i;
            }
        }
    }
    *out = g;
    *n_out = n;
}

bool
certo_nginx__socket_ssl(const struct certo_nginx_sites *s, const char *addr, int port)
{
    for (size_t i = 0; i < s->n; i++) {
        const struct certo_nginx_server *srv = &s->servers[i];
        for (size_t k = 0; k < srv->n_listens; k++) {
            const struct certo_nginx_listen *l = &srv->listens[k];
            if (!l->quic && l->port == port && strcmp(l->addr, addr) == 0 &&
                (l->ssl || srv->ssl_on))
                return true;
        }
    }
    return false;
}

void
certo_nginx__targets_free(struct certo_nginx_target *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        certo_free(t[i].host);
        certo_free(t[i].sni);
    }
    certo_free(t);
}

static void
add_target(struct certo_nginx_target **t, size_t *n, const struct group *g, const char *sni)
{
    const char *host = strcmp(g->addr, "*") == 0    ? "127.0.0.1"
                       : strcmp(g->addr, "::") == 0 ? "::1"
                                                    : g->addr;

    for (size_t i = 0; i < *n; i++) {
        if ((*t)[i].port == g->port && strcmp((*t)[i].host, host) == 0 &&
            strcmp((*t)[i].sni, sni) == 0)
            return;
    }
    *t = certo_reallocarray(*t, *n + 1, sizeof(**t));
    (*t)[*n].host = certo_strdup(host);
    (*t)[*n].port = g->port;
    (*t)[*n].sni = certo_strdup(sni);
    (*n)++;
}

static void
host_add(char ***hosts, size_t *n, const char *h)
{
    for (size_t i = 0; i < *n; i++) {
        if (strcmp((*hosts)[i], h) == 0)
            return;
    }
    *hosts = certo_reallocarray(*hosts, *n + 1, sizeof(**hosts));
    (*hosts)[(*n)++] = certo_strdup(h);
}

size_t
certo_nginx__match(struct certo_nginx_sites *s, const char *const *names, size_t n_names,
                   struct certo_nginx_target **targets, size_t *n_targets)
{
    struct group *g = NULL;
    char **hosts = NULL;
    size_t n_g = 0, n_hosts = 0, matched = 0;
    bool noted = false;

    *targets = NULL;
    *n_targets = 0;
    /* The hosts to route: each exact name; for a wildcard name, a made-up name under it
     * (what the wildcard blocks serve) and every exact server name it covers. */
    for (size_t i = 0; i < n_names; i++) {
        if (names[i][0] != '*') {
            host_add(&hosts, &n_hosts, names[i]);
            continue;
        }
        char *probe = certo_asprintf("%s%s", VERIFY_LABEL, names[i] + 1);
        host_add(&hosts, &n_hosts, probe);
        certo_free(probe);
        for (size_t k = 0; k < s->n; k++) {
            const struct certo_nginx_server *srv = &s->servers[k];
            for (size_t j = 0; j < srv->n_names; j++) {
                if (srv->names[j].kind == CERTO_NGINX_NAME_EXACT &&
                    certo_nginx__covers(names[i], srv->names[j].text))
                    host_add(&hosts, &n_hosts, srv->names[j].text);
            }
        }
    }
    groups_build(&g, &n_g, s);
    for (size_t i = 0; i < n_hosts; i++) {
        for (size_t k = 0; k < n_g; k++) {
            struct certo_nginx_server *srv;
            if (!g[k].ssl)
                continue;
            srv = route(s, &g[k], hosts[i]);
            if (srv == NULL)
                continue;
            if (!srv->matched)
                matched++;
            srv->matched = true;
            if (!g[k].proxy_protocol) {
                add_target(targets, n_targets, &g[k], hosts[i]);
            } else if (!noted) {
                noted = true;
                note(s, certo_asprintf("%s:%d expects the PROXY protocol; its names cannot be "
                                       "verified with a handshake",
                                       g[k].addr, g[k].port));
            }
        }
    }
    for (size_t k = 0; k < n_g; k++)
        certo_free(g[k].members);
    certo_free(g);
    for (size_t i = 0; i < n_hosts; i++)
        certo_free(hosts[i]);
    certo_free(hosts);
    return matched;
}

/* ---- edits ---- */

char *
certo_nginx__quote_path(const char *path)
{
    bool space = false;

    if (path == NULL || path[0] != '/')
        return NULL;
    for (const unsigned char *p = (const unsigned char *)path; *p != '\0'; p++) {
        if (*p < 0x20 || *p == 0x7f || strchr("\"';{}#$\\<", *p) != NULL)
            return NULL;
        space = space || *p == ' ';
    }
    return space ? certo_asprintf("\"%s\"", path) : certo_strdup(path);
}

void
certo_nginx__edits_free(struct certo_nginx_edit *e, size_t n)
{
    for (size_t i = 0; i < n; i++)
        certo_free(e[i].text);
    certo_free(e);
}

/* Where a directive starts: what an unmatched block sharing a snippet would share. */
struct spot {
    size_t file;
    size_t start;
    const struct certo_nginx_server *srv; /* the unmatched block it belongs to; NULL: the
                                             http context itself */
};

static int
cmp_spot(const void *a, const void *b)
{
    const struct spot *x = a, *y = b;
    if (x->file != y->file)
        return x->file < y->file ? -1 : 1;
    return x->start < y->start ? -1 : x->start > y->start ? 1 : 0;
}

static int
cmp_edit(const void *a, const void *b)
{
    const struct certo_nginx_edit *x = a, *y = b;
    if (x->file != y->file)
        return x->file < y->file ? -1 : 1;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end ? 1 : 0;
}

/* The directives of every unmatched block, sorted, to find shared ones. */
static void
unmatched_spots(struct spot **out, size_t *n_out, const struct certo_nginx_sites *s)
{
    struct spot *v = NULL;
    size_t n = 0;

    for (size_t i = 0; s->http != NULL && i < s->http->n_dirs; i++) {
        const struct certo_nginx_dir *d = s->http->dirs[i];
        if (d->block != NULL && is(d, "server"))
            continue;
        v = certo_reallocarray(v, n + 1, sizeof(*v));
        v[n++] = (struct spot){d->file, d->words[0].start, NULL};
    }
    for (size_t i = 0; i < s->n; i++) {
        const struct certo_nginx_server *srv = &s->servers[i];
        if (srv->matched)
            continue;
        v = certo_reallocarray(v, n + srv->dir->block->n_dirs + 1, sizeof(*v));
        v[n++] = (struct spot){srv->dir->file, srv->dir->words[0].start, srv};
        for (size_t k = 0; k < srv->dir->block->n_dirs; k++) {
            const struct certo_nginx_dir *d = srv->dir->block->dirs[k];
            v[n++] = (struct spot){d->file, d->words[0].start, srv};
        }
    }
    if (n > 1)
        qsort(v, n, sizeof(*v), cmp_spot);
    *out = v;
    *n_out = n;
}

/* Refuses to edit directive 'd' when an unmatched block reads it too. */
static certo_rc
check_shared(const struct certo_nginx_conf *conf, const struct spot *spots, size_t n_spots,
             const struct certo_nginx_server *srv, const struct certo_nginx_dir *d,
             struct certo_err *err)
{
    struct spot key = {d->file, d->words[0].start, NULL};
    const struct spot *hit =
        n_spots > 0 ? bsearch(&key, spots, n_spots, sizeof(*spots), cmp_spot) : NULL;
    char *at, *other, *mine;
    certo_rc rc;

    if (hit == NULL)
        return CERTO_OK;
    at = certo_nginx__where(conf, d);
    other = hit->srv != NULL ? certo_nginx__where(conf, hit->srv->dir) : NULL;
    mine = certo_nginx__where(conf, srv->dir);
    rc = certo_err_set(err, CERTO_ECONFLICT, WHERE,
                       "%s of the server block in %s is shared with %s%s%s (%s is included in "
                       "both); put that directive into each server block",
                       d->words[0].text, mine, other != NULL ? "the server block in " : "",
                       other != NULL ? other : "the http context",
                       other != NULL ? ", which does not serve the certificate's names" : "", at);
    certo_free(at);
    certo_free(other);
    certo_free(mine);
    return rc;
}

static void
add_edit(struct certo_nginx_edit **e, size_t *n, size_t file, size_t start, size_t end, char *text)
{
    *e = certo_reallocarray(*e, *n + 1, sizeof(**e));
    (*e)[*n] = (struct certo_nginx_edit){file, start, end, text};
    (*n)++;
}

/* 'text' with printf-formatted text appended (takes 'text'). */
static char *append(char *text, const char *fmt, ...) CERTO_PRINTF(2, 3);

static char *
append(char *text, const char *fmt, ...)
{
    va_list ap;
    char *more, *all;

    va_start(ap, fmt);
    more = certo_vasprintf(fmt, ap);
    va_end(ap);
    all = certo_asprintf("%s%s", text, more);
    certo_free(text);
    certo_free(more);
    return all;
}

/*
 * The insertion of 'lines' (each a directive without its ';') after the directive or
 * block opening that ends at 'pos' of 'f': on lines of their own indented like the line
 * of 'first' (plus 'extra'), or, when more follows on the same line, on that line.
 */
static void
insertion(struct certo_nginx_edit **e, size_t *n, size_t file, const struct certo_nginx_file *f,
          size_t first, size_t pos, const char *extra, const char *const *lines, size_t n_lines)
{
    const unsigned char *p = f->data.data;
    size_t len = f->data.len, q = pos, ls = first, ind_end;
    const char *nl = "\n";
    char *indent, *text = certo_strdup("");

    while (ls > 0 && p[ls - 1] != '\n')
        ls--;
    ind_end = ls;
    while (ind_end < len && (p[ind_end] == ' ' || p[ind_end] == '\t'))
        ind_end++;
    indent = certo_asprintf("%.*s%s", (int)(ind_end - ls), (const char *)p + ls, extra);
    while (q < len && (p[q] == ' ' || p[q] == '\t'))
        q++;
    if (q < len && p[q] == '#') {
        while (q < len && p[q] != '\n')
            q++;
    }
    if (q < len && p[q] == '\r' && q + 1 < len && p[q + 1] == '\n') {
        nl = "\r\n";
        q++;
    }
    if (q < len && p[q] == '\n') {
        pos = q + 1;
        for (size_t i = 0; i < n_lines; i++)
            text = append(text, "%s%s;%s", indent, lines[i], nl);
    } else if (q >= len) {
        pos = len;
        for (size_t i = 0; i < n_lines; i++)
            text = append(text, "%s%s%s;", nl, indent, lines[i]);
        text = append(text, "%s", nl);
    } else {
        for (size_t i = 0; i < n_lines; i++)
            text = append(text, " %s;", lines[i]);
    }
    add_edit(e, n, file, pos, pos, text);
    certo_free(indent);
}

/* The edits of one matched block. */
static certo_rc
plan_server(struct certo_nginx_edit **e, size_t *n, const struct certo_nginx_conf *conf,
            const struct certo_nginx_server *srv, const struct spot *spots, size_t n_spots,
            const char *qc, const char *qk, struct certo_err *err)
{
    const char *lines[2];
    size_t n_lines = 0;
    certo_rc rc = CERTO_OK;

    for (size_t i = 0; i < srv->n_certs && rc == CERTO_OK; i++) {
        const struct certo_nginx_dir *d = srv->certs[i];
        rc = check_shared(conf, spots, n_spots, srv, d, err);
        if (rc == CERTO_OK)
            add_edit(e, n, d->file, d->words[1].start, d->words[1].end, certo_strdup(qc));
    }
    for (size_t i = 0; i < srv->n_keys && rc == CERTO_OK; i++) {
        const struct certo_nginx_dir *d = srv->keys[i];
        rc = check_shared(conf, spots, n_spots, srv, d, err);
        if (rc == CERTO_OK)
            add_edit(e, n, d->file, d->words[1].start, d->words[1].end, certo_strdup(qk));
    }
    if (rc != CERTO_OK)
        return rc;
    char *cert_line = certo_asprintf("ssl_certificate %s", qc);
    char *key_line = certo_asprintf("ssl_certificate_key %s", qk);
    if (srv->n_certs == 0)
        lines[n_lines++] = cert_line;
    if (srv->n_keys == 0)
        lines[n_lines++] = key_line;
    if (n_lines > 0) {
        const struct certo_nginx_dir *a = srv->server_name;
        struct certo_err e2 = {0};
        /* After the server_name line; after the block's '{' when that line is in a
         * snippet other blocks include too. */
        if (a != NULL && check_shared(conf, spots, n_spots, srv, a, &e2) == CERTO_OK) {
            insertion(e, n, a->file, conf->files[a->file], a->words[0].start, a->end, "", lines,
                      n_lines);
        } else {
            a = srv->dir;
            rc = check_shared(conf, spots, n_spots, srv, a, err);
            if (rc == CERTO_OK)
                insertion(e, n, a->file, conf->files[a->file], a->words[0].start, a->end, "    ",
                          lines, n_lines);
        }
    }
    certo_free(cert_line);
    certo_free(key_line);
    return rc;
}

certo_rc
certo_nginx__plan_edits(struct certo_nginx_edit **edits, size_t *n_edits,
                        const struct certo_nginx_conf *conf, const struct certo_nginx_sites *s,
                        const char *cert_path, const char *key_path, struct certo_err *err)
{
    struct certo_nginx_edit *e = NULL;
    struct spot *spots = NULL;
    size_t n = 0, n_spots = 0, kept = 0;
    char *qc = certo_nginx__quote_path(cert_path), *qk = certo_nginx__quote_path(key_path);
    certo_rc rc = CERTO_OK;

    *edits = NULL;
    *n_edits = 0;
    if (qc == NULL || qk == NULL) {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE,
                           "%.300s cannot be written into an nginx configuration as it is "
                           "(a quote, ';', '{', '}', '#', '$', '\\', '<' or a control character)",
                           qc == NULL ? cert_path : key_path);
        goto out;
    }
    unmatched_spots(&spots, &n_spots, s);
    for (size_t i = 0; i < s->n && rc == CERTO_OK; i++) {
        if (s->servers[i].matched)
            rc = plan_server(&e, &n, conf, &s->servers[i], spots, n_spots, qc, qk, err);
    }
    if (rc != CERTO_OK)
        goto out;
    if (n > 1)
        qsort(e, n, sizeof(*e), cmp_edit);
    /* A file included twice by matched blocks gives the same edit twice: keep one. */
    for (size_t i = 0; i < n; i++) {
        if (kept > 0 && e[kept - 1].file == e[i].file && e[kept - 1].start == e[i].start &&
            e[kept - 1].end == e[i].end && strcmp(e[kept - 1].text, e[i].text) == 0) {
            certo_free(e[i].text);
            continue;
        }
        if (kept > 0 && e[kept - 1].file == e[i].file && e[kept - 1].end > e[i].start) {
            rc = certo_err_set(err, CERTO_EINTERNAL, WHERE, "overlapping edits of %s",
                               conf->files[e[i].file]->path);
            for (size_t k = i; k < n; k++)
                certo_free(e[k].text);
            n = kept;
            goto out;
        }
        e[kept++] = e[i];
    }
    n = kept;

    *edits = e; /* success: hand over ownership */
    *n_edits = n;
    e = NULL;
    n = 0;
out:
    certo_nginx__edits_free(e, n);
    certo_free(spots);
    certo_free(qc);
    certo_free(qk);
    return rc;
}

certo_rc
certo_nginx__apply(struct certo_buf *out, const struct certo_nginx_file *f,
                   const struct certo_nginx_edit *e, size_t n)
{
    const unsigned char *p = f->data.data;
    size_t at = 0;
    certo_rc rc = CERTO_OK;

    for (size_t i = 0; i < n && rc == CERTO_OK; i++) {
        CERTO_ASSERT(e[i].start >= at && e[i].end <= f->data.len);
        if (e[i].start > at)
            rc = certo_buf_append(out, p + at, e[i].start - at);
        if (rc == CERTO_OK)
            rc = certo_buf_append_str(out, e[i].text);
        at = e[i].end;
    }
    if (rc == CERTO_OK && at < f->data.len)
        rc = certo_buf_append(out, p + at, f->data.len - at);
    return rc;
}

/* ---- the diff shown by --dry-run and kept in the history ---- */

static size_t
line_start(const unsigned char *p, size_t at)
{
    while (at > 0 && p[at - 1] != '\n')
        at--;
    return at;
}

static size_t
line_end(const unsigned char *p, size_t len, size_t at)
{
    while (at < len && p[at] != '\n')
        at++;
    return at < len ? at + 1 : len;
}

static unsigned
line_no(const unsigned char *p, size_t at)
{
    unsigned n = 1;
    for (size_t i = 0; i < at; i++)
        n += p[i] == '\n';
    return n;
}

/* Splits 'text' [0, len) into lines (without their line ends). */
static size_t
split_lines(const char ***out, size_t **lens, const char *text, size_t len)
{
    size_t n = 0, at = 0;

    *out = NULL;
    *lens = NULL;
    while (at < len) {
        size_t end = at;
        while (end < len && text[end] != '\n')
            end++;
        size_t l = end - at;
        if (l > 0 && text[at + l - 1] == '\r')
            l--;
        *out = certo_reallocarray(*out, n + 1, sizeof(**out));
        *lens = certo_reallocarray(*lens, n + 1, sizeof(**lens));
        (*out)[n] = text + at;
        (*lens)[n] = l;
        n++;
        at = end + 1;
    }
    return n;
}

/* One hunk: lines [ls, le) of the file before, and the same with edits e[0..n) applied. */
static certo_rc
hunk(struct certo_buf *out, const struct certo_nginx_file *f, size_t ls, size_t le,
     const struct certo_nginx_edit *e, size_t n)
{
    const unsigned char *p = f->data.data;
    struct certo_buf now;
    const char **a = NULL, **b = NULL;
    size_t *al = NULL, *bl = NULL, na, nb, head = 0, tail = 0, at = ls;
    certo_rc rc = CERTO_OK;

    certo_buf_init(&now, CERTO_NGINX_FILE_MAX);
    for (size_t i = 0; i < n && rc == CERTO_OK; i++) {
        rc = certo_buf_append(&now, p + at, e[i].start - at);
        if (rc == CERTO_OK)
            rc = certo_buf_append_str(&now, e[i].text);
        at = e[i].end;
    }
    if (rc == CERTO_OK)
        rc = certo_buf_append(&now, p + at, le - at);
    if (rc != CERTO_OK)
        goto out;
    na = split_lines(&a, &al, (const char *)p + ls, le - ls);
    nb = split_lines(&b, &bl, now.len > 0 ? (const char *)now.data : "", now.len);
    while (head < na && head < nb && al[head] == bl[head] &&
           memcmp(a[head], b[head], al[head]) == 0)
        head++;
    while (tail < na - head && tail < nb - head && al[na - 1 - tail] == bl[nb - 1 - tail] &&
           memcmp(a[na - 1 - tail], b[nb - 1 - tail], al[na - 1 - tail]) == 0)
        tail++;
    rc = certo_buf_printf(out, "@@ line %u @@\n", line_no(p, ls));
    for (size_t i = 0; i < head && rc == CERTO_OK; i++)
        rc = certo_buf_printf(out, " %.*s\n", (int)al[i], a[i]);
    for (size_t i = head; i < na - tail && rc == CERTO_OK; i++)
        rc = certo_buf_printf(out, "-%.*s\n", (int)al[i], a[i]);
    for (size_t i = head; i < nb - tail && rc == CERTO_OK; i++)
        rc = certo_buf_printf(out, "+%.*s\n", (int)bl[i], b[i]);
    for (size_t i = na - tail; i < na && rc == CERTO_OK; i++)
        rc = certo_buf_printf(out, " %.*s\n", (int)al[i], a[i]);
out:
    certo_free(a);
    certo_free(al);
    certo_free(b);
    certo_free(bl);
    certo_buf_dispose(&now);
    return rc;
}

certo_rc
certo_nginx__diff(struct certo_buf *out, const struct certo_nginx_file *f,
                  const struct certo_nginx_edit *e, size_t n)
{
    const unsigned char *p = f->data.data;
    size_t len = f->data.len, i = 0;
    certo_rc rc = CERTO_OK;

    while (i < n && rc == CERTO_OK) {
        /* The lines the edit touches; an insertion at a line start shows the line before
         * it as context. Edits on the same or adjacent lines make one hunk. */
        size_t ls = line_start(p, e[i].start), le;
        if (ls == e[i].start && e[i].start == e[i].end && ls > 0)
            ls = line_start(p, ls - 1);
        le = line_end(p, len, e[i].end > e[i].start ? e[i].end - 1 : e[i].end);
        size_t k = i + 1;
        while (k < n && line_start(p, e[k].start) <= le) {
            le = line_end(p, len, e[k].end > e[k].start ? e[k].end - 1 : e[k].end);
            if (le < e[k].end)
                le = e[k].end;
            k++;
        }
        if (le < e[i].end)
            le = e[i].end;
        rc = hunk(out, f, ls, le, e + i, k - i);
        i = k;
    }
    return rc;
}
