/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers shared by the cmocka unit tests: fixture files, temporary directories, and
 * the cmocka includes in the order cmocka needs them.
 */
#ifndef CERTO_TESTUTIL_H
#define CERTO_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "certo/certo.h"

/** Absolute path of tests/fixtures/'name' (static buffer, overwritten by the next call). */
const char *t_fixture(const char *name);
/** Reads a fixture into 'out' (ceiling 64 MiB); fails the test if it cannot. */
void t_read_fixture(struct certo_buf *out, const char *name);
/** Reads any file into 'out'; fails the test if it cannot. */
void t_read_file(struct certo_buf *out, const char *path);
/** Creates a fresh temporary directory; returns its path (owned; free with t_rmdir). */
char *t_mkdtemp(void);
/** Removes 'dir' recursively and frees the string. */
void t_rmdir(char *dir);
/** A new secret from a string; fails the test if it cannot. */
struct certo_secret *t_secret(const char *s);
/** Number of entries in directory 'dir' (excluding . and ..). */
int t_dir_count(const char *dir);
/** Loads the first private key and the certificates of a fixture. */
EVP_PKEY *t_fixture_key(const char *name);
STACK_OF(X509) * t_fixture_certs(const char *name);

/*
 * PostgreSQL for tests (tests/pg/README). The server's admin url comes from
 * $CERTO_TEST_PG_URL, or from the file named by $CERTO_TEST_PG_URL_FILE (CTest sets it
 * to the fixture's DIR/url).
 */
/** The admin url (static buffer), or NULL when neither variable is set. Fails the test
 *  when the file variable is set but the file cannot be read: the fixture did not start. */
const char *t_pg_admin_url(void);
/**
 * Creates a new, uniquely named, empty database (UTF8, LC_COLLATE "C") and writes its url
 * into 'url_out' (it holds the test password: never print it). Skips the test when no
 * PostgreSQL is configured; fails it when the server cannot be used.
 */
void t_pg_db(char *url_out, size_t cap);

#endif
