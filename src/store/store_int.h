/* SPDX-License-Identifier: MIT */
/* store_int.h -- store internals: the back-end vtable and the handle. */
#ifndef XMUX_STORE_INT_H
#define XMUX_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "base/buf.h"
#include "store/store.h"

/* A back end: synchronous operations on one thread at a time (the worker
 * of an asynchronous store, the caller of a synchronous one). Arguments
 * are already checked (store__check_*). Results as in store.h. */
struct store_ops {
    const char *name;
    /* Fill creds, disabled, created and updated of out. */
    int (*get)(void *be,
               const char *host,
               const char *node,
               struct store_account *out);
    /* now is the time to record in created (on insert) and updated. */
    int (*put)(void *be,
               const struct store_account *a,
               enum store_put_mode mode,
               int64_t now);
    int (*del)(void *be, const char *host, const char *node);
    /* after is never NULL ("" for the start); out starts empty. */
    int (*list)(void *be,
                const char *host,
                const char *after,
                size_t limit,
                struct store_list *out);
    /* host NULL: all hosts. */
    int (*count)(void *be, const char *host, size_t *out);
    /* Release everything; be is invalid afterwards. */
    void (*close)(void *be);
};

/* A FIFO of requests linked through store_req.next. */
struct store_reqq {
    struct store_req *head, *tail;
};

struct store {
    const struct store_ops *ops;
    void *be;
    uv_loop_t *loop; /* NULL: a synchronous store */

    /* Asynchronous stores only. Fields marked (mu) are shared with the
     * worker and guarded by mu; the others belong to the loop thread. */
    uv_thread_t worker;
    uv_mutex_t mu;
    uv_cond_t cond;         /* the worker waits here for work or quit */
    uv_async_t *wake;       /* the worker wakes the loop with it */
    struct store_reqq todo; /* (mu) submitted, not yet run */
    struct store_reqq done; /* (mu) run, to be delivered on the loop */
    bool quit;              /* (mu) the worker exits once todo is empty */
    bool exited;            /* (mu) the back end is closed */
    size_t outstanding;     /* submitted and not yet delivered */
    bool closing;           /* store_close was called */
    store_close_fn *close_cb;
    void *close_arg;
};

/* The back ends. */
extern const struct store_ops store__sqlite_ops;
extern const struct store_ops store__mem_ops;

/* Open the SQLite database at path for store__sqlite_ops: see store_open.
 * *be is set only on success. */
int store__sqlite_open(const char *path, void **be, struct buf *err);
/* An empty memory back end for store__mem_ops. */
void *store__mem_new(void);

struct sqlite3;
/* Map an SQLite result code to ours: -EBUSY, -ENOSPC, -EACCES, -ENOMEM,
 * XE_IO or XE_STORE. */
int store__sqlite_err(int rc);
/* Create or upgrade the schema of db to STORE_SCHEMA_VERSION in one
 * transaction; on failure err gets "path: message". */
int
store__schema_migrate(struct sqlite3 *db, const char *path, struct buf *err);

/* Wrap a back end in a new synchronous handle. */
struct store *store__new(const struct store_ops *ops, void *be);
/* Turn st asynchronous: start its worker and register its wake-up handle
 * on loop. On failure st is left synchronous and the error returned. */
int store__async_start(struct store *st, uv_loop_t *loop);

/* XE_INVAL unless host and node are non-empty and at most
 * STORE_PART_MAX bytes. */
int store__check_key(const char *host, const char *node);
/* XE_INVAL unless host is (as above) and after is NULL or short enough. */
int store__check_host(const char *host, const char *after);
/* XE_INVAL unless a has a usable key and credentials. */
int store__check_account(const struct store_account *a);
/* XE_INVAL unless 1 <= limit <= STORE_LIST_MAX. */
int store__check_limit(size_t limit);
/* The current Unix time in seconds. */
int64_t store__now(void);
/* Append an entry for (host, node) to l, copying both strings; the caller
 * fills in the rest. */
struct store_account *
store__list_add(struct store_list *l, const char *host, const char *node);

#endif
