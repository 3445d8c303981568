/* SPDX-License-Identifier: Apache-2.0 */
/* layer: util */
/*
 * Running a program: argv only, never a shell (DESIGN.md 6.3). The child gets its own
 * process group, stdin from a caller's buffer (or /dev/null), stdout and stderr captured
 * into bounded buffers, no descriptors of ours but 0-2, and a deadline after which the
 * whole group gets SIGTERM and, after a short grace, SIGKILL. Blocking; any thread.
 * util functions carry no error record: errno is left set for the caller's message.
 */
#ifndef CERTO_EXEC_H
#define CERTO_EXEC_H

#include "certo/common.h"
#include "certo/buf.h"

struct certo_exec_opts {
    const char *const *argv; /* required; argv[0] is a path with a '/' (no PATH search) */
    const char *const *envp; /* NULL: inherit our environment */
    const char *cwd;         /* NULL: inherit */
    const void *input;       /* bytes written to the child's stdin, then closed; NULL: /dev/null */
    size_t input_len;
    size_t max_output; /* ceiling for each of stdout and stderr; 0: CERTO_LIMIT_EXEC_OUTPUT */
    int timeout_ms;    /* 0: no deadline */
};

struct certo_exec_result {
    int exit_code;      /* 0-255 when the child exited, -1 when a signal ended it */
    int term_signal;    /* the signal that ended it, or 0 */
    bool timed_out;     /* the deadline passed and we ended the child */
    bool out_truncated; /* more output than max_output; the rest was read and dropped */
    bool err_truncated;
    struct certo_buf out; /* owned; captured stdout */
    struct certo_buf err; /* owned; captured stderr */
};

/**
 * Runs 'o->argv' and waits for it. 'r' is initialised here and must be disposed by the
 * caller whatever the result.
 * After a timeout, 'r' reports the signal that ended the child (SIGTERM, or SIGKILL after
 * a 2 s grace) and the whole group is sent SIGKILL. Once the child has exited, its pipes
 * are read until EOF or for at most 100 ms more (a daemonised grandchild may hold them).
 * Output past 'max_output' is read and dropped, never an error. Nothing process-wide
 * changes: SIGPIPE is blocked only in the calling thread, and only around writes.
 * @param o borrowed, not NULL. @param r not NULL; after an error: empty, exit_code -1.
 * @return CERTO_OK when the child ran (whatever its exit code: look at 'r');
 *         CERTO_ENOTFOUND (no such program or 'cwd'), CERTO_EPERM (not executable, or
 *         'cwd' not accessible),
 *         CERTO_EINVAL (argv empty or argv[0] without '/'), CERTO_EIO (fork, pipe, poll
 *         failed); errno set.
 */
CERTO_MUST_CHECK certo_rc certo_exec_run(const struct certo_exec_opts *o,
                                         struct certo_exec_result *r);

/** Frees the captured output (wiped: it may hold secrets). */
void certo_exec_result_dispose(struct certo_exec_result *r);

#endif
