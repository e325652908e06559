/* SPDX-License-Identifier: MIT */
/* bucket.c -- a token bucket: bytes per second with a burst allowance. */
#include "io/bucket.h"

/* Bytes of one take at most (a read is 64 KiB): n * 1000 never
 * overflows. */
#define BUCKET_TAKE_MAX ((uint64_t)1 << 40)

void
bucket_init(struct bucket *b, uint64_t rate, uint64_t burst, uint64_t now_ms)
{
    b->rate = rate;
    b->cap = (int64_t)burst * 1000;
    b->credit = b->cap;
    b->last_ms = now_ms;
}

static void
bucket_refill(struct bucket *b, uint64_t now_ms)
{
    if (now_ms <= b->last_ms)
        return;
    uint64_t elapsed = now_ms - b->last_ms;
    b->last_ms = now_ms;
    /* Compare before multiplying: a long quiet spell fills the bucket
     * without an overflow. */
    uint64_t room = (uint64_t)(b->cap - b->credit);
    if (elapsed >= room / b->rate + 1)
        b->credit = b->cap;
    else
        b->credit += (int64_t)(elapsed * b->rate);
    if (b->credit > b->cap)
        b->credit = b->cap;
}

uint64_t
bucket_avail(struct bucket *b, uint64_t now_ms)
{
    if (b->rate == 0)
        return UINT64_MAX;
    bucket_refill(b, now_ms);
    return b->credit > 0 ? (uint64_t)b->credit / 1000 : 0;
}

uint64_t
bucket_take(struct bucket *b, uint64_t n, uint64_t now_ms)
{
    if (b->rate == 0)
        return 0;
    bucket_refill(b, now_ms);
    if (n > BUCKET_TAKE_MAX)
        n = BUCKET_TAKE_MAX;
    b->credit -= (int64_t)(n * 1000);
    if (b->credit > 0)
        return 0;
    /* Milliseconds until the credit is above zero again. */
    return (uint64_t)(-b->credit) / b->rate + 1;
}
