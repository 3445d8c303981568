/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to the Tomcat connector: the model of a server.xml that serverxml.c reads
 * (TLS Connectors, their SSLHostConfig/Certificate elements or legacy Connector keystore
 * attributes, each value with its byte range in the original text), the byte-precise
 * attribute editor, and the path and name rules. No I/O here: callers pass bytes, so the
 * unit tests and the fuzz harness reach every function. One thread at a time.
 */
#ifndef CERTO_CONNECTOR_TOMCAT_H
#define CERTO_CONNECTOR_TOMCAT_H

#include "certo/buf.h"
#include "certo/err.h"
#include "certo/secret.h"

#define CERTO_TOMCAT_XML_MAX (4u * 1024 * 1024) /* server.xml larger than this is refused */

/* The attributes of one certificate that the connector reads, Tomcat 10/11 names first;
 * the legacy Tomcat 9 Connector aliases map onto the same slots (serverxml.c). */
enum certo_tomcat_field {
    CERTO_TC_KS_FILE = 0,  /* certificateKeystoreFile / keystoreFile */
    CERTO_TC_KS_PASS,      /* certificateKeystorePassword / keystorePass (secret) */
    CERTO_TC_KS_PASS_FILE, /* certificateKeystorePasswordFile */
    CERTO_TC_KS_TYPE,      /* certificateKeystoreType / keystoreType */
    CERTO_TC_KEY_ALIAS,    /* certificateKeyAlias / keyAlias */
    CERTO_TC_CERT_FILE,    /* certificateFile / SSLCertificateFile */
    CERTO_TC_KEY_FILE,     /* certificateKeyFile / SSLCertificateKeyFile */
    CERTO_TC_CHAIN_FILE,   /* certificateChainFile / SSLCertificateChainFile */
    CERTO_TC_KEY_PASS,     /* certificateKeyPassword / keyPass, SSLPassword (secret) */
    CERTO_TC_TYPE,         /* type: RSA, EC, DSA, UNDEFINED */
    CERTO_TC__COUNT
};

/* Where an attribute value sits in the original text: between its quotes. */
struct certo_tomcat_span {
    bool present; /* the attribute is there */
    size_t off;   /* byte offset of the value's first byte */
    size_t len;   /* bytes of the value as written (entities not decoded) */
    int line;     /* 1-based line of the value's first byte */
};

/* One certificate Tomcat loads: a Certificate element, or a legacy Connector. */
struct certo_tomcat_cert {
    size_t connector;           /* index into conf->connectors */
    char *host_name;            /* owned; the SSLHostConfig hostName, "_default_" when absent */
    bool legacy;                /* the attributes are on the Connector itself (Tomcat 9 aliases) */
    bool is_default;            /* its SSLHostConfig is the connector's defaultSSLHostConfigName */
    int line;                   /* line of the element's start tag */
    size_t elem;                /* document-order index of the element, for re-reading a change */
    char *val[CERTO_TC__COUNT]; /* owned; decoded values, NULL when absent; always
                                   NULL for the two password slots */
    struct certo_secret *ks_pass;                 /* owned; CERTO_TC_KS_PASS, NULL when absent */
    struct certo_secret *key_pass;                /* owned; CERTO_TC_KEY_PASS, NULL when absent */
    struct certo_tomcat_span at[CERTO_TC__COUNT]; /* each attribute's place in the text */
};

/* One Connector element. */
struct certo_tomcat_connector {
    int port;           /* the port attribute; -1 when absent or not a number */
    char *address;      /* owned; the address attribute, NULL when absent */
    char *default_host; /* owned; defaultSSLHostConfigName, "_default_" when absent */
    bool tls;           /* SSLEnabled="true" */
    char *protocol;     /* owned; the protocol attribute, NULL when absent (HTTP/1.1) */
    int line;           /* line of the start tag */
};

struct certo_tomcat_conf {
    struct certo_tomcat_connector *connectors; /* owned array, document order */
    size_t n_connectors;
    struct certo_tomcat_cert *certs; /* owned array, document order; TLS connectors only */
    size_t n_certs;
    bool utf8; /* the document is UTF-8 (or ASCII): non-ASCII values may be written */
};

/* One attribute value to replace: the span from a parsed conf, and the new text. */
struct certo_tomcat_edit {
    struct certo_tomcat_span at; /* borrowed from the conf of the same bytes */
    const char *value;           /* borrowed; checked with certo_tomcat__value_check */
};

/*
 * Reads server.xml 'xml' ('len' bytes): libxml2 parses it (no network, no DTD, no entity
 * expansion, CERTO_TOMCAT_XML_MAX bytes at most); a lexical pass over the same bytes finds
 * where each start tag and attribute value is, element by element in document order.
 * Fills 'out' (zeroed at entry; release with certo_tomcat__conf_dispose even on failure).
 * @return CERTO_EPARSE naming the line, CERTO_ETOOBIG, CERTO_EUNSUPPORTED (a DOCTYPE).
 */
CERTO_MUST_CHECK certo_rc certo_tomcat__parse(struct certo_tomcat_conf *out, const void *xml,
                                              size_t len, struct certo_err *err);
void certo_tomcat__conf_dispose(struct certo_tomcat_conf *c);

/*
 * Checks a value before it is written into server.xml: not empty, no control character,
 * quote, '<', '>', '&' or '$' (so that nothing needs escaping and no ${property} is made),
 * ASCII only when 'utf8' is false. 'what' names it in the message.
 * @return CERTO_EINVAL naming 'what'.
 */
CERTO_MUST_CHECK certo_rc certo_tomcat__value_check(const char *what, const char *value, bool utf8,
                                                    struct certo_err *err);

/*
 * Copies 'xml' to 'out' with each edit's value bytes replaced and every other byte kept.
 * Appends to 'diff' (may be NULL) one excerpt per changed line: "server.xml line N:",
 * "- old line", "+ new line", with the values of password attributes masked.
 * Edits must not overlap. @return CERTO_EINVAL (a value refused), CERTO_ETOOBIG.
 */
CERTO_MUST_CHECK certo_rc certo_tomcat__edit(struct certo_buf *out, struct certo_buf *diff,
                                             const void *xml, size_t len,
                                             const struct certo_tomcat_edit *edits, size_t n,
                                             struct certo_err *err);

/*
 * The absolute path Tomcat opens for attribute value 'v': ${catalina.base} and
 * ${catalina.home} replaced, a relative result taken against 'base' (CATALINA_BASE).
 * @return a new string, or NULL when 'v' uses another ${property} or is empty.
 */
char *certo_tomcat__resolve(const char *base, const char *home, const char *v);

/* Whether an SSLHostConfig hostName (possibly "*.example.com") is covered by certificate
 * name 'name' (possibly a wildcard): equal ignoring case, or one label under 'name'. */
bool certo_tomcat__host_matches(const char *host_name, const char *name);

#endif
