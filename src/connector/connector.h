/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to the connector layer: the built-in connectors, listed by registry.c.
 */
#ifndef CERTO_CONNECTOR_INT_H
#define CERTO_CONNECTOR_INT_H

#include "certo/sys/connector.h"

extern const struct certo_connector_ops certo_connector_p12;
extern const struct certo_connector_ops certo_connector_jks;
extern const struct certo_connector_ops certo_connector_pem;
extern const struct certo_connector_ops certo_connector_nginx;
extern const struct certo_connector_ops certo_connector_apache;
extern const struct certo_connector_ops certo_connector_tomcat;

#endif
