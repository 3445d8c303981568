/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `certo gateway add|list|revoke|request-sync` (cli layer, issue 8): an admin manages a
 * server's gateways through its REST API. `add` shows the one-time enrollment token once
 * (or writes it to a 0600 file and does not show it), the server's fingerprint to pin, and
 * the `certo gateway enroll` line to run on the gateway host. The local commands of the
 * gateway host (enroll, status, sync, run) are in cmd_gateway.c.
 */
#include <string.h>
#include <unistd.h>

#include "certo/client.h"
#include "certo/file.h"
#include "cli/cli.h"

const struct cli_opt cli_gateway_add_opts[] = {
    {"out", 'o', CLI_VALUE, "TOKENFILE",
     "write the enrollment token to TOKENFILE (mode 0600) instead of showing it"},
    {"json", 0, CLI_FLAG, NULL, "print the server's JSON (with the token, unless --out)"},
    {NULL, 0, 0, NULL, NULL},
};

const struct cli_opt cli_gateway_list_opts[] = {
    {"json", 0, CLI_FLAG, NULL, "print JSON"},
    {NULL, 0, 0, NULL, NULL},
};

const struct cli_opt cli_gateway_sync_opts[] = {
    CLI_WAIT_OPTS,
    {NULL, 0, 0, NULL, NULL},
};

static const char *
str_or(json_t *obj, const char *key, const char *def)
{
    const char *v = json_string_value(json_object_get(obj, key));
    return v != NULL ? v : def;
}

static void
print_json(json_t *doc)
{
    json_dumpf(doc, stdout, JSON_INDENT(2));
    fputc('\n', stdout);
}

/* Writes the token and a newline to 'path', atomically, mode 0600. */
static certo_rc
write_token(const char *path, const char *token, struct certo_err *err)
{
    const struct certo_file_as as = {.mode = 0600, .uid = getuid(), .gid = getgid()};
    size_t n = strlen(token) + 1;
    char *data = certo_malloc(n + 1);
    certo_rc rc;

    memcpy(data, token, n - 1);
    data[n - 1] = '\n';
    data[n] = '\0';
    rc = certo_file_replace_as(path, data, n, &as);
    certo_free_clear(data, n + 1);
    if (rc != CERTO_OK)
        return certo_err_sys(err, rc, "cli", "--out %s: cannot write the token", path);
    return CERTO_OK;
}

int
cli_gateway_add(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0};
    struct certo_session *s = NULL;
    const char *out = cli_get(a, "out"), *name = a->pos[0], *token, *fp;
    json_t *doc = NULL;
    int code = cli_need_server(cmd);
    certo_rc rc;

    if (code != 0)
        return code;
    if (name[0] == '\0')
        return cli_usage_error(cmd, "NAME: empty");
    if (out != NULL && (out[0] == '\0' || strcmp(out, "-") == 0))
        return cli_usage_error(cmd, "--out: a file name (without --out the token is shown)");
    rc = cli_remote_open(&s, &err);
    if (rc == CERTO_OK)
        rc = cli_call(s, "POST", "/gateways/", json_pack("{s:s}", "name", name), &doc, &err);
    if (rc != CERTO_OK) {
        code = cli_remote_fail(cmd, rc, &err);
        goto out;
    }
    token = str_or(doc, "enrollToken", NULL);
    fp = str_or(doc, "serverFingerprint", "?");
    if (token == NULL) {
        fprintf(stderr, "certo %s: the server's answer has no enrollment token\n", cmd->name);
        code = 1;
        goto out;
    }
    if (out != NULL) {
        rc = write_token(out, token, &err);
        if (rc != CERTO_OK) {
            /* The gateway exists and its token is lost: say how to start again. */
            fprintf(stderr, "certo %s: %s; revoke gateway %lld and add it again\n", cmd->name,
                    err.msg, (long long)json_integer_value(json_object_get(doc, "id")));
            code = 1;
            goto out;
        }
        json_object_del(doc, "enrollToken"); /* jansson's memory is wiped when freed */
    }
    if (cli_has(a, "json")) {
        if (out != NULL)
            json_object_set_new(doc, "tokenFile", json_string(out));
        print_json(doc);
        goto out;
    }
    printf("Gateway '%s' created (id %lld), waiting for enrollment.\n", str_or(doc, "name", name),
           (long long)json_integer_value(json_object_get(doc, "id")));
    if (out != NULL)
        printf("Enrollment token (one use, valid %lld s) written to %s (mode 0600).\n",
               (long long)json_integer_value(json_object_get(doc, "enrollTokenExpiresIn")), out);
    else
        printf("Enrollment token (one use, valid %lld s; shown only this once):\n  %s\n",
               (long long)json_integer_value(json_object_get(doc, "enrollTokenExpiresIn")), token);
    printf("Server certificate SHA-256: %s\n", fp);
    printf("On the gateway host, %s then run:\n",
           out != NULL ? "copy the token file (keep it mode 0600),"
                       : "save the token in a file only you can read (mode 0600),");
    printf("  certo gateway enroll --server %s --token-file %s --server-fingerprint %s "
           "--name-check %s\n",
           certo_session_url_get0(s), out != NULL ? out : "TOKENFILE", fp,
           str_or(doc, "name", name));
out:
    json_decref(doc);
    certo_session_close(s);
    return code;
}

/* The gateway named 'ref' (or with id 'ref'): a new reference in *out. */
static certo_rc
find_gateway(json_t **out, struct certo_session *s, const char *ref, struct certo_err *err)
{
    json_t *items = NULL, *g;
    certo_rc rc = cli_call_list(s, "/gateways/", &items, err);

    *out = NULL;
    if (rc != CERTO_OK)
        return rc;
    g = cli_find_named(items, ref);
    if (g == NULL)
        rc = certo_err_set(err, CERTO_ENOTFOUND, "cli", "no gateway named '%s'", ref);
    else
        *out = json_incref(g);
    json_decref(items);
    return rc;
}

int
cli_gateway_list(const struct cli_cmd *cmd, struct cli_args *a)
{
    static const char *const heads[] = {"ID",        "Name",     "State",
                                        "Endpoints", "Enrolled", "Last seen"};
    enum { COLS = CERTO_ARRAY_LEN(heads) };
    struct certo_err err = {0};
    struct certo_session *s = NULL;
    json_t *items = NULL, *g;
    char **cells = NULL;
    size_t i, n = 0;
    int code = cli_need_server(cmd);
    certo_rc rc;

    if (code != 0)
        return code;
    rc = cli_remote_open(&s, &err);
    if (rc == CERTO_OK)
        rc = cli_call_list(s, "/gateways/", &items, &err);
    if (rc != CERTO_OK) {
        code = cli_remote_fail(cmd, rc, &err);
        goto out;
    }
    if (cli_has(a, "json")) {
        print_json(items);
        goto out;
    }
    n = json_array_size(items);
    cells = certo_calloc(n * COLS + 1, sizeof(*cells));
    json_array_foreach(items, i, g)
    {
        char **row = cells + i * COLS, when[32];
        row[0] = certo_asprintf("%lld", (long long)json_integer_value(json_object_get(g, "id")));
        row[1] = certo_strdup(str_or(g, "name", "?"));
        row[2] = certo_strdup(str_or(g, "state", "?"));
        row[3] =
            certo_asprintf("%lld", (long long)json_integer_value(json_object_get(g, "endpoints")));
        cli_epoch_text(when, json_integer_value(json_object_get(g, "enrolledAt")));
        row[4] = certo_strdup(when);
        cli_epoch_text(when, json_integer_value(json_object_get(g, "lastSeen")));
        row[5] = certo_strdup(when);
    }
    if (n == 0)
        printf("No gateways.\n");
    else
        cli_table_print(heads, COLS, cells, n);
out:
    for (i = 0; cells != NULL && i < n * COLS; i++)
        certo_free(cells[i]);
    certo_free(cells);
    json_decref(items);
    certo_session_close(s);
    return code;
}

int
cli_gateway_revoke(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0};
    struct certo_session *s = NULL;
    json_t *g = NULL;
    char *path = NULL;
    int code = cli_need_server(cmd);
    certo_rc rc;

    if (code != 0)
        return code;
    rc = cli_remote_open(&s, &err);
    if (rc == CERTO_OK)
        rc = find_gateway(&g, s, a->pos[0], &err);
    if (rc == CERTO_OK) {
        path = certo_asprintf("/gateways/%lld",
                              (long long)json_integer_value(json_object_get(g, "id")));
        rc = cli_call(s, "DELETE", path, NULL, NULL, &err);
    }
    if (rc != CERTO_OK)
        code = cli_remote_fail(cmd, rc, &err);
    else
        printf("Gateway '%s' (id %lld) revoked: the server refuses its certificate from now on\n",
               str_or(g, "name", "?"), (long long)json_integer_value(json_object_get(g, "id")));
    certo_free(path);
    json_decref(g);
    certo_session_close(s);
    return code;
}

int
cli_gateway_request_sync(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0};
    struct certo_session *s = NULL;
    json_t *g = NULL, *queued = NULL;
    char *path = NULL, *what = NULL;
    int timeout_s = 0, code = cli_need_server(cmd);
    certo_rc rc;

    if (code == 0)
        code = cli_wait_check(cmd, a, &timeout_s);
    if (code != 0)
        return code;
    rc = cli_remote_open(&s, &err);
    if (rc == CERTO_OK)
        rc = find_gateway(&g, s, a->pos[0], &err);
    if (rc == CERTO_OK) {
        path = certo_asprintf("/gateways/%lld/sync",
                              (long long)json_integer_value(json_object_get(g, "id")));
        rc = cli_call(s, "POST", path, NULL, &queued, &err);
    }
    if (rc != CERTO_OK) {
        code = cli_remote_fail(cmd, rc, &err);
        goto out;
    }
    what = certo_asprintf("sync the endpoints of gateway '%s' (id %lld)", str_or(g, "name", "?"),
                          (long long)json_integer_value(json_object_get(g, "id")));
    code = cli_job_follow(cmd, s, a, queued, what);
out:
    certo_free(what);
    certo_free(path);
    json_decref(queued);
    json_decref(g);
    certo_session_close(s);
    return code;
}
