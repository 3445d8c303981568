/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to the gateway layer: functions shared between its files.
 */
#ifndef CERTO_GATEWAY_INT_H
#define CERTO_GATEWAY_INT_H

#include "certo/buf.h"
#include "certo/install.h"
#include "certo/registry.h"
#include "certo/store.h"
#include "certo/sys/connector.h"

/*
 * Checks a credential store definition before it is stored: name 1-32 characters
 * without control characters; 'target' made absolute; an executable regular file for
 * exec, a JSON object file that neither group nor others may read for file.
 */
certo_rc certo_credstore__check(struct certo_credstore *cs, struct certo_err *err);

/*
 * Parsers behind certo_credstore_fetch, split out so that they can be fuzzed: a file
 * store's document ('data', a JSON object of credentials keyed by ID) and an exec store's
 * answer (one credential object). 'what' names the source in messages.
 */
certo_rc certo_credstore__parse_file(const struct certo_buf *data, const char *id, const char *what,
                                     struct certo_credential *out, struct certo_err *err);
certo_rc certo_credstore__parse_answer(const struct certo_buf *data, const char *what,
                                       struct certo_credential *out, struct certo_err *err);

/* The registry's database handle (borrowed), for the install history. */
struct certo_db *certo_registry__db(struct certo_registry *reg);

/*
 * An open connection to one endpoint (install.c): its connector configured from the
 * registry's options, the transport, and the endpoint's lock (DATA/locks/<id>.lock),
 * which serializes every operation on the endpoint. One thread.
 */
struct certo_session {
    struct certo_registry *reg;            /* borrowed */
    const struct certo_endpoint *ep;       /* borrowed */
    const struct certo_connector_ops *ops; /* the endpoint type's connector */
    void *ctx;                             /* owned; ops->ctx_size bytes */
    bool configured;                       /* ops->configure succeeded: cleanup is due */
    struct certo_kv kv[CERTO_F__COUNT];    /* the options; values borrowed from 'ep' */
    struct certo_connector_cfg cfg;        /* what the connector was configured with */
    struct certo_secret *store_pw;         /* owned; NULL when none is stored */
    struct certo_transport *t;             /* owned */
    int lock_fd;                           /* the held lock file, -1 when none */
    char *jdir;                            /* owned; DATA/journal/<id> */
    char *bdir;                            /* owned; DATA/backups/<id> */
};

/*
 * Opens a session on 'ep' and waits for its lock. 's' must be closed with
 * certo_install__close whatever this returns. 'script_timeout_ms' 0: the default.
 * @return CERTO_OK; CERTO_EUNSUPPORTED (no connector, or a connection type not available).
 */
certo_rc certo_install__open(struct certo_session *s, struct certo_registry *reg,
                             const struct certo_endpoint *ep, int script_timeout_ms,
                             struct certo_err *err);
/* Releases the connector, the transport and the lock. */
void certo_install__close(struct certo_session *s);
/* Under the lock: rolls back (or finishes) an interrupted transaction of s->ep, if any. */
certo_rc certo_install__recover(struct certo_session *s, enum certo_recovery *out,
                                struct certo_err *err);
/*
 * The files install 'hist' of 'ep' wrote (as resolved when it ran), read from its backup
 * manifest; none (*n 0) when the backup is gone (pruned or rolled back). *paths is a new
 * array of new strings.
 */
certo_rc certo_install__written(char ***paths, size_t *n, struct certo_registry *reg,
                                const struct certo_endpoint *ep, int64_t hist,
                                struct certo_err *err);

#endif
