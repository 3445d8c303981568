/* SPDX-License-Identifier: Apache-2.0 */
/* layer: connector */
/*
 * For connector authors: one endpoint type's operations (STYLE.md 5). A connector reads
 * the endpoint's current state and computes the files an install must write (plan); the
 * install engine (gateway layer) backs those files up, stages, swaps, and rolls back, so
 * every connector gets the same transaction for free. After the swap the connector
 * activates the change (install script, reload) and verifies it. Connectors reach the
 * host only through struct certo_transport. The framework allocates and zeroes
 * 'ctx_size' bytes per use; one thread at a time.
 */
#ifndef CERTO_SYS_CONNECTOR_H
#define CERTO_SYS_CONNECTOR_H

#include <stdarg.h>

#include "certo/bundle.h"
#include "certo/secret.h"
#include "certo/sys/transport.h"

#define CERTO_CONNECTOR_ABI 1

enum certo_connector_cap {
    CERTO_CAP_VERIFY = 1u << 0,  /* verify() proves the endpoint holds or serves the chain */
    CERTO_CAP_RESTART = 1u << 1, /* restart() exists */
};

/* An endpoint's options as the connector sees them: name/value pairs. */
struct certo_kv {
    const char *key;
    const char *value;
};

struct certo_connector_cfg {
    const char *endpoint_name;   /* for messages */
    const struct certo_kv *opts; /* the endpoint's options ("path", "is_legacy", ...) */
    size_t n_opts;
    const struct certo_secret *store_password; /* borrowed; NULL when none */
    int script_timeout_ms;                     /* deadline for install/restart scripts */
};

/** Value of option 'key' in 'cfg', or NULL when unset or empty. */
const char *certo_connector_opt(const struct certo_connector_cfg *cfg, const char *key);

/* One file an install writes. */
struct certo_change {
    char *path;                  /* owned; absolute on the endpoint host */
    struct certo_buf data;       /* owned; the new content */
    struct certo_file_meta meta; /* for a file that does not exist yet: its mode (0600 for
                                    keys, 0644 otherwise); an existing file keeps its own */
    char *summary;               /* owned; one line for --dry-run and the history */
};

struct certo_install_req {
    const struct certo_bundle *bundle; /* borrowed: key, leaf, chain */
    const char *alias;                 /* NULL: derived from the certificate */
};

struct certo_plan {
    struct certo_change *changes; /* owned array */
    size_t n_changes;
    char *alias;        /* owned; the entry that is written */
    char fp_before[96]; /* SHA-256 of the certificate under 'alias' before, "" if none */
    char fp_after[96];  /* SHA-256 of the certificate installed */
    char **notes;       /* owned; warnings shown to the user */
    size_t n_notes;
};

/** Appends a change (takes 'path', 'summary' and the buffer's memory). */
void certo_plan_add_change(struct certo_plan *p, char *path, struct certo_buf *data,
                           mode_t new_mode, char *summary);
/** Appends a note (printf-style). */
void certo_plan_note(struct certo_plan *p, const char *fmt, ...) CERTO_PRINTF(2, 3);
void certo_plan_dispose(struct certo_plan *p);

/* How a node of an endpoint is reached (the nodes() op). */
enum certo_node_kind {
    CERTO_NODE_HTTP = 0,  /* a plain HTTP listener: reachable or not, no certificate */
    CERTO_NODE_HTTPS = 1, /* a TLS listener: the chain it serves is read with a handshake */
    CERTO_NODE_ENTRY = 2, /* a keystore entry: 'chain' holds its certificates, no network */
};

/*
 * One node of an endpoint as its configuration describes it: an nginx server block on one
 * listen, an Apache <VirtualHost> under one of its names, a Tomcat Connector with one
 * SSLHostConfig, a keystore entry. The connector only reads; the gateway probes.
 */
struct certo_conf_node {
    /* owned; server_name / ServerName / hostName / entry alias as written; "" when the
     * configuration gives none */
    char *name;
    /* owned; the other names, space-separated, or the keystore alias; NULL: none */
    char *alias;
    enum certo_node_kind kind;
    /* owned; the address as configured ("*", "::", "127.0.0.1"); NULL for an entry */
    char *address;
    int port; /* 1-65535; 0 for an entry */
    /* owned; where to connect (a wildcard address becomes loopback); NULL for an entry */
    char *connect;
    char *sni;    /* owned; the name to send (certo_node_sni); NULL: none */
    char *source; /* owned; "FILE:LINE" of the block, or the keystore file */
    /* owned; why the listener cannot be probed (it expects the PROXY protocol); NULL:
     * probe it */
    char *skip;
    /* owned; an entry's certificates, leaf first (may be empty); NULL for a listener */
    STACK_OF(X509) * chain;
    /* owned; absolute paths of the certificate files or keystores the configuration names
     * for this node, symlinks not resolved */
    char **cert_files;
    size_t n_cert_files;
    bool key_entry; /* an entry with a private key (an install writes such entries) */
    bool any_alias; /* an install replaces this entry whatever its alias (a PEM file's key) */
};

/* The nodes of one endpoint, in configuration order. */
struct certo_node_list {
    struct certo_conf_node *v; /* owned array */
    size_t n;
};

/** Appends a zeroed node to 'l' and returns it (valid until the next append). */
struct certo_conf_node *certo_node_list_add(struct certo_node_list *l);
/** Appends 'path' (copied) to the certificate files of 'n'; NULL is ignored. */
void certo_conf_node_add_file(struct certo_conf_node *n, const char *path);
/** Releases every node and the array; the list is left empty. NULL ok. */
void certo_node_list_dispose(struct certo_node_list *l);

/**
 * The name to send as SNI to reach the block that serves configuration name 'name', or
 * NULL when there is none: a host name is itself (lower case); "*.example.com" gives
 * "certo-discover.example.com", a name the wildcard covers; nginx's ".example.com" gives
 * "example.com". IP addresses, "_", regular expressions, trailing and inner wildcards give
 * NULL (a server picks its default for a handshake without SNI). New string.
 */
char *certo_node_sni(const char *name);

struct certo_connector_ops {
    unsigned abi;     /* CERTO_CONNECTOR_ABI */
    const char *name; /* the endpoint type: "p12", "nginx", ... */
    unsigned caps;    /* enum certo_connector_cap */
    size_t ctx_size;

    /* Required. Validates 'cfg' into 'ctx'. No I/O. 'cfg' outlives the ctx. */
    certo_rc (*configure)(void *ctx, const struct certo_connector_cfg *cfg, struct certo_err *err);
    /* Required. Preflight: appends one line per finding to 'report' ("ok: ...",
     * "missing: ..."); returns CERTO_ENOTFOUND/EPERM/EAUTH when something needed is
     * missing (the report says what). Changes nothing. May block. */
    certo_rc (*check)(void *ctx, struct certo_transport *t, struct certo_buf *report,
                      struct certo_err *err);
    /* Required. Reads the current state and fills 'plan' with the files to write. Changes
     * nothing on the host. May block. 'plan' is an out-param: zeroed at entry, filled only
     * on success; the caller releases it with certo_plan_dispose. */
    certo_rc (*plan)(void *ctx, struct certo_transport *t, const struct certo_install_req *req,
                     struct certo_plan *plan, struct certo_err *err);
    /* Optional. Checks the staged files before they go live ('staged' parallel to
     * plan->changes): e.g. a configuration test. May block. */
    certo_rc (*test)(void *ctx, struct certo_transport *t, const struct certo_plan *plan,
                     const char *const *staged, struct certo_err *err);
    /* Optional. After the swap: makes the endpoint use the new files (install script,
     * reload). Program output goes to 'log'. A failure rolls the install back. May block. */
    certo_rc (*activate)(void *ctx, struct certo_transport *t, const struct certo_plan *plan,
                         struct certo_buf *log, struct certo_err *err);
    /* Optional (CERTO_CAP_VERIFY). Proves the endpoint now holds or serves fp_after. */
    certo_rc (*verify)(void *ctx, struct certo_transport *t, const struct certo_plan *plan,
                       struct certo_err *err);
    /* Optional. After a rollback restored the old files: make the endpoint use them. */
    certo_rc (*reactivate)(void *ctx, struct certo_transport *t, struct certo_buf *log,
                           struct certo_err *err);
    /* Optional (CERTO_CAP_RESTART). Restarts the endpoint (restart script). */
    certo_rc (*restart)(void *ctx, struct certo_transport *t, struct certo_buf *log,
                        struct certo_err *err);
    /* Optional. Releases what configure() acquired (not ctx itself). */
    void (*cleanup)(void *ctx);
    /* Optional. Lists the endpoint's nodes as its configuration describes them (each
     * listener or entry once, in configuration order). Reads through 't' and changes
     * nothing; never probes a listener (the caller does). May block. 'out' is an
     * out-param: zeroed at entry, filled only on success; release with
     * certo_node_list_dispose. */
    certo_rc (*nodes)(void *ctx, struct certo_transport *t, struct certo_node_list *out,
                      struct certo_err *err);
};

/**
 * Calls ops->nodes: the nodes of the endpoint 'ctx' was configured for.
 * @return CERTO_EUNSUPPORTED when the connector cannot list nodes; else what nodes() returns.
 */
CERTO_MUST_CHECK certo_rc certo_connector_nodes(const struct certo_connector_ops *ops, void *ctx,
                                                struct certo_transport *t,
                                                struct certo_node_list *out, struct certo_err *err);

/* A preflight report under construction (the check() op): one line per finding. */
struct certo_check {
    struct certo_buf *report; /* borrowed; may be NULL; lines are cut to what fits */
    struct certo_err *err;    /* borrowed; gets the first problem's message */
    const char *where;        /* module tag for 'err' */
    certo_rc rc;              /* the first problem's code; CERTO_OK while there is none */
};

/**
 * One finding: appends the line and a newline to c->report; a problem ('rc' !=
 * CERTO_OK) also becomes c->rc and the message of c->err when it is the first one.
 */
void certo_check_finding(struct certo_check *c, certo_rc rc, const char *fmt, ...)
    CERTO_PRINTF(3, 4);

/** The connector of endpoint type 'name', or NULL. */
const struct certo_connector_ops *certo_connector_find(const char *name);

/** The deadline of a script or tool a connector runs, unless the endpoint sets one. */
#define CERTO_CONNECTOR_SCRIPT_TIMEOUT_MS 300000

/** Appends 's' to the history log 'log' as far as it fits under its ceiling; NULL log ok. */
void certo_connector_log(struct certo_buf *log, const char *s);

/** One command a connector runs on the endpoint's host (certo_connector_exec). */
struct certo_connector_cmd {
    const char *what;        /* names it in messages: "install script /x", "/usr/sbin/nginx -t" */
    const char *const *argv; /* argv[0] an absolute path; argv only, never a shell */
    const char *const *env;  /* NAME=value entries after PATH and LANG=C; NULL for none */
    const char *cwd;         /* NULL: the transport's default */
    size_t max_output;       /* per stream; 0: 64 KiB */
};

/**
 * Runs 'cmd' through 't' in a clean environment (a fixed PATH, LANG=C, then cmd->env)
 * under the endpoint's script deadline (cfg->script_timeout_ms, default 300 s), and logs
 * to 'log' (may be NULL) the command line, its output (stdout then stderr, with a marker
 * where it was cut) and how it ended: "exit N", "killed by signal N" or "timed out after
 * N s". 'r' is filled whenever the command ran; the caller judges its exit status.
 * @return CERTO_OK when it ran to an end (any status, or a signal); CERTO_ETIMEDOUT;
 *         what the transport returns when it cannot run it. Messages name cmd->what.
 */
CERTO_MUST_CHECK certo_rc certo_connector_exec(struct certo_exec_result *r,
                                               struct certo_transport *t,
                                               const struct certo_connector_cfg *cfg,
                                               const struct certo_connector_cmd *cmd,
                                               struct certo_buf *log, struct certo_err *err);

/**
 * Runs a custom script the seed's way: argv only ('script' then 'arg' when not NULL),
 * a clean environment (PATH, LANG=C and the CERTO_* variables given in 'env'), the
 * deadline of cfg->script_timeout_ms. Output (stdout then stderr) is appended to 'log'.
 * @return CERTO_OK when it exits 0; CERTO_EREMOTE (non-zero exit, signal), CERTO_ETIMEDOUT,
 *         CERTO_ENOTFOUND / CERTO_EPERM (cannot run it), naming the script.
 */
CERTO_MUST_CHECK certo_rc certo_connector_run_script(struct certo_transport *t,
                                                     const struct certo_connector_cfg *cfg,
                                                     const char *script, const char *arg,
                                                     const char *const *env, struct certo_buf *log,
                                                     struct certo_err *err);

#endif
