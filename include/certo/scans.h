/* SPDX-License-Identifier: Apache-2.0 */
/* layer: gateway */
/*
 * Network scans kept in the gateway's database (tables scans and scan_results): a scan
 * is recorded while it runs, its findings in short batched transactions (other certo
 * processes are never locked out for long), so `certo discover list|show` can show
 * them again without a new scan. Only open ports are kept.
 */
#ifndef CERTO_SCANS_H
#define CERTO_SCANS_H

#include "certo/err.h"
#include "certo/registry.h"
#include "certo/scan.h"

/** One finding as stored and shown. Strings owned (NULL when not applicable). */
struct certo_scan_row {
    char *target;
    char *address;
    int port;
    char *sni;
    char *kind; /* certo_scan_kind_name() */
    char *detail;
    char *version;
    char *cipher;
    char *fingerprint; /* leaf SHA-256, upper-case hex pairs joined by ':' */
    char *subject;
    char *issuer;
    char *common_name;
    char *sans;   /* "DNS:a, IP:127.0.0.1" */
    char *key;    /* "EC 256", "RSA 2048" */
    char *verify; /* "ok", the verification error, or NULL (not verified) */
    char *chain;  /* PEM of the chain as sent */
    int64_t not_before, not_after;
    int chain_len;
    int self_signed; /* 1, 0; -1 unknown */
};

void certo_scan_row_dispose(struct certo_scan_row *r);

/** Builds a row from an engine result (reads the leaf; the chain is PEM-encoded). */
CERTO_MUST_CHECK certo_rc certo_scan_row_from(struct certo_scan_row *out,
                                              const struct certo_scan_result *r,
                                              struct certo_err *err);

/** A scan as recorded. Strings owned. */
struct certo_scan_info {
    int64_t id;
    int64_t started_at, finished_at; /* seconds since the epoch; finished 0 while running */
    char *targets, *ports, *sni;     /* the specs as given; sni NULL when none */
    char *outcome;                   /* "running", "done", "stopped", "failed" */
    struct certo_scan_stats stats;
};

void certo_scan_info_dispose(struct certo_scan_info *s);

struct certo_scan_writer;

/**
 * Records a new scan (outcome "running") and returns a writer for its findings.
 * @return CERTO_OK with *out and (*out's) id set; what the database returns.
 */
CERTO_MUST_CHECK certo_rc certo_scan_writer_open(struct certo_scan_writer **out,
                                                 struct certo_registry *reg, const char *targets,
                                                 const char *ports, const char *sni,
                                                 struct certo_err *err);
/** The id of the scan being written. */
int64_t certo_scan_writer_id(const struct certo_scan_writer *w);
/**
 * Queues a finding (the row's strings are taken; 'row' is left empty). Queued rows are
 * written in one transaction per few hundred rows or every two seconds.
 */
CERTO_MUST_CHECK certo_rc certo_scan_writer_add(struct certo_scan_writer *w,
                                                struct certo_scan_row *row, struct certo_err *err);
/**
 * Writes what is queued, sets the outcome and the counts, and frees the writer (also
 * when it fails). NULL ok.
 */
CERTO_MUST_CHECK certo_rc certo_scan_writer_close(struct certo_scan_writer *w, const char *outcome,
                                                  const struct certo_scan_stats *s,
                                                  struct certo_err *err);

/** Every recorded scan, newest first. Free with certo_scan_info_list_free. */
CERTO_MUST_CHECK certo_rc certo_scan_list(struct certo_registry *reg, struct certo_scan_info **out,
                                          size_t *n, struct certo_err *err);
void certo_scan_info_list_free(struct certo_scan_info *list, size_t n);

/**
 * One scan and its findings in the order they were found. 'id' 0 means the newest.
 * @return CERTO_OK; CERTO_ENOTFOUND.
 */
CERTO_MUST_CHECK certo_rc certo_scan_get(struct certo_registry *reg, int64_t id,
                                         struct certo_scan_info *info, struct certo_scan_row **rows,
                                         size_t *n, struct certo_err *err);
void certo_scan_rows_free(struct certo_scan_row *rows, size_t n);

/** Removes a scan and its findings. @return CERTO_OK; CERTO_ENOTFOUND. */
CERTO_MUST_CHECK certo_rc certo_scan_remove(struct certo_registry *reg, int64_t id,
                                            struct certo_err *err);

#endif
