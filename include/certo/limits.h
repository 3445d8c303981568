/* SPDX-License-Identifier: Apache-2.0 */
/* layer: util */
/*
 * Every size limit of libcerto in one place (STYLE.md 4.5). Each reader refuses input
 * past its limit with CERTO_ETOOBIG before allocating for it.
 */
#ifndef CERTO_LIMITS_H
#define CERTO_LIMITS_H

/* Whole-file ceilings of the readers, in bytes. */
#define CERTO_PEM_MAX      (8u * 1024 * 1024)  /* PEM file or bundle (a CA bundle is ~200 KiB) */
#define CERTO_DER_MAX      (1u * 1024 * 1024)  /* one DER certificate, key or CSR */
#define CERTO_PKCS12_MAX   (16u * 1024 * 1024) /* PKCS#12 file */
#define CERTO_JKS_MAX      (16u * 1024 * 1024) /* JKS file (Java's cacerts is ~160 KiB) */
#define CERTO_KEYSTORE_MAX (16u * 1024 * 1024) /* any keystore, the largest of the above */

#define CERTO_KEYSTORE_ENTRIES_MAX 10000 /* entries in one keystore */
#define CERTO_CHAIN_MAX            16    /* certificates in one entry's chain */
#define CERTO_BUNDLE_CERTS_MAX     10000 /* certificates in one PEM bundle */
#define CERTO_ALIAS_MAX            255   /* bytes of UTF-8 in a keystore alias */
#define CERTO_SECRET_MAX           4096  /* bytes in one password or token */
#define CERTO_SUBJECT_MAX          4096  /* bytes in a subject string given by a user */
#define CERTO_SANS_MAX             1000  /* subjectAltName entries in a CSR or certificate */
#define CERTO_VALIDITY_DAYS_MAX    36500 /* days of validity for a certificate we sign */

/* Running programs and storing records. */
#define CERTO_LIMIT_EXEC_OUTPUT (1u * 1024 * 1024) /* stdout or stderr kept from one child */
#define CERTO_PATH_MAX          4096               /* characters of a path given by a user */

#endif
