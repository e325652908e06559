/* SPDX-License-Identifier: MIT */
/* alloc.h -- allocation wrappers: log and abort on out-of-memory. */
#ifndef XMUX_BASE_ALLOC_H
#define XMUX_BASE_ALLOC_H

#include <stddef.h>

/* Allocate n bytes; never returns NULL (aborts on out-of-memory). */
void *x_malloc(size_t n);
/* Allocate a zeroed array of n objects of size sz; aborts on overflow/OOM. */
void *x_calloc(size_t n, size_t sz);
/* Resize p to n bytes; never returns NULL. */
void *x_realloc(void *p, size_t n);
/* Free p; accepts NULL. */
void x_free(void *p);
/* Copy the NUL-terminated string s into fresh memory. */
char *x_strdup(const char *s);
/* Copy n bytes of s and a terminating NUL into fresh memory. */
char *x_strndup(const char *s, size_t n);
/* Copy n bytes of p into fresh memory. */
void *x_memdup(const void *p, size_t n);

#endif
