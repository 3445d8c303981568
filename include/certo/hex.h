/* SPDX-License-Identifier: Apache-2.0 */
/* layer: util */
/*
 * Hexadecimal digits, one place for the few codecs that need them (key files, UUIDs,
 * escaped names). No state.
 */
#ifndef CERTO_HEX_H
#define CERTO_HEX_H

#include "certo/common.h"

/** The value of hex digit 'c' (either case), or -1. */
int certo_hex_value(int c);

/** The lower-case hex digit of 'v' & 15. */
char certo_hex_digit(unsigned v);

#endif
