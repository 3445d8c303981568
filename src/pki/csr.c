/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Certificate requests and issuing (pki layer): subject and subjectAltName parsing from
 * user text, PKCS#10 CSRs, self-signed certificates and CSR signing for the private CA.
 * What we issue is fixed by policy here, never by the request: only the subject and the
 * subjectAltName of a CSR are copied, so a requester cannot ask for CA:TRUE or odd
 * key usages. Validity comes from certo_clock_now, serials from certo_rand_bytes.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certo/cert.h"
#include "certo/clock.h"
#include "certo/csr.h"
#include "certo/hex.h"
#include "certo/key.h"
#include "certo/limits.h"
#include "certo/mem.h"
#include "pki/pem_iter.h"

#define WHERE "pki.csr"

/* Bytes of one subject attribute value or SAN we accept (X.520 bounds are 64..32768). */
#define VALUE_MAX 1024

/* Attribute names of a subject, as users write them (RFC 4514 section 3, OpenSSL). */
static const struct {
    const char *name;
    int nid;
} subject_attrs[] = {
    {"CN", NID_commonName},
    {"O", NID_organizationName},
    {"OU", NID_organizationalUnitName},
    {"C", NID_countryName},
    {"ST", NID_stateOrProvinceName},
    {"S", NID_stateOrProvinceName},
    {"L", NID_localityName},
    {"STREET", NID_streetAddress},
    {"DC", NID_domainComponent},
    {"UID", NID_userId},
    {"emailAddress", NID_pkcs9_emailAddress},
    {"E", NID_pkcs9_emailAddress},
    {"serialNumber", NID_serialNumber},
    {"title", NID_title},
    {"GN", NID_givenName},
    {"givenName", NID_givenName},
    {"SN", NID_surname},
    {"surname", NID_surname},
    {"initials", NID_initials},
    {"pseudonym", NID_pseudonym},
    {"postalCode", NID_postalCode},
    {"businessCategory", NID_businessCategory},
    {"organizationIdentifier", NID_organizationIdentifier},
    {"jurisdictionC", NID_jurisdictionCountryName},
    {"jurisdictionST", NID_jurisdictionStateOrProvinceName},
    {"jurisdictionL", NID_jurisdictionLocalityName},
};

/* One attribute scanned from the subject text. */
struct rdn_item {
    char *type;  /* owned */
    char *value; /* owned, unescaped UTF-8 */
    bool merge;  /* joined to the previous attribute by '+' (multi-valued RDN) */
};

static void
items_free(struct rdn_item *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        certo_free(items[i].type);
        certo_free(items[i].value);
    }
    certo_free(items);
}

/*
 * Splits the subject into attributes. Two spellings: RFC 4514 ("CN=a,O=b", '+' joins
 * attributes of one RDN, '\' escapes a character or gives two hex digits), and OpenSSL's
 * "/CN=a/O=b" ('\' escapes). Values keep inner spaces; spaces around names and '=' go.
 */
static certo_rc
scan_subject(struct rdn_item **out, size_t *n_out, const char *text, struct certo_err *err)
{
    bool slash = text[0] == '/';
    const char *p = slash ? text + 1 : text;
    size_t len = strlen(text);
    struct rdn_item *items = certo_calloc(len / 2 + 2, sizeof(*items));
    char *val = certo_malloc(len + 1);
    size_t n = 0;
    bool merge = false;
    certo_rc rc = CERTO_EINTERNAL;

    *out = NULL;
    *n_out = 0;
    while (*p != '\0') {
        struct rdn_item *it;
        const char *eq;
        size_t vl = 0, tl;
        while (*p == ' ')
            p++;
        eq = strchr(p, '=');
        tl = eq != NULL ? (size_t)(eq - p) : 0;
        while (tl > 0 && p[tl - 1] == ' ')
            tl--;
        if (eq == NULL || tl == 0 || memchr(p, slash ? '/' : ',', tl) != NULL) {
            rc = certo_err_set(err, CERTO_EINVAL, WHERE, "subject: expected NAME=VALUE at '%.40s'",
                               p);
            goto out;
        }
        it = &items[n++];
        it->type = certo_strndup(p, tl);
        it->merge = merge;
        p = eq + 1;
        while (*p == ' ')
            p++;
        merge = false;
        while (*p != '\0') {
            if (*p == '\\') {
                if (p[1] == '\0') {
                    rc = certo_err_set(err, CERTO_EINVAL, WHERE,
                                       "subject: '\\' at the end of the value of %s", it->type);
                    goto out;
                }
                if (!slash && certo_hex_value(p[1]) >= 0 && p[2] != '\0' &&
                    certo_hex_value(p[2]) >= 0) {
                    val[vl++] = (char)(certo_hex_value(p[1]) * 16 + certo_hex_value(p[2]));
                    p += 3;
                } else {
                    val[vl++] = p[1];
                    p += 2;
                }
                continue;
            }
            if ((slash && *p == '/') || (!slash && (*p == ',' || *p == '+' || *p == ';'))) {
                merge = !slash && *p == '+';
                p++;
                break;
            }
            val[vl++] = *p++;
        }
        while (vl > 0 && val[vl - 1] == ' ')
            vl--;
        it->value = certo_strndup(val, vl);
        if (vl == 0) {
            rc =
                certo_err_set(err, CERTO_EINVAL, WHERE, "subject: %s has an empty value", it->type);
            goto out;
        }
        if (strlen(it->value) != vl) {
            rc = certo_err_set(err, CERTO_EINVAL, WHERE, "subject: %s contains a NUL byte",
                               it->type);
            goto out;
        }
    }
    if (merge) {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE, "subject: '+' at the end");
        goto out;
    }
    *out = items;
    *n_out = n;
    items = NULL;
    n = 0;
    rc = CERTO_OK;
out:
    items_free(items, n);
    certo_free(val);
    return rc;
}

static ASN1_OBJECT *
attr_object(const char *type)
{
    for (size_t i = 0; i < CERTO_ARRAY_LEN(subject_attrs); i++) {
        if (strcasecmp(type, subject_attrs[i].name) == 0)
            return OBJ_nid2obj(subject_attrs[i].nid);
    }
    /* A dotted OID (RFC 4514 section 3 allows them for any attribute). */
    if (isdigit((unsigned char)type[0]) && strspn(type, "0123456789.") == strlen(type))
        return OBJ_txt2obj(type, 1);
    return NULL;
}

/* Builds an X509_NAME from a subject string (empty string: empty name). */
static certo_rc
parse_subject(X509_NAME **out, const char *text, struct certo_err *err)
{
    struct rdn_item *items = NULL;
    size_t n = 0;
    X509_NAME *name = NULL;
    ASN1_OBJECT *obj = NULL;
    certo_rc rc = CERTO_EINTERNAL;
    bool slash = text[0] == '/';

    *out = NULL;
    if (strlen(text) > CERTO_SUBJECT_MAX)
        return certo_err_set(err, CERTO_ETOOBIG, WHERE, "subject is longer than %d bytes",
                             CERTO_SUBJECT_MAX);
    rc = scan_subject(&items, &n, text, err);
    if (rc != CERTO_OK)
        goto out;
    name = X509_NAME_new();
    if (name == NULL) {
        rc = certo_err_ossl(err, CERTO_ENOMEM, WHERE, "out of memory");
        goto out;
    }
    /*
     * RFC 4514 writes the most significant RDN last, so "CN=a,O=b" is stored O first;
     * the slash form is in storage order already (as `openssl req -subj` takes it).
     */
    for (size_t k = 0; k < n; k++) {
        size_t i = slash ? k : n - 1 - k;
        int set = 0;
        obj = attr_object(items[i].type);
        if (obj == NULL) {
            rc = certo_err_set(err, CERTO_EINVAL, WHERE, "subject: unknown attribute '%.40s'",
                               items[i].type);
            goto out;
        }
        /* '+' binds an attribute to the one before it; reversed, to the one after it. */
        if (slash ? items[i].merge : (i + 1 < n && items[i + 1].merge))
            set = -1;
        if (strlen(items[i].value) > VALUE_MAX ||
            X509_NAME_add_entry_by_OBJ(name, obj, MBSTRING_UTF8,
                                       (const unsigned char *)items[i].value, -1, -1, set) != 1) {
            rc = certo_err_ossl(err, CERTO_EINVAL, WHERE,
                                "subject: invalid value for %.40s (wrong length or characters)",
                                items[i].type);
            goto out;
        }
        ASN1_OBJECT_free(obj);
        obj = NULL;
    }
    *out = name;
    name = NULL;
    rc = CERTO_OK;
out:
    ASN1_OBJECT_free(obj);
    X509_NAME_free(name);
    items_free(items, n);
    return rc;
}

/*
 * A host name for a dNSName: LDH labels of 1..63 bytes, not starting or ending with '-',
 * at most 253 bytes, optionally "*." in front (RFC 1034 section 3.5, RFC 5280 4.2.1.6,
 * RFC 6125 6.4.3 for the wildcard).
 */
static bool
valid_dns(const char *s)
{
    size_t total = strlen(s), label = 0;

    if (strncmp(s, "*.", 2) == 0)
        s += 2;
    if (*s == '\0' || total > 253)
        return false;
    for (const char *p = s;; p++) {
        if (*p == '.' || *p == '\0') {
            if (label == 0 || p[-1] == '-')
                return false;
            if (*p == '\0')
                return true;
            label = 0;
            continue;
        }
        if (!isalnum((unsigned char)*p) && *p != '-')
            return false;
        if (label == 0 && *p == '-')
            return false;
        if (++label > 63)
            return false;
    }
}

/* Printable ASCII without spaces: what an email address or URI may hold here. */
static bool
printable_token(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++) {
        if (*s <= 0x20 || *s >= 0x7f)
            return false;
    }
    return true;
}

static bool
valid_email(const char *s)
{
    const char *at = strchr(s, '@');
    return printable_token(s) && at != NULL && at != s && strchr(at + 1, '@') == NULL &&
           valid_dns(at + 1) && strncmp(at + 1, "*.", 2) != 0;
}

/* RFC 3986 section 3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then ':'. */
static bool
valid_uri(const char *s)
{
    const char *p = s;
    if (!printable_token(s) || !isalpha((unsigned char)*p))
        return false;
    while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.')
        p++;
    return *p == ':' && p[1] != '\0';
}

static certo_rc
ia5_name(GENERAL_NAME **out, int type, const char *value)
{
    GENERAL_NAME *gn = GENERAL_NAME_new();
    ASN1_IA5STRING *s = ASN1_IA5STRING_new();

    *out = NULL;
    if (gn == NULL || s == NULL || ASN1_STRING_set(s, value, -1) != 1) {
        GENERAL_NAME_free(gn);
        ASN1_IA5STRING_free(s);
        return certo_err_ossl(NULL, CERTO_ENOMEM, WHERE, "out of memory");
    }
    GENERAL_NAME_set0_value(gn, type, s);
    *out = gn;
    return CERTO_OK;
}

/* One SAN from user text: "DNS:", "IP:", "email:", "URI:" or a bare host name / address. */
static certo_rc
parse_san(GENERAL_NAME **out, const char *text, struct certo_err *err)
{
    unsigned char ip[16];
    const char *colon = strchr(text, ':');
    const char *v = text;
    int kind = 0; /* GEN_* once known */
    int af = 0;
    GENERAL_NAME *gn = NULL;
    certo_rc rc;

    *out = NULL;
    if (strlen(text) > VALUE_MAX)
        return certo_err_set(err, CERTO_EINVAL, WHERE, "SAN longer than %d bytes", VALUE_MAX);
    if (colon != NULL) {
        size_t tl = (size_t)(colon - text);
        if (tl == 3 && strncasecmp(text, "DNS", 3) == 0)
            kind = GEN_DNS;
        else if (tl == 2 && strncasecmp(text, "IP", 2) == 0)
            kind = GEN_IPADD;
        else if (tl == 5 && strncasecmp(text, "email", 5) == 0)
            kind = GEN_EMAIL;
        else if (tl == 3 && strncasecmp(text, "URI", 3) == 0)
            kind = GEN_URI;
        if (kind != 0)
            v = colon + 1;
    }
    if (kind == 0 || kind == GEN_IPADD) {
        if (inet_pton(AF_INET, v, ip) == 1)
            af = AF_INET;
        else if (inet_pton(AF_INET6, v, ip) == 1)
            af = AF_INET6;
        if (af != 0)
            kind = GEN_IPADD;
        else if (kind == GEN_IPADD)
            return certo_err_set(err, CERTO_EINVAL, WHERE, "SAN '%.80s': not an IP address", text);
        else
            kind = GEN_DNS;
    }
    if (kind == GEN_DNS && !valid_dns(v))
        return certo_err_set(err, CERTO_EINVAL, WHERE,
                             "SAN '%.80s': not a valid DNS name (letters, digits, '-', '.'; "
                             "optional leading '*.'), nor a known type DNS:, IP:, email:, URI:",
                             text);
    if (kind == GEN_EMAIL && !valid_email(v))
        return certo_err_set(err, CERTO_EINVAL, WHERE, "SAN '%.80s': not a valid email address",
                             text);
    if (kind == GEN_URI && !valid_uri(v))
        return certo_err_set(err, CERTO_EINVAL, WHERE,
                             "SAN '%.80s': not a valid URI (scheme:rest, no spaces)", text);
    if (kind == GEN_IPADD) {
        ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
        gn = GENERAL_NAME_new();
        if (os == NULL || gn == NULL ||
            ASN1_OCTET_STRING_set(os, ip, af == AF_INET ? 4 : 16) != 1) {
            ASN1_OCTET_STRING_free(os);
            GENERAL_NAME_free(gn);
            return certo_err_ossl(err, CERTO_ENOMEM, WHERE, "out of memory");
        }
        GENERAL_NAME_set0_value(gn, GEN_IPADD, os);
        *out = gn;
        return CERTO_OK;
    }
    rc = ia5_name(&gn, kind, v);
    if (rc != CERTO_OK)
        return certo_err_set(err, rc, WHERE, "out of memory");
    *out = gn;
    return CERTO_OK;
}

/*
 * Builds the subjectAltName extension of 'names' (NULL in *out when there are none). It
 * is critical when the subject is empty (RFC 5280 section 4.2.1.6).
 */
static certo_rc
build_san_ext(X509_EXTENSION **out, const struct certo_names *names, bool empty_subject,
              struct certo_err *err)
{
    GENERAL_NAMES *gens = NULL;
    GENERAL_NAME *gn = NULL;
    X509_EXTENSION *ext = NULL;
    certo_rc rc = CERTO_EINTERNAL;

    *out = NULL;
    if (names->n_sans == 0)
        return CERTO_OK;
    if (names->n_sans > CERTO_SANS_MAX)
        return certo_err_set(err, CERTO_ETOOBIG, WHERE, "%zu SANs, the limit is %d", names->n_sans,
                             CERTO_SANS_MAX);
    gens = GENERAL_NAMES_new();
    if (gens == NULL) {
        rc = certo_err_ossl(err, CERTO_ENOMEM, WHERE, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < names->n_sans; i++) {
        rc = parse_san(&gn, names->sans[i] != NULL ? names->sans[i] : "", err);
        if (rc != CERTO_OK)
            goto out;
        if (sk_GENERAL_NAME_push(gens, gn) <= 0) {
            rc = certo_err_ossl(err, CERTO_ENOMEM, WHERE, "out of memory");
            goto out;
        }
        gn = NULL;
    }
    ext = X509V3_EXT_i2d(NID_subject_alt_name, empty_subject ? 1 : 0, gens);
    if (ext == NULL) {
        rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot encode the SANs");
        goto out;
    }
    *out = ext;
    rc = CERTO_OK;
out:
    GENERAL_NAME_free(gn);
    GENERAL_NAMES_free(gens);
    return rc;
}

/* The subject and SAN extension of 'names'; one of them must be non-empty. */
static certo_rc
names_build(X509_NAME **name_out, X509_EXTENSION **san_out, const struct certo_names *names,
            struct certo_err *err)
{
    const char *subject = names->subject != NULL ? names->subject : "";
    X509_NAME *name = NULL;
    X509_EXTENSION *san = NULL;
    certo_rc rc;

    *name_out = NULL;
    *san_out = NULL;
    rc = parse_subject(&name, subject, err);
    if (rc != CERTO_OK)
        goto out;
    if (X509_NAME_entry_count(name) == 0 && names->n_sans == 0) {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE,
                           "the subject is empty and there are no SANs: give at least one");
        goto out;
    }
    rc = build_san_ext(&san, names, X509_NAME_entry_count(name) == 0, err);
    if (rc != CERTO_OK)
        goto out;
    *name_out = name;
    *san_out = san;
    name = NULL;
    san = NULL;
out:
    X509_NAME_free(name);
    X509_EXTENSION_free(san);
    return rc;
}

/*
 * The digest for signing with 'key': SHA-384 on P-384 (NIST SP 800-57 pairs hash and
 * curve strength), SHA-512 on P-521, none for EdDSA (it hashes internally, RFC 8032),
 * SHA-256 otherwise.
 */
static const EVP_MD *
sign_md(EVP_PKEY *key)
{
    int id = EVP_PKEY_get_base_id(key);
    if (id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448)
        return NULL;
    if (id == EVP_PKEY_EC && EVP_PKEY_get_bits(key) > 256)
        return EVP_PKEY_get_bits(key) > 384 ? EVP_sha512() : EVP_sha384();
    return EVP_sha256();
}

certo_rc
certo_csr_new(X509_REQ **out, EVP_PKEY *key, const struct certo_names *names, struct certo_err *err)
{
    X509_REQ *req = NULL;
    X509_NAME *name = NULL;
    X509_EXTENSION *san = NULL;
    STACK_OF(X509_EXTENSION) *exts = NULL;
    certo_rc rc;

    *out = NULL;
    rc = names_build(&name, &san, names, err);
    if (rc != CERTO_OK)
        goto out;
    rc = CERTO_ECRYPTO;
    req = X509_REQ_new();
    if (req == NULL || X509_REQ_set_version(req, X509_REQ_VERSION_1) != 1 ||
        X509_REQ_set_subject_name(req, name) != 1 || X509_REQ_set_pubkey(req, key) != 1) {
        rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot build the request");
        goto out;
    }
    if (san != NULL) {
        exts = sk_X509_EXTENSION_new_null();
        if (exts == NULL || sk_X509_EXTENSION_push(exts, san) <= 0 ||
            X509_REQ_add_extensions(req, exts) != 1) {
            rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot add the SANs");
            goto out;
        }
    }
    if (X509_REQ_sign(req, key, sign_md(key)) <= 0) {
        rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot sign the request");
        goto out;
    }
    *out = req;
    req = NULL;
    rc = CERTO_OK;
out:
    sk_X509_EXTENSION_free(exts);
    X509_EXTENSION_free(san);
    X509_NAME_free(name);
    X509_REQ_free(req);
    return rc;
}

/* Finds the first CERTIFICATE REQUEST block of PEM text. */
static certo_rc
pem_find_req(X509_REQ **out, const void *data, size_t len, struct certo_err *err)
{
    struct certo_pem_iter it;
    certo_rc rc = certo_pem__iter_init(&it, data, len, err);

    *out = NULL;
    while (rc == CERTO_OK) {
        rc = certo_pem__iter_next(&it, err);
        if (rc != CERTO_OK || (strcmp(it.name, PEM_STRING_X509_REQ) != 0 &&
                               strcmp(it.name, PEM_STRING_X509_REQ_OLD) != 0))
            continue;
        const unsigned char *p = it.body;
        X509_REQ *req = d2i_X509_REQ(NULL, &p, it.len);
        if (req == NULL || p != it.body + it.len) {
            X509_REQ_free(req);
            rc = certo_err_ossl(err, CERTO_EPARSE, WHERE,
                                "PEM block %d is not a valid certificate request", it.index);
            break;
        }
        *out = req;
        break;
    }
    certo_pem__iter_dispose(&it);
    if (rc == CERTO_ENOTFOUND)
        rc = certo_err_set(err, CERTO_EPARSE, WHERE, "no certificate request found");
    return rc;
}

certo_rc
certo_csr_parse(X509_REQ **out, const void *data, size_t len, struct certo_err *err)
{
    X509_REQ *req = NULL;
    EVP_PKEY *pub;
    certo_rc rc = CERTO_EINTERNAL;

    *out = NULL;
    if (len > CERTO_PEM_MAX)
        return certo_err_set(err, CERTO_ETOOBIG, WHERE, "CSR input is %zu bytes, limit is %u", len,
                             CERTO_PEM_MAX);
    if (len == 0)
        return certo_err_set(err, CERTO_EPARSE, WHERE, "empty CSR input");
    if (certo_pem__looks_like(data, len)) {
        rc = pem_find_req(&req, data, len, err);
        if (rc != CERTO_OK)
            goto out;
    } else {
        const unsigned char *p = data;
        if (len > CERTO_DER_MAX) {
            rc = certo_err_set(err, CERTO_ETOOBIG, WHERE, "DER CSR is %zu bytes, limit is %u", len,
                               CERTO_DER_MAX);
            goto out;
        }
        req = d2i_X509_REQ(NULL, &p, (long)len);
        if (req == NULL || p != (const unsigned char *)data + len) {
            rc = certo_err_ossl(err, CERTO_EPARSE, WHERE,
                                "not a certificate request (neither PEM nor DER)");
            goto out;
        }
    }
    pub = X509_REQ_get0_pubkey(req);
    if (pub == NULL) {
        rc = certo_err_ossl(err, CERTO_EPARSE, WHERE, "the CSR's public key is unsupported");
        goto out;
    }
    if (X509_REQ_verify(req, pub) != 1) {
        rc = certo_err_ossl(err, CERTO_EAUTH, WHERE, "the CSR's signature does not verify");
        goto out;
    }
    *out = req;
    req = NULL;
    rc = CERTO_OK;
out:
    X509_REQ_free(req);
    return rc;
}

certo_rc
certo_csr_to_pem(struct certo_buf *out, X509_REQ *req, struct certo_err *err)
{
    BIO *bio = BIO_new(BIO_s_mem());
    certo_rc rc;

    if (bio == NULL || PEM_write_bio_X509_REQ(bio, req) != 1)
        rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot write the request");
    else
        rc = certo_pem__bio_to_buf(out, bio, "the request", err);
    BIO_free(bio);
    return rc;
}

static certo_rc
check_opts(const struct certo_sign_opts *opts, struct certo_err *err)
{
    if (opts->days < 1 || opts->days > CERTO_VALIDITY_DAYS_MAX)
        return certo_err_set(err, CERTO_EINVAL, WHERE, "validity must be 1 to %d days, not %d",
                             CERTO_VALIDITY_DAYS_MAX, opts->days);
    if (opts->path_len < -1 || (opts->path_len >= 0 && !opts->is_ca))
        return certo_err_set(err, CERTO_EINVAL, WHERE,
                             "a path length is only valid for a CA certificate");
    return CERTO_OK;
}

/*
 * A random positive 128-bit serial (RFC 5280 section 4.1.2.2: at most 20 octets,
 * positive; CA/B Forum BR 7.1: at least 64 random bits). The top bit is cleared so the
 * DER INTEGER needs no sign octet, and the next one set so it is always 16 octets.
 */
static certo_rc
set_serial(X509 *x, struct certo_err *err)
{
    unsigned char b[16];
    BIGNUM *bn = NULL;
    ASN1_INTEGER *ai = NULL;
    certo_rc rc = CERTO_EINTERNAL;

    if (certo_rand_bytes(b, sizeof(b)) != CERTO_OK) {
        rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "no random serial number");
        goto out;
    }
    b[0] = (unsigned char)((b[0] & 0x7f) | 0x40);
    bn = BN_bin2bn(b, (int)sizeof(b), NULL);
    ai = bn != NULL ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
    if (ai == NULL || X509_set_serialNumber(x, ai) != 1) {
        rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot set the serial number");
        goto out;
    }
    rc = CERTO_OK;
out:
    ASN1_INTEGER_free(ai);
    BN_free(bn);
    return rc;
}

static certo_rc
add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value, struct certo_err *err)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    int ok = ext != NULL && X509_add_ext(x, ext, -1) == 1;

    X509_EXTENSION_free(ext);
    if (!ok)
        return certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot add extension %s",
                              OBJ_nid2sn(nid));
    return CERTO_OK;
}

/* Issuing policy: the extensions every certificate we sign carries. */
static certo_rc
add_policy_exts(X509 *x, X509 *issuer, const struct certo_sign_opts *opts, EVP_PKEY *subject_key,
                struct certo_err *err)
{
    X509V3_CTX ctx;
    char bc[64];
    certo_rc rc;

    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    if (opts->is_ca && opts->path_len >= 0)
        snprintf(bc, sizeof(bc), "critical,CA:TRUE,pathlen:%d", opts->path_len);
    else
        snprintf(bc, sizeof(bc), "critical,CA:%s", opts->is_ca ? "TRUE" : "FALSE");
    rc = add_ext(x, &ctx, NID_basic_constraints, bc, err);
    if (rc == CERTO_OK && opts->is_ca)
        rc = add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign", err);
    /* keyEncipherment only where it means something: RSA key transport (RFC 5246 7.4.7.1). */
    if (rc == CERTO_OK && !opts->is_ca)
        rc = add_ext(x, &ctx, NID_key_usage,
                     EVP_PKEY_get_base_id(subject_key) == EVP_PKEY_RSA
                         ? "critical,digitalSignature,keyEncipherment"
                         : "critical,digitalSignature",
                     err);
    if (rc == CERTO_OK && !opts->is_ca)
        rc = add_ext(x, &ctx, NID_ext_key_usage, "serverAuth,clientAuth", err);
    if (rc == CERTO_OK)
        rc = add_ext(x, &ctx, NID_subject_key_identifier, "hash", err);
    /* For a self-signed certificate 'issuer' is 'x', whose SKI was just added. */
    if (rc == CERTO_OK)
        rc = add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always", err);
    return rc;
}

static time_t
asn1_to_time(const ASN1_TIME *t)
{
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    if (ASN1_TIME_to_tm(t, &tm) != 1) {
        ERR_clear_error();
        return 0;
    }
    return timegm(&tm);
}

/*
 * Issues a certificate for 'subject_key' named 'name' with the optional SAN extension,
 * signed by 'sign_key' as 'issuer' (NULL: self-signed). notAfter is clipped to the
 * issuer's own notAfter, so no certificate outlives its CA.
 */
static certo_rc
issue(X509 **out, X509_NAME *name, X509_EXTENSION *san, EVP_PKEY *subject_key, X509 *issuer,
      EVP_PKEY *sign_key, const struct certo_sign_opts *opts, struct certo_err *err)
{
    X509 *x = NULL;
    time_t now = certo_clock_now();
    time_t not_after = now + (time_t)opts->days * 86400;
    certo_rc rc = CERTO_EINTERNAL;

    *out = NULL;
    x = X509_new();
    if (x == NULL || X509_set_version(x, X509_VERSION_3) != 1 ||
        X509_set_subject_name(x, name) != 1 ||
        X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : name) != 1 ||
        X509_set_pubkey(x, subject_key) != 1 ||
        ASN1_TIME_set(X509_getm_notBefore(x), now) == NULL) {
        rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot build the certificate");
        goto out;
    }
    if (issuer != NULL && not_after > asn1_to_time(X509_get0_notAfter(issuer))) {
        if (X509_set1_notAfter(x, X509_get0_notAfter(issuer)) != 1) {
            rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot set the validity");
            goto out;
        }
    } else if (ASN1_TIME_set(X509_getm_notAfter(x), not_after) == NULL) {
        rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot set the validity");
        goto out;
    }
    rc = set_serial(x, err);
    if (rc != CERTO_OK)
        goto out;
    rc = add_policy_exts(x, issuer != NULL ? issuer : x, opts, subject_key, err);
    if (rc != CERTO_OK)
        goto out;
    if (san != NULL && X509_add_ext(x, san, -1) != 1) {
        rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot add the SANs");
        goto out;
    }
    if (X509_sign(x, sign_key, sign_md(sign_key)) <= 0) {
        rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot sign the certificate");
        goto out;
    }
    *out = x;
    x = NULL;
    rc = CERTO_OK;
out:
    X509_free(x);
    return rc;
}

certo_rc
certo_cert_selfsign(X509 **out, EVP_PKEY *key, const struct certo_names *names,
                    const struct certo_sign_opts *opts, struct certo_err *err)
{
    X509_NAME *name = NULL;
    X509_EXTENSION *san = NULL;
    certo_rc rc;

    *out = NULL;
    rc = check_opts(opts, err);
    if (rc != CERTO_OK)
        goto out;
    rc = names_build(&name, &san, names, err);
    if (rc != CERTO_OK)
        goto out;
    rc = issue(out, name, san, key, NULL, key, opts, err);
out:
    X509_EXTENSION_free(san);
    X509_NAME_free(name);
    return rc;
}

/* The CA certificate may issue what 'opts' asks for, with 'ca_key', today. */
static certo_rc
check_ca(X509 *ca_cert, EVP_PKEY *ca_key, const struct certo_sign_opts *opts, struct certo_err *err)
{
    long pathlen;

    if ((X509_get_extension_flags(ca_cert) & EXFLAG_CA) == 0)
        return certo_err_set(err, CERTO_EINVAL, WHERE,
                             "the CA certificate is not a CA (no basicConstraints CA:TRUE)");
    if ((X509_get_key_usage(ca_cert) & KU_KEY_CERT_SIGN) == 0)
        return certo_err_set(err, CERTO_EINVAL, WHERE,
                             "the CA certificate's key usage does not allow keyCertSign");
    if (!certo_cert_matches_key(ca_cert, ca_key)) {
        ERR_clear_error();
        return certo_err_set(err, CERTO_EINVAL, WHERE,
                             "the CA key does not match the CA certificate");
    }
    if (certo_clock_now() >= asn1_to_time(X509_get0_notAfter(ca_cert)))
        return certo_err_set(err, CERTO_EINVAL, WHERE, "the CA certificate has expired");
    pathlen = X509_get_pathlen(ca_cert);
    if (opts->is_ca && pathlen == 0)
        return certo_err_set(err, CERTO_EINVAL, WHERE,
                             "the CA certificate has pathlen 0: it may not issue CA certificates");
    if (opts->is_ca && pathlen > 0 && opts->path_len > pathlen - 1)
        return certo_err_set(err, CERTO_EINVAL, WHERE,
                             "path length %d is more than the CA's pathlen %ld allows",
                             opts->path_len, pathlen);
    return CERTO_OK;
}

certo_rc
certo_csr_sign(X509 **out, X509_REQ *req, X509 *ca_cert, EVP_PKEY *ca_key,
               const struct certo_sign_opts *opts, struct certo_err *err)
{
    STACK_OF(X509_EXTENSION) *exts = NULL;
    X509_EXTENSION *san = NULL;
    EVP_PKEY *pub;
    certo_rc rc;

    *out = NULL;
    rc = check_opts(opts, err);
    if (rc != CERTO_OK)
        goto out;
    rc = check_ca(ca_cert, ca_key, opts, err);
    if (rc != CERTO_OK)
        goto out;
    pub = X509_REQ_get0_pubkey(req);
    if (pub == NULL || X509_REQ_verify(req, pub) != 1) {
        rc = certo_err_ossl(err, CERTO_EAUTH, WHERE, "the CSR's signature does not verify");
        goto out;
    }
    exts = X509_REQ_get_extensions(req);
    ERR_clear_error();
    for (int i = 0; i < sk_X509_EXTENSION_num(exts); i++) {
        X509_EXTENSION *e = sk_X509_EXTENSION_value(exts, i);
        if (OBJ_obj2nid(X509_EXTENSION_get_object(e)) == NID_subject_alt_name) {
            san = e;
            break;
        }
    }
    if (X509_NAME_entry_count(X509_REQ_get_subject_name(req)) == 0 && san == NULL) {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE,
                           "the CSR has neither a subject nor subjectAltNames");
        goto out;
    }
    rc = issue(out, X509_REQ_get_subject_name(req), san, pub, ca_cert, ca_key, opts, err);
out:
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    return rc;
}
