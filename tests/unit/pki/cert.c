/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of certificates (src/pki/cert.c): PEM bundles and DER, writing, the
 * inspect report and its JSON, fingerprints, limits and mutation loops.
 */
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "testutil.h"

/* `openssl x509 -in leaf-rsa2048.crt -noout -fingerprint -sha256` at fixture time. */
#define LEAF_RSA_FP                                                                                \
    "59:E8:E2:AA:53:17:1D:EF:41:3F:86:9A:15:D7:C1:06:4E:AA:C7:01:BF:8C:42:45:34:D8:62:DA:B2:58:"   \
    "BD:99"
#define LEAF_RSA_SERIAL "B66E1EE4488D93CC741ACC1C25ECAC28"

static X509 *
fixture_cert(const char *name)
{
    struct certo_buf b;
    X509 *x = NULL;
    struct certo_err err = {0};
    t_read_fixture(&b, name);
    if (certo_cert_parse(&x, b.data, b.len, &err) != CERTO_OK)
        fail_msg("%s: %s", name, err.msg);
    certo_buf_dispose(&b);
    return x;
}

static void
test_pki_cert__parse_bundles(void **state)
{
    static const struct {
        const char *file;
        int n;
    } fx[] = {
        {"leaf-rsa2048.crt", 1},    {"leaf-rsa2048.der", 1},
        {"chain.pem", 2},           {"fullchain-rsa2048.pem", 3},
        {"unordered-ec256.pem", 3}, {"combined-ec256.pem", 2}, /* key block skipped */
    };
    (void)state;

    for (size_t i = 0; i < CERTO_ARRAY_LEN(fx); i++) {
        struct certo_buf b;
        STACK_OF(X509) *sk = NULL;
        struct certo_err err = {0};
        t_read_fixture(&b, fx[i].file);
        assert_int_equal(certo_cert_parse_all(&sk, b.data, b.len, &err), CERTO_OK);
        assert_int_equal(sk_X509_num(sk), fx[i].n);
        certo_certs_free(sk);
        certo_buf_dispose(&b);
    }
}

/* File order is kept, and the unordered fixture holds ca, leaf, int in that order. */
static void
test_pki_cert__bundle_order(void **state)
{
    STACK_OF(X509) *sk = t_fixture_certs("unordered-ec256.pem");
    X509 *ca = fixture_cert("ca.crt");
    X509 *leaf = fixture_cert("leaf-ec256.crt");
    X509 *in = fixture_cert("int.crt");
    (void)state;
    assert_int_equal(X509_cmp(sk_X509_value(sk, 0), ca), 0);
    assert_int_equal(X509_cmp(sk_X509_value(sk, 1), leaf), 0);
    assert_int_equal(X509_cmp(sk_X509_value(sk, 2), in), 0);
    X509_free(ca);
    X509_free(leaf);
    X509_free(in);
    certo_certs_free(sk);
}

/* Text between blocks, other block types and TRUSTED CERTIFICATE blocks. */
static void
test_pki_cert__bundle_with_noise(void **state)
{
    X509 *leaf = fixture_cert("leaf-ec256.crt");
    X509 *ca = fixture_cert("ca.crt");
    struct certo_buf key, all;
    BIO *bio = BIO_new(BIO_s_mem());
    char *p = NULL;
    long n;
    STACK_OF(X509) *sk = NULL;
    (void)state;

    t_read_fixture(&key, "leaf-ec256.key");
    certo_buf_init(&all, CERTO_PEM_MAX);
    assert_int_equal(certo_buf_append_str(&all, "Bag Attributes\n    friendlyName: www\n"
                                                "subject=/CN=ec256.example.test\n"),
                     CERTO_OK);
    assert_int_equal(certo_cert_to_pem(&all, leaf, NULL), CERTO_OK);
    assert_int_equal(certo_buf_append(&all, key.data, key.len), CERTO_OK);
    assert_int_equal(PEM_write_bio_X509_AUX(bio, ca), 1);
    n = BIO_get_mem_data(bio, &p);
    assert_non_null(memmem(p, (size_t)n, "TRUSTED CERTIFICATE", 19));
    assert_int_equal(certo_buf_append(&all, p, (size_t)n), CERTO_OK);
    assert_int_equal(certo_buf_append_str(&all, "trailing text\n"), CERTO_OK);

    assert_int_equal(certo_cert_parse_all(&sk, all.data, all.len, NULL), CERTO_OK);
    assert_int_equal(sk_X509_num(sk), 2);
    assert_int_equal(X509_cmp(sk_X509_value(sk, 0), leaf), 0);
    assert_int_equal(X509_cmp(sk_X509_value(sk, 1), ca), 0);
    certo_certs_free(sk);
    BIO_free(bio);
    certo_buf_dispose(&all);
    certo_buf_dispose(&key);
    X509_free(leaf);
    X509_free(ca);
}

static void
test_pki_cert__parse_errors(void **state)
{
    struct certo_buf b, bad;
    STACK_OF(X509) *sk = NULL;
    X509 *x = NULL;
    struct certo_err err = {0};
    (void)state;

    /* No certificate at all. */
    t_read_fixture(&b, "leaf-ec256.key");
    assert_int_equal(certo_cert_parse_all(&sk, b.data, b.len, &err), CERTO_EPARSE);
    assert_null(sk);
    certo_buf_dispose(&b);
    assert_int_equal(certo_cert_parse_all(&sk, "", 0, NULL), CERTO_EPARSE);
    assert_int_equal(certo_cert_parse_all(&sk, "hello", 5, NULL), CERTO_EPARSE);

    /* The second block is damaged: the error names it. */
    t_read_fixture(&b, "chain.pem");
    certo_buf_init(&bad, CERTO_PEM_MAX);
    assert_int_equal(certo_buf_append(&bad, b.data, b.len), CERTO_OK);
    char *second = strstr(strstr((char *)bad.data, "-----END") + 1, "-----BEGIN CERTIFICATE-----");
    assert_non_null(second);
    second[40] = '*';
    certo_err_clear(&err);
    assert_int_equal(certo_cert_parse_all(&sk, bad.data, bad.len, &err), CERTO_EPARSE);
    assert_non_null(strstr(err.msg, "PEM block 2"));
    assert_int_equal(ERR_peek_error(), 0);

    /* Valid base64 that is not a certificate. */
    certo_buf_reset(&bad);
    assert_int_equal(certo_buf_append_str(
                         &bad, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
                     CERTO_OK);
    certo_err_clear(&err);
    assert_int_equal(certo_cert_parse_all(&sk, bad.data, bad.len, &err), CERTO_EPARSE);
    assert_non_null(strstr(err.msg, "PEM block 1 (CERTIFICATE) is not a valid certificate"));

    /* certo_cert_parse wants exactly one. */
    certo_err_clear(&err);
    assert_int_equal(certo_cert_parse(&x, b.data, b.len, &err), CERTO_EPARSE);
    assert_null(x);
    assert_non_null(strstr(err.msg, "found 2"));

    /* DER with a trailing byte. */
    certo_buf_dispose(&b);
    t_read_fixture(&b, "leaf-rsa2048.der");
    assert_int_equal(certo_buf_append(&b, "\0", 1), CERTO_OK);
    assert_int_equal(certo_cert_parse_all(&sk, b.data, b.len, NULL), CERTO_EPARSE);
    certo_buf_dispose(&b);
    certo_buf_dispose(&bad);
}

static void
test_pki_cert__limits(void **state)
{
    size_t big = (size_t)CERTO_PEM_MAX + 1;
    unsigned char *data = certo_calloc(big, 1);
    STACK_OF(X509) *sk = NULL;
    struct certo_buf one, many;
    (void)state;

    assert_int_equal(certo_cert_parse_all(&sk, data, big, NULL), CERTO_ETOOBIG);
    data[0] = 0x30;
    assert_int_equal(certo_cert_parse_all(&sk, data, (size_t)CERTO_DER_MAX + 1, NULL),
                     CERTO_ETOOBIG);
    certo_free(data);

    /* One certificate more than CERTO_BUNDLE_CERTS_MAX (~5 MiB of PEM, under the cap). */
    t_read_fixture(&one, "ca.crt");
    certo_buf_init(&many, CERTO_PEM_MAX);
    for (int i = 0; i <= CERTO_BUNDLE_CERTS_MAX; i++)
        assert_int_equal(certo_buf_append(&many, one.data, one.len), CERTO_OK);
    struct certo_err err = {0};
    assert_int_equal(certo_cert_parse_all(&sk, many.data, many.len, &err), CERTO_ETOOBIG);
    assert_null(sk);
    assert_non_null(strstr(err.msg, "more than"));
    certo_buf_dispose(&one);
    certo_buf_dispose(&many);
}

/* PEM and DER out, and back, give the same certificate; DER equals the fixture's bytes. */
static void
test_pki_cert__write_roundtrip(void **state)
{
    X509 *x = fixture_cert("leaf-rsa2048.crt");
    X509 *y = NULL;
    struct certo_buf pem, der, fx_pem, fx_der;
    (void)state;

    certo_buf_init(&pem, CERTO_PEM_MAX);
    certo_buf_init(&der, CERTO_DER_MAX);
    assert_int_equal(certo_cert_to_pem(&pem, x, NULL), CERTO_OK);
    assert_int_equal(certo_cert_to_der(&der, x, NULL), CERTO_OK);
    t_read_fixture(&fx_pem, "leaf-rsa2048.crt");
    t_read_fixture(&fx_der, "leaf-rsa2048.der");
    assert_int_equal(pem.len, fx_pem.len);
    assert_memory_equal(pem.data, fx_pem.data, pem.len);
    assert_int_equal(der.len, fx_der.len);
    assert_memory_equal(der.data, fx_der.data, der.len);
    assert_int_equal(certo_cert_parse(&y, der.data, der.len, NULL), CERTO_OK);
    assert_int_equal(X509_cmp(x, y), 0);
    X509_free(y);
    X509_free(x);
    certo_buf_dispose(&pem);
    certo_buf_dispose(&der);
    certo_buf_dispose(&fx_pem);
    certo_buf_dispose(&fx_der);
}

static void
test_pki_cert__fingerprint(void **state)
{
    X509 *x = fixture_cert("leaf-rsa2048.der");
    char fp[96];
    (void)state;
    assert_int_equal(certo_cert_fingerprint(fp, x, NULL), CERTO_OK);
    assert_string_equal(fp, LEAF_RSA_FP);
    assert_int_equal(strlen(fp), 95);
    X509_free(x);
}

static void
test_pki_cert__info_leaf_rsa(void **state)
{
    X509 *x = fixture_cert("leaf-rsa2048.crt");
    struct certo_cert_info info;
    static const char *const want[][2] = {
        {"DNS", "www.example.test"},   {"DNS", "example.test"},          {"IP", "127.0.0.1"},
        {"email", "ops@example.test"}, {"URI", "https://example.test/"},
    };
    (void)state;

    assert_int_equal(certo_cert_info_get(&info, x, NULL), CERTO_OK);
    assert_string_equal(info.subject, "CN=www.example.test");
    assert_string_equal(info.issuer, "CN=Certo Test Intermediate CA");
    assert_string_equal(info.common_name, "www.example.test");
    assert_string_equal(info.serial, LEAF_RSA_SERIAL);
    assert_int_equal(info.not_before, 1767225600); /* 2026-01-01T00:00:00Z */
    assert_int_equal(info.not_after, 2082758400);  /* 2036-01-01T00:00:00Z */
    assert_string_equal(info.key_alg, "RSA");
    assert_int_equal(info.key_bits, 2048);
    assert_string_equal(info.fingerprint, LEAF_RSA_FP);
    assert_false(info.is_ca);
    assert_false(info.self_signed);
    assert_int_equal(info.n_sans, CERTO_ARRAY_LEN(want));
    for (size_t i = 0; i < info.n_sans; i++) {
        assert_string_equal(info.sans[i].type, want[i][0]);
        assert_string_equal(info.sans[i].value, want[i][1]);
    }
    certo_cert_info_dispose(&info);
    certo_cert_info_dispose(&info); /* disposing twice is harmless */
    X509_free(x);
}

static void
test_pki_cert__info_other_keys(void **state)
{
    static const struct {
        const char *file;
        const char *alg;
        int bits;
        bool ca, self;
    } fx[] = {
        {"leaf-ed25519.crt", "Ed25519", 256, false, false},
        {"leaf-ec384.crt", "EC", 384, false, false},
        {"leaf-rsa3072.crt", "RSA", 3072, false, false},
        {"selfsigned.crt", "EC", 256, true, true}, /* openssl req -x509 sets CA:TRUE */
        {"ca.crt", "EC", 256, true, true},
        {"int.crt", "EC", 256, true, false},
    };
    (void)state;

    for (size_t i = 0; i < CERTO_ARRAY_LEN(fx); i++) {
        X509 *x = fixture_cert(fx[i].file);
        struct certo_cert_info info;
        assert_int_equal(certo_cert_info_get(&info, x, NULL), CERTO_OK);
        assert_string_equal(info.key_alg, fx[i].alg);
        assert_int_equal(info.key_bits, fx[i].bits);
        assert_int_equal(info.is_ca, fx[i].ca);
        assert_int_equal(info.self_signed, fx[i].self);
        assert_true(info.not_after > info.not_before);
        certo_cert_info_dispose(&info);
        X509_free(x);
    }
}

/* IPv6 SANs print in their compressed form; hostile bytes in a SAN are escaped. */
static void
test_pki_cert__info_ipv6_and_escaping(void **state)
{
    EVP_PKEY *key = t_fixture_key("leaf-ec256.key");
    const char *sans[] = {"IP:2001:db8::1", "IP:::1"};
    struct certo_names names = {.subject = "CN=v6.example.test", .sans = sans, .n_sans = 2};
    struct certo_sign_opts opts = {.days = 30, .is_ca = false, .path_len = -1};
    X509 *x = NULL;
    struct certo_cert_info info;
    (void)state;

    assert_int_equal(certo_cert_selfsign(&x, key, &names, &opts, NULL), CERTO_OK);
    assert_int_equal(certo_cert_info_get(&info, x, NULL), CERTO_OK);
    assert_int_equal(info.n_sans, 2);
    assert_string_equal(info.sans[0].value, "2001:db8::1");
    assert_string_equal(info.sans[1].value, "::1");
    certo_cert_info_dispose(&info);
    X509_free(x);

    /* A DNS name with a newline and an escape character, and a CN with a quote. */
    x = X509_new();
    X509_NAME *n = X509_NAME_new();
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)"a\"b\\c\x1b", -1, -1,
                               0);
    X509_set_subject_name(x, n);
    X509_set_issuer_name(x, n);
    X509_set_pubkey(x, key);
    ASN1_TIME_set(X509_getm_notBefore(x), 0);
    ASN1_TIME_set(X509_getm_notAfter(x), 86400);
    GENERAL_NAMES *gens = GENERAL_NAMES_new();
    GENERAL_NAME *gn = GENERAL_NAME_new();
    ASN1_IA5STRING *s = ASN1_IA5STRING_new();
    ASN1_STRING_set(s, "evil\nline\x9b", -1);
    GENERAL_NAME_set0_value(gn, GEN_DNS, s);
    sk_GENERAL_NAME_push(gens, gn);
    X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, 0);
    GENERAL_NAMES_free(gens);
    X509_sign(x, key, EVP_sha256());
    assert_int_equal(certo_cert_info_get(&info, x, NULL), CERTO_OK);
    assert_string_equal(info.sans[0].value, "evil\\x0Aline\\x9B");
    assert_null(strchr(info.common_name, 0x1b));
    assert_null(strchr(info.subject, 0x1b));

    struct certo_buf json;
    certo_buf_init(&json, 65536);
    assert_int_equal(certo_cert_info_to_json(&json, &info), CERTO_OK);
    for (size_t i = 0; i < json.len; i++)
        assert_true(json.data[i] >= 0x20);
    assert_non_null(strstr((char *)json.data, "\"common_name\":\"a\\\"b\\\\c"));
    certo_buf_dispose(&json);
    certo_cert_info_dispose(&info);
    X509_NAME_free(n);
    X509_free(x);
    EVP_PKEY_free(key);
}

static void
test_pki_cert__info_json(void **state)
{
    X509 *x = fixture_cert("leaf-rsa2048.crt");
    struct certo_cert_info info;
    struct certo_buf json;
    (void)state;

    assert_int_equal(certo_cert_info_get(&info, x, NULL), CERTO_OK);
    certo_buf_init(&json, 65536);
    assert_int_equal(certo_cert_info_to_json(&json, &info), CERTO_OK);
    assert_string_equal(
        (char *)json.data,
        "{\"subject\":\"CN=www.example.test\",\"issuer\":\"CN=Certo Test Intermediate CA\","
        "\"common_name\":\"www.example.test\",\"serial\":\"" LEAF_RSA_SERIAL "\","
        "\"not_before\":\"2026-01-01T00:00:00Z\",\"not_after\":\"2036-01-01T00:00:00Z\","
        "\"key_type\":\"RSA\",\"key_bits\":2048,\"sha256_fingerprint\":\"" LEAF_RSA_FP "\","
        "\"is_ca\":false,\"self_signed\":false,\"sans\":[{\"type\":\"DNS\",\"value\":\"www."
        "example.test\"},{\"type\":\"DNS\",\"value\":\"example.test\"},{\"type\":\"IP\","
        "\"value\":\"127.0.0.1\"},{\"type\":\"email\",\"value\":\"ops@example.test\"},"
        "{\"type\":\"URI\",\"value\":\"https://example.test/\"}]}");
    certo_buf_dispose(&json);
    certo_cert_info_dispose(&info);
    X509_free(x);
}

static void
mutate(const char *file)
{
    struct certo_buf b;
    unsigned char *copy;
    t_read_fixture(&b, file);
    copy = certo_malloc(b.len);

    for (size_t cut = 0; cut < b.len; cut += (b.len > 1000 ? 5 : 1)) {
        STACK_OF(X509) *sk = NULL;
        certo_rc rc = certo_cert_parse_all(&sk, b.data, cut, NULL);
        assert_true(rc == CERTO_OK || rc == CERTO_EPARSE);
        certo_certs_free(sk);
        assert_int_equal(ERR_peek_error(), 0);
    }
    for (size_t i = 0; i < b.len * 8; i += 5) {
        STACK_OF(X509) *sk = NULL;
        memcpy(copy, b.data, b.len);
        copy[i / 8] ^= (unsigned char)(1u << (i % 8));
        certo_rc rc = certo_cert_parse_all(&sk, copy, b.len, NULL);
        assert_true(rc == CERTO_OK || rc == CERTO_EPARSE || rc == CERTO_ETOOBIG);
        /* What parses must also describe itself without crashing. */
        for (int k = 0; rc == CERTO_OK && k < sk_X509_num(sk); k++) {
            struct certo_cert_info info;
            if (certo_cert_info_get(&info, sk_X509_value(sk, k), NULL) == CERTO_OK) {
                struct certo_buf json;
                certo_buf_init(&json, 1 << 20);
                assert_int_equal(certo_cert_info_to_json(&json, &info), CERTO_OK);
                certo_buf_dispose(&json);
                certo_cert_info_dispose(&info);
            }
        }
        certo_certs_free(sk);
        assert_int_equal(ERR_peek_error(), 0);
    }
    certo_free(copy);
    certo_buf_dispose(&b);
}

static void
test_pki_cert__mutations(void **state)
{
    (void)state;
    mutate("leaf-rsa2048.der");
    mutate("leaf-ec256.crt");
    mutate("chain.pem");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pki_cert__parse_bundles),
        cmocka_unit_test(test_pki_cert__bundle_order),
        cmocka_unit_test(test_pki_cert__bundle_with_noise),
        cmocka_unit_test(test_pki_cert__parse_errors),
        cmocka_unit_test(test_pki_cert__limits),
        cmocka_unit_test(test_pki_cert__write_roundtrip),
        cmocka_unit_test(test_pki_cert__fingerprint),
        cmocka_unit_test(test_pki_cert__info_leaf_rsa),
        cmocka_unit_test(test_pki_cert__info_other_keys),
        cmocka_unit_test(test_pki_cert__info_ipv6_and_escaping),
        cmocka_unit_test(test_pki_cert__info_json),
        cmocka_unit_test(test_pki_cert__mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
