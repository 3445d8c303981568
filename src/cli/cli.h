/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared machinery of the `certo` command (cli layer): option tables and parsing, secret
 * options (--X, --X-file, --X-env, or a prompt), output helpers, and the error/exit-code
 * policy: 0 ok, 1 operation failed, 2 bad usage or bad input, always one line on stderr.
 * Option names are written with dashes; the underscore spelling (--connection_type) is
 * accepted for every option.
 */
#ifndef CERTO_CLI_H
#define CERTO_CLI_H

#include <stdio.h>

#include <jansson.h>

#include "certo/certo.h"

enum cli_opt_kind {
    CLI_FLAG = 0,  /* no value */
    CLI_VALUE = 1, /* one value; given twice is an error */
    CLI_MULTI = 2, /* repeatable value (--san a --san b) */
};

struct cli_opt {
    const char *name; /* long name with dashes, without "--" */
    char short_name;  /* single-letter alias, 0 if none */
    enum cli_opt_kind kind;
    const char *metavar; /* shown in help for value options */
    const char *help;    /* one line; NULL hides the option from help */
};

/* The three ways to pass one secret: --NAME, --NAME-file, --NAME-env. */
#define CLI_SECRET_OPTS(name, what)                                                                \
    {name, 0, CLI_VALUE, "VALUE", what " (visible to other users: prefer -file or -env)"},         \
        {name "-file", 0, CLI_VALUE, "FILE", what ", first line of FILE"},                         \
    {                                                                                              \
        name "-env", 0, CLI_VALUE, "VAR", what ", from environment variable VAR"                   \
    }

/* The data directory option of the gateway and server commands. */
#define CLI_DATA_HELP                                                                              \
    "the data directory (default: $CERTO_HOME, /var/lib/certo for root, else "                     \
    "~/.local/share/certo)"
#define CLI_DATA_OPT                                                                               \
    {                                                                                              \
        "data", 0, CLI_VALUE, "DIR", CLI_DATA_HELP                                                 \
    }

/* The database option of the server commands (a url may hold a password: prefer the env). */
#define CLI_DB_HELP                                                                                \
    "the server database: a SQLite path or postgresql://... (default: DATA/server.db, or "         \
    "$CERTO_DB)"
#define CLI_DB_OPT                                                                                 \
    {                                                                                              \
        "db", 0, CLI_VALUE, "URL", CLI_DB_HELP                                                     \
    }

/* Option tables shared by many commands: only --data; --data and --json. */
extern const struct cli_opt cli_data_opts[];
extern const struct cli_opt cli_data_json_opts[];
/* The server commands' tables: --data and --db; and --json too. */
extern const struct cli_opt cli_data_db_opts[];
extern const struct cli_opt cli_data_db_json_opts[];

struct cli_args;

struct cli_cmd {
    const char *name;           /* "cert keygen" */
    const char *usage;          /* "[options] FILE..." */
    const char *summary;        /* one line */
    const struct cli_opt *opts; /* terminated by {NULL} */
    size_t min_pos, max_pos;    /* positional argument count bounds */
    int (*run)(const struct cli_cmd *cmd, struct cli_args *args);
    /* Optional: takes the raw arguments instead of cli_parse + run (`tls add TYPE`). */
    int (*raw)(const struct cli_cmd *cmd, int argc, char **argv);
};

struct cli_val {
    bool set;
    const char *value;  /* CLI_VALUE: borrowed from argv */
    const char **multi; /* CLI_MULTI: owned array of borrowed strings */
    size_t n_multi;
};

struct cli_args {
    const struct cli_cmd *cmd;
    struct cli_val *vals; /* owned, parallel to cmd->opts */
    const char **pos;     /* owned array of borrowed positional arguments */
    size_t n_pos;
};

/**
 * Parses argv (after the command words) against cmd->opts. On bad usage prints one
 * line naming the option and returns 2; on --help/-h prints help and returns 0 with
 * *done = true. Otherwise returns 0 with *done = false.
 */
int cli_parse(struct cli_args *out, const struct cli_cmd *cmd, int argc, char **argv, bool *done);
void cli_args_dispose(struct cli_args *a);

/** True if option names 'a' and 'b' are the same, '_' and '-' being equal. */
bool cli_opt_name_eq(const char *a, const char *b);

/** Value of option 'name', or NULL when not given. */
const char *cli_get(const struct cli_args *a, const char *name);
/** The server database url: --db, else $CERTO_DB when set and not empty, else NULL. */
const char *cli_db_url(const struct cli_args *a);
/** True if flag or option 'name' was given. */
bool cli_has(const struct cli_args *a, const char *name);
/** Values of a CLI_MULTI option; *n receives the count. */
const char *const *cli_get_multi(const struct cli_args *a, const char *name, size_t *n);

/**
 * Reads the secret given through --NAME, --NAME-file or --NAME-env (at most one of them).
 * When none is given and 'prompt' is not NULL and stdin is a terminal, asks for it
 * without echo (twice if 'confirm'). *out stays NULL when no secret was given.
 * @return CERTO_EINVAL (several sources, empty variable, mismatch), file errors.
 */
certo_rc cli_secret(struct certo_secret **out, const struct cli_args *a, const char *name,
                    const char *prompt, bool confirm, struct certo_err *err);

/**
 * Parses a decimal integer option in [min, max]. @return CERTO_EINVAL naming the option.
 */
certo_rc cli_int(int *out, const struct cli_args *a, const char *name, int def, int min, int max,
                 struct certo_err *err);

/** Reads a whole input file with a ceiling; errors name the file and the option. */
certo_rc cli_read_file(struct certo_buf *out, const char *path, size_t max, const char *what,
                       struct certo_err *err);

/** Writes 'len' bytes to 'path' atomically ("-" = stdout) with 'mode' for a new file. */
certo_rc cli_write_file(const char *path, const void *data, size_t len, mode_t mode,
                        struct certo_err *err);

/**
 * Refuses an output path that is the input file itself (same device and inode), which
 * would replace the source with a subset of it. @return CERTO_EINVAL naming 'out_opt'.
 */
certo_rc cli_check_distinct(const char *in, const char *out, const char *out_opt,
                            struct certo_err *err);

struct certo_registry;
/** Opens the gateway registry in --data DIR (or the default directory). */
certo_rc cli_open_registry(struct certo_registry **reg, const struct cli_args *a,
                           struct certo_err *err);

/** Prints the error of a failed command on stderr and returns its exit code. */
int cli_fail(const struct cli_cmd *cmd, certo_rc rc, const struct certo_err *err);
/** Prints a usage error naming the problem and returns 2. */
int cli_usage_error(const struct cli_cmd *cmd, const char *fmt, ...) CERTO_PRINTF(2, 3);

/** Appends 's' as a JSON string literal (quoted, escaped) to 'b'. */
certo_rc cli_json_str(struct certo_buf *b, const char *s);

/* ---- remote administration (cmd_remote.c) ---- */

struct certo_session;

/*
 * The global options of `certo [--server URL] [credentials] [verification] GROUP ...`,
 * filled by main from argv, then from the environment (CERTO_SERVER, CERTO_TOKEN_FILE).
 * Values are borrowed from argv or the environment.
 */
struct cli_remote_opts {
    const char *server;        /* --server, else $CERTO_SERVER */
    bool server_from_argv;     /* --server was typed (not only in the environment) */
    const char *token_file;    /* --token-file, else $CERTO_TOKEN_FILE (with no --user) */
    const char *user;          /* --user */
    const char *password_file; /* --password-file */
    const char *password_env;  /* --password-env */
    const char *server_ca;     /* --server-ca */
    const char *fingerprint;   /* --server-fingerprint */
    const char *client_cert;   /* --client-cert */
    const char *client_key;    /* --client-key */
};
extern struct cli_remote_opts cli_remote;

/**
 * Takes the global options at the front of argv (before the group) into cli_remote.
 * @return the number of argv entries used, or -1 after printing a usage error.
 */
int cli_remote_globals(int argc, char **argv);

enum cli_where {
    CLI_LOCAL = 0,  /* work on the database (--data, --db) */
    CLI_REMOTE = 1, /* call the server of --server / $CERTO_SERVER */
};

/**
 * Runs 'local' or 'remote' for a server administration command: remote when --server was
 * given, or $CERTO_SERVER is set and neither --data nor --db was given. --server with
 * --data or --db is a usage error (2). 'remote' NULL: the command is local only.
 */
int cli_dispatch(const struct cli_cmd *cmd, struct cli_args *a,
                 int (*local)(const struct cli_cmd *, struct cli_args *),
                 int (*remote)(const struct cli_cmd *, struct cli_args *));

/** Opens a session with the server and credentials of cli_remote. */
certo_rc cli_remote_open(struct certo_session **out, struct certo_err *err);

/**
 * One API call (certo_session_call) that remembers the HTTP status for cli_remote_fail.
 * 'body' is consumed (may be NULL); *out as certo_session_call (may be NULL).
 */
certo_rc cli_call(struct certo_session *s, const char *method, const char *path, json_t *body,
                  json_t **out, struct certo_err *err);

/**
 * Every item of a paginated list (GET path?startIndex=&maxResult=): a new array of the
 * items' attributes as objects ({"alias": ..., ...}), with "href" added.
 */
certo_rc cli_call_list(struct certo_session *s, const char *path, json_t **out,
                       struct certo_err *err);

/** One path segment percent-encoded (certo_free). */
char *cli_path_seg(const char *s);

/**
 * Prints the error of a failed remote command and returns its exit code: 2 for an
 * HTTP 4xx and for bad input, 1 for a 5xx, a network or a TLS failure.
 */
int cli_remote_fail(const struct cli_cmd *cmd, certo_rc rc, const struct certo_err *err);

/** RFC 3339 "2025-01-02T03:04:05Z" as the text listings print it ("... UTC"). */
void cli_time_text(char out[32], const char *rfc3339);

/** The object of 'items' whose "name" is 'name', else whose "id" is 'name' in digits. */
json_t *cli_find_named(json_t *items, const char *name);

/** --org NAME|ID and --dept NAME|ID into ids (0: not given), by the server's lists. */
certo_rc cli_remote_scope(struct certo_session *s, const struct cli_args *a, int64_t *org_id,
                          int64_t *dept_id, struct certo_err *err);

/* ---- issue 8 on the server: endpoints, jobs, gateways, inventory (cmd_job.c) ---- */

/** For a command that only calls a server: 0 when one is given, else a usage error (2). */
int cli_need_server(const struct cli_cmd *cmd);

/** Seconds since the epoch as the text listings print them ("2025-01-02 03:04:05 UTC"). */
void cli_epoch_text(char out[32], json_int_t t);

/**
 * Prints a table: a row of 'heads', then 'n_rows' rows of 'n_cols' cells (row-major,
 * NULL printed as "-"), columns aligned, two spaces apart.
 */
void cli_table_print(const char *const *heads, size_t n_cols, char *const *cells, size_t n_rows);

/* The options of a command that queues a job: --wait and --timeout S. */
#define CLI_WAIT_OPTS                                                                              \
    {"wait", 0, CLI_FLAG, NULL, "wait until the job has succeeded or failed (exit 0 or 1)"},       \
    {                                                                                              \
        "timeout", 0, CLI_VALUE, "SECONDS", "with --wait: give up after SECONDS (default 300)"     \
    }

/** Checks --wait and --timeout before a job is queued; 0, or a usage error (2). */
int cli_wait_check(const struct cli_cmd *cmd, const struct cli_args *a, int *timeout_s);

/**
 * After a POST that queued a job (answer 'queued': {"jobId", "href"}): prints the job's
 * number, or with --wait polls GET /jobs/{id} until it succeeded (exit 0) or failed (1),
 * or --timeout ran out (1). 'what' names the job in the messages ("discover of 'web'").
 */
int cli_job_follow(const struct cli_cmd *cmd, struct certo_session *s, const struct cli_args *a,
                   json_t *queued, const char *what);

/** The gateway commands that call a server (cmd_gateway_admin.c). */
int cli_gateway_add(const struct cli_cmd *cmd, struct cli_args *a);
int cli_gateway_list(const struct cli_cmd *cmd, struct cli_args *a);
int cli_gateway_revoke(const struct cli_cmd *cmd, struct cli_args *a);
int cli_gateway_request_sync(const struct cli_cmd *cmd, struct cli_args *a);
extern const struct cli_opt cli_gateway_add_opts[], cli_gateway_list_opts[],
    cli_gateway_sync_opts[];

/* Command tables of each file: NULL-name terminated. */
extern const struct cli_cmd cli_cert_cmds[];
extern const struct cli_cmd cli_keystore_cmds[];
extern const struct cli_cmd cli_tls_cmds[];
extern const struct cli_cmd cli_store_cmds[];
extern const struct cli_cmd cli_server_cmds[], cli_server_cert_cmds[];
extern const struct cli_cmd cli_discover_cmds[];
extern const struct cli_cmd cli_trust_cmds[];
extern const struct cli_cmd cli_user_cmds[], cli_org_cmds[];
extern const struct cli_cmd cli_login_cmds[], cli_logout_cmds[];
extern const struct cli_cmd cli_gateway_cmds[];
extern const struct cli_cmd cli_endpoint_cmds[], cli_job_cmds[], cli_inventory_cmds[];

#endif
