/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reading an nginx configuration the way nginx reads it (connector layer). The tokenizer
 * follows ngx_conf_read_token() of nginx 1.22 state for state: words end at blanks, ';'
 * or '{'; '#' starts a comment only where a word could start; '...' and "..." quote;
 * a backslash protects the next byte, and \" \' \\ \t \r \n are unescaped in the word;
 * "${" does not open a block. `include` is expanded in place, with glob patterns
 * (sorted, as glob(3) sorts them, and dot files only for a pattern starting with a dot).
 * Errors are worded like nginx's own and name FILE:LINE. No I/O but through the io.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certo/mem.h"
#include "connector/nginx/nginx.h"

#define WHERE "conn.nginx"

/* What read_token() stopped at (NGX_OK, NGX_CONF_BLOCK_START, ...). */
enum tok {
    TOK_END = 0,         /* a directive ended by ';' */
    TOK_BLOCK_START = 1, /* a directive ended by '{' */
    TOK_BLOCK_DONE = 2,  /* '}' */
    TOK_FILE_DONE = 3,   /* end of the file */
};

/* The tokenizer's position in one file. */
struct lexer {
    const struct certo_nginx_conf *conf;
    size_t file;
    const unsigned char *p; /* the file's bytes */
    size_t len;
    size_t pos;
    unsigned line;
    struct certo_nginx_word *words; /* the current directive's words (owned until taken) */
    size_t n_words;
    unsigned first_line; /* line of the first word */
};

/* The parser's state across files. */
struct parser {
    struct certo_nginx_conf *conf;
    const struct certo_nginx_io *io;
    struct certo_err *err;
};

static bool
is_blank(unsigned char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* Sets an nginx-worded error at the lexer's current line. */
static certo_rc
syntax_error(struct certo_err *err, const struct lexer *lx, const char *msg)
{
    return certo_err_set(err, CERTO_EPARSE, WHERE, "%s in %s:%u", msg,
                         lx->conf->files[lx->file]->path, lx->line);
}

static void
words_free(struct certo_nginx_word *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        certo_free(w[i].text);
    certo_free(w);
}

/*
 * Appends the word whose value bytes are [start, stop) and raw bytes [raw_start,
 * raw_end), unescaping as nginx does.
 */
static certo_rc
push_word(struct lexer *lx, size_t start, size_t stop, size_t raw_start, size_t raw_end,
          bool quoted, unsigned line, struct certo_err *err)
{
    struct certo_nginx_word *w;
    char *dst;
    size_t i = start, n = 0;

    if (lx->n_words >= CERTO_NGINX_WORDS_MAX)
        return certo_err_set(err, CERTO_ETOOBIG, WHERE,
                             "more than %d words in one directive in %s:%u", CERTO_NGINX_WORDS_MAX,
                             lx->conf->files[lx->file]->path, line);
    if (lx->n_words == 0)
        lx->first_line = line;
    lx->words = certo_reallocarray(lx->words, lx->n_words + 1, sizeof(*lx->words));
    w = &lx->words[lx->n_words++];
    memset(w, 0, sizeof(*w));
    w->start = raw_start;
    w->end = raw_end;
    w->quoted = quoted;
    w->text = certo_malloc(stop - start + 1);
    dst = w->text;
    while (i < stop) {
        if (lx->p[i] == '\\' && i + 1 < stop) {
            unsigned char next = lx->p[i + 1];
            if (next == '"' || next == '\'' || next == '\\') {
                dst[n++] = (char)next;
                i += 2;
                continue;
            }
            if (next == 't' || next == 'r' || next == 'n') {
                dst[n++] = next == 't' ? '\t' : next == 'r' ? '\r' : '\n';
                i += 2;
                continue;
            }
        }
        dst[n++] = (char)lx->p[i++];
    }
    dst[n] = '\0';
    w->len = n;
    return CERTO_OK;
}

/*
 * Reads the next directive's words (ngx_conf_read_token). On TOK_END and
 * TOK_BLOCK_START the words are in lx->words.
 */
static certo_rc
read_token(enum tok *out, struct lexer *lx, struct certo_err *err)
{
    bool need_space = false, last_space = true, sharp = false, variable = false;
    bool quoted = false, s_quoted = false, d_quoted = false, found = false;
    size_t start = lx->pos;
    unsigned start_line = lx->line;
    certo_rc rc;

    words_free(lx->words, lx->n_words);
    lx->words = NULL;
    lx->n_words = 0;
    for (;;) {
        unsigned char ch;

        if (lx->pos >= lx->len) {
            if (lx->n_words > 0 || !last_space)
                return syntax_error(err, lx, "unexpected end of file, expecting \";\" or \"}\"");
            *out = TOK_FILE_DONE;
            return CERTO_OK;
        }
        ch = lx->p[lx->pos++];
        if (ch == '\n') {
            lx->line++;
            sharp = false;
        }
        if (sharp)
            continue;
        if (quoted) {
            quoted = false;
            continue;
        }
        if (need_space) {
            if (is_blank(ch)) {
                last_space = true;
                need_space = false;
                continue;
            }
            if (ch == ';') {
                *out = TOK_END;
                return CERTO_OK;
            }
            if (ch == '{') {
                *out = TOK_BLOCK_START;
                return CERTO_OK;
            }
            if (ch != ')') {
                char msg[32];
                snprintf(msg, sizeof(msg), "unexpected \"%c\"", ch);
                return syntax_error(err, lx, msg);
            }
            last_space = true;
            need_space = false;
        }
        if (last_space) {
            start = lx->pos - 1;
            start_line = lx->line;
            if (is_blank(ch))
                continue;
            switch (ch) {
            case ';':
            case '{':
                if (lx->n_words == 0)
                    return syntax_error(err, lx,
                                        ch == ';' ? "unexpected \";\"" : "unexpected \"{\"");
                *out = ch == '{' ? TOK_BLOCK_START : TOK_END;
                return CERTO_OK;
            case '}':
                if (lx->n_words != 0)
                    return syntax_error(err, lx, "unexpected \"}\"");
                *out = TOK_BLOCK_DONE;
                return CERTO_OK;
            case '#':
                sharp = true;
                continue;
            case '\\':
                quoted = true;
                last_space = false;
                continue;
            case '"':
                start++;
                d_quoted = true;
                last_space = false;
                continue;
            case '\'':
                start++;
                s_quoted = true;
                last_space = false;
                continue;
            case '$':
                variable = true;
                last_space = false;
                continue;
            default:
                last_space = false;
            }
            continue;
        }
        if (ch == '{' && variable)
            continue;
        variable = false;
        if (ch == '\\') {
            quoted = true;
            continue;
        }
        if (ch == '$') {
            variable = true;
            continue;
        }
        if (d_quoted) {
            if (ch == '"') {
                d_quoted = false;
                need_space = true;
                found = true;
            }
        } else if (s_quoted) {
            if (ch == '\'') {
                s_quoted = false;
                need_space = true;
                found = true;
            }
        } else if (is_blank(ch) || ch == ';' || ch == '{') {
            last_space = true;
            found = true;
        }
        if (!found)
            continue;
        /* A quoted word's raw bytes include both quotes; an unquoted one ends before
         * the byte that ended it. */
        bool q = need_space;
        rc = push_word(lx, start, lx->pos - 1, q ? start - 1 : start, q ? lx->pos : lx->pos - 1, q,
                       start_line, err);
        if (rc != CERTO_OK)
            return rc;
        if (ch == ';') {
            *out = TOK_END;
            return CERTO_OK;
        }
        if (ch == '{') {
            *out = TOK_BLOCK_START;
            return CERTO_OK;
        }
        found = false;
    }
}

/* ---- files and includes ---- */

static void block_dispose(struct certo_nginx_block *b);

static void
dir_free(struct certo_nginx_dir *d)
{
    if (d == NULL)
        return;
    words_free(d->words, d->n_words);
    if (d->block != NULL) {
        block_dispose(d->block);
        certo_free(d->block);
    }
    certo_free(d);
}

static void
block_dispose(struct certo_nginx_block *b)
{
    for (size_t i = 0; i < b->n_dirs; i++)
        dir_free(b->dirs[i]);
    certo_free(b->dirs);
    memset(b, 0, sizeof(*b));
}

void
certo_nginx__conf_free(struct certo_nginx_conf *conf)
{
    if (conf == NULL)
        return;
    block_dispose(&conf->root);
    for (size_t i = 0; i < conf->n_files; i++) {
        certo_free(conf->files[i]->path);
        certo_buf_dispose(&conf->files[i]->data);
        certo_free(conf->files[i]);
    }
    certo_free(conf->files);
    for (size_t i = 0; i < conf->n_globs; i++)
        certo_free(conf->globs[i]);
    certo_free(conf->globs);
    certo_free(conf->path);
    certo_free(conf->prefix);
    certo_free(conf);
}

char *
certo_nginx__where(const struct certo_nginx_conf *conf, const struct certo_nginx_dir *d)
{
    return certo_asprintf("%s:%u", conf->files[d->file]->path, d->line);
}

char *
certo_nginx__full_name(const struct certo_nginx_conf *conf, const char *name)
{
    if (name[0] == '/')
        return certo_strdup(name);
    return certo_asprintf("%s%s", conf->prefix, name);
}

/*
 * The index of file 'path', reading it on first use. 'from' is the include that names
 * it (NULL for the main file), for the message.
 */
static certo_rc
file_get(size_t *out, struct parser *ps, const char *path, const struct certo_nginx_dir *from)
{
    struct certo_nginx_conf *conf = ps->conf;
    struct certo_nginx_file *f;
    struct certo_err e = {0};
    certo_rc rc;

    *out = 0;
    for (size_t i = 0; i < conf->n_files; i++) {
        if (strcmp(conf->files[i]->path, path) == 0) {
            *out = i;
            return CERTO_OK;
        }
    }
    f = certo_calloc(1, sizeof(*f));
    f->path = certo_strdup(path);
    certo_buf_init(&f->data, CERTO_NGINX_FILE_MAX);
    rc = ps->io->read(ps->io->arg, path, &f->data, &e);
    if (rc != CERTO_OK) {
        if (from == NULL) {
            *ps->err = e;
        } else {
            char *where = certo_nginx__where(conf, from);
            (void)certo_err_set(ps->err, rc, WHERE, "%s (included in %s)", e.msg, where);
            certo_free(where);
        }
        certo_buf_dispose(&f->data);
        certo_free(f->path);
        certo_free(f);
        return rc;
    }
    conf->files = certo_reallocarray(conf->files, conf->n_files + 1, sizeof(*conf->files));
    conf->files[conf->n_files] = f;
    *out = conf->n_files++;
    return CERTO_OK;
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void
strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        certo_free(v[i]);
    certo_free(v);
}

/*
 * The files glob(3) would give for absolute 'pattern', sorted. Each component with a
 * wildcard is matched against a listing of the directories so far; as with glob(3), a
 * wildcard never matches a leading dot.
 */
static certo_rc
expand_glob(char ***out, size_t *n_out, struct parser *ps, const char *pattern)
{
    char **cur = certo_calloc(1, sizeof(*cur)), **next = NULL;
    size_t n_cur = 1, n_next = 0;
    char *copy = certo_strdup(pattern), *save = NULL;
    certo_rc rc = CERTO_OK;

    *out = NULL;
    *n_out = 0;
    cur[0] = certo_strdup("");
    for (char *comp = strtok_r(copy, "/", &save); comp != NULL && n_cur > 0;
         comp = strtok_r(NULL, "/", &save)) {
        next = NULL;
        n_next = 0;
        for (size_t i = 0; i < n_cur; i++) {
            char **names = NULL;
            size_t n = 0;
            if (strpbrk(comp, "*?[") == NULL) {
                next = certo_reallocarray(next, n_next + 1, sizeof(*next));
                next[n_next++] = certo_asprintf("%s/%s", cur[i], comp);
                continue;
            }
            rc = ps->io->list(ps->io->arg, cur[i][0] != '\0' ? cur[i] : "/", comp, &names, &n,
                              ps->err);
            if (rc != CERTO_OK)
                break;
            for (size_t k = 0; k < n; k++) {
                if (names[k][0] == '.' && comp[0] != '.')
                    continue;
                if (n_next >= CERTO_NGINX_FILES_MAX) {
                    rc = certo_err_set(ps->err, CERTO_ETOOBIG, WHERE,
                                       "include \"%s\" matches more than %d files", pattern,
                                       CERTO_NGINX_FILES_MAX);
                    break;
                }
                next = certo_reallocarray(next, n_next + 1, sizeof(*next));
                next[n_next++] = certo_asprintf("%s/%s", cur[i], names[k]);
            }
            strv_free(names, n);
            if (rc != CERTO_OK)
                break;
        }
        strv_free(cur, n_cur);
        cur = next;
        n_cur = n_next;
        next = NULL;
        if (rc != CERTO_OK)
            break;
    }
    certo_free(copy);
    if (rc != CERTO_OK) {
        strv_free(cur, n_cur);
        return rc;
    }
    if (n_cur > 1)
        qsort(cur, n_cur, sizeof(*cur), cmp_str);
    *out = cur;
    *n_out = n_cur;
    return CERTO_OK;
}

static certo_rc parse_block(struct parser *ps, struct lexer *lx, struct certo_nginx_block *b,
                            bool in_block, unsigned depth);

/* Parses file 'path' into block 'into' (the context of the include, or the main one). */
static certo_rc
parse_file(struct parser *ps, const char *path, struct certo_nginx_block *into, unsigned depth,
           const struct certo_nginx_dir *from)
{
    struct certo_nginx_conf *conf = ps->conf;
    struct lexer lx = {0};
    size_t idx = 0;
    certo_rc rc;

    if (conf->n_reads >= CERTO_NGINX_FILES_MAX)
        return certo_err_set(ps->err, CERTO_ETOOBIG, WHERE,
                             "the configuration includes more than %d files",
                             CERTO_NGINX_FILES_MAX);
    conf->n_reads++;
    rc = file_get(&idx, ps, path, from);
    if (rc != CERTO_OK)
        return rc;
    conf->total += conf->files[idx]->data.len;
    if (conf->total > CERTO_NGINX_TOTAL_MAX)
        return certo_err_set(ps->err, CERTO_ETOOBIG, WHERE,
                             "the configuration's files hold more than %u bytes",
                             CERTO_NGINX_TOTAL_MAX);
    lx.conf = conf;
    lx.file = idx;
    lx.p = conf->files[idx]->data.data;
    lx.len = conf->files[idx]->data.len;
    lx.line = 1;
    rc = parse_block(ps, &lx, into, false, depth);
    words_free(lx.words, lx.n_words);
    return rc;
}

/* Expands directive 'd', an include, into block 'b'. */
static certo_rc
include(struct parser *ps, struct lexer *lx, struct certo_nginx_block *b,
        const struct certo_nginx_dir *d, unsigned depth)
{
    struct certo_nginx_conf *conf = ps->conf;
    char **paths = NULL;
    size_t n = 0;
    char *full;
    certo_rc rc;

    if (d->n_words != 2) {
        lx->line = d->line;
        return syntax_error(ps->err, lx, "invalid number of arguments in \"include\" directive");
    }
    full = certo_nginx__full_name(conf, d->words[1].text);
    if (strpbrk(full, "*?[") == NULL) {
        rc = parse_file(ps, full, b, depth, d);
        certo_free(full);
        return rc;
    }
    conf->globs = certo_reallocarray(conf->globs, conf->n_globs + 1, sizeof(*conf->globs));
    conf->globs[conf->n_globs++] = full;
    rc = expand_glob(&paths, &n, ps, full);
    for (size_t i = 0; rc == CERTO_OK && i < n; i++)
        rc = parse_file(ps, paths[i], b, depth, d);
    strv_free(paths, n);
    return rc;
}

/* Parses directives of 'lx' into 'b' until its end ('in_block': until its '}'). */
static certo_rc
parse_block(struct parser *ps, struct lexer *lx, struct certo_nginx_block *b, bool in_block,
            unsigned depth)
{
    certo_rc rc = CERTO_OK;

    if (depth > CERTO_NGINX_DEPTH_MAX)
        return certo_err_set(ps->err, CERTO_ETOOBIG, WHERE,
                             "blocks and includes nested more than %d deep in %s:%u",
                             CERTO_NGINX_DEPTH_MAX, ps->conf->files[lx->file]->path, lx->line);
    for (;;) {
        enum tok t = TOK_FILE_DONE;
        struct certo_nginx_dir *d;

        rc = read_token(&t, lx, ps->err);
        if (rc != CERTO_OK)
            return rc;
        if (t == TOK_FILE_DONE) {
            if (in_block)
                return syntax_error(ps->err, lx, "unexpected end of file, expecting \"}\"");
            return CERTO_OK;
        }
        if (t == TOK_BLOCK_DONE) {
            if (!in_block)
                return syntax_error(ps->err, lx, "unexpected \"}\"");
            b->file = lx->file;
            b->close = lx->pos - 1;
            return CERTO_OK;
        }
        d = certo_calloc(1, sizeof(*d));
        d->file = lx->file;
        d->line = lx->first_line;
        d->end = lx->pos;
        d->words = lx->words;
        d->n_words = lx->n_words;
        lx->words = NULL;
        lx->n_words = 0;
        b->dirs = certo_reallocarray(b->dirs, b->n_dirs + 1, sizeof(*b->dirs));
        b->dirs[b->n_dirs++] = d;
        if (t == TOK_BLOCK_START) {
            d->block = certo_calloc(1, sizeof(*d->block));
            rc = parse_block(ps, lx, d->block, true, depth + 1);
        } else if (d->words[0].len == 7 && strcmp(d->words[0].text, "include") == 0) {
            rc = include(ps, lx, b, d, depth + 1);
        }
        if (rc != CERTO_OK)
            return rc;
    }
}

certo_rc
certo_nginx__conf_load(struct certo_nginx_conf **out, const char *path,
                       const struct certo_nginx_io *io, struct certo_err *err)
{
    struct certo_nginx_conf *conf = certo_calloc(1, sizeof(*conf));
    struct certo_err e = {0};
    struct parser ps = {conf, io, err != NULL ? err : &e};
    const char *slash = strrchr(path, '/');
    certo_rc rc = CERTO_EINTERNAL;

    *out = NULL;
    if (path[0] != '/' || slash == NULL) {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE, "%s is not an absolute path", path);
        goto out;
    }
    conf->path = certo_strdup(path);
    conf->prefix = certo_strndup(path, (size_t)(slash - path) + 1);
    rc = parse_file(&ps, path, &conf->root, 0, NULL);
    if (rc != CERTO_OK)
        goto out;
    conf->root.file = 0;
    conf->root.close = conf->files[0]->data.len;

    *out = conf; /* success: hand over ownership */
    conf = NULL;
    rc = CERTO_OK;
out:
    certo_nginx__conf_free(conf);
    return rc;
}
