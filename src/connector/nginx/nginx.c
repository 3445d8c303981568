/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nginx endpoints (connector layer). An install reads the configuration named by
 * nginx_config_path through the transport, finds the server blocks that serve the
 * certificate's names with ssl, and plans three kinds of files: the full chain and the
 * key (0600) under new names in the configuration's directory, and each configuration
 * file with only the values of ssl_certificate / ssl_certificate_key changed or the two
 * directives added. After the swap: `nginx -t`, then one `nginx -s reload`; verify does
 * a TLS handshake with SNI for every name of every matched block on every listen.
 * nodes() lists every server block on every listen. Programs run by argv; the connector
 * writes nothing itself (the engine does).
 */
#include <ctype.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "certo/cert.h"
#include "certo/chain.h"
#include "certo/key.h"
#include "certo/limits.h"
#include "certo/mem.h"
#include "certo/tlsprobe.h"
#include "connector/connector.h"
#include "connector/nginx/nginx.h"

#define WHERE           "conn.nginx"
#define DEFAULT_CONF    "/etc/nginx/nginx.conf"
#define DEFAULT_BINARY  "/usr/sbin/nginx"
#define FIND            "/usr/bin/find"
#define VERIFY_MS       5000
#define VERIFY_THREADS  4 /* handshakes at a time: loopback ones cost ~1 ms of CPU each */
#define RUN_OUTPUT_MAX  (64u * 1024)
#define LIST_OUTPUT_MAX (4u * 1024 * 1024)
#define DIFF_MAX        (64u * 1024) /* of one file's diff in the plan text */
#define ALIAS_MAX       64
#define NAMES_MAX       CERTO_SANS_MAX

/* One endpoint, as configure() validated it, and what plan() found for verify(). */
struct nginx_ctx {
    const struct certo_connector_cfg *cfg; /* borrowed; outlives the ctx */
    const char *conf_path;                 /* borrowed; absolute */
    const char *binary;                    /* borrowed; absolute */
    struct certo_nginx_target *targets;    /* owned; the handshakes of the last plan */
    size_t n_targets;
};

/* Appends what fits of 's' to a report or log: a full one must not lose what it holds. */
static void
text_add(struct certo_buf *b, const char *s, size_t n)
{
    certo_buf_append_fit(b, s, n);
}

static void
text_line(struct certo_buf *b, const char *s)
{
    text_add(b, s, strlen(s));
    text_add(b, "\n", 1);
}

/* ---- configuration ---- */

static certo_rc
nginx_configure(void *ctx, const struct certo_connector_cfg *cfg, struct certo_err *err)
{
    struct nginx_ctx *c = ctx;
    const char *name = cfg->endpoint_name != NULL ? cfg->endpoint_name : "nginx";

    CERTO_ASSERT(c != NULL && cfg != NULL);
    memset(c, 0, sizeof(*c));
    c->cfg = cfg;
    c->conf_path = certo_connector_opt(cfg, "nginx_config_path");
    if (c->conf_path == NULL)
        c->conf_path = DEFAULT_CONF;
    c->binary = certo_connector_opt(cfg, "nginx_binary");
    if (c->binary == NULL)
        c->binary = DEFAULT_BINARY;
    if (c->conf_path[0] != '/' || c->conf_path[strlen(c->conf_path) - 1] == '/')
        return certo_err_set(err, CERTO_EINVAL, WHERE,
                             "endpoint %s: nginx_config_path '%.200s' must be the absolute path "
                             "of a file",
                             name, c->conf_path);
    if (c->binary[0] != '/')
        return certo_err_set(err, CERTO_EINVAL, WHERE,
                             "endpoint %s: nginx_binary '%.200s' must be an absolute path", name,
                             c->binary);
    return CERTO_OK;
}

static void
nginx_cleanup(void *ctx)
{
    struct nginx_ctx *c = ctx;

    certo_nginx__targets_free(c->targets, c->n_targets);
    c->targets = NULL;
    c->n_targets = 0;
}

/* ---- reading the configuration through the transport ---- */

static certo_rc
io_read(void *arg, const char *path, struct certo_buf *out, struct certo_err *err)
{
    return certo_transport_get(arg, path, out, err);
}

/* The first line of 'b' (at most 200 bytes), for a message. */
static void
first_line(char *out, size_t cap, const struct certo_buf *b)
{
    size_t n = 0;

    while (n < b->len && b->data[n] != '\n' && n + 1 < cap && n < 200)
        n++;
    memcpy(out, n > 0 ? (const char *)b->data : "", n);
    out[n] = '\0';
}

/* Lists 'dir' with find(1) on the endpoint's host: the transport has no directory read. */
static certo_rc
io_list(void *arg, const char *dir, const char *pattern, char ***names, size_t *n,
        struct certo_err *err)
{
    struct certo_transport *t = arg;
    /* -H: a directory that is a symlink (sites-enabled -> ...) is listed, not skipped */
    const char *argv[] = {FIND, "-H",    dir,     "-maxdepth", "1", "-mindepth",
                          "1",  "-name", pattern, "-print0",   NULL};
    const char *envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C", NULL};
    struct certo_exec_opts o = {0};
    struct certo_exec_result r = {0};
    struct certo_file_meta m;
    char line[256];
    certo_rc rc;

    *names = NULL;
    *n = 0;
    rc = certo_transport_stat(t, dir, &m, err);
    if (rc != CERTO_OK || !m.exists || !m.is_dir)
        return rc;
    o.argv = argv;
    o.envp = envp;
    o.max_output = LIST_OUTPUT_MAX;
    o.timeout_ms = 60000;
    rc = certo_transport_exec(t, &o, &r, err);
    if (rc != CERTO_OK)
        goto out;
    if (r.exit_code != 0 || r.out_truncated) {
        first_line(line, sizeof(line), &r.err);
        rc = certo_err_set(err, CERTO_EREMOTE, WHERE, "cannot list %s: %s", dir,
                           r.out_truncated ? "too many entries" : line);
        goto out;
    }
    for (size_t at = 0; at < r.out.len;) {
        const char *entry = (const char *)r.out.data + at;
        size_t len = strnlen(entry, r.out.len - at);
        const char *slash = memrchr(entry, '/', len);
        const char *base = slash != NULL ? slash + 1 : entry;
        if (base < entry + len) {
            *names = certo_reallocarray(*names, *n + 1, sizeof(**names));
            (*names)[(*n)++] = certo_strndup(base, (size_t)(entry + len - base));
        }
        at += len + 1;
    }
out:
    certo_exec_result_dispose(&r);
    return rc;
}

static certo_rc
load(struct certo_nginx_conf **conf, const struct nginx_ctx *c, struct certo_transport *t,
     struct certo_err *err)
{
    struct certo_nginx_io io = {io_read, io_list, t};
    return certo_nginx__conf_load(conf, c->conf_path, &io, err);
}

/* ---- running nginx ---- */

/*
 * The line of nginx's output that says what went wrong, from its level on:
 * "2026/01/02 10:00:00 [emerg] 12#12: cannot load ..." or "nginx: [emerg] cannot load ..."
 * both give "[emerg] cannot load ...".
 */
static void
nginx_error(char *out, size_t cap, const struct certo_exec_result *r)
{
    static const char *const levels[] = {"[emerg]", "[alert]", "[crit]", "[error]"};
    const struct certo_buf *bufs[] = {&r->err, &r->out};

    for (size_t b = 0; b < CERTO_ARRAY_LEN(bufs); b++) {
        const char *s = bufs[b]->len > 0 ? (const char *)bufs[b]->data : "";
        for (size_t i = 0; i < CERTO_ARRAY_LEN(levels); i++) {
            const char *hit = strstr(s, levels[i]), *msg;
            size_t pid;
            if (hit == NULL)
                continue;
            msg = hit + strlen(levels[i]) + 1;
            pid = strspn(msg, "0123456789#");
            if (pid > 0 && msg[pid] == ':' && msg[pid + 1] == ' ')
                msg += pid + 2;
            snprintf(out, cap, "%s %.*s", levels[i], (int)strcspn(msg, "\n"), msg);
            return;
        }
    }
    first_line(out, cap, r->err.len > 0 ? &r->err : &r->out);
    if (out[0] == '\0')
        snprintf(out, cap, "no message");
}

/*
 * Runs `nginx -t -c CONF` ('reload' false) or `nginx -s reload -c CONF -g "error_log
 * stderr;"` and logs the command, its output and its status. The signal process logs
 * a failure to send the signal (no master behind the pid file) only to the configured
 * error log; the extra error_log, for this process alone, puts it on stderr too.
 * A non-zero exit is CERTO_EREMOTE with nginx's own error line.
 */
static certo_rc
run_nginx(const struct nginx_ctx *c, struct certo_transport *t, bool reload, struct certo_buf *log,
          struct certo_err *err)
{
    const char *test[] = {c->binary, "-t", "-c", c->conf_path, NULL};
    const char *sig[] = {c->binary,           "-s", "reload", "-c", c->conf_path, "-g",
                         "error_log stderr;", NULL};
    const char *step = reload ? "nginx -s reload" : "nginx -t";
    char *what = certo_asprintf("%s %s", c->binary, reload ? "-s reload" : "-t");
    struct certo_connector_cmd cmd = {.what = what, .argv = reload ? sig : test};
    struct certo_exec_result r;
    char line[320];
    certo_rc rc = certo_connector_exec(&r, t, c->cfg, &cmd, log, err);

    if (rc == CERTO_OK && r.term_signal != 0) {
        rc = certo_err_set(err, CERTO_EREMOTE, WHERE, "%s was killed by signal %d", step,
                           r.term_signal);
    } else if (rc == CERTO_OK && r.exit_code != 0) {
        nginx_error(line, sizeof(line), &r);
        rc = certo_err_set(err, CERTO_EREMOTE, WHERE, "%s failed: %s", step, line);
    }
    certo_exec_result_dispose(&r);
    certo_free(what);
    return rc;
}

/* `nginx -t`, then `nginx -s reload` (which signals the master named by the pid file). */
static certo_rc
test_and_reload(const struct nginx_ctx *c, struct certo_transport *t, struct certo_buf *log,
                struct certo_err *err)
{
    certo_rc rc = run_nginx(c, t, false, log, err);
    if (rc == CERTO_OK)
        rc = run_nginx(c, t, true, log, err);
    return rc;
}

static certo_rc
nginx_activate(void *ctx, struct certo_transport *t, const struct certo_plan *plan,
               struct certo_buf *log, struct certo_err *err)
{
    CERTO_UNUSED(plan);
    return test_and_reload(ctx, t, log, err);
}

static certo_rc
nginx_reactivate(void *ctx, struct certo_transport *t, struct certo_buf *log, struct certo_err *err)
{
    return test_and_reload(ctx, t, log, err);
}

static certo_rc
nginx_restart(void *ctx, struct certo_transport *t, struct certo_buf *log, struct certo_err *err)
{
    return run_nginx(ctx, t, true, log, err);
}

/* The handshakes of verify(), shared by its threads. */
struct verify_run {
    const struct nginx_ctx *c;
    const char *want;     /* the fingerprint to see */
    atomic_size_t next;   /* the next target to take */
    atomic_bool failed;   /* a thread failed: the others stop */
    pthread_mutex_t lock; /* guards 'err' */
    struct certo_err err; /* the first failure */
};

static void *
verify_worker(void *arg)
{
    struct verify_run *v = arg;

    while (!atomic_load(&v->failed)) {
        size_t i = atomic_fetch_add(&v->next, 1);
        const struct certo_nginx_target *g;
        struct certo_err e = {0};
        if (i >= v->c->n_targets)
            break;
        g = &v->c->targets[i];
        if (certo_tls_wait_for(g->host, g->port, g->sni, v->want, VERIFY_MS, &e) != CERTO_OK) {
            pthread_mutex_lock(&v->lock);
            if (!atomic_load(&v->failed))
                v->err = e;
            atomic_store(&v->failed, true);
            pthread_mutex_unlock(&v->lock);
        }
    }
    return NULL;
}

/*
 * One handshake per (address, port, name) that plan() listed, VERIFY_THREADS at a time:
 * each waits up to VERIFY_MS for the reloaded workers to serve the new certificate.
 */
static certo_rc
nginx_verify(void *ctx, struct certo_transport *t, const struct certo_plan *plan,
             struct certo_err *err)
{
    const struct nginx_ctx *c = ctx;
    pthread_t tids[VERIFY_THREADS];
    size_t n_threads = c->n_targets < VERIFY_THREADS ? c->n_targets : VERIFY_THREADS, started = 0;
    struct verify_run v;
    certo_rc rc = CERTO_OK;

    CERTO_UNUSED(t);
    memset(&v, 0, sizeof(v));
    v.c = c;
    v.want = plan->fp_after;
    atomic_init(&v.next, 0);
    atomic_init(&v.failed, false);
    pthread_mutex_init(&v.lock, NULL);
    for (size_t i = 1; i < n_threads; i++) {
        if (pthread_create(&tids[started], NULL, verify_worker, &v) != 0)
            break; /* fewer threads do the same work */
        started++;
    }
    verify_worker(&v);
    for (size_t i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    pthread_mutex_destroy(&v.lock);
    if (atomic_load(&v.failed)) {
        rc = v.err.rc != CERTO_OK ? v.err.rc : CERTO_EINTERNAL;
        if (err != NULL && err->rc == CERTO_OK)
            *err = v.err;
    }
    return rc;
}

/* ---- plan ---- */

static void
names_add(char ***names, size_t *n, const char *name)
{
    char *v = certo_strdup(name);
    size_t len = strlen(v);

    for (char *p = v; *p != '\0'; p++)
        *p = (char)tolower((unsigned char)*p);
    if (len > 1 && v[len - 1] == '.')
        v[len - 1] = '\0';
    for (size_t i = 0; i < *n; i++) {
        if (strcmp((*names)[i], v) == 0) {
            certo_free(v);
            return;
        }
    }
    if (v[0] == '\0' || *n >= NAMES_MAX) {
        certo_free(v);
        return;
    }
    *names = certo_reallocarray(*names, *n + 1, sizeof(**names));
    (*names)[(*n)++] = v;
}

static void
names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        certo_free(names[i]);
    certo_free(names);
}

/* The certificate's host names: its CN, then its DNS subjectAltNames. */
static certo_rc
cert_names(char ***out, size_t *n_out, X509 *leaf, struct certo_err *err)
{
    struct certo_cert_info info;
    certo_rc rc = certo_cert_info_get(&info, leaf, err);

    *out = NULL;
    *n_out = 0;
    if (rc != CERTO_OK)
        return rc;
    if (info.common_name != NULL && strchr(info.common_name, ' ') == NULL)
        names_add(out, n_out, info.common_name);
    for (size_t i = 0; i < info.n_sans; i++) {
        if (strcmp(info.sans[i].type, "DNS") == 0)
            names_add(out, n_out, info.sans[i].value);
    }
    certo_cert_info_dispose(&info);
    if (*n_out == 0)
        return certo_err_set(err, CERTO_EINVAL, WHERE,
                             "the certificate names no host (no DNS subjectAltName, no CN)");
    return CERTO_OK;
}

static bool
alias_char(char ch)
{
    return isalnum((unsigned char)ch) || ch == '.' || ch == '-' || ch == '_';
}

/* The name in the new files: --alias, or the first certificate name made file-safe. */
static certo_rc
choose_alias(char **out, const struct certo_install_req *req, const char *first,
             struct certo_err *err)
{
    char *a;

    *out = NULL;
    if (req->alias != NULL) {
        size_t n = strlen(req->alias);
        bool ok = n > 0 && n <= ALIAS_MAX && req->alias[0] != '.';
        for (size_t i = 0; ok && i < n; i++)
            ok = alias_char(req->alias[i]);
        if (!ok)
            return certo_err_set(err, CERTO_EINVAL, WHERE,
                                 "--alias '%.80s': an nginx endpoint names its files with it: "
                                 "1 to %d letters, digits, '.', '-' or '_', not starting with '.'",
                                 req->alias, ALIAS_MAX);
        *out = certo_strdup(req->alias);
        return CERTO_OK;
    }
    a = strncmp(first, "*.", 2) == 0 ? certo_asprintf("wildcard%s", first + 1)
                                     : certo_strdup(first);
    if (strlen(a) > ALIAS_MAX)
        a[ALIAS_MAX] = '\0';
    for (char *p = a; *p != '\0'; p++) {
        if (!alias_char(*p))
            *p = '_';
    }
    if (a[0] == '.')
        a[0] = '_';
    *out = a;
    return CERTO_OK;
}

/* "no server block of CONF serves a.example, b.example with ssl" */
static certo_rc
not_served(const struct nginx_ctx *c, char **names, size_t n, struct certo_err *err)
{
    char list[200] = "";
    size_t at = 0;

    for (size_t i = 0; i < n && at < sizeof(list); i++) {
        int w = snprintf(list + at, sizeof(list) - at, "%s%s", i > 0 ? ", " : "", names[i]);
        if (w < 0)
            break;
        at += (size_t)w;
    }
    return certo_err_set(err, CERTO_ENOTFOUND, WHERE, "no server block of %s serves %s with ssl",
                         c->conf_path, list);
}

/* The fingerprint of the certificate a block serves now ("" when it cannot be read). */
static void
fp_before(char out[96], const struct certo_nginx_conf *conf, const struct certo_nginx_sites *s,
          struct certo_transport *t)
{
    const struct certo_nginx_dir *d = s->http_cert;
    struct certo_buf b;
    STACK_OF(X509) *certs = NULL;
    struct certo_err e = {0};
    char *path;

    out[0] = '\0';
    for (size_t i = 0; i < s->n; i++) {
        if (s->servers[i].matched) {
            if (s->servers[i].n_certs > 0)
                d = s->servers[i].certs[0];
            break;
        }
    }
    if (d == NULL || strchr(d->words[1].text, '$') != NULL)
        return;
    path = certo_nginx__full_name(conf, d->words[1].text);
    certo_buf_init(&b, CERTO_PEM_MAX);
    if (certo_transport_get(t, path, &b, &e) == CERTO_OK &&
        certo_cert_parse_all(&certs, b.data, b.len, &e) == CERTO_OK && sk_X509_num(certs) > 0 &&
        certo_cert_fingerprint(out, sk_X509_value(certs, 0), &e) != CERTO_OK)
        out[0] = '\0';
    certo_certs_free(certs);
    certo_buf_dispose(&b);
    certo_free(path);
}

/* The new files must not be read as configuration by an include pattern. */
static certo_rc
check_new_path(const struct certo_nginx_conf *conf, const char *path, struct certo_err *err)
{
    for (size_t i = 0; i < conf->n_globs; i++) {
        if (fnmatch(conf->globs[i], path, FNM_PATHNAME | FNM_PERIOD) == 0)
            return certo_err_set(err, CERTO_EINVAL, WHERE,
                                 "%s would be read as configuration by include %s; choose "
                                 "another --alias",
                                 path, conf->globs[i]);
    }
    for (size_t i = 0; i < conf->n_files; i++) {
        if (strcmp(conf->files[i]->path, path) == 0)
            return certo_err_set(err, CERTO_EINVAL, WHERE,
                                 "%s is a configuration file; choose another --alias", path);
    }
    return CERTO_OK;
}

/* Leaf and intermediates; a self-signed root at the end is not sent (clients have it). */
static certo_rc
chain_pem(struct certo_buf *out, int *n_sent, bool *root_dropped, STACK_OF(X509) * chain,
          struct certo_err *err)
{
    int n = sk_X509_num(chain);
    certo_rc rc = CERTO_OK;

    *root_dropped = n > 1 && certo_chain_self_signed(sk_X509_value(chain, n - 1));
    if (*root_dropped)
        n--;
    for (int i = 0; i < n && rc == CERTO_OK; i++)
        rc = certo_cert_to_pem(out, sk_X509_value(chain, i), err);
    *n_sent = n;
    return rc;
}

static bool
file_exists(struct certo_transport *t, const char *path)
{
    struct certo_file_meta m;
    struct certo_err e = {0};
    return certo_transport_stat(t, path, &m, &e) == CERTO_OK && m.exists;
}

/* Drops edits that write what is there already (the blocks use these files already). */
static size_t
drop_noop_edits(const struct certo_nginx_conf *conf, struct certo_nginx_edit *e, size_t n)
{
    size_t kept = 0;

    for (size_t i = 0; i < n; i++) {
        const struct certo_buf *d = &conf->files[e[i].file]->data;
        size_t len = strlen(e[i].text);
        if (e[i].end - e[i].start == len && memcmp(d->data + e[i].start, e[i].text, len) == 0) {
            certo_free(e[i].text);
            continue;
        }
        e[kept++] = e[i];
    }
    return kept;
}

/* Warns about names a matched block serves that the certificate does not cover. */
static void
note_uncovered(struct certo_plan *p, const struct certo_nginx_conf *conf,
               const struct certo_nginx_sites *s, char **names, size_t n_names)
{
    for (size_t i = 0; i < s->n; i++) {
        const struct certo_nginx_server *srv = &s->servers[i];
        if (!srv->matched)
            continue;
        for (size_t k = 0; k < srv->n_names; k++) {
            const struct certo_nginx_name *nm = &srv->names[k];
            bool covered = false;
            if (nm->kind == CERTO_NGINX_NAME_TAIL || nm->kind == CERTO_NGINX_NAME_REGEX ||
                nm->text[0] == '\0' || strcmp(nm->text, "_") == 0)
                continue;
            for (size_t j = 0; j < n_names && !covered; j++) {
                if (nm->kind == CERTO_NGINX_NAME_EXACT)
                    covered = certo_nginx__covers(names[j], nm->text);
                else
                    covered = names[j][0] == '*' && strcmp(names[j] + 2, nm->text) == 0;
            }
            if (!covered) {
                char *where = certo_nginx__where(conf, srv->dir);
                certo_plan_note(p,
                                "the server block in %s also serves %s, which the certificate "
                                "does not cover",
                                where, nm->as_written);
                certo_free(where);
            }
        }
        if (srv->n_certs > 1)
            certo_plan_note(p,
                            "a server block has %zu ssl_certificate directives; all of them "
                            "now name the new certificate",
                            srv->n_certs);
    }
}

/* One configuration file's change: its new bytes and a summary with the diff. */
static certo_rc
plan_conf_file(struct certo_plan *p, const struct certo_nginx_conf *conf, size_t file,
               const struct certo_nginx_edit *e, size_t n, struct certo_err *err)
{
    const struct certo_nginx_file *f = conf->files[file];
    struct certo_buf data, diff;
    certo_rc rc;

    certo_buf_init(&data, CERTO_NGINX_FILE_MAX + n * 2 * CERTO_PATH_MAX);
    certo_buf_init(&diff, CERTO_NGINX_FILE_MAX);
    rc = certo_nginx__apply(&data, f, e, n);
    if (rc == CERTO_OK)
        rc = certo_nginx__diff(&diff, f, e, n);
    if (rc != CERTO_OK) {
        rc = certo_err_set(err, rc, WHERE, "%s: the edited file would be too large", f->path);
        goto out;
    }
    if (diff.len > DIFF_MAX) {
        size_t cut = DIFF_MAX;
        while (cut > 0 && diff.data[cut - 1] != '\n')
            cut--;
        diff.len = cut;
        diff.data[cut] = '\0';
        text_line(&diff, "... (the rest of the diff is not shown)");
    }
    if (diff.len > 0 && diff.data[diff.len - 1] == '\n')
        diff.data[--diff.len] = '\0';
    certo_plan_add_change(p, certo_strdup(f->path), &data, 0644,
                          certo_asprintf("nginx %s: %zu change%s of ssl_certificate and "
                                         "ssl_certificate_key\n%s",
                                         f->path, n, n == 1 ? "" : "s",
                                         diff.len > 0 ? (const char *)diff.data : ""));
out:
    certo_buf_dispose(&data);
    certo_buf_dispose(&diff);
    return rc;
}

/* The new chain and key files: beside the main configuration file, named by alias and
 * fingerprint so that no file another block uses is ever overwritten. */
static certo_rc
plan_material(struct certo_plan *p, struct certo_transport *t, const struct certo_install_req *req,
              const char *cert_path, const char *key_path, struct certo_err *err)
{
    struct certo_buf chain, key;
    bool root_dropped = false;
    int n_sent = 0;
    certo_rc rc;

    certo_buf_init(&chain, CERTO_PEM_MAX);
    certo_buf_init(&key, CERTO_PEM_MAX);
    rc = chain_pem(&chain, &n_sent, &root_dropped, req->bundle->chain, err);
    if (rc == CERTO_OK)
        rc = certo_key_to_pem(&key, req->bundle->key, NULL, err);
    if (rc != CERTO_OK)
        goto out;
    bool cert_new = !file_exists(t, cert_path), key_new = !file_exists(t, key_path);
    certo_plan_add_change(p, certo_strdup(cert_path), &chain, 0644,
                          certo_asprintf("nginx %s: certificate and %d chain certificate%s%s",
                                         cert_path, n_sent - 1, n_sent == 2 ? "" : "s",
                                         cert_new ? " (new file)" : ""));
    certo_plan_add_change(p, certo_strdup(key_path), &key, 0600,
                          certo_asprintf("nginx %s: private key%s", key_path,
                                         key_new ? " (new file, mode 0600)" : ""));
    if (root_dropped)
        certo_plan_note(p,
                        "the root certificate at the end of the chain is not put into %s: "
                        "clients have it",
                        cert_path);
out:
    certo_buf_dispose(&chain);
    certo_buf_dispose(&key);
    return rc;
}

static certo_rc
nginx_plan(void *ctx, struct certo_transport *t, const struct certo_install_req *req,
           struct certo_plan *plan, struct certo_err *err)
{
    struct nginx_ctx *c = ctx;
    struct certo_plan p = {0};
    struct certo_nginx_conf *conf = NULL;
    struct certo_nginx_sites s = {0};
    struct certo_nginx_target *targets = NULL;
    struct certo_nginx_edit *e = NULL;
    char **names = NULL;
    char *dir = NULL, *cert_path = NULL, *key_path = NULL, fp8[9];
    size_t n_names = 0, n_targets = 0, n_e = 0;
    certo_rc rc = CERTO_EINTERNAL;

    memset(plan, 0, sizeof(*plan));
    CERTO_ASSERT(req != NULL && req->bundle != NULL);
    if (req->bundle->chain == NULL || sk_X509_num(req->bundle->chain) < 1 ||
        req->bundle->key == NULL) {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE,
                           "nginx needs a certificate and its private key");
        goto out;
    }
    X509 *leaf = sk_X509_value(req->bundle->chain, 0);
    rc = certo_cert_fingerprint(p.fp_after, leaf, err);
    if (rc == CERTO_OK)
        rc = cert_names(&names, &n_names, leaf, err);
    if (rc == CERTO_OK)
        rc = choose_alias(&p.alias, req, names[0], err);
    if (rc == CERTO_OK)
        rc = load(&conf, c, t, err);
    if (rc == CERTO_OK)
        rc = certo_nginx__sites_find(&s, conf, err);
    if (rc != CERTO_OK)
        goto out;
    if (certo_nginx__match(&s, (const char *const *)names, n_names, &targets, &n_targets) == 0) {
        rc = not_served(c, names, n_names, err);
        goto out;
    }
    /* "AB:CD:EF:01:..." -> "abcdef01" */
    for (size_t i = 0, k = 0; k < 8; i++) {
        if (p.fp_after[i] != ':')
            fp8[k++] = (char)tolower((unsigned char)p.fp_after[i]);
    }
    fp8[8] = '\0';
    dir = certo_strndup(c->conf_path, (size_t)(strrchr(c->conf_path, '/') - c->conf_path));
    cert_path = certo_asprintf("%s/certo-%s-%s.pem", dir, p.alias, fp8);
    key_path = certo_asprintf("%s/certo-%s-%s.key", dir, p.alias, fp8);
    rc = check_new_path(conf, cert_path, err);
    if (rc == CERTO_OK)
        rc = check_new_path(conf, key_path, err);
    if (rc == CERTO_OK)
        rc = certo_nginx__plan_edits(&e, &n_e, conf, &s, cert_path, key_path, err);
    if (rc == CERTO_OK)
        rc = plan_material(&p, t, req, cert_path, key_path, err);
    if (rc != CERTO_OK)
        goto out;
    n_e = drop_noop_edits(conf, e, n_e);
    for (size_t i = 0; i < n_e && rc == CERTO_OK;) {
        size_t k = i;
        while (k < n_e && e[k].file == e[i].file)
            k++;
        rc = plan_conf_file(&p, conf, e[i].file, e + i, k - i, err);
        i = k;
    }
    if (rc != CERTO_OK)
        goto out;
    fp_before(p.fp_before, conf, &s, t);
    for (size_t i = 0; i < s.n_notes; i++)
        certo_plan_note(&p, "%s", s.notes[i]);
    note_uncovered(&p, conf, &s, names, n_names);

    /* verify() proves these handshakes after the reload. */
    certo_nginx__targets_free(c->targets, c->n_targets);
    c->targets = targets;
    c->n_targets = n_targets;
    targets = NULL;
    n_targets = 0;
    *plan = p; /* success: hand over ownership */
    memset(&p, 0, sizeof(p));
    rc = CERTO_OK;
out:
    certo_nginx__targets_free(targets, n_targets);
    certo_nginx__edits_free(e, n_e);
    certo_nginx__sites_dispose(&s);
    certo_nginx__conf_free(conf);
    names_free(names, n_names);
    certo_free(dir);
    certo_free(cert_path);
    certo_free(key_path);
    certo_plan_dispose(&p);
    return rc;
}

/* ---- check ---- */

/* One line per ssl server block (the first 20): where, names, listens. */
static void
report_servers(struct certo_check *st, const struct certo_nginx_conf *conf,
               const struct certo_nginx_sites *s)
{
    size_t shown = 0, ssl = 0;

    for (size_t i = 0; i < s->n; i++) {
        const struct certo_nginx_server *srv = &s->servers[i];
        char names[200] = "", listens[120] = "";
        size_t a = 0, b = 0;
        bool any_ssl = srv->ssl_on;
        for (size_t k = 0; k < srv->n_listens; k++)
            any_ssl = any_ssl || srv->listens[k].ssl;
        if (!any_ssl)
            continue;
        ssl++;
        if (shown >= 20)
            continue;
        shown++;
        for (size_t k = 0; k < srv->n_names && a < sizeof(names); k++) {
            int w = snprintf(names + a, sizeof(names) - a, "%s%s", k > 0 ? " " : "",
                             srv->names[k].as_written);
            a += w > 0 ? (size_t)w : 0;
        }
        for (size_t k = 0; k < srv->n_listens && b < sizeof(listens); k++) {
            const struct certo_nginx_listen *l = &srv->listens[k];
            int w =
                snprintf(listens + b, sizeof(listens) - b, "%s%s%s%s:%d%s", k > 0 ? " " : "",
                         strchr(l->addr, ':') != NULL ? "[" : "", l->addr,
                         strchr(l->addr, ':') != NULL ? "]" : "", l->port, l->ssl ? " ssl" : "");
            b += w > 0 ? (size_t)w : 0;
        }
        char *where = certo_nginx__where(conf, srv->dir);
        certo_check_finding(st, CERTO_OK, "ok: server block %s: server_name %s; listen %s", where,
                            names[0] != '\0' ? names : "\"\"", listens);
        certo_free(where);
    }
    if (ssl > shown)
        certo_check_finding(st, CERTO_OK, "ok: ... and %zu more server blocks with ssl",
                            ssl - shown);
    if (ssl == 0)
        certo_check_finding(st, CERTO_ENOTFOUND, "missing: no server block of %s listens with ssl",
                            conf->path);
}

static certo_rc
nginx_check(void *ctx, struct certo_transport *t, struct certo_buf *report, struct certo_err *err)
{
    const struct nginx_ctx *c = ctx;
    struct certo_check st = {.report = report, .err = err, .where = WHERE};
    struct certo_nginx_conf *conf = NULL;
    struct certo_nginx_sites s = {0};
    struct certo_file_meta m;
    struct certo_err e = {0};
    struct certo_buf log;
    char *dir = certo_strndup(c->conf_path, (size_t)(strrchr(c->conf_path, '/') - c->conf_path));

    certo_buf_init(&log, RUN_OUTPUT_MAX);
    if (load(&conf, c, t, &e) != CERTO_OK) {
        certo_check_finding(&st, e.rc, "unreadable: %s", e.msg);
    } else {
        certo_check_finding(&st, CERTO_OK, "ok: %s read with %zu included file%s", c->conf_path,
                            conf->n_files - 1, conf->n_files == 2 ? "" : "s");
        certo_err_clear(&e);
        if (certo_nginx__sites_find(&s, conf, &e) != CERTO_OK)
            certo_check_finding(&st, e.rc, "problem: %s", e.msg);
        else
            report_servers(&st, conf, &s);
        for (size_t i = 0; i < s.n_notes; i++)
            certo_check_finding(&st, CERTO_OK, "note: %s", s.notes[i]);
        for (size_t i = 0; i < conf->n_files; i++) {
            certo_err_clear(&e);
            if (certo_transport_access(t, conf->files[i]->path, W_OK, &e) != CERTO_OK)
                certo_check_finding(&st, CERTO_EPERM, "not writable: %s", conf->files[i]->path);
        }
    }
    certo_err_clear(&e);
    if (certo_transport_access(t, dir, W_OK | X_OK, &e) != CERTO_OK)
        certo_check_finding(&st, CERTO_EPERM,
                            "not writable: directory %s (new certificate files go there)", dir);
    else
        certo_check_finding(&st, CERTO_OK,
                            "ok: directory %s writable (new certificate files go there)", dir);
    certo_err_clear(&e);
    if (certo_transport_stat(t, c->binary, &m, &e) != CERTO_OK || !m.exists)
        certo_check_finding(&st, CERTO_ENOTFOUND, "missing: nginx binary %s", c->binary);
    else if (m.is_dir || certo_transport_access(t, c->binary, X_OK, &e) != CERTO_OK)
        certo_check_finding(&st, CERTO_EPERM, "not executable: nginx binary %s", c->binary);
    else if (run_nginx(c, t, false, &log, &e) != CERTO_OK)
        certo_check_finding(&st, e.rc, "failed: %s", e.msg);
    else
        certo_check_finding(&st, CERTO_OK, "ok: nginx -t -c %s passes", c->conf_path);
    certo_buf_dispose(&log);
    certo_nginx__sites_dispose(&s);
    certo_nginx__conf_free(conf);
    certo_free(dir);
    return st.rc;
}

/* ---- nodes ---- */

/* The names of 'srv' after the first, as written, space-separated; NULL when none. */
static char *
other_names(const struct certo_nginx_server *srv)
{
    char *all = NULL;

    for (size_t k = 1; k < srv->n_names; k++) {
        char *more = certo_asprintf("%s%s%s", all != NULL ? all : "", all != NULL ? " " : "",
                                    srv->names[k].as_written);
        certo_free(all);
        all = more;
    }
    return all;
}

/* One node per listen of every server block (a QUIC listen is UDP: not a node). */
static certo_rc
nginx_nodes(void *ctx, struct certo_transport *t, struct certo_node_list *out,
            struct certo_err *err)
{
    const struct nginx_ctx *c = ctx;
    struct certo_nginx_conf *conf = NULL;
    struct certo_nginx_sites s = {0};
    struct certo_node_list l = {0};
    certo_rc rc;

    memset(out, 0, sizeof(*out));
    rc = load(&conf, c, t, err);
    if (rc == CERTO_OK)
        rc = certo_nginx__sites_find(&s, conf, err);
    if (rc != CERTO_OK)
        goto out;
    for (size_t i = 0; i < s.n; i++) {
        const struct certo_nginx_server *srv = &s.servers[i];
        for (size_t k = 0; k < srv->n_listens; k++) {
            const struct certo_nginx_listen *ls = &srv->listens[k];
            struct certo_conf_node *n;
            if (ls->quic)
                continue;
            n = certo_node_list_add(&l);
            n->name = certo_strdup(srv->n_names > 0 ? srv->names[0].as_written : "");
            n->alias = other_names(srv);
            n->kind = certo_nginx__socket_ssl(&s, ls->addr, ls->port) ? CERTO_NODE_HTTPS
                                                                      : CERTO_NODE_HTTP;
            n->address = certo_strdup(ls->addr);
            n->port = ls->port;
            n->connect = certo_strdup(strcmp(ls->addr, "*") == 0    ? "127.0.0.1"
                                      : strcmp(ls->addr, "::") == 0 ? "::1"
                                                                    : ls->addr);
            for (size_t j = 0; j < srv->n_names && n->sni == NULL; j++)
                n->sni = certo_node_sni(srv->names[j].as_written);
            n->source = certo_nginx__where(conf, srv->dir);
            if (ls->proxy_protocol)
                n->skip = certo_strdup("the listener expects the PROXY protocol");
            /* Its own ssl_certificate directives, else the one it inherits from http. */
            for (size_t j = 0; j < srv->n_certs; j++) {
                const struct certo_nginx_dir *d = srv->certs[j];
                if (strchr(d->words[1].text, '$') == NULL) {
                    char *p = certo_nginx__full_name(conf, d->words[1].text);
                    certo_conf_node_add_file(n, p);
                    certo_free(p);
                }
            }
            if (srv->n_certs == 0 && s.http_cert != NULL &&
                strchr(s.http_cert->words[1].text, '$') == NULL) {
                char *p = certo_nginx__full_name(conf, s.http_cert->words[1].text);
                certo_conf_node_add_file(n, p);
                certo_free(p);
            }
        }
    }
    *out = l; /* success: hand over ownership */
    memset(&l, 0, sizeof(l));
out:
    certo_node_list_dispose(&l);
    certo_nginx__sites_dispose(&s);
    certo_nginx__conf_free(conf);
    return rc;
}

const struct certo_connector_ops certo_connector_nginx = {
    .abi = CERTO_CONNECTOR_ABI,
    .name = "nginx",
    .caps = CERTO_CAP_VERIFY | CERTO_CAP_RESTART,
    .ctx_size = sizeof(struct nginx_ctx),
    .configure = nginx_configure,
    .check = nginx_check,
    .plan = nginx_plan,
    .test = NULL, /* nginx -t needs the files in place: activate runs it after the swap */
    .activate = nginx_activate,
    .verify = nginx_verify,
    .reactivate = nginx_reactivate,
    .restart = nginx_restart,
    .cleanup = nginx_cleanup,
    .nodes = nginx_nodes,
};
