/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Secrets (util layer). Bytes live in OpenSSL's secure heap when the program set one up
 * (CRYPTO_secure_malloc_init), else in the normal heap; either way they are wiped on free.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "certo/buf.h"
#include "certo/file.h"
#include "certo/limits.h"
#include "certo/mem.h"
#include "certo/secret.h"

struct certo_secret {
    size_t len;  /* bytes, excluding the NUL */
    char *bytes; /* owned, secure heap, NUL-terminated */
};

certo_rc
certo_secret_new(struct certo_secret **out, const void *p, size_t n)
{
    *out = NULL;
    if (n > CERTO_SECRET_MAX)
        return CERTO_ETOOBIG;
    struct certo_secret *s = certo_calloc(1, sizeof(*s));
    s->bytes = OPENSSL_secure_malloc(n + 1);
    if (s->bytes == NULL) {
        certo_free(s);
        return CERTO_ENOMEM;
    }
    if (n > 0)
        memcpy(s->bytes, p, n);
    s->bytes[n] = '\0';
    s->len = n;
    *out = s;
    return CERTO_OK;
}

certo_rc
certo_secret_from_str(struct certo_secret **out, const char *s)
{
    return certo_secret_new(out, s, strnlen(s, CERTO_SECRET_MAX + 1));
}

certo_rc
certo_secret_load_file(struct certo_secret **out, const char *path)
{
    unsigned char raw[CERTO_SECRET_MAX + 2];
    size_t len = 0;
    certo_rc rc = CERTO_EINTERNAL;
    int fd;

    *out = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return certo_file_rc_from_errno(errno);
    while (len < sizeof(raw)) {
        ssize_t n = read(fd, raw + len, sizeof(raw) - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = certo_file_rc_from_errno(errno);
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    /* The secret is the first line; a file that ends without a newline is fine. */
    size_t line = 0;
    while (line < len && raw[line] != '\n')
        line++;
    if (line > 0 && raw[line - 1] == '\r')
        line--;
    if (line > CERTO_SECRET_MAX) {
        rc = CERTO_ETOOBIG;
        goto out;
    }
    rc = certo_secret_new(out, raw, line);
out:
    OPENSSL_cleanse(raw, sizeof(raw));
    close(fd);
    return rc;
}

void
certo_secret_free(struct certo_secret *s)
{
    if (s == NULL)
        return;
    OPENSSL_secure_clear_free(s->bytes, s->len + 1);
    certo_free(s);
}

const char *
certo_secret_get0(const struct certo_secret *s)
{
    return s->bytes;
}

size_t
certo_secret_len(const struct certo_secret *s)
{
    return s->len;
}

bool
certo_secret_equal(const struct certo_secret *a, const struct certo_secret *b)
{
    if (a->len != b->len)
        return false;
    return CRYPTO_memcmp(a->bytes, b->bytes, a->len) == 0;
}
