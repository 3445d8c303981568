/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The PostgreSQL backend of the store layer (include/certo/sys/store.h), on libpq.
 * One connection per certo_db. Statements are validated at prepare (PQprepare of the
 * unnamed statement, then PQdescribePrepared for the parameter types) and run with
 * PQexecParams at their first step; the whole result is fetched then, and later steps
 * walk its rows. Nothing is left on the server between calls, so a statement needs its
 * connection only while it runs.
 *
 * SQL is written once for SQLite and PostgreSQL (include/certo/store.h). Before it
 * reaches the server, every statement is scanned once, outside quotes, identifiers,
 * comments and dollar quotes: the words INTEGER and BLOB become BIGINT and BYTEA,
 * "INTEGER PRIMARY KEY" becomes an identity column, and $n parameters are renumbered
 * densely ("... $2 ..." alone becomes $1) so that PostgreSQL, which must know the type of
 * every $k below the highest, accepts what SQLite accepts.
 *
 * Transactions: begin(write) is BEGIN + pg_advisory_xact_lock on one certo key, so
 * write transactions take turns as under SQLite's BEGIN IMMEDIATE; begin(read) is a
 * REPEATABLE READ snapshot. Inside a transaction every statement runs under a SAVEPOINT,
 * so a failing statement undoes only itself and the transaction stays usable.
 *
 * Messages name the server (host, port, database) and quote PostgreSQL's primary message
 * and the start of the SQL; never the url, the password, a bound value or a DETAIL line.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libpq-fe.h>

#include "certo/mem.h"
#include "store/backend.h"

#define WHERE           "store.pgsql"
#define SQL_SHOWN       80    /* bytes of SQL text quoted in a message */
#define CONNECT_TIMEOUT "10"  /* seconds, unless the url sets connect_timeout */
#define LOCK_TIMEOUT    "10s" /* like SQLite's busy timeout */
#define MAX_PARAMS      65535 /* PostgreSQL's limit of $n */
/* The write lock: advisory lock (1667592818 = "cert", the key space of certo; 1). */
#define WRITE_LOCK "pg_advisory_xact_lock(1667592818, 1)"
#define BYTEAOID   17
#define BOOLOID    16
#define SAVEPOINT  "certo_stmt"

/*
 * The connection, shared by the handle and its statements: a statement may be freed
 * after its handle (sys/store.h), and must then find the connection gone rather than
 * freed. Reference counted; one thread at a time, like the handle.
 */
struct pg_link {
    PGconn *conn;    /* owned; NULL once the handle is closed */
    int refs;        /* the handle and each live statement */
    int64_t changes; /* rows of the last INSERT/UPDATE/DELETE */
    char *server;    /* owned; "database D on H:P" for messages, never a password */
};

struct pg_db {
    struct pg_link *link; /* owned reference */
};

struct pg_stmt {
    struct pg_link *link;  /* owned reference */
    char *sql;             /* owned; the rewritten statement */
    int max_n;             /* highest $n in the original text */
    int *slot_of;          /* owned; [n] = dense parameter index of $n, or -1; n 1..max_n */
    int n_params;          /* dense parameters */
    Oid *types;            /* owned; inferred at prepare */
    char **values;         /* owned, each owned; NULL is SQL NULL */
    int *lengths;          /* for binary (bytea) values */
    int *formats;          /* 0 text, 1 binary */
    PGresult *res;         /* owned; the result of the run, all rows */
    int row;               /* current row of 'res', -1 before the first */
    unsigned char **blobs; /* owned; decoded bytea of the current row, per column */
    size_t *blob_lens;
};

/* ---- SQL scanning ---------------------------------------------------------------- */

struct sql_out {
    char *p;
    size_t len, cap;
};

static void
out_add(struct sql_out *o, const char *s, size_t n)
{
    if (o == NULL)
        return;
    if (o->len + n + 1 > o->cap) {
        o->cap = (o->len + n + 1) * 2;
        o->p = certo_realloc(o->p, o->cap);
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}

static bool
ident_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '$' || (unsigned char)c >= 0x80;
}

static bool
ident_start(char c)
{
    return isalpha((unsigned char)c) || c == '_' || (unsigned char)c >= 0x80;
}

/* Skips blanks and comments from 's'; returns where the next token starts. Sets
 * *unclosed (when not NULL) if a comment runs to the end. */
static const char *
skip_blank(const char *s, bool *unclosed)
{
    for (;;) {
        if (isspace((unsigned char)*s)) {
            s++;
        } else if (s[0] == '-' && s[1] == '-') {
            while (*s != '\0' && *s != '\n')
                s++;
        } else if (s[0] == '/' && s[1] == '*') {
            int depth = 1;
            s += 2;
            while (*s != '\0' && depth > 0) {
                if (s[0] == '/' && s[1] == '*') {
                    depth++;
                    s += 2;
                } else if (s[0] == '*' && s[1] == '/') {
                    depth--;
                    s += 2;
                } else {
                    s++;
                }
            }
            if (depth > 0 && unclosed != NULL)
                *unclosed = true;
        } else {
            return s;
        }
    }
}

static bool
word_is(const char *s, size_t n, const char *w)
{
    return strlen(w) == n && strncasecmp(s, w, n) == 0;
}

static size_t
word_len(const char *s)
{
    size_t n = 0;

    if (!ident_start(s[0]))
        return 0;
    while (ident_char(s[n]))
        n++;
    return n;
}

/* Length of the dollar-quote opener at 's' ("$$", "$tag$"), or 0. */
static size_t
dollar_tag(const char *s)
{
    size_t n = 1;

    if (s[0] != '$')
        return 0;
    if (ident_start(s[1])) {
        while (ident_char(s[n]) && s[n] != '$')
            n++;
    }
    return s[n] == '$' ? n + 1 : 0;
}

struct sql_scan {
    int statements; /* statements with something other than blanks and comments */
    int max_n;      /* highest $n */
    bool unclosed;  /* a quote or comment runs to the end */
    bool too_many;  /* a $n beyond MAX_PARAMS */
    char *used;     /* owned; [n] set when $n appears, n 1..MAX_PARAMS */
};

/*
 * One pass over 'sql' (PostgreSQL's lexical rules, standard_conforming_strings on).
 * Fills 'sc'; with 'o', also writes the rewritten statement, numbering $n as
 * slot_of[n] + 1.
 */
static void
scan_sql(struct sql_scan *sc, struct sql_out *o, const char *sql, const int *slot_of)
{
    const char *s = sql;
    bool content = false;
    char prev = ' ';

    while (*s != '\0') {
        const char *start = s;
        size_t n;

        if (isspace((unsigned char)*s) || (s[0] == '-' && s[1] == '-') ||
            (s[0] == '/' && s[1] == '*')) {
            s = skip_blank(s, &sc->unclosed);
            out_add(o, start, (size_t)(s - start));
            prev = ' ';
            continue;
        }
        if (*s == ';') {
            if (content)
                sc->statements++;
            content = false;
            out_add(o, s, 1);
            s++;
            prev = ';';
            continue;
        }
        content = true;
        if (*s == '\'' || *s == '"') {
            char q = *s;
            /* E'...' takes backslash escapes; the E was scanned as a word before. */
            bool esc = q == '\'' && s > sql && (s[-1] == 'E' || s[-1] == 'e') &&
                       (s - sql < 2 || !ident_char(s[-2]));
            s++;
            for (;;) {
                if (*s == '\0') {
                    sc->unclosed = true;
                    break;
                }
                if (esc && *s == '\\' && s[1] != '\0') {
                    s += 2;
                    continue;
                }
                if (*s == q && s[1] == q) {
                    s += 2;
                    continue;
                }
                if (*s == q) {
                    s++;
                    break;
                }
                s++;
            }
            out_add(o, start, (size_t)(s - start));
            prev = q;
            continue;
        }
        if (*s == '$' && !ident_char(prev) && isdigit((unsigned char)s[1])) {
            long v = 0;
            char num[16];
            s++;
            while (isdigit((unsigned char)*s)) {
                if (v <= MAX_PARAMS)
                    v = v * 10 + (*s - '0');
                s++;
            }
            if (v < 1 || v > MAX_PARAMS) {
                sc->too_many = true;
                out_add(o, start, (size_t)(s - start));
            } else {
                sc->used[v] = 1;
                if (v > sc->max_n)
                    sc->max_n = (int)v;
                if (o != NULL) {
                    snprintf(num, sizeof(num), "$%d", slot_of[v] + 1);
                    out_add(o, num, strlen(num));
                }
            }
            prev = '0';
            continue;
        }
        n = *s == '$' && !ident_char(prev) ? dollar_tag(s) : 0;
        if (n > 0) {
            const char *end = NULL;
            s += n;
            for (const char *p = s; *p != '\0'; p++) {
                if (*p == '$' && strncmp(p, start, n) == 0) {
                    end = p;
                    break;
                }
            }
            if (end == NULL) {
                sc->unclosed = true;
                s += strlen(s);
            } else {
                s = end + n;
            }
            out_add(o, start, (size_t)(s - start));
            prev = '$';
            continue;
        }
        n = ident_char(prev) ? 0 : word_len(s);
        if (n > 0) {
            const char *next = skip_blank(s + n, NULL);
            size_t n2 = word_len(next);
            const char *next2 = skip_blank(next + n2, NULL);
            size_t n3 = word_len(next2);

            if (word_is(s, n, "INTEGER") && word_is(next, n2, "PRIMARY") &&
                word_is(next2, n3, "KEY")) {
                static const char ident[] = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY";
                out_add(o, ident, sizeof(ident) - 1);
                s = next2 + n3;
            } else if (word_is(s, n, "INTEGER")) {
                out_add(o, "BIGINT", 6);
                s += n;
            } else if (word_is(s, n, "BLOB")) {
                out_add(o, "BYTEA", 5);
                s += n;
            } else {
                out_add(o, s, n);
                s += n;
            }
            prev = 'a';
            continue;
        }
        prev = *s;
        out_add(o, s, 1);
        s++;
    }
    if (content)
        sc->statements++;
}

/* ---- errors -------------------------------------------------------------------------- */

static bool
sqlstate_is(const char *state, const char *want)
{
    return state != NULL && strncmp(state, want, strlen(want)) == 0;
}

/* One mapping for every statement, so a UNIQUE violation reads the same from exec,
 * step or a migration. */
static certo_rc
rc_from_state(const char *state, bool at_prepare)
{
    if (state == NULL)
        return CERTO_EIO;
    if (strcmp(state, "23505") == 0)
        return CERTO_EEXIST;
    if (sqlstate_is(state, "23"))
        return CERTO_EINVAL;
    if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 || strcmp(state, "55P03") == 0)
        return CERTO_ECONFLICT;
    if (sqlstate_is(state, "22"))
        return CERTO_EINVAL; /* a bound value does not fit its column */
    if (sqlstate_is(state, "08"))
        return CERTO_ENET;
    if (sqlstate_is(state, "28"))
        return CERTO_EAUTH;
    if (strcmp(state, "53200") == 0)
        return CERTO_ENOMEM;
    if (strcmp(state, "54000") == 0)
        return CERTO_ETOOBIG;
    if (at_prepare && sqlstate_is(state, "42"))
        return CERTO_EINVAL; /* syntax, unknown table or column: the caller's SQL */
    return CERTO_EIO;
}

/* Copies a one-line version of 'msg' into 'buf': libpq's messages end in newlines and
 * may span lines ("FATAL: ...\nDETAIL: ..."); only the first line is kept. */
static void
one_line(char *buf, size_t cap, const char *msg)
{
    size_t n = 0;

    if (msg == NULL)
        msg = "";
    while (*msg != '\0' && *msg != '\n' && n + 1 < cap)
        buf[n++] = *msg++ == '\t' ? ' ' : msg[-1];
    while (n > 0 && isspace((unsigned char)buf[n - 1]))
        n--;
    buf[n] = '\0';
}

/*
 * Records a failed statement. Data exceptions (class 22: "invalid input syntax for type
 * bigint: \"...\"") repeat the bound value, so for them only the SQLSTATE is shown;
 * otherwise the primary message, never DETAIL (it shows the row: "Key (x)=(...)").
 */
static certo_rc
fail_res(struct certo_err *err, struct pg_link *l, const PGresult *res, bool at_prepare,
         const char *what, const char *sql)
{
    const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    char msg[160];
    certo_rc rc;

    if (l->conn == NULL || PQstatus(l->conn) == CONNECTION_BAD) {
        rc = certo_err_set(err, CERTO_ENET, WHERE, "%s: the connection to %s was lost", what,
                           l->server);
        if (err != NULL)
            err->flags |= CERTO_ERR_RETRYABLE;
        return rc;
    }
    rc = rc_from_state(state, at_prepare);
    if (sqlstate_is(state, "22"))
        snprintf(msg, sizeof(msg), "a bound value does not fit (SQLSTATE %s)", state);
    else if (res != NULL && PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) != NULL)
        one_line(msg, sizeof(msg), PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
    else
        one_line(msg, sizeof(msg), PQerrorMessage(l->conn));
    if (sql == NULL)
        rc = certo_err_set(err, rc, WHERE, "%s: %s", what, msg);
    else
        rc = certo_err_set(err, rc, WHERE, "%s: %s (in \"%.*s\")", what, msg, SQL_SHOWN, sql);
    if (err != NULL && rc == CERTO_ECONFLICT)
        err->flags |= CERTO_ERR_RETRYABLE;
    return rc;
}

/* ---- the connection -------------------------------------------------------------- */

static void
link_unref(struct pg_link *l)
{
    if (l == NULL || --l->refs > 0)
        return;
    PQfinish(l->conn);
    certo_free(l->server);
    certo_free(l);
}

static bool
in_tx(struct pg_link *l)
{
    PGTransactionStatusType t = PQtransactionStatus(l->conn);

    return t == PQTRANS_INTRANS || t == PQTRANS_INERROR;
}

/* Runs one parameterless command whose failure has no use to the caller (savepoint
 * housekeeping, ROLLBACK). */
static void
run_quiet(PGconn *conn, const char *sql)
{
    PQclear(PQexec(conn, sql));
}

static void
ignore_notice(void *arg, const char *msg)
{
    /* "relation ... already exists, skipping" and the like: libpq would print them on
     * stderr. The store reports through certo_err only. */
    (void)arg;
    (void)msg;
}

/* Options of a parsed conninfo by keyword, or NULL. */
static const char *
opt_get(const PQconninfoOption *opts, const char *key)
{
    for (const PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++) {
        if (strcmp(o->keyword, key) == 0 && o->val != NULL && o->val[0] != '\0')
            return o->val;
    }
    return NULL;
}

/* "database D on H:P", from the url's own parts (no password, no user). */
static char *
describe_server(const PQconninfoOption *opts)
{
    const char *host = opt_get(opts, "host");
    const char *port = opt_get(opts, "port");
    const char *db = opt_get(opts, "dbname");

    if (host == NULL)
        host = opt_get(opts, "hostaddr");
    return certo_asprintf("database %s on %s%s%s", db != NULL ? db : "(default)",
                          host != NULL ? host : "the local socket", port != NULL ? ":" : "",
                          port != NULL ? port : "");
}

/* libpq's connection errors name host, port and user; a message that repeats the
 * password or the url (never seen, but libpq's texts are not ours) is withheld whole. */
static void
safe_message(char *buf, size_t cap, const char *msg, const char *url, const char *password)
{
    const char *p;
    size_t n = 0;

    for (p = msg != NULL ? msg : ""; *p != '\0' && n + 1 < cap; p++) {
        char c = *p == '\n' || *p == '\t' || *p == '\r' ? ' ' : *p;
        if (c == ' ' && (n == 0 || buf[n - 1] == ' '))
            continue;
        buf[n++] = c;
    }
    while (n > 0 && buf[n - 1] == ' ')
        n--;
    buf[n] = '\0';
    if (strstr(buf, url) != NULL || (password != NULL && strstr(buf, password) != NULL))
        snprintf(buf, cap, "(the server's message repeated a credential and is not shown)");
}

/* Sessions settings and checks after connecting. */
static certo_rc
setup_session(struct pg_link *l, struct certo_err *err)
{
    PGresult *res = NULL;
    const char *ok;
    certo_rc rc = CERTO_EINTERNAL;

    if (PQserverVersion(l->conn) < 100000) {
        rc = certo_err_set(err, CERTO_EUNSUPPORTED, WHERE,
                           "%s runs PostgreSQL %d; certo needs 10 or newer", l->server,
                           PQserverVersion(l->conn) / 10000);
        goto out;
    }
    res =
        PQexec(l->conn, "SET standard_conforming_strings = on; SET bytea_output = hex; "
                        "SET lock_timeout = '" LOCK_TIMEOUT "'; SET client_min_messages = warning");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = fail_res(err, l, res, false, "cannot set up the session", NULL);
        goto out;
    }
    PQclear(res);
    /* Text must compare and sort by bytes, as in SQLite: a database whose default
     * collation orders "a" before "B" would change every ORDER BY. */
    res = PQexec(l->conn, "SELECT ('B' < 'a' AND 'ab' < 'a~' AND 'a.b' < 'a_b')::int, "
                          "current_setting('server_encoding')");
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        rc = fail_res(err, l, res, false, "cannot read the collation", NULL);
        goto out;
    }
    ok = PQgetvalue(res, 0, 0);
    if (strcmp(ok, "1") != 0) {
        rc = certo_err_set(err, CERTO_EUNSUPPORTED, WHERE,
                           "%s does not sort text by bytes; create it with "
                           "TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'",
                           l->server);
        goto out;
    }
    if (strcasecmp(PQgetvalue(res, 0, 1), "UTF8") != 0) {
        rc = certo_err_set(err, CERTO_EUNSUPPORTED, WHERE,
                           "%s uses encoding %.20s; certo needs UTF8", l->server,
                           PQgetvalue(res, 0, 1));
        goto out;
    }
    rc = CERTO_OK;
out:
    PQclear(res);
    return rc;
}

static certo_rc
pg_open(void *db_ctx, const char *target, struct certo_err *err)
{
    struct pg_db *d = db_ctx;
    char *url = certo_asprintf("postgresql:%s", target);
    PQconninfoOption *opts = NULL;
    struct pg_link *l = NULL;
    const char *keys[5];
    const char *vals[5];
    char *perr = NULL;
    char msg[200];
    certo_rc rc = CERTO_EINTERNAL;
    int k = 0;

    /* libpq's parse errors quote the offending part, which may be the password: they
     * are replaced by a message of our own. */
    opts = PQconninfoParse(url, &perr);
    if (opts == NULL) {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE,
                           "the PostgreSQL url is malformed (postgresql://[user[:password]@]"
                           "host[:port]/dbname[?param=value...])");
        goto out;
    }
    l = certo_calloc(1, sizeof(*l));
    l->refs = 1;
    l->server = describe_server(opts);
    /* Later keywords override earlier ones: the url may set its own connect_timeout;
     * application_name and client_encoding are always certo's. */
    if (opt_get(opts, "connect_timeout") == NULL) {
        keys[k] = "connect_timeout";
        vals[k++] = CONNECT_TIMEOUT;
    }
    keys[k] = "dbname";
    vals[k++] = url;
    keys[k] = "application_name";
    vals[k++] = "certo";
    keys[k] = "client_encoding";
    vals[k++] = "UTF8";
    keys[k] = NULL;
    vals[k] = NULL;
    l->conn = PQconnectdbParams(keys, vals, 1);
    if (l->conn == NULL) {
        rc = certo_err_set(err, CERTO_ENOMEM, WHERE, "out of memory connecting to %s", l->server);
        goto out;
    }
    PQsetNoticeProcessor(l->conn, ignore_notice, NULL);
    if (PQstatus(l->conn) != CONNECTION_OK) {
        safe_message(msg, sizeof(msg), PQerrorMessage(l->conn), url, opt_get(opts, "password"));
        if (PQconnectionUsedPassword(l->conn) || strstr(msg, "password") != NULL ||
            strstr(msg, "authentication") != NULL) {
            rc = certo_err_set(err, CERTO_EAUTH, WHERE, "cannot log in to %s: %s", l->server, msg);
        } else {
            rc = certo_err_set(err, CERTO_ENET, WHERE, "cannot connect to %s: %s", l->server, msg);
            if (err != NULL)
                err->flags |= CERTO_ERR_RETRYABLE;
        }
        goto out;
    }
    rc = setup_session(l, err);
    if (rc != CERTO_OK)
        goto out;
    d->link = l; /* success: the context owns the connection */
    l = NULL;
    rc = CERTO_OK;
out:
    link_unref(l);
    PQconninfoFree(opts);
    PQfreemem(perr);
    certo_free_clear(url, strlen(url)); /* it may hold the password */
    return rc;
}

static void
pg_close(void *db_ctx)
{
    struct pg_db *d = db_ctx;

    /* The connection ends now; statements still alive see it gone. */
    PQfinish(d->link->conn);
    d->link->conn = NULL;
    link_unref(d->link);
    d->link = NULL;
}

/* Rewrites 'sql' (see the top of the file). *out is owned by the caller; slot_of and
 * the counts only when wanted. */
static certo_rc
rewrite(char **out, int **slot_of_out, int *max_n, int *n_params, const char *sql,
        bool one_statement, struct certo_err *err)
{
    struct sql_scan sc = {0};
    struct sql_out o = {0};
    int *slot_of = NULL;
    int dense = 0;
    certo_rc rc = CERTO_EINTERNAL;

    *out = NULL;
    sc.used = certo_calloc(MAX_PARAMS + 1, 1);
    scan_sql(&sc, NULL, sql, NULL);
    if (sc.too_many) {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE, "a parameter beyond $%d in \"%.*s\"",
                           MAX_PARAMS, SQL_SHOWN, sql);
        goto out;
    }
    if (one_statement && sc.statements == 0) {
        rc =
            certo_err_set(err, CERTO_EINVAL, WHERE, "no SQL statement in \"%.*s\"", SQL_SHOWN, sql);
        goto out;
    }
    if (one_statement && sc.statements > 1) {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE, "more than one SQL statement in \"%.*s\"",
                           SQL_SHOWN, sql);
        goto out;
    }
    slot_of = certo_calloc((size_t)sc.max_n + 1, sizeof(*slot_of));
    for (int n = 0; n <= sc.max_n; n++)
        slot_of[n] = n > 0 && sc.used[n] ? dense++ : -1;
    out_add(&o, "", 0);
    scan_sql(&sc, &o, sql, slot_of);
    *out = o.p; /* success: the caller owns the text */
    o.p = NULL;
    if (slot_of_out != NULL) {
        *slot_of_out = slot_of;
        slot_of = NULL;
        *max_n = sc.max_n;
        *n_params = dense;
    }
    rc = CERTO_OK;
out:
    certo_free(o.p);
    certo_free(slot_of);
    certo_free(sc.used);
    return rc;
}

static void
note_changes(struct pg_link *l, PGresult *res)
{
    const char *cmd = PQcmdStatus(res);
    const char *n = PQcmdTuples(res);

    if (strncmp(cmd, "INSERT", 6) == 0 || strncmp(cmd, "UPDATE", 6) == 0 ||
        strncmp(cmd, "DELETE", 6) == 0 || strncmp(cmd, "MERGE", 5) == 0)
        l->changes = n[0] != '\0' ? strtoll(n, NULL, 10) : 0;
}

/* Inside a transaction a failing statement would abort the whole transaction; a
 * savepoint around each statement undoes only the statement (store.h). */
static bool
savepoint_begin(struct pg_link *l)
{
    PGresult *res;
    bool ok;

    if (!in_tx(l))
        return false;
    res = PQexec(l->conn, "SAVEPOINT " SAVEPOINT);
    ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    return ok;
}

static void
savepoint_end(struct pg_link *l, bool used, bool failed)
{
    if (!used)
        return;
    if (failed)
        run_quiet(l->conn, "ROLLBACK TO SAVEPOINT " SAVEPOINT);
    run_quiet(l->conn, "RELEASE SAVEPOINT " SAVEPOINT);
}

static bool
res_ok(const PGresult *res)
{
    ExecStatusType s = PQresultStatus(res);

    return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK || s == PGRES_EMPTY_QUERY;
}

static certo_rc
pg_exec(void *db_ctx, const char *sql, struct certo_err *err)
{
    struct pg_db *d = db_ctx;
    struct pg_link *l = d->link;
    PGresult *res = NULL;
    char *text = NULL;
    bool sp = false;
    certo_rc rc = CERTO_EINTERNAL;

    rc = rewrite(&text, NULL, NULL, NULL, sql, false, err);
    if (rc != CERTO_OK)
        goto out;
    sp = savepoint_begin(l);
    res = PQexec(l->conn, text);
    if (!res_ok(res)) {
        rc = fail_res(err, l, res, false, "statement failed", sql);
        savepoint_end(l, sp, true);
        goto out;
    }
    savepoint_end(l, sp, false);
    note_changes(l, res);
    rc = CERTO_OK;
out:
    PQclear(res);
    certo_free(text);
    return rc;
}

static certo_rc
pg_begin(void *db_ctx, bool write, struct certo_err *err)
{
    struct pg_db *d = db_ctx;
    struct pg_link *l = d->link;
    PGresult *res = NULL;
    certo_rc rc = CERTO_EINTERNAL;

    if (PQtransactionStatus(l->conn) != PQTRANS_IDLE) {
        rc = certo_err_set(err, CERTO_EIO, WHERE,
                           "cannot begin a transaction: one is already open on %s", l->server);
        goto out;
    }
    /* The advisory lock is the write lock: writers wait for it (up to lock_timeout,
     * then 55P03, CERTO_ECONFLICT) and hold it until COMMIT or ROLLBACK. */
    res = PQexec(l->conn, write ? "BEGIN ISOLATION LEVEL READ COMMITTED; SELECT " WRITE_LOCK
                                : "BEGIN ISOLATION LEVEL REPEATABLE READ");
    if (!res_ok(res)) {
        rc = fail_res(err, l, res, false, "cannot begin a transaction", NULL);
        run_quiet(l->conn, "ROLLBACK");
        goto out;
    }
    rc = CERTO_OK;
out:
    PQclear(res);
    return rc;
}

static certo_rc
pg_commit(void *db_ctx, struct certo_err *err)
{
    struct pg_db *d = db_ctx;
    struct pg_link *l = d->link;
    PGresult *res = NULL;
    certo_rc rc = CERTO_EINTERNAL;

    switch (PQtransactionStatus(l->conn)) {
    case PQTRANS_INTRANS:
        break;
    case PQTRANS_INERROR:
        /* COMMIT of an aborted transaction "succeeds" as a ROLLBACK. */
        rc = certo_err_set(err, CERTO_EIO, WHERE, "commit failed: the transaction was aborted");
        goto out;
    default:
        rc = certo_err_set(err, CERTO_EIO, WHERE, "commit failed: no transaction is open");
        goto out;
    }
    res = PQexec(l->conn, "COMMIT");
    if (!res_ok(res)) {
        rc = fail_res(err, l, res, false, "commit failed", NULL);
        goto out;
    }
    rc = CERTO_OK;
out:
    PQclear(res);
    return rc;
}

static void
pg_rollback(void *db_ctx)
{
    struct pg_db *d = db_ctx;

    if (d->link != NULL && d->link->conn != NULL &&
        PQtransactionStatus(d->link->conn) != PQTRANS_IDLE)
        run_quiet(d->link->conn, "ROLLBACK");
}

static certo_rc
pg_prepare(void *db_ctx, void *stmt_ctx, const char *sql, struct certo_err *err)
{
    struct pg_db *d = db_ctx;
    struct pg_stmt *s = stmt_ctx;
    struct pg_link *l = d->link;
    PGresult *res = NULL;
    char *text = NULL;
    int *slot_of = NULL;
    int max_n = 0, n_params = 0;
    bool sp = false;
    certo_rc rc = CERTO_EINTERNAL;

    rc = rewrite(&text, &slot_of, &max_n, &n_params, sql, true, err);
    if (rc != CERTO_OK)
        goto out;
    /* The unnamed statement is only a check (syntax, tables, columns) and the source of
     * the parameter types; each run sends the text again with PQexecParams. */
    sp = savepoint_begin(l);
    res = PQprepare(l->conn, "", text, 0, NULL);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = fail_res(err, l, res, true, "cannot prepare", sql);
        savepoint_end(l, sp, true);
        goto out;
    }
    PQclear(res);
    res = PQdescribePrepared(l->conn, "");
    if (PQresultStatus(res) != PGRES_COMMAND_OK || PQnparams(res) != n_params) {
        rc = fail_res(err, l, res, true, "cannot describe", sql);
        savepoint_end(l, sp, true);
        goto out;
    }
    savepoint_end(l, sp, false);
    s->types = certo_calloc((size_t)n_params + 1, sizeof(*s->types));
    for (int i = 0; i < n_params; i++)
        s->types[i] = PQparamtype(res, i);
    s->values = certo_calloc((size_t)n_params + 1, sizeof(*s->values));
    s->lengths = certo_calloc((size_t)n_params + 1, sizeof(*s->lengths));
    s->formats = certo_calloc((size_t)n_params + 1, sizeof(*s->formats));
    s->n_params = n_params;
    s->max_n = max_n;
    s->slot_of = slot_of; /* success: the statement owns the rest */
    slot_of = NULL;
    s->sql = text;
    text = NULL;
    s->row = -1;
    s->link = l;
    l->refs++;
    rc = CERTO_OK;
out:
    PQclear(res);
    certo_free(text);
    certo_free(slot_of);
    return rc;
}

static void
drop_row(struct pg_stmt *s)
{
    if (s->blobs != NULL && s->res != NULL) {
        for (int c = 0; c < PQnfields(s->res); c++)
            certo_free(s->blobs[c]);
    }
    CERTO_FREE(s->blobs);
    CERTO_FREE(s->blob_lens);
}

static void
clear_bindings(struct pg_stmt *s)
{
    for (int i = 0; i < s->n_params; i++) {
        CERTO_FREE(s->values[i]);
        s->lengths[i] = 0;
        s->formats[i] = 0;
    }
}

static void
pg_reset(void *stmt_ctx)
{
    struct pg_stmt *s = stmt_ctx;

    drop_row(s);
    PQclear(s->res);
    s->res = NULL;
    s->row = -1;
    clear_bindings(s);
}

static void
pg_finalize(void *stmt_ctx)
{
    struct pg_stmt *s = stmt_ctx;

    pg_reset(s);
    certo_free(s->values);
    certo_free(s->lengths);
    certo_free(s->formats);
    certo_free(s->types);
    certo_free(s->slot_of);
    certo_free(s->sql);
    link_unref(s->link);
    s->link = NULL;
}

/* The dense slot of $idx, or -1 when the statement has no $idx. */
static int
slot(const struct pg_stmt *s, int idx)
{
    if (idx < 1 || idx > s->max_n)
        return -1;
    return s->slot_of[idx];
}

static certo_rc
bind_value(struct pg_stmt *s, int idx, char *value, int len, int format)
{
    int i = slot(s, idx);

    if (i < 0) {
        certo_free(value);
        return CERTO_EINVAL;
    }
    if (s->res != NULL) { /* bound while running, without a reset */
        certo_free(value);
        return CERTO_EINTERNAL;
    }
    certo_free(s->values[i]);
    s->values[i] = value;
    s->lengths[i] = len;
    s->formats[i] = format;
    return CERTO_OK;
}

static certo_rc
pg_bind_null(void *stmt_ctx, int idx)
{
    return bind_value(stmt_ctx, idx, NULL, 0, 0);
}

static certo_rc
pg_bind_text(void *stmt_ctx, int idx, const char *text)
{
    return bind_value(stmt_ctx, idx, text != NULL ? certo_strdup(text) : NULL, 0, 0);
}

static certo_rc
pg_bind_int(void *stmt_ctx, int idx, int64_t v)
{
    return bind_value(stmt_ctx, idx, certo_asprintf("%" PRId64, v), 0, 0);
}

/* bytea travels as a binary parameter: the bytes as they are, no escaping. */
static certo_rc
pg_bind_blob(void *stmt_ctx, int idx, const void *p, size_t n)
{
    char *copy;

    if (p == NULL && n > 0)
        return CERTO_EINVAL;
    if (n > INT32_MAX)
        return CERTO_ETOOBIG;
    copy = certo_malloc(n > 0 ? n : 1); /* non-NULL: an empty blob is not NULL */
    if (n > 0)
        memcpy(copy, p, n);
    return bind_value(stmt_ctx, idx, copy, (int)n, 1);
}

static certo_rc
pg_step(void *stmt_ctx, bool *row, struct certo_err *err)
{
    struct pg_stmt *s = stmt_ctx;
    struct pg_link *l = s->link;
    bool sp = false;
    certo_rc rc = CERTO_EINTERNAL;

    *row = false;
    drop_row(s);
    if (s->res != NULL) {
        s->row++;
        *row = s->row < PQntuples(s->res);
        return CERTO_OK;
    }
    if (l->conn == NULL)
        return certo_err_set(err, CERTO_EIO, WHERE, "statement failed: its handle is closed");
    sp = savepoint_begin(l);
    s->res = PQexecParams(l->conn, s->sql, s->n_params, s->types, (const char *const *)s->values,
                          s->lengths, s->formats, 0);
    if (!res_ok(s->res)) {
        rc = fail_res(err, l, s->res, false, "statement failed", s->sql);
        savepoint_end(l, sp, true);
        PQclear(s->res);
        s->res = NULL;
        return rc;
    }
    savepoint_end(l, sp, false);
    note_changes(l, s->res);
    s->row = 0;
    *row = PQntuples(s->res) > 0;
    return CERTO_OK;
}

static bool
have_cell(const struct pg_stmt *s, int col)
{
    return s->res != NULL && s->row >= 0 && s->row < PQntuples(s->res) && col >= 0 &&
           col < PQnfields(s->res);
}

static bool
pg_col_is_null(void *stmt_ctx, int col)
{
    struct pg_stmt *s = stmt_ctx;

    return !have_cell(s, col) || PQgetisnull(s->res, s->row, col);
}

static const char *
pg_col_text(void *stmt_ctx, int col)
{
    struct pg_stmt *s = stmt_ctx;

    if (pg_col_is_null(s, col))
        return NULL;
    return PQgetvalue(s->res, s->row, col);
}

/* int2/int4/int8 and numeric arrive as decimal text, boolean as "t"/"f". Like SQLite,
 * a text that is not a number reads as its leading digits, or 0. */
static int64_t
pg_col_int(void *stmt_ctx, int col)
{
    struct pg_stmt *s = stmt_ctx;
    const char *v;

    if (pg_col_is_null(s, col))
        return 0;
    v = PQgetvalue(s->res, s->row, col);
    if (PQftype(s->res, col) == BOOLOID)
        return v[0] == 't' ? 1 : 0;
    return (int64_t)strtoll(v, NULL, 10);
}

static int
hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* bytea in text form is "\x" and hex (bytea_output = hex, the default since 9.0; set for
 * the session anyway at open). Decoded once per row and column, kept until the next
 * step. Other types give their text bytes. */
static const void *
pg_col_blob(void *stmt_ctx, int col, size_t *len)
{
    static const unsigned char empty[1];
    struct pg_stmt *s = stmt_ctx;
    const char *v;
    size_t n;

    *len = 0;
    if (pg_col_is_null(s, col))
        return NULL;
    v = PQgetvalue(s->res, s->row, col);
    n = (size_t)PQgetlength(s->res, s->row, col);
    if (PQftype(s->res, col) != BYTEAOID || n < 2 || v[0] != '\\' || v[1] != 'x') {
        *len = n;
        return v;
    }
    if (s->blobs == NULL) {
        s->blobs = certo_calloc((size_t)PQnfields(s->res), sizeof(*s->blobs));
        s->blob_lens = certo_calloc((size_t)PQnfields(s->res), sizeof(*s->blob_lens));
    }
    if (s->blobs[col] == NULL) {
        size_t m = (n - 2) / 2;
        unsigned char *b = certo_malloc(m > 0 ? m : 1);
        for (size_t i = 0; i < m; i++) {
            int hi = hexval(v[2 + 2 * i]);
            int lo = hexval(v[3 + 2 * i]);
            b[i] = (unsigned char)((hi < 0 ? 0 : hi) << 4 | (lo < 0 ? 0 : lo));
        }
        s->blobs[col] = b;
        s->blob_lens[col] = m;
    }
    *len = s->blob_lens[col];
    return s->blob_lens[col] > 0 ? s->blobs[col] : empty;
}

static int64_t
pg_changes(void *db_ctx)
{
    struct pg_db *d = db_ctx;

    return d->link->changes;
}

const struct certo_store_ops certo_store__pgsql = {
    .abi = CERTO_STORE_ABI,
    .name = "postgresql",
    .db_ctx_size = sizeof(struct pg_db),
    .stmt_ctx_size = sizeof(struct pg_stmt),
    .open = pg_open,
    .close = pg_close,
    .exec = pg_exec,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .prepare = pg_prepare,
    .finalize = pg_finalize,
    .bind_text = pg_bind_text,
    .bind_int = pg_bind_int,
    .bind_blob = pg_bind_blob,
    .bind_null = pg_bind_null,
    .step = pg_step,
    .reset = pg_reset,
    .col_text = pg_col_text,
    .col_int = pg_col_int,
    .col_blob = pg_col_blob,
    .col_is_null = pg_col_is_null,
    .changes = pg_changes,
};
