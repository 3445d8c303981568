/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `certo server` and `certo server-cert` (cli layer): runs the orchestrator server, and
 * works offline on its identity in the database: show, csr, import (the CA-signed
 * certificate), export-db / import-db (PKCS#12 with a password), rotate. The data
 * directory is --data, else $CERTO_HOME, else /var/lib/certo for root, else
 * ~/.local/share/certo, as for the gateway.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "certo/client.h"
#include <jansson.h>

#include "certo/agent.h"
#include "certo/file.h"
#include "certo/registry.h"
#include "certo/server.h"
#include "cli/cli.h"

/* ---- server ---- */

/*
 * The embedded local gateway's runner: the gateway agent's job runner on the registry of
 * the server's data directory (opened on the worker thread at the first job).
 */
struct local_ctx {
    const char *dir;
    struct certo_registry *reg;
};

static char *
dump_json(const json_t *v)
{
    size_t n = json_dumpb(v, NULL, 0, JSON_COMPACT);
    char *text = certo_malloc(n + 1);

    json_dumpb(v, text, n, JSON_COMPACT);
    text[n] = '\0';
    return text;
}

static void
run_local_job(void *arg, const char *text, struct certo_local_outcome *out)
{
    struct local_ctx *c = arg;
    struct certo_agent_outcome o;
    struct certo_err err = {0};
    json_t *job = json_loads(text, 0, NULL), *eps = NULL;
    const char *kind = json_string_value(json_object_get(job, "kind"));

    memset(&o, 0, sizeof(o));
    if (c->reg == NULL && certo_registry_open(&c->reg, c->dir, &err) != CERTO_OK) {
        snprintf(out->message, sizeof(out->message), "cannot open the gateway registry: %.180s",
                 err.msg);
        goto out;
    }
    if (kind != NULL && strcmp(kind, "sync") == 0) {
        if (certo_agent_endpoints(&eps, c->reg, &err) != CERTO_OK) {
            snprintf(out->message, sizeof(out->message), "%.250s", err.msg);
            goto out;
        }
        out->result = dump_json(eps);
        out->succeeded = true;
        goto out;
    }
    certo_agent_job_run(&o, c->reg, NULL, job);
    out->succeeded = o.succeeded;
    snprintf(out->message, sizeof(out->message), "%s", o.message);
    if (o.log.len > 0)
        out->log = certo_strndup((const char *)o.log.data, o.log.len);
    if (o.result != NULL)
        out->result = dump_json(o.result);
    certo_agent_outcome_dispose(&o);
out:
    json_decref(eps);
    json_decref(job); /* an install job's key: jansson's memory is wiped when freed */
}

static const struct cli_opt server_opts[] = {
    {"listen", 'l', CLI_VALUE, "ADDR:PORT",
     "address to listen on (default " CERTO_SERVER_LISTEN_DEFAULT "; 0.0.0.0 or :: only when "
     "given)"},
    {"data", 'd', CLI_VALUE, "DIR", CLI_DATA_HELP},
    CLI_DB_OPT,
    {"auth", 0, CLI_VALUE, "MODE",
     "logins accepted: password (default), external (tokens of an issuer in the trust store), "
     "or both"},
    {"token-ttl", 0, CLI_VALUE, "SECONDS", "life of a principal token (default 900, 60-28800)"},
    {"no-local-gateway", 0, CLI_FLAG, NULL,
     "do not run the embedded gateway (jobs for endpoints on this host's registry)"},
    {"job-lease", 0, CLI_VALUE, "SECONDS",
     "how long a gateway holds a job without a heartbeat before it is queued again (default "
     "120, 5-3600)"},
    {NULL, 0, 0, NULL, NULL},
};

static int
run_server(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0};
    struct certo_server_opts opts = {0};
    struct local_ctx local = {0};
    const char *auth = cli_get(a, "auth");
    char *dir = certo_registry_default_dir(cli_get(a, "data"));
    certo_rc rc = CERTO_EINTERNAL;

    opts.listen = cli_get(a, "listen");
    opts.data_dir = dir;
    opts.db_url = cli_db_url(a);
    if (auth != NULL && strcmp(auth, "password") != 0 && strcmp(auth, "external") != 0 &&
        strcmp(auth, "both") != 0) {
        certo_free(dir);
        return cli_usage_error(cmd, "--auth: password, external or both");
    }
    opts.auth_external = auth != NULL && strcmp(auth, "password") != 0;
    opts.auth_password = auth == NULL || strcmp(auth, "external") != 0;
    rc = cli_int(&opts.token_ttl, a, "token-ttl", 900, 60, 28800, &err);
    if (rc == CERTO_OK)
        rc = cli_int(&opts.job_lease, a, "job-lease", 120, 5, 3600, &err);
    local.dir = dir;
    if (!cli_has(a, "no-local-gateway")) {
        opts.local_runner = run_local_job;
        opts.local_ctx = &local;
    }
    if (rc == CERTO_OK)
        rc = certo_server_run(&opts, &err);
    certo_registry_close(local.reg);
    certo_free(dir);
    return rc == CERTO_OK ? 0 : cli_fail(cmd, rc, &err);
}

const struct cli_cmd cli_server_cmds[] = {
    {"server",
     "[--listen ADDR:PORT] [--data DIR] [--db URL] [--auth MODE] [--token-ttl S] [--job-lease S]",
     "run the orchestrator server (HTTPS)", server_opts, 0, 0, run_server, NULL},
    {NULL, NULL, NULL, NULL, 0, 0, NULL, NULL},
};

/* ---- server-cert show ---- */

static const struct cli_opt show_opts[] = {
    {"data", 'd', CLI_VALUE, "DIR", CLI_DATA_HELP},
    CLI_DB_OPT,
    {"json", 0, CLI_FLAG, NULL, "print one JSON object"},
    {NULL, 0, 0, NULL, NULL},
};

static void
format_time(char out[32], time_t t)
{
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(out, 32, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        snprintf(out, 32, "%lld", (long long)t);
}

static void
print_info(const struct certo_cert_info *in)
{
    char nb[32], na[32];

    format_time(nb, in->not_before);
    format_time(na, in->not_after);
    printf("subject:     %s\n", in->subject);
    printf("issuer:      %s%s\n", in->issuer, in->self_signed ? " (self-signed)" : "");
    printf("SANs:       ");
    for (size_t i = 0; i < in->n_sans; i++)
        printf(" %s:%s%s", in->sans[i].type, in->sans[i].value, i + 1 < in->n_sans ? "," : "");
    printf("\n");
    printf("not before:  %s\n", nb);
    printf("not after:   %s\n", na);
    printf("key:         %s %d\n", in->key_alg, in->key_bits);
    printf("serial:      %s\n", in->serial);
    printf("SHA-256:     %s\n", in->fingerprint);
}

/* One certificate as a line of the chain listing. */
static void
print_chain(STACK_OF(X509) * chain)
{
    char fp[96];
    struct certo_err ignore = {0};

    if (chain == NULL || sk_X509_num(chain) == 0) {
        printf("chain:       (none)\n");
        return;
    }
    for (int i = 0; i < sk_X509_num(chain); i++) {
        X509 *c = sk_X509_value(chain, i);
        char *subject = certo_cert_name_text(X509_get_subject_name(c));
        if (certo_cert_fingerprint(fp, c, &ignore) != CERTO_OK)
            snprintf(fp, sizeof(fp), "?");
        printf("%s %s (SHA-256 %s)\n", i == 0 ? "chain:      " : "            ", subject, fp);
        certo_free(subject);
    }
}

/* The chain as a JSON array of certificate objects, appended to 'b'. */
static certo_rc
chain_json(struct certo_buf *b, STACK_OF(X509) * chain, struct certo_err *err)
{
    certo_rc rc = certo_buf_append(b, "[", 1);

    for (int i = 0; chain != NULL && i < sk_X509_num(chain) && rc == CERTO_OK; i++) {
        struct certo_cert_info info = {0};
        rc = certo_cert_info_get(&info, sk_X509_value(chain, i), err);
        if (rc == CERTO_OK && i > 0)
            rc = certo_buf_append(b, ", ", 2);
        if (rc == CERTO_OK)
            rc = certo_cert_info_to_json(b, &info);
        certo_cert_info_dispose(&info);
    }
    if (rc == CERTO_OK)
        rc = certo_buf_append(b, "]", 1);
    return rc;
}

/* Prints the stored identity (text, or one JSON object with "chain" and "package_signers"). */
static certo_rc
print_identity(struct certo_db *db, bool json, struct certo_err *err)
{
    struct certo_identity id = {0};
    struct certo_cert_info info = {0};
    struct certo_buf b;
    int64_t signers = 0;
    certo_rc rc = CERTO_EINTERNAL;

    certo_buf_init(&b, 1024 * 1024);
    rc = certo_identity_load(&id, db, NULL, err);
    if (rc == CERTO_OK)
        rc = certo_cert_info_get(&info, id.cert, err);
    if (rc == CERTO_OK)
        rc = certo_identity_signers_count(&signers, db, err);
    if (rc != CERTO_OK)
        goto out;
    if (!json) {
        print_info(&info);
        print_chain(id.chain);
        printf("previous identities kept as package signers: %lld\n", (long long)signers);
        goto out;
    }
    rc = certo_cert_info_to_json(&b, &info);
    if (rc == CERTO_OK && b.len > 0 && ((char *)b.data)[b.len - 1] == '}') {
        b.len--; /* reopen the object to add the chain and the signers */
        rc = certo_buf_append(&b, ", \"chain\": ", 11);
        if (rc == CERTO_OK)
            rc = chain_json(&b, id.chain, err);
        if (rc == CERTO_OK)
            rc = certo_buf_printf(&b, ", \"package_signers\": %lld}", (long long)signers);
    }
    if (rc != CERTO_OK) {
        rc = certo_err_set(err, rc, "cli", "cannot format the certificate as JSON");
        goto out;
    }
    printf("%.*s\n", (int)b.len, (const char *)b.data);
out:
    certo_buf_dispose(&b);
    certo_cert_info_dispose(&info);
    certo_identity_dispose(&id);
    return rc;
}

/* Opens DATA/server.db of --data (or the default directory); *dir is owned by the caller. */
static certo_rc
open_db(struct certo_db **db, char **dir, const struct cli_args *a, struct certo_err *err)
{
    *dir = certo_registry_default_dir(cli_get(a, "data"));
    return certo_server_db_open(db, *dir, cli_db_url(a), err);
}

static int
local_show(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0};
    struct certo_db *db = NULL;
    char *dir = NULL;
    certo_rc rc = open_db(&db, &dir, a, &err);

    if (rc == CERTO_OK)
        rc = print_identity(db, cli_has(a, "json"), &err);
    certo_db_close(db);
    certo_free(dir);
    return rc == CERTO_OK ? 0 : cli_fail(cmd, rc, &err);
}

/* ---- server-cert csr ---- */

static const struct cli_opt csr_opts[] = {
    {"subject", 0, CLI_VALUE, "DN", "subject (default: the current certificate's)"},
    {"san", 0, CLI_MULTI, "DNS:x|IP:y",
     "subjectAltName, repeatable (default: the current certificate's)"},
    {"out", 'o', CLI_VALUE, "FILE", "write the CSR (PEM) to FILE (default: standard output)"},
    {"data", 'd', CLI_VALUE, "DIR", CLI_DATA_HELP},
    CLI_DB_OPT,
    {NULL, 0, 0, NULL, NULL},
};

static int
local_csr(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0};
    struct certo_names names = {0};
    struct certo_buf pem;
    struct certo_db *db = NULL;
    X509_REQ *req = NULL;
    const char *out = cli_get(a, "out");
    char *dir = NULL;
    certo_rc rc = CERTO_EINTERNAL;

    certo_buf_init(&pem, 64 * 1024);
    names.subject = cli_get(a, "subject");
    names.sans = cli_get_multi(a, "san", &names.n_sans);
    if (names.subject != NULL && names.subject[0] == '\0') {
        certo_buf_dispose(&pem);
        return cli_usage_error(cmd, "--subject: empty");
    }
    rc = open_db(&db, &dir, a, &err);
    if (rc == CERTO_OK)
        rc = certo_identity_csr(&req, db, dir, &names, &err);
    if (rc == CERTO_OK)
        rc = certo_csr_to_pem(&pem, req, &err);
    if (rc == CERTO_OK)
        rc = cli_write_file(out != NULL ? out : "-", pem.data, pem.len, 0644, &err);
    X509_REQ_free(req);
    certo_buf_dispose(&pem);
    certo_db_close(db);
    certo_free(dir);
    return rc == CERTO_OK ? 0 : cli_fail(cmd, rc, &err);
}

/* ---- server-cert import ---- */

static const struct cli_opt import_opts[] = {
    {"cert", 'c', CLI_VALUE, "FILE",
     "the CA-signed certificate (PEM or DER; may hold the chain too)"},
    {"chain", 0, CLI_VALUE, "FILE", "the intermediate certificates, any order"},
    {"force", 0, CLI_FLAG, NULL, "accept a certificate that is expired or not yet valid"},
    {"data", 'd', CLI_VALUE, "DIR", CLI_DATA_HELP},
    CLI_DB_OPT,
    {"json", 0, CLI_FLAG, NULL, "print the new identity as one JSON object"},
    {NULL, 0, 0, NULL, NULL},
};

/* Reads the certificates of 'path' into 'all' (errors name 'opt'). */
static certo_rc
read_certs(STACK_OF(X509) * all, const char *path, const char *opt, struct certo_err *err)
{
    struct certo_buf b;
    STACK_OF(X509) *certs = NULL;
    struct certo_err e = {0};
    certo_rc rc = cli_read_file(&b, path, CERTO_PEM_MAX, opt, err);

    if (rc != CERTO_OK)
        goto out;
    rc = certo_cert_parse_all(&certs, b.data, b.len, &e);
    if (rc != CERTO_OK) {
        rc = certo_err_set(err, rc, "cli", "%s %s: %s", opt, path, e.msg);
        goto out;
    }
    while (sk_X509_num(certs) > 0) {
        X509 *c = sk_X509_shift(certs);
        if (sk_X509_push(all, c) == 0) {
            certo_cert_free(c);
            rc = certo_err_set(err, CERTO_ENOMEM, "cli", "out of memory");
            goto out;
        }
    }
out:
    certo_certs_free(certs);
    certo_buf_dispose(&b);
    return rc;
}

static int
local_import(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0}, e = {0};
    struct certo_db *db = NULL;
    STACK_OF(X509) *certs = NULL;
    const char *cert = cli_get(a, "cert"), *chain = cli_get(a, "chain");
    char *dir = NULL;
    certo_rc rc = CERTO_EINTERNAL;

    if (cert == NULL)
        return cli_usage_error(cmd, "missing --cert FILE (the CA-signed certificate)");
    certs = sk_X509_new_null();
    if (certs == NULL) {
        rc = certo_err_set(&err, CERTO_ENOMEM, "cli", "out of memory");
        goto out;
    }
    rc = read_certs(certs, cert, "--cert", &err);
    if (rc == CERTO_OK && chain != NULL)
        rc = read_certs(certs, chain, "--chain", &err);
    if (rc == CERTO_OK)
        rc = open_db(&db, &dir, a, &err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_identity_import_cert(db, certs, cli_has(a, "force"), certo_clock_now(), &e);
    if (rc == CERTO_EINVAL)
        rc = certo_err_set(&err, rc, "cli", "--cert %s: %s%s", cert, e.msg,
                           strstr(e.msg, "valid") != NULL || strstr(e.msg, "expired") != NULL
                               ? " (--force to import it anyway)"
                               : "");
    else if (rc != CERTO_OK)
        err = e;
    if (rc == CERTO_OK)
        rc = print_identity(db, cli_has(a, "json"), &err);
out:
    certo_certs_free(certs);
    certo_db_close(db);
    certo_free(dir);
    return rc == CERTO_OK ? 0 : cli_fail(cmd, rc, &err);
}

/* ---- server-cert export-db / import-db ---- */

static const struct cli_opt export_opts[] = {
    {"out", 'o', CLI_VALUE, "FILE", "the PKCS#12 file to write (mode 0600)"},
    CLI_SECRET_OPTS("password", "password of the file"),
    {"data", 'd', CLI_VALUE, "DIR", CLI_DATA_HELP},
    CLI_DB_OPT,
    {NULL, 0, 0, NULL, NULL},
};

static const struct cli_opt import_db_opts[] = {
    {"in", 'i', CLI_VALUE, "FILE", "the PKCS#12 file (key, certificate, chain)"},
    CLI_SECRET_OPTS("password", "password of the file"),
    {"replace", 0, CLI_FLAG, NULL, "replace a self-signed identity"},
    {"data", 'd', CLI_VALUE, "DIR", CLI_DATA_HELP},
    CLI_DB_OPT,
    {"json", 0, CLI_FLAG, NULL, "print the new identity as one JSON object"},
    {NULL, 0, 0, NULL, NULL},
};

/* The password of export-db / import-db: given, read, not empty. */
static certo_rc
get_password(struct certo_secret **pass, const struct cli_cmd *cmd, const struct cli_args *a,
             bool confirm, struct certo_err *err)
{
    certo_rc rc;

    if (cli_has(a, "password"))
        fprintf(stderr,
                "certo %s: warning: --password on the command line can be seen by other users "
                "of this host; prefer --password-file, --password-env or the prompt\n",
                cmd->name);
    rc = cli_secret(pass, a, "password", "Password: ", confirm, err);
    if (rc != CERTO_OK)
        return rc;
    if (*pass == NULL)
        return certo_err_set(err, CERTO_EINVAL, "cli",
                             "missing --password-file, --password-env or --password (no "
                             "terminal to ask on)");
    if (certo_secret_len(*pass) == 0)
        return certo_err_set(err, CERTO_EINVAL, "cli",
                             "--password: an empty password is not "
                             "allowed");
    return CERTO_OK;
}

static int
local_export_db(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0};
    struct certo_secret *pass = NULL;
    struct certo_db *db = NULL;
    struct certo_buf p12;
    const struct certo_file_as as = {.mode = 0600, .uid = getuid(), .gid = getgid()};
    const char *out = cli_get(a, "out");
    char *dir = NULL;
    certo_rc rc = CERTO_EINTERNAL;

    if (out == NULL)
        return cli_usage_error(cmd, "missing --out FILE");
    certo_buf_init(&p12, CERTO_KEYSTORE_MAX);
    rc = get_password(&pass, cmd, a, true, &err);
    if (rc == CERTO_OK)
        rc = open_db(&db, &dir, a, &err);
    if (rc == CERTO_OK)
        rc = certo_identity_export(&p12, db, dir, pass, &err);
    if (rc != CERTO_OK)
        goto out;
    if (strcmp(out, "-") == 0) {
        rc = cli_write_file(out, p12.data, p12.len, 0600, &err);
        goto out;
    }
    rc = certo_file_replace_as(out, p12.data, p12.len, &as);
    if (rc != CERTO_OK)
        rc = certo_err_sys(&err, rc, "cli", "--out %s: cannot write", out);
out:
    certo_buf_dispose(&p12);
    certo_secret_free(pass);
    certo_db_close(db);
    certo_free(dir);
    return rc == CERTO_OK ? 0 : cli_fail(cmd, rc, &err);
}

static int
local_import_db(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0}, e = {0};
    struct certo_secret *pass = NULL;
    struct certo_db *db = NULL;
    struct certo_buf p12;
    const char *in = cli_get(a, "in");
    char *dir = NULL;
    certo_rc rc = CERTO_EINTERNAL;

    if (in == NULL)
        return cli_usage_error(cmd, "missing --in FILE");
    rc = cli_read_file(&p12, in, CERTO_KEYSTORE_MAX, "--in", &err);
    if (rc == CERTO_OK)
        rc = get_password(&pass, cmd, a, false, &err);
    if (rc == CERTO_OK)
        rc = open_db(&db, &dir, a, &err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_identity_import_p12(db, dir, p12.data, p12.len, pass, cli_has(a, "replace"), &e);
    if (rc == CERTO_EEXIST)
        err = e;
    else if (rc != CERTO_OK)
        rc = certo_err_set(&err, rc, "cli", "--in %s: %s", in, e.msg);
    if (rc == CERTO_OK)
        rc = print_identity(db, cli_has(a, "json"), &err);
out:
    certo_buf_dispose(&p12);
    certo_secret_free(pass);
    certo_db_close(db);
    certo_free(dir);
    return rc == CERTO_OK ? 0 : cli_fail(cmd, rc, &err);
}

/* ---- server-cert rotate ---- */

static int
local_rotate(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0};
    struct certo_db *db = NULL;
    char *dir = NULL;
    certo_rc rc = open_db(&db, &dir, a, &err);

    if (rc == CERTO_OK)
        rc = certo_identity_rotate(db, dir, NULL, &err);
    if (rc == CERTO_OK)
        rc = print_identity(db, cli_has(a, "json"), &err);
    certo_db_close(db);
    certo_free(dir);
    return rc == CERTO_OK ? 0 : cli_fail(cmd, rc, &err);
}

/* ---- remote (--server): the same commands through the REST API ---- */

/* One certificate object of the API (certo_cert_info_to_json's shape) as print_info does. */
static void
print_info_doc(json_t *c)
{
    json_t *sans = json_object_get(c, "sans"), *v;
    char nb[32], na[32];
    size_t i;

    cli_time_text(nb, json_string_value(json_object_get(c, "not_before")));
    cli_time_text(na, json_string_value(json_object_get(c, "not_after")));
    printf("subject:     %s\n", json_string_value(json_object_get(c, "subject")));
    printf("issuer:      %s%s\n", json_string_value(json_object_get(c, "issuer")),
           json_is_true(json_object_get(c, "self_signed")) ? " (self-signed)" : "");
    printf("SANs:       ");
    json_array_foreach(sans, i, v)
    {
        printf(" %s:%s%s", json_string_value(json_object_get(v, "type")),
               json_string_value(json_object_get(v, "value")),
               i + 1 < json_array_size(sans) ? "," : "");
    }
    printf("\n");
    printf("not before:  %s\n", nb);
    printf("not after:   %s\n", na);
    printf("key:         %s %d\n", json_string_value(json_object_get(c, "key_type")),
           (int)json_integer_value(json_object_get(c, "key_bits")));
    printf("serial:      %s\n", json_string_value(json_object_get(c, "serial")));
    printf("SHA-256:     %s\n", json_string_value(json_object_get(c, "sha256_fingerprint")));
}

/*
 * The identity document of GET /server-cert as print_identity prints it. The API does
 * not count the package signers: that line (and the JSON member) is left out.
 */
static certo_rc
print_identity_doc(json_t *doc, bool json, struct certo_err *err)
{
    json_t *chain = json_object_get(doc, "chain"), *v;
    size_t i;

    if (!json_is_object(doc) || !json_is_string(json_object_get(doc, "sha256_fingerprint")))
        return certo_err_set(err, CERTO_EREMOTE, "cli", "the server's answer is no certificate");
    if (json) {
        json_object_del(doc, "href");
        if (json_dumpf(doc, stdout, JSON_COMPACT) != 0 || putchar('\n') == EOF)
            return certo_err_set(err, CERTO_EIO, "cli", "cannot write to standard output");
        return CERTO_OK;
    }
    print_info_doc(doc);
    if (json_array_size(chain) == 0)
        printf("chain:       (none)\n");
    json_array_foreach(chain, i, v)
    {
        printf("%s %s (SHA-256 %s)\n", i == 0 ? "chain:      " : "            ",
               json_string_value(json_object_get(v, "subject")),
               json_string_value(json_object_get(v, "sha256_fingerprint")));
    }
    return CERTO_OK;
}

/* POST (or GET) 'path' with 'body' (consumed) and print the identity it answers. */
static int
remote_identity(const struct cli_cmd *cmd, struct cli_args *a, const char *method, const char *path,
                json_t *body)
{
    struct certo_err err = {0};
    struct certo_session *s = NULL;
    json_t *doc = NULL;
    certo_rc rc = cli_remote_open(&s, &err);

    if (rc == CERTO_OK) {
        rc = cli_call(s, method, path, body, &doc, &err);
        body = NULL;
    }
    if (rc == CERTO_OK)
        rc = print_identity_doc(doc, cli_has(a, "json"), &err);
    json_decref(body);
    json_decref(doc);
    certo_session_close(s);
    return rc == CERTO_OK ? 0 : cli_remote_fail(cmd, rc, &err);
}

static int
remote_show(const struct cli_cmd *cmd, struct cli_args *a)
{
    return remote_identity(cmd, a, "GET", "/server-cert", NULL);
}

static int
remote_rotate(const struct cli_cmd *cmd, struct cli_args *a)
{
    return remote_identity(cmd, a, "POST", "/server-cert/rotate", NULL);
}

static int
remote_reload(const struct cli_cmd *cmd, struct cli_args *a)
{
    return remote_identity(cmd, a, "POST", "/server-cert/reload", NULL);
}

static int
remote_csr(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0};
    struct certo_session *s = NULL;
    size_t n = 0;
    const char *const *sans = cli_get_multi(a, "san", &n);
    const char *subject = cli_get(a, "subject"), *out = cli_get(a, "out"), *pem;
    json_t *body = json_object(), *doc = NULL;
    certo_rc rc;

    if (subject != NULL && subject[0] == '\0') {
        json_decref(body);
        return cli_usage_error(cmd, "--subject: empty");
    }
    if (subject != NULL)
        json_object_set_new(body, "subject", json_string(subject));
    if (n > 0) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, json_string(sans[i]));
        json_object_set_new(body, "sans", arr);
    }
    rc = cli_remote_open(&s, &err);
    if (rc == CERTO_OK) {
        rc = cli_call(s, "POST", "/server-cert/csr", body, &doc, &err);
        body = NULL;
    }
    pem = json_string_value(json_object_get(doc, "csr"));
    if (rc == CERTO_OK && pem == NULL)
        rc = certo_err_set(&err, CERTO_EREMOTE, "cli", "the server's answer holds no CSR");
    if (rc == CERTO_OK)
        rc = cli_write_file(out != NULL ? out : "-", pem, strlen(pem), 0644, &err);
    json_decref(body);
    json_decref(doc);
    certo_session_close(s);
    return rc == CERTO_OK ? 0 : cli_remote_fail(cmd, rc, &err);
}

static int
remote_import(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0};
    struct certo_buf pem;
    STACK_OF(X509) *certs = NULL;
    const char *cert = cli_get(a, "cert"), *chain = cli_get(a, "chain");
    json_t *body = NULL;
    certo_rc rc = CERTO_EINTERNAL;

    if (cert == NULL)
        return cli_usage_error(cmd, "missing --cert FILE (the CA-signed certificate)");
    certo_buf_init(&pem, 2 * CERTO_PEM_MAX);
    certs = sk_X509_new_null();
    if (certs == NULL) {
        rc = certo_err_set(&err, CERTO_ENOMEM, "cli", "out of memory");
        goto out;
    }
    /* Read and checked here, so a bad file is named by its option; sent as PEM. */
    rc = read_certs(certs, cert, "--cert", &err);
    if (rc == CERTO_OK && chain != NULL)
        rc = read_certs(certs, chain, "--chain", &err);
    for (int i = 0; rc == CERTO_OK && i < sk_X509_num(certs); i++)
        rc = certo_cert_to_pem(&pem, sk_X509_value(certs, i), &err);
    if (rc != CERTO_OK)
        goto out;
    body = json_pack("{s:s%,s:b}", "certificate", (const char *)pem.data, pem.len, "force",
                     cli_has(a, "force"));
    certo_certs_free(certs);
    certo_buf_dispose(&pem);
    return remote_identity(cmd, a, "POST", "/server-cert/import", body);
out:
    certo_certs_free(certs);
    certo_buf_dispose(&pem);
    return cli_fail(cmd, rc, &err);
}

static int
remote_export_db(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0};
    struct certo_secret *pass = NULL;
    struct certo_session *s = NULL;
    const struct certo_file_as as = {.mode = 0600, .uid = getuid(), .gid = getgid()};
    const char *out = cli_get(a, "out"), *b64;
    unsigned char *der = NULL;
    json_t *doc = NULL;
    size_t n = 0;
    int len = 0;
    certo_rc rc;

    if (out == NULL)
        return cli_usage_error(cmd, "missing --out FILE");
    rc = get_password(&pass, cmd, a, true, &err);
    if (rc != CERTO_OK)
        return cli_fail(cmd, rc, &err);
    rc = cli_remote_open(&s, &err);
    if (rc == CERTO_OK)
        rc = cli_call(s, "POST", "/server-cert/export-db",
                      json_pack("{s:s}", "password", certo_secret_get0(pass)), &doc, &err);
    if (rc != CERTO_OK)
        goto out;
    b64 = json_string_value(json_object_get(doc, "pkcs12"));
    n = b64 != NULL ? strlen(b64) : 0;
    if (n == 0 || n % 4 != 0) {
        rc = certo_err_set(&err, CERTO_EREMOTE, "cli", "the server's answer holds no PKCS#12");
        goto out;
    }
    der = certo_malloc(n / 4 * 3 + 4);
    len = EVP_DecodeBlock(der, (const unsigned char *)b64, (int)n);
    if (len < 0) {
        rc = certo_err_set(&err, CERTO_EREMOTE, "cli", "the server's PKCS#12 is not base64");
        goto out;
    }
    len -= (b64[n - 1] == '=') + (b64[n - 2] == '=');
    if (strcmp(out, "-") == 0) {
        rc = cli_write_file(out, der, (size_t)len, 0600, &err);
        goto out;
    }
    rc = certo_file_replace_as(out, der, (size_t)len, &as);
    if (rc != CERTO_OK)
        rc = certo_err_sys(&err, rc, "cli", "--out %s: cannot write", out);
out:
    if (der != NULL)
        certo_free_clear(der, n / 4 * 3 + 4);
    json_decref(doc);
    certo_secret_free(pass);
    certo_session_close(s);
    return rc == CERTO_OK ? 0 : cli_remote_fail(cmd, rc, &err);
}

static int
remote_import_db(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0};
    struct certo_secret *pass = NULL;
    struct certo_buf p12;
    const char *in = cli_get(a, "in");
    char *b64 = NULL;
    size_t cap = 0;
    json_t *body = NULL;
    certo_rc rc;

    if (in == NULL)
        return cli_usage_error(cmd, "missing --in FILE");
    rc = cli_read_file(&p12, in, CERTO_KEYSTORE_MAX, "--in", &err);
    if (rc == CERTO_OK)
        rc = get_password(&pass, cmd, a, false, &err);
    if (rc != CERTO_OK || p12.len == 0) {
        if (rc == CERTO_OK)
            rc = certo_err_set(&err, CERTO_EINVAL, "cli", "--in %s: empty file", in);
        certo_buf_dispose(&p12);
        certo_secret_free(pass);
        return cli_fail(cmd, rc, &err);
    }
    cap = (p12.len + 2) / 3 * 4 + 1;
    b64 = certo_malloc(cap);
    EVP_EncodeBlock((unsigned char *)b64, p12.data, (int)p12.len);
    body = json_pack("{s:s,s:s,s:b}", "pkcs12", b64, "password", certo_secret_get0(pass), "replace",
                     cli_has(a, "replace"));
    OPENSSL_cleanse(p12.data, p12.len);
    certo_buf_dispose(&p12);
    certo_free_clear(b64, cap);
    certo_secret_free(pass);
    return remote_identity(cmd, a, "POST", "/server-cert/import-db", body);
}

/* ---- dispatch: offline on the database, or through the server ---- */

static int
run_show(const struct cli_cmd *cmd, struct cli_args *a)
{
    return cli_dispatch(cmd, a, local_show, remote_show);
}

static int
run_csr(const struct cli_cmd *cmd, struct cli_args *a)
{
    return cli_dispatch(cmd, a, local_csr, remote_csr);
}

static int
run_import(const struct cli_cmd *cmd, struct cli_args *a)
{
    return cli_dispatch(cmd, a, local_import, remote_import);
}

static int
run_export_db(const struct cli_cmd *cmd, struct cli_args *a)
{
    return cli_dispatch(cmd, a, local_export_db, remote_export_db);
}

static int
run_import_db(const struct cli_cmd *cmd, struct cli_args *a)
{
    return cli_dispatch(cmd, a, local_import_db, remote_import_db);
}

static int
run_rotate(const struct cli_cmd *cmd, struct cli_args *a)
{
    return cli_dispatch(cmd, a, local_rotate, remote_rotate);
}

static int
run_reload(const struct cli_cmd *cmd, struct cli_args *a)
{
    return cli_dispatch(cmd, a, NULL, remote_reload);
}

static const struct cli_opt reload_opts[] = {
    {"json", 0, CLI_FLAG, NULL, "print the identity as one JSON object"},
    {NULL, 0, 0, NULL, NULL},
};

const struct cli_cmd cli_server_cert_cmds[] = {
    {"server-cert show", "[--data DIR] [--json]",
     "show the server identity certificate (subject, SANs, validity, SHA-256, chain)", show_opts, 0,
     0, run_show, NULL},
    {"server-cert csr", "[--subject DN] [--san DNS:x|IP:y ...] [--out FILE] [--data DIR]",
     "a certificate signing request for the identity's key", csr_opts, 0, 0, run_csr, NULL},
    {"server-cert import", "--cert FILE [--chain FILE] [--force] [--data DIR] [--json]",
     "import the CA-signed certificate of the identity's key (and its chain)", import_opts, 0, 0,
     run_import, NULL},
    {"server-cert export-db", "--out FILE [--password-file FILE|--password-env VAR] [--data DIR]",
     "export the identity (key, certificate, chain) as a password-protected PKCS#12", export_opts,
     0, 0, run_export_db, NULL},
    {"server-cert import-db",
     "--in FILE [--password-file FILE|--password-env VAR] [--replace] [--data DIR] [--json]",
     "make the key entry of a PKCS#12 file the identity", import_db_opts, 0, 0, run_import_db,
     NULL},
    {"server-cert rotate", "[--data DIR] [--json]",
     "a new key and self-signed certificate; the old one is kept as a package signer", show_opts, 0,
     0, run_rotate, NULL},
    {"server-cert reload", "[--json] (with --server)",
     "make the running server's listener load its identity again (remote only)", reload_opts, 0, 0,
     run_reload, NULL},
    {NULL, NULL, NULL, NULL, 0, 0, NULL, NULL},
};
