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

/* Command tables of each file: NULL-name terminated. */
extern const struct cli_cmd cli_cert_cmds[];
extern const struct cli_cmd cli_keystore_cmds[];
extern const struct cli_cmd cli_tls_cmds[];
extern const struct cli_cmd cli_store_cmds[];
extern const struct cli_cmd cli_server_cmds[], cli_server_cert_cmds[];
extern const struct cli_cmd cli_discover_cmds[];
extern const struct cli_cmd cli_trust_cmds[];
extern const struct cli_cmd cli_user_cmds[], cli_org_cmds[];

#endif
