/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the request-side parsers of the REST API that are ours (bodies
 * are jansson's, headers libevent's): the route matcher with its percent-decoding of path
 * segments, HTTP Basic credentials, and the name, role, fingerprint and HOST:PORT checks
 * that guard what is stored. Any input must be refused or accepted without a crash, and
 * what is accepted must keep the promises the routes rely on: a matched segment is
 * non-empty, has no '/' and no NUL; a Basic user name is 1..64 bytes without ':'.
 */
#include <string.h>

#include "certo/accounts.h"
#include "certo/mem.h"
#include "certo/trust.h"
#include "server/api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const patterns[] = {
    "/vco/api/users/{}",          "/vco/api/orgs/{}/departments/", "/vco/api/trust/{}",
    "/vco/api/auth/tokens/{}",    "/vco/api/catalog/System/{}/",   "/vco/api/",
    "/vco/api/users/{}/password",
};

static void
check_match(const char *path)
{
    char *params[PARAMS_MAX];
    size_t n = 0;

    for (size_t p = 0; p < CERTO_ARRAY_LEN(patterns); p++) {
        if (!api_match(patterns[p], path, params, &n))
            continue;
        for (size_t i = 0; i < n; i++) {
            if (params[i][0] == '\0' || strchr(params[i], '/') != NULL)
                __builtin_trap();
            certo_free(params[i]);
        }
    }
}

static void
check_basic(const char *b64)
{
    struct certo_err err = {0};
    struct certo_secret *pw = NULL;
    char user[CERTO_NAME_MAX + 1];

    if (auth_basic_decode(user, &pw, b64, &err) == CERTO_OK) {
        size_t n = strlen(user);
        if (n == 0 || n > CERTO_NAME_MAX || strchr(user, ':') != NULL || pw == NULL)
            __builtin_trap();
    }
    certo_secret_free(pw);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct certo_err err = {0};
    enum certo_role role;
    char *text = certo_strndup((const char *)data, size), *host = NULL;
    char fp[96];
    int port = 0;

    check_match(text);
    check_basic(text);
    (void)certo_name_check(text, true, "name", &err);
    certo_err_clear(&err);
    (void)certo_name_check(text, false, "name", &err);
    certo_err_clear(&err);
    if (certo_role_parse(&role, text, &err) == CERTO_OK && strcmp(certo_role_name(role), text) != 0)
        __builtin_trap();
    certo_err_clear(&err);
    if (certo_trust_fingerprint_parse(fp, text) && strlen(fp) != 95)
        __builtin_trap();
    if (certo_trust_parse_target(&host, &port, text, &err) == CERTO_OK &&
        (port < 1 || port > 65535 || host == NULL || host[0] == '\0'))
        __builtin_trap();
    certo_free(host);
    certo_free(text);
    return 0;
}
