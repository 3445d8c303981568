/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The gateway's identity with a server (client layer, issue 8): enrollment, the stored
 * identity (DATA/agent.json, the key sealed under the registry's secret key), mutual-TLS
 * sessions from memory, and the endpoint sync. The daemon is in agent_run.c, the jobs in
 * agent_job.c.
 *
 * Secrets: the enrollment token and the private key live in certo_secret values; the
 * copies jansson holds while a request is built are wiped in place before they are
 * freed; the key reaches the file only sealed, and libcurl only from memory.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "certo/agent.h"
#include "certo/cert.h"
#include "certo/chain.h"
#include "certo/clock.h"
#include "certo/csr.h"
#include "certo/endpoint.h"
#include "certo/file.h"
#include "certo/key.h"
#include "certo/limits.h"
#include "certo/mem.h"
#include "certo/seal.h"
#include "client/internal.h"

#define WHERE         "client.agent"
#define FILE_MAX      (256u * 1024)
#define PEM_FIELD_MAX (64u * 1024)
#define KEY_AAD       "gateway-agent/key"
#define SUMMARY_MAX   255

void
certo_agent_dispose(struct certo_agent *a)
{
    if (a == NULL)
        return;
    certo_free(a->server);
    certo_free(a->name);
    certo_free(a->cert_pem);
    certo_free(a->ca_pem);
    certo_secret_free(a->key_pem);
    memset(a, 0, sizeof(*a));
}

/* ---- the stored identity ---- */

static char *
agent_path(const char *dir)
{
    return certo_asprintf("%s/" CERTO_AGENT_FILE, dir);
}

static certo_rc
seal_key_load(struct certo_seal_key **k, const char *dir, bool create, struct certo_err *err)
{
    char *path = certo_asprintf("%s/secret.key", dir);
    certo_rc rc = certo_seal_key_load(k, path, CERTO_SECRET_KEY_ENV, create, err);

    certo_free(path);
    return rc;
}

/* Wipes the bytes of a jansson string in place (a token or key it copied). */
static void
json_wipe_string(json_t *v)
{
    if (json_is_string(v))
        OPENSSL_cleanse((char *)(uintptr_t)json_string_value(v), json_string_length(v));
}

static bool
printable_pem(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\n' && c != '\r') || c >= 0x7f)
            return false;
    }
    return true;
}

/* A string member of a stored or received document, copied; NULL when missing or bad. */
static char *
str_member(const json_t *doc, const char *key, size_t max)
{
    const json_t *v = json_object_get(doc, key);

    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > max ||
        strlen(json_string_value(v)) != json_string_length(v))
        return NULL;
    return certo_strdup(json_string_value(v));
}

/* The first CN of 'cert' (certo_free); NULL when it has none. */
static char *
common_name(X509 *cert)
{
    char cn[256];
    int n =
        X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, (int)sizeof(cn));
    return n > 0 ? certo_strdup(cn) : NULL;
}

certo_rc
certo_agent_load(struct certo_agent *out, const char *dir, bool with_key, struct certo_err *err)
{
    struct certo_buf text;
    struct certo_seal_key *k = NULL;
    char *path = agent_path(dir);
    json_t *doc = NULL;
    const char *b64;
    unsigned char *sealed = NULL;
    size_t b64_len = 0;
    int n;
    certo_rc rc;

    memset(out, 0, sizeof(*out));
    certo_buf_init(&text, FILE_MAX);
    rc = certo_file_read(&text, path);
    if (rc == CERTO_ENOTFOUND) {
        rc =
            certo_err_set(err, CERTO_ENOTFOUND, WHERE,
                          "this gateway is not enrolled (no %s): run 'certo gateway enroll'", path);
        goto out;
    }
    if (rc != CERTO_OK) {
        rc = certo_err_sys(err, rc, WHERE, "%s: cannot read", path);
        goto out;
    }
    doc = json_loadb((const char *)text.data, text.len, 0, NULL);
    out->server = str_member(doc, "server", CERTO_CLIENT_URL_MAX);
    out->name = str_member(doc, "name", 256);
    out->cert_pem = str_member(doc, "certificate", PEM_FIELD_MAX);
    out->ca_pem = str_member(doc, "caCertificate", PEM_FIELD_MAX);
    out->gateway_id = (int64_t)json_integer_value(json_object_get(doc, "gatewayId"));
    out->enrolled_at = (int64_t)json_integer_value(json_object_get(doc, "enrolledAt"));
    b64 = json_string_value(json_object_get(doc, "sealedKey"));
    if (b64 != NULL)
        b64_len = strlen(b64);
    if (out->server == NULL || out->name == NULL || out->cert_pem == NULL || out->ca_pem == NULL ||
        out->gateway_id <= 0 || b64 == NULL || b64_len == 0 || b64_len % 4 != 0 || b64_len > 8192 ||
        !certo_client__pin_parse(out->pin,
                                 json_string_value(json_object_get(doc, "serverFingerprint")))) {
        rc = certo_err_set(err, CERTO_EPARSE, WHERE,
                           "%s: not an enrollment record (a member is missing or bad); enroll "
                           "again with --replace",
                           path);
        goto out;
    }
    if (!with_key) {
        rc = CERTO_OK;
        goto out;
    }
    sealed = certo_malloc(b64_len);
    n = EVP_DecodeBlock(sealed, (const unsigned char *)b64, (int)b64_len);
    if (n < 0) {
        rc = certo_err_set(err, CERTO_EPARSE, WHERE, "%s: the sealed key is not base64", path);
        goto out;
    }
    /* EVP_DecodeBlock counts the padding (at the end only) as zero bytes. */
    n -= (int)(b64_len - strcspn(b64, "="));
    rc = seal_key_load(&k, dir, false, err);
    if (rc == CERTO_OK)
        rc = certo_unseal(k, KEY_AAD, sealed, (size_t)n, &out->key_pem, err);
out:
    if (rc != CERTO_OK)
        certo_agent_dispose(out);
    certo_seal_key_free(k);
    certo_free(sealed);
    json_decref(doc);
    certo_buf_dispose(&text);
    certo_free(path);
    return rc;
}

/* Writes the identity, its key sealed, to DATA/agent.json in one atomic replace. */
static certo_rc
agent_save(const char *dir, const struct certo_seal_key *k, const struct certo_agent *a,
           struct certo_err *err)
{
    const struct certo_file_as as = {.mode = 0600, .uid = getuid(), .gid = getgid()};
    struct certo_buf sealed;
    char *path = agent_path(dir), *b64 = NULL, *text = NULL;
    json_t *doc = NULL;
    size_t len;
    certo_rc rc;

    certo_buf_init(&sealed, CERTO_SECRET_MAX + CERTO_SEAL_OVERHEAD);
    rc = certo_seal(k, KEY_AAD, certo_secret_get0(a->key_pem), certo_secret_len(a->key_pem),
                    &sealed, err);
    if (rc != CERTO_OK)
        goto out;
    b64 = certo_malloc(4 * ((sealed.len + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)b64, sealed.data, (int)sealed.len);
    doc = json_pack("{s:i,s:s,s:s,s:I,s:s,s:s,s:s,s:I,s:s}", "version", 1, "server", a->server,
                    "serverFingerprint", a->pin, "gatewayId", (json_int_t)a->gateway_id, "name",
                    a->name, "certificate", a->cert_pem, "caCertificate", a->ca_pem, "enrolledAt",
                    (json_int_t)a->enrolled_at, "sealedKey", b64);
    len = doc != NULL ? json_dumpb(doc, NULL, 0, JSON_INDENT(2)) : 0;
    if (len == 0) {
        rc = certo_err_set(err, CERTO_EINTERNAL, WHERE, "the enrollment record does not encode");
        goto out;
    }
    text = certo_malloc(len + 1);
    if (json_dumpb(doc, text, len, JSON_INDENT(2)) != len) {
        rc = certo_err_set(err, CERTO_EINTERNAL, WHERE, "the enrollment record does not encode");
        goto out;
    }
    text[len] = '\n';
    rc = certo_file_replace_as(path, text, len + 1, &as);
    if (rc != CERTO_OK)
        rc = certo_err_sys(err, rc, WHERE, "cannot write %s", path);
out:
    certo_free(text);
    json_decref(doc);
    certo_free(b64);
    certo_buf_dispose(&sealed);
    certo_free(path);
    return rc;
}

/*
 * Everything local an enrollment needs, before the token is spent: the data directory
 * (0700, with its registry) and the secret key that will seal the private key.
 */
static certo_rc
prepare_dir(struct certo_seal_key **k, const char *dir, struct certo_err *err)
{
    struct certo_registry *reg = NULL;
    certo_rc rc = certo_registry_open(&reg, dir, err);

    certo_registry_close(reg);
    if (rc == CERTO_OK)
        rc = seal_key_load(k, dir, true, err);
    return rc;
}

/* ---- enrollment ---- */

/* A new EC P-256 key and its CSR, both as PEM (the key into a secret). */
static certo_rc
make_key_and_csr(struct certo_secret **key_pem, struct certo_buf *csr_pem, EVP_PKEY **key,
                 struct certo_err *err)
{
    const struct certo_key_spec spec = {.alg = CERTO_KEY_EC, .bits = 256};
    const struct certo_names names = {.subject = "CN=certo-gateway"};
    struct certo_buf kb;
    X509_REQ *req = NULL;
    certo_rc rc;

    *key_pem = NULL;
    *key = NULL;
    certo_buf_init(&kb, CERTO_SECRET_MAX);
    rc = certo_key_generate(key, &spec, err);
    if (rc == CERTO_OK)
        rc = certo_csr_new(&req, *key, &names, err);
    if (rc == CERTO_OK)
        rc = certo_csr_to_pem(csr_pem, req, err);
    if (rc == CERTO_OK)
        rc = certo_key_to_pem(&kb, *key, NULL, err);
    if (rc == CERTO_OK) {
        rc = certo_secret_new(key_pem, kb.data, kb.len);
        if (rc != CERTO_OK)
            rc = certo_err_set(err, rc, WHERE, "the key does not fit a secret");
    }
    certo_buf_dispose(&kb); /* wiped */
    X509_REQ_free(req);
    return rc;
}

/*
 * Checks the enrollment answer: the certificate is for 'key', issued by the CA that came
 * with it, and carries 'name_check' as its CN when given. Fills a->cert_pem, ca_pem, name.
 */
static certo_rc
check_answer(struct certo_agent *a, const json_t *doc, EVP_PKEY *key, const char *name_check,
             struct certo_err *err)
{
    STACK_OF(X509) *certs = NULL, *cas = NULL;
    X509 *leaf, *ca;
    certo_rc rc = CERTO_OK;

    a->gateway_id = (int64_t)json_integer_value(json_object_get(doc, "gatewayId"));
    a->cert_pem = str_member(doc, "certificate", PEM_FIELD_MAX);
    a->ca_pem = str_member(doc, "caCertificate", PEM_FIELD_MAX);
    if (a->gateway_id <= 0 || a->cert_pem == NULL || a->ca_pem == NULL ||
        !printable_pem(a->cert_pem, strlen(a->cert_pem)) ||
        !printable_pem(a->ca_pem, strlen(a->ca_pem)))
        return certo_err_set(err, CERTO_EREMOTE, WHERE,
                             "the enrollment answer lacks gatewayId, certificate or "
                             "caCertificate");
    rc = certo_cert_parse_all(&certs, a->cert_pem, strlen(a->cert_pem), err);
    if (rc == CERTO_OK)
        rc = certo_cert_parse_all(&cas, a->ca_pem, strlen(a->ca_pem), err);
    if (rc != CERTO_OK) {
        rc = certo_err_set(err, CERTO_EREMOTE, WHERE, "the enrollment answer: bad certificates");
        goto out;
    }
    leaf = sk_X509_value(certs, 0);
    ca = sk_X509_value(cas, 0);
    if (!certo_cert_matches_key(leaf, key)) {
        rc = certo_err_set(err, CERTO_EREMOTE, WHERE,
                           "the server sent a certificate for another key");
        goto out;
    }
    if (!certo_chain_issued_by(leaf, ca)) {
        rc = certo_err_set(err, CERTO_EREMOTE, WHERE,
                           "the certificate was not issued by the gateway CA that came with it");
        goto out;
    }
    a->name = common_name(leaf);
    if (a->name == NULL) {
        rc = certo_err_set(err, CERTO_EREMOTE, WHERE, "the certificate names no gateway (CN)");
        goto out;
    }
    if (name_check != NULL && strcmp(name_check, a->name) != 0) {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE,
                           "--name-check: the token enrolled gateway '%.64s', not '%.64s'; "
                           "nothing was stored",
                           a->name, name_check);
        goto out;
    }
out:
    certo_certs_free(certs);
    certo_certs_free(cas);
    return rc;
}

certo_rc
certo_agent_enroll(struct certo_agent *out, const char *dir,
                   const struct certo_agent_enroll_opts *o, struct certo_err *err)
{
    struct certo_session_opts so = {0};
    struct certo_session *s = NULL;
    struct certo_agent a = {0}, old = {0};
    struct certo_seal_key *k = NULL;
    struct certo_buf csr;
    EVP_PKEY *key = NULL;
    json_t *body = NULL, *doc = NULL;
    char *path = agent_path(dir);
    certo_rc rc;

    if (out != NULL)
        memset(out, 0, sizeof(*out));
    certo_buf_init(&csr, PEM_FIELD_MAX);
    if (o->fingerprint == NULL && o->server_ca == NULL) {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE,
                           "the server must be verified at enrollment: give "
                           "--server-fingerprint SHA256 (from the gateway's creation) or "
                           "--server-ca FILE");
        goto out;
    }
    if (o->fingerprint != NULL && o->server_ca != NULL) {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE,
                           "give --server-fingerprint or --server-ca, not both");
        goto out;
    }
    if (o->token == NULL || certo_secret_len(o->token) != 64 ||
        strspn(certo_secret_get0(o->token), "0123456789abcdefABCDEF") != 64) {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE,
                           "the enrollment token: 64 hex digits expected (the enrollToken of "
                           "the gateway's creation)");
        goto out;
    }
    if (o->fingerprint != NULL && !certo_client__pin_parse(a.pin, o->fingerprint)) {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE,
                           "--server-fingerprint: not a SHA-256 fingerprint (64 hex digits, "
                           "colons optional)");
        goto out;
    }
    if (certo_file_exists(path) && !o->replace) {
        struct certo_err ignored = {0};
        rc = certo_agent_load(&old, dir, false, &ignored);
        if (rc == CERTO_OK)
            rc = certo_err_set(err, CERTO_EEXIST, WHERE,
                               "already enrolled with %s as '%s' (gateway %lld); --replace "
                               "enrolls again",
                               old.server, old.name, (long long)old.gateway_id);
        else
            rc =
                certo_err_set(err, CERTO_EEXIST, WHERE, "%s exists; --replace enrolls again", path);
        rc = CERTO_EEXIST;
        goto out;
    }
    rc = prepare_dir(&k, dir, err);
    if (rc == CERTO_OK)
        rc = make_key_and_csr(&a.key_pem, &csr, &key, err);
    if (rc != CERTO_OK)
        goto out;
    so.url = o->url;
    so.no_credential = true;
    so.fingerprint = o->fingerprint;
    so.ca_file = o->server_ca;
    rc = certo_session_open(&s, &so, err);
    if (rc != CERTO_OK)
        goto out;
    body = json_pack("{s:s%,s:s%}", "token", certo_secret_get0(o->token),
                     certo_secret_len(o->token), "csr", (const char *)csr.data, csr.len);
    if (body == NULL) {
        rc = certo_err_set(err, CERTO_EINTERNAL, WHERE, "the request does not encode");
        goto out;
    }
    rc = certo_session_call(s, "POST", "/gateways/enroll", body, &doc, NULL, err);
    if (rc != CERTO_OK)
        goto out;
    rc = check_answer(&a, doc, key, o->name_check, err);
    if (rc != CERTO_OK)
        goto out;
    a.server = certo_strdup(certo_session_url_get0(s));
    if (a.pin[0] == '\0') {
        /* Verified against --server-ca: pin what it showed from now on. */
        if (certo_session_server_fp_get0(s)[0] == '\0') {
            rc = certo_err_set(err, CERTO_EINTERNAL, WHERE,
                               "the server's certificate was not recorded");
            goto out;
        }
        memcpy(a.pin, certo_session_server_fp_get0(s), sizeof(a.pin));
    }
    a.enrolled_at = (int64_t)certo_clock_now();
    rc = agent_save(dir, k, &a, err);
    if (rc != CERTO_OK)
        goto out;
    if (out != NULL) {
        *out = a;
        certo_secret_free(out->key_pem);
        out->key_pem = NULL;
        memset(&a, 0, sizeof(a));
    }
out:
    if (body != NULL)
        json_wipe_string(json_object_get(body, "token"));
    json_decref(body);
    json_decref(doc);
    certo_session_close(s);
    certo_seal_key_free(k);
    EVP_PKEY_free(key);
    certo_buf_dispose(&csr);
    certo_agent_dispose(&a);
    certo_agent_dispose(&old);
    certo_free(path);
    return rc;
}

certo_rc
certo_agent_connect(struct certo_session **out, const struct certo_agent *a, int timeout_ms,
                    bool (*stop)(void *arg), void *stop_arg, struct certo_err *err)
{
    struct certo_session_opts so = {0};

    *out = NULL;
    CERTO_ASSERT(a->key_pem != NULL);
    so.url = a->server;
    so.no_credential = true;
    so.fingerprint = a->pin;
    so.client_cert_pem = a->cert_pem;
    so.client_key_pem = a->key_pem;
    so.timeout_ms = timeout_ms;
    so.stop = stop;
    so.stop_arg = stop_arg;
    return certo_session_open(out, &so, err);
}

/* ---- sync ---- */

static const char *
transport_of(enum certo_conn c)
{
    switch (c) {
    case CERTO_CONN_LOCAL:
        return "local";
    case CERTO_CONN_SSH:
    case CERTO_CONN_SSH_WINDOWS:
        return "ssh";
    case CERTO_CONN_WINRM_HTTP:
    case CERTO_CONN_WINRM_HTTPS:
    case CERTO_CONN_WINRM_HTTPS_INSECURE:
        return "winrm";
    default:
        return "rest";
    }
}

/*
 * What the server shows beside an endpoint: the file or configuration a local endpoint
 * works on, the host and port of a remote one. Never a user, password or key: only the
 * options chosen here are read. Printable ASCII, at most SUMMARY_MAX bytes.
 */
static void
summary_of(char out[SUMMARY_MAX + 1], const struct certo_endpoint *ep)
{
    static const enum certo_ep_field local_field[CERTO_EP__COUNT] = {
        [CERTO_EP_IIS] = CERTO_F__COUNT,
        [CERTO_EP_APACHE] = CERTO_F_APACHECTL_PATH,
        [CERTO_EP_TOMCAT] = CERTO_F_TOMCAT_DIR,
        [CERTO_EP_F5] = CERTO_F__COUNT,
        [CERTO_EP_NGINX] = CERTO_F_NGINX_CONFIG_PATH,
        [CERTO_EP_P12] = CERTO_F_PATH,
        [CERTO_EP_JKS] = CERTO_F_PATH,
        [CERTO_EP_PEM] = CERTO_F_PATH,
    };
    enum certo_conn c = certo_endpoint_conn(ep);
    const char *v = NULL;
    char tmp[SUMMARY_MAX + 1];
    size_t i;

    if (c == CERTO_CONN_LOCAL) {
        enum certo_ep_field f = local_field[ep->type];
        v = f != CERTO_F__COUNT ? certo_endpoint_get(ep, f) : NULL;
        snprintf(tmp, sizeof(tmp), "%s", v != NULL ? v : "local");
    } else {
        v = certo_endpoint_get(ep, CERTO_F_HOST);
        snprintf(tmp, sizeof(tmp), "%s:%d", v != NULL ? v : "?", certo_endpoint_port(ep));
    }
    for (i = 0; tmp[i] != '\0'; i++)
        out[i] = (unsigned char)tmp[i] >= 0x20 && (unsigned char)tmp[i] < 0x7f ? tmp[i] : '?';
    out[i] = '\0';
}

certo_rc
certo_agent_endpoints(json_t **out, struct certo_registry *reg, struct certo_err *err)
{
    struct certo_endpoint *eps = NULL;
    size_t n = 0;
    json_t *arr;
    char summary[SUMMARY_MAX + 1];
    certo_rc rc;

    *out = NULL;
    rc = certo_registry_list(reg, &eps, &n, err);
    if (rc != CERTO_OK)
        return rc;
    arr = json_array();
    for (size_t i = 0; i < n; i++) {
        summary_of(summary, &eps[i]);
        json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s}", "name", eps[i].val[CERTO_F_NAME],
                                             "type", certo_ep_type_name(eps[i].type), "transport",
                                             transport_of(certo_endpoint_conn(&eps[i])), "summary",
                                             summary));
    }
    certo_registry_list_free(eps, n);
    *out = json_pack("{s:o}", "endpoints", arr);
    return CERTO_OK;
}

certo_rc
certo_agent_sync(json_t **out, struct certo_session *s, struct certo_registry *reg,
                 struct certo_err *err)
{
    json_t *body = NULL;
    certo_rc rc;

    *out = NULL;
    rc = certo_agent_endpoints(&body, reg, err);
    if (rc == CERTO_OK)
        rc = certo_session_call(s, "POST", "/gateway/sync", body, out, NULL, err);
    json_decref(body);
    return rc;
}
