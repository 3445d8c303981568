/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `certo cert keygen|csr|selfsign|sign|inspect|convert` (cli layer): the openssl
 * replacement for everyday PKI work. Each command reads its inputs completely, does the
 * work in memory and writes its one output atomically, so a failure never leaves a
 * partial file. Errors are one line naming the option or file at fault; secrets are
 * never printed. Private keys are written 0600, public material 0644.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "cli/cli.h"

#define WHERE "cli"

#define OUT_OPT                                                                                    \
    {                                                                                              \
        "out", 'o', CLI_VALUE, "FILE", "output file, '-' for standard output (required)"           \
    }
#define END_OPT                                                                                    \
    {                                                                                              \
        NULL, 0, 0, NULL, NULL                                                                     \
    }

/* Mode of a new output file: private keys are for the owner only. */
#define MODE_SECRET 0600
#define MODE_PUBLIC 0644

/* ---- shared helpers ---- */

/*
 * Records 'inner' (a library error) in 'err' with the context only the CLI knows, the
 * option and file: "--key k.pem: wrong password for the private key".
 */
static certo_rc
wrap(struct certo_err *err, const struct certo_err *inner, certo_rc rc, const char *what)
{
    if (inner->rc != CERTO_OK && inner->msg[0] != '\0')
        return certo_err_set(err, rc, WHERE, "%s: %s", what, inner->msg);
    return certo_err_set(err, rc, WHERE, "%s: failed (%s)", what, certo_rc_name(rc));
}

/* Wipes a buffer that held key material, then releases it. */
static void
buf_wipe(struct certo_buf *b)
{
    if (b->data != NULL)
        OPENSSL_cleanse(b->data, b->cap);
    certo_buf_dispose(b);
}

static bool
has_text(const struct certo_buf *b, const char *s)
{
    return b->data != NULL && memmem(b->data, b->len, s, strlen(s)) != NULL;
}

/* Where the "wrote ..." line goes: not into the data when the data goes to stdout. */
static FILE *
note_stream(const char *out)
{
    return strcmp(out, "-") == 0 ? stderr : stdout;
}

static void
format_time(char out[32], time_t t)
{
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(out, 32, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        snprintf(out, 32, "%lld", (long long)t);
}

/*
 * Reads a private key from 'path' given as option '--opt'. Its password comes from
 * --'pass_opt' (and -file, -env); when the key turns out to be encrypted and none was
 * given, a terminal is asked. EAUTH messages name the password options to use.
 */
static certo_rc
load_key(EVP_PKEY **out, const struct cli_args *a, const char *path, const char *opt,
         const char *pass_opt, struct certo_err *err)
{
    struct certo_buf b;
    struct certo_secret *pass = NULL;
    struct certo_err e = {0};
    char what[512];
    certo_rc rc;

    *out = NULL;
    snprintf(what, sizeof(what), "--%s %s", opt, path);
    rc = cli_read_file(&b, path, CERTO_PEM_MAX, what, err);
    if (rc != CERTO_OK)
        goto out;
    rc = cli_secret(&pass, a, pass_opt, NULL, false, err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_key_parse(out, b.data, b.len, pass, &e);
    if (rc == CERTO_EAUTH && pass == NULL && isatty(STDIN_FILENO)) {
        char prompt[600];
        snprintf(prompt, sizeof(prompt), "Password for %s: ", path);
        rc = cli_secret(&pass, a, pass_opt, prompt, false, err);
        if (rc != CERTO_OK)
            goto out;
        certo_err_clear(&e);
        rc = pass != NULL ? certo_key_parse(out, b.data, b.len, pass, &e) : CERTO_EAUTH;
    }
    if (rc == CERTO_EAUTH && pass == NULL) {
        rc = certo_err_set(err, rc, WHERE,
                           "%s: the private key is encrypted: give --%s, --%s-file "
                           "or --%s-env",
                           what, pass_opt, pass_opt, pass_opt);
        goto out;
    }
    if (rc != CERTO_OK)
        rc = wrap(err, &e, rc, what);
out:
    certo_secret_free(pass);
    buf_wipe(&b);
    return rc;
}

/* Reads every certificate of 'path' (option '--opt'). */
static certo_rc
load_certs(STACK_OF(X509) * *out, const char *path, const char *opt, struct certo_err *err)
{
    struct certo_buf b;
    struct certo_err e = {0};
    char what[512];
    certo_rc rc;

    *out = NULL;
    snprintf(what, sizeof(what), "--%s %s", opt, path);
    rc = cli_read_file(&b, path, CERTO_PEM_MAX, what, err);
    if (rc == CERTO_OK) {
        rc = certo_cert_parse_all(out, b.data, b.len, &e);
        if (rc != CERTO_OK)
            rc = wrap(err, &e, rc, what);
    }
    certo_buf_dispose(&b);
    return rc;
}

/* The output path, required by every command that writes. */
static const char *
out_path(const struct cli_args *a)
{
    return cli_get(a, "out");
}

/*
 * Subject and SAN errors of the library begin with "subject" or "SAN": name the option
 * the user typed them in.
 */
static certo_rc
names_error(struct certo_err *err, const struct certo_err *inner, certo_rc rc)
{
    bool san = strncmp(inner->msg, "SAN", 3) == 0;
    if (rc != CERTO_EINVAL && rc != CERTO_ETOOBIG)
        return wrap(err, inner, rc, "cannot issue");
    return wrap(err, inner, rc, san ? "--san" : "--subject");
}

static void
names_from_args(struct certo_names *n, const struct cli_args *a)
{
    n->subject = cli_get(a, "subject");
    n->sans = cli_get_multi(a, "san", &n->n_sans);
}

/* --days, --ca and --path-len into sign options. */
static certo_rc
sign_opts_from_args(struct certo_sign_opts *o, const struct cli_args *a, struct certo_err *err)
{
    certo_rc rc;

    o->is_ca = cli_has(a, "ca");
    rc = cli_int(&o->days, a, "days", 365, 1, CERTO_VALIDITY_DAYS_MAX, err);
    if (rc == CERTO_OK)
        rc = cli_int(&o->path_len, a, "path-len", -1, 0, 64, err);
    if (rc == CERTO_OK && o->path_len >= 0 && !o->is_ca)
        rc = certo_err_set(err, CERTO_EINVAL, WHERE, "--path-len needs --ca");
    return rc;
}

/* ---- keygen ---- */

static const struct cli_opt keygen_opts[] = {
    {"type", 't', CLI_VALUE, "SPEC",
     "rsa, rsa:2048, rsa:3072, rsa:4096, ec, ec:p256, ec:p384, p256, p384, ed25519 "
     "(default ec = P-256)"},
    OUT_OPT,
    CLI_SECRET_OPTS("password", "encrypt the key with this password"),
    END_OPT,
};

static int
run_keygen(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0}, e = {0};
    struct certo_key_spec spec;
    struct certo_secret *pass = NULL;
    struct certo_buf pem;
    EVP_PKEY *key = NULL;
    const char *out = out_path(a);
    const char *type = cli_get(a, "type") != NULL ? cli_get(a, "type") : "ec";
    certo_rc rc;

    certo_buf_init(&pem, CERTO_PEM_MAX);
    if (out == NULL)
        return cli_usage_error(cmd, "missing --out FILE");
    rc = certo_key_spec_parse(&spec, type, &e);
    if (rc != CERTO_OK) {
        rc = wrap(&err, &e, rc, "--type");
        goto out;
    }
    rc = cli_secret(&pass, a, "password", NULL, false, &err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_key_generate(&key, &spec, &err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_key_to_pem(&pem, key, pass, &err);
    if (rc != CERTO_OK)
        goto out;
    rc = cli_write_file(out, pem.data, pem.len, MODE_SECRET, &err);
    if (rc != CERTO_OK)
        goto out;
    fprintf(note_stream(out), "wrote %s %d-bit%s%s private key to %s (%s)\n",
            certo_key_alg_name(key), certo_key_bits(key), certo_key_curve(key) != NULL ? " " : "",
            certo_key_curve(key) != NULL ? certo_key_curve(key) : "", out,
            pass != NULL ? "encrypted, PKCS#8 AES-256-CBC" : "unencrypted PKCS#8");
out:
    buf_wipe(&pem);
    EVP_PKEY_free(key);
    certo_secret_free(pass);
    return rc == CERTO_OK ? 0 : cli_fail(cmd, rc, &err);
}

/* ---- csr ---- */

static const struct cli_opt csr_opts[] = {
    {"key", 'k', CLI_VALUE, "FILE", "private key of the request (required)"},
    CLI_SECRET_OPTS("key-password", "password of an encrypted --key"),
    {"subject", 's', CLI_VALUE, "DN", "subject: \"CN=host,O=Org,C=DE\" or \"/CN=host/O=Org\""},
    {"san", 0, CLI_MULTI, "NAME",
     "subjectAltName, repeatable: DNS:name, IP:addr, email:addr, URI:uri, or a bare name"},
    OUT_OPT,
    END_OPT,
};

static int
run_csr(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0}, e = {0};
    struct certo_names names = {0};
    struct certo_buf pem;
    EVP_PKEY *key = NULL;
    X509_REQ *req = NULL;
    const char *out = out_path(a);
    certo_rc rc;

    certo_buf_init(&pem, CERTO_PEM_MAX);
    if (out == NULL)
        return cli_usage_error(cmd, "missing --out FILE");
    if (cli_get(a, "key") == NULL)
        return cli_usage_error(cmd, "missing --key FILE");
    names_from_args(&names, a);
    rc = load_key(&key, a, cli_get(a, "key"), "key", "key-password", &err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_csr_new(&req, key, &names, &e);
    if (rc != CERTO_OK) {
        rc = names_error(&err, &e, rc);
        goto out;
    }
    rc = certo_csr_to_pem(&pem, req, &err);
    if (rc == CERTO_OK)
        rc = cli_write_file(out, pem.data, pem.len, MODE_PUBLIC, &err);
    if (rc != CERTO_OK)
        goto out;
    fprintf(note_stream(out), "wrote certificate request (%zu SAN%s) to %s\n", names.n_sans,
            names.n_sans == 1 ? "" : "s", out);
out:
    certo_buf_dispose(&pem);
    X509_REQ_free(req);
    EVP_PKEY_free(key);
    return rc == CERTO_OK ? 0 : cli_fail(cmd, rc, &err);
}

/* Writes one certificate (plus 'extra' certificates after it) as PEM and reports it. */
static certo_rc
write_cert(const char *out, X509 *cert, STACK_OF(X509) * extra, const char *what,
           struct certo_err *err)
{
    struct certo_buf pem;
    struct certo_cert_info info;
    char until[32];
    certo_rc rc;

    certo_buf_init(&pem, CERTO_PEM_MAX);
    rc = certo_cert_to_pem(&pem, cert, err);
    for (int i = 0; rc == CERTO_OK && i < sk_X509_num(extra); i++)
        rc = certo_cert_to_pem(&pem, sk_X509_value(extra, i), err);
    if (rc == CERTO_OK)
        rc = cli_write_file(out, pem.data, pem.len, MODE_PUBLIC, err);
    if (rc == CERTO_OK && certo_cert_info_get(&info, cert, NULL) == CERTO_OK) {
        format_time(until, info.not_after);
        fprintf(note_stream(out), "wrote %s for \"%s\" to %s (valid until %s)\n", what,
                info.subject, out, until);
        certo_cert_info_dispose(&info);
    }
    certo_buf_dispose(&pem);
    return rc;
}

/* ---- selfsign ---- */

static const struct cli_opt selfsign_opts[] = {
    {"key", 'k', CLI_VALUE, "FILE", "private key of the certificate (required)"},
    CLI_SECRET_OPTS("key-password", "password of an encrypted --key"),
    {"subject", 's', CLI_VALUE, "DN", "subject: \"CN=host,O=Org,C=DE\" or \"/CN=host/O=Org\""},
    {"san", 0, CLI_MULTI, "NAME",
     "subjectAltName, repeatable: DNS:name, IP:addr, email:addr, URI:uri, or a bare name"},
    {"days", 0, CLI_VALUE, "N", "validity in days (default 365)"},
    {"ca", 0, CLI_FLAG, NULL, "make a CA certificate (CA:TRUE, keyCertSign, cRLSign)"},
    {"path-len", 0, CLI_VALUE, "N", "with --ca: path length constraint"},
    OUT_OPT,
    END_OPT,
};

static int
run_selfsign(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0}, e = {0};
    struct certo_names names = {0};
    struct certo_sign_opts opts = {0};
    EVP_PKEY *key = NULL;
    STACK_OF(X509) *one = sk_X509_new_null();
    X509 *x = NULL;
    const char *out = out_path(a);
    certo_rc rc;

    if (one == NULL)
        abort();
    if (out == NULL || cli_get(a, "key") == NULL) {
        certo_certs_free(one);
        return cli_usage_error(cmd, out == NULL ? "missing --out FILE" : "missing --key FILE");
    }
    names_from_args(&names, a);
    rc = sign_opts_from_args(&opts, a, &err);
    if (rc != CERTO_OK)
        goto out;
    rc = load_key(&key, a, cli_get(a, "key"), "key", "key-password", &err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_cert_selfsign(&x, key, &names, &opts, &e);
    if (rc != CERTO_OK) {
        rc = names_error(&err, &e, rc);
        goto out;
    }
    if (sk_X509_push(one, x) <= 0)
        abort();
    rc = write_cert(out, x, NULL,
                    opts.is_ca ? "self-signed CA certificate" : "self-signed certificate", &err);
out:
    certo_certs_free(one);
    EVP_PKEY_free(key);
    return rc == CERTO_OK ? 0 : cli_fail(cmd, rc, &err);
}

/* ---- sign ---- */

static const struct cli_opt sign_opts[] = {
    {"csr", 0, CLI_VALUE, "FILE", "certificate request to sign (required)"},
    {"ca-cert", 0, CLI_VALUE, "FILE", "CA certificate (may hold its chain) (required)"},
    {"ca-key", 0, CLI_VALUE, "FILE", "CA private key (required)"},
    CLI_SECRET_OPTS("ca-key-password", "password of an encrypted --ca-key"),
    {"days", 0, CLI_VALUE, "N", "validity in days (default 365; never beyond the CA's)"},
    {"ca", 0, CLI_FLAG, NULL, "issue a CA certificate"},
    {"path-len", 0, CLI_VALUE, "N", "with --ca: path length constraint"},
    {"fullchain", 0, CLI_FLAG, NULL, "append the certificates of --ca-cert to the output"},
    OUT_OPT,
    END_OPT,
};

static int
run_sign(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0}, e = {0};
    struct certo_sign_opts opts = {0};
    struct certo_buf b;
    X509_REQ *req = NULL;
    STACK_OF(X509) *ca = NULL;
    STACK_OF(X509) *one = sk_X509_new_null();
    EVP_PKEY *ca_key = NULL;
    X509 *ca_cert = NULL, *x = NULL;
    const char *out = out_path(a);
    const char *missing = out == NULL                     ? "--out"
                          : cli_get(a, "csr") == NULL     ? "--csr"
                          : cli_get(a, "ca-cert") == NULL ? "--ca-cert"
                          : cli_get(a, "ca-key") == NULL  ? "--ca-key"
                                                          : NULL;
    char what[512];
    certo_rc rc;

    certo_buf_init(&b, CERTO_PEM_MAX);
    if (one == NULL)
        abort();
    if (missing != NULL) {
        certo_certs_free(one);
        return cli_usage_error(cmd, "missing %s FILE", missing);
    }
    rc = sign_opts_from_args(&opts, a, &err);
    if (rc != CERTO_OK)
        goto out;
    snprintf(what, sizeof(what), "--csr %s", cli_get(a, "csr"));
    rc = cli_read_file(&b, cli_get(a, "csr"), CERTO_PEM_MAX, what, &err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_csr_parse(&req, b.data, b.len, &e);
    if (rc != CERTO_OK) {
        rc = wrap(&err, &e, rc, what);
        goto out;
    }
    rc = load_certs(&ca, cli_get(a, "ca-cert"), "ca-cert", &err);
    if (rc != CERTO_OK)
        goto out;
    rc = load_key(&ca_key, a, cli_get(a, "ca-key"), "ca-key", "ca-key-password", &err);
    if (rc != CERTO_OK)
        goto out;
    /* --ca-cert may be a chain file: the CA is the certificate of --ca-key. */
    ca_cert = sk_X509_value(ca, 0);
    for (int i = 0; i < sk_X509_num(ca); i++) {
        if (certo_cert_matches_key(sk_X509_value(ca, i), ca_key)) {
            ca_cert = sk_X509_value(ca, i);
            break;
        }
    }
    certo_err_clear(&e);
    rc = certo_csr_sign(&x, req, ca_cert, ca_key, &opts, &e);
    if (rc != CERTO_OK) {
        rc = wrap(&err, &e, rc, rc == CERTO_EAUTH ? what : "cannot sign");
        goto out;
    }
    if (sk_X509_push(one, x) <= 0)
        abort();
    rc = write_cert(out, x, cli_has(a, "fullchain") ? ca : NULL,
                    opts.is_ca ? "CA certificate" : "certificate", &err);
out:
    certo_buf_dispose(&b);
    certo_certs_free(one);
    certo_certs_free(ca);
    X509_REQ_free(req);
    EVP_PKEY_free(ca_key);
    return rc == CERTO_OK ? 0 : cli_fail(cmd, rc, &err);
}

/* ---- reading anything: inspect and convert ---- */

/* What one input file held. Everything owned. */
struct material {
    STACK_OF(X509) * certs;    /* certificates in file order; NULL if none */
    EVP_PKEY *key;             /* the private key; NULL if none */
    X509_REQ *req;             /* a CSR; NULL if none */
    struct certo_keystore *ks; /* a PKCS#12 or JKS keystore instead of the above */
};

static void
material_dispose(struct material *m)
{
    certo_certs_free(m->certs);
    EVP_PKEY_free(m->key);
    X509_REQ_free(m->req);
    certo_keystore_free(m->ks);
    memset(m, 0, sizeof(*m));
}

/* Asks a terminal for the password of 'path' when none was given on the command line. */
static certo_rc
ask_pass(struct certo_secret **pass, const struct cli_args *a, const char *opt, const char *path,
         struct certo_err *err)
{
    char prompt[600];
    if (*pass != NULL || !isatty(STDIN_FILENO))
        return CERTO_OK;
    snprintf(prompt, sizeof(prompt), "Password for %s: ", path);
    return cli_secret(pass, a, opt, prompt, false, err);
}

static certo_rc
read_keystore(struct material *m, const struct certo_buf *b, enum certo_ks_format fmt,
              struct certo_secret **pass, const struct cli_args *a, const char *path,
              struct certo_err *err)
{
    struct certo_err e = {0};
    certo_rc rc = ask_pass(pass, a, "password", path, err);
    if (rc != CERTO_OK)
        return rc;
    rc = certo_keystore_parse(&m->ks, fmt, b->data, b->len, *pass, &e);
    if (rc == CERTO_EAUTH && *pass == NULL)
        return certo_err_set(err, rc, WHERE,
                             "%s: a password is needed: give --password, "
                             "--password-file or --password-env",
                             path);
    if (rc != CERTO_OK)
        return wrap(err, &e, rc, path);
    return CERTO_OK;
}

/* A private key of 'b'; EPARSE from the library means there is none. */
static certo_rc
read_key(struct material *m, const struct certo_buf *b, struct certo_secret **pass,
         const struct cli_args *a, const char *path, struct certo_err *err)
{
    struct certo_err e = {0};
    certo_rc rc = certo_key_parse(&m->key, b->data, b->len, *pass, &e);
    if (rc == CERTO_EAUTH && *pass == NULL && isatty(STDIN_FILENO)) {
        rc = ask_pass(pass, a, "password", path, err);
        if (rc != CERTO_OK)
            return rc;
        certo_err_clear(&e);
        rc = certo_key_parse(&m->key, b->data, b->len, *pass, &e);
    }
    if (rc == CERTO_EAUTH && *pass == NULL)
        return certo_err_set(err, rc, WHERE,
                             "%s: the private key is encrypted: give "
                             "--password, --password-file or --password-env",
                             path);
    if (rc != CERTO_OK)
        return wrap(err, &e, rc, path);
    return CERTO_OK;
}

/*
 * Reads whatever 'path' holds. PEM is sorted by its block names. DER is tried as a
 * certificate, a CSR, a private key, then a keystore: certo_keystore_detect calls every
 * DER SEQUENCE PKCS#12, so the cheap single-object readers go first.
 */
static certo_rc
read_material(struct material *m, const char *path, struct certo_secret **pass,
              const struct cli_args *a, struct certo_err *err)
{
    struct certo_buf b;
    struct certo_err e = {0};
    enum certo_ks_format fmt;
    certo_rc rc;

    memset(m, 0, sizeof(*m));
    rc = cli_read_file(&b, path, CERTO_KEYSTORE_MAX, "input", err);
    if (rc != CERTO_OK)
        goto out;
    fmt = certo_keystore_detect(b.data, b.len);
    if (fmt == CERTO_KS_JKS) {
        rc = read_keystore(m, &b, fmt, pass, a, path, err);
        goto out;
    }
    if (fmt == CERTO_KS_PEM && b.len > 0 && b.data[0] != 0x30) {
        bool any = false;
        if (has_text(&b, "CERTIFICATE-----") &&
            (has_text(&b, "-----BEGIN CERTIFICATE-----") ||
             has_text(&b, "-----BEGIN TRUSTED CERTIFICATE-----") ||
             has_text(&b, "-----BEGIN X509 CERTIFICATE-----"))) {
            any = true;
            rc = certo_cert_parse_all(&m->certs, b.data, b.len, &e);
            if (rc != CERTO_OK) {
                rc = wrap(err, &e, rc, path);
                goto out;
            }
        }
        if (has_text(&b, "PRIVATE KEY-----")) {
            any = true;
            rc = read_key(m, &b, pass, a, path, err);
            if (rc != CERTO_OK)
                goto out;
        }
        if (has_text(&b, "CERTIFICATE REQUEST-----")) {
            any = true;
            rc = certo_csr_parse(&m->req, b.data, b.len, &e);
            if (rc != CERTO_OK) {
                rc = wrap(err, &e, rc, path);
                goto out;
            }
        }
        if (!any)
            rc = certo_err_set(err, CERTO_EPARSE, WHERE,
                               "%s: no certificate, private key or CSR in this PEM file", path);
        goto out;
    }
    if (b.len <= CERTO_DER_MAX && certo_cert_parse_all(&m->certs, b.data, b.len, NULL) == CERTO_OK)
        goto out;
    rc = certo_csr_parse(&m->req, b.data, b.len, &e);
    if (rc != CERTO_EPARSE && rc != CERTO_ETOOBIG) {
        if (rc != CERTO_OK)
            rc = wrap(err, &e, rc, path);
        goto out;
    }
    certo_err_clear(&e);
    rc = certo_key_parse(&m->key, b.data, b.len, *pass, &e);
    if (rc != CERTO_EPARSE && rc != CERTO_ETOOBIG) {
        if (rc != CERTO_OK) {
            EVP_PKEY_free(m->key);
            m->key = NULL;
            rc = read_key(m, &b, pass, a, path, err);
        }
        goto out;
    }
    if (fmt == CERTO_KS_PKCS12) {
        rc = read_keystore(m, &b, fmt, pass, a, path, err);
        goto out;
    }
    rc = certo_err_set(err, CERTO_EPARSE, WHERE,
                       "%s: not a certificate, private key, CSR, PKCS#12 or JKS file", path);
out:
    buf_wipe(&b);
    if (rc != CERTO_OK)
        material_dispose(m);
    return rc;
}

/* ---- inspect ---- */

static const struct cli_opt inspect_opts[] = {
    CLI_SECRET_OPTS("password", "password of encrypted keys and keystores"),
    {"json", 0, CLI_FLAG, NULL, "print a JSON array"},
    END_OPT,
};

/* One thing to report. Pointers borrowed from the inputs' materials. */
struct item {
    const char *file;  /* argv */
    const char *alias; /* keystore entry, or NULL */
    X509 *cert;        /* certificate item, or NULL */
    EVP_PKEY *key;     /* key item, or NULL */
    X509_REQ *req;     /* CSR item, or NULL */
    int idx, n;        /* position among the certificates of its file or entry (1-based) */
};

struct report {
    struct item *items; /* owned array */
    size_t n;
    struct material *mats; /* owned array, one per file */
    size_t n_mats;
};

static void
add_item(struct report *r, const struct item *it)
{
    r->items = certo_reallocarray(r->items, r->n + 1, sizeof(*r->items));
    r->items[r->n++] = *it;
}

static void
add_certs(struct report *r, const char *file, const char *alias, STACK_OF(X509) * certs)
{
    for (int i = 0; i < sk_X509_num(certs); i++) {
        struct item it = {.file = file,
                          .alias = alias,
                          .cert = sk_X509_value(certs, i),
                          .idx = i + 1,
                          .n = sk_X509_num(certs)};
        add_item(r, &it);
    }
}

static void
collect(struct report *r, const char *file, struct material *m)
{
    if (m->ks != NULL) {
        for (size_t i = 0; i < m->ks->count; i++) {
            struct certo_ks_entry *en = &m->ks->entries[i];
            if (en->key != NULL) {
                struct item it = {.file = file, .alias = en->alias, .key = en->key};
                add_item(r, &it);
            }
            add_certs(r, file, en->alias, en->certs);
        }
        return;
    }
    if (m->key != NULL) {
        struct item it = {.file = file, .key = m->key};
        add_item(r, &it);
    }
    add_certs(r, file, NULL, m->certs);
    if (m->req != NULL) {
        struct item it = {.file = file, .req = m->req};
        add_item(r, &it);
    }
}

/* The certificate items whose public key is 'key'. */
static size_t
key_matches(const struct report *r, EVP_PKEY *key, const struct item **first)
{
    size_t n = 0;
    *first = NULL;
    for (size_t i = 0; i < r->n; i++) {
        if (r->items[i].cert != NULL && certo_cert_matches_key(r->items[i].cert, key)) {
            if (n++ == 0)
                *first = &r->items[i];
        }
    }
    return n;
}

static void
print_where(const struct item *it, const char *what)
{
    printf("%s", it->file);
    if (it->alias != NULL)
        printf(", entry \"%s\"", it->alias);
    printf(": %s", what);
    if (it->cert != NULL && it->n > 1)
        printf(" %d of %d", it->idx, it->n);
    printf("\n");
}

static void
print_key_desc(EVP_PKEY *key)
{
    printf("%s %d bits", certo_key_alg_name(key), certo_key_bits(key));
    if (certo_key_curve(key) != NULL)
        printf(" (%s)", certo_key_curve(key));
}

static certo_rc
print_cert(const struct item *it, time_t now, struct certo_err *err)
{
    struct certo_cert_info info;
    char nb[32], na[32];
    certo_rc rc = certo_cert_info_get(&info, it->cert, err);
    if (rc != CERTO_OK)
        return rc;
    format_time(nb, info.not_before);
    format_time(na, info.not_after);
    print_where(it, "certificate");
    printf("  Subject:      %s\n", info.subject);
    printf("  Issuer:       %s\n", info.issuer);
    printf("  Serial:       %s\n", info.serial);
    printf("  Not before:   %s%s\n", nb, now < info.not_before ? "  (not yet valid)" : "");
    if (now > info.not_after)
        printf("  Not after:    %s  (EXPIRED)\n", na);
    else
        printf("  Not after:    %s  (%lld days left)\n", na,
               (long long)((info.not_after - now) / 86400));
    printf("  Key:          ");
    print_key_desc(X509_get0_pubkey(it->cert));
    printf("\n  SHA-256:      %s\n", info.fingerprint);
    printf("  SANs:         ");
    for (size_t i = 0; i < info.n_sans; i++)
        printf("%s%s:%s", i > 0 ? ", " : "", info.sans[i].type, info.sans[i].value);
    printf("%s\n", info.n_sans == 0 ? "(none)" : "");
    printf("  CA:           %s\n", info.is_ca ? "yes" : "no");
    printf("  Self-signed:  %s\n", info.self_signed ? "yes" : "no");
    certo_cert_info_dispose(&info);
    return CERTO_OK;
}

static void
print_key(const struct report *r, const struct item *it)
{
    const struct item *m = NULL;
    size_t n = key_matches(r, it->key, &m);
    size_t certs = 0;
    for (size_t i = 0; i < r->n; i++)
        certs += r->items[i].cert != NULL;
    print_where(it, "private key");
    printf("  Key:          ");
    print_key_desc(it->key);
    printf("\n  Certificate:  ");
    if (n > 0) {
        printf("matches %s", m->file);
        if (m->alias != NULL)
            printf(", entry \"%s\"", m->alias);
        if (m->n > 1)
            printf(", certificate %d of %d", m->idx, m->n);
        printf("\n");
    } else {
        printf("%s\n", certs == 0 ? "none given to compare with"
                                  : "MATCHES NONE of the certificates given");
    }
}

/* A CSR's SANs, printed or as JSON, read from its extension request. */
static certo_rc
csr_sans(struct certo_buf *b, X509_REQ *req, bool json)
{
    STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
    GENERAL_NAMES *gens = NULL;
    certo_rc rc = CERTO_OK;
    int n = 0;

    for (int i = 0; gens == NULL && i < sk_X509_EXTENSION_num(exts); i++) {
        X509_EXTENSION *e = sk_X509_EXTENSION_value(exts, i);
        if (OBJ_obj2nid(X509_EXTENSION_get_object(e)) == NID_subject_alt_name)
            gens = X509V3_EXT_d2i(e);
    }
    ERR_clear_error();
    for (int i = 0; rc == CERTO_OK && i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(gens, i);
        char text[300];
        const char *type = "other";
        text[0] = '\0';
        if (gn->type == GEN_DNS || gn->type == GEN_EMAIL || gn->type == GEN_URI) {
            const ASN1_STRING *s = gn->d.ia5;
            int len = ASN1_STRING_length(s);
            type = gn->type == GEN_DNS ? "DNS" : gn->type == GEN_EMAIL ? "email" : "URI";
            snprintf(text, sizeof(text), "%.*s", len > 256 ? 256 : len,
                     (const char *)ASN1_STRING_get0_data(s));
        } else if (gn->type == GEN_IPADD) {
            int len = ASN1_STRING_length(gn->d.iPAddress);
            type = "IP";
            /* The length comes from the request: check it before inet_ntop reads 4 or 16
             * bytes. */
            if ((len != 4 && len != 16) ||
                inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(gn->d.iPAddress),
                          text, sizeof(text)) == NULL)
                snprintf(text, sizeof(text), "(malformed)");
        }
        /* Only printable ASCII reaches the terminal. */
        for (char *p = text; *p != '\0'; p++) {
            if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
                *p = '?';
        }
        if (json) {
            rc = certo_buf_printf(b, "%s{\"type\":\"%s\",\"value\":", n > 0 ? "," : "", type);
            if (rc == CERTO_OK)
                rc = cli_json_str(b, text);
            if (rc == CERTO_OK)
                rc = certo_buf_append_str(b, "}");
        } else {
            rc = certo_buf_printf(b, "%s%s:%s", n > 0 ? ", " : "", type, text);
        }
        n++;
    }
    GENERAL_NAMES_free(gens);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    return rc;
}

static certo_rc
print_csr(const struct item *it)
{
    struct certo_buf sans;
    char *subject = certo_cert_name_text(X509_REQ_get_subject_name(it->req));
    certo_rc rc;

    certo_buf_init(&sans, 1u << 20);
    rc = csr_sans(&sans, it->req, false);
    print_where(it, "certificate request");
    printf("  Subject:      %s\n", subject[0] != '\0' ? subject : "(empty)");
    printf("  Key:          ");
    print_key_desc(X509_REQ_get0_pubkey(it->req));
    printf("\n  SANs:         %s\n", sans.len > 0 ? (char *)sans.data : "(none)");
    printf("  Signature:    valid\n");
    certo_buf_dispose(&sans);
    certo_free(subject);
    return rc;
}

/* Appends the common JSON fields "kind", "file" and "alias" (no braces). */
static certo_rc
json_head(struct certo_buf *b, const struct item *it, const char *kind)
{
    certo_rc rc = certo_buf_printf(b, "\"kind\":\"%s\",\"file\":", kind);
    if (rc == CERTO_OK)
        rc = cli_json_str(b, it->file);
    if (rc == CERTO_OK)
        rc = certo_buf_append_str(b, ",\"alias\":");
    if (rc == CERTO_OK)
        rc = it->alias != NULL ? cli_json_str(b, it->alias) : certo_buf_append_str(b, "null");
    return rc;
}

static certo_rc
json_key(struct certo_buf *b, EVP_PKEY *key)
{
    certo_rc rc = certo_buf_printf(b, "\"key_type\":\"%s\",\"key_bits\":%d,\"curve\":",
                                   certo_key_alg_name(key), certo_key_bits(key));
    if (rc == CERTO_OK)
        rc = certo_key_curve(key) != NULL ? cli_json_str(b, certo_key_curve(key))
                                          : certo_buf_append_str(b, "null");
    return rc;
}

static certo_rc
json_item(struct certo_buf *b, const struct report *r, const struct item *it, time_t now,
          struct certo_err *err)
{
    certo_rc rc = CERTO_OK;

    if (it->cert != NULL) {
        struct certo_cert_info info;
        rc = certo_cert_info_get(&info, it->cert, err);
        if (rc != CERTO_OK)
            return rc;
        rc = certo_cert_info_to_json(b, &info);
        /* The report object ends in '}': extend it with where it came from and its state. */
        if (rc == CERTO_OK) {
            b->len--;
            rc = certo_buf_append_str(b, ",");
        }
        if (rc == CERTO_OK)
            rc = json_head(b, it, "certificate");
        if (rc == CERTO_OK)
            rc = certo_buf_printf(b, ",\"expired\":%s,\"not_yet_valid\":%s}",
                                  now > info.not_after ? "true" : "false",
                                  now < info.not_before ? "true" : "false");
        certo_cert_info_dispose(&info);
    } else if (it->key != NULL) {
        const struct item *m = NULL;
        size_t n = key_matches(r, it->key, &m);
        rc = certo_buf_append_str(b, "{");
        if (rc == CERTO_OK)
            rc = json_head(b, it, "private_key");
        if (rc == CERTO_OK)
            rc = certo_buf_append_str(b, ",");
        if (rc == CERTO_OK)
            rc = json_key(b, it->key);
        if (rc == CERTO_OK)
            rc = certo_buf_printf(b, ",\"matches_certificate\":%s}", n > 0 ? "true" : "false");
    } else {
        char *subject = certo_cert_name_text(X509_REQ_get_subject_name(it->req));
        rc = certo_buf_append_str(b, "{");
        if (rc == CERTO_OK)
            rc = json_head(b, it, "csr");
        if (rc == CERTO_OK)
            rc = certo_buf_append_str(b, ",\"subject\":");
        if (rc == CERTO_OK)
            rc = cli_json_str(b, subject);
        if (rc == CERTO_OK)
            rc = certo_buf_append_str(b, ",");
        if (rc == CERTO_OK)
            rc = json_key(b, X509_REQ_get0_pubkey(it->req));
        if (rc == CERTO_OK)
            rc = certo_buf_append_str(b, ",\"signature_valid\":true,\"sans\":[");
        if (rc == CERTO_OK)
            rc = csr_sans(b, it->req, true);
        if (rc == CERTO_OK)
            rc = certo_buf_append_str(b, "]}");
        certo_free(subject);
    }
    return rc;
}

static int
run_inspect(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0};
    struct certo_secret *pass = NULL;
    struct report r = {0};
    struct certo_buf json;
    time_t now = certo_clock_now();
    certo_rc rc;

    certo_buf_init(&json, 64u * 1024 * 1024);
    rc = cli_secret(&pass, a, "password", NULL, false, &err);
    if (rc != CERTO_OK)
        goto out;
    r.mats = certo_calloc(a->n_pos, sizeof(*r.mats));
    for (size_t i = 0; i < a->n_pos; i++) {
        rc = read_material(&r.mats[i], a->pos[i], &pass, a, &err);
        if (rc != CERTO_OK)
            goto out;
        r.n_mats++;
        collect(&r, a->pos[i], &r.mats[i]);
    }
    if (cli_has(a, "json")) {
        rc = certo_buf_append_str(&json, "[");
        for (size_t i = 0; rc == CERTO_OK && i < r.n; i++) {
            if (i > 0)
                rc = certo_buf_append_str(&json, ",\n");
            if (rc == CERTO_OK)
                rc = json_item(&json, &r, &r.items[i], now, &err);
        }
        if (rc == CERTO_OK)
            rc = certo_buf_append_str(&json, "]\n");
        if (rc != CERTO_OK) {
            rc = certo_err_set(&err, rc, WHERE, "cannot build the JSON report");
            goto out;
        }
        fwrite(json.data, 1, json.len, stdout);
        goto out;
    }
    for (size_t i = 0; rc == CERTO_OK && i < r.n; i++) {
        if (i > 0)
            printf("\n");
        if (r.items[i].cert != NULL)
            rc = print_cert(&r.items[i], now, &err);
        else if (r.items[i].key != NULL)
            print_key(&r, &r.items[i]);
        else
            rc = print_csr(&r.items[i]);
    }
out:
    if (fflush(stdout) != 0 && rc == CERTO_OK)
        rc = certo_err_sys(&err, CERTO_EIO, WHERE, "cannot write to standard output");
    certo_buf_dispose(&json);
    for (size_t i = 0; i < r.n_mats; i++)
        material_dispose(&r.mats[i]);
    certo_free(r.mats);
    certo_free(r.items);
    certo_secret_free(pass);
    return rc == CERTO_OK ? 0 : cli_fail(cmd, rc, &err);
}

/* ---- convert ---- */

static const struct cli_opt convert_opts[] = {
    {"to", 0, CLI_VALUE, "FORMAT", "pem, der, pkcs12 or jks (required)"},
    OUT_OPT,
    CLI_SECRET_OPTS("password", "password of an encrypted input key or keystore"),
    CLI_SECRET_OPTS("out-password",
                    "password of the output keystore, or to encrypt an output PEM key"),
    {"key", 0, CLI_VALUE, "FILE",
     "pkcs12/jks: private key, when the input holds only certificates"},
    {"chain", 0, CLI_VALUE, "FILE", "pkcs12/jks: more chain certificates, any order"},
    {"alias", 0, CLI_VALUE, "ALIAS",
     "keystore entry to write, or to read (default: the certificate's common name)"},
    {"legacy", 0, CLI_FLAG, NULL,
     "PKCS#12 output: legacy PBE (3DES key, RC2-40 certificates, SHA-1 MAC) for old Windows "
     "and Java"},
    END_OPT,
};

enum out_format { OUT_PEM, OUT_DER, OUT_P12, OUT_JKS };

/* Counts what goes out; for PEM and DER outputs of a keystore, picks one entry's contents. */
static certo_rc
flatten_keystore(struct material *m, const char *alias, const char *path, struct certo_err *err)
{
    struct certo_keystore *ks = m->ks;
    const struct certo_ks_entry *only = NULL;
    size_t keys = 0;

    if (alias != NULL) {
        only = certo_keystore_find(ks, alias);
        if (only == NULL)
            return certo_err_set(err, CERTO_ENOTFOUND, WHERE, "--alias: %s has no entry \"%s\"",
                                 path, alias);
    }
    for (size_t i = 0; i < ks->count; i++)
        keys += ks->entries[i].key != NULL;
    if (only == NULL && keys > 1)
        return certo_err_set(err, CERTO_EINVAL, WHERE,
                             "%s has %zu key entries: choose one with --alias", path, keys);
    m->certs = sk_X509_new_null();
    if (m->certs == NULL)
        abort();
    /* The key entry (its chain first), then trusted certificates. */
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < ks->count; i++) {
            const struct certo_ks_entry *en = &ks->entries[i];
            if ((only != NULL && en != only) || (en->key != NULL) != (round == 0))
                continue;
            if (en->key != NULL) {
                if (EVP_PKEY_up_ref(en->key) != 1)
                    abort();
                m->key = en->key;
            }
            for (int k = 0; k < sk_X509_num(en->certs); k++) {
                X509 *x = sk_X509_value(en->certs, k);
                if (X509_up_ref(x) != 1 || sk_X509_push(m->certs, x) <= 0)
                    abort();
            }
        }
    }
    certo_keystore_free(ks);
    m->ks = NULL;
    return CERTO_OK;
}

/* PEM or DER of what 'm' holds. */
static certo_rc
encode_flat(struct certo_buf *out, const struct material *m, enum out_format fmt,
            const struct certo_secret *out_pass, const char *path, struct certo_err *err)
{
    int n_certs = sk_X509_num(m->certs);
    int total = (n_certs > 0 ? n_certs : 0) + (m->key != NULL) + (m->req != NULL);
    certo_rc rc = CERTO_OK;

    if (fmt == OUT_DER) {
        if (total != 1)
            return certo_err_set(err, CERTO_EINVAL, WHERE,
                                 "--to der: DER holds exactly one certificate, key or CSR, and "
                                 "%s holds %d objects (use --to pem)",
                                 path, total);
        if (m->key != NULL && out_pass != NULL)
            return certo_err_set(err, CERTO_EINVAL, WHERE,
                                 "--out-password: an encrypted key is written with --to pem");
        if (out_pass != NULL)
            return certo_err_set(err, CERTO_EINVAL, WHERE,
                                 "--out-password: there is no private key to encrypt in %s", path);
        if (m->key != NULL)
            return certo_key_to_der(out, m->key, err);
        if (m->req != NULL) {
            unsigned char *der = NULL;
            int len = i2d_X509_REQ(m->req, &der);
            if (len <= 0)
                return certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot encode the CSR");
            rc = certo_buf_append(out, der, (size_t)len);
            OPENSSL_free(der);
            return rc;
        }
        return certo_cert_to_der(out, sk_X509_value(m->certs, 0), err);
    }
    if (m->key != NULL)
        rc = certo_key_to_pem(out, m->key, out_pass, err);
    for (int i = 0; rc == CERTO_OK && i < n_certs; i++)
        rc = certo_cert_to_pem(out, sk_X509_value(m->certs, i), err);
    if (rc == CERTO_OK && m->req != NULL)
        rc = certo_csr_to_pem(out, m->req, err);
    if (rc == CERTO_OK && m->key == NULL && out_pass != NULL)
        rc = certo_err_set(err, CERTO_EINVAL, WHERE,
                           "--out-password: there is no private key to encrypt in %s", path);
    return rc;
}

/* A unique alias for trusted entry 'x' of 'ks' (certificate name, then "-2", "-3"...). */
static char *
trusted_alias(const struct certo_keystore *ks, X509 *x)
{
    char *base = certo_keystore_default_alias(ks->format, x);
    char *alias = certo_strdup(base);
    for (int i = 2; certo_keystore_find(ks, alias) != NULL; i++) {
        certo_free(alias);
        alias = certo_asprintf("%s-%d", base, i);
    }
    certo_free(base);
    return alias;
}

/* Builds the output keystore from a keystore, a key with its chain, or certificates. */
static certo_rc
build_keystore(struct certo_keystore *out, struct material *m, const struct cli_args *a,
               const char *in_path, const struct certo_secret *pass, struct certo_err *err)
{
    int64_t now_ms = certo_clock_now_ms();
    struct certo_bundle_src src = {0};
    struct certo_bundle *b = NULL;
    struct certo_err e = {0};
    char *alias = NULL;
    certo_rc rc = CERTO_OK;

    if (m->ks != NULL) {
        for (size_t i = 0; rc == CERTO_OK && i < m->ks->count; i++) {
            const struct certo_ks_entry *en = &m->ks->entries[i];
            if (cli_get(a, "alias") != NULL &&
                certo_keystore_find(m->ks, cli_get(a, "alias")) != en)
                continue;
            if (en->kind == CERTO_KS_ENTRY_KEY)
                rc = certo_keystore_put_key(out, en->alias, en->key, en->certs, en->created_ms, &e);
            else
                rc = certo_keystore_put_trusted(out, en->alias, sk_X509_value(en->certs, 0),
                                                en->created_ms, &e);
        }
        if (rc == CERTO_OK && out->count == 0 && cli_get(a, "alias") != NULL)
            rc = certo_err_set(err, CERTO_ENOTFOUND, WHERE, "--alias: %s has no entry \"%s\"",
                               in_path, cli_get(a, "alias"));
        else if (rc == CERTO_OK && out->count == 0)
            rc = certo_err_set(err, CERTO_EINVAL, WHERE, "%s holds no entry", in_path);
        goto out;
    }
    if (m->key == NULL && cli_get(a, "key") == NULL) {
        /* Certificates only: a trust store. */
        if (m->certs == NULL)
            rc = certo_err_set(err, CERTO_EINVAL, WHERE,
                               "%s holds no certificate to put in a keystore", in_path);
        for (int i = 0; rc == CERTO_OK && i < sk_X509_num(m->certs); i++) {
            X509 *x = sk_X509_value(m->certs, i);
            certo_free(alias);
            alias = cli_get(a, "alias") != NULL && sk_X509_num(m->certs) == 1
                        ? certo_strdup(cli_get(a, "alias"))
                        : trusted_alias(out, x);
            rc = certo_keystore_put_trusted(out, alias, x, now_ms, &e);
        }
        goto out;
    }
    src.cert_path = in_path;
    src.key_path = cli_get(a, "key");
    src.chain_path = cli_get(a, "chain");
    src.key_pass = pass;
    src.key_required = true;
    rc = certo_bundle_load(&b, &src, &e);
    if (rc != CERTO_OK)
        goto out;
    alias = cli_get(a, "alias") != NULL
                ? certo_strdup(cli_get(a, "alias"))
                : certo_keystore_default_alias(out->format, sk_X509_value(b->chain, 0));
    rc = certo_keystore_put_key(out, alias, b->key, b->chain, now_ms, &e);
out:
    if (rc != CERTO_OK)
        rc = wrap(err, &e, rc, in_path);
    certo_free(alias);
    certo_bundle_free(b);
    return rc;
}

static int
run_convert(const struct cli_cmd *cmd, struct cli_args *a)
{
    static const char *const names[] = {"pem", "der", "pkcs12", "jks"};
    struct certo_err err = {0}, e = {0};
    struct certo_secret *pass = NULL, *out_pass = NULL;
    struct material m = {0};
    struct certo_keystore *ks = NULL;
    struct certo_buf data;
    const char *out = out_path(a);
    const char *to = cli_get(a, "to");
    const char *in = a->pos[0];
    enum out_format fmt = OUT_PEM;
    bool found = false;
    certo_rc rc;

    certo_buf_init(&data, CERTO_KEYSTORE_MAX);
    if (out == NULL)
        return cli_usage_error(cmd, "missing --out FILE");
    if (to == NULL)
        return cli_usage_error(cmd, "missing --to FORMAT (pem, der, pkcs12 or jks)");
    for (size_t i = 0; i < CERTO_ARRAY_LEN(names); i++) {
        if (strcasecmp(to, names[i]) == 0) {
            fmt = (enum out_format)i;
            found = true;
        }
    }
    if (!found && (strcasecmp(to, "p12") == 0 || strcasecmp(to, "pfx") == 0)) {
        fmt = OUT_P12;
        found = true;
    }
    if (!found)
        return cli_usage_error(cmd, "--to: unknown format '%.32s' (use pem, der, pkcs12 or jks)",
                               to);
    if (cli_has(a, "legacy") && fmt != OUT_P12)
        return cli_usage_error(cmd, "--legacy applies to --to pkcs12 only");
    if ((cli_get(a, "key") != NULL || cli_get(a, "chain") != NULL) &&
        (fmt == OUT_PEM || fmt == OUT_DER))
        return cli_usage_error(cmd, "--key and --chain apply to --to pkcs12 and --to jks");

    rc = cli_check_distinct(in, out, "out", &err);
    if (rc == CERTO_OK)
        rc = cli_secret(&pass, a, "password", NULL, false, &err);
    if (rc == CERTO_OK)
        rc = cli_secret(&out_pass, a, "out-password", NULL, false, &err);
    if (rc != CERTO_OK)
        goto out;
    rc = read_material(&m, in, &pass, a, &err);
    if (rc != CERTO_OK)
        goto out;
    if (m.ks != NULL && (cli_get(a, "key") != NULL || cli_get(a, "chain") != NULL)) {
        rc = certo_err_set(&err, CERTO_EINVAL, WHERE,
                           "--key and --chain: %s is a keystore, its entries bring their own", in);
        goto out;
    }

    if (fmt == OUT_PEM || fmt == OUT_DER) {
        if (m.ks != NULL) {
            rc = flatten_keystore(&m, cli_get(a, "alias"), in, &err);
            if (rc != CERTO_OK)
                goto out;
        }
        rc = encode_flat(&data, &m, fmt, out_pass, in, &err);
        if (rc == CERTO_OK)
            rc = cli_write_file(out, data.data, data.len, m.key != NULL ? MODE_SECRET : MODE_PUBLIC,
                                &err);
        if (rc == CERTO_OK)
            fprintf(note_stream(out), "wrote %s%s%s%s to %s\n", m.key != NULL ? "private key" : "",
                    m.key != NULL && sk_X509_num(m.certs) > 0 ? " and " : "",
                    sk_X509_num(m.certs) > 0 ? "certificates" : "",
                    m.req != NULL ? "certificate request" : "", out);
        goto out;
    }

    if (m.req != NULL) {
        rc = certo_err_set(&err, CERTO_EINVAL, WHERE, "%s: a CSR cannot go into a keystore", in);
        goto out;
    }
    /* Keystores always have a password; by default the input's, as keytool does. */
    if (out_pass == NULL && pass != NULL) {
        rc = certo_secret_new(&out_pass, certo_secret_get0(pass), certo_secret_len(pass));
        if (rc != CERTO_OK)
            goto out;
    }
    if (out_pass == NULL && isatty(STDIN_FILENO)) {
        rc =
            cli_secret(&out_pass, a, "out-password", "Password for the new keystore: ", true, &err);
        if (rc != CERTO_OK)
            goto out;
    }
    if (out_pass == NULL) {
        rc = certo_err_set(&err, CERTO_EINVAL, WHERE,
                           "--out-password: a %s keystore needs a password (--out-password, "
                           "--out-password-file or --out-password-env)",
                           fmt == OUT_JKS ? "JKS" : "PKCS#12");
        goto out;
    }
    ks = certo_keystore_new(fmt == OUT_JKS ? CERTO_KS_JKS : CERTO_KS_PKCS12);
    if (cli_has(a, "legacy"))
        ks->p12_profile = CERTO_P12_LEGACY_RC2;
    rc = build_keystore(ks, &m, a, in, pass, &err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_keystore_serialize(&data, ks, out_pass, &e);
    if (rc != CERTO_OK) {
        rc = wrap(&err, &e, rc, "cannot write the keystore");
        goto out;
    }
    rc = cli_write_file(out, data.data, data.len, MODE_SECRET, &err);
    if (rc == CERTO_OK)
        fprintf(note_stream(out), "wrote %s keystore with %zu entr%s to %s\n",
                fmt == OUT_JKS         ? "JKS"
                : cli_has(a, "legacy") ? "legacy PKCS#12"
                                       : "PKCS#12",
                ks->count, ks->count == 1 ? "y" : "ies", out);
out:
    buf_wipe(&data);
    certo_keystore_free(ks);
    material_dispose(&m);
    certo_secret_free(pass);
    certo_secret_free(out_pass);
    return rc == CERTO_OK ? 0 : cli_fail(cmd, rc, &err);
}

const struct cli_cmd cli_cert_cmds[] = {
    {"cert keygen", "--out FILE [--type SPEC] [--password...]", "generate a private key",
     keygen_opts, 0, 0, run_keygen, NULL},
    {"cert csr", "--key FILE --subject DN [--san NAME]... --out FILE",
     "create a certificate signing request (PKCS#10)", csr_opts, 0, 0, run_csr, NULL},
    {"cert selfsign", "--key FILE --subject DN [--san NAME]... [--days N] [--ca] --out FILE",
     "issue a self-signed certificate (or a root CA with --ca)", selfsign_opts, 0, 0, run_selfsign,
     NULL},
    {"cert sign", "--csr FILE --ca-cert FILE --ca-key FILE [--days N] [--ca] --out FILE",
     "sign a certificate request with a CA certificate and key", sign_opts, 0, 0, run_sign, NULL},
    {"cert inspect", "FILE... [--json]",
     "show certificates, bundles, keys, CSRs and PKCS#12/JKS keystores", inspect_opts, 1, 1000,
     run_inspect, NULL},
    {"cert convert", "IN --to pem|der|pkcs12|jks --out FILE",
     "convert certificates, keys, CSRs and keystores between formats", convert_opts, 1, 1,
     run_convert, NULL},
    {NULL, NULL, NULL, NULL, 0, 0, NULL, NULL},
};
