/* SPDX-License-Identifier: MIT */
/* ipcount.c -- connections per source address (IPv6 per /64). */
#include "io/ipcount.h"

#include <netinet/in.h>
#include <string.h>

#include "base/alloc.h"

#define IPCOUNT_BUCKETS_MIN 64
#define IPCOUNT_BUCKETS_MAX ((size_t)1 << 16)

struct ipcount_node {
    struct ipcount_node *next;
    struct ipkey key;
    size_t count;
};

bool
ipkey_from_sockaddr(const struct sockaddr *sa, struct ipkey *k)
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0,    0,
                                             0, 0, 0, 0, 0xff, 0xff};
    memset(k, 0, sizeof(*k));
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        memcpy(k->b, mapped, sizeof(mapped));
        memcpy(k->b + 12, &a->sin_addr, 4);
        return true;
    }
    if (sa->sa_family != AF_INET6)
        return false;
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
    memcpy(k->b, &a->sin6_addr, 16);
    if (memcmp(k->b, mapped, sizeof(mapped)) != 0)
        memset(k->b + 8, 0, 8); /* the /64 */
    return true;
}

void
ipcount_init(struct ipcount *t, size_t expect, uint64_t seed)
{
    size_t n = IPCOUNT_BUCKETS_MIN;
    while (n < expect && n < IPCOUNT_BUCKETS_MAX)
        n <<= 1;
    t->v = x_calloc(n, sizeof(struct ipcount_node *));
    t->nbuckets = n;
    t->n = 0;
    t->seed = seed | 1;
}

void
ipcount_fini(struct ipcount *t)
{
    for (size_t i = 0; i < t->nbuckets; i++) {
        struct ipcount_node *e = t->v[i];
        while (e) {
            struct ipcount_node *next = e->next;
            x_free(e);
            e = next;
        }
    }
    x_free(t->v);
    t->v = NULL;
    t->nbuckets = t->n = 0;
}

/* FNV-1a over the seed and the key. */
static struct ipcount_node **
bucket_of(const struct ipcount *t, const struct ipkey *k)
{
    uint64_t h = 14695981039346656037ULL ^ t->seed;
    for (size_t i = 0; i < sizeof(k->b); i++) {
        h ^= k->b[i];
        h *= 1099511628211ULL;
    }
    h ^= h >> 31;
    return &t->v[h & (t->nbuckets - 1)];
}

static struct ipcount_node *
find(const struct ipcount *t, const struct ipkey *k)
{
    for (struct ipcount_node *e = *bucket_of(t, k); e; e = e->next)
        if (memcmp(e->key.b, k->b, sizeof(k->b)) == 0)
            return e;
    return NULL;
}

size_t
ipcount_add(struct ipcount *t, const struct ipkey *k)
{
    struct ipcount_node *e = find(t, k);
    if (e == NULL) {
        struct ipcount_node **b = bucket_of(t, k);
        e = x_calloc(1, sizeof(*e));
        e->key = *k;
        e->next = *b;
        *b = e;
        t->n++;
    }
    return ++e->count;
}

void
ipcount_del(struct ipcount *t, const struct ipkey *k)
{
    struct ipcount_node **pp = bucket_of(t, k);
    while (*pp && memcmp((*pp)->key.b, k->b, sizeof(k->b)) != 0)
        pp = &(*pp)->next;
    struct ipcount_node *e = *pp;
    if (e == NULL)
        return;
    if (--e->count > 0)
        return;
    *pp = e->next;
    x_free(e);
    t->n--;
}

size_t
ipcount_get(const struct ipcount *t, const struct ipkey *k)
{
    const struct ipcount_node *e = find(t, k);
    return e ? e->count : 0;
}
