/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Java KeyStore codec (pki layer), written from the format notes in REFERENCE.md 1:
 * big-endian framing, modified UTF-8 strings, the Sun KeyProtector (a SHA-1 keystream
 * around a PKCS#8 key) and the "Mighty Aphrodite" SHA-1 digest over the whole file.
 * The reader treats every byte as hostile: lengths are checked against the bytes left
 * before anything is allocated, and nothing in an entry is decoded before the file digest
 * has been verified. Plaintext keys and password bytes never outlive a call uncleared.
 */
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "certo/cert.h"
#include "certo/clock.h"
#include "certo/jks.h"
#include "certo/key.h"
#include "certo/limits.h"
#include "certo/mem.h"
#include "certo/reader.h"
#include "certo/utf8.h"

#define WHERE "pki.jks"

#define JKS_MAGIC       0xfeedfeedu
#define JCEKS_MAGIC     0xcecececeu
#define JKS_TAG_KEY     1u    /* PrivateKeyEntry (REFERENCE.md 1.3) */
#define JKS_TAG_TRUSTED 2u    /* trustedCertEntry (REFERENCE.md 1.4) */
#define SHA1_LEN        20    /* SHA-1 output: file digest, KeyProtector blocks and check */
#define SALT_LEN        20    /* KeyProtector salt, SALT_LEN in Java's KeyProtector */
#define UTF_MAX         65535 /* writeUTF length prefix is 16 bits (REFERENCE.md 1.2) */
#define HEADER_LEN      12    /* magic, version, entry count */

/* JavaSoft "JDKKeyProtector" (REFERENCE.md 1.6). */
#define KEY_PROTECTOR_OID "1.3.6.1.4.1.42.2.17.1.1"

/* Pre-keyed into the whole-file digest by Java (REFERENCE.md 1.7); 16 ASCII bytes. */
static const char whitener[] = "Mighty Aphrodite";

/* The smallest possible encodings, used to refuse counts that cannot fit in the bytes
 * left before looping over them: a trusted entry with an empty alias, type and
 * certificate, and one certificate of a chain. */
#define MIN_ENTRY_V1 (4 + 2 + 8 + 4)
#define MIN_ENTRY_V2 (4 + 2 + 8 + 2 + 4)
#define MIN_CERT_V1  4
#define MIN_CERT_V2  (2 + 4)

/* Writes one UTF-16 code unit the modified UTF-8 way (REFERENCE.md 1.2): U+0000 takes two
 * bytes so that the encoding never contains a zero byte. */
static size_t
mutf8_put_unit(unsigned char *out, uint32_t unit)
{
    if (unit == 0) {
        out[0] = 0xc0;
        out[1] = 0x80;
        return 2;
    }
    return certo_utf8_encode(unit, out);
}

/* Drops what a failed call appended to 'b' after 'len' bytes, so that the caller's buffer
 * is as it was. A buffer that a failed append already released stays empty. */
static void
buf_truncate(struct certo_buf *b, size_t len)
{
    if (b->data == NULL || len > b->len)
        return;
    OPENSSL_cleanse(b->data + len, b->len - len);
    b->len = len;
    b->data[len] = '\0';
}

certo_rc
certo_jks_mutf8_encode(struct certo_buf *out, const char *in, size_t len)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t start = out->len, total = 0;
    certo_rc rc = CERTO_OK;

    /* Validate and size everything first: nothing is appended to a bad string. */
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = certo_utf8_decode(s + i, len - i, &cp);
        if (n == 0)
            return CERTO_EINVAL;
        total += cp == 0 ? 2 : cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 6;
        if (total > UTF_MAX)
            return CERTO_ETOOBIG;
        i += n;
    }
    for (size_t i = 0; i < len && rc == CERTO_OK;) {
        unsigned char enc[6];
        size_t k;
        uint32_t cp;
        i += certo_utf8_decode(s + i, len - i, &cp);
        if (cp >= 0x10000) {
            /* Outside the BMP Java holds a surrogate pair and encodes each half. */
            cp -= 0x10000;
            k = mutf8_put_unit(enc, 0xd800 | (cp >> 10));
            k += mutf8_put_unit(enc + k, 0xdc00 | (cp & 0x3ff));
        } else {
            k = mutf8_put_unit(enc, cp);
        }
        rc = certo_buf_append(out, enc, k);
    }
    if (rc == CERTO_OK)
        rc = certo_buf_append(out, "", 0); /* an empty result is still a string */
    if (rc != CERTO_OK)
        buf_truncate(out, start);
    return rc;
}

/* Reads one code unit of modified UTF-8 (a 1, 2 or 3 byte form); returns its length or
 * 0 if malformed. Java's own reader is laxer (it takes overlong forms and raw zero
 * bytes); a writer following DataOutput never produces them, so we refuse them. */
static size_t
mutf8_next_unit(const unsigned char *s, size_t left, uint32_t *unit)
{
    if (s[0] >= 0x01 && s[0] < 0x80) {
        *unit = s[0];
        return 1;
    }
    if ((s[0] & 0xe0) == 0xc0) {
        if (left < 2 || (s[1] & 0xc0) != 0x80)
            return 0;
        uint32_t v = ((s[0] & 0x1fu) << 6) | (s[1] & 0x3fu);
        if (v < 0x80 && v != 0) /* overlong, except C0 80 for U+0000 */
            return 0;
        *unit = v;
        return 2;
    }
    if ((s[0] & 0xf0) == 0xe0) {
        if (left < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
            return 0;
        uint32_t v = ((s[0] & 0x0fu) << 12) | ((s[1] & 0x3fu) << 6) | (s[2] & 0x3fu);
        if (v < 0x800)
            return 0;
        *unit = v;
        return 3;
    }
    return 0; /* zero byte, stray continuation byte, or a 4-byte UTF-8 form */
}

certo_rc
certo_jks_mutf8_decode(struct certo_buf *out, const unsigned char *in, size_t len)
{
    size_t start = out->len;
    uint32_t high = 0; /* pending high surrogate, 0 if none */
    certo_rc rc = CERTO_OK;

    for (size_t i = 0; i < len && rc == CERTO_OK;) {
        unsigned char enc[4];
        uint32_t unit;
        size_t n = mutf8_next_unit(in + i, len - i, &unit);
        if (n == 0) {
            rc = CERTO_EPARSE;
            break;
        }
        i += n;
        bool is_high = unit >= 0xd800 && unit <= 0xdbff;
        bool is_low = unit >= 0xdc00 && unit <= 0xdfff;
        if (high != 0) {
            /* A pair becomes one 4-byte UTF-8 sequence; half a pair is not text. */
            if (!is_low) {
                rc = CERTO_EPARSE;
                break;
            }
            uint32_t cp = 0x10000 + ((high - 0xd800) << 10) + (unit - 0xdc00);
            high = 0;
            rc = certo_buf_append(out, enc, certo_utf8_encode(cp, enc));
        } else if (is_high) {
            high = unit;
        } else if (is_low) {
            rc = CERTO_EPARSE;
        } else {
            rc = certo_buf_append(out, enc, certo_utf8_encode(unit, enc));
        }
    }
    if (rc == CERTO_OK && high != 0)
        rc = CERTO_EPARSE;
    if (rc == CERTO_OK)
        rc = certo_buf_append(out, "", 0); /* NUL-terminated even when empty */
    if (rc != CERTO_OK)
        buf_truncate(out, start);
    return rc;
}

/*
 * JKS hashes passwords as Java chars, i.e. UTF-16BE code units without BOM or terminator
 * (REFERENCE.md 1.6, 1.8). Prepending a zero to each UTF-8 byte, as some tools do, is only
 * right for Latin-1, so the UTF-8 is decoded properly. The result is a secret: the caller
 * clears it with certo_free_clear(*out, *out_len).
 */
static certo_rc
password_utf16be(unsigned char **out, size_t *out_len, const struct certo_secret *pass,
                 struct certo_err *err)
{
    const unsigned char *s = (const unsigned char *)certo_secret_get0(pass);
    size_t len = certo_secret_len(pass);
    size_t cap = 2 * len + 1; /* every UTF-8 byte yields at most two UTF-16 bytes */
    unsigned char *p = certo_malloc(cap);
    size_t o = 0;
    certo_rc rc = CERTO_EINTERNAL;

    *out = NULL;
    *out_len = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = certo_utf8_decode(s + i, len - i, &cp);
        if (n == 0) {
            rc = certo_err_set(err, CERTO_EINVAL, WHERE, "the keystore password is not UTF-8");
            goto out;
        }
        i += n;
        if (cp >= 0x10000) {
            cp -= 0x10000;
            uint32_t hi = 0xd800 | (cp >> 10), lo = 0xdc00 | (cp & 0x3ff);
            p[o++] = (unsigned char)(hi >> 8);
            p[o++] = (unsigned char)hi;
            cp = lo;
        }
        p[o++] = (unsigned char)(cp >> 8);
        p[o++] = (unsigned char)cp;
    }
    *out = p;
    *out_len = o;
    p = NULL;
    rc = CERTO_OK;
out:
    certo_free_clear(p, cap);
    return rc;
}

/* SHA-1, fetched once per call of the codec. */
struct sha1 {
    EVP_MD *md;      /* owned */
    EVP_MD_CTX *ctx; /* owned */
};

static certo_rc
sha1_open(struct sha1 *h, struct certo_err *err)
{
    h->md = EVP_MD_fetch(NULL, "SHA1", NULL);
    h->ctx = EVP_MD_CTX_new();
    if (h->md == NULL || h->ctx == NULL)
        return certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "SHA-1 is not available");
    return CERTO_OK;
}

static void
sha1_close(struct sha1 *h)
{
    EVP_MD_CTX_free(h->ctx);
    EVP_MD_free(h->md);
    h->ctx = NULL;
    h->md = NULL;
}

/* 'out' = SHA-1('a' || 'b' || 'c'); 'out' may overlap the inputs. */
static certo_rc
sha1_3(struct sha1 *h, unsigned char out[SHA1_LEN], const void *a, size_t an, const void *b,
       size_t bn, const void *c, size_t cn, struct certo_err *err)
{
    if (EVP_DigestInit_ex(h->ctx, h->md, NULL) != 1 || EVP_DigestUpdate(h->ctx, a, an) != 1 ||
        EVP_DigestUpdate(h->ctx, b, bn) != 1 || EVP_DigestUpdate(h->ctx, c, cn) != 1 ||
        EVP_DigestFinal_ex(h->ctx, out, NULL) != 1)
        return certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "SHA-1 failed");
    return CERTO_OK;
}

/*
 * The KeyProtector keystream (REFERENCE.md 1.6): D0 = salt, Di = SHA1(P || Di-1), and
 * 'out' = 'in' XOR (D1 || D2 || ...). XOR makes protecting and recovering the same
 * operation. 'out' and 'in' may be the same buffer.
 */
static certo_rc
keystream_xor(struct sha1 *h, unsigned char *out, const unsigned char *in, size_t n,
              const unsigned char *pw, size_t pwlen, const unsigned char salt[SALT_LEN],
              struct certo_err *err)
{
    unsigned char d[SHA1_LEN];
    certo_rc rc = CERTO_OK;

    memcpy(d, salt, SALT_LEN);
    for (size_t off = 0; off < n && rc == CERTO_OK; off += SHA1_LEN) {
        rc = sha1_3(h, d, pw, pwlen, d, sizeof(d), NULL, 0, err);
        size_t k = n - off < SHA1_LEN ? n - off : SHA1_LEN;
        for (size_t i = 0; i < k && rc == CERTO_OK; i++)
            out[off + i] = in[off + i] ^ d[i];
    }
    OPENSSL_cleanse(d, sizeof(d));
    return rc;
}

/* A new ASN1_OBJECT for the KeyProtector OID, or NULL (OpenSSL error queued). */
static ASN1_OBJECT *
key_protector_oid(void)
{
    return OBJ_txt2obj(KEY_PROTECTOR_OID, 1);
}

/*
 * Recovers the private key of 'alias' from its EncryptedPrivateKeyInfo (REFERENCE.md 1.6):
 * R = salt || E || check; K = E XOR keystream; SHA1(P || K) must equal the check value,
 * compared in constant time. The store password is the key password.
 */
static certo_rc
recover_key(EVP_PKEY **out, struct sha1 *h, const unsigned char *epki, size_t epki_len,
            const unsigned char *pw, size_t pwlen, const char *alias, struct certo_err *err)
{
    const unsigned char *p = epki;
    X509_SIG *sig = NULL;
    ASN1_OBJECT *want = NULL;
    PKCS8_PRIV_KEY_INFO *p8 = NULL;
    unsigned char *plain = NULL;
    size_t n = 0;
    unsigned char check[SHA1_LEN];
    certo_rc rc = CERTO_EINTERNAL;

    *out = NULL;
    sig = d2i_X509_SIG(NULL, &p, (long)epki_len);
    if (sig == NULL || p != epki + epki_len) {
        rc = certo_err_ossl(err, CERTO_EPARSE, WHERE,
                            "corrupt JKS: the protected key of alias '%.64s' is not an "
                            "EncryptedPrivateKeyInfo",
                            alias);
        goto out;
    }
    const X509_ALGOR *alg = NULL;
    const ASN1_OCTET_STRING *data = NULL;
    const ASN1_OBJECT *obj = NULL;
    int ptype = V_ASN1_UNDEF;
    X509_SIG_get0(sig, &alg, &data);
    X509_ALGOR_get0(&obj, &ptype, NULL, alg);
    want = key_protector_oid();
    if (want == NULL) {
        rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot build the KeyProtector OID");
        goto out;
    }
    if (OBJ_cmp(obj, want) != 0) {
        rc = certo_err_set(err, CERTO_EUNSUPPORTED, WHERE,
                           "the key of alias '%.64s' is not protected with the JKS "
                           "KeyProtector",
                           alias);
        goto out;
    }
    /* keytool writes NULL parameters; other writers omit them, which Java accepts. */
    if (ptype != V_ASN1_UNDEF && ptype != V_ASN1_NULL) {
        rc = certo_err_set(err, CERTO_EPARSE, WHERE,
                           "corrupt JKS: unexpected KeyProtector parameters for alias '%.64s'",
                           alias);
        goto out;
    }
    const unsigned char *r = ASN1_STRING_get0_data(data);
    int rlen = ASN1_STRING_length(data);
    if (rlen <= SALT_LEN + SHA1_LEN) {
        rc = certo_err_set(err, CERTO_EPARSE, WHERE,
                           "corrupt JKS: the protected key of alias '%.64s' is too short", alias);
        goto out;
    }
    n = (size_t)rlen - SALT_LEN - SHA1_LEN;
    plain = certo_malloc(n);
    rc = keystream_xor(h, plain, r + SALT_LEN, n, pw, pwlen, r, err);
    if (rc != CERTO_OK)
        goto out;
    rc = sha1_3(h, check, pw, pwlen, plain, n, NULL, 0, err);
    if (rc != CERTO_OK)
        goto out;
    if (CRYPTO_memcmp(check, r + SALT_LEN + n, SHA1_LEN) != 0) {
        rc = certo_err_set(err, CERTO_EAUTH, WHERE, "wrong key password for alias '%.64s'", alias);
        goto out;
    }
    const unsigned char *q = plain;
    p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &q, (long)n);
    if (p8 == NULL || q != plain + n) {
        rc = certo_err_ossl(err, CERTO_EPARSE, WHERE,
                            "corrupt JKS: the key of alias '%.64s' is not PKCS#8", alias);
        goto out;
    }
    *out = EVP_PKCS82PKEY(p8);
    if (*out == NULL) {
        rc = certo_err_ossl(err, CERTO_EUNSUPPORTED, WHERE,
                            "the key of alias '%.64s' cannot be loaded", alias);
        goto out;
    }
    rc = CERTO_OK;
out:
    OPENSSL_cleanse(check, sizeof(check));
    PKCS8_PRIV_KEY_INFO_free(p8);
    certo_free_clear(plain, n);
    ASN1_OBJECT_free(want);
    X509_SIG_free(sig);
    return rc;
}

/* State of one parse. */
struct parser {
    struct certo_rd rd;
    uint32_t version;        /* 1 or 2 */
    struct sha1 h;           /* owned */
    const unsigned char *pw; /* borrowed UTF-16BE password, NULL in the structural pass */
    size_t pwlen;
    struct certo_buf text; /* scratch: the last string read, as UTF-8 */
};

/* Reads a writeUTF string into p->text. Malformed text is a corrupt file. */
static certo_rc
read_utf(struct parser *p, const char *what, uint32_t entry, struct certo_err *err)
{
    uint16_t n = certo_rd_u16be(&p->rd);
    const unsigned char *s = certo_rd_bytes(&p->rd, n);

    certo_buf_reset(&p->text);
    if (s == NULL)
        return certo_err_set(err, CERTO_EPARSE, WHERE, "corrupt JKS: %s of entry %u is truncated",
                             what, entry + 1);
    if (certo_jks_mutf8_decode(&p->text, s, n) != CERTO_OK)
        return certo_err_set(err, CERTO_EPARSE, WHERE,
                             "corrupt JKS: %s of entry %u is not modified UTF-8", what, entry + 1);
    return CERTO_OK;
}

/* Reads an int32 length and that many bytes; the length is bounded by the bytes left. */
static certo_rc
read_blob(struct parser *p, const unsigned char **out, size_t *out_len, const char *what,
          uint32_t entry, struct certo_err *err)
{
    uint32_t n = certo_rd_u32be(&p->rd);

    *out = certo_rd_bytes(&p->rd, n);
    *out_len = n;
    if (*out == NULL)
        return certo_err_set(err, CERTO_EPARSE, WHERE,
                             "corrupt JKS: %s of entry %u is truncated or has a bad length", what,
                             entry + 1);
    return CERTO_OK;
}

/*
 * Reads one certificate of entry 'entry' (type string in version 2 only, REFERENCE.md 1.9).
 * With 'certs' NULL only the framing is checked; otherwise it is decoded and pushed.
 */
static certo_rc
read_cert(struct parser *p, STACK_OF(X509) * certs, const char *alias, uint32_t entry,
          struct certo_err *err)
{
    const unsigned char *der, *q;
    size_t len;
    X509 *x = NULL;
    certo_rc rc = CERTO_EINTERNAL;

    if (p->version == 2) {
        rc = read_utf(p, "a certificate type", entry, err);
        if (rc != CERTO_OK)
            goto out;
        if (certs != NULL && (p->text.len != 5 || memcmp(p->text.data, "X.509", 5) != 0)) {
            rc = certo_err_set(err, CERTO_EUNSUPPORTED, WHERE,
                               "certificate type '%.32s' of alias '%.64s' is not supported",
                               (const char *)p->text.data, alias);
            goto out;
        }
    }
    rc = read_blob(p, &der, &len, "a certificate", entry, err);
    if (rc != CERTO_OK || certs == NULL)
        goto out;
    q = der;
    x = d2i_X509(NULL, &q, (long)len);
    if (x == NULL || q != der + len) {
        rc = certo_err_ossl(err, CERTO_EPARSE, WHERE,
                            "corrupt JKS: certificate %d of alias '%.64s' is not DER X.509",
                            sk_X509_num(certs) + 1, alias);
        goto out;
    }
    if (sk_X509_push(certs, x) <= 0)
        abort(); /* allocation failure policy (STYLE.md 3.3) */
    x = NULL;
    rc = CERTO_OK;
out:
    X509_free(x);
    return rc;
}

/*
 * Reads entry number 'entry'. Without 'ks' (the structural pass) only the framing is
 * checked, so that the digest can be found and verified before anything in the file is
 * trusted (REFERENCE.md 1.11); with 'ks' certificates and keys are decoded and appended.
 */
static certo_rc
read_entry(struct parser *p, uint32_t entry, struct certo_keystore *ks, struct certo_err *err)
{
    char *alias = NULL;
    const unsigned char *epki = NULL;
    size_t epki_len = 0;
    uint32_t nchain = 1;
    STACK_OF(X509) *certs = NULL;
    EVP_PKEY *key = NULL;
    certo_rc rc = CERTO_EINTERNAL;

    uint32_t tag = certo_rd_u32be(&p->rd);
    if (certo_rd_finish(&p->rd) != CERTO_OK) {
        rc = certo_err_set(err, CERTO_EPARSE, WHERE, "corrupt JKS: entry %u is truncated",
                           entry + 1);
        goto out;
    }
    if (tag != JKS_TAG_KEY && tag != JKS_TAG_TRUSTED) {
        /* Tag 3 (secret key) exists only in JCEKS; Java refuses it in JKS too. */
        rc = certo_err_set(err, CERTO_EPARSE, WHERE, "corrupt JKS: entry %u has unknown tag %u",
                           entry + 1, tag);
        goto out;
    }
    rc = read_utf(p, "the alias", entry, err);
    if (rc != CERTO_OK)
        goto out;
    if (ks != NULL) {
        if (strlen((const char *)p->text.data) != p->text.len) {
            rc = certo_err_set(err, CERTO_EUNSUPPORTED, WHERE,
                               "the alias of entry %u contains a NUL character", entry + 1);
            goto out;
        }
        alias = certo_strdup((const char *)p->text.data);
        /* Aliases are printed and used as names: control characters (a forged second
         * line, terminal escapes) are refused like any other malformed content. */
        if (certo_keystore_alias_check(NULL, CERTO_KS_JKS, alias, NULL) != CERTO_OK) {
            rc =
                certo_err_set(err, CERTO_EPARSE, WHERE,
                              "corrupt JKS: the alias of entry %u is not a valid alias", entry + 1);
            goto out;
        }
    }
    int64_t created_ms = (int64_t)certo_rd_u64be(&p->rd);
    if (tag == JKS_TAG_KEY) {
        rc = read_blob(p, &epki, &epki_len, "the protected key", entry, err);
        if (rc != CERTO_OK)
            goto out;
        nchain = certo_rd_u32be(&p->rd);
        size_t min = p->version == 2 ? MIN_CERT_V2 : MIN_CERT_V1;
        if (certo_rd_finish(&p->rd) != CERTO_OK || (uint64_t)nchain * min > p->rd.left) {
            rc = certo_err_set(err, CERTO_EPARSE, WHERE,
                               "corrupt JKS: the chain length of entry %u is truncated or too "
                               "large",
                               entry + 1);
            goto out;
        }
        if (nchain > CERTO_CHAIN_MAX) {
            rc = certo_err_set(err, CERTO_ETOOBIG, WHERE,
                               "entry %u has %u chain certificates, limit is %d", entry + 1, nchain,
                               CERTO_CHAIN_MAX);
            goto out;
        }
    }
    if (ks != NULL) {
        certs = sk_X509_new_null();
        if (certs == NULL)
            abort(); /* allocation failure policy (STYLE.md 3.3) */
    }
    for (uint32_t i = 0; i < nchain; i++) {
        rc = read_cert(p, certs, alias, entry, err);
        if (rc != CERTO_OK)
            goto out;
    }
    if (ks == NULL) {
        rc = CERTO_OK;
        goto out;
    }
    if (tag == JKS_TAG_KEY) {
        /* The format allows an empty chain; keytool never writes one and our model needs
         * the certificate of every key. */
        if (nchain == 0) {
            rc = certo_err_set(err, CERTO_EUNSUPPORTED, WHERE,
                               "key entry '%.64s' has no certificate", alias);
            goto out;
        }
        rc = recover_key(&key, &p->h, epki, epki_len, p->pw, p->pwlen, alias, err);
        if (rc != CERTO_OK)
            goto out;
    }
    rc = certo_keystore_add_take(ks,
                                 tag == JKS_TAG_KEY ? CERTO_KS_ENTRY_KEY : CERTO_KS_ENTRY_TRUSTED,
                                 alias, created_ms, key, certs, err);
    key = NULL;
    certs = NULL;
out:
    EVP_PKEY_free(key);
    certo_certs_free(certs);
    certo_free(alias);
    return rc;
}

/* Removes the entries after the first 'keep', undoing a failed parse. */
static void
drop_entries_after(struct certo_keystore *ks, size_t keep)
{
    while (ks->count > keep) {
        char *alias = certo_strdup(ks->entries[ks->count - 1].alias);
        if (certo_keystore_remove(ks, alias, NULL) != CERTO_OK)
            abort(); /* the alias was just read from the keystore */
        certo_free(alias);
    }
}

certo_rc
certo_jks_parse(struct certo_keystore *ks, const void *data, size_t len,
                const struct certo_secret *pass, struct certo_err *err)
{
    struct parser p = {.h = {NULL, NULL}};
    unsigned char *pw = NULL;
    size_t pwlen = 0, body_len = 0, keep = ks->count;
    unsigned char digest[SHA1_LEN];
    certo_rc rc = CERTO_EINTERNAL;

    certo_buf_init(&p.text, UTF_MAX + 1);
    if (len > CERTO_JKS_MAX) {
        rc = certo_err_set(err, CERTO_ETOOBIG, WHERE, "JKS is %zu bytes, limit is %u", len,
                           CERTO_JKS_MAX);
        goto out;
    }
    if (pass == NULL) {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE, "a JKS keystore needs a password");
        goto out;
    }
    certo_rd_init(&p.rd, data, len);
    uint32_t magic = certo_rd_u32be(&p.rd);
    if (certo_rd_finish(&p.rd) == CERTO_OK && magic == JCEKS_MAGIC) {
        rc = certo_err_set(err, CERTO_EUNSUPPORTED, WHERE, "JCEKS keystores are not supported");
        goto out;
    }
    if (certo_rd_finish(&p.rd) != CERTO_OK || magic != JKS_MAGIC) {
        rc = certo_err_set(err, CERTO_EPARSE, WHERE, "not a JKS keystore (bad magic number)");
        goto out;
    }
    p.version = certo_rd_u32be(&p.rd);
    uint32_t count = certo_rd_u32be(&p.rd);
    if (certo_rd_finish(&p.rd) != CERTO_OK) {
        rc = certo_err_set(err, CERTO_EPARSE, WHERE, "corrupt JKS: truncated header");
        goto out;
    }
    if (p.version != 1 && p.version != 2) {
        rc = certo_err_set(err, CERTO_EPARSE, WHERE, "corrupt JKS: unknown version %u", p.version);
        goto out;
    }
    /* A hostile count (up to 2^32) must fail here, not after looping or allocating. */
    size_t room = p.rd.left > SHA1_LEN ? p.rd.left - SHA1_LEN : 0;
    size_t min = p.version == 2 ? MIN_ENTRY_V2 : MIN_ENTRY_V1;
    if ((uint64_t)count * min > room) {
        rc = certo_err_set(err, CERTO_EPARSE, WHERE,
                           "corrupt JKS: %u entries cannot fit in %zu bytes", count, len);
        goto out;
    }
    if (count > CERTO_KEYSTORE_ENTRIES_MAX) {
        rc = certo_err_set(err, CERTO_ETOOBIG, WHERE, "JKS has %u entries, limit is %d", count,
                           CERTO_KEYSTORE_ENTRIES_MAX);
        goto out;
    }
    for (uint32_t i = 0; i < count; i++) {
        rc = read_entry(&p, i, NULL, err);
        if (rc != CERTO_OK)
            goto out;
    }
    /* Java reads exactly 20 digest bytes and ignores the rest; we refuse the rest. */
    if (p.rd.left != SHA1_LEN) {
        rc = p.rd.left < SHA1_LEN
                 ? certo_err_set(err, CERTO_EPARSE, WHERE,
                                 "corrupt JKS: truncated (the integrity digest is missing)")
                 : certo_err_set(err, CERTO_EPARSE, WHERE,
                                 "corrupt JKS: %zu unexpected bytes after the digest",
                                 p.rd.left - SHA1_LEN);
        goto out;
    }
    body_len = len - SHA1_LEN;

    rc = password_utf16be(&pw, &pwlen, pass, err);
    if (rc != CERTO_OK)
        goto out;
    rc = sha1_open(&p.h, err);
    if (rc != CERTO_OK)
        goto out;
    rc = sha1_3(&p.h, digest, pw, pwlen, whitener, sizeof(whitener) - 1, data, body_len, err);
    if (rc != CERTO_OK)
        goto out;
    if (CRYPTO_memcmp(digest, (const unsigned char *)data + body_len, SHA1_LEN) != 0) {
        rc = certo_err_set(err, CERTO_EAUTH, WHERE,
                           "wrong keystore password (or the file was modified)");
        goto out;
    }

    /* The digest holds: decode for real, over the same bytes. */
    p.pw = pw;
    p.pwlen = pwlen;
    certo_rd_init(&p.rd, (const unsigned char *)data + HEADER_LEN, body_len - HEADER_LEN);
    for (uint32_t i = 0; i < count; i++) {
        rc = read_entry(&p, i, ks, err);
        if (rc != CERTO_OK)
            goto out;
    }
    rc = CERTO_OK;
out:
    if (rc != CERTO_OK)
        drop_entries_after(ks, keep);
    certo_free_clear(pw, pwlen);
    sha1_close(&p.h);
    certo_buf_dispose(&p.text);
    return rc;
}

/* Sticky appender: after the first failed append the others do nothing (STYLE.md 3.4). */
struct writer {
    struct certo_buf *b; /* borrowed output */
    certo_rc rc;         /* CERTO_OK until an append fails */
};

static void
put_u16(struct writer *w, uint16_t v)
{
    if (w->rc == CERTO_OK)
        w->rc = certo_buf_put_u16be(w->b, v);
}

static void
put_u32(struct writer *w, uint32_t v)
{
    if (w->rc == CERTO_OK)
        w->rc = certo_buf_put_u32be(w->b, v);
}

static void
put_u64(struct writer *w, uint64_t v)
{
    if (w->rc == CERTO_OK)
        w->rc = certo_buf_put_u64be(w->b, v);
}

static void
put_bytes(struct writer *w, const void *p, size_t n)
{
    if (w->rc == CERTO_OK)
        w->rc = certo_buf_append(w->b, p, n);
}

/* writeUTF: a 16-bit byte length, then modified UTF-8 (REFERENCE.md 1.2). */
static certo_rc
put_utf(struct writer *w, const char *s, struct certo_err *err)
{
    struct certo_buf enc;
    certo_rc rc;

    certo_buf_init(&enc, UTF_MAX);
    rc = certo_jks_mutf8_encode(&enc, s, strlen(s));
    if (rc != CERTO_OK) {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE,
                           "'%.64s' is not valid UTF-8 or longer than %d bytes in JKS", s, UTF_MAX);
        goto out;
    }
    put_u16(w, (uint16_t)enc.len);
    put_bytes(w, enc.data, enc.len);
    rc = CERTO_OK;
out:
    certo_buf_dispose(&enc);
    return rc;
}

/* Certificate type (version 2) and DER, as in both entry kinds. */
static certo_rc
put_cert(struct writer *w, X509 *x, const char *alias, struct certo_err *err)
{
    unsigned char *der = NULL;
    certo_rc rc;

    int n = i2d_X509(x, &der);
    if (n <= 0)
        return certo_err_ossl(err, CERTO_ECRYPTO, WHERE,
                              "cannot encode a certificate of alias '%.64s'", alias);
    rc = put_utf(w, "X.509", err);
    if (rc == CERTO_OK) {
        put_u32(w, (uint32_t)n);
        put_bytes(w, der, (size_t)n);
    }
    OPENSSL_free(der);
    return rc;
}

/*
 * Protects 'key' with the KeyProtector (REFERENCE.md 1.6) and writes the length-prefixed
 * EncryptedPrivateKeyInfo. The algorithm carries explicit NULL parameters, as keytool
 * writes them.
 */
static certo_rc
put_protected_key(struct writer *w, struct sha1 *h, EVP_PKEY *key, const unsigned char *pw,
                  size_t pwlen, struct certo_err *err)
{
    struct certo_buf p8;
    unsigned char *r = NULL, *epki = NULL;
    size_t n = 0, rlen = 0;
    int elen = 0;
    X509_SIG *sig = NULL;
    ASN1_OBJECT *oid = NULL;
    certo_rc rc = CERTO_EINTERNAL;

    /* The plaintext PKCS#8 lives in a certo_buf, which is wiped when disposed. */
    certo_buf_init(&p8, CERTO_DER_MAX);
    rc = certo_key_to_der(&p8, key, err);
    if (rc != CERTO_OK)
        goto out;
    const unsigned char *plain = p8.data;
    n = p8.len;
    rlen = SALT_LEN + n + SHA1_LEN;
    r = certo_malloc(rlen);
    rc = certo_rand_bytes(r, SALT_LEN);
    if (rc != CERTO_OK) {
        rc = certo_err_ossl(err, rc, WHERE, "no random bytes for the key salt");
        goto out;
    }
    rc = keystream_xor(h, r + SALT_LEN, plain, n, pw, pwlen, r, err);
    if (rc != CERTO_OK)
        goto out;
    rc = sha1_3(h, r + SALT_LEN + n, pw, pwlen, plain, n, NULL, 0, err);
    if (rc != CERTO_OK)
        goto out;

    X509_ALGOR *alg = NULL;
    ASN1_OCTET_STRING *octets = NULL;
    sig = X509_SIG_new();
    oid = key_protector_oid();
    if (sig == NULL || oid == NULL) {
        rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot build EncryptedPrivateKeyInfo");
        goto out;
    }
    X509_SIG_getm(sig, &alg, &octets);
    if (X509_ALGOR_set0(alg, oid, V_ASN1_NULL, NULL) != 1) {
        rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot build EncryptedPrivateKeyInfo");
        goto out;
    }
    oid = NULL; /* owned by 'alg' now */
    if (ASN1_OCTET_STRING_set(octets, r, (int)rlen) != 1) {
        rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot build EncryptedPrivateKeyInfo");
        goto out;
    }
    elen = i2d_X509_SIG(sig, &epki);
    if (elen <= 0) {
        rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot encode EncryptedPrivateKeyInfo");
        goto out;
    }
    put_u32(w, (uint32_t)elen);
    put_bytes(w, epki, (size_t)elen);
    rc = CERTO_OK;
out:
    if (epki != NULL)
        OPENSSL_clear_free(epki, (size_t)elen);
    X509_SIG_free(sig);
    ASN1_OBJECT_free(oid);
    certo_free_clear(r, rlen);
    certo_buf_dispose(&p8);
    return rc;
}

/* Writes one entry (REFERENCE.md 1.3, 1.4). */
static certo_rc
put_entry(struct writer *w, struct sha1 *h, const struct certo_ks_entry *e, const unsigned char *pw,
          size_t pwlen, struct certo_err *err)
{
    char *norm = NULL;
    int ncerts = e->certs != NULL ? sk_X509_num(e->certs) : 0;
    certo_rc rc = CERTO_EINTERNAL;

    /* Java lower-cases aliases on every lookup but not on load: an upper-case alias
     * written by us could never be found by keytool (REFERENCE.md 1.8). */
    rc = certo_keystore_alias_check(&norm, CERTO_KS_JKS, e->alias, err);
    if (rc != CERTO_OK)
        goto out;
    if (strcmp(norm, e->alias) != 0) {
        rc =
            certo_err_set(err, CERTO_EINVAL, WHERE,
                          "JKS alias '%.64s' is not lower case (Java could not find it)", e->alias);
        goto out;
    }
    bool complete = e->kind == CERTO_KS_ENTRY_KEY
                        ? e->key != NULL && ncerts >= 1
                        : e->kind == CERTO_KS_ENTRY_TRUSTED && ncerts == 1;
    if (!complete) {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE,
                           "entry '%.64s' needs a key and a chain, or exactly one certificate",
                           e->alias);
        goto out;
    }
    /* Never write what our own reader would refuse. */
    if (ncerts > CERTO_CHAIN_MAX) {
        rc = certo_err_set(err, CERTO_ETOOBIG, WHERE,
                           "entry '%.64s' has %d chain certificates, limit is %d", e->alias, ncerts,
                           CERTO_CHAIN_MAX);
        goto out;
    }
    int64_t ms = e->created_ms != 0 ? e->created_ms : certo_clock_now_ms();
    put_u32(w, e->kind == CERTO_KS_ENTRY_KEY ? JKS_TAG_KEY : JKS_TAG_TRUSTED);
    rc = put_utf(w, e->alias, err);
    if (rc != CERTO_OK)
        goto out;
    put_u64(w, (uint64_t)ms);
    if (e->kind == CERTO_KS_ENTRY_KEY) {
        rc = put_protected_key(w, h, e->key, pw, pwlen, err);
        if (rc != CERTO_OK)
            goto out;
        put_u32(w, (uint32_t)ncerts);
    }
    for (int i = 0; i < ncerts; i++) {
        rc = put_cert(w, sk_X509_value(e->certs, i), e->alias, err);
        if (rc != CERTO_OK)
            goto out;
    }
    rc = CERTO_OK;
out:
    certo_free(norm);
    return rc;
}

certo_rc
certo_jks_write(struct certo_buf *out, const struct certo_keystore *ks,
                const struct certo_secret *pass, struct certo_err *err)
{
    struct writer w = {.b = out, .rc = CERTO_OK};
    struct sha1 h = {NULL, NULL};
    unsigned char *pw = NULL;
    size_t pwlen = 0, start = out->len;
    unsigned char digest[SHA1_LEN];
    certo_rc rc = CERTO_EINTERNAL;

    if (pass == NULL) {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE, "a JKS keystore needs a password");
        goto out;
    }
    if (ks->count > CERTO_KEYSTORE_ENTRIES_MAX) {
        rc = certo_err_set(err, CERTO_ETOOBIG, WHERE, "%zu entries, limit is %d", ks->count,
                           CERTO_KEYSTORE_ENTRIES_MAX);
        goto out;
    }
    rc = password_utf16be(&pw, &pwlen, pass, err);
    if (rc != CERTO_OK)
        goto out;
    rc = sha1_open(&h, err);
    if (rc != CERTO_OK)
        goto out;
    put_u32(&w, JKS_MAGIC);
    put_u32(&w, 2);
    put_u32(&w, (uint32_t)ks->count);
    for (size_t i = 0; i < ks->count; i++) {
        rc = put_entry(&w, &h, &ks->entries[i], pw, pwlen, err);
        if (rc != CERTO_OK)
            goto out;
    }
    if (w.rc != CERTO_OK) {
        rc = certo_err_set(err, w.rc, WHERE, "JKS output is larger than %zu bytes", out->max);
        goto out;
    }
    rc = sha1_3(&h, digest, pw, pwlen, whitener, sizeof(whitener) - 1, out->data + start,
                out->len - start, err);
    if (rc != CERTO_OK)
        goto out;
    put_bytes(&w, digest, sizeof(digest));
    if (w.rc != CERTO_OK) {
        rc = certo_err_set(err, w.rc, WHERE, "JKS output is larger than %zu bytes", out->max);
        goto out;
    }
    rc = CERTO_OK;
out:
    if (rc != CERTO_OK)
        buf_truncate(out, start);
    certo_free_clear(pw, pwlen);
    sha1_close(&h);
    return rc;
}
