/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to the client layer: the pure checks and translations of session.c, split
 * out so the unit tests can reach them without a server.
 */
#ifndef CERTO_CLIENT_INTERNAL_H
#define CERTO_CLIENT_INTERNAL_H

#include <stddef.h>

#include "certo/client.h"

#define CERTO_CLIENT_URL_MAX 2048

/**
 * Checks a server URL (https only, no user:password@, no query or fragment, path empty
 * or /vco/api) and gives the API base "https://HOST[:PORT]/vco/api" (certo_free).
 * @return CERTO_OK; CERTO_EINVAL with a message naming what is wrong.
 */
CERTO_MUST_CHECK certo_rc certo_client__url_parse(char **base_out, const char *url,
                                                  struct certo_err *err);

/**
 * Checks a call path: starts with '/', printable ASCII without spaces, no ".." segment,
 * no "//" and no scheme. @return CERTO_OK; CERTO_EINVAL.
 */
CERTO_MUST_CHECK certo_rc certo_client__path_check(const char *path, struct certo_err *err);

/**
 * Normalizes a SHA-256 certificate fingerprint (64 hex digits, any case, colons
 * optional between pairs) into upper-case pairs joined by ':' ('out', 96 bytes).
 * @return true when 'text' is one.
 */
bool certo_client__pin_parse(char out[96], const char *text);

/**
 * The error of an HTTP answer with status >= 400: the code from the status (and the
 * "code" member: 409 "exists" is CERTO_EEXIST, "invalid_grant" CERTO_EAUTH), and the
 * message "field: message" from a JSON error body {"error":{"code","message","field"}}
 * (the field is not repeated when the message starts with it), else "HTTP <status>".
 * @return the code, also recorded in 'err'.
 */
certo_rc certo_client__error_from_body(int status, const void *body, size_t len,
                                       struct certo_err *err);

#endif
