/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Sessions with a remote `certo server` over libcurl (client layer): one easy handle per
 * session, so the connection (and the client certificate it presented) is reused across
 * calls. The policy is fixed here, not left to libcurl's defaults or the environment:
 * https only, the server verified (system store, a CA file, or a certificate pin checked
 * inside the handshake, before a byte of the request is sent), host name checked, no
 * redirect, no proxy, no .netrc, deadlines, and a cap on every response.
 *
 * Secrets: the token is a certo_secret; every buffer that held it or the password (the
 * login form, the Authorization header copies libcurl keeps, the response of the login,
 * request bodies and responses, which may carry passwords or keys) is wiped before it
 * is freed.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "certo/cert.h"
#include "certo/limits.h"
#include "certo/mem.h"
#include "client/internal.h"

#define WHERE      "client.session"
#define USER_AGENT "certo/" CERTO_CLIENT_VERSION
#define FORM_MAX   (4 * CERTO_SECRET_MAX)

#ifndef CERTO_CLIENT_VERSION
#define CERTO_CLIENT_VERSION "0.1.0"
#endif

struct certo_session {
    CURL *curl;                 /* owned */
    char *base;                 /* "https://host:port/vco/api", owned */
    struct certo_secret *token; /* owned, wiped on close */
    int token_ttl;              /* from the login, 0 for a given token */
    size_t response_max;        /* bytes of one answer */
    char pin[96];               /* the pinned SHA-256, empty when none */
    char seen[96];              /* the SHA-256 the server showed when the pin failed */
    char server_fp[96];         /* the SHA-256 of the last verified server certificate */
    bool pin_failed;
    char *cert_pem; /* owned: the client certificate given as PEM text */
    size_t cert_pem_len;
    char *key_pem; /* owned, secure heap, wiped: its key; libcurl reads it here */
    size_t key_pem_len;
    bool (*stop)(void *arg);
    void *stop_arg;
    char errbuf[CURL_ERROR_SIZE];
};

/* A response body: grows by copying, so no stale copy of a secret stays behind. */
struct resp {
    unsigned char *p;
    size_t len, cap, max;
    bool toobig;
};

static void
resp_wipe(struct resp *r)
{
    if (r->p != NULL)
        certo_free_clear(r->p, r->cap);
    r->p = NULL;
    r->len = r->cap = 0;
}

static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct resp *r = arg;
    size_t n = size * nmemb;

    if (n > r->max - r->len) {
        r->toobig = true;
        return 0;
    }
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap == 0 ? 4096 : r->cap;
        while (cap < r->len + n + 1)
            cap *= 2;
        unsigned char *p = certo_malloc(cap);
        if (r->len > 0)
            memcpy(p, r->p, r->len);
        if (r->p != NULL)
            certo_free_clear(r->p, r->cap);
        r->p = p;
        r->cap = cap;
    }
    memcpy(r->p + r->len, data, n);
    r->len += n;
    r->p[r->len] = '\0';
    return n;
}

/* ---- checks ---- */

certo_rc
certo_client__url_parse(char **base_out, const char *url, struct certo_err *err)
{
    const char *host, *end, *path;
    size_t hlen;
    long port = 0;

    *base_out = NULL;
    if (url == NULL || url[0] == '\0')
        return certo_err_set(err, CERTO_EINVAL, WHERE, "server URL: empty");
    if (strlen(url) > CERTO_CLIENT_URL_MAX)
        return certo_err_set(err, CERTO_EINVAL, WHERE, "server URL: longer than %d bytes",
                             CERTO_CLIENT_URL_MAX);
    for (const char *p = url; *p != '\0'; p++) {
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            return certo_err_set(err, CERTO_EINVAL, WHERE,
                                 "server URL: spaces and control or non-ASCII bytes are not "
                                 "allowed");
    }
    if (strncasecmp(url, "http://", 7) == 0)
        return certo_err_set(err, CERTO_EINVAL, WHERE,
                             "server URL: http:// is refused, the API is served over https:// "
                             "only");
    if (strncasecmp(url, "https://", 8) != 0)
        return certo_err_set(err, CERTO_EINVAL, WHERE,
                             "server URL: '%.200s' does not start with https://", url);
    host = url + 8;
    end = host + strcspn(host, "/?#");
    if (memchr(host, '@', (size_t)(end - host)) != NULL)
        return certo_err_set(err, CERTO_EINVAL, WHERE,
                             "server URL: user:password@ is not allowed (credentials go in "
                             "files, never in a URL)");
    if (host[0] == '[') {
        const char *close = memchr(host, ']', (size_t)(end - host));
        if (close == NULL || close == host + 1 ||
            strspn(host + 1, "0123456789abcdefABCDEF:.") != (size_t)(close - host - 1))
            return certo_err_set(err, CERTO_EINVAL, WHERE, "server URL: bad [IPv6] address");
        hlen = (size_t)(close + 1 - host);
    } else {
        hlen = strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-");
        if (hlen == 0 || hlen > 253 || host[0] == '.' || host[0] == '-')
            return certo_err_set(err, CERTO_EINVAL, WHERE,
                                 "server URL: '%.200s' has no valid host name", url);
    }
    if (host + hlen < end) {
        const char *p = host + hlen;
        char *stop = NULL;
        if (*p != ':' || p + 1 == end || strspn(p + 1, "0123456789") != (size_t)(end - p - 1))
            return certo_err_set(err, CERTO_EINVAL, WHERE,
                                 "server URL: '%.200s' has a bad host or port", url);
        port = strtol(p + 1, &stop, 10);
        if (port < 1 || port > 65535 || end - p > 6)
            return certo_err_set(err, CERTO_EINVAL, WHERE,
                                 "server URL: port must be from 1 to 65535");
    }
    path = end;
    if (strchr(path, '?') != NULL || strchr(path, '#') != NULL)
        return certo_err_set(err, CERTO_EINVAL, WHERE,
                             "server URL: a query or fragment is not allowed");
    if (path[0] != '\0' && strcmp(path, "/") != 0 && strcmp(path, CERTO_CLIENT_API_PATH) != 0 &&
        strcmp(path, CERTO_CLIENT_API_PATH "/") != 0)
        return certo_err_set(
            err, CERTO_EINVAL, WHERE,
            "server URL: the path must be empty or " CERTO_CLIENT_API_PATH ", not '%.200s'", path);
    if (port != 0)
        *base_out = certo_asprintf("https://%.*s:%ld" CERTO_CLIENT_API_PATH, (int)hlen, host, port);
    else
        *base_out = certo_asprintf("https://%.*s" CERTO_CLIENT_API_PATH, (int)hlen, host);
    /* Host names are case-insensitive: keep the base in one spelling. */
    for (char *p = *base_out + 8; *p != '\0' && *p != '/'; p++)
        *p = (char)tolower((unsigned char)*p);
    return CERTO_OK;
}

certo_rc
certo_client__path_check(const char *path, struct certo_err *err)
{
    const char *q;

    if (path == NULL || path[0] != '/')
        return certo_err_set(err, CERTO_EINVAL, WHERE, "call path must start with '/'");
    if (strlen(path) > CERTO_CLIENT_URL_MAX)
        return certo_err_set(err, CERTO_EINVAL, WHERE, "call path: too long");
    for (const char *p = path; *p != '\0'; p++) {
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || *p == '#' || *p == '\\')
            return certo_err_set(err, CERTO_EINVAL, WHERE,
                                 "call path: only printable ASCII without spaces");
    }
    q = path + strcspn(path, "?");
    for (const char *p = path; p < q; p++) {
        if (p[0] == '/' && p[1] == '/')
            return certo_err_set(err, CERTO_EINVAL, WHERE, "call path: empty segment");
        if (p[0] == '/' && p[1] == '.' &&
            (p[2] == '/' || p + 2 == q || p[2] == '\0' ||
             (p[2] == '.' && (p[3] == '/' || p + 3 == q))))
            return certo_err_set(err, CERTO_EINVAL, WHERE, "call path: '.' or '..' segment");
    }
    if (strstr(path, "://") != NULL)
        return certo_err_set(err, CERTO_EINVAL, WHERE, "call path: a URL, not a path");
    return CERTO_OK;
}

bool
certo_client__pin_parse(char out[96], const char *text)
{
    char digits[64];
    size_t n = 0;

    if (text == NULL)
        return false;
    for (const char *p = text; *p != '\0'; p++) {
        if (*p == ':') {
            /* Colons only between pairs. */
            if (n == 0 || n % 2 != 0 || p[1] == '\0' || p[1] == ':')
                return false;
            continue;
        }
        if (!isxdigit((unsigned char)*p) || n == sizeof(digits))
            return false;
        digits[n++] = (char)toupper((unsigned char)*p);
    }
    if (n != sizeof(digits))
        return false;
    for (size_t i = 0; i < 32; i++) {
        out[i * 3] = digits[i * 2];
        out[i * 3 + 1] = digits[i * 2 + 1];
        out[i * 3 + 2] = i < 31 ? ':' : '\0';
    }
    return true;
}

certo_rc
certo_client__error_from_body(int status, const void *body, size_t len, struct certo_err *err)
{
    json_t *doc = NULL, *e;
    const char *code = NULL, *msg = NULL, *field = NULL;
    certo_rc rc;

    if (body != NULL && len > 0)
        doc = json_loadb(body, len, 0, NULL);
    e = json_object_get(doc, "error");
    if (json_is_object(e)) {
        code = json_string_value(json_object_get(e, "code"));
        msg = json_string_value(json_object_get(e, "message"));
        field = json_string_value(json_object_get(e, "field"));
    }
    switch (status) {
    case 400:
        rc = code != NULL && strcmp(code, "invalid_grant") == 0 ? CERTO_EAUTH : CERTO_EINVAL;
        break;
    case 401:
        rc = CERTO_EAUTH;
        break;
    case 403:
        rc = CERTO_EPERM;
        break;
    case 404:
        rc = CERTO_ENOTFOUND;
        break;
    case 409:
        rc = code != NULL && strcmp(code, "exists") == 0 ? CERTO_EEXIST : CERTO_ECONFLICT;
        break;
    case 413:
        rc = CERTO_ETOOBIG;
        break;
    default:
        rc = status >= 400 && status < 500 ? CERTO_EINVAL : CERTO_EREMOTE;
        break;
    }
    if (msg == NULL || msg[0] == '\0') {
        rc = certo_err_set(err, rc, WHERE, "the server answered HTTP %d%s", status,
                           status == 413 ? " (request too large)" : "");
    } else if (field != NULL && field[0] != '\0' &&
               !(strncmp(msg, field, strlen(field)) == 0 && msg[strlen(field)] == ':')) {
        rc = certo_err_set(err, rc, WHERE, "%.100s: %.380s", field, msg);
    } else {
        rc = certo_err_set(err, rc, WHERE, "%.480s", msg);
    }
    if (err != NULL && status >= 500)
        err->flags |= CERTO_ERR_RETRYABLE;
    json_decref(doc);
    return rc;
}

/* ---- TLS ---- */

/*
 * The server's certificate check. With a pin it replaces the chain check: the leaf's
 * SHA-256 must be the pin. Without one, OpenSSL's own chain check decides. Either way
 * the fingerprint of a certificate that passed is remembered (certo_session_server_fp_get0).
 */
static int
server_verify(X509_STORE_CTX *x, void *arg)
{
    struct certo_session *s = arg;
    X509 *leaf = X509_STORE_CTX_get0_cert(x);
    struct certo_err ignored = {0};
    char fp[96];

    if (leaf == NULL || certo_cert_fingerprint(fp, leaf, &ignored) != CERTO_OK) {
        X509_STORE_CTX_set_error(x, X509_V_ERR_UNSPECIFIED);
        return 0;
    }
    if (s->pin[0] == '\0') {
        int ok = X509_verify_cert(x);
        if (ok == 1)
            memcpy(s->server_fp, fp, sizeof(s->server_fp));
        return ok == 1 ? 1 : 0;
    }
    if (strlen(fp) == strlen(s->pin) && CRYPTO_memcmp(fp, s->pin, strlen(fp)) == 0) {
        memcpy(s->server_fp, fp, sizeof(s->server_fp));
        X509_STORE_CTX_set_error(x, X509_V_OK);
        return 1;
    }
    memcpy(s->seen, fp, sizeof(s->seen));
    s->pin_failed = true;
    X509_STORE_CTX_set_error(x, X509_V_ERR_CERT_REJECTED);
    return 0;
}

static CURLcode
on_ssl_ctx(CURL *curl, void *ssl_ctx, void *arg)
{
    (void)curl;
    SSL_CTX_set_cert_verify_callback(ssl_ctx, server_verify, arg);
    return CURLE_OK;
}

/* libcurl's progress hook: abandons the call when the owner asks to stop. */
static int
on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    struct certo_session *s = arg;

    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return s->stop != NULL && s->stop(s->stop_arg) ? 1 : 0;
}

/* ---- transport ---- */

/* A libcurl failure as a code and a message (never with a secret: URLs have none). */
static certo_rc
curl_error(struct certo_session *s, CURLcode cc, const struct resp *r, struct certo_err *err)
{
    const char *detail = s->errbuf[0] != '\0' ? s->errbuf : curl_easy_strerror(cc);

    if (s->pin_failed)
        return certo_err_set(err, CERTO_ETLS, WHERE,
                             "%s: the server's certificate has SHA-256 %s, not the pinned %s; "
                             "nothing was sent",
                             s->base, s->seen, s->pin);
    switch (cc) {
    case CURLE_ABORTED_BY_CALLBACK:
        return CERTO_EAGAIN; /* the owner stopped the call: not a failure, not recorded */
    case CURLE_WRITE_ERROR:
        if (r->toobig)
            return certo_err_set(err, CERTO_ETOOBIG, WHERE,
                                 "%s: the answer is larger than %zu bytes", s->base, r->max);
        break;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        return certo_err_set(err, CERTO_ETLS, WHERE,
                             "%s: TLS verification of the server failed: %s", s->base, detail);
    case CURLE_SSL_CERTPROBLEM:
        return certo_err_set(err, CERTO_EINVAL, WHERE, "client certificate or key: %s", detail);
    case CURLE_OPERATION_TIMEDOUT: {
        struct certo_err *e = err;
        certo_rc rc =
            certo_err_set(e, CERTO_ETIMEDOUT, WHERE, "%s: no answer in time: %s", s->base, detail);
        if (e != NULL)
            e->flags |= CERTO_ERR_RETRYABLE;
        return rc;
    }
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE: {
        certo_rc rc = certo_err_set(err, CERTO_ENET, WHERE, "%s: %s", s->base, detail);
        if (err != NULL)
            err->flags |= CERTO_ERR_RETRYABLE;
        return rc;
    }
    default:
        break;
    }
    return certo_err_set(err, CERTO_ENET, WHERE, "%s: %s", s->base, detail);
}

/* Wipes the strings of a header list (one of them is the Authorization header), frees it. */
static void
headers_free(struct curl_slist *h)
{
    for (struct curl_slist *p = h; p != NULL; p = p->next)
        OPENSSL_cleanse(p->data, strlen(p->data));
    curl_slist_free_all(h);
}

/* Appends "Authorization: Bearer TOKEN" through a wiped temporary. */
static certo_rc
headers_auth(struct curl_slist **h, const struct certo_secret *token)
{
    static const char prefix[] = "Authorization: Bearer ";
    size_t n = sizeof(prefix) - 1 + certo_secret_len(token) + 1;
    char *line = OPENSSL_secure_malloc(n);
    struct curl_slist *next;

    if (line == NULL)
        return CERTO_ENOMEM;
    memcpy(line, prefix, sizeof(prefix) - 1);
    memcpy(line + sizeof(prefix) - 1, certo_secret_get0(token), certo_secret_len(token) + 1);
    next = curl_slist_append(*h, line);
    OPENSSL_secure_clear_free(line, n);
    if (next == NULL)
        return CERTO_ENOMEM;
    *h = next;
    return CERTO_OK;
}

/*
 * One exchange. 'body' (len bytes, 'ctype') is sent for a non-GET; the answer lands in
 * 'r' and its status in *status. Only transport failures are errors here.
 */
static certo_rc
exchange(struct certo_session *s, const char *method, const char *path, const char *ctype,
         const char *body, size_t len, bool auth, struct resp *r, int *status,
         struct certo_err *err)
{
    struct curl_slist *h = NULL, *next;
    char *url = certo_asprintf("%s%s", s->base, path);
    char ct[64];
    long code = 0;
    CURLcode cc;
    certo_rc rc = CERTO_OK;

    *status = 0;
    s->errbuf[0] = '\0';
    s->pin_failed = false;
    next = curl_slist_append(h, "Accept: application/json");
    if (next != NULL) {
        h = next;
        next = curl_slist_append(h, "Expect:");
    }
    if (next != NULL && ctype != NULL) {
        h = next;
        snprintf(ct, sizeof(ct), "Content-Type: %s", ctype);
        next = curl_slist_append(h, ct);
    }
    if (next == NULL) {
        rc = certo_err_set(err, CERTO_ENOMEM, WHERE, "out of memory");
        goto out;
    }
    h = next;
    if (auth && s->token != NULL && headers_auth(&h, s->token) != CERTO_OK) {
        rc = certo_err_set(err, CERTO_ENOMEM, WHERE, "out of memory");
        goto out;
    }
    curl_easy_setopt(s->curl, CURLOPT_URL, url);
    curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(s->curl, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(s->curl, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(s->curl, CURLOPT_CUSTOMREQUEST, NULL);
    if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(s->curl, CURLOPT_POST, 1L);
        curl_easy_setopt(s->curl, CURLOPT_POSTFIELDS, body != NULL ? body : "");
        curl_easy_setopt(s->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        if (strcmp(method, "POST") != 0)
            curl_easy_setopt(s->curl, CURLOPT_CUSTOMREQUEST, method);
    }
    cc = curl_easy_perform(s->curl);
    /* Nothing of this call may be reused by the next one. */
    curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(s->curl, CURLOPT_POSTFIELDS, NULL);
    if (cc != CURLE_OK) {
        rc = curl_error(s, cc, r, err);
        goto out;
    }
    curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &code);
    *status = (int)code;
    if (code >= 300 && code < 400)
        rc = certo_err_set(err, CERTO_EREMOTE, WHERE,
                           "%s%s: the server answered a redirect (HTTP %ld), which is not "
                           "followed",
                           s->base, path, code);
out:
    headers_free(h);
    certo_free(url);
    return rc;
}

/* ---- login ---- */

/* Appends 'v' percent-encoded (application/x-www-form-urlencoded) to 'out' at *n. */
static bool
form_put(char *out, size_t max, size_t *n, const char *v, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)v[i];
        if (*n + 4 > max)
            return false;
        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out[(*n)++] = (char)c;
        } else {
            out[(*n)++] = '%';
            out[(*n)++] = hex[c >> 4];
            out[(*n)++] = hex[c & 15];
        }
    }
    out[*n] = '\0';
    return true;
}

static certo_rc
login(struct certo_session *s, const struct certo_session_opts *o, struct certo_err *err)
{
    struct resp r = {.max = 1024 * 1024};
    char *form = OPENSSL_secure_zalloc(FORM_MAX);
    char ttl[32];
    size_t n = 0;
    json_t *doc = NULL, *tok;
    int status = 0;
    certo_rc rc;

    if (form == NULL)
        return certo_err_set(err, CERTO_ENOMEM, WHERE, "out of memory");
    snprintf(ttl, sizeof(ttl), "&expires_in=%d", o->token_ttl);
    /* The names and separators are written as they are, the values encoded. */
    memcpy(form, "grant_type=password&username=", 29);
    n = 29;
    if (!form_put(form, FORM_MAX, &n, o->user, strlen(o->user)) || n + 11 > FORM_MAX) {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE, "user name: too long");
        goto out;
    }
    memcpy(form + n, "&password=", 10);
    n += 10;
    if (!form_put(form, FORM_MAX, &n, certo_secret_get0(o->password),
                  certo_secret_len(o->password)) ||
        (o->token_ttl > 0 && n + strlen(ttl) + 1 > FORM_MAX)) {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE, "password: too long");
        goto out;
    }
    if (o->token_ttl > 0) {
        memcpy(form + n, ttl, strlen(ttl) + 1);
        n += strlen(ttl);
    }
    rc = exchange(s, "POST", "/auth/token", "application/x-www-form-urlencoded", form, n, false, &r,
                  &status, err);
    if (rc != CERTO_OK)
        goto out;
    if (status != 200) {
        rc = certo_client__error_from_body(status, r.p, r.len, err);
        goto out;
    }
    doc = json_loadb((const char *)r.p, r.len, 0, NULL);
    tok = json_object_get(doc, "access_token");
    if (!json_is_string(tok) || json_string_length(tok) == 0) {
        rc = certo_err_set(err, CERTO_EREMOTE, WHERE, "%s: the login answer holds no token",
                           s->base);
        goto out;
    }
    rc = certo_secret_new(&s->token, json_string_value(tok), json_string_length(tok));
    /* Jansson's copy of the token is wiped in place before it is freed. */
    OPENSSL_cleanse((char *)(uintptr_t)json_string_value(tok), json_string_length(tok));
    if (rc != CERTO_OK) {
        rc = certo_err_set(err, rc, WHERE, "the token is larger than %d bytes", CERTO_SECRET_MAX);
        goto out;
    }
    s->token_ttl = (int)json_integer_value(json_object_get(doc, "expires_in"));
out:
    json_decref(doc);
    resp_wipe(&r);
    OPENSSL_secure_clear_free(form, FORM_MAX);
    return rc;
}

/* ---- the session ---- */

static certo_rc
check_file(const char *path, const char *what, struct certo_err *err)
{
    if (path == NULL)
        return CERTO_OK;
    if (path[0] == '\0' || access(path, R_OK) != 0)
        return certo_err_sys(err, CERTO_EINVAL, WHERE, "%s %s: cannot read", what,
                             path[0] != '\0' ? path : "''");
    return CERTO_OK;
}

certo_rc
certo_session_open(struct certo_session **out, const struct certo_session_opts *opts,
                   struct certo_err *err)
{
    struct certo_session *s = NULL;
    certo_rc rc = CERTO_EINTERNAL;

    *out = NULL;
    CERTO_ASSERT(opts != NULL);
    s = certo_calloc(1, sizeof(*s));
    rc = certo_client__url_parse(&s->base, opts->url, err);
    if (rc != CERTO_OK)
        goto out;
    if (opts->no_credential &&
        (opts->token != NULL || opts->user != NULL || opts->password != NULL)) {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE,
                           "a session without credentials takes no token, user or password");
        goto out;
    }
    if (!opts->no_credential &&
        (opts->token != NULL) == (opts->user != NULL || opts->password != NULL)) {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE,
                           "give one credential: a token, or a user name and a password");
        goto out;
    }
    if (!opts->no_credential && opts->token == NULL &&
        (opts->user == NULL || opts->user[0] == '\0' || opts->password == NULL ||
         certo_secret_len(opts->password) == 0)) {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE,
                           opts->password == NULL || certo_secret_len(opts->password) == 0
                               ? "password: missing or empty"
                               : "user name: missing or empty");
        goto out;
    }
    if (opts->token != NULL &&
        (certo_secret_len(opts->token) == 0 ||
         strspn(certo_secret_get0(opts->token),
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=") !=
             certo_secret_len(opts->token))) {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE,
                           "token: empty, or not a bearer token (a token file holds the token "
                           "on its first line)");
        goto out;
    }
    if (opts->token_ttl != 0 && (opts->token_ttl < 60 || opts->token_ttl > 28800)) {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE, "token life: 60 to 28800 seconds");
        goto out;
    }
    if (opts->ca_file != NULL && opts->fingerprint != NULL) {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE,
                           "give a CA file or a fingerprint to verify the server, not both");
        goto out;
    }
    if (opts->fingerprint != NULL && !certo_client__pin_parse(s->pin, opts->fingerprint)) {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE,
                           "server fingerprint: not a SHA-256 fingerprint (64 hex digits, colons "
                           "optional)");
        goto out;
    }
    if (opts->client_key != NULL && opts->client_cert == NULL) {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE, "a client key needs its client certificate");
        goto out;
    }
    if ((opts->client_cert_pem != NULL || opts->client_key_pem != NULL) &&
        (opts->client_cert != NULL || opts->client_cert_pem == NULL ||
         opts->client_key_pem == NULL)) {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE,
                           "a client certificate in memory needs its key in memory, and no "
                           "certificate file");
        goto out;
    }
    rc = check_file(opts->ca_file, "CA file", err);
    if (rc == CERTO_OK)
        rc = check_file(opts->client_cert, "client certificate", err);
    if (rc == CERTO_OK)
        rc = check_file(opts->client_key, "client key", err);
    if (rc != CERTO_OK)
        goto out;
    if (opts->token != NULL) {
        rc = certo_secret_new(&s->token, certo_secret_get0(opts->token),
                              certo_secret_len(opts->token));
        if (rc != CERTO_OK) {
            rc = certo_err_set(err, rc, WHERE, "token: too long");
            goto out;
        }
    }
    if (opts->client_cert_pem != NULL) {
        s->cert_pem_len = strlen(opts->client_cert_pem);
        s->cert_pem = certo_strdup(opts->client_cert_pem);
        s->key_pem_len = certo_secret_len(opts->client_key_pem);
        s->key_pem = OPENSSL_secure_malloc(s->key_pem_len + 1);
        if (s->key_pem == NULL) {
            rc = certo_err_set(err, CERTO_ENOMEM, WHERE, "out of memory");
            goto out;
        }
        memcpy(s->key_pem, certo_secret_get0(opts->client_key_pem), s->key_pem_len + 1);
    }
    s->stop = opts->stop;
    s->stop_arg = opts->stop_arg;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        rc = certo_err_set(err, CERTO_ENOMEM, WHERE, "libcurl does not start");
        goto out;
    }
    s->curl = curl_easy_init();
    if (s->curl == NULL) {
        curl_global_cleanup();
        rc = certo_err_set(err, CERTO_ENOMEM, WHERE, "libcurl does not start");
        goto out;
    }
    s->response_max = opts->response_max > 0 ? opts->response_max : CERTO_CLIENT_RESPONSE_MAX;
    curl_easy_setopt(s->curl, CURLOPT_ERRORBUFFER, s->errbuf);
    curl_easy_setopt(s->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(s->curl, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(s->curl, CURLOPT_REDIR_PROTOCOLS_STR, "https");
    curl_easy_setopt(s->curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(s->curl, CURLOPT_PROXY, "");
    curl_easy_setopt(s->curl, CURLOPT_NETRC, (long)CURL_NETRC_IGNORED);
    curl_easy_setopt(s->curl, CURLOPT_USERAGENT, USER_AGENT);
    curl_easy_setopt(s->curl, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms
                                                         : CERTO_CLIENT_CONNECT_TIMEOUT_MS));
    curl_easy_setopt(s->curl, CURLOPT_TIMEOUT_MS,
                     (long)(opts->timeout_ms > 0 ? opts->timeout_ms : CERTO_CLIENT_TIMEOUT_MS));
    curl_easy_setopt(s->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(s->curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    curl_easy_setopt(s->curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(s->curl, CURLOPT_SSL_VERIFYHOST, 2L);
    if (opts->ca_file != NULL) {
        /* Only these certificates: not the system directory beside them. */
        curl_easy_setopt(s->curl, CURLOPT_CAINFO, opts->ca_file);
        curl_easy_setopt(s->curl, CURLOPT_CAPATH, NULL);
    }
    curl_easy_setopt(s->curl, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
    curl_easy_setopt(s->curl, CURLOPT_SSL_CTX_DATA, s);
    if (s->stop != NULL) {
        curl_easy_setopt(s->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(s->curl, CURLOPT_XFERINFODATA, s);
        curl_easy_setopt(s->curl, CURLOPT_NOPROGRESS, 0L);
    }
    if (s->cert_pem != NULL) {
        /* From memory, without a copy: the session keeps both until libcurl is done. */
        struct curl_blob cert = {
            .data = s->cert_pem, .len = s->cert_pem_len, .flags = CURL_BLOB_NOCOPY};
        struct curl_blob key = {
            .data = s->key_pem, .len = s->key_pem_len, .flags = CURL_BLOB_NOCOPY};
        curl_easy_setopt(s->curl, CURLOPT_SSLCERT_BLOB, &cert);
        curl_easy_setopt(s->curl, CURLOPT_SSLCERTTYPE, "PEM");
        curl_easy_setopt(s->curl, CURLOPT_SSLKEY_BLOB, &key);
        curl_easy_setopt(s->curl, CURLOPT_SSLKEYTYPE, "PEM");
    }
    if (opts->client_cert != NULL) {
        curl_easy_setopt(s->curl, CURLOPT_SSLCERT, opts->client_cert);
        curl_easy_setopt(s->curl, CURLOPT_SSLCERTTYPE, "PEM");
        curl_easy_setopt(s->curl, CURLOPT_SSLKEY,
                         opts->client_key != NULL ? opts->client_key : opts->client_cert);
        curl_easy_setopt(s->curl, CURLOPT_SSLKEYTYPE, "PEM");
    }
    if (opts->token == NULL && !opts->no_credential) {
        rc = login(s, opts, err);
        if (rc != CERTO_OK)
            goto out;
    }
    *out = s;
    s = NULL;
    rc = CERTO_OK;
out:
    certo_session_close(s); /* also ends libcurl's global state it started */
    return rc;
}

certo_rc
certo_session_call(struct certo_session *s, const char *method, const char *path,
                   const json_t *body, json_t **out, int *status, struct certo_err *err)
{
    struct resp r = {0};
    char *text = NULL;
    size_t len = 0;
    int st = 0;
    json_t *doc = NULL;
    json_error_t jerr;
    certo_rc rc;

    if (out != NULL)
        *out = NULL;
    if (status != NULL)
        *status = 0;
    CERTO_ASSERT(s != NULL && method != NULL);
    if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0 && strcmp(method, "PUT") != 0 &&
        strcmp(method, "PATCH") != 0 && strcmp(method, "DELETE") != 0)
        return certo_err_set(err, CERTO_EINVAL, WHERE, "method %.20s: not one of the API's",
                             method);
    rc = certo_client__path_check(path, err);
    if (rc != CERTO_OK)
        return rc;
    if (body != NULL) {
        /* Into our own buffer (jansson's allocator is the program's to choose). */
        len = json_dumpb(body, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
        if (len == 0)
            return certo_err_set(err, CERTO_EINVAL, WHERE, "the request body is not valid JSON");
        text = certo_malloc(len + 1);
        if (json_dumpb(body, text, len, JSON_COMPACT | JSON_ENCODE_ANY) != len) {
            certo_free_clear(text, len + 1);
            return certo_err_set(err, CERTO_EINVAL, WHERE, "the request body is not valid JSON");
        }
        text[len] = '\0';
    }
    r.max = s->response_max;
    rc = exchange(s, method, path, body != NULL ? "application/json" : NULL, text, len, true, &r,
                  &st, err);
    if (status != NULL)
        *status = st;
    if (rc != CERTO_OK)
        goto out;
    if (st >= 400) {
        rc = certo_client__error_from_body(st, r.p, r.len, err);
        goto out;
    }
    if (r.len > 0) {
        doc = json_loadb((const char *)r.p, r.len, 0, &jerr);
        if (doc == NULL) {
            rc = certo_err_set(err, CERTO_EREMOTE, WHERE,
                               "%s%.200s: the answer (HTTP %d) is not JSON", s->base, path, st);
            goto out;
        }
    }
    if (out != NULL) {
        *out = doc;
        doc = NULL;
    }
    rc = CERTO_OK;
out:
    json_decref(doc);
    resp_wipe(&r);
    if (text != NULL)
        certo_free_clear(text, len + 1);
    return rc;
}

const struct certo_secret *
certo_session_token_get0(const struct certo_session *s)
{
    return s->token;
}

int
certo_session_token_ttl(const struct certo_session *s)
{
    return s->token_ttl;
}

const char *
certo_session_server_fp_get0(const struct certo_session *s)
{
    return s->server_fp;
}

const char *
certo_session_url_get0(const struct certo_session *s)
{
    return s->base;
}

void
certo_session_close(struct certo_session *s)
{
    if (s == NULL)
        return;
    if (s->curl != NULL) {
        curl_easy_cleanup(s->curl);
        curl_global_cleanup();
    }
    certo_secret_free(s->token);
    certo_free(s->base);
    certo_free(s->cert_pem);
    if (s->key_pem != NULL)
        OPENSSL_secure_clear_free(s->key_pem, s->key_pem_len + 1);
    OPENSSL_cleanse(s, sizeof(*s));
    certo_free(s);
}
