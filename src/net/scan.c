/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Network scans (net layer). The specifications: ranges are kept as a first address and
 * a count, never expanded, and every count is checked against the caller's ceiling before
 * it is added, so nothing overflows; every error names the item (and its file and line).
 * The engine: one or more workers, each a libevent loop with a fixed pool of connection
 * slots walking its share of targets x ports by index (worker i of n takes the probes
 * i, i + n, i + 2n, ...), non-blocking sockets and OpenSSL. No SSL object exists before a
 * TCP connect completed, so a closed port or a silent host costs a socket and a timer.
 * Never sends application data; blocks only to resolve host names, before the first
 * connect. With one worker it runs on the calling thread; with more, each runs on a
 * thread of its own, they share the SSL_CTX and nothing else that they write, the
 * callbacks are serialised by the hub's lock, and the calling thread reports progress.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "certo/buf.h"
#include "certo/file.h"
#include "certo/limits.h"
#include "certo/mem.h"
#include "certo/scan.h"

#define WHERE "net.scan"

/* ---- specifications ---- */

enum tgt_kind {
    TGT_V4,   /* 'n' IPv4 addresses from u.v4 */
    TGT_V6,   /* 'n' IPv6 addresses from u.v6 */
    TGT_NAME, /* one host name, resolved by the engine */
};

/* One item of a target spec: a range is its first address and a count, never expanded. */
struct tgt {
    enum tgt_kind kind;
    uint32_t ni; /* TGT_NAME: ordinal among the names, the index of its resolution */
    uint64_t n;  /* targets: addresses of the range, 1 for a name */
    union {
        uint32_t v4;          /* first address, host order */
        unsigned char v6[16]; /* first address, network order */
        char *name;           /* owned */
    } u;
};

struct certo_scan_targets {
    struct tgt *v; /* owned, 'n' used of 'cap' */
    size_t n, cap;
    uint64_t count;  /* sum of v[].n, never above 'max' */
    uint64_t max;    /* the ceiling given to the parser */
    uint32_t nnames; /* TGT_NAME items */
};

/* Longest item worth parsing: "@" and a path; anything longer is refused as it is. */
#define ITEM_MAX (CERTO_PATH_MAX + 1)

/* Where an item comes from, for messages: the spec itself, or a file and a line. */
struct origin {
    const char *file; /* NULL: the spec string */
    unsigned line;
};

/* Renders at most 60 bytes of 's' for a message: printable ASCII, '?' for the rest. */
static const char *
show(char out[72], const char *s, size_t len)
{
    size_t n = len > 60 ? 60 : len, i;

    for (i = 0; i < n; i++)
        out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
    if (n < len) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
    return out;
}

/* "FILE:LINE: " for an item read from a file, else "". */
static const char *
at(char out[96], const struct origin *o)
{
    char f[72];

    if (o->file == NULL)
        return "";
    snprintf(out, 96, "%s:%u: ", show(f, o->file, strlen(o->file)), o->line);
    return out;
}

static certo_rc CERTO_PRINTF(5, 6) item_error(struct certo_err *err, const struct origin *o,
                                              const char *item, size_t len, const char *fmt, ...)
{
    char where[96], shown[72], why[160];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    return certo_err_set(err, CERTO_EINVAL, WHERE, "targets: %s%s %s", at(where, o),
                         show(shown, item, len), why);
}

/* RFC 1123 host name: labels of 1-63 letters, digits and '-', no '-' at either end. */
static bool
is_host_name(const char *s, size_t len)
{
    size_t label = 0;
    bool digits = true;

    if (len == 0 || len > 253)
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (ch == '.') {
            if (label == 0 || s[i - 1] == '-')
                return false;
            label = 0;
            digits = true;
            continue;
        }
        bool alpha = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
        bool digit = ch >= '0' && ch <= '9';
        if (!alpha && !digit && ch != '-')
            return false;
        if (ch == '-' && label == 0)
            return false;
        if (++label > 63)
            return false;
        digits = digits && digit;
    }
    /* An all-numeric last label is a mistyped IPv4 address, never a name (RFC 3696 2),
     * and getaddrinfo would read "10.1" as 10.0.0.1. */
    return label > 0 && s[len - 1] != '-' && !digits;
}

bool
certo_scan_valid_name(const char *name)
{
    return name != NULL && is_host_name(name, strnlen(name, 254));
}

/* Strictly decimal, no sign, at most 'maxdigits' digits. */
static bool
parse_dec(const char *s, size_t len, size_t maxdigits, uint32_t *out)
{
    uint32_t v = 0;

    if (len == 0 || len > maxdigits)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint32_t)(s[i] - '0');
    }
    *out = v;
    return true;
}

static void
push(struct certo_scan_targets *t, const struct tgt *it)
{
    struct tgt *last = t->n > 0 ? &t->v[t->n - 1] : NULL;

    /* Consecutive IPv4 addresses (a file of a sweep, one per line) merge into one range:
     * the order and the count are unchanged, the memory is not. */
    if (last != NULL && it->kind == TGT_V4 && last->kind == TGT_V4 &&
        (uint64_t)last->u.v4 + last->n == it->u.v4 && last->n + it->n <= UINT32_MAX) {
        last->n += it->n;
        return;
    }
    if (t->n == t->cap) {
        t->cap = t->cap == 0 ? 16 : t->cap * 2;
        t->v = certo_reallocarray(t->v, t->cap, sizeof(*t->v));
    }
    t->v[t->n++] = *it;
}

/* Adds an item of 'it->n' targets ('count_text' when that does not fit in 64 bits). */
static certo_rc
add(struct certo_scan_targets *t, struct tgt *it, const char *count_text, const struct origin *o,
    const char *item, size_t len, struct certo_err *err)
{
    const char *raise = t->max < CERTO_SCAN_MAX_LIMIT ? " (raise it with --max N)" : "";
    char n[24];

    if (count_text == NULL) {
        snprintf(n, sizeof(n), "%" PRIu64, it->n);
        count_text = n;
    }
    if (it->n > t->max)
        return item_error(err, o, item, len,
                          "is %s addresses, more than the maximum of %" PRIu64 "%s", count_text,
                          t->max, raise);
    if (t->count + it->n > t->max)
        return item_error(err, o, item, len,
                          "brings the total to %" PRIu64 " targets, more than the maximum of "
                          "%" PRIu64 "%s",
                          t->count + it->n, t->max, raise);
    if (it->kind == TGT_NAME)
        it->ni = t->nnames++;
    t->count += it->n;
    push(t, it);
    return CERTO_OK;
}

static certo_rc
parse_cidr(struct certo_scan_targets *t, const char *tok, size_t len, const struct origin *o,
           struct certo_err *err)
{
    struct tgt it = {0};
    const char *slash = memchr(tok, '/', len);
    size_t alen = (size_t)(slash - tok);
    char addr[64];
    uint32_t prefix;

    if (alen >= sizeof(addr))
        return item_error(err, o, tok, len, "is not an address range");
    memcpy(addr, tok, alen);
    addr[alen] = '\0';
    if (!parse_dec(slash + 1, len - alen - 1, 3, &prefix))
        return item_error(err, o, tok, len, "has no prefix length after '/'");
    if (memchr(addr, ':', alen) == NULL) {
        struct in_addr a;
        if (inet_pton(AF_INET, addr, &a) != 1)
            return item_error(err, o, tok, len, "is not an IPv4 range: %s is not an address", addr);
        if (prefix > 32)
            return item_error(err, o, tok, len, "is not an IPv4 range: the prefix is 0 to 32");
        uint32_t mask = prefix == 0 ? 0 : UINT32_MAX << (32 - prefix);
        it.kind = TGT_V4;
        it.u.v4 = ntohl(a.s_addr) & mask;
        it.n = (uint64_t)1 << (32 - prefix);
        return add(t, &it, NULL, o, tok, len, err);
    }
    if (inet_pton(AF_INET6, addr, it.u.v6) != 1)
        return item_error(err, o, tok, len, "is not an IPv6 range: %s is not an address", addr);
    if (prefix < 64 || prefix > 128)
        return item_error(err, o, tok, len,
                          "is not an IPv6 range we scan: the prefix is 64 to 128");
    for (uint32_t bit = prefix; bit < 128; bit++)
        it.u.v6[bit / 8] &= (unsigned char)~(0x80u >> (bit % 8));
    it.kind = TGT_V6;
    /* A /64 is 2^64 addresses: one more than a uint64_t holds, and above any ceiling. */
    it.n = prefix == 64 ? UINT64_MAX : (uint64_t)1 << (128 - prefix);
    return add(t, &it, prefix == 64 ? "18446744073709551616" : NULL, o, tok, len, err);
}

/* "a.b.c.d", or the last-octet range "a.b.c.d-e". */
static certo_rc
parse_v4(struct certo_scan_targets *t, const char *tok, size_t len, const struct origin *o,
         struct certo_err *err)
{
    struct tgt it = {.kind = TGT_V4, .n = 1};
    const char *dash = memchr(tok, '-', len);
    size_t alen = dash != NULL ? (size_t)(dash - tok) : len;
    char addr[32];
    struct in_addr a;
    uint32_t last;

    if (alen >= sizeof(addr))
        return item_error(err, o, tok, len, "is not an IPv4 address");
    memcpy(addr, tok, alen);
    addr[alen] = '\0';
    if (inet_pton(AF_INET, addr, &a) != 1)
        return item_error(err, o, tok, len, "is not an IPv4 address");
    it.u.v4 = ntohl(a.s_addr);
    if (dash != NULL) {
        if (!parse_dec(dash + 1, len - alen - 1, 3, &last) || last > 255)
            return item_error(err, o, tok, len,
                              "is not an IPv4 range (the form is 10.0.0.5-40: a last octet "
                              "0 to 255 after the '-')");
        if (last < (it.u.v4 & 0xff))
            return item_error(err, o, tok, len, "is an empty range");
        it.n = last - (it.u.v4 & 0xff) + 1;
    }
    return add(t, &it, NULL, o, tok, len, err);
}

static certo_rc parse_text(struct certo_scan_targets *t, const char *s, size_t len,
                           const char *file, struct certo_err *err);

static certo_rc
parse_file(struct certo_scan_targets *t, const char *tok, size_t len, const struct origin *o,
           struct certo_err *err)
{
    char path[ITEM_MAX + 1], shown[72];
    struct certo_buf b;
    certo_rc rc;

    if (o->file != NULL)
        return item_error(err, o, tok, len, "is a file in a file: files do not nest");
    if (len < 2)
        return item_error(err, o, tok, len, "names no file after '@'");
    memcpy(path, tok + 1, len - 1);
    path[len - 1] = '\0';
    if (strlen(path) != len - 1)
        return item_error(err, o, tok, len, "is not a file name");
    certo_buf_init(&b, CERTO_SCAN_FILE_MAX);
    rc = certo_file_read(&b, path);
    if (rc == CERTO_ETOOBIG) {
        rc = certo_err_set(err, CERTO_ETOOBIG, WHERE,
                           "targets: %s is larger than the maximum of %u bytes",
                           show(shown, path, len - 1), CERTO_SCAN_FILE_MAX);
        goto out;
    }
    if (rc != CERTO_OK) {
        rc = certo_err_sys(err, rc, WHERE, "targets: cannot read %s", show(shown, path, len - 1));
        goto out;
    }
    if (b.len == 0 || b.data == NULL) {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE, "targets: %s lists no target",
                           show(shown, path, len - 1));
        goto out;
    }
    rc = parse_text(t, (const char *)b.data, b.len, path, err);
out:
    certo_buf_dispose(&b);
    return rc;
}

static certo_rc
parse_item(struct certo_scan_targets *t, const char *tok, size_t len, const struct origin *o,
           struct certo_err *err)
{
    if (len > ITEM_MAX)
        return item_error(err, o, tok, len, "is too long to be a target");
    if (tok[0] == '@')
        return parse_file(t, tok, len, o, err);
    if (memchr(tok, '/', len) != NULL)
        return parse_cidr(t, tok, len, o, err);
    if (memchr(tok, ':', len) != NULL) {
        struct tgt it = {.kind = TGT_V6, .n = 1};
        char addr[64];
        if (len >= sizeof(addr))
            return item_error(err, o, tok, len, "is not an IPv6 address");
        memcpy(addr, tok, len);
        addr[len] = '\0';
        if (inet_pton(AF_INET6, addr, it.u.v6) != 1)
            return item_error(err, o, tok, len, "is not an IPv6 address");
        return add(t, &it, NULL, o, tok, len, err);
    }
    /* Digits and dots before any '-' (and a dot at all): meant as an IPv4 address. */
    size_t i = 0;
    bool dot = false;
    while (i < len && ((tok[i] >= '0' && tok[i] <= '9') || tok[i] == '.')) {
        dot = dot || tok[i] == '.';
        i++;
    }
    if (dot && (i == len || tok[i] == '-'))
        return parse_v4(t, tok, len, o, err);
    if (!is_host_name(tok, len))
        return item_error(err, o, tok, len, "is not an address, a range or a host name");
    struct tgt it = {.kind = TGT_NAME, .n = 1};
    it.u.name = certo_strndup(tok, len);
    certo_rc rc = add(t, &it, NULL, o, tok, len, err);
    if (rc != CERTO_OK)
        certo_free(it.u.name);
    return rc;
}

static bool
is_sep(char ch)
{
    return ch == ',' || ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* Items of a spec or of a file ('file' not NULL: lines count and '#' starts a comment). */
static certo_rc
parse_text(struct certo_scan_targets *t, const char *s, size_t len, const char *file,
           struct certo_err *err)
{
    struct origin o = {file, 1};
    uint64_t before = t->count;
    size_t i = 0;

    while (i < len) {
        if (s[i] == '\n') {
            o.line++;
            i++;
            continue;
        }
        if (is_sep(s[i])) {
            i++;
            continue;
        }
        if (s[i] == '#' && file != NULL) {
            while (i < len && s[i] != '\n')
                i++;
            continue;
        }
        size_t j = i;
        while (j < len && s[j] != '\n' && !is_sep(s[j]) && !(file != NULL && s[j] == '#'))
            j++;
        certo_rc rc = parse_item(t, s + i, j - i, &o, err);
        if (rc != CERTO_OK)
            return rc;
        i = j;
    }
    if (file != NULL && t->count == before) {
        char shown[72];
        return certo_err_set(err, CERTO_EINVAL, WHERE, "targets: %s lists no target",
                             show(shown, file, strlen(file)));
    }
    return CERTO_OK;
}

certo_rc
certo_scan_targets_parse(struct certo_scan_targets **out, const char *spec, uint64_t max,
                         struct certo_err *err)
{
    struct certo_scan_targets *t = NULL;
    certo_rc rc = CERTO_EINTERNAL;
    size_t len;

    *out = NULL;
    if (max == 0)
        max = CERTO_SCAN_MAX_DEFAULT;
    if (max > CERTO_SCAN_MAX_LIMIT)
        return certo_err_set(err, CERTO_EINVAL, WHERE,
                             "targets: a maximum of %" PRIu64 " is above the limit of %u", max,
                             CERTO_SCAN_MAX_LIMIT);
    len = spec != NULL ? strnlen(spec, CERTO_SCAN_SPEC_MAX + 1) : 0;
    if (len > CERTO_SCAN_SPEC_MAX)
        return certo_err_set(err, CERTO_ETOOBIG, WHERE,
                             "targets: the spec is longer than %u bytes (use @FILE)",
                             CERTO_SCAN_SPEC_MAX);
    t = certo_calloc(1, sizeof(*t));
    t->max = max;
    rc = parse_text(t, spec != NULL ? spec : "", len, NULL, err);
    if (rc != CERTO_OK)
        goto out;
    if (t->count == 0) {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE, "targets: the spec is empty");
        goto out;
    }
    *out = t;
    t = NULL;
    rc = CERTO_OK;
out:
    certo_scan_targets_free(t);
    return rc;
}

void
certo_scan_targets_free(struct certo_scan_targets *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->n; i++) {
        if (t->v[i].kind == TGT_NAME)
            certo_free(t->v[i].u.name);
    }
    certo_free(t->v);
    certo_free(t);
}

uint64_t
certo_scan_targets_count(const struct certo_scan_targets *t)
{
    return t != NULL ? t->count : 0;
}

/* ---- ports ---- */

static certo_rc
port_error(struct certo_err *err, const char *tok, size_t len, const char *why)
{
    char shown[72];
    return certo_err_set(err, CERTO_EINVAL, WHERE, "ports: %s %s", show(shown, tok, len), why);
}

/* One port number of an item; the message names the number as written. */
static certo_rc
parse_port(uint32_t *out, const char *s, size_t len, struct certo_err *err)
{
    size_t i = 0;

    while (i < len && s[i] == '0')
        i++;
    if (len == 0 || !parse_dec(s, len, len, out) || len - i > 5)
        return port_error(err, s, len,
                          len > 0 && strspn(s, "0123456789") >= len ? "is not a port (1-65535)"
                                                                    : "is not a number");
    if (*out < 1 || *out > 65535)
        return port_error(err, s, len, "is not a port (1-65535)");
    return CERTO_OK;
}

certo_rc
certo_scan_ports_parse(struct certo_scan_ports *out, const char *spec, struct certo_err *err)
{
    uint64_t seen[65536 / 64] = {0};
    size_t len, i = 0, cap = 0;
    certo_rc rc = CERTO_EINTERNAL;
    uint16_t *v = NULL;
    size_t n = 0;

    out->v = NULL;
    out->n = 0;
    len = spec != NULL ? strnlen(spec, CERTO_SCAN_SPEC_MAX + 1) : 0;
    if (len > CERTO_SCAN_SPEC_MAX)
        return certo_err_set(err, CERTO_ETOOBIG, WHERE, "ports: the spec is longer than %u bytes",
                             CERTO_SCAN_SPEC_MAX);
    while (i < len) {
        if (is_sep(spec[i]) || spec[i] == '\n') {
            i++;
            continue;
        }
        size_t j = i;
        while (j < len && !is_sep(spec[j]) && spec[j] != '\n')
            j++;
        const char *tok = spec + i;
        const char *dash = memchr(tok, '-', j - i);
        uint32_t lo, hi;
        if (dash == NULL) {
            rc = parse_port(&lo, tok, j - i, err);
            hi = lo;
        } else if (dash == tok || dash + 1 == spec + j) {
            rc = port_error(err, tok, j - i, "is not a range (the form is 20000-20199)");
        } else {
            rc = parse_port(&lo, tok, (size_t)(dash - tok), err);
            if (rc == CERTO_OK)
                rc = parse_port(&hi, dash + 1, (size_t)(spec + j - dash - 1), err);
            if (rc == CERTO_OK && hi < lo)
                rc = port_error(err, tok, j - i, "is an empty range");
        }
        if (rc != CERTO_OK)
            goto out;
        for (uint32_t p = lo; p <= hi; p++) {
            if (seen[p / 64] & ((uint64_t)1 << (p % 64)))
                continue;
            seen[p / 64] |= (uint64_t)1 << (p % 64);
            if (n == cap) {
                cap = cap == 0 ? 8 : cap * 2;
                v = certo_reallocarray(v, cap, sizeof(*v));
            }
            v[n++] = (uint16_t)p;
        }
        i = j;
    }
    if (n == 0) {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE, "ports: the spec is empty");
        goto out;
    }
    out->v = v;
    out->n = n;
    v = NULL;
    rc = CERTO_OK;
out:
    certo_free(v);
    return rc;
}

void
certo_scan_ports_dispose(struct certo_scan_ports *p)
{
    if (p == NULL)
        return;
    CERTO_FREE(p->v);
    p->n = 0;
}

/* ---- the engine ---- */

const char *
certo_scan_kind_name(enum certo_scan_kind k)
{
    switch (k) {
    case CERTO_SCAN_CLOSED:
        return "closed";
    case CERTO_SCAN_SILENT:
        return "silent";
    case CERTO_SCAN_TLS:
        return "tls";
    case CERTO_SCAN_HTTP:
        return "http";
    case CERTO_SCAN_OTHER:
        return "other";
    }
    return "unknown";
}

union sa_any {
    struct sockaddr sa;
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
};

/* The address a host name resolved to. */
struct resolved {
    union sa_any sa;
    socklen_t len; /* 0: did not resolve */
};

enum conn_state {
    C_IDLE,       /* in the free list */
    C_CONNECTING, /* TCP connect in flight: waiting for writable */
    C_HELLO,      /* ClientHello sent; nothing read yet (the BIO refuses OpenSSL's reads) */
    C_HANDSHAKE,  /* the peer answered with a TLS record: OpenSSL reads from now on */
    C_NEXT_SNI,   /* closed; in the continuation list to probe its next SNI name */
};

/* One connection slot; the pool is allocated when the scan starts and never grows. */
struct conn {
    struct scan *s;
    struct event *io;    /* owned: readiness of 'fd' (EV_PERSIST), assigned per probe */
    struct event *timer; /* owned: the deadline of the probe (a common timeout) */
    SSL *ssl;            /* owned: NULL until the TCP connect completed */
    int fd;              /* owned: -1 when idle */
    short io_what;       /* events 'io' is added for, 0: not added */
    enum conn_state state;
    bool eof;           /* recv returned 0 */
    int sys_errno;      /* errno of the last failed recv/send of the BIO */
    int sni_next;       /* -1: the first probe of target:port; else the index in s->sni */
    char *sni;          /* borrowed (the target's name or s->sni[i]): SNI sent, NULL: none */
    const char *name;   /* borrowed: the host name target, NULL for an address */
    union sa_any addr;  /* the peer */
    socklen_t addrlen;  /* of 'addr' */
    int64_t start_us;   /* monotonic, at socket() */
    unsigned char npre; /* bytes in 'pre' */
    char pre[112];      /* the start of a non-TLS answer, read until its first line is in */
};

/* Where the walk of targets x ports stands: item, address within it, port index. */
struct cursor {
    size_t item;
    uint64_t off;
    size_t port;
};

/* Counts of one worker: written by its thread only, read by the hub's progress reports
 * (atomics: a report may be a probe behind, never torn; a probe is counted in 'probes'
 * before its outcome, and read after it, so that open + closed + silent <= probes). */
struct counts {
    _Atomic uint64_t targets, probes, open, closed, silent, tls, http, other;
};

struct scan;

/* What the workers share. Set up before they start and read-only while they run, but for
 * 'stop' (atomic) and what 'lock' guards. */
struct hub {
    const struct certo_scan_targets *t;
    const struct certo_scan_ports *p;
    const struct certo_scan_opts *o;
    struct certo_scan_stats *st; /* borrowed: the caller's; merged into by the hub only */
    SSL_CTX *ctx;                /* owned: one for every connection of every worker */
    BIO_METHOD *biom;            /* borrowed: the process's one (biom_init) */
    struct resolved *res;        /* owned: one per host name (t->nnames) */
    char **sni;                  /* owned copies of o->sni */
    size_t nsni;
    struct scan *w; /* owned: 'nw' workers */
    unsigned nw;
    uint64_t total;   /* probes to run: resolved targets x ports */
    int64_t start_us; /* start of the run */
    atomic_bool stop; /* on_result or on_progress asked to stop, or a worker failed */
    /* With more than one worker: serialises on_result and on_progress, and guards 'rc',
     * 'failed' and 'running'; 'cv' tells the calling thread that a worker ended. */
    pthread_mutex_t lock;
    pthread_cond_t cv;
    bool locks; /* 'lock' and 'cv' were initialised */
    unsigned running;
    certo_rc rc;     /* CERTO_OK, CERTO_ECONFLICT or the first failure of a worker */
    unsigned failed; /* the worker whose failure 'rc' is */
};

/* One worker: an event loop, its slots and its share of the probes. */
struct scan {
    struct hub *h;
    const struct certo_scan_targets *t; /* h->t, h->p, h->o, h->sni, h->res: borrowed */
    const struct certo_scan_ports *p;
    const struct certo_scan_opts *o;
    char **sni;
    size_t nsni;
    struct resolved *res;
    struct certo_err *err;         /* the caller's (one worker), else 'own_err' */
    struct certo_err own_err;      /* this worker's failure, with more than one */
    unsigned idx;                  /* this worker's index, 0 to h->nw - 1 */
    pthread_t tid;                 /* valid when 'started' */
    bool started;                  /* its thread runs (more than one worker) */
    struct event_base *base;       /* owned */
    const struct timeval *tmo;     /* the per-connection deadline, a common timeout */
    struct event *tick, *progress; /* owned: the rate limit's refill, on_progress (one worker) */
    struct event *wake;            /* owned: 'wfd' readable: the hub asks to stop */
    int wfd;                       /* owned: an eventfd, -1 with one worker */
    struct conn *conns;            /* owned pool */
    unsigned nconns;
    struct conn **idle; /* stack of C_IDLE slots */
    unsigned nidle;
    struct conn **cont; /* stack of C_NEXT_SNI slots */
    unsigned ncont;
    unsigned active; /* slots with a socket */
    struct cursor cur;
    struct counts n;
    unsigned rate;     /* this worker's share of o->rate; 0: no limit */
    double tokens;     /* rate limit: connections that may start now */
    int64_t refill_us; /* last refill */
    bool in_fill;      /* fill() is running: a slot that frees up does not recurse */
    bool walked;       /* the cursor is at the end */
    bool done;         /* nothing left to run, or stopping */
    bool stopping;     /* this worker stops: on_result asked, it failed, or the hub said so */
};

static int64_t
now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Static text of the errno values a scan meets (no strerror: not thread-safe, and a
 * scan reports them by the thousand). */
static const char *
errno_text(int e)
{
    switch (e) {
    case ECONNREFUSED:
        return "refused";
    case ECONNRESET:
        return "reset the connection";
    case EHOSTUNREACH:
        return "host unreachable";
    case ENETUNREACH:
        return "network unreachable";
    case ETIMEDOUT:
        return "timed out";
    case EPIPE:
        return "closed the connection";
    case 0:
        return "closed the connection";
    default: {
        const char *d = strerrordesc_np(e);
        return d != NULL ? d : "error";
    }
    }
}

static void fill(struct scan *s);
static void check_done(struct scan *s);

/* ---- workers and the hub ---- */

/* Adds to a counter of this worker (its only writer): no read-modify-write needed. */
static void
bump(_Atomic uint64_t *c, uint64_t by)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + by,
                          memory_order_release);
}

static uint64_t
count(_Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_acquire);
}

static void
hub_lock(struct hub *h)
{
    if (h->nw > 1)
        pthread_mutex_lock(&h->lock);
}

static void
hub_unlock(struct hub *h)
{
    if (h->nw > 1)
        pthread_mutex_unlock(&h->lock);
}

/* Ends the scan for every worker, 'rc' saying why (the first reason is kept); wakes the
 * workers that wait for their sockets. The caller holds the hub's lock. */
static void
hub_stop(struct hub *h, certo_rc rc, unsigned from)
{
    uint64_t one = 1;

    if (h->rc == CERTO_OK) {
        h->rc = rc;
        h->failed = from;
    }
    atomic_store(&h->stop, true);
    for (unsigned i = 0; i < h->nw; i++) {
        if (h->w[i].wfd >= 0 && write(h->w[i].wfd, &one, sizeof(one)) < 0)
            continue;
    }
}

/* This worker stops, and with it the scan: 'rc' is CERTO_ECONFLICT or its failure. */
static void
halt(struct scan *s, certo_rc rc)
{
    s->stopping = true;
    hub_lock(s->h);
    hub_stop(s->h, rc, s->idx);
    hub_unlock(s->h);
}

/* True once this worker is to stop, also when another one stopped the scan. */
static bool
halted(struct scan *s)
{
    if (!s->stopping && atomic_load_explicit(&s->h->stop, memory_order_relaxed))
        s->stopping = true;
    return s->stopping;
}

/* The hub's stop flag was raised (its eventfd is readable): leave the loop. */
static void
on_wake(evutil_socket_t fd, short what, void *arg)
{
    struct scan *s = arg;
    uint64_t v;

    CERTO_UNUSED(what);
    if (read(fd, &v, sizeof(v)) < 0)
        v = 0;
    if (halted(s))
        check_done(s);
}

/* Sums the workers' counts into the caller's stats (the other fields are left alone). */
static void
merge(struct hub *h)
{
    struct certo_scan_stats *st = h->st;

    st->targets = st->probes = st->open = st->closed = st->silent = 0;
    st->tls = st->http = st->other = 0;
    for (unsigned i = 0; i < h->nw; i++) {
        struct counts *n = &h->w[i].n;
        /* Outcomes first, then the probes that had them. */
        st->open += count(&n->open);
        st->closed += count(&n->closed);
        st->silent += count(&n->silent);
        st->tls += count(&n->tls);
        st->http += count(&n->http);
        st->other += count(&n->other);
        st->probes += count(&n->probes);
        st->targets += count(&n->targets);
    }
    st->elapsed_ms = (now_us() - h->start_us) / 1000;
}

/* Calls on_progress with the merged stats; the caller holds the hub's lock. True: stop. */
static bool
progress_report(struct hub *h)
{
    merge(h);
    return h->o->on_progress(h->o->arg, h->st, h->total) != 0;
}

/* Hands a result to on_result: directly with one worker, under the hub's lock with more
 * (never two callbacks at once, and none after the scan was stopped). */
static void
deliver(struct scan *s, const struct certo_scan_result *r)
{
    struct hub *h = s->h;

    if (s->o->on_result == NULL || halted(s))
        return;
    hub_lock(h);
    if (atomic_load_explicit(&h->stop, memory_order_relaxed)) {
        s->stopping = true;
    } else if (s->o->on_result(s->o->arg, r) != 0) {
        s->stopping = true;
        hub_stop(h, CERTO_ECONFLICT, s->idx);
    }
    hub_unlock(h);
}

/* ---- the BIO between OpenSSL and a slot's socket ----
 * Reads are refused while the slot is in C_HELLO: OpenSSL writes its ClientHello, then
 * would read whatever comes back and swallow it. We peek at the first byte first, so that
 * "HTTP/1.1 400" or an SSH banner is shown as it is rather than as "wrong version number".
 * Writes use MSG_NOSIGNAL: a peer that resets must not raise SIGPIPE in our caller. */

static int
bio_read(BIO *b, char *buf, int len)
{
    struct conn *c = BIO_get_data(b);
    ssize_t n;

    BIO_clear_retry_flags(b);
    if (c->state == C_HELLO) {
        BIO_set_retry_read(b);
        return -1;
    }
    n = recv(c->fd, buf, (size_t)len, 0);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            BIO_set_retry_read(b);
        c->sys_errno = errno;
        return -1;
    }
    if (n == 0)
        c->eof = true;
    return (int)n;
}

static int
bio_write(BIO *b, const char *buf, int len)
{
    struct conn *c = BIO_get_data(b);
    ssize_t n;

    BIO_clear_retry_flags(b);
    n = send(c->fd, buf, (size_t)len, MSG_NOSIGNAL);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            BIO_set_retry_write(b);
        c->sys_errno = errno;
        return -1;
    }
    return (int)n;
}

static long
bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    struct conn *c = BIO_get_data(b);

    CERTO_UNUSED(num);
    CERTO_UNUSED(ptr);
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1;
    case BIO_CTRL_EOF:
        return c->eof;
    default:
        return 0;
    }
}

static int
bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

/* ---- results ---- */

static void
report(struct conn *c, struct certo_scan_result *r)
{
    struct scan *s = c->s;
    char addr[INET6_ADDRSTRLEN];
    bool first = c->sni_next < 0;

    switch (r->kind) {
    case CERTO_SCAN_CLOSED:
        bump(&s->n.closed, first);
        break;
    case CERTO_SCAN_SILENT:
        bump(&s->n.silent, first);
        break;
    case CERTO_SCAN_TLS:
        bump(&s->n.tls, 1);
        break;
    case CERTO_SCAN_HTTP:
        bump(&s->n.http, 1);
        break;
    case CERTO_SCAN_OTHER:
        bump(&s->n.other, 1);
        break;
    }
    if ((r->kind == CERTO_SCAN_CLOSED || r->kind == CERTO_SCAN_SILENT) && !s->o->report_closed)
        return;
    if (c->addr.sa.sa_family == AF_INET)
        inet_ntop(AF_INET, &c->addr.in.sin_addr, addr, sizeof(addr));
    else
        inet_ntop(AF_INET6, &c->addr.in6.sin6_addr, addr, sizeof(addr));
    r->target = c->name != NULL ? c->name : addr;
    r->address = addr;
    r->port = ntohs(c->addr.sa.sa_family == AF_INET ? c->addr.in.sin_port : c->addr.in6.sin6_port);
    r->sni = c->sni;
    r->elapsed_us = now_us() - c->start_us;
    deliver(s, r);
}

/* Moves to the next extra SNI name not already sent as the target's own. */
static bool
next_sni(struct conn *c)
{
    struct scan *s = c->s;

    for (size_t i = (size_t)(c->sni_next + 1); i < s->nsni; i++) {
        if (c->name == NULL || strcasecmp(s->sni[i], c->name) != 0) {
            c->sni_next = (int)i;
            return true;
        }
    }
    return false;
}

/* Closes the slot's connection and hands the slot to its next probe. */
static void
conn_close(struct conn *c, enum certo_scan_kind kind)
{
    struct scan *s = c->s;
    bool more = false;

    if (c->io_what != 0)
        event_del(c->io);
    c->io_what = 0;
    event_del(c->timer);
    if (c->ssl != NULL)
        SSL_free(c->ssl);
    c->ssl = NULL;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->npre = 0;
    c->eof = false;
    c->sys_errno = 0;
    s->active--;
    /* Extra SNI names follow a first probe that found TLS, whatever each of them finds. */
    if (c->sni_next >= 0 || kind == CERTO_SCAN_TLS)
        more = next_sni(c);
    if (more) {
        c->state = C_NEXT_SNI;
        s->cont[s->ncont++] = c;
    } else {
        c->state = C_IDLE;
        s->idle[s->nidle++] = c;
    }
    fill(s);
}

static void
conn_finish(struct conn *c, enum certo_scan_kind kind, const char *detail)
{
    struct certo_scan_result r = {.kind = kind, .detail = detail, .verify = -1};

    report(c, &r);
    conn_close(c, kind);
}

/* Renders the first line of 'p' (at most 100 bytes) printable into 'out'. */
static void
first_line(char out[104], const char *p, size_t n)
{
    size_t i;

    for (i = 0; i < n && i < 100 && p[i] != '\r' && p[i] != '\n'; i++)
        out[i] = p[i] >= 0x20 && p[i] < 0x7f ? p[i] : '?';
    out[i] = '\0';
}

/* Classifies what a non-TLS peer sent (c->pre). */
static void
conn_answered(struct conn *c)
{
    const char *p = c->pre;
    char d[104];

    if (c->npre >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        first_line(d, p, c->npre);
        conn_finish(c, CERTO_SCAN_HTTP, d);
        return;
    }
    if (p[0] >= 0x20 && p[0] < 0x7f) {
        first_line(d, p, c->npre);
    } else {
        size_t n = c->npre < 16 ? c->npre : 16, used;
        used = (size_t)snprintf(d, sizeof(d), "binary answer:");
        for (size_t i = 0; i < n; i++)
            used += (size_t)snprintf(d + used, sizeof(d) - used, " %02x", (unsigned char)p[i]);
    }
    conn_finish(c, CERTO_SCAN_OTHER, d);
}

/* True while 'pre' may still become a longer first line worth waiting for. */
static bool
answer_incomplete(const struct conn *c)
{
    if (c->eof || c->npre >= sizeof(c->pre))
        return false;
    if (c->npre < 5)
        return memcmp(c->pre, "HTTP/", c->npre) == 0;
    return memcmp(c->pre, "HTTP/", 5) == 0 && memchr(c->pre, '\n', c->npre) == NULL;
}

static void on_io(evutil_socket_t fd, short what, void *arg);

static void
wait_io(struct conn *c, short what)
{
    if (c->io_what == what)
        return;
    if (c->io_what != 0)
        event_del(c->io);
    event_assign(c->io, c->s->base, c->fd, what | EV_PERSIST, on_io, c);
    event_add(c->io, NULL);
    c->io_what = what;
}

static void
tls_failed(struct conn *c, int sslerr)
{
    unsigned long e = ERR_get_error();
    const char *why = e != 0 ? ERR_reason_error_string(e) : NULL;
    char d[160];

    if (why == NULL && sslerr == SSL_ERROR_SYSCALL && c->sys_errno != 0)
        why = errno_text(c->sys_errno);
    if (why == NULL)
        why = c->eof ? "closed the connection" : "unknown error";
    ERR_clear_error();
    snprintf(d, sizeof(d), "TLS handshake failed: %s", why);
    conn_finish(c, CERTO_SCAN_OTHER, d);
}

static void
tls_done(struct conn *c)
{
    STACK_OF(X509) *chain = SSL_get_peer_cert_chain(c->ssl);
    struct certo_scan_result r = {
        .kind = CERTO_SCAN_TLS,
        .detail = "",
        .version = SSL_get_version(c->ssl),
        .cipher = SSL_get_cipher_name(c->ssl),
        .chain = chain,
        .verify = -1,
    };

    /* libssl verified the chain during the handshake against our store, with the name or
     * address set in connected(), and did not stop on failure (SSL_VERIFY_NONE). */
    if (c->s->o->trust != NULL)
        r.verify = chain != NULL && sk_X509_num(chain) > 0 ? (int)SSL_get_verify_result(c->ssl)
                                                           : X509_V_ERR_UNSPECIFIED;

    report(c, &r);
    conn_close(c, CERTO_SCAN_TLS);
}

/* Drives SSL_connect: in C_HELLO it only writes the ClientHello. */
static void
handshake(struct conn *c)
{
    int r = SSL_connect(c->ssl);
    int e;

    if (r == 1) {
        tls_done(c);
        return;
    }
    e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ) {
        wait_io(c, EV_READ);
        return;
    }
    if (e == SSL_ERROR_WANT_WRITE) {
        wait_io(c, EV_WRITE);
        return;
    }
    tls_failed(c, e);
}

/* The identity the chain is verified for: the name sent (the SNI, or the host name
 * target). An address scanned without a name is not checked against the certificate:
 * clients reach such a service by names the scanner does not know, and an "IP address
 * mismatch" would hide the verdict on the chain itself (expired, untrusted). */
static bool
set_identity(struct conn *c)
{
    if (c->sni == NULL)
        return true;
    return X509_VERIFY_PARAM_set1_host(SSL_get0_param(c->ssl), c->sni, 0) == 1;
}

/* The TCP connection is up: from here a probe costs an SSL object. */
static void
connected(struct conn *c)
{
    struct scan *s = c->s;
    BIO *b;

    if (c->sni_next < 0)
        bump(&s->n.open, 1);
    c->state = C_HELLO;
    c->ssl = SSL_new(s->h->ctx);
    b = c->ssl != NULL ? BIO_new(s->h->biom) : NULL;
    if (b == NULL) {
        tls_failed(c, SSL_ERROR_SSL);
        return;
    }
    BIO_set_data(b, c);
    SSL_set_bio(c->ssl, b, b);
    if (c->sni != NULL && SSL_set_tlsext_host_name(c->ssl, c->sni) != 1) {
        tls_failed(c, SSL_ERROR_SSL);
        return;
    }
    if (s->o->trust != NULL && !set_identity(c)) {
        tls_failed(c, SSL_ERROR_SSL);
        return;
    }
    handshake(c);
}

/* Readable in C_HELLO: the first byte tells TLS from anything else. */
static void
first_answer(struct conn *c)
{
    unsigned char b;
    ssize_t n;

    if (c->npre == 0) {
        n = recv(c->fd, &b, 1, MSG_PEEK);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        if (n < 0) {
            conn_finish(c, CERTO_SCAN_OTHER,
                        errno == ECONNRESET ? "reset the connection without a word"
                                            : errno_text(errno));
            return;
        }
        if (n == 0) {
            conn_finish(c, CERTO_SCAN_OTHER, "closed the connection without a word");
            return;
        }
        /* A TLS handshake or alert record (RFC 8446 5.1). */
        if (b == 0x16 || b == 0x15) {
            c->state = C_HANDSHAKE;
            handshake(c);
            return;
        }
    }
    n = recv(c->fd, c->pre + c->npre, sizeof(c->pre) - c->npre, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0)
        c->eof = true;
    else
        c->npre = (unsigned char)(c->npre + n);
    if (c->npre == 0)
        conn_finish(c, CERTO_SCAN_OTHER, "closed the connection without a word");
    else if (!answer_incomplete(c))
        conn_answered(c);
}

static void
on_io(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    int e = 0;
    socklen_t len = sizeof(e);

    CERTO_UNUSED(fd);
    switch (c->state) {
    case C_CONNECTING:
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &len) != 0)
            e = errno;
        if (e != 0)
            conn_finish(c, CERTO_SCAN_CLOSED, errno_text(e));
        else
            connected(c);
        return;
    case C_HELLO:
        if (what & EV_WRITE)
            handshake(c);
        else
            first_answer(c);
        return;
    case C_HANDSHAKE:
        handshake(c);
        return;
    case C_IDLE:
    case C_NEXT_SNI:
        return;
    }
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;

    CERTO_UNUSED(fd);
    CERTO_UNUSED(what);
    switch (c->state) {
    case C_CONNECTING:
        conn_finish(c, CERTO_SCAN_SILENT, "no answer to connect");
        return;
    case C_HELLO:
        if (c->npre > 0)
            conn_answered(c);
        else
            conn_finish(c, CERTO_SCAN_OTHER, "accepted and never answered");
        return;
    case C_HANDSHAKE:
        conn_finish(c, CERTO_SCAN_OTHER, "TLS handshake timed out");
        return;
    case C_IDLE:
    case C_NEXT_SNI:
        return;
    }
}

/* Moves the cursor past names that did not resolve; false at the end of the walk. */
static bool
cursor_valid(struct scan *s)
{
    const struct certo_scan_targets *t = s->t;

    for (; s->cur.item < t->n; s->cur.item++, s->cur.off = 0) {
        const struct tgt *it = &t->v[s->cur.item];
        if (it->kind != TGT_NAME || s->res[it->ni].len != 0)
            return true;
    }
    return false;
}

/* Fills the slot with the probe at the cursor; false at the end of the walk. */
static bool
cursor_peek(struct scan *s, struct conn *c)
{
    const struct certo_scan_targets *t = s->t;
    uint16_t port = htons(s->p->v[s->cur.port]);

    if (cursor_valid(s)) {
        const struct tgt *it = &t->v[s->cur.item];
        memset(&c->addr, 0, sizeof(c->addr));
        c->name = NULL;
        if (it->kind == TGT_V4) {
            c->addr.in.sin_family = AF_INET;
            c->addr.in.sin_addr.s_addr = htonl(it->u.v4 + (uint32_t)s->cur.off);
            c->addr.in.sin_port = port;
            c->addrlen = sizeof(c->addr.in);
        } else if (it->kind == TGT_V6) {
            c->addr.in6.sin6_family = AF_INET6;
            memcpy(&c->addr.in6.sin6_addr, it->u.v6, 16);
            uint64_t add = s->cur.off;
            for (int i = 15; i >= 0 && add != 0; i--) {
                uint64_t sum = c->addr.in6.sin6_addr.s6_addr[i] + (add & 0xff);
                c->addr.in6.sin6_addr.s6_addr[i] = (uint8_t)sum;
                add = (add >> 8) + (sum >> 8);
            }
            c->addr.in6.sin6_port = port;
            c->addrlen = sizeof(c->addr.in6);
        } else {
            const struct resolved *r = &s->res[it->ni];
            c->addr = r->sa;
            c->addrlen = r->len;
            if (c->addr.sa.sa_family == AF_INET)
                c->addr.in.sin_port = port;
            else
                c->addr.in6.sin6_port = port;
            c->name = it->u.name;
        }
        return true;
    }
    return false;
}

static void
cursor_advance(struct scan *s)
{
    if (++s->cur.port < s->p->n)
        return;
    s->cur.port = 0;
    if (++s->cur.off < s->t->v[s->cur.item].n)
        return;
    s->cur.off = 0;
    s->cur.item++;
}

/* Passes over 'k' probes: those of the other workers. */
static void
cursor_skip(struct scan *s, unsigned k)
{
    for (unsigned i = 0; i < k && cursor_valid(s); i++)
        cursor_advance(s);
}

static void
check_done(struct scan *s)
{
    if (s->stopping || (s->walked && s->active == 0 && s->ncont == 0)) {
        s->done = true;
        event_base_loopbreak(s->base);
    }
}

/* Starts probes while slots, tokens and probes remain. */
static void
fill(struct scan *s)
{
    if (s->in_fill)
        return;
    s->in_fill = true;
    while (!halted(s)) {
        struct conn *c;
        bool first = false;
        if (s->rate != 0 && s->tokens < 1.0)
            break;
        if (s->ncont > 0) {
            c = s->cont[s->ncont - 1];
            c->sni = s->sni[c->sni_next];
        } else if (s->nidle > 0 && !s->walked) {
            c = s->idle[s->nidle - 1];
            if (!cursor_peek(s, c)) {
                s->walked = true;
                break;
            }
            first = true;
            c->sni_next = -1;
            c->sni = c->name != NULL ? s->t->v[s->cur.item].u.name : NULL;
        } else {
            break;
        }
        c->fd = socket(c->addr.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int e = errno;
        if (c->fd < 0 && (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM)) {
            /* Out of descriptors: retry when a connection closes; with none open, the
             * scan cannot go on. */
            if (s->active == 0)
                halt(s, certo_err_sys(s->err, CERTO_ENET, WHERE, "cannot open a socket"));
            break;
        }
        if (first) {
            s->nidle--;
            bump(&s->n.targets, s->cur.port == 0);
            bump(&s->n.probes, 1);
            cursor_advance(s);
            cursor_skip(s, s->h->nw - 1);
        } else {
            s->ncont--;
        }
        if (s->rate != 0)
            s->tokens -= 1.0;
        s->active++;
        c->start_us = now_us();
        if (c->fd < 0) {
            /* No such address family here (IPv6 off): nothing can answer. */
            conn_finish(c, CERTO_SCAN_CLOSED, errno_text(e));
            continue;
        }
        c->state = C_CONNECTING;
        event_add(c->timer, s->tmo);
        if (connect(c->fd, &c->addr.sa, c->addrlen) == 0) {
            connected(c);
        } else if (errno == EINPROGRESS) {
            wait_io(c, EV_WRITE);
        } else {
            conn_finish(c, CERTO_SCAN_CLOSED, errno_text(errno));
        }
    }
    s->in_fill = false;
    check_done(s);
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct scan *s = arg;
    int64_t now = now_us();
    /* A burst of at most 50 ms worth of connections, at least one. */
    double cap = s->rate / 20.0 < 1.0 ? 1.0 : s->rate / 20.0;

    CERTO_UNUSED(fd);
    CERTO_UNUSED(what);
    s->tokens += (double)s->rate * (double)(now - s->refill_us) / 1e6;
    if (s->tokens > cap)
        s->tokens = cap;
    s->refill_us = now;
    fill(s);
}

static void
on_progress(evutil_socket_t fd, short what, void *arg)
{
    struct scan *s = arg;

    CERTO_UNUSED(fd);
    CERTO_UNUSED(what);
    if (progress_report(s->h) && !s->stopping) {
        halt(s, CERTO_ECONFLICT);
        check_done(s);
    }
}

/* ---- set-up ---- */

struct nref {
    const char *name;
    uint32_t ni;
};

static int
nref_cmp(const void *a, const void *b)
{
    const struct nref *x = a, *y = b;
    int c = strcasecmp(x->name, y->name);
    return c != 0 ? c : (x->ni > y->ni) - (x->ni < y->ni);
}

static void
take_first(struct resolved *r, const struct addrinfo *ai)
{
    for (; ai != NULL; ai = ai->ai_next) {
        if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6) &&
            ai->ai_addrlen <= sizeof(r->sa)) {
            memcpy(&r->sa, ai->ai_addr, ai->ai_addrlen);
            r->len = ai->ai_addrlen;
            return;
        }
    }
}

/* Resolves every distinct host name once, 64 at a time (getaddrinfo_a: a list of names
 * costs the slowest of each batch, not the sum). Numeric items never come here. */
static void
resolve(struct hub *h)
{
    enum { BATCH = 64 };
    const struct certo_scan_targets *t = h->t;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
    struct gaicb cbs[BATCH], *list[BATCH];
    size_t first[BATCH + 1], n = t->nnames, k = 0, i = 0;
    struct nref *v;

    if (n == 0)
        return;
    h->res = certo_calloc(n, sizeof(*h->res));
    v = certo_calloc(n, sizeof(*v));
    for (size_t j = 0; j < t->n; j++) {
        if (t->v[j].kind == TGT_NAME) {
            v[k].name = t->v[j].u.name;
            v[k++].ni = t->v[j].ni;
        }
    }
    qsort(v, n, sizeof(*v), nref_cmp);
    while (i < n) {
        int nb = 0;
        while (i < n && nb < BATCH) {
            memset(&cbs[nb], 0, sizeof(cbs[nb]));
            cbs[nb].ar_name = v[i].name;
            cbs[nb].ar_request = &hints;
            list[nb] = &cbs[nb];
            first[nb++] = i++;
            while (i < n && strcasecmp(v[i].name, v[i - 1].name) == 0)
                i++;
        }
        first[nb] = i;
        /* On failure some lookups may not have run (no thread): do those here. */
        bool partial = getaddrinfo_a(GAI_WAIT, list, nb, NULL) != 0;
        for (int b = 0; b < nb; b++) {
            struct resolved r = {0};
            struct addrinfo *res = cbs[b].ar_result;
            if (res == NULL && partial && getaddrinfo(cbs[b].ar_name, NULL, &hints, &res) != 0)
                res = NULL;
            take_first(&r, res);
            if (res != NULL)
                freeaddrinfo(res);
            for (size_t j = first[b]; j < first[b + 1]; j++)
                h->res[v[j].ni] = r;
        }
    }
    certo_free(v);
}

/* Reports the names that did not resolve, in the order given (no worker runs yet). */
static void
report_unresolved(struct hub *h)
{
    const struct certo_scan_opts *o = h->o;

    for (size_t i = 0; i < h->t->n && !atomic_load(&h->stop); i++) {
        const struct tgt *it = &h->t->v[i];
        if (it->kind != TGT_NAME || h->res[it->ni].len != 0)
            continue;
        h->st->unresolved++;
        struct certo_scan_result r = {
            .target = it->u.name,
            .address = "",
            .kind = CERTO_SCAN_CLOSED,
            .detail = "does not resolve",
            .verify = -1,
        };
        if (o->report_closed && o->on_result != NULL && o->on_result(o->arg, &r) != 0)
            hub_stop(h, CERTO_ECONFLICT, 0);
    }
}

static pthread_once_t biom_once = PTHREAD_ONCE_INIT;
static BIO_METHOD *biom_shared;

/* One BIO method for the process: BIO_get_new_index hands out at most 127 indexes. */
static void
biom_init(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "certo scan");
    if (m == NULL || BIO_meth_set_write(m, bio_write) != 1 || BIO_meth_set_read(m, bio_read) != 1 ||
        BIO_meth_set_ctrl(m, bio_ctrl) != 1 || BIO_meth_set_create(m, bio_create) != 1) {
        BIO_meth_free(m);
        return;
    }
    biom_shared = m;
}

/* The client every probe uses. Nothing is verified during the handshake (we verify the
 * chain afterwards, to report it whatever it is); security level 0, every cipher but the
 * anonymous ones (they send no chain) and TLS 1.0 up, so that old servers still show
 * what they serve; no session cache, no tickets. */
static certo_rc
make_ctx(SSL_CTX **out, const struct certo_scan_opts *o, struct certo_err *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    certo_rc rc = CERTO_EINTERNAL;

    *out = NULL;
    if (ctx == NULL)
        return certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot create a TLS context");
    SSL_CTX_set_security_level(ctx, 0);
    if (SSL_CTX_set_cipher_list(ctx, "ALL:!aNULL:@SECLEVEL=0") != 1 ||
        SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION) != 1) {
        rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot configure the TLS context");
        goto out;
    }
    SSL_CTX_set_options(ctx,
                        SSL_OP_LEGACY_SERVER_CONNECT | SSL_OP_NO_TICKET | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    /* libssl verifies every chain it receives, whatever the mode: give it the caller's
     * store rather than verifying a second time ourselves. */
    if (o->trust != NULL)
        SSL_CTX_set1_cert_store(ctx, o->trust);
    *out = ctx;
    ctx = NULL;
    rc = CERTO_OK;
out:
    SSL_CTX_free(ctx);
    return rc;
}

/* Raises the descriptor limit to its hard limit; returns how many connections fit. */
static unsigned
fd_room(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 256;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > 1048576 ? 1048576 : rl.rlim_max;
        if (want > rl.rlim_cur) {
            rl.rlim_cur = want;
            if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
                getrlimit(RLIMIT_NOFILE, &rl);
        }
    }
    /* Keep 64 descriptors for the rest of the process (logs, the store, resolver). */
    if (rl.rlim_cur > 128)
        return rl.rlim_cur - 64 > 65536 ? 65536 : (unsigned)(rl.rlim_cur - 64);
    return (unsigned)(rl.rlim_cur / 2 > 0 ? rl.rlim_cur / 2 : 1);
}

static certo_rc
check_sni(struct hub *h, struct certo_err *err)
{
    char shown[72];
    size_t n = 0;

    if (h->o->sni == NULL)
        return CERTO_OK;
    while (h->o->sni[n] != NULL) {
        const char *name = h->o->sni[n];
        if (n == CERTO_SCAN_SNI_MAX)
            return certo_err_set(err, CERTO_EINVAL, WHERE, "sni: more than %d names",
                                 CERTO_SCAN_SNI_MAX);
        if (!certo_scan_valid_name(name))
            return certo_err_set(err, CERTO_EINVAL, WHERE, "sni: %s is not a host name",
                                 show(shown, name, strnlen(name, 254)));
        n++;
    }
    h->sni = certo_calloc(n + 1, sizeof(*h->sni));
    for (size_t i = 0; i < n; i++)
        h->sni[i] = certo_strdup(h->o->sni[i]);
    h->nsni = n;
    return CERTO_OK;
}

/* Workers to run: o->threads (0: the online CPUs), at most CERTO_SCAN_THREADS_MAX, no more
 * than there are slots or probes; with a rate limit, at most one per 20 connections a
 * second, so that the workers' bursts (50 ms worth each, at least one connection) add up
 * to the burst of one. */
static unsigned
thread_count(const struct certo_scan_opts *o, unsigned slots, uint64_t total)
{
    unsigned n = o->threads;

    if (n == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        n = cpus < 1 ? 1 : cpus > CERTO_SCAN_THREADS_MAX ? CERTO_SCAN_THREADS_MAX : (unsigned)cpus;
    }
    if (n > CERTO_SCAN_THREADS_MAX)
        n = CERTO_SCAN_THREADS_MAX;
    if (n > slots)
        n = slots;
    if (n > total)
        n = (unsigned)total;
    if (o->rate != 0 && n > o->rate / 20)
        n = o->rate / 20;
    return n > 0 ? n : 1;
}

/* Sets up worker 'idx' of h->nw with 'slots' connection slots. */
static certo_rc
worker_setup(struct scan *s, struct hub *h, unsigned idx, unsigned slots, struct certo_err *err)
{
    const struct certo_scan_opts *o = h->o;
    unsigned ms = o->timeout_ms != 0 ? o->timeout_ms : 3000;
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000 * 1000)};
    struct event_config *cfg = event_config_new();

    s->h = h;
    s->t = h->t;
    s->p = h->p;
    s->o = o;
    s->sni = h->sni;
    s->nsni = h->nsni;
    s->res = h->res;
    s->idx = idx;
    s->wfd = -1;
    s->err = h->nw == 1 ? err : &s->own_err;
    /* Each loop is run by one thread only: no locks in libevent. */
    if (cfg != NULL)
        event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
    s->base = cfg != NULL ? event_base_new_with_config(cfg) : NULL;
    if (cfg != NULL)
        event_config_free(cfg);
    if (s->base == NULL)
        return certo_err_set(err, CERTO_EINTERNAL, WHERE, "cannot create an event base");
    /* Every deadline has the same length: a common timeout is a queue, O(1) per probe,
     * instead of the heap. */
    s->tmo = event_base_init_common_timeout(s->base, &tv);
    if (s->tmo == NULL)
        return certo_err_set(err, CERTO_EINTERNAL, WHERE, "cannot set up the deadlines");
    s->conns = certo_calloc(slots, sizeof(*s->conns));
    s->idle = certo_calloc(slots, sizeof(*s->idle));
    s->cont = certo_calloc(slots, sizeof(*s->cont));
    for (unsigned i = 0; i < slots; i++) {
        struct conn *c = &s->conns[slots - 1 - i];
        c->s = s;
        c->fd = -1;
        c->io = event_new(s->base, -1, 0, on_io, c);
        c->timer = event_new(s->base, -1, 0, on_deadline, c);
        s->nconns++;
        if (c->io == NULL || c->timer == NULL)
            return certo_err_set(err, CERTO_EINTERNAL, WHERE, "cannot create events");
        s->idle[s->nidle++] = c;
    }
    s->rate = o->rate / h->nw + (idx < o->rate % h->nw);
    if (s->rate != 0) {
        struct timeval tick = {0, 10000};
        s->tokens = 1.0;
        s->refill_us = now_us();
        s->tick = event_new(s->base, -1, EV_PERSIST, on_tick, s);
        if (s->tick == NULL || event_add(s->tick, &tick) != 0)
            return certo_err_set(err, CERTO_EINTERNAL, WHERE, "cannot create a timer");
    }
    if (o->on_progress != NULL && h->nw == 1) {
        struct timeval every = {0, 100000};
        s->progress = event_new(s->base, -1, EV_PERSIST, on_progress, s);
        if (s->progress == NULL || event_add(s->progress, &every) != 0)
            return certo_err_set(err, CERTO_EINTERNAL, WHERE, "cannot create a timer");
    }
    if (h->nw > 1) {
        s->wfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (s->wfd < 0)
            return certo_err_sys(err, CERTO_ENET, WHERE, "cannot create an eventfd");
        s->wake = event_new(s->base, s->wfd, EV_READ | EV_PERSIST, on_wake, s);
        if (s->wake == NULL || event_add(s->wake, NULL) != 0)
            return certo_err_set(err, CERTO_EINTERNAL, WHERE, "cannot create events");
    }
    cursor_skip(s, idx);
    return CERTO_OK;
}

static void
worker_dispose(struct scan *s)
{
    for (unsigned i = 0; i < s->nconns; i++) {
        struct conn *c = &s->conns[i];
        if (c->fd >= 0) {
            if (c->io_what != 0)
                event_del(c->io);
            event_del(c->timer);
            if (c->ssl != NULL)
                SSL_free(c->ssl);
            close(c->fd);
        }
        if (c->io != NULL)
            event_free(c->io);
        if (c->timer != NULL)
            event_free(c->timer);
    }
    certo_free(s->conns);
    certo_free(s->idle);
    certo_free(s->cont);
    if (s->tick != NULL)
        event_free(s->tick);
    if (s->progress != NULL)
        event_free(s->progress);
    if (s->wake != NULL)
        event_free(s->wake);
    if (s->wfd >= 0)
        close(s->wfd);
    if (s->base != NULL)
        event_base_free(s->base);
}

/* Runs a worker's loop until its share is done or the scan stops. */
static void
worker_run(struct scan *s)
{
    fill(s);
    if (!s->done)
        event_base_loop(s->base, 0);
}

static void *
worker_main(void *arg)
{
    struct scan *s = arg;
    struct hub *h = s->h;

    worker_run(s);
    ERR_clear_error();
    pthread_mutex_lock(&h->lock);
    h->running--;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

/* The calling thread while the workers run: on_progress about ten times a second, from
 * here only, under the hub's lock, until the last worker ended. */
static void
coordinate(struct hub *h)
{
    const int64_t every = 100000;
    int64_t next = now_us() + every;

    pthread_mutex_lock(&h->lock);
    while (h->running > 0) {
        struct timespec ts = {(time_t)(next / 1000000), (long)(next % 1000000 * 1000)};
        pthread_cond_timedwait(&h->cv, &h->lock, &ts);
        int64_t now = now_us();
        if (h->running == 0 || now < next)
            continue;
        next = next + every > now ? next + every : now + every;
        if (h->o->on_progress != NULL && !atomic_load(&h->stop) && progress_report(h))
            hub_stop(h, CERTO_ECONFLICT, h->nw);
    }
    pthread_mutex_unlock(&h->lock);
}

/* Starts a thread per worker, reports progress until every worker ended, and joins them.
 * The workers block the signals sent to the process (SIGINT, SIGTERM, ...): a handler runs
 * on one of the caller's threads, never in the middle of a worker's OpenSSL call; the
 * signals of faults stay unblocked. */
static certo_rc
run_threads(struct hub *h, struct certo_err *err)
{
    static const int faults[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT, SIGSYS};
    sigset_t all, old;
    certo_rc rc = CERTO_OK;

    sigfillset(&all);
    for (size_t i = 0; i < CERTO_ARRAY_LEN(faults); i++)
        sigdelset(&all, faults[i]);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pthread_mutex_lock(&h->lock);
    for (unsigned i = 0; i < h->nw; i++) {
        if (pthread_create(&h->w[i].tid, NULL, worker_main, &h->w[i]) != 0) {
            rc = certo_err_sys(err, CERTO_EINTERNAL, WHERE, "cannot start a thread");
            hub_stop(h, rc, h->nw);
            break;
        }
        h->w[i].started = true;
        h->running++;
    }
    pthread_mutex_unlock(&h->lock);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    coordinate(h);
    for (unsigned i = 0; i < h->nw; i++) {
        if (h->w[i].started)
            pthread_join(h->w[i].tid, NULL);
    }
    return rc;
}

static certo_rc
hub_init(struct hub *h)
{
    pthread_condattr_t ca;
    int e;

    if (pthread_condattr_init(&ca) != 0)
        return CERTO_EINTERNAL;
    e = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (e == 0)
        e = pthread_cond_init(&h->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (e != 0)
        return CERTO_EINTERNAL;
    if (pthread_mutex_init(&h->lock, NULL) != 0) {
        pthread_cond_destroy(&h->cv);
        return CERTO_EINTERNAL;
    }
    h->locks = true;
    return CERTO_OK;
}

/* Creates the workers, splitting the slots and the rate between them, and runs them. */
static certo_rc
run(struct hub *h, struct certo_err *err)
{
    unsigned slots = h->o->concurrency != 0 ? h->o->concurrency : 512;
    unsigned room = fd_room();
    certo_rc rc;

    rc = make_ctx(&h->ctx, h->o, err);
    if (rc != CERTO_OK)
        return rc;
    pthread_once(&biom_once, biom_init);
    h->biom = biom_shared;
    if (h->biom == NULL)
        return certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot set up TLS");
    if (slots > room)
        slots = room;
    if (slots > h->total)
        slots = (unsigned)h->total;
    h->nw = thread_count(h->o, slots, h->total);
    h->w = certo_calloc(h->nw, sizeof(*h->w));
    for (unsigned i = 0; i < h->nw; i++)
        h->w[i].wfd = -1;
    if (h->nw > 1 && hub_init(h) != CERTO_OK)
        return certo_err_set(err, CERTO_EINTERNAL, WHERE, "cannot set up the threads");
    for (unsigned i = 0; i < h->nw; i++) {
        /* Worker i runs probes i, i + nw, ...: (total - i) / nw of them, rounded up. */
        uint64_t probes = (h->total - i + h->nw - 1) / h->nw;
        unsigned mine = slots / h->nw + (i < slots % h->nw);
        rc = worker_setup(&h->w[i], h, i, probes < mine ? (unsigned)probes : mine, err);
        if (rc != CERTO_OK)
            return rc;
    }
    if (h->nw > 1)
        return run_threads(h, err);
    worker_run(&h->w[0]);
    return CERTO_OK;
}

static void
hub_dispose(struct hub *h)
{
    for (unsigned i = 0; h->w != NULL && i < h->nw; i++)
        worker_dispose(&h->w[i]);
    certo_free(h->w);
    if (h->locks) {
        pthread_mutex_destroy(&h->lock);
        pthread_cond_destroy(&h->cv);
    }
    SSL_CTX_free(h->ctx);
    for (size_t i = 0; i < h->nsni; i++)
        certo_free(h->sni[i]);
    certo_free(h->sni);
    certo_free(h->res);
    ERR_clear_error();
}

certo_rc
certo_scan_run(const struct certo_scan_targets *t, const struct certo_scan_ports *p,
               const struct certo_scan_opts *o, struct certo_scan_stats *stats,
               struct certo_err *err)
{
    struct hub h = {.t = t, .p = p, .o = o, .st = stats, .rc = CERTO_OK};
    certo_rc rc = CERTO_EINTERNAL;

    CERTO_ASSERT(stats != NULL);
    memset(stats, 0, sizeof(*stats));
    atomic_init(&h.stop, false);
    h.start_us = now_us();
    CERTO_ASSERT(t != NULL && p != NULL && o != NULL);
    if (t == NULL || p == NULL || o == NULL)
        goto out;
    rc = check_sni(&h, err);
    if (rc != CERTO_OK)
        goto out;
    resolve(&h);
    report_unresolved(&h);
    h.total = (t->count - stats->unresolved) * p->n;
    if (atomic_load(&h.stop) || h.total == 0) {
        rc = h.rc;
        goto out;
    }
    rc = run(&h, err);
    if (rc != CERTO_OK)
        goto out;
    rc = h.rc;
    /* A worker's failure, with more than one: its own record, now the caller's. */
    if (rc != CERTO_OK && rc != CERTO_ECONFLICT && h.nw > 1 && h.failed < h.nw && err != NULL &&
        err->rc == CERTO_OK)
        *err = h.w[h.failed].own_err;
out:
    if (h.w != NULL)
        merge(&h);
    if (rc == CERTO_ECONFLICT)
        certo_err_set(err, rc, WHERE, "the scan was stopped after %" PRIu64 " probes",
                      stats->probes);
    stats->elapsed_ms = (now_us() - h.start_us) / 1000;
    if (o != NULL && o->on_progress != NULL)
        (void)o->on_progress(o->arg, stats, h.total);
    hub_dispose(&h);
    return rc;
}
