/* SPDX-License-Identifier: Apache-2.0 */
/* layer: pki */
/*
 * Keystores: one in-memory model for PEM files, PKCS#12 and JKS, with entries named by
 * alias. A key entry holds a private key and its chain (leaf first); a trusted entry one
 * certificate. Reading and writing are format-specific (pem.h, pkcs12.h, jks.h); this
 * header holds the model, the alias rules, format detection, and load/save on files
 * (atomic replacement, owner and mode kept, new files 0600).
 * Threading: a keystore belongs to one thread at a time.
 */
#ifndef CERTO_KEYSTORE_H
#define CERTO_KEYSTORE_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "certo/buf.h"
#include "certo/err.h"
#include "certo/secret.h"

enum certo_ks_format {
    CERTO_KS_AUTO = 0,   /* detect from content (certo_keystore_detect) */
    CERTO_KS_PEM = 1,    /* PEM text: certificates and at most one private key */
    CERTO_KS_PKCS12 = 2, /* PKCS#12 / PFX */
    CERTO_KS_JKS = 3,    /* Java KeyStore, version 2 written, 1 and 2 read */
};

enum certo_ks_entry_kind {
    CERTO_KS_ENTRY_KEY = 1,     /* private key + chain (Java PrivateKeyEntry) */
    CERTO_KS_ENTRY_TRUSTED = 2, /* one trusted certificate (Java trustedCertEntry) */
};

/** PKCS#12 encryption profiles (seed 004 --is_legacy; REFERENCE.md 2.2). */
enum certo_p12_profile {
    CERTO_P12_MODERN = 0,      /* PBES2: PBKDF2-HMAC-SHA256 + AES-256-CBC; HMAC-SHA256 MAC */
    CERTO_P12_LEGACY_RC2 = 1,  /* key 3DES, certificates RC2-40, HMAC-SHA1 MAC */
    CERTO_P12_LEGACY_3DES = 2, /* key and certificates 3DES, HMAC-SHA1 MAC */
};

/** How a PEM keystore is laid out when written. */
enum certo_pem_layout {
    CERTO_PEM_COMBINED = 0,  /* leaf, chain, then the key, in one file */
    CERTO_PEM_KEY_FIRST = 1, /* the key, then leaf and chain, in one file */
    CERTO_PEM_FULLCHAIN = 2, /* leaf then chain (no key) */
    CERTO_PEM_CERT = 3,      /* leaf only */
    CERTO_PEM_CHAIN = 4,     /* chain without the leaf */
    CERTO_PEM_KEY = 5,       /* private key only */
};

struct certo_ks_entry {
    enum certo_ks_entry_kind kind;
    char *alias;            /* owned, UTF-8; as stored (JKS: lower-case when we write) */
    int64_t created_ms;     /* creation time, ms since the epoch; 0 when unknown */
    EVP_PKEY *key;          /* owned; KEY entries only, NULL for TRUSTED */
    STACK_OF(X509) * certs; /* owned; KEY: chain, leaf first, >= 1 (0 only for a PEM file
                               that holds a key alone); TRUSTED: exactly 1 */
};

struct certo_keystore {
    enum certo_ks_format format;    /* never CERTO_KS_AUTO */
    struct certo_ks_entry *entries; /* owned array, in file order */
    size_t count;                   /* entries used */
    size_t cap_;                    /* entries allocated */
    /* Writing options: */
    enum certo_p12_profile p12_profile; /* PKCS#12: profile (read: the one found) */
    int p12_iter;                       /* PKCS#12: PBKDF2 / PBE / MAC iterations, 0 = 2048 */
    enum certo_pem_layout pem_layout;   /* PEM: layout (read: the one found) */
};

/** A new empty keystore of 'format' (not CERTO_KS_AUTO). Never NULL. */
struct certo_keystore *certo_keystore_new(enum certo_ks_format format);
/** Frees the keystore, its entries, keys and certificates; NULL is a no-op. */
void certo_keystore_free(struct certo_keystore *ks);

/** Static lower-case name: "pem", "pkcs12", "jks". */
const char *certo_ks_format_name(enum certo_ks_format format);
/** Parses "pem", "p12", "pkcs12", "pfx", "jks" (any case). @return CERTO_EINVAL. */
CERTO_MUST_CHECK certo_rc certo_ks_format_parse(enum certo_ks_format *out, const char *text,
                                                struct certo_err *err);
/**
 * Guesses the format of 'data': JKS magic FEEDFEED, a DER SEQUENCE that parses as
 * PKCS#12, or PEM text. @return CERTO_KS_AUTO if it is none of them.
 */
enum certo_ks_format certo_keystore_detect(const void *data, size_t len);

/**
 * Checks an alias given by a user for 'format': 1..CERTO_ALIAS_MAX bytes of valid UTF-8,
 * no control characters. For JKS the alias is lower-cased the way Java does (the
 * lower-cased form is returned). 'out' (may be NULL) receives a new string.
 * @return CERTO_EINVAL naming what is wrong.
 */
CERTO_MUST_CHECK certo_rc certo_keystore_alias_check(char **out, enum certo_ks_format format,
                                                     const char *alias, struct certo_err *err);
/**
 * A default alias for a certificate: its common name (else first DNS SAN, else "1"),
 * lower-cased for JKS, characters outside the allowed set replaced by '-'. New string.
 */
char *certo_keystore_default_alias(enum certo_ks_format format, X509 *cert);

/**
 * The entry with 'alias' (JKS and PKCS#12: compared case-insensitively, as Java does),
 * or NULL. Borrowed.
 */
const struct certo_ks_entry *certo_keystore_find(const struct certo_keystore *ks,
                                                 const char *alias);

/**
 * Adds a key entry, or replaces the entry with the same alias in place (other entries
 * and their order are untouched). A PEM keystore holds one key: there the existing key
 * entry is replaced whatever its alias. Takes new references to 'key' and the certificates.
 * The alias is checked with certo_keystore_alias_check; the chain must start with the
 * certificate of 'key' and link (certo_chain_check_links).
 * @return CERTO_EINVAL (alias, key/certificate mismatch, broken chain), CERTO_ETOOBIG.
 */
CERTO_MUST_CHECK certo_rc certo_keystore_put_key(struct certo_keystore *ks, const char *alias,
                                                 EVP_PKEY *key, STACK_OF(X509) * chain,
                                                 int64_t created_ms, struct certo_err *err);
/** Adds or replaces a trusted-certificate entry (new reference to 'cert'). */
CERTO_MUST_CHECK certo_rc certo_keystore_put_trusted(struct certo_keystore *ks, const char *alias,
                                                     X509 *cert, int64_t created_ms,
                                                     struct certo_err *err);
/** Removes the entry with 'alias'. @return CERTO_ENOTFOUND. */
CERTO_MUST_CHECK certo_rc certo_keystore_remove(struct certo_keystore *ks, const char *alias,
                                                struct certo_err *err);

/**
 * For format readers: appends an entry exactly as read, taking ownership of 'key' and
 * 'certs' (freed even on failure). 'alias' is copied. Refuses duplicate aliases
 * (compared as certo_keystore_find does) and more than CERTO_KEYSTORE_ENTRIES_MAX entries.
 * @return CERTO_EPARSE (duplicate alias), CERTO_ETOOBIG.
 */
CERTO_MUST_CHECK certo_rc certo_keystore_add_take(struct certo_keystore *ks,
                                                  enum certo_ks_entry_kind kind, const char *alias,
                                                  int64_t created_ms, EVP_PKEY *key,
                                                  STACK_OF(X509) * certs, struct certo_err *err);

/**
 * Parses a keystore held in memory.
 * @param format CERTO_KS_AUTO to detect.
 * @param pass store password (PKCS#12, JKS; for PEM the password of an encrypted key);
 *        may be NULL for PEM.
 * @return CERTO_EPARSE (corrupt or truncated), CERTO_EAUTH (wrong password),
 *         CERTO_ETOOBIG, CERTO_EUNSUPPORTED (e.g. JCEKS).
 */
CERTO_MUST_CHECK certo_rc certo_keystore_parse(struct certo_keystore **out,
                                               enum certo_ks_format format, const void *data,
                                               size_t len, const struct certo_secret *pass,
                                               struct certo_err *err);
/** Appends the serialized keystore to 'out' (ceiling CERTO_KEYSTORE_MAX). */
CERTO_MUST_CHECK certo_rc certo_keystore_serialize(struct certo_buf *out,
                                                   const struct certo_keystore *ks,
                                                   const struct certo_secret *pass,
                                                   struct certo_err *err);

/** Reads and parses the keystore file 'path'. Errors name the path. */
CERTO_MUST_CHECK certo_rc certo_keystore_load(struct certo_keystore **out, const char *path,
                                              enum certo_ks_format format,
                                              const struct certo_secret *pass,
                                              struct certo_err *err);
/**
 * Serializes and atomically replaces 'path' (a new file gets mode 0600; an existing one
 * keeps its owner and mode). On any failure the old file is byte-for-byte unchanged and
 * no temporary file is left.
 * @return CERTO_EPERM (directory not writable), CERTO_EIO, and the serializer's codes.
 */
CERTO_MUST_CHECK certo_rc certo_keystore_save(const struct certo_keystore *ks, const char *path,
                                              const struct certo_secret *pass,
                                              struct certo_err *err);

#endif
