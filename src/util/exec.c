/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Running a program (util layer): fork + execve with argv only, never a shell and never a
 * PATH search. The child gets its own process group, pipes for 0-2 and nothing else of
 * ours; the parent feeds stdin and drains stdout/stderr in one poll loop under a deadline.
 * Nothing process-wide is changed: no signal handlers, no environment; SIGPIPE is only
 * blocked in the calling thread, around writes. See docs/internals/EXEC.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "certo/clock.h"
#include "certo/exec.h"
#include "certo/file.h"
#include "certo/limits.h"
#include "certo/sigpipe.h"

#define KILL_GRACE_MS 2000      /* SIGTERM to SIGKILL after the deadline */
#define DRAIN_MS      100       /* EOF wait after the child exited (a grandchild may hold a pipe) */
#define TICK_MS       10        /* wait-status polling when pidfd_open is unavailable */
#define CLOSE_FD_CAP  (1 << 20) /* fallback close loop bound: the kernel's default nr_open */
#define CHUNK         65536

/* execve() takes 'char *const[]' for historical reasons and does not write through it. */
union argvec {
    const char *const *c;
    char *const *m;
};

struct child_fds {
    int in;     /* becomes stdin: pipe read end or /dev/null */
    int out;    /* becomes stdout: pipe write end */
    int err;    /* becomes stderr: pipe write end */
    int report; /* O_CLOEXEC pipe write end: errno if exec was not reached */
};

static int
min_timeout(int cur, int64_t ms)
{
    if (ms < 0)
        ms = 0;
    if (ms > INT_MAX)
        ms = INT_MAX;
    return cur < 0 || ms < cur ? (int)ms : cur;
}

static void
close_fd(int *fd)
{
    if (*fd >= 0) {
        int saved = errno;
        close(*fd);
        errno = saved;
        *fd = -1;
    }
}

static CERTO_NORETURN void
child_fail(int report)
{
    int e = errno;
    ssize_t n;
    do {
        n = write(report, &e, sizeof(e));
    } while (n < 0 && errno == EINTR);
    _exit(127);
}

/* Makes 'fd' at least 3, so that the dup2() onto 0-2 cannot clobber it. */
static int
lift_fd(int fd, int report)
{
    if (fd >= 3)
        return fd;
    int lifted = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (lifted < 0)
        child_fail(report);
    return lifted;
}

static void
close_from(unsigned lo, unsigned hi, unsigned limit)
{
    if (lo > hi)
        return;
    if (close_range(lo, hi, 0) == 0)
        return;
    /* Kernel before 5.9 (or a seccomp filter): one by one, up to the limit read before
     * fork(), since getrlimit/sysconf are not async-signal-safe by contract. */
    for (unsigned fd = lo; fd <= hi && fd < limit; fd++)
        close((int)fd);
}

/*
 * Runs between fork() and execve(): async-signal-safe calls only, no allocation (another
 * thread may have held the malloc lock at fork time). All signals are blocked on entry.
 */
static CERTO_NORETURN void
child_run(struct child_fds f, char *const *argv, char *const *envp, const char *cwd,
          unsigned fd_limit)
{
    struct sigaction dfl;
    sigset_t none;

    /* A handler of ours must not run here, and SIG_IGN would survive execve (a caller
     * that ignores SIGPIPE would otherwise give every child an ignored SIGPIPE). */
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig != SIGKILL && sig != SIGSTOP)
            (void)sigaction(sig, &dfl, NULL); /* glibc-reserved signals fail: fine */
    }
    if (setpgid(0, 0) != 0)
        child_fail(f.report);
    f.report = lift_fd(f.report, f.report);
    f.in = lift_fd(f.in, f.report);
    f.out = lift_fd(f.out, f.report);
    f.err = lift_fd(f.err, f.report);
    if (dup2(f.in, 0) < 0 || dup2(f.out, 1) < 0 || dup2(f.err, 2) < 0)
        child_fail(f.report);
    close_from(3, (unsigned)f.report - 1, fd_limit);
    close_from((unsigned)f.report + 1, ~0U, fd_limit);
    if (cwd != NULL && chdir(cwd) != 0)
        child_fail(f.report);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(argv[0], argv, envp);
    child_fail(f.report);
}

static certo_rc
set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0)
        return CERTO_EIO;
    return CERTO_OK;
}

/*
 * Writes what the pipe takes now. SIGPIPE is blocked in this thread only around the
 * write, and the one our EPIPE raised is consumed before the mask is restored, so neither
 * the process-wide disposition nor a SIGPIPE that was already pending is touched.
 * @return CERTO_OK (wrote or would block), CERTO_EAGAIN (child closed its stdin: stop),
 *         CERTO_EIO.
 */
static certo_rc
write_input(int fd, const unsigned char *p, size_t len, size_t *done)
{
    struct certo_sigpipe g;
    certo_rc rc = CERTO_EINTERNAL;
    ssize_t n;

    certo_sigpipe_block(&g);
    do {
        n = write(fd, p + *done, len - *done);
    } while (n < 0 && errno == EINTR);
    int e = errno;
    if (n >= 0) {
        *done += (size_t)n;
        rc = CERTO_OK;
    } else if (e == EAGAIN) {
        rc = CERTO_OK;
    } else if (e == EPIPE) {
        rc = CERTO_EAGAIN;
    } else {
        rc = CERTO_EIO;
    }
    certo_sigpipe_restore(&g);
    errno = e;
    return rc;
}

/* Reads one chunk; keeps what fits under the ceiling and drops the rest. */
static certo_rc
read_output(int *fd, struct certo_buf *b, bool *truncated)
{
    unsigned char chunk[CHUNK];
    ssize_t n;

    do {
        n = read(*fd, chunk, sizeof(chunk));
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno == EAGAIN ? CERTO_EAGAIN : CERTO_EIO;
    if (n == 0) {
        close_fd(fd);
        return CERTO_OK;
    }
    size_t keep = (size_t)n;
    if (keep > b->max - b->len) {
        keep = b->max - b->len;
        *truncated = true;
    }
    if (keep == 0)
        return CERTO_OK;
    return certo_buf_append(b, chunk, keep);
}

/*
 * Takes what is already in a pipe, without waiting: the output a child wrote before it
 * exited must not be lost because the loop got the CPU late. Bounded, in case a
 * grandchild keeps writing.
 */
static void
drain_ready(int *fd, struct certo_buf *b, bool *truncated)
{
    for (int i = 0; *fd >= 0 && i < 4096; i++) {
        if (read_output(fd, b, truncated) != CERTO_OK)
            break;
    }
}

/* One run: the parent's ends of the pipes and the child's state. */
struct run {
    pid_t pid;    /* -1 until forked */
    bool reaped;  /* waitpid() returned it: 'status' is valid and 'pid' is no longer ours */
    int status;   /* wait status */
    int in;       /* stdin pipe write end, non-blocking; -1 when done or no input */
    int out;      /* stdout pipe read end, non-blocking; -1 at EOF */
    int err;      /* stderr pipe read end, non-blocking; -1 at EOF */
    int pidfd;    /* readable when the child exits; -1 when reaped or unsupported */
    size_t wrote; /* bytes of the input written so far */
};

static void
run_close(struct run *s)
{
    close_fd(&s->in);
    close_fd(&s->out);
    close_fd(&s->err);
    close_fd(&s->pidfd);
}

/* Ends the group and waits for the child, unless it is already reaped. */
static void
run_reap(struct run *s)
{
    if (s->pid <= 0 || s->reaped)
        return;
    int saved = errno;
    (void)kill(-s->pid, SIGKILL);
    (void)kill(s->pid, SIGKILL);
    while (waitpid(s->pid, &s->status, 0) < 0 && errno == EINTR)
        continue;
    s->reaped = true;
    errno = saved;
}

/*
 * Creates the pipes and forks. On CERTO_OK the child has exec'd; otherwise it is reaped
 * and errno says why (the child's own errno when exec was not reached).
 */
static certo_rc
run_spawn(struct run *s, const struct certo_exec_opts *o)
{
    int in_p[2] = {-1, -1}, out_p[2] = {-1, -1}, err_p[2] = {-1, -1}, rep_p[2] = {-1, -1};
    int devnull = -1, child_errno = 0, saved = 0;
    unsigned fd_limit = CLOSE_FD_CAP;
    union argvec argv, envp;
    sigset_t all, old;
    struct rlimit rl;
    certo_rc rc = CERTO_EIO;
    ssize_t n;

    argv.c = o->argv;
    envp.c = o->envp;
    if (o->envp == NULL)
        envp.m = environ;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < CLOSE_FD_CAP)
        fd_limit = (unsigned)rl.rlim_cur;
    /* O_CLOEXEC everywhere: a fork() in another thread must not carry our pipe ends into
     * an unrelated program, where they would hold EOF off. */
    if (pipe2(out_p, O_CLOEXEC) != 0 || pipe2(err_p, O_CLOEXEC) != 0 ||
        pipe2(rep_p, O_CLOEXEC) != 0)
        goto out;
    if (o->input != NULL && pipe2(in_p, O_CLOEXEC) != 0)
        goto out;
    if (o->input == NULL) {
        devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (devnull < 0)
            goto out;
    }
    if (set_nonblock(out_p[0]) != CERTO_OK || set_nonblock(err_p[0]) != CERTO_OK ||
        (in_p[1] >= 0 && set_nonblock(in_p[1]) != CERTO_OK))
        goto out;

    /* Blocked across fork() so that no handler of ours runs in the child before it has
     * reset the dispositions; the child unblocks right before execve(). */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    s->pid = fork();
    if (s->pid == 0) {
        struct child_fds f = {in_p[0] >= 0 ? in_p[0] : devnull, out_p[1], err_p[1], rep_p[1]};
        child_run(f, argv.m, envp.m, o->cwd, fd_limit);
    }
    saved = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = saved;
    if (s->pid < 0)
        goto out;
    /* From here too, so that kill(-pid) cannot race the child's own setpgid(). It fails
     * with EACCES once the child has exec'd, and by then the child did it itself. */
    (void)setpgid(s->pid, s->pid);
    close_fd(&rep_p[1]);
    do {
        n = read(rep_p[0], &child_errno, sizeof(child_errno));
    } while (n < 0 && errno == EINTR);
    if (n == (ssize_t)sizeof(child_errno)) {
        rc = certo_file_rc_from_errno(child_errno);
        run_reap(s);
        errno = child_errno;
        goto out;
    }
    s->in = in_p[1];
    in_p[1] = -1;
    s->out = out_p[0];
    out_p[0] = -1;
    s->err = err_p[0];
    err_p[0] = -1;
    s->pidfd = pidfd_open(s->pid, 0); /* -1 (kernel < 5.3, seccomp): TICK_MS polling */
    rc = CERTO_OK;
out:
    saved = errno;
    close_fd(&in_p[0]);
    close_fd(&in_p[1]);
    close_fd(&out_p[0]);
    close_fd(&out_p[1]);
    close_fd(&err_p[0]);
    close_fd(&err_p[1]);
    close_fd(&rep_p[0]);
    close_fd(&rep_p[1]);
    close_fd(&devnull);
    errno = saved;
    return rc;
}

/*
 * Feeds stdin and drains stdout/stderr until the child is reaped and both pipes are at
 * EOF, or DRAIN_MS after it was reaped (a grandchild may keep the pipes open for ever).
 */
static certo_rc
run_pump(struct run *s, const struct certo_exec_opts *o, struct certo_exec_result *r)
{
    int64_t deadline = 0, kill_at = 0, exited_at = 0;
    bool killed = false;
    certo_rc rc = CERTO_EINTERNAL;

    if (o->timeout_ms > 0)
        deadline = certo_clock_mono_ms() + o->timeout_ms;
    if (s->in >= 0 && o->input_len == 0)
        close_fd(&s->in);
    for (;;) {
        if (!s->reaped) {
            pid_t w = waitpid(s->pid, &s->status, WNOHANG);
            if (w < 0 && errno != EINTR) {
                /* ECHILD: the caller ignores SIGCHLD, so the kernel reaped the child and
                 * its status is lost. */
                s->reaped = errno == ECHILD;
                rc = CERTO_EIO;
                goto out;
            }
            if (w == s->pid) {
                s->reaped = true;
                exited_at = certo_clock_mono_ms();
                close_fd(&s->pidfd);
                close_fd(&s->in); /* input nobody will read */
            }
        }
        int64_t now = certo_clock_mono_ms();
        if (deadline > 0 && !s->reaped && !r->timed_out && now >= deadline) {
            r->timed_out = true;
            (void)kill(-s->pid, SIGTERM);
            kill_at = now + KILL_GRACE_MS;
        }
        /* After a timeout the whole group ends, members that outlived the child too. */
        if (r->timed_out && !killed && (s->reaped || now >= kill_at)) {
            (void)kill(-s->pid, SIGKILL);
            killed = true;
        }
        if (s->reaped && ((s->out < 0 && s->err < 0) || now >= exited_at + DRAIN_MS)) {
            drain_ready(&s->out, &r->out, &r->out_truncated);
            drain_ready(&s->err, &r->err, &r->err_truncated);
            break;
        }

        int timeout = -1;
        if (!s->reaped && s->pidfd < 0)
            timeout = TICK_MS;
        if (deadline > 0 && !r->timed_out && !s->reaped)
            timeout = min_timeout(timeout, deadline - now);
        if (r->timed_out && !killed)
            timeout = min_timeout(timeout, kill_at - now);
        if (s->reaped)
            timeout = min_timeout(timeout, exited_at + DRAIN_MS - now);
        struct pollfd pfd[4] = {
            {s->in, POLLOUT, 0},
            {s->out, POLLIN, 0},
            {s->err, POLLIN, 0},
            {s->pidfd, POLLIN, 0},
        };
        if (poll(pfd, CERTO_ARRAY_LEN(pfd), timeout) < 0) {
            if (errno == EINTR)
                continue;
            rc = CERTO_EIO;
            goto out;
        }
        if (s->in >= 0 && pfd[0].revents != 0) {
            rc = write_input(s->in, o->input, o->input_len, &s->wrote);
            if (rc == CERTO_EIO)
                goto out;
            if (rc == CERTO_EAGAIN || s->wrote == o->input_len)
                close_fd(&s->in);
        }
        if (s->out >= 0 && pfd[1].revents != 0) {
            rc = read_output(&s->out, &r->out, &r->out_truncated);
            if (rc != CERTO_OK && rc != CERTO_EAGAIN)
                goto out;
        }
        if (s->err >= 0 && pfd[2].revents != 0) {
            rc = read_output(&s->err, &r->err, &r->err_truncated);
            if (rc != CERTO_OK && rc != CERTO_EAGAIN)
                goto out;
        }
    }
    if (WIFEXITED(s->status)) {
        r->exit_code = WEXITSTATUS(s->status);
    } else if (WIFSIGNALED(s->status)) {
        r->exit_code = -1;
        r->term_signal = WTERMSIG(s->status);
    }
    rc = CERTO_OK;
out:
    return rc;
}

certo_rc
certo_exec_run(const struct certo_exec_opts *o, struct certo_exec_result *r)
{
    struct run s = {.pid = -1, .in = -1, .out = -1, .err = -1, .pidfd = -1};
    certo_rc rc = CERTO_EINTERNAL;
    int saved;

    CERTO_ASSERT(r != NULL && o != NULL);
    memset(r, 0, sizeof(*r));
    r->exit_code = -1;
    size_t max = o->max_output > 0 ? o->max_output : CERTO_LIMIT_EXEC_OUTPUT;
    certo_buf_init(&r->out, max);
    certo_buf_init(&r->err, max);
    if (o->argv == NULL || o->argv[0] == NULL || strchr(o->argv[0], '/') == NULL) {
        errno = EINVAL;
        return CERTO_EINVAL;
    }
    rc = run_spawn(&s, o);
    if (rc != CERTO_OK)
        goto out;
    rc = run_pump(&s, o, r);
out:
    saved = errno;
    run_reap(&s); /* failing half-way: no group left running, no zombie */
    run_close(&s);
    errno = saved;
    return rc;
}

void
certo_exec_result_dispose(struct certo_exec_result *r)
{
    if (r == NULL)
        return;
    certo_buf_dispose(&r->out); /* wipes: output may hold keys or tokens */
    certo_buf_dispose(&r->err);
}
