/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to the Apache httpd connector (connector layer): the configuration reader and
 * editor that apache.c drives, exposed for the unit tests and the fuzz harness. Nothing
 * here does I/O: a file's bytes come in, directives with their byte offsets come out, and
 * edits replace exact byte ranges so that every other byte of the file is kept. The syntax
 * is httpd 2.4's (server/util.c ap_cfg_getline, ap_getword_conf, ap_resolve_env): logical
 * lines joined by a backslash before the newline, '#' comment lines, quoted arguments with
 * backslash escapes, <Section args> and </Section> tags. Plain data: one thread at a time.
 */
#ifndef CERTO_CONNECTOR_APACHE_H
#define CERTO_CONNECTOR_APACHE_H

#include "certo/buf.h"
#include "certo/err.h"

#define CERTO_APACHE_ARGS_MAX  1024    /* arguments of one directive */
#define CERTO_APACHE_LINES_MAX 1000000 /* directives and tags in one file */

/* One argument of a directive as written in the file. */
struct certo_apache_arg {
    size_t start; /* offset of its first byte (the opening quote when quoted) */
    size_t end;   /* offset after its last byte (the closing quote when there is one) */
    char quote;   /* '"' or '\'' when written quoted, else 0 */
    char *value;  /* owned; unquoted and unescaped; ${VAR} not expanded */
};

enum certo_apache_kind {
    CERTO_APACHE_DIRECTIVE = 0, /* Name args... */
    CERTO_APACHE_OPEN,          /* <Name args...> */
    CERTO_APACHE_CLOSE,         /* </Name> */
};

/* One logical line that is a directive or a section tag (comments and blanks are not). */
struct certo_apache_line {
    enum certo_apache_kind kind;
    char *name;                    /* owned; without '<', '</' and '>' */
    struct certo_apache_arg *args; /* owned array; for a tag, what comes before its last '>' */
    size_t n_args;
    size_t lineno; /* 1-based physical line where it starts */
    size_t start;  /* offset of that physical line's first byte */
    size_t end;    /* offset after the newline that ends it (the file's length at EOF) */
    size_t indent; /* bytes of blanks before the name */
    bool crlf;     /* its last physical line ends with "\r\n" */
    bool eol;      /* it ends with a newline (false only for a last line without one) */
};

/* One parsed configuration file. */
struct certo_apache_file {
    char *path;                      /* owned; absolute */
    unsigned char *data;             /* owned; the bytes, NUL-terminated */
    size_t len;                      /* bytes in 'data' without the NUL */
    struct certo_apache_line *lines; /* owned array, in file order */
    size_t n_lines;
};

/* Replace bytes [start, end) of a file by 'text'. */
struct certo_apache_edit {
    size_t start;
    size_t end;
    char *text; /* owned */
};

/**
 * Parses 'len' bytes of 'data' (copied) as the configuration file 'path' into 'out'
 * (caller-owned; release with certo_apache__file_dispose, also after a failure).
 * @return CERTO_OK; CERTO_EPARSE naming 'path' and the line (a tag without its '>', a
 *         line with more than CERTO_APACHE_ARGS_MAX arguments); CERTO_ETOOBIG.
 */
CERTO_MUST_CHECK certo_rc certo_apache__parse(struct certo_apache_file *out, const char *path,
                                              const void *data, size_t len, struct certo_err *err);
void certo_apache__file_dispose(struct certo_apache_file *f);

/**
 * Writes 'f''s bytes with 'edits' applied into 'out' (appended). 'edits' are sorted here
 * by offset and must not overlap (an insertion has start == end).
 * @return CERTO_OK; CERTO_EINTERNAL (overlap, out of range); CERTO_ETOOBIG.
 */
CERTO_MUST_CHECK certo_rc certo_apache__apply(struct certo_buf *out,
                                              const struct certo_apache_file *f,
                                              struct certo_apache_edit *edits, size_t n,
                                              struct certo_err *err);

/**
 * Refuses a value Certo would write into the configuration unquoted: empty, control
 * characters, whitespace, quotes, backslash, and ; { } < > # $ (issue 5: a newline, quote,
 * ';', '{', '}' or '<' must never reach a configuration file). 'what' names it.
 * @return CERTO_OK or CERTO_EINVAL.
 */
CERTO_MUST_CHECK certo_rc certo_apache__check_value(const char *what, const char *value,
                                                    struct certo_err *err);

/** True if certificate name 'cert_name' ("www.example.com", "*.example.com") covers the
 * concrete host name 'host' (RFC 6125 6.4.3: the wildcard is one whole left-most label). */
bool certo_apache__cert_covers(const char *cert_name, const char *host);

/** True if ServerName/ServerAlias 'pattern' matches 'host' the way httpd does
 * (ap_strcasecmp_match: case-insensitive, '*' any run of characters, '?' one). */
bool certo_apache__alias_match(const char *pattern, const char *host);

/**
 * The name to send as SNI to reach a vhost called 'vhost_name' with a certificate for
 * 'cert_name', or NULL when they do not match on either side: a concrete vhost name the
 * certificate covers is itself; a wildcard ServerAlias that matches a concrete certificate
 * name gives that name; a wildcard on both sides gives the certificate's wildcard with
 * "certo-verify" as its first label when the alias matches that. New string.
 */
char *certo_apache__probe_name(const char *vhost_name, const char *cert_name);

/** The host of a ServerName value without scheme and port ("https://a.b:443" → "a.b").
 * New string. */
char *certo_apache__server_name_host(const char *value);

/**
 * Splits a <VirtualHost> address: "[::1]:443", "127.0.0.1:8443", "*:443", "_default_",
 * "www.example.com". *host_out is a new string ("*" for * and _default_); *port_out is 0
 * when no port is given. @return CERTO_OK or CERTO_EPARSE (bad port, unclosed '[').
 */
CERTO_MUST_CHECK certo_rc certo_apache__split_addr(char **host_out, int *port_out,
                                                   const char *addr);

/* Looks up a ${NAME}: the value (borrowed), or NULL when NAME is not defined. */
typedef const char *(*certo_apache_var_fn)(const char *name, size_t len, const void *arg);

/** 's' with every ${NAME} that 'lookup' knows replaced; unknown ones are kept as written
 * (httpd ap_resolve_env does the same, with a warning). New string. */
char *certo_apache__expand(const char *s, certo_apache_var_fn lookup, const void *arg);

/**
 * Reads the output of `apachectl -t -D DUMP_RUN_CFG -D DUMP_INCLUDES`: the server root
 * ('ServerRoot: "..."') and the main configuration file (the "(*) path" line). Both new
 * strings. @return CERTO_OK or CERTO_EPARSE when either is missing.
 */
CERTO_MUST_CHECK certo_rc certo_apache__parse_dump(char **root_out, char **conf_out,
                                                   const char *text, size_t len,
                                                   struct certo_err *err);

#endif
