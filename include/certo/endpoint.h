/* SPDX-License-Identifier: Apache-2.0 */
/* layer: gateway */
/*
 * Endpoints of a gateway (seed 004 "Add an endpoint"): the eight types, their connection
 * types, the options each type has, and the rules those options follow. One table drives
 * the CLI options, their help, the validation and the registry columns, so a rule is
 * written once. Validation is split in two: certo_endpoint_validate() looks only at the
 * values (no I/O), certo_endpoint_check_local() looks at the gateway's files.
 * Endpoint values are plain data: one thread at a time.
 */
#ifndef CERTO_ENDPOINT_H
#define CERTO_ENDPOINT_H

#include <stdint.h>

#include "certo/common.h"
#include "certo/err.h"
#include "certo/secret.h"
#include "certo/uuid.h"

enum certo_ep_type {
    CERTO_EP_IIS = 0,
    CERTO_EP_APACHE,
    CERTO_EP_TOMCAT,
    CERTO_EP_F5,
    CERTO_EP_NGINX,
    CERTO_EP_P12,
    CERTO_EP_JKS,
    CERTO_EP_PEM,
    CERTO_EP__COUNT
};

enum certo_conn {
    CERTO_CONN_LOCAL = 0,
    CERTO_CONN_SSH,
    CERTO_CONN_SSH_WINDOWS,
    CERTO_CONN_WINRM_HTTP,
    CERTO_CONN_WINRM_HTTPS,
    CERTO_CONN_WINRM_HTTPS_INSECURE,
    CERTO_CONN_REST,
    CERTO_CONN_REST_INSECURE,
    CERTO_CONN__COUNT
};

/* The options of `certo tls add`, in the seed's order. */
enum certo_ep_field {
    CERTO_F_NAME = 0,
    CERTO_F_CONNECTION_TYPE,
    CERTO_F_HOST,
    CERTO_F_PORT,
    CERTO_F_USER,
    CERTO_F_PASSWORD,
    CERTO_F_SSH_KEY_PATH,
    CERTO_F_SSH_KEY_PASSWORD,
    CERTO_F_STORE,
    CERTO_F_STORE_CRED_ID,
    CERTO_F_APACHECTL_PATH,
    CERTO_F_TOMCAT_DIR,
    CERTO_F_NGINX_CONFIG_PATH,
    CERTO_F_PATH,
    CERTO_F_STORE_PASSWORD,
    CERTO_F_INSTALL_SCRIPT,
    CERTO_F_RESTART_SCRIPT,
    CERTO_F_IS_LEGACY,
    CERTO_F__COUNT
};

enum certo_ep_kind {
    CERTO_FK_TEXT = 0, /* free text with a length rule */
    CERTO_FK_PATH,     /* a path: no control characters, at most CERTO_PATH_MAX */
    CERTO_FK_INT,      /* decimal integer */
    CERTO_FK_BOOL,     /* "true" or "false" */
    CERTO_FK_SECRET,   /* never kept in struct certo_endpoint, sealed in the registry */
};

struct certo_ep_field_info {
    const char *name; /* option, registry column and JSON key: "connection_type" */
    const char *metavar;
    enum certo_ep_kind kind;
    unsigned types; /* bit (1u << enum certo_ep_type) for each type that has the option */
};

/** The field table entry of 'f'. */
const struct certo_ep_field_info *certo_ep_field_info(enum certo_ep_field f);
/** True if endpoints of 'type' have option 'f'. */
bool certo_ep_has_field(enum certo_ep_type type, enum certo_ep_field f);
/** The seed's description of 'f' for 'type', with its limits and Certo's default. */
const char *certo_ep_field_help(enum certo_ep_field f, enum certo_ep_type type);

/** Type names as the seed spells them ("iis", "p12"); parse is exact. */
const char *certo_ep_type_name(enum certo_ep_type t);
bool certo_ep_type_parse(const char *s, enum certo_ep_type *out);
/** Connection type names ("winrm_https_insecure"); parse is exact. */
const char *certo_conn_name(enum certo_conn c);
bool certo_conn_parse(const char *s, enum certo_conn *out);
/** Bit (1u << enum certo_conn) for each connection type the seed lists for 'type'. */
unsigned certo_ep_conns(enum certo_ep_type type);
/** Port used when --port is absent: 22, 5985, 5986, 443; 0 for local. */
int certo_conn_default_port(enum certo_conn c);
/** The product name shown to users: "nginx", "Apache httpd", "Microsoft IIS", ... */
const char *certo_ep_vendor(enum certo_ep_type t);

/* Where the gateway runs: the seed's table of connection types per gateway OS. */
struct certo_gw_host {
    bool windows;   /* a Windows gateway (Certo builds for Linux; kept for the rules) */
    bool container; /* inside a container: every endpoint is remote */
};

/**
 * Detects the host: a container when CERTO_CONTAINER is "1" or "true", or when it is
 * unset and /.dockerenv or /run/.containerenv exists; CERTO_CONTAINER=0 says no.
 */
void certo_gw_host_detect(struct certo_gw_host *out);

struct certo_endpoint {
    char id[CERTO_UUID_STRLEN + 1]; /* instance ID; "" until the registry assigns one */
    enum certo_ep_type type;
    char *val[CERTO_F__COUNT]; /* owned; NULL when unset; always NULL for secret fields */
    unsigned secrets;          /* bit (1u << field) for each secret field that is stored */
    int64_t created_at;        /* seconds since the epoch; 0 until stored */
    int64_t updated_at;
};

/** Releases the values of 'ep' (not 'ep' itself). NULL ok. */
void certo_endpoint_dispose(struct certo_endpoint *ep);
/** Deep copy. */
void certo_endpoint_copy(struct certo_endpoint *dst, const struct certo_endpoint *src);
/** Sets value 'f' to a copy of 'v' (NULL unsets it). */
void certo_endpoint_set(struct certo_endpoint *ep, enum certo_ep_field f, const char *v);
/** Value of 'f', or NULL. */
const char *certo_endpoint_get(const struct certo_endpoint *ep, enum certo_ep_field f);
/** The connection type; only meaningful after validation. */
enum certo_conn certo_endpoint_conn(const struct certo_endpoint *ep);
/** The port (explicit or default); only meaningful after validation. */
int certo_endpoint_port(const struct certo_endpoint *ep);

/**
 * Checks every value and every rule between them, with no I/O: lengths and syntax,
 * the connection types of the type and of the gateway host, the options a connection
 * type uses and needs, authentication for remote types. 'secrets' has bit (1u << f) for
 * each secret option given. Fills defaults (is_legacy, apachectl_path, nginx_config_path)
 * into 'ep'; the port stays unset when not given (certo_endpoint_port gives the default).
 * The first broken rule is reported, naming the option ("--port must be an integer
 * between 1 and 65535, not '0'").
 * @return CERTO_OK or CERTO_EINVAL.
 */
CERTO_MUST_CHECK certo_rc certo_endpoint_validate(struct certo_endpoint *ep, unsigned secrets,
                                                  const struct certo_gw_host *host,
                                                  struct certo_err *err);

/**
 * Makes the paths of a local endpoint absolute against the current directory (the
 * gateway service runs elsewhere). Call before certo_endpoint_validate().
 */
CERTO_MUST_CHECK certo_rc certo_endpoint_absolutize(struct certo_endpoint *ep,
                                                    struct certo_err *err);

/**
 * The checks that need the gateway's files: the SSH key file is readable; for a local
 * endpoint, apachectl is executable, nginx.conf readable, tomcat_dir holds
 * conf/server.xml, the p12/jks/pem file exists and opens (with 'store_password' for p12
 * and jks, borrowed, may be NULL), and the scripts are executable.
 * @return CERTO_OK; CERTO_ENOTFOUND, CERTO_EPERM, CERTO_EINVAL, CERTO_EAUTH (the keystore
 *         does not open with the password), naming the option.
 */
CERTO_MUST_CHECK certo_rc certo_endpoint_check_local(const struct certo_endpoint *ep,
                                                     const struct certo_secret *store_password,
                                                     struct certo_err *err);

#endif
