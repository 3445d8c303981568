/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of src/pki/seal.c: AES-256-GCM sealing bound to a record, the key file. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "certo/seal.h"
#include "testutil.h"

static struct certo_seal_key *
key_of(unsigned char fill)
{
    unsigned char raw[CERTO_SEAL_KEY_LEN];
    struct certo_seal_key *k = NULL;
    struct certo_err err = {0};
    memset(raw, fill, sizeof(raw));
    assert_int_equal(certo_seal_key_from_bytes(&k, raw, sizeof(raw), &err), CERTO_OK);
    return k;
}

static void
seal_str(struct certo_buf *out, const struct certo_seal_key *k, const char *aad, const char *pt)
{
    struct certo_err err = {0};
    certo_buf_init(out, 4096);
    assert_int_equal(certo_seal(k, aad, pt, strlen(pt), out, &err), CERTO_OK);
}

static void
test_pki_seal__round_trip_and_fresh_nonce(void **state)
{
    struct certo_seal_key *k = key_of(7);
    struct certo_buf a, b;
    struct certo_secret *s = NULL;
    struct certo_err err = {0};
    (void)state;
    seal_str(&a, k, "endpoint/x/password", "hunter2-canary");
    seal_str(&b, k, "endpoint/x/password", "hunter2-canary");
    assert_int_equal(a.len, strlen("hunter2-canary") + CERTO_SEAL_OVERHEAD);
    assert_memory_not_equal(a.data, b.data, a.len); /* a new nonce each time */
    assert_null(memmem(a.data, a.len, "hunter2", 7));
    assert_int_equal(certo_unseal(k, "endpoint/x/password", a.data, a.len, &s, &err), CERTO_OK);
    assert_string_equal(certo_secret_get0(s), "hunter2-canary");
    certo_secret_free(s);
    certo_buf_dispose(&a);
    certo_buf_dispose(&b);
    certo_seal_key_free(k);
}

static void
test_pki_seal__other_record_or_key_fails(void **state)
{
    struct certo_seal_key *k = key_of(7), *k2 = key_of(8);
    struct certo_buf a;
    struct certo_secret *s = NULL;
    struct certo_err err = {0};
    (void)state;
    seal_str(&a, k, "endpoint/x/password", "pw");
    assert_int_equal(certo_unseal(k, "endpoint/y/password", a.data, a.len, &s, &err), CERTO_EAUTH);
    assert_null(s);
    certo_err_clear(&err);
    assert_int_equal(certo_unseal(k, "endpoint/x/store_password", a.data, a.len, &s, &err),
                     CERTO_EAUTH);
    certo_err_clear(&err);
    assert_int_equal(certo_unseal(k2, "endpoint/x/password", a.data, a.len, &s, &err), CERTO_EAUTH);
    assert_non_null(strstr(err.msg, "another secret key"));
    /* Every single-bit flip is caught, header included. */
    for (size_t i = 0; i < a.len * 8; i++) {
        a.data[i / 8] ^= (unsigned char)(1u << (i % 8));
        certo_err_clear(&err);
        assert_int_not_equal(certo_unseal(k, "endpoint/x/password", a.data, a.len, &s, &err),
                             CERTO_OK);
        assert_null(s);
        a.data[i / 8] ^= (unsigned char)(1u << (i % 8));
    }
    /* Truncations too. */
    for (size_t n = 0; n < a.len; n++) {
        certo_err_clear(&err);
        assert_int_not_equal(certo_unseal(k, "endpoint/x/password", a.data, n, &s, &err), CERTO_OK);
    }
    certo_buf_dispose(&a);
    certo_seal_key_free(k);
    certo_seal_key_free(k2);
}

static void
test_pki_seal__key_file_created_0600_and_reused(void **state)
{
    char *dir = t_mkdtemp();
    char *path = certo_asprintf("%s/secret.key", dir);
    struct certo_seal_key *k1 = NULL, *k2 = NULL;
    struct certo_err err = {0};
    struct certo_buf a;
    struct certo_secret *s = NULL;
    struct stat st;
    (void)state;
    unsetenv("CERTO_TEST_KEK");
    assert_int_equal(certo_seal_key_load(&k1, path, "CERTO_TEST_KEK", false, &err),
                     CERTO_ENOTFOUND);
    certo_err_clear(&err);
    assert_int_equal(certo_seal_key_load(&k1, path, "CERTO_TEST_KEK", true, &err), CERTO_OK);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 65);
    assert_int_equal(t_dir_count(dir), 1); /* the temporary link is gone */
    assert_int_equal(certo_seal_key_load(&k2, path, "CERTO_TEST_KEK", true, &err), CERTO_OK);
    seal_str(&a, k1, "r", "same key");
    assert_int_equal(certo_unseal(k2, "r", a.data, a.len, &s, &err), CERTO_OK);
    certo_secret_free(s);
    certo_seal_key_free(k2);
    k2 = NULL;
    /* A key file others may read is refused. */
    chmod(path, 0640);
    assert_int_equal(certo_seal_key_load(&k2, path, "CERTO_TEST_KEK", true, &err), CERTO_EPERM);
    assert_non_null(strstr(err.msg, "chmod 600"));
    chmod(path, 0600);
    /* The environment wins over the file, and must be 64 hex digits. */
    certo_err_clear(&err);
    setenv("CERTO_TEST_KEK", "00112233", 1);
    assert_int_equal(certo_seal_key_load(&k2, path, "CERTO_TEST_KEK", true, &err), CERTO_EPARSE);
    assert_non_null(strstr(err.msg, "CERTO_TEST_KEK"));
    certo_err_clear(&err);
    setenv("CERTO_TEST_KEK", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", 1);
    assert_int_equal(certo_seal_key_load(&k2, path, "CERTO_TEST_KEK", true, &err), CERTO_OK);
    assert_int_equal(certo_unseal(k2, "r", a.data, a.len, &s, &err), CERTO_EAUTH);
    unsetenv("CERTO_TEST_KEK");
    certo_buf_dispose(&a);
    certo_seal_key_free(k1);
    certo_seal_key_free(k2);
    certo_free(path);
    t_rmdir(dir);
}

/* Eight processes creating the key at once all end up with the same key. */
static void
test_pki_seal__concurrent_creation_agrees(void **state)
{
    char *dir = t_mkdtemp();
    char *path = certo_asprintf("%s/secret.key", dir);
    char *blob = certo_asprintf("%s/sealed", dir);
    pid_t pids[8];
    (void)state;
    for (int i = 0; i < 8; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            struct certo_seal_key *k = NULL;
            struct certo_err err = {0};
            struct certo_buf a;
            char *mine = certo_asprintf("%s.%d", blob, i);
            if (certo_seal_key_load(&k, path, NULL, true, &err) != CERTO_OK)
                _exit(1);
            certo_buf_init(&a, 4096);
            if (certo_seal(k, "r", "x", 1, &a, &err) != CERTO_OK ||
                certo_file_replace(mine, a.data, a.len, 0600) != CERTO_OK)
                _exit(2);
            _exit(0);
        }
    }
    for (int i = 0; i < 8; i++) {
        int st = 0;
        assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    struct certo_seal_key *k = NULL;
    struct certo_err err = {0};
    assert_int_equal(certo_seal_key_load(&k, path, NULL, false, &err), CERTO_OK);
    for (int i = 0; i < 8; i++) {
        char *mine = certo_asprintf("%s.%d", blob, i);
        struct certo_buf a;
        struct certo_secret *s = NULL;
        t_read_file(&a, mine);
        assert_int_equal(certo_unseal(k, "r", a.data, a.len, &s, &err), CERTO_OK);
        certo_secret_free(s);
        certo_buf_dispose(&a);
        certo_free(mine);
    }
    assert_int_equal(t_dir_count(dir), 9);
    certo_seal_key_free(k);
    certo_free(path);
    certo_free(blob);
    t_rmdir(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pki_seal__round_trip_and_fresh_nonce),
        cmocka_unit_test(test_pki_seal__other_record_or_key_fails),
        cmocka_unit_test(test_pki_seal__key_file_created_0600_and_reused),
        cmocka_unit_test(test_pki_seal__concurrent_creation_agrees),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
