/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of src/util/sigpipe.c: a write to a gone peer fails, nothing else changes. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "certo/sigpipe.h"
#include "testutil.h"

static bool
pipe_pending(void)
{
    sigset_t pending;
    sigpending(&pending);
    return sigismember(&pending, SIGPIPE) == 1;
}

static bool
pipe_blocked(void)
{
    sigset_t cur;
    pthread_sigmask(SIG_SETMASK, NULL, &cur);
    return sigismember(&cur, SIGPIPE) == 1;
}

/* Writing to a socket whose peer is closed: EPIPE, the signal consumed, the mask back. */
static void
test_util_sigpipe__write_to_gone_peer(void **state)
{
    struct certo_sigpipe g;
    int sv[2];
    (void)state;

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    close(sv[1]);
    assert_false(pipe_blocked());
    certo_sigpipe_block(&g);
    assert_true(pipe_blocked());
    assert_int_equal(write(sv[0], "x", 1), -1);
    assert_int_equal(errno, EPIPE);
    assert_true(pipe_pending()); /* raised, held back by the mask */
    certo_sigpipe_restore(&g);
    assert_false(pipe_blocked());
    assert_false(pipe_pending());
    close(sv[0]);
}

/* A SIGPIPE that was pending before (someone else's) is left pending, and a mask that
 * already blocked SIGPIPE is kept. */
static void
test_util_sigpipe__foreign_pending_kept(void **state)
{
    struct certo_sigpipe g;
    sigset_t set;
    (void)state;

    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    raise(SIGPIPE);
    assert_true(pipe_pending());
    certo_sigpipe_block(&g);
    certo_sigpipe_restore(&g);
    assert_true(pipe_pending());
    assert_true(pipe_blocked());
    /* Clean up: consume it, unblock. */
    {
        int sig = 0;
        assert_int_equal(sigwait(&set, &sig), 0);
        assert_int_equal(sig, SIGPIPE);
    }
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    assert_false(pipe_pending());
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_util_sigpipe__write_to_gone_peer),
        cmocka_unit_test(test_util_sigpipe__foreign_pending_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
