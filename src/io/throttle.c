/* SPDX-License-Identifier: MIT */
/* throttle.c -- counting failed logins per source address and per account. */
#include "io/throttle.h"

#include <stdbool.h>
#include <string.h>

#include "base/alloc.h"

#define PROBE_MAX 16

void
throttle_init(struct throttle *t, size_t cap, uint64_t seed,
              uint64_t window_ms)
{
    size_t n = 16;
    while (n < cap)
        n <<= 1;
    t->v = x_calloc(n, sizeof(*t->v));
    t->cap = n;
    t->seed = seed | 1;
    t->window_ms = window_ms;
}

void
throttle_fini(struct throttle *t)
{
    x_free(t->v);
    t->v = NULL;
    t->cap = 0;
}

/* FNV-1a over the seed and the key; never 0 (0 marks a free slot). */
static uint64_t
throttle_hash(const struct throttle *t, const char *key)
{
    uint64_t h = 14695981039346656037ULL ^ t->seed;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    h ^= h >> 29;
    return h ? h : 1;
}

uint32_t
throttle_hit(struct throttle *t, const char *key, uint64_t now)
{
    uint64_t h = throttle_hash(t, key);
    size_t mask = t->cap - 1;
    struct throttle_slot *victim = NULL;
    for (size_t i = 0; i < PROBE_MAX; i++) {
        struct throttle_slot *s = &t->v[(h + i) & mask];
        bool expired = s->hash && now - s->first_ms > t->window_ms;
        if (s->hash == h && !expired) {
            s->failures++;
            return s->failures;
        }
        if (s->hash == 0 || expired) {
            victim = s;
            break;
        }
        if (victim == NULL || s->first_ms < victim->first_ms)
            victim = s;
    }
    victim->hash = h;
    victim->first_ms = now;
    victim->failures = 1;
    return 1;
}

uint64_t
throttle_delay_ms(uint32_t n)
{
    if (n <= 1)
        return 0;
    uint32_t shift = n - 2 > 5 ? 5 : n - 2;
    return (uint64_t)250 << shift;
}
