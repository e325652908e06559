/* SPDX-License-Identifier: MIT */
/* worker.c -- network threads: one libuv loop each, one lock for the rest.
 *
 * Every connection belongs to one worker, whose thread alone touches its
 * socket, timers and TLS session. Streams, the router and every table are
 * shared and only touched with the server's lock held: each callback that
 * reaches them takes it. What is done outside the lock is the work that
 * belongs to one connection only: the system calls, and TLS decryption
 * (on_read) and encryption (the flush pass below), which with parsing are
 * most of a stanza's cost. With two workers, one thread decrypts and
 * parses what a sender sends while the other encrypts and writes what a
 * receiver gets (docs/architecture.md, "Threads").
 *
 * When a thread routes a stanza to a connection of another worker, it
 * puts the connection on that worker's dirty list and wakes it
 * (uv_async_send); the owner flushes it in its next loop iteration. Work
 * on another worker's connection handles (parking it after a resumption)
 * goes the same way, as a CONN_REQ_* request.
 */
#include "io/io_int.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/err.h"
#include "jid/jid.h"
#include "route/route.h"

#define READ_BUF_SIZE  ((size_t)64 << 10)
#define PLAIN_BUF_SIZE ((size_t)80 << 10)

/* Every second, connections that read nothing since the last sweep give
 * their XML parser back (about 10 KiB each); it comes back with the next
 * bytes. */
#define IDLE_SWEEP_MS 1000
/* A connection without reads or writes for this long is idle at the next
 * sweep even if it read something since the previous one: a session that
 * has just logged in then gives back its parser and buffers within about
 * 0.25-1.25 s instead of 1-2 s, and a burst of logins leaves fewer holes
 * between the allocations that stay. */
#define IDLE_QUIET_MS 250

/* An accepted socket on its way to the worker that adopts it. */
struct handoff {
    int fd;
    enum cfg_listen_kind kind;
};

/* One conn of a flush pass and the plaintext taken from its stream. */
struct batch_item {
    struct conn *c;
    char *data;  /* plaintext taken from the stream, to encrypt */
    size_t len;
    int rc;      /* of the encryption */
    ssize_t wrote; /* ciphertext handed to libuv, or an error */
};

static _Thread_local struct worker *self;

struct worker *
server__self(void)
{
    return self;
}

uint64_t
server__now(struct server *srv)
{
    return uv_now(self ? self->loop : srv->loop);
}

void
server__lock(struct server *srv)
{
    uv_mutex_lock(&srv->lock);
}

void
server__unlock(struct server *srv)
{
    uv_mutex_unlock(&srv->lock);
}

void
server_lock(struct server *srv)
{
    server__lock(srv);
}

void
server_unlock(struct server *srv)
{
    server__unlock(srv);
}

/* --- connections for other workers ---------------------------------------- */

static void
enqueue(struct conn *c)
{
    struct worker *w = c->w;
    if (c->dirty)
        return;
    c->dirty = true;
    c->dirty_next = w->dirty;
    w->dirty = c;
    if (w != self)
        (void)uv_async_send(&w->wake);
}

void
server__flush_later(struct server *srv, struct conn *c)
{
    (void)srv;
    if (c->closing)
        return;
    enqueue(c);
}

void
conn__request(struct conn *c, uint8_t req)
{
    c->req |= req;
    enqueue(c);
}

struct worker *
server__pick_worker(struct server *srv)
{
    for (unsigned i = 0; i < srv->nworkers; i++) {
        struct worker *w = &srv->workers[srv->next_worker++ % srv->nworkers];
        if (!w->stopping)
            return w;
    }
    return &srv->workers[0];
}

void
server__handoff(struct worker *w, int fd, enum cfg_listen_kind kind)
{
    if (w->nhandoffs == w->handoffs_cap) {
        w->handoffs_cap = w->handoffs_cap ? 2 * w->handoffs_cap : 16;
        w->handoffs =
            x_realloc(w->handoffs, w->handoffs_cap * sizeof(*w->handoffs));
    }
    w->handoffs[w->nhandoffs++] = (struct handoff){fd, kind};
    w->srv->nhandoffs++;
    (void)uv_async_send(&w->wake);
}

static void worker_stop(struct worker *w);

static void
on_wake(uv_async_t *h)
{
    struct worker *w = h->data;
    struct server *srv = w->srv;
    server__lock(srv);
    if (w->stop_requested && !w->stopping)
        worker_stop(w);
    for (size_t i = 0; i < w->nhandoffs; i++) {
        struct handoff *ho = &w->handoffs[i];
        srv->nhandoffs--;
        if (w->stopping || srv->stopping)
            close(ho->fd);
        else
            conn__accept(w, ho->fd, ho->kind);
    }
    w->nhandoffs = 0;
    /* Dirty conns are flushed by the check handle, after this phase. */
    server__unlock(srv);
}

/* --- the flush pass ------------------------------------------------------- */

static void
batch_push(struct worker *w, size_t n, struct conn *c)
{
    if (n == w->batch_cap) {
        w->batch_cap = w->batch_cap ? 2 * w->batch_cap : 64;
        w->batch = x_realloc(w->batch, w->batch_cap * sizeof(*w->batch));
    }
    w->batch[n] = (struct batch_item){.c = c};
}

static void
do_requests(struct conn *c)
{
    uint8_t r = c->req;
    c->req = 0;
    if (r & CONN_REQ_PARK)
        conn__park_io(c);
    if (r & CONN_REQ_PARKED_END)
        conn__parked_end_io(c);
    if (r & CONN_REQ_EXPIRE)
        conn__park_expire_io(c);
}

/* One pass of the check below, with the lock held (dropped while
 * encrypting): every conn of this worker that received deliveries during
 * this round writes them in one go.
 * Three steps: with the lock, the conns and their streams' plaintext are
 * taken; without it, the plaintext is encrypted (each TLS session is this
 * thread's alone); with it again, each conn is flushed as before. Conns
 * closed meanwhile are still in memory (they are freed in the loop's
 * closing phase, which comes later) and flush does nothing for them. */
static void
flush_pass(struct worker *w)
{
    struct server *srv = w->srv;
    size_t n = 0;
    while (w->dirty) {
        struct conn *c = w->dirty;
        w->dirty = c->dirty_next;
        c->dirty = false;
        c->dirty_next = NULL;
        batch_push(w, n++, c);
    }
    struct batch_item *items = w->batch;
    bool encrypt = false;
    for (size_t i = 0; i < n; i++) {
        struct conn *c = items[i].c;
        if (c->req)
            do_requests(c);
        if (srv->nworkers > 1 && !c->closing && c->tls != NULL &&
            buf_len(&c->st.out) > 0) {
            items[i].data = buf_take(&c->st.out, &items[i].len);
            encrypt = true;
        }
    }
    if (encrypt) {
        /* Other threads may route to these conns meanwhile: that goes to
         * their streams' (new) output and puts them back on the dirty
         * list, for the next pass. */
        server__unlock(srv);
        for (size_t i = 0; i < n; i++) {
            struct batch_item *it = &items[i];
            if (it->data == NULL)
                continue;
            it->rc = tls_conn_write(it->c->tls, it->data, it->len);
            x_free(it->data);
            it->data = NULL;
            if (it->rc == 0)
                it->wrote = conn__write_nolock(it->c, tls_conn_out(it->c->tls));
        }
        server__lock(srv);
    }
    for (size_t i = 0; i < n; i++) {
        struct batch_item *it = &items[i];
        struct conn *c = it->c;
        if (it->rc != 0) {
            conn__close(c, "tls-output-overflow");
            continue;
        }
        if (it->wrote != 0 && conn__write_done(c, it->wrote) != 0)
            continue;
        if (!c->dirty)
            conn__flush(c); /* the rest, and the stream's end */
    }
}

void
server__flush_now(struct worker *w)
{
    if (w->dirty != NULL)
        flush_pass(w);
}

/* Flushing one conn (closing it, say) may give others something to send,
 * and nothing else would wake this loop for them: pass again, a few times
 * (other threads may keep adding while this one encrypts), then leave the
 * rest to the next iteration, which the wake handle makes come at once. */
#define FLUSH_PASSES 4

static void
on_flush_check(uv_check_t *h)
{
    struct worker *w = h->data;
    struct server *srv = w->srv;
    server__lock(srv);
    for (int i = 0; i < FLUSH_PASSES && w->dirty != NULL; i++)
        flush_pass(w);
    if (w->dirty != NULL)
        (void)uv_async_send(&w->wake);
    conn__turns_resume(w);
    server__unlock(srv);
}

/* --- the idle sweep ------------------------------------------------------- */

/* s2s streams with no traffic for timeouts.idle close gracefully; the
 * next stanza for their pairs opens a new one. */
static void
close_idle_s2s(struct worker *w)
{
    struct server *srv = w->srv;
    uint64_t now = uv_now(w->loop);
    struct conn *c = srv->conns;
    while (c != NULL) {
        struct conn *next = c->next;
        if (c->w == w && c->st.s2s && !c->closing && !c->finishing &&
            c->st.state == STREAM_ST_SESSION &&
            now - c->last_io >= srv->cfg->timeouts.idle) {
            stream_idle_close(&c->st);
            server__flush_later(srv, c);
        }
        c = next;
    }
}

static void
on_idle_sweep(uv_timer_t *t)
{
    struct worker *w = t->data;
    struct server *srv = w->srv;
    server__lock(srv);
    if (w->idx == 0)
        router_s2s_tick(srv->router);
    close_idle_s2s(w);
    size_t released = 0;
    uint64_t now = uv_now(w->loop);
    for (struct conn *c = srv->conns; c; c = c->next) {
        if (c->w != w)
            continue;
        if (!c->closing && stream_check_expiry(&c->st))
            server__flush_later(srv, c);
        if (!c->closing && c->st.sm != NULL)
            stream_sm_tick(&c->st);
        bool quiet = !c->active || now - c->last_io >= IDLE_QUIET_MS;
        if (quiet && !c->closing) {
            /* TLS buffers go even if the parser must stay (mid-stanza). */
            if (stream_hibernate(&c->st))
                released++;
            tls_conn_hibernate(c->tls);
        }
        c->active = false;
    }
    if (released > 0)
        log_msg(&srv->log, LOG_DEBUG, 0,
                "event=idle-sweep worker=%u conns=%zu released=%zu", w->idx,
                w->nconns, released);
    server__unlock(srv);
#ifdef __GLIBC__
    /* Freed parsers sit between live allocations: give the pages back. */
    if (released > 0)
        malloc_trim(0);
#endif
}

/* --- spinning ----------------------------------------------------------- */

/* For poll_spin microseconds after I/O the loop polls without sleeping
 * (an active idle handle makes libuv poll with a zero timeout): the next
 * message of a conversation is picked up without the wake-up of a
 * sleeping thread, which on an otherwise quiet machine costs tens of
 * microseconds per hop. */
static void
on_spin(uv_idle_t *h)
{
    struct worker *w = h->data;
    if (uv_hrtime() >= w->spin_until)
        uv_idle_stop(h);
}

void
server__spin(struct worker *w)
{
    uint32_t us = w->srv->cfg->poll_spin_us;
    if (us == 0)
        return;
    w->spin_until = uv_hrtime() + (uint64_t)us * 1000;
    if (!uv_is_active((uv_handle_t *)&w->spin))
        uv_idle_start(&w->spin, on_spin);
}

/* --- start and stop ------------------------------------------------------- */

static void
worker_handles_init(struct worker *w)
{
    uv_async_init(w->loop, &w->wake, on_wake);
    w->wake.data = w;
    uv_check_init(w->loop, &w->flush_check);
    w->flush_check.data = w;
    uv_check_start(&w->flush_check, on_flush_check);
    uv_unref((uv_handle_t *)&w->flush_check);
    uv_timer_init(w->loop, &w->idle_sweep);
    w->idle_sweep.data = w;
    uv_timer_start(&w->idle_sweep, on_idle_sweep, IDLE_SWEEP_MS,
                   IDLE_SWEEP_MS);
    uv_unref((uv_handle_t *)&w->idle_sweep);
    uv_timer_init(w->loop, &w->stop_timer);
    w->stop_timer.data = w;
    uv_unref((uv_handle_t *)&w->stop_timer);
    uv_idle_init(w->loop, &w->spin);
    w->spin.data = w;
    uv_unref((uv_handle_t *)&w->spin);
    /* The main loop lives on its listeners and signals; another worker's
     * loop on its wake handle, until it stops. */
    if (w->idx == 0)
        uv_unref((uv_handle_t *)&w->wake);
}

void
server__workers_init(struct server *srv)
{
    unsigned n = srv->cfg->threads ? srv->cfg->threads : 1;
    uv_mutex_init(&srv->lock);
    srv->nworkers = n;
    srv->workers = x_calloc(n, sizeof(*srv->workers));
    for (unsigned i = 0; i < n; i++) {
        struct worker *w = &srv->workers[i];
        w->srv = srv;
        w->idx = i;
        if (i == 0) {
            w->loop = srv->loop;
        } else {
            uv_loop_init(&w->own_loop);
            w->loop = &w->own_loop;
        }
        w->readbuf_size = READ_BUF_SIZE;
        w->readbuf = x_malloc(READ_BUF_SIZE);
        w->plain_cap = PLAIN_BUF_SIZE;
        w->plain = x_malloc(PLAIN_BUF_SIZE);
        worker_handles_init(w);
    }
    self = &srv->workers[0];
}

int
server__workers_open(struct server *srv, struct buf *err)
{
    for (unsigned i = 0; i < srv->nworkers; i++) {
        int rc = server__services_open_worker(&srv->workers[i], err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static void
worker_main(void *arg)
{
    struct worker *w = arg;
    self = w;
    uv_run(w->loop, UV_RUN_DEFAULT);
    jid_cache_free();
}

int
server__workers_start(struct server *srv)
{
    for (unsigned i = 1; i < srv->nworkers; i++) {
        struct worker *w = &srv->workers[i];
        int rc = uv_thread_create(&w->thread, worker_main, w);
        if (rc != 0) {
            log_msg_errno(&srv->log, LOG_ERROR, 0, rc,
                          "event=thread-failed worker=%u", i);
            return rc;
        }
        w->thread_started = true;
    }
    srv->threads_started = true;
    log_msg(&srv->log, LOG_INFO, 0, "event=workers threads=%u",
            srv->nworkers);
    return 0;
}

static void
worker_close_handles(struct worker *w)
{
    if (w->handles_closed)
        return;
    w->handles_closed = true;
    uv_close((uv_handle_t *)&w->wake, NULL);
    uv_close((uv_handle_t *)&w->flush_check, NULL);
    uv_close((uv_handle_t *)&w->idle_sweep, NULL);
    uv_close((uv_handle_t *)&w->stop_timer, NULL);
    uv_close((uv_handle_t *)&w->spin, NULL);
    if (w->idx == 0)
        uv_close((uv_handle_t *)&w->srv->accept_timer, NULL);
    server__services_close_worker(w);
}

void
server__conn_gone(struct worker *w)
{
    if (w->stopping && w->nconns == 0)
        worker_close_handles(w);
}

static void
on_stop_timeout(uv_timer_t *t)
{
    struct worker *w = t->data;
    struct server *srv = w->srv;
    server__lock(srv);
    struct conn *c = srv->conns;
    while (c) {
        struct conn *next = c->next;
        if (c->w == w)
            conn__force_close(c);
        c = next;
    }
    server__unlock(srv);
}

/* This worker's part of a stop, on its own thread: <system-shutdown/> on
 * each of its streams; its handles close once its conns are gone. */
static void
worker_stop(struct worker *w)
{
    struct server *srv = w->srv;
    w->stopping = true;
    /* conn__shutdown may close a conn and unlink it: walk with care. */
    struct conn *c = srv->conns;
    while (c) {
        struct conn *next = c->next;
        if (c->w == w)
            conn__shutdown(c);
        c = next;
    }
    for (size_t i = 0; i < w->nhandoffs; i++)
        close(w->handoffs[i].fd);
    srv->nhandoffs -= w->nhandoffs;
    w->nhandoffs = 0;
    if (w->nconns == 0) {
        worker_close_handles(w);
        return;
    }
    uv_ref((uv_handle_t *)&w->stop_timer);
    uv_timer_start(&w->stop_timer, on_stop_timeout,
                   srv->cfg->timeouts.close_wait, 0);
}

void
server__workers_stop(struct server *srv)
{
    for (unsigned i = 0; i < srv->nworkers; i++) {
        struct worker *w = &srv->workers[i];
        if (w == self || !srv->threads_started) {
            worker_stop(w);
        } else {
            w->stop_requested = true;
            (void)uv_async_send(&w->wake);
        }
    }
}

void
server__workers_fini(struct server *srv)
{
    for (unsigned i = 0; i < srv->nworkers; i++) {
        struct worker *w = &srv->workers[i];
        if (i > 0) {
            if (w->thread_started)
                uv_thread_join(&w->thread);
            else
                uv_run(w->loop, UV_RUN_DEFAULT);
            uv_loop_close(w->loop);
        }
        x_free(w->readbuf);
        x_free(w->plain);
        stream_parsed_fini(&w->parsed);
        x_free(w->batch);
        x_free(w->handoffs);
    }
    x_free(srv->workers);
    srv->workers = NULL;
    jid_cache_free(); /* the main thread's */
    srv->nworkers = 0;
    uv_mutex_destroy(&srv->lock);
}
