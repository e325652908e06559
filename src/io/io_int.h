/* SPDX-License-Identifier: MIT */
/* io_int.h -- io module internals shared between its files. */
#ifndef XMUX_IO_INT_H
#define XMUX_IO_INT_H

#include "io/io.h"

struct conn {
    struct server *srv;
    struct conn *prev, *next;
    uint64_t id;
    uv_tcp_t tcp;
    uv_timer_t timer; /* negotiation, then close-wait */
    uv_write_t wreq;
    uv_shutdown_t sreq;
    char *wbuf; /* bytes of the write in flight */
    bool writing, finishing, closing;
    int open_handles;
    uint64_t bytes_in, bytes_out, started;
    char peer[80];
    struct stream st;
};

struct listener {
    struct server *srv;
    uv_tcp_t tcp;
    const struct cfg_listen *cfg;
    bool active;
};

int conn__accept(struct server *srv, uv_stream_t *listener,
                 enum cfg_listen_kind kind);
void conn__shutdown(struct conn *c);
void conn__force_close(struct conn *c);
void server__conn_link(struct server *srv, struct conn *c);
void server__conn_unlink(struct server *srv, struct conn *c);
void server__conn_gone(struct server *srv);

#endif
