/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Random UUIDs (util layer), RFC 9562 section 5.4: 122 random bits, the version nibble
 * set to 4 and the variant bits to 10.
 */
#include <string.h>

#include "certo/clock.h"
#include "certo/hex.h"
#include "certo/uuid.h"

certo_rc
certo_uuid_v4(char out[CERTO_UUID_STRLEN + 1])
{
    unsigned char b[16];
    size_t o = 0;
    certo_rc rc = certo_rand_bytes(b, sizeof(b));

    if (rc != CERTO_OK)
        return rc;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    for (size_t i = 0; i < sizeof(b); i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = certo_hex_digit(b[i] >> 4);
        out[o++] = certo_hex_digit(b[i]);
    }
    out[o] = '\0';
    return CERTO_OK;
}

bool
certo_uuid_is_valid(const char *s)
{
    if (strlen(s) != CERTO_UUID_STRLEN)
        return false;
    for (size_t i = 0; i < CERTO_UUID_STRLEN; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        char c = s[i];
        bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        if (dash ? c != '-' : !hex)
            return false;
    }
    return true;
}
