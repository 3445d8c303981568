/* SPDX-License-Identifier: Apache-2.0 */
/* layer: gateway */
/*
 * The install engine (DESIGN.md B1): every change to an endpoint is a journaled
 * transaction. The connector plans the new files; the engine writes a journal with a
 * backup of every file it will touch (DATA/journal/<endpoint>/), stages the new files
 * beside their targets, lets the connector test them, swaps them in by rename, lets the
 * connector activate (install script, reload) and verify, and commits by moving the
 * journal to DATA/backups/<endpoint>/<install>/ (kept for `tls rollback`). Any failure
 * restores every file byte for byte. A transaction cut short (kill -9, power loss) is
 * rolled back by the next operation on that endpoint. Operations on one endpoint are
 * serialized by a lock file (DATA/locks/<endpoint>.lock); different endpoints run in
 * parallel. Everything is recorded in the history. One thread per registry handle.
 */
#ifndef CERTO_INSTALL_H
#define CERTO_INSTALL_H

#include "certo/buf.h"
#include "certo/bundle.h"
#include "certo/registry.h"

struct certo_install_opts {
    const char *alias;     /* entry name; NULL: the connector derives it */
    bool dry_run;          /* plan and describe, change nothing, record nothing */
    int script_timeout_ms; /* install/restart script deadline; 0: 300 s */
};

/* What the start of an operation found of an earlier, interrupted one. */
enum certo_recovery {
    CERTO_RECOVERY_NONE = 0,        /* nothing was pending */
    CERTO_RECOVERY_ROLLED_BACK = 1, /* it had not committed: its files were put back */
    CERTO_RECOVERY_FINISHED = 2,    /* it had committed: its backup was filed */
};

/* What an operation did; every member owned, dispose with certo_op_result_dispose. */
struct certo_op_result {
    int64_t history_id;           /* 0 for a dry run */
    char *alias;                  /* the entry installed or restored */
    char fp_before[96];           /* SHA-256 of the certificate before, "" if none */
    char fp_after[96];            /* SHA-256 after */
    struct certo_buf plan;        /* one line per file change, then "warning: ..." notes */
    struct certo_buf log;         /* output of the scripts that ran */
    char step[16];                /* the step that failed, "" on success */
    enum certo_recovery recovery; /* what happened to an interrupted transaction first */
};
void certo_op_result_dispose(struct certo_op_result *r);

/**
 * Installs 'b' on 'ep'. On failure the endpoint's files are as before, r->step names the
 * failed step and the history says why.
 * @return CERTO_OK; CERTO_EUNSUPPORTED (no connector or transport yet for the endpoint);
 *         the connector's and transport's codes (CERTO_EAUTH wrong store password,
 *         CERTO_EINVAL alias or key mismatch, CERTO_EREMOTE/CERTO_ETIMEDOUT script, ...).
 */
CERTO_MUST_CHECK certo_rc certo_install(struct certo_registry *reg, const struct certo_endpoint *ep,
                                        const struct certo_bundle *b,
                                        const struct certo_install_opts *o,
                                        struct certo_op_result *r, struct certo_err *err);

/**
 * Puts back the files of the newest install that succeeded and was not undone yet, as a
 * transaction of its own (the install script runs with that install's alias).
 * @return CERTO_OK; CERTO_ENOTFOUND (nothing to roll back).
 */
CERTO_MUST_CHECK certo_rc certo_install_rollback(struct certo_registry *reg,
                                                 const struct certo_endpoint *ep,
                                                 const struct certo_install_opts *o,
                                                 struct certo_op_result *r, struct certo_err *err);

/** Restarts the endpoint (keystores: its restart script), recorded in the history. */
CERTO_MUST_CHECK certo_rc certo_install_restart(struct certo_registry *reg,
                                                const struct certo_endpoint *ep,
                                                const struct certo_install_opts *o,
                                                struct certo_op_result *r, struct certo_err *err);

/**
 * Preflight: appends one line per finding to 'report'. Changes nothing.
 * @return CERTO_OK when everything needed is there, else the first problem's code.
 */
CERTO_MUST_CHECK certo_rc certo_install_check(struct certo_registry *reg,
                                              const struct certo_endpoint *ep,
                                              struct certo_buf *report, struct certo_err *err);

/**
 * Rolls back (or, when it had committed, finishes) an interrupted transaction of 'ep',
 * if there is one, under the lock. Every other operation calls it first.
 */
CERTO_MUST_CHECK certo_rc certo_install_recover(struct certo_registry *reg,
                                                const struct certo_endpoint *ep,
                                                enum certo_recovery *out, struct certo_err *err);

/**
 * Before an endpoint leaves the registry: rolls back an interrupted transaction (its files
 * must not stay half-changed with nobody left to finish them), then deletes the
 * endpoint's backups (they hold private keys) and its lock file.
 * @return CERTO_OK; the recovery's error (the endpoint should then not be removed).
 */
CERTO_MUST_CHECK certo_rc certo_install_forget(struct certo_registry *reg,
                                               const struct certo_endpoint *ep,
                                               struct certo_err *err);

/* One history record. */
struct certo_history {
    int64_t id;
    char *kind;    /* "install", "rollback", "restart" */
    char *outcome; /* "running", "ok", "failed", "interrupted", "undone" */
    int64_t started_at, finished_at;
    char *alias, *fp_before, *fp_after, *step, *message, *output, *changes;
};

/** The history of 'ep', newest first. */
CERTO_MUST_CHECK certo_rc certo_install_history(struct certo_registry *reg,
                                                const struct certo_endpoint *ep,
                                                struct certo_history **out, size_t *n,
                                                struct certo_err *err);
void certo_history_list_free(struct certo_history *list, size_t n);

#endif
