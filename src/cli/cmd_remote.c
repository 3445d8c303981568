/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Remote administration for the `certo` command (cli layer): the global options
 * (`certo --server URL --token-file F ... GROUP COMMAND`), the choice between working on
 * the database and calling a server, calls through a certo_session and their exit codes,
 * and `certo login` / `certo logout`. Secrets never come from argv: a token file, or a
 * password file, variable or prompt.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "certo/client.h"
#include "cli/cli.h"

#define LIST_PAGE 1000
#define LIST_MAX  100000

struct cli_remote_opts cli_remote;

/* The HTTP status of the last call, for the exit code of a failure. */
static int last_status;

/* ---- global options ---- */

static const struct {
    const char *name;
    size_t off;
} globals[] = {
    {"server", offsetof(struct cli_remote_opts, server)},
    {"token-file", offsetof(struct cli_remote_opts, token_file)},
    {"user", offsetof(struct cli_remote_opts, user)},
    {"password-file", offsetof(struct cli_remote_opts, password_file)},
    {"password-env", offsetof(struct cli_remote_opts, password_env)},
    {"server-ca", offsetof(struct cli_remote_opts, server_ca)},
    {"server-fingerprint", offsetof(struct cli_remote_opts, fingerprint)},
    {"client-cert", offsetof(struct cli_remote_opts, client_cert)},
    {"client-key", offsetof(struct cli_remote_opts, client_key)},
};

static const char **
global_slot(size_t i)
{
    return (const char **)(void *)((char *)&cli_remote + globals[i].off);
}

int
cli_remote_globals(int argc, char **argv)
{
    int i = 0;

    memset(&cli_remote, 0, sizeof(cli_remote));
    while (i < argc && strncmp(argv[i], "--", 2) == 0 && argv[i][2] != '\0') {
        const char *name = argv[i] + 2, *eq = strchr(name, '='), *value;
        size_t len = eq != NULL ? (size_t)(eq - name) : strlen(name), k;
        char typed[64];

        if (len >= sizeof(typed))
            break;
        memcpy(typed, name, len);
        typed[len] = '\0';
        for (k = 0; k < CERTO_ARRAY_LEN(globals); k++) {
            if (cli_opt_name_eq(typed, globals[k].name))
                break;
        }
        if (k == CERTO_ARRAY_LEN(globals))
            break; /* --help, --version, or a mistake main reports */
        if (eq != NULL) {
            value = eq + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            fprintf(stderr, "certo: option --%s needs a value\n", globals[k].name);
            return -1;
        }
        if (*global_slot(k) != NULL) {
            fprintf(stderr, "certo: option --%s given twice\n", globals[k].name);
            return -1;
        }
        if (value[0] == '\0') {
            fprintf(stderr, "certo: option --%s: empty value\n", globals[k].name);
            return -1;
        }
        *global_slot(k) = value;
        i++;
    }
    cli_remote.server_from_argv = cli_remote.server != NULL;
    if (cli_remote.server == NULL) {
        const char *v = getenv("CERTO_SERVER");
        cli_remote.server = v != NULL && v[0] != '\0' ? v : NULL;
    }
    return i;
}

/* True if 'name' is in the command's table and was given (no assertion otherwise). */
static bool
given(const struct cli_args *a, const char *name)
{
    for (size_t i = 0; a->cmd->opts != NULL && a->cmd->opts[i].name != NULL; i++) {
        if (cli_opt_name_eq(a->cmd->opts[i].name, name))
            return a->vals[i].set;
    }
    return false;
}

int
cli_dispatch(const struct cli_cmd *cmd, struct cli_args *a,
             int (*local)(const struct cli_cmd *, struct cli_args *),
             int (*remote)(const struct cli_cmd *, struct cli_args *))
{
    bool local_opts = given(a, "data") || given(a, "db");

    if (cli_remote.server_from_argv && local_opts)
        return cli_usage_error(cmd, "--server and --%s: give one (a server, or its database)",
                               given(a, "data") ? "data" : "db");
    if (cli_remote.server != NULL && !local_opts) {
        if (remote == NULL)
            return cli_usage_error(cmd, "does not run against a server (--server)");
        return remote(cmd, a);
    }
    if (local == NULL)
        return cli_usage_error(cmd, "needs a server: give --server URL (or set CERTO_SERVER)");
    return local(cmd, a);
}

/* ---- credentials ---- */

/* ~/.config/certo/token, or under $XDG_CONFIG_HOME (certo_free); NULL without a home. */
static char *
default_token_path(void)
{
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");

    if (xdg != NULL && xdg[0] == '/')
        return certo_asprintf("%s/certo/token", xdg);
    if (home != NULL && home[0] == '/')
        return certo_asprintf("%s/.config/certo/token", home);
    return NULL;
}

static certo_rc
read_token(struct certo_secret **out, const char *path, const char *what, struct certo_err *err)
{
    struct stat st;
    certo_rc rc = certo_secret_load_file(out, path);

    if (rc != CERTO_OK)
        return certo_err_sys(err, rc == CERTO_ETOOBIG ? rc : CERTO_EINVAL, "cli",
                             "%s %s: cannot read the token", what, path);
    if (stat(path, &st) == 0 && (st.st_mode & 077) != 0)
        fprintf(stderr, "certo: warning: token file %s can be read by other users (mode %04o)\n",
                path, (unsigned)(st.st_mode & 07777));
    return CERTO_OK;
}

/* Reads one line from the terminal without echo (the password of --user). */
static certo_rc
prompt_secret(struct certo_secret **out, const char *prompt)
{
    char line[CERTO_SECRET_MAX + 2];
    struct termios old, quiet;
    bool restore = false;
    char *got;
    certo_rc rc = CERTO_EINVAL;

    *out = NULL;
    fprintf(stderr, "%s", prompt);
    fflush(stderr);
    if (tcgetattr(STDIN_FILENO, &old) == 0) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        restore = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
    }
    got = fgets(line, sizeof(line), stdin);
    if (restore)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    fprintf(stderr, "\n");
    if (got != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        rc = certo_secret_from_str(out, line);
    }
    OPENSSL_cleanse(line, sizeof(line));
    return rc;
}

/* The password of --user: --password-file, --password-env, or a prompt on a terminal. */
static certo_rc
user_password(struct certo_secret **out, const char *user, struct certo_err *err)
{
    const char *file = cli_remote.password_file, *env = cli_remote.password_env;
    certo_rc rc;

    *out = NULL;
    if (file != NULL && env != NULL)
        return certo_err_set(err, CERTO_EINVAL, "cli",
                             "give only one of --password-file and --password-env");
    if (file != NULL) {
        rc = certo_secret_load_file(out, file);
        if (rc != CERTO_OK)
            return certo_err_sys(err, CERTO_EINVAL, "cli", "--password-file %s: cannot read", file);
    } else if (env != NULL) {
        const char *v = getenv(env);
        if (v == NULL || v[0] == '\0')
            return certo_err_set(err, CERTO_EINVAL, "cli",
                                 "--password-env: environment variable %s is not set or empty",
                                 env);
        rc = certo_secret_from_str(out, v);
        if (rc != CERTO_OK)
            return certo_err_set(err, rc, "cli", "--password-env: too long");
    } else if (isatty(STDIN_FILENO)) {
        char prompt[128];
        snprintf(prompt, sizeof(prompt), "Password of %.64s: ", user);
        rc = prompt_secret(out, prompt);
        if (rc != CERTO_OK)
            return certo_err_set(err, CERTO_EINVAL, "cli", "--user: no password given");
    } else {
        return certo_err_set(err, CERTO_EINVAL, "cli",
                             "--user needs --password-file FILE or --password-env VAR (no "
                             "terminal to ask on)");
    }
    if (certo_secret_len(*out) == 0) {
        certo_secret_free(*out);
        *out = NULL;
        return certo_err_set(err, CERTO_EINVAL, "cli", "--user: empty password");
    }
    return CERTO_OK;
}

/*
 * Opens a session. 'ttl' asks for a token life at a login (0: the server's);
 * 'token_path' (may be NULL) receives the token file used, borrowed or owned in *owned.
 */
static certo_rc
open_session(struct certo_session **out, int ttl, const char **token_path, char **owned,
             struct certo_err *err)
{
    struct certo_session_opts o = {0};
    struct certo_secret *token = NULL, *pw = NULL;
    const char *tf = cli_remote.token_file;
    char *def = NULL;
    certo_rc rc = CERTO_OK;

    *out = NULL;
    if (token_path != NULL)
        *token_path = NULL;
    if (owned != NULL)
        *owned = NULL;
    if (cli_remote.server == NULL)
        return certo_err_set(err, CERTO_EINVAL, "cli", "give --server URL (or set CERTO_SERVER)");
    if (tf != NULL && cli_remote.user != NULL)
        return certo_err_set(err, CERTO_EINVAL, "cli",
                             "give --token-file or --user with a password, not both");
    if ((cli_remote.password_file != NULL || cli_remote.password_env != NULL) &&
        cli_remote.user == NULL)
        return certo_err_set(err, CERTO_EINVAL, "cli",
                             "--password-file and --password-env need --user NAME");
    if (cli_remote.client_key != NULL && cli_remote.client_cert == NULL)
        return certo_err_set(err, CERTO_EINVAL, "cli", "--client-key needs --client-cert");
    if (cli_remote.server_ca != NULL && cli_remote.fingerprint != NULL)
        return certo_err_set(err, CERTO_EINVAL, "cli",
                             "give --server-ca or --server-fingerprint, not both");
    if (cli_remote.user != NULL) {
        rc = user_password(&pw, cli_remote.user, err);
        o.user = cli_remote.user;
        o.password = pw;
        o.token_ttl = ttl;
    } else {
        if (tf == NULL) {
            const char *env = getenv("CERTO_TOKEN_FILE");
            tf = env != NULL && env[0] != '\0' ? env : NULL;
        }
        if (tf == NULL) {
            def = default_token_path();
            if (def != NULL && access(def, F_OK) == 0)
                tf = def;
        }
        if (tf == NULL)
            rc = certo_err_set(err, CERTO_EINVAL, "cli",
                               "no credentials: give --token-file FILE (or run 'certo login'), "
                               "or --user NAME with --password-file or --password-env");
        else
            rc = read_token(&token, tf, "--token-file", err);
        o.token = token;
    }
    if (rc != CERTO_OK)
        goto out;
    o.url = cli_remote.server;
    o.ca_file = cli_remote.server_ca;
    o.fingerprint = cli_remote.fingerprint;
    o.client_cert = cli_remote.client_cert;
    o.client_key = cli_remote.client_key;
    rc = certo_session_open(out, &o, err);
    if (rc == CERTO_OK && tf != NULL && token_path != NULL) {
        *token_path = tf;
        if (tf == def && owned != NULL) {
            *owned = def;
            def = NULL;
        }
    }
out:
    certo_secret_free(token);
    certo_secret_free(pw);
    certo_free(def);
    return rc;
}

certo_rc
cli_remote_open(struct certo_session **out, struct certo_err *err)
{
    return open_session(out, 0, NULL, NULL, err);
}

/* ---- calls ---- */

certo_rc
cli_call(struct certo_session *s, const char *method, const char *path, json_t *body, json_t **out,
         struct certo_err *err)
{
    certo_rc rc = certo_session_call(s, method, path, body, out, &last_status, err);

    json_decref(body);
    return rc;
}

char *
cli_path_seg(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = certo_malloc(strlen(s) * 3 + 1), *p = out;

    for (const unsigned char *c = (const unsigned char *)s; *c != '\0'; c++) {
        if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
            *c == '-' || *c == '_' || *c == '.' || *c == '~') {
            *p++ = (char)*c;
        } else {
            *p++ = '%';
            *p++ = hex[*c >> 4];
            *p++ = hex[*c & 15];
        }
    }
    *p = '\0';
    return out;
}

/* {"href", "attributes": [{"name", "value"}...]} as one object with "href". */
static json_t *
link_object(json_t *link)
{
    json_t *obj = json_object(), *attrs = json_object_get(link, "attributes"), *v;
    size_t i;

    json_array_foreach(attrs, i, v)
    {
        const char *name = json_string_value(json_object_get(v, "name"));
        json_t *value = json_object_get(v, "value");
        if (name != NULL && value != NULL)
            json_object_set(obj, name, value);
    }
    if (json_is_string(json_object_get(link, "href")))
        json_object_set(obj, "href", json_object_get(link, "href"));
    return obj;
}

certo_rc
cli_call_list(struct certo_session *s, const char *path, json_t **out, struct certo_err *err)
{
    json_t *all = json_array(), *page = NULL, *links, *v;
    const char *sep = strchr(path, '?') != NULL ? "&" : "?";
    size_t start = 0, i;
    certo_rc rc = CERTO_OK;

    *out = NULL;
    for (;;) {
        char *p = certo_asprintf("%s%sstartIndex=%zu&maxResult=%d", path, sep, start, LIST_PAGE);
        json_int_t total;
        rc = cli_call(s, "GET", p, NULL, &page, err);
        certo_free(p);
        if (rc != CERTO_OK)
            goto out;
        links = json_object_get(page, "link");
        total = json_integer_value(json_object_get(page, "total"));
        if (!json_is_array(links)) {
            rc = certo_err_set(err, CERTO_EREMOTE, "cli", "%s: the answer is not a list", path);
            goto out;
        }
        json_array_foreach(links, i, v)
        {
            json_array_append_new(all, link_object(v));
        }
        start += json_array_size(links);
        json_decref(page);
        page = NULL;
        if (json_array_size(links) == 0 || (json_int_t)start >= total || start >= LIST_MAX)
            break;
    }
    *out = all;
    all = NULL;
out:
    json_decref(page);
    json_decref(all);
    return rc;
}

int
cli_remote_fail(const struct cli_cmd *cmd, certo_rc rc, const struct certo_err *err)
{
    const char *msg =
        err != NULL && err->rc != CERTO_OK && err->msg[0] != '\0' ? err->msg : certo_rc_name(rc);
    int code;

    if (rc == CERTO_ETLS && strstr(msg, "pinned") == NULL)
        fprintf(stderr,
                "certo %s: %s (give the server's certificate with --server-ca FILE, or its "
                "SHA-256 with --server-fingerprint)\n",
                cmd->name, msg);
    else
        fprintf(stderr, "certo %s: %s\n", cmd->name, msg);
    if (last_status >= 400 && last_status < 500)
        code = 2;
    else if (last_status >= 500)
        code = 1;
    else
        code = certo_rc_exit_code(rc);
    last_status = 0;
    return code;
}

void
cli_time_text(char out[32], const char *rfc3339)
{
    if (rfc3339 == NULL || strlen(rfc3339) != 20 || rfc3339[10] != 'T' || rfc3339[19] != 'Z') {
        snprintf(out, 32, "%s", rfc3339 != NULL ? rfc3339 : "?");
        return;
    }
    snprintf(out, 32, "%.10s %.8s UTC", rfc3339, rfc3339 + 11);
}

/* ---- login / logout ---- */

#define CONNECT_OPTS                                                                               \
    {"server", 0, CLI_VALUE, "URL", "the server, https://HOST:PORT (default $CERTO_SERVER)"},      \
        {"server-ca", 0, CLI_VALUE, "FILE",                                                        \
         "trust only the certificates of FILE for the server (its own, or its CA)"},               \
        {"server-fingerprint", 0, CLI_VALUE, "SHA256",                                             \
         "accept only a server certificate with this SHA-256 (colons optional)"},                  \
        {"client-cert", 0, CLI_VALUE, "FILE",                                                      \
         "present this client certificate (PEM): the token is bound to it"},                       \
    {                                                                                              \
        "client-key", 0, CLI_VALUE, "FILE", "the key of --client-cert (PEM, unencrypted)"          \
    }

static const struct cli_opt login_opts[] = {
    CONNECT_OPTS,
    {"user", 'u', CLI_VALUE, "NAME", "the user to log in as (asked on a terminal when missing)"},
    {"password-file", 0, CLI_VALUE, "FILE", "the password, first line of FILE"},
    {"password-env", 0, CLI_VALUE, "VAR", "the password, from environment variable VAR"},
    {"out", 'o', CLI_VALUE, "TOKENFILE",
     "write the token here (default: $CERTO_TOKEN_FILE, else ~/.config/certo/token)"},
    {"expires-in", 0, CLI_VALUE, "SECONDS", "ask for a token of this life (60-28800)"},
    {NULL, 0, 0, NULL, NULL},
};

static const struct cli_opt logout_opts[] = {
    CONNECT_OPTS,
    {"token-file", 0, CLI_VALUE, "FILE",
     "the token to revoke (default: $CERTO_TOKEN_FILE, else ~/.config/certo/token)"},
    {"keep-file", 0, CLI_FLAG, NULL, "do not remove the token file"},
    {NULL, 0, 0, NULL, NULL},
};

/* Command options override the global ones of the same name. */
static int
merge_opts(const struct cli_cmd *cmd, const struct cli_args *a)
{
    for (size_t k = 0; k < CERTO_ARRAY_LEN(globals); k++) {
        const char *v = NULL;
        if (!given(a, globals[k].name))
            continue;
        v = cli_get(a, globals[k].name);
        if (v[0] == '\0')
            return cli_usage_error(cmd, "--%s: empty value", globals[k].name);
        *global_slot(k) = v;
    }
    if (given(a, "server"))
        cli_remote.server_from_argv = true;
    return 0;
}

/* Creates the directories of the default token file (0700). */
static certo_rc
make_parent(const char *path, struct certo_err *err)
{
    char *dir = certo_strdup(path);
    certo_rc rc = CERTO_OK;

    for (char *p = dir + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
            rc = certo_err_sys(err, CERTO_EIO, "cli", "cannot create %s", dir);
            break;
        }
        *p = '/';
    }
    certo_free(dir);
    return rc;
}

static int
run_login(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0};
    struct certo_session *s = NULL;
    const struct certo_secret *tok;
    const char *out = cli_get(a, "out");
    char *path = NULL, *data = NULL, user[256];
    size_t n = 0;
    int ttl = 0, code = merge_opts(cmd, a);
    const struct certo_file_as as = {.mode = 0600, .uid = getuid(), .gid = getgid()};
    certo_rc rc;

    if (code != 0)
        return code;
    if (cli_remote.server == NULL)
        return cli_usage_error(cmd, "missing --server URL");
    if (cli_remote.token_file != NULL)
        return cli_usage_error(cmd, "--token-file: login makes a token, it does not take one");
    if (out != NULL && (out[0] == '\0' || strcmp(out, "-") == 0))
        return cli_usage_error(cmd, "--out: a file name (the token is never printed)");
    if (cli_int(&ttl, a, "expires-in", 0, 60, 28800, &err) != CERTO_OK)
        return cli_usage_error(cmd, "%s", err.msg);
    if (cli_remote.user == NULL) {
        if (!isatty(STDIN_FILENO))
            return cli_usage_error(cmd, "missing --user NAME");
        fprintf(stderr, "User: ");
        fflush(stderr);
        if (fgets(user, sizeof(user), stdin) == NULL)
            return cli_usage_error(cmd, "missing --user NAME");
        user[strcspn(user, "\r\n")] = '\0';
        cli_remote.user = user;
    }
    if (out == NULL) {
        const char *env = getenv("CERTO_TOKEN_FILE");
        path = env != NULL && env[0] != '\0' ? certo_strdup(env) : default_token_path();
        if (path == NULL)
            return cli_usage_error(cmd, "missing --out TOKENFILE (no home directory)");
    } else {
        path = certo_strdup(out);
    }
    rc = open_session(&s, ttl, NULL, NULL, &err);
    if (rc != CERTO_OK)
        goto out;
    tok = certo_session_token_get0(s);
    n = certo_secret_len(tok) + 1;
    data = OPENSSL_secure_malloc(n + 1);
    if (data == NULL) {
        rc = certo_err_set(&err, CERTO_ENOMEM, "cli", "out of memory");
        goto out;
    }
    memcpy(data, certo_secret_get0(tok), n - 1);
    data[n - 1] = '\n';
    data[n] = '\0';
    if (out == NULL)
        rc = make_parent(path, &err);
    if (rc == CERTO_OK) {
        rc = certo_file_replace_as(path, data, n, &as);
        if (rc != CERTO_OK)
            rc = certo_err_sys(&err, rc, "cli", "cannot write the token file %s", path);
    }
    if (rc == CERTO_OK)
        printf("logged in to %s as %s; token (valid %d s) written to %s\n",
               certo_session_url_get0(s), cli_remote.user, certo_session_token_ttl(s), path);
out:
    if (data != NULL)
        OPENSSL_secure_clear_free(data, n + 1);
    certo_session_close(s);
    certo_free(path);
    return rc == CERTO_OK ? 0 : cli_remote_fail(cmd, rc, &err);
}

static int
run_logout(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0};
    struct certo_session *s = NULL;
    const char *path = NULL;
    char *owned = NULL;
    int code = merge_opts(cmd, a);
    certo_rc rc;

    if (code != 0)
        return code;
    if (cli_remote.server == NULL)
        return cli_usage_error(cmd, "missing --server URL");
    if (cli_remote.user != NULL)
        return cli_usage_error(cmd, "--user: logout revokes the token of a token file");
    rc = open_session(&s, 0, &path, &owned, &err);
    if (rc == CERTO_OK)
        rc = cli_call(s, "DELETE", "/auth/tokens/current", NULL, NULL, &err);
    if (rc != CERTO_OK)
        goto out;
    if (path != NULL && !cli_has(a, "keep-file") && unlink(path) != 0) {
        rc = certo_err_sys(&err, CERTO_EIO, "cli", "token revoked, but %s stays", path);
        goto out;
    }
    printf("logged out of %s: token revoked%s%s%s\n", certo_session_url_get0(s),
           path != NULL && !cli_has(a, "keep-file") ? ", " : "",
           path != NULL && !cli_has(a, "keep-file") ? path : "",
           path != NULL && !cli_has(a, "keep-file") ? " removed" : "");
out:
    certo_session_close(s);
    certo_free(owned);
    return rc == CERTO_OK ? 0 : cli_remote_fail(cmd, rc, &err);
}

const struct cli_cmd cli_login_cmds[] = {
    {"login",
     "--server URL [--user NAME] [--password-file F|--password-env V] [--server-ca FILE | "
     "--server-fingerprint SHA256] [--client-cert F --client-key F] [-o TOKENFILE]",
     "log in to a server and keep the token in a file (mode 0600)", login_opts, 0, 0, run_login,
     NULL},
    {NULL, NULL, NULL, NULL, 0, 0, NULL, NULL},
};

const struct cli_cmd cli_logout_cmds[] = {
    {"logout", "[--server URL] [--token-file F] [--keep-file]",
     "revoke the token of a token file on its server, and remove the file", logout_opts, 0, 0,
     run_logout, NULL},
    {NULL, NULL, NULL, NULL, 0, 0, NULL, NULL},
};
