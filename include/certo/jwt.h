/* SPDX-License-Identifier: Apache-2.0 */
/* layer: server */
/*
 * JSON Web Tokens in JWS compact serialization (RFC 7515, RFC 7519) with the four
 * asymmetric algorithms Certo uses: ES256, ES384, RS256 and EdDSA (Ed25519). Parsing is
 * strict and separate from verification, so a caller can choose the key from the header
 * (its "x5t#S256", RFC 8705) before checking the signature. "none" and HMAC are never
 * accepted, and a key only verifies the algorithm of its own type (no algorithm
 * confusion). Error messages never quote the token or any part of it.
 * Threading: no shared state; a parsed token belongs to one thread at a time.
 */
#ifndef CERTO_JWT_H
#define CERTO_JWT_H

#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "certo/buf.h"
#include "certo/err.h"

/** Longest token certo_jwt_parse accepts when its 'max_len' is 0, in bytes. */
#define CERTO_JWT_MAX 8192
/** Characters of an RFC 8705 "x5t#S256" thumbprint, without the terminating NUL. */
#define CERTO_JWT_X5T_LEN 43

/** The JWS algorithms Certo signs and verifies (RFC 7518 §3.1, RFC 8037 §3.1). */
enum certo_jwt_alg {
    CERTO_JWT_ES256 = 1, /* ECDSA P-256 with SHA-256, signature r||s of 64 bytes */
    CERTO_JWT_ES384 = 2, /* ECDSA P-384 with SHA-384, signature r||s of 96 bytes */
    CERTO_JWT_RS256 = 3, /* RSASSA-PKCS1-v1_5 with SHA-256, RSA keys of 2048 bits or more */
    CERTO_JWT_EDDSA = 4, /* Ed25519 (the "EdDSA" of RFC 8037), signature of 64 bytes */
};

/**
 * A parsed, not yet verified token. Fill it with certo_jwt_parse and release it with
 * certo_jwt_dispose. Nothing in it may be trusted before certo_jwt_verify and
 * certo_jwt_check_times have returned CERTO_OK.
 */
struct certo_jwt {
    json_t *header;           /* owned: the JOSE header, a JSON object */
    json_t *claims;           /* owned: the payload, a JSON object */
    enum certo_jwt_alg alg;   /* the header's "alg" */
    const char *x5t_s256;     /* borrowed from 'header': its "x5t#S256" (43 base64url
                                 characters), NULL when the header has none */
    char *signing_input;      /* owned, NUL-terminated: the first two segments and their dot */
    size_t signing_input_len; /* bytes of 'signing_input' without the NUL */
    unsigned char *sig;       /* owned: the decoded third segment */
    size_t sig_len;           /* bytes of 'sig' */
};

/** Static JWS name of an algorithm ("ES256", "ES384", "RS256", "EdDSA"), "?" if unknown. */
const char *certo_jwt_alg_name(enum certo_jwt_alg alg);

/**
 * The JWS algorithm a key signs with: EC P-256 → ES256, EC P-384 → ES384, RSA of at least
 * 2048 bits → RS256, Ed25519 → EdDSA.
 * @param key borrowed, public or private.
 * @return CERTO_OK; CERTO_EUNSUPPORTED for any other key (other curves, small RSA, RSA-PSS).
 */
CERTO_MUST_CHECK certo_rc certo_jwt_key_alg(enum certo_jwt_alg *out, EVP_PKEY *key,
                                            struct certo_err *err);

/**
 * Signs 'claims' into a compact token. The header is {"alg": <from the key>, "typ": "JWT"},
 * plus "x5t#S256" (the RFC 8705 thumbprint of 'cert_or_null') when a certificate is given,
 * so that a verifier can find the signer.
 * @param out the token, NUL-terminated, owned by the caller (free with certo_free); NULL on
 *        failure.
 * @param key borrowed private key (see certo_jwt_key_alg for the accepted types).
 * @param cert_or_null borrowed certificate of 'key', or NULL for no "x5t#S256".
 * @param claims borrowed JSON object; serialized compactly in its own key order.
 * @return CERTO_OK; CERTO_EUNSUPPORTED (key type), CERTO_EINVAL ('claims' is not an
 *         object or cannot be serialized), CERTO_ECRYPTO (signing failed, e.g. a public key).
 */
CERTO_MUST_CHECK certo_rc certo_jwt_sign(char **out, EVP_PKEY *key, X509 *cert_or_null,
                                         const json_t *claims, struct certo_err *err);

/**
 * Parses a compact token without verifying it. Refused, in this order: a token longer
 * than 'max_len' (checked before anything else is read); anything but exactly three
 * non-empty segments of the base64url alphabet (no padding, no whitespace, canonical
 * trailing bits); a header or payload that is not a JSON object, or has a duplicate key;
 * an "alg" other than ES256, ES384, RS256 and EdDSA ("none" and the HMAC algorithms are
 * named as refused); a "typ" other than "JWT" or "at+jwt" (case-insensitive); any "crit";
 * an "x5t#S256" that is not a 43-character base64url SHA-256 thumbprint.
 * @param out caller-owned, zeroed here first; filled only on success (release with
 *        certo_jwt_dispose). On failure it holds nothing to release.
 * @param token NUL-terminated, borrowed; need not be valid past the call.
 * @param max_len longest accepted token in bytes; 0 means CERTO_JWT_MAX.
 * @return CERTO_OK; CERTO_EINVAL for every refusal, with a message that quotes nothing
 *         of the token.
 */
CERTO_MUST_CHECK certo_rc certo_jwt_parse(struct certo_jwt *out, const char *token, size_t max_len,
                                          struct certo_err *err);

/**
 * Checks the signature of a parsed token with 'key'. The algorithm is the one bound to
 * the key's type (certo_jwt_key_alg); a key whose algorithm is not the header's "alg" is
 * refused, so an RSA key never checks an ES256 token nor the other way round. ECDSA
 * signatures must be exactly the r||s of RFC 7518 §3.4 (64 bytes for ES256, 96 for
 * ES384); a DER-encoded signature is refused.
 * @param key borrowed public (or private) key of the expected signer.
 * @return CERTO_OK; CERTO_EAUTH (algorithm/key mismatch, wrong signature length, the
 *         signature does not verify); CERTO_EUNSUPPORTED ('key' can verify no JWS alg).
 */
CERTO_MUST_CHECK certo_rc certo_jwt_verify(const struct certo_jwt *jwt, EVP_PKEY *key,
                                           struct certo_err *err);

/**
 * Checks the token's times against 'now' (RFC 7519 §4.1.4-4.1.6): "exp" is required and
 * must be after now - leeway; "nbf" and "iat", when present, must not be after
 * now + leeway. Each must be a JSON number (a string is refused) between 0 and
 * 253402300799 (year 9999); a fractional time is rounded towards refusal.
 * @param leeway_s allowed clock skew in seconds, 0 to 86400.
 * @return CERTO_OK; CERTO_EAUTH with "token expired", or a token not yet valid;
 *         CERTO_EINVAL (claim missing, not a number, out of range).
 */
CERTO_MUST_CHECK certo_rc certo_jwt_check_times(const struct certo_jwt *jwt, time_t now,
                                                int leeway_s, struct certo_err *err);

/** Releases what certo_jwt_parse put in 'jwt' and zeroes it; NULL and a zeroed struct are ok. */
void certo_jwt_dispose(struct certo_jwt *jwt);

/**
 * The RFC 8705 §3.1 thumbprint of a certificate: base64url without padding of the
 * SHA-256 of its whole DER encoding (not the SPKI), 43 characters and a NUL in 'out'.
 * @param cert borrowed.
 * @return CERTO_OK; CERTO_ECRYPTO if the certificate cannot be encoded.
 */
CERTO_MUST_CHECK certo_rc certo_jwt_x5t_s256(char out[CERTO_JWT_X5T_LEN + 1], X509 *cert,
                                             struct certo_err *err);

/**
 * Appends the base64url encoding of 'n' bytes at 'p' to 'out' (RFC 4648 §5, no padding).
 * @param p may be NULL when 'n' is 0.
 * @return CERTO_OK; CERTO_ETOOBIG past out's ceiling (the buffer is then disposed).
 */
CERTO_MUST_CHECK certo_rc certo_b64url_encode(struct certo_buf *out, const void *p, size_t n,
                                              struct certo_err *err);

/**
 * Decodes 'len' characters of base64url into 'out', strictly: only the alphabet
 * A-Z a-z 0-9 - _ (no padding, no whitespace), no length of the form 4k+1, and zero
 * unused trailing bits, so that every byte string has exactly one accepted encoding.
 * @param s borrowed; need not be NUL-terminated.
 * @return CERTO_OK; CERTO_EINVAL (not canonical base64url, quoting nothing of 's');
 *         CERTO_ETOOBIG past out's ceiling (the buffer is then disposed).
 */
CERTO_MUST_CHECK certo_rc certo_b64url_decode(struct certo_buf *out, const char *s, size_t len,
                                              struct certo_err *err);

#endif
