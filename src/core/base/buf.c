/* SPDX-License-Identifier: MIT */
/* buf.c -- bounded, growable byte buffers. */
#include "base/buf.h"

#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"

#define BUF_MIN_ALLOC 64

void
buf_init(struct buf *b, size_t max)
{
    b->data = NULL;
    b->off = b->len = b->cap = 0;
    b->max = max;
}

void
buf_fini(struct buf *b)
{
    if (b == NULL)
        return;
    x_free(b->data);
    b->data = NULL;
    b->off = b->len = b->cap = 0;
}

void
buf_reset(struct buf *b)
{
    b->off = b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

/* Make room for n more bytes plus the NUL, compacting consumed bytes first
 * and growing geometrically, but never past the limit. */
static int
buf_reserve(struct buf *b, size_t n)
{
    size_t used = b->len - b->off;
    if (n > b->max || used + n + 1 > b->max)
        return XE_LIMIT;
    if (b->len + n + 1 <= b->cap)
        return 0;
    if (b->off > 0) {
        memmove(b->data, b->data + b->off, used);
        b->off = 0;
        b->len = used;
        b->data[used] = '\0';
        if (used + n + 1 <= b->cap)
            return 0;
    }
    size_t want = b->cap ? b->cap : BUF_MIN_ALLOC;
    while (want < used + n + 1)
        want *= 2;
    if (want > b->max)
        want = b->max;
    b->data = x_realloc(b->data, want);
    b->cap = want;
    return 0;
}

int
buf_append(struct buf *b, const void *p, size_t n)
{
    int rc = buf_reserve(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int
buf_appendz(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0)
        return XE_INVAL;
    int rc = buf_reserve(b, (size_t)n);
    if (rc)
        return rc;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void
buf_consume(struct buf *b, size_t n)
{
    size_t used = b->len - b->off;
    if (n >= used) {
        buf_reset(b);
        return;
    }
    b->off += n;
}

char *
buf_take(struct buf *b, size_t *lenp)
{
    size_t n = buf_len(b);
    char *s;
    if (b->data == NULL) {
        s = x_strdup("");
    } else if (b->off == 0) {
        s = b->data;
    } else {
        s = x_strndup(b->data + b->off, n);
        x_free(b->data);
    }
    b->data = NULL;
    b->off = b->len = b->cap = 0;
    if (lenp)
        *lenp = n;
    return s;
}
