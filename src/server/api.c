/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The helpers every REST route uses: responses and JSON errors, strict request bodies
 * (a JSON object, duplicate keys refused, unknown members refused by name, typed and
 * bounded members), path ids, pagination (?startIndex=&maxResult=) and vRO-style links.
 * A route answers exactly once: the first api_ok / api_fail sticks, later ones are
 * dropped (an assertion in debug builds would hide the first answer from the log).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "certo/mem.h"
#include "server/api.h"

void
api_ok(struct api_req *r, int status, json_t *doc)
{
    if (r->out != NULL) {
        json_decref(doc);
        return;
    }
    r->status = status;
    r->out = doc != NULL ? doc : json_object();
}

void
api_fail(struct api_req *r, int status, const char *code, const char *field, const char *fmt, ...)
{
    char msg[CERTO_ERR_MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    api_ok(r, status,
           json_pack("{s:{s:s,s:s,s:s?}}", "error", "code", code, "message", msg, "field", field));
}

void
api_fail_rc(struct api_req *r, certo_rc rc, const struct certo_err *err, const char *field)
{
    const char *msg = err->msg[0] != '\0' ? err->msg : certo_rc_name(rc);

    switch (rc) {
    case CERTO_EINVAL:
    case CERTO_EPARSE:
    case CERTO_ETOOBIG:
    case CERTO_EUNSUPPORTED:
        api_fail(r, 400, "invalid", field, "%s", msg);
        break;
    case CERTO_ENOTFOUND:
        api_fail(r, 404, "not_found", field, "%s", msg);
        break;
    case CERTO_EEXIST:
        api_fail(r, 409, "exists", field, "%s", msg);
        break;
    case CERTO_ECONFLICT:
        api_fail(r, 409, "conflict", field, "%s", msg);
        break;
    case CERTO_EAUTH:
        api_fail(r, 400, "invalid_grant", field, "%s", msg);
        break;
    case CERTO_ENET:
    case CERTO_ETIMEDOUT:
    case CERTO_ETLS:
        api_fail(r, 502, "upstream", field, "%s", msg);
        break;
    default:
        /* Internal failures are logged by the caller; the client learns only that. */
        api_fail(r, 500, "internal", NULL, "internal error");
        break;
    }
}

bool
api_done(const struct api_req *r)
{
    return r->out != NULL;
}

/* ---- bodies ---- */

static const char *
content_type(struct api_req *r)
{
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(r->req), "Content-Type");
    return ct != NULL ? ct : "";
}

static bool
type_is(const char *ct, const char *want)
{
    size_t n = strlen(want);
    return strncasecmp(ct, want, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

static json_t *
form_body(struct api_req *r, const char *text)
{
    struct evkeyvalq q;
    json_t *obj = json_object();
    bool good = false;

    TAILQ_INIT(&q);
    if (evhttp_parse_query_str(text, &q) != 0) {
        api_fail(r, 400, "malformed", NULL, "the form body does not parse");
        goto out;
    }
    for (struct evkeyval *kv = q.tqh_first; kv != NULL; kv = kv->next.tqe_next) {
        json_t *v;
        if (json_object_get(obj, kv->key) != NULL) {
            api_fail(r, 400, "malformed", kv->key, "%s: given twice", kv->key);
            goto out;
        }
        v = json_string(kv->value);
        if (v == NULL || json_object_set_new(obj, kv->key, v) != 0) {
            api_fail(r, 400, "malformed", NULL, "a form field is not valid UTF-8");
            goto out;
        }
    }
    good = true;
out:
    evhttp_clear_headers(&q);
    if (!good) {
        json_decref(obj);
        obj = NULL;
    }
    return obj;
}

json_t *
api_body(struct api_req *r, bool form_ok)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
    size_t n = evbuffer_get_length(in);
    const char *ct = content_type(r);
    json_error_t jerr;
    char *text;
    json_t *doc = NULL;

    if (r->body != NULL)
        return r->body;
    text = certo_malloc(n + 1);
    if (evbuffer_copyout(in, text, n) != (ev_ssize_t)n) {
        certo_free(text);
        api_fail(r, 500, "internal", NULL, "internal error");
        return NULL;
    }
    text[n] = '\0';
    if (form_ok && type_is(ct, "application/x-www-form-urlencoded")) {
        if (memchr(text, '\0', n) != NULL)
            api_fail(r, 400, "malformed", NULL, "the form body holds a NUL byte");
        else
            doc = form_body(r, text);
        certo_free_clear(text, n);
        r->body = doc;
        return doc;
    }
    if (!type_is(ct, "application/json")) {
        certo_free(text);
        api_fail(r, 415, "unsupported_media_type", NULL,
                 form_ok ? "send application/json or application/x-www-form-urlencoded"
                         : "send application/json");
        return NULL;
    }
    doc = json_loadb(text, n, JSON_REJECT_DUPLICATES, &jerr);
    certo_free_clear(text, n); /* a body may hold a password */
    if (doc == NULL) {
        /* jansson's own text quotes the input near the error, which may be a secret:
         * only the position, and what kind of error, are shown. */
        api_fail(r, 400, "malformed", NULL, "malformed JSON at line %d column %d%s", jerr.line,
                 jerr.column,
                 json_error_code(&jerr) == json_error_duplicate_key ? " (a key given twice)" : "");
        return NULL;
    }
    if (!json_is_object(doc)) {
        json_decref(doc);
        api_fail(r, 400, "malformed", NULL, "the body must be a JSON object");
        return NULL;
    }
    r->body = doc;
    return doc;
}

bool
api_fields(struct api_req *r, json_t *obj, const char *const *allowed)
{
    const char *key;
    json_t *v;

    json_object_foreach(obj, key, v)
    {
        bool known = false;
        for (size_t i = 0; allowed[i] != NULL && !known; i++)
            known = strcmp(key, allowed[i]) == 0;
        if (!known) {
            char shown[65];
            /* The name is echoed, so only a short printable prefix of it. */
            size_t k = 0;
            for (; key[k] != '\0' && k < sizeof(shown) - 1; k++)
                shown[k] = key[k] > 0x20 && key[k] < 0x7f ? key[k] : '?';
            shown[k] = '\0';
            api_fail(r, 400, "unknown_field", shown, "%s: unknown field", shown);
            return false;
        }
    }
    return true;
}

bool
api_str(struct api_req *r, json_t *obj, const char *key, bool required, size_t max,
        const char **out)
{
    json_t *v = json_object_get(obj, key);

    *out = NULL;
    if (v == NULL || json_is_null(v)) {
        if (required) {
            api_fail(r, 400, "missing_field", key, "%s: required", key);
            return false;
        }
        return true;
    }
    if (!json_is_string(v)) {
        api_fail(r, 400, "wrong_type", key, "%s: must be a string", key);
        return false;
    }
    if (json_string_length(v) > max || strlen(json_string_value(v)) != json_string_length(v)) {
        api_fail(r, 400, "invalid", key, "%s: at most %zu bytes, no NUL", key, max);
        return false;
    }
    *out = json_string_value(v);
    return true;
}

bool
api_id(struct api_req *r, json_t *obj, const char *key, bool required, int64_t *out)
{
    json_t *v = json_object_get(obj, key);

    *out = 0;
    if (v == NULL || json_is_null(v)) {
        if (required) {
            api_fail(r, 400, "missing_field", key, "%s: required", key);
            return false;
        }
        return true;
    }
    if (!json_is_integer(v) || json_integer_value(v) <= 0) {
        api_fail(r, 400, "wrong_type", key, "%s: must be a positive integer id", key);
        return false;
    }
    *out = json_integer_value(v);
    return true;
}

bool
api_bool(struct api_req *r, json_t *obj, const char *key, bool *out)
{
    json_t *v = json_object_get(obj, key);

    if (v == NULL)
        return true;
    if (!json_is_boolean(v)) {
        api_fail(r, 400, "wrong_type", key, "%s: must be true or false", key);
        return false;
    }
    *out = json_is_true(v);
    return true;
}

/* ---- paths and queries ---- */

/*
 * Matches 'path' against 'pattern', where "{}" stands for one non-empty segment; the
 * segments matched are decoded into 'params' (owned by the caller on success; a decoded
 * segment with '/' or NUL, or an empty one, does not match).
 */
bool
api_match(const char *pattern, const char *path, char *params[PARAMS_MAX], size_t *n_params)
{
    size_t n = 0;
    bool matched = false;

    for (;;) {
        if (pattern[0] == '{' && pattern[1] == '}') {
            size_t len = strcspn(path, "/"), dlen = 0;
            char *raw, *dec;
            if (len == 0 || n == PARAMS_MAX)
                goto out;
            raw = certo_strndup(path, len);
            dec = evhttp_uridecode(raw, 0, &dlen);
            certo_free(raw);
            if (dec == NULL || dlen == 0 || strlen(dec) != dlen || strchr(dec, '/') != NULL) {
                certo_free(dec); /* libevent allocates with malloc */
                goto out;
            }
            params[n++] = dec;
            pattern += 2;
            path += len;
            continue;
        }
        if (*pattern != *path)
            goto out;
        if (*pattern == '\0')
            break;
        pattern++;
        path++;
    }
    *n_params = n;
    matched = true;
out:
    for (size_t i = 0; !matched && i < n; i++)
        certo_free(params[i]);
    return matched;
}

static bool
parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    char *end = NULL;
    long long v;

    if (s == NULL || s[0] < '0' || s[0] > '9' || strlen(s) > 18)
        return false;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

bool
api_param_id(struct api_req *r, size_t i, int64_t *out)
{
    if (i >= r->n_params || !parse_i64(r->params[i], 1, INT64_MAX, out)) {
        api_fail(r, 404, "not_found", NULL, "no such resource");
        return false;
    }
    return true;
}

const char *
api_query(struct api_req *r, const char *key)
{
    return evhttp_find_header(&r->query, key);
}

bool
api_page(struct api_req *r, struct certo_page *page)
{
    const char *start = api_query(r, "startIndex"), *max = api_query(r, "maxResult");

    page->start = 0;
    page->max = 100;
    if (start != NULL && !parse_i64(start, 0, INT32_MAX, &page->start)) {
        api_fail(r, 400, "invalid", "startIndex", "startIndex: a number from 0");
        return false;
    }
    if (max != NULL && !parse_i64(max, 1, CERTO_LIST_MAX, &page->max)) {
        api_fail(r, 400, "invalid", "maxResult", "maxResult: a number from 1 to %d",
                 CERTO_LIST_MAX);
        return false;
    }
    return true;
}

json_t *
api_link_list(const struct certo_page *page, json_t *links)
{
    return json_pack("{s:o,s:I,s:I}", "link", links, "total", (json_int_t)page->total, "start",
                     (json_int_t)page->start);
}

char *
api_href(struct api_req *r, const char *fmt, ...)
{
    va_list ap;
    char *path, *href;

    va_start(ap, fmt);
    path = certo_vasprintf(fmt, ap);
    va_end(ap);
    href = certo_asprintf("%s%s", r->base, path);
    certo_free(path);
    return href;
}

json_t *
api_link(struct api_req *r, const char *path, json_t *attrs)
{
    json_t *list = json_array();
    const char *key;
    json_t *v;
    char *href = api_href(r, "%s", path);
    json_t *link;

    json_object_foreach(attrs, key, v)
    {
        json_array_append_new(list, json_pack("{s:s,s:O}", "name", key, "value", v));
    }
    json_decref(attrs);
    link = json_pack("{s:s,s:s,s:o}", "href", href, "rel", "down", "attributes", list);
    certo_free(href);
    return link;
}
