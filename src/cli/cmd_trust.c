/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `certo trust` (cli layer): the server's trust store, offline in its database (--data,
 * --db as for `certo server-cert`). import-url shows what a server serves and stores it
 * only when confirmed (a prompt on a terminal, --yes, or a --fingerprint pin); import
 * reads PEM or DER files and another server's export; list, show, remove, export.
 * Nothing is stored on any error, and bad input exits 2 with one line naming the option.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "certo/client.h"
#include "certo/server.h"
#include "certo/trust.h"
#include "cli/cli.h"

#define EXPORT_MAX (64u * 1024 * 1024)

static void
format_time(char out[32], time_t t, bool json)
{
    struct tm tm;
    size_t n = 0;

    if (gmtime_r(&t, &tm) != NULL)
        n = json ? strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm)
                 : strftime(out, 32, "%Y-%m-%d %H:%M:%S UTC", &tm);
    if (n == 0)
        snprintf(out, 32, "%lld", (long long)t);
}

/* Opens the server database of --data / --db. */
static certo_rc
open_db(struct certo_db **db, const struct cli_args *a, struct certo_err *err)
{
    char *dir = certo_registry_default_dir(cli_get(a, "data"));
    certo_rc rc = certo_server_db_open(db, dir, cli_db_url(a), err);

    certo_free(dir);
    return rc;
}

/* Checks --alias when given; the message names the option. */
static certo_rc
check_alias(const struct cli_args *a, struct certo_err *err)
{
    struct certo_err e = {0};
    const char *alias = cli_get(a, "alias");

    if (alias != NULL && certo_trust_alias_check(alias, &e) != CERTO_OK)
        return certo_err_set(err, CERTO_EINVAL, "cli", "--alias: %s", e.msg);
    return CERTO_OK;
}

/* ---- import-url ---- */

static const struct cli_opt import_url_opts[] = {
    {"sni", 0, CLI_VALUE, "NAME", "server name to send (default: HOST when it is a name)"},
    {"timeout", 0, CLI_VALUE, "MS", "connect + handshake deadline in milliseconds (default 10000)"},
    {"alias", 'a', CLI_VALUE, "A", "alias to store it under (default: from the subject CN)"},
    {"yes", 'y', CLI_FLAG, NULL, "store without asking"},
    {"fingerprint", 0, CLI_VALUE, "SHA256",
     "store without asking if the certificate has this SHA-256 (colons optional)"},
    {"chain-index", 0, CLI_VALUE, "N",
     "store certificate N of the served chain (0 = the server's own, the default)"},
    {"data", 'd', CLI_VALUE, "DIR", CLI_DATA_HELP},
    CLI_DB_OPT,
    {NULL, 0, 0, NULL, NULL},
};

/* What import-url shows before asking. */
static void
print_candidate(X509 *c, const char *fp, const char *label, int index, int total,
                const char *version)
{
    char *subject = certo_cert_name_text(X509_get_subject_name(c));
    char *issuer = certo_cert_name_text(X509_get_issuer_name(c));
    struct certo_cert_info info = {0};
    struct certo_err ignore = {0};
    char nb[32] = "?", na[32] = "?";

    if (certo_cert_info_get(&info, c, &ignore) == CERTO_OK) {
        format_time(nb, info.not_before, false);
        format_time(na, info.not_after, false);
    }
    printf("%s (%s) sent %d certificate%s; certificate %d:\n", label, version, total,
           total == 1 ? "" : "s", index);
    printf("subject:     %s\n", subject);
    printf("issuer:      %s%s\n", issuer, info.self_signed ? " (self-signed)" : "");
    printf("not before:  %s\n", nb);
    printf("not after:   %s%s\n", na,
           info.fingerprint != NULL && info.not_after < certo_clock_now() ? " (expired)" : "");
    printf("SHA-256:     %s\n", fp);
    fflush(stdout);
    certo_cert_info_dispose(&info);
    certo_free(subject);
    certo_free(issuer);
}

/* Asks on the terminal; true for y or yes. */
static bool
confirm(void)
{
    char line[16];

    fprintf(stderr, "Trust this certificate? [y/N] ");
    fflush(stderr);
    if (fgets(line, sizeof(line), stdin) == NULL)
        return false;
    line[strcspn(line, "\r\n")] = '\0';
    return strcmp(line, "y") == 0 || strcmp(line, "Y") == 0 || strcmp(line, "yes") == 0;
}

static int
local_import_url(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0}, e = {0};
    struct certo_trust_fetch_opts fo = {0};
    struct certo_trust_add_opts ao = {0};
    struct certo_trust_entry existing = {0};
    struct certo_tls_peer peer = {0};
    struct certo_db *db = NULL;
    const char *pin_text = cli_get(a, "fingerprint"), *sni = cli_get(a, "sni");
    char *host = NULL, *label = NULL, *alias = NULL, pin[96], fp[96];
    int port = 0, timeout = 0, index = 0;
    X509 *c;
    certo_rc rc = CERTO_EINTERNAL;

    rc = certo_trust_parse_target(&host, &port, a->pos[0], &e);
    if (rc != CERTO_OK) {
        rc = certo_err_set(&err, rc, "cli", "HOST:PORT %s", e.msg);
        goto out;
    }
    if (pin_text != NULL && cli_has(a, "yes")) {
        rc = certo_err_set(&err, CERTO_EINVAL, "cli", "give only one of --yes and --fingerprint");
        goto out;
    }
    if (pin_text != NULL && !certo_trust_fingerprint_parse(pin, pin_text)) {
        rc = certo_err_set(&err, CERTO_EINVAL, "cli",
                           "--fingerprint: '%.100s' is not a SHA-256 fingerprint (64 hex digits, "
                           "colons optional)",
                           pin_text);
        goto out;
    }
    if (sni != NULL && (sni[0] == '\0' || strlen(sni) > 253 || strpbrk(sni, " /:@[]") != NULL)) {
        rc = certo_err_set(&err, CERTO_EINVAL, "cli", "--sni: '%.100s' is not a server name", sni);
        goto out;
    }
    rc = cli_int(&timeout, a, "timeout", CERTO_TRUST_TIMEOUT_MS, 1, 600000, &err);
    if (rc == CERTO_OK)
        rc = cli_int(&index, a, "chain-index", 0, 0, CERTO_TRUST_CHAIN_MAX - 1, &err);
    if (rc == CERTO_OK)
        rc = check_alias(a, &err);
    if (rc == CERTO_OK)
        rc = open_db(&db, a, &err);
    if (rc != CERTO_OK)
        goto out;
    fo.sni = sni;
    fo.timeout_ms = timeout;
    rc = certo_trust_fetch(&peer, host, port, &fo, &err);
    if (rc != CERTO_OK)
        goto out;
    if (index >= sk_X509_num(peer.chain)) {
        rc = certo_err_set(&err, CERTO_EINVAL, "cli",
                           "--chain-index: %d, but %s sent %d certificate%s", index, a->pos[0],
                           sk_X509_num(peer.chain), sk_X509_num(peer.chain) == 1 ? "" : "s");
        goto out;
    }
    c = sk_X509_value(peer.chain, index);
    rc = certo_cert_fingerprint(fp, c, &err);
    if (rc != CERTO_OK)
        goto out;
    print_candidate(c, fp, a->pos[0], index, sk_X509_num(peer.chain), peer.version);
    /* Already trusted: say so before asking anything. */
    e = (struct certo_err){0};
    rc = certo_trust_get(&existing, db, fp, &e);
    if (rc == CERTO_OK) {
        rc = certo_err_set(&err, CERTO_EEXIST, "cli", "this certificate is already trusted as '%s'",
                           existing.alias);
        goto out;
    }
    if (rc != CERTO_ENOTFOUND) {
        err = e;
        goto out;
    }
    if (pin_text != NULL && strcmp(pin, fp) != 0) {
        rc = certo_err_set(&err, CERTO_EAUTH, "cli",
                           "--fingerprint: the certificate's SHA-256 is %s, not %s; nothing "
                           "stored",
                           fp, pin);
        goto out;
    }
    if (pin_text == NULL && !cli_has(a, "yes")) {
        if (!isatty(STDIN_FILENO)) {
            rc = certo_err_set(&err, CERTO_EINVAL, "cli",
                               "nothing stored: no terminal to confirm on (give --yes, or "
                               "--fingerprint %s to pin it)",
                               fp);
            goto out;
        }
        if (!confirm()) {
            rc = certo_err_set(&err, CERTO_EREMOTE, "cli", "not confirmed; nothing stored");
            goto out;
        }
    }
    label = certo_asprintf("url:%s", a->pos[0]);
    ao.alias = cli_get(a, "alias");
    ao.source = label;
    rc = certo_trust_add(&alias, db, c, &ao, &err);
    if (rc == CERTO_OK)
        printf("trusted as '%s' (SHA-256 %s)\n", alias, fp);
out:
    certo_trust_entry_dispose(&existing);
    certo_tls_peer_dispose(&peer);
    certo_db_close(db);
    certo_free(host);
    certo_free(label);
    certo_free(alias);
    return rc == CERTO_OK ? 0 : cli_fail(cmd, rc, &err);
}

/* ---- import ---- */

static const struct cli_opt import_opts[] = {
    {"alias", 'a', CLI_VALUE, "A", "alias for the (one) certificate (default: from its CN)"},
    {"token-issuer", 0, CLI_VALUE, "ISS",
     "trust the (one) certificate as the signer of tokens with this `iss`, not as a TLS peer"},
    {"data", 'd', CLI_VALUE, "DIR", CLI_DATA_HELP},
    CLI_DB_OPT,
    {NULL, 0, 0, NULL, NULL},
};

static int
local_import(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0}, e = {0};
    struct certo_trust_add_opts ao = {0};
    struct certo_trust_import_result r = {0};
    struct certo_db *db = NULL;
    struct certo_buf in = {0};
    const char *path = a->pos[0];
    certo_rc rc = CERTO_EINTERNAL;

    ao.alias = cli_get(a, "alias");
    ao.token_issuer = cli_get(a, "token-issuer");
    rc = check_alias(a, &err);
    if (rc == CERTO_OK && ao.token_issuer != NULL &&
        certo_trust_iss_check(ao.token_issuer, &e) != CERTO_OK)
        rc = certo_err_set(&err, CERTO_EINVAL, "cli", "--token-issuer: %s", e.msg);
    if (rc == CERTO_OK)
        rc = cli_read_file(&in, path, CERTO_PEM_MAX, "FILE", &err);
    if (rc == CERTO_OK)
        rc = open_db(&db, a, &err);
    if (rc != CERTO_OK)
        goto out;
    e = (struct certo_err){0};
    rc = certo_trust_import(&r, db, in.data, in.len, &ao, &e);
    if (rc == CERTO_EINVAL && (ao.alias != NULL || ao.token_issuer != NULL))
        rc = certo_err_set(&err, rc, "cli", "%s: %s",
                           ao.alias != NULL ? "--alias" : "--token-issuer", e.msg);
    else if (rc == CERTO_EPARSE || rc == CERTO_ETOOBIG || rc == CERTO_EINVAL)
        rc = certo_err_set(&err, rc, "cli", "FILE %s: %s", path, e.msg);
    else if (rc != CERTO_OK)
        err = e;
    if (rc != CERTO_OK)
        goto out;
    for (size_t i = 0; i < r.count; i++) {
        if (r.items[i].skipped)
            printf("skipped %s: already trusted as '%s'\n", r.items[i].fingerprint,
                   r.items[i].alias);
        else
            printf("added '%s' (SHA-256 %s)\n", r.items[i].alias, r.items[i].fingerprint);
    }
    printf("%zu added, %zu already trusted\n", r.added, r.count - r.added);
out:
    certo_trust_import_dispose(&r);
    certo_buf_dispose(&in);
    certo_db_close(db);
    return rc == CERTO_OK ? 0 : cli_fail(cmd, rc, &err);
}

/* ---- list / show ---- */

static const struct cli_opt list_opts[] = {
    {"json", 0, CLI_FLAG, NULL, "print JSON"},
    {"data", 'd', CLI_VALUE, "DIR", CLI_DATA_HELP},
    CLI_DB_OPT,
    {NULL, 0, 0, NULL, NULL},
};

/* The trust fields of 'e' as JSON members (", "-separated, no braces) appended to 'b'. */
static certo_rc
entry_members(struct certo_buf *b, const struct certo_trust_entry *e)
{
    char added[32];
    certo_rc rc = certo_buf_append_str(b, "\"alias\": ");

    format_time(added, e->added_at, true);
    if (rc == CERTO_OK)
        rc = cli_json_str(b, e->alias);
    if (rc == CERTO_OK)
        rc = certo_buf_printf(
            b, ", \"purpose\": \"%s\", \"token_issuer\": ", certo_trust_purpose_name(e->purpose));
    if (rc == CERTO_OK)
        rc = e->token_issuer != NULL ? cli_json_str(b, e->token_issuer)
                                     : certo_buf_append_str(b, "null");
    if (rc == CERTO_OK)
        rc = certo_buf_append_str(b, ", \"source\": ");
    if (rc == CERTO_OK)
        rc = cli_json_str(b, e->source);
    if (rc == CERTO_OK)
        rc = certo_buf_printf(b, ", \"added_at\": \"%s\"", added);
    return rc;
}

static certo_rc
entry_json(struct certo_buf *b, const struct certo_trust_entry *e)
{
    char na[32];
    certo_rc rc = certo_buf_append_str(b, "{");

    format_time(na, e->not_after, true);
    if (rc == CERTO_OK)
        rc = entry_members(b, e);
    if (rc == CERTO_OK)
        rc = certo_buf_printf(b, ", \"sha256_fingerprint\": \"%s\", \"subject\": ", e->fingerprint);
    if (rc == CERTO_OK)
        rc = cli_json_str(b, e->subject);
    if (rc == CERTO_OK)
        rc = certo_buf_append_str(b, ", \"issuer\": ");
    if (rc == CERTO_OK)
        rc = cli_json_str(b, e->issuer);
    if (rc == CERTO_OK)
        rc = certo_buf_printf(b, ", \"not_after\": \"%s\"}", na);
    return rc;
}

/* A listing as `trust list` prints it (text, or a JSON array). */
static certo_rc
print_list(const struct certo_trust_list *l, bool json, struct certo_err *err)
{
    struct certo_buf b;
    certo_rc rc = CERTO_OK;
    int w = 5;

    certo_buf_init(&b, EXPORT_MAX);
    if (json) {
        rc = certo_buf_append_str(&b, "[");
        for (size_t i = 0; rc == CERTO_OK && i < l->count; i++) {
            if (i > 0)
                rc = certo_buf_append_str(&b, ",\n ");
            if (rc == CERTO_OK)
                rc = entry_json(&b, &l->entries[i]);
        }
        if (rc == CERTO_OK)
            rc = certo_buf_append_str(&b, "]");
        if (rc != CERTO_OK) {
            rc = certo_err_set(err, rc, "cli", "the listing is too large for JSON");
            goto out;
        }
        printf("%.*s\n", (int)b.len, (const char *)b.data);
        goto out;
    }
    if (l->count == 0) {
        printf("the trust store is empty\n");
        goto out;
    }
    for (size_t i = 0; i < l->count; i++)
        w = (int)strlen(l->entries[i].alias) > w ? (int)strlen(l->entries[i].alias) : w;
    printf("%-*s %-12s %-10s %-95s %s\n", w, "ALIAS", "PURPOSE", "NOT AFTER", "SHA-256", "SUBJECT");
    for (size_t i = 0; i < l->count; i++) {
        const struct certo_trust_entry *e = &l->entries[i];
        char na[32];
        format_time(na, e->not_after, false);
        na[10] = '\0';
        printf("%-*s %-12s %-10s %-95s %s\n", w, e->alias, certo_trust_purpose_name(e->purpose), na,
               e->fingerprint, e->subject);
    }
out:
    certo_buf_dispose(&b);
    return rc;
}

static int
local_list(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0};
    struct certo_trust_list l = {0};
    struct certo_db *db = NULL;
    certo_rc rc = open_db(&db, a, &err);

    if (rc == CERTO_OK)
        rc = certo_trust_list(&l, db, &err);
    if (rc == CERTO_OK)
        rc = print_list(&l, cli_has(a, "json"), &err);
    certo_trust_list_dispose(&l);
    certo_db_close(db);
    return rc == CERTO_OK ? 0 : cli_fail(cmd, rc, &err);
}

static certo_rc
show_entry(const struct certo_trust_entry *e, bool json, struct certo_err *err)
{
    struct certo_cert_info info = {0};
    struct certo_buf b;
    char added[32], nb[32], na[32];
    certo_rc rc = certo_cert_info_get(&info, e->cert, err);

    certo_buf_init(&b, 1024 * 1024);
    if (rc != CERTO_OK)
        goto out;
    if (json) {
        rc = certo_cert_info_to_json(&b, &info);
        if (rc == CERTO_OK && b.len > 0 && ((char *)b.data)[b.len - 1] == '}') {
            b.len--; /* reopen the object to add the trust fields */
            rc = certo_buf_append_str(&b, ", ");
            if (rc == CERTO_OK)
                rc = entry_members(&b, e);
            if (rc == CERTO_OK)
                rc = certo_buf_append_str(&b, "}");
        }
        if (rc != CERTO_OK) {
            rc = certo_err_set(err, rc, "cli", "cannot format the certificate as JSON");
            goto out;
        }
        printf("%.*s\n", (int)b.len, (const char *)b.data);
        goto out;
    }
    format_time(added, e->added_at, false);
    format_time(nb, info.not_before, false);
    format_time(na, info.not_after, false);
    printf("alias:        %s\n", e->alias);
    printf("purpose:      %s\n", certo_trust_purpose_name(e->purpose));
    if (e->token_issuer != NULL)
        printf("token issuer: %s\n", e->token_issuer);
    printf("source:       %s\n", e->source);
    printf("added:        %s\n", added);
    printf("subject:      %s\n", info.subject);
    printf("issuer:       %s%s\n", info.issuer, info.self_signed ? " (self-signed)" : "");
    printf("SANs:        ");
    for (size_t i = 0; i < info.n_sans; i++)
        printf(" %s:%s%s", info.sans[i].type, info.sans[i].value, i + 1 < info.n_sans ? "," : "");
    printf("\n");
    printf("not before:   %s\n", nb);
    printf("not after:    %s\n", na);
    printf("key:          %s %d\n", info.key_alg, info.key_bits);
    printf("serial:       %s\n", info.serial);
    printf("SHA-256:      %s\n", info.fingerprint);
out:
    certo_buf_dispose(&b);
    certo_cert_info_dispose(&info);
    return rc;
}

static int
local_show(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0};
    struct certo_trust_entry e = {0};
    struct certo_db *db = NULL;
    certo_rc rc = open_db(&db, a, &err);

    if (rc == CERTO_OK)
        rc = certo_trust_get(&e, db, a->pos[0], &err);
    if (rc == CERTO_OK)
        rc = show_entry(&e, cli_has(a, "json"), &err);
    certo_trust_entry_dispose(&e);
    certo_db_close(db);
    return rc == CERTO_OK ? 0 : cli_fail(cmd, rc, &err);
}

/* ---- remove ---- */

static const struct cli_opt db_opts[] = {
    {"data", 'd', CLI_VALUE, "DIR", CLI_DATA_HELP},
    CLI_DB_OPT,
    {NULL, 0, 0, NULL, NULL},
};

static int
local_remove(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0};
    struct certo_trust_entry e = {0};
    struct certo_db *db = NULL;
    certo_rc rc = open_db(&db, a, &err);

    if (rc == CERTO_OK)
        rc = certo_trust_remove(&e, db, a->pos[0], &err);
    if (rc == CERTO_OK)
        printf("removed '%s' (SHA-256 %s)\n", e.alias, e.fingerprint);
    certo_trust_entry_dispose(&e);
    certo_db_close(db);
    return rc == CERTO_OK ? 0 : cli_fail(cmd, rc, &err);
}

/* ---- export ---- */

static const struct cli_opt export_opts[] = {
    {"out", 'o', CLI_VALUE, "FILE", "write the bundle to FILE (default: standard output)"},
    {"data", 'd', CLI_VALUE, "DIR", CLI_DATA_HELP},
    CLI_DB_OPT,
    {NULL, 0, 0, NULL, NULL},
};

static int
local_export(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0};
    struct certo_db *db = NULL;
    struct certo_buf b;
    const char *out = cli_get(a, "out");
    size_t n = 0;
    certo_rc rc = CERTO_EINTERNAL;

    certo_buf_init(&b, EXPORT_MAX);
    if (out != NULL && out[0] == '\0') {
        rc = certo_err_set(&err, CERTO_EINVAL, "cli", "--out: empty file name");
        goto out;
    }
    rc = open_db(&db, a, &err);
    if (rc == CERTO_OK)
        rc = certo_trust_export(&b, &n, db, &err);
    if (rc != CERTO_OK)
        goto out;
    if (out == NULL || strcmp(out, "-") == 0) {
        rc = cli_write_file("-", b.data, b.len, 0644, &err);
        goto out;
    }
    rc = certo_file_replace(out, b.data, b.len, 0644);
    if (rc != CERTO_OK) {
        rc = certo_err_sys(&err, rc, "cli", "--out %s: cannot write", out);
        goto out;
    }
    printf("exported %zu certificate%s to %s\n", n, n == 1 ? "" : "s", out);
out:
    certo_buf_dispose(&b);
    certo_db_close(db);
    return rc == CERTO_OK ? 0 : cli_fail(cmd, rc, &err);
}

/* ---- remote (--server): the same commands through the REST API ---- */

/* A string member of an API document, "" when missing. */
static const char *
doc_str(json_t *doc, const char *key)
{
    const char *v = json_string_value(json_object_get(doc, key));
    return v != NULL ? v : "";
}

/* A trust document of the API ({alias, fingerprint, subject, ...}) as an entry (no cert). */
static void
entry_from_doc(struct certo_trust_entry *e, json_t *doc)
{
    const char *iss = json_string_value(json_object_get(doc, "tokenIssuer"));

    memset(e, 0, sizeof(*e));
    e->alias = certo_strdup(doc_str(doc, "alias"));
    snprintf(e->fingerprint, sizeof(e->fingerprint), "%s", doc_str(doc, "fingerprint"));
    e->subject = certo_strdup(doc_str(doc, "subject"));
    e->issuer = certo_strdup(doc_str(doc, "issuer"));
    e->not_after = (time_t)json_integer_value(json_object_get(doc, "notAfter"));
    e->source = certo_strdup(doc_str(doc, "source"));
    e->purpose = strcmp(doc_str(doc, "purpose"), "token-issuer") == 0 ? CERTO_TRUST_TOKEN_ISSUER
                                                                      : CERTO_TRUST_PEER;
    e->token_issuer = iss != NULL ? certo_strdup(iss) : NULL;
    e->added_at = (time_t)json_integer_value(json_object_get(doc, "addedAt"));
}

static int
remote_list(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0};
    struct certo_session *s = NULL;
    struct certo_trust_list l = {0};
    json_t *items = NULL, *v;
    size_t i;
    certo_rc rc = cli_remote_open(&s, &err);

    if (rc == CERTO_OK)
        rc = cli_call_list(s, "/trust/", &items, &err);
    if (rc == CERTO_OK) {
        l.entries = certo_calloc(json_array_size(items) + 1, sizeof(*l.entries));
        json_array_foreach(items, i, v)
        {
            entry_from_doc(&l.entries[l.count++], v);
        }
        rc = print_list(&l, cli_has(a, "json"), &err);
    }
    certo_trust_list_dispose(&l);
    json_decref(items);
    certo_session_close(s);
    return rc == CERTO_OK ? 0 : cli_remote_fail(cmd, rc, &err);
}

/* GET /trust/{key}: the entry of one certificate (without the certificate itself). */
static certo_rc
remote_get(struct certo_trust_entry *e, struct certo_session *s, const char *key,
           struct certo_err *err)
{
    char *seg = cli_path_seg(key), *path = certo_asprintf("/trust/%s", seg);
    json_t *doc = NULL;
    certo_rc rc = cli_call(s, "GET", path, NULL, &doc, err);

    if (rc == CERTO_OK && !json_is_object(json_object_get(doc, "certificate")))
        rc = certo_err_set(err, CERTO_EREMOTE, "cli", "the server's answer is no trust entry");
    if (rc == CERTO_OK)
        entry_from_doc(e, json_object_get(doc, "certificate"));
    json_decref(doc);
    certo_free(path);
    certo_free(seg);
    return rc;
}

/*
 * The certificate of an entry: GET /trust/{alias} does not carry it, so it is taken
 * from the store's export by its fingerprint.
 */
static certo_rc
remote_cert(struct certo_trust_entry *e, struct certo_session *s, struct certo_err *err)
{
    STACK_OF(X509) *certs = NULL;
    json_t *doc = NULL;
    const char *pem;
    char fp[96];
    certo_rc rc = cli_call(s, "GET", "/trust/export", NULL, &doc, err);

    pem = json_string_value(json_object_get(doc, "pem"));
    if (rc == CERTO_OK && pem == NULL)
        rc = certo_err_set(err, CERTO_EREMOTE, "cli", "the server's export holds no PEM");
    if (rc == CERTO_OK)
        rc = certo_cert_parse_all(&certs, pem, strlen(pem), err);
    for (int i = 0; rc == CERTO_OK && i < sk_X509_num(certs) && e->cert == NULL; i++) {
        X509 *c = sk_X509_value(certs, i);
        if (certo_cert_fingerprint(fp, c, err) == CERTO_OK && strcmp(fp, e->fingerprint) == 0) {
            (void)sk_X509_delete(certs, i);
            e->cert = c;
        }
    }
    if (rc == CERTO_OK && e->cert == NULL)
        rc = certo_err_set(err, CERTO_ENOTFOUND, "cli", "'%s' is not in the server's export",
                           e->alias);
    certo_certs_free(certs);
    json_decref(doc);
    return rc;
}

static int
remote_show(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0};
    struct certo_session *s = NULL;
    struct certo_trust_entry e = {0};
    certo_rc rc = cli_remote_open(&s, &err);

    if (rc == CERTO_OK)
        rc = remote_get(&e, s, a->pos[0], &err);
    if (rc == CERTO_OK)
        rc = remote_cert(&e, s, &err);
    if (rc == CERTO_OK)
        rc = show_entry(&e, cli_has(a, "json"), &err);
    certo_trust_entry_dispose(&e);
    certo_session_close(s);
    return rc == CERTO_OK ? 0 : cli_remote_fail(cmd, rc, &err);
}

static int
remote_remove(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0};
    struct certo_session *s = NULL;
    struct certo_trust_entry e = {0};
    char *seg = NULL, *path = NULL;
    certo_rc rc = cli_remote_open(&s, &err);

    if (rc == CERTO_OK)
        rc = remote_get(&e, s, a->pos[0], &err);
    if (rc == CERTO_OK) {
        seg = cli_path_seg(e.alias);
        path = certo_asprintf("/trust/%s", seg);
        rc = cli_call(s, "DELETE", path, NULL, NULL, &err);
    }
    if (rc == CERTO_OK)
        printf("removed '%s' (SHA-256 %s)\n", e.alias, e.fingerprint);
    certo_free(path);
    certo_free(seg);
    certo_trust_entry_dispose(&e);
    certo_session_close(s);
    return rc == CERTO_OK ? 0 : cli_remote_fail(cmd, rc, &err);
}

static int
remote_export(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0};
    struct certo_session *s = NULL;
    const char *out = cli_get(a, "out"), *pem;
    json_t *doc = NULL;
    size_t n;
    certo_rc rc;

    if (out != NULL && out[0] == '\0')
        return cli_usage_error(cmd, "--out: empty file name");
    rc = cli_remote_open(&s, &err);
    if (rc == CERTO_OK)
        rc = cli_call(s, "GET", "/trust/export", NULL, &doc, &err);
    if (rc != CERTO_OK)
        goto out;
    pem = json_string_value(json_object_get(doc, "pem"));
    n = (size_t)json_integer_value(json_object_get(doc, "count"));
    if (pem == NULL) {
        rc = certo_err_set(&err, CERTO_EREMOTE, "cli", "the server's export holds no PEM");
        goto out;
    }
    if (out == NULL || strcmp(out, "-") == 0) {
        rc = cli_write_file("-", pem, strlen(pem), 0644, &err);
        goto out;
    }
    rc = certo_file_replace(out, pem, strlen(pem), 0644);
    if (rc != CERTO_OK) {
        rc = certo_err_sys(&err, rc, "cli", "--out %s: cannot write", out);
        goto out;
    }
    printf("exported %zu certificate%s to %s\n", n, n == 1 ? "" : "s", out);
out:
    json_decref(doc);
    certo_session_close(s);
    return rc == CERTO_OK ? 0 : cli_remote_fail(cmd, rc, &err);
}

static int
remote_import(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0}, e = {0};
    struct certo_session *s = NULL;
    struct certo_buf in = {0}, pem;
    STACK_OF(X509) *certs = NULL;
    const char *path = a->pos[0], *alias = cli_get(a, "alias"), *iss = cli_get(a, "token-issuer");
    json_t *body = NULL, *doc = NULL, *items, *v;
    size_t i, added;
    certo_rc rc;

    certo_buf_init(&pem, 2 * CERTO_PEM_MAX);
    rc = check_alias(a, &err);
    if (rc == CERTO_OK && iss != NULL && certo_trust_iss_check(iss, &e) != CERTO_OK)
        rc = certo_err_set(&err, CERTO_EINVAL, "cli", "--token-issuer: %s", e.msg);
    if (rc == CERTO_OK)
        rc = cli_read_file(&in, path, CERTO_PEM_MAX, "FILE", &err);
    if (rc != CERTO_OK)
        goto out;
    /* PEM goes as it is (an export's "# certo-trust" lines carry aliases); DER as PEM. */
    if (in.len > 0 && memmem(in.data, in.len, "-----BEGIN", 10) != NULL) {
        rc = certo_buf_append(&pem, in.data, in.len);
    } else {
        e = (struct certo_err){0};
        rc = certo_cert_parse_all(&certs, in.data, in.len, &e);
        if (rc != CERTO_OK)
            rc = certo_err_set(&err, rc, "cli", "FILE %s: %s", path, e.msg);
        for (int k = 0; rc == CERTO_OK && k < sk_X509_num(certs); k++)
            rc = certo_cert_to_pem(&pem, sk_X509_value(certs, k), &err);
    }
    if (rc != CERTO_OK)
        goto out;
    body = json_pack("{s:s%}", "certificate", (const char *)pem.data, pem.len);
    if (alias != NULL)
        json_object_set_new(body, "alias", json_string(alias));
    if (iss != NULL)
        json_object_set_new(body, "tokenIssuer", json_string(iss));
    rc = cli_remote_open(&s, &err);
    if (rc == CERTO_OK) {
        rc = cli_call(s, "POST", "/trust/", body, &doc, &err);
        body = NULL;
    }
    if (rc != CERTO_OK)
        goto out;
    items = json_object_get(doc, "items");
    added = (size_t)json_integer_value(json_object_get(doc, "added"));
    json_array_foreach(items, i, v)
    {
        if (json_is_true(json_object_get(v, "skipped")))
            printf("skipped %s: already trusted as '%s'\n", doc_str(v, "fingerprint"),
                   doc_str(v, "alias"));
        else
            printf("added '%s' (SHA-256 %s)\n", doc_str(v, "alias"), doc_str(v, "fingerprint"));
    }
    printf("%zu added, %zu already trusted\n", added, json_array_size(items) - added);
out:
    json_decref(body);
    json_decref(doc);
    certo_certs_free(certs);
    certo_buf_dispose(&pem);
    certo_buf_dispose(&in);
    certo_session_close(s);
    return rc == CERTO_OK ? 0 : cli_remote_fail(cmd, rc, &err);
}

/*
 * import-url through the server: the server connects (from its host, under its own
 * SSRF rules) and shows the certificate; it is stored only once confirmed, by sending
 * back the SHA-256 that was shown (the server refuses it if what it sees has changed).
 */
static int
remote_import_url(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0}, e = {0};
    struct certo_session *s = NULL;
    struct certo_trust_entry existing = {0};
    const char *pin_text = cli_get(a, "fingerprint"), *sni = cli_get(a, "sni");
    const char *alias = cli_get(a, "alias");
    char *host = NULL, pin[96], fp[96], nb[32], na[32];
    int port = 0, index = 0;
    json_t *req = NULL, *doc = NULL, *c;
    certo_rc rc;

    rc = certo_trust_parse_target(&host, &port, a->pos[0], &e);
    if (rc != CERTO_OK) {
        rc = certo_err_set(&err, rc, "cli", "HOST:PORT %s", e.msg);
        goto out;
    }
    if (pin_text != NULL && cli_has(a, "yes")) {
        rc = certo_err_set(&err, CERTO_EINVAL, "cli", "give only one of --yes and --fingerprint");
        goto out;
    }
    if (pin_text != NULL && !certo_trust_fingerprint_parse(pin, pin_text)) {
        rc = certo_err_set(&err, CERTO_EINVAL, "cli",
                           "--fingerprint: '%.100s' is not a SHA-256 fingerprint (64 hex digits, "
                           "colons optional)",
                           pin_text);
        goto out;
    }
    if (cli_has(a, "timeout")) {
        rc = certo_err_set(&err, CERTO_EINVAL, "cli",
                           "--timeout: not with --server (the server keeps its own deadline)");
        goto out;
    }
    rc = cli_int(&index, a, "chain-index", 0, 0, CERTO_TRUST_CHAIN_MAX - 1, &err);
    if (rc == CERTO_OK)
        rc = check_alias(a, &err);
    if (rc != CERTO_OK)
        goto out;
    req = json_pack("{s:s,s:i,s:i}", "host", host, "port", port, "chainIndex", index);
    if (sni != NULL)
        json_object_set_new(req, "sni", json_string(sni));
    if (alias != NULL)
        json_object_set_new(req, "alias", json_string(alias));
    rc = cli_remote_open(&s, &err);
    if (rc == CERTO_OK)
        rc = cli_call(s, "POST", "/trust/import-url", json_deep_copy(req), &doc, &err);
    if (rc != CERTO_OK)
        goto out;
    c = json_object_get(doc, "certificate");
    if (!certo_trust_fingerprint_parse(fp, doc_str(c, "sha256_fingerprint"))) {
        rc = certo_err_set(&err, CERTO_EREMOTE, "cli", "the server's preview holds no certificate");
        goto out;
    }
    cli_time_text(nb, json_string_value(json_object_get(c, "not_before")));
    cli_time_text(na, json_string_value(json_object_get(c, "not_after")));
    printf("%s (as the server %s sees it); certificate %d:\n", a->pos[0], certo_session_url_get0(s),
           index);
    printf("subject:     %s\n", doc_str(c, "subject"));
    printf("issuer:      %s%s\n", doc_str(c, "issuer"),
           json_is_true(json_object_get(c, "self_signed")) ? " (self-signed)" : "");
    printf("not before:  %s\n", nb);
    printf("not after:   %s\n", na);
    printf("SHA-256:     %s\n", fp);
    fflush(stdout);
    /* Already trusted: say so before asking anything. */
    e = (struct certo_err){0};
    rc = remote_get(&existing, s, fp, &e);
    if (rc == CERTO_OK) {
        rc = certo_err_set(&err, CERTO_EEXIST, "cli", "this certificate is already trusted as '%s'",
                           existing.alias);
        goto out;
    }
    if (rc != CERTO_ENOTFOUND) {
        err = e;
        goto out;
    }
    if (pin_text != NULL && strcmp(pin, fp) != 0) {
        rc = certo_err_set(&err, CERTO_EAUTH, "cli",
                           "--fingerprint: the certificate's SHA-256 is %s, not %s; nothing "
                           "stored",
                           fp, pin);
        goto out;
    }
    if (pin_text == NULL && !cli_has(a, "yes")) {
        if (!isatty(STDIN_FILENO)) {
            rc = certo_err_set(&err, CERTO_EINVAL, "cli",
                               "nothing stored: no terminal to confirm on (give --yes, or "
                               "--fingerprint %s to pin it)",
                               fp);
            goto out;
        }
        if (!confirm()) {
            rc = certo_err_set(&err, CERTO_EREMOTE, "cli", "not confirmed; nothing stored");
            goto out;
        }
    }
    json_decref(doc);
    doc = NULL;
    json_object_set_new(req, "fingerprint", json_string(fp));
    rc = cli_call(s, "POST", "/trust/import-url", req, &doc, &err);
    req = NULL;
    if (rc == CERTO_OK)
        printf("trusted as '%s' (SHA-256 %s)\n", doc_str(doc, "alias"), fp);
out:
    certo_trust_entry_dispose(&existing);
    json_decref(req);
    json_decref(doc);
    certo_free(host);
    certo_session_close(s);
    return rc == CERTO_OK ? 0 : cli_remote_fail(cmd, rc, &err);
}

/* ---- dispatch: offline on the database, or through the server ---- */

static int
run_import_url(const struct cli_cmd *cmd, struct cli_args *a)
{
    return cli_dispatch(cmd, a, local_import_url, remote_import_url);
}

static int
run_import(const struct cli_cmd *cmd, struct cli_args *a)
{
    return cli_dispatch(cmd, a, local_import, remote_import);
}

static int
run_list(const struct cli_cmd *cmd, struct cli_args *a)
{
    return cli_dispatch(cmd, a, local_list, remote_list);
}

static int
run_show(const struct cli_cmd *cmd, struct cli_args *a)
{
    return cli_dispatch(cmd, a, local_show, remote_show);
}

static int
run_remove(const struct cli_cmd *cmd, struct cli_args *a)
{
    return cli_dispatch(cmd, a, local_remove, remote_remove);
}

static int
run_export(const struct cli_cmd *cmd, struct cli_args *a)
{
    return cli_dispatch(cmd, a, local_export, remote_export);
}

const struct cli_cmd cli_trust_cmds[] = {
    {"trust import-url",
     "HOST:PORT [--sni NAME] [--timeout MS] [--alias A] [--yes | --fingerprint SHA256] "
     "[--chain-index N] [--data DIR] [--db URL]",
     "show the certificate a TLS server serves and trust it once confirmed", import_url_opts, 1, 1,
     run_import_url, NULL},
    {"trust import", "FILE [--alias A] [--token-issuer ISS] [--data DIR] [--db URL]",
     "trust the certificates of a PEM or DER file, or of another server's export", import_opts, 1,
     1, run_import, NULL},
    {"trust list", "[--json] [--data DIR] [--db URL]", "list the trusted certificates", list_opts,
     0, 0, run_list, NULL},
    {"trust show", "ALIAS|SHA256 [--json] [--data DIR] [--db URL]", "show one trusted certificate",
     list_opts, 1, 1, run_show, NULL},
    {"trust remove", "ALIAS|SHA256 [--data DIR] [--db URL]", "stop trusting one certificate",
     db_opts, 1, 1, run_remove, NULL},
    {"trust export", "[-o FILE] [--data DIR] [--db URL]",
     "the whole trust store as one PEM bundle, to import on another server", export_opts, 0, 0,
     run_export, NULL},
    {NULL, NULL, NULL, NULL, 0, 0, NULL, NULL},
};
