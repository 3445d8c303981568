/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to the nginx connector (connector layer). conf.c reads a configuration the
 * way nginx does: tokens, quoting, comments, blocks, `include` with globs; every word
 * keeps its file and byte range so that an edit replaces exactly those bytes. sites.c
 * finds the http server blocks, decides with nginx's own server selection which of them
 * serve a certificate's names over ssl, and plans the byte edits. nginx.c is the
 * connector. Nothing here does I/O except through 'struct certo_nginx_io'.
 * Threading: no shared state; one thread per object.
 */
#ifndef CERTO_CONNECTOR_NGINX_H
#define CERTO_CONNECTOR_NGINX_H

#include <regex.h>

#include "certo/buf.h"
#include "certo/err.h"

#define CERTO_NGINX_FILE_MAX  (16u * 1024 * 1024) /* bytes of one configuration file */
#define CERTO_NGINX_TOTAL_MAX (64u * 1024 * 1024) /* bytes of all files of one configuration */
#define CERTO_NGINX_FILES_MAX 4096                /* files parsed (each inclusion counts) */
#define CERTO_NGINX_DEPTH_MAX 64                  /* nested blocks plus nested includes */
#define CERTO_NGINX_WORDS_MAX 4096                /* words of one directive */

/* ---- the configuration (conf.c) ---- */

/* One file read, once per path however often it is included. */
struct certo_nginx_file {
    char *path;            /* owned; absolute, as nginx names it (symlinks not resolved) */
    struct certo_buf data; /* owned; its bytes */
};

/* One word of a directive. */
struct certo_nginx_word {
    size_t start, end; /* its raw bytes in the file, [start, end), quotes included */
    char *text;        /* owned; the value as nginx reads it (quotes off, escapes applied) */
    size_t len;        /* bytes of 'text' (it may hold a NUL written as such) */
    bool quoted;       /* written in '...' or "..." */
};

struct certo_nginx_block;

/* One directive: words, and a body when it opens a block. */
struct certo_nginx_dir {
    size_t file;                     /* index into conf->files */
    unsigned line;                   /* line of its first word, from 1 */
    size_t end;                      /* offset just past the ';' or '{' that ends it */
    struct certo_nginx_word *words;  /* owned; words[0] is the name; n_words >= 1 */
    size_t n_words;                  /* words, the name included */
    struct certo_nginx_block *block; /* owned; its { } body, NULL for a simple directive */
};

/* The body of a block, or the main file. */
struct certo_nginx_block {
    struct certo_nginx_dir **dirs; /* owned; in nginx's reading order: an `include` is kept
                                      and followed by the directives of its files */
    size_t n_dirs;
    size_t file;  /* where the closing '}' is (for the main file: the main file) */
    size_t close; /* offset of the closing '}' (for the main file: its length) */
};

struct certo_nginx_conf {
    char *path;                      /* owned; the main file, absolute */
    char *prefix;                    /* owned; its directory with a trailing '/': nginx's
                                        conf prefix, against which relative paths resolve */
    struct certo_nginx_file **files; /* owned; files[0] is the main file */
    size_t n_files;
    struct certo_nginx_block root; /* the main context */
    char **globs;                  /* owned; every include pattern with a wildcard, absolute */
    size_t n_globs;
    size_t total;   /* bytes parsed, with each inclusion counted */
    size_t n_reads; /* files parsed, with each inclusion counted */
};

/* How the reader reaches the files: the connector's transport, or a test's stand-in. */
struct certo_nginx_io {
    /* Reads file 'path' into 'out' (ceiling set by the caller). CERTO_ENOTFOUND if absent. */
    certo_rc (*read)(void *arg, const char *path, struct certo_buf *out, struct certo_err *err);
    /* The names (not paths) of the entries of directory 'dir' that match the glob
     * 'pattern' (one path component), in any order; an absent directory has none. */
    certo_rc (*list)(void *arg, const char *dir, const char *pattern, char ***names, size_t *n,
                     struct certo_err *err);
    void *arg;
};

/*
 * Reads the configuration whose main file is 'path' (absolute) and every file it
 * includes. Relative include paths resolve against the main file's directory, as nginx
 * does with -c. A glob matching nothing includes nothing (nginx's rule).
 * @return CERTO_OK with *out owned by the caller (certo_nginx__conf_free);
 *         CERTO_EPARSE naming FILE:LINE as nginx would; CERTO_ENOTFOUND (a file is
 *         missing); CERTO_ETOOBIG (a limit above); what 'io' returns.
 */
CERTO_MUST_CHECK certo_rc certo_nginx__conf_load(struct certo_nginx_conf **out, const char *path,
                                                 const struct certo_nginx_io *io,
                                                 struct certo_err *err);
void certo_nginx__conf_free(struct certo_nginx_conf *conf);

/* "FILE:LINE" of a directive (new string). */
char *certo_nginx__where(const struct certo_nginx_conf *conf, const struct certo_nginx_dir *d);

/* 'name' resolved as nginx resolves a relative path: against conf->prefix (new string). */
char *certo_nginx__full_name(const struct certo_nginx_conf *conf, const char *name);

/* ---- server blocks (sites.c) ---- */

/* One `listen` of a server block. */
struct certo_nginx_listen {
    char *addr;          /* owned; "*" for every IPv4 address, "::" for every IPv6 one, else as
                            written without brackets, lower case */
    int port;            /* 1-65535 */
    bool ssl;            /* the ssl parameter */
    bool quic;           /* a QUIC (UDP) listen: no TLS over TCP to verify */
    bool proxy_protocol; /* the peer must send a PROXY header first: not verifiable */
};

enum certo_nginx_name_kind {
    CERTO_NGINX_NAME_EXACT = 0, /* "www.example.com" (".example.com" also gives one) */
    CERTO_NGINX_NAME_HEAD = 1,  /* "*.example.com" or ".example.com": 'text' is the suffix */
    CERTO_NGINX_NAME_TAIL = 2,  /* "www.example.*": 'text' is the prefix */
    CERTO_NGINX_NAME_REGEX = 3, /* "~...": 'text' is the expression */
};

/* One name of a server_name directive. */
struct certo_nginx_name {
    enum certo_nginx_name_kind kind;
    char *text;       /* owned; lower case but for a regex; see the kind */
    char *as_written; /* owned; the word as in the file */
    bool dot_form;    /* ".example.com": also the exact name 'text' */
    regex_t re;       /* compiled when 're_ok' */
    bool re_ok;       /* a regex POSIX ERE compiles (else it is skipped with a note) */
    unsigned order;   /* rank of a regex in the configuration, for "first match wins" */
};

/* One server block of the http context. */
struct certo_nginx_server {
    const struct certo_nginx_dir *dir;  /* borrowed; the `server` directive */
    struct certo_nginx_listen *listens; /* owned */
    size_t n_listens;
    struct certo_nginx_name *names; /* owned; of every server_name directive, in order */
    size_t n_names;
    const struct certo_nginx_dir **certs; /* owned array of borrowed: its ssl_certificate */
    size_t n_certs;
    const struct certo_nginx_dir **keys; /* owned array of borrowed: its ssl_certificate_key */
    size_t n_keys;
    const struct certo_nginx_dir *server_name; /* borrowed; its first server_name, or NULL */
    bool ssl_on;                               /* the deprecated `ssl on;` */
    bool matched; /* set by certo_nginx__match: it serves a name of the certificate */
};

/* Every http server block of a configuration. */
struct certo_nginx_sites {
    struct certo_nginx_server *servers; /* owned */
    size_t n;
    const struct certo_nginx_block *http;    /* borrowed; the http context, or NULL */
    const struct certo_nginx_dir *http_cert; /* borrowed; http-level ssl_certificate, or NULL */
    char **notes;                            /* owned; what was skipped and why */
    size_t n_notes;
};

/* One handshake that proves the install: connect to host:port, send 'sni'. */
struct certo_nginx_target {
    char *host; /* owned; an address or name to connect to */
    int port;
    char *sni; /* owned */
};

/*
 * Finds the http server blocks of 'conf', their listens, names and certificate
 * directives. Regex names that POSIX ERE cannot compile are kept uncompiled, with a note.
 * @return CERTO_OK (out owned by the caller: certo_nginx__sites_dispose); CERTO_EPARSE
 *         (a listen nginx would refuse).
 */
CERTO_MUST_CHECK certo_rc certo_nginx__sites_find(struct certo_nginx_sites *out,
                                                  const struct certo_nginx_conf *conf,
                                                  struct certo_err *err);
void certo_nginx__sites_dispose(struct certo_nginx_sites *s);

/*
 * Marks the server blocks that serve one of 'names' (a certificate's DNS names, lower
 * case, "*.example.com" for a wildcard) over ssl, choosing among the blocks of each
 * address:port as nginx does (exact name, longest leading wildcard, longest trailing
 * wildcard, first regex), and lists the handshakes that verify them.
 * @return the number of blocks marked; *targets owned by the caller (dispose with
 *         certo_nginx__targets_free).
 */
size_t certo_nginx__match(struct certo_nginx_sites *s, const char *const *names, size_t n_names,
                          struct certo_nginx_target **targets, size_t *n_targets);
void certo_nginx__targets_free(struct certo_nginx_target *t, size_t n);

/*
 * Whether the socket 'addr':'port' (as in struct certo_nginx_listen) speaks TLS: ssl is a
 * property of the socket, so one block listening there with the ssl parameter (or the
 * deprecated `ssl on;`) makes it TLS for every block on it.
 */
bool certo_nginx__socket_ssl(const struct certo_nginx_sites *s, const char *addr, int port);

/* True if certificate name 'cert_name' ("*.example.com" or exact) covers host 'host'. */
bool certo_nginx__covers(const char *cert_name, const char *host);

/* One replacement of bytes [start, end) of a file ('start == end': an insertion). */
struct certo_nginx_edit {
    size_t file;
    size_t start, end;
    char *text; /* owned; the new bytes */
};

/*
 * Plans the edits that make every matched server block use 'cert_path' and 'key_path':
 * the value of each ssl_certificate / ssl_certificate_key directive in the block is
 * replaced; a missing one is added after the block's server_name line with its
 * indentation. Refuses a directive that an unmatched block shares (an included snippet).
 * @return CERTO_OK (*edits sorted by file then offset, owned: certo_nginx__edits_free);
 *         CERTO_ECONFLICT naming the shared directive; CERTO_EINVAL (a path that cannot
 *         be written into the configuration).
 */
CERTO_MUST_CHECK certo_rc certo_nginx__plan_edits(struct certo_nginx_edit **edits, size_t *n,
                                                  const struct certo_nginx_conf *conf,
                                                  const struct certo_nginx_sites *s,
                                                  const char *cert_path, const char *key_path,
                                                  struct certo_err *err);
void certo_nginx__edits_free(struct certo_nginx_edit *e, size_t n);

/* The bytes of file 'f' with its edits 'e' (sorted, of that file only) applied. */
CERTO_MUST_CHECK certo_rc certo_nginx__apply(struct certo_buf *out,
                                             const struct certo_nginx_file *f,
                                             const struct certo_nginx_edit *e, size_t n);

/* Appends to 'out' the changed lines of 'f' as "@@ line N @@" hunks of -, + and context. */
CERTO_MUST_CHECK certo_rc certo_nginx__diff(struct certo_buf *out, const struct certo_nginx_file *f,
                                            const struct certo_nginx_edit *e, size_t n);

/*
 * A path as a configuration word: as is, or in double quotes when it holds a space.
 * @return NULL for a path nginx could not read back as written (a quote, ';', '{', '}',
 *         '#', '$', '\\', '<', or a control character) or that is not absolute.
 */
char *certo_nginx__quote_path(const char *path);

#endif
