/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Apache httpd configuration syntax (connector layer): a tokenizer that keeps the byte
 * offset of every argument, an editor that replaces exact byte ranges, and the name and
 * address rules the connector matches vhosts with. Pure functions on bytes in memory: this
 * file must never do I/O (the fuzz harness runs it as is), and an edit must never touch a
 * byte outside the ranges it was given.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "certo/mem.h"
#include "connector/apache/apache.h"

#define WHERE "conn.apache"

/* For appends whose failure only shortens a message. */
static void
best_effort(certo_rc rc)
{
    CERTO_UNUSED(rc);
}

/* apr_isspace: the separators of ap_getword_conf. */
static bool
is_space(unsigned char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* One logical line: its bytes with continuations removed, and each byte's file offset. */
struct logical {
    char *s;     /* owned */
    size_t *off; /* owned; off[i] is the file offset of s[i] */
    size_t len;
    size_t cap;
};

static void
logical_push(struct logical *l, char ch, size_t off)
{
    if (l->len + 1 >= l->cap) {
        l->cap = l->cap == 0 ? 256 : l->cap * 2;
        l->s = certo_realloc(l->s, l->cap);
        l->off = certo_reallocarray(l->off, l->cap, sizeof(*l->off));
    }
    l->s[l->len] = ch;
    l->off[l->len] = off;
    l->len++;
    l->s[l->len] = '\0';
}

/*
 * Reads the logical line at 'pos' into 'l' and returns the offset after it. httpd joins a
 * physical line that ends with a backslash (optionally followed by CR) to the next one, but
 * not when the backslash is itself escaped: "match [^\\]\\[\r]\n only" (server/util.c,
 * ap_cfg_getline_core). The joining backslash and newline are dropped.
 */
static size_t
read_logical(struct logical *l, const unsigned char *d, size_t len, size_t pos, size_t *lines,
             bool *crlf, bool *eol)
{
    l->len = 0;
    *lines = 0;
    for (;;) {
        size_t ls = pos, le = pos, e;
        while (le < len && d[le] != '\n')
            le++;
        (*lines)++;
        e = le;
        if (e > ls && d[e - 1] == '\r')
            e--;
        *crlf = e < le;
        *eol = le < len;
        bool cont = le < len && e > ls && d[e - 1] == '\\' && !(e - 1 > ls && d[e - 2] == '\\');
        size_t stop = cont ? e - 1 : le;
        for (size_t i = ls; i < stop; i++)
            logical_push(l, (char)d[i], i);
        if (!cont)
            return le < len ? le + 1 : len;
        pos = le + 1;
    }
}

/*
 * The value of a token, ap_getword_conf's substring_conf: a backslash before another
 * backslash, or before the token's quote character, is dropped.
 */
static char *
unescape(const char *s, size_t n, char quote)
{
    char *v = certo_malloc(n + 1);
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 1 < n && (s[i + 1] == '\\' || (quote != 0 && s[i + 1] == quote)))
            i++;
        v[o++] = s[i];
    }
    v[o] = '\0';
    return v;
}

static void
line_dispose(struct certo_apache_line *ln)
{
    for (size_t i = 0; i < ln->n_args; i++)
        certo_free(ln->args[i].value);
    certo_free(ln->args);
    certo_free(ln->name);
    memset(ln, 0, sizeof(*ln));
}

/* Tokenizes l->s[from, to) into ln's arguments the way ap_getword_conf does. */
static certo_rc
tokenize(struct certo_apache_line *ln, const struct logical *l, size_t from, size_t to,
         const char *path, struct certo_err *err)
{
    size_t i = from;

    for (;;) {
        while (i < to && is_space((unsigned char)l->s[i]))
            i++;
        if (i >= to)
            return CERTO_OK;
        if (ln->n_args == CERTO_APACHE_ARGS_MAX)
            return certo_err_set(err, CERTO_EPARSE, WHERE, "%s:%zu: more than %d arguments", path,
                                 ln->lineno, CERTO_APACHE_ARGS_MAX);
        struct certo_apache_arg a = {0};
        size_t s = i, e;
        if (l->s[i] == '"' || l->s[i] == '\'') {
            char q = l->s[i];
            e = i + 1;
            while (e < to && l->s[e] != q) {
                if (l->s[e] == '\\' && e + 1 < to && l->s[e + 1] == q)
                    e += 2;
                else
                    e++;
            }
            a.quote = q;
            a.value = unescape(l->s + s + 1, e - s - 1, q);
            if (e < to)
                e++; /* the closing quote */
        } else {
            e = i;
            while (e < to && !is_space((unsigned char)l->s[e]))
                e++;
            a.value = unescape(l->s + s, e - s, 0);
        }
        a.start = l->off[s];
        a.end = l->off[e - 1] + 1;
        if (ln->n_args % 8 == 0)
            ln->args = certo_reallocarray(ln->args, ln->n_args + 8, sizeof(*ln->args));
        ln->args[ln->n_args++] = a;
        i = e;
    }
}

/* Parses one non-comment logical line starting at l->s[i]. */
static certo_rc
parse_line(struct certo_apache_line *ln, const struct logical *l, size_t i, const char *path,
           struct certo_err *err)
{
    size_t n = l->len, e;

    if (l->s[i] != '<') {
        e = i;
        while (e < n && !is_space((unsigned char)l->s[e]))
            e++;
        ln->kind = CERTO_APACHE_DIRECTIVE;
        ln->name = certo_strndup(l->s + i, e - i);
        return tokenize(ln, l, e, n, path, err);
    }
    if (i + 1 < n && l->s[i + 1] == '/') {
        e = i + 2;
        while (e < n && l->s[e] != '>' && !is_space((unsigned char)l->s[e]))
            e++;
        ln->kind = CERTO_APACHE_CLOSE;
        ln->name = certo_strndup(l->s + i + 2, e - i - 2);
        return CERTO_OK;
    }
    e = i + 1;
    while (e < n && l->s[e] != '>' && !is_space((unsigned char)l->s[e]))
        e++;
    ln->kind = CERTO_APACHE_OPEN;
    ln->name = certo_strndup(l->s + i + 1, e - i - 1);
    /* The section's arguments end at the line's last '>'; what follows it is ignored
     * (httpd's section handlers use ap_strrchr_c(arg, '>')). */
    const char *gt = strrchr(l->s + e, '>');
    if (gt == NULL)
        return certo_err_set(err, CERTO_EPARSE, WHERE, "%s:%zu: <%s directive missing closing '>'",
                             path, ln->lineno, ln->name);
    return tokenize(ln, l, e, (size_t)(gt - l->s), path, err);
}

certo_rc
certo_apache__parse(struct certo_apache_file *out, const char *path, const void *data, size_t len,
                    struct certo_err *err)
{
    struct logical l = {0};
    size_t pos = 0, lineno = 1;
    certo_rc rc = CERTO_EINTERNAL;

    memset(out, 0, sizeof(*out));
    out->path = certo_strdup(path);
    out->data = certo_malloc(len + 1);
    if (len > 0)
        memcpy(out->data, data, len);
    out->data[len] = '\0';
    out->len = len;
    while (pos < len) {
        size_t start = pos, lines = 0, i = 0;
        bool crlf = false, eol = false;
        pos = read_logical(&l, out->data, len, pos, &lines, &crlf, &eol);
        while (i < l.len && is_space((unsigned char)l.s[i]))
            i++;
        if (i < l.len && l.s[i] != '#') {
            if (out->n_lines == CERTO_APACHE_LINES_MAX) {
                rc = certo_err_set(err, CERTO_ETOOBIG, WHERE, "%s: more than %d directives", path,
                                   CERTO_APACHE_LINES_MAX);
                goto out;
            }
            if (out->n_lines % 64 == 0)
                out->lines = certo_reallocarray(out->lines, out->n_lines + 64, sizeof(*out->lines));
            struct certo_apache_line *ln = &out->lines[out->n_lines++];
            memset(ln, 0, sizeof(*ln));
            ln->lineno = lineno;
            ln->start = start;
            ln->end = pos;
            ln->indent = l.off[i] - start;
            ln->crlf = crlf;
            ln->eol = eol;
            rc = parse_line(ln, &l, i, path, err);
            if (rc != CERTO_OK)
                goto out;
        }
        lineno += lines;
    }
    rc = CERTO_OK;
out:
    certo_free(l.s);
    certo_free(l.off);
    return rc;
}

void
certo_apache__file_dispose(struct certo_apache_file *f)
{
    if (f == NULL)
        return;
    for (size_t i = 0; i < f->n_lines; i++)
        line_dispose(&f->lines[i]);
    certo_free(f->lines);
    certo_free(f->data);
    certo_free(f->path);
    memset(f, 0, sizeof(*f));
}

static int
edit_cmp(const void *a, const void *b)
{
    const struct certo_apache_edit *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end ? 1 : 0;
}

certo_rc
certo_apache__apply(struct certo_buf *out, const struct certo_apache_file *f,
                    struct certo_apache_edit *edits, size_t n, struct certo_err *err)
{
    size_t pos = 0;
    certo_rc rc = CERTO_OK;

    if (n > 1)
        qsort(edits, n, sizeof(*edits), edit_cmp);
    for (size_t i = 0; i < n; i++) {
        if (edits[i].start < pos || edits[i].end < edits[i].start || edits[i].end > f->len)
            return certo_err_set(err, CERTO_EINTERNAL, WHERE, "%s: overlapping edits at offset %zu",
                                 f->path, edits[i].start);
        rc = certo_buf_append(out, f->data + pos, edits[i].start - pos);
        if (rc == CERTO_OK)
            rc = certo_buf_append_str(out, edits[i].text);
        if (rc != CERTO_OK)
            return certo_err_set(err, rc, WHERE, "%s: the edited file is too big", f->path);
        pos = edits[i].end;
    }
    rc = certo_buf_append(out, f->data + pos, f->len - pos);
    if (rc != CERTO_OK)
        return certo_err_set(err, rc, WHERE, "%s: the edited file is too big", f->path);
    return CERTO_OK;
}

certo_rc
certo_apache__check_value(const char *what, const char *value, struct certo_err *err)
{
    static const char bad[] = "\"'\\;{}<>#$";

    if (value == NULL || value[0] == '\0')
        return certo_err_set(err, CERTO_EINVAL, WHERE, "%s is empty", what);
    for (const unsigned char *p = (const unsigned char *)value; *p != '\0'; p++) {
        if (*p < 0x20 || *p == 0x7f || is_space(*p) || strchr(bad, *p) != NULL)
            return certo_err_set(err, CERTO_EINVAL, WHERE,
                                 "%s '%.200s' cannot be written into an Apache configuration: it "
                                 "holds %s",
                                 what, value,
                                 *p == '\n' ? "a newline"
                                 : is_space(*p) || *p < 0x20 || *p == 0x7f
                                     ? "whitespace or a control character"
                                 : *p == '"' || *p == '\'' ? "a quote"
                                                           : "one of \\ ; { } < > # $");
    }
    return CERTO_OK;
}

bool
certo_apache__cert_covers(const char *cert_name, const char *host)
{
    const char *dot;

    if (cert_name == NULL || host == NULL || host[0] == '\0' || strchr(host, '*') != NULL)
        return false;
    if (strcasecmp(cert_name, host) == 0)
        return true;
    if (cert_name[0] != '*' || cert_name[1] != '.' || cert_name[2] == '\0')
        return false;
    dot = strchr(host, '.');
    return dot != NULL && dot != host && strcasecmp(dot, cert_name + 1) == 0;
}

/* ap_strcasecmp_match, iteratively with one backtrack point (the last '*'). */
bool
certo_apache__alias_match(const char *pattern, const char *host)
{
    const char *p = pattern, *h = host, *star = NULL, *mark = NULL;

    if (pattern == NULL || host == NULL)
        return false;
    while (*h != '\0') {
        if (*p == '*') {
            star = p++;
            mark = h;
        } else if (*p == '?' ||
                   (*p != '\0' && tolower((unsigned char)*p) == tolower((unsigned char)*h))) {
            p++;
            h++;
        } else if (star != NULL) {
            p = star + 1;
            h = ++mark;
        } else {
            return false;
        }
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

char *
certo_apache__probe_name(const char *vhost_name, const char *cert_name)
{
    bool vwild = strpbrk(vhost_name, "*?") != NULL;
    char *cand;

    if (!vwild)
        return certo_apache__cert_covers(cert_name, vhost_name) ? certo_strdup(vhost_name) : NULL;
    if (cert_name[0] != '*') {
        if (strchr(cert_name, '*') == NULL && certo_apache__alias_match(vhost_name, cert_name))
            return certo_strdup(cert_name);
        return NULL;
    }
    cand = certo_asprintf("certo-verify%s", cert_name + 1);
    if (certo_apache__cert_covers(cert_name, cand) && certo_apache__alias_match(vhost_name, cand))
        return cand;
    certo_free(cand);
    return NULL;
}

char *
certo_apache__server_name_host(const char *value)
{
    const char *s = value, *e;
    const char *scheme = strstr(value, "://");

    if (scheme != NULL)
        s = scheme + 3;
    if (s[0] == '[') {
        e = strchr(s, ']');
        return e != NULL ? certo_strndup(s, (size_t)(e - s) + 1) : certo_strdup(s);
    }
    e = strchr(s, ':');
    return e != NULL ? certo_strndup(s, (size_t)(e - s)) : certo_strdup(s);
}

static bool
parse_port(int *out, const char *s)
{
    long v = 0;

    if (s[0] == '\0')
        return false;
    for (const char *p = s; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (*p - '0');
        if (v > 65535)
            return false;
    }
    if (v == 0)
        return false;
    *out = (int)v;
    return true;
}

certo_rc
certo_apache__split_addr(char **host_out, int *port_out, const char *addr)
{
    const char *colon = NULL, *hend;
    char *host;

    *host_out = NULL;
    *port_out = 0;
    if (addr[0] == '[') {
        hend = strchr(addr, ']');
        if (hend == NULL)
            return CERTO_EPARSE;
        host = certo_strndup(addr + 1, (size_t)(hend - addr - 1));
        if (hend[1] == ':')
            colon = hend + 1;
        else if (hend[1] != '\0') {
            certo_free(host);
            return CERTO_EPARSE;
        }
    } else {
        colon = strrchr(addr, ':');
        if (colon != NULL && strchr(addr, ':') != colon)
            colon = NULL; /* a bare IPv6 address */
        host = colon != NULL ? certo_strndup(addr, (size_t)(colon - addr)) : certo_strdup(addr);
    }
    if (colon != NULL && strcmp(colon + 1, "*") != 0 && !parse_port(port_out, colon + 1)) {
        certo_free(host);
        return CERTO_EPARSE;
    }
    if (strcmp(host, "_default_") == 0 || host[0] == '\0') {
        certo_free(host);
        host = certo_strdup("*");
    }
    *host_out = host;
    return CERTO_OK;
}

char *
certo_apache__expand(const char *s, certo_apache_var_fn lookup, const void *arg)
{
    struct certo_buf b;
    const char *p = s;
    char *out;

    certo_buf_init(&b, SIZE_MAX / 2);
    while (*p != '\0') {
        const char *close = NULL, *v = NULL;
        if (p[0] == '$' && p[1] == '{')
            close = strchr(p + 2, '}');
        if (close != NULL)
            v = lookup(p + 2, (size_t)(close - p - 2), arg);
        if (v != NULL) {
            best_effort(certo_buf_append_str(&b, v)); /* no ceiling to hit */
            p = close + 1;
        } else {
            best_effort(certo_buf_append(&b, p, 1));
            p++;
        }
    }
    out = (char *)certo_buf_detach(&b, NULL);
    return out != NULL ? out : certo_strdup("");
}

/* The text after 'prefix' on a line of 'text', up to the end of that line (new string). */
static char *
line_after(const char *text, size_t len, const char *prefix)
{
    size_t plen = strlen(prefix);
    const char *p = text, *end = text + len;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl != NULL ? nl : end;
        const char *q = p;
        while (q < le && (*q == ' ' || *q == '\t'))
            q++;
        if ((size_t)(le - q) >= plen && memcmp(q, prefix, plen) == 0) {
            const char *v = q + plen, *ve = le;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
                ve--;
            return certo_strndup(v, (size_t)(ve - v));
        }
        p = le + 1;
    }
    return NULL;
}

certo_rc
certo_apache__parse_dump(char **root_out, char **conf_out, const char *text, size_t len,
                         struct certo_err *err)
{
    char *root = line_after(text, len, "ServerRoot: ");
    char *conf = line_after(text, len, "(*) ");
    certo_rc rc = CERTO_EPARSE;

    *root_out = NULL;
    *conf_out = NULL;
    if (root == NULL || conf == NULL || root[0] != '"' || strlen(root) < 3 ||
        root[strlen(root) - 1] != '"' || conf[0] != '/') {
        rc = certo_err_set(err, CERTO_EPARSE, WHERE,
                           "apachectl -t -D DUMP_RUN_CFG -D DUMP_INCLUDES did not name the server "
                           "root and the main configuration file");
        goto out;
    }
    *root_out = certo_strndup(root + 1, strlen(root) - 2);
    *conf_out = conf;
    conf = NULL;
    rc = CERTO_OK;
out:
    certo_free(root);
    certo_free(conf);
    return rc;
}
