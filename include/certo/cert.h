/* SPDX-License-Identifier: Apache-2.0 */
/* layer: pki */
/*
 * X.509 certificates: reading PEM and DER (single certificates and bundles), writing,
 * and the report a user sees (subject, issuer, SANs, serial, validity, key, SHA-256
 * fingerprint). Certificates are OpenSSL X509 objects.
 * Threading: no shared state.
 */
#ifndef CERTO_CERT_H
#define CERTO_CERT_H

#include <time.h>
#include <openssl/x509.h>

#include "certo/buf.h"
#include "certo/err.h"

/**
 * Reads every certificate of 'data': a PEM bundle (any number of CERTIFICATE /
 * TRUSTED CERTIFICATE blocks, other blocks and text ignored) or one DER certificate.
 * @param out new stack in file order, at least one certificate.
 * @return CERTO_EPARSE (no certificate / malformed), CERTO_ETOOBIG.
 */
CERTO_MUST_CHECK certo_rc certo_cert_parse_all(STACK_OF(X509) * *out, const void *data, size_t len,
                                               struct certo_err *err);
/** Like certo_cert_parse_all, but the input must hold exactly one certificate. */
CERTO_MUST_CHECK certo_rc certo_cert_parse(X509 **out, const void *data, size_t len,
                                           struct certo_err *err);

/** Appends the PEM of one certificate to 'out'. */
CERTO_MUST_CHECK certo_rc certo_cert_to_pem(struct certo_buf *out, X509 *cert,
                                            struct certo_err *err);
/** Appends the DER of one certificate to 'out'. */
CERTO_MUST_CHECK certo_rc certo_cert_to_der(struct certo_buf *out, X509 *cert,
                                            struct certo_err *err);

/** One subjectAltName entry. */
struct certo_san {
    char type[8]; /* "DNS", "IP", "email", "URI", or "other" */
    char *value;  /* owned, printable UTF-8 */
};

/** What `certo cert inspect` reports about a certificate. All strings owned. */
struct certo_cert_info {
    char *subject;          /* RFC 2253 string */
    char *issuer;           /* RFC 2253 string */
    char *common_name;      /* first CN of the subject, NULL if none */
    char *serial;           /* upper-case hex, colon-free */
    time_t not_before;      /* seconds since the epoch */
    time_t not_after;       /* seconds since the epoch */
    char key_alg[16];       /* "RSA", "EC", "Ed25519" */
    int key_bits;           /* bits of the public key */
    char *fingerprint;      /* SHA-256, upper-case hex pairs joined by ':' */
    bool is_ca;             /* basicConstraints CA:TRUE */
    bool self_signed;       /* issuer == subject and the signature verifies with its own key */
    struct certo_san *sans; /* owned array */
    size_t n_sans;
};

/** Fills 'info' (caller-owned; release with certo_cert_info_dispose). */
CERTO_MUST_CHECK certo_rc certo_cert_info_get(struct certo_cert_info *info, X509 *cert,
                                              struct certo_err *err);
void certo_cert_info_dispose(struct certo_cert_info *info);
/**
 * Appends 'info' as one JSON object to 'out' (keys: subject, issuer, common_name, serial,
 * not_before, not_after (RFC 3339 UTC), key_type, key_bits, sha256_fingerprint, is_ca,
 * self_signed, sans [{type, value}]).
 */
CERTO_MUST_CHECK certo_rc certo_cert_info_to_json(struct certo_buf *out,
                                                  const struct certo_cert_info *info);

/** SHA-256 fingerprint as upper-case hex pairs joined by ':' into 'out' (96 bytes). */
CERTO_MUST_CHECK certo_rc certo_cert_fingerprint(char out[96], X509 *cert, struct certo_err *err);

/**
 * RFC 2253 text of a name, printable ASCII (other bytes escaped); a new string (free
 * with certo_free), never NULL.
 */
char *certo_cert_name_text(const X509_NAME *name);

/** True if 'key' is the private key of 'cert'. */
bool certo_cert_matches_key(X509 *cert, EVP_PKEY *key);

/** Frees a stack of certificates and its certificates; NULL is a no-op. */
void certo_certs_free(STACK_OF(X509) * certs);
/** Drops one reference to 'cert'. NULL ok. */
void certo_cert_free(X509 *cert);
/** A new stack holding new references to the certificates of 'certs'. */
STACK_OF(X509) * certo_certs_dup(STACK_OF(X509) * certs);

#endif
