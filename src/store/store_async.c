/* SPDX-License-Identifier: MIT */
/* store_async.c -- asynchronous API: worker thread, completions on the loop. */
#include "store/store.h"

#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "store/store_int.h"

/*
 * Threading model. A request is allocated on the loop thread and pushed on
 * st->todo. The worker (the only thread that touches the back end after
 * open) pops it, runs it, pushes it on st->done and wakes the loop through
 * st->wake. On the loop, on_wake takes the whole done list and runs the
 * callbacks in order. Both lists are guarded by st->mu; everything else in
 * a request is written by one side at a time: the loop before submitting,
 * the worker while running it, the loop again after delivery. cancelled is
 * read and written on the loop thread only.
 */

enum req_op { REQ_GET, REQ_PUT, REQ_DEL, REQ_LIST, REQ_COUNT };

struct store_req {
    struct store_req *next;
    enum req_op op;
    bool cancelled;
    int status;
    union {
        store_get_fn *get;
        store_done_fn *done;
        store_list_fn *list;
        store_count_fn *count;
    } cb;
    void *arg;
    /* Inputs, owned copies. */
    char *host, *node, *after;
    enum store_put_mode mode;
    size_t limit;
    int64_t now;
    /* Input of a put, output of a get; host and node point at the copies
     * above. */
    struct store_account acct;
    struct store_list list;
    size_t count;
};

static void
reqq_push(struct store_reqq *q, struct store_req *r)
{
    r->next = NULL;
    if (q->tail)
        q->tail->next = r;
    else
        q->head = r;
    q->tail = r;
}

static struct store_req *
reqq_pop(struct store_reqq *q)
{
    struct store_req *r = q->head;
    if (r) {
        q->head = r->next;
        if (q->head == NULL)
            q->tail = NULL;
        r->next = NULL;
    }
    return r;
}

static void
req_free(struct store_req *r)
{
    /* Stored keys are password equivalents for offline guessing. */
    explicit_bzero(&r->acct.creds, sizeof(r->acct.creds));
    for (size_t i = 0; i < r->list.n; i++)
        explicit_bzero(&r->list.v[i].creds, sizeof(r->list.v[i].creds));
    store_list_fini(&r->list);
    x_free(r->host);
    x_free(r->node);
    x_free(r->after);
    x_free(r);
}

/* Runs on the worker thread. */
static void
req_run(struct store *st, struct store_req *r)
{
    switch (r->op) {
    case REQ_GET:
        r->status = st->ops->get(st->be, r->host, r->node, &r->acct);
        break;
    case REQ_PUT:
        r->status = st->ops->put(st->be, &r->acct, r->mode, r->now);
        break;
    case REQ_DEL:
        r->status = st->ops->del(st->be, r->host, r->node);
        break;
    case REQ_LIST:
        r->status = st->ops->list(st->be, r->host, r->after ? r->after : "",
                                  r->limit, &r->list);
        break;
    case REQ_COUNT:
        r->status = st->ops->count(st->be, r->host, &r->count);
        break;
    }
}

/* Runs on the loop thread. Results are only passed on success, so a
 * callback never sees half-filled output. */
static void
req_deliver(struct store_req *r)
{
    bool ok = r->status == 0;
    switch (r->op) {
    case REQ_GET:
        r->cb.get(r->arg, r->status, ok ? &r->acct : NULL);
        break;
    case REQ_PUT:
    case REQ_DEL:
        if (r->cb.done)
            r->cb.done(r->arg, r->status);
        break;
    case REQ_LIST:
        r->cb.list(r->arg, r->status, ok ? r->list.v : NULL,
                   ok ? r->list.n : 0);
        break;
    case REQ_COUNT:
        r->cb.count(r->arg, r->status, ok ? r->count : 0);
        break;
    }
}

/* The worker: run requests in order until told to quit with nothing left,
 * then close the back end on this thread, which owns it. */
static void
worker_main(void *p)
{
    struct store *st = p;
    uv_mutex_lock(&st->mu);
    for (;;) {
        struct store_req *r = reqq_pop(&st->todo);
        if (r == NULL) {
            if (st->quit)
                break;
            uv_cond_wait(&st->cond, &st->mu);
            continue;
        }
        uv_mutex_unlock(&st->mu);
        req_run(st, r);
        uv_mutex_lock(&st->mu);
        reqq_push(&st->done, r);
        (void)uv_async_send(st->wake);
    }
    uv_mutex_unlock(&st->mu);
    st->ops->close(st->be);
    st->be = NULL;
    uv_mutex_lock(&st->mu);
    st->exited = true;
    (void)uv_async_send(st->wake);
    uv_mutex_unlock(&st->mu);
}

static void
on_wake_closed(uv_handle_t *h)
{
    struct store *st = h->data;
    store_close_fn *cb = st->close_cb;
    void *arg = st->close_arg;
    x_free(h);
    uv_cond_destroy(&st->cond);
    uv_mutex_destroy(&st->mu);
    x_free(st);
    if (cb)
        cb(arg);
}

/* Deliver what the worker finished. Once the worker has exited (which it
 * does only after store_close, with nothing left to run), every request has
 * been delivered: join it (it is past its last use of st) and close. */
static void
on_wake(uv_async_t *h)
{
    struct store *st = h->data;
    uv_mutex_lock(&st->mu);
    struct store_reqq batch = st->done;
    st->done.head = st->done.tail = NULL;
    bool exited = st->exited;
    uv_mutex_unlock(&st->mu);
    struct store_req *r;
    while ((r = reqq_pop(&batch)) != NULL) {
        st->outstanding--;
        if (!r->cancelled)
            req_deliver(r);
        req_free(r);
    }
    if (exited && !uv_is_closing((uv_handle_t *)st->wake)) {
        (void)uv_thread_join(&st->worker);
        uv_close((uv_handle_t *)st->wake, on_wake_closed);
    } else if (st->outstanding == 0 && !st->closing) {
        /* An idle store does not keep the loop alive. */
        uv_unref((uv_handle_t *)st->wake);
    }
}

static void
on_start_failed(uv_handle_t *h)
{
    x_free(h);
}

int
store__async_start(struct store *st, uv_loop_t *loop)
{
    int rc = uv_mutex_init(&st->mu);
    if (rc != 0)
        return rc;
    rc = uv_cond_init(&st->cond);
    if (rc != 0)
        goto fail_mutex;
    /* The handle is a separate allocation so that a failed start can
     * close it in the background and still free st at once. */
    st->wake = x_calloc(1, sizeof(*st->wake));
    rc = uv_async_init(loop, st->wake, on_wake);
    if (rc != 0) {
        x_free(st->wake);
        goto fail_cond;
    }
    st->wake->data = st;
    uv_unref((uv_handle_t *)st->wake);
    rc = uv_thread_create(&st->worker, worker_main, st);
    if (rc != 0)
        goto fail_async;
    st->loop = loop;
    return 0;

fail_async:
    uv_close((uv_handle_t *)st->wake, on_start_failed);
fail_cond:
    st->wake = NULL;
    uv_cond_destroy(&st->cond);
fail_mutex:
    uv_mutex_destroy(&st->mu);
    return rc;
}

int
store_close(struct store *st, store_close_fn *done, void *arg)
{
    if (st->loop == NULL || st->closing)
        return XE_STATE;
    st->closing = true;
    st->close_cb = done;
    st->close_arg = arg;
    /* Closing keeps the loop alive until done has run. */
    uv_ref((uv_handle_t *)st->wake);
    uv_mutex_lock(&st->mu);
    st->quit = true;
    uv_cond_signal(&st->cond);
    uv_mutex_unlock(&st->mu);
    return 0;
}

void
store_req_cancel(struct store_req *req)
{
    if (req)
        req->cancelled = true;
}

/* Whether st takes one more request now. */
static int
can_submit(const struct store *st)
{
    if (st->loop == NULL)
        return XE_STATE;
    if (st->closing)
        return XE_CLOSED;
    if (st->outstanding >= STORE_QUEUE_MAX)
        return XE_LIMIT;
    return 0;
}

static struct store_req *
req_new(enum req_op op, const char *host, const char *node, void *arg)
{
    struct store_req *r = x_calloc(1, sizeof(*r));
    r->op = op;
    r->arg = arg;
    r->host = host ? x_strdup(host) : NULL;
    r->node = node ? x_strdup(node) : NULL;
    r->acct.host = r->host;
    r->acct.node = r->node;
    return r;
}

static void
submit(struct store *st, struct store_req *r, struct store_req **reqp)
{
    if (st->outstanding++ == 0)
        uv_ref((uv_handle_t *)st->wake);
    uv_mutex_lock(&st->mu);
    reqq_push(&st->todo, r);
    uv_cond_signal(&st->cond);
    uv_mutex_unlock(&st->mu);
    if (reqp)
        *reqp = r;
}

int
store_account_get(struct store *st,
                  const char *host,
                  const char *node,
                  store_get_fn *cb,
                  void *arg,
                  struct store_req **reqp)
{
    if (st->loop == NULL)
        return XE_STATE;
    if (cb == NULL || store__check_key(host, node) != 0)
        return XE_INVAL;
    int rc = can_submit(st);
    if (rc != 0)
        return rc;
    struct store_req *r = req_new(REQ_GET, host, node, arg);
    r->cb.get = cb;
    submit(st, r, reqp);
    return 0;
}

int
store_account_put(struct store *st,
                  const struct store_account *acct,
                  enum store_put_mode mode,
                  store_done_fn *cb,
                  void *arg,
                  struct store_req **reqp)
{
    if (st->loop == NULL)
        return XE_STATE;
    if (store__check_account(acct) != 0)
        return XE_INVAL;
    int rc = can_submit(st);
    if (rc != 0)
        return rc;
    struct store_req *r = req_new(REQ_PUT, acct->host, acct->node, arg);
    r->cb.done = cb;
    r->mode = mode;
    /* The time of the request, not of the write: the queue may be long. */
    r->now = store__now();
    r->acct.creds = acct->creds;
    r->acct.disabled = acct->disabled;
    submit(st, r, reqp);
    return 0;
}

int
store_account_del(struct store *st,
                  const char *host,
                  const char *node,
                  store_done_fn *cb,
                  void *arg,
                  struct store_req **reqp)
{
    if (st->loop == NULL)
        return XE_STATE;
    if (store__check_key(host, node) != 0)
        return XE_INVAL;
    int rc = can_submit(st);
    if (rc != 0)
        return rc;
    struct store_req *r = req_new(REQ_DEL, host, node, arg);
    r->cb.done = cb;
    submit(st, r, reqp);
    return 0;
}

int
store_account_list(struct store *st,
                   const char *host,
                   const char *after,
                   size_t limit,
                   store_list_fn *cb,
                   void *arg,
                   struct store_req **reqp)
{
    if (st->loop == NULL)
        return XE_STATE;
    if (cb == NULL || store__check_host(host, after) != 0 ||
        store__check_limit(limit) != 0)
        return XE_INVAL;
    int rc = can_submit(st);
    if (rc != 0)
        return rc;
    struct store_req *r = req_new(REQ_LIST, host, NULL, arg);
    r->cb.list = cb;
    r->after = after ? x_strdup(after) : NULL;
    r->limit = limit;
    submit(st, r, reqp);
    return 0;
}

int
store_account_count(struct store *st,
                    const char *host,
                    store_count_fn *cb,
                    void *arg,
                    struct store_req **reqp)
{
    if (st->loop == NULL)
        return XE_STATE;
    if (cb == NULL || (host && store__check_host(host, NULL) != 0))
        return XE_INVAL;
    int rc = can_submit(st);
    if (rc != 0)
        return rc;
    struct store_req *r = req_new(REQ_COUNT, host, NULL, arg);
    r->cb.count = cb;
    submit(st, r, reqp);
    return 0;
}
