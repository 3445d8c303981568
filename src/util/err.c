/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The error record (util layer). Setters keep the first error written, so the innermost
 * and most specific message survives (curl Curl_failf, libgit2). The OpenSSL setter
 * always drains the thread's OpenSSL error queue.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "certo/err.h"
#include "certo/log.h"

static bool
take_slot(struct certo_err *err, certo_rc rc, const char *where)
{
    if (err == NULL || err->rc != CERTO_OK)
        return false;
    err->rc = rc;
    err->where = where;
    err->flags = 0;
    err->sys_errno = 0;
    err->ossl = 0;
    err->msg[0] = '\0';
    return true;
}

static void CERTO_PRINTF(2, 0) format_msg(struct certo_err *err, const char *fmt, va_list ap)
{
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    /* One line, always: a newline in a formatted value would forge a second log line. */
    for (char *p = err->msg; *p != '\0'; p++) {
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    }
}

static void
append_msg(struct certo_err *err, const char *sep, const char *text)
{
    size_t used = strlen(err->msg);
    if (used < sizeof(err->msg))
        snprintf(err->msg + used, sizeof(err->msg) - used, "%s%s", sep, text);
}

certo_rc
certo_err_set(struct certo_err *err, certo_rc rc, const char *where, const char *fmt, ...)
{
    va_list ap;

    if (!take_slot(err, rc, where))
        return rc;
    va_start(ap, fmt);
    format_msg(err, fmt, ap);
    va_end(ap);
    return rc;
}

certo_rc
certo_err_ossl(struct certo_err *err, certo_rc rc, const char *where, const char *fmt, ...)
{
    unsigned long first = ERR_peek_error();
    va_list ap;

    if (take_slot(err, rc, where)) {
        va_start(ap, fmt);
        format_msg(err, fmt, ap);
        va_end(ap);
        err->ossl = first;
        if (first != 0) {
            const char *reason = ERR_reason_error_string(first);
            if (reason != NULL)
                append_msg(err, ": ", reason);
        }
    }
    ERR_clear_error();
    return rc;
}

certo_rc
certo_err_sys(struct certo_err *err, certo_rc rc, const char *where, const char *fmt, ...)
{
    int saved = errno;
    va_list ap;

    if (!take_slot(err, rc, where))
        return rc;
    va_start(ap, fmt);
    format_msg(err, fmt, ap);
    va_end(ap);
    err->sys_errno = saved;
    if (saved != 0)
        append_msg(err, ": ", strerror(saved));
    return rc;
}

void
certo_err_clear(struct certo_err *err)
{
    if (err != NULL)
        memset(err, 0, sizeof(*err));
}

const char *
certo_rc_name(certo_rc rc)
{
    switch (rc) {
    case CERTO_OK:
        return "OK";
    case CERTO_EAGAIN:
        return "EAGAIN";
    case CERTO_EINVAL:
        return "EINVAL";
    case CERTO_EPARSE:
        return "EPARSE";
    case CERTO_ENOTFOUND:
        return "ENOTFOUND";
    case CERTO_EEXIST:
        return "EEXIST";
    case CERTO_ECONFLICT:
        return "ECONFLICT";
    case CERTO_EPERM:
        return "EPERM";
    case CERTO_EAUTH:
        return "EAUTH";
    case CERTO_ETLS:
        return "ETLS";
    case CERTO_ECRYPTO:
        return "ECRYPTO";
    case CERTO_ENET:
        return "ENET";
    case CERTO_ETIMEDOUT:
        return "ETIMEDOUT";
    case CERTO_EIO:
        return "EIO";
    case CERTO_EREMOTE:
        return "EREMOTE";
    case CERTO_ETOOBIG:
        return "ETOOBIG";
    case CERTO_EUNSUPPORTED:
        return "EUNSUPPORTED";
    case CERTO_ENOMEM:
        return "ENOMEM";
    case CERTO_EINTERNAL:
        return "EINTERNAL";
    }
    return "EUNKNOWN";
}

int
certo_rc_exit_code(certo_rc rc)
{
    switch (rc) {
    case CERTO_OK:
        return 0;
    case CERTO_EINVAL:
    case CERTO_EPARSE:
    case CERTO_ENOTFOUND:
    case CERTO_EEXIST:
    case CERTO_EPERM:
    case CERTO_EAUTH:
    case CERTO_ETOOBIG:
    case CERTO_EUNSUPPORTED:
        return 2;
    default:
        return 1;
    }
}

void
certo_assert_fail(const char *expr, const char *file, int line)
{
    certo_log(CERTO_LOG_ERROR, "assert", "%s:%d: assertion failed: %s", file, line, expr);
}

const char *
certo_err_reason(const struct certo_err *e)
{
    return e->sys_errno != 0 ? strerror(e->sys_errno) : e->msg;
}
