/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Credential stores (gateway layer): how users plug a vault or PAM tool into Certo.
 * An exec store is a program that reads a credential ID on stdin and prints one JSON
 * object; a file store is a JSON file of such objects keyed by ID that only its owner may
 * read. Credentials are fetched when a connection is made and never stored or logged;
 * jansson's copies are wiped when freed (see wipe_free).
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "certo/exec.h"
#include "certo/file.h"
#include "certo/limits.h"
#include "certo/mem.h"
#include "gateway/gateway.h"

#define STORE_NAME_MAX  32
#define STORE_FILE_MAX  (4u * 1024 * 1024)
#define EXEC_TIMEOUT_MS 30000

/*
 * jansson keeps parsed strings in its own allocations. These wrappers put the size in
 * front of each block so that free can wipe it: passwords parsed from a store do not
 * linger in freed heap memory.
 */
static void *
wipe_malloc(size_t n)
{
    size_t *p = certo_malloc(n + sizeof(size_t));
    *p = n;
    return p + 1;
}

static void
wipe_free(void *ptr)
{
    if (ptr == NULL)
        return;
    size_t *p = (size_t *)ptr - 1;
    certo_free_clear(p, *p + sizeof(size_t));
}

/*
 * jansson's allocator is process-wide: it must be in place before the first jansson
 * allocation of the process, or a value made with malloc would later be freed by
 * wipe_free (and the other way round). Installing it lazily at the first parse would
 * break any other part of the program (the server's JSON replies) that used jansson
 * earlier. So it is installed when the program starts, in every program that links this
 * file.
 */
__attribute__((constructor)) static void
set_alloc(void)
{
    json_set_alloc_funcs(wipe_malloc, wipe_free);
}

void
certo_credential_dispose(struct certo_credential *c)
{
    if (c == NULL)
        return;
    CERTO_FREE(c->user);
    CERTO_FREE(c->ssh_key_path);
    certo_secret_free(c->password);
    certo_secret_free(c->ssh_key);
    certo_secret_free(c->ssh_key_password);
    c->password = c->ssh_key = c->ssh_key_password = NULL;
}

static certo_rc
check_name(const char *name, struct certo_err *err)
{
    size_t len = strlen(name);

    if (len == 0 || len > STORE_NAME_MAX)
        return certo_err_set(err, CERTO_EINVAL, "gateway.credstore",
                             "credential store name must be between 1 and %d characters",
                             STORE_NAME_MAX);
    for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++) {
        if (*p < 0x20 || *p == 0x7f || *p == '/')
            return certo_err_set(err, CERTO_EINVAL, "gateway.credstore",
                                 "credential store name must not contain control characters "
                                 "or '/'");
    }
    return CERTO_OK;
}

/* A file store must be the owner's secret: no group or other permission bits. */
static certo_rc
check_private(const char *path, struct certo_err *err)
{
    struct stat st;

    if (stat(path, &st) != 0)
        return certo_err_sys(err, certo_file_rc_from_errno(errno), "gateway.credstore",
                             "credential file %s", path);
    if (!S_ISREG(st.st_mode))
        return certo_err_set(err, CERTO_EINVAL, "gateway.credstore",
                             "credential file %s is not a regular file", path);
    if ((st.st_mode & 077) != 0)
        return certo_err_set(err, CERTO_EPERM, "gateway.credstore",
                             "credential file %s may be read by others (mode %03o; chmod 600)",
                             path, (unsigned)(st.st_mode & 0777));
    return CERTO_OK;
}

static certo_rc
load_json(json_t **out, const struct certo_buf *b, const char *what, struct certo_err *err)
{
    json_error_t jerr;
    json_t *j;

    *out = NULL;
    j = json_loadb((const char *)b->data, b->len, JSON_REJECT_DUPLICATES, &jerr);
    if (j == NULL)
        /* jansson's text quotes no input past the position, so no secret leaks here. */
        return certo_err_set(err, CERTO_EPARSE, "gateway.credstore",
                             "%s is not valid JSON (line %d, column %d)", what, jerr.line,
                             jerr.column);
    if (!json_is_object(j)) {
        json_decref(j);
        return certo_err_set(err, CERTO_EPARSE, "gateway.credstore", "%s is not a JSON object",
                             what);
    }
    *out = j;
    return CERTO_OK;
}

certo_rc
certo_credstore__check(struct certo_credstore *cs, struct certo_err *err)
{
    struct certo_buf b;
    json_t *j = NULL;
    certo_rc rc;

    rc = check_name(cs->name, err);
    if (rc != CERTO_OK)
        return rc;
    if (cs->target == NULL || cs->target[0] == '\0')
        return certo_err_set(err, CERTO_EINVAL, "gateway.credstore",
                             "--%s is required for a %s store",
                             cs->type == CERTO_CREDSTORE_EXEC ? "command" : "path",
                             certo_credstore_type_name(cs->type));
    if (strlen(cs->target) > CERTO_PATH_MAX)
        return certo_err_set(err, CERTO_EINVAL, "gateway.credstore",
                             "--%s must be at most %d characters",
                             cs->type == CERTO_CREDSTORE_EXEC ? "command" : "path", CERTO_PATH_MAX);
    if (cs->target[0] != '/') {
        char cwd[CERTO_PATH_MAX + 1];
        if (getcwd(cwd, sizeof(cwd)) == NULL)
            return certo_err_sys(err, CERTO_EIO, "gateway.credstore", "no current directory");
        const char *rel = cs->target;
        while (rel[0] == '.' && rel[1] == '/')
            rel += 2;
        char *abs = certo_asprintf("%s/%s", strcmp(cwd, "/") == 0 ? "" : cwd, rel);
        certo_free(cs->target);
        cs->target = abs;
    }
    if (cs->type == CERTO_CREDSTORE_EXEC) {
        struct stat st;
        if (stat(cs->target, &st) != 0)
            return certo_err_sys(err, certo_file_rc_from_errno(errno), "gateway.credstore",
                                 "--command %s", cs->target);
        if (!S_ISREG(st.st_mode) || access(cs->target, X_OK) != 0)
            return certo_err_set(err, CERTO_EPERM, "gateway.credstore",
                                 "--command %s is not an executable file", cs->target);
        if ((st.st_mode & 002) != 0)
            return certo_err_set(err, CERTO_EPERM, "gateway.credstore",
                                 "--command %s may be changed by any user (chmod o-w)", cs->target);
        return CERTO_OK;
    }
    if (cs->type != CERTO_CREDSTORE_FILE)
        return certo_err_set(err, CERTO_EINVAL, "gateway.credstore", "--type must be exec or file");
    rc = check_private(cs->target, err);
    if (rc != CERTO_OK)
        return rc;
    certo_buf_init(&b, STORE_FILE_MAX);
    rc = certo_file_read(&b, cs->target);
    if (rc != CERTO_OK)
        rc = certo_err_sys(err, rc, "gateway.credstore", "--path %s", cs->target);
    else
        rc = load_json(&j, &b, "--path file", err);
    json_decref(j);
    certo_buf_dispose(&b);
    return rc;
}

static certo_rc
take_secret(struct certo_secret **out, json_t *obj, const char *key, const char *what,
            struct certo_err *err)
{
    json_t *v = json_object_get(obj, key);

    if (v == NULL || json_is_null(v))
        return CERTO_OK;
    if (!json_is_string(v))
        return certo_err_set(err, CERTO_EPARSE, "gateway.credstore", "%s: \"%s\" is not a string",
                             what, key);
    if (certo_secret_new(out, json_string_value(v), json_string_length(v)) != CERTO_OK)
        return certo_err_set(err, CERTO_ETOOBIG, "gateway.credstore", "%s: \"%s\" is too long",
                             what, key);
    return CERTO_OK;
}

static certo_rc
take_text(char **out, json_t *obj, const char *key, const char *what, struct certo_err *err)
{
    json_t *v = json_object_get(obj, key);

    if (v == NULL || json_is_null(v))
        return CERTO_OK;
    if (!json_is_string(v) || json_string_length(v) == 0 ||
        json_string_length(v) > CERTO_PATH_MAX ||
        strlen(json_string_value(v)) != json_string_length(v))
        return certo_err_set(err, CERTO_EPARSE, "gateway.credstore",
                             "%s: \"%s\" is not a usable string", what, key);
    *out = certo_strdup(json_string_value(v));
    return CERTO_OK;
}

static certo_rc
credential_from(struct certo_credential *out, json_t *obj, const char *what, struct certo_err *err)
{
    certo_rc rc;

    if (!json_is_object(obj))
        return certo_err_set(err, CERTO_EPARSE, "gateway.credstore", "%s is not a JSON object",
                             what);
    rc = take_text(&out->user, obj, "user", what, err);
    if (rc == CERTO_OK)
        rc = take_text(&out->ssh_key_path, obj, "ssh_key_path", what, err);
    if (rc == CERTO_OK)
        rc = take_secret(&out->password, obj, "password", what, err);
    if (rc == CERTO_OK)
        rc = take_secret(&out->ssh_key, obj, "ssh_key", what, err);
    if (rc == CERTO_OK)
        rc = take_secret(&out->ssh_key_password, obj, "ssh_key_password", what, err);
    if (rc == CERTO_OK && out->password == NULL && out->ssh_key == NULL &&
        out->ssh_key_path == NULL)
        rc = certo_err_set(err, CERTO_EPARSE, "gateway.credstore",
                           "%s has no \"password\", \"ssh_key\" or \"ssh_key_path\"", what);
    return rc;
}

certo_rc
certo_credstore__parse_file(const struct certo_buf *data, const char *id, const char *what,
                            struct certo_credential *out, struct certo_err *err)
{
    char entry_what[160];
    json_t *j = NULL;
    json_t *entry;
    certo_rc rc;

    memset(out, 0, sizeof(*out));
    rc = load_json(&j, data, what, err);
    if (rc != CERTO_OK)
        return rc;
    entry = json_object_get(j, id);
    if (entry == NULL) {
        rc = certo_err_set(err, CERTO_ENOTFOUND, "gateway.credstore",
                           "%s has no credential ID '%.64s'", what, id);
    } else {
        snprintf(entry_what, sizeof(entry_what), "%s, ID '%.40s'", what, id);
        rc = credential_from(out, entry, entry_what, err);
    }
    json_decref(j);
    if (rc != CERTO_OK)
        certo_credential_dispose(out);
    return rc;
}

certo_rc
certo_credstore__parse_answer(const struct certo_buf *data, const char *what,
                              struct certo_credential *out, struct certo_err *err)
{
    json_t *j = NULL;
    certo_rc rc;

    memset(out, 0, sizeof(*out));
    rc = load_json(&j, data, what, err);
    if (rc == CERTO_OK)
        rc = credential_from(out, j, what, err);
    json_decref(j);
    if (rc != CERTO_OK)
        certo_credential_dispose(out);
    return rc;
}

static certo_rc
fetch_file(const struct certo_credstore *cs, const char *id, struct certo_credential *out,
           struct certo_err *err)
{
    struct certo_buf b;
    char what[128];
    certo_rc rc;

    rc = check_private(cs->target, err);
    if (rc != CERTO_OK)
        return rc;
    certo_buf_init(&b, STORE_FILE_MAX);
    rc = certo_file_read(&b, cs->target);
    if (rc != CERTO_OK)
        rc = certo_err_sys(err, rc, "gateway.credstore", "credential store '%s': %s", cs->name,
                           cs->target);
    snprintf(what, sizeof(what), "credential store '%s'", cs->name);
    if (rc == CERTO_OK)
        rc = certo_credstore__parse_file(&b, id, what, out, err);
    certo_buf_dispose(&b);
    return rc;
}

/*
 * The program's protocol: the ID and a newline on stdin; on success exit 0 and one JSON
 * object on stdout; exit 1 with nothing on stdout means "no such ID"; anything else is a
 * failure of the store. Its stderr is not shown: a vault tool may print what it fetched.
 */
static certo_rc
fetch_exec(const struct certo_credstore *cs, const char *id, struct certo_credential *out,
           struct certo_err *err)
{
    const char *argv[] = {cs->target, NULL};
    struct certo_exec_opts o = {0};
    struct certo_exec_result r;
    char *input = certo_asprintf("%s\n", id);
    char what[128];
    certo_rc rc;

    o.argv = argv;
    o.input = input;
    o.input_len = strlen(input);
    o.max_output = 1024 * 1024;
    o.timeout_ms = EXEC_TIMEOUT_MS;
    rc = certo_exec_run(&o, &r);
    if (rc != CERTO_OK) {
        rc = certo_err_sys(err, rc == CERTO_ENOTFOUND ? CERTO_ENOTFOUND : CERTO_EREMOTE,
                           "gateway.credstore", "credential store '%s': cannot run %s", cs->name,
                           cs->target);
        goto out;
    }
    if (r.timed_out) {
        rc = certo_err_set(err, CERTO_ETIMEDOUT, "gateway.credstore",
                           "credential store '%s': %s did not answer within %d s", cs->name,
                           cs->target, EXEC_TIMEOUT_MS / 1000);
        goto out;
    }
    if (r.exit_code == 1 && r.out.len == 0) {
        rc = certo_err_set(err, CERTO_ENOTFOUND, "gateway.credstore",
                           "credential store '%s' has no credential ID '%.64s'", cs->name, id);
        goto out;
    }
    if (r.exit_code != 0) {
        rc = certo_err_set(err, CERTO_EREMOTE, "gateway.credstore",
                           "credential store '%s': %s failed (exit %d, signal %d) for ID '%.64s'",
                           cs->name, cs->target, r.exit_code, r.term_signal, id);
        goto out;
    }
    snprintf(what, sizeof(what), "credential store '%s' output", cs->name);
    if (r.out_truncated) {
        rc = certo_err_set(err, CERTO_ETOOBIG, "gateway.credstore", "%s is too large", what);
        goto out;
    }
    rc = certo_credstore__parse_answer(&r.out, what, out, err);
out:
    certo_exec_result_dispose(&r);
    certo_free(input);
    return rc;
}

certo_rc
certo_credstore_fetch(const struct certo_credstore *cs, const char *id,
                      struct certo_credential *out, struct certo_err *err)
{
    certo_rc rc;

    memset(out, 0, sizeof(*out));
    if (cs->type == CERTO_CREDSTORE_FILE)
        rc = fetch_file(cs, id, out, err);
    else if (cs->type == CERTO_CREDSTORE_EXEC)
        rc = fetch_exec(cs, id, out, err);
    else
        rc = certo_err_set(err, CERTO_EUNSUPPORTED, "gateway.credstore",
                           "credential store '%s' has an unknown type", cs->name);
    if (rc != CERTO_OK)
        certo_credential_dispose(out);
    return rc;
}
