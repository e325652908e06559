/* SPDX-License-Identifier: MIT */
/* store_mem.c -- in-memory back end (for tests): a sorted array of accounts. */
#include <stdbool.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "store/store_int.h"

/* Most accounts the memory back end holds (it is for tests, and every
 * container has a limit). */
#define MEM_MAX ((size_t)1 << 20)

struct mem_rec {
    char *host, *node;
    struct sasl_creds creds;
    bool disabled;
    int64_t created, updated;
};

/* Records sorted by (host, node) in byte order, as SQLite's BINARY
 * collation sorts them, so both back ends list in the same order. */
struct mem_be {
    struct mem_rec *v;
    size_t n, cap;
};

static int
rec_cmp(const struct mem_rec *r, const char *host, const char *node)
{
    int c = strcmp(r->host, host);
    return c != 0 ? c : strcmp(r->node, node);
}

/* Index of the first record not less than (host, node); *found tells
 * whether it is equal. */
static size_t
mem_find(const struct mem_be *m,
         const char *host,
         const char *node,
         bool *found)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (rec_cmp(&m->v[mid], host, node) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < m->n && rec_cmp(&m->v[lo], host, node) == 0;
    return lo;
}

void *
store__mem_new(void)
{
    return x_calloc(1, sizeof(struct mem_be));
}

static void
rec_fini(struct mem_rec *r)
{
    explicit_bzero(&r->creds, sizeof(r->creds));
    x_free(r->host);
    x_free(r->node);
}

static void
mem_close(void *be)
{
    struct mem_be *m = be;
    for (size_t i = 0; i < m->n; i++)
        rec_fini(&m->v[i]);
    x_free(m->v);
    x_free(m);
}

static void
rec_get(const struct mem_rec *r, struct store_account *out)
{
    out->creds = r->creds;
    out->disabled = r->disabled;
    out->created = r->created;
    out->updated = r->updated;
}

static int
mem_get(void *be, const char *host, const char *node, struct store_account *out)
{
    const struct mem_be *m = be;
    bool found;
    size_t i = mem_find(m, host, node, &found);
    if (!found)
        return XE_NOTFOUND;
    rec_get(&m->v[i], out);
    return 0;
}

/* Open a slot at index i for a new record. */
static struct mem_rec *
mem_insert(struct mem_be *m,
           size_t i,
           const struct store_account *a,
           int64_t now)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 16;
        m->v = x_realloc(m->v, m->cap * sizeof(*m->v));
    }
    memmove(&m->v[i + 1], &m->v[i], (m->n - i) * sizeof(*m->v));
    m->n++;
    struct mem_rec *r = &m->v[i];
    memset(r, 0, sizeof(*r));
    r->host = x_strdup(a->host);
    r->node = x_strdup(a->node);
    r->created = now;
    return r;
}

static int
mem_put(void *be,
        const struct store_account *a,
        enum store_put_mode mode,
        int64_t now)
{
    struct mem_be *m = be;
    bool found;
    size_t i = mem_find(m, a->host, a->node, &found);
    if (found && mode == STORE_PUT_CREATE)
        return XE_STATE;
    if (!found && mode == STORE_PUT_UPDATE)
        return XE_NOTFOUND;
    if (!found && m->n >= MEM_MAX)
        return XE_LIMIT;
    struct mem_rec *r = found ? &m->v[i] : mem_insert(m, i, a, now);
    r->creds = a->creds;
    r->disabled = a->disabled;
    r->updated = now;
    return 0;
}

static int
mem_del(void *be, const char *host, const char *node)
{
    struct mem_be *m = be;
    bool found;
    size_t i = mem_find(m, host, node, &found);
    if (!found)
        return XE_NOTFOUND;
    rec_fini(&m->v[i]);
    memmove(&m->v[i], &m->v[i + 1], (m->n - i - 1) * sizeof(*m->v));
    m->n--;
    return 0;
}

static int
mem_list(void *be,
         const char *host,
         const char *after,
         size_t limit,
         struct store_list *out)
{
    const struct mem_be *m = be;
    bool found;
    size_t i = mem_find(m, host, after, &found);
    if (found)
        i++;
    for (; i < m->n && out->n < limit; i++) {
        const struct mem_rec *r = &m->v[i];
        if (strcmp(r->host, host) != 0)
            break;
        rec_get(r, store__list_add(out, r->host, r->node));
    }
    return 0;
}

static int
mem_count(void *be, const char *host, size_t *out)
{
    const struct mem_be *m = be;
    if (host == NULL) {
        *out = m->n;
        return 0;
    }
    bool found;
    size_t i = mem_find(m, host, "", &found);
    size_t n = 0;
    while (i + n < m->n && strcmp(m->v[i + n].host, host) == 0)
        n++;
    *out = n;
    return 0;
}

const struct store_ops store__mem_ops = {
    .name = "memory",
    .get = mem_get,
    .put = mem_put,
    .del = mem_del,
    .list = mem_list,
    .count = mem_count,
    .close = mem_close,
};
