/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Option parsing, secrets, files and errors for the `certo` command (cli layer).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "cli/cli.h"

static size_t
opt_count(const struct cli_cmd *cmd)
{
    size_t n = 0;
    while (cmd->opts != NULL && cmd->opts[n].name != NULL)
        n++;
    return n;
}

/* Compares a user-typed option name with a table name, '_' and '-' being the same. */
static bool
name_eq(const char *typed, size_t len, const char *name)
{
    size_t i;
    for (i = 0; i < len && name[i] != '\0'; i++) {
        char c = typed[i] == '_' ? '-' : typed[i];
        char t = name[i] == '_' ? '-' : name[i];
        if (c != t)
            return false;
    }
    return i == len && name[i] == '\0';
}

bool
cli_opt_name_eq(const char *a, const char *b)
{
    return name_eq(a, strlen(a), b);
}

/*
 * Prints 'text' from column 'col' on, wrapped at 100 columns, continuation lines
 * indented to 'col'.
 */
static void
print_wrapped(const char *text, int col)
{
    const int width = 100;
    int at = col;

    while (*text != '\0') {
        const char *sp = strchr(text, ' ');
        int word = sp != NULL ? (int)(sp - text) : (int)strlen(text);
        if (at > col && at + 1 + word > width) {
            printf("\n%*s", col, "");
            at = col;
        } else if (at > col) {
            putchar(' ');
            at++;
        }
        printf("%.*s", word, text);
        at += word;
        text += word;
        while (*text == ' ')
            text++;
    }
    putchar('\n');
}

static void
print_help(const struct cli_cmd *cmd)
{
    printf("usage: certo %s %s\n\n%s\n", cmd->name, cmd->usage, cmd->summary);
    size_t n = opt_count(cmd);
    if (n > 0)
        printf("\noptions:\n");
    for (size_t i = 0; i < n; i++) {
        const struct cli_opt *o = &cmd->opts[i];
        char left[64];
        if (o->help == NULL)
            continue;
        if (o->kind == CLI_FLAG)
            snprintf(left, sizeof(left), "--%s", o->name);
        else
            snprintf(left, sizeof(left), "--%s %s", o->name, o->metavar ? o->metavar : "VALUE");
        if (o->short_name != 0)
            printf("  -%c, %-28s ", o->short_name, left);
        else
            printf("      %-28s ", left);
        if (strlen(left) > 28)
            printf("\n%35s", "");
        print_wrapped(o->help, 35);
    }
    printf("  -h, --help                       show this help\n");
}

int
cli_usage_error(const struct cli_cmd *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "certo %s: ", cmd->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see 'certo %s --help')\n", cmd->name);
    return 2;
}

static int
store_value(struct cli_args *a, size_t idx, const char *value)
{
    const struct cli_opt *o = &a->cmd->opts[idx];
    struct cli_val *v = &a->vals[idx];

    if (o->kind == CLI_MULTI) {
        v->multi = certo_reallocarray(v->multi, v->n_multi + 1, sizeof(*v->multi));
        v->multi[v->n_multi++] = value;
    } else {
        if (v->set)
            return cli_usage_error(a->cmd, "option --%s given twice", o->name);
        v->value = value;
    }
    v->set = true;
    return 0;
}

int
cli_parse(struct cli_args *out, const struct cli_cmd *cmd, int argc, char **argv, bool *done)
{
    size_t n = opt_count(cmd);
    bool only_pos = false;

    memset(out, 0, sizeof(*out));
    *done = false;
    out->cmd = cmd;
    out->vals = certo_calloc(n + 1, sizeof(*out->vals));
    out->pos = certo_calloc((size_t)argc + 1, sizeof(*out->pos));

    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (only_pos || arg[0] != '-' || strcmp(arg, "-") == 0) {
            out->pos[out->n_pos++] = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            only_pos = true;
            continue;
        }
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            print_help(cmd);
            *done = true;
            return 0;
        }
        size_t idx = n;
        const char *inline_val = NULL;
        if (arg[1] == '-') {
            const char *name = arg + 2;
            const char *eq = strchr(name, '=');
            size_t len = eq != NULL ? (size_t)(eq - name) : strlen(name);
            for (size_t k = 0; k < n; k++) {
                if (name_eq(name, len, cmd->opts[k].name)) {
                    idx = k;
                    break;
                }
            }
            if (eq != NULL)
                inline_val = eq + 1;
            if (idx == n)
                return cli_usage_error(cmd, "unknown option --%.*s", (int)len, name);
        } else {
            for (size_t k = 0; k < n; k++) {
                if (arg[2] == '\0' && cmd->opts[k].short_name == arg[1]) {
                    idx = k;
                    break;
                }
            }
            if (idx == n)
                return cli_usage_error(cmd, "unknown option %s", arg);
        }
        const struct cli_opt *o = &cmd->opts[idx];
        if (o->kind == CLI_FLAG) {
            if (inline_val != NULL)
                return cli_usage_error(cmd, "option --%s takes no value", o->name);
            out->vals[idx].set = true;
            continue;
        }
        if (inline_val == NULL) {
            if (i + 1 >= argc)
                return cli_usage_error(cmd, "option --%s needs a value", o->name);
            inline_val = argv[++i];
        }
        int r = store_value(out, idx, inline_val);
        if (r != 0)
            return r;
    }
    if (out->n_pos < cmd->min_pos)
        return cli_usage_error(cmd, "missing argument: %s", cmd->usage);
    if (out->n_pos > cmd->max_pos)
        return cli_usage_error(cmd, "unexpected argument '%s'", out->pos[cmd->max_pos]);
    return 0;
}

void
cli_args_dispose(struct cli_args *a)
{
    size_t n = a->cmd != NULL ? opt_count(a->cmd) : 0;
    for (size_t i = 0; a->vals != NULL && i < n; i++)
        certo_free(a->vals[i].multi);
    CERTO_FREE(a->vals);
    CERTO_FREE(a->pos);
}

static const struct cli_val *
find_val(const struct cli_args *a, const char *name)
{
    for (size_t i = 0; a->cmd->opts != NULL && a->cmd->opts[i].name != NULL; i++) {
        if (cli_opt_name_eq(a->cmd->opts[i].name, name))
            return &a->vals[i];
    }
    /* Asking for an option the table does not have is a programming error. */
    CERTO_ASSERT(!"option not in the command's table");
    return NULL;
}

const char *
cli_get(const struct cli_args *a, const char *name)
{
    const struct cli_val *v = find_val(a, name);
    return v != NULL && v->set ? v->value : NULL;
}

const char *
cli_db_url(const struct cli_args *a)
{
    const char *v = cli_get(a, "db");

    if (v == NULL)
        v = getenv("CERTO_DB");
    return v != NULL && v[0] != '\0' ? v : NULL;
}

bool
cli_has(const struct cli_args *a, const char *name)
{
    const struct cli_val *v = find_val(a, name);
    return v != NULL && v->set;
}

const char *const *
cli_get_multi(const struct cli_args *a, const char *name, size_t *n)
{
    const struct cli_val *v = find_val(a, name);
    *n = v != NULL ? v->n_multi : 0;
    return v != NULL ? (const char *const *)v->multi : NULL;
}

/* Reads one line from the terminal without echo. */
static certo_rc
prompt_line(struct certo_secret **out, const char *prompt)
{
    char line[CERTO_SECRET_MAX + 2];
    struct termios old, quiet;
    bool restore = false;
    certo_rc rc;

    *out = NULL;
    fprintf(stderr, "%s", prompt);
    fflush(stderr);
    if (tcgetattr(STDIN_FILENO, &old) == 0) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        restore = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
    }
    char *got = fgets(line, sizeof(line), stdin);
    if (restore)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    fprintf(stderr, "\n");
    if (got == NULL) {
        rc = CERTO_EINVAL;
        goto out;
    }
    line[strcspn(line, "\r\n")] = '\0';
    rc = certo_secret_from_str(out, line);
out:
    OPENSSL_cleanse(line, sizeof(line));
    return rc;
}

certo_rc
cli_secret(struct certo_secret **out, const struct cli_args *a, const char *name,
           const char *prompt, bool confirm, struct certo_err *err)
{
    char file_opt[64], env_opt[64];
    const char *direct, *file, *env;
    struct certo_secret *again = NULL;
    certo_rc rc = CERTO_OK;

    *out = NULL;
    snprintf(file_opt, sizeof(file_opt), "%s-file", name);
    snprintf(env_opt, sizeof(env_opt), "%s-env", name);
    direct = cli_get(a, name);
    file = cli_get(a, file_opt);
    env = cli_get(a, env_opt);
    if ((direct != NULL) + (file != NULL) + (env != NULL) > 1)
        return certo_err_set(err, CERTO_EINVAL, "cli", "give only one of --%s, --%s, --%s", name,
                             file_opt, env_opt);
    if (direct != NULL) {
        rc = certo_secret_from_str(out, direct);
    } else if (file != NULL) {
        rc = certo_secret_load_file(out, file);
        if (rc != CERTO_OK)
            return certo_err_sys(err, rc, "cli", "--%s: cannot read %s", file_opt, file);
    } else if (env != NULL) {
        const char *v = getenv(env);
        if (v == NULL)
            return certo_err_set(err, CERTO_EINVAL, "cli",
                                 "--%s: environment variable %s is not set", env_opt, env);
        rc = certo_secret_from_str(out, v);
    } else if (prompt != NULL && isatty(STDIN_FILENO)) {
        rc = prompt_line(out, prompt);
        if (rc == CERTO_OK && confirm) {
            rc = prompt_line(&again, "Again: ");
            if (rc == CERTO_OK && !certo_secret_equal(*out, again))
                rc = certo_err_set(err, CERTO_EINVAL, "cli", "the two passwords differ");
        }
    }
    certo_secret_free(again);
    if (rc != CERTO_OK) {
        certo_secret_free(*out);
        *out = NULL;
        if (rc == CERTO_ETOOBIG)
            return certo_err_set(err, rc, "cli", "--%s: longer than %d bytes", name,
                                 CERTO_SECRET_MAX);
        return certo_err_set(err, rc, "cli", "--%s: cannot read the secret", name);
    }
    return CERTO_OK;
}

certo_rc
cli_int(int *out, const struct cli_args *a, const char *name, int def, int min, int max,
        struct certo_err *err)
{
    const char *v = cli_get(a, name);
    char *end = NULL;
    long n;

    *out = def;
    if (v == NULL)
        return CERTO_OK;
    errno = 0;
    n = strtol(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || n < min || n > max)
        return certo_err_set(err, CERTO_EINVAL, "cli", "--%s: '%s' is not an integer from %d to %d",
                             name, v, min, max);
    *out = (int)n;
    return CERTO_OK;
}

certo_rc
cli_read_file(struct certo_buf *out, const char *path, size_t max, const char *what,
              struct certo_err *err)
{
    certo_rc rc;

    certo_buf_init(out, max);
    rc = certo_file_read(out, path);
    if (rc == CERTO_ETOOBIG)
        return certo_err_set(err, rc, "cli", "%s %s: larger than the limit of %zu bytes", what,
                             path, max);
    if (rc != CERTO_OK)
        return certo_err_sys(err, rc, "cli", "%s %s: cannot read", what, path);
    return CERTO_OK;
}

certo_rc
cli_write_file(const char *path, const void *data, size_t len, mode_t mode, struct certo_err *err)
{
    certo_rc rc;

    if (strcmp(path, "-") == 0) {
        if (fwrite(data, 1, len, stdout) != len || fflush(stdout) != 0)
            return certo_err_sys(err, CERTO_EIO, "cli", "cannot write to standard output");
        return CERTO_OK;
    }
    rc = certo_file_replace(path, data, len, mode);
    if (rc != CERTO_OK)
        return certo_err_sys(err, rc, "cli", "cannot write %s", path);
    return CERTO_OK;
}

certo_rc
cli_check_distinct(const char *in, const char *out, const char *out_opt, struct certo_err *err)
{
    struct stat si, so;

    if (strcmp(out, "-") == 0 || stat(in, &si) != 0 || stat(out, &so) != 0)
        return CERTO_OK;
    if (si.st_dev == so.st_dev && si.st_ino == so.st_ino)
        return certo_err_set(err, CERTO_EINVAL, "cli",
                             "--%s: %s is the input file; write to another file", out_opt, out);
    return CERTO_OK;
}

int
cli_fail(const struct cli_cmd *cmd, certo_rc rc, const struct certo_err *err)
{
    if (err != NULL && err->rc != CERTO_OK && err->msg[0] != '\0')
        fprintf(stderr, "certo %s: %s\n", cmd->name, err->msg);
    else
        fprintf(stderr, "certo %s: failed (%s)\n", cmd->name, certo_rc_name(rc));
    return certo_rc_exit_code(rc);
}

certo_rc
cli_json_str(struct certo_buf *b, const char *s)
{
    certo_rc rc = certo_buf_append(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; rc == CERTO_OK && *p != '\0'; p++) {
        if (*p == '"' || *p == '\\')
            rc = certo_buf_printf(b, "\\%c", *p);
        else if (*p < 0x20)
            rc = certo_buf_printf(b, "\\u%04x", *p);
        else
            rc = certo_buf_append(b, p, 1);
    }
    if (rc == CERTO_OK)
        rc = certo_buf_append(b, "\"", 1);
    return rc;
}

certo_rc
cli_open_registry(struct certo_registry **reg, const struct cli_args *a, struct certo_err *err)
{
    char *dir = certo_registry_default_dir(cli_get(a, "data"));
    certo_rc rc = certo_registry_open(reg, dir, err);
    certo_free(dir);
    return rc;
}

const struct cli_opt cli_data_opts[] = {
    CLI_DATA_OPT,
    {NULL, 0, 0, NULL, NULL},
};

const struct cli_opt cli_data_json_opts[] = {
    CLI_DATA_OPT,
    {"json", 0, CLI_FLAG, NULL, "print JSON"},
    {NULL, 0, 0, NULL, NULL},
};

const struct cli_opt cli_data_db_opts[] = {
    CLI_DATA_OPT,
    CLI_DB_OPT,
    {NULL, 0, 0, NULL, NULL},
};

const struct cli_opt cli_data_db_json_opts[] = {
    CLI_DATA_OPT,
    CLI_DB_OPT,
    {"json", 0, CLI_FLAG, NULL, "print JSON"},
    {NULL, 0, 0, NULL, NULL},
};
