/* SPDX-License-Identifier: Apache-2.0 */
/* layer: util */
/*
 * Writing to a socket or pipe whose peer has gone raises SIGPIPE, which kills the
 * process. Certo never changes the process-wide disposition (it would be inherited by
 * every program it runs); instead a thread blocks SIGPIPE around such writes and
 * consumes the one they raised, so the write fails with EPIPE and nothing else changes.
 */
#ifndef CERTO_SIGPIPE_H
#define CERTO_SIGPIPE_H

#include <signal.h>

#include "certo/common.h"

struct certo_sigpipe {
    sigset_t old;     /* the thread's mask before */
    bool was_pending; /* a SIGPIPE was pending before: it is not ours to consume */
};

/** Blocks SIGPIPE in the calling thread. Pair with certo_sigpipe_restore. */
void certo_sigpipe_block(struct certo_sigpipe *g);
/** Consumes a SIGPIPE raised since certo_sigpipe_block and restores the thread's mask. */
void certo_sigpipe_restore(struct certo_sigpipe *g);

#endif
