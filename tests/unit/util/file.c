/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of src/util/file.c and src/util/secret.c: atomic replacement, modes, limits. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

static void
write_plain(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    chmod(path, mode);
}

static void
test_util_file__replace_new_file_mode(void **state)
{
    char *dir = t_mkdtemp();
    char *path = certo_asprintf("%s/key.pem", dir);
    struct stat st;
    (void)state;
    assert_int_equal(certo_file_replace(path, "secret", 6, 0600), CERTO_OK);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_size, 6);
    assert_int_equal(t_dir_count(dir), 1); /* no temporary file left */
    certo_free(path);
    t_rmdir(dir);
}

static void
test_util_file__replace_keeps_mode(void **state)
{
    char *dir = t_mkdtemp();
    char *path = certo_asprintf("%s/store.jks", dir);
    struct certo_buf b;
    struct stat st;
    (void)state;
    write_plain(path, "old content", 0640);
    assert_int_equal(certo_file_replace(path, "new", 3, 0600), CERTO_OK);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0640);
    t_read_file(&b, path);
    assert_string_equal((char *)b.data, "new");
    certo_buf_dispose(&b);
    assert_int_equal(t_dir_count(dir), 1);
    certo_free(path);
    t_rmdir(dir);
}

/* Runs certo_file_replace as an unprivileged user when we are root, who may write
 * anywhere; returns its certo_rc. */
static certo_rc
replace_unprivileged(const char *path, const char *data)
{
    if (geteuid() != 0)
        return certo_file_replace(path, data, strlen(data), 0600);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (setgid(65534) != 0 || setuid(65534) != 0)
            _exit(100);
        _exit(-(int)certo_file_replace(path, data, strlen(data), 0600));
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_not_equal(WEXITSTATUS(status), 100);
    return (certo_rc)(-WEXITSTATUS(status));
}

static void
test_util_file__replace_unwritable_dir(void **state)
{
    char *dir = t_mkdtemp();
    char *path = certo_asprintf("%s/store.p12", dir);
    struct certo_buf b;
    (void)state;
    write_plain(path, "original", 0644);
    chmod(dir, 0555);
    assert_int_equal(replace_unprivileged(path, "new"), CERTO_EPERM);
    chmod(dir, 0700);
    t_read_file(&b, path);
    assert_string_equal((char *)b.data, "original");
    certo_buf_dispose(&b);
    assert_int_equal(t_dir_count(dir), 1);
    certo_free(path);
    t_rmdir(dir);
}

static void
test_util_file__read_limits(void **state)
{
    char *dir = t_mkdtemp();
    char *path = certo_asprintf("%s/big", dir);
    struct certo_buf b;
    (void)state;
    write_plain(path, "0123456789", 0600);
    certo_buf_init(&b, 9);
    assert_int_equal(certo_file_read(&b, path), CERTO_ETOOBIG);
    certo_buf_dispose(&b);
    certo_buf_init(&b, 10);
    assert_int_equal(certo_file_read(&b, path), CERTO_OK);
    assert_int_equal(b.len, 10);
    certo_buf_dispose(&b);
    certo_buf_init(&b, 10);
    assert_int_equal(certo_file_read(&b, dir), CERTO_EINVAL); /* a directory */
    assert_int_equal(certo_file_read(&b, "/nonexistent/x"), CERTO_ENOTFOUND);
    certo_buf_dispose(&b);
    certo_free(path);
    t_rmdir(dir);
}

static void
test_util_file__secret_file(void **state)
{
    char *dir = t_mkdtemp();
    char *path = certo_asprintf("%s/pw", dir);
    struct certo_secret *s = NULL, *t = NULL;
    (void)state;
    write_plain(path, "pässwörd\r\nsecond line\n", 0600);
    assert_int_equal(certo_secret_load_file(&s, path), CERTO_OK);
    assert_string_equal(certo_secret_get0(s), "pässwörd");
    assert_int_equal(certo_secret_from_str(&t, "pässwörd"), CERTO_OK);
    assert_true(certo_secret_equal(s, t));
    certo_secret_free(s);
    certo_secret_free(t);
    assert_int_equal(certo_secret_load_file(&s, "/nonexistent/pw"), CERTO_ENOTFOUND);
    assert_null(s);
    certo_free(path);
    t_rmdir(dir);
}

static void
test_util_file__err_first_writer_wins(void **state)
{
    struct certo_err err = {0};
    (void)state;
    assert_int_equal(certo_err_set(&err, CERTO_EPARSE, "inner", "bad byte %d", 7), CERTO_EPARSE);
    assert_int_equal(certo_err_set(&err, CERTO_EIO, "outer", "something else"), CERTO_EIO);
    assert_int_equal(err.rc, CERTO_EPARSE);
    assert_string_equal(err.msg, "bad byte 7");
    assert_string_equal(err.where, "inner");
    certo_err_clear(&err);
    certo_err_set(&err, CERTO_EINVAL, "x", "line1\nline2");
    assert_string_equal(err.msg, "line1 line2");
    assert_int_equal(certo_err_set(NULL, CERTO_EINVAL, "x", "dropped"), CERTO_EINVAL);
    assert_int_equal(certo_rc_exit_code(CERTO_EAUTH), 2);
    assert_int_equal(certo_rc_exit_code(CERTO_EIO), 1);
    assert_int_equal(certo_rc_exit_code(CERTO_OK), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_util_file__replace_new_file_mode),
        cmocka_unit_test(test_util_file__replace_keeps_mode),
        cmocka_unit_test(test_util_file__replace_unwritable_dir),
        cmocka_unit_test(test_util_file__read_limits),
        cmocka_unit_test(test_util_file__secret_file),
        cmocka_unit_test(test_util_file__err_first_writer_wins),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
