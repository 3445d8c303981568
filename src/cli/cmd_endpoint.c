/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `certo endpoint list|show|delegate|discover|restart|install|nodes` (cli layer, issue 8):
 * the endpoints gateways synced to a server (seed 004), through its REST API. Delegation
 * to an organization and department, jobs for the endpoint's gateway (discover, restart,
 * install of an inventory certificate, each with --wait), and the nodes of the latest
 * discovery in the columns `certo tls nodes` prints.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "certo/client.h"
#include "cli/cli.h"

#define NODE_COLS 6

static const struct cli_opt json_opts[] = {
    {"json", 0, CLI_FLAG, NULL, "print JSON"},
    {NULL, 0, 0, NULL, NULL},
};

static const struct cli_opt delegate_opts[] = {
    {"org", 0, CLI_VALUE, "ORG", "the organization (name or id)"},
    {"dept", 0, CLI_VALUE, "DEPT", "a department of --org (name or id)"},
    {"clear", 0, CLI_FLAG, NULL, "take the endpoint back: no organization, no department"},
    {NULL, 0, 0, NULL, NULL},
};

static const struct cli_opt job_opts[] = {
    CLI_WAIT_OPTS,
    {NULL, 0, 0, NULL, NULL},
};

static const struct cli_opt install_opts[] = {
    {"cert", 0, CLI_VALUE, "ORDER", "the order number of a certificate of the inventory"},
    {"alias", 0, CLI_VALUE, "NAME", "the keystore alias to install under (keystore endpoints)"},
    CLI_WAIT_OPTS,
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

static bool
all_digits(const char *s)
{
    return s[0] != '\0' && strlen(s) <= 18 && strspn(s, "0123456789") == strlen(s);
}

/*
 * The endpoint named 'ref' among those the caller may see, else the one whose id is
 * 'ref' (GET /endpoints/{id}: another organization's is "no such endpoint", 404).
 * Names are per gateway: a name two gateways use must be given as an id.
 */
static certo_rc
find_endpoint(json_t **out, struct certo_session *s, const char *ref, struct certo_err *err)
{
    json_t *items = NULL, *v, *hit = NULL;
    size_t i, hits = 0;
    certo_rc rc;
    char *path;

    *out = NULL;
    rc = cli_call_list(s, "/endpoints/", &items, err);
    if (rc != CERTO_OK)
        return rc;
    json_array_foreach(items, i, v)
    {
        if (strcmp(str_or(v, "name", ""), ref) == 0) {
            hit = v;
            hits++;
        }
    }
    if (hits > 1) {
        rc = certo_err_set(err, CERTO_EINVAL, "cli",
                           "%zu endpoints are named '%s' (on different gateways): give the ID "
                           "('certo endpoint list')",
                           hits, ref);
    } else if (hit != NULL) {
        *out = json_incref(hit);
    } else if (all_digits(ref)) {
        path = certo_asprintf("/endpoints/%s", ref);
        rc = cli_call(s, "GET", path, NULL, out, err);
        certo_free(path);
    } else {
        rc = certo_err_set(err, CERTO_ENOTFOUND, "cli", "no endpoint named '%s'", ref);
    }
    json_decref(items);
    return rc;
}

/* Adds the names of 'ep''s gateway, organization and department (null when unknown). */
struct names {
    json_t *gateways, *orgs, *depts; /* arrays as cli_call_list gives them; may be NULL */
};

static void
names_load(struct names *n, struct certo_session *s, json_t *eps)
{
    struct certo_err ignored = {0};
    json_t *e, *d = NULL;
    size_t i;

    memset(n, 0, sizeof(*n));
    /* Best effort: only admins and global auditors may list gateways. */
    (void)cli_call_list(s, "/gateways/", &n->gateways, &ignored);
    (void)cli_call_list(s, "/orgs/", &n->orgs, &ignored);
    n->depts = json_array();
    json_array_foreach(eps, i, e)
    {
        json_int_t org = int_of(e, "orgId");
        char *path;
        if (org <= 0 || int_of(e, "deptId") <= 0)
            continue;
        path = certo_asprintf("/orgs/%lld/departments/", (long long)org);
        if (cli_call_list(s, path, &d, &ignored) == CERTO_OK)
            json_array_extend(n->depts, d);
        json_decref(d);
        d = NULL;
        certo_free(path);
    }
}

static void
names_dispose(struct names *n)
{
    json_decref(n->gateways);
    json_decref(n->orgs);
    json_decref(n->depts);
}

static json_t *
name_by_id(json_t *items, json_int_t id)
{
    json_t *v;
    size_t i;

    json_array_foreach(items, i, v)
    {
        if (id > 0 && int_of(v, "id") == id)
            return json_object_get(v, "name");
    }
    return NULL;
}

static void
names_add(const struct names *n, json_t *ep)
{
    json_t *g = name_by_id(n->gateways, int_of(ep, "gatewayId"));
    json_t *o = name_by_id(n->orgs, int_of(ep, "orgId"));
    json_t *d = name_by_id(n->depts, int_of(ep, "deptId"));

    json_object_set(ep, "gateway", g != NULL ? g : json_null());
    json_object_set(ep, "org", o != NULL ? o : json_null());
    json_object_set(ep, "dept", d != NULL ? d : json_null());
}

/* "NAME (id N)", "#N" when the name is unknown, "-" for none. */
static char *
label(json_t *ep, const char *name_key, const char *id_key)
{
    json_int_t id = int_of(ep, id_key);
    const char *name = str_or(ep, name_key, NULL);

    if (id <= 0)
        return certo_strdup("-");
    if (name == NULL)
        return certo_asprintf("#%lld", (long long)id);
    return certo_asprintf("%s (%lld)", name, (long long)id);
}

/* Opens the session and finds the endpoint of the first argument; exit code on failure. */
static int
open_endpoint(const struct cli_cmd *cmd, struct cli_args *a, struct certo_session **s, json_t **ep)
{
    struct certo_err err = {0};
    int code = cli_need_server(cmd);
    certo_rc rc;

    *s = NULL;
    *ep = NULL;
    if (code != 0)
        return code;
    rc = cli_remote_open(s, &err);
    if (rc == CERTO_OK)
        rc = find_endpoint(ep, *s, a->pos[0], &err);
    if (rc != CERTO_OK)
        return cli_remote_fail(cmd, rc, &err);
    return 0;
}

/* ---- list, show ---- */

static int
run_list(const struct cli_cmd *cmd, struct cli_args *a)
{
    static const char *const heads[] = {"ID",      "Name",         "Type",      "Transport",
                                        "Gateway", "Organization", "Department"};
    enum { COLS = CERTO_ARRAY_LEN(heads) };
    struct certo_err err = {0};
    struct certo_session *s = NULL;
    struct names n = {0};
    json_t *eps = NULL, *e;
    char **cells = NULL;
    size_t i, rows = 0;
    int code = cli_need_server(cmd);
    certo_rc rc;

    if (code != 0)
        return code;
    rc = cli_remote_open(&s, &err);
    if (rc == CERTO_OK)
        rc = cli_call_list(s, "/endpoints/", &eps, &err);
    if (rc != CERTO_OK) {
        code = cli_remote_fail(cmd, rc, &err);
        goto out;
    }
    names_load(&n, s, eps);
    json_array_foreach(eps, i, e)
    {
        names_add(&n, e);
    }
    if (cli_has(a, "json")) {
        print_json(eps);
        goto out;
    }
    rows = json_array_size(eps);
    cells = certo_calloc(rows * COLS + 1, sizeof(*cells));
    json_array_foreach(eps, i, e)
    {
        char **row = cells + i * COLS;
        row[0] = certo_asprintf("%lld", (long long)int_of(e, "id"));
        row[1] = certo_strdup(str_or(e, "name", "?"));
        row[2] = certo_strdup(str_or(e, "type", "?"));
        row[3] = certo_strdup(str_or(e, "transport", "?"));
        row[4] = label(e, "gateway", "gatewayId");
        row[5] = label(e, "org", "orgId");
        row[6] = label(e, "dept", "deptId");
    }
    if (rows == 0)
        printf("No endpoints.\n");
    else
        cli_table_print(heads, COLS, cells, rows);
out:
    for (i = 0; cells != NULL && i < rows * COLS; i++)
        certo_free(cells[i]);
    certo_free(cells);
    names_dispose(&n);
    json_decref(eps);
    certo_session_close(s);
    return code;
}

static int
run_show(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_session *s = NULL;
    struct names n = {0};
    json_t *ep = NULL, *one;
    char *g = NULL, *o = NULL, *d = NULL, when[32];
    int code = open_endpoint(cmd, a, &s, &ep);

    if (code != 0)
        goto out;
    one = json_pack("[O]", ep);
    names_load(&n, s, one);
    json_decref(one);
    names_add(&n, ep);
    if (cli_has(a, "json")) {
        print_json(ep);
        goto out;
    }
    g = label(ep, "gateway", "gatewayId");
    o = label(ep, "org", "orgId");
    d = label(ep, "dept", "deptId");
    printf("Endpoint '%s' (id %lld)\n", str_or(ep, "name", "?"), (long long)int_of(ep, "id"));
    printf("  Type:          %s\n", str_or(ep, "type", "?"));
    printf("  Transport:     %s\n", str_or(ep, "transport", "?"));
    printf("  Summary:       %s\n",
           str_or(ep, "summary", "-")[0] != '\0' ? str_or(ep, "summary", "-") : "-");
    printf("  Gateway:       %s\n", g);
    printf("  Organization:  %s\n", o);
    printf("  Department:    %s\n", d);
    cli_epoch_text(when, int_of(ep, "syncedAt"));
    printf("  Synced:        %s\n", when);
    if (int_of(ep, "removedAt") > 0) {
        cli_epoch_text(when, int_of(ep, "removedAt"));
        printf("  Removed:       %s (no longer on its gateway)\n", when);
    }
out:
    certo_free(g);
    certo_free(o);
    certo_free(d);
    names_dispose(&n);
    json_decref(ep);
    certo_session_close(s);
    return code;
}

/* ---- delegate ---- */

static int
run_delegate(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0};
    struct certo_session *s = NULL;
    json_t *ep = NULL, *body, *doc = NULL;
    int64_t org = 0, dept = 0;
    char *path = NULL;
    int code;
    certo_rc rc;

    if (cli_has(a, "clear") && (cli_has(a, "org") || cli_has(a, "dept")))
        return cli_usage_error(cmd, "--clear takes the endpoint back: not with --org or --dept");
    if (!cli_has(a, "clear") && !cli_has(a, "org"))
        return cli_usage_error(cmd, "missing --org ORG (or --clear)");
    code = open_endpoint(cmd, a, &s, &ep);
    if (code != 0)
        goto out;
    rc = cli_remote_scope(s, a, &org, &dept, &err);
    if (rc != CERTO_OK) {
        code = cli_remote_fail(cmd, rc, &err);
        goto out;
    }
    body = json_object();
    json_object_set_new(body, "orgId", org != 0 ? json_integer(org) : json_null());
    json_object_set_new(body, "deptId", dept != 0 ? json_integer(dept) : json_null());
    path = certo_asprintf("/endpoints/%lld", (long long)int_of(ep, "id"));
    rc = cli_call(s, "PATCH", path, body, &doc, &err);
    if (rc != CERTO_OK) {
        code = cli_remote_fail(cmd, rc, &err);
        goto out;
    }
    if (org == 0)
        printf("Endpoint '%s' (id %lld) taken back: no organization, no department\n",
               str_or(ep, "name", "?"), (long long)int_of(ep, "id"));
    else if (dept == 0)
        printf("Endpoint '%s' (id %lld) delegated to organization %s (id %lld)\n",
               str_or(ep, "name", "?"), (long long)int_of(ep, "id"), cli_get(a, "org"),
               (long long)org);
    else
        printf("Endpoint '%s' (id %lld) delegated to department %s (id %lld) of organization %s "
               "(id %lld)\n",
               str_or(ep, "name", "?"), (long long)int_of(ep, "id"), cli_get(a, "dept"),
               (long long)dept, cli_get(a, "org"), (long long)org);
out:
    certo_free(path);
    json_decref(doc);
    json_decref(ep);
    certo_session_close(s);
    return code;
}

/* ---- discover, restart, install: jobs ---- */

/* POSTs 'action' on the endpoint with 'body' (consumed; may be NULL), then follows the job. */
static int
endpoint_job(const struct cli_cmd *cmd, struct cli_args *a, const char *action, json_t *body,
             const char *what)
{
    struct certo_err err = {0};
    struct certo_session *s = NULL;
    json_t *ep = NULL, *queued = NULL;
    char *path = NULL, *desc = NULL;
    int timeout_s = 0, code = cli_wait_check(cmd, a, &timeout_s);
    certo_rc rc;

    if (code == 0)
        code = open_endpoint(cmd, a, &s, &ep);
    if (code != 0) {
        json_decref(body);
        goto out;
    }
    path = certo_asprintf("/endpoints/%lld/%s", (long long)int_of(ep, "id"), action);
    rc = cli_call(s, "POST", path, body != NULL ? body : json_object(), &queued, &err);
    if (rc != CERTO_OK) {
        code = cli_remote_fail(cmd, rc, &err);
        goto out;
    }
    desc = certo_asprintf("%s '%s' (id %lld)", what, str_or(ep, "name", "?"),
                          (long long)int_of(ep, "id"));
    code = cli_job_follow(cmd, s, a, queued, desc);
out:
    certo_free(desc);
    certo_free(path);
    json_decref(queued);
    json_decref(ep);
    certo_session_close(s);
    return code;
}

static int
run_discover(const struct cli_cmd *cmd, struct cli_args *a)
{
    return endpoint_job(cmd, a, "discover", NULL, "discover the nodes of");
}

static int
run_restart(const struct cli_cmd *cmd, struct cli_args *a)
{
    return endpoint_job(cmd, a, "restart", NULL, "restart");
}

static int
run_install(const struct cli_cmd *cmd, struct cli_args *a)
{
    const char *order = cli_get(a, "cert"), *alias = cli_get(a, "alias");
    json_t *body;
    char *what;
    int code;

    if (order == NULL)
        return cli_usage_error(cmd, "missing --cert ORDER (the order number of 'certo inventory "
                                    "list')");
    if (!all_digits(order) || strspn(order, "0") == strlen(order))
        return cli_usage_error(cmd, "--cert: an order number, not '%s'", order);
    if (alias != NULL && alias[0] == '\0')
        return cli_usage_error(cmd, "--alias: empty value");
    body = json_pack("{s:I}", "certificateId", (json_int_t)strtoll(order, NULL, 10));
    if (alias != NULL)
        json_object_set_new(body, "alias", json_string(alias));
    what = certo_asprintf("install certificate %s on", order);
    code = endpoint_job(cmd, a, "install", body, what);
    certo_free(what);
    return code;
}

/* ---- nodes ---- */

/* The heading's product, as `certo tls nodes` names it. */
static const char *
vendor_of(const char *type)
{
    static const char *const v[][2] = {
        {"iis", "IIS"},     {"apache", "Apache"}, {"tomcat", "Tomcat"}, {"f5", "F5"},
        {"nginx", "nginx"}, {"p12", "PKCS#12"},   {"jks", "JKS"},       {"pem", "PEM"},
    };

    for (size_t i = 0; i < CERTO_ARRAY_LEN(v); i++) {
        if (strcmp(type, v[i][0]) == 0)
            return v[i][1];
    }
    return type;
}

/* The six cells of the seed's view (owned by 'cells'). */
static void
node_cells(char *cells[NODE_COLS], json_t *n)
{
    json_int_t port = int_of(n, "port");

    cells[0] = certo_strdup(str_or(n, "name", "-"));
    cells[1] = certo_strdup(str_or(n, "alias", "-"));
    cells[2] = certo_strdup(str_or(n, "protocol", "-"));
    cells[3] = certo_strdup(str_or(n, "ip", "-"));
    cells[4] = port > 0 ? certo_asprintf("%lld", (long long)port) : certo_strdup("-");
    /* A node serving no certificate (HTTP, a failed handshake) has no SSL value. */
    cells[5] = certo_strdup(
        json_is_string(json_object_get(n, "fingerprint")) ? str_or(n, "ssl", "-") : "-");
}

static void
print_row(const char *const *cells, const size_t *width)
{
    printf(" ");
    for (size_t c = 0; c < NODE_COLS; c++) {
        if (c + 1 < NODE_COLS)
            printf(" %-*s ", (int)width[c], cells[c]);
        else
            printf(" %s", cells[c]);
    }
    printf("\n");
}

static void
print_nodes(json_t *ep, json_t *doc)
{
    static const char *const heads[NODE_COLS] = {"Name",       "Alias", "Protocol",
                                                 "IP Address", "Port",  "SSL"};
    json_t *nodes = json_object_get(doc, "nodes"), *n;
    size_t count = json_array_size(nodes), width[NODE_COLS], i;
    char *(*cells)[NODE_COLS] = certo_calloc(count + 1, sizeof(*cells));
    char when[32] = "-";
    time_t t = (time_t)int_of(doc, "discoveredAt");
    struct tm tm;

    for (size_t c = 0; c < NODE_COLS; c++)
        width[c] = strlen(heads[c]);
    json_array_foreach(nodes, i, n)
    {
        node_cells(cells[i], n);
        for (size_t c = 0; c < NODE_COLS; c++) {
            size_t w = strlen(cells[i][c]);
            width[c] = w > width[c] ? w : width[c];
        }
    }
    if (t > 0 && gmtime_r(&t, &tm) != NULL)
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    printf("Endpoint '%s' (%s): %zu node%s, discovered %s\n", str_or(ep, "name", "?"),
           str_or(ep, "type", "?"), count, count == 1 ? "" : "s", when);
    json_array_foreach(nodes, i, n)
    {
        printf("\n%s - %s - %s\n", str_or(n, "name", "-"), vendor_of(str_or(ep, "type", "?")),
               str_or(n, "state", "?"));
        print_row(heads, width);
        print_row((const char *const *)cells[i], width);
    }
    for (i = 0; i < count; i++) {
        for (size_t c = 0; c < NODE_COLS; c++)
            certo_free(cells[i][c]);
    }
    certo_free(cells);
}

static int
run_nodes(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0};
    struct certo_session *s = NULL;
    json_t *ep = NULL, *doc = NULL, *out;
    char *path = NULL;
    int code = open_endpoint(cmd, a, &s, &ep);
    certo_rc rc;

    if (code != 0)
        goto out;
    path = certo_asprintf("/endpoints/%lld/nodes", (long long)int_of(ep, "id"));
    rc = cli_call(s, "GET", path, NULL, &doc, &err);
    if (rc == CERTO_ENOTFOUND && strstr(err.msg, "not discovered") != NULL) {
        /* As `certo tls nodes`: not an error, say how to discover them. */
        printf("Endpoint '%s' (%s): not discovered yet; run 'certo endpoint discover %s'\n",
               str_or(ep, "name", "?"), str_or(ep, "type", "?"), a->pos[0]);
        goto out;
    }
    if (rc != CERTO_OK) {
        code = cli_remote_fail(cmd, rc, &err);
        goto out;
    }
    if (cli_has(a, "json")) {
        out =
            json_pack("{s:O,s:O,s:O,s:O,s:O,s:O}", "endpoint", json_object_get(ep, "name"), "id",
                      json_object_get(ep, "id"), "type", json_object_get(ep, "type"), "jobId",
                      json_object_get(doc, "jobId"), "discoveredAt",
                      json_object_get(doc, "discoveredAt"), "nodes", json_object_get(doc, "nodes"));
        print_json(out);
        json_decref(out);
        goto out;
    }
    print_nodes(ep, doc);
out:
    certo_free(path);
    json_decref(doc);
    json_decref(ep);
    certo_session_close(s);
    return code;
}

const struct cli_cmd cli_endpoint_cmds[] = {
    {"endpoint list", "[--json]",
     "the endpoints you may see: id, name, type, transport, gateway, organization, department",
     json_opts, 0, 0, run_list, NULL},
    {"endpoint show", "[--json] ID|NAME", "one endpoint, with its gateway and delegation",
     json_opts, 1, 1, run_show, NULL},
    {"endpoint delegate", "ID|NAME (--org ORG [--dept DEPT] | --clear)",
     "assign the endpoint to an organization (and department), or take it back", delegate_opts, 1,
     1, run_delegate, NULL},
    {"endpoint discover", "[--wait [--timeout S]] ID|NAME",
     "queue a discovery of the endpoint's nodes on its gateway (it must be delegated)", job_opts, 1,
     1, run_discover, NULL},
    {"endpoint restart", "[--wait [--timeout S]] ID|NAME",
     "queue a restart of the endpoint's service on its gateway", job_opts, 1, 1, run_restart, NULL},
    {"endpoint install", "--cert ORDER [--alias NAME] [--wait [--timeout S]] ID|NAME",
     "queue the install of an inventory certificate on the endpoint", install_opts, 1, 1,
     run_install, NULL},
    {"endpoint nodes", "[--json] ID|NAME",
     "the nodes of the latest discovery: Name, Alias, Protocol, IP Address, Port, SSL", json_opts,
     1, 1, run_nodes, NULL},
    {NULL, NULL, NULL, NULL, 0, 0, NULL, NULL},
};
