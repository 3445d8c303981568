/* SPDX-License-Identifier: Apache-2.0 */
/* layer: util */
/*
 * Strict UTF-8 decoding and encoding of single code points, for aliases, passwords and
 * the other text that crosses format boundaries (JKS modified UTF-8, UTF-16 passwords).
 */
#ifndef CERTO_UTF8_H
#define CERTO_UTF8_H

#include "certo/common.h"

/**
 * Decodes one UTF-8 sequence at 's' (at most 'left' bytes, 'left' >= 1) into '*cp'.
 * @return its length (1..4), or 0 if invalid: overlong, surrogate, beyond U+10FFFF,
 *         bad continuation byte or truncated.
 */
size_t certo_utf8_decode(const unsigned char *s, size_t left, uint32_t *cp);

/** Encodes 'cp' (< 0x110000) into 'out' (4 bytes room). @return the length written. */
size_t certo_utf8_encode(uint32_t cp, unsigned char out[4]);

#endif
