/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Apache httpd 2.4 endpoints (connector layer). plan() asks apachectl for the server root
 * and the main configuration file, reads the configuration the way httpd does (Include,
 * IncludeOptional, globs, directories, Define and ${VAR}, <IfModule>, <IfDefine>), finds the
 * <VirtualHost> blocks with SSLEngine on that serve a name of the certificate, and hands the
 * engine new full-chain and key files plus the edited configuration files, in which only
 * the values of SSLCertificateFile / SSLCertificateKeyFile change (or those two lines are
 * added). activate() runs configtest and a graceful restart; verify() does a TLS handshake
 * with SNI per name; nodes() lists every <VirtualHost> address and name from the same
 * reading. It reaches the host only through the transport and never writes.
 */
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "certo/cert.h"
#include "certo/key.h"
#include "certo/limits.h"
#include "certo/file.h"
#include "certo/mem.h"
#include "certo/tlsprobe.h"
#include "connector/apache/apache.h"
#include "connector/connector.h"

#define WHERE           "conn.apache"
#define FILE_MAX        (16u * 1024 * 1024) /* one configuration file */
#define FILES_MAX       4096                /* configuration files in one tree */
#define INCLUDE_DEPTH   32                  /* nested Include (httpd allows 128 directories) */
#define SECTION_DEPTH   64                  /* nested <Section> in one file */
#define VERIFY_MS       10000               /* per name: graceful restarts are not instant */
#define DUMP_OUTPUT_MAX (8u * 1024 * 1024)  /* apachectl -t -D DUMP_RUN_CFG -D DUMP_INCLUDES */
#define FIND            "/usr/bin/find"

/* For appends whose failure only shortens a message. */
static void
best_effort(certo_rc rc)
{
    CERTO_UNUSED(rc);
}

/* A growable list of strings. */
struct strv {
    char **v; /* owned strings */
    size_t n;
};

static void
strv_push(struct strv *s, char *take)
{
    if (s->n % 16 == 0)
        s->v = certo_reallocarray(s->v, s->n + 16, sizeof(*s->v));
    s->v[s->n++] = take;
}

static void
strv_dispose(struct strv *s)
{
    for (size_t i = 0; i < s->n; i++)
        certo_free(s->v[i]);
    certo_free(s->v);
    memset(s, 0, sizeof(*s));
}

static bool
strv_has(const struct strv *s, const char *x)
{
    for (size_t i = 0; i < s->n; i++) {
        if (s->v[i] != NULL && strcmp(s->v[i], x) == 0)
            return true;
    }
    return false;
}

/* A directive: line 'line' of file 'file' of the tree. */
struct ref {
    bool set;
    size_t file;
    size_t line;
};

/* One <VirtualHost> as httpd would read it. */
struct vhost {
    struct ref open;   /* the <VirtualHost> tag */
    struct strv addrs; /* its addresses, ${VAR} expanded */
    struct strv names; /* ServerName host first (when given), then ServerAlias values */
    bool has_name;     /* a ServerName was given */
    bool ssl_on;       /* SSLEngine on */
    struct ref engine; /* the last SSLEngine */
    struct ref cert;   /* the last SSLCertificateFile */
    struct ref key;    /* the last SSLCertificateKeyFile */
    struct ref chain;  /* the last SSLCertificateChainFile */
    size_t n_cert, n_key;
    char *cert_path; /* owned; the SSLCertificateFile value, absolute; NULL if none */
    bool matched;    /* plan: serves a name of the certificate */
};

/* The configuration of one server. */
struct tree {
    struct certo_apache_file **files; /* owned; each file once, in first-read order */
    size_t n_files;
    struct strv var_names;    /* Define NAME [VALUE]: parallel to var_values */
    struct strv var_values;   /* NULL entry: defined without a value */
    struct strv modules;      /* loaded so far: "ssl_module" and "mod_ssl.c" forms */
    struct strv listen_hosts; /* Listen: address ("" for all), parallel to listen_ports */
    int *listen_ports;
    struct vhost *vh; /* owned array */
    size_t n_vh;
    long cur;                /* index of the <VirtualHost> being read, or -1 */
    char *root;              /* owned; ServerRoot */
    char *server_name;       /* owned; the main server's ServerName host, or NULL */
    unsigned depth;          /* Include nesting */
    struct strv httpd_files; /* files httpd itself reported (DUMP_INCLUDES) */
};

/* Where verify() probes: one address, port and SNI name. */
struct target {
    char *host; /* owned */
    int port;
    char *sni; /* owned */
};

struct ap_ctx {
    const struct certo_connector_cfg *cfg; /* borrowed; outlives the ctx */
    const char *ctl;                       /* apachectl_path, absolute */
    struct target *targets;                /* owned; filled by plan() for verify() */
    size_t n_targets;
};

static const char *
endpoint_name(const struct ap_ctx *c)
{
    return c->cfg->endpoint_name != NULL ? c->cfg->endpoint_name : "apache";
}

/* ---- configure ---- */

static certo_rc
ap_configure(void *ctx, const struct certo_connector_cfg *cfg, struct certo_err *err)
{
    struct ap_ctx *c = ctx;
    const char *v = certo_connector_opt(cfg, "apachectl_path");

    CERTO_ASSERT(c != NULL && cfg != NULL);
    memset(c, 0, sizeof(*c));
    c->cfg = cfg;
    if (v == NULL)
        v = "/usr/sbin/apachectl";
    if (v[0] != '/')
        return certo_err_set(err, CERTO_EINVAL, WHERE,
                             "endpoint %s: apachectl_path '%.200s' must be an absolute path",
                             endpoint_name(c), v);
    c->ctl = v;
    return CERTO_OK;
}

static void
targets_free(struct ap_ctx *c)
{
    for (size_t i = 0; i < c->n_targets; i++) {
        certo_free(c->targets[i].host);
        certo_free(c->targets[i].sni);
    }
    CERTO_FREE(c->targets);
    c->n_targets = 0;
}

static void
ap_cleanup(void *ctx)
{
    targets_free(ctx);
}

/* ---- running apachectl ---- */

/*
 * Runs apachectl with 'args' (argv only, the connectors' clean environment: Debian's
 * apache2ctl reads /etc/apache2/envvars itself) and logs the command, its output and
 * its status to 'log' (may be NULL). 'r' is filled whatever the exit status.
 * @return CERTO_OK when it ran; CERTO_ETIMEDOUT; what the transport returns otherwise.
 */
static certo_rc
ctl_run(struct certo_exec_result *r, const struct ap_ctx *c, struct certo_transport *t,
        const char *const *args, size_t max_output, struct certo_buf *log, struct certo_err *err)
{
    const char *argv[8];
    struct certo_connector_cmd cmd = {.argv = argv, .max_output = max_output};
    char *what;
    size_t n = 0;
    certo_rc rc;

    argv[n++] = c->ctl;
    for (size_t i = 0; args[i] != NULL && n < CERTO_ARRAY_LEN(argv) - 1; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    what = certo_asprintf("%s %s", c->ctl, args[0]);
    cmd.what = what;
    rc = certo_connector_exec(r, t, c->cfg, &cmd, log, err);
    certo_free(what);
    return rc;
}

/* The first line of apachectl's output that says what went wrong (new string). httpd
 * prints "AH00526: Syntax error on line N of FILE:" and the reason on the next line. */
static char *
first_error(const struct certo_exec_result *r)
{
    const struct certo_buf *bufs[2] = {&r->err, &r->out};

    for (size_t b = 0; b < 2; b++) {
        const char *s = (const char *)bufs[b]->data;
        if (s == NULL)
            continue;
        while (*s != '\0') {
            const char *nl = strchr(s, '\n');
            size_t n = nl != NULL ? (size_t)(nl - s) : strlen(s);
            if (n > 0 && strncmp(s, "Syntax OK", 9) != 0 && strncmp(s, "AH00558", 7) != 0) {
                if (s[n - 1] == ':' && nl != NULL && nl[1] != '\0') {
                    const char *nl2 = strchr(nl + 1, '\n');
                    size_t n2 = nl2 != NULL ? (size_t)(nl2 - nl - 1) : strlen(nl + 1);
                    return certo_asprintf("%.*s %.*s", (int)n, s, (int)n2, nl + 1);
                }
                return certo_strndup(s, n);
            }
            if (nl == NULL)
                break;
            s = nl + 1;
        }
    }
    return certo_asprintf("exit status %d", r->exit_code);
}

/* Runs apachectl 'args' and requires exit status 0; 'what' names the step. */
static certo_rc
ctl_ok(const struct ap_ctx *c, struct certo_transport *t, const char *const *args, const char *what,
       struct certo_buf *log, struct certo_err *err)
{
    struct certo_exec_result r = {0};
    certo_rc rc = ctl_run(&r, c, t, args, 0, log, err);

    if (rc == CERTO_OK && (r.exit_code != 0 || r.term_signal != 0)) {
        char *why = first_error(&r);
        rc = certo_err_set(err, CERTO_EREMOTE, WHERE, "%s failed: %s", what, why);
        certo_free(why);
    }
    certo_exec_result_dispose(&r);
    return rc;
}

/* ---- reading the configuration ---- */

static const char *
var_lookup(const char *name, size_t len, const void *arg)
{
    const struct tree *tr = arg;

    for (size_t i = tr->var_names.n; i-- > 0;) {
        if (tr->var_names.v[i] != NULL && strlen(tr->var_names.v[i]) == len &&
            memcmp(tr->var_names.v[i], name, len) == 0)
            return tr->var_values.v[i];
    }
    return NULL;
}

static bool
is_defined(const struct tree *tr, const char *name)
{
    return strv_has(&tr->var_names, name);
}

static char *
expand(const struct tree *tr, const char *s)
{
    return certo_apache__expand(s, var_lookup, tr);
}

/* ap_server_root_relative: an absolute path, or one relative to ServerRoot (new string),
 * without repeated or trailing slashes so that every file has one name. */
static char *
root_relative(const struct tree *tr, const char *p)
{
    char *s = p[0] == '/' ? certo_strdup(p) : certo_asprintf("%s/%s", tr->root, p);
    size_t o = 0;

    for (size_t i = 0; s[i] != '\0'; i++) {
        if (s[i] == '/' && o > 0 && s[o - 1] == '/')
            continue;
        s[o++] = s[i];
    }
    while (o > 1 && s[o - 1] == '/')
        o--;
    s[o] = '\0';
    return s;
}

static void
tree_dispose(struct tree *tr)
{
    for (size_t i = 0; i < tr->n_files; i++) {
        certo_apache__file_dispose(tr->files[i]);
        certo_free(tr->files[i]);
    }
    certo_free(tr->files);
    for (size_t i = 0; i < tr->n_vh; i++) {
        strv_dispose(&tr->vh[i].addrs);
        strv_dispose(&tr->vh[i].names);
        certo_free(tr->vh[i].cert_path);
    }
    certo_free(tr->vh);
    strv_dispose(&tr->var_names);
    strv_dispose(&tr->var_values);
    strv_dispose(&tr->modules);
    strv_dispose(&tr->listen_hosts);
    certo_free(tr->listen_ports);
    strv_dispose(&tr->httpd_files);
    certo_free(tr->root);
    certo_free(tr->server_name);
    memset(tr, 0, sizeof(*tr));
}

/* One directory entry. */
struct dirent_ {
    char *name; /* owned */
    bool is_dir;
};

static int
dirent_cmp(const void *a, const void *b)
{
    return strcmp(((const struct dirent_ *)a)->name, ((const struct dirent_ *)b)->name);
}

static void
dirents_free(struct dirent_ *d, size_t n)
{
    for (size_t i = 0; i < n; i++)
        certo_free(d[i].name);
    certo_free(d);
}

/*
 * Lists directory 'dir' through the transport (a connector may not open files itself):
 * `find -H DIR -mindepth 1 -maxdepth 1 -printf %Y%f\0` gives each entry's type, following
 * symlinks (Debian's sites-enabled/ holds links), and its name, NUL-terminated so that any
 * byte of a name is safe. Sorted by strcmp, as httpd sorts.
 */
static certo_rc
list_dir(struct dirent_ **out, size_t *n_out, struct certo_transport *t, const char *dir,
         struct certo_err *err)
{
    const char *argv[] = {FIND,        "-H", dir,       "-mindepth", "1",
                          "-maxdepth", "1",  "-printf", "%Y%f\\0",   NULL};
    struct certo_exec_opts o = {0};
    struct certo_exec_result r = {0};
    struct dirent_ *d = NULL;
    size_t n = 0;
    certo_rc rc;

    *out = NULL;
    *n_out = 0;
    o.argv = argv;
    o.max_output = CERTO_LIMIT_EXEC_OUTPUT;
    o.timeout_ms = 30000;
    rc = certo_transport_exec(t, &o, &r, err);
    if (rc != CERTO_OK)
        goto out;
    if (r.exit_code != 0 || r.out_truncated) {
        rc = certo_err_set(err, CERTO_EIO, WHERE, "cannot list directory %s: %.200s", dir,
                           r.err.data != NULL ? (const char *)r.err.data : "find failed");
        goto out;
    }
    for (size_t i = 0; i < r.out.len;) {
        const char *e = (const char *)r.out.data + i;
        size_t len = strnlen(e, r.out.len - i);
        if (len >= 2 && n < FILES_MAX) {
            if (n % 32 == 0)
                d = certo_reallocarray(d, n + 32, sizeof(*d));
            d[n].is_dir = e[0] == 'd';
            d[n].name = certo_strndup(e + 1, len - 1);
            n++;
        }
        i += len + 1;
    }
    if (n > 1)
        qsort(d, n, sizeof(*d), dirent_cmp);
    *out = d;
    *n_out = n;
    d = NULL;
    n = 0;
    rc = CERTO_OK;
out:
    dirents_free(d, n);
    certo_exec_result_dispose(&r);
    return rc;
}

static certo_rc walk(struct tree *tr, struct certo_transport *t, size_t fi, struct certo_err *err);

/* Reads, parses and walks configuration file 'path'. */
static certo_rc
include_file(struct tree *tr, struct certo_transport *t, const char *path, struct certo_err *err)
{
    struct certo_apache_file *f = NULL;
    struct certo_buf b;
    size_t fi = tr->n_files;
    certo_rc rc = CERTO_EINTERNAL;

    certo_buf_init(&b, FILE_MAX);
    if (tr->depth >= INCLUDE_DEPTH) {
        rc = certo_err_set(err, CERTO_ETOOBIG, WHERE,
                           "%s: Include nested more than %d deep (a loop?)", path, INCLUDE_DEPTH);
        goto out;
    }
    for (size_t i = 0; i < tr->n_files; i++) {
        if (strcmp(tr->files[i]->path, path) == 0)
            fi = i; /* httpd reads a file again each time it is included */
    }
    if (fi == tr->n_files) {
        if (tr->n_files >= FILES_MAX) {
            rc = certo_err_set(err, CERTO_ETOOBIG, WHERE, "more than %d configuration files",
                               FILES_MAX);
            goto out;
        }
        rc = certo_transport_get(t, path, &b, err);
        if (rc != CERTO_OK)
            goto out;
        f = certo_calloc(1, sizeof(*f));
        rc = certo_apache__parse(f, path, b.data, b.len, err);
        if (rc != CERTO_OK)
            goto out;
        tr->files = certo_reallocarray(tr->files, tr->n_files + 1, sizeof(*tr->files));
        tr->files[tr->n_files++] = f;
        f = NULL;
    }
    tr->depth++;
    rc = walk(tr, t, fi, err);
    tr->depth--;
out:
    if (f != NULL) {
        certo_apache__file_dispose(f);
        certo_free(f);
    }
    certo_buf_dispose(&b);
    return rc;
}

static certo_rc include_path(struct tree *tr, struct certo_transport *t, const char *path,
                             bool is_dir, struct certo_err *err);

/* A directory named by Include: every entry but . and .., sorted, subdirectories too
 * (httpd process_resource_config_nofnm). */
static certo_rc
include_dir(struct tree *tr, struct certo_transport *t, const char *dir, struct certo_err *err)
{
    struct dirent_ *d = NULL;
    size_t n = 0;
    certo_rc rc = list_dir(&d, &n, t, dir, err);

    for (size_t i = 0; rc == CERTO_OK && i < n; i++) {
        char *p = certo_asprintf("%s/%s", dir, d[i].name);
        rc = include_path(tr, t, p, d[i].is_dir, err);
        certo_free(p);
    }
    dirents_free(d, n);
    return rc;
}

static certo_rc
include_path(struct tree *tr, struct certo_transport *t, const char *path, bool is_dir,
             struct certo_err *err)
{
    if (tr->depth >= INCLUDE_DEPTH)
        return certo_err_set(err, CERTO_ETOOBIG, WHERE,
                             "%s: Include nested more than %d deep (a loop?)", path, INCLUDE_DEPTH);
    if (!is_dir)
        return include_file(tr, t, path, err);
    tr->depth++;
    certo_rc rc = include_dir(tr, t, path, err);
    tr->depth--;
    return rc;
}

static bool
has_wildcard(const char *s)
{
    return strpbrk(s, "*?[") != NULL;
}

/*
 * Expands the wildcard path 'base'/'rest' into 'out' (paths) and 'dirs' (parallel: is it a
 * directory), the way httpd 2.4 does: a wildcard may appear in any component, matched with
 * fnmatch and APR_FNM_PERIOD (a leading dot must be matched explicitly), sorted.
 */
static certo_rc
glob_expand(struct strv *out, struct strv *dirs, struct certo_transport *t, const char *base,
            const char *rest, struct certo_err *err)
{
    const char *slash = strchr(rest, '/');
    char *comp = slash != NULL ? certo_strndup(rest, (size_t)(slash - rest)) : certo_strdup(rest);
    const char *more = slash != NULL ? slash + 1 : NULL;
    struct dirent_ *d = NULL;
    size_t n = 0;
    certo_rc rc = CERTO_OK;

    while (more != NULL && *more == '/')
        more++;
    if (more != NULL && *more == '\0')
        more = NULL;
    if (comp[0] == '\0' || !has_wildcard(comp)) {
        char *p = certo_asprintf("%s/%s", strcmp(base, "/") == 0 ? "" : base, comp);
        if (more != NULL) {
            rc = glob_expand(out, dirs, t, p, more, err);
        } else {
            struct certo_file_meta m;
            rc = certo_transport_stat(t, p, &m, err);
            if (rc == CERTO_OK && m.exists) {
                strv_push(out, p);
                strv_push(dirs, m.is_dir ? certo_strdup("d") : NULL);
                p = NULL;
            }
        }
        certo_free(p);
        goto out;
    }
    rc = list_dir(&d, &n, t, base, err);
    if (rc != CERTO_OK)
        goto out;
    for (size_t i = 0; rc == CERTO_OK && i < n && out->n < FILES_MAX; i++) {
        if (fnmatch(comp, d[i].name, FNM_PERIOD) != 0)
            continue;
        char *p = certo_asprintf("%s/%s", strcmp(base, "/") == 0 ? "" : base, d[i].name);
        if (more != NULL) {
            if (d[i].is_dir)
                rc = glob_expand(out, dirs, t, p, more, err);
            certo_free(p);
        } else {
            strv_push(out, p);
            strv_push(dirs, d[i].is_dir ? certo_strdup("d") : NULL);
        }
    }
out:
    dirents_free(d, n);
    certo_free(comp);
    return rc;
}

/* Include / IncludeOptional 'arg' (line 'ln' of 'f'). */
static certo_rc
do_include(struct tree *tr, struct certo_transport *t, const struct certo_apache_file *f,
           const struct certo_apache_line *ln, bool optional, struct certo_err *err)
{
    char *x = NULL, *path = NULL;
    struct strv found = {0}, dirs = {0};
    certo_rc rc = CERTO_OK;

    if (ln->n_args != 1) {
        rc = certo_err_set(err, CERTO_EPARSE, WHERE, "%s:%zu: %s takes one argument", f->path,
                           ln->lineno, ln->name);
        goto out;
    }
    x = expand(tr, ln->args[0].value);
    path = root_relative(tr, x);
    if (!has_wildcard(path)) {
        struct certo_file_meta m;
        rc = certo_transport_stat(t, path, &m, err);
        if (rc != CERTO_OK)
            goto out;
        if (!m.exists) {
            if (!optional)
                rc = certo_err_set(err, CERTO_ENOTFOUND, WHERE, "%s:%zu: Include %s: no such file",
                                   f->path, ln->lineno, path);
            goto out;
        }
        rc = include_path(tr, t, path, m.is_dir, err);
        goto out;
    }
    rc = glob_expand(&found, &dirs, t, "/", path + 1, err);
    if (rc == CERTO_OK && found.n == 0 && !optional)
        rc = certo_err_set(err, CERTO_ENOTFOUND, WHERE,
                           "%s:%zu: Include %s: no matches for the wildcard", f->path, ln->lineno,
                           path);
    for (size_t i = 0; rc == CERTO_OK && i < found.n; i++)
        rc = include_path(tr, t, found.v[i], dirs.v[i] != NULL, err);
out:
    strv_dispose(&found);
    strv_dispose(&dirs);
    certo_free(x);
    certo_free(path);
    return rc;
}

/* <IfModule [!]name>: "ssl_module" or "mod_ssl.c", loaded by an earlier LoadModule or
 * compiled in (apachectl -l). */
static bool
if_module(const struct tree *tr, const struct certo_apache_line *ln)
{
    const char *m;
    bool neg;

    if (ln->n_args < 1)
        return false;
    m = ln->args[0].value;
    neg = m[0] == '!';
    return strv_has(&tr->modules, neg ? m + 1 : m) != neg;
}

static bool
if_define(const struct tree *tr, const struct certo_apache_line *ln)
{
    char *name;
    bool neg, r;

    if (ln->n_args < 1)
        return false;
    name = expand(tr, ln->args[0].value);
    neg = name[0] == '!';
    r = is_defined(tr, neg ? name + 1 : name) != neg;
    certo_free(name);
    return r;
}

/* Records module 'name' ("ssl_module") in both of httpd's spellings. */
static void
add_module(struct tree *tr, const char *name)
{
    size_t n = strlen(name);

    strv_push(&tr->modules, certo_strdup(name));
    if (n > 7 && strcmp(name + n - 7, "_module") == 0)
        strv_push(&tr->modules, certo_asprintf("mod_%.*s.c", (int)(n - 7), name));
    else if (n > 6 && strncmp(name, "mod_", 4) == 0 && strcmp(name + n - 2, ".c") == 0)
        strv_push(&tr->modules, certo_asprintf("%.*s_module", (int)(n - 6), name + 4));
}

static void
define(struct tree *tr, const char *name, const char *value)
{
    strv_push(&tr->var_names, certo_strdup(name));
    strv_push(&tr->var_values, value != NULL ? certo_strdup(value) : NULL);
}

static void
undefine(struct tree *tr, const char *name)
{
    for (size_t i = 0; i < tr->var_names.n; i++) {
        if (tr->var_names.v[i] != NULL && strcmp(tr->var_names.v[i], name) == 0) {
            CERTO_FREE(tr->var_names.v[i]);
            CERTO_FREE(tr->var_values.v[i]);
        }
    }
}

static void
add_listen(struct tree *tr, const struct certo_apache_line *ln)
{
    char *x, *host = NULL;
    int port = 0;

    if (ln->n_args < 1)
        return;
    x = expand(tr, ln->args[0].value);
    if (strchr(x, ':') == NULL) {
        host = certo_strdup("");
        port = (int)strtol(x, NULL, 10);
    } else if (certo_apache__split_addr(&host, &port, x) != CERTO_OK) {
        host = NULL;
    }
    if (host != NULL && port > 0 && port < 65536) {
        strv_push(&tr->listen_hosts, host);
        tr->listen_ports =
            certo_reallocarray(tr->listen_ports, tr->listen_hosts.n, sizeof(*tr->listen_ports));
        tr->listen_ports[tr->listen_hosts.n - 1] = port;
        host = NULL;
    }
    certo_free(host);
    certo_free(x);
}

static void
set_ref(struct ref *r, size_t fi, size_t li)
{
    r->set = true;
    r->file = fi;
    r->line = li;
}

/* A directive inside the current <VirtualHost>. */
static void
vhost_directive(struct tree *tr, size_t fi, size_t li)
{
    const struct certo_apache_line *ln = &tr->files[fi]->lines[li];
    struct vhost *v = &tr->vh[tr->cur];
    const char *n = ln->name;

    if (strcasecmp(n, "ServerName") == 0 && ln->n_args >= 1) {
        char *x = expand(tr, ln->args[0].value);
        char *h = certo_apache__server_name_host(x);
        if (v->has_name) {
            certo_free(v->names.v[0]);
            v->names.v[0] = h;
        } else {
            strv_push(&v->names, NULL);
            memmove(v->names.v + 1, v->names.v, (v->names.n - 1) * sizeof(*v->names.v));
            v->names.v[0] = h;
            v->has_name = true;
        }
        certo_free(x);
    } else if (strcasecmp(n, "ServerAlias") == 0) {
        for (size_t i = 0; i < ln->n_args; i++)
            strv_push(&v->names, expand(tr, ln->args[i].value));
    } else if (strcasecmp(n, "SSLEngine") == 0 && ln->n_args >= 1) {
        v->ssl_on = strcasecmp(ln->args[0].value, "on") == 0;
        set_ref(&v->engine, fi, li);
    } else if (strcasecmp(n, "SSLCertificateFile") == 0) {
        set_ref(&v->cert, fi, li);
        v->n_cert++;
        CERTO_FREE(v->cert_path);
        if (ln->n_args >= 1) {
            char *x = expand(tr, ln->args[0].value);
            v->cert_path = root_relative(tr, x);
            certo_free(x);
        }
    } else if (strcasecmp(n, "SSLCertificateKeyFile") == 0) {
        set_ref(&v->key, fi, li);
        v->n_key++;
    } else if (strcasecmp(n, "SSLCertificateChainFile") == 0) {
        set_ref(&v->chain, fi, li);
    }
}

/* A directive in an active part of the configuration. */
static certo_rc
directive(struct tree *tr, struct certo_transport *t, size_t fi, size_t li, struct certo_err *err)
{
    const struct certo_apache_file *f = tr->files[fi];
    const struct certo_apache_line *ln = &f->lines[li];
    const char *n = ln->name;

    if (strcasecmp(n, "Include") == 0 || strcasecmp(n, "IncludeOptional") == 0)
        return do_include(tr, t, f, ln, strcasecmp(n, "IncludeOptional") == 0, err);
    if (strcasecmp(n, "Define") == 0 && ln->n_args >= 1) {
        char *name = expand(tr, ln->args[0].value);
        char *value = ln->n_args >= 2 ? expand(tr, ln->args[1].value) : NULL;
        define(tr, name, value);
        certo_free(name);
        certo_free(value);
    } else if (strcasecmp(n, "UnDefine") == 0 && ln->n_args >= 1) {
        undefine(tr, ln->args[0].value);
    } else if (strcasecmp(n, "LoadModule") == 0 && ln->n_args >= 1) {
        char *m = expand(tr, ln->args[0].value);
        add_module(tr, m);
        certo_free(m);
    } else if (strcasecmp(n, "Listen") == 0) {
        add_listen(tr, ln);
    } else if (tr->cur >= 0) {
        vhost_directive(tr, fi, li);
    } else if (strcasecmp(n, "ServerRoot") == 0 && ln->n_args >= 1) {
        char *x = expand(tr, ln->args[0].value);
        size_t len = strlen(x);
        while (len > 1 && x[len - 1] == '/')
            x[--len] = '\0';
        if (x[0] == '/') {
            certo_free(tr->root);
            tr->root = x;
            x = NULL;
        }
        certo_free(x);
    } else if (strcasecmp(n, "ServerName") == 0 && ln->n_args >= 1) {
        char *x = expand(tr, ln->args[0].value);
        certo_free(tr->server_name);
        tr->server_name = certo_apache__server_name_host(x);
        certo_free(x);
    }
    return CERTO_OK;
}

static certo_rc
open_vhost(struct tree *tr, size_t fi, size_t li, struct certo_err *err)
{
    const struct certo_apache_file *f = tr->files[fi];
    const struct certo_apache_line *ln = &f->lines[li];
    struct vhost *v;

    if (tr->cur >= 0)
        return certo_err_set(err, CERTO_EPARSE, WHERE, "%s:%zu: <VirtualHost> inside <VirtualHost>",
                             f->path, ln->lineno);
    tr->vh = certo_reallocarray(tr->vh, tr->n_vh + 1, sizeof(*tr->vh));
    v = &tr->vh[tr->n_vh];
    memset(v, 0, sizeof(*v));
    set_ref(&v->open, fi, li);
    for (size_t i = 0; i < ln->n_args; i++)
        strv_push(&v->addrs, expand(tr, ln->args[i].value));
    tr->cur = (long)tr->n_vh++;
    return CERTO_OK;
}

/* A frame of the section stack of one file. */
struct frame {
    const char *name; /* borrowed from the file */
    bool active;      /* directives inside are in effect */
    bool vhost;       /* it opened the current <VirtualHost> */
};

/*
 * Reads file 'fi' directive by directive, in httpd's order: conditional sections are
 * decided when they open (an <IfModule> sees only the modules loaded above it), and an
 * Include is read where it stands. Sections must close in the file that opened them.
 */
static certo_rc
walk(struct tree *tr, struct certo_transport *t, size_t fi, struct certo_err *err)
{
    const struct certo_apache_file *f = tr->files[fi];
    struct frame st[SECTION_DEPTH];
    size_t depth = 0;
    certo_rc rc = CERTO_OK;

    for (size_t li = 0; li < f->n_lines; li++) {
        const struct certo_apache_line *ln = &f->lines[li];
        bool active = depth == 0 || st[depth - 1].active;
        if (ln->kind == CERTO_APACHE_OPEN) {
            struct frame fr = {ln->name, active, false};
            if (depth == SECTION_DEPTH)
                return certo_err_set(err, CERTO_EPARSE, WHERE, "%s:%zu: sections nested too deep",
                                     f->path, ln->lineno);
            if (active && strcasecmp(ln->name, "IfModule") == 0)
                fr.active = if_module(tr, ln);
            else if (active && strcasecmp(ln->name, "IfDefine") == 0)
                fr.active = if_define(tr, ln);
            else if (strcasecmp(ln->name, "Macro") == 0)
                fr.active = false; /* a template, used by Use: not read */
            else if (active && strcasecmp(ln->name, "VirtualHost") == 0) {
                rc = open_vhost(tr, fi, li, err);
                if (rc != CERTO_OK)
                    return rc;
                fr.vhost = true;
            }
            st[depth++] = fr;
        } else if (ln->kind == CERTO_APACHE_CLOSE) {
            if (depth == 0 || strcasecmp(st[depth - 1].name, ln->name) != 0)
                return certo_err_set(err, CERTO_EPARSE, WHERE, "%s:%zu: </%s> without <%s>",
                                     f->path, ln->lineno, ln->name, ln->name);
            if (st[depth - 1].vhost)
                tr->cur = -1;
            depth--;
        } else if (active) {
            rc = directive(tr, t, fi, li, err);
            if (rc != CERTO_OK)
                return rc;
        }
    }
    if (depth > 0)
        return certo_err_set(err, CERTO_EPARSE, WHERE, "%s: <%s> is not closed", f->path,
                             st[depth - 1].name);
    return CERTO_OK;
}

/*
 * Asks apachectl where the configuration is. `-V` prints the compiled-in HTTPD_ROOT and
 * SERVER_CONFIG_FILE even when apachectl runs httpd with -d/-f, so the dumps of a
 * configuration test are used instead: DUMP_RUN_CFG prints the effective ServerRoot and
 * every Define (also those given with -D), DUMP_INCLUDES the main file and every file
 * httpd read, which is cross-checked against what this reader reads.
 */
static certo_rc
locate(struct tree *tr, char **conf_out, const struct ap_ctx *c, struct certo_transport *t,
       struct certo_err *err)
{
    static const char *const dump[] = {"-t", "-D", "DUMP_RUN_CFG", "-D", "DUMP_INCLUDES", NULL};
    static const char *const list[] = {"-l", NULL};
    struct certo_exec_result r = {0};
    certo_rc rc;

    *conf_out = NULL;
    rc = ctl_run(&r, c, t, dump, DUMP_OUTPUT_MAX, NULL, err);
    if (rc == CERTO_OK && r.out_truncated)
        rc = certo_err_set(err, CERTO_ETOOBIG, WHERE,
                           "apachectl -t -D DUMP_RUN_CFG printed more than %u MiB",
                           DUMP_OUTPUT_MAX >> 20);
    if (rc == CERTO_OK && (r.exit_code != 0 || r.term_signal != 0)) {
        char *why = first_error(&r);
        rc = certo_err_set(err, CERTO_EREMOTE, WHERE,
                           "the current configuration fails apachectl -t: %s", why);
        certo_free(why);
    }
    if (rc == CERTO_OK)
        rc =
            certo_apache__parse_dump(&tr->root, conf_out, (const char *)r.out.data, r.out.len, err);
    for (const char *s = (const char *)r.out.data; rc == CERTO_OK && s != NULL && *s != '\0';) {
        const char *nl = strchr(s, '\n');
        size_t n = nl != NULL ? (size_t)(nl - s) : strlen(s);
        const char *p = s;
        while (p < s + n && *p == ' ')
            p++;
        if (n > 8 && strncmp(s, "Define: ", 8) == 0) {
            char *d = certo_strndup(s + 8, n - 8);
            char *eq = strchr(d, '=');
            if (eq != NULL)
                *eq = '\0';
            if (strncmp(d, "DUMP_", 5) != 0)
                define(tr, d, eq != NULL ? eq + 1 : NULL);
            certo_free(d);
        } else if (*p == '(' && memchr(p, ')', (size_t)(s + n - p)) != NULL) {
            const char *q = memchr(p, ')', (size_t)(s + n - p));
            if (q + 2 < s + n && q[1] == ' ' && q[2] == '/')
                strv_push(&tr->httpd_files, certo_strndup(q + 2, (size_t)(s + n - q - 2)));
        }
        s = nl != NULL ? nl + 1 : NULL;
    }
    certo_exec_result_dispose(&r);
    if (rc == CERTO_OK)
        rc = ctl_run(&r, c, t, list, 0, NULL, err);
    for (const char *s = (const char *)r.out.data; rc == CERTO_OK && s != NULL && *s != '\0';) {
        const char *nl = strchr(s, '\n');
        size_t n = nl != NULL ? (size_t)(nl - s) : strlen(s);
        while (n > 0 && *s == ' ') {
            s++;
            n--;
        }
        if (n > 2 && strncmp(s + n - 2, ".c", 2) == 0) {
            char *m = certo_strndup(s, n);
            add_module(tr, m);
            certo_free(m);
        }
        s = nl != NULL ? nl + 1 : NULL;
    }
    certo_exec_result_dispose(&r);
    if (rc != CERTO_OK) {
        CERTO_FREE(*conf_out);
        CERTO_FREE(tr->root);
    }
    return rc;
}

/* Reads the whole configuration of the server into 'tr'. */
static certo_rc
load_tree(struct tree *tr, const struct ap_ctx *c, struct certo_transport *t, struct certo_err *err)
{
    char *conf = NULL;
    certo_rc rc;

    memset(tr, 0, sizeof(*tr));
    tr->cur = -1;
    rc = locate(tr, &conf, c, t, err);
    if (rc == CERTO_OK)
        rc = include_file(tr, t, conf, err);
    certo_free(conf);
    return rc;
}

/* ---- plan ---- */

/* The certificate's DNS names, or its CN when it has none (new strings). */
static certo_rc
cert_names(struct strv *out, X509 *leaf, struct certo_err *err)
{
    struct certo_cert_info info;
    certo_rc rc = certo_cert_info_get(&info, leaf, err);

    if (rc != CERTO_OK)
        return rc;
    for (size_t i = 0; i < info.n_sans; i++) {
        if (strcmp(info.sans[i].type, "DNS") == 0 && !strv_has(out, info.sans[i].value))
            strv_push(out, certo_strdup(info.sans[i].value));
    }
    if (out->n == 0 && info.common_name != NULL)
        strv_push(out, certo_strdup(info.common_name));
    certo_cert_info_dispose(&info);
    return CERTO_OK;
}

static const struct certo_apache_line *
ref_line(const struct tree *tr, struct ref r)
{
    return &tr->files[r.file]->lines[r.line];
}

/* "<VirtualHost *:443> (a.example, b.example) at FILE:LINE", for messages (new string). */
static char *
vhost_text(const struct tree *tr, const struct vhost *v)
{
    struct certo_buf b;
    char *s;

    certo_buf_init(&b, 4096);
    best_effort(certo_buf_append_str(&b, "<VirtualHost"));
    for (size_t i = 0; i < v->addrs.n; i++)
        best_effort(certo_buf_printf(&b, " %s", v->addrs.v[i]));
    best_effort(certo_buf_printf(&b, "> at %s:%zu", tr->files[v->open.file]->path,
                                 ref_line(tr, v->open)->lineno));
    s = (char *)certo_buf_detach(&b, NULL);
    return s != NULL ? s : certo_strdup("<VirtualHost>");
}

/* The edits of one file of the plan. */
struct fedits {
    struct certo_apache_edit *e; /* owned */
    size_t n;
    struct certo_buf diff; /* the summary's lines for this file */
};

/* A pair of files to write in one directory. */
struct pair {
    char *dir;  /* owned */
    char *cert; /* owned */
    char *key;  /* owned */
};

struct planner {
    const struct ap_ctx *c;
    struct certo_transport *t;
    struct tree tr;
    struct fedits *fe; /* parallel to tr.files */
    struct pair *pairs;
    size_t n_pairs;
    char hex[17]; /* the first 16 hex digits of fp_after, lower case */
};

/* The blanks at the start of line 'ln' (new string). */
static char *
indent_of(const struct certo_apache_file *f, const struct certo_apache_line *ln)
{
    size_t n = 0;
    while (n < ln->indent && (f->data[ln->start + n] == ' ' || f->data[ln->start + n] == '\t'))
        n++;
    return certo_strndup((const char *)f->data + ln->start, n);
}

/* Line 'ln' as written, without its newline, continuation lines joined as they are. */
static void
diff_line(struct certo_buf *b, char sign, const char *text, size_t n)
{
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        n--;
    best_effort(certo_buf_printf(b, "  %c%.*s\n", sign, (int)n, text));
}

static void
add_edit(struct fedits *fe, size_t start, size_t end, char *take)
{
    for (size_t i = 0; i < fe->n; i++) {
        if (fe->e[i].start == start && fe->e[i].end == end && strcmp(fe->e[i].text, take) == 0) {
            certo_free(take); /* the same line reached through two vhosts */
            return;
        }
    }
    fe->e = certo_reallocarray(fe->e, fe->n + 1, sizeof(*fe->e));
    fe->e[fe->n].start = start;
    fe->e[fe->n].end = end;
    fe->e[fe->n].text = take;
    fe->n++;
}

/* Sets the first argument of directive 'r' to 'value', keeping its quotes. */
static certo_rc
set_value(struct planner *pl, struct ref r, const char *value, struct certo_err *err)
{
    const struct certo_apache_file *f = pl->tr.files[r.file];
    const struct certo_apache_line *ln = &f->lines[r.line];
    const struct certo_apache_arg *a;
    struct fedits *fe = &pl->fe[r.file];
    char *text;

    if (ln->n_args < 1)
        return certo_err_set(err, CERTO_EPARSE, WHERE, "%s:%zu: %s has no value", f->path,
                             ln->lineno, ln->name);
    a = &ln->args[0];
    if (strcmp(a->value, value) == 0)
        return CERTO_OK;
    text =
        a->quote != 0 ? certo_asprintf("%c%s%c", a->quote, value, a->quote) : certo_strdup(value);
    bool seen = false;
    for (size_t i = 0; i < fe->n; i++)
        seen = seen || fe->e[i].start == a->start; /* already edited through another vhost */
    if (!seen) {
        char *after = certo_asprintf("%.*s%s%.*s", (int)(a->start - ln->start), f->data + ln->start,
                                     text, (int)(ln->end - a->end), f->data + a->end);
        best_effort(certo_buf_printf(&fe->diff, "  %s:%zu\n", f->path, ln->lineno));
        diff_line(&fe->diff, '-', (const char *)f->data + ln->start, ln->end - ln->start);
        diff_line(&fe->diff, '+', after, strlen(after));
        certo_free(after);
    }
    add_edit(fe, a->start, a->end, text);
    return CERTO_OK;
}

/* Adds directive lines 'names[i] values[i]' after directive 'r', with its indentation. */
static void
insert_after(struct planner *pl, struct ref r, const char *const *names, const char *const *values,
             size_t n)
{
    const struct certo_apache_file *f = pl->tr.files[r.file];
    const struct certo_apache_line *ln = &f->lines[r.line];
    struct fedits *fe = &pl->fe[r.file];
    const char *nl = ln->crlf ? "\r\n" : "\n";
    char *ind = indent_of(f, ln);
    struct certo_buf b;
    char *text;

    certo_buf_init(&b, 64 * 1024);
    if (!ln->eol)
        best_effort(certo_buf_append_str(&b, nl));
    for (size_t i = 0; i < n; i++) {
        best_effort(certo_buf_printf(&b, "%s%s %s", ind, names[i], values[i]));
        if (ln->eol || i + 1 < n)
            best_effort(certo_buf_append_str(&b, nl));
        best_effort(certo_buf_printf(&fe->diff, "  %s: after line %zu\n", f->path, ln->lineno));
        best_effort(certo_buf_printf(&fe->diff, "  +%s%s %s\n", ind, names[i], values[i]));
    }
    text = (char *)certo_buf_detach(&b, NULL);
    add_edit(fe, ln->end, ln->end, text);
    certo_free(ind);
}

/* The pair of new files in directory 'dir' (created on first use). */
static const struct pair *
pair_for(struct planner *pl, const char *dir)
{
    const char *ep = endpoint_name(pl->c);
    char *base;

    for (size_t i = 0; i < pl->n_pairs; i++) {
        if (strcmp(pl->pairs[i].dir, dir) == 0)
            return &pl->pairs[i];
    }
    /* Endpoint names are checked by the registry; keep file names plain anyway. */
    base = certo_strdup(ep);
    for (char *p = base; *p != '\0'; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '-' || *p == '_'))
            *p = '_';
    }
    pl->pairs = certo_reallocarray(pl->pairs, pl->n_pairs + 1, sizeof(*pl->pairs));
    struct pair *p = &pl->pairs[pl->n_pairs++];
    p->dir = certo_strdup(dir);
    p->cert =
        certo_asprintf("%s/%s-%s.fullchain.pem", strcmp(dir, "/") == 0 ? "" : dir, base, pl->hex);
    p->key = certo_asprintf("%s/%s-%s.key", strcmp(dir, "/") == 0 ? "" : dir, base, pl->hex);
    certo_free(base);
    return p;
}

/* Where a vhost's new files go: beside its current certificate when that directory
 * exists, else beside the file that holds the <VirtualHost>. Never a new directory. */
static certo_rc
target_dir(char **out, struct planner *pl, const struct vhost *v, struct certo_err *err)
{
    struct certo_file_meta m;
    certo_rc rc;

    *out = NULL;
    if (v->cert_path != NULL && strstr(v->cert_path, "${") == NULL) {
        char *d = certo_path_dirname(v->cert_path);
        rc = certo_transport_stat(pl->t, d, &m, err);
        if (rc != CERTO_OK) {
            certo_free(d);
            return rc;
        }
        if (m.exists && m.is_dir) {
            *out = d;
            return CERTO_OK;
        }
        certo_free(d);
    }
    *out = certo_path_dirname(pl->tr.files[v->open.file]->path);
    return CERTO_OK;
}

static bool
same_ref(struct ref a, struct ref b)
{
    return a.set && b.set && a.file == b.file && a.line == b.line;
}

/* Edits vhost 'v' to use 'p'. */
static certo_rc
edit_vhost(struct planner *pl, const struct vhost *v, const struct pair *p, struct certo_err *err)
{
    static const char *const both[] = {"SSLCertificateFile", "SSLCertificateKeyFile"};
    certo_rc rc = CERTO_OK;

    if (v->cert.set)
        rc = set_value(pl, v->cert, p->cert, err);
    if (rc == CERTO_OK && v->key.set)
        rc = set_value(pl, v->key, p->key, err);
    if (rc != CERTO_OK)
        return rc;
    if (!v->cert.set && !v->key.set) {
        const char *vals[] = {p->cert, p->key};
        insert_after(pl, v->engine, both, vals, 2);
    } else if (!v->key.set) {
        insert_after(pl, v->cert, both + 1, (const char *const *)&p->key, 1);
    } else if (!v->cert.set) {
        insert_after(pl, v->engine, both, (const char *const *)&p->cert, 1);
    }
    return CERTO_OK;
}

static void
add_target(struct ap_ctx *c, const char *host, int port, const char *sni)
{
    for (size_t i = 0; i < c->n_targets; i++) {
        if (c->targets[i].port == port && strcmp(c->targets[i].host, host) == 0 &&
            strcmp(c->targets[i].sni, sni) == 0)
            return;
    }
    c->targets = certo_reallocarray(c->targets, c->n_targets + 1, sizeof(*c->targets));
    c->targets[c->n_targets].host = certo_strdup(host);
    c->targets[c->n_targets].port = port;
    c->targets[c->n_targets].sni = certo_strdup(sni);
    c->n_targets++;
}

/* Where to connect for a vhost on address 'host' port 'port', for verify() and nodes(): '*' is
 * the Listen address of that port, or loopback when httpd listens on every address. */
static const char *
connect_host(const struct tree *tr, const char *host, int port)
{
    if (strcmp(host, "*") != 0)
        return host;
    for (size_t l = 0; l < tr->listen_hosts.n; l++) {
        const char *h = tr->listen_hosts.v[l];
        if (tr->listen_ports[l] == port && h[0] != '\0' && strcmp(h, "*") != 0 &&
            strcmp(h, "0.0.0.0") != 0 && strcmp(h, "::") != 0)
            return h;
    }
    return "127.0.0.1";
}

/* The handshakes that verify vhost 'v': each address (a port-less one means 443) with
 * each SNI name. */
static certo_rc
add_targets(struct ap_ctx *c, const struct tree *tr, const struct vhost *v, const struct strv *snis,
            struct certo_err *err)
{
    for (size_t i = 0; i < v->addrs.n; i++) {
        char *host = NULL;
        const char *h;
        int port = 0;
        if (certo_apache__split_addr(&host, &port, v->addrs.v[i]) != CERTO_OK)
            return certo_err_set(err, CERTO_EPARSE, WHERE, "%s:%zu: bad address '%s'",
                                 tr->files[v->open.file]->path, ref_line(tr, v->open)->lineno,
                                 v->addrs.v[i]);
        if (port == 0)
            port = 443;
        h = connect_host(tr, host, port);
        for (size_t s = 0; s < snis->n; s++)
            add_target(c, h, port, snis->v[s]);
        certo_free(host);
    }
    return CERTO_OK;
}

/* The fingerprint of the first certificate in 'path', or "" when it cannot be read. */
static void
fingerprint_of(char out[96], struct certo_transport *t, const char *path)
{
    struct certo_buf b;
    STACK_OF(X509) *certs = NULL;

    out[0] = '\0';
    certo_buf_init(&b, CERTO_PEM_MAX);
    if (certo_transport_get(t, path, &b, NULL) == CERTO_OK &&
        certo_cert_parse_all(&certs, b.data, b.len, NULL) == CERTO_OK && sk_X509_num(certs) > 0 &&
        certo_cert_fingerprint(out, sk_X509_value(certs, 0), NULL) != CERTO_OK)
        out[0] = '\0';
    certo_certs_free(certs);
    certo_buf_dispose(&b);
}

/*
 * The two files' bytes, checked again by reading them back: the engine's bundle loader
 * already refused a mismatched key, but a graceful restart with one takes the whole server
 * down (REFERENCE.md 3.2), so what is written is proven here once more.
 */
static certo_rc
material(struct certo_buf *chain, struct certo_buf *key, const struct certo_bundle *b,
         const char *fp, struct certo_err *err)
{
    STACK_OF(X509) *back = NULL;
    EVP_PKEY *kback = NULL;
    char fpb[96];
    certo_rc rc = CERTO_OK;

    for (int i = 0; rc == CERTO_OK && i < sk_X509_num(b->chain); i++)
        rc = certo_cert_to_pem(chain, sk_X509_value(b->chain, i), err);
    if (rc == CERTO_OK)
        rc = certo_key_to_pem(key, b->key, NULL, err);
    if (rc == CERTO_OK)
        rc = certo_cert_parse_all(&back, chain->data, chain->len, err);
    if (rc == CERTO_OK)
        rc = certo_key_parse(&kback, key->data, key->len, NULL, err);
    if (rc == CERTO_OK)
        rc = certo_cert_fingerprint(fpb, sk_X509_value(back, 0), err);
    if (rc == CERTO_OK && (strcmp(fpb, fp) != 0 || sk_X509_num(back) != sk_X509_num(b->chain) ||
                           !certo_cert_matches_key(sk_X509_value(back, 0), kback)))
        rc = certo_err_set(err, CERTO_EINVAL, WHERE,
                           "the private key does not match the certificate; nothing was changed");
    EVP_PKEY_free(kback);
    certo_certs_free(back);
    return rc;
}

/* The new contents of every edited configuration file, as changes of the plan. */
static certo_rc
add_config_changes(struct certo_plan *p, struct planner *pl, struct certo_err *err)
{
    for (size_t i = 0; i < pl->tr.n_files; i++) {
        struct fedits *fe = &pl->fe[i];
        const struct certo_apache_file *f = pl->tr.files[i];
        struct certo_buf b;
        certo_rc rc;
        if (fe->n == 0)
            continue;
        certo_buf_init(&b, FILE_MAX);
        rc = certo_apache__apply(&b, f, fe->e, fe->n, err);
        if (rc != CERTO_OK) {
            certo_buf_dispose(&b);
            return rc;
        }
        certo_plan_add_change(p, certo_strdup(f->path), &b, 0644,
                              certo_asprintf("apache %s: %zu edit%s\n%.*s", f->path, fe->n,
                                             fe->n == 1 ? "" : "s", (int)fe->diff.len - 1,
                                             fe->diff.data != NULL ? (char *)fe->diff.data : ""));
        certo_buf_dispose(&b);
    }
    return CERTO_OK;
}

static void
planner_dispose(struct planner *pl)
{
    for (size_t i = 0; pl->fe != NULL && i < pl->tr.n_files; i++) {
        for (size_t j = 0; j < pl->fe[i].n; j++)
            certo_free(pl->fe[i].e[j].text);
        certo_free(pl->fe[i].e);
        certo_buf_dispose(&pl->fe[i].diff);
    }
    certo_free(pl->fe);
    for (size_t i = 0; i < pl->n_pairs; i++) {
        certo_free(pl->pairs[i].dir);
        certo_free(pl->pairs[i].cert);
        certo_free(pl->pairs[i].key);
    }
    certo_free(pl->pairs);
    tree_dispose(&pl->tr);
}

/* A vhost without ServerName takes the main server's. */
static void
inherit_name(const struct tree *tr, struct vhost *v)
{
    if (v->has_name || tr->server_name == NULL)
        return;
    strv_push(&v->names, NULL);
    memmove(v->names.v + 1, v->names.v, (v->names.n - 1) * sizeof(*v->names.v));
    v->names.v[0] = certo_strdup(tr->server_name);
    v->has_name = true;
}

/* Which SSL vhosts serve a name of the certificate; their SNI names go to 'snis[i]'. */
static size_t
match_vhosts(struct tree *tr, const struct strv *names, struct strv *snis)
{
    size_t n = 0;

    for (size_t i = 0; i < tr->n_vh; i++) {
        struct vhost *v = &tr->vh[i];
        if (!v->ssl_on)
            continue;
        inherit_name(tr, v);
        for (size_t a = 0; a < v->names.n; a++) {
            for (size_t b = 0; b < names->n; b++) {
                char *sni = certo_apache__probe_name(v->names.v[a], names->v[b]);
                if (sni == NULL)
                    continue;
                v->matched = true;
                if (strv_has(&snis[i], sni))
                    certo_free(sni);
                else
                    strv_push(&snis[i], sni);
            }
        }
        if (v->matched)
            n++;
    }
    return n;
}

static certo_rc
ap_plan(void *ctx, struct certo_transport *t, const struct certo_install_req *req,
        struct certo_plan *plan, struct certo_err *err)
{
    struct ap_ctx *c = ctx;
    struct certo_plan p = {0};
    struct planner pl = {0};
    struct strv names = {0};
    struct strv *snis = NULL;
    struct certo_buf chain, key;
    X509 *leaf;
    size_t n_matched = 0;
    certo_rc rc = CERTO_EINTERNAL;

    memset(plan, 0, sizeof(*plan));
    targets_free(c);
    certo_buf_init(&chain, CERTO_PEM_MAX);
    certo_buf_init(&key, CERTO_PEM_MAX);
    pl.c = c;
    pl.t = t;
    CERTO_ASSERT(req != NULL && req->bundle != NULL);
    if (req->bundle->chain == NULL || sk_X509_num(req->bundle->chain) < 1 ||
        req->bundle->key == NULL) {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE,
                           "an Apache install needs a certificate and its private key");
        goto out;
    }
    leaf = sk_X509_value(req->bundle->chain, 0);
    if (!certo_cert_matches_key(leaf, req->bundle->key)) {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE,
                           "the private key does not match the certificate; nothing was changed");
        goto out;
    }
    rc = certo_cert_fingerprint(p.fp_after, leaf, err);
    if (rc == CERTO_OK)
        rc = cert_names(&names, leaf, err);
    if (rc == CERTO_OK && names.n == 0)
        rc = certo_err_set(err, CERTO_EINVAL, WHERE, "the certificate names no host");
    if (rc == CERTO_OK)
        rc = material(&chain, &key, req->bundle, p.fp_after, err);
    if (rc != CERTO_OK)
        goto out;
    for (size_t i = 0, o = 0; p.fp_after[i] != '\0' && o < 16; i++) {
        if (p.fp_after[i] != ':')
            pl.hex[o++] = (char)(p.fp_after[i] >= 'A' && p.fp_after[i] <= 'F' ? p.fp_after[i] + 32
                                                                              : p.fp_after[i]);
    }
    rc = load_tree(&pl.tr, c, t, err);
    if (rc != CERTO_OK)
        goto out;
    for (size_t i = 0; i < pl.tr.httpd_files.n; i++) {
        bool read = false;
        for (size_t j = 0; j < pl.tr.n_files && !read; j++)
            read = strcmp(pl.tr.files[j]->path, pl.tr.httpd_files.v[i]) == 0;
        if (!read)
            certo_plan_note(&p,
                            "httpd reads %s, which this reader skipped (a condition it "
                            "evaluated differently?); vhosts there are not considered",
                            pl.tr.httpd_files.v[i]);
    }
    snis = certo_calloc(pl.tr.n_vh + 1, sizeof(*snis));
    n_matched = match_vhosts(&pl.tr, &names, snis);
    if (n_matched == 0) {
        rc = certo_err_set(err, CERTO_ENOTFOUND, WHERE,
                           "no <VirtualHost> with SSLEngine on serves %s%s (%zu vhosts read from "
                           "%zu files)",
                           names.v[0], names.n > 1 ? " or another name of the certificate" : "",
                           pl.tr.n_vh, pl.tr.n_files);
        goto out;
    }
    pl.fe = certo_calloc(pl.tr.n_files, sizeof(*pl.fe));
    for (size_t i = 0; i < pl.tr.n_files; i++)
        certo_buf_init(&pl.fe[i].diff, 1024 * 1024);
    for (size_t i = 0; i < pl.tr.n_vh; i++) {
        const struct vhost *v = &pl.tr.vh[i];
        char *dir = NULL, *where = NULL;
        const struct pair *pr;
        if (!v->matched)
            continue;
        if (v->n_cert > 1 || v->n_key > 1) {
            where = vhost_text(&pl.tr, v);
            rc = certo_err_set(err, CERTO_EUNSUPPORTED, WHERE,
                               "%s has %zu SSLCertificateFile directives (several certificates "
                               "in one vhost are not supported)",
                               where, v->n_cert > v->n_key ? v->n_cert : v->n_key);
            certo_free(where);
            goto out;
        }
        if (p.fp_before[0] == '\0' && v->cert_path != NULL)
            fingerprint_of(p.fp_before, t, v->cert_path);
        rc = target_dir(&dir, &pl, v, err);
        if (rc != CERTO_OK)
            goto out;
        pr = pair_for(&pl, dir);
        certo_free(dir);
        rc = certo_apache__check_value("the certificate path", pr->cert, err);
        if (rc == CERTO_OK)
            rc = certo_apache__check_value("the key path", pr->key, err);
        if (rc == CERTO_OK)
            rc = edit_vhost(&pl, v, pr, err);
        if (rc == CERTO_OK)
            rc = add_targets(c, &pl.tr, v, &snis[i], err);
        if (rc != CERTO_OK)
            goto out;
        if (v->chain.set)
            certo_plan_note(&p,
                            "%s:%zu: SSLCertificateChainFile is left as it is; the full chain is "
                            "in SSLCertificateFile",
                            pl.tr.files[v->chain.file]->path, ref_line(&pl.tr, v->chain)->lineno);
    }
    /* A directive reached from a vhost the certificate does not cover must not change. */
    for (size_t i = 0; i < pl.tr.n_vh; i++) {
        const struct vhost *u = &pl.tr.vh[i];
        if (u->matched)
            continue;
        for (size_t j = 0; j < pl.tr.n_vh; j++) {
            const struct vhost *v = &pl.tr.vh[j];
            if (v->matched && (same_ref(u->cert, v->cert) || same_ref(u->key, v->key))) {
                char *where = vhost_text(&pl.tr, u);
                rc = certo_err_set(err, CERTO_EUNSUPPORTED, WHERE,
                                   "the certificate directives of a matching vhost are shared "
                                   "with %s, which does not serve the certificate's names",
                                   where);
                certo_free(where);
                goto out;
            }
        }
    }
    for (size_t i = 0; i < pl.n_pairs; i++) {
        struct certo_buf cb, kb;
        certo_buf_init(&cb, CERTO_PEM_MAX);
        certo_buf_init(&kb, CERTO_PEM_MAX);
        rc = certo_buf_append(&cb, chain.data, chain.len);
        if (rc == CERTO_OK)
            rc = certo_buf_append(&kb, key.data, key.len);
        if (rc != CERTO_OK) {
            certo_buf_dispose(&cb);
            certo_buf_dispose(&kb);
            goto out;
        }
        certo_plan_add_change(&p, certo_strdup(pl.pairs[i].cert), &cb, 0644,
                              certo_asprintf("apache %s: new file, certificate and %d chain "
                                             "certificate%s (mode 0644)",
                                             pl.pairs[i].cert, sk_X509_num(req->bundle->chain) - 1,
                                             sk_X509_num(req->bundle->chain) == 2 ? "" : "s"));
        certo_plan_add_change(
            &p, certo_strdup(pl.pairs[i].key), &kb, 0600,
            certo_asprintf("apache %s: new file, private key (mode 0600)", pl.pairs[i].key));
        certo_buf_dispose(&cb);
        certo_buf_dispose(&kb);
    }
    rc = add_config_changes(&p, &pl, err);
    if (rc != CERTO_OK)
        goto out;
    p.alias = certo_strdup(names.v[0]);
    *plan = p; /* success: hand over ownership */
    memset(&p, 0, sizeof(p));
    rc = CERTO_OK;
out:
    for (size_t i = 0; snis != NULL && i < pl.tr.n_vh; i++)
        strv_dispose(&snis[i]);
    certo_free(snis);
    if (rc != CERTO_OK)
        targets_free(c);
    planner_dispose(&pl);
    strv_dispose(&names);
    certo_buf_dispose(&chain);
    certo_buf_dispose(&key);
    certo_plan_dispose(&p);
    return rc;
}

/* ---- activate, verify, reactivate, restart ---- */

static const char *const configtest[] = {"configtest", NULL};

/*
 * Configuration test, then a graceful restart: the parent re-reads the configuration and
 * the new certificate files, children finish their requests (seed 004: Apache needs a
 * restart after every install; graceful is one). Should graceful fail, a full restart is
 * tried. Both start httpd when it is not running.
 */
static certo_rc
restart_server(const struct ap_ctx *c, struct certo_transport *t, bool graceful,
               struct certo_buf *log, struct certo_err *err)
{
    static const char *const gr[] = {"-k", "graceful", NULL};
    static const char *const rs[] = {"-k", "restart", NULL};
    struct certo_err first = {0}, second = {0};
    certo_rc rc;

    rc = ctl_ok(c, t, configtest, "apachectl configtest", log, err);
    if (rc != CERTO_OK)
        return rc;
    if (!graceful)
        return ctl_ok(c, t, rs, "apachectl -k restart", log, err);
    rc = ctl_ok(c, t, gr, "apachectl -k graceful", log, &first);
    if (rc == CERTO_OK)
        return CERTO_OK;
    rc = ctl_ok(c, t, rs, "apachectl -k restart", log, &second);
    if (rc != CERTO_OK)
        rc = certo_err_set(err, rc, WHERE, "%.120s; then %.120s", first.msg, second.msg);
    return rc;
}

static certo_rc
ap_activate(void *ctx, struct certo_transport *t, const struct certo_plan *plan,
            struct certo_buf *log, struct certo_err *err)
{
    CERTO_UNUSED(plan);
    return restart_server(ctx, t, true, log, err);
}

static certo_rc
ap_reactivate(void *ctx, struct certo_transport *t, struct certo_buf *log, struct certo_err *err)
{
    return restart_server(ctx, t, true, log, err);
}

static certo_rc
ap_restart(void *ctx, struct certo_transport *t, struct certo_buf *log, struct certo_err *err)
{
    return restart_server(ctx, t, false, log, err);
}

static certo_rc
ap_verify(void *ctx, struct certo_transport *t, const struct certo_plan *plan,
          struct certo_err *err)
{
    const struct ap_ctx *c = ctx;
    struct certo_err e = {0};
    certo_rc rc;

    CERTO_UNUSED(t);
    if (c->n_targets == 0)
        return certo_err_set(err, CERTO_EINTERNAL, WHERE, "no name to verify");
    for (size_t i = 0; i < c->n_targets; i++) {
        const struct target *g = &c->targets[i];
        certo_err_clear(&e);
        rc = certo_tls_wait_for(g->host, g->port, g->sni, plan->fp_after, VERIFY_MS, &e);
        if (rc != CERTO_OK)
            return certo_err_set(err, rc, WHERE, "%s port %d, name %s: %s", g->host, g->port,
                                 g->sni, e.msg);
    }
    return CERTO_OK;
}

/* ---- check ---- */

static void report(struct certo_buf *r, const char *fmt, ...) CERTO_PRINTF(2, 3);

static void
report(struct certo_buf *r, const char *fmt, ...)
{
    char line[1024];
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    certo_connector_log(r, line);
    certo_connector_log(r, "\n");
}

static certo_rc
ap_check(void *ctx, struct certo_transport *t, struct certo_buf *rep, struct certo_err *err)
{
    const struct ap_ctx *c = ctx;
    struct tree tr;
    struct certo_file_meta m;
    struct certo_err e = {0};
    size_t n_ssl = 0;
    certo_rc rc;

    rc = certo_transport_stat(t, c->ctl, &m, &e);
    if (rc != CERTO_OK || !m.exists || m.is_dir ||
        certo_transport_access(t, c->ctl, X_OK, &e) != CERTO_OK) {
        report(rep, "missing: apachectl %s is not an executable file", c->ctl);
        return certo_err_set(err, CERTO_ENOTFOUND, WHERE, "apachectl %s is not an executable file",
                             c->ctl);
    }
    report(rep, "ok: apachectl %s is executable", c->ctl);
    rc = load_tree(&tr, c, t, err);
    if (rc != CERTO_OK) {
        report(rep, "problem: %s", err != NULL ? err->msg : "cannot read the configuration");
        tree_dispose(&tr);
        return rc;
    }
    report(rep, "ok: server root %s, %zu configuration files read", tr.root, tr.n_files);
    for (size_t i = 0; i < tr.n_vh; i++) {
        const struct vhost *v = &tr.vh[i];
        char *where;
        if (!v->ssl_on)
            continue;
        n_ssl++;
        where = vhost_text(&tr, v);
        report(rep, "ok: %s with SSLEngine on: %s%s", where,
               v->names.n > 0 ? v->names.v[0] : "(no ServerName)",
               v->names.n > 1 ? " and aliases" : "");
        certo_free(where);
    }
    if (n_ssl == 0) {
        report(rep, "missing: no <VirtualHost> has SSLEngine on");
        rc = certo_err_set(err, CERTO_ENOTFOUND, WHERE, "no <VirtualHost> has SSLEngine on");
    }
    tree_dispose(&tr);
    return rc;
}

/* ---- nodes ---- */

/* The names of 'v' but its name 'skip', space-separated; NULL when none. */
static char *
other_vhost_names(const struct vhost *v, size_t skip)
{
    char *all = NULL;

    for (size_t k = 0; k < v->names.n; k++) {
        if (k == skip)
            continue;
        char *more =
            certo_asprintf("%s%s%s", all != NULL ? all : "", all != NULL ? " " : "", v->names.v[k]);
        certo_free(all);
        all = more;
    }
    return all;
}

/* One node per <VirtualHost> address and name (ServerName, then each ServerAlias). */
static certo_rc
ap_nodes(void *ctx, struct certo_transport *t, struct certo_node_list *out, struct certo_err *err)
{
    const struct ap_ctx *c = ctx;
    struct certo_node_list l = {0};
    struct tree tr;
    certo_rc rc;

    memset(out, 0, sizeof(*out));
    rc = load_tree(&tr, c, t, err);
    for (size_t i = 0; rc == CERTO_OK && i < tr.n_vh; i++) {
        struct vhost *v = &tr.vh[i];
        const char *file = tr.files[v->open.file]->path;
        size_t line = ref_line(&tr, v->open)->lineno;
        inherit_name(&tr, v);
        for (size_t a = 0; rc == CERTO_OK && a < v->addrs.n; a++) {
            char *host = NULL;
            int port = 0;
            if (certo_apache__split_addr(&host, &port, v->addrs.v[a]) != CERTO_OK) {
                rc = certo_err_set(err, CERTO_EPARSE, WHERE, "%s:%zu: bad address '%s'", file, line,
                                   v->addrs.v[a]);
                break;
            }
            if (port == 0)
                port = v->ssl_on ? 443 : 80;
            for (size_t k = 0; k < (v->names.n > 0 ? v->names.n : 1); k++) {
                struct certo_conf_node *n = certo_node_list_add(&l);
                n->name = certo_strdup(v->names.n > 0 ? v->names.v[k] : "");
                n->alias = other_vhost_names(v, k);
                n->kind = v->ssl_on ? CERTO_NODE_HTTPS : CERTO_NODE_HTTP;
                n->address = certo_strdup(host);
                n->port = port;
                n->connect = certo_strdup(connect_host(&tr, host, port));
                n->sni = certo_node_sni(n->name);
                n->source = certo_asprintf("%s:%zu", file, line);
                if (v->cert_path != NULL && strstr(v->cert_path, "${") == NULL)
                    certo_conf_node_add_file(n, v->cert_path);
            }
            certo_free(host);
        }
    }
    if (rc == CERTO_OK) {
        *out = l; /* success: hand over ownership */
        memset(&l, 0, sizeof(l));
    }
    certo_node_list_dispose(&l);
    tree_dispose(&tr);
    return rc;
}

const struct certo_connector_ops certo_connector_apache = {
    .abi = CERTO_CONNECTOR_ABI,
    .name = "apache",
    .caps = CERTO_CAP_VERIFY | CERTO_CAP_RESTART,
    .ctx_size = sizeof(struct ap_ctx),
    .configure = ap_configure,
    .check = ap_check,
    .plan = ap_plan,
    .test = NULL, /* configtest can only test the files in place: activate() runs it */
    .activate = ap_activate,
    .verify = ap_verify,
    .reactivate = ap_reactivate,
    .restart = ap_restart,
    .cleanup = ap_cleanup,
    .nodes = ap_nodes,
};
