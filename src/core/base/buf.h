/* SPDX-License-Identifier: MIT */
/* buf.h -- bounded, growable byte buffers (after curl's dynbuf). */
#ifndef XMUX_BASE_BUF_H
#define XMUX_BASE_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/* A byte buffer that never grows past max. Data is always NUL-terminated
 * (the NUL is not counted in len) once anything has been appended. Bytes
 * [off, len) are the unread part; buf_consume advances off. */
struct buf {
    char *data;
    size_t off; /* start of unconsumed data */
    size_t len; /* end of data */
    size_t cap; /* allocated bytes */
    size_t max; /* hard limit on len - off + 1 (the NUL) */
};

/* Set up an empty buffer holding at most max bytes; allocates nothing. */
void buf_init(struct buf *b, size_t max);
/* Release the memory; b may be reused after buf_init. Accepts NULL. */
void buf_fini(struct buf *b);
/* Drop all contents but keep the allocation. */
void buf_reset(struct buf *b);
/* Append n bytes; XE_LIMIT (b unchanged) if that would pass the maximum. */
int buf_append(struct buf *b, const void *p, size_t n);
/* Append a NUL-terminated string. */
int buf_appendz(struct buf *b, const char *s);
/* Append formatted text; XE_LIMIT (b unchanged) past the maximum. */
int buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* va_list form of buf_printf. */
int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Mark the first n unread bytes as consumed. */
void buf_consume(struct buf *b, size_t n);
/* Pointer to the unread bytes. */
static inline const char *
buf_ptr(const struct buf *b)
{
    return b->data ? b->data + b->off : "";
}
/* Number of unread bytes. */
static inline size_t
buf_len(const struct buf *b)
{
    return b->len - b->off;
}
/* Take the data out: returns a NUL-terminated heap string the caller
 * frees with x_free (never NULL), and leaves b empty. */
char *buf_take(struct buf *b, size_t *lenp);

#endif
