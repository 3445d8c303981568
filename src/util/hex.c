/* SPDX-License-Identifier: Apache-2.0 */
/* Hexadecimal digits (util layer). */
#include "certo/hex.h"

int
certo_hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char
certo_hex_digit(unsigned v)
{
    return "0123456789abcdef"[v & 15];
}
