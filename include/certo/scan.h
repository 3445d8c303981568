/* SPDX-License-Identifier: Apache-2.0 */
/* layer: net */
/*
 * Network scans of TLS services: target and port specifications, and an asynchronous
 * engine (libevent, non-blocking sockets and OpenSSL) that connects to every
 * target x port, tells TLS from plain HTTP from anything else, and reads the whole
 * chain a TLS service sends, once without SNI (or with the target's host name) and once
 * per extra SNI name. Thousands of connections are in flight at once; a closed port or a
 * silent host costs one socket until its RST or its deadline. Memory is bounded: targets
 * are expanded lazily, one connection holds at most one SSL object and its chain.
 * Threading: specifications are immutable after parsing (any thread may read them). A scan
 * runs its probes on o->threads workers (see struct certo_scan_opts): with one, on the
 * calling thread, which also runs the callbacks; with more, on threads of its own that it
 * starts and joins before certo_scan_run returns, the callbacks being serialised (never two
 * at once) and progress reported from the calling thread. Scans in different threads share
 * nothing.
 */
#ifndef CERTO_SCAN_H
#define CERTO_SCAN_H

#include <stdint.h>

#include <openssl/x509.h>

#include "certo/common.h"
#include "certo/err.h"

/** Default ceiling of target x port probes (a /16 on one port); raised explicitly. */
#define CERTO_SCAN_MAX_DEFAULT 65536u
/** No ceiling can be raised above this. */
#define CERTO_SCAN_MAX_LIMIT (16u * 1024 * 1024)
/** Longest spec string (targets or ports), in bytes. */
#define CERTO_SCAN_SPEC_MAX (64u * 1024)
/** Largest "@FILE" of targets, in bytes. */
#define CERTO_SCAN_FILE_MAX (4u * 1024 * 1024)
#define CERTO_SCAN_SNI_MAX  256 /* extra SNI names */
/** Most workers (threads) a scan runs. */
#define CERTO_SCAN_THREADS_MAX 8

/* ---- specifications ---- */

/** Parsed targets: addresses, CIDR ranges, host names (resolved by the engine). */
struct certo_scan_targets;

/**
 * Parses a target spec: items separated by commas or white space, each an IPv4 or IPv6
 * address, a CIDR range (IPv4 /0-/32; IPv6 /64-/128), an IPv4 last-octet range
 * "10.0.0.5-40", a host name (RFC 1123 letters, digits, '-', '.'; resolved at scan
 * time), or "@FILE": a file of such items, one or more per line, '#' starts a comment.
 * Files do not nest. Duplicates are kept (scanned twice). Host names are checked (labels of
 * 1-63 letters, digits and '-', no '-' at either end, at most 253 bytes, the last label
 * not all digits: "10.0.0.300" is a bad address, not a name); nothing is resolved here.
 * Every message starts with "targets: " and names the item (and "FILE:LINE: ").
 * @param max  ceiling of the number of targets (addresses + names), e.g. for one port
 *             CERTO_SCAN_MAX_DEFAULT; the caller divides its probe ceiling by the ports.
 *             0: CERTO_SCAN_MAX_DEFAULT; above CERTO_SCAN_MAX_LIMIT: CERTO_EINVAL.
 * @return CERTO_OK; CERTO_EINVAL naming the item and why (empty spec, bad address,
 *         bad prefix, empty range, range or total above 'max' - the message says how to
 *         raise it: --max N); CERTO_ENOTFOUND / CERTO_EPERM (a file); CERTO_ETOOBIG (the
 *         spec is longer than CERTO_SCAN_SPEC_MAX, a file larger than CERTO_SCAN_FILE_MAX).
 */
CERTO_MUST_CHECK certo_rc certo_scan_targets_parse(struct certo_scan_targets **out,
                                                   const char *spec, uint64_t max,
                                                   struct certo_err *err);
void certo_scan_targets_free(struct certo_scan_targets *t);
/** Number of targets (an address or a name each). */
uint64_t certo_scan_targets_count(const struct certo_scan_targets *t);

/**
 * True if 'name' is a host name as the target and SNI parsers accept it: labels of 1-63
 * letters, digits and '-', no '-' at either end, at most 253 bytes, no trailing dot, the
 * last label not all digits. NULL is not a name.
 */
bool certo_scan_valid_name(const char *name);

/** Parsed ports, in the order given, duplicates removed. */
struct certo_scan_ports {
    uint16_t *v; /* owned */
    size_t n;
};

/**
 * Parses a port spec: "443", "443,8443", "20000-20199", mixed (commas or white space);
 * 1-65535 only, decimal digits only. *out is cleared first and filled on success only.
 * @return CERTO_OK; CERTO_EINVAL naming the item, e.g. "ports: 0 is not a port (1-65535)",
 *         "ports: x1 is not a number", "ports: 90-80 is an empty range", "ports: the spec is
 *         empty"; CERTO_ETOOBIG (longer than CERTO_SCAN_SPEC_MAX).
 */
CERTO_MUST_CHECK certo_rc certo_scan_ports_parse(struct certo_scan_ports *out, const char *spec,
                                                 struct certo_err *err);
void certo_scan_ports_dispose(struct certo_scan_ports *p);

/* ---- results ---- */

enum certo_scan_kind {
    CERTO_SCAN_CLOSED = 0, /* refused (RST) or unreachable */
    CERTO_SCAN_SILENT,     /* no answer to connect before the deadline (filtered, dead host) */
    CERTO_SCAN_TLS,        /* a TLS handshake completed; chain read */
    CERTO_SCAN_HTTP,       /* plain HTTP answered our ClientHello */
    CERTO_SCAN_OTHER,      /* open, but neither: garbage, a banner, closed without a word,
                              accepted and never answered, or a TLS alert */
};

/** Static name: "closed", "silent", "tls", "http", "other". */
const char *certo_scan_kind_name(enum certo_scan_kind k);

/** One finding, passed to the callback; everything is borrowed for the call only. */
struct certo_scan_result {
    const char *target;  /* the host name as given, or the address (canonical text) */
    const char *address; /* numeric address connected to; "" for a name that did not resolve */
    uint16_t port;
    const char *sni; /* the SNI sent, or NULL */
    enum certo_scan_kind kind;
    /* Why OTHER ("accepted and never answered", "closed the connection without a word",
     * "TLS handshake failed: <reason>", a banner's first line, "binary answer: 00 01 ..."),
     * what HTTP said first ("HTTP/1.1 400 Bad Request"), why CLOSED ("refused", "does not
     * resolve"), or "". Printable, at most 100 bytes of the peer's text. */
    const char *detail;
    /* TLS only: */
    const char *version;    /* "TLSv1.3" */
    const char *cipher;     /* "TLS_AES_256_GCM_SHA384" */
    STACK_OF(X509) * chain; /* as sent, leaf first; up_ref to keep; NULL if none was sent */
    int verify;             /* X509_V_OK, or the X509_V_ERR_* of verifying the chain against
                               the trust store and the SNI sent (or the host name target);
                               an address without a name is not matched; -1: not TLS, or no
                               trust store */
    int64_t elapsed_us;     /* from the start of connect to this result */
};

/**
 * Counts of a scan. probes = open + closed + silent once every probe has finished; the
 * extra SNI probes are counted only in tls, http and other (by what they found).
 */
struct certo_scan_stats {
    uint64_t targets; /* addresses scanned (names resolved) */
    uint64_t probes;  /* target x port pairs tried */
    uint64_t open;    /* ports that accepted a connection */
    uint64_t closed;
    uint64_t silent;
    uint64_t tls; /* TLS results (one per SNI tried) */
    uint64_t http;
    uint64_t other;
    uint64_t unresolved; /* host names that did not resolve */
    int64_t elapsed_ms;  /* since certo_scan_run began, resolving included */
};

struct certo_scan_opts {
    /* Connections in flight; 0: 512. Capped by RLIMIT_NOFILE, whose soft limit the scan
     * raises to the hard limit (and leaves raised), keeping 64 descriptors spare. */
    unsigned concurrency;
    unsigned timeout_ms;    /* per connection (connect + handshake + read); 0: 3000 */
    unsigned rate;          /* new connections per second (bursts of 50 ms); 0: no limit */
    const char *const *sni; /* extra SNI names tried on every TLS port; NULL-terminated; NULL */
    /* Chains are verified against it; NULL: not verified. Borrowed, and must not change
     * during the scan. Load it with certificates (X509_STORE_load_file): a hashed directory
     * (X509_STORE_load_path) costs file look-ups on every chain. */
    X509_STORE *trust;
    bool report_closed; /* also report CLOSED and SILENT probes */
    /* Workers: each one an event loop on a thread of its own with an equal share of the
     * slots (concurrency), of the rate and of the probes (worker i of n runs probes i,
     * i + n, i + 2n, ... of the targets x ports walk, and the extra SNI probes of the TLS
     * ports it found). 0: the number of online CPUs. At most CERTO_SCAN_THREADS_MAX, the
     * slots and the probes, and with a rate limit one per 20 connections a second. 1: one
     * loop, on the calling thread. The TLS client context is shared, and so is o->trust
     * (libssl locks it). */
    unsigned threads;
    /* Called for each result in completion order. With one worker on the calling thread;
     * with more on the worker's thread, under a lock: never two calls at once (nor at once
     * with on_progress), and none after a call asked to stop. 'arg' needs no lock of its
     * own. A non-zero return stops the scan: every worker leaves its loop at once, closing
     * what is in flight. */
    int (*on_result)(void *arg, const struct certo_scan_result *r);
    /* Called about ten times a second while scanning, from the calling thread (with more
     * than one worker under the same lock as on_result), with the counts of every worker
     * merged, and once at the end (its return value is then ignored); a non-zero return
     * stops the scan. NULL ok. */
    int (*on_progress)(void *arg, const struct certo_scan_stats *s, uint64_t total);
    void *arg;
};

/**
 * Scans every target x port. Host names are resolved first (each once; the first
 * address is scanned and the name is the default SNI). An unresolved name is counted in
 * stats->unresolved, reported once as CLOSED (port 0, address "") with detail "does not
 * resolve" when report_closed, and skipped. With o->trust NULL, 'verify' is -1 in every
 * result. Never raises SIGPIPE. Blocks until the scan is over; the threads it starts block
 * the signals sent to the process (not those of faults), so that a handler runs on one of
 * the caller's threads.
 * @return CERTO_OK when every probe ran, whatever it found; CERTO_ECONFLICT when
 *         on_result or on_progress asked to stop; CERTO_EINVAL (an o->sni entry is not a host name,
 * or more than CERTO_SCAN_SNI_MAX); CERTO_ENET / CERTO_EINTERNAL / CERTO_ECRYPTO when the engine
 * itself failed (no descriptors, no event base, no TLS context). *stats is filled in every case.
 */
CERTO_MUST_CHECK certo_rc certo_scan_run(const struct certo_scan_targets *t,
                                         const struct certo_scan_ports *p,
                                         const struct certo_scan_opts *o,
                                         struct certo_scan_stats *stats, struct certo_err *err);

#endif
