/* SPDX-License-Identifier: Apache-2.0 */
/*
 * X.509 certificates (pki layer): reading PEM bundles and DER, writing, and the report
 * `certo cert inspect` shows. Every string of the report is made safe to print on a
 * terminal and to put in JSON: certificates come from anywhere, and a SAN with a newline
 * or an escape sequence must not forge output.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certo/cert.h"
#include "certo/key.h"
#include "certo/limits.h"
#include "certo/mem.h"
#include "pki/pem_iter.h"

#define WHERE "pki.cert"

static bool
is_cert_block(const char *name)
{
    return strcmp(name, PEM_STRING_X509) == 0 || strcmp(name, PEM_STRING_X509_TRUSTED) == 0 ||
           strcmp(name, PEM_STRING_X509_OLD) == 0;
}

/*
 * Decodes one certificate; every byte must belong to it. "TRUSTED CERTIFICATE" blocks
 * carry OpenSSL's trust settings after the certificate, which d2i_X509_AUX reads.
 */
static X509 *
decode_cert(const unsigned char *der, long len, bool aux)
{
    const unsigned char *p = der;
    X509 *x = aux ? d2i_X509_AUX(NULL, &p, len) : d2i_X509(NULL, &p, len);
    if (x != NULL && p != der + len) {
        X509_free(x);
        x = NULL;
    }
    return x;
}

static certo_rc
push_cert(STACK_OF(X509) * sk, X509 *x, struct certo_err *err)
{
    if (sk_X509_num(sk) >= CERTO_BUNDLE_CERTS_MAX) {
        X509_free(x);
        return certo_err_set(err, CERTO_ETOOBIG, WHERE, "more than %d certificates",
                             CERTO_BUNDLE_CERTS_MAX);
    }
    if (sk_X509_push(sk, x) <= 0) {
        X509_free(x);
        return certo_err_ossl(err, CERTO_ENOMEM, WHERE, "out of memory");
    }
    return CERTO_OK;
}

/* Every CERTIFICATE / TRUSTED CERTIFICATE block of PEM text, other blocks skipped. */
static certo_rc
parse_pem_certs(STACK_OF(X509) * sk, const void *data, size_t len, struct certo_err *err)
{
    struct certo_pem_iter it;
    certo_rc rc = certo_pem__iter_init(&it, data, len, err);

    while (rc == CERTO_OK) {
        rc = certo_pem__iter_next(&it, err);
        if (rc != CERTO_OK || !is_cert_block(it.name))
            continue;
        X509 *x = decode_cert(it.body, it.len, strcmp(it.name, PEM_STRING_X509_TRUSTED) == 0);
        if (x == NULL)
            rc = certo_err_ossl(err, CERTO_EPARSE, WHERE,
                                "PEM block %d (%s) is not a valid certificate", it.index, it.name);
        else
            rc = push_cert(sk, x, err);
    }
    certo_pem__iter_dispose(&it);
    return rc == CERTO_ENOTFOUND ? CERTO_OK : rc;
}

certo_rc
certo_cert_parse_all(STACK_OF(X509) * *out, const void *data, size_t len, struct certo_err *err)
{
    STACK_OF(X509) *sk = NULL;
    certo_rc rc = CERTO_EINTERNAL;

    *out = NULL;
    if (len > CERTO_PEM_MAX)
        return certo_err_set(err, CERTO_ETOOBIG, WHERE,
                             "certificate input is %zu bytes, limit is %u", len, CERTO_PEM_MAX);
    sk = sk_X509_new_null();
    if (sk == NULL) {
        rc = certo_err_ossl(err, CERTO_ENOMEM, WHERE, "out of memory");
        goto out;
    }
    if (certo_pem__looks_like(data, len)) {
        rc = parse_pem_certs(sk, data, len, err);
        if (rc != CERTO_OK)
            goto out;
    } else if (len > CERTO_DER_MAX) {
        rc = certo_err_set(err, CERTO_ETOOBIG, WHERE, "DER certificate is %zu bytes, limit is %u",
                           len, CERTO_DER_MAX);
        goto out;
    } else if (len > 0) {
        X509 *x = decode_cert(data, (long)len, false);
        if (x == NULL) {
            rc =
                certo_err_ossl(err, CERTO_EPARSE, WHERE, "not a certificate (neither PEM nor DER)");
            goto out;
        }
        rc = push_cert(sk, x, err);
        if (rc != CERTO_OK)
            goto out;
    }
    if (sk_X509_num(sk) == 0) {
        rc = certo_err_set(err, CERTO_EPARSE, WHERE, "no certificate found");
        goto out;
    }
    *out = sk;
    sk = NULL;
    rc = CERTO_OK;
out:
    certo_certs_free(sk);
    return rc;
}

certo_rc
certo_cert_parse(X509 **out, const void *data, size_t len, struct certo_err *err)
{
    STACK_OF(X509) *sk = NULL;
    certo_rc rc;

    *out = NULL;
    rc = certo_cert_parse_all(&sk, data, len, err);
    if (rc != CERTO_OK)
        goto out;
    if (sk_X509_num(sk) != 1) {
        rc = certo_err_set(err, CERTO_EPARSE, WHERE, "expected one certificate, found %d",
                           sk_X509_num(sk));
        goto out;
    }
    *out = sk_X509_shift(sk);
    rc = CERTO_OK;
out:
    certo_certs_free(sk);
    return rc;
}

certo_rc
certo_cert_to_pem(struct certo_buf *out, X509 *cert, struct certo_err *err)
{
    BIO *bio = BIO_new(BIO_s_mem());
    certo_rc rc;

    if (bio == NULL || PEM_write_bio_X509(bio, cert) != 1)
        rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot write the certificate");
    else
        rc = certo_pem__bio_to_buf(out, bio, "the certificate", err);
    BIO_free(bio);
    return rc;
}

certo_rc
certo_cert_to_der(struct certo_buf *out, X509 *cert, struct certo_err *err)
{
    unsigned char *der = NULL;
    int n;
    certo_rc rc;

    n = i2d_X509(cert, &der);
    if (n <= 0)
        return certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot encode the certificate");
    rc = certo_buf_append(out, der, (size_t)n);
    OPENSSL_free(der);
    if (rc != CERTO_OK)
        return certo_err_set(err, rc, WHERE, "output buffer limit reached");
    return CERTO_OK;
}

certo_rc
certo_cert_fingerprint(char out[96], X509 *cert, struct certo_err *err)
{
    static const char hex[] = "0123456789ABCDEF";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    out[0] = '\0';
    if (X509_digest(cert, EVP_sha256(), md, &n) != 1 || n != 32)
        return certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot hash the certificate");
    for (unsigned int i = 0; i < n; i++) {
        out[i * 3] = hex[md[i] >> 4];
        out[i * 3 + 1] = hex[md[i] & 0xf];
        out[i * 3 + 2] = i + 1 < n ? ':' : '\0';
    }
    return CERTO_OK;
}

/*
 * A printable copy of 'len' bytes: control characters, DEL and (unless 'utf8') bytes
 * above 0x7F become "\xNN", so the result is safe on a terminal and in JSON. Readers
 * of the report are people, so the rare ambiguity with a literal "\x" is accepted.
 */
static char *
printable(const unsigned char *s, size_t len, bool utf8)
{
    static const char hex[] = "0123456789ABCDEF";
    char *o = certo_malloc(len * 4 + 1);
    size_t j = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = s[i];
        if (c < 0x20 || c == 0x7f || (c >= 0x80 && !utf8)) {
            o[j++] = '\\';
            o[j++] = 'x';
            o[j++] = hex[c >> 4];
            o[j++] = hex[c & 0xf];
        } else {
            o[j++] = (char)c;
        }
    }
    o[j] = '\0';
    return o;
}

/*
 * RFC 2253 text of a name. XN_FLAG_RFC2253 escapes bytes above 0x7F and control
 * characters, so the result is ASCII. A UTF8String holding invalid UTF-8 makes the
 * conversion fail; such names are printed again without conversion (raw bytes, escaped).
 */
char *
certo_cert_name_text(const X509_NAME *name)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *p = NULL;
    char *s;
    long n;

    if (bio == NULL)
        abort(); /* allocation failure policy (STYLE.md 3.3) */
    if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) < 0) {
        ERR_clear_error();
        (void)BIO_reset(bio);
        if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_UTF8_CONVERT) < 0)
            (void)BIO_reset(bio);
    }
    ERR_clear_error();
    n = BIO_get_mem_data(bio, &p);
    s = printable((const unsigned char *)(n > 0 ? p : ""), n > 0 ? (size_t)n : 0, false);
    BIO_free(bio);
    return s;
}

/* The first commonName as printable UTF-8, or NULL. */
static char *
common_name(const X509_NAME *name)
{
    int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    unsigned char *utf8 = NULL;
    char *s;
    int n;

    if (idx < 0)
        return NULL;
    n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx)));
    if (n < 0) {
        ERR_clear_error();
        return NULL;
    }
    s = printable(utf8, (size_t)n, true);
    OPENSSL_free(utf8);
    return s;
}

static char *
serial_hex(X509 *cert)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
    char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
    char *s = certo_strdup(hex != NULL ? hex : "");

    OPENSSL_free(hex);
    BN_free(bn);
    ERR_clear_error();
    return s;
}

static bool
asn1_time(time_t *out, const ASN1_TIME *t)
{
    struct tm tm;

    *out = 0;
    memset(&tm, 0, sizeof(tm));
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1) {
        ERR_clear_error();
        return false;
    }
    *out = timegm(&tm);
    return true;
}

/* One GeneralName as a (type, printable value) pair. */
static void
san_from_gen(struct certo_san *san, const GENERAL_NAME *gn)
{
    const ASN1_STRING *s = NULL;
    const char *type = "other";

    switch (gn->type) {
    case GEN_DNS:
        type = "DNS";
        s = gn->d.dNSName;
        break;
    case GEN_EMAIL:
        type = "email";
        s = gn->d.rfc822Name;
        break;
    case GEN_URI:
        type = "URI";
        s = gn->d.uniformResourceIdentifier;
        break;
    case GEN_IPADD: {
        char text[INET6_ADDRSTRLEN];
        const ASN1_OCTET_STRING *ip = gn->d.iPAddress;
        int af = ip->length == 4 ? AF_INET : ip->length == 16 ? AF_INET6 : 0;
        snprintf(san->type, sizeof(san->type), "IP");
        if (af != 0 && inet_ntop(af, ip->data, text, sizeof(text)) != NULL)
            san->value = certo_strdup(text);
        else
            san->value = printable(ip->data, (size_t)ip->length, false);
        return;
    }
    case GEN_DIRNAME: {
        char *dn = certo_cert_name_text(gn->d.directoryName);
        snprintf(san->type, sizeof(san->type), "other");
        san->value = certo_asprintf("dirName:%s", dn != NULL ? dn : "");
        certo_free(dn);
        return;
    }
    case GEN_RID: {
        char oid[128];
        if (OBJ_obj2txt(oid, sizeof(oid), gn->d.registeredID, 1) < 0)
            oid[0] = '\0';
        snprintf(san->type, sizeof(san->type), "other");
        san->value = certo_asprintf("RID:%s", oid);
        return;
    }
    default:
        snprintf(san->type, sizeof(san->type), "other");
        san->value = certo_strdup(gn->type == GEN_OTHERNAME ? "othername" : "unsupported");
        return;
    }
    snprintf(san->type, sizeof(san->type), "%s", type);
    san->value = printable(ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s), false);
}

static void
read_sans(struct certo_cert_info *info, X509 *cert)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    int n = sk_GENERAL_NAME_num(gens);

    ERR_clear_error();
    if (gens == NULL || n <= 0)
        goto out;
    info->sans = certo_calloc((size_t)n, sizeof(*info->sans));
    for (int i = 0; i < n; i++)
        san_from_gen(&info->sans[info->n_sans++], sk_GENERAL_NAME_value(gens, i));
out:
    GENERAL_NAMES_free(gens);
}

certo_rc
certo_cert_info_get(struct certo_cert_info *info, X509 *cert, struct certo_err *err)
{
    char fp[96];
    EVP_PKEY *pub;
    certo_rc rc = CERTO_EINTERNAL;

    memset(info, 0, sizeof(*info));
    rc = certo_cert_fingerprint(fp, cert, err);
    if (rc != CERTO_OK)
        goto out;
    info->fingerprint = certo_strdup(fp);
    info->subject = certo_cert_name_text(X509_get_subject_name(cert));
    info->issuer = certo_cert_name_text(X509_get_issuer_name(cert));
    if (info->subject == NULL || info->issuer == NULL) {
        rc = certo_err_ossl(err, CERTO_ENOMEM, WHERE, "out of memory");
        goto out;
    }
    info->common_name = common_name(X509_get_subject_name(cert));
    info->serial = serial_hex(cert);
    if (!asn1_time(&info->not_before, X509_get0_notBefore(cert)) ||
        !asn1_time(&info->not_after, X509_get0_notAfter(cert))) {
        rc = certo_err_set(err, CERTO_EPARSE, WHERE, "the certificate's validity is malformed");
        goto out;
    }
    pub = X509_get0_pubkey(cert);
    ERR_clear_error();
    snprintf(info->key_alg, sizeof(info->key_alg), "%s", certo_key_alg_name(pub));
    info->key_bits = certo_key_bits(pub);
    info->is_ca = (X509_get_extension_flags(cert) & EXFLAG_CA) != 0;
    /*
     * Not certo_chain_self_signed: it goes through X509_check_issued, which also wants
     * keyCertSign, and a self-signed server certificate (what `certo cert selfsign`
     * makes) has none. X509_self_signed is the definition cert.h gives: names and key
     * identifiers match and the signature verifies with the certificate's own key.
     */
    info->self_signed = X509_self_signed(cert, 1) == 1;
    ERR_clear_error();
    read_sans(info, cert);
    rc = CERTO_OK;
out:
    if (rc != CERTO_OK)
        certo_cert_info_dispose(info);
    return rc;
}

void
certo_cert_info_dispose(struct certo_cert_info *info)
{
    if (info == NULL)
        return;
    certo_free(info->subject);
    certo_free(info->issuer);
    certo_free(info->common_name);
    certo_free(info->serial);
    certo_free(info->fingerprint);
    for (size_t i = 0; i < info->n_sans; i++)
        certo_free(info->sans[i].value);
    certo_free(info->sans);
    memset(info, 0, sizeof(*info));
}

/*
 * A JSON string literal (RFC 8259 section 7). The report's strings are printable already;
 * this still escapes everything JSON requires, and replaces invalid UTF-8 with U+FFFD so
 * that the document stays valid whatever a certificate holds.
 */
static certo_rc
json_str(struct certo_buf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");
    certo_rc rc = certo_buf_append(b, "\"", 1);

    while (rc == CERTO_OK && *p != '\0') {
        size_t n = 1;
        if (*p == '"' || *p == '\\') {
            rc = certo_buf_printf(b, "\\%c", *p);
        } else if (*p < 0x20 || *p == 0x7f) {
            rc = certo_buf_printf(b, "\\u%04x", *p);
        } else if (*p < 0x80) {
            rc = certo_buf_append(b, p, 1);
        } else {
            /* Length of a well-formed UTF-8 sequence starting here, or 0. */
            size_t want = (*p & 0xe0) == 0xc0   ? 2
                          : (*p & 0xf0) == 0xe0 ? 3
                          : (*p & 0xf8) == 0xf0 ? 4
                                                : 0;
            bool ok = want > 0 && *p != 0xc0 && *p != 0xc1 && *p <= 0xf4;
            for (size_t k = 1; ok && k < want; k++)
                ok = (p[k] & 0xc0) == 0x80;
            if (ok) {
                n = want;
                rc = certo_buf_append(b, p, n);
            } else {
                rc = certo_buf_append_str(b, "\\ufffd");
            }
        }
        p += n;
    }
    if (rc == CERTO_OK)
        rc = certo_buf_append(b, "\"", 1);
    return rc;
}

static certo_rc
json_time(struct certo_buf *b, time_t t)
{
    struct tm tm;
    char text[32];

    if (gmtime_r(&t, &tm) == NULL || strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        text[0] = '\0';
    return json_str(b, text);
}

certo_rc
certo_cert_info_to_json(struct certo_buf *out, const struct certo_cert_info *info)
{
    certo_rc rc;

    rc = certo_buf_append_str(out, "{\"subject\":");
    if (rc == CERTO_OK)
        rc = json_str(out, info->subject);
    if (rc == CERTO_OK)
        rc = certo_buf_append_str(out, ",\"issuer\":");
    if (rc == CERTO_OK)
        rc = json_str(out, info->issuer);
    if (rc == CERTO_OK)
        rc = certo_buf_append_str(out, ",\"common_name\":");
    if (rc == CERTO_OK)
        rc = info->common_name != NULL ? json_str(out, info->common_name)
                                       : certo_buf_append_str(out, "null");
    if (rc == CERTO_OK)
        rc = certo_buf_append_str(out, ",\"serial\":");
    if (rc == CERTO_OK)
        rc = json_str(out, info->serial);
    if (rc == CERTO_OK)
        rc = certo_buf_append_str(out, ",\"not_before\":");
    if (rc == CERTO_OK)
        rc = json_time(out, info->not_before);
    if (rc == CERTO_OK)
        rc = certo_buf_append_str(out, ",\"not_after\":");
    if (rc == CERTO_OK)
        rc = json_time(out, info->not_after);
    if (rc == CERTO_OK)
        rc = certo_buf_append_str(out, ",\"key_type\":");
    if (rc == CERTO_OK)
        rc = json_str(out, info->key_alg);
    if (rc == CERTO_OK)
        rc = certo_buf_printf(out, ",\"key_bits\":%d,\"sha256_fingerprint\":", info->key_bits);
    if (rc == CERTO_OK)
        rc = json_str(out, info->fingerprint);
    if (rc == CERTO_OK)
        rc = certo_buf_printf(out, ",\"is_ca\":%s,\"self_signed\":%s,\"sans\":[",
                              info->is_ca ? "true" : "false", info->self_signed ? "true" : "false");
    for (size_t i = 0; rc == CERTO_OK && i < info->n_sans; i++) {
        rc = certo_buf_append_str(out, i > 0 ? ",{\"type\":" : "{\"type\":");
        if (rc == CERTO_OK)
            rc = json_str(out, info->sans[i].type);
        if (rc == CERTO_OK)
            rc = certo_buf_append_str(out, ",\"value\":");
        if (rc == CERTO_OK)
            rc = json_str(out, info->sans[i].value);
        if (rc == CERTO_OK)
            rc = certo_buf_append_str(out, "}");
    }
    if (rc == CERTO_OK)
        rc = certo_buf_append_str(out, "]}");
    return rc;
}
