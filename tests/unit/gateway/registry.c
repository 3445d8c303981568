/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of src/gateway/registry.c and credstore.c: rows, sealed secrets, stores. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "certo/registry.h"
#include "certo/exec.h"
#include "testutil.h"

static const struct certo_gw_host linux_host = {false, false};

static struct certo_registry *
open_reg(const char *dir)
{
    struct certo_registry *reg = NULL;
    struct certo_err err = {0};
    assert_int_equal(certo_registry_open(&reg, dir, &err), CERTO_OK);
    return reg;
}

static void
add_ssh(struct certo_registry *reg, const char *name, const char *password,
        struct certo_endpoint *ep)
{
    struct certo_ep_secrets sec = {0};
    struct certo_err err = {0};
    memset(ep, 0, sizeof(*ep));
    ep->type = CERTO_EP_NGINX;
    certo_endpoint_set(ep, CERTO_F_NAME, name);
    certo_endpoint_set(ep, CERTO_F_CONNECTION_TYPE, "ssh");
    certo_endpoint_set(ep, CERTO_F_HOST, "127.0.0.1");
    certo_endpoint_set(ep, CERTO_F_USER, "deploy");
    sec.s[CERTO_F_PASSWORD] = t_secret(password);
    assert_int_equal(certo_endpoint_validate(ep, certo_ep_secrets_mask(&sec), &linux_host, &err),
                     CERTO_OK);
    assert_int_equal(certo_registry_add(reg, ep, &sec, &err), CERTO_OK);
    certo_ep_secrets_dispose(&sec);
}

static void
test_gateway_registry__add_get_list_remove(void **state)
{
    char *dir = t_mkdtemp();
    struct certo_registry *reg = open_reg(dir);
    struct certo_endpoint a, b, got, dup;
    struct certo_endpoint *list = NULL;
    struct certo_ep_secrets sec = {0};
    struct certo_err err = {0};
    size_t n = 0;
    (void)state;
    add_ssh(reg, "Web1", "pw-a", &a);
    add_ssh(reg, "web2", "pw-b", &b);
    assert_true(certo_uuid_is_valid(a.id));
    assert_string_not_equal(a.id, b.id);
    /* By name, case-insensitively, and by ID. */
    assert_int_equal(certo_registry_get(reg, "WEB1", &got, &err), CERTO_OK);
    assert_string_equal(got.id, a.id);
    assert_string_equal(certo_endpoint_get(&got, CERTO_F_NAME), "Web1");
    assert_int_equal(certo_endpoint_port(&got), 22);
    assert_true((got.secrets & (1u << CERTO_F_PASSWORD)) != 0);
    certo_endpoint_dispose(&got);
    assert_int_equal(certo_registry_get(reg, b.id, &got, &err), CERTO_OK);
    assert_string_equal(certo_endpoint_get(&got, CERTO_F_NAME), "web2");
    certo_endpoint_dispose(&got);
    /* A duplicate name, in another case, is refused and names the holder. */
    certo_endpoint_copy(&dup, &a);
    certo_endpoint_set(&dup, CERTO_F_NAME, "WEB1");
    assert_int_equal(certo_registry_add(reg, &dup, &sec, &err), CERTO_EEXIST);
    assert_non_null(strstr(err.msg, a.id));
    certo_err_clear(&err);
    certo_endpoint_dispose(&dup);
    assert_int_equal(certo_registry_list(reg, &list, &n, &err), CERTO_OK);
    assert_int_equal(n, 2);
    assert_string_equal(certo_endpoint_get(&list[0], CERTO_F_NAME), "Web1");
    certo_registry_list_free(list, n);
    assert_int_equal(certo_registry_remove(reg, a.id, &err), CERTO_OK);
    assert_int_equal(certo_registry_get(reg, a.id, &got, &err), CERTO_ENOTFOUND);
    certo_err_clear(&err);
    assert_int_equal(certo_registry_remove(reg, a.id, &err), CERTO_ENOTFOUND);
    certo_endpoint_dispose(&a);
    certo_endpoint_dispose(&b);
    certo_registry_close(reg);
    t_rmdir(dir);
}

static void
test_gateway_registry__secrets_sealed_and_bound(void **state)
{
    char *dir = t_mkdtemp();
    char *db = certo_asprintf("%s/gateway.db", dir);
    struct certo_registry *reg = open_reg(dir);
    struct certo_endpoint a, b, got;
    struct certo_secret *s = NULL;
    struct certo_err err = {0};
    struct certo_buf file;
    struct stat st;
    (void)state;
    add_ssh(reg, "a", "canary-AAAA-1234", &a);
    add_ssh(reg, "b", "canary-BBBB-5678", &b);
    assert_int_equal(certo_registry_secret(reg, &a, CERTO_F_PASSWORD, &s, &err), CERTO_OK);
    assert_string_equal(certo_secret_get0(s), "canary-AAAA-1234");
    certo_secret_free(s);
    s = NULL;
    certo_registry_close(reg);
    /* The database file alone holds no secret; the key sits beside it, 0600. */
    t_read_file(&file, db);
    assert_null(memmem(file.data, file.len, "canary-", 7));
    certo_buf_dispose(&file);
    char *keyfile = certo_asprintf("%s/secret.key", dir);
    assert_int_equal(stat(keyfile, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    certo_free(keyfile);
    /* Copy a's sealed password into b's row: it must not open there. */
    const char *argv[] = {"/usr/bin/sqlite3", db,
                          "UPDATE endpoints SET password = (SELECT password FROM endpoints "
                          "WHERE name_key = 'a') WHERE name_key = 'b'",
                          NULL};
    struct certo_exec_opts o = {.argv = argv};
    struct certo_exec_result r;
    assert_int_equal(certo_exec_run(&o, &r), CERTO_OK);
    assert_int_equal(r.exit_code, 0);
    certo_exec_result_dispose(&r);
    reg = open_reg(dir);
    assert_int_equal(certo_registry_get(reg, "b", &got, &err), CERTO_OK);
    assert_int_equal(certo_registry_secret(reg, &got, CERTO_F_PASSWORD, &s, &err), CERTO_EAUTH);
    assert_null(s);
    assert_null(strstr(err.msg, "canary"));
    certo_endpoint_dispose(&got);
    certo_registry_close(reg);
    /* Another key encryption key opens nothing. */
    setenv(CERTO_SECRET_KEY_ENV, "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100",
           1);
    reg = open_reg(dir);
    certo_err_clear(&err);
    assert_int_equal(certo_registry_secret(reg, &a, CERTO_F_PASSWORD, &s, &err), CERTO_EAUTH);
    unsetenv(CERTO_SECRET_KEY_ENV);
    certo_registry_close(reg);
    certo_endpoint_dispose(&a);
    certo_endpoint_dispose(&b);
    certo_free(db);
    t_rmdir(dir);
}

static void
test_gateway_registry__update_keeps_and_clears_secrets(void **state)
{
    char *dir = t_mkdtemp();
    struct certo_registry *reg = open_reg(dir);
    struct certo_endpoint a, got;
    struct certo_ep_secrets none = {0};
    struct certo_secret *s = NULL;
    struct certo_err err = {0};
    (void)state;
    add_ssh(reg, "a", "first", &a);
    certo_endpoint_set(&a, CERTO_F_PORT, "2222");
    certo_endpoint_set(&a, CERTO_F_NAME, "renamed");
    assert_int_equal(certo_registry_update(reg, &a, &none, 0, &err), CERTO_OK);
    assert_int_equal(certo_registry_get(reg, "renamed", &got, &err), CERTO_OK);
    assert_int_equal(certo_endpoint_port(&got), 2222);
    assert_int_equal(certo_registry_secret(reg, &got, CERTO_F_PASSWORD, &s, &err), CERTO_OK);
    assert_string_equal(certo_secret_get0(s), "first"); /* kept */
    certo_secret_free(s);
    certo_endpoint_dispose(&got);
    assert_int_equal(certo_registry_update(reg, &a, &none, 1u << CERTO_F_PASSWORD, &err), CERTO_OK);
    assert_int_equal(certo_registry_get(reg, a.id, &got, &err), CERTO_OK);
    assert_int_equal(got.secrets, 0);
    certo_endpoint_dispose(&got);
    certo_endpoint_dispose(&a);
    certo_registry_close(reg);
    t_rmdir(dir);
}

static void
test_gateway_registry__credential_stores(void **state)
{
    char *dir = t_mkdtemp();
    char *file = certo_asprintf("%s/creds.json", dir);
    char *prog = certo_asprintf("%s/vault.sh", dir);
    struct certo_registry *reg = open_reg(dir);
    struct certo_credstore fs = {0}, ex = {0}, got = {0};
    struct certo_credential cred = {0};
    struct certo_err err = {0};
    FILE *f;
    (void)state;
    f = fopen(file, "w");
    fputs("{\"k1\": {\"user\": \"u1\", \"password\": \"from-file\"}, \"k2\": {\"user\": 3}}", f);
    fclose(f);
    chmod(file, 0644);
    fs.name = certo_strdup("fs");
    fs.type = CERTO_CREDSTORE_FILE;
    fs.target = certo_strdup(file);
    assert_int_equal(certo_registry_store_add(reg, &fs, &err), CERTO_EPERM);
    assert_non_null(strstr(err.msg, "chmod 600"));
    certo_err_clear(&err);
    chmod(file, 0600);
    assert_int_equal(certo_registry_store_add(reg, &fs, &err), CERTO_OK);
    assert_int_equal(certo_registry_store_add(reg, &fs, &err), CERTO_EEXIST);
    certo_err_clear(&err);
    assert_int_equal(certo_registry_store_get(reg, "FS", &got, &err), CERTO_OK);
    assert_int_equal(certo_credstore_fetch(&got, "k1", &cred, &err), CERTO_OK);
    assert_string_equal(cred.user, "u1");
    assert_string_equal(certo_secret_get0(cred.password), "from-file");
    certo_credential_dispose(&cred);
    assert_int_equal(certo_credstore_fetch(&got, "nope", &cred, &err), CERTO_ENOTFOUND);
    certo_err_clear(&err);
    assert_int_equal(certo_credstore_fetch(&got, "k2", &cred, &err), CERTO_EPARSE);
    certo_err_clear(&err);
    certo_credstore_dispose(&got);

    f = fopen(prog, "w");
    fputs("#!/bin/sh\nread id\n[ \"$id\" = web ] || exit 1\n"
          "printf '{\"user\":\"deploy\",\"password\":\"from-exec\"}'\n",
          f);
    fclose(f);
    chmod(prog, 0755);
    ex.name = certo_strdup("vault");
    ex.type = CERTO_CREDSTORE_EXEC;
    ex.target = certo_strdup(prog);
    assert_int_equal(certo_registry_store_add(reg, &ex, &err), CERTO_OK);
    assert_int_equal(certo_credstore_fetch(&ex, "web", &cred, &err), CERTO_OK);
    assert_string_equal(certo_secret_get0(cred.password), "from-exec");
    certo_credential_dispose(&cred);
    assert_int_equal(certo_credstore_fetch(&ex, "other", &cred, &err), CERTO_ENOTFOUND);
    certo_err_clear(&err);

    /* An endpoint that uses a store keeps it from being removed. */
    struct certo_endpoint ep = {0};
    struct certo_ep_secrets none = {0};
    ep.type = CERTO_EP_NGINX;
    certo_endpoint_set(&ep, CERTO_F_NAME, "viastore");
    certo_endpoint_set(&ep, CERTO_F_CONNECTION_TYPE, "ssh");
    certo_endpoint_set(&ep, CERTO_F_HOST, "h");
    certo_endpoint_set(&ep, CERTO_F_STORE, "VAULT");
    certo_endpoint_set(&ep, CERTO_F_STORE_CRED_ID, "web");
    assert_int_equal(certo_endpoint_validate(&ep, 0, &linux_host, &err), CERTO_OK);
    assert_int_equal(certo_registry_add(reg, &ep, &none, &err), CERTO_OK);
    assert_string_equal(certo_endpoint_get(&ep, CERTO_F_STORE), "vault");
    assert_int_equal(certo_registry_credential(reg, &ep, &cred, &err), CERTO_OK);
    assert_string_equal(cred.user, "deploy");
    certo_credential_dispose(&cred);
    assert_int_equal(certo_registry_store_remove(reg, "vault", &err), CERTO_ECONFLICT);
    assert_non_null(strstr(err.msg, "viastore"));
    certo_err_clear(&err);
    assert_int_equal(certo_registry_remove(reg, ep.id, &err), CERTO_OK);
    assert_int_equal(certo_registry_store_remove(reg, "vault", &err), CERTO_OK);
    assert_int_equal(certo_registry_store_get(reg, "vault", &got, &err), CERTO_ENOTFOUND);
    certo_endpoint_dispose(&ep);
    certo_credstore_dispose(&fs);
    certo_credstore_dispose(&ex);
    certo_registry_close(reg);
    certo_free(file);
    certo_free(prog);
    t_rmdir(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gateway_registry__add_get_list_remove),
        cmocka_unit_test(test_gateway_registry__secrets_sealed_and_bound),
        cmocka_unit_test(test_gateway_registry__update_keeps_and_clears_secrets),
        cmocka_unit_test(test_gateway_registry__credential_stores),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
