/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The trust manager (server layer): the `trust` table of migration 3, and import from
 * URL. The fetch resolves a name once, refuses the whole name when any of its addresses
 * is link-local, cloud metadata, unspecified, multicast, broadcast or reserved (a name
 * that resolves to a mix is exactly what a rebinding attacker serves), and then connects
 * only to the checked addresses through certo_tls_probe_addr. It never speaks HTTP and
 * never follows AIA, CRL or OCSP pointers. Changes are write transactions; an import is
 * parsed completely before the first row is written.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/asn1.h>

#include "certo/cert.h"
#include "certo/clock.h"
#include "certo/limits.h"
#include "certo/mem.h"
#include "certo/trust.h"

#define WHERE       "server.trust"
#define DER_MAX     (64 * 1024)
#define DERIVED_MAX 48
#define COLUMNS                                                                                    \
    "alias, cert_der, fingerprint, subject, issuer, not_after, source, purpose,"                   \
    " token_issuer, added_at"
#define UNIQUE_TRIES 1000

const char *
certo_trust_purpose_name(enum certo_trust_purpose p)
{
    return p == CERTO_TRUST_TOKEN_ISSUER ? "token-issuer" : "peer";
}

static bool
purpose_parse(enum certo_trust_purpose *out, const char *s)
{
    if (s != NULL && strcmp(s, "peer") == 0)
        *out = CERTO_TRUST_PEER;
    else if (s != NULL && strcmp(s, "token-issuer") == 0)
        *out = CERTO_TRUST_TOKEN_ISSUER;
    else
        return false;
    return true;
}

void
certo_trust_entry_dispose(struct certo_trust_entry *e)
{
    if (e == NULL)
        return;
    certo_free(e->alias);
    certo_cert_free(e->cert);
    certo_free(e->subject);
    certo_free(e->issuer);
    certo_free(e->source);
    certo_free(e->token_issuer);
    memset(e, 0, sizeof(*e));
}

void
certo_trust_list_dispose(struct certo_trust_list *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->count; i++)
        certo_trust_entry_dispose(&l->entries[i]);
    certo_free(l->entries);
    memset(l, 0, sizeof(*l));
}

void
certo_trust_import_dispose(struct certo_trust_import_result *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->count; i++)
        certo_free(r->items[i].alias);
    certo_free(r->items);
    memset(r, 0, sizeof(*r));
}

/* ---- input checks ---- */

static bool
is_name_char(int c)
{
    return isalnum(c) || c == '-' || c == '.' || c == '_';
}

certo_rc
certo_trust_parse_target(char **host_out, int *port_out, const char *text, struct certo_err *err)
{
    const char *colon, *host = text;
    size_t hlen;
    char *end = NULL;
    unsigned char a[16];
    long port;

    *host_out = NULL;
    *port_out = 0;
    if (text == NULL || text[0] == '\0')
        return certo_err_set(err, CERTO_EINVAL, WHERE, "empty; expected HOST:PORT");
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (close == NULL || close[1] != ':')
            return certo_err_set(err, CERTO_EINVAL, WHERE,
                                 "'%s' is not HOST:PORT (an IPv6 address is written [ADDR]:PORT)",
                                 text);
        host = text + 1;
        hlen = (size_t)(close - host);
        colon = close + 1;
    } else {
        colon = strrchr(text, ':');
        if (colon == NULL || memchr(text, ':', (size_t)(colon - text)) != NULL)
            return certo_err_set(err, CERTO_EINVAL, WHERE,
                                 "'%s' is not HOST:PORT (an IPv6 address is written [ADDR]:PORT)",
                                 text);
        hlen = (size_t)(colon - text);
    }
    if (hlen == 0 || hlen > 253)
        return certo_err_set(err, CERTO_EINVAL, WHERE, "'%s': the host is empty or too long", text);
    char *h = certo_strndup(host, hlen);
    bool ok = text[0] == '[' ? inet_pton(AF_INET6, h, a) == 1 : true;
    for (size_t i = 0; ok && text[0] != '[' && i < hlen; i++)
        ok = is_name_char((unsigned char)h[i]);
    if (!ok || h[0] == '-' || h[0] == '.') {
        certo_err_set(err, CERTO_EINVAL, WHERE, "'%s': '%s' is not a host name or address", text,
                      h);
        certo_free(h);
        return CERTO_EINVAL;
    }
    errno = 0;
    port = colon[1] >= '0' && colon[1] <= '9' ? strtol(colon + 1, &end, 10) : -1;
    if (end == NULL || *end != '\0' || errno != 0 || port < 1 || port > 65535) {
        certo_err_set(err, CERTO_EINVAL, WHERE, "'%s': the port must be a number from 1 to 65535",
                      text);
        certo_free(h);
        return CERTO_EINVAL;
    }
    *host_out = h;
    *port_out = (int)port;
    return CERTO_OK;
}

bool
certo_trust_fingerprint_parse(char out[96], const char *text)
{
    size_t n = 0, o = 0;

    if (text == NULL)
        return false;
    for (const char *p = text; *p != '\0'; p++) {
        if (*p == ':')
            continue;
        if (!isxdigit((unsigned char)*p) || n == 64)
            return false;
        if (n > 0 && n % 2 == 0)
            out[o++] = ':';
        out[o++] = (char)toupper((unsigned char)*p);
        n++;
    }
    out[o] = '\0';
    return n == 64;
}

certo_rc
certo_trust_alias_check(const char *alias, struct certo_err *err)
{
    char fp[96];
    size_t n = alias != NULL ? strlen(alias) : 0;
    bool ok = n > 0 && n <= CERTO_TRUST_ALIAS_MAX && isalnum((unsigned char)alias[0]);

    for (size_t i = 0; ok && i < n; i++)
        ok = is_name_char((unsigned char)alias[i]) && !isupper((unsigned char)alias[i]);
    if (!ok)
        return certo_err_set(err, CERTO_EINVAL, WHERE,
                             "'%.80s' is not an alias (1-%d of a-z 0-9 . _ -, starting with a "
                             "letter or digit)",
                             alias != NULL ? alias : "", CERTO_TRUST_ALIAS_MAX);
    if (certo_trust_fingerprint_parse(fp, alias))
        return certo_err_set(err, CERTO_EINVAL, WHERE,
                             "'%.80s' is not an alias (it reads as a fingerprint)", alias);
    return CERTO_OK;
}

certo_rc
certo_trust_iss_check(const char *iss, struct certo_err *err)
{
    size_t n = iss != NULL ? strlen(iss) : 0;
    bool ok = n > 0 && n <= CERTO_TRUST_ISS_MAX;

    for (size_t i = 0; ok && i < n; i++)
        ok = iss[i] > ' ' && iss[i] < 0x7f;
    if (!ok)
        return certo_err_set(err, CERTO_EINVAL, WHERE,
                             "not a token issuer (1-%d printable ASCII characters, no space)",
                             CERTO_TRUST_ISS_MAX);
    return CERTO_OK;
}

char *
certo_trust_alias_derive(X509 *cert)
{
    const X509_NAME *name = X509_get_subject_name(cert);
    int idx = name != NULL ? X509_NAME_get_index_by_NID(name, NID_commonName, -1) : -1;
    unsigned char *cn = NULL;
    char out[DERIVED_MAX + 1];
    size_t o = 0;
    bool dash = false;
    int n = -1;

    if (idx >= 0)
        n = ASN1_STRING_to_UTF8(&cn, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx)));
    for (int i = 0; i < n && o < DERIVED_MAX; i++) {
        int c = cn[i] < 0x80 ? tolower(cn[i]) : 0;
        if (c != 0 && is_name_char(c) && (isalnum(c) || o > 0)) {
            if (dash && o > 0 && o + 2 > DERIVED_MAX)
                break; /* no room for "-c": end at the word before */
            if (dash && o > 0)
                out[o++] = '-';
            dash = false;
            out[o++] = (char)c;
        } else {
            dash = true;
        }
    }
    while (o > 0 && !isalnum((unsigned char)out[o - 1]))
        o--;
    out[o] = '\0';
    OPENSSL_free(cn);
    return certo_strdup(o > 0 ? out : "cert");
}

/* ---- SSRF rules ---- */

/* The rules for an IPv4 address 'a' (host byte order). */
static const char *
v4_refusal(uint32_t a)
{
    if (a == 0xA9FEA9FEu || a == 0x646464C8u || a == 0xA83F8110u)
        return "a cloud metadata address";
    if ((a & 0xFFFF0000u) == 0xA9FE0000u)
        return "a link-local address";
    if ((a & 0xFF000000u) == 0)
        return "an unspecified address";
    if (a == 0xFFFFFFFFu)
        return "a broadcast address";
    if ((a & 0xF0000000u) == 0xE0000000u)
        return "a multicast address";
    if ((a & 0xF0000000u) == 0xF0000000u)
        return "a reserved address";
    return NULL;
}

const char *
certo_trust_addr_refusal(const struct sockaddr *addr)
{
    static const unsigned char ec2[16] = {0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0,    0,
                                          0,    0,    0,    0,    0, 0, 0x02, 0x54};
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    static const unsigned char zero[16] = {0};
    const unsigned char *b;
    uint32_t v4;

    if (addr->sa_family == AF_INET)
        return v4_refusal(ntohl(((const struct sockaddr_in *)(const void *)addr)->sin_addr.s_addr));
    if (addr->sa_family != AF_INET6)
        return "not an IP address";
    b = ((const struct sockaddr_in6 *)(const void *)addr)->sin6_addr.s6_addr;
    /* An IPv4-mapped address reaches the IPv4 address on a dual-stack socket, and the
     * NAT64 well-known prefix (RFC 6052) reaches it through a translator. */
    if (memcmp(b, mapped, 12) == 0 || memcmp(b, nat64, 12) == 0) {
        v4 = (uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15];
        return v4_refusal(v4);
    }
    if (memcmp(b, zero, 16) == 0)
        return "an unspecified address";
    if (memcmp(b, ec2, 16) == 0)
        return "a cloud metadata address";
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
        return "a link-local address";
    if (b[0] == 0xff)
        return "a multicast address";
    return NULL;
}

bool
certo_trust_name_refused(const char *host)
{
    size_t n = strlen(host);

    if (n > 0 && host[n - 1] == '.')
        n--;
    return n == strlen("metadata.google.internal") &&
           strncasecmp(host, "metadata.google.internal", n) == 0;
}

/* ---- import from URL ---- */

certo_rc
certo_trust_fetch(struct certo_tls_peer *out, const char *host, int port,
                  const struct certo_trust_fetch_opts *opts, struct certo_err *err)
{
    const struct certo_trust_fetch_opts none = {0};
    struct certo_tls_probe_opts po = {0};
    struct addrinfo hints = {0}, *res = NULL;
    struct certo_err last = {0};
    unsigned char lit[16];
    char portstr[8], addr[INET6_ADDRSTRLEN], *label = NULL;
    int64_t deadline;
    bool literal;
    certo_rc rc = CERTO_EINTERNAL;
    int gai;

    memset(out, 0, sizeof(*out));
    if (opts == NULL)
        opts = &none;
    if (certo_trust_name_refused(host))
        return certo_err_set(err, CERTO_EPERM, WHERE,
                             "%s is a cloud metadata service; refused, nothing was connected to",
                             host);
    literal = inet_pton(AF_INET, host, lit) == 1 || inet_pton(AF_INET6, host, lit) == 1;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    snprintf(portstr, sizeof(portstr), "%d", port);
    gai = getaddrinfo(host, portstr, &hints, &res);
    if (gai != 0)
        return certo_err_set(err, CERTO_ENET, WHERE, "cannot resolve %s: %s", host,
                             gai_strerror(gai));
    /* Every address is checked before any is used: a name is refused as a whole. */
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        const char *why = certo_trust_addr_refusal(ai->ai_addr);
        if (why == NULL)
            continue;
        if (getnameinfo(ai->ai_addr, ai->ai_addrlen, addr, sizeof(addr), NULL, 0, NI_NUMERICHOST) !=
            0)
            snprintf(addr, sizeof(addr), "?");
        if (literal)
            rc = certo_err_set(err, CERTO_EPERM, WHERE,
                               "%s is %s; refused, nothing was connected to", addr, why);
        else
            rc = certo_err_set(err, CERTO_EPERM, WHERE,
                               "%s resolves to %s, %s; refused, nothing was connected to", host,
                               addr, why);
        goto out;
    }
    deadline =
        certo_clock_mono_ms() + (opts->timeout_ms > 0 ? opts->timeout_ms : CERTO_TRUST_TIMEOUT_MS);
    label = strchr(host, ':') != NULL ? certo_asprintf("[%s]:%d", host, port)
                                      : certo_asprintf("%s:%d", host, port);
    po.sni = opts->sni != NULL ? opts->sni : literal ? NULL : host;
    po.max_bytes = opts->max_bytes > 0 ? opts->max_bytes : CERTO_TRUST_FETCH_MAX;
    po.max_chain = opts->max_chain > 0 ? opts->max_chain : CERTO_TRUST_CHAIN_MAX;
    rc = CERTO_ENET;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        int64_t left = deadline - certo_clock_mono_ms();
        if (left <= 0) {
            rc = certo_err_set(&last, CERTO_ETIMEDOUT, WHERE, "connecting to %s timed out", label);
            break;
        }
        po.timeout_ms = left > 600000 ? 600000 : (int)left;
        certo_err_clear(&last);
        rc = certo_tls_probe_addr(ai->ai_addr, ai->ai_addrlen, label, &po, out, &last);
        /* Only a refused or unreachable address moves on to the next one. */
        if (rc != CERTO_ENET)
            break;
    }
    if (rc != CERTO_OK && err != NULL && err->rc == CERTO_OK)
        *err = last;
out:
    certo_free(label);
    freeaddrinfo(res);
    return rc;
}

/* ---- rows ---- */

static time_t
asn1_time(const ASN1_TIME *t)
{
    struct tm tm = {0};

    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return timegm(&tm);
}

/* The current row of a SELECT COLUMNS statement into 'out'. */
static certo_rc
row_read(struct certo_trust_entry *out, struct certo_stmt *st, struct certo_err *err)
{
    struct certo_trust_entry e = {0};
    const char *s;
    const void *p;
    size_t len = 0;
    certo_rc rc;

    p = certo_stmt_blob(st, 1, &len);
    rc = certo_cert_parse(&e.cert, p, len, err);
    if (rc != CERTO_OK)
        goto out;
    e.alias = certo_strdup(certo_stmt_text(st, 0));
    s = certo_stmt_text(st, 2);
    snprintf(e.fingerprint, sizeof(e.fingerprint), "%s", s != NULL ? s : "");
    s = certo_stmt_text(st, 3);
    e.subject = s != NULL ? certo_strdup(s) : certo_cert_name_text(X509_get_subject_name(e.cert));
    s = certo_stmt_text(st, 4);
    e.issuer = s != NULL ? certo_strdup(s) : certo_cert_name_text(X509_get_issuer_name(e.cert));
    e.not_after = (time_t)certo_stmt_int(st, 5);
    s = certo_stmt_text(st, 6);
    e.source = certo_strdup(s != NULL ? s : "");
    if (!purpose_parse(&e.purpose, certo_stmt_text(st, 7))) {
        rc = certo_err_set(err, CERTO_EPARSE, WHERE, "trusted certificate '%s': unknown purpose",
                           e.alias);
        goto out;
    }
    s = certo_stmt_text(st, 8);
    e.token_issuer = s != NULL ? certo_strdup(s) : NULL;
    e.added_at = (time_t)certo_stmt_int(st, 9);
    *out = e;
    memset(&e, 0, sizeof(e));
out:
    certo_trust_entry_dispose(&e);
    return rc;
}

/*
 * Runs "SELECT COLUMNS FROM trust <tail>" with up to one text parameter and appends
 * every row to 'out'.
 */
static certo_rc
select_rows(struct certo_trust_list *out, struct certo_db *db, const char *tail, const char *param,
            struct certo_err *err)
{
    struct certo_stmt *st = NULL;
    char *sql = certo_asprintf("SELECT " COLUMNS " FROM trust %s", tail);
    bool row = false;
    certo_rc rc;

    rc = certo_db_prepare(db, &st, sql, err);
    if (rc == CERTO_OK && param != NULL)
        rc = certo_stmt_bind_text(st, 1, param);
    while (rc == CERTO_OK) {
        rc = certo_stmt_step(st, &row, err);
        if (rc != CERTO_OK || !row)
            break;
        out->entries = certo_reallocarray(out->entries, out->count + 1, sizeof(*out->entries));
        memset(&out->entries[out->count], 0, sizeof(*out->entries));
        rc = row_read(&out->entries[out->count], st, err);
        if (rc == CERTO_OK)
            out->count++;
    }
    certo_stmt_free(st);
    certo_free(sql);
    return rc;
}

/* The alias of the row with fingerprint 'fp' into *alias (new string), or NULL. */
static certo_rc
alias_of_fp(char **alias, struct certo_db *db, const char *fp, struct certo_err *err)
{
    struct certo_stmt *st = NULL;
    bool row = false;
    certo_rc rc;

    *alias = NULL;
    rc = certo_db_prepare(db, &st, "SELECT alias FROM trust WHERE fingerprint = $1", err);
    if (rc == CERTO_OK)
        rc = certo_stmt_bind_text(st, 1, fp);
    if (rc == CERTO_OK)
        rc = certo_stmt_step(st, &row, err);
    if (rc == CERTO_OK && row)
        *alias = certo_strdup(certo_stmt_text(st, 0));
    certo_stmt_free(st);
    return rc;
}

static certo_rc
alias_taken(bool *taken, struct certo_db *db, const char *alias, struct certo_err *err)
{
    struct certo_stmt *st = NULL;
    certo_rc rc;

    *taken = false;
    rc = certo_db_prepare(db, &st, "SELECT 1 FROM trust WHERE alias = $1", err);
    if (rc == CERTO_OK)
        rc = certo_stmt_bind_text(st, 1, alias);
    if (rc == CERTO_OK)
        rc = certo_stmt_step(st, taken, err);
    certo_stmt_free(st);
    return rc;
}

/* 'base' when free, else 'base'-2, -3, ... (within the alias length); a new string. */
static certo_rc
unique_alias(char **out, struct certo_db *db, const char *base, struct certo_err *err)
{
    bool taken = true;
    certo_rc rc = alias_taken(&taken, db, base, err);

    *out = NULL;
    if (rc != CERTO_OK)
        return rc;
    if (!taken) {
        *out = certo_strdup(base);
        return CERTO_OK;
    }
    for (int i = 2; i < UNIQUE_TRIES; i++) {
        char suffix[16];
        int sl = snprintf(suffix, sizeof(suffix), "-%d", i);
        int bl = (int)strlen(base);
        if (bl + sl > CERTO_TRUST_ALIAS_MAX)
            bl = CERTO_TRUST_ALIAS_MAX - sl;
        char *cand = certo_asprintf("%.*s%s", bl, base, suffix);
        rc = alias_taken(&taken, db, cand, err);
        if (rc != CERTO_OK || !taken) {
            if (rc == CERTO_OK)
                *out = cand;
            else
                certo_free(cand);
            return rc;
        }
        certo_free(cand);
    }
    return certo_err_set(err, CERTO_EEXIST, WHERE, "no free alias like '%s'", base);
}

/* One certificate to store, as parsed from input. */
struct pending {
    X509 *cert;                       /* owned */
    char fp[96];                      /* SHA-256 */
    char *alias;                      /* owned; from a metadata line, or NULL */
    bool has_meta;                    /* a metadata line came before it */
    enum certo_trust_purpose purpose; /* from the metadata line */
    char *iss;                        /* owned; from the metadata line, or NULL */
};

static void
pending_dispose(struct pending *p, size_t n)
{
    for (size_t i = 0; p != NULL && i < n; i++) {
        certo_cert_free(p[i].cert);
        certo_free(p[i].alias);
        certo_free(p[i].iss);
    }
    certo_free(p);
}

/* Inserts one row. Inside a transaction. */
static certo_rc
insert_row(struct certo_db *db, X509 *cert, const char *fp, const char *alias, const char *source,
           enum certo_trust_purpose purpose, const char *iss, struct certo_err *err)
{
    struct certo_stmt *st = NULL;
    struct certo_buf der;
    char *subject = certo_cert_name_text(X509_get_subject_name(cert));
    char *issuer = certo_cert_name_text(X509_get_issuer_name(cert));
    bool row = false;
    certo_rc rc;

    certo_buf_init(&der, DER_MAX);
    rc = certo_cert_to_der(&der, cert, err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_db_prepare(db, &st,
                          "INSERT INTO trust (" COLUMNS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
                          " $9, $10)",
                          err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_stmt_bind_text(st, 1, alias);
    if (rc == CERTO_OK)
        rc = certo_stmt_bind_blob(st, 2, der.data, der.len);
    if (rc == CERTO_OK)
        rc = certo_stmt_bind_text(st, 3, fp);
    if (rc == CERTO_OK)
        rc = certo_stmt_bind_text(st, 4, subject);
    if (rc == CERTO_OK)
        rc = certo_stmt_bind_text(st, 5, issuer);
    if (rc == CERTO_OK)
        rc = certo_stmt_bind_int(st, 6, (int64_t)asn1_time(X509_get0_notAfter(cert)));
    if (rc == CERTO_OK)
        rc = certo_stmt_bind_text(st, 7, source);
    if (rc == CERTO_OK)
        rc = certo_stmt_bind_text(st, 8, certo_trust_purpose_name(purpose));
    if (rc == CERTO_OK)
        rc = certo_stmt_bind_text(st, 9, purpose == CERTO_TRUST_TOKEN_ISSUER ? iss : NULL);
    if (rc == CERTO_OK)
        rc = certo_stmt_bind_int(st, 10, (int64_t)certo_clock_now());
    if (rc != CERTO_OK) {
        rc = certo_err_set(err, rc, WHERE, "cannot bind the trust row");
        goto out;
    }
    rc = certo_stmt_step(st, &row, err);
out:
    certo_stmt_free(st);
    certo_buf_dispose(&der);
    certo_free(subject);
    certo_free(issuer);
    return rc;
}

/* Checks the options shared by add and import. */
static certo_rc
check_opts(const struct certo_trust_add_opts *o, struct certo_err *err)
{
    certo_rc rc = CERTO_OK;

    if (o->alias != NULL)
        rc = certo_trust_alias_check(o->alias, err);
    if (rc == CERTO_OK && o->token_issuer != NULL)
        rc = certo_trust_iss_check(o->token_issuer, err);
    if (rc == CERTO_OK && o->purpose == CERTO_TRUST_TOKEN_ISSUER && o->token_issuer == NULL)
        rc = certo_err_set(err, CERTO_EINVAL, WHERE, "a token issuer needs its `iss` value");
    return rc;
}

/*
 * Stores 'p' (inside the transaction). Already trusted: *skipped with *alias_out its
 * alias, or CERTO_EEXIST when 'strict' (add, or an explicit alias or issuer).
 */
static certo_rc
store_one(char **alias_out, bool *skipped, struct certo_db *db, const struct pending *p,
          const struct certo_trust_add_opts *o, bool strict, struct certo_err *err)
{
    enum certo_trust_purpose purpose = p->has_meta ? p->purpose : CERTO_TRUST_PEER;
    const char *iss = p->has_meta ? p->iss : NULL;
    const char *source = o->source != NULL ? o->source : p->has_meta ? "import" : "file";
    char *existing = NULL, *alias = NULL, *base = NULL;
    bool taken = false;
    certo_rc rc;

    *alias_out = NULL;
    *skipped = false;
    if (o->token_issuer != NULL || o->purpose == CERTO_TRUST_TOKEN_ISSUER) {
        purpose = CERTO_TRUST_TOKEN_ISSUER;
        iss = o->token_issuer;
    }
    rc = alias_of_fp(&existing, db, p->fp, err);
    if (rc != CERTO_OK)
        goto out;
    if (existing != NULL && (strict || o->alias != NULL || o->token_issuer != NULL)) {
        rc = certo_err_set(err, CERTO_EEXIST, WHERE,
                           "the certificate %s is already trusted as '%s'", p->fp, existing);
        goto out;
    }
    if (existing != NULL) {
        *alias_out = existing;
        existing = NULL;
        *skipped = true;
        goto out;
    }
    if (o->alias != NULL) {
        rc = alias_taken(&taken, db, o->alias, err);
        if (rc == CERTO_OK && taken)
            rc = certo_err_set(err, CERTO_EEXIST, WHERE,
                               "the alias '%s' is already in use by another certificate", o->alias);
        if (rc != CERTO_OK)
            goto out;
        alias = certo_strdup(o->alias);
    } else {
        base = p->alias != NULL ? certo_strdup(p->alias) : certo_trust_alias_derive(p->cert);
        rc = unique_alias(&alias, db, base, err);
        if (rc != CERTO_OK)
            goto out;
    }
    rc = insert_row(db, p->cert, p->fp, alias, source, purpose, iss, err);
    if (rc != CERTO_OK)
        goto out;
    *alias_out = alias;
    alias = NULL;
out:
    certo_free(existing);
    certo_free(alias);
    certo_free(base);
    return rc;
}

certo_rc
certo_trust_add(char **alias_out, struct certo_db *db, X509 *cert,
                const struct certo_trust_add_opts *opts, struct certo_err *err)
{
    const struct certo_trust_add_opts none = {0};
    struct pending p = {.cert = cert};
    char *alias = NULL;
    bool skipped = false, in_tx = false;
    certo_rc rc;

    if (alias_out != NULL)
        *alias_out = NULL;
    if (opts == NULL)
        opts = &none;
    rc = check_opts(opts, err);
    if (rc == CERTO_OK)
        rc = certo_cert_fingerprint(p.fp, cert, err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_db_begin(db, true, err);
    if (rc != CERTO_OK)
        goto out;
    in_tx = true;
    rc = store_one(&alias, &skipped, db, &p, opts, true, err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_db_commit(db, err);
    if (rc != CERTO_OK)
        goto out;
    in_tx = false;
    if (alias_out != NULL) {
        *alias_out = alias;
        alias = NULL;
    }
out:
    if (in_tx)
        certo_db_rollback(db);
    certo_free(alias);
    return rc;
}

/* ---- import ---- */

/* Reads the key=value words of a metadata line (after the tag) into 'p'. */
static certo_rc
parse_meta(struct pending *p, const char *line, size_t len, size_t nr, struct certo_err *err)
{
    char *copy = certo_strndup(line, len), *w = copy;
    const char *purpose = NULL;
    certo_rc rc = CERTO_OK;

    p->has_meta = true;
    p->purpose = CERTO_TRUST_PEER;
    while (*w != '\0' && rc == CERTO_OK) {
        size_t wl = strcspn(w, " \t");
        char *next = w + wl + (w[wl] != '\0' ? 1 : 0);
        char *eq = memchr(w, '=', wl);
        w[wl] = '\0';
        if (eq == NULL) {
            w = next;
            continue;
        }
        *eq = '\0';
        if (strcmp(w, "alias") == 0) {
            rc = certo_trust_alias_check(eq + 1, err);
            certo_free(p->alias);
            p->alias = certo_strdup(eq + 1);
        } else if (strcmp(w, "purpose") == 0) {
            purpose = eq + 1;
            if (!purpose_parse(&p->purpose, purpose))
                rc =
                    certo_err_set(err, CERTO_EPARSE, WHERE, "certificate %zu: unknown purpose", nr);
        } else if (strcmp(w, "token-issuer") == 0) {
            rc = certo_trust_iss_check(eq + 1, err);
            certo_free(p->iss);
            p->iss = certo_strdup(eq + 1);
        }
        /* Other words are for later versions. */
        w = next;
    }
    if (rc == CERTO_OK && (p->purpose == CERTO_TRUST_TOKEN_ISSUER) != (p->iss != NULL))
        rc = certo_err_set(err, CERTO_EPARSE, WHERE,
                           "certificate %zu: token-issuer= goes with purpose=token-issuer", nr);
    if (rc != CERTO_OK)
        rc = certo_err_set(err, CERTO_EPARSE, WHERE, "certificate %zu: bad %s line", nr,
                           CERTO_TRUST_METADATA_TAG);
    certo_free(copy);
    return rc;
}

/* The line starting at 'p' (without its end of line) and the start of the next one. */
static const char *
next_line(const char *p, const char *end, size_t *len)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *e = nl != NULL ? nl : end;

    *len = (size_t)(e - p);
    if (*len > 0 && p[*len - 1] == '\r')
        (*len)--;
    return nl != NULL ? nl + 1 : end;
}

static bool
line_is(const char *line, size_t len, const char *what)
{
    return len == strlen(what) && memcmp(line, what, len) == 0;
}

static bool
starts(const char *line, size_t len, const char *prefix)
{
    return len >= strlen(prefix) && memcmp(line, prefix, strlen(prefix)) == 0;
}

/*
 * Splits PEM text into certificates (with the metadata line before each), each block
 * parsed on its own so a corrupt one is named by its number.
 */
static certo_rc
parse_pem(struct pending **out, size_t *n_out, const char *data, size_t len, struct certo_err *err)
{
    const char *p = data, *end = data + len;
    struct pending *v = NULL, meta = {0};
    size_t n = 0, ll;
    certo_rc rc = CERTO_OK;

    while (p < end && rc == CERTO_OK) {
        const char *line = p;
        p = next_line(p, end, &ll);
        if (starts(line, ll, CERTO_TRUST_METADATA_TAG)) {
            size_t tag = strlen(CERTO_TRUST_METADATA_TAG);
            certo_free(meta.alias);
            certo_free(meta.iss);
            memset(&meta, 0, sizeof(meta));
            rc = parse_meta(&meta, line + tag, ll - tag, n + 1, err);
            continue;
        }
        if (!starts(line, ll, "-----BEGIN "))
            continue;
        bool cert = line_is(line, ll, "-----BEGIN CERTIFICATE-----") ||
                    line_is(line, ll, "-----BEGIN TRUSTED CERTIFICATE-----");
        const char *block = line, *q = p;
        bool closed = false;
        while (q < end && !closed) {
            const char *l2 = q;
            q = next_line(q, end, &ll);
            closed = starts(l2, ll, "-----END ");
        }
        p = q;
        if (!cert) {
            certo_free(meta.alias);
            certo_free(meta.iss);
            memset(&meta, 0, sizeof(meta));
            continue;
        }
        if (n >= CERTO_TRUST_IMPORT_MAX) {
            rc = certo_err_set(err, CERTO_ETOOBIG, WHERE, "more than %d certificates",
                               CERTO_TRUST_IMPORT_MAX);
            break;
        }
        v = certo_reallocarray(v, n + 1, sizeof(*v));
        v[n] = meta;
        memset(&meta, 0, sizeof(meta));
        n++;
        struct certo_err e = {0};
        if (!closed)
            rc = certo_err_set(err, CERTO_EPARSE, WHERE, "certificate %zu: no END line", n);
        else if (certo_cert_parse(&v[n - 1].cert, block, (size_t)(q - block), &e) != CERTO_OK)
            rc = certo_err_set(err, CERTO_EPARSE, WHERE, "certificate %zu: malformed (%s)", n,
                               e.msg);
        else
            rc = certo_cert_fingerprint(v[n - 1].fp, v[n - 1].cert, err);
    }
    certo_free(meta.alias);
    certo_free(meta.iss);
    if (rc == CERTO_OK && n == 0)
        rc = certo_err_set(err, CERTO_EPARSE, WHERE, "no certificate found");
    if (rc != CERTO_OK) {
        pending_dispose(v, n);
        return rc;
    }
    *out = v;
    *n_out = n;
    return CERTO_OK;
}

/* Every certificate of 'data' (PEM, or one DER certificate). */
static certo_rc
parse_input(struct pending **out, size_t *n_out, const void *data, size_t len,
            struct certo_err *err)
{
    struct pending *v;
    certo_rc rc;

    *out = NULL;
    *n_out = 0;
    if (len > CERTO_PEM_MAX)
        return certo_err_set(err, CERTO_ETOOBIG, WHERE, "the input is %zu bytes, the limit is %u",
                             len, CERTO_PEM_MAX);
    if (memmem(data, len, "-----BEGIN ", 11) != NULL)
        return parse_pem(out, n_out, data, len, err);
    v = certo_calloc(1, sizeof(*v));
    rc = certo_cert_parse(&v->cert, data, len, err);
    if (rc == CERTO_OK)
        rc = certo_cert_fingerprint(v->fp, v->cert, err);
    if (rc != CERTO_OK) {
        pending_dispose(v, 1);
        return rc == CERTO_ETOOBIG ? rc : CERTO_EPARSE;
    }
    *out = v;
    *n_out = 1;
    return CERTO_OK;
}

certo_rc
certo_trust_import(struct certo_trust_import_result *out, struct certo_db *db, const void *data,
                   size_t len, const struct certo_trust_add_opts *opts, struct certo_err *err)
{
    const struct certo_trust_add_opts none = {0};
    struct certo_trust_import_result r = {0};
    struct pending *v = NULL;
    size_t n = 0;
    bool in_tx = false;
    certo_rc rc;

    memset(out, 0, sizeof(*out));
    if (opts == NULL)
        opts = &none;
    rc = check_opts(opts, err);
    if (rc == CERTO_OK)
        rc = parse_input(&v, &n, data, len, err);
    if (rc != CERTO_OK)
        goto out;
    if (n > 1 && (opts->alias != NULL || opts->token_issuer != NULL)) {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE,
                           "the input holds %zu certificates; an alias or a token issuer is "
                           "for exactly one",
                           n);
        goto out;
    }
    rc = certo_db_begin(db, true, err);
    if (rc != CERTO_OK)
        goto out;
    in_tx = true;
    r.items = certo_calloc(n, sizeof(*r.items));
    for (size_t i = 0; i < n; i++) {
        struct certo_trust_import_item *it = &r.items[r.count];
        rc = store_one(&it->alias, &it->skipped, db, &v[i], opts, false, err);
        if (rc != CERTO_OK)
            goto out;
        memcpy(it->fingerprint, v[i].fp, sizeof(it->fingerprint));
        r.count++;
        if (!it->skipped)
            r.added++;
    }
    rc = certo_db_commit(db, err);
    if (rc != CERTO_OK)
        goto out;
    in_tx = false;
    *out = r;
    memset(&r, 0, sizeof(r));
out:
    if (in_tx)
        certo_db_rollback(db);
    certo_trust_import_dispose(&r);
    pending_dispose(v, n);
    return rc;
}

/* ---- reading ---- */

certo_rc
certo_trust_list(struct certo_trust_list *out, struct certo_db *db, struct certo_err *err)
{
    struct certo_trust_list l = {0};
    certo_rc rc;

    memset(out, 0, sizeof(*out));
    rc = select_rows(&l, db, "ORDER BY alias", NULL, err);
    if (rc == CERTO_OK) {
        *out = l;
        memset(&l, 0, sizeof(l));
    }
    certo_trust_list_dispose(&l);
    return rc;
}

certo_rc
certo_trust_get(struct certo_trust_entry *out, struct certo_db *db, const char *key,
                struct certo_err *err)
{
    struct certo_trust_list l = {0};
    char fp[96];
    certo_rc rc;

    memset(out, 0, sizeof(*out));
    if (certo_trust_fingerprint_parse(fp, key))
        rc = select_rows(&l, db, "WHERE fingerprint = $1", fp, err);
    else
        rc = select_rows(&l, db, "WHERE alias = $1", key, err);
    if (rc == CERTO_OK && l.count == 0)
        rc = certo_err_set(err, CERTO_ENOTFOUND, WHERE, "no trusted certificate '%.100s'", key);
    if (rc == CERTO_OK) {
        *out = l.entries[0];
        memset(&l.entries[0], 0, sizeof(l.entries[0]));
    }
    certo_trust_list_dispose(&l);
    return rc;
}

certo_rc
certo_trust_remove(struct certo_trust_entry *removed, struct certo_db *db, const char *key,
                   struct certo_err *err)
{
    struct certo_trust_entry e = {0};
    struct certo_stmt *st = NULL;
    bool in_tx = false, row = false;
    certo_rc rc;

    if (removed != NULL)
        memset(removed, 0, sizeof(*removed));
    rc = certo_db_begin(db, true, err);
    if (rc != CERTO_OK)
        goto out;
    in_tx = true;
    rc = certo_trust_get(&e, db, key, err);
    if (rc == CERTO_OK)
        rc = certo_db_prepare(db, &st, "DELETE FROM trust WHERE alias = $1", err);
    if (rc == CERTO_OK)
        rc = certo_stmt_bind_text(st, 1, e.alias);
    if (rc == CERTO_OK)
        rc = certo_stmt_step(st, &row, err);
    if (rc == CERTO_OK)
        rc = certo_db_commit(db, err);
    if (rc != CERTO_OK)
        goto out;
    in_tx = false;
    if (removed != NULL) {
        *removed = e;
        memset(&e, 0, sizeof(e));
    }
out:
    certo_stmt_free(st);
    if (in_tx)
        certo_db_rollback(db);
    certo_trust_entry_dispose(&e);
    return rc;
}

certo_rc
certo_trust_export(struct certo_buf *out, size_t *n_out, struct certo_db *db, struct certo_err *err)
{
    struct certo_trust_list l = {0};
    certo_rc rc;

    if (n_out != NULL)
        *n_out = 0;
    rc = certo_trust_list(&l, db, err);
    for (size_t i = 0; rc == CERTO_OK && i < l.count; i++) {
        const struct certo_trust_entry *e = &l.entries[i];
        rc = certo_buf_printf(out, "%salias=%s purpose=%s", CERTO_TRUST_METADATA_TAG, e->alias,
                              certo_trust_purpose_name(e->purpose));
        if (rc == CERTO_OK && e->token_issuer != NULL)
            rc = certo_buf_printf(out, " token-issuer=%s", e->token_issuer);
        if (rc == CERTO_OK)
            rc = certo_buf_append(out, "\n", 1);
        if (rc != CERTO_OK)
            rc = certo_err_set(err, rc, WHERE, "the export is larger than its limit");
        if (rc == CERTO_OK)
            rc = certo_cert_to_pem(out, e->cert, err);
    }
    if (rc == CERTO_OK && n_out != NULL)
        *n_out = l.count;
    certo_trust_list_dispose(&l);
    return rc;
}

certo_rc
certo_trust_x509_store(X509_STORE **out, struct certo_db *db, enum certo_trust_purpose purpose,
                       struct certo_err *err)
{
    struct certo_trust_list l = {0};
    X509_STORE *store = NULL;
    certo_rc rc;

    *out = NULL;
    rc = select_rows(&l, db, "WHERE purpose = $1 ORDER BY alias", certo_trust_purpose_name(purpose),
                     err);
    if (rc != CERTO_OK)
        goto out;
    store = X509_STORE_new();
    if (store == NULL || X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN) != 1) {
        rc = certo_err_ossl(err, CERTO_ENOMEM, WHERE, "cannot make a certificate store");
        goto out;
    }
    for (size_t i = 0; i < l.count; i++) {
        /* X509_STORE_add_cert takes its own reference. */
        if (X509_STORE_add_cert(store, l.entries[i].cert) != 1) {
            rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot add '%s' to the store",
                                l.entries[i].alias);
            goto out;
        }
    }
    *out = store;
    store = NULL;
out:
    X509_STORE_free(store);
    certo_trust_list_dispose(&l);
    return rc;
}

certo_rc
certo_trust_issuer_certs(STACK_OF(X509) * *out, struct certo_db *db, const char *iss,
                         struct certo_err *err)
{
    struct certo_trust_list l = {0};
    STACK_OF(X509) *sk = NULL;
    certo_rc rc;

    *out = NULL;
    rc = select_rows(&l, db, "WHERE purpose = 'token-issuer' AND token_issuer = $1 ORDER BY alias",
                     iss, err);
    if (rc != CERTO_OK)
        goto out;
    if (l.count == 0) {
        rc =
            certo_err_set(err, CERTO_ENOTFOUND, WHERE, "no trusted token issuer for '%.100s'", iss);
        goto out;
    }
    sk = sk_X509_new_null();
    if (sk == NULL) {
        rc = certo_err_set(err, CERTO_ENOMEM, WHERE, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < l.count; i++) {
        if (sk_X509_push(sk, l.entries[i].cert) == 0) {
            rc = certo_err_set(err, CERTO_ENOMEM, WHERE, "out of memory");
            goto out;
        }
        l.entries[i].cert = NULL; /* the stack owns it now */
    }
    *out = sk;
    sk = NULL;
out:
    certo_certs_free(sk);
    certo_trust_list_dispose(&l);
    return rc;
}
