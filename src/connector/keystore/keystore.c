/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Keystore endpoints (connector layer): the p12, jks and pem endpoint types, one
 * implementation parameterised by format. An install reads the existing file through the
 * transport, puts the new key entry by alias (every other entry kept, the store password
 * and the PKCS#12 profile the endpoint asks for), and hands the engine the complete new
 * contents of each file; it never writes. PEM files follow the layout rules of
 * docs/connectors/keystores.md. After the swap the endpoint's install script runs with
 * the alias; verify reads the files back and compares fingerprints. nodes() lists the
 * entries of the file with their certificates.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "certo/cert.h"
#include "certo/chain.h"
#include "certo/clock.h"
#include "certo/keystore.h"
#include "certo/limits.h"
#include "certo/file.h"
#include "certo/mem.h"
#include "certo/pem.h"
#include "connector/connector.h"

/* One endpoint, as configure() validated it. All strings are borrowed from the cfg. */
struct ks_ctx {
    const struct certo_connector_cfg *cfg; /* borrowed; outlives the ctx */
    enum certo_ks_format format;
    const char *type;           /* endpoint type: "p12", "jks", "pem" */
    const char *where;          /* error tag: "conn.p12", ... */
    const char *path;           /* the keystore file, absolute */
    const char *install_script; /* absolute, or NULL */
    const char *restart_script; /* absolute, or NULL */
    bool legacy_set;            /* p12: is_legacy given */
    bool legacy;                /* p12: is_legacy true */
};

/* Sibling files of a PEM file that holds no key (layout rule b). */
struct pem_siblings {
    char *chain;     /* owned; an existing chain file, or NULL */
    char *key;       /* owned; the key file: existing, or to be created */
    bool key_exists; /* 'key' exists now */
};

static const char *const chain_suffixes[] = {".chain.pem", "-chain.pem"};
static const char *const key_suffixes[] = {".key", ".key.pem", "-key.pem", ".privkey.pem"};

static const char *
endpoint_name(const struct ks_ctx *c)
{
    return c->cfg->endpoint_name != NULL ? c->cfg->endpoint_name : c->path;
}

/*
 * Records a callee's error 'e' in 'err' with 'path' in front (first writer wins).
 * Used where the callee cannot know which file its input came from.
 */
static certo_rc
fail_path(struct certo_err *err, const struct certo_err *e, const char *where, const char *path)
{
    certo_rc rc = e->rc != CERTO_OK ? e->rc : CERTO_EINTERNAL;

    if (err == NULL || err->rc != CERTO_OK)
        return rc;
    (void)certo_err_set(err, rc, e->where != NULL ? e->where : where, "%s: %s", path, e->msg);
    err->flags = e->flags;
    err->sys_errno = e->sys_errno;
    err->ossl = e->ossl;
    return rc;
}

/* ---- configuration ---- */

static certo_rc
configure_script(const char **out, const struct ks_ctx *c, const char *key, struct certo_err *err)
{
    const char *v = certo_connector_opt(c->cfg, key);

    *out = NULL;
    if (v == NULL)
        return CERTO_OK;
    if (v[0] != '/')
        return certo_err_set(err, CERTO_EINVAL, c->where,
                             "endpoint %s: %s '%.200s' must be an absolute path", endpoint_name(c),
                             key, v);
    *out = v;
    return CERTO_OK;
}

static certo_rc
configure_as(void *ctx, const struct certo_connector_cfg *cfg, enum certo_ks_format format,
             const char *type, const char *where, struct certo_err *err)
{
    struct ks_ctx *c = ctx;
    const char *legacy;
    certo_rc rc = CERTO_EINTERNAL;

    CERTO_ASSERT(c != NULL && cfg != NULL);
    memset(c, 0, sizeof(*c));
    c->cfg = cfg;
    c->format = format;
    c->type = type;
    c->where = where;
    c->path = certo_connector_opt(cfg, "path");
    if (c->path == NULL) {
        rc = certo_err_set(err, CERTO_EINVAL, where, "endpoint %s: option path is required",
                           cfg->endpoint_name != NULL ? cfg->endpoint_name : type);
        goto out;
    }
    if (c->path[0] != '/' || c->path[strlen(c->path) - 1] == '/') {
        rc = certo_err_set(err, CERTO_EINVAL, where,
                           "endpoint %s: path '%.200s' must be the absolute path of a file",
                           endpoint_name(c), c->path);
        goto out;
    }
    legacy = certo_connector_opt(cfg, "is_legacy");
    if (legacy != NULL && format != CERTO_KS_PKCS12) {
        rc =
            certo_err_set(err, CERTO_EINVAL, where,
                          "endpoint %s: is_legacy applies to p12 endpoints only", endpoint_name(c));
        goto out;
    }
    if (legacy != NULL && strcmp(legacy, "true") != 0 && strcmp(legacy, "false") != 0) {
        rc = certo_err_set(err, CERTO_EINVAL, where,
                           "endpoint %s: is_legacy must be true or false, not '%.32s'",
                           endpoint_name(c), legacy);
        goto out;
    }
    c->legacy_set = legacy != NULL;
    c->legacy = legacy != NULL && strcmp(legacy, "true") == 0;
    rc = configure_script(&c->install_script, c, "install_script", err);
    if (rc != CERTO_OK)
        goto out;
    rc = configure_script(&c->restart_script, c, "restart_script", err);
out:
    return rc;
}

static certo_rc
p12_configure(void *ctx, const struct certo_connector_cfg *cfg, struct certo_err *err)
{
    return configure_as(ctx, cfg, CERTO_KS_PKCS12, "p12", "conn.p12", err);
}

static certo_rc
jks_configure(void *ctx, const struct certo_connector_cfg *cfg, struct certo_err *err)
{
    return configure_as(ctx, cfg, CERTO_KS_JKS, "jks", "conn.jks", err);
}

static certo_rc
pem_configure(void *ctx, const struct certo_connector_cfg *cfg, struct certo_err *err)
{
    return configure_as(ctx, cfg, CERTO_KS_PEM, "pem", "conn.pem", err);
}

/* ---- files ---- */

/* The path without the last extension of its file name (new string): /a/web.crt → /a/web. */
static char *
stem_of(const char *path)
{
    const char *name = strrchr(path, '/') + 1;
    const char *dot = strrchr(name, '.');
    if (dot == NULL || dot == name)
        return certo_strdup(path);
    return certo_strndup(path, (size_t)(dot - path));
}

static bool
is_blank(const unsigned char *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
            return false;
    }
    return true;
}

/* True if PEM text holds an encrypted private key (PKCS#8 or traditional). */
static bool
has_encrypted_key(const struct certo_buf *b)
{
    static const char *const marks[] = {"-----BEGIN ENCRYPTED PRIVATE KEY-----",
                                        "Proc-Type: 4,ENCRYPTED"};
    for (size_t i = 0; i < CERTO_ARRAY_LEN(marks); i++) {
        if (b->len > 0 && memmem(b->data, b->len, marks[i], strlen(marks[i])) != NULL)
            return true;
    }
    return false;
}

/*
 * Parses the bytes of keystore file 'path'. A blank PEM file gives *out NULL. A wrong or
 * missing password gives CERTO_EAUTH naming the file; other errors get the path in front.
 */
static certo_rc
parse_store(struct certo_keystore **out, const struct ks_ctx *c, const struct certo_buf *b,
            const char *path, struct certo_err *err)
{
    const struct certo_secret *pass = c->cfg->store_password;
    struct certo_err e = {0};
    certo_rc rc;

    *out = NULL;
    if (c->format == CERTO_KS_PEM && is_blank(b->data, b->len))
        return CERTO_OK;
    if (c->format != CERTO_KS_PEM && pass == NULL)
        return certo_err_set(err, CERTO_EAUTH, c->where,
                             "endpoint %s has no store password; a %s keystore cannot be opened "
                             "without it",
                             endpoint_name(c), c->type);
    rc = certo_keystore_parse(out, c->format, b->data, b->len, pass, &e);
    if (rc == CERTO_EAUTH && c->format == CERTO_KS_PEM && pass == NULL)
        return certo_err_set(err, rc, c->where,
                             "%s holds an encrypted private key and endpoint %s has no store "
                             "password",
                             path, endpoint_name(c));
    if (rc == CERTO_EAUTH)
        return certo_err_set(err, rc, c->where, "the store password does not open %s", path);
    if (rc != CERTO_OK)
        return fail_path(err, &e, c->where, path);
    return CERTO_OK;
}

/* Reads and parses keystore file 'path' through the transport. */
static certo_rc
read_store(struct certo_keystore **out, bool *encrypted, const struct ks_ctx *c,
           struct certo_transport *t, const char *path, struct certo_err *err)
{
    struct certo_buf b;
    certo_rc rc = CERTO_EINTERNAL;

    *out = NULL;
    if (encrypted != NULL)
        *encrypted = false;
    certo_buf_init(&b, CERTO_KEYSTORE_MAX);
    rc = certo_transport_get(t, path, &b, err);
    if (rc != CERTO_OK)
        goto out;
    if (encrypted != NULL)
        *encrypted = c->format == CERTO_KS_PEM && has_encrypted_key(&b);
    rc = parse_store(out, c, &b, path, err);
out:
    certo_buf_dispose(&b); /* wiped: it holds key material */
    return rc;
}

/* The file to install into must exist (seed: "the required file already exists"). */
static certo_rc
require_file(const struct ks_ctx *c, struct certo_transport *t, struct certo_err *err)
{
    struct certo_file_meta m;
    certo_rc rc = certo_transport_stat(t, c->path, &m, err);

    if (rc != CERTO_OK)
        return rc;
    if (!m.exists)
        return certo_err_set(err, CERTO_ENOTFOUND, c->where,
                             "%s does not exist; a %s endpoint installs into an existing file",
                             c->path, c->type);
    if (m.is_dir)
        return certo_err_set(err, CERTO_EINVAL, c->where, "%s is a directory, not a keystore file",
                             c->path);
    return CERTO_OK;
}

static void
siblings_dispose(struct pem_siblings *s)
{
    CERTO_FREE(s->chain);
    CERTO_FREE(s->key);
    s->key_exists = false;
}

/* Whether regular file 'path' exists; a directory in the way is an error. */
static certo_rc
file_exists(bool *out, const struct ks_ctx *c, struct certo_transport *t, const char *path,
            struct certo_err *err)
{
    struct certo_file_meta m;
    certo_rc rc = certo_transport_stat(t, path, &m, err);

    *out = false;
    if (rc != CERTO_OK)
        return rc;
    if (m.exists && m.is_dir)
        return certo_err_set(err, CERTO_EINVAL, c->where, "%s is a directory, not a PEM file",
                             path);
    *out = m.exists;
    return CERTO_OK;
}

/*
 * Finds the sibling files of c->path for layout rule b: the first existing chain file,
 * and the first existing key file, else <stem>.key to create.
 */
static certo_rc
find_siblings(struct pem_siblings *out, const struct ks_ctx *c, struct certo_transport *t,
              struct certo_err *err)
{
    char *stem = stem_of(c->path);
    char *cand = NULL;
    bool exists = false;
    certo_rc rc = CERTO_OK;

    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < CERTO_ARRAY_LEN(chain_suffixes) && out->chain == NULL; i++) {
        cand = certo_asprintf("%s%s", stem, chain_suffixes[i]);
        if (strcmp(cand, c->path) != 0) {
            rc = file_exists(&exists, c, t, cand, err);
            if (rc != CERTO_OK)
                goto out;
            if (exists) {
                out->chain = cand;
                cand = NULL;
            }
        }
        CERTO_FREE(cand);
    }
    for (size_t i = 0; i < CERTO_ARRAY_LEN(key_suffixes) && out->key == NULL; i++) {
        cand = certo_asprintf("%s%s", stem, key_suffixes[i]);
        if (strcmp(cand, c->path) != 0) {
            rc = file_exists(&exists, c, t, cand, err);
            if (rc != CERTO_OK)
                goto out;
            if (exists) {
                out->key = cand;
                out->key_exists = true;
                cand = NULL;
            }
        }
        CERTO_FREE(cand);
    }
    if (out->key == NULL)
        out->key = certo_asprintf("%s%s", stem, key_suffixes[0]);
    if (strcmp(out->key, c->path) == 0) {
        rc = certo_err_set(err, CERTO_EINVAL, c->where,
                           "%s holds no private key, and its name leaves no place for a key file",
                           c->path);
        goto out;
    }
    rc = CERTO_OK;
out:
    certo_free(cand);
    certo_free(stem);
    if (rc != CERTO_OK)
        siblings_dispose(out);
    return rc;
}

static const struct certo_ks_entry *
key_entry(const struct certo_keystore *ks)
{
    for (size_t i = 0; ks != NULL && i < ks->count; i++) {
        if (ks->entries[i].kind == CERTO_KS_ENTRY_KEY)
            return &ks->entries[i];
    }
    return NULL;
}

/* The certificate a PEM file presents: its key's certificate, else its first one. */
static X509 *
pem_leaf(const struct certo_keystore *ks)
{
    const struct certo_ks_entry *k = key_entry(ks);

    if (k != NULL && sk_X509_num(k->certs) > 0)
        return sk_X509_value(k->certs, 0);
    for (size_t i = 0; ks != NULL && i < ks->count; i++) {
        if (sk_X509_num(ks->entries[i].certs) > 0)
            return sk_X509_value(ks->entries[i].certs, 0);
    }
    return NULL;
}

/* ---- check ---- */

struct check_state {
    const struct ks_ctx *c;
    struct certo_check chk;
};

/* Checks that an existing file may be read and written; 'what' names it. @return readable. */
static bool
check_rw(struct check_state *s, struct certo_transport *t, const char *what, const char *path)
{
    struct certo_err e = {0};

    if (certo_transport_access(t, path, R_OK, &e) != CERTO_OK) {
        certo_check_finding(&s->chk, CERTO_EPERM, "not readable: %s%s (%s)", what, path,
                            certo_err_reason(&e));
        return false;
    }
    if (certo_transport_access(t, path, W_OK, &e) != CERTO_OK) {
        certo_check_finding(&s->chk, CERTO_EPERM, "not writable: %s%s (%s)", what, path,
                            certo_err_reason(&e));
        return true;
    }
    certo_check_finding(&s->chk, CERTO_OK, "ok: %s%s readable and writable", what, path);
    return true;
}

static void
check_script(struct check_state *s, struct certo_transport *t, const char *what, const char *path)
{
    struct certo_file_meta m;
    struct certo_err e = {0};

    if (path == NULL)
        return;
    if (certo_transport_stat(t, path, &m, &e) != CERTO_OK) {
        certo_check_finding(&s->chk, e.rc, "cannot look at: %s %s (%s)", what, path,
                            certo_err_reason(&e));
        return;
    }
    if (!m.exists) {
        certo_check_finding(&s->chk, CERTO_ENOTFOUND, "missing: %s %s (%s)", what, path,
                            strerror(ENOENT));
        return;
    }
    if (m.is_dir || certo_transport_access(t, path, X_OK, &e) != CERTO_OK) {
        certo_check_finding(&s->chk, CERTO_EPERM, "not executable: %s %s", what, path);
        return;
    }
    certo_check_finding(&s->chk, CERTO_OK, "ok: %s %s is executable", what, path);
}

static void
check_siblings(struct check_state *s, struct certo_transport *t)
{
    struct pem_siblings sib;
    struct certo_err e = {0};

    if (find_siblings(&sib, s->c, t, &e) != CERTO_OK) {
        certo_check_finding(&s->chk, e.rc, "problem: %s", e.msg);
        return;
    }
    if (sib.chain != NULL)
        (void)check_rw(s, t, "chain file ", sib.chain);
    else
        certo_check_finding(&s->chk, CERTO_OK,
                            "ok: no chain file next to %s; it gets the full chain", s->c->path);
    if (sib.key_exists)
        (void)check_rw(s, t, "key file ", sib.key);
    else
        certo_check_finding(&s->chk, CERTO_OK, "ok: key file %s will be created (mode 0600)",
                            sib.key);
    siblings_dispose(&sib);
}

static void
check_contents(struct check_state *s, struct certo_transport *t)
{
    const struct ks_ctx *c = s->c;
    struct certo_keystore *ks = NULL;
    struct certo_err e = {0};
    certo_rc rc = read_store(&ks, NULL, c, t, c->path, &e);

    if (rc != CERTO_OK) {
        certo_check_finding(&s->chk, rc, "%s: %s",
                            rc == CERTO_EAUTH ? "wrong password" : "unreadable", e.msg);
        return;
    }
    if (c->format != CERTO_KS_PEM) {
        certo_check_finding(&s->chk, CERTO_OK,
                            "ok: keystore opens with the store password (%zu entr%s)", ks->count,
                            ks->count == 1 ? "y" : "ies");
    } else if (key_entry(ks) != NULL) {
        certo_check_finding(
            &s->chk, CERTO_OK, "ok: %s holds a private key and %d certificate(s) (%s layout)",
            c->path, sk_X509_num(key_entry(ks)->certs), certo_pem_layout_name(ks->pem_layout));
    } else {
        certo_check_finding(&s->chk, CERTO_OK, "ok: %s holds %zu certificate(s) and no private key",
                            c->path, ks != NULL ? ks->count : 0);
        check_siblings(s, t);
    }
    certo_keystore_free(ks);
}

static certo_rc
ks_check(void *ctx, struct certo_transport *t, struct certo_buf *report, struct certo_err *err)
{
    const struct ks_ctx *c = ctx;
    struct check_state s = {.c = c, .chk = {.report = report, .err = err, .where = c->where}};
    struct certo_file_meta m;
    struct certo_err e = {0};
    char *dir = certo_path_dirname(c->path);
    bool readable = false;

    if (certo_transport_stat(t, c->path, &m, &e) != CERTO_OK)
        certo_check_finding(&s.chk, e.rc, "cannot look at: %s (%s)", c->path, certo_err_reason(&e));
    else if (!m.exists)
        certo_check_finding(&s.chk, CERTO_ENOTFOUND, "missing: %s (%s)", c->path, strerror(ENOENT));
    else if (m.is_dir)
        certo_check_finding(&s.chk, CERTO_ENOTFOUND,
                            "missing: %s (it is a directory, not a keystore file)", c->path);
    else
        readable = check_rw(&s, t, "", c->path);
    certo_err_clear(&e);
    if (certo_transport_access(t, dir, W_OK | X_OK, &e) != CERTO_OK)
        certo_check_finding(&s.chk, CERTO_EPERM,
                            "not writable: directory %s (needed for the atomic replace)", dir);
    else
        certo_check_finding(&s.chk, CERTO_OK, "ok: directory %s writable (for the atomic replace)",
                            dir);
    if (readable)
        check_contents(&s, t);
    check_script(&s, t, "install script", c->install_script);
    check_script(&s, t, "restart script", c->restart_script);
    certo_free(dir);
    return s.chk.rc;
}

/* ---- plan ---- */

static certo_rc
choose_alias(char **out, const struct ks_ctx *c, const struct certo_install_req *req, X509 *leaf,
             struct certo_err *err)
{
    struct certo_err e = {0};
    char *def = NULL;
    certo_rc rc = CERTO_EINTERNAL;

    *out = NULL;
    if (req->alias != NULL) {
        rc = certo_keystore_alias_check(out, c->format, req->alias, &e);
        if (rc != CERTO_OK)
            rc = certo_err_set(err, rc, c->where, "--alias: %s", e.msg);
        goto out;
    }
    def = certo_keystore_default_alias(c->format, leaf);
    rc = certo_keystore_alias_check(out, c->format, def, err);
out:
    certo_free(def);
    return rc;
}

/* A warning when the chain ends below a root that it does not include. */
static void
note_chain(struct certo_plan *p, STACK_OF(X509) * chain)
{
    int n = sk_X509_num(chain);
    X509 *last = sk_X509_value(chain, n - 1);
    char *issuer;

    if (certo_chain_self_signed(last))
        return;
    for (int i = 0; i < n - 1; i++) {
        if (certo_chain_issued_by(last, sk_X509_value(chain, i)))
            return;
    }
    issuer = certo_cert_name_text(X509_get_issuer_name(last));
    certo_plan_note(p,
                    "the chain is incomplete: its last certificate was issued by '%s', "
                    "which is not included",
                    issuer != NULL ? issuer : "?");
    certo_free(issuer);
}

static char *
others_text(size_t others)
{
    if (others == 0)
        return certo_strdup("no other entries");
    return certo_asprintf("%zu other entr%s kept", others, others == 1 ? "y" : "ies");
}

static void
apply_profile(struct certo_keystore *ks, const struct ks_ctx *c)
{
    if (c->format != CERTO_KS_PKCS12 || !c->legacy_set)
        return; /* no setting: the file's own profile stays */
    if (!c->legacy)
        ks->p12_profile = CERTO_P12_MODERN;
    else if (ks->p12_profile == CERTO_P12_MODERN)
        ks->p12_profile = CERTO_P12_LEGACY_RC2; /* the legacy default (openssl -legacy) */
    /* else a legacy file keeps its legacy variant (RC2-40 or 3DES certificates). */
}

/* p12 and jks: one file, one entry put by alias. */
static certo_rc
plan_store(struct certo_plan *p, const struct ks_ctx *c, struct certo_transport *t,
           const struct certo_install_req *req, struct certo_err *err)
{
    struct certo_keystore *ks = NULL;
    const struct certo_ks_entry *old;
    struct certo_buf b;
    char *others = NULL;
    bool replace;
    size_t n_others;
    certo_rc rc = CERTO_EINTERNAL;

    certo_buf_init(&b, CERTO_KEYSTORE_MAX);
    rc = read_store(&ks, NULL, c, t, c->path, err);
    if (rc != CERTO_OK)
        goto out;
    old = certo_keystore_find(ks, p->alias);
    replace = old != NULL;
    n_others = ks->count - (replace ? 1 : 0);
    if (old != NULL && sk_X509_num(old->certs) > 0) {
        rc = certo_cert_fingerprint(p->fp_before, sk_X509_value(old->certs, 0), err);
        if (rc != CERTO_OK)
            goto out;
    }
    rc = certo_keystore_put_key(ks, p->alias, req->bundle->key, req->bundle->chain,
                                certo_clock_now_ms(), err);
    if (rc != CERTO_OK)
        goto out;
    apply_profile(ks, c);
    rc = certo_keystore_serialize(&b, ks, c->cfg->store_password, err);
    if (rc != CERTO_OK)
        goto out;
    others = others_text(n_others);
    certo_plan_add_change(p, certo_strdup(c->path), &b, 0600,
                          certo_asprintf("%s %s: %s entry '%s' (%s)", c->type, c->path,
                                         replace ? "replace" : "add", p->alias, others));
    rc = CERTO_OK;
out:
    certo_free(others);
    certo_buf_dispose(&b);
    certo_keystore_free(ks);
    return rc;
}

/* Writes 'ks' in 'layout' as one change of the plan (takes 'summary'). */
static certo_rc
add_pem(struct certo_plan *p, struct certo_keystore *ks, enum certo_pem_layout layout,
        const struct certo_secret *pass, const char *path, mode_t mode, char *summary,
        struct certo_err *err)
{
    struct certo_buf b;
    certo_rc rc = CERTO_EINTERNAL;

    certo_buf_init(&b, CERTO_PEM_MAX);
    ks->pem_layout = layout;
    rc = certo_pem_write(&b, ks, pass, err);
    if (rc != CERTO_OK)
        goto out;
    certo_plan_add_change(p, certo_strdup(path), &b, mode, summary);
    summary = NULL;
out:
    certo_free(summary);
    certo_buf_dispose(&b);
    return rc;
}

static char *
chain_text(int n_chain)
{
    if (n_chain == 0)
        return certo_strdup("no chain certificates");
    return certo_asprintf("%d chain certificate%s", n_chain, n_chain == 1 ? "" : "s");
}

/* pem: the layout rules of docs/connectors/keystores.md. */
static certo_rc
plan_pem(struct certo_plan *p, const struct ks_ctx *c, struct certo_transport *t,
         const struct certo_install_req *req, struct certo_err *err)
{
    const struct certo_secret *pass = c->cfg->store_password;
    struct certo_keystore *old = NULL, *old_key = NULL, *ks = NULL;
    struct pem_siblings sib = {0};
    bool enc = false, key_enc = false;
    int n_chain = sk_X509_num(req->bundle->chain) - 1;
    char *chain = chain_text(n_chain);
    X509 *before;
    certo_rc rc = CERTO_EINTERNAL;

    rc = read_store(&old, &enc, c, t, c->path, err);
    if (rc != CERTO_OK)
        goto out;
    before = pem_leaf(old);
    if (before != NULL) {
        rc = certo_cert_fingerprint(p->fp_before, before, err);
        if (rc != CERTO_OK)
            goto out;
    }
    /* The file gets exactly the new material: a PEM endpoint holds one key entry. */
    ks = certo_keystore_new(CERTO_KS_PEM);
    rc = certo_keystore_put_key(ks, p->alias, req->bundle->key, req->bundle->chain,
                                certo_clock_now_ms(), err);
    if (rc != CERTO_OK)
        goto out;

    if (key_entry(old) != NULL) {
        /* Rule a: a combined file stays combined, in its own order. */
        bool key_first = old->pem_layout == CERTO_PEM_KEY_FIRST || old->pem_layout == CERTO_PEM_KEY;
        rc = add_pem(p, ks, key_first ? CERTO_PEM_KEY_FIRST : CERTO_PEM_COMBINED, enc ? pass : NULL,
                     c->path, 0600,
                     certo_asprintf("pem %s: private key, certificate and %s in one file (%s)",
                                    c->path, chain, key_first ? "key first" : "key last"),
                     err);
        goto out;
    }
    /* Rule b: certificates here, the key (and maybe the chain) in sibling files. */
    rc = find_siblings(&sib, c, t, err);
    if (rc != CERTO_OK)
        goto out;
    if (sib.key_exists) {
        /* Parsed, not only looked at: a key file encrypted under another password than
         * the store password is refused now, before the plan writes a key that the
         * service could not open. */
        rc = read_store(&old_key, &key_enc, c, t, sib.key, err);
        if (rc != CERTO_OK)
            goto out;
    }
    if (sib.chain != NULL)
        rc = add_pem(
            p, ks, CERTO_PEM_CERT, NULL, c->path, 0644,
            certo_asprintf("pem %s: certificate (the chain goes to %s)", c->path, sib.chain), err);
    else
        rc = add_pem(p, ks, CERTO_PEM_FULLCHAIN, NULL, c->path, 0644,
                     certo_asprintf("pem %s: certificate and %s", c->path, chain), err);
    if (rc == CERTO_OK && sib.chain != NULL)
        rc = add_pem(p, ks, CERTO_PEM_CHAIN, NULL, sib.chain, 0644,
                     certo_asprintf("pem %s: %s", sib.chain, chain), err);
    if (rc == CERTO_OK)
        rc = add_pem(p, ks, CERTO_PEM_KEY, key_enc ? pass : NULL, sib.key, 0600,
                     certo_asprintf("pem %s: private key%s", sib.key,
                                    sib.key_exists ? "" : " (new file, mode 0600)"),
                     err);
    if (rc == CERTO_OK && sib.chain != NULL && n_chain == 0)
        certo_plan_note(p, "the material has no chain; %s will be empty", sib.chain);
out:
    siblings_dispose(&sib);
    certo_keystore_free(ks);
    certo_keystore_free(old_key);
    certo_keystore_free(old);
    certo_free(chain);
    return rc;
}

static certo_rc
ks_plan(void *ctx, struct certo_transport *t, const struct certo_install_req *req,
        struct certo_plan *plan, struct certo_err *err)
{
    const struct ks_ctx *c = ctx;
    struct certo_plan p = {0};
    X509 *leaf;
    certo_rc rc = CERTO_EINTERNAL;

    memset(plan, 0, sizeof(*plan));
    CERTO_ASSERT(req != NULL && req->bundle != NULL);
    if (req->bundle->chain == NULL || sk_X509_num(req->bundle->chain) < 1) {
        rc = certo_err_set(err, CERTO_EINVAL, c->where, "the material has no certificate");
        goto out;
    }
    if (req->bundle->key == NULL) {
        rc = certo_err_set(err, CERTO_EINVAL, c->where,
                           "the material has no private key; a keystore entry needs one");
        goto out;
    }
    leaf = sk_X509_value(req->bundle->chain, 0);
    rc = choose_alias(&p.alias, c, req, leaf, err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_cert_fingerprint(p.fp_after, leaf, err);
    if (rc != CERTO_OK)
        goto out;
    rc = require_file(c, t, err);
    if (rc != CERTO_OK)
        goto out;
    if (c->format == CERTO_KS_PEM)
        rc = plan_pem(&p, c, t, req, err);
    else
        rc = plan_store(&p, c, t, req, err);
    if (rc != CERTO_OK)
        goto out;
    note_chain(&p, req->bundle->chain);

    *plan = p; /* success: hand over ownership */
    memset(&p, 0, sizeof(p));
    rc = CERTO_OK;
out:
    certo_plan_dispose(&p);
    return rc;
}

/* ---- activate, verify, restart ---- */

static certo_rc
ks_activate(void *ctx, struct certo_transport *t, const struct certo_plan *plan,
            struct certo_buf *log, struct certo_err *err)
{
    const struct ks_ctx *c = ctx;
    const char *env[3] = {NULL, NULL, NULL};
    char *alias_var = NULL, *path_var = NULL;
    certo_rc rc = CERTO_OK;

    if (c->install_script == NULL)
        goto out;
    alias_var = certo_asprintf("CERTO_ALIAS=%s", plan->alias != NULL ? plan->alias : "");
    path_var = certo_asprintf("CERTO_KEYSTORE=%s", c->path);
    env[0] = alias_var;
    env[1] = path_var;
    rc = certo_connector_run_script(t, c->cfg, c->install_script, plan->alias, env, log, err);
out:
    certo_free(alias_var);
    certo_free(path_var);
    return rc;
}

/* Reads a changed file back; a file that no longer parses is a conflict. */
static certo_rc
read_back(struct certo_keystore **out, const struct ks_ctx *c, struct certo_transport *t,
          const char *path, struct certo_err *err)
{
    struct certo_buf b;
    struct certo_err e = {0};
    certo_rc rc = CERTO_EINTERNAL;

    *out = NULL;
    certo_buf_init(&b, CERTO_KEYSTORE_MAX);
    rc = certo_transport_get(t, path, &b, err);
    if (rc != CERTO_OK)
        goto out;
    rc = parse_store(out, c, &b, path, &e);
    if (rc == CERTO_OK && *out == NULL)
        rc = certo_err_set(err, CERTO_ECONFLICT, c->where, "%s is empty after the install", path);
    else if (rc != CERTO_OK)
        rc = certo_err_set(err, CERTO_ECONFLICT, c->where, "%s no longer reads back: %s", path,
                           e.msg);
out:
    certo_buf_dispose(&b);
    return rc;
}

/* The certificate 'leaf' read from 'path' is the one installed and matches 'key'. */
static certo_rc
verify_pair(const struct ks_ctx *c, const struct certo_plan *plan, X509 *leaf, EVP_PKEY *key,
            const char *path, const char *key_path, struct certo_err *err)
{
    char fp[96];
    certo_rc rc = certo_cert_fingerprint(fp, leaf, err);

    if (rc != CERTO_OK)
        return rc;
    if (strcmp(fp, plan->fp_after) != 0)
        return certo_err_set(err, CERTO_ECONFLICT, c->where,
                             "%s holds certificate %s, not the installed %s", path, fp,
                             plan->fp_after);
    if (key == NULL || !certo_cert_matches_key(leaf, key))
        return certo_err_set(err, CERTO_ECONFLICT, c->where,
                             "the private key in %s does not match the certificate in %s", key_path,
                             path);
    return CERTO_OK;
}

static certo_rc
verify_store(const struct ks_ctx *c, struct certo_transport *t, const struct certo_plan *plan,
             struct certo_err *err)
{
    struct certo_keystore *ks = NULL;
    const struct certo_ks_entry *e;
    certo_rc rc = CERTO_EINTERNAL;

    CERTO_ASSERT(plan->alias != NULL);
    for (size_t i = 0; i < plan->n_changes; i++) {
        certo_keystore_free(ks);
        ks = NULL;
        rc = read_back(&ks, c, t, plan->changes[i].path, err);
        if (rc != CERTO_OK)
            goto out;
        e = certo_keystore_find(ks, plan->alias);
        if (e == NULL || e->kind != CERTO_KS_ENTRY_KEY || sk_X509_num(e->certs) < 1) {
            rc = certo_err_set(err, CERTO_ECONFLICT, c->where, "%s has no key entry '%s'",
                               plan->changes[i].path, plan->alias);
            goto out;
        }
        rc = verify_pair(c, plan, sk_X509_value(e->certs, 0), e->key, plan->changes[i].path,
                         plan->changes[i].path, err);
        if (rc != CERTO_OK)
            goto out;
    }
    rc = CERTO_OK;
out:
    certo_keystore_free(ks);
    return rc;
}

static certo_rc
verify_pem(const struct ks_ctx *c, struct certo_transport *t, const struct certo_plan *plan,
           struct certo_err *err)
{
    struct certo_keystore **ks = certo_calloc(plan->n_changes + 1, sizeof(*ks));
    X509 *leaf = NULL;
    EVP_PKEY *key = NULL;
    const char *key_path = NULL;
    certo_rc rc = CERTO_EINTERNAL;

    for (size_t i = 0; i < plan->n_changes; i++) {
        const char *path = plan->changes[i].path;
        const struct certo_ks_entry *k;
        rc = read_back(&ks[i], c, t, path, err);
        if (rc != CERTO_OK)
            goto out;
        if (strcmp(path, c->path) == 0)
            leaf = pem_leaf(ks[i]);
        k = key_entry(ks[i]);
        if (k != NULL && key == NULL) {
            key = k->key;
            key_path = path;
        }
    }
    if (leaf == NULL) {
        rc = certo_err_set(err, CERTO_ECONFLICT, c->where, "%s holds no certificate", c->path);
        goto out;
    }
    if (key == NULL) {
        rc = certo_err_set(err, CERTO_ECONFLICT, c->where,
                           "no file of the install holds a private key for %s", c->path);
        goto out;
    }
    rc = verify_pair(c, plan, leaf, key, c->path, key_path, err);
out:
    for (size_t i = 0; i < plan->n_changes; i++)
        certo_keystore_free(ks[i]);
    certo_free(ks);
    return rc;
}

static certo_rc
ks_verify(void *ctx, struct certo_transport *t, const struct certo_plan *plan,
          struct certo_err *err)
{
    const struct ks_ctx *c = ctx;

    if (c->format == CERTO_KS_PEM)
        return verify_pem(c, t, plan, err);
    return verify_store(c, t, plan, err);
}

static certo_rc
ks_restart(void *ctx, struct certo_transport *t, struct certo_buf *log, struct certo_err *err)
{
    const struct ks_ctx *c = ctx;
    const char *env[2] = {NULL, NULL};
    char *path_var = NULL;
    certo_rc rc = CERTO_EINTERNAL;

    if (c->restart_script == NULL) {
        rc = certo_err_set(err, CERTO_EUNSUPPORTED, c->where, "endpoint %s has no restart script",
                           endpoint_name(c));
        goto out;
    }
    path_var = certo_asprintf("CERTO_KEYSTORE=%s", c->path);
    env[0] = path_var;
    rc = certo_connector_run_script(t, c->cfg, c->restart_script, NULL, env, log, err);
out:
    certo_free(path_var);
    return rc;
}

/* ---- nodes ---- */

/* One node per entry of the keystore file, with the entry's certificates: no network. */
static certo_rc
ks_nodes(void *ctx, struct certo_transport *t, struct certo_node_list *out, struct certo_err *err)
{
    const struct ks_ctx *c = ctx;
    struct certo_keystore *ks = NULL;
    struct certo_node_list l = {0};
    certo_rc rc;

    memset(out, 0, sizeof(*out));
    rc = require_file(c, t, err);
    if (rc == CERTO_OK)
        rc = read_store(&ks, NULL, c, t, c->path, err);
    if (rc != CERTO_OK)
        goto out;
    for (size_t i = 0; ks != NULL && i < ks->count; i++) {
        const struct certo_ks_entry *e = &ks->entries[i];
        struct certo_conf_node *n = certo_node_list_add(&l);
        n->name = certo_strdup(e->alias);
        n->alias = certo_strdup(e->alias);
        n->kind = CERTO_NODE_ENTRY;
        n->source = certo_strdup(c->path);
        n->chain = certo_certs_dup(e->certs);
        n->key_entry = e->kind == CERTO_KS_ENTRY_KEY;
        /* A PEM file holds one key: an install replaces it whatever its alias. */
        n->any_alias = n->key_entry && c->format == CERTO_KS_PEM;
        certo_conf_node_add_file(n, c->path);
    }
    *out = l; /* success: hand over ownership */
    memset(&l, 0, sizeof(l));
out:
    certo_node_list_dispose(&l);
    certo_keystore_free(ks);
    return rc;
}

/* ---- the three endpoint types ---- */

const struct certo_connector_ops certo_connector_p12 = {
    .abi = CERTO_CONNECTOR_ABI,
    .name = "p12",
    .caps = CERTO_CAP_VERIFY | CERTO_CAP_RESTART,
    .ctx_size = sizeof(struct ks_ctx),
    .configure = p12_configure,
    .check = ks_check,
    .plan = ks_plan,
    .test = NULL,
    .activate = ks_activate,
    .verify = ks_verify,
    .reactivate = NULL, /* scripts do not run again after a rollback */
    .restart = ks_restart,
    .cleanup = NULL,
    .nodes = ks_nodes,
};

const struct certo_connector_ops certo_connector_jks = {
    .abi = CERTO_CONNECTOR_ABI,
    .name = "jks",
    .caps = CERTO_CAP_VERIFY | CERTO_CAP_RESTART,
    .ctx_size = sizeof(struct ks_ctx),
    .configure = jks_configure,
    .check = ks_check,
    .plan = ks_plan,
    .test = NULL,
    .activate = ks_activate,
    .verify = ks_verify,
    .reactivate = NULL,
    .restart = ks_restart,
    .cleanup = NULL,
    .nodes = ks_nodes,
};

const struct certo_connector_ops certo_connector_pem = {
    .abi = CERTO_CONNECTOR_ABI,
    .name = "pem",
    .caps = CERTO_CAP_VERIFY | CERTO_CAP_RESTART,
    .ctx_size = sizeof(struct ks_ctx),
    .configure = pem_configure,
    .check = ks_check,
    .plan = ks_plan,
    .test = NULL,
    .activate = ks_activate,
    .verify = ks_verify,
    .reactivate = NULL,
    .restart = ks_restart,
    .cleanup = NULL,
    .nodes = ks_nodes,
};
