/* SPDX-License-Identifier: Apache-2.0 */
/*
 * argon2id password hashes on libargon2. Stored encodings are read by our own strict
 * parser first, and only an argon2id v=19 string with bounded cost reaches libargon2:
 * its decoder would otherwise happily allocate whatever 'm' a tampered row asks for.
 * The password bytes are handed to libargon2 straight from the secret, never copied.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <argon2.h>
#include <openssl/crypto.h>

#include "certo/clock.h"
#include "certo/log.h"
#include "certo/mem.h"
#include "certo/password.h"

#define WHERE "server.password"
/* Longest stored encoding we read: the parameters at their bounds with 64-byte salt and tag. */
#define ENCODED_MAX 256
#define PREFIX      "$argon2id$v=19$"
/* Bounds on the salt and tag of a stored encoding, in bytes. */
#define SALT_MIN 8
#define SALT_MAX 64
#define TAG_MIN  16
#define TAG_MAX  64

/* 56 characters: no 0 O o 1 l I, which people misread when they copy a password. */
static const char gen_alphabet[] = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz";

/* What a stored encoding says. */
struct params {
    uint32_t m;      /* KiB */
    uint32_t t;      /* passes */
    uint32_t p;      /* lanes */
    size_t salt_len; /* bytes */
    size_t tag_len;  /* bytes */
};

/* Reads "<key>=<decimal>" and 'end' at *s: no sign, no leading zero, a 32-bit value. */
static bool
read_param(uint32_t *out, const char **s, char key, char end)
{
    const char name[3] = {key, '=', '\0'};
    const char *p = *s;
    uint64_t v = 0;
    int n = 0;

    if (strncmp(p, name, 2) != 0)
        return false;
    p += 2;
    if (p[0] == '0' && p[1] >= '0' && p[1] <= '9')
        return false;
    while (*p >= '0' && *p <= '9') {
        if (++n > 10)
            return false;
        v = v * 10 + (uint64_t)(*p++ - '0');
    }
    if (n == 0 || *p != end || v > UINT32_MAX)
        return false;
    *out = (uint32_t)v;
    *s = p + 1;
    return true;
}

/* Bytes encoded by the unpadded standard base64 at *s up to 'end'; false if malformed. */
static bool
read_b64(size_t *out, const char **s, char end)
{
    const char *p = *s;
    size_t n = 0;

    while (*p != end) {
        char c = *p;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/'))
            return false;
        p++;
        n++;
    }
    if (n == 0 || n % 4 == 1)
        return false;
    *out = n / 4 * 3 + (n % 4 == 0 ? 0 : n % 4 - 1);
    *s = end == '\0' ? p : p + 1;
    return true;
}

/*
 * Parses a PHC argon2id string, version 19 only (libargon2 would also take version 16,
 * and a missing version meaning 16), and checks its parameters against our bounds.
 */
static certo_rc
parse_encoding(struct params *out, const char *enc, struct certo_err *err)
{
    const char *s = enc;

    if (strnlen(enc, ENCODED_MAX + 1) > ENCODED_MAX)
        return certo_err_set(err, CERTO_EINVAL, WHERE, "the stored password hash is too long");
    if (strncmp(s, "$argon2id$", 10) != 0)
        return certo_err_set(err, CERTO_EINVAL, WHERE, "the stored password hash is not argon2id");
    if (strncmp(s, PREFIX, strlen(PREFIX)) != 0)
        return certo_err_set(err, CERTO_EINVAL, WHERE,
                             "the stored password hash is not argon2 version 19");
    s += strlen(PREFIX);
    if (!read_param(&out->m, &s, 'm', ',') || !read_param(&out->t, &s, 't', ',') ||
        !read_param(&out->p, &s, 'p', '$') || !read_b64(&out->salt_len, &s, '$') ||
        !read_b64(&out->tag_len, &s, '\0'))
        return certo_err_set(err, CERTO_EINVAL, WHERE, "the stored password hash is malformed");
    if (out->p < 1 || out->p > CERTO_PASSWORD_P_MAX || out->t < 1 ||
        out->t > CERTO_PASSWORD_T_COST_MAX || out->m < 8 * out->p ||
        out->m > CERTO_PASSWORD_M_COST_MAX)
        return certo_err_set(err, CERTO_EINVAL, WHERE,
                             "the stored password hash has parameters out of bounds "
                             "(m <= %d KiB, t <= %d, p <= %d)",
                             CERTO_PASSWORD_M_COST_MAX, CERTO_PASSWORD_T_COST_MAX,
                             CERTO_PASSWORD_P_MAX);
    if (out->salt_len < SALT_MIN || out->salt_len > SALT_MAX || out->tag_len < TAG_MIN ||
        out->tag_len > TAG_MAX)
        return certo_err_set(err, CERTO_EINVAL, WHERE,
                             "the stored password hash has a salt or tag of a wrong size");
    return CERTO_OK;
}

/* The checks every password goes through before argon2 sees it. */
static certo_rc
check_password(const struct certo_secret *pw, struct certo_err *err)
{
    size_t n = certo_secret_len(pw);

    if (n == 0)
        return certo_err_set(err, CERTO_EINVAL, WHERE, "the password is empty");
    if (n > CERTO_PASSWORD_MAX)
        return certo_err_set(err, CERTO_EINVAL, WHERE, "the password is longer than %d bytes",
                             CERTO_PASSWORD_MAX);
    return CERTO_OK;
}

certo_rc
certo_password_hash(char **out_encoded, const struct certo_secret *pw, struct certo_err *err)
{
    unsigned char salt[CERTO_PASSWORD_SALT_LEN];
    char *enc = NULL;
    size_t enc_len;
    int arc;
    certo_rc rc = CERTO_EINTERNAL;

    *out_encoded = NULL;
    rc = check_password(pw, err);
    if (rc != CERTO_OK)
        goto out;
    rc = certo_rand_bytes(salt, sizeof(salt));
    if (rc != CERTO_OK) {
        rc = certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "no random salt");
        goto out;
    }
    enc_len = argon2_encodedlen(CERTO_PASSWORD_T_COST, CERTO_PASSWORD_M_COST, CERTO_PASSWORD_P,
                                sizeof(salt), CERTO_PASSWORD_TAG_LEN, Argon2_id);
    enc = certo_malloc(enc_len);
    arc = argon2id_hash_encoded(CERTO_PASSWORD_T_COST, CERTO_PASSWORD_M_COST, CERTO_PASSWORD_P,
                                certo_secret_get0(pw), certo_secret_len(pw), salt, sizeof(salt),
                                CERTO_PASSWORD_TAG_LEN, enc, enc_len);
    if (arc != ARGON2_OK) {
        rc = certo_err_set(err,
                           arc == ARGON2_MEMORY_ALLOCATION_ERROR ? CERTO_ENOMEM : CERTO_EINTERNAL,
                           WHERE, "argon2id failed: %s", argon2_error_message(arc));
        goto out;
    }

    *out_encoded = enc;
    enc = NULL;
    rc = CERTO_OK;
out:
    certo_free(enc);
    return rc;
}

certo_rc
certo_password_verify(const char *encoded, const struct certo_secret *pw, struct certo_err *err)
{
    struct params prm;
    int arc;
    certo_rc rc;

    /* Bounds first: a tampered row must be refused before argon2 allocates for it. */
    rc = parse_encoding(&prm, encoded, err);
    if (rc != CERTO_OK)
        return rc;
    rc = check_password(pw, err);
    if (rc != CERTO_OK)
        return rc;
    arc = argon2id_verify(encoded, certo_secret_get0(pw), certo_secret_len(pw));
    if (arc == ARGON2_OK)
        return CERTO_OK;
    if (arc == ARGON2_VERIFY_MISMATCH)
        return certo_err_set(err, CERTO_EAUTH, WHERE, "wrong password");
    if (arc == ARGON2_MEMORY_ALLOCATION_ERROR)
        return certo_err_set(err, CERTO_ENOMEM, WHERE, "argon2id could not allocate its memory");
    return certo_err_set(err, CERTO_EINVAL, WHERE, "the stored password hash is unusable: %s",
                         argon2_error_message(arc));
}

bool
certo_password_needs_rehash(const char *encoded)
{
    struct params prm;

    if (parse_encoding(&prm, encoded, NULL) != CERTO_OK)
        return true;
    return prm.m < CERTO_PASSWORD_M_COST || prm.t < CERTO_PASSWORD_T_COST ||
           prm.salt_len < CERTO_PASSWORD_SALT_LEN || prm.tag_len < CERTO_PASSWORD_TAG_LEN;
}

void
certo_password_generate(char out[CERTO_PASSWORD_GEN_LEN + 1])
{
    /* 224 = 4 * 56: bytes at or above it are dropped so that every character is equally likely. */
    const unsigned limit = 4 * (sizeof(gen_alphabet) - 1);
    unsigned char r[64];
    size_t n = 0;

    static_assert(sizeof(gen_alphabet) - 1 == 56, "alphabet of 56 characters");
    while (n < CERTO_PASSWORD_GEN_LEN) {
        if (certo_rand_bytes(r, sizeof(r)) != CERTO_OK) {
            certo_log(CERTO_LOG_ERROR, WHERE, "the random generator failed: stopping");
            abort();
        }
        for (size_t i = 0; i < sizeof(r) && n < CERTO_PASSWORD_GEN_LEN; i++) {
            if (r[i] < limit)
                out[n++] = gen_alphabet[r[i] % (sizeof(gen_alphabet) - 1)];
        }
    }
    out[n] = '\0';
    OPENSSL_cleanse(r, sizeof(r));
}
