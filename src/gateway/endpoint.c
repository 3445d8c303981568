/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The endpoint model and its rules (gateway layer): seed 004's option tables, limits and
 * connection types, and the checks a user expects beyond them (a remote endpoint needs a
 * host and a way to authenticate; a local keystore file exists and opens). Validation
 * never touches the registry; the first broken rule wins so that errors are stable.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "certo/endpoint.h"
#include "certo/file.h"
#include "certo/keystore.h"
#include "certo/limits.h"
#include "certo/mem.h"
#include "certo/utf8.h"

#define T(x)      (1u << CERTO_EP_##x)
#define ALL_TYPES (T(IIS) | T(APACHE) | T(TOMCAT) | T(F5) | T(NGINX) | T(P12) | T(JKS) | T(PEM))
#define KEYSTORES (T(P12) | T(JKS) | T(PEM))
#define C(x)      (1u << CERTO_CONN_##x)
#define WINRM     (C(WINRM_HTTP) | C(WINRM_HTTPS) | C(WINRM_HTTPS_INSECURE))
#define RESTS     (C(REST) | C(REST_INSECURE))
#define SSHS      (C(SSH) | C(SSH_WINDOWS))

#define NAME_MAX_CHARS 32
#define HOST_MAX_CHARS 255
#define USER_MAX_CHARS 256
#define ID_MAX_CHARS   1024

static const char *const type_names[CERTO_EP__COUNT] = {
    [CERTO_EP_IIS] = "iis", [CERTO_EP_APACHE] = "apache", [CERTO_EP_TOMCAT] = "tomcat",
    [CERTO_EP_F5] = "f5",   [CERTO_EP_NGINX] = "nginx",   [CERTO_EP_P12] = "p12",
    [CERTO_EP_JKS] = "jks", [CERTO_EP_PEM] = "pem",
};

static const char *const vendors[CERTO_EP__COUNT] = {
    [CERTO_EP_IIS] = "Microsoft IIS",    [CERTO_EP_APACHE] = "Apache httpd",
    [CERTO_EP_TOMCAT] = "Apache Tomcat", [CERTO_EP_F5] = "F5 BIG-IP",
    [CERTO_EP_NGINX] = "nginx",          [CERTO_EP_P12] = "PKCS#12 keystore",
    [CERTO_EP_JKS] = "Java keystore",    [CERTO_EP_PEM] = "PEM file",
};

static const char *const conn_names[CERTO_CONN__COUNT] = {
    [CERTO_CONN_LOCAL] = "local",
    [CERTO_CONN_SSH] = "ssh",
    [CERTO_CONN_SSH_WINDOWS] = "ssh_windows",
    [CERTO_CONN_WINRM_HTTP] = "winrm_http",
    [CERTO_CONN_WINRM_HTTPS] = "winrm_https",
    [CERTO_CONN_WINRM_HTTPS_INSECURE] = "winrm_https_insecure",
    [CERTO_CONN_REST] = "rest",
    [CERTO_CONN_REST_INSECURE] = "rest_insecure",
};

/* Seed 004, the "valid types" list of each endpoint type's option table. */
static const unsigned type_conns[CERTO_EP__COUNT] = {
    [CERTO_EP_IIS] = C(LOCAL) | C(SSH_WINDOWS) | WINRM,
    [CERTO_EP_APACHE] = C(LOCAL) | C(SSH),
    [CERTO_EP_TOMCAT] = C(LOCAL) | C(SSH) | WINRM,
    [CERTO_EP_F5] = RESTS,
    [CERTO_EP_NGINX] = C(LOCAL) | C(SSH),
    [CERTO_EP_P12] = C(LOCAL) | SSHS | WINRM,
    [CERTO_EP_JKS] = C(LOCAL) | SSHS | WINRM,
    [CERTO_EP_PEM] = C(LOCAL) | SSHS | WINRM,
};

static const struct certo_ep_field_info fields[CERTO_F__COUNT] = {
    [CERTO_F_NAME] = {"name", "NAME", CERTO_FK_TEXT, ALL_TYPES},
    [CERTO_F_CONNECTION_TYPE] = {"connection_type", "TYPE", CERTO_FK_TEXT, ALL_TYPES},
    [CERTO_F_HOST] = {"host", "HOST", CERTO_FK_TEXT, ALL_TYPES},
    [CERTO_F_PORT] = {"port", "PORT", CERTO_FK_INT, ALL_TYPES},
    [CERTO_F_USER] = {"user", "USER", CERTO_FK_TEXT, ALL_TYPES},
    [CERTO_F_PASSWORD] = {"password", "PASSWORD", CERTO_FK_SECRET, ALL_TYPES},
    [CERTO_F_SSH_KEY_PATH] = {"ssh_key_path", "FILE", CERTO_FK_PATH, ALL_TYPES},
    [CERTO_F_SSH_KEY_PASSWORD] = {"ssh_key_password", "PASSWORD", CERTO_FK_SECRET, ALL_TYPES},
    [CERTO_F_STORE] = {"store", "STORE", CERTO_FK_TEXT, ALL_TYPES},
    [CERTO_F_STORE_CRED_ID] = {"store_cred_id", "ID", CERTO_FK_TEXT, ALL_TYPES},
    [CERTO_F_APACHECTL_PATH] = {"apachectl_path", "FILE", CERTO_FK_PATH, T(APACHE)},
    [CERTO_F_TOMCAT_DIR] = {"tomcat_dir", "DIR", CERTO_FK_PATH, T(TOMCAT)},
    [CERTO_F_NGINX_CONFIG_PATH] = {"nginx_config_path", "FILE", CERTO_FK_PATH, T(NGINX)},
    [CERTO_F_PATH] = {"path", "FILE", CERTO_FK_PATH, KEYSTORES},
    [CERTO_F_STORE_PASSWORD] = {"store_password", "PASSWORD", CERTO_FK_SECRET, T(P12) | T(JKS)},
    [CERTO_F_INSTALL_SCRIPT] = {"install_script", "FILE", CERTO_FK_PATH, KEYSTORES},
    [CERTO_F_RESTART_SCRIPT] = {"restart_script", "FILE", CERTO_FK_PATH, KEYSTORES},
    [CERTO_F_IS_LEGACY] = {"is_legacy", "BOOL", CERTO_FK_BOOL, T(P12)},
};

#define DEFAULT_APACHECTL  "/usr/sbin/apachectl"
#define DEFAULT_NGINX_CONF "/etc/nginx/nginx.conf"

const struct certo_ep_field_info *
certo_ep_field_info(enum certo_ep_field f)
{
    CERTO_ASSERT(f < CERTO_F__COUNT);
    return &fields[f];
}

bool
certo_ep_has_field(enum certo_ep_type type, enum certo_ep_field f)
{
    return f < CERTO_F__COUNT && (fields[f].types & (1u << type)) != 0;
}

/*
 * The seed's wording, per option; F5's table says "server" where the others say
 * "remote", and the keystore types call themselves endpoints.
 */
const char *
certo_ep_field_help(enum certo_ep_field f, enum certo_ep_type type)
{
    bool ks = (KEYSTORES & (1u << type)) != 0;

    switch (f) {
    case CERTO_F_NAME:
        return ks ? "The name of the endpoint. Must be between 1 and 32 characters."
                  : "The name of the server. Must be between 1 and 32 characters.";
    case CERTO_F_CONNECTION_TYPE:
        return "The connection type.";
    case CERTO_F_HOST:
        return type == CERTO_EP_F5
                   ? "The server hostname. Must be between 1 and 255 characters."
                   : "The remote hostname or address. Must be between 1 and 255 characters.";
    case CERTO_F_PORT:
        return type == CERTO_EP_F5
                   ? "The server port. Must be an integer between 1 and 65535. Default 443."
                   : "The remote port. Must be an integer between 1 and 65535. Default: ssh "
                     "22, winrm_http 5985, winrm_https 5986.";
    case CERTO_F_USER:
        return "The username for authentication.";
    case CERTO_F_PASSWORD:
        return "The password for authentication.";
    case CERTO_F_SSH_KEY_PATH:
        return "The path to the SSH key file.";
    case CERTO_F_SSH_KEY_PASSWORD:
        return "The password for the SSH key.";
    case CERTO_F_STORE:
        return "The credential store name.";
    case CERTO_F_STORE_CRED_ID:
        return "The credential store ID.";
    case CERTO_F_APACHECTL_PATH:
        return "The path to apachectl. Must be between 1 and 4096 characters. "
               "Default " DEFAULT_APACHECTL ".";
    case CERTO_F_TOMCAT_DIR:
        return "The path to the Tomcat directory, for example /opt/tomcat. Must be at least 1 "
               "character long.";
    case CERTO_F_NGINX_CONFIG_PATH:
        return "The path to the Nginx config file. Must be between 1 and 4096 characters. "
               "Default " DEFAULT_NGINX_CONF ".";
    case CERTO_F_PATH:
        return type == CERTO_EP_PEM ? "The path to the file."
                                    : "The path to the keystore or certificate file.";
    case CERTO_F_STORE_PASSWORD:
        return "The keystore password.";
    case CERTO_F_INSTALL_SCRIPT:
        return "The path to the install script. It runs after the certificate and private key "
               "entries are created, with the alias of the new entry.";
    case CERTO_F_RESTART_SCRIPT:
        return "The path to the restart script. It runs when the endpoint is restarted.";
    case CERTO_F_IS_LEGACY:
        return "Specifies which password-based encryption (PBE) scheme is used to encrypt the "
               "PKCS#8 private key inside the PKCS#12 ShroudedKeyBag. The valid values are: "
               "true: old PKCS#12 legacy PBE. false: (recommended) modern PKCS#5 PBES2. The "
               "value defaults to false.";
    case CERTO_F__COUNT:
        break;
    }
    return "";
}

const char *
certo_ep_type_name(enum certo_ep_type t)
{
    return t < CERTO_EP__COUNT ? type_names[t] : "?";
}

bool
certo_ep_type_parse(const char *s, enum certo_ep_type *out)
{
    for (int i = 0; i < CERTO_EP__COUNT; i++) {
        if (strcmp(s, type_names[i]) == 0) {
            *out = (enum certo_ep_type)i;
            return true;
        }
    }
    return false;
}

const char *
certo_conn_name(enum certo_conn c)
{
    return c < CERTO_CONN__COUNT ? conn_names[c] : "?";
}

bool
certo_conn_parse(const char *s, enum certo_conn *out)
{
    for (int i = 0; i < CERTO_CONN__COUNT; i++) {
        if (strcmp(s, conn_names[i]) == 0) {
            *out = (enum certo_conn)i;
            return true;
        }
    }
    return false;
}

unsigned
certo_ep_conns(enum certo_ep_type type)
{
    return type < CERTO_EP__COUNT ? type_conns[type] : 0;
}

int
certo_conn_default_port(enum certo_conn c)
{
    switch (c) {
    case CERTO_CONN_SSH:
    case CERTO_CONN_SSH_WINDOWS:
        return 22;
    case CERTO_CONN_WINRM_HTTP:
        return 5985;
    case CERTO_CONN_WINRM_HTTPS:
    case CERTO_CONN_WINRM_HTTPS_INSECURE:
        return 5986;
    case CERTO_CONN_REST:
    case CERTO_CONN_REST_INSECURE:
        return 443;
    case CERTO_CONN_LOCAL:
    case CERTO_CONN__COUNT:
        break;
    }
    return 0;
}

const char *
certo_ep_vendor(enum certo_ep_type t)
{
    return t < CERTO_EP__COUNT ? vendors[t] : "?";
}

static bool
env_true(const char *v)
{
    return v != NULL && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0);
}

void
certo_gw_host_detect(struct certo_gw_host *out)
{
    const char *v = getenv("CERTO_CONTAINER");

    memset(out, 0, sizeof(*out));
    if (v != NULL && v[0] != '\0')
        out->container = env_true(v);
    else
        out->container =
            certo_file_exists("/.dockerenv") || certo_file_exists("/run/.containerenv");
}

void
certo_endpoint_dispose(struct certo_endpoint *ep)
{
    if (ep == NULL)
        return;
    for (int i = 0; i < CERTO_F__COUNT; i++)
        CERTO_FREE(ep->val[i]);
}

void
certo_endpoint_copy(struct certo_endpoint *dst, const struct certo_endpoint *src)
{
    *dst = *src;
    for (int i = 0; i < CERTO_F__COUNT; i++)
        dst->val[i] = src->val[i] != NULL ? certo_strdup(src->val[i]) : NULL;
}

void
certo_endpoint_set(struct certo_endpoint *ep, enum certo_ep_field f, const char *v)
{
    CERTO_ASSERT(f < CERTO_F__COUNT);
    CERTO_FREE(ep->val[f]);
    ep->val[f] = v != NULL ? certo_strdup(v) : NULL;
}

const char *
certo_endpoint_get(const struct certo_endpoint *ep, enum certo_ep_field f)
{
    return f < CERTO_F__COUNT ? ep->val[f] : NULL;
}

enum certo_conn
certo_endpoint_conn(const struct certo_endpoint *ep)
{
    enum certo_conn c = CERTO_CONN_LOCAL;
    const char *v = ep->val[CERTO_F_CONNECTION_TYPE];

    if (v != NULL && certo_conn_parse(v, &c))
        return c;
    return CERTO_CONN_LOCAL;
}

/* Strict decimal: digits only, no sign, no spaces, no leading zero. */
static bool
parse_port(const char *v, int *out)
{
    long n = 0;

    if (v[0] == '\0' || v[0] == '0' || strlen(v) > 5)
        return false;
    for (const char *p = v; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return false;
        n = n * 10 + (*p - '0');
    }
    if (n < 1 || n > 65535)
        return false;
    *out = (int)n;
    return true;
}

int
certo_endpoint_port(const struct certo_endpoint *ep)
{
    const char *v = ep->val[CERTO_F_PORT];
    int port = 0;

    if (v != NULL && parse_port(v, &port))
        return port;
    return certo_conn_default_port(certo_endpoint_conn(ep));
}

/* ---- value rules ---- */

/*
 * Counts the characters (code points) of 's' and refuses invalid UTF-8 and control
 * characters (C0, DEL, C1): they would corrupt listings and terminals.
 */
static certo_rc
check_text(const char *opt, const char *s, size_t min, size_t max, struct certo_err *err)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t left = strlen(s), chars = 0;

    while (left > 0) {
        uint32_t cp = 0;
        size_t n = certo_utf8_decode(p, left, &cp);
        if (n == 0)
            return certo_err_set(err, CERTO_EINVAL, "gateway.endpoint", "--%s must be valid UTF-8",
                                 opt);
        if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0))
            return certo_err_set(err, CERTO_EINVAL, "gateway.endpoint",
                                 "--%s must not contain control characters", opt);
        p += n;
        left -= n;
        chars++;
    }
    if (chars < min || chars > max) {
        if (max == SIZE_MAX)
            return certo_err_set(err, CERTO_EINVAL, "gateway.endpoint",
                                 "--%s must be at least %zu character%s long", opt, min,
                                 min == 1 ? "" : "s");
        return certo_err_set(err, CERTO_EINVAL, "gateway.endpoint",
                             "--%s must be between %zu and %zu characters (got %zu)", opt, min, max,
                             chars);
    }
    return CERTO_OK;
}

/*
 * A host is an IPv4 or IPv6 address (optionally in brackets) or a DNS name: labels of
 * letters, digits, '-' and '_' of 1-63 characters, not starting or ending with '-'.
 */
static bool
host_ok(const char *h)
{
    unsigned char addr[16];
    char tmp[HOST_MAX_CHARS + 1];
    size_t len = strlen(h), label = 0;

    if (len > HOST_MAX_CHARS)
        return false;
    if (inet_pton(AF_INET, h, addr) == 1 || inet_pton(AF_INET6, h, addr) == 1)
        return true;
    if (len > 2 && h[0] == '[' && h[len - 1] == ']') {
        memcpy(tmp, h + 1, len - 2);
        tmp[len - 2] = '\0';
        return inet_pton(AF_INET6, tmp, addr) == 1;
    }
    for (size_t i = 0; i <= len; i++) {
        char c = h[i];
        if (c == '.' || c == '\0') {
            if (label == 0 && !(c == '\0' && i > 0 && h[i - 1] == '.'))
                return false;
            if (label > 63 || (i > 0 && h[i - 1] == '-'))
                return false;
            label = 0;
            continue;
        }
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && c != '-' && c != '_')
            return false;
        if (c == '-' && label == 0)
            return false;
        label++;
    }
    return true;
}

/* Absolute for the host that will use the path: POSIX, or Windows (C:\ C:/ \\server). */
static bool
path_absolute(const char *p, bool windows)
{
    if (p[0] == '/')
        return true;
    if (!windows)
        return false;
    bool drive = ((p[0] >= 'A' && p[0] <= 'Z') || (p[0] >= 'a' && p[0] <= 'z')) && p[1] == ':' &&
                 (p[2] == '\\' || p[2] == '/');
    return drive || (p[0] == '\\' && p[1] == '\\');
}

static void
conn_list(char *out, size_t cap, unsigned mask)
{
    size_t o = 0;

    out[0] = '\0';
    for (int c = 0; c < CERTO_CONN__COUNT; c++) {
        if ((mask & (1u << c)) == 0)
            continue;
        int n = snprintf(out + o, cap - o, "%s%s", o > 0 ? ", " : "", conn_names[c]);
        if (n < 0 || (size_t)n >= cap - o)
            break;
        o += (size_t)n;
    }
}

static certo_rc
check_conn(struct certo_endpoint *ep, const struct certo_gw_host *host, enum certo_conn *out,
           struct certo_err *err)
{
    const char *v = ep->val[CERTO_F_CONNECTION_TYPE];
    const char *tn = type_names[ep->type];
    unsigned valid = type_conns[ep->type];
    enum certo_conn c;
    char list[160];

    conn_list(list, sizeof(list), valid);
    if (v == NULL)
        return certo_err_set(err, CERTO_EINVAL, "gateway.endpoint",
                             "--connection_type is required (valid for %s: %s)", tn, list);
    if (!certo_conn_parse(v, &c) || (valid & (1u << c)) == 0)
        return certo_err_set(err, CERTO_EINVAL, "gateway.endpoint",
                             "--connection_type '%.64s' is not valid for %s; the valid types "
                             "are: %s",
                             v, tn, list);
    if (c == CERTO_CONN_LOCAL && host->container) {
        conn_list(list, sizeof(list), valid & ~C(LOCAL));
        return certo_err_set(err, CERTO_EINVAL, "gateway.endpoint",
                             "--connection_type local is not available on a gateway in a "
                             "container (remote only); valid here for %s: %s",
                             tn, list);
    }
    /* Seed 004's gateway table: IIS is local only to a Windows gateway. */
    if (c == CERTO_CONN_LOCAL && ep->type == CERTO_EP_IIS && !host->windows) {
        conn_list(list, sizeof(list), valid & ~C(LOCAL));
        return certo_err_set(err, CERTO_EINVAL, "gateway.endpoint",
                             "--connection_type local is not available for iis on a Linux "
                             "gateway (remote only); valid here: %s",
                             list);
    }
    *out = c;
    return CERTO_OK;
}

/* Options a local endpoint has no use for: the seed says to remove unused options. */
static const enum certo_ep_field remote_only[] = {
    CERTO_F_HOST,     CERTO_F_PORT,          CERTO_F_USER,
    CERTO_F_PASSWORD, CERTO_F_SSH_KEY_PATH,  CERTO_F_SSH_KEY_PASSWORD,
    CERTO_F_STORE,    CERTO_F_STORE_CRED_ID,
};

static bool
given(const struct certo_endpoint *ep, unsigned secrets, enum certo_ep_field f)
{
    if (fields[f].kind == CERTO_FK_SECRET)
        return (secrets & (1u << f)) != 0;
    return ep->val[f] != NULL;
}

static certo_rc
check_remote(struct certo_endpoint *ep, unsigned secrets, enum certo_conn c, struct certo_err *err)
{
    const char *cn = conn_names[c];
    bool ssh = (SSHS & (1u << c)) != 0;
    bool store = ep->val[CERTO_F_STORE] != NULL;
    bool password = given(ep, secrets, CERTO_F_PASSWORD);
    bool key = ep->val[CERTO_F_SSH_KEY_PATH] != NULL;
    certo_rc rc;
    int port = 0;

    if (ep->val[CERTO_F_HOST] == NULL)
        return certo_err_set(err, CERTO_EINVAL, "gateway.endpoint",
                             "--host is required with --connection_type %s", cn);
    rc = check_text("host", ep->val[CERTO_F_HOST], 1, HOST_MAX_CHARS, err);
    if (rc != CERTO_OK)
        return rc;
    if (!host_ok(ep->val[CERTO_F_HOST]))
        return certo_err_set(err, CERTO_EINVAL, "gateway.endpoint",
                             "--host '%.64s' is not a host name or an IP address",
                             ep->val[CERTO_F_HOST]);
    if (ep->val[CERTO_F_PORT] != NULL && !parse_port(ep->val[CERTO_F_PORT], &port))
        return certo_err_set(err, CERTO_EINVAL, "gateway.endpoint",
                             "--port must be an integer between 1 and 65535, not '%.32s'",
                             ep->val[CERTO_F_PORT]);
    if (ep->val[CERTO_F_USER] != NULL) {
        rc = check_text("user", ep->val[CERTO_F_USER], 1, USER_MAX_CHARS, err);
        if (rc != CERTO_OK)
            return rc;
    }
    if (!ssh && (key || given(ep, secrets, CERTO_F_SSH_KEY_PASSWORD)))
        return certo_err_set(err, CERTO_EINVAL, "gateway.endpoint",
                             "--%s is not used with --connection_type %s (it authenticates "
                             "with --user and --password, or a credential store)",
                             key ? "ssh_key_path" : "ssh_key_password", cn);
    if (given(ep, secrets, CERTO_F_SSH_KEY_PASSWORD) && !key)
        return certo_err_set(err, CERTO_EINVAL, "gateway.endpoint",
                             "--ssh_key_password needs --ssh_key_path");
    if (key) {
        rc = check_text("ssh_key_path", ep->val[CERTO_F_SSH_KEY_PATH], 1, CERTO_PATH_MAX, err);
        if (rc != CERTO_OK)
            return rc;
    }
    if (store != (ep->val[CERTO_F_STORE_CRED_ID] != NULL))
        return certo_err_set(err, CERTO_EINVAL, "gateway.endpoint", "--%s is required with --%s",
                             store ? "store_cred_id" : "store", store ? "store" : "store_cred_id");
    if (store) {
        rc = check_text("store", ep->val[CERTO_F_STORE], 1, NAME_MAX_CHARS, err);
        if (rc == CERTO_OK)
            rc = check_text("store_cred_id", ep->val[CERTO_F_STORE_CRED_ID], 1, ID_MAX_CHARS, err);
        if (rc != CERTO_OK)
            return rc;
        if (password || key)
            return certo_err_set(err, CERTO_EINVAL, "gateway.endpoint",
                                 "--store supplies the credentials: give it without --%s",
                                 password ? "password" : "ssh_key_path");
        return CERTO_OK;
    }
    if (!password && !key)
        return certo_err_set(err, CERTO_EINVAL, "gateway.endpoint",
                             "--connection_type %s needs credentials: %s, or --store with "
                             "--store_cred_id",
                             cn, ssh ? "--password or --ssh_key_path" : "--password");
    if (ep->val[CERTO_F_USER] == NULL)
        return certo_err_set(err, CERTO_EINVAL, "gateway.endpoint",
                             "--user is required with --connection_type %s", cn);
    return CERTO_OK;
}

static certo_rc
check_paths(struct certo_endpoint *ep, enum certo_conn c, struct certo_err *err)
{
    bool windows = c == CERTO_CONN_SSH_WINDOWS || (WINRM & (1u << c)) != 0;
    certo_rc rc;

    for (int f = CERTO_F_APACHECTL_PATH; f <= CERTO_F_RESTART_SCRIPT; f++) {
        const char *v = ep->val[f];
        if (v == NULL || fields[f].kind != CERTO_FK_PATH)
            continue;
        rc = check_text(fields[f].name, v, 1, f == CERTO_F_TOMCAT_DIR ? SIZE_MAX : CERTO_PATH_MAX,
                        err);
        if (rc == CERTO_OK && f == CERTO_F_TOMCAT_DIR && strlen(v) > CERTO_PATH_MAX)
            rc = certo_err_set(err, CERTO_EINVAL, "gateway.endpoint",
                               "--tomcat_dir must be at most %d characters", CERTO_PATH_MAX);
        if (rc != CERTO_OK)
            return rc;
        if (!path_absolute(v, windows))
            return certo_err_set(err, CERTO_EINVAL, "gateway.endpoint",
                                 "--%s must be an absolute path on the endpoint, not '%.64s'",
                                 fields[f].name, v);
    }
    return CERTO_OK;
}

certo_rc
certo_endpoint_validate(struct certo_endpoint *ep, unsigned secrets,
                        const struct certo_gw_host *host, struct certo_err *err)
{
    const char *name = ep->val[CERTO_F_NAME];
    enum certo_conn c = CERTO_CONN_LOCAL;
    certo_rc rc;

    if (ep->type >= CERTO_EP__COUNT)
        return certo_err_set(err, CERTO_EINVAL, "gateway.endpoint", "unknown endpoint type");
    for (int f = 0; f < CERTO_F__COUNT; f++) {
        if (given(ep, secrets, (enum certo_ep_field)f) &&
            !certo_ep_has_field(ep->type, (enum certo_ep_field)f))
            return certo_err_set(err, CERTO_EINVAL, "gateway.endpoint",
                                 "--%s is not an option of %s endpoints", fields[f].name,
                                 type_names[ep->type]);
    }
    if (name == NULL)
        return certo_err_set(err, CERTO_EINVAL, "gateway.endpoint", "--name is required");
    rc = check_text("name", name, 1, NAME_MAX_CHARS, err);
    if (rc != CERTO_OK)
        return rc;
    if (name[0] == ' ' || name[strlen(name) - 1] == ' ')
        return certo_err_set(err, CERTO_EINVAL, "gateway.endpoint",
                             "--name must not begin or end with a space");
    /* Names cannot be mistaken for instance IDs: those have 36 characters. */
    rc = check_conn(ep, host, &c, err);
    if (rc != CERTO_OK)
        return rc;
    if (c == CERTO_CONN_LOCAL) {
        for (size_t i = 0; i < CERTO_ARRAY_LEN(remote_only); i++) {
            if (given(ep, secrets, remote_only[i]))
                return certo_err_set(err, CERTO_EINVAL, "gateway.endpoint",
                                     "--%s is not used with --connection_type local",
                                     fields[remote_only[i]].name);
        }
    } else {
        rc = check_remote(ep, secrets, c, err);
        if (rc != CERTO_OK)
            return rc;
    }
    switch (ep->type) {
    case CERTO_EP_APACHE:
        if (ep->val[CERTO_F_APACHECTL_PATH] == NULL)
            certo_endpoint_set(ep, CERTO_F_APACHECTL_PATH, DEFAULT_APACHECTL);
        break;
    case CERTO_EP_NGINX:
        if (ep->val[CERTO_F_NGINX_CONFIG_PATH] == NULL)
            certo_endpoint_set(ep, CERTO_F_NGINX_CONFIG_PATH, DEFAULT_NGINX_CONF);
        break;
    case CERTO_EP_TOMCAT:
        if (ep->val[CERTO_F_TOMCAT_DIR] == NULL)
            return certo_err_set(err, CERTO_EINVAL, "gateway.endpoint",
                                 "--tomcat_dir is required (the Tomcat directory, for example "
                                 "/opt/tomcat)");
        break;
    case CERTO_EP_P12:
    case CERTO_EP_JKS:
    case CERTO_EP_PEM:
        if (ep->val[CERTO_F_PATH] == NULL)
            return certo_err_set(err, CERTO_EINVAL, "gateway.endpoint",
                                 "--path is required (the %s file)", type_names[ep->type]);
        if (ep->type != CERTO_EP_PEM && !given(ep, secrets, CERTO_F_STORE_PASSWORD))
            return certo_err_set(err, CERTO_EINVAL, "gateway.endpoint",
                                 "--store_password is required (the password of the %s file)",
                                 type_names[ep->type]);
        break;
    case CERTO_EP_IIS:
    case CERTO_EP_F5:
    case CERTO_EP__COUNT:
        break;
    }
    rc = check_paths(ep, c, err);
    if (rc != CERTO_OK)
        return rc;
    if (ep->type == CERTO_EP_P12) {
        const char *v = ep->val[CERTO_F_IS_LEGACY];
        if (v == NULL)
            certo_endpoint_set(ep, CERTO_F_IS_LEGACY, "false");
        else if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0)
            return certo_err_set(err, CERTO_EINVAL, "gateway.endpoint",
                                 "--is_legacy must be true or false, not '%.32s'", v);
    }
    return CERTO_OK;
}

certo_rc
certo_endpoint_absolutize(struct certo_endpoint *ep, struct certo_err *err)
{
    char cwd[CERTO_PATH_MAX + 1];
    const char *conn = ep->val[CERTO_F_CONNECTION_TYPE];
    bool local = conn == NULL || strcmp(conn, "local") == 0;
    bool have_cwd = false;

    for (int f = 0; f < CERTO_F__COUNT; f++) {
        const char *v = ep->val[f];
        /* The SSH key is always the gateway's own file; the others only for local. */
        if (v == NULL || v[0] == '\0' || v[0] == '/' || fields[f].kind != CERTO_FK_PATH)
            continue;
        if (!local && f != CERTO_F_SSH_KEY_PATH)
            continue;
        if (strlen(v) > CERTO_PATH_MAX)
            continue; /* validation names it */
        if (!have_cwd && getcwd(cwd, sizeof(cwd)) == NULL)
            return certo_err_sys(err, CERTO_EIO, "gateway.endpoint",
                                 "cannot resolve --%s: no current directory", fields[f].name);
        have_cwd = true;
        while (v[0] == '.' && v[1] == '/')
            v += 2;
        char *abs = certo_asprintf("%s/%s", strcmp(cwd, "/") == 0 ? "" : cwd, v);
        CERTO_FREE(ep->val[f]);
        ep->val[f] = abs;
    }
    return CERTO_OK;
}

/* ---- checks on the gateway's files ---- */

static certo_rc
check_file(const char *opt, const char *path, int mode, bool dir, struct certo_err *err)
{
    struct stat st;

    if (stat(path, &st) != 0)
        return certo_err_sys(err, certo_file_rc_from_errno(errno), "gateway.endpoint",
                             "--%s %.200s", opt, path);
    if (dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))
        return certo_err_set(err, CERTO_EINVAL, "gateway.endpoint", "--%s %.200s is not a %s", opt,
                             path, dir ? "directory" : "regular file");
    if (access(path, mode) != 0)
        return certo_err_sys(err, CERTO_EPERM, "gateway.endpoint", "--%s %.200s is not %s", opt,
                             path, mode == X_OK ? "executable" : "readable");
    return CERTO_OK;
}

static certo_rc
check_keystore(const struct certo_endpoint *ep, const struct certo_secret *pw,
               struct certo_err *err)
{
    static const enum certo_ks_format formats[CERTO_EP__COUNT] = {
        [CERTO_EP_P12] = CERTO_KS_PKCS12,
        [CERTO_EP_JKS] = CERTO_KS_JKS,
        [CERTO_EP_PEM] = CERTO_KS_PEM,
    };
    const char *path = ep->val[CERTO_F_PATH];
    struct certo_keystore *ks = NULL;
    struct certo_err inner = {0};
    struct stat st;
    certo_rc rc;

    rc = check_file("path", path, R_OK | W_OK, false, err);
    if (rc != CERTO_OK)
        return rc;
    /* An empty PEM file is a valid place to install into. */
    if (ep->type == CERTO_EP_PEM && stat(path, &st) == 0 && st.st_size == 0)
        return CERTO_OK;
    rc = certo_keystore_load(&ks, path, formats[ep->type], pw, &inner);
    certo_keystore_free(ks);
    if (rc == CERTO_EAUTH && ep->type != CERTO_EP_PEM)
        return certo_err_set(err, CERTO_EAUTH, "gateway.endpoint",
                             "--store_password does not open %.200s (wrong password)", path);
    if (rc != CERTO_OK && !(rc == CERTO_EAUTH && ep->type == CERTO_EP_PEM))
        return certo_err_set(err, CERTO_EINVAL, "gateway.endpoint",
                             "--path %.200s is not a readable %s file: %s", path,
                             type_names[ep->type], inner.msg);
    return CERTO_OK;
}

certo_rc
certo_endpoint_check_local(const struct certo_endpoint *ep,
                           const struct certo_secret *store_password, struct certo_err *err)
{
    certo_rc rc = CERTO_OK;

    if (ep->val[CERTO_F_SSH_KEY_PATH] != NULL) {
        rc = check_file("ssh_key_path", ep->val[CERTO_F_SSH_KEY_PATH], R_OK, false, err);
        if (rc != CERTO_OK)
            return rc;
    }
    if (certo_endpoint_conn(ep) != CERTO_CONN_LOCAL)
        return CERTO_OK;
    switch (ep->type) {
    case CERTO_EP_APACHE:
        rc = check_file("apachectl_path", ep->val[CERTO_F_APACHECTL_PATH], X_OK, false, err);
        break;
    case CERTO_EP_NGINX:
        rc = check_file("nginx_config_path", ep->val[CERTO_F_NGINX_CONFIG_PATH], R_OK, false, err);
        break;
    case CERTO_EP_TOMCAT: {
        char *xml = certo_asprintf("%s/conf/server.xml", ep->val[CERTO_F_TOMCAT_DIR]);
        rc = check_file("tomcat_dir", ep->val[CERTO_F_TOMCAT_DIR], R_OK, true, err);
        if (rc == CERTO_OK && !certo_file_exists(xml))
            rc = certo_err_set(err, CERTO_ENOTFOUND, "gateway.endpoint",
                               "--tomcat_dir %.200s has no conf/server.xml",
                               ep->val[CERTO_F_TOMCAT_DIR]);
        certo_free(xml);
        break;
    }
    case CERTO_EP_P12:
    case CERTO_EP_JKS:
    case CERTO_EP_PEM:
        rc = check_keystore(ep, store_password, err);
        for (int f = CERTO_F_INSTALL_SCRIPT; rc == CERTO_OK && f <= CERTO_F_RESTART_SCRIPT; f++) {
            if (ep->val[f] != NULL)
                rc = check_file(fields[f].name, ep->val[f], X_OK, false, err);
        }
        break;
    case CERTO_EP_IIS:
    case CERTO_EP_F5:
    case CERTO_EP__COUNT:
        break;
    }
    return rc;
}
