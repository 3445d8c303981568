/* SPDX-License-Identifier: Apache-2.0 */
/* layer: gateway */
/*
 * The gateway's endpoint registry: endpoints and credential stores in the gateway's
 * SQLite database (DATA/gateway.db), their secrets sealed with AES-256-GCM under a key
 * kept beside it (DATA/secret.key, 0600, or CERTO_SECRET_KEY), never in it. Every change
 * is one transaction; several certo processes may use one registry at once.
 * A registry handle is used by one thread at a time.
 */
#ifndef CERTO_REGISTRY_H
#define CERTO_REGISTRY_H

#include "certo/endpoint.h"
#include "certo/err.h"
#include "certo/secret.h"

struct certo_registry;

/** The environment variable that may hold the secret key (64 hex digits). */
#define CERTO_SECRET_KEY_ENV "CERTO_SECRET_KEY"

/**
 * The gateway's data directory: 'explicit' when not NULL, else $CERTO_HOME, else
 * /var/lib/certo for root, else $XDG_DATA_HOME/certo or ~/.local/share/certo.
 * @return a new string.
 */
char *certo_registry_default_dir(const char *explicit_dir);

/**
 * Opens the registry in 'dir', creating the directory (0700) and the database when
 * missing. The secret key is loaded (or created) only when a secret is sealed or opened.
 * @return CERTO_OK; CERTO_EPERM, CERTO_ENOTFOUND, CERTO_EIO, CERTO_EUNSUPPORTED.
 */
CERTO_MUST_CHECK certo_rc certo_registry_open(struct certo_registry **out, const char *dir,
                                              struct certo_err *err);
void certo_registry_close(struct certo_registry *reg);
/** The data directory of an open registry (borrowed). */
const char *certo_registry_dir(const struct certo_registry *reg);

/** The secrets of an endpoint, indexed by enum certo_ep_field; NULL where not given. */
struct certo_ep_secrets {
    struct certo_secret *s[CERTO_F__COUNT]; /* borrowed on input, owned on output */
};
/** Frees the secrets an output struct owns. */
void certo_ep_secrets_dispose(struct certo_ep_secrets *s);
/** Bit (1u << field) for each secret present. */
unsigned certo_ep_secrets_mask(const struct certo_ep_secrets *s);

/**
 * Adds a validated endpoint: assigns its instance ID (written into ep->id) and the
 * times, seals the given secrets, inserts it. A credential store it names must exist.
 * @return CERTO_OK; CERTO_EEXIST (name taken, case-insensitively);
 *         CERTO_ENOTFOUND (no such credential store).
 */
CERTO_MUST_CHECK certo_rc certo_registry_add(struct certo_registry *reg, struct certo_endpoint *ep,
                                             const struct certo_ep_secrets *sec,
                                             struct certo_err *err);

/**
 * Finds an endpoint by instance ID or by name (case-insensitive).
 * @return CERTO_OK with *out filled (dispose it); CERTO_ENOTFOUND.
 */
CERTO_MUST_CHECK certo_rc certo_registry_get(struct certo_registry *reg, const char *name_or_id,
                                             struct certo_endpoint *out, struct certo_err *err);

/** Lists every endpoint ordered by name. *out is an owned array of *n endpoints. */
CERTO_MUST_CHECK certo_rc certo_registry_list(struct certo_registry *reg,
                                              struct certo_endpoint **out, size_t *n,
                                              struct certo_err *err);
/** Frees a list from certo_registry_list. */
void certo_registry_list_free(struct certo_endpoint *list, size_t n);

/**
 * Replaces the stored values of endpoint ep->id with 'ep' (validated by the caller).
 * Secrets: a secret in 'sec' replaces the stored one; a field with bit set in 'clear'
 * is removed; others are kept. ep->secrets is updated.
 * @return CERTO_OK; CERTO_ENOTFOUND; CERTO_EEXIST (new name taken).
 */
CERTO_MUST_CHECK certo_rc certo_registry_update(struct certo_registry *reg,
                                                struct certo_endpoint *ep,
                                                const struct certo_ep_secrets *sec, unsigned clear,
                                                struct certo_err *err);

/** Removes endpoint 'id'. @return CERTO_OK; CERTO_ENOTFOUND. */
CERTO_MUST_CHECK certo_rc certo_registry_remove(struct certo_registry *reg, const char *id,
                                                struct certo_err *err);

/**
 * Opens the stored secret 'field' of endpoint 'ep'.
 * @return CERTO_OK with *out owned by the caller (NULL when none is stored);
 *         CERTO_EAUTH (the secret key does not open it).
 */
CERTO_MUST_CHECK certo_rc certo_registry_secret(struct certo_registry *reg,
                                                const struct certo_endpoint *ep,
                                                enum certo_ep_field field,
                                                struct certo_secret **out, struct certo_err *err);

/* ---- credential stores ---- */

enum certo_credstore_type {
    CERTO_CREDSTORE_EXEC = 1, /* a program: credential ID on stdin, JSON on stdout */
    CERTO_CREDSTORE_FILE = 2, /* a 0600 JSON file: {"ID": {"user": ..., ...}, ...} */
};

struct certo_credstore {
    char *name;
    enum certo_credstore_type type;
    char *target; /* the program or the file, absolute */
    int64_t created_at;
};

void certo_credstore_dispose(struct certo_credstore *cs);
const char *certo_credstore_type_name(enum certo_credstore_type t);
bool certo_credstore_type_parse(const char *s, enum certo_credstore_type *out);

/**
 * Adds a credential store after checking it: a name of 1-32 characters, an absolute
 * 'target' (made absolute against the current directory), an executable program or a
 * JSON file that only its owner may read.
 * @return CERTO_OK; CERTO_EINVAL; CERTO_EEXIST; CERTO_ENOTFOUND; CERTO_EPERM.
 */
CERTO_MUST_CHECK certo_rc certo_registry_store_add(struct certo_registry *reg,
                                                   struct certo_credstore *cs,
                                                   struct certo_err *err);
CERTO_MUST_CHECK certo_rc certo_registry_store_get(struct certo_registry *reg, const char *name,
                                                   struct certo_credstore *out,
                                                   struct certo_err *err);
CERTO_MUST_CHECK certo_rc certo_registry_store_list(struct certo_registry *reg,
                                                    struct certo_credstore **out, size_t *n,
                                                    struct certo_err *err);
void certo_registry_store_list_free(struct certo_credstore *list, size_t n);
/** Removes a store no endpoint uses. @return CERTO_ENOTFOUND; CERTO_ECONFLICT (in use). */
CERTO_MUST_CHECK certo_rc certo_registry_store_remove(struct certo_registry *reg, const char *name,
                                                      struct certo_err *err);

/** Credentials for one connection; every member owned, NULL when not supplied. */
struct certo_credential {
    char *user;
    struct certo_secret *password;
    char *ssh_key_path;           /* a key file on the gateway */
    struct certo_secret *ssh_key; /* or the key itself (OpenSSH or PEM text) */
    struct certo_secret *ssh_key_password;
};
void certo_credential_dispose(struct certo_credential *c);

/**
 * Fetches credential 'id' from store 'cs': runs the program (ID and a newline on stdin,
 * 30 s deadline, JSON object on stdout) or reads the file (refused if group or others
 * may read it). Members: "user", "password", "ssh_key_path", "ssh_key",
 * "ssh_key_password"; at least a password or a key. Nothing fetched is kept or logged.
 * @return CERTO_OK; CERTO_ENOTFOUND (no such ID); CERTO_EPARSE (bad JSON);
 *         CERTO_EPERM (file too open); CERTO_EREMOTE (the program failed).
 */
CERTO_MUST_CHECK certo_rc certo_credstore_fetch(const struct certo_credstore *cs, const char *id,
                                                struct certo_credential *out,
                                                struct certo_err *err);

/**
 * The credentials of endpoint 'ep': its own (user, unsealed password, key path and key
 * password), or those of its credential store fetched now (an endpoint --user overrides
 * the store's).
 */
CERTO_MUST_CHECK certo_rc certo_registry_credential(struct certo_registry *reg,
                                                    const struct certo_endpoint *ep,
                                                    struct certo_credential *out,
                                                    struct certo_err *err);

#endif
