/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the Tomcat server.xml reader and editor
 * (src/connector/tomcat/serverxml.c): the input is parsed; whatever reads is edited
 * (every file attribute found gets a new value) and the result must read back with the
 * same connectors and certificates and the new values, and no edit may touch a byte
 * outside the values. No file system access.
 */
#include <stdlib.h>
#include <string.h>

#include "certo/certo.h"
#include "connector/tomcat/tomcat.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NEWVAL "conf/certo-fuzz.pem"

/* The 'n' bytes of 'out' from 'at' are those of 'src' from 'from' (NULL+0 never formed). */
static bool
same_at(const struct certo_buf *out, size_t at, const unsigned char *src, size_t from, size_t n)
{
    return at <= out->len && n <= out->len - at &&
           (n == 0 || memcmp(out->data + at, src + from, n) == 0);
}

static int
cmp_off(const void *a, const void *b)
{
    const struct certo_tomcat_edit *x = a, *y = b;

    return x->at.off < y->at.off ? -1 : x->at.off > y->at.off;
}

/* 'out' is 'data' with each edit's span replaced by NEWVAL: the bytes before the first
 * span, between two spans and after the last are kept. Sorts 'e'. */
static void
check_kept(const struct certo_buf *out, const uint8_t *data, size_t size,
           struct certo_tomcat_edit *e, size_t n)
{
    size_t in = 0, at = 0;

    qsort(e, n, sizeof(*e), cmp_off);
    for (size_t i = 0; i < n; i++) {
        if (e[i].at.off < in || e[i].at.off + e[i].at.len > size)
            abort();
        if (!same_at(out, at, data, in, e[i].at.off - in))
            abort();
        at += e[i].at.off - in;
        if (!same_at(out, at, (const unsigned char *)NEWVAL, 0, strlen(NEWVAL)))
            abort();
        at += strlen(NEWVAL);
        in = e[i].at.off + e[i].at.len;
    }
    if (out->len - at != size - in || !same_at(out, at, data, in, size - in))
        abort();
}

static void
check_edit(const uint8_t *data, size_t size, const struct certo_tomcat_conf *c)
{
    static const int files[] = {CERTO_TC_KS_FILE, CERTO_TC_CERT_FILE, CERTO_TC_KEY_FILE,
                                CERTO_TC_CHAIN_FILE};
    struct certo_tomcat_edit *e = certo_calloc(c->n_certs * 4 + 1, sizeof(*e));
    struct certo_tomcat_conf again;
    struct certo_buf out, diff;
    size_t n = 0;

    for (size_t i = 0; i < c->n_certs; i++) {
        for (size_t f = 0; f < 4; f++) {
            if (!c->certs[i].at[files[f]].present)
                continue;
            e[n].at = c->certs[i].at[files[f]];
            e[n].value = NEWVAL;
            n++;
        }
    }
    certo_buf_init(&out, 2 * CERTO_TOMCAT_XML_MAX);
    certo_buf_init(&diff, 16u << 20);
    if (certo_tomcat__edit(&out, &diff, data, size, e, n, NULL) != CERTO_OK)
        abort();
    check_kept(&out, data, size, e, n);
    if (certo_tomcat__parse(&again, out.data, out.len, NULL) != CERTO_OK)
        abort();
    if (again.n_certs != c->n_certs || again.n_connectors != c->n_connectors)
        abort();
    for (size_t i = 0; i < c->n_certs; i++) {
        for (size_t f = 0; f < 4; f++) {
            const char *v = again.certs[i].val[files[f]];
            if (c->certs[i].at[files[f]].present != (v != NULL))
                abort();
            if (v != NULL && strcmp(v, NEWVAL) != 0)
                abort();
        }
    }
    certo_tomcat__conf_dispose(&again);
    certo_buf_dispose(&out);
    certo_buf_dispose(&diff);
    certo_free(e);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct certo_tomcat_conf c;

    if (certo_tomcat__parse(&c, data, size, NULL) == CERTO_OK) {
        for (size_t i = 0; i < c.n_certs; i++) {
            for (int f = 0; f < CERTO_TC__COUNT; f++) {
                const struct certo_tomcat_span *s = &c.certs[i].at[f];
                if (s->present && s->off + s->len > size)
                    abort();
            }
            char *p = certo_tomcat__resolve("/b", "/h", c.certs[i].val[CERTO_TC_CERT_FILE]);
            certo_free(p);
        }
        check_edit(data, size, &c);
    }
    certo_tomcat__conf_dispose(&c);
    return 0;
}
