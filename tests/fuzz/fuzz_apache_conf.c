/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the Apache httpd configuration reader and editor
 * (src/connector/apache/conf.c). The input is parsed as a configuration file; every
 * offset must lie inside the input and follow the previous line; an edit of each
 * directive's first argument must change exactly that range and keep every other byte;
 * the name, address and ${VAR} helpers run on every argument. No file system access.
 */
#include <string.h>

#include "certo/certo.h"
#include "connector/apache/apache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *
lookup(const char *name, size_t len, const void *arg)
{
    (void)arg;
    return len == 1 && name[0] == 'X' ? "${X}" : NULL; /* a value that looks like a variable */
}

/* Replacing [start, end) by "NEW" keeps the bytes around it. */
static void
check_edit(const struct certo_apache_file *f, size_t start, size_t end)
{
    struct certo_apache_edit e = {start, end, certo_strdup("NEW")};
    struct certo_buf out;

    certo_buf_init(&out, f->len + 16);
    if (certo_apache__apply(&out, f, &e, 1, NULL) != CERTO_OK)
        abort();
    if (out.len != f->len - (end - start) + 3 || memcmp(out.data, f->data, start) != 0 ||
        memcmp(out.data + start, "NEW", 3) != 0 ||
        memcmp(out.data + start + 3, f->data + end, f->len - end) != 0)
        abort();
    certo_buf_dispose(&out);
    certo_free(e.text);
}

static void
check_helpers(const char *v, const char *prev)
{
    char *host = NULL, *s;
    int port = 0;

    if (certo_apache__split_addr(&host, &port, v) == CERTO_OK && (port < 0 || port > 65535))
        abort();
    certo_free(host);
    s = certo_apache__server_name_host(v);
    certo_free(s);
    s = certo_apache__expand(v, lookup, NULL);
    certo_free(s);
    (void)certo_apache__alias_match(v, prev);
    (void)certo_apache__cert_covers(v, prev);
    s = certo_apache__probe_name(v, prev);
    certo_free(s);
    (void)certo_apache__check_value("fuzz", v, NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct certo_apache_file f;
    struct certo_buf same;
    size_t prev_end = 0;
    const char *prev = "www.example.test";

    if (certo_apache__parse(&f, "/fuzz.conf", data, size, NULL) == CERTO_OK) {
        for (size_t i = 0; i < f.n_lines; i++) {
            const struct certo_apache_line *ln = &f.lines[i];
            if (ln->start < prev_end || ln->end < ln->start || ln->end > size ||
                ln->start + ln->indent > ln->end || ln->name == NULL)
                abort();
            prev_end = ln->end;
            for (size_t a = 0; a < ln->n_args; a++) {
                const struct certo_apache_arg *x = &ln->args[a];
                if (x->start < ln->start || x->end > ln->end || x->end <= x->start)
                    abort();
                check_helpers(x->value, prev);
                prev = x->value;
            }
            if (ln->n_args > 0)
                check_edit(&f, ln->args[0].start, ln->args[0].end);
            if (i == 0)
                check_edit(&f, ln->end, ln->end); /* an insertion after the line */
        }
        /* No edits: the same bytes. */
        certo_buf_init(&same, size + 1);
        if (certo_apache__apply(&same, &f, NULL, 0, NULL) != CERTO_OK || same.len != size ||
            (size > 0 && memcmp(same.data, data, size) != 0))
            abort();
        certo_buf_dispose(&same);
    }
    certo_apache__file_dispose(&f);
    char *root = NULL, *conf = NULL;
    if (certo_apache__parse_dump(&root, &conf, (const char *)data, size, NULL) == CERTO_OK &&
        (root == NULL || conf == NULL || conf[0] != '/'))
        abort();
    certo_free(root);
    certo_free(conf);
    return 0;
}
