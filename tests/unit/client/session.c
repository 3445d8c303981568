/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of src/client/session.c without a server: URL checks (https only, no
 * credentials, ports, the API path), call paths, certificate pins, the error of an
 * HTTP answer from its JSON body, and the option checks of certo_session_open that
 * come before any connection (and never echo a secret).
 */
#include <stdlib.h>
#include <string.h>

#include "certo/client.h"
#include "client/internal.h"
#include "testutil.h"

static void
test_client_session__url_accepted_forms(void **state)
{
    static const struct {
        const char *in, *base;
    } good[] = {
        {"https://127.0.0.1:8281", "https://127.0.0.1:8281/vco/api"},
        {"https://127.0.0.1:8281/", "https://127.0.0.1:8281/vco/api"},
        {"https://127.0.0.1:8281/vco/api", "https://127.0.0.1:8281/vco/api"},
        {"https://127.0.0.1:8281/vco/api/", "https://127.0.0.1:8281/vco/api"},
        {"HTTPS://Server.Example.COM", "https://server.example.com/vco/api"},
        {"https://[::1]:9443", "https://[::1]:9443/vco/api"},
        {"https://a-b.example:1", "https://a-b.example:1/vco/api"},
    };
    (void)state;
    for (size_t i = 0; i < CERTO_ARRAY_LEN(good); i++) {
        struct certo_err err = {0};
        char *base = NULL;
        assert_int_equal(certo_client__url_parse(&base, good[i].in, &err), CERTO_OK);
        assert_string_equal(base, good[i].base);
        certo_free(base);
    }
}

static void
test_client_session__url_refusals_name_the_problem(void **state)
{
    static const struct {
        const char *in, *says;
    } bad[] = {
        {"http://127.0.0.1:8281", "http:// is refused"},
        {"HTTP://127.0.0.1", "http:// is refused"},
        {"ftp://127.0.0.1", "does not start with https://"},
        {"127.0.0.1:8281", "does not start with https://"},
        {"", "empty"},
        {"https://admin:secret-pw@127.0.0.1:8281", "user:password@"},
        {"https://127.0.0.1:0", "port"},
        {"https://127.0.0.1:65536", "port"},
        {"https://127.0.0.1:", "bad host or port"},
        {"https://127.0.0.1:80x", "bad host or port"},
        {"https://:8281", "no valid host"},
        {"https://[::1", "IPv6"},
        {"https://[]:1", "IPv6"},
        {"https://127.0.0.1/other/path", "path must be"},
        {"https://127.0.0.1/vco/api?x=1", "query"},
        {"https://127.0.0.1/#frag", "query or fragment"},
        {"https://127.0.0.1 /", "spaces"},
        {"https://h\xc3\xa9st", "non-ASCII"},
    };
    (void)state;
    for (size_t i = 0; i < CERTO_ARRAY_LEN(bad); i++) {
        struct certo_err err = {0};
        char *base = (char *)"sentinel";
        assert_int_equal(certo_client__url_parse(&base, bad[i].in, &err), CERTO_EINVAL);
        assert_null(base);
        if (strstr(err.msg, bad[i].says) == NULL)
            fail_msg("'%s': message '%s' lacks '%s'", bad[i].in, err.msg, bad[i].says);
        assert_null(strstr(err.msg, "secret-pw"));
    }
}

static void
test_client_session__call_paths(void **state)
{
    static const char *const good[] = {"/",
                                       "/users/",
                                       "/users/12/password",
                                       "/users/?startIndex=0&maxResult=1000",
                                       "/trust/AB%3ACD",
                                       "/trust/srv-b.example",
                                       "/a.b/c"};
    static const char *const bad[] = {"",        "users/", "/users/../x", "/..",
                                      "/./x",    "//x",    "/a b",        "/a\nb",
                                      "/x#frag", "/a\\b",  "/https://x",  "/a/."};
    (void)state;
    for (size_t i = 0; i < CERTO_ARRAY_LEN(good); i++) {
        struct certo_err err = {0};
        if (certo_client__path_check(good[i], &err) != CERTO_OK)
            fail_msg("'%s' refused: %s", good[i], err.msg);
    }
    for (size_t i = 0; i < CERTO_ARRAY_LEN(bad); i++) {
        struct certo_err err = {0};
        if (certo_client__path_check(bad[i], &err) != CERTO_EINVAL)
            fail_msg("'%s' accepted", bad[i]);
    }
    assert_int_equal(certo_client__path_check(NULL, NULL), CERTO_EINVAL);
}

static void
test_client_session__pins(void **state)
{
    static const char want[] = "4C:1A:E5:EA:37:B6:14:68:12:F0:64:19:5F:81:4C:E2:05:58:40:04:A1:"
                               "9B:97:B8:AD:C0:44:6F:1D:54:D9:5A";
    char out[96];
    (void)state;
    assert_true(certo_client__pin_parse(out, want));
    assert_string_equal(out, want);
    assert_true(certo_client__pin_parse(
        out, "4c1ae5ea37b6146812f064195f814ce205584004a19b97b8adc0446f1d54d95a"));
    assert_string_equal(out, want);
    assert_true(certo_client__pin_parse(
        out, "4c:1AE5ea37b6146812f064195f814ce205584004a19b97b8adc0446f1d54d95a"));
    assert_string_equal(out, want);
    assert_false(certo_client__pin_parse(out, NULL));
    assert_false(certo_client__pin_parse(out, ""));
    assert_false(certo_client__pin_parse(out, "12:34"));
    /* 63 and 65 digits, a non-hex digit, misplaced colons. */
    assert_false(certo_client__pin_parse(
        out, "4c1ae5ea37b6146812f064195f814ce205584004a19b97b8adc0446f1d54d95"));
    assert_false(certo_client__pin_parse(
        out, "4c1ae5ea37b6146812f064195f814ce205584004a19b97b8adc0446f1d54d95a0"));
    assert_false(certo_client__pin_parse(
        out, "4g1ae5ea37b6146812f064195f814ce205584004a19b97b8adc0446f1d54d95a"));
    assert_false(certo_client__pin_parse(
        out, ":4c1ae5ea37b6146812f064195f814ce205584004a19b97b8adc0446f1d54d95a"));
    assert_false(certo_client__pin_parse(
        out, "4c1:ae5ea37b6146812f064195f814ce205584004a19b97b8adc0446f1d54d95a"));
    assert_false(certo_client__pin_parse(
        out, "4c::1ae5ea37b6146812f064195f814ce205584004a19b97b8adc0446f1d54d95a"));
    assert_false(certo_client__pin_parse(
        out, "4c1ae5ea37b6146812f064195f814ce205584004a19b97b8adc0446f1d54d95a:"));
}

static void
test_client_session__errors_from_bodies(void **state)
{
    static const struct {
        int status;
        const char *body;
        certo_rc rc;
        const char *msg;
    } cases[] = {
        {400, "{\"error\":{\"code\":\"invalid\",\"message\":\"bad role\",\"field\":\"role\"}}",
         CERTO_EINVAL, "role: bad role"},
        /* The field is not repeated when the message starts with it. */
        {400,
         "{\"error\":{\"code\":\"missing_field\",\"message\":\"name: required\",\"field\":"
         "\"name\"}}",
         CERTO_EINVAL, "name: required"},
        {400,
         "{\"error\":{\"code\":\"invalid_grant\",\"message\":\"wrong user name or password\","
         "\"field\":null}}",
         CERTO_EAUTH, "wrong user name or password"},
        {401,
         "{\"error\":{\"code\":\"invalid_token\",\"message\":\"the token has expired\","
         "\"field\":null}}",
         CERTO_EAUTH, "the token has expired"},
        {403, "{\"error\":{\"code\":\"forbidden\",\"message\":\"no\",\"field\":null}}", CERTO_EPERM,
         "no"},
        {404, "{\"error\":{\"code\":\"not_found\",\"message\":\"no such user\",\"field\":null}}",
         CERTO_ENOTFOUND, "no such user"},
        {409, "{\"error\":{\"code\":\"exists\",\"message\":\"taken\",\"field\":\"name\"}}",
         CERTO_EEXIST, "name: taken"},
        {409,
         "{\"error\":{\"code\":\"conflict\",\"message\":\"you cannot remove yourself\","
         "\"field\":null}}",
         CERTO_ECONFLICT, "you cannot remove yourself"},
        {413, "<html>too big</html>", CERTO_ETOOBIG, "HTTP 413"},
        {415, "{\"error\":{\"code\":\"unsupported_media_type\",\"message\":\"send JSON\"}}",
         CERTO_EINVAL, "send JSON"},
        {500, "{\"error\":{\"code\":\"internal\",\"message\":\"internal error\",\"field\":null}}",
         CERTO_EREMOTE, "internal error"},
        {502, "", CERTO_EREMOTE, "HTTP 502"},
        {503, "not json", CERTO_EREMOTE, "HTTP 503"},
        {418, "{\"error\":\"teapot\"}", CERTO_EINVAL, "HTTP 418"},
    };
    (void)state;
    for (size_t i = 0; i < CERTO_ARRAY_LEN(cases); i++) {
        struct certo_err err = {0};
        certo_rc rc = certo_client__error_from_body(cases[i].status, cases[i].body,
                                                    strlen(cases[i].body), &err);
        if (rc != cases[i].rc || err.rc != cases[i].rc || strstr(err.msg, cases[i].msg) == NULL)
            fail_msg("case %zu (HTTP %d): %s '%s'", i, cases[i].status, certo_rc_name(rc), err.msg);
        assert_int_equal((err.flags & CERTO_ERR_RETRYABLE) != 0, cases[i].status >= 500);
    }
    /* NULL err is allowed and the code still comes back. */
    assert_int_equal(certo_client__error_from_body(404, NULL, 0, NULL), CERTO_ENOTFOUND);
}

static void
test_client_session__open_checks_options_first(void **state)
{
    struct certo_secret *tok = NULL, *pw = NULL, *bad = NULL;
    struct certo_session *s = (struct certo_session *)1;
    char *dir = t_mkdtemp();
    char *missing = certo_asprintf("%s/none.pem", dir);
    (void)state;

    assert_int_equal(certo_secret_from_str(&tok, "aaa.bbb.ccc-secret-token"), CERTO_OK);
    assert_int_equal(certo_secret_from_str(&pw, "secret-password-1"), CERTO_OK);
    assert_int_equal(certo_secret_from_str(&bad, "not a token\x01"), CERTO_OK);
    struct {
        struct certo_session_opts o;
        const char *says;
    } cases[] = {
        {{.url = "http://127.0.0.1:1", .token = tok}, "http://"},
        {{.url = "https://127.0.0.1:1"}, "one credential"},
        {{.url = "https://127.0.0.1:1", .token = tok, .user = "admin", .password = pw},
         "one credential"},
        {{.url = "https://127.0.0.1:1", .user = "admin"}, "password"},
        {{.url = "https://127.0.0.1:1", .password = pw}, "user name"},
        {{.url = "https://127.0.0.1:1", .token = bad}, "not a bearer token"},
        {{.url = "https://127.0.0.1:1",
          .token = tok,
          .ca_file = "/etc/hostname",
          .fingerprint = "AB"},
         "not both"},
        {{.url = "https://127.0.0.1:1", .token = tok, .fingerprint = "12:34"}, "fingerprint"},
        {{.url = "https://127.0.0.1:1", .token = tok, .client_key = "/etc/hostname"},
         "client certificate"},
        {{.url = "https://127.0.0.1:1", .token = tok, .ca_file = missing}, "CA file"},
        {{.url = "https://127.0.0.1:1", .token = tok, .client_cert = missing},
         "client certificate"},
        {{.url = "https://127.0.0.1:1", .user = "u", .password = pw, .token_ttl = 5}, "token life"},
    };
    for (size_t i = 0; i < CERTO_ARRAY_LEN(cases); i++) {
        struct certo_err err = {0};
        s = (struct certo_session *)1;
        assert_int_equal(certo_session_open(&s, &cases[i].o, &err), CERTO_EINVAL);
        assert_null(s);
        if (strstr(err.msg, cases[i].says) == NULL)
            fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, cases[i].says);
        assert_null(strstr(err.msg, "secret"));
    }
    certo_session_close(NULL);
    certo_secret_free(tok);
    certo_secret_free(pw);
    certo_secret_free(bad);
    certo_free(missing);
    t_rmdir(dir);
}

static void
test_client_session__nothing_listening_is_enet(void **state)
{
    struct certo_secret *tok = NULL;
    struct certo_session *s = NULL;
    struct certo_err err = {0};
    json_t *out = NULL;
    int status = -1;
    (void)state;

    /* Port 1 on loopback: refused at once; the token is never in the message. */
    assert_int_equal(certo_secret_from_str(&tok, "aaa.bbb.ccc"), CERTO_OK);
    struct certo_session_opts o = {.url = "https://127.0.0.1:1", .token = tok};
    assert_int_equal(certo_session_open(&s, &o, &err), CERTO_OK);
    assert_string_equal(certo_session_url_get0(s), "https://127.0.0.1:1/vco/api");
    assert_int_equal(certo_session_token_ttl(s), 0);
    assert_int_equal(certo_session_call(s, "GET", "/", NULL, &out, &status, &err), CERTO_ENET);
    assert_null(out);
    assert_int_equal(status, 0);
    assert_non_null(strstr(err.msg, "127.0.0.1:1"));
    assert_null(strstr(err.msg, "aaa.bbb"));
    err = (struct certo_err){0};
    assert_int_equal(certo_session_call(s, "TRACE", "/", NULL, NULL, NULL, &err), CERTO_EINVAL);
    err = (struct certo_err){0};
    assert_int_equal(certo_session_call(s, "GET", "../x", NULL, NULL, NULL, &err), CERTO_EINVAL);
    certo_session_close(s);
    certo_secret_free(tok);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_session__url_accepted_forms),
        cmocka_unit_test(test_client_session__url_refusals_name_the_problem),
        cmocka_unit_test(test_client_session__call_paths),
        cmocka_unit_test(test_client_session__pins),
        cmocka_unit_test(test_client_session__errors_from_bodies),
        cmocka_unit_test(test_client_session__open_checks_options_first),
        cmocka_unit_test(test_client_session__nothing_listening_is_enet),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
