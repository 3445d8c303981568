/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the scan specifications of the net layer. The input is a target
 * spec, a NUL byte and a port spec (no NUL: the whole input is both). Targets are parsed
 * with a small ceiling; "@FILE" items are never parsed here, because the harness must not
 * read the file system (an input whose target part holds an '@' is only given to the
 * port parser). On success the count is within the ceiling and every port is 1-65535 and
 * unique; on failure nothing is returned and the message names its parser.
 */
#include <string.h>

#include <openssl/err.h>

#include "certo/certo.h"
#include "certo/scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX 4096

static void
check_targets(const char *spec, uint64_t max)
{
    struct certo_scan_targets *t = (struct certo_scan_targets *)(uintptr_t)1;
    struct certo_err err = {0};
    certo_rc rc = certo_scan_targets_parse(&t, spec, max, &err);

    if (rc == CERTO_OK) {
        uint64_t n = certo_scan_targets_count(t);
        if (t == NULL || n == 0 || n > max || err.rc != CERTO_OK)
            abort();
        certo_scan_targets_free(t);
        return;
    }
    if (t != NULL || err.rc != rc || strncmp(err.msg, "targets: ", 9) != 0 ||
        (rc != CERTO_EINVAL && rc != CERTO_ETOOBIG))
        abort();
}

static void
check_ports(const char *spec)
{
    struct certo_scan_ports p = {(uint16_t *)(uintptr_t)1, 7};
    struct certo_err err = {0};
    certo_rc rc = certo_scan_ports_parse(&p, spec, &err);
    static uint8_t seen[65536];

    if (rc != CERTO_OK) {
        if (p.v != NULL || p.n != 0 || err.rc != rc || strncmp(err.msg, "ports: ", 7) != 0)
            abort();
        return;
    }
    if (p.n == 0 || p.n > 65535)
        abort();
    memset(seen, 0, sizeof(seen));
    for (size_t i = 0; i < p.n; i++) {
        if (p.v[i] == 0 || seen[p.v[i]])
            abort();
        seen[p.v[i]] = 1;
    }
    certo_scan_ports_dispose(&p);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *targets = certo_malloc(size + 1), *ports;
    const uint8_t *nul = memchr(data, 0, size);

    memcpy(targets, data, size);
    targets[size] = '\0';
    ports = nul != NULL ? targets + (nul - data) + 1 : targets;
    if (strchr(targets, '@') == NULL) {
        check_targets(targets, MAX);
        /* The ceiling is checked item by item: a ceiling of one refuses any range. */
        check_targets(targets, 1);
    }
    check_ports(ports);
    certo_free(targets);
    return 0;
}
