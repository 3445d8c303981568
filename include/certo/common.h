/* SPDX-License-Identifier: Apache-2.0 */
/* layer: util */
/*
 * Definitions shared by every layer of libcerto: the return code, the attribute
 * macros and the assertion policy. Depends on nothing but libc.
 */
#ifndef CERTO_COMMON_H
#define CERTO_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/** Every fallible function returns one of these (STYLE.md 3.1). */
typedef enum certo_rc {
    CERTO_OK = 0,
    CERTO_EAGAIN = -1,        /* not a failure: would block, call again */
    CERTO_EINVAL = -2,        /* caller/user supplied bad input */
    CERTO_EPARSE = -3,        /* malformed PEM/DER/JSON/config/keystore */
    CERTO_ENOTFOUND = -4,     /* no such file, alias, object */
    CERTO_EEXIST = -5,        /* already exists */
    CERTO_ECONFLICT = -6,     /* state changed underneath us */
    CERTO_EPERM = -7,         /* local permission denied */
    CERTO_EAUTH = -8,         /* wrong password, remote auth failed */
    CERTO_ETLS = -9,          /* handshake or chain verification failed */
    CERTO_ECRYPTO = -10,      /* any other OpenSSL failure */
    CERTO_ENET = -11,         /* resolve/connect/reset */
    CERTO_ETIMEDOUT = -12,    /* deadline passed */
    CERTO_EIO = -13,          /* local file/disk */
    CERTO_EREMOTE = -14,      /* target command / vendor API reported failure */
    CERTO_ETOOBIG = -15,      /* a configured bound was exceeded */
    CERTO_EUNSUPPORTED = -16, /* valid but not supported (algorithm, format) */
    CERTO_ENOMEM = -17,       /* only ever from a third-party library */
    CERTO_EINTERNAL = -18,    /* invariant broken: a bug */
} certo_rc;

#define CERTO_MUST_CHECK        __attribute__((warn_unused_result))
#define CERTO_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define CERTO_NORETURN          __attribute__((noreturn))
#define CERTO_UNUSED(x)         ((void)(x))
#define CERTO_ARRAY_LEN(a)      (sizeof(a) / sizeof((a)[0]))

/*
 * CERTO_TESTABLE marks file-local functions that unit tests call directly: static in
 * release builds, external in test builds (curl UNITTEST).
 */
#ifdef CERTO_TESTING
#define CERTO_TESTABLE
#else
#define CERTO_TESTABLE static
#endif

/*
 * Programming errors are assertions, not error codes (STYLE.md 3.2 rule 7): in debug
 * builds they abort; in release builds they log and make the function return
 * CERTO_EINTERNAL through the 'rc = ...; goto out' path of the caller.
 */
void certo_assert_fail(const char *expr, const char *file, int line);
#ifdef NDEBUG
#define CERTO_ASSERT(e) ((e) ? (void)0 : certo_assert_fail(#e, __FILE__, __LINE__))
#else
#define CERTO_ASSERT(e) ((e) ? (void)0 : (certo_assert_fail(#e, __FILE__, __LINE__), abort()))
#endif

#endif
