/* SPDX-License-Identifier: Apache-2.0 */
/*
 * REST resources of the server itself: the service root, the catalog and inventory
 * services (vRO link lists), the server certificate (show, CSR, import, export,
 * import-db, rotate, reload) and the trust store. Reading is open to every caller;
 * changing is for admins (access_system). A change to the identity reloads the listener
 * at once, so no restart is needed.
 */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "certo/buf.h"
#include "certo/cert.h"
#include "certo/clock.h"
#include "certo/csr.h"
#include "certo/key.h"
#include "certo/limits.h"
#include "certo/mem.h"
#include "certo/secret.h"
#include "certo/trust.h"
#include "server/api.h"

#define WHERE   "server.routes"
#define P12_MAX (256 * 1024)

/* ---- service, catalog, inventory ---- */

static json_t *
named_link(struct api_req *r, const char *path, const char *name)
{
    json_t *l = api_link(r, path, json_pack("{s:s}", "name", name));

    json_object_set_new(l, "name", json_string(name));
    return l;
}

static void
route_service(struct api_req *r)
{
    static const char *const services[][2] = {
        {"catalog", API_PREFIX "/catalog/"}, {"inventory", API_PREFIX "/inventory/"},
        {"auth", API_PREFIX "/auth/"},       {"server-cert", API_PREFIX "/server-cert"},
        {"trust", API_PREFIX "/trust/"},     {"users", API_PREFIX "/users/"},
        {"orgs", API_PREFIX "/orgs/"},       {"docs", API_PREFIX "/docs/openapi.json"},
    };
    json_t *links = json_array();

    for (size_t i = 0; i < CERTO_ARRAY_LEN(services); i++)
        json_array_append_new(links, named_link(r, services[i][1], services[i][0]));
    api_ok(r, 200, json_pack("{s:o}", "service", links));
}

static void
route_catalog(struct api_req *r)
{
    struct certo_page page = {.total = 1};
    api_ok(r, 200,
           api_link_list(&page,
                         json_pack("[o]", named_link(r, API_PREFIX "/catalog/System/", "System"))));
}

static const char *const system_types[] = {"Workflow", "Endpoint", "Certificate", "User",
                                           "Organization"};

static void
route_system(struct api_req *r)
{
    struct certo_page page = {.total = (int64_t)CERTO_ARRAY_LEN(system_types)};
    json_t *links = json_array();

    for (size_t i = 0; i < CERTO_ARRAY_LEN(system_types); i++) {
        char *p = certo_asprintf(API_PREFIX "/catalog/System/%s/", system_types[i]);
        json_array_append_new(links, named_link(r, p, system_types[i]));
        certo_free(p);
    }
    api_ok(r, 200, api_link_list(&page, links));
}

/* Object types whose objects come with later issues list nothing yet. */
static void
route_empty(struct api_req *r)
{
    struct certo_page page;

    if (!api_page(r, &page))
        return;
    page.total = 0;
    api_ok(r, 200, api_link_list(&page, json_array()));
}

/* The inventory tree's root: one entry per object type. */
static void
route_inventory(struct api_req *r)
{
    struct certo_page page = {.total = 1};
    api_ok(r, 200,
           api_link_list(
               &page, json_pack("[o]", named_link(r, API_PREFIX "/inventory/System/", "System"))));
}

/* ---- server certificate ---- */

static bool
admin_only(struct api_req *r)
{
    if (access_system(&r->caller, ACCESS_WRITE))
        return true;
    api_fail(r, 403, "forbidden", NULL, "only an admin changes the server's identity or trust");
    return false;
}

static certo_rc
cert_json(json_t **out, X509 *cert, struct certo_err *err)
{
    struct certo_cert_info info = {0};
    struct certo_buf b;
    json_error_t jerr;
    certo_rc rc = certo_cert_info_get(&info, cert, err);

    *out = NULL;
    certo_buf_init(&b, 1024 * 1024);
    if (rc == CERTO_OK)
        rc = certo_cert_info_to_json(&b, &info);
    if (rc == CERTO_OK) {
        *out = json_loadb((const char *)b.data, b.len, 0, &jerr);
        if (*out == NULL)
            rc = certo_err_set(err, CERTO_EINTERNAL, WHERE, "certificate JSON");
    }
    certo_buf_dispose(&b);
    certo_cert_info_dispose(&info);
    return rc;
}

static void
reply_identity(struct api_req *r, int status)
{
    struct certo_identity id = {0};
    struct certo_err err = {0};
    json_t *doc = NULL, *chain = json_array();
    char *href = api_href(r, API_PREFIX "/server-cert");
    certo_rc rc = certo_identity_load(&id, r->s->db, NULL, &err);

    if (rc == CERTO_OK)
        rc = cert_json(&doc, id.cert, &err);
    for (int i = 0; rc == CERTO_OK && id.chain != NULL && i < sk_X509_num(id.chain); i++) {
        json_t *c = NULL;
        rc = cert_json(&c, sk_X509_value(id.chain, i), &err);
        if (rc == CERTO_OK)
            json_array_append_new(chain, c);
    }
    if (rc != CERTO_OK) {
        json_decref(doc);
        json_decref(chain);
        api_fail_rc(r, rc, &err, NULL);
    } else {
        json_object_set_new(doc, "chain", chain);
        json_object_set_new(doc, "href", json_string(href));
        api_ok(r, status, doc);
    }
    certo_free(href);
    certo_identity_dispose(&id);
}

static void
route_cert_show(struct api_req *r)
{
    reply_identity(r, 200);
}

/* After a change of identity: the listener takes it for new connections. */
static void
reload_after(struct api_req *r)
{
    struct certo_err err = {0};

    if (server_reload(r->s, &err) != CERTO_OK)
        api_fail(r, 500, "reload_failed", NULL,
                 "stored, but the listener kept the old certificate: %s", err.msg);
    else
        reply_identity(r, 200);
}

/* Reads "subject" and "sans" (an array of strings) of a CSR request. */
static bool
read_names(struct api_req *r, json_t *body, struct certo_names *names, const char ***sans)
{
    json_t *arr = json_object_get(body, "sans"), *v;
    size_t i;

    if (!api_str(r, body, "subject", false, 1024, &names->subject))
        return false;
    *sans = NULL;
    names->n_sans = 0;
    if (arr == NULL)
        return true;
    if (!json_is_array(arr) || json_array_size(arr) > 100) {
        api_fail(r, 400, "wrong_type", "sans", "sans: an array of at most 100 strings");
        return false;
    }
    *sans = certo_calloc(json_array_size(arr) + 1, sizeof(**sans));
    json_array_foreach(arr, i, v)
    {
        if (!json_is_string(v) || json_string_length(v) > 255) {
            api_fail(r, 400, "wrong_type", "sans", "sans[%zu]: a string of at most 255 bytes", i);
            return false;
        }
        (*sans)[i] = json_string_value(v);
    }
    names->sans = *sans;
    names->n_sans = json_array_size(arr);
    return true;
}

static void
route_cert_csr(struct api_req *r)
{
    static const char *const fields[] = {"subject", "sans", NULL};
    struct certo_names names = {0};
    struct certo_err err = {0};
    struct certo_buf pem;
    const char **sans = NULL;
    X509_REQ *req = NULL;
    json_t *body = api_body(r, false);
    certo_rc rc;

    certo_buf_init(&pem, 64 * 1024);
    if (body == NULL || !api_fields(r, body, fields) || !read_names(r, body, &names, &sans) ||
        !admin_only(r))
        goto out;
    rc = certo_identity_csr(&req, r->s->db, r->s->dir,
                            names.subject != NULL || names.n_sans > 0 ? &names : NULL, &err);
    if (rc == CERTO_OK)
        rc = certo_csr_to_pem(&pem, req, &err);
    if (rc != CERTO_OK) {
        api_fail_rc(r, rc, &err, strstr(err.msg, "SAN") != NULL ? "sans" : "subject");
        goto out;
    }
    api_ok(r, 200, json_pack("{s:s%}", "csr", (const char *)pem.data, pem.len));
out:
    X509_REQ_free(req);
    certo_buf_dispose(&pem);
    certo_free(sans);
}

static void
route_cert_import(struct api_req *r)
{
    static const char *const fields[] = {"certificate", "force", NULL};
    struct certo_err err = {0};
    STACK_OF(X509) *certs = NULL;
    json_t *body = api_body(r, false);
    const char *pem;
    bool force = false;
    certo_rc rc;

    if (body == NULL || !api_fields(r, body, fields) ||
        !api_str(r, body, "certificate", true, CERTO_PEM_MAX, &pem) ||
        !api_bool(r, body, "force", &force) || !admin_only(r))
        return;
    rc = certo_cert_parse_all(&certs, pem, strlen(pem), &err);
    if (rc == CERTO_OK)
        rc = certo_identity_import_cert(r->s->db, certs, force, certo_clock_now(), &err);
    certo_certs_free(certs);
    if (rc != CERTO_OK) {
        api_fail_rc(r, rc, &err, "certificate");
        return;
    }
    reload_after(r);
}

/* A password member as a secret; answers 400 when missing or empty. */
static bool
read_password(struct api_req *r, json_t *body, struct certo_secret **out)
{
    const char *pw;

    *out = NULL;
    if (!api_str(r, body, "password", true, 1024, &pw))
        return false;
    if (pw[0] == '\0') {
        api_fail(r, 400, "invalid", "password", "password: must not be empty");
        return false;
    }
    if (certo_secret_from_str(out, pw) != CERTO_OK) {
        api_fail(r, 500, "internal", NULL, "internal error");
        return false;
    }
    return true;
}

static void
route_cert_export(struct api_req *r)
{
    static const char *const fields[] = {"password", NULL};
    struct certo_err err = {0};
    struct certo_secret *pw = NULL;
    struct certo_buf p12;
    unsigned char *b64 = NULL;
    json_t *body = api_body(r, false);
    int n;

    certo_buf_init(&p12, CERTO_KEYSTORE_MAX);
    if (body == NULL || !api_fields(r, body, fields) || !admin_only(r) ||
        !read_password(r, body, &pw))
        goto out;
    if (certo_identity_export(&p12, r->s->db, r->s->dir, pw, &err) != CERTO_OK) {
        api_fail_rc(r, err.rc, &err, NULL);
        goto out;
    }
    b64 = certo_malloc(p12.len / 3 * 4 + 8);
    n = EVP_EncodeBlock(b64, p12.data, (int)p12.len);
    api_ok(r, 200,
           json_pack("{s:s%,s:s}", "pkcs12", (const char *)b64, (size_t)n, "alias", "identity"));
out:
    if (p12.data != NULL)
        OPENSSL_cleanse(p12.data, p12.len);
    certo_buf_dispose(&p12);
    certo_free(b64);
    certo_secret_free(pw);
}

static void
route_cert_import_db(struct api_req *r)
{
    static const char *const fields[] = {"pkcs12", "password", "replace", NULL};
    struct certo_err err = {0};
    struct certo_secret *pw = NULL;
    unsigned char *der = NULL;
    json_t *body = api_body(r, false);
    const char *b64;
    bool replace = false;
    size_t n;
    int len;
    certo_rc rc;

    if (body == NULL || !api_fields(r, body, fields) ||
        !api_str(r, body, "pkcs12", true, P12_MAX, &b64) ||
        !api_bool(r, body, "replace", &replace) || !admin_only(r) || !read_password(r, body, &pw))
        goto out;
    n = strlen(b64);
    der = certo_malloc(n / 4 * 3 + 4);
    if (n == 0 || n % 4 != 0 ||
        (len = EVP_DecodeBlock(der, (const unsigned char *)b64, (int)n)) < 0) {
        api_fail(r, 400, "invalid", "pkcs12", "pkcs12: not base64");
        goto out;
    }
    len -= (b64[n - 1] == '=') + (b64[n - 2] == '=');
    rc = certo_identity_import_p12(r->s->db, r->s->dir, der, (size_t)len, pw, replace, &err);
    if (rc == CERTO_EEXIST) {
        api_fail(r, 409, "self_signed_identity", "replace",
                 "%s (send \"replace\": true to replace it)", err.msg);
        goto out;
    }
    if (rc == CERTO_EAUTH) {
        api_fail(r, 400, "invalid", "password", "password: wrong password for the PKCS#12 file");
        goto out;
    }
    if (rc != CERTO_OK) {
        api_fail_rc(r, rc, &err, "pkcs12");
        goto out;
    }
    reload_after(r);
out:
    certo_free(der);
    certo_secret_free(pw);
}

static void
route_cert_rotate(struct api_req *r)
{
    struct certo_err err = {0};
    char fp[96];

    if (!admin_only(r))
        return;
    if (certo_identity_rotate(r->s->db, r->s->dir, fp, &err) != CERTO_OK) {
        api_fail_rc(r, err.rc, &err, NULL);
        return;
    }
    reload_after(r);
}

static void
route_cert_reload(struct api_req *r)
{
    if (admin_only(r))
        reload_after(r);
}

/*
 * GET /server-cert/listener: the listener's own certificate (404: it serves the identity);
 * POST {"certificate": PEM (+ chain), "key": PEM, "password", "force"} sets one;
 * DELETE goes back to the identity. Both reload the listener at once.
 */
static void
route_cert_listener(struct api_req *r)
{
    static const char *const fields[] = {"certificate", "key", "password", "force", NULL};
    struct certo_identity own = {0};
    struct certo_err err = {0};
    struct certo_secret *pw = NULL;
    STACK_OF(X509) *certs = NULL;
    EVP_PKEY *key = NULL;
    json_t *body, *doc = NULL;
    const char *pem, *kpem, *pass;
    bool force = false;
    certo_rc rc;

    if (r->method == EVHTTP_REQ_GET) {
        rc = certo_listener_load(&own, r->s->db, NULL, &err);
        if (rc == CERTO_OK)
            rc = cert_json(&doc, own.cert, &err);
        if (rc == CERTO_ENOTFOUND)
            api_fail(r, 404, "not_found", NULL, "the listener serves the identity");
        else if (rc != CERTO_OK)
            api_fail_rc(r, rc, &err, NULL);
        else
            api_ok(r, 200, doc);
        certo_identity_dispose(&own);
        return;
    }
    if (r->method == EVHTTP_REQ_DELETE) {
        if (!admin_only(r))
            return;
        if (certo_listener_clear(r->s->db, &err) != CERTO_OK)
            api_fail_rc(r, err.rc, &err, NULL);
        else
            reload_after(r);
        return;
    }
    body = api_body(r, false);
    if (body == NULL || !api_fields(r, body, fields) ||
        !api_str(r, body, "certificate", true, CERTO_PEM_MAX, &pem) ||
        !api_str(r, body, "key", true, 64 * 1024, &kpem) ||
        !api_str(r, body, "password", false, 1024, &pass) || !api_bool(r, body, "force", &force) ||
        !admin_only(r))
        return;
    if (pass != NULL && certo_secret_from_str(&pw, pass) != CERTO_OK) {
        api_fail(r, 500, "internal", NULL, "internal error");
        return;
    }
    rc = certo_key_parse(&key, kpem, strlen(kpem), pw, &err);
    if (rc != CERTO_OK) {
        api_fail(r, 400, "invalid", rc == CERTO_EAUTH ? "password" : "key", "%s: %s",
                 rc == CERTO_EAUTH ? "password" : "key", err.msg);
        goto out;
    }
    rc = certo_cert_parse_all(&certs, pem, strlen(pem), &err);
    if (rc == CERTO_OK)
        rc = certo_listener_set(r->s->db, r->s->dir, certs, key, force, certo_clock_now(), &err);
    if (rc != CERTO_OK) {
        api_fail_rc(r, rc, &err, "certificate");
        goto out;
    }
    reload_after(r);
out:
    EVP_PKEY_free(key);
    certo_certs_free(certs);
    certo_secret_free(pw);
}

/* ---- trust store ---- */

static json_t *
trust_doc(const struct certo_trust_entry *e)
{
    json_t *doc = json_pack(
        "{s:s,s:s,s:s,s:s,s:I,s:s,s:s,s:I}", "alias", e->alias, "fingerprint", e->fingerprint,
        "subject", e->subject ? e->subject : "", "issuer", e->issuer ? e->issuer : "", "notAfter",
        (json_int_t)e->not_after, "source", e->source ? e->source : "", "purpose",
        certo_trust_purpose_name(e->purpose), "addedAt", (json_int_t)e->added_at);

    if (e->token_issuer != NULL)
        json_object_set_new(doc, "tokenIssuer", json_string(e->token_issuer));
    return doc;
}

static void
route_trust_list(struct api_req *r)
{
    struct certo_trust_list l = {0};
    struct certo_err err = {0};
    struct certo_page page;
    json_t *links;

    if (!api_page(r, &page))
        return;
    if (certo_trust_list(&l, r->s->db, &err) != CERTO_OK) {
        api_fail_rc(r, CERTO_EINTERNAL, &err, NULL);
        return;
    }
    page.total = (int64_t)l.count;
    links = json_array();
    for (int64_t i = page.start; i < (int64_t)l.count && i < page.start + page.max; i++) {
        char *path = certo_asprintf(API_PREFIX "/trust/%s", l.entries[i].alias);
        json_array_append_new(links, api_link(r, path, trust_doc(&l.entries[i])));
        certo_free(path);
    }
    certo_trust_list_dispose(&l);
    api_ok(r, 200, api_link_list(&page, links));
}

static void
route_trust_add(struct api_req *r)
{
    static const char *const fields[] = {"certificate", "alias", "tokenIssuer", NULL};
    struct certo_trust_add_opts opts = {0};
    struct certo_trust_import_result res = {0};
    struct certo_err err = {0};
    json_t *body = api_body(r, false), *items;
    const char *pem;
    certo_rc rc;

    if (body == NULL || !api_fields(r, body, fields) ||
        !api_str(r, body, "certificate", true, CERTO_PEM_MAX, &pem) ||
        !api_str(r, body, "alias", false, CERTO_TRUST_ALIAS_MAX, &opts.alias) ||
        !api_str(r, body, "tokenIssuer", false, CERTO_TRUST_ISS_MAX, &opts.token_issuer) ||
        !admin_only(r))
        return;
    opts.source = "api";
    opts.purpose = opts.token_issuer != NULL ? CERTO_TRUST_TOKEN_ISSUER : CERTO_TRUST_PEER;
    rc = certo_trust_import(&res, r->s->db, pem, strlen(pem), &opts, &err);
    if (rc != CERTO_OK) {
        api_fail_rc(r, rc, &err,
                    strstr(err.msg, "alias") != NULL    ? "alias"
                    : strstr(err.msg, "issuer") != NULL ? "tokenIssuer"
                                                        : "certificate");
        return;
    }
    items = json_array();
    for (size_t i = 0; i < res.count; i++)
        json_array_append_new(items,
                              json_pack("{s:s,s:s,s:b}", "alias", res.items[i].alias, "fingerprint",
                                        res.items[i].fingerprint, "skipped", res.items[i].skipped));
    api_ok(r, res.added > 0 ? 201 : 200,
           json_pack("{s:o,s:I}", "items", items, "added", (json_int_t)res.added));
    certo_trust_import_dispose(&res);
}

static void
route_trust_list_or_add(struct api_req *r)
{
    if (r->method == EVHTTP_REQ_POST)
        route_trust_add(r);
    else
        route_trust_list(r);
}

static void
route_trust_one(struct api_req *r)
{
    struct certo_trust_entry e = {0};
    struct certo_err err = {0};
    char *path;

    if (certo_trust_get(&e, r->s->db, r->params[0], &err) != CERTO_OK) {
        api_fail(r, 404, "not_found", NULL, "no such trusted certificate");
        return;
    }
    if (r->method == EVHTTP_REQ_DELETE) {
        if (admin_only(r)) {
            if (certo_trust_remove(NULL, r->s->db, e.alias, &err) != CERTO_OK)
                api_fail_rc(r, err.rc, &err, NULL);
            else
                api_ok(r, 204, NULL);
        }
        certo_trust_entry_dispose(&e);
        return;
    }
    path = api_href(r, API_PREFIX "/trust/%s", e.alias);
    api_ok(r, 200, json_pack("{s:s,s:o}", "href", path, "certificate", trust_doc(&e)));
    certo_free(path);
    certo_trust_entry_dispose(&e);
}

/*
 * POST /trust/import-url {"host","port","sni","fingerprint"}: without "fingerprint"
 * it only shows what the server serves (nothing stored); with the SHA-256 the client
 * confirmed, it stores the certificate if it still matches.
 */
static void
route_trust_import_url(struct api_req *r)
{
    static const char *const fields[] = {"host",  "port",       "sni", "fingerprint",
                                         "alias", "chainIndex", NULL};
    struct certo_trust_fetch_opts fo = {0};
    struct certo_trust_add_opts ao = {0};
    struct certo_tls_peer peer = {0};
    struct certo_err err = {0};
    json_t *body = api_body(r, false), *port_j, *idx_j, *shown = NULL;
    const char *host, *want;
    char fp[96], norm[96], *alias = NULL, *source = NULL;
    int idx = 0;
    X509 *cert;

    if (body == NULL || !api_fields(r, body, fields) ||
        !api_str(r, body, "host", true, 255, &host) ||
        !api_str(r, body, "sni", false, 255, &fo.sni) ||
        !api_str(r, body, "fingerprint", false, 200, &want) ||
        !api_str(r, body, "alias", false, CERTO_TRUST_ALIAS_MAX, &ao.alias) || !admin_only(r))
        goto out;
    port_j = json_object_get(body, "port");
    if (!json_is_integer(port_j) || json_integer_value(port_j) < 1 ||
        json_integer_value(port_j) > 65535) {
        api_fail(r, 400, "invalid", "port", "port: an integer from 1 to 65535");
        goto out;
    }
    idx_j = json_object_get(body, "chainIndex");
    if (idx_j != NULL && (!json_is_integer(idx_j) || json_integer_value(idx_j) < 0 ||
                          json_integer_value(idx_j) >= CERTO_TRUST_CHAIN_MAX)) {
        api_fail(r, 400, "invalid", "chainIndex", "chainIndex: 0 to %d", CERTO_TRUST_CHAIN_MAX - 1);
        goto out;
    }
    idx = idx_j != NULL ? (int)json_integer_value(idx_j) : 0;
    if (certo_trust_fetch(&peer, host, (int)json_integer_value(port_j), &fo, &err) != CERTO_OK) {
        /* A refused address (link-local, metadata) is the caller's input, not an outage. */
        api_fail_rc(r, err.rc == CERTO_EINVAL || err.rc == CERTO_EPERM ? CERTO_EINVAL : CERTO_ENET,
                    &err, "host");
        goto out;
    }
    if (idx >= sk_X509_num(peer.chain)) {
        api_fail(r, 400, "invalid", "chainIndex", "chainIndex: the server sent %d certificates",
                 sk_X509_num(peer.chain));
        goto out;
    }
    cert = sk_X509_value(peer.chain, idx);
    if (certo_cert_fingerprint(fp, cert, &err) != CERTO_OK ||
        cert_json(&shown, cert, &err) != CERTO_OK) {
        api_fail_rc(r, CERTO_EINTERNAL, &err, NULL);
        goto out;
    }
    if (want == NULL) {
        api_ok(r, 200, json_pack("{s:b,s:O}", "stored", 0, "certificate", shown));
        goto out;
    }
    if (!certo_trust_fingerprint_parse(norm, want)) {
        api_fail(r, 400, "invalid", "fingerprint", "fingerprint: 32 hex bytes (SHA-256)");
        goto out;
    }
    if (strcmp(norm, fp) != 0) {
        api_fail(r, 409, "fingerprint_mismatch", "fingerprint",
                 "fingerprint: the server presents %s", fp);
        goto out;
    }
    source = certo_asprintf("url:%s:%d", host, (int)json_integer_value(port_j));
    ao.source = source;
    ao.purpose = CERTO_TRUST_PEER;
    if (certo_trust_add(&alias, r->s->db, cert, &ao, &err) != CERTO_OK) {
        api_fail_rc(r, err.rc, &err, strstr(err.msg, "alias") != NULL ? "alias" : NULL);
        goto out;
    }
    api_ok(r, 201, json_pack("{s:b,s:s,s:O}", "stored", 1, "alias", alias, "certificate", shown));
out:
    json_decref(shown);
    certo_free(alias);
    certo_free(source);
    certo_tls_peer_dispose(&peer);
}

static void
route_trust_export(struct api_req *r)
{
    struct certo_err err = {0};
    struct certo_buf b;
    size_t n = 0;

    certo_buf_init(&b, 8 * 1024 * 1024);
    if (certo_trust_export(&b, &n, r->s->db, &err) != CERTO_OK) {
        api_fail_rc(r, CERTO_EINTERNAL, &err, NULL);
        return;
    }
    api_ok(r, 200,
           json_pack("{s:s%,s:I}", "pem", b.data != NULL ? (const char *)b.data : "", b.len,
                     "count", (json_int_t)n));
    certo_buf_dispose(&b);
}

/* ---- OpenAPI ---- */

/* "/vco/api/users/{}" as "/users/{id}"; "/orgs/{}/departments/" as "/orgs/{id}/departments/". */
static char *
openapi_path(const char *pattern)
{
    struct certo_buf b;
    char *out;

    certo_buf_init(&b, 1024);
    for (const char *p = pattern + strlen(API_PREFIX); *p != '\0'; p++) {
        if (p[0] == '{' && p[1] == '}') {
            certo_buf_append_fit(&b, "{id}", 4);
            p++;
        } else {
            certo_buf_append_fit(&b, p, 1);
        }
    }
    out = certo_strdup(b.data != NULL ? (const char *)b.data : "/");
    certo_buf_dispose(&b);
    return out;
}

static json_t *
openapi_op(const struct api_route *rt, const char *method)
{
    json_t *op =
        json_pack("{s:s,s:{s:{s:s},s:{s:s,s:{s:{s:{s:s}}}}}}", "summary", rt->summary, "responses",
                  "200", "description", "success", "default", "description", "an error", "content",
                  "application/json", "schema", "$ref", "#/components/schemas/Error");

    if (rt->auth == API_AUTH)
        json_object_set_new(op, "security", json_pack("[{s:[]},{s:[]}]", "bearer", "basic"));
    else
        json_object_set_new(op, "security", json_array());
    if (strstr(rt->pattern, "{}") != NULL)
        json_object_set_new(op, "parameters",
                            json_pack("[{s:s,s:s,s:b,s:{s:s}}]", "name", "id", "in", "path",
                                      "required", 1, "schema", "type", "string"));
    (void)method;
    return op;
}

static void
route_openapi(struct api_req *r)
{
    static const struct {
        unsigned bit;
        const char *name;
    } methods[] = {{EVHTTP_REQ_GET, "get"},
                   {EVHTTP_REQ_POST, "post"},
                   {EVHTTP_REQ_PUT, "put"},
                   {EVHTTP_REQ_PATCH, "patch"},
                   {EVHTTP_REQ_DELETE, "delete"}};
    size_t n_tables;
    const struct api_route *const *tables = server_route_tables(&n_tables);
    json_t *paths = json_object(), *components;
    char *server = api_href(r, API_PREFIX);

    for (size_t t = 0; t < n_tables; t++) {
        for (const struct api_route *rt = tables[t]; rt->pattern != NULL; rt++) {
            char *path = openapi_path(rt->pattern);
            json_t *item = json_object_get(paths, path);
            if (item == NULL) {
                item = json_object();
                json_object_set_new(paths, path, item);
            }
            for (size_t m = 0; m < CERTO_ARRAY_LEN(methods); m++) {
                if (rt->methods & methods[m].bit)
                    json_object_set_new(item, methods[m].name, openapi_op(rt, methods[m].name));
            }
            certo_free(path);
        }
    }
    components =
        json_loads("{\"securitySchemes\":{\"bearer\":{\"type\":\"http\",\"scheme\":\"bearer\","
                   "\"bearerFormat\":\"JWT\"},\"basic\":{\"type\":\"http\",\"scheme\":\"basic\"}},"
                   "\"schemas\":{\"Error\":{\"type\":\"object\",\"properties\":{\"error\":{"
                   "\"type\":\"object\",\"required\":[\"code\",\"message\"],\"properties\":{"
                   "\"code\":{\"type\":\"string\"},\"message\":{\"type\":\"string\"},"
                   "\"field\":{\"type\":\"string\",\"nullable\":true}}}}}}}",
                   0, NULL);
    api_ok(r, 200,
           json_pack("{s:s,s:{s:s,s:s,s:s},s:[{s:s}],s:o,s:o}", "openapi", "3.0.3", "info", "title",
                     "Certo orchestrator REST API", "version", "1", "description",
                     "Errors are {\"error\":{\"code\",\"message\",\"field\"}}; lists take "
                     "?startIndex= and ?maxResult= (at most 1000).",
                     "servers", "url", server, "paths", paths, "components", components));
    certo_free(server);
}

const struct api_route api_routes_system[] = {
    {EVHTTP_REQ_GET, API_PREFIX "/docs/openapi.json", API_PUBLIC, route_openapi,
     "This OpenAPI description"},
    {EVHTTP_REQ_GET, API_PREFIX "/", API_AUTH, route_service, "The services of this API"},
    {EVHTTP_REQ_GET, API_PREFIX "/catalog/", API_AUTH, route_catalog, "Catalog namespaces"},
    {EVHTTP_REQ_GET, API_PREFIX "/catalog/System/", API_AUTH, route_system,
     "Object types of the System namespace"},
    {EVHTTP_REQ_GET, API_PREFIX "/catalog/System/{}/", API_AUTH, route_empty,
     "Objects of one System type"},
    {EVHTTP_REQ_GET, API_PREFIX "/inventory/", API_AUTH, route_inventory, "Inventory root"},
    {EVHTTP_REQ_GET, API_PREFIX "/inventory/System/", API_AUTH, route_system,
     "Inventory of the System namespace"},
    {EVHTTP_REQ_GET, API_PREFIX "/server-cert", API_AUTH, route_cert_show,
     "The server certificate and chain"},
    {EVHTTP_REQ_POST, API_PREFIX "/server-cert/csr", API_AUTH, route_cert_csr,
     "A CSR for the server key (admin)"},
    {EVHTTP_REQ_POST, API_PREFIX "/server-cert/import", API_AUTH, route_cert_import,
     "Import the CA-signed server certificate and chain (admin)"},
    {EVHTTP_REQ_POST, API_PREFIX "/server-cert/export-db", API_AUTH, route_cert_export,
     "Export the identity as password-protected PKCS#12 (admin)"},
    {EVHTTP_REQ_POST, API_PREFIX "/server-cert/import-db", API_AUTH, route_cert_import_db,
     "Import a PKCS#12 identity (admin; replace a self-signed one with \"replace\")"},
    {EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_DELETE, API_PREFIX "/server-cert/listener",
     API_AUTH, route_cert_listener,
     "The listener's own certificate instead of the identity: show, set, clear (admin)"},
    {EVHTTP_REQ_POST, API_PREFIX "/server-cert/rotate", API_AUTH, route_cert_rotate,
     "New key and self-signed certificate; the old one stays a package signer (admin)"},
    {EVHTTP_REQ_POST, API_PREFIX "/server-cert/reload", API_AUTH, route_cert_reload,
     "Reload the listener certificate (admin)"},
    {EVHTTP_REQ_GET | EVHTTP_REQ_POST, API_PREFIX "/trust/", API_AUTH, route_trust_list_or_add,
     "List trusted certificates, or add PEM certificates (admin)"},
    {EVHTTP_REQ_POST, API_PREFIX "/trust/import-url", API_AUTH, route_trust_import_url,
     "Show, then with \"fingerprint\" trust, the certificate a TLS server presents (admin)"},
    {EVHTTP_REQ_GET, API_PREFIX "/trust/export", API_AUTH, route_trust_export,
     "The whole trust store as a PEM bundle"},
    {EVHTTP_REQ_GET | EVHTTP_REQ_DELETE, API_PREFIX "/trust/{}", API_AUTH, route_trust_one,
     "One trusted certificate; DELETE removes it (admin)"},
    {0, NULL, API_PUBLIC, NULL, NULL},
};
