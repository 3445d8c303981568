/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to the gateway layer: functions shared between its files.
 */
#ifndef CERTO_GATEWAY_INT_H
#define CERTO_GATEWAY_INT_H

#include "certo/buf.h"
#include "certo/registry.h"
#include "certo/store.h"

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

#endif
