/* SPDX-License-Identifier: MIT */
/* hex.h -- lowercase hexadecimal of bytes. */
#ifndef XMUX_HEX_H
#define XMUX_HEX_H

#include <stddef.h>

/* Write the lowercase hex of p[0..n) and a NUL to out (2n + 1 bytes). */
void hex_lower(const void *p, size_t n, char *out);

#endif
