/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of src/gateway/scans.c: rows from engine results, batched writing, reading. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509_vfy.h>

#include "certo/registry.h"
#include "certo/scans.h"
#include "certo/store.h"
#include "gateway/gateway.h"
#include "testutil.h"

static struct certo_registry *
open_reg(const char *dir)
{
    struct certo_registry *reg = NULL;
    struct certo_err err = {0};
    assert_int_equal(certo_registry_open(&reg, dir, &err), CERTO_OK);
    return reg;
}

/* A TLS result for fixture chain 'pem' on port 'port'. */
static struct certo_scan_result
tls_result(STACK_OF(X509) * chain, uint16_t port, const char *sni, int verify)
{
    struct certo_scan_result r = {0};
    r.target = "127.0.0.1";
    r.address = "127.0.0.1";
    r.port = port;
    r.sni = sni;
    r.kind = CERTO_SCAN_TLS;
    r.detail = "";
    r.version = "TLSv1.3";
    r.cipher = "TLS_AES_256_GCM_SHA384";
    r.chain = chain;
    r.verify = verify;
    return r;
}

static void
test_gateway_scans__row_from_tls(void **state)
{
    STACK_OF(X509) *chain = t_fixture_certs("fullchain-rsa2048.pem");
    struct certo_scan_result r = tls_result(chain, 443, "www.example.test", X509_V_OK);
    struct certo_scan_row row;
    struct certo_err err = {0};
    char fp[96];
    (void)state;

    assert_int_equal(certo_cert_fingerprint(fp, sk_X509_value(chain, 0), &err), CERTO_OK);
    assert_int_equal(certo_scan_row_from(&row, &r, &err), CERTO_OK);
    assert_string_equal(row.kind, "tls");
    assert_string_equal(row.sni, "www.example.test");
    assert_null(row.detail); /* "" is stored as NULL */
    assert_string_equal(row.fingerprint, fp);
    assert_string_equal(row.subject, "CN=www.example.test");
    assert_string_equal(row.issuer, "CN=Certo Test Intermediate CA");
    assert_string_equal(row.common_name, "www.example.test");
    assert_string_equal(row.sans, "DNS:www.example.test, DNS:example.test, IP:127.0.0.1, "
                                  "email:ops@example.test, URI:https://example.test/");
    assert_string_equal(row.key, "RSA 2048");
    assert_string_equal(row.verify, "ok");
    assert_int_equal(row.chain_len, 3);
    assert_int_equal(row.self_signed, 0);
    assert_true(row.not_after > row.not_before);
    assert_non_null(strstr(row.chain, "-----BEGIN CERTIFICATE-----"));
    certo_scan_row_dispose(&row);

    /* Not verified: no verify text; a verification error: OpenSSL's reason. */
    r.verify = -1;
    assert_int_equal(certo_scan_row_from(&row, &r, &err), CERTO_OK);
    assert_null(row.verify);
    certo_scan_row_dispose(&row);
    r.verify = X509_V_ERR_CERT_HAS_EXPIRED;
    assert_int_equal(certo_scan_row_from(&row, &r, &err), CERTO_OK);
    assert_string_equal(row.verify, "certificate has expired");
    certo_scan_row_dispose(&row);
    certo_certs_free(chain);
}

static void
test_gateway_scans__row_from_other(void **state)
{
    struct certo_scan_result r = {0};
    struct certo_scan_row row;
    struct certo_err err = {0};
    (void)state;

    r.target = "db.example.test";
    r.address = "10.0.0.5";
    r.port = 22;
    r.kind = CERTO_SCAN_OTHER;
    r.detail = "SSH-2.0-OpenSSH_9.2";
    r.verify = -1;
    assert_int_equal(certo_scan_row_from(&row, &r, &err), CERTO_OK);
    assert_string_equal(row.kind, "other");
    assert_string_equal(row.target, "db.example.test");
    assert_string_equal(row.detail, "SSH-2.0-OpenSSH_9.2");
    assert_null(row.version);
    assert_null(row.fingerprint);
    assert_null(row.chain);
    assert_int_equal(row.self_signed, -1);
    certo_scan_row_dispose(&row);
}

/* 600 findings: written in batches, read back in order with every field; remove. */
static void
test_gateway_scans__write_read_remove(void **state)
{
    char *dir = t_mkdtemp();
    struct certo_registry *reg = open_reg(dir);
    STACK_OF(X509) *chain = t_fixture_certs("leaf-ec256.crt");
    struct certo_scan_writer *w = NULL;
    struct certo_scan_stats st = {0};
    struct certo_scan_info info, *list = NULL;
    struct certo_scan_row *rows = NULL;
    struct certo_err err = {0};
    size_t n = 0;
    int64_t id;
    (void)state;

    assert_int_equal(certo_scan_writer_open(&w, reg, "127.0.0.1", "1-600", NULL, &err), CERTO_OK);
    id = certo_scan_writer_id(w);
    assert_true(id >= 1);
    /* While it runs, the scan is listed as running. */
    assert_int_equal(certo_scan_list(reg, &list, &n, &err), CERTO_OK);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].outcome, "running");
    certo_scan_info_list_free(list, n);
    for (uint16_t p = 1; p <= 600; p++) {
        struct certo_scan_result r = tls_result(chain, p, p % 2 ? NULL : "a.test", -1);
        struct certo_scan_row row;
        assert_int_equal(certo_scan_row_from(&row, &r, &err), CERTO_OK);
        assert_int_equal(certo_scan_writer_add(w, &row, &err), CERTO_OK);
        assert_null(row.target); /* taken */
    }
    st.targets = 1;
    st.probes = 600;
    st.open = 600;
    st.tls = 600;
    assert_int_equal(certo_scan_writer_close(w, "done", &st, &err), CERTO_OK);

    assert_int_equal(certo_scan_get(reg, 0, &info, &rows, &n, &err), CERTO_OK);
    assert_int_equal(info.id, id);
    assert_string_equal(info.outcome, "done");
    assert_string_equal(info.ports, "1-600");
    assert_null(info.sni);
    assert_int_equal(info.stats.targets, 1);
    assert_int_equal(info.stats.probes, 600);
    assert_int_equal(info.stats.tls, 600);
    assert_int_equal(n, 600);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(rows[i].port, (int)i + 1);
        if (i % 2 == 0)
            assert_null(rows[i].sni);
        else
            assert_string_equal(rows[i].sni, "a.test");
        assert_string_equal(rows[i].common_name, "ec256.example.test");
        assert_int_equal(rows[i].chain_len, 1);
        assert_int_equal(rows[i].self_signed, 0);
        assert_null(rows[i].verify);
    }
    certo_scan_rows_free(rows, n);
    certo_scan_info_dispose(&info);

    assert_int_equal(certo_scan_get(reg, id + 1, &info, &rows, &n, &err), CERTO_ENOTFOUND);
    assert_int_equal(certo_scan_remove(reg, id, &err), CERTO_OK);
    certo_err_clear(&err);
    assert_int_equal(certo_scan_remove(reg, id, &err), CERTO_ENOTFOUND);
    assert_string_equal(err.msg, "no scan 1");
    certo_err_clear(&err);
    assert_int_equal(certo_scan_get(reg, 0, &info, &rows, &n, &err), CERTO_ENOTFOUND);
    {
        struct certo_stmt *q = NULL;
        bool row = false;
        assert_int_equal(certo_db_prepare(certo_registry__db(reg), &q,
                                          "SELECT count(*) FROM scan_results", &err),
                         CERTO_OK);
        assert_int_equal(certo_stmt_step(q, &row, &err), CERTO_OK);
        assert_true(row);
        assert_int_equal(certo_stmt_int(q, 0), 0);
        certo_stmt_free(q);
    }
    certo_certs_free(chain);
    certo_registry_close(reg);
    t_rmdir(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gateway_scans__row_from_tls),
        cmocka_unit_test(test_gateway_scans__row_from_other),
        cmocka_unit_test(test_gateway_scans__write_read_remove),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
