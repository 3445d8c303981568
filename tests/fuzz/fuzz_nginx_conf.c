/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the nginx configuration reader and editor of the connector
 * layer. The input is a set of files separated by NUL bytes: the first is /f/nginx.conf,
 * the next ones /f/1.conf, /f/2.conf, ... (reachable with `include` and globs). Whatever
 * reads is matched against a few names and edited; the edited files must read again,
 * every byte outside the edits must be kept, and every matched block must then name the
 * new files.
 */
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

#include "certo/certo.h"
#include "connector/nginx/nginx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FILES_MAX 8
#define CERT      "/f/new cert.pem"
#define KEY       "/f/new.key"

struct fs {
    char *path[FILES_MAX];
    struct certo_buf text[FILES_MAX];
    size_t n;
};

static certo_rc
fs_read(void *arg, const char *path, struct certo_buf *out, struct certo_err *err)
{
    struct fs *fs = arg;

    for (size_t i = 0; i < fs->n; i++) {
        if (strcmp(fs->path[i], path) == 0)
            return certo_buf_append(out, fs->text[i].data != NULL ? fs->text[i].data : (void *)"",
                                    fs->text[i].len);
    }
    return certo_err_set(err, CERTO_ENOTFOUND, "fuzz", "no %s", path);
}

static certo_rc
fs_list(void *arg, const char *dir, const char *pattern, char ***names, size_t *n,
        struct certo_err *err)
{
    struct fs *fs = arg;

    (void)err;
    *names = NULL;
    *n = 0;
    if (strcmp(dir, "/f") != 0)
        return CERTO_OK;
    for (size_t i = 0; i < fs->n; i++) {
        const char *base = fs->path[i] + 3;
        if (fnmatch(pattern, base, 0) != 0)
            continue;
        *names = certo_reallocarray(*names, *n + 1, sizeof(**names));
        (*names)[(*n)++] = certo_strdup(base);
    }
    return CERTO_OK;
}

static void
fs_dispose(struct fs *fs)
{
    for (size_t i = 0; i < fs->n; i++) {
        certo_free(fs->path[i]);
        certo_buf_dispose(&fs->text[i]);
    }
    fs->n = 0;
}

static struct certo_nginx_conf *
load(struct fs *fs)
{
    struct certo_nginx_io io = {fs_read, fs_list, fs};
    struct certo_nginx_conf *conf = NULL;
    struct certo_err err = {0};

    if (certo_nginx__conf_load(&conf, "/f/nginx.conf", &io, &err) != CERTO_OK)
        return NULL;
    return conf;
}

/* The 'n' bytes of 'out' from 'at' are those of 'src' from 'from' (NULL+0 never formed). */
static bool
same_at(const struct certo_buf *out, size_t at, const unsigned char *src, size_t from, size_t n)
{
    return at <= out->len && n <= out->len - at &&
           (n == 0 || memcmp(out->data + at, src + from, n) == 0);
}

/* 'out' is the file 'orig' with each edit's [start, end) replaced by its text: the bytes
 * before the first edit, between two edits and after the last are kept. */
static void
check_kept(const struct certo_buf *out, const struct certo_buf *orig,
           const struct certo_nginx_edit *e, size_t n)
{
    size_t in = 0, at = 0;

    for (size_t i = 0; i < n; i++) {
        size_t tl = strlen(e[i].text);
        if (e[i].start < in || e[i].end > orig->len)
            __builtin_trap();
        if (!same_at(out, at, orig->data, in, e[i].start - in))
            __builtin_trap();
        at += e[i].start - in;
        if (!same_at(out, at, (const unsigned char *)e[i].text, 0, tl))
            __builtin_trap();
        at += tl;
        in = e[i].end;
    }
    if (out->len - at != orig->len - in || !same_at(out, at, orig->data, in, orig->len - in))
        __builtin_trap();
}

/* Every matched block of the edited configuration names the new files. */
static void
check_again(struct fs *edited, size_t n_matched)
{
    struct certo_nginx_conf *conf = load(edited);
    struct certo_nginx_sites s;
    struct certo_err err = {0};
    size_t uses = 0;

    if (conf == NULL)
        __builtin_trap(); /* an edit broke the syntax */
    if (certo_nginx__sites_find(&s, conf, &err) != CERTO_OK)
        __builtin_trap();
    for (size_t i = 0; i < s.n; i++) {
        const struct certo_nginx_server *srv = &s.servers[i];
        bool cert = false, key = false;
        for (size_t k = 0; k < srv->n_certs; k++)
            cert = cert || strcmp(srv->certs[k]->words[1].text, CERT) == 0;
        for (size_t k = 0; k < srv->n_keys; k++)
            key = key || strcmp(srv->keys[k]->words[1].text, KEY) == 0;
        if (cert != key)
            __builtin_trap();
        uses += cert;
    }
    if (uses < n_matched)
        __builtin_trap();
    certo_nginx__sites_dispose(&s);
    certo_nginx__conf_free(conf);
}

static void
edit(struct fs *fs, struct certo_nginx_conf *conf)
{
    static const char *const names[] = {"a.test", "*.example.com", "www.example.com"};
    struct certo_nginx_sites s;
    struct certo_nginx_target *t = NULL;
    struct certo_nginx_edit *e = NULL;
    struct certo_err err = {0};
    struct fs edited = {0};
    size_t n_t = 0, n_e = 0, matched;

    if (certo_nginx__sites_find(&s, conf, &err) != CERTO_OK)
        return;
    matched = certo_nginx__match(&s, names, 3, &t, &n_t);
    if (certo_nginx__plan_edits(&e, &n_e, conf, &s, CERT, KEY, &err) != CERTO_OK)
        goto out;
    for (size_t f = 0; f < fs->n; f++) {
        size_t file = conf->n_files, k = 0, end;
        struct certo_buf diff;
        edited.path[f] = certo_strdup(fs->path[f]);
        certo_buf_init(&edited.text[f], 4 * CERTO_NGINX_FILE_MAX);
        edited.n++;
        for (size_t i = 0; i < conf->n_files; i++) {
            if (strcmp(conf->files[i]->path, fs->path[f]) == 0)
                file = i;
        }
        if (file == conf->n_files) {
            if (fs->text[f].len > 0 &&
                certo_buf_append(&edited.text[f], fs->text[f].data, fs->text[f].len) != CERTO_OK)
                __builtin_trap();
            continue;
        }
        while (k < n_e && e[k].file != file)
            k++;
        for (end = k; end < n_e && e[end].file == file; end++) {
            if (e[end].start > e[end].end || e[end].end > conf->files[file]->data.len)
                __builtin_trap();
        }
        if (certo_nginx__apply(&edited.text[f], conf->files[file], e != NULL ? e + k : NULL,
                               end - k) != CERTO_OK)
            __builtin_trap();
        check_kept(&edited.text[f], &fs->text[f], e != NULL ? e + k : NULL, end - k);
        certo_buf_init(&diff, CERTO_NGINX_FILE_MAX);
        if (certo_nginx__diff(&diff, conf->files[file], e != NULL ? e + k : NULL, end - k) !=
            CERTO_OK)
            __builtin_trap();
        certo_buf_dispose(&diff);
    }
    check_again(&edited, matched);
out:
    fs_dispose(&edited);
    certo_nginx__edits_free(e, n_e);
    certo_nginx__targets_free(t, n_t);
    certo_nginx__sites_dispose(&s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fs fs = {0};
    struct certo_nginx_conf *conf;
    size_t at = 0;

    while (at <= size && fs.n < FILES_MAX) {
        const uint8_t *nul = size > at ? memchr(data + at, 0, size - at) : NULL;
        size_t len = nul != NULL ? (size_t)(nul - (data + at)) : size - at;
        fs.path[fs.n] =
            fs.n == 0 ? certo_strdup("/f/nginx.conf") : certo_asprintf("/f/%zu.conf", fs.n);
        certo_buf_init(&fs.text[fs.n], CERTO_NGINX_FILE_MAX);
        if (len > 0 && certo_buf_append(&fs.text[fs.n], data + at, len) != CERTO_OK)
            __builtin_trap();
        fs.n++;
        if (nul == NULL)
            break;
        at += len + 1;
    }
    conf = load(&fs);
    if (conf != NULL)
        edit(&fs, conf);
    certo_nginx__conf_free(conf);
    fs_dispose(&fs);
    return 0;
}
