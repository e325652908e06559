/* SPDX-License-Identifier: MIT */
/* hex.c -- lowercase hexadecimal of bytes. */
#include "base/hex.h"

void
hex_lower(const void *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 0x0f];
    }
    out[2 * n] = '\0';
}
