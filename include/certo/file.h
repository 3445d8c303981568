/* SPDX-License-Identifier: Apache-2.0 */
/* layer: util */
/*
 * Local files: bounded reads and atomic replacement (STYLE.md 4.11, DESIGN.md 6.1).
 * A replaced file is written to a temporary file in the same directory, fsynced, given
 * the old file's owner and mode (or 'new_mode' for a new file), renamed over the target,
 * and the directory is fsynced: a reader sees the old or the new content, never a mix,
 * and a failure leaves the old file and no temporary file behind.
 * util functions carry no error record: errno is left set for the caller's message.
 */
#ifndef CERTO_FILE_H
#define CERTO_FILE_H

#include <sys/types.h>
#include "certo/common.h"
#include "certo/buf.h"

/**
 * Reads a whole regular file into 'out' (initialised by the caller with its ceiling).
 * @return CERTO_OK; CERTO_ENOTFOUND, CERTO_EPERM, CERTO_EIO with errno set;
 *         CERTO_ETOOBIG if the file is larger than 'out->max' (nothing is read);
 *         CERTO_EINVAL if 'path' is not a regular file.
 */
CERTO_MUST_CHECK certo_rc certo_file_read(struct certo_buf *out, const char *path);

/**
 * Atomically replaces (or creates) 'path' with 'len' bytes of 'data'.
 * @param new_mode permission bits for a file that does not exist yet (e.g. 0600 for keys);
 *        an existing file keeps its mode and, when we may set it, its owner and group.
 * @return CERTO_OK; CERTO_EPERM (directory not writable), CERTO_ENOTFOUND (no such
 *         directory), CERTO_EIO; errno set. On failure the target is untouched and the
 *         temporary file is removed.
 */
CERTO_MUST_CHECK certo_rc certo_file_replace(const char *path, const void *data, size_t len,
                                             mode_t new_mode);

/* The mode and owner a replaced file is to have, whatever the file had before. */
struct certo_file_as {
    mode_t mode; /* permission bits */
    uid_t uid;   /* set when we may (root); else kept */
    gid_t gid;
};

/**
 * Like certo_file_replace, but the new file gets 'as' (mode, and owner when we may) before
 * it is renamed into place, never after: a staged or restored file is never visible with
 * the wrong mode.
 */
CERTO_MUST_CHECK certo_rc certo_file_replace_as(const char *path, const void *data, size_t len,
                                                const struct certo_file_as *as);

/** fsync of directory 'dir' (a file system that cannot sync a directory is not an error). */
CERTO_MUST_CHECK certo_rc certo_file_sync_dir(const char *dir);

/** The directory part of 'path': "." without a slash, "/" for a file at the root. */
char *certo_path_dirname(const char *path);

/**
 * Creates directory 'path' and its missing parents with 'mode'; existing ones are left
 * as they are. @return CERTO_OK; CERTO_EPERM, CERTO_ENOTFOUND, CERTO_EIO with errno set.
 */
CERTO_MUST_CHECK certo_rc certo_file_mkdirs(const char *path, mode_t mode);

/** True if 'path' exists (any type). */
bool certo_file_exists(const char *path);

/** certo_rc for an errno value of a failed file operation. */
certo_rc certo_file_rc_from_errno(int e);

#endif
