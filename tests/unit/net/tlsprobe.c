/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of src/net/tlsprobe.c against a real `openssl s_server` on loopback. */
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

static int
free_port(void)
{
    struct sockaddr_in a = {0};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static pid_t
start_server(int port)
{
    char portstr[16];
    pid_t pid;

    snprintf(portstr, sizeof(portstr), "%d", port);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Not our stdout: ctest waits for every holder of the test's output pipe. */
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        const char *cert = certo_strdup(t_fixture("leaf-ec256.crt"));
        const char *key = certo_strdup(t_fixture("leaf-ec256.key"));
        const char *chain = certo_strdup(t_fixture("chain.pem"));
        execl("/usr/bin/openssl", "openssl", "s_server", "-quiet", "-accept", portstr, "-cert",
              cert, "-key", key, "-cert_chain", chain, "-naccept", "100", (char *)NULL);
        _exit(127);
    }
    return pid;
}

static void
test_net_tlsprobe__served_chain_and_wait(void **state)
{
    int port = free_port();
    pid_t pid = start_server(port);
    struct certo_tls_peer p;
    struct certo_err err = {0};
    char want[96];
    X509 *leaf = NULL;
    certo_rc rc = CERTO_ENET;
    (void)state;
    /* s_server needs a moment to listen. */
    for (int i = 0; i < 100 && rc != CERTO_OK; i++) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        certo_err_clear(&err);
        rc = certo_tls_probe("127.0.0.1", port, "ec256.example.test", 2000, &p, &err);
        if (rc != CERTO_OK)
            nanosleep(&ts, NULL);
    }
    STACK_OF(X509) *certs = t_fixture_certs("leaf-ec256.crt");
    leaf = sk_X509_value(certs, 0);
    assert_int_equal(certo_cert_fingerprint(want, leaf, &err), CERTO_OK);
    sk_X509_pop_free(certs, X509_free);
    int chain_len = rc == CERTO_OK ? sk_X509_num(p.chain) : 0;
    bool same = rc == CERTO_OK && strcmp(p.fingerprint, want) == 0;
    bool tls1 = rc == CERTO_OK && strncmp(p.version, "TLSv1", 5) == 0;
    if (rc == CERTO_OK)
        certo_tls_peer_dispose(&p);
    certo_rc found = certo_tls_wait_for("127.0.0.1", port, "x", want, 5000, &err);
    certo_err_clear(&err);
    certo_rc other = certo_tls_wait_for("127.0.0.1", port, "x", "00:11", 300, &err);
    /* The server goes before any assertion can end the test early. */
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    assert_int_equal(rc, CERTO_OK);
    assert_true(chain_len >= 2);
    assert_true(same);
    assert_true(tls1);
    assert_int_equal(found, CERTO_OK);
    assert_int_equal(other, CERTO_ECONFLICT);
    assert_non_null(strstr(err.msg, want));
    /* Nothing listens there any more. */
    certo_err_clear(&err);
    assert_int_equal(certo_tls_probe("127.0.0.1", port, NULL, 1000, &p, &err), CERTO_ENET);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_net_tlsprobe__served_chain_and_wait),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
