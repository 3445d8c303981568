/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of src/server/password.c: argon2id hash and verify, salts, rehash
 * decisions, refusal of stored encodings with absurd costs before any hashing, password
 * bounds, the generator, and a known answer from the reference argon2 command.
 */
#include <stdlib.h>
#include <string.h>

#include "certo/password.h"
#include "testutil.h"

#define KAT_PASSWORD "correct horse battery staple"
/*
 * echo -n 'correct horse battery staple' |
 *   argon2 certo-kat-salt16 -id -t 2 -k 19456 -p 1 -l 32 -e     (Debian argon2 0~20171227)
 */
static const char kat_current[] = "$argon2id$v=19$m=19456,t=2,p=1$Y2VydG8ta2F0LXNhbHQxNg$"
                                  "EkikQxAR71qNJt9rqRf/SdASeF+M4yeU/UaaSj6rDyI";
/* The same with -t 1 -k 4096: weaker than today's parameters. */
static const char kat_weak[] = "$argon2id$v=19$m=4096,t=1,p=1$Y2VydG8ta2F0LXNhbHQxNg$"
                               "ZqPS1qx/NHt2Eb5G7A1QfPKv27nFm04XDiCRE/jAQ6w";
/* The same with -i (argon2i): not the variant we accept. */
static const char kat_argon2i[] = "$argon2i$v=19$m=19456,t=2,p=1$Y2VydG8ta2F0LXNhbHQxNg$"
                                  "9j9nU42x0eThRMKM2t3EoZq5/WXhm2yAmAGzuixQtow";

static void
test_server_password__hash_and_verify(void **state)
{
    struct certo_secret *pw = t_secret("s3cret passphrase");
    struct certo_secret *wrong = t_secret("s3cret passphrasE");
    struct certo_secret *prefix = t_secret("s3cret passphras");
    struct certo_err err = {0};
    char *enc = NULL;

    (void)state;
    assert_int_equal(certo_password_hash(&enc, pw, &err), CERTO_OK);
    assert_non_null(enc);
    assert_true(strncmp(enc, "$argon2id$v=19$m=19456,t=2,p=1$", 31) == 0);
    /* 16-byte salt and 32-byte tag in unpadded base64: 22 and 43 characters */
    assert_int_equal(strlen(enc), 31 + 22 + 1 + 43);
    assert_null(strstr(enc, "s3cret"));
    assert_int_equal(certo_password_verify(enc, pw, &err), CERTO_OK);
    assert_int_equal(certo_password_verify(enc, wrong, &err), CERTO_EAUTH);
    assert_string_equal(err.msg, "wrong password");
    err = (struct certo_err){0};
    assert_int_equal(certo_password_verify(enc, prefix, &err), CERTO_EAUTH);
    assert_false(certo_password_needs_rehash(enc));
    certo_free(enc);
    certo_secret_free(pw);
    certo_secret_free(wrong);
    certo_secret_free(prefix);
}

static void
test_server_password__two_hashes_differ_by_salt(void **state)
{
    struct certo_secret *pw = t_secret("same password");
    struct certo_err err = {0};
    char *a = NULL, *b = NULL;

    (void)state;
    assert_int_equal(certo_password_hash(&a, pw, &err), CERTO_OK);
    assert_int_equal(certo_password_hash(&b, pw, &err), CERTO_OK);
    assert_string_not_equal(a, b);
    /* the salts differ, not only the tags */
    assert_false(strncmp(a, b, 31 + 22) == 0);
    assert_int_equal(certo_password_verify(a, pw, &err), CERTO_OK);
    assert_int_equal(certo_password_verify(b, pw, &err), CERTO_OK);
    certo_free(a);
    certo_free(b);
    certo_secret_free(pw);
}

static void
test_server_password__known_answer_from_argon2_cli(void **state)
{
    struct certo_secret *pw = t_secret(KAT_PASSWORD);
    struct certo_secret *wrong = t_secret(KAT_PASSWORD " ");
    struct certo_err err = {0};

    (void)state;
    assert_int_equal(certo_password_verify(kat_current, pw, &err), CERTO_OK);
    assert_int_equal(certo_password_verify(kat_weak, pw, &err), CERTO_OK);
    assert_int_equal(certo_password_verify(kat_current, wrong, &err), CERTO_EAUTH);
    assert_false(certo_password_needs_rehash(kat_current));
    err = (struct certo_err){0};
    assert_int_equal(certo_password_verify(kat_argon2i, pw, &err), CERTO_EINVAL);
    assert_non_null(strstr(err.msg, "not argon2id"));
    certo_secret_free(pw);
    certo_secret_free(wrong);
}

static void
test_server_password__needs_rehash(void **state)
{
    static const struct {
        const char *enc;
        bool rehash;
    } cases[] = {
        {kat_current, false},
        {kat_weak, true},
        {kat_argon2i, true},
        /* t lower */
        {"$argon2id$v=19$m=19456,t=1,p=1$Y2VydG8ta2F0LXNhbHQxNg$"
         "EkikQxAR71qNJt9rqRf/SdASeF+M4yeU/UaaSj6rDyI",
         true},
        /* m lower */
        {"$argon2id$v=19$m=19455,t=2,p=1$Y2VydG8ta2F0LXNhbHQxNg$"
         "EkikQxAR71qNJt9rqRf/SdASeF+M4yeU/UaaSj6rDyI",
         true},
        /* stronger everywhere, at the bounds: kept */
        {"$argon2id$v=19$m=1048576,t=10,p=8$Y2VydG8ta2F0LXNhbHQxNg$"
         "EkikQxAR71qNJt9rqRf/SdASeF+M4yeU/UaaSj6rDyI",
         false},
        /* 8-byte salt */
        {"$argon2id$v=19$m=19456,t=2,p=1$Y2VydG8ta2F0$EkikQxAR71qNJt9rqRf/SdASeF+M4yeU/UaaSj6rDyI",
         true},
        /* 16-byte tag */
        {"$argon2id$v=19$m=19456,t=2,p=1$Y2VydG8ta2F0LXNhbHQxNg$EkikQxAR71qNJt9rqRf/SQ", true},
        {"garbage", true},
        {"", true},
    };

    (void)state;
    for (size_t i = 0; i < CERTO_ARRAY_LEN(cases); i++) {
        if (certo_password_needs_rehash(cases[i].enc) != cases[i].rehash)
            fail_msg("case %zu: %s", i, cases[i].enc);
    }
}

/*
 * Each of these would take hours or gigabytes if it reached argon2 (t of four billion,
 * m of 4 GiB, 255 lanes), so a pass proves the bounds are checked first.
 */
static void
test_server_password__absurd_parameters_are_refused_unhashed(void **state)
{
    static const char *const cases[] = {
        "$argon2id$v=19$m=19456,t=4000000000,p=1$Y2VydG8ta2F0LXNhbHQxNg$"
        "EkikQxAR71qNJt9rqRf/SdASeF+M4yeU/UaaSj6rDyI",
        "$argon2id$v=19$m=4194304,t=2,p=1$Y2VydG8ta2F0LXNhbHQxNg$"
        "EkikQxAR71qNJt9rqRf/SdASeF+M4yeU/UaaSj6rDyI",
        "$argon2id$v=19$m=1048577,t=1,p=1$Y2VydG8ta2F0LXNhbHQxNg$"
        "EkikQxAR71qNJt9rqRf/SdASeF+M4yeU/UaaSj6rDyI",
        "$argon2id$v=19$m=19456,t=11,p=1$Y2VydG8ta2F0LXNhbHQxNg$"
        "EkikQxAR71qNJt9rqRf/SdASeF+M4yeU/UaaSj6rDyI",
        "$argon2id$v=19$m=19456,t=2,p=255$Y2VydG8ta2F0LXNhbHQxNg$"
        "EkikQxAR71qNJt9rqRf/SdASeF+M4yeU/UaaSj6rDyI",
        "$argon2id$v=19$m=19456,t=2,p=9$Y2VydG8ta2F0LXNhbHQxNg$"
        "EkikQxAR71qNJt9rqRf/SdASeF+M4yeU/UaaSj6rDyI",
    };
    struct certo_secret *pw = t_secret(KAT_PASSWORD);

    (void)state;
    for (size_t i = 0; i < CERTO_ARRAY_LEN(cases); i++) {
        struct certo_err err = {0};
        assert_int_equal(certo_password_verify(cases[i], pw, &err), CERTO_EINVAL);
        assert_non_null(strstr(err.msg, "out of bounds"));
    }
    certo_secret_free(pw);
}

static void
test_server_password__malformed_encodings(void **state)
{
    static const char *const cases[] = {
        "",
        "$argon2id$",
        "$argon2id$v=19$",
        "$argon2d$v=19$m=19456,t=2,p=1$Y2VydG8ta2F0LXNhbHQxNg$"
        "EkikQxAR71qNJt9rqRf/SdASeF+M4yeU/UaaSj6rDyI",
        /* version 16, and no version (which libargon2 reads as 16) */
        "$argon2id$v=16$m=19456,t=2,p=1$Y2VydG8ta2F0LXNhbHQxNg$"
        "EkikQxAR71qNJt9rqRf/SdASeF+M4yeU/UaaSj6rDyI",
        "$argon2id$m=19456,t=2,p=1$Y2VydG8ta2F0LXNhbHQxNg$"
        "EkikQxAR71qNJt9rqRf/SdASeF+M4yeU/UaaSj6rDyI",
        /* parameter syntax */
        "$argon2id$v=19$m=019456,t=2,p=1$Y2VydG8ta2F0LXNhbHQxNg$"
        "EkikQxAR71qNJt9rqRf/SdASeF+M4yeU/UaaSj6rDyI",
        "$argon2id$v=19$m=-1,t=2,p=1$Y2VydG8ta2F0LXNhbHQxNg$"
        "EkikQxAR71qNJt9rqRf/SdASeF+M4yeU/UaaSj6rDyI",
        "$argon2id$v=19$t=2,m=19456,p=1$Y2VydG8ta2F0LXNhbHQxNg$"
        "EkikQxAR71qNJt9rqRf/SdASeF+M4yeU/UaaSj6rDyI",
        "$argon2id$v=19$m=19456,t=2,p=1,x=1$Y2VydG8ta2F0LXNhbHQxNg$"
        "EkikQxAR71qNJt9rqRf/SdASeF+M4yeU/UaaSj6rDyI",
        "$argon2id$v=19$m=99999999999,t=2,p=1$Y2VydG8ta2F0LXNhbHQxNg$"
        "EkikQxAR71qNJt9rqRf/SdASeF+M4yeU/UaaSj6rDyI",
        "$argon2id$v=19$m=19456,t=0,p=1$Y2VydG8ta2F0LXNhbHQxNg$"
        "EkikQxAR71qNJt9rqRf/SdASeF+M4yeU/UaaSj6rDyI",
        "$argon2id$v=19$m=19456,t=2,p=0$Y2VydG8ta2F0LXNhbHQxNg$"
        "EkikQxAR71qNJt9rqRf/SdASeF+M4yeU/UaaSj6rDyI",
        "$argon2id$v=19$m=7,t=2,p=1$Y2VydG8ta2F0LXNhbHQxNg$"
        "EkikQxAR71qNJt9rqRf/SdASeF+M4yeU/UaaSj6rDyI",
        /* salt and tag */
        "$argon2id$v=19$m=19456,t=2,p=1$Y2VydG8t-2F0LXNhbHQxNg$"
        "EkikQxAR71qNJt9rqRf/SdASeF+M4yeU/UaaSj6rDyI",
        "$argon2id$v=19$m=19456,t=2,p=1$Y2VydG8ta2F0LXNhbHQxNg==$"
        "EkikQxAR71qNJt9rqRf/SdASeF+M4yeU/UaaSj6rDyI",
        "$argon2id$v=19$m=19456,t=2,p=1$Y2VydG8ta2F0LXNhbHQxNg$",
        "$argon2id$v=19$m=19456,t=2,p=1$$EkikQxAR71qNJt9rqRf/SdASeF+M4yeU/UaaSj6rDyI",
        "$argon2id$v=19$m=19456,t=2,p=1$Y2VydG8$EkikQxAR71qNJt9rqRf/SdASeF+M4yeU/UaaSj6rDyI",
        "$argon2id$v=19$m=19456,t=2,p=1$Y2VydG8ta2F0LXNhbHQxNg$EkikQxAR71qNJt9rqRf",
        "$argon2id$v=19$m=19456,t=2,p=1$Y2VydG8ta2F0LXNhbHQxNg$"
        "EkikQxAR71qNJt9rqRf/SdASeF+M4yeU/UaaSj6rDyI$",
        "$argon2id$v=19$m=19456,t=2,p=1$Y2VydG8ta2F0LXNhbHQxNg$"
        "EkikQxAR71qNJt9rqRf/SdASeF+M4yeU/UaaSj6rDyI ",
    };
    struct certo_secret *pw = t_secret(KAT_PASSWORD);
    char long_enc[400];

    (void)state;
    for (size_t i = 0; i < CERTO_ARRAY_LEN(cases); i++) {
        struct certo_err err = {0};
        if (certo_password_verify(cases[i], pw, &err) != CERTO_EINVAL)
            fail_msg("case %zu accepted: %s", i, cases[i]);
        assert_null(strstr(err.msg, KAT_PASSWORD));
    }
    memset(long_enc, 'A', sizeof(long_enc) - 1);
    long_enc[sizeof(long_enc) - 1] = '\0';
    memcpy(long_enc, kat_current, strlen(kat_current));
    {
        struct certo_err err = {0};
        assert_int_equal(certo_password_verify(long_enc, pw, &err), CERTO_EINVAL);
    }
    certo_secret_free(pw);
}

static void
test_server_password__empty_and_oversize_passwords(void **state)
{
    char big[CERTO_PASSWORD_MAX + 2];
    struct certo_secret *empty = t_secret("");
    struct certo_secret *over, *max;
    struct certo_err err = {0};
    char *enc = NULL;

    (void)state;
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    over = t_secret(big);
    big[CERTO_PASSWORD_MAX] = '\0';
    max = t_secret(big);
    assert_int_equal(certo_password_hash(&enc, empty, &err), CERTO_EINVAL);
    assert_null(enc);
    assert_non_null(strstr(err.msg, "empty"));
    err = (struct certo_err){0};
    assert_int_equal(certo_password_hash(&enc, over, &err), CERTO_EINVAL);
    assert_null(enc);
    assert_non_null(strstr(err.msg, "longer than 1024"));
    err = (struct certo_err){0};
    assert_int_equal(certo_password_verify(kat_current, empty, &err), CERTO_EINVAL);
    err = (struct certo_err){0};
    assert_int_equal(certo_password_verify(kat_current, over, &err), CERTO_EINVAL);
    assert_int_equal(certo_password_hash(&enc, max, &err), CERTO_OK);
    assert_int_equal(certo_password_verify(enc, max, &err), CERTO_OK);
    assert_int_equal(certo_password_verify(enc, over, &err), CERTO_EINVAL);
    certo_free(enc);
    certo_secret_free(empty);
    certo_secret_free(over);
    certo_secret_free(max);
}

static void
test_server_password__generate(void **state)
{
    char a[CERTO_PASSWORD_GEN_LEN + 1], b[CERTO_PASSWORD_GEN_LEN + 1];
    struct certo_err err = {0};
    struct certo_secret *pw;
    char *enc = NULL;

    (void)state;
    certo_password_generate(a);
    certo_password_generate(b);
    assert_int_equal(strlen(a), CERTO_PASSWORD_GEN_LEN);
    assert_string_not_equal(a, b);
    for (int round = 0; round < 200; round++) {
        certo_password_generate(b);
        assert_int_equal(strlen(b), 32);
        for (size_t i = 0; i < CERTO_PASSWORD_GEN_LEN; i++) {
            assert_true((b[i] >= '2' && b[i] <= '9') || (b[i] >= 'A' && b[i] <= 'Z') ||
                        (b[i] >= 'a' && b[i] <= 'z'));
            assert_null(strchr("0O1lIo", b[i]));
        }
    }
    pw = t_secret(a);
    assert_int_equal(certo_password_hash(&enc, pw, &err), CERTO_OK);
    assert_int_equal(certo_password_verify(enc, pw, &err), CERTO_OK);
    certo_free(enc);
    certo_secret_free(pw);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_password__hash_and_verify),
        cmocka_unit_test(test_server_password__two_hashes_differ_by_salt),
        cmocka_unit_test(test_server_password__known_answer_from_argon2_cli),
        cmocka_unit_test(test_server_password__needs_rehash),
        cmocka_unit_test(test_server_password__absurd_parameters_are_refused_unhashed),
        cmocka_unit_test(test_server_password__malformed_encodings),
        cmocka_unit_test(test_server_password__empty_and_oversize_passwords),
        cmocka_unit_test(test_server_password__generate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
