/* SPDX-License-Identifier: MIT */
/* conn.c -- one accepted TCP connection: pump bytes between libuv and a stream. */
#include "io/io_int.h"

#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"

static void conn_flush(struct conn *c);
static void conn_close(struct conn *c, const char *reason);

static uint64_t
now_ms(const struct conn *c)
{
    return uv_now(c->srv->loop);
}

static void
conn_log_close(struct conn *c, const char *reason)
{
    log_msg(&c->srv->log, LOG_INFO, c->id,
            "event=close reason=%s bytes_in=%llu bytes_out=%llu "
            "duration_ms=%llu",
            reason, (unsigned long long)c->bytes_in,
            (unsigned long long)c->bytes_out,
            (unsigned long long)(now_ms(c) - c->started));
}

static void
on_handle_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    if (--c->open_handles > 0)
        return;
    struct server *srv = c->srv;
    stream_fini(&c->st);
    x_free(c->wbuf);
    x_free(c);
    server__conn_gone(srv);
}

/* Close both handles; the conn is freed in the last close callback. */
static void
conn_close(struct conn *c, const char *reason)
{
    if (c->closing)
        return;
    c->closing = true;
    conn_log_close(c, reason);
    server__conn_unlink(c->srv, c);
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void
on_close_wait_timeout(uv_timer_t *t)
{
    struct conn *c = t->data;
    conn_close(c, c->st.close_reason ? c->st.close_reason : "close-wait");
}

static void
on_shutdown(uv_shutdown_t *req, int status)
{
    struct conn *c = req->data;
    if (status < 0 && !c->closing)
        conn_close(c, c->st.close_reason ? c->st.close_reason : "shutdown");
}

/* The stream has ended and its last bytes are written: send FIN, then keep
 * reading (and discarding) until the peer closes or close_wait passes.
 * Closing at once with unread input would make the kernel send RST, and
 * the peer could lose our error and closing tag. */
static void
conn_finish(struct conn *c)
{
    if (c->finishing || c->closing)
        return;
    c->finishing = true;
    c->sreq.data = c;
    if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        conn_close(c, c->st.close_reason ? c->st.close_reason : "shutdown");
        return;
    }
    uv_timer_stop(&c->timer);
    uv_timer_start(&c->timer, on_close_wait_timeout,
                   c->srv->cfg->timeouts.close_wait, 0);
}

static void
on_write(uv_write_t *req, int status)
{
    struct conn *c = req->data;
    c->writing = false;
    x_free(c->wbuf);
    c->wbuf = NULL;
    if (c->closing)
        return;
    if (status < 0) {
        log_msg_errno(&c->srv->log, LOG_DEBUG, c->id, status,
                      "event=write-failed");
        conn_close(c, "write-error");
        return;
    }
    conn_flush(c);
}

/* Write what the stream queued, one request at a time; once the stream is
 * finished and everything is out, finish the connection. */
static void
conn_flush(struct conn *c)
{
    if (c->writing || c->closing)
        return;
    struct buf *out = &c->st.out;
    if (buf_len(out) > 0) {
        size_t n;
        c->wbuf = buf_take(out, &n);
        c->bytes_out += n;
        uv_buf_t b = uv_buf_init(c->wbuf, (unsigned)n);
        c->wreq.data = c;
        int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write);
        if (rc < 0) {
            conn_close(c, "write-error");
            return;
        }
        c->writing = true;
        return;
    }
    if (stream_finished(&c->st))
        conn_finish(c);
}

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)suggested;
    struct conn *c = h->data;
    *b = uv_buf_init(c->srv->readbuf, (unsigned)c->srv->readbuf_size);
}

static void
on_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *b)
{
    struct conn *c = h->data;
    if (c->closing)
        return;
    if (nread == UV_EOF) {
        stream_eof(&c->st);
        conn_close(c, c->st.close_reason ? c->st.close_reason : "peer-eof");
        return;
    }
    if (nread < 0) {
        log_msg_errno(&c->srv->log, LOG_DEBUG, c->id, (int)nread,
                      "event=read-failed");
        conn_close(c, "read-error");
        return;
    }
    c->bytes_in += (uint64_t)nread;
    if (c->finishing)
        return; /* draining after our closing tag */
    stream_feed(&c->st, b->base, (size_t)nread);
    conn_flush(c);
}

static void
on_negotiation_timeout(uv_timer_t *t)
{
    struct conn *c = t->data;
    stream_timeout(&c->st);
    conn_flush(c);
}

static void
conn_peer_name(struct conn *c)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    c->peer[0] = '\0';
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0)
        return;
    char ip[64];
    int port = 0;
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        uv_ip6_name(a, ip, sizeof(ip));
        port = ntohs(a->sin6_port);
        snprintf(c->peer, sizeof(c->peer), "[%s]:%d", ip, port);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        uv_ip4_name(a, ip, sizeof(ip));
        port = ntohs(a->sin_port);
        snprintf(c->peer, sizeof(c->peer), "%s:%d", ip, port);
    }
}

int
conn__accept(struct server *srv, uv_stream_t *listener,
             enum cfg_listen_kind kind)
{
    struct conn *c = x_calloc(1, sizeof(*c));
    c->srv = srv;
    c->id = ++srv->next_conn_id;
    c->started = uv_now(srv->loop);
    uv_tcp_init(srv->loop, &c->tcp);
    uv_timer_init(srv->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->open_handles = 2;
    stream_init(&c->st, &srv->sctx, c->id, kind);
    server__conn_link(srv, c);
    int rc = uv_accept(listener, (uv_stream_t *)&c->tcp);
    if (rc < 0) {
        log_msg_errno(&srv->log, LOG_WARN, 0, rc, "event=accept-failed");
        conn_close(c, "accept-error");
        return rc;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    conn_peer_name(c);
    log_msg(&srv->log, LOG_INFO, c->id, "event=accept kind=%s peer=%s",
            config_listen_kind_name(kind), c->peer);
    if (srv->nconns > srv->cfg->max_connections) {
        log_msg(&srv->log, LOG_WARN, c->id,
                "event=limit what=max-connections max=%zu",
                srv->cfg->max_connections);
        conn_close(c, "max-connections");
        return XE_LIMIT;
    }
    uv_timer_start(&c->timer, on_negotiation_timeout,
                   srv->cfg->timeouts.negotiation, 0);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    return 0;
}

void
conn__shutdown(struct conn *c)
{
    if (c->closing)
        return;
    stream_shutdown(&c->st);
    conn_flush(c);
}

void
conn__force_close(struct conn *c)
{
    conn_close(c, "shutdown-timeout");
}
