/* SPDX-License-Identifier: Apache-2.0 */
/* layer: util */
/*
 * The error record: one per operation, filled by the innermost failing function and
 * never rewritten by the layers above it (first writer wins). Messages are one line and
 * never carry secret material.
 */
#ifndef CERTO_ERR_H
#define CERTO_ERR_H

#include "certo/common.h"

/** Flags of struct certo_err. */
enum certo_err_flag {
    CERTO_ERR_RETRYABLE = 1u << 0, /* a later attempt may succeed (timeout, reset, 503) */
    CERTO_ERR_USER_SAFE = 1u << 1, /* msg may be shown to a remote API client */
};

/** Size of an error message, with its terminating NUL. */
#define CERTO_ERR_MSG_MAX 512

/** One error record. Zero-initialise it (`struct certo_err e = {0};`) before use. */
struct certo_err {
    certo_rc rc;                 /* CERTO_OK while unset */
    unsigned flags;              /* enum certo_err_flag */
    const char *where;           /* static module tag: "pki.jks", "util.file"; NULL while unset */
    int sys_errno;               /* errno at the failure, 0 if not a system error */
    unsigned long ossl;          /* first OpenSSL error drained at the site, 0 if none */
    char msg[CERTO_ERR_MSG_MAX]; /* one line, no newline, never secret material */
};

/**
 * Records an error unless 'err' already holds one; returns 'rc' either way so that
 * `return certo_err_set(err, CERTO_EINVAL, "pki.key", "...")` is one line.
 * @param err may be NULL (the error is then dropped).
 */
certo_rc certo_err_set(struct certo_err *err, certo_rc rc, const char *where, const char *fmt, ...)
    CERTO_PRINTF(4, 5);

/**
 * Like certo_err_set, and appends the reason of the first OpenSSL error on the thread's
 * queue. Always drains the whole OpenSSL queue, even when 'err' is NULL or already set,
 * so stale entries are never blamed on a later call.
 */
certo_rc certo_err_ossl(struct certo_err *err, certo_rc rc, const char *where, const char *fmt, ...)
    CERTO_PRINTF(4, 5);

/** Like certo_err_set, and appends strerror(errno); records errno in sys_errno. */
certo_rc certo_err_sys(struct certo_err *err, certo_rc rc, const char *where, const char *fmt, ...)
    CERTO_PRINTF(4, 5);

/** Clears 'err' so it can be reused. */
void certo_err_clear(struct certo_err *err);
/** The short reason of 'e' for a message of one's own: strerror of its errno, else its text. */
const char *certo_err_reason(const struct certo_err *e);

/** Static name of a return code, e.g. "EPARSE". Never NULL. */
const char *certo_rc_name(certo_rc rc);

/**
 * The CLI exit code for a return code: 0 for CERTO_OK, 2 for bad usage or bad input
 * (EINVAL, EPARSE, ENOTFOUND, EEXIST, EPERM, EAUTH, ETOOBIG, EUNSUPPORTED), 1 otherwise.
 */
int certo_rc_exit_code(certo_rc rc);

#endif
