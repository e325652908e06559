/* SPDX-License-Identifier: MIT */
/* route_table.c -- SipHash-2-4 keyed, chained hash tables of JID strings. */
#include <string.h>

#include "base/alloc.h"
#include "route/route_int.h"

/* Slots in a table's first array; it doubles from there. */
#define RTAB_MIN_SLOTS 8

/* --- SipHash-2-4 (Aumasson and Bernstein), little-endian words ----------- */

static uint64_t
rotl64(uint64_t x, unsigned b)
{
    return (x << b) | (x >> (64U - b));
}

static uint64_t
load64_le(const unsigned char *p)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8U * i);
    return v;
}

struct sip_state {
    uint64_t v0, v1, v2, v3;
};

static void
sip_round(struct sip_state *s)
{
    s->v0 += s->v1;
    s->v1 = rotl64(s->v1, 13);
    s->v1 ^= s->v0;
    s->v0 = rotl64(s->v0, 32);
    s->v2 += s->v3;
    s->v3 = rotl64(s->v3, 16);
    s->v3 ^= s->v2;
    s->v0 += s->v3;
    s->v3 = rotl64(s->v3, 21);
    s->v3 ^= s->v0;
    s->v2 += s->v1;
    s->v1 = rotl64(s->v1, 17);
    s->v1 ^= s->v2;
    s->v2 = rotl64(s->v2, 32);
}

static void
sip_compress(struct sip_state *s, uint64_t m)
{
    s->v3 ^= m;
    sip_round(s);
    sip_round(s);
    s->v0 ^= m;
}

uint64_t
route__siphash(const unsigned char *key, const void *p, size_t n)
{
    const unsigned char *in = p;
    uint64_t k0 = load64_le(key), k1 = load64_le(key + 8);
    struct sip_state s = {
        0x736f6d6570736575ULL ^ k0,
        0x646f72616e646f6dULL ^ k1,
        0x6c7967656e657261ULL ^ k0,
        0x7465646279746573ULL ^ k1,
    };
    size_t whole = n - n % 8;
    for (size_t i = 0; i < whole; i += 8)
        sip_compress(&s, load64_le(in + i));
    /* The last word carries the remaining bytes and the length's low
     * byte in its top byte. */
    uint64_t last = (uint64_t)(n & 0xff) << 56;
    for (size_t i = 0; i < n % 8; i++)
        last |= (uint64_t)in[whole + i] << (8U * i);
    sip_compress(&s, last);
    s.v2 ^= 0xff;
    for (int i = 0; i < 4; i++)
        sip_round(&s);
    return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

/* --- the table ----------------------------------------------------------- */

void
route__tab_init(struct rtab *t, const unsigned char *key)
{
    memset(t, 0, sizeof(*t));
    t->key = key;
}

void
route__tab_fini(struct rtab *t)
{
    x_free(t->slots);
    t->slots = NULL;
    t->nslots = 0;
    t->count = 0;
}

static size_t
slot_of(const struct rtab *t, uint64_t h)
{
    return (size_t)(h & (uint64_t)(t->nslots - 1));
}

/* Move every node into a fresh array of n slots (a power of two). */
static void
rehash(struct rtab *t, size_t n)
{
    struct rtab_node **old = t->slots;
    size_t oldn = t->nslots;
    t->slots = x_calloc(n, sizeof(struct rtab_node *));
    t->nslots = n;
    for (size_t i = 0; i < oldn; i++) {
        struct rtab_node *nd = old[i];
        while (nd != NULL) {
            struct rtab_node *next = nd->next;
            size_t k = slot_of(t, nd->hash);
            nd->next = t->slots[k];
            t->slots[k] = nd;
            nd = next;
        }
    }
    x_free(old);
}

struct rtab_node *
route__tab_find(const struct rtab *t, const char *k, size_t n)
{
    if (t->count == 0)
        return NULL;
    uint64_t h = route__siphash(t->key, k, n);
    for (struct rtab_node *nd = t->slots[slot_of(t, h)]; nd; nd = nd->next)
        if (nd->hash == h && nd->klen == n && memcmp(nd->key, k, n) == 0)
            return nd;
    return NULL;
}

void
route__tab_insert(struct rtab *t, struct rtab_node *nd, const char *k, size_t n)
{
    /* Grow at a load factor of 1: chains stay short on average, and the
     * keyed hash keeps them short for chosen keys too. */
    if (t->nslots == 0)
        rehash(t, RTAB_MIN_SLOTS);
    else if (t->count >= t->nslots)
        rehash(t, t->nslots * 2);
    nd->key = k;
    nd->klen = n;
    nd->hash = route__siphash(t->key, k, n);
    size_t i = slot_of(t, nd->hash);
    nd->next = t->slots[i];
    t->slots[i] = nd;
    t->count++;
}

void
route__tab_remove(struct rtab *t, struct rtab_node *nd)
{
    struct rtab_node **pp = &t->slots[slot_of(t, nd->hash)];
    while (*pp != nd)
        pp = &(*pp)->next;
    *pp = nd->next;
    nd->next = NULL;
    t->count--;
}

void
route__tab_shrink(struct rtab *t)
{
    /* Give memory back after a burst of sessions has gone; the gap
     * between the grow and shrink points avoids flapping. */
    if (t->count == 0)
        route__tab_fini(t);
    else if (t->nslots > RTAB_MIN_SLOTS && t->count < t->nslots / 8)
        rehash(t, t->nslots / 2);
}

struct rtab_node *
route__tab_next(const struct rtab *t,
                size_t *slot,
                const struct rtab_node *prev)
{
    if (prev != NULL && prev->next != NULL)
        return prev->next;
    size_t i = prev != NULL ? *slot + 1 : *slot;
    for (; i < t->nslots; i++) {
        if (t->slots[i] != NULL) {
            *slot = i;
            return t->slots[i];
        }
    }
    *slot = t->nslots;
    return NULL;
}
