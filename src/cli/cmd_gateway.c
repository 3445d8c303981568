/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `certo gateway enroll|status|sync|run` (cli layer, issue 8): a gateway joins a server
 * with a one-time token, reports its endpoints, and runs the server's jobs. The token is
 * read from a file or an environment variable, never from argv; the server is verified
 * by a pin or a CA file at enrollment, and pinned from then on.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "certo/agent.h"
#include "cli/cli.h"

static const struct cli_opt enroll_opts[] = {
    {"server", 0, CLI_VALUE, "URL", "the server, https://HOST:PORT"},
    CLI_SECRET_OPTS("token", "the one-time enrollment token"),
    {"server-fingerprint", 0, CLI_VALUE, "SHA256",
     "the server certificate's SHA-256 (serverFingerprint of the gateway's creation)"},
    {"server-ca", 0, CLI_VALUE, "FILE",
     "or: verify the server against the certificates of FILE (its fingerprint is then pinned)"},
    {"name-check", 0, CLI_VALUE, "NAME", "refuse unless the token belongs to gateway NAME"},
    {"replace", 0, CLI_FLAG, NULL, "enroll again, replacing the stored enrollment"},
    CLI_DATA_OPT,
    {"json", 0, CLI_FLAG, NULL, "print JSON"},
    {NULL, 0, 0, NULL, NULL},
};

static const struct cli_opt run_opts[] = {
    {"once", 0, CLI_FLAG, NULL, "take at most one job (waiting up to --wait), then exit"},
    {"wait", 0, CLI_VALUE, "SECONDS", "long-poll wait for a job, 0-30 (default 25)"},
    {"heartbeat", 0, CLI_VALUE, "SECONDS",
     "seconds between 'running' reports during a job (default: a third of the lease)"},
    CLI_DATA_OPT,
    {NULL, 0, 0, NULL, NULL},
};

/* The commands of the gateway host take no global --server (enroll has its own). */
static int
on_gateway_host(const struct cli_cmd *cmd)
{
    if (!cli_remote.server_from_argv)
        return 0;
    return cli_usage_error(cmd,
                           "runs on the gateway host, not against a server: no --server "
                           "before 'gateway'%s",
                           strcmp(cmd->name, "gateway enroll") == 0 ? " (give it after 'enroll')"
                                                                    : "");
}

static char *
data_dir(const struct cli_args *a)
{
    return certo_registry_default_dir(cli_get(a, "data"));
}

/*
 * The token: --token-file, --token-env, or --token (which other users of the host can see
 * in the process list while it runs: warned about), exactly one.
 */
static certo_rc
read_token(struct certo_secret **out, const struct cli_args *a, struct certo_err *err)
{
    certo_rc rc;

    if (cli_has(a, "token"))
        fprintf(stderr, "certo gateway enroll: warning: --token on the command line can be seen "
                        "by other users of this host; prefer --token-file or --token-env\n");
    rc = cli_secret(out, a, "token", NULL, false, err);
    if (rc == CERTO_OK && *out == NULL)
        rc = certo_err_set(err, CERTO_EINVAL, "cli",
                           "give the enrollment token with --token-file FILE, --token-env VAR "
                           "or --token TOKEN");
    return rc;
}

static void
when_text(char out[32], int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;

    snprintf(out, 32, "-");
    if (t > 0 && gmtime_r(&tt, &tm) != NULL)
        strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void
print_json(json_t *doc)
{
    json_dumpf(doc, stdout, JSON_INDENT(2));
    fputc('\n', stdout);
}

static int
run_enroll(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_agent_enroll_opts o = {0};
    struct certo_agent id = {0};
    struct certo_secret *token = NULL;
    struct certo_err err = {0};
    char *dir = data_dir(a);
    int code = 0;
    certo_rc rc;

    if (on_gateway_host(cmd) != 0) {
        certo_free(dir);
        return 2;
    }

    o.url = cli_get(a, "server");
    o.fingerprint = cli_get(a, "server-fingerprint");
    o.server_ca = cli_get(a, "server-ca");
    o.name_check = cli_get(a, "name-check");
    o.replace = cli_has(a, "replace");
    if (o.url == NULL) {
        code = cli_usage_error(cmd, "missing --server URL");
        goto out;
    }
    if (o.fingerprint == NULL && o.server_ca == NULL) {
        code = cli_usage_error(cmd, "the server must be verified: give --server-fingerprint SHA256 "
                                    "(serverFingerprint of the gateway's creation) or --server-ca "
                                    "FILE");
        goto out;
    }
    if (o.fingerprint != NULL && o.server_ca != NULL) {
        code = cli_usage_error(cmd, "give --server-fingerprint or --server-ca, not both");
        goto out;
    }
    rc = read_token(&token, a, &err);
    if (rc != CERTO_OK) {
        code = cli_fail(cmd, rc, &err);
        goto out;
    }
    o.token = token;
    rc = certo_agent_enroll(&id, dir, &o, &err);
    if (rc != CERTO_OK) {
        code = cli_fail(cmd, rc, &err);
        goto out;
    }
    if (cli_has(a, "json")) {
        json_t *doc = json_pack("{s:s,s:I,s:s,s:s,s:s}", "server", id.server, "gatewayId",
                                (json_int_t)id.gateway_id, "name", id.name, "serverFingerprint",
                                id.pin, "dataDir", dir);
        print_json(doc);
        json_decref(doc);
    } else {
        printf("Enrolled gateway '%s' (id %lld) with %s\n", id.name, (long long)id.gateway_id,
               id.server);
        printf("  server pinned to SHA-256 %s\n", id.pin);
        printf("  identity stored in %s/" CERTO_AGENT_FILE " (key sealed)\n", dir);
    }
out:
    certo_agent_dispose(&id);
    certo_secret_free(token);
    certo_free(dir);
    return code;
}

static int
run_status(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_agent id = {0};
    struct certo_session *s = NULL;
    struct certo_err err = {0}, werr = {0};
    json_t *who = NULL, *doc;
    char *dir = data_dir(a);
    char when[32];
    int code = 0;
    certo_rc rc, wrc = CERTO_OK;

    if (on_gateway_host(cmd) != 0) {
        certo_free(dir);
        return 2;
    }

    rc = certo_agent_load(&id, dir, true, &err);
    if (rc == CERTO_ENOTFOUND) {
        if (cli_has(a, "json")) {
            doc = json_pack("{s:b,s:s}", "enrolled", 0, "dataDir", dir);
            print_json(doc);
            json_decref(doc);
        } else {
            printf("Not enrolled (%s has no " CERTO_AGENT_FILE "): run 'certo gateway enroll'\n",
                   dir);
        }
        goto out;
    }
    if (rc != CERTO_OK) {
        code = cli_fail(cmd, rc, &err);
        goto out;
    }
    wrc = certo_agent_connect(&s, &id, 0, NULL, NULL, &werr);
    if (wrc == CERTO_OK)
        wrc = certo_session_call(s, "GET", "/gateway/whoami", NULL, &who, NULL, &werr);
    if (cli_has(a, "json")) {
        doc = json_pack("{s:b,s:s,s:s,s:I,s:s,s:I}", "enrolled", 1, "server", id.server,
                        "serverFingerprint", id.pin, "gatewayId", (json_int_t)id.gateway_id, "name",
                        id.name, "enrolledAt", (json_int_t)id.enrolled_at);
        json_object_set_new(doc, "reachable", json_boolean(wrc == CERTO_OK));
        if (wrc == CERTO_OK)
            json_object_set(doc, "whoami", who);
        else
            json_object_set_new(doc, "error", json_string(werr.msg));
        print_json(doc);
        json_decref(doc);
    } else {
        when_text(when, id.enrolled_at);
        printf("Enrolled gateway '%s' (id %lld) with %s since %s\n", id.name,
               (long long)id.gateway_id, id.server, when);
        printf("  server pinned to SHA-256 %s\n", id.pin);
        if (wrc == CERTO_OK) {
            const char *state = json_string_value(json_object_get(who, "state"));
            printf("  server says: gateway '%s' (id %lld), %s, %lld endpoints synced\n",
                   json_string_value(json_object_get(who, "name")),
                   (long long)json_integer_value(json_object_get(who, "id")),
                   state != NULL ? state : "?",
                   (long long)json_integer_value(json_object_get(who, "endpoints")));
        }
    }
    if (wrc != CERTO_OK) {
        (void)cli_fail(cmd, wrc, &werr);
        code = 1; /* enrolled, but the server cannot be reached or refuses this gateway */
    }
out:
    json_decref(who);
    certo_session_close(s);
    certo_agent_dispose(&id);
    certo_free(dir);
    return code;
}

static int
run_sync(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_agent id = {0};
    struct certo_registry *reg = NULL;
    struct certo_session *s = NULL;
    struct certo_err err = {0};
    json_t *answer = NULL;
    char *dir = data_dir(a);
    int code = 0;
    certo_rc rc;

    if (on_gateway_host(cmd) != 0) {
        certo_free(dir);
        return 2;
    }

    rc = certo_agent_load(&id, dir, true, &err);
    if (rc == CERTO_OK)
        rc = certo_registry_open(&reg, dir, &err);
    if (rc == CERTO_OK)
        rc = certo_agent_connect(&s, &id, 0, NULL, NULL, &err);
    if (rc == CERTO_OK)
        rc = certo_agent_sync(&answer, s, reg, &err);
    if (rc != CERTO_OK) {
        code = cli_fail(cmd, rc, &err);
        goto out;
    }
    if (cli_has(a, "json"))
        print_json(answer);
    else
        printf("Synced %lld endpoints to %s: %lld added, %lld removed\n",
               (long long)json_integer_value(json_object_get(answer, "total")), id.server,
               (long long)json_integer_value(json_object_get(answer, "added")),
               (long long)json_integer_value(json_object_get(answer, "removed")));
out:
    json_decref(answer);
    certo_session_close(s);
    certo_registry_close(reg);
    certo_agent_dispose(&id);
    certo_free(dir);
    return code;
}

static volatile sig_atomic_t stop_flag;

static void
on_stop(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static int
run_run(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_agent_run_opts o = {0};
    struct certo_err err = {0};
    struct sigaction sa;
    char *dir = NULL;
    int code = 0;
    certo_rc rc;

    if (on_gateway_host(cmd) != 0)
        return 2;

    rc = cli_int(&o.wait_s, a, "wait", CERTO_AGENT_WAIT, 0, CERTO_AGENT_WAIT_MAX, &err);
    if (rc == CERTO_OK)
        rc = cli_int(&o.heartbeat_s, a, "heartbeat", 0, 1, 3600, &err);
    if (rc != CERTO_OK)
        return cli_usage_error(cmd, "%s", err.msg);
    dir = data_dir(a);
    o.dir = dir;
    o.once = cli_has(a, "once");
    o.stop = &stop_flag;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    rc = certo_agent_run(&o, &err);
    if (rc != CERTO_OK)
        code = cli_fail(cmd, rc, &err);
    if (rc == CERTO_EAUTH)
        code = 1; /* the server refuses this gateway: an operation failure, not bad usage */
    certo_free(dir);
    return code;
}

const struct cli_cmd cli_gateway_cmds[] = {
    {"gateway enroll",
     "--server URL (--token-file F | --token-env V | --token T) (--server-fingerprint SHA256 | "
     "--server-ca "
     "FILE) [--name-check NAME] [--replace] [--data DIR]",
     "join a server with a one-time enrollment token (key and CSR made here, key sealed at "
     "rest)",
     enroll_opts, 0, 0, run_enroll, NULL},
    {"gateway status", "[--data DIR] [--json]",
     "the enrollment (server, pin, gateway) and what the server says of this gateway",
     cli_data_json_opts, 0, 0, run_status, NULL},
    {"gateway sync", "[--data DIR] [--json]",
     "send this gateway's endpoint list (never credentials) to its server", cli_data_json_opts, 0,
     0, run_sync, NULL},
    {"gateway run", "[--once] [--wait S] [--heartbeat S] [--data DIR]",
     "the gateway daemon: take the server's jobs and run them (SIGTERM: finish the job, exit)",
     run_opts, 0, 0, run_run, NULL},
    {"gateway add", "[-o TOKENFILE] [--json] NAME",
     "on a server (admin): create a gateway; shows its one-time enrollment token and the "
     "enroll command",
     cli_gateway_add_opts, 1, 1, cli_gateway_add, NULL},
    {"gateway list", "[--json]", "on a server: the gateways, their state and endpoints",
     cli_gateway_list_opts, 0, 0, cli_gateway_list, NULL},
    {"gateway revoke", "ID|NAME", "on a server (admin): revoke a gateway's certificate",
     cli_gateway_list_opts + 1, 1, 1, cli_gateway_revoke, NULL},
    {"gateway request-sync", "[--wait [--timeout S]] ID|NAME",
     "on a server (admin): queue a sync job for the gateway (the seed's \"Sync Modules\")",
     cli_gateway_sync_opts, 1, 1, cli_gateway_request_sync, NULL},
    {NULL, NULL, NULL, NULL, 0, 0, NULL, NULL},
};
