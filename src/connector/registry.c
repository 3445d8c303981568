/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The connector registry (connector layer): every built-in connector in one static array
 * (curl available_backends[]), plus what all connectors share: endpoint options, the plan
 * an install writes, running an endpoint's custom script the seed's way (argv, clean
 * environment, deadline, output kept for the history), and the node list of the nodes() op.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "certo/cert.h"
#include "certo/mem.h"
#include "connector/connector.h"

/* Built-in connectors, looked up by endpoint type name. */
static const struct certo_connector_ops *const connectors[] = {
    &certo_connector_p12,   &certo_connector_jks,    &certo_connector_pem,
    &certo_connector_nginx, &certo_connector_apache, &certo_connector_tomcat,
};

#define SCRIPT_PATH       "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define SCRIPT_OUTPUT_MAX (64u * 1024)
#define SCRIPT_ENV_MAX    32

const struct certo_connector_ops *
certo_connector_find(const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < CERTO_ARRAY_LEN(connectors); i++) {
        if (strcmp(connectors[i]->name, name) == 0)
            return connectors[i];
    }
    return NULL;
}

const char *
certo_connector_opt(const struct certo_connector_cfg *cfg, const char *key)
{
    if (cfg == NULL || key == NULL)
        return NULL;
    for (size_t i = 0; i < cfg->n_opts; i++) {
        if (cfg->opts[i].key != NULL && strcmp(cfg->opts[i].key, key) == 0) {
            const char *v = cfg->opts[i].value;
            return v != NULL && v[0] != '\0' ? v : NULL;
        }
    }
    return NULL;
}

void
certo_plan_add_change(struct certo_plan *p, char *path, struct certo_buf *data, mode_t new_mode,
                      char *summary)
{
    struct certo_change *c;

    p->changes = certo_reallocarray(p->changes, p->n_changes + 1, sizeof(*p->changes));
    c = &p->changes[p->n_changes++];
    memset(c, 0, sizeof(*c));
    c->path = path;
    c->data = *data; /* the memory moves to the plan; 'data' is left empty */
    certo_buf_init(data, data->max);
    c->meta.mode = new_mode;
    c->summary = summary;
}

void
certo_plan_note(struct certo_plan *p, const char *fmt, ...)
{
    va_list ap;
    char *note;

    va_start(ap, fmt);
    note = certo_vasprintf(fmt, ap);
    va_end(ap);
    p->notes = certo_reallocarray(p->notes, p->n_notes + 1, sizeof(*p->notes));
    p->notes[p->n_notes++] = note;
}

void
certo_plan_dispose(struct certo_plan *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n_changes; i++) {
        certo_free(p->changes[i].path);
        certo_buf_dispose(&p->changes[i].data); /* wiped: it may hold a key */
        certo_free(p->changes[i].summary);
    }
    certo_free(p->changes);
    for (size_t i = 0; i < p->n_notes; i++)
        certo_free(p->notes[i]);
    certo_free(p->notes);
    certo_free(p->alias);
    memset(p, 0, sizeof(*p));
}

void
certo_connector_log(struct certo_buf *log, const char *s)
{
    certo_buf_append_fit(log, s, strlen(s));
}

/* Captured output, ending with a newline, and a marker when it was cut. */
static void
log_output(struct certo_buf *log, const struct certo_buf *b, bool truncated, const char *what,
           size_t max)
{
    if (b->len > 0) {
        certo_buf_append_fit(log, b->data, b->len);
        if (b->data[b->len - 1] != '\n')
            certo_connector_log(log, "\n");
    }
    if (truncated) {
        char line[64];
        snprintf(line, sizeof(line), "[%s truncated at %zu bytes]\n", what, max);
        certo_connector_log(log, line);
    }
}

/* One argument of a logged command line, quoted the way a shell would need it. */
static void
log_word(struct certo_buf *log, const char *w)
{
    static const char plain[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                "0123456789_@%+=:,./-";

    if (w[0] != '\0' && w[strspn(w, plain)] == '\0') {
        certo_connector_log(log, w);
        return;
    }
    certo_connector_log(log, "'");
    for (const char *q; (q = strchr(w, '\'')) != NULL; w = q + 1) {
        certo_buf_append_fit(log, w, (size_t)(q - w));
        certo_connector_log(log, "'\\''");
    }
    certo_connector_log(log, w);
    certo_connector_log(log, "'");
}

certo_rc
certo_connector_exec(struct certo_exec_result *r, struct certo_transport *t,
                     const struct certo_connector_cfg *cfg, const struct certo_connector_cmd *cmd,
                     struct certo_buf *log, struct certo_err *err)
{
    const char *envp[SCRIPT_ENV_MAX + 3];
    struct certo_exec_opts o = {0};
    struct certo_err xerr = {0};
    size_t n = 0;
    char line[96];
    certo_rc rc;

    memset(r, 0, sizeof(*r));
    envp[n++] = SCRIPT_PATH;
    envp[n++] = "LANG=C";
    for (size_t i = 0; cmd->env != NULL && cmd->env[i] != NULL; i++) {
        if (i >= SCRIPT_ENV_MAX)
            return certo_err_set(err, CERTO_EINTERNAL, "conn.exec",
                                 "more than %d environment variables for %s", SCRIPT_ENV_MAX,
                                 cmd->what);
        envp[n++] = cmd->env[i];
    }
    envp[n] = NULL;
    o.argv = cmd->argv;
    o.envp = envp;
    o.cwd = cmd->cwd;
    o.max_output = cmd->max_output > 0 ? cmd->max_output : SCRIPT_OUTPUT_MAX;
    o.timeout_ms =
        cfg->script_timeout_ms > 0 ? cfg->script_timeout_ms : CERTO_CONNECTOR_SCRIPT_TIMEOUT_MS;

    certo_connector_log(log, "$");
    for (size_t i = 0; cmd->argv[i] != NULL; i++) {
        certo_connector_log(log, " ");
        log_word(log, cmd->argv[i]);
    }
    certo_connector_log(log, "\n");

    rc = certo_transport_exec(t, &o, r, &xerr);
    if (rc != CERTO_OK) {
        const char *why = certo_err_reason(&xerr);
        certo_connector_log(log, "cannot run it: ");
        certo_connector_log(log, why);
        certo_connector_log(log, "\n");
        return certo_err_set(err, rc, "conn.exec", "cannot run %s (%s)", cmd->what, why);
    }
    log_output(log, &r->out, r->out_truncated, "standard output", o.max_output);
    log_output(log, &r->err, r->err_truncated, "standard error", o.max_output);
    if (r->timed_out) {
        snprintf(line, sizeof(line), "timed out after %g s\n", o.timeout_ms / 1000.0);
        certo_connector_log(log, line);
        return certo_err_set(err, CERTO_ETIMEDOUT, "conn.exec", "%s did not finish within %g s",
                             cmd->what, o.timeout_ms / 1000.0);
    }
    if (r->term_signal != 0)
        snprintf(line, sizeof(line), "killed by signal %d\n", r->term_signal);
    else
        snprintf(line, sizeof(line), "exit %d\n", r->exit_code);
    certo_connector_log(log, line);
    return CERTO_OK;
}

/* Which of the endpoint's scripts 'script' is, for messages. */
static const char *
script_role(const struct certo_connector_cfg *cfg, const char *script)
{
    const char *v = certo_connector_opt(cfg, "install_script");
    if (v != NULL && strcmp(v, script) == 0)
        return "install script";
    v = certo_connector_opt(cfg, "restart_script");
    if (v != NULL && strcmp(v, script) == 0)
        return "restart script";
    return "script";
}

certo_rc
certo_connector_run_script(struct certo_transport *t, const struct certo_connector_cfg *cfg,
                           const char *script, const char *arg, const char *const *env,
                           struct certo_buf *log, struct certo_err *err)
{
    const char *argv[3] = {script, arg, NULL};
    struct certo_connector_cmd cmd = {.argv = argv, .env = env};
    struct certo_exec_result r;
    char *what;
    certo_rc rc;

    if (script == NULL)
        return certo_err_set(err, CERTO_EINVAL, "conn.script", "no script to run");
    what = certo_asprintf("%s %s", script_role(cfg, script), script);
    if (script[0] != '/') {
        rc = certo_err_set(err, CERTO_EINVAL, "conn.script", "%s: the path must be absolute", what);
        goto out;
    }
    cmd.what = what;
    rc = certo_connector_exec(&r, t, cfg, &cmd, log, err);
    if (rc == CERTO_OK && r.term_signal != 0)
        rc = certo_err_set(err, CERTO_EREMOTE, "conn.script", "%s was killed by signal %d", what,
                           r.term_signal);
    else if (rc == CERTO_OK && r.exit_code != 0)
        rc = certo_err_set(err, CERTO_EREMOTE, "conn.script", "%s exited with status %d", what,
                           r.exit_code);
    certo_exec_result_dispose(&r);
out:
    certo_free(what);
    return rc;
}

void
certo_check_finding(struct certo_check *c, certo_rc rc, const char *fmt, ...)
{
    char line[1024];
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (rc != CERTO_OK && c->rc == CERTO_OK) {
        c->rc = rc;
        (void)certo_err_set(c->err, rc, c->where, "%s", line);
    }
    certo_buf_append_fit(c->report, line, strlen(line));
    certo_buf_append_fit(c->report, "\n", 1);
}

/* ---- nodes ---- */

certo_rc
certo_connector_nodes(const struct certo_connector_ops *ops, void *ctx, struct certo_transport *t,
                      struct certo_node_list *out, struct certo_err *err)
{
    memset(out, 0, sizeof(*out));
    if (ops->nodes == NULL)
        return certo_err_set(err, CERTO_EUNSUPPORTED, "conn.nodes",
                             "%s endpoints cannot list their nodes yet", ops->name);
    return ops->nodes(ctx, t, out, err);
}

struct certo_conf_node *
certo_node_list_add(struct certo_node_list *l)
{
    struct certo_conf_node *n;

    l->v = certo_reallocarray(l->v, l->n + 1, sizeof(*l->v));
    n = &l->v[l->n++];
    memset(n, 0, sizeof(*n));
    return n;
}

void
certo_conf_node_add_file(struct certo_conf_node *n, const char *path)
{
    if (path == NULL)
        return;
    for (size_t i = 0; i < n->n_cert_files; i++) {
        if (strcmp(n->cert_files[i], path) == 0)
            return;
    }
    n->cert_files = certo_reallocarray(n->cert_files, n->n_cert_files + 1, sizeof(*n->cert_files));
    n->cert_files[n->n_cert_files++] = certo_strdup(path);
}

void
certo_node_list_dispose(struct certo_node_list *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++) {
        struct certo_conf_node *n = &l->v[i];
        certo_free(n->name);
        certo_free(n->alias);
        certo_free(n->address);
        certo_free(n->connect);
        certo_free(n->sni);
        certo_free(n->source);
        certo_free(n->skip);
        certo_certs_free(n->chain);
        for (size_t k = 0; k < n->n_cert_files; k++)
            certo_free(n->cert_files[k]);
        certo_free(n->cert_files);
    }
    certo_free(l->v);
    memset(l, 0, sizeof(*l));
}

/* A host name as RFC 6066 3 allows it in SNI: letters, digits, '-' and '.', no IP literal. */
static bool
host_name_ok(const char *s)
{
    unsigned char addr[16];
    size_t n = strlen(s);

    if (n == 0 || n > 253 || s[0] == '.' || s[0] == '-' || s[n - 1] == '.' ||
        strstr(s, "..") != NULL)
        return false;
    for (const char *p = s; *p != '\0'; p++) {
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.')
            return false;
    }
    return inet_pton(AF_INET, s, addr) != 1;
}

char *
certo_node_sni(const char *name)
{
    char *sni = NULL;

    if (name == NULL)
        return NULL;
    if (strncmp(name, "*.", 2) == 0)
        sni = certo_asprintf("certo-discover%s", name + 1);
    else if (name[0] == '.')
        sni = certo_strdup(name + 1); /* nginx: ".example.com" is also "example.com" */
    else
        sni = certo_strdup(name);
    for (char *p = sni; *p != '\0'; p++)
        *p = (char)tolower((unsigned char)*p);
    if (!host_name_ok(sni))
        CERTO_FREE(sni);
    return sni;
}
