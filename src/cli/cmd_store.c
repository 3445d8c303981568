/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `certo store add|list|remove` (cli layer): credential stores that endpoints name with
 * --store and --store_cred_id instead of holding credentials themselves.
 */
#include <stdio.h>
#include <string.h>

#include "certo/registry.h"
#include "cli/cli.h"

static const struct cli_opt add_opts[] = {
    {"type", 0, CLI_VALUE, "TYPE",
     "exec: a program that reads a credential ID on stdin and prints a JSON object with "
     "\"user\", \"password\", \"ssh_key_path\", \"ssh_key\", \"ssh_key_password\" (exit 1 with "
     "no output: no such ID); file: a JSON file {\"ID\": {...}, ...} readable only by its owner"},
    {"command", 0, CLI_VALUE, "PATH", "the program of an exec store"},
    {"path", 0, CLI_VALUE, "FILE", "the JSON file of a file store"},
    CLI_DATA_OPT,
    {NULL, 0, 0, NULL, NULL},
};

static int
run_add(const struct cli_cmd *cmd, struct cli_args *a)
{
    const char *type = cli_get(a, "type");
    const char *command = cli_get(a, "command");
    const char *path = cli_get(a, "path");
    struct certo_credstore cs = {0};
    struct certo_registry *reg = NULL;
    struct certo_err err = {0};
    certo_rc rc;
    int code = 0;

    if (type == NULL)
        return cli_usage_error(cmd, "--type is required (exec or file)");
    if (!certo_credstore_type_parse(type, &cs.type))
        return cli_usage_error(cmd, "--type must be exec or file, not '%.32s'", type);
    if (cs.type == CERTO_CREDSTORE_EXEC && path != NULL)
        return cli_usage_error(cmd, "--path is for file stores; an exec store takes --command");
    if (cs.type == CERTO_CREDSTORE_FILE && command != NULL)
        return cli_usage_error(cmd, "--command is for exec stores; a file store takes --path");
    cs.name = certo_strdup(a->pos[0]);
    cs.target = cs.type == CERTO_CREDSTORE_EXEC ? (command != NULL ? certo_strdup(command) : NULL)
                                                : (path != NULL ? certo_strdup(path) : NULL);
    rc = cli_open_registry(&reg, a, &err);
    if (rc == CERTO_OK)
        rc = certo_registry_store_add(reg, &cs, &err);
    if (rc != CERTO_OK)
        code = cli_fail(cmd, rc, &err);
    else
        printf("Credential store '%s' (%s, %s) added.\n", cs.name,
               certo_credstore_type_name(cs.type), cs.target);
    certo_credstore_dispose(&cs);
    certo_registry_close(reg);
    return code;
}

static int
run_list(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_registry *reg = NULL;
    struct certo_credstore *list = NULL;
    struct certo_err err = {0};
    size_t n = 0;
    certo_rc rc;
    int code = 0;

    rc = cli_open_registry(&reg, a, &err);
    if (rc == CERTO_OK)
        rc = certo_registry_store_list(reg, &list, &n, &err);
    if (rc != CERTO_OK) {
        code = cli_fail(cmd, rc, &err);
        goto out;
    }
    if (cli_has(a, "json")) {
        struct certo_buf b;
        certo_buf_init(&b, 16u * 1024 * 1024);
        rc = certo_buf_append_str(&b, "[");
        for (size_t i = 0; rc == CERTO_OK && i < n; i++) {
            rc = certo_buf_printf(&b, "%s{\"name\": ", i > 0 ? ", " : "");
            if (rc == CERTO_OK)
                rc = cli_json_str(&b, list[i].name);
            if (rc == CERTO_OK)
                rc = certo_buf_printf(&b, ", \"type\": \"%s\", \"target\": ",
                                      certo_credstore_type_name(list[i].type));
            if (rc == CERTO_OK)
                rc = cli_json_str(&b, list[i].target);
            if (rc == CERTO_OK)
                rc = certo_buf_append_str(&b, "}");
        }
        if (rc == CERTO_OK)
            rc = certo_buf_append_str(&b, "]");
        if (rc == CERTO_OK)
            printf("%s\n", (const char *)b.data);
        certo_buf_dispose(&b);
        goto out;
    }
    if (n == 0)
        printf("No credential stores (add one with 'certo store add NAME --type exec|file').\n");
    else
        printf("%-32s  %-5s  %s\n", "NAME", "TYPE", "PROGRAM / FILE");
    for (size_t i = 0; i < n; i++)
        printf("%-32s  %-5s  %s\n", list[i].name, certo_credstore_type_name(list[i].type),
               list[i].target);
out:
    certo_registry_store_list_free(list, n);
    certo_registry_close(reg);
    return code;
}

static int
run_remove(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_registry *reg = NULL;
    struct certo_err err = {0};
    certo_rc rc;
    int code = 0;

    rc = cli_open_registry(&reg, a, &err);
    if (rc == CERTO_OK)
        rc = certo_registry_store_remove(reg, a->pos[0], &err);
    if (rc != CERTO_OK)
        code = cli_fail(cmd, rc, &err);
    else
        printf("Credential store '%s' removed.\n", a->pos[0]);
    certo_registry_close(reg);
    return code;
}

const struct cli_cmd cli_store_cmds[] = {
    {"store add", "NAME --type exec --command PATH | --type file --path FILE",
     "add a credential store", add_opts, 1, 1, run_add, NULL},
    {"store list", "[options]", "list the credential stores", cli_data_json_opts, 0, 0, run_list,
     NULL},
    {"store remove", "NAME", "remove a credential store that no endpoint uses", cli_data_opts, 1, 1,
     run_remove, NULL},
    {NULL, NULL, NULL, NULL, 0, 0, NULL, NULL},
};
