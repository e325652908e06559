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

/* One server: one loop, its listeners and connections. */
struct server {
    uv_loop_t *loop;
    const struct config *cfg; /* borrowed */
    struct logger log;
    struct stream_ctx sctx;
    struct listener *listeners;
    size_t nlisteners;
    struct conn *conns; /* doubly linked list of live connections */
    size_t nconns;
    size_t nparked; /* of them, c2s sessions waiting for resumption */
    uint64_t next_conn_id;
    uv_timer_t stop_timer; /* bounds how long a shutdown waits */
    uv_check_t flush_check; /* flushes conns that got deliveries */
    uv_timer_t idle_sweep;  /* releases parsers of quiet connections */
    struct conn *dirty;     /* conns to flush after this loop iteration */
    bool stopping;
    char *readbuf; /* shared by all reads: data is consumed synchronously */
    size_t readbuf_size;
    char *plainbuf; /* the same for decrypted bytes */
    size_t plainbuf_size;
    struct tls_ctx *tls;
    struct sasl_server *sasl;
    struct router *router;
    struct store *store;
    unsigned char db_secret[32];  /* dialback keys (XEP-0185), per start */
    struct throttle fail_ip;      /* failed logins per source address */
    struct throttle fail_account; /* failed logins per account */
    struct resolver *resolver;    /* s2s targets (c-ares) */
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
/* Listen on every address server_bind bound; errors as there. */
int server_listen(struct server *srv);
/* Begin a clean shutdown: stop accepting, send <system-shutdown/> on every
 * stream, and close the handles once they are flushed (or after the
 * close-wait timeout). The loop then runs out of work. */
void server_stop(struct server *srv);
/* Free what server_init allocated; call after the loop has ended. */
void server_fini(struct server *srv);

#endif
