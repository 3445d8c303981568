/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JWS compact serialization (RFC 7515, RFC 7519) for the server's tokens, on OpenSSL 3
 * and jansson. The parser is deliberately narrow: one base64url spelling per byte string,
 * JSON objects without duplicate keys, four asymmetric algorithms, no "crit". The
 * algorithm that checks a signature comes from the verifying key and must equal the
 * header's, which closes the classic RS256-to-HS256 and "none" confusions. No message
 * quotes the token: tokens are credentials, and jansson's own error texts quote input.
 */
#include <limits.h>
#include <string.h>
#include <strings.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>

#include "certo/jwt.h"
#include "certo/key.h"
#include "certo/mem.h"

#define WHERE "server.jwt"
/* Ceiling of the buffers that hold one decoded segment or one token we sign. */
#define SEGMENT_MAX (1024u * 1024)
/* RFC 7519 NumericDate bounds we accept: the epoch to the end of year 9999. */
#define NUMERIC_DATE_MAX 253402300799LL
#define LEEWAY_MAX       86400

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The value of base64url character 'c', -1 for any other byte. */
static int
b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

const char *
certo_jwt_alg_name(enum certo_jwt_alg alg)
{
    switch (alg) {
    case CERTO_JWT_ES256:
        return "ES256";
    case CERTO_JWT_ES384:
        return "ES384";
    case CERTO_JWT_RS256:
        return "RS256";
    case CERTO_JWT_EDDSA:
        return "EdDSA";
    }
    return "?";
}

certo_rc
certo_b64url_encode(struct certo_buf *out, const void *p, size_t n, struct certo_err *err)
{
    const unsigned char *in = p;
    char chunk[256];
    size_t used = 0;

    for (size_t i = 0; i < n; i += 3) {
        size_t left = n - i;
        uint32_t v = (uint32_t)in[i] << 16;

        if (left > 1)
            v |= (uint32_t)in[i + 1] << 8;
        if (left > 2)
            v |= in[i + 2];
        chunk[used++] = b64url_alphabet[(v >> 18) & 63];
        chunk[used++] = b64url_alphabet[(v >> 12) & 63];
        if (left > 1)
            chunk[used++] = b64url_alphabet[(v >> 6) & 63];
        if (left > 2)
            chunk[used++] = b64url_alphabet[v & 63];
        if (used > sizeof(chunk) - 4 || i + 3 >= n) {
            if (certo_buf_append(out, chunk, used) != CERTO_OK)
                return certo_err_set(err, CERTO_ETOOBIG, WHERE, "encoded data is too long");
            used = 0;
        }
    }
    return CERTO_OK;
}

certo_rc
certo_b64url_decode(struct certo_buf *out, const char *s, size_t len, struct certo_err *err)
{
    unsigned char chunk[192];
    size_t used = 0;
    uint32_t acc = 0;
    unsigned bits = 0;

    /* 4k+1 characters carry 6 bits of a byte that never ends: no encoder writes that. */
    if (len % 4 == 1)
        return certo_err_set(err, CERTO_EINVAL, WHERE, "base64url text has an impossible length");
    for (size_t i = 0; i < len; i++) {
        int v = b64url_value((unsigned char)s[i]);

        if (v < 0)
            return certo_err_set(err, CERTO_EINVAL, WHERE,
                                 "base64url text has a character outside its alphabet");
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            chunk[used++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
        if (used == sizeof(chunk)) {
            if (certo_buf_append(out, chunk, used) != CERTO_OK)
                return certo_err_set(err, CERTO_ETOOBIG, WHERE, "decoded data is too long");
            used = 0;
        }
    }
    /*
     * The bits left over must be zero (RFC 4648 §3.5 allows a decoder to insist): else
     * one value has several spellings, and a changed character could still verify.
     */
    if (acc != 0)
        return certo_err_set(err, CERTO_EINVAL, WHERE, "base64url text is not canonical");
    if (used > 0 && certo_buf_append(out, chunk, used) != CERTO_OK)
        return certo_err_set(err, CERTO_ETOOBIG, WHERE, "decoded data is too long");
    return CERTO_OK;
}

certo_rc
certo_jwt_key_alg(enum certo_jwt_alg *out, EVP_PKEY *key, struct certo_err *err)
{
    const char *curve;

    if (EVP_PKEY_is_a(key, "EC")) {
        curve = certo_key_curve(key);
        if (curve != NULL && strcmp(curve, "P-256") == 0) {
            *out = CERTO_JWT_ES256;
            return CERTO_OK;
        }
        if (curve != NULL && strcmp(curve, "P-384") == 0) {
            *out = CERTO_JWT_ES384;
            return CERTO_OK;
        }
        return certo_err_set(err, CERTO_EUNSUPPORTED, WHERE,
                             "EC keys sign tokens only on P-256 and P-384");
    }
    if (EVP_PKEY_is_a(key, "RSA")) {
        if (EVP_PKEY_get_bits(key) < 2048)
            return certo_err_set(err, CERTO_EUNSUPPORTED, WHERE,
                                 "RSA keys of fewer than 2048 bits do not sign tokens");
        *out = CERTO_JWT_RS256;
        return CERTO_OK;
    }
    if (EVP_PKEY_is_a(key, "ED25519")) {
        *out = CERTO_JWT_EDDSA;
        return CERTO_OK;
    }
    return certo_err_set(err, CERTO_EUNSUPPORTED, WHERE,
                         "the key type signs no token algorithm (EC, RSA or Ed25519 needed)");
}

/* Digest of an algorithm; NULL for EdDSA, whose one-shot interface takes none. */
static const EVP_MD *
alg_md(enum certo_jwt_alg alg)
{
    switch (alg) {
    case CERTO_JWT_ES256:
    case CERTO_JWT_RS256:
        return EVP_sha256();
    case CERTO_JWT_ES384:
        return EVP_sha384();
    case CERTO_JWT_EDDSA:
        break;
    }
    return NULL;
}

/* Bytes of r and of s in a JWS ECDSA signature (RFC 7518 §3.4), 0 for other algorithms. */
static size_t
ecdsa_half(enum certo_jwt_alg alg)
{
    if (alg == CERTO_JWT_ES256)
        return 32;
    if (alg == CERTO_JWT_ES384)
        return 48;
    return 0;
}

certo_rc
certo_jwt_x5t_s256(char out[CERTO_JWT_X5T_LEN + 1], X509 *cert, struct certo_err *err)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    struct certo_buf b;
    certo_rc rc = CERTO_EINTERNAL;

    out[0] = '\0';
    certo_buf_init(&b, 64);
    if (X509_digest(cert, EVP_sha256(), md, &mdlen) != 1 || mdlen != 32) {
        rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot hash the certificate");
        goto out;
    }
    rc = certo_b64url_encode(&b, md, mdlen, err);
    if (rc != CERTO_OK)
        goto out;
    CERTO_ASSERT(b.len == CERTO_JWT_X5T_LEN);
    memcpy(out, b.data, CERTO_JWT_X5T_LEN);
    out[CERTO_JWT_X5T_LEN] = '\0';
    rc = CERTO_OK;
out:
    certo_buf_dispose(&b);
    return rc;
}

/* Appends the compact JSON of 'j' in base64url to 'b'. */
static certo_rc
append_json_b64(struct certo_buf *b, const json_t *j, struct certo_err *err)
{
    char *text = json_dumps(j, JSON_COMPACT);
    json_free_t jfree = NULL;
    certo_rc rc;

    if (text == NULL)
        return certo_err_set(err, CERTO_EINVAL, WHERE, "the claims cannot be serialized");
    rc = certo_b64url_encode(b, text, strlen(text), err);
    /* The text comes from jansson's allocator: give it back the same way. */
    json_get_alloc_funcs(NULL, &jfree);
    jfree(text);
    return rc;
}

/* DER ECDSA-Sig-Value (what OpenSSL produces) → the fixed-size r||s of RFC 7518 §3.4. */
static certo_rc
ecdsa_der_to_jws(unsigned char *out, size_t half, const unsigned char *der, size_t der_len,
                 struct certo_err *err)
{
    const unsigned char *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    const BIGNUM *r, *s;
    certo_rc rc = CERTO_EINTERNAL;

    if (sig == NULL) {
        rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot decode the ECDSA signature");
        goto out;
    }
    ECDSA_SIG_get0(sig, &r, &s);
    if (BN_bn2binpad(r, out, (int)half) != (int)half ||
        BN_bn2binpad(s, out + half, (int)half) != (int)half) {
        rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "ECDSA signature does not fit its curve");
        goto out;
    }
    rc = CERTO_OK;
out:
    ECDSA_SIG_free(sig);
    return rc;
}

/* The JWS r||s form → DER for OpenSSL; 'der_out' is freed with OPENSSL_free. */
static certo_rc
ecdsa_jws_to_der(unsigned char **der_out, int *der_len, const unsigned char *rs, size_t half,
                 struct certo_err *err)
{
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(rs, (int)half, NULL);
    BIGNUM *s = BN_bin2bn(rs + half, (int)half, NULL);
    certo_rc rc = CERTO_EINTERNAL;

    *der_out = NULL;
    if (sig == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(sig, r, s) != 1) {
        rc = certo_err_ossl(err, CERTO_ENOMEM, WHERE, "out of memory");
        goto out;
    }
    r = s = NULL; /* owned by 'sig' now */
    *der_len = i2d_ECDSA_SIG(sig, der_out);
    if (*der_len <= 0) {
        *der_out = NULL;
        rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot encode the ECDSA signature");
        goto out;
    }
    rc = CERTO_OK;
out:
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return rc;
}

/* Signs 'len' bytes with 'key' for 'alg' and appends the JWS signature in base64url. */
static certo_rc
append_signature(struct certo_buf *b, EVP_PKEY *key, enum certo_jwt_alg alg,
                 const unsigned char *msg, size_t len, struct certo_err *err)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char *sig = NULL, rs[96];
    size_t sig_len = 0, half = ecdsa_half(alg);
    certo_rc rc = CERTO_EINTERNAL;

    if (ctx == NULL || EVP_DigestSignInit(ctx, NULL, alg_md(alg), NULL, key) != 1 ||
        EVP_DigestSign(ctx, NULL, &sig_len, msg, len) != 1) {
        rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot sign with the key");
        goto out;
    }
    sig = certo_malloc(sig_len);
    if (EVP_DigestSign(ctx, sig, &sig_len, msg, len) != 1) {
        rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "signing failed");
        goto out;
    }
    if (half > 0) {
        rc = ecdsa_der_to_jws(rs, half, sig, sig_len, err);
        if (rc != CERTO_OK)
            goto out;
        rc = certo_b64url_encode(b, rs, 2 * half, err);
    } else {
        rc = certo_b64url_encode(b, sig, sig_len, err);
    }
out:
    certo_free(sig);
    EVP_MD_CTX_free(ctx);
    return rc;
}

certo_rc
certo_jwt_sign(char **out, EVP_PKEY *key, X509 *cert_or_null, const json_t *claims,
               struct certo_err *err)
{
    char x5t[CERTO_JWT_X5T_LEN + 1];
    enum certo_jwt_alg alg;
    json_t *header = NULL;
    struct certo_buf b, sig;
    certo_rc rc = CERTO_EINTERNAL;

    *out = NULL;
    certo_buf_init(&b, SEGMENT_MAX);
    certo_buf_init(&sig, SEGMENT_MAX);
    if (!json_is_object(claims)) {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE, "the claims must be a JSON object");
        goto out;
    }
    rc = certo_jwt_key_alg(&alg, key, err);
    if (rc != CERTO_OK)
        goto out;
    header = json_pack("{s:s, s:s}", "alg", certo_jwt_alg_name(alg), "typ", "JWT");
    if (header == NULL) {
        rc = certo_err_set(err, CERTO_ENOMEM, WHERE, "out of memory");
        goto out;
    }
    if (cert_or_null != NULL) {
        rc = certo_jwt_x5t_s256(x5t, cert_or_null, err);
        if (rc != CERTO_OK)
            goto out;
        if (json_object_set_new(header, "x5t#S256", json_string(x5t)) != 0) {
            rc = certo_err_set(err, CERTO_ENOMEM, WHERE, "out of memory");
            goto out;
        }
    }
    rc = append_json_b64(&b, header, err);
    if (rc != CERTO_OK)
        goto out;
    if (certo_buf_append(&b, ".", 1) != CERTO_OK) {
        rc = certo_err_set(err, CERTO_ETOOBIG, WHERE, "the token is too long");
        goto out;
    }
    rc = append_json_b64(&b, claims, err);
    if (rc != CERTO_OK)
        goto out;
    /* The signing input is everything so far (RFC 7515 §5.1 step 5). */
    rc = append_signature(&sig, key, alg, b.data, b.len, err);
    if (rc != CERTO_OK)
        goto out;
    if (certo_buf_append(&b, ".", 1) != CERTO_OK ||
        certo_buf_append(&b, sig.data, sig.len) != CERTO_OK) {
        rc = certo_err_set(err, CERTO_ETOOBIG, WHERE, "the token is too long");
        goto out;
    }

    *out = (char *)certo_buf_detach(&b, NULL);
    rc = CERTO_OK;
out:
    json_decref(header);
    certo_buf_dispose(&sig);
    certo_buf_dispose(&b);
    return rc;
}

void
certo_jwt_dispose(struct certo_jwt *jwt)
{
    if (jwt == NULL)
        return;
    json_decref(jwt->header);
    json_decref(jwt->claims);
    certo_free(jwt->signing_input);
    certo_free(jwt->sig);
    memset(jwt, 0, sizeof(*jwt));
}

/* Decodes one base64url segment that must hold a JSON object; 'what' names it. */
static certo_rc
parse_json_segment(json_t **out, const char *seg, size_t len, const char *what,
                   struct certo_err *err)
{
    struct certo_buf b;
    json_error_t jerr;
    json_t *j = NULL;
    certo_rc rc = CERTO_EINTERNAL;

    *out = NULL;
    certo_buf_init(&b, SEGMENT_MAX);
    rc = certo_b64url_decode(&b, seg, len, NULL);
    if (rc != CERTO_OK) {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE, "the token's %s is not canonical base64url",
                           what);
        goto out;
    }
    /* jansson's error text quotes the input, so only the fact of the failure is reported. */
    j = json_loadb((const char *)b.data, b.len, JSON_REJECT_DUPLICATES, &jerr);
    if (j == NULL) {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE,
                           "the token's %s is not valid JSON or has a duplicate key", what);
        goto out;
    }
    if (!json_is_object(j)) {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE, "the token's %s is not a JSON object", what);
        goto out;
    }
    *out = j;
    j = NULL;
    rc = CERTO_OK;
out:
    json_decref(j);
    certo_buf_dispose(&b);
    return rc;
}

/* Checks the JOSE header's parameters and fills the alg and x5t#S256 of 'jwt'. */
static certo_rc
check_header(struct certo_jwt *jwt, struct certo_err *err)
{
    static const struct {
        const char *name;
        enum certo_jwt_alg alg;
    } algs[] = {
        {"ES256", CERTO_JWT_ES256},
        {"ES384", CERTO_JWT_ES384},
        {"RS256", CERTO_JWT_RS256},
        {"EdDSA", CERTO_JWT_EDDSA},
    };
    const json_t *alg = json_object_get(jwt->header, "alg");
    const json_t *typ = json_object_get(jwt->header, "typ");
    const json_t *x5t = json_object_get(jwt->header, "x5t#S256");
    const char *name;

    if (!json_is_string(alg))
        return certo_err_set(err, CERTO_EINVAL, WHERE, "the token's header has no \"alg\" string");
    name = json_string_value(alg);
    for (size_t i = 0; i < CERTO_ARRAY_LEN(algs); i++) {
        if (strcmp(name, algs[i].name) == 0)
            jwt->alg = algs[i].alg;
    }
    if (jwt->alg == 0) {
        /* Case-insensitive here only to give the clearest refusal; acceptance is exact. */
        if (strcasecmp(name, "none") == 0)
            return certo_err_set(err, CERTO_EINVAL, WHERE,
                                 "unsigned tokens (alg \"none\") are refused");
        if (strncasecmp(name, "HS", 2) == 0)
            return certo_err_set(err, CERTO_EINVAL, WHERE,
                                 "HMAC tokens (alg HS*) are refused: only ES256, ES384, RS256 "
                                 "and EdDSA are accepted");
        return certo_err_set(err, CERTO_EINVAL, WHERE,
                             "the token's alg is not supported: only ES256, ES384, RS256 and "
                             "EdDSA are accepted");
    }
    if (typ != NULL &&
        (!json_is_string(typ) || (strcasecmp(json_string_value(typ), "JWT") != 0 &&
                                  strcasecmp(json_string_value(typ), "at+jwt") != 0)))
        return certo_err_set(err, CERTO_EINVAL, WHERE,
                             "the token's typ is neither \"JWT\" nor \"at+jwt\"");
    /* RFC 7515 §4.1.11: we understand no extension, so any "crit" must be refused. */
    if (json_object_get(jwt->header, "crit") != NULL)
        return certo_err_set(err, CERTO_EINVAL, WHERE,
                             "the token's header has \"crit\" extensions, which are refused");
    if (x5t != NULL) {
        const char *v = json_string_value(x5t);
        struct certo_buf b;
        certo_rc rc;

        if (v == NULL || strlen(v) != CERTO_JWT_X5T_LEN)
            return certo_err_set(err, CERTO_EINVAL, WHERE,
                                 "the token's x5t#S256 is not a SHA-256 thumbprint");
        certo_buf_init(&b, 64);
        rc = certo_b64url_decode(&b, v, CERTO_JWT_X5T_LEN, NULL);
        certo_buf_dispose(&b);
        if (rc != CERTO_OK)
            return certo_err_set(err, CERTO_EINVAL, WHERE,
                                 "the token's x5t#S256 is not a SHA-256 thumbprint");
        jwt->x5t_s256 = v;
    }
    return CERTO_OK;
}

certo_rc
certo_jwt_parse(struct certo_jwt *out, const char *token, size_t max_len, struct certo_err *err)
{
    struct certo_jwt jwt = {0};
    const char *dot1 = NULL, *dot2 = NULL;
    struct certo_buf sig;
    size_t len, dots = 0;
    certo_rc rc = CERTO_EINTERNAL;

    memset(out, 0, sizeof(*out));
    if (max_len == 0)
        max_len = CERTO_JWT_MAX;
    /* The bound comes first: not even the length of a longer token is measured. */
    len = strnlen(token, max_len + 1);
    if (len > max_len)
        return certo_err_set(err, CERTO_EINVAL, WHERE, "the token is longer than %zu bytes",
                             max_len);
    for (size_t i = 0; i < len; i++) {
        if (token[i] == '.') {
            if (++dots == 1)
                dot1 = token + i;
            else if (dots == 2)
                dot2 = token + i;
        } else if (b64url_value((unsigned char)token[i]) < 0) {
            return certo_err_set(err, CERTO_EINVAL, WHERE,
                                 "the token has a character outside base64url and '.' "
                                 "(padding or whitespace?)");
        }
    }
    if (dots != 2)
        return certo_err_set(err, CERTO_EINVAL, WHERE,
                             "the token has %zu segments, a signed JWT has 3", dots + 1);
    if (dot1 == token || dot2 == dot1 + 1 || dot2 + 1 == token + len)
        return certo_err_set(err, CERTO_EINVAL, WHERE, "the token has an empty segment");

    certo_buf_init(&sig, SEGMENT_MAX);
    rc = parse_json_segment(&jwt.header, token, (size_t)(dot1 - token), "header", err);
    if (rc != CERTO_OK)
        goto out;
    rc = check_header(&jwt, err);
    if (rc != CERTO_OK)
        goto out;
    rc = parse_json_segment(&jwt.claims, dot1 + 1, (size_t)(dot2 - dot1 - 1), "payload", err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_b64url_decode(&sig, dot2 + 1, (size_t)(token + len - dot2 - 1), NULL);
    if (rc != CERTO_OK) {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE,
                           "the token's signature is not canonical base64url");
        goto out;
    }
    jwt.signing_input_len = (size_t)(dot2 - token);
    jwt.signing_input = certo_strndup(token, jwt.signing_input_len);
    jwt.sig_len = sig.len;
    jwt.sig = certo_buf_detach(&sig, NULL);

    *out = jwt;
    memset(&jwt, 0, sizeof(jwt));
    rc = CERTO_OK;
out:
    certo_jwt_dispose(&jwt);
    certo_buf_dispose(&sig);
    return rc;
}

certo_rc
certo_jwt_verify(const struct certo_jwt *jwt, EVP_PKEY *key, struct certo_err *err)
{
    EVP_MD_CTX *ctx = NULL;
    unsigned char *der = NULL;
    const unsigned char *sig = jwt->sig;
    size_t sig_len = jwt->sig_len, half;
    enum certo_jwt_alg alg;
    int der_len = 0, ok;
    certo_rc rc = CERTO_EINTERNAL;

    rc = certo_jwt_key_alg(&alg, key, err);
    if (rc != CERTO_OK)
        goto out;
    /* The key decides the algorithm; the header must agree (RFC 8725 §3.1). */
    if (alg != jwt->alg) {
        rc = certo_err_set(err, CERTO_EAUTH, WHERE,
                           "the token's alg %s does not match the %s verification key",
                           certo_jwt_alg_name(jwt->alg), certo_jwt_alg_name(alg));
        goto out;
    }
    half = ecdsa_half(alg);
    if (half > 0) {
        /* Exactly r||s: a DER signature, or r||s of another curve, never gets to OpenSSL. */
        if (sig_len != 2 * half) {
            rc = certo_err_set(err, CERTO_EAUTH, WHERE,
                               "the token's signature is %zu bytes, %s needs %zu", sig_len,
                               certo_jwt_alg_name(alg), 2 * half);
            goto out;
        }
        rc = ecdsa_jws_to_der(&der, &der_len, sig, half, err);
        if (rc != CERTO_OK)
            goto out;
        sig = der;
        sig_len = (size_t)der_len;
    } else if (sig_len != (size_t)EVP_PKEY_get_size(key)) {
        rc = certo_err_set(err, CERTO_EAUTH, WHERE,
                           "the token's signature is %zu bytes, %s with this key needs %d", sig_len,
                           certo_jwt_alg_name(alg), EVP_PKEY_get_size(key));
        goto out;
    }
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL || EVP_DigestVerifyInit(ctx, NULL, alg_md(alg), NULL, key) != 1) {
        rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot verify with the key");
        goto out;
    }
    ok = EVP_DigestVerify(ctx, sig, sig_len, (const unsigned char *)jwt->signing_input,
                          jwt->signing_input_len);
    if (ok != 1) {
        ERR_clear_error();
        rc = certo_err_set(err, CERTO_EAUTH, WHERE, "the token's signature does not verify");
        goto out;
    }
    rc = CERTO_OK;
out:
    OPENSSL_free(der);
    EVP_MD_CTX_free(ctx);
    return rc;
}

/*
 * Reads the NumericDate claim 'name' (RFC 7519 §2) into 'out'; *present tells whether the
 * claim exists. A fractional value is rounded against the token: up ('round_up') for
 * nbf and iat, down for exp.
 */
static certo_rc
numeric_date(int64_t *out, bool *present, const json_t *claims, const char *name, bool round_up,
             struct certo_err *err)
{
    const json_t *v = json_object_get(claims, name);
    double d;

    *present = v != NULL;
    if (v == NULL)
        return CERTO_OK;
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0 || i > NUMERIC_DATE_MAX)
            return certo_err_set(err, CERTO_EINVAL, WHERE, "the token's %s is out of range", name);
        *out = (int64_t)i;
        return CERTO_OK;
    }
    if (!json_is_real(v))
        return certo_err_set(err, CERTO_EINVAL, WHERE, "the token's %s is not a number", name);
    d = json_real_value(v);
    /* jansson never yields NaN or infinity, but the range check must come before the cast. */
    if (!(d >= 0.0 && d <= (double)NUMERIC_DATE_MAX))
        return certo_err_set(err, CERTO_EINVAL, WHERE, "the token's %s is out of range", name);
    *out = (int64_t)d; /* d >= 0: the cast rounds down */
    if (round_up && (double)*out < d)
        (*out)++;
    return CERTO_OK;
}

certo_rc
certo_jwt_check_times(const struct certo_jwt *jwt, time_t now, int leeway_s, struct certo_err *err)
{
    int64_t exp = 0, nbf = 0, iat = 0, t = (int64_t)now;
    bool has_exp, has_nbf, has_iat;
    certo_rc rc;

    CERTO_ASSERT(leeway_s >= 0 && leeway_s <= LEEWAY_MAX);
    if (leeway_s < 0 || leeway_s > LEEWAY_MAX)
        return CERTO_EINTERNAL;
    rc = numeric_date(&exp, &has_exp, jwt->claims, "exp", false, err);
    if (rc != CERTO_OK)
        return rc;
    rc = numeric_date(&nbf, &has_nbf, jwt->claims, "nbf", true, err);
    if (rc != CERTO_OK)
        return rc;
    rc = numeric_date(&iat, &has_iat, jwt->claims, "iat", true, err);
    if (rc != CERTO_OK)
        return rc;
    if (!has_exp)
        return certo_err_set(err, CERTO_EINVAL, WHERE, "the token has no exp claim");
    /* Each claim is within [0, year 9999]: the leeway moves them, never 'now' (overflow). */
    if (t >= exp + leeway_s)
        return certo_err_set(err, CERTO_EAUTH, WHERE, "token expired");
    if (has_nbf && nbf - leeway_s > t)
        return certo_err_set(err, CERTO_EAUTH, WHERE, "token not yet valid (nbf)");
    if (has_iat && iat - leeway_s > t)
        return certo_err_set(err, CERTO_EAUTH, WHERE, "token issued in the future (iat)");
    return CERTO_OK;
}
