/* SPDX-License-Identifier: Apache-2.0 */
/* SIGPIPE blocked per thread around writes to peers that may have gone (util layer). */
#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "certo/sigpipe.h"

void
certo_sigpipe_block(struct certo_sigpipe *g)
{
    sigset_t pipe_set, pending;

    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &g->old);
    sigpending(&pending);
    g->was_pending = sigismember(&pending, SIGPIPE) == 1;
}

void
certo_sigpipe_restore(struct certo_sigpipe *g)
{
    static const struct timespec zero = {0, 0};
    sigset_t pipe_set;

    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    if (!g->was_pending) {
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
            continue;
    }
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}
