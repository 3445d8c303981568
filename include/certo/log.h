/* SPDX-License-Identifier: Apache-2.0 */
/* layer: util */
/*
 * Logging to stderr, one line per call. Never pass secret material.
 * The level comes from CERTO_LOG (error, warn, info, debug); default warn.
 */
#ifndef CERTO_LOG_H
#define CERTO_LOG_H

#include "certo/common.h"

enum certo_log_level {
    CERTO_LOG_ERROR = 0,
    CERTO_LOG_WARN = 1,
    CERTO_LOG_INFO = 2,
    CERTO_LOG_DEBUG = 3,
};

void certo_log(enum certo_log_level lvl, const char *where, const char *fmt, ...)
    CERTO_PRINTF(3, 4);
/** True if messages of 'lvl' are printed. */
bool certo_log_enabled(enum certo_log_level lvl);

#endif
