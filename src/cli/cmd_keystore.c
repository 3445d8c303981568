/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `certo keystore list|put|remove|export` (cli layer): keytool-style work on PEM,
 * PKCS#12 and JKS files. Every change loads the whole keystore, edits one entry and
 * writes the result atomically; on any error the file on disk is untouched.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"

#define KS_PASSWORD_OPTS CLI_SECRET_OPTS("password", "keystore password")

static const struct cli_opt list_opts[] = {
    {"type", 0, CLI_VALUE, "TYPE", "keystore type: pem, pkcs12, jks (default: detected)"},
    KS_PASSWORD_OPTS,
    {"json", 0, CLI_FLAG, NULL, "print JSON"},
    {NULL, 0, 0, NULL, NULL},
};

static const struct cli_opt put_opts[] = {
    {"alias", 0, CLI_VALUE, "ALIAS", "entry name (default: the certificate's common name)"},
    {"cert", 0, CLI_VALUE, "FILE", "certificate (PEM or DER; may hold the chain and key)"},
    {"key", 0, CLI_VALUE, "FILE", "private key (PEM or DER, PKCS#8 or traditional)"},
    {"chain", 0, CLI_VALUE, "FILE", "chain certificates, any order"},
    CLI_SECRET_OPTS("key-password", "password of an encrypted --key"),
    {"from", 0, CLI_VALUE, "KEYSTORE", "take the entry from this keystore instead of files"},
    CLI_SECRET_OPTS("from-password", "password of the --from keystore"),
    {"from-alias", 0, CLI_VALUE, "ALIAS", "entry of the --from keystore (default: its key entry)"},
    {"trusted", 0, CLI_FLAG, NULL, "store --cert as a trusted certificate entry"},
    {"type", 0, CLI_VALUE, "TYPE", "pem, pkcs12 or jks; needed for a new file without extension"},
    KS_PASSWORD_OPTS,
    {"is-legacy", 0, CLI_VALUE, "BOOL",
     "PKCS#12: true = legacy PBE (3DES key, RC2-40 certificates, SHA-1 MAC); false (default, "
     "recommended) = PBES2 AES-256-CBC, SHA-256 MAC"},
    {"legacy", 0, CLI_FLAG, NULL, "same as --is-legacy true"},
    {"legacy-cipher", 0, CLI_VALUE, "CIPHER",
     "legacy PKCS#12 certificate encryption: rc2 (default, RC2-40) or 3des"},
    {"iter", 0, CLI_VALUE, "N", "PKCS#12 PBKDF2/MAC iterations (default 2048)"},
    {"layout", 0, CLI_VALUE, "LAYOUT",
     "PEM: combined, key-first, fullchain, cert, chain, key (default: as the file is)"},
    {NULL, 0, 0, NULL, NULL},
};

static const struct cli_opt remove_opts[] = {
    {"alias", 0, CLI_VALUE, "ALIAS", "entry to remove (required)"},
    {"type", 0, CLI_VALUE, "TYPE", "keystore type (default: detected)"},
    KS_PASSWORD_OPTS,
    {NULL, 0, 0, NULL, NULL},
};

static const struct cli_opt export_opts[] = {
    {"alias", 0, CLI_VALUE, "ALIAS", "entry to export (default: the only key entry)"},
    {"out", 'o', CLI_VALUE, "FILE", "output file, '-' for standard output (required)"},
    {"format", 0, CLI_VALUE, "FORMAT", "pem (default), der, pkcs12 or jks"},
    {"layout", 0, CLI_VALUE, "LAYOUT",
     "PEM: combined (default), key-first, fullchain, cert, "
     "chain, key"},
    {"type", 0, CLI_VALUE, "TYPE", "type of the source keystore (default: detected)"},
    KS_PASSWORD_OPTS,
    CLI_SECRET_OPTS("out-password", "password of the exported keystore or PEM key"),
    {"is-legacy", 0, CLI_VALUE, "BOOL", "PKCS#12 output: legacy PBE (true) or PBES2 (false)"},
    {"legacy", 0, CLI_FLAG, NULL, "same as --is-legacy true"},
    {"legacy-cipher", 0, CLI_VALUE, "CIPHER",
     "legacy PKCS#12 certificate encryption: rc2 (default, RC2-40) or 3des"},
    {"iter", 0, CLI_VALUE, "N", "PKCS#12 output: PBKDF2/MAC iterations (default 2048)"},
    {NULL, 0, 0, NULL, NULL},
};

static certo_rc
opt_format(enum certo_ks_format *out, const struct cli_args *a, const char *name,
           struct certo_err *err)
{
    const char *v = cli_get(a, name);
    *out = CERTO_KS_AUTO;
    if (v == NULL)
        return CERTO_OK;
    certo_rc rc = certo_ks_format_parse(out, v, NULL);
    if (rc != CERTO_OK)
        return certo_err_set(err, rc, "cli", "--%s: unknown type '%.32s' (use pem, pkcs12, jks)",
                             name, v);
    return CERTO_OK;
}

/* --is-legacy true|false or --legacy; *set tells whether the user chose at all. */
static certo_rc
opt_legacy(bool *legacy, bool *set, const struct cli_args *a, struct certo_err *err)
{
    const char *v = cli_get(a, "is-legacy");
    *legacy = cli_has(a, "legacy");
    *set = *legacy || v != NULL;
    if (v == NULL)
        return CERTO_OK;
    if (cli_has(a, "legacy"))
        return certo_err_set(err, CERTO_EINVAL, "cli", "give --legacy or --is-legacy, not both");
    if (strcmp(v, "true") == 0)
        *legacy = true;
    else if (strcmp(v, "false") == 0)
        *legacy = false;
    else
        return certo_err_set(err, CERTO_EINVAL, "cli", "--is-legacy: '%.32s' is not true or false",
                             v);
    return CERTO_OK;
}

static void
format_ms(char out[32], int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (ms <= 0 || gmtime_r(&t, &tm) == NULL) {
        snprintf(out, 32, "unknown");
        return;
    }
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *
kind_name(enum certo_ks_entry_kind k)
{
    return k == CERTO_KS_ENTRY_KEY ? "PrivateKeyEntry" : "trustedCertEntry";
}

static certo_rc
print_list_text(const struct certo_keystore *ks, struct certo_err *err)
{
    printf("Keystore type: %s\nEntries: %zu\n", certo_ks_format_name(ks->format), ks->count);
    for (size_t i = 0; i < ks->count; i++) {
        const struct certo_ks_entry *e = &ks->entries[i];
        char created[32];
        format_ms(created, e->created_ms);
        printf("\nAlias: %s\nEntry type: %s\nCreated: %s\n", e->alias, kind_name(e->kind), created);
        if (e->kind == CERTO_KS_ENTRY_KEY)
            printf("Key: %s %d bits\nChain length: %d\n", certo_key_alg_name(e->key),
                   certo_key_bits(e->key), sk_X509_num(e->certs));
        if (sk_X509_num(e->certs) == 0)
            continue;
        struct certo_cert_info info;
        certo_rc rc = certo_cert_info_get(&info, sk_X509_value(e->certs, 0), err);
        if (rc != CERTO_OK)
            return rc;
        char nb[32], na[32];
        format_ms(nb, (int64_t)info.not_before * 1000);
        format_ms(na, (int64_t)info.not_after * 1000);
        printf("Subject: %s\nIssuer: %s\nValid: %s .. %s\nSHA-256: %s\n", info.subject, info.issuer,
               nb, na, info.fingerprint);
        certo_cert_info_dispose(&info);
    }
    return CERTO_OK;
}

static certo_rc
list_json(struct certo_buf *b, const struct certo_keystore *ks, struct certo_err *err)
{
    certo_rc rc =
        certo_buf_printf(b, "{\"type\":\"%s\",\"entries\":[", certo_ks_format_name(ks->format));
    for (size_t i = 0; rc == CERTO_OK && i < ks->count; i++) {
        const struct certo_ks_entry *e = &ks->entries[i];
        char created[32];
        format_ms(created, e->created_ms);
        rc = certo_buf_append_str(b, i == 0 ? "{\"alias\":" : ",{\"alias\":");
        if (rc == CERTO_OK)
            rc = cli_json_str(b, e->alias);
        if (rc == CERTO_OK)
            rc = certo_buf_printf(b, ",\"kind\":\"%s\",\"created\":\"%s\",\"chain_length\":%d",
                                  e->kind == CERTO_KS_ENTRY_KEY ? "key" : "trusted", created,
                                  sk_X509_num(e->certs));
        if (rc == CERTO_OK && e->key != NULL)
            rc = certo_buf_printf(b, ",\"key_type\":\"%s\",\"key_bits\":%d",
                                  certo_key_alg_name(e->key), certo_key_bits(e->key));
        if (rc == CERTO_OK)
            rc = certo_buf_append_str(b, ",\"chain\":[");
        for (int j = 0; rc == CERTO_OK && j < sk_X509_num(e->certs); j++) {
            struct certo_cert_info info;
            rc = certo_cert_info_get(&info, sk_X509_value(e->certs, j), err);
            if (rc != CERTO_OK)
                break;
            if (j > 0)
                rc = certo_buf_append_str(b, ",");
            if (rc == CERTO_OK)
                rc = certo_cert_info_to_json(b, &info);
            certo_cert_info_dispose(&info);
        }
        if (rc == CERTO_OK)
            rc = certo_buf_append_str(b, "]}");
    }
    if (rc == CERTO_OK)
        rc = certo_buf_append_str(b, "]}\n");
    return rc;
}

static int
run_list(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0};
    struct certo_secret *pass = NULL;
    struct certo_keystore *ks = NULL;
    struct certo_buf out;
    enum certo_ks_format fmt;
    certo_rc rc;

    certo_buf_init(&out, 64u * 1024 * 1024);
    rc = opt_format(&fmt, a, "type", &err);
    if (rc == CERTO_OK)
        rc = cli_secret(&pass, a, "password", "Keystore password: ", false, &err);
    if (rc == CERTO_OK)
        rc = certo_keystore_load(&ks, a->pos[0], fmt, pass, &err);
    if (rc == CERTO_OK && cli_has(a, "json")) {
        rc = list_json(&out, ks, &err);
        if (rc == CERTO_OK && fwrite(out.data, 1, out.len, stdout) != out.len)
            rc = certo_err_sys(&err, CERTO_EIO, "cli", "cannot write to standard output");
    } else if (rc == CERTO_OK) {
        rc = print_list_text(ks, &err);
    }
    if (rc == CERTO_OK && fflush(stdout) != 0)
        rc = certo_err_sys(&err, CERTO_EIO, "cli", "cannot write to standard output");
    certo_buf_dispose(&out);
    certo_keystore_free(ks);
    certo_secret_free(pass);
    return rc == CERTO_OK ? 0 : cli_fail(cmd, rc, &err);
}

/* Loads the keystore to change, or makes a new empty one when the file does not exist. */
static certo_rc
open_for_change(struct certo_keystore **ks, const char *path, enum certo_ks_format fmt,
                const struct certo_secret *pass, bool may_create, struct certo_err *err)
{
    *ks = NULL;
    if (certo_file_exists(path) || !may_create)
        return certo_keystore_load(ks, path, fmt, pass, err);
    if (fmt == CERTO_KS_AUTO) {
        const char *dot = strrchr(path, '.');
        if (dot == NULL || certo_ks_format_parse(&fmt, dot + 1, NULL) != CERTO_OK) {
            if (dot != NULL && (strcmp(dot, ".crt") == 0 || strcmp(dot, ".key") == 0))
                fmt = CERTO_KS_PEM;
            else
                return certo_err_set(err, CERTO_EINVAL, "cli",
                                     "--type: %s does not exist and its name does not say its "
                                     "type (pem, pkcs12, jks)",
                                     path);
        }
    }
    *ks = certo_keystore_new(fmt);
    return CERTO_OK;
}

static certo_rc
need_password(const struct certo_keystore *ks, const struct certo_secret *pass, const char *opt,
              struct certo_err *err)
{
    if (ks->format != CERTO_KS_PEM && pass == NULL)
        return certo_err_set(err, CERTO_EINVAL, "cli",
                             "a %s keystore needs a password: give --%s-file, --%s-env or --%s",
                             certo_ks_format_name(ks->format), opt, opt, opt);
    return CERTO_OK;
}

static certo_rc
apply_write_opts(struct certo_keystore *ks, const struct cli_args *a, struct certo_err *err)
{
    bool legacy, legacy_set;
    certo_rc rc = opt_legacy(&legacy, &legacy_set, a, err);
    if (rc != CERTO_OK)
        return rc;
    if (legacy_set && ks->format != CERTO_KS_PKCS12)
        return certo_err_set(err, CERTO_EINVAL, "cli", "--is-legacy applies to PKCS#12 only");
    if (legacy_set)
        ks->p12_profile = legacy ? CERTO_P12_LEGACY_RC2 : CERTO_P12_MODERN;
    const char *cipher = cli_get(a, "legacy-cipher");
    if (cipher != NULL) {
        /* RC2-40 is what old Windows exports; 3DES for certificates too avoids RC2 for
         * consumers that lack it (REFERENCE.md 2.2). */
        if (!legacy)
            return certo_err_set(err, CERTO_EINVAL, "cli",
                                 "--legacy-cipher needs --is-legacy true (or --legacy)");
        if (strcmp(cipher, "3des") == 0)
            ks->p12_profile = CERTO_P12_LEGACY_3DES;
        else if (strcmp(cipher, "rc2") != 0)
            return certo_err_set(err, CERTO_EINVAL, "cli",
                                 "--legacy-cipher: '%.32s' is not rc2 or 3des", cipher);
    }
    if (cli_has(a, "iter")) {
        rc = cli_int(&ks->p12_iter, a, "iter", 0, 1, 10000000, err);
        if (rc != CERTO_OK)
            return rc;
    }
    const char *layout = cli_get(a, "layout");
    if (layout != NULL) {
        if (ks->format != CERTO_KS_PEM)
            return certo_err_set(err, CERTO_EINVAL, "cli", "--layout applies to PEM only");
        rc = certo_pem_layout_parse(&ks->pem_layout, layout, NULL);
        if (rc != CERTO_OK)
            return certo_err_set(err, rc, "cli", "--layout: unknown layout '%.32s'", layout);
    }
    return CERTO_OK;
}

/* An explicit --layout must hold the whole file; otherwise the layout grows to fit. */
static certo_rc
keep_pem_content(struct certo_keystore *ks, bool layout_given, struct certo_err *err)
{
    if (layout_given && !certo_pem_layout_keeps_all(ks, ks->pem_layout))
        return certo_err_set(err, CERTO_EINVAL, "cli",
                             "--layout %s cannot hold every entry of the file",
                             certo_pem_layout_name(ks->pem_layout));
    return certo_pem_layout_fit(ks, err);
}

static int
run_put(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0};
    struct certo_secret *pass = NULL, *key_pass = NULL, *from_pass = NULL;
    struct certo_keystore *ks = NULL;
    struct certo_bundle *bundle = NULL;
    struct certo_bundle_src src = {0};
    char *alias = NULL;
    enum certo_ks_format fmt;
    bool trusted = cli_has(a, "trusted");
    certo_rc rc;

    if ((cli_get(a, "cert") == NULL) == (cli_get(a, "from") == NULL))
        return cli_usage_error(cmd, "give --cert FILE or --from KEYSTORE");
    if (trusted && (cli_has(a, "key") || cli_has(a, "from")))
        return cli_usage_error(cmd, "--trusted takes --cert only");
    if (cli_has(a, "from") && (cli_has(a, "key") || cli_has(a, "chain")))
        return cli_usage_error(cmd, "--from replaces --key and --chain");

    rc = opt_format(&fmt, a, "type", &err);
    if (rc == CERTO_OK)
        rc = cli_secret(&pass, a, "password", "Keystore password: ", false, &err);
    if (rc == CERTO_OK)
        rc = cli_secret(&key_pass, a, "key-password", NULL, false, &err);
    if (rc == CERTO_OK)
        rc = cli_secret(&from_pass, a, "from-password", "Password of --from: ", false, &err);
    if (rc != CERTO_OK)
        goto out;

    /* Read and check the new material before touching the keystore. */
    src.cert_path = cli_get(a, "cert");
    src.key_path = cli_get(a, "key");
    src.chain_path = cli_get(a, "chain");
    src.key_pass = key_pass;
    src.keystore_path = cli_get(a, "from");
    src.keystore_pass = from_pass;
    src.alias = cli_get(a, "from-alias");
    src.key_required = !trusted;
    rc = certo_bundle_load(&bundle, &src, &err);
    if (rc != CERTO_OK)
        goto out;

    rc = open_for_change(&ks, a->pos[0], fmt, pass, true, &err);
    if (rc == CERTO_OK)
        rc = need_password(ks, pass, "password", &err);
    if (rc == CERTO_OK)
        rc = apply_write_opts(ks, a, &err);
    if (rc != CERTO_OK)
        goto out;
    X509 *leaf = sk_X509_value(bundle->chain, 0);
    /* Default alias: the source entry's own, else one derived from the certificate. */
    if (cli_get(a, "alias") != NULL)
        alias = certo_strdup(cli_get(a, "alias"));
    else if (bundle->alias != NULL)
        alias = certo_strdup(bundle->alias);
    else
        alias = certo_keystore_default_alias(ks->format, leaf);
    if (trusted)
        rc = certo_keystore_put_trusted(ks, alias, leaf, certo_clock_now_ms(), &err);
    else
        rc = certo_keystore_put_key(ks, alias, bundle->key, bundle->chain, certo_clock_now_ms(),
                                    &err);
    if (rc == CERTO_OK && ks->format == CERTO_KS_PEM)
        rc = keep_pem_content(ks, cli_has(a, "layout"), &err);
    if (rc == CERTO_OK)
        rc = certo_keystore_save(ks, a->pos[0], pass, &err);
    if (rc != CERTO_OK)
        goto out;
    const struct certo_ks_entry *e = certo_keystore_find(ks, alias);
    printf("%s: %s '%s' stored (%s, %zu entr%s)\n", a->pos[0], kind_name(e->kind), e->alias,
           certo_ks_format_name(ks->format), ks->count, ks->count == 1 ? "y" : "ies");
out:
    certo_free(alias);
    certo_bundle_free(bundle);
    certo_keystore_free(ks);
    certo_secret_free(pass);
    certo_secret_free(key_pass);
    certo_secret_free(from_pass);
    return rc == CERTO_OK ? 0 : cli_fail(cmd, rc, &err);
}

static int
run_remove(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0};
    struct certo_secret *pass = NULL;
    struct certo_keystore *ks = NULL;
    const char *alias = cli_get(a, "alias");
    enum certo_ks_format fmt;
    certo_rc rc;

    if (alias == NULL)
        return cli_usage_error(cmd, "--alias is required");
    rc = opt_format(&fmt, a, "type", &err);
    if (rc == CERTO_OK)
        rc = cli_secret(&pass, a, "password", "Keystore password: ", false, &err);
    if (rc == CERTO_OK)
        rc = certo_keystore_load(&ks, a->pos[0], fmt, pass, &err);
    if (rc == CERTO_OK)
        rc = certo_keystore_remove(ks, alias, &err);
    if (rc == CERTO_OK)
        rc = certo_keystore_save(ks, a->pos[0], pass, &err);
    if (rc == CERTO_OK)
        printf("%s: entry '%s' removed (%zu left)\n", a->pos[0], alias, ks->count);
    certo_keystore_free(ks);
    certo_secret_free(pass);
    return rc == CERTO_OK ? 0 : cli_fail(cmd, rc, &err);
}

/* The entry to export: the named one, or the only key entry (or the only entry). */
static certo_rc
pick_entry(const struct certo_ks_entry **out, const struct certo_keystore *ks, const char *alias,
           struct certo_err *err)
{
    *out = NULL;
    if (alias != NULL) {
        *out = certo_keystore_find(ks, alias);
        if (*out == NULL)
            return certo_err_set(err, CERTO_ENOTFOUND, "cli", "--alias: no entry '%.64s'", alias);
        return CERTO_OK;
    }
    for (size_t i = 0; i < ks->count; i++) {
        if (ks->entries[i].kind != CERTO_KS_ENTRY_KEY)
            continue;
        if (*out != NULL)
            return certo_err_set(err, CERTO_EINVAL, "cli",
                                 "--alias: the keystore holds several key entries");
        *out = &ks->entries[i];
    }
    if (*out == NULL && ks->count == 1)
        *out = &ks->entries[0];
    if (*out == NULL)
        return certo_err_set(err, CERTO_EINVAL, "cli", "--alias: name the entry to export");
    return CERTO_OK;
}

static int
run_export(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0};
    struct certo_secret *pass = NULL, *out_pass = NULL;
    struct certo_keystore *ks = NULL, *dst = NULL;
    const struct certo_ks_entry *e = NULL;
    const char *out_path = cli_get(a, "out");
    const char *format = cli_get(a, "format");
    enum certo_ks_format fmt, out_fmt = CERTO_KS_PEM;
    struct certo_buf b;
    bool der = false;
    certo_rc rc;

    certo_buf_init(&b, CERTO_KEYSTORE_MAX);
    if (out_path == NULL)
        return cli_usage_error(cmd, "--out is required");
    if (format != NULL && strcmp(format, "der") == 0)
        der = true;
    else if (format != NULL && certo_ks_format_parse(&out_fmt, format, NULL) != CERTO_OK)
        return cli_usage_error(cmd, "--format: unknown format '%.32s' (pem, der, pkcs12, jks)",
                               format);

    rc = cli_check_distinct(a->pos[0], out_path, "out", &err);
    if (rc == CERTO_OK)
        rc = opt_format(&fmt, a, "type", &err);
    if (rc == CERTO_OK)
        rc = cli_secret(&pass, a, "password", "Keystore password: ", false, &err);
    if (rc == CERTO_OK)
        rc = cli_secret(
            &out_pass, a, "out-password",
            out_fmt == CERTO_KS_PEM ? NULL : "Password of the exported keystore: ", true, &err);
    if (rc == CERTO_OK)
        rc = certo_keystore_load(&ks, a->pos[0], fmt, pass, &err);
    if (rc == CERTO_OK)
        rc = pick_entry(&e, ks, cli_get(a, "alias"), &err);
    if (rc != CERTO_OK)
        goto out;
    if (der) {
        if (sk_X509_num(e->certs) < 1) {
            rc = certo_err_set(&err, CERTO_EINVAL, "cli", "the entry has no certificate");
            goto out;
        }
        rc = certo_cert_to_der(&b, sk_X509_value(e->certs, 0), &err);
    } else {
        dst = certo_keystore_new(out_fmt);
        if (out_fmt == CERTO_KS_PEM)
            dst->pem_layout = e->kind == CERTO_KS_ENTRY_KEY ? CERTO_PEM_COMBINED : CERTO_PEM_CERT;
        rc = apply_write_opts(dst, a, &err);
        if (rc == CERTO_OK)
            rc = need_password(dst, out_pass, "out-password", &err);
        if (rc == CERTO_OK && e->kind == CERTO_KS_ENTRY_KEY)
            rc = certo_keystore_put_key(dst, e->alias, e->key, e->certs, e->created_ms, &err);
        else if (rc == CERTO_OK)
            rc = certo_keystore_put_trusted(dst, e->alias, sk_X509_value(e->certs, 0),
                                            e->created_ms, &err);
        if (rc == CERTO_OK)
            rc = certo_keystore_serialize(&b, dst, out_pass, &err);
    }
    if (rc == CERTO_OK)
        rc = cli_write_file(out_path, b.data, b.len, 0600, &err);
    if (rc == CERTO_OK && strcmp(out_path, "-") != 0)
        printf("%s: entry '%s' exported to %s\n", a->pos[0], e->alias, out_path);
out:
    if (b.data != NULL)
        OPENSSL_cleanse(b.data, b.len);
    certo_buf_dispose(&b);
    certo_keystore_free(dst);
    certo_keystore_free(ks);
    certo_secret_free(pass);
    certo_secret_free(out_pass);
    return rc == CERTO_OK ? 0 : cli_fail(cmd, rc, &err);
}

const struct cli_cmd cli_keystore_cmds[] = {
    {"keystore list", "[options] KEYSTORE", "list the entries of a PEM, PKCS#12 or JKS keystore",
     list_opts, 1, 1, run_list, NULL},
    {"keystore put", "[options] KEYSTORE",
     "add or replace one entry (the file is created if missing; other entries are kept)", put_opts,
     1, 1, run_put, NULL},
    {"keystore remove", "[options] KEYSTORE", "remove one entry", remove_opts, 1, 1, run_remove,
     NULL},
    {"keystore export", "[options] KEYSTORE", "write one entry as PEM, DER, PKCS#12 or JKS",
     export_opts, 1, 1, run_export, NULL},
    {NULL, NULL, NULL, NULL, 0, 0, NULL, NULL},
};
