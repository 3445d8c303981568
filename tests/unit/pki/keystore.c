/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the keystore model (src/pki/keystore.c), chain ordering (chain.c), the
 * PEM keystore codec (pem.c) and material loading (bundle.c).
 */
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"

static void
test_pki_keystore__chain_order_unordered(void **state)
{
    STACK_OF(X509) *in = t_fixture_certs("unordered-ec256.pem");
    EVP_PKEY *key = t_fixture_key("leaf-ec256.key");
    STACK_OF(X509) *chain = NULL;
    struct certo_err err = {0};
    (void)state;
    assert_int_equal(sk_X509_num(in), 3);
    assert_int_equal(certo_chain_order(&chain, in, key, true, &err), CERTO_OK);
    assert_int_equal(sk_X509_num(chain), 3);
    assert_true(certo_cert_matches_key(sk_X509_value(chain, 0), key));
    assert_true(certo_chain_self_signed(sk_X509_value(chain, 2)));
    assert_int_equal(certo_chain_check_links(chain, NULL), CERTO_OK);
    certo_certs_free(chain);
    /* Without the key the leaf is the one certificate that issued none of the others. */
    assert_int_equal(certo_chain_order(&chain, in, NULL, false, &err), CERTO_OK);
    assert_int_equal(sk_X509_num(chain), 2);
    assert_true(certo_cert_matches_key(sk_X509_value(chain, 0), key));
    certo_certs_free(chain);
    certo_certs_free(in);
    EVP_PKEY_free(key);
}

static void
test_pki_keystore__chain_broken_link(void **state)
{
    STACK_OF(X509) *a = t_fixture_certs("leaf-ec256.crt");
    STACK_OF(X509) *b = t_fixture_certs("selfsigned.crt");
    struct certo_err err = {0};
    (void)state;
    sk_X509_push(a, sk_X509_shift(b));
    assert_int_equal(certo_chain_check_links(a, &err), CERTO_EINVAL);
    assert_non_null(strstr(err.msg, "certificate 1 of the chain was not issued by certificate 2"));
    certo_certs_free(a);
    certo_certs_free(b);
}

static void
test_pki_keystore__chain_key_matches_nothing(void **state)
{
    STACK_OF(X509) *in = t_fixture_certs("unordered-ec256.pem");
    EVP_PKEY *key = t_fixture_key("leaf-rsa2048.key");
    STACK_OF(X509) *chain = NULL;
    (void)state;
    assert_int_equal(certo_chain_order(&chain, in, key, true, NULL), CERTO_EINVAL);
    assert_null(chain);
    certo_certs_free(in);
    EVP_PKEY_free(key);
}

static void
test_pki_keystore__alias_rules(void **state)
{
    char *out = NULL;
    char longer[CERTO_ALIAS_MAX + 2];
    (void)state;
    assert_int_equal(certo_keystore_alias_check(&out, CERTO_KS_JKS, "", NULL), CERTO_EINVAL);
    assert_int_equal(certo_keystore_alias_check(&out, CERTO_KS_JKS,
                                                "a\x01"
                                                "b",
                                                NULL),
                     CERTO_EINVAL);
    assert_int_equal(certo_keystore_alias_check(&out, CERTO_KS_JKS, "a\xc3", NULL), CERTO_EINVAL);
    assert_int_equal(certo_keystore_alias_check(&out, CERTO_KS_PKCS12, "\xed\xa0\x80", NULL),
                     CERTO_EINVAL); /* an encoded surrogate is not UTF-8 */
    memset(longer, 'a', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    assert_int_equal(certo_keystore_alias_check(&out, CERTO_KS_PEM, longer, NULL), CERTO_EINVAL);
    assert_int_equal(certo_keystore_alias_check(&out, CERTO_KS_JKS, "My-Alias.ÄÖ", NULL), CERTO_OK);
    assert_string_equal(out, "my-alias.äö");
    certo_free(out);
    assert_int_equal(certo_keystore_alias_check(&out, CERTO_KS_PKCS12, "My Alias", NULL), CERTO_OK);
    assert_string_equal(out, "My Alias");
    certo_free(out);
}

static void
test_pki_keystore__default_alias(void **state)
{
    STACK_OF(X509) *c = t_fixture_certs("leaf-rsa2048.crt");
    (void)state;
    char *a = certo_keystore_default_alias(CERTO_KS_JKS, sk_X509_value(c, 0));
    assert_string_equal(a, "www.example.test");
    certo_free(a);
    certo_certs_free(c);
}

static void
test_pki_keystore__put_replace_remove(void **state)
{
    struct certo_keystore *ks = certo_keystore_new(CERTO_KS_JKS);
    STACK_OF(X509) *rsa = t_fixture_certs("fullchain-rsa2048.pem");
    STACK_OF(X509) *ec = t_fixture_certs("unordered-ec256.pem");
    STACK_OF(X509) *ca = t_fixture_certs("ca.crt");
    EVP_PKEY *krsa = t_fixture_key("leaf-rsa2048.key");
    EVP_PKEY *kec = t_fixture_key("leaf-ec256.key");
    STACK_OF(X509) *ecchain = NULL;
    struct certo_err err = {0};
    (void)state;

    assert_int_equal(certo_chain_order(&ecchain, ec, kec, false, NULL), CERTO_OK);
    assert_int_equal(certo_keystore_put_key(ks, "First", krsa, rsa, 1000, &err), CERTO_OK);
    assert_int_equal(certo_keystore_put_trusted(ks, "root", sk_X509_value(ca, 0), 2000, &err),
                     CERTO_OK);
    assert_int_equal(ks->count, 2);
    assert_string_equal(ks->entries[0].alias, "first"); /* JKS: lower-cased */
    /* Replace in place: same position, other entry untouched. */
    assert_int_equal(certo_keystore_put_key(ks, "FIRST", kec, ecchain, 3000, &err), CERTO_OK);
    assert_int_equal(ks->count, 2);
    assert_ptr_equal(certo_keystore_find(ks, "first"), &ks->entries[0]);
    assert_true(certo_key_public_equal(ks->entries[0].key, kec));
    assert_int_equal(ks->entries[1].kind, CERTO_KS_ENTRY_TRUSTED);
    /* Mismatched key and certificate: refused, store unchanged. */
    assert_int_equal(certo_keystore_put_key(ks, "bad", krsa, ecchain, 0, &err), CERTO_EINVAL);
    assert_non_null(strstr(err.msg, "does not match"));
    assert_int_equal(ks->count, 2);
    certo_err_clear(&err);
    assert_int_equal(certo_keystore_remove(ks, "ROOT", &err), CERTO_OK);
    assert_int_equal(ks->count, 1);
    assert_int_equal(certo_keystore_remove(ks, "root", &err), CERTO_ENOTFOUND);

    certo_keystore_free(ks);
    certo_certs_free(rsa);
    certo_certs_free(ec);
    certo_certs_free(ecchain);
    certo_certs_free(ca);
    EVP_PKEY_free(krsa);
    EVP_PKEY_free(kec);
}

static void
test_pki_keystore__add_take_duplicate(void **state)
{
    struct certo_keystore *ks = certo_keystore_new(CERTO_KS_PKCS12);
    (void)state;
    assert_int_equal(certo_keystore_add_take(ks, CERTO_KS_ENTRY_TRUSTED, "Root", 0, NULL,
                                             t_fixture_certs("ca.crt"), NULL),
                     CERTO_OK);
    /* Java would let the second silently win; we refuse the file instead. */
    assert_int_equal(certo_keystore_add_take(ks, CERTO_KS_ENTRY_TRUSTED, "root", 0, NULL,
                                             t_fixture_certs("int.crt"), NULL),
                     CERTO_EPARSE);
    assert_int_equal(ks->count, 1);
    certo_keystore_free(ks);
}

static struct certo_keystore *
parse_pem_fixture(const char *name, const struct certo_secret *pass, certo_rc want)
{
    struct certo_buf b;
    struct certo_keystore *ks = NULL;
    t_read_fixture(&b, name);
    assert_int_equal(certo_keystore_parse(&ks, CERTO_KS_AUTO, b.data, b.len, pass, NULL), want);
    certo_buf_dispose(&b);
    return ks;
}

static void
test_pki_keystore__pem_combined_roundtrip(void **state)
{
    struct certo_keystore *ks = parse_pem_fixture("combined-ec256.pem", NULL, CERTO_OK);
    struct certo_keystore *back = NULL;
    struct certo_secret *pw = t_secret("changeit");
    struct certo_buf out;
    (void)state;
    assert_int_equal(ks->format, CERTO_KS_PEM);
    assert_int_equal(ks->pem_layout, CERTO_PEM_KEY_FIRST);
    assert_int_equal(ks->count, 1);
    assert_int_equal(ks->entries[0].kind, CERTO_KS_ENTRY_KEY);
    assert_string_equal(ks->entries[0].alias, "ec256.example.test");
    assert_int_equal(sk_X509_num(ks->entries[0].certs), 2);

    static const enum certo_pem_layout layouts[] = {CERTO_PEM_COMBINED,  CERTO_PEM_KEY_FIRST,
                                                    CERTO_PEM_FULLCHAIN, CERTO_PEM_CERT,
                                                    CERTO_PEM_CHAIN,     CERTO_PEM_KEY};
    static const int certs[] = {2, 2, 2, 1, 1, 0};
    for (size_t i = 0; i < CERTO_ARRAY_LEN(layouts); i++) {
        ks->pem_layout = layouts[i];
        certo_buf_init(&out, CERTO_PEM_MAX);
        assert_int_equal(certo_keystore_serialize(&out, ks, NULL, NULL), CERTO_OK);
        STACK_OF(X509) *c = NULL;
        certo_rc rc = certo_cert_parse_all(&c, out.data, out.len, NULL);
        assert_int_equal(rc == CERTO_OK ? sk_X509_num(c) : 0, certs[i]);
        certo_certs_free(c);
        bool has_key = strstr((char *)out.data, "PRIVATE KEY") != NULL;
        assert_int_equal(has_key, layouts[i] <= CERTO_PEM_KEY_FIRST || layouts[i] == CERTO_PEM_KEY);
        certo_buf_dispose(&out);
    }
    /* An encrypted key needs its password back. */
    ks->pem_layout = CERTO_PEM_COMBINED;
    certo_buf_init(&out, CERTO_PEM_MAX);
    assert_int_equal(certo_keystore_serialize(&out, ks, pw, NULL), CERTO_OK);
    assert_non_null(strstr((char *)out.data, "ENCRYPTED PRIVATE KEY"));
    assert_int_equal(certo_keystore_parse(&back, CERTO_KS_PEM, out.data, out.len, NULL, NULL),
                     CERTO_EAUTH);
    assert_int_equal(certo_keystore_parse(&back, CERTO_KS_PEM, out.data, out.len, pw, NULL),
                     CERTO_OK);
    assert_int_equal(back->pem_layout, CERTO_PEM_COMBINED);
    assert_true(certo_key_public_equal(back->entries[0].key, ks->entries[0].key));
    certo_buf_dispose(&out);
    certo_keystore_free(back);
    certo_keystore_free(ks);
    certo_secret_free(pw);
}

static void
test_pki_keystore__pem_certs_only_and_two_keys(void **state)
{
    struct certo_keystore *ks = parse_pem_fixture("chain.pem", NULL, CERTO_OK);
    struct certo_buf b, two;
    (void)state;
    assert_int_equal(ks->count, 2);
    assert_int_equal(ks->entries[0].kind, CERTO_KS_ENTRY_TRUSTED);
    assert_int_equal(ks->pem_layout, CERTO_PEM_FULLCHAIN);
    certo_keystore_free(ks);

    t_read_fixture(&b, "leaf-ec256.key");
    certo_buf_init(&two, CERTO_PEM_MAX);
    assert_int_equal(certo_buf_append(&two, b.data, b.len), CERTO_OK);
    assert_int_equal(certo_buf_append(&two, b.data, b.len), CERTO_OK);
    assert_int_equal(certo_keystore_parse(&ks, CERTO_KS_PEM, two.data, two.len, NULL, NULL),
                     CERTO_EINVAL);
    assert_null(ks);
    certo_buf_dispose(&b);
    certo_buf_dispose(&two);
}

static void
test_pki_keystore__pem_layout_fit(void **state)
{
    struct certo_keystore *ks = parse_pem_fixture("leaf-ec256.crt", NULL, CERTO_OK);
    STACK_OF(X509) *ca = t_fixture_certs("ca.crt");
    STACK_OF(X509) *rsa = t_fixture_certs("leaf-rsa2048.crt");
    EVP_PKEY *krsa = t_fixture_key("leaf-rsa2048.key");
    (void)state;
    assert_int_equal(ks->pem_layout, CERTO_PEM_CERT);
    assert_int_equal(certo_pem_layout_fit(ks, NULL), CERTO_OK);
    assert_int_equal(ks->pem_layout, CERTO_PEM_CERT); /* already holds everything */
    assert_int_equal(certo_keystore_put_trusted(ks, "ca", sk_X509_value(ca, 0), 0, NULL), CERTO_OK);
    assert_false(certo_pem_layout_keeps_all(ks, CERTO_PEM_CERT));
    assert_int_equal(certo_pem_layout_fit(ks, NULL), CERTO_OK);
    assert_int_equal(ks->pem_layout, CERTO_PEM_FULLCHAIN);
    assert_int_equal(certo_keystore_put_key(ks, "k", krsa, rsa, 0, NULL), CERTO_OK);
    assert_int_equal(certo_pem_layout_fit(ks, NULL), CERTO_OK);
    assert_int_equal(ks->pem_layout, CERTO_PEM_COMBINED);
    assert_true(certo_pem_layout_keeps_all(ks, CERTO_PEM_KEY_FIRST));
    assert_false(certo_pem_layout_keeps_all(ks, CERTO_PEM_KEY));
    certo_keystore_free(ks);
    certo_certs_free(ca);
    certo_certs_free(rsa);
    EVP_PKEY_free(krsa);
}

static void
test_pki_keystore__detect(void **state)
{
    struct certo_buf b;
    (void)state;
    t_read_fixture(&b, "keytool.jks");
    assert_int_equal(certo_keystore_detect(b.data, b.len), CERTO_KS_JKS);
    certo_buf_dispose(&b);
    t_read_fixture(&b, "openssl-modern.p12");
    assert_int_equal(certo_keystore_detect(b.data, b.len), CERTO_KS_PKCS12);
    certo_buf_dispose(&b);
    t_read_fixture(&b, "chain.pem");
    assert_int_equal(certo_keystore_detect(b.data, b.len), CERTO_KS_PEM);
    certo_buf_dispose(&b);
    assert_int_equal(certo_keystore_detect("hello", 5), CERTO_KS_AUTO);
}

static void
test_pki_keystore__save_atomic(void **state)
{
    char *dir = t_mkdtemp();
    char *path = certo_asprintf("%s/out.pem", dir);
    char *missing = certo_asprintf("%s/no/such/dir/out.pem", dir);
    struct certo_keystore *ks = parse_pem_fixture("combined-ec256.pem", NULL, CERTO_OK);
    struct certo_err err = {0};
    struct stat st;
    (void)state;
    assert_int_equal(certo_keystore_save(ks, path, NULL, &err), CERTO_OK);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(certo_keystore_save(ks, missing, NULL, &err), CERTO_ENOTFOUND);
    assert_non_null(strstr(err.msg, "cannot write"));
    assert_int_equal(t_dir_count(dir), 1);
    certo_keystore_free(ks);
    certo_free(path);
    certo_free(missing);
    t_rmdir(dir);
}

static void
test_pki_keystore__bundle_sources(void **state)
{
    struct certo_bundle *b = NULL;
    struct certo_err err = {0};
    char cert[4096], key[4096], chain[4096];
    (void)state;
    snprintf(cert, sizeof(cert), "%s", t_fixture("leaf-rsa2048.crt"));
    snprintf(key, sizeof(key), "%s", t_fixture("leaf-rsa2048.key"));
    snprintf(chain, sizeof(chain), "%s", t_fixture("chain.pem"));
    struct certo_bundle_src src = {
        .cert_path = cert, .key_path = key, .chain_path = chain, .key_required = true};
    assert_int_equal(certo_bundle_load(&b, &src, &err), CERTO_OK);
    assert_int_equal(sk_X509_num(b->chain), 3);
    certo_bundle_free(b);

    /* A combined file holds everything. */
    struct certo_bundle_src comb = {.cert_path = t_fixture("combined-ec256.pem"),
                                    .key_required = true};
    assert_int_equal(certo_bundle_load(&b, &comb, &err), CERTO_OK);
    assert_int_equal(sk_X509_num(b->chain), 2);
    certo_bundle_free(b);

    snprintf(key, sizeof(key), "%s", t_fixture("leaf-ec256.key"));
    assert_int_equal(certo_bundle_load(&b, &src, &err), CERTO_EINVAL);
    assert_non_null(strstr(err.msg, "does not match"));
    certo_err_clear(&err);

    struct certo_bundle_src none = {.cert_path = "/nonexistent/cert.pem"};
    assert_int_equal(certo_bundle_load(&b, &none, &err), CERTO_ENOTFOUND);
    assert_non_null(strstr(err.msg, "/nonexistent/cert.pem"));
    assert_null(b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pki_keystore__chain_order_unordered),
        cmocka_unit_test(test_pki_keystore__chain_broken_link),
        cmocka_unit_test(test_pki_keystore__chain_key_matches_nothing),
        cmocka_unit_test(test_pki_keystore__alias_rules),
        cmocka_unit_test(test_pki_keystore__default_alias),
        cmocka_unit_test(test_pki_keystore__put_replace_remove),
        cmocka_unit_test(test_pki_keystore__add_take_duplicate),
        cmocka_unit_test(test_pki_keystore__pem_combined_roundtrip),
        cmocka_unit_test(test_pki_keystore__pem_certs_only_and_two_keys),
        cmocka_unit_test(test_pki_keystore__pem_layout_fit),
        cmocka_unit_test(test_pki_keystore__detect),
        cmocka_unit_test(test_pki_keystore__save_atomic),
        cmocka_unit_test(test_pki_keystore__bundle_sources),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
