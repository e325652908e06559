/* SPDX-License-Identifier: MIT */
/* io.h -- libuv glue: listeners, connections, timers, clean shutdown. */
#ifndef XMUX_IO_H
#define XMUX_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/log.h"
#include "config/config.h"
#include "stream/stream.h"
#include "io/ipcount.h"
#include "io/throttle.h"
#include "tls/tls.h"

struct listener;
struct conn;
struct control;
struct batch_item;
struct handoff;

/* One network thread: its loop and the connections it owns. Worker 0
 * runs on the server's (main) loop; workers 1.. have their own thread
 * and loop (docs/architecture.md, "Threads"). A connection's handles and
 * TLS session are only ever touched by its worker's thread; everything
 * else (streams, the router, the tables) only under the server's lock. */
struct worker {
    struct server *srv;
    unsigned idx;
    uv_loop_t *loop;
    uv_loop_t own_loop; /* the loop of workers 1.. */
    uv_thread_t thread;
    bool thread_started;
    uv_async_t wake;        /* other threads have work for this one */
    uv_check_t flush_check; /* flushes conns that got deliveries */
    uv_timer_t idle_sweep;  /* releases parsers of quiet connections */
    uv_timer_t stop_timer;  /* bounds how long a shutdown waits */
    uv_idle_t spin;         /* poll without sleeping after I/O (poll_spin) */
    uint64_t spin_until;    /* uv_hrtime() at which the spin ends */
    bool handles_closed;
    /* Under the lock: */
    struct conn *dirty;         /* conns to flush after this iteration */
    struct handoff *handoffs;   /* accepted sockets to adopt */
    size_t nhandoffs, handoffs_cap;
    bool stop_requested;        /* server_stop asked this worker to stop */
    bool stopping;
    size_t nconns;              /* linked conns owned by this worker */
    /* This thread's alone: */
    char *readbuf; /* shared by all reads: data is consumed synchronously */
    size_t readbuf_size;
    char *plain; /* the decrypted bytes of one read */
    size_t plain_cap;
    struct stream_parsed parsed; /* what one read parsed */
    struct batch_item *batch; /* the conns of one flush pass */
    size_t batch_cap;
    uint64_t iter;           /* loop iterations (counted in the check) */
    struct conn *yielded;    /* conns that used up their read turn */
    struct store *store;       /* accounts; completions on this loop */
    struct resolver *resolver; /* s2s targets (c-ares) */
};

/* One server: its workers, listeners and connections. */
struct server {
    uv_loop_t *loop; /* the main loop: worker 0, signals, control */
    const struct config *cfg; /* borrowed */
    struct logger log;
    struct stream_ctx sctx;
    uv_mutex_t lock; /* everything shared between workers */
    struct worker *workers;
    unsigned nworkers;
    unsigned next_worker; /* round robin for accepted connections */
    bool threads_started;
    struct listener *listeners;
    size_t nlisteners;
    struct conn *conns; /* doubly linked list of live connections */
    size_t nconns;
    size_t nparked; /* of them, c2s sessions waiting for resumption */
    size_t nhandoffs; /* accepted, on their way to a worker */
    uint64_t next_conn_id;
    bool stopping;
    struct tls_ctx *tls;
    struct sasl_server *sasl;
    struct router *router;
    unsigned char db_secret[32];  /* dialback keys (XEP-0185), per start */
    struct throttle fail_ip;      /* failed logins per source address */
    struct throttle fail_account; /* failed logins per account */
    struct control *control;      /* the control socket (control.c) */
    /* Limits (limits.c, docs/limits.md). */
    uint64_t limit_hits[CFG_LIMIT_COUNT]; /* times each limit was hit */
    struct ipcount per_ip;   /* accepted connections per address */
    size_t conn_cap;         /* max_connections within the fd budget */
    uv_timer_t accept_timer; /* ends a pause of accepting (EMFILE) */
    bool accept_paused;
};

/*
 * Start-up runs in four steps, so that xmuxd started as root can give up
 * root between the second and the third (docs/security.md): server_init,
 * server_bind, then server_open_state and server_listen. Nothing is
 * accepted before the loop runs, and no port accepts a connection before
 * server_listen, when everything is ready.
 */

/* Set up the server on loop; cfg is borrowed. Reads the configured TLS
 * certificates and keys and the CA file; touches nothing in state_dir.
 * Returns 0, or an error with one line in err. */
int server_init(struct server *srv, uv_loop_t *loop, const struct config *cfg,
                struct buf *err);
/* Bind every configured TCP address (ports below 1024 need root).
 * Errors are logged with the listener's config line; returns the first
 * error. An address in use is only found by server_listen. */
int server_bind(struct server *srv);
/* What lives in state_dir: create (or load) the certificates of hosts
 * without a configured one under state_dir/certs, open the account store,
 * start the resolver, and bind the control socket (docs/control.md).
 * Returns 0, or an error with one line in err (the control socket's
 * errors are logged instead, with err left empty). */
int server_open_state(struct server *srv, struct buf *err);
/* Listen on every address server_bind bound; errors as there. Then the
 * threads of workers 1.. start. */
int server_listen(struct server *srv);
/* Take and release the server's lock (callbacks from outside the io
 * module that touch the server, such as a signal handler). */
void server_lock(struct server *srv);
void server_unlock(struct server *srv);
/* Begin a clean shutdown (with the lock held): stop accepting, send <system-shutdown/> on every
 * stream, and close the handles once they are flushed (or after the
 * close-wait timeout). The loop then runs out of work. */
void server_stop(struct server *srv);
/* Free what server_init allocated; call after the main loop has ended
 * (it waits for the other workers' threads). */
void server_fini(struct server *srv);

#endif
