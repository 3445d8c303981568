/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of src/server/trust.c: the SSRF rules of import-url, the fetch's caps
 * against a real `openssl s_server`, aliases, duplicates, all-or-nothing bundle import,
 * and export → import replication into a second database.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "certo/csr.h"
#include "certo/key.h"
#include "certo/server.h"
#include "certo/trust.h"
#include "testutil.h"

struct fx {
    char *dir;
    struct certo_db *db;
};

static int
setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct certo_err err = {0};

    f->dir = t_mkdtemp();
    assert_int_equal(certo_server_db_open(&f->db, f->dir, NULL, &err), CERTO_OK);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;
    certo_db_close(f->db);
    t_rmdir(f->dir);
    free(f);
    return 0;
}

/* A new self-signed certificate with 'subject'. */
static X509 *
make_cert(const char *subject)
{
    const struct certo_key_spec spec = {.alg = CERTO_KEY_EC, .bits = 256};
    const struct certo_sign_opts opts = {.days = 30, .is_ca = false, .path_len = -1};
    const struct certo_names names = {.subject = subject};
    struct certo_err err = {0};
    EVP_PKEY *key = NULL;
    X509 *c = NULL;

    assert_int_equal(certo_key_generate(&key, &spec, &err), CERTO_OK);
    assert_int_equal(certo_cert_selfsign(&c, key, &names, &opts, &err), CERTO_OK);
    EVP_PKEY_free(key);
    return c;
}

static size_t
count_rows(struct certo_db *db)
{
    struct certo_trust_list l = {0};
    struct certo_err err = {0};
    size_t n;

    assert_int_equal(certo_trust_list(&l, db, &err), CERTO_OK);
    n = l.count;
    certo_trust_list_dispose(&l);
    return n;
}

/* ---- SSRF rules ---- */

static const char *
refusal_of(const char *text)
{
    struct sockaddr_storage ss = {0};
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;

    if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
    } else {
        assert_int_equal(inet_pton(AF_INET6, text, &v6->sin6_addr), 1);
        v6->sin6_family = AF_INET6;
    }
    return certo_trust_addr_refusal((struct sockaddr *)&ss);
}

static void
test_server_trust__ssrf_classifier(void **state)
{
    static const struct {
        const char *addr, *why; /* why NULL: allowed */
    } cases[] = {
        {"169.254.169.254", "a cloud metadata address"},
        {"100.100.100.200", "a cloud metadata address"},
        {"fd00:ec2::254", "a cloud metadata address"},
        {"::ffff:169.254.169.254", "a cloud metadata address"},
        {"64:ff9b::a9fe:a9fe", "a cloud metadata address"},
        {"169.254.0.1", "a link-local address"},
        {"169.254.255.255", "a link-local address"},
        {"fe80::1", "a link-local address"},
        {"febf:ffff::1", "a link-local address"},
        {"::ffff:169.254.1.1", "a link-local address"},
        {"0.0.0.0", "an unspecified address"},
        {"0.1.2.3", "an unspecified address"},
        {"::", "an unspecified address"},
        {"224.0.0.1", "a multicast address"},
        {"239.255.255.250", "a multicast address"},
        {"ff02::1", "a multicast address"},
        {"ff0e::1", "a multicast address"},
        {"255.255.255.255", "a broadcast address"},
        {"240.0.0.1", "a reserved address"},
        {"127.0.0.1", NULL},
        {"127.9.9.9", NULL},
        {"::1", NULL},
        {"10.0.0.1", NULL},
        {"172.16.5.4", NULL},
        {"192.168.1.1", NULL},
        {"100.64.0.1", NULL},
        {"100.100.100.201", NULL},
        {"169.253.255.255", NULL},
        {"169.255.0.0", NULL},
        {"fd00::1", NULL},
        {"fd00:ec2::253", NULL},
        {"fec0::1", NULL},
        {"fc00::1", NULL},
        {"2001:db8::1", NULL},
        {"::ffff:127.0.0.1", NULL},
        {"8.8.8.8", NULL},
    };
    (void)state;
    for (size_t i = 0; i < CERTO_ARRAY_LEN(cases); i++) {
        const char *why = refusal_of(cases[i].addr);
        if (cases[i].why == NULL && why != NULL)
            fail_msg("%s refused as %s", cases[i].addr, why);
        if (cases[i].why != NULL && (why == NULL || strcmp(why, cases[i].why) != 0))
            fail_msg("%s: got %s, want %s", cases[i].addr, why != NULL ? why : "allowed",
                     cases[i].why);
    }
    assert_true(certo_trust_name_refused("metadata.google.internal"));
    assert_true(certo_trust_name_refused("METADATA.Google.Internal."));
    assert_false(certo_trust_name_refused("metadata.google.internal.example.com"));
    assert_false(certo_trust_name_refused("google.internal"));
}

/* Refused targets fail before any connection (an unroutable port would time out). */
static void
test_server_trust__fetch_refuses_without_connecting(void **state)
{
    static const char *hosts[] = {"169.254.169.254",          "fe80::1",
                                  "metadata.google.internal", "0.0.0.0",
                                  "::ffff:169.254.169.254",   "255.255.255.255"};
    const struct certo_trust_fetch_opts o = {.timeout_ms = 60000};
    (void)state;
    for (size_t i = 0; i < CERTO_ARRAY_LEN(hosts); i++) {
        struct certo_tls_peer p;
        struct certo_err err = {0};
        int64_t t0 = certo_clock_mono_ms();
        assert_int_equal(certo_trust_fetch(&p, hosts[i], 443, &o, &err), CERTO_EPERM);
        assert_non_null(strstr(err.msg, "refused, nothing was connected to"));
        assert_null(p.chain);
        assert_true(certo_clock_mono_ms() - t0 < 5000);
    }
}

static void
test_server_trust__target_and_fingerprint_parsing(void **state)
{
    struct certo_err err = {0};
    char *host = NULL, fp[96];
    int port = 0;
    (void)state;

    assert_int_equal(certo_trust_parse_target(&host, &port, "127.0.0.1:8443", &err), CERTO_OK);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 8443);
    certo_free(host);
    assert_int_equal(certo_trust_parse_target(&host, &port, "[::1]:443", &err), CERTO_OK);
    assert_string_equal(host, "::1");
    certo_free(host);
    static const char *bad[] = {
        "",         "host",    "host:",    ":443",          "host:0", "host:70000", "host:-1",
        "host:44x", "::1:443", "[::1]443", "[nothost]:443", "a b:1",  "-x:1"};
    for (size_t i = 0; i < CERTO_ARRAY_LEN(bad); i++) {
        err = (struct certo_err){0};
        if (certo_trust_parse_target(&host, &port, bad[i], &err) != CERTO_EINVAL)
            fail_msg("'%s' accepted", bad[i]);
        assert_null(host);
    }
    const char *want = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:"
                       "AB:CD:EF:01:23:45:67:89";
    assert_true(certo_trust_fingerprint_parse(
        fp, "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"));
    assert_string_equal(fp, want);
    assert_true(certo_trust_fingerprint_parse(fp, want));
    assert_string_equal(fp, want);
    assert_false(certo_trust_fingerprint_parse(fp, "abcdef"));
    assert_false(certo_trust_fingerprint_parse(
        fp, "abcdef0123456789abcdef0123456789abcdef0123456789abcdef012345678g"));
    assert_false(certo_trust_fingerprint_parse(
        fp, "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789aa"));
}

/* ---- aliases and duplicates ---- */

static void
test_server_trust__alias_derivation(void **state)
{
    static const struct {
        const char *subject, *alias;
    } cases[] = {
        {"CN=Orch.Example.COM", "orch.example.com"},
        {"CN=*.example.com", "example.com"},
        {"CN=My Server (prod)", "my-server-prod"},
        {"O=No CN Here", "cert"},
        {"CN=---", "cert"},
        {"CN=a_b-c.d", "a_b-c.d"},
    };
    struct fx *f = *state;
    struct certo_err err = {0};
    char *a = NULL;
    X509 *c;

    for (size_t i = 0; i < CERTO_ARRAY_LEN(cases); i++) {
        c = make_cert(cases[i].subject);
        a = certo_trust_alias_derive(c);
        if (strcmp(a, cases[i].alias) != 0)
            fail_msg("%s: alias '%s', want '%s'", cases[i].subject, a, cases[i].alias);
        assert_int_equal(certo_trust_alias_check(a, &err), CERTO_OK);
        certo_free(a);
        certo_cert_free(c);
    }
    /* long names are cut to 48 bytes and still end on a letter or digit */
    c = make_cert("CN=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa bbbbbbbbbbbb");
    a = certo_trust_alias_derive(c);
    assert_int_equal(strlen(a), 47); /* "a" x 47, the cut "-" dropped */
    assert_int_equal(certo_trust_alias_check(a, &err), CERTO_OK);
    certo_free(a);
    certo_cert_free(c);

    /* the same CN twice: made unique */
    X509 *c1 = make_cert("CN=dup"), *c2 = make_cert("CN=dup"), *c3 = make_cert("CN=dup");
    char *a1 = NULL, *a2 = NULL, *a3 = NULL;
    assert_int_equal(certo_trust_add(&a1, f->db, c1, NULL, &err), CERTO_OK);
    assert_int_equal(certo_trust_add(&a2, f->db, c2, NULL, &err), CERTO_OK);
    assert_string_equal(a1, "dup");
    assert_string_equal(a2, "dup-2");
    /* an explicit alias is checked, and a clash is an error */
    static const char *bad[] = {
        "",
        "Upper",
        "-dash",
        ".dot",
        "a b",
        "a/b",
        "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
    for (size_t i = 0; i < CERTO_ARRAY_LEN(bad); i++) {
        const struct certo_trust_add_opts o = {.alias = bad[i]};
        err = (struct certo_err){0};
        if (certo_trust_add(&a3, f->db, c3, &o, &err) != CERTO_EINVAL)
            fail_msg("alias '%s' accepted", bad[i]);
    }
    const struct certo_trust_add_opts clash = {.alias = "dup"};
    err = (struct certo_err){0};
    assert_int_equal(certo_trust_add(&a3, f->db, c3, &clash, &err), CERTO_EEXIST);
    assert_non_null(strstr(err.msg, "'dup' is already in use"));
    assert_null(a3);
    assert_int_equal(count_rows(f->db), 2);
    certo_free(a1);
    certo_free(a2);
    certo_cert_free(c1);
    certo_cert_free(c2);
    certo_cert_free(c3);
}

static void
test_server_trust__duplicate_fingerprint_names_the_alias(void **state)
{
    struct fx *f = *state;
    struct certo_err err = {0};
    struct certo_trust_entry e = {0};
    const struct certo_trust_add_opts o = {.alias = "other"};
    X509 *c = make_cert("CN=twice");
    char fp[96], *a = NULL;

    assert_int_equal(certo_trust_add(&a, f->db, c, NULL, &err), CERTO_OK);
    assert_string_equal(a, "twice");
    certo_free(a);
    a = NULL;
    assert_int_equal(certo_trust_add(&a, f->db, c, &o, &err), CERTO_EEXIST);
    assert_non_null(strstr(err.msg, "already trusted as 'twice'"));
    assert_int_equal(count_rows(f->db), 1);
    /* get and remove by fingerprint in any spelling, and by alias */
    assert_int_equal(certo_cert_fingerprint(fp, c, &err), CERTO_OK);
    char lower[96];
    size_t n = 0;
    for (const char *p = fp; *p != '\0'; p++) {
        if (*p != ':')
            lower[n++] = (char)(*p >= 'A' && *p <= 'F' ? *p + 32 : *p);
    }
    lower[n] = '\0';
    assert_int_equal(certo_trust_get(&e, f->db, lower, &err), CERTO_OK);
    assert_string_equal(e.alias, "twice");
    assert_string_equal(e.source, "file");
    assert_int_equal(e.purpose, CERTO_TRUST_PEER);
    assert_null(e.token_issuer);
    certo_trust_entry_dispose(&e);
    err = (struct certo_err){0};
    assert_int_equal(certo_trust_remove(NULL, f->db, "nope", &err), CERTO_ENOTFOUND);
    assert_int_equal(certo_trust_remove(&e, f->db, lower, &err), CERTO_OK);
    assert_string_equal(e.alias, "twice");
    certo_trust_entry_dispose(&e);
    assert_int_equal(count_rows(f->db), 0);
    certo_cert_free(c);
}

/* ---- import and replication ---- */

static void
append_pem(struct certo_buf *b, X509 *c)
{
    struct certo_err err = {0};
    assert_int_equal(certo_cert_to_pem(b, c, &err), CERTO_OK);
}

static void
test_server_trust__bundle_import_is_all_or_nothing(void **state)
{
    struct fx *f = *state;
    struct certo_err err = {0};
    struct certo_trust_import_result r = {0};
    struct certo_buf b, one;
    X509 *pre = make_cert("CN=pre"), *c1 = make_cert("CN=one"), *c2 = make_cert("CN=two");
    char *a = NULL;

    assert_int_equal(certo_trust_add(&a, f->db, pre, NULL, &err), CERTO_OK);
    certo_free(a);
    certo_buf_init(&b, 1024 * 1024);
    certo_buf_init(&one, 1024 * 1024);
    append_pem(&b, c1);
    append_pem(&one, c2);
    /* the second certificate has a corrupt body */
    char *body = memchr(one.data, '\n', one.len);
    body[10] = '!';
    body[11] = '!';
    assert_int_equal(certo_buf_append(&b, one.data, one.len), CERTO_OK);
    assert_int_equal(certo_trust_import(&r, f->db, b.data, b.len, NULL, &err), CERTO_EPARSE);
    assert_non_null(strstr(err.msg, "certificate 2"));
    assert_int_equal(r.count, 0);
    assert_int_equal(count_rows(f->db), 1);
    /* a block with no END line */
    certo_buf_reset(&b);
    append_pem(&b, c1);
    assert_int_equal(certo_buf_append_str(&b, "-----BEGIN CERTIFICATE-----\nMIIB\n"), CERTO_OK);
    err = (struct certo_err){0};
    assert_int_equal(certo_trust_import(&r, f->db, b.data, b.len, NULL, &err), CERTO_EPARSE);
    assert_int_equal(count_rows(f->db), 1);
    /* garbage and an empty input */
    err = (struct certo_err){0};
    assert_int_equal(certo_trust_import(&r, f->db, "garbage\n", 8, NULL, &err), CERTO_EPARSE);
    err = (struct certo_err){0};
    assert_int_equal(certo_trust_import(&r, f->db, "", 0, NULL, &err), CERTO_EPARSE);
    /* an alias for several certificates */
    certo_buf_reset(&b);
    append_pem(&b, c1);
    append_pem(&b, c2);
    const struct certo_trust_add_opts o = {.alias = "x"};
    err = (struct certo_err){0};
    assert_int_equal(certo_trust_import(&r, f->db, b.data, b.len, &o, &err), CERTO_EINVAL);
    assert_int_equal(count_rows(f->db), 1);
    /* the good bundle, with the pre-existing certificate and a duplicate in it */
    append_pem(&b, pre);
    append_pem(&b, c1);
    err = (struct certo_err){0};
    assert_int_equal(certo_trust_import(&r, f->db, b.data, b.len, NULL, &err), CERTO_OK);
    assert_int_equal(r.count, 4);
    assert_int_equal(r.added, 2);
    assert_false(r.items[0].skipped);
    assert_string_equal(r.items[0].alias, "one");
    assert_true(r.items[2].skipped);
    assert_string_equal(r.items[2].alias, "pre");
    assert_true(r.items[3].skipped);
    assert_string_equal(r.items[3].alias, "one");
    certo_trust_import_dispose(&r);
    assert_int_equal(count_rows(f->db), 3);
    certo_buf_dispose(&b);
    certo_buf_dispose(&one);
    certo_cert_free(pre);
    certo_cert_free(c1);
    certo_cert_free(c2);
}

static void
test_server_trust__export_import_round_trip(void **state)
{
    struct fx *f = *state;
    struct fx g = {0};
    struct certo_err err = {0};
    struct certo_trust_import_result r = {0};
    struct certo_trust_list la = {0}, lb = {0};
    struct certo_buf b, der;
    const struct certo_trust_add_opts tok = {.alias = "idp", .token_issuer = "https://idp.test/"};
    X509 *c1 = make_cert("CN=peer one"), *c2 = make_cert("CN=IdP signer");
    STACK_OF(X509) *fixture = t_fixture_certs("int.crt");

    certo_buf_init(&b, 8 * 1024 * 1024);
    certo_buf_init(&der, 64 * 1024);
    assert_int_equal(certo_trust_add(NULL, f->db, c1, NULL, &err), CERTO_OK);
    assert_int_equal(certo_trust_add(NULL, f->db, c2, &tok, &err), CERTO_OK);
    /* a DER file */
    assert_int_equal(certo_cert_to_der(&der, sk_X509_value(fixture, 0), &err), CERTO_OK);
    assert_int_equal(certo_trust_import(&r, f->db, der.data, der.len, NULL, &err), CERTO_OK);
    assert_int_equal(r.added, 1);
    certo_trust_import_dispose(&r);
    size_t n = 0;
    assert_int_equal(certo_trust_export(&b, &n, f->db, &err), CERTO_OK);
    assert_int_equal(n, 3);

    g.dir = t_mkdtemp();
    assert_int_equal(certo_server_db_open(&g.db, g.dir, NULL, &err), CERTO_OK);
    /* the second server has another certificate under one of the aliases */
    X509 *other = make_cert("CN=peer one");
    assert_int_equal(certo_trust_add(NULL, g.db, other, NULL, &err), CERTO_OK);
    assert_int_equal(certo_trust_import(&r, g.db, b.data, b.len, NULL, &err), CERTO_OK);
    assert_int_equal(r.added, 3);
    certo_trust_import_dispose(&r);
    /* replication runs again: nothing new */
    assert_int_equal(certo_trust_import(&r, g.db, b.data, b.len, NULL, &err), CERTO_OK);
    assert_int_equal(r.added, 0);
    assert_int_equal(r.count, 3);
    certo_trust_import_dispose(&r);

    assert_int_equal(certo_trust_list(&la, f->db, &err), CERTO_OK);
    assert_int_equal(certo_trust_list(&lb, g.db, &err), CERTO_OK);
    assert_int_equal(lb.count, 4);
    for (size_t i = 0; i < la.count; i++) {
        struct certo_trust_entry e = {0};
        assert_int_equal(certo_trust_get(&e, g.db, la.entries[i].fingerprint, &err), CERTO_OK);
        assert_int_equal(e.purpose, la.entries[i].purpose);
        if (la.entries[i].token_issuer != NULL)
            assert_string_equal(e.token_issuer, la.entries[i].token_issuer);
        else
            assert_null(e.token_issuer);
        /* the alias survives unless the target had it for another certificate */
        if (strcmp(la.entries[i].alias, "peer-one") == 0)
            assert_string_equal(e.alias, "peer-one-2");
        else
            assert_string_equal(e.alias, la.entries[i].alias);
        assert_string_equal(e.source, "import");
        certo_trust_entry_dispose(&e);
    }

    /* what the token code and peer verification get */
    STACK_OF(X509) *iss = NULL;
    assert_int_equal(certo_trust_issuer_certs(&iss, g.db, "https://idp.test/", &err), CERTO_OK);
    assert_int_equal(sk_X509_num(iss), 1);
    assert_int_equal(X509_cmp(sk_X509_value(iss, 0), c2), 0);
    certo_certs_free(iss);
    err = (struct certo_err){0};
    assert_int_equal(certo_trust_issuer_certs(&iss, g.db, "https://other/", &err), CERTO_ENOTFOUND);
    X509_STORE *store = NULL;
    assert_int_equal(certo_trust_x509_store(&store, g.db, CERTO_TRUST_PEER, &err), CERTO_OK);
    STACK_OF(X509) *leaf = t_fixture_certs("leaf-ec256.crt");
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    assert_int_equal(X509_STORE_CTX_init(ctx, store, sk_X509_value(leaf, 0), NULL), 1);
    assert_int_equal(X509_verify_cert(ctx), 1); /* anchored at the intermediate */
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    /* the token signer is not a peer anchor */
    assert_int_equal(certo_trust_x509_store(&store, g.db, CERTO_TRUST_TOKEN_ISSUER, &err),
                     CERTO_OK);
    ctx = X509_STORE_CTX_new();
    assert_int_equal(X509_STORE_CTX_init(ctx, store, sk_X509_value(leaf, 0), NULL), 1);
    assert_int_not_equal(X509_verify_cert(ctx), 1);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);

    certo_certs_free(leaf);
    certo_trust_list_dispose(&la);
    certo_trust_list_dispose(&lb);
    certo_db_close(g.db);
    t_rmdir(g.dir);
    certo_buf_dispose(&b);
    certo_buf_dispose(&der);
    certo_certs_free(fixture);
    certo_cert_free(c1);
    certo_cert_free(c2);
    certo_cert_free(other);
}

/* ---- the fetch's caps, against openssl s_server ---- */

static int
free_port(void)
{
    struct sockaddr_in a = {0};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void
test_server_trust__fetch_caps(void **state)
{
    char portstr[16];
    int port = free_port();
    struct certo_tls_peer p;
    struct certo_err err = {0};
    certo_rc rc = CERTO_ENET;
    pid_t pid;
    (void)state;

    snprintf(portstr, sizeof(portstr), "%d", port);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        const char *cert = certo_strdup(t_fixture("leaf-ec256.crt"));
        const char *key = certo_strdup(t_fixture("leaf-ec256.key"));
        const char *chain = certo_strdup(t_fixture("chain.pem"));
        execl("/usr/bin/openssl", "openssl", "s_server", "-quiet", "-accept", portstr, "-cert",
              cert, "-key", key, "-cert_chain", chain, "-naccept", "100", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 100 && rc != CERTO_OK; i++) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        certo_err_clear(&err);
        rc = certo_trust_fetch(&p, "127.0.0.1", port, NULL, &err);
        if (rc != CERTO_OK)
            nanosleep(&ts, NULL);
    }
    int served = rc == CERTO_OK ? sk_X509_num(p.chain) : 0;
    if (rc == CERTO_OK)
        certo_tls_peer_dispose(&p);
    const struct certo_trust_fetch_opts few_bytes = {.max_bytes = 300};
    certo_rc small = certo_trust_fetch(&p, "127.0.0.1", port, &few_bytes, &err);
    certo_err_clear(&err);
    const struct certo_trust_fetch_opts short_chain = {.max_chain = 1};
    certo_rc chain = certo_trust_fetch(&p, "localhost", port, &short_chain, &err);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    assert_int_equal(rc, CERTO_OK);
    assert_true(served >= 2);
    assert_int_equal(small, CERTO_ETOOBIG);
    assert_int_equal(chain, CERTO_ETOOBIG);
    assert_non_null(strstr(err.msg, "the limit is 1"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_trust__ssrf_classifier),
        cmocka_unit_test(test_server_trust__fetch_refuses_without_connecting),
        cmocka_unit_test(test_server_trust__target_and_fingerprint_parsing),
        cmocka_unit_test_setup_teardown(test_server_trust__alias_derivation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_trust__duplicate_fingerprint_names_the_alias,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_trust__bundle_import_is_all_or_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_server_trust__export_import_round_trip, setup,
                                        teardown),
        cmocka_unit_test(test_server_trust__fetch_caps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
