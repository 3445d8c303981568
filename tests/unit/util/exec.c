/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of src/util/exec.c: capture, exit status, stdin, deadlines and process
 * groups, output ceilings, descriptor hygiene, signal state, and no zombies left behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "certo/exec.h"

#define MIB (1024 * 1024)

static int64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Every run reaps its child: we have no children at all between tests. */
static void
assert_no_children(void)
{
    int st;
    errno = 0;
    assert_int_equal(waitpid(-1, &st, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

static const char *
out_str(const struct certo_exec_result *r)
{
    return r->out.data != NULL ? (const char *)r->out.data : "";
}

static const char *
err_str(const struct certo_exec_result *r)
{
    return r->err.data != NULL ? (const char *)r->err.data : "";
}

/* True once 'pid' no longer runs: gone, or a zombie waiting for a reaper we do not own. */
static bool
process_gone(pid_t pid)
{
    char path[64], line[256];
    if (kill(pid, 0) != 0)
        return errno == ESRCH;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return true;
    char *ok = fgets(line, sizeof(line), f);
    fclose(f);
    if (ok == NULL)
        return true;
    const char *rp = strrchr(line, ')');
    return rp != NULL && (rp[2] == 'Z' || rp[2] == 'X');
}

static bool
wait_gone(pid_t pid, int ms)
{
    for (int i = 0; i < ms / 10; i++) {
        if (process_gone(pid))
            return true;
        usleep(10000);
    }
    return process_gone(pid);
}

static void
test_util_exec__stdout_stderr_separate(void **state)
{
    static const char *const argv[] = {"/bin/sh", "-c", "printf out; printf err >&2", NULL};
    struct certo_exec_opts o = {.argv = argv};
    struct certo_exec_result r;
    (void)state;
    assert_int_equal(certo_exec_run(&o, &r), CERTO_OK);
    assert_string_equal(out_str(&r), "out");
    assert_string_equal(err_str(&r), "err");
    assert_int_equal(r.exit_code, 0);
    assert_int_equal(r.term_signal, 0);
    assert_false(r.timed_out || r.out_truncated || r.err_truncated);
    certo_exec_result_dispose(&r);
    assert_no_children();
}

static void
test_util_exec__exit_code(void **state)
{
    static const char *const argv[] = {"/bin/sh", "-c", "exit 3", NULL};
    struct certo_exec_opts o = {.argv = argv};
    struct certo_exec_result r;
    (void)state;
    assert_int_equal(certo_exec_run(&o, &r), CERTO_OK);
    assert_int_equal(r.exit_code, 3);
    assert_int_equal(r.term_signal, 0);
    assert_int_equal(r.out.len, 0);
    certo_exec_result_dispose(&r);
    assert_no_children();
}

static void
test_util_exec__killed_by_signal(void **state)
{
    static const char *const argv[] = {"/bin/sh", "-c", "kill -9 $$", NULL};
    struct certo_exec_opts o = {.argv = argv};
    struct certo_exec_result r;
    (void)state;
    assert_int_equal(certo_exec_run(&o, &r), CERTO_OK);
    assert_int_equal(r.exit_code, -1);
    assert_int_equal(r.term_signal, SIGKILL);
    assert_false(r.timed_out);
    certo_exec_result_dispose(&r);
    assert_no_children();
}

static void
test_util_exec__stdin_passthrough(void **state)
{
    static const char *const argv[] = {"/bin/cat", NULL};
    unsigned char *in = certo_malloc(MIB);
    struct certo_exec_opts o = {.argv = argv, .input = in, .input_len = MIB, .max_output = 2 * MIB};
    struct certo_exec_result r;
    (void)state;
    for (size_t i = 0; i < MIB; i++)
        in[i] = (unsigned char)(i * 7 + i / 251); /* not periodic in the pipe size */
    assert_int_equal(certo_exec_run(&o, &r), CERTO_OK);
    assert_int_equal(r.exit_code, 0);
    assert_int_equal(r.out.len, MIB);
    assert_false(r.out_truncated);
    assert_memory_equal(r.out.data, in, MIB);
    certo_exec_result_dispose(&r);
    certo_free(in);
    assert_no_children();
}

/* Runs 'argv' with 1 MiB of input the child does not read; checks that we neither die of
 * SIGPIPE nor leave one pending, and that our mask is what it was. */
static void
run_unread_input(const char *const *argv)
{
    unsigned char *in = certo_calloc(1, MIB);
    struct certo_exec_opts o = {.argv = argv, .input = in, .input_len = MIB, .timeout_ms = 10000};
    struct certo_exec_result r;
    sigset_t before, after, pending;
    assert_int_equal(pthread_sigmask(SIG_SETMASK, NULL, &before), 0);
    assert_int_equal(certo_exec_run(&o, &r), CERTO_OK);
    assert_int_equal(r.exit_code, 0);
    assert_false(r.timed_out);
    assert_int_equal(pthread_sigmask(SIG_SETMASK, NULL, &after), 0);
    assert_int_equal(sigismember(&before, SIGPIPE), sigismember(&after, SIGPIPE));
    assert_int_equal(sigpending(&pending), 0);
    assert_false(sigismember(&pending, SIGPIPE));
    certo_exec_result_dispose(&r);
    certo_free(in);
    assert_no_children();
}

static void
test_util_exec__unread_input_no_sigpipe(void **state)
{
    static const char *const t[] = {"/bin/true", NULL};
    /* Closes stdin but stays alive, so that our write surely meets EPIPE. */
    static const char *const closer[] = {"/bin/sh", "-c", "exec 0<&-; sleep 0.3", NULL};
    (void)state;
    run_unread_input(t);
    run_unread_input(closer);
}

/* The hex mask after 'field' in /proc/PID/status text, or all ones if absent. */
static unsigned long long
status_mask(const char *status, const char *field)
{
    const char *p = strstr(status, field);
    if (p == NULL)
        return ~0ull;
    return strtoull(p + strlen(field), NULL, 16);
}

/* The caller ignores SIGPIPE and blocks SIGUSR1 (in a forked test process, since that is
 * process state): the program must still start with defaults. */
static void
test_util_exec__child_signal_defaults(void **state)
{
    static const char *const argv[] = {"/bin/cat", "/proc/self/status", NULL};
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct certo_exec_opts o = {.argv = argv};
        struct certo_exec_result r;
        sigset_t set;
        signal(SIGPIPE, SIG_IGN);
        sigemptyset(&set);
        sigaddset(&set, SIGUSR1);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
        if (certo_exec_run(&o, &r) != CERTO_OK)
            _exit(10);
        /* Only the standard signals 1-31 are ours to reset: glibc refuses to touch its
         * reserved real-time signals 32 and 33, which some parents (GNU make) ignore. */
        if ((status_mask(out_str(&r), "SigIgn:") & 0x7fffffffu) != 0)
            _exit(11);
        if ((status_mask(out_str(&r), "SigBlk:") & 0x7fffffffu) != 0)
            _exit(12);
        certo_exec_result_dispose(&r);
        _exit(0);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_no_children();
}

static void
test_util_exec__timeout(void **state)
{
    static const char *const argv[] = {"/bin/sleep", "30", NULL};
    struct certo_exec_opts o = {.argv = argv, .timeout_ms = 300};
    struct certo_exec_result r;
    (void)state;
    int64_t t0 = now_ms();
    assert_int_equal(certo_exec_run(&o, &r), CERTO_OK);
    int64_t took = now_ms() - t0;
    assert_true(r.timed_out);
    assert_int_equal(r.exit_code, -1);
    assert_int_equal(r.term_signal, SIGTERM);
    assert_true(took >= 300);
    assert_true(took < 3000);
    certo_exec_result_dispose(&r);
    assert_no_children();
}

/* SIGTERM ignored (the disposition is inherited through exec): SIGKILL after the grace. */
static void
test_util_exec__timeout_sigkill(void **state)
{
    static const char *const argv[] = {"/bin/sh", "-c", "trap '' TERM; sleep 30; exit 0", NULL};
    struct certo_exec_opts o = {.argv = argv, .timeout_ms = 200};
    struct certo_exec_result r;
    (void)state;
    int64_t t0 = now_ms();
    assert_int_equal(certo_exec_run(&o, &r), CERTO_OK);
    int64_t took = now_ms() - t0;
    assert_true(r.timed_out);
    assert_int_equal(r.term_signal, SIGKILL);
    assert_true(took >= 2000);
    assert_true(took < 5000);
    certo_exec_result_dispose(&r);
    assert_no_children();
}

static void
test_util_exec__timeout_kills_group(void **state)
{
    static const char *const argv[] = {"/bin/sh", "-c", "sleep 30 & echo $!; wait", NULL};
    struct certo_exec_opts o = {.argv = argv, .timeout_ms = 300};
    struct certo_exec_result r;
    (void)state;
    int64_t t0 = now_ms();
    assert_int_equal(certo_exec_run(&o, &r), CERTO_OK);
    assert_true(now_ms() - t0 < 3000);
    assert_true(r.timed_out);
    long gc = strtol(out_str(&r), NULL, 10);
    assert_true(gc > 1);
    assert_true(wait_gone((pid_t)gc, 2000));
    certo_exec_result_dispose(&r);
    assert_no_children();
}

/* The grandchild of test_util_exec__grandchild_holds_pipe: its pid, written by the shell to
 * 'pidfile' and echoed to stdout ('pid' once read). The test kills it by that pid; the
 * teardown does when the test stopped before (a failed assertion). */
struct grandchild {
    char *dir;
    char pidfile[512];
    long pid;
};

static int
grandchild_setup(void **state)
{
    struct grandchild *g = calloc(1, sizeof(*g));
    if (g == NULL)
        return -1;
    g->dir = t_mkdtemp();
    snprintf(g->pidfile, sizeof(g->pidfile), "%s/grandchild.pid", g->dir);
    *state = g;
    return 0;
}

/* Kills the grandchild: the pid in 'pidfile' (the file is removed) and 'pid', once each.
 * Returns the pid of the file, 0 if there was none. */
static long
kill_grandchild(struct grandchild *g)
{
    FILE *f = fopen(g->pidfile, "r");
    long pid = 0;
    if (f != NULL) {
        if (fscanf(f, "%ld", &pid) != 1)
            pid = 0;
        fclose(f);
        unlink(g->pidfile);
    }
    if (pid > 1)
        (void)kill((pid_t)pid, SIGKILL);
    if (g->pid > 1 && g->pid != pid)
        (void)kill((pid_t)g->pid, SIGKILL);
    g->pid = 0;
    return pid;
}

static int
grandchild_teardown(void **state)
{
    struct grandchild *g = *state;
    kill_grandchild(g);
    t_rmdir(g->dir);
    free(g);
    return 0;
}

/* A grandchild that keeps stdout open must not hold us once the child exited. */
static void
test_util_exec__grandchild_holds_pipe(void **state)
{
    struct grandchild *g = *state;
    const char *const argv[] = {
        "/bin/sh", "-c", "sleep 5 & echo $! > \"$1\"; echo $!", "sh", g->pidfile, NULL,
    };
    struct certo_exec_opts o = {.argv = argv};
    struct certo_exec_result r;
    int64_t t0 = now_ms();
    assert_int_equal(certo_exec_run(&o, &r), CERTO_OK);
    long gc = strtol(out_str(&r), NULL, 10);
    g->pid = gc;
    assert_true(now_ms() - t0 < 2000);
    assert_int_equal(r.exit_code, 0);
    assert_true(gc > 1);
    assert_int_equal(kill_grandchild(g), gc);
    certo_exec_result_dispose(&r);
    assert_no_children();
}

static void
test_util_exec__output_ceiling(void **state)
{
    static const char *const argv[] = {"/usr/bin/seq", "1", "30000", NULL};
    struct certo_exec_opts o = {.argv = argv, .max_output = 1000, .timeout_ms = 10000};
    struct certo_exec_result r;
    struct certo_buf want;
    (void)state;
    certo_buf_init(&want, 1 * MIB);
    for (int i = 1; i <= 30000; i++)
        assert_int_equal(certo_buf_printf(&want, "%d\n", i), CERTO_OK);
    assert_true(want.len > 100 * 1024);
    assert_int_equal(certo_exec_run(&o, &r), CERTO_OK);
    assert_int_equal(r.exit_code, 0); /* not blocked on a full pipe, not killed */
    assert_false(r.timed_out);
    assert_int_equal(r.out.len, 1000);
    assert_true(r.out_truncated);
    assert_false(r.err_truncated);
    assert_memory_equal(r.out.data, want.data, 1000);
    certo_buf_dispose(&want);
    certo_exec_result_dispose(&r);
    assert_no_children();
}

/* Both pipes full at once: reading one stream at a time would deadlock. */
static void
test_util_exec__both_streams_large(void **state)
{
    static const char *const argv[] = {
        "/bin/sh", "-c", "head -c 300000 /dev/zero >&2; head -c 300000 /dev/zero", NULL};
    struct certo_exec_opts o = {.argv = argv, .timeout_ms = 10000};
    struct certo_exec_result r;
    (void)state;
    assert_int_equal(certo_exec_run(&o, &r), CERTO_OK);
    assert_false(r.timed_out);
    assert_int_equal(r.exit_code, 0);
    assert_int_equal(r.out.len, 300000);
    assert_int_equal(r.err.len, 300000);
    certo_exec_result_dispose(&r);
    assert_no_children();
}

static void
test_util_exec__no_fd_leak(void **state)
{
    static const char *const argv[] = {"/bin/ls", "/proc/self/fd", NULL};
    struct certo_exec_opts o = {.argv = argv};
    struct certo_exec_result r;
    char extra[16];
    (void)state;
    int fd = open("/dev/null", O_RDONLY); /* deliberately without O_CLOEXEC */
    assert_true(fd >= 0);
    int high = fcntl(fd, F_DUPFD, 100); /* F_DUPFD: no close-on-exec either */
    assert_true(high >= 100);
    assert_int_equal(certo_exec_run(&o, &r), CERTO_OK);
    assert_int_equal(r.exit_code, 0);
    /* 0-2 and the directory ls opened (the lowest free number, 3). */
    assert_string_equal(out_str(&r), "0\n1\n2\n3\n");
    snprintf(extra, sizeof(extra), "%d\n", high);
    assert_null(strstr(out_str(&r), extra));
    certo_exec_result_dispose(&r);
    close(high);
    close(fd);
    assert_no_children();
}

static void
test_util_exec__envp_replaced(void **state)
{
    static const char *const argv[] = {"/usr/bin/env", NULL};
    static const char *const envp[] = {"A=1", NULL};
    struct certo_exec_opts o = {.argv = argv, .envp = envp};
    struct certo_exec_result r;
    (void)state;
    assert_int_equal(certo_exec_run(&o, &r), CERTO_OK);
    assert_string_equal(out_str(&r), "A=1\n");
    certo_exec_result_dispose(&r);
    assert_no_children();
}

static void
test_util_exec__envp_inherited(void **state)
{
    static const char *const argv[] = {"/usr/bin/env", NULL};
    struct certo_exec_opts o = {.argv = argv};
    struct certo_exec_result r;
    (void)state;
    assert_int_equal(setenv("CERTO_EXEC_TEST", "inherited", 1), 0);
    assert_int_equal(certo_exec_run(&o, &r), CERTO_OK);
    assert_non_null(strstr(out_str(&r), "CERTO_EXEC_TEST=inherited\n"));
    assert_int_equal(unsetenv("CERTO_EXEC_TEST"), 0);
    certo_exec_result_dispose(&r);
    assert_no_children();
}

static void
test_util_exec__cwd(void **state)
{
    static const char *const argv[] = {"/bin/pwd", NULL};
    char *dir = t_mkdtemp();
    char *real = realpath(dir, NULL);
    char *want = certo_asprintf("%s\n", real);
    struct certo_exec_opts o = {.argv = argv, .cwd = dir};
    struct certo_exec_result r;
    (void)state;
    assert_int_equal(certo_exec_run(&o, &r), CERTO_OK);
    assert_string_equal(out_str(&r), want);
    certo_exec_result_dispose(&r);
    o.cwd = "/nonexistent/dir";
    assert_int_equal(certo_exec_run(&o, &r), CERTO_ENOTFOUND);
    assert_int_equal(errno, ENOENT);
    certo_exec_result_dispose(&r);
    certo_free(want);
    free(real);
    t_rmdir(dir);
    assert_no_children();
}

static void
test_util_exec__not_found(void **state)
{
    static const char *const argv[] = {"/nonexistent/program", NULL};
    struct certo_exec_opts o = {.argv = argv};
    struct certo_exec_result r;
    (void)state;
    assert_int_equal(certo_exec_run(&o, &r), CERTO_ENOTFOUND);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(r.out.len, 0);
    certo_exec_result_dispose(&r);
    assert_no_children();
}

/* Root too: execve() wants at least one execute bit even for uid 0. */
static void
test_util_exec__not_executable(void **state)
{
    char *dir = t_mkdtemp();
    char *path = certo_asprintf("%s/script", dir);
    const char *argv[] = {path, NULL};
    struct certo_exec_opts o = {.argv = argv};
    struct certo_exec_result r;
    (void)state;
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("#!/bin/sh\necho hi\n", f);
    fclose(f);
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(certo_exec_run(&o, &r), CERTO_EPERM);
    assert_int_equal(errno, EACCES);
    certo_exec_result_dispose(&r);
    /* The same file with the bit runs: the refusal was about the mode. */
    assert_int_equal(chmod(path, 0755), 0);
    assert_int_equal(certo_exec_run(&o, &r), CERTO_OK);
    assert_string_equal(out_str(&r), "hi\n");
    certo_exec_result_dispose(&r);
    certo_free(path);
    t_rmdir(dir);
    assert_no_children();
}

static void
test_util_exec__bad_argv(void **state)
{
    static const char *const bare[] = {"ls", NULL};
    static const char *const empty[] = {NULL};
    struct certo_exec_opts o = {.argv = bare};
    struct certo_exec_result r;
    (void)state;
    assert_int_equal(certo_exec_run(&o, &r), CERTO_EINVAL);
    assert_int_equal(errno, EINVAL);
    certo_exec_result_dispose(&r);
    o.argv = empty;
    assert_int_equal(certo_exec_run(&o, &r), CERTO_EINVAL);
    certo_exec_result_dispose(&r);
    o.argv = NULL;
    assert_int_equal(certo_exec_run(&o, &r), CERTO_EINVAL);
    certo_exec_result_dispose(&r);
    assert_no_children();
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_util_exec__stdout_stderr_separate),
        cmocka_unit_test(test_util_exec__exit_code),
        cmocka_unit_test(test_util_exec__killed_by_signal),
        cmocka_unit_test(test_util_exec__stdin_passthrough),
        cmocka_unit_test(test_util_exec__unread_input_no_sigpipe),
        cmocka_unit_test(test_util_exec__child_signal_defaults),
        cmocka_unit_test(test_util_exec__timeout),
        cmocka_unit_test(test_util_exec__timeout_sigkill),
        cmocka_unit_test(test_util_exec__timeout_kills_group),
        cmocka_unit_test_setup_teardown(test_util_exec__grandchild_holds_pipe, grandchild_setup,
                                        grandchild_teardown),
        cmocka_unit_test(test_util_exec__output_ceiling),
        cmocka_unit_test(test_util_exec__both_streams_large),
        cmocka_unit_test(test_util_exec__no_fd_leak),
        cmocka_unit_test(test_util_exec__envp_replaced),
        cmocka_unit_test(test_util_exec__envp_inherited),
        cmocka_unit_test(test_util_exec__cwd),
        cmocka_unit_test(test_util_exec__not_found),
        cmocka_unit_test(test_util_exec__not_executable),
        cmocka_unit_test(test_util_exec__bad_argv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
