/* SPDX-License-Identifier: Apache-2.0 */
/*
 * AES-256-GCM sealing of secrets at rest (pki layer). The KEK sits in OpenSSL's secure
 * heap and is wiped on free; plaintexts come back as certo_secret. Nothing here logs, and
 * no error message carries key or plaintext bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "certo/clock.h"
#include "certo/file.h"
#include "certo/hex.h"
#include "certo/mem.h"
#include "certo/seal.h"

#define KID_LEN   4
#define NONCE_LEN 12
#define TAG_LEN   16
#define HDR_LEN   (3 + KID_LEN + NONCE_LEN)
#define HEX_LEN   (2 * CERTO_SEAL_KEY_LEN)

struct certo_seal_key {
    unsigned char key[CERTO_SEAL_KEY_LEN];
    unsigned char kid[KID_LEN];
};

static const unsigned char magic[3] = {'C', 'S', 0x01};

/* 64 hex digits, optionally followed by one newline (a file written by an editor). */
static bool
parse_hex_key(unsigned char *out, const char *s, size_t len)
{
    if (len == HEX_LEN + 1 && s[HEX_LEN] == '\n')
        len--;
    if (len != HEX_LEN)
        return false;
    for (size_t i = 0; i < CERTO_SEAL_KEY_LEN; i++) {
        int hi = certo_hex_value((unsigned char)s[2 * i]);
        int lo = certo_hex_value((unsigned char)s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return true;
}

certo_rc
certo_seal_key_from_bytes(struct certo_seal_key **out, const unsigned char *raw, size_t n,
                          struct certo_err *err)
{
    static const char label[] = "certo-seal-kid";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    struct certo_seal_key *k = NULL;
    EVP_MD_CTX *ctx = NULL;
    certo_rc rc = CERTO_EINTERNAL;

    *out = NULL;
    if (n != CERTO_SEAL_KEY_LEN)
        return certo_err_set(err, CERTO_EINVAL, "pki.seal", "a secret key has %d bytes, not %zu",
                             CERTO_SEAL_KEY_LEN, n);
    k = OPENSSL_secure_zalloc(sizeof(*k));
    if (k == NULL)
        return certo_err_set(err, CERTO_ENOMEM, "pki.seal", "out of secure memory");
    memcpy(k->key, raw, n);
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(ctx, label, sizeof(label) - 1) != 1 ||
        EVP_DigestUpdate(ctx, k->key, sizeof(k->key)) != 1 ||
        EVP_DigestFinal_ex(ctx, md, &mdlen) != 1) {
        rc = certo_err_ossl(err, CERTO_ECRYPTO, "pki.seal", "cannot derive the key id");
        goto out;
    }
    memcpy(k->kid, md, KID_LEN);
    *out = k;
    k = NULL;
    rc = CERTO_OK;
out:
    EVP_MD_CTX_free(ctx);
    certo_seal_key_free(k);
    return rc;
}

void
certo_seal_key_free(struct certo_seal_key *k)
{
    if (k != NULL)
        OPENSSL_secure_clear_free(k, sizeof(*k));
}

/*
 * Writes a new random key to 'path' without a window where another process could read a
 * half-written file or where two creators could end up with different keys: the key goes
 * to a private temporary file that is then hard-linked to 'path'. link() fails with
 * EEXIST when someone else won the race, and then their key is the one to use.
 */
static certo_rc
create_key_file(const char *path, struct certo_err *err)
{
    unsigned char raw[CERTO_SEAL_KEY_LEN];
    char hex[HEX_LEN + 2];
    char *tmp = NULL;
    int fd = -1;
    certo_rc rc = CERTO_EINTERNAL;

    rc = certo_rand_bytes(raw, sizeof(raw));
    if (rc != CERTO_OK) {
        rc = certo_err_ossl(err, rc, "pki.seal", "no random bytes for a secret key");
        goto out;
    }
    for (size_t i = 0; i < sizeof(raw); i++) {
        hex[2 * i] = certo_hex_digit(raw[i] >> 4);
        hex[2 * i + 1] = certo_hex_digit(raw[i]);
    }
    hex[HEX_LEN] = '\n';
    hex[HEX_LEN + 1] = '\0';
    tmp = certo_asprintf("%s.tmp.%ld", path, (long)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        rc = certo_err_sys(err, certo_file_rc_from_errno(errno), "pki.seal",
                           "cannot create secret key file %s", path);
        goto out;
    }
    if (write(fd, hex, HEX_LEN + 1) != HEX_LEN + 1 || fsync(fd) != 0) {
        rc = certo_err_sys(err, CERTO_EIO, "pki.seal", "cannot write secret key file %s", path);
        goto out;
    }
    if (link(tmp, path) != 0 && errno != EEXIST) {
        rc = certo_err_sys(err, certo_file_rc_from_errno(errno), "pki.seal",
                           "cannot create secret key file %s", path);
        goto out;
    }
    rc = CERTO_OK;
out:
    if (fd >= 0) {
        close(fd);
        (void)unlink(tmp);
    }
    OPENSSL_cleanse(raw, sizeof(raw));
    OPENSSL_cleanse(hex, sizeof(hex));
    certo_free(tmp);
    return rc;
}

static certo_rc
read_key_file(unsigned char *raw, const char *path, struct certo_err *err)
{
    char text[HEX_LEN + 2];
    struct stat st;
    ssize_t got;
    int fd = -1;
    certo_rc rc = CERTO_EINTERNAL;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        rc = certo_err_sys(err, certo_file_rc_from_errno(errno), "pki.seal",
                           "cannot open secret key file %s", path);
        goto out;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = certo_err_set(err, CERTO_EINVAL, "pki.seal", "secret key file %s is not a file", path);
        goto out;
    }
    if ((st.st_mode & 077) != 0) {
        rc = certo_err_set(err, CERTO_EPERM, "pki.seal",
                           "secret key file %s may be read by others (mode %03o; chmod 600)", path,
                           (unsigned)(st.st_mode & 0777));
        goto out;
    }
    got = read(fd, text, sizeof(text));
    if (got < 0) {
        rc = certo_err_sys(err, CERTO_EIO, "pki.seal", "cannot read secret key file %s", path);
        goto out;
    }
    if (!parse_hex_key(raw, text, (size_t)got)) {
        rc = certo_err_set(err, CERTO_EPARSE, "pki.seal",
                           "secret key file %s does not hold 64 hex digits", path);
        goto out;
    }
    rc = CERTO_OK;
out:
    OPENSSL_cleanse(text, sizeof(text));
    if (fd >= 0)
        close(fd);
    return rc;
}

certo_rc
certo_seal_key_load(struct certo_seal_key **out, const char *path, const char *env_name,
                    bool create, struct certo_err *err)
{
    unsigned char raw[CERTO_SEAL_KEY_LEN];
    const char *env = env_name != NULL ? getenv(env_name) : NULL;
    certo_rc rc = CERTO_EINTERNAL;

    *out = NULL;
    if (env != NULL) {
        if (!parse_hex_key(raw, env, strlen(env))) {
            rc = certo_err_set(err, CERTO_EPARSE, "pki.seal",
                               "environment variable %s does not hold 64 hex digits", env_name);
            goto out;
        }
    } else {
        if (create && !certo_file_exists(path)) {
            rc = create_key_file(path, err);
            if (rc != CERTO_OK)
                goto out;
        }
        rc = read_key_file(raw, path, err);
        if (rc != CERTO_OK)
            goto out;
    }
    rc = certo_seal_key_from_bytes(out, raw, sizeof(raw), err);
out:
    OPENSSL_cleanse(raw, sizeof(raw));
    return rc;
}

certo_rc
certo_seal(const struct certo_seal_key *k, const char *aad, const void *pt, size_t n,
           struct certo_buf *out, struct certo_err *err)
{
    unsigned char hdr[HDR_LEN];
    unsigned char tag[TAG_LEN];
    unsigned char *ct = NULL;
    EVP_CIPHER_CTX *ctx = NULL;
    int len = 0, fin = 0;
    certo_rc rc = CERTO_EINTERNAL;

    if (n > INT32_MAX)
        return certo_err_set(err, CERTO_ETOOBIG, "pki.seal", "value too large to seal");
    memcpy(hdr, magic, sizeof(magic));
    memcpy(hdr + 3, k->kid, KID_LEN);
    rc = certo_rand_bytes(hdr + 3 + KID_LEN, NONCE_LEN);
    if (rc != CERTO_OK)
        return certo_err_ossl(err, rc, "pki.seal", "no random bytes for a nonce");
    ct = certo_malloc(n + 1);
    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL ||
        EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, k->key, hdr + 3 + KID_LEN) != 1 ||
        EVP_EncryptUpdate(ctx, NULL, &len, hdr, HDR_LEN) != 1 ||
        EVP_EncryptUpdate(ctx, NULL, &len, (const unsigned char *)aad, (int)strlen(aad)) != 1 ||
        EVP_EncryptUpdate(ctx, ct, &len, pt, (int)n) != 1 ||
        EVP_EncryptFinal_ex(ctx, ct + len, &fin) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) != 1) {
        rc = certo_err_ossl(err, CERTO_ECRYPTO, "pki.seal", "AES-256-GCM encryption failed");
        goto out;
    }
    rc = certo_buf_append(out, hdr, HDR_LEN);
    if (rc == CERTO_OK)
        rc = certo_buf_append(out, ct, (size_t)len + (size_t)fin);
    if (rc == CERTO_OK)
        rc = certo_buf_append(out, tag, TAG_LEN);
    if (rc != CERTO_OK)
        rc = certo_err_set(err, rc, "pki.seal", "sealed value does not fit");
out:
    EVP_CIPHER_CTX_free(ctx);
    certo_free_clear(ct, n + 1);
    return rc;
}

certo_rc
certo_unseal(const struct certo_seal_key *k, const char *aad, const void *sealed, size_t n,
             struct certo_secret **out, struct certo_err *err)
{
    const unsigned char *p = sealed;
    unsigned char tag[TAG_LEN];
    unsigned char *pt = NULL;
    EVP_CIPHER_CTX *ctx = NULL;
    size_t ct_len;
    int len = 0, fin = 0;
    certo_rc rc = CERTO_EINTERNAL;

    *out = NULL;
    if (n < CERTO_SEAL_OVERHEAD || memcmp(p, magic, sizeof(magic)) != 0 || n > INT32_MAX)
        return certo_err_set(err, CERTO_EPARSE, "pki.seal", "not a sealed value");
    if (CRYPTO_memcmp(p + 3, k->kid, KID_LEN) != 0)
        return certo_err_set(err, CERTO_EAUTH, "pki.seal",
                             "sealed with another secret key than the one loaded");
    ct_len = n - CERTO_SEAL_OVERHEAD;
    memcpy(tag, p + n - TAG_LEN, TAG_LEN); /* the ctrl takes a non-const pointer */
    pt = certo_malloc(ct_len + 1);
    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL ||
        EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, k->key, p + 3 + KID_LEN) != 1 ||
        EVP_DecryptUpdate(ctx, NULL, &len, p, HDR_LEN) != 1 ||
        EVP_DecryptUpdate(ctx, NULL, &len, (const unsigned char *)aad, (int)strlen(aad)) != 1 ||
        EVP_DecryptUpdate(ctx, pt, &len, p + HDR_LEN, (int)ct_len) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) != 1) {
        rc = certo_err_ossl(err, CERTO_ECRYPTO, "pki.seal", "AES-256-GCM decryption failed");
        goto out;
    }
    if (EVP_DecryptFinal_ex(ctx, pt + len, &fin) != 1) {
        rc = certo_err_set(err, CERTO_EAUTH, "pki.seal",
                           "sealed value does not open for %s (altered, or from another record)",
                           aad);
        goto out;
    }
    rc = certo_secret_new(out, pt, (size_t)len + (size_t)fin);
    if (rc != CERTO_OK)
        rc = certo_err_set(err, rc, "pki.seal", "unsealed value too large");
out:
    EVP_CIPHER_CTX_free(ctx);
    certo_free_clear(pt, ct_len + 1);
    return rc;
}
