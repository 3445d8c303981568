/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of src/server/jwt.c: sign/parse/verify for the four algorithms, the strict
 * parser's refusals, algorithm confusion, ECDSA signature form, times, and known answers
 * from an independent signer (python3-cryptography) and from openssl for x5t#S256.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certo/jwt.h"
#include "testutil.h"

#define NOW 1750000000

/*
 * Signed with tests/fixtures/leaf-ec256.key and leaf-rsa2048.key by python3-cryptography
 * 38 (header {"alg":..,"typ":"JWT","kid":"kat"}, payload {"iss":"python-cryptography",
 * "sub":"kat","exp":4102444800,"iat":1700000000}); ES256 converted to r||s by the script.
 */
static const char kat_es256[] =
    "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImthdCJ9."
    "eyJpc3MiOiJweXRob24tY3J5cHRvZ3JhcGh5Iiwic3ViIjoia2F0IiwiZXhwIjo0MTAyNDQ0ODAwLCJpYXQiOjE3"
    "MDAwMDAwMDB9."
    "K9syi-0GeL7Z9uOo6SqgsvFDyi5GXEBXLewIUfu_-fuUOXraZjFjV1zVrs3JhkM7JjyBB6hZ2-eXqwTSZr49fA";
static const char kat_rs256[] =
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImthdCJ9."
    "eyJpc3MiOiJweXRob24tY3J5cHRvZ3JhcGh5Iiwic3ViIjoia2F0IiwiZXhwIjo0MTAyNDQ0ODAwLCJpYXQiOjE3"
    "MDAwMDAwMDB9."
    "ykBlAYT9vrAJ9in-woxaFv6xX0El8iFu1e7F9tqCId-MY0dPT7Yf9cGB7pjzUgL6idlRl26MQwCbIohBOxol7NU2"
    "0LYabmER7xDI3Rdg1LXr01RDbB1Ky0zS4ZBM5DuIIqrdeJlwVIGoNp-IhjuJepPTilyoQ2OWOWjRzR9HkrieCjRj"
    "f1wNWxiSFvBbavLC3vORYhwSygn3YsfRl6-KpgtmA7YQH-jNq7s_5qghitlQFXcmzukBfc_VT516a1rzEG4a-Shz"
    "6qol-zHVyROarK1YGm32jdMUB5b2vJQaKWr-ItR0wmjJ3sE5qbDSqSYIANxLpbuBjizhgY06ruzLXw";
/*
 * openssl x509 -in tests/fixtures/leaf-ec256.crt -outform DER | openssl dgst -sha256 -binary
 *   | base64 | tr '+/' '-_' | tr -d '='
 */
static const char kat_x5t_leaf_ec256[] = "KagAbJVscJm0x2G2bEoR500fOpxF8GeLea170mT612g";

enum { N_TYPES = 4 };
static const struct certo_key_spec specs[N_TYPES] = {
    {CERTO_KEY_EC, 256},
    {CERTO_KEY_EC, 384},
    {CERTO_KEY_RSA, 2048},
    {CERTO_KEY_ED25519, 256},
};
static const enum certo_jwt_alg spec_algs[N_TYPES] = {CERTO_JWT_ES256, CERTO_JWT_ES384,
                                                      CERTO_JWT_RS256, CERTO_JWT_EDDSA};

/* Two independent keys of each type. */
static EVP_PKEY *keys[2][N_TYPES];

static int
group_setup(void **state)
{
    struct certo_err err = {0};

    (void)state;
    for (int set = 0; set < 2; set++) {
        for (int i = 0; i < N_TYPES; i++)
            assert_int_equal(certo_key_generate(&keys[set][i], &specs[i], &err), CERTO_OK);
    }
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    for (int set = 0; set < 2; set++) {
        for (int i = 0; i < N_TYPES; i++)
            EVP_PKEY_free(keys[set][i]);
    }
    return 0;
}

/* No 12-character run of 'token' may appear in an error message. */
static void
assert_msg_quotes_nothing(const struct certo_err *err, const char *token)
{
    size_t n = strlen(token);
    char run[13];

    for (size_t i = 0; i + 12 <= n; i++) {
        memcpy(run, token + i, 12);
        run[12] = '\0';
        assert_null(strstr(err->msg, run));
    }
}

/* Parses 'token' expecting a refusal with 'rc' whose message holds 'needle' (or NULL). */
static void
assert_parse_refused(const char *token, size_t max_len, const char *needle)
{
    struct certo_jwt jwt;
    struct certo_err err = {0};

    assert_int_equal(certo_jwt_parse(&jwt, token, max_len, &err), CERTO_EINVAL);
    assert_null(jwt.header);
    assert_null(jwt.claims);
    assert_null(jwt.sig);
    if (needle != NULL && strstr(err.msg, needle) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", err.msg, needle);
    assert_msg_quotes_nothing(&err, token);
}

/* A token from raw header and payload JSON and raw signature bytes (all encoded here). */
static char *
craft(const char *header, const char *payload, const void *sig, size_t sig_len)
{
    struct certo_buf b;

    certo_buf_init(&b, 1 << 20);
    assert_int_equal(certo_b64url_encode(&b, header, strlen(header), NULL), CERTO_OK);
    assert_int_equal(certo_buf_append(&b, ".", 1), CERTO_OK);
    assert_int_equal(certo_b64url_encode(&b, payload, strlen(payload), NULL), CERTO_OK);
    assert_int_equal(certo_buf_append(&b, ".", 1), CERTO_OK);
    assert_int_equal(certo_b64url_encode(&b, sig, sig_len, NULL), CERTO_OK);
    return (char *)certo_buf_detach(&b, NULL);
}

static char *
sign_claims(EVP_PKEY *key, X509 *cert, json_t *claims)
{
    struct certo_err err = {0};
    char *tok = NULL;

    assert_int_equal(certo_jwt_sign(&tok, key, cert, claims, &err), CERTO_OK);
    assert_non_null(tok);
    json_decref(claims);
    return tok;
}

static char *
sign_default(EVP_PKEY *key)
{
    return sign_claims(key, NULL,
                       json_pack("{s:s, s:I, s:I}", "sub", "alice", "exp", (json_int_t)NOW + 300,
                                 "iat", (json_int_t)NOW));
}

/* Parse + verify + times; returns the first failing code. */
static certo_rc
accept_token(const char *token, EVP_PKEY *key, struct certo_err *err)
{
    struct certo_jwt jwt;
    certo_rc rc = certo_jwt_parse(&jwt, token, 0, err);

    if (rc == CERTO_OK)
        rc = certo_jwt_verify(&jwt, key, err);
    if (rc == CERTO_OK)
        rc = certo_jwt_check_times(&jwt, NOW, 0, err);
    certo_jwt_dispose(&jwt);
    return rc;
}

static void
test_server_jwt__round_trip_each_key_type(void **state)
{
    (void)state;
    for (int i = 0; i < N_TYPES; i++) {
        struct certo_err err = {0};
        struct certo_jwt jwt;
        enum certo_jwt_alg alg;
        char *tok = sign_default(keys[0][i]);

        assert_int_equal(certo_jwt_key_alg(&alg, keys[0][i], &err), CERTO_OK);
        assert_int_equal(alg, spec_algs[i]);
        assert_int_equal(certo_jwt_parse(&jwt, tok, 0, &err), CERTO_OK);
        assert_int_equal(jwt.alg, spec_algs[i]);
        assert_string_equal(json_string_value(json_object_get(jwt.header, "alg")),
                            certo_jwt_alg_name(spec_algs[i]));
        assert_string_equal(json_string_value(json_object_get(jwt.header, "typ")), "JWT");
        assert_null(jwt.x5t_s256);
        assert_string_equal(json_string_value(json_object_get(jwt.claims, "sub")), "alice");
        assert_int_equal(jwt.signing_input_len, strrchr(tok, '.') - tok);
        assert_memory_equal(jwt.signing_input, tok, jwt.signing_input_len);
        if (spec_algs[i] == CERTO_JWT_ES256)
            assert_int_equal(jwt.sig_len, 64);
        if (spec_algs[i] == CERTO_JWT_ES384)
            assert_int_equal(jwt.sig_len, 96);
        assert_int_equal(certo_jwt_verify(&jwt, keys[0][i], &err), CERTO_OK);
        assert_int_equal(certo_jwt_check_times(&jwt, NOW, 0, &err), CERTO_OK);
        certo_jwt_dispose(&jwt);
        certo_jwt_dispose(&jwt); /* a disposed token is zeroed: twice is fine */
        certo_free(tok);
    }
}

static void
test_server_jwt__x5t_matches_openssl_and_the_header(void **state)
{
    STACK_OF(X509) *certs = t_fixture_certs("leaf-ec256.crt");
    EVP_PKEY *key = t_fixture_key("leaf-ec256.key");
    X509 *cert = sk_X509_value(certs, 0);
    struct certo_err err = {0};
    struct certo_jwt jwt;
    char x5t[CERTO_JWT_X5T_LEN + 1];
    char *tok;

    (void)state;
    assert_int_equal(certo_jwt_x5t_s256(x5t, cert, &err), CERTO_OK);
    assert_string_equal(x5t, kat_x5t_leaf_ec256);
    tok = sign_claims(key, cert, json_pack("{s:I}", "exp", (json_int_t)NOW + 60));
    assert_int_equal(certo_jwt_parse(&jwt, tok, 0, &err), CERTO_OK);
    assert_non_null(jwt.x5t_s256);
    assert_string_equal(jwt.x5t_s256, kat_x5t_leaf_ec256);
    assert_int_equal(certo_jwt_verify(&jwt, X509_get0_pubkey(cert), &err), CERTO_OK);
    certo_jwt_dispose(&jwt);
    certo_free(tok);
    EVP_PKEY_free(key);
    certo_certs_free(certs);
}

/* Flips 'bit' of decoded byte 'pos' of segment 'seg' (0..2) and re-encodes the token. */
static char *
flip_decoded(const char *tok, int seg, size_t pos, int bit)
{
    const char *start = tok, *end;
    struct certo_buf raw, b;
    char *s;

    for (int i = 0; i < seg; i++)
        start = strchr(start, '.') + 1;
    end = strchr(start, '.');
    if (end == NULL)
        end = start + strlen(start);
    certo_buf_init(&raw, 1 << 20);
    assert_int_equal(certo_b64url_decode(&raw, start, (size_t)(end - start), NULL), CERTO_OK);
    raw.data[pos % raw.len] ^= (unsigned char)(1u << bit);
    certo_buf_init(&b, 1 << 20);
    assert_int_equal(certo_buf_append(&b, tok, (size_t)(start - tok)), CERTO_OK);
    assert_int_equal(certo_b64url_encode(&b, raw.data, raw.len, NULL), CERTO_OK);
    assert_int_equal(certo_buf_append_str(&b, end), CERTO_OK);
    certo_buf_dispose(&raw);
    s = (char *)certo_buf_detach(&b, NULL);
    return s;
}

static void
test_server_jwt__flipped_bits_never_verify(void **state)
{
    (void)state;
    for (int i = 0; i < N_TYPES; i++) {
        char *tok = sign_default(keys[0][i]);
        size_t n = strlen(tok);

        /* Every character of the token with its low bit flipped. */
        for (size_t c = 0; c < n; c++) {
            struct certo_err err = {0};
            tok[c] ^= 1;
            assert_int_not_equal(accept_token(tok, keys[0][i], &err), CERTO_OK);
            assert_msg_quotes_nothing(&err, tok);
            tok[c] ^= 1;
        }
        /* Every bit of the first, a middle and the last decoded byte of each segment. */
        for (int seg = 0; seg < 3; seg++) {
            for (size_t pos = 0; pos < 3; pos++) {
                for (int bit = 0; bit < 8; bit++) {
                    struct certo_err err = {0};
                    size_t at = pos == 0 ? 0 : pos == 1 ? 17 : (size_t)-1;
                    char *bad = flip_decoded(tok, seg, at, bit);
                    certo_rc rc = accept_token(bad, keys[0][i], &err);
                    assert_true(rc == CERTO_EINVAL || rc == CERTO_EAUTH);
                    if (seg == 2)
                        assert_int_equal(rc, CERTO_EAUTH);
                    certo_free(bad);
                }
            }
        }
        {
            struct certo_err err = {0};
            assert_int_equal(accept_token(tok, keys[0][i], &err), CERTO_OK);
        }
        certo_free(tok);
    }
}

static void
test_server_jwt__other_key_of_the_same_type_is_eauth(void **state)
{
    (void)state;
    for (int i = 0; i < N_TYPES; i++) {
        struct certo_err err = {0};
        char *tok = sign_default(keys[0][i]);

        assert_int_equal(accept_token(tok, keys[1][i], &err), CERTO_EAUTH);
        assert_string_equal(err.msg, "the token's signature does not verify");
        certo_free(tok);
    }
}

static void
test_server_jwt__refused_algorithms_and_headers(void **state)
{
    const char *payload = "{\"sub\":\"x\",\"exp\":4102444800}";
    static const struct {
        const char *header;
        const char *needle;
    } cases[] = {
        {"{\"alg\":\"none\"}", "\"none\""},
        {"{\"alg\":\"none\",\"typ\":\"JWT\"}", "\"none\""},
        {"{\"alg\":\"NONE\"}", "\"none\""},
        {"{\"alg\":\"HS256\",\"typ\":\"JWT\"}", "HMAC"},
        {"{\"alg\":\"HS512\"}", "HMAC"},
        {"{\"alg\":\"PS256\"}", "not supported"},
        {"{\"alg\":\"ES512\"}", "not supported"},
        {"{\"alg\":\"es256\"}", "not supported"},
        {"{\"alg\":\"Ed25519\"}", "not supported"},
        {"{\"alg\":\"\"}", "not supported"},
        {"{\"alg\":256}", "\"alg\""},
        {"{\"typ\":\"JWT\"}", "\"alg\""},
        {"{\"alg\":\"ES256\",\"crit\":[\"exp\"]}", "crit"},
        {"{\"alg\":\"ES256\",\"crit\":[]}", "crit"},
        {"{\"alg\":\"ES256\",\"typ\":\"JOSE\"}", "typ"},
        {"{\"alg\":\"ES256\",\"typ\":7}", "typ"},
        {"{\"alg\":\"ES256\",\"x5t#S256\":\"short\"}", "x5t#S256"},
        {"{\"alg\":\"ES256\",\"x5t#S256\":\"KagAbJVscJm0x2G2bEoR500fOpxF8GeLea170mT612h\"}",
         "x5t#S256"},
        {"{\"alg\":\"ES256\",\"alg\":\"ES256\"}", "duplicate"},
        {"[\"alg\",\"ES256\"]", "not a JSON object"},
        {"{\"alg\":\"ES256\"", "not valid JSON"},
    };
    unsigned char sig[64] = {1};

    (void)state;
    for (size_t i = 0; i < CERTO_ARRAY_LEN(cases); i++) {
        char *tok = craft(cases[i].header, payload, sig, sizeof(sig));
        assert_parse_refused(tok, 0, cases[i].needle);
        certo_free(tok);
    }
}

static void
test_server_jwt__typ_variants_are_accepted(void **state)
{
    const char *headers[] = {"{\"alg\":\"ES256\",\"typ\":\"jwt\"}",
                             "{\"alg\":\"ES256\",\"typ\":\"at+jwt\"}",
                             "{\"alg\":\"ES256\",\"typ\":\"AT+JWT\"}", "{\"alg\":\"ES256\"}"};
    unsigned char sig[64] = {1};

    (void)state;
    for (size_t i = 0; i < CERTO_ARRAY_LEN(headers); i++) {
        struct certo_err err = {0};
        struct certo_jwt jwt;
        char *tok = craft(headers[i], "{}", sig, sizeof(sig));

        assert_int_equal(certo_jwt_parse(&jwt, tok, 0, &err), CERTO_OK);
        assert_int_equal(jwt.alg, CERTO_JWT_ES256);
        /* parsed is not verified: this signature is garbage */
        assert_int_equal(certo_jwt_verify(&jwt, keys[0][0], &err), CERTO_EAUTH);
        certo_jwt_dispose(&jwt);
        certo_free(tok);
    }
}

static void
test_server_jwt__malformed_compact_form(void **state)
{
    char *tok = sign_default(keys[0][0]);
    size_t n = strlen(tok);
    char *buf = certo_malloc(n + 64);
    char *dot1 = strchr(tok, '.'), *dot2 = strrchr(tok, '.');
    char big[CERTO_JWT_MAX + 2];

    (void)state;
    /* padding */
    snprintf(buf, n + 64, "%s=", tok);
    assert_parse_refused(buf, 0, "outside base64url");
    snprintf(buf, n + 64, "%.*s=.%s", (int)(dot1 - tok), tok, dot1 + 1);
    assert_parse_refused(buf, 0, "outside base64url");
    /* whitespace */
    snprintf(buf, n + 64, " %s", tok);
    assert_parse_refused(buf, 0, "whitespace");
    snprintf(buf, n + 64, "%s\n", tok);
    assert_parse_refused(buf, 0, "whitespace");
    snprintf(buf, n + 64, "%.*s .%s", (int)(dot1 - tok), tok, dot1 + 1);
    assert_parse_refused(buf, 0, "whitespace");
    /* standard base64 characters */
    snprintf(buf, n + 64, "%s", tok);
    buf[n - 1] = '+';
    assert_parse_refused(buf, 0, "outside base64url");
    /* four, two, one segments */
    snprintf(buf, n + 64, "%s.AAAA", tok);
    assert_parse_refused(buf, 0, "4 segments");
    snprintf(buf, n + 64, "%.*s", (int)(dot2 - tok), tok);
    assert_parse_refused(buf, 0, "2 segments");
    assert_parse_refused("abc", 0, "1 segments");
    /* empty segments */
    snprintf(buf, n + 64, "%s.", tok);
    buf[dot2 - tok + 1] = '\0';
    assert_parse_refused(buf, 0, "empty segment");
    snprintf(buf, n + 64, "%.*s..%s", (int)(dot1 - tok), tok, dot2 + 1);
    assert_parse_refused(buf, 0, "empty segment");
    snprintf(buf, n + 64, "%s", dot1);
    assert_parse_refused(buf, 0, "empty segment");
    assert_parse_refused("..", 0, "empty segment");
    assert_parse_refused("", 0, "1 segments");
    /* impossible length and non-canonical trailing bits in the signature */
    snprintf(buf, n + 64, "%sAAA", tok);
    assert_parse_refused(buf, 0, "signature is not canonical");
    snprintf(buf, n + 64, "%.*s.AB", (int)(dot2 - tok), tok);
    assert_parse_refused(buf, 0, "signature is not canonical");
    /* too long: refused by length, even if the rest would be fine */
    assert_parse_refused(tok, n - 1, "longer than");
    {
        struct certo_jwt jwt;
        struct certo_err err = {0};
        assert_int_equal(certo_jwt_parse(&jwt, tok, n, &err), CERTO_OK);
        certo_jwt_dispose(&jwt);
    }
    memset(big, 'A', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_parse_refused(big, 0, "longer than 8192 bytes");
    certo_free(buf);
    certo_free(tok);
}

static void
test_server_jwt__algorithm_and_key_must_match(void **state)
{
    (void)state;
    for (int t = 0; t < N_TYPES; t++) {
        char *tok = sign_default(keys[0][t]);

        for (int k = 0; k < N_TYPES; k++) {
            struct certo_err err = {0};
            struct certo_jwt jwt;

            if (k == t)
                continue;
            assert_int_equal(certo_jwt_parse(&jwt, tok, 0, &err), CERTO_OK);
            assert_int_equal(certo_jwt_verify(&jwt, keys[0][k], &err), CERTO_EAUTH);
            assert_non_null(strstr(err.msg, "does not match"));
            certo_jwt_dispose(&jwt);
        }
        certo_free(tok);
    }
}

static void
test_server_jwt__unusable_keys_are_refused(void **state)
{
    EVP_PKEY *weak = t_fixture_key("weak-rsa1024.key");
    EVP_PKEY *p521 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
    json_t *claims = json_pack("{s:I}", "exp", (json_int_t)NOW + 60);
    json_t *array = json_pack("[i]", 1);
    struct certo_err err = {0};
    struct certo_jwt jwt;
    char *tok = NULL, *good = sign_default(keys[0][2]);

    (void)state;
    assert_non_null(p521);
    assert_int_equal(certo_jwt_sign(&tok, weak, NULL, claims, &err), CERTO_EUNSUPPORTED);
    assert_null(tok);
    err = (struct certo_err){0};
    assert_int_equal(certo_jwt_sign(&tok, p521, NULL, claims, &err), CERTO_EUNSUPPORTED);
    err = (struct certo_err){0};
    assert_int_equal(certo_jwt_sign(&tok, keys[0][0], NULL, array, &err), CERTO_EINVAL);
    assert_null(tok);
    /* a 1024-bit RSA key does not verify RS256 either */
    err = (struct certo_err){0};
    assert_int_equal(certo_jwt_parse(&jwt, good, 0, &err), CERTO_OK);
    assert_int_equal(certo_jwt_verify(&jwt, weak, &err), CERTO_EUNSUPPORTED);
    certo_jwt_dispose(&jwt);
    certo_free(good);
    json_decref(claims);
    json_decref(array);
    EVP_PKEY_free(weak);
    EVP_PKEY_free(p521);
}

/* The DER ECDSA signature OpenSSL makes, over the signing input of 'tok'. */
static void
der_signature(struct certo_buf *out, EVP_PKEY *key, const EVP_MD *md, const char *tok)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t input_len = (size_t)(strrchr(tok, '.') - tok);
    unsigned char sig[256];
    size_t sig_len = sizeof(sig);

    assert_int_equal(EVP_DigestSignInit(ctx, NULL, md, NULL, key), 1);
    assert_int_equal(EVP_DigestSign(ctx, sig, &sig_len, (const unsigned char *)tok, input_len), 1);
    assert_int_equal(certo_buf_append(out, sig, sig_len), CERTO_OK);
    EVP_MD_CTX_free(ctx);
}

static void
test_server_jwt__ecdsa_needs_fixed_size_r_s(void **state)
{
    (void)state;
    for (int i = 0; i < 2; i++) {
        char *tok = sign_default(keys[0][i]);
        size_t input_len = (size_t)(strrchr(tok, '.') - tok);
        struct certo_buf der, b;
        struct certo_jwt jwt;
        struct certo_err err = {0};
        char *bad;

        certo_buf_init(&der, 4096);
        der_signature(&der, keys[0][i], i == 0 ? EVP_sha256() : EVP_sha384(), tok);
        certo_buf_init(&b, 1 << 20);
        assert_int_equal(certo_buf_append(&b, tok, input_len + 1), CERTO_OK);
        assert_int_equal(certo_b64url_encode(&b, der.data, der.len, NULL), CERTO_OK);
        bad = (char *)certo_buf_detach(&b, NULL);
        assert_int_equal(certo_jwt_parse(&jwt, bad, 0, &err), CERTO_OK);
        assert_int_equal(certo_jwt_verify(&jwt, keys[0][i], &err), CERTO_EAUTH);
        assert_non_null(strstr(err.msg, "bytes"));
        certo_jwt_dispose(&jwt);
        certo_free(bad);
        certo_buf_dispose(&der);

        /* a valid r||s with one byte more or less */
        assert_int_equal(certo_jwt_parse(&jwt, tok, 0, &err), CERTO_OK);
        jwt.sig_len--;
        err = (struct certo_err){0};
        assert_int_equal(certo_jwt_verify(&jwt, keys[0][i], &err), CERTO_EAUTH);
        certo_jwt_dispose(&jwt);
        certo_free(tok);
    }
}

/* A token with 'claims' (a JSON text) signed by the P-256 key, parsed. */
static void
parse_claims(struct certo_jwt *jwt, const char *claims)
{
    json_error_t jerr;
    json_t *j = json_loads(claims, 0, &jerr);
    struct certo_err err = {0};
    char *tok;

    assert_non_null(j);
    tok = sign_claims(keys[0][0], NULL, j);
    assert_int_equal(certo_jwt_parse(jwt, tok, 0, &err), CERTO_OK);
    assert_int_equal(certo_jwt_verify(jwt, keys[0][0], &err), CERTO_OK);
    certo_free(tok);
}

static void
test_server_jwt__times(void **state)
{
    static const struct {
        const char *claims;
        int leeway;
        certo_rc rc;
        const char *msg;
    } cases[] = {
        {"{\"exp\":1750000300}", 0, CERTO_OK, NULL},
        {"{\"exp\":1750000000.5}", 0, CERTO_EAUTH, "token expired"}, /* rounded down */
        {"{\"exp\":1750000001.5}", 0, CERTO_OK, NULL},
        {"{\"exp\":1750000000}", 0, CERTO_EAUTH, "token expired"},
        {"{\"exp\":1749999990}", 0, CERTO_EAUTH, "token expired"},
        {"{\"exp\":1749999990}", 30, CERTO_OK, NULL},
        {"{\"exp\":1749999900}", 30, CERTO_EAUTH, "token expired"},
        {"{\"exp\":1750000300,\"nbf\":1750000100}", 0, CERTO_EAUTH, "not yet valid"},
        {"{\"exp\":1750000300,\"nbf\":1750000100}", 120, CERTO_OK, NULL},
        {"{\"exp\":1750000300,\"nbf\":1750000000}", 0, CERTO_OK, NULL},
        {"{\"exp\":1750000300,\"nbf\":1750000000.25}", 0, CERTO_EAUTH, "not yet valid"},
        {"{\"exp\":1750000300,\"iat\":1750000100}", 0, CERTO_EAUTH, "future"},
        {"{\"exp\":1750000300,\"iat\":1750000100}", 100, CERTO_OK, NULL},
        {"{\"exp\":\"1750000300\"}", 0, CERTO_EINVAL, "not a number"},
        {"{\"exp\":1750000300,\"nbf\":\"0\"}", 0, CERTO_EINVAL, "not a number"},
        {"{\"exp\":1750000300,\"iat\":null}", 0, CERTO_EINVAL, "not a number"},
        {"{\"exp\":true}", 0, CERTO_EINVAL, "not a number"},
        {"{\"exp\":[1750000300]}", 0, CERTO_EINVAL, "not a number"},
        {"{\"sub\":\"no exp\"}", 0, CERTO_EINVAL, "no exp"},
        {"{\"exp\":-1}", 0, CERTO_EINVAL, "out of range"},
        {"{\"exp\":1e300}", 0, CERTO_EINVAL, "out of range"},
        {"{\"exp\":9223372036854775807}", 0, CERTO_EINVAL, "out of range"},
        {"{\"exp\":1750000300,\"nbf\":-5e-324}", 0, CERTO_EINVAL, "out of range"},
    };

    (void)state;
    for (size_t i = 0; i < CERTO_ARRAY_LEN(cases); i++) {
        struct certo_jwt jwt;
        struct certo_err err = {0};

        parse_claims(&jwt, cases[i].claims);
        if (certo_jwt_check_times(&jwt, NOW, cases[i].leeway, &err) != cases[i].rc)
            fail_msg("case %zu (%s): got %s \"%s\"", i, cases[i].claims, certo_rc_name(err.rc),
                     err.msg);
        if (cases[i].msg != NULL)
            assert_non_null(strstr(err.msg, cases[i].msg));
        certo_jwt_dispose(&jwt);
    }
}

/* A token of an independent signer verified with the public key of the fixture certificate. */
static void
check_kat(const char *token, const char *cert_name, EVP_PKEY *other, enum certo_jwt_alg alg)
{
    STACK_OF(X509) *certs = t_fixture_certs(cert_name);
    struct certo_err err = {0};
    struct certo_jwt jwt;

    assert_int_equal(certo_jwt_parse(&jwt, token, 0, &err), CERTO_OK);
    assert_int_equal(jwt.alg, alg);
    assert_string_equal(json_string_value(json_object_get(jwt.header, "kid")), "kat");
    assert_string_equal(json_string_value(json_object_get(jwt.claims, "iss")),
                        "python-cryptography");
    assert_int_equal(certo_jwt_verify(&jwt, X509_get0_pubkey(sk_X509_value(certs, 0)), &err),
                     CERTO_OK);
    assert_int_equal(certo_jwt_check_times(&jwt, NOW, 0, &err), CERTO_OK);
    assert_int_equal(certo_jwt_verify(&jwt, other, &err), CERTO_EAUTH);
    assert_string_equal(err.msg, "the token's signature does not verify");
    certo_jwt_dispose(&jwt);
    certo_certs_free(certs);
}

static void
test_server_jwt__known_answer_es256(void **state)
{
    (void)state;
    check_kat(kat_es256, "leaf-ec256.crt", keys[0][0], CERTO_JWT_ES256);
}

static void
test_server_jwt__known_answer_rs256(void **state)
{
    (void)state;
    check_kat(kat_rs256, "leaf-rsa2048.crt", keys[0][2], CERTO_JWT_RS256);
}

static void
test_server_jwt__b64url_vectors(void **state)
{
    /* RFC 4648 §10, in the URL-safe alphabet without padding */
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const enc[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    static const char *const bad[] = {"Zh",     "Zm9",  "Z",    "Zg==",   "Zm 9v",
                                      "Zm9v\n", "Zm+v", "Zm/v", "Zm9vYmF"};
    static const unsigned char hi[] = {0xfb, 0xff, 0xbf};

    (void)state;
    for (size_t i = 0; i < CERTO_ARRAY_LEN(plain); i++) {
        struct certo_buf b;
        certo_buf_init(&b, 64);
        assert_int_equal(certo_b64url_encode(&b, plain[i], strlen(plain[i]), NULL), CERTO_OK);
        assert_int_equal(b.len, strlen(enc[i]));
        if (b.len > 0)
            assert_memory_equal(b.data, enc[i], b.len);
        certo_buf_dispose(&b);
        assert_int_equal(certo_b64url_decode(&b, enc[i], strlen(enc[i]), NULL), CERTO_OK);
        assert_int_equal(b.len, strlen(plain[i]));
        if (b.len > 0)
            assert_memory_equal(b.data, plain[i], b.len);
        certo_buf_dispose(&b);
    }
    for (size_t i = 0; i < CERTO_ARRAY_LEN(bad); i++) {
        struct certo_buf b;
        struct certo_err err = {0};
        certo_buf_init(&b, 64);
        assert_int_equal(certo_b64url_decode(&b, bad[i], strlen(bad[i]), &err), CERTO_EINVAL);
        certo_buf_dispose(&b);
    }
    {
        struct certo_buf b;
        certo_buf_init(&b, 64);
        assert_int_equal(certo_b64url_encode(&b, hi, sizeof(hi), NULL), CERTO_OK);
        assert_string_equal((const char *)b.data, "-_-_");
        certo_buf_dispose(&b);
        /* the ceiling holds on both sides */
        certo_buf_init(&b, 3);
        assert_int_equal(certo_b64url_encode(&b, "abcd", 4, NULL), CERTO_ETOOBIG);
        certo_buf_init(&b, 2);
        assert_int_equal(certo_b64url_decode(&b, "Zm9v", 4, NULL), CERTO_ETOOBIG);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_jwt__round_trip_each_key_type),
        cmocka_unit_test(test_server_jwt__x5t_matches_openssl_and_the_header),
        cmocka_unit_test(test_server_jwt__flipped_bits_never_verify),
        cmocka_unit_test(test_server_jwt__other_key_of_the_same_type_is_eauth),
        cmocka_unit_test(test_server_jwt__refused_algorithms_and_headers),
        cmocka_unit_test(test_server_jwt__typ_variants_are_accepted),
        cmocka_unit_test(test_server_jwt__malformed_compact_form),
        cmocka_unit_test(test_server_jwt__algorithm_and_key_must_match),
        cmocka_unit_test(test_server_jwt__unusable_keys_are_refused),
        cmocka_unit_test(test_server_jwt__ecdsa_needs_fixed_size_r_s),
        cmocka_unit_test(test_server_jwt__times),
        cmocka_unit_test(test_server_jwt__known_answer_es256),
        cmocka_unit_test(test_server_jwt__known_answer_rs256),
        cmocka_unit_test(test_server_jwt__b64url_vectors),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
