/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Clock and randomness (util layer). Everything in libcerto asks here, so tests can pin
 * the time (certificate logic is mostly date logic).
 */
#include <time.h>

#include <openssl/rand.h>

#include "certo/clock.h"

static int64_t pinned_ms = -1; /* < 0: real time */

int64_t
certo_clock_now_ms(void)
{
    struct timespec ts;

    if (pinned_ms >= 0)
        return pinned_ms;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
certo_clock_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

time_t
certo_clock_now(void)
{
    return (time_t)(certo_clock_now_ms() / 1000);
}

void
certo_clock_pin_ms(int64_t ms)
{
    pinned_ms = ms;
}

certo_rc
certo_rand_bytes(void *p, size_t n)
{
    if (n > INT32_MAX || RAND_bytes(p, (int)n) != 1)
        return CERTO_ECRYPTO;
    return CERTO_OK;
}
