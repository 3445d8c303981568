/* SPDX-License-Identifier: Apache-2.0 */
/* layer: transport */
/*
 * For connector and transport authors: how Certo reaches an endpoint's host (STYLE.md 5).
 * A transport runs programs by argv and reads, writes, renames and removes files there;
 * connectors use nothing else, so the same connector works over local, ssh, WinRM or
 * REST transports. The framework allocates and zeroes 'ctx_size' bytes per connection.
 * A transport is used by one thread at a time.
 */
#ifndef CERTO_SYS_TRANSPORT_H
#define CERTO_SYS_TRANSPORT_H

#include <sys/types.h>

#include "certo/buf.h"
#include "certo/err.h"
#include "certo/exec.h"

#define CERTO_TRANSPORT_ABI 1

/* What a transport knows of a file. */
struct certo_file_meta {
    bool exists;
    bool is_dir;
    mode_t mode; /* permission bits */
    uid_t uid;
    gid_t gid;
    off_t size;
};

struct certo_transport_ops {
    unsigned abi;     /* CERTO_TRANSPORT_ABI */
    const char *name; /* "local", "ssh", ... */
    size_t ctx_size;

    /* Required. Connects (nothing to do for local). 'target' is host-specific. May block. */
    certo_rc (*open)(void *ctx, const char *target, struct certo_err *err);
    /* Required. Releases what open() acquired. */
    void (*close)(void *ctx);
    /* Required. Runs o->argv on the host and waits; 'r' is initialised by the callee. */
    certo_rc (*exec)(void *ctx, const struct certo_exec_opts *o, struct certo_exec_result *r,
                     struct certo_err *err);
    /* Required. Reads a whole file into 'out' (its ceiling applies). ENOTFOUND if absent. */
    certo_rc (*get)(void *ctx, const char *path, struct certo_buf *out, struct certo_err *err);
    /* Required. Atomically creates or replaces 'path' (temp in the same directory, fsync,
     * rename, fsync the directory). The file gets meta->mode, and meta->uid/gid when we
     * may set them; 'meta' NULL keeps an existing file's mode and owner, else 0600. */
    certo_rc (*put)(void *ctx, const char *path, const void *data, size_t len,
                    const struct certo_file_meta *meta, struct certo_err *err);
    /* Required. rename(2) on the host, then fsync of the directory. */
    certo_rc (*rename)(void *ctx, const char *from, const char *to, struct certo_err *err);
    /* Required. Removes a file; an absent file is not an error. */
    certo_rc (*remove)(void *ctx, const char *path, struct certo_err *err);
    /* Required. Describes 'path' (following symlinks); absent → out->exists false, OK. */
    certo_rc (*stat)(void *ctx, const char *path, struct certo_file_meta *out,
                     struct certo_err *err);
    /* Required. Whether the connecting user may read/write/execute 'path' (access(2)). */
    certo_rc (*access)(void *ctx, const char *path, int mode, struct certo_err *err);
    /* Required. The real path of 'path' with every symlink resolved (for a file that does
     * not exist yet: its resolved directory plus its name). *out is owned by the caller.
     * Files are replaced at their real path, so that a symlinked keystore is updated
     * through the link instead of the link being replaced by a file. */
    certo_rc (*resolve)(void *ctx, const char *path, char **out, struct certo_err *err);
};

/** A connection to one host through one transport. */
struct certo_transport {
    const struct certo_transport_ops *ops;
    void *ctx; /* owned: ops->ctx_size bytes */
};

/** The local transport: the gateway's own host. */
extern const struct certo_transport_ops certo_transport_local;

/**
 * Opens a transport with 'ops' to 'target'. @return what ops->open returns.
 * On success *out is owned by the caller (certo_transport_close).
 */
CERTO_MUST_CHECK certo_rc certo_transport_open(struct certo_transport **out,
                                               const struct certo_transport_ops *ops,
                                               const char *target, struct certo_err *err);
void certo_transport_close(struct certo_transport *t);

/* The wrappers connectors call; each names the path in its error message. */
static inline certo_rc
certo_transport_exec(struct certo_transport *t, const struct certo_exec_opts *o,
                     struct certo_exec_result *r, struct certo_err *err)
{
    return t->ops->exec(t->ctx, o, r, err);
}
static inline certo_rc
certo_transport_get(struct certo_transport *t, const char *path, struct certo_buf *out,
                    struct certo_err *err)
{
    return t->ops->get(t->ctx, path, out, err);
}
static inline certo_rc
certo_transport_put(struct certo_transport *t, const char *path, const void *data, size_t len,
                    const struct certo_file_meta *meta, struct certo_err *err)
{
    return t->ops->put(t->ctx, path, data, len, meta, err);
}
static inline certo_rc
certo_transport_rename(struct certo_transport *t, const char *from, const char *to,
                       struct certo_err *err)
{
    return t->ops->rename(t->ctx, from, to, err);
}
static inline certo_rc
certo_transport_remove(struct certo_transport *t, const char *path, struct certo_err *err)
{
    return t->ops->remove(t->ctx, path, err);
}
static inline certo_rc
certo_transport_stat(struct certo_transport *t, const char *path, struct certo_file_meta *out,
                     struct certo_err *err)
{
    return t->ops->stat(t->ctx, path, out, err);
}
static inline certo_rc
certo_transport_access(struct certo_transport *t, const char *path, int mode, struct certo_err *err)
{
    return t->ops->access(t->ctx, path, mode, err);
}

static inline certo_rc
certo_transport_resolve(struct certo_transport *t, const char *path, char **out,
                        struct certo_err *err)
{
    return t->ops->resolve(t->ctx, path, out, err);
}

#endif
