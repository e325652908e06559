/* SPDX-License-Identifier: MIT */
/* ct_count.h -- SEC-09: counts the calls secret comparisons make to
 * OpenSSL's constant-time CRYPTO_memcmp. Included by the unit tests
 * linked with -Wl,--wrap=CRYPTO_memcmp (tests/CMakeLists.txt). */
#ifndef XMUX_TEST_CT_COUNT_H
#define XMUX_TEST_CT_COUNT_H

#include <stddef.h>

int __real_CRYPTO_memcmp(const void *a, const void *b, size_t n);
int __wrap_CRYPTO_memcmp(const void *a, const void *b, size_t n);

/* Calls, and bytes compared, since the test last set them to 0. */
static size_t ct_calls, ct_bytes;

int
__wrap_CRYPTO_memcmp(const void *a, const void *b, size_t n)
{
    ct_calls++;
    ct_bytes += n;
    return __real_CRYPTO_memcmp(a, b, n);
}

#endif
