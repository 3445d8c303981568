/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The endpoint registry (gateway layer) on the store interface. One row per endpoint,
 * one column per option of the field table; secret options are sealed with the row's
 * instance ID and the option name as associated data, so a sealed value moved to
 * another row or column does not open. Values are bound, never spliced into SQL.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "certo/buf.h"
#include "certo/clock.h"
#include "certo/file.h"
#include "certo/limits.h"
#include "certo/mem.h"
#include "certo/registry.h"
#include "certo/seal.h"
#include "certo/store.h"
#include "gateway/gateway.h"

#define SQL_MAX    4096
#define SEALED_MAX (CERTO_SECRET_MAX + CERTO_SEAL_OVERHEAD)

struct certo_registry {
    char *dir;
    struct certo_db *db;
    struct certo_seal_key *key; /* loaded on first use */
};

static const struct certo_migration migrations[] = {
    {1, "endpoints and credential stores",
     "CREATE TABLE credential_stores ("
     " name TEXT PRIMARY KEY,"
     " name_key TEXT NOT NULL UNIQUE,"
     " type TEXT NOT NULL,"
     " target TEXT NOT NULL,"
     " created_at INTEGER NOT NULL);"
     "CREATE TABLE endpoints ("
     " id TEXT PRIMARY KEY,"
     " type TEXT NOT NULL,"
     " name TEXT NOT NULL,"
     " name_key TEXT NOT NULL UNIQUE,"
     " connection_type TEXT NOT NULL,"
     " host TEXT,"
     " port INTEGER,"
     " username TEXT,"
     " password BLOB,"
     " ssh_key_path TEXT,"
     " ssh_key_password BLOB,"
     " store TEXT REFERENCES credential_stores(name),"
     " store_cred_id TEXT,"
     " apachectl_path TEXT,"
     " tomcat_dir TEXT,"
     " nginx_config_path TEXT,"
     " path TEXT,"
     " store_password BLOB,"
     " install_script TEXT,"
     " restart_script TEXT,"
     " is_legacy INTEGER,"
     " created_at INTEGER NOT NULL,"
     " updated_at INTEGER NOT NULL);"},
    {2, "install history",
     "CREATE TABLE installs ("
     " id INTEGER PRIMARY KEY,"
     " endpoint_id TEXT NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE,"
     " kind TEXT NOT NULL,"
     " outcome TEXT NOT NULL,"
     " started_at INTEGER NOT NULL,"
     " finished_at INTEGER,"
     " alias TEXT,"
     " fp_before TEXT,"
     " fp_after TEXT,"
     " step TEXT,"
     " message TEXT,"
     " output TEXT,"
     " changes TEXT,"
     " undoes INTEGER);"
     "CREATE INDEX installs_endpoint ON installs(endpoint_id, id);"},
    {3, "discovery: nodes of endpoints, network scans",
     "CREATE TABLE nodes ("
     " id INTEGER PRIMARY KEY,"
     " endpoint_id TEXT NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE,"
     " seq INTEGER NOT NULL,"
     " name TEXT NOT NULL,"
     " alias TEXT,"
     " vendor TEXT NOT NULL,"
     " protocol TEXT,"
     " address TEXT,"
     " port INTEGER,"
     " sni TEXT,"
     " source TEXT,"
     " state TEXT NOT NULL,"
     " reason TEXT,"
     " fingerprint TEXT,"
     " subject TEXT,"
     " issuer TEXT,"
     " not_after INTEGER,"
     " problems TEXT,"
     " ssl TEXT,"
     " drift INTEGER NOT NULL DEFAULT 0,"
     " installed TEXT,"
     " discovered_at INTEGER NOT NULL);"
     "CREATE INDEX nodes_endpoint ON nodes(endpoint_id, seq);"
     "CREATE TABLE node_discoveries ("
     " endpoint_id TEXT PRIMARY KEY REFERENCES endpoints(id) ON DELETE CASCADE,"
     " discovered_at INTEGER NOT NULL,"
     " nodes INTEGER NOT NULL);"
     "CREATE TABLE scans ("
     " id INTEGER PRIMARY KEY,"
     " started_at INTEGER NOT NULL,"
     " finished_at INTEGER,"
     " targets TEXT NOT NULL,"
     " ports TEXT NOT NULL,"
     " sni TEXT,"
     " outcome TEXT NOT NULL,"
     " hosts INTEGER NOT NULL DEFAULT 0,"
     " probes INTEGER NOT NULL DEFAULT 0,"
     " open INTEGER NOT NULL DEFAULT 0,"
     " tls INTEGER NOT NULL DEFAULT 0,"
     " http INTEGER NOT NULL DEFAULT 0,"
     " other INTEGER NOT NULL DEFAULT 0,"
     " closed INTEGER NOT NULL DEFAULT 0,"
     " silent INTEGER NOT NULL DEFAULT 0,"
     " unresolved INTEGER NOT NULL DEFAULT 0);"
     "CREATE TABLE scan_results ("
     " id INTEGER PRIMARY KEY,"
     " scan_id INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,"
     " target TEXT NOT NULL,"
     " address TEXT NOT NULL,"
     " port INTEGER NOT NULL,"
     " sni TEXT,"
     " kind TEXT NOT NULL,"
     " detail TEXT,"
     " version TEXT,"
     " cipher TEXT,"
     " fingerprint TEXT,"
     " subject TEXT,"
     " issuer TEXT,"
     " sans TEXT,"
     " not_before INTEGER,"
     " not_after INTEGER,"
     " key TEXT,"
     " self_signed INTEGER,"
     " verify TEXT,"
     " chain TEXT);"
     "CREATE INDEX scan_results_scan ON scan_results(scan_id, id);"},
};

/* Column of each field: the option name, but "user" is reserved in SQL. */
static const char *
column(enum certo_ep_field f)
{
    return f == CERTO_F_USER ? "username" : certo_ep_field_info(f)->name;
}

static bool
is_secret(int f)
{
    return certo_ep_field_info((enum certo_ep_field)f)->kind == CERTO_FK_SECRET;
}

/* Names compare case-insensitively (ASCII), through a folded copy with its own index. */
static char *
name_key(const char *name)
{
    char *k = certo_strdup(name);
    for (char *p = k; *p != '\0'; p++) {
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    }
    return k;
}

char *
certo_registry_default_dir(const char *explicit_dir)
{
    const char *v;

    if (explicit_dir != NULL)
        return certo_strdup(explicit_dir);
    v = getenv("CERTO_HOME");
    if (v != NULL && v[0] != '\0')
        return certo_strdup(v);
    if (geteuid() == 0)
        return certo_strdup("/var/lib/certo");
    v = getenv("XDG_DATA_HOME");
    if (v != NULL && v[0] == '/')
        return certo_asprintf("%s/certo", v);
    v = getenv("HOME");
    return certo_asprintf("%s/.local/share/certo", v != NULL ? v : ".");
}

certo_rc
certo_registry_open(struct certo_registry **out, const char *dir, struct certo_err *err)
{
    struct certo_registry *reg = NULL;
    char *dbpath = NULL;
    certo_rc rc = CERTO_EINTERNAL;

    *out = NULL;
    rc = certo_file_mkdirs(dir, 0700);
    if (rc != CERTO_OK) {
        rc = certo_err_sys(err, rc, "gateway.registry", "cannot create data directory %s", dir);
        goto out;
    }
    reg = certo_calloc(1, sizeof(*reg));
    reg->dir = certo_strdup(dir);
    dbpath = certo_asprintf("%s/gateway.db", dir);
    rc = certo_db_open(&reg->db, dbpath, migrations, CERTO_ARRAY_LEN(migrations), err);
    if (rc != CERTO_OK)
        goto out;
    *out = reg;
    reg = NULL;
out:
    certo_free(dbpath);
    certo_registry_close(reg);
    return rc;
}

void
certo_registry_close(struct certo_registry *reg)
{
    if (reg == NULL)
        return;
    certo_db_close(reg->db);
    certo_seal_key_free(reg->key);
    certo_free(reg->dir);
    certo_free(reg);
}

const char *
certo_registry_dir(const struct certo_registry *reg)
{
    return reg->dir;
}

struct certo_db *
certo_registry__db(struct certo_registry *reg)
{
    return reg->db;
}

static certo_rc
load_key(struct certo_registry *reg, bool create, struct certo_err *err)
{
    char *path;
    certo_rc rc;

    if (reg->key != NULL)
        return CERTO_OK;
    path = certo_asprintf("%s/secret.key", reg->dir);
    rc = certo_seal_key_load(&reg->key, path, CERTO_SECRET_KEY_ENV, create, err);
    certo_free(path);
    return rc;
}

void
certo_ep_secrets_dispose(struct certo_ep_secrets *s)
{
    for (int i = 0; i < CERTO_F__COUNT; i++) {
        certo_secret_free(s->s[i]);
        s->s[i] = NULL;
    }
}

unsigned
certo_ep_secrets_mask(const struct certo_ep_secrets *s)
{
    unsigned m = 0;
    for (int i = 0; i < CERTO_F__COUNT; i++) {
        if (s != NULL && s->s[i] != NULL)
            m |= 1u << i;
    }
    return m;
}

static char *
aad_for(const char *id, enum certo_ep_field f)
{
    return certo_asprintf("endpoint/%s/%s", id, certo_ep_field_info(f)->name);
}

/* Binds a field value with its column's type. */
static certo_rc
bind_field(struct certo_stmt *st, int idx, const struct certo_endpoint *ep, int f)
{
    const char *v = ep->val[f];
    enum certo_ep_kind kind = certo_ep_field_info((enum certo_ep_field)f)->kind;

    if (v == NULL)
        return certo_stmt_bind_null(st, idx);
    if (kind == CERTO_FK_INT)
        return certo_stmt_bind_int(st, idx, strtol(v, NULL, 10));
    if (kind == CERTO_FK_BOOL)
        return certo_stmt_bind_int(st, idx, strcmp(v, "true") == 0);
    return certo_stmt_bind_text(st, idx, v);
}

static certo_rc
bind_sealed(struct certo_registry *reg, struct certo_stmt *st, int idx, const char *id, int f,
            const struct certo_secret *s, struct certo_err *err)
{
    struct certo_buf sealed;
    char *aad = aad_for(id, (enum certo_ep_field)f);
    certo_rc rc;

    certo_buf_init(&sealed, SEALED_MAX);
    rc = load_key(reg, true, err);
    if (rc == CERTO_OK)
        rc = certo_seal(reg->key, aad, certo_secret_get0(s), certo_secret_len(s), &sealed, err);
    if (rc == CERTO_OK)
        rc = certo_stmt_bind_blob(st, idx, sealed.data, sealed.len);
    certo_buf_dispose(&sealed);
    certo_free(aad);
    return rc;
}

static certo_rc
sql_fail(certo_rc rc, struct certo_err *err)
{
    return certo_err_set(err, rc, "gateway.registry", "registry statement failed");
}

/* The ID of the endpoint holding 'key' as its name, for "already exists" messages. */
static void
holder_of(struct certo_registry *reg, const char *key, char *id_out, size_t cap)
{
    struct certo_stmt *st = NULL;
    struct certo_err ignore = {0};
    bool row = false;

    id_out[0] = '\0';
    if (certo_db_prepare(reg->db, &st, "SELECT id FROM endpoints WHERE name_key = $1", &ignore) !=
        CERTO_OK)
        return;
    if (certo_stmt_bind_text(st, 1, key) == CERTO_OK &&
        certo_stmt_step(st, &row, &ignore) == CERTO_OK && row)
        snprintf(id_out, cap, "%s", certo_stmt_text(st, 0));
    certo_stmt_free(st);
}

static certo_rc
store_exists(struct certo_registry *reg, struct certo_endpoint *ep, struct certo_err *err)
{
    struct certo_credstore cs = {0};
    certo_rc rc;

    if (ep->val[CERTO_F_STORE] == NULL)
        return CERTO_OK;
    rc = certo_registry_store_get(reg, ep->val[CERTO_F_STORE], &cs, err);
    if (rc == CERTO_OK)
        certo_endpoint_set(ep, CERTO_F_STORE, cs.name); /* its canonical spelling */
    certo_credstore_dispose(&cs);
    return rc;
}

certo_rc
certo_registry_add(struct certo_registry *reg, struct certo_endpoint *ep,
                   const struct certo_ep_secrets *sec, struct certo_err *err)
{
    struct certo_buf sql;
    struct certo_stmt *st = NULL;
    char *key = name_key(ep->val[CERTO_F_NAME]);
    char id[CERTO_UUID_STRLEN + 1];
    int64_t now = (int64_t)certo_clock_now();
    bool row = false;
    int idx = 5;
    certo_rc rc = CERTO_EINTERNAL;

    certo_buf_init(&sql, SQL_MAX);
    rc = certo_uuid_v4(id);
    if (rc != CERTO_OK) {
        rc = certo_err_set(err, rc, "gateway.registry", "no random bytes for an instance ID");
        goto out;
    }
    rc = certo_buf_append_str(&sql, "INSERT INTO endpoints (id, type, name_key, created_at, "
                                    "updated_at");
    for (int f = 0; rc == CERTO_OK && f < CERTO_F__COUNT; f++)
        rc = certo_buf_printf(&sql, ", %s", column((enum certo_ep_field)f));
    if (rc == CERTO_OK)
        rc = certo_buf_append_str(&sql, ") VALUES ($1, $2, $3, $4, $5");
    for (int f = 0; rc == CERTO_OK && f < CERTO_F__COUNT; f++)
        rc = certo_buf_printf(&sql, ", $%d", 6 + f);
    if (rc == CERTO_OK)
        rc = certo_buf_append_str(&sql, ")");
    if (rc != CERTO_OK)
        goto out;

    rc = certo_db_begin(reg->db, true, err);
    if (rc != CERTO_OK)
        goto out;
    rc = store_exists(reg, ep, err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_db_prepare(reg->db, &st, (const char *)sql.data, err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_stmt_bind_text(st, 1, id);
    if (rc == CERTO_OK)
        rc = certo_stmt_bind_text(st, 2, certo_ep_type_name(ep->type));
    if (rc == CERTO_OK)
        rc = certo_stmt_bind_text(st, 3, key);
    if (rc == CERTO_OK)
        rc = certo_stmt_bind_int(st, 4, now);
    if (rc == CERTO_OK)
        rc = certo_stmt_bind_int(st, 5, now);
    for (int f = 0; rc == CERTO_OK && f < CERTO_F__COUNT; f++) {
        idx = 6 + f;
        if (!is_secret(f))
            rc = bind_field(st, idx, ep, f);
        else if (sec != NULL && sec->s[f] != NULL)
            rc = bind_sealed(reg, st, idx, id, f, sec->s[f], err);
        else
            rc = certo_stmt_bind_null(st, idx);
    }
    if (rc != CERTO_OK) {
        rc = sql_fail(rc, err);
        goto out;
    }
    rc = certo_stmt_step(st, &row, err);
    if (rc == CERTO_EEXIST) {
        char holder[CERTO_UUID_STRLEN + 1];
        certo_err_clear(err);
        certo_stmt_free(st);
        st = NULL;
        holder_of(reg, key, holder, sizeof(holder));
        rc = certo_err_set(err, CERTO_EEXIST, "gateway.registry",
                           "--name '%s' is already used by endpoint %s on this gateway",
                           ep->val[CERTO_F_NAME], holder);
        goto out;
    }
    if (rc != CERTO_OK)
        goto out;
    certo_stmt_free(st);
    st = NULL;
    rc = certo_db_commit(reg->db, err);
    if (rc != CERTO_OK)
        goto out;
    memcpy(ep->id, id, sizeof(id));
    ep->created_at = ep->updated_at = now;
    ep->secrets = certo_ep_secrets_mask(sec);
out:
    certo_stmt_free(st);
    if (rc != CERTO_OK)
        certo_db_rollback(reg->db);
    certo_buf_dispose(&sql);
    certo_free(key);
    return rc;
}

/* SELECT list: id, type, created_at, updated_at, then one column per field (secrets as
 * "stored or not"). */
static certo_rc
select_sql(struct certo_buf *sql, const char *where)
{
    certo_rc rc = certo_buf_append_str(sql, "SELECT id, type, created_at, updated_at");
    for (int f = 0; rc == CERTO_OK && f < CERTO_F__COUNT; f++) {
        if (is_secret(f))
            rc = certo_buf_printf(sql, ", %s IS NOT NULL", column((enum certo_ep_field)f));
        else
            rc = certo_buf_printf(sql, ", %s", column((enum certo_ep_field)f));
    }
    if (rc == CERTO_OK)
        rc = certo_buf_printf(sql, " FROM endpoints %s", where);
    return rc;
}

static certo_rc
read_row(struct certo_stmt *st, struct certo_endpoint *ep)
{
    memset(ep, 0, sizeof(*ep));
    snprintf(ep->id, sizeof(ep->id), "%s", certo_stmt_text(st, 0));
    if (!certo_ep_type_parse(certo_stmt_text(st, 1), &ep->type))
        return CERTO_EPARSE;
    ep->created_at = certo_stmt_int(st, 2);
    ep->updated_at = certo_stmt_int(st, 3);
    for (int f = 0; f < CERTO_F__COUNT; f++) {
        int col = 4 + f;
        enum certo_ep_kind kind = certo_ep_field_info((enum certo_ep_field)f)->kind;
        if (kind == CERTO_FK_SECRET) {
            if (certo_stmt_int(st, col) != 0)
                ep->secrets |= 1u << f;
        } else if (certo_stmt_is_null(st, col)) {
            continue;
        } else if (kind == CERTO_FK_INT) {
            ep->val[f] = certo_asprintf("%lld", (long long)certo_stmt_int(st, col));
        } else if (kind == CERTO_FK_BOOL) {
            ep->val[f] = certo_strdup(certo_stmt_int(st, col) != 0 ? "true" : "false");
        } else {
            ep->val[f] = certo_strdup(certo_stmt_text(st, col));
        }
    }
    return CERTO_OK;
}

certo_rc
certo_registry_get(struct certo_registry *reg, const char *name_or_id, struct certo_endpoint *out,
                   struct certo_err *err)
{
    struct certo_buf sql;
    struct certo_stmt *st = NULL;
    char *key = name_key(name_or_id);
    bool row = false;
    certo_rc rc;

    memset(out, 0, sizeof(*out));
    certo_buf_init(&sql, SQL_MAX);
    rc = select_sql(&sql, "WHERE id = $1 OR name_key = $2");
    if (rc == CERTO_OK)
        rc = certo_db_prepare(reg->db, &st, (const char *)sql.data, err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_stmt_bind_text(st, 1, key); /* instance IDs are lower-case */
    if (rc == CERTO_OK)
        rc = certo_stmt_bind_text(st, 2, key);
    if (rc == CERTO_OK)
        rc = certo_stmt_step(st, &row, err);
    if (rc != CERTO_OK)
        goto out;
    if (!row) {
        rc = certo_err_set(err, CERTO_ENOTFOUND, "gateway.registry",
                           "no endpoint named or with ID '%.64s' on this gateway", name_or_id);
        goto out;
    }
    rc = read_row(st, out);
    if (rc != CERTO_OK) {
        certo_endpoint_dispose(out);
        rc = certo_err_set(err, rc, "gateway.registry", "endpoint row with an unknown type");
    }
out:
    certo_stmt_free(st);
    certo_buf_dispose(&sql);
    certo_free(key);
    return rc;
}

certo_rc
certo_registry_list(struct certo_registry *reg, struct certo_endpoint **out, size_t *n,
                    struct certo_err *err)
{
    struct certo_buf sql;
    struct certo_stmt *st = NULL;
    struct certo_endpoint *list = NULL;
    size_t count = 0, cap = 0;
    bool row = false;
    certo_rc rc;

    *out = NULL;
    *n = 0;
    certo_buf_init(&sql, SQL_MAX);
    rc = select_sql(&sql, "ORDER BY name_key");
    if (rc == CERTO_OK)
        rc = certo_db_prepare(reg->db, &st, (const char *)sql.data, err);
    while (rc == CERTO_OK) {
        rc = certo_stmt_step(st, &row, err);
        if (rc != CERTO_OK || !row)
            break;
        if (count == cap) {
            cap = cap == 0 ? 16 : cap * 2;
            list = certo_reallocarray(list, cap, sizeof(*list));
        }
        rc = read_row(st, &list[count]);
        count++;
        if (rc != CERTO_OK)
            rc = certo_err_set(err, rc, "gateway.registry", "endpoint row with an unknown type");
    }
    certo_stmt_free(st);
    certo_buf_dispose(&sql);
    if (rc != CERTO_OK) {
        certo_registry_list_free(list, count);
        return rc;
    }
    *out = list;
    *n = count;
    return CERTO_OK;
}

void
certo_registry_list_free(struct certo_endpoint *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        certo_endpoint_dispose(&list[i]);
    certo_free(list);
}

certo_rc
certo_registry_update(struct certo_registry *reg, struct certo_endpoint *ep,
                      const struct certo_ep_secrets *sec, unsigned clear, struct certo_err *err)
{
    struct certo_buf sql;
    struct certo_stmt *st = NULL;
    char *key = name_key(ep->val[CERTO_F_NAME]);
    int64_t now = (int64_t)certo_clock_now();
    int params[CERTO_F__COUNT];
    int next = 4;
    bool row = false;
    certo_rc rc;

    certo_buf_init(&sql, SQL_MAX);
    rc = certo_buf_append_str(&sql, "UPDATE endpoints SET name_key = $2, updated_at = $3");
    for (int f = 0; rc == CERTO_OK && f < CERTO_F__COUNT; f++) {
        params[f] = 0;
        if (is_secret(f) && !(sec != NULL && sec->s[f] != NULL) && (clear & (1u << f)) == 0)
            continue; /* keep the stored secret */
        params[f] = next++;
        rc = certo_buf_printf(&sql, ", %s = $%d", column((enum certo_ep_field)f), params[f]);
    }
    if (rc == CERTO_OK)
        rc = certo_buf_append_str(&sql, " WHERE id = $1");
    if (rc != CERTO_OK)
        goto out;
    rc = certo_db_begin(reg->db, true, err);
    if (rc == CERTO_OK)
        rc = store_exists(reg, ep, err);
    if (rc == CERTO_OK)
        rc = certo_db_prepare(reg->db, &st, (const char *)sql.data, err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_stmt_bind_text(st, 1, ep->id);
    if (rc == CERTO_OK)
        rc = certo_stmt_bind_text(st, 2, key);
    if (rc == CERTO_OK)
        rc = certo_stmt_bind_int(st, 3, now);
    for (int f = 0; rc == CERTO_OK && f < CERTO_F__COUNT; f++) {
        if (params[f] == 0)
            continue;
        if (!is_secret(f))
            rc = bind_field(st, params[f], ep, f);
        else if (sec != NULL && sec->s[f] != NULL)
            rc = bind_sealed(reg, st, params[f], ep->id, f, sec->s[f], err);
        else
            rc = certo_stmt_bind_null(st, params[f]);
    }
    if (rc != CERTO_OK) {
        rc = sql_fail(rc, err);
        goto out;
    }
    rc = certo_stmt_step(st, &row, err);
    if (rc == CERTO_EEXIST) {
        certo_err_clear(err);
        rc = certo_err_set(err, CERTO_EEXIST, "gateway.registry",
                           "--name '%s' is already used by another endpoint on this gateway",
                           ep->val[CERTO_F_NAME]);
        goto out;
    }
    if (rc != CERTO_OK)
        goto out;
    if (certo_db_changes(reg->db) != 1) {
        rc = certo_err_set(err, CERTO_ENOTFOUND, "gateway.registry",
                           "endpoint %s is no longer on this gateway", ep->id);
        goto out;
    }
    certo_stmt_free(st);
    st = NULL;
    rc = certo_db_commit(reg->db, err);
    if (rc != CERTO_OK)
        goto out;
    ep->updated_at = now;
    ep->secrets = (ep->secrets & ~clear) | certo_ep_secrets_mask(sec);
out:
    certo_stmt_free(st);
    if (rc != CERTO_OK)
        certo_db_rollback(reg->db);
    certo_buf_dispose(&sql);
    certo_free(key);
    return rc;
}

certo_rc
certo_registry_remove(struct certo_registry *reg, const char *id, struct certo_err *err)
{
    struct certo_stmt *st = NULL;
    bool row = false;
    certo_rc rc;

    rc = certo_db_prepare(reg->db, &st, "DELETE FROM endpoints WHERE id = $1", err);
    if (rc == CERTO_OK)
        rc = certo_stmt_bind_text(st, 1, id) == CERTO_OK ? CERTO_OK : sql_fail(CERTO_EIO, err);
    if (rc == CERTO_OK)
        rc = certo_stmt_step(st, &row, err);
    if (rc == CERTO_OK && certo_db_changes(reg->db) != 1)
        rc = certo_err_set(err, CERTO_ENOTFOUND, "gateway.registry",
                           "endpoint %s is no longer on this gateway", id);
    certo_stmt_free(st);
    return rc;
}

certo_rc
certo_registry_secret(struct certo_registry *reg, const struct certo_endpoint *ep,
                      enum certo_ep_field field, struct certo_secret **out, struct certo_err *err)
{
    struct certo_stmt *st = NULL;
    char *sql = NULL, *aad = NULL;
    const void *blob;
    size_t len = 0;
    bool row = false;
    certo_rc rc;

    *out = NULL;
    if (!is_secret(field) || (ep->secrets & (1u << field)) == 0)
        return CERTO_OK;
    sql = certo_asprintf("SELECT %s FROM endpoints WHERE id = $1", column(field));
    rc = certo_db_prepare(reg->db, &st, sql, err);
    if (rc == CERTO_OK && certo_stmt_bind_text(st, 1, ep->id) != CERTO_OK)
        rc = sql_fail(CERTO_EIO, err);
    if (rc == CERTO_OK)
        rc = certo_stmt_step(st, &row, err);
    if (rc != CERTO_OK || !row)
        goto out;
    blob = certo_stmt_blob(st, 0, &len);
    if (blob == NULL)
        goto out;
    rc = load_key(reg, false, err);
    if (rc != CERTO_OK)
        goto out;
    aad = aad_for(ep->id, field);
    rc = certo_unseal(reg->key, aad, blob, len, out, err);
out:
    certo_stmt_free(st);
    certo_free(sql);
    certo_free(aad);
    return rc;
}

/* ---- credential stores ---- */

void
certo_credstore_dispose(struct certo_credstore *cs)
{
    if (cs == NULL)
        return;
    CERTO_FREE(cs->name);
    CERTO_FREE(cs->target);
}

const char *
certo_credstore_type_name(enum certo_credstore_type t)
{
    return t == CERTO_CREDSTORE_EXEC ? "exec" : t == CERTO_CREDSTORE_FILE ? "file" : "?";
}

bool
certo_credstore_type_parse(const char *s, enum certo_credstore_type *out)
{
    if (strcmp(s, "exec") == 0)
        *out = CERTO_CREDSTORE_EXEC;
    else if (strcmp(s, "file") == 0)
        *out = CERTO_CREDSTORE_FILE;
    else
        return false;
    return true;
}

certo_rc
certo_registry_store_add(struct certo_registry *reg, struct certo_credstore *cs,
                         struct certo_err *err)
{
    struct certo_stmt *st = NULL;
    char *key = NULL;
    bool row = false;
    certo_rc rc;

    rc = certo_credstore__check(cs, err);
    if (rc != CERTO_OK)
        return rc;
    key = name_key(cs->name);
    cs->created_at = (int64_t)certo_clock_now();
    rc = certo_db_prepare(reg->db, &st,
                          "INSERT INTO credential_stores (name, name_key, type, target, "
                          "created_at) VALUES ($1, $2, $3, $4, $5)",
                          err);
    if (rc == CERTO_OK &&
        (certo_stmt_bind_text(st, 1, cs->name) != CERTO_OK ||
         certo_stmt_bind_text(st, 2, key) != CERTO_OK ||
         certo_stmt_bind_text(st, 3, certo_credstore_type_name(cs->type)) != CERTO_OK ||
         certo_stmt_bind_text(st, 4, cs->target) != CERTO_OK ||
         certo_stmt_bind_int(st, 5, cs->created_at) != CERTO_OK))
        rc = sql_fail(CERTO_EIO, err);
    if (rc == CERTO_OK)
        rc = certo_stmt_step(st, &row, err);
    if (rc == CERTO_EEXIST) {
        certo_err_clear(err);
        rc = certo_err_set(err, CERTO_EEXIST, "gateway.registry",
                           "a credential store named '%s' already exists", cs->name);
    }
    certo_stmt_free(st);
    certo_free(key);
    return rc;
}

static void
read_store(struct certo_stmt *st, struct certo_credstore *cs)
{
    cs->name = certo_strdup(certo_stmt_text(st, 0));
    if (!certo_credstore_type_parse(certo_stmt_text(st, 1), &cs->type))
        cs->type = 0;
    cs->target = certo_strdup(certo_stmt_text(st, 2));
    cs->created_at = certo_stmt_int(st, 3);
}

certo_rc
certo_registry_store_get(struct certo_registry *reg, const char *name, struct certo_credstore *out,
                         struct certo_err *err)
{
    struct certo_stmt *st = NULL;
    char *key = name_key(name);
    bool row = false;
    certo_rc rc;

    memset(out, 0, sizeof(*out));
    rc = certo_db_prepare(reg->db, &st,
                          "SELECT name, type, target, created_at FROM credential_stores "
                          "WHERE name_key = $1",
                          err);
    if (rc == CERTO_OK && certo_stmt_bind_text(st, 1, key) != CERTO_OK)
        rc = sql_fail(CERTO_EIO, err);
    if (rc == CERTO_OK)
        rc = certo_stmt_step(st, &row, err);
    if (rc == CERTO_OK && !row)
        rc = certo_err_set(err, CERTO_ENOTFOUND, "gateway.registry",
                           "no credential store named '%.64s' (see 'certo store list')", name);
    if (rc == CERTO_OK)
        read_store(st, out);
    certo_stmt_free(st);
    certo_free(key);
    return rc;
}

certo_rc
certo_registry_store_list(struct certo_registry *reg, struct certo_credstore **out, size_t *n,
                          struct certo_err *err)
{
    struct certo_stmt *st = NULL;
    struct certo_credstore *list = NULL;
    size_t count = 0, cap = 0;
    bool row = false;
    certo_rc rc;

    *out = NULL;
    *n = 0;
    rc = certo_db_prepare(reg->db, &st,
                          "SELECT name, type, target, created_at FROM credential_stores "
                          "ORDER BY name_key",
                          err);
    while (rc == CERTO_OK) {
        rc = certo_stmt_step(st, &row, err);
        if (rc != CERTO_OK || !row)
            break;
        if (count == cap) {
            cap = cap == 0 ? 8 : cap * 2;
            list = certo_reallocarray(list, cap, sizeof(*list));
        }
        memset(&list[count], 0, sizeof(list[count]));
        read_store(st, &list[count++]);
    }
    certo_stmt_free(st);
    if (rc != CERTO_OK) {
        certo_registry_store_list_free(list, count);
        return rc;
    }
    *out = list;
    *n = count;
    return CERTO_OK;
}

void
certo_registry_store_list_free(struct certo_credstore *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        certo_credstore_dispose(&list[i]);
    certo_free(list);
}

certo_rc
certo_registry_store_remove(struct certo_registry *reg, const char *name, struct certo_err *err)
{
    struct certo_credstore cs = {0};
    struct certo_stmt *st = NULL;
    struct certo_buf users;
    bool row = false;
    certo_rc rc;

    certo_buf_init(&users, 512);
    rc = certo_db_begin(reg->db, true, err);
    if (rc == CERTO_OK)
        rc = certo_registry_store_get(reg, name, &cs, err);
    if (rc == CERTO_OK)
        rc = certo_db_prepare(reg->db, &st,
                              "SELECT name FROM endpoints WHERE store = $1 ORDER BY name_key", err);
    if (rc == CERTO_OK && certo_stmt_bind_text(st, 1, cs.name) != CERTO_OK)
        rc = sql_fail(CERTO_EIO, err);
    while (rc == CERTO_OK) {
        rc = certo_stmt_step(st, &row, err);
        if (rc != CERTO_OK || !row)
            break;
        if (certo_buf_printf(&users, "%s'%s'", users.len > 0 ? ", " : "", certo_stmt_text(st, 0)) !=
            CERTO_OK)
            break;
    }
    certo_stmt_free(st);
    st = NULL;
    if (rc == CERTO_OK && users.len > 0)
        rc = certo_err_set(err, CERTO_ECONFLICT, "gateway.registry",
                           "credential store '%s' is used by endpoint%s %s; change or remove "
                           "%s first",
                           cs.name, strchr((const char *)users.data, ',') ? "s" : "",
                           (const char *)users.data,
                           strchr((const char *)users.data, ',') ? "them" : "it");
    if (rc == CERTO_OK)
        rc = certo_db_prepare(reg->db, &st, "DELETE FROM credential_stores WHERE name = $1", err);
    if (rc == CERTO_OK && certo_stmt_bind_text(st, 1, cs.name) != CERTO_OK)
        rc = sql_fail(CERTO_EIO, err);
    if (rc == CERTO_OK)
        rc = certo_stmt_step(st, &row, err);
    certo_stmt_free(st);
    if (rc == CERTO_OK)
        rc = certo_db_commit(reg->db, err);
    if (rc != CERTO_OK)
        certo_db_rollback(reg->db);
    certo_credstore_dispose(&cs);
    certo_buf_dispose(&users);
    return rc;
}

certo_rc
certo_registry_credential(struct certo_registry *reg, const struct certo_endpoint *ep,
                          struct certo_credential *out, struct certo_err *err)
{
    struct certo_credstore cs = {0};
    certo_rc rc;

    memset(out, 0, sizeof(*out));
    if (ep->val[CERTO_F_STORE] != NULL) {
        rc = certo_registry_store_get(reg, ep->val[CERTO_F_STORE], &cs, err);
        if (rc == CERTO_OK)
            rc = certo_credstore_fetch(&cs, ep->val[CERTO_F_STORE_CRED_ID], out, err);
        certo_credstore_dispose(&cs);
        if (rc == CERTO_OK && ep->val[CERTO_F_USER] != NULL) {
            certo_free(out->user);
            out->user = certo_strdup(ep->val[CERTO_F_USER]);
        }
        return rc;
    }
    if (ep->val[CERTO_F_USER] != NULL)
        out->user = certo_strdup(ep->val[CERTO_F_USER]);
    if (ep->val[CERTO_F_SSH_KEY_PATH] != NULL)
        out->ssh_key_path = certo_strdup(ep->val[CERTO_F_SSH_KEY_PATH]);
    rc = certo_registry_secret(reg, ep, CERTO_F_PASSWORD, &out->password, err);
    if (rc == CERTO_OK)
        rc = certo_registry_secret(reg, ep, CERTO_F_SSH_KEY_PASSWORD, &out->ssh_key_password, err);
    if (rc != CERTO_OK)
        certo_credential_dispose(out);
    return rc;
}
