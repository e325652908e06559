/* SPDX-License-Identifier: MIT */
/* store.c -- store handles, argument checks and the synchronous API. */
#include "store/store.h"

#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/err.h"
#include "store/store_int.h"

/* Checks that s is a non-empty key part; strnlen bounds the scan so a
 * missing terminator past STORE_PART_MAX cannot run away. */
static bool
part_ok(const char *s)
{
    if (s == NULL)
        return false;
    size_t n = strnlen(s, STORE_PART_MAX + 1);
    return n > 0 && n <= STORE_PART_MAX;
}

int
store__check_key(const char *host, const char *node)
{
    return part_ok(host) && part_ok(node) ? 0 : XE_INVAL;
}

int
store__check_host(const char *host, const char *after)
{
    if (!part_ok(host))
        return XE_INVAL;
    if (after && strnlen(after, STORE_PART_MAX + 1) > STORE_PART_MAX)
        return XE_INVAL;
    return 0;
}

int
store__check_limit(size_t limit)
{
    return limit >= 1 && limit <= STORE_LIST_MAX ? 0 : XE_INVAL;
}

/* Credentials the SASL layer can use: a salt, iterations and at least one
 * complete key pair. */
int
store__check_account(const struct store_account *a)
{
    if (a == NULL || store__check_key(a->host, a->node) != 0)
        return XE_INVAL;
    const struct sasl_creds *c = &a->creds;
    if (c->iterations == 0 || c->salt_len == 0 || c->salt_len > SASL_SALT_MAX ||
        !(c->has_sha1 || c->has_sha256))
        return XE_INVAL;
    return 0;
}

int64_t
store__now(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec;
}

struct store_account *
store__list_add(struct store_list *l, const char *host, const char *node)
{
    /* Grow by doubling; back ends stop at the caller's limit, which is at
     * most STORE_LIST_MAX. */
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->v = x_realloc(l->v, l->cap * sizeof(*l->v));
    }
    struct store_account *a = &l->v[l->n++];
    memset(a, 0, sizeof(*a));
    a->host = x_strdup(host);
    a->node = x_strdup(node);
    return a;
}

void
store_list_fini(struct store_list *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++) {
        /* The entries own their strings (store__list_add). */
        x_free((char *)l->v[i].host);
        x_free((char *)l->v[i].node);
    }
    x_free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

struct store *
store__new(const struct store_ops *ops, void *be)
{
    struct store *st = x_calloc(1, sizeof(*st));
    st->ops = ops;
    st->be = be;
    return st;
}

int
store_sync_open(const char *path, struct store **out, struct buf *err)
{
    void *be = NULL;
    int rc = store__sqlite_open(path, &be, err);
    if (rc != 0)
        return rc;
    *out = store__new(&store__sqlite_ops, be);
    return 0;
}

struct store *
store_sync_open_mem(void)
{
    return store__new(&store__mem_ops, store__mem_new());
}

void
store_sync_close(struct store *st)
{
    if (st == NULL || st->loop != NULL)
        return;
    st->ops->close(st->be);
    x_free(st);
}

int
store_open(uv_loop_t *loop,
           const char *path,
           struct store **out,
           struct buf *err)
{
    struct store *st = NULL;
    int rc = store_sync_open(path, &st, err);
    if (rc != 0)
        return rc;
    rc = store__async_start(st, loop);
    if (rc != 0) {
        (void)buf_printf(err, "%s: cannot start the store worker: %s", path,
                         xerr_str(rc));
        store_sync_close(st);
        return rc;
    }
    *out = st;
    return 0;
}

int
store_open_mem(uv_loop_t *loop, struct store **out)
{
    struct store *st = store_sync_open_mem();
    int rc = store__async_start(st, loop);
    if (rc != 0) {
        store_sync_close(st);
        return rc;
    }
    *out = st;
    return 0;
}

int
store_sync_account_get(struct store *st,
                       const char *host,
                       const char *node,
                       struct store_account *out)
{
    if (st->loop)
        return XE_STATE;
    int rc = store__check_key(host, node);
    if (rc != 0)
        return rc;
    memset(out, 0, sizeof(*out));
    out->host = host;
    out->node = node;
    rc = st->ops->get(st->be, host, node, out);
    if (rc != 0)
        explicit_bzero(&out->creds, sizeof(out->creds));
    return rc;
}

int
store_sync_account_put(struct store *st,
                       const struct store_account *acct,
                       enum store_put_mode mode)
{
    if (st->loop)
        return XE_STATE;
    int rc = store__check_account(acct);
    if (rc != 0)
        return rc;
    return st->ops->put(st->be, acct, mode, store__now());
}

int
store_sync_account_del(struct store *st, const char *host, const char *node)
{
    if (st->loop)
        return XE_STATE;
    int rc = store__check_key(host, node);
    if (rc != 0)
        return rc;
    return st->ops->del(st->be, host, node);
}

int
store_sync_account_list(struct store *st,
                        const char *host,
                        const char *after,
                        size_t limit,
                        struct store_list *out)
{
    out->v = NULL;
    out->n = out->cap = 0;
    if (st->loop)
        return XE_STATE;
    int rc = store__check_host(host, after);
    if (rc == 0)
        rc = store__check_limit(limit);
    if (rc != 0)
        return rc;
    return st->ops->list(st->be, host, after ? after : "", limit, out);
}

int
store_sync_account_count(struct store *st, const char *host, size_t *out)
{
    *out = 0;
    if (st->loop)
        return XE_STATE;
    if (host && store__check_host(host, NULL) != 0)
        return XE_INVAL;
    return st->ops->count(st->be, host, out);
}
