/* SPDX-License-Identifier: Apache-2.0 */
/* layer: util */
/*
 * The only clock and random source of libcerto (STYLE.md 7.2): tests pin them.
 */
#ifndef CERTO_CLOCK_H
#define CERTO_CLOCK_H

#include <time.h>
#include "certo/common.h"

/** Seconds since the epoch (real time, or the pinned time). */
time_t certo_clock_now(void);
/** Milliseconds since the epoch (real time, or the pinned time). */
int64_t certo_clock_now_ms(void);
/** Milliseconds of CLOCK_MONOTONIC: for deadlines and durations, never pinned. */
int64_t certo_clock_mono_ms(void);
/** Pins the clock to 'ms' milliseconds since the epoch; a negative value unpins it. */
void certo_clock_pin_ms(int64_t ms);

/** Fills 'n' bytes with cryptographically strong random bytes. @return CERTO_ECRYPTO on failure. */
CERTO_MUST_CHECK certo_rc certo_rand_bytes(void *p, size_t n);

#endif
