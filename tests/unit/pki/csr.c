/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of requests and issuing (src/pki/csr.c): subject and SAN parsing, CSRs,
 * self-signed certificates, CSR signing with the intermediate fixture (verified with
 * X509_verify_cert), the issuing policy, refusals, validity clipping and mutations.
 */
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "testutil.h"

static X509 *
fixture_cert(const char *name)
{
    STACK_OF(X509) *sk = t_fixture_certs(name);
    X509 *x = sk_X509_shift(sk);
    certo_certs_free(sk);
    return x;
}

/* The SANs of a certificate as "TYPE:value" lines joined by ' '. */
static char *
san_text(X509 *x)
{
    struct certo_cert_info info;
    struct certo_buf b;
    assert_int_equal(certo_cert_info_get(&info, x, NULL), CERTO_OK);
    certo_buf_init(&b, 65536);
    for (size_t i = 0; i < info.n_sans; i++)
        assert_int_equal(certo_buf_printf(&b, "%s%s:%s", i > 0 ? " " : "", info.sans[i].type,
                                          info.sans[i].value),
                         CERTO_OK);
    certo_cert_info_dispose(&info);
    return b.data != NULL ? (char *)certo_buf_detach(&b, NULL) : certo_strdup("");
}

static char *
subject_text(const X509_NAME *n)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *p = NULL;
    long len;
    char *s;
    X509_NAME_print_ex(bio, n, 0, XN_FLAG_RFC2253);
    len = BIO_get_mem_data(bio, &p);
    s = certo_strndup(p != NULL ? p : "", len > 0 ? (size_t)len : 0);
    BIO_free(bio);
    return s;
}

static X509_REQ *
make_csr(EVP_PKEY *key, const char *subject, const char *const *sans, size_t n)
{
    struct certo_names names = {.subject = subject, .sans = sans, .n_sans = n};
    X509_REQ *req = NULL;
    struct certo_err err = {0};
    if (certo_csr_new(&req, key, &names, &err) != CERTO_OK)
        fail_msg("certo_csr_new: %s", err.msg);
    return req;
}

static void
test_pki_csr__all_san_types(void **state)
{
    EVP_PKEY *key = t_fixture_key("leaf-ec256.key");
    const char *sans[] = {"DNS:www.example.test",
                          "*.example.test",
                          "IP:192.0.2.1",
                          "2001:db8::1",
                          "10.0.0.1",
                          "email:ops@example.test",
                          "URI:https://example.test/x",
                          "dns:Upper.Example.TEST"};
    X509_REQ *req = make_csr(key, "CN=www.example.test,O=Certo Tests,C=DE", sans, 8);
    X509_REQ *back = NULL;
    struct certo_buf pem;
    char *subj;
    (void)state;

    certo_buf_init(&pem, CERTO_PEM_MAX);
    assert_int_equal(certo_csr_to_pem(&pem, req, NULL), CERTO_OK);
    assert_non_null(strstr((char *)pem.data, "-----BEGIN CERTIFICATE REQUEST-----"));
    assert_int_equal(certo_csr_parse(&back, pem.data, pem.len, NULL), CERTO_OK);
    subj = subject_text(X509_REQ_get_subject_name(back));
    assert_string_equal(subj, "CN=www.example.test,O=Certo Tests,C=DE");
    certo_free(subj);

    /* Sign it to read the SANs back through the inspect report. */
    EVP_PKEY *ca_key = t_fixture_key("int.key");
    X509 *ca = fixture_cert("int.crt");
    X509 *x = NULL;
    struct certo_sign_opts opts = {.days = 10, .is_ca = false, .path_len = -1};
    assert_int_equal(certo_csr_sign(&x, back, ca, ca_key, &opts, NULL), CERTO_OK);
    char *s = san_text(x);
    assert_string_equal(s, "DNS:www.example.test DNS:*.example.test IP:192.0.2.1 "
                           "IP:2001:db8::1 IP:10.0.0.1 email:ops@example.test "
                           "URI:https://example.test/x DNS:Upper.Example.TEST");
    certo_free(s);
    X509_free(x);
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    X509_REQ_free(back);
    X509_REQ_free(req);
    certo_buf_dispose(&pem);
    EVP_PKEY_free(key);
}

static void
test_pki_csr__subject_forms(void **state)
{
    static const char *const cases[][2] = {
        {"CN=a.example,O=Org,C=DE", "CN=a.example,O=Org,C=DE"},
        {"/CN=a.example/O=Org", "O=Org,CN=a.example"},
        {" CN = spaced , O = Org Name ", "CN=spaced,O=Org Name"},
        {"CN=comma\\, inside,O=x", "CN=comma\\, inside,O=x"},
        {"/CN=slash\\/inside", "CN=slash/inside"},
        {"CN=caf\\C3\\A9", "CN=caf\\C3\\A9"},
        {"cn=lower,ou=unit,l=City,st=State,emailAddress=a@b.example", NULL},
        {"CN=multi+UID=42,O=x", "UID=42+CN=multi,O=x"},
        {"2.5.4.3=oid.example", "CN=oid.example"},
    };
    EVP_PKEY *key = t_fixture_key("leaf-ec256.key");
    (void)state;

    for (size_t i = 0; i < CERTO_ARRAY_LEN(cases); i++) {
        X509_REQ *req = make_csr(key, cases[i][0], NULL, 0);
        char *s = subject_text(X509_REQ_get_subject_name(req));
        if (cases[i][1] != NULL && strcmp(s, cases[i][1]) != 0)
            fail_msg("subject '%s' gave '%s', want '%s'", cases[i][0], s, cases[i][1]);
        certo_free(s);
        X509_REQ_free(req);
    }
    EVP_PKEY_free(key);
}

static void
test_pki_csr__bad_subject(void **state)
{
    static const char *const cases[][2] = {
        {"XX=1", "unknown attribute 'XX'"},
        {"CN=a,Foo=b", "unknown attribute 'Foo'"},
        {"CN", "expected NAME=VALUE"},
        {"junk,CN=a", "expected NAME=VALUE"},
        {"CN=", "empty value"},
        {"C=Germany", "invalid value for C"},
        {"CN=a\\", "'\\' at the end"},
        {"CN=a+", "'+' at the end"},
        {"", "the subject is empty and there are no SANs"},
    };
    EVP_PKEY *key = t_fixture_key("leaf-ec256.key");
    (void)state;

    for (size_t i = 0; i < CERTO_ARRAY_LEN(cases); i++) {
        struct certo_names names = {.subject = cases[i][0]};
        X509_REQ *req = NULL;
        struct certo_err err = {0};
        assert_int_equal(certo_csr_new(&req, key, &names, &err), CERTO_EINVAL);
        assert_null(req);
        if (strstr(err.msg, cases[i][1]) == NULL)
            fail_msg("subject '%s': message '%s' lacks '%s'", cases[i][0], err.msg, cases[i][1]);
        assert_int_equal(ERR_peek_error(), 0);
    }
    EVP_PKEY_free(key);
}

static void
test_pki_csr__bad_sans(void **state)
{
    static const char *const bad[] = {
        "DNS:-bad.example",
        "DNS:bad-.example",
        "DNS:a..b",
        "DNS:",
        "DNS:*.*.example",
        "DNS:ex ample.test",
        "DNS:a.example.",
        "IP:999.1.1.1",
        "IP:www.example",
        "email:foo",
        "email:@example.test",
        "email:a@b@c",
        "URI:nope",
        "URI:1http://x",
        "URI:http://a b",
        "foo bar",
        "under_score.example",
        "XYZ:value",
        "DNS:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example",
    };
    EVP_PKEY *key = t_fixture_key("leaf-ec256.key");
    (void)state;

    for (size_t i = 0; i < CERTO_ARRAY_LEN(bad); i++) {
        const char *one[] = {bad[i]};
        struct certo_names names = {.subject = "CN=x", .sans = one, .n_sans = 1};
        X509_REQ *req = NULL;
        struct certo_err err = {0};
        if (certo_csr_new(&req, key, &names, &err) != CERTO_EINVAL)
            fail_msg("SAN '%s' was accepted", bad[i]);
        assert_null(req);
        assert_non_null(strstr(err.msg, "SAN '"));
    }
    EVP_PKEY_free(key);
}

/* An empty subject is fine with SANs, which then are critical (RFC 5280 4.2.1.6). */
static void
test_pki_csr__empty_subject_with_sans(void **state)
{
    EVP_PKEY *key = t_fixture_key("leaf-ec256.key");
    const char *sans[] = {"only.example.test"};
    struct certo_names names = {.subject = NULL, .sans = sans, .n_sans = 1};
    struct certo_sign_opts opts = {.days = 1, .is_ca = false, .path_len = -1};
    X509 *x = NULL;
    (void)state;

    assert_int_equal(certo_cert_selfsign(&x, key, &names, &opts, NULL), CERTO_OK);
    assert_int_equal(X509_NAME_entry_count(X509_get_subject_name(x)), 0);
    int idx = X509_get_ext_by_NID(x, NID_subject_alt_name, -1);
    assert_true(idx >= 0);
    assert_int_equal(X509_EXTENSION_get_critical(X509_get_ext(x, idx)), 1);
    X509_free(x);
    EVP_PKEY_free(key);
}

static void
test_pki_csr__limits(void **state)
{
    EVP_PKEY *key = t_fixture_key("leaf-ec256.key");
    char *subject = certo_malloc(CERTO_SUBJECT_MAX + 10);
    const char **sans = certo_calloc(CERTO_SANS_MAX + 1, sizeof(*sans));
    struct certo_names names = {.subject = subject};
    X509_REQ *req = NULL;
    (void)state;

    memcpy(subject, "CN=", 3);
    memset(subject + 3, 'a', CERTO_SUBJECT_MAX);
    subject[CERTO_SUBJECT_MAX + 3] = '\0';
    assert_int_equal(certo_csr_new(&req, key, &names, NULL), CERTO_ETOOBIG);
    for (int i = 0; i <= CERTO_SANS_MAX; i++)
        sans[i] = "a.example";
    names.subject = "CN=x";
    names.sans = sans;
    names.n_sans = CERTO_SANS_MAX + 1;
    assert_int_equal(certo_csr_new(&req, key, &names, NULL), CERTO_ETOOBIG);
    names.n_sans = CERTO_SANS_MAX;
    assert_int_equal(certo_csr_new(&req, key, &names, NULL), CERTO_OK);
    X509_REQ_free(req);
    req = NULL;
    assert_int_equal(certo_csr_parse(&req, subject, (size_t)CERTO_PEM_MAX + 1, NULL),
                     CERTO_ETOOBIG);
    certo_free(sans);
    certo_free(subject);
    EVP_PKEY_free(key);
}

static void
test_pki_csr__parse_fixture_and_der(void **state)
{
    struct certo_buf b, der;
    X509_REQ *req = NULL, *again = NULL;
    unsigned char *d = NULL;
    int n;
    EVP_PKEY *key = t_fixture_key("leaf-ec256.key");
    (void)state;

    t_read_fixture(&b, "leaf-ec256.csr");
    assert_int_equal(certo_csr_parse(&req, b.data, b.len, NULL), CERTO_OK);
    assert_true(certo_key_public_equal(X509_REQ_get0_pubkey(req), key));
    n = i2d_X509_REQ(req, &d);
    assert_true(n > 0);
    certo_buf_init(&der, CERTO_DER_MAX);
    assert_int_equal(certo_buf_append(&der, d, (size_t)n), CERTO_OK);
    assert_int_equal(certo_csr_parse(&again, der.data, der.len, NULL), CERTO_OK);
    X509_REQ_free(again);
    again = NULL;

    /* A flipped bit in the signature: parses, but does not verify. */
    der.data[der.len - 5] ^= 0x01;
    struct certo_err err = {0};
    assert_int_equal(certo_csr_parse(&again, der.data, der.len, &err), CERTO_EAUTH);
    assert_null(again);
    assert_int_equal(ERR_peek_error(), 0);

    assert_int_equal(certo_csr_parse(&again, "junk", 4, NULL), CERTO_EPARSE);
    assert_int_equal(certo_csr_parse(&again, "", 0, NULL), CERTO_EPARSE);
    certo_buf_dispose(&b);
    t_read_fixture(&b, "leaf-ec256.crt");
    assert_int_equal(certo_csr_parse(&again, b.data, b.len, NULL), CERTO_EPARSE);
    OPENSSL_free(d);
    certo_buf_dispose(&b);
    certo_buf_dispose(&der);
    X509_REQ_free(req);
    EVP_PKEY_free(key);
}

static bool
has_eku(X509 *x, int nid)
{
    EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(x, NID_ext_key_usage, NULL, NULL);
    bool found = false;
    for (int i = 0; i < sk_ASN1_OBJECT_num(eku); i++)
        found = found || OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i)) == nid;
    EXTENDED_KEY_USAGE_free(eku);
    return found;
}

/* The issuing policy for leaves and CAs, for each key type, on self-signed certificates. */
static void
test_pki_csr__selfsign_policy(void **state)
{
    static const struct {
        const char *key;
        int sig_nid;
        uint32_t ku;
    } fx[] = {
        {"leaf-rsa2048.key", NID_sha256WithRSAEncryption,
         KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT},
        {"leaf-ec256.key", NID_ecdsa_with_SHA256, KU_DIGITAL_SIGNATURE},
        {"leaf-ec384.key", NID_ecdsa_with_SHA384, KU_DIGITAL_SIGNATURE},
        {"leaf-ed25519.key", NID_ED25519, KU_DIGITAL_SIGNATURE},
    };
    const char *sans[] = {"self.example.test"};
    struct certo_names names = {.subject = "CN=self.example.test", .sans = sans, .n_sans = 1};
    (void)state;

    certo_clock_pin_ms(1800000000000LL); /* 2027-01-15 */
    for (size_t i = 0; i < CERTO_ARRAY_LEN(fx); i++) {
        EVP_PKEY *key = t_fixture_key(fx[i].key);
        struct certo_sign_opts opts = {.days = 90, .is_ca = false, .path_len = -1};
        X509 *x = NULL;
        struct certo_cert_info info;

        assert_int_equal(certo_cert_selfsign(&x, key, &names, &opts, NULL), CERTO_OK);
        assert_int_equal(X509_get_signature_nid(x), fx[i].sig_nid);
        assert_int_equal(X509_get_version(x), X509_VERSION_3);
        assert_int_equal(X509_get_key_usage(x), fx[i].ku);
        assert_true(has_eku(x, NID_server_auth));
        assert_true(has_eku(x, NID_client_auth));
        assert_int_equal(X509_get_extension_flags(x) & EXFLAG_CA, 0);
        assert_int_equal(X509_EXTENSION_get_critical(
                             X509_get_ext(x, X509_get_ext_by_NID(x, NID_basic_constraints, -1))),
                         1);
        /* SKI present, AKI names it. */
        assert_non_null(X509_get0_subject_key_id(x));
        assert_non_null(X509_get0_authority_key_id(x));
        assert_int_equal(
            ASN1_OCTET_STRING_cmp(X509_get0_subject_key_id(x), X509_get0_authority_key_id(x)), 0);
        /* 16-byte positive serial. */
        const ASN1_INTEGER *sn = X509_get0_serialNumber(x);
        assert_int_equal(ASN1_STRING_length(sn), 16);
        assert_int_equal(ASN1_STRING_type(sn), V_ASN1_INTEGER);
        assert_int_equal(X509_verify(x, key), 1);

        assert_int_equal(certo_cert_info_get(&info, x, NULL), CERTO_OK);
        assert_true(info.self_signed);
        assert_int_equal(info.not_before, 1800000000);
        assert_int_equal(info.not_after, 1800000000 + 90 * 86400);
        certo_cert_info_dispose(&info);
        X509_free(x);

        /* And as a CA with a path length. */
        opts.is_ca = true;
        opts.path_len = 1;
        assert_int_equal(certo_cert_selfsign(&x, key, &names, &opts, NULL), CERTO_OK);
        assert_int_equal(X509_get_key_usage(x), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
        assert_true((X509_get_extension_flags(x) & EXFLAG_CA) != 0);
        assert_int_equal(X509_get_pathlen(x), 1);
        assert_null(X509_get_ext_d2i(x, NID_ext_key_usage, NULL, NULL));
        X509_free(x);
        EVP_PKEY_free(key);
    }
    certo_clock_pin_ms(-1);
}

static void
test_pki_csr__bad_opts(void **state)
{
    EVP_PKEY *key = t_fixture_key("leaf-ec256.key");
    struct certo_names names = {.subject = "CN=x"};
    struct certo_sign_opts opts = {.days = 0, .is_ca = false, .path_len = -1};
    X509 *x = NULL;
    struct certo_err err = {0};
    (void)state;

    assert_int_equal(certo_cert_selfsign(&x, key, &names, &opts, &err), CERTO_EINVAL);
    assert_non_null(strstr(err.msg, "validity"));
    opts.days = CERTO_VALIDITY_DAYS_MAX + 1;
    assert_int_equal(certo_cert_selfsign(&x, key, &names, &opts, NULL), CERTO_EINVAL);
    opts.days = CERTO_VALIDITY_DAYS_MAX;
    assert_int_equal(certo_cert_selfsign(&x, key, &names, &opts, NULL), CERTO_OK);
    X509_free(x);
    x = NULL;
    opts.days = 1;
    opts.path_len = 2; /* without is_ca */
    assert_int_equal(certo_cert_selfsign(&x, key, &names, &opts, NULL), CERTO_EINVAL);
    assert_null(x);
    EVP_PKEY_free(key);
}

/* Verifies 'leaf' up to ca.crt through int.crt for a TLS server, at the pinned time. */
static int
verify_chain(X509 *leaf, time_t at)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    STACK_OF(X509) *untrusted = t_fixture_certs("int.crt");
    X509 *root = fixture_cert("ca.crt");
    int ok;

    X509_STORE_add_cert(store, root);
    X509_STORE_CTX_init(ctx, store, leaf, untrusted);
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
    X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), at);
    ok = X509_verify_cert(ctx);
    if (ok != 1)
        print_error("verify: %s\n", X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    X509_free(root);
    certo_certs_free(untrusted);
    ERR_clear_error();
    return ok;
}

static void
test_pki_csr__sign_with_intermediate(void **state)
{
    EVP_PKEY *key = t_fixture_key("leaf-rsa2048.key");
    EVP_PKEY *ca_key = t_fixture_key("int.key");
    X509 *ca = fixture_cert("int.crt");
    const char *sans[] = {"svc.example.test", "IP:127.0.0.1"};
    X509_REQ *req = make_csr(key, "CN=svc.example.test,O=Certo Tests", sans, 2);
    struct certo_sign_opts opts = {.days = 365, .is_ca = false, .path_len = -1};
    X509 *x = NULL;
    char *s;
    (void)state;

    certo_clock_pin_ms(1800000000000LL);
    assert_int_equal(certo_csr_sign(&x, req, ca, ca_key, &opts, NULL), CERTO_OK);
    assert_int_equal(verify_chain(x, 1800000000 + 86400), 1);
    assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(ca)), 0);
    s = subject_text(X509_get_subject_name(x));
    assert_string_equal(s, "CN=svc.example.test,O=Certo Tests");
    certo_free(s);
    s = san_text(x);
    assert_string_equal(s, "DNS:svc.example.test IP:127.0.0.1");
    certo_free(s);
    assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT);
    assert_int_equal(X509_get_signature_nid(x), NID_ecdsa_with_SHA256);
    assert_int_equal(
        ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(x), X509_get0_subject_key_id(ca)), 0);
    X509_free(x);
    X509_REQ_free(req);
    certo_clock_pin_ms(-1);
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(key);
}

/* Extensions a CSR asks for, other than SANs, are ignored: no CA:TRUE by request. */
static void
test_pki_csr__sign_ignores_requested_extensions(void **state)
{
    EVP_PKEY *key = t_fixture_key("leaf-ec256.key");
    EVP_PKEY *ca_key = t_fixture_key("int.key");
    X509 *ca = fixture_cert("int.crt");
    X509_REQ *req = X509_REQ_new();
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    X509V3_CTX v3;
    struct certo_sign_opts opts = {.days = 30, .is_ca = false, .path_len = -1};
    X509 *x = NULL;
    (void)state;

    X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN", MBSTRING_UTF8,
                               (const unsigned char *)"sneaky.example.test", -1, -1, 0);
    X509_REQ_set_pubkey(req, key);
    X509V3_set_ctx(&v3, NULL, NULL, req, NULL, 0);
    sk_X509_EXTENSION_push(
        exts, X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, "critical,CA:TRUE"));
    sk_X509_EXTENSION_push(
        exts, X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "DNS:sneaky.example.test"));
    X509_REQ_add_extensions(req, exts);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_REQ_sign(req, key, EVP_sha256());

    assert_int_equal(certo_csr_sign(&x, req, ca, ca_key, &opts, NULL), CERTO_OK);
    assert_int_equal(X509_get_extension_flags(x) & EXFLAG_CA, 0);
    char *s = san_text(x);
    assert_string_equal(s, "DNS:sneaky.example.test");
    certo_free(s);
    X509_free(x);

    /* Tampered after signing: refused. */
    X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "O", MBSTRING_UTF8,
                               (const unsigned char *)"Evil", -1, -1, 0);
    x = NULL;
    assert_int_equal(certo_csr_sign(&x, req, ca, ca_key, &opts, NULL), CERTO_EAUTH);
    assert_null(x);
    X509_REQ_free(req);
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(key);
}

static void
test_pki_csr__sign_refusals(void **state)
{
    EVP_PKEY *key = t_fixture_key("leaf-ec256.key");
    EVP_PKEY *ca_key = t_fixture_key("int.key");
    EVP_PKEY *root_key = t_fixture_key("ca.key");
    X509 *ca = fixture_cert("int.crt");
    X509 *leaf = fixture_cert("leaf-ec256.crt");
    X509_REQ *req = make_csr(key, "CN=x.example.test", NULL, 0);
    struct certo_sign_opts opts = {.days = 30, .is_ca = false, .path_len = -1};
    X509 *x = NULL;
    struct certo_err err = {0};
    (void)state;

    assert_int_equal(ERR_peek_error(), 0);
    /* The CA key is not the CA certificate's. */
    assert_int_equal(certo_csr_sign(&x, req, ca, root_key, &opts, &err), CERTO_EINVAL);
    assert_non_null(strstr(err.msg, "does not match"));
    assert_null(x);
    assert_int_equal(ERR_peek_error(), 0);
    /* The "CA" is a leaf. */
    certo_err_clear(&err);
    assert_int_equal(certo_csr_sign(&x, req, leaf, key, &opts, &err), CERTO_EINVAL);
    assert_non_null(strstr(err.msg, "not a CA"));
    assert_int_equal(ERR_peek_error(), 0);
    /* int.crt has pathlen 0: no sub-CAs. */
    opts.is_ca = true;
    certo_err_clear(&err);
    assert_int_equal(certo_csr_sign(&x, req, ca, ca_key, &opts, &err), CERTO_EINVAL);
    assert_non_null(strstr(err.msg, "pathlen 0"));
    assert_int_equal(ERR_peek_error(), 0);
    /* The CA has expired. */
    opts.is_ca = false;
    certo_clock_pin_ms(2400000000000LL); /* 2046-01-20 */
    assert_int_equal(certo_csr_sign(&x, req, ca, ca_key, &opts, NULL), CERTO_EINVAL);
    certo_clock_pin_ms(-1);
    assert_null(x);
    assert_int_equal(ERR_peek_error(), 0);

    X509_REQ_free(req);
    X509_free(leaf);
    X509_free(ca);
    EVP_PKEY_free(root_key);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(key);
}

/* Nothing outlives its CA: a long request ends with int.crt (2046-01-01). */
static void
test_pki_csr__validity_clipped(void **state)
{
    EVP_PKEY *key = t_fixture_key("leaf-ec256.key");
    EVP_PKEY *ca_key = t_fixture_key("int.key");
    X509 *ca = fixture_cert("int.crt");
    X509_REQ *req = make_csr(key, "CN=long.example.test", NULL, 0);
    struct certo_sign_opts opts = {.days = 3650, .is_ca = false, .path_len = -1};
    X509 *x = NULL;
    (void)state;

    certo_clock_pin_ms(2335000000000LL); /* 2043-12-29 */
    assert_int_equal(certo_csr_sign(&x, req, ca, ca_key, &opts, NULL), CERTO_OK);
    assert_int_equal(ASN1_TIME_compare(X509_get0_notAfter(x), X509_get0_notAfter(ca)), 0);
    assert_int_equal(verify_chain(x, 2335000000 + 86400), 1);
    X509_free(x);
    x = NULL;
    /* A short one is not touched. */
    opts.days = 30;
    assert_int_equal(certo_csr_sign(&x, req, ca, ca_key, &opts, NULL), CERTO_OK);
    assert_true(ASN1_TIME_compare(X509_get0_notAfter(x), X509_get0_notAfter(ca)) < 0);
    certo_clock_pin_ms(-1);
    X509_free(x);
    X509_REQ_free(req);
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(key);
}

/* A CA made by certo_cert_selfsign signs a CSR and the result verifies against it. */
static void
test_pki_csr__own_ca(void **state)
{
    struct certo_key_spec spec = {CERTO_KEY_EC, 384};
    EVP_PKEY *ca_key = NULL, *leaf_key = NULL;
    struct certo_names ca_names = {.subject = "CN=Own CA,O=Certo"};
    struct certo_sign_opts ca_opts = {.days = 3650, .is_ca = true, .path_len = 0};
    struct certo_sign_opts opts = {.days = 30, .is_ca = false, .path_len = -1};
    X509 *ca = NULL, *x = NULL;
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    const char *sans[] = {"own.example.test"};
    (void)state;

    assert_int_equal(certo_key_generate(&ca_key, &spec, NULL), CERTO_OK);
    spec.alg = CERTO_KEY_ED25519;
    assert_int_equal(certo_key_generate(&leaf_key, &spec, NULL), CERTO_OK);
    assert_int_equal(certo_cert_selfsign(&ca, ca_key, &ca_names, &ca_opts, NULL), CERTO_OK);
    X509_REQ *req = make_csr(leaf_key, "CN=own.example.test", sans, 1);
    assert_int_equal(certo_csr_sign(&x, req, ca, ca_key, &opts, NULL), CERTO_OK);
    assert_int_equal(X509_get_signature_nid(x), NID_ecdsa_with_SHA384);
    X509_STORE_add_cert(store, ca);
    X509_STORE_CTX_init(ctx, store, x, NULL);
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
    assert_int_equal(X509_verify_cert(ctx), 1);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    X509_REQ_free(req);
    X509_free(x);
    X509_free(ca);
    EVP_PKEY_free(leaf_key);
    EVP_PKEY_free(ca_key);
}

static void
mutate(const char *file)
{
    struct certo_buf b;
    unsigned char *copy;
    t_read_fixture(&b, file);
    copy = certo_malloc(b.len);

    for (size_t cut = 0; cut < b.len; cut++) {
        X509_REQ *r = NULL;
        certo_rc rc = certo_csr_parse(&r, b.data, cut, NULL);
        assert_true(rc == CERTO_OK || rc == CERTO_EPARSE || rc == CERTO_EAUTH);
        X509_REQ_free(r);
        assert_int_equal(ERR_peek_error(), 0);
    }
    for (size_t i = 0; i < b.len * 8; i += 3) {
        X509_REQ *r = NULL;
        memcpy(copy, b.data, b.len);
        copy[i / 8] ^= (unsigned char)(1u << (i % 8));
        certo_rc rc = certo_csr_parse(&r, copy, b.len, NULL);
        assert_true(rc == CERTO_OK || rc == CERTO_EPARSE || rc == CERTO_EAUTH ||
                    rc == CERTO_ETOOBIG);
        X509_REQ_free(r);
        assert_int_equal(ERR_peek_error(), 0);
    }
    certo_free(copy);
    certo_buf_dispose(&b);
}

static void
test_pki_csr__mutations(void **state)
{
    EVP_PKEY *key = t_fixture_key("leaf-ec256.key");
    X509_REQ *req = make_csr(key, "CN=m.example.test", NULL, 0);
    unsigned char *der = NULL;
    int n = i2d_X509_REQ(req, &der);
    char *dir = t_mkdtemp();
    char *path = certo_asprintf("%s/m.der", dir);
    (void)state;

    assert_int_equal(certo_file_replace(path, der, (size_t)n, 0600), CERTO_OK);
    mutate("leaf-ec256.csr");
    /* t_read_fixture takes fixture names; read the DER one through its absolute path. */
    struct certo_buf b;
    t_read_file(&b, path);
    for (size_t i = 0; i < b.len * 8; i += 2) {
        X509_REQ *r = NULL;
        b.data[i / 8] ^= (unsigned char)(1u << (i % 8));
        certo_rc rc = certo_csr_parse(&r, b.data, b.len, NULL);
        assert_true(rc == CERTO_OK || rc == CERTO_EPARSE || rc == CERTO_EAUTH);
        b.data[i / 8] ^= (unsigned char)(1u << (i % 8));
        X509_REQ_free(r);
        assert_int_equal(ERR_peek_error(), 0);
    }
    certo_buf_dispose(&b);
    certo_free(path);
    t_rmdir(dir);
    OPENSSL_free(der);
    X509_REQ_free(req);
    EVP_PKEY_free(key);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pki_csr__all_san_types),
        cmocka_unit_test(test_pki_csr__subject_forms),
        cmocka_unit_test(test_pki_csr__bad_subject),
        cmocka_unit_test(test_pki_csr__bad_sans),
        cmocka_unit_test(test_pki_csr__empty_subject_with_sans),
        cmocka_unit_test(test_pki_csr__limits),
        cmocka_unit_test(test_pki_csr__parse_fixture_and_der),
        cmocka_unit_test(test_pki_csr__selfsign_policy),
        cmocka_unit_test(test_pki_csr__bad_opts),
        cmocka_unit_test(test_pki_csr__sign_with_intermediate),
        cmocka_unit_test(test_pki_csr__sign_ignores_requested_extensions),
        cmocka_unit_test(test_pki_csr__sign_refusals),
        cmocka_unit_test(test_pki_csr__validity_clipped),
        cmocka_unit_test(test_pki_csr__own_ca),
        cmocka_unit_test(test_pki_csr__mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
