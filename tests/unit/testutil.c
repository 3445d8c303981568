/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

const char *
t_fixture(const char *name)
{
    static char path[4096];
    snprintf(path, sizeof(path), "%s/%s", CERTO_FIXTURES, name);
    return path;
}

void
t_read_file(struct certo_buf *out, const char *path)
{
    certo_buf_init(out, 64u * 1024 * 1024);
    if (certo_file_read(out, path) != CERTO_OK)
        fail_msg("cannot read %s", path);
}

void
t_read_fixture(struct certo_buf *out, const char *name)
{
    t_read_file(out, t_fixture(name));
}

char *
t_mkdtemp(void)
{
    const char *base = getenv("TMPDIR");
    char *tmpl = certo_asprintf("%s/certo-test-XXXXXX", base != NULL ? base : "/tmp");
    if (mkdtemp(tmpl) == NULL)
        fail_msg("mkdtemp failed");
    return tmpl;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void
t_rmdir(char *dir)
{
    if (dir == NULL)
        return;
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    certo_free(dir);
}

struct certo_secret *
t_secret(const char *s)
{
    struct certo_secret *sec = NULL;
    if (certo_secret_from_str(&sec, s) != CERTO_OK)
        fail_msg("secret");
    return sec;
}

int
t_dir_count(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    }
    closedir(d);
    return n;
}

EVP_PKEY *
t_fixture_key(const char *name)
{
    struct certo_buf b;
    EVP_PKEY *k = NULL;
    t_read_fixture(&b, name);
    if (certo_key_parse(&k, b.data, b.len, NULL, NULL) != CERTO_OK)
        fail_msg("cannot parse key fixture %s", name);
    certo_buf_dispose(&b);
    return k;
}

STACK_OF(X509) * t_fixture_certs(const char *name)
{
    struct certo_buf b;
    STACK_OF(X509) *c = NULL;
    t_read_fixture(&b, name);
    if (certo_cert_parse_all(&c, b.data, b.len, NULL) != CERTO_OK)
        fail_msg("cannot parse certificate fixture %s", name);
    certo_buf_dispose(&b);
    return c;
}
