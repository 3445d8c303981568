/* SPDX-License-Identifier: Apache-2.0 */
/* layer: pki */
/*
 * Certificate requests and signing: PKCS#10 CSRs with subject and subjectAltNames,
 * self-signed certificates, and signing a CSR with a CA key and certificate (the base of
 * the server's private CA and of gateway enrollment). Signatures use SHA-256 (SHA-384
 * for P-384 keys; none for Ed25519, which hashes internally).
 * Threading: no shared state.
 */
#ifndef CERTO_CSR_H
#define CERTO_CSR_H

#include <openssl/x509.h>

#include "certo/buf.h"
#include "certo/err.h"

/**
 * The names to put in a request or certificate.
 * 'subject' is "CN=www.example.com,O=Example,C=DE" (RFC 4514 order, ',' separated, '\'
 * escapes) or the OpenSSL form "/CN=www.example.com/O=Example"; may be NULL or empty only
 * when 'sans' is not empty.
 * 'sans' are "DNS:name", "IP:192.0.2.1" or "IP:2001:db8::1", "email:a@example.com",
 * "URI:https://example.com/"; a bare value is taken as DNS or IP by its form.
 */
struct certo_names {
    const char *subject;     /* borrowed */
    const char *const *sans; /* borrowed array of borrowed strings */
    size_t n_sans;
};

/** Options of a certificate we sign. */
struct certo_sign_opts {
    int days;     /* validity in days from now (1..CERTO_VALIDITY_DAYS_MAX) */
    bool is_ca;   /* basicConstraints CA:TRUE, keyCertSign, cRLSign */
    int path_len; /* CA path length constraint; -1 for none */
};

/**
 * Builds and signs a CSR for 'key'.
 * @return CERTO_EINVAL naming the bad subject attribute or SAN.
 */
CERTO_MUST_CHECK certo_rc certo_csr_new(X509_REQ **out, EVP_PKEY *key,
                                        const struct certo_names *names, struct certo_err *err);
/** Reads a CSR from PEM or DER and checks its self-signature. */
CERTO_MUST_CHECK certo_rc certo_csr_parse(X509_REQ **out, const void *data, size_t len,
                                          struct certo_err *err);
/** Appends the PEM of a CSR to 'out'. */
CERTO_MUST_CHECK certo_rc certo_csr_to_pem(struct certo_buf *out, X509_REQ *req,
                                           struct certo_err *err);

/**
 * Issues a self-signed certificate for 'key' (random 128-bit serial, SKI, AKI;
 * leaf: digitalSignature + keyEncipherment (RSA), serverAuth + clientAuth).
 */
CERTO_MUST_CHECK certo_rc certo_cert_selfsign(X509 **out, EVP_PKEY *key,
                                              const struct certo_names *names,
                                              const struct certo_sign_opts *opts,
                                              struct certo_err *err);

/**
 * Signs 'req' with 'ca_key' as 'ca_cert': copies the CSR's subject and SANs (only those;
 * requested extensions other than subjectAltName are ignored), and never issues beyond
 * the CA certificate's own expiry.
 * @return CERTO_EINVAL if 'ca_key' does not match 'ca_cert' or 'ca_cert' is not a CA,
 *         CERTO_EAUTH if the CSR's signature does not verify.
 */
CERTO_MUST_CHECK certo_rc certo_csr_sign(X509 **out, X509_REQ *req, X509 *ca_cert, EVP_PKEY *ca_key,
                                         const struct certo_sign_opts *opts, struct certo_err *err);

#endif
