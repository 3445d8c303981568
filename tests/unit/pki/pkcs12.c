/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the PKCS#12 codec (src/pki/pkcs12.c): files written by OpenSSL and keytool,
 * round trips in every profile with RSA, EC and Ed25519 keys, several entries and trusted
 * certificates in one file, aliases, the algorithms and attributes we write, wrong
 * passwords, limits, and truncation / bit-flip mutation loops. Fixture password: changeit.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include "testutil.h"

#define PASS       "changeit"
#define CAFE_EMOJI "caf\xc3\xa9-\xf0\x9f\x98\x80" /* "café-😀" */

static X509 *
fixture_cert(const char *name)
{
    STACK_OF(X509) *sk = t_fixture_certs(name);
    X509 *x = sk_X509_value(sk, 0);
    X509_up_ref(x);
    certo_certs_free(sk);
    return x;
}

static certo_rc
parse_bytes(struct certo_keystore **ks, const void *data, size_t len, const char *pass,
            struct certo_err *err)
{
    struct certo_secret *s = t_secret(pass);
    certo_rc rc;

    *ks = certo_keystore_new(CERTO_KS_PKCS12);
    rc = certo_pkcs12_parse(*ks, data, len, s, err);
    certo_secret_free(s);
    if (rc != CERTO_OK) {
        certo_keystore_free(*ks);
        *ks = NULL;
    }
    return rc;
}

static struct certo_keystore *
parse_fixture(const char *name)
{
    struct certo_buf b;
    struct certo_keystore *ks = NULL;
    struct certo_err err = {0};

    t_read_fixture(&b, name);
    if (parse_bytes(&ks, b.data, b.len, PASS, &err) != CERTO_OK)
        fail_msg("%s: %s", name, err.msg);
    assert_int_equal(ERR_peek_error(), 0); /* nothing left on OpenSSL's queue */
    certo_buf_dispose(&b);
    return ks;
}

static void
write_ks(struct certo_buf *out, const struct certo_keystore *ks, const char *pass)
{
    struct certo_secret *s = t_secret(pass);
    struct certo_err err = {0};

    certo_buf_init(out, CERTO_KEYSTORE_MAX);
    if (certo_pkcs12_write(out, ks, s, &err) != CERTO_OK)
        fail_msg("write: %s", err.msg);
    assert_int_equal(ERR_peek_error(), 0);
    certo_secret_free(s);
}

/* Adds key entry 'alias' from a key fixture and its certificate, chained to int and ca. */
static void
put_key(struct certo_keystore *ks, const char *alias, const char *keyfile, const char *certfile)
{
    EVP_PKEY *key = t_fixture_key(keyfile);
    STACK_OF(X509) *chain = t_fixture_certs(certfile);
    STACK_OF(X509) *rest = t_fixture_certs("chain.pem"); /* int, ca */
    struct certo_err err = {0};

    for (int i = 0; i < sk_X509_num(rest); i++) {
        X509 *c = sk_X509_value(rest, i);
        X509_up_ref(c);
        sk_X509_push(chain, c);
    }
    if (certo_keystore_put_key(ks, alias, key, chain, 0, &err) != CERTO_OK)
        fail_msg("put_key %s: %s", alias, err.msg);
    EVP_PKEY_free(key);
    certo_certs_free(chain);
    certo_certs_free(rest);
}

static void
put_trusted(struct certo_keystore *ks, const char *alias, const char *certfile)
{
    X509 *x = fixture_cert(certfile);
    struct certo_err err = {0};
    if (certo_keystore_put_trusted(ks, alias, x, 0, &err) != CERTO_OK)
        fail_msg("put_trusted %s: %s", alias, err.msg);
    X509_free(x);
}

static void
assert_entries_equal(const struct certo_keystore *a, const struct certo_keystore *b)
{
    assert_int_equal(a->count, b->count);
    for (size_t i = 0; i < a->count; i++) {
        const struct certo_ks_entry *x = &a->entries[i], *y = &b->entries[i];
        assert_string_equal(x->alias, y->alias);
        assert_int_equal(x->kind, y->kind);
        assert_int_equal(sk_X509_num(x->certs), sk_X509_num(y->certs));
        for (int j = 0; j < sk_X509_num(x->certs); j++)
            assert_int_equal(X509_cmp(sk_X509_value(x->certs, j), sk_X509_value(y->certs, j)), 0);
        if (x->kind == CERTO_KS_ENTRY_KEY)
            assert_int_equal(EVP_PKEY_eq(x->key, y->key), 1);
        else
            assert_null(y->key);
    }
}

static void
assert_cert_is(X509 *x, const char *fixture)
{
    X509 *f = fixture_cert(fixture);
    assert_int_equal(X509_cmp(x, f), 0);
    X509_free(f);
}

static void
assert_key_is(EVP_PKEY *k, const char *fixture)
{
    EVP_PKEY *f = t_fixture_key(fixture);
    assert_int_equal(EVP_PKEY_eq(k, f), 1);
    EVP_PKEY_free(f);
}

static void
test_pki_pkcs12__read_openssl_modern(void **state)
{
    struct certo_keystore *ks = parse_fixture("openssl-modern.p12");
    (void)state;

    assert_int_equal(ks->count, 1);
    const struct certo_ks_entry *e = &ks->entries[0];
    assert_string_equal(e->alias, "www");
    assert_int_equal(e->kind, CERTO_KS_ENTRY_KEY);
    assert_key_is(e->key, "leaf-rsa2048.key");
    assert_int_equal(sk_X509_num(e->certs), 3);
    assert_cert_is(sk_X509_value(e->certs, 0), "leaf-rsa2048.crt");
    assert_cert_is(sk_X509_value(e->certs, 1), "int.crt");
    assert_cert_is(sk_X509_value(e->certs, 2), "ca.crt");
    assert_int_equal(ks->p12_profile, CERTO_P12_MODERN);
    assert_int_equal(ks->p12_iter, 0); /* 2048 = our default */
    certo_keystore_free(ks);
}

static void
test_pki_pkcs12__read_openssl_legacy(void **state)
{
    struct certo_keystore *ks = parse_fixture("openssl-legacy.p12");
    (void)state;

    assert_int_equal(ks->count, 1);
    const struct certo_ks_entry *e = &ks->entries[0];
    assert_string_equal(e->alias, "ec256");
    assert_int_equal(e->kind, CERTO_KS_ENTRY_KEY);
    assert_key_is(e->key, "leaf-ec256.key");
    assert_int_equal(sk_X509_num(e->certs), 2);
    assert_cert_is(sk_X509_value(e->certs, 1), "int.crt");
    assert_int_equal(ks->p12_profile, CERTO_P12_LEGACY_RC2);
    certo_keystore_free(ks);
}

/* Reading RC2 used the private legacy context: the default one still has no RC2 and still
 * has everything else (the pitfall of REFERENCE.md 2.3). */
static void
test_pki_pkcs12__legacy_stays_private(void **state)
{
    struct certo_keystore *ks = parse_fixture("openssl-legacy.p12");
    (void)state;
    certo_keystore_free(ks);

    ERR_set_mark();
    EVP_CIPHER *rc2 = EVP_CIPHER_fetch(NULL, "RC2-40-CBC", NULL);
    ERR_pop_to_mark();
    assert_null(rc2);
    EVP_CIPHER *aes = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
    assert_non_null(aes);
    EVP_CIPHER_free(aes);
    ks = parse_fixture("openssl-modern.p12");
    certo_keystore_free(ks);
}

static void
test_pki_pkcs12__read_openssl_certonly(void **state)
{
    struct certo_keystore *ks = parse_fixture("openssl-certonly.p12");
    (void)state;

    assert_int_equal(ks->count, 1);
    assert_int_equal(ks->entries[0].kind, CERTO_KS_ENTRY_TRUSTED);
    assert_string_equal(ks->entries[0].alias, "1");
    assert_null(ks->entries[0].key);
    assert_int_equal(sk_X509_num(ks->entries[0].certs), 1);
    assert_cert_is(sk_X509_value(ks->entries[0].certs, 0), "ca.crt");
    certo_keystore_free(ks);
}

static void
test_pki_pkcs12__read_keytool(void **state)
{
    struct certo_keystore *ks = parse_fixture("keytool.p12");
    const struct certo_ks_entry *e;
    (void)state;

    assert_int_equal(ks->count, 3);
    e = certo_keystore_find(ks, "www");
    assert_non_null(e);
    assert_int_equal(e->kind, CERTO_KS_ENTRY_KEY);
    assert_key_is(e->key, "leaf-rsa2048.key");
    assert_int_equal(sk_X509_num(e->certs), 3);
    assert_cert_is(sk_X509_value(e->certs, 0), "leaf-rsa2048.crt");
    assert_true(e->created_ms > 1600000000000LL); /* keytool's "Time <ms>" localKeyID */
    e = certo_keystore_find(ks, "generated");
    assert_non_null(e);
    assert_int_equal(e->kind, CERTO_KS_ENTRY_KEY);
    assert_string_equal(certo_key_alg_name(e->key), "EC");
    assert_int_equal(sk_X509_num(e->certs), 1);
    e = certo_keystore_find(ks, "rootca");
    assert_non_null(e);
    assert_int_equal(e->kind, CERTO_KS_ENTRY_TRUSTED);
    assert_cert_is(sk_X509_value(e->certs, 0), "ca.crt");
    /* File order of the certificates: www, generated, rootca. */
    assert_string_equal(ks->entries[0].alias, "www");
    assert_string_equal(ks->entries[1].alias, "generated");
    assert_string_equal(ks->entries[2].alias, "rootca");
    assert_int_equal(ks->p12_profile, CERTO_P12_MODERN);
    assert_int_equal(ks->p12_iter, 10000); /* kept when rewriting */
    certo_keystore_free(ks);
}

static void
test_pki_pkcs12__roundtrip_profiles(void **state)
{
    static const enum certo_p12_profile profiles[] = {CERTO_P12_MODERN, CERTO_P12_LEGACY_RC2,
                                                      CERTO_P12_LEGACY_3DES};
    static const char *const keys[][2] = {{"leaf-rsa2048.key", "leaf-rsa2048.crt"},
                                          {"leaf-ec256.key", "leaf-ec256.crt"},
                                          {"leaf-ed25519.key", "leaf-ed25519.crt"}};
    (void)state;

    for (size_t p = 0; p < CERTO_ARRAY_LEN(profiles); p++) {
        for (size_t k = 0; k < CERTO_ARRAY_LEN(keys); k++) {
            struct certo_keystore *ks = certo_keystore_new(CERTO_KS_PKCS12), *back = NULL;
            struct certo_err err = {0};
            struct certo_buf b;
            ks->p12_profile = profiles[p];
            put_key(ks, "entry", keys[k][0], keys[k][1]);
            write_ks(&b, ks, PASS);
            assert_int_equal(parse_bytes(&back, b.data, b.len, PASS, &err), CERTO_OK);
            assert_entries_equal(ks, back);
            assert_int_equal(sk_X509_num(back->entries[0].certs), 3);
            assert_int_equal(back->p12_profile, profiles[p]);
            certo_keystore_free(back);
            certo_keystore_free(ks);
            certo_buf_dispose(&b);
        }
    }
}

static void
test_pki_pkcs12__several_entries(void **state)
{
    struct certo_keystore *ks = certo_keystore_new(CERTO_KS_PKCS12), *back = NULL;
    struct certo_err err = {0};
    struct certo_buf b;
    (void)state;

    put_key(ks, "www", "leaf-rsa2048.key", "leaf-rsa2048.crt");
    put_trusted(ks, "rootca", "ca.crt");
    put_key(ks, CAFE_EMOJI, "leaf-ec256.key", "leaf-ec256.crt");
    put_trusted(ks, "My Alias", "selfsigned.crt");
    for (int p = CERTO_P12_MODERN; p <= CERTO_P12_LEGACY_3DES; p++) {
        ks->p12_profile = (enum certo_p12_profile)p;
        write_ks(&b, ks, PASS);
        assert_int_equal(parse_bytes(&back, b.data, b.len, PASS, &err), CERTO_OK);
        assert_entries_equal(ks, back);
        assert_string_equal(back->entries[2].alias, CAFE_EMOJI);
        assert_non_null(certo_keystore_find(back, "my alias")); /* Java: case-insensitive */
        certo_keystore_free(back);
        certo_buf_dispose(&b);
    }
    certo_keystore_free(ks);
}

static void
test_pki_pkcs12__empty_keystore(void **state)
{
    struct certo_keystore *ks = certo_keystore_new(CERTO_KS_PKCS12), *back = NULL;
    struct certo_err err = {0};
    struct certo_buf b;
    (void)state;

    write_ks(&b, ks, PASS);
    assert_true(b.len > 0);
    assert_int_equal(parse_bytes(&back, b.data, b.len, PASS, &err), CERTO_OK);
    assert_int_equal(back->count, 0);
    certo_keystore_free(back);
    /* The MAC still guards an empty file. */
    assert_int_equal(parse_bytes(&back, b.data, b.len, "wrong", &err), CERTO_EAUTH);
    certo_buf_dispose(&b);
    certo_keystore_free(ks);
}

/* Rewriting a file read from keytool keeps its entries, in order. */
static void
test_pki_pkcs12__rewrite_keytool(void **state)
{
    struct certo_keystore *ks = parse_fixture("keytool.p12"), *back = NULL;
    struct certo_err err = {0};
    struct certo_buf b;
    (void)state;

    put_key(ks, "new", "leaf-ec384.key", "leaf-ec384.crt");
    write_ks(&b, ks, PASS);
    assert_int_equal(parse_bytes(&back, b.data, b.len, PASS, &err), CERTO_OK);
    assert_entries_equal(ks, back);
    assert_int_equal(back->count, 4);
    assert_int_equal(back->p12_iter, 10000);
    certo_keystore_free(back);
    certo_keystore_free(ks);
    certo_buf_dispose(&b);
}

/* ---- What the written file holds, looked at with OpenSSL alone ---- */

struct bags {
    STACK_OF(PKCS7) * safes;
    STACK_OF(PKCS12_SAFEBAG) * all; /* every bag, not owned individually */
    STACK_OF(PKCS12_SAFEBAG) * owned[8];
    int n_owned;
};

static int
algor_nid(const X509_ALGOR *a)
{
    const ASN1_OBJECT *o;
    X509_ALGOR_get0(&o, NULL, NULL, a);
    return OBJ_obj2nid(o);
}

/* For PBES2: checks PBKDF2 + hmacWithSHA256 + AES-256-CBC and 'iter'. */
static void
assert_pbes2_modern(const X509_ALGOR *a, long iter)
{
    assert_int_equal(algor_nid(a), NID_pbes2);
    PBE2PARAM *p2 = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBE2PARAM), a->parameter);
    assert_non_null(p2);
    assert_int_equal(algor_nid(p2->keyfunc), NID_id_pbkdf2);
    assert_int_equal(algor_nid(p2->encryption), NID_aes_256_cbc);
    PBKDF2PARAM *k = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBKDF2PARAM), p2->keyfunc->parameter);
    assert_non_null(k);
    assert_non_null(k->prf);
    assert_int_equal(algor_nid(k->prf), NID_hmacWithSHA256);
    assert_int_equal(ASN1_INTEGER_get(k->iter), iter);
    PBKDF2PARAM_free(k);
    PBE2PARAM_free(p2);
}

static void
inspect(struct bags *out, PKCS12 *p12, const char *pass, int cert_nid, int key_nid, long iter)
{
    memset(out, 0, sizeof(*out));
    out->safes = PKCS12_unpack_authsafes(p12);
    out->all = sk_PKCS12_SAFEBAG_new_null();
    assert_non_null(out->safes);
    for (int i = 0; i < sk_PKCS7_num(out->safes); i++) {
        PKCS7 *p7 = sk_PKCS7_value(out->safes, i);
        STACK_OF(PKCS12_SAFEBAG) * bags;
        if (OBJ_obj2nid(p7->type) == NID_pkcs7_encrypted) {
            const X509_ALGOR *a = p7->d.encrypted->enc_data->algorithm;
            if (cert_nid == NID_pbes2)
                assert_pbes2_modern(a, iter);
            else
                assert_int_equal(algor_nid(a), cert_nid);
            if (cert_nid == NID_pbe_WithSHA1And40BitRC2_CBC)
                continue; /* cannot be opened without the legacy provider here */
            bags = PKCS12_unpack_p7encdata(p7, pass, (int)strlen(pass));
        } else {
            bags = PKCS12_unpack_p7data(p7);
        }
        assert_non_null(bags);
        out->owned[out->n_owned++] = bags;
        for (int j = 0; j < sk_PKCS12_SAFEBAG_num(bags); j++) {
            PKCS12_SAFEBAG *bag = sk_PKCS12_SAFEBAG_value(bags, j);
            sk_PKCS12_SAFEBAG_push(out->all, bag);
            if (PKCS12_SAFEBAG_get_nid(bag) == NID_pkcs8ShroudedKeyBag) {
                const X509_ALGOR *a;
                X509_SIG_get0(PKCS12_SAFEBAG_get0_pkcs8(bag), &a, NULL);
                if (key_nid == NID_pbes2)
                    assert_pbes2_modern(a, iter);
                else
                    assert_int_equal(algor_nid(a), key_nid);
            }
        }
    }
}

static void
inspect_dispose(struct bags *b)
{
    for (int i = 0; i < b->n_owned; i++)
        sk_PKCS12_SAFEBAG_pop_free(b->owned[i], PKCS12_SAFEBAG_free);
    sk_PKCS12_SAFEBAG_free(b->all);
    sk_PKCS7_pop_free(b->safes, PKCS7_free);
}

static void
assert_mac(PKCS12 *p12, int md_nid, long iter)
{
    const ASN1_OCTET_STRING *mac;
    const X509_ALGOR *alg;
    const ASN1_INTEGER *it;
    PKCS12_get0_mac(&mac, &alg, NULL, &it, p12);
    assert_int_equal(algor_nid(alg), md_nid);
    assert_int_equal(ASN1_INTEGER_get(it), iter);
    assert_int_equal(PKCS12_verify_mac(p12, PASS, (int)strlen(PASS)), 1);
}

static PKCS12 *
write_p12(const struct certo_keystore *ks)
{
    struct certo_buf b;
    write_ks(&b, ks, PASS);
    const unsigned char *p = b.data;
    PKCS12 *p12 = d2i_PKCS12(NULL, &p, (long)b.len);
    assert_non_null(p12);
    certo_buf_dispose(&b);
    return p12;
}

static void
test_pki_pkcs12__algorithms_written(void **state)
{
    struct certo_keystore *ks = certo_keystore_new(CERTO_KS_PKCS12);
    struct bags bags;
    PKCS12 *p12;
    (void)state;

    put_key(ks, "www", "leaf-ec256.key", "leaf-ec256.crt");

    p12 = write_p12(ks); /* modern, default iterations */
    assert_mac(p12, NID_sha256, 2048);
    inspect(&bags, p12, PASS, NID_pbes2, NID_pbes2, 2048);
    inspect_dispose(&bags);
    PKCS12_free(p12);

    ks->p12_iter = 5000;
    p12 = write_p12(ks);
    assert_mac(p12, NID_sha256, 5000);
    inspect(&bags, p12, PASS, NID_pbes2, NID_pbes2, 5000);
    inspect_dispose(&bags);
    PKCS12_free(p12);

    ks->p12_iter = 0;
    ks->p12_profile = CERTO_P12_LEGACY_RC2;
    p12 = write_p12(ks);
    assert_mac(p12, NID_sha1, 2048);
    inspect(&bags, p12, PASS, NID_pbe_WithSHA1And40BitRC2_CBC,
            NID_pbe_WithSHA1And3_Key_TripleDES_CBC, 2048);
    inspect_dispose(&bags);
    PKCS12_free(p12);

    ks->p12_profile = CERTO_P12_LEGACY_3DES;
    p12 = write_p12(ks);
    assert_mac(p12, NID_sha1, 2048);
    inspect(&bags, p12, PASS, NID_pbe_WithSHA1And3_Key_TripleDES_CBC,
            NID_pbe_WithSHA1And3_Key_TripleDES_CBC, 2048);
    inspect_dispose(&bags);
    PKCS12_free(p12);
    certo_keystore_free(ks);
}

/* friendlyName + localKeyID (SHA-1 of the leaf) on the key and leaf bags, nothing on CA
 * bags, friendlyName + Java trust attribute (value anyExtendedKeyUsage) on trusted bags. */
static void
test_pki_pkcs12__attributes_written(void **state)
{
    struct certo_keystore *ks = certo_keystore_new(CERTO_KS_PKCS12);
    unsigned char sha1[20];
    unsigned int n = 0;
    struct bags bags;
    PKCS12 *p12;
    int keys = 0, leaves = 0, cas = 0, trusted = 0;
    (void)state;

    put_key(ks, CAFE_EMOJI, "leaf-rsa2048.key", "leaf-rsa2048.crt");
    put_trusted(ks, "rootca", "ca.crt");
    assert_int_equal(X509_digest(sk_X509_value(ks->entries[0].certs, 0), EVP_sha1(), sha1, &n), 1);
    p12 = write_p12(ks);
    inspect(&bags, p12, PASS, NID_pbes2, NID_pbes2, 2048);
    for (int i = 0; i < sk_PKCS12_SAFEBAG_num(bags.all); i++) {
        PKCS12_SAFEBAG *bag = sk_PKCS12_SAFEBAG_value(bags.all, i);
        char *name = PKCS12_get_friendlyname(bag);
        const ASN1_TYPE *id = PKCS12_SAFEBAG_get0_attr(bag, NID_localKeyID);
        const STACK_OF(X509_ATTRIBUTE) *attrs = PKCS12_SAFEBAG_get0_attrs(bag);
        if (name != NULL && strcmp(name, "rootca") == 0) {
            trusted++;
            assert_null(id);
            assert_int_equal(sk_X509_ATTRIBUTE_num(attrs), 2);
            X509_ATTRIBUTE *a = NULL;
            for (int j = 0; j < 2; j++) {
                char txt[64];
                X509_ATTRIBUTE *x = sk_X509_ATTRIBUTE_value(attrs, j);
                OBJ_obj2txt(txt, sizeof(txt), X509_ATTRIBUTE_get0_object(x), 1);
                if (strcmp(txt, "2.16.840.1.113894.746875.1.1") == 0)
                    a = x;
            }
            assert_non_null(a);
            ASN1_TYPE *v = X509_ATTRIBUTE_get0_type(a, 0);
            assert_int_equal(v->type, V_ASN1_OBJECT);
            assert_int_equal(OBJ_obj2nid(v->value.object), NID_anyExtendedKeyUsage);
        } else if (name != NULL) {
            assert_string_equal(name, CAFE_EMOJI);
            assert_non_null(id);
            assert_int_equal(id->value.octet_string->length, 20);
            assert_memory_equal(id->value.octet_string->data, sha1, 20);
            if (PKCS12_SAFEBAG_get_nid(bag) == NID_pkcs8ShroudedKeyBag)
                keys++;
            else
                leaves++;
        } else {
            cas++;
            assert_null(attrs);
        }
        OPENSSL_free(name);
    }
    assert_int_equal(keys, 1);
    assert_int_equal(leaves, 1);
    assert_int_equal(cas, 2);
    assert_int_equal(trusted, 1);
    inspect_dispose(&bags);
    PKCS12_free(p12);
    certo_keystore_free(ks);
}

/* OpenSSL's own reader takes what we write. */
static void
test_pki_pkcs12__openssl_reads_ours(void **state)
{
    struct certo_keystore *ks = certo_keystore_new(CERTO_KS_PKCS12);
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    STACK_OF(X509) *ca = NULL;
    (void)state;

    put_key(ks, "www", "leaf-rsa2048.key", "leaf-rsa2048.crt");
    for (int p = CERTO_P12_MODERN; p <= CERTO_P12_LEGACY_3DES; p += 2) {
        ks->p12_profile = (enum certo_p12_profile)p;
        PKCS12 *p12 = write_p12(ks);
        assert_int_equal(PKCS12_parse(p12, PASS, &key, &cert, &ca), 1);
        assert_int_equal(EVP_PKEY_eq(key, ks->entries[0].key), 1);
        assert_int_equal(X509_cmp(cert, sk_X509_value(ks->entries[0].certs, 0)), 0);
        assert_int_equal(sk_X509_num(ca), 2);
        EVP_PKEY_free(key);
        X509_free(cert);
        certo_certs_free(ca);
        PKCS12_free(p12);
        key = NULL;
        cert = NULL;
        ca = NULL;
    }
    certo_keystore_free(ks);
}

/* ---- Files made with OpenSSL's API: no MAC, no names, keys alone ---- */

static void
der_of(struct certo_buf *out, PKCS12 *p12)
{
    unsigned char *der = NULL;
    int n = i2d_PKCS12(p12, &der);
    assert_true(n > 0);
    certo_buf_init(out, CERTO_KEYSTORE_MAX);
    assert_int_equal(certo_buf_append(out, der, (size_t)n), CERTO_OK);
    OPENSSL_free(der);
}

static void
test_pki_pkcs12__no_mac(void **state)
{
    EVP_PKEY *key = t_fixture_key("leaf-ec256.key");
    X509 *cert = fixture_cert("leaf-ec256.crt");
    STACK_OF(X509) *ca = t_fixture_certs("int.crt");
    struct certo_keystore *ks = NULL;
    struct certo_err err = {0};
    struct certo_buf b;
    (void)state;

    /* mac_iter -1: no MAC. No name either: Java calls such an entry "1". */
    PKCS12 *p12 = PKCS12_create(PASS, NULL, key, cert, ca, 0, 0, 0, -1, 0);
    assert_non_null(p12);
    assert_int_equal(PKCS12_mac_present(p12), 0);
    der_of(&b, p12);
    assert_int_equal(parse_bytes(&ks, b.data, b.len, PASS, &err), CERTO_OK);
    assert_int_equal(ks->count, 1);
    assert_string_equal(ks->entries[0].alias, "1");
    assert_int_equal(sk_X509_num(ks->entries[0].certs), 2);
    assert_int_equal(EVP_PKEY_eq(ks->entries[0].key, key), 1);
    certo_keystore_free(ks);
    err = (struct certo_err){0};
    assert_int_equal(parse_bytes(&ks, b.data, b.len, "wrong", &err), CERTO_EAUTH);
    certo_buf_dispose(&b);
    PKCS12_free(p12);
    EVP_PKEY_free(key);
    X509_free(cert);
    certo_certs_free(ca);
}

/* PBES2 with ciphers other than ours: AES-128-CBC (our fast path) and DES-EDE3-CBC
 * (OpenSSL's generic PBE code); the key is found and the profile is still modern. */
static void
test_pki_pkcs12__pbes2_other_ciphers(void **state)
{
    static const int nids[] = {NID_aes_128_cbc, NID_des_ede3_cbc};
    EVP_PKEY *key = t_fixture_key("leaf-rsa2048.key");
    X509 *cert = fixture_cert("leaf-rsa2048.crt");
    STACK_OF(X509) *ca = t_fixture_certs("chain.pem");
    (void)state;

    for (size_t i = 0; i < CERTO_ARRAY_LEN(nids); i++) {
        struct certo_keystore *ks = NULL;
        struct certo_err err = {0};
        struct certo_buf b;
        PKCS12 *p12 = PKCS12_create(PASS, "x", key, cert, ca, nids[i], nids[i], 1000, 1000, 0);
        assert_non_null(p12);
        der_of(&b, p12);
        assert_int_equal(parse_bytes(&ks, b.data, b.len, PASS, &err), CERTO_OK);
        assert_int_equal(ks->count, 1);
        assert_int_equal(EVP_PKEY_eq(ks->entries[0].key, key), 1);
        assert_int_equal(sk_X509_num(ks->entries[0].certs), 3);
        assert_int_equal(ks->p12_profile, CERTO_P12_MODERN);
        certo_keystore_free(ks);
        /* Without the MAC a wrong password shows in the decryption. */
        PKCS12 *nomac = PKCS12_create(PASS, "x", key, cert, ca, nids[i], nids[i], 1000, -1, 0);
        certo_buf_dispose(&b);
        der_of(&b, nomac);
        err = (struct certo_err){0};
        assert_int_equal(parse_bytes(&ks, b.data, b.len, "other", &err), CERTO_EAUTH);
        assert_int_equal(ERR_peek_error(), 0);
        certo_buf_dispose(&b);
        PKCS12_free(nomac);
        PKCS12_free(p12);
    }
    EVP_PKEY_free(key);
    X509_free(cert);
    certo_certs_free(ca);
}

static void
test_pki_pkcs12__key_without_cert(void **state)
{
    EVP_PKEY *key = t_fixture_key("leaf-ec256.key");
    struct certo_keystore *ks = NULL;
    struct certo_err err = {0};
    struct certo_buf b;
    (void)state;

    PKCS12 *p12 = PKCS12_create(PASS, "lonely", key, NULL, NULL, 0, 0, 0, 0, 0);
    assert_non_null(p12);
    der_of(&b, p12);
    assert_int_equal(parse_bytes(&ks, b.data, b.len, PASS, &err), CERTO_EUNSUPPORTED);
    assert_null(ks);
    certo_buf_dispose(&b);
    PKCS12_free(p12);
    EVP_PKEY_free(key);
}

/* Unnamed entries are numbered, skipping numbers that are already aliases; a certificate
 * that is in no chain and has no trust attribute is still an entry. */
static void
test_pki_pkcs12__numbered_aliases(void **state)
{
    STACK_OF(PKCS12_SAFEBAG) *bags = NULL;
    STACK_OF(PKCS7) *safes = NULL;
    X509 *a = fixture_cert("selfsigned.crt"), *c = fixture_cert("ca.crt");
    X509 *d = fixture_cert("leaf-ec384.crt");
    struct certo_keystore *ks = NULL;
    struct certo_err err = {0};
    struct certo_buf b;
    (void)state;

    PKCS12_SAFEBAG *bag = PKCS12_add_cert(&bags, a); /* unnamed */
    assert_non_null(bag);
    bag = PKCS12_add_cert(&bags, c);
    assert_int_equal(PKCS12_add_friendlyname_utf8(bag, "1", -1), 1);
    assert_non_null(PKCS12_add_cert(&bags, d)); /* unnamed */
    assert_int_equal(PKCS12_add_safe(&safes, bags, -1, 0, PASS), 1);
    PKCS12 *p12 = PKCS12_add_safes(safes, 0);
    assert_non_null(p12);
    assert_int_equal(PKCS12_set_mac(p12, PASS, -1, NULL, 0, 1, EVP_sha256()), 1);
    der_of(&b, p12);
    assert_int_equal(parse_bytes(&ks, b.data, b.len, PASS, &err), CERTO_OK);
    assert_int_equal(ks->count, 3);
    assert_string_equal(ks->entries[0].alias, "2");
    assert_string_equal(ks->entries[1].alias, "1");
    assert_string_equal(ks->entries[2].alias, "3");
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(ks->entries[i].kind, CERTO_KS_ENTRY_TRUSTED);
    certo_keystore_free(ks);
    certo_buf_dispose(&b);
    PKCS12_free(p12);
    sk_PKCS7_pop_free(safes, PKCS7_free);
    sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
    X509_free(a);
    X509_free(c);
    X509_free(d);
}

static X509 *
self_signed(EVP_PKEY *key, int serial)
{
    X509 *x = X509_new();
    char cn[32];
    assert_non_null(x);
    snprintf(cn, sizeof(cn), "c%d", serial);
    X509_set_version(x, X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    assert_true(X509_sign(x, key, EVP_sha256()) > 0);
    return x;
}

/* A trust store of thousands of certificates, each stored twice, without names: one
 * entry per certificate, numbered in file order, and no quadratic work on the way. */
static void
test_pki_pkcs12__many_certificates(void **state)
{
    enum { N = 3000 };
    EVP_PKEY *key = t_fixture_key("leaf-ec256.key");
    STACK_OF(PKCS12_SAFEBAG) *bags = NULL;
    STACK_OF(PKCS7) *safes = NULL;
    struct certo_keystore *ks = NULL;
    struct certo_err err = {0};
    struct certo_buf b;
    (void)state;

    for (int i = 0; i < N; i++) {
        X509 *x = self_signed(key, i + 1);
        assert_non_null(PKCS12_add_cert(&bags, x));
        assert_non_null(PKCS12_add_cert(&bags, x));
        X509_free(x);
    }
    assert_int_equal(PKCS12_add_safe(&safes, bags, -1, 0, PASS), 1);
    PKCS12 *p12 = PKCS12_add_safes(safes, 0);
    assert_int_equal(PKCS12_set_mac(p12, PASS, -1, NULL, 0, 1, EVP_sha256()), 1);
    der_of(&b, p12);
    assert_int_equal(parse_bytes(&ks, b.data, b.len, PASS, &err), CERTO_OK);
    assert_int_equal(ks->count, N);
    assert_string_equal(ks->entries[0].alias, "1");
    assert_string_equal(ks->entries[N - 1].alias, "3000");
    X509_NAME *subj = X509_get_subject_name(sk_X509_value(ks->entries[N - 1].certs, 0));
    char got[64];
    X509_NAME_oneline(subj, got, sizeof(got));
    assert_string_equal(got, "/CN=c3000");
    certo_keystore_free(ks);
    certo_buf_dispose(&b);
    PKCS12_free(p12);
    sk_PKCS7_pop_free(safes, PKCS7_free);
    sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
    EVP_PKEY_free(key);
}

/* ---- Errors ---- */

static void
test_pki_pkcs12__wrong_password(void **state)
{
    static const char *const files[] = {"openssl-modern.p12", "openssl-legacy.p12",
                                        "openssl-certonly.p12", "keytool.p12"};
    struct certo_keystore *ks = NULL;
    struct certo_buf b;
    (void)state;

    for (size_t i = 0; i < CERTO_ARRAY_LEN(files); i++) {
        struct certo_err err = {0};
        t_read_fixture(&b, files[i]);
        assert_int_equal(parse_bytes(&ks, b.data, b.len, "changeiT", &err), CERTO_EAUTH);
        assert_null(ks);
        assert_string_equal(err.msg, "wrong keystore password");
        assert_int_equal(ERR_peek_error(), 0);
        certo_buf_dispose(&b);
    }
}

static void
test_pki_pkcs12__too_big(void **state)
{
    size_t n = (size_t)CERTO_PKCS12_MAX + 1;
    unsigned char *big = certo_calloc(1, n);
    struct certo_keystore *ks = NULL;
    struct certo_err err = {0};
    (void)state;

    big[0] = 0x30;
    assert_int_equal(parse_bytes(&ks, big, n, PASS, &err), CERTO_ETOOBIG);
    certo_free(big);
}

static void
test_pki_pkcs12__garbage(void **state)
{
    struct certo_keystore *ks = NULL;
    struct certo_buf b;
    unsigned char junk[512];
    (void)state;

    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (unsigned char)(i * 131 + 7);
    struct certo_err err = {0};
    assert_int_equal(parse_bytes(&ks, junk, sizeof(junk), PASS, &err), CERTO_EPARSE);
    assert_non_null(strstr(err.msg, "corrupt PKCS#12"));
    err = (struct certo_err){0};
    assert_int_equal(parse_bytes(&ks, "hello", 5, PASS, &err), CERTO_EPARSE);
    err = (struct certo_err){0};
    assert_int_equal(parse_bytes(&ks, junk, 0, PASS, &err), CERTO_EPARSE);
    /* A DER certificate is a SEQUENCE too, but no PFX. */
    t_read_fixture(&b, "leaf-rsa2048.der");
    err = (struct certo_err){0};
    assert_int_equal(parse_bytes(&ks, b.data, b.len, PASS, &err), CERTO_EPARSE);
    certo_buf_dispose(&b);
    /* Trailing bytes after a good PFX. */
    t_read_fixture(&b, "openssl-certonly.p12");
    assert_int_equal(certo_buf_append(&b, "x", 1), CERTO_OK);
    err = (struct certo_err){0};
    assert_int_equal(parse_bytes(&ks, b.data, b.len, PASS, &err), CERTO_EPARSE);
    assert_non_null(strstr(err.msg, "after the end"));
    certo_buf_dispose(&b);
    assert_int_equal(ERR_peek_error(), 0);
}

/*
 * Mutation loops (STYLE.md 7.8): every truncation and every single-bit flip of a written
 * file must fail. A flip that still decodes must be caught by the MAC or a structural
 * check, never parse into something else. One iteration keeps the loop fast.
 */
static void
mutate_all(const struct certo_keystore *ks)
{
    struct certo_keystore *back = NULL;
    struct certo_buf b;
    size_t fails[32] = {0};

    write_ks(&b, ks, PASS);
    unsigned char *copy = certo_malloc(b.len);
    for (size_t len = 0; len < b.len; len++) {
        struct certo_err err = {0};
        certo_rc rc = parse_bytes(&back, b.data, len, PASS, &err);
        if (rc == CERTO_OK)
            fail_msg("truncation to %zu of %zu bytes parsed", len, b.len);
        assert_int_equal(rc, CERTO_EPARSE);
    }
    for (size_t bit = 0; bit < b.len * 8; bit++) {
        struct certo_err err = {0};
        memcpy(copy, b.data, b.len);
        copy[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        certo_rc rc = parse_bytes(&back, copy, b.len, PASS, &err);
        if (rc == CERTO_OK)
            fail_msg("flip of bit %zu (byte %zu) parsed", bit, bit / 8);
        fails[-rc]++;
        assert_int_equal(ERR_peek_error(), 0);
    }
    print_message("  %zu bytes: %zu EPARSE, %zu EAUTH, %zu EUNSUPPORTED, %zu ETOOBIG\n", b.len,
                  fails[-CERTO_EPARSE], fails[-CERTO_EAUTH], fails[-CERTO_EUNSUPPORTED],
                  fails[-CERTO_ETOOBIG]);
    certo_free(copy);
    certo_buf_dispose(&b);
}

static void
test_pki_pkcs12__mutations(void **state)
{
    struct certo_keystore *ks = certo_keystore_new(CERTO_KS_PKCS12);
    (void)state;

    put_key(ks, "ec", "leaf-ec256.key", "leaf-ec256.crt");
    put_trusted(ks, "rootca", "ca.crt");
    ks->p12_iter = 1;
    mutate_all(ks);
    ks->p12_profile = CERTO_P12_LEGACY_RC2;
    mutate_all(ks);
    certo_keystore_free(ks);
}

static void
test_pki_pkcs12__bad_write_options(void **state)
{
    struct certo_keystore *ks = certo_keystore_new(CERTO_KS_PKCS12);
    struct certo_secret *s = t_secret(PASS);
    struct certo_buf b;
    struct certo_err err = {0};
    (void)state;

    certo_buf_init(&b, CERTO_KEYSTORE_MAX);
    ks->p12_iter = -5;
    assert_int_equal(certo_pkcs12_write(&b, ks, s, &err), CERTO_EINVAL);
    assert_int_equal(b.len, 0);
    /* The output ceiling is honoured. */
    ks->p12_iter = 0;
    put_key(ks, "www", "leaf-rsa2048.key", "leaf-rsa2048.crt");
    certo_buf_init(&b, 100);
    err = (struct certo_err){0};
    assert_int_equal(certo_pkcs12_write(&b, ks, s, &err), CERTO_ETOOBIG);
    certo_buf_dispose(&b);
    certo_secret_free(s);
    certo_keystore_free(ks);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pki_pkcs12__read_openssl_modern),
        cmocka_unit_test(test_pki_pkcs12__read_openssl_legacy),
        cmocka_unit_test(test_pki_pkcs12__legacy_stays_private),
        cmocka_unit_test(test_pki_pkcs12__read_openssl_certonly),
        cmocka_unit_test(test_pki_pkcs12__read_keytool),
        cmocka_unit_test(test_pki_pkcs12__roundtrip_profiles),
        cmocka_unit_test(test_pki_pkcs12__several_entries),
        cmocka_unit_test(test_pki_pkcs12__empty_keystore),
        cmocka_unit_test(test_pki_pkcs12__rewrite_keytool),
        cmocka_unit_test(test_pki_pkcs12__algorithms_written),
        cmocka_unit_test(test_pki_pkcs12__attributes_written),
        cmocka_unit_test(test_pki_pkcs12__openssl_reads_ours),
        cmocka_unit_test(test_pki_pkcs12__no_mac),
        cmocka_unit_test(test_pki_pkcs12__pbes2_other_ciphers),
        cmocka_unit_test(test_pki_pkcs12__key_without_cert),
        cmocka_unit_test(test_pki_pkcs12__numbered_aliases),
        cmocka_unit_test(test_pki_pkcs12__many_certificates),
        cmocka_unit_test(test_pki_pkcs12__wrong_password),
        cmocka_unit_test(test_pki_pkcs12__too_big),
        cmocka_unit_test(test_pki_pkcs12__garbage),
        cmocka_unit_test(test_pki_pkcs12__mutations),
        cmocka_unit_test(test_pki_pkcs12__bad_write_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
