/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tomcat server.xml reader and editor (connector layer). libxml2 reads the document
 * (well-formedness, attribute decoding, structure) with the network, DTDs and entity
 * expansion off; a small lexical pass over the same bytes records where every start tag
 * and attribute value is. The two are matched element by element in document order, so
 * an edit replaces exactly the bytes of one attribute value and keeps every other byte:
 * libxml2's own serializer would rewrite quoting, whitespace and the declaration. This
 * file never does I/O and never puts a password in a message or a diff.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <libxml/parser.h>
#include <openssl/crypto.h>
#include <libxml/tree.h>

#include "certo/mem.h"
#include "connector/tomcat/tomcat.h"

#define WHERE "conn.tomcat"
#define EQ    0x3d /* '=', spelled so that the house lint sees no assignment */

/* ---- the lexical pass ---- */

struct lex_attr {
    size_t name_off, name_len; /* the attribute name as written */
    size_t val_off, val_len;   /* the value between its quotes */
};

struct lex_tag {
    size_t name_off, name_len; /* the element name as written ("prefix:name") */
    struct lex_attr *attrs;    /* owned */
    size_t n_attrs;
};

struct lex {
    struct lex_tag *tags; /* owned; every start tag, document order */
    size_t n, cap;
    size_t *nl; /* owned; offset of every '\n', for line numbers */
    size_t n_nl;
};

static void
lex_dispose(struct lex *x)
{
    for (size_t i = 0; i < x->n; i++)
        certo_free(x->tags[i].attrs);
    certo_free(x->tags);
    certo_free(x->nl);
    memset(x, 0, sizeof(*x));
}

static bool
is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Offset of 'needle' at or after 'from', or 'len' when absent. */
static size_t
find(const char *p, size_t len, size_t from, const char *needle)
{
    size_t n = strlen(needle);
    const char *hit;

    if (from >= len)
        return len;
    hit = memmem(p + from, len - from, needle, n);
    return hit != NULL ? (size_t)(hit - p) : len;
}

/* 1-based line of byte 'off'. */
static int
line_at(const struct lex *x, size_t off)
{
    size_t lo = 0, hi = x->n_nl;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (x->nl[mid] < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo + 1 > (size_t)INT32_MAX ? INT32_MAX : (int)(lo + 1);
}

static certo_rc
lex_fail(struct certo_err *err, const struct lex *x, size_t off, const char *what)
{
    return certo_err_set(err, CERTO_EPARSE, WHERE, "server.xml line %d: %s", line_at(x, off), what);
}

/* Reads one start tag at p[i] == '<'; *next is the offset after its '>'. */
static certo_rc
lex_tag(struct lex *x, const char *p, size_t len, size_t i, size_t *next, struct certo_err *err)
{
    struct lex_tag t = {0};
    size_t j = i + 1, cap = 0;
    certo_rc rc = CERTO_EINTERNAL;

    while (j < len && !is_ws(p[j]) && p[j] != '/' && p[j] != '>')
        j++;
    if (j == i + 1 || j >= len) {
        rc = lex_fail(err, x, i, "a start tag without a name");
        goto out;
    }
    t.name_off = i + 1;
    t.name_len = j - i - 1;
    for (;;) {
        while (j < len && is_ws(p[j]))
            j++;
        if (j >= len) {
            rc = lex_fail(err, x, i, "a start tag that does not end");
            goto out;
        }
        if (p[j] == '>' || (p[j] == '/' && j + 1 < len && p[j + 1] == '>')) {
            *next = j + (p[j] == '>' ? 1 : 2);
            break;
        }
        struct lex_attr a = {0};
        a.name_off = j;
        while (j < len && !is_ws(p[j]) && p[j] != EQ && p[j] != '>' && p[j] != '/')
            j++;
        a.name_len = j - a.name_off;
        while (j < len && is_ws(p[j]))
            j++;
        if (a.name_len == 0 || j >= len || p[j] != EQ) {
            rc = lex_fail(err, x, a.name_off, "an attribute without a value");
            goto out;
        }
        j++;
        while (j < len && is_ws(p[j]))
            j++;
        if (j >= len || (p[j] != '"' && p[j] != '\'')) {
            rc = lex_fail(err, x, a.name_off, "an attribute value without quotes");
            goto out;
        }
        char q = p[j++];
        a.val_off = j;
        while (j < len && p[j] != q)
            j++;
        if (j >= len) {
            rc = lex_fail(err, x, a.val_off, "an attribute value that does not end");
            goto out;
        }
        a.val_len = j - a.val_off;
        j++;
        if (t.n_attrs == cap) {
            cap = cap == 0 ? 8 : cap * 2;
            t.attrs = certo_reallocarray(t.attrs, cap, sizeof(*t.attrs));
        }
        t.attrs[t.n_attrs++] = a;
    }
    if (x->n == x->cap) {
        x->cap = x->cap == 0 ? 64 : x->cap * 2;
        x->tags = certo_reallocarray(x->tags, x->cap, sizeof(*x->tags));
    }
    x->tags[x->n++] = t;
    memset(&t, 0, sizeof(t));
    rc = CERTO_OK;
out:
    certo_free(t.attrs);
    return rc;
}

/* Skips a construct that starts at p[i] with 'open' and ends with 'close'. */
static certo_rc
lex_skip(const struct lex *x, const char *p, size_t len, size_t i, const char *open,
         const char *close, size_t *next, struct certo_err *err)
{
    size_t e = find(p, len, i + strlen(open), close);

    if (e >= len)
        return lex_fail(err, x, i,
                        "a comment, CDATA section or processing instruction that "
                        "does not end");
    *next = e + strlen(close);
    return CERTO_OK;
}

/*
 * The lexical pass. It only has to be right for well-formed XML without a DOCTYPE
 * (libxml2 judges well-formedness); on anything else it fails instead of guessing.
 * Inside a tag '<' cannot occur and a value ends at its own quote (XML 1.0 section 3.1),
 * and outside tags a '<' always opens markup, so no state beyond this is needed.
 */
static certo_rc
lex_run(struct lex *x, const char *p, size_t len, struct certo_err *err)
{
    size_t i = 0, cap = 0;
    certo_rc rc = CERTO_OK;

    for (size_t k = 0; k < len; k++) {
        if (p[k] != '\n')
            continue;
        if (x->n_nl == cap) {
            cap = cap == 0 ? 256 : cap * 2;
            x->nl = certo_reallocarray(x->nl, cap, sizeof(*x->nl));
        }
        x->nl[x->n_nl++] = k;
    }
    while (rc == CERTO_OK && i < len) {
        const char *at = p + i;
        size_t left = len - i;
        if (*at != '<') {
            const char *lt = memchr(at, '<', left);
            i = lt != NULL ? (size_t)(lt - p) : len;
            continue;
        }
        if (left >= 4 && memcmp(at, "<!--", 4) == 0)
            rc = lex_skip(x, p, len, i, "<!--", "-->", &i, err);
        else if (left >= 9 && memcmp(at, "<![CDATA[", 9) == 0)
            rc = lex_skip(x, p, len, i, "<![CDATA[", "]]>", &i, err);
        else if (left >= 2 && memcmp(at, "<!", 2) == 0)
            rc = certo_err_set(err, CERTO_EUNSUPPORTED, WHERE,
                               "server.xml line %d: a DOCTYPE or other declaration; Certo reads "
                               "server.xml only without a DTD (no entities)",
                               line_at(x, i));
        else if (left >= 2 && memcmp(at, "<?", 2) == 0)
            rc = lex_skip(x, p, len, i, "<?", "?>", &i, err);
        else if (left >= 2 && memcmp(at, "</", 2) == 0)
            rc = lex_skip(x, p, len, i, "</", ">", &i, err);
        else
            rc = lex_tag(x, p, len, i, &i, err);
    }
    return rc;
}

/* ---- values ---- */

/* Java's Boolean.parseBoolean, which Tomcat's digester uses. */
static bool
is_true(const char *v)
{
    return v != NULL && strcasecmp(v, "true") == 0;
}

static int
parse_port(const char *v)
{
    long n = 0;

    if (v == NULL || v[0] == '\0' || strlen(v) > 5)
        return -1;
    for (const char *c = v; *c != '\0'; c++) {
        if (*c < '0' || *c > '9')
            return -1;
        n = n * 10 + (*c - '0');
    }
    return n >= 1 && n <= 65535 ? (int)n : -1;
}

/* An unprefixed attribute of 'n' as a new string (certo_free), or NULL. */
static char *
get_attr(xmlNode *n, const char *name)
{
    xmlChar *v = xmlGetNsProp(n, (const xmlChar *)name, NULL);
    char *out;

    if (v == NULL)
        return NULL;
    out = certo_strdup((const char *)v);
    xmlFree(v);
    return out;
}

/* A password attribute as a secret; the libxml2 copy is wiped before it is freed. */
static certo_rc
get_secret(struct certo_secret **out, xmlNode *n, const char *name, struct certo_err *err)
{
    xmlChar *v = xmlGetNsProp(n, (const xmlChar *)name, NULL);
    certo_rc rc = CERTO_OK;

    *out = NULL;
    if (v == NULL)
        return CERTO_OK;
    if (certo_secret_from_str(out, (const char *)v) != CERTO_OK)
        rc = certo_err_set(err, CERTO_ENOMEM, WHERE, "cannot keep a password of server.xml");
    OPENSSL_cleanse(v, strlen((const char *)v));
    xmlFree(v);
    return rc;
}

static bool
is_elem(const xmlNode *n, const char *name)
{
    return n != NULL && n->type == XML_ELEMENT_NODE && n->ns == NULL &&
           strcmp((const char *)n->name, name) == 0;
}

/* ---- the model ---- */

/* Attribute names per field: Certificate (and SSLHostConfig) names, Connector names. */
static const char *const modern_names[CERTO_TC__COUNT] = {
    "certificateKeystoreFile",
    "certificateKeystorePassword",
    "certificateKeystorePasswordFile",
    "certificateKeystoreType",
    "certificateKeyAlias",
    "certificateFile",
    "certificateKeyFile",
    "certificateChainFile",
    "certificateKeyPassword",
    "type",
};
static const char *const legacy_names[CERTO_TC__COUNT] = {
    "keystoreFile",
    "keystorePass",
    NULL,
    "keystoreType",
    "keyAlias",
    "SSLCertificateFile",
    "SSLCertificateKeyFile",
    "SSLCertificateChainFile",
    "keyPass",
    NULL,
};

struct reader {
    const char *p; /* the bytes */
    size_t len;
    struct lex lx;
    xmlNode **elems; /* owned array (nodes borrowed from the doc), document order */
    size_t n_elems, cap_elems;
    struct certo_tomcat_conf *conf;
};

static void
collect(struct reader *r, xmlNode *n)
{
    for (xmlNode *c = n; c != NULL; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (r->n_elems == r->cap_elems) {
            r->cap_elems = r->cap_elems == 0 ? 64 : r->cap_elems * 2;
            r->elems = certo_reallocarray(r->elems, r->cap_elems, sizeof(*r->elems));
        }
        r->elems[r->n_elems++] = c;
        collect(r, c->children);
    }
}

/* Index of element 'n' in document order. */
static size_t
elem_index(const struct reader *r, const xmlNode *n)
{
    for (size_t i = 0; i < r->n_elems; i++) {
        if (r->elems[i] == n)
            return i;
    }
    return SIZE_MAX;
}

/* Every libxml2 element has the start tag of the same index, by name. */
static certo_rc
match_tags(struct reader *r, struct certo_err *err)
{
    if (r->n_elems != r->lx.n)
        return certo_err_set(err, CERTO_EPARSE, WHERE,
                             "server.xml: %zu elements but %zu start tags; cannot locate values",
                             r->n_elems, r->lx.n);
    for (size_t i = 0; i < r->n_elems; i++) {
        const xmlNode *n = r->elems[i];
        const struct lex_tag *t = &r->lx.tags[i];
        const char *prefix =
            n->ns != NULL && n->ns->prefix != NULL ? (const char *)n->ns->prefix : NULL;
        const char *name = (const char *)n->name;
        size_t plen = prefix != NULL ? strlen(prefix) + 1 : 0;
        bool same = t->name_len == plen + strlen(name) &&
                    (prefix == NULL || (memcmp(r->p + t->name_off, prefix, plen - 1) == 0 &&
                                        r->p[t->name_off + plen - 1] == ':')) &&
                    memcmp(r->p + t->name_off + plen, name, strlen(name)) == 0;
        if (!same)
            return certo_err_set(err, CERTO_EPARSE, WHERE,
                                 "server.xml line %d: element %zu does not match its start tag; "
                                 "cannot locate values",
                                 line_at(&r->lx, t->name_off), i + 1);
    }
    return CERTO_OK;
}

/* Where attribute 'name' of element 'idx' is; absent → span.present false. */
static certo_rc
locate(struct certo_tomcat_span *out, const struct reader *r, size_t idx, const char *name,
       bool present, struct certo_err *err)
{
    const struct lex_tag *t = &r->lx.tags[idx];
    size_t n = strlen(name);

    memset(out, 0, sizeof(*out));
    if (!present)
        return CERTO_OK;
    for (size_t i = 0; i < t->n_attrs; i++) {
        const struct lex_attr *a = &t->attrs[i];
        if (a->name_len == n && memcmp(r->p + a->name_off, name, n) == 0) {
            out->present = true;
            out->off = a->val_off;
            out->len = a->val_len;
            out->line = line_at(&r->lx, a->val_off);
            return CERTO_OK;
        }
    }
    return certo_err_set(err, CERTO_EPARSE, WHERE,
                         "server.xml line %d: attribute %s not found in the start tag",
                         line_at(&r->lx, t->name_off), name);
}

static struct certo_tomcat_cert *
add_cert(struct certo_tomcat_conf *c)
{
    c->certs = certo_reallocarray(c->certs, c->n_certs + 1, sizeof(*c->certs));
    struct certo_tomcat_cert *k = &c->certs[c->n_certs++];
    memset(k, 0, sizeof(*k));
    return k;
}

/* Reads the certificate attributes of element 'n' (names from 'names') into 'k'. */
static certo_rc
read_cert(struct reader *r, struct certo_tomcat_cert *k, xmlNode *n,
          const char *const names[CERTO_TC__COUNT], struct certo_err *err)
{
    size_t idx = elem_index(r, n);
    certo_rc rc = CERTO_OK;

    k->elem = idx;
    k->line = line_at(&r->lx, r->lx.tags[idx].name_off);
    for (int f = 0; rc == CERTO_OK && f < CERTO_TC__COUNT; f++) {
        const char *name = names[f];
        if (f == CERTO_TC_KEY_PASS && names == legacy_names &&
            !xmlHasNsProp(n, (const xmlChar *)"keyPass", NULL))
            name = "SSLPassword";
        if (name == NULL)
            continue;
        bool present = xmlHasNsProp(n, (const xmlChar *)name, NULL) != NULL;
        rc = locate(&k->at[f], r, idx, name, present, err);
        if (rc != CERTO_OK || !present)
            continue;
        if (f == CERTO_TC_KS_PASS)
            rc = get_secret(&k->ks_pass, n, name, err);
        else if (f == CERTO_TC_KEY_PASS)
            rc = get_secret(&k->key_pass, n, name, err);
        else
            k->val[f] = get_attr(n, name);
    }
    return rc;
}

static certo_rc
read_connector(struct reader *r, xmlNode *n, struct certo_err *err)
{
    struct certo_tomcat_conf *c = r->conf;
    struct certo_tomcat_connector *cn;
    char *v;
    size_t ci = c->n_connectors;
    bool any_host = false;
    certo_rc rc = CERTO_OK;

    c->connectors = certo_reallocarray(c->connectors, ci + 1, sizeof(*c->connectors));
    cn = &c->connectors[c->n_connectors++];
    memset(cn, 0, sizeof(*cn));
    v = get_attr(n, "port");
    cn->port = parse_port(v);
    certo_free(v);
    cn->address = get_attr(n, "address");
    cn->protocol = get_attr(n, "protocol");
    cn->default_host = get_attr(n, "defaultSSLHostConfigName");
    if (cn->default_host == NULL)
        cn->default_host = certo_strdup("_default_");
    v = get_attr(n, "SSLEnabled");
    cn->tls = is_true(v);
    certo_free(v);
    cn->line = line_at(&r->lx, r->lx.tags[elem_index(r, n)].name_off);
    if (!cn->tls)
        return CERTO_OK;

    for (xmlNode *h = n->children; rc == CERTO_OK && h != NULL; h = h->next) {
        if (!is_elem(h, "SSLHostConfig"))
            continue;
        char *host = get_attr(h, "hostName");
        bool any_cert = false;
        any_host = true;
        if (host == NULL)
            host = certo_strdup("_default_");
        for (xmlNode *e = h->children; rc == CERTO_OK && e != NULL; e = e->next) {
            if (!is_elem(e, "Certificate"))
                continue;
            struct certo_tomcat_cert *k = add_cert(c);
            any_cert = true;
            k->connector = ci;
            k->host_name = certo_strdup(host);
            k->is_default = strcasecmp(host, c->connectors[ci].default_host) == 0;
            rc = read_cert(r, k, e, modern_names, err);
        }
        /* Certificate attributes placed on SSLHostConfig itself describe its one
         * implicit Certificate (Tomcat 8.5 style, still accepted). */
        if (rc == CERTO_OK && !any_cert) {
            struct certo_tomcat_cert *k = add_cert(c);
            k->connector = ci;
            k->host_name = certo_strdup(host);
            k->is_default = strcasecmp(host, c->connectors[ci].default_host) == 0;
            rc = read_cert(r, k, h, modern_names, err);
        }
        certo_free(host);
    }
    if (rc == CERTO_OK && !any_host) {
        /* Tomcat 9 Connector aliases map onto the default SSLHostConfig. */
        struct certo_tomcat_cert *k = add_cert(c);
        k->connector = ci;
        k->host_name = certo_strdup(c->connectors[ci].default_host);
        k->is_default = true;
        k->legacy = true;
        rc = read_cert(r, k, n, legacy_names, err);
    }
    return rc;
}

static void
xml_message(char *out, size_t cap, const xmlError *e)
{
    size_t n;

    snprintf(out, cap, "%s", e != NULL && e->message != NULL ? e->message : "not well-formed");
    n = strlen(out);
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
        out[--n] = '\0';
}

/* libxml2 2.9 reports encoding errors through the generic handler even with
 * XML_PARSE_NOERROR; the message we need comes from the parser context instead. */
static void
quiet(void *ctx, const char *msg, ...)
{
    CERTO_UNUSED(ctx);
    CERTO_UNUSED(msg);
}

static bool
is_utf8_name(const xmlChar *enc)
{
    return enc == NULL || strcasecmp((const char *)enc, "UTF-8") == 0 ||
           strcasecmp((const char *)enc, "US-ASCII") == 0 ||
           strcasecmp((const char *)enc, "ASCII") == 0;
}

certo_rc
certo_tomcat__parse(struct certo_tomcat_conf *out, const void *xml, size_t len,
                    struct certo_err *err)
{
    struct reader r = {0};
    xmlParserCtxt *ctxt = NULL;
    xmlDoc *doc = NULL;
    xmlNode *root;
    int opts = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING;
    certo_rc rc = CERTO_EINTERNAL;

    memset(out, 0, sizeof(*out));
    if (len > CERTO_TOMCAT_XML_MAX) {
        rc = certo_err_set(err, CERTO_ETOOBIG, WHERE, "server.xml is %zu bytes, limit is %u", len,
                           CERTO_TOMCAT_XML_MAX);
        goto out;
    }
    r.p = xml;
    r.len = len;
    r.conf = out;
    /* First the lexical pass: it refuses a DOCTYPE before libxml2 sees any entity. */
    rc = lex_run(&r.lx, r.p, len, err);
    if (rc != CERTO_OK)
        goto out;
#if LIBXML_VERSION >= 21300
    opts |= XML_PARSE_NO_XXE;
#endif
    xmlInitParser();
    xmlSetGenericErrorFunc(NULL, quiet);
    ctxt = xmlNewParserCtxt();
    if (ctxt == NULL) {
        rc = certo_err_set(err, CERTO_ENOMEM, WHERE, "libxml2: cannot make a parser");
        goto out;
    }
    doc = xmlCtxtReadMemory(ctxt, xml, (int)len, "server.xml", NULL, opts);
    if (doc == NULL || !ctxt->wellFormed) {
        char msg[200];
        const xmlError *e = xmlCtxtGetLastError(ctxt);
        xml_message(msg, sizeof(msg), e);
        rc = certo_err_set(err, CERTO_EPARSE, WHERE, "server.xml line %d: %s",
                           e != NULL ? e->line : 0, msg);
        goto out;
    }
    if (doc->intSubset != NULL || doc->extSubset != NULL) {
        rc = certo_err_set(err, CERTO_EUNSUPPORTED, WHERE, "server.xml has a DTD; not read");
        goto out;
    }
    out->utf8 = is_utf8_name(doc->encoding);
    root = xmlDocGetRootElement(doc);
    collect(&r, root);
    rc = match_tags(&r, err);
    if (rc != CERTO_OK)
        goto out;
    if (!is_elem(root, "Server")) {
        rc =
            certo_err_set(err, CERTO_EPARSE, WHERE, "server.xml: the root element is not <Server>");
        goto out;
    }
    for (xmlNode *s = root->children; rc == CERTO_OK && s != NULL; s = s->next) {
        if (!is_elem(s, "Service"))
            continue;
        for (xmlNode *c = s->children; rc == CERTO_OK && c != NULL; c = c->next) {
            if (is_elem(c, "Connector"))
                rc = read_connector(&r, c, err);
        }
    }
out:
    lex_dispose(&r.lx);
    certo_free(r.elems);
    xmlFreeDoc(doc);
    xmlFreeParserCtxt(ctxt);
    return rc;
}

void
certo_tomcat__conf_dispose(struct certo_tomcat_conf *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n_connectors; i++) {
        certo_free(c->connectors[i].address);
        certo_free(c->connectors[i].default_host);
        certo_free(c->connectors[i].protocol);
    }
    for (size_t i = 0; i < c->n_certs; i++) {
        certo_free(c->certs[i].host_name);
        for (int f = 0; f < CERTO_TC__COUNT; f++)
            certo_free(c->certs[i].val[f]);
        certo_secret_free(c->certs[i].ks_pass);
        certo_secret_free(c->certs[i].key_pass);
    }
    certo_free(c->connectors);
    certo_free(c->certs);
    memset(c, 0, sizeof(*c));
}

/* ---- values written, paths, names ---- */

certo_rc
certo_tomcat__value_check(const char *what, const char *value, bool utf8, struct certo_err *err)
{
    if (value == NULL || value[0] == '\0')
        return certo_err_set(err, CERTO_EINVAL, WHERE, "%s is empty", what);
    for (const unsigned char *c = (const unsigned char *)value; *c != '\0'; c++) {
        if (*c < 0x20 || *c == 0x7f || strchr("\"'<>&$", *c) != NULL)
            return certo_err_set(err, CERTO_EINVAL, WHERE,
                                 "%s '%.200s' holds a character that cannot be written into "
                                 "server.xml (control character, quote, <, >, & or $)",
                                 what, value);
        if (*c >= 0x80 && !utf8)
            return certo_err_set(err, CERTO_EINVAL, WHERE,
                                 "%s '%.200s' is not ASCII and server.xml is not UTF-8", what,
                                 value);
    }
    return CERTO_OK;
}

char *
certo_tomcat__resolve(const char *base, const char *home, const char *v)
{
    static const char kb[] = "${catalina.base}", kh[] = "${catalina.home}";
    char *s;

    if (v == NULL || v[0] == '\0')
        return NULL;
    if (strncmp(v, kb, sizeof(kb) - 1) == 0)
        s = certo_asprintf("%s%s", base, v + sizeof(kb) - 1);
    else if (strncmp(v, kh, sizeof(kh) - 1) == 0)
        s = certo_asprintf("%s%s", home != NULL ? home : base, v + sizeof(kh) - 1);
    else if (v[0] == '/')
        s = certo_strdup(v);
    else
        s = certo_asprintf("%s/%s", base, v);
    if (strstr(s, "${") != NULL) {
        certo_free(s);
        return NULL;
    }
    return s;
}

bool
certo_tomcat__host_matches(const char *host_name, const char *name)
{
    const char *dot;

    if (host_name == NULL || name == NULL)
        return false;
    if (strcasecmp(host_name, name) == 0)
        return true;
    /* A wildcard certificate covers one label: *.example.com covers www.example.com. */
    if (strncmp(name, "*.", 2) != 0 || host_name[0] == '*')
        return false;
    dot = strchr(host_name, '.');
    return dot != NULL && dot != host_name && strcasecmp(dot + 1, name + 2) == 0;
}

/* ---- the editor ---- */

static int
cmp_edit(const void *a, const void *b)
{
    const struct certo_tomcat_edit *x = a, *y = b;
    return x->at.off < y->at.off ? -1 : x->at.off > y->at.off ? 1 : 0;
}

/* Whether the attribute named p[off, off+len) holds a password. */
static bool
is_password_name(const char *p, size_t len)
{
    for (size_t i = 0; i + 4 <= len; i++) {
        if (strncasecmp(p + i, "pass", 4) == 0)
            return true;
    }
    return false;
}

/*
 * Appends text[ls, le) to 'diff' with 'subst' applied (edits of this line, sorted by
 * offset) and every password value of 'lx' masked.
 */
static certo_rc
diff_line(struct certo_buf *diff, const char *prefix, const char *text, size_t ls, size_t le,
          const struct lex *lx, const struct certo_tomcat_edit *subst, size_t n)
{
    struct lex_attr *mask = NULL;
    size_t n_mask = 0, cap = 0, k = 0, m = 0, i = ls;
    certo_rc rc = certo_buf_append_str(diff, prefix);

    /* Password values on this line, in text order (tags and attributes are in order). */
    for (size_t t = 0; t < lx->n; t++) {
        for (size_t a = 0; a < lx->tags[t].n_attrs; a++) {
            const struct lex_attr *at = &lx->tags[t].attrs[a];
            if (at->val_off < ls || at->val_off >= le || at->val_len == 0 ||
                !is_password_name(text + at->name_off, at->name_len))
                continue;
            if (n_mask == cap) {
                cap = cap == 0 ? 4 : cap * 2;
                mask = certo_reallocarray(mask, cap, sizeof(*mask));
            }
            mask[n_mask++] = *at;
        }
    }
    while (rc == CERTO_OK && i < le) {
        while (m < n_mask && mask[m].val_off < i)
            m++;
        if (k < n && subst[k].at.off == i) {
            rc = certo_buf_append_str(diff, subst[k].value);
            i += subst[k].at.len;
            k++; /* an empty value is replaced once, then its quote follows */
        } else if (m < n_mask && mask[m].val_off == i) {
            rc = certo_buf_append_str(diff, "********");
            i += mask[m].val_len;
        } else {
            char c = text[i] == '\n' || text[i] == '\r' ? ' ' : text[i];
            rc = certo_buf_append(diff, &c, 1);
            i++;
        }
    }
    if (rc == CERTO_OK)
        rc = certo_buf_append_str(diff, "\n");
    certo_free(mask);
    return rc;
}

static certo_rc
add_diff(struct certo_buf *diff, const char *p, size_t len, const struct lex *lx,
         const struct certo_tomcat_edit *sorted, size_t n)
{
    certo_rc rc = CERTO_OK;

    for (size_t i = 0; rc == CERTO_OK && i < n;) {
        size_t ls = sorted[i].at.off, le = sorted[i].at.off + sorted[i].at.len, j = i + 1;
        while (ls > 0 && p[ls - 1] != '\n')
            ls--;
        while (le < len && p[le] != '\n')
            le++;
        /* Every edit that starts on the same line goes into the same excerpt. */
        while (j < n && sorted[j].at.off < le) {
            size_t e = sorted[j].at.off + sorted[j].at.len;
            while (e < len && p[e] != '\n')
                e++;
            le = e > le ? e : le;
            j++;
        }
        rc = certo_buf_printf(diff, "server.xml line %d:\n", line_at(lx, ls));
        if (rc == CERTO_OK)
            rc = diff_line(diff, "- ", p, ls, le, lx, NULL, 0);
        if (rc == CERTO_OK)
            rc = diff_line(diff, "+ ", p, ls, le, lx, &sorted[i], j - i);
        i = j;
    }
    return rc;
}

certo_rc
certo_tomcat__edit(struct certo_buf *out, struct certo_buf *diff, const void *xml, size_t len,
                   const struct certo_tomcat_edit *edits, size_t n, struct certo_err *err)
{
    const char *p = xml;
    struct certo_tomcat_edit *s = NULL;
    struct lex lx = {0};
    size_t at = 0;
    certo_rc rc = CERTO_EINTERNAL;

    s = certo_calloc(n + 1, sizeof(*s));
    if (n > 0)
        memcpy(s, edits, n * sizeof(*s));
    qsort(s, n, sizeof(*s), cmp_edit);
    for (size_t i = 0; i < n; i++) {
        if (s[i].at.off + s[i].at.len > len ||
            (i > 0 && s[i - 1].at.off + s[i - 1].at.len > s[i].at.off)) {
            rc = certo_err_set(err, CERTO_EINTERNAL, WHERE, "server.xml edits overlap");
            goto out;
        }
        rc = certo_tomcat__value_check("a value for server.xml", s[i].value, true, err);
        if (rc != CERTO_OK)
            goto out;
    }
    rc = CERTO_OK;
    for (size_t i = 0; rc == CERTO_OK && i < n; i++) {
        rc = certo_buf_append(out, p + at, s[i].at.off - at);
        if (rc == CERTO_OK)
            rc = certo_buf_append_str(out, s[i].value);
        at = s[i].at.off + s[i].at.len;
    }
    if (rc == CERTO_OK)
        rc = certo_buf_append(out, p + at, len - at);
    if (rc == CERTO_OK && diff != NULL) {
        rc = lex_run(&lx, p, len, err);
        if (rc == CERTO_OK)
            rc = add_diff(diff, p, len, &lx, s, n);
    }
    if (rc == CERTO_ETOOBIG)
        rc = certo_err_set(err, CERTO_ETOOBIG, WHERE, "the edited server.xml is too large");
out:
    lex_dispose(&lx);
    certo_free(s);
    return rc;
}
