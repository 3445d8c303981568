/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The local transport (transport layer): the endpoint is on the gateway's own host.
 * Files go through util/file.c's atomic replacement; programs through certo_exec_run.
 * Holds no state.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "certo/file.h"
#include "certo/mem.h"
#include "certo/sys/transport.h"

static certo_rc
local_open(void *ctx, const char *target, struct certo_err *err)
{
    (void)ctx;
    (void)target;
    (void)err;
    return CERTO_OK;
}

static void
local_close(void *ctx)
{
    (void)ctx;
}

static certo_rc
local_exec(void *ctx, const struct certo_exec_opts *o, struct certo_exec_result *r,
           struct certo_err *err)
{
    certo_rc rc = certo_exec_run(o, r);
    (void)ctx;
    if (rc != CERTO_OK)
        return certo_err_sys(err, rc, "transport.local", "cannot run %s",
                             o->argv != NULL && o->argv[0] != NULL ? o->argv[0] : "(nothing)");
    return CERTO_OK;
}

static certo_rc
local_get(void *ctx, const char *path, struct certo_buf *out, struct certo_err *err)
{
    certo_rc rc = certo_file_read(out, path);
    (void)ctx;
    if (rc == CERTO_ETOOBIG)
        return certo_err_set(err, rc, "transport.local", "%s is larger than %zu bytes", path,
                             out->max);
    if (rc != CERTO_OK)
        return certo_err_sys(err, rc, "transport.local", "cannot read %s", path);
    return CERTO_OK;
}

/* A file like 'meta' (a staged copy of someone else's file, a restored backup) gets its
 * mode and owner before it is renamed into place (certo_file_replace_as). */
static certo_rc
local_put(void *ctx, const char *path, const void *data, size_t len,
          const struct certo_file_meta *meta, struct certo_err *err)
{
    certo_rc rc;

    (void)ctx;
    if (meta != NULL && meta->exists) {
        struct certo_file_as as = {meta->mode, meta->uid, meta->gid};
        rc = certo_file_replace_as(path, data, len, &as);
    } else {
        rc = certo_file_replace(path, data, len, meta != NULL ? meta->mode : 0600);
    }
    if (rc != CERTO_OK)
        return certo_err_sys(err, rc, "transport.local", "cannot write %s", path);
    return CERTO_OK;
}

static certo_rc
local_rename(void *ctx, const char *from, const char *to, struct certo_err *err)
{
    (void)ctx;
    if (rename(from, to) != 0)
        return certo_err_sys(err, certo_file_rc_from_errno(errno), "transport.local",
                             "cannot rename %s to %s", from, to);
    char *dir = certo_path_dirname(to);
    certo_rc rc = certo_file_sync_dir(dir);
    certo_free(dir);
    if (rc != CERTO_OK)
        return certo_err_sys(err, rc, "transport.local", "cannot sync the directory of %s", to);
    return CERTO_OK;
}

static certo_rc
local_remove(void *ctx, const char *path, struct certo_err *err)
{
    (void)ctx;
    if (unlink(path) != 0 && errno != ENOENT)
        return certo_err_sys(err, certo_file_rc_from_errno(errno), "transport.local",
                             "cannot remove %s", path);
    return CERTO_OK;
}

static certo_rc
local_stat(void *ctx, const char *path, struct certo_file_meta *out, struct certo_err *err)
{
    struct stat st;

    (void)ctx;
    memset(out, 0, sizeof(*out));
    if (stat(path, &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return CERTO_OK;
        return certo_err_sys(err, certo_file_rc_from_errno(errno), "transport.local",
                             "cannot look at %s", path);
    }
    out->exists = true;
    out->is_dir = S_ISDIR(st.st_mode);
    out->mode = st.st_mode & 07777;
    out->uid = st.st_uid;
    out->gid = st.st_gid;
    out->size = st.st_size;
    return CERTO_OK;
}

static certo_rc
local_access(void *ctx, const char *path, int mode, struct certo_err *err)
{
    (void)ctx;
    if (access(path, mode) != 0)
        return certo_err_sys(err, certo_file_rc_from_errno(errno), "transport.local", "%s", path);
    return CERTO_OK;
}

static certo_rc
local_resolve(void *ctx, const char *path, char **out, struct certo_err *err)
{
    char *real = realpath(path, NULL);
    const char *slash;
    char *dir, *rdir;

    (void)ctx;
    *out = NULL;
    if (real != NULL) {
        *out = certo_strdup(real);
        certo_free(real); /* realpath allocates with malloc */
        return CERTO_OK;
    }
    if (errno != ENOENT)
        return certo_err_sys(err, certo_file_rc_from_errno(errno), "transport.local",
                             "cannot resolve %s", path);
    slash = strrchr(path, '/');
    if (slash == NULL || slash[1] == '\0')
        return certo_err_set(err, CERTO_EINVAL, "transport.local",
                             "%s is not an absolute file path", path);
    dir = certo_path_dirname(path);
    rdir = realpath(dir, NULL);
    certo_free(dir);
    if (rdir == NULL)
        return certo_err_sys(err, certo_file_rc_from_errno(errno), "transport.local",
                             "cannot resolve the directory of %s", path);
    *out = certo_asprintf("%s/%s", strcmp(rdir, "/") == 0 ? "" : rdir, slash + 1);
    certo_free(rdir);
    return CERTO_OK;
}

const struct certo_transport_ops certo_transport_local = {
    .abi = CERTO_TRANSPORT_ABI,
    .name = "local",
    .ctx_size = 0,
    .open = local_open,
    .close = local_close,
    .exec = local_exec,
    .get = local_get,
    .put = local_put,
    .rename = local_rename,
    .remove = local_remove,
    .stat = local_stat,
    .access = local_access,
    .resolve = local_resolve,
};

certo_rc
certo_transport_open(struct certo_transport **out, const struct certo_transport_ops *ops,
                     const char *target, struct certo_err *err)
{
    struct certo_transport *t;
    certo_rc rc;

    *out = NULL;
    if (ops->abi != CERTO_TRANSPORT_ABI)
        return certo_err_set(err, CERTO_EINTERNAL, "transport", "transport %s has ABI %u, not %d",
                             ops->name, ops->abi, CERTO_TRANSPORT_ABI);
    t = certo_calloc(1, sizeof(*t));
    t->ops = ops;
    t->ctx = certo_calloc(1, ops->ctx_size > 0 ? ops->ctx_size : 1);
    rc = ops->open(t->ctx, target, err);
    if (rc != CERTO_OK) {
        certo_free(t->ctx);
        certo_free(t);
        return rc;
    }
    *out = t;
    return CERTO_OK;
}

void
certo_transport_close(struct certo_transport *t)
{
    if (t == NULL)
        return;
    t->ops->close(t->ctx);
    certo_free(t->ctx);
    certo_free(t);
}
