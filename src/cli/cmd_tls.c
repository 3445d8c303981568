/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `certo tls add|list|show|update|remove` (cli layer): the gateway's endpoint registry,
 * seed 004 "Add an endpoint"; install, rollback, restart, history, check; and the nodes
 * of an endpoint (`tls discover`, `tls nodes`, seed 004 "Managing nodes"). The options of
 * `tls add TYPE` come from the endpoint field table, so each type offers exactly the seed's
 * options, in both spellings (--connection_type, --connection-type). Secrets are taken from
 * the command line (with a warning), a file, an environment variable or a prompt, and never
 * printed.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "certo/install.h"
#include "certo/nodes.h"
#include "certo/registry.h"
#include "cli/cli.h"

#define OPTS_MAX 64

struct optset {
    struct cli_opt o[OPTS_MAX];
    size_t n;
};

/* The -file and -env forms of each secret option (cli_secret finds them by name). */
static const char *const secret_file_opt[CERTO_F__COUNT] = {
    [CERTO_F_PASSWORD] = "password_file",
    [CERTO_F_SSH_KEY_PASSWORD] = "ssh_key_password_file",
    [CERTO_F_STORE_PASSWORD] = "store_password_file",
};
static const char *const secret_env_opt[CERTO_F__COUNT] = {
    [CERTO_F_PASSWORD] = "password_env",
    [CERTO_F_SSH_KEY_PASSWORD] = "ssh_key_password_env",
    [CERTO_F_STORE_PASSWORD] = "store_password_env",
};

static void
push(struct optset *s, const char *name, enum cli_opt_kind kind, const char *metavar,
     const char *help)
{
    CERTO_ASSERT(s->n + 1 < OPTS_MAX);
    s->o[s->n].name = name;
    s->o[s->n].short_name = 0;
    s->o[s->n].kind = kind;
    s->o[s->n].metavar = metavar;
    s->o[s->n].help = help;
    s->n++;
    memset(&s->o[s->n], 0, sizeof(s->o[s->n]));
}

static char conn_help[CERTO_EP__COUNT][256];

static const char *
connection_help(enum certo_ep_type type)
{
    char *h = conn_help[type];
    size_t o = (size_t)snprintf(h, sizeof(conn_help[type]), "%s The valid types are:",
                                certo_ep_field_help(CERTO_F_CONNECTION_TYPE, type));
    unsigned valid = certo_ep_conns(type);
    bool first = true;

    for (int c = 0; c < CERTO_CONN__COUNT && o < sizeof(conn_help[type]); c++) {
        if ((valid & (1u << c)) == 0)
            continue;
        o += (size_t)snprintf(h + o, sizeof(conn_help[type]) - o, "%s %s", first ? "" : ",",
                              certo_conn_name((enum certo_conn)c));
        first = false;
    }
    return h;
}

/* The options of one endpoint type, or of every type ('type' < 0, for update). */
static void
build_opts(struct optset *s, int type)
{
    memset(s, 0, sizeof(*s));
    for (int f = 0; f < CERTO_F__COUNT; f++) {
        const struct certo_ep_field_info *fi = certo_ep_field_info((enum certo_ep_field)f);
        enum certo_ep_type ht = type >= 0 ? (enum certo_ep_type)type : CERTO_EP_P12;
        if (type >= 0 && !certo_ep_has_field((enum certo_ep_type)type, (enum certo_ep_field)f))
            continue;
        const char *help = f == CERTO_F_CONNECTION_TYPE && type >= 0
                               ? connection_help((enum certo_ep_type)type)
                               : certo_ep_field_help((enum certo_ep_field)f, ht);
        push(s, fi->name, CLI_VALUE, fi->metavar, help);
        if (fi->kind == CERTO_FK_SECRET) {
            push(s, secret_file_opt[f], CLI_VALUE, "FILE",
                 "The same, from the first line of FILE (not visible to other users).");
            push(s, secret_env_opt[f], CLI_VALUE, "VAR",
                 "The same, from environment variable VAR.");
        }
    }
    push(s, "data", CLI_VALUE, "DIR", CLI_DATA_HELP);
    push(s, "json", CLI_FLAG, NULL, "print the endpoint as JSON");
}

/* ---- output ---- */

static void
iso_time(char *out, size_t cap, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static certo_rc
endpoint_json(struct certo_buf *b, const struct certo_endpoint *ep)
{
    char when[32];
    bool first = true;
    certo_rc rc = certo_buf_printf(b, "{\"id\": \"%s\", \"type\": \"%s\", \"vendor\": ", ep->id,
                                   certo_ep_type_name(ep->type));

    if (rc == CERTO_OK)
        rc = cli_json_str(b, certo_ep_vendor(ep->type));
    for (int f = 0; rc == CERTO_OK && f < CERTO_F__COUNT; f++) {
        const struct certo_ep_field_info *fi = certo_ep_field_info((enum certo_ep_field)f);
        const char *v = ep->val[f];
        if (fi->kind == CERTO_FK_SECRET)
            continue;
        if (f == CERTO_F_PORT && certo_endpoint_conn(ep) != CERTO_CONN_LOCAL) {
            rc = certo_buf_printf(b, ", \"port\": %d", certo_endpoint_port(ep));
            continue;
        }
        if (v == NULL)
            continue;
        rc = certo_buf_printf(b, ", \"%s\": ", fi->name);
        if (rc != CERTO_OK)
            break;
        if (fi->kind == CERTO_FK_BOOL)
            rc = certo_buf_append_str(b, strcmp(v, "true") == 0 ? "true" : "false");
        else
            rc = cli_json_str(b, v);
    }
    if (rc == CERTO_OK)
        rc = certo_buf_append_str(b, ", \"secrets\": [");
    for (int f = 0; rc == CERTO_OK && f < CERTO_F__COUNT; f++) {
        if ((ep->secrets & (1u << f)) == 0)
            continue;
        rc = certo_buf_printf(b, "%s\"%s\"", first ? "" : ", ",
                              certo_ep_field_info((enum certo_ep_field)f)->name);
        first = false;
    }
    iso_time(when, sizeof(when), ep->created_at);
    if (rc == CERTO_OK)
        rc = certo_buf_printf(b, "], \"created_at\": \"%s\"", when);
    iso_time(when, sizeof(when), ep->updated_at);
    if (rc == CERTO_OK)
        rc = certo_buf_printf(b, ", \"updated_at\": \"%s\"}", when);
    return rc;
}

static int
print_json_endpoints(const struct cli_cmd *cmd, const struct certo_endpoint *eps, size_t n,
                     bool array)
{
    struct certo_buf b;
    certo_rc rc = CERTO_OK;

    certo_buf_init(&b, 64u * 1024 * 1024);
    if (array)
        rc = certo_buf_append_str(&b, "[");
    for (size_t i = 0; rc == CERTO_OK && i < n; i++) {
        if (i > 0)
            rc = certo_buf_append_str(&b, ",\n ");
        if (rc == CERTO_OK)
            rc = endpoint_json(&b, &eps[i]);
    }
    if (rc == CERTO_OK && array)
        rc = certo_buf_append_str(&b, "]");
    if (rc == CERTO_OK)
        printf("%s\n", (const char *)b.data);
    certo_buf_dispose(&b);
    if (rc != CERTO_OK)
        return cli_usage_error(cmd, "output too large");
    return 0;
}

/* Where an endpoint is: host:port for remote ones, the file or directory Certo edits. */
static void
target_of(const struct certo_endpoint *ep, char *out, size_t cap)
{
    static const enum certo_ep_field where[] = {CERTO_F_PATH, CERTO_F_NGINX_CONFIG_PATH,
                                                CERTO_F_APACHECTL_PATH, CERTO_F_TOMCAT_DIR};
    const char *file = NULL;

    for (size_t i = 0; i < CERTO_ARRAY_LEN(where) && file == NULL; i++)
        file = ep->val[where[i]];
    if (certo_endpoint_conn(ep) == CERTO_CONN_LOCAL)
        snprintf(out, cap, "%s", file != NULL ? file : "-");
    else if (file != NULL)
        snprintf(out, cap, "%s:%d %s", ep->val[CERTO_F_HOST], certo_endpoint_port(ep), file);
    else
        snprintf(out, cap, "%s:%d", ep->val[CERTO_F_HOST], certo_endpoint_port(ep));
}

static void
auth_of(const struct certo_endpoint *ep, char *out, size_t cap)
{
    bool pw = (ep->secrets & (1u << CERTO_F_PASSWORD)) != 0;
    bool key = ep->val[CERTO_F_SSH_KEY_PATH] != NULL;

    if (certo_endpoint_conn(ep) == CERTO_CONN_LOCAL)
        snprintf(out, cap, "-");
    else if (ep->val[CERTO_F_STORE] != NULL)
        snprintf(out, cap, "store %s", ep->val[CERTO_F_STORE]);
    else
        snprintf(out, cap, "%s%s%s", pw ? "password" : "", pw && key ? "+" : "",
                 key ? "ssh key" : "");
}

/* ---- reading options into an endpoint ---- */

static void
warn_cmdline_secrets(const struct cli_cmd *cmd, const struct cli_args *a)
{
    for (size_t i = 0; cmd->opts[i].name != NULL; i++) {
        const char *n = cmd->opts[i].name;
        for (int f = 0; f < CERTO_F__COUNT; f++) {
            if (certo_ep_field_info((enum certo_ep_field)f)->kind != CERTO_FK_SECRET ||
                strcmp(n, certo_ep_field_info((enum certo_ep_field)f)->name) != 0 || !cli_has(a, n))
                continue;
            fprintf(stderr,
                    "certo %s: warning: --%s on the command line can be seen by other users "
                    "of this host; prefer --%s, --%s or the prompt\n",
                    cmd->name, n, secret_file_opt[f], secret_env_opt[f]);
        }
    }
}

static bool
cmd_has_opt(const struct cli_cmd *cmd, const char *name)
{
    for (size_t i = 0; cmd->opts[i].name != NULL; i++) {
        if (cli_opt_name_eq(cmd->opts[i].name, name))
            return true;
    }
    return false;
}

static certo_rc
read_args(struct certo_endpoint *ep, struct certo_ep_secrets *sec, const struct cli_args *a,
          struct certo_err *err)
{
    for (int f = 0; f < CERTO_F__COUNT; f++) {
        const struct certo_ep_field_info *fi = certo_ep_field_info((enum certo_ep_field)f);
        if (!cmd_has_opt(a->cmd, fi->name))
            continue;
        if (fi->kind != CERTO_FK_SECRET) {
            if (cli_has(a, fi->name))
                certo_endpoint_set(ep, (enum certo_ep_field)f, cli_get(a, fi->name));
            continue;
        }
        certo_rc rc = cli_secret(&sec->s[f], a, fi->name, NULL, false, err);
        if (rc != CERTO_OK)
            return rc;
        /* An empty keystore password exists in the wild; an empty login password is a
         * mistake (an unset variable in a script). */
        if (sec->s[f] != NULL && certo_secret_len(sec->s[f]) == 0 && f != CERTO_F_STORE_PASSWORD)
            return certo_err_set(err, CERTO_EINVAL, "cli", "--%s must not be empty", fi->name);
    }
    return CERTO_OK;
}

/*
 * On a terminal, asks for what the user left out rather than failing: the password of a
 * remote endpoint given no other way to authenticate, and a keystore's password.
 */
static certo_rc
prompt_missing(const struct certo_endpoint *ep, struct certo_ep_secrets *sec,
               const struct cli_args *a, struct certo_err *err)
{
    enum certo_conn c;
    const char *conn = ep->val[CERTO_F_CONNECTION_TYPE];
    char prompt[160];
    certo_rc rc = CERTO_OK;

    if (!isatty(STDIN_FILENO) || conn == NULL || !certo_conn_parse(conn, &c))
        return CERTO_OK;
    if (c != CERTO_CONN_LOCAL && sec->s[CERTO_F_PASSWORD] == NULL &&
        ep->val[CERTO_F_SSH_KEY_PATH] == NULL && ep->val[CERTO_F_STORE] == NULL &&
        ep->val[CERTO_F_USER] != NULL && ep->val[CERTO_F_HOST] != NULL) {
        snprintf(prompt, sizeof(prompt), "Password for %.64s@%.64s: ", ep->val[CERTO_F_USER],
                 ep->val[CERTO_F_HOST]);
        rc = cli_secret(&sec->s[CERTO_F_PASSWORD], a, "password", prompt, false, err);
    }
    if (rc == CERTO_OK && (ep->type == CERTO_EP_P12 || ep->type == CERTO_EP_JKS) &&
        sec->s[CERTO_F_STORE_PASSWORD] == NULL)
        rc = cli_secret(&sec->s[CERTO_F_STORE_PASSWORD], a, "store_password",
                        "Keystore password: ", false, err);
    return rc;
}

/* A credential store and ID must exist now, not first at the next install. */
static certo_rc
check_store_credential(struct certo_registry *reg, const struct certo_endpoint *ep,
                       struct certo_err *err)
{
    struct certo_credstore cs = {0};
    struct certo_credential cred = {0};
    enum certo_conn c = certo_endpoint_conn(ep);
    bool ssh = c == CERTO_CONN_SSH || c == CERTO_CONN_SSH_WINDOWS;
    certo_rc rc;

    if (ep->val[CERTO_F_STORE] == NULL)
        return CERTO_OK;
    rc = certo_registry_store_get(reg, ep->val[CERTO_F_STORE], &cs, err);
    if (rc == CERTO_OK)
        rc = certo_credstore_fetch(&cs, ep->val[CERTO_F_STORE_CRED_ID], &cred, err);
    if (rc == CERTO_OK && !ssh && cred.password == NULL)
        rc = certo_err_set(err, CERTO_EINVAL, "cli",
                           "--store_cred_id '%.64s' of store '%s' has no password, which "
                           "--connection_type %s needs",
                           ep->val[CERTO_F_STORE_CRED_ID], cs.name, certo_conn_name(c));
    if (rc == CERTO_OK && cred.user == NULL && ep->val[CERTO_F_USER] == NULL)
        rc = certo_err_set(err, CERTO_EINVAL, "cli",
                           "--store_cred_id '%.64s' of store '%s' has no user: give --user",
                           ep->val[CERTO_F_STORE_CRED_ID], cs.name);
    certo_credential_dispose(&cred);
    certo_credstore_dispose(&cs);
    return rc;
}

/* ---- tls add TYPE ---- */

struct add_cmd {
    struct cli_cmd cmd; /* first: run() gets a pointer to it */
    enum certo_ep_type type;
    struct optset opts;
    char name[32];
};

static int
run_add(const struct cli_cmd *cmd, struct cli_args *a)
{
    const struct add_cmd *ac = (const struct add_cmd *)cmd;
    struct certo_endpoint ep = {0};
    struct certo_ep_secrets sec = {0};
    struct certo_registry *reg = NULL;
    struct certo_gw_host host;
    struct certo_err err = {0};
    certo_rc rc;
    int code = 1;

    ep.type = ac->type;
    certo_gw_host_detect(&host);
    warn_cmdline_secrets(cmd, a);
    rc = read_args(&ep, &sec, a, &err);
    if (rc == CERTO_OK)
        rc = prompt_missing(&ep, &sec, a, &err);
    if (rc == CERTO_OK)
        rc = certo_endpoint_absolutize(&ep, &err);
    if (rc == CERTO_OK)
        rc = certo_endpoint_validate(&ep, certo_ep_secrets_mask(&sec), &host, &err);
    if (rc == CERTO_OK)
        rc = certo_endpoint_check_local(&ep, sec.s[CERTO_F_STORE_PASSWORD], &err);
    if (rc == CERTO_OK)
        rc = cli_open_registry(&reg, a, &err);
    if (rc == CERTO_OK)
        rc = check_store_credential(reg, &ep, &err);
    if (rc == CERTO_OK)
        rc = certo_registry_add(reg, &ep, &sec, &err);
    if (rc != CERTO_OK) {
        code = cli_fail(cmd, rc, &err);
        goto out;
    }
    if (cli_has(a, "json"))
        code = print_json_endpoints(cmd, &ep, 1, false);
    else {
        printf("Endpoint '%s' (%s, %s) added. Instance ID: %s\n", ep.val[CERTO_F_NAME],
               certo_ep_type_name(ep.type), ep.val[CERTO_F_CONNECTION_TYPE], ep.id);
        code = 0;
    }
out:
    certo_registry_close(reg);
    certo_ep_secrets_dispose(&sec);
    certo_endpoint_dispose(&ep);
    return code;
}

static void
add_usage(FILE *f)
{
    fprintf(f, "usage: certo tls add TYPE --name NAME --connection_type TYPE [options]\n\n"
               "Adds an endpoint to this gateway's registry and prints its instance ID.\n\n"
               "types:\n");
    for (int t = 0; t < CERTO_EP__COUNT; t++)
        fprintf(f, "  %-8s %s\n", certo_ep_type_name((enum certo_ep_type)t),
                certo_ep_vendor((enum certo_ep_type)t));
    fprintf(f, "\n'certo tls add TYPE --help' lists the options of each type.\n");
}

/* An option that belongs to other endpoint types gets a message that says so. */
static int
foreign_option(const struct add_cmd *ac, int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--") == 0)
            break;
        if (strncmp(arg, "--", 2) != 0)
            continue;
        char name[64];
        snprintf(name, sizeof(name), "%.*s", (int)strcspn(arg + 2, "="), arg + 2);
        if (cmd_has_opt(&ac->cmd, name))
            continue;
        for (int f = 0; f < CERTO_F__COUNT; f++) {
            const char *fname = certo_ep_field_info((enum certo_ep_field)f)->name;
            if (!cli_opt_name_eq(name, fname) &&
                !(secret_file_opt[f] != NULL && cli_opt_name_eq(name, secret_file_opt[f])) &&
                !(secret_env_opt[f] != NULL && cli_opt_name_eq(name, secret_env_opt[f])))
                continue;
            return cli_usage_error(&ac->cmd, "--%s is not an option of %s endpoints", name,
                                   certo_ep_type_name(ac->type));
        }
    }
    return 0;
}

static int
raw_add(const struct cli_cmd *cmd, int argc, char **argv)
{
    struct add_cmd ac;
    struct cli_args args;
    bool done = false;
    int code;

    if (argc < 1 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
        add_usage(argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    memset(&ac, 0, sizeof(ac));
    if (!certo_ep_type_parse(argv[0], &ac.type)) {
        fprintf(stderr,
                "certo %s: unknown endpoint type '%.32s' (valid: iis, apache, tomcat, f5, "
                "nginx, p12, jks, pem)\n",
                cmd->name, argv[0]);
        return 2;
    }
    build_opts(&ac.opts, (int)ac.type);
    snprintf(ac.name, sizeof(ac.name), "tls add %s", argv[0]);
    ac.cmd.name = ac.name;
    ac.cmd.usage = "--name NAME --connection_type TYPE [options]";
    ac.cmd.summary = cmd->summary;
    ac.cmd.opts = ac.opts.o;
    ac.cmd.run = run_add;
    code = foreign_option(&ac, argc - 1, argv + 1);
    if (code != 0)
        return code;
    code = cli_parse(&args, &ac.cmd, argc - 1, argv + 1, &done);
    if (code == 0 && !done)
        code = run_add(&ac.cmd, &args);
    cli_args_dispose(&args);
    return code;
}

/* ---- list, show, remove ---- */

static int
run_list(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_registry *reg = NULL;
    struct certo_endpoint *eps = NULL;
    struct certo_err err = {0};
    size_t n = 0;
    certo_rc rc;
    int code;

    rc = cli_open_registry(&reg, a, &err);
    if (rc == CERTO_OK)
        rc = certo_registry_list(reg, &eps, &n, &err);
    if (rc != CERTO_OK) {
        code = cli_fail(cmd, rc, &err);
        goto out;
    }
    if (cli_has(a, "json")) {
        code = print_json_endpoints(cmd, eps, n, true);
        goto out;
    }
    code = 0;
    if (n == 0) {
        printf("No endpoints on this gateway (add one with 'certo tls add TYPE').\n");
        goto out;
    }
    printf("%-32s  %-6s  %-20s  %-36s  %s\n", "NAME", "TYPE", "CONNECTION", "INSTANCE ID",
           "TARGET / AUTH");
    for (size_t i = 0; i < n; i++) {
        char target[CERTO_PATH_MAX + 300], auth[80];
        target_of(&eps[i], target, sizeof(target));
        auth_of(&eps[i], auth, sizeof(auth));
        printf("%-32s  %-6s  %-20s  %-36s  %s (%s)\n", eps[i].val[CERTO_F_NAME],
               certo_ep_type_name(eps[i].type), eps[i].val[CERTO_F_CONNECTION_TYPE], eps[i].id,
               target, auth);
    }
out:
    certo_registry_list_free(eps, n);
    certo_registry_close(reg);
    return code;
}

static void
show_text(const struct certo_endpoint *ep)
{
    char when[32];

    printf("%-18s %s\n", "instance ID", ep->id);
    printf("%-18s %s (%s)\n", "type", certo_ep_type_name(ep->type), certo_ep_vendor(ep->type));
    for (int f = 0; f < CERTO_F__COUNT; f++) {
        const struct certo_ep_field_info *fi = certo_ep_field_info((enum certo_ep_field)f);
        if (fi->kind == CERTO_FK_SECRET) {
            if ((ep->secrets & (1u << f)) != 0)
                printf("%-18s (stored, encrypted)\n", fi->name);
        } else if (f == CERTO_F_PORT && certo_endpoint_conn(ep) != CERTO_CONN_LOCAL) {
            printf("%-18s %d%s\n", fi->name, certo_endpoint_port(ep),
                   ep->val[f] == NULL ? " (default)" : "");
        } else if (ep->val[f] != NULL) {
            printf("%-18s %s\n", fi->name, ep->val[f]);
        }
    }
    iso_time(when, sizeof(when), ep->created_at);
    printf("%-18s %s\n", "created", when);
    iso_time(when, sizeof(when), ep->updated_at);
    printf("%-18s %s\n", "updated", when);
}

static int
run_show(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_registry *reg = NULL;
    struct certo_endpoint ep = {0};
    struct certo_err err = {0};
    certo_rc rc;
    int code = 0;

    rc = cli_open_registry(&reg, a, &err);
    if (rc == CERTO_OK)
        rc = certo_registry_get(reg, a->pos[0], &ep, &err);
    if (rc != CERTO_OK)
        code = cli_fail(cmd, rc, &err);
    else if (cli_has(a, "json"))
        code = print_json_endpoints(cmd, &ep, 1, false);
    else
        show_text(&ep);
    certo_endpoint_dispose(&ep);
    certo_registry_close(reg);
    return code;
}

static int
run_remove(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_registry *reg = NULL;
    struct certo_endpoint ep = {0};
    struct certo_err err = {0};
    certo_rc rc;
    int code = 0;

    rc = cli_open_registry(&reg, a, &err);
    if (rc == CERTO_OK)
        rc = certo_registry_get(reg, a->pos[0], &ep, &err);
    if (rc == CERTO_OK)
        rc = certo_install_forget(reg, &ep, &err);
    if (rc == CERTO_OK)
        rc = certo_registry_remove(reg, ep.id, &err);
    if (rc != CERTO_OK)
        code = cli_fail(cmd, rc, &err);
    else
        printf("Endpoint '%s' removed (instance ID %s).\n", ep.val[CERTO_F_NAME], ep.id);
    certo_endpoint_dispose(&ep);
    certo_registry_close(reg);
    return code;
}

/* ---- update ---- */

static struct optset update_opts;

static bool
field_by_name(const char *name, enum certo_ep_field *out)
{
    for (int f = 0; f < CERTO_F__COUNT; f++) {
        if (cli_opt_name_eq(name, certo_ep_field_info((enum certo_ep_field)f)->name)) {
            *out = (enum certo_ep_field)f;
            return true;
        }
    }
    return false;
}

static int
run_update(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_registry *reg = NULL;
    struct certo_endpoint old = {0}, ep = {0};
    struct certo_ep_secrets sec = {0};
    struct certo_secret *store_pw = NULL;
    struct certo_gw_host host;
    struct certo_err err = {0};
    size_t n_unset = 0;
    const char *const *unset = cli_get_multi(a, "unset", &n_unset);
    unsigned clear = 0;
    certo_rc rc;
    int code = 0;

    certo_gw_host_detect(&host);
    warn_cmdline_secrets(cmd, a);
    rc = cli_open_registry(&reg, a, &err);
    if (rc == CERTO_OK)
        rc = certo_registry_get(reg, a->pos[0], &old, &err);
    if (rc != CERTO_OK)
        goto out;
    certo_endpoint_copy(&ep, &old);
    for (size_t i = 0; i < n_unset; i++) {
        enum certo_ep_field f;
        if (!field_by_name(unset[i], &f) || f == CERTO_F_NAME || f == CERTO_F_CONNECTION_TYPE) {
            rc = certo_err_set(&err, CERTO_EINVAL, "cli",
                               "--unset '%.32s' is not an option that can be removed", unset[i]);
            goto out;
        }
        if (certo_ep_field_info(f)->kind == CERTO_FK_SECRET)
            clear |= 1u << f;
        else
            certo_endpoint_set(&ep, f, NULL);
    }
    rc = read_args(&ep, &sec, a, &err);
    if (rc == CERTO_OK)
        rc = certo_endpoint_absolutize(&ep, &err);
    if (rc == CERTO_OK)
        rc = certo_endpoint_validate(&ep, (ep.secrets & ~clear) | certo_ep_secrets_mask(&sec),
                                     &host, &err);
    if (rc == CERTO_OK && sec.s[CERTO_F_STORE_PASSWORD] == NULL &&
        (clear & (1u << CERTO_F_STORE_PASSWORD)) == 0)
        rc = certo_registry_secret(reg, &ep, CERTO_F_STORE_PASSWORD, &store_pw, &err);
    if (rc == CERTO_OK)
        rc = certo_endpoint_check_local(
            &ep, sec.s[CERTO_F_STORE_PASSWORD] != NULL ? sec.s[CERTO_F_STORE_PASSWORD] : store_pw,
            &err);
    if (rc == CERTO_OK)
        rc = check_store_credential(reg, &ep, &err);
    if (rc == CERTO_OK)
        rc = certo_registry_update(reg, &ep, &sec, clear, &err);
    if (rc != CERTO_OK)
        goto out;
    if (cli_has(a, "json"))
        code = print_json_endpoints(cmd, &ep, 1, false);
    else
        printf("Endpoint '%s' updated (instance ID %s).\n", ep.val[CERTO_F_NAME], ep.id);
out:
    if (rc != CERTO_OK)
        code = cli_fail(cmd, rc, &err);
    certo_secret_free(store_pw);
    certo_ep_secrets_dispose(&sec);
    certo_endpoint_dispose(&ep);
    certo_endpoint_dispose(&old);
    certo_registry_close(reg);
    return code;
}

static int
raw_update(const struct cli_cmd *cmd, int argc, char **argv)
{
    struct cli_cmd c = *cmd;
    struct cli_args args;
    bool done = false;
    int code;

    build_opts(&update_opts, -1);
    push(&update_opts, "unset", CLI_MULTI, "OPTION",
         "remove an optional value (e.g. --unset port to use the default); repeatable");
    c.opts = update_opts.o;
    c.raw = NULL;
    code = cli_parse(&args, &c, argc, argv, &done);
    if (code == 0 && !done)
        code = run_update(&c, &args);
    cli_args_dispose(&args);
    return code;
}

/* ---- install, restart, rollback, history, check ---- */

#define SCRIPT_TIMEOUT_OPT                                                                         \
    {                                                                                              \
        "script-timeout", 0, CLI_VALUE, "SECONDS",                                                 \
            "deadline of the install and restart scripts (default 300)"                            \
    }

static const struct cli_opt install_opts[] = {
    {"cert", 0, CLI_VALUE, "FILE", "certificate (PEM or DER; may also hold the chain and key)"},
    {"key", 0, CLI_VALUE, "FILE", "private key (PEM or DER, PKCS#8 or traditional)"},
    {"chain", 0, CLI_VALUE, "FILE", "chain certificates, in any order"},
    CLI_SECRET_OPTS("key-password", "password of an encrypted --key"),
    {"pkcs12", 0, CLI_VALUE, "FILE", "take the key and chain from a PKCS#12 file instead"},
    CLI_SECRET_OPTS("pkcs12-password", "password of the --pkcs12 file"),
    {"alias", 0, CLI_VALUE, "ALIAS",
     "keystore entry to create or replace (default: from the certificate's common name)"},
    {"dry-run", 0, CLI_FLAG, NULL,
     "print what would change (files, entries, scripts); change nothing"},
    {"force", 0, CLI_FLAG, NULL, "install an expired or not yet valid certificate"},
    SCRIPT_TIMEOUT_OPT,
    CLI_DATA_OPT,
    {NULL, 0, 0, NULL, NULL},
};

static const struct cli_opt op_opts[] = {
    SCRIPT_TIMEOUT_OPT,
    {"dry-run", 0, CLI_FLAG, NULL, "print what would change; change nothing"},
    CLI_DATA_OPT,
    {NULL, 0, 0, NULL, NULL},
};

static certo_rc
load_material(struct certo_bundle **b, const struct cli_args *a, struct certo_err *err)
{
    struct certo_bundle_src src = {0};
    struct certo_secret *kp = NULL, *pp = NULL;
    certo_rc rc;

    *b = NULL;
    if (cli_get(a, "pkcs12") != NULL &&
        (cli_get(a, "cert") != NULL || cli_get(a, "key") != NULL || cli_get(a, "chain") != NULL))
        return certo_err_set(err, CERTO_EINVAL, "cli",
                             "--pkcs12 replaces --cert, --key and --chain: give one or the other");
    if (cli_get(a, "pkcs12") == NULL && cli_get(a, "cert") == NULL)
        return certo_err_set(err, CERTO_EINVAL, "cli",
                             "no material: give --cert (with --key and --chain) or --pkcs12");
    rc = cli_secret(&kp, a, "key-password", NULL, false, err);
    if (rc == CERTO_OK)
        rc = cli_secret(&pp, a, "pkcs12-password", "PKCS#12 password: ", false, err);
    if (rc == CERTO_OK) {
        src.cert_path = cli_get(a, "cert");
        src.key_path = cli_get(a, "key");
        src.chain_path = cli_get(a, "chain");
        src.key_pass = kp;
        src.keystore_path = cli_get(a, "pkcs12");
        src.keystore_pass = pp;
        src.key_required = true;
        rc = certo_bundle_load(b, &src, err);
    }
    certo_secret_free(kp);
    certo_secret_free(pp);
    return rc;
}

/* An expired or not yet valid certificate is refused unless the user insists. */
static certo_rc
check_validity(const struct certo_bundle *b, bool force, struct certo_err *err)
{
    struct certo_cert_info info;
    time_t now = certo_clock_now();
    char when[32];
    certo_rc rc;

    rc = certo_cert_info_get(&info, sk_X509_value(b->chain, 0), err);
    if (rc != CERTO_OK)
        return rc;
    if (!force && info.not_after < now) {
        iso_time(when, sizeof(when), (int64_t)info.not_after);
        rc = certo_err_set(err, CERTO_EINVAL, "cli",
                           "--cert: the certificate expired on %s (--force installs it anyway)",
                           when);
    } else if (!force && info.not_before > now) {
        iso_time(when, sizeof(when), (int64_t)info.not_before);
        rc = certo_err_set(err, CERTO_EINVAL, "cli",
                           "--cert: the certificate is not valid before %s (--force installs it "
                           "anyway)",
                           when);
    }
    certo_cert_info_dispose(&info);
    return rc;
}

static int
script_timeout(const struct cli_args *a, int *ms, struct certo_err *err)
{
    int secs = 0;
    certo_rc rc = cli_int(&secs, a, "script-timeout", 300, 1, 86400, err);
    *ms = secs * 1000;
    return rc;
}

static void
print_plan(const struct certo_op_result *r)
{
    const char *p = (const char *)r->plan.data;
    while (p != NULL && *p != '\0') {
        const char *nl = strchr(p, '\n');
        int len = nl != NULL ? (int)(nl - p) : (int)strlen(p);
        if (strncmp(p, "warning: ", 9) == 0)
            fprintf(stderr, "certo tls: %.*s\n", len, p);
        else
            printf("  %.*s\n", len, p);
        p = nl != NULL ? nl + 1 : NULL;
    }
}

static int
op_failed(const struct cli_cmd *cmd, certo_rc rc, const struct certo_err *err,
          const struct certo_op_result *r)
{
    if (r->step[0] == '\0' || strcmp(r->step, "plan") == 0)
        return cli_fail(cmd, rc, err);
    fprintf(stderr, "certo %s: failed at step %s: %s; the endpoint was rolled back\n", cmd->name,
            r->step, err->msg);
    return certo_rc_exit_code(rc) == 2 ? 2 : 1;
}

static void
note_recovery(const struct cli_cmd *cmd, const struct certo_endpoint *ep, enum certo_recovery rec)
{
    if (rec == CERTO_RECOVERY_ROLLED_BACK)
        fprintf(stderr,
                "certo %s: note: an interrupted transaction on '%s' was rolled back first\n",
                cmd->name, ep->val[CERTO_F_NAME]);
    else if (rec == CERTO_RECOVERY_FINISHED)
        fprintf(stderr,
                "certo %s: note: an interrupted transaction on '%s' had committed and was "
                "finished first\n",
                cmd->name, ep->val[CERTO_F_NAME]);
}

static int
run_install(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_registry *reg = NULL;
    struct certo_endpoint ep = {0};
    struct certo_bundle *b = NULL;
    struct certo_install_opts o = {0};
    struct certo_op_result r;
    struct certo_err err = {0};
    certo_rc rc;
    int code = 0;

    memset(&r, 0, sizeof(r));
    o.alias = cli_get(a, "alias");
    o.dry_run = cli_has(a, "dry-run");
    rc = script_timeout(a, &o.script_timeout_ms, &err);
    if (rc == CERTO_OK)
        rc = load_material(&b, a, &err);
    if (rc == CERTO_OK)
        rc = check_validity(b, cli_has(a, "force"), &err);
    if (rc == CERTO_OK)
        rc = cli_open_registry(&reg, a, &err);
    if (rc == CERTO_OK)
        rc = certo_registry_get(reg, a->pos[0], &ep, &err);
    if (rc != CERTO_OK) {
        code = cli_fail(cmd, rc, &err);
        goto out;
    }
    rc = certo_install(reg, &ep, b, &o, &r, &err);
    note_recovery(cmd, &ep, r.recovery);
    if (rc != CERTO_OK) {
        code = op_failed(cmd, rc, &err, &r);
        goto out;
    }
    if (o.dry_run) {
        printf("Dry run on endpoint '%s' (nothing changed):\n", ep.val[CERTO_F_NAME]);
        print_plan(&r);
        if (ep.val[CERTO_F_INSTALL_SCRIPT] != NULL)
            printf("  run %s %s\n", ep.val[CERTO_F_INSTALL_SCRIPT], r.alias);
        goto out;
    }
    printf("Installed '%s' on endpoint '%s' (history #%lld)\n", r.alias, ep.val[CERTO_F_NAME],
           (long long)r.history_id);
    print_plan(&r);
    printf("  certificate %s\n", r.fp_after);
    if (r.fp_before[0] != '\0')
        printf("  replaced    %s\n", r.fp_before);
out:
    certo_op_result_dispose(&r);
    certo_bundle_free(b);
    certo_endpoint_dispose(&ep);
    certo_registry_close(reg);
    return code;
}

static int
run_op(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_registry *reg = NULL;
    struct certo_endpoint ep = {0};
    struct certo_install_opts o = {0};
    struct certo_op_result r;
    struct certo_err err = {0};
    bool restart = strcmp(cmd->name, "tls restart") == 0;
    certo_rc rc;
    int code = 0;

    memset(&r, 0, sizeof(r));
    o.dry_run = cli_has(a, "dry-run");
    rc = script_timeout(a, &o.script_timeout_ms, &err);
    if (rc == CERTO_OK)
        rc = cli_open_registry(&reg, a, &err);
    if (rc == CERTO_OK)
        rc = certo_registry_get(reg, a->pos[0], &ep, &err);
    if (rc == CERTO_OK && restart && o.dry_run) {
        printf("Dry run: would run %s\n", ep.val[CERTO_F_RESTART_SCRIPT] != NULL
                                              ? ep.val[CERTO_F_RESTART_SCRIPT]
                                              : "(no restart script)");
        goto out;
    }
    if (rc == CERTO_OK)
        rc = restart ? certo_install_restart(reg, &ep, &o, &r, &err)
                     : certo_install_rollback(reg, &ep, &o, &r, &err);
    note_recovery(cmd, &ep, r.recovery);
    if (r.log.len > 0)
        fputs((const char *)r.log.data, stdout);
    if (rc != CERTO_OK) {
        code = restart ? cli_fail(cmd, rc, &err) : op_failed(cmd, rc, &err, &r);
        goto out;
    }
    if (restart) {
        printf("Restarted endpoint '%s' (history #%lld)\n", ep.val[CERTO_F_NAME],
               (long long)r.history_id);
    } else {
        printf("%s endpoint '%s'%s:\n", o.dry_run ? "Dry run: would roll back" : "Rolled back",
               ep.val[CERTO_F_NAME], o.dry_run ? " (nothing changed)" : "");
        print_plan(&r);
    }
out:
    certo_op_result_dispose(&r);
    certo_endpoint_dispose(&ep);
    certo_registry_close(reg);
    return code;
}

static void
print_indented(const char *label, const char *text)
{
    const char *p = text;
    if (text == NULL || text[0] == '\0')
        return;
    printf("    %s\n", label);
    while (p != NULL && *p != '\0') {
        const char *nl = strchr(p, '\n');
        int len = nl != NULL ? (int)(nl - p) : (int)strlen(p);
        printf("      %.*s\n", len, p);
        p = nl != NULL ? nl + 1 : NULL;
    }
}

static certo_rc
history_json(struct certo_buf *b, const struct certo_history *h, size_t n)
{
    certo_rc rc = certo_buf_append_str(b, "[");
    for (size_t i = 0; rc == CERTO_OK && i < n; i++) {
        const char *keys[] = {"kind", "outcome", "alias",  "fp_before", "fp_after",
                              "step", "message", "output", "changes"};
        const char *vals[] = {h[i].kind, h[i].outcome, h[i].alias,  h[i].fp_before, h[i].fp_after,
                              h[i].step, h[i].message, h[i].output, h[i].changes};
        char when[32];
        iso_time(when, sizeof(when), h[i].started_at);
        rc = certo_buf_printf(b, "%s{\"id\": %lld, \"started_at\": \"%s\"", i > 0 ? ",\n " : "",
                              (long long)h[i].id, when);
        if (rc == CERTO_OK && h[i].finished_at > 0) {
            iso_time(when, sizeof(when), h[i].finished_at);
            rc = certo_buf_printf(b, ", \"finished_at\": \"%s\"", when);
        }
        for (size_t k = 0; rc == CERTO_OK && k < CERTO_ARRAY_LEN(keys); k++) {
            if (vals[k] == NULL)
                continue;
            rc = certo_buf_printf(b, ", \"%s\": ", keys[k]);
            if (rc == CERTO_OK)
                rc = cli_json_str(b, vals[k]);
        }
        /* The identifier `tls nodes` shows in its SSL column. */
        char id[CERTO_SSL_ID_LEN + 1];
        certo_nodes_ssl_id(id, h[i].fp_after);
        if (rc == CERTO_OK && id[0] != '\0')
            rc = certo_buf_printf(b, ", \"ssl_id\": \"%s\"", id);
        if (rc == CERTO_OK)
            rc = certo_buf_append_str(b, "}");
    }
    if (rc == CERTO_OK)
        rc = certo_buf_append_str(b, "]");
    return rc;
}

static int
run_history(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_registry *reg = NULL;
    struct certo_endpoint ep = {0};
    struct certo_history *h = NULL;
    struct certo_err err = {0};
    size_t n = 0;
    certo_rc rc;
    int code = 0;

    rc = cli_open_registry(&reg, a, &err);
    if (rc == CERTO_OK)
        rc = certo_registry_get(reg, a->pos[0], &ep, &err);
    if (rc == CERTO_OK)
        rc = certo_install_history(reg, &ep, &h, &n, &err);
    if (rc != CERTO_OK) {
        code = cli_fail(cmd, rc, &err);
        goto out;
    }
    if (cli_has(a, "json")) {
        struct certo_buf b;
        certo_buf_init(&b, 64u * 1024 * 1024);
        if (history_json(&b, h, n) == CERTO_OK)
            printf("%s\n", (const char *)b.data);
        else
            code = cli_usage_error(cmd, "history too large to print");
        certo_buf_dispose(&b);
        goto out;
    }
    if (n == 0)
        printf("No installs on endpoint '%s' yet.\n", ep.val[CERTO_F_NAME]);
    for (size_t i = 0; i < n; i++) {
        char when[32], id[CERTO_SSL_ID_LEN + 1];
        iso_time(when, sizeof(when), h[i].started_at);
        printf("#%-5lld %s  %-8s  %-11s  %s\n", (long long)h[i].id, when, h[i].kind, h[i].outcome,
               h[i].alias != NULL ? h[i].alias : "");
        if (h[i].fp_before != NULL)
            printf("    before  %s\n", h[i].fp_before);
        if (h[i].fp_after != NULL)
            printf("    after   %s\n", h[i].fp_after);
        certo_nodes_ssl_id(id, h[i].fp_after);
        if (id[0] != '\0')
            printf("    ssl id  %s\n", id);
        if (h[i].message != NULL)
            printf("    %s\n", h[i].message);
        print_indented("changes:", h[i].changes);
        print_indented("script output:", h[i].output);
    }
out:
    certo_history_list_free(h, n);
    certo_endpoint_dispose(&ep);
    certo_registry_close(reg);
    return code;
}

static int
run_check(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_registry *reg = NULL;
    struct certo_endpoint ep = {0};
    struct certo_buf report;
    struct certo_err err = {0};
    certo_rc rc;
    int code = 0;

    certo_buf_init(&report, 1024 * 1024);
    rc = cli_open_registry(&reg, a, &err);
    if (rc == CERTO_OK)
        rc = certo_registry_get(reg, a->pos[0], &ep, &err);
    if (rc == CERTO_OK)
        rc = certo_install_check(reg, &ep, &report, &err);
    if (report.len > 0)
        fputs((const char *)report.data, stdout);
    if (rc != CERTO_OK)
        code = cli_fail(cmd, rc, &err);
    else
        printf("Endpoint '%s' is ready for installs.\n", ep.val[CERTO_F_NAME]);
    certo_buf_dispose(&report);
    certo_endpoint_dispose(&ep);
    certo_registry_close(reg);
    return code;
}

/* ---- nodes: discover, nodes ---- */

static const struct cli_opt nodes_opts[] = {
    {"json", 0, CLI_FLAG, NULL, "print the nodes as JSON"},
    {"wide", 0, CLI_FLAG, NULL,
     "add the columns Subject, Issuer, Expires, Fingerprint and Problems"},
    CLI_DATA_OPT,
    {NULL, 0, 0, NULL, NULL},
};

static const struct cli_opt discover_opts[] = {
    {"json", 0, CLI_FLAG, NULL, "print the nodes as JSON"},
    {"wide", 0, CLI_FLAG, NULL,
     "add the columns Subject, Issuer, Expires, Fingerprint and Problems"},
    {"timeout", 0, CLI_VALUE, "MS",
     "milliseconds to connect and complete a handshake, per listener (default 3000)"},
    CLI_DATA_OPT,
    {NULL, 0, 0, NULL, NULL},
};

#define NODE_COLS 11 /* the seed's six, then the five of --wide */

static const char *const node_heads[NODE_COLS] = {
    "Name",    "Alias",  "Protocol", "IP Address",  "Port",     "SSL",
    "Subject", "Issuer", "Expires",  "Fingerprint", "Problems",
};

/* The cells of one node's row (strings owned by 'cells'). */
static void
node_cells(char *cells[NODE_COLS], const struct certo_node *n)
{
    char day[16] = "-";

    if (n->not_after != 0) {
        time_t t = (time_t)n->not_after;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(day, sizeof(day), "%Y-%m-%d", &tm);
    }
    cells[0] = certo_strdup(n->name);
    cells[1] = certo_strdup(n->alias != NULL ? n->alias : "-");
    cells[2] = certo_strdup(n->protocol != NULL ? n->protocol : "-");
    cells[3] = certo_strdup(n->address != NULL ? n->address : "-");
    cells[4] = n->port > 0 ? certo_asprintf("%d", n->port) : certo_strdup("-");
    cells[5] = certo_strdup(n->ssl != NULL ? n->ssl : "-");
    cells[6] = certo_strdup(n->subject != NULL ? n->subject : "-");
    cells[7] = certo_strdup(n->issuer != NULL ? n->issuer : "-");
    cells[8] = certo_strdup(day);
    cells[9] = certo_strdup(n->fingerprint != NULL ? n->fingerprint : "-");
    cells[10] = certo_strdup(n->problems != NULL ? n->problems : "-");
}

/* The heading's state: "serving", "unreachable (why)", "serving, drift: serves X, ...". */
static char *
node_state_text(const struct certo_node *n)
{
    char have[CERTO_SSL_ID_LEN + 1], want[CERTO_SSL_ID_LEN + 1];

    if (n->reason != NULL)
        return certo_asprintf("%s (%s)", certo_node_state_name(n->state), n->reason);
    if (n->drift) {
        certo_nodes_ssl_id(have, n->fingerprint);
        certo_nodes_ssl_id(want, n->installed);
        return certo_asprintf("%s, drift: %s %s, Certo installed %s",
                              certo_node_state_name(n->state),
                              n->state == CERTO_NODE_STORED ? "holds" : "serves", have, want);
    }
    return certo_strdup(certo_node_state_name(n->state));
}

static void
print_row(const char *const *cells, const size_t *width, size_t n_cols)
{
    printf(" ");
    for (size_t c = 0; c < n_cols; c++) {
        if (c + 1 < n_cols)
            printf(" %-*s ", (int)width[c], cells[c]);
        else
            printf(" %s", cells[c]);
    }
    printf("\n");
}

/* Per node: a heading "NAME - VENDOR - STATE", then the columns, aligned across nodes. */
static void
print_nodes_text(const struct certo_endpoint *ep, const struct certo_nodes *set, bool wide)
{
    size_t n_cols = wide ? NODE_COLS : 6, width[NODE_COLS];
    char *(*cells)[NODE_COLS] = certo_calloc(set->n + 1, sizeof(*cells));
    char when[32];

    for (size_t c = 0; c < NODE_COLS; c++)
        width[c] = strlen(node_heads[c]);
    for (size_t i = 0; i < set->n; i++) {
        node_cells(cells[i], &set->v[i]);
        for (size_t c = 0; c < NODE_COLS; c++) {
            size_t w = strlen(cells[i][c]);
            width[c] = w > width[c] ? w : width[c];
        }
    }
    iso_time(when, sizeof(when), set->discovered_at);
    printf("Endpoint '%s' (%s): %zu node%s, discovered %s\n", ep->val[CERTO_F_NAME],
           certo_ep_type_name(ep->type), set->n, set->n == 1 ? "" : "s", when);
    for (size_t i = 0; i < set->n; i++) {
        char *state = node_state_text(&set->v[i]);
        printf("\n%s - %s - %s\n", set->v[i].name, set->v[i].vendor, state);
        print_row(node_heads, width, n_cols);
        print_row((const char *const *)cells[i], width, n_cols);
        certo_free(state);
    }
    for (size_t i = 0; i < set->n; i++) {
        for (size_t c = 0; c < NODE_COLS; c++)
            certo_free(cells[i][c]);
    }
    certo_free(cells);
}

/* Appends ', "key": "value"' or ', "key": null'. */
static certo_rc
json_field(struct certo_buf *b, const char *key, const char *v)
{
    certo_rc rc = certo_buf_printf(b, ", \"%s\": ", key);
    if (rc == CERTO_OK)
        rc = v != NULL ? cli_json_str(b, v) : certo_buf_append_str(b, "null");
    return rc;
}

static certo_rc
node_json(struct certo_buf *b, const struct certo_node *n)
{
    char when[32];
    certo_rc rc = certo_buf_printf(b, "{\"seq\": %d", n->seq);
    const char *const keys[] = {"name", "alias", "vendor", "protocol", "address"};
    const char *const vals[] = {n->name, n->alias, n->vendor, n->protocol, n->address};

    for (size_t k = 0; rc == CERTO_OK && k < CERTO_ARRAY_LEN(keys); k++)
        rc = json_field(b, keys[k], vals[k]);
    if (rc == CERTO_OK)
        rc = n->port > 0 ? certo_buf_printf(b, ", \"port\": %d", n->port)
                         : certo_buf_append_str(b, ", \"port\": null");
    if (rc == CERTO_OK)
        rc = json_field(b, "sni", n->sni);
    if (rc == CERTO_OK)
        rc = json_field(b, "source", n->source);
    if (rc == CERTO_OK)
        rc = json_field(b, "state", certo_node_state_name(n->state));
    if (rc == CERTO_OK)
        rc = json_field(b, "reason", n->reason);
    if (rc == CERTO_OK)
        rc = json_field(b, "ssl", n->ssl);
    if (rc == CERTO_OK)
        rc = json_field(b, "subject", n->subject);
    if (rc == CERTO_OK)
        rc = json_field(b, "issuer", n->issuer);
    iso_time(when, sizeof(when), n->not_after);
    if (rc == CERTO_OK)
        rc = json_field(b, "expires", n->not_after != 0 ? when : NULL);
    if (rc == CERTO_OK)
        rc = json_field(b, "fingerprint", n->fingerprint);
    if (rc == CERTO_OK)
        rc = certo_buf_append_str(b, ", \"problems\": [");
    for (const char *p = n->problems; rc == CERTO_OK && p != NULL && *p != '\0';) {
        const char *end = strstr(p, "; ");
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        char *one = certo_strndup(p, len);
        if (p != n->problems)
            rc = certo_buf_append_str(b, ", ");
        if (rc == CERTO_OK)
            rc = cli_json_str(b, one);
        certo_free(one);
        p = end != NULL ? end + 2 : NULL;
    }
    if (rc == CERTO_OK)
        rc = certo_buf_printf(b, "], \"drift\": %s", n->drift ? "true" : "false");
    if (rc == CERTO_OK)
        rc = json_field(b, "installed", n->installed);
    iso_time(when, sizeof(when), n->discovered_at);
    if (rc == CERTO_OK)
        rc = certo_buf_printf(b, ", \"discovered_at\": \"%s\"}", when);
    return rc;
}

static int
print_nodes_json(const struct cli_cmd *cmd, const struct certo_endpoint *ep,
                 const struct certo_nodes *set)
{
    struct certo_buf b;
    char when[32];
    certo_rc rc;

    certo_buf_init(&b, 64u * 1024 * 1024);
    iso_time(when, sizeof(when), set->discovered_at);
    rc = certo_buf_append_str(&b, "{\"endpoint\": ");
    if (rc == CERTO_OK)
        rc = cli_json_str(&b, ep->val[CERTO_F_NAME]);
    if (rc == CERTO_OK)
        rc = certo_buf_printf(&b, ", \"id\": \"%s\", \"type\": \"%s\"", ep->id,
                              certo_ep_type_name(ep->type));
    if (rc == CERTO_OK)
        rc = json_field(&b, "discovered_at", set->discovered_at != 0 ? when : NULL);
    if (rc == CERTO_OK)
        rc = certo_buf_append_str(&b, ", \"nodes\": [");
    for (size_t i = 0; rc == CERTO_OK && i < set->n; i++) {
        if (i > 0)
            rc = certo_buf_append_str(&b, ",\n  ");
        if (rc == CERTO_OK)
            rc = node_json(&b, &set->v[i]);
    }
    if (rc == CERTO_OK)
        rc = certo_buf_append_str(&b, "]}");
    if (rc == CERTO_OK)
        printf("%s\n", (const char *)b.data);
    certo_buf_dispose(&b);
    if (rc != CERTO_OK)
        return cli_usage_error(cmd, "output too large");
    return 0;
}

/*
 * `tls discover` probes and stores, `tls nodes` shows what was stored. An endpoint never
 * discovered is not an error for `tls nodes` (exit 0): it says so and how to discover it.
 */
static int
run_nodes(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_registry *reg = NULL;
    struct certo_endpoint ep = {0};
    struct certo_nodes set = {0};
    struct certo_nodes_opts o = {0};
    struct certo_err err = {0};
    bool discover = strcmp(cmd->name, "tls discover") == 0;
    certo_rc rc = CERTO_OK;
    int code = 0;

    if (discover)
        rc = cli_int(&o.timeout_ms, a, "timeout", 3000, 100, 60000, &err);
    if (rc == CERTO_OK)
        rc = cli_open_registry(&reg, a, &err);
    if (rc == CERTO_OK)
        rc = certo_registry_get(reg, a->pos[0], &ep, &err);
    if (rc == CERTO_OK)
        rc = discover ? certo_nodes_discover(&set, reg, &ep, &o, &err)
                      : certo_nodes_load(&set, reg, &ep, &err);
    if (discover)
        note_recovery(cmd, &ep, set.recovery);
    if (rc != CERTO_OK) {
        code = cli_fail(cmd, rc, &err);
        goto out;
    }
    if (cli_has(a, "json"))
        code = print_nodes_json(cmd, &ep, &set);
    else if (set.discovered_at == 0)
        printf("Endpoint '%s' has not been discovered yet: run 'certo tls discover %s'.\n",
               ep.val[CERTO_F_NAME], ep.val[CERTO_F_NAME]);
    else
        print_nodes_text(&ep, &set, cli_has(a, "wide"));
out:
    certo_nodes_dispose(&set);
    certo_endpoint_dispose(&ep);
    certo_registry_close(reg);
    return code;
}

const struct cli_cmd cli_tls_cmds[] = {
    {"tls add", "TYPE --name NAME --connection_type TYPE [options]",
     "add an endpoint (iis, apache, tomcat, f5, nginx, p12, jks, pem) and print its instance ID",
     NULL, 0, 0, NULL, raw_add},
    {"tls list", "[options]", "list the endpoints of this gateway (never their secrets)",
     cli_data_json_opts, 0, 0, run_list, NULL},
    {"tls show", "[options] NAME|ID", "show one endpoint (never its secrets)", cli_data_json_opts,
     1, 1, run_show, NULL},
    {"tls update", "[options] NAME|ID",
     "change options of an endpoint; the type's options and rules apply as for add", NULL, 1, 1,
     NULL, raw_update},
    {"tls remove", "[options] NAME|ID", "remove an endpoint from this gateway", cli_data_opts, 1, 1,
     run_remove, NULL},
    {"tls install", "[options] NAME|ID",
     "install a certificate, its key and chain on an endpoint (journaled; rolled back on any "
     "failure)",
     install_opts, 1, 1, run_install, NULL},
    {"tls restart", "[options] NAME|ID", "restart an endpoint (runs its restart script)", op_opts,
     1, 1, run_op, NULL},
    {"tls rollback", "[options] NAME|ID", "put back the material before the last install", op_opts,
     1, 1, run_op, NULL},
    {"tls history", "[options] NAME|ID",
     "every install, rollback and restart of an endpoint, with outcome and script output",
     cli_data_json_opts, 1, 1, run_history, NULL},
    {"tls check", "[options] NAME|ID",
     "preflight: can the gateway read and write what an install needs, are the scripts there",
     cli_data_opts, 1, 1, run_check, NULL},
    {"tls discover", "[options] NAME|ID",
     "find the nodes of an endpoint (server blocks, vhosts, connectors, keystore entries), "
     "connect to each and store what it really serves",
     discover_opts, 1, 1, run_nodes, NULL},
    {"tls nodes", "[options] NAME|ID",
     "show the nodes found by the last 'tls discover': name, alias, protocol, address, port, "
     "SSL (Certo's ID or External), state and drift",
     nodes_opts, 1, 1, run_nodes, NULL},
    {NULL, NULL, NULL, NULL, 0, 0, NULL, NULL},
};
