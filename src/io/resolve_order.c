/* SPDX-License-Identifier: MIT */
/* resolve_order.c -- RFC 2782 SRV ordering and name checks for resolve.c. */
#include "io/resolve.h"

#include <arpa/inet.h>
#include <string.h>

uint64_t
resolve_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static void
srv_swap(struct resolve_srv *a, struct resolve_srv *b)
{
    if (a == b)
        return;
    struct resolve_srv t = *a;
    *a = *b;
    *b = t;
}

/* Stable insertion sort by priority: n is small (both services' sets),
 * and stability keeps the answer's order as the tie-break before the
 * weighted draw reorders each group anyway. */
static void
srv_sort_priority(struct resolve_srv *v, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        for (size_t j = i; j > 0 && v[j - 1].priority > v[j].priority; j--)
            srv_swap(&v[j - 1], &v[j]);
    }
}

/* Index (in [lo, hi)) of the record the draw picks, RFC 2782 §"Usage
 * rules": weight-0 records are arranged first, so their running sum is 0
 * and a draw of 0 selects the first of them; otherwise the first record
 * whose running sum reaches the draw. The modulo bias of a 64-bit draw
 * over a sum below 2^21 is negligible. */
static size_t
srv_pick(const struct resolve_srv *v, size_t lo, size_t hi, uint64_t *rng)
{
    uint32_t sum = 0;
    for (size_t i = lo; i < hi; i++)
        sum += v[i].weight;
    uint64_t r = resolve_rand(rng);
    if (sum == 0)
        return lo + (size_t)(r % (hi - lo));
    uint32_t draw = (uint32_t)(r % ((uint64_t)sum + 1));
    if (draw == 0) {
        for (size_t i = lo; i < hi; i++)
            if (v[i].weight == 0)
                return i;
    }
    uint32_t run = 0;
    for (size_t i = lo; i < hi; i++) {
        run += v[i].weight;
        if (v[i].weight != 0 && run >= draw)
            return i;
    }
    return hi - 1; /* not reached: the last running sum is sum >= draw */
}

void
resolve_srv_order(struct resolve_srv *v, size_t n, uint64_t *rng)
{
    srv_sort_priority(v, n);
    size_t lo = 0;
    while (lo < n) {
        size_t hi = lo + 1;
        while (hi < n && v[hi].priority == v[lo].priority)
            hi++;
        /* Draw each position of the group in turn from what is left. */
        for (size_t i = lo; i + 1 < hi; i++)
            srv_swap(&v[i], &v[srv_pick(v, i, hi, rng)]);
        lo = hi;
    }
}

int
resolve_ip_literal(const char *s, char *addr)
{
    unsigned char bin[16];
    size_t n = strlen(s);
    if (n == 0 || n >= RESOLVE_ADDR_MAX)
        return 0;
    if (inet_pton(AF_INET, s, bin) == 1) {
        memcpy(addr, s, n + 1);
        return AF_INET;
    }
    const char *p = s;
    if (s[0] == '[') {
        if (n < 3 || s[n - 1] != ']')
            return 0;
        p = s + 1;
        n -= 2;
    }
    char tmp[RESOLVE_ADDR_MAX];
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    if (inet_pton(AF_INET6, tmp, bin) != 1)
        return 0;
    memcpy(addr, tmp, n + 1);
    return AF_INET6;
}

static bool
label_char_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '_';
}

bool
resolve_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n > 0 && name[n - 1] == '.')
        n--;
    if (n == 0 || n > 253)
        return false;
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == '.') {
            if (label == 0)
                return false;
            label = 0;
        } else if (!label_char_ok(c) || ++label > 63) {
            return false;
        }
    }
    return label > 0;
}
