/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bounded reads and atomic replacement of local files (util layer), the lock-file idea
 * of libgit2's filebuf: never rewrite a file in place, because a service may read it at
 * any moment and a crash mid-write must not leave half a keystore.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "certo/file.h"
#include "certo/mem.h"

certo_rc
certo_file_rc_from_errno(int e)
{
    switch (e) {
    case ENOENT:
    case ENOTDIR:
        return CERTO_ENOTFOUND;
    case EACCES:
    case EPERM:
    case EROFS:
        return CERTO_EPERM;
    case EISDIR:
        return CERTO_EINVAL;
    default:
        return CERTO_EIO;
    }
}

bool
certo_file_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

certo_rc
certo_file_read(struct certo_buf *out, const char *path)
{
    unsigned char chunk[65536];
    struct stat st;
    certo_rc rc = CERTO_EINTERNAL;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return certo_file_rc_from_errno(errno);
    if (fstat(fd, &st) != 0) {
        rc = certo_file_rc_from_errno(errno);
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        errno = EISDIR;
        rc = CERTO_EINVAL;
        goto out;
    }
    /* Refuse before reading when the size is already known to be too big. */
    if ((uint64_t)st.st_size > out->max) {
        rc = CERTO_ETOOBIG;
        goto out;
    }
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = certo_file_rc_from_errno(errno);
            certo_buf_dispose(out);
            goto out;
        }
        if (n == 0)
            break;
        rc = certo_buf_append(out, chunk, (size_t)n);
        if (rc != CERTO_OK)
            goto out;
    }
    rc = CERTO_OK;
out:
    close(fd);
    return rc;
}

static certo_rc replace_regular(const char *path, const void *data, size_t len, mode_t new_mode,
                                const struct certo_file_as *as);

static certo_rc
write_all(int fd, const unsigned char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return certo_file_rc_from_errno(errno);
        p += n;
        len -= (size_t)n;
    }
    return CERTO_OK;
}

certo_rc
certo_file_sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return certo_file_rc_from_errno(errno);
    int r = fsync(fd);
    int e = errno;
    close(fd);
    if (r != 0 && e != EINVAL) /* some file systems cannot fsync a directory */
        return certo_file_rc_from_errno(e);
    return CERTO_OK;
}

char *
certo_path_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');

    if (slash == NULL)
        return certo_strdup(".");
    if (slash == path)
        return certo_strdup("/");
    return certo_strndup(path, (size_t)(slash - path));
}

static certo_rc
replace(const char *path, const void *data, size_t len, mode_t new_mode,
        const struct certo_file_as *as)
{
    struct stat lst;

    /* A link (certbot's live/ directory, a "current" link) stays a link: the file it
     * points to is what gets replaced, in its own directory. */
    if (lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode)) {
        char *target = realpath(path, NULL);
        if (target == NULL)
            return certo_file_rc_from_errno(errno);
        certo_rc rc = replace_regular(target, data, len, new_mode, as);
        int saved = errno;
        certo_free(target);
        errno = saved;
        return rc;
    }
    return replace_regular(path, data, len, new_mode, as);
}

certo_rc
certo_file_replace(const char *path, const void *data, size_t len, mode_t new_mode)
{
    return replace(path, data, len, new_mode, NULL);
}

certo_rc
certo_file_replace_as(const char *path, const void *data, size_t len,
                      const struct certo_file_as *as)
{
    return replace(path, data, len, as->mode, as);
}

static certo_rc
replace_regular(const char *path, const void *data, size_t len, mode_t new_mode,
                const struct certo_file_as *as)
{
    char *dir_copy = certo_strdup(path);
    char *base_copy = certo_strdup(path);
    const char *dir = dirname(dir_copy);
    const char *base = basename(base_copy);
    char *tmp = certo_asprintf("%s/.%s.certo-XXXXXX", dir, base);
    certo_rc rc = CERTO_EINTERNAL;
    struct stat st;
    bool existed;
    int fd = -1;
    int saved = 0;

    existed = stat(path, &st) == 0;
    if (existed && !S_ISREG(st.st_mode)) {
        errno = EISDIR;
        rc = CERTO_EINVAL;
        goto out;
    }
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        saved = errno;
        rc = certo_file_rc_from_errno(saved);
        CERTO_FREE(tmp);
        goto out;
    }
    /* Mode first, before any byte lands: a key never sits world-readable, even briefly. */
    mode_t mode = as != NULL ? as->mode : existed ? st.st_mode : new_mode;
    if (fchmod(fd, mode & 07777) != 0) {
        saved = errno;
        rc = certo_file_rc_from_errno(saved);
        goto out;
    }
    if (as != NULL && (as->uid != geteuid() || as->gid != getegid())) {
        if (fchown(fd, as->uid, as->gid) != 0 && fchown(fd, (uid_t)-1, as->gid) != 0) {
            /* Not fatal, as below. */
        }
    } else if (as == NULL && existed && (st.st_uid != geteuid() || st.st_gid != getegid())) {
        /* Keep the owner: a service account must still read its keystore. Only root may
         * give a file away; anyone else keeps the group at least when allowed to. */
        if (fchown(fd, st.st_uid, st.st_gid) != 0 && fchown(fd, (uid_t)-1, st.st_gid) != 0) {
            /* Not fatal: mode is kept, and an unprivileged user could not have chosen. */
        }
    }
    rc = write_all(fd, data, len);
    if (rc != CERTO_OK) {
        saved = errno;
        goto out;
    }
    if (fsync(fd) != 0) {
        saved = errno;
        rc = certo_file_rc_from_errno(saved);
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        saved = errno;
        rc = certo_file_rc_from_errno(saved);
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        saved = errno;
        rc = certo_file_rc_from_errno(saved);
        goto out;
    }
    CERTO_FREE(tmp); /* renamed: nothing to clean up any more */
    rc = certo_file_sync_dir(dir);
    saved = errno;
out:
    if (fd >= 0)
        close(fd);
    if (tmp != NULL) {
        unlink(tmp);
        certo_free(tmp);
    }
    certo_free(dir_copy);
    certo_free(base_copy);
    if (rc != CERTO_OK)
        errno = saved;
    return rc;
}

certo_rc
certo_file_mkdirs(const char *path, mode_t mode)
{
    char *p = certo_strdup(path);
    certo_rc rc = CERTO_OK;

    for (char *s = p + 1;; s++) {
        char c = *s;
        if (c != '/' && c != '\0')
            continue;
        *s = '\0';
        if (mkdir(p, mode) != 0 && errno != EEXIST) {
            rc = certo_file_rc_from_errno(errno);
            break;
        }
        *s = c;
        if (c == '\0')
            break;
    }
    certo_free(p);
    return rc;
}
