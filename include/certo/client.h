/* SPDX-License-Identifier: Apache-2.0 */
/* layer: client */
/*
 * A session with a remote `certo server` (the client side of issue 7, seed 003's
 * "session from a URL and credentials, then calls"). A session is opened from an
 * https:// URL and one credential (a bearer token, or a user name and password, for
 * which it asks POST /vco/api/auth/token itself), optionally presents a client
 * certificate (holder-of-key tokens are bound to it), and then makes JSON calls on
 * paths relative to /vco/api.
 *
 * The server is always verified: against the system store, a CA or pinned certificate
 * file, or the SHA-256 fingerprint of its certificate. There is no switch to turn
 * verification off. Redirects are not followed, no proxy is used (not even one named in
 * the environment), every call has a connect and a total deadline and a cap on the
 * response size. The token lives in a struct certo_secret and is wiped when the session
 * is closed; neither it nor the password ever appears in an error message.
 *
 * Threading: a session is used by one thread at a time.
 */
#ifndef CERTO_CLIENT_H
#define CERTO_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "certo/err.h"
#include "certo/secret.h"

#define CERTO_CLIENT_CONNECT_TIMEOUT_MS 10000
#define CERTO_CLIENT_TIMEOUT_MS         60000
#define CERTO_CLIENT_RESPONSE_MAX       (16u * 1024 * 1024)
#define CERTO_CLIENT_API_PATH           "/vco/api"

/** How to reach and authenticate to a server. Every member is borrowed for the open. */
struct certo_session_opts {
    /* https://HOST[:PORT][/vco/api][/]; http:// and user:password@ are refused. */
    const char *url;
    /* One credential: a token, or a user and a password (the session then logs in). */
    const struct certo_secret *token;
    const char *user;
    const struct certo_secret *password;
    int token_ttl; /* seconds asked for at a login (60-28800), 0: the server's default */
    /* A client certificate (PEM) presented on every connection, and its unencrypted key
     * (PEM; NULL: the key is in client_cert). A login then gets a token bound to it. */
    const char *client_cert;
    const char *client_key;
    /* Or the client certificate (and its chain) as PEM text, and its unencrypted key as
     * PEM in a secret: both are copied into the session and handed to libcurl from
     * memory, so no clear key file is ever needed (a gateway's enrolled key). Not with
     * client_cert. */
    const char *client_cert_pem;
    const struct certo_secret *client_key_pem;
    /* No token at all: the calls are public (a gateway's enrollment) or authenticated by
     * the client certificate alone (a gateway's own calls). Not with token or user. */
    bool no_credential;
    /* Optional: asked about once a second while a call waits; true abandons the call,
     * which then returns CERTO_EAGAIN with nothing recorded in err (a daemon's stop). */
    bool (*stop)(void *arg);
    void *stop_arg;
    /* How the server is verified, at most one of: a PEM file of CA or pinned server
     * certificates (the only ones trusted), or the SHA-256 fingerprint of the server's
     * certificate (64 hex digits, colons optional). Neither: the system store. The host
     * name is checked in every case. */
    const char *ca_file;
    const char *fingerprint;
    int connect_timeout_ms; /* 0: CERTO_CLIENT_CONNECT_TIMEOUT_MS */
    int timeout_ms;         /* a whole call; 0: CERTO_CLIENT_TIMEOUT_MS */
    size_t response_max;    /* bytes of one response body; 0: CERTO_CLIENT_RESPONSE_MAX */
};

struct certo_session;

/**
 * Opens a session: checks the options, sets up the connection policy and, for a user
 * and password, logs in (POST /auth/token) so that the session holds a token.
 * @param out the new session (close with certo_session_close); NULL on failure.
 * @return CERTO_OK; CERTO_EINVAL (a bad URL or option, naming it), CERTO_EAUTH (the
 *         login was refused), CERTO_ETLS (the server failed verification), CERTO_ENET,
 *         CERTO_ETIMEDOUT, CERTO_EREMOTE (a server error).
 */
CERTO_MUST_CHECK certo_rc certo_session_open(struct certo_session **out,
                                             const struct certo_session_opts *opts,
                                             struct certo_err *err);

/**
 * One call: 'method' ("GET", "POST", "PUT", "PATCH", "DELETE") on 'path', relative to
 * /vco/api ("/users/?startIndex=0"), with 'body' sent as JSON when not NULL.
 * @param out the parsed JSON answer of a 2xx (NULL for an empty body, e.g. 204); may
 *            be NULL when the caller does not want it. Always NULL on failure.
 * @param status the HTTP status, 0 when none was received; may be NULL.
 * @return CERTO_OK for a 2xx. An error answer becomes CERTO_EINVAL (400, 415),
 *         CERTO_EAUTH (401, or a refused grant), CERTO_EPERM (403), CERTO_ENOTFOUND
 *         (404), CERTO_EEXIST or CERTO_ECONFLICT (409), CERTO_ETOOBIG (413),
 *         CERTO_EREMOTE (5xx and the rest), with the server's message as
 *         "field: message" in err->msg. Transport failures: CERTO_ETLS, CERTO_ENET,
 *         CERTO_ETIMEDOUT, CERTO_ETOOBIG (the response cap).
 */
CERTO_MUST_CHECK certo_rc certo_session_call(struct certo_session *s, const char *method,
                                             const char *path, const json_t *body, json_t **out,
                                             int *status, struct certo_err *err);

/** The session's token (borrowed, lives as long as the session): for `certo login`. */
const struct certo_secret *certo_session_token_get0(const struct certo_session *s);

/** Seconds the token of a login lives, as the server said; 0 for a given token. */
int certo_session_token_ttl(const struct certo_session *s);

/**
 * The SHA-256 fingerprint ("AB:CD:...") of the certificate the server showed in the last
 * handshake that passed verification, "" before one (borrowed). With a CA file this is
 * what a client pins for later sessions.
 */
const char *certo_session_server_fp_get0(const struct certo_session *s);

/** The base URL of the API, "https://host:port/vco/api" (borrowed). */
const char *certo_session_url_get0(const struct certo_session *s);

/** Closes the connection and wipes the token; NULL is a no-op. */
void certo_session_close(struct certo_session *s);

#endif
