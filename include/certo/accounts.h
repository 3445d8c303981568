/* SPDX-License-Identifier: Apache-2.0 */
/* layer: server */
/*
 * Who may use the server: organizations, their departments, users with one role each
 * and a scope (none, an organization, or a department of one), and the record of every
 * token issued (for revocation). Plain storage with validation; the access rules that
 * decide what a caller may do with these rows live in the API layer (docs/server.md,
 * "Access"). Every change is one write transaction: on failure nothing is stored.
 * Threading: a database handle belongs to one thread.
 */
#ifndef CERTO_ACCOUNTS_H
#define CERTO_ACCOUNTS_H

#include <stdint.h>
#include <time.h>

#include "certo/err.h"
#include "certo/secret.h"
#include "certo/store.h"

#define CERTO_NAME_MAX   64   /* user, organization and department names, bytes */
#define CERTO_JTI_LEN    32   /* token ids: 32 lower-case hex digits */
#define CERTO_LIST_MAX   1000 /* rows per page */
#define CERTO_ADMIN_FILE "initial-admin.txt"
#define CERTO_ADMIN_NAME "admin"

enum certo_role {
    CERTO_ROLE_ADMIN = 0,  /* everything; no scope */
    CERTO_ROLE_ORG_ADMIN,  /* manages one organization: its departments and users */
    CERTO_ROLE_DEPT_ADMIN, /* manages the users of one department */
    CERTO_ROLE_OPERATOR,   /* acts on the objects of its organization or department */
    CERTO_ROLE_AUDITOR,    /* reads, within its scope (no scope: everything) */
};

/** "admin", "org-admin", "dept-admin", "operator", "auditor". */
const char *certo_role_name(enum certo_role r);
/** @return CERTO_OK or CERTO_EINVAL (the message lists the role names). */
CERTO_MUST_CHECK certo_rc certo_role_parse(enum certo_role *out, const char *s,
                                           struct certo_err *err);

struct certo_org {
    int64_t id;
    char name[CERTO_NAME_MAX + 1];
    int64_t created_at;
};

struct certo_dept {
    int64_t id;
    int64_t org_id;
    char name[CERTO_NAME_MAX + 1];
    int64_t created_at;
};

struct certo_user {
    int64_t id;
    char name[CERTO_NAME_MAX + 1];
    enum certo_role role;
    int64_t org_id;  /* 0: none */
    int64_t dept_id; /* 0: none */
    bool has_password;
    bool disabled;
    int64_t created_at;
};

/** One page of a listing: items from 'start', at most 'max'; 'total' counts every row. */
struct certo_page {
    int64_t start;
    int64_t max;
    int64_t total;
    size_t n;
};

/*
 * Names: 1..64 bytes of printable ASCII without leading or trailing space; user names
 * also only letters, digits and . _ @ - (they appear in tokens and logs).
 * @return CERTO_OK or CERTO_EINVAL naming 'what'.
 */
CERTO_MUST_CHECK certo_rc certo_name_check(const char *name, bool user, const char *what,
                                           struct certo_err *err);

/* ---- organizations ---- */

/** @return CERTO_OK with *id; CERTO_EINVAL (name); CERTO_EEXIST (taken). */
CERTO_MUST_CHECK certo_rc certo_org_add(struct certo_db *db, const char *name, int64_t *id,
                                        struct certo_err *err);
/** @return CERTO_OK; CERTO_ENOTFOUND. */
CERTO_MUST_CHECK certo_rc certo_org_get(struct certo_db *db, int64_t id, struct certo_org *out,
                                        struct certo_err *err);
CERTO_MUST_CHECK certo_rc certo_org_find(struct certo_db *db, const char *name,
                                         struct certo_org *out, struct certo_err *err);
/** @return CERTO_OK; CERTO_ENOTFOUND; CERTO_EINVAL; CERTO_EEXIST. */
CERTO_MUST_CHECK certo_rc certo_org_rename(struct certo_db *db, int64_t id, const char *name,
                                           struct certo_err *err);
/** Refused (CERTO_ECONFLICT) while departments or users belong to it. */
CERTO_MUST_CHECK certo_rc certo_org_remove(struct certo_db *db, int64_t id, struct certo_err *err);
/**
 * A page of organizations ordered by id; 'only' > 0 restricts to that one.
 * 'items' holds page->max entries.
 */
CERTO_MUST_CHECK certo_rc certo_org_list(struct certo_db *db, int64_t only, struct certo_page *page,
                                         struct certo_org *items, struct certo_err *err);

/* ---- departments ---- */

/** @return CERTO_OK; CERTO_ENOTFOUND (no such organization); CERTO_EINVAL; CERTO_EEXIST. */
CERTO_MUST_CHECK certo_rc certo_dept_add(struct certo_db *db, int64_t org_id, const char *name,
                                         int64_t *id, struct certo_err *err);
CERTO_MUST_CHECK certo_rc certo_dept_get(struct certo_db *db, int64_t id, struct certo_dept *out,
                                         struct certo_err *err);
CERTO_MUST_CHECK certo_rc certo_dept_find(struct certo_db *db, int64_t org_id, const char *name,
                                          struct certo_dept *out, struct certo_err *err);
CERTO_MUST_CHECK certo_rc certo_dept_rename(struct certo_db *db, int64_t id, const char *name,
                                            struct certo_err *err);
/** Refused (CERTO_ECONFLICT) while users belong to it. */
CERTO_MUST_CHECK certo_rc certo_dept_remove(struct certo_db *db, int64_t id, struct certo_err *err);
/** Departments ordered by id; org_id > 0 and dept_id > 0 narrow the listing. */
CERTO_MUST_CHECK certo_rc certo_dept_list(struct certo_db *db, int64_t org_id, int64_t dept_id,
                                          struct certo_page *page, struct certo_dept *items,
                                          struct certo_err *err);

/* ---- users ---- */

/**
 * Checks that a role fits its scope: admin has none; org-admin an organization and no
 * department; dept-admin both; operator an organization, maybe a department; auditor
 * none, or as an operator. The department must belong to the organization.
 * @return CERTO_OK; CERTO_EINVAL naming "org" or "department"; CERTO_ENOTFOUND.
 */
CERTO_MUST_CHECK certo_rc certo_user_scope_check(struct certo_db *db, enum certo_role role,
                                                 int64_t org_id, int64_t dept_id,
                                                 struct certo_err *err);
/**
 * Adds a user. 'pw' NULL: no password (only tokens from a trusted external issuer).
 * @return CERTO_OK with *id; CERTO_EINVAL; CERTO_EEXIST (name taken); CERTO_ENOTFOUND.
 */
CERTO_MUST_CHECK certo_rc certo_user_add(struct certo_db *db, const char *name,
                                         enum certo_role role, int64_t org_id, int64_t dept_id,
                                         const struct certo_secret *pw, int64_t *id,
                                         struct certo_err *err);
CERTO_MUST_CHECK certo_rc certo_user_get(struct certo_db *db, int64_t id, struct certo_user *out,
                                         struct certo_err *err);
CERTO_MUST_CHECK certo_rc certo_user_find(struct certo_db *db, const char *name,
                                          struct certo_user *out, struct certo_err *err);
/**
 * Checks a password login. The same CERTO_EAUTH "wrong user name or password" for an
 * unknown user, a disabled one, one without a password and a wrong password; an unknown
 * user costs one hash too, so timing does not tell them apart.
 */
CERTO_MUST_CHECK certo_rc certo_user_login(struct certo_db *db, const char *name,
                                           const struct certo_secret *pw, struct certo_user *out,
                                           struct certo_err *err);
/** Sets (or with NULL clears) the password and revokes every token of the user. */
CERTO_MUST_CHECK certo_rc certo_user_set_password(struct certo_db *db, int64_t id,
                                                  const struct certo_secret *pw,
                                                  struct certo_err *err);
/**
 * Changes role and scope (checked as for add) and the disabled flag; revokes the user's
 * tokens when anything changed. Refused (CERTO_ECONFLICT) when it would leave no enabled
 * admin.
 */
CERTO_MUST_CHECK certo_rc certo_user_update(struct certo_db *db, int64_t id, enum certo_role role,
                                            int64_t org_id, int64_t dept_id, bool disabled,
                                            struct certo_err *err);
/** Removes a user and its token records. Refused (CERTO_ECONFLICT) for the last admin. */
CERTO_MUST_CHECK certo_rc certo_user_remove(struct certo_db *db, int64_t id, struct certo_err *err);
/** Users ordered by id; org_id > 0 / dept_id > 0 narrow to a scope. */
CERTO_MUST_CHECK certo_rc certo_user_list(struct certo_db *db, int64_t org_id, int64_t dept_id,
                                          struct certo_page *page, struct certo_user *items,
                                          struct certo_err *err);

/**
 * The first start: when there is no user at all, creates CERTO_ADMIN_NAME with a new
 * random password and writes DIR/CERTO_ADMIN_FILE (0600, atomically) holding the name
 * and password. Nothing happens when any user exists.
 * @param created set to true when this call made the admin.
 */
CERTO_MUST_CHECK certo_rc certo_accounts_bootstrap(struct certo_db *db, const char *dir,
                                                   bool *created, struct certo_err *err);

/* ---- token records ---- */

enum certo_token_kind {
    CERTO_TOKEN_PRINCIPAL = 0,
    CERTO_TOKEN_DELEGATE,
};

struct certo_token_rec {
    char jti[CERTO_JTI_LEN + 1];
    int64_t user_id;
    enum certo_token_kind kind;
    int64_t issued_at;
    int64_t expires_at;
    int64_t revoked_at;                    /* 0: not revoked */
    char audience[CERTO_NAME_MAX * 4 + 1]; /* delegate tokens; else empty */
    bool bound;                            /* holder-of-key (cnf) */
};

/** A new random token id. */
CERTO_MUST_CHECK certo_rc certo_token_new_jti(char out[CERTO_JTI_LEN + 1], struct certo_err *err);
/** Records an issued token. Expired records are purged on the way. */
CERTO_MUST_CHECK certo_rc certo_token_record(struct certo_db *db, const struct certo_token_rec *rec,
                                             time_t now, struct certo_err *err);
/**
 * Checks that a token id was issued for 'user_id', is not revoked and not expired.
 * @return CERTO_OK; CERTO_EAUTH ("token revoked", "unknown token", "token expired").
 */
CERTO_MUST_CHECK certo_rc certo_token_check(struct certo_db *db, const char *jti, int64_t user_id,
                                            time_t now, struct certo_err *err);
/** Loads a record. @return CERTO_OK; CERTO_ENOTFOUND. */
CERTO_MUST_CHECK certo_rc certo_token_get(struct certo_db *db, const char *jti,
                                          struct certo_token_rec *out, struct certo_err *err);
/** Revokes one token. @return CERTO_OK (also when already revoked); CERTO_ENOTFOUND. */
CERTO_MUST_CHECK certo_rc certo_token_revoke(struct certo_db *db, const char *jti, time_t now,
                                             struct certo_err *err);
/** Live (not expired) tokens; user_id > 0 narrows to one user. Ordered by issue time. */
CERTO_MUST_CHECK certo_rc certo_token_list(struct certo_db *db, int64_t user_id, time_t now,
                                           struct certo_page *page, struct certo_token_rec *items,
                                           struct certo_err *err);

#endif
