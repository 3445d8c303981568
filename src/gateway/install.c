/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The install engine (gateway layer): one journaled transaction per change to an
 * endpoint, the same for every connector.
 *
 * Journal (DATA/journal/<endpoint-id>/, 0700, every file written atomically):
 *   manifest   one line per file: index, existed, mode, uid, gid, remove, path
 *   b<index>   the file's bytes before the transaction (when it existed)
 *   meta       the history row of the transaction
 *   state      the last step reached: prepared, staged, swapping, swapped, committed
 * Nothing on the endpoint changes before the manifest and every backup are durable, and
 * no target is renamed over before the state says "swapping". Recovery therefore knows
 * what to do from the state alone: before "swapping" only staged copies exist (remove
 * them), from "swapping" on the backups are put back, and "committed" is finished.
 * A committed journal becomes DATA/backups/<endpoint-id>/<history-id>/, which is what
 * `tls rollback` restores.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "certo/clock.h"
#include "certo/file.h"
#include "certo/install.h"
#include "certo/limits.h"
#include "certo/mem.h"
#include "certo/sys/connector.h"
#include "gateway/gateway.h"

#define FILE_MAX     (64u * 1024 * 1024) /* one file of an endpoint */
#define TEXT_MAX     (256u * 1024)       /* history texts */
#define BACKUPS_KEPT 10

struct file_op {
    char *path;
    char *stage; /* the staged copy beside 'path'; NULL for a removal */
    bool remove; /* the transaction deletes 'path' (it did not exist before) */
    struct certo_buf data;
    struct certo_file_meta before;
    mode_t new_mode;
};

struct txn {
    struct certo_session *s;
    int64_t hist;
    struct file_op *ops;
    size_t n;
};

/* For the few results that only matter as best effort (history text, output lines). */
static void
best_effort(certo_rc rc)
{
    (void)rc;
}

/* Test hook (tests/integration/50_install_*.sh): dies at a named step, as kill -9 would. */
static void
crash_point(const char *step)
{
    const char *at = getenv("CERTO_TEST_CRASH_AT");
    if (at != NULL && strcmp(at, step) == 0)
        raise(SIGKILL);
}

/* ---- small file helpers on the gateway's own disk ---- */

static certo_rc
mkdir_p(const char *dir, struct certo_err *err)
{
    certo_rc rc = certo_file_mkdirs(dir, 0700);
    if (rc != CERTO_OK)
        return certo_err_sys(err, rc, "gateway.install", "cannot create %s", dir);
    return CERTO_OK;
}

static void
fsync_path(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

static void
parent_sync(const char *path)
{
    char *d = certo_strdup(path);
    char *slash = strrchr(d, '/');
    if (slash != NULL && slash != d) {
        *slash = '\0';
        fsync_path(d);
    }
    certo_free(d);
}

static void
rm_rf(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char *p = certo_asprintf("%s/%s", dir, e->d_name);
        if (e->d_type == DT_DIR)
            rm_rf(p);
        else
            (void)unlink(p);
        certo_free(p);
    }
    closedir(d);
    (void)rmdir(dir);
    parent_sync(dir);
}

static certo_rc
jwrite(const char *dir, const char *name, const void *data, size_t len, struct certo_err *err)
{
    char *p = certo_asprintf("%s/%s", dir, name);
    certo_rc rc = certo_file_replace(p, data, len, 0600);
    if (rc != CERTO_OK)
        rc = certo_err_sys(err, rc, "gateway.install", "cannot write journal file %s", p);
    certo_free(p);
    return rc;
}

static certo_rc
jread(const char *dir, const char *name, struct certo_buf *out, struct certo_err *err)
{
    char *p = certo_asprintf("%s/%s", dir, name);
    certo_rc rc;

    certo_buf_init(out, FILE_MAX);
    rc = certo_file_read(out, p);
    if (rc != CERTO_OK)
        rc = certo_err_sys(err, rc, "gateway.install", "cannot read journal file %s", p);
    certo_free(p);
    return rc;
}

/* ---- history ---- */

/* Binds text, or SQL NULL for NULL and "". */
static certo_rc
bind_opt(struct certo_stmt *st, int idx, const char *v)
{
    return v != NULL && v[0] != '\0' ? certo_stmt_bind_text(st, idx, v)
                                     : certo_stmt_bind_null(st, idx);
}

/*
 * Records an operation as running. What is known before it runs (the plan, the
 * fingerprints) is stored now, so that a transaction finished by a later recovery still
 * has it.
 */
static certo_rc
hist_insert(struct certo_session *s, const char *kind, const char *alias, const char *fp_before,
            const struct certo_op_result *r, int64_t undoes, int64_t *id, struct certo_err *err)
{
    struct certo_db *db = certo_registry__db(s->reg);
    struct certo_stmt *st = NULL;
    bool row = false;
    certo_rc rc;

    rc = certo_db_prepare(db, &st,
                          "INSERT INTO installs (endpoint_id, kind, outcome, started_at, alias, "
                          "fp_before, undoes, fp_after, changes) "
                          "VALUES ($1, $2, 'running', $3, $4, $5, $6, $7, $8) RETURNING id",
                          err);
    if (rc == CERTO_OK &&
        (certo_stmt_bind_text(st, 1, s->ep->id) != CERTO_OK ||
         certo_stmt_bind_text(st, 2, kind) != CERTO_OK ||
         certo_stmt_bind_int(st, 3, (int64_t)certo_clock_now()) != CERTO_OK ||
         bind_opt(st, 4, alias) != CERTO_OK || bind_opt(st, 5, fp_before) != CERTO_OK ||
         (undoes > 0 ? certo_stmt_bind_int(st, 6, undoes) : certo_stmt_bind_null(st, 6)) !=
             CERTO_OK ||
         bind_opt(st, 7, r != NULL ? r->fp_after : NULL) != CERTO_OK ||
         bind_opt(st, 8, r != NULL && r->plan.len > 0 ? (const char *)r->plan.data : NULL) !=
             CERTO_OK))
        rc = certo_err_set(err, CERTO_EIO, "gateway.install", "cannot record the history");
    if (rc == CERTO_OK)
        rc = certo_stmt_step(st, &row, err);
    if (rc == CERTO_OK && row)
        *id = certo_stmt_int(st, 0);
    certo_stmt_free(st);
    return rc;
}

static void
hist_finish(struct certo_session *s, int64_t id, const char *outcome, const char *step,
            const char *message, const struct certo_op_result *r)
{
    struct certo_db *db = certo_registry__db(s->reg);
    struct certo_stmt *st = NULL;
    struct certo_err ignore = {0};
    bool row = false;

    if (id <= 0 ||
        certo_db_prepare(db, &st,
                         "UPDATE installs SET outcome = $2, finished_at = $3, step = $4, "
                         "message = $5, output = COALESCE($6, output), "
                         "changes = COALESCE($7, changes), fp_after = COALESCE($8, fp_after), "
                         "alias = COALESCE($9, alias) WHERE id = $1",
                         &ignore) != CERTO_OK)
        return;
    if (certo_stmt_bind_int(st, 1, id) == CERTO_OK &&
        certo_stmt_bind_text(st, 2, outcome) == CERTO_OK &&
        certo_stmt_bind_int(st, 3, (int64_t)certo_clock_now()) == CERTO_OK &&
        certo_stmt_bind_text(st, 4, step != NULL && step[0] != '\0' ? step : NULL) == CERTO_OK &&
        certo_stmt_bind_text(st, 5, message) == CERTO_OK &&
        certo_stmt_bind_text(
            st, 6, r != NULL && r->log.len > 0 ? (const char *)r->log.data : NULL) == CERTO_OK &&
        certo_stmt_bind_text(
            st, 7, r != NULL && r->plan.len > 0 ? (const char *)r->plan.data : NULL) == CERTO_OK &&
        certo_stmt_bind_text(st, 8, r != NULL && r->fp_after[0] != '\0' ? r->fp_after : NULL) ==
            CERTO_OK &&
        certo_stmt_bind_text(st, 9, r != NULL ? r->alias : NULL) == CERTO_OK)
        best_effort(certo_stmt_step(st, &row, &ignore));
    certo_stmt_free(st);
}

/* ---- the session: connector, transport, lock ---- */

void
certo_install__close(struct certo_session *s)
{
    if (s->configured && s->ops->cleanup != NULL)
        s->ops->cleanup(s->ctx);
    certo_free(s->ctx);
    certo_transport_close(s->t);
    certo_secret_free(s->store_pw);
    if (s->lock_fd >= 0)
        close(s->lock_fd); /* releases the flock */
    certo_free(s->jdir);
    certo_free(s->bdir);
    memset(s, 0, sizeof(*s));
    s->lock_fd = -1;
}

static certo_rc
take_lock(struct certo_session *s, struct certo_err *err)
{
    const char *data = certo_registry_dir(s->reg);
    char *dir = certo_asprintf("%s/locks", data);
    char *path = certo_asprintf("%s/%s.lock", dir, s->ep->id);
    certo_rc rc = mkdir_p(dir, err);

    if (rc == CERTO_OK) {
        s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (s->lock_fd < 0)
            rc = certo_err_sys(err, certo_file_rc_from_errno(errno), "gateway.install",
                               "cannot open lock file %s", path);
    }
    /* Blocks while another certo process works on this endpoint: installs on one
     * endpoint are serialized, others run in parallel. */
    while (rc == CERTO_OK && flock(s->lock_fd, LOCK_EX) != 0) {
        if (errno != EINTR)
            rc = certo_err_sys(err, CERTO_EIO, "gateway.install", "cannot lock %s", path);
    }
    certo_free(dir);
    certo_free(path);
    return rc;
}

certo_rc
certo_install__open(struct certo_session *s, struct certo_registry *reg,
                    const struct certo_endpoint *ep, int script_timeout_ms, struct certo_err *err)
{
    const char *data = certo_registry_dir(reg);
    certo_rc rc;

    memset(s, 0, sizeof(*s));
    s->lock_fd = -1;
    s->reg = reg;
    s->ep = ep;
    s->ops = certo_connector_find(certo_ep_type_name(ep->type));
    if (s->ops == NULL)
        return certo_err_set(err, CERTO_EUNSUPPORTED, "gateway.install",
                             "installing on %s endpoints is not available yet",
                             certo_ep_type_name(ep->type));
    if (certo_endpoint_conn(ep) != CERTO_CONN_LOCAL)
        return certo_err_set(err, CERTO_EUNSUPPORTED, "gateway.install",
                             "the %s connection type is not available yet (endpoint '%s')",
                             certo_conn_name(certo_endpoint_conn(ep)), ep->val[CERTO_F_NAME]);
    rc = certo_registry_secret(reg, ep, CERTO_F_STORE_PASSWORD, &s->store_pw, err);
    if (rc != CERTO_OK)
        return rc;
    for (int f = 0; f < CERTO_F__COUNT; f++) {
        if (ep->val[f] == NULL)
            continue;
        s->kv[s->cfg.n_opts].key = certo_ep_field_info((enum certo_ep_field)f)->name;
        s->kv[s->cfg.n_opts].value = ep->val[f];
        s->cfg.n_opts++;
    }
    s->cfg.endpoint_name = ep->val[CERTO_F_NAME];
    s->cfg.opts = s->kv;
    s->cfg.store_password = s->store_pw;
    s->cfg.script_timeout_ms =
        script_timeout_ms > 0 ? script_timeout_ms : CERTO_CONNECTOR_SCRIPT_TIMEOUT_MS;
    s->ctx = certo_calloc(1, s->ops->ctx_size > 0 ? s->ops->ctx_size : 1);
    rc = s->ops->configure(s->ctx, &s->cfg, err);
    if (rc != CERTO_OK)
        return rc;
    s->configured = true;
    rc = certo_transport_open(&s->t, &certo_transport_local, NULL, err);
    if (rc != CERTO_OK)
        return rc;
    s->jdir = certo_asprintf("%s/journal/%s", data, ep->id);
    s->bdir = certo_asprintf("%s/backups/%s", data, ep->id);
    return take_lock(s, err);
}

/* ---- the transaction ---- */

static void
txn_dispose(struct txn *x)
{
    for (size_t i = 0; i < x->n; i++) {
        certo_free(x->ops[i].path);
        certo_free(x->ops[i].stage);
        certo_buf_dispose(&x->ops[i].data);
    }
    certo_free(x->ops);
    memset(x, 0, sizeof(*x));
}

static struct file_op *
txn_add(struct txn *x, const char *path)
{
    x->ops = certo_reallocarray(x->ops, x->n + 1, sizeof(*x->ops));
    struct file_op *op = &x->ops[x->n++];
    memset(op, 0, sizeof(*op));
    op->path = certo_strdup(path);
    certo_buf_init(&op->data, FILE_MAX);
    return op;
}

static char *
stage_path(const char *path, int64_t hist)
{
    const char *slash = strrchr(path, '/');
    size_t dirlen = slash != NULL ? (size_t)(slash - path) : 0;
    return certo_asprintf("%.*s/.%s.certo-stage-%lld", (int)dirlen, path,
                          slash != NULL ? slash + 1 : path, (long long)hist);
}

static certo_rc
set_state(struct certo_session *s, const char *state, struct certo_err *err)
{
    return jwrite(s->jdir, "state", state, strlen(state), err);
}

/* Writes the manifest and a backup of every file, before anything is changed. */
static certo_rc
journal_begin(struct txn *x, const char *kind, struct certo_err *err)
{
    struct certo_session *s = x->s;
    struct certo_buf man, backup, meta;
    certo_rc rc;

    certo_buf_init(&man, TEXT_MAX);
    certo_buf_init(&meta, 256);
    rc = mkdir_p(s->jdir, err);
    if (rc == CERTO_OK)
        parent_sync(s->jdir);
    for (size_t i = 0; rc == CERTO_OK && i < x->n; i++) {
        struct file_op *op = &x->ops[i];
        rc = certo_transport_stat(s->t, op->path, &op->before, err);
        if (rc == CERTO_OK && op->before.exists) {
            char name[32];
            certo_buf_init(&backup, FILE_MAX);
            rc = certo_transport_get(s->t, op->path, &backup, err);
            snprintf(name, sizeof(name), "b%zu", i);
            if (rc == CERTO_OK)
                rc = jwrite(s->jdir, name, backup.data, backup.len, err);
            certo_buf_dispose(&backup);
        }
        if (rc == CERTO_OK)
            rc = certo_buf_printf(&man, "%zu\t%d\t%o\t%u\t%u\t%d\t%s\n", i,
                                  op->before.exists ? 1 : 0, (unsigned)op->before.mode,
                                  (unsigned)op->before.uid, (unsigned)op->before.gid,
                                  op->remove ? 1 : 0, op->path);
    }
    if (rc == CERTO_OK)
        rc = certo_buf_printf(&meta, "%lld\t%s\n", (long long)x->hist, kind);
    if (rc == CERTO_OK)
        rc = jwrite(s->jdir, "manifest", man.data, man.len, err);
    if (rc == CERTO_OK)
        rc = jwrite(s->jdir, "meta", meta.data, meta.len, err);
    if (rc == CERTO_OK)
        rc = set_state(s, "prepared", err);
    certo_buf_dispose(&man);
    certo_buf_dispose(&meta);
    return rc;
}

/* Puts every file back as the journal recorded it and removes staged copies. */
static certo_rc
restore(struct certo_session *s, struct txn *x, bool swapped, struct certo_err *err)
{
    certo_rc rc = CERTO_OK;

    for (size_t i = 0; i < x->n; i++) {
        struct file_op *op = &x->ops[i];
        struct certo_err e2 = {0};
        if (op->stage != NULL)
            (void)certo_transport_remove(s->t, op->stage, &e2);
        if (!swapped)
            continue;
        if (op->before.exists) {
            struct certo_buf b;
            char name[32];
            snprintf(name, sizeof(name), "b%zu", i);
            certo_rc r2 = jread(s->jdir, name, &b, err);
            if (r2 == CERTO_OK)
                r2 = certo_transport_put(s->t, op->path, b.data, b.len, &op->before, err);
            certo_buf_dispose(&b);
            if (r2 != CERTO_OK && rc == CERTO_OK)
                rc = r2;
        } else {
            certo_rc r2 = certo_transport_remove(s->t, op->path, err);
            if (r2 != CERTO_OK && rc == CERTO_OK)
                rc = r2;
        }
    }
    return rc;
}

static certo_rc
stage_files(struct txn *x, struct certo_err *err)
{
    struct certo_session *s = x->s;
    certo_rc rc = CERTO_OK;

    for (size_t i = 0; rc == CERTO_OK && i < x->n; i++) {
        struct file_op *op = &x->ops[i];
        struct certo_file_meta m = op->before;
        if (op->remove)
            continue;
        if (!m.exists)
            m.mode = op->new_mode;
        op->stage = stage_path(op->path, x->hist);
        rc = certo_transport_put(s->t, op->stage, op->data.data, op->data.len, &m, err);
    }
    return rc;
}

static certo_rc
swap_files(struct txn *x, struct certo_err *err)
{
    struct certo_session *s = x->s;
    certo_rc rc = set_state(s, "swapping", err);

    for (size_t i = 0; rc == CERTO_OK && i < x->n; i++) {
        struct file_op *op = &x->ops[i];
        if (op->remove)
            rc = certo_transport_remove(s->t, op->path, err);
        else
            rc = certo_transport_rename(s->t, op->stage, op->path, err);
        if (rc == CERTO_OK && !op->remove)
            CERTO_FREE(op->stage);
        if (rc == CERTO_OK && i == 0)
            crash_point("swap1");
    }
    if (rc == CERTO_OK)
        rc = set_state(s, "swapped", err);
    return rc;
}

static int
cmp_desc(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Keeps the newest BACKUPS_KEPT committed journals of the endpoint. */
static void
prune_backups(struct certo_session *s)
{
    long long ids[1024];
    size_t n = 0;
    DIR *d = opendir(s->bdir);
    struct dirent *e;

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL && n < CERTO_ARRAY_LEN(ids)) {
        char *end = NULL;
        long long v = strtoll(e->d_name, &end, 10);
        if (end != e->d_name && *end == '\0')
            ids[n++] = v;
    }
    closedir(d);
    qsort(ids, n, sizeof(ids[0]), cmp_desc);
    for (size_t i = BACKUPS_KEPT; i < n; i++) {
        char *p = certo_asprintf("%s/%lld", s->bdir, ids[i]);
        rm_rf(p);
        certo_free(p);
    }
}

static certo_rc
commit(struct txn *x, struct certo_err *err)
{
    struct certo_session *s = x->s;
    char *dst = certo_asprintf("%s/%lld", s->bdir, (long long)x->hist);
    certo_rc rc = set_state(s, "committed", err);

    crash_point("commit");
    if (rc == CERTO_OK)
        rc = mkdir_p(s->bdir, err);
    if (rc == CERTO_OK && rename(s->jdir, dst) != 0)
        rc = certo_err_sys(err, CERTO_EIO, "gateway.install", "cannot keep the backup in %s", dst);
    if (rc == CERTO_OK) {
        parent_sync(s->jdir);
        fsync_path(s->bdir);
        prune_backups(s);
    }
    certo_free(dst);
    return rc;
}

/* Reads a journal directory's manifest back into 'x' (for recovery and rollback). */
static certo_rc
load_manifest(const char *dir, struct txn *x, int64_t *hist, struct certo_err *err)
{
    struct certo_buf man, meta;
    certo_rc rc;

    rc = jread(dir, "manifest", &man, err);
    if (rc == CERTO_OK)
        rc = jread(dir, "meta", &meta, err);
    else
        certo_buf_init(&meta, 16);
    if (rc != CERTO_OK)
        goto out;
    *hist = meta.len > 0 ? strtoll((const char *)meta.data, NULL, 10) : 0;
    for (char *line = (char *)man.data; line != NULL && *line != '\0';) {
        char *nl = strchr(line, '\n');
        unsigned idx, existed, mode, uid, gid, removed;
        int used = 0;
        if (nl != NULL)
            *nl = '\0';
        if (sscanf(line, "%u\t%u\t%o\t%u\t%u\t%u\t%n", &idx, &existed, &mode, &uid, &gid, &removed,
                   &used) != 6 ||
            used == 0 || idx != x->n) {
            rc = certo_err_set(err, CERTO_EPARSE, "gateway.install",
                               "journal manifest in %s is damaged", dir);
            goto out;
        }
        struct file_op *op = txn_add(x, line + used);
        op->before.exists = existed != 0;
        op->before.mode = (mode_t)mode;
        op->before.uid = (uid_t)uid;
        op->before.gid = (gid_t)gid;
        op->remove = removed != 0;
        line = nl != NULL ? nl + 1 : NULL;
    }
out:
    certo_buf_dispose(&man);
    certo_buf_dispose(&meta);
    return rc;
}

certo_rc
certo_install__written(char ***paths, size_t *n, struct certo_registry *reg,
                       const struct certo_endpoint *ep, int64_t hist, struct certo_err *err)
{
    char *dir =
        certo_asprintf("%s/backups/%s/%lld", certo_registry_dir(reg), ep->id, (long long)hist);
    struct txn x = {0};
    int64_t h = 0;
    certo_rc rc = CERTO_OK;

    *paths = NULL;
    *n = 0;
    if (!certo_file_exists(dir))
        goto out; /* pruned, or the install was rolled back */
    rc = load_manifest(dir, &x, &h, err);
    if (rc != CERTO_OK)
        goto out;
    *paths = certo_calloc(x.n + 1, sizeof(**paths));
    for (size_t i = 0; i < x.n; i++)
        (*paths)[i] = certo_strdup(x.ops[i].path);
    *n = x.n;
out:
    txn_dispose(&x);
    certo_free(dir);
    return rc;
}

certo_rc
certo_install__recover(struct certo_session *s, enum certo_recovery *out, struct certo_err *err)
{
    struct txn x = {0};
    struct certo_buf state;
    int64_t hist = 0;
    certo_rc rc;

    *out = CERTO_RECOVERY_NONE;
    if (!certo_file_exists(s->jdir))
        return CERTO_OK;
    x.s = s;
    rc = jread(s->jdir, "state", &state, err);
    if (rc == CERTO_ENOTFOUND) {
        /* The journal was still being written: nothing was changed yet. */
        certo_err_clear(err);
        rm_rf(s->jdir);
        certo_buf_dispose(&state);
        *out = CERTO_RECOVERY_ROLLED_BACK;
        return CERTO_OK;
    }
    if (rc == CERTO_OK)
        rc = load_manifest(s->jdir, &x, &hist, err);
    if (rc != CERTO_OK)
        goto out;
    for (size_t i = 0; i < x.n; i++)
        x.ops[i].stage = x.ops[i].remove ? NULL : stage_path(x.ops[i].path, hist);
    const char *st = (const char *)state.data;
    x.hist = hist;
    if (strcmp(st, "committed") == 0) {
        /* Everything was verified: finish. */
        for (size_t i = 0; i < x.n; i++)
            CERTO_FREE(x.ops[i].stage);
        rc = commit(&x, err);
        if (rc == CERTO_OK) {
            hist_finish(s, hist, "ok", NULL, "finished after an interruption", NULL);
            *out = CERTO_RECOVERY_FINISHED;
        }
    } else {
        bool swapped = strcmp(st, "swapping") == 0 || strcmp(st, "swapped") == 0;
        rc = restore(s, &x, swapped, err);
        if (rc == CERTO_OK && swapped && s->ops->reactivate != NULL) {
            struct certo_buf log;
            certo_buf_init(&log, TEXT_MAX);
            rc = s->ops->reactivate(s->ctx, s->t, &log, err);
            certo_buf_dispose(&log);
        }
        if (rc == CERTO_OK) {
            char msg[96];
            snprintf(msg, sizeof(msg), "interrupted after step '%.16s'; rolled back", st);
            hist_finish(s, hist, "interrupted", st, msg, NULL);
            rm_rf(s->jdir);
            *out = CERTO_RECOVERY_ROLLED_BACK;
        }
    }
out:
    certo_buf_dispose(&state);
    txn_dispose(&x);
    return rc;
}

/* The steps after the plan, shared by install and rollback. 'verify_bytes' checks the
 * files against the transaction's data instead of asking the connector. */
static certo_rc
run_txn(struct txn *x, const char *kind, struct certo_plan *plan, bool verify_bytes,
        struct certo_op_result *r, struct certo_err *err)
{
    struct certo_session *s = x->s;
    bool swapped = false;
    const char *step = "journal";
    certo_rc rc;

    rc = journal_begin(x, kind, err);
    crash_point("journal");
    if (rc == CERTO_OK) {
        step = "stage";
        rc = stage_files(x, err);
        if (rc == CERTO_OK)
            rc = set_state(s, "staged", err);
        crash_point("stage");
    }
    if (rc == CERTO_OK && s->ops->test != NULL) {
        const char **staged = certo_calloc(x->n + 1, sizeof(*staged));
        step = "test";
        for (size_t i = 0; i < x->n; i++)
            staged[i] = x->ops[i].stage;
        rc = s->ops->test(s->ctx, s->t, plan, staged, err);
        certo_free(staged);
        crash_point("test");
    }
    if (rc == CERTO_OK) {
        step = "swap";
        swapped = true; /* from here on, a failure restores the backups */
        rc = swap_files(x, err);
        crash_point("swap");
    }
    if (rc == CERTO_OK && s->ops->activate != NULL) {
        step = "activate";
        rc = s->ops->activate(s->ctx, s->t, plan, &r->log, err);
        crash_point("activate");
    }
    if (rc == CERTO_OK) {
        step = "verify";
        if (verify_bytes) {
            for (size_t i = 0; rc == CERTO_OK && i < x->n; i++) {
                struct certo_file_meta m;
                struct certo_buf now;
                if (x->ops[i].remove) {
                    rc = certo_transport_stat(s->t, x->ops[i].path, &m, err);
                    if (rc == CERTO_OK && m.exists)
                        rc = certo_err_set(err, CERTO_ECONFLICT, "gateway.install",
                                           "%s is still there", x->ops[i].path);
                    continue;
                }
                certo_buf_init(&now, FILE_MAX);
                rc = certo_transport_get(s->t, x->ops[i].path, &now, err);
                if (rc == CERTO_OK && (now.len != x->ops[i].data.len ||
                                       memcmp(now.data, x->ops[i].data.data, now.len) != 0))
                    rc = certo_err_set(err, CERTO_ECONFLICT, "gateway.install",
                                       "%s does not hold what was written", x->ops[i].path);
                certo_buf_dispose(&now);
            }
        } else if (s->ops->verify != NULL) {
            rc = s->ops->verify(s->ctx, s->t, plan, err);
        }
        crash_point("verify");
    }
    if (rc == CERTO_OK) {
        step = "commit";
        rc = commit(x, err);
    }
    if (rc == CERTO_OK) {
        hist_finish(s, x->hist, "ok", NULL, NULL, r);
        return CERTO_OK;
    }

    /* Roll back: the journal knows every file. */
    snprintf(r->step, sizeof(r->step), "%s", step);
    struct certo_err rerr = {0};
    certo_rc r2 = restore(s, x, swapped, &rerr);
    if (r2 == CERTO_OK && swapped && s->ops->reactivate != NULL)
        r2 = s->ops->reactivate(s->ctx, s->t, &r->log, &rerr);
    char msg[1200];
    if (r2 == CERTO_OK) {
        snprintf(msg, sizeof(msg), "failed at step %s: %s; rolled back", step, err->msg);
        rm_rf(s->jdir);
    } else {
        /* The journal stays: the next operation on this endpoint tries again. */
        snprintf(msg, sizeof(msg), "failed at step %s: %s; ROLLBACK FAILED: %s", step, err->msg,
                 rerr.msg);
    }
    hist_finish(s, x->hist, "failed", step, msg, r);
    return rc;
}

static void
describe_plan(const struct certo_plan *plan, struct certo_op_result *r)
{
    for (size_t i = 0; i < plan->n_changes; i++)
        best_effort(certo_buf_printf(&r->plan, "%s\n", plan->changes[i].summary));
    for (size_t i = 0; i < plan->n_notes; i++)
        best_effort(certo_buf_printf(&r->plan, "warning: %s\n", plan->notes[i]));
}

static void
result_init(struct certo_op_result *r)
{
    memset(r, 0, sizeof(*r));
    certo_buf_init(&r->plan, TEXT_MAX);
    certo_buf_init(&r->log, TEXT_MAX);
}

void
certo_op_result_dispose(struct certo_op_result *r)
{
    if (r == NULL)
        return;
    CERTO_FREE(r->alias);
    certo_buf_dispose(&r->plan);
    certo_buf_dispose(&r->log);
}

certo_rc
certo_install(struct certo_registry *reg, const struct certo_endpoint *ep,
              const struct certo_bundle *b, const struct certo_install_opts *o,
              struct certo_op_result *r, struct certo_err *err)
{
    struct certo_session s;
    struct certo_plan plan;
    struct certo_install_req req = {b, o->alias};
    struct txn x = {0};
    certo_rc rc;

    result_init(r);
    memset(&plan, 0, sizeof(plan));
    rc = certo_install__open(&s, reg, ep, o->script_timeout_ms, err);
    if (rc == CERTO_OK)
        rc = certo_install__recover(&s, &r->recovery, err);
    if (rc == CERTO_OK)
        rc = s.ops->plan(s.ctx, s.t, &req, &plan, err);
    if (rc != CERTO_OK) {
        snprintf(r->step, sizeof(r->step), "plan");
        goto out;
    }
    r->alias = certo_strdup(plan.alias);
    memcpy(r->fp_before, plan.fp_before, sizeof(r->fp_before));
    memcpy(r->fp_after, plan.fp_after, sizeof(r->fp_after));
    describe_plan(&plan, r);
    if (o->dry_run)
        goto out;
    x.s = &s;
    rc = hist_insert(&s, "install", plan.alias, plan.fp_before, r, 0, &x.hist, err);
    if (rc != CERTO_OK)
        goto out;
    r->history_id = x.hist;
    for (size_t i = 0; i < plan.n_changes; i++) {
        /* A symlinked file is replaced where it really is, never the link itself. */
        char *real = NULL;
        rc = certo_transport_resolve(s.t, plan.changes[i].path, &real, err);
        if (rc != CERTO_OK)
            goto out;
        struct file_op *op = txn_add(&x, real);
        certo_free(real);
        rc = certo_buf_append(&op->data, plan.changes[i].data.data, plan.changes[i].data.len);
        op->new_mode = plan.changes[i].meta.mode != 0 ? plan.changes[i].meta.mode : 0600;
        if (rc != CERTO_OK)
            goto out;
    }
    rc = run_txn(&x, "install", &plan, false, r, err);
out:
    txn_dispose(&x);
    certo_plan_dispose(&plan);
    certo_install__close(&s);
    return rc;
}

/* The newest install that succeeded and was not undone yet, whose backup exists: rolling
 * back twice goes back two installs, not back and forth. */
static certo_rc
find_undo_target(struct certo_session *s, int64_t *id, char **alias, char *fp, size_t fp_cap,
                 struct certo_err *err)
{
    struct certo_db *db = certo_registry__db(s->reg);
    struct certo_stmt *st = NULL;
    bool row = false;
    certo_rc rc;

    *id = 0;
    rc = certo_db_prepare(db, &st,
                          "SELECT id, alias, fp_before FROM installs WHERE endpoint_id = $1 "
                          "AND outcome = 'ok' AND kind = 'install' "
                          "ORDER BY id DESC",
                          err);
    if (rc == CERTO_OK && certo_stmt_bind_text(st, 1, s->ep->id) != CERTO_OK)
        rc = certo_err_set(err, CERTO_EIO, "gateway.install", "history query failed");
    while (rc == CERTO_OK) {
        rc = certo_stmt_step(st, &row, err);
        if (rc != CERTO_OK || !row)
            break;
        char *dir = certo_asprintf("%s/%lld", s->bdir, (long long)certo_stmt_int(st, 0));
        bool have = certo_file_exists(dir);
        certo_free(dir);
        if (!have)
            continue;
        *id = certo_stmt_int(st, 0);
        *alias = certo_stmt_text(st, 1) != NULL ? certo_strdup(certo_stmt_text(st, 1)) : NULL;
        snprintf(fp, fp_cap, "%s", certo_stmt_text(st, 2) != NULL ? certo_stmt_text(st, 2) : "");
        break;
    }
    certo_stmt_free(st);
    if (rc == CERTO_OK && *id == 0)
        rc = certo_err_set(err, CERTO_ENOTFOUND, "gateway.install",
                           "endpoint '%s' has no earlier material to roll back to",
                           s->ep->val[CERTO_F_NAME]);
    return rc;
}

certo_rc
certo_install_rollback(struct certo_registry *reg, const struct certo_endpoint *ep,
                       const struct certo_install_opts *o, struct certo_op_result *r,
                       struct certo_err *err)
{
    struct certo_session s;
    struct certo_plan plan;
    struct txn old = {0}, x = {0};
    char *dir = NULL;
    int64_t target = 0, old_hist = 0;
    certo_rc rc;

    result_init(r);
    memset(&plan, 0, sizeof(plan));
    rc = certo_install__open(&s, reg, ep, o->script_timeout_ms, err);
    if (rc == CERTO_OK)
        rc = certo_install__recover(&s, &r->recovery, err);
    if (rc == CERTO_OK)
        rc = find_undo_target(&s, &target, &plan.alias, r->fp_after, sizeof(r->fp_after), err);
    if (rc != CERTO_OK)
        goto out;
    dir = certo_asprintf("%s/%lld", s.bdir, (long long)target);
    old.s = &s;
    rc = load_manifest(dir, &old, &old_hist, err);
    if (rc != CERTO_OK)
        goto out;
    /* The new transaction writes each file back as it was before install 'target'. */
    x.s = &s;
    for (size_t i = 0; rc == CERTO_OK && i < old.n; i++) {
        struct file_op *op = txn_add(&x, old.ops[i].path);
        if (!old.ops[i].before.exists) {
            op->remove = true;
            best_effort(certo_buf_printf(&r->plan, "remove %s (created by install #%lld)\n",
                                         op->path, (long long)target));
            continue;
        }
        struct certo_buf b;
        char name[32];
        snprintf(name, sizeof(name), "b%zu", i);
        rc = jread(dir, name, &b, err);
        if (rc == CERTO_OK)
            rc = certo_buf_append(&op->data, b.data, b.len);
        certo_buf_dispose(&b);
        op->new_mode = old.ops[i].before.mode;
        best_effort(certo_buf_printf(&r->plan, "restore %s as before install #%lld\n", op->path,
                                     (long long)target));
    }
    if (rc != CERTO_OK || o->dry_run)
        goto out;
    r->alias = plan.alias != NULL ? certo_strdup(plan.alias) : NULL;
    memcpy(plan.fp_after, r->fp_after, sizeof(plan.fp_after));
    rc = hist_insert(&s, "rollback", plan.alias, NULL, r, target, &x.hist, err);
    if (rc != CERTO_OK)
        goto out;
    r->history_id = x.hist;
    rc = run_txn(&x, "rollback", &plan, true, r, err);
    if (rc == CERTO_OK) {
        struct certo_db *db = certo_registry__db(reg);
        struct certo_stmt *st = NULL;
        struct certo_err ignore = {0};
        bool row = false;
        if (certo_db_prepare(db, &st, "UPDATE installs SET outcome = 'undone' WHERE id = $1",
                             &ignore) == CERTO_OK &&
            certo_stmt_bind_int(st, 1, target) == CERTO_OK)
            best_effort(certo_stmt_step(st, &row, &ignore));
        certo_stmt_free(st);
    }
out:
    certo_free(dir);
    txn_dispose(&old);
    txn_dispose(&x);
    certo_plan_dispose(&plan);
    certo_install__close(&s);
    return rc;
}

certo_rc
certo_install_restart(struct certo_registry *reg, const struct certo_endpoint *ep,
                      const struct certo_install_opts *o, struct certo_op_result *r,
                      struct certo_err *err)
{
    struct certo_session s;
    int64_t hist = 0;
    certo_rc rc;

    result_init(r);
    rc = certo_install__open(&s, reg, ep, o->script_timeout_ms, err);
    if (rc == CERTO_OK)
        rc = certo_install__recover(&s, &r->recovery, err);
    if (rc == CERTO_OK && s.ops->restart == NULL)
        rc = certo_err_set(err, CERTO_EUNSUPPORTED, "gateway.install",
                           "%s endpoints cannot be restarted", certo_ep_type_name(ep->type));
    if (rc == CERTO_OK)
        rc = hist_insert(&s, "restart", NULL, NULL, NULL, 0, &hist, err);
    if (rc == CERTO_OK) {
        r->history_id = hist;
        rc = s.ops->restart(s.ctx, s.t, &r->log, err);
        if (rc != CERTO_OK)
            snprintf(r->step, sizeof(r->step), "restart");
        hist_finish(&s, hist, rc == CERTO_OK ? "ok" : "failed", r->step,
                    rc == CERTO_OK ? NULL : err->msg, r);
    }
    certo_install__close(&s);
    return rc;
}

certo_rc
certo_install_check(struct certo_registry *reg, const struct certo_endpoint *ep,
                    struct certo_buf *report, struct certo_err *err)
{
    struct certo_session s;
    enum certo_recovery rec = CERTO_RECOVERY_NONE;
    certo_rc rc;

    rc = certo_install__open(&s, reg, ep, 0, err);
    if (rc == CERTO_OK)
        rc = certo_install__recover(&s, &rec, err);
    if (rc == CERTO_OK && rec == CERTO_RECOVERY_ROLLED_BACK)
        best_effort(certo_buf_printf(report, "note: an interrupted install was rolled back\n"));
    if (rc == CERTO_OK && rec == CERTO_RECOVERY_FINISHED)
        best_effort(certo_buf_printf(report, "note: an interrupted install had committed; it was "
                                             "finished\n"));
    if (rc == CERTO_OK)
        rc = s.ops->check(s.ctx, s.t, report, err);
    certo_install__close(&s);
    return rc;
}

certo_rc
certo_install_recover(struct certo_registry *reg, const struct certo_endpoint *ep,
                      enum certo_recovery *out, struct certo_err *err)
{
    struct certo_session s;
    certo_rc rc;

    *out = CERTO_RECOVERY_NONE;
    rc = certo_install__open(&s, reg, ep, 0, err);
    if (rc == CERTO_OK)
        rc = certo_install__recover(&s, out, err);
    certo_install__close(&s);
    return rc;
}

certo_rc
certo_install_forget(struct certo_registry *reg, const struct certo_endpoint *ep,
                     struct certo_err *err)
{
    const char *data = certo_registry_dir(reg);
    char *backups = certo_asprintf("%s/backups/%s", data, ep->id);
    char *journal = certo_asprintf("%s/journal/%s", data, ep->id);
    char *lock = certo_asprintf("%s/locks/%s.lock", data, ep->id);
    struct certo_session s;
    enum certo_recovery rec = CERTO_RECOVERY_NONE;
    certo_rc rc = CERTO_OK;

    /* Only a type and transport that can install can have a journal to roll back. */
    if (certo_file_exists(journal)) {
        rc = certo_install__open(&s, reg, ep, 0, err);
        if (rc == CERTO_OK)
            rc = certo_install__recover(&s, &rec, err);
        certo_install__close(&s);
    }
    if (rc == CERTO_OK) {
        rm_rf(backups);
        (void)unlink(lock);
    }
    certo_free(backups);
    certo_free(journal);
    certo_free(lock);
    return rc;
}

/* ---- history listing ---- */

static char *
dup_col(struct certo_stmt *st, int col)
{
    const char *v = certo_stmt_text(st, col);
    return v != NULL ? certo_strdup(v) : NULL;
}

certo_rc
certo_install_history(struct certo_registry *reg, const struct certo_endpoint *ep,
                      struct certo_history **out, size_t *n, struct certo_err *err)
{
    struct certo_db *db = certo_registry__db(reg);
    struct certo_stmt *st = NULL;
    struct certo_history *list = NULL;
    size_t count = 0, cap = 0;
    bool row = false;
    certo_rc rc;

    *out = NULL;
    *n = 0;
    rc = certo_db_prepare(db, &st,
                          "SELECT id, kind, outcome, started_at, finished_at, alias, fp_before, "
                          "fp_after, step, message, output, changes FROM installs "
                          "WHERE endpoint_id = $1 ORDER BY id DESC",
                          err);
    if (rc == CERTO_OK && certo_stmt_bind_text(st, 1, ep->id) != CERTO_OK)
        rc = certo_err_set(err, CERTO_EIO, "gateway.install", "history query failed");
    while (rc == CERTO_OK) {
        rc = certo_stmt_step(st, &row, err);
        if (rc != CERTO_OK || !row)
            break;
        if (count == cap) {
            cap = cap == 0 ? 16 : cap * 2;
            list = certo_reallocarray(list, cap, sizeof(*list));
        }
        struct certo_history *h = &list[count++];
        memset(h, 0, sizeof(*h));
        h->id = certo_stmt_int(st, 0);
        h->kind = dup_col(st, 1);
        h->outcome = dup_col(st, 2);
        h->started_at = certo_stmt_int(st, 3);
        h->finished_at = certo_stmt_int(st, 4);
        h->alias = dup_col(st, 5);
        h->fp_before = dup_col(st, 6);
        h->fp_after = dup_col(st, 7);
        h->step = dup_col(st, 8);
        h->message = dup_col(st, 9);
        h->output = dup_col(st, 10);
        h->changes = dup_col(st, 11);
    }
    certo_stmt_free(st);
    if (rc != CERTO_OK) {
        certo_history_list_free(list, count);
        return rc;
    }
    *out = list;
    *n = count;
    return CERTO_OK;
}

void
certo_history_list_free(struct certo_history *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct certo_history *h = &list[i];
        certo_free(h->kind);
        certo_free(h->outcome);
        certo_free(h->alias);
        certo_free(h->fp_before);
        certo_free(h->fp_after);
        certo_free(h->step);
        certo_free(h->message);
        certo_free(h->output);
        certo_free(h->changes);
    }
    certo_free(list);
}
