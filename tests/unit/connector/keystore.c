/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the keystore connectors (src/connector/keystore/keystore.c) and the
 * connector registry (src/connector/registry.c), through the real local transport:
 * plans for p12, jks and pem endpoints (entries kept, aliases, profiles, PEM layout
 * rules), verify, scripts (argv, clean environment, exit status, timeout) and check.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"
#include "certo/sys/connector.h"
#include "certo/sys/transport.h"

#define PASS "changeit"

/* One test's world: a temporary directory, the local transport, the store password. */
struct fx {
    char *dir;
    struct certo_transport *t;
    struct certo_secret *pass;
};

/* One configured endpoint. */
struct ep {
    const struct certo_connector_ops *ops;
    struct certo_kv kv[8];
    struct certo_connector_cfg cfg;
    void *ctx;
};

static int
setup(void **state)
{
    struct fx *f = certo_calloc(1, sizeof(*f));
    struct certo_err err = {0};
    f->dir = t_mkdtemp();
    f->pass = t_secret(PASS);
    assert_int_equal(certo_transport_open(&f->t, &certo_transport_local, NULL, &err), CERTO_OK);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;
    certo_transport_close(f->t);
    certo_secret_free(f->pass);
    t_rmdir(f->dir);
    certo_free(f);
    return 0;
}

/* dir/name (new string). */
static char *
path_in(const struct fx *f, const char *name)
{
    return certo_asprintf("%s/%s", f->dir, name);
}

static void
write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    assert_int_equal(certo_file_replace(path, data, len, mode), CERTO_OK);
}

/* Copies fixture 'name' to dir/'as'; returns the new path. */
static char *
copy_fixture(const struct fx *f, const char *name, const char *as)
{
    struct certo_buf b;
    char *p = path_in(f, as);
    t_read_fixture(&b, name);
    write_file(p, b.data, b.len, 0640);
    certo_buf_dispose(&b);
    return p;
}

/* Concatenates fixtures into dir/'as'. */
static char *
cat_fixtures(const struct fx *f, const char *as, const char *a, const char *b)
{
    struct certo_buf x, y, all;
    char *p = path_in(f, as);
    t_read_fixture(&x, a);
    t_read_fixture(&y, b);
    certo_buf_init(&all, 1u << 20);
    assert_int_equal(certo_buf_append(&all, x.data, x.len), CERTO_OK);
    assert_int_equal(certo_buf_append(&all, y.data, y.len), CERTO_OK);
    write_file(p, all.data, all.len, 0640);
    certo_buf_dispose(&x);
    certo_buf_dispose(&y);
    certo_buf_dispose(&all);
    return p;
}

static char *
write_script(const struct fx *f, const char *name, const char *body)
{
    char *p = path_in(f, name);
    char *text = certo_asprintf("#!/bin/sh\n%s\n", body);
    write_file(p, text, strlen(text), 0755);
    certo_free(text);
    return p;
}

static struct certo_bundle *
bundle(const char *cert, const char *key, const char *chain)
{
    struct certo_bundle_src src = {0};
    struct certo_bundle *b = NULL;
    struct certo_err err = {0};
    char certp[4096], keyp[4096], chainp[4096];
    snprintf(certp, sizeof(certp), "%s", t_fixture(cert));
    snprintf(keyp, sizeof(keyp), "%s", t_fixture(key));
    src.cert_path = certp;
    src.key_path = keyp;
    if (chain != NULL) {
        snprintf(chainp, sizeof(chainp), "%s", t_fixture(chain));
        src.chain_path = chainp;
    }
    src.key_required = true;
    if (certo_bundle_load(&b, &src, &err) != CERTO_OK)
        fail_msg("bundle %s: %s", cert, err.msg);
    return b;
}

/* Configures endpoint 'type' (NULL options are left out); asserts configure's result. */
static void
ep_open_rc(struct ep *ep, certo_rc want, const char *type, const char *path,
           const struct certo_secret *pass, const char *install, const char *restart,
           const char *legacy)
{
    struct certo_err err = {0};
    size_t n = 0;
    memset(ep, 0, sizeof(*ep));
    ep->ops = certo_connector_find(type);
    assert_non_null(ep->ops);
    if (path != NULL)
        ep->kv[n++] = (struct certo_kv){"path", path};
    if (install != NULL)
        ep->kv[n++] = (struct certo_kv){"install_script", install};
    if (restart != NULL)
        ep->kv[n++] = (struct certo_kv){"restart_script", restart};
    if (legacy != NULL)
        ep->kv[n++] = (struct certo_kv){"is_legacy", legacy};
    ep->cfg.endpoint_name = "ep1";
    ep->cfg.opts = ep->kv;
    ep->cfg.n_opts = n;
    ep->cfg.store_password = pass;
    ep->ctx = certo_calloc(1, ep->ops->ctx_size);
    assert_int_equal(ep->ops->configure(ep->ctx, &ep->cfg, &err), want);
}

static void
ep_open(struct ep *ep, const char *type, const char *path, const struct certo_secret *pass,
        const char *install, const char *restart, const char *legacy)
{
    ep_open_rc(ep, CERTO_OK, type, path, pass, install, restart, legacy);
}

static void
ep_close(struct ep *ep)
{
    if (ep->ops->cleanup != NULL)
        ep->ops->cleanup(ep->ctx);
    certo_free(ep->ctx);
}

static certo_rc
plan_of(struct certo_plan *p, struct ep *ep, struct fx *f, const struct certo_bundle *b,
        const char *alias, struct certo_err *err)
{
    struct certo_install_req req = {.bundle = b, .alias = alias};
    return ep->ops->plan(ep->ctx, f->t, &req, p, err);
}

/* Writes every change of the plan the way the engine's swap does. */
static void
apply(struct fx *f, const struct certo_plan *p)
{
    struct certo_err err = {0};
    for (size_t i = 0; i < p->n_changes; i++) {
        const struct certo_change *c = &p->changes[i];
        struct certo_file_meta m = {.mode = c->meta.mode};
        assert_int_equal(certo_transport_put(f->t, c->path, c->data.data, c->data.len,
                                             c->meta.exists ? NULL : &m, &err),
                         CERTO_OK);
    }
}

static struct certo_keystore *
parse_change(const struct certo_change *c, enum certo_ks_format fmt,
             const struct certo_secret *pass)
{
    struct certo_keystore *ks = NULL;
    struct certo_err err = {0};
    if (certo_keystore_parse(&ks, fmt, c->data.data, c->data.len, pass, &err) != CERTO_OK)
        fail_msg("change %s does not parse: %s", c->path, err.msg);
    return ks;
}

static void
fp_of(char out[96], X509 *cert)
{
    assert_int_equal(certo_cert_fingerprint(out, cert, NULL), CERTO_OK);
}

static const struct certo_change *
change_for(const struct certo_plan *p, const char *path)
{
    for (size_t i = 0; i < p->n_changes; i++) {
        if (strcmp(p->changes[i].path, path) == 0)
            return &p->changes[i];
    }
    fail_msg("no change for %s", path);
    return NULL;
}

static int
count_blocks(const struct certo_change *c, const char *label)
{
    int n = 0;
    const char *s = (const char *)c->data.data;
    while (s != NULL && (s = strstr(s, label)) != NULL) {
        n++;
        s += strlen(label);
    }
    return n;
}

/* ---- registry and configuration ---- */

static void
test_connector_keystore__registry(void **state)
{
    (void)state;
    assert_string_equal(certo_connector_find("p12")->name, "p12");
    assert_string_equal(certo_connector_find("jks")->name, "jks");
    assert_string_equal(certo_connector_find("pem")->name, "pem");
    assert_null(certo_connector_find("no-such-type"));
    assert_null(certo_connector_find(NULL));
    assert_int_equal(certo_connector_find("p12")->caps, CERTO_CAP_VERIFY | CERTO_CAP_RESTART);
    assert_null(certo_connector_find("jks")->reactivate);
}

static void
test_connector_keystore__configure_errors(void **state)
{
    struct ep ep;
    (void)state;
    ep_open_rc(&ep, CERTO_EINVAL, "p12", NULL, NULL, NULL, NULL, NULL);
    ep_close(&ep);
    ep_open_rc(&ep, CERTO_EINVAL, "p12", "relative.p12", NULL, NULL, NULL, NULL);
    ep_close(&ep);
    ep_open_rc(&ep, CERTO_EINVAL, "jks", "/x.jks", NULL, NULL, NULL, "true");
    ep_close(&ep);
    ep_open_rc(&ep, CERTO_EINVAL, "p12", "/x.p12", NULL, NULL, NULL, "yes");
    ep_close(&ep);
    ep_open_rc(&ep, CERTO_EINVAL, "pem", "/x.pem", NULL, "install.sh", NULL, NULL);
    ep_close(&ep);
    ep_open(&ep, "p12", "/x.p12", NULL, "/i.sh", "/r.sh", "false");
    ep_close(&ep);
}

/* ---- p12 / jks plans ---- */

static void
test_connector_keystore__p12_add_then_replace(void **state)
{
    struct fx *f = *state;
    struct certo_bundle *b = bundle("leaf-ec256.crt", "leaf-ec256.key", "chain.pem");
    char *path = copy_fixture(f, "keytool.p12", "store.p12");
    struct certo_plan p = {0};
    struct certo_err err = {0};
    struct certo_keystore *ks;
    char fp[96];
    struct ep ep;

    ep_open(&ep, "p12", path, f->pass, NULL, NULL, NULL);
    assert_int_equal(plan_of(&p, &ep, f, b, NULL, &err), CERTO_OK);
    assert_int_equal(p.n_changes, 1);
    assert_string_equal(p.changes[0].path, path);
    assert_string_equal(p.alias, "ec256.example.test");
    assert_string_equal(p.fp_before, "");
    fp_of(fp, sk_X509_value(b->chain, 0));
    assert_string_equal(p.fp_after, fp);
    assert_int_equal(p.n_notes, 0); /* chain.pem ends at the root */
    assert_non_null(strstr(p.changes[0].summary, "add entry 'ec256.example.test'"));
    assert_non_null(strstr(p.changes[0].summary, "(3 other entries kept)"));
    ks = parse_change(&p.changes[0], CERTO_KS_PKCS12, f->pass);
    assert_int_equal(ks->count, 4);
    assert_non_null(certo_keystore_find(ks, "www"));
    assert_non_null(certo_keystore_find(ks, "generated"));
    assert_non_null(certo_keystore_find(ks, "rootca"));
    assert_int_equal(sk_X509_num(certo_keystore_find(ks, "ec256.example.test")->certs), 3);
    certo_keystore_free(ks);

    /* Nothing was written by plan(). */
    {
        struct certo_buf now, orig;
        t_read_file(&now, path);
        t_read_fixture(&orig, "keytool.p12");
        assert_int_equal(now.len, orig.len);
        assert_memory_equal(now.data, orig.data, now.len);
        certo_buf_dispose(&now);
        certo_buf_dispose(&orig);
    }

    apply(f, &p);
    assert_int_equal(ep.ops->verify(ep.ctx, f->t, &p, &err), CERTO_OK);
    certo_plan_dispose(&p);

    /* A second install of the same certificate replaces the entry it made. */
    assert_int_equal(plan_of(&p, &ep, f, b, NULL, &err), CERTO_OK);
    assert_string_equal(p.fp_before, fp);
    assert_string_equal(p.fp_after, fp);
    assert_non_null(strstr(p.changes[0].summary, "replace entry 'ec256.example.test'"));
    ks = parse_change(&p.changes[0], CERTO_KS_PKCS12, f->pass);
    assert_int_equal(ks->count, 4);
    certo_keystore_free(ks);
    certo_plan_dispose(&p);

    ep_close(&ep);
    certo_bundle_free(b);
    certo_free(path);
}

static void
test_connector_keystore__p12_replace_keeps_two_others(void **state)
{
    struct fx *f = *state;
    struct certo_bundle *b = bundle("leaf-rsa2048.crt", "leaf-rsa2048.key", "chain.pem");
    char *path = copy_fixture(f, "keytool.p12", "store.p12");
    struct certo_keystore *orig = NULL, *ks;
    struct certo_plan p = {0};
    struct certo_err err = {0};
    char fp_old[96];
    struct ep ep;

    assert_int_equal(certo_keystore_load(&orig, path, CERTO_KS_PKCS12, f->pass, &err), CERTO_OK);
    fp_of(fp_old, sk_X509_value(certo_keystore_find(orig, "www")->certs, 0));
    ep_open(&ep, "p12", path, f->pass, NULL, NULL, NULL);
    assert_int_equal(plan_of(&p, &ep, f, b, "www", &err), CERTO_OK);
    assert_string_equal(p.alias, "www");
    assert_string_equal(p.fp_before, fp_old);
    assert_non_null(strstr(p.changes[0].summary, "replace entry 'www' (2 other entries kept)"));
    ks = parse_change(&p.changes[0], CERTO_KS_PKCS12, f->pass);
    assert_int_equal(ks->count, 3);
    assert_non_null(certo_keystore_find(ks, "generated"));
    assert_non_null(certo_keystore_find(ks, "rootca"));
    /* The other key entry is unchanged. */
    {
        char a[96], c[96];
        fp_of(a, sk_X509_value(certo_keystore_find(orig, "generated")->certs, 0));
        fp_of(c, sk_X509_value(certo_keystore_find(ks, "generated")->certs, 0));
        assert_string_equal(a, c);
    }
    certo_keystore_free(ks);
    certo_keystore_free(orig);
    certo_plan_dispose(&p);
    ep_close(&ep);
    certo_bundle_free(b);
    certo_free(path);
}

static void
test_connector_keystore__jks_alias_lower_case(void **state)
{
    struct fx *f = *state;
    struct certo_bundle *b = bundle("leaf-ec256.crt", "leaf-ec256.key", "chain.pem");
    char *path = copy_fixture(f, "keytool.jks", "store.jks");
    struct certo_plan p = {0};
    struct certo_err err = {0};
    struct certo_keystore *ks;
    struct ep ep;

    ep_open(&ep, "jks", path, f->pass, NULL, NULL, NULL);
    assert_int_equal(plan_of(&p, &ep, f, b, "My-Web", &err), CERTO_OK);
    assert_string_equal(p.alias, "my-web");
    ks = parse_change(&p.changes[0], CERTO_KS_JKS, f->pass);
    assert_int_equal(ks->count, 4);
    assert_string_equal(certo_keystore_find(ks, "my-web")->alias, "my-web");
    certo_keystore_free(ks);
    apply(f, &p);
    assert_int_equal(ep.ops->verify(ep.ctx, f->t, &p, &err), CERTO_OK);
    certo_plan_dispose(&p);
    ep_close(&ep);
    certo_bundle_free(b);
    certo_free(path);
}

/* The profile a plan for 'fixture' with is_legacy 'legacy' writes. */
static enum certo_p12_profile
profile_after(struct fx *f, const char *fixture, const char *legacy)
{
    struct certo_bundle *b = bundle("leaf-ec256.crt", "leaf-ec256.key", "chain.pem");
    char *path = copy_fixture(f, fixture, "profile.p12");
    struct certo_plan p = {0};
    struct certo_err err = {0};
    struct certo_keystore *ks;
    enum certo_p12_profile prof;
    struct ep ep;

    ep_open(&ep, "p12", path, f->pass, NULL, NULL, legacy);
    assert_int_equal(plan_of(&p, &ep, f, b, NULL, &err), CERTO_OK);
    ks = parse_change(&p.changes[0], CERTO_KS_PKCS12, f->pass);
    assert_non_null(certo_keystore_find(ks, "ec256.example.test"));
    prof = ks->p12_profile;
    certo_keystore_free(ks);
    certo_plan_dispose(&p);
    ep_close(&ep);
    certo_bundle_free(b);
    certo_free(path);
    return prof;
}

static void
test_connector_keystore__p12_profile(void **state)
{
    struct fx *f = *state;
    assert_int_equal(profile_after(f, "openssl-legacy.p12", "true"), CERTO_P12_LEGACY_RC2);
    assert_int_equal(profile_after(f, "openssl-legacy.p12", NULL), CERTO_P12_LEGACY_RC2);
    assert_int_equal(profile_after(f, "openssl-legacy.p12", "false"), CERTO_P12_MODERN);
    assert_int_equal(profile_after(f, "openssl-modern.p12", "true"), CERTO_P12_LEGACY_RC2);
    assert_int_equal(profile_after(f, "openssl-modern.p12", "false"), CERTO_P12_MODERN);
}

static void
test_connector_keystore__plan_errors(void **state)
{
    struct fx *f = *state;
    struct certo_bundle *b = bundle("leaf-ec256.crt", "leaf-ec256.key", "chain.pem");
    char *path = copy_fixture(f, "keytool.p12", "store.p12");
    char *missing = path_in(f, "missing.p12");
    struct certo_secret *wrong = t_secret("wrong-password");
    struct certo_plan p = {0};
    struct certo_err err = {0};
    struct ep ep;

    /* Wrong store password. */
    ep_open(&ep, "p12", path, wrong, NULL, NULL, NULL);
    assert_int_equal(plan_of(&p, &ep, f, b, NULL, &err), CERTO_EAUTH);
    assert_non_null(strstr(err.msg, "the store password does not open"));
    assert_non_null(strstr(err.msg, path));
    assert_int_equal(p.n_changes, 0);
    assert_null(p.alias);
    ep_close(&ep);

    /* Missing file. */
    certo_err_clear(&err);
    ep_open(&ep, "p12", missing, f->pass, NULL, NULL, NULL);
    assert_int_equal(plan_of(&p, &ep, f, b, NULL, &err), CERTO_ENOTFOUND);
    assert_non_null(strstr(err.msg, missing));
    ep_close(&ep);

    /* Alias with a control character. */
    certo_err_clear(&err);
    ep_open(&ep, "p12", path, f->pass, NULL, NULL, NULL);
    assert_int_equal(plan_of(&p, &ep, f, b,
                             "we\x01"
                             "b",
                             &err),
                     CERTO_EINVAL);
    assert_non_null(strstr(err.msg, "--alias"));
    assert_non_null(strstr(err.msg, "control character"));

    /* A key that does not match the certificate: put_key refuses it. */
    {
        struct certo_bundle odd = {0};
        odd.key = t_fixture_key("leaf-rsa2048.key");
        odd.chain = t_fixture_certs("leaf-ec256.crt");
        certo_err_clear(&err);
        assert_int_equal(plan_of(&p, &ep, f, &odd, NULL, &err), CERTO_EINVAL);
        assert_non_null(strstr(err.msg, "does not match"));
        assert_int_equal(p.n_changes, 0);
        EVP_PKEY_free(odd.key);
        certo_certs_free(odd.chain);
    }
    ep_close(&ep);

    /* No store password at all. */
    certo_err_clear(&err);
    ep_open(&ep, "jks", path, NULL, NULL, NULL, NULL);
    assert_int_equal(plan_of(&p, &ep, f, b, NULL, &err), CERTO_EAUTH);
    assert_non_null(strstr(err.msg, "no store password"));
    ep_close(&ep);

    certo_secret_free(wrong);
    certo_free(missing);
    certo_free(path);
    certo_bundle_free(b);
}

/* ---- PEM layout rules ---- */

static void
test_connector_keystore__pem_rule_a_key_first(void **state)
{
    struct fx *f = *state;
    struct certo_bundle *b = bundle("leaf-rsa2048.crt", "leaf-rsa2048.key", "chain.pem");
    char *path = copy_fixture(f, "combined-ec256.pem", "combined.pem");
    STACK_OF(X509) *old = t_fixture_certs("leaf-ec256.crt");
    struct certo_plan p = {0};
    struct certo_err err = {0};
    struct certo_keystore *ks;
    char fp_old[96];
    struct ep ep;

    fp_of(fp_old, sk_X509_value(old, 0));
    ep_open(&ep, "pem", path, NULL, NULL, NULL, NULL);
    assert_int_equal(plan_of(&p, &ep, f, b, NULL, &err), CERTO_OK);
    assert_int_equal(p.n_changes, 1);
    assert_string_equal(p.fp_before, fp_old);
    assert_string_equal(p.alias, "www.example.test");
    assert_true(strncmp((const char *)p.changes[0].data.data, "-----BEGIN PRIVATE KEY-----", 27) ==
                0);
    assert_int_equal(count_blocks(&p.changes[0], "-----BEGIN CERTIFICATE-----"), 3);
    ks = parse_change(&p.changes[0], CERTO_KS_PEM, NULL);
    assert_int_equal(ks->pem_layout, CERTO_PEM_KEY_FIRST);
    assert_int_equal(ks->count, 1);
    assert_int_equal(sk_X509_num(ks->entries[0].certs), 3);
    certo_keystore_free(ks);
    apply(f, &p);
    assert_int_equal(ep.ops->verify(ep.ctx, f->t, &p, &err), CERTO_OK);
    certo_plan_dispose(&p);
    ep_close(&ep);
    certo_certs_free(old);
    certo_bundle_free(b);
    certo_free(path);
}

static void
test_connector_keystore__pem_rule_a_key_last_and_note(void **state)
{
    struct fx *f = *state;
    /* Leaf and intermediate only: the chain stops below the root. */
    struct certo_bundle *b = bundle("leaf-ec256.crt", "leaf-ec256.key", "int.crt");
    char *path = cat_fixtures(f, "server.pem", "leaf-rsa2048.crt", "leaf-rsa2048.key");
    struct certo_plan p = {0};
    struct certo_err err = {0};
    struct certo_keystore *ks;
    struct ep ep;

    ep_open(&ep, "pem", path, NULL, NULL, NULL, NULL);
    assert_int_equal(plan_of(&p, &ep, f, b, NULL, &err), CERTO_OK);
    assert_int_equal(p.n_changes, 1);
    assert_true(strncmp((const char *)p.changes[0].data.data, "-----BEGIN CERTIFICATE-----", 27) ==
                0);
    ks = parse_change(&p.changes[0], CERTO_KS_PEM, NULL);
    assert_int_equal(ks->pem_layout, CERTO_PEM_COMBINED);
    assert_int_equal(sk_X509_num(ks->entries[0].certs), 2);
    certo_keystore_free(ks);
    assert_int_equal(p.n_notes, 1);
    assert_non_null(strstr(p.notes[0], "incomplete"));
    certo_plan_dispose(&p);
    ep_close(&ep);
    certo_bundle_free(b);
    certo_free(path);
}

static void
test_connector_keystore__pem_rule_b_new_key_file(void **state)
{
    struct fx *f = *state;
    struct certo_bundle *b = bundle("leaf-rsa2048.crt", "leaf-rsa2048.key", "chain.pem");
    char *path = copy_fixture(f, "leaf-ec256.crt", "web.crt");
    char *key = path_in(f, "web.key");
    const struct certo_change *c;
    struct certo_plan p = {0};
    struct certo_err err = {0};
    struct certo_keystore *ks;
    struct stat st;
    struct ep ep;

    ep_open(&ep, "pem", path, NULL, NULL, NULL, NULL);
    assert_int_equal(plan_of(&p, &ep, f, b, NULL, &err), CERTO_OK);
    assert_int_equal(p.n_changes, 2);
    assert_int_not_equal(p.fp_before[0], '\0');
    c = change_for(&p, path);
    assert_int_equal(count_blocks(c, "-----BEGIN CERTIFICATE-----"), 3);
    assert_null(strstr((const char *)c->data.data, "PRIVATE KEY"));
    c = change_for(&p, key);
    assert_int_equal(c->meta.mode, 0600);
    assert_int_equal(count_blocks(c, "-----BEGIN CERTIFICATE-----"), 0);
    ks = parse_change(c, CERTO_KS_PEM, NULL);
    assert_int_equal(ks->pem_layout, CERTO_PEM_KEY);
    certo_keystore_free(ks);
    assert_null(strstr(change_for(&p, key)->summary, "(replaced)"));

    apply(f, &p);
    assert_int_equal(stat(key, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(ep.ops->verify(ep.ctx, f->t, &p, &err), CERTO_OK);
    certo_plan_dispose(&p);

    /* An empty file is a file without a key too. */
    write_file(path, "", 0, 0644);
    assert_int_equal(plan_of(&p, &ep, f, b, NULL, &err), CERTO_OK);
    assert_string_equal(p.fp_before, "");
    assert_int_equal(p.n_changes, 2);
    assert_string_equal(p.changes[1].path, key); /* the existing key file is reused */
    certo_plan_dispose(&p);

    ep_close(&ep);
    certo_bundle_free(b);
    certo_free(key);
    certo_free(path);
}

static void
test_connector_keystore__pem_rule_b_siblings(void **state)
{
    struct fx *f = *state;
    struct certo_bundle *b = bundle("leaf-rsa2048.crt", "leaf-rsa2048.key", "chain.pem");
    char *path = copy_fixture(f, "leaf-ec256.crt", "web.pem");
    char *chain = copy_fixture(f, "int.crt", "web-chain.pem");
    char *key = copy_fixture(f, "leaf-ec256.key", "web.key.pem");
    const struct certo_change *c;
    struct certo_plan p = {0};
    struct certo_err err = {0};
    struct ep ep;

    ep_open(&ep, "pem", path, NULL, NULL, NULL, NULL);
    assert_int_equal(plan_of(&p, &ep, f, b, NULL, &err), CERTO_OK);
    assert_int_equal(p.n_changes, 3);
    c = change_for(&p, path);
    assert_int_equal(count_blocks(c, "-----BEGIN CERTIFICATE-----"), 1);
    c = change_for(&p, chain);
    assert_int_equal(count_blocks(c, "-----BEGIN CERTIFICATE-----"), 2);
    assert_null(strstr((const char *)c->data.data, "PRIVATE KEY"));
    c = change_for(&p, key);
    assert_int_equal(count_blocks(c, "-----BEGIN CERTIFICATE-----"), 0);
    assert_non_null(strstr((const char *)c->data.data, "PRIVATE KEY"));
    apply(f, &p);
    assert_int_equal(ep.ops->verify(ep.ctx, f->t, &p, &err), CERTO_OK);

    /* The key file now holds another key: verify finds the mismatch. */
    {
        struct certo_buf other;
        t_read_fixture(&other, "leaf-ec256.key");
        write_file(key, other.data, other.len, 0600);
        certo_buf_dispose(&other);
        assert_int_equal(ep.ops->verify(ep.ctx, f->t, &p, &err), CERTO_ECONFLICT);
        assert_non_null(strstr(err.msg, key));
    }
    certo_plan_dispose(&p);
    ep_close(&ep);
    certo_bundle_free(b);
    certo_free(key);
    certo_free(chain);
    certo_free(path);
}

/* ---- verify ---- */

static void
test_connector_keystore__verify_conflict(void **state)
{
    struct fx *f = *state;
    struct certo_bundle *b = bundle("leaf-ec256.crt", "leaf-ec256.key", "chain.pem");
    char *path = copy_fixture(f, "keytool.p12", "store.p12");
    struct certo_plan p = {0};
    struct certo_err err = {0};
    struct ep ep;

    ep_open(&ep, "p12", path, f->pass, NULL, NULL, NULL);
    assert_int_equal(plan_of(&p, &ep, f, b, "www", &err), CERTO_OK);
    apply(f, &p);
    assert_int_equal(ep.ops->verify(ep.ctx, f->t, &p, &err), CERTO_OK);
    /* Someone put the old keystore back. */
    certo_free(copy_fixture(f, "keytool.p12", "store.p12"));
    assert_int_equal(ep.ops->verify(ep.ctx, f->t, &p, &err), CERTO_ECONFLICT);
    assert_non_null(strstr(err.msg, path));
    /* Or something that is not a keystore at all. */
    certo_err_clear(&err);
    write_file(path, "garbage", 7, 0600);
    assert_int_equal(ep.ops->verify(ep.ctx, f->t, &p, &err), CERTO_ECONFLICT);
    assert_non_null(strstr(err.msg, path));
    certo_plan_dispose(&p);
    ep_close(&ep);
    certo_bundle_free(b);
    certo_free(path);
}

/* ---- scripts ---- */

static void
test_connector_keystore__activate_runs_script(void **state)
{
    struct fx *f = *state;
    struct certo_bundle *b = bundle("leaf-ec256.crt", "leaf-ec256.key", "chain.pem");
    char *path = copy_fixture(f, "keytool.p12", "store.p12");
    char *out = path_in(f, "script.out");
    char *body = certo_asprintf("printf 'arg=%%s\\n' \"$1\" > '%s'\nenv >> '%s'\necho hello\n"
                                "echo oops >&2",
                                out, out);
    char *script = write_script(f, "install.sh", body);
    char *want;
    struct certo_plan p = {0};
    struct certo_err err = {0};
    struct certo_buf log, got;
    struct ep ep;

    certo_buf_init(&log, 1u << 20);
    ep_open(&ep, "p12", path, f->pass, script, NULL, NULL);
    assert_int_equal(plan_of(&p, &ep, f, b, NULL, &err), CERTO_OK);
    assert_int_equal(ep.ops->activate(ep.ctx, f->t, &p, &log, &err), CERTO_OK);
    t_read_file(&got, out);
    assert_true(strncmp((const char *)got.data, "arg=ec256.example.test\n", 23) == 0);
    assert_non_null(strstr((const char *)got.data, "CERTO_ALIAS=ec256.example.test\n"));
    want = certo_asprintf("CERTO_KEYSTORE=%s\n", path);
    assert_non_null(strstr((const char *)got.data, want));
    assert_non_null(strstr((const char *)got.data, "LANG=C\n"));
    assert_non_null(strstr((const char *)got.data, "PATH=/usr/local/sbin:"));
    assert_null(strstr((const char *)got.data, "HOME="));
    assert_null(strstr((const char *)got.data, "CERTO_FIXTURES"));
    certo_free(want);
    want = certo_asprintf("$ %s ec256.example.test\n", script);
    assert_true(strncmp((const char *)log.data, want, strlen(want)) == 0);
    assert_non_null(strstr((const char *)log.data, "hello\noops\nexit 0\n"));
    certo_free(want);
    certo_buf_dispose(&got);
    certo_buf_dispose(&log);
    certo_plan_dispose(&p);
    ep_close(&ep);

    /* No install script: nothing to do. */
    ep_open(&ep, "p12", path, f->pass, NULL, NULL, NULL);
    assert_int_equal(plan_of(&p, &ep, f, b, NULL, &err), CERTO_OK);
    assert_int_equal(ep.ops->activate(ep.ctx, f->t, &p, &log, &err), CERTO_OK);
    certo_plan_dispose(&p);
    ep_close(&ep);

    certo_free(script);
    certo_free(body);
    certo_free(out);
    certo_bundle_free(b);
    certo_free(path);
}

static void
test_connector_keystore__script_failures(void **state)
{
    struct fx *f = *state;
    struct certo_bundle *b = bundle("leaf-ec256.crt", "leaf-ec256.key", "chain.pem");
    char *path = copy_fixture(f, "keytool.p12", "store.p12");
    char *fails = write_script(f, "fails.sh", "echo failing; exit 3");
    char *sleeps = write_script(f, "sleeps.sh", "sleep 10");
    char *missing = path_in(f, "nope.sh");
    struct certo_plan p = {0};
    struct certo_err err = {0};
    struct certo_buf log;
    struct ep ep;

    certo_buf_init(&log, 1u << 20);
    ep_open(&ep, "p12", path, f->pass, fails, NULL, NULL);
    assert_int_equal(plan_of(&p, &ep, f, b, NULL, &err), CERTO_OK);
    assert_int_equal(ep.ops->activate(ep.ctx, f->t, &p, &log, &err), CERTO_EREMOTE);
    assert_non_null(strstr((const char *)log.data, "failing\nexit 3\n"));
    assert_non_null(strstr(err.msg, "exited with status 3"));
    assert_non_null(strstr(err.msg, fails));
    certo_plan_dispose(&p);
    ep_close(&ep);

    certo_err_clear(&err);
    certo_buf_reset(&log);
    ep_open(&ep, "p12", path, f->pass, sleeps, NULL, NULL);
    ep.cfg.script_timeout_ms = 300;
    assert_int_equal(plan_of(&p, &ep, f, b, NULL, &err), CERTO_OK);
    assert_int_equal(ep.ops->activate(ep.ctx, f->t, &p, &log, &err), CERTO_ETIMEDOUT);
    assert_non_null(strstr((const char *)log.data, "timed out after 0.3 s"));
    certo_plan_dispose(&p);
    ep_close(&ep);

    certo_err_clear(&err);
    certo_buf_reset(&log);
    ep_open(&ep, "p12", path, f->pass, missing, NULL, NULL);
    assert_int_equal(plan_of(&p, &ep, f, b, NULL, &err), CERTO_OK);
    assert_int_equal(ep.ops->activate(ep.ctx, f->t, &p, &log, &err), CERTO_ENOTFOUND);
    assert_non_null(strstr(err.msg, "install script"));
    assert_non_null(strstr(err.msg, "cannot run install script"));
    certo_plan_dispose(&p);
    ep_close(&ep);

    /* A relative script path is refused before anything runs. */
    certo_err_clear(&err);
    assert_int_equal(certo_connector_run_script(f->t, &ep.cfg, "fails.sh", NULL, NULL, &log, &err),
                     CERTO_EINVAL);

    certo_buf_dispose(&log);
    certo_free(missing);
    certo_free(sleeps);
    certo_free(fails);
    certo_bundle_free(b);
    certo_free(path);
}

static void
test_connector_keystore__restart(void **state)
{
    struct fx *f = *state;
    char *path = copy_fixture(f, "keytool.jks", "store.jks");
    char *script = write_script(f, "restart.sh", "echo \"args=$#\"");
    struct certo_err err = {0};
    struct certo_buf log;
    struct ep ep;

    certo_buf_init(&log, 1u << 20);
    ep_open(&ep, "jks", path, f->pass, NULL, NULL, NULL);
    assert_int_equal(ep.ops->restart(ep.ctx, f->t, &log, &err), CERTO_EUNSUPPORTED);
    assert_string_equal(err.msg, "endpoint ep1 has no restart script");
    ep_close(&ep);

    certo_err_clear(&err);
    ep_open(&ep, "jks", path, f->pass, NULL, script, NULL);
    assert_int_equal(ep.ops->restart(ep.ctx, f->t, &log, &err), CERTO_OK);
    assert_non_null(strstr((const char *)log.data, "args=0\nexit 0\n"));
    ep_close(&ep);

    certo_buf_dispose(&log);
    certo_free(script);
    certo_free(path);
}

/* ---- check ---- */

static void
test_connector_keystore__check(void **state)
{
    struct fx *f = *state;
    char *path = copy_fixture(f, "keytool.p12", "store.p12");
    char *restart = write_script(f, "restart.sh", "exit 0");
    char *missing = path_in(f, "nope.sh");
    struct certo_secret *wrong = t_secret("nope");
    struct certo_err err = {0};
    struct certo_buf report;
    char *want;
    struct ep ep;

    certo_buf_init(&report, 1u << 20);
    ep_open(&ep, "p12", path, f->pass, NULL, restart, NULL);
    assert_int_equal(ep.ops->check(ep.ctx, f->t, &report, &err), CERTO_OK);
    want = certo_asprintf("ok: %s readable and writable\n", path);
    assert_non_null(strstr((const char *)report.data, want));
    certo_free(want);
    assert_non_null(strstr((const char *)report.data,
                           "ok: keystore opens with the store password (3 entries)\n"));
    ep_close(&ep);

    certo_buf_reset(&report);
    ep_open(&ep, "p12", path, f->pass, missing, restart, NULL);
    assert_int_equal(ep.ops->check(ep.ctx, f->t, &report, &err), CERTO_ENOTFOUND);
    want = certo_asprintf("missing: install script %s (No such file or directory)\n", missing);
    assert_non_null(strstr((const char *)report.data, want));
    certo_free(want);
    assert_non_null(strstr(err.msg, missing));
    ep_close(&ep);

    /* Not executable. */
    certo_err_clear(&err);
    certo_buf_reset(&report);
    assert_int_equal(chmod(restart, 0644), 0);
    ep_open(&ep, "p12", path, f->pass, NULL, restart, NULL);
    assert_int_equal(ep.ops->check(ep.ctx, f->t, &report, &err), CERTO_EPERM);
    want = certo_asprintf("not executable: restart script %s\n", restart);
    assert_non_null(strstr((const char *)report.data, want));
    certo_free(want);
    ep_close(&ep);

    /* Wrong store password. */
    certo_err_clear(&err);
    certo_buf_reset(&report);
    ep_open(&ep, "p12", path, wrong, NULL, NULL, NULL);
    assert_int_equal(ep.ops->check(ep.ctx, f->t, &report, &err), CERTO_EAUTH);
    assert_non_null(strstr(err.msg, "does not open"));
    ep_close(&ep);

    /* A PEM file without a key: the report names the key file it will create. */
    certo_err_clear(&err);
    certo_buf_reset(&report);
    {
        char *pem = copy_fixture(f, "leaf-ec256.crt", "site.crt");
        ep_open(&ep, "pem", pem, NULL, NULL, NULL, NULL);
        assert_int_equal(ep.ops->check(ep.ctx, f->t, &report, &err), CERTO_OK);
        want = certo_asprintf("ok: key file %s/site.key will be created (mode 0600)\n", f->dir);
        assert_non_null(strstr((const char *)report.data, want));
        certo_free(want);
        ep_close(&ep);
        certo_free(pem);
    }

    certo_buf_dispose(&report);
    certo_secret_free(wrong);
    certo_free(missing);
    certo_free(restart);
    certo_free(path);
}

#define T(name) cmocka_unit_test_setup_teardown(test_connector_keystore__##name, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connector_keystore__registry),
        cmocka_unit_test(test_connector_keystore__configure_errors),
        T(p12_add_then_replace),
        T(p12_replace_keeps_two_others),
        T(jks_alias_lower_case),
        T(p12_profile),
        T(plan_errors),
        T(pem_rule_a_key_first),
        T(pem_rule_a_key_last_and_note),
        T(pem_rule_b_new_key_file),
        T(pem_rule_b_siblings),
        T(verify_conflict),
        T(activate_runs_script),
        T(script_failures),
        T(restart),
        T(check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
