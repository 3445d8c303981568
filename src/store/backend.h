/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to the store layer: the backends compiled into this build. src/store/db.c
 * picks one by the scheme of the url given to certo_db_open and reaches it only through
 * its operations table (include/certo/sys/store.h).
 * Threading: the tables are immutable.
 */
#ifndef CERTO_STORE_BACKEND_H
#define CERTO_STORE_BACKEND_H

#include "certo/sys/store.h"

/* SQLite 3 (src/store/sqlite.c): scheme "sqlite", and every url without a scheme. */
extern const struct certo_store_ops certo_store__sqlite;
/* PostgreSQL through libpq (src/store/pgsql.c): schemes "postgresql" and "postgres". */
extern const struct certo_store_ops certo_store__pgsql;

#endif
