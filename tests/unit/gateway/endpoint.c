/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of src/gateway/endpoint.c: seed 004's tables and the validation rules. */
#include <string.h>

#include "certo/endpoint.h"
#include "testutil.h"

static const struct certo_gw_host linux_host = {false, false};

/* Builds an endpoint from "field=value" pairs (NULL-terminated); secrets by mask. */
static void
make(struct certo_endpoint *ep, enum certo_ep_type type, const char *const *kv)
{
    memset(ep, 0, sizeof(*ep));
    ep->type = type;
    for (; *kv != NULL; kv++) {
        const char *eq = strchr(*kv, '=');
        for (int f = 0; f < CERTO_F__COUNT; f++) {
            const char *n = certo_ep_field_info((enum certo_ep_field)f)->name;
            if (strlen(n) == (size_t)(eq - *kv) && strncmp(n, *kv, (size_t)(eq - *kv)) == 0)
                certo_endpoint_set(ep, (enum certo_ep_field)f, eq + 1);
        }
    }
}

static certo_rc
check(enum certo_ep_type type, unsigned secrets, const struct certo_gw_host *host, char *msg,
      const char *const *kv)
{
    struct certo_endpoint ep;
    struct certo_err err = {0};
    certo_rc rc;

    make(&ep, type, kv);
    rc = certo_endpoint_validate(&ep, secrets, host, &err);
    snprintf(msg, sizeof(err.msg), "%s", err.msg);
    certo_endpoint_dispose(&ep);
    return rc;
}

#define PW  (1u << CERTO_F_PASSWORD)
#define SPW (1u << CERTO_F_STORE_PASSWORD)

static void
test_gateway_endpoint__seed_connection_table(void **state)
{
    /* Seed 004: the valid connection types of each endpoint type. */
    static const char *const want[CERTO_EP__COUNT] = {
        [CERTO_EP_IIS] = "local ssh_windows winrm_http winrm_https winrm_https_insecure",
        [CERTO_EP_APACHE] = "local ssh",
        [CERTO_EP_TOMCAT] = "local ssh winrm_http winrm_https winrm_https_insecure",
        [CERTO_EP_F5] = "rest rest_insecure",
        [CERTO_EP_NGINX] = "local ssh",
        [CERTO_EP_P12] = "local ssh ssh_windows winrm_http winrm_https winrm_https_insecure",
        [CERTO_EP_JKS] = "local ssh ssh_windows winrm_http winrm_https winrm_https_insecure",
        [CERTO_EP_PEM] = "local ssh ssh_windows winrm_http winrm_https winrm_https_insecure",
    };
    (void)state;
    for (int t = 0; t < CERTO_EP__COUNT; t++) {
        char got[CERTO_ERR_MSG_MAX] = "";
        for (int c = 0; c < CERTO_CONN__COUNT; c++) {
            if ((certo_ep_conns((enum certo_ep_type)t) & (1u << c)) == 0)
                continue;
            if (got[0] != '\0')
                strcat(got, " "); /* NOLINT: bounded test buffer */
            strcat(got, certo_conn_name((enum certo_conn)c));
        }
        assert_string_equal(got, want[t]);
    }
    assert_int_equal(certo_conn_default_port(CERTO_CONN_SSH), 22);
    assert_int_equal(certo_conn_default_port(CERTO_CONN_SSH_WINDOWS), 22);
    assert_int_equal(certo_conn_default_port(CERTO_CONN_WINRM_HTTP), 5985);
    assert_int_equal(certo_conn_default_port(CERTO_CONN_WINRM_HTTPS_INSECURE), 5986);
    assert_int_equal(certo_conn_default_port(CERTO_CONN_REST), 443);
    /* Options only some types have. */
    assert_true(certo_ep_has_field(CERTO_EP_APACHE, CERTO_F_APACHECTL_PATH));
    assert_false(certo_ep_has_field(CERTO_EP_NGINX, CERTO_F_APACHECTL_PATH));
    assert_true(certo_ep_has_field(CERTO_EP_P12, CERTO_F_IS_LEGACY));
    assert_false(certo_ep_has_field(CERTO_EP_JKS, CERTO_F_IS_LEGACY));
    assert_false(certo_ep_has_field(CERTO_EP_PEM, CERTO_F_STORE_PASSWORD));
    assert_true(certo_ep_has_field(CERTO_EP_PEM, CERTO_F_INSTALL_SCRIPT));
}

static void
test_gateway_endpoint__name_rules(void **state)
{
    char msg[CERTO_ERR_MSG_MAX];
    char name[200];
    (void)state;
    memset(name, 'a', 32);
    name[32] = '\0';
    char kv0[240];
    snprintf(kv0, sizeof(kv0), "name=%s", name);
    const char *ok32[] = {kv0, "connection_type=local", NULL};
    assert_int_equal(check(CERTO_EP_NGINX, 0, &linux_host, msg, ok32), CERTO_OK);
    strcat(name, "a");
    snprintf(kv0, sizeof(kv0), "name=%s", name);
    assert_int_equal(check(CERTO_EP_NGINX, 0, &linux_host, msg, ok32), CERTO_EINVAL);
    assert_string_equal(msg, "--name must be between 1 and 32 characters (got 33)");
    /* 32 two-byte characters are 32 characters. */
    name[0] = '\0';
    for (int i = 0; i < 32; i++)
        strcat(name, "\xc3\xa9");
    snprintf(kv0, sizeof(kv0), "name=%s", name);
    assert_int_equal(check(CERTO_EP_NGINX, 0, &linux_host, msg, ok32), CERTO_OK);
    const char *empty[] = {"name=", "connection_type=local", NULL};
    assert_int_equal(check(CERTO_EP_NGINX, 0, &linux_host, msg, empty), CERTO_EINVAL);
    assert_string_equal(msg, "--name must be between 1 and 32 characters (got 0)");
    const char *ctl[] = {"name=a\x01"
                         "b",
                         "connection_type=local", NULL};
    assert_int_equal(check(CERTO_EP_NGINX, 0, &linux_host, msg, ctl), CERTO_EINVAL);
    assert_non_null(strstr(msg, "control characters"));
    const char *bad8[] = {"name=a\xff", "connection_type=local", NULL};
    assert_int_equal(check(CERTO_EP_NGINX, 0, &linux_host, msg, bad8), CERTO_EINVAL);
    assert_non_null(strstr(msg, "UTF-8"));
    const char *none[] = {"connection_type=local", NULL};
    assert_int_equal(check(CERTO_EP_NGINX, 0, &linux_host, msg, none), CERTO_EINVAL);
    assert_string_equal(msg, "--name is required");
}

static void
test_gateway_endpoint__connection_rules(void **state)
{
    const struct certo_gw_host container = {false, true};
    char msg[CERTO_ERR_MSG_MAX];
    (void)state;
    const char *f5ssh[] = {"name=f", "connection_type=ssh", "host=h", "user=u", NULL};
    assert_int_equal(check(CERTO_EP_F5, PW, &linux_host, msg, f5ssh), CERTO_EINVAL);
    assert_string_equal(msg, "--connection_type 'ssh' is not valid for f5; the valid types are: "
                             "rest, rest_insecure");
    const char *iis[] = {"name=i", "connection_type=local", NULL};
    assert_int_equal(check(CERTO_EP_IIS, 0, &linux_host, msg, iis), CERTO_EINVAL);
    assert_non_null(strstr(msg, "Linux gateway"));
    const struct certo_gw_host windows = {true, false};
    assert_int_equal(check(CERTO_EP_IIS, 0, &windows, msg, iis), CERTO_OK);
    const char *ng[] = {"name=n", "connection_type=local", NULL};
    assert_int_equal(check(CERTO_EP_NGINX, 0, &container, msg, ng), CERTO_EINVAL);
    assert_non_null(strstr(msg, "container"));
    const char *unused[] = {"name=n", "connection_type=local", "host=h", NULL};
    assert_int_equal(check(CERTO_EP_NGINX, 0, &linux_host, msg, unused), CERTO_EINVAL);
    assert_string_equal(msg, "--host is not used with --connection_type local");
    const char *nohost[] = {"name=n", "connection_type=ssh", "user=u", NULL};
    assert_int_equal(check(CERTO_EP_NGINX, PW, &linux_host, msg, nohost), CERTO_EINVAL);
    assert_string_equal(msg, "--host is required with --connection_type ssh");
    const char *noauth[] = {"name=n", "connection_type=ssh", "host=h", "user=u", NULL};
    assert_int_equal(check(CERTO_EP_NGINX, 0, &linux_host, msg, noauth), CERTO_EINVAL);
    assert_non_null(strstr(msg, "needs credentials"));
    const char *winkey[] = {"name=n", "connection_type=winrm_https", "host=h",
                            "user=u", "tomcat_dir=C:\\tomcat",       "ssh_key_path=/k",
                            NULL};
    assert_int_equal(check(CERTO_EP_TOMCAT, 0, &linux_host, msg, winkey), CERTO_EINVAL);
    assert_non_null(strstr(msg, "--ssh_key_path is not used with --connection_type winrm_https"));
    const char *store_half[] = {"name=n", "connection_type=ssh", "host=h", "store=s", NULL};
    assert_int_equal(check(CERTO_EP_NGINX, 0, &linux_host, msg, store_half), CERTO_EINVAL);
    assert_string_equal(msg, "--store_cred_id is required with --store");
}

static void
test_gateway_endpoint__host_and_port(void **state)
{
    static const char *const good_hosts[] = {"h",           "web-1.example.com", "127.0.0.1",
                                             "::1",         "[2001:db8::1]",     "a_b.internal",
                                             "example.com."};
    static const char *const bad_hosts[] = {"-a", "a-", "a..b", "a b", "h/x", "[1.2.3.4]", ".a"};
    static const char *const bad_ports[] = {"0",   "65536", "abc",    "22x", "-1",
                                            " 22", "",      "999999", "022"};
    char msg[CERTO_ERR_MSG_MAX], kv[300];
    (void)state;
    for (size_t i = 0; i < CERTO_ARRAY_LEN(good_hosts); i++) {
        snprintf(kv, sizeof(kv), "host=%s", good_hosts[i]);
        const char *e[] = {"name=n", "connection_type=ssh", "user=u", kv, NULL};
        assert_int_equal(check(CERTO_EP_NGINX, PW, &linux_host, msg, e), CERTO_OK);
    }
    for (size_t i = 0; i < CERTO_ARRAY_LEN(bad_hosts); i++) {
        char want[300];
        snprintf(kv, sizeof(kv), "host=%s", bad_hosts[i]);
        const char *e[] = {"name=n", "connection_type=ssh", "user=u", kv, NULL};
        assert_int_equal(check(CERTO_EP_NGINX, PW, &linux_host, msg, e), CERTO_EINVAL);
        snprintf(want, sizeof(want), "--host '%s' is not a host name or an IP address",
                 bad_hosts[i]);
        assert_string_equal(msg, want);
    }
    for (size_t i = 0; i < CERTO_ARRAY_LEN(bad_ports); i++) {
        snprintf(kv, sizeof(kv), "port=%s", bad_ports[i]);
        const char *e[] = {"name=n", "connection_type=ssh", "user=u", "host=h", kv, NULL};
        assert_int_equal(check(CERTO_EP_NGINX, PW, &linux_host, msg, e), CERTO_EINVAL);
        assert_non_null(strstr(msg, "--port must be an integer between 1 and 65535"));
    }
    struct certo_endpoint ep;
    struct certo_err err = {0};
    const char *e[] = {"name=n", "connection_type=winrm_http", "user=u",
                       "host=h", "tomcat_dir=D:/tomcat",       NULL};
    make(&ep, CERTO_EP_TOMCAT, e);
    assert_int_equal(certo_endpoint_validate(&ep, PW, &linux_host, &err), CERTO_OK);
    assert_int_equal(certo_endpoint_port(&ep), 5985);
    assert_null(certo_endpoint_get(&ep, CERTO_F_PORT)); /* the default is not stored */
    certo_endpoint_set(&ep, CERTO_F_PORT, "65535");
    assert_int_equal(certo_endpoint_port(&ep), 65535);
    certo_endpoint_dispose(&ep);
}

static void
test_gateway_endpoint__type_options(void **state)
{
    char msg[CERTO_ERR_MSG_MAX];
    char longpath[4200];
    (void)state;
    const char *foreign[] = {"name=a", "connection_type=local", "nginx_config_path=/x", NULL};
    assert_int_equal(check(CERTO_EP_APACHE, 0, &linux_host, msg, foreign), CERTO_EINVAL);
    assert_string_equal(msg, "--nginx_config_path is not an option of apache endpoints");
    const char *legacy[] = {"name=p", "connection_type=local", "path=/k.p12", "is_legacy=yes",
                            NULL};
    assert_int_equal(check(CERTO_EP_P12, SPW, &linux_host, msg, legacy), CERTO_EINVAL);
    assert_string_equal(msg, "--is_legacy must be true or false, not 'yes'");
    const char *nopw[] = {"name=p", "connection_type=local", "path=/k.jks", NULL};
    assert_int_equal(check(CERTO_EP_JKS, 0, &linux_host, msg, nopw), CERTO_EINVAL);
    assert_non_null(strstr(msg, "--store_password is required"));
    const char *nopath[] = {"name=p", "connection_type=local", NULL};
    assert_int_equal(check(CERTO_EP_PEM, 0, &linux_host, msg, nopath), CERTO_EINVAL);
    assert_non_null(strstr(msg, "--path is required"));
    longpath[0] = '/';
    memset(longpath + 1, 'a', 4096);
    longpath[4097] = '\0';
    char kv[4300];
    snprintf(kv, sizeof(kv), "path=%s", longpath);
    const char *toolong[] = {"name=p", "connection_type=local", kv, NULL};
    assert_int_equal(check(CERTO_EP_PEM, 0, &linux_host, msg, toolong), CERTO_EINVAL);
    assert_string_equal(msg, "--path must be between 1 and 4096 characters (got 4097)");
    const char *tomcat0[] = {"name=t", "connection_type=local", "tomcat_dir=", NULL};
    assert_int_equal(check(CERTO_EP_TOMCAT, 0, &linux_host, msg, tomcat0), CERTO_EINVAL);
    assert_string_equal(msg, "--tomcat_dir must be at least 1 character long");
    const char *rel[] = {"name=p", "connection_type=ssh", "host=h", "user=u", "path=k.pem", NULL};
    assert_int_equal(check(CERTO_EP_PEM, PW, &linux_host, msg, rel), CERTO_EINVAL);
    assert_non_null(strstr(msg, "absolute path"));

    /* Defaults. */
    struct certo_endpoint ep;
    struct certo_err err = {0};
    const char *p12[] = {"name=p", "connection_type=local", "path=/k.p12", NULL};
    make(&ep, CERTO_EP_P12, p12);
    assert_int_equal(certo_endpoint_validate(&ep, SPW, &linux_host, &err), CERTO_OK);
    assert_string_equal(certo_endpoint_get(&ep, CERTO_F_IS_LEGACY), "false");
    certo_endpoint_dispose(&ep);
    const char *ng[] = {"name=n", "connection_type=local", NULL};
    make(&ep, CERTO_EP_NGINX, ng);
    assert_int_equal(certo_endpoint_validate(&ep, 0, &linux_host, &err), CERTO_OK);
    assert_string_equal(certo_endpoint_get(&ep, CERTO_F_NGINX_CONFIG_PATH),
                        "/etc/nginx/nginx.conf");
    certo_endpoint_dispose(&ep);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gateway_endpoint__seed_connection_table),
        cmocka_unit_test(test_gateway_endpoint__name_rules),
        cmocka_unit_test(test_gateway_endpoint__connection_rules),
        cmocka_unit_test(test_gateway_endpoint__host_and_port),
        cmocka_unit_test(test_gateway_endpoint__type_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
