/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Minimal stderr logging (util layer). Structured logs for the server come later on top
 * of the same entry point.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certo/log.h"

static int level = -1;

static int
current_level(void)
{
    if (level < 0) {
        const char *e = getenv("CERTO_LOG");
        level = CERTO_LOG_WARN;
        if (e != NULL) {
            if (strcmp(e, "error") == 0)
                level = CERTO_LOG_ERROR;
            else if (strcmp(e, "info") == 0)
                level = CERTO_LOG_INFO;
            else if (strcmp(e, "debug") == 0)
                level = CERTO_LOG_DEBUG;
        }
    }
    return level;
}

bool
certo_log_enabled(enum certo_log_level lvl)
{
    return (int)lvl <= current_level();
}

void
certo_log(enum certo_log_level lvl, const char *where, const char *fmt, ...)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    va_list ap;

    if (!certo_log_enabled(lvl))
        return;
    fprintf(stderr, "certo: %s: %s: ", names[lvl], where);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}
