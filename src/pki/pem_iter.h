/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to the pki layer: one walk over the blocks of PEM text, shared by the
 * certificate, key, CSR and PEM-keystore readers. PEM_read_bio skips text between blocks
 * ("Bag Attributes" lines, comments) and reports the end of input as
 * PEM_R_NO_START_LINE; anything else is a damaged block. Block bodies may be private
 * keys, so they are always wiped when released.
 * Threading: an iterator belongs to one thread.
 */
#ifndef CERTO_PKI_PEM_ITER_H
#define CERTO_PKI_PEM_ITER_H

#include <openssl/bio.h>

#include "certo/buf.h"
#include "certo/err.h"

struct certo_pem_iter {
    BIO *bio_;           /* owned; reads the caller's bytes in place */
    int index;           /* 1-based number of the current block, for messages */
    char *name;          /* owned; type of the current block, e.g. "CERTIFICATE" */
    char *header;        /* owned; the block's headers (legacy encrypted keys), may be "" */
    unsigned char *body; /* owned; decoded DER of the current block */
    long len;            /* bytes in 'body' */
};

/* True if 'data' looks like PEM text rather than DER (which starts with a SEQUENCE). */
bool certo_pem__looks_like(const unsigned char *data, size_t len);

/* True for the block types of a private key we read: PKCS#8 (plain or encrypted) and the
 * traditional RSA and EC forms. */
bool certo_pem__is_key_block(const char *name);

/*
 * Appends what a PEM writer put in memory BIO 'bio' to 'out'. 'what' names the object
 * for the message ("the certificate").
 * @return CERTO_ECRYPTO if the BIO holds nothing, CERTO_ETOOBIG past the buffer's ceiling.
 */
CERTO_MUST_CHECK certo_rc certo_pem__bio_to_buf(struct certo_buf *out, BIO *bio, const char *what,
                                                struct certo_err *err);

/* Starts a walk over 'len' bytes of 'data' (borrowed for the iterator's life). */
CERTO_MUST_CHECK certo_rc certo_pem__iter_init(struct certo_pem_iter *it, const void *data,
                                               size_t len, struct certo_err *err);
/*
 * Moves to the next block, releasing the previous one.
 * @return CERTO_OK with a block in it->name/body, CERTO_ENOTFOUND at the end of the input
 *         (no error recorded), CERTO_EPARSE for a damaged block (recorded, naming it).
 */
CERTO_MUST_CHECK certo_rc certo_pem__iter_next(struct certo_pem_iter *it, struct certo_err *err);
/* Releases the iterator and wipes the current block. */
void certo_pem__iter_dispose(struct certo_pem_iter *it);

#endif
