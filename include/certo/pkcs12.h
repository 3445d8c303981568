/* SPDX-License-Identifier: Apache-2.0 */
/* layer: pki */
/*
 * PKCS#12 with aliases (friendlyName) per entry, several key entries per file, Java
 * trusted-certificate entries (Oracle attribute 2.16.840.1.113894.746875.1.1), and the
 * modern (PBES2/AES-256-CBC, SHA-256 MAC) and legacy (3DES / RC2-40, SHA-1 MAC)
 * profiles (REFERENCE.md 2). Legacy algorithms run in a private OpenSSL library context
 * with the legacy and default providers, never in the default context.
 * Threading: the legacy context is created once, under a lock.
 */
#ifndef CERTO_PKCS12_H
#define CERTO_PKCS12_H

#include "certo/keystore.h"

/**
 * Parses PKCS#12 bytes into 'ks' (an empty keystore of format CERTO_KS_PKCS12). The MAC
 * is verified first. Keys are paired with their certificates by localKeyID (falling back
 * to public-key match); each key entry's chain is ordered from the remaining
 * certificates; certificates with the Java trust attribute, and certificates that belong
 * to no key, become trusted entries. Entries without friendlyName get "1", "2", ...
 * ks->p12_profile is set to the profile found, and ks->p12_iter to the file's iteration
 * count when it is above the default (a rewritten keytool file keeps its 10000).
 * Iteration counts named by the file are bounded (per use and per file) before any is
 * spent.
 * @return CERTO_EAUTH (MAC does not verify: wrong password), CERTO_EPARSE (corrupt),
 *         CERTO_ETOOBIG, CERTO_EUNSUPPORTED (secret-key bags, unknown algorithms, iteration
 *         counts over the bound).
 */
CERTO_MUST_CHECK certo_rc certo_pkcs12_parse(struct certo_keystore *ks, const void *data,
                                             size_t len, const struct certo_secret *pass,
                                             struct certo_err *err);

/**
 * Appends the PKCS#12 encoding of 'ks' to 'out' with ks->p12_profile and ks->p12_iter:
 * one shrouded key bag per key entry (friendlyName + localKeyID), its chain as
 * certificate bags (leaf with the same attributes), trusted entries as certificate bags
 * with friendlyName and the Java trust attribute. In the modern profile every PBES2
 * structure of one file shares one salt, hence one PBKDF2 derivation, each with its own
 * IV: the MAC already lets a password guess be tested with one derivation, so this costs
 * no strength and halves the work of writing and reading.
 */
CERTO_MUST_CHECK certo_rc certo_pkcs12_write(struct certo_buf *out, const struct certo_keystore *ks,
                                             const struct certo_secret *pass,
                                             struct certo_err *err);

#endif
