/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `certo job list|show` (cli layer, issue 8): the jobs the server queued for gateways —
 * discover, restart, install, sync — with their state, attempts, history and logs, as the
 * caller may see them. Also the shared pieces of the issue 8 remote commands: --wait on a
 * queued job (poll GET /jobs/{id} until it succeeded or failed), tables, times.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "certo/client.h"
#include "cli/cli.h"

#define WAIT_DEFAULT_S 300
#define WAIT_MAX_S     86400
#define POLL_FIRST_MS  250
#define POLL_MAX_MS    2000

/* ---- shared ---- */

int
cli_need_server(const struct cli_cmd *cmd)
{
    if (cli_remote.server != NULL)
        return 0;
    return cli_usage_error(cmd, "needs --server URL (or $CERTO_SERVER) before the group: it "
                                "calls the server's REST API");
}

void
cli_epoch_text(char out[32], json_int_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;

    snprintf(out, 32, "-");
    if (t > 0 && gmtime_r(&tt, &tm) != NULL)
        strftime(out, 32, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

void
cli_table_print(const char *const *heads, size_t n_cols, char *const *cells, size_t n_rows)
{
    size_t *width = certo_calloc(n_cols, sizeof(*width));

    for (size_t c = 0; c < n_cols; c++) {
        width[c] = strlen(heads[c]);
        for (size_t r = 0; r < n_rows; r++) {
            const char *v = cells[r * n_cols + c];
            size_t w = strlen(v != NULL ? v : "-");
            width[c] = w > width[c] ? w : width[c];
        }
    }
    for (size_t r = 0; r <= n_rows; r++) {
        for (size_t c = 0; c < n_cols; c++) {
            const char *v = r == 0 ? heads[c] : cells[(r - 1) * n_cols + c];
            if (v == NULL)
                v = "-";
            if (c + 1 < n_cols)
                printf("%-*s  ", (int)width[c], v);
            else
                printf("%s\n", v);
        }
    }
    certo_free(width);
}

int
cli_wait_check(const struct cli_cmd *cmd, const struct cli_args *a, int *timeout_s)
{
    struct certo_err err = {0};

    if (cli_has(a, "timeout") && !cli_has(a, "wait"))
        return cli_usage_error(cmd, "--timeout goes with --wait");
    if (cli_int(timeout_s, a, "timeout", WAIT_DEFAULT_S, 1, WAIT_MAX_S, &err) != CERTO_OK)
        return cli_usage_error(cmd, "%s", err.msg);
    return 0;
}

static void
sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static const char *
str_or(json_t *obj, const char *key, const char *def)
{
    const char *v = json_string_value(json_object_get(obj, key));
    return v != NULL ? v : def;
}

int
cli_job_follow(const struct cli_cmd *cmd, struct certo_session *s, const struct cli_args *a,
               json_t *queued, const char *what)
{
    struct certo_err err = {0};
    json_int_t id = json_integer_value(json_object_get(queued, "jobId"));
    struct timespec t0, now;
    json_t *job = NULL;
    int timeout_s = WAIT_DEFAULT_S, delay = POLL_FIRST_MS, code;
    char *path;
    certo_rc rc;

    if (id <= 0) {
        fprintf(stderr, "certo %s: the server's answer names no job\n", cmd->name);
        return 1;
    }
    printf("Job %lld queued: %s\n", (long long)id, what);
    if (!cli_has(a, "wait")) {
        printf("Follow it with 'certo job show %lld', or give --wait.\n", (long long)id);
        return 0;
    }
    fflush(stdout);
    (void)cli_wait_check(cmd, a, &timeout_s); /* checked before the job was queued */
    path = certo_asprintf("/jobs/%lld", (long long)id);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        const char *state;
        json_decref(job);
        job = NULL;
        rc = cli_call(s, "GET", path, NULL, &job, &err);
        if (rc != CERTO_OK) {
            code = cli_remote_fail(cmd, rc, &err);
            goto out;
        }
        state = str_or(job, "state", "?");
        if (strcmp(state, "succeeded") == 0) {
            printf("Job %lld succeeded: %s\n", (long long)id, str_or(job, "message", ""));
            code = 0;
            goto out;
        }
        if (strcmp(state, "failed") == 0) {
            printf("Job %lld failed: %s\n", (long long)id, str_or(job, "message", ""));
            fprintf(stderr, "certo %s: job %lld failed (attempt %lld): %s\n", cmd->name,
                    (long long)id, (long long)json_integer_value(json_object_get(job, "attempt")),
                    str_or(job, "message", ""));
            code = 1;
            goto out;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000 >=
            (long)timeout_s * 1000) {
            fprintf(stderr,
                    "certo %s: job %lld is still %s after %d s (see 'certo job show %lld')\n",
                    cmd->name, (long long)id, state, timeout_s, (long long)id);
            code = 1;
            goto out;
        }
        sleep_ms(delay);
        delay = delay * 2 > POLL_MAX_MS ? POLL_MAX_MS : delay * 2;
    }
out:
    json_decref(job);
    certo_free(path);
    return code;
}

/* ---- job list, job show ---- */

static const struct cli_opt show_opts[] = {
    {"log", 0, CLI_FLAG, NULL, "print the logs the gateway reported, after the history"},
    {"json", 0, CLI_FLAG, NULL, "print the server's JSON (with every event and its log)"},
    {NULL, 0, 0, NULL, NULL},
};

static const struct cli_opt list_opts[] = {
    {"json", 0, CLI_FLAG, NULL, "print JSON"},
    {NULL, 0, 0, NULL, NULL},
};

static void
print_json(json_t *doc)
{
    json_dumpf(doc, stdout, JSON_INDENT(2));
    fputc('\n', stdout);
}

/* The names of the endpoints the caller may see, by id (best effort: {} on failure). */
static json_t *
endpoint_names(struct certo_session *s)
{
    struct certo_err ignored = {0};
    json_t *items = NULL, *names = json_object(), *v;
    size_t i;

    if (cli_call_list(s, "/endpoints/", &items, &ignored) != CERTO_OK)
        return names;
    json_array_foreach(items, i, v)
    {
        char key[32];
        snprintf(key, sizeof(key), "%lld", (long long)json_integer_value(json_object_get(v, "id")));
        json_object_set(names, key, json_object_get(v, "name"));
    }
    json_decref(items);
    return names;
}

/* "web (3)", "#3" when its name is unknown, NULL for a job without an endpoint. */
static char *
endpoint_label(json_t *names, json_t *job)
{
    json_t *id = json_object_get(job, "endpointId");
    const char *name;
    char key[32];

    if (!json_is_integer(id))
        return NULL;
    snprintf(key, sizeof(key), "%lld", (long long)json_integer_value(id));
    name = json_string_value(json_object_get(names, key));
    if (name != NULL)
        return certo_asprintf("%s (%s)", name, key);
    return certo_asprintf("#%s", key);
}

static int
run_list(const struct cli_cmd *cmd, struct cli_args *a)
{
    static const char *const heads[] = {"ID",      "Kind",    "State",   "Endpoint",
                                        "Gateway", "Attempt", "Updated", "Message"};
    enum { COLS = CERTO_ARRAY_LEN(heads) };
    struct certo_err err = {0};
    struct certo_session *s = NULL;
    json_t *jobs = NULL, *names = NULL, *j;
    char **cells = NULL;
    size_t i, n = 0;
    int code = cli_need_server(cmd);
    certo_rc rc;

    if (code != 0)
        return code;
    rc = cli_remote_open(&s, &err);
    if (rc == CERTO_OK)
        rc = cli_call_list(s, "/jobs/", &jobs, &err);
    if (rc != CERTO_OK) {
        code = cli_remote_fail(cmd, rc, &err);
        goto out;
    }
    if (cli_has(a, "json")) {
        print_json(jobs);
        goto out;
    }
    names = endpoint_names(s);
    n = json_array_size(jobs);
    cells = certo_calloc(n * COLS + 1, sizeof(*cells));
    json_array_foreach(jobs, i, j)
    {
        char **row = cells + i * COLS, when[32];
        cli_epoch_text(when, json_integer_value(json_object_get(j, "updatedAt")));
        row[0] = certo_asprintf("%lld", (long long)json_integer_value(json_object_get(j, "id")));
        row[1] = certo_strdup(str_or(j, "kind", "?"));
        row[2] = certo_strdup(str_or(j, "state", "?"));
        row[3] = endpoint_label(names, j);
        row[4] =
            certo_asprintf("%lld", (long long)json_integer_value(json_object_get(j, "gatewayId")));
        row[5] =
            certo_asprintf("%lld", (long long)json_integer_value(json_object_get(j, "attempt")));
        row[6] = certo_strdup(when);
        row[7] = certo_strdup(str_or(j, "message", ""));
    }
    if (n == 0)
        printf("No jobs.\n");
    else
        cli_table_print(heads, COLS, cells, n);
out:
    for (i = 0; cells != NULL && i < n * COLS; i++)
        certo_free(cells[i]);
    certo_free(cells);
    json_decref(names);
    json_decref(jobs);
    certo_session_close(s);
    return code;
}

/* A job id: a positive decimal number. */
static bool
parse_id(long long *out, const char *s)
{
    char *end = NULL;

    *out = 0;
    if (s[0] < '0' || s[0] > '9' || strlen(s) > 18)
        return false;
    *out = strtoll(s, &end, 10);
    return *end == '\0' && *out > 0;
}

static void
print_log(const char *log)
{
    size_t n = strlen(log);

    fwrite(log, 1, n, stdout);
    if (n > 0 && log[n - 1] != '\n')
        fputc('\n', stdout);
}

static int
run_show(const struct cli_cmd *cmd, struct cli_args *a)
{
    struct certo_err err = {0};
    struct certo_session *s = NULL;
    json_t *job = NULL, *names = NULL, *events, *ev, *result;
    char *path = NULL, *ep = NULL, when[32];
    long long id;
    size_t i;
    int code = cli_need_server(cmd);
    certo_rc rc;

    if (code != 0)
        return code;
    if (!parse_id(&id, a->pos[0]))
        return cli_usage_error(cmd, "ID: a job number, not '%s'", a->pos[0]);
    path = certo_asprintf("/jobs/%lld", id);
    rc = cli_remote_open(&s, &err);
    if (rc == CERTO_OK)
        rc = cli_call(s, "GET", path, NULL, &job, &err);
    if (rc != CERTO_OK) {
        code = cli_remote_fail(cmd, rc, &err);
        goto out;
    }
    if (cli_has(a, "json")) {
        print_json(job);
        goto out;
    }
    names = endpoint_names(s);
    ep = endpoint_label(names, job);
    printf("Job %lld: %s", id, str_or(job, "kind", "?"));
    if (ep != NULL)
        printf(" on endpoint %s", ep);
    printf(", gateway %lld\n", (long long)json_integer_value(json_object_get(job, "gatewayId")));
    printf("  State:     %s (attempt %lld)\n", str_or(job, "state", "?"),
           (long long)json_integer_value(json_object_get(job, "attempt")));
    printf("  Message:   %s\n", str_or(job, "message", ""));
    cli_epoch_text(when, json_integer_value(json_object_get(job, "createdAt")));
    printf("  Created:   %s\n", when);
    cli_epoch_text(when, json_integer_value(json_object_get(job, "updatedAt")));
    printf("  Updated:   %s\n", when);
    if (json_object_get(job, "finishedAt") != NULL) {
        cli_epoch_text(when, json_integer_value(json_object_get(job, "finishedAt")));
        printf("  Finished:  %s\n", when);
    }
    result = json_object_get(job, "result");
    if (json_is_array(json_object_get(result, "nodes")))
        printf("  Result:    %zu nodes (see 'certo endpoint nodes')\n",
               json_array_size(json_object_get(result, "nodes")));
    else if (json_is_object(result)) {
        size_t len = json_dumpb(result, NULL, 0, JSON_COMPACT | JSON_SORT_KEYS);
        char *text = certo_malloc(len + 1);
        json_dumpb(result, text, len, JSON_COMPACT | JSON_SORT_KEYS);
        text[len] = '\0';
        printf("  Result:    %s\n", text);
        certo_free(text);
    }
    events = json_object_get(job, "events");
    printf("History:\n");
    json_array_foreach(events, i, ev)
    {
        cli_epoch_text(when, json_integer_value(json_object_get(ev, "at")));
        printf("  %s  %-9s  %s\n", when, str_or(ev, "state", "?"), str_or(ev, "message", ""));
    }
    if (!cli_has(a, "log"))
        goto out;
    json_array_foreach(events, i, ev)
    {
        const char *log = str_or(ev, "log", NULL);
        if (log == NULL || log[0] == '\0')
            continue;
        cli_epoch_text(when, json_integer_value(json_object_get(ev, "at")));
        printf("\nLog of the '%s' event, %s:\n", str_or(ev, "state", "?"), when);
        print_log(log);
    }
out:
    certo_free(ep);
    certo_free(path);
    json_decref(names);
    json_decref(job);
    certo_session_close(s);
    return code;
}

const struct cli_cmd cli_job_cmds[] = {
    {"job list", "[--json]",
     "the server's jobs you may see: kind, state, endpoint, gateway, attempt, last message",
     list_opts, 0, 0, run_list, NULL},
    {"job show", "[--log] [--json] ID",
     "one job: state, attempt, its history (time, state, message), with --log the logs", show_opts,
     1, 1, run_show, NULL},
    {NULL, NULL, NULL, NULL, 0, 0, NULL, NULL},
};
