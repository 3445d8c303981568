/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The connector registry (connector layer): every built-in connector in one static array
 * (curl available_backends[]), plus what all connectors share: endpoint options, the plan
 * an install writes, and running an endpoint's custom script the seed's way (argv, clean
 * environment, deadline, output kept for the history).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "certo/mem.h"
#include "connector/connector.h"

/* Built-in connectors, looked up by endpoint type name. */
static const struct certo_connector_ops *const connectors[] = {
    &certo_connector_p12,   &certo_connector_jks,    &certo_connector_pem,
    &certo_connector_nginx, &certo_connector_apache, &certo_connector_tomcat,
};

#define SCRIPT_PATH       "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define SCRIPT_TIMEOUT_MS 300000
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
        if (cfg->opts[i].key != NULL && strcmp(cfg->opts[i].key, key) == 0)
            return cfg->opts[i].value;
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
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    note = certo_malloc((size_t)n + 1);
    note[0] = '\0';
    va_start(ap, fmt);
    (void)vsnprintf(note, (size_t)n + 1, fmt, ap);
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

/*
 * Appends to the log what still fits under its ceiling. A log is a record for the
 * history: running out of room must not lose what is already there (a failed
 * certo_buf_append would release the whole buffer).
 */
static void
log_add(struct certo_buf *log, const void *p, size_t n)
{
    certo_buf_append_fit(log, p, n);
}

static void
log_str(struct certo_buf *log, const char *s)
{
    log_add(log, s, strlen(s));
}

/* Captured output, ending with a newline, and a marker when it was cut. */
static void
log_output(struct certo_buf *log, const struct certo_buf *b, bool truncated, const char *what)
{
    if (b->len > 0) {
        log_add(log, b->data, b->len);
        if (b->data[b->len - 1] != '\n')
            log_str(log, "\n");
    }
    if (truncated) {
        char line[64];
        snprintf(line, sizeof(line), "[%s truncated at %u bytes]\n", what, SCRIPT_OUTPUT_MAX);
        log_str(log, line);
    }
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
    const char *envp[SCRIPT_ENV_MAX + 3];
    struct certo_exec_opts o = {0};
    struct certo_exec_result r = {0};
    struct certo_err xerr = {0};
    const char *role = script_role(cfg, script);
    int timeout_ms = cfg->script_timeout_ms > 0 ? cfg->script_timeout_ms : SCRIPT_TIMEOUT_MS;
    size_t n = 0;
    char line[96];
    certo_rc rc = CERTO_EINTERNAL;

    if (script == NULL || script[0] != '/')
        return certo_err_set(err, CERTO_EINVAL, "conn.script", "%s %s: the path must be absolute",
                             role, script != NULL ? script : "(none)");
    envp[n++] = SCRIPT_PATH;
    envp[n++] = "LANG=C";
    for (size_t i = 0; env != NULL && env[i] != NULL; i++) {
        if (i >= SCRIPT_ENV_MAX)
            return certo_err_set(err, CERTO_EINTERNAL, "conn.script",
                                 "more than %d environment variables for %s %s", SCRIPT_ENV_MAX,
                                 role, script);
        envp[n++] = env[i];
    }
    envp[n] = NULL;
    o.argv = argv;
    o.envp = envp;
    o.max_output = SCRIPT_OUTPUT_MAX;
    o.timeout_ms = timeout_ms;

    log_str(log, "$ ");
    log_str(log, script);
    if (arg != NULL) {
        log_str(log, " ");
        log_str(log, arg);
    }
    log_str(log, "\n");

    rc = certo_transport_exec(t, &o, &r, &xerr);
    if (rc != CERTO_OK) {
        const char *why = xerr.sys_errno != 0 ? strerror(xerr.sys_errno) : xerr.msg;
        log_str(log, "cannot run it: ");
        log_str(log, why);
        log_str(log, "\n");
        rc = certo_err_set(err, rc, "conn.script", "%s %s: cannot run it (%s)", role, script, why);
        goto out;
    }
    log_output(log, &r.out, r.out_truncated, "standard output");
    log_output(log, &r.err, r.err_truncated, "standard error");
    if (r.timed_out) {
        snprintf(line, sizeof(line), "timed out after %g s\n", timeout_ms / 1000.0);
        log_str(log, line);
        rc = certo_err_set(err, CERTO_ETIMEDOUT, "conn.script", "%s %s did not finish within %g s",
                           role, script, timeout_ms / 1000.0);
        goto out;
    }
    if (r.term_signal != 0) {
        snprintf(line, sizeof(line), "killed by signal %d\n", r.term_signal);
        log_str(log, line);
        rc = certo_err_set(err, CERTO_EREMOTE, "conn.script", "%s %s was killed by signal %d", role,
                           script, r.term_signal);
        goto out;
    }
    snprintf(line, sizeof(line), "exit %d\n", r.exit_code);
    log_str(log, line);
    if (r.exit_code != 0) {
        rc = certo_err_set(err, CERTO_EREMOTE, "conn.script", "%s %s exited with status %d", role,
                           script, r.exit_code);
        goto out;
    }
    rc = CERTO_OK;
out:
    certo_exec_result_dispose(&r);
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
