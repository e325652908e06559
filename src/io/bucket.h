/* SPDX-License-Identifier: MIT */
/* bucket.h -- a token bucket: bytes per second with a burst allowance. */
#ifndef XMUX_IO_BUCKET_H
#define XMUX_IO_BUCKET_H

#include <stdint.h>

/* Credit is kept in thousandths of a byte: a rate of R bytes per second
 * adds exactly R of them per millisecond, so that frequent refills lose
 * nothing to rounding. It may go
 * below zero: bytes are counted after they were read, and a read can
 * take more than is left. */
struct bucket {
    uint64_t rate;  /* bytes per second; 0: unlimited */
    int64_t cap;    /* burst, in thousandths of a byte */
    int64_t credit; /* what is left, in the same unit; negative: owed */
    uint64_t last_ms;
};

/* A full bucket at time now_ms (milliseconds of any monotonic clock);
 * rate 0 never limits. burst is at most 2^30. */
void
bucket_init(struct bucket *b, uint64_t rate, uint64_t burst, uint64_t now_ms);
/* Bytes that may be taken at now_ms without going below zero (refills
 * first); UINT64_MAX when the rate is unlimited. */
uint64_t bucket_avail(struct bucket *b, uint64_t now_ms);
/* Count n bytes read at now_ms. Returns 0 while credit is left, else the
 * milliseconds until it is back above zero: how long to stop reading. */
uint64_t bucket_take(struct bucket *b, uint64_t n, uint64_t now_ms);

#endif
