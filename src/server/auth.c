/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Authentication and tokens (seed 003, REFERENCE.md §7). Tokens are JWTs signed with
 * the server identity's key, the signing certificate named by the header's x5t#S256, so
 * a server that trusts this one's certificate can check them; `iss` and `aud` are
 * "urn:certo:server:<base64url SHA-256 of the public key>", the server's name as issuer
 * and as actor of delegations. It follows the key: importing a CA-signed certificate for
 * the same key keeps tokens valid, a new key (rotate, import-db) ends them.
 * - Principal tokens come from POST /vco/api/auth/token (password, or a trusted external
 *   issuer's token) and travel in `Authorization: Bearer`. A client that presents a TLS
 *   certificate when it asks gets a token bound to it (RFC 8705 cnf x5t#S256): the token
 *   is then refused on any connection without that certificate — holder-of-key.
 * - Delegate tokens come from token exchange (RFC 8693): a principal token whose
 *   may_act names this server, an audience (required: a delegation for "anything" is
 *   refused), a short life, `act` naming this server and `cnf` binding the token to the
 *   server's own certificate; they travel in `VCOAuthorization` beside the principal.
 * - Every issued token is recorded by its jti and checked on each use, so revocation
 *   (one token, or every token of a user on a password or role change) is immediate.
 * - HTTP Basic checks the password on every request (argon2id: use tokens for volume).
 * Neither a token nor a password is ever logged or echoed in an error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/bufferevent_ssl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "certo/buf.h"
#include "certo/cert.h"
#include "certo/clock.h"
#include "certo/mem.h"
#include "certo/trust.h"
#include "server/api.h"

#define WHERE            "server.auth"
#define LEEWAY_S         60
#define TTL_MAX          (8 * 3600)
#define DELEGATE_TTL     300
#define DELEGATE_TTL_MAX 600
#define AUD_MAX          255
#define BASIC_MAX        1024

#define GRANT_PASSWORD "password"
#define GRANT_EXCHANGE "urn:ietf:params:oauth:grant-type:token-exchange"
#define TYPE_ACCESS    "urn:ietf:params:oauth:token-type:access_token"
#define TYPE_JWT       "urn:ietf:params:oauth:token-type:jwt"

/*
 * Signatures already verified: an ECDSA check costs ~45 µs, most of a request. A token
 * this server signed and verified once is remembered by the SHA-256 of its whole text
 * until it expires, so the same bytes are not verified again; everything else (time,
 * revocation, user, binding) is still checked on every use. Direct-mapped, no eviction
 * policy beyond collisions; emptied when the signing key changes.
 */
#define SEEN_SLOTS 4096

struct auth_seen {
    unsigned char md[SEEN_SLOTS][SHA256_DIGEST_LENGTH];
    int64_t exp[SEEN_SLOTS]; /* 0: empty slot */
};

static size_t
seen_slot(const unsigned char md[SHA256_DIGEST_LENGTH])
{
    return ((size_t)md[0] << 8 | md[1]) % SEEN_SLOTS;
}

static bool
seen_has(const struct server *s, const unsigned char md[SHA256_DIGEST_LENGTH], time_t now)
{
    size_t i = seen_slot(md);
    return s->seen != NULL && s->seen->exp[i] > (int64_t)now &&
           CRYPTO_memcmp(s->seen->md[i], md, SHA256_DIGEST_LENGTH) == 0;
}

static void
seen_add(struct server *s, const unsigned char md[SHA256_DIGEST_LENGTH], int64_t exp)
{
    size_t i = seen_slot(md);

    if (s->seen == NULL)
        s->seen = certo_calloc(1, sizeof(*s->seen));
    memcpy(s->seen->md[i], md, SHA256_DIGEST_LENGTH);
    s->seen->exp[i] = exp;
}

/* ---- the signer ---- */

certo_rc
auth_load_signer(struct server *s, const struct certo_identity *id, struct certo_err *err)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char x5t[CERTO_JWT_X5T_LEN + 1];
    struct certo_buf kid;
    enum certo_jwt_alg alg;
    certo_rc rc = certo_jwt_key_alg(&alg, id->key, err);

    if (rc != CERTO_OK)
        return rc;
    rc = certo_jwt_x5t_s256(x5t, id->cert, err);
    if (rc != CERTO_OK)
        return rc;
    /* The issuer name follows the key, not the certificate: a CA-signed certificate for
     * the same key (server-cert import) keeps every token valid. */
    if (X509_pubkey_digest(id->cert, EVP_sha256(), md, &mdlen) != 1)
        return certo_err_ossl(err, CERTO_ECRYPTO, WHERE, "cannot hash the identity's key");
    certo_buf_init(&kid, 64);
    rc = certo_b64url_encode(&kid, md, mdlen, err);
    if (rc != CERTO_OK) {
        certo_buf_dispose(&kid);
        return rc;
    }
    auth_dispose(s);
    EVP_PKEY_up_ref(id->key);
    X509_up_ref(id->cert);
    s->sign_key = id->key;
    s->sign_cert = id->cert;
    memcpy(s->x5t, x5t, sizeof(x5t));
    snprintf(s->iss, sizeof(s->iss), "urn:certo:server:%s", (const char *)kid.data);
    certo_buf_dispose(&kid);
    return CERTO_OK;
}

void
auth_dispose(struct server *s)
{
    certo_free(s->seen);
    s->seen = NULL;
    EVP_PKEY_free(s->sign_key);
    certo_cert_free(s->sign_cert);
    s->sign_key = NULL;
    s->sign_cert = NULL;
}

/* ---- checking tokens ---- */

/* The RFC 8705 thumbprint of this connection's client certificate; false without one. */
static bool
peer_x5t(struct api_req *r, char out[CERTO_JWT_X5T_LEN + 1])
{
    struct certo_err ignored = {0};
    return r->peer != NULL && certo_jwt_x5t_s256(out, r->peer, &ignored) == CERTO_OK;
}

static bool
str_eq_ct(const char *a, const char *b)
{
    size_t n = strlen(a);
    return n == strlen(b) && CRYPTO_memcmp(a, b, n) == 0;
}

static const char *
claim_str(json_t *claims, const char *key)
{
    return json_string_value(json_object_get(claims, key));
}

/* True when 'aud' (a string or an array of strings) holds 'want'. */
static bool
aud_has(json_t *aud, const char *want)
{
    size_t i;
    json_t *v;

    if (json_is_string(aud))
        return strcmp(json_string_value(aud), want) == 0;
    json_array_foreach(aud, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), want) == 0)
            return true;
    }
    return false;
}

enum tok_kind {
    TOK_PRINCIPAL,
    TOK_DELEGATE,
};

/* What a checked token says. */
struct tok {
    struct certo_jwt jwt;
    struct certo_user user;
    bool own; /* signed by this server (else by a trusted external issuer) */
    bool bound;
};

/*
 * Finds the key that signed 'jwt': this server's, or with AUTH_EXTERNAL a certificate
 * of the trust store for the token's `iss` whose thumbprint the header names.
 */
static certo_rc
signer_key(EVP_PKEY **key, bool *own, struct server *s, const struct certo_jwt *jwt,
           struct certo_err *err)
{
    const char *iss = claim_str(jwt->claims, "iss");
    STACK_OF(X509) *certs = NULL;
    struct certo_err ignored = {0};
    certo_rc rc = CERTO_EAUTH;

    *key = NULL;
    if (iss != NULL && strcmp(iss, s->iss) == 0) {
        /* Ours: signed by the identity's key, whichever certificate it had then. */
        *own = true;
        EVP_PKEY_up_ref(s->sign_key);
        *key = s->sign_key;
        return CERTO_OK;
    }
    if (jwt->x5t_s256 == NULL)
        return certo_err_set(err, CERTO_EAUTH, WHERE, "token signed by an unknown issuer");
    *own = false;
    if ((s->auth_modes & AUTH_EXTERNAL) == 0 || iss == NULL)
        return certo_err_set(err, CERTO_EAUTH, WHERE, "token signed by an unknown issuer");
    if (certo_trust_issuer_certs(&certs, s->db, iss, &ignored) != CERTO_OK)
        return certo_err_set(err, CERTO_EAUTH, WHERE, "token signed by an unknown issuer");
    for (int i = 0; i < sk_X509_num(certs) && *key == NULL; i++) {
        char x5t[CERTO_JWT_X5T_LEN + 1];
        X509 *c = sk_X509_value(certs, i);
        if (certo_jwt_x5t_s256(x5t, c, &ignored) == CERTO_OK && strcmp(x5t, jwt->x5t_s256) == 0) {
            *key = X509_get_pubkey(c);
            rc = *key != NULL ? CERTO_OK : CERTO_EAUTH;
        }
    }
    sk_X509_pop_free(certs, X509_free);
    if (*key == NULL)
        return certo_err_set(err, CERTO_EAUTH, WHERE, "token signed by an unknown issuer");
    return rc;
}

/*
 * Checks a token: syntax, signer, signature, times, audience, kind, subject (a local,
 * enabled user), revocation (own tokens), and the certificate binding. On failure
 * *why is a short reason safe to show; the token is never part of it.
 */
static certo_rc
check_token(struct tok *t, struct api_req *r, const char *token, enum tok_kind kind,
            struct certo_err *err)
{
    struct server *s = r->s;
    EVP_PKEY *key = NULL;
    unsigned char md[SHA256_DIGEST_LENGTH];
    json_t *claims, *act, *cnf, *exp;
    const char *sub, *jti, *bound_to;
    char px5t[CERTO_JWT_X5T_LEN + 1];
    struct certo_err ignored = {0};
    time_t now = certo_clock_now();
    certo_rc rc;

    memset(t, 0, sizeof(*t));
    rc = certo_jwt_parse(&t->jwt, token, CERTO_JWT_MAX, err);
    if (rc != CERTO_OK)
        return CERTO_EAUTH;
    rc = signer_key(&key, &t->own, s, &t->jwt, err);
    if (rc == CERTO_OK && t->own)
        SHA256((const unsigned char *)token, strlen(token), md);
    if (rc == CERTO_OK && !(t->own && seen_has(s, md, now))) {
        rc = certo_jwt_verify(&t->jwt, key, err);
        exp = json_object_get(t->jwt.claims, "exp");
        if (rc == CERTO_OK && t->own && json_is_integer(exp))
            seen_add(s, md, json_integer_value(exp));
    }
    EVP_PKEY_free(key);
    if (rc == CERTO_OK)
        rc = certo_jwt_check_times(&t->jwt, now, LEEWAY_S, err);
    if (rc != CERTO_OK)
        return CERTO_EAUTH;
    claims = t->jwt.claims;
    act = json_object_get(claims, "act");
    if (kind == TOK_PRINCIPAL && act != NULL)
        return certo_err_set(err, CERTO_EAUTH, WHERE,
                             "a delegate token is not a principal token (send it in "
                             "VCOAuthorization)");
    if (kind == TOK_DELEGATE && (!json_is_object(act) || claim_str(act, "sub") == NULL ||
                                 strcmp(claim_str(act, "sub"), s->iss) != 0))
        return certo_err_set(err, CERTO_EAUTH, WHERE, "not a delegate token for this server");
    if (kind == TOK_PRINCIPAL && !aud_has(json_object_get(claims, "aud"), s->iss))
        return certo_err_set(err, CERTO_EAUTH, WHERE, "the token is for another audience");
    if (kind == TOK_DELEGATE && claim_str(claims, "aud") == NULL)
        return certo_err_set(err, CERTO_EAUTH, WHERE, "a delegate token needs an audience");
    sub = claim_str(claims, "sub");
    if (sub == NULL || certo_user_find(s->db, sub, &t->user, &ignored) != CERTO_OK ||
        t->user.disabled)
        return certo_err_set(err, CERTO_EAUTH, WHERE, "the token's user is unknown or disabled");
    jti = claim_str(claims, "jti");
    if (t->own && (jti == NULL || certo_token_check(s->db, jti, t->user.id, now, err) != CERTO_OK))
        return jti == NULL ? certo_err_set(err, CERTO_EAUTH, WHERE, "the token has no id")
                           : CERTO_EAUTH;
    cnf = json_object_get(claims, "cnf");
    if (cnf == NULL)
        return CERTO_OK;
    bound_to = claim_str(cnf, "x5t#S256");
    if (bound_to == NULL)
        return certo_err_set(err, CERTO_EAUTH, WHERE, "unsupported confirmation method");
    if (kind == TOK_DELEGATE) {
        /* Bound to the orchestrator that acts: this server. */
        if (!str_eq_ct(bound_to, s->x5t))
            return certo_err_set(err, CERTO_EAUTH, WHERE,
                                 "the delegate token is bound to another server");
    } else if (!peer_x5t(r, px5t) || !str_eq_ct(bound_to, px5t)) {
        return certo_err_set(err, CERTO_EAUTH, WHERE,
                             "the token is bound to a client certificate this connection did "
                             "not present");
    }
    t->bound = true;
    return CERTO_OK;
}

static void
unauthorized(struct api_req *r, const char *error, const char *msg)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
    char *v = certo_asprintf("Bearer realm=\"certo\"%s%s%s", error != NULL ? ", error=\"" : "",
                             error != NULL ? error : "", error != NULL ? "\"" : "");

    evhttp_add_header(h, "WWW-Authenticate", v);
    if (r->s->auth_modes & AUTH_PASSWORD)
        evhttp_add_header(h, "WWW-Authenticate", "Basic realm=\"certo\", charset=\"UTF-8\"");
    certo_free(v);
    api_fail(r, 401, error != NULL ? error : "unauthorized", NULL, "%s", msg);
}

certo_rc
auth_basic_decode(char user[CERTO_NAME_MAX + 1], struct certo_secret **pw, const char *b64,
                  struct certo_err *err)
{
    unsigned char raw[BASIC_MAX + 4];
    size_t n = strlen(b64), ulen;
    int len = -1;
    char *colon;
    certo_rc rc = CERTO_EINVAL;

    *pw = NULL;
    if (n > 0 && n <= BASIC_MAX && n % 4 == 0)
        len = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)n);
    if (len < 0) {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE, "malformed Basic credentials");
        goto out;
    }
    /* EVP_DecodeBlock counts the padding as zero bytes. */
    len -= (b64[n - 1] == '=') + (b64[n - 2] == '=');
    raw[len] = '\0';
    colon = memchr(raw, ':', (size_t)len);
    ulen = colon != NULL ? (size_t)(colon - (char *)raw) : 0;
    if (colon == NULL || memchr(raw, '\0', (size_t)len) != NULL || ulen == 0 ||
        ulen > CERTO_NAME_MAX) {
        rc = certo_err_set(err, CERTO_EINVAL, WHERE, "malformed Basic credentials");
        goto out;
    }
    memcpy(user, raw, ulen);
    user[ulen] = '\0';
    rc = certo_secret_from_str(pw, colon + 1);
    if (rc != CERTO_OK)
        rc = certo_err_set(err, rc, WHERE, "cannot hold the password");
out:
    OPENSSL_cleanse(raw, sizeof(raw));
    return rc;
}

static bool
basic_login(struct api_req *r, const char *b64)
{
    struct certo_secret *pw = NULL;
    struct certo_err err = {0};
    char user[CERTO_NAME_MAX + 1];
    bool ok = false;

    if ((r->s->auth_modes & AUTH_PASSWORD) == 0) {
        unauthorized(r, NULL, "password login is disabled on this server");
        return false;
    }
    if (auth_basic_decode(user, &pw, b64, &err) != CERTO_OK) {
        unauthorized(r, NULL, "malformed Basic credentials");
        goto out;
    }
    if (certo_user_login(r->s->db, user, pw, &r->caller.user, &err) != CERTO_OK) {
        unauthorized(r, NULL, "wrong user name or password");
        goto out;
    }
    r->caller.authenticated = true;
    ok = true;
out:
    certo_secret_free(pw);
    return ok;
}

static bool
delegate_header(struct api_req *r, const char *value)
{
    struct certo_err err = {0};
    struct tok t;
    const char *scope;
    bool ok = false;

    if (strncasecmp(value, "Bearer ", 7) == 0)
        value += 7;
    if (check_token(&t, r, value, TOK_DELEGATE, &err) != CERTO_OK) {
        unauthorized(r, "invalid_token", err.msg[0] ? err.msg : "invalid delegate token");
        goto out;
    }
    if (t.user.id != r->caller.user.id) {
        unauthorized(r, "invalid_token", "the delegate token acts for another user");
        goto out;
    }
    scope = claim_str(t.jwt.claims, "scope");
    r->caller.has_delegate = true;
    snprintf(r->caller.delegate_aud, sizeof(r->caller.delegate_aud), "%s",
             claim_str(t.jwt.claims, "aud"));
    snprintf(r->caller.delegate_scope, sizeof(r->caller.delegate_scope), "%s",
             scope != NULL ? scope : "");
    snprintf(r->caller.delegate_jti, sizeof(r->caller.delegate_jti), "%s",
             t.own ? claim_str(t.jwt.claims, "jti") : "");
    ok = true;
out:
    certo_jwt_dispose(&t.jwt);
    return ok;
}

bool
auth_authenticate(struct api_req *r)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(r->req);
    const char *h = evhttp_find_header(in, "Authorization");
    const char *d = evhttp_find_header(in, "VCOAuthorization");
    struct certo_err err = {0};
    struct tok t;
    const char *jti;
    bool ok = false;

    if (h == NULL) {
        unauthorized(r, NULL, "authentication required");
        return false;
    }
    if (strncasecmp(h, "Basic ", 6) == 0) {
        if (!basic_login(r, h + 6))
            return false;
        return d == NULL || delegate_header(r, d);
    }
    if (strncasecmp(h, "Bearer ", 7) != 0) {
        unauthorized(r, NULL, "use Bearer or Basic authorization");
        return false;
    }
    if (check_token(&t, r, h + 7, TOK_PRINCIPAL, &err) != CERTO_OK) {
        unauthorized(r, "invalid_token", err.msg[0] ? err.msg : "invalid token");
        goto out;
    }
    r->caller.authenticated = true;
    r->caller.user = t.user;
    r->caller.bound = t.bound;
    r->caller.external = !t.own;
    jti = claim_str(t.jwt.claims, "jti");
    snprintf(r->caller.jti, sizeof(r->caller.jti), "%s", t.own && jti != NULL ? jti : "");
    ok = d == NULL || delegate_header(r, d);
out:
    certo_jwt_dispose(&t.jwt);
    return ok;
}

/* ---- issuing ---- */

/* Signs 'claims' (consumed) and records the token. */
static certo_rc
issue(char **out, struct server *s, json_t *claims, const struct certo_token_rec *rec,
      struct certo_err *err)
{
    certo_rc rc = certo_jwt_sign(out, s->sign_key, s->sign_cert, claims, err);

    json_decref(claims);
    if (rc == CERTO_OK)
        rc = certo_token_record(s->db, rec, certo_clock_now(), err);
    if (rc != CERTO_OK && *out != NULL) {
        certo_free_clear(*out, strlen(*out));
        *out = NULL;
    }
    return rc;
}

/* "expires_in": an integer, or digits in a form body; 0 when absent. */
static bool
read_ttl(struct api_req *r, json_t *body, int max, int *out)
{
    json_t *v = json_object_get(body, "expires_in");
    long long n = -1;

    *out = 0;
    if (v == NULL)
        return true;
    if (json_is_integer(v))
        n = json_integer_value(v);
    else if (json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) < 10 &&
             strspn(json_string_value(v), "0123456789") == json_string_length(v))
        n = strtoll(json_string_value(v), NULL, 10);
    if (n < 60 || n > max) {
        api_fail(r, 400, "invalid_request", "expires_in", "expires_in: %d to %d seconds", 60, max);
        return false;
    }
    *out = (int)n;
    return true;
}

static void
token_response(struct api_req *r, char *token, const char *type, const char *issued, int ttl,
               bool bound, const char *scope)
{
    json_t *doc = json_pack("{s:s,s:s,s:i,s:b}", "access_token", token, "token_type", type,
                            "expires_in", ttl, "bound", bound);

    if (issued != NULL)
        json_object_set_new(doc, "issued_token_type", json_string(issued));
    if (scope != NULL)
        json_object_set_new(doc, "scope", json_string(scope));
    certo_free_clear(token, strlen(token));
    api_ok(r, 200, doc);
}

static void
grant_password(struct api_req *r, json_t *body)
{
    struct server *s = r->s;
    struct certo_secret *pw = NULL;
    struct certo_err err = {0};
    struct certo_token_rec rec = {0};
    struct certo_user u;
    const char *name, *pass, *scope;
    char px5t[CERTO_JWT_X5T_LEN + 1];
    char *token = NULL;
    bool bound = peer_x5t(r, px5t);
    time_t now = certo_clock_now();
    int ttl;
    json_t *claims;

    if ((s->auth_modes & AUTH_PASSWORD) == 0) {
        api_fail(r, 400, "unsupported_grant_type", "grant_type",
                 "password login is disabled on this server (external issuer only)");
        return;
    }
    if (!api_str(r, body, "username", true, CERTO_NAME_MAX, &name) ||
        !api_str(r, body, "password", true, 1024, &pass) ||
        !api_str(r, body, "scope", false, 255, &scope) || !read_ttl(r, body, TTL_MAX, &ttl))
        return;
    if (certo_secret_from_str(&pw, pass) != CERTO_OK) {
        api_fail(r, 500, "internal", NULL, "internal error");
        return;
    }
    if (certo_user_login(s->db, name, pw, &u, &err) != CERTO_OK) {
        certo_secret_free(pw);
        api_fail(r, 400, "invalid_grant", NULL, "wrong user name or password");
        return;
    }
    certo_secret_free(pw);
    if (ttl == 0)
        ttl = s->token_ttl;
    if (certo_token_new_jti(rec.jti, &err) != CERTO_OK) {
        api_fail_rc(r, CERTO_EINTERNAL, &err, NULL);
        return;
    }
    claims = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:s,s:s,s:{s:s}}", "iss", s->iss, "sub", u.name,
                       "aud", s->iss, "iat", (json_int_t)now, "nbf", (json_int_t)now, "exp",
                       (json_int_t)(now + ttl), "jti", rec.jti, "role", certo_role_name(u.role),
                       "may_act", "sub", s->iss);
    if (scope != NULL)
        json_object_set_new(claims, "scope", json_string(scope));
    if (bound)
        json_object_set_new(claims, "cnf", json_pack("{s:s}", "x5t#S256", px5t));
    rec.user_id = u.id;
    rec.kind = CERTO_TOKEN_PRINCIPAL;
    rec.issued_at = now;
    rec.expires_at = now + ttl;
    rec.bound = bound;
    if (issue(&token, s, claims, &rec, &err) != CERTO_OK) {
        api_fail_rc(r, CERTO_EINTERNAL, &err, NULL);
        return;
    }
    token_response(r, token, "Bearer", NULL, ttl, bound, scope);
}

/*
 * Token exchange (RFC 8693). With a subject token of this server: a delegate token.
 * With a subject token of a trusted external issuer (SSO): a principal token of ours.
 */
static void
grant_exchange(struct api_req *r, json_t *body)
{
    struct server *s = r->s;
    struct certo_err err = {0};
    struct certo_token_rec rec = {0};
    struct tok t;
    const char *subject, *stype, *aud, *res, *scope, *rtype, *may;
    char px5t[CERTO_JWT_X5T_LEN + 1];
    char *token = NULL;
    time_t now = certo_clock_now();
    int ttl;
    json_t *claims;

    memset(&t, 0, sizeof(t));
    if (!api_str(r, body, "subject_token", true, CERTO_JWT_MAX, &subject) ||
        !api_str(r, body, "subject_token_type", true, 128, &stype) ||
        !api_str(r, body, "audience", false, AUD_MAX, &aud) ||
        !api_str(r, body, "resource", false, AUD_MAX, &res) ||
        !api_str(r, body, "scope", false, 255, &scope) ||
        !api_str(r, body, "requested_token_type", false, 128, &rtype) ||
        !read_ttl(r, body, DELEGATE_TTL_MAX, &ttl))
        goto out;
    if (strcmp(stype, TYPE_ACCESS) != 0 && strcmp(stype, TYPE_JWT) != 0) {
        api_fail(r, 400, "invalid_request", "subject_token_type", "subject_token_type: %s or %s",
                 TYPE_ACCESS, TYPE_JWT);
        goto out;
    }
    if (rtype != NULL && strcmp(rtype, TYPE_ACCESS) != 0 && strcmp(rtype, TYPE_JWT) != 0) {
        api_fail(r, 400, "invalid_request", "requested_token_type",
                 "requested_token_type: %s or %s", TYPE_ACCESS, TYPE_JWT);
        goto out;
    }
    if (check_token(&t, r, subject, TOK_PRINCIPAL, &err) != CERTO_OK) {
        api_fail(r, 400, "invalid_grant", "subject_token", "subject_token: %s",
                 err.msg[0] ? err.msg : "invalid token");
        goto out;
    }
    if (!t.own) {
        /* SSO: the external principal becomes one of ours, bound like a password login. */
        bool bound = peer_x5t(r, px5t);
        if (certo_token_new_jti(rec.jti, &err) != CERTO_OK) {
            api_fail_rc(r, CERTO_EINTERNAL, &err, NULL);
            goto out;
        }
        ttl = s->token_ttl;
        claims = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:s,s:s,s:{s:s}}", "iss", s->iss, "sub",
                           t.user.name, "aud", s->iss, "iat", (json_int_t)now, "nbf",
                           (json_int_t)now, "exp", (json_int_t)(now + ttl), "jti", rec.jti, "role",
                           certo_role_name(t.user.role), "may_act", "sub", s->iss);
        if (bound)
            json_object_set_new(claims, "cnf", json_pack("{s:s}", "x5t#S256", px5t));
        rec.user_id = t.user.id;
        rec.kind = CERTO_TOKEN_PRINCIPAL;
        rec.issued_at = now;
        rec.expires_at = now + ttl;
        rec.bound = bound;
        if (issue(&token, s, claims, &rec, &err) != CERTO_OK) {
            api_fail_rc(r, CERTO_EINTERNAL, &err, NULL);
            goto out;
        }
        token_response(r, token, "Bearer", TYPE_JWT, ttl, bound, NULL);
        goto out;
    }
    if (aud == NULL)
        aud = res;
    if (aud == NULL || aud[0] == '\0') {
        api_fail(r, 400, "invalid_target", "audience",
                 "audience: required (a delegation names the system it is for)");
        goto out;
    }
    may = claim_str(json_object_get(t.jwt.claims, "may_act"), "sub");
    if (may == NULL || strcmp(may, s->iss) != 0) {
        api_fail(r, 400, "invalid_grant", "subject_token",
                 "subject_token: it does not let this server act for its user (may_act)");
        goto out;
    }
    if (ttl == 0)
        ttl = DELEGATE_TTL;
    if (certo_token_new_jti(rec.jti, &err) != CERTO_OK) {
        api_fail_rc(r, CERTO_EINTERNAL, &err, NULL);
        goto out;
    }
    claims = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:s,s:{s:s},s:s,s:{s:s}}", "iss", s->iss, "sub",
                       t.user.name, "aud", aud, "iat", (json_int_t)now, "nbf", (json_int_t)now,
                       "exp", (json_int_t)(now + ttl), "jti", rec.jti, "act", "sub", s->iss,
                       "scope", scope != NULL ? scope : "delegate", "cnf", "x5t#S256", s->x5t);
    rec.user_id = t.user.id;
    rec.kind = CERTO_TOKEN_DELEGATE;
    rec.issued_at = now;
    rec.expires_at = now + ttl;
    rec.bound = true;
    snprintf(rec.audience, sizeof(rec.audience), "%s", aud);
    if (issue(&token, s, claims, &rec, &err) != CERTO_OK) {
        api_fail_rc(r, CERTO_EINTERNAL, &err, NULL);
        goto out;
    }
    token_response(r, token, "N_A", TYPE_JWT, ttl, true, scope != NULL ? scope : "delegate");
out:
    certo_jwt_dispose(&t.jwt);
}

static void
route_token(struct api_req *r)
{
    static const char *const fields[] = {
        "grant_type",    "username",           "password",  "scope",    "expires_in",
        "subject_token", "subject_token_type", "audience",  "resource", "requested_token_type",
        "actor_token",   "actor_token_type",   "client_id", NULL,
    };
    json_t *body = api_body(r, true);
    const char *grant;

    if (body == NULL || !api_fields(r, body, fields) ||
        !api_str(r, body, "grant_type", true, 128, &grant))
        return;
    if (json_object_get(body, "actor_token") != NULL) {
        /* The actor of a delegation is always this server, never a token sent to it. */
        api_fail(r, 400, "invalid_request", "actor_token",
                 "actor_token: not accepted (this server is the actor)");
        return;
    }
    if (strcmp(grant, GRANT_PASSWORD) == 0)
        grant_password(r, body);
    else if (strcmp(grant, GRANT_EXCHANGE) == 0)
        grant_exchange(r, body);
    else
        api_fail(r, 400, "unsupported_grant_type", "grant_type",
                 "grant_type: password or " GRANT_EXCHANGE);
}

/* ---- token routes ---- */

static json_t *
token_doc(struct api_req *r, const struct certo_token_rec *t, bool current)
{
    char *href = api_href(r, API_PREFIX "/auth/tokens/%s", t->jti);
    json_t *doc = json_pack("{s:s,s:s,s:I,s:s,s:I,s:I,s:b,s:b}", "href", href, "id", t->jti,
                            "userId", (json_int_t)t->user_id, "kind",
                            t->kind == CERTO_TOKEN_DELEGATE ? "delegate" : "principal", "issuedAt",
                            (json_int_t)t->issued_at, "expiresAt", (json_int_t)t->expires_at,
                            "bound", t->bound, "current", current);

    if (t->revoked_at != 0)
        json_object_set_new(doc, "revokedAt", json_integer(t->revoked_at));
    if (t->audience[0] != '\0')
        json_object_set_new(doc, "audience", json_string(t->audience));
    certo_free(href);
    return doc;
}

static void
route_tokens(struct api_req *r)
{
    struct certo_page page;
    struct certo_token_rec *items = NULL;
    struct certo_err err = {0};
    const char *q = api_query(r, "userId");
    int64_t uid = r->caller.user.id;
    json_t *links;

    if (!api_page(r, &page))
        return;
    if (q != NULL) {
        char *end = NULL;
        long long v = strtoll(q, &end, 10);
        if (q[0] < '0' || q[0] > '9' || *end != '\0' || v < 0) {
            api_fail(r, 400, "invalid", "userId", "userId: a user id, or 0 for every user");
            return;
        }
        if (r->caller.user.role != CERTO_ROLE_ADMIN && v != r->caller.user.id) {
            api_fail(r, 403, "forbidden", "userId", "only an admin sees other users' tokens");
            return;
        }
        uid = v;
    }
    items = certo_calloc((size_t)page.max, sizeof(*items));
    if (certo_token_list(r->s->db, uid, certo_clock_now(), &page, items, &err) != CERTO_OK) {
        api_fail_rc(r, CERTO_EINTERNAL, &err, NULL);
        goto out;
    }
    links = json_array();
    for (size_t i = 0; i < page.n; i++) {
        json_t *d = token_doc(r, &items[i], strcmp(items[i].jti, r->caller.jti) == 0);
        char *path = certo_asprintf(API_PREFIX "/auth/tokens/%s", items[i].jti);
        json_object_del(d, "href");
        json_array_append_new(links, api_link(r, path, d));
        certo_free(path);
    }
    api_ok(r, 200, api_link_list(&page, links));
out:
    certo_free(items);
}

/* The token named in the path ("current": the caller's own), if the caller may see it. */
static bool
path_token(struct api_req *r, struct certo_token_rec *t)
{
    struct certo_err err = {0};
    const char *jti = r->params[0];

    if (strcmp(jti, "current") == 0)
        jti = r->caller.jti;
    if (jti[0] == '\0' || strlen(jti) != CERTO_JTI_LEN ||
        certo_token_get(r->s->db, jti, t, &err) != CERTO_OK ||
        (t->user_id != r->caller.user.id && r->caller.user.role != CERTO_ROLE_ADMIN)) {
        api_fail(r, 404, "not_found", NULL, "no such token");
        return false;
    }
    return true;
}

static void
route_token_one(struct api_req *r)
{
    struct certo_token_rec t;
    struct certo_err err = {0};

    if (!path_token(r, &t))
        return;
    if (r->method == EVHTTP_REQ_DELETE) {
        if (certo_token_revoke(r->s->db, t.jti, certo_clock_now(), &err) != CERTO_OK) {
            api_fail_rc(r, CERTO_EINTERNAL, &err, NULL);
            return;
        }
        api_ok(r, 204, NULL);
        return;
    }
    api_ok(r, 200, token_doc(r, &t, strcmp(t.jti, r->caller.jti) == 0));
}

static void
route_whoami(struct api_req *r)
{
    const struct api_caller *c = &r->caller;
    json_t *doc = json_pack("{s:I,s:s,s:s,s:s,s:b,s:b}", "id", (json_int_t)c->user.id, "name",
                            c->user.name, "role", certo_role_name(c->user.role), "method",
                            c->jti[0] != '\0' ? "token"
                            : c->external     ? "external"
                                              : "basic",
                            "bound", c->bound, "external", c->external);

    if (c->user.org_id != 0)
        json_object_set_new(doc, "orgId", json_integer(c->user.org_id));
    if (c->user.dept_id != 0)
        json_object_set_new(doc, "deptId", json_integer(c->user.dept_id));
    if (c->has_delegate)
        json_object_set_new(doc, "delegate",
                            json_pack("{s:s,s:s,s:s}", "audience", c->delegate_aud, "scope",
                                      c->delegate_scope, "actor", r->s->iss));
    api_ok(r, 200, doc);
}

static void
route_info(struct api_req *r)
{
    struct server *s = r->s;
    char *endpoint = api_href(r, API_PREFIX "/auth/token");
    json_t *modes = json_array();

    if (s->auth_modes & AUTH_PASSWORD)
        json_array_append_new(modes, json_string("password"));
    if (s->auth_modes & AUTH_EXTERNAL)
        json_array_append_new(modes, json_string("external"));
    api_ok(r, 200,
           json_pack("{s:s,s:s,s:s,s:o,s:[s,s],s:b,s:i}", "issuer", s->iss, "audience", s->iss,
                     "token_endpoint", endpoint, "modes", modes, "grant_types_supported",
                     GRANT_PASSWORD, GRANT_EXCHANGE, "tls_client_certificate_bound_access_tokens",
                     1, "token_ttl", s->token_ttl));
    certo_free(endpoint);
}

const struct api_route api_routes_auth[] = {
    {EVHTTP_REQ_POST, API_PREFIX "/auth/token", API_PUBLIC, route_token,
     "Issue a token: password login or token exchange (RFC 8693)"},
    {EVHTTP_REQ_GET, API_PREFIX "/auth/", API_PUBLIC, route_info,
     "Token issuer, audience and accepted logins"},
    {EVHTTP_REQ_GET, API_PREFIX "/auth/whoami", API_AUTH, route_whoami,
     "The authenticated caller (and its delegate token)"},
    {EVHTTP_REQ_GET, API_PREFIX "/auth/tokens/", API_AUTH, route_tokens,
     "Live tokens of the caller (an admin: ?userId=)"},
    {EVHTTP_REQ_GET | EVHTTP_REQ_DELETE, API_PREFIX "/auth/tokens/{}", API_AUTH, route_token_one,
     "One token; DELETE revokes it (\"current\": the caller's)"},
    {0, NULL, API_PUBLIC, NULL, NULL},
};
