/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tomcat 9/10/11 endpoints (connector layer). An install reads tomcat_dir/conf/server.xml
 * through the transport, picks the Certificates the new certificate is for (an
 * SSLHostConfig whose hostName it covers, else each TLS connector's _default_ one), and
 * plans new file contents: the keystore with the entry under the same alias, type and
 * password, or the PEM files. server.xml itself changes only when a PEM file is shared
 * with a Certificate that is not being replaced: then new PEM files are written and only
 * the attribute value bytes are edited. Tomcat has no configuration test and must be
 * restarted (catalina.sh stop, start); verify asks each port over TLS. nodes() lists each
 * Connector with each of its SSLHostConfigs. This file never writes a file itself (the
 * install engine does), never runs a shell string and never puts a password in a message.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "certo/cert.h"
#include "certo/clock.h"
#include "certo/keystore.h"
#include "certo/limits.h"
#include "certo/file.h"
#include "certo/mem.h"
#include "certo/pem.h"
#include "certo/tlsprobe.h"
#include "connector/connector.h"
#include "connector/tomcat/tomcat.h"

#define WHERE        "conn.tomcat"
#define DEFAULT_PASS "changeit" /* Tomcat's default keystore password */
#define VERIFY_MS    60000      /* a JVM takes seconds to start and open its ports */
#define PID_NAME     "temp/certo-tomcat.pid"

/* Debian's CATALINA_HOME directories, tried in this order when tomcat_dir has no bin/. */
static const char *const homes[] = {"/usr/share/tomcat10", "/usr/share/tomcat11",
                                    "/usr/share/tomcat9"};

/* One Certificate an install replaces. */
struct target {
    size_t cert;   /* index into ctx->conf.certs */
    bool pem;      /* PEM files, else a keystore */
    char *ks_path; /* owned; keystore: the file */
    char *alias;   /* owned; keystore: the entry */
    enum certo_ks_format fmt;
    struct certo_secret *pass; /* owned; keystore password, or the PEM key's password */
    char *files[3];            /* owned; PEM: certificate, key (NULL: in the certificate
                                  file), chain (NULL: none) as written */
    size_t change[3];          /* index in plan->changes of the keystore (0) or of each
                                  PEM file; SIZE_MAX when none */
};

struct tc_ctx {
    const struct certo_connector_cfg *cfg; /* borrowed; outlives the ctx */
    const char *dir;                       /* tomcat_dir (CATALINA_BASE), borrowed */
    const char *home_opt;                  /* option catalina_home, or NULL */
    char *server_xml;                      /* owned; dir/conf/server.xml */
    /* Filled by plan(), used by test() and verify() of the same install: */
    struct certo_tomcat_conf conf;
    struct target *targets; /* owned array */
    size_t n_targets;
    size_t xml_change; /* index of server.xml in plan->changes, SIZE_MAX when unchanged */
    char **names;      /* owned; the names the new certificate is for (>= 1) */
    size_t n_names;
};

static const char *
ep_name(const struct tc_ctx *c)
{
    return c->cfg->endpoint_name != NULL ? c->cfg->endpoint_name : c->dir;
}

static void
targets_free(struct tc_ctx *c)
{
    for (size_t i = 0; i < c->n_targets; i++) {
        struct target *g = &c->targets[i];
        certo_free(g->ks_path);
        certo_free(g->alias);
        certo_secret_free(g->pass);
        for (int k = 0; k < 3; k++)
            certo_free(g->files[k]);
    }
    CERTO_FREE(c->targets);
    c->n_targets = 0;
    for (size_t i = 0; i < c->n_names; i++)
        certo_free(c->names[i]);
    CERTO_FREE(c->names);
    c->n_names = 0;
    certo_tomcat__conf_dispose(&c->conf);
}

/* ---- configure ---- */

static certo_rc
tc_configure(void *ctx, const struct certo_connector_cfg *cfg, struct certo_err *err)
{
    struct tc_ctx *c = ctx;
    const char *v;
    certo_rc rc = CERTO_EINTERNAL;

    CERTO_ASSERT(c != NULL && cfg != NULL);
    memset(c, 0, sizeof(*c));
    c->cfg = cfg;
    c->xml_change = SIZE_MAX;
    v = certo_connector_opt(cfg, "tomcat_dir");
    if (v == NULL || v[0] != '/') {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE,
                           "endpoint %s: tomcat_dir must be an absolute directory, not '%.200s'",
                           cfg->endpoint_name != NULL ? cfg->endpoint_name : "tomcat",
                           v != NULL ? v : "");
        goto out;
    }
    rc = certo_tomcat__value_check("tomcat_dir", v, true, err);
    if (rc != CERTO_OK)
        goto out;
    c->dir = v;
    v = certo_connector_opt(cfg, "catalina_home");
    if (v != NULL) {
        if (v[0] != '/') {
            rc = certo_err_set(err, CERTO_EINVAL, WHERE,
                               "endpoint %s: catalina_home '%.200s' must be absolute", ep_name(c),
                               v);
            goto out;
        }
        c->home_opt = v;
    }
    c->server_xml = certo_asprintf("%s/conf/server.xml", c->dir);
    rc = CERTO_OK;
out:
    return rc;
}

static void
tc_cleanup(void *ctx)
{
    struct tc_ctx *c = ctx;

    targets_free(c);
    CERTO_FREE(c->server_xml);
}

/* ---- reading ---- */

static certo_rc
read_conf(struct certo_tomcat_conf *conf, struct certo_buf *raw, const struct tc_ctx *c,
          struct certo_transport *t, const char *path, struct certo_err *err)
{
    struct certo_err e = {0};
    certo_rc rc;

    certo_buf_init(raw, CERTO_TOMCAT_XML_MAX);
    rc = certo_transport_get(t, path, raw, err);
    if (rc == CERTO_ETOOBIG)
        return certo_err_set(err, rc, WHERE, "%s is larger than %u bytes", path,
                             CERTO_TOMCAT_XML_MAX);
    if (rc != CERTO_OK)
        return rc;
    rc = certo_tomcat__parse(conf, raw->data, raw->len, &e);
    if (rc != CERTO_OK)
        return certo_err_set(err, rc, WHERE, "%s: %s", path, e.msg);
    CERTO_UNUSED(c);
    return CERTO_OK;
}

/* The resolved path of a file attribute of certificate 'k', or NULL with err set. */
static char *
cert_path(const struct tc_ctx *c, const struct certo_tomcat_cert *k, int f, struct certo_err *err)
{
    char *p = certo_tomcat__resolve(c->dir, NULL, k->val[f]);

    if (p == NULL)
        (void)certo_err_set(err, CERTO_EUNSUPPORTED, WHERE,
                            "server.xml line %d: '%.200s' uses a property Certo cannot resolve "
                            "(only ${catalina.base} and ${catalina.home})",
                            k->at[f].line, k->val[f] != NULL ? k->val[f] : "");
    return p;
}

/* The certificate's key password ('k' PEM) or store password (keystore), new secret. */
static certo_rc
store_password(struct certo_secret **out, const struct tc_ctx *c, struct certo_transport *t,
               const struct certo_tomcat_cert *k, struct certo_err *err)
{
    struct certo_buf b;
    char *path = NULL;
    certo_rc rc = CERTO_EINTERNAL;

    *out = NULL;
    certo_buf_init(&b, 4096);
    if (k->val[CERTO_TC_KS_PASS_FILE] != NULL) {
        /* The password file takes precedence over the attribute (Tomcat docs). */
        path = cert_path(c, k, CERTO_TC_KS_PASS_FILE, err);
        if (path == NULL) {
            rc = CERTO_EUNSUPPORTED;
            goto out;
        }
        rc = certo_transport_get(t, path, &b, err);
        if (rc != CERTO_OK)
            goto out;
        size_t n = 0;
        while (n < b.len && b.data[n] != '\n' && b.data[n] != '\r')
            n++;
        rc = certo_secret_new(out, b.data, n);
    } else if (k->ks_pass != NULL) {
        rc = certo_secret_new(out, certo_secret_get0(k->ks_pass), certo_secret_len(k->ks_pass));
    } else {
        rc = certo_secret_from_str(out, DEFAULT_PASS);
    }
    if (rc != CERTO_OK)
        rc = certo_err_set(err, rc, WHERE, "cannot keep the keystore password");
out:
    certo_buf_dispose(&b);
    certo_free(path);
    return rc;
}

/* ---- selection ---- */

static const char *
key_type(EVP_PKEY *key)
{
    switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
    case EVP_PKEY_RSA_PSS:
        return "RSA";
    case EVP_PKEY_EC:
        return "EC";
    case EVP_PKEY_DSA:
        return "DSA";
    default:
        return "UNDEFINED";
    }
}

static bool
type_fits(const struct certo_tomcat_cert *k, const char *kt)
{
    const char *v = k->val[CERTO_TC_TYPE];
    return v == NULL || strcasecmp(v, "UNDEFINED") == 0 || strcasecmp(v, kt) == 0;
}

/* The names the certificate is for: DNS SANs, else its common name. New strings. */
static certo_rc
cert_names(char ***out, size_t *n, X509 *leaf, struct certo_err *err)
{
    struct certo_cert_info info;
    char **v = NULL;
    size_t k = 0;
    certo_rc rc;

    *out = NULL;
    *n = 0;
    rc = certo_cert_info_get(&info, leaf, err);
    if (rc != CERTO_OK)
        return rc;
    v = certo_calloc(info.n_sans + 2, sizeof(*v));
    for (size_t i = 0; i < info.n_sans; i++) {
        if (strcmp(info.sans[i].type, "DNS") == 0)
            v[k++] = certo_strdup(info.sans[i].value);
    }
    if (k == 0)
        v[k++] = certo_strdup(info.common_name != NULL ? info.common_name : "certificate");
    certo_cert_info_dispose(&info);
    *out = v;
    *n = k;
    return CERTO_OK;
}

static bool
covered(const char *host, char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (certo_tomcat__host_matches(host, names[i]))
            return true;
    }
    return false;
}

/*
 * Which Certificates the new certificate replaces (docs/connectors/tomcat.md): those of
 * every SSLHostConfig whose hostName one of its names covers; when there is none, those
 * of each TLS connector's default SSLHostConfig when that is "_default_" (no hostName).
 * Of several Certificates in one SSLHostConfig (RSA + EC), the one of the key's type.
 * 'sel' gets conf->n_certs flags.
 */
static certo_rc
select_certs(bool *sel, const struct tc_ctx *c, char *const *names, size_t n_names, const char *kt,
             struct certo_err *err)
{
    const struct certo_tomcat_conf *conf = &c->conf;
    bool *host = certo_calloc(conf->n_certs + 1, sizeof(*host));
    bool any = false;
    certo_rc rc = CERTO_OK;

    for (size_t i = 0; i < conf->n_certs; i++) {
        host[i] = strcmp(conf->certs[i].host_name, "_default_") != 0 &&
                  covered(conf->certs[i].host_name, names, n_names);
        any = any || host[i];
    }
    for (size_t i = 0; !any && i < conf->n_certs; i++)
        host[i] =
            conf->certs[i].is_default && strcasecmp(conf->certs[i].host_name, "_default_") == 0;
    /* One Certificate per SSLHostConfig: the one whose type fits the key. */
    for (size_t i = 0; rc == CERTO_OK && i < conf->n_certs; i++) {
        const struct certo_tomcat_cert *k = &conf->certs[i];
        size_t peers = 0, fit = SIZE_MAX;
        if (!host[i])
            continue;
        for (size_t j = 0; j < conf->n_certs; j++) {
            const struct certo_tomcat_cert *o = &conf->certs[j];
            if (o->connector != k->connector || strcasecmp(o->host_name, k->host_name) != 0)
                continue;
            peers++;
            if (fit == SIZE_MAX && type_fits(o, kt))
                fit = j;
        }
        if (fit == SIZE_MAX && peers == 1)
            rc = certo_err_set(err, CERTO_EINVAL, WHERE,
                               "server.xml line %d: the Certificate is type %s but the new key "
                               "is %s",
                               k->line, k->val[CERTO_TC_TYPE], kt);
        else if (fit == SIZE_MAX)
            rc = certo_err_set(err, CERTO_EINVAL, WHERE,
                               "server.xml line %d: SSLHostConfig %s has no Certificate of type "
                               "%s",
                               k->line, k->host_name, kt);
        else
            sel[fit] = true;
    }
    any = false;
    for (size_t i = 0; i < conf->n_certs; i++)
        any = any || sel[i];
    if (rc == CERTO_OK && !any)
        rc = certo_err_set(err, CERTO_ENOTFOUND, WHERE,
                           "%s: no TLS connector for %s (no SSLHostConfig hostName it covers, "
                           "and no _default_ SSLHostConfig)",
                           c->server_xml, n_names > 0 ? names[0] : "the certificate");
    certo_free(host);
    return rc;
}

/* ---- plan ---- */

static const char *
where_text(const struct tc_ctx *c, const struct certo_tomcat_cert *k, char *buf, size_t cap)
{
    const struct certo_tomcat_connector *cn = &c->conf.connectors[k->connector];
    snprintf(buf, cap, "connector port %d, host %s", cn->port, k->host_name);
    return buf;
}

static struct target *
add_target(struct tc_ctx *c, size_t cert)
{
    c->targets = certo_reallocarray(c->targets, c->n_targets + 1, sizeof(*c->targets));
    struct target *g = &c->targets[c->n_targets++];
    memset(g, 0, sizeof(*g));
    g->cert = cert;
    for (int k = 0; k < 3; k++)
        g->change[k] = SIZE_MAX;
    return g;
}

/* Index of the change for 'path' in 'p', or SIZE_MAX. */
static size_t
change_of(const struct certo_plan *p, const char *path)
{
    for (size_t i = 0; i < p->n_changes; i++) {
        if (strcmp(p->changes[i].path, path) == 0)
            return i;
    }
    return SIZE_MAX;
}

/* Whether a Certificate not selected uses file 'path' (any file attribute). */
static bool
used_elsewhere(const struct tc_ctx *c, const bool *sel, const char *path, const char *alias)
{
    static const int files[] = {CERTO_TC_KS_FILE, CERTO_TC_CERT_FILE, CERTO_TC_KEY_FILE,
                                CERTO_TC_CHAIN_FILE};

    for (size_t i = 0; i < c->conf.n_certs; i++) {
        const struct certo_tomcat_cert *k = &c->conf.certs[i];
        if (sel[i])
            continue;
        for (size_t f = 0; f < CERTO_ARRAY_LEN(files); f++) {
            char *p = certo_tomcat__resolve(c->dir, NULL, k->val[files[f]]);
            bool same = p != NULL && strcmp(p, path) == 0;
            certo_free(p);
            /* A keystore shared under another alias is fine: only our entry changes. */
            if (same && files[f] == CERTO_TC_KS_FILE && alias != NULL &&
                k->val[CERTO_TC_KEY_ALIAS] != NULL &&
                strcasecmp(k->val[CERTO_TC_KEY_ALIAS], alias) != 0)
                same = false;
            if (same)
                return true;
        }
    }
    return false;
}

static certo_rc
ks_format(enum certo_ks_format *out, const struct certo_tomcat_cert *k, const struct certo_buf *b,
          struct certo_err *err)
{
    const char *v = k->val[CERTO_TC_KS_TYPE];

    *out = CERTO_KS_JKS;
    if (v == NULL) {
        /* Tomcat's default is JKS; a JKS KeyStore of Java 9+ also reads PKCS#12. */
        if (certo_keystore_detect(b->data, b->len) == CERTO_KS_PKCS12)
            *out = CERTO_KS_PKCS12;
        return CERTO_OK;
    }
    if (strcasecmp(v, "JKS") == 0)
        return CERTO_OK;
    if (strcasecmp(v, "PKCS12") == 0) {
        *out = CERTO_KS_PKCS12;
        return CERTO_OK;
    }
    return certo_err_set(err, CERTO_EUNSUPPORTED, WHERE,
                         "server.xml line %d: keystore type %.40s is not supported (JKS or "
                         "PKCS12)",
                         k->line, v);
}

/* The key entry's alias when the Certificate names none: the only key entry there is. */
static certo_rc
only_key_alias(char **out, const struct certo_keystore *ks, const char *path, int line,
               struct certo_err *err)
{
    const char *found = NULL;
    size_t n = 0;

    *out = NULL;
    for (size_t i = 0; i < ks->count; i++) {
        if (ks->entries[i].kind == CERTO_KS_ENTRY_KEY) {
            found = ks->entries[i].alias;
            n++;
        }
    }
    if (n != 1)
        return certo_err_set(err, CERTO_EINVAL, WHERE,
                             "server.xml line %d names no certificateKeyAlias and %s holds %zu "
                             "key entries; Tomcat would take one of them at random",
                             line, path, n);
    *out = certo_strdup(found);
    return CERTO_OK;
}

/* A keystore Certificate: the entry under its alias replaced, every other entry kept. */
static certo_rc
plan_keystore(struct certo_plan *p, struct tc_ctx *c, struct certo_transport *t,
              const struct certo_install_req *req, const bool *sel, size_t ki,
              struct certo_err *err)
{
    const struct certo_tomcat_cert *k = &c->conf.certs[ki];
    struct target *g = add_target(c, ki);
    struct certo_keystore *ks = NULL;
    struct certo_buf raw, out;
    struct certo_err e = {0};
    const struct certo_ks_entry *old;
    char wt[96];
    certo_rc rc = CERTO_EINTERNAL;

    certo_buf_init(&raw, CERTO_KEYSTORE_MAX);
    certo_buf_init(&out, CERTO_KEYSTORE_MAX);
    if (k->val[CERTO_TC_KS_FILE] == NULL) {
        rc = certo_err_set(err, CERTO_EUNSUPPORTED, WHERE,
                           "server.xml line %d: the Certificate names no keystore or PEM file "
                           "(Tomcat would use ~/.keystore)",
                           k->line);
        goto out;
    }
    g->ks_path = cert_path(c, k, CERTO_TC_KS_FILE, err);
    if (g->ks_path == NULL) {
        rc = CERTO_EUNSUPPORTED;
        goto out;
    }
    rc = store_password(&g->pass, c, t, k, err);
    if (rc != CERTO_OK)
        goto out;
    if (k->key_pass != NULL && !certo_secret_equal(k->key_pass, g->pass)) {
        rc = certo_err_set(err, CERTO_EUNSUPPORTED, WHERE,
                           "server.xml line %d: a key password different from the keystore "
                           "password is not supported",
                           k->line);
        goto out;
    }
    /* A keystore already planned (two Certificates, one file) is updated once more. */
    g->change[0] = change_of(p, g->ks_path);
    if (g->change[0] != SIZE_MAX)
        rc = certo_buf_append(&raw, p->changes[g->change[0]].data.data,
                              p->changes[g->change[0]].data.len);
    else
        rc = certo_transport_get(t, g->ks_path, &raw, err);
    if (rc != CERTO_OK)
        goto out;
    rc = ks_format(&g->fmt, k, &raw, err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_keystore_parse(&ks, g->fmt, raw.data, raw.len, g->pass, &e);
    if (rc == CERTO_EAUTH) {
        rc = certo_err_set(err, rc, WHERE, "the password in server.xml line %d does not open %s",
                           k->line, g->ks_path);
        goto out;
    }
    if (rc != CERTO_OK) {
        rc = certo_err_set(err, rc, WHERE, "%s: %s", g->ks_path, e.msg);
        goto out;
    }
    if (k->val[CERTO_TC_KEY_ALIAS] != NULL)
        rc = certo_keystore_alias_check(&g->alias, g->fmt, k->val[CERTO_TC_KEY_ALIAS], err);
    else
        rc = only_key_alias(&g->alias, ks, g->ks_path, k->line, err);
    if (rc != CERTO_OK)
        goto out;
    if (used_elsewhere(c, sel, g->ks_path, g->alias)) {
        rc = certo_err_set(err, CERTO_ECONFLICT, WHERE,
                           "%s entry '%s' is also used by a Certificate the new certificate does "
                           "not cover; give that one its own alias or keystore",
                           g->ks_path, g->alias);
        goto out;
    }
    old = certo_keystore_find(ks, g->alias);
    if (old != NULL && old->kind != CERTO_KS_ENTRY_KEY) {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE, "%s entry '%s' is not a key entry", g->ks_path,
                           g->alias);
        goto out;
    }
    if (old != NULL && p->fp_before[0] == '\0' && sk_X509_num(old->certs) > 0) {
        rc = certo_cert_fingerprint(p->fp_before, sk_X509_value(old->certs, 0), err);
        if (rc != CERTO_OK)
            goto out;
    }
    rc = certo_keystore_put_key(ks, g->alias, req->bundle->key, req->bundle->chain,
                                certo_clock_now_ms(), err);
    if (rc == CERTO_OK)
        rc = certo_keystore_serialize(&out, ks, g->pass, err);
    if (rc != CERTO_OK)
        goto out;
    if (g->change[0] != SIZE_MAX) {
        certo_buf_dispose(&p->changes[g->change[0]].data);
        p->changes[g->change[0]].data = out;
        certo_buf_init(&out, CERTO_KEYSTORE_MAX);
    } else {
        g->change[0] = p->n_changes;
        certo_plan_add_change(p, certo_strdup(g->ks_path), &out, 0600,
                              certo_asprintf("tomcat %s: %s entry '%s' %s (%s; server.xml line %d)",
                                             g->ks_path, certo_ks_format_name(g->fmt), g->alias,
                                             old != NULL ? "replaced" : "added",
                                             where_text(c, k, wt, sizeof(wt)), k->line));
    }
    if (p->alias == NULL)
        p->alias = certo_strdup(g->alias);
    rc = CERTO_OK;
out:
    certo_keystore_free(ks);
    certo_buf_dispose(&raw);
    certo_buf_dispose(&out);
    return rc;
}

/* PEM text of 'key' with 'chain' in 'layout'; 'pass' encrypts the key. */
static certo_rc
pem_text(struct certo_buf *out, EVP_PKEY *key, STACK_OF(X509) * chain, enum certo_pem_layout layout,
         const struct certo_secret *pass, struct certo_err *err)
{
    struct certo_keystore *ks = certo_keystore_new(CERTO_KS_PEM);
    certo_rc rc;

    certo_buf_init(out, CERTO_PEM_MAX);
    rc = certo_keystore_put_key(ks, "tomcat", key, chain, 0, err);
    if (rc == CERTO_OK) {
        ks->pem_layout = layout;
        rc = certo_pem_write(out, ks, pass, err);
    }
    certo_keystore_free(ks);
    return rc;
}

/* The value written for a new file: the old value's directory as written + 'name', or
 * the absolute path when the old value uses a ${property}. New string. */
static char *
new_value(const char *old, const char *abs_dir, const char *name)
{
    const char *slash = strrchr(old, '/');

    if (strchr(old, '$') != NULL)
        return certo_asprintf("%s/%s", abs_dir, name);
    if (slash == NULL)
        return certo_strdup(name);
    return certo_asprintf("%.*s/%s", (int)(slash - old), old, name);
}

/* A safe file name part from a certificate name: *.example.com → wildcard.example.com. */
static char *
file_stem(const char *name)
{
    bool wild = strncmp(name, "*.", 2) == 0;
    char *s = certo_asprintf("certo-%s%s", wild ? "wildcard" : "", wild ? name + 1 : name);
    for (char *q = s; *q != '\0'; q++) {
        if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
              *q == '.' || *q == '-' || *q == '_'))
            *q = '-';
    }
    return s;
}

/*
 * A PEM Certificate: the files keep their names, and get the new certificate (with the
 * chain when there is no chain file), chain and key; the key goes into the certificate
 * file when there is no key file. When a file is shared with a Certificate that is not
 * being replaced, new files certo-<name>.crt/.key/-chain.crt are written beside the
 * certificate file instead, and the attributes are pointed at them ('edits').
 */
static certo_rc
plan_pem(struct certo_plan *p, struct tc_ctx *c, struct certo_transport *t,
         const struct certo_install_req *req, const bool *sel, size_t ki, char *const *names,
         struct certo_tomcat_edit *edits, char **edit_vals, size_t *n_edits, struct certo_err *err)
{
    static const int fields[3] = {CERTO_TC_CERT_FILE, CERTO_TC_KEY_FILE, CERTO_TC_CHAIN_FILE};
    static const char *const suffix[3] = {".crt", ".key", "-chain.crt"};
    const struct certo_tomcat_cert *k = &c->conf.certs[ki];
    struct target *g = add_target(c, ki);
    struct certo_buf text[3] = {0};
    char *old[3] = {NULL, NULL, NULL};
    char *dir = NULL, *stem = NULL;
    bool shared = false;
    char wt[96];
    certo_rc rc = CERTO_EINTERNAL;

    for (int i = 0; i < 3; i++)
        certo_buf_init(&text[i], CERTO_PEM_MAX);
    for (int i = 0; i < 3; i++) {
        if (k->val[fields[i]] == NULL)
            continue;
        old[i] = cert_path(c, k, fields[i], err);
        if (old[i] == NULL) {
            rc = CERTO_EUNSUPPORTED;
            goto out;
        }
        shared = shared || used_elsewhere(c, sel, old[i], NULL);
    }
    if (k->key_pass != NULL)
        rc = certo_secret_new(&g->pass, certo_secret_get0(k->key_pass),
                              certo_secret_len(k->key_pass));
    else
        rc = CERTO_OK;
    if (rc != CERTO_OK)
        goto out;
    g->pem = true;
    if (p->fp_before[0] == '\0') {
        struct certo_buf b;
        STACK_OF(X509) *now = NULL;
        certo_buf_init(&b, CERTO_PEM_MAX);
        if (certo_transport_get(t, old[0], &b, NULL) == CERTO_OK &&
            certo_cert_parse_all(&now, b.data, b.len, NULL) == CERTO_OK && sk_X509_num(now) > 0)
            rc = certo_cert_fingerprint(p->fp_before, sk_X509_value(now, 0), err);
        certo_certs_free(now);
        certo_buf_dispose(&b);
        if (rc != CERTO_OK)
            goto out;
    }
    /* Contents: certificate file, key file, chain file. Without a key file the key
     * follows the certificate(s) in the certificate file (Tomcat's PEMFile reads both). */
    STACK_OF(X509) *chain = req->bundle->chain;
    EVP_PKEY *key = req->bundle->key;
    rc = pem_text(&text[0], key, chain, old[2] != NULL ? CERTO_PEM_CERT : CERTO_PEM_FULLCHAIN, NULL,
                  err);
    if (rc == CERTO_OK)
        rc = pem_text(&text[1], key, chain, CERTO_PEM_KEY, g->pass, err);
    if (rc == CERTO_OK && old[1] == NULL) {
        rc = certo_buf_append(&text[0], text[1].data, text[1].len);
        certo_buf_reset(&text[1]);
    }
    if (rc == CERTO_OK && old[2] != NULL)
        rc = pem_text(&text[2], key, chain, CERTO_PEM_CHAIN, NULL, err);
    if (rc != CERTO_OK)
        goto out;
    if (shared) {
        const char *slash = strrchr(old[0], '/');
        dir = certo_strndup(old[0], (size_t)(slash - old[0]));
        stem = file_stem(names[0]);
    }
    for (int i = 0; i < 3; i++) {
        if (old[i] == NULL)
            continue;
        if (!shared) {
            g->files[i] = certo_strdup(old[i]);
        } else {
            char *name = certo_asprintf("%s%s", stem, suffix[i]);
            g->files[i] = certo_asprintf("%s/%s", dir, name);
            edit_vals[*n_edits] = new_value(k->val[fields[i]], dir, name);
            certo_free(name);
            rc = certo_tomcat__value_check("the new file name", edit_vals[*n_edits], c->conf.utf8,
                                           err);
            edits[*n_edits].at = k->at[fields[i]];
            edits[*n_edits].value = edit_vals[*n_edits];
            (*n_edits)++;
            if (rc != CERTO_OK)
                goto out;
            if (used_elsewhere(c, sel, g->files[i], NULL)) {
                rc = certo_err_set(err, CERTO_ECONFLICT, WHERE,
                                   "%s is used by another Certificate; cannot write it",
                                   g->files[i]);
                goto out;
            }
        }
        g->change[i] = change_of(p, g->files[i]);
        if (g->change[i] != SIZE_MAX)
            continue; /* two selected Certificates share the file: same content */
        bool has_key = i == 1 || (i == 0 && old[1] == NULL);
        g->change[i] = p->n_changes;
        certo_plan_add_change(
            p, certo_strdup(g->files[i]), &text[i], has_key ? 0600 : 0644,
            certo_asprintf("tomcat %s: %s%s (%s; server.xml line %d)", g->files[i],
                           i == 0   ? (has_key          ? "certificate, chain and private key"
                                       : old[2] != NULL ? "certificate"
                                                        : "certificate and chain")
                           : i == 1 ? "private key"
                                    : "chain",
                           shared ? ", new file" : "", where_text(c, k, wt, sizeof(wt)), k->line));
    }
    if (shared)
        certo_plan_note(p,
                        "the PEM files of server.xml line %d are shared with a Certificate that "
                        "is not replaced; new files are written and server.xml points at them",
                        k->line);
    rc = CERTO_OK;
out:
    for (int i = 0; i < 3; i++) {
        certo_buf_dispose(&text[i]);
        certo_free(old[i]);
    }
    certo_free(dir);
    certo_free(stem);
    return rc;
}

static certo_rc
tc_plan(void *ctx, struct certo_transport *t, const struct certo_install_req *req,
        struct certo_plan *plan, struct certo_err *err)
{
    struct tc_ctx *c = ctx;
    struct certo_plan p = {0};
    struct certo_buf raw, xml, diff;
    struct certo_tomcat_edit *edits = NULL;
    char **edit_vals = NULL;
    size_t n_edits = 0;
    bool *sel = NULL;
    X509 *leaf;
    certo_rc rc = CERTO_EINTERNAL;

    memset(plan, 0, sizeof(*plan));
    certo_buf_init(&xml, CERTO_TOMCAT_XML_MAX);
    certo_buf_init(&diff, 64 * 1024);
    targets_free(c);
    c->xml_change = SIZE_MAX;
    CERTO_ASSERT(req != NULL && req->bundle != NULL);
    if (req->bundle->chain == NULL || sk_X509_num(req->bundle->chain) < 1 ||
        req->bundle->key == NULL) {
        certo_buf_init(&raw, 16);
        rc = certo_err_set(err, CERTO_EINVAL, WHERE,
                           "a Tomcat install needs a certificate and its private key");
        goto out;
    }
    leaf = sk_X509_value(req->bundle->chain, 0);
    if (!certo_cert_matches_key(leaf, req->bundle->key)) {
        certo_buf_init(&raw, 16);
        rc = certo_err_set(err, CERTO_EINVAL, WHERE,
                           "the private key does not match the certificate");
        goto out;
    }
    rc = read_conf(&c->conf, &raw, c, t, c->server_xml, err);
    if (rc != CERTO_OK)
        goto out;
    rc = cert_names(&c->names, &c->n_names, leaf, err);
    if (rc != CERTO_OK)
        goto out;
    sel = certo_calloc(c->conf.n_certs + 1, sizeof(*sel));
    rc = select_certs(sel, c, c->names, c->n_names, key_type(req->bundle->key), err);
    if (rc != CERTO_OK)
        goto out;
    edits = certo_calloc(3 * c->conf.n_certs + 1, sizeof(*edits));
    edit_vals = certo_calloc(3 * c->conf.n_certs + 1, sizeof(*edit_vals));
    for (size_t i = 0; rc == CERTO_OK && i < c->conf.n_certs; i++) {
        if (!sel[i])
            continue;
        if (c->conf.certs[i].val[CERTO_TC_CERT_FILE] != NULL)
            rc = plan_pem(&p, c, t, req, sel, i, c->names, edits, edit_vals, &n_edits, err);
        else
            rc = plan_keystore(&p, c, t, req, sel, i, err);
    }
    if (rc != CERTO_OK)
        goto out;
    if (n_edits > 0) {
        rc = certo_tomcat__edit(&xml, &diff, raw.data, raw.len, edits, n_edits, err);
        if (rc != CERTO_OK)
            goto out;
        /* The summary is the diff excerpt itself (--dry-run shows it). */
        if (diff.len > 0 && diff.data[diff.len - 1] == '\n')
            diff.data[--diff.len] = '\0';
        c->xml_change = p.n_changes;
        certo_plan_add_change(&p, certo_strdup(c->server_xml), &xml, 0644,
                              certo_asprintf("tomcat %s: attribute values changed\n%s",
                                             c->server_xml, (const char *)diff.data));
    }
    if (p.alias == NULL) {
        char *stem = file_stem(c->names[0]);
        p.alias = certo_strdup(stem + strlen("certo-"));
        certo_free(stem);
    }
    rc = certo_cert_fingerprint(p.fp_after, leaf, err);
    if (rc != CERTO_OK)
        goto out;
    certo_plan_note(&p, "Tomcat is restarted (catalina.sh stop, then start) to load it");
    *plan = p; /* success: hand over ownership */
    memset(&p, 0, sizeof(p));
    rc = CERTO_OK;
out:
    for (size_t i = 0; edit_vals != NULL && i < n_edits; i++)
        certo_free(edit_vals[i]);
    certo_free(edit_vals);
    certo_free(edits);
    certo_free(sel);
    certo_buf_dispose(&raw);
    certo_buf_dispose(&xml);
    certo_buf_dispose(&diff);
    certo_plan_dispose(&p);
    if (rc != CERTO_OK)
        targets_free(c);
    return rc;
}

/* ---- test: the staged files, before they go live ---- */

static certo_rc
staged_get(struct certo_buf *b, struct certo_transport *t, const char *const *staged, size_t idx,
           struct certo_err *err)
{
    certo_buf_init(b, CERTO_KEYSTORE_MAX);
    return certo_transport_get(t, staged[idx], b, err);
}

static certo_rc
test_keystore(const struct tc_ctx *c, struct certo_transport *t, const struct certo_plan *plan,
              const struct target *g, const char *const *staged, struct certo_err *err)
{
    struct certo_keystore *ks = NULL;
    struct certo_buf b;
    const struct certo_ks_entry *e;
    char fp[96];
    certo_rc rc = staged_get(&b, t, staged, g->change[0], err);

    CERTO_UNUSED(c);
    if (rc == CERTO_OK)
        rc = certo_keystore_parse(&ks, g->fmt, b.data, b.len, g->pass, err);
    if (rc != CERTO_OK)
        goto out;
    e = certo_keystore_find(ks, g->alias);
    if (e == NULL || e->kind != CERTO_KS_ENTRY_KEY || sk_X509_num(e->certs) < 1 ||
        !certo_cert_matches_key(sk_X509_value(e->certs, 0), e->key)) {
        rc = certo_err_set(err, CERTO_ECONFLICT, WHERE,
                           "the staged %s has no matching key and certificate under '%s'",
                           g->ks_path, g->alias);
        goto out;
    }
    rc = certo_cert_fingerprint(fp, sk_X509_value(e->certs, 0), err);
    if (rc == CERTO_OK && strcmp(fp, plan->fp_after) != 0)
        rc = certo_err_set(err, CERTO_ECONFLICT, WHERE,
                           "the staged %s holds %s under '%s', not the new certificate", g->ks_path,
                           fp, g->alias);
out:
    certo_keystore_free(ks);
    certo_buf_dispose(&b);
    return rc;
}

static certo_rc
test_pem(struct certo_transport *t, const struct certo_plan *plan, const struct target *g,
         const char *const *staged, struct certo_err *err)
{
    struct certo_keystore *cert = NULL, *key = NULL;
    struct certo_buf b;
    const struct certo_ks_entry *e;
    X509 *leaf;
    char fp[96];
    certo_rc rc = staged_get(&b, t, staged, g->change[0], err);

    if (rc != CERTO_OK)
        goto out;
    rc = certo_keystore_parse(&cert, CERTO_KS_PEM, b.data, b.len, g->pass, err);
    certo_buf_dispose(&b);
    if (rc == CERTO_OK && g->change[1] != SIZE_MAX) {
        rc = staged_get(&b, t, staged, g->change[1], err);
        if (rc == CERTO_OK)
            rc = certo_keystore_parse(&key, CERTO_KS_PEM, b.data, b.len, g->pass, err);
    }
    if (rc != CERTO_OK)
        goto out;
    leaf = cert->count > 0 && sk_X509_num(cert->entries[0].certs) > 0
               ? sk_X509_value(cert->entries[0].certs, 0)
               : NULL;
    e = key != NULL ? &key->entries[0] : &cert->entries[0];
    if (leaf == NULL || (key != NULL && key->count < 1) || e->key == NULL ||
        !certo_cert_matches_key(leaf, e->key)) {
        rc = certo_err_set(err, CERTO_ECONFLICT, WHERE,
                           "the staged key of %s does not match its certificate", g->files[0]);
        goto out;
    }
    rc = certo_cert_fingerprint(fp, leaf, err);
    if (rc == CERTO_OK && strcmp(fp, plan->fp_after) != 0)
        rc = certo_err_set(err, CERTO_ECONFLICT, WHERE,
                           "the staged %s holds %s, not the new certificate", g->files[0], fp);
out:
    certo_keystore_free(cert);
    certo_keystore_free(key);
    certo_buf_dispose(&b);
    return rc;
}

/* The staged server.xml reads, and each edited Certificate now names the new files. */
static certo_rc
test_xml(const struct tc_ctx *c, struct certo_transport *t, const char *const *staged,
         struct certo_err *err)
{
    static const int fields[3] = {CERTO_TC_CERT_FILE, CERTO_TC_KEY_FILE, CERTO_TC_CHAIN_FILE};
    struct certo_tomcat_conf now = {0};
    struct certo_buf raw;
    certo_rc rc = read_conf(&now, &raw, c, t, staged[c->xml_change], err);

    for (size_t i = 0; rc == CERTO_OK && i < c->n_targets; i++) {
        const struct target *g = &c->targets[i];
        const struct certo_tomcat_cert *k = NULL;
        for (size_t j = 0; j < now.n_certs; j++) {
            if (now.certs[j].elem == c->conf.certs[g->cert].elem)
                k = &now.certs[j];
        }
        for (int f = 0; g->pem && f < 3; f++) {
            char *p = k != NULL ? certo_tomcat__resolve(c->dir, NULL, k->val[fields[f]]) : NULL;
            bool same = (p == NULL && g->files[f] == NULL) ||
                        (p != NULL && g->files[f] != NULL && strcmp(p, g->files[f]) == 0);
            certo_free(p);
            if (!same)
                rc = certo_err_set(err, CERTO_ECONFLICT, WHERE,
                                   "the staged server.xml does not name %s",
                                   g->files[f] != NULL ? g->files[f] : "the expected file");
        }
    }
    certo_tomcat__conf_dispose(&now);
    certo_buf_dispose(&raw);
    return rc;
}

static certo_rc
tc_test(void *ctx, struct certo_transport *t, const struct certo_plan *plan,
        const char *const *staged, struct certo_err *err)
{
    const struct tc_ctx *c = ctx;
    certo_rc rc = CERTO_OK;

    /* A rollback (no plan of ours) puts back bytes that were live before: nothing to test. */
    if (plan->n_changes == 0 || c->n_targets == 0)
        return CERTO_OK;
    for (size_t i = 0; rc == CERTO_OK && i < c->n_targets; i++) {
        const struct target *g = &c->targets[i];
        rc = g->pem ? test_pem(t, plan, g, staged, err) : test_keystore(c, t, plan, g, staged, err);
    }
    if (rc == CERTO_OK && c->xml_change != SIZE_MAX)
        rc = test_xml(c, t, staged, err);
    return rc;
}

/* ---- restart ---- */

static bool
executable(struct certo_transport *t, const char *path)
{
    struct certo_file_meta m;
    struct certo_err e = {0};

    return certo_transport_stat(t, path, &m, &e) == CERTO_OK && m.exists && !m.is_dir &&
           certo_transport_access(t, path, X_OK, &e) == CERTO_OK;
}

/*
 * catalina.sh and CATALINA_HOME: tomcat_dir/bin/catalina.sh (a tarball install, where
 * base and home are one directory), else option catalina_home, else Debian's
 * /usr/share/tomcatN (the N of tomcat_dir's name first).
 */
static certo_rc
find_catalina(char **sh, char **home, const struct tc_ctx *c, struct certo_transport *t,
              struct certo_err *err)
{
    char *p = certo_asprintf("%s/bin/catalina.sh", c->dir);

    *sh = NULL;
    *home = NULL;
    if (executable(t, p)) {
        *sh = p;
        *home = certo_strdup(c->dir);
        return CERTO_OK;
    }
    certo_free(p);
    if (c->home_opt != NULL) {
        p = certo_asprintf("%s/bin/catalina.sh", c->home_opt);
        if (executable(t, p)) {
            *sh = p;
            *home = certo_strdup(c->home_opt);
            return CERTO_OK;
        }
        certo_free(p);
        return certo_err_set(err, CERTO_ENOTFOUND, WHERE, "no executable %s/bin/catalina.sh",
                             c->home_opt);
    }
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < CERTO_ARRAY_LEN(homes); i++) {
            const char *v = strrchr(homes[i], '/') + 1;
            if (pass == 0 && strstr(c->dir, v) == NULL)
                continue;
            p = certo_asprintf("%s/bin/catalina.sh", homes[i]);
            if (executable(t, p)) {
                *sh = p;
                *home = certo_strdup(homes[i]);
                return CERTO_OK;
            }
            certo_free(p);
        }
    }
    return certo_err_set(err, CERTO_ENOTFOUND, WHERE,
                         "endpoint %s: no catalina.sh in %s/bin or /usr/share/tomcat{10,11,9}/bin",
                         ep_name(c), c->dir);
}

/* Runs catalina.sh with 'args'; *status gets its exit status (-1: a signal). */
static certo_rc
catalina(int *status, const struct tc_ctx *c, struct certo_transport *t, const char *sh,
         const char *home, const char *const *args, struct certo_buf *log, struct certo_err *err)
{
    const char *argv[8];
    char *env[4] = {certo_asprintf("CATALINA_BASE=%s", c->dir),
                    certo_asprintf("CATALINA_HOME=%s", home),
                    /* bin/setenv.sh may set another; catalina.sh sources it after */
                    certo_asprintf("CATALINA_PID=%s/%s", c->dir, PID_NAME), NULL};
    struct certo_connector_cmd cmd = {.argv = argv, .env = (const char *const *)env, .cwd = c->dir};
    char *what;
    struct certo_exec_result r;
    size_t n = 0;
    certo_rc rc;

    *status = -1;
    argv[n++] = sh;
    for (size_t i = 0; args[i] != NULL && n < CERTO_ARRAY_LEN(argv) - 1; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    what = certo_asprintf("%s %s", sh, args[0]);
    cmd.what = what;
    rc = certo_connector_exec(&r, t, c->cfg, &cmd, log, err);
    if (rc == CERTO_OK)
        *status = r.term_signal != 0 ? -1 : r.exit_code;
    certo_exec_result_dispose(&r);
    certo_free(what);
    for (size_t i = 0; env[i] != NULL; i++)
        certo_free(env[i]);
    return rc;
}

/*
 * Tomcat has no reload of server.xml: stop, then start. A stop that fails (Tomcat was not
 * running, or its PID file is not CATALINA_PID) is logged and the start decides: it
 * refuses while the PID file's process still runs.
 */
static certo_rc
restart(const struct tc_ctx *c, struct certo_transport *t, struct certo_buf *log,
        struct certo_err *err)
{
    static const char *const stop[] = {"stop", "30", "-force", NULL};
    static const char *const start[] = {"start", NULL};
    char *sh = NULL, *home = NULL;
    int status = -1;
    certo_rc rc = find_catalina(&sh, &home, c, t, err);

    if (rc == CERTO_OK)
        rc = catalina(&status, c, t, sh, home, stop, log, err);
    if (rc == CERTO_OK && status != 0)
        certo_connector_log(
            log, "(stop failed: Tomcat was not running, or not under this CATALINA_PID)\n");
    if (rc == CERTO_OK)
        rc = catalina(&status, c, t, sh, home, start, log, err);
    if (rc == CERTO_OK && status != 0)
        rc = certo_err_set(err, CERTO_EREMOTE, WHERE, "%s start exited with status %d", sh, status);
    certo_free(sh);
    certo_free(home);
    return rc;
}

static const char *
probe_host(const struct certo_tomcat_connector *cn)
{
    const char *a = cn->address;
    if (a == NULL || a[0] == '\0' || strcmp(a, "0.0.0.0") == 0)
        return "127.0.0.1";
    if (strcmp(a, "::") == 0 || strcmp(a, "[::]") == 0)
        return "::1";
    return a;
}

static int
left_ms(int64_t deadline)
{
    int64_t left = deadline - certo_clock_now_ms();
    return left < 1000 ? 1000 : left > VERIFY_MS ? VERIFY_MS : (int)left;
}

/* After a restart: waits until every TLS port completes a handshake (any certificate). */
static certo_rc
wait_serving(struct tc_ctx *c, struct certo_transport *t, struct certo_err *err)
{
    struct certo_tomcat_conf conf = {0};
    struct certo_buf raw;
    int64_t deadline = certo_clock_now_ms() + VERIFY_MS;
    certo_rc rc = read_conf(&conf, &raw, c, t, c->server_xml, err);

    for (size_t i = 0; rc == CERTO_OK && i < conf.n_connectors; i++) {
        const struct certo_tomcat_connector *cn = &conf.connectors[i];
        struct certo_err e = {0};
        if (!cn->tls || cn->port < 0)
            continue;
        for (;;) {
            struct certo_tls_peer peer;
            certo_err_clear(&e);
            rc = certo_tls_probe(probe_host(cn), cn->port, NULL, 2000, &peer, &e);
            if (rc == CERTO_OK) {
                certo_tls_peer_dispose(&peer);
                break;
            }
            if (certo_clock_now_ms() >= deadline) {
                rc = certo_err_set(err, rc, WHERE,
                                   "Tomcat does not serve TLS on %s:%d %d s after the restart: %s",
                                   probe_host(cn), cn->port, VERIFY_MS / 1000, e.msg);
                break;
            }
            struct timespec ts = {0, 200 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    certo_tomcat__conf_dispose(&conf);
    certo_buf_dispose(&raw);
    return rc;
}

static certo_rc
tc_activate(void *ctx, struct certo_transport *t, const struct certo_plan *plan,
            struct certo_buf *log, struct certo_err *err)
{
    CERTO_UNUSED(plan);
    return restart(ctx, t, log, err);
}

static certo_rc
tc_reactivate(void *ctx, struct certo_transport *t, struct certo_buf *log, struct certo_err *err)
{
    certo_rc rc = restart(ctx, t, log, err);
    if (rc == CERTO_OK)
        rc = wait_serving(ctx, t, err);
    return rc;
}

static certo_rc
tc_restart(void *ctx, struct certo_transport *t, struct certo_buf *log, struct certo_err *err)
{
    return tc_reactivate(ctx, t, log, err);
}

/* ---- verify ---- */

/* Whether 'name' would select another SSLHostConfig of the connector of 'k'. */
static bool
taken_elsewhere(const struct tc_ctx *c, const struct certo_tomcat_cert *k, const char *name)
{
    for (size_t i = 0; i < c->conf.n_certs; i++) {
        const struct certo_tomcat_cert *o = &c->conf.certs[i];
        if (o->connector == k->connector && strcasecmp(o->host_name, k->host_name) != 0 &&
            (strcasecmp(o->host_name, name) == 0 || certo_tomcat__host_matches(name, o->host_name)))
            return true;
    }
    return false;
}

/*
 * Each replaced Certificate, over TLS: with SNI hostName for a named SSLHostConfig (a name
 * under it for a wildcard one); for a default one without SNI and with every name of the
 * certificate that no other SSLHostConfig of the connector takes.
 */
static certo_rc
tc_verify(void *ctx, struct certo_transport *t, const struct certo_plan *plan,
          struct certo_err *err)
{
    struct tc_ctx *c = ctx;
    int64_t deadline = certo_clock_now_ms() + VERIFY_MS;
    certo_rc rc = CERTO_OK;

    CERTO_UNUSED(t);
    for (size_t i = 0; rc == CERTO_OK && i < c->n_targets; i++) {
        const struct certo_tomcat_cert *k = &c->conf.certs[c->targets[i].cert];
        const struct certo_tomcat_connector *cn = &c->conf.connectors[k->connector];
        const char *host = probe_host(cn);
        if (cn->port < 0) {
            rc = certo_err_set(err, CERTO_EUNSUPPORTED, WHERE,
                               "server.xml line %d: the connector's port is not a number; "
                               "cannot verify",
                               cn->line);
            break;
        }
        if (strcmp(k->host_name, "_default_") != 0) {
            char *sni = k->host_name[0] == '*' ? certo_asprintf("certo-verify%s", k->host_name + 1)
                                               : certo_strdup(k->host_name);
            rc = certo_tls_wait_for(host, cn->port, sni, plan->fp_after, left_ms(deadline), err);
            certo_free(sni);
        }
        if (rc != CERTO_OK || !k->is_default)
            continue;
        rc = certo_tls_wait_for(host, cn->port, NULL, plan->fp_after, left_ms(deadline), err);
        for (size_t n = 0; rc == CERTO_OK && n < c->n_names; n++) {
            if (c->names[n][0] == '*' || taken_elsewhere(c, k, c->names[n]))
                continue;
            rc = certo_tls_wait_for(host, cn->port, c->names[n], plan->fp_after, left_ms(deadline),
                                    err);
        }
    }
    return rc;
}

/* ---- check ---- */

static void
check_file(struct certo_check *s, struct certo_transport *t, const char *what, const char *path)
{
    struct certo_err e = {0};

    if (certo_transport_access(t, path, R_OK | W_OK, &e) != CERTO_OK)
        certo_check_finding(s, CERTO_EPERM, "not writable: %s %s (%s)", what, path,
                            certo_err_reason(&e));
    else
        certo_check_finding(s, CERTO_OK, "ok: %s %s readable and writable", what, path);
}

static certo_rc
tc_check(void *ctx, struct certo_transport *t, struct certo_buf *report, struct certo_err *err)
{
    struct tc_ctx *c = ctx;
    struct certo_check s = {.report = report, .err = err, .where = WHERE};
    struct certo_tomcat_conf conf = {0};
    struct certo_buf raw;
    struct certo_err e = {0};
    char *sh = NULL, *home = NULL;
    size_t n_tls = 0;

    if (read_conf(&conf, &raw, c, t, c->server_xml, &e) != CERTO_OK) {
        certo_check_finding(&s, e.rc, "problem: %s", e.msg);
        goto out;
    }
    for (size_t i = 0; i < conf.n_connectors; i++)
        n_tls += conf.connectors[i].tls ? 1 : 0;
    certo_check_finding(&s, n_tls > 0 ? CERTO_OK : CERTO_ENOTFOUND,
                        "%s: %s: %zu connectors, %zu with TLS", n_tls > 0 ? "ok" : "missing",
                        c->server_xml, conf.n_connectors, n_tls);
    for (size_t i = 0; i < conf.n_certs; i++) {
        const struct certo_tomcat_cert *k = &conf.certs[i];
        static const int fields[] = {CERTO_TC_KS_FILE, CERTO_TC_CERT_FILE, CERTO_TC_KEY_FILE,
                                     CERTO_TC_CHAIN_FILE};
        certo_check_finding(&s, CERTO_OK, "ok: connector port %d, host %s%s (server.xml line %d)",
                            conf.connectors[k->connector].port, k->host_name,
                            k->legacy ? ", Connector attributes" : "", k->line);
        for (size_t f = 0; f < CERTO_ARRAY_LEN(fields); f++) {
            char *p;
            if (k->val[fields[f]] == NULL)
                continue;
            p = certo_tomcat__resolve(c->dir, NULL, k->val[fields[f]]);
            if (p == NULL)
                certo_check_finding(&s, CERTO_EUNSUPPORTED,
                                    "unsupported: %s uses an unknown property", k->val[fields[f]]);
            else
                check_file(&s, t, fields[f] == CERTO_TC_KS_FILE ? "keystore" : "PEM file", p);
            certo_free(p);
        }
    }
    certo_err_clear(&e);
    if (find_catalina(&sh, &home, c, t, &e) != CERTO_OK)
        certo_check_finding(&s, CERTO_ENOTFOUND, "missing: %s", e.msg);
    else
        certo_check_finding(&s, CERTO_OK,
                            "ok: %s restarts Tomcat (CATALINA_HOME %s, CATALINA_PID %s/%s)", sh,
                            home, c->dir, PID_NAME);
out:
    certo_free(sh);
    certo_free(home);
    certo_tomcat__conf_dispose(&conf);
    certo_buf_dispose(&raw);
    return s.rc;
}

/* ---- nodes ---- */

/* An AJP connector speaks to a proxy, not HTTP: it is no node. */
static bool
is_ajp(const struct certo_tomcat_connector *cn)
{
    const char *p = cn->protocol;
    return p != NULL && (strncasecmp(p, "AJP", 3) == 0 || strstr(p, ".ajp.") != NULL);
}

static struct certo_conf_node *
connector_node(struct certo_node_list *l, const struct tc_ctx *c,
               const struct certo_tomcat_connector *cn, int line)
{
    struct certo_conf_node *n = certo_node_list_add(l);
    const char *a = cn->address;

    n->kind = cn->tls ? CERTO_NODE_HTTPS : CERTO_NODE_HTTP;
    n->address = certo_strdup(a != NULL && a[0] != '\0' ? a : "*");
    n->port = cn->port;
    n->connect = certo_strdup(probe_host(cn));
    n->source = certo_asprintf("%s:%d", c->server_xml, line);
    return n;
}

/*
 * One node per TLS Connector and SSLHostConfig (its Certificate elements together), one per
 * plain HTTP Connector (AJP ones are no nodes). The _default_ SSLHostConfig is reached
 * without SNI.
 */
static certo_rc
tc_nodes(void *ctx, struct certo_transport *t, struct certo_node_list *out, struct certo_err *err)
{
    const struct tc_ctx *c = ctx;
    struct certo_tomcat_conf conf = {0};
    struct certo_node_list l = {0};
    struct certo_buf raw;
    certo_rc rc;

    memset(out, 0, sizeof(*out));
    rc = read_conf(&conf, &raw, c, t, c->server_xml, err);
    for (size_t i = 0; rc == CERTO_OK && i < conf.n_connectors; i++) {
        const struct certo_tomcat_connector *cn = &conf.connectors[i];
        if (cn->port < 1 || is_ajp(cn))
            continue;
        if (!cn->tls) {
            struct certo_conf_node *n = connector_node(&l, c, cn, cn->line);
            n->name = certo_strdup("");
            continue;
        }
        for (size_t k = 0; k < conf.n_certs; k++) {
            const struct certo_tomcat_cert *cert = &conf.certs[k];
            struct certo_conf_node *n;
            bool seen = false;
            if (cert->connector != i)
                continue;
            for (size_t j = 0; j < k && !seen; j++)
                seen = conf.certs[j].connector == i &&
                       strcasecmp(conf.certs[j].host_name, cert->host_name) == 0;
            if (seen)
                continue; /* a second Certificate (RSA and EC) of the same SSLHostConfig */
            n = connector_node(&l, c, cn, cert->line);
            n->name = certo_strdup(cert->host_name);
            n->sni =
                strcmp(cert->host_name, "_default_") == 0 ? NULL : certo_node_sni(cert->host_name);
            for (size_t j = k; j < conf.n_certs; j++) {
                const struct certo_tomcat_cert *o = &conf.certs[j];
                const char *ka = o->val[CERTO_TC_KEY_ALIAS];
                if (o->connector != i || strcasecmp(o->host_name, cert->host_name) != 0)
                    continue;
                static const int files[] = {CERTO_TC_KS_FILE, CERTO_TC_CERT_FILE};
                for (size_t f = 0; f < CERTO_ARRAY_LEN(files); f++) {
                    const char *v = o->val[files[f]];
                    char *p = v != NULL ? certo_tomcat__resolve(c->dir, NULL, v) : NULL;
                    certo_conf_node_add_file(n, p);
                    certo_free(p);
                }
                if (ka != NULL && (n->alias == NULL || strcmp(n->alias, ka) != 0)) {
                    char *more = certo_asprintf("%s%s%s", n->alias != NULL ? n->alias : "",
                                                n->alias != NULL ? " " : "", ka);
                    certo_free(n->alias);
                    n->alias = more;
                }
            }
        }
    }
    if (rc == CERTO_OK) {
        *out = l; /* success: hand over ownership */
        memset(&l, 0, sizeof(l));
    }
    certo_node_list_dispose(&l);
    certo_tomcat__conf_dispose(&conf);
    certo_buf_dispose(&raw);
    return rc;
}

const struct certo_connector_ops certo_connector_tomcat = {
    .abi = CERTO_CONNECTOR_ABI,
    .name = "tomcat",
    .caps = CERTO_CAP_VERIFY | CERTO_CAP_RESTART,
    .ctx_size = sizeof(struct tc_ctx),
    .configure = tc_configure,
    .check = tc_check,
    .plan = tc_plan,
    .test = tc_test,
    .activate = tc_activate,
    .verify = tc_verify,
    .reactivate = tc_reactivate,
    .restart = tc_restart,
    .cleanup = tc_cleanup,
    .nodes = tc_nodes,
};
