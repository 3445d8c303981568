/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The keystore model (pki layer): entries by alias, alias rules, format detection and
 * dispatch to the PEM, PKCS#12 and JKS codecs, and load/save on files. Saving never
 * rewrites a keystore in place: the whole new file is built in memory, then atomically
 * replaces the old one (a service may read its keystore at any moment).
 */
#include <ctype.h>
#include <locale.h>
#include <string.h>
#include <wctype.h>

#include <openssl/x509v3.h>

#include "certo/cert.h"
#include "certo/chain.h"
#include "certo/file.h"
#include "certo/jks.h"
#include "certo/keystore.h"
#include "certo/limits.h"
#include "certo/mem.h"
#include "certo/pem.h"
#include "certo/pkcs12.h"
#include "certo/utf8.h"

struct certo_keystore *
certo_keystore_new(enum certo_ks_format format)
{
    struct certo_keystore *ks = certo_calloc(1, sizeof(*ks));
    CERTO_ASSERT(format != CERTO_KS_AUTO);
    ks->format = format;
    ks->p12_profile = CERTO_P12_MODERN;
    ks->pem_layout = CERTO_PEM_COMBINED;
    return ks;
}

static void
entry_dispose(struct certo_ks_entry *e)
{
    CERTO_FREE(e->alias);
    EVP_PKEY_free(e->key);
    e->key = NULL;
    certo_certs_free(e->certs);
    e->certs = NULL;
}

void
certo_keystore_free(struct certo_keystore *ks)
{
    if (ks == NULL)
        return;
    for (size_t i = 0; i < ks->count; i++)
        entry_dispose(&ks->entries[i]);
    certo_free(ks->entries);
    certo_free(ks);
}

const char *
certo_ks_format_name(enum certo_ks_format format)
{
    switch (format) {
    case CERTO_KS_PEM:
        return "pem";
    case CERTO_KS_PKCS12:
        return "pkcs12";
    case CERTO_KS_JKS:
        return "jks";
    case CERTO_KS_AUTO:
        break;
    }
    return "auto";
}

certo_rc
certo_ks_format_parse(enum certo_ks_format *out, const char *text, struct certo_err *err)
{
    static const struct {
        const char *name;
        enum certo_ks_format fmt;
    } names[] = {{"pem", CERTO_KS_PEM},
                 {"p12", CERTO_KS_PKCS12},
                 {"pkcs12", CERTO_KS_PKCS12},
                 {"pfx", CERTO_KS_PKCS12},
                 {"jks", CERTO_KS_JKS}};

    *out = CERTO_KS_AUTO;
    for (size_t i = 0; i < CERTO_ARRAY_LEN(names); i++) {
        if (strcasecmp(text, names[i].name) == 0) {
            *out = names[i].fmt;
            return CERTO_OK;
        }
    }
    return certo_err_set(err, CERTO_EINVAL, "pki.keystore",
                         "unknown keystore type '%.64s' (use pem, pkcs12 or jks)", text);
}

enum certo_ks_format
certo_keystore_detect(const void *data, size_t len)
{
    static const unsigned char jks[4] = {0xfe, 0xed, 0xfe, 0xed};
    static const unsigned char jceks[4] = {0xce, 0xce, 0xce, 0xce};
    const unsigned char *p = data;

    if (len >= 4 && (memcmp(p, jks, 4) == 0 || memcmp(p, jceks, 4) == 0))
        return CERTO_KS_JKS;
    /* A PFX is a DER SEQUENCE; so is a DER certificate, which is not a keystore, but the
     * PKCS#12 reader then says precisely why it is not one. */
    if (len >= 2 && p[0] == 0x30)
        return CERTO_KS_PKCS12;
    if (memmem(p, len, "-----BEGIN ", 11) != NULL)
        return CERTO_KS_PEM;
    return CERTO_KS_AUTO;
}

/*
 * Java's JKS provider lower-cases aliases with toLowerCase(Locale.ENGLISH) on every set
 * and lookup (REFERENCE.md 1.8). We use the C.UTF-8 locale's simple case mapping, which
 * agrees with Java for every character whose lower case is a single character.
 */
static char *
lower_utf8(const char *s)
{
    static locale_t c_utf8 = (locale_t)0;
    size_t len = strlen(s);
    char *out = certo_malloc(len * 4 + 1);
    size_t o = 0;

    if (c_utf8 == (locale_t)0)
        c_utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = certo_utf8_decode((const unsigned char *)s + i, len - i, &cp);
        if (n == 0) { /* invalid: copy the byte; callers validate before relying on this */
            out[o++] = s[i++];
            continue;
        }
        if (cp < 0x80)
            cp = (uint32_t)tolower((int)cp);
        else if (c_utf8 != (locale_t)0)
            cp = (uint32_t)towlower_l((wint_t)cp, c_utf8);
        o += certo_utf8_encode(cp, (unsigned char *)out + o);
        i += n;
    }
    out[o] = '\0';
    return out;
}

certo_rc
certo_keystore_alias_check(char **out, enum certo_ks_format format, const char *alias,
                           struct certo_err *err)
{
    size_t len = strnlen(alias, CERTO_ALIAS_MAX + 1);

    if (out != NULL)
        *out = NULL;
    if (len == 0)
        return certo_err_set(err, CERTO_EINVAL, "pki.keystore", "alias is empty");
    if (len > CERTO_ALIAS_MAX)
        return certo_err_set(err, CERTO_EINVAL, "pki.keystore", "alias is longer than %d bytes",
                             CERTO_ALIAS_MAX);
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = certo_utf8_decode((const unsigned char *)alias + i, len - i, &cp);
        if (n == 0)
            return certo_err_set(err, CERTO_EINVAL, "pki.keystore",
                                 "alias is not valid UTF-8 (byte %zu)", i + 1);
        if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0))
            return certo_err_set(err, CERTO_EINVAL, "pki.keystore",
                                 "alias contains a control character (byte %zu)", i + 1);
        i += n;
    }
    if (out != NULL)
        *out = format == CERTO_KS_JKS ? lower_utf8(alias) : certo_strdup(alias);
    return CERTO_OK;
}

char *
certo_keystore_default_alias(enum certo_ks_format format, X509 *cert)
{
    const X509_NAME *subj = X509_get_subject_name(cert);
    unsigned char *utf8 = NULL;
    char *alias = NULL;
    int idx = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);

    if (idx >= 0) {
        ASN1_STRING *d = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, idx));
        int n = ASN1_STRING_to_UTF8(&utf8, d);
        if (n > 0)
            alias = certo_strndup((const char *)utf8, (size_t)n);
        OPENSSL_free(utf8);
    }
    if (alias == NULL) {
        GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
        for (int i = 0; alias == NULL && i < sk_GENERAL_NAME_num(gens); i++) {
            const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
            if (g->type == GEN_DNS)
                alias = certo_strndup((const char *)ASN1_STRING_get0_data(g->d.dNSName),
                                      (size_t)ASN1_STRING_length(g->d.dNSName));
        }
        GENERAL_NAMES_free(gens);
    }
    if (alias == NULL || alias[0] == '\0') {
        certo_free(alias);
        alias = certo_strdup("1");
    }
    /* Keep aliases that every consumer (Java, Windows, shells) handles. */
    for (char *p = alias; *p != '\0'; p++) {
        if (!isalnum((unsigned char)*p) && strchr("._-@*", *p) == NULL)
            *p = '-';
    }
    if (strlen(alias) > CERTO_ALIAS_MAX)
        alias[CERTO_ALIAS_MAX] = '\0';
    if (format == CERTO_KS_JKS || format == CERTO_KS_PKCS12) {
        for (char *p = alias; *p != '\0'; p++)
            *p = (char)tolower((unsigned char)*p);
    }
    return alias;
}

static bool
is_ascii(const char *s)
{
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s >= 0x80)
            return false;
    }
    return true;
}

/* Java looks JKS and PKCS#12 aliases up case-insensitively; PEM has no alias semantics
 * beyond our own, so it compares exactly. */
static bool
alias_eq(enum certo_ks_format format, const char *a, const char *b)
{
    if (format == CERTO_KS_PEM)
        return strcmp(a, b) == 0;
    if (strcasecmp(a, b) == 0)
        return true;
    /* strcasecmp is the whole answer for ASCII; lower-casing allocates, and readers look up
     * every alias they add, so keep it for the rare non-ASCII alias. */
    if (is_ascii(a) && is_ascii(b))
        return false;
    char *la = lower_utf8(a), *lb = lower_utf8(b);
    bool eq = strcmp(la, lb) == 0;
    certo_free(la);
    certo_free(lb);
    return eq;
}

static struct certo_ks_entry *
find_mut(const struct certo_keystore *ks, const char *alias)
{
    for (size_t i = 0; i < ks->count; i++) {
        if (alias_eq(ks->format, ks->entries[i].alias, alias))
            return &ks->entries[i];
    }
    return NULL;
}

const struct certo_ks_entry *
certo_keystore_find(const struct certo_keystore *ks, const char *alias)
{
    return find_mut(ks, alias);
}

static struct certo_ks_entry *
append_slot(struct certo_keystore *ks)
{
    if (ks->count == ks->cap_) {
        ks->cap_ = ks->cap_ == 0 ? 8 : ks->cap_ * 2;
        ks->entries = certo_reallocarray(ks->entries, ks->cap_, sizeof(*ks->entries));
    }
    struct certo_ks_entry *e = &ks->entries[ks->count++];
    memset(e, 0, sizeof(*e));
    return e;
}

certo_rc
certo_keystore_add_take(struct certo_keystore *ks, enum certo_ks_entry_kind kind, const char *alias,
                        int64_t created_ms, EVP_PKEY *key, STACK_OF(X509) * certs,
                        struct certo_err *err)
{
    certo_rc rc = CERTO_EINTERNAL;

    if (ks->count >= CERTO_KEYSTORE_ENTRIES_MAX) {
        rc = certo_err_set(err, CERTO_ETOOBIG, "pki.keystore", "more than %d entries",
                           CERTO_KEYSTORE_ENTRIES_MAX);
        goto out;
    }
    if (find_mut(ks, alias) != NULL) {
        rc = certo_err_set(err, CERTO_EPARSE, "pki.keystore", "alias '%.64s' appears twice", alias);
        goto out;
    }
    struct certo_ks_entry *e = append_slot(ks);
    e->kind = kind;
    e->alias = certo_strdup(alias);
    e->created_ms = created_ms;
    e->key = key;
    e->certs = certs;
    key = NULL;
    certs = NULL;
    rc = CERTO_OK;
out:
    EVP_PKEY_free(key);
    certo_certs_free(certs);
    return rc;
}

/* Puts a checked entry in place of the one with the same alias, or appends it. */
static certo_rc
put_entry(struct certo_keystore *ks, enum certo_ks_entry_kind kind, const char *alias,
          EVP_PKEY *key, STACK_OF(X509) * certs, int64_t created_ms, struct certo_err *err)
{
    char *norm = NULL;
    certo_rc rc = certo_keystore_alias_check(&norm, ks->format, alias, err);
    if (rc != CERTO_OK)
        return rc;

    struct certo_ks_entry *e = find_mut(ks, norm);
    if (e == NULL && ks->format == CERTO_KS_PEM && kind == CERTO_KS_ENTRY_KEY) {
        for (size_t i = 0; i < ks->count && e == NULL; i++) {
            if (ks->entries[i].kind == CERTO_KS_ENTRY_KEY)
                e = &ks->entries[i];
        }
    }
    if (e == NULL) {
        if (ks->count >= CERTO_KEYSTORE_ENTRIES_MAX) {
            certo_free(norm);
            return certo_err_set(err, CERTO_ETOOBIG, "pki.keystore", "more than %d entries",
                                 CERTO_KEYSTORE_ENTRIES_MAX);
        }
        e = append_slot(ks);
    } else {
        entry_dispose(e);
    }
    e->kind = kind;
    e->alias = norm;
    e->created_ms = created_ms;
    if (key != NULL)
        EVP_PKEY_up_ref(key);
    e->key = key;
    e->certs = certo_certs_dup(certs);
    return CERTO_OK;
}

certo_rc
certo_keystore_put_key(struct certo_keystore *ks, const char *alias, EVP_PKEY *key,
                       STACK_OF(X509) * chain, int64_t created_ms, struct certo_err *err)
{
    certo_rc rc;

    if (key == NULL || chain == NULL || sk_X509_num(chain) < 1)
        return certo_err_set(err, CERTO_EINVAL, "pki.keystore",
                             "a key entry needs a private key and a certificate");
    if (sk_X509_num(chain) > CERTO_CHAIN_MAX)
        return certo_err_set(err, CERTO_ETOOBIG, "pki.keystore",
                             "chain has %d certificates, limit is %d", sk_X509_num(chain),
                             CERTO_CHAIN_MAX);
    if (!certo_cert_matches_key(sk_X509_value(chain, 0), key))
        return certo_err_set(err, CERTO_EINVAL, "pki.keystore",
                             "the private key does not match the certificate");
    rc = certo_chain_check_links(chain, err);
    if (rc != CERTO_OK)
        return rc;
    return put_entry(ks, CERTO_KS_ENTRY_KEY, alias, key, chain, created_ms, err);
}

certo_rc
certo_keystore_put_trusted(struct certo_keystore *ks, const char *alias, X509 *cert,
                           int64_t created_ms, struct certo_err *err)
{
    STACK_OF(X509) *one = sk_X509_new_null();
    certo_rc rc;

    if (one == NULL || sk_X509_push(one, cert) <= 0)
        abort(); /* allocation failure policy (STYLE.md 3.3) */
    rc = put_entry(ks, CERTO_KS_ENTRY_TRUSTED, alias, NULL, one, created_ms, err);
    sk_X509_free(one); /* the entry took its own references */
    return rc;
}

certo_rc
certo_keystore_remove(struct certo_keystore *ks, const char *alias, struct certo_err *err)
{
    struct certo_ks_entry *e = find_mut(ks, alias);
    if (e == NULL)
        return certo_err_set(err, CERTO_ENOTFOUND, "pki.keystore", "no entry with alias '%.64s'",
                             alias);
    entry_dispose(e);
    size_t i = (size_t)(e - ks->entries);
    memmove(e, e + 1, (ks->count - i - 1) * sizeof(*e));
    ks->count--;
    return CERTO_OK;
}

certo_rc
certo_keystore_parse(struct certo_keystore **out, enum certo_ks_format format, const void *data,
                     size_t len, const struct certo_secret *pass, struct certo_err *err)
{
    struct certo_keystore *ks = NULL;
    certo_rc rc = CERTO_EINTERNAL;

    *out = NULL;
    if (len > CERTO_KEYSTORE_MAX) {
        rc = certo_err_set(err, CERTO_ETOOBIG, "pki.keystore", "keystore is %zu bytes, limit is %u",
                           len, CERTO_KEYSTORE_MAX);
        goto out;
    }
    if (format == CERTO_KS_AUTO)
        format = certo_keystore_detect(data, len);
    if (format == CERTO_KS_AUTO) {
        rc = certo_err_set(err, CERTO_EPARSE, "pki.keystore", "not a PEM, PKCS#12 or JKS keystore");
        goto out;
    }
    if (format != CERTO_KS_PEM && pass == NULL) {
        rc = certo_err_set(err, CERTO_EINVAL, "pki.keystore", "a %s keystore needs a password",
                           certo_ks_format_name(format));
        goto out;
    }
    ks = certo_keystore_new(format);
    switch (format) {
    case CERTO_KS_PEM:
        rc = certo_pem_parse(ks, data, len, pass, err);
        break;
    case CERTO_KS_PKCS12:
        rc = certo_pkcs12_parse(ks, data, len, pass, err);
        break;
    case CERTO_KS_JKS:
        rc = certo_jks_parse(ks, data, len, pass, err);
        break;
    case CERTO_KS_AUTO:
        rc = CERTO_EINTERNAL;
        break;
    }
    if (rc != CERTO_OK)
        goto out;
    *out = ks;
    ks = NULL;
out:
    certo_keystore_free(ks);
    return rc;
}

certo_rc
certo_keystore_serialize(struct certo_buf *out, const struct certo_keystore *ks,
                         const struct certo_secret *pass, struct certo_err *err)
{
    if (ks->format != CERTO_KS_PEM && (pass == NULL || certo_secret_len(pass) == 0))
        return certo_err_set(err, CERTO_EINVAL, "pki.keystore",
                             "a %s keystore needs a non-empty password",
                             certo_ks_format_name(ks->format));
    switch (ks->format) {
    case CERTO_KS_PEM:
        return certo_pem_write(out, ks, pass, err);
    case CERTO_KS_PKCS12:
        return certo_pkcs12_write(out, ks, pass, err);
    case CERTO_KS_JKS:
        return certo_jks_write(out, ks, pass, err);
    case CERTO_KS_AUTO:
        break;
    }
    return certo_err_set(err, CERTO_EINTERNAL, "pki.keystore", "keystore without a format");
}

/* The format a file name suggests, for files whose content says nothing (empty). */
static enum certo_ks_format
format_from_name(const char *path)
{
    const char *dot = strrchr(path, '.');
    enum certo_ks_format f = CERTO_KS_AUTO;
    if (dot != NULL && certo_ks_format_parse(&f, dot + 1, NULL) == CERTO_OK)
        return f;
    if (dot != NULL && (strcasecmp(dot, ".crt") == 0 || strcasecmp(dot, ".key") == 0 ||
                        strcasecmp(dot, ".cer") == 0))
        return CERTO_KS_PEM;
    return CERTO_KS_AUTO;
}

certo_rc
certo_keystore_load(struct certo_keystore **out, const char *path, enum certo_ks_format format,
                    const struct certo_secret *pass, struct certo_err *err)
{
    struct certo_buf b;
    certo_rc rc;

    *out = NULL;
    certo_buf_init(&b, CERTO_KEYSTORE_MAX);
    rc = certo_file_read(&b, path);
    if (rc == CERTO_ETOOBIG)
        return certo_err_set(err, rc, "pki.keystore", "%s: larger than the limit of %u bytes", path,
                             CERTO_KEYSTORE_MAX);
    if (rc != CERTO_OK)
        return certo_err_sys(err, rc, "pki.keystore", "%s: cannot read", path);
    if (format == CERTO_KS_AUTO && certo_keystore_detect(b.data, b.len) == CERTO_KS_AUTO)
        format = format_from_name(path);
    rc = certo_keystore_parse(out, format, b.data, b.len, pass, err);
    certo_buf_dispose(&b);
    return rc;
}

certo_rc
certo_keystore_save(const struct certo_keystore *ks, const char *path,
                    const struct certo_secret *pass, struct certo_err *err)
{
    struct certo_buf b;
    certo_rc rc;

    certo_buf_init(&b, CERTO_KEYSTORE_MAX);
    rc = certo_keystore_serialize(&b, ks, pass, err);
    if (rc == CERTO_ETOOBIG)
        rc = certo_err_set(err, rc, "pki.keystore", "keystore would exceed %u bytes",
                           CERTO_KEYSTORE_MAX);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_file_replace(path, b.data, b.len, 0600);
    if (rc != CERTO_OK)
        rc = certo_err_sys(err, rc, "pki.keystore", "%s: cannot write", path);
out:
    /* The serialized bytes hold key material (JKS keys are only obfuscated). */
    if (b.data != NULL)
        OPENSSL_cleanse(b.data, b.len);
    certo_buf_dispose(&b);
    return rc;
}
