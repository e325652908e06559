/* SPDX-License-Identifier: MIT */
/* alloc.c -- allocation wrappers: log and abort on out-of-memory. */
#include "base/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
oom(size_t n)
{
    fprintf(stderr, "level=error event=out-of-memory bytes=%zu\n", n);
    abort();
}

void *
x_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        oom(n);
    return p;
}

void *
x_calloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    if (p == NULL)
        oom(n * sz);
    return p;
}

void *
x_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        oom(n);
    return q;
}

void
x_free(void *p)
{
    free(p);
}

char *
x_strdup(const char *s)
{
    return x_strndup(s, strlen(s));
}

char *
x_strndup(const char *s, size_t n)
{
    char *p = x_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void *
x_memdup(const void *p, size_t n)
{
    void *q = x_malloc(n);
    if (n)
        memcpy(q, p, n);
    return q;
}
