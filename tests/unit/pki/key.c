/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of private keys (src/pki/key.c): key specifications, generation of every
 * type, PEM / DER / encrypted round trips, the fixtures other tools wrote, password
 * errors, limits, and mutation loops that must never crash the readers.
 */
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>

#include "testutil.h"

/* Parses, expecting success, and checks the public half equals 'want'. */
static void
expect_same_key(const void *data, size_t len, const struct certo_secret *pass, EVP_PKEY *want)
{
    EVP_PKEY *k = NULL;
    struct certo_err err = {0};
    assert_int_equal(certo_key_parse(&k, data, len, pass, &err), CERTO_OK);
    assert_non_null(k);
    assert_true(certo_key_public_equal(k, want));
    EVP_PKEY_free(k);
}

static void
test_pki_key__spec_parse(void **state)
{
    static const struct {
        const char *text;
        enum certo_key_alg alg;
        unsigned bits;
    } ok[] = {
        {"rsa", CERTO_KEY_RSA, 2048},      {"RSA:2048", CERTO_KEY_RSA, 2048},
        {"rsa:3072", CERTO_KEY_RSA, 3072}, {"Rsa:4096", CERTO_KEY_RSA, 4096},
        {"ec", CERTO_KEY_EC, 256},         {"EC:P256", CERTO_KEY_EC, 256},
        {"ec:p384", CERTO_KEY_EC, 384},    {"p256", CERTO_KEY_EC, 256},
        {"P384", CERTO_KEY_EC, 384},       {"ED25519", CERTO_KEY_ED25519, 256},
    };
    static const char *const bad[] = {"",        "rsa:1024", "rsa:",     "dsa",
                                      "ec:p521", "ed448",    "rsa 2048", "ec:p256x"};
    struct certo_key_spec spec;
    (void)state;

    for (size_t i = 0; i < CERTO_ARRAY_LEN(ok); i++) {
        assert_int_equal(certo_key_spec_parse(&spec, ok[i].text, NULL), CERTO_OK);
        assert_int_equal(spec.alg, ok[i].alg);
        assert_int_equal(spec.bits, ok[i].bits);
    }
    for (size_t i = 0; i < CERTO_ARRAY_LEN(bad); i++) {
        struct certo_err err = {0};
        assert_int_equal(certo_key_spec_parse(&spec, bad[i], &err), CERTO_EINVAL);
        assert_non_null(strstr(err.msg, "rsa:4096"));
        assert_non_null(strstr(err.msg, "ed25519"));
    }
}

/* Every generated type survives PEM, DER and encrypted PEM, and describes itself. */
static void
test_pki_key__generate_roundtrip(void **state)
{
    static const struct {
        const char *spec;
        const char *alg;
        int bits;
        const char *curve;
    } types[] = {
        {"rsa", "RSA", 2048, NULL},      {"rsa:3072", "RSA", 3072, NULL},
        {"rsa:4096", "RSA", 4096, NULL}, {"ec:p256", "EC", 256, "P-256"},
        {"p384", "EC", 384, "P-384"},    {"ed25519", "Ed25519", 256, NULL},
    };
    struct certo_secret *pass = t_secret("changeit");
    (void)state;

    for (size_t i = 0; i < CERTO_ARRAY_LEN(types); i++) {
        struct certo_key_spec spec;
        struct certo_buf pem, der, enc;
        EVP_PKEY *k = NULL, *other = NULL;
        struct certo_err err = {0};

        assert_int_equal(certo_key_spec_parse(&spec, types[i].spec, NULL), CERTO_OK);
        assert_int_equal(certo_key_generate(&k, &spec, &err), CERTO_OK);
        assert_string_equal(certo_key_alg_name(k), types[i].alg);
        assert_int_equal(certo_key_bits(k), types[i].bits);
        if (types[i].curve != NULL)
            assert_string_equal(certo_key_curve(k), types[i].curve);
        else
            assert_null(certo_key_curve(k));

        certo_buf_init(&pem, CERTO_PEM_MAX);
        certo_buf_init(&der, CERTO_DER_MAX);
        certo_buf_init(&enc, CERTO_PEM_MAX);
        assert_int_equal(certo_key_to_pem(&pem, k, NULL, &err), CERTO_OK);
        assert_non_null(strstr((char *)pem.data, "-----BEGIN PRIVATE KEY-----"));
        assert_int_equal(certo_key_to_der(&der, k, &err), CERTO_OK);
        assert_int_equal(der.data[0], 0x30);
        assert_int_equal(certo_key_to_pem(&enc, k, pass, &err), CERTO_OK);
        assert_non_null(strstr((char *)enc.data, "-----BEGIN ENCRYPTED PRIVATE KEY-----"));

        expect_same_key(pem.data, pem.len, NULL, k);
        expect_same_key(der.data, der.len, NULL, k);
        expect_same_key(enc.data, enc.len, pass, k);

        /* A second key of the same type is a different key. */
        assert_int_equal(certo_key_generate(&other, &spec, NULL), CERTO_OK);
        assert_false(certo_key_public_equal(k, other));

        EVP_PKEY_free(other);
        EVP_PKEY_free(k);
        certo_buf_dispose(&pem);
        certo_buf_dispose(&der);
        certo_buf_dispose(&enc);
    }
    certo_secret_free(pass);
}

/* Our encrypted PEM names PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC. */
static void
test_pki_key__encrypted_pem_parameters(void **state)
{
    struct certo_key_spec spec = {CERTO_KEY_EC, 256};
    struct certo_secret *pass = t_secret("changeit");
    EVP_PKEY *k = NULL;
    struct certo_buf enc;
    BIO *bio;
    X509_SIG *sig;
    const X509_ALGOR *alg = NULL;
    PBE2PARAM *p2;
    PBKDF2PARAM *kdf;
    (void)state;

    assert_int_equal(certo_key_generate(&k, &spec, NULL), CERTO_OK);
    certo_buf_init(&enc, CERTO_PEM_MAX);
    assert_int_equal(certo_key_to_pem(&enc, k, pass, NULL), CERTO_OK);
    bio = BIO_new_mem_buf(enc.data, (int)enc.len);
    sig = PEM_read_bio_PKCS8(bio, NULL, NULL, NULL);
    assert_non_null(sig);
    X509_SIG_get0(sig, &alg, NULL);
    assert_int_equal(OBJ_obj2nid(alg->algorithm), NID_pbes2);
    p2 = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBE2PARAM), alg->parameter);
    assert_non_null(p2);
    assert_int_equal(OBJ_obj2nid(p2->encryption->algorithm), NID_aes_256_cbc);
    assert_int_equal(OBJ_obj2nid(p2->keyfunc->algorithm), NID_id_pbkdf2);
    kdf = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBKDF2PARAM), p2->keyfunc->parameter);
    assert_non_null(kdf);
    assert_non_null(kdf->prf);
    assert_int_equal(OBJ_obj2nid(kdf->prf->algorithm), NID_hmacWithSHA256);
    PBKDF2PARAM_free(kdf);
    PBE2PARAM_free(p2);
    X509_SIG_free(sig);
    BIO_free(bio);
    certo_buf_dispose(&enc);
    EVP_PKEY_free(k);
    certo_secret_free(pass);
}

static void
test_pki_key__fixtures(void **state)
{
    static const struct {
        const char *file;
        const char *alg;
        int bits;
    } fx[] = {
        {"leaf-rsa2048.key", "RSA", 2048},     {"leaf-rsa2048-traditional.key", "RSA", 2048},
        {"leaf-rsa2048.key.der", "RSA", 2048}, {"leaf-rsa3072.key", "RSA", 3072},
        {"leaf-ec256.key", "EC", 256},         {"leaf-ec384.key", "EC", 384},
        {"leaf-ed25519.key", "Ed25519", 256},  {"combined-ec256.pem", "EC", 256},
    };
    (void)state;

    for (size_t i = 0; i < CERTO_ARRAY_LEN(fx); i++) {
        struct certo_buf b;
        EVP_PKEY *k = NULL;
        struct certo_err err = {0};
        t_read_fixture(&b, fx[i].file);
        assert_int_equal(certo_key_parse(&k, b.data, b.len, NULL, &err), CERTO_OK);
        assert_string_equal(certo_key_alg_name(k), fx[i].alg);
        assert_int_equal(certo_key_bits(k), fx[i].bits);
        EVP_PKEY_free(k);
        certo_buf_dispose(&b);
    }
}

/* The traditional, PKCS#8 and DER forms of one key are the same key. */
static void
test_pki_key__forms_agree(void **state)
{
    EVP_PKEY *a = t_fixture_key("leaf-rsa2048.key");
    EVP_PKEY *b = t_fixture_key("leaf-rsa2048-traditional.key");
    EVP_PKEY *c = t_fixture_key("leaf-rsa2048.key.der");
    EVP_PKEY *ec = t_fixture_key("leaf-ec256.key");
    (void)state;
    assert_true(certo_key_public_equal(a, b));
    assert_true(certo_key_public_equal(a, c));
    assert_false(certo_key_public_equal(a, ec));
    assert_false(certo_key_public_equal(a, NULL));
    EVP_PKEY_free(a);
    EVP_PKEY_free(b);
    EVP_PKEY_free(c);
    EVP_PKEY_free(ec);
}

static void
test_pki_key__encrypted_fixtures(void **state)
{
    static const char *const files[] = {"leaf-ec256-enc.key", "leaf-ec256-enc.key.der"};
    EVP_PKEY *plain = t_fixture_key("leaf-ec256.key");
    struct certo_secret *good = t_secret("changeit");
    struct certo_secret *bad = t_secret("wrong");
    (void)state;

    for (size_t i = 0; i < CERTO_ARRAY_LEN(files); i++) {
        struct certo_buf b;
        EVP_PKEY *k = NULL;
        struct certo_err err = {0};

        t_read_fixture(&b, files[i]);
        expect_same_key(b.data, b.len, good, plain);

        assert_int_equal(certo_key_parse(&k, b.data, b.len, NULL, &err), CERTO_EAUTH);
        assert_null(k);
        assert_string_equal(err.msg, "the private key is encrypted: a password is needed");

        certo_err_clear(&err);
        assert_int_equal(certo_key_parse(&k, b.data, b.len, bad, &err), CERTO_EAUTH);
        assert_null(k);
        assert_non_null(strstr(err.msg, "wrong password for the private key"));
        /* The password never shows up in the message. */
        assert_null(strstr(err.msg, "wrong:"));
        assert_null(strstr(err.msg, "changeit"));
        /* certo_err_ossl drained the queue. */
        assert_int_equal(ERR_peek_error(), 0);
        certo_buf_dispose(&b);
    }
    certo_secret_free(good);
    certo_secret_free(bad);
    EVP_PKEY_free(plain);
}

/* A legacy "Proc-Type: 4,ENCRYPTED" traditional key (openssl genrsa -aes256 style). */
static void
test_pki_key__legacy_encrypted_traditional(void **state)
{
    EVP_PKEY *plain = t_fixture_key("leaf-rsa2048.key");
    struct certo_secret *good = t_secret("changeit");
    struct certo_secret *bad = t_secret("nope");
    BIO *bio = BIO_new(BIO_s_mem());
    char *p = NULL;
    long n;
    EVP_PKEY *k = NULL;
    (void)state;

    assert_int_equal(PEM_write_bio_PrivateKey_traditional(
                         bio, plain, EVP_aes_256_cbc(), (unsigned char *)"changeit", 8, NULL, NULL),
                     1);
    n = BIO_get_mem_data(bio, &p);
    assert_non_null(memmem(p, (size_t)n, "Proc-Type: 4,ENCRYPTED", 22));
    expect_same_key(p, (size_t)n, good, plain);
    assert_int_equal(certo_key_parse(&k, p, (size_t)n, NULL, NULL), CERTO_EAUTH);
    assert_int_equal(certo_key_parse(&k, p, (size_t)n, bad, NULL), CERTO_EAUTH);
    assert_null(k);
    BIO_free(bio);
    certo_secret_free(good);
    certo_secret_free(bad);
    EVP_PKEY_free(plain);
}

/* Blocks before the key (certificates, EC PARAMETERS, text) are skipped. */
static void
test_pki_key__pem_skips_other_blocks(void **state)
{
    struct certo_buf crt, key, all;
    EVP_PKEY *want = t_fixture_key("leaf-ec256.key");
    const char params[] = "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n"
                          "-----END EC PARAMETERS-----\n";
    (void)state;

    t_read_fixture(&crt, "leaf-ec256.crt");
    t_read_fixture(&key, "leaf-ec256.key");
    certo_buf_init(&all, CERTO_PEM_MAX);
    assert_int_equal(certo_buf_append_str(&all, "Bag Attributes\n    localKeyID: 01\n"), CERTO_OK);
    assert_int_equal(certo_buf_append(&all, crt.data, crt.len), CERTO_OK);
    assert_int_equal(certo_buf_append_str(&all, params), CERTO_OK);
    assert_int_equal(certo_buf_append(&all, key.data, key.len), CERTO_OK);
    expect_same_key(all.data, all.len, NULL, want);
    certo_buf_dispose(&crt);
    certo_buf_dispose(&key);
    certo_buf_dispose(&all);
    EVP_PKEY_free(want);
}

static void
test_pki_key__not_a_key(void **state)
{
    static const char *const files[] = {"leaf-ec256.crt", "leaf-rsa2048.der", "leaf-ec256.csr",
                                        "chain.pem"};
    EVP_PKEY *k = NULL;
    struct certo_err err = {0};
    (void)state;

    for (size_t i = 0; i < CERTO_ARRAY_LEN(files); i++) {
        struct certo_buf b;
        t_read_fixture(&b, files[i]);
        certo_err_clear(&err);
        assert_int_equal(certo_key_parse(&k, b.data, b.len, NULL, &err), CERTO_EPARSE);
        assert_null(k);
        certo_buf_dispose(&b);
    }
    assert_int_equal(certo_key_parse(&k, "", 0, NULL, NULL), CERTO_EPARSE);
    assert_int_equal(certo_key_parse(&k, "garbage", 7, NULL, NULL), CERTO_EPARSE);
    certo_err_clear(&err);
    assert_int_equal(certo_key_parse(&k, "-----BEGIN PRIVATE KEY-----\n!!!\n", 32, NULL, &err),
                     CERTO_EPARSE);
    assert_non_null(strstr(err.msg, "PEM block 1"));
    assert_int_equal(ERR_peek_error(), 0);
}

static void
test_pki_key__limits(void **state)
{
    size_t big = (size_t)CERTO_PEM_MAX + 1;
    unsigned char *data = certo_calloc(big, 1);
    EVP_PKEY *k = NULL;
    struct certo_err err = {0};
    (void)state;

    assert_int_equal(certo_key_parse(&k, data, big, NULL, &err), CERTO_ETOOBIG);
    data[0] = 0x30;
    assert_int_equal(certo_key_parse(&k, data, (size_t)CERTO_DER_MAX + 1, NULL, NULL),
                     CERTO_ETOOBIG);
    assert_null(k);
    certo_free(data);
}

/* A key asking for absurd PBKDF2 work is refused instead of hanging the reader. */
static void
test_pki_key__pbe_iteration_ceiling(void **state)
{
    EVP_PKEY *plain = t_fixture_key("leaf-ec256.key");
    struct certo_secret *pass = t_secret("changeit");
    PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(plain);
    X509_ALGOR *alg =
        PKCS5_pbe2_set_iv(EVP_aes_256_cbc(), 50000000, NULL, 0, NULL, NID_hmacWithSHA256);
    X509_SIG *sig;
    unsigned char *der = NULL;
    int n;
    EVP_PKEY *k = NULL;
    struct certo_err err = {0};
    (void)state;

    /* Encrypting would itself take the 50M iterations: build the structure with a wrong
     * ciphertext instead, which the ceiling check must reject before any derivation. */
    sig = X509_SIG_new();
    assert_non_null(sig);
    {
        X509_ALGOR *a = NULL;
        ASN1_OCTET_STRING *digest = NULL;
        X509_SIG_getm(sig, &a, &digest);
        assert_int_equal(X509_ALGOR_copy(a, alg), 1);
        assert_int_equal(
            ASN1_OCTET_STRING_set(digest, (const unsigned char *)"0123456789abcdef", 16), 1);
    }
    n = i2d_X509_SIG(sig, &der);
    assert_true(n > 0);
    assert_int_equal(certo_key_parse(&k, der, (size_t)n, pass, &err), CERTO_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "iterations"));
    OPENSSL_free(der);
    X509_SIG_free(sig);
    X509_ALGOR_free(alg);
    PKCS8_PRIV_KEY_INFO_free(p8);
    certo_secret_free(pass);
    EVP_PKEY_free(plain);
}

/*
 * OpenSSH-style mutation loop: every truncation and a spread of bit flips of each input
 * must give a clean error or a key, never a crash, leak or stale OpenSSL error.
 */
static void
mutate(const char *file, const struct certo_secret *pass)
{
    struct certo_buf b;
    unsigned char *copy;
    t_read_fixture(&b, file);
    copy = certo_malloc(b.len);

    for (size_t cut = 0; cut < b.len; cut += (b.len > 400 ? 3 : 1)) {
        EVP_PKEY *k = NULL;
        certo_rc rc = certo_key_parse(&k, b.data, cut, pass, NULL);
        assert_true(rc == CERTO_OK || rc == CERTO_EPARSE || rc == CERTO_EAUTH ||
                    rc == CERTO_EUNSUPPORTED);
        EVP_PKEY_free(k);
        assert_int_equal(ERR_peek_error(), 0);
    }
    for (size_t i = 0; i < b.len * 8; i += 7) {
        EVP_PKEY *k = NULL;
        memcpy(copy, b.data, b.len);
        copy[i / 8] ^= (unsigned char)(1u << (i % 8));
        certo_rc rc = certo_key_parse(&k, copy, b.len, pass, NULL);
        assert_true(rc == CERTO_OK || rc == CERTO_EPARSE || rc == CERTO_EAUTH ||
                    rc == CERTO_EUNSUPPORTED || rc == CERTO_ETOOBIG);
        EVP_PKEY_free(k);
        assert_int_equal(ERR_peek_error(), 0);
    }
    certo_free(copy);
    certo_buf_dispose(&b);
}

static void
test_pki_key__mutations(void **state)
{
    struct certo_secret *pass = t_secret("changeit");
    (void)state;
    mutate("leaf-ec256.key", NULL);
    mutate("leaf-rsa2048-traditional.key", NULL);
    mutate("leaf-rsa2048.key.der", NULL);
    mutate("leaf-ed25519.key", NULL);
    mutate("leaf-ec256-enc.key", pass);
    mutate("leaf-ec256-enc.key.der", pass);
    certo_secret_free(pass);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pki_key__spec_parse),
        cmocka_unit_test(test_pki_key__generate_roundtrip),
        cmocka_unit_test(test_pki_key__encrypted_pem_parameters),
        cmocka_unit_test(test_pki_key__fixtures),
        cmocka_unit_test(test_pki_key__forms_agree),
        cmocka_unit_test(test_pki_key__encrypted_fixtures),
        cmocka_unit_test(test_pki_key__legacy_encrypted_traditional),
        cmocka_unit_test(test_pki_key__pem_skips_other_blocks),
        cmocka_unit_test(test_pki_key__not_a_key),
        cmocka_unit_test(test_pki_key__limits),
        cmocka_unit_test(test_pki_key__pbe_iteration_ceiling),
        cmocka_unit_test(test_pki_key__mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
