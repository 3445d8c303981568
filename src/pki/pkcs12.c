/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PKCS#12 codec (pki layer): reads every entry of a PFX (private keys with their chains,
 * Java trusted certificates, aliases from friendlyName) into the keystore model, and writes
 * the model back as one PFX in the modern or a legacy profile (REFERENCE.md 2). The MAC is
 * checked before anything is decrypted, and every iteration count is bounded before it is
 * spent. Legacy algorithms run in a private OpenSSL library context; the legacy provider is
 * never loaded into the default one (REFERENCE.md 2.3).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pkcs12.h>
#include <openssl/pkcs7.h>
#include <openssl/provider.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certo/cert.h"
#include "certo/chain.h"
#include "certo/clock.h"
#include "certo/limits.h"
#include "certo/mem.h"
#include "certo/pkcs12.h"

#define WHERE "pki.pkcs12"

#define P12_ITER_DEFAULT 2048 /* PKCS12_DEFAULT_ITER of OpenSSL 3.0 (REFERENCE.md 2.2) */
/*
 * Bounds on what a file may make us compute. A PFX names its own iteration counts, so a
 * few hundred bytes could otherwise ask for hours of PBKDF2. P12_ITER_MAX is per use and
 * matches the CLI's --iter ceiling; P12_WORK_MAX bounds the sum over the MAC and every
 * decryption of one file. Fuzz builds use small bounds so that a mutated count cannot
 * stall the fuzzer (the seeds use 2048 and 10000).
 */
#ifdef CERTO_FUZZING
#define P12_ITER_MAX 20000
#define P12_WORK_MAX 200000L
#else
#define P12_ITER_MAX 10000000
#define P12_WORK_MAX (1L << 28)
#endif
#define P12_NEST_MAX    4 /* depth of nested safeContents bags */
#define P12_BAGS_MAX    (CERTO_KEYSTORE_ENTRIES_MAX * (CERTO_CHAIN_MAX + 1))
#define P12_SALT_MODERN 16 /* bytes of PBKDF2 and MAC salt */
#define P12_SALT_LEGACY 8  /* what `openssl pkcs12 -legacy` and old Windows write */
#define P12_KEYID_LEN   20 /* localKeyID: SHA-1 of the leaf, as OpenSSL writes it */

/* Oracle's "trusted key usage" bag attribute, 2.16.840.1.113894.746875.1.1, DER contents:
 * Java turns a certificate bag into a trustedCertEntry only if it carries it
 * (REFERENCE.md 2.4). OpenSSL 3.0 has no NID for it. */
static const char java_trust_txt[] = "2.16.840.1.113894.746875.1.1";
static const unsigned char java_trust_der[] = {0x60, 0x86, 0x48, 0x01, 0x86, 0xf9,
                                               0x66, 0xad, 0xca, 0x7b, 0x01, 0x01};

/* ---- The legacy library context ---- */

static pthread_once_t legacy_once = PTHREAD_ONCE_INIT;
/* Owned for the life of the process (OpenSSL frees it at exit); NULL if the legacy
 * provider could not be loaded. */
static OSSL_LIB_CTX *legacy_libctx;

static void
legacy_init(void)
{
    OSSL_LIB_CTX *ctx = OSSL_LIB_CTX_new();

    if (ctx == NULL)
        return;
    /* Both providers: the legacy one has only the old ciphers, the PKCS#12 KDF and the
     * digests come from the default one. */
    if (OSSL_PROVIDER_load(ctx, "legacy") == NULL || OSSL_PROVIDER_load(ctx, "default") == NULL) {
        OSSL_LIB_CTX_free(ctx);
        return;
    }
    legacy_libctx = ctx;
}

/* The legacy context, created on first use: most processes never need it, and loading a
 * provider module costs more than a whole modern PKCS#12 export. */
static certo_rc
legacy_ctx(OSSL_LIB_CTX **out, struct certo_err *err)
{
    *out = NULL;
    if (pthread_once(&legacy_once, legacy_init) != 0 || legacy_libctx == NULL)
        return certo_err_ossl(err, CERTO_EUNSUPPORTED, WHERE,
                              "legacy PKCS#12 algorithm, and the OpenSSL legacy provider "
                              "cannot be loaded");
    *out = legacy_libctx;
    return CERTO_OK;
}

static const char *
nid_name(int nid)
{
    const char *sn = nid == NID_undef ? NULL : OBJ_nid2sn(nid);
    return sn != NULL ? sn : "(unknown)";
}

static bool
cipher_in(OSSL_LIB_CTX *ctx, int nid)
{
    const char *sn = nid == NID_undef ? NULL : OBJ_nid2sn(nid);
    EVP_CIPHER *c;

    if (sn == NULL)
        return false;
    ERR_set_mark();
    c = EVP_CIPHER_fetch(ctx, sn, NULL);
    ERR_pop_to_mark();
    EVP_CIPHER_free(c);
    return c != NULL;
}

/* ---- Reading ---- */

/* One key or certificate bag, in file order. */
struct p12_bag {
    X509 *cert;           /* owned; certificate bags */
    EVP_PKEY *key;        /* owned; key bags (moved to the entry once paired) */
    char *name;           /* owned friendlyName if it is a usable alias, else NULL */
    unsigned char *keyid; /* owned localKeyID, NULL if absent */
    size_t keyid_len;     /* bytes of keyid */
    bool trusted;         /* carries the Java trust attribute */
    bool used;            /* certificate: part of some key entry's chain */
    int64_t created_ms;   /* from a Java "Time <ms>" localKeyID, else 0 */
};

struct p12_reader {
    const char *pass;     /* borrowed; NULL for the absent password */
    int passlen;          /* bytes of pass */
    bool has_mac;         /* the MAC was present and verified */
    long work;            /* iterations spent so far, bounded by P12_WORK_MAX */
    long max_iter;        /* highest iteration count met */
    bool legacy_pbe;      /* a safe or key used a PKCS#12 (or PKCS#5 v1) PBE */
    bool rc2;             /* ... with RC2 */
    struct p12_bag *bags; /* owned array, file order */
    size_t n;             /* bags used */
    size_t cap;           /* bags allocated */
    size_t keys;          /* key bags among them */
    /* The last PBKDF2 result of pbes2_fast and what it was derived from. */
    bool kc_valid;             /* kc_key holds a result */
    unsigned char kc_salt[64]; /* salt bytes */
    int kc_saltlen;            /* bytes of kc_salt */
    long kc_iter;              /* iterations */
    int kc_md;                 /* PRF digest NID */
    int kc_keylen;             /* bytes of kc_key used */
    unsigned char kc_key[32];  /* derived key; wiped in reader_dispose */
};

static void
reader_dispose(struct p12_reader *r)
{
    for (size_t i = 0; i < r->n; i++) {
        struct p12_bag *b = &r->bags[i];
        X509_free(b->cert);
        EVP_PKEY_free(b->key);
        certo_free(b->name);
        certo_free(b->keyid);
    }
    certo_free(r->bags);
    r->bags = NULL;
    r->n = r->cap = 0;
    OPENSSL_cleanse(r->kc_key, sizeof(r->kc_key));
    r->kc_valid = false;
}

static certo_rc
spend(struct p12_reader *r, long iter, const char *what, struct certo_err *err)
{
    if (iter < 1) /* ASN1_INTEGER_get may have queued "too large" */
        return certo_err_ossl(err, CERTO_EPARSE, WHERE, "corrupt PKCS#12: %s iteration count",
                              what);
    if (iter > P12_ITER_MAX)
        return certo_err_set(err, CERTO_ETOOBIG, WHERE,
                             "%s iteration count %ld is above the limit of %d", what, iter,
                             P12_ITER_MAX);
    if (iter > P12_WORK_MAX - r->work)
        return certo_err_set(err, CERTO_ETOOBIG, WHERE,
                             "the PKCS#12 asks for more than %ld iterations in total",
                             (long)P12_WORK_MAX);
    r->work += iter;
    if (iter > r->max_iter)
        r->max_iter = iter;
    return CERTO_OK;
}

/*
 * A PFX states its version (3) outside the MAC; we insist on it so that no byte of a
 * file we accept can change without being noticed. Called after d2i_PKCS12 succeeded,
 * so the outer SEQUENCE header is well-formed (DER, or BER with indefinite length).
 */
static bool
pfx_version_ok(const unsigned char *p, size_t len)
{
    size_t i = 2;

    if (len < 5 || p[0] != 0x30)
        return false;
    if (p[1] > 0x80)
        i += p[1] & 0x7f;
    return i + 3 <= len && p[i] == 0x02 && p[i + 1] == 0x01 && p[i + 2] == 0x03;
}

static certo_rc
check_mac(struct p12_reader *r, PKCS12 *p12, struct certo_err *err)
{
    const ASN1_OCTET_STRING *mac = NULL, *salt = NULL;
    const X509_ALGOR *alg = NULL;
    const ASN1_INTEGER *iter = NULL;
    const ASN1_OBJECT *obj = NULL;
    int ptype = V_ASN1_UNDEF, nid;
    certo_rc rc;

    PKCS12_get0_mac(&mac, &alg, &salt, &iter, p12);
    if (alg == NULL || mac == NULL)
        return certo_err_set(err, CERTO_EPARSE, WHERE, "corrupt PKCS#12: incomplete MAC");
    X509_ALGOR_get0(&obj, &ptype, NULL, alg);
    nid = OBJ_obj2nid(obj);
    /* Parameters are absent or NULL for every MAC digest; anything else is outside the
     * MAC and could be changed unnoticed. */
    if (ptype != V_ASN1_UNDEF && ptype != V_ASN1_NULL)
        return certo_err_set(err, CERTO_EPARSE, WHERE, "corrupt PKCS#12: MAC digest parameters");
    switch (nid) {
    case NID_sha1:
    case NID_sha224:
    case NID_sha256:
    case NID_sha384:
    case NID_sha512:
    case NID_sha512_224:
    case NID_sha512_256:
        break;
    default:
        return certo_err_set(err, CERTO_EUNSUPPORTED, WHERE,
                             "PKCS#12 MAC digest %s is not supported", nid_name(nid));
    }
    rc = spend(r, iter == NULL ? 1 : ASN1_INTEGER_get(iter), "MAC", err);
    if (rc != CERTO_OK)
        return rc;
    if (PKCS12_verify_mac(p12, r->pass, r->passlen) == 1) {
        r->has_mac = true;
        return CERTO_OK;
    }
    /* A plain mismatch leaves the queue empty; anything queued means the MAC could not
     * even be computed. */
    if (ERR_peek_error() != 0)
        return certo_err_ossl(err, CERTO_EPARSE, WHERE, "corrupt PKCS#12: cannot compute the MAC");
    /* An empty password may have been taken as absent by the writer (REFERENCE.md 2.7). */
    if (r->passlen == 0 && PKCS12_verify_mac(p12, NULL, 0) == 1) {
        r->pass = NULL;
        r->has_mac = true;
        return CERTO_OK;
    }
    ERR_clear_error();
    return certo_err_set(err, CERTO_EAUTH, WHERE, "wrong keystore password");
}

/* A PBE algorithm identifier, decoded once and checked before any work is spent on it. */
struct pbe_info {
    OSSL_LIB_CTX *ctx; /* borrowed; library context that has the cipher, NULL = default */
    int cipher_nid;    /* the cipher inside the PBE */
    PBE2PARAM *p2;     /* owned; PBES2 only */
    PBKDF2PARAM *kdf;  /* owned; PBES2 only */
};

static void
pbe_info_dispose(struct pbe_info *pi)
{
    PBKDF2PARAM_free(pi->kdf);
    PBE2PARAM_free(pi->p2);
    memset(pi, 0, sizeof(*pi));
}

static certo_rc
pbes2_params(struct pbe_info *pi, long *iter, const X509_ALGOR *alg, struct certo_err *err)
{
    pi->p2 = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBE2PARAM), alg->parameter);
    if (pi->p2 == NULL || pi->p2->keyfunc == NULL || pi->p2->encryption == NULL)
        return certo_err_ossl(err, CERTO_EPARSE, WHERE, "corrupt PKCS#12: PBES2 parameters");
    /* scrypt would let the file choose our memory use; nobody writes it into PKCS#12. */
    if (OBJ_obj2nid(pi->p2->keyfunc->algorithm) != NID_id_pbkdf2)
        return certo_err_set(err, CERTO_EUNSUPPORTED, WHERE,
                             "PBES2 key derivation other than PBKDF2 is not supported");
    pi->kdf = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBKDF2PARAM), pi->p2->keyfunc->parameter);
    if (pi->kdf == NULL || pi->kdf->iter == NULL || pi->kdf->salt == NULL)
        return certo_err_ossl(err, CERTO_EPARSE, WHERE, "corrupt PKCS#12: PBKDF2 parameters");
    *iter = ASN1_INTEGER_get(pi->kdf->iter);
    pi->cipher_nid = OBJ_obj2nid(pi->p2->encryption->algorithm);
    return CERTO_OK;
}

/*
 * Looks at a PBE algorithm before it is used: records the profile, spends its iterations,
 * and picks the library context whose providers have its cipher. The default context is
 * tried first; only a cipher it lacks (RC2, RC4, DES) sends us to the legacy one.
 */
static certo_rc
pbe_prepare(struct pbe_info *pi, struct p12_reader *r, const X509_ALGOR *alg, const char *what,
            struct certo_err *err)
{
    int nid = OBJ_obj2nid(alg->algorithm), md_nid = NID_undef;
    long iter = -1;
    certo_rc rc;

    memset(pi, 0, sizeof(*pi));
    if (nid == NID_pbes2) {
        rc = pbes2_params(pi, &iter, alg, err);
        if (rc != CERTO_OK)
            return rc;
    } else {
        if (nid == NID_undef ||
            !EVP_PBE_find(EVP_PBE_TYPE_OUTER, nid, &pi->cipher_nid, &md_nid, NULL))
            return certo_err_set(err, CERTO_EUNSUPPORTED, WHERE,
                                 "%s: encryption algorithm %s is not supported", what,
                                 nid_name(nid));
        PBEPARAM *pp = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBEPARAM), alg->parameter);
        if (pp == NULL || pp->iter == NULL) {
            PBEPARAM_free(pp);
            return certo_err_ossl(err, CERTO_EPARSE, WHERE, "corrupt PKCS#12: %s PBE parameters",
                                  what);
        }
        iter = ASN1_INTEGER_get(pp->iter);
        PBEPARAM_free(pp);
        r->legacy_pbe = true;
        if (pi->cipher_nid == NID_rc2_40_cbc || pi->cipher_nid == NID_rc2_64_cbc ||
            pi->cipher_nid == NID_rc2_cbc)
            r->rc2 = true;
    }
    rc = spend(r, iter, what, err);
    if (rc != CERTO_OK)
        return rc;
    if (cipher_in(NULL, pi->cipher_nid))
        return CERTO_OK;
    rc = legacy_ctx(&pi->ctx, err);
    if (rc != CERTO_OK)
        return rc;
    if (!cipher_in(pi->ctx, pi->cipher_nid))
        return certo_err_set(err, CERTO_EUNSUPPORTED, WHERE, "%s: cipher %s is not supported", what,
                             nid_name(pi->cipher_nid));
    return CERTO_OK;
}

/* After the MAC verified, a failed decryption means damage; without a MAC it most likely
 * means a wrong password. */
static certo_rc
decrypt_failed(const struct p12_reader *r, const char *what, struct certo_err *err)
{
    if (r->has_mac)
        return certo_err_ossl(err, CERTO_EPARSE, WHERE, "corrupt PKCS#12: cannot decrypt %s", what);
    return certo_err_ossl(err, CERTO_EAUTH, WHERE, "wrong keystore password (cannot decrypt %s)",
                          what);
}

/*
 * PBES2 with PBKDF2 and AES-CBC, the shape OpenSSL 3, Java 17 and we write, decrypted here
 * rather than by OpenSSL so that one PBKDF2 result serves every structure of the file
 * with the same salt, iteration count and PRF (our writer shares one, see
 * writer_pbkdf2); PBKDF2 is most of the cost of reading a keystore. The checks are those
 * of OpenSSL's PKCS5_v2_PBKDF2_keyivgen. Returns false (nothing done) for any other shape,
 * which then goes through OpenSSL's generic PBE code.
 */
static bool
pbes2_fast(unsigned char **out, int *outlen, struct p12_reader *r, const struct pbe_info *pi,
           const ASN1_OCTET_STRING *ct)
{
    const ASN1_TYPE *ivt = pi->p2 != NULL ? pi->p2->encryption->parameter : NULL;
    const EVP_CIPHER *cipher;
    const EVP_MD *md;
    const ASN1_OCTET_STRING *salt;
    int prf = NID_hmacWithSHA1, md_nid = NID_undef, keylen, n1 = 0, n2 = 0;
    unsigned char *pt = NULL;
    EVP_CIPHER_CTX *c = NULL;
    bool ok = false;

    *out = NULL;
    if (pi->p2 == NULL || pi->ctx != NULL ||
        (pi->cipher_nid != NID_aes_128_cbc && pi->cipher_nid != NID_aes_192_cbc &&
         pi->cipher_nid != NID_aes_256_cbc) ||
        ivt == NULL || ivt->type != V_ASN1_OCTET_STRING || ivt->value.octet_string->length != 16 ||
        pi->kdf->salt->type != V_ASN1_OCTET_STRING || ct->length <= 0)
        return false;
    if (pi->kdf->prf != NULL)
        prf = OBJ_obj2nid(pi->kdf->prf->algorithm);
    cipher = EVP_get_cipherbynid(pi->cipher_nid);
    if (cipher == NULL || !EVP_PBE_find(EVP_PBE_TYPE_PRF, prf, NULL, &md_nid, NULL))
        return false;
    md = EVP_get_digestbynid(md_nid);
    keylen = EVP_CIPHER_get_key_length(cipher);
    if (md == NULL || keylen > (int)sizeof(r->kc_key) ||
        (pi->kdf->keylength != NULL && ASN1_INTEGER_get(pi->kdf->keylength) != keylen))
        return false;
    salt = pi->kdf->salt->value.octet_string;
    long iter = ASN1_INTEGER_get(pi->kdf->iter);
    if (!(r->kc_valid && r->kc_iter == iter && r->kc_md == md_nid && r->kc_keylen == keylen &&
          r->kc_saltlen == salt->length && salt->length <= (int)sizeof(r->kc_salt) &&
          memcmp(r->kc_salt, salt->data, (size_t)salt->length) == 0)) {
        r->kc_valid = false;
        if (PKCS5_PBKDF2_HMAC(r->pass, r->passlen, salt->data, salt->length, (int)iter, md, keylen,
                              r->kc_key) != 1)
            goto out; /* ok stays false: OpenSSL's own path reports it */
        r->kc_valid = salt->length <= (int)sizeof(r->kc_salt);
        if (r->kc_valid)
            memcpy(r->kc_salt, salt->data, (size_t)salt->length);
        r->kc_saltlen = salt->length;
        r->kc_iter = iter;
        r->kc_md = md_nid;
        r->kc_keylen = keylen;
    }
    c = EVP_CIPHER_CTX_new();
    pt = OPENSSL_malloc((size_t)ct->length + 16);
    if (c == NULL || pt == NULL ||
        !EVP_DecryptInit_ex2(c, cipher, r->kc_key, ivt->value.octet_string->data, NULL))
        goto out;
    /* From here a failure (bad padding) is the answer, not a reason to try OpenSSL's way. */
    ok = true;
    if (!EVP_DecryptUpdate(c, pt, &n1, ct->data, ct->length) ||
        !EVP_DecryptFinal_ex(c, pt + n1, &n2)) {
        OPENSSL_clear_free(pt, (size_t)ct->length + 16);
        pt = NULL;
        goto out;
    }
    *out = pt;
    *outlen = n1 + n2;
    pt = NULL;
out:
    if (!r->kc_valid)
        OPENSSL_cleanse(r->kc_key, sizeof(r->kc_key));
    OPENSSL_free(pt);
    EVP_CIPHER_CTX_free(c);
    if (!ok)
        ERR_clear_error(); /* the generic path will report its own */
    return ok;
}

/*
 * Decrypts one encrypted structure (a safe or a key) into DER the caller wipes and frees
 * with OPENSSL_clear_free. This is PKCS12_item_decrypt_d2i_ex without the d2i, so that
 * the fast path above and OpenSSL's generic one (with the right library context; 3.0's
 * PKCS12_unpack_p7encdata has no context argument) end in the same place.
 */
static certo_rc
decrypt_der(unsigned char **out, int *outlen, struct p12_reader *r, const X509_ALGOR *alg,
            const ASN1_OCTET_STRING *ct, const char *what, struct certo_err *err)
{
    struct pbe_info pi;
    certo_rc rc;

    *out = NULL;
    *outlen = 0;
    rc = pbe_prepare(&pi, r, alg, what, err);
    if (rc != CERTO_OK)
        goto out;
    if (pbes2_fast(out, outlen, r, &pi, ct)) {
        if (*out == NULL)
            rc = decrypt_failed(r, what, err);
        goto out;
    }
    if (PKCS12_pbe_crypt_ex(alg, r->pass, r->passlen, ct->data, ct->length, out, outlen, 0, pi.ctx,
                            NULL) == NULL)
        rc = decrypt_failed(r, what, err);
out:
    pbe_info_dispose(&pi);
    return rc;
}

static certo_rc
decrypt_safe(STACK_OF(PKCS12_SAFEBAG) * *out, struct p12_reader *r, PKCS7 *p7,
             struct certo_err *err)
{
    PKCS7_ENCRYPT *enc = p7->d.encrypted;
    unsigned char *der = NULL;
    const unsigned char *p;
    int len = 0;
    certo_rc rc;

    *out = NULL;
    if (enc == NULL || enc->enc_data == NULL || enc->enc_data->algorithm == NULL ||
        enc->enc_data->enc_data == NULL)
        return certo_err_set(err, CERTO_EPARSE, WHERE, "corrupt PKCS#12: empty encrypted safe");
    rc = decrypt_der(&der, &len, r, enc->enc_data->algorithm, enc->enc_data->enc_data,
                     "an encrypted safe", err);
    if (rc != CERTO_OK)
        return rc;
    p = der;
    *out =
        (STACK_OF(PKCS12_SAFEBAG) *)ASN1_item_d2i(NULL, &p, len, ASN1_ITEM_rptr(PKCS12_SAFEBAGS));
    OPENSSL_clear_free(der, (size_t)len);
    if (*out == NULL)
        return decrypt_failed(r, "an encrypted safe", err);
    return CERTO_OK;
}

static struct p12_bag *
new_bag(struct p12_reader *r, struct certo_err *err)
{
    if (r->n >= P12_BAGS_MAX) {
        certo_err_set(err, CERTO_ETOOBIG, WHERE, "PKCS#12 with more than %d bags", P12_BAGS_MAX);
        return NULL;
    }
    if (r->n == r->cap) {
        r->cap = r->cap == 0 ? 8 : r->cap * 2;
        r->bags = certo_reallocarray(r->bags, r->cap, sizeof(*r->bags));
    }
    struct p12_bag *b = &r->bags[r->n++];
    memset(b, 0, sizeof(*b));
    return b;
}

/* Java's PKCS12KeyStore writes localKeyID = "Time <ms since the epoch>" and reads the
 * entry's creation date back from it. */
static int64_t
java_time(const unsigned char *id, size_t len)
{
    int64_t v = 0;

    if (len < 6 || len > 5 + 18 || memcmp(id, "Time ", 5) != 0)
        return 0;
    for (size_t i = 5; i < len; i++) {
        if (id[i] < '0' || id[i] > '9')
            return 0;
        v = v * 10 + (id[i] - '0');
    }
    return v;
}

static void
read_attrs(struct p12_bag *b, PKCS12_SAFEBAG *bag)
{
    const STACK_OF(X509_ATTRIBUTE) *attrs = PKCS12_SAFEBAG_get0_attrs(bag);
    const ASN1_TYPE *id = PKCS12_SAFEBAG_get0_attr(bag, NID_localKeyID);
    char *name = PKCS12_get_friendlyname(bag); /* BMPString converted to UTF-8 */

    /* A name that is no valid alias (empty, control characters, broken UTF-16) is
     * treated as absent: the entry gets a numbered alias like an unnamed one. */
    if (name != NULL && certo_keystore_alias_check(NULL, CERTO_KS_PKCS12, name, NULL) == CERTO_OK)
        b->name = certo_strdup(name);
    OPENSSL_free(name);
    if (id != NULL && id->type == V_ASN1_OCTET_STRING && id->value.octet_string->length > 0) {
        const ASN1_OCTET_STRING *s = id->value.octet_string;
        b->keyid_len = (size_t)s->length;
        b->keyid = certo_malloc(b->keyid_len);
        memcpy(b->keyid, s->data, b->keyid_len);
        b->created_ms = java_time(b->keyid, b->keyid_len);
    }
    for (int i = 0; i < sk_X509_ATTRIBUTE_num(attrs); i++) {
        const ASN1_OBJECT *o = X509_ATTRIBUTE_get0_object(sk_X509_ATTRIBUTE_value(attrs, i));
        if (OBJ_length(o) == sizeof(java_trust_der) &&
            memcmp(OBJ_get0_data(o), java_trust_der, sizeof(java_trust_der)) == 0)
            b->trusted = true;
    }
}

static certo_rc
add_key(struct p12_reader *r, PKCS12_SAFEBAG *bag, const PKCS8_PRIV_KEY_INFO *p8,
        struct certo_err *err)
{
    struct p12_bag *b;
    EVP_PKEY *key;

    if (r->keys >= CERTO_KEYSTORE_ENTRIES_MAX)
        return certo_err_set(err, CERTO_ETOOBIG, WHERE, "more than %d private keys",
                             CERTO_KEYSTORE_ENTRIES_MAX);
    key = EVP_PKCS82PKEY_ex(p8, NULL, NULL);
    if (key == NULL)
        return certo_err_ossl(err, CERTO_EPARSE, WHERE, "corrupt PKCS#12: cannot decode a key");
    b = new_bag(r, err);
    if (b == NULL) {
        EVP_PKEY_free(key);
        return CERTO_ETOOBIG;
    }
    b->key = key;
    r->keys++;
    read_attrs(b, bag);
    return CERTO_OK;
}

static certo_rc
add_shrouded_key(struct p12_reader *r, PKCS12_SAFEBAG *bag, struct certo_err *err)
{
    const X509_SIG *sig = PKCS12_SAFEBAG_get0_pkcs8(bag);
    const X509_ALGOR *alg = NULL;
    const ASN1_OCTET_STRING *ct = NULL;
    PKCS8_PRIV_KEY_INFO *p8 = NULL;
    unsigned char *der = NULL;
    const unsigned char *p;
    int len = 0;
    certo_rc rc;

    if (sig != NULL)
        X509_SIG_get0(sig, &alg, &ct);
    if (alg == NULL || ct == NULL)
        return certo_err_set(err, CERTO_EPARSE, WHERE, "corrupt PKCS#12: empty key bag");
    rc = decrypt_der(&der, &len, r, alg, ct, "a private key", err);
    if (rc != CERTO_OK)
        return rc;
    p = der;
    p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, len);
    OPENSSL_clear_free(der, (size_t)len);
    if (p8 == NULL)
        return decrypt_failed(r, "a private key", err);
    rc = add_key(r, bag, p8, err);
    PKCS8_PRIV_KEY_INFO_free(p8); /* wipes the key bytes */
    return rc;
}

static certo_rc
add_cert(struct p12_reader *r, PKCS12_SAFEBAG *bag, struct certo_err *err)
{
    struct p12_bag *b;
    X509 *x;

    if (PKCS12_SAFEBAG_get_bag_nid(bag) != NID_x509Certificate)
        return certo_err_set(err, CERTO_EUNSUPPORTED, WHERE,
                             "certificate bags other than X.509 are not supported");
    x = PKCS12_SAFEBAG_get1_cert(bag);
    if (x == NULL)
        return certo_err_ossl(err, CERTO_EPARSE, WHERE,
                              "corrupt PKCS#12: cannot decode a certificate");
    b = new_bag(r, err);
    if (b == NULL) {
        X509_free(x);
        return CERTO_ETOOBIG;
    }
    b->cert = x;
    read_attrs(b, bag);
    return CERTO_OK;
}

static certo_rc
read_bags(struct p12_reader *r, const STACK_OF(PKCS12_SAFEBAG) * bags, int depth,
          struct certo_err *err)
{
    certo_rc rc = CERTO_OK;

    for (int i = 0; i < sk_PKCS12_SAFEBAG_num(bags) && rc == CERTO_OK; i++) {
        PKCS12_SAFEBAG *bag = sk_PKCS12_SAFEBAG_value(bags, i);
        int nid = PKCS12_SAFEBAG_get_nid(bag);
        switch (nid) {
        case NID_keyBag: {
            const PKCS8_PRIV_KEY_INFO *p8 = PKCS12_SAFEBAG_get0_p8inf(bag);
            rc = p8 != NULL
                     ? add_key(r, bag, p8, err)
                     : certo_err_set(err, CERTO_EPARSE, WHERE, "corrupt PKCS#12: empty key bag");
            break;
        }
        case NID_pkcs8ShroudedKeyBag:
            rc = add_shrouded_key(r, bag, err);
            break;
        case NID_certBag:
            rc = add_cert(r, bag, err);
            break;
        case NID_crlBag:
            break; /* a CRL is no keystore entry; Java skips them too */
        case NID_safeContentsBag:
            if (depth >= P12_NEST_MAX)
                rc = certo_err_set(err, CERTO_EPARSE, WHERE,
                                   "corrupt PKCS#12: safe contents nested too deeply");
            else
                rc = read_bags(r, PKCS12_SAFEBAG_get0_safes(bag), depth + 1, err);
            break;
        case NID_secretBag:
            /* Refused rather than skipped: rewriting the file would lose the entry. */
            rc = certo_err_set(err, CERTO_EUNSUPPORTED, WHERE,
                               "PKCS#12 secret-key entries are not supported");
            break;
        default:
            rc = certo_err_set(err, CERTO_EUNSUPPORTED, WHERE,
                               "PKCS#12 bag type %s is not supported", nid_name(nid));
            break;
        }
    }
    return rc;
}

static certo_rc
read_safes(struct p12_reader *r, PKCS12 *p12, struct certo_err *err)
{
    STACK_OF(PKCS7) *safes = PKCS12_unpack_authsafes(p12);
    STACK_OF(PKCS12_SAFEBAG) *bags = NULL;
    certo_rc rc = CERTO_OK;

    if (safes == NULL)
        return certo_err_ossl(err, CERTO_EPARSE, WHERE,
                              "corrupt PKCS#12: cannot decode the authenticated safe");
    for (int i = 0; i < sk_PKCS7_num(safes) && rc == CERTO_OK; i++) {
        PKCS7 *p7 = sk_PKCS7_value(safes, i);
        int nid = OBJ_obj2nid(p7->type);
        if (nid == NID_pkcs7_data) {
            bags = PKCS12_unpack_p7data(p7);
            if (bags == NULL)
                rc = certo_err_ossl(err, CERTO_EPARSE, WHERE, "corrupt PKCS#12: data safe");
        } else if (nid == NID_pkcs7_encrypted) {
            rc = decrypt_safe(&bags, r, p7, err);
        } else {
            rc = certo_err_set(err, CERTO_EUNSUPPORTED, WHERE,
                               "PKCS#12 safe of type %s is not supported (public-key mode)",
                               nid_name(nid));
        }
        if (rc == CERTO_OK)
            rc = read_bags(r, bags, 0, err);
        sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
        bags = NULL;
    }
    sk_PKCS7_pop_free(safes, PKCS7_free);
    return rc;
}

/* One entry about to be added to the keystore. */
struct p12_plan {
    enum certo_ks_entry_kind kind;
    size_t pos;             /* bag index of the leaf or trusted certificate: file order */
    size_t seq;             /* creation order, to break ties */
    const char *name;       /* borrowed from its bag; NULL gets a number */
    char num[24];           /* the numbered alias */
    EVP_PKEY *key;          /* owned; KEY entries */
    STACK_OF(X509) * certs; /* owned */
    int64_t created_ms;     /* 0 if unknown */
};

static int
plan_cmp(const void *a, const void *b)
{
    const struct p12_plan *x = a, *y = b;
    if (x->pos != y->pos)
        return x->pos < y->pos ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static bool
in_stack(STACK_OF(X509) * s, X509 *c)
{
    for (int i = 0; i < sk_X509_num(s); i++) {
        if (X509_cmp(sk_X509_value(s, i), c) == 0)
            return true;
    }
    return false;
}

/*
 * Sorted views of the certificate bags, so that pairing keys, linking chains and
 * removing duplicates stay O(n log n) for a PKCS#12 with thousands of certificates (a
 * trust store from `openssl pkcs12 -nokeys`). Ties are broken by bag index, so each run
 * of equal elements is in file order.
 */
struct p12_index {
    size_t *by_keyid;   /* owned; certificate bags with a localKeyID, by localKeyID */
    size_t n_keyid;     /* elements of by_keyid */
    size_t *by_subject; /* owned; certificate bags by subject name */
    size_t *by_cert;    /* owned; certificate bags by certificate (X509_cmp) */
    size_t n;           /* elements of by_subject and by_cert */
};

/* Compares bag 'b' with a probe; < 0, 0, > 0 as the bag sorts before, with, after it. */
typedef int p12_probe_fn(const struct p12_bag *b, const void *probe);

static int
probe_keyid(const struct p12_bag *b, const void *probe)
{
    const struct p12_bag *k = probe;
    if (b->keyid_len != k->keyid_len)
        return b->keyid_len < k->keyid_len ? -1 : 1;
    return memcmp(b->keyid, k->keyid, b->keyid_len);
}

static int
probe_subject(const struct p12_bag *b, const void *probe)
{
    return X509_NAME_cmp(X509_get_subject_name(b->cert), probe);
}

static int
probe_cert(const struct p12_bag *b, const void *probe)
{
    return X509_cmp(b->cert, probe);
}

struct p12_sort {
    const struct p12_bag *bags; /* borrowed */
    p12_probe_fn *cmp;          /* the order */
    int which;                  /* 0: keyid, 1: subject, 2: certificate */
};

static int
sort_cmp(const void *a, const void *b, void *arg)
{
    const struct p12_sort *st = arg;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    const struct p12_bag *y = &st->bags[j];
    const void *probe = st->which == 0   ? (const void *)y
                        : st->which == 1 ? (const void *)X509_get_subject_name(y->cert)
                                         : (const void *)y->cert;
    int c = st->cmp(&st->bags[i], probe);
    if (c != 0)
        return c < 0 ? -1 : 1;
    return i < j ? -1 : i > j;
}

static size_t
lower_bound(const size_t *idx, size_t n, const struct p12_bag *bags, p12_probe_fn *cmp,
            const void *probe)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cmp(&bags[idx[mid]], probe) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void
index_build(struct p12_index *ix, const struct p12_reader *r)
{
    struct p12_sort st = {.bags = r->bags};

    memset(ix, 0, sizeof(*ix));
    ix->by_keyid = certo_calloc(r->n + 1, sizeof(size_t));
    ix->by_subject = certo_calloc(r->n + 1, sizeof(size_t));
    ix->by_cert = certo_calloc(r->n + 1, sizeof(size_t));
    for (size_t i = 0; i < r->n; i++) {
        if (r->bags[i].cert == NULL)
            continue;
        ix->by_subject[ix->n] = ix->by_cert[ix->n] = i;
        ix->n++;
        if (r->bags[i].keyid != NULL)
            ix->by_keyid[ix->n_keyid++] = i;
    }
    st.cmp = probe_keyid;
    st.which = 0;
    qsort_r(ix->by_keyid, ix->n_keyid, sizeof(size_t), sort_cmp, &st);
    st.cmp = probe_subject;
    st.which = 1;
    qsort_r(ix->by_subject, ix->n, sizeof(size_t), sort_cmp, &st);
    st.cmp = probe_cert;
    st.which = 2;
    qsort_r(ix->by_cert, ix->n, sizeof(size_t), sort_cmp, &st);
}

static void
index_dispose(struct p12_index *ix)
{
    certo_free(ix->by_keyid);
    certo_free(ix->by_subject);
    certo_free(ix->by_cert);
    memset(ix, 0, sizeof(*ix));
}

/* The bag of the certificate of key bag 'k': the one with the same localKeyID, else the
 * first with the same public key. A localKeyID pointing at a certificate of another key
 * is not believed. */
static certo_rc
find_leaf(size_t *out, const struct p12_reader *r, const struct p12_index *ix,
          const struct p12_bag *k, struct certo_err *err)
{
    size_t i = k->keyid != NULL ? lower_bound(ix->by_keyid, ix->n_keyid, r->bags, probe_keyid, k)
                                : ix->n_keyid;

    for (; i < ix->n_keyid && probe_keyid(&r->bags[ix->by_keyid[i]], k) == 0; i++) {
        if (certo_cert_matches_key(r->bags[ix->by_keyid[i]].cert, k->key)) {
            *out = ix->by_keyid[i];
            return CERTO_OK;
        }
    }
    for (i = 0; i < r->n; i++) {
        if (r->bags[i].cert != NULL && certo_cert_matches_key(r->bags[i].cert, k->key)) {
            *out = i;
            return CERTO_OK;
        }
    }
    ERR_clear_error(); /* comparisons of unlike key types may leave entries behind */
    return certo_err_set(err, CERTO_EUNSUPPORTED, WHERE,
                         "PKCS#12 private key without its certificate is not supported");
}

/*
 * The issuer of 'cur' among the certificates of the file, not yet in 'chain'. Java links
 * a stored chain by issuer name; we also require the authority key identifier to fit
 * (X509_check_issued) and check signatures (certo_chain_issued_by) only to choose between
 * several candidates. The file's integrity is the MAC's job, and a signature check per
 * link would double the cost of reading a keystore with EC chains.
 */
static X509 *
find_issuer(const struct p12_reader *r, const struct p12_index *ix, STACK_OF(X509) * chain,
            X509 *cur)
{
    const X509_NAME *name = X509_get_issuer_name(cur);
    size_t lo = lower_bound(ix->by_subject, ix->n, r->bags, probe_subject, name), hi = lo;
    X509 *first = NULL;
    int n = 0;

    for (; hi < ix->n && probe_subject(&r->bags[ix->by_subject[hi]], name) == 0; hi++) {
        X509 *c = r->bags[ix->by_subject[hi]].cert;
        if (X509_check_issued(c, cur) == X509_V_OK && !in_stack(chain, c) && n++ == 0)
            first = c;
    }
    for (size_t i = lo; n > 1 && i < hi; i++) {
        X509 *c = r->bags[ix->by_subject[i]].cert;
        if (!in_stack(chain, c) && certo_chain_issued_by(cur, c))
            return c;
    }
    return first;
}

/* The chain of a key entry: the leaf, then issuer after issuer (find_issuer) up to a
 * self-issued root or the first certificate whose issuer is not in the file. */
static certo_rc
build_chain(STACK_OF(X509) * *out, const struct p12_reader *r, const struct p12_index *ix,
            size_t leaf, struct certo_err *err)
{
    STACK_OF(X509) *chain = sk_X509_new_null();
    X509 *cur = r->bags[leaf].cert;
    certo_rc rc = CERTO_EINTERNAL;

    *out = NULL;
    if (chain == NULL || sk_X509_push(chain, cur) <= 0)
        abort(); /* allocation failure policy (STYLE.md 3.3) */
    X509_up_ref(cur);
    while (X509_check_issued(cur, cur) != X509_V_OK) {
        X509 *next = find_issuer(r, ix, chain, cur);
        if (next == NULL)
            break;
        if (sk_X509_num(chain) >= CERTO_CHAIN_MAX) {
            rc = certo_err_set(err, CERTO_ETOOBIG, WHERE, "chain longer than %d certificates",
                               CERTO_CHAIN_MAX);
            goto out;
        }
        if (sk_X509_push(chain, next) <= 0)
            abort();
        X509_up_ref(next);
        cur = next;
    }
    *out = chain;
    chain = NULL;
    rc = CERTO_OK;
out:
    certo_certs_free(chain);
    return rc;
}

/* Marks every certificate bag equal to a certificate of 'chain' as used. */
static void
mark_used(struct p12_reader *r, const struct p12_index *ix, STACK_OF(X509) * chain)
{
    for (int c = 0; c < sk_X509_num(chain); c++) {
        X509 *x = sk_X509_value(chain, c);
        for (size_t i = lower_bound(ix->by_cert, ix->n, r->bags, probe_cert, x);
             i < ix->n && probe_cert(&r->bags[ix->by_cert[i]], x) == 0; i++)
            r->bags[ix->by_cert[i]].used = true;
    }
}

static struct p12_plan *
new_plan(struct p12_plan *plans, size_t *np, enum certo_ks_entry_kind kind, size_t pos,
         const char *name)
{
    struct p12_plan *p = &plans[*np];
    memset(p, 0, sizeof(*p));
    p->kind = kind;
    p->pos = pos;
    p->seq = (*np)++;
    p->name = name;
    return p;
}

static void
trusted_plan(struct p12_plan *plans, size_t *np, const struct p12_bag *b, size_t pos)
{
    struct p12_plan *p = new_plan(plans, np, CERTO_KS_ENTRY_TRUSTED, pos, b->name);
    p->certs = sk_X509_new_null();
    if (p->certs == NULL || sk_X509_push(p->certs, b->cert) <= 0)
        abort();
    X509_up_ref(b->cert);
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/*
 * Java names entries without friendlyName "1", "2", ... (REFERENCE.md 2.4), skipping
 * numbers that are already aliases. Only names in canonical decimal form can collide.
 */
static void
number_unnamed(struct p12_plan *plans, size_t np)
{
    uint64_t *taken = certo_calloc(np + 1, sizeof(*taken)), next = 1;
    size_t nt = 0, t = 0;

    for (size_t i = 0; i < np; i++) {
        const char *a = plans[i].name;
        size_t len = a != NULL ? strlen(a) : 0;
        uint64_t v = 0;
        if (len == 0 || len > 19 || a[0] == '0' || strspn(a, "0123456789") != len)
            continue;
        for (size_t j = 0; j < len; j++)
            v = v * 10 + (uint64_t)(a[j] - '0');
        taken[nt++] = v;
    }
    qsort(taken, nt, sizeof(*taken), cmp_u64);
    for (size_t i = 0; i < np; i++) {
        if (plans[i].name != NULL)
            continue;
        while (t < nt && taken[t] < next)
            t++;
        while (t < nt && taken[t] == next) {
            t++;
            next++;
        }
        snprintf(plans[i].num, sizeof(plans[i].num), "%" PRIu64, next++);
    }
    certo_free(taken);
}

/*
 * Turns the bags into entries, the way Java's PKCS12KeyStore does: each key with its
 * chain, each certificate bag with the trust attribute, then (unlike Java, so that
 * `openssl pkcs12 -nokeys` files are readable) every certificate used by no chain, once.
 */
static certo_rc
build_entries(struct certo_keystore *ks, struct p12_reader *r, struct certo_err *err)
{
    struct p12_plan *plans = certo_calloc(r->n + 1, sizeof(*plans));
    struct p12_index ix;
    size_t np = 0;
    certo_rc rc = CERTO_OK;

    index_build(&ix, r);
    for (size_t i = 0; i < r->n && rc == CERTO_OK; i++) {
        struct p12_bag *k = &r->bags[i];
        STACK_OF(X509) *chain = NULL;
        size_t leaf = 0;
        if (k->key == NULL)
            continue;
        rc = find_leaf(&leaf, r, &ix, k, err);
        if (rc == CERTO_OK)
            rc = build_chain(&chain, r, &ix, leaf, err);
        if (rc != CERTO_OK)
            break;
        struct p12_plan *p = new_plan(plans, &np, CERTO_KS_ENTRY_KEY, leaf,
                                      k->name != NULL ? k->name : r->bags[leaf].name);
        p->key = k->key;
        k->key = NULL;
        p->certs = chain;
        p->created_ms = k->created_ms != 0 ? k->created_ms : r->bags[leaf].created_ms;
        mark_used(r, &ix, chain);
    }
    if (rc != CERTO_OK)
        goto out;
    /* Runs of equal certificates: every bag with the trust attribute is an entry; a run
     * without one that no chain uses gives one entry, from its first bag. */
    for (size_t i = 0, j; i < ix.n; i = j) {
        const struct p12_bag *first = &r->bags[ix.by_cert[i]];
        bool any_trusted = false;
        for (j = i; j < ix.n && probe_cert(&r->bags[ix.by_cert[j]], first->cert) == 0; j++) {
            const struct p12_bag *b = &r->bags[ix.by_cert[j]];
            if (b->trusted) {
                trusted_plan(plans, &np, b, ix.by_cert[j]);
                any_trusted = true;
            }
        }
        if (!any_trusted && !first->used)
            trusted_plan(plans, &np, first, ix.by_cert[i]);
    }
    qsort(plans, np, sizeof(*plans), plan_cmp);
    number_unnamed(plans, np);
    for (size_t i = 0; i < np && rc == CERTO_OK; i++) {
        struct p12_plan *p = &plans[i];
        rc = certo_keystore_add_take(ks, p->kind, p->name != NULL ? p->name : p->num, p->created_ms,
                                     p->key, p->certs, err);
        p->key = NULL;
        p->certs = NULL;
    }
out:
    for (size_t i = 0; i < np; i++) {
        EVP_PKEY_free(plans[i].key);
        certo_certs_free(plans[i].certs);
    }
    certo_free(plans);
    index_dispose(&ix);
    return rc;
}

certo_rc
certo_pkcs12_parse(struct certo_keystore *ks, const void *data, size_t len,
                   const struct certo_secret *pass, struct certo_err *err)
{
    const unsigned char *p = data;
    struct p12_reader r;
    PKCS12 *p12 = NULL;
    certo_rc rc = CERTO_EINTERNAL;

    memset(&r, 0, sizeof(r));
    if (len > CERTO_PKCS12_MAX) {
        rc = certo_err_set(err, CERTO_ETOOBIG, WHERE, "PKCS#12 is %zu bytes, limit is %u", len,
                           CERTO_PKCS12_MAX);
        goto out;
    }
    /* The MAC check below reads the error queue; nothing stale may be on it. */
    ERR_clear_error();
    p12 = d2i_PKCS12(NULL, &p, (long)len);
    if (p12 == NULL) {
        rc = certo_err_ossl(err, CERTO_EPARSE, WHERE, "corrupt PKCS#12: not a PFX structure");
        goto out;
    }
    if (p != (const unsigned char *)data + len) {
        rc = certo_err_set(err, CERTO_EPARSE, WHERE, "corrupt PKCS#12: %zu bytes after the end",
                           len - (size_t)(p - (const unsigned char *)data));
        goto out;
    }
    if (!pfx_version_ok(data, len)) {
        rc = certo_err_set(err, CERTO_EPARSE, WHERE, "corrupt PKCS#12: PFX version is not 3");
        goto out;
    }
    r.pass = pass != NULL ? certo_secret_get0(pass) : "";
    r.passlen = pass != NULL ? (int)certo_secret_len(pass) : 0;
    /* A PFX without MAC is legal (openssl pkcs12 -nomac); it is then only as good as the
     * encryption of its bags. */
    if (PKCS12_mac_present(p12)) {
        rc = check_mac(&r, p12, err);
        if (rc != CERTO_OK)
            goto out;
    }
    rc = read_safes(&r, p12, err);
    if (rc != CERTO_OK)
        goto out;
    rc = build_entries(ks, &r, err);
    if (rc != CERTO_OK)
        goto out;
    ks->p12_profile = !r.legacy_pbe ? CERTO_P12_MODERN
                      : r.rc2       ? CERTO_P12_LEGACY_RC2
                                    : CERTO_P12_LEGACY_3DES;
    /* Rewriting keeps a stronger protection than our default (keytool writes 10000). */
    if (r.max_iter > P12_ITER_DEFAULT)
        ks->p12_iter = (int)r.max_iter;
    rc = CERTO_OK;
out:
    reader_dispose(&r);
    PKCS12_free(p12);
    return rc;
}

/* ---- Writing ---- */

/* How one profile protects a file. */
struct p12_writer {
    const char *pass;       /* borrowed */
    int passlen;            /* bytes of pass */
    int iter;               /* PBKDF2 / PBE / MAC iterations */
    int key_nid;            /* NID_pbes2 (PBKDF2 + AES-256-CBC) or a PKCS#12 PBE */
    int cert_nid;           /* same, for the certificate safe */
    OSSL_LIB_CTX *cert_ctx; /* borrowed; context for the certificate safe, NULL = default */
    const EVP_MD *mac_md;   /* static */
    int salt_len;           /* bytes of every salt of the file */
    bool key_ready;         /* key holds the PBKDF2 result for salt */
    unsigned char salt[P12_SALT_MODERN]; /* PBES2: the PBKDF2 salt of every structure */
    unsigned char key[32]; /* PBES2: AES-256 key from PBKDF2; wiped by writer_dispose */
};

static void
writer_dispose(struct p12_writer *w)
{
    OPENSSL_cleanse(w->key, sizeof(w->key));
    w->key_ready = false;
}

static certo_rc
writer_init(struct p12_writer *w, const struct certo_keystore *ks, const struct certo_secret *pass,
            struct certo_err *err)
{
    memset(w, 0, sizeof(*w));
    w->pass = pass != NULL ? certo_secret_get0(pass) : "";
    w->passlen = pass != NULL ? (int)certo_secret_len(pass) : 0;
    w->iter = ks->p12_iter == 0 ? P12_ITER_DEFAULT : ks->p12_iter;
    if (w->iter < 1 || w->iter > P12_ITER_MAX)
        return certo_err_set(err, CERTO_EINVAL, WHERE, "PKCS#12 iteration count %d is not in 1..%d",
                             ks->p12_iter, P12_ITER_MAX);
    switch (ks->p12_profile) {
    case CERTO_P12_MODERN:
        w->key_nid = w->cert_nid = NID_pbes2;
        w->mac_md = EVP_sha256();
        w->salt_len = P12_SALT_MODERN;
        return CERTO_OK;
    case CERTO_P12_LEGACY_RC2:
        /* RC2-40 certificates are what `openssl pkcs12 -legacy` and Windows' TripleDES-SHA1
         * export write; only this cipher needs the legacy provider (REFERENCE.md 2.2). */
        w->key_nid = NID_pbe_WithSHA1And3_Key_TripleDES_CBC;
        w->cert_nid = NID_pbe_WithSHA1And40BitRC2_CBC;
        w->mac_md = EVP_sha1();
        w->salt_len = P12_SALT_LEGACY;
        return legacy_ctx(&w->cert_ctx, err);
    case CERTO_P12_LEGACY_3DES:
        w->key_nid = w->cert_nid = NID_pbe_WithSHA1And3_Key_TripleDES_CBC;
        w->mac_md = EVP_sha1();
        w->salt_len = P12_SALT_LEGACY;
        return CERTO_OK;
    }
    return certo_err_set(err, CERTO_EINVAL, WHERE, "unknown PKCS#12 profile %d",
                         (int)ks->p12_profile);
}

/*
 * One PBKDF2 run per file: every PBES2 structure we write (each key bag and the
 * certificate safe) uses the same salt and so the same AES key, each with its own random
 * IV. PBKDF2 is most of the cost of an export, and sharing it costs no strength: the MAC
 * is derived from the same password with the same iteration count, so one derivation per
 * guessed password already tests a guess against any single structure of the file.
 */
static certo_rc
writer_pbkdf2(struct p12_writer *w, struct certo_err *err)
{
    if (w->key_ready)
        return CERTO_OK;
    if (certo_rand_bytes(w->salt, sizeof(w->salt)) != CERTO_OK ||
        PKCS5_PBKDF2_HMAC(w->pass, w->passlen, w->salt, (int)sizeof(w->salt), w->iter, EVP_sha256(),
                          (int)sizeof(w->key), w->key) != 1)
        return certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot derive the PKCS#12 key");
    w->key_ready = true;
    return CERTO_OK;
}

/*
 * Encrypts 'len' bytes of DER for algorithm 'nid' of the profile: the algorithm identifier
 * and the ciphertext. PBES2 is spelled out rather than left to OpenSSL's defaults:
 * PBKDF2 with hmacWithSHA256 and AES-256-CBC, as OpenSSL 3 and Java 17 write it
 * (REFERENCE.md 2.2). PKCS#12 PBEs derive key and IV from the salt, so each structure
 * gets its own salt and OpenSSL does the rest (in 'ctx' for RC2).
 */
static certo_rc
encrypt_der(X509_ALGOR **alg_out, ASN1_OCTET_STRING **ct_out, struct p12_writer *w, int nid,
            OSSL_LIB_CTX *ctx, const unsigned char *der, int len, struct certo_err *err)
{
    unsigned char iv[16], salt[P12_SALT_LEGACY];
    unsigned char *ct = NULL;
    int n1 = 0, n2 = 0;
    X509_ALGOR *alg = NULL;
    EVP_CIPHER_CTX *c = NULL;
    certo_rc rc = CERTO_ECRYPTO;

    *alg_out = NULL;
    *ct_out = NULL;
    if (nid == NID_pbes2) {
        rc = writer_pbkdf2(w, err);
        if (rc != CERTO_OK)
            goto out;
        rc = CERTO_ECRYPTO;
        c = EVP_CIPHER_CTX_new();
        ct = OPENSSL_malloc((size_t)len + sizeof(iv));
        if (certo_rand_bytes(iv, sizeof(iv)) != CERTO_OK || c == NULL || ct == NULL)
            goto out;
        alg = PKCS5_pbe2_set_iv_ex(EVP_aes_256_cbc(), w->iter, w->salt, (int)sizeof(w->salt), iv,
                                   NID_hmacWithSHA256, NULL);
        if (alg == NULL || !EVP_EncryptInit_ex2(c, EVP_aes_256_cbc(), w->key, iv, NULL) ||
            !EVP_EncryptUpdate(c, ct, &n1, der, len) || !EVP_EncryptFinal_ex(c, ct + n1, &n2))
            goto out;
    } else {
        if (certo_rand_bytes(salt, sizeof(salt)) != CERTO_OK)
            goto out;
        alg = PKCS5_pbe_set_ex(nid, w->iter, salt, (int)sizeof(salt), NULL);
        if (alg == NULL ||
            PKCS12_pbe_crypt_ex(alg, w->pass, w->passlen, der, len, &ct, &n1, 1, ctx, NULL) == NULL)
            goto out;
    }
    *ct_out = ASN1_OCTET_STRING_new();
    if (*ct_out == NULL)
        goto out;
    ASN1_STRING_set0(*ct_out, ct, n1 + n2);
    ct = NULL;
    *alg_out = alg;
    alg = NULL;
    rc = CERTO_OK;
out:
    if (rc == CERTO_ECRYPTO)
        certo_err_ossl(err, rc, WHERE, "cannot encrypt the PKCS#12 contents");
    OPENSSL_free(ct);
    X509_ALGOR_free(alg);
    EVP_CIPHER_CTX_free(c);
    return rc;
}

/*
 * friendlyName is a BMPString. PKCS12_add_friendlyname_utf8 refuses characters beyond
 * U+FFFF; Java writes them as UTF-16 surrogate pairs and OpenSSL's reader decodes those,
 * so we write the UTF-16 ourselves.
 */
static bool
add_name(PKCS12_SAFEBAG *bag, const char *alias)
{
    unsigned char *uni = NULL;
    int unilen = 0;
    bool ok;

    if (OPENSSL_utf82uni(alias, -1, &uni, &unilen) == NULL || unilen < 2) {
        OPENSSL_free(uni);
        return false;
    }
    /* unilen counts a terminating UTF-16 NUL, which is not part of the name. */
    ok = PKCS12_add_friendlyname_uni(bag, uni, unilen - 2) == 1;
    OPENSSL_free(uni);
    return ok;
}

static certo_rc
push_bag(STACK_OF(PKCS12_SAFEBAG) * bags, PKCS12_SAFEBAG **bag, struct certo_err *err)
{
    if (sk_PKCS12_SAFEBAG_push(bags, *bag) <= 0)
        return certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot add a PKCS#12 bag");
    *bag = NULL;
    return CERTO_OK;
}

static certo_rc
add_key_bag(STACK_OF(PKCS12_SAFEBAG) * bags, struct p12_writer *w, EVP_PKEY *key, const char *alias,
            unsigned char *keyid, struct certo_err *err)
{
    PKCS8_PRIV_KEY_INFO *p8 = NULL;
    unsigned char *der = NULL;
    int len = 0;
    X509_ALGOR *alg = NULL, *sig_alg = NULL;
    ASN1_OCTET_STRING *ct = NULL, *sig_ct = NULL;
    X509_SIG *sig = NULL;
    PKCS12_SAFEBAG *bag = NULL;
    certo_rc rc = CERTO_EINTERNAL;

    p8 = EVP_PKEY2PKCS8(key);
    len = p8 != NULL ? i2d_PKCS8_PRIV_KEY_INFO(p8, &der) : -1;
    if (len <= 0) {
        rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot encode the key of '%.64s'", alias);
        goto out;
    }
    rc = encrypt_der(&alg, &ct, w, w->key_nid, NULL, der, len, err);
    if (rc != CERTO_OK)
        goto out;
    sig = X509_SIG_new();
    if (sig != NULL)
        X509_SIG_getm(sig, &sig_alg, &sig_ct);
    if (sig == NULL || !X509_ALGOR_copy(sig_alg, alg) ||
        !ASN1_STRING_set(sig_ct, ASN1_STRING_get0_data(ct), ASN1_STRING_length(ct))) {
        rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot make a key bag");
        goto out;
    }
    bag = PKCS12_SAFEBAG_create0_pkcs8(sig);
    if (bag == NULL) {
        rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot make a key bag");
        goto out;
    }
    sig = NULL;
    if (!add_name(bag, alias) || !PKCS12_add_localkeyid(bag, keyid, P12_KEYID_LEN)) {
        rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot name the key of '%.64s'", alias);
        goto out;
    }
    rc = push_bag(bags, &bag, err);
out:
    PKCS12_SAFEBAG_free(bag);
    X509_SIG_free(sig);
    X509_ALGOR_free(alg);
    ASN1_OCTET_STRING_free(ct);
    if (der != NULL)
        OPENSSL_clear_free(der, (size_t)len);
    PKCS8_PRIV_KEY_INFO_free(p8); /* wipes the key bytes */
    return rc;
}

/* A certificate bag. Made with PKCS12_SAFEBAG_create_cert, not PKCS12_add_cert, which
 * would copy an alias or key id out of the certificate's auxiliary (trust) data. */
static certo_rc
add_cert_bag(STACK_OF(PKCS12_SAFEBAG) * bags, X509 *cert, const char *alias, unsigned char *keyid,
             bool trusted, struct certo_err *err)
{
    PKCS12_SAFEBAG *bag = PKCS12_SAFEBAG_create_cert(cert);
    certo_rc rc = CERTO_EINTERNAL;

    if (bag == NULL) {
        rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot make a certificate bag");
        goto out;
    }
    if ((alias != NULL && !add_name(bag, alias)) ||
        (keyid != NULL && !PKCS12_add_localkeyid(bag, keyid, P12_KEYID_LEN)) ||
        (trusted && !PKCS12_add1_attr_by_txt(
                        bag, java_trust_txt, V_ASN1_OBJECT,
                        (const unsigned char *)OBJ_nid2obj(NID_anyExtendedKeyUsage), -1))) {
        rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot set certificate bag attributes");
        goto out;
    }
    rc = push_bag(bags, &bag, err);
out:
    PKCS12_SAFEBAG_free(bag);
    return rc;
}

/* The encrypted ContentInfo of the certificate safe, built by hand: the 3.0 helpers
 * (PKCS12_pack_p7encdata_ex) cannot be told the PBKDF2 PRF or share a derived key. */
static certo_rc
pack_encrypted(PKCS7 **out, STACK_OF(PKCS12_SAFEBAG) * bags, struct p12_writer *w,
               struct certo_err *err)
{
    PKCS7 *p7 = NULL;
    X509_ALGOR *alg = NULL;
    ASN1_OCTET_STRING *ct = NULL;
    unsigned char *der = NULL;
    int len;
    certo_rc rc;

    *out = NULL;
    len = ASN1_item_i2d((const ASN1_VALUE *)bags, &der, ASN1_ITEM_rptr(PKCS12_SAFEBAGS));
    if (len <= 0) {
        rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot encode the certificates");
        goto out;
    }
    rc = encrypt_der(&alg, &ct, w, w->cert_nid, w->cert_ctx, der, len, err);
    if (rc != CERTO_OK)
        goto out;
    p7 = PKCS7_new();
    if (p7 == NULL || !PKCS7_set_type(p7, NID_pkcs7_encrypted)) {
        rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot encrypt the certificates");
        goto out;
    }
    PKCS7_ENC_CONTENT *ec = p7->d.encrypted->enc_data;
    X509_ALGOR_free(ec->algorithm);
    ec->algorithm = alg;
    alg = NULL;
    ASN1_OCTET_STRING_free(ec->enc_data);
    ec->enc_data = ct;
    ct = NULL;
    *out = p7;
    p7 = NULL;
    rc = CERTO_OK;
out:
    OPENSSL_free(der);
    ASN1_OCTET_STRING_free(ct);
    X509_ALGOR_free(alg);
    PKCS7_free(p7);
    return rc;
}

static certo_rc
add_entry(STACK_OF(PKCS12_SAFEBAG) * keybags, STACK_OF(PKCS12_SAFEBAG) * certbags,
          struct p12_writer *w, const struct certo_ks_entry *e, struct certo_err *err)
{
    unsigned char keyid[EVP_MAX_MD_SIZE];
    unsigned int idlen = 0;
    certo_rc rc;

    if (e->certs == NULL || sk_X509_num(e->certs) < 1 ||
        (e->kind == CERTO_KS_ENTRY_KEY && e->key == NULL))
        return certo_err_set(err, CERTO_EINVAL, WHERE, "entry '%.64s' is incomplete", e->alias);
    if (e->kind == CERTO_KS_ENTRY_TRUSTED)
        return add_cert_bag(certbags, sk_X509_value(e->certs, 0), e->alias, NULL, true, err);
    /* localKeyID = SHA-1 of the leaf, as OpenSSL writes it; it pairs key and leaf. */
    if (!X509_digest(sk_X509_value(e->certs, 0), EVP_sha1(), keyid, &idlen) ||
        idlen != P12_KEYID_LEN)
        return certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot hash the certificate of '%.64s'",
                              e->alias);
    rc = add_key_bag(keybags, w, e->key, e->alias, keyid, err);
    for (int i = 0; i < sk_X509_num(e->certs) && rc == CERTO_OK; i++)
        rc = add_cert_bag(certbags, sk_X509_value(e->certs, i), i == 0 ? e->alias : NULL,
                          i == 0 ? keyid : NULL, false, err);
    return rc;
}

certo_rc
certo_pkcs12_write(struct certo_buf *out, const struct certo_keystore *ks,
                   const struct certo_secret *pass, struct certo_err *err)
{
    struct p12_writer w;
    STACK_OF(PKCS12_SAFEBAG) *keybags = sk_PKCS12_SAFEBAG_new_null();
    STACK_OF(PKCS12_SAFEBAG) *certbags = sk_PKCS12_SAFEBAG_new_null();
    STACK_OF(PKCS7) *safes = sk_PKCS7_new_null();
    PKCS7 *p7 = NULL;
    PKCS12 *p12 = NULL;
    unsigned char *der = NULL, mac_salt[P12_SALT_MODERN];
    int derlen = 0;
    certo_rc rc;

    if (keybags == NULL || certbags == NULL || safes == NULL)
        abort(); /* allocation failure policy (STYLE.md 3.3) */
    rc = writer_init(&w, ks, pass, err);
    for (size_t i = 0; i < ks->count && rc == CERTO_OK; i++)
        rc = add_entry(keybags, certbags, &w, &ks->entries[i], err);
    if (rc != CERTO_OK)
        goto out;
    /* Certificates in one encrypted safe, then keys (already shrouded) in one plain data
     * safe: the layout of OpenSSL's PKCS12_create (REFERENCE.md 2.1). */
    if (sk_PKCS12_SAFEBAG_num(certbags) > 0) {
        rc = pack_encrypted(&p7, certbags, &w, err);
        if (rc != CERTO_OK)
            goto out;
        if (sk_PKCS7_push(safes, p7) <= 0) {
            rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot add the certificate safe");
            goto out;
        }
        p7 = NULL;
    }
    if (sk_PKCS12_SAFEBAG_num(keybags) > 0) {
        p7 = PKCS12_pack_p7data(keybags);
        if (p7 == NULL || sk_PKCS7_push(safes, p7) <= 0) {
            rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot add the key safe");
            goto out;
        }
        p7 = NULL;
    }
    p12 = PKCS12_add_safes_ex(safes, NID_pkcs7_data, NULL, NULL);
    if (p12 == NULL || certo_rand_bytes(mac_salt, (size_t)w.salt_len) != CERTO_OK ||
        !PKCS12_set_mac(p12, w.pass, w.passlen, mac_salt, w.salt_len, w.iter, w.mac_md)) {
        rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot assemble the PKCS#12");
        goto out;
    }
    derlen = i2d_PKCS12(p12, &der);
    if (derlen <= 0) {
        rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot encode the PKCS#12");
        goto out;
    }
    rc = certo_buf_append(out, der, (size_t)derlen);
    if (rc != CERTO_OK)
        rc = certo_err_set(err, rc, WHERE, "PKCS#12 of %d bytes is over the output limit", derlen);
out:
    writer_dispose(&w);
    OPENSSL_free(der);
    PKCS12_free(p12);
    PKCS7_free(p7);
    sk_PKCS7_pop_free(safes, PKCS7_free);
    sk_PKCS12_SAFEBAG_pop_free(keybags, PKCS12_SAFEBAG_free);
    sk_PKCS12_SAFEBAG_pop_free(certbags, PKCS12_SAFEBAG_free);
    return rc;
}
