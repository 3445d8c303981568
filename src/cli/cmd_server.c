/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `certo server` and `certo server-cert show` (cli layer): runs the orchestrator server,
 * and shows its identity certificate from the database without starting it. The data
 * directory is --data, else $CERTO_HOME, else /var/lib/certo for root, else
 * ~/.local/share/certo, as for the gateway.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "certo/server.h"
#include "cli/cli.h"

/* ---- server ---- */

static const struct cli_opt server_opts[] = {
    {"listen", 'l', CLI_VALUE, "ADDR:PORT",
     "address to listen on (default " CERTO_SERVER_LISTEN_DEFAULT "; 0.0.0.0 or :: only when "
     "given)"},
    {"data", 'd', CLI_VALUE, "DIR", CLI_DATA_HELP},
    {NULL, 0, 0, NULL, NULL},
};

static int
run_server(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0};
    struct certo_server_opts opts = {0};
    char *dir = certo_registry_default_dir(cli_get(a, "data"));
    certo_rc rc = CERTO_EINTERNAL;

    opts.listen = cli_get(a, "listen");
    opts.data_dir = dir;
    rc = certo_server_run(&opts, &err);
    certo_free(dir);
    return rc == CERTO_OK ? 0 : cli_fail(cmd, rc, &err);
}

const struct cli_cmd cli_server_cmds[] = {
    {"server", "[--listen ADDR:PORT] [--data DIR]", "run the orchestrator server (HTTPS)",
     server_opts, 0, 0, run_server, NULL},
    {NULL, NULL, NULL, NULL, 0, 0, NULL, NULL},
};

/* ---- server-cert show ---- */

static const struct cli_opt show_opts[] = {
    {"data", 'd', CLI_VALUE, "DIR", CLI_DATA_HELP},
    {"json", 0, CLI_FLAG, NULL, "print one JSON object"},
    {NULL, 0, 0, NULL, NULL},
};

static void
format_time(char out[32], time_t t)
{
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(out, 32, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        snprintf(out, 32, "%lld", (long long)t);
}

static void
print_info(const struct certo_cert_info *in)
{
    char nb[32], na[32];

    format_time(nb, in->not_before);
    format_time(na, in->not_after);
    printf("subject:     %s\n", in->subject);
    printf("issuer:      %s%s\n", in->issuer, in->self_signed ? " (self-signed)" : "");
    printf("SANs:       ");
    for (size_t i = 0; i < in->n_sans; i++)
        printf(" %s:%s%s", in->sans[i].type, in->sans[i].value, i + 1 < in->n_sans ? "," : "");
    printf("\n");
    printf("not before:  %s\n", nb);
    printf("not after:   %s\n", na);
    printf("key:         %s %d\n", in->key_alg, in->key_bits);
    printf("serial:      %s\n", in->serial);
    printf("SHA-256:     %s\n", in->fingerprint);
}

static int
run_show(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0};
    struct certo_cert_info info = {0};
    struct certo_buf b;
    struct certo_db *db = NULL;
    char *dir = certo_registry_default_dir(cli_get(a, "data"));
    X509 *cert = NULL;
    certo_rc rc = CERTO_EINTERNAL;

    certo_buf_init(&b, 64 * 1024);
    rc = certo_identity_db_open(&db, dir, &err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_identity_load_cert(&cert, db, &err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_cert_info_get(&info, cert, &err);
    if (rc != CERTO_OK)
        goto out;
    if (!cli_has(a, "json")) {
        print_info(&info);
        goto out;
    }
    rc = certo_cert_info_to_json(&b, &info);
    if (rc != CERTO_OK) {
        rc = certo_err_set(&err, rc, "cli", "cannot format the certificate as JSON");
        goto out;
    }
    printf("%s\n", (const char *)b.data);
out:
    certo_buf_dispose(&b);
    certo_cert_info_dispose(&info);
    certo_cert_free(cert);
    certo_db_close(db);
    certo_free(dir);
    return rc == CERTO_OK ? 0 : cli_fail(cmd, rc, &err);
}

const struct cli_cmd cli_server_cert_cmds[] = {
    {"server-cert show", "[--data DIR] [--json]",
     "show the server identity certificate (subject, SANs, validity, SHA-256)", show_opts, 0, 0,
     run_show, NULL},
    {NULL, NULL, NULL, NULL, 0, 0, NULL, NULL},
};
