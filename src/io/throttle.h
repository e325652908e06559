/* SPDX-License-Identifier: MIT */
/* throttle.h -- counting failed logins per source address and per account. */
#ifndef XMUX_IO_THROTTLE_H
#define XMUX_IO_THROTTLE_H

#include <stddef.h>
#include <stdint.h>

/* A fixed-size table of failure counters keyed by a string (an address,
 * an account). Keys are hashed with a secret seed, so a peer cannot aim
 * at one slot; when the table is full the oldest counter in reach is
 * dropped. Nothing here grows with what peers send. */
struct throttle_slot {
    uint64_t hash;
    uint64_t first_ms; /* start of the current window */
    uint32_t failures;
};

struct throttle {
    struct throttle_slot *v;
    size_t cap; /* power of two */
    uint64_t seed;
    uint64_t window_ms;
};

/* Set up a table of cap (rounded up to a power of two) counters whose
 * failures are forgotten window_ms after the first one. */
void throttle_init(struct throttle *t, size_t cap, uint64_t seed,
                   uint64_t window_ms);
void throttle_fini(struct throttle *t);
/* Count one failure for key at time now; returns the failures in the
 * current window, this one included. */
uint32_t throttle_hit(struct throttle *t, const char *key, uint64_t now);
/* The delay before the next attempt after n failures: none for the first,
 * then 250 ms doubling up to 8 s. */
uint64_t throttle_delay_ms(uint32_t n);

#endif
