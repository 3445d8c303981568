/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of src/pki/jks.c: reading the keytool-written fixture, round trips of every
 * key type we support, modified UTF-8, version 1 files, and hostile input (truncation at
 * every length, every single-bit flip, huge counts and lengths, trailing bytes). Files
 * that need a valid digest after tampering get it recomputed here (REFERENCE.md 1.7).
 */
#include <string.h>

#include <openssl/evp.h>

#include "testutil.h"

#define PASS "changeit"

/* The keytool fixture was written long after this instant (ms since the epoch). */
#define MS_2020 1577836800000LL

/* UTF-8 "café-😀" and its modified UTF-8 form (REFERENCE.md 1.2). */
static const char cafe[] = "caf\xc3\xa9-\xf0\x9f\x98\x80";
static const unsigned char cafe_mutf8[] = {0x63, 0x61, 0x66, 0xc3, 0xa9, 0x2d,
                                           0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80};

static void
put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t
get_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint16_t
get_be16(const unsigned char *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* Computes the digest of a JKS image into 'out', independently of the code under test:
 * SHA-1(pw16 || "Mighty Aphrodite" || body), 'pw16' being the UTF-16BE password. */
static void
jks_digest(unsigned char out[20], const unsigned char *data, size_t len, const unsigned char *pw16,
           size_t pw16_len)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    assert_non_null(ctx);
    assert_true(len >= 20);
    assert_int_equal(EVP_DigestInit_ex(ctx, EVP_sha1(), NULL), 1);
    assert_int_equal(EVP_DigestUpdate(ctx, pw16, pw16_len), 1);
    assert_int_equal(EVP_DigestUpdate(ctx, "Mighty Aphrodite", 16), 1);
    assert_int_equal(EVP_DigestUpdate(ctx, data, len - 20), 1);
    assert_int_equal(EVP_DigestFinal_ex(ctx, out, NULL), 1);
    EVP_MD_CTX_free(ctx);
}

/* Recomputes the trailing digest of a JKS image in place, for an ASCII password. */
static void
fix_digest(unsigned char *data, size_t len, const char *ascii_pw)
{
    unsigned char pw16[64];
    size_t n = strlen(ascii_pw);
    assert_true(n <= sizeof(pw16) / 2);
    for (size_t i = 0; i < n; i++) {
        pw16[2 * i] = 0;
        pw16[2 * i + 1] = (unsigned char)ascii_pw[i];
    }
    jks_digest(data + len - 20, data, len, pw16, 2 * n);
}

/* Parses 'data' into a fresh JKS keystore; returns the code, the keystore via 'out' (NULL
 * on failure) and the message via 'err'. */
static certo_rc
parse(struct certo_keystore **out, const void *data, size_t len, const char *pw,
      struct certo_err *err)
{
    struct certo_secret *s = t_secret(pw);
    struct certo_keystore *ks = certo_keystore_new(CERTO_KS_JKS);
    certo_rc rc = certo_jks_parse(ks, data, len, s, err);
    certo_secret_free(s);
    if (rc != CERTO_OK) {
        assert_int_equal(ks->count, 0); /* a failed parse leaves nothing behind */
        certo_keystore_free(ks);
        ks = NULL;
    }
    if (out != NULL)
        *out = ks;
    else
        certo_keystore_free(ks);
    return rc;
}

static void
write_ks(struct certo_buf *out, const struct certo_keystore *ks, const char *pw)
{
    struct certo_secret *s = t_secret(pw);
    struct certo_err err = {0};
    certo_buf_init(out, CERTO_JKS_MAX);
    certo_rc rc = certo_jks_write(out, ks, s, &err);
    if (rc != CERTO_OK)
        fail_msg("certo_jks_write: %s %s", certo_rc_name(rc), err.msg);
    certo_secret_free(s);
}

/* Adds a key entry from fixtures: 'keyf', leaf 'crtf', then the certificates of 'chainf'. */
static void
add_key(struct certo_keystore *ks, const char *alias, const char *keyf, const char *crtf,
        const char *chainf, int64_t ms)
{
    EVP_PKEY *key = t_fixture_key(keyf);
    STACK_OF(X509) *chain = t_fixture_certs(crtf);
    STACK_OF(X509) *rest = t_fixture_certs(chainf);
    struct certo_err err = {0};

    for (int i = 0; i < sk_X509_num(rest); i++) {
        X509 *x = sk_X509_value(rest, i);
        assert_int_equal(X509_up_ref(x), 1);
        assert_true(sk_X509_push(chain, x) > 0);
    }
    certo_rc rc = certo_keystore_put_key(ks, alias, key, chain, ms, &err);
    if (rc != CERTO_OK)
        fail_msg("put_key %s: %s", alias, err.msg);
    EVP_PKEY_free(key);
    certo_certs_free(chain);
    certo_certs_free(rest);
}

static void
add_trusted(struct certo_keystore *ks, const char *alias, const char *crtf, int64_t ms)
{
    STACK_OF(X509) *c = t_fixture_certs(crtf);
    assert_int_equal(certo_keystore_put_trusted(ks, alias, sk_X509_value(c, 0), ms, NULL),
                     CERTO_OK);
    certo_certs_free(c);
}

/* RSA with a 3-certificate chain, EC P-256, Ed25519, and a trusted CA. */
static struct certo_keystore *
make_full_ks(void)
{
    struct certo_keystore *ks = certo_keystore_new(CERTO_KS_JKS);
    add_key(ks, "web", "leaf-rsa2048.key", "leaf-rsa2048.crt", "chain.pem", 1700000000123LL);
    add_key(ks, "ec", "leaf-ec256.key", "leaf-ec256.crt", "int.crt", 1700000000456LL);
    add_key(ks, "ed", "leaf-ed25519.key", "leaf-ed25519.crt", "int.crt", 1700000000789LL);
    add_trusted(ks, "myca", "ca.crt", 1700000001000LL);
    return ks;
}

/* A small keystore (EC key + trusted CA) for the loops over every byte and bit. */
static struct certo_keystore *
make_small_ks(void)
{
    struct certo_keystore *ks = certo_keystore_new(CERTO_KS_JKS);
    add_key(ks, "ec", "leaf-ec256.key", "leaf-ec256.crt", "int.crt", 1700000000456LL);
    add_trusted(ks, "ca", "ca.crt", 1700000001000LL);
    return ks;
}

static void
assert_same_certs(STACK_OF(X509) * a, STACK_OF(X509) * b)
{
    assert_int_equal(sk_X509_num(a), sk_X509_num(b));
    for (int i = 0; i < sk_X509_num(a); i++)
        assert_int_equal(X509_cmp(sk_X509_value(a, i), sk_X509_value(b, i)), 0);
}

static void
assert_same_ks(const struct certo_keystore *a, const struct certo_keystore *b)
{
    assert_int_equal(a->count, b->count);
    for (size_t i = 0; i < a->count; i++) {
        const struct certo_ks_entry *x = &a->entries[i], *y = &b->entries[i];
        assert_string_equal(x->alias, y->alias);
        assert_int_equal(x->kind, y->kind);
        assert_true(x->created_ms == y->created_ms);
        assert_same_certs(x->certs, y->certs);
        if (x->kind == CERTO_KS_ENTRY_KEY) {
            assert_non_null(y->key);
            /* Private halves equal, not just public ones. */
            assert_int_equal(EVP_PKEY_eq(x->key, y->key), 1);
            assert_true(certo_key_public_equal(x->key, y->key));
        } else {
            assert_null(y->key);
        }
    }
}

static void
test_pki_jks__read_keytool_fixture(void **state)
{
    struct certo_buf b;
    struct certo_keystore *ks = NULL;
    struct certo_err err = {0};
    (void)state;

    t_read_fixture(&b, "keytool.jks");
    certo_rc rc = parse(&ks, b.data, b.len, PASS, &err);
    if (rc != CERTO_OK)
        fail_msg("%s: %s", certo_rc_name(rc), err.msg);
    assert_int_equal(ks->count, 3);

    const struct certo_ks_entry *www = certo_keystore_find(ks, "www");
    const struct certo_ks_entry *gen = certo_keystore_find(ks, "generated");
    const struct certo_ks_entry *root = certo_keystore_find(ks, "rootca");
    assert_non_null(www);
    assert_non_null(gen);
    assert_non_null(root);
    assert_string_equal(www->alias, "www");

    assert_int_equal(www->kind, CERTO_KS_ENTRY_KEY);
    assert_int_equal(sk_X509_num(www->certs), 3);
    assert_int_equal(EVP_PKEY_get_base_id(www->key), EVP_PKEY_RSA);
    assert_int_equal(EVP_PKEY_get_bits(www->key), 2048);
    EVP_PKEY *leaf_key = t_fixture_key("leaf-rsa2048.key");
    assert_true(certo_key_public_equal(www->key, leaf_key));
    assert_int_equal(EVP_PKEY_eq(www->key, leaf_key), 1);
    assert_true(certo_cert_matches_key(sk_X509_value(www->certs, 0), leaf_key));
    EVP_PKEY_free(leaf_key);
    STACK_OF(X509) *want = t_fixture_certs("fullchain-rsa2048.pem");
    assert_same_certs(www->certs, want);
    certo_certs_free(want);

    assert_int_equal(gen->kind, CERTO_KS_ENTRY_KEY);
    assert_int_equal(sk_X509_num(gen->certs), 1);
    assert_int_equal(EVP_PKEY_get_base_id(gen->key), EVP_PKEY_EC);
    assert_string_equal(certo_key_curve(gen->key), "P-256");
    assert_true(certo_cert_matches_key(sk_X509_value(gen->certs, 0), gen->key));

    assert_int_equal(root->kind, CERTO_KS_ENTRY_TRUSTED);
    assert_int_equal(sk_X509_num(root->certs), 1);
    assert_null(root->key);
    STACK_OF(X509) *ca = t_fixture_certs("ca.crt");
    assert_same_certs(root->certs, ca);
    certo_certs_free(ca);

    for (size_t i = 0; i < ks->count; i++)
        assert_true(ks->entries[i].created_ms > MS_2020);

    /* And what we read, we write back and read again identically. */
    struct certo_buf w;
    struct certo_keystore *again = NULL;
    write_ks(&w, ks, PASS);
    assert_int_equal(parse(&again, w.data, w.len, PASS, NULL), CERTO_OK);
    assert_same_ks(ks, again);
    certo_keystore_free(again);
    certo_buf_dispose(&w);
    certo_keystore_free(ks);
    certo_buf_dispose(&b);
}

static void
test_pki_jks__round_trip(void **state)
{
    struct certo_keystore *ks = make_full_ks(), *back = NULL;
    struct certo_buf b;
    struct certo_err err = {0};
    (void)state;

    write_ks(&b, ks, PASS);
    certo_rc rc = parse(&back, b.data, b.len, PASS, &err);
    if (rc != CERTO_OK)
        fail_msg("%s: %s", certo_rc_name(rc), err.msg);
    assert_same_ks(ks, back);
    assert_int_equal(EVP_PKEY_get_base_id(back->entries[2].key), EVP_PKEY_ED25519);

    /* Random salts: writing twice never gives the same bytes, and both read back. */
    struct certo_buf b2;
    write_ks(&b2, ks, PASS);
    assert_int_equal(b.len, b2.len);
    assert_true(memcmp(b.data, b2.data, b.len) != 0);
    assert_int_equal(parse(NULL, b2.data, b2.len, PASS, NULL), CERTO_OK);

    certo_buf_dispose(&b2);
    certo_keystore_free(back);
    certo_keystore_free(ks);
    certo_buf_dispose(&b);
}

static void
test_pki_jks__keystore_api(void **state)
{
    struct certo_keystore *ks = make_full_ks(), *back = NULL;
    struct certo_secret *pw = t_secret(PASS);
    struct certo_buf b;
    (void)state;

    certo_buf_init(&b, CERTO_KEYSTORE_MAX);
    assert_int_equal(certo_keystore_serialize(&b, ks, pw, NULL), CERTO_OK);
    assert_int_equal(certo_keystore_detect(b.data, b.len), CERTO_KS_JKS);
    assert_int_equal(certo_keystore_parse(&back, CERTO_KS_AUTO, b.data, b.len, pw, NULL), CERTO_OK);
    assert_int_equal(back->format, CERTO_KS_JKS);
    assert_same_ks(ks, back);
    certo_keystore_free(back);
    certo_keystore_free(ks);
    certo_secret_free(pw);
    certo_buf_dispose(&b);
}

static void
test_pki_jks__empty_keystore(void **state)
{
    struct certo_keystore *ks = certo_keystore_new(CERTO_KS_JKS), *back = NULL;
    struct certo_buf b;
    static const unsigned char head[] = {0xfe, 0xed, 0xfe, 0xed, 0, 0, 0, 2, 0, 0, 0, 0};
    (void)state;

    write_ks(&b, ks, PASS);
    assert_int_equal(b.len, sizeof(head) + 20);
    assert_memory_equal(b.data, head, sizeof(head));
    assert_int_equal(parse(&back, b.data, b.len, PASS, NULL), CERTO_OK);
    assert_int_equal(back->count, 0);
    certo_keystore_free(back);
    certo_keystore_free(ks);
    certo_buf_dispose(&b);
}

/* The bytes on disk follow keytool's layout (REFERENCE.md 1.2, 1.3, 1.6, 1.13). */
static void
test_pki_jks__wire_format(void **state)
{
    struct certo_keystore *ks = certo_keystore_new(CERTO_KS_JKS);
    struct certo_buf b, p8;
    EVP_PKEY *key = t_fixture_key("leaf-rsa2048.key");
    static const unsigned char head[] = {0xfe, 0xed, 0xfe, 0xed, 0, 0, 0, 2,   0,   0,  0,
                                         1,    0,    0,    0,    1, 0, 3, 'w', 'e', 'b'};
    static const unsigned char epki_alg[] = {0x30, 0x0e, 0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04,
                                             0x01, 0x2a, 0x02, 0x11, 0x01, 0x01, 0x05, 0x00};
    (void)state;

    add_key(ks, "web", "leaf-rsa2048.key", "leaf-rsa2048.crt", "chain.pem", 0x0102030405060708LL);
    write_ks(&b, ks, PASS);
    assert_memory_equal(b.data, head, sizeof(head));
    const unsigned char *p = b.data + sizeof(head);
    static const unsigned char ms[] = {1, 2, 3, 4, 5, 6, 7, 8};
    assert_memory_equal(p, ms, 8);
    p += 8;

    /* EPKI = SEQ { SEQ { OID, NULL }, OCTET STRING (salt || E || check) }. */
    certo_buf_init(&p8, CERTO_DER_MAX);
    assert_int_equal(certo_key_to_der(&p8, key, NULL), CERTO_OK);
    uint32_t elen = get_be32(p);
    p += 4;
    size_t rlen = p8.len + 40;
    assert_int_equal(p[0], 0x30);
    assert_int_equal(p[1], 0x82);
    assert_memory_equal(p + 4, epki_alg, sizeof(epki_alg));
    assert_int_equal(p[20], 0x04);
    assert_int_equal(p[21], 0x82);
    assert_int_equal(get_be16(p + 22), rlen);
    assert_int_equal(elen, 24 + rlen);
    p += elen;

    assert_int_equal(get_be32(p), 3); /* chain length */
    p += 4;
    static const unsigned char type[] = {0, 5, 'X', '.', '5', '0', '9'};
    for (int i = 0; i < 3; i++) {
        assert_memory_equal(p, type, sizeof(type));
        p += sizeof(type);
        p += 4 + get_be32(p);
    }
    assert_int_equal((size_t)(p - b.data) + 20, b.len);

    /* The trailing digest is the one anybody can recompute (REFERENCE.md 1.7). */
    unsigned char digest[20];
    memcpy(digest, b.data + b.len - 20, 20);
    fix_digest(b.data, b.len, PASS);
    assert_memory_equal(digest, b.data + b.len - 20, 20);

    certo_buf_dispose(&p8);
    EVP_PKEY_free(key);
    certo_keystore_free(ks);
    certo_buf_dispose(&b);
}

static void
test_pki_jks__created_ms(void **state)
{
    struct certo_keystore *ks = certo_keystore_new(CERTO_KS_JKS), *back = NULL;
    struct certo_buf b;
    (void)state;

    add_trusted(ks, "zero", "ca.crt", 0);
    add_trusted(ks, "kept", "int.crt", 1234567890123LL);
    certo_clock_pin_ms(1800000000000LL);
    write_ks(&b, ks, PASS);
    certo_clock_pin_ms(-1);
    assert_int_equal(parse(&back, b.data, b.len, PASS, NULL), CERTO_OK);
    assert_true(back->entries[0].created_ms == 1800000000000LL);
    assert_true(back->entries[1].created_ms == 1234567890123LL);
    certo_keystore_free(back);
    certo_keystore_free(ks);
    certo_buf_dispose(&b);
}

static void
test_pki_jks__wrong_password(void **state)
{
    struct certo_keystore *ks = make_small_ks();
    struct certo_buf b;
    struct certo_err err = {0};
    (void)state;

    write_ks(&b, ks, PASS);
    assert_int_equal(parse(NULL, b.data, b.len, "changeIt", &err), CERTO_EAUTH);
    assert_non_null(strstr(err.msg, "wrong keystore password"));
    certo_err_clear(&err);
    assert_int_equal(parse(NULL, b.data, b.len, "", &err), CERTO_EAUTH);
    certo_err_clear(&err);

    /* The message never carries the password that was tried (STYLE.md 4.6). */
    assert_int_equal(parse(NULL, b.data, b.len, "canary-pw-0451", &err), CERTO_EAUTH);
    assert_null(strstr(err.msg, "canary"));
    certo_err_clear(&err);

    /* A corrupt file says so, whatever the password. */
    assert_int_equal(parse(NULL, b.data, b.len - 1, "canary-pw-0451", &err), CERTO_EPARSE);
    assert_non_null(strstr(err.msg, "corrupt JKS"));

    certo_keystore_free(ks);
    certo_buf_dispose(&b);
}

static void
test_pki_jks__non_ascii_password(void **state)
{
    struct certo_keystore *ks = make_small_ks(), *back = NULL;
    struct certo_buf b;
    /* "pä€🔑": Latin-1, BMP, and one character outside the BMP (a surrogate pair). */
    const char *pw = "p\xc3\xa4\xe2\x82\xac\xf0\x9f\x94\x91";
    static const unsigned char pw16[] = {0x00, 0x70, 0x00, 0xe4, 0x20,
                                         0xac, 0xd8, 0x3d, 0xdd, 0x11};
    unsigned char want[20];
    (void)state;

    write_ks(&b, ks, pw);
    jks_digest(want, b.data, b.len, pw16, sizeof(pw16));
    assert_memory_equal(b.data + b.len - 20, want, 20);
    assert_int_equal(parse(&back, b.data, b.len, pw, NULL), CERTO_OK);
    assert_same_ks(ks, back);
    assert_int_equal(parse(NULL, b.data, b.len, PASS, NULL), CERTO_EAUTH);
    certo_keystore_free(back);
    certo_keystore_free(ks);
    certo_buf_dispose(&b);
}

static void
test_pki_jks__invalid_utf8_password(void **state)
{
    struct certo_keystore *ks = make_small_ks();
    struct certo_secret *pw = NULL;
    struct certo_buf b;
    struct certo_err err = {0};
    (void)state;

    assert_int_equal(certo_secret_new(&pw, "bad\xff\xfepass", 9), CERTO_OK);
    certo_buf_init(&b, CERTO_JKS_MAX);
    assert_int_equal(certo_buf_append(&b, "keep", 4), CERTO_OK);
    assert_int_equal(certo_jks_write(&b, ks, pw, &err), CERTO_EINVAL);
    /* The caller's buffer is as it was. */
    assert_int_equal(b.len, 4);
    assert_int_equal(certo_jks_write(&b, ks, NULL, NULL), CERTO_EINVAL);
    certo_secret_free(pw);
    certo_keystore_free(ks);
    certo_buf_dispose(&b);
}

/* Tampers with the protected key and repairs the file digest: the file is intact, the key
 * check value is not, which is what a different key password looks like. */
static void
test_pki_jks__wrong_key_password(void **state)
{
    struct certo_keystore *ks = make_small_ks();
    struct certo_buf b;
    struct certo_err err = {0};
    (void)state;

    write_ks(&b, ks, PASS);
    /* header 12, tag 4, alias "ec" 2+2, time 8, EPKI length 4, then the EPKI; its last
     * byte is the last byte of the check value. */
    size_t epki = 12 + 4 + 4 + 8 + 4;
    size_t elen = get_be32(b.data + epki - 4);
    b.data[epki + elen - 1] ^= 0x01;
    fix_digest(b.data, b.len, PASS);
    assert_int_equal(parse(NULL, b.data, b.len, PASS, &err), CERTO_EAUTH);
    assert_string_equal(err.msg, "wrong key password for alias 'ec'");

    /* The same for a byte of the encrypted key itself. */
    b.data[epki + elen - 1] ^= 0x01;
    b.data[epki + 24 + 20 + 10] ^= 0x80;
    fix_digest(b.data, b.len, PASS);
    certo_err_clear(&err);
    assert_int_equal(parse(NULL, b.data, b.len, PASS, &err), CERTO_EAUTH);
    assert_non_null(strstr(err.msg, "wrong key password"));
    certo_keystore_free(ks);
    certo_buf_dispose(&b);
}

static void
test_pki_jks__truncation(void **state)
{
    struct certo_keystore *ks = make_full_ks();
    struct certo_buf b;
    (void)state;

    write_ks(&b, ks, PASS);
    for (size_t n = 0; n < b.len; n++) {
        /* A copy of exactly 'n' bytes, so that ASan sees any read past the end. */
        unsigned char *cut = certo_malloc(n);
        memcpy(cut, b.data, n);
        struct certo_err err = {0};
        certo_rc rc = parse(NULL, cut, n, PASS, &err);
        if (rc != CERTO_EPARSE)
            fail_msg("length %zu of %zu: %s (%s)", n, b.len, certo_rc_name(rc), err.msg);
        certo_free(cut);
    }
    certo_keystore_free(ks);
    certo_buf_dispose(&b);
}

static void
test_pki_jks__trailing_bytes(void **state)
{
    struct certo_keystore *ks = make_small_ks();
    struct certo_buf b;
    struct certo_err err = {0};
    (void)state;

    write_ks(&b, ks, PASS);
    assert_int_equal(certo_buf_append(&b, "\0", 1), CERTO_OK);
    assert_int_equal(parse(NULL, b.data, b.len, PASS, &err), CERTO_EPARSE);
    assert_non_null(strstr(err.msg, "corrupt JKS"));
    /* Still refused with the digest made to cover the extra byte. */
    fix_digest(b.data, b.len, PASS);
    assert_int_equal(parse(NULL, b.data, b.len, PASS, NULL), CERTO_EPARSE);
    certo_keystore_free(ks);
    certo_buf_dispose(&b);
}

/* Mutation loop (STYLE.md 7.8): no single-bit flip anywhere yields a keystore. */
static void
test_pki_jks__bit_flips(void **state)
{
    struct certo_keystore *ks = make_full_ks();
    struct certo_buf b;
    (void)state;

    write_ks(&b, ks, PASS);
    unsigned char *m = certo_malloc(b.len);
    memcpy(m, b.data, b.len);
    for (size_t i = 0; i < b.len * 8; i++) {
        m[i / 8] ^= (unsigned char)(1u << (i % 8));
        certo_rc rc = parse(NULL, m, b.len, PASS, NULL);
        if (rc == CERTO_OK)
            fail_msg("bit %zu flipped and the file still parsed", i);
        m[i / 8] ^= (unsigned char)(1u << (i % 8));
    }
    assert_memory_equal(m, b.data, b.len);
    certo_free(m);
    certo_keystore_free(ks);
    certo_buf_dispose(&b);
}

/* Flips with the digest repaired reach the entry decoders: any result but a crash or a
 * leak is acceptable (a flip in a timestamp or a signature still parses). */
static void
test_pki_jks__bit_flips_fixed_digest(void **state)
{
    struct certo_keystore *ks = make_small_ks();
    struct certo_buf b;
    (void)state;

    write_ks(&b, ks, PASS);
    unsigned char *m = certo_malloc(b.len);
    for (size_t i = 0; i < (b.len - 20) * 8; i++) {
        memcpy(m, b.data, b.len);
        m[i / 8] ^= (unsigned char)(1u << (i % 8));
        fix_digest(m, b.len, PASS);
        struct certo_keystore *got = NULL;
        certo_rc rc = parse(&got, m, b.len, PASS, NULL);
        assert_true(rc == CERTO_OK || rc == CERTO_EPARSE || rc == CERTO_EAUTH ||
                    rc == CERTO_EUNSUPPORTED || rc == CERTO_ETOOBIG);
        certo_keystore_free(got);
    }
    certo_free(m);
    certo_keystore_free(ks);
    certo_buf_dispose(&b);
}

static void
test_pki_jks__too_big(void **state)
{
    size_t n = (size_t)CERTO_JKS_MAX + 1;
    unsigned char *big = certo_calloc(1, n);
    struct certo_err err = {0};
    (void)state;

    put_be32(big, 0xfeedfeed);
    assert_int_equal(parse(NULL, big, n, PASS, &err), CERTO_ETOOBIG);
    certo_free(big);
}

static void
test_pki_jks__jceks(void **state)
{
    static const unsigned char jceks[] = {0xce, 0xce, 0xce, 0xce, 0, 0, 0, 2, 0, 0, 0, 0};
    struct certo_err err = {0};
    (void)state;

    assert_int_equal(parse(NULL, jceks, sizeof(jceks), PASS, &err), CERTO_EUNSUPPORTED);
    assert_string_equal(err.msg, "JCEKS keystores are not supported");
    /* Not a keystore at all. */
    static const char zip[] = "PK\3\4 not a keystore";
    assert_int_equal(parse(NULL, zip, sizeof(zip) - 1, PASS, NULL), CERTO_EPARSE);
}

static void
test_pki_jks__bad_version(void **state)
{
    struct certo_keystore *ks = make_small_ks();
    struct certo_buf b;
    struct certo_err err = {0};
    (void)state;

    write_ks(&b, ks, PASS);
    static const uint32_t versions[] = {0, 3, 0x02000000, 0xffffffff};
    for (size_t i = 0; i < CERTO_ARRAY_LEN(versions); i++) {
        put_be32(b.data + 4, versions[i]);
        fix_digest(b.data, b.len, PASS);
        certo_err_clear(&err);
        assert_int_equal(parse(NULL, b.data, b.len, PASS, &err), CERTO_EPARSE);
        assert_non_null(strstr(err.msg, "version"));
    }
    certo_keystore_free(ks);
    certo_buf_dispose(&b);
}

/* Patches the 32-bit field at 'off' of a copy of 'b', repairs the digest, parses. */
static certo_rc
parse_patched32(const struct certo_buf *b, size_t off, uint32_t v)
{
    unsigned char *m = certo_malloc(b->len);
    memcpy(m, b->data, b->len);
    put_be32(m + off, v);
    fix_digest(m, b->len, PASS);
    certo_rc rc = parse(NULL, m, b->len, PASS, NULL);
    certo_free(m);
    return rc;
}

/* Hostile counts and lengths fail as corrupt without large allocations (ASan would
 * report an allocation of 2^31+ bytes; the loops would take minutes). */
static void
test_pki_jks__huge_fields(void **state)
{
    struct certo_keystore *ks = certo_keystore_new(CERTO_KS_JKS);
    struct certo_buf b;
    (void)state;

    add_key(ks, "k", "leaf-ec256.key", "leaf-ec256.crt", "int.crt", 1);
    write_ks(&b, ks, PASS);
    /* 0 magic, 4 version, 8 count, 12 tag, 16 alias length, 18 'k', 19 time, 27 EPKI
     * length, 31 EPKI, then chain count, type, certificate length. */
    size_t elen = get_be32(b.data + 27);
    size_t chain = 31 + elen, cert_len = chain + 4 + 7;
    static const uint32_t huge[] = {0x7fffffff, 0x80000000, 0xffffffff, 0x10000, 10001};
    for (size_t i = 0; i < CERTO_ARRAY_LEN(huge); i++) {
        assert_int_equal(parse_patched32(&b, 8, huge[i]), CERTO_EPARSE);
        assert_int_equal(parse_patched32(&b, 27, huge[i]), CERTO_EPARSE);
        assert_int_equal(parse_patched32(&b, chain, huge[i]), CERTO_EPARSE);
        assert_int_equal(parse_patched32(&b, cert_len, huge[i]), CERTO_EPARSE);
    }
    /* The alias length field (16 bits) at its maximum. */
    unsigned char *m = certo_malloc(b.len);
    memcpy(m, b.data, b.len);
    m[16] = 0xff;
    m[17] = 0xff;
    fix_digest(m, b.len, PASS);
    assert_int_equal(parse(NULL, m, b.len, PASS, NULL), CERTO_EPARSE);
    certo_free(m);
    /* More chain certificates than we keep, in a file that could hold that many. */
    assert_int_equal(parse_patched32(&b, chain, CERTO_CHAIN_MAX + 1), CERTO_ETOOBIG);
    certo_keystore_free(ks);
    certo_buf_dispose(&b);
}

static void
test_pki_jks__unknown_tag(void **state)
{
    struct certo_keystore *ks = make_small_ks();
    struct certo_buf b;
    (void)state;

    write_ks(&b, ks, PASS);
    static const uint32_t tags[] = {0, 3, 4, 0x01000001, 0xffffffff};
    for (size_t i = 0; i < CERTO_ARRAY_LEN(tags); i++)
        assert_int_equal(parse_patched32(&b, 12, tags[i]), CERTO_EPARSE);
    certo_keystore_free(ks);
    certo_buf_dispose(&b);
}

/* Builds a file of 'n' copies of the single entry of 'one' (a written one-entry file). */
static void
repeat_entry(struct certo_buf *out, const struct certo_buf *one, uint32_t n)
{
    size_t elen = one->len - 12 - 20;
    certo_buf_init(out, CERTO_JKS_MAX);
    assert_int_equal(certo_buf_append(out, one->data, 8), CERTO_OK);
    assert_int_equal(certo_buf_put_u32be(out, n), CERTO_OK);
    for (uint32_t i = 0; i < n; i++)
        assert_int_equal(certo_buf_append(out, one->data + 12, elen), CERTO_OK);
    assert_int_equal(certo_buf_append(out, one->data + one->len - 20, 20), CERTO_OK);
    fix_digest(out->data, out->len, PASS);
}

static void
test_pki_jks__duplicate_alias(void **state)
{
    struct certo_keystore *ks = certo_keystore_new(CERTO_KS_JKS);
    struct certo_buf one, two;
    struct certo_err err = {0};
    (void)state;

    add_trusted(ks, "dup", "ca.crt", 1);
    write_ks(&one, ks, PASS);
    repeat_entry(&two, &one, 2);
    assert_int_equal(parse(NULL, two.data, two.len, PASS, &err), CERTO_EPARSE);
    assert_non_null(strstr(err.msg, "dup"));

    /* Java looks aliases up case-insensitively: "DUP" and "dup" are the same entry. */
    size_t second_alias = 12 + (one.len - 32) + 4 + 2;
    memcpy(two.data + second_alias, "DUP", 3);
    fix_digest(two.data, two.len, PASS);
    assert_int_equal(parse(NULL, two.data, two.len, PASS, NULL), CERTO_EPARSE);
    /* Sanity: a different alias is fine. */
    memcpy(two.data + second_alias, "dup", 3);
    two.data[second_alias + 2] = 'x';
    fix_digest(two.data, two.len, PASS);
    assert_int_equal(parse(NULL, two.data, two.len, PASS, NULL), CERTO_OK);

    certo_buf_dispose(&two);
    certo_buf_dispose(&one);
    certo_keystore_free(ks);
}

static void
test_pki_jks__upper_case_alias_refused(void **state)
{
    struct certo_keystore *ks = certo_keystore_new(CERTO_KS_JKS);
    STACK_OF(X509) *c = t_fixture_certs("ca.crt");
    struct certo_secret *pw = t_secret(PASS);
    struct certo_buf b;
    struct certo_err err = {0};
    (void)state;

    /* add_take keeps aliases as given, the way a reader of another format would. */
    assert_int_equal(certo_keystore_add_take(ks, CERTO_KS_ENTRY_TRUSTED, "MyCA", 1, NULL, c, NULL),
                     CERTO_OK);
    certo_buf_init(&b, CERTO_JKS_MAX);
    assert_int_equal(certo_jks_write(&b, ks, pw, &err), CERTO_EINVAL);
    assert_non_null(strstr(err.msg, "MyCA"));
    assert_int_equal(b.len, 0);
    certo_buf_dispose(&b);
    certo_secret_free(pw);
    certo_keystore_free(ks);
}

static void
test_pki_jks__non_ascii_alias(void **state)
{
    struct certo_keystore *ks = certo_keystore_new(CERTO_KS_JKS), *back = NULL;
    struct certo_buf b;
    (void)state;

    add_trusted(ks, cafe, "ca.crt", 1);
    write_ks(&b, ks, PASS);
    /* header 12, tag 4, then the length-prefixed modified UTF-8 alias. */
    assert_int_equal(get_be16(b.data + 16), sizeof(cafe_mutf8));
    assert_memory_equal(b.data + 18, cafe_mutf8, sizeof(cafe_mutf8));
    assert_int_equal(parse(&back, b.data, b.len, PASS, NULL), CERTO_OK);
    assert_string_equal(back->entries[0].alias, cafe);
    certo_keystore_free(back);
    certo_keystore_free(ks);
    certo_buf_dispose(&b);
}

static void
test_pki_jks__nul_in_alias(void **state)
{
    struct certo_keystore *ks = certo_keystore_new(CERTO_KS_JKS);
    struct certo_buf b;
    (void)state;

    add_trusted(ks, "abc", "ca.crt", 1);
    write_ks(&b, ks, PASS);
    /* "abc" -> "a" C0 80: the same length, valid modified UTF-8 for "a\0". */
    b.data[19] = 0xc0;
    b.data[20] = 0x80;
    fix_digest(b.data, b.len, PASS);
    assert_int_equal(parse(NULL, b.data, b.len, PASS, NULL), CERTO_EUNSUPPORTED);
    /* A raw zero byte is not modified UTF-8 at all. */
    b.data[19] = 0x00;
    b.data[20] = 'c';
    fix_digest(b.data, b.len, PASS);
    assert_int_equal(parse(NULL, b.data, b.len, PASS, NULL), CERTO_EPARSE);
    /* A terminal escape or a newline in an alias would forge output lines: refused. */
    b.data[19] = 0x1b;
    b.data[20] = '[';
    fix_digest(b.data, b.len, PASS);
    assert_int_equal(parse(NULL, b.data, b.len, PASS, NULL), CERTO_EPARSE);
    b.data[19] = 'a';
    b.data[20] = '\n';
    fix_digest(b.data, b.len, PASS);
    assert_int_equal(parse(NULL, b.data, b.len, PASS, NULL), CERTO_EPARSE);
    certo_keystore_free(ks);
    certo_buf_dispose(&b);
}

static void
test_pki_jks__mutf8_encode(void **state)
{
    struct certo_buf b;
    (void)state;

    certo_buf_init(&b, 1 << 20);
    assert_int_equal(certo_jks_mutf8_encode(&b, cafe, strlen(cafe)), CERTO_OK);
    assert_int_equal(b.len, sizeof(cafe_mutf8));
    assert_memory_equal(b.data, cafe_mutf8, sizeof(cafe_mutf8));

    certo_buf_reset(&b);
    assert_int_equal(certo_jks_mutf8_encode(&b, "a\0b", 3), CERTO_OK);
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.data,
                        "a\xc0\x80"
                        "b",
                        4);

    /* U+07FF, U+0800, U+FFFF, U+10000, U+10FFFF. */
    certo_buf_reset(&b);
    static const char edge[] = "\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf";
    static const unsigned char edge_m[] = {0xdf, 0xbf, 0xe0, 0xa0, 0x80, 0xef, 0xbf,
                                           0xbf, 0xed, 0xa0, 0x80, 0xed, 0xb0, 0x80,
                                           0xed, 0xaf, 0xbf, 0xed, 0xbf, 0xbf};
    assert_int_equal(certo_jks_mutf8_encode(&b, edge, strlen(edge)), CERTO_OK);
    assert_int_equal(b.len, sizeof(edge_m));
    assert_memory_equal(b.data, edge_m, sizeof(edge_m));

    certo_buf_reset(&b);
    assert_int_equal(certo_jks_mutf8_encode(&b, "", 0), CERTO_OK);
    assert_int_equal(b.len, 0);

    /* Invalid UTF-8 in: overlong, surrogate, beyond U+10FFFF, truncated, stray byte. */
    static const char *bad[] = {"\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                                "\xe2\x82", "\x80",         "\xff"};
    certo_buf_reset(&b);
    assert_int_equal(certo_buf_append(&b, "x", 1), CERTO_OK);
    for (size_t i = 0; i < CERTO_ARRAY_LEN(bad); i++) {
        assert_int_equal(certo_jks_mutf8_encode(&b, bad[i], strlen(bad[i])), CERTO_EINVAL);
        assert_int_equal(b.len, 1); /* nothing appended */
    }

    /* The 65535-byte limit of writeUTF, counted in encoded bytes. */
    char *big = certo_malloc(65536);
    memset(big, 'a', 65536);
    certo_buf_reset(&b);
    assert_int_equal(certo_jks_mutf8_encode(&b, big, 65535), CERTO_OK);
    assert_int_equal(b.len, 65535);
    certo_buf_reset(&b);
    assert_int_equal(certo_jks_mutf8_encode(&b, big, 65536), CERTO_ETOOBIG);
    memset(big, 0, 32768); /* each NUL takes two bytes */
    certo_buf_reset(&b);
    assert_int_equal(certo_jks_mutf8_encode(&b, big, 32768), CERTO_ETOOBIG);
    certo_free(big);
    certo_buf_dispose(&b);
}

static void
test_pki_jks__mutf8_decode(void **state)
{
    struct certo_buf b;
    (void)state;

    certo_buf_init(&b, 1 << 20);
    assert_int_equal(certo_jks_mutf8_decode(&b, cafe_mutf8, sizeof(cafe_mutf8)), CERTO_OK);
    assert_string_equal((char *)b.data, cafe);
    assert_int_equal(b.len, strlen(cafe));

    certo_buf_reset(&b);
    assert_int_equal(certo_jks_mutf8_decode(&b, (const unsigned char *)"a\xc0\x80z", 4), CERTO_OK);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "a\0z", 3);

    certo_buf_dispose(&b);
    certo_buf_init(&b, 16);
    assert_int_equal(certo_jks_mutf8_decode(&b, NULL, 0), CERTO_OK);
    assert_non_null(b.data);
    assert_string_equal((char *)b.data, "");

    static const struct {
        const char *s;
        size_t n;
    } bad[] = {
        {"\x00", 1},         /* raw zero byte */
        {"\xed\xa0\xbd", 3}, /* lone high surrogate at the end */
        {"\xed\xa0\xbd"
         "a",
         4},                             /* high surrogate then a letter */
        {"\xed\xb8\x80", 3},             /* lone low surrogate */
        {"\xed\xa0\xbd\xed\xa0\xbd", 6}, /* two high surrogates */
        {"\xf0\x9f\x98\x80", 4},         /* standard 4-byte UTF-8 */
        {"\xc1\x81", 2},                 /* overlong 'A' */
        {"\xe0\x81\x81", 3},             /* overlong, 3 bytes */
        {"\xe2\x82", 2},                 /* truncated */
        {"\xc3", 1},                     /* truncated */
        {"\x80", 1},                     /* stray continuation byte */
        {"\xc3\x28", 2},                 /* bad continuation byte */
        {"\xff", 1},
    };
    certo_buf_reset(&b);
    assert_int_equal(certo_buf_append(&b, "x", 1), CERTO_OK);
    for (size_t i = 0; i < CERTO_ARRAY_LEN(bad); i++) {
        certo_rc rc = certo_jks_mutf8_decode(&b, (const unsigned char *)bad[i].s, bad[i].n);
        if (rc != CERTO_EPARSE)
            fail_msg("case %zu decoded (%s)", i, certo_rc_name(rc));
        assert_int_equal(b.len, 1);
        assert_string_equal((char *)b.data, "x");
    }
    certo_buf_dispose(&b);
}

/* A whole-UTF-16 round trip over every BMP code unit except surrogates, and a sample of
 * supplementary characters. */
static void
test_pki_jks__mutf8_round_trip(void **state)
{
    struct certo_buf m, back;
    (void)state;

    certo_buf_init(&m, 1 << 20);
    certo_buf_init(&back, 1 << 20);
    for (uint32_t cp = 0; cp < 0x110000; cp += cp < 0x10000 ? 1 : 0x3ff) {
        if (cp >= 0xd800 && cp <= 0xdfff)
            continue;
        unsigned char enc[4];
        size_t n;
        if (cp < 0x80) {
            enc[0] = (unsigned char)cp;
            n = 1;
        } else if (cp < 0x800) {
            enc[0] = (unsigned char)(0xc0 | (cp >> 6));
            enc[1] = (unsigned char)(0x80 | (cp & 0x3f));
            n = 2;
        } else if (cp < 0x10000) {
            enc[0] = (unsigned char)(0xe0 | (cp >> 12));
            enc[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
            enc[2] = (unsigned char)(0x80 | (cp & 0x3f));
            n = 3;
        } else {
            enc[0] = (unsigned char)(0xf0 | (cp >> 18));
            enc[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
            enc[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
            enc[3] = (unsigned char)(0x80 | (cp & 0x3f));
            n = 4;
        }
        certo_buf_reset(&m);
        certo_buf_reset(&back);
        assert_int_equal(certo_jks_mutf8_encode(&m, (const char *)enc, n), CERTO_OK);
        assert_null(memchr(m.data, 0, m.len));
        assert_int_equal(certo_jks_mutf8_decode(&back, m.data, m.len), CERTO_OK);
        assert_int_equal(back.len, n);
        assert_memory_equal(back.data, enc, n);
    }
    certo_buf_dispose(&m);
    certo_buf_dispose(&back);
}

/* Rewrites a version 2 image as version 1: the same, minus every certificate type string
 * (REFERENCE.md 1.9), and with the digest recomputed. */
static void
to_version1(struct certo_buf *out, const struct certo_buf *v2)
{
    const unsigned char *p = v2->data + 12;
    uint32_t count = get_be32(v2->data + 8);

    certo_buf_init(out, CERTO_JKS_MAX);
    assert_int_equal(certo_buf_append(out, v2->data, 12), CERTO_OK);
    put_be32(out->data + 4, 1);
    for (uint32_t i = 0; i < count; i++) {
        uint32_t tag = get_be32(p);
        size_t head = 4 + 2 + get_be16(p + 4) + 8;
        uint32_t ncerts = 1;
        if (tag == 1) {
            head += 4 + get_be32(p + head);
            ncerts = get_be32(p + head);
            head += 4;
        }
        assert_int_equal(certo_buf_append(out, p, head), CERTO_OK);
        p += head;
        for (uint32_t j = 0; j < ncerts; j++) {
            assert_int_equal(get_be16(p), 5);
            p += 2 + 5;
            size_t clen = 4 + get_be32(p);
            assert_int_equal(certo_buf_append(out, p, clen), CERTO_OK);
            p += clen;
        }
    }
    assert_int_equal(p + 20, v2->data + v2->len);
    assert_int_equal(certo_buf_append(out, p, 20), CERTO_OK);
    fix_digest(out->data, out->len, PASS);
}

static void
test_pki_jks__version1(void **state)
{
    struct certo_keystore *ks = make_full_ks(), *back = NULL;
    struct certo_buf v2, v1;
    struct certo_err err = {0};
    (void)state;

    write_ks(&v2, ks, PASS);
    to_version1(&v1, &v2);
    assert_int_equal(v1.len, v2.len - 8 * 7); /* 8 certificates, "\0\5X.509" each */
    certo_rc rc = parse(&back, v1.data, v1.len, PASS, &err);
    if (rc != CERTO_OK)
        fail_msg("%s: %s", certo_rc_name(rc), err.msg);
    assert_same_ks(ks, back);
    certo_keystore_free(back);

    /* A version 1 file is never read as version 2 or the other way round. */
    put_be32(v1.data + 4, 2);
    fix_digest(v1.data, v1.len, PASS);
    assert_int_not_equal(parse(NULL, v1.data, v1.len, PASS, NULL), CERTO_OK);
    put_be32(v2.data + 4, 1);
    fix_digest(v2.data, v2.len, PASS);
    assert_int_not_equal(parse(NULL, v2.data, v2.len, PASS, NULL), CERTO_OK);

    certo_buf_dispose(&v1);
    certo_buf_dispose(&v2);
    certo_keystore_free(ks);
}

/* A keystore that is not empty keeps its entries when a parse into it fails. */
static void
test_pki_jks__failed_parse_keeps_keystore(void **state)
{
    struct certo_keystore *src = make_small_ks();
    struct certo_keystore *ks = certo_keystore_new(CERTO_KS_JKS);
    struct certo_secret *pw = t_secret(PASS);
    struct certo_buf b;
    (void)state;

    add_trusted(ks, "other", "int.crt", 1);
    write_ks(&b, src, PASS);
    /* Spoil the last certificate type (that of the trusted CA), after the key entry. */
    size_t at = b.len - 7;
    while (at > 0 && memcmp(b.data + at, "\0\5X.509", 7) != 0)
        at--;
    assert_true(at > 12);
    b.data[at + 6] = '8';
    fix_digest(b.data, b.len, PASS);
    assert_int_not_equal(certo_jks_parse(ks, b.data, b.len, pw, NULL), CERTO_OK);
    assert_int_equal(ks->count, 1);
    assert_string_equal(ks->entries[0].alias, "other");
    certo_buf_dispose(&b);
    certo_secret_free(pw);
    certo_keystore_free(ks);
    certo_keystore_free(src);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pki_jks__read_keytool_fixture),
        cmocka_unit_test(test_pki_jks__round_trip),
        cmocka_unit_test(test_pki_jks__keystore_api),
        cmocka_unit_test(test_pki_jks__empty_keystore),
        cmocka_unit_test(test_pki_jks__wire_format),
        cmocka_unit_test(test_pki_jks__created_ms),
        cmocka_unit_test(test_pki_jks__wrong_password),
        cmocka_unit_test(test_pki_jks__non_ascii_password),
        cmocka_unit_test(test_pki_jks__invalid_utf8_password),
        cmocka_unit_test(test_pki_jks__wrong_key_password),
        cmocka_unit_test(test_pki_jks__truncation),
        cmocka_unit_test(test_pki_jks__trailing_bytes),
        cmocka_unit_test(test_pki_jks__bit_flips),
        cmocka_unit_test(test_pki_jks__bit_flips_fixed_digest),
        cmocka_unit_test(test_pki_jks__too_big),
        cmocka_unit_test(test_pki_jks__jceks),
        cmocka_unit_test(test_pki_jks__bad_version),
        cmocka_unit_test(test_pki_jks__huge_fields),
        cmocka_unit_test(test_pki_jks__unknown_tag),
        cmocka_unit_test(test_pki_jks__duplicate_alias),
        cmocka_unit_test(test_pki_jks__upper_case_alias_refused),
        cmocka_unit_test(test_pki_jks__non_ascii_alias),
        cmocka_unit_test(test_pki_jks__nul_in_alias),
        cmocka_unit_test(test_pki_jks__mutf8_encode),
        cmocka_unit_test(test_pki_jks__mutf8_decode),
        cmocka_unit_test(test_pki_jks__mutf8_round_trip),
        cmocka_unit_test(test_pki_jks__version1),
        cmocka_unit_test(test_pki_jks__failed_parse_keeps_keystore),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
