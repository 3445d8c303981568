/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `certo inventory add|list|show|remove` (cli layer, issue 8): the server's certificate
 * inventory through its REST API. A certificate comes with its key and gets an order
 * number (the SSL column of `certo endpoint nodes`, the --cert of `certo endpoint
 * install`). The key and its password are read from files only, never from argv; the
 * server seals the key and never shows it. Not to be confused with `certo cert`, the
 * offline certificate tools.
 */
#include <stdlib.h>
#include <string.h>

#include "certo/buf.h"
#include "certo/client.h"
#include "cli/cli.h"

#define CERT_MAX (1024 * 1024)
#define KEY_MAX  (64 * 1024)

static const struct cli_opt add_opts[] = {
    {"cert", 0, CLI_VALUE, "FILE", "the certificate (PEM; may hold its chain after it)"},
    {"chain", 0, CLI_VALUE, "FILE", "intermediate certificates (PEM), sent after --cert"},
    {"key", 0, CLI_VALUE, "FILE", "its private key (PEM)"},
    {"key-password-file", 0, CLI_VALUE, "FILE",
     "the password of an encrypted key, first line of FILE"},
    {"org", 0, CLI_VALUE, "ORG", "the organization it belongs to (name or id)"},
    {"dept", 0, CLI_VALUE, "DEPT", "a department of --org (name or id)"},
    {"json", 0, CLI_FLAG, NULL, "print JSON"},
    {NULL, 0, 0, NULL, NULL},
};

static const struct cli_opt json_opts[] = {
    {"json", 0, CLI_FLAG, NULL, "print JSON"},
    {NULL, 0, 0, NULL, NULL},
};

static const char *
str_or(json_t *obj, const char *key, const char *def)
{
    const char *v = json_string_value(json_object_get(obj, key));
    return v != NULL ? v : def;
}

static json_int_t
int_of(json_t *obj, const char *key)
{
    return json_integer_value(json_object_get(obj, key));
}

static void
print_json(json_t *doc)
{
    json_dumpf(doc, stdout, JSON_INDENT(2));
    fputc('\n', stdout);
}

/* The order number of the first argument, or 0 (a usage error was printed). */
static json_int_t
order_arg(const struct cli_cmd *cmd, const struct cli_args *a)
{
    const char *s = a->pos[0];

    if (s[0] == '\0' || strlen(s) > 18 || strspn(s, "0123456789") != strlen(s) ||
        strspn(s, "0") == strlen(s)) {
        (void)cli_usage_error(cmd, "ORDER: an order number, not '%s'", s);
        return 0;
    }
    return (json_int_t)strtoll(s, NULL, 10);
}

/* The name of 'id' in 'items' (an array of {"id", "name"}), or NULL. */
static const char *
name_of(json_t *items, json_int_t id)
{
    json_t *v;
    size_t i;

    json_array_foreach(items, i, v)
    {
        if (id > 0 && int_of(v, "id") == id)
            return str_or(v, "name", NULL);
    }
    return NULL;
}

/* "NAME (id N)", "#N" when unknown, "-" for none. */
static char *
scope_label(json_t *orgs, json_t *depts, json_t *c, bool dept)
{
    json_int_t id = int_of(c, dept ? "deptId" : "orgId");
    const char *name = name_of(dept ? depts : orgs, id);

    if (id <= 0)
        return certo_strdup("-");
    return name != NULL ? certo_asprintf("%s (%lld)", name, (long long)id)
                        : certo_asprintf("#%lld", (long long)id);
}

/* Best effort: the organizations, and the departments of those 'certs' name. */
static void
scope_names(json_t **orgs, json_t **depts, struct certo_session *s, json_t *certs)
{
    struct certo_err ignored = {0};
    json_t *c, *d = NULL;
    size_t i;

    *depts = json_array();
    if (cli_call_list(s, "/orgs/", orgs, &ignored) != CERTO_OK)
        *orgs = json_array();
    json_array_foreach(certs, i, c)
    {
        char *path;
        if (int_of(c, "deptId") <= 0 || name_of(*depts, int_of(c, "deptId")) != NULL)
            continue;
        path = certo_asprintf("/orgs/%lld/departments/", (long long)int_of(c, "orgId"));
        if (cli_call_list(s, path, &d, &ignored) == CERTO_OK)
            json_array_extend(*depts, d);
        json_decref(d);
        d = NULL;
        certo_free(path);
    }
}

static void
print_cert(json_t *c, json_t *orgs, json_t *depts)
{
    char when[32], *o = scope_label(orgs, depts, c, false), *d = scope_label(orgs, depts, c, true);

    printf("Certificate %lld (order number)\n", (long long)int_of(c, "id"));
    printf("  Name:          %s\n", str_or(c, "name", "-"));
    printf("  Subject:       %s\n", str_or(c, "subject", "-"));
    printf("  Issuer:        %s\n", str_or(c, "issuer", "-"));
    cli_epoch_text(when, int_of(c, "notAfter"));
    printf("  Expires:       %s\n", when);
    printf("  SHA-256:       %s\n", str_or(c, "fingerprint", "-"));
    printf("  Organization:  %s\n", o);
    printf("  Department:    %s\n", d);
    cli_epoch_text(when, int_of(c, "createdAt"));
    printf("  Added:         %s\n", when);
    certo_free(o);
    certo_free(d);
}

static int
run_add(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0};
    struct certo_session *s = NULL;
    struct certo_secret *pw = NULL;
    struct certo_buf cert, chain, key;
    const char *cert_f = cli_get(a, "cert"), *key_f = cli_get(a, "key");
    const char *chain_f = cli_get(a, "chain"), *pw_f = cli_get(a, "key-password-file");
    json_t *body = NULL, *doc = NULL, *orgs = NULL, *depts = NULL, *one;
    int64_t org = 0, dept = 0;
    int code = cli_need_server(cmd);
    certo_rc rc;

    certo_buf_init(&cert, CERT_MAX);
    certo_buf_init(&chain, CERT_MAX);
    certo_buf_init(&key, KEY_MAX);
    if (code != 0)
        goto out;
    if (cert_f == NULL || key_f == NULL) {
        code = cli_usage_error(cmd, "missing --%s FILE", cert_f == NULL ? "cert" : "key");
        goto out;
    }
    if (cli_has(a, "dept") && !cli_has(a, "org")) {
        code = cli_usage_error(cmd, "--dept needs --org");
        goto out;
    }
    rc = cli_read_file(&cert, cert_f, CERT_MAX, "--cert", &err);
    if (rc == CERTO_OK && chain_f != NULL)
        rc = cli_read_file(&chain, chain_f, CERT_MAX, "--chain", &err);
    if (rc == CERTO_OK)
        rc = cli_read_file(&key, key_f, KEY_MAX, "--key", &err);
    if (rc == CERTO_OK && pw_f != NULL && certo_secret_load_file(&pw, pw_f) != CERTO_OK)
        rc = certo_err_sys(&err, CERTO_EINVAL, "cli", "--key-password-file %s: cannot read", pw_f);
    if (rc != CERTO_OK) {
        code = cli_fail(cmd, rc, &err);
        goto out;
    }
    rc = cli_remote_open(&s, &err);
    if (rc == CERTO_OK)
        rc = cli_remote_scope(s, a, &org, &dept, &err);
    if (rc != CERTO_OK) {
        code = cli_remote_fail(cmd, rc, &err);
        goto out;
    }
    body = json_object();
    if (chain.len > 0 && cert.len > 0 && cert.data[cert.len - 1] != '\n')
        rc = certo_buf_append(&cert, "\n", 1);
    if (rc == CERTO_OK && chain.len > 0)
        rc = certo_buf_append(&cert, chain.data, chain.len);
    if (rc != CERTO_OK) {
        code = cli_usage_error(cmd, "--chain: certificate and chain over %d bytes", CERT_MAX);
        goto out;
    }
    json_object_set_new(body, "certificate", json_stringn((const char *)cert.data, cert.len));
    json_object_set_new(body, "key", json_stringn((const char *)key.data, key.len));
    if (pw != NULL)
        json_object_set_new(body, "password",
                            json_stringn(certo_secret_get0(pw), certo_secret_len(pw)));
    if (org != 0)
        json_object_set_new(body, "orgId", json_integer(org));
    if (dept != 0)
        json_object_set_new(body, "deptId", json_integer(dept));
    rc = cli_call(s, "POST", "/certificates/", body, &doc, &err);
    body = NULL;
    if (rc != CERTO_OK) {
        code = cli_remote_fail(cmd, rc, &err);
        goto out;
    }
    if (cli_has(a, "json")) {
        print_json(doc);
        goto out;
    }
    one = json_pack("[O]", doc);
    scope_names(&orgs, &depts, s, one);
    json_decref(one);
    printf("Added to the inventory: order number %lld\n", (long long)int_of(doc, "id"));
    print_cert(doc, orgs, depts);
out:
    json_decref(orgs);
    json_decref(depts);
    json_decref(doc);
    certo_secret_free(pw);
    certo_buf_dispose(&key); /* wiped */
    certo_buf_dispose(&chain);
    certo_buf_dispose(&cert);
    certo_session_close(s);
    return code;
}

static int
run_list(const struct cli_cmd *cmd, struct cli_args *a)
{
    static const char *const heads[] = {"Order",   "Subject",      "Issuer",
                                        "Expires", "Organization", "Department"};
    enum { COLS = CERTO_ARRAY_LEN(heads) };
    struct certo_err err = {0};
    struct certo_session *s = NULL;
    json_t *items = NULL, *orgs = NULL, *depts = NULL, *c;
    char **cells = NULL;
    size_t i, n = 0;
    int code = cli_need_server(cmd);
    certo_rc rc;

    if (code != 0)
        return code;
    rc = cli_remote_open(&s, &err);
    if (rc == CERTO_OK)
        rc = cli_call_list(s, "/certificates/", &items, &err);
    if (rc != CERTO_OK) {
        code = cli_remote_fail(cmd, rc, &err);
        goto out;
    }
    if (cli_has(a, "json")) {
        print_json(items);
        goto out;
    }
    scope_names(&orgs, &depts, s, items);
    n = json_array_size(items);
    cells = certo_calloc(n * COLS + 1, sizeof(*cells));
    json_array_foreach(items, i, c)
    {
        char **row = cells + i * COLS, when[32];
        row[0] = certo_asprintf("%lld", (long long)int_of(c, "id"));
        row[1] = certo_strdup(str_or(c, "subject", "-"));
        row[2] = certo_strdup(str_or(c, "issuer", "-"));
        cli_epoch_text(when, int_of(c, "notAfter"));
        row[3] = certo_strdup(when);
        row[4] = scope_label(orgs, depts, c, false);
        row[5] = scope_label(orgs, depts, c, true);
    }
    if (n == 0)
        printf("No certificates.\n");
    else
        cli_table_print(heads, COLS, cells, n);
out:
    for (i = 0; cells != NULL && i < n * COLS; i++)
        certo_free(cells[i]);
    certo_free(cells);
    json_decref(orgs);
    json_decref(depts);
    json_decref(items);
    certo_session_close(s);
    return code;
}

static int
run_show(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0};
    struct certo_session *s = NULL;
    json_t *doc = NULL, *orgs = NULL, *depts = NULL, *one;
    json_int_t order;
    char *path = NULL;
    int code = cli_need_server(cmd);
    certo_rc rc;

    if (code != 0)
        return code;
    order = order_arg(cmd, a);
    if (order == 0)
        return 2;
    path = certo_asprintf("/certificates/%lld", (long long)order);
    rc = cli_remote_open(&s, &err);
    if (rc == CERTO_OK)
        rc = cli_call(s, "GET", path, NULL, &doc, &err);
    if (rc != CERTO_OK) {
        code = cli_remote_fail(cmd, rc, &err);
        goto out;
    }
    if (cli_has(a, "json")) {
        print_json(doc);
        goto out;
    }
    one = json_pack("[O]", doc);
    scope_names(&orgs, &depts, s, one);
    json_decref(one);
    print_cert(doc, orgs, depts);
out:
    json_decref(orgs);
    json_decref(depts);
    json_decref(doc);
    certo_free(path);
    certo_session_close(s);
    return code;
}

static int
run_remove(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0};
    struct certo_session *s = NULL;
    json_int_t order;
    char *path = NULL;
    int code = cli_need_server(cmd);
    certo_rc rc;

    if (code != 0)
        return code;
    order = order_arg(cmd, a);
    if (order == 0)
        return 2;
    path = certo_asprintf("/certificates/%lld", (long long)order);
    rc = cli_remote_open(&s, &err);
    if (rc == CERTO_OK)
        rc = cli_call(s, "DELETE", path, NULL, NULL, &err);
    if (rc != CERTO_OK)
        code = cli_remote_fail(cmd, rc, &err);
    else
        printf("Certificate %lld removed from the inventory\n", (long long)order);
    certo_free(path);
    certo_session_close(s);
    return code;
}

const struct cli_cmd cli_inventory_cmds[] = {
    {"inventory add",
     "--cert FILE [--chain FILE] --key FILE [--key-password-file F] [--org ORG [--dept DEPT]]",
     "add a certificate with its key to the server's inventory: prints its order number", add_opts,
     0, 0, run_add, NULL},
    {"inventory list", "[--json]",
     "the inventory you may see: order number, subject, issuer, expiry, scope", json_opts, 0, 0,
     run_list, NULL},
    {"inventory show", "[--json] ORDER", "one certificate of the inventory (never its key)",
     json_opts, 1, 1, run_show, NULL},
    {"inventory remove", "ORDER", "remove a certificate (and its key) from the inventory",
     json_opts + 1, 1, 1, run_remove, NULL},
    {NULL, NULL, NULL, NULL, 0, 0, NULL, NULL},
};
