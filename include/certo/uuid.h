/* SPDX-License-Identifier: Apache-2.0 */
/* layer: util */
/*
 * Instance IDs: random (version 4) UUIDs in their canonical lower-case text form.
 */
#ifndef CERTO_UUID_H
#define CERTO_UUID_H

#include "certo/common.h"

#define CERTO_UUID_STRLEN 36 /* characters, without the NUL */

/** Writes a new random UUID and its NUL into 'out'. @return CERTO_ECRYPTO without entropy. */
CERTO_MUST_CHECK certo_rc certo_uuid_v4(char out[CERTO_UUID_STRLEN + 1]);

/** True if 's' has the shape 8-4-4-4-12 of hex digits (either case). */
bool certo_uuid_is_valid(const char *s);

#endif
