/* SPDX-License-Identifier: MIT */
/* conn.c -- one accepted TCP connection: bytes between libuv, TLS and a stream. */
#include "io/io_int.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/err.h"
#include "route/route.h"


/* One write in flight: libuv keeps requests in order. */
struct wreq {
    uv_write_t req;
    struct conn *c;
    char *data;
};


void
conn__log_close(struct conn *c, const char *reason, bool parked)
{
    log_msg(&c->srv->log, LOG_INFO, c->id,
            "event=close reason=%s%s bytes_in=%llu bytes_out=%llu "
            "duration_ms=%llu",
            reason, parked ? " parked=yes" : "",
            (unsigned long long)c->bytes_in,
            (unsigned long long)c->bytes_out,
            (unsigned long long)(server__now(c->srv) - c->started));
}

static void
handle_closed_locked(struct conn *c)
{
    struct server *srv = c->srv;
    struct worker *w = c->w;
    if (c->dirty) {
        /* Normally drained before the closing phase; never leave a
         * dangling entry whatever the order. */
        struct conn **pp = &w->dirty;
        while (*pp && *pp != c)
            pp = &(*pp)->dirty_next;
        if (*pp)
            *pp = c->dirty_next;
    }
    conn__cancel_creds(c);
    x_free(c->delay_timer);
    x_free(c->rate_timer);
    stream_fini(&c->st);
    tls_conn_free(c->tls);
    x_free(c->targets);
    x_free(c);
    (void)srv;
    server__conn_gone(w);
}

void
conn__handle_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    if (--c->open_handles > 0)
        return;
    struct server *srv = c->srv;
    server__lock(srv);
    handle_closed_locked(c);
    server__unlock(srv);
}

/* Close both handles; the conn is freed in the last close callback. */
void
conn__close(struct conn *c, const char *reason)
{
    if (c->closing)
        return;
    c->closing = true;
    conn__log_close(c, reason, false);
    server__conn_unlink(c->srv, c);
    conn__release_ip(c);
    /* Out of the routing tables now, not when the memory goes: nothing
     * may be routed to a closed stream meanwhile. */
    stream_unbind(&c->st);
    if (c->resolve) {
        resolve_cancel(c->resolve);
        c->resolve = NULL;
    }
    conn__attempts_drop(c);
    uv_close((uv_handle_t *)&c->tcp, conn__handle_closed);
    uv_close((uv_handle_t *)&c->timer, conn__handle_closed);
    if (c->delay_timer)
        uv_close((uv_handle_t *)c->delay_timer, conn__handle_closed);
    if (c->rate_timer)
        uv_close((uv_handle_t *)c->rate_timer, conn__handle_closed);
}

static const char *
close_reason(const struct conn *c, const char *fallback)
{
    return c->st.close_reason ? c->st.close_reason : fallback;
}

static void
on_close_wait_timeout(uv_timer_t *t)
{
    struct conn *c = t->data;
    server__lock(c->srv);
    conn__close(c, close_reason(c, "close-wait"));
    server__unlock(c->srv);
}

static void
on_shutdown(uv_shutdown_t *req, int status)
{
    struct conn *c = req->data;
    server__lock(c->srv);
    if (status < 0 && !c->closing)
        conn__close(c, close_reason(c, "shutdown"));
    server__unlock(c->srv);
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
        conn__close(c, close_reason(c, "shutdown"));
        return;
    }
    uv_timer_stop(&c->timer);
    uv_timer_start(&c->timer, on_close_wait_timeout,
                   c->srv->cfg->timeouts.close_wait, 0);
}


static void
on_write_locked(struct conn *c, int status)
{
    c->inflight--;
    if (c->closing)
        return;
    if (status < 0) {
        log_msg_errno(&c->srv->log, LOG_DEBUG, c->id, status,
                      "event=write-failed");
        if (!conn__park(c, "write-error"))
            conn__close(c, "write-error");
        return;
    }
    if (c->read_paused && conn__may_read(c, CONN_WRITE_LOW))
        conn__read_start(c);
    conn__flush(c);
}

static void
on_write(uv_write_t *req, int status)
{
    struct wreq *w = req->data;
    struct conn *c = w->c;
    x_free(w->data);
    x_free(w);
    server__lock(c->srv);
    on_write_locked(c, status);
    server__unlock(c->srv);
}

/* The queue of bytes waiting for the kernel at which an s2s stream's
 * pairs start to queue (a quarter of the hard mark), and below which
 * they go on. */
#define S2S_BACKLOG_HIGH(c) ((c)->srv->cfg->conn_limits.output_queue / 4)
#define S2S_BACKLOG_LOW(c)  ((c)->srv->cfg->conn_limits.output_queue / 16)

/* Past the hard mark the peer has stopped reading what others send it:
 * the stream ends with <resource-constraint/>, queued behind the rest
 * (the peer reads it if it ever reads again), and the connection is
 * closed after close_wait whether or not the queue drained. */
static void
conn_overflow(struct conn *c, size_t queued)
{
    c->overflowed = true;
    server__limit(c->srv, c, CFG_LIMIT_OUTPUT_QUEUE, "bytes=%zu max=%zu",
                  queued, c->srv->cfg->conn_limits.output_queue);
    c->read_paused = true;
    uv_read_stop((uv_stream_t *)&c->tcp);
    stream_kill(&c->st, SC_RESOURCE_CONSTRAINT,
                "the output queue for this stream is full");
    c->st.close_reason = "output-overflow";
    server__flush_later(c->srv, c);
    uv_timer_stop(&c->timer);
    uv_timer_start(&c->timer, on_close_wait_timeout,
                   c->srv->cfg->timeouts.close_wait, 0);
}

/* Hand the bytes in b to libuv (taking them out of b): what needs no
 * lock, since c's handle is this thread's. Returns the number of bytes
 * handed over (0 when b was empty), or a negative error. */
ssize_t
conn__write_nolock(struct conn *c, struct buf *b)
{
    size_t len = buf_len(b);
    if (len == 0)
        return 0;
    /* Straight to the kernel when nothing waits before it (uv_try_write
     * refuses otherwise, so order is kept): no request, no callback, no
     * change to the poll set, and b keeps its memory for the next
     * write. */
    uv_buf_t direct = uv_buf_init((char *)buf_ptr(b), (unsigned)len);
    int k = uv_try_write((uv_stream_t *)&c->tcp, &direct, 1);
    if (k == (int)len) {
        buf_reset(b);
        return (ssize_t)len;
    }
    if (k > 0)
        buf_consume(b, (size_t)k);
    else
        k = 0;
    struct wreq *w = x_malloc(sizeof(*w));
    size_t n;
    w->c = c;
    w->data = buf_take(b, &n);
    w->req.data = w;
    uv_buf_t ub = uv_buf_init(w->data, (unsigned)n);
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &ub, 1, on_write);
    if (rc < 0) {
        x_free(w->data);
        x_free(w);
        return rc;
    }
    c->inflight++;
    return (ssize_t)n + k;
}

/* The rest of a write, with the lock: the counts, and what the queue's
 * length means for the stream. */
int
conn__write_done(struct conn *c, ssize_t n)
{
    if (n < 0) {
        conn__close(c, "write-error");
        return (int)n;
    }
    c->bytes_out += (uint64_t)n;
    if (c->closing)
        return 0; /* parked by another worker meanwhile: nothing to end */
    c->last_io = uv_now(c->w->loop);
    size_t queued = uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
    if (queued > c->srv->cfg->conn_limits.output_queue && !c->overflowed) {
        conn_overflow(c, queued);
        return XE_LIMIT;
    }
    /* An s2s peer that reads slower than we route to it: well before the
     * hard mark, what is routed to it waits in its pairs' queues
     * (bounded; past that, bounces) until this drains (conn__flush). */
    if (c->st.s2s && queued > S2S_BACKLOG_HIGH(c))
        c->st.s2s_backlog = true;
    if (!c->read_paused && queued > CONN_WRITE_HIGH) {
        /* The peer does not read: neither do we. */
        c->read_paused = true;
        uv_read_stop((uv_stream_t *)&c->tcp);
    }
    return 0;
}


static int
conn_write(struct conn *c, struct buf *b)
{
    ssize_t n = conn__write_nolock(c, b);
    return n == 0 ? 0 : conn__write_done(c, n);
}

/* Write what the stream queued (through TLS when it is on); once the
 * stream has finished and everything is out, finish the connection. */
void
conn__flush(struct conn *c)
{
    if (c->closing)
        return;
    /* Pair queues waiting for this s2s stream: more once what it wrote
     * has left (the kernel took it, or nearly). */
    if (c->st.s2s_backlog && buf_len(&c->st.out) == 0 &&
        uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) <
            S2S_BACKLOG_LOW(c))
        router_s2s_drained(c->srv->router, &c->st);
    struct buf *out = &c->st.out;
    struct buf *wire = out;
    if (c->tls) {
        if (buf_len(out) > 0) {
            int rc = tls_conn_write(c->tls, buf_ptr(out), buf_len(out));
            buf_reset(out);
            if (rc != 0) {
                conn__close(c, "tls-output-overflow");
                return;
            }
        }
        if (stream_finished(&c->st) && !c->tls_closed) {
            c->tls_closed = true;
            tls_conn_close(c->tls);
        }
        wire = tls_conn_out(c->tls);
    }
    if (buf_len(wire) > 0 && conn_write(c, wire) != 0)
        return;
    if (stream_finished(&c->st) && c->inflight == 0)
        conn_finish(c);
}

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)suggested;
    struct conn *c = h->data;
    size_t n = conn__read_size(c, c->w->readbuf_size);
    *b = uv_buf_init(c->w->readbuf, (unsigned)n);
}

/* The handshake just finished: log it; an initiating stream checks the
 * peer's certificate and sends its header. */
static void
conn_tls_ready(struct conn *c)
{
    log_msg(&c->srv->log, LOG_INFO, c->id,
            "event=tls-ready version=%s cipher=%s sni=%s",
            tls_conn_version(c->tls), tls_conn_cipher(c->tls),
            tls_conn_sni(c->tls) ? tls_conn_sni(c->tls) : "-");
    if (c->st.initiating)
        stream_tls_up(&c->st, c->tls);
}

/* What one read decrypted, before the lock is taken. */
struct decrypted {
    int rc;          /* of the TLS session: 0, XE_CLOSED or an error */
    bool became_ready; /* this read finished the handshake */
    size_t len;      /* plaintext bytes in the worker's plain buffer */
    bool parsed;     /* ...already parsed, into the worker's parsed */
};

/* Feed the ciphertext to c's TLS session and decrypt everything it holds
 * into the worker's plain buffer. Touches only c's TLS session and this
 * thread's buffer, so it runs without the lock. */
static void
conn_decrypt(struct conn *c, const char *data, size_t len,
             struct decrypted *d)
{
    struct worker *w = c->w;
    bool was_ready = tls_conn_ready(c->tls);
    d->rc = tls_conn_feed(c->tls, data, len);
    d->became_ready = d->rc == 0 && !was_ready && tls_conn_ready(c->tls);
    d->len = 0;
    while (d->rc == 0) {
        if (w->plain_cap - d->len < 4096) {
            w->plain_cap *= 2;
            w->plain = x_realloc(w->plain, w->plain_cap);
        }
        size_t n = 0;
        d->rc = tls_conn_read(c->tls, w->plain + d->len, w->plain_cap - d->len,
                              &n);
        if (d->rc != 0 || n == 0)
            break;
        d->len += n;
    }
}

/* Plaintext fed to a stream in session at a time. What a slice routed
 * to other conns is written before the next slice is parsed, so the next
 * server (or client) starts on the first stanzas of a large read while
 * this one parses the rest: the hops of a route overlap instead of each
 * waiting for the whole batch. */
#define FEED_SLICE ((size_t)8 * 1024)

static void
conn_feed_plain(struct conn *c, const char *p, size_t n)
{
    size_t off = 0;
    while (n - off > FEED_SLICE && c->st.state == STREAM_ST_SESSION &&
           !c->closing) {
        /* Whole stanzas are not needed: the reader takes any split. */
        stream_feed(&c->st, p + off, FEED_SLICE);
        off += FEED_SLICE;
        server__flush_now(c->w);
    }
    if (!c->closing)
        stream_feed(&c->st, p + off, n - off);
}

/* With the lock: the handshake's end, the plaintext to the stream, and
 * the end of the TLS session if it ended. */
static void
conn_feed_tls(struct conn *c, const struct decrypted *d)
{
    if (d->became_ready)
        conn_tls_ready(c);
    if (d->parsed)
        stream_dispatch(&c->st, &c->w->parsed);
    else if (d->len > 0 && !stream_finished(&c->st))
        conn_feed_plain(c, c->w->plain, d->len);
    if (d->rc == XE_CLOSED) {
        stream_eof(&c->st);
    } else if (d->rc != 0) {
        log_msg(&c->srv->log, LOG_INFO, c->id, "event=tls-failed reason=%s",
                tls_conn_error(c->tls));
        /* Send the alert OpenSSL queued, then go. */
        struct buf *wire = tls_conn_out(c->tls);
        if (buf_len(wire) > 0)
            conn_write(c, wire);
        stream_eof(&c->st);
        c->st.close_reason = "tls-failed";
    }
}

/* The stream answered <starttls/> with <proceed/>: that goes out in the
 * clear, and every byte after it is TLS. */
static void
conn_starttls(struct conn *c)
{
    if (buf_len(&c->st.out) > 0 && conn_write(c, &c->st.out) != 0)
        return;
    if (c->st.initiating) {
        c->tls = conn__tls_client(c, NULL);
    } else {
        c->tls = tls_conn_new(c->srv->tls, TLS_SERVER, c->st.host->domain,
                              NULL, CONN_TLS_OUT_MAX);
    }
    if (c->tls == NULL) {
        /* OpenSSL could not make a session (out of memory): nothing safe
         * can follow <proceed/>. */
        log_msg(&c->srv->log, LOG_ERROR, c->id, "event=tls-failed "
                                                "reason=session-create");
        conn__close(c, "tls-failed");
        return;
    }
    stream_starttls_done(&c->st, c->tls);
}

static void
on_read_locked(struct conn *c, ssize_t nread, const uv_buf_t *b,
               const struct decrypted *d)
{
    if (c->closing)
        return;
    if (nread == UV_EOF) {
        /* Without the closing tag a resumable session waits (XEP-0198). */
        if (conn__park(c, "peer-eof"))
            return;
        stream_eof(&c->st);
        conn__close(c, close_reason(c, "peer-eof"));
        return;
    }
    if (nread < 0) {
        log_msg_errno(&c->srv->log, LOG_DEBUG, c->id, (int)nread,
                      "event=read-failed");
        if (!conn__park(c, "read-error"))
            conn__close(c, "read-error");
        return;
    }
    c->bytes_in += (uint64_t)nread;
    c->active = true;
    c->last_io = uv_now(c->w->loop);
    if (c->finishing)
        return; /* draining after our closing tag */
    if (c->tls)
        conn_feed_tls(c, d);
    else if (d->parsed)
        stream_dispatch(&c->st, &c->w->parsed);
    else
        conn_feed_plain(c, b->base, (size_t)nread);
    conn__rate_count(c, (size_t)nread);
    if (stream_take_action(&c->st) == STREAM_ACT_STARTTLS)
        conn_starttls(c);
    if (c->st.authenticated && !c->negotiated) {
        /* MUX.md D-04: the negotiation timer stops once SASL succeeded. */
        c->negotiated = true;
        uv_timer_stop(&c->timer);
    }
    conn__flush(c);
}

/* Bytes one conn may read in one loop iteration. libuv keeps reading a
 * busy socket (up to 32 reads) before it looks at the others; with
 * deliveries flushed as they are routed, a client that is answered
 * quickly could keep the loop to itself while, say, the acknowledgements
 * on an s2s stream wait unread. Past its turn a conn stops reading until
 * the iteration's check (conn__turns_resume); the next poll finds it
 * readable again if bytes are waiting. */
#define READ_TURN ((size_t)128 * 1024)

static void
conn_read_turn(struct conn *c, ssize_t nread)
{
    struct worker *w = c->w;
    if (nread <= 0 || c->closing || c->finishing)
        return;
    if (c->turn_iter != w->iter) {
        c->turn_iter = w->iter;
        c->turn_bytes = 0;
    }
    c->turn_bytes += (size_t)nread;
    if (c->turn_bytes < READ_TURN || c->read_paused || c->read_yield)
        return;
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->read_yield = true;
    c->yield_next = w->yielded;
    w->yielded = c;
}

void
conn__turns_resume(struct worker *w)
{
    struct conn *c = w->yielded;
    w->yielded = NULL;
    w->iter++;
    while (c != NULL) {
        struct conn *next = c->yield_next;
        c->yield_next = NULL;
        c->read_yield = false;
        /* A pause for another reason (output, rate, throttle) ends in its
         * own time. */
        if (!c->closing && !c->finishing && !c->read_paused &&
            !uv_is_closing((uv_handle_t *)&c->tcp))
            conn__read_start(c);
        c = next;
    }
}

/* Decryption needs no lock: c's TLS session is this thread's alone (a
 * conn being closed by another thread keeps it until this thread frees
 * it). Nor does parsing, once the stream is in session: its reader and
 * tree builder are only touched by this thread then (stream_parse). With
 * several workers both happen here, and the lock is taken to handle
 * what they gave. */
static void
on_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *b)
{
    struct conn *c = h->data;
    struct worker *w = c->w;
    struct decrypted d = {0};
    if (nread > 0)
        server__spin(w);
    if (nread > 0 && !c->finishing) {
        const char *p = b->base;
        size_t n = (size_t)nread;
        if (c->tls != NULL) {
            conn_decrypt(c, b->base, (size_t)nread, &d);
            p = w->plain;
            n = d.rc == 0 && !d.became_ready ? d.len : 0;
        }
        if (n > 0 && c->parse_ahead) {
            stream_parse(&c->st, p, n, &w->parsed);
            d.parsed = true;
        }
    }
    server__lock(c->srv);
    on_read_locked(c, nread, b, &d);
    conn_read_turn(c, nread);
    c->parse_ahead = c->srv->nworkers > 1 && !c->closing && !c->finishing &&
                     stream_parse_ahead(&c->st);
    server__unlock(c->srv);
}

void
conn__read_start(struct conn *c)
{
    c->read_paused = false;
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void
on_delay_done(uv_timer_t *t)
{
    struct conn *c = t->data;
    server__lock(c->srv);
    c->throttled = false;
    if (!c->finishing && conn__may_read(c, CONN_WRITE_HIGH))
        conn__read_start(c);
    server__unlock(c->srv);
}

void
conn__delay_timer(struct conn *c)
{
    if (c->delay_timer == NULL) {
        c->delay_timer = x_malloc(sizeof(*c->delay_timer));
        uv_timer_init(c->w->loop, c->delay_timer);
        c->delay_timer->data = c;
        c->open_handles++;
    }
}

static void
on_no_creds(uv_timer_t *t)
{
    struct conn *c = t->data;
    server__lock(c->srv);
    if (!c->closing) {
        stream_provide_creds(&c->st, NULL);
        conn__flush(c);
    }
    server__unlock(c->srv);
}

void
conn__defer_no_creds(struct conn *c)
{
    if (c->closing)
        return;
    conn__delay_timer(c);
    uv_timer_start(c->delay_timer, on_no_creds, 0, 0);
}

void
conn__throttle(struct conn *c, uint64_t ms)
{
    if (c->closing || ms == 0)
        return;
    conn__delay_timer(c);
    c->throttled = true;
    c->read_paused = true;
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_timer_start(c->delay_timer, on_delay_done, ms, 0);
}

static void
negotiation_timeout_locked(struct conn *c)
{
    if (c->closing)
        return; /* parked by another worker, its timer not yet reset */
    if (!c->st.initiating && !stream_finished(&c->st))
        server__limit(c->srv, c, CFG_LIMIT_NEGOTIATION_TIMEOUT,
                      "timeout_ms=%u state=%s",
                      (unsigned)c->srv->cfg->timeouts.negotiation,
                      stream_state_name(c->st.state));
    stream_timeout(&c->st);
    conn__flush(c);
}

void
conn__on_negotiation_timeout(uv_timer_t *t)
{
    struct conn *c = t->data;
    server__lock(c->srv);
    negotiation_timeout_locked(c);
    server__unlock(c->srv);
}

void
conn__peer_name(struct conn *c)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    c->peer[0] = '\0';
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0)
        return;
    char ip[64];
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        uv_ip6_name(a, ip, sizeof(ip));
        snprintf(c->peer, sizeof(c->peer), "[%s]:%d", ip, ntohs(a->sin6_port));
        snprintf(c->ip, sizeof(c->ip), "%s", ip);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        uv_ip4_name(a, ip, sizeof(ip));
        snprintf(c->peer, sizeof(c->peer), "%s:%d", ip, ntohs(a->sin_port));
        snprintf(c->ip, sizeof(c->ip), "%s", ip);
    }
    c->has_ipkey = ipkey_from_sockaddr((struct sockaddr *)&ss, &c->ipkey);
}

/* Direct TLS (XEP-0368): the handshake comes first, ALPN names the
 * service; the certificate follows the SNI (default: the first host). */
static struct tls_conn *
direct_tls(struct server *srv, enum cfg_listen_kind kind)
{
    if (kind != CFG_LISTEN_C2S_TLS && kind != CFG_LISTEN_S2S_TLS)
        return NULL;
    const char *alpn =
        kind == CFG_LISTEN_C2S_TLS ? "xmpp-client" : "xmpp-server";
    return tls_conn_new(srv->tls, TLS_SERVER, srv->cfg->hosts[0].domain, alpn,
                        CONN_TLS_OUT_MAX);
}

/* Whether an accepted connection may stay: its Direct TLS session exists
 * and the connection limits hold (in total, within the descriptor
 * budget, and per address). Closes it and returns an error if not: it
 * was accepted only to be closed, unread (docs/limits.md). */
static int
conn_admit(struct conn *c, enum cfg_listen_kind kind)
{
    struct server *srv = c->srv;
    if (c->tls == NULL &&
        (kind == CFG_LISTEN_C2S_TLS || kind == CFG_LISTEN_S2S_TLS)) {
        log_msg(&srv->log, LOG_ERROR, c->id,
                "event=tls-failed reason=session-create");
        conn__close(c, "tls-failed");
        return XE_TLS;
    }
    if (srv->nconns - srv->nparked > srv->conn_cap) {
        server__limit(srv, c, CFG_LIMIT_MAX_CONNECTIONS, "conns=%zu max=%zu",
                      srv->nconns, srv->conn_cap);
        conn__close(c, "max-connections");
        return XE_LIMIT;
    }
    if (conn__admit_ip(c) != 0) {
        conn__close(c, "connections-per-ip");
        return XE_LIMIT;
    }
    return 0;
}

int
conn__accept(struct worker *w, int fd, enum cfg_listen_kind kind)
{
    struct server *srv = w->srv;
    struct conn *c = x_calloc(1, sizeof(*c));
    c->srv = srv;
    c->w = w;
    c->id = ++srv->next_conn_id;
    c->started = uv_now(w->loop);
    uv_tcp_init(w->loop, &c->tcp);
    uv_timer_init(w->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->open_handles = 2;
    c->tls = direct_tls(srv, kind);
    stream_init(&c->st, &srv->sctx, c->id, kind, c->tls);
    conn__rate_init(c);
    server__conn_link(srv, c);
    if (c->st.s2s)
        router_s2s_attach(srv->router, &c->st);
    int rc = uv_tcp_open(&c->tcp, fd);
    if (rc < 0) {
        close(fd);
        log_msg_errno(&srv->log, LOG_WARN, 0, rc, "event=accept-failed");
        conn__close(c, "accept-error");
        return rc;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    conn__peer_name(c);
    log_msg(&srv->log, LOG_INFO, c->id, "event=accept kind=%s peer=%s",
            config_listen_kind_name(kind), c->peer);
    rc = conn_admit(c, kind);
    if (rc != 0)
        return rc;
    uv_timer_start(&c->timer, conn__on_negotiation_timeout,
                   srv->cfg->timeouts.negotiation, 0);
    conn__read_start(c);
    return 0;
}

void
conn__shutdown(struct conn *c)
{
    if (c->parked) {
        conn__parked_end(c, "shutdown");
        return;
    }
    if (c->closing)
        return;
    stream_shutdown(&c->st);
    conn__flush(c);
}

void
conn__force_close(struct conn *c)
{
    if (c->parked)
        conn__parked_end(c, "shutdown");
    else
        conn__close(c, "shutdown-timeout");
}
