/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

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

const char *
t_pg_admin_url(void)
{
    static char url[1024];
    const char *v = getenv("CERTO_TEST_PG_URL");
    const char *file = getenv("CERTO_TEST_PG_URL_FILE");
    FILE *f;
    size_t n;

    if (v != NULL && v[0] != '\0') {
        snprintf(url, sizeof(url), "%s", v);
        return url;
    }
    if (file == NULL || file[0] == '\0')
        return NULL;
    f = fopen(file, "r");
    if (f == NULL)
        fail_msg("CERTO_TEST_PG_URL_FILE is %s, which cannot be read: did the PostgreSQL "
                 "fixture (tests/pg/pgctl.sh) start?",
                 file);
    n = fread(url, 1, sizeof(url) - 1, f);
    fclose(f);
    url[n] = '\0';
    while (n > 0 && (url[n - 1] == '\n' || url[n - 1] == '\r'))
        url[--n] = '\0';
    if (n == 0)
        fail_msg("%s is empty", file);
    return url;
}

void
t_pg_db(char *url_out, size_t cap)
{
    static unsigned counter;
    const char *admin = t_pg_admin_url();
    const char *host, *path, *query;
    unsigned char rnd[4];
    char name[64];
    char sql[256];
    PGconn *c;
    PGresult *res;

    if (admin == NULL) {
        skip(); /* no PostgreSQL configured (outside CTest) */
        return;
    }
    if (certo_rand_bytes(rnd, sizeof(rnd)) != CERTO_OK)
        fail_msg("random");
    snprintf(name, sizeof(name), "certo_t_%ld_%u_%02x%02x%02x%02x", (long)getpid(), counter++,
             rnd[0], rnd[1], rnd[2], rnd[3]);
    c = PQconnectdb(admin);
    if (PQstatus(c) != CONNECTION_OK) {
        char msg[256];
        snprintf(msg, sizeof(msg), "%s", PQerrorMessage(c));
        PQfinish(c);
        fail_msg("cannot connect to the test PostgreSQL: %s", msg);
    }
    snprintf(sql, sizeof(sql),
             "CREATE DATABASE \"%s\" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' "
             "LC_CTYPE 'C'",
             name);
    res = PQexec(c, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        char msg[256];
        snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(res));
        PQclear(res);
        PQfinish(c);
        fail_msg("CREATE DATABASE %s: %s", name, msg);
    }
    PQclear(res);
    PQfinish(c);
    /* The admin url with its database replaced: scheme://authority/NAME[?query]. */
    host = strstr(admin, "://");
    if (host == NULL)
        fail_msg("CERTO_TEST_PG_URL is not a postgresql:// url");
    path = strchr(host + 3, '/');
    query = strchr(host + 3, '?');
    if (path == NULL || (query != NULL && query < path))
        path = query != NULL ? query : admin + strlen(admin);
    if (query == NULL)
        query = "";
    if ((size_t)snprintf(url_out, cap, "%.*s/%s%s", (int)(path - admin), admin, name, query) >= cap)
        fail_msg("url buffer too small");
}
