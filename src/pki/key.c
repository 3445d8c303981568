/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private keys (pki layer): generation, reading PEM and DER in the forms other tools
 * write (PKCS#8, encrypted PKCS#8, traditional RSA/EC, optionally with a legacy
 * Proc-Type header), writing PKCS#8, and description. Passwords come in a certo_secret
 * and are only handed to OpenSSL; they are never copied elsewhere nor named in errors.
 * OpenSSL must never prompt on a terminal from here, so every decryption gets our own
 * password callback.
 */
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include "certo/key.h"
#include "certo/limits.h"
#include "certo/mem.h"
#include "pki/pem_iter.h"

#define WHERE "pki.key"

/*
 * Iteration ceiling for password-based key derivation when reading. The count comes from
 * the file, so without a ceiling a crafted key makes us spin for hours. Real tools write
 * 2048 (openssl), 10000 (keytool) or 600000 (OWASP 2023 advice).
 */
#define PBE_ITER_MAX 1000000L

/* Iterations of PBKDF2 when we encrypt a key. */
#define PBE_ITER_WRITE 100000

static const struct {
    const char *name;
    enum certo_key_alg alg;
    unsigned bits;
} key_specs[] = {
    {"rsa", CERTO_KEY_RSA, 2048},      {"rsa:2048", CERTO_KEY_RSA, 2048},
    {"rsa:3072", CERTO_KEY_RSA, 3072}, {"rsa:4096", CERTO_KEY_RSA, 4096},
    {"ec", CERTO_KEY_EC, 256},         {"ec:p256", CERTO_KEY_EC, 256},
    {"ec:p384", CERTO_KEY_EC, 384},    {"p256", CERTO_KEY_EC, 256},
    {"p384", CERTO_KEY_EC, 384},       {"ed25519", CERTO_KEY_ED25519, 256},
};

certo_rc
certo_key_spec_parse(struct certo_key_spec *out, const char *text, struct certo_err *err)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; text != NULL && i < CERTO_ARRAY_LEN(key_specs); i++) {
        if (strcasecmp(text, key_specs[i].name) == 0) {
            out->alg = key_specs[i].alg;
            out->bits = key_specs[i].bits;
            return CERTO_OK;
        }
    }
    return certo_err_set(err, CERTO_EINVAL, WHERE,
                         "unknown key type '%.64s': use rsa, rsa:2048, rsa:3072, rsa:4096, ec, "
                         "ec:p256, ec:p384, p256, p384 or ed25519",
                         text != NULL ? text : "");
}

certo_rc
certo_key_generate(EVP_PKEY **out, const struct certo_key_spec *spec, struct certo_err *err)
{
    EVP_PKEY *key = NULL;

    *out = NULL;
    switch (spec->alg) {
    case CERTO_KEY_RSA:
        if (spec->bits != 2048 && spec->bits != 3072 && spec->bits != 4096)
            return certo_err_set(err, CERTO_EINVAL, WHERE, "RSA keys are 2048, 3072 or 4096 bits");
        key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)spec->bits);
        break;
    case CERTO_KEY_EC:
        if (spec->bits != 256 && spec->bits != 384)
            return certo_err_set(err, CERTO_EINVAL, WHERE, "EC keys are on P-256 or P-384");
        key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", spec->bits == 256 ? "P-256" : "P-384");
        break;
    case CERTO_KEY_ED25519:
        key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        break;
    default:
        return certo_err_set(err, CERTO_EINVAL, WHERE, "unknown key algorithm %d", (int)spec->alg);
    }
    if (key == NULL)
        return certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "key generation failed");
    *out = key;
    return CERTO_OK;
}

/* What the password callback saw: whether OpenSSL asked, and what to give it. */
struct pass_ctx {
    const struct certo_secret *pass; /* borrowed; NULL: no password */
    bool asked;                      /* the callback ran: the key is encrypted */
};

/* pem_password_cb: hands over the password, or refuses (-1) so OpenSSL never prompts. */
static int
pass_cb(char *buf, int size, int rwflag, void *u)
{
    struct pass_ctx *pc = u;
    size_t n;

    CERTO_UNUSED(rwflag);
    pc->asked = true;
    if (pc->pass == NULL || size <= 0)
        return -1;
    n = certo_secret_len(pc->pass);
    if (n > (size_t)size)
        return -1;
    memcpy(buf, certo_secret_get0(pc->pass), n);
    return (int)n;
}

static certo_rc
need_pass(struct certo_err *err)
{
    return certo_err_set(err, CERTO_EAUTH, WHERE,
                         "the private key is encrypted: a password is needed");
}

static certo_rc
wrong_pass(struct certo_err *err)
{
    return certo_err_ossl(err, CERTO_EAUTH, WHERE, "wrong password for the private key");
}

/* Iteration count of a PKCS#5 v1 / PKCS#12 PBE or of PBES2 with PBKDF2; -1 if unknown. */
static long
pbe_iterations(const X509_ALGOR *alg)
{
    const ASN1_OBJECT *oid = NULL;
    const void *pval = NULL;
    int ptype = 0;
    long iter = -1;

    X509_ALGOR_get0(&oid, &ptype, &pval, alg);
    if (ptype != V_ASN1_SEQUENCE)
        return -1;
    if (OBJ_obj2nid(oid) == NID_pbes2) {
        PBE2PARAM *p2 = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBE2PARAM), alg->parameter);
        if (p2 == NULL)
            return -1;
        if (p2->keyfunc != NULL && OBJ_obj2nid(p2->keyfunc->algorithm) == NID_id_pbkdf2 &&
            p2->keyfunc->parameter != NULL && p2->keyfunc->parameter->type == V_ASN1_SEQUENCE) {
            PBKDF2PARAM *kdf =
                ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBKDF2PARAM), p2->keyfunc->parameter);
            if (kdf != NULL)
                iter = ASN1_INTEGER_get(kdf->iter);
            PBKDF2PARAM_free(kdf);
        } else {
            /* scrypt: OpenSSL bounds its memory itself; nothing to count here. */
            iter = 0;
        }
        PBE2PARAM_free(p2);
    } else {
        PBEPARAM *p1 = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBEPARAM), alg->parameter);
        if (p1 != NULL)
            iter = ASN1_INTEGER_get(p1->iter);
        PBEPARAM_free(p1);
    }
    ERR_clear_error();
    return iter;
}

/* The key inside a decoded PrivateKeyInfo. */
static certo_rc
key_from_p8(EVP_PKEY **out, const PKCS8_PRIV_KEY_INFO *p8, struct certo_err *err)
{
    *out = EVP_PKCS82PKEY(p8);
    if (*out == NULL)
        return certo_err_ossl(err, CERTO_EPARSE, WHERE, "unsupported or malformed private key");
    return CERTO_OK;
}

/* Decrypts an EncryptedPrivateKeyInfo (DER) into a key. */
static certo_rc
parse_encrypted_p8(EVP_PKEY **out, const unsigned char *der, size_t len,
                   const struct certo_secret *pass, struct certo_err *err)
{
    const unsigned char *p = der;
    X509_SIG *sig = NULL;
    PKCS8_PRIV_KEY_INFO *p8 = NULL;
    const X509_ALGOR *alg = NULL;
    certo_rc rc = CERTO_EINTERNAL;
    long iter;

    *out = NULL;
    sig = d2i_X509_SIG(NULL, &p, (long)len);
    if (sig == NULL || p != der + len) {
        rc = certo_err_ossl(err, CERTO_EPARSE, WHERE, "malformed encrypted private key");
        goto out;
    }
    if (pass == NULL) {
        rc = need_pass(err);
        goto out;
    }
    X509_SIG_get0(sig, &alg, NULL);
    iter = pbe_iterations(alg);
    if (iter > PBE_ITER_MAX) {
        rc = certo_err_set(err, CERTO_EUNSUPPORTED, WHERE,
                           "the private key asks for %ld key-derivation iterations (limit %ld)",
                           iter, PBE_ITER_MAX);
        goto out;
    }
    p8 = PKCS8_decrypt_ex(sig, certo_secret_get0(pass), (int)certo_secret_len(pass), NULL, NULL);
    if (p8 == NULL) {
        rc = wrong_pass(err);
        goto out;
    }
    rc = key_from_p8(out, p8, err);
out:
    PKCS8_PRIV_KEY_INFO_free(p8);
    X509_SIG_free(sig);
    return rc;
}

/* Reads an unencrypted PrivateKeyInfo (DER). */
static certo_rc
parse_p8(EVP_PKEY **out, const unsigned char *der, size_t len, struct certo_err *err)
{
    const unsigned char *p = der;
    PKCS8_PRIV_KEY_INFO *p8 = NULL;
    certo_rc rc = CERTO_EINTERNAL;

    *out = NULL;
    p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)len);
    if (p8 == NULL || p != der + len) {
        rc = certo_err_ossl(err, CERTO_EPARSE, WHERE, "malformed PKCS#8 private key");
        goto out;
    }
    rc = key_from_p8(out, p8, err);
out:
    PKCS8_PRIV_KEY_INFO_free(p8);
    return rc;
}

/* Reads a traditional RSAPrivateKey / ECPrivateKey (DER) of algorithm 'type'. */
static certo_rc
parse_traditional(EVP_PKEY **out, int type, const unsigned char *der, size_t len,
                  struct certo_err *err)
{
    const unsigned char *p = der;
    EVP_PKEY *key = NULL;

    *out = NULL;
    key = d2i_PrivateKey_ex(type, NULL, &p, (long)len, NULL, NULL);
    if (key == NULL || p != der + len) {
        EVP_PKEY_free(key);
        return certo_err_ossl(err, CERTO_EPARSE, WHERE, "malformed %s private key",
                              type == EVP_PKEY_RSA ? "RSA" : "EC");
    }
    *out = key;
    return CERTO_OK;
}

/*
 * One PEM private-key block. Traditional blocks may carry an RFC 1421 "Proc-Type:
 * 4,ENCRYPTED" header (openssl genrsa -aes256); PEM_do_header decrypts those in place.
 */
static certo_rc
parse_pem_block(EVP_PKEY **out, const char *name, char *header, unsigned char *data, long dlen,
                const struct certo_secret *pass, struct certo_err *err)
{
    struct pass_ctx pc = {.pass = pass, .asked = false};
    EVP_CIPHER_INFO cipher;
    int type;

    *out = NULL;
    if (strcmp(name, PEM_STRING_PKCS8) == 0)
        return parse_encrypted_p8(out, data, (size_t)dlen, pass, err);
    if (strcmp(name, PEM_STRING_PKCS8INF) == 0)
        return parse_p8(out, data, (size_t)dlen, err);
    type = strcmp(name, PEM_STRING_RSA) == 0 ? EVP_PKEY_RSA : EVP_PKEY_EC;
    if (!PEM_get_EVP_CIPHER_INFO(header, &cipher))
        return certo_err_ossl(err, CERTO_EPARSE, WHERE, "malformed %s header", name);
    if (cipher.cipher != NULL && pass == NULL) {
        ERR_clear_error();
        return need_pass(err);
    }
    if (!PEM_do_header(&cipher, data, &dlen, pass_cb, &pc))
        return pc.asked ? wrong_pass(err)
                        : certo_err_ossl(err, CERTO_EPARSE, WHERE, "malformed %s block", name);
    return parse_traditional(out, type, data, (size_t)dlen, err);
}

/* True when 'data' is PEM text rather than DER: DER keys always start with a SEQUENCE. */
/* Walks the PEM blocks of 'data' and reads the first private key among them;
 * certificates, EC PARAMETERS and anything else before it are skipped. */
static certo_rc
parse_pem(EVP_PKEY **out, const void *data, size_t len, const struct certo_secret *pass,
          struct certo_err *err)
{
    struct certo_pem_iter it;
    certo_rc rc = certo_pem__iter_init(&it, data, len, err);

    *out = NULL;
    while (rc == CERTO_OK) {
        rc = certo_pem__iter_next(&it, err);
        if (rc == CERTO_OK && certo_pem__is_key_block(it.name)) {
            rc = parse_pem_block(out, it.name, it.header, it.body, it.len, pass, err);
            break;
        }
    }
    certo_pem__iter_dispose(&it);
    if (rc == CERTO_ENOTFOUND)
        rc = certo_err_set(err, CERTO_EPARSE, WHERE, "no private key found");
    return rc;
}

/* DER: PrivateKeyInfo, EncryptedPrivateKeyInfo, or (leniently) a traditional key. */
static certo_rc
parse_der(EVP_PKEY **out, const unsigned char *der, size_t len, const struct certo_secret *pass,
          struct certo_err *err)
{
    const unsigned char *p = der;
    X509_SIG *sig = NULL;
    EVP_PKEY *key = NULL;

    *out = NULL;
    if (len > CERTO_DER_MAX)
        return certo_err_set(err, CERTO_ETOOBIG, WHERE, "DER key is %zu bytes, limit is %u", len,
                             CERTO_DER_MAX);
    sig = d2i_X509_SIG(NULL, &p, (long)len);
    X509_SIG_free(sig);
    if (sig != NULL && p == der + len) {
        ERR_clear_error();
        return parse_encrypted_p8(out, der, len, pass, err);
    }
    ERR_clear_error();
    if (parse_p8(out, der, len, NULL) == CERTO_OK)
        return CERTO_OK;
    p = der;
    key = d2i_AutoPrivateKey(NULL, &p, (long)len);
    if (key != NULL && p == der + len) {
        ERR_clear_error();
        *out = key;
        return CERTO_OK;
    }
    EVP_PKEY_free(key);
    return certo_err_ossl(err, CERTO_EPARSE, WHERE, "not a private key (PEM or DER)");
}

certo_rc
certo_key_parse(EVP_PKEY **out, const void *data, size_t len, const struct certo_secret *pass,
                struct certo_err *err)
{
    *out = NULL;
    if (len > CERTO_PEM_MAX)
        return certo_err_set(err, CERTO_ETOOBIG, WHERE, "key input is %zu bytes, limit is %u", len,
                             CERTO_PEM_MAX);
    if (len == 0)
        return certo_err_set(err, CERTO_EPARSE, WHERE, "empty key input");
    if (certo_pem__looks_like(data, len))
        return parse_pem(out, data, len, pass, err);
    return parse_der(out, data, len, pass, err);
}

/*
 * Encrypted PKCS#8 with explicit parameters: PBES2, PBKDF2 with HMAC-SHA256 (RFC 8018
 * section 6.2 and appendix B.1.2), AES-256-CBC. OpenSSL's defaults would pick the same
 * today, but spelling them out keeps the files readable by every PKCS#8 reader we test.
 */
static certo_rc
write_encrypted_pem(BIO *bio, EVP_PKEY *key, const struct certo_secret *pass, struct certo_err *err)
{
    PKCS8_PRIV_KEY_INFO *p8 = NULL;
    X509_ALGOR *alg = NULL;
    X509_SIG *sig = NULL;
    certo_rc rc = CERTO_EINTERNAL;

    p8 = EVP_PKEY2PKCS8(key);
    if (p8 == NULL) {
        rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot encode the private key");
        goto out;
    }
    alg = PKCS5_pbe2_set_iv(EVP_aes_256_cbc(), PBE_ITER_WRITE, NULL, 0, NULL, NID_hmacWithSHA256);
    if (alg == NULL) {
        rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot set up key encryption");
        goto out;
    }
    sig = PKCS8_set0_pbe(certo_secret_get0(pass), (int)certo_secret_len(pass), p8, alg);
    if (sig == NULL) {
        rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot encrypt the private key");
        goto out;
    }
    alg = NULL; /* owned by 'sig' now */
    if (PEM_write_bio_PKCS8(bio, sig) != 1) {
        rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot write the private key");
        goto out;
    }
    rc = CERTO_OK;
out:
    X509_SIG_free(sig);
    X509_ALGOR_free(alg);
    PKCS8_PRIV_KEY_INFO_free(p8);
    return rc;
}

certo_rc
certo_key_to_pem(struct certo_buf *out, EVP_PKEY *key, const struct certo_secret *pass,
                 struct certo_err *err)
{
    BIO *bio = NULL;
    certo_rc rc = CERTO_EINTERNAL;

    /* A secure-heap BIO: the unencrypted key text is wiped when it is freed. */
    bio = BIO_new(BIO_s_secmem());
    if (bio == NULL) {
        rc = certo_err_ossl(err, CERTO_ENOMEM, WHERE, "out of memory");
        goto out;
    }
    if (pass != NULL) {
        rc = write_encrypted_pem(bio, key, pass, err);
        if (rc != CERTO_OK)
            goto out;
    } else if (PEM_write_bio_PKCS8PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1) {
        rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot write the private key");
        goto out;
    }
    rc = certo_pem__bio_to_buf(out, bio, "the private key", err);
out:
    BIO_free(bio);
    return rc;
}

certo_rc
certo_key_to_der(struct certo_buf *out, EVP_PKEY *key, struct certo_err *err)
{
    PKCS8_PRIV_KEY_INFO *p8 = NULL;
    unsigned char *der = NULL;
    int n = 0;
    certo_rc rc = CERTO_EINTERNAL;

    p8 = EVP_PKEY2PKCS8(key);
    if (p8 == NULL) {
        rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot encode the private key");
        goto out;
    }
    n = i2d_PKCS8_PRIV_KEY_INFO(p8, &der);
    if (n <= 0) {
        rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot encode the private key");
        goto out;
    }
    rc = certo_buf_append(out, der, (size_t)n);
    if (rc != CERTO_OK) {
        rc = certo_err_set(err, rc, WHERE, "output buffer limit reached");
        goto out;
    }
out:
    if (der != NULL)
        OPENSSL_clear_free(der, (size_t)n);
    PKCS8_PRIV_KEY_INFO_free(p8);
    return rc;
}

const char *
certo_key_alg_name(const EVP_PKEY *key)
{
    if (key == NULL)
        return "unknown";
    switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
        return "RSA";
    case EVP_PKEY_EC:
        return "EC";
    case EVP_PKEY_ED25519:
        return "Ed25519";
    default:
        return "unknown";
    }
}

int
certo_key_bits(const EVP_PKEY *key)
{
    return key != NULL ? EVP_PKEY_get_bits(key) : 0;
}

const char *
certo_key_curve(const EVP_PKEY *key)
{
    char group[64];
    const char *name;
    int nid;

    if (key == NULL || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC)
        return NULL;
    if (EVP_PKEY_get_group_name(key, group, sizeof(group), NULL) != 1) {
        ERR_clear_error();
        return NULL;
    }
    /* The group name is OpenSSL's ("prime256v1"); show the NIST name users know. */
    nid = OBJ_sn2nid(group);
    if (nid == NID_undef)
        nid = EC_curve_nist2nid(group);
    if (nid == NID_undef)
        return NULL;
    name = EC_curve_nid2nist(nid);
    return name != NULL ? name : OBJ_nid2sn(nid);
}

bool
certo_key_public_equal(const EVP_PKEY *a, const EVP_PKEY *b)
{
    if (a == NULL || b == NULL)
        return false;
    bool eq = EVP_PKEY_eq(a, b) == 1;
    ERR_clear_error();
    return eq;
}
