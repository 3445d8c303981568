/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `certo discover scan|list|show|remove` (cli layer): network scans of TLS services with
 * the asynchronous engine of the net layer; every finding is kept in the gateway's
 * database so that a scan can be listed again without touching the network.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/x509_vfy.h>

#include "certo/clock.h"
#include "certo/file.h"
#include "certo/registry.h"
#include "certo/scan.h"
#include "certo/scans.h"
#include "cli/cli.h"

#define SNI_FILE_MAX  (1024u * 1024)
#define TRUST_MAX     (16u * 1024 * 1024)
#define EXPIRING_DAYS 30
#define JSON_MAX      (64u * 1024 * 1024)

enum out_format { OUT_TABLE, OUT_JSON, OUT_CSV };

static const struct cli_opt scan_opts[] = {
    {"targets", 0, CLI_VALUE, "SPEC",
     "what to scan: addresses, CIDR ranges (10.0.0.0/24), last-octet ranges (10.0.0.5-40), "
     "host names, @FILE of them; separated by commas or spaces"},
    {"ports", 0, CLI_VALUE, "SPEC", "ports: 443,8443 or 20000-20199 (1-65535)"},
    {"sni", 0, CLI_VALUE, "FILE",
     "a file of host names, one per line: each TLS port is also asked for each name (SNI)"},
    {"concurrency", 0, CLI_VALUE, "N", "connections in flight (1-65536, default 512)"},
    {"threads", 0, CLI_VALUE, "N",
     "threads running the probes, each with its share of the connections (1-8, default: one "
     "per CPU, at most 8)"},
    {"timeout", 0, CLI_VALUE, "MS",
     "deadline per connection: connect, handshake and chain (1-600000, default 3000)"},
    {"rate", 0, CLI_VALUE, "N/s", "new connections per second at most (default: no limit)"},
    {"max", 0, CLI_VALUE, "N",
     "refuse a scan of more than N target x port probes (default 65536, at most 16777216)"},
    {"trust", 0, CLI_MULTI, "FILE",
     "also trust the CA certificates of FILE (PEM), besides the system's and DATA/trust.pem"},
    {"all", 0, CLI_FLAG, NULL, "also list closed and silent ports"},
    {"json", 0, CLI_FLAG, NULL, "print JSON"},
    {"csv", 0, CLI_FLAG, NULL, "print CSV"},
    {"quiet", 'q', CLI_FLAG, NULL, "no progress bar"},
    CLI_DATA_OPT,
    {NULL, 0, 0, NULL, NULL},
};

static const struct cli_opt show_opts[] = {
    {"json", 0, CLI_FLAG, NULL, "print JSON"},
    {"csv", 0, CLI_FLAG, NULL, "print CSV"},
    CLI_DATA_OPT,
    {NULL, 0, 0, NULL, NULL},
};

/* ---- formatting one finding ---- */

static void
date_text(char out[32], int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (t == 0 || gmtime_r(&tt, &tm) == NULL || strftime(out, 32, "%Y-%m-%d", &tm) == 0)
        snprintf(out, 32, "-");
}

static void
time_text(char out[32], int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (t == 0 || gmtime_r(&tt, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, 32, "-");
}

static const char *
or_dash(const char *s)
{
    return s != NULL && s[0] != '\0' ? s : "-";
}

/* What a row's trust column says: ok, the verification error, or that it was not checked. */
static const char *
trust_text(const struct certo_scan_row *r)
{
    if (r->verify == NULL)
        return "-";
    return strcmp(r->verify, "ok") == 0 ? "trusted" : r->verify;
}

static bool
is_tls(const struct certo_scan_row *r)
{
    return r->kind != NULL && strcmp(r->kind, "tls") == 0;
}

/* Tallies of the certificates found, for the summary. */
struct tally {
    uint64_t expired, expiring, self_signed, untrusted;
};

static void
tally_add(struct tally *t, const struct certo_scan_row *r, int64_t now)
{
    if (!is_tls(r) || r->not_after == 0)
        return;
    if (r->not_after < now)
        t->expired++;
    else if (r->not_after < now + EXPIRING_DAYS * 86400)
        t->expiring++;
    if (r->self_signed == 1)
        t->self_signed++;
    if (r->verify != NULL && strcmp(r->verify, "ok") != 0)
        t->untrusted++;
}

static void
table_header(void)
{
    printf("%-28s %-5s  %-20s %-7s %-8s %-30s %-10s  %s\n", "TARGET", "PORT", "SNI", "SERVICE",
           "TLS", "CERTIFICATE", "EXPIRES", "TRUST");
}

static void
table_row(const struct certo_scan_row *r)
{
    char target[80], exp[32];

    if (strcmp(r->target, r->address) == 0)
        snprintf(target, sizeof(target), "%s", r->address);
    else
        snprintf(target, sizeof(target), "%s (%s)", r->target, r->address);
    if (!is_tls(r)) {
        printf("%-28s %-5d  %-20s %-7s %-8s %s\n", target, r->port, or_dash(r->sni), r->kind, "-",
               or_dash(r->detail));
        return;
    }
    date_text(exp, r->not_after);
    printf("%-28s %-5d  %-20s %-7s %-8s %-30s %-10s  %s%s\n", target, r->port, or_dash(r->sni),
           r->kind, or_dash(r->version), or_dash(r->common_name), exp, trust_text(r),
           r->self_signed == 1 ? " (self-signed)" : "");
}

static const char *const csv_cols[] = {
    "target",    "address", "port",        "sni",         "service", "detail",
    "version",   "cipher",  "subject",     "issuer",      "sans",    "not_before",
    "not_after", "key",     "fingerprint", "self_signed", "verify",  "chain_length",
};

static void
csv_field(const char *s, bool last)
{
    if (s == NULL)
        s = "";
    if (s[strcspn(s, ",\"\r\n")] != '\0') {
        putchar('"');
        for (; *s != '\0'; s++) {
            if (*s == '"')
                putchar('"');
            putchar(*s);
        }
        putchar('"');
    } else {
        fputs(s, stdout);
    }
    putchar(last ? '\n' : ',');
}

static void
csv_header(void)
{
    for (size_t i = 0; i < CERTO_ARRAY_LEN(csv_cols); i++)
        csv_field(csv_cols[i], i + 1 == CERTO_ARRAY_LEN(csv_cols));
}

static void
csv_row(const struct certo_scan_row *r)
{
    char port[8], nb[32], na[32], len[16];
    const char *ss = r->self_signed < 0 ? "" : r->self_signed ? "true" : "false";

    snprintf(port, sizeof(port), "%d", r->port);
    snprintf(len, sizeof(len), "%d", r->chain_len);
    time_text(nb, r->not_before);
    time_text(na, r->not_after);
    const char *v[] = {r->target,
                       r->address,
                       port,
                       r->sni,
                       r->kind,
                       r->detail,
                       r->version,
                       r->cipher,
                       r->subject,
                       r->issuer,
                       r->sans,
                       r->not_after != 0 ? nb : NULL,
                       r->not_after != 0 ? na : NULL,
                       r->key,
                       r->fingerprint,
                       ss,
                       r->verify,
                       is_tls(r) ? len : NULL};
    for (size_t i = 0; i < CERTO_ARRAY_LEN(v); i++)
        csv_field(v[i], i + 1 == CERTO_ARRAY_LEN(v));
}

/* Appends "key": value (a string or null) to a JSON object under construction. */
static certo_rc
json_kv(struct certo_buf *b, const char *key, const char *value, bool first)
{
    certo_rc rc = certo_buf_printf(b, "%s\"%s\": ", first ? "" : ", ", key);
    if (rc == CERTO_OK)
        rc = value != NULL ? cli_json_str(b, value) : certo_buf_append_str(b, "null");
    return rc;
}

static certo_rc
json_row(struct certo_buf *b, const struct certo_scan_row *r, bool first)
{
    char nb[32], na[32];
    certo_rc rc = certo_buf_append_str(b, first ? "\n    {" : ",\n    {");

    time_text(nb, r->not_before);
    time_text(na, r->not_after);
    if (rc == CERTO_OK)
        rc = json_kv(b, "target", r->target, true);
    if (rc == CERTO_OK)
        rc = json_kv(b, "address", r->address, false);
    if (rc == CERTO_OK)
        rc = certo_buf_printf(b, ", \"port\": %d", r->port);
    if (rc == CERTO_OK)
        rc = json_kv(b, "sni", r->sni, false);
    if (rc == CERTO_OK)
        rc = json_kv(b, "service", r->kind, false);
    if (rc == CERTO_OK)
        rc = json_kv(b, "detail", r->detail, false);
    if (rc == CERTO_OK && is_tls(r)) {
        const char *k[] = {"version",   "cipher", "subject",
                           "issuer",    "sans",   "not_before",
                           "not_after", "key",    "sha256_fingerprint",
                           "verify",    "chain"};
        const char *v[] = {r->version,
                           r->cipher,
                           r->subject,
                           r->issuer,
                           r->sans,
                           r->not_after != 0 ? nb : NULL,
                           r->not_after != 0 ? na : NULL,
                           r->key,
                           r->fingerprint,
                           r->verify,
                           r->chain};
        for (size_t i = 0; rc == CERTO_OK && i < CERTO_ARRAY_LEN(k); i++)
            rc = json_kv(b, k[i], v[i], false);
        if (rc == CERTO_OK)
            rc = certo_buf_printf(b, ", \"self_signed\": %s, \"trusted\": %s, \"chain_length\": %d",
                                  r->self_signed == 1 ? "true" : "false",
                                  r->verify == NULL              ? "null"
                                  : strcmp(r->verify, "ok") == 0 ? "true"
                                                                 : "false",
                                  r->chain_len);
    }
    if (rc == CERTO_OK)
        rc = certo_buf_append_str(b, "}");
    return rc;
}

/* ---- the summary ---- */

static void
summary_text(FILE *f, const struct certo_scan_info *s, const struct tally *t)
{
    double secs = (double)s->stats.elapsed_ms / 1000.0;

    fprintf(f, "Scan %lld: %llu probes in %.2f s", (long long)s->id,
            (unsigned long long)s->stats.probes, secs);
    if (secs > 0)
        fprintf(f, " (%.0f probes/s)", (double)s->stats.probes / secs);
    fprintf(f, ", %s\n", s->outcome != NULL ? s->outcome : "done");
    fprintf(f,
            "  hosts %llu, open ports %llu, TLS services %llu, plain HTTP %llu, other %llu, "
            "closed %llu, silent %llu",
            (unsigned long long)s->stats.targets, (unsigned long long)s->stats.open,
            (unsigned long long)s->stats.tls, (unsigned long long)s->stats.http,
            (unsigned long long)s->stats.other, (unsigned long long)s->stats.closed,
            (unsigned long long)s->stats.silent);
    if (s->stats.unresolved > 0)
        fprintf(f, ", unresolved names %llu", (unsigned long long)s->stats.unresolved);
    fprintf(f,
            "\n  certificates: expired %llu, expiring within %d days %llu, self-signed %llu, "
            "untrusted %llu\n",
            (unsigned long long)t->expired, EXPIRING_DAYS, (unsigned long long)t->expiring,
            (unsigned long long)t->self_signed, (unsigned long long)t->untrusted);
}

static certo_rc
summary_json(struct certo_buf *b, const struct certo_scan_info *s, const struct tally *t)
{
    char started[32];
    certo_rc rc;

    time_text(started, s->started_at);
    rc = certo_buf_printf(b, "\"id\": %lld, \"started_at\": \"%s\", ", (long long)s->id, started);
    if (rc == CERTO_OK)
        rc = json_kv(b, "targets", s->targets, true);
    if (rc == CERTO_OK)
        rc = json_kv(b, "ports", s->ports, false);
    if (rc == CERTO_OK)
        rc = json_kv(b, "sni", s->sni, false);
    if (rc == CERTO_OK)
        rc = json_kv(b, "outcome", s->outcome, false);
    if (rc == CERTO_OK)
        rc = certo_buf_printf(
            b,
            ", \"summary\": {\"hosts\": %llu, \"probes\": %llu, \"open\": %llu, \"tls\": %llu, "
            "\"http\": %llu, \"other\": %llu, \"closed\": %llu, \"silent\": %llu, "
            "\"unresolved\": %llu, \"expired\": %llu, \"expiring_30d\": %llu, "
            "\"self_signed\": %llu, \"untrusted\": %llu, \"elapsed_ms\": %lld}",
            (unsigned long long)s->stats.targets, (unsigned long long)s->stats.probes,
            (unsigned long long)s->stats.open, (unsigned long long)s->stats.tls,
            (unsigned long long)s->stats.http, (unsigned long long)s->stats.other,
            (unsigned long long)s->stats.closed, (unsigned long long)s->stats.silent,
            (unsigned long long)s->stats.unresolved, (unsigned long long)t->expired,
            (unsigned long long)t->expiring, (unsigned long long)t->self_signed,
            (unsigned long long)t->untrusted, (long long)s->stats.elapsed_ms);
    return rc;
}

/* Prints the JSON document of a scan: its record, summary and 'rows' (json_row objects). */
static certo_rc
print_doc(const struct certo_scan_info *info, const struct tally *t, const struct certo_buf *rows)
{
    struct certo_buf doc;
    certo_rc rc;

    certo_buf_init(&doc, JSON_MAX + 4096);
    rc = certo_buf_append_str(&doc, "{");
    if (rc == CERTO_OK)
        rc = summary_json(&doc, info, t);
    if (rc == CERTO_OK)
        rc = certo_buf_append_str(&doc, ", \"results\": [");
    if (rc == CERTO_OK && rows->len > 0)
        rc = certo_buf_append(&doc, rows->data, rows->len);
    if (rc == CERTO_OK)
        rc = certo_buf_append_str(&doc, rows->len > 0 ? "\n  ]}" : "]}");
    if (rc == CERTO_OK)
        printf("%s\n", (const char *)doc.data);
    certo_buf_dispose(&doc);
    return rc;
}

/* ---- certo discover scan ---- */

static volatile sig_atomic_t interrupted;

static void
on_signal(int sig)
{
    CERTO_UNUSED(sig);
    interrupted = 1;
}

struct scan_run {
    enum out_format fmt;
    bool all;
    bool progress; /* a progress line on stderr (a terminal) */
    bool progress_shown;
    struct certo_scan_writer *w;
    struct certo_buf json; /* --json: the results array */
    size_t n_rows;
    struct tally tally;
    int64_t now;
    struct certo_err err; /* the first failure to record a finding */
};

static void
clear_progress(struct scan_run *s)
{
    if (s->progress_shown) {
        fputs("\r\033[K", stderr);
        s->progress_shown = false;
    }
}

static int
scan_result(void *arg, const struct certo_scan_result *res)
{
    struct scan_run *s = arg;
    struct certo_scan_row row;
    bool keep = res->kind != CERTO_SCAN_CLOSED && res->kind != CERTO_SCAN_SILENT;

    if (interrupted)
        return 1;
    if (!keep && !s->all)
        return 0;
    if (certo_scan_row_from(&row, res, &s->err) != CERTO_OK)
        return 1;
    tally_add(&s->tally, &row, s->now);
    clear_progress(s);
    if (s->fmt == OUT_TABLE)
        table_row(&row);
    else if (s->fmt == OUT_CSV)
        csv_row(&row);
    else if (json_row(&s->json, &row, s->n_rows == 0) != CERTO_OK) {
        certo_err_set(&s->err, CERTO_ETOOBIG, "cli", "the JSON output is over %u MiB; use --csv",
                      JSON_MAX >> 20);
        certo_scan_row_dispose(&row);
        return 1;
    }
    s->n_rows++;
    if (!keep) { /* listed for --all, never stored */
        certo_scan_row_dispose(&row);
        return 0;
    }
    if (certo_scan_writer_add(s->w, &row, &s->err) != CERTO_OK) {
        certo_scan_row_dispose(&row);
        return 1;
    }
    return 0;
}

static int
scan_progress(void *arg, const struct certo_scan_stats *st, uint64_t total)
{
    struct scan_run *s = arg;
    uint64_t done = st->closed + st->silent + st->open;
    int width = 30, fill = total > 0 ? (int)(done * (uint64_t)width / total) : width;
    char bar[32];

    if (interrupted)
        return 1;
    if (!s->progress)
        return 0;
    memset(bar, '#', (size_t)fill);
    memset(bar + fill, '.', (size_t)(width - fill));
    bar[width] = '\0';
    fprintf(stderr, "\r[%s] %llu/%llu probes, %llu open, %llu TLS\033[K", bar,
            (unsigned long long)done, (unsigned long long)total, (unsigned long long)st->open,
            (unsigned long long)st->tls);
    s->progress_shown = true;
    return 0;
}

/* Names of the --sni file: one per line, '#' comments; NULL-terminated, owned. */
static certo_rc
read_sni(char ***out, const char *path, struct certo_err *err)
{
    struct certo_buf b;
    char **names = NULL;
    size_t n = 0, line = 0;
    certo_rc rc = cli_read_file(&b, path, SNI_FILE_MAX, "--sni", err);

    *out = NULL;
    if (rc != CERTO_OK)
        return rc;
    for (char *p = (char *)b.data; rc == CERTO_OK && p != NULL && *p != '\0';) {
        char *nl = strchr(p, '\n'), *end;
        line++;
        if (nl != NULL)
            *nl = '\0';
        end = strchr(p, '#');
        if (end != NULL)
            *end = '\0';
        p += strspn(p, " \t\r");
        end = p + strcspn(p, " \t\r");
        if (end[strspn(end, " \t\r")] != '\0')
            rc = certo_err_set(err, CERTO_EINVAL, "cli",
                               "--sni %s line %zu: one host name per line", path, line);
        *end = '\0';
        if (rc == CERTO_OK && *p != '\0') {
            if (!certo_scan_valid_name(p))
                rc = certo_err_set(err, CERTO_EINVAL, "cli",
                                   "--sni %s line %zu: '%.64s' is not a host name", path, line, p);
            else if (n >= CERTO_SCAN_SNI_MAX)
                rc = certo_err_set(err, CERTO_EINVAL, "cli", "--sni %s: more than %d names", path,
                                   CERTO_SCAN_SNI_MAX);
            else {
                names = certo_reallocarray(names, n + 2, sizeof(*names));
                names[n++] = certo_strdup(p);
                names[n] = NULL;
            }
        }
        p = nl != NULL ? nl + 1 : NULL;
    }
    certo_buf_dispose(&b);
    if (rc == CERTO_OK && n == 0)
        rc = certo_err_set(err, CERTO_EINVAL, "cli", "--sni %s: no host names in it", path);
    if (rc != CERTO_OK) {
        for (size_t i = 0; i < n; i++)
            certo_free(names[i]);
        certo_free(names);
        return rc;
    }
    *out = names;
    return CERTO_OK;
}

/* The system's trust store, DATA/trust.pem when present, and every --trust FILE. */
static certo_rc
trust_store(X509_STORE **out, const struct cli_args *a, struct certo_registry *reg,
            struct certo_err *err)
{
    X509_STORE *st = X509_STORE_new();
    size_t n = 0;
    const char *const *files = cli_get_multi(a, "trust", &n);
    char *own = certo_asprintf("%s/trust.pem", certo_registry_dir(reg));
    certo_rc rc = CERTO_OK;

    *out = NULL;
    /* The system's store as its hashed directory: a certificate is read when a chain
     * needs it, not the whole bundle (about 140 certificates, 12 ms) at every start. */
    if (st == NULL || X509_STORE_load_path(st, X509_get_default_cert_dir()) != 1)
        rc = certo_err_set(err, CERTO_ECRYPTO, "cli", "cannot load the system's trust store");
    if (rc == CERTO_OK && access(own, F_OK) == 0 && X509_STORE_load_file(st, own) != 1)
        rc = certo_err_set(err, CERTO_EPARSE, "cli", "%s: no PEM certificates in it", own);
    for (size_t i = 0; rc == CERTO_OK && i < n; i++) {
        if (access(files[i], R_OK) != 0)
            rc = certo_err_sys(err, CERTO_EINVAL, "cli", "--trust %s: cannot read", files[i]);
        else if (X509_STORE_load_file(st, files[i]) != 1)
            rc = certo_err_set(err, CERTO_EINVAL, "cli", "--trust %s: no PEM certificates in it",
                               files[i]);
    }
    certo_free(own);
    if (rc != CERTO_OK) {
        X509_STORE_free(st);
        return rc;
    }
    *out = st;
    return CERTO_OK;
}

/* --rate N or N/s. */
static certo_rc
parse_rate(unsigned *out, const char *v, struct certo_err *err)
{
    char *end = NULL;
    unsigned long n;

    *out = 0;
    if (v == NULL)
        return CERTO_OK;
    errno = 0;
    n = strtoul(v, &end, 10);
    if (errno != 0 || end == v || v[0] == '-' || (strcmp(end, "") != 0 && strcmp(end, "/s") != 0) ||
        n < 1 || n > 1000000)
        return certo_err_set(err, CERTO_EINVAL, "cli",
                             "--rate: '%.32s' is not a rate from 1 to 1000000 per second "
                             "(N or N/s)",
                             v);
    *out = (unsigned)n;
    return CERTO_OK;
}

static char *
join_names(char **names)
{
    struct certo_buf b;
    char *s;

    if (names == NULL)
        return NULL;
    certo_buf_init(&b, 64u * 1024);
    for (size_t i = 0; names[i] != NULL; i++) {
        if (i > 0)
            certo_buf_append_fit(&b, ",", 1);
        certo_buf_append_fit(&b, names[i], strlen(names[i]));
    }
    s = certo_strndup(b.len > 0 ? (const char *)b.data : "", b.len);
    certo_buf_dispose(&b);
    return s;
}

static int
run_scan(const struct cli_cmd *cmd, struct cli_args *a)
{
    const char *targets_spec = cli_get(a, "targets"), *ports_spec = cli_get(a, "ports");
    struct certo_scan_targets *targets = NULL;
    struct certo_scan_ports ports = {0};
    struct certo_scan_opts o = {0};
    struct certo_scan_stats stats = {0};
    struct certo_scan_info info = {0};
    struct scan_run s = {0};
    struct certo_registry *reg = NULL;
    struct certo_err err = {0};
    X509_STORE *trust = NULL;
    char **sni = NULL, *sni_text = NULL;
    int conc = 0, threads = 0, timeout = 0, max = 0;
    uint64_t total = 0;
    struct sigaction sa = {0}, old_int, old_term;
    certo_rc rc = CERTO_OK;
    int code = 0;

    if (targets_spec == NULL)
        return cli_usage_error(cmd, "--targets is required");
    if (ports_spec == NULL)
        return cli_usage_error(cmd, "--ports is required");
    if (cli_has(a, "json") && cli_has(a, "csv"))
        return cli_usage_error(cmd, "--json and --csv exclude each other");
    s.fmt = cli_has(a, "json") ? OUT_JSON : cli_has(a, "csv") ? OUT_CSV : OUT_TABLE;
    s.all = cli_has(a, "all");
    rc = cli_int(&conc, a, "concurrency", 512, 1, 65536, &err);
    if (rc == CERTO_OK)
        rc = cli_int(&threads, a, "threads", 0, 1, CERTO_SCAN_THREADS_MAX, &err);
    if (rc == CERTO_OK)
        rc = cli_int(&timeout, a, "timeout", 3000, 1, 600000, &err);
    if (rc == CERTO_OK)
        rc = cli_int(&max, a, "max", (int)CERTO_SCAN_MAX_DEFAULT, 1, (int)CERTO_SCAN_MAX_LIMIT,
                     &err);
    if (rc == CERTO_OK)
        rc = parse_rate(&o.rate, cli_get(a, "rate"), &err);
    if (rc == CERTO_OK)
        rc = certo_scan_ports_parse(&ports, ports_spec, &err);
    if (rc == CERTO_OK)
        rc = certo_scan_targets_parse(&targets, targets_spec, (uint64_t)max, &err);
    if (rc == CERTO_OK) {
        total = certo_scan_targets_count(targets) * ports.n;
        if (total > (uint64_t)max)
            rc = certo_err_set(&err, CERTO_EINVAL, "cli",
                               "--targets x --ports is %llu probes, more than the maximum of %d "
                               "(raise it with --max N)",
                               (unsigned long long)total, max);
    }
    if (rc == CERTO_OK && cli_get(a, "sni") != NULL)
        rc = read_sni(&sni, cli_get(a, "sni"), &err);
    if (rc == CERTO_OK)
        rc = cli_open_registry(&reg, a, &err);
    if (rc == CERTO_OK)
        rc = trust_store(&trust, a, reg, &err);
    if (rc != CERTO_OK) {
        code = cli_fail(cmd, rc, &err);
        goto out;
    }

    sni_text = join_names(sni);
    rc = certo_scan_writer_open(&s.w, reg, targets_spec, ports_spec, sni_text, &err);
    if (rc != CERTO_OK) {
        code = cli_fail(cmd, rc, &err);
        goto out;
    }
    s.now = certo_clock_now();
    s.progress = !cli_has(a, "quiet") && isatty(STDERR_FILENO);
    certo_buf_init(&s.json, JSON_MAX);
    o.concurrency = (unsigned)conc;
    o.threads = (unsigned)threads;
    o.timeout_ms = (unsigned)timeout;
    o.sni = (const char *const *)sni;
    o.trust = trust;
    o.report_closed = s.all;
    o.on_result = scan_result;
    o.on_progress = scan_progress;
    o.arg = &s;
    if (s.fmt == OUT_TABLE)
        table_header();
    else if (s.fmt == OUT_CSV)
        csv_header();

    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    rc = certo_scan_run(targets, &ports, &o, &stats, &err);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    clear_progress(&s);

    if (s.err.rc != CERTO_OK) {
        rc = s.err.rc;
        err = s.err;
    }
    const char *outcome = rc == CERTO_OK                         ? "done"
                          : rc == CERTO_ECONFLICT && interrupted ? "stopped"
                                                                 : "failed";
    info.id = certo_scan_writer_id(s.w);
    certo_rc wrc = certo_scan_writer_close(s.w, outcome, &stats, rc == CERTO_OK ? &err : NULL);
    s.w = NULL;
    if (rc == CERTO_OK)
        rc = wrc;

    info.targets = certo_strdup(targets_spec);
    info.ports = certo_strdup(ports_spec);
    info.sni = sni_text;
    sni_text = NULL;
    info.outcome = certo_strdup(outcome);
    info.stats = stats;
    info.started_at = s.now;
    if (s.fmt == OUT_JSON) {
        if (print_doc(&info, &s.tally, &s.json) != CERTO_OK && rc == CERTO_OK)
            rc = certo_err_set(&err, CERTO_ETOOBIG, "cli", "the JSON output is too large");
    } else {
        if (s.fmt == OUT_TABLE && s.n_rows == 0)
            printf("(nothing open)\n");
        summary_text(s.fmt == OUT_CSV ? stderr : stdout, &info, &s.tally);
    }
    if (interrupted) {
        fprintf(stderr, "certo %s: stopped by a signal; what was found is kept (scan %lld)\n",
                cmd->name, (long long)info.id);
        code = 130;
    } else if (rc != CERTO_OK) {
        code = cli_fail(cmd, rc, &err);
    }
out:
    certo_buf_dispose(&s.json);
    certo_scan_info_dispose(&info);
    certo_free(sni_text);
    for (size_t i = 0; sni != NULL && sni[i] != NULL; i++)
        certo_free(sni[i]);
    certo_free(sni);
    X509_STORE_free(trust);
    certo_scan_targets_free(targets);
    certo_scan_ports_dispose(&ports);
    certo_registry_close(reg);
    return code;
}

/* ---- certo discover list|show|remove ---- */

static int
run_list(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_registry *reg = NULL;
    struct certo_scan_info *list = NULL;
    struct certo_err err = {0};
    size_t n = 0;
    certo_rc rc;
    int code = 0;

    rc = cli_open_registry(&reg, a, &err);
    if (rc == CERTO_OK)
        rc = certo_scan_list(reg, &list, &n, &err);
    if (rc != CERTO_OK) {
        code = cli_fail(cmd, rc, &err);
        goto out;
    }
    if (cli_has(a, "json")) {
        struct certo_buf b;
        struct tally none = {0};
        certo_buf_init(&b, JSON_MAX);
        rc = certo_buf_append_str(&b, "[");
        for (size_t i = 0; rc == CERTO_OK && i < n; i++) {
            rc = certo_buf_append_str(&b, i > 0 ? ", {" : "{");
            if (rc == CERTO_OK)
                rc = summary_json(&b, &list[i], &none);
            if (rc == CERTO_OK)
                rc = certo_buf_append_str(&b, "}");
        }
        if (rc == CERTO_OK)
            rc = certo_buf_append_str(&b, "]");
        if (rc == CERTO_OK)
            printf("%s\n", (const char *)b.data);
        certo_buf_dispose(&b);
        goto out;
    }
    if (n == 0) {
        printf("No scans yet (run 'certo discover scan --targets SPEC --ports SPEC').\n");
        goto out;
    }
    printf("%-5s %-20s %-8s %8s %6s %6s  %-30s %s\n", "ID", "STARTED", "OUTCOME", "PROBES", "OPEN",
           "TLS", "TARGETS", "PORTS");
    for (size_t i = 0; i < n; i++) {
        char started[32];
        time_text(started, list[i].started_at);
        printf("%-5lld %-20s %-8s %8llu %6llu %6llu  %-30.30s %s\n", (long long)list[i].id, started,
               list[i].outcome, (unsigned long long)list[i].stats.probes,
               (unsigned long long)list[i].stats.open, (unsigned long long)list[i].stats.tls,
               list[i].targets, list[i].ports);
    }
out:
    certo_scan_info_list_free(list, n);
    certo_registry_close(reg);
    return code;
}

static certo_rc
parse_id(int64_t *out, const char *v, struct certo_err *err)
{
    char *end = NULL;
    long long n;

    errno = 0;
    n = v[0] >= '0' && v[0] <= '9' ? strtoll(v, &end, 10) : -1;
    if (errno != 0 || end == v || end == NULL || *end != '\0' || n < 1)
        return certo_err_set(err, CERTO_EINVAL, "cli",
                             "'%.32s' is not a scan id (see 'certo discover list')", v);
    *out = n;
    return CERTO_OK;
}

static int
run_show(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_registry *reg = NULL;
    struct certo_scan_info info = {0};
    struct certo_scan_row *rows = NULL;
    struct certo_err err = {0};
    struct tally t = {0};
    size_t n = 0;
    int64_t id = 0, now = certo_clock_now();
    certo_rc rc = CERTO_OK;
    int code = 0;

    if (cli_has(a, "json") && cli_has(a, "csv"))
        return cli_usage_error(cmd, "--json and --csv exclude each other");
    if (a->n_pos == 1)
        rc = parse_id(&id, a->pos[0], &err);
    if (rc == CERTO_OK)
        rc = cli_open_registry(&reg, a, &err);
    if (rc == CERTO_OK)
        rc = certo_scan_get(reg, id, &info, &rows, &n, &err);
    if (rc != CERTO_OK) {
        code = cli_fail(cmd, rc, &err);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        tally_add(&t, &rows[i], now);
    if (cli_has(a, "json")) {
        struct certo_buf b;
        certo_buf_init(&b, JSON_MAX);
        for (size_t i = 0; rc == CERTO_OK && i < n; i++)
            rc = json_row(&b, &rows[i], i == 0);
        if (rc == CERTO_OK)
            rc = print_doc(&info, &t, &b);
        if (rc != CERTO_OK)
            code = cli_fail(cmd, CERTO_ETOOBIG, NULL);
        certo_buf_dispose(&b);
        goto out;
    }
    if (cli_has(a, "csv")) {
        csv_header();
        for (size_t i = 0; i < n; i++)
            csv_row(&rows[i]);
        goto out;
    }
    table_header();
    for (size_t i = 0; i < n; i++)
        table_row(&rows[i]);
    if (n == 0)
        printf("(nothing open)\n");
    summary_text(stdout, &info, &t);
out:
    certo_scan_rows_free(rows, n);
    certo_scan_info_dispose(&info);
    certo_registry_close(reg);
    return code;
}

static int
run_remove(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_registry *reg = NULL;
    struct certo_err err = {0};
    int64_t id = 0;
    certo_rc rc = parse_id(&id, a->pos[0], &err);
    int code = 0;

    if (rc == CERTO_OK)
        rc = cli_open_registry(&reg, a, &err);
    if (rc == CERTO_OK)
        rc = certo_scan_remove(reg, id, &err);
    if (rc != CERTO_OK)
        code = cli_fail(cmd, rc, &err);
    else
        printf("Scan %lld removed.\n", (long long)id);
    certo_registry_close(reg);
    return code;
}

const struct cli_cmd cli_discover_cmds[] = {
    {"discover scan", "--targets SPEC --ports SPEC [options]",
     "scan networks for TLS services and read their certificates", scan_opts, 0, 0, run_scan, NULL},
    {"discover list", "[options]", "list the recorded scans", cli_data_json_opts, 0, 0, run_list,
     NULL},
    {"discover show", "[ID] [options]", "show a recorded scan again (default: the newest)",
     show_opts, 0, 1, run_show, NULL},
    {"discover remove", "ID", "remove a recorded scan", cli_data_opts, 1, 1, run_remove, NULL},
    {NULL, NULL, NULL, NULL, 0, 0, NULL, NULL},
};
