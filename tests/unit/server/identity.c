/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of src/server/identity.c: the identity's CSR, importing its CA-signed
 * certificate with a chain, PKCS#12 export/import (the self-signed rule), rotation.
 */
#include <stdlib.h>
#include <string.h>

#include "certo/clock.h"
#include "certo/cert.h"
#include "certo/csr.h"
#include "certo/server.h"
#include "testutil.h"

struct fx {
    char *dir;
    struct certo_db *db;
};

static int
setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct certo_identity id = {0};
    struct certo_err err = {0};
    bool created = false;

    f->dir = t_mkdtemp();
    assert_int_equal(certo_server_db_open(&f->db, f->dir, NULL, &err), CERTO_OK);
    assert_int_equal(certo_identity_ensure(&id, &created, f->db, f->dir, NULL, &err), CERTO_OK);
    assert_true(created);
    certo_identity_dispose(&id);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;
    certo_db_close(f->db);
    t_rmdir(f->dir);
    free(f);
    return 0;
}

static void
fingerprint_of(char fp[96], struct certo_db *db)
{
    struct certo_err err = {0};
    X509 *c = NULL;
    assert_int_equal(certo_identity_load_cert(&c, db, &err), CERTO_OK);
    assert_int_equal(certo_cert_fingerprint(fp, c, &err), CERTO_OK);
    certo_cert_free(c);
}

/* The identity's CSR signed by the fixture intermediate: [leaf, int, root]. */
static STACK_OF(X509) * signed_bundle(struct fx *f)
{
    const struct certo_sign_opts opts = {.days = 30, .is_ca = false, .path_len = -1};
    struct certo_err err = {0};
    X509_REQ *req = NULL;
    X509 *leaf = NULL;
    EVP_PKEY *ca_key = t_fixture_key("int.key");
    STACK_OF(X509) *ca = t_fixture_certs("int.crt");
    STACK_OF(X509) *root = t_fixture_certs("ca.crt");
    STACK_OF(X509) *out = sk_X509_new_null();

    assert_int_equal(certo_identity_csr(&req, f->db, f->dir, NULL, &err), CERTO_OK);
    assert_int_equal(certo_csr_sign(&leaf, req, sk_X509_value(ca, 0), ca_key, &opts, &err),
                     CERTO_OK);
    sk_X509_push(out, sk_X509_value(root, 0)); /* any order */
    X509_up_ref(sk_X509_value(root, 0));
    sk_X509_push(out, leaf);
    sk_X509_push(out, sk_X509_value(ca, 0));
    X509_up_ref(sk_X509_value(ca, 0));
    X509_REQ_free(req);
    EVP_PKEY_free(ca_key);
    certo_certs_free(ca);
    certo_certs_free(root);
    return out;
}

static void
test_server_identity__csr_defaults_to_the_certificate(void **state)
{
    struct fx *f = *state;
    struct certo_err err = {0};
    struct certo_identity id = {0};
    const char *sans[] = {"DNS:orch.example.com"};
    const struct certo_names names = {.subject = "CN=orch.example.com", .sans = sans, .n_sans = 1};
    X509_REQ *req = NULL;
    char *a, *b;

    assert_int_equal(certo_identity_load(&id, f->db, f->dir, &err), CERTO_OK);
    assert_non_null(id.key);
    assert_int_equal(certo_identity_csr(&req, f->db, f->dir, NULL, &err), CERTO_OK);
    assert_true(EVP_PKEY_eq(X509_REQ_get0_pubkey(req), id.key) == 1);
    a = certo_cert_name_text(X509_REQ_get_subject_name(req));
    b = certo_cert_name_text(X509_get_subject_name(id.cert));
    assert_string_equal(a, b);
    certo_free(a);
    certo_free(b);
    X509_REQ_free(req);
    assert_int_equal(certo_identity_csr(&req, f->db, f->dir, &names, &err), CERTO_OK);
    a = certo_cert_name_text(X509_REQ_get_subject_name(req));
    assert_string_equal(a, "CN=orch.example.com");
    certo_free(a);
    X509_REQ_free(req);
    certo_identity_dispose(&id);
}

static void
test_server_identity__import_cert_keeps_the_chain(void **state)
{
    struct fx *f = *state;
    struct certo_err err = {0};
    struct certo_identity id = {0};
    STACK_OF(X509) *other = t_fixture_certs("leaf-ec256.crt");
    STACK_OF(X509) *bundle = signed_bundle(f);
    char before[96], after[96], leaf_fp[96];

    fingerprint_of(before, f->db);
    assert_int_equal(certo_identity_import_cert(f->db, other, false, certo_clock_now(), &err),
                     CERTO_EINVAL);
    fingerprint_of(after, f->db);
    assert_string_equal(before, after);
    /* ten years on the certificate has expired; --force takes it anyway */
    err = (struct certo_err){0};
    assert_int_equal(
        certo_identity_import_cert(f->db, bundle, false, certo_clock_now() + 3650L * 86400, &err),
        CERTO_EINVAL);
    assert_non_null(strstr(err.msg, "expired"));
    fingerprint_of(after, f->db);
    assert_string_equal(before, after);
    err = (struct certo_err){0};
    assert_int_equal(certo_identity_import_cert(f->db, bundle, false, certo_clock_now(), &err),
                     CERTO_OK);
    assert_int_equal(certo_identity_load(&id, f->db, f->dir, &err), CERTO_OK);
    assert_int_equal(sk_X509_num(id.chain), 1); /* the root is left out */
    assert_int_equal(certo_cert_fingerprint(leaf_fp, sk_X509_value(bundle, 1), &err), CERTO_OK);
    fingerprint_of(after, f->db);
    assert_string_equal(after, leaf_fp);
    assert_true(certo_cert_matches_key(id.cert, id.key));
    certo_identity_dispose(&id);
    certo_certs_free(other);
    certo_certs_free(bundle);
}

static void
test_server_identity__p12_round_trip_and_self_signed_rule(void **state)
{
    struct fx *f = *state;
    struct fx g = {0};
    struct certo_err err = {0};
    struct certo_identity id = {0};
    struct certo_buf p12;
    struct certo_secret *pw = t_secret("p12-pass"), *bad = t_secret("nope"), *empty = t_secret("");
    STACK_OF(X509) *bundle = signed_bundle(f);
    char a[96], b[96];
    int64_t n = -1;
    bool created = false;

    assert_int_equal(certo_identity_import_cert(f->db, bundle, false, certo_clock_now(), &err),
                     CERTO_OK);
    certo_buf_init(&p12, 1024 * 1024);
    assert_int_equal(certo_identity_export(&p12, f->db, f->dir, empty, &err), CERTO_EINVAL);
    assert_int_equal(certo_identity_export(&p12, f->db, f->dir, pw, &err), CERTO_OK);
    g.dir = t_mkdtemp();
    assert_int_equal(certo_server_db_open(&g.db, g.dir, NULL, &err), CERTO_OK);
    assert_int_equal(certo_identity_ensure(&id, &created, g.db, g.dir, NULL, &err), CERTO_OK);
    certo_identity_dispose(&id);
    fingerprint_of(b, g.db);
    err = (struct certo_err){0};
    assert_int_equal(certo_identity_import_p12(g.db, g.dir, p12.data, p12.len, bad, true, &err),
                     CERTO_EAUTH);
    assert_string_equal(err.msg, "wrong password");
    err = (struct certo_err){0};
    assert_int_equal(certo_identity_import_p12(g.db, g.dir, p12.data, p12.len, pw, false, &err),
                     CERTO_EEXIST);
    fingerprint_of(a, g.db);
    assert_string_equal(a, b);
    assert_int_equal(certo_identity_import_p12(g.db, g.dir, p12.data, p12.len, pw, true, &err),
                     CERTO_OK);
    fingerprint_of(a, g.db);
    fingerprint_of(b, f->db);
    assert_string_equal(a, b);
    assert_int_equal(certo_identity_load(&id, g.db, g.dir, &err), CERTO_OK);
    assert_int_equal(sk_X509_num(id.chain), 1);
    certo_identity_dispose(&id);
    assert_int_equal(certo_identity_signers_count(&n, g.db, &err), CERTO_OK);
    assert_int_equal(n, 1);
    certo_buf_dispose(&p12);
    certo_db_close(g.db);
    t_rmdir(g.dir);
    certo_secret_free(pw);
    certo_secret_free(bad);
    certo_secret_free(empty);
    certo_certs_free(bundle);
}

static void
test_server_identity__rotate_keeps_the_old_certificate(void **state)
{
    struct fx *f = *state;
    struct certo_err err = {0};
    char before[96], after[96], fp[96];
    int64_t n = -1;

    fingerprint_of(before, f->db);
    assert_int_equal(certo_identity_rotate(f->db, f->dir, fp, &err), CERTO_OK);
    fingerprint_of(after, f->db);
    assert_string_equal(after, fp);
    assert_string_not_equal(before, after);
    assert_int_equal(certo_identity_signers_count(&n, f->db, &err), CERTO_OK);
    assert_int_equal(n, 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_server_identity__csr_defaults_to_the_certificate,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_identity__import_cert_keeps_the_chain, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_server_identity__p12_round_trip_and_self_signed_rule,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_identity__rotate_keeps_the_old_certificate,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
