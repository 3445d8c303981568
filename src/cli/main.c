/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `certo`: dispatches "certo GROUP COMMAND [options]" to the command tables of the
 * cli layer. Sets up OpenSSL's secure heap so passwords and keys stay out of swap.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cli/cli.h"

struct group {
    const char *name;
    const char *summary;
    const struct cli_cmd *cmds;
};

static const struct group groups[] = {
    {"cert", "keys, CSRs, certificates: keygen, csr, selfsign, sign, inspect, convert",
     cli_cert_cmds},
    {"keystore", "PEM, PKCS#12 and JKS keystores: list, put, remove, export", cli_keystore_cmds},
    {"tls",
     "the gateway's endpoints: add, list, show, update, remove, install, restart, "
     "rollback, history, check, discover, nodes",
     cli_tls_cmds},
    {"discover", "network scans of TLS services: scan, list, show, remove", cli_discover_cmds},
    {"store", "credential stores for endpoint credentials: add, list, remove", cli_store_cmds},
    {"gateway",
     "on the gateway host: enroll, status, sync, run (the job daemon); on a server (admin): "
     "add, list, revoke, request-sync",
     cli_gateway_cmds},
    {"endpoint", "a server's endpoints: list, show, delegate, discover, restart, install, nodes",
     cli_endpoint_cmds},
    {"job", "a server's jobs for its gateways: list, show", cli_job_cmds},
    {"inventory", "a server's certificate inventory (order numbers): add, list, show, remove",
     cli_inventory_cmds},
    {"server", "the orchestrator server (HTTPS REST API at /vco/api)", cli_server_cmds},
    {"server-cert",
     "the server's identity: show, csr, import, export-db, import-db, rotate, reload",
     cli_server_cert_cmds},
    {"trust", "the server's trust store: import-url, import, list, show, remove, export",
     cli_trust_cmds},
    {"user", "the server's users: add, passwd, remove, list", cli_user_cmds},
    {"org", "organizations and departments: add, remove, list", cli_org_cmds},
    {"login", "log in to a server: keeps a token in a file for the remote commands",
     cli_login_cmds},
    {"logout", "revoke the token of the token file", cli_logout_cmds},
};

/* The groups that run against a server when --server is given. */
static const char *const remote_groups[] = {"server-cert", "trust",    "user",    "org",
                                            "login",       "logout",   "gateway", "endpoint",
                                            "job",         "inventory"};

static void
usage(FILE *f)
{
    fprintf(f, "usage: certo [--server URL] [--token-file F | --user NAME --password-file F | "
               "--password-env V]\n"
               "             [--server-ca FILE | --server-fingerprint SHA256] "
               "[--client-cert F --client-key F]\n"
               "             GROUP COMMAND [options]\n\n");
    for (size_t i = 0; i < CERTO_ARRAY_LEN(groups); i++) {
        fprintf(f, "  %-10s %s\n", groups[i].name, groups[i].summary);
        for (const struct cli_cmd *c = groups[i].cmds; c->name != NULL; c++)
            fprintf(f, "      certo %-18s %s\n", c->name, c->summary);
    }
    fprintf(f,
            "\n'certo GROUP COMMAND --help' describes each command's options.\n"
            "With --server (or $CERTO_SERVER) server-cert, trust, user and org call the server's "
            "REST API\ninstead of opening its database; endpoint, job, inventory and gateway "
            "add|list|revoke|request-sync\nalways do; credentials: --token-file (or "
            "$CERTO_TOKEN_FILE, or\nthe file of 'certo login'), or --user with "
            "--password-file / --password-env.\n");
}

static int
run_cmd(const struct cli_cmd *cmd, int argc, char **argv)
{
    struct cli_args args;
    bool done = false;
    int code;

    if (cmd->raw != NULL)
        return cmd->raw(cmd, argc, argv);
    code = cli_parse(&args, cmd, argc, argv, &done);
    if (code == 0 && !done)
        code = cmd->run(cmd, &args);
    cli_args_dispose(&args);
    return code;
}

static bool
remote_group(const char *name)
{
    for (size_t i = 0; i < CERTO_ARRAY_LEN(remote_groups); i++) {
        if (strcmp(remote_groups[i], name) == 0)
            return true;
    }
    return false;
}

int
main(int argc, char **argv)
{
    int code = 2, used;

    /* 64 KiB of locked memory for secrets; without it they fall back to the normal heap
     * (still wiped on free), so a refusal here is not an error. */
    (void)CRYPTO_secure_malloc_init(65536, 32);

    /* Global options (--server ...) come before the group. */
    used = cli_remote_globals(argc - 1, argv + 1);
    if (used < 0)
        goto out;
    if (used > 0) {
        argv[used] = argv[0];
        argv += used;
        argc -= used;
        if (argc >= 2 && cli_remote.server_from_argv && !remote_group(argv[1]) &&
            strcmp(argv[1], "--help") != 0 && strcmp(argv[1], "-h") != 0) {
            fprintf(stderr, "certo: %s does not run against a server (--server)\n", argv[1]);
            goto out;
        }
        if (argc < 2) {
            fprintf(stderr, "certo: missing GROUP COMMAND after the global options\n");
            goto out;
        }
    }
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        code = argc < 2 ? 2 : 0;
        goto out;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("certo 0.1.0 (%s)\n", OpenSSL_version(OPENSSL_VERSION));
        code = 0;
        goto out;
    }
    for (size_t i = 0; i < CERTO_ARRAY_LEN(groups); i++) {
        if (strcmp(argv[1], groups[i].name) != 0)
            continue;
        /* A group's command named like the group takes its arguments (`certo server`). */
        if (strcmp(groups[i].cmds[0].name, argv[1]) == 0) {
            code = run_cmd(&groups[i].cmds[0], argc - 2, argv + 2);
            goto out;
        }
        if (argc < 3) {
            fprintf(stderr, "certo %s: missing command (see 'certo --help')\n", argv[1]);
            goto out;
        }
        for (const struct cli_cmd *c = groups[i].cmds; c->name != NULL; c++) {
            const char *sub = strchr(c->name, ' ');
            if (sub != NULL && strcmp(sub + 1, argv[2]) == 0) {
                code = run_cmd(c, argc - 3, argv + 3);
                goto out;
            }
        }
        fprintf(stderr, "certo %s: unknown command '%s' (see 'certo --help')\n", argv[1], argv[2]);
        goto out;
    }
    fprintf(stderr, "certo: unknown command '%s' (see 'certo --help')\n", argv[1]);
out:
    CRYPTO_secure_malloc_done();
    return code;
}
